"""Durations (``"30s"``, ``"1h"``) and windows (rows or a duration), for monitor settings,
alert cooldowns and the windows of :func:`cycleml.monitoring.performance`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import numpy as np

from cycleml.errors import InvalidInput

__all__ = ["parse_duration_ms", "parse_window"]

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|sec|s|min|m|hr|h|d|w)\s*$", re.IGNORECASE)
_UNIT_MS = {
    "ms": 1,
    "s": 1_000,
    "sec": 1_000,
    "m": 60_000,
    "min": 60_000,
    "h": 3_600_000,
    "hr": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
}


def parse_duration_ms(value: str | float | int | timedelta, *, what: str = "duration") -> int:
    """Milliseconds in ``value``: a number of seconds, a ``timedelta``, or text such as
    ``"30s"``, ``"15min"``, ``"1h"`` (units ms, s/sec, m/min, h/hr, d, w)."""
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be a duration; received {value!r}.", hint='E.g. "1h".')
    if isinstance(value, timedelta):
        amount = value.total_seconds() * 1000
    elif isinstance(value, int | float):
        amount = float(value) * 1000
    else:
        match = _DURATION_RE.match(str(value))
        if match is None:
            raise InvalidInput(
                f"{what} {value!r} is not a duration.",
                hint='Write a number and a unit: "500ms", "30s", "15m", "1h", "1d" or "1w".',
            )
        amount = float(match.group(1)) * _UNIT_MS[match.group(2).lower()]
    if amount <= 0:
        raise InvalidInput(f"{what} must be positive; received {value!r}.")
    return round(amount)


def parse_window(value: int | str | timedelta | np.integer[Any]) -> tuple[str, int]:
    """``("rows", n)`` for a row window, ``("time", ms)`` for a duration."""
    if isinstance(value, bool):
        raise InvalidInput(f"Invalid window {value!r}: expected a duration or a row count.")
    if isinstance(value, int | np.integer) or (isinstance(value, str) and value.strip().isdigit()):
        rows = int(value)
        if rows < 1:
            raise InvalidInput(f"Invalid window {value!r}: a row window needs at least 1 row.")
        return "rows", rows
    try:
        return "time", parse_duration_ms(value, what="window")
    except InvalidInput as exc:
        raise InvalidInput(
            f"Invalid window {value!r}: not a duration such as '15min', '1h', '1d' or '1w', "
            "nor a number of rows.",
            hint="Units: ms, s, m/min, h, d, w (months vary in length; use '30d').",
        ) from exc
