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
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from cycleml.errors import InvalidInput
from cycleml.monitoring._alerts import AlertRule
from cycleml.monitoring._durations import parse_window
from cycleml.time import TimeLike, now_ms, to_ms

__all__ = ["HISTORY_METRICS", "build_report", "served_models"]

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


def _ms(value: Any) -> int | None:
    """Epoch milliseconds from a time :func:`cycleml.time.to_ms` reads (milliseconds, an
    ISO 8601 string; not a duration), ``None`` if it is none."""
    try:
        return to_ms(value, ago=False)
    except InvalidInput:
        return None


def _iso(ms: int) -> str:
    """ISO 8601 in UTC, as the performance windows write their times."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat()


def served_models(window: pa.Table) -> list[dict[str, Any]]:
    """Rows of a prediction-log window per model version and arm, most rows first."""
    keys = [k for k in ("model_name", "model_version", "arm") if k in window.column_names]
    if not {"model_name", "model_version"} <= set(keys) or window.num_rows == 0:
        return []
    counts = window.select(keys).group_by(keys).aggregate([([], "count_all")]).to_pylist()
    served = [
        {
            "model": f"models:/{row['model_name']}/{row['model_version']}",
            "arm": row.get("arm"),
            "rows": int(row["count_all"]),
        }
        for row in counts
        if row["model_name"] is not None and row["model_version"] is not None
    ]
    return sorted(served, key=lambda s: (-s["rows"], s["model"]))


def _deployment_models(deployment: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The models a deployment serves, with the share of requests each one answers."""
    canary = deployment.get("canary_name")
    percent = float(deployment.get("canary_percent") or 0.0) if canary else 0.0
    models = [
        {
            "model": f"models:/{deployment['model_name']}/{deployment['model_version']}",
            "role": "primary",
            "share": (100.0 - percent) / 100.0,
        }
    ]
    if canary:
        uri = f"models:/{canary}/{deployment.get('canary_version')}"
        models.append({"model": uri, "role": "canary", "share": percent / 100.0})
    if deployment.get("shadow_name"):
        uri = f"models:/{deployment['shadow_name']}/{deployment.get('shadow_version')}"
        models.append({"model": uri, "role": "shadow", "share": 0.0})  # scores a copy
    return models


def _clamp(section: Mapping[str, Any], now: int) -> dict[str, Any]:
    """Performance windows (and their checks) with any end past ``now`` clamped to it.

    The latest duration window is still open: its nominal end lies in the future, and it
    holds only the rows up to now. Such a window gets ``partial: true``.
    """
    out = dict(section)
    windows = []
    for window in section.get("windows") or []:
        end = _ms(window.get("window_end"))
        if end is not None and end > now:
            window = {**window, "window_end": _iso(now), "partial": True}
        windows.append(window)
    checks = []
    for check in section.get("checks") or []:
        end = _ms(check.get("window_end"))
        if end is not None and end > now:
            check = {**check, "window_end": _iso(now), "partial": True}
        checks.append(check)
    out["windows"], out["checks"] = windows, checks
    return out


def _window_ms(window: Any) -> int | None:
    try:
        kind, size = parse_window(window)
    except (ValueError, TypeError):
        return None
    return size if kind == "time" else None


def build_report(
    *,
    monitor: Mapping[str, Any] | None,
    window: Mapping[str, Any] | None,
    reports: Mapping[str, Any],
    performance_over_time: Mapping[str, Any] | None = None,
    history: Iterable[tuple[int, str, float]] = (),
    alerts: Sequence[Mapping[str, Any]] = (),
    deployment: Mapping[str, Any] | None = None,
    rules: Sequence[Mapping[str, Any]] = (),
    now: TimeLike | None = None,
) -> dict[str, Any]:
    """The report document (see :func:`cycleml.reports.render_monitoring_html`).

    Args:
        monitor: Name, target, model, reference id, window and checks.
        window: ``start``/``end`` (ms) and ``rows`` of the window the checks ran on, and
            ``models``: its rows per model version (:func:`served_models`).
        reports: Check name -> the check's ``to_dict()`` (drift, quality, ...).
        performance_over_time: ``performance(...).to_dict()`` over every window so far,
            with the labels that have arrived since (shown instead of the window's own).
        history: ``(window_end, metric, value)`` points from the store.
        alerts: Alert events as dicts.
        deployment: For a deployment monitor, the deployment (``Deployment.to_dict()``):
            its primary, canary and shadow models become ``monitor.models`` with the share
            of requests each answers.
        rules: The monitor's alert rules (``monitor.rules``, drawn on the history charts).
        now: The time of the report: ms since the epoch, a datetime (naive = UTC), ISO-8601
            text, or a duration meaning that long ago (:func:`cycleml.time.to_ms`); default:
            the clock. A performance window that ends later is still open: its end is
            clamped to ``now``, marked ``partial``.

    Raises:
        InvalidInput: A bad ``now``.
    """
    stamp = now_ms() if now is None else to_ms(now, name="now")
    series: dict[str, list[list[Any]]] = {}
    for window_end, metric, value in history:
        if HISTORY_METRICS.match(metric):
            series.setdefault(metric, []).append([int(window_end), value])
    section = dict(monitor) if monitor is not None else None
    if section is not None:
        if deployment is not None:
            section["models"] = _deployment_models(deployment)
            section["deployment_revision"] = deployment.get("revision")
        if rules:
            section["rules"] = [AlertRule.from_dict(rule).to_dict() for rule in rules]
        step = _window_ms(section.get("window"))
        if step is not None:
            section["window_ms"] = step
    over_time = performance_over_time or reports.get("performance")
    document: dict[str, Any] = {
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "now": _iso(stamp),
        "monitor": section,
        "window": window,
        "drift": reports.get("drift"),
        "prediction_drift": reports.get("prediction_drift"),
        "multivariate": reports.get("multivariate"),
        "quality": reports.get("quality"),
        "performance": _clamp(over_time, stamp) if over_time else over_time,
        "estimated_performance": reports.get("estimated_performance"),
        "fairness": reports.get("fairness"),
        "history": {"metrics": series} if series else None,
        "alerts": list(alerts) or None,
    }
    cleaned: dict[str, Any] = _clean(document)
    return cleaned
