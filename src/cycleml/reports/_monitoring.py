"""Self-contained HTML report of one monitoring run (drift, quality, performance, fairness).

The renderer takes the plain, JSON-ready dict the monitoring package builds (this package
does not import :mod:`cycleml.monitoring`) and returns one HTML page in the house style of
:mod:`cycleml.reports._html`: inline CSS, plotly.js inlined once (works offline), and every
chart specification in one compact JSON block (floats rounded to 6 significant digits,
non-finite values as ``null``). A chart is drawn only when it scrolls into view, so a report
with hundreds of columns opens fast. Only the aggregates in the dict reach the page, never
raw rows. Every string from the dict is escaped: HTML by Jinja's autoescaping, chart labels
before plotly, and the JSON block against ``</script>``.

Every section of the dict is optional: an absent or ``None`` section is left out of the page
and out of its navigation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from cycleml.errors import InvalidInput
from cycleml.reports._html import _LAYOUT, IncludePlotlyJS, _finite, _fmt, _label, _render
from cycleml.reports._monitoring_charts import (
    PALETTE,
    _compact,
    _distribution_chart,
    _num,
    _points,
    _share,
    _verdict,
    _when,
)
from cycleml.reports._monitoring_time import (
    condition,
    estimated_context,
    history_context,
    performance_context,
)

__all__ = ["render_monitoring_html"]

_SECTIONS = {  # anchor: (context key, navigation title), in page order
    "drift": ("drift", "Data drift"),
    "prediction-drift": ("prediction", "Prediction drift"),
    "multivariate": ("multivariate", "Multivariate drift"),
    "quality": ("quality", "Data quality"),
    "performance": ("performance", "Performance"),
    "estimated-performance": ("estimated", "Estimated performance"),
    "fairness": ("fairness", "Fairness"),
    "history": ("history", "History"),
    "alerts": ("alerts", "Alerts"),
}
_FAIRNESS_BARS = (("selection_rate", "selection rate"), ("tpr", "TPR"), ("fpr", "FPR"))
_FAIRNESS_SUMMARY = (
    ("demographic_parity_difference", "Demographic parity difference"),
    ("demographic_parity_ratio", "Demographic parity ratio"),
    ("equalized_odds_difference", "Equalized odds difference"),
)


def render_monitoring_html(
    report: Mapping[str, Any],
    *,
    title: str,
    include_plotlyjs: IncludePlotlyJS = "inline",
) -> str:
    """Render a monitoring report (the monitoring package's JSON-ready dict) as one HTML page.

    Sections, each shown only when present in ``report``: a summary (monitor, window and
    verdict badges for dataset drift, quality and alerts), the drift table sorted by score
    with one section per column overlaying the reference and current distributions,
    prediction drift, multivariate drift, data quality (schema changes, row count, per-column
    missing values, ranges and unseen categories), performance over time against its checks,
    estimated performance (CBPE) with its assumptions, fairness per sensitive attribute
    (per-group bars and the parity summaries with their checks), metric history, and alerts.

    Args:
        report: The monitoring report as a JSON-ready mapping.
        title: The page title (escaped).
        include_plotlyjs: ``"inline"`` (one self-contained file) or ``"shared"`` (plotly.js
            loaded from ``plotly-<version>.min.js`` beside the page, which
            :func:`cycleml.reports.write_html` writes); see :mod:`cycleml.reports._html`.

    Returns:
        The HTML page as a string; write it with :func:`cycleml.reports.write_html`.

    Raises:
        InvalidInput: ``report`` or one of its sections has the wrong shape (a section that
            is not a mapping, a list that is not a list), or ``include_plotlyjs`` is unknown.
    """
    if not isinstance(report, Mapping):
        raise InvalidInput(
            f"A monitoring report must be a mapping, got {type(report).__name__}.",
            hint="Pass the monitoring report's to_dict() output.",
        )
    charts: dict[str, dict[str, Any]] = {}
    monitor = _section(report, "monitor")
    window = _section(report, "window")
    drift = _section(report, "drift")
    prediction = _section(report, "prediction_drift")
    multivariate = _section(report, "multivariate")
    quality = _section(report, "quality")
    performance = _section(report, "performance")
    estimated = _section(report, "estimated_performance")
    fairness = _section(report, "fairness")
    history = _section(report, "history")
    alerts = _items(report, "alerts")
    rules = [r for r in (monitor or {}).get("rules") or [] if isinstance(r, Mapping)]

    context: dict[str, Any] = {
        "title": title,
        "generated_at": _fmt(report.get("generated_at")),
        "monitor_name": str(monitor.get("name")) if monitor and monitor.get("name") else None,
        "summary": _summary_rows(monitor, window, report.get("generated_at")),
        "checks": [str(c) for c in (monitor or {}).get("checks") or []],
        "badges": _badges(drift, prediction, multivariate, quality, performance, fairness, alerts),
        "drift": _drift_context(drift, charts) if drift is not None else None,
        "prediction": _prediction_context(prediction, charts) if prediction else None,
        "multivariate": _multivariate_context(multivariate) if multivariate else None,
        "quality": _quality_context(quality) if quality is not None else None,
        "performance": performance_context(performance, rules, charts) if performance else None,
        "estimated": estimated_context(estimated, performance, charts) if estimated else None,
        "fairness": _fairness_context(fairness, charts) if fairness is not None else None,
        "history": history_context(report, history, charts) if history is not None else None,
        "alerts": _alerts_context(alerts, rules) if alerts is not None or rules else None,
    }
    context["sections"] = [
        (anchor, title_) for anchor, (key, title_) in _SECTIONS.items() if context[key] is not None
    ]
    return _render("monitoring.html.j2", context, _compact(charts), include_plotlyjs)


# -- input shape -------------------------------------------------------------------------------
def _section(report: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = report.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInput(
            f"The monitoring report's {key!r} section must be a mapping or None, "
            f"got {type(value).__name__}.",
            hint="Pass the monitoring report's to_dict() output.",
            details={"section": key},
        )
    return value


def _items(report: Mapping[str, Any], key: str) -> list[Mapping[str, Any]] | None:
    value = report.get(key)
    if value is None:
        return None
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise InvalidInput(
            f"The monitoring report's {key!r} section must be a list or None, "
            f"got {type(value).__name__}.",
            hint="Pass the monitoring report's to_dict() output.",
            details={"section": key},
        )
    return [item for item in value if isinstance(item, Mapping)]


# -- formatting --------------------------------------------------------------------------------


# -- summary -----------------------------------------------------------------------------------
def _summary_rows(
    monitor: Mapping[str, Any] | None, window: Mapping[str, Any] | None, generated_at: Any
) -> list[tuple[str, list[str]]]:
    """(label, lines) rows: a deployment's models take one line each."""
    rows: list[tuple[str, list[str]]] = []
    if monitor is not None:
        size = monitor.get("window")
        if isinstance(size, int) and not isinstance(size, bool):
            size_text = f"last {_fmt(int(size))} rows"
        else:
            size_text = _fmt(size)
        models = [m for m in monitor.get("models") or [] if isinstance(m, Mapping)]
        revision = monitor.get("deployment_revision")
        rows += [
            ("Monitor", [_fmt(monitor.get("name"))]),
            (
                "Deployment" if models else "Target",
                [_fmt(monitor.get("target")) + (f" (revision {revision})" if revision else "")],
            ),
            ("Models" if len(models) > 1 else "Model", [_model_line(m) for m in models]
             if models else [_fmt(monitor.get("model"))]),
            ("Reference", [_fmt(monitor.get("reference_id"))]),
            ("Window size", [size_text]),
        ]  # fmt: skip
    if window is not None:
        served = [m for m in window.get("models") or [] if isinstance(m, Mapping)]
        rows += [
            ("Window start", [_when(window.get("start"))]),
            ("Window end", [_when(window.get("end"))]),
            ("Rows in window", [_num(window.get("rows"))]),
        ]
        if served:
            rows.append(("Rows by model", [_served_line(m) for m in served]))
    if generated_at is not None:
        rows.append(("Generated at", [_fmt(generated_at)]))
    return rows


def _model_line(model: Mapping[str, Any]) -> str:
    role, share = _fmt(model.get("role")), _finite(model.get("share"))
    if role == "shadow":
        return f"{_fmt(model.get('model'))} (shadow: scores a copy of every request)"
    answers = f", answers {share:.0%} of requests" if share is not None else ""
    return f"{_fmt(model.get('model'))} ({role}{answers})"


def _served_line(model: Mapping[str, Any]) -> str:
    arm = f" ({model['arm']})" if model.get("arm") else ""
    return f"{_fmt(model.get('model'))}{arm}: {_num(model.get('rows'))} rows"


def _badges(
    drift: Mapping[str, Any] | None,
    prediction: Mapping[str, Any] | None,
    multivariate: Mapping[str, Any] | None,
    quality: Mapping[str, Any] | None,
    performance: Mapping[str, Any] | None,
    fairness: Mapping[str, Any] | None,
    alerts: list[Mapping[str, Any]] | None,
) -> list[dict[str, Any]]:
    badges = []
    if drift is not None:
        flag = drift.get("drifted")
        word = "unknown" if flag is None else ("yes" if flag else "no")
        text = f"Dataset drift: {word} ({_share(drift.get('share'))} of columns drifted)"
        badges.append({"text": text, "alert": bool(flag)})
    for name, section in (("Prediction", prediction), ("Multivariate", multivariate)):
        if section:
            yes, no, unknown = (f"{name} drift: {w}" for w in ("yes", "no", "unknown"))
            badges.append(_verdict(section.get("drifted"), yes, no, unknown))
    if quality is not None:
        issues = len(quality.get("issues") or [])
        ok = quality.get("ok")
        text = "Quality: ok" if ok else f"Quality: {issues} issue{'s' if issues != 1 else ''}"
        badges.append({"text": text, "alert": not ok})
    if performance:
        # A check that was not judged (too few labels yet) is neither passed nor failed.
        failed = sum(1 for c in performance.get("checks") or [] if c.get("passed") is False)
        text = f"Performance: {failed} check{'s' if failed != 1 else ''} failed"
        badges.append({"text": text if failed else "Performance: checks passed", "alert": failed})
    if fairness is not None:
        failed = sum(
            1
            for a in fairness.get("attributes") or []
            for c in a.get("checks") or []
            if not c.get("passed")
        )
        text = f"Fairness: {failed} check{'s' if failed != 1 else ''} failed"
        badges.append({"text": text if failed else "Fairness: checks passed", "alert": failed})
    if alerts is not None:
        fired = sum(1 for a in alerts if a.get("kind") == "fired")
        resolved = sum(1 for a in alerts if a.get("kind") == "resolved")
        badges.append({"text": f"Alerts: {fired} fired, {resolved} resolved", "alert": fired})
    return [{"text": b["text"], "alert": bool(b["alert"])} for b in badges]


# -- drift -------------------------------------------------------------------------------------
def _drift_score(item: Mapping[str, Any]) -> float:
    """How far a column's test is past its threshold; above 1 means drifted, higher is worse.

    A p-value test (``p_value`` not None) drifts when ``p_value < threshold``, so its score
    is ``threshold / p_value``: with one threshold for all columns this orders by p-value
    ascending. A distance or divergence (PSI, Wasserstein, Jensen-Shannon, ...) drifts when
    ``statistic >= threshold``, so its score is ``statistic / threshold``. Both scales meet at
    1 (the threshold), which lets one table mix the two kinds. Unknown values score lowest.
    """
    threshold = _finite(item.get("threshold"))
    if item.get("p_value") is not None:
        p_value = _finite(item.get("p_value"))
        if p_value is None or threshold is None:
            return -math.inf
        return math.inf if p_value <= 0 else threshold / p_value
    statistic = _finite(item.get("statistic"))
    if statistic is None or threshold is None:
        return -math.inf
    if threshold <= 0:
        return math.inf if statistic > 0 else 0.0
    return statistic / threshold


def _drift_order(columns: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices of ``columns`` sorted by score.

    Order: drifted columns first; then by :func:`_drift_score` descending (p-value tests:
    smallest p-value first; distances: largest statistic relative to threshold first); ties
    (say several p-values of 0) by the statistic descending; then the input order.
    """

    def key(i: int) -> tuple[bool, float, float, int]:
        col = columns[i]
        statistic = _finite(col.get("statistic"))
        return (
            not col.get("drifted"),
            -_drift_score(col),
            -statistic if statistic is not None else math.inf,
            i,
        )

    return sorted(range(len(columns)), key=key)


def _drift_row(item: Mapping[str, Any], anchor: str, chart: str | None) -> dict[str, Any]:
    return {
        "anchor": anchor,
        "name": str(item.get("column")),
        "kind": _fmt(item.get("kind")),
        "method": _fmt(item.get("method")),
        "statistic": _num(item.get("statistic")),
        "p_value": _num(item.get("p_value")),
        "threshold": _num(item.get("threshold")),
        "drifted": item.get("drifted"),
        "verdict": _verdict(item.get("drifted"), "drifted", "no drift"),
        "reference_rows": _num(item.get("reference_rows")),
        "current_rows": _num(item.get("current_rows")),
        "chart": chart,
    }


def _drift_context(drift: Mapping[str, Any], charts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    columns = [c for c in drift.get("columns") or [] if isinstance(c, Mapping)]
    rows = []
    for i in _drift_order(columns):
        chart = _distribution_chart(columns[i])
        if chart is not None:
            charts[f"chart-feature-{i}"] = chart
        chart_id = f"chart-feature-{i}" if chart is not None else None
        rows.append(_drift_row(columns[i], f"feature-{i}", chart_id))
    number = drift.get("number_drifted")
    return {
        "verdict": _verdict(drift.get("drifted"), "dataset drift", "no dataset drift"),
        "share": _share(drift.get("share")),
        "threshold": _share(drift.get("drift_share_threshold")),
        "number_drifted": _num(number)
        if number is not None
        else _fmt(sum(bool(r["drifted"]) for r in rows)),
        "total": _fmt(len(rows)),
        "correction": _fmt(drift.get("correction")) if drift.get("correction") else None,
        "columns": rows,
    }


def _prediction_context(
    item: Mapping[str, Any], charts: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    chart = _distribution_chart(item)
    if chart is not None:
        charts["chart-prediction"] = chart
    return _drift_row(item, "prediction-drift", "chart-prediction" if chart else None)


def _multivariate_context(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "method": _fmt(item.get("method")),
        "statistic": _num(item.get("statistic")),
        "threshold": _num(item.get("threshold")),
        "p_value": _num(item.get("p_value")),
        "verdict": _verdict(item.get("drifted"), "drifted", "no drift"),
        "description": _fmt(item.get("description")) if item.get("description") else None,
    }


# -- quality -----------------------------------------------------------------------------------
def _quality_context(quality: Mapping[str, Any]) -> dict[str, Any]:
    schema = quality.get("schema") or {}
    row_count = quality.get("row_count")
    columns = [c for c in quality.get("columns") or [] if isinstance(c, Mapping)]
    # Columns with issues first (stable: otherwise in the report's order).
    columns.sort(key=lambda c: not c.get("issues"))
    return {
        "ok": bool(quality.get("ok")),
        "rows": _num(quality.get("rows")),
        "issues": [str(i) for i in quality.get("issues") or []],
        "added": [str(c) for c in schema.get("added") or []],
        "removed": [str(c) for c in schema.get("removed") or []],
        "retyped": [
            tuple(_fmt(v) for v in [*t, None, None, None][:3])
            for t in schema.get("retyped") or []
            if isinstance(t, Sequence) and not isinstance(t, str)
        ],
        "row_count": (
            {
                "rows": _num(row_count.get("rows")),
                "expected": _num(row_count.get("expected")),
                "low": _num(row_count.get("low")),
                "high": _num(row_count.get("high")),
                "verdict": _verdict(row_count.get("anomalous"), "anomalous", "normal"),
            }
            if isinstance(row_count, Mapping)
            else None
        ),
        "columns": [
            {
                "name": str(c.get("column")),
                "kind": _fmt(c.get("kind")),
                "reference_missing": _share(c.get("reference_missing_rate")),
                "current_missing": _share(c.get("current_missing_rate")),
                "missing_change": _points(c.get("missing_change")),
                "out_of_range": _share(c.get("out_of_range")),
                "unseen_share": _share(c.get("unseen_share")),
                "unseen": [_fmt(v) for v in c.get("unseen_categories") or []],
                "issues": [str(i) for i in c.get("issues") or []],
            }
            for c in columns
        ],
    }


# -- fairness ----------------------------------------------------------------------------------
def _fairness_context(
    fairness: Mapping[str, Any], charts: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    attributes = []
    for k, attr in enumerate(a for a in fairness.get("attributes") or [] if isinstance(a, Mapping)):
        groups = [g for g in attr.get("groups") or [] if isinstance(g, Mapping)]
        checks = [c for c in attr.get("checks") or [] if isinstance(c, Mapping)]
        chart_id = None
        if groups:
            names = [_label(_fmt(g.get("group"))) for g in groups]
            traces = [
                {
                    "type": "bar",
                    "name": label,
                    "x": names,
                    "y": [_finite(g.get(key)) for g in groups],
                    "marker": {"color": color},
                }
                for (key, label), color in zip(_FAIRNESS_BARS, PALETTE, strict=False)
            ]
            layout = _LAYOUT | {
                "barmode": "group",
                "showlegend": True,
                "xaxis": {"type": "category", "automargin": True},
                "yaxis": {"range": [0, 1.05]},
            }
            chart_id = f"chart-fairness-{k}"
            charts[chart_id] = {"data": traces, "layout": layout}
        summary = []
        used: set[int] = set()
        for key, label in _FAIRNESS_SUMMARY:
            matching = [i for i, c in enumerate(checks) if c.get("metric") == key]
            used.update(matching)
            check = checks[matching[0]] if matching else None
            summary.append(_fairness_row(label, attr.get(key), check))
        for i, check in enumerate(checks):
            if i not in used:
                summary.append(_fairness_row(_fmt(check.get("metric")), check.get("value"), check))
        attributes.append(
            {
                "anchor": f"fairness-{k}",
                "name": _fmt(attr.get("attribute")),
                "summary": summary,
                "groups": [
                    (
                        _fmt(g.get("group")),
                        _num(g.get("count")),
                        *(_num(g.get(m)) for m in ("selection_rate", "tpr", "fpr")),
                        *(_num(g.get(m)) for m in ("precision", "accuracy")),
                    )
                    for g in groups
                ],
                "chart": chart_id,
            }
        )
    return {"attributes": attributes}


def _fairness_row(label: str, value: Any, check: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "label": label,
        "value": _num(value),
        "threshold": _num(check.get("threshold")) if check else "—",
        "verdict": _verdict(not check.get("passed"), "failed", "passed") if check else None,
    }


# -- alerts ------------------------------------------------------------------------------------
def _alerts_context(
    alerts: list[Mapping[str, Any]] | None, rules: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Alert events, newest first, and the monitor's rules."""
    ordered = sorted(alerts or [], key=lambda a: -(_finite(a.get("time")) or -math.inf))
    by_name = {str(r.get("name")): r for r in rules}
    return {
        "rules": [
            {
                "name": _fmt(r.get("name")),
                "condition": condition(r),
                "severity": _fmt(r.get("severity")),
                "notify": ", ".join(str(n) for n in r.get("notify") or []) or "—",
            }
            for r in rules
        ],
        "rows": [
            {
                "time": _when(a.get("time")),
                # Stored events carry ``rule_name`` (what ``cycleml monitor alerts`` shows).
                "rule": _fmt(a.get("rule_name") or a.get("rule")),
                "condition": _event_condition(a, by_name),
                "metric": _fmt(a.get("metric")),
                "kind": _fmt(a.get("kind")),
                "fired": a.get("kind") == "fired",
                "value": _num(a.get("value")),
                "severity": _fmt(a.get("severity")),
            }
            for a in ordered
        ],
    }


def _event_condition(event: Mapping[str, Any], rules: Mapping[str, Mapping[str, Any]]) -> str:
    """The rule an event came from, as text: from its details, else the monitor's rule."""
    details = event.get("details") if isinstance(event.get("details"), Mapping) else {}
    operator = (details or {}).get("operator")
    if operator is not None:
        return condition(
            {"metric": event.get("metric"), "operator": operator,
             "threshold": event.get("threshold"),
             "for_windows": (details or {}).get("for_windows")}
        )  # fmt: skip
    rule = rules.get(str(event.get("rule_name") or event.get("rule")))
    return condition(rule) if rule is not None else "—"
