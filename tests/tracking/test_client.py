"""TrackingClient: experiments and runs through the explicit API (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

import pytest

from cycleml.errors import AlreadyExists, InvalidInput, InvalidState, NotFound, ParamConflict
from cycleml.settings import Settings
from cycleml.store import Database
from cycleml.tracking import RestRunRepository, SqlRunRepository, TrackingClient
from cycleml.tracking._entities import Metric, RunStatus


@pytest.fixture
def client(settings: Settings) -> Iterator[TrackingClient]:
    opened = TrackingClient(settings)
    yield opened
    opened.close()


def test_experiment_lifecycle(client: TrackingClient) -> None:
    experiment_id = client.create_experiment("churn", tags={"owner": "ann"})
    assert len(experiment_id) == 32
    experiment = client.get_experiment(experiment_id)
    assert experiment.name == "churn"
    assert experiment.lifecycle_stage == "active"
    assert experiment.tags == {"owner": "ann"}
    assert experiment.artifact_location == client.artifacts.uri
    assert client.get_experiment_by_name("churn") == experiment
    assert client.get_experiment_by_name("missing") is None
    assert client.get_or_create_experiment("churn").experiment_id == experiment_id

    other_id = client.get_or_create_experiment("fraud").experiment_id
    assert [e.name for e in client.list_experiments()] == ["churn", "fraud"]

    with pytest.raises(AlreadyExists, match="churn"):
        client.create_experiment("churn")
    with pytest.raises(InvalidInput):
        client.create_experiment("   ")

    renamed = client.rename_experiment(experiment_id, "churn-v2")
    assert renamed.name == "churn-v2"
    assert renamed.experiment_id == experiment_id
    assert client.get_experiment_by_name("churn") is None
    with pytest.raises(AlreadyExists):
        client.rename_experiment(other_id, "churn-v2")

    deleted = client.delete_experiment(experiment_id)
    assert deleted.lifecycle_stage == "deleted"
    assert [e.name for e in client.list_experiments()] == ["fraud"]
    assert [e.name for e in client.list_experiments(view="deleted")] == ["churn-v2"]
    assert {e.name for e in client.list_experiments(view="all")} == {"churn-v2", "fraud"}
    with pytest.raises(InvalidState, match="already deleted"):
        client.delete_experiment(experiment_id)
    with pytest.raises(AlreadyExists):  # deleted names stay taken, as in MLflow
        client.create_experiment("churn-v2")
    with pytest.raises(InvalidInput, match="deleted"):
        client.get_or_create_experiment("churn-v2")

    restored = client.restore_experiment(experiment_id)
    assert restored.lifecycle_stage == "active"
    with pytest.raises(InvalidState, match="not deleted"):
        client.restore_experiment(experiment_id)
    assert len(client.list_experiments()) == 2

    with pytest.raises(NotFound):
        client.get_experiment("0" * 32)
    with pytest.raises(KeyError):  # NotFound is a KeyError too
        client.delete_experiment("0" * 32)
    with pytest.raises(InvalidInput, match="view"):
        client.list_experiments(view="everything")


def test_experiment_changes_are_audited(client: TrackingClient) -> None:
    experiment_id = client.create_experiment("audited")
    client.rename_experiment(experiment_id, "audited-2")
    client.delete_experiment(experiment_id)
    client.restore_experiment(experiment_id)
    actions = [r.action for r in client.repository.db.list_audit(entity_id=experiment_id)]
    assert actions == [
        "experiment.create",
        "experiment.rename",
        "experiment.delete",
        "experiment.restore",
    ]
    assert {r.actor for r in client.repository.db.list_audit(entity_id=experiment_id)} == {"tester"}


def test_run_in_deleted_experiment_is_refused(client: TrackingClient) -> None:
    experiment_id = client.create_experiment("gone")
    run = client.create_run(experiment_id)
    client.delete_experiment(experiment_id)
    with pytest.raises(InvalidState, match="deleted"):
        client.create_run(experiment_id)
    with pytest.raises(NotFound):
        client.create_run("f" * 32)
    # the run created before the delete is still there
    assert client.get_run(run.run_id).info.status == RunStatus.RUNNING
    client.restore_experiment(experiment_id)
    assert client.create_run(experiment_id).info.experiment_id == experiment_id


def test_run_logging_through_the_client(client: TrackingClient) -> None:
    experiment_id = client.create_experiment("client-runs")
    run = client.create_run(experiment_id, run_name="explicit", tags={"k": "v"})
    assert run.info.status == RunStatus.RUNNING
    assert run.info.run_name == "explicit"
    assert run.info.artifact_uri == f"runs:/{run.run_id}"
    assert run.info.user_id == "tester"

    client.log_param(run.run_id, "alpha", 0.1)
    with pytest.raises(ParamConflict):
        client.log_param(run.run_id, "alpha", 0.2)
    client.set_tag(run.run_id, "k", "v2")
    client.log_metric(run.run_id, "loss", 0.5, step=1, timestamp=123)
    client.log_batch(
        run.run_id,
        metrics=[Metric("loss", 0.4, 2, 124), Metric("acc", 0.9, 2, 124)],
        params={"beta": 2},
        tags={"stage": "dev"},
    )
    stored = client.get_run(run.run_id)
    assert stored.data.params == {"alpha": "0.1", "beta": "2"}
    assert stored.data.tags == {"k": "v2", "stage": "dev"}
    assert stored.data.metrics == {"loss": 0.4, "acc": 0.9}
    assert client.get_metric_history(run.run_id, "loss") == [
        Metric("loss", 0.5, 1, 123),
        Metric("loss", 0.4, 2, 124),
    ]
    assert client.get_metric_history(run.run_id, "never-logged") == []

    child = client.create_run(experiment_id, parent_run_id=run.run_id)
    assert child.info.parent_run_id == run.run_id

    client.set_terminated(run.run_id, "FAILED", error="out of memory")
    ended = client.get_run(run.run_id).info
    assert ended.status == RunStatus.FAILED
    assert ended.error == "out of memory"
    assert ended.end_time is not None
    with pytest.raises(ValueError, match="NOT_A_STATUS"):
        client.set_terminated(run.run_id, "NOT_A_STATUS")

    client.delete_run(run.run_id)
    assert client.get_run(run.run_id).info.lifecycle_stage == "deleted"
    with pytest.raises(InvalidState, match="deleted"):
        client.log_param(run.run_id, "gamma", 1)
    client.restore_run(run.run_id)
    client.log_param(run.run_id, "gamma", 1)
    assert client.get_run(run.run_id).info.lifecycle_stage == "active"

    dumped = stored.to_dict()
    assert dumped["info"]["run_id"] == run.run_id
    assert dumped["data"]["params"] == {"alpha": "0.1", "beta": "2"}


def test_unknown_and_malformed_run_ids(client: TrackingClient) -> None:
    with pytest.raises(NotFound):
        client.get_run("a" * 32)
    with pytest.raises(InvalidInput, match="run id"):
        client.get_run("../../etc/passwd")
    with pytest.raises(NotFound):
        client.log_param("b" * 32, "x", 1)


def test_a_server_tracking_uri_tracks_through_its_rest_api(sqlite_settings: Settings) -> None:
    remote = dataclasses.replace(
        sqlite_settings, tracking_uri="http://localhost:5000/", tracking_token="s3cret"
    )
    assert "s3cret" not in repr(remote)
    client = TrackingClient(remote)  # connects on the first call, not here
    try:
        assert isinstance(client.repository, RestRunRepository)
        assert client.repository.base_url == "http://localhost:5000"
        assert client.repository._api._http.headers["Authorization"] == "Bearer s3cret"
    finally:
        client.close()
    # A database given explicitly wins over the URI.
    with Database(sqlite_settings.metadata_uri, actor="t") as db:
        assert isinstance(TrackingClient(remote, store=db).repository, SqlRunRepository)


def test_get_or_create_experiment_is_race_free(client: TrackingClient) -> None:
    barrier = threading.Barrier(6)
    found: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        barrier.wait()
        try:
            found.append(client.get_or_create_experiment("raced").experiment_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(found) == 6
    assert len(set(found)) == 1
    assert [e.name for e in client.list_experiments()] == ["raced"]
