"""HTML rendering of reports (profiles, comparisons): no business logic lives here."""

from __future__ import annotations

__all__: list[str] = []
