"""Reading lineage and the audit log; plus the assembled :class:`SqlMetadataStore`."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import and_, select

from cycleml.errors import InvalidInput, NotFound
from cycleml.store._alerting import AlertOps
from cycleml.store._base import StoreBase
from cycleml.store._datasets import DatasetOps
from cycleml.store._deployments import DeploymentOps
from cycleml.store._entities import ArtifactEntry, AuditRecord, LineageEdge, ModelVersion
from cycleml.store._evaluations import EvaluationOps
from cycleml.store._experiments import ExperimentOps
from cycleml.store._models import ModelOps, parse_stage
from cycleml.store._monitoring import MonitorOps
from cycleml.store._predictions import PredictionOps
from cycleml.store._run_search import RunSearchOps
from cycleml.store._schema import audit_log, lineage_edges
from cycleml.store._uris import ModelUri, RunUri, parse_uri

__all__ = ["ArtifactLocation", "LineageGraph", "SqlMetadataStore"]

Direction = Literal["upstream", "downstream", "both"]


@dataclass(frozen=True)
class LineageGraph:
    """The edges reachable from one entity, with each node's distance from it."""

    root: tuple[str, str]
    edges: tuple[LineageEdge, ...]
    depth: dict[tuple[str, str], int]


@dataclass(frozen=True)
class ArtifactLocation:
    """Where a ``runs:/`` or ``models:/`` URI points: a run, a path in it and its files."""

    uri: str
    run_id: str
    path: str
    entries: tuple[ArtifactEntry, ...]
    model_version: ModelVersion | None = None


def _edge(row: object) -> LineageEdge:
    return LineageEdge(
        src_kind=row.src_kind,  # type: ignore[attr-defined]
        src_id=row.src_id,  # type: ignore[attr-defined]
        relation=row.relation,  # type: ignore[attr-defined]
        dst_kind=row.dst_kind,  # type: ignore[attr-defined]
        dst_id=row.dst_id,  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
    )


class HistoryOps(StoreBase):
    """Lineage and audit reads."""

    def lineage_edges(self, kind: str, entity_id: str) -> list[LineageEdge]:
        """Edges that start or end at one entity."""
        with self._read() as conn:
            rows = conn.execute(
                select(lineage_edges)
                .where(
                    (and_(lineage_edges.c.src_kind == kind, lineage_edges.c.src_id == entity_id))
                    | (and_(lineage_edges.c.dst_kind == kind, lineage_edges.c.dst_id == entity_id))
                )
                .order_by(lineage_edges.c.id)
            ).all()
        return [_edge(row) for row in rows]

    def walk_lineage(
        self, kind: str, entity_id: str, *, direction: Direction = "both", max_depth: int = 20
    ) -> LineageGraph:
        """Breadth-first walk of the lineage graph from one entity.

        ``upstream`` follows edges backwards (what it came from), ``downstream`` forwards
        (what came of it), ``both`` does each separately so siblings are not pulled in.
        """
        if direction not in ("upstream", "downstream", "both"):
            raise InvalidInput(
                f"Invalid direction {direction!r}: expected upstream, downstream or both."
            )
        root = (kind, entity_id)
        seen_edges: dict[tuple[str, str, str, str, str], LineageEdge] = {}
        depth: dict[tuple[str, str], int] = {root: 0}
        ways = ["upstream", "downstream"] if direction == "both" else [direction]
        for way in ways:
            queue = deque([root])
            visited = {root}
            while queue:
                node = queue.popleft()
                if depth.get(node, 0) >= max_depth:
                    continue
                for edge in self.lineage_edges(*node):
                    src, dst = (edge.src_kind, edge.src_id), (edge.dst_kind, edge.dst_id)
                    nxt = src if way == "upstream" else dst
                    if (dst if way == "upstream" else src) != node or nxt in visited:
                        continue
                    key = (edge.src_kind, edge.src_id, edge.relation, edge.dst_kind, edge.dst_id)
                    seen_edges.setdefault(key, edge)
                    visited.add(nxt)
                    depth[nxt] = depth[node] + 1
                    queue.append(nxt)
        return LineageGraph(root=root, edges=tuple(seen_edges.values()), depth=depth)

    def list_audit(
        self,
        *,
        since_ms: int | None = None,
        entity_kind: str | None = None,
        entity_id: str | None = None,
        action: str | None = None,
        limit: int = 1000,
        latest: bool = False,
    ) -> list[AuditRecord]:
        """Audit rows, oldest first, optionally filtered."""
        if limit < 1:
            raise InvalidInput(f"Invalid limit {limit}: expected a positive integer.")
        query = select(audit_log)
        if since_ms is not None:
            query = query.where(audit_log.c.time >= since_ms)
        if entity_kind is not None:
            query = query.where(audit_log.c.entity_kind == entity_kind)
        if entity_id is not None:
            query = query.where(audit_log.c.entity_id == entity_id)
        if action is not None:
            query = query.where(audit_log.c.action == action)
        with self._read() as conn:
            if latest:  # the newest ``limit`` rows, still returned oldest first
                newest = conn.execute(query.order_by(audit_log.c.id.desc()).limit(limit)).all()
                rows = list(reversed(newest))
            else:
                rows = list(conn.execute(query.order_by(audit_log.c.id).limit(limit)).all())
        return [
            AuditRecord(
                id=row.id,
                time=row.time,
                actor=row.actor,
                action=row.action,
                entity_kind=row.entity_kind,
                entity_id=row.entity_id,
                payload=dict(row.payload or {}),
            )
            for row in rows
        ]


class SqlMetadataStore(
    ExperimentOps,
    RunSearchOps,
    ModelOps,
    DatasetOps,
    DeploymentOps,
    PredictionOps,
    MonitorOps,
    EvaluationOps,
    AlertOps,
    HistoryOps,
):
    """The metadata store on SQLite or PostgreSQL (see DESIGN.md, section 3).

    Every mutation runs in one transaction that also appends its audit row and lineage
    edges; a failed call leaves nothing half-written.

    Args:
        uri: ``sqlite:///path.db`` or ``postgresql+psycopg://user@host/db``.
        actor: Name the audit log records for this store's mutations.
        migrate: Apply pending schema migrations on open (default).
    """

    def resolve_model_uri(self, uri: str | ModelUri) -> ModelVersion:
        """Resolve ``models:/name/3``, ``models:/name@alias``, ``/latest`` or ``/<stage>``."""
        parsed = parse_uri(uri) if isinstance(uri, str) else uri
        if not isinstance(parsed, ModelUri):
            raise InvalidInput(f"Expected a models:/ URI, got {uri!r}.")
        if parsed.alias is not None:
            return self.get_version_by_alias(parsed.name, parsed.alias)
        if parsed.version is not None:
            return self.get_model_version(parsed.name, parsed.version)
        versions = self.list_model_versions(parsed.name)
        if parsed.stage is not None:
            stage = parse_stage(parsed.stage)
            versions = [v for v in versions if v.current_stage == stage.value]
        if not versions:
            raise NotFound(f"No model version matches {uri!r}.")
        return versions[-1]

    def resolve_artifact_uri(self, uri: str) -> ArtifactLocation:
        """Resolve a ``runs:/`` or ``models:/`` URI to the run files it names.

        Raises:
            InvalidInput: The URI is malformed.
            NotFound: The run, model, version, alias or path does not exist.
        """
        parsed = parse_uri(uri)
        model_version: ModelVersion | None = None
        if isinstance(parsed, ModelUri):
            model_version = self.resolve_model_uri(parsed)
            try:  # sources such as s3://... are valid, they just name no run files
                source: RunUri | ModelUri | None = parse_uri(model_version.source)
            except InvalidInput:
                source = None
            if not isinstance(source, RunUri):
                raise NotFound(f"Model version source {model_version.source!r} is not a run.")
            parsed = source
        entries = self.list_artifacts(parsed.run_id, parsed.path)
        if parsed.path and not entries:
            raise NotFound(
                f"Run {parsed.run_id} has no artifact at {parsed.path!r}.",
                hint=f"List its files with `cycleml runs show {parsed.run_id}`.",
            )
        return ArtifactLocation(
            uri=uri,
            run_id=parsed.run_id,
            path=parsed.path,
            entries=tuple(entries),
            model_version=model_version,
        )
