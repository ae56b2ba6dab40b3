"""One window's evaluation: run a monitor's checks and flatten the results into metrics.

:func:`evaluate_window` is pure (no store): the monitor service feeds it windows of the
prediction log or a batch of data, stores the metrics as a time series and hands them to
the alert rules. Metric names, what alert rules refer to:

=====================================  =====================================================
``drift.share``                        share of drifted columns
``drift.drifted``                      1 when the dataset drifted (share >= drift_share)
``drift.number_drifted``               drifted columns
``drift.<column>``                     the column's drift statistic (its test's score)
``prediction_drift.statistic``         drift statistic of the predictions
``prediction_drift.drifted``           1 when the predictions drifted
``multivariate.statistic``             the multivariate detector's statistic
``multivariate.drifted``               1 when it fired
``quality.issues``                     number of quality problems found
``quality.rows``                       rows in the window
``quality.<column>.missing_rate``      the window's missing rate of the column
``quality.<column>.out_of_range``      share outside the reference range (numeric)
``quality.<column>.unseen_share``      share of unseen categories (categorical)
``quality.schema_changes``             columns added, removed or retyped
``performance.<metric>``               a metric on the window's labelled rows
``performance.labelled``               rows that have a label so far
``estimated.<metric>``                 a metric estimated without labels (CBPE)
``fairness.<attribute>.<measure>``     demographic parity difference and ratio, equalized
                                       odds difference, for each sensitive attribute
=====================================  =====================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from cycleml.monitoring._cbpe import estimate_performance
from cycleml.monitoring._config import MonitorConfig
from cycleml.monitoring._drift import drift, prediction_drift
from cycleml.monitoring._fairness import fairness
from cycleml.monitoring._logs import LOG_KEYS
from cycleml.monitoring._multivariate import multivariate_drift
from cycleml.monitoring._performance import performance
from cycleml.monitoring._quality import data_quality
from cycleml.monitoring._reference import ReferenceProfile

__all__ = ["WindowResult", "evaluate_window"]

#: Columns that describe a prediction rather than an input of the model.
OUTPUT_COLUMNS = frozenset({"prediction", "probabilities", "score", "label"})


@dataclass(frozen=True)
class WindowResult:
    """The metrics and the reports of one evaluated window."""

    rows: int
    values: dict[str, float]
    reports: dict[str, Any] = field(default_factory=dict)  # check name -> JSON-ready report
    errors: dict[str, str] = field(default_factory=dict)  # check name -> why it was skipped


def _input_columns(profile: ReferenceProfile, table: pa.Table, config: MonitorConfig) -> list[str]:
    if config.columns is not None:
        return list(config.columns)
    skip = OUTPUT_COLUMNS | set(LOG_KEYS)
    return [name for name in profile.columns if name not in skip]


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    return float(value)


def evaluate_window(
    table: pa.Table,
    config: MonitorConfig,
    *,
    profile: ReferenceProfile | None,
    sensitive: Sequence[str] = (),
    spec_metrics: Sequence[Any] = (),
    row_history: Sequence[int] = (),
    fairness_thresholds: Mapping[str, float] | None = None,
) -> WindowResult:
    """Run ``config``'s checks on ``table`` (one window) against ``profile``.

    Args:
        table: The window's rows: input columns, and ``prediction``/``score``/``label``
            where the checks need them (an expanded prediction log, or a batch).
        config: The monitor's configuration.
        profile: The reference profile (drift and quality need it).
        sensitive: Sensitive attributes for the fairness check when its options name none.
        spec_metrics: The project's metric specs (performance compares those applying to
            ``monitor`` with their thresholds).
        row_history: Row counts of earlier windows, for the quality check's row count.
        fairness_thresholds: The fairness check's thresholds when its options set none
            (the project's ``problem.fairness``).

    A check that cannot run on this window (no reference, no labels yet) is skipped and the
    reason kept in :attr:`WindowResult.errors`; the other checks still run.
    """
    values: dict[str, float] = {}
    reports: dict[str, Any] = {}
    errors: dict[str, str] = {}
    checks = set(config.checks)
    needs_profile = checks & {"drift", "prediction_drift", "multivariate", "quality"}
    if needs_profile and profile is None:
        for name in sorted(needs_profile):
            errors[name] = "the monitor has no reference profile"
        checks -= needs_profile
    if profile is not None:
        inputs = [c for c in _input_columns(profile, table, config) if c in profile.columns]
    else:
        inputs = []

    if "drift" in checks and profile is not None:
        present = [c for c in inputs if c in table.column_names]
        if present:
            report = drift(profile, table.select(present), columns=present, **dict(config.drift))
            reports["drift"] = report.to_dict()
            values["drift.share"] = float(report.share)
            values["drift.drifted"] = _number(report.drifted)
            values["drift.number_drifted"] = float(report.number_drifted)
            for column in report.columns:
                values[f"drift.{column.column}"] = _number(column.statistic)
        else:
            errors["drift"] = "none of the reference's columns is in the window"

    if "prediction_drift" in checks and profile is not None:
        if "prediction" in profile.columns and "prediction" in table.column_names:
            moved = prediction_drift(profile, table.select(["prediction"]))
            reports["prediction_drift"] = _as_dict(moved)
            values["prediction_drift.statistic"] = _number(moved.statistic)
            values["prediction_drift.drifted"] = _number(moved.drifted)
        else:
            errors["prediction_drift"] = "the reference or the window has no prediction column"

    if "multivariate" in checks and profile is not None:
        present = [c for c in inputs if c in table.column_names]
        try:
            mv = multivariate_drift(profile, table.select(present), columns=present)
        except ValueError as exc:  # e.g. fewer than two numeric columns
            errors["multivariate"] = str(exc)
        else:
            reports["multivariate"] = _as_dict(mv)
            values["multivariate.statistic"] = _number(mv.statistic)
            values["multivariate.drifted"] = _number(mv.drifted)

    if "quality" in checks and profile is not None:
        window_inputs = [c for c in table.column_names if c not in OUTPUT_COLUMNS | set(LOG_KEYS)]
        # The outputs (the reference's prediction column, for prediction drift) are not
        # inputs: left in, every window would miss them.
        input_profile = replace(
            profile,
            columns={k: v for k, v in profile.columns.items() if k not in OUTPUT_COLUMNS},
        )
        quality = data_quality(
            input_profile,
            table.select(window_inputs),
            columns=list(inputs) if config.columns is not None else None,
            row_history=list(row_history) or None,
            **dict(config.quality),
        )
        reports["quality"] = quality.to_dict()
        values["quality.issues"] = float(len(quality.issues))
        values["quality.rows"] = float(quality.rows)
        values["quality.schema_changes"] = float(
            len(quality.schema.added) + len(quality.schema.removed) + len(quality.schema.retyped)
        )
        for col in quality.columns:
            values[f"quality.{col.column}.missing_rate"] = col.current_missing_rate
            if col.out_of_range is not None:
                values[f"quality.{col.column}.out_of_range"] = col.out_of_range
            if col.unseen_share is not None:
                values[f"quality.{col.column}.unseen_share"] = col.unseen_share

    if "performance" in checks:
        if "label" not in table.column_names or table.column("label").null_count == len(table):
            errors["performance"] = "no labels have arrived for this window yet"
        else:
            options = dict(config.performance)
            if "score_column" not in options and "score" in table.column_names:
                options["score_column"] = "score"
            measured = performance(table, spec_metrics=spec_metrics, **options).to_dict()
            reports["performance"] = measured
            window = measured["windows"][-1]
            values["performance.labelled"] = _number(window.get("labelled"))
            for metric in measured.get("metrics", []):
                values[f"performance.{metric}"] = _number(window.get(metric))

    if "estimated_performance" in checks:
        options = dict(config.estimated_performance)
        calibration = options.pop("reference")
        if "score_column" not in options and "score" in table.column_names:
            options["score_column"] = "score"
        estimate = estimate_performance(
            calibration, table, spec_metrics=spec_metrics, **options
        ).to_dict()
        reports["estimated_performance"] = estimate
        latest = estimate["windows"][-1] if estimate["windows"] else {}
        for metric in estimate.get("metrics", []):
            values[f"estimated.{metric}"] = _number(latest.get(metric))

    if "fairness" in checks:
        options = dict(config.fairness)
        options.setdefault("sensitive", list(sensitive))
        if fairness_thresholds and "thresholds" not in options:
            options["thresholds"] = dict(fairness_thresholds)
        if not options["sensitive"]:
            errors["fairness"] = "no sensitive attributes (set them in cycleml.yaml)"
        elif "label" not in table.column_names or table.column("label").null_count == len(table):
            errors["fairness"] = "no labels have arrived for this window yet"
        else:
            labelled = table.filter(table.column("label").is_valid())
            fair = fairness(labelled, **options).to_dict()
            reports["fairness"] = fair
            for attribute in fair.get("attributes", []):
                name = attribute["attribute"]
                for measure in (
                    "demographic_parity_difference",
                    "demographic_parity_ratio",
                    "equalized_odds_difference",
                ):
                    values[f"fairness.{name}.{measure}"] = _number(attribute.get(measure))

    return WindowResult(rows=table.num_rows, values=values, reports=reports, errors=errors)


def _as_dict(result: Any) -> dict[str, Any]:
    if hasattr(result, "to_dict"):
        return dict(result.to_dict())
    return dict(vars(result))


def flat_summary(result: WindowResult) -> Mapping[str, Any]:
    """The small summary stored with an evaluation (verdicts, issues, skipped checks)."""
    summary: dict[str, Any] = {"errors": dict(result.errors)}
    drift_report = result.reports.get("drift")
    if drift_report:
        summary["drifted_columns"] = [c["column"] for c in drift_report["columns"] if c["drifted"]]
    quality = result.reports.get("quality")
    if quality:
        summary["quality_issues"] = list(quality.get("issues", []))[:20]
    return summary
