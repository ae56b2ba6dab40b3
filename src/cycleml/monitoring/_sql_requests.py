"""Retried server requests applied once, and the keyset pages of the growing listings.

**Request ids.** Through the team server a monitoring write that is not idempotent by
nature (creating a reference or a monitor, recording an evaluation, an alert transition, a
delivery claim or finish, a retraining trigger) carries the client's ``X-Request-ID``. The
write claims it with :func:`claim_request` in its own transaction, so a retry of a request
whose answer was lost finds the id committed with the write and gets the first attempt's
answer back (kept with the id, :func:`settle_request`) instead of applying it again. A
failed write rolls its claim back, so its retry runs afresh. Ids expire after a day.

**Pages** (``max_results`` and an opaque ``page_token``) follow a listing's sort key, so an
item added while a caller pages is neither skipped nor repeated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Select, select, tuple_

from cycleml.monitoring._tables import monitor_requests
from cycleml.store import (
    MAX_PAGE,
    REQUEST_ID_TTL_MS,
    RequestLog,
    check_page_size,
    decode_page_token,
    encode_page_token,
)

__all__ = [
    "MAX_PAGE",
    "REQUEST_ID_TTL_MS",
    "claim_request",
    "read_page",
    "settle_request",
]

_REQUESTS = RequestLog(monitor_requests)


def claim_request(
    conn: Connection, request_id: str, action: str, entity_id: str, stamp: int
) -> Any | None:
    """Record ``request_id`` in the caller's transaction; ``None`` when it is new.

    Otherwise the id names a committed write of the same action and entity, and its row
    (``.answer``: what :func:`settle_request` kept) is returned: the caller answers with it
    and applies nothing (:meth:`cycleml.store.RequestLog.claim`).

    Raises:
        InvalidInput: The id is malformed, or was used for another action or entity.
    """
    return _REQUESTS.claim(conn, request_id, action, entity_id, stamp)


def settle_request(conn: Connection, request_id: str | None, answer: Any) -> None:
    """Keep the answer of the write ``request_id`` claimed, for its retries (no-op without id)."""
    _REQUESTS.settle(conn, request_id, answer=answer)


# ---- pages --------------------------------------------------------------------------------


def _valid_token(types: Sequence[type]) -> Callable[[Any], bool]:
    """Whether a decoded token is ``[key, remaining]`` with a key of these ``types``."""

    def valid(value: Any) -> bool:
        if not (isinstance(value, list) and len(value) == 2):
            return False
        key, remaining = value
        return (
            isinstance(key, list)
            and len(key) == len(types)
            and all(type(part) is kind for part, kind in zip(key, types, strict=True))
            and (remaining is None or (type(remaining) is int and remaining > 0))
        )

    return valid


def read_page(
    conn: Connection,
    query: Select[Any],
    key: Sequence[Any],
    *,
    limit: int | None,
    max_results: object,
    page_token: str | None,
    types: Sequence[type],
) -> tuple[list[Any], str | None]:
    """One page of ``query``'s rows in ascending ``key`` order, and the next page's token.

    Without ``limit`` the listing is every row; with it, the newest ``limit`` rows (still
    oldest first), whose count the token carries on from page to page.
    """
    size = check_page_size(max_results)
    after = decode_page_token(page_token, _valid_token(types))
    if after is None:
        remaining = limit
        if limit is not None:  # the newest `limit`, read from the oldest of them on
            newest = query.order_by(*(column.desc() for column in key)).limit(limit).subquery()
            rows = list(
                conn.execute(
                    select(newest).order_by(*(newest.c[column.name] for column in key))
                ).all()
            )
            shown = rows if size is None else rows[:size]
            more = len(rows) > len(shown)
            token = _next(shown, key, len(rows) - len(shown)) if more else None
            return shown, token
    else:
        last, remaining = tuple(after[0]), after[1]
        query = query.where(tuple_(*key) > tuple_(*last))
    wanted = [n for n in (size, remaining) if n is not None]
    page = min(wanted) if wanted else None
    ordered = query.order_by(*key)
    rows = list(conn.execute(ordered if page is None else ordered.limit(page + 1)).all())
    shown = rows if page is None else rows[:page]
    left = None if remaining is None else remaining - len(shown)
    more = len(rows) > len(shown) and (left is None or left > 0)
    return shown, _next(shown, key, left) if more else None


def _next(rows: Sequence[Any], key: Sequence[Any], remaining: int | None) -> str:
    return encode_page_token([[getattr(rows[-1], column.name) for column in key], remaining])
