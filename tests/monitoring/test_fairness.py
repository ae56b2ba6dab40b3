"""Fairness: per-group rates and fairlearn's disparity metrics, checked by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from sklearn import metrics as skm

from cycleml.errors import InvalidInput
from cycleml.monitoring import FAIRNESS_METRICS, FairnessReport, fairness
from cycleml.serving import PREDICTION_LOG_SCHEMA, join_feedback
from cycleml.spec import MetricRegistry, MetricSpec

TOL = 1e-12

# Group A: (label, prediction) = (1,1) (1,0) (0,1) (0,0) (1,1)
#   selected 3/5 = 0.6; TP 2, FN 1 -> TPR 2/3; FP 1, TN 1 -> FPR 1/2;
#   precision 2/3; accuracy (2 + 1) / 5 = 0.6
# Group B: (1,0) (0,0) (0,0) (1,1) (0,0)
#   selected 1/5 = 0.2; TP 1, FN 1 -> TPR 1/2; FP 0, TN 3 -> FPR 0;
#   precision 1/1; accuracy (1 + 3) / 5 = 0.8
# demographic parity difference 0.6 - 0.2 = 0.4, ratio 0.2 / 0.6 = 1/3
# TPR difference 2/3 - 1/2 = 1/6, FPR difference 1/2 - 0 = 1/2 -> equalized odds 1/2
HAND = pd.DataFrame(
    {
        "group": ["A"] * 5 + ["B"] * 5,
        "label": [1, 1, 0, 0, 1, 1, 0, 0, 1, 0],
        "prediction": [1, 0, 1, 0, 1, 0, 0, 0, 1, 0],
    }
)


def _group(report: FairnessReport, attribute: str, value: object) -> dict[str, float]:
    for group in report.attribute(attribute).groups:
        if group.group == value:
            return {
                "count": group.count,
                "selection_rate": group.selection_rate,
                "tpr": group.tpr,
                "fpr": group.fpr,
                "precision": group.precision,
                "accuracy": group.accuracy,
            }
    raise AssertionError(f"no group {value!r}")


def test_hand_computed_example() -> None:
    report = fairness(HAND, sensitive="group")
    assert [e.attribute for e in report.attributes] == ["group"]
    assert _group(report, "group", "A") == pytest.approx(
        {
            "count": 5,
            "selection_rate": 0.6,
            "tpr": 2 / 3,
            "fpr": 0.5,
            "precision": 2 / 3,
            "accuracy": 0.6,
        },
        abs=TOL,
    )
    assert _group(report, "group", "B") == pytest.approx(
        {
            "count": 5,
            "selection_rate": 0.2,
            "tpr": 0.5,
            "fpr": 0.0,
            "precision": 1.0,
            "accuracy": 0.8,
        },
        abs=TOL,
    )
    assert report.demographic_parity_difference == pytest.approx(0.4, abs=TOL)
    assert report.demographic_parity_ratio == pytest.approx(1 / 3, abs=TOL)
    entry = report.attribute("group")
    assert entry.true_positive_rate_difference == pytest.approx(1 / 6, abs=TOL)
    assert entry.false_positive_rate_difference == pytest.approx(0.5, abs=TOL)
    assert report.equalized_odds_difference == pytest.approx(0.5, abs=TOL)
    assert entry.value("equal_opportunity_difference") == pytest.approx(1 / 6, abs=TOL)
    # overall: selected 4/10; TP 3 of 5 positives; FP 1 of 5 negatives; accuracy 7/10
    assert report.overall.selection_rate == pytest.approx(0.4, abs=TOL)
    assert report.overall.tpr == pytest.approx(0.6, abs=TOL)
    assert report.overall.fpr == pytest.approx(0.2, abs=TOL)
    assert report.overall.precision == pytest.approx(0.75, abs=TOL)
    assert report.overall.accuracy == pytest.approx(0.7, abs=TOL)
    assert report.rows == report.evaluated == 10
    assert report.checks == ()
    assert report.passed


def test_string_outcomes_and_other_table_types() -> None:
    words = HAND.assign(
        label=HAND["label"].map({1: "approved", 0: "denied"}),
        prediction=HAND["prediction"].map({1: "approved", 0: "denied"}),
    )
    for data in (words, pa.Table.from_pandas(words), pl.from_pandas(words)):
        report = fairness(data, sensitive="group", positive_class="approved")
        assert report.demographic_parity_difference == pytest.approx(0.4, abs=TOL)
        assert report.equalized_odds_difference == pytest.approx(0.5, abs=TOL)
        assert report.positive_class == "approved"


def test_group_without_positives_has_nan_tpr() -> None:
    # group C: (0,1) (0,0): no positive label -> TPR undefined (NaN); FPR 1/2; selected 1/2
    data = pd.concat(
        [HAND, pd.DataFrame({"group": ["C", "C"], "label": [0, 0], "prediction": [1, 0]})]
    )
    report = fairness(data, sensitive="group")
    c = _group(report, "group", "C")
    assert math.isnan(c["tpr"])
    assert c["fpr"] == 0.5
    assert c["precision"] == 0.0  # TP 0 of 1 predicted positive
    assert c["selection_rate"] == 0.5
    entry = report.attribute("group")
    # the TPR difference skips C (2/3 - 1/2); the FPR difference includes it (1/2 - 0)
    assert entry.true_positive_rate_difference == pytest.approx(1 / 6, abs=TOL)
    assert entry.false_positive_rate_difference == pytest.approx(0.5, abs=TOL)
    assert report.equalized_odds_difference == pytest.approx(0.5, abs=TOL)
    assert report.demographic_parity_difference == pytest.approx(0.6 - 0.2, abs=TOL)
    frame = report.to_pandas()
    assert frame.loc[frame["group"] == "C", "tpr"].isna().all()
    assert (
        json.loads(json.dumps(report.to_dict(), allow_nan=False))["attributes"][0]["groups"][2][
            "tpr"
        ]
        is None
    )


def test_one_group_and_nothing_selected() -> None:
    one = fairness(HAND.assign(group="A"), sensitive="group")
    assert len(one.attribute("group").groups) == 1
    assert one.demographic_parity_difference == 0.0
    assert one.demographic_parity_ratio == 1.0
    assert one.equalized_odds_difference == 0.0
    none = fairness(HAND.assign(prediction=0), sensitive="group")
    assert none.demographic_parity_difference == 0.0
    assert math.isnan(none.demographic_parity_ratio)  # 0 / 0, as fairlearn (pandas) gives
    assert none.equalized_odds_difference == 0.0  # every TPR and FPR is 0


def test_several_attributes_and_their_intersection() -> None:
    data = HAND.assign(age=["young", "old"] * 5)
    # A/young: rows 0, 2, 4 -> (1,1) (0,1) (1,1); A/old: rows 1, 3 -> (1,0) (0,0)
    # B/young: rows 6, 8 -> (0,0) (1,1);          B/old: rows 5, 7, 9 -> (1,0) (0,0) (0,0)
    report = fairness(data, sensitive=["group", "age"])
    assert [e.attribute for e in report.attributes] == ["group", "age", "group & age"]
    assert report.summary.attribute == "group & age"
    assert report.summary.columns == ("group", "age")
    groups = {g.group: g for g in report.summary.groups}
    assert set(groups) == {("A", "old"), ("A", "young"), ("B", "old"), ("B", "young")}
    assert groups[("A", "young")].count == 3
    assert groups[("A", "young")].selection_rate == pytest.approx(1.0, abs=TOL)
    assert groups[("A", "young")].fpr == 1.0
    assert groups[("A", "old")].selection_rate == 0.0
    assert groups[("B", "young")].selection_rate == 0.5
    assert groups[("B", "old")].selection_rate == 0.0
    assert math.isnan(groups[("B", "young")].fpr) is False
    # selection rates 1, 0, 0.5, 0 -> difference 1, ratio 0
    assert report.demographic_parity_difference == 1.0
    assert report.demographic_parity_ratio == 0.0
    # TPRs: A/young 2/2, A/old 0/1, B/young 1/1, B/old 0/1 -> 1; FPRs: 1, 0, 0, 0 -> 1
    assert report.equalized_odds_difference == 1.0
    # age alone: young = rows 0, 2, 4, 6, 8 -> selected 4/5; old -> 0/5
    assert report.attribute("age").demographic_parity_difference == pytest.approx(0.8, abs=TOL)
    assert [
        e.attribute
        for e in fairness(data, sensitive=["group", "age"], intersection=False).attributes
    ] == ["group", "age"]


def test_matches_scikit_learn_per_group_on_random_data() -> None:
    rng = np.random.default_rng(0)
    n = 5000
    data = pd.DataFrame(
        {
            "region": rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "label": rng.integers(0, 2, n),
            "prediction": rng.integers(0, 2, n),
        }
    )
    report = fairness(data, sensitive="region")
    rates = {}
    for name, rows in data.groupby("region"):
        y, p = rows["label"], rows["prediction"]
        expected = {
            "count": len(rows),
            "selection_rate": float(np.mean(p == 1)),
            "tpr": skm.recall_score(y, p),
            "fpr": 1 - skm.recall_score(y, p, pos_label=0),
            "precision": skm.precision_score(y, p),
            "accuracy": skm.accuracy_score(y, p),
        }
        assert _group(report, "region", name) == pytest.approx(expected, abs=TOL)
        rates[name] = expected
    selection = [r["selection_rate"] for r in rates.values()]
    tpr, fpr = [r["tpr"] for r in rates.values()], [r["fpr"] for r in rates.values()]
    assert report.demographic_parity_difference == pytest.approx(
        max(selection) - min(selection), abs=TOL
    )
    assert report.demographic_parity_ratio == pytest.approx(
        min(selection) / max(selection), abs=TOL
    )
    assert report.equalized_odds_difference == pytest.approx(
        max(max(tpr) - min(tpr), max(fpr) - min(fpr)), abs=TOL
    )
    assert [g.group for g in report.attribute("region").groups] == [
        "east",
        "north",
        "south",
        "west",
    ]


def test_threshold_checks() -> None:
    thresholds = {
        "demographic_parity_difference": 0.5,  # 0.4 <= 0.5: pass
        "demographic_parity_ratio": 0.8,  # 1/3 < 0.8: fail
        "equalized_odds_difference": 0.1,  # 0.5 > 0.1: fail
    }
    report = fairness(HAND, sensitive="group", thresholds=thresholds)
    verdicts = {c.metric: c.passed for c in report.checks}
    assert verdicts == {
        "demographic_parity_difference": True,
        "demographic_parity_ratio": False,
        "equalized_odds_difference": False,
    }
    ratio = next(c for c in report.checks if c.metric == "demographic_parity_ratio")
    assert ratio.direction == "maximize"
    assert ratio.threshold == 0.8
    assert ratio.value == pytest.approx(1 / 3)
    assert ratio.reason == "group: demographic_parity_ratio = 0.3333 < threshold 0.8 (maximize)"
    assert not report.passed
    assert [c.metric for c in report.failures] == [
        "demographic_parity_ratio",
        "equalized_odds_difference",
    ]

    # thresholds from the spec: fairness metrics registered as custom metrics
    registry = MetricRegistry()
    from cycleml.spec import MetricDef

    for name, direction in FAIRNESS_METRICS.items():
        registry.register(
            MetricDef(name, direction, "label", frozenset({"binary"}), lambda _: 0.0)  # type: ignore[arg-type]
        )
    specs = [
        MetricSpec.model_validate(
            {"name": "demographic_parity_difference", "threshold": 0.3, "applies_to": ["monitor"]},
            context={"metric_registry": registry},
        ),
        MetricSpec.model_validate(
            {"name": "equalized_odds_difference", "threshold": 0.1, "applies_to": ["train"]},
            context={"metric_registry": registry},
        ),  # not a monitoring threshold: ignored
        MetricSpec(name="accuracy", threshold=0.9),  # not a fairness metric: ignored
    ]
    report = fairness(
        HAND.assign(age=["young", "old"] * 5), sensitive=["group", "age"], thresholds=specs
    )
    assert [(c.attribute, c.metric, c.passed) for c in report.checks] == [
        ("group", "demographic_parity_difference", False),
        ("age", "demographic_parity_difference", False),
        ("group & age", "demographic_parity_difference", False),
    ]
    assert report.checks[0].direction == "minimize"


def test_predictions_without_labels() -> None:
    report = fairness(
        HAND.drop(columns="label"),
        sensitive="group",
        label_column=None,
        thresholds={"demographic_parity_difference": 0.5, "equalized_odds_difference": 0.1},
    )
    assert report.demographic_parity_difference == pytest.approx(0.4, abs=TOL)
    assert math.isnan(report.equalized_odds_difference)
    assert math.isnan(report.overall.tpr)
    assert [c.passed for c in report.checks] == [True, None]
    assert "needs labels" in report.checks[1].reason
    assert report.passed


def test_unlabelled_rows_and_missing_sensitive_values() -> None:
    data = pd.concat(
        [
            HAND,
            pd.DataFrame({"group": ["A", "B"], "label": [None, None], "prediction": [1, 1]}),
            pd.DataFrame({"group": [None, None], "label": [1, 0], "prediction": [1, 1]}),
        ],
        ignore_index=True,
    )
    data["label"] = data["label"].astype("Int64")
    report = fairness(data, sensitive="group")
    assert report.rows == 14
    assert report.evaluated == 12
    assert "2 rows without a label" in report.notes[0]
    assert [g.group for g in report.attribute("group").groups] == ["A", "B", None]
    missing = _group(report, "group", None)
    assert missing["count"] == 2
    assert missing["selection_rate"] == 1.0
    assert _group(report, "group", "A")["selection_rate"] == pytest.approx(0.6, abs=TOL)


def test_prediction_log_input() -> None:
    n = len(HAND)
    ids = [f"r{i}" for i in range(n)]
    log = pa.table(
        {
            "request_id": ids,
            "time": pa.array([0] * n, pa.timestamp("ms", tz="UTC")),
            "deployment": ["loans"] * n,
            "model_name": ["loans"] * n,
            "model_version": [1] * n,
            "arm": ["primary"] * n,
            "inputs": [json.dumps({"income": 10, "group": g}) for g in HAND["group"]],
            "outputs": [json.dumps({"prediction": int(p)}) for p in HAND["prediction"]],
            "latency_ms": [1.0] * n,
        },
        schema=PREDICTION_LOG_SCHEMA,
    )
    joined = join_feedback(log, pa.table({"request_id": ids, "label": HAND["label"].tolist()}))
    report = fairness(joined, sensitive="group")
    assert report.demographic_parity_difference == pytest.approx(0.4, abs=TOL)
    assert report.equalized_odds_difference == pytest.approx(0.5, abs=TOL)


def test_to_pandas_and_to_dict() -> None:
    report = fairness(
        HAND.assign(age=["young", "old"] * 5),
        sensitive=["group", "age"],
        thresholds={"demographic_parity_ratio": 0.5},
    )
    frame = report.to_pandas()
    assert list(frame.columns) == [
        "attribute",
        "group",
        "count",
        "selection_rate",
        "tpr",
        "fpr",
        "precision",
        "accuracy",
    ]
    assert len(frame) == 2 + 2 + 4
    assert frame["count"].groupby(frame["attribute"]).sum().tolist() == [10, 10, 10]
    summary = report.summary_frame()
    assert list(summary["attribute"]) == ["group", "age", "group & age"]
    assert summary.loc[0, "demographic_parity_difference"] == pytest.approx(0.4)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["kind"] == "fairness"
    assert data["positive_class"] == 1
    assert data["attributes"][0]["attribute"] == "group"
    assert data["attributes"][0]["demographic_parity_difference"] == pytest.approx(0.4)
    assert data["attributes"][2]["groups"][0]["group"] == ["A", "old"]
    assert data["equalized_odds_difference"] == report.equalized_odds_difference
    assert len(data["checks"]) == 3
    assert data["passed"] is False


def test_bad_input() -> None:
    with pytest.raises(InvalidInput, match="binary outcome"):
        fairness(HAND.assign(label=[0, 1, 2] * 3 + [0]), sensitive="group")
    with pytest.raises(InvalidInput, match="positive_class 'yes'"):
        fairness(HAND, sensitive="group", positive_class="yes")
    with pytest.raises(InvalidInput, match="positive_class 2"):
        fairness(HAND, sensitive="group", positive_class=2)
    with pytest.raises(InvalidInput, match="no input column 'race'"):
        fairness(HAND, sensitive="race")
    with pytest.raises(InvalidInput, match="no label column"):
        fairness(HAND.drop(columns="label"), sensitive="group")
    with pytest.raises(InvalidInput, match="at least one sensitive"):
        fairness(HAND, sensitive=[])
    with pytest.raises(InvalidInput, match="No rows to assess"):
        fairness(HAND.assign(label=pd.array([None] * 10, dtype="Int64")), sensitive="group")
    with pytest.raises(InvalidInput, match="Did you mean 'demographic_parity_ratio'"):
        fairness(HAND, sensitive="group", thresholds={"demographic_parity_ration": 0.8})
    with pytest.raises(InvalidInput, match="finite number"):
        fairness(HAND, sensitive="group", thresholds={"demographic_parity_ratio": math.nan})
    with pytest.raises(InvalidInput, match="mapping"):
        fairness(HAND, sensitive="group", thresholds=0.8)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="no attribute"):
        fairness(HAND, sensitive="group").attribute("age")
