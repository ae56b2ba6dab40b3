"""Durations (``"30s"``, ``"1h"``) and windows (rows or a duration) in monitor settings."""

from __future__ import annotations

import re

from cycleml.errors import InvalidInput

__all__ = ["parse_duration_ms", "parse_window"]

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_duration_ms(value: str | float | int, *, what: str = "duration") -> int:
    """Milliseconds in ``value``: a number of seconds, or text such as ``"30s"``, ``"1h"``."""
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be a duration; received {value!r}.", hint='E.g. "1h".')
    if isinstance(value, int | float):
        if value <= 0:
            raise InvalidInput(f"{what} must be positive; received {value!r}.")
        return round(float(value) * 1000)
    match = _DURATION_RE.match(str(value))
    if match is None:
        raise InvalidInput(
            f"{what} {value!r} is not a duration.",
            hint='Write a number and a unit: "500ms", "30s", "15m", "1h", "1d" or "1w".',
        )
    amount = float(match.group(1)) * _UNIT_MS[match.group(2)]
    if amount <= 0:
        raise InvalidInput(f"{what} must be positive; received {value!r}.")
    return round(amount)


def parse_window(value: int | str) -> tuple[str, int]:
    """``("rows", n)`` for a row window, ``("time", ms)`` for a duration."""
    if isinstance(value, bool):
        raise InvalidInput(f"A window is rows or a duration; received {value!r}.")
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        rows = int(value)
        if rows < 1:
            raise InvalidInput(f"A row window needs at least 1 row; received {value!r}.")
        return "rows", rows
    return "time", parse_duration_ms(value, what="window")
