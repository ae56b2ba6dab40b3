"""A monitor's report: the latest window's checks, performance over time, history, alerts.

:func:`build_report` assembles the JSON-ready document that
:func:`cycleml.reports.render_monitoring_html` draws (and ``cycleml monitor report --json``
prints). It holds summaries only (bins, counts, metric values), never raw rows, so the
HTML opens fast whatever the size of the data behind it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = ["HISTORY_METRICS", "build_report"]

#: Metrics drawn over time in the report (per-column drift and quality series stay in the
#: store and ``cycleml monitor history``; one chart per column would bury the summary).
HISTORY_METRICS = re.compile(
    r"^(drift\.(share|number_drifted)|prediction_drift\..+|multivariate\..+|"
    r"quality\.(issues|rows|schema_changes)|performance\..+|fairness\..+)$"
)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def build_report(
    *,
    monitor: Mapping[str, Any] | None,
    window: Mapping[str, Any] | None,
    reports: Mapping[str, Any],
    performance_over_time: Mapping[str, Any] | None = None,
    history: Iterable[tuple[int, str, float]] = (),
    alerts: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The report document (see :func:`cycleml.reports.render_monitoring_html`).

    Args:
        monitor: Name, target, model, reference id, window and checks.
        window: ``start``/``end`` (ms) and ``rows`` of the window the checks ran on.
        reports: Check name -> the check's ``to_dict()`` (drift, quality, ...).
        performance_over_time: ``performance(...).to_dict()`` over every window so far,
            with the labels that have arrived since (shown instead of the window's own).
        history: ``(window_end, metric, value)`` points from the store.
        alerts: Alert events as dicts.
    """
    series: dict[str, list[list[Any]]] = {}
    for window_end, metric, value in history:
        if HISTORY_METRICS.match(metric):
            series.setdefault(metric, []).append([int(window_end), value])
    document: dict[str, Any] = {
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "monitor": monitor,
        "window": window,
        "drift": reports.get("drift"),
        "prediction_drift": reports.get("prediction_drift"),
        "multivariate": reports.get("multivariate"),
        "quality": reports.get("quality"),
        "performance": performance_over_time or reports.get("performance"),
        "estimated_performance": reports.get("estimated_performance"),
        "fairness": reports.get("fairness"),
        "history": {"metrics": series} if series else None,
        "alerts": list(alerts) or None,
    }
    cleaned: dict[str, Any] = _clean(document)
    return cleaned
