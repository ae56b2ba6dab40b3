"""Schema migrations (one Alembic branch per stage) applied on open, and bad or unreachable URIs."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Engine, Integer, MetaData, event, inspect, text

from cycleml.errors import InvalidInput, StoreError
from cycleml.store import Database, head_revisions, open_database
from cycleml.store._migrate import migration_folders
from cycleml.tracking import SqlRunRepository
from tables import all_tables

WRITES = ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE")


def _versions(store: Database) -> list[str]:
    with store.engine.connect() as conn:
        return sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _tables(store: Database) -> set[str]:
    return set(inspect(store.engine).get_table_names())


@contextmanager
def _statements() -> Iterator[list[str]]:
    """Every SQL statement any engine runs inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def test_heads_are_alembics_heads() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    folders = migration_folders()
    assert {f.parent.name if f.name == "migrations" else "store" for f in folders} == {
        "store",
        "tracking",
        "registry",
        "data",
        "serving",
        "monitoring",
        "server",
    }
    config = Config()
    config.set_main_option("script_location", str(folders[0].parent))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", ":".join(str(f) for f in folders))
    script = ScriptDirectory.from_config(config)
    assert set(script.get_heads()) == head_revisions()
    # one branch per stage, each labelled with its name
    assert {script.get_revision(head).branch_labels.pop() for head in script.get_heads()} == {
        "kernel",
        "tracking",
        "registry",
        "data",
        "serving",
        "monitoring",
        "server",
    }


def _create_experiment(db: Database, name: str) -> str:
    return SqlRunRepository(db).create_experiment(name).experiment_id


def test_opening_a_migrated_store_does_not_import_alembic(
    fresh_metadata_uri: str, tmp_path: Path
) -> None:
    with Database(fresh_metadata_uri, actor="t"):
        pass  # migrated here, in this process
    script = (
        "import sys\n"
        "from cycleml.store import Database, head_revisions\n"
        f"with Database({fresh_metadata_uri!r}, actor='t') as store:\n"
        "    assert store.schema_revisions == head_revisions(), store.schema_version\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert done.stdout.strip() == "[]", done.stdout


def test_fresh_database_is_migrated_to_head(fresh_metadata_uri: str) -> None:
    with Database(fresh_metadata_uri, actor="t") as store:
        assert store.schema_revisions == head_revisions()
        assert store.schema_version == " ".join(sorted(head_revisions()))
        assert _versions(store) == sorted(head_revisions())
        assert _tables(store) == {t.name for t in all_tables()} | {"alembic_version"}
        # and it is usable at once
        exp = _create_experiment(store, "e")
        assert SqlRunRepository(store).get_experiment(exp).name == "e"


def test_reopening_is_a_no_op(fresh_metadata_uri: str) -> None:
    with Database(fresh_metadata_uri, actor="t") as first:
        exp = _create_experiment(first, "kept")

    with _statements() as seen:
        again = Database(fresh_metadata_uri, actor="t")
    try:
        assert again.schema_revisions == head_revisions()
        writes = [s for s in seen if s.split(" ", 1)[0].upper() in WRITES]
        assert writes == []
        assert not any("IMMEDIATE" in s or "advisory" in s for s in seen)  # no write lock
        assert any("alembic_version" in s for s in seen)  # it did look
        assert _versions(again) == sorted(head_revisions())
        assert SqlRunRepository(again).get_experiment(exp).name == "kept"
    finally:
        again.close()


@pytest.mark.parametrize(
    ("older", "added"),
    [("tracking_0001", "run_requests"), ("tracking_0002", "logged_models")],
)
def test_opening_an_older_tracking_store_adds_the_newer_tables(
    fresh_metadata_uri: str, older: str, added: str
) -> None:
    from alembic import command

    from cycleml.store._engine import write_connection
    from cycleml.store._migrate import _config

    with Database(fresh_metadata_uri, actor="t") as store:
        exp = _create_experiment(store, "older")
        config = _config()
        with write_connection(store.engine) as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, f"tracking@{older}")
        assert older in _versions(store)
        assert added not in _tables(store)

    with Database(fresh_metadata_uri, actor="t") as store:  # opening upgrades the branch
        assert store.schema_revisions == head_revisions()
        assert added in _tables(store)
        assert SqlRunRepository(store).get_experiment(exp).name == "older"


def _registry_schema(store: Database) -> set[str]:
    """``model_requests`` if it exists, and each table that has a ``deleted_time``."""
    found = inspect(store.engine)
    tables = set(found.get_table_names())
    return {"model_requests"} & tables | {
        f"{table}.deleted_time"
        for table in ("registered_models", "model_versions")
        if "deleted_time" in {c["name"] for c in found.get_columns(table)}
    }


@pytest.mark.parametrize(
    ("older", "lacks"),
    [
        ("registry_0001", {"model_requests", "registered_models.deleted_time"}),
        ("registry_0002", {"registered_models.deleted_time", "model_versions.deleted_time"}),
    ],
)
def test_opening_an_older_registry_store_adds_the_newer_schema(
    fresh_metadata_uri: str, older: str, lacks: set[str]
) -> None:
    from alembic import command

    from cycleml import registry
    from cycleml.store._engine import write_connection
    from cycleml.store._migrate import _config

    with Database(fresh_metadata_uri, actor="t") as store:
        registry.SqlModelRepository(store).create_registered_model("older")
        registry.SqlModelRepository(store).create_model_version("older", source="s3://b/m")
        config = _config()
        with write_connection(store.engine) as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, f"registry@{older}")
        assert older in _versions(store)
        assert not lacks & _registry_schema(store)

    with Database(fresh_metadata_uri, actor="t") as store:  # opening upgrades the branch
        assert store.schema_revisions == head_revisions()
        assert lacks <= _registry_schema(store)
        models = registry.SqlModelRepository(store)
        assert models.get_registered_model("older").latest_version == 1  # not deleted
        assert [v.version for v in models.list_model_versions("older")] == [1]


def test_migrated_schema_matches_the_metadata(fresh_metadata_uri: str) -> None:
    with Database(fresh_metadata_uri, actor="t") as store, store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        every = MetaData()
        for table in all_tables():
            table.to_metadata(every)
        assert compare_metadata(context, every) == []

        # The comparison is real: a column the migrations lack shows up.
        changed = MetaData()
        for table in all_tables():
            table.to_metadata(changed)
        changed.tables["experiments"].append_column(Column("surprise", Integer))
        diff = compare_metadata(context, changed)
        assert [(d[0], d[2], d[3].name) for d in diff] == [
            ("add_column", "experiments", "surprise")
        ]


def test_audit_guards_are_installed(fresh_metadata_uri: str) -> None:
    with Database(fresh_metadata_uri, actor="t") as store, store.engine.connect() as conn:
        if store.dialect == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        else:
            query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        triggers = set(conn.execute(text(query)).scalars())
    expected = {
        "sqlite": {"audit_log_no_update", "audit_log_no_delete"},
        "postgresql": {"audit_log_append_only", "audit_log_no_truncate"},
    }
    assert triggers == expected[store.dialect]


def test_unknown_future_revision_is_refused(fresh_metadata_uri: str) -> None:
    with Database(fresh_metadata_uri, actor="t") as store:
        _create_experiment(store, "data")
        with store.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE alembic_version SET version_num = 'tracking_9999' "
                    "WHERE version_num LIKE 'tracking_%'"
                )
            )

    with pytest.raises(StoreError, match="tracking_9999") as info:
        Database(fresh_metadata_uri, actor="t")
    assert "does not know" in info.value.message
    assert info.value.hint is not None
    assert "Upgrade cycleml" in info.value.hint

    # Nothing was changed by the refused open.
    with Database(fresh_metadata_uri, actor="t", migrate=False) as raw:
        assert "tracking_9999" in _versions(raw)
        assert [e.name for e in SqlRunRepository(raw).list_experiments()] == ["data"]


def test_open_without_migrating(fresh_metadata_uri: str) -> None:
    with Database(fresh_metadata_uri, actor="t", migrate=False) as store:
        assert store.schema_version == ""
        assert _tables(store) == set()


def test_open_database_with_a_uri(fresh_metadata_uri: str) -> None:
    with open_database(fresh_metadata_uri, actor="someone") as store:
        assert store.actor == "someone"
        assert store.schema_revisions == head_revisions()


# ---- bad and unreachable URIs ---------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "mysql://x",
        "mysql://user:hunter2@db/x",
        "not a uri",
        "",
        "redis://localhost:6379/0",
        "postgresql+psycopg2://user:hunter2@localhost/db",  # a driver cycleml does not ship
        "postgresql+asyncpg://localhost/db",
        "sqlite+pysqlcipher:///x.db",
    ],
)
def test_bad_uris_are_invalid_input(uri: str) -> None:
    with pytest.raises(InvalidInput, match="metadata store URI") as info:
        Database(uri, actor="t")
    assert "hunter2" not in str(info.value)
    assert "sqlite:///" in (info.value.hint or "")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_postgres_is_a_store_error() -> None:
    port = _closed_port()
    uri = f"postgresql+psycopg://cycle:s3cret@127.0.0.1:{port}/metadata"
    started = time.monotonic()
    with pytest.raises(StoreError) as info:
        Database(uri, actor="t")
    assert time.monotonic() - started < 30
    message = str(info.value)
    assert "Cannot open the metadata store" in message
    assert f"127.0.0.1:{port}" in message  # says which store
    assert "s3cret" not in message  # but never the password
    assert "server is running" in message  # and what to do


def test_sqlite_path_below_a_file_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="Cannot create the folder"):
        Database(f"sqlite:///{blocker / 'sub' / 'metadata.db'}", actor="t")


def test_sqlite_path_that_is_a_folder_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="Cannot open the metadata store"):
        Database(f"sqlite:///{tmp_path}", actor="t")


def test_sqlite_creates_missing_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "metadata.db"
    with Database(f"sqlite:///{path}", actor="t") as store:
        assert store.dialect == "sqlite"
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert path.is_file()
