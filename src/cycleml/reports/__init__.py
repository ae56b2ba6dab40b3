"""HTML rendering of reports (profiles, comparisons): no business logic lives here."""

from __future__ import annotations

from cycleml.reports._html import render_comparison_html, render_profile_html, write_html

__all__ = ["render_comparison_html", "render_profile_html", "write_html"]
