"""The active-run API: run lifecycle, params, metrics and tags (SQLite and PostgreSQL)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import pytest

import cycleml
from cycleml.errors import InvalidInput, InvalidState, NotFound, ParamConflict
from cycleml.store import Database
from cycleml.tracking import DEFAULT_EXPERIMENT, ActiveRun, RunRepository, Tracker
from cycleml.tracking._entities import RunStatus

PARENT_TAG = "cycleml.parentRunId"


# ---- lifecycle ---------------------------------------------------------------------------
def test_with_block_ends_run_finished(tracking: Tracker) -> None:
    with cycleml.start_run(run_name="baseline", tags={"team": "ml"}) as run:
        assert cycleml.active_run() is run
        assert cycleml.get_run(run.run_id).info.status == "RUNNING"
    assert cycleml.active_run() is None
    stored = cycleml.get_run(run.run_id)
    assert stored.info.status == RunStatus.FINISHED
    assert stored.info.run_name == "baseline"
    assert stored.info.end_time is not None
    assert stored.info.end_time >= stored.info.start_time
    assert stored.info.error is None
    assert stored.data.tags["team"] == "ml"
    experiment = tracking.client.get_experiment(stored.info.experiment_id)
    assert experiment.name == DEFAULT_EXPERIMENT


def test_exception_marks_run_failed_with_error_and_reraises(tracking: Tracker) -> None:
    started: list[ActiveRun] = []

    def train() -> None:
        with cycleml.start_run() as run:
            started.append(run)
            cycleml.log_param("p", 1)
            raise ValueError("boom 42")

    with pytest.raises(ValueError, match="boom 42"):
        train()
    run = started[0]
    stored = cycleml.get_run(run.run_id)
    assert stored.info.status == RunStatus.FAILED
    assert stored.info.error is not None
    assert "ValueError: boom 42" in stored.info.error
    assert "Traceback" in stored.info.error
    assert stored.data.params == {"p": "1"}
    assert cycleml.active_run() is None


def test_keyboard_interrupt_marks_run_killed(tracking: Tracker) -> None:
    with pytest.raises(KeyboardInterrupt), cycleml.start_run() as run:
        raise KeyboardInterrupt
    stored = cycleml.get_run(run.run_id)
    assert stored.info.status == RunStatus.KILLED
    assert stored.info.end_time is not None
    assert cycleml.active_run() is None


def test_nested_runs_record_parent(tracking: Tracker) -> None:
    with cycleml.start_run(run_name="parent") as parent:
        with cycleml.start_run(run_name="child", nested=True) as child:
            assert cycleml.active_run() is child
            with cycleml.start_run(run_name="grandchild", nested=True) as grandchild:
                pass
        assert cycleml.active_run() is parent
    child_run = cycleml.get_run(child.run_id)
    assert child_run.info.parent_run_id == parent.run_id
    assert child_run.data.tags[PARENT_TAG] == parent.run_id
    assert child_run.info.status == RunStatus.FINISHED
    assert cycleml.get_run(grandchild.run_id).info.parent_run_id == child.run_id
    parent_run = cycleml.get_run(parent.run_id)
    assert parent_run.info.parent_run_id is None
    assert PARENT_TAG not in parent_run.data.tags
    # The parent_of edge is in the lineage graph too.
    edges = tracking.client.repository.db.lineage_edges("run", child.run_id)
    assert ("run", parent.run_id, "parent_of") in {
        (e.src_kind, e.src_id, e.relation) for e in edges
    }


def test_ending_parent_ends_open_children(tracking: Tracker, run_repo: RunRepository) -> None:
    parent = cycleml.start_run()
    child = cycleml.start_run(nested=True)
    cycleml.end_run()  # ends the child (innermost)
    assert cycleml.active_run() is parent
    second = cycleml.start_run(nested=True)
    cycleml.log_metric("child_loss", 0.5)
    tracking.end_run(run_id=parent.run_id)  # the open child ends with its parent
    assert cycleml.active_run() is None
    # read with a separate connection: the child's buffered point was flushed as it ended
    assert [m.value for m in run_repo.get_metric_history(second.run_id, "child_loss")] == [0.5]
    assert tracking.buffer.pending() == 0
    assert run_repo.get_run(child.run_id).info.status == RunStatus.FINISHED
    assert run_repo.get_run(second.run_id).info.status == RunStatus.FINISHED
    assert run_repo.get_run(parent.run_id).info.status == RunStatus.FINISHED


def test_second_run_without_nested_is_invalid_state(tracking: Tracker) -> None:
    with cycleml.start_run() as run:
        with pytest.raises(InvalidState, match="already active") as caught:
            cycleml.start_run()
        assert "nested=True" in str(caught.value)
        assert cycleml.active_run() is run
    runs = tracking.client.search_runs()
    assert [r.run_id for r in runs] == [run.run_id]  # the refused run was never created


def test_logging_without_active_run_starts_one(tracking: Tracker) -> None:
    assert cycleml.active_run() is None
    assert cycleml.log_param("alpha", 0.5) == 0.5
    implicit = cycleml.active_run()
    assert implicit is not None
    cycleml.log_metric("loss", 0.25)
    cycleml.end_run()
    assert cycleml.active_run() is None
    stored = cycleml.get_run(implicit.run_id)
    assert stored.info.status == RunStatus.FINISHED
    assert stored.data.params == {"alpha": "0.5"}
    assert stored.data.metrics == {"loss": 0.25}


def test_end_run_without_active_run_is_a_noop(tracking: Tracker, db: Database) -> None:
    cycleml.end_run()
    cycleml.end_run("FAILED")
    assert cycleml.active_run() is None
    assert db.list_audit(action="run.update") == []
    assert db.list_audit(action="run.create") == []


def test_end_run_with_status(sqlite_tracking: Tracker) -> None:
    run = cycleml.start_run()
    cycleml.end_run("KILLED")
    assert cycleml.get_run(run.run_id).info.status == RunStatus.KILLED
    with pytest.raises(ValueError, match="BOGUS"):
        cycleml.end_run("BOGUS")


def test_resume_run_by_id(tracking: Tracker) -> None:
    with cycleml.start_run(run_name="resumable") as first:
        cycleml.log_param("lr", 0.1)
        cycleml.log_metric("loss", 1.0, step=0)
    assert cycleml.get_run(first.run_id).info.status == RunStatus.FINISHED
    with cycleml.start_run(run_id=first.run_id) as again:
        assert again.run_id == first.run_id
        assert cycleml.get_run(first.run_id).info.status == RunStatus.RUNNING
        cycleml.log_param("lr", 0.1)  # same value: fine
        cycleml.log_metric("loss", 0.5, step=1)
    stored = cycleml.get_run(first.run_id)
    assert stored.info.status == RunStatus.FINISHED
    assert stored.info.run_name == "resumable"
    assert stored.data.metrics["loss"] == 0.5
    history = tracking.client.get_metric_history(first.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5)]


def test_resume_unknown_run_is_not_found(sqlite_tracking: Tracker) -> None:
    with pytest.raises(NotFound):
        cycleml.start_run(run_id="0" * 32)
    assert cycleml.active_run() is None


def test_set_experiment_and_experiment_argument(tracking: Tracker) -> None:
    experiment = cycleml.set_experiment("churn")
    assert experiment.name == "churn"
    assert cycleml.set_experiment("churn").experiment_id == experiment.experiment_id
    with cycleml.start_run() as run:
        pass
    assert run.info.experiment_id == experiment.experiment_id
    with cycleml.start_run(experiment="other") as other:
        pass
    assert tracking.client.get_experiment(other.info.experiment_id).name == "other"
    by_id = cycleml.set_experiment(experiment_id=experiment.experiment_id)
    assert by_id.name == "churn"
    with pytest.raises(InvalidInput, match="exactly one"):
        cycleml.set_experiment()
    with pytest.raises(InvalidInput, match="exactly one"):
        cycleml.set_experiment("churn", experiment_id=experiment.experiment_id)


def test_run_in_deleted_experiment_is_refused(tracking: Tracker) -> None:
    experiment = cycleml.set_experiment("doomed")
    tracking.client.delete_experiment(experiment.experiment_id)
    with pytest.raises(InvalidState, match="deleted"):
        cycleml.start_run()
    assert cycleml.active_run() is None
    with pytest.raises(InvalidState, match="deleted"):
        cycleml.set_experiment(experiment_id=experiment.experiment_id)
    with pytest.raises(InvalidInput, match="deleted"):
        cycleml.set_experiment("doomed")


def test_description_is_stored_as_note_tag(sqlite_tracking: Tracker) -> None:
    with cycleml.start_run(description="first try") as run:
        pass
    assert cycleml.get_run(run.run_id).data.tags["cycleml.note.content"] == "first try"


def test_end_run_by_id_leaves_other_threads_runs_alone(tracking: Tracker) -> None:
    """Ending a run that is not on this thread's stack must not end this thread's runs."""
    mine = cycleml.start_run(run_name="mine")
    started: list[str] = []

    def worker() -> None:
        started.append(tracking.start_run(run_name="theirs").run_id)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    tracking.end_run(run_id=started[0])
    assert cycleml.active_run() is mine
    assert cycleml.get_run(mine.run_id).info.status == RunStatus.RUNNING
    assert cycleml.get_run(started[0]).info.status == RunStatus.FINISHED
    cycleml.end_run()
    assert cycleml.get_run(mine.run_id).info.status == RunStatus.FINISHED


# ---- params ------------------------------------------------------------------------------
def test_params_are_immutable(tracking: Tracker, db: Database) -> None:
    with cycleml.start_run() as run:
        cycleml.log_params({"model": "rf", "depth": 5})
        cycleml.log_param("model", "rf")  # the same value again is fine
        cycleml.log_params({"depth": "5"})  # stored as text: "5" == str(5)
        audit_before = len(db.list_audit(entity_id=run.run_id))
        with pytest.raises(ParamConflict, match="depth") as caught:
            cycleml.log_params({"new_key": "x", "depth": 6})
        assert caught.value.details["conflicts"] == {"depth": ["5", "6"]}
        assert isinstance(caught.value, ValueError)
        with pytest.raises(ParamConflict):
            cycleml.log_param("model", "xgb")
        # nothing of the refused batches was written, not even the audit row
        assert len(db.list_audit(entity_id=run.run_id)) == audit_before
    stored = cycleml.get_run(run.run_id)
    assert stored.data.params == {"model": "rf", "depth": "5"}
    assert "new_key" not in stored.data.params


def test_invalid_param_key_is_refused(sqlite_tracking: Tracker) -> None:
    with cycleml.start_run() as run, pytest.raises(InvalidInput, match="param key"):
        cycleml.log_params({"ok": 1, "bad key!": 2})
    assert cycleml.get_run(run.run_id).data.params == {}


# ---- metrics ----------------------------------------------------------------------------
def test_metrics_keep_full_history_with_step_and_timestamp(tracking: Tracker) -> None:
    with cycleml.start_run() as run:
        for step in range(10):
            cycleml.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1_000 + step)
        cycleml.log_metric("loss", 0.05, step=10)  # timestamp defaults to now
        cycleml.log_metrics({"acc": 0.7, "f1": 0.6}, step=3, timestamp=5_000)
        cycleml.log_metric("loss", 0.9, step=2, timestamp=9_999)  # late point, older step
    history = tracking.client.get_metric_history(run.run_id, "loss")
    assert len(history) == 12
    assert [m.step for m in history] == sorted(m.step for m in history)
    first_ten = [m for m in history if m.timestamp < 9_999 and m.step < 10]
    assert [(m.step, m.value, m.timestamp) for m in first_ten] == [
        (s, 1.0 / (s + 1), 1_000 + s) for s in range(10)
    ]
    assert {(m.step, m.value, m.timestamp) for m in history if m.step == 2} == {
        (2, 1.0 / 3, 1_002),
        (2, 0.9, 9_999),
    }
    assert history[-1].step == 10
    assert history[-1].timestamp > 1_000_000_000_000  # milliseconds since the epoch
    acc = tracking.client.get_metric_history(run.run_id, "acc")
    assert [(m.step, m.value, m.timestamp) for m in acc] == [(3, 0.7, 5_000)]
    # the latest value is the one with the highest step, whatever the logging order
    assert cycleml.get_run(run.run_id).data.metrics == {"loss": 0.05, "acc": 0.7, "f1": 0.6}


def test_latest_metric_is_indexed_for_search(tracking: Tracker) -> None:
    with cycleml.start_run(run_name="improving") as improving:
        for step, value in enumerate([0.5, 0.7, 0.95]):
            cycleml.log_metric("auc", value, step=step)
    with cycleml.start_run(run_name="flat") as flat:
        cycleml.log_metric("auc", 0.6)
    found = cycleml.search_runs(filter_string="metrics.auc > 0.9")
    assert isinstance(found, list)
    assert [r.run_id for r in found] == [improving.run_id]
    found = cycleml.search_runs(filter_string="metrics.auc < 0.65")
    assert isinstance(found, list)
    assert [r.run_id for r in found] == [flat.run_id]  # 0.5 at step 0 is history only


def test_nan_and_infinite_metric_values(tracking: Tracker) -> None:
    with cycleml.start_run() as run:
        cycleml.log_metric("m", float("nan"), step=0)
        cycleml.log_metric("big", float("inf"), step=0)
    history = tracking.client.get_metric_history(run.run_id, "m")
    assert len(history) == 1
    assert math.isnan(history[0].value)
    assert math.isnan(cycleml.get_run(run.run_id).data.metrics["m"])
    assert cycleml.get_run(run.run_id).data.metrics["big"] == math.inf


def test_invalid_metric_fails_at_the_call_and_does_not_poison_the_buffer(
    sqlite_tracking: Tracker,
) -> None:
    with cycleml.start_run() as run:
        cycleml.log_metric("good", 1.0, step=0)
        with pytest.raises(InvalidInput, match="metric key"):
            cycleml.log_metric("bad key!", 1.0)
        with pytest.raises(InvalidInput, match="expected a number"):
            cycleml.log_metric("good", "not a number")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="expected a number"):
            cycleml.log_metric("good", 10**400)
        with pytest.raises(InvalidInput, match="metric key"):
            cycleml.log_metrics({"fine": 1.0, "../escape": 2.0})
        cycleml.log_metric("good", 2.0, step=1)
    # the valid points were all written; the run ended normally
    history = sqlite_tracking.client.get_metric_history(run.run_id, "good")
    assert [m.value for m in history] == [1.0, 2.0]
    stored = cycleml.get_run(run.run_id)
    assert stored.info.status == RunStatus.FINISHED
    assert "fine" not in stored.data.metrics


# ---- tags --------------------------------------------------------------------------------
def test_tags_can_change(tracking: Tracker) -> None:
    with cycleml.start_run(tags={"stage": "dev"}) as run:
        cycleml.set_tag("stage", "prod")
        cycleml.set_tags({"owner": "ann", "n": 3})
    tags = cycleml.get_run(run.run_id).data.tags
    assert tags["stage"] == "prod"
    assert tags["owner"] == "ann"
    assert tags["n"] == "3"


def test_threads_have_their_own_active_runs(configure_tracking: Callable[..., Tracker]) -> None:
    tracker = configure_tracking(flush_points=50, flush_seconds=0.05)
    finished: dict[int, str] = {}
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            with tracker.start_run(run_name=f"thread-{index}") as run:
                assert tracker.active_run() is run
                tracker.log_param("index", index)
                for step in range(300):
                    tracker.log_metric("value", float(index), step=step)
            finished[index] = run.run_id
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert cycleml.active_run() is None
    for index, run_id in finished.items():
        run = tracker.get_run(run_id)
        assert run.info.status == RunStatus.FINISHED
        assert run.data.params == {"index": str(index)}
        history = tracker.client.get_metric_history(run_id, "value")
        assert [m.step for m in history] == list(range(300))
        assert {m.value for m in history} == {float(index)}
    assert len(finished) == 4


def test_closing_the_tracker_ends_open_runs_once(
    configure_tracking: Callable[..., Tracker], db: Database, run_repo: RunRepository
) -> None:
    configure_tracking()
    parent = cycleml.start_run()
    child = cycleml.start_run(nested=True)
    cycleml.log_metric("m", 1.0)
    cycleml.tracking._default.replace(None)
    for run in (parent, child):
        assert run_repo.get_run(run.run_id).info.status == RunStatus.FINISHED
        updates = db.list_audit(entity_id=run.run_id, action="run.update")
        assert len(updates) == 1, [u.payload for u in updates]
    assert run_repo.count_metric_points([child.run_id]) == 1


def test_run_ended_inside_its_with_block_keeps_its_status(
    tracking: Tracker, db: Database, run_repo: RunRepository
) -> None:
    with cycleml.start_run() as run:
        cycleml.end_run("KILLED")
        assert cycleml.active_run() is None
    stored = run_repo.get_run(run.run_id)
    assert stored.info.status == RunStatus.KILLED
    assert len(db.list_audit(entity_id=run.run_id, action="run.update")) == 1


def test_numpy_values_and_steps(sqlite_tracking: Tracker) -> None:
    np = pytest.importorskip("numpy")
    with cycleml.start_run() as run:
        for step in np.arange(3):
            cycleml.log_metric("loss", np.float32(0.5) * step, step=step)
        cycleml.log_metrics({"acc": np.float64(0.75)}, step=np.int64(7))
        with pytest.raises(InvalidInput, match="step"):
            cycleml.log_metric("loss", 1.0, step=1.5)  # type: ignore[arg-type]
    history = sqlite_tracking.client.get_metric_history(run.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.0), (1, 0.5), (2, 1.0)]
    assert all(type(m.step) is int for m in history)
    acc = sqlite_tracking.client.get_metric_history(run.run_id, "acc")
    assert [(m.step, m.value) for m in acc] == [(7, 0.75)]
