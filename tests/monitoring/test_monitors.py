"""The monitor service end to end: prediction log -> windows -> stored metrics -> alerts.

Runs on SQLite and PostgreSQL with a real file artifact store, a real webhook receiver on
loopback and a real retraining command.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from cycleml.errors import InvalidInput, NotFound
from cycleml.monitoring import MonitorGauges, Monitors
from cycleml.registry import ModelRepository
from cycleml.serving import DeploymentRepository, PredictionLogger, record_feedback
from cycleml.settings import Settings
from cycleml.store import Database

from .conftest import Receiver

HOUR = 3_600_000
T0 = 1_764_000_000_000 - 1_764_000_000_000 % HOUR  # an hour boundary (2025-11-24T16:00Z)


@pytest.fixture
def deployed(
    db: Database, model_repo: ModelRepository, deployment_repo: DeploymentRepository
) -> Database:
    model_repo.create_registered_model("churn")
    model_repo.create_model_version("churn", source="s3://b/1")
    deployment_repo.create_deployment("churn", "models:/churn/1")
    return db


def _frame(n: int, *, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "tenure": rng.normal(24 + shift * 10, 10, n),
            "spend": rng.lognormal(3 + shift, 0.4, n),
            "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.6, 0.3, 0.1]),
        }
    )


def _log_hour(settings: Settings, hour: int, frame: pd.DataFrame, *, seed: int) -> list[str]:
    """Log ``frame`` as predictions made during hour ``hour`` after T0; return request ids."""
    rng = np.random.default_rng(seed)
    times = T0 + hour * HOUR + np.sort(rng.integers(0, HOUR, len(frame)))
    scores = 1 / (1 + np.exp(-(frame["tenure"].to_numpy() - 24) / 10))
    ids = [f"h{hour}-{i}" for i in range(len(frame))]
    with PredictionLogger(settings, "churn", max_rows=100_000, max_delay_s=60) as logger:
        logger.log(
            [
                {
                    "request_id": ids[i],
                    "time": int(times[i]),
                    "model_name": "churn",
                    "model_version": 1,
                    "inputs": row,
                    "outputs": {
                        "prediction": int(scores[i] > 0.5),
                        "probabilities": [1 - scores[i], scores[i]],
                    },
                }
                for i, row in enumerate(frame.to_dict(orient="records"))
            ]
        )
    return ids


@pytest.fixture
def monitors(settings: Settings, deployed: Database) -> Iterator[Monitors]:
    with Monitors(settings, store=deployed) as opened:
        yield opened


def _create(monitors: Monitors, url: str | None = None, **settings: Any) -> str:
    ref = monitors.save_reference(_frame(3_000, seed=0), model="models:/churn/1", name="ref")
    notifications = {} if url is None else {"hook": {"kind": "webhook", "url": url}}
    rules = [{"name": "drifted", "metric": "drift.share", "operator": ">=", "threshold": 0.5,
              "notify": ["hook"] if url else ["log"]}]  # fmt: skip
    options: dict[str, Any] = {"window": "1h", "lag": 0, "rules": rules,
                               "notifications": notifications, **settings}  # fmt: skip
    monitors.create("churn-watch", target="churn", reference=ref.id, **options)
    return ref.id


def test_hourly_windows_are_evaluated_once_and_stored(
    settings: Settings, monitors: Monitors
) -> None:
    _create(monitors)
    for hour in range(3):
        _log_hour(settings, hour, _frame(400, seed=10 + hour), seed=hour)
    # At T0 + 2h30m only the first two hours are complete.
    runs = monitors.run("churn-watch", now=T0 + 2 * HOUR + HOUR // 2)
    assert [(r.window_start, r.window_end, r.rows) for r in runs] == [
        (T0, T0 + HOUR, 400),
        (T0 + HOUR, T0 + 2 * HOUR, 400),
    ]
    assert monitors.get("churn-watch").watermark == T0 + 2 * HOUR
    assert monitors.run("churn-watch", now=T0 + 2 * HOUR + HOUR // 2) == []  # nothing new
    at = datetime.fromtimestamp((T0 + 3 * HOUR) / 1000, tz=UTC)
    later = monitors.run("churn-watch", now=at.replace(tzinfo=None))  # naive means UTC
    assert [r.window_start for r in later] == [T0 + 2 * HOUR]
    edges = monitors.repository.db.lineage_edges("monitor_evaluation", runs[0].evaluation_id)
    upstream = {(e.src_kind, e.relation) for e in edges}
    assert ("prediction_log", "read_by") in upstream
    assert ("model_version", "read_by") in upstream
    history = monitors.get_history("churn-watch", "drift.share")
    assert [p.window_end for p in history] == [T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
    assert all(p.value < 0.5 for p in history)  # same distribution: no drift
    rows = monitors.get_history("churn-watch", "quality.rows")
    assert [p.value for p in rows] == [400.0, 400.0, 400.0]
    # since: ms, a datetime, ISO-8601 text or a duration back from now all read the same way
    for since in (T0 + 2 * HOUR, at - timedelta(hours=1), (at - timedelta(hours=1)).isoformat()):
        recent = monitors.get_history("churn-watch", "drift.share", since=since)
        assert [p.window_end for p in recent] == [T0 + 2 * HOUR, T0 + 3 * HOUR]
    assert monitors.get_history("churn-watch", "drift.share", since="1h") == []  # 2025 is long ago
    with pytest.raises(InvalidInput, match=r"^Invalid since 'soon'"):
        monitors.get_history("churn-watch", since="soon")


def test_a_shift_fires_one_webhook_and_a_restart_sends_no_duplicate(
    settings: Settings, monitors: Monitors, receiver: Receiver
) -> None:
    url = receiver.url
    _create(monitors, url)
    _log_hour(settings, 0, _frame(500, seed=1), seed=0)
    _log_hour(settings, 1, _frame(500, seed=2, shift=1.0), seed=1)
    runs = monitors.run("churn-watch", now=T0 + 2 * HOUR)
    assert [r.status for r in runs] == ["ok", "alert"]
    assert runs[1].values["drift.share"] >= 0.5
    assert runs[1].values["drift.drifted"] == 1.0
    [(headers, payload)] = receiver.requests
    assert payload["rule"] == "drifted"
    assert payload["kind"] == "fired"
    assert payload["monitor"] == "churn-watch"
    assert headers["Idempotency-Key"] == payload["id"]

    # A new process (a new service and store on the same database) and more drifted data:
    # the alert is still firing, so nothing is sent again.
    _log_hour(settings, 2, _frame(500, seed=3, shift=1.0), seed=2)
    with Monitors(settings) as restarted:
        again = restarted.run("churn-watch", now=T0 + 3 * HOUR)
    assert [r.status for r in again] == ["ok"]  # still breaching, no new event
    assert len(receiver.requests) == 1
    events = monitors.list_alerts("churn-watch")
    assert [(e.rule_name, e.kind) for e in events] == [("drifted", "fired")]
    assert monitors.list_alerts("churn-watch", since="2025-11-24T16:00:00Z") == events
    assert monitors.list_alerts(since="1h") == []  # the alert fired at T0 + 2h, in 2025


def test_deprecated_method_names_warn_and_still_work(
    settings: Settings, monitors: Monitors
) -> None:
    _create(monitors)
    _log_hour(settings, 0, _frame(400, seed=3), seed=3)
    monitors.run("churn-watch", now=T0 + HOUR)
    renamed = {"config": "get_config", "history": "get_history", "alerts": "list_alerts"}
    for old, new in renamed.items():
        with pytest.warns(DeprecationWarning, match=rf"Monitors\.{old} is deprecated.*"
                          rf"use Monitors\.{new}\."):  # fmt: skip
            value = getattr(monitors, old)("churn-watch")
        assert value == getattr(monitors, new)("churn-watch")
    with pytest.warns(DeprecationWarning, match="Monitors.history"):
        assert len(monitors.history("churn-watch", "quality.rows", since=T0, limit=1)) == 1


def test_row_windows_and_the_final_partial_window(settings: Settings, monitors: Monitors) -> None:
    _create(monitors, window=300)
    _log_hour(settings, 0, _frame(700, seed=5), seed=5)
    runs = monitors.run("churn-watch", now=T0 + 2 * HOUR)
    assert [r.rows for r in runs] == [300, 300]
    rest = monitors.run("churn-watch", now=T0 + 2 * HOUR, final=True)
    assert [r.rows for r in rest] == [100]


def test_late_labels_give_performance_and_the_report_recomputes_it(
    settings: Settings, monitors: Monitors, tmp_path: Path
) -> None:
    _create(monitors, checks=["drift", "quality", "performance"])
    ids = _log_hour(settings, 0, _frame(400, seed=7), seed=7)
    _log_hour(settings, 1, _frame(400, seed=8), seed=8)
    # Labels for the first hour only have arrived.
    rng = np.random.default_rng(0)
    record_feedback("churn", [{"request_id": i, "label": int(rng.random() < 0.5)} for i in ids],
                    settings=settings)  # fmt: skip
    runs = monitors.run("churn-watch", now=T0 + 2 * HOUR)
    assert runs[0].values["performance.labelled"] == 400
    assert 0.0 <= runs[0].values["performance.accuracy"] <= 1.0
    assert "performance" in runs[1].errors  # no labels yet for the second hour

    report = monitors.report("churn-watch", now="2025-11-24T18:00:00Z")  # T0 + 2h
    assert report["now"] == "2025-11-24T18:00:00+00:00"
    assert report["monitor"]["name"] == "churn-watch"
    assert report["drift"]["columns"]
    assert report["quality"] is not None
    assert report["performance"]["windows"]  # recomputed over every window
    assert report["history"]["metrics"]["drift.share"]
    path = monitors.write_report(report, tmp_path / "report.html")
    html = path.read_text()
    assert "churn-watch" in html
    assert "tenure" in html
    json.dumps(report, allow_nan=False)  # the --json form


def test_retraining_command_runs_and_is_audited(
    settings: Settings, monitors: Monitors, deployed: Database, tmp_path: Path
) -> None:
    marker = tmp_path / "retrain.json"
    command = [sys.executable, "-c",
               "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text(sys.stdin.read())",
               str(marker)]  # fmt: skip
    ref = monitors.save_reference(_frame(3_000, seed=0))
    monitors.create(
        "churn-watch", target="churn", reference=ref.id, window="1h", lag=0,
        notifications={"retrain": {"kind": "retrain", "command": command}},
        rules=[{"name": "drifted", "metric": "drift.share", "operator": ">=",
                "threshold": 0.5, "notify": ["retrain"]}],
    )  # fmt: skip
    _log_hour(settings, 0, _frame(500, seed=9, shift=1.5), seed=9)
    monitors.run("churn-watch", now=T0 + HOUR)
    assert json.loads(marker.read_text())["rule"] == "drifted"
    actions = [record.action for record in deployed.list_audit(limit=500)]
    assert any("retrain" in action for action in actions)


def test_batch_monitor_of_a_model_version(monitors: Monitors) -> None:
    ref = monitors.save_reference(_frame(2_000, seed=0), model="models:/churn/1")
    monitors.create("batch", target="models:/churn/1", reference=ref.id,
                    checks=["drift", "quality"])  # fmt: skip
    (run,) = monitors.run("batch", data=_frame(2_000, seed=1, shift=1.0))
    assert run.values["drift.share"] > 0.5
    with pytest.raises(InvalidInput, match="has no prediction log"):
        monitors.run("batch")


def test_gauges_expose_the_latest_values(settings: Settings, monitors: Monitors) -> None:
    _create(monitors)
    _log_hour(settings, 0, _frame(300, seed=4), seed=4)
    gauges = MonitorGauges()
    gauges.update(monitors.run("churn-watch", now=T0 + HOUR))
    text = gauges.render().decode()
    assert 'cycleml_monitor_value{metric="drift.share",monitor="churn-watch"}' in text
    assert "cycleml_monitor_window_end_seconds" in text


def test_bad_input(monitors: Monitors) -> None:
    with pytest.raises(NotFound):
        monitors.run("nobody")
    with pytest.raises(InvalidInput, match="Unknown monitor check"):
        monitors.create("x", target="churn", checks=["telepathy"])
    with pytest.raises(InvalidInput):
        monitors.create("x", target="churn", rules=[{"name": "r", "metric": "m",
                                                     "operator": "~", "threshold": 1}])  # fmt: skip
    assert monitors.list() == []  # nothing half-created


def test_dataset_versions_from_the_monitors_own_stores(
    settings: Settings, monitors: Monitors, deployed: Database
) -> None:
    from cycleml.data import Datasets, FrameSource

    datasets = Datasets(settings, store=deployed)
    train = datasets.ingest(
        "customers", FrameSource(pa.Table.from_pandas(_frame(2_000, seed=0)))
    ).version
    later = datasets.ingest(
        "customers", FrameSource(pa.Table.from_pandas(_frame(2_000, seed=1, shift=1.0)))
    ).version
    ref = monitors.save_reference(train.uri, model="models:/churn/1")
    monitors.create("batch", target="models:/churn/1", reference=ref.id, checks=["drift"])
    (run,) = monitors.run("batch", data=later.uri)
    assert run.values["drift.share"] > 0.5
    edges = deployed.lineage_edges("monitor_evaluation", run.evaluation_id)
    assert ("dataset_version", later.version_id) in {(e.src_kind, e.src_id) for e in edges}
    assert ("dataset_version", train.version_id) in {
        (e.src_kind, e.src_id) for e in deployed.lineage_edges("monitor_reference", ref.id)
    }
