"""The kernel's records: lineage edges, audit rows and artifact index entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ArtifactEntry", "AuditRecord", "LineageEdge", "LineageGraph"]


@dataclass(frozen=True)
class ArtifactEntry:
    """One stored file of an owner (a run): logical path, content digest and size in bytes."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True)
class LineageEdge:
    """``src --relation--> dst`` between two entities of any kind."""

    src_kind: str
    src_id: str
    relation: str
    dst_kind: str
    dst_id: str
    created_at: int


@dataclass(frozen=True)
class LineageGraph:
    """The edges reachable from one entity, with each node's distance from it."""

    root: tuple[str, str]
    edges: tuple[LineageEdge, ...]
    depth: dict[tuple[str, str], int]


@dataclass(frozen=True)
class AuditRecord:
    """One append-only audit row."""

    id: int
    time: int
    actor: str
    action: str
    entity_kind: str
    entity_id: str
    payload: dict[str, Any]
