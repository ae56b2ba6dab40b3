"""The kernel's records: lineage edges, audit rows and artifact index entries.

Lineage edges, graphs and audit rows travel as JSON (the server's ``/api/v1/lineage`` and
``/api/v1/audit``, :class:`~cycleml.store._rest_journal.RestJournal`): ``to_dict`` makes the
shape, ``from_dict`` reads it back into an equal record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Self

__all__ = ["ArtifactEntry", "AuditRecord", "LineageEdge", "LineageGraph"]


class _Flat:
    """``to_dict`` and ``from_dict`` of a dataclass whose fields are all JSON values."""

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-ready dict, one key per field."""
        found: dict[str, Any] = asdict(self)  # type: ignore[call-overload]
        return found

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The record :meth:`to_dict` made."""
        return cls(**{f.name: data[f.name] for f in fields(cls)})  # type: ignore[arg-type]


@dataclass(frozen=True)
class ArtifactEntry:
    """One stored file of an owner (a run): logical path, content digest and size in bytes."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True)
class LineageEdge(_Flat):
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

    def to_dict(self) -> dict[str, Any]:
        """The graph as a JSON-ready dict; nodes as ``{"kind", "id"}``, each with its depth."""
        return {
            "root": {"kind": self.root[0], "id": self.root[1]},
            "edges": [edge.to_dict() for edge in self.edges],
            "nodes": [{"kind": k, "id": i, "depth": d} for (k, i), d in self.depth.items()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The graph :meth:`to_dict` made."""
        return cls(
            root=(data["root"]["kind"], data["root"]["id"]),
            edges=tuple(LineageEdge.from_dict(edge) for edge in data["edges"]),
            depth={(node["kind"], node["id"]): node["depth"] for node in data["nodes"]},
        )


@dataclass(frozen=True)
class AuditRecord(_Flat):
    """One append-only audit row."""

    id: int
    time: int
    actor: str
    action: str
    entity_kind: str
    entity_id: str
    payload: dict[str, Any]
