"""Fixtures shared by the metadata store tests (SQLite and PostgreSQL, see tests/conftest.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cycleml.lifecycle._legacy_store import SqlMetadataStore
from cycleml.tracking._entities import Experiment, Run
from tables import all_tables

TableCounts = Callable[[], dict[str, int]]


def count_rows(store: SqlMetadataStore) -> dict[str, int]:
    """Rows in every table of the store's schema."""
    with store.engine.connect() as conn:
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
def table_counts(store: SqlMetadataStore) -> TableCounts:
    """Call it before and after a failing call: nothing may have been written."""
    return lambda: count_rows(store)


@pytest.fixture
def experiment(store: SqlMetadataStore) -> Experiment:
    return store.create_experiment("exp", artifact_location="file:///tmp/artifacts")


@pytest.fixture
def run(store: SqlMetadataStore, experiment: Experiment) -> Run:
    return store.create_run(experiment_id=experiment.experiment_id, run_name="first")


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_metadata_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URI of a database that has never been opened (no schema, no alembic_version).

    PostgreSQL gets a database of its own, dropped afterwards, so tests may damage it.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh' / 'metadata.db'}"
        return
    scratch = request.getfixturevalue("scratch_postgres")  # skips/fails like the others
    with scratch("cycleml_fresh") as uri:
        yield uri
