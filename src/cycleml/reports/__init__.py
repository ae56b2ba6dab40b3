"""HTML rendering of reports (profiles, comparisons, monitoring): no business logic lives here."""

from __future__ import annotations

from cycleml.reports._html import (
    IncludePlotlyJS,
    plotly_asset_name,
    render_comparison_html,
    render_profile_html,
    write_html,
)
from cycleml.reports._monitoring import render_monitoring_html

__all__ = [
    "IncludePlotlyJS",
    "plotly_asset_name",
    "render_comparison_html",
    "render_monitoring_html",
    "render_profile_html",
    "write_html",
]
