"""A monitor's report document: a deployment's models, its rules, windows that are still open.

The end-to-end case runs a canary deployment's prediction log through a monitor and writes
the HTML report, on SQLite and PostgreSQL, with a real file artifact store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from cycleml.monitoring import Monitors, build_report
from cycleml.monitoring._report import served_models
from cycleml.registry import ModelRepository
from cycleml.reports import plotly_asset_name
from cycleml.serving import DeploymentRepository, PredictionLogger, record_feedback
from cycleml.settings import Settings
from cycleml.store import Database

HOUR = 3_600_000
T0 = 1_764_000_000_000 - 1_764_000_000_000 % HOUR  # an hour boundary (2025-11-24T16:00Z)


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()


def test_an_open_window_is_clamped_to_now() -> None:
    now = T0 + 2 * HOUR + 20 * 60_000  # 20 minutes into the third hour
    windows = [
        {"window_start": _iso(T0 + i * HOUR), "window_end": _iso(T0 + (i + 1) * HOUR),
         "rows": 10, "labelled": 10, "accuracy": 0.9}
        for i in range(3)
    ]  # fmt: skip
    checks = [{"metric": "accuracy", "window_end": w["window_end"], "passed": True}
              for w in windows]  # fmt: skip
    performance = {"window": "1h", "metrics": ["accuracy"], "windows": windows, "checks": checks}
    report = build_report(monitor=None, window=None, reports={},
                          performance_over_time=performance, now=now)  # fmt: skip
    *closed, last = report["performance"]["windows"]
    assert last["window_end"] == _iso(now)
    assert last["partial"] is True
    assert [w["window_end"] for w in closed] == [_iso(T0 + HOUR), _iso(T0 + 2 * HOUR)]
    assert all("partial" not in w for w in closed)
    assert report["performance"]["checks"][-1]["window_end"] == _iso(now)
    assert report["now"] == _iso(now)
    assert performance["windows"][-1]["window_end"] == _iso(T0 + 3 * HOUR)  # input untouched


def test_a_deployment_becomes_its_models_with_their_shares() -> None:
    deployment = {
        "name": "churn", "revision": 3, "model_name": "churn", "model_version": 2,
        "canary_name": "churn", "canary_version": 3, "canary_percent": 25.0,
        "shadow_name": "churn-next", "shadow_version": 1,
    }  # fmt: skip
    rules = [{"metric": "drift.share", "operator": ">=", "threshold": 0.3}]
    report = build_report(monitor={"name": "m", "target": "churn", "model": None, "window": "1d"},
                          window=None, reports={}, deployment=deployment, rules=rules)  # fmt: skip
    monitor = report["monitor"]
    assert monitor["models"] == [
        {"model": "models:/churn/2", "role": "primary", "share": 0.75},
        {"model": "models:/churn/3", "role": "canary", "share": 0.25},
        {"model": "models:/churn-next/1", "role": "shadow", "share": 0.0},
    ]
    assert monitor["deployment_revision"] == 3
    assert monitor["window_ms"] == 86_400_000
    [rule] = monitor["rules"]
    assert rule["name"] == "drift.share >= 0.3"  # the rule's default name, as stored
    assert rule["for_windows"] == 1


def test_served_models_counts_rows_per_version_and_arm() -> None:
    window = pa.table({
        "model_name": ["churn"] * 5 + [None],
        "model_version": [2, 2, 3, 2, 3, 1],
        "arm": ["primary", "primary", "canary", "primary", "canary", "primary"],
    })  # fmt: skip
    assert served_models(window) == [
        {"model": "models:/churn/2", "arm": "primary", "rows": 3},
        {"model": "models:/churn/3", "arm": "canary", "rows": 2},
    ]
    assert served_models(window.drop_columns(["model_version"])) == []


# -- end to end --------------------------------------------------------------------------------
@pytest.fixture
def canary(
    db: Database, model_repo: ModelRepository, deployment_repo: DeploymentRepository
) -> Database:
    model_repo.create_registered_model("churn")
    for source in ("s3://b/1", "s3://b/2"):
        model_repo.create_model_version("churn", source=source)
    deployment_repo.create_deployment(
        "churn", "models:/churn/1", canary_uri="models:/churn/2", canary_percent=25.0
    )
    return db


@pytest.fixture
def monitors(settings: Settings, canary: Database) -> Iterator[Monitors]:
    with Monitors(settings, store=canary) as opened:
        yield opened


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"tenure": rng.normal(24, 10, n), "spend": rng.lognormal(3, 0.4, n)})


def _log_hour(settings: Settings, hour: int, *, seed: int, n: int = 200) -> list[str]:
    """Predictions during hour ``hour`` after T0, a quarter of them by the canary."""
    rng = np.random.default_rng(seed)
    frame = _frame(n, seed)
    times = T0 + hour * HOUR + np.sort(rng.integers(0, HOUR, n))
    ids = [f"h{hour}-{i}" for i in range(n)]
    records: list[dict[str, Any]] = []
    for i, row in enumerate(frame.to_dict(orient="records")):
        version, arm = (2, "canary") if i % 4 == 0 else (1, "primary")
        score = float(1 / (1 + np.exp(-(row["tenure"] - 24) / 10)))
        records.append({"request_id": ids[i], "time": int(times[i]), "model_name": "churn",
                        "model_version": version, "arm": arm, "inputs": row,
                        "outputs": {"prediction": int(score > 0.5),
                                    "probabilities": [1 - score, score]}})  # fmt: skip
    with PredictionLogger(settings, "churn", max_rows=100_000, max_delay_s=60) as logger:
        logger.log(records)
    return ids


def test_a_canary_deployments_report(
    settings: Settings, monitors: Monitors, tmp_path: Path
) -> None:
    ref = monitors.save_reference(_frame(2_000, seed=0), name="ref")
    rules = [{"name": "busy", "metric": "quality.rows", "operator": ">=", "threshold": 1,
              "notify": ["log"], "severity": "critical"}]  # fmt: skip
    monitors.create("churn-watch", target="churn", reference=ref.id, window="1h", lag=0,
                    checks=["drift", "quality", "performance"], rules=rules)  # fmt: skip
    labelled = _log_hour(settings, 0, seed=1) + _log_hour(settings, 2, seed=2)  # hour 1: none
    rng = np.random.default_rng(3)
    record_feedback("churn", [{"request_id": i, "label": int(rng.random() < 0.5)}
                              for i in labelled], settings=settings)  # fmt: skip
    monitors.run("churn-watch", now=T0 + 3 * HOUR)
    open_hour = _log_hour(settings, 3, seed=4, n=40)  # the current, unfinished hour
    record_feedback("churn", [{"request_id": i, "label": 1} for i in open_hour],
                    settings=settings)  # fmt: skip
    now = T0 + 3 * HOUR + 30 * 60_000

    report = monitors.report("churn-watch", now=now)
    monitor = report["monitor"]
    assert monitor["models"] == [
        {"model": "models:/churn/1", "role": "primary", "share": 0.75},
        {"model": "models:/churn/2", "role": "canary", "share": 0.25},
    ]
    assert report["window"]["models"] == [
        {"model": "models:/churn/1", "arm": "primary", "rows": 150},
        {"model": "models:/churn/2", "arm": "canary", "rows": 50},
    ]
    assert [r["name"] for r in monitor["rules"]] == ["busy"]
    ends = [pd.Timestamp(w["window_end"]).value // 1_000_000
            for w in report["performance"]["windows"]]  # fmt: skip
    assert max(ends) == now  # the open hour ends now, not at T0 + 4h
    assert report["performance"]["windows"][-1]["partial"] is True
    assert {e["rule_name"] for e in report["alerts"]} == {"busy"}
    json.dumps(report, allow_nan=False)  # the --json form

    path = monitors.write_report(report, tmp_path / "out" / "report.html",
                                 include_plotlyjs="shared")  # fmt: skip
    page = path.read_text(encoding="utf-8")
    assert (path.parent / plotly_asset_name()).is_file()
    assert path.stat().st_size < 200_000
    assert "models:/churn/2 (canary, answers 25% of requests)" in page
    assert "<td>busy</td><td>quality.rows ≥ 1</td>" in page
    charts = json.loads(
        re.search(r'id="cycleml-charts">(.*?)</script>', page).group(1)  # type: ignore[union-attr]
    )
    drift = charts["chart-history-0"]["data"][0]
    assert drift["y"][1] is None  # hour 1 had no predictions: the line breaks there
