"""The built-in metrics, each a thin wrapper around a scikit-learn function.

scikit-learn is imported when a metric is first computed, not when the spec loads:
``import cycleml`` and most commands never need it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy.typing as npt

from cycleml.spec._metrics import MetricDef, MetricInputs, Task

__all__ = ["builtin_metrics"]

_CLASSIFICATION: frozenset[Task] = frozenset({"binary", "multiclass"})
_ALL_TASKS: frozenset[Task] = frozenset({"binary", "multiclass", "regression"})


def _sklearn(name: str) -> Callable[..., Any]:
    """``sklearn.metrics.<name>``, imported on first use."""
    from sklearn import metrics

    func: Callable[..., Any] = getattr(metrics, name)
    return func


def _score(inputs: MetricInputs) -> npt.NDArray[Any]:
    assert inputs.y_score is not None  # guaranteed by _prepare for score metrics
    return inputs.y_score


def _pred(inputs: MetricInputs) -> npt.NDArray[Any]:
    assert inputs.y_pred is not None  # guaranteed by _prepare for label metrics
    return inputs.y_pred


def _averaged(name: str) -> Callable[[MetricInputs], float]:
    def compute(inputs: MetricInputs) -> float:
        func = _sklearn(name)
        if inputs.task == "binary":
            return float(
                func(
                    inputs.y_true,
                    _pred(inputs),
                    pos_label=inputs.positive_class,
                    average="binary",
                    zero_division=0,
                )
            )
        return float(
            func(
                inputs.y_true,
                _pred(inputs),
                labels=inputs.labels,
                average="macro",
                zero_division=0,
            )
        )

    return compute


def _roc_auc(inputs: MetricInputs) -> float:
    if inputs.task == "binary":
        return float(
            _sklearn("roc_auc_score")(inputs.y_true == inputs.positive_class, _score(inputs))
        )
    return float(
        _sklearn("roc_auc_score")(
            inputs.y_true, _score(inputs), multi_class="ovr", average="macro", labels=inputs.labels
        )
    )


def _log_loss(inputs: MetricInputs) -> float:
    if inputs.task == "binary":
        truth = (inputs.y_true == inputs.positive_class).astype(int)
        return float(_sklearn("log_loss")(truth, _score(inputs), labels=[0, 1]))
    return float(_sklearn("log_loss")(inputs.y_true, _score(inputs), labels=inputs.labels))


def _average_precision(inputs: MetricInputs) -> float:
    if inputs.task == "binary":
        truth = (inputs.y_true == inputs.positive_class).astype(int)
        return float(_sklearn("average_precision_score")(truth, _score(inputs)))
    from sklearn.preprocessing import label_binarize

    onehot = label_binarize(inputs.y_true, classes=inputs.labels)
    return float(_sklearn("average_precision_score")(onehot, _score(inputs), average="macro"))


def _plain(name: str) -> Callable[[MetricInputs], float]:
    """A metric of the true and predicted values (labels or regression targets)."""

    def compute(inputs: MetricInputs) -> float:
        return float(_sklearn(name)(inputs.y_true, _pred(inputs)))

    return compute


def builtin_metrics() -> list[MetricDef]:
    """Return fresh definitions of the built-in metrics."""
    cls, every = _CLASSIFICATION, _ALL_TASKS
    return [
        MetricDef("accuracy", "maximize", "label", cls, _plain("accuracy_score"),
                  "Share of correct predicted labels."),
        MetricDef("balanced_accuracy", "maximize", "label", cls,
                  _plain("balanced_accuracy_score"), "Mean recall over classes."),
        MetricDef("precision", "maximize", "label", cls, _averaged("precision_score"),
                  "Precision (binary: positive class; multiclass: macro)."),
        MetricDef("recall", "maximize", "label", cls, _averaged("recall_score"),
                  "Recall (binary: positive class; multiclass: macro)."),
        MetricDef("f1", "maximize", "label", cls, _averaged("f1_score"),
                  "F1 score (binary: positive class; multiclass: macro)."),
        MetricDef("roc_auc", "maximize", "score", cls, _roc_auc,
                  "Area under the ROC curve (multiclass: one-vs-rest, macro)."),
        MetricDef("log_loss", "minimize", "score", cls, _log_loss,
                  "Cross-entropy of predicted probabilities."),
        MetricDef("average_precision", "maximize", "score", cls, _average_precision,
                  "Area under the precision-recall curve (multiclass: macro)."),
        MetricDef("mae", "minimize", "regression", every, _plain("mean_absolute_error"),
                  "Mean absolute error."),
        MetricDef("mse", "minimize", "regression", every, _plain("mean_squared_error"),
                  "Mean squared error (on binary scores: the Brier score)."),
        MetricDef("rmse", "minimize", "regression", every,
                  _plain("root_mean_squared_error"), "Root mean squared error."),
        MetricDef("mape", "minimize", "regression", every,
                  _plain("mean_absolute_percentage_error"),
                  "Mean absolute percentage error (as a fraction)."),
        MetricDef("r2", "maximize", "regression", every, _plain("r2_score"),
                  "Coefficient of determination."),
        MetricDef("median_ae", "minimize", "regression", every,
                  _plain("median_absolute_error"), "Median absolute error."),
    ]  # fmt: skip
