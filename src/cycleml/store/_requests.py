"""Retried server requests applied once: the request-id claim every stage's writes share.

Through the team server a write that is not idempotent by nature carries the client's
``X-Request-ID``. The write claims the id in its own transaction (:meth:`RequestLog.claim`,
an ``INSERT ... ON CONFLICT DO NOTHING``): a retry of a request whose answer was lost finds
the id committed with the write and is not applied again, while a write that failed rolled
its claim back, so its retry runs afresh. An id reused for another action or entity is bad
input. Ids expire after a day (:data:`REQUEST_ID_TTL_MS`).

Each stage owns its table of ids (``run_requests``, ``model_requests``, ...; DESIGN.md,
section 2) and hands it to a :class:`RequestLog`, built once at import. The table has the
columns ``request_id`` (primary key), ``action``, the entity's column and ``applied_at``
(indexed), and may carry more (an answer kept for retries, :meth:`RequestLog.settle`).

The claim's two statements are fixed driver SQL per dialect, as the tracking hot path's
are (``tracking._run_writes``): nothing is built or compiled per call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Table, select, update

from cycleml.errors import InvalidInput
from cycleml.store._engine import driver_sql

__all__ = ["REQUEST_ID_TTL_MS", "RequestLog"]

#: How long a request id is remembered (a retry comes within seconds; a day is plenty).
REQUEST_ID_TTL_MS = 24 * 3600 * 1000
_DIALECTS = ("sqlite", "postgresql")


class RequestLog:
    """The request ids one stage's table remembers, and the claim of a write's id.

    Args:
        table: The stage's table of request ids.
        entity: The name of its column holding the entity a write acted on.
    """

    def __init__(self, table: Table, *, entity: str = "entity_id") -> None:
        self.table = table
        self.entity = entity
        name = table.name  # a stage's own identifier: the text is fixed, never user input
        prune = f"DELETE FROM {name} WHERE applied_at < ?"  # noqa: S608
        self._prune = {d: driver_sql(d, prune) for d in _DIALECTS}
        self._claim = {
            d: driver_sql(
                d,
                f"INSERT INTO {name} (request_id, action, {entity}, applied_at) "  # noqa: S608
                "VALUES (?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING",
            )
            for d in _DIALECTS
        }

    def claim(
        self,
        conn: Connection,
        request_id: str,
        action: str,
        entity_id: str,
        stamp: int,
        *,
        same: Callable[[Any, str, str], bool] | None = None,
    ) -> Any | None:
        """Record ``request_id`` in the caller's transaction; ``None`` when it is new.

        ``None``: the caller applies its write (a rollback forgets the id again). Otherwise
        the id names a committed write of the same action and entity, whose row (every
        column of the table) is returned: the caller answers from it and applies nothing.
        Ids older than :data:`REQUEST_ID_TTL_MS` are dropped here (an index probe when
        there are none).

        Args:
            same: Whether a remembered row is this request's, given the row, ``action`` and
                ``entity_id`` (default: the same action and entity id); a stage whose retry
                names its entity differently says how.

        Raises:
            InvalidInput: The id is malformed, or was used for another action or entity.
        """
        if not isinstance(request_id, str) or not 0 < len(request_id) <= 64:
            raise InvalidInput(f"Invalid request id {request_id!r}: expected 1-64 characters.")
        dialect = conn.dialect.name
        conn.exec_driver_sql(self._prune[dialect], (stamp - REQUEST_ID_TTL_MS,))
        # sqlite3 and psycopg count the rows an INSERT ... ON CONFLICT DO NOTHING inserted.
        claimed = conn.exec_driver_sql(self._claim[dialect], (request_id, action, entity_id, stamp))
        if claimed.rowcount == 1:
            return None
        # The conflicting row is committed: PostgreSQL waits for the transaction holding it
        # to end, SQLite serializes writers.
        seen = self.seen(conn, request_id, action, entity_id, same=same)
        if seen is None:  # pragma: no cover - the conflict above names a committed row
            raise RuntimeError(f"request id {request_id!r} conflicted but is not stored")
        return seen

    def seen(
        self,
        conn: Connection,
        request_id: str,
        action: str,
        entity_id: str,
        *,
        same: Callable[[Any, str, str], bool] | None = None,
    ) -> Any | None:
        """The remembered row of ``request_id`` (``None``: not seen), without claiming it.

        Raises:
            InvalidInput: The id was used for another action or entity (``same`` as
                :meth:`claim` takes it).
        """
        row = conn.execute(select(self.table).where(self.table.c.request_id == request_id)).first()
        if row is None:
            return None
        stored = getattr(row, self.entity)
        matches = (
            same(row, action, entity_id)
            if same is not None
            else (row.action, stored) == (action, entity_id)
        )
        if not matches:
            raise InvalidInput(
                f"Request id {request_id!r} was already used for {row.action} of "
                f"{stored!r}; a retry must repeat the same request.",
                hint="Send a fresh X-Request-ID with every new request.",
            )
        return row

    def settle(self, conn: Connection, request_id: str | None, **values: Any) -> None:
        """Keep ``values`` (an answer, the entity it made) with the claimed ``request_id``.

        A no-op without an id.
        """
        if request_id is not None:
            table = self.table
            conn.execute(update(table).where(table.c.request_id == request_id).values(**values))
