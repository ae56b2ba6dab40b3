"""Schema migrations (Alembic), one branch per stage, applied automatically on open.

Each stage owns its tables and their migrations: the files in ``cycleml/<stage>/migrations``
form that stage's Alembic branch, and the kernel's own (the audit log and lineage edges)
are in ``cycleml/store/migrations/versions``. The runner collects every such folder as
Alembic ``version_locations``, so a new stage adds tables without editing anyone else's
files. A revision file is named ``<branch>_<NNNN>_<what>.py`` with revision id
``<branch>_<NNNN>``; a branch is linear, so its head is its highest number.

Several processes may open a fresh database at once, so the upgrade runs under a lock:
SQLite's write lock (``BEGIN IMMEDIATE``) or a PostgreSQL advisory lock, and the recorded
revisions are read again once the lock is held.

Opening a store that is already at every head reads ``alembic_version`` with one query and
never imports Alembic (about a tenth of a second of every command's start); the heads come
from the file names, and a test keeps them equal to Alembic's own.

Databases created before the branches (one linear chain ``0001``..``0004``) are upgraded in
place: each legacy revision created exactly the tables of some branches' first revisions,
so the runner records those instead and carries on from there.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, delete, insert, inspect, text
from sqlalchemy.sql import column, table

from cycleml.errors import StoreError
from cycleml.store._engine import read_connection, write_connection

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "LEGACY_REVISIONS",
    "current_revisions",
    "head_revisions",
    "migration_folders",
    "upgrade_to_head",
]

_PACKAGE = Path(__file__).resolve().parents[1]  # the cycleml package folder
_KERNEL = Path(__file__).with_name("migrations")
_REVISION_FILE = re.compile(r"([a-z][a-z0-9]*)_(\d{4})_\w+\.py")
# Any constant works; it only has to be the same in every cycleml process.
_PG_LOCK_KEY = 0x6379C1E

#: The single chain before issue 11, and the branch revisions each legacy revision equals
#: (each created exactly those branches' first tables).
LEGACY_REVISIONS: dict[str, frozenset[str]] = {
    "0001": frozenset({"kernel_0001", "tracking_0001", "registry_0001"}),
    "0002": frozenset({"kernel_0001", "tracking_0001", "registry_0001", "data_0001"}),
    "0003": frozenset(
        {"kernel_0001", "tracking_0001", "registry_0001", "data_0001", "serving_0001"}
    ),
    "0004": frozenset(
        {
            "kernel_0001",
            "tracking_0001",
            "registry_0001",
            "data_0001",
            "serving_0001",
            "monitoring_0001",
        }
    ),
}


@functools.cache
def migration_folders() -> tuple[Path, ...]:
    """The kernel's migration folder and every stage's ``migrations`` folder."""
    stages = sorted(
        folder
        for folder in _PACKAGE.glob("*/migrations")
        if folder.is_dir() and any(_REVISION_FILE.fullmatch(f.name) for f in folder.iterdir())
    )
    return (_KERNEL / "versions", *stages)


@functools.cache
def head_revisions() -> frozenset[str]:
    """The newest revision of every branch this version of cycleml knows."""
    newest: dict[str, int] = {}
    for folder in migration_folders():
        for path in folder.iterdir():
            match = _REVISION_FILE.fullmatch(path.name)
            if match:
                branch, number = match.group(1), int(match.group(2))
                newest[branch] = max(number, newest.get(branch, 0))
    return frozenset(f"{branch}_{number:04d}" for branch, number in newest.items())


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_KERNEL))
    # Alembic splits this on the separator it is told about; paths may contain spaces.
    config.set_main_option("path_separator", "os")
    config.set_main_option(
        "version_locations", ":".join(str(folder) for folder in migration_folders())
    )
    return config


def _revisions(conn: Connection) -> frozenset[str]:
    if not inspect(conn).has_table("alembic_version"):
        return frozenset()
    rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return frozenset(str(row) for row in rows)


def current_revisions(engine: Engine) -> frozenset[str]:
    """The revisions recorded in the database (empty when it has no schema yet)."""
    with read_connection(engine) as conn:
        return _revisions(conn)


def _adopt_legacy(conn: Connection, legacy: str) -> None:
    """Record the branch revisions a legacy linear-chain revision stands for."""
    versions = table("alembic_version", column("version_num"))
    conn.execute(delete(versions))
    conn.execute(
        insert(versions), [{"version_num": rev} for rev in sorted(LEGACY_REVISIONS[legacy])]
    )


def upgrade_to_head(engine: Engine) -> frozenset[str]:
    """Bring every branch of the schema to its newest revision; return the heads."""
    heads = head_revisions()
    if current_revisions(engine) == heads:
        return heads
    from alembic import command
    from alembic.script import ScriptDirectory

    config = _config()
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    with write_connection(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
        current = _revisions(conn)
        if len(current) == 1 and next(iter(current)) in LEGACY_REVISIONS:
            _adopt_legacy(conn, next(iter(current)))
            current = LEGACY_REVISIONS[next(iter(current))]
        unknown = sorted(current - known)
        if unknown:
            raise StoreError(
                f"The metadata database is at schema revision(s) {unknown!r}, which this "
                f"version of cycleml does not know (newest known: {sorted(heads)!r}).",
                hint="Upgrade cycleml to the version that created this database.",
            )
        if current != heads:
            config.attributes["connection"] = conn
            command.upgrade(config, "heads")
    return heads
