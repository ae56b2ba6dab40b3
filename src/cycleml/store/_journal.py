"""Lineage edges and the append-only audit log: the writers every mutation calls.

Both are written inside the caller's transaction, so a failed mutation leaves neither an
audit row nor an edge behind. Every mutation of every stage calls them, so they run fixed
driver-level SQL (:func:`~cycleml.store._engine.driver_sql`) rather than building an
``INSERT`` per call: building and compiling it cost several times the insert itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from cycleml.store._engine import driver_sql
from cycleml.store._tables import lineage_edges
from cycleml.time import now_ms  # the one clock; re-exported as cycleml.store.now_ms

__all__ = ["json_safe", "now_ms", "record_audit", "record_edges"]


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as strings: JSON (and PostgreSQL) refuse them."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Mapping):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def _json_text(payload: Mapping[str, Any] | None) -> str:
    """The payload as the JSON column stores it (``json.dumps``, as SQLAlchemy's JSON type)."""
    if not payload:
        return "{}"
    try:
        return json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError):  # NaN or infinities, or a Mapping that is not a dict
        return json.dumps(json_safe(dict(payload)))


_AUDIT_INSERT = (
    "INSERT INTO audit_log (time, actor, action, entity_kind, entity_id, payload) "
    "VALUES (?, ?, ?, ?, ?, {payload})"
)
_AUDIT_SQL = {
    "sqlite": driver_sql("sqlite", _AUDIT_INSERT.format(payload="?")),
    "postgresql": driver_sql("postgresql", _AUDIT_INSERT.format(payload="CAST(? AS JSON)")),
}
_EDGES_SQL = {
    dialect: driver_sql(
        dialect,
        "INSERT INTO lineage_edges (src_kind, src_id, relation, dst_kind, dst_id, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
    )
    for dialect in ("sqlite", "postgresql")
}


def record_audit(
    conn: Connection,
    *,
    actor: str,
    action: str,
    entity_kind: str,
    entity_id: str,
    payload: Mapping[str, Any] | None = None,
    at: int | None = None,
) -> None:
    """Append one audit row in the current transaction."""
    conn.exec_driver_sql(
        _AUDIT_SQL[conn.dialect.name],
        (
            at if at is not None else now_ms(),
            actor,
            action,
            entity_kind,
            entity_id,
            _json_text(payload),
        ),
    )


def record_edges(
    conn: Connection,
    edges: Iterable[tuple[str, str, str, str, str]],
    *,
    at: int | None = None,
    only_new: bool = False,
) -> None:
    """Append lineage edges ``(src_kind, src_id, relation, dst_kind, dst_id)``.

    With ``only_new``, edges already recorded (at any time) are not added again.
    """
    stamp = at if at is not None else now_ms()
    edges = list(dict.fromkeys(edges)) if only_new else list(edges)
    if only_new and edges:
        c = lineage_edges.c
        columns = (c.src_kind, c.src_id, c.relation, c.dst_kind, c.dst_id)
        found = conn.execute(
            select(*columns).where(
                or_(
                    *(
                        and_(*(col == value for col, value in zip(columns, e, strict=True)))
                        for e in edges
                    )
                )
            )
        ).all()
        existing = {tuple(row) for row in found}
        edges = [edge for edge in edges if edge not in existing]
    if edges:
        conn.exec_driver_sql(
            _EDGES_SQL[conn.dialect.name],
            [(*edge, stamp) for edge in edges],
        )
