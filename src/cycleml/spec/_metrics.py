"""Metric definitions: :class:`MetricDef` and the input preparation shared by all metrics.

``MetricDef.compute`` checks and normalises ``y_true``/``y_pred``/``y_score`` (task inference,
positive class, score column) into :class:`MetricInputs`, then calls the metric's function.
The built-in functions live in ``_builtin``, the registry in ``_registry``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from cycleml.errors import InvalidInput

__all__ = ["Direction", "MetricDef", "MetricInputs", "MetricKind", "Task"]

#: The problem task of a project: what kind of target is predicted.
Task = Literal["binary", "multiclass", "regression"]
#: Which way a metric is better: larger (``maximize``) or smaller (``minimize``).
Direction = Literal["maximize", "minimize"]
#: What a metric consumes: predicted ``label``s, ``score``s/probabilities, or values.
MetricKind = Literal["label", "score", "regression"]

TASKS: tuple[str, ...] = get_args(Task)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
KINDS: tuple[str, ...] = get_args(MetricKind)
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class MetricInputs:
    """Prepared arrays handed to a metric's function by :meth:`MetricDef.compute`.

    Attributes:
        y_true: True labels (classification) or values (regression), 1-D.
        y_pred: Predicted labels or values, 1-D, or ``None`` for score metrics.
        y_score: Binary: 1-D score of the positive class. Multiclass: ``(n, k)`` matrix
            whose columns follow ``labels``. ``None`` for label and regression metrics.
        task: ``binary``, ``multiclass`` or ``regression``.
        positive_class: The positive label for binary tasks, else ``None``.
        labels: Sorted class labels for classification tasks, else ``None``.
    """

    y_true: npt.NDArray[Any]
    y_pred: npt.NDArray[Any] | None
    y_score: npt.NDArray[Any] | None
    task: Task
    positive_class: Any = None
    labels: list[Any] | None = None


@dataclass(frozen=True)
class MetricDef:
    """One named metric.

    Attributes:
        name: Exact lowercase name used in ``cycleml.yaml`` (``[a-z][a-z0-9_]*``).
        direction: Natural direction: ``maximize`` or ``minimize``.
        kind: ``label`` (uses predicted labels), ``score`` (uses probabilities or scores)
            or ``regression`` (uses predicted values).
        tasks: The problem tasks the metric fits.
        fn: Computes the value from :class:`MetricInputs`.
        description: One line shown in listings.
    """

    name: str
    direction: Direction
    kind: MetricKind
    tasks: frozenset[Task]
    fn: Callable[[MetricInputs], float] = field(repr=False, compare=False)
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise InvalidInput(
                f"Invalid metric name {self.name!r}: use lowercase letters, digits and '_', "
                "starting with a letter."
            )
        for attr, allowed in (("direction", DIRECTIONS), ("kind", KINDS)):
            if getattr(self, attr) not in allowed:
                raise InvalidInput(
                    f"Invalid {attr} {getattr(self, attr)!r} for metric {self.name!r}; "
                    f"valid: {', '.join(allowed)}."
                )
        bad = sorted(set(self.tasks) - set(TASKS))
        if bad or not self.tasks:
            raise InvalidInput(
                f"Invalid tasks {sorted(self.tasks)!r} for metric {self.name!r}; "
                f"give a non-empty subset of: {', '.join(TASKS)}."
            )

    def compute(
        self,
        y_true: Any,
        y_pred: Any = None,
        y_score: Any = None,
        *,
        positive_class: Any = None,
        task: Task | None = None,
        labels: Iterable[Any] | None = None,
    ) -> float:
        """Compute the metric.

        Args:
            y_true: True labels or values.
            y_pred: Predicted labels (``label`` metrics) or values (``regression``).
            y_score: Scores: 1-D score of the positive class, or an ``(n, k)`` probability
                matrix whose columns follow the sorted class labels.
            positive_class: Binary positive label; default: the largest label (the class
                whose probability is scikit-learn's ``predict_proba[:, 1]``).
            task: Force ``binary``/``multiclass``; default: inferred from the labels and
                the score shape (more than two classes means multiclass).
            labels: All class labels, when a batch might not contain every class.

        ``regression`` metrics compare ``y_pred`` with ``y_true``. On a binary task, when
        ``y_score`` is given they compare the positive-class score with ``y_true ==
        positive_class`` instead (so ``mse`` is the Brier score).

        Raises:
            InvalidInput: Missing or mis-shaped inputs, or scikit-learn refused them.
        """
        inputs = _prepare(self, y_true, y_pred, y_score, positive_class, task, labels)
        try:
            return float(self.fn(inputs))
        except (ValueError, TypeError) as exc:
            raise InvalidInput(
                f"Cannot compute {self.name!r} for task {inputs.task!r}: {exc}"
            ) from exc


def _as_1d(name: str, value: Any) -> npt.NDArray[Any]:
    arr = np.asarray(value)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidInput(f"{name} must be one-dimensional, got shape {arr.shape}.")
    return arr


def _prepare(
    metric: MetricDef,
    y_true: Any,
    y_pred: Any,
    y_score: Any,
    positive_class: Any,
    task: Task | None,
    labels: Iterable[Any] | None,
) -> MetricInputs:
    if task is not None and task not in TASKS:
        raise InvalidInput(f"Unknown task {task!r}; valid: {', '.join(TASKS)}.")
    truth = _as_1d("y_true", y_true)
    if truth.size == 0:
        raise InvalidInput(f"Cannot compute {metric.name!r} on zero rows.")
    if metric.kind == "label" and y_pred is None:
        raise InvalidInput(f"Metric {metric.name!r} uses predicted labels: pass y_pred.")
    if metric.kind == "score" and y_score is None:
        raise InvalidInput(f"Metric {metric.name!r} uses scores: pass y_score.")
    if metric.kind == "regression" and (y_score is None or task == "regression"):
        if y_pred is None and y_score is None:
            raise InvalidInput(f"Metric {metric.name!r} uses predicted values: pass y_pred.")
        values = _as_1d("y_pred", y_pred if y_pred is not None else y_score)
        _check_len(truth, values, "y_pred")
        if positive_class is not None:
            truth = truth == positive_class
        return MetricInputs(
            _floats("y_true", truth), _floats("y_pred", values), None, task or "regression"
        )

    pred = None if y_pred is None else _as_1d("y_pred", y_pred)
    score = None if y_score is None else np.asarray(y_score, dtype=float)
    if pred is not None:
        _check_len(truth, pred, "y_pred")
    if score is not None and (score.ndim not in (1, 2) or score.shape[0] != truth.shape[0]):
        raise InvalidInput(
            f"y_score must have shape (n,) or (n, k) with n={truth.shape[0]}, got {score.shape}."
        )
    try:
        if labels is not None:
            classes = sorted(labels)
        else:
            seen = truth if pred is None else np.concatenate([truth, pred])
            classes = sorted(np.unique(seen).tolist())
    except TypeError as exc:
        raise InvalidInput(
            f"Class labels of mixed types cannot be ordered ({exc}); make y_true and y_pred "
            "use one label type."
        ) from exc
    if task is None or task == "regression":
        wide = score is not None and score.ndim == 2 and score.shape[1] > 2
        task = "multiclass" if wide or len(classes) > 2 else "binary"
    if task == "multiclass":
        if score is not None and (score.ndim != 2 or score.shape[1] != len(classes)):
            raise InvalidInput(
                f"Multiclass {metric.name!r} needs an (n, {len(classes)}) probability matrix "
                f"with one column per class {classes}, got shape {score.shape}; pass labels= "
                "if some classes are missing from this batch."
            )
        if metric.kind == "regression":
            raise InvalidInput(
                f"Metric {metric.name!r} compares numbers; on a multiclass task pass y_pred "
                "with numeric predictions, not a probability matrix."
            )
        return MetricInputs(truth, pred, score, "multiclass", None, classes)
    positive = positive_class if positive_class is not None else (classes[-1] if classes else 1)
    if score is not None and score.ndim == 2:
        if score.shape[1] != 2:
            raise InvalidInput(f"Binary y_score must have 1 or 2 columns, got {score.shape}.")
        column = classes.index(positive) if len(classes) == 2 and positive in classes else 1
        score = score[:, column]
    if metric.kind == "regression":  # e.g. mse of the positive-class score: Brier score
        return MetricInputs(
            (truth == positive).astype(float), score, None, "binary", positive, classes
        )
    return MetricInputs(truth, pred, score, "binary", positive, classes)


def _floats(name: str, values: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    try:
        return values.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{name} must be numeric for this metric ({exc}); for class labels pass "
            "positive_class to compare against the positive class."
        ) from exc


def _check_len(truth: npt.NDArray[Any], other: npt.NDArray[Any], name: str) -> None:
    if other.shape[0] != truth.shape[0]:
        raise InvalidInput(
            f"y_true has {truth.shape[0]} rows but {name} has {other.shape[0]}; "
            "they must have the same length."
        )
