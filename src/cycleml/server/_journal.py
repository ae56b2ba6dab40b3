"""cycleml's lineage and audit API (``/api/v1/lineage``, ``/api/v1/audit``): the kernel's journal.

The reads of :class:`~cycleml.store.Database` that the journal has, one route each, and
:class:`cycleml.store._rest_journal.RestJournal` calls them, so ``cycleml lineage`` and
``cycleml audit`` work against a server unchanged. Read only: every stage writes its edges
and audit rows in the transaction of the change they record.

* ``GET /lineage?kind=&id=&direction=&depth=``: the graph reachable from one entity
  (``upstream``: what it came from, ``downstream``: what came of it, ``both``), its edges
  and each node's distance; ``GET /lineage/edges?kind=&id=``: the edges at one entity.
* ``GET /audit``: audit rows filtered by actor, action, entity kind and id, a time range
  ``[since_ms, until_ms)`` and a row id range, in pages in the order of the row id (ids only
  grow, so a page never repeats or skips a row written meanwhile): ``max_results`` and the
  opaque ``next_page_token`` of the previous page; ``newest_first`` pages back from the
  newest row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Query, Response
from pydantic import BaseModel, Field

from cycleml.errors import InvalidInput
from cycleml.server._app import ServerState, server_state
from cycleml.server._routes import PageToken, json_response, v1_router
from cycleml.store import Database, decode_page_token, encode_page_token
from cycleml.store._rest_journal import MAX_AUDIT_PAGE

INT64_MAX = 2**63 - 1  # the BIGINT columns' largest value: beyond it the database refuses

__all__ = ["router"]


router = v1_router("journal")


def _database(state: ServerState = Depends(server_state)) -> Database:
    return state.db


Db = Annotated[Database, Depends(_database)]
Kind = Annotated[str, Query(min_length=1, description="The entity's kind: run, model_version...")]
Id = Annotated[str, Query(alias="id", min_length=1, description="The entity's id.")]
_MAX_DEPTH = 1000  # a walk visits each node once; this bounds a request's work all the same


# ---- answers ------------------------------------------------------------------------------
class EdgeOut(BaseModel):
    """``src --relation--> dst``, recorded at ``created_at`` (ms since the epoch)."""

    src_kind: str
    src_id: str
    relation: str
    dst_kind: str
    dst_id: str
    created_at: int


class NodeRef(BaseModel):
    """An entity."""

    kind: str
    id: str


class NodeOut(NodeRef):
    """An entity the walk reached, ``depth`` hops from the root."""

    depth: int


class LineageOut(BaseModel):
    """The edges reachable from ``root``, and every node reached."""

    root: NodeRef
    edges: list[EdgeOut]
    nodes: list[NodeOut]


class EdgeList(BaseModel):
    """The edges at one entity, oldest first."""

    edges: list[EdgeOut]


class AuditOut(BaseModel):
    """One audit row: who did what, when, to which entity."""

    id: int = Field(description="The row id; ids only grow.")
    time: int = Field(description="Milliseconds since the epoch.")
    actor: str
    action: str
    entity_kind: str
    entity_id: str
    payload: dict[str, object]


class AuditPage(BaseModel):
    """A page of audit rows, and the token of the next page (``null``: the last page)."""

    records: list[AuditOut]
    next_page_token: str | None


# ---- lineage ------------------------------------------------------------------------------
@router.get("/lineage", response_model=LineageOut, summary="Walk the lineage graph")
def walk_lineage(
    kind: Kind,
    entity_id: Id,
    db: Db,
    direction: Annotated[
        str, Query(description="`upstream`, `downstream` or `both` (each way separately).")
    ] = "both",
    depth: Annotated[int, Query(ge=0, le=_MAX_DEPTH, description="How many hops to follow.")] = 20,
) -> Response:
    """Breadth-first walk from one entity: where it came from and what came of it."""
    graph = db.walk_lineage(kind, entity_id, direction=direction, max_depth=depth)  # type: ignore[arg-type]
    return json_response(graph.to_dict())


@router.get("/lineage/edges", response_model=EdgeList, summary="List an entity's edges")
def lineage_edges(kind: Kind, entity_id: Id, db: Db) -> Response:
    """The edges that start or end at one entity, oldest first."""
    return json_response({"edges": [edge.to_dict() for edge in db.lineage_edges(kind, entity_id)]})


# ---- audit --------------------------------------------------------------------------------
def _is_key(value: Any) -> bool:
    """Whether a decoded page token is ``[row_id, newest_first]``."""
    return isinstance(value, list) and len(value) == 2 and type(value[0]) is int


def _after(token: str | None, newest_first: bool) -> int | None:
    """The row id a page token of this order names (``None``: the first page)."""
    key = decode_page_token(token, _is_key)
    if key is None:
        return None
    if key[1] is not newest_first:
        shown = str(token)[:80]
        raise InvalidInput(
            f"Invalid page_token {shown!r}: it continues a listing with newest_first="
            f"{str(key[1]).lower()}, not {str(newest_first).lower()}.",
            hint="Keep the query of the first page for the pages after it.",
            details={"page_token": shown},
        )
    return int(key[0])


def _bound(given: int | None, page: int | None, tighter: Callable[[int, int], int]) -> int | None:
    """The tighter of a row id bound the query gave and the one the page token sets."""
    if given is None or page is None:
        return page if given is None else given
    return tighter(given, page)


@router.get("/audit", response_model=AuditPage, summary="List the audit log")
def list_audit(
    db: Db,
    actor: Annotated[str | None, Query(description="Only rows by this actor.")] = None,
    action: Annotated[str | None, Query(description="Only this action, e.g. run.create.")] = None,
    entity_kind: Annotated[str | None, Query(description="Only this entity kind.")] = None,
    entity_id: Annotated[str | None, Query(description="Only this entity id.")] = None,
    since_ms: Annotated[
        int | None, Query(ge=0, le=INT64_MAX, description="Rows from then on (ms).")
    ] = None,
    until_ms: Annotated[
        int | None, Query(ge=0, le=INT64_MAX, description="Rows before then (ms).")
    ] = None,
    after_id: Annotated[
        int | None, Query(ge=0, le=INT64_MAX, description="Rows after this row id.")
    ] = None,
    before_id: Annotated[
        int | None, Query(ge=0, le=INT64_MAX, description="Rows before this row id.")
    ] = None,
    newest_first: Annotated[bool, Query(description="Page back from the newest row.")] = False,
    max_results: Annotated[
        int, Query(ge=1, le=MAX_AUDIT_PAGE, description=f"Page size, 1-{MAX_AUDIT_PAGE}.")
    ] = 100,
    page_token: PageToken = None,
) -> Response:
    """Audit rows in the order of their id (oldest first, or newest first), a page."""
    key = _after(page_token, newest_first)
    rows = db.list_audit(
        actor=actor,
        action=action,
        entity_kind=entity_kind,
        entity_id=entity_id,
        since_ms=since_ms,
        until_ms=until_ms,
        after_id=after_id if newest_first else _bound(after_id, key, max),
        before_id=_bound(before_id, key, min) if newest_first else before_id,
        limit=max_results + 1,  # one more than the page says whether another follows
        latest=newest_first,
    )
    if newest_first:
        rows.reverse()
    more, rows = len(rows) > max_results, rows[:max_results]
    token = encode_page_token([rows[-1].id, newest_first]) if more else None
    return json_response({"records": [row.to_dict() for row in rows], "next_page_token": token})
