"""Chart specifications and value formatting for the monitoring report.

Plotly figure dicts (distribution overlays as densities on shared bins, category shares,
line charts over time with threshold lines) and the small formatters the page uses. Kept
apart from :mod:`cycleml.reports._monitoring`, which turns each section of the report dict
into the template's context.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from itertools import pairwise
from numbers import Integral, Real
from typing import Any

from cycleml.errors import InvalidInput
from cycleml.reports._html import _COLORS, _LAYOUT, _finite, _fmt, _hist_trace, _label
from cycleml.time import to_ms

PALETTE = (*_COLORS, "#4a9b5e", "#8a5fb3", "#c0392b", "#7f8c8d")
_DAY_MS = 86_400_000.0
_SIGNIFICANT = 6  # digits kept for floats in the chart JSON


def _compact(value: Any) -> Any:
    """The chart specs with floats rounded and non-finite numbers as ``None`` (JSON null)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        number = float(value)
        return float(f"{number:.{_SIGNIFICANT}g}") if math.isfinite(number) else None
    if isinstance(value, Mapping):
        return {str(k): _compact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_compact(v) for v in value]
    return str(value)


def _num(value: Any) -> str:
    """``_fmt`` for numbers that may arrive as NaN, infinity or None (all shown as "—")."""
    return _fmt(value) if _finite(value) is not None else "—"


def _share(value: Any) -> str:
    number = _finite(value)
    return "—" if number is None or isinstance(value, bool) else f"{100 * number:.1f}%"


def _points(value: Any) -> str:
    """A change of a share, in percentage points with its sign."""
    number = _finite(value)
    return "—" if number is None or isinstance(value, bool) else f"{100 * number:+.1f} pp"


def _stamp(value: Any) -> float | None:
    """Epoch milliseconds from a number of milliseconds or an ISO 8601 string (naive means
    UTC; :func:`cycleml.time.to_ms`), ``None`` from anything else."""
    try:
        return float(to_ms(value, ago=False))
    except InvalidInput:
        return None


def _iso(ms: Any) -> str | None:
    """Epoch milliseconds (or an ISO string) as an ISO 8601 UTC string (what plotly's date
    axes read)."""
    number = _stamp(ms)
    if number is None:
        return None
    try:
        stamp = datetime.fromtimestamp(number / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    spec = "milliseconds" if stamp.microsecond else "seconds"
    return stamp.isoformat(timespec=spec).replace("+00:00", "Z")


def _when(ms: Any) -> str:
    return _iso(ms) or "—"


def _verdict(flag: Any, yes: str, no: str, unknown: str = "unknown") -> dict[str, Any]:
    """A badge: ``alert`` styles it as a warning."""
    if flag is None:
        return {"text": unknown, "alert": False}
    return {"text": yes if flag else no, "alert": bool(flag)}


def _finite_edges(edges: Sequence[Any]) -> list[float] | None:
    """Numeric bin edges with an open outer bin (±inf) closed at one neighbouring width."""
    nums = [_finite(e) if not isinstance(e, bool) else None for e in edges]
    inner = [e for e in nums[1:-1] if e is not None]
    if len(inner) != len(nums) - 2 or len(nums) < 2:
        return None
    first, last = nums[0], nums[-1]
    if first is None or last is None:
        if len(inner) >= 2:
            step_low, step_high = inner[1] - inner[0], inner[-1] - inner[-2]
        elif inner:
            step_low = step_high = max(abs(inner[0]), 1.0)
        else:
            return None
        first = inner[0] - (step_low or 1.0) if first is None else first
        last = inner[-1] + (step_high or 1.0) if last is None else last
    return [first, *inner, last]


def _density_trace(dist: Mapping[str, Any], name: str, color: str) -> dict[str, Any] | None:
    """A bar trace of a histogram as a density, so samples of different sizes compare.

    Numeric edges give a density per unit of the column; ISO 8601 edges (datetime columns)
    give a density per day on a date axis.
    """
    edges, counts = list(dist.get("edges") or []), list(dist.get("counts") or [])
    if len(counts) == 0 or len(edges) != len(counts) + 1:
        return None
    values = [_finite(c) or 0.0 for c in counts]
    total = sum(values)
    if all(isinstance(e, str) for e in edges):
        try:
            stamps = [datetime.fromisoformat(e) for e in edges]
            widths = [(b - a).total_seconds() * 1000 / _DAY_MS for a, b in pairwise(stamps)]
        except (TypeError, ValueError):
            return None
        date_kind = "datetime"
        hist_edges: list[Any] = edges
    else:
        numeric = _finite_edges(edges)
        if numeric is None:
            return None
        widths = [b - a for a, b in pairwise(numeric)]
        date_kind = "numeric"
        hist_edges = numeric
    density = [
        v / (total * w) if total > 0 and w > 0 else 0.0 for v, w in zip(values, widths, strict=True)
    ]
    trace = _hist_trace({"edges": hist_edges, "counts": density}, date_kind, name, color)
    bar_widths = _compact(trace["width"])
    if len(set(bar_widths)) == 1:
        trace["width"] = bar_widths[0]  # one number instead of a list: a smaller page
    trace["hovertemplate"] = "%{x}<br>density %{y:.4g}<extra>" + name + "</extra>"
    return trace


def _share_trace(
    categories: Sequence[str], dist: Mapping[str, Any], name: str, color: str
) -> dict[str, Any]:
    counts = {
        str(c): _finite(n) or 0.0
        for c, n in zip(dist.get("categories") or [], dist.get("counts") or [], strict=False)
    }
    total = sum(counts.values())
    return {
        "type": "bar",
        "name": name,
        "x": [_label(c) for c in categories],
        "y": [counts.get(c, 0.0) / total if total > 0 else 0.0 for c in categories],
        "marker": {"color": color},
        "hovertemplate": "%{x}<br>share %{y:.2%}<extra>" + name + "</extra>",
    }


def _distribution_chart(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """Reference and current distributions of one column overlaid on the same bins."""
    sides = [
        (dist, name, color)
        for dist, name, color in (
            (item.get("reference_distribution"), "reference", _COLORS[0]),
            (item.get("current_distribution"), "current", _COLORS[1]),
        )
        if isinstance(dist, Mapping)
    ]
    if not sides:
        return None
    axis_title = {"text": _label(item.get("column")), "font": {"size": 11}}
    if all("edges" in dist for dist, _, _ in sides):
        traces = [_density_trace(dist, name, color) for dist, name, color in sides]
        data = [t for t in traces if t is not None]
        if not data:
            return None
        dates = all(isinstance(e, str) for e in sides[0][0].get("edges") or [])
        xaxis: dict[str, Any] = {"title": axis_title} | ({"type": "date"} if dates else {})
        yaxis = {"title": {"text": "density per day" if dates else "density"}}
        layout = _LAYOUT | {
            "barmode": "overlay",
            "showlegend": True,
            "xaxis": xaxis,
            "yaxis": yaxis,
        }
        return {"data": data, "layout": layout}
    categories: list[str] = []
    seen: set[str] = set()
    for dist, _, _ in sides:
        for category in dist.get("categories") or []:
            if str(category) not in seen:
                seen.add(str(category))
                categories.append(str(category))
    if not categories:
        return None
    data = [_share_trace(categories, dist, name, color) for dist, name, color in sides]
    layout = _LAYOUT | {
        "barmode": "group",
        "showlegend": True,
        "xaxis": {"type": "category", "automargin": True, "title": axis_title},
        "yaxis": {"title": {"text": "share of rows"}, "tickformat": ".0%"},
    }
    return {"data": data, "layout": layout}


def _lines_chart(
    traces: Sequence[dict[str, Any]],
    *,
    thresholds: Iterable[tuple[float, str]] = (),
    yaxis: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A time-series chart; each threshold is a dashed horizontal line across the plot."""
    shapes = [
        {
            "type": "line",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "yref": "y",
            "y0": value,
            "y1": value,
            "line": {"color": "#b5561b", "dash": "dash", "width": 1.5},
            "label": {"text": _label(text), "textposition": "end", "font": {"size": 10}},
        }
        for value, text in thresholds
    ]
    layout = _LAYOUT | {
        "xaxis": {"type": "date"},
        "showlegend": len(traces) > 1,
        "shapes": shapes,
    }
    if yaxis:
        layout["yaxis"] = dict(yaxis)
    return {"data": list(traces), "layout": layout}
