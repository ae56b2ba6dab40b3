"""Schema migrations (Alembic), applied automatically when a store opens.

Several processes may open a fresh database at once, so the upgrade runs under a lock:
SQLite's write lock (``BEGIN IMMEDIATE``) or a PostgreSQL advisory lock, and the current
revision is read again once the lock is held.

Opening a store that is already at the head revision reads ``alembic_version`` with one
query and never imports Alembic (about a tenth of a second of every command's start):
:data:`HEAD_REVISION` names the head, and a test keeps it equal to Alembic's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from cycleml.errors import StoreError
from cycleml.store._engine import read_connection, write_connection

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD_REVISION", "current_revision", "head_revision", "upgrade_to_head"]

#: The newest schema revision this version of cycleml knows (the newest migration file).
HEAD_REVISION = "0004"

_MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same in every cycleml process.
_PG_LOCK_KEY = 0x6379C1E


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest schema revision this version of cycleml knows."""
    return HEAD_REVISION


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:  # one linear chain has one row; more means a foreign schema
        raise StoreError(
            f"The metadata database records several schema revisions {sorted(rows)!r}; "
            "cycleml keeps one.",
            hint="Point cycleml at a database it created.",
        )
    return str(rows[0]) if rows else None


def current_revision(engine: Engine) -> str | None:
    """The schema revision recorded in the database (``None`` when it is empty)."""
    with read_connection(engine) as conn:
        return _revision(conn)


def upgrade_to_head(engine: Engine) -> str:
    """Bring the database schema to the newest revision; return that revision."""
    head = head_revision()
    if current_revision(engine) == head:
        return head
    from alembic import command
    from alembic.script import ScriptDirectory

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
