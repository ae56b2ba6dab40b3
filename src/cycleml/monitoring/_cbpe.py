"""Classifier performance estimated without labels: confidence-based performance estimation.

:func:`estimate_performance` estimates a classifier's performance where no label has
arrived yet: confidence-based performance estimation (CBPE, as NannyML does it) calibrates
the model's scores on a labelled reference and turns the calibrated scores of the current
rows into an *expected* confusion matrix. Its assumptions are listed in
:data:`CBPE_ASSUMPTIONS` and repeated in every report.

It is kept apart from :mod:`cycleml.monitoring._performance` (metrics on labelled rows),
whose task resolution, windows, metrics and checks it reuses, so that the estimator, its
calibration and its report read as one unit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from cycleml.errors import InvalidInput
from cycleml.monitoring._arrays import (
    Array,
    Bools,
    Floats,
    PredictionArrays,
    plain,
    prediction_arrays,
    read_table,
    sorted_unique,
)
from cycleml.monitoring._performance import (
    PerformanceCheck,
    ResolvedMetrics,
    iso_time,
    monitor_specs,
    resolve_problem,
    split_windows,
    threshold_check,
    timestamps,
    window_groups,
    window_label,
)
from cycleml.spec import DEFAULT_METRICS, MetricSpec

__all__ = [
    "CBPE_ASSUMPTIONS",
    "EstimatedPerformance",
    "EstimatedWindow",
    "estimate_performance",
]

_ESTIMABLE = ("accuracy", "precision", "recall", "f1", "roc_auc")

#: What CBPE (:func:`estimate_performance`) takes for granted; repeated in every report.
CBPE_ASSUMPTIONS: tuple[str, ...] = (
    "No concept drift: P(y | x), and so the probability of the label given the model's "
    "score, is the same in the current data as in the reference; only the distribution of "
    "the inputs may change (covariate shift).",
    "The calibration learnt on the reference holds on the current data: calibrated scores "
    "are the probabilities of the classes for current rows too. Scores outside the range "
    "seen in the reference are clipped to the nearest calibrated value.",
    "The reference is large and representative: isotonic calibration needs thousands of "
    "labelled rows that cover the range of scores the model produces in production.",
    "The predicted labels are the ones the model served (or the threshold given); the "
    "estimate is of that decision rule, and it is an expectation: a window of n rows has a "
    "sampling error of about sqrt(accuracy * (1 - accuracy) / n).",
)


def _expected_auc(score: Floats, p: Floats) -> float:
    """ROC AUC with each row counted as positive with weight ``p`` and negative with ``1 - p``.

    The same value as :func:`sklearn.metrics.roc_auc_score` on the rows duplicated with
    labels 1 and 0 and those sample weights (ties in ``score`` handled alike).
    """
    order = np.argsort(-score, kind="mergesort")
    ranked, w1 = score[order], p[order]
    last = np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1]
    tps, fps = np.cumsum(w1)[last], np.cumsum(1.0 - w1)[last]
    if ranked.size == 0 or tps[-1] <= 0 or fps[-1] <= 0:
        return math.nan
    tpr, fpr = np.r_[0.0, tps] / tps[-1], np.r_[0.0, fps] / fps[-1]
    return float(np.trapezoid(tpr, fpr))


def _estimates(
    names: Sequence[str],
    probs: Floats,
    predicted: npt.NDArray[np.intp],
    scores: Floats,
    positive: int | None,
) -> tuple[dict[str, float], Floats]:
    """Expected metrics and confusion matrix from calibrated ``(n, k)`` class probabilities.

    ``C[i, j]`` = sum over rows predicted as class j of P(class i): the expected count of
    rows of true class i predicted as j. Binary metrics use the ``positive`` index; multiclass
    precision/recall/F1 are macro averages over classes and ROC AUC the one-vs-rest mean.
    Undefined ratios are 0, as the spec's metrics use ``zero_division=0``.
    """
    n, k = probs.shape
    confusion: Floats = np.column_stack(
        [np.bincount(predicted, weights=probs[:, i], minlength=k) for i in range(k)]
    ).T.astype(float)
    diagonal, true_sum, pred_sum = np.diag(confusion), confusion.sum(1), confusion.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred_sum > 0, diagonal / pred_sum, 0.0)
        recall = np.where(true_sum > 0, diagonal / true_sum, 0.0)
        denominator = true_sum + pred_sum
        f1 = np.where(denominator > 0, 2 * diagonal / denominator, 0.0)

    def pick(values: Floats) -> float:
        return float(values[positive]) if positive is not None else float(values.mean())

    out: dict[str, float] = {}
    for name in names:
        if name == "accuracy":
            out[name] = float(diagonal.sum() / n) if n else math.nan
        elif name in ("precision", "recall", "f1"):
            out[name] = pick({"precision": precision, "recall": recall, "f1": f1}[name])
        elif positive is not None:
            out[name] = _expected_auc(scores, probs[:, positive])
        else:
            out[name] = float(np.mean([_expected_auc(scores[:, c], probs[:, c]) for c in range(k)]))
    return out, confusion


class _Calibrator:
    """Isotonic calibration per class, fitted on the labelled reference."""

    def __init__(
        self, scores: Floats, truth: npt.NDArray[np.intp], k: int, binary: int | None
    ) -> None:
        from sklearn.isotonic import IsotonicRegression

        self.k, self.binary = k, binary
        columns = [scores] if binary is not None else [scores[:, c] for c in range(k)]
        targets = [truth == binary] if binary is not None else [truth == c for c in range(k)]
        self.models = [
            IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y.astype(float))
            for x, y in zip(columns, targets, strict=True)
        ]

    def __call__(self, scores: Floats) -> Floats:
        """Calibrated ``(n, k)`` class probabilities (rows sum to 1)."""
        if self.binary is not None:
            p = np.clip(self.models[0].predict(scores), 0.0, 1.0)
            out = np.empty((p.size, 2))
            out[:, self.binary], out[:, 1 - self.binary] = p, 1.0 - p
            return out
        out = np.column_stack([m.predict(scores[:, c]) for c, m in enumerate(self.models)])
        sums = out.sum(axis=1, keepdims=True)
        return np.where(sums > 0, out / np.where(sums > 0, sums, 1.0), 1.0 / self.k)


@dataclass(frozen=True)
class EstimatedWindow:
    """One window of :func:`estimate_performance`.

    Attributes:
        start, end: As in :class:`PerformanceWindow`.
        rows: Rows estimated (rows with scores).
        metrics: Metric name -> estimated value.
        confusion_matrix: Expected counts, rows = true class, columns = predicted class,
            both in the report's ``classes`` order.
    """

    start: int | None
    end: int | None
    rows: int
    metrics: Mapping[str, float]
    confusion_matrix: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class EstimatedPerformance:
    """Estimated classifier performance without labels (see :func:`estimate_performance`).

    Attributes:
        task, classes, positive_class: The problem (positive class for binary only).
        metrics: The estimated metrics, in column order.
        windows: One entry per window of the current data.
        reference_metrics: The metrics realised on the labelled reference.
        reference_estimate: CBPE applied to the reference itself (in-sample): far from
            ``reference_metrics`` means the calibration did not fit.
        reference_rows: Labelled reference rows used for calibration.
        checks: The spec's ``monitor`` thresholds against the estimates, per window.
        assumptions: What the estimate takes for granted (:data:`CBPE_ASSUMPTIONS`).
        notes: Warnings (small reference, scores outside its range, skipped metrics).
        method, calibration: ``cbpe`` with ``isotonic`` calibration.
    """

    task: str
    classes: tuple[Any, ...]
    positive_class: Any
    metrics: tuple[str, ...]
    windows: tuple[EstimatedWindow, ...]
    reference_metrics: Mapping[str, float]
    reference_estimate: Mapping[str, float]
    reference_rows: int
    checks: tuple[PerformanceCheck, ...] = ()
    assumptions: tuple[str, ...] = CBPE_ASSUMPTIONS
    notes: tuple[str, ...] = ()
    window: str | int | None = None
    method: str = "cbpe"
    calibration: str = "isotonic"

    @property
    def passed(self) -> bool:
        """False when any estimated value fails its spec threshold."""
        return all(check.passed is not False for check in self.checks)

    @property
    def failures(self) -> list[PerformanceCheck]:
        """The checks that failed."""
        return [check for check in self.checks if check.passed is False]

    def to_pandas(self) -> Any:
        """One row per window: window_start, window_end, rows, then one column per estimated
        metric; binary reports add the expected counts ``expected_tp/fp/fn/tn``."""
        import pandas as pd

        frame = pd.DataFrame(
            {
                "window_start": timestamps([w.start for w in self.windows]),
                "window_end": timestamps([w.end for w in self.windows]),
                "rows": [w.rows for w in self.windows],
            }
        )
        for name in self.metrics:
            frame[name] = [float(w.metrics[name]) for w in self.windows]
        if self.task == "binary":
            pos = self.classes.index(self.positive_class)
            cells = {
                "tp": (pos, pos),
                "fp": (1 - pos, pos),
                "fn": (pos, 1 - pos),
                "tn": (1 - pos, 1 - pos),
            }
            for label, (i, j) in cells.items():
                frame[f"expected_{label}"] = [w.confusion_matrix[i][j] for w in self.windows]
        return frame

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, assumptions and notes included; each window is flat (metric
        values next to ``rows``) plus its expected ``confusion_matrix``."""
        return {
            "kind": "estimated_performance",
            "method": self.method,
            "calibration": self.calibration,
            "task": self.task,
            "window": self.window,
            "classes": [plain(c) for c in self.classes],
            "positive_class": plain(self.positive_class),
            "metrics": list(self.metrics),
            "reference_rows": self.reference_rows,
            "reference_metrics": {k: plain(v) for k, v in self.reference_metrics.items()},
            "reference_estimate": {k: plain(v) for k, v in self.reference_estimate.items()},
            "windows": [
                {
                    "window_start": iso_time(w.start),
                    "window_end": iso_time(w.end),
                    "rows": w.rows,
                    **{k: plain(v) for k, v in w.metrics.items()},
                    "confusion_matrix": [list(r) for r in w.confusion_matrix],
                }
                for w in self.windows
            ],
            "checks": [c.to_dict() for c in self.checks],
            "passed": self.passed,
            "assumptions": list(self.assumptions),
            "notes": list(self.notes),
        }


def _class_index(values: Array, classes: list[Any], what: str) -> npt.NDArray[np.intp]:
    import pandas as pd

    index = np.asarray(pd.Index(classes).get_indexer(values), dtype=np.intp)
    if (index < 0).any():
        unknown = sorted_unique(values[index < 0])[:5]
        raise InvalidInput(
            f"The {what} hold values that are not classes {classes}: {unknown}.",
            hint="Pass classes= with every class the model predicts.",
        )
    return index


def estimate_performance(
    reference: Any,
    current: Any,
    *,
    task: str | None = None,
    window: str | int | timedelta | None = None,
    time_column: str | None = "time",
    label_column: str = "label",
    prediction_column: str | None = "prediction",
    score_column: str | Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    spec_metrics: Sequence[MetricSpec] | None = None,
    positive_class: Any = None,
    classes: Sequence[Any] | None = None,
    threshold: float = 0.5,
    arms: Sequence[str] | None = None,
) -> EstimatedPerformance:
    """Estimate a classifier's performance on unlabelled data (CBPE).

    1. Calibrate the model's scores on the labelled ``reference`` with isotonic regression
       (one-vs-rest per class for multiclass, rows then renormalised to sum to 1). Isotonic
       regression is monotone, so it keeps the model's ranking, and non-parametric, so it
       fixes any shape of miscalibration (Platt scaling assumes a sigmoid); it needs the
       thousands of labelled rows a reference usually has.
    2. In every window of ``current``, the calibrated probability of each class is the
       expected share of rows with that label, so summing them by predicted class gives the
       expected confusion matrix, and from it accuracy, precision, recall and F1. ROC AUC is
       the area under the expected ROC curve (each row a positive with weight p).

    The estimate is only as good as :data:`CBPE_ASSUMPTIONS`, repeated in the report.

    Args:
        reference: Labelled data with scores (and predictions), for example the validation
            set or a labelled period of the prediction log.
        current: Data with scores (and predictions); labels are not used.
        task: ``binary`` or ``multiclass``; default: guessed from the reference.
        window: As in :func:`performance`.
        time_column, label_column, prediction_column, score_column: As in
            :func:`performance`; scores are required. Without a prediction column
            (``None`` or absent) the prediction is ``score >= threshold`` (binary) or the
            class with the largest probability (multiclass).
        metrics: Any of accuracy, precision, recall, f1, roc_auc (default: all).
        spec_metrics: The spec's metrics; those for ``monitor`` that can be estimated are
            checked against the estimates.
        positive_class, classes: As in :func:`performance`.
        threshold: Decision threshold for predictions derived from binary scores.
        arms: Prediction-log arms to keep (default: all but ``shadow``).

    Raises:
        InvalidInput: A regression task, no labelled reference rows, missing scores, or an
            unknown metric.
    """

    def arrays_of(data: Any, label: str | None) -> PredictionArrays:
        table = read_table(data)
        has_pred = prediction_column is not None and (
            prediction_column in table.column_names or "outputs" in table.column_names
        )
        return prediction_arrays(
            table,
            label_column=label,
            prediction_column=prediction_column if has_pred else None,
            score_column=score_column,
            time_column=time_column,
            arms=arms,
        )

    ref, cur = arrays_of(reference, label_column), arrays_of(current, None)
    for name, arrays in (("reference", ref), ("current data", cur)):
        if arrays.y_score is None:
            raise InvalidInput(
                f"The {name} has no scores: CBPE estimates performance from the model's "
                "probabilities.",
                hint="Pass score_column= (a probability column or list column).",
            )
    usable = ref.labelled & ref.scored & (ref.predicted if ref.y_pred is not None else True)
    if not usable.any():
        raise InvalidInput(
            f"The reference has no labelled rows with scores (of {ref.rows} rows).",
            hint="CBPE calibrates on labelled reference data: pass labelled rows.",
        )
    problem = resolve_problem(ref, usable, task, classes, positive_class)
    if problem.task == "regression":
        raise InvalidInput(
            "estimate_performance estimates classifiers only (CBPE needs class probabilities).",
            hint="For regression, wait for labels and use performance().",
        )
    assert problem.classes is not None
    assert ref.y_true is not None
    known, binary = problem.classes, problem.task == "binary"
    if binary and len(known) != 2:
        raise InvalidInput(f"CBPE needs both classes in the reference; it holds only {known}.")
    names = list(metrics) if metrics is not None else list(_ESTIMABLE)
    for name in names:
        if name not in _ESTIMABLE:
            raise InvalidInput(
                f"Cannot estimate metric {name!r} without labels.",
                hint=f"Estimable metrics: {', '.join(_ESTIMABLE)}.",
                details={"valid": _ESTIMABLE},
            )
    pos = known.index(problem.positive) if binary else None
    cur_classes = list(classes) if classes is not None else known  # the columns' order
    cur_problem = resolve_problem(cur, cur.scored, problem.task, cur_classes, problem.positive)
    ref_score = cast(Floats, problem.score)[usable]
    cur_rows = cur.scored & (cur.predicted if cur.y_pred is not None else True)
    cur_score = cast(Floats, cur_problem.score)

    def predicted_index(arrays: PredictionArrays, scores: Floats, rows: Bools) -> Any:
        if arrays.y_pred is not None:
            return _class_index(arrays.y_pred[rows], known, "predictions")
        if binary:
            assert pos is not None
            return np.where(scores >= threshold, pos, 1 - pos)
        return np.argmax(scores, axis=1)

    truth = _class_index(ref.y_true[usable], known, "reference labels")
    calibrate = _Calibrator(ref_score, truth, len(known), pos)
    ref_pred = predicted_index(ref, ref_score, usable)
    reference_estimate, _ = _estimates(names, calibrate(ref_score), ref_pred, ref_score, pos)
    resolved = ResolvedMetrics(problem, DEFAULT_METRICS, names, {})
    y_ref_pred, y_ref_true = np.asarray(known)[ref_pred], ref.y_true[usable]
    reference_metrics = {n: resolved.value(n, y_ref_true, y_ref_pred, ref_score) for n in names}

    notes: list[str] = []
    if usable.sum() < 1000:
        notes.append(
            f"the reference has only {int(usable.sum())} labelled rows; isotonic "
            "calibration needs thousands for a stable estimate"
        )
    low, high = np.min(ref_score, axis=0), np.max(ref_score, axis=0)
    kept = cur_score[cur_rows]
    outside = int(((kept < low) | (kept > high)).reshape(len(kept), -1).any(axis=1).sum())
    if outside:
        notes.append(
            f"{outside} of {len(kept)} current rows have scores outside the "
            "reference's range (calibrated as the nearest reference score)"
        )
    specs = monitor_specs(spec_metrics)
    for spec in specs:
        if spec.name not in names:
            notes.append(f"spec metric {spec.name} is not estimated without labels; not checked")

    spans = split_windows(cur.time, cur.rows, window)
    count = len(spans.starts)
    groups = window_groups(spans.index, cur_rows, count)
    windows: list[EstimatedWindow] = []
    checks: list[PerformanceCheck] = []
    for i in range(count):
        rows = groups[i]
        if rows.size == 0:
            continue
        mask = np.zeros(cur.rows, dtype=bool)
        mask[rows] = True
        scores = cur_score[rows]
        values, confusion = _estimates(
            names, calibrate(scores), predicted_index(cur, scores, mask), scores, pos
        )
        start, end = spans.starts[i], spans.ends[i]
        matrix = tuple(tuple(float(v) for v in row) for row in confusion)
        windows.append(EstimatedWindow(start, end, int(rows.size), values, matrix))
        checks.extend(
            threshold_check(s, start, end, values[s.name], True) for s in specs if s.name in names
        )
    return EstimatedPerformance(
        task=problem.task,
        classes=tuple(known),
        positive_class=problem.positive,
        metrics=tuple(names),
        windows=tuple(windows),
        reference_metrics=reference_metrics,
        reference_estimate=reference_estimate,
        reference_rows=int(usable.sum()),
        checks=tuple(checks),
        notes=tuple(notes + resolved.notes()),
        window=window_label(window),
    )
