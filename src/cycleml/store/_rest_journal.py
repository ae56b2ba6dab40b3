"""The kernel's journal (lineage edges and the audit log) read through a ``cycleml server``.

:class:`RestJournal` has :class:`~cycleml.store.Database`'s three journal reads, with the same
signatures, over the server's ``/api/v1/lineage`` and ``/api/v1/audit``
(:mod:`cycleml.server._journal`); the audit log comes page by page (opaque page tokens).
:func:`open_journal` picks one from the settings, as the stages pick their repositories: the
server an ``http(s)://`` tracking URI names, else the settings' database. Writes stay with
the stages, in the transaction of the change they record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from cycleml.errors import InvalidInput
from cycleml.settings import Settings, is_server_uri
from cycleml.store._http import RestRepository
from cycleml.store._records import AuditRecord, LineageEdge, LineageGraph

if TYPE_CHECKING:
    from cycleml.store._database import Database, Direction

__all__ = ["MAX_AUDIT_PAGE", "Journal", "RestJournal", "open_journal"]

#: The most audit rows one page of ``GET /api/v1/audit`` holds.
MAX_AUDIT_PAGE = 1000


class Journal(Protocol):
    """The journal reads every command needs, on a database or through a server."""

    def lineage_edges(self, kind: str, entity_id: str) -> list[LineageEdge]:
        """Edges that start or end at one entity."""
        ...

    def walk_lineage(
        self, kind: str, entity_id: str, *, direction: Direction = "both", max_depth: int = 20
    ) -> LineageGraph:
        """Breadth-first walk of the lineage graph from one entity."""
        ...

    def list_audit(
        self,
        *,
        since_ms: int | None = None,
        entity_kind: str | None = None,
        entity_id: str | None = None,
        action: str | None = None,
        limit: int = 1000,
        latest: bool = False,
        actor: str | None = None,
        until_ms: int | None = None,
        after_id: int | None = None,
        before_id: int | None = None,
    ) -> list[AuditRecord]:
        """Audit rows, oldest first, optionally filtered."""
        ...

    def close(self) -> None:
        """Release the connections."""
        ...


class RestJournal(RestRepository):
    """:class:`Journal` over a ``cycleml server``'s ``/api/v1`` (arguments: ``ApiClient``'s)."""

    def lineage_edges(self, kind: str, entity_id: str) -> list[LineageEdge]:
        """Edges that start or end at one entity, oldest first."""
        found = self._call("GET", "/lineage/edges", params={"kind": kind, "id": entity_id})
        return [LineageEdge.from_dict(edge) for edge in found["edges"]]

    def walk_lineage(
        self, kind: str, entity_id: str, *, direction: Direction = "both", max_depth: int = 20
    ) -> LineageGraph:
        """Breadth-first walk of the lineage graph from one entity (the server walks it)."""
        params = {"kind": kind, "id": entity_id, "direction": direction, "depth": max_depth}
        return LineageGraph.from_dict(self._call("GET", "/lineage", params=params))

    def list_audit(
        self,
        *,
        since_ms: int | None = None,
        entity_kind: str | None = None,
        entity_id: str | None = None,
        action: str | None = None,
        limit: int = 1000,
        latest: bool = False,
        actor: str | None = None,
        until_ms: int | None = None,
        after_id: int | None = None,
        before_id: int | None = None,
    ) -> list[AuditRecord]:
        """Audit rows, oldest first, optionally filtered; ``latest``: the newest ``limit``.

        Pages of up to :data:`MAX_AUDIT_PAGE` rows are fetched until ``limit`` rows are in
        (newest first with ``latest``, and returned oldest first as the database does).
        """
        if type(limit) is not int or limit < 1:
            raise InvalidInput(f"Invalid limit {limit!r}: expected a positive integer.")
        filters = {
            "since_ms": since_ms,
            "until_ms": until_ms,
            "entity_kind": entity_kind,
            "entity_id": entity_id,
            "action": action,
            "actor": actor,
            "after_id": after_id,
            "before_id": before_id,
        }
        params: dict[str, Any] = {k: v for k, v in filters.items() if v is not None}
        params["newest_first"] = latest
        rows: list[AuditRecord] = []
        while len(rows) < limit:
            params["max_results"] = min(MAX_AUDIT_PAGE, limit - len(rows))
            found = self._call("GET", "/audit", params=params)
            rows.extend(AuditRecord.from_dict(item) for item in found["records"])
            if not found["next_page_token"]:
                break
            params["page_token"] = found["next_page_token"]
        return rows[::-1] if latest else rows


if TYPE_CHECKING:
    _REST_IMPLEMENTS: type[Journal] = RestJournal  # mypy: both keep the protocol
    _SQL_IMPLEMENTS: type[Journal] = Database


def open_journal(settings: Settings) -> Journal:
    """The journal of ``settings``: through the server an ``http(s)://`` tracking URI names
    (with the settings' token), else on the settings' database."""
    if is_server_uri(settings.tracking_uri):
        return RestJournal(settings.tracking_uri, token=settings.tracking_token)
    from cycleml.store._database import open_database

    return open_database(settings)
