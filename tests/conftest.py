"""Shared fixtures: every store test runs on SQLite and on the machine's PostgreSQL.

PostgreSQL comes from ``CYCLEML_TEST_POSTGRES_URI`` (default: the local server, user
postgres, trust auth). When it is unreachable the PostgreSQL cases skip, except when
``CI=true``: then they fail, so CI never passes without them.

Each test gets an empty, migrated store without paying for a migration: on SQLite a copy
of a template file migrated once per session (per pytest-xdist worker); on PostgreSQL the
worker's own database, migrated once and emptied before each test (see
:func:`_empty_postgres`).

A repository suite (a module marked ``pytest.mark.repository_suite``) runs a third time
through the team server: its repository fixture is then the REST implementation, talking
over loopback HTTP to a ``cycleml server`` on the same database (``transport`` is ``rest``).
"""

from __future__ import annotations

import ast
import functools
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

import cycleml
import cycleml.tracking
from cycleml.data import DatasetRepository, RestDatasetRepository, SqlDatasetRepository
from cycleml.monitoring import MonitorRepository, RestMonitorRepository, SqlMonitorRepository
from cycleml.registry import ModelRepository, RestModelRepository, SqlModelRepository
from cycleml.serving import (
    DeploymentRepository,
    RestDeploymentRepository,
    SqlDeploymentRepository,
)
from cycleml.settings import Settings
from cycleml.store import Database
from cycleml.store._migrate import upgrade_to_head
from cycleml.tracking import RestRunRepository, RunRepository, SqlRunRepository, Tracker
from cycleml.tracking._entities import Experiment, Run
from tables import all_tables

if TYPE_CHECKING:
    import pandas as pd

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


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite metadata database migrated once for this session (per xdist worker).

    Closing the database checkpoints its write-ahead log into the main file and removes
    ``-wal`` and ``-shm``, so a plain copy of that one file is a complete, migrated store
    (still in WAL mode, as cycleml opens it).
    """
    path = tmp_path_factory.mktemp("sqlite-template") / "metadata.db"
    Database(f"sqlite:///{path}", actor="setup").close()
    leftovers = sorted(p.name for p in path.parent.iterdir() if p != path)
    assert not leftovers, f"the template left {leftovers}: copying one file would lose them"
    return path


def _sqlite_uri(template: Path, folder: Path) -> str:
    """A migrated, empty SQLite store at ``folder/metadata.db``: a copy of the template."""
    path = folder / "metadata.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@functools.cache
def _empty_tables_sql() -> str:
    """One server-side statement that empties every table and restarts the used sequences.

    ``DELETE`` of the few rows a test writes costs milliseconds where ``TRUNCATE`` of every
    table costs tens of them (TRUNCATE gives each table new files); a table left with many
    rows is truncated as well, so later tests do not scan dead rows. ``RESTART IDENTITY``'s
    share is done by restarting the sequences that have handed out a value. The audit log
    refuses DELETE and TRUNCATE by trigger; this transaction alone bypasses triggers
    (``session_replication_role = replica``, local to it), which a superuser may do.
    """
    names = ", ".join(f"'{table.name}'" for table in all_tables())
    return f"""
DO $$
DECLARE
    name text;
    deleted bigint;
    used record;
BEGIN
    PERFORM set_config('session_replication_role', 'replica', true);
    FOREACH name IN ARRAY ARRAY[{names}] LOOP
        EXECUTE format('DELETE FROM %I', name);
        GET DIAGNOSTICS deleted = ROW_COUNT;
        IF deleted > 1000 THEN
            EXECUTE format('TRUNCATE %I', name);
        END IF;
    END LOOP;
    FOR used IN SELECT schemaname, sequencename FROM pg_sequences
                WHERE last_value IS NOT NULL LOOP
        EXECUTE format('ALTER SEQUENCE %I.%I RESTART', used.schemaname, used.sequencename);
    END LOOP;
END
$$"""


@pytest.fixture(scope="session")
def _postgres_engine(postgres_database: str) -> Iterator[Engine]:
    """One connection to the session's database, for migrating and emptying it."""
    engine = create_engine(postgres_database, pool_size=1, max_overflow=0, pool_pre_ping=True)
    try:
        yield engine
    finally:
        engine.dispose()  # before postgres_database drops the database


def _empty_postgres(engine: Engine) -> None:
    # A no-op read when the schema is at every head; migrates again if a test rolled a
    # branch back.
    upgrade_to_head(engine)
    with engine.begin() as conn:
        conn.execute(text(_empty_tables_sql()))


@pytest.fixture(params=BACKENDS)
def metadata_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A metadata store URI with an empty, migrated schema, once per backend."""
    if request.param == "sqlite":
        return _sqlite_uri(request.getfixturevalue("sqlite_template"), tmp_path)
    uri: str = request.getfixturevalue("postgres_database")
    _empty_postgres(request.getfixturevalue("_postgres_engine"))
    return uri


def _project_settings(home: Path, uri: str) -> Settings:
    return Settings(
        home=home,
        metadata_uri=uri,
        artifact_uri=(home / "artifacts").as_uri(),
        tracking_uri=uri,
        actor="tester",
    )


@pytest.fixture
def settings(metadata_uri: str, tmp_path: Path) -> Settings:
    """Settings for a project in ``tmp_path`` on the parametrized metadata store."""
    return _project_settings(tmp_path, metadata_uri)


@pytest.fixture
def sqlite_settings(sqlite_template: Path, tmp_path: Path) -> Settings:
    """Settings for a project in ``tmp_path`` on SQLite only (backend-independent tests)."""
    return _project_settings(tmp_path, _sqlite_uri(sqlite_template, tmp_path))


# ---- the default tracker behind cycleml.start_run, cycleml.log_metric ... ------------------
#: ``configure(**arguments of cycleml.configure)``: point the default tracker somewhere.
ConfigureDefault = Callable[..., Tracker]


@contextmanager
def _default_tracker() -> Iterator[ConfigureDefault]:
    try:
        yield cycleml.configure
    finally:
        # Closes the tracker (its open runs end, buffered points are written) and turns
        # autologging off, so nothing leaks into the next test.
        cycleml.tracking._default.replace(None)


@pytest.fixture
def default_tracker() -> Iterator[ConfigureDefault]:
    """``default_tracker(settings=...)`` or ``default_tracker(home=...)`` (the arguments of
    ``cycleml.configure``): point the module-level API at this test's project. It is reset
    after the test: its runs end and autologging turns off."""
    with _default_tracker() as configure:
        yield configure


@pytest.fixture(scope="session")
def default_tracker_scope() -> Callable[[], AbstractContextManager[ConfigureDefault]]:
    """``with default_tracker_scope() as configure:``, for fixtures wider than one test."""
    return _default_tracker


# ---- real data shared by the model tests ----------------------------------------------------
@pytest.fixture(scope="session")
def cancer() -> tuple[pd.DataFrame, pd.Series]:
    """scikit-learn's breast-cancer features (30 float columns) and the 0/1 target."""
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return x, y


# ---- repositories: every backend runs the same repository tests ------------------------------
#: How each backend builds a stage's repository on a database.
REPOSITORY_FACTORIES: dict[str, Callable[[Database], Any]] = {
    "run_repo": SqlRunRepository,
    "model_repo": SqlModelRepository,
    "dataset_repo": SqlDatasetRepository,
    "deployment_repo": SqlDeploymentRepository,
    "monitor_repo": SqlMonitorRepository,
}
#: How a stage's REST repository is built on a team server's base URL (stages with an API).
REST_FACTORIES: dict[str, Callable[[str], Any]] = {
    "run_repo": RestRunRepository,
    "model_repo": RestModelRepository,
    "dataset_repo": RestDatasetRepository,
    "deployment_repo": RestDeploymentRepository,
    "monitor_repo": RestMonitorRepository,
}
TRANSPORTS = ["sql", "rest"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "repository_suite: a repository test module; it also runs through the REST backend",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A repository suite's tests run on each transport its repository fixtures have."""
    if metafunc.definition.get_closest_marker("repository_suite") is None:
        return
    if any(name in metafunc.fixturenames for name in REST_FACTORIES):
        metafunc.parametrize("transport", TRANSPORTS, indirect=True)


@pytest.fixture
def transport(request: pytest.FixtureRequest) -> str:
    """How the repository fixtures reach the database: ``sql`` directly, or ``rest``
    through a team server (repository suites only; see ``pytest_generate_tests``)."""
    return str(getattr(request, "param", "sql"))


class _AppSwitch:
    """An ASGI app that forwards to the app a test installed: one uvicorn per session.

    Starting a server costs ~10 ms and stopping one ~200 ms (uvicorn's shutdown tick); the
    REST variant of a repository suite would pay that per test. Each test still gets its
    own ``create_server(settings)`` (~2 ms) on its own database.
    """

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # the installed apps' states are closed by the test
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        assert self.app is not None, "no team server app is installed"
        await self.app(scope, receive, send)


@pytest.fixture(scope="session")
def _team_server_host() -> Iterator[tuple[_AppSwitch, str]]:
    from cycleml.serving import background_server

    switch = _AppSwitch()
    with background_server(switch) as url:  # type: ignore[arg-type]
        yield switch, url


@pytest.fixture
def team_server(settings: Settings, _team_server_host: tuple[_AppSwitch, str]) -> Iterator[str]:
    """The base URL of a ``cycleml server`` on this test's settings (real HTTP, loopback)."""
    from cycleml.server import create_server

    switch, url = _team_server_host
    app = create_server(settings)
    switch.app = app
    try:
        yield url
    finally:
        switch.app = None
        app.state.server.close()


def _repository(name: str, db: Database, transport: str, request: pytest.FixtureRequest) -> Any:
    if transport == "rest" and name in REST_FACTORIES:
        repository = REST_FACTORIES[name](request.getfixturevalue("team_server"))
        request.addfinalizer(repository.close)
        return repository
    return REPOSITORY_FACTORIES[name](db)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    """The kernel database of the parametrized backend (SQLite and PostgreSQL)."""
    opened = Database(settings.metadata_uri, actor=settings.actor)
    yield opened
    opened.close()


@pytest.fixture
def run_repo(db: Database, transport: str, request: pytest.FixtureRequest) -> RunRepository:
    """The tracking repository on ``db`` (directly, or through a team server on it)."""
    repository: RunRepository = _repository("run_repo", db, transport, request)
    return repository


@pytest.fixture
def model_repo(db: Database, transport: str, request: pytest.FixtureRequest) -> ModelRepository:
    """The registry's repository on ``db`` (directly, or through a team server on it)."""
    repository: ModelRepository = _repository("model_repo", db, transport, request)
    return repository


@pytest.fixture
def dataset_repo(db: Database, transport: str, request: pytest.FixtureRequest) -> DatasetRepository:
    """The data stage's repository on ``db`` (directly, or through a team server on it)."""
    repository: DatasetRepository = _repository("dataset_repo", db, transport, request)
    return repository


@pytest.fixture
def deployment_repo(
    db: Database, transport: str, request: pytest.FixtureRequest
) -> DeploymentRepository:
    """Serving's repository on ``db`` (directly, or through a team server on it)."""
    repository: DeploymentRepository = _repository("deployment_repo", db, transport, request)
    return repository


@pytest.fixture
def monitor_repo(db: Database, transport: str, request: pytest.FixtureRequest) -> MonitorRepository:
    """Monitoring's repository on ``db`` (directly, or through a team server on it)."""
    repository: MonitorRepository = _repository("monitor_repo", db, transport, request)
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
