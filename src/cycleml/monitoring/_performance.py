"""Model performance: metrics per time window as late labels arrive.

:func:`performance` computes the spec's metrics (accuracy, F1, ROC AUC, MAE, ...) per time
window of a table of predictions joined to their labels (for example
``join_feedback(prediction_log(...), feedback(...))``), counts the rows still waiting for a
label, and checks the spec's ``monitor`` thresholds in every window.

This module also holds what :mod:`cycleml.monitoring._cbpe` (performance estimated without
labels) shares with it: task and class resolution (:func:`resolve_problem`), windows
(:func:`split_windows`, :func:`window_groups`), metric computation
(:class:`ResolvedMetrics`), threshold checks and the report helpers. Tables are read into
arrays by :mod:`cycleml.monitoring._arrays`.
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from cycleml.errors import CycleMLError, InvalidInput
from cycleml.monitoring._arrays import (
    Array,
    Bools,
    Floats,
    PredictionArrays,
    plain,
    prediction_arrays,
    sorted_unique,
)
from cycleml.monitoring._durations import parse_window
from cycleml.spec import DEFAULT_METRICS, MetricRegistry, MetricSpec, Task

__all__ = [
    "PerformanceCheck",
    "PerformanceReport",
    "PerformanceWindow",
    "expected_calibration_error",
    "performance",
]

_TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")
_DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "calibration_error"),
    "multiclass": (
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
        "calibration_error",
    ),
    "regression": ("mae", "rmse", "mape", "r2"),
}
#: Metrics computed here because the spec's registry has no such metric (name -> direction).
_LOCAL_METRICS = {"calibration_error": "minimize"}


# ---- problem: task, classes, positive class -------------------------------------------------
@dataclass(frozen=True)
class _Problem:
    task: Task
    classes: list[Any] | None
    positive: Any
    score: Floats | None  # binary: 1-D positive-class score; multiclass: (n, k) matrix


def resolve_problem(
    arrays: PredictionArrays,
    rows: Bools,
    task: str | None,
    classes: Sequence[Any] | None,
    positive_class: Any,
) -> _Problem:
    """Resolve task, classes, positive class and the score shape from the evaluated rows."""
    if task is not None and task not in _TASKS:
        raise InvalidInput(f"Unknown task {task!r}; valid: {', '.join(_TASKS)}.")
    parts = [a[rows] for a in (arrays.y_true, arrays.y_pred) if a is not None]
    seen = np.concatenate(parts) if parts else np.array([])
    score = arrays.y_score
    wide = score is not None and score.ndim == 2 and score.shape[1] > 2
    if task is None:
        uniq = sorted_unique(seen)
        numeric = seen.dtype.kind in "fiu"
        fractional = seen.dtype.kind == "f" and bool(np.any(np.mod(seen, 1) != 0))
        if wide:
            task = "multiclass"
        elif fractional or (numeric and len(uniq) > 20 and score is None):
            task = "regression"
        else:
            task = "binary" if len(uniq) <= 2 else "multiclass"
    if task == "regression":
        return _Problem("regression", None, None, None)
    if classes is not None:
        known = list(classes)
    elif arrays.score_classes is not None:
        known = list(arrays.score_classes)
    else:
        known = sorted_unique(seen)
    if task == "binary" and len(known) > 2:
        raise InvalidInput(
            f"Task 'binary' needs two classes, but the labels and predictions hold "
            f"{len(known)}: {known[:10]}.",
            hint="Pass task='multiclass', or fix the labels.",
        )
    mismatch = score is not None and score.ndim == 2 and score.shape[1] != len(known)
    if mismatch and not (task == "binary" and score is not None and score.shape[1] == 2):
        raise InvalidInput(
            f"The scores hold {score.shape[1] if score is not None else 0} probabilities per "
            f"row but there are {len(known)} classes {known[:10]}.",
            hint="Pass classes= in the order of the probabilities (the model's classes).",
        )
    try:  # the metrics expect classes (and probability columns) in sorted order
        order = sorted(range(len(known)), key=known.__getitem__)
    except TypeError as exc:
        raise InvalidInput(f"Classes of mixed types cannot be ordered: {known[:10]}.") from exc
    if order != list(range(len(known))):
        known = [known[i] for i in order]
        if score is not None and score.ndim == 2 and score.shape[1] == len(known):
            score = score[:, order]
    if task == "multiclass":
        return _Problem("multiclass", known, None, score)
    positive = positive_class if positive_class is not None else (known[-1] if known else 1)
    if len(known) == 2 and positive not in known:
        raise InvalidInput(
            f"positive_class {positive!r} is not one of the classes {known}.",
            hint="Pass the positive label as it appears in the data.",
        )
    if score is not None and score.ndim == 2:
        column = known.index(positive) if positive in known and len(known) == 2 else 1
        score = score[:, column]
    return _Problem("binary", known, positive, score)


# ---- windows -------------------------------------------------------------------------------
def _parse_window(window: str | int | timedelta | None) -> tuple[str, int] | None:
    return None if window is None else parse_window(window)


@dataclass(frozen=True)
class _Windows:
    index: npt.NDArray[np.int64]  # window number of every row
    starts: list[int | None]
    ends: list[int | None]


def split_windows(time: npt.NDArray[np.int64] | None, n: int, window: Any) -> _Windows:
    """Windows aligned to the epoch (duration), consecutive rows in time order (count), or one."""
    parsed = _parse_window(window)
    if parsed is not None and parsed[0] == "time":
        if time is None:
            raise InvalidInput(
                f"window={window!r} splits by time, but the data has no time column.",
                hint="Pass time_column=, or a row count as window.",
            )
        keys = time // parsed[1]
        uniq, index = np.unique(keys, return_inverse=True)
        starts = (uniq * parsed[1]).tolist()
        return _Windows(index.astype(np.int64), starts, [s + parsed[1] for s in starts])
    if parsed is None:
        index = np.zeros(n, dtype=np.int64)
    else:
        order = np.argsort(time, kind="stable") if time is not None else np.arange(n)
        index = np.empty(n, dtype=np.int64)
        index[order] = np.arange(n) // parsed[1]
    count = int(index.max()) + 1 if n else 0
    if time is None:
        return _Windows(index, [None] * count, [None] * count)
    lows = np.full(count, np.iinfo(np.int64).max)
    highs = np.full(count, np.iinfo(np.int64).min)
    np.minimum.at(lows, index, time)
    np.maximum.at(highs, index, time)
    return _Windows(index, [int(v) for v in lows], [int(v) for v in highs])


def window_groups(
    index: npt.NDArray[np.int64], mask: Bools, count: int
) -> list[npt.NDArray[np.intp]]:
    """Row numbers of ``mask`` rows in each window (one stable sort, no loop over rows)."""
    rows = np.flatnonzero(mask)
    order = rows[np.argsort(index[rows], kind="stable")]
    bounds = np.cumsum(np.bincount(index[rows], minlength=count))
    return np.split(order, bounds[:-1])


# ---- metrics -------------------------------------------------------------------------------
def expected_calibration_error(
    y_true: Any,
    y_prob: Any,
    *,
    n_bins: int = 10,
    positive_class: Any = None,
    classes: Sequence[Any] | None = None,
) -> float:
    """Expected calibration error (ECE) over ``n_bins`` equal-width bins of [0, 1].

    ``ECE = sum_b (n_b / n) * |mean outcome in b - mean probability in b|``. Bin ``b`` holds
    the probabilities in ``(b / n_bins, (b + 1) / n_bins]`` (the first bin includes 0), the
    binning of :func:`sklearn.calibration.calibration_curve` with ``strategy="uniform"``;
    empty bins add nothing.

    With a 1-D ``y_prob`` (the probability of the positive class) the outcome is
    ``y_true == positive_class`` (default: the largest label, or of ``classes``). With an
    ``(n, k)`` matrix it is the top-label ECE: the probability is each row's largest one and
    the outcome whether that class (of ``classes``, default the sorted labels) is the label.

    Raises:
        InvalidInput: Probabilities outside [0, 1], mismatched lengths or no rows.
    """
    truth = np.asarray(y_true)
    prob = np.asarray(y_prob, dtype=float)
    if truth.ndim != 1 or truth.size == 0 or prob.shape[0] != truth.size or prob.ndim > 2:
        raise InvalidInput(
            f"expected_calibration_error needs y_true of shape (n,) with n > 0 and y_prob of "
            f"shape (n,) or (n, k); got {truth.shape} and {prob.shape}."
        )
    if n_bins < 1:
        raise InvalidInput(f"n_bins must be at least 1, got {n_bins}.")
    if np.isnan(prob).any() or prob.min() < 0 or prob.max() > 1:
        raise InvalidInput("Probabilities must lie in [0, 1] (and not be NaN).")
    if prob.ndim == 2:
        labels = list(classes) if classes is not None else sorted_unique(truth)
        if len(labels) != prob.shape[1]:
            raise InvalidInput(
                f"y_prob has {prob.shape[1]} columns but there are {len(labels)} classes."
            )
        top = np.argmax(prob, axis=1)
        outcome = (np.asarray(labels, dtype=object)[top] == truth).astype(float)
        prob = prob[np.arange(prob.shape[0]), top]
    else:
        if positive_class is None:
            positive_class = (list(classes) if classes is not None else sorted_unique(truth))[-1]
        outcome = (truth == positive_class).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], prob, side="left")
    gap = np.bincount(bins, weights=outcome, minlength=n_bins) - np.bincount(
        bins, weights=prob, minlength=n_bins
    )
    return float(np.abs(gap).sum() / prob.size)


@dataclass
class ResolvedMetrics:
    """Resolved metric names and how to compute them for one problem."""

    problem: _Problem
    registry: MetricRegistry
    names: list[str]
    unavailable: dict[str, str]
    failures: dict[str, list[Any]] = field(default_factory=dict)  # name -> [count, message]

    def value(self, name: str, y_true: Array, y_pred: Array | None, score: Floats | None) -> float:
        """The metric on these rows; NaN (and a note) when it is undefined or fails."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = self._compute(name, y_true, y_pred, score)
            except (CycleMLError, ValueError, TypeError, ZeroDivisionError) as exc:
                result, message = math.nan, str(exc)
            else:
                message = str(caught[0].message) if caught else "undefined on these rows"
        if math.isnan(result):
            entry = self.failures.setdefault(name, [0, message])
            entry[0] += 1
        return result

    def _compute(
        self, name: str, y_true: Array, y_pred: Array | None, score: Floats | None
    ) -> float:
        p = self.problem
        if name == "calibration_error":
            return expected_calibration_error(
                y_true, score, positive_class=p.positive, classes=p.classes
            )
        metric = self.registry.get(name)
        if metric.kind == "score":
            return metric.compute(
                y_true, None, score, positive_class=p.positive, task=p.task, labels=p.classes
            )
        if p.task == "regression":
            return metric.compute(y_true, y_pred, task="regression")
        brier = score if metric.kind == "regression" and p.task == "binary" else None
        return metric.compute(
            y_true, y_pred, brier, positive_class=p.positive, task=p.task, labels=p.classes
        )

    def notes(self) -> list[str]:
        """One note per metric that was NaN somewhere, with the first reason."""
        return [
            f"{name} is NaN in {count} window(s): {message}"
            for name, (count, message) in self.failures.items()
        ]


def _resolve_metrics(
    problem: _Problem,
    metrics: Sequence[str] | None,
    spec_metrics: Sequence[MetricSpec],
    registry: MetricRegistry,
    has_score: bool,
) -> tuple[ResolvedMetrics, list[str]]:
    """Check the requested metric names; add the spec's; return them and notes."""
    task = problem.task
    known = sorted(
        set(registry.names(task)) | (set(_LOCAL_METRICS) if task != "regression" else set())
    )

    def needs_score(name: str) -> bool:
        return name in _LOCAL_METRICS or registry.get(name).kind == "score"

    def problem_with(name: str) -> str | None:
        if name not in known:
            if name in registry or name in _LOCAL_METRICS:
                return f"metric {name!r} does not apply to task {task!r}"
            guess = difflib.get_close_matches(str(name), known, n=1)
            return f"unknown metric {name!r}" + (f"; did you mean {guess[0]!r}?" if guess else "")
        if needs_score(name) and not has_score:
            return f"metric {name!r} needs scores (probabilities) and the data has none"
        return None

    notes: list[str] = []
    names: list[str] = []
    if metrics is None:
        for name in _DEFAULT_METRICS[task]:
            if name in known and (has_score or not needs_score(name)):
                names.append(name)
            elif name in known:
                notes.append(f"{name} skipped: the data has no scores (probabilities)")
    else:
        for name in metrics:
            issue = problem_with(name)
            if issue is not None:
                message = issue[0].upper() + issue[1:]
                raise InvalidInput(
                    message if message.endswith("?") else message + ".",
                    hint=f"Metrics for task {task!r}: {', '.join(known)}. Scores are read "
                    "from score_column= (or probabilities/proba_* columns).",
                    details={"valid": known},
                )
            if name not in names:
                names.append(name)
    unavailable: dict[str, str] = {}
    for spec in spec_metrics:
        issue = problem_with(spec.name)
        if issue is not None:
            unavailable[spec.name] = issue
        elif spec.name not in names:
            names.append(spec.name)
    return ResolvedMetrics(problem, registry, names, unavailable), notes


def monitor_specs(spec_metrics: Sequence[MetricSpec] | None) -> list[MetricSpec]:
    specs = list(spec_metrics or [])
    for spec in specs:
        if not isinstance(spec, MetricSpec):
            raise InvalidInput(
                f"spec_metrics must hold MetricSpec objects, got {type(spec).__name__}.",
                hint="Pass project_spec.metrics (or metrics_for('monitor')).",
            )
    return [s for s in specs if "monitor" in s.applies_to]


# ---- reports -------------------------------------------------------------------------------
def iso_time(ms: int | None) -> str | None:
    if ms is None:
        return None
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat()


def timestamps(values: Sequence[int | None]) -> Any:
    import pandas as pd

    return pd.to_datetime(pd.Series(list(values), dtype="Int64"), unit="ms", utc=True)


@dataclass(frozen=True)
class PerformanceCheck:
    """One spec metric's threshold checked in one window.

    ``passed`` is ``None`` when the window has too few labelled rows to judge (fewer than
    ``min_labelled``); a metric that cannot be computed (NaN, or no scores) fails, as a
    missing metric fails a deployment gate.
    """

    metric: str
    direction: str
    threshold: float | None
    window_start: int | None
    window_end: int | None
    value: float | None
    passed: bool | None
    reason: str
    estimated: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO-8601 strings)."""
        out = {k: plain(v) for k, v in self.__dict__.items()}
        out["window_start"], out["window_end"] = (
            iso_time(self.window_start),
            iso_time(self.window_end),
        )
        return out


def threshold_check(
    spec: MetricSpec, start: int | None, end: int | None, value: float, estimated: bool = False
) -> PerformanceCheck:
    passed = spec.passes(value)
    reason = spec.describe_failure(value) + (" (estimated)" if estimated else "")
    shown = None if math.isnan(value) else value
    return PerformanceCheck(
        spec.name, spec.direction, spec.threshold, start, end, shown, passed, reason, estimated
    )


@dataclass(frozen=True)
class PerformanceWindow:
    """One window of :func:`performance`.

    Attributes:
        start: Window start, epoch ms (``None`` without a time column).
        end: Duration windows: the exclusive end. Row-count and single windows: the time of
            the window's last row.
        rows: Predictions in the window.
        labelled: Of those, how many have a label so far.
        metrics: Metric name -> value on the labelled rows (NaN when not computable).
    """

    start: int | None
    end: int | None
    rows: int
    labelled: int
    metrics: Mapping[str, float]

    @property
    def labelled_share(self) -> float:
        """Share of the window's rows that have a label (labels arrive late)."""
        return self.labelled / self.rows if self.rows else math.nan


@dataclass(frozen=True)
class PerformanceReport:
    """Model performance per window (see :func:`performance`).

    Attributes:
        task: ``binary``, ``multiclass`` or ``regression``.
        metrics: The metrics computed, in column order.
        windows: One entry per window holding at least one row, in time order.
        overall: Every metric over all labelled rows.
        checks: The spec's ``monitor`` thresholds, per metric and window.
        rows: All rows; ``labelled``: rows with a label.
        window: The window asked for.
        positive_class: The positive class (binary); ``classes``: the classes (classification).
        notes: What was skipped or could not be computed, and why.
    """

    task: str
    metrics: tuple[str, ...]
    windows: tuple[PerformanceWindow, ...]
    overall: Mapping[str, float]
    checks: tuple[PerformanceCheck, ...]
    rows: int
    labelled: int
    window: str | int | None = None
    positive_class: Any = None
    classes: tuple[Any, ...] | None = None
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """False when any check failed (checks without enough labels do not count)."""
        return all(check.passed is not False for check in self.checks)

    @property
    def failures(self) -> list[PerformanceCheck]:
        """The checks that failed."""
        return [check for check in self.checks if check.passed is False]

    def to_pandas(self) -> Any:
        """One row per window: window_start, window_end (UTC timestamps), rows, labelled,
        labelled_share, then one column per metric."""
        import pandas as pd

        frame = pd.DataFrame(
            {
                "window_start": timestamps([w.start for w in self.windows]),
                "window_end": timestamps([w.end for w in self.windows]),
                "rows": [w.rows for w in self.windows],
                "labelled": [w.labelled for w in self.windows],
                "labelled_share": [w.labelled_share for w in self.windows],
            }
        )
        for name in self.metrics:
            frame[name] = [float(w.metrics[name]) for w in self.windows]
        return frame

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN as ``None``, times as ISO-8601 strings); each window is
        flat, like a row of :meth:`to_pandas`: its metric values sit next to ``rows``."""
        return {
            "kind": "performance",
            "task": self.task,
            "window": self.window,
            "positive_class": plain(self.positive_class),
            "classes": None if self.classes is None else [plain(c) for c in self.classes],
            "rows": self.rows,
            "labelled": self.labelled,
            "metrics": list(self.metrics),
            "overall": {k: plain(v) for k, v in self.overall.items()},
            "windows": [
                {
                    "window_start": iso_time(w.start),
                    "window_end": iso_time(w.end),
                    "rows": w.rows,
                    "labelled": w.labelled,
                    "labelled_share": plain(w.labelled_share),
                    **{k: plain(v) for k, v in w.metrics.items()},
                }
                for w in self.windows
            ],
            "checks": [c.to_dict() for c in self.checks],
            "passed": self.passed,
            "notes": list(self.notes),
        }


def performance(
    data: Any,
    *,
    task: str | None = None,
    window: str | int | timedelta | None = None,
    time_column: str | None = "time",
    label_column: str = "label",
    prediction_column: str = "prediction",
    score_column: str | Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    spec_metrics: Sequence[MetricSpec] | None = None,
    positive_class: Any = None,
    classes: Sequence[Any] | None = None,
    min_labelled: int = 1,
    registry: MetricRegistry | None = None,
    arms: Sequence[str] | None = None,
) -> PerformanceReport:
    """Model performance per time window, on the rows whose label has arrived.

    Rows without a label are left out of the metrics and counted (``labelled`` and
    ``labelled_share`` per window), since labels arrive late. Labelled rows without a
    prediction (or without scores, when score metrics are computed) are left out too, with a
    note. Metric values come from the spec's metric registry (scikit-learn); the expected
    calibration error is :func:`expected_calibration_error` (10 equal-width bins).

    Args:
        data: A table with labels and predictions (see :func:`prediction_arrays`), such as a
            prediction log joined to its feedback.
        task: ``binary``, ``multiclass`` or ``regression``; default: guessed from the values
            (fractional numbers or more than 20 distinct numbers without scores: regression;
            two values: binary; else multiclass). Pass the spec's ``problem.task``.
        window: A duration (``"15min"``, ``"1h"``, ``"1d"``, ``"1w"`` or a ``timedelta``):
            windows aligned to the epoch on ``time_column``; an int: consecutive windows of
            that many rows in time order; ``None``: one window.
        time_column, label_column, prediction_column, score_column: Where the values are.
        metrics: Metric names; default: accuracy, precision, recall, f1, roc_auc, log_loss,
            calibration_error (classification; the last three only with scores) or mae,
            rmse, mape, r2 (regression). Multiclass precision/recall/f1 are macro averages.
        spec_metrics: The spec's metrics; those that apply to ``monitor`` are computed and
            their thresholds checked in every window.
        positive_class: Binary positive label; default: the larger class.
        classes: All classes, in the order of the probability columns (the model's
            ``classes``); default: the ``proba_<class>`` names, else the sorted labels and
            predictions. Reports list classes sorted.
        min_labelled: Windows with fewer labelled rows get NaN metrics and unjudged checks.
        registry: A metric registry with custom metrics (default: the built-ins).
        arms: Prediction-log arms to keep (default: all but ``shadow``).

    Raises:
        InvalidInput: A missing column, no labelled rows, an unknown metric or a metric that
            needs scores the data lacks, or a bad window.
    """
    arrays = prediction_arrays(
        data,
        label_column=label_column,
        prediction_column=prediction_column,
        score_column=score_column,
        time_column=time_column,
        arms=arms,
    )
    if not arrays.labelled.any():
        raise InvalidInput(
            f"No labelled rows: all {arrays.rows} rows lack a {label_column!r} value.",
            hint="Labels arrive late: record them with cycleml.serving.record_feedback, join "
            "them with join_feedback, or use estimate_performance() meanwhile.",
        )
    if min_labelled < 1:
        raise InvalidInput(f"min_labelled must be at least 1, got {min_labelled}.")
    usable = arrays.labelled & arrays.predicted
    problem = resolve_problem(arrays, usable, task, classes, positive_class)
    specs = monitor_specs(spec_metrics)
    has_score = problem.score is not None and bool((usable & arrays.scored).any())
    resolved, notes = _resolve_metrics(
        problem, metrics, specs, registry or DEFAULT_METRICS, has_score
    )
    kinds = {
        "score" if n in _LOCAL_METRICS else resolved.registry.get(n).kind for n in resolved.names
    }
    if has_score and ("score" in kinds or (problem.task == "binary" and "regression" in kinds)):
        usable = usable & arrays.scored
    dropped = int(arrays.labelled.sum() - usable.sum())
    if dropped:
        notes.append(f"{dropped} labelled rows left out: no prediction or no scores")
    assert arrays.y_true is not None
    y_true, y_pred = arrays.y_true, arrays.y_pred
    score = problem.score if has_score else None

    def compute(rows: npt.NDArray[np.intp]) -> dict[str, float]:
        if rows.size < min_labelled:
            return dict.fromkeys(resolved.names, math.nan)
        pred = None if y_pred is None else y_pred[rows]
        part = None if score is None else score[rows]
        return {name: resolved.value(name, y_true[rows], pred, part) for name in resolved.names}

    spans = split_windows(arrays.time, arrays.rows, window)
    count = len(spans.starts)
    totals = np.bincount(spans.index, minlength=count)
    labelled = np.bincount(spans.index[arrays.labelled], minlength=count)
    groups = window_groups(spans.index, usable, count)
    windows, checks = [], []
    for i in range(count):
        if totals[i] == 0:
            continue
        values = compute(groups[i])
        start, end = spans.starts[i], spans.ends[i]
        windows.append(PerformanceWindow(start, end, int(totals[i]), int(labelled[i]), values))
        for spec in specs:
            if spec.name in resolved.unavailable:
                checks.append(
                    PerformanceCheck(
                        spec.name,
                        spec.direction,
                        spec.threshold,
                        start,
                        end,
                        None,
                        False,
                        resolved.unavailable[spec.name],
                    )
                )
            elif groups[i].size < min_labelled:
                checks.append(
                    PerformanceCheck(
                        spec.name,
                        spec.direction,
                        spec.threshold,
                        start,
                        end,
                        None,
                        None,
                        f"{spec.name} not judged: {groups[i].size} labelled rows "
                        f"(fewer than min_labelled={min_labelled})",
                    )
                )
            else:
                checks.append(threshold_check(spec, start, end, values[spec.name]))
    overall = compute(np.flatnonzero(usable))
    return PerformanceReport(
        task=problem.task,
        metrics=tuple(resolved.names),
        windows=tuple(windows),
        overall=overall,
        checks=tuple(checks),
        rows=arrays.rows,
        labelled=int(arrays.labelled.sum()),
        window=window_label(window),
        positive_class=problem.positive,
        classes=None if problem.classes is None else tuple(problem.classes),
        notes=tuple(notes + resolved.notes()),
    )


def window_label(window: Any) -> str | int | None:
    if isinstance(window, timedelta):
        return f"{int(window.total_seconds() * 1000)}ms"
    return cast("str | int | None", window)
