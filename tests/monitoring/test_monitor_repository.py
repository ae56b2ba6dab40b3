"""Reference profiles, monitors, evaluations and alert state in the metadata store.

Every test runs on SQLite and PostgreSQL, directly and through a team server's REST API
(see tests/conftest.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from cycleml.errors import AlreadyExists, CycleMLError, InvalidInput, InvalidState, NotFound
from cycleml.monitoring import MonitorRepository
from cycleml.monitoring._sql_alerts import AlertEventRecord, NewAlertEvent
from cycleml.monitoring._sql_evaluations import MonitorPoint
from cycleml.monitoring._sql_monitors import Monitor
from cycleml.registry import ModelRepository
from cycleml.serving import DeploymentRepository
from cycleml.store import Database, now_ms

TableCounts = Callable[[], dict[str, int]]
DIGEST = "a" * 64
OTHER_DIGEST = "b" * 64
PART = "c" * 32

pytestmark = pytest.mark.repository_suite


@dataclass(frozen=True)
class State:
    """Stands in for cycleml.monitoring.AlertState (the store takes any such object)."""

    consecutive: int = 0
    firing: bool = False
    last_value: float | None = None
    last_fired_at: int | None = None


@pytest.fixture
def models(
    db: Database, model_repo: ModelRepository, deployment_repo: DeploymentRepository
) -> None:
    """``churn`` versions 1-3 (``@champion`` -> 2) and deployment ``churn-prod`` on v1."""
    model_repo.create_registered_model("churn")
    for i in range(3):
        model_repo.create_model_version("churn", source=f"s3://bucket/churn/{i + 1}")
    model_repo.set_alias("churn", 2, "champion")
    deployment_repo.create_deployment("churn-prod", "models:/churn/1")


@pytest.fixture
def monitor(models: None, monitor_repo: MonitorRepository) -> Monitor:
    ref = monitor_repo.create_monitor_reference(
        DIGEST, rows=1000, model_name="churn", model_version=1, name="train"
    )
    return monitor_repo.create_monitor(
        "drift", "churn-prod", reference=ref.id, config={"window": {"rows": 500}}
    )


def _edges(db: Database, kind: str, entity: str) -> set[tuple[str, str, str, str]]:
    return {
        (e.src_kind, e.src_id, e.relation, e.dst_id)
        for e in db.lineage_edges(kind, entity)
        if (e.dst_kind, e.dst_id) == (kind, entity)
    }


# ---- reference profiles -------------------------------------------------------------------


def test_create_reference(models: None, db: Database, monitor_repo: MonitorRepository) -> None:
    before = now_ms()
    ref = monitor_repo.create_monitor_reference(
        DIGEST,
        rows=1000,
        model_name="churn",
        model_version=2,
        name="train",
        sources=[("dataset_version", "churn-data/3")],
    )
    assert len(ref.id) == 32
    assert (ref.name, ref.model_name, ref.model_version, ref.rows) == ("train", "churn", 2, 1000)
    assert (ref.digest, ref.created_by) == (DIGEST, "tester")
    assert before <= ref.creation_time <= now_ms()
    assert ref.model_version_uri == "models:/churn/2"
    assert monitor_repo.get_monitor_reference(ref.id) == ref
    assert monitor_repo.get_monitor_reference("train") == ref
    assert ref.to_dict()["digest"] == DIGEST

    assert _edges(db, "monitor_reference", ref.id) == {
        ("model_version", "churn/2", "profiled_as", ref.id),
        ("dataset_version", "churn-data/3", "profiled_as", ref.id),
    }
    graph = db.walk_lineage("model_version", "churn/2", direction="downstream")
    assert ("monitor_reference", ref.id) in graph.depth
    [audit] = db.list_audit(entity_kind="monitor_reference", entity_id=ref.id)
    assert audit.action == "monitor_reference.create"
    assert audit.payload["digest"] == DIGEST


def test_reference_without_model_and_listing(
    models: None, db: Database, monitor_repo: MonitorRepository
) -> None:
    loose = monitor_repo.create_monitor_reference(OTHER_DIGEST, rows=0, actor="alice")
    assert loose.name is None
    assert loose.model_name is None
    assert loose.model_version is None
    assert loose.model_version_uri is None
    assert loose.created_by == "alice"
    assert db.lineage_edges("monitor_reference", loose.id) == []
    v1 = monitor_repo.create_monitor_reference(DIGEST, rows=5, model_name="churn", model_version=1)
    v3 = monitor_repo.create_monitor_reference(DIGEST, rows=5, model_name="churn", model_version=3)
    # oldest first (ties within a millisecond in id order)
    assert {r.id for r in monitor_repo.list_monitor_references()} == {loose.id, v1.id, v3.id}
    assert {r.id for r in monitor_repo.list_monitor_references("churn")} == {v1.id, v3.id}
    assert [r.id for r in monitor_repo.list_monitor_references("churn", model_version=3)] == [v3.id]
    given = "e" * 32
    assert monitor_repo.create_monitor_reference(DIGEST, rows=1, reference_id=given).id == given


BAD_REFERENCES: list[tuple[dict[str, Any], type[CycleMLError], str]] = [
    ({"digest": "xyz"}, InvalidInput, "digest"),
    ({"digest": DIGEST.upper()}, InvalidInput, "digest"),
    ({"rows": -1}, InvalidInput, "row count"),
    ({"rows": True}, InvalidInput, "row count"),
    ({"rows": 1.5}, InvalidInput, "row count"),
    ({"model_version": 1}, InvalidInput, "without a model name"),
    ({"model_name": "churn", "model_version": 0}, InvalidInput, "model version"),
    ({"model_name": "churn", "model_version": 9}, NotFound, "models:/churn/9"),
    ({"model_name": "nope", "model_version": 1}, NotFound, "models:/nope/1"),
    ({"model_name": "bad name"}, InvalidInput, "model name"),
    ({"name": "has space"}, InvalidInput, "reference name"),
    ({"name": "f" * 32}, InvalidInput, "looks like a reference id"),
    ({"name": "taken"}, AlreadyExists, "taken"),
    ({"reference_id": "not-an-id"}, InvalidInput, "reference id"),
    ({"sources": [("Dataset Version", "x/1")]}, InvalidInput, "source kind"),
    ({"sources": [("dataset_version", "")]}, InvalidInput, "dataset_version id"),
    ({"sources": [("dataset_version",)]}, InvalidInput, "kind, id"),
]


def test_bad_references_write_nothing(
    models: None,
    monitor_repo: MonitorRepository,
    table_counts: TableCounts,
    subtests: pytest.Subtests,
) -> None:
    monitor_repo.create_monitor_reference(DIGEST, rows=1, name="taken")
    before = table_counts()
    for kwargs in BAD_REFERENCES:
        args = {"digest": DIGEST, "rows": 10, **kwargs[0]}
        with subtests.test(**{k: str(v) for k, v in kwargs[0].items()}):
            with pytest.raises(kwargs[1], match=kwargs[2]) as info:
                monitor_repo.create_monitor_reference(args.pop("digest"), **args)
            assert info.value.hint
    assert table_counts() == before
    with pytest.raises(NotFound, match="No monitor reference 'nope'"):
        monitor_repo.get_monitor_reference("nope")
    with pytest.raises(InvalidInput, match="expected an id or a name"):
        monitor_repo.get_monitor_reference("")


# ---- monitors -------------------------------------------------------------------------------


def test_create_monitor_of_a_deployment(
    models: None, db: Database, monitor_repo: MonitorRepository
) -> None:
    ref = monitor_repo.create_monitor_reference(
        DIGEST, rows=10, model_name="churn", model_version=1
    )
    config = {"checks": ["drift"], "rules": [{"metric": "drift_share", "threshold": 0.3}]}
    created = monitor_repo.create_monitor("drift", "churn-prod", reference=ref.id, config=config)
    assert created == Monitor(
        name="drift",
        target_kind="deployment",
        target="churn-prod",
        model_name="churn",
        model_version=None,
        reference_id=ref.id,
        config=config,
        watermark=None,
        created_by="tester",
        creation_time=created.creation_time,
        last_updated_time=created.creation_time,
    )
    assert monitor_repo.get_monitor("drift") == created
    assert _edges(db, "monitor", "drift") == {
        ("monitor_reference", ref.id, "reference_of", "drift"),
        ("deployment", "churn-prod", "monitored_by", "drift"),
    }
    # deployment -> monitor and model_version -> reference -> monitor are both walkable
    graph = db.walk_lineage("model_version", "churn/1", direction="downstream")
    assert ("monitor", "drift") in graph.depth
    [audit] = db.list_audit(entity_kind="monitor", entity_id="drift")
    assert (audit.action, audit.payload["config"]) == ("monitor.create", config)


def test_create_monitor_of_a_model_version(
    models: None, monitor_repo: MonitorRepository, db: Database
) -> None:
    created = monitor_repo.create_monitor(
        "perf", "models:/churn@champion", config={"x": float("nan")}, actor="bob"
    )
    assert (created.target_kind, created.target) == ("model_version", "models:/churn/2")
    assert (created.model_name, created.model_version, created.reference_id) == ("churn", 2, None)
    assert created.config == {"x": "NaN"}  # JSON cannot hold NaN
    assert created.created_by == "bob"
    assert _edges(db, "monitor", "perf") == {("model_version", "churn/2", "monitored_by", "perf")}
    assert monitor_repo.get_monitor("perf") == created


def test_list_monitors(models: None, monitor_repo: MonitorRepository) -> None:
    monitor_repo.create_monitor("b", "churn-prod")
    monitor_repo.create_monitor("a", "models:/churn/3")
    assert [m.name for m in monitor_repo.list_monitors()] == ["a", "b"]
    assert [m.name for m in monitor_repo.list_monitors(target="churn-prod")] == ["b"]
    assert [m.name for m in monitor_repo.list_monitors(model_name="churn")] == ["a", "b"]
    assert monitor_repo.list_monitors(model_name="other") == []


BAD_MONITORS: list[tuple[str, dict[str, Any], type[CycleMLError], str]] = [
    ("has space", {}, InvalidInput, "monitor name"),
    ("x" * 201, {}, InvalidInput, "monitor name"),
    ("m", {"target": ""}, InvalidInput, "monitor target"),
    ("m", {"target": 3}, InvalidInput, "monitor target"),
    ("m", {"target": "no such"}, InvalidInput, "deployment name"),
    ("m", {"target": "nope"}, NotFound, "deployment 'nope'"),
    ("m", {"target": "models:/churn/9"}, NotFound, "models:/churn/9"),
    ("m", {"target": "models:/churn@nobody"}, NotFound, "nobody"),
    ("m", {"reference": "nope"}, NotFound, "No monitor reference"),
    ("m", {"reference": "d" * 32}, NotFound, "No monitor reference"),
    ("m", {"config": [1, 2]}, InvalidInput, "monitor config"),
    ("m", {"config": {"f": object()}}, InvalidInput, "JSON"),
    ("taken", {}, AlreadyExists, "taken"),
]


def test_bad_monitors_write_nothing(
    models: None,
    monitor_repo: MonitorRepository,
    table_counts: TableCounts,
    subtests: pytest.Subtests,
) -> None:
    monitor_repo.create_monitor("taken", "churn-prod")
    before = table_counts()
    for name, kwargs, error, match in BAD_MONITORS:
        args = {"target": "churn-prod", **kwargs}
        with subtests.test(name=name, **{k: str(v) for k, v in kwargs.items()}):
            with pytest.raises(error, match=match) as info:
                monitor_repo.create_monitor(name, args.pop("target"), **args)
            assert info.value.hint
    assert table_counts() == before


def test_concurrent_creates_make_one(
    models: None, db: Database, monitor_repo: MonitorRepository, race: Callable[..., int]
) -> None:
    assert race(lambda: monitor_repo.create_monitor("race", "churn-prod"), AlreadyExists) == 3
    assert len(db.list_audit(entity_kind="monitor", entity_id="race")) == 1


def test_update_monitor(
    models: None,
    db: Database,
    monitor_repo: MonitorRepository,
    monitor: Monitor,
    table_counts: TableCounts,
) -> None:
    before = table_counts()
    assert monitor_repo.update_monitor("drift") == monitor  # nothing passed, nothing written
    assert monitor_repo.update_monitor("drift", config=monitor.config) == monitor
    assert table_counts() == before

    updated = monitor_repo.update_monitor(
        "drift", config={"window": {"rows": 100}}, reason="smaller"
    )
    assert updated.config == {"window": {"rows": 100}}
    assert updated.reference_id == monitor.reference_id
    assert updated.last_updated_time >= monitor.last_updated_time
    assert monitor_repo.get_monitor("drift") == updated
    audit = db.list_audit(entity_kind="monitor", entity_id="drift", action="monitor.update")
    assert audit[0].payload["previous_config"] == {"window": {"rows": 500}}
    assert audit[0].payload["reason"] == "smaller"

    new_ref = monitor_repo.create_monitor_reference(OTHER_DIGEST, rows=3, name="fresh")
    assert monitor_repo.update_monitor("drift", reference="fresh").reference_id == new_ref.id
    assert ("monitor_reference", new_ref.id, "reference_of", "drift") in _edges(
        db, "monitor", "drift"
    )
    assert monitor_repo.update_monitor("drift", reference=None).reference_id is None

    before = table_counts()
    with pytest.raises(NotFound, match="No monitor reference"):
        monitor_repo.update_monitor("drift", reference="nope", config={"a": 1})
    with pytest.raises(InvalidInput, match="monitor config"):
        monitor_repo.update_monitor("drift", config="x")  # type: ignore[arg-type]
    assert table_counts() == before


def test_watermark_by_hand(
    models: None, db: Database, monitor_repo: MonitorRepository, monitor: Monitor
) -> None:
    assert monitor_repo.set_monitor_watermark("drift", 1000).watermark == 1000
    assert monitor_repo.set_monitor_watermark("drift", 10, reason="backfill").watermark == 10
    assert monitor_repo.get_monitor("drift").watermark == 10
    assert monitor_repo.set_monitor_watermark("drift", None).watermark is None
    actions = [a.action for a in db.list_audit(entity_id="drift")]
    assert actions.count("monitor.set_watermark") == 3
    with pytest.raises(InvalidInput, match="watermark"):
        monitor_repo.set_monitor_watermark("drift", -1)


def test_delete_monitor(
    models: None, db: Database, monitor_repo: MonitorRepository, monitor: Monitor
) -> None:
    evaluation = monitor_repo.record_monitor_evaluation(
        "drift", window_start=0, window_end=10, rows=5, status="ok", values={"m": 1.0}
    )
    monitor_repo.apply_alert_transition(
        "drift",
        "r",
        State(1, True, 1.0, 5),
        NewAlertEvent("fired", "m", 1.0, 0.5, 5, notifiers=("log",)),
    )
    monitor_repo.create_monitor("other", "churn-prod")
    monitor_repo.record_monitor_evaluation(
        "other", window_start=0, window_end=10, rows=5, status="ok", values={"m": 2.0}
    )
    monitor_repo.delete_monitor("drift", reason="obsolete")

    with pytest.raises(NotFound, match="No monitor named 'drift'"):
        monitor_repo.get_monitor("drift")
    with pytest.raises(NotFound):
        monitor_repo.get_monitor_evaluation(evaluation.id)
    assert monitor_repo.list_alert_events() == []
    assert [p.value for p in monitor_repo.monitor_history("other")] == [2.0]  # the other one stays
    audit = db.list_audit(entity_kind="monitor", entity_id="drift")
    assert audit[-1].action == "monitor.delete"
    assert audit[-1].payload["deleted"] == {
        "values": 1,
        "evaluations": 1,
        "alert_states": 1,
        "alert_events": 1,
    }
    # the name is free again, with an empty history
    monitor_repo.create_monitor("drift", "churn-prod")
    assert monitor_repo.monitor_history("drift") == []


def test_unknown_monitor(
    models: None, monitor_repo: MonitorRepository, table_counts: TableCounts
) -> None:
    before = table_counts()
    calls: list[Callable[[], object]] = [
        lambda: monitor_repo.get_monitor("nope"),
        lambda: monitor_repo.update_monitor("nope", config={}),
        lambda: monitor_repo.set_monitor_watermark("nope", 5),
        lambda: monitor_repo.delete_monitor("nope"),
        lambda: monitor_repo.record_monitor_evaluation(
            "nope", window_start=0, window_end=1, rows=0, status="ok", values={}
        ),
        lambda: monitor_repo.list_monitor_evaluations("nope"),
        lambda: monitor_repo.monitor_history("nope"),
        lambda: monitor_repo.count_monitor_evaluations("nope"),
        lambda: monitor_repo.get_alert_states("nope"),
        lambda: monitor_repo.apply_alert_transition("nope", "r", State()),
        lambda: monitor_repo.list_alert_events("nope"),
        lambda: monitor_repo.record_retrain_trigger("nope", hook="x", ok=True, duration_s=0.1),
    ]
    for call in calls:
        with pytest.raises(NotFound, match="No monitor named 'nope'") as info:
            call()
        assert info.value.hint
    assert table_counts() == before


# ---- evaluations and the time series ------------------------------------------------------


def test_record_evaluation(
    models: None, db: Database, monitor_repo: MonitorRepository, monitor: Monitor
) -> None:
    values = {
        "drift_share": 0.25,
        "drift.age.statistic": 0.4,
        "accuracy": float("nan"),
        "max": float("inf"),
        "missing": None,
    }
    sources = [("prediction_log", PART), ("dataset_version", "labels/2"), ("prediction_log", PART)]
    evaluation = monitor_repo.record_monitor_evaluation(
        "drift",
        window_start=1_000,
        window_end=2_000,
        rows=500,
        status="alert",
        values=values,
        summary={"drifted": ["age"], "p": float("nan")},
        sources=sources,
        watermark=2_000,
    )
    assert len(evaluation.id) == 32
    assert (evaluation.window_start, evaluation.window_end, evaluation.rows) == (1000, 2000, 500)
    assert evaluation.summary == {"drifted": ["age"], "p": "NaN"}
    stored = monitor_repo.get_monitor_evaluation(evaluation.id)
    assert stored.values is not None
    assert stored.values["drift_share"] == 0.25
    assert stored.values["max"] == math.inf
    assert math.isnan(stored.values["accuracy"])
    assert math.isnan(stored.values["missing"])
    assert stored.summary == evaluation.summary
    assert stored.status == "alert"
    assert stored.to_dict()["values"]["accuracy"] == "NaN"
    assert monitor_repo.get_monitor("drift").watermark == 2_000

    assert _edges(db, "monitor_evaluation", evaluation.id) == {
        ("prediction_log", PART, "read_by", evaluation.id),
        ("dataset_version", "labels/2", "read_by", evaluation.id),
        ("monitor", "drift", "evaluated_as", evaluation.id),
    }
    up = db.walk_lineage("monitor_evaluation", evaluation.id, direction="upstream")
    assert {("monitor", "drift"), ("deployment", "churn-prod"), ("prediction_log", PART)} <= set(
        up.depth
    )
    audit = db.list_audit(entity_id="drift", action="monitor.evaluate")
    assert audit[0].payload["evaluation_id"] == evaluation.id
    assert audit[0].payload["metrics"] == 5
    assert (audit[0].payload["watermark"], audit[0].payload["previous_watermark"]) == (2000, None)


def test_watermark_only_moves_forward(
    models: None, monitor_repo: MonitorRepository, monitor: Monitor, table_counts: TableCounts
) -> None:
    def record(watermark: int | None) -> object:
        return monitor_repo.record_monitor_evaluation(
            "drift",
            window_start=0,
            window_end=100,
            rows=1,
            status="ok",
            values={"m": 1.0},
            watermark=watermark,
        )

    record(100)
    before = table_counts()
    for stale in (100, 50):
        with pytest.raises(InvalidState, match="already been evaluated up to 100") as info:
            record(stale)
        # through the server the details also name the request id
        assert info.value.details.items() >= {"watermark": 100, "requested": stale}.items()
    assert table_counts() == before
    record(None)  # an evaluation that does not move it is fine
    record(101)
    assert monitor_repo.get_monitor("drift").watermark == 101


def test_racing_evaluators_record_a_window_once(
    models: None, monitor_repo: MonitorRepository, monitor: Monitor, race: Callable[..., int]
) -> None:
    def evaluate() -> None:
        monitor_repo.record_monitor_evaluation(
            "drift",
            window_start=0,
            window_end=100,
            rows=1,
            status="ok",
            values={"m": 1.0},
            watermark=100,
        )

    assert race(evaluate, InvalidState) == 3
    assert monitor_repo.count_monitor_evaluations("drift") == 1


BAD_EVALUATIONS: list[tuple[dict[str, Any], type[CycleMLError], str]] = [
    ({"window_start": -1}, InvalidInput, "window start"),
    ({"window_end": "2000"}, InvalidInput, "window end"),
    ({"window_start": 3000}, InvalidInput, "ends before it starts"),
    ({"rows": -5}, InvalidInput, "row count"),
    ({"status": "fine"}, InvalidInput, "evaluation status"),
    ({"values": [("m", 1.0)]}, InvalidInput, "metric values"),
    ({"values": {"m": "high"}}, InvalidInput, "metric 'm'"),
    ({"values": {"m": True}}, InvalidInput, "metric 'm'"),
    ({"values": {"": 1.0}}, InvalidInput, "metric name"),
    ({"values": {"x" * 251: 1.0}}, InvalidInput, "metric name"),
    ({"summary": {"f": {1, 2}}}, InvalidInput, "JSON"),
    ({"summary": "text"}, InvalidInput, "evaluation summary"),
    ({"sources": [("prediction_log", "x" * 257)]}, InvalidInput, "prediction_log id"),
    ({"sources": ["prediction_log"]}, InvalidInput, "kind, id"),
    ({"watermark": -1}, InvalidInput, "watermark"),
    ({"evaluation_id": "abc"}, InvalidInput, "evaluation id"),
]


def test_bad_evaluations_write_nothing(
    models: None,
    monitor_repo: MonitorRepository,
    monitor: Monitor,
    table_counts: TableCounts,
    subtests: pytest.Subtests,
) -> None:
    before = table_counts()
    for kwargs, error, match in BAD_EVALUATIONS:
        args: dict[str, Any] = {
            "window_start": 1000,
            "window_end": 2000,
            "rows": 10,
            "status": "ok",
            "values": {"m": 1.0},
            **kwargs,
        }
        with subtests.test(**{k: str(v)[:40] for k, v in kwargs.items()}):
            with pytest.raises(error, match=match) as info:
                monitor_repo.record_monitor_evaluation("drift", **args)
            assert info.value.hint
    assert table_counts() == before


def test_a_failure_mid_write_rolls_everything_back(
    models: None,
    monitor_repo: MonitorRepository,
    monitor: Monitor,
    table_counts: TableCounts,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
) -> None:
    """The evaluation row and its values are written before the lineage edges: a failure
    there must take them back too (through the server: every retry of the request, whose
    request id rolls back with it, and the client gets the server's 500)."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("cycleml.monitoring._sql_evaluations.record_edges", broken)
    before = table_counts()
    failure = (CycleMLError, "failed to answer") if transport == "rest" else (RuntimeError, "disk")
    with pytest.raises(failure[0], match=failure[1]):
        monitor_repo.record_monitor_evaluation(
            "drift",
            window_start=0,
            window_end=10,
            rows=1,
            status="ok",
            values={f"m{i}": float(i) for i in range(50)},
            watermark=10,
        )
    assert table_counts() == before
    assert monitor_repo.get_monitor("drift").watermark is None


def test_duplicate_evaluation_id(
    models: None, monitor_repo: MonitorRepository, monitor: Monitor
) -> None:
    given = "9" * 32
    kwargs: dict[str, Any] = {
        "window_start": 0,
        "window_end": 1,
        "rows": 0,
        "status": "error",
        "values": {},
        "evaluation_id": given,
    }
    assert monitor_repo.record_monitor_evaluation("drift", **kwargs).id == given
    with pytest.raises(AlreadyExists, match=given):
        monitor_repo.record_monitor_evaluation("drift", **kwargs)
    assert monitor_repo.get_monitor_evaluation(given).values == {}
    with pytest.raises(NotFound, match="No monitor evaluation"):
        monitor_repo.get_monitor_evaluation("8" * 32)


def _series(monitor_repo: MonitorRepository, windows: int = 5) -> list[str]:
    ids = []
    for i in range(windows):
        end = (i + 1) * 1000
        evaluation = monitor_repo.record_monitor_evaluation(
            "drift",
            window_start=end - 1000,
            window_end=end,
            rows=100,
            status="ok",
            values={"drift_share": i / 10, "accuracy": 0.9 - i / 100, "rows_missing": float(i)},
            watermark=end,
        )
        ids.append(evaluation.id)
    return ids


def test_monitor_history(models: None, monitor_repo: MonitorRepository, monitor: Monitor) -> None:
    ids = _series(monitor_repo)
    everything = monitor_repo.monitor_history("drift")
    assert len(everything) == 15
    assert everything[0] == MonitorPoint(1000, "accuracy", 0.9, ids[0])
    assert [p.window_end for p in everything] == sorted(p.window_end for p in everything)

    drift = monitor_repo.monitor_history("drift", "drift_share")
    assert [(p.window_end, p.value) for p in drift] == [
        (1000, 0.0),
        (2000, 0.1),
        (3000, 0.2),
        (4000, 0.3),
        (5000, 0.4),
    ]
    assert [p.evaluation_id for p in drift] == ids
    two = monitor_repo.monitor_history("drift", ["drift_share", "accuracy"], since=2000, until=4000)
    assert [(p.window_end, p.metric) for p in two] == [
        (2000, "accuracy"),
        (2000, "drift_share"),
        (3000, "accuracy"),
        (3000, "drift_share"),
    ]
    newest = monitor_repo.monitor_history("drift", "drift_share", limit=2)
    assert [p.window_end for p in newest] == [4000, 5000]
    assert monitor_repo.monitor_history("drift", []) == []
    assert monitor_repo.monitor_history("drift", "unknown") == []
    with pytest.raises(InvalidInput, match="limit"):
        monitor_repo.monitor_history("drift", limit=0)


def test_list_evaluations(models: None, monitor_repo: MonitorRepository, monitor: Monitor) -> None:
    ids = _series(monitor_repo)
    listed = monitor_repo.list_monitor_evaluations("drift")
    assert [e.id for e in listed] == ids
    assert all(e.values is None for e in listed)
    assert [e.id for e in monitor_repo.list_monitor_evaluations("drift", limit=2)] == ids[-2:]
    window = monitor_repo.list_monitor_evaluations(
        "drift", since=2000, until=4000, with_values=True
    )
    assert [e.id for e in window] == ids[1:3]
    assert window[0].values == {"accuracy": 0.89, "drift_share": 0.1, "rows_missing": 1.0}
    assert monitor_repo.count_monitor_evaluations("drift") == 5


def test_bulk_values_and_a_long_history(
    models: None, monitor_repo: MonitorRepository, monitor: Monitor
) -> None:
    values = {f"drift.col{i}.statistic": i / 3000 for i in range(3000)}
    evaluation = monitor_repo.record_monitor_evaluation(
        "drift", window_start=0, window_end=1, rows=1, status="ok", values=values
    )
    assert monitor_repo.get_monitor_evaluation(evaluation.id).values == values
    for end in range(2, 202):
        monitor_repo.record_monitor_evaluation(
            "drift",
            window_start=end - 1,
            window_end=end,
            rows=1,
            status="ok",
            values={"drift_share": end / 1000},
        )
    history = monitor_repo.monitor_history("drift", "drift_share")
    assert len(history) == 200
    assert history[-1] == MonitorPoint(201, "drift_share", 0.201, history[-1].evaluation_id)
    listed = monitor_repo.list_monitor_evaluations("drift", with_values=True)
    assert len(listed) == 201
    assert listed[0].values == values


# ---- alert state, events and deliveries ---------------------------------------------------


def _fire(
    monitor_repo: MonitorRepository, rule: str = "drift-high", **kwargs: Any
) -> AlertEventRecord:
    event = NewAlertEvent(
        kind="fired",
        metric="drift_share",
        value=0.5,
        threshold=0.3,
        time=now_ms(),
        severity="critical",
        notifiers=("log", "hook"),
        details={"operator": ">"},
        **kwargs,
    )
    _, record = monitor_repo.apply_alert_transition(
        "drift", rule, State(2, True, 0.5, event.time), event, window_end=2000
    )
    assert record is not None
    return record


def test_alert_state_without_event(
    models: None, monitor_repo: MonitorRepository, monitor: Monitor, table_counts: TableCounts
) -> None:
    assert monitor_repo.get_alert_states("drift") == {}
    before = table_counts()
    state, event = monitor_repo.apply_alert_transition(
        "drift", "drift-high", State(1, False, 0.4), window_end=1000, expected_version=0
    )
    assert event is None
    assert (state.consecutive, state.firing, state.last_value, state.last_fired_at) == (
        1,
        False,
        0.4,
        None,
    )
    assert (state.window_end, state.version) == (1000, 1)
    assert monitor_repo.get_alert_states("drift") == {"drift-high": state}
    after = table_counts()
    assert after["alert_states"] == before["alert_states"] + 1
    assert after["audit_log"] == before["audit_log"]  # counters follow from the evaluations

    again, _ = monitor_repo.apply_alert_transition(
        "drift", "drift-high", State(0, False, 0.1), expected_version=1
    )
    assert (again.version, again.window_end, again.consecutive) == (2, 1000, 0)
    assert again.to_dict()["rule_name"] == "drift-high"


def test_alert_transition_with_event(
    models: None, db: Database, monitor_repo: MonitorRepository, monitor: Monitor
) -> None:
    event = _fire(monitor_repo)
    assert (event.kind, event.rule_name, event.metric, event.severity) == (
        "fired",
        "drift-high",
        "drift_share",
        "critical",
    )
    assert (event.value, event.threshold, event.details) == (0.5, 0.3, {"operator": ">"})
    assert event.pending
    assert {k: d.status for k, d in event.deliveries.items()} == {
        "log": "pending",
        "hook": "pending",
    }
    assert monitor_repo.get_alert_event(event.id) == event
    assert monitor_repo.list_alert_events("drift") == [event]
    assert monitor_repo.list_alert_events(pending=True) == [event]
    assert monitor_repo.list_alert_events(pending=False) == []
    assert monitor_repo.get_alert_states("drift")["drift-high"].firing
    [audit] = db.list_audit(entity_id="drift", action="alert.fired")
    assert audit.payload["event_id"] == event.id
    assert audit.payload["notifiers"] == ["hook", "log"]
    assert event.to_dict()["deliveries"]["log"]["status"] == "pending"


def test_stale_expected_version_writes_nothing(
    models: None, monitor_repo: MonitorRepository, monitor: Monitor, table_counts: TableCounts
) -> None:
    monitor_repo.apply_alert_transition("drift", "r", State(1), expected_version=0)
    before = table_counts()
    with pytest.raises(InvalidState, match="changed meanwhile") as info:
        monitor_repo.apply_alert_transition(
            "drift",
            "r",
            State(1, True, 0.9, 1),
            NewAlertEvent("fired", "m", 0.9, 0.5, 1, notifiers=("log",)),
            expected_version=0,
        )
    assert info.value.details.items() >= {"version": 1, "expected": 0}.items()
    assert table_counts() == before


def test_racing_transitions_apply_once(
    models: None, monitor_repo: MonitorRepository, monitor: Monitor, race: Callable[..., int]
) -> None:
    def fire() -> None:
        monitor_repo.apply_alert_transition(
            "drift",
            "r",
            State(1, True, 0.9, 1),
            NewAlertEvent("fired", "m", 0.9, 0.5, 1, notifiers=("log",)),
            expected_version=0,
        )

    assert race(fire, InvalidState) == 3
    assert len(monitor_repo.list_alert_events("drift")) == 1


BAD_TRANSITIONS: list[tuple[dict[str, Any], str]] = [
    ({"rule_name": ""}, "rule name"),
    ({"state": State(-1)}, "consecutive"),
    ({"state": State(1, "yes")}, "firing"),  # type: ignore[arg-type]
    ({"state": State(1, True, "high")}, "last value"),  # type: ignore[arg-type]
    ({"state": State(1, True, 0.5, -3)}, "last_fired_at"),
    ({"window_end": -1}, "window end"),
    ({"expected_version": -1}, "expected version"),
    ({"event": "fired"}, "NewAlertEvent"),
    ({"event": NewAlertEvent("opened", "m", 1.0, 0.5, 1)}, "event kind"),  # type: ignore[arg-type]
    ({"event": NewAlertEvent("fired", "m", 1.0, math.nan, 1)}, "threshold"),
    ({"event": NewAlertEvent("fired", "", 1.0, 0.5, 1)}, "metric name"),
    ({"event": NewAlertEvent("fired", "m", 1.0, 0.5, -1)}, "event time"),
    ({"event": NewAlertEvent("fired", "m", 1.0, 0.5, 1, severity="")}, "severity"),
    ({"event": NewAlertEvent("fired", "m", 1.0, 0.5, 1, notifiers=("a", "a"))}, "repeat"),
    ({"event": NewAlertEvent("fired", "m", 1.0, 0.5, 1, notifiers=("",))}, "notifier name"),
    ({"event": NewAlertEvent("fired", "m", 1.0, 0.5, 1, details={"x": {1}})}, "JSON"),
]


def test_bad_transitions_write_nothing(
    models: None,
    monitor_repo: MonitorRepository,
    monitor: Monitor,
    table_counts: TableCounts,
    subtests: pytest.Subtests,
) -> None:
    before = table_counts()
    for kwargs, match in BAD_TRANSITIONS:
        args: dict[str, Any] = {"rule_name": "r", "state": State(1, True, 0.5, 1), **kwargs}
        with subtests.test(**{k: str(v)[:60] for k, v in kwargs.items()}):
            with pytest.raises(InvalidInput, match=match) as info:
                monitor_repo.apply_alert_transition("drift", args.pop("rule_name"), **args)
            assert info.value.hint
    assert table_counts() == before


def test_delivery_claims(
    models: None, db: Database, monitor_repo: MonitorRepository, monitor: Monitor
) -> None:
    event = _fire(monitor_repo)
    claimed = monitor_repo.claim_alert_delivery(event.id, "log")
    assert claimed is not None
    assert (claimed.status, claimed.attempts, claimed.final) == ("sending", 1, False)
    assert claimed.claim is not None
    assert len(claimed.claim) == 32
    assert monitor_repo.claim_alert_delivery(event.id, "log") is None  # someone is sending it
    assert monitor_repo.claim_alert_delivery(event.id, "log", stale_after_ms=60_000) is None

    with pytest.raises(InvalidState, match="claimed by another sender"):
        monitor_repo.finish_alert_delivery(event.id, "log", "delivered", claim="0" * 32)
    done = monitor_repo.finish_alert_delivery(
        event.id, "log", "delivered", claim=claimed.claim, detail={"lines": 1}
    )
    assert done.deliveries["log"].status == "delivered"
    assert done.deliveries["log"].detail == {"lines": 1}
    assert done.deliveries["log"].finished_at is not None
    assert done.pending  # the hook is still pending
    assert monitor_repo.claim_alert_delivery(event.id, "log") is None  # final
    with pytest.raises(InvalidState, match="already delivered"):
        monitor_repo.finish_alert_delivery(event.id, "log", "failed", claim=claimed.claim)

    # a pending delivery can be finished without a claim (e.g. no such notifier configured)
    last = monitor_repo.finish_alert_delivery(event.id, "hook", "failed", detail={"error": "nope"})
    assert not last.pending
    assert monitor_repo.get_alert_event(event.id) == last
    assert monitor_repo.list_alert_events(pending=True) == []
    audit = db.list_audit(entity_id="drift", action="alert.deliver")
    assert [(a.payload["notifier"], a.payload["status"]) for a in audit] == [
        ("log", "delivered"),
        ("hook", "failed"),
    ]


def test_stale_claims_are_taken_over(
    models: None, monitor_repo: MonitorRepository, monitor: Monitor
) -> None:
    event = _fire(monitor_repo)
    first = monitor_repo.claim_alert_delivery(event.id, "hook")
    assert first is not None
    second = monitor_repo.claim_alert_delivery(event.id, "hook", stale_after_ms=0)
    assert second is not None
    assert second.attempts == 2
    assert second.claim != first.claim
    with pytest.raises(InvalidState, match="claimed by another sender"):
        monitor_repo.finish_alert_delivery(event.id, "hook", "delivered", claim=first.claim)
    # an at-most-once sender gives a stale claim up without a token
    gone = monitor_repo.finish_alert_delivery(event.id, "hook", "unknown", detail={"why": "stale"})
    assert gone.deliveries["hook"].status == "unknown"


def test_bad_deliveries(models: None, monitor_repo: MonitorRepository, monitor: Monitor) -> None:
    event = _fire(monitor_repo)
    with pytest.raises(NotFound, match="no delivery to 'email'"):
        monitor_repo.claim_alert_delivery(event.id, "email")
    with pytest.raises(NotFound, match="No alert event"):
        monitor_repo.claim_alert_delivery("1" * 32, "log")
    with pytest.raises(InvalidInput, match="delivery status"):
        monitor_repo.finish_alert_delivery(event.id, "log", "sending")
    with pytest.raises(InvalidInput, match="event id"):
        monitor_repo.get_alert_event("x")


def test_list_alert_events(models: None, monitor_repo: MonitorRepository, monitor: Monitor) -> None:
    first = _fire(monitor_repo, "a")
    second = _fire(monitor_repo, "b")
    assert [e.id for e in monitor_repo.list_alert_events()] == [first.id, second.id]
    assert [e.id for e in monitor_repo.list_alert_events("drift", rule_name="b")] == [second.id]
    assert [e.id for e in monitor_repo.list_alert_events(limit=1)] == [second.id]
    assert monitor_repo.list_alert_events(since=second.time + 1) == []
    assert monitor_repo.list_alert_events(until=first.time) == []


def test_record_retrain_trigger(
    models: None, db: Database, monitor_repo: MonitorRepository, monitor: Monitor
) -> None:
    event = _fire(monitor_repo)
    monitor_repo.record_retrain_trigger(
        "drift",
        hook="python retrain.py",
        ok=False,
        duration_s=1.23456789,
        rule_name="drift-high",
        event_id=event.id,
        exit_code=2,
        detail={"stderr": "boom"},
    )
    [audit] = db.list_audit(entity_id="drift", action="monitor.retrain_trigger")
    assert audit.payload == {
        "hook": "python retrain.py",
        "rule": "drift-high",
        "event_id": event.id,
        "ok": False,
        "exit_code": 2,
        "duration_s": 1.234568,
        "detail": {"stderr": "boom"},
    }
