"""The monitoring report's sections over time: performance per window, estimated
performance, and the history of the monitor's evaluations.

Each chart answers one question, in the units of what it shows: a metric against its
thresholds and alert rules (bounded metrics zoomed to the data, never past 0 or 1), the rows
and labels of each window, the share of drifted columns, which windows drifted and when an
alert fired. A window without data is a gap in a line (a ``None`` point, with plotly's
``connectgaps`` off), never a line drawn across it. The history leaves out what the
performance section already draws (recomputed there with the labels that came late).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cycleml.reports._html import _COLORS, _LAYOUT, _finite, _fmt, _label
from cycleml.reports._monitoring_charts import _iso, _lines_chart, _num, _stamp, _verdict, _when

__all__ = ["estimated_context", "history_context", "performance_context"]

WARN = "#b5561b"
_BOUNDED = {  # metrics that live in [0, 1]
    "accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc",
    "average_precision", "calibration_error", "labelled_share", "share", "selection_rate",
    "tpr", "fpr", "demographic_parity_difference", "demographic_parity_ratio",
    "equalized_odds_difference",
}  # fmt: skip
_NONNEGATIVE = {"log_loss", "mae", "mse", "rmse", "mape", "median_ae", "statistic"}
_OPERATORS = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "=", "!=": "≠"}


# -- points in time ----------------------------------------------------------------------------
def _clock(ms: float | None) -> str:
    """A short UTC time for hover text: ``2026-12-04 00:00``."""
    if ms is None:
        return "?"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _gapped(
    points: Sequence[tuple[float, Any, str]], step: float | None
) -> tuple[list[str], list[Any], list[str]]:
    """x (ISO), y and hover text of ``(ms, value, text)`` points in time order, with a
    ``None`` point wherever a window of ``step`` ms is missing, so the line breaks there."""
    xs: list[str] = []
    ys: list[Any] = []
    texts: list[str] = []
    previous: float | None = None
    for ms, value, text in sorted(points, key=lambda p: p[0]):
        if step and previous is not None and ms - previous > step:
            xs.append(_iso(previous + step) or "")
            ys.append(None)
            texts.append("no data")
        xs.append(_iso(ms) or "")
        ys.append(value)
        texts.append(text)
        previous = ms
    return xs, ys, texts


def _trace(
    xs: Sequence[str], ys: Sequence[Any], texts: Sequence[str], name: str, color: str
) -> dict[str, Any]:
    """A line of points; ``texts`` is hover markup built here (times, numbers, escaped names)."""
    return {
        "type": "scatter",
        "mode": "lines+markers",
        "name": _label(name),
        "x": list(xs),
        "y": list(ys),
        "text": list(texts),
        "line": {"color": color},
        "marker": {"size": 7},
        "connectgaps": False,
        "cliponaxis": False,
        "hovertemplate": "%{text}<br>" + _label(name) + " %{y:.4~f}<extra></extra>",
    }


def _axis(metric: str, values: Sequence[Any], lines: Sequence[float]) -> dict[str, Any]:
    """A y axis zoomed to the data and its threshold lines, within the metric's bounds."""
    base = metric.rsplit(".", 1)[-1]
    numbers = [v for v in (*values, *lines) if isinstance(v, int | float) and math.isfinite(v)]
    axis: dict[str, Any] = {"zeroline": False}
    if base in _BOUNDED:
        axis["tickformat"] = ".3~f"
    if not numbers:
        return axis | ({"range": [0, 1]} if base in _BOUNDED else {})
    low, high = min(numbers), max(numbers)
    # A flat series still gets a readable scale: at least 5% of its level, never ±1 around it.
    pad = max(0.15 * (high - low), 0.025 * max(abs(low), abs(high)), 0.005)
    bottom, top = low - pad, high + pad
    if base in _BOUNDED or base in _NONNEGATIVE:
        bottom = max(bottom, 0.0)
    if base in _BOUNDED:
        top = min(top, 1.0)
    return axis | {"range": [bottom, top]}


def _rule_lines(
    rules: Sequence[Mapping[str, Any]], metric: str, *, percent: bool = False
) -> list[tuple[float, str]]:
    """A threshold line per alert rule on ``metric``, labelled in the axis' units."""
    lines = []
    for rule in rules:
        value = _finite(rule.get("threshold"))
        if rule.get("metric") == metric and value is not None:
            op = _OPERATORS.get(str(rule.get("operator")), str(rule.get("operator")))
            shown = f"{value:.0%}" if percent else _fmt(value)
            lines.append((value, f"alert {rule.get('name')}: {op} {shown}"))
    return lines


def _merged(lines: Sequence[tuple[float, str]]) -> list[tuple[float, str]]:
    """One line per value: a spec threshold and the alert rule made from it share a label."""
    found: dict[float, list[str]] = {}
    for value, text in lines:
        if text not in found.setdefault(value, []):
            found[value].append(text)
    return [(value, " · ".join(texts)) for value, texts in found.items()]


def condition(rule: Mapping[str, Any]) -> str:
    """A rule as text: ``drift.share ≥ 0.3 for 2 windows``."""
    op = _OPERATORS.get(str(rule.get("operator")), str(rule.get("operator") or "?"))
    text = f"{rule.get('metric')} {op} {_num(rule.get('threshold'))}"
    windows = rule.get("for_windows")
    if isinstance(windows, int) and windows > 1:
        text += f" for {windows} windows"
    return text


def _time_layout(
    title: str, yaxis: Mapping[str, Any], thresholds: Sequence[tuple[float, str]], legend: bool
) -> dict[str, Any]:
    chart = _lines_chart([], thresholds=_merged(thresholds), yaxis=yaxis)
    layout: dict[str, Any] = chart["layout"]
    layout["showlegend"] = legend
    layout["xaxis"] = {"type": "date", "title": {"text": title, "font": {"size": 11}}}
    return layout


# -- performance -------------------------------------------------------------------------------
def _windows(section: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = [w for w in section.get("windows") or [] if isinstance(w, Mapping)]
    return sorted(found, key=lambda w: _stamp(w.get("window_end")) or 0.0)


def _check_lines(checks: Sequence[Mapping[str, Any]], metric: str) -> list[tuple[float, str]]:
    found: dict[tuple[float, str], None] = {}
    for check in checks:
        value = _finite(check.get("threshold"))
        if check.get("metric") == metric and value is not None:
            sign = "≥" if check.get("direction") == "maximize" else "≤"
            found[(value, f"threshold {sign} {_fmt(value)}")] = None
    return list(found)


def _window_points(
    windows: Sequence[Mapping[str, Any]], metric: str, timed: bool
) -> tuple[list[str], list[Any], list[str]]:
    """One point per window at its end; a gap where windows are missing (``timed``)."""
    points: list[tuple[float, Any, str]] = []
    previous_end: float | None = None
    for w in windows:
        start, end = _stamp(w.get("window_start")), _stamp(w.get("window_end"))
        if end is None:
            continue
        if timed and previous_end is not None and start is not None and start > previous_end:
            points.append((start, None, "no data"))  # no rows at all in between
        open_ = " (open)" if w.get("partial") else ""
        text = f"window {_clock(start)} to {_clock(end)} UTC{open_}"
        points.append((end, _finite(w.get(metric)), text))
        previous_end = end
    return _gapped(points, None)


def performance_context(
    performance: Mapping[str, Any],
    rules: Sequence[Mapping[str, Any]],
    charts: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The performance section: a table of windows (newest first) with their checks, one
    chart per metric with its thresholds and alert rules, and the rows and labels per
    window."""
    windows = _windows(performance)
    timed = isinstance(performance.get("window"), str)
    checks = [c for c in performance.get("checks") or [] if isinstance(c, Mapping)]
    metrics = [str(m) for m in performance.get("metrics") or []]
    blocks = []
    for j, metric in enumerate(metrics):
        xs, ys, texts = _window_points(windows, metric, timed)
        lines = _check_lines(checks, metric) + _rule_lines(rules, f"performance.{metric}")
        chart_id = f"chart-performance-{j}"
        layout = _time_layout(
            "window end (UTC)", _axis(metric, ys, [v for v, _ in lines]), lines, legend=False
        )
        charts[chart_id] = {"data": [_trace(xs, ys, texts, metric, _COLORS[0])], "layout": layout}
        blocks.append({"metric": metric, "chart": chart_id})
    rows_chart = None
    if windows:
        charts["chart-performance-rows"] = _rows_chart(windows)
        rows_chart = "chart-performance-rows"
    by_window: dict[tuple[float | None, str], Mapping[str, Any]] = {
        (_stamp(c.get("window_end")), str(c.get("metric"))): c for c in checks
    }
    checked = {str(c.get("metric")): _check_lines(checks, str(c.get("metric"))) for c in checks}
    return {
        "task": _fmt(performance.get("task")),
        "metrics": blocks,
        "rows_chart": rows_chart,
        "open": any(w.get("partial") for w in windows),
        "columns": [
            (m, " · ".join(text for _, text in checked[m]) if m in checked else "") for m in metrics
        ],
        "windows": [
            {
                "end": _when(w.get("window_end")),
                "open": bool(w.get("partial")),
                "rows": _num(w.get("rows")),
                "labelled": _num(w.get("labelled")),
                "cells": [
                    _cell(w.get(m), by_window.get((_stamp(w.get("window_end")), m)))
                    for m in metrics
                ],
            }
            for w in reversed(windows)
        ],
        "failed": sum(1 for c in checks if c.get("passed") is False),
        "unjudged": sum(1 for c in checks if c.get("passed") is None),
    }


def _cell(value: Any, check: Mapping[str, Any] | None) -> dict[str, Any]:
    verdict = None
    if check is not None:
        passed = check.get("passed")
        verdict = _verdict(None if passed is None else not passed, "failed", "passed", "not judged")
    return {
        "value": _num(value),
        "verdict": verdict,
        "reason": _fmt(check.get("reason")) if check and check.get("reason") else "",
    }


def _rows_chart(windows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Rows and labelled rows per window: bars spanning each window's time."""
    xs: list[str | None] = []
    widths: list[float | None] = []
    texts, rows, labelled = [], [], []
    for w in windows:
        start, end = _stamp(w.get("window_start")), _stamp(w.get("window_end"))
        if end is None:
            continue
        count, done = _finite(w.get("rows")), _finite(w.get("labelled"))
        share = f" ({done / count:.0%})" if count and done is not None else ""
        texts.append(
            f"window {_clock(start)} to {_clock(end)} UTC"
            + (" (open)" if w.get("partial") else "")
            + f"<br>{_fmt(count)} rows, {_fmt(done)} labelled{share}"
        )
        if start is not None and end > start:  # a row window spans its first to last row
            xs.append(_iso(start + (end - start) / 2))
            widths.append((end - start) * 0.9)
        else:
            xs.append(_iso(end))
            widths.append(None)
        rows.append(count)
        labelled.append(done)
    traces = []
    for name, values, color in (("rows", rows, "#b9c7dc"), ("labelled", labelled, _COLORS[0])):
        trace: dict[str, Any] = {
            "type": "bar",
            "name": name,
            "x": xs,
            "y": values,
            "text": texts,
            "textposition": "none",
            "marker": {"color": color},
            "hovertemplate": "%{text}<extra></extra>",
        }
        if any(w is not None for w in widths):
            trace["width"] = widths
        traces.append(trace)
    layout = _LAYOUT | {
        "barmode": "overlay",
        "showlegend": True,
        "xaxis": {"type": "date", "title": {"text": "window (UTC)", "font": {"size": 11}}},
        "yaxis": {"rangemode": "tozero", "tickformat": ",d", "title": {"text": "rows"}},
    }
    return {"data": traces, "layout": layout}


def estimated_context(
    estimated: Mapping[str, Any],
    performance: Mapping[str, Any] | None,
    charts: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Estimated performance (CBPE): the estimate per window next to the realized metric."""
    metrics = estimated.get("metrics") or {}
    windows = _windows(estimated)
    realized = _windows(performance) if performance else []
    timed = isinstance(estimated.get("window"), str)
    blocks = []
    if windows:
        for j, metric in enumerate(str(m) for m in metrics):
            est = _window_points(windows, metric, timed)
            traces = [_trace(*est, f"estimated {metric}", _COLORS[0])]
            values = list(est[1])
            if any(metric in w for w in realized):
                real = _window_points(realized, metric, timed)
                traces.append(_trace(*real, f"realized {metric}", _COLORS[1]))
                values += real[1]
            layout = _time_layout("window end (UTC)", _axis(metric, values, []), [], legend=True)
            charts[f"chart-estimated-{j}"] = {"data": traces, "layout": layout}
            blocks.append({"metric": metric, "chart": f"chart-estimated-{j}"})
    return {
        "method": _fmt(estimated.get("method")),
        "metrics": [(str(k), _num(v)) for k, v in metrics.items()],
        "assumptions": [str(a) for a in estimated.get("assumptions") or []],
        "charts": blocks,
    }


# -- history -----------------------------------------------------------------------------------
def _points(raw: Any) -> list[tuple[float, float | None]]:
    pairs = [
        (_stamp(p[0]), _finite(p[1]))
        for p in raw or []
        if isinstance(p, Sequence) and not isinstance(p, str) and len(p) >= 2
    ]
    return sorted((t, v) for t, v in pairs if t is not None)


def history_context(
    report: Mapping[str, Any],
    history: Mapping[str, Any],
    charts: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """One chart per question over the evaluated windows: drifted columns, prediction and
    multivariate drift (drifted windows marked), rows and quality issues, fairness per
    attribute, performance (only without a performance section), anything else as is."""
    series = {str(k): _points(v) for k, v in (history.get("metrics") or {}).items()}
    monitor = report.get("monitor") if isinstance(report.get("monitor"), Mapping) else {}
    step = _finite((monitor or {}).get("window_ms"))
    rules = [r for r in (monitor or {}).get("rules") or [] if isinstance(r, Mapping)]
    fired = [
        a for a in report.get("alerts") or [] if isinstance(a, Mapping) and a.get("kind") == "fired"
    ]
    blocks: list[dict[str, Any]] = []

    def add(title: str, about: str, chart: dict[str, Any], metrics: Sequence[str]) -> None:
        chart_id = f"chart-history-{len(blocks)}"
        charts[chart_id] = chart
        latest = max((series[m][-1] for m in metrics if series.get(m)), default=(None, None))
        blocks.append(
            {
                "title": title,
                "about": about,
                "chart": chart_id,
                "metrics": ", ".join(metrics),
                "points": _fmt(max(len(series.get(m) or []) for m in metrics)),
                "latest_at": _when(latest[0]),
            }
        )

    used: set[str] = set()
    if "drift.share" in series:
        used |= {"drift.share", "drift.number_drifted"}
        drift = report.get("drift") if isinstance(report.get("drift"), Mapping) else None
        add(*_drift_chart(series, step, rules, fired, drift), ["drift.share"])
    for key, title in (
        ("prediction_drift", "Prediction drift"),
        ("multivariate", "Multivariate drift"),
    ):
        if f"{key}.statistic" in series:
            used |= {f"{key}.statistic", f"{key}.drifted"}
            section = report.get(key) if isinstance(report.get(key), Mapping) else None
            add(title, *_flagged_chart(series, key, step, rules, section), [f"{key}.statistic"])
    if "quality.rows" in series:
        used |= {"quality.rows", "quality.issues", "quality.schema_changes"}
        add(*_quality_chart(series, step), ["quality.rows"])
    attributes: dict[str, list[str]] = {}
    for name in series:
        if name.startswith("fairness.") and name.count(".") >= 2:
            attributes.setdefault(name.split(".")[1], []).append(name)
    for attribute, names in attributes.items():
        used |= set(names)
        add(f"Fairness: {attribute}", "Parity measures per window.",
            _multi_chart(series, names, step, rules), names)  # fmt: skip
    if report.get("performance"):  # drawn above with the labels that arrived since
        used |= {n for n in series if n.startswith("performance.")}
    used.add("performance.labelled")
    for name in series:
        if name not in used:
            add(name, "", _multi_chart(series, [name], step, rules), [name])
    return {"metrics": blocks}


def _drift_chart(
    series: Mapping[str, list[tuple[float, float | None]]],
    step: float | None,
    rules: Sequence[Mapping[str, Any]],
    fired: Sequence[Mapping[str, Any]],
    drift: Mapping[str, Any] | None,
) -> tuple[str, str, dict[str, Any]]:
    counts = dict(series.get("drift.number_drifted") or [])
    total = _finite((drift or {}).get("number_of_columns"))
    of = f" of {_fmt(int(total))}" if total else ""
    points = [
        (t, v, f"window ending {_clock(t)} UTC<br>{_fmt(_int(counts.get(t)))}{of} columns drifted")
        for t, v in series["drift.share"]
    ]
    xs, ys, texts = _gapped(points, step)
    trace = _trace(xs, ys, texts, "drifted share", _COLORS[0])
    trace["hovertemplate"] = "%{text}<br>%{y:.0%} of columns<extra></extra>"
    lines = _rule_lines(rules, "drift.share", percent=True)
    threshold = _finite((drift or {}).get("drift_share_threshold"))
    if threshold is not None:
        lines.insert(0, (threshold, f"dataset drift at {threshold:.0%}"))
    traces = [trace, *_alert_markers(fired, "drift.share")]
    layout = _time_layout("window end (UTC)", {"range": [0, 1.05], "tickformat": ".0%"},
                          lines, legend=len(traces) > 1)  # fmt: skip
    about = "Share of the tested columns whose drift test fired, per evaluated window."
    return "Drifted columns", about, {"data": traces, "layout": layout}


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _alert_markers(fired: Sequence[Mapping[str, Any]], metric: str) -> list[dict[str, Any]]:
    points = []
    for alert in fired:
        if alert.get("metric") != metric:
            continue
        details = alert.get("details") if isinstance(alert.get("details"), Mapping) else {}
        when = _stamp((details or {}).get("window_end")) or _stamp(alert.get("time"))
        if when is not None:
            rule = alert.get("rule_name") or alert.get("rule")
            text = f"alert {_label(rule)} fired"
            points.append((_iso(when), _finite(alert.get("value")), text))
    if not points:
        return []
    return [
        {
            "type": "scatter",
            "mode": "markers",
            "name": "alert fired",
            "x": [p[0] for p in points],
            "y": [p[1] for p in points],
            "text": [p[2] for p in points],
            "marker": {"symbol": "triangle-up", "size": 14, "color": WARN},
            "cliponaxis": False,
            "hovertemplate": "%{text}<extra></extra>",
        }
    ]


def _flagged_chart(
    series: Mapping[str, list[tuple[float, float | None]]],
    key: str,
    step: float | None,
    rules: Sequence[Mapping[str, Any]],
    section: Mapping[str, Any] | None,
) -> tuple[str, dict[str, Any]]:
    """A drift statistic per window, its markers orange where the window drifted."""
    flags = dict(series.get(f"{key}.drifted") or [])
    method = (section or {}).get("method")
    points = [
        (t, v, f"window ending {_clock(t)} UTC · {'drifted' if flags.get(t) else 'no drift'}")
        for t, v in series[f"{key}.statistic"]
    ]
    xs, ys, texts = _gapped(points, step)
    trace = _trace(xs, ys, texts, f"{method or 'drift'} statistic", _COLORS[0])
    trace["marker"] = {
        "size": 9,
        "color": [WARN if t.endswith("· drifted") else _COLORS[0] for t in texts],
    }
    lines = _rule_lines(rules, f"{key}.statistic")
    threshold = _finite((section or {}).get("threshold"))
    if threshold is not None and (section or {}).get("p_value") is None:  # a distance
        lines.insert(0, (threshold, f"drift at {_fmt(threshold)}"))
    yaxis = _axis("statistic", ys, [v for v, _ in lines])
    yaxis["title"] = {"text": _label(f"{method} statistic" if method else "statistic")}
    layout = _time_layout("window end (UTC)", yaxis, lines, legend=False)
    about = "The test statistic per evaluated window; orange markers: the test fired."
    return about, {"data": [trace], "layout": layout}


def _quality_chart(
    series: Mapping[str, list[tuple[float, float | None]]], step: float | None
) -> tuple[str, str, dict[str, Any]]:
    issues = dict(series.get("quality.issues") or [])
    changes = dict(series.get("quality.schema_changes") or [])
    xs, ys, colors, texts, widths = [], [], [], [], []
    for t, rows in series["quality.rows"]:
        found, schema = _int(issues.get(t)) or 0, _int(changes.get(t)) or 0
        xs.append(_iso(t - step / 2) if step else _iso(t))
        widths.append(step * 0.9 if step else None)
        ys.append(rows)
        colors.append(WARN if found or schema else "#b9c7dc")
        texts.append(
            f"window ending {_clock(t)} UTC<br>{_fmt(_int(rows))} rows · {found} quality "
            f"issue{'s' if found != 1 else ''} · {schema} schema change{'s' if schema != 1 else ''}"
        )
    trace: dict[str, Any] = {
        "type": "bar",
        "name": "rows",
        "x": xs,
        "y": ys,
        "text": texts,
        "textposition": "none",
        "marker": {"color": colors},
        "hovertemplate": "%{text}<extra></extra>",
    }
    if step:
        trace["width"] = widths
    layout = _LAYOUT | {
        "xaxis": {"type": "date", "title": {"text": "window (UTC)", "font": {"size": 11}}},
        "yaxis": {"rangemode": "tozero", "tickformat": ",d", "title": {"text": "rows"}},
    }
    about = "Rows per evaluated window; orange bars: windows with quality issues or schema changes."
    return "Rows and data quality", about, {"data": [trace], "layout": layout}


def _multi_chart(
    series: Mapping[str, list[tuple[float, float | None]]],
    names: Sequence[str],
    step: float | None,
    rules: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    traces, values, lines = [], [], []
    palette = (*_COLORS, "#4a9b5e", "#8a5fb3", "#c0392b", "#7f8c8d")
    for k, name in enumerate(names):
        points = [(t, v, f"window ending {_clock(t)} UTC") for t, v in series[name]]
        xs, ys, texts = _gapped(points, step)
        label = name.rsplit(".", 1)[-1] if len(names) > 1 else name
        traces.append(_trace(xs, ys, texts, label, palette[k % len(palette)]))
        values += ys
        lines += _rule_lines(rules, name)
    metric = names[0] if len({n.rsplit(".", 1)[-1] in _BOUNDED for n in names}) == 1 else ""
    yaxis = _axis(metric, values, [v for v, _ in lines])
    return {
        "data": traces,
        "layout": _time_layout("window end (UTC)", yaxis, lines, legend=len(traces) > 1),
    }
