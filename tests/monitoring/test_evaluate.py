"""One window's evaluation: every check's metrics and reports, skipped checks and options.

The data is scikit-learn's breast-cancer set: a logistic regression is trained on a shuffled
first part (the reference, profiled with its predictions); the rest is the window, with the
model's predictions, scores and the true labels.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cycleml.errors import InvalidInput
from cycleml.monitoring import (
    CHECKS,
    MonitorConfig,
    ReferenceProfile,
    WindowResult,
    evaluate_window,
    expected_calibration_error,
    reference,
)
from cycleml.monitoring._evaluate import flat_summary

NUMERIC = ["radius", "perimeter", "area", "texture", "smoothness"]
INPUTS = [*NUMERIC, "band", "group"]
N_REFERENCE = 300


def _band(radius: pd.Series) -> pd.Series:
    return pd.cut(radius, [0, 12, 15, 100], labels=["small", "medium", "large"]).astype(str)


def _data() -> tuple[pd.DataFrame, np.ndarray, Any]:
    raw = load_breast_cancer(as_frame=True)
    names = ["mean radius", "mean perimeter", "mean area", "mean texture", "mean smoothness"]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(raw.data))
    frame = raw.data[names].set_axis(NUMERIC, axis=1).iloc[order].reset_index(drop=True)
    labels = raw.target.to_numpy()[order].astype(np.int64)
    frame["band"] = _band(frame["radius"])
    frame["group"] = rng.choice(["A", "B"], len(frame))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(frame[NUMERIC].iloc[:N_REFERENCE], labels[:N_REFERENCE])
    return frame, labels, model


FRAME, LABELS, MODEL = _data()
REFERENCE = FRAME.iloc[:N_REFERENCE].assign(
    prediction=MODEL.predict(FRAME[NUMERIC].iloc[:N_REFERENCE])
)
PROFILE = reference(REFERENCE)


def _window(
    shift: float = 0.0, *, labels: bool = True, extra: dict[str, Any] | None = None
) -> pa.Table:
    """The rows after the reference, scored by the model; ``shift`` in reference std units."""
    rows = FRAME.iloc[N_REFERENCE:].reset_index(drop=True).copy()
    for name in NUMERIC:
        rows[name] = rows[name] + shift * REFERENCE[name].std()
    rows["band"] = _band(rows["radius"])
    rows["prediction"] = MODEL.predict(rows[NUMERIC])
    rows["score"] = MODEL.predict_proba(rows[NUMERIC])[:, 1]
    if labels:
        rows["label"] = LABELS[N_REFERENCE:]
    for name, values in (extra or {}).items():
        rows[name] = values
    return pa.Table.from_pandas(rows, preserve_index=False)


WINDOW = _window()
# Every check but the label-free estimate, which needs calibration data (tested below).
CORE_CHECKS = tuple(check for check in CHECKS if check != "estimated_performance")
ALL = MonitorConfig(checks=CORE_CHECKS)


def _run(
    table: pa.Table = WINDOW,
    config: MonitorConfig = ALL,
    *,
    profile: ReferenceProfile | None = PROFILE,
    sensitive: Sequence[str] = ("group",),
    row_history: Sequence[int] = (),
) -> WindowResult:
    result = evaluate_window(
        table, config, profile=profile, sensitive=sensitive, row_history=row_history
    )
    # every report is JSON-ready, whatever ran
    json.dumps(result.reports, allow_nan=False)
    assert result.rows == table.num_rows
    assert all(isinstance(v, float) for v in result.values.values())
    return result


def _with(table: pa.Table, name: str, values: Any) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, pa.array(values))


# ---- the setup -----------------------------------------------------------------------------


def test_the_reference_profile() -> None:
    kinds = {name: column.kind for name, column in PROFILE.columns.items()}
    assert kinds == {
        **dict.fromkeys(NUMERIC, "numeric"),
        "band": "categorical",
        "group": "categorical",
        "prediction": "categorical",  # two classes
    }


# ---- every check ---------------------------------------------------------------------------


def _expected_names() -> set[str]:
    names = {
        "drift.share",
        "drift.drifted",
        "drift.number_drifted",
        *(f"drift.{c}" for c in INPUTS),
        "prediction_drift.statistic",
        "prediction_drift.drifted",
        "multivariate.statistic",
        "multivariate.drifted",
        "quality.issues",
        "quality.rows",
        "quality.schema_changes",
        *(f"quality.{c}.missing_rate" for c in INPUTS),
        *(f"quality.{c}.out_of_range" for c in NUMERIC),
        "quality.band.unseen_share",
        "quality.group.unseen_share",
        "performance.labelled",
        *(
            f"performance.{m}"
            for m in (
                "accuracy",
                "precision",
                "recall",
                "f1",
                "roc_auc",
                "log_loss",
                "calibration_error",
            )
        ),
    }
    for measure in (
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
    ):
        names.add(f"fairness.group.{measure}")
    return names


def test_every_check_produces_its_documented_metrics() -> None:
    result = _run()
    assert result.errors == {}
    assert set(result.reports) == set(CORE_CHECKS)
    assert set(result.values) == _expected_names()
    # nothing but the inputs is tested for drift or quality
    for name in ("prediction", "score", "label"):
        assert f"drift.{name}" not in result.values
        assert f"quality.{name}.missing_rate" not in result.values
    assert [c["column"] for c in result.reports["drift"]["columns"]] == INPUTS
    assert result.values["quality.rows"] == WINDOW.num_rows
    assert result.values["performance.labelled"] == WINDOW.num_rows
    for name in ("drift.drifted", "prediction_drift.drifted", "multivariate.drifted"):
        assert result.values[name] in (0.0, 1.0)


def test_a_window_like_the_reference_does_not_drift() -> None:
    result = _run(config=MonitorConfig(checks=("drift", "prediction_drift", "multivariate")))
    assert result.values["drift.share"] == 0.0
    assert result.values["drift.drifted"] == 0.0
    assert result.values["drift.number_drifted"] == 0.0
    assert result.values["prediction_drift.drifted"] == 0.0
    assert result.values["multivariate.drifted"] == 0.0


def test_drift_values_mirror_the_report() -> None:
    result = _run(config=MonitorConfig(checks=("drift",)))
    report = result.reports["drift"]
    assert result.values["drift.share"] == report["share"]
    assert result.values["drift.number_drifted"] == report["number_drifted"]
    assert result.values["drift.drifted"] == float(report["drifted"])
    for column in report["columns"]:
        assert result.values[f"drift.{column['column']}"] == column["statistic"]
    assert {c["column"]: c["method"] for c in report["columns"]} == {
        **dict.fromkeys(NUMERIC, "ks"),
        "band": "chi_square",
        "group": "z",
    }


def test_a_shifted_window_raises_the_drift_share() -> None:
    clean = _run()
    shifted = _run(_window(shift=2.0))
    assert shifted.values["drift.share"] > clean.values["drift.share"]
    assert shifted.values["drift.number_drifted"] >= len(NUMERIC)
    assert shifted.values["drift.share"] >= len(NUMERIC) / len(INPUTS)
    assert shifted.values["drift.drifted"] == 1.0
    for name in NUMERIC:
        assert shifted.values[f"drift.{name}"] > 0.5  # KS statistic
    drifted = {c["column"] for c in shifted.reports["drift"]["columns"] if c["drifted"]}
    assert set(NUMERIC) <= drifted
    assert "group" not in drifted
    # bigger tumours: the model predicts malignant (0) far more often
    assert shifted.values["prediction_drift.drifted"] == 1.0
    assert shifted.values["multivariate.drifted"] == 1.0
    # the shifted values leave the reference range
    for name in NUMERIC:
        assert (
            shifted.values[f"quality.{name}.out_of_range"]
            > clean.values[f"quality.{name}.out_of_range"]
        )
    assert shifted.values["quality.issues"] > clean.values["quality.issues"]
    summary = flat_summary(shifted)
    assert set(NUMERIC) <= set(summary["drifted_columns"])
    assert summary["quality_issues"] == shifted.reports["quality"]["issues"][:20]
    assert summary["errors"] == {}


def test_multivariate_sees_a_broken_correlation_that_drift_misses() -> None:
    rng = np.random.default_rng(1)
    scrambled = _with(WINDOW, "perimeter", rng.permutation(WINDOW.column("perimeter").to_numpy()))
    config = MonitorConfig(checks=("drift", "multivariate"))
    clean, broken = _run(config=config), _run(scrambled, config)
    assert broken.values["drift.share"] == 0.0  # every column's own distribution is unchanged
    assert broken.values["multivariate.drifted"] == 1.0
    assert broken.values["multivariate.statistic"] > clean.values["multivariate.statistic"]
    report = broken.reports["multivariate"]
    assert report["statistic"] == broken.values["multivariate.statistic"]
    assert report["method"] == "pca_reconstruction"
    assert set(report["columns"]) == set(NUMERIC)


def test_prediction_drift_values_mirror_the_report() -> None:
    result = _run(config=MonitorConfig(checks=("prediction_drift",)))
    report = result.reports["prediction_drift"]
    assert report["column"] == "prediction"
    assert report["kind"] == "categorical"
    assert result.values["prediction_drift.statistic"] == report["statistic"]
    assert result.values["prediction_drift.drifted"] == float(report["drifted"])
    # every prediction flipped to the majority class: drifted
    flipped = _with(WINDOW, "prediction", np.ones(WINDOW.num_rows, dtype=np.int64))
    moved = _run(flipped, MonitorConfig(checks=("prediction_drift",)))
    assert moved.values["prediction_drift.drifted"] == 1.0


# ---- quality -------------------------------------------------------------------------------


def test_quality_values_follow_the_window() -> None:
    n = WINDOW.num_rows
    radius = WINDOW.column("radius").to_numpy().copy()
    radius[:27] = np.nan  # ~10% missing
    texture = WINDOW.column("texture").to_numpy().copy()
    texture[:20] = 1000.0  # far outside the reference range
    band = WINDOW.column("band").to_pylist()
    band[:30] = ["huge"] * 30
    window = _with(_with(_with(WINDOW, "radius", radius), "texture", texture), "band", band)
    result = _run(window, MonitorConfig(checks=("quality",), columns=tuple(INPUTS)))
    values = result.values
    assert values["quality.radius.missing_rate"] == pytest.approx(27 / n)
    assert values["quality.texture.out_of_range"] == pytest.approx(20 / n)
    assert values["quality.band.unseen_share"] == pytest.approx(30 / n)
    assert values["quality.group.unseen_share"] == 0.0
    assert values["quality.schema_changes"] == 0.0
    issues = result.reports["quality"]["issues"]
    assert values["quality.issues"] == len(issues) == 3
    assert result.reports["quality"]["ok"] is False
    # the thresholds come from config.quality
    lenient = MonitorConfig(
        checks=("quality",),
        columns=tuple(INPUTS),
        quality={"max_missing_change": 0.5, "max_out_of_range": 0.5, "max_unseen_share": 0.5},
    )
    relaxed = _run(window, lenient)
    assert relaxed.values["quality.issues"] == 0.0
    assert relaxed.reports["quality"]["thresholds"]["max_missing_change"] == 0.5


def test_quality_row_history_is_passed_on() -> None:
    config = MonitorConfig(checks=("quality",), columns=tuple(INPUTS))
    usual = _run(config=config, row_history=[270, 265, 275])
    assert usual.reports["quality"]["row_count"]["anomalous"] is False
    assert usual.values["quality.issues"] == 0.0
    odd = _run(config=config, row_history=[5000, 5100, 4900])
    assert odd.reports["quality"]["row_count"]["anomalous"] is True
    assert odd.values["quality.issues"] == 1.0
    assert _run(config=config).reports["quality"]["row_count"] is None


def test_quality_reports_schema_changes_of_the_inputs() -> None:
    window = WINDOW.drop_columns(["smoothness"]).append_column(
        "extra", pa.array(np.zeros(WINDOW.num_rows))
    )
    window = _with(window, "group", np.arange(window.num_rows))
    result = _run(window, MonitorConfig(checks=("quality",)))
    schema = result.reports["quality"]["schema"]
    assert "smoothness" in schema["removed"]
    assert schema["added"] == ["extra"]
    assert [r[0] for r in schema["retyped"]] == ["group"]
    assert result.values["quality.schema_changes"] >= 3.0


def test_quality_of_a_clean_window_has_no_schema_change() -> None:
    result = _run(config=MonitorConfig(checks=("quality",)))
    assert result.reports["quality"]["schema"]["removed"] == []
    assert result.values["quality.schema_changes"] == 0.0
    assert result.values["quality.issues"] == 0.0


def test_log_keys_are_not_inputs() -> None:
    n = WINDOW.num_rows
    extra = {
        "request_id": [f"r{i}" for i in range(n)],
        "model_version": ["1"] * n,
        "latency_ms": np.full(n, 3.0),
    }
    result = _run(_window(extra=extra), MonitorConfig(checks=("drift", "quality")))
    assert [c["column"] for c in result.reports["drift"]["columns"]] == INPUTS
    assert result.reports["quality"]["schema"]["added"] == []
    assert not any("request_id" in k or "latency_ms" in k for k in result.values)


# ---- performance and fairness --------------------------------------------------------------


def test_performance_values_match_scikit_learn() -> None:
    result = _run(config=MonitorConfig(checks=("performance",)))
    labels = WINDOW.column("label").to_numpy()
    predicted = WINDOW.column("prediction").to_numpy()
    score = WINDOW.column("score").to_numpy()
    values = result.values
    assert values["performance.labelled"] == len(labels)
    assert values["performance.accuracy"] == pytest.approx(skm.accuracy_score(labels, predicted))
    assert values["performance.precision"] == pytest.approx(skm.precision_score(labels, predicted))
    assert values["performance.recall"] == pytest.approx(skm.recall_score(labels, predicted))
    assert values["performance.f1"] == pytest.approx(skm.f1_score(labels, predicted))
    assert values["performance.roc_auc"] == pytest.approx(skm.roc_auc_score(labels, score))
    assert values["performance.log_loss"] == pytest.approx(skm.log_loss(labels, score))
    assert values["performance.calibration_error"] == pytest.approx(
        expected_calibration_error(labels, score)
    )
    assert values["performance.accuracy"] > 0.85
    assert result.reports["performance"]["kind"] == "performance"


def test_performance_options_come_from_the_config() -> None:
    config = MonitorConfig(checks=("performance",), performance={"metrics": ["accuracy", "f1"]})
    result = _run(config=config)
    assert set(result.values) == {
        "performance.labelled",
        "performance.accuracy",
        "performance.f1",
    }


def _rates(group: np.ndarray, label: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    selection, tpr, fpr = [], [], []
    for value in np.unique(group):
        g = group == value
        selection.append(np.mean(pred[g] == 1))
        tpr.append(np.mean(pred[g & (label == 1)] == 1))
        fpr.append(np.mean(pred[g & (label == 0)] == 1))
    return {
        "demographic_parity_difference": max(selection) - min(selection),
        "demographic_parity_ratio": min(selection) / max(selection),
        "equalized_odds_difference": max(max(tpr) - min(tpr), max(fpr) - min(fpr)),
    }


def test_fairness_values_by_hand() -> None:
    result = _run(config=MonitorConfig(checks=("fairness",)))
    expected = _rates(
        WINDOW.column("group").to_numpy(zero_copy_only=False),
        WINDOW.column("label").to_numpy(),
        WINDOW.column("prediction").to_numpy(),
    )
    for measure, value in expected.items():
        assert result.values[f"fairness.group.{measure}"] == pytest.approx(value)
    assert result.reports["fairness"]["kind"] == "fairness"
    assert [a["attribute"] for a in result.reports["fairness"]["attributes"]] == ["group"]


def test_fairness_attributes_from_the_config() -> None:
    config = MonitorConfig(checks=("fairness",), fairness={"sensitive": ["group"]})
    result = _run(config=config, sensitive=())
    assert result.errors == {}
    assert "fairness.group.demographic_parity_difference" in result.values
    # the config's attributes win over the project's
    both = MonitorConfig(checks=("fairness",), fairness={"sensitive": ["band"]})
    chosen = _run(config=both, sensitive=("group",))
    assert {k.split(".")[1] for k in chosen.values} == {"band"}


def test_partial_labels_use_only_the_labelled_rows() -> None:
    labels = WINDOW.column("label").to_pylist()
    kept = np.arange(len(labels)) % 3 != 0
    masked = [v if keep else None for v, keep in zip(labels, kept, strict=True)]
    window = _with(WINDOW, "label", pa.array(masked, pa.int64()))
    result = _run(window, MonitorConfig(checks=("performance", "fairness")))
    assert result.errors == {}
    assert result.values["performance.labelled"] == int(kept.sum())
    label = np.asarray(labels)[kept]
    predicted = WINDOW.column("prediction").to_numpy()[kept]
    assert result.values["performance.accuracy"] == pytest.approx(
        skm.accuracy_score(label, predicted)
    )
    expected = _rates(WINDOW.column("group").to_numpy(zero_copy_only=False)[kept], label, predicted)
    for measure, value in expected.items():
        assert result.values[f"fairness.group.{measure}"] == pytest.approx(value)
    assert result.reports["fairness"]["evaluated"] == int(kept.sum())


# ---- skipped checks ------------------------------------------------------------------------


def test_without_a_profile_the_profile_checks_are_skipped() -> None:
    result = _run(profile=None)
    for name in ("drift", "prediction_drift", "multivariate", "quality"):
        assert result.errors[name] == "the monitor has no reference profile"
        assert name not in result.reports
        assert not any(k.startswith(f"{name}.") for k in result.values)
    assert set(result.errors) == {"drift", "prediction_drift", "multivariate", "quality"}
    # performance and fairness need no reference
    assert set(result.reports) == {"performance", "fairness"}
    assert "performance.accuracy" in result.values
    assert "fairness.group.demographic_parity_difference" in result.values


@pytest.mark.parametrize("how", ["no_column", "all_null"])
def test_without_labels_performance_and_fairness_are_skipped(how: str) -> None:
    if how == "no_column":
        window = _window(labels=False)
    else:
        window = _with(WINDOW, "label", pa.nulls(WINDOW.num_rows, pa.int64()))
    result = _run(window)
    assert result.errors == {
        "performance": "no labels have arrived for this window yet",
        "fairness": "no labels have arrived for this window yet",
    }
    assert set(result.reports) == {"drift", "prediction_drift", "multivariate", "quality"}
    assert not any(k.startswith(("performance.", "fairness.")) for k in result.values)
    assert "drift.share" in result.values


def test_without_sensitive_attributes_fairness_is_skipped() -> None:
    result = _run(sensitive=())
    assert result.errors == {"fairness": "no sensitive attributes (set them in cycleml.yaml)"}
    assert "fairness" not in result.reports
    assert set(result.reports) == set(CORE_CHECKS) - {"fairness"}
    assert not any(k.startswith("fairness.") for k in result.values)
    assert "performance.accuracy" in result.values


def test_nothing_to_run_leaves_only_errors() -> None:
    result = _run(_window(labels=False), profile=None, sensitive=())
    assert result.values == {}
    assert result.reports == {}
    assert set(result.errors) == set(CORE_CHECKS)
    summary = flat_summary(result)
    assert summary == {"errors": result.errors}


def test_prediction_drift_needs_predictions_on_both_sides() -> None:
    config = MonitorConfig(checks=("prediction_drift", "drift"))
    no_predictions = _run(WINDOW.drop_columns(["prediction"]), config)
    assert "prediction column" in no_predictions.errors["prediction_drift"]
    assert "drift.share" in no_predictions.values
    inputs_only = reference(REFERENCE.drop(columns=["prediction"]))
    no_reference = _run(profile=inputs_only, config=config)
    assert "prediction column" in no_reference.errors["prediction_drift"]
    assert "drift.share" in no_reference.values


def test_drift_without_any_reference_column_in_the_window() -> None:
    outputs_only = WINDOW.select(["prediction", "score", "label"])
    result = _run(outputs_only, MonitorConfig(checks=("drift", "prediction_drift")))
    assert result.errors["drift"] == "none of the reference's columns is in the window"
    assert "prediction_drift.statistic" in result.values


def test_multivariate_needs_two_numeric_columns() -> None:
    config = MonitorConfig(checks=("drift", "multivariate"), columns=("radius", "band"))
    result = _run(config=config)
    assert "two varying numeric columns" in result.errors["multivariate"]
    assert "multivariate" not in result.reports
    assert set(result.values) == {
        "drift.share",
        "drift.drifted",
        "drift.number_drifted",
        "drift.radius",
        "drift.band",
    }


# ---- options -------------------------------------------------------------------------------


def test_config_columns_restrict_the_checks() -> None:
    config = MonitorConfig(checks=("drift", "multivariate", "quality"), columns=("radius", "area"))
    result = _run(_window(shift=2.0), config)
    assert result.errors == {}
    assert [c["column"] for c in result.reports["drift"]["columns"]] == ["radius", "area"]
    assert {k for k in result.values if k.startswith("drift.")} == {
        "drift.share",
        "drift.drifted",
        "drift.number_drifted",
        "drift.radius",
        "drift.area",
    }
    assert result.values["drift.share"] == 1.0
    assert result.reports["multivariate"]["columns"] == ["radius", "area"]
    assert [c["column"] for c in result.reports["quality"]["columns"]] == ["radius", "area"]
    assert result.values["quality.schema_changes"] == 0.0


def test_drift_method_from_the_config() -> None:
    result = _run(config=MonitorConfig(checks=("drift",), drift={"method": "psi"}))
    methods = {c["method"] for c in result.reports["drift"]["columns"]}
    assert methods == {"psi"}
    for column in result.reports["drift"]["columns"]:
        assert column["p_value"] is None
        assert result.values[f"drift.{column['column']}"] == column["statistic"]
        assert column["statistic"] >= 0.0
    shifted = _run(_window(shift=2.0), MonitorConfig(checks=("drift",), drift={"method": "psi"}))
    assert shifted.values["drift.share"] >= len(NUMERIC) / len(INPUTS)
    for name in NUMERIC:
        assert shifted.values[f"drift.{name}"] > result.values[f"drift.{name}"]


def test_drift_share_threshold_from_the_config() -> None:
    shifted = _window(shift=2.0)
    strict = _run(shifted, MonitorConfig(checks=("drift",), drift={"drift_share": 0.5}))
    lax = _run(shifted, MonitorConfig(checks=("drift",), drift={"drift_share": 0.99}))
    assert strict.values["drift.share"] == lax.values["drift.share"] < 0.99
    assert strict.values["drift.drifted"] == 1.0
    assert lax.values["drift.drifted"] == 0.0
    assert lax.reports["drift"]["drift_share_threshold"] == 0.99


def test_bad_drift_options_are_refused() -> None:
    with pytest.raises(InvalidInput):
        _run(config=MonitorConfig(checks=("drift",), drift={"method": "nope"}))


def test_a_stored_profile_gives_the_same_metrics() -> None:
    stored = ReferenceProfile.from_json(PROFILE.to_json())
    direct, restored = _run(), _run(profile=stored)
    assert restored.values.keys() == direct.values.keys()
    for name, value in direct.values.items():
        other = restored.values[name]
        assert (math.isnan(value) and math.isnan(other)) or other == pytest.approx(value), name


def test_estimated_performance_calibrates_on_labelled_reference_data(tmp_path: Path) -> None:
    calibration = FRAME.iloc[:N_REFERENCE].assign(
        label=LABELS[:N_REFERENCE],
        prediction=MODEL.predict(FRAME[NUMERIC].iloc[:N_REFERENCE]),
        score=MODEL.predict_proba(FRAME[NUMERIC].iloc[:N_REFERENCE])[:, 1],
    )
    path = tmp_path / "calibration.parquet"
    calibration.to_parquet(path)
    config = MonitorConfig(
        checks=("estimated_performance",),
        estimated_performance={"reference": str(path), "metrics": ["accuracy"]},
    )
    result = _run(_window(labels=False), config)
    assert result.errors == {}
    realised = float((WINDOW.column("prediction").to_numpy() == LABELS[N_REFERENCE:]).mean())
    assert abs(result.values["estimated.accuracy"] - realised) < 0.05
    assert result.reports["estimated_performance"]["method"] == "cbpe"


def test_estimated_performance_without_calibration_data_is_refused() -> None:
    with pytest.raises(InvalidInput, match="needs labelled, scored reference data"):
        MonitorConfig(checks=("estimated_performance",))
