"""Fairness across the spec's sensitive attributes: per-group rates and disparity metrics.

:func:`fairness` reports, for every sensitive attribute (and their intersection when there
are several), each group's count, selection rate, true and false positive rates, precision
and accuracy, and the disparity metrics of fairlearn, with its definitions (``method=
"between_groups"``)::

    demographic_parity_difference = max_g selection_rate(g) - min_g selection_rate(g)
    demographic_parity_ratio      = min_g selection_rate(g) / max_g selection_rate(g)
    equal_opportunity_difference  = max_g TPR(g) - min_g TPR(g)
    equalized_odds_difference     = max(max_g TPR(g) - min_g TPR(g),
                                        max_g FPR(g) - min_g FPR(g))

with ``selection_rate = P(prediction = positive)``, ``TPR = TP / (TP + FN)`` and
``FPR = FP / (FP + TN)`` within a group. fairlearn is not a dependency: the values are
computed here with numpy and tested against hand-computed examples.

Where a rate is undefined (a group without positive labels has no TPR, one without
negative labels no FPR, one without positive predictions no precision) the group's value is
NaN, and the differences are taken over the groups where it is defined (as pandas' ``max``
and ``min``, which fairlearn uses, skip NaN). fairlearn itself gets such rates from
scikit-learn's normalised confusion matrix, which turns them into 0; that would count a
group with no positives as a TPR of 0 and inflate the equalized odds difference.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from cycleml.errors import InvalidInput
from cycleml.monitoring._arrays import plain, prediction_arrays, sorted_unique
from cycleml.spec import FAIRNESS_METRICS, MetricSpec

__all__ = [
    "FAIRNESS_METRICS",
    "AttributeFairness",
    "FairnessCheck",
    "FairnessReport",
    "GroupRates",
    "fairness",
]

Floats = npt.NDArray[np.float64]

_NEEDS_LABELS = frozenset({"equal_opportunity_difference", "equalized_odds_difference"})
_RATES = ("selection_rate", "tpr", "fpr", "precision", "accuracy")


@dataclass(frozen=True)
class GroupRates:
    """The rates of one group (or of all rows, for :attr:`FairnessReport.overall`).

    Attributes:
        values: The group's value of each column of the attribute (empty for all rows).
        count: Rows in the group.
        selection_rate: Share predicted positive.
        tpr: True positive rate, TP / (TP + FN); NaN without positive labels.
        fpr: False positive rate, FP / (FP + TN); NaN without negative labels.
        precision: TP / (TP + FP); NaN without positive predictions.
        accuracy: Share of correct predictions.
    """

    values: tuple[Any, ...]
    count: int
    selection_rate: float
    tpr: float
    fpr: float
    precision: float
    accuracy: float

    @property
    def group(self) -> Any:
        """The group's value (one attribute) or tuple of values (an intersection)."""
        return self.values[0] if len(self.values) == 1 else self.values

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN as ``None``)."""
        group = self.group
        shown = [plain(v) for v in group] if isinstance(group, tuple) else plain(group)
        return {
            "group": shown,
            "count": self.count,
            **{name: plain(getattr(self, name)) for name in _RATES},
        }


@dataclass(frozen=True)
class AttributeFairness:
    """Groups and disparities of one sensitive attribute, or of an intersection of several.

    Attributes:
        attribute: The column name, or the names joined with ``" & "`` for an intersection.
        columns: The sensitive columns.
        groups: One entry per observed group, sorted by value (missing values last).
        demographic_parity_difference: Largest minus smallest selection rate.
        demographic_parity_ratio: Smallest over largest selection rate (NaN when all are 0).
        true_positive_rate_difference: Largest minus smallest TPR (the equal opportunity
            difference), over the groups where TPR is defined.
        false_positive_rate_difference: The same for the FPR.
        equalized_odds_difference: The larger of the two differences above (NaN only when
            both are).
    """

    attribute: str
    columns: tuple[str, ...]
    groups: tuple[GroupRates, ...]
    demographic_parity_difference: float
    demographic_parity_ratio: float
    true_positive_rate_difference: float
    false_positive_rate_difference: float
    equalized_odds_difference: float

    def value(self, metric: str) -> float:
        """The value of a disparity metric named in :data:`FAIRNESS_METRICS`."""
        if metric == "equal_opportunity_difference":
            return self.true_positive_rate_difference
        if metric not in FAIRNESS_METRICS:
            raise InvalidInput(
                f"Unknown fairness metric {metric!r}; valid: {', '.join(FAIRNESS_METRICS)}."
            )
        return float(getattr(self, metric))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN as ``None``)."""
        return {
            "attribute": self.attribute,
            "columns": list(self.columns),
            "groups": [g.to_dict() for g in self.groups],
            **{name: plain(self.value(name)) for name in FAIRNESS_METRICS},
            "true_positive_rate_difference": plain(self.true_positive_rate_difference),
            "false_positive_rate_difference": plain(self.false_positive_rate_difference),
        }


@dataclass(frozen=True)
class FairnessCheck:
    """One disparity threshold checked on one attribute.

    ``passed`` is ``None`` when the metric needs labels and none were given; a NaN value
    fails (as :meth:`~cycleml.spec.MetricSpec.passes` has it).
    """

    attribute: str
    metric: str
    direction: str
    threshold: float
    value: float | None
    passed: bool | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {k: plain(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class FairnessReport:
    """Fairness of a classifier's predictions across sensitive attributes (:func:`fairness`).

    Attributes:
        attributes: One entry per sensitive attribute, then their intersection (when
            several attributes were given and ``intersection`` was true).
        overall: The rates over all evaluated rows.
        positive_class: The label counted as positive (selected).
        rows: Rows in the data; ``evaluated``: rows used (with a label and a prediction).
        checks: The thresholds, per attribute.
        notes: What was left out and why.
    """

    attributes: tuple[AttributeFairness, ...]
    overall: GroupRates
    positive_class: Any
    rows: int
    evaluated: int
    checks: tuple[FairnessCheck, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> AttributeFairness:
        """The headline attribute: the intersection when there is one, else the first."""
        return self.attributes[-1]

    @property
    def demographic_parity_difference(self) -> float:
        """Of :attr:`summary`: largest minus smallest group selection rate."""
        return self.summary.demographic_parity_difference

    @property
    def demographic_parity_ratio(self) -> float:
        """Of :attr:`summary`: smallest over largest group selection rate."""
        return self.summary.demographic_parity_ratio

    @property
    def equalized_odds_difference(self) -> float:
        """Of :attr:`summary`: the larger of the TPR and FPR differences between groups."""
        return self.summary.equalized_odds_difference

    @property
    def passed(self) -> bool:
        """False when any threshold check failed."""
        return all(check.passed is not False for check in self.checks)

    @property
    def failures(self) -> list[FairnessCheck]:
        """The checks that failed."""
        return [check for check in self.checks if check.passed is False]

    def attribute(self, name: str) -> AttributeFairness:
        """The entry of one attribute (or of the intersection, ``"a & b"``).

        Raises:
            InvalidInput: No such attribute in the report.
        """
        for entry in self.attributes:
            if entry.attribute == name:
                return entry
        names = [e.attribute for e in self.attributes]
        raise InvalidInput(f"The report has no attribute {name!r}; it has {names}.")

    def to_pandas(self) -> Any:
        """The per-group table: attribute, group, count, selection_rate, tpr, fpr, precision,
        accuracy, one row per group of every attribute."""
        import pandas as pd

        rows = [
            {
                "attribute": entry.attribute,
                "group": group.group,
                "count": group.count,
                **{name: getattr(group, name) for name in _RATES},
            }
            for entry in self.attributes
            for group in entry.groups
        ]
        columns = ["attribute", "group", "count", *_RATES]
        return pd.DataFrame(rows, columns=columns)

    def summary_frame(self) -> Any:
        """One row per attribute with its disparity metrics."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "attribute": e.attribute,
                    "groups": len(e.groups),
                    **{name: e.value(name) for name in FAIRNESS_METRICS},
                }
                for e in self.attributes
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN as ``None``)."""
        return {
            "kind": "fairness",
            "positive_class": plain(self.positive_class),
            "rows": self.rows,
            "evaluated": self.evaluated,
            "overall": self.overall.to_dict(),
            "attributes": [entry.to_dict() for entry in self.attributes],
            **{name: plain(self.summary.value(name)) for name in FAIRNESS_METRICS},
            "checks": [check.to_dict() for check in self.checks],
            "passed": self.passed,
            "notes": list(self.notes),
        }


# ---- computation ---------------------------------------------------------------------------
def _codes(values: npt.NDArray[Any]) -> tuple[npt.NDArray[np.intp], list[Any]]:
    """Group codes of ``values`` (missing values form their own group, sorted last)."""
    import pandas as pd

    try:
        codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=False)
    except TypeError:  # values of mixed types: keep the order of appearance
        codes, uniques = pd.factorize(values, sort=False, use_na_sentinel=False)
    groups = [None if _missing(v) else plain(v) for v in list(uniques)]
    return np.asarray(codes, dtype=np.intp), groups


def _missing(value: Any) -> bool:
    import pandas as pd

    if value is None:
        return True
    return np.ndim(value) == 0 and bool(pd.isna(value))


def _rates(
    codes: npt.NDArray[np.intp],
    k: int,
    truth: npt.NDArray[np.bool_] | None,
    selected: npt.NDArray[np.bool_],
) -> dict[str, Floats]:
    """Per-group count and rates, vectorised with ``bincount``."""

    def total(mask: npt.NDArray[np.bool_]) -> Floats:
        return np.bincount(codes, weights=mask.astype(float), minlength=k).astype(float)

    count = np.bincount(codes, minlength=k).astype(float)
    nan = np.full(k, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {"count": count, "selection_rate": total(selected) / count}
        if truth is None:
            return out | {"tpr": nan, "fpr": nan, "precision": nan, "accuracy": nan}
        tp, fp = total(truth & selected), total(~truth & selected)
        fn, tn = total(truth & ~selected), total(~truth & ~selected)
        return out | {
            "tpr": np.where(tp + fn > 0, tp / (tp + fn), np.nan),
            "fpr": np.where(fp + tn > 0, fp / (fp + tn), np.nan),
            "precision": np.where(tp + fp > 0, tp / (tp + fp), np.nan),
            "accuracy": (tp + tn) / count,
        }


def _spread(values: Floats) -> float:
    """Largest minus smallest of the defined values (NaN when none is defined)."""
    defined = values[~np.isnan(values)]
    return float(defined.max() - defined.min()) if defined.size else math.nan


def _attribute(
    name: str,
    columns: tuple[str, ...],
    codes: npt.NDArray[np.intp],
    labels: list[tuple[Any, ...]],
    truth: npt.NDArray[np.bool_] | None,
    selected: npt.NDArray[np.bool_],
) -> AttributeFairness:
    rates = _rates(codes, len(labels), truth, selected)
    groups = tuple(
        GroupRates(labels[g], int(rates["count"][g]), *(float(rates[r][g]) for r in _RATES))
        for g in range(len(labels))
    )
    selection = rates["selection_rate"]
    high, low = float(np.nanmax(selection)), float(np.nanmin(selection))
    tpr_diff, fpr_diff = _spread(rates["tpr"]), _spread(rates["fpr"])
    odds = [v for v in (tpr_diff, fpr_diff) if not math.isnan(v)]
    return AttributeFairness(
        attribute=name,
        columns=columns,
        groups=groups,
        demographic_parity_difference=high - low,
        demographic_parity_ratio=low / high if high > 0 else math.nan,
        true_positive_rate_difference=tpr_diff,
        false_positive_rate_difference=fpr_diff,
        equalized_odds_difference=max(odds) if odds else math.nan,
    )


def _thresholds(thresholds: Any) -> list[MetricSpec]:
    """Thresholds as metric specs: from a mapping, or the fairness entries of spec metrics."""
    if thresholds is None:
        return []
    if isinstance(thresholds, Mapping):
        specs = []
        for metric, limit in thresholds.items():
            if metric not in FAIRNESS_METRICS:
                guess = difflib.get_close_matches(str(metric), list(FAIRNESS_METRICS), n=1)
                suggestion = f" Did you mean {guess[0]!r}?" if guess else ""
                raise InvalidInput(
                    f"Unknown fairness metric {metric!r} in thresholds.{suggestion}",
                    hint=f"Fairness metrics: {', '.join(FAIRNESS_METRICS)}.",
                    details={"valid": list(FAIRNESS_METRICS)},
                )
            ok = isinstance(limit, numbers.Real) and not isinstance(limit, bool)
            if not ok or not math.isfinite(float(limit)):
                raise InvalidInput(
                    f"The threshold of {metric!r} must be a finite number, got {limit!r}."
                )
            specs.append(
                MetricSpec.model_construct(
                    name=metric,
                    direction=FAIRNESS_METRICS[metric],
                    threshold=float(limit),
                    applies_to=["monitor"],
                )
            )
        return specs
    if isinstance(thresholds, Sequence) and not isinstance(thresholds, str | bytes):
        for spec in thresholds:
            if not isinstance(spec, MetricSpec):
                raise InvalidInput(
                    "thresholds must be a mapping {metric: threshold} or a list of MetricSpec, "
                    f"got a list holding {type(spec).__name__}."
                )
        return [
            s
            for s in thresholds
            if s.name in FAIRNESS_METRICS and s.threshold is not None and "monitor" in s.applies_to
        ]
    raise InvalidInput(
        f"thresholds must be a mapping {{metric: threshold}} or a list of MetricSpec, got "
        f"{type(thresholds).__name__}."
    )


def _same_kind(a: Any, b: Any) -> bool:
    number = (numbers.Number, np.number, np.bool_)
    return (isinstance(a, str) and isinstance(b, str)) or (
        isinstance(a, number) and isinstance(b, number)
    )


def _check_binary(values: list[Any], positive: Any, label: str | None) -> None:
    if len(values) > 2:
        source = "labels and predictions" if label is not None else "predictions"
        raise InvalidInput(
            f"Fairness metrics need a binary outcome, but the {source} hold {len(values)} "
            f"values: {values[:10]}.",
            hint="Map the outcome to two classes (for example 'approved' vs the rest) and "
            "pass positive_class=.",
            details={"values": [plain(v) for v in values[:10]]},
        )
    wrong_kind = bool(values) and not _same_kind(values[0], positive)
    if positive not in values and (len(values) == 2 or wrong_kind):
        raise InvalidInput(
            f"positive_class {positive!r} is not one of the outcomes {values}.",
            hint="Pass positive_class= as it appears in the labels and predictions.",
        )


def fairness(
    data: Any,
    *,
    sensitive: str | Sequence[str],
    label_column: str | None = "label",
    prediction_column: str = "prediction",
    positive_class: Any = 1,
    thresholds: Mapping[str, float] | Sequence[MetricSpec] | None = None,
    intersection: bool = True,
    arms: Sequence[str] | None = None,
) -> FairnessReport:
    """Per-group rates and disparity metrics of a binary classifier (see the module docs).

    Rows without a label are left out (with a note), so every rate is computed on the same
    rows; with ``label_column=None`` only selection rates and demographic parity are
    computed (predictions need no label) and the rest is NaN. A missing sensitive value
    forms its own group (``None``). With several attributes each is reported on its own,
    then their intersection (every observed combination of values is a group, as fairlearn
    does with several sensitive features), which is :attr:`FairnessReport.summary`.

    Args:
        data: A table with predictions, labels and the sensitive columns (see
            :func:`~cycleml.monitoring.prediction_arrays`; on a prediction log the
            sensitive values are read from the ``inputs`` JSON).
        sensitive: The sensitive attribute column(s) (the spec's
            ``problem.sensitive_attributes``).
        label_column: The labels; ``None`` to assess predictions alone.
        prediction_column: The predicted labels.
        positive_class: The label counted as selected/positive (fairlearn's ``pos_label``).
        thresholds: ``{metric: threshold}`` over :data:`FAIRNESS_METRICS` (differences must
            stay at or below, the ratio at or above), or the spec's metrics (those named as
            fairness metrics, with a threshold, that apply to ``monitor``). Each is checked
            on every attribute entry.
        intersection: Also report the intersection of several attributes.
        arms: Prediction-log arms to keep (default: all but ``shadow``).

    Raises:
        InvalidInput: No sensitive attribute, a missing column, no rows to assess, an
            outcome with more than two values, a positive class that is not one of them,
            or an unknown threshold metric.
    """
    names = [sensitive] if isinstance(sensitive, str) else list(dict.fromkeys(sensitive))
    if not names or not all(isinstance(n, str) and n for n in names):
        raise InvalidInput(
            f"Invalid sensitive={sensitive!r}: name at least one sensitive column.",
            hint="Use the spec's problem.sensitive_attributes.",
        )
    specs = _thresholds(thresholds)
    arrays = prediction_arrays(
        data,
        label_column=label_column,
        prediction_column=prediction_column,
        time_column=None,
        columns=names,
        arms=arms,
        scores=False,
    )
    rows = arrays.predicted & (arrays.labelled if label_column is not None else True)
    notes: list[str] = []
    if label_column is not None and int((~arrays.labelled).sum()):
        notes.append(f"{int((~arrays.labelled).sum())} rows without a label left out")
    if label_column is None:
        notes.append("no labels: only selection rates and demographic parity are computed")
    if not rows.any():
        raise InvalidInput(
            f"No rows to assess: none of the {arrays.rows} rows has both a label and a prediction."
            if label_column is not None
            else "No rows with a prediction.",
            hint="Join labels first (cycleml.serving.join_feedback), or pass label_column=None "
            "to assess the predictions alone.",
        )
    assert arrays.y_pred is not None
    y_pred = arrays.y_pred[rows]
    y_true = arrays.y_true[rows] if arrays.y_true is not None else None
    seen = np.concatenate([y_pred] + ([y_true] if y_true is not None else []))
    _check_binary(sorted_unique(seen), positive_class, label_column)
    selected = np.asarray(y_pred == positive_class, dtype=bool)
    truth = None if y_true is None else np.asarray(y_true == positive_class, dtype=bool)

    entries: list[AttributeFairness] = []
    coded = []
    for name in names:
        codes, groups = _codes(arrays.columns[name][rows])
        coded.append((codes, groups))
        labels = [(g,) for g in groups]
        entries.append(_attribute(name, (name,), codes, labels, truth, selected))
    if intersection and len(names) > 1:
        combined = np.zeros(int(rows.sum()), dtype=np.int64)
        for codes, groups in coded:
            combined = combined * len(groups) + codes
        uniq, inverse = np.unique(combined, return_inverse=True)
        labels = []
        for value in uniq.tolist():
            parts = []
            for _, groups in reversed(coded):
                value, code = divmod(value, len(groups))
                parts.append(groups[code])
            labels.append(tuple(reversed(parts)))
        entries.append(
            _attribute(
                " & ".join(names), tuple(names), inverse.astype(np.intp), labels, truth, selected
            )
        )
    everyone = _rates(np.zeros(selected.size, dtype=np.intp), 1, truth, selected)
    overall = GroupRates((), selected.size, *(float(everyone[r][0]) for r in _RATES))

    checks: list[FairnessCheck] = []
    for entry in entries:
        for spec in specs:
            limit = float(spec.threshold or 0.0)
            if spec.name in _NEEDS_LABELS and truth is None:
                reason = f"{spec.name} needs labels; none were given"
                checks.append(
                    FairnessCheck(
                        entry.attribute, spec.name, spec.direction, limit, None, None, reason
                    )
                )
                continue
            value = entry.value(spec.name)
            shown = None if math.isnan(value) else value
            reason = f"{entry.attribute}: {spec.describe_failure(value)}"
            checks.append(
                FairnessCheck(
                    entry.attribute,
                    spec.name,
                    spec.direction,
                    limit,
                    shown,
                    spec.passes(value),
                    reason,
                )
            )
    return FairnessReport(
        attributes=tuple(entries),
        overall=overall,
        positive_class=plain(positive_class),
        rows=arrays.rows,
        evaluated=int(rows.sum()),
        checks=tuple(checks),
        notes=tuple(notes),
    )
