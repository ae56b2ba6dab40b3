"""Durations (``"30s"``, ``"15min"``, ``"1d12h"``) and windows (rows or a duration), for
monitor settings, alert cooldowns and the windows of :func:`cycleml.monitoring.performance`.

The grammar is :mod:`cycleml.time`'s, shared with the spec and the CLI; this module adds
what is monitoring's own: durations here are positive, and a window may be a row count.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from cycleml.errors import InvalidInput
from cycleml.time import parse_duration_ms as _parse_duration_ms
from cycleml.validation import invalid_parameter

__all__ = ["parse_duration_ms", "parse_window"]


def parse_duration_ms(value: str | float | int | timedelta, *, what: str = "duration") -> int:
    """Milliseconds in ``value``, which must be positive: a number of seconds, a
    ``timedelta``, or text such as ``"30s"``, ``"15min"``, ``"1h"``, ``"1d12h"`` (units ms,
    s/sec, m/min, h/hr, d, w; see :mod:`cycleml.time`)."""
    return _parse_duration_ms(value, name=what, positive=True)


def parse_window(value: int | str | timedelta | np.integer[Any]) -> tuple[str, int]:
    """``("rows", n)`` for a row window, ``("time", ms)`` for a duration."""
    if isinstance(value, bool):
        raise _window_error(value)
    if isinstance(value, int | np.integer) or (isinstance(value, str) and value.strip().isdigit()):
        rows = int(value)
        if rows < 1:
            raise invalid_parameter("window", value, "a row window of at least 1 row")
        return "rows", rows
    try:
        return "time", parse_duration_ms(value, what="window")
    except InvalidInput as exc:
        raise _window_error(value) from exc


def _window_error(value: object) -> InvalidInput:
    return invalid_parameter(
        "window",
        value,
        "a number of rows, or a duration such as '15min', '1h', '1d' or '1w'",
        hint="Duration units: ms, s, m or min, h, d, w, several in a row for a compound "
        "('1d12h'); months vary in length, so write '30d'.",
    )
