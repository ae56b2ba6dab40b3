"""A store made before the stage branches (schema ``0004``) upgrades in place, losing nothing.

The fixtures in ``legacy/`` were made by the cycleml of commit 657c13b through its public
API (``legacy/make_legacy_store.py`` says how), one on SQLite and one on PostgreSQL. Each is
opened by this cycleml, which records the stage branches' revisions in place of ``0004``;
then everything is read back with the method names of the old store and compared with what
the old cycleml read, and the data behind it (dataset parts, run files, the prediction log,
the model) is loaded through the services.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import shutil
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from cycleml.data import Datasets
from cycleml.lifecycle._legacy_store import SqlMetadataStore
from cycleml.models import load_model
from cycleml.serving import prediction_log
from cycleml.settings import Settings
from cycleml.store import head_revisions
from cycleml.store._migrate import LEGACY_REVISIONS
from cycleml.tracking import SqlRunRepository, TrackingClient

LEGACY = Path(__file__).with_name("legacy")


def _maker() -> Any:
    spec = importlib.util.spec_from_file_location(
        "make_legacy_store", LEGACY / "make_legacy_store.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=["sqlite", "postgresql"])
def legacy_project(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Settings, str]]:
    """A project folder holding the legacy store of one backend, and that backend's name."""
    backend = request.param
    source = LEGACY / backend
    state = tmp_path / ".cycleml"
    shutil.copytree(source / "artifacts", state / "artifacts")
    if backend == "sqlite":
        uri = f"sqlite:///{state / 'metadata.db'}"
        (state / "metadata.db").write_bytes(
            gzip.decompress((source / "metadata.db.gz").read_bytes())
        )
        yield _settings(tmp_path, uri), backend
        return
    scratch: Callable[[str], AbstractContextManager[str]] = request.getfixturevalue(
        "scratch_postgres"
    )
    with scratch("cycleml_legacy") as uri:
        dump = gzip.decompress((source / "metadata.sql.gz").read_bytes()).decode()
        # pg_dump's file is for psql: drop its meta-commands (\\restrict ...), run the SQL.
        sql = "\n".join(line for line in dump.splitlines() if not line.startswith("\\"))
        engine = create_engine(uri, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.connection.driver_connection.execute(sql)  # type: ignore[union-attr]
        engine.dispose()
        yield _settings(tmp_path, uri), backend


def _settings(home: Path, uri: str) -> Settings:
    return Settings(
        home=home,
        metadata_uri=uri,
        artifact_uri=(home / ".cycleml" / "artifacts").as_uri(),
        tracking_uri=uri,
        actor="upgrader",
    )


def _revisions(uri: str) -> set[str]:
    engine = create_engine(uri, poolclass=NullPool)
    with engine.connect() as conn:
        found = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    engine.dispose()
    return found


def test_a_legacy_store_upgrades_in_place_with_nothing_lost(
    legacy_project: tuple[Settings, str],
) -> None:
    settings, backend = legacy_project
    assert _revisions(settings.metadata_uri) == {"0004"}
    expected = json.loads((LEGACY / backend / "expected.json").read_text())

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # opening warns about nothing
        store = SqlMetadataStore(settings.metadata_uri, actor="upgrader")
    try:
        assert store.schema_revisions == head_revisions()
        # the tables 0004 made are the branches' first revisions: each branch is at or past it
        current = {rev.rsplit("_", 1)[0]: rev for rev in _revisions(settings.metadata_uri)}
        for legacy in LEGACY_REVISIONS["0004"]:
            assert current[legacy.rsplit("_", 1)[0]] >= legacy, legacy
        assert _revisions(settings.metadata_uri) == set(head_revisions())
        found = json.loads(json.dumps(_maker().snapshot(store), sort_keys=True))
        for section in expected:
            assert found[section] == expected[section], section
        assert found == expected
    finally:
        store.close()

    # The data behind the rows is all there and reads through the services.
    datasets = Datasets(settings)
    try:
        assert datasets.load("datasets:/points@train", output="arrow").num_rows == 40
    finally:
        datasets.close()
    client = TrackingClient(settings)
    try:
        (parent,) = [
            r
            for r in client.search_runs(experiment_names=["legacy"])
            if r.info.run_name == "parent"
        ]
        assert client.read_artifact(parent.info.run_id, "notes.txt") == b"notes"
    finally:
        client.close()
    assert prediction_log("legacy-live", settings=settings).num_rows == 10
    model = load_model("models:/legacy-model@champion", settings=settings)
    try:
        assert list(model.predict(pd.DataFrame({"x": [1.0, 2.0]}))) == [0, 0]
    finally:
        model.close()

    # ... and the upgraded store takes new writes, audited as before.
    with SqlMetadataStore(settings.metadata_uri, actor="upgrader") as again:
        runs = SqlRunRepository(again)
        experiment = runs.create_experiment("after-upgrade")
        assert runs.get_experiment(experiment.experiment_id).name == "after-upgrade"
        assert again.list_audit(latest=True, limit=1)[0].action == "experiment.create"
