"""Metric registry and computations, checked against scikit-learn on real data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.preprocessing import StandardScaler

from cycleml.errors import AlreadyExists, InvalidInput, InvalidState, NotFound, SpecError
from cycleml.spec import (
    DEFAULT_METRICS,
    MetricDef,
    MetricInputs,
    MetricRegistry,
    get_metric,
    list_metrics,
    parse_spec,
    register_metric,
)

REQUIRED = {
    "accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "log_loss",
    "average_precision", "mae", "mse", "rmse", "mape", "r2", "median_ae",
}  # fmt: skip


@pytest.fixture(scope="module")
def binary() -> dict[str, Any]:
    x, y = load_breast_cancer(return_X_y=True)
    # two weak features (mean texture, mean smoothness) so no metric is trivially perfect
    x = StandardScaler().fit_transform(x[:, [1, 4]])
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    train, test = idx[:350], idx[350:]
    model = LogisticRegression(C=0.05, max_iter=2000).fit(x[train], y[train])
    return {
        "y": y[test],
        "pred": model.predict(x[test]),
        "proba": model.predict_proba(x[test]),
    }


@pytest.fixture(scope="module")
def multiclass() -> dict[str, Any]:
    x, y = load_iris(return_X_y=True)
    rng = np.random.default_rng(1)
    idx = rng.permutation(len(y))
    train, test = idx[:90], idx[90:]
    model = LogisticRegression(C=0.1, max_iter=2000).fit(x[train], y[train])
    return {"y": y[test], "pred": model.predict(x[test]), "proba": model.predict_proba(x[test])}


@pytest.fixture(scope="module")
def regression() -> dict[str, Any]:
    x, y = load_diabetes(return_X_y=True)
    model = LinearRegression().fit(x[:300], y[:300])
    return {"y": y[300:], "pred": model.predict(x[300:])}


def test_required_metrics_are_registered() -> None:
    assert set(list_metrics()) >= REQUIRED
    assert list_metrics() == sorted(list_metrics())
    for name in list_metrics():
        assert get_metric(name).name == name


def test_natural_directions_and_kinds() -> None:
    assert get_metric("roc_auc").direction == "maximize"
    assert get_metric("r2").direction == "maximize"
    for name in ("log_loss", "mae", "mse", "rmse", "mape", "median_ae"):
        assert get_metric(name).direction == "minimize"
    assert get_metric("accuracy").kind == "label"
    assert get_metric("roc_auc").kind == "score"
    assert get_metric("rmse").kind == "regression"
    assert "regression" not in get_metric("accuracy").tasks
    assert get_metric("mae").tasks == {"binary", "multiclass", "regression"}


def test_list_metrics_by_task() -> None:
    regression_names = list_metrics("regression")
    assert "rmse" in regression_names
    assert "roc_auc" not in regression_names
    assert "roc_auc" in list_metrics("multiclass")
    with pytest.raises(InvalidInput):
        list_metrics("clustering")


def test_unknown_metric_suggests_closest_and_lists_all() -> None:
    with pytest.raises(NotFound) as info:
        get_metric("roc_aux")
    err = info.value
    assert isinstance(err, KeyError)
    assert err.details["suggestion"] == "roc_auc"
    assert err.details["valid"] == list_metrics()
    assert "Did you mean 'roc_auc'?" in str(err)
    assert "median_ae" in str(err)


def test_metric_names_are_exact_lowercase() -> None:
    with pytest.raises(NotFound) as info:
        get_metric("ROC_AUC")
    assert info.value.details["suggestion"] == "roc_auc"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("accuracy", lambda d: skm.accuracy_score(d["y"], d["pred"])),
        ("balanced_accuracy", lambda d: skm.balanced_accuracy_score(d["y"], d["pred"])),
        ("precision", lambda d: skm.precision_score(d["y"], d["pred"])),
        ("recall", lambda d: skm.recall_score(d["y"], d["pred"])),
        ("f1", lambda d: skm.f1_score(d["y"], d["pred"])),
        ("roc_auc", lambda d: skm.roc_auc_score(d["y"], d["proba"][:, 1])),
        ("log_loss", lambda d: skm.log_loss(d["y"], d["proba"])),
        ("average_precision", lambda d: skm.average_precision_score(d["y"], d["proba"][:, 1])),
        ("mse", lambda d: skm.brier_score_loss(d["y"], d["proba"][:, 1])),
    ],
)
def test_binary_metrics_match_sklearn(binary: dict[str, Any], name: str, expected: Any) -> None:
    value = get_metric(name).compute(binary["y"], binary["pred"], binary["proba"])
    assert value == pytest.approx(expected(binary), rel=1e-12)
    assert 0.0 < value < 1.0


def test_binary_accepts_1d_positive_score(binary: dict[str, Any]) -> None:
    value = get_metric("roc_auc").compute(binary["y"], y_score=binary["proba"][:, 1])
    assert value == pytest.approx(skm.roc_auc_score(binary["y"], binary["proba"][:, 1]))


def test_binary_positive_class_zero(binary: dict[str, Any]) -> None:
    y, pred, proba = binary["y"], binary["pred"], binary["proba"]
    recall = get_metric("recall").compute(y, pred, positive_class=0)
    assert recall == pytest.approx(skm.recall_score(y, pred, pos_label=0))
    assert recall != pytest.approx(skm.recall_score(y, pred))
    auc = get_metric("roc_auc").compute(y, y_score=proba, positive_class=0)
    assert auc == pytest.approx(skm.roc_auc_score(y == 0, proba[:, 0]))
    loss = get_metric("log_loss").compute(y, y_score=proba, positive_class=0)
    assert loss == pytest.approx(skm.log_loss(y, proba))


def test_binary_string_labels_default_positive_is_larger() -> None:
    y = np.array(["no", "yes", "yes", "no", "yes"])
    pred = np.array(["no", "yes", "no", "no", "yes"])
    assert get_metric("recall").compute(y, pred) == pytest.approx(2 / 3)
    assert get_metric("recall").compute(y, pred, positive_class="no") == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("accuracy", lambda d: skm.accuracy_score(d["y"], d["pred"])),
        ("balanced_accuracy", lambda d: skm.balanced_accuracy_score(d["y"], d["pred"])),
        ("precision", lambda d: skm.precision_score(d["y"], d["pred"], average="macro")),
        ("recall", lambda d: skm.recall_score(d["y"], d["pred"], average="macro")),
        ("f1", lambda d: skm.f1_score(d["y"], d["pred"], average="macro")),
        (
            "roc_auc",
            lambda d: skm.roc_auc_score(d["y"], d["proba"], multi_class="ovr", average="macro"),
        ),
        ("log_loss", lambda d: skm.log_loss(d["y"], d["proba"])),
    ],
)
def test_multiclass_metrics_match_sklearn(
    multiclass: dict[str, Any], name: str, expected: Any
) -> None:
    value = get_metric(name).compute(multiclass["y"], multiclass["pred"], multiclass["proba"])
    assert value == pytest.approx(expected(multiclass), rel=1e-12)


def test_multiclass_average_precision_is_macro_one_vs_rest(multiclass: dict[str, Any]) -> None:
    y, proba = multiclass["y"], multiclass["proba"]
    per_class = [skm.average_precision_score(y == k, proba[:, k]) for k in range(3)]
    value = get_metric("average_precision").compute(y, y_score=proba)
    assert value == pytest.approx(float(np.mean(per_class)))


@pytest.mark.parametrize(
    ("name", "func"),
    [
        ("mae", skm.mean_absolute_error),
        ("mse", skm.mean_squared_error),
        ("rmse", skm.root_mean_squared_error),
        ("mape", skm.mean_absolute_percentage_error),
        ("r2", skm.r2_score),
        ("median_ae", skm.median_absolute_error),
    ],
)
def test_regression_metrics_match_sklearn(regression: dict[str, Any], name: str, func: Any) -> None:
    value = get_metric(name).compute(regression["y"], regression["pred"])
    assert value == pytest.approx(func(regression["y"], regression["pred"]), rel=1e-12)


def test_rmse_is_sqrt_mse(regression: dict[str, Any]) -> None:
    mse = get_metric("mse").compute(regression["y"], regression["pred"])
    rmse = get_metric("rmse").compute(regression["y"], regression["pred"])
    assert rmse == pytest.approx(np.sqrt(mse))
    assert rmse > 10  # diabetes targets are in the hundreds: not a trivial value


def test_missing_inputs_are_refused() -> None:
    with pytest.raises(InvalidInput, match="pass y_pred"):
        get_metric("accuracy").compute([0, 1], y_score=[0.2, 0.8])
    with pytest.raises(InvalidInput, match="pass y_score"):
        get_metric("roc_auc").compute([0, 1], y_pred=[0, 1])
    with pytest.raises(InvalidInput, match="same length"):
        get_metric("accuracy").compute([0, 1, 1], [0, 1])
    with pytest.raises(InvalidInput, match="zero rows"):
        get_metric("mae").compute([], [])


def test_multiclass_score_matrix_must_match_classes() -> None:
    with pytest.raises(InvalidInput, match="probability matrix"):
        get_metric("roc_auc").compute([0, 1, 2], y_score=[[0.5, 0.5]] * 3, task="multiclass")


def test_multiclass_with_labels_for_missing_classes() -> None:
    y = [0, 1, 1, 0]
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.6, 0.2], [0.6, 0.3, 0.1]])
    value = get_metric("log_loss").compute(y, y_score=proba, labels=[0, 1, 2])
    assert value == pytest.approx(skm.log_loss(y, proba, labels=[0, 1, 2]))


# --- registry -------------------------------------------------------------------------


def _share_positive(inputs: MetricInputs) -> float:
    assert inputs.y_pred is not None
    return float(np.mean(inputs.y_pred == inputs.positive_class))


POSITIVE_RATE = MetricDef(
    "positive_rate", "minimize", "label", frozenset({"binary"}), _share_positive, "Share flagged."
)


def test_default_registry_is_frozen() -> None:
    assert DEFAULT_METRICS.frozen
    with pytest.raises(InvalidState):
        DEFAULT_METRICS.register(POSITIVE_RATE)
    assert "positive_rate" not in DEFAULT_METRICS


def test_register_metric_returns_extended_copy() -> None:
    registry = register_metric(POSITIVE_RATE)
    assert "positive_rate" in registry
    assert "positive_rate" not in list_metrics()
    assert len(registry) == len(DEFAULT_METRICS) + 1
    assert get_metric("positive_rate", registry).compute([0, 1, 1, 0], [1, 1, 1, 0]) == 0.75


def test_register_duplicate_raises_already_exists() -> None:
    registry = register_metric(POSITIVE_RATE)
    with pytest.raises(AlreadyExists):
        register_metric(POSITIVE_RATE, registry=registry)
    with pytest.raises(AlreadyExists):
        register_metric(get_metric("f1"))
    replaced = register_metric(get_metric("f1"), replace=True)
    assert "f1" in replaced


def test_register_into_own_registry_in_place() -> None:
    registry = MetricRegistry()
    assert register_metric(POSITIVE_RATE, registry=registry) is registry
    assert registry.names() == ["positive_rate"]


def test_custom_metric_usable_in_spec_only_with_its_registry() -> None:
    text = "name: p\nmetrics:\n  - name: positive_rate\n    threshold: 0.3\n"
    with pytest.raises(SpecError):
        parse_spec(text)
    spec = parse_spec(text, registry=register_metric(POSITIVE_RATE))
    assert spec.metrics[0].direction == "minimize"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "Bad Name"},
        {"direction": "up"},
        {"kind": "proba"},
        {"tasks": frozenset({"ranking"})},
        {"tasks": frozenset()},
    ],
)
def test_metric_def_validates_fields(kwargs: dict[str, Any]) -> None:
    fields: dict[str, Any] = {
        "name": "ok",
        "direction": "maximize",
        "kind": "label",
        "tasks": frozenset({"binary"}),
        "fn": _share_positive,
    }
    fields.update(kwargs)
    with pytest.raises(InvalidInput):
        MetricDef(**fields)
