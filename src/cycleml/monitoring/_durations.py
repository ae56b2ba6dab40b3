"""Monitor windows: a number of rows or a duration (``"15min"``, ``"1h"``, ``"1d12h"``), for
monitor settings and the windows of :func:`cycleml.monitoring.performance`.

Durations are read by :mod:`cycleml.time`, shared with the spec and the CLI; what is
monitoring's own is that a window may be a row count, and a duration window is positive.
``parse_duration_ms`` here is the deprecated spelling of
``cycleml.time.parse_duration_ms(value, positive=True)`` (``cycleml.monitoring`` gives it
out for one release, with a ``DeprecationWarning``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from cycleml.errors import InvalidInput
from cycleml.time import DurationLike
from cycleml.time import parse_duration_ms as _parse_duration_ms
from cycleml.validation import invalid_parameter

__all__ = ["parse_window"]


def parse_duration_ms(value: DurationLike, *, what: str = "duration") -> int:
    """Deprecated: :func:`cycleml.time.parse_duration_ms` with ``positive=True`` (removed
    after one release)."""
    return _parse_duration_ms(value, name=what, positive=True)


def parse_window(value: int | str | timedelta | np.integer[Any]) -> tuple[str, int]:
    """``("rows", n)`` for a row window (an integer, or digits as text), ``("time", ms)``
    for a positive duration (:func:`cycleml.time.parse_duration_ms`)."""
    if isinstance(value, bool):
        raise _window_error(value)
    if isinstance(value, int | np.integer) or (isinstance(value, str) and value.strip().isdigit()):
        rows = int(value)
        if rows < 1:
            raise invalid_parameter("window", value, "a row window of at least 1 row")
        return "rows", rows
    try:
        return "time", _parse_duration_ms(value, name="window", positive=True)
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
