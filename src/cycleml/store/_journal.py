"""Lineage edges and the append-only audit log: the writers every mutation calls.

Both are written inside the caller's transaction, so a failed mutation leaves neither an
audit row nor an edge behind.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select

from cycleml.store._tables import audit_log, lineage_edges

__all__ = ["json_safe", "now_ms", "record_audit", "record_edges"]


def now_ms() -> int:
    """Milliseconds since the epoch, the time unit of every stored timestamp."""
    return time.time_ns() // 1_000_000


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as strings: JSON (and PostgreSQL) refuse them."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Mapping):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


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
    conn.execute(
        insert(audit_log).values(
            time=at if at is not None else now_ms(),
            actor=actor,
            action=action,
            entity_kind=entity_kind,
            entity_id=entity_id,
            payload=json_safe(dict(payload or {})),
        )
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
    rows = [
        {
            "src_kind": src_kind,
            "src_id": src_id,
            "relation": relation,
            "dst_kind": dst_kind,
            "dst_id": dst_id,
            "created_at": stamp,
        }
        for src_kind, src_id, relation, dst_kind, dst_id in edges
    ]
    if rows:
        conn.execute(insert(lineage_edges), rows)
