"""Feedback (ground truth): bulk forms, validation, latest label wins, joins to the log,
and ``POST /feedback`` on a deployment's server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

import cycleml
from cycleml.errors import InvalidInput, NotFound
from cycleml.models import log_model
from cycleml.registry import ModelRepository
from cycleml.serving import (
    BatchingOptions,
    DeploymentRepository,
    Deployments,
    ServerOptions,
    deployment_app,
)
from cycleml.serving._feedback import feedback, join_feedback, record_feedback
from cycleml.serving._predlog import PredictionLogger, prediction_log
from cycleml.settings import Settings, resolve_settings
from cycleml.store import Database
from cycleml.tracking import Tracker

T0 = 1_764_000_000_000


@pytest.fixture
def deployed(
    db: Database, model_repo: ModelRepository, deployment_repo: DeploymentRepository
) -> DeploymentRepository:
    model_repo.create_registered_model("churn")
    model_repo.create_model_version("churn", source="s3://b/1")
    deployment_repo.create_deployment("churn", "models:/churn/1")
    return deployment_repo


def _labels(settings: Settings) -> dict[str, Any]:
    table = feedback("churn", settings=settings)
    ids, labels = table.column("request_id").to_pylist(), table.column("label").to_pylist()
    return dict(zip(ids, labels, strict=True))


def test_records_from_dicts(settings: Settings, deployed: DeploymentRepository) -> None:
    count = record_feedback(
        "churn",
        [
            {"request_id": "r1", "label": 1},
            {"request_id": "r2", "label": 0, "time": T0},
            {"request_id": 3, "label": 1, "time": datetime(2026, 1, 1, tzinfo=UTC)},
        ],
        settings=settings,
        actor="labeler",
    )
    assert count == 3
    assert _labels(settings) == {"r1": 1, "r2": 0, "3": 1}
    stored = deployed.list_feedback("churn")
    assert {r.actor for r in stored} == {"labeler"}
    assert [r.time for r in stored][:2] == [T0, 1_767_225_600_000]


def test_records_from_frames_and_files(
    settings: Settings, deployed: DeploymentRepository, tmp_path: Path
) -> None:
    frame = pd.DataFrame(
        {
            "request_id": ["a", "b"],
            "label": [0.5, 1.5],
            "time": pd.to_datetime([T0, T0 + 1], unit="ms"),
        }
    )
    assert record_feedback("churn", frame, settings=settings) == 2
    csv = tmp_path / "labels.csv"
    csv.write_text("request_id,label,time\n001,yes,2026-01-01T00:00:00Z\nc,no,\n")
    assert record_feedback("churn", csv, settings=settings) == 2
    parquet = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"request_id": ["d"], "label": [True]}), parquet)
    assert record_feedback("churn", str(parquet), settings=settings) == 1
    assert (
        record_feedback("churn", pa.table({"request_id": ["e"], "label": [7]}), settings=settings)
        == 1
    )
    assert (
        record_feedback(
            "churn", pl.DataFrame({"request_id": ["f"], "label": [8]}), settings=settings
        )
        == 1
    )
    stored = {r.request_id: (r.label, r.time) for r in deployed.list_feedback("churn")}
    assert stored["a"] == (0.5, T0)
    assert stored["b"] == (1.5, T0 + 1)
    assert stored["001"] == ("yes", 1_767_225_600_000)  # request ids stay strings
    assert stored["c"][0] == "no"
    assert stored["d"][0] is True
    assert (stored["e"][0], stored["f"][0]) == (7, 8)


def test_latest_label_wins(settings: Settings, deployed: DeploymentRepository) -> None:
    record_feedback(
        "churn",
        [
            {"request_id": "r1", "label": "old", "time": T0},
            {"request_id": "r1", "label": "new", "time": T0 + 10},
            {"request_id": "r2", "label": "first", "time": T0 + 5},
        ],
        settings=settings,
    )
    # a backfill with an older time does not override; a correction at the same time does
    record_feedback(
        "churn", [{"request_id": "r1", "label": "backfill", "time": T0 + 1}], settings=settings
    )
    record_feedback(
        "churn", [{"request_id": "r2", "label": "fixed", "time": T0 + 5}], settings=settings
    )
    table = feedback("churn", settings=settings)
    assert table.column_names == ["request_id", "label", "time"]
    assert table.schema.field("time").type == pa.timestamp("ms", tz="UTC")
    assert table.to_pylist() == [
        {
            "request_id": "r2",
            "label": "fixed",
            "time": datetime.fromtimestamp((T0 + 5) / 1000, UTC),
        },
        {"request_id": "r1", "label": "new", "time": datetime.fromtimestamp((T0 + 10) / 1000, UTC)},
    ]
    assert len(deployed.list_feedback("churn")) == 5  # append-only: every label is kept
    since = feedback("churn", T0 + 6, settings=settings)
    assert since.column("request_id").to_pylist() == ["r1"]
    # since: any time cycleml.time.to_ms reads, a duration meaning that long ago too
    at = datetime.fromtimestamp((T0 + 6) / 1000, UTC)
    assert feedback("churn", at, settings=settings) == since
    assert feedback("churn", at.isoformat(), settings=settings) == since
    assert feedback("churn", since="36500d", settings=settings).num_rows == 2
    assert feedback("churn", since="1h", settings=settings).num_rows == 0  # labelled in 2025
    with pytest.raises(InvalidInput, match=r"^Invalid since 'soon'"):
        feedback("churn", since="soon", settings=settings)


def test_mixed_label_types_come_back_as_json(
    settings: Settings, deployed: DeploymentRepository
) -> None:
    record_feedback(
        "churn",
        [{"request_id": "a", "label": 1}, {"request_id": "b", "label": "x"}],
        settings=settings,
    )
    assert _labels(settings) == {"a": "1", "b": '"x"'}


def test_bad_feedback_writes_nothing(
    settings: Settings, deployed: DeploymentRepository, tmp_path: Path
) -> None:
    bad: list[Any] = [
        [],
        [{"label": 1}],
        [{"request_id": "r1"}],
        [{"request_id": "r1", "label": 1}, {"request_id": None, "label": 1}],
        [{"request_id": "r1", "label": 1}, {"request_id": " ", "label": 1}],
        [{"request_id": "r1", "label": None}],
        [{"request_id": "r1", "label": 1, "time": "last week"}],
        [3],
        pa.table({"label": [1]}),
        pa.table({"request_id": ["a", None], "label": [1, 2]}),
        pa.table({"request_id": ["a"], "label": [None]}),
        pd.DataFrame({"request_id": ["a"]}),
        pd.DataFrame({"request_id": [], "label": []}),
        tmp_path / "missing.csv",
        tmp_path,
        42,
    ]
    (tmp_path / "labels.txt").write_text("request_id,label\na,1\n")
    bad.append(tmp_path / "labels.txt")
    for records in bad:
        with pytest.raises(InvalidInput):
            record_feedback("churn", records, settings=settings)
    assert deployed.list_feedback("churn") == []
    with pytest.raises(NotFound, match="nope"):
        record_feedback("nope", [{"request_id": "r1", "label": 1}], settings=settings)
    with pytest.raises(NotFound, match="nope"):
        feedback("nope", settings=settings)


def test_labels_for_unknown_request_ids_are_kept_and_reported(
    settings: Settings, deployed: DeploymentRepository
) -> None:
    with PredictionLogger(settings, "churn") as logger:
        logger.log([{"request_id": f"r{i}", "time": T0 + i} for i in range(10)])
    labels = [{"request_id": rid, "label": 1} for rid in ("r1", "early", "r5", "other")]
    recorded = record_feedback("churn", labels, settings=settings)
    assert recorded == 4
    assert recorded.unknown == ("early", "other")  # in the order given
    assert set(_labels(settings)) == {"r1", "r5", "early", "other"}  # none refused
    # The prediction of "early" is logged after its label: the label joins it.
    with PredictionLogger(settings, "churn") as logger:
        logger.log([{"request_id": "early", "time": T0 + 100}])
    joined = join_feedback(prediction_log("churn", settings=settings),
                           feedback("churn", settings=settings))  # fmt: skip
    labelled = {r["request_id"]: r["label"] for r in joined.to_pylist()}
    assert labelled["early"] == 1
    assert record_feedback("churn", [{"request_id": "early", "label": 0}],
                           settings=settings).unknown == ()  # fmt: skip


def test_labels_nested_too_deeply_are_refused(
    settings: Settings, deployed: DeploymentRepository
) -> None:
    label: Any = 1
    for _ in range(5000):
        label = [label]
    with pytest.raises(InvalidInput, match="nested"):
        record_feedback("churn", [{"request_id": "r1", "label": label}], settings=settings)
    assert deployed.list_feedback("churn") == []


def test_empty_feedback(settings: Settings, deployed: DeploymentRepository) -> None:
    table = feedback("churn", settings=settings)
    assert table.num_rows == 0
    assert table.column_names == ["request_id", "label", "time"]


def test_join_feedback() -> None:
    predictions = pa.table(
        {
            "request_id": ["r3", "r1", "r2", "r1"],
            "time": pa.array([3, 1, 2, 4], pa.timestamp("ms", tz="UTC")),
            "outputs": ["a", "b", "c", "d"],
        }
    )
    labels = pa.table(
        {
            "request_id": ["r1", "r2", "r1", "r9"],
            "label": [0, 1, 1, 5],
            "time": pa.array([10, 10, 20, 10], pa.timestamp("ms", tz="UTC")),
        }
    )
    joined = join_feedback(predictions, labels)
    assert joined.column_names == ["request_id", "time", "outputs", "label"]
    assert joined.column("outputs").to_pylist() == ["a", "b", "c", "d"]  # order kept
    assert joined.column("label").to_pylist() == [None, 1, 1, 1]  # r1's latest label is 1
    assert joined.schema.field("label").type == pa.int64()
    assert joined.schema.field("time") == predictions.schema.field("time")

    # without a time column the last label of a request id wins
    untimed = join_feedback(
        predictions, pa.table({"request_id": ["r1", "r1"], "label": ["x", "y"]})
    )
    assert untimed.column("label").to_pylist() == [None, "y", None, "y"]
    assert untimed.schema.field("label").type == pa.string()

    with pytest.raises(InvalidInput, match="already"):
        join_feedback(joined, labels)
    with pytest.raises(InvalidInput, match="request_id"):
        join_feedback(pa.table({"x": [1]}), labels)
    with pytest.raises(InvalidInput, match="label"):
        join_feedback(predictions, pa.table({"request_id": ["r1"]}))


def test_prediction_log_joined_with_feedback(
    settings: Settings, deployed: DeploymentRepository
) -> None:
    with PredictionLogger(settings, "churn", max_rows=100) as logger:
        logger.log(
            [
                {"request_id": f"r{i}", "time": T0 + i, "model_name": "churn", "model_version": 1}
                for i in range(250)
            ]
        )
    record_feedback(
        "churn",
        pd.DataFrame({"request_id": [f"r{i}" for i in range(0, 250, 2)], "label": 1}),
        settings=settings,
    )
    joined = join_feedback(
        prediction_log("churn", settings=settings), feedback("churn", settings=settings)
    )
    assert joined.num_rows == 250
    labels = joined.column("label").to_pylist()
    assert labels[:4] == [1, None, 1, None]
    assert sum(label == 1 for label in labels) == 125


# ---- POST /feedback ------------------------------------------------------------------------
# The log is written only at shutdown here (no size or time trigger during a test), so the
# rows a server scored are still in its memory when their labels arrive.
HELD = ServerOptions(batching=BatchingOptions(predict_process=False), log_max_rows=10**6,
                     log_max_delay_s=3600.0)  # fmt: skip


@pytest.fixture
def live(
    tmp_path: Path,
    cancer: tuple[pd.DataFrame, pd.Series],
    default_tracker: Callable[..., Tracker],
) -> Settings:
    """A project with the deployment ``tumours-live`` of a logistic regression."""
    from sklearn.linear_model import LogisticRegression

    x, y = cancer
    project = resolve_settings(home=tmp_path)
    default_tracker(settings=project)
    with cycleml.start_run():
        log_model(LogisticRegression(max_iter=5000).fit(x, y), "model",
                  input_example=x.head(), registered_model_name="tumours")  # fmt: skip
    Deployments(project).create("tumours-live", "models:/tumours/1")
    return project


def test_feedback_nested_too_deeply_is_a_400(live: Settings) -> None:
    with TestClient(deployment_app("tumours-live", settings=live, options=HELD)) as client:
        deep = b"[" * 100_000 + b"]" * 100_000
        response = client.post("/feedback", content=deep,
                               headers={"content-type": "application/json"})  # fmt: skip
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_input"
        assert "nested too deeply" in response.json()["error"]["message"]


def test_post_feedback_says_which_request_ids_match_no_prediction(
    live: Settings, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    x, _ = cancer
    record = x.head(1).to_dict(orient="records")
    with TestClient(deployment_app("tumours-live", settings=live, options=HELD)) as client:
        for rid in ("visit-0", "visit-1"):
            client.post("/predict", json=record, headers={"x-request-id": rid})
        client.post("/predict", json=x.head(2).to_dict(orient="records"),
                    headers={"x-request-id": "pair"})  # fmt: skip
        # visit-0 and visit-1 are still in the server's memory, not in the log yet: known.
        labels = [{"request_id": rid, "label": 1} for rid in ("visit-0", "ghost", "visit-1",
                                                              "pair", "pair/1")]  # fmt: skip
        response = client.post("/feedback", json=labels)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["recorded"] == 5
        assert body["unknown_request_ids"] == ["ghost", "pair"]
        assert "kept" in body["hint"]
        assert "<request id>/0" in body["hint"]  # a request of several rows: label its rows
    with TestClient(deployment_app("tumours-live", settings=live, options=HELD)) as client:
        # a new server, the rows now in the log: known from there
        known = client.post("/feedback", json={"request_id": "visit-1", "label": 0})
        assert known.json() == {"recorded": 1, "unknown_request_ids": []}
        client.post("/predict", json=record, headers={"x-request-id": "ghost"})  # late
    log = prediction_log("tumours-live", settings=live)
    joined = join_feedback(log, feedback("tumours-live", settings=live))
    labelled = {r["request_id"]: r["label"] for r in joined.to_pylist()}
    assert labelled == {"visit-0": 1, "visit-1": 0, "ghost": 1, "pair/0": None, "pair/1": 1}
