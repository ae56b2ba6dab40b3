"""Database engines for the metadata store: SQLite (default) and PostgreSQL.

SQLite runs in WAL mode with a busy timeout, and write transactions start with
``BEGIN IMMEDIATE``: a deferred transaction that later tries to write can fail at once with
"database is locked" when another process wrote in between, whatever the busy timeout, so
writers take the lock up front and wait for it instead.

The SQLite engine emits ``BEGIN`` itself (pysqlite's own transaction handling is off) from
its dialect's ``do_begin``, not from a ``begin`` event listener: any engine-level listener
makes SQLAlchemy dispatch events around every statement and transaction, which cost more than
the small writes of the tracking hot path themselves. ``do_begin`` runs inside SQLAlchemy's
error handling, so a lock timeout on ``BEGIN IMMEDIATE`` still arrives as an
``OperationalError`` that :func:`retry_transient` retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import NullPool

from cycleml._optional import require
from cycleml.errors import InvalidInput, StoreError

__all__ = [
    "BUSY_TIMEOUT_S",
    "driver_sql",
    "make_engine",
    "read_connection",
    "write_connection",
]

#: How long a writer waits for SQLite's lock before giving up.
BUSY_TIMEOUT_S = 60.0
# Set by write_connection while it begins its transaction: SQLite's do_begin reads it.
_IMMEDIATE: ContextVar[bool] = ContextVar("cycleml_begin_immediate", default=False)
# Drivers cycleml ships with; any other (psycopg2, asyncpg ...) would fail on import.
_DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg")
T = TypeVar("T")


def _sqlite_engine(uri: str) -> Engine:
    url = make_url(uri)
    if url.database and url.database != ":memory:":
        folder = Path(url.database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the folder {str(folder)!r} of the metadata database: "
                f"{exc.strerror or exc}.",
                hint="Check the path in the sqlite:/// URI and the folder's permissions.",
            ) from exc
    engine = create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
        # One connection per thread at a time is plenty; NullPool for in-memory is wrong.
        pool_pre_ping=False,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let the dialect's do_begin (below) emit BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # Searches join several indexes scattered over the file; SQLite's default 2 MiB
        # page cache thrashes at ~10,000 runs (22 ms vs 10 ms a search).
        cursor.execute("PRAGMA cache_size = -65536")
        cursor.execute("PRAGMA mmap_size = 268435456")
        cursor.close()

    def do_begin(dbapi_connection: Any) -> None:
        # Every transaction of this engine starts here (engine.begin() included), so
        # atomicity never depends on going through read_connection or write_connection.
        dbapi_connection.execute("BEGIN IMMEDIATE" if _IMMEDIATE.get() else "BEGIN")

    # This engine's own dialect instance: no other engine is affected.
    engine.dialect.do_begin = do_begin  # type: ignore[method-assign]
    return engine


def make_engine(uri: str) -> Engine:
    """Create an engine for a ``sqlite:///`` or ``postgresql+psycopg://`` URI.

    ``postgresql://`` is read as ``postgresql+psycopg://``: cycleml talks to PostgreSQL
    through psycopg 3 (the ``postgres`` extra), not SQLAlchemy's default psycopg2.

    Raises:
        InvalidInput: The URI is not a database URI cycleml supports, or it names
            PostgreSQL and psycopg is not installed.
    """
    try:
        url = make_url(uri)
    except ArgumentError as exc:
        raise InvalidInput(
            f"Invalid metadata store URI {uri!r}: it is not a database URL.",
            hint="Use sqlite:///path/to/metadata.db or postgresql+psycopg://user@host/db.",
        ) from exc
    backend = url.get_backend_name()
    shown = url.render_as_string(hide_password=True)  # never echo a password
    if url.drivername not in _DRIVERS:
        what = f"backend {backend!r}" if backend not in _DRIVERS else f"driver {url.drivername!r}"
        raise InvalidInput(
            f"Unsupported metadata store URI {shown!r}: {what} is not supported.",
            hint="Use sqlite:///path/to/metadata.db or postgresql+psycopg://user@host/db.",
        )
    if backend == "sqlite":
        return _sqlite_engine(uri)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    # SQLAlchemy would import the driver inside create_engine and let the bare
    # ModuleNotFoundError out; import it first to name the extra that installs it.
    require(
        "psycopg",
        extra="postgres",
        needed_for=f"The metadata store URI {shown!r}",
        package="psycopg 3 (the driver cycleml uses for postgresql:// and "
        "postgresql+psycopg:// URIs; it does not use psycopg2)",
    )
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def driver_sql(dialect: str, sql: str) -> str:
    """Fixed SQL written with ``?`` placeholders, in the paramstyle of ``dialect``'s driver.

    ``?`` for sqlite3, ``%s`` for psycopg. Hot writes run such text with
    ``Connection.exec_driver_sql``: nothing is built, compiled or cache-keyed per call, and
    errors are still wrapped by SQLAlchemy (retries and ``IntegrityError`` checks work).
    Convert once (at import or first use), not per statement. ``sql`` must not contain
    ``%`` or a ``?`` that is not a placeholder.
    """
    if "%" in sql:
        raise ValueError(f"driver SQL must not contain '%': {sql!r}")
    return sql.replace("?", "%s") if dialect == "postgresql" else sql


def null_pool_engine(uri: str) -> Engine:
    """An engine without pooling, for one-off administrative connections."""
    return create_engine(make_url(uri), poolclass=NullPool)


def _is_transient(exc: OperationalError) -> bool:
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return "database is locked" in text or "deadlock detected" in text or "busy" in text


def retry_transient(func: Callable[[], T], *, attempts: int = 5) -> T:
    """Run ``func``, retrying a few times when the database reports a transient lock."""
    for attempt in range(attempts):
        try:
            return func()
        except OperationalError as exc:
            if not _is_transient(exc) or attempt == attempts - 1:
                raise StoreError(
                    f"The metadata store failed: {exc.orig or exc}.",
                    hint="Check that the database is reachable and not read-only.",
                ) from exc
            time.sleep(0.05 * (2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction, committed on success, rolled back on error.

    On SQLite the transaction starts with ``BEGIN IMMEDIATE`` (see the module docstring).
    """
    with engine.connect() as conn:
        token = _IMMEDIATE.set(True)
        try:
            transaction = conn.begin()
        finally:
            _IMMEDIATE.reset(token)
        with transaction:
            yield conn


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a read transaction (a consistent snapshot)."""
    with engine.connect() as conn, conn.begin():
        yield conn
