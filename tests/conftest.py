"""Shared fixtures: every store test runs on SQLite and on the machine's PostgreSQL.

PostgreSQL comes from ``CYCLEML_TEST_POSTGRES_URI`` (default: the local server, user
postgres, trust auth). When it is unreachable the PostgreSQL cases skip, except when
``CI=true``: then they fail, so CI never passes without them.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from cycleml.data import DatasetRepository, SqlDatasetRepository
from cycleml.lifecycle._legacy_store import SqlMetadataStore
from cycleml.monitoring import MonitorRepository, SqlMonitorRepository
from cycleml.registry import ModelRepository, SqlModelRepository
from cycleml.serving import DeploymentRepository, SqlDeploymentRepository
from cycleml.settings import Settings
from cycleml.store import Database
from cycleml.tracking import RunRepository, SqlRunRepository
from cycleml.tracking._entities import Experiment, Run
from tables import all_tables

POSTGRES_ADMIN_URI = os.environ.get(
    "CYCLEML_TEST_POSTGRES_URI", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
BACKENDS = ["sqlite", "postgresql"]


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"PostgreSQL is required in CI but unavailable: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@contextmanager
def scratch_database(admin_uri: str, prefix: str) -> Iterator[str]:
    """Create a uniquely named PostgreSQL database; drop it (and its sessions) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_uri, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_uri).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    scratch = scratch_database(POSTGRES_ADMIN_URI, "cycleml_test")
    try:
        uri = scratch.__enter__()
    except Exception as exc:
        _unavailable(str(exc).splitlines()[0])
    try:
        yield uri
    finally:
        scratch.__exit__(None, None, None)


@pytest.fixture
def scratch_postgres(postgres_database: str) -> Callable[[str], AbstractContextManager[str]]:
    """``scratch_postgres(prefix)``: a throwaway database next to the session's."""
    return lambda prefix: scratch_database(postgres_database, prefix)


def _truncate_postgres(uri: str) -> None:
    engine = create_engine(uri)
    tables = ", ".join(f'"{table.name}"' for table in all_tables())
    with engine.begin() as conn:
        # The audit log refuses TRUNCATE by trigger; a superuser test session may bypass
        # triggers (replica role) to reset the tables between tests.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def metadata_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A metadata store URI with an empty schema, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'metadata.db'}"
        return
    uri: str = request.getfixturevalue("postgres_database")
    SqlMetadataStore(uri, actor="setup").close()  # migrate once, then empty the tables
    _truncate_postgres(uri)
    yield uri


@pytest.fixture
def settings(metadata_uri: str, tmp_path: Path) -> Settings:
    """Settings for a project in ``tmp_path`` on the parametrized metadata store."""
    return Settings(
        home=tmp_path,
        metadata_uri=metadata_uri,
        artifact_uri=(tmp_path / "artifacts").as_uri(),
        tracking_uri=metadata_uri,
        actor="tester",
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[SqlMetadataStore]:
    """An open metadata store (SQLite and PostgreSQL)."""
    opened = SqlMetadataStore(settings.metadata_uri, actor=settings.actor)
    yield opened
    opened.close()


# ---- repositories: every backend runs the same repository tests ------------------------------
#: How each backend builds a stage's repository on a database (REST joins with the server).
REPOSITORY_FACTORIES: dict[str, Callable[[Database], Any]] = {
    "run_repo": SqlRunRepository,
    "model_repo": SqlModelRepository,
    "dataset_repo": SqlDatasetRepository,
    "deployment_repo": SqlDeploymentRepository,
    "monitor_repo": SqlMonitorRepository,
}


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    """The kernel database of the parametrized backend (SQLite and PostgreSQL)."""
    opened = Database(settings.metadata_uri, actor=settings.actor)
    yield opened
    opened.close()


@pytest.fixture
def run_repo(db: Database) -> RunRepository:
    """The tracking repository on ``db``."""
    repository: RunRepository = REPOSITORY_FACTORIES["run_repo"](db)
    return repository


@pytest.fixture
def model_repo(db: Database) -> ModelRepository:
    """The registry's repository on ``db``."""
    repository: ModelRepository = REPOSITORY_FACTORIES["model_repo"](db)
    return repository


@pytest.fixture
def dataset_repo(db: Database) -> DatasetRepository:
    """The data stage's repository on ``db``."""
    repository: DatasetRepository = REPOSITORY_FACTORIES["dataset_repo"](db)
    return repository


@pytest.fixture
def deployment_repo(db: Database) -> DeploymentRepository:
    """Serving's repository on ``db``."""
    repository: DeploymentRepository = REPOSITORY_FACTORIES["deployment_repo"](db)
    return repository


@pytest.fixture
def monitor_repo(db: Database) -> MonitorRepository:
    """Monitoring's repository on ``db``."""
    repository: MonitorRepository = REPOSITORY_FACTORIES["monitor_repo"](db)
    return repository


TableCounts = Callable[[], dict[str, int]]


def count_rows(db: Database) -> dict[str, int]:
    """Rows in every table of the store's schema."""
    with db.engine.connect() as conn:
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in all_tables()
        }


def _race(action: Callable[[], object], refused: type[BaseException], *, threads: int = 4) -> int:
    """Run ``action`` on ``threads`` threads at once; how many were refused with ``refused``."""
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            action()
        except refused as exc:
            errors.append(exc)

    running = [threading.Thread(target=attempt) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    return len(errors)


@pytest.fixture
def race() -> Callable[..., int]:
    """``race(action, RefusedError)``: start ``action`` on 4 threads at once, count refusals."""
    return _race


@pytest.fixture
def table_counts(db: Database) -> TableCounts:
    """Call it before and after a failing call: nothing may have been written."""
    return lambda: count_rows(db)


@pytest.fixture
def experiment(run_repo: RunRepository) -> Experiment:
    return run_repo.create_experiment("exp", artifact_location="file:///tmp/artifacts")


@pytest.fixture
def run(run_repo: RunRepository, experiment: Experiment) -> Run:
    return run_repo.create_run(experiment_id=experiment.experiment_id, run_name="first")


#: ``fresh_imports(code, cwd=None)``: run ``code`` in a new interpreter; its process and the
#: top-level packages it had imported when it exited (``sys.exit`` included).
FreshImports = Callable[..., tuple["subprocess.CompletedProcess[str]", set[str]]]

_MARK = "\nCYCLEML-LOADED "


def _fresh_imports(
    code: str, cwd: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    script = (
        "import atexit, sys\n"
        f"atexit.register(lambda: print({_MARK!r}, sorted({{m.split('.')[0] for m in "
        "sys.modules}), flush=True))\n"
        f"{code}\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=cwd, timeout=120
    )
    assert _MARK.strip() in done.stdout, done.stderr
    listed = done.stdout.rsplit(_MARK.strip(), 1)[1].strip()
    return done, set(ast.literal_eval(listed))


@pytest.fixture(scope="session")
def fresh_imports() -> FreshImports:
    """What a piece of code imports in a fresh interpreter (for the import-cost tests)."""
    return _fresh_imports
