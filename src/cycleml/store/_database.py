"""The kernel handle every stage's SQL repository shares: :class:`Database`.

One engine per database, migrated on open (every stage's branch), with the one transaction
helper (:meth:`Database.write`), the actor audit rows record, and the reads of what the
kernel owns: lineage edges, the audit log and the artifact index. Stage repositories build
on :class:`SqlRepository`, which hands them exactly these.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, Engine, and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError

from cycleml.errors import CycleMLError, InvalidInput, StoreError
from cycleml.settings import Settings, default_actor
from cycleml.store._artifacts import safe_relpath
from cycleml.store._engine import make_engine, read_connection, retry_transient, write_connection
from cycleml.store._journal import now_ms
from cycleml.store._migrate import upgrade_to_head
from cycleml.store._records import ArtifactEntry, AuditRecord, LineageEdge, LineageGraph
from cycleml.store._tables import artifacts, audit_log, lineage_edges

__all__ = [
    "Database",
    "Direction",
    "SqlRepository",
    "acting_as",
    "claimed_actor",
    "database_of",
    "dialect_insert",
    "open_database",
]

T = TypeVar("T")
R = TypeVar("R", bound="SqlRepository")
Direction = Literal["upstream", "downstream", "both"]
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")


def dialect_insert(dialect: str, table: Any) -> Any:
    """An INSERT that supports ``on_conflict_do_update`` on SQLite and PostgreSQL."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _edge(row: Any) -> LineageEdge:
    return LineageEdge(
        src_kind=row.src_kind,
        src_id=row.src_id,
        relation=row.relation,
        dst_kind=row.dst_kind,
        dst_id=row.dst_id,
        created_at=row.created_at,
    )


def check_artifact(entry: ArtifactEntry) -> ArtifactEntry:
    """Refuse artifact records the artifact store could never have written."""
    path = safe_relpath(entry.path) if isinstance(entry.path, str) else entry.path
    if not isinstance(path, str) or path != entry.path:
        raise InvalidInput(
            f"Invalid artifact path {entry.path!r}: expected a clean relative path "
            f"such as {path!r}.",
            hint="Pass paths through cycleml.store.safe_relpath before recording them.",
        )
    if not isinstance(entry.digest, str) or not _DIGEST_RE.fullmatch(entry.digest):
        raise InvalidInput(
            f"Invalid digest {entry.digest!r} for artifact {entry.path!r}: expected 64 "
            "lowercase hex characters (a BLAKE3 digest)."
        )
    if isinstance(entry.size, bool) or not isinstance(entry.size, int) or entry.size < 0:
        raise InvalidInput(f"Invalid size {entry.size!r} for artifact {entry.path!r}.")
    return entry


class Database:
    """An open, migrated metadata database on SQLite or PostgreSQL.

    Every mutation runs in one transaction (:meth:`write`) that also appends its audit row
    and lineage edges; a failed call leaves nothing half-written.

    Args:
        uri: ``sqlite:///path.db`` or ``postgresql+psycopg://user@host/db``.
        actor: The name audit rows record for mutations made through this database.
        migrate: Apply pending schema migrations of every branch on open (the default).
    """

    def __init__(self, uri: str, *, actor: str, migrate: bool = True) -> None:
        self.uri = uri
        self._actor = actor
        self._engine: Engine = make_engine(uri)
        self.schema_revisions: frozenset[str] = frozenset()
        if migrate:
            try:
                self.schema_revisions = retry_transient(lambda: upgrade_to_head(self._engine))
            except (StoreError, DBAPIError) as exc:
                self._engine.dispose()
                # retry_transient wraps the driver's error in a StoreError; name the store.
                cause = exc if isinstance(exc, DBAPIError) else exc.__cause__
                if not isinstance(cause, DBAPIError):
                    raise  # e.g. an unknown schema revision: its message says it all
                raise StoreError(
                    f"Cannot open the metadata store at {self.redacted_uri}: {cause.orig or cause}",
                    hint="Check the URI, and that the database server is running.",
                ) from cause
            except BaseException:
                self._engine.dispose()
                raise

    @property
    def actor(self) -> str:
        """Who audit rows name: the :func:`acting_as` user of this context, else the opener."""
        return _ACTING_AS.get() or self._actor

    @property
    def schema_version(self) -> str:
        """The schema revisions (one per branch), sorted and joined by spaces."""
        return " ".join(sorted(self.schema_revisions))

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for advanced use and tests)."""
        return self._engine

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    @property
    def redacted_uri(self) -> str:
        """The URI with any password hidden, safe to print."""
        return self._engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Release the database's connections."""
        self._engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction (a consistent snapshot)."""
        with read_connection(self._engine) as conn:
            yield conn

    def write(self, func: Callable[[Connection], T]) -> T:
        """Run ``func`` in one write transaction, retried on transient lock errors.

        Everything ``func`` writes commits together or not at all.
        """

        def attempt() -> T:
            with write_connection(self._engine) as conn:
                return func(conn)

        try:
            return retry_transient(attempt)
        except (CycleMLError, IntegrityError):
            raise  # domain errors, and constraint races the caller translates
        except DBAPIError as exc:
            raise StoreError(
                f"The metadata store refused the write: {exc.orig or exc}",
                hint="This is likely a bug in cycleml or a damaged database; please report it.",
            ) from exc

    # ---- lineage ---------------------------------------------------------------------
    def lineage_edges(self, kind: str, entity_id: str) -> list[LineageEdge]:
        """Edges that start or end at one entity."""
        with self.read() as conn:
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

    # ---- audit -----------------------------------------------------------------------
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
        """Audit rows, oldest first (by row id), optionally filtered.

        ``since_ms`` and ``until_ms`` bound the time, ``[since_ms, until_ms)``; ``after_id``
        and ``before_id`` the row id, exclusive (the keys of pages: ids only grow).
        ``latest`` takes the newest ``limit`` rows instead of the oldest.
        """
        if type(limit) is not int or limit < 1:
            raise InvalidInput(f"Invalid limit {limit!r}: expected a positive integer.")
        query = select(audit_log)
        if since_ms is not None:
            query = query.where(audit_log.c.time >= since_ms)
        if until_ms is not None:
            query = query.where(audit_log.c.time < until_ms)
        if after_id is not None:
            query = query.where(audit_log.c.id > after_id)
        if before_id is not None:
            query = query.where(audit_log.c.id < before_id)
        if actor is not None:
            query = query.where(audit_log.c.actor == actor)
        if entity_kind is not None:
            query = query.where(audit_log.c.entity_kind == entity_kind)
        if entity_id is not None:
            query = query.where(audit_log.c.entity_id == entity_id)
        if action is not None:
            query = query.where(audit_log.c.action == action)
        with self.read() as conn:
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

    # ---- the artifact index ----------------------------------------------------------
    def index_artifacts(
        self,
        conn: Connection,
        owner_kind: str,
        owner_id: str,
        entries: Sequence[ArtifactEntry],
        *,
        at: int | None = None,
    ) -> None:
        """Map an owner's logical paths to stored blobs, in the caller's transaction.

        A path recorded again points at its new blob.
        """
        if not entries:
            return
        checked = [check_artifact(entry) for entry in entries]
        stmt = dialect_insert(self.dialect, artifacts)
        upsert = stmt.on_conflict_do_update(
            index_elements=[artifacts.c.owner_kind, artifacts.c.owner_id, artifacts.c.path],
            set_={
                "digest": stmt.excluded.digest,
                "size": stmt.excluded.size,
                "created_at": stmt.excluded.created_at,
            },
        )
        stamp = at if at is not None else now_ms()
        conn.execute(
            upsert,
            [
                {
                    "owner_kind": owner_kind,
                    "owner_id": owner_id,
                    "path": e.path,
                    "digest": e.digest,
                    "size": e.size,
                    "created_at": stamp,
                }
                for e in checked
            ],
        )

    def unindex_artifacts(
        self, conn: Connection, owner_kind: str, owner_id: str, path: str
    ) -> list[ArtifactEntry]:
        """Remove an owner's file at ``path``, or every file below the folder ``path``.

        Returns what was removed, in the caller's transaction (which records why, in the
        audit log). The blobs stay: they are shared by content, and the audit log names them.
        """
        clean = safe_relpath(path)
        entries = self.indexed_artifacts(owner_kind, owner_id, clean, conn=conn)
        if entries:
            c = artifacts.c
            conn.execute(
                delete(artifacts).where(
                    c.owner_kind == owner_kind,
                    c.owner_id == owner_id,
                    or_(c.path == clean, c.path.startswith(clean + "/", autoescape=True)),
                )
            )
        return entries

    def indexed_artifacts(
        self, owner_kind: str, owner_id: str, prefix: str = "", *, conn: Connection | None = None
    ) -> list[ArtifactEntry]:
        """An owner's artifacts whose path is ``prefix`` or lies below it, by path."""
        query = (
            select(artifacts.c.path, artifacts.c.digest, artifacts.c.size)
            .where(and_(artifacts.c.owner_kind == owner_kind, artifacts.c.owner_id == owner_id))
            .order_by(artifacts.c.path)
        )
        if conn is None:
            with self.read() as own:
                rows = own.execute(query).all()
        else:
            rows = conn.execute(query).all()
        clean = prefix.strip("/")
        return [
            ArtifactEntry(path, digest, int(size))
            for path, digest, size in rows
            if not clean or path == clean or path.startswith(clean + "/")
        ]


_ACTING_AS: ContextVar[str | None] = ContextVar("cycleml_acting_as", default=None)


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Record ``actor`` in the audit rows of every write made in this context.

    The team server wraps each authenticated request in it, so one worker's shared
    :class:`Database` names the user who asked, not the server's own account. Threads
    started from the context (Starlette's threadpool copies it) see it too.
    """
    token = _ACTING_AS.set(actor)
    try:
        yield
    finally:
        _ACTING_AS.reset(token)


def claimed_actor(given: str | None) -> str | None:
    """The actor a request may claim: the :func:`acting_as` user when there is one.

    Some repository writes take an ``actor`` from their caller (a client naming who acts
    through it). Behind an authenticated request that name is the signed-in user's,
    whatever the body says; otherwise the caller's, if given.
    """
    return _ACTING_AS.get() or given


class SqlRepository:
    """Base of the stages' SQL repositories: the database, its actor and its transactions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def actor(self) -> str:
        """The name audit rows record for this repository's mutations."""
        return self.db.actor

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.db.dialect

    def close(self) -> None:
        """Release the database's connections."""
        self.db.close()

    def __enter__(self: R) -> R:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.db.read() as conn:
            yield conn

    def _write(self, func: Callable[[Connection], T]) -> T:
        return self.db.write(func)


def database_of(repository: object) -> Database | None:
    """The database a SQL repository runs on (``None`` for any other backend).

    Services use it to open their collaborators on the same engine.
    """
    return repository.db if isinstance(repository, SqlRepository) else None


def open_database(settings: Settings | str, *, actor: str | None = None) -> Database:
    """Open (and migrate) the metadata database named by settings or a database URI."""
    if isinstance(settings, Settings):
        return Database(settings.metadata_uri, actor=actor or settings.actor)
    return Database(settings, actor=actor or default_actor())
