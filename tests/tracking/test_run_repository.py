"""Experiments, runs, run search and artifact records of the tracking repository.

Every test runs on SQLite and PostgreSQL, directly and through the team server's REST API
(the ``run_repo`` fixture of this repository suite). Failing calls are checked to leave
every table exactly as it was (``table_counts``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from cycleml.errors import (
    AlreadyExists,
    InvalidInput,
    InvalidState,
    NotFound,
    ParamConflict,
)
from cycleml.store import ArtifactEntry, now_ms
from cycleml.tracking import RunRepository
from cycleml.tracking._entities import Experiment, Metric, Run, RunStatus

pytestmark = pytest.mark.repository_suite

TableCounts = Callable[[], dict[str, int]]
UNKNOWN_ID = "0123456789abcdef0123456789abcdef"
MALFORMED_IDS = ["abc", "", "0123456789ABCDEF0123456789ABCDEF", UNKNOWN_ID + "0", "../" * 11]
DIGEST_A = "a" * 64
DIGEST_B = "b" * 64


def _experiment_names(run_repo: RunRepository, view: str = "active") -> list[str]:
    return [e.name for e in run_repo.list_experiments(view=view)]


# ---- experiments ----------------------------------------------------------------------------


def test_create_and_get_experiment(run_repo: RunRepository) -> None:
    before = now_ms()
    created = run_repo.create_experiment(
        "churn", artifact_location="file:///art", tags={"team": "growth", "n": 3}
    )
    after = now_ms()

    assert len(created.experiment_id) == 32
    assert created.name == "churn"
    assert created.artifact_location == "file:///art"
    assert created.lifecycle_stage == "active"
    assert before <= created.creation_time <= after
    assert created.last_update_time == created.creation_time
    assert created.tags == {"team": "growth", "n": "3"}
    assert run_repo.get_experiment(created.experiment_id) == created
    assert run_repo.get_experiment_by_name("churn") == created
    assert run_repo.get_experiment_by_name("Churn") is None


def test_experiment_name_is_stripped(run_repo: RunRepository) -> None:
    assert run_repo.create_experiment("  spaced  ").name == "spaced"
    with pytest.raises(AlreadyExists):
        run_repo.create_experiment("spaced ")


def test_list_experiments_by_view(run_repo: RunRepository) -> None:
    a = run_repo.create_experiment("a")
    b = run_repo.create_experiment("b")
    c = run_repo.create_experiment("c")
    run_repo.delete_experiment(b.experiment_id)

    assert _experiment_names(run_repo) == ["a", "c"]
    assert _experiment_names(run_repo, "deleted") == ["b"]
    assert _experiment_names(run_repo, "all") == ["a", "b", "c"]
    assert {e.experiment_id for e in run_repo.list_experiments(view="all")} == {
        a.experiment_id,
        b.experiment_id,
        c.experiment_id,
    }
    with pytest.raises(InvalidInput, match="view"):
        run_repo.list_experiments(view="everything")


def test_rename_experiment(run_repo: RunRepository, table_counts: TableCounts) -> None:
    exp = run_repo.create_experiment("old")
    run_repo.create_experiment("taken")

    renamed = run_repo.rename_experiment(exp.experiment_id, "new")
    assert renamed.name == "new"
    assert renamed.experiment_id == exp.experiment_id
    assert renamed.last_update_time >= exp.last_update_time
    assert run_repo.get_experiment_by_name("old") is None
    assert run_repo.get_experiment_by_name("new") == renamed

    before = table_counts()
    with pytest.raises(AlreadyExists, match="taken"):
        run_repo.rename_experiment(exp.experiment_id, "taken")
    with pytest.raises(InvalidInput):
        run_repo.rename_experiment(exp.experiment_id, "  ")
    with pytest.raises(NotFound):
        run_repo.rename_experiment(UNKNOWN_ID, "fine")
    assert table_counts() == before
    assert run_repo.get_experiment(exp.experiment_id).name == "new"


def test_delete_and_restore_experiment(run_repo: RunRepository, table_counts: TableCounts) -> None:
    exp = run_repo.create_experiment("e")
    deleted = run_repo.delete_experiment(exp.experiment_id)
    assert deleted.lifecycle_stage == "deleted"
    assert run_repo.get_experiment(exp.experiment_id).lifecycle_stage == "deleted"

    before = table_counts()
    with pytest.raises(InvalidState, match="already deleted"):
        run_repo.delete_experiment(exp.experiment_id)
    with pytest.raises(InvalidState, match="deleted"):
        run_repo.create_run(experiment_id=exp.experiment_id)
    assert table_counts() == before

    restored = run_repo.restore_experiment(exp.experiment_id)
    assert restored.lifecycle_stage == "active"
    with pytest.raises(InvalidState, match="not deleted"):
        run_repo.restore_experiment(exp.experiment_id)
    assert run_repo.create_run(experiment_id=exp.experiment_id).info.status == "RUNNING"


def test_duplicate_experiment_name(run_repo: RunRepository, table_counts: TableCounts) -> None:
    exp = run_repo.create_experiment("dup")
    before = table_counts()
    with pytest.raises(AlreadyExists, match="dup"):
        run_repo.create_experiment("dup")
    assert table_counts() == before

    # A deleted experiment still holds its name.
    run_repo.delete_experiment(exp.experiment_id)
    before = table_counts()
    with pytest.raises(AlreadyExists, match="deleted"):
        run_repo.create_experiment("dup", tags={"a": "b"})
    assert table_counts() == before


def test_unknown_experiment(
    run_repo: RunRepository, table_counts: TableCounts, subtests: pytest.Subtests
) -> None:
    before = table_counts()
    calls = {
        "get": lambda: run_repo.get_experiment(UNKNOWN_ID),
        "rename": lambda: run_repo.rename_experiment(UNKNOWN_ID, "x"),
        "delete": lambda: run_repo.delete_experiment(UNKNOWN_ID),
        "restore": lambda: run_repo.restore_experiment(UNKNOWN_ID),
    }
    for name, call in calls.items():
        with subtests.test(call=name), pytest.raises(NotFound, match=UNKNOWN_ID):
            call()
    assert table_counts() == before


def test_bad_experiment_names(
    run_repo: RunRepository, table_counts: TableCounts, subtests: pytest.Subtests
) -> None:
    before = table_counts()
    for name in ["", "   ", "\t\n", None, 42, "x" * 257]:
        with subtests.test(name=name), pytest.raises(InvalidInput, match="experiment name"):
            run_repo.create_experiment(name)  # type: ignore[arg-type]
    assert table_counts() == before


def test_longest_experiment_name(run_repo: RunRepository) -> None:
    assert run_repo.create_experiment("x" * 256).name == "x" * 256


def test_bad_experiment_tag_keys(
    run_repo: RunRepository, table_counts: TableCounts, subtests: pytest.Subtests
) -> None:
    exp = run_repo.create_experiment("e")
    before = table_counts()
    for key in ["", "bad key!", "k" * 251, "a\n", "../up"]:
        with subtests.test(key=key):
            with pytest.raises(InvalidInput, match="tag key"):
                run_repo.create_experiment("other", tags={key: "v"})
            with pytest.raises(InvalidInput, match="tag key"):
                run_repo.set_experiment_tag(exp.experiment_id, key, "v")
    assert table_counts() == before


def test_set_experiment_tag(run_repo: RunRepository, experiment: Experiment) -> None:
    run_repo.set_experiment_tag(experiment.experiment_id, "owner", "ann")
    run_repo.set_experiment_tag(experiment.experiment_id, "owner", "bob")
    assert run_repo.get_experiment(experiment.experiment_id).tags == {"owner": "bob"}


# ---- runs: creating and reading -----------------------------------------------------------


def test_create_run(run_repo: RunRepository, experiment: Experiment) -> None:
    before = now_ms()
    run = run_repo.create_run(
        experiment_id=experiment.experiment_id, run_name="baseline", tags={"model": "rf"}
    )
    info = run.info
    assert len(info.run_id) == 32
    assert info.run_name == "baseline"
    assert info.experiment_id == experiment.experiment_id
    assert info.status == RunStatus.RUNNING
    assert before <= info.start_time <= now_ms()
    assert info.end_time is None
    assert info.heartbeat_time == info.start_time
    assert info.lifecycle_stage == "active"
    assert info.user_id == "tester"
    assert info.artifact_uri == f"runs:/{info.run_id}"
    assert info.parent_run_id is None
    assert run.data.tags == {"model": "rf"}
    assert run.data.metrics == {}
    assert run.data.params == {}
    assert run_repo.get_run(info.run_id) == run


def test_create_run_defaults_and_options(run_repo: RunRepository, experiment: Experiment) -> None:
    run = run_repo.create_run(
        experiment_id=experiment.experiment_id,
        user_id="ann",
        artifact_uri="s3://bucket/x",
        start_time=1234,
    )
    assert run.info.run_name == f"run-{run.info.run_id[:8]}"
    assert run.info.user_id == "ann"
    assert run.info.artifact_uri == "s3://bucket/x"
    assert run.info.start_time == 1234


def test_create_child_run(run_repo: RunRepository, experiment: Experiment, run: Run) -> None:
    child = run_repo.create_run(experiment_id=experiment.experiment_id, parent_run_id=run.run_id)
    assert child.info.parent_run_id == run.run_id
    assert run_repo.get_run(child.run_id).info.parent_run_id == run.run_id


def test_create_run_errors_write_nothing(
    run_repo: RunRepository, experiment: Experiment, table_counts: TableCounts
) -> None:
    before = table_counts()
    with pytest.raises(NotFound, match="experiment"):
        run_repo.create_run(experiment_id=UNKNOWN_ID)
    with pytest.raises(NotFound, match=UNKNOWN_ID):
        run_repo.create_run(experiment_id=experiment.experiment_id, parent_run_id=UNKNOWN_ID)
    with pytest.raises(InvalidInput, match="run id"):
        run_repo.create_run(experiment_id=experiment.experiment_id, parent_run_id="nope")
    with pytest.raises(InvalidInput, match="tag key"):
        run_repo.create_run(experiment_id=experiment.experiment_id, tags={"bad key!": "v"})
    with pytest.raises(InvalidInput, match="run name"):
        run_repo.create_run(experiment_id=experiment.experiment_id, run_name="n" * 257)
    with pytest.raises(InvalidInput, match="user id"):
        run_repo.create_run(experiment_id=experiment.experiment_id, user_id="u" * 257)
    assert table_counts() == before


def test_get_runs_keeps_the_requested_order(
    run_repo: RunRepository, experiment: Experiment
) -> None:
    ids = [run_repo.create_run(experiment_id=experiment.experiment_id).run_id for _ in range(4)]
    wanted = [ids[2], ids[0], UNKNOWN_ID, ids[3], ids[0]]
    assert [r.run_id for r in run_repo.get_runs(wanted)] == [ids[2], ids[0], ids[3]]
    assert run_repo.get_runs([]) == []


def test_malformed_run_id(
    run_repo: RunRepository, table_counts: TableCounts, subtests: pytest.Subtests
) -> None:
    before = table_counts()
    calls: dict[str, Callable[[str], object]] = {
        "get_run": run_repo.get_run,
        "log_batch": lambda rid: run_repo.log_batch(rid, metrics=[Metric("m", 1.0, 0, 1)]),
        "update_run": lambda rid: run_repo.update_run(rid, status="FINISHED"),
        "delete_runs": lambda rid: run_repo.delete_runs([rid]),
        "get_metric_history": lambda rid: run_repo.get_metric_history(rid, "m"),
        "list_artifacts": run_repo.list_artifacts,
        "record_artifacts": lambda rid: run_repo.record_artifacts(
            rid, [ArtifactEntry("a", DIGEST_A, 1)]
        ),
    }
    for run_id in MALFORMED_IDS:
        for name, call in calls.items():
            with (
                subtests.test(run_id=run_id, call=name),
                pytest.raises(InvalidInput, match="run id"),
            ):
                call(run_id)
    assert table_counts() == before


def test_unknown_run_id(run_repo: RunRepository, table_counts: TableCounts) -> None:
    before = table_counts()
    calls = [
        lambda: run_repo.get_run(UNKNOWN_ID),
        lambda: run_repo.log_batch(UNKNOWN_ID, metrics=[Metric("m", 1.0, 0, 1)]),
        lambda: run_repo.log_batch(UNKNOWN_ID, params={"p": 1}),
        lambda: run_repo.update_run(UNKNOWN_ID, status="FINISHED"),
        lambda: run_repo.delete_runs([UNKNOWN_ID]),
        lambda: run_repo.restore_runs([UNKNOWN_ID]),
        lambda: run_repo.get_metric_history(UNKNOWN_ID, "m"),
        lambda: run_repo.list_artifacts(UNKNOWN_ID),
        lambda: run_repo.record_artifacts(UNKNOWN_ID, [ArtifactEntry("a", DIGEST_A, 1)]),
    ]
    for call in calls:
        with pytest.raises(NotFound, match=UNKNOWN_ID):
            call()
    assert table_counts() == before


# ---- runs: logging --------------------------------------------------------------------------


def test_log_batch(run_repo: RunRepository, run: Run) -> None:
    run_repo.log_batch(
        run.run_id,
        metrics=[Metric("loss", 0.5, 0, 100), Metric("acc", 0.8, 0, 100)],
        params={"lr": 0.01, "depth": 3, "name": "rf"},
        tags={"stage": "dev"},
    )
    run_repo.log_batch(run.run_id, tags={"stage": "prod", "extra": 1})
    data = run_repo.get_run(run.run_id).data
    assert data.metrics == {"loss": 0.5, "acc": 0.8}
    assert data.params == {"lr": "0.01", "depth": "3", "name": "rf"}
    assert data.tags == {"stage": "prod", "extra": "1"}


def test_log_batch_refreshes_heartbeat(run_repo: RunRepository, experiment: Experiment) -> None:
    run = run_repo.create_run(experiment_id=experiment.experiment_id, start_time=1000)
    assert run.info.heartbeat_time == 1000
    before = now_ms()
    run_repo.log_batch(run.run_id, metrics=[Metric("m", 1.0, 0, 5)])
    assert run_repo.get_run(run.run_id).info.heartbeat_time >= before


def test_empty_log_batch_is_a_no_op(
    run_repo: RunRepository, run: Run, table_counts: TableCounts
) -> None:
    before = table_counts()
    run_repo.log_batch(run.run_id)
    run_repo.log_batch(run.run_id, metrics=[], params={}, tags={})
    assert table_counts() == before


def test_params_are_immutable(run_repo: RunRepository, run: Run) -> None:
    run_repo.log_batch(run.run_id, params={"lr": 0.1, "depth": 3})
    run_repo.log_batch(run.run_id, params={"lr": 0.1})  # same value: fine
    run_repo.log_batch(run.run_id, params={"depth": "3", "new": "x"})  # same text: fine
    with pytest.raises(ParamConflict, match="immutable") as info:
        run_repo.log_batch(run.run_id, params={"lr": 0.2})
    assert info.value.details["conflicts"] == {"lr": ["0.1", "0.2"]}
    assert info.value.status_code == 409
    assert run_repo.get_run(run.run_id).data.params == {"lr": "0.1", "depth": "3", "new": "x"}


def test_param_conflict_writes_nothing_of_the_batch(
    run_repo: RunRepository, run: Run, table_counts: TableCounts
) -> None:
    run_repo.log_batch(run.run_id, params={"lr": "0.1"}, metrics=[Metric("loss", 1.0, 0, 10)])
    heartbeat = run_repo.get_run(run.run_id).info.heartbeat_time
    before = table_counts()
    with pytest.raises(ParamConflict):
        run_repo.log_batch(
            run.run_id,
            metrics=[Metric("loss", 0.5, 1, 20), Metric("acc", 0.9, 1, 20)],
            params={"fresh": "yes", "lr": "0.2"},
            tags={"note": "should not exist"},
        )
    assert table_counts() == before
    after = run_repo.get_run(run.run_id)
    assert after.data.metrics == {"loss": 1.0}
    assert after.data.params == {"lr": "0.1"}
    assert after.data.tags == {}
    assert after.info.heartbeat_time == heartbeat
    assert [m.value for m in run_repo.get_metric_history(run.run_id, "loss")] == [1.0]
    assert run_repo.get_metric_history(run.run_id, "acc") == []


def test_metric_history_keeps_every_point_in_order(run_repo: RunRepository, run: Run) -> None:
    run_repo.log_batch(run.run_id, metrics=[Metric("m", 3.0, 3, 30), Metric("m", 1.0, 1, 10)])
    run_repo.log_batch(run.run_id, metrics=[Metric("m", 2.0, 2, 20), Metric("other", 9.0, 0, 1)])
    run_repo.log_batch(run.run_id, metrics=[Metric("m", 1.5, 1, 5), Metric("m", 1.0, 1, 10)])
    history = run_repo.get_metric_history(run.run_id, "m")
    assert [(p.step, p.timestamp, p.value) for p in history] == [
        (1, 5, 1.5),
        (1, 10, 1.0),
        (1, 10, 1.0),  # an identical point logged twice is kept twice
        (2, 20, 2.0),
        (3, 30, 3.0),
    ]
    assert all(p.key == "m" for p in history)
    assert run_repo.get_metric_history(run.run_id, "missing") == []
    assert run_repo.count_metric_points([run.run_id]) == 6


LATEST_CASES = [
    # one list per batch of (value, step, timestamp) points -> the expected latest value
    ("a higher step wins even if older", [[(1.0, 0, 10)], [(2.0, 1, 5)]], 2.0),
    ("an out-of-order step does not replace", [[(1.0, 5, 10)], [(2.0, 3, 99)]], 1.0),
    ("same step: a newer timestamp wins", [[(1.0, 2, 10)], [(2.0, 2, 20)]], 2.0),
    ("same step: an older timestamp loses", [[(1.0, 2, 20)], [(2.0, 2, 10)]], 1.0),
    ("an exact tie: the last write wins", [[(1.0, 2, 10)], [(2.0, 2, 10)]], 2.0),
    ("within one batch", [[(1.0, 1, 1), (3.0, 7, 1), (2.0, 4, 1)]], 3.0),
    ("within one batch, same step", [[(1.0, 7, 5), (3.0, 7, 9), (2.0, 7, 7)]], 3.0),
    ("negative steps compare as numbers", [[(5.0, -1, 1)], [(6.0, -3, 2)]], 5.0),
]


def test_latest_metric_follows_step_then_timestamp(
    run_repo: RunRepository, experiment: Experiment, subtests: pytest.Subtests
) -> None:
    for rule, batches, latest in LATEST_CASES:
        with subtests.test(rule=rule):
            run_id = run_repo.create_run(experiment_id=experiment.experiment_id).run_id
            for batch in batches:
                run_repo.log_batch(run_id, metrics=[Metric("m", v, s, t) for v, s, t in batch])
            assert run_repo.get_run(run_id).data.metrics == {"m": latest}
            assert run_repo.get_runs([run_id])[0].data.metrics == {"m": latest}


def test_nan_and_infinities_round_trip(run_repo: RunRepository, run: Run) -> None:
    points = [
        Metric("nan", math.nan, 0, 1),
        Metric("inf", math.inf, 0, 1),
        Metric("ninf", -math.inf, 0, 1),
        Metric("big", 1.7976931348623157e308, 0, 1),
        Metric("tiny", -5e-324, 0, 1),
    ]
    run_repo.log_batch(run.run_id, metrics=points)
    latest = run_repo.get_run(run.run_id).data.metrics
    assert math.isnan(latest["nan"])
    assert latest["inf"] == math.inf
    assert latest["ninf"] == -math.inf
    assert latest["big"] == 1.7976931348623157e308
    assert latest["tiny"] == -5e-324
    for point in points:
        (stored,) = run_repo.get_metric_history(run.run_id, point.key)
        assert stored.key == point.key
        assert stored.value == point.value or (math.isnan(stored.value) and math.isnan(point.value))

    # NaN as the latest value, then a finite value at a later step replaces it.
    run_repo.log_batch(run.run_id, metrics=[Metric("inf", math.nan, 1, 2)])
    assert math.isnan(run_repo.get_run(run.run_id).data.metrics["inf"])
    run_repo.log_batch(run.run_id, metrics=[Metric("inf", 4.0, 2, 3)])
    assert run_repo.get_run(run.run_id).data.metrics["inf"] == 4.0
    values = [p.value for p in run_repo.get_metric_history(run.run_id, "inf")]
    assert values[0] == math.inf
    assert math.isnan(values[1])
    assert values[2] == 4.0


def test_metric_values_are_coerced_to_float(run_repo: RunRepository, run: Run) -> None:
    run_repo.log_batch(run.run_id, metrics=[Metric("int", 3, 0, 1), Metric("text", "2.5", 0, 1)])
    assert run_repo.get_run(run.run_id).data.metrics == {"int": 3.0, "text": 2.5}


BAD_KEYS = ["", "bad key!", "k" * 251, "loss\n", "a\tb", "../up", "a/../b", "/abs", None, 3]


def test_bad_keys_are_refused(
    run_repo: RunRepository, run: Run, table_counts: TableCounts, subtests: pytest.Subtests
) -> None:
    before = table_counts()
    good = Metric("ok", 1.0, 0, 1)
    for key in BAD_KEYS:
        with subtests.test(key=key):
            with pytest.raises(InvalidInput, match="metric key"):
                run_repo.log_batch(run.run_id, metrics=[good, Metric(key, 1.0, 0, 1)])  # type: ignore[arg-type]
            with pytest.raises(InvalidInput, match="param key"):
                run_repo.log_batch(run.run_id, params={"ok": 1, key: 1})
            with pytest.raises(InvalidInput, match="tag key"):
                run_repo.log_batch(run.run_id, tags={"ok": 1, key: 1}, metrics=[good])
            assert table_counts() == before


def test_good_keys_are_accepted(run_repo: RunRepository, run: Run) -> None:
    keys = ["a", "k" * 250, "val/auc", "a-b_c.d e:f", "ünïcode"]
    run_repo.log_batch(run.run_id, metrics=[Metric(k, 1.0, 0, 1) for k in keys])
    assert set(run_repo.get_run(run.run_id).data.metrics) == set(keys)


BAD_POINTS = [
    Metric("m", "abc", 0, 1),
    Metric("m", None, 0, 1),
    Metric("m", 1.0, 1.5, 1),
    Metric("m", 1.0, "3", 1),
    Metric("m", 1.0, True, 1),
    Metric("m", 1.0, 2**63, 1),
    Metric("m", 1.0, 0, None),
    Metric("m", 1.0, 0, 2**64),
]


def test_bad_metric_points_are_refused(
    run_repo: RunRepository, run: Run, table_counts: TableCounts, subtests: pytest.Subtests
) -> None:
    before = table_counts()
    for metric in BAD_POINTS:
        with subtests.test(metric=metric), pytest.raises(InvalidInput, match="metric 'm'"):
            run_repo.log_batch(run.run_id, metrics=[Metric("ok", 1.0, 0, 1), metric])
    assert table_counts() == before


def test_extreme_steps_are_stored(run_repo: RunRepository, run: Run) -> None:
    run_repo.log_batch(
        run.run_id, metrics=[Metric("m", 1.0, 2**63 - 1, 1), Metric("m", 2.0, -(2**63), 1)]
    )
    assert [p.step for p in run_repo.get_metric_history(run.run_id, "m")] == [-(2**63), 2**63 - 1]
    assert run_repo.get_run(run.run_id).data.metrics == {"m": 1.0}


def test_param_value_limit(run_repo: RunRepository, run: Run, table_counts: TableCounts) -> None:
    run_repo.log_batch(run.run_id, params={"long": "v" * 6000})
    before = table_counts()
    with pytest.raises(InvalidInput, match="6001 characters"):
        run_repo.log_batch(run.run_id, params={"longer": "v" * 6001})
    assert table_counts() == before


def test_delete_run_tag(run_repo: RunRepository, run: Run) -> None:
    run_repo.log_batch(run.run_id, tags={"a": "1", "b": "2"})
    run_repo.delete_run_tag(run.run_id, "a")
    assert run_repo.get_run(run.run_id).data.tags == {"b": "2"}
    with pytest.raises(NotFound, match="'a'"):
        run_repo.delete_run_tag(run.run_id, "a")


# ---- runs: status, deleting ----------------------------------------------------------------


def test_update_run_to_finished(run_repo: RunRepository, run: Run) -> None:
    before = now_ms()
    info = run_repo.update_run(run.run_id, status="FINISHED")
    assert info.status == RunStatus.FINISHED
    assert info.end_time is not None
    assert before <= info.end_time <= now_ms()
    assert run_repo.get_run(run.run_id).info == info


@pytest.mark.parametrize("status", ["FAILED", "KILLED"])
def test_update_run_terminal_with_error(run_repo: RunRepository, run: Run, status: str) -> None:
    info = run_repo.update_run(
        run.run_id, status=status, end_time=run.info.start_time + 5, error="x"
    )
    assert info.status == status
    assert info.end_time == run.info.start_time + 5
    assert info.error == "x"


def test_update_run_non_terminal_and_name(run_repo: RunRepository, run: Run) -> None:
    info = run_repo.update_run(run.run_id, status="SCHEDULED", run_name="renamed")
    assert info.status == "SCHEDULED"
    assert info.end_time is None
    assert info.run_name == "renamed"
    assert run_repo.update_run(run.run_id, status=RunStatus.RUNNING).status == "RUNNING"


def test_update_run_bad_input(
    run_repo: RunRepository, run: Run, table_counts: TableCounts, subtests: pytest.Subtests
) -> None:
    before = table_counts()
    for status in ["BOGUS", "finished", "", 3]:
        with subtests.test(status=status), pytest.raises(InvalidInput, match="status"):
            run_repo.update_run(run.run_id, status=status)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="run name"):
        run_repo.update_run(run.run_id, run_name="n" * 257)
    assert table_counts() == before
    assert run_repo.get_run(run.run_id).info.status == "RUNNING"


def test_delete_and_restore_runs(
    run_repo: RunRepository, experiment: Experiment, table_counts: TableCounts
) -> None:
    a = run_repo.create_run(experiment_id=experiment.experiment_id).run_id
    b = run_repo.create_run(experiment_id=experiment.experiment_id).run_id
    assert run_repo.delete_runs([a, b]) == 2
    assert run_repo.delete_runs([a]) == 0
    assert run_repo.get_run(a).info.lifecycle_stage == "deleted"  # still readable

    before = table_counts()
    with pytest.raises(InvalidState, match="deleted"):
        run_repo.log_batch(a, metrics=[Metric("m", 1.0, 0, 1)], params={"p": 1}, tags={"t": 1})
    with pytest.raises(InvalidState, match="deleted"):
        run_repo.record_artifacts(a, [ArtifactEntry("f", DIGEST_A, 1)])
    with pytest.raises(InvalidState, match="deleted"):
        run_repo.delete_run_tag(a, "t")
    with pytest.raises(NotFound):  # one unknown id: nothing changes for the others
        run_repo.restore_runs([a, UNKNOWN_ID])
    assert table_counts() == before
    assert run_repo.get_run(a).info.lifecycle_stage == "deleted"

    assert run_repo.restore_runs([a]) == 1
    assert run_repo.get_run(a).info.lifecycle_stage == "active"
    assert run_repo.get_run(b).info.lifecycle_stage == "deleted"
    run_repo.log_batch(a, metrics=[Metric("m", 1.0, 0, 1)])
    assert run_repo.get_run(a).data.metrics == {"m": 1.0}


def test_find_stale_runs(run_repo: RunRepository, experiment: Experiment) -> None:
    old = now_ms() - 600_000
    stale = run_repo.create_run(experiment_id=experiment.experiment_id, start_time=old).run_id
    revived = run_repo.create_run(experiment_id=experiment.experiment_id, start_time=old).run_id
    ended = run_repo.create_run(experiment_id=experiment.experiment_id, start_time=old).run_id
    fresh = run_repo.create_run(experiment_id=experiment.experiment_id).run_id
    run_repo.update_run(ended, status="FINISHED")
    run_repo.log_batch(revived, metrics=[Metric("m", 1.0, 0, 1)])
    found = [info.run_id for info in run_repo.find_stale_runs(older_than_ms=60_000)]
    assert found == [stale]
    assert fresh not in found
    assert {i.run_id for i in run_repo.find_stale_runs(older_than_ms=700_000)} == set()

    run_repo.update_run(stale, status="FAILED", error="lost heartbeat")
    assert run_repo.find_stale_runs(older_than_ms=60_000) == []


# ---- search ---------------------------------------------------------------------------------


@pytest.fixture
def search_data(run_repo: RunRepository) -> dict[str, Any]:
    """Two experiments of 13 and 12 runs, metric m = i, param p = i % 3, plus a third one."""
    e1 = run_repo.create_experiment("s1").experiment_id
    e2 = run_repo.create_experiment("s2").experiment_id
    e3 = run_repo.create_experiment("s3").experiment_id
    ids: dict[int, str] = {}
    for i in range(25):
        exp = e1 if i % 2 == 0 else e2
        run_id = run_repo.create_run(experiment_id=exp, run_name=f"r{i:02d}").run_id
        run_repo.log_batch(
            run_id,
            metrics=[Metric("m", float(i), 0, 1)],
            params={"p": i % 3},
            tags={"parity": "even" if i % 2 == 0 else "odd"},
        )
        ids[i] = run_id
    other = run_repo.create_run(experiment_id=e3).run_id
    run_repo.log_batch(other, metrics=[Metric("m", 100.0, 0, 1)])
    return {"e1": e1, "e2": e2, "e3": e3, "ids": ids, "other": other}


def _all_pages(run_repo: RunRepository, page_size: int, **kwargs: Any) -> list[Run]:
    found: list[Run] = []
    token: str | None = None
    pages = 0
    while True:
        page, token = run_repo.search_runs(max_results=page_size, page_token=token, **kwargs)
        assert len(page) <= page_size
        found.extend(page)
        pages += 1
        assert pages < 100, "paging does not end"
        if token is None:
            return found


def test_search_pages_return_every_run_once(
    run_repo: RunRepository, search_data: dict[str, Any]
) -> None:
    ids = search_data["ids"]
    for page_size in (1, 4, 7, 25, 1000):
        found = _all_pages(
            run_repo,
            page_size,
            experiment_ids=[search_data["e1"], search_data["e2"]],
            order_by=["metrics.m DESC"],
        )
        assert [r.run_id for r in found] == [ids[i] for i in range(24, -1, -1)]


def test_search_filter_and_order(run_repo: RunRepository, search_data: dict[str, Any]) -> None:
    ids = search_data["ids"]
    found = _all_pages(
        run_repo,
        3,
        experiment_ids=[search_data["e1"], search_data["e2"]],
        filter_string="metrics.m >= 10 and params.p = '1'",
        order_by=["attributes.run_name ASC"],
    )
    expected = [i for i in range(10, 25) if i % 3 == 1]
    assert [r.run_id for r in found] == [ids[i] for i in expected]
    assert all(r.data.params["p"] == "1" for r in found)


def test_search_by_experiment(run_repo: RunRepository, search_data: dict[str, Any]) -> None:
    ids = search_data["ids"]
    only_e1, token = run_repo.search_runs(experiment_ids=[search_data["e1"]])
    assert token is None
    assert {r.run_id for r in only_e1} == {ids[i] for i in range(0, 25, 2)}
    only_e3, _ = run_repo.search_runs(experiment_ids=[search_data["e3"]])
    assert [r.run_id for r in only_e3] == [search_data["other"]]
    all_three, _ = run_repo.search_runs(
        experiment_ids=[search_data["e1"], search_data["e2"], search_data["e3"]]
    )
    assert len(all_three) == 26
    assert run_repo.search_runs(experiment_ids=[UNKNOWN_ID]) == ([], None)


def test_search_views(run_repo: RunRepository, search_data: dict[str, Any]) -> None:
    ids = search_data["ids"]
    exps = [search_data["e1"], search_data["e2"]]
    gone = {ids[0], ids[5], ids[24]}
    run_repo.delete_runs(sorted(gone))

    active = _all_pages(run_repo, 4, experiment_ids=exps)
    deleted = _all_pages(run_repo, 2, experiment_ids=exps, view="deleted")
    everything = _all_pages(run_repo, 5, experiment_ids=exps, view="all")
    assert {r.run_id for r in active} == set(ids.values()) - gone
    assert {r.run_id for r in deleted} == gone
    assert len(everything) == 25
    assert {r.run_id for r in everything} == set(ids.values())
    with pytest.raises(InvalidInput, match="view"):
        run_repo.search_runs(experiment_ids=exps, view="trash")


def test_search_bad_input(
    run_repo: RunRepository, search_data: dict[str, Any], subtests: pytest.Subtests
) -> None:
    for kwargs in [
        {"max_results": 0},
        {"max_results": -1},
        {"page_token": "not-a-token"},
        {"filter_string": "metrics.m >"},
        {"order_by": ["metrics.m SIDEWAYS"]},
    ]:
        with subtests.test(**kwargs), pytest.raises(InvalidInput):
            run_repo.search_runs(experiment_ids=[search_data["e1"]], **kwargs)


# ---- artifact records -----------------------------------------------------------------------


def test_record_and_list_artifacts(run_repo: RunRepository, run: Run) -> None:
    entries = [
        ArtifactEntry("model/weights.bin", DIGEST_A, 10),
        ArtifactEntry("model/sub/conf.json", DIGEST_B, 2),
        ArtifactEntry("modelx/other.txt", DIGEST_A, 10),
        ArtifactEntry("readme.md", DIGEST_B, 2),
    ]
    run_repo.record_artifacts(run.run_id, entries)
    everything = run_repo.list_artifacts(run.run_id)
    assert [e.path for e in everything] == sorted(e.path for e in entries)
    assert set(everything) == set(entries)

    under_model = ["model/sub/conf.json", "model/weights.bin"]
    assert [e.path for e in run_repo.list_artifacts(run.run_id, "model")] == under_model
    assert [e.path for e in run_repo.list_artifacts(run.run_id, "model/")] == under_model
    assert [e.path for e in run_repo.list_artifacts(run.run_id, "/model/")] == under_model
    assert [e.path for e in run_repo.list_artifacts(run.run_id, "model/sub")] == [
        "model/sub/conf.json"
    ]
    assert run_repo.list_artifacts(run.run_id, "model/weights.bin") == [entries[0]]
    assert run_repo.list_artifacts(run.run_id, "mod") == []  # a prefix is a folder, not a string
    assert run_repo.list_artifacts(run.run_id, "model/weights") == []
    assert run_repo.list_artifacts(run.run_id, "missing") == []


def test_relogging_an_artifact_path_replaces_it(run_repo: RunRepository, run: Run) -> None:
    run_repo.record_artifacts(run.run_id, [ArtifactEntry("f.txt", DIGEST_A, 1)])
    run_repo.record_artifacts(
        run.run_id, [ArtifactEntry("f.txt", DIGEST_B, 2), ArtifactEntry("g.txt", DIGEST_A, 1)]
    )
    assert run_repo.list_artifacts(run.run_id) == [
        ArtifactEntry("f.txt", DIGEST_B, 2),
        ArtifactEntry("g.txt", DIGEST_A, 1),
    ]
    # The same path twice in one call: the last one wins.
    run_repo.record_artifacts(
        run.run_id, [ArtifactEntry("h.txt", DIGEST_A, 1), ArtifactEntry("h.txt", DIGEST_B, 3)]
    )
    assert run_repo.list_artifacts(run.run_id, "h.txt") == [ArtifactEntry("h.txt", DIGEST_B, 3)]


def test_artifacts_are_per_run(run_repo: RunRepository, experiment: Experiment, run: Run) -> None:
    other = run_repo.create_run(experiment_id=experiment.experiment_id).run_id
    run_repo.record_artifacts(run.run_id, [ArtifactEntry("f", DIGEST_A, 1)])
    assert run_repo.list_artifacts(other) == []


BAD_ENTRIES = [
    ArtifactEntry("../escape", DIGEST_A, 1),
    ArtifactEntry("a/../../b", DIGEST_A, 1),
    ArtifactEntry("/etc/passwd", DIGEST_A, 1),
    ArtifactEntry("C:\\x", DIGEST_A, 1),
    ArtifactEntry("a\x00b", DIGEST_A, 1),
    ArtifactEntry("", DIGEST_A, 1),
    ArtifactEntry("a//b", DIGEST_A, 1),  # not normalized
    ArtifactEntry("ok", "A" * 64, 1),
    ArtifactEntry("ok", "a" * 65, 1),
    ArtifactEntry("ok", "xyz", 1),
    ArtifactEntry("ok", DIGEST_A, -1),
]


def test_bad_artifact_records_write_nothing(
    run_repo: RunRepository, run: Run, table_counts: TableCounts, subtests: pytest.Subtests
) -> None:
    before = table_counts()
    for entry in BAD_ENTRIES:
        with subtests.test(entry=entry), pytest.raises(InvalidInput):
            run_repo.record_artifacts(run.run_id, [ArtifactEntry("good.txt", DIGEST_A, 1), entry])
    assert table_counts() == before
    assert run_repo.list_artifacts(run.run_id) == []
