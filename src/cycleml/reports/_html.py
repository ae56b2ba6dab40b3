"""Self-contained HTML reports for data profiles and profile comparisons.

The renderers take the plain dicts of ``Profile.to_dict()`` and ``ProfileComparison.to_dict()``
(this package does not import :mod:`cycleml.data`) and return one HTML page: inline CSS,
plotly.js from the installed ``plotly`` package, and the chart specifications in one JSON
block. A chart is drawn only when its section scrolls into view, so a page with hundreds of
columns opens fast. Only aggregates reach the page. Every string from the data is escaped:
HTML by Jinja's autoescaping, chart labels before plotly (which reads a subset of HTML in
labels) and the JSON block against ``</script>``.

plotly.js is 4.8 MB, nearly all of a page. ``include_plotlyjs="inline"`` (the default) puts it
in the page: one file that opens anywhere. ``"shared"`` references ``plotly-<version>.min.js``
by a relative path instead, and :func:`write_html` writes that file once into the page's
folder: a folder of reports holds one copy, each page weighs kilobytes, and they open offline
as long as the folder stays together. Neither form loads anything from the network.
"""

from __future__ import annotations

import html
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal, get_args

import jinja2
from markupsafe import Markup
from plotly.offline import get_plotlyjs, get_plotlyjs_version

from cycleml.errors import InvalidInput

__all__ = [
    "IncludePlotlyJS",
    "plotly_asset_name",
    "render_comparison_html",
    "render_profile_html",
    "write_html",
]

#: Where a report's plotly.js comes from: in the page, or one shared file beside it.
IncludePlotlyJS = Literal["inline", "shared"]

_TEMPLATES = Path(__file__).parent / "templates"
_HIST_KINDS = ("numeric", "datetime")
_STAT_LABELS = {
    "count": "Count",
    "missing_fraction": "Missing",
    "distinct": "Distinct",
    "min": "Min",
    "max": "Max",
    "mean": "Mean",
    "std": "Std",
    "skewness": "Skewness",
    "kurtosis": "Kurtosis",
    "zeros": "Zeros",
    "infinite": "Infinite",
}
_MEASURES = {
    "pearson": "Pearson r",
    "correlation_ratio": "correlation ratio η",
    "cramers_v": "Cramér's V",
}


def render_profile_html(
    profile_dict: Mapping[str, Any],
    *,
    title: str,
    include_plotlyjs: IncludePlotlyJS = "inline",
) -> str:
    """Render a profile (``Profile.to_dict()`` output) as one HTML page.

    Sections: overview, alerts, the target (its classes or distribution), one per column
    (statistics, quantiles, top values and a histogram or top-values chart), correlations
    (heatmaps) and association with the target.

    Args:
        profile_dict: ``Profile.to_dict()``.
        title: The page title (escaped).
        include_plotlyjs: ``"inline"``: plotly.js inside the page (one self-contained file);
            ``"shared"``: a relative reference to ``plotly-<version>.min.js``, which
            :func:`write_html` writes next to the page.

    Raises:
        InvalidInput: ``include_plotlyjs`` is neither ``"inline"`` nor ``"shared"``.
    """
    charts: dict[str, dict[str, Any]] = {}
    alerts = list(profile_dict.get("alerts") or [])
    roles = _roles(profile_dict)
    classes = profile_dict.get("task") in _CLASSIFICATION
    columns = []
    for i, col in enumerate(profile_dict.get("columns") or []):
        role = roles.get(str(col.get("name")), "feature")
        labels = role == "target" and classes  # class labels: no moments, no histogram
        chart = _class_chart(col) if labels else _column_chart(col)
        chart_id = f"chart-col-{i}"
        if chart is not None:
            charts[chart_id] = chart
        quantiles = {} if labels else col.get("quantiles") or {}
        columns.append(
            {
                "anchor": f"col-{i}",
                "name": str(col.get("name")),
                "kind": col.get("kind"),
                "role": role,
                "dtype": col.get("dtype"),
                "stats": _class_stats(col, profile_dict) if labels else _column_stats(col),
                "quantiles": [(k, _fmt(v)) for k, v in quantiles.items()],
                "top_values": _top_rows(col.get("top_values") or [], col.get("count") or 0),
                "values_title": "Classes" if labels else "Top values",
                "chart": chart_id if chart is not None else None,
                "alerts": [a for a in alerts if col.get("name") in (a.get("columns") or [])],
            }
        )
    correlations = []
    titles = {"pearson": "Pearson", "spearman": "Spearman", "cramers_v": "Cramér's V"}
    for key, label in titles.items():
        block = (profile_dict.get("correlations") or {}).get(key)
        if block and block.get("columns"):
            charts[f"chart-corr-{key}"] = _heatmap(block["columns"], block["matrix"], key)
            correlations.append({"title": label, "chart": f"chart-corr-{key}"})
    association = sorted(
        profile_dict.get("target_association") or [],
        key=lambda row: -abs(row.get("value") or 0.0),
    )
    if association:
        charts["chart-target"] = _bar(
            [str(r["column"]) for r in association][::-1],
            [r.get("value") for r in association][::-1],
            horizontal=True,
        )
    context = {
        "title": title,
        "overview": _profile_overview(profile_dict, roles),
        "target_anchor": next((c["anchor"] for c in columns if c["role"] == "target"), None),
        "alerts": [_alert_row(a) for a in alerts],
        "columns": columns,
        "correlations": correlations,
        "target": profile_dict.get("target"),
        "task": profile_dict.get("task"),
        "association": [
            (str(r["column"]), _MEASURES.get(r["measure"], r["measure"]), _fmt(r.get("value")))
            for r in association
        ],
        "notes": _notes(profile_dict.get("settings") or {}),
    }
    return _render("profile.html.j2", context, charts, include_plotlyjs)


def render_comparison_html(
    comparison_dict: Mapping[str, Any],
    *,
    title: str,
    include_plotlyjs: IncludePlotlyJS = "inline",
) -> str:
    """Render a profile comparison (``ProfileComparison.to_dict()``) as one HTML page.

    Sections: overview side by side, schema changes, alerts that appeared or were resolved,
    and one section per shared column with its statistics side by side and overlaid charts.
    ``include_plotlyjs`` is as for :func:`render_profile_html`.
    """
    charts: dict[str, dict[str, Any]] = {}
    columns = []
    for i, col in enumerate(comparison_dict.get("columns") or []):
        chart = _comparison_chart(col)
        if chart is not None:
            charts[f"chart-col-{i}"] = chart
        stats = [
            (_STAT_LABELS.get(key, key), _fmt(p.get("a")), _fmt(p.get("b")), _fmt(p.get("delta")))
            for key, p in (col.get("stats") or {}).items()
        ]
        columns.append(
            {
                "anchor": f"col-{i}",
                "name": str(col.get("name")),
                "kind": col.get("kind") or {},
                "dtype": col.get("dtype") or {},
                "stats": stats,
                "mean_shift": _fmt(col.get("mean_shift")),
                "reasons": col.get("reasons") or [],
                "chart": f"chart-col-{i}" if chart is not None else None,
            }
        )
    overview = [
        (
            key.replace("_", " ").capitalize(),
            _fmt(p.get("a")),
            _fmt(p.get("b")),
            _fmt(p.get("delta")),
        )
        for key, p in (comparison_dict.get("overview") or {}).items()
    ]
    alerts = comparison_dict.get("alerts") or {}
    context = {
        "title": title,
        "overview": overview,
        "added": [str(c) for c in comparison_dict.get("added_columns") or []],
        "removed": [str(c) for c in comparison_dict.get("removed_columns") or []],
        "type_changes": [
            (
                str(t["column"]),
                f"{t['kind']['a']} ({t['dtype']['a']})",
                f"{t['kind']['b']} ({t['dtype']['b']})",
            )
            for t in comparison_dict.get("type_changes") or []
        ],
        "changed": [str(c) for c in comparison_dict.get("changed_columns") or []],
        "alerts_new": [_alert_row(a) for a in alerts.get("only_b") or []],
        "alerts_resolved": [_alert_row(a) for a in alerts.get("only_a") or []],
        "columns": columns,
    }
    return _render("comparison.html.j2", context, charts, include_plotlyjs)


def plotly_asset_name() -> str:
    """The file name a ``"shared"`` report loads plotly.js from: ``plotly-<version>.min.js``.

    The version in the name lets reports rendered by different plotly versions share a folder.
    """
    return f"plotly-{get_plotlyjs_version()}.min.js"


def write_html(html: str, path: str | os.PathLike[str]) -> Path:
    """Write ``html`` to ``path`` atomically (temporary file, fsync, rename); return the path.

    A reader sees either the previous file or the complete new one, never a partial page.
    A page rendered with ``include_plotlyjs="shared"`` gets its plotly.js written next to it
    first (once: a copy of the same size already there is kept).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if _shared_tag() in html:
        asset = target.parent / plotly_asset_name()
        bundle = get_plotlyjs().encode("utf-8")
        if not asset.is_file() or asset.stat().st_size != len(bundle):
            _write_atomic(bundle, asset)
    _write_atomic(html.encode("utf-8"), target)
    return target


def _write_atomic(content: bytes, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; a report is a normal file (0644 less the umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- rendering ---------------------------------------------------------------------------------
#: Plotly's options for every chart. The mode bar (shown on hover) keeps only the buttons a
#: report reader uses, so it stays a short bar in the top-right corner of the top margin,
#: clear of the legends at the top left (see :data:`_LEGEND`) and of the plot.
CHART_CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtons": [["toImage", "zoom2d", "pan2d", "resetScale2d"]],
}


def _shared_tag() -> str:
    return f'<script src="{plotly_asset_name()}" data-cycleml-asset="plotly"></script>'


def _plotly_tag(include_plotlyjs: str) -> Markup:
    if include_plotlyjs == "inline":
        return Markup("<script>") + Markup(get_plotlyjs()) + Markup("</script>")
    if include_plotlyjs == "shared":
        return Markup(_shared_tag())
    raise InvalidInput(
        f"Invalid include_plotlyjs {include_plotlyjs!r}: expected one of "
        f"{', '.join(get_args(IncludePlotlyJS))}.",
        hint="'inline' puts plotly.js (4.8 MB) in the page; 'shared' writes it once as "
        f"{plotly_asset_name()} next to the page, which loads it by a relative path.",
        details={"include_plotlyjs": include_plotlyjs},
    )


def _render(
    template: str,
    context: dict[str, Any],
    charts: Mapping[str, Any],
    include_plotlyjs: str = "inline",
) -> str:
    plotly_tag = _plotly_tag(include_plotlyjs)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    page = env.get_template(template)
    return page.render(
        **context,
        plotly_tag=plotly_tag,
        plotly_asset=plotly_asset_name() if include_plotlyjs == "shared" else None,
        charts_json=Markup(_script_json(charts)),
        config_json=Markup(_script_json(CHART_CONFIG)),
    )


def _script_json(value: Any) -> str:
    """JSON that is safe inside ``<script>``: no ``<``, ``>`` or ``&`` can end the block."""
    text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _label(value: Any) -> str:
    """A chart label: plotly reads a subset of HTML in labels, so escape it."""
    return html.escape(str(value), quote=False)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.4g}"
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    return str(value)


def _pct(fraction: Any) -> str:
    return "—" if not isinstance(fraction, int | float) else f"{100 * fraction:.1f}%"


_CLASSIFICATION = ("binary", "multiclass", "classification")


def _roles(p: Mapping[str, Any]) -> dict[str, str]:
    """Column name -> ``target`` or ``id`` (an ``id_like`` alert); other columns are features."""
    roles = {
        str(name): "id"
        for alert in p.get("alerts") or []
        if alert.get("kind") == "id_like"
        for name in alert.get("columns") or []
    }
    if p.get("target") is not None:
        roles[str(p["target"])] = "target"
    return roles


def _profile_overview(p: Mapping[str, Any], roles: Mapping[str, str]) -> list[tuple[str, str]]:
    kinds: dict[str, int] = {}
    features = 0
    for col in p.get("columns") or []:
        if roles.get(str(col.get("name")), "feature") == "feature":
            features += 1
            kinds[str(col.get("kind"))] = kinds.get(str(col.get("kind")), 0) + 1
    ids = [name for name, role in roles.items() if role == "id"]
    parts = [f"{_fmt(features)} feature{'s' if features != 1 else ''}"]
    if p.get("target") is not None:
        parts.append("1 target")
    if ids:
        parts.append(f"{len(ids)} id-like")
    rows = [
        ("Rows", _fmt(p.get("n_rows"))),
        ("Columns", f"{_fmt(p.get('n_columns'))} ({', '.join(parts)})"),
        (
            "Missing cells",
            f"{_fmt(p.get('missing_cells'))} ({_pct(p.get('missing_cells_fraction'))})",
        ),
        (
            "Duplicate rows",
            f"{_fmt(p.get('duplicate_rows'))} ({_pct(p.get('duplicate_fraction'))})",
        ),
        ("Alerts", _fmt(len(p.get("alerts") or []))),
        ("Feature kinds", ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items())) or "—"),
    ]
    if p.get("target") is not None:
        rows.append(("Target", f"{p['target']} ({p.get('task')})"))
    if ids:
        rows.append(("Id-like", ", ".join(ids)))
    return rows


def _notes(settings: Mapping[str, Any]) -> list[str]:
    notes = []
    if settings.get("correlation_excluded"):
        names = ", ".join(str(n) for n in settings["correlation_excluded"])
        notes.append(f"Id-like columns are left out of the correlations: {names}.")
    if settings.get("correlation_sampled"):
        rows = _fmt(settings.get("correlation_sample_rows"))
        notes.append(f"Correlation matrices were computed on a random sample of {rows} rows.")
    if settings.get("quantiles_approximate"):
        notes.append("Quantiles are t-digest approximations.")
    notes.append("Distinct counts marked ≈ are HyperLogLog estimates.")
    if settings.get("duplicates_method"):
        notes.append(f"Duplicate rows were counted with {settings['duplicates_method']}.")
    return notes


def _alert_row(alert: Mapping[str, Any]) -> dict[str, str]:
    return {
        "kind": str(alert.get("kind")),
        "columns": ", ".join(str(c) for c in alert.get("columns") or []),
        "message": str(alert.get("message")),
    }


def _column_stats(col: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [("Kind", f"{col.get('kind')} ({col.get('dtype')})")]
    for key, label in _STAT_LABELS.items():
        value = col.get(key)
        if value is None:
            continue
        if key == "missing_fraction":
            rows.append((label, f"{_fmt(col.get('missing'))} ({_pct(value)})"))
        elif key == "distinct":
            rows.append((label, ("≈ " if col.get("distinct_approximate") else "") + _fmt(value)))
        elif key == "std" and col.get("kind") == "datetime":
            rows.append((label, _duration(value)))
        else:
            rows.append((label, _fmt(value)))
    for key, value in (col.get("length") or {}).items():
        rows.append((f"Length {key}", _fmt(value)))
    return rows


def _class_stats(col: Mapping[str, Any], p: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A classification target's statistics: its values are labels, so no moments."""
    return [
        ("Role", f"target ({p.get('task')})"),
        ("Kind", f"{col.get('kind')} ({col.get('dtype')})"),
        ("Count", _fmt(col.get("count"))),
        ("Missing", f"{_fmt(col.get('missing'))} ({_pct(col.get('missing_fraction'))})"),
        ("Classes", _fmt(col.get("distinct"))),
    ]


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return "—"
    for unit, size in (("days", 86400.0), ("hours", 3600.0), ("minutes", 60.0)):
        if abs(seconds) >= size:
            return f"{seconds / size:,.2f} {unit}"
    return f"{seconds:,.3f} seconds"


def _top_rows(top: Sequence[Mapping[str, Any]], count: int) -> list[tuple[str, str, str]]:
    return [
        (_fmt(t.get("value")), _fmt(t.get("count")), _pct(t["count"] / count if count else None))
        for t in top
    ]


# -- charts ------------------------------------------------------------------------------------
#: Legends sit above the plot at the left, in the top margin; the mode bar (shown on hover)
#: sits at the right of that margin, so neither covers the other or the data.
_LEGEND: dict[str, Any] = {
    "orientation": "h",
    "x": 0,
    "xanchor": "left",
    "y": 1.02,
    "yanchor": "bottom",
}
_TOP = 34  # px above the plot area: room for the legend row and the mode bar
_LAYOUT: dict[str, Any] = {
    "height": 260,
    "margin": {"l": 50, "r": 10, "t": _TOP, "b": 40},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "bargap": 0.02,
    "showlegend": False,
    "legend": _LEGEND,
}
_COLORS = ("#3b6fb6", "#e07b39")


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _hist_trace(hist: Mapping[str, Any], kind: str, name: str, color: str) -> dict[str, Any]:
    """A bar trace of a histogram: bars centred on the bins, as wide as the bins."""
    edges, counts = list(hist["edges"]), list(hist["counts"])
    if kind == "datetime":
        stamps = [datetime.fromisoformat(str(e)) for e in edges]
        x: list[Any] = [(a + (b - a) / 2).isoformat() for a, b in pairwise(stamps)]
        width = [max((b - a).total_seconds() * 1000, 1.0) for a, b in pairwise(stamps)]
    else:
        nums = [float(e) for e in edges]
        x = [(a + b) / 2 for a, b in pairwise(nums)]
        width = [(b - a) or 1.0 for a, b in pairwise(nums)]
    return {
        "type": "bar",
        "x": x,
        "y": counts,
        "width": width,
        "name": name,
        "opacity": 0.65,
        "marker": {"color": color},
    }


def _bar(labels: Sequence[str], values: Sequence[Any], *, horizontal: bool) -> dict[str, Any]:
    names = [_label(v) for v in labels]
    trace: dict[str, Any] = {"type": "bar", "marker": {"color": _COLORS[0]}}
    if horizontal:
        trace |= {"x": list(values), "y": names, "orientation": "h"}
    else:
        trace |= {"x": names, "y": list(values)}
    height = max(260, 22 * len(names) + 60) if horizontal else 260
    layout = _LAYOUT | {"height": height, "margin": _LAYOUT["margin"] | {"l": 160}}
    layout["yaxis" if horizontal else "xaxis"] = {"type": "category", "automargin": True}
    return {"data": [trace], "layout": layout}


def _column_chart(col: Mapping[str, Any]) -> dict[str, Any] | None:
    hist = col.get("histogram")
    if col.get("kind") in _HIST_KINDS and hist and hist.get("counts"):
        trace = _hist_trace(hist, str(col["kind"]), "", _COLORS[0])
        xaxis = {"type": "date"} if col["kind"] == "datetime" else {}
        return {"data": [trace], "layout": _LAYOUT | {"xaxis": xaxis}}
    top = col.get("top_values") or []
    if top:
        labels = [_fmt(t.get("value")) for t in top][::-1]
        return _bar(labels, [t.get("count") for t in top][::-1], horizontal=True)
    return None


def _class_chart(col: Mapping[str, Any]) -> dict[str, Any] | None:
    """A classification target's classes: the share of rows in each, one bar per class."""
    top = col.get("top_values") or []
    count = col.get("count") or 0
    if not top or not count:
        return None
    trace = {
        "type": "bar",
        "x": [_label(_fmt(t.get("value"))) for t in top],
        "y": [(t.get("count") or 0) / count for t in top],
        "customdata": [t.get("count") for t in top],
        "marker": {"color": _COLORS[0]},
        "hovertemplate": "class %{x}<br>%{customdata:,} rows (%{y:.1%})<extra></extra>",
    }
    layout = _LAYOUT | {
        "bargap": 0.3,
        "xaxis": {"type": "category", "title": {"text": "class"}},
        "yaxis": {"tickformat": ".0%", "rangemode": "tozero", "title": {"text": "share of rows"}},
    }
    return {"data": [trace], "layout": layout}


def _comparison_chart(col: Mapping[str, Any]) -> dict[str, Any] | None:
    kinds = col.get("kind") or {}
    hists = col.get("histograms") or {}
    if kinds.get("a") == kinds.get("b") and kinds.get("a") in _HIST_KINDS:
        traces = [
            _hist_trace(hists[side], str(kinds["a"]), side, color)
            for side, color in zip(("a", "b"), _COLORS, strict=True)
            if hists.get(side) and hists[side].get("counts")
        ]
        if traces:
            xaxis = {"type": "date"} if kinds["a"] == "datetime" else {}
            return {
                "data": traces,
                "layout": _LAYOUT | {"barmode": "overlay", "xaxis": xaxis, "showlegend": True},
            }
    tops = col.get("top_values") or {}
    traces = []
    for side, color in zip(("a", "b"), _COLORS, strict=True):
        top = tops.get(side) or []
        if top:
            traces.append(
                {
                    "type": "bar",
                    "name": side,
                    "x": [_label(_fmt(t.get("value"))) for t in top],
                    "y": [t.get("count") for t in top],
                    "marker": {"color": color},
                }
            )
    if not traces:
        return None
    layout = _LAYOUT | {"barmode": "group", "showlegend": True, "xaxis": {"type": "category"}}
    return {"data": traces, "layout": layout}


def _heatmap(names: Sequence[Any], matrix: Sequence[Sequence[Any]], key: str) -> dict[str, Any]:
    labels = [_label(n) for n in names]
    z = [[_finite(v) for v in row] for row in matrix]
    low = 0.0 if key == "cramers_v" else -1.0
    size = max(320, 18 * len(labels) + 160)
    trace = {
        "type": "heatmap",
        "z": z,
        "x": labels,
        "y": labels,
        "zmin": low,
        "zmax": 1.0,
        "colorscale": "Blues" if key == "cramers_v" else "RdBu",
        "reversescale": key != "cramers_v",
        "hoverongaps": False,
    }
    layout = _LAYOUT | {
        "height": size,
        "margin": {"l": 140, "r": 10, "t": _TOP, "b": 140},
        "xaxis": {"type": "category", "automargin": True},
        "yaxis": {"type": "category", "automargin": True, "autorange": "reversed"},
    }
    return {"data": [trace], "layout": layout}
