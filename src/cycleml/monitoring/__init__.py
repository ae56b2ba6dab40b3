"""Monitoring (lifecycle stage 9): drift, data quality, performance, fairness, alerts.

Compare production data with a stored reference, track model performance as late labels
arrive, check fairness across the spec's sensitive attributes, and alert (log, webhook,
retraining hook) when a monitored metric crosses its threshold::

    from cycleml.monitoring import drift, reference

    ref = reference(training_frame)            # compact, storable; no raw data needed later
    report = drift(ref, current_frame)         # one row per column, plus the dataset verdict
    report.to_pandas()

Times (``since``, ``now``) are read by :func:`cycleml.time.to_ms` and durations by
:func:`cycleml.time.parse_duration`; ``parse_duration_ms`` here is deprecated (one release)
for ``cycleml.time.parse_duration_ms(value, positive=True)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cycleml._api import warn_renamed

if TYPE_CHECKING:
    from cycleml.monitoring._rest import RestMonitorRepository

# --- reference profiles and drift (_inputs, _reference, _stats, _drift, _multivariate) ---
from cycleml.monitoring._drift import ColumnDrift, DriftReport, drift, prediction_drift
from cycleml.monitoring._inputs import as_table
from cycleml.monitoring._multivariate import MultivariateDrift, multivariate_drift
from cycleml.monitoring._reference import ColumnReference, ReferenceProfile, reference

# isort: split
# --- data quality (_quality) ---
# --- performance and fairness (_performance, _fairness) ---
from cycleml.monitoring._arrays import PredictionArrays, prediction_arrays
from cycleml.monitoring._cbpe import (
    CBPE_ASSUMPTIONS,
    EstimatedPerformance,
    EstimatedWindow,
    estimate_performance,
)
from cycleml.monitoring._fairness import (
    FAIRNESS_METRICS,
    AttributeFairness,
    FairnessCheck,
    FairnessReport,
    GroupRates,
    fairness,
)
from cycleml.monitoring._performance import (
    PerformanceCheck,
    PerformanceReport,
    PerformanceWindow,
    expected_calibration_error,
    performance,
)
from cycleml.monitoring._quality import (
    ColumnQuality,
    QualityReport,
    RowCountCheck,
    SchemaChanges,
    data_quality,
    row_count_check,
)

# --- monitors, alerts, notifications (_monitors, _alerts, _notify) ---
# isort: split
from cycleml.monitoring._alerts import (
    OPERATORS,
    SEVERITIES,
    AlertEngine,
    AlertEvent,
    AlertRule,
    AlertState,
    alert_payload,
    parse_cooldown,
    step,
)

# --- monitor service (_config, _durations, _gauges, _monitors) ---
from cycleml.monitoring._config import CHECKS, MonitorConfig, parse_alert
from cycleml.monitoring._durations import parse_window
from cycleml.monitoring._evaluate import WindowResult, evaluate_window
from cycleml.monitoring._gauges import MonitorGauges
from cycleml.monitoring._logs import expand_log
from cycleml.monitoring._monitors import MonitorRun, Monitors
from cycleml.monitoring._notify import (
    Delivery,
    DeliveryGuarantee,
    LogNotifier,
    Notifier,
    RetrainHook,
    WebhookNotifier,
    notifier_from_config,
)
from cycleml.monitoring._report import build_report
from cycleml.monitoring._repository import MonitorRepository, SqlMonitorRepository
from cycleml.monitoring._sql_alerts import (
    AlertDelivery,
    AlertEventRecord,
    AlertStateRecord,
    NewAlertEvent,
)
from cycleml.monitoring._sql_evaluations import MonitorEvaluation, MonitorPoint
from cycleml.monitoring._sql_monitors import Monitor, MonitorReference, check_monitor_name

__all__: list[str] = [
    "CBPE_ASSUMPTIONS",
    "CHECKS",
    "FAIRNESS_METRICS",
    "OPERATORS",
    "SEVERITIES",
    "AlertDelivery",
    "AlertEngine",
    "AlertEvent",
    "AlertEventRecord",
    "AlertRule",
    "AlertState",
    "AlertStateRecord",
    "AttributeFairness",
    "ColumnDrift",
    "ColumnQuality",
    "ColumnReference",
    "Delivery",
    "DeliveryGuarantee",
    "DriftReport",
    "EstimatedPerformance",
    "EstimatedWindow",
    "FairnessCheck",
    "FairnessReport",
    "GroupRates",
    "LogNotifier",
    "Monitor",
    "MonitorConfig",
    "MonitorEvaluation",
    "MonitorGauges",
    "MonitorPoint",
    "MonitorReference",
    "MonitorRepository",
    "MonitorRun",
    "Monitors",
    "MultivariateDrift",
    "NewAlertEvent",
    "Notifier",
    "PerformanceCheck",
    "PerformanceReport",
    "PerformanceWindow",
    "PredictionArrays",
    "QualityReport",
    "ReferenceProfile",
    "RestMonitorRepository",
    "RetrainHook",
    "RowCountCheck",
    "SchemaChanges",
    "SqlMonitorRepository",
    "WebhookNotifier",
    "WindowResult",
    "alert_payload",
    "as_table",
    "build_report",
    "check_monitor_name",
    "data_quality",
    "drift",
    "estimate_performance",
    "evaluate_window",
    "expand_log",
    "expected_calibration_error",
    "fairness",
    "multivariate_drift",
    "notifier_from_config",
    "parse_alert",
    "parse_cooldown",
    "parse_window",
    "performance",
    "prediction_arrays",
    "prediction_drift",
    "reference",
    "row_count_check",
    "step",
]


def __getattr__(name: str) -> Any:
    """The REST repository, imported when first used, and the names deprecated in this
    release, for one release, with a DeprecationWarning."""
    if name == "RestMonitorRepository":
        from cycleml.monitoring._rest import RestMonitorRepository

        return RestMonitorRepository
    if name == "parse_duration_ms":
        from cycleml.monitoring import _durations

        warn_renamed(
            "cycleml.monitoring.parse_duration_ms",
            "cycleml.time.parse_duration_ms(value, name=..., positive=True)",
        )
        return _durations.parse_duration_ms
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
