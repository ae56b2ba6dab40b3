"""Schema migrations (Alembic), applied automatically when a store opens.

Several processes may open a fresh database at once, so the upgrade runs under a lock:
SQLite's write lock (``BEGIN IMMEDIATE``) or a PostgreSQL advisory lock, and the current
revision is read again once the lock is held.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from cycleml.errors import StoreError
from cycleml.store._engine import read_connection, write_connection

__all__ = ["current_revision", "head_revision", "upgrade_to_head"]

_MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same in every cycleml process.
_PG_LOCK_KEY = 0x6379C1E


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest schema revision this version of cycleml knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise StoreError("No schema migrations found in the cycleml package.")
    return head


def _revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def current_revision(engine: Engine) -> str | None:
    """The schema revision recorded in the database (``None`` when it is empty)."""
    with read_connection(engine) as conn:
        return _revision(conn)


def upgrade_to_head(engine: Engine) -> str:
    """Bring the database schema to the newest revision; return that revision."""
    head = head_revision()
    if current_revision(engine) == head:
        return head
    known = {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}
    with write_connection(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
        current = _revision(conn)
        if current is not None and current not in known:
            raise StoreError(
                f"The metadata database is at schema revision {current!r}, which this "
                f"version of cycleml does not know (newest known: {head!r}).",
                hint="Upgrade cycleml to the version that created this database.",
            )
        if current != head:
            config = _config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    return head
