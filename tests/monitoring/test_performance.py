"""Model performance with late labels (per window, checked against the spec) and CBPE."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from cycleml.errors import InvalidInput
from cycleml.monitoring import (
    CBPE_ASSUMPTIONS,
    estimate_performance,
    expected_calibration_error,
    performance,
    prediction_arrays,
)
from cycleml.monitoring._cbpe import _expected_auc
from cycleml.registry import ModelRepository
from cycleml.serving import (
    PREDICTION_LOG_SCHEMA,
    DeploymentRepository,
    PredictionLogger,
    feedback,
    join_feedback,
    prediction_log,
    record_feedback,
)
from cycleml.settings import Settings
from cycleml.spec import MetricSpec

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a day boundary
DAY = 86_400_000
HOUR = 3_600_000
TOL = 1e-12


def _binary_frame(n: int = 3000, seed: int = 0, labelled: float = 0.7) -> pd.DataFrame:
    """Three days of binary predictions; labels have arrived for ``labelled`` of the rows."""
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    truth = (rng.random(n) < score).astype(int)
    label = pd.array(truth, dtype="Int64")
    label[rng.random(n) >= labelled] = pd.NA
    times = T0 + np.sort(rng.integers(0, 3 * DAY, n))
    return pd.DataFrame(
        {
            "time": pd.to_datetime(times, unit="ms", utc=True),
            "label": label,
            "prediction": (score >= 0.5).astype(int),
            "score": score,
        }
    )


def _sk_binary(y: Any, p: Any, s: Any) -> dict[str, float]:
    return {
        "accuracy": skm.accuracy_score(y, p),
        "precision": skm.precision_score(y, p, zero_division=0),
        "recall": skm.recall_score(y, p, zero_division=0),
        "f1": skm.f1_score(y, p, zero_division=0),
        "roc_auc": skm.roc_auc_score(y, s),
        "log_loss": skm.log_loss(y, s, labels=[0, 1]),
    }


def _ece_reference(y: Any, prob: Any, n_bins: int = 10) -> float:
    """ECE from scikit-learn's calibration curve, weighted by numpy's bin counts."""
    prob_true, prob_pred = calibration_curve(y, prob, n_bins=n_bins, strategy="uniform")
    counts, _ = np.histogram(prob, bins=np.linspace(0, 1, n_bins + 1))
    counts = counts[counts > 0]
    return float(np.sum(counts / len(y) * np.abs(prob_true - prob_pred)))


# ---- performance with late labels ------------------------------------------------------------
def test_binary_windows_match_scikit_learn() -> None:
    frame = _binary_frame()
    report = performance(frame, window="1d", score_column="score")
    assert report.task == "binary"
    assert report.positive_class == 1
    assert report.metrics == (
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
        "calibration_error",
    )
    assert report.rows == 3000
    assert report.labelled == int(frame["label"].notna().sum())
    day = (frame["time"] - pd.Timestamp(T0, unit="ms", tz="UTC")) // pd.Timedelta("1D")
    assert len(report.windows) == 3
    for k, window in enumerate(report.windows):
        assert window.start == T0 + k * DAY
        assert window.end == T0 + (k + 1) * DAY
        rows = frame[day == k]
        assert window.rows == len(rows)
        labelled = rows[rows["label"].notna()]
        assert window.labelled == len(labelled)
        assert window.labelled_share == pytest.approx(len(labelled) / len(rows))
        y = labelled["label"].astype(int).to_numpy()
        p, s = labelled["prediction"].to_numpy(), labelled["score"].to_numpy()
        for name, expected in _sk_binary(y, p, s).items():
            assert window.metrics[name] == pytest.approx(expected, abs=TOL), name
        assert window.metrics["calibration_error"] == pytest.approx(_ece_reference(y, s), abs=TOL)
    everything = frame[frame["label"].notna()]
    y = everything["label"].astype(int).to_numpy()
    expected = _sk_binary(y, everything["prediction"].to_numpy(), everything["score"].to_numpy())
    for name, value in expected.items():
        assert report.overall[name] == pytest.approx(value, abs=TOL)
    assert report.checks == ()
    assert report.passed


def test_regression_row_windows_match_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    n = 1000
    truth = rng.normal(50, 10, n)
    times = T0 + rng.permutation(n) * 1000  # shuffled: windows follow time, not row order
    labels = np.where(rng.random(n) < 0.8, truth, np.nan)
    frame = pa.table(
        {"t": pa.array(times, pa.int64()), "y": labels, "yhat": truth + rng.normal(0, 3, n)}
    )
    report = performance(
        frame,
        window=300,
        time_column="t",
        label_column="y",
        prediction_column="yhat",
        task="regression",
    )
    assert report.metrics == ("mae", "rmse", "mape", "r2")
    assert [w.rows for w in report.windows] == [300, 300, 300, 100]
    order = np.argsort(times, kind="stable")
    for k, window in enumerate(report.windows):
        rows = order[k * 300 : (k + 1) * 300]
        assert window.start == times[rows].min()
        assert window.end == times[rows].max()
        rows = rows[~np.isnan(labels[rows])]
        assert window.labelled == rows.size
        y, p = labels[rows], frame.column("yhat").to_numpy()[rows]
        assert window.metrics["mae"] == pytest.approx(skm.mean_absolute_error(y, p), abs=TOL)
        assert window.metrics["rmse"] == pytest.approx(skm.root_mean_squared_error(y, p), abs=TOL)
        assert window.metrics["mape"] == pytest.approx(
            skm.mean_absolute_percentage_error(y, p), abs=TOL
        )
        assert window.metrics["r2"] == pytest.approx(skm.r2_score(y, p), abs=TOL)


def test_multiclass_probability_lists() -> None:
    rng = np.random.default_rng(2)
    n = 900
    classes = ["bird", "cat", "dog"]
    logits = rng.normal(size=(n, 3))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.array([classes[rng.choice(3, p=row)] for row in proba])
    pred = np.asarray(classes)[proba.argmax(axis=1)]
    frame = pl.DataFrame(
        {
            "time": T0 + np.arange(n) * 60_000,
            "label": truth,
            "prediction": pred,
            "probabilities": proba.tolist(),
        }
    )
    report = performance(frame, window="6h")
    assert report.task == "multiclass"
    assert report.classes == tuple(classes)
    assert len(report.windows) == 3  # 900 minutes
    for window in report.windows:
        rows = slice((window.start - T0) // 60_000, (window.end - T0) // 60_000)
        y, p, s = truth[rows], pred[rows], proba[rows]
        expected = {
            "accuracy": skm.accuracy_score(y, p),
            "precision": skm.precision_score(y, p, average="macro", zero_division=0),
            "recall": skm.recall_score(y, p, average="macro", zero_division=0),
            "f1": skm.f1_score(y, p, average="macro", zero_division=0),
            "roc_auc": skm.roc_auc_score(y, s, multi_class="ovr", labels=classes),
            "log_loss": skm.log_loss(y, s, labels=classes),
        }
        for name, value in expected.items():
            assert window.metrics[name] == pytest.approx(value, abs=TOL), name
        top = s.max(axis=1)
        hits = (np.asarray(classes)[s.argmax(axis=1)] == y).astype(int)
        assert window.metrics["calibration_error"] == pytest.approx(
            _ece_reference(hits, top), abs=TOL
        )

    # probabilities in the model's own class order, named by classes= or by the columns
    model_order = [2, 0, 1]  # dog, bird, cat
    listed = frame.with_columns(pl.Series("probabilities", proba[:, model_order].tolist()))
    again = performance(listed, window="6h", classes=[classes[i] for i in model_order])
    pd.testing.assert_frame_equal(again.to_pandas(), report.to_pandas())
    wide = frame.drop("probabilities").with_columns(
        *(pl.Series(f"proba_{classes[i]}", proba[:, i]) for i in model_order)
    )
    pd.testing.assert_frame_equal(performance(wide, window="6h").to_pandas(), report.to_pandas())
    by_delta = performance(frame, window=timedelta(hours=6))
    pd.testing.assert_frame_equal(by_delta.to_pandas(), report.to_pandas())


def test_pandas_polars_arrow_and_batch_scoring_columns_agree() -> None:
    frame = _binary_frame(n=600, seed=3)
    scored = frame.assign(proba_0=1 - frame["score"], proba_1=frame["score"]).drop(
        columns="score"
    )  # the shape score_batch writes: one proba_<class> column per class
    reports = [
        performance(scored, window="1d"),
        performance(pa.Table.from_pandas(scored, preserve_index=False), window="1d"),
        performance(pl.from_pandas(scored), window="1d"),
        performance(frame, window="1d", score_column="score"),
        performance(frame, window="1d", score_column=["score"]),
    ]
    expected = reports[0].to_pandas()
    assert "roc_auc" in expected.columns
    for other in reports[1:]:
        pd.testing.assert_frame_equal(other.to_pandas(), expected)


def _log_table(n: int = 400, seed: int = 4) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    """A prediction log with a shadow arm, and labels for part of its requests."""
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    truth = (rng.random(n) < score).astype(int)
    sex = rng.choice(["F", "M"], n)
    ids = [f"r{i}" for i in range(n)]
    rows = {
        "request_id": ids + ids[:50],
        "time": pa.array(
            (T0 + np.arange(n) * 30_000).tolist() + [T0] * 50, pa.timestamp("ms", tz="UTC")
        ),
        "deployment": ["churn"] * (n + 50),
        "model_name": ["churn"] * (n + 50),
        "model_version": [1] * n + [2] * 50,
        "arm": ["primary"] * n + ["shadow"] * 50,
        "inputs": [json.dumps({"age": 30, "sex": s}) for s in sex] + ["{}"] * 50,
        "outputs": [
            json.dumps({"prediction": int(s >= 0.5), "probabilities": [1 - s, s]}) for s in score
        ]
        + [json.dumps({"prediction": 1})] * 50,
        "latency_ms": [1.0] * (n + 50),
    }
    log = pa.table(rows, schema=PREDICTION_LOG_SCHEMA)
    arrived = np.flatnonzero(rng.random(n) < 0.6)
    labels = pa.table({"request_id": [ids[i] for i in arrived], "label": truth[arrived]})
    return log, labels, {"score": score, "truth": truth, "arrived": arrived, "sex": sex}


def test_joined_prediction_log() -> None:
    log, labels, raw = _log_table()
    joined = join_feedback(log, labels)
    arrays = prediction_arrays(joined, columns=["sex"])
    assert arrays.rows == 400  # the shadow rows are left out
    assert arrays.y_score is not None
    assert arrays.y_score.shape == (400, 2)
    assert arrays.columns["sex"].tolist() == raw["sex"].tolist()
    assert int(arrays.labelled.sum()) == raw["arrived"].size
    assert arrays.time is not None
    assert arrays.time[1] - arrays.time[0] == 30_000
    assert prediction_arrays(joined, arms=["shadow"]).rows == 50

    report = performance(joined, window="1h")
    assert [w.rows for w in report.windows] == [120, 120, 120, 40]
    arrived = raw["arrived"]
    for k, window in enumerate(report.windows):
        rows = arrived[(arrived >= k * 120) & (arrived < (k + 1) * 120)]
        assert window.labelled == rows.size
        y, s = raw["truth"][rows], raw["score"][rows]
        for name, value in _sk_binary(y, (s >= 0.5).astype(int), s).items():
            assert window.metrics[name] == pytest.approx(value, abs=TOL), name


def test_prediction_log_from_the_store(
    settings: Settings, model_repo: ModelRepository, deployment_repo: DeploymentRepository
) -> None:
    model_repo.create_registered_model("churn")
    model_repo.create_model_version("churn", source="s3://b/1")
    deployment_repo.create_deployment("churn", "models:/churn/1")
    rng = np.random.default_rng(5)
    score = rng.random(300)
    truth = (rng.random(300) < score).astype(int)
    with PredictionLogger(settings, "churn", max_rows=100) as logger:
        logger.log(
            [
                {
                    "request_id": f"r{i}",
                    "time": T0 + i * 60_000,
                    "model_name": "churn",
                    "model_version": 1,
                    "inputs": {"x": float(s)},
                    "outputs": {"prediction": int(s >= 0.5), "probabilities": [1 - s, s]},
                }
                for i, s in enumerate(score)
            ]
        )
    labelled = range(0, 300, 2)  # every second request has been labelled so far
    record_feedback(
        "churn",
        [{"request_id": f"r{i}", "label": int(truth[i])} for i in labelled],
        settings=settings,
    )
    joined = join_feedback(
        prediction_log("churn", settings=settings), feedback("churn", settings=settings)
    )
    report = performance(
        joined, window="1h", spec_metrics=[MetricSpec(name="roc_auc", threshold=0.6)]
    )
    assert [(w.rows, w.labelled) for w in report.windows] == [(60, 30)] * 5
    rows = np.arange(0, 300, 2)
    expected = _sk_binary(truth[rows], (score[rows] >= 0.5).astype(int), score[rows])
    for name, value in expected.items():
        assert report.overall[name] == pytest.approx(value, abs=TOL), name
    assert len(report.checks) == 5
    assert all(c.metric == "roc_auc" for c in report.checks)


def test_spec_metric_checks_per_window() -> None:
    frame = _binary_frame(n=2000, seed=6)
    specs = [
        MetricSpec(name="accuracy", threshold=0.75),
        MetricSpec(name="log_loss", threshold=0.5),  # minimize
        MetricSpec(name="f1", threshold=0.99, applies_to=["train", "deploy"]),  # not monitored
        MetricSpec(name="recall"),  # informational: always passes
    ]
    report = performance(
        frame, window="1d", score_column="score", metrics=["accuracy"], spec_metrics=specs
    )
    assert report.metrics == ("accuracy", "log_loss", "recall")
    assert len(report.checks) == 3 * 3
    for check in report.checks:
        window = next(w for w in report.windows if w.start == check.window_start)
        value = window.metrics[check.metric]
        assert check.value == value
        spec = next(s for s in specs if s.name == check.metric)
        assert check.passed == spec.passes(value)
        assert check.reason == spec.describe_failure(value)
    accuracy = [c for c in report.checks if c.metric == "accuracy"]
    assert [c.passed for c in accuracy] == [w.metrics["accuracy"] >= 0.75 for w in report.windows]
    assert report.passed == all(c.passed for c in report.checks)
    assert report.failures == [c for c in report.checks if c.passed is False]

    # too few labels to judge, and a spec metric that needs scores the data lacks
    sparse = _binary_frame(n=300, seed=7, labelled=0.05).drop(columns="score")
    report = performance(
        sparse,
        window="1d",
        min_labelled=8,
        spec_metrics=[
            MetricSpec(name="accuracy", threshold=0.5),
            MetricSpec(name="roc_auc", threshold=0.5),
        ],
    )
    judged = [c for c in report.checks if c.metric == "accuracy"]
    for check, window in zip(judged, report.windows, strict=True):
        if window.labelled < 8:
            assert check.passed is None
            assert "min_labelled" in check.reason
            assert math.isnan(window.metrics["accuracy"])
    auc = [c for c in report.checks if c.metric == "roc_auc"]
    assert [c.passed for c in auc] == [False] * 3
    assert "needs scores" in auc[0].reason
    assert "roc_auc skipped" in " ".join(report.notes)


def test_undefined_window_metrics_are_nan_with_a_note() -> None:
    frame = pd.DataFrame(
        {
            "time": [T0, T0 + 1, T0 + DAY, T0 + DAY + 1],
            "label": [1, 1, 0, 1],
            "prediction": [1, 0, 0, 1],
            "score": [0.9, 0.4, 0.2, 0.8],
        }
    )
    report = performance(frame, window="1d", score_column="score", metrics=["roc_auc"])
    assert math.isnan(report.windows[0].metrics["roc_auc"])  # one class only
    assert report.windows[1].metrics["roc_auc"] == 1.0
    assert any("roc_auc" in note for note in report.notes)


def test_to_pandas_and_to_dict() -> None:
    frame = _binary_frame(n=500, seed=8)
    report = performance(
        frame,
        window="12h",
        score_column="score",
        spec_metrics=[MetricSpec(name="accuracy", threshold=0.7)],
    )
    table = report.to_pandas()
    assert list(table.columns[:5]) == [
        "window_start",
        "window_end",
        "rows",
        "labelled",
        "labelled_share",
    ]
    assert str(table["window_start"].dt.tz) == "UTC"
    assert table["window_start"].iloc[0] == pd.Timestamp("2026-01-01", tz="UTC")
    assert table["rows"].sum() == 500
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["kind"] == "performance"
    assert data["window"] == "12h"
    assert data["windows"][0]["window_start"] == "2026-01-01T00:00:00+00:00"
    assert data["windows"][0]["accuracy"] == pytest.approx(table["accuracy"].iloc[0])
    assert data["checks"][0]["metric"] == "accuracy"
    assert data["passed"] == report.passed
    untimed = performance(frame.drop(columns="time"), score_column="score")
    assert len(untimed.windows) == 1  # no time column, no window: one window without times
    assert untimed.to_pandas()["window_start"].isna().all()
    assert untimed.to_dict()["windows"][0]["window_start"] is None


def test_bad_input() -> None:
    frame = _binary_frame(n=200, seed=9)
    with pytest.raises(InvalidInput, match="no label column 'y'") as info:
        performance(frame, label_column="y")
    assert "join_feedback" in str(info.value)
    with pytest.raises(InvalidInput, match="no prediction column"):
        performance(frame.drop(columns="prediction"))
    with pytest.raises(InvalidInput, match="No labelled rows"):
        performance(frame.assign(label=pd.array([None] * 200, dtype="Int64")))
    with pytest.raises(InvalidInput, match="did you mean 'accuracy'"):
        performance(frame, metrics=["acuracy"])
    with pytest.raises(InvalidInput, match="needs scores"):
        performance(frame.drop(columns="score"), metrics=["roc_auc"])
    with pytest.raises(InvalidInput, match="does not apply"):
        performance(
            frame.assign(label=frame["label"].astype(float) + 0.5, prediction=frame["score"]),
            metrics=["accuracy"],
        )
    with pytest.raises(InvalidInput, match="Invalid window"):
        performance(frame, window="1 month")
    with pytest.raises(InvalidInput, match="no time column"):
        performance(frame.drop(columns="time"), window="1h")
    with pytest.raises(InvalidInput, match="two classes"):
        performance(frame.assign(prediction=2), task="binary")
    with pytest.raises(InvalidInput, match="Unknown task"):
        performance(frame, task="ranking")
    with pytest.raises(InvalidInput, match="positive_class"):
        performance(frame, positive_class="yes")
    with pytest.raises(InvalidInput, match="Cannot read data of type list"):
        performance([1, 2, 3])
    with pytest.raises(InvalidInput, match="MetricSpec"):
        performance(frame, spec_metrics=[{"name": "accuracy"}])  # type: ignore[list-item]


def test_expected_calibration_error() -> None:
    # bins of width 0.5: (0, 0.5] holds 0.2, 0.4, 0.5 (labels 0, 1, 0); (0.5, 1] holds 0.6, 0.9
    # (labels 1, 1). ECE = 3/5 * |1/3 - 1.1/3| + 2/5 * |1 - 0.75| = 0.02 + 0.1 = 0.12
    value = expected_calibration_error([0, 1, 0, 1, 1], [0.2, 0.4, 0.5, 0.6, 0.9], n_bins=2)
    assert value == pytest.approx(0.12, abs=TOL)
    # string labels with a positive class, and a perfectly calibrated case
    assert expected_calibration_error(["n", "y"], [0.0, 1.0], positive_class="y") == 0.0
    # top-label: confidences 0.7 (right) and 0.6 (wrong), one bin: |1/2 - 0.65| = 0.15
    matrix = [[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]]
    assert expected_calibration_error(["a", "c"], matrix, n_bins=1, classes=["a", "b", "c"]) == (
        pytest.approx(0.15, abs=TOL)
    )
    rng = np.random.default_rng(10)
    prob = rng.random(5000)
    y = (rng.random(5000) < prob**1.3).astype(int)
    for bins in (5, 10, 15):
        assert expected_calibration_error(y, prob, n_bins=bins) == pytest.approx(
            _ece_reference(y, prob, bins), abs=TOL
        )
    with pytest.raises(InvalidInput, match=r"\[0, 1\]"):
        expected_calibration_error([0, 1], [0.5, 1.5])
    with pytest.raises(InvalidInput, match="shape"):
        expected_calibration_error([0, 1], [0.5])


# ---- estimated performance without labels ----------------------------------------------------
def _sigmoid(x: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-x))


def _population(n: int, seed: int, spread: float = 1.0) -> pd.DataFrame:
    """Rows whose true P(y=1|x) is sigmoid(2x); the model's score sigmoid(3x) is overconfident.

    ``spread`` < 1 shifts the inputs towards the decision boundary (covariate shift), where
    the model is less accurate; P(y|x) does not change.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, spread, n)
    label = (rng.random(n) < _sigmoid(2 * x)).astype(int)
    score = _sigmoid(3 * x)
    return pd.DataFrame({"label": label, "score": score, "prediction": (score >= 0.5).astype(int)})


def _realised(frame: pd.DataFrame) -> dict[str, float]:
    y, p, s = frame["label"], frame["prediction"], frame["score"]
    return {
        "accuracy": skm.accuracy_score(y, p),
        "precision": skm.precision_score(y, p),
        "recall": skm.recall_score(y, p),
        "f1": skm.f1_score(y, p),
        "roc_auc": skm.roc_auc_score(y, s),
    }


def test_expected_auc_is_the_weighted_roc_auc() -> None:
    rng = np.random.default_rng(11)
    score = np.round(rng.random(500), 2)  # with ties
    p = rng.random(500)
    doubled = np.r_[np.ones(500), np.zeros(500)]
    expected = skm.roc_auc_score(doubled, np.r_[score, score], sample_weight=np.r_[p, 1 - p])
    assert _expected_auc(score, p) == pytest.approx(expected, abs=TOL)


def test_cbpe_estimate_is_close_to_the_realised_metrics() -> None:
    reference = _population(20_000, seed=12)
    current = _population(20_000, seed=13)
    result = estimate_performance(reference, current.drop(columns="label"), score_column="score")
    assert result.task == "binary"
    assert result.metrics == ("accuracy", "precision", "recall", "f1", "roc_auc")
    assert len(result.windows) == 1
    window = result.windows[0]
    assert window.rows == 20_000
    for name, value in _realised(current).items():
        assert window.metrics[name] == pytest.approx(value, abs=0.02), name
    for name, value in _realised(reference).items():
        assert result.reference_metrics[name] == pytest.approx(value, abs=TOL)
        assert result.reference_estimate[name] == pytest.approx(value, abs=0.01)
    matrix = np.asarray(window.confusion_matrix)  # rows: true 0, 1; columns: predicted 0, 1
    assert matrix.sum() == pytest.approx(20_000)
    predicted = current["prediction"].to_numpy()
    assert matrix.sum(axis=0) == pytest.approx([np.sum(predicted == 0), np.sum(predicted == 1)])
    realised = skm.confusion_matrix(current["label"], current["prediction"])
    assert np.abs(matrix - realised).max() / 20_000 < 0.02
    assert result.assumptions == CBPE_ASSUMPTIONS
    assert all("outside the reference's range" in note for note in result.notes)  # a few


def test_cbpe_tracks_a_covariate_shift() -> None:
    reference = _population(20_000, seed=14)
    before, after = _population(10_000, seed=15), _population(10_000, seed=16, spread=0.35)
    current = pd.concat([before, after], ignore_index=True)
    current["time"] = pd.to_datetime(T0 + np.repeat([0, DAY], 10_000), unit="ms", utc=True)
    result = estimate_performance(
        reference,
        current.drop(columns="label"),
        window="1d",
        score_column="score",
        spec_metrics=[MetricSpec(name="accuracy", threshold=0.7)],
    )
    first, second = _realised(before), _realised(after)
    assert first["accuracy"] - second["accuracy"] > 0.1  # the shift really hurts
    for window, realised in zip(result.windows, (first, second), strict=True):
        for name in ("accuracy", "precision", "recall", "f1"):
            assert window.metrics[name] == pytest.approx(realised[name], abs=0.025), name
    assert [c.passed for c in result.checks] == [True, False]
    assert result.checks[1].estimated
    assert "(estimated)" in result.checks[1].reason
    assert not result.passed
    table = result.to_pandas()
    assert list(table["rows"]) == [10_000, 10_000]
    assert {"expected_tp", "expected_fp", "expected_fn", "expected_tn"} <= set(table.columns)
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["method"] == "cbpe"
    assert data["calibration"] == "isotonic"
    assert data["assumptions"] == list(CBPE_ASSUMPTIONS)
    assert data["windows"][1]["accuracy"] == pytest.approx(result.windows[1].metrics["accuracy"])
    assert len(data["windows"][0]["confusion_matrix"]) == 2


def test_cbpe_multiclass_and_derived_predictions() -> None:
    rng = np.random.default_rng(17)

    def population(n: int, shift: float) -> pd.DataFrame:
        logits = rng.normal(0, 1.5, size=(n, 3)) + np.array([shift, 0, 0])
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        label = (proba.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)  # drawn from proba
        return pd.DataFrame(
            {"label": label, "p0": proba[:, 0], "p1": proba[:, 1], "p2": proba[:, 2]}
        )

    reference, current = population(20_000, 0.0), population(20_000, 1.0)
    result = estimate_performance(
        reference,
        current.drop(columns="label"),
        score_column=["p0", "p1", "p2"],
        prediction_column=None,
    )
    assert result.task == "multiclass"
    assert result.classes == (0, 1, 2)
    proba = current[["p0", "p1", "p2"]].to_numpy()
    pred = proba.argmax(axis=1)
    realised = {
        "accuracy": skm.accuracy_score(current["label"], pred),
        "precision": skm.precision_score(current["label"], pred, average="macro"),
        "recall": skm.recall_score(current["label"], pred, average="macro"),
        "f1": skm.f1_score(current["label"], pred, average="macro"),
        "roc_auc": skm.roc_auc_score(current["label"], proba, multi_class="ovr"),
    }
    for name, value in realised.items():
        assert result.windows[0].metrics[name] == pytest.approx(value, abs=0.02), name
    assert np.asarray(result.windows[0].confusion_matrix).shape == (3, 3)


def test_cbpe_bad_input_and_notes() -> None:
    reference = _population(400, seed=18)
    current = _population(400, seed=19, spread=3.0).drop(columns="label")
    result = estimate_performance(reference, current, score_column="score")
    notes = " ".join(result.notes)
    assert "only 400 labelled rows" in notes
    assert "outside the reference's range" in notes
    with pytest.raises(InvalidInput, match="no scores"):
        estimate_performance(reference.drop(columns="score"), current)
    with pytest.raises(InvalidInput, match="without labels"):
        estimate_performance(reference, current, score_column="score", metrics=["log_loss"])
    with pytest.raises(InvalidInput, match="classifiers only"):
        estimate_performance(
            reference.assign(label=reference["score"] * 3.3),
            current,
            score_column="score",
            task="regression",
        )
    with pytest.raises(InvalidInput, match="no labelled rows"):
        estimate_performance(reference.assign(label=np.nan), current, score_column="score")
    with pytest.raises(InvalidInput, match="not classes"):
        estimate_performance(reference, current.assign(prediction=7), score_column="score")
