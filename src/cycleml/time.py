"""Durations and points in time, read one way by every stage and command.

Core: imports only the standard library, :mod:`cycleml.errors` and :mod:`cycleml.validation`.

**Durations** (:func:`parse_duration`, :func:`parse_duration_ms`) are written as numbers
with units, several in a row for a compound::

    500ms   90s   15min   15m   1h   1h30m   1d12h   2w   0.5h   1d 12h

Units: ``ms``, ``s`` (``sec``), ``m`` (``min``), ``h`` (``hr``), ``d``, ``w``; case and
spaces between the parts do not matter and numbers may have decimals. A ``timedelta`` is
taken as it is, and a plain number (an ``int`` or ``float``, not text) means seconds. Text
needs a unit: ``"90"`` is refused, since a monitor window reads it as a row count. Months
and years are not units (their length varies: write ``30d`` or ``52w``), and neither are
spelled-out names such as ``2 days``.

**Times** (:func:`to_ms`) are milliseconds since the epoch, the unit of every stored
timestamp. They are read from an ``int`` (already milliseconds), a ``datetime`` (naive means
UTC), a ``date`` (its midnight, UTC), an ISO-8601 string (naive means UTC, ``Z`` accepted),
a ``numpy.datetime64``, or a duration meaning "that long before now" (``"2h"`` or
``timedelta(hours=2)``), which a caller can turn off with ``ago=False``.

Every refusal is an :class:`~cycleml.errors.InvalidInput` from
:func:`cycleml.validation.invalid_parameter`: ``Invalid max_age '2x': expected a duration
such as '500ms', '15min', '1h', '1d12h' or '2w'.`` and a hint with the grammar.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
import sys
import time as _time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeAlias

from cycleml.errors import InvalidInput
from cycleml.validation import invalid_parameter

__all__ = [
    "DURATION_UNITS",
    "DurationLike",
    "TimeLike",
    "format_duration",
    "now_ms",
    "parse_duration",
    "parse_duration_ms",
    "to_ms",
]

#: What :func:`parse_duration` reads: text such as ``"1h30m"``, a ``timedelta``, or seconds.
DurationLike: TypeAlias = str | int | float | dt.timedelta
#: What :func:`to_ms` reads (and a ``numpy.datetime64``, which this module does not import).
TimeLike: TypeAlias = int | float | str | dt.datetime | dt.date | dt.timedelta

#: Every unit a duration may use, with its length.
DURATION_UNITS: Mapping[str, dt.timedelta] = MappingProxyType(
    {
        "ms": dt.timedelta(milliseconds=1),
        "s": dt.timedelta(seconds=1),
        "sec": dt.timedelta(seconds=1),
        "m": dt.timedelta(minutes=1),
        "min": dt.timedelta(minutes=1),
        "h": dt.timedelta(hours=1),
        "hr": dt.timedelta(hours=1),
        "d": dt.timedelta(days=1),
        "w": dt.timedelta(weeks=1),
    }
)
_MICROS = {unit: length // dt.timedelta(microseconds=1) for unit, length in DURATION_UNITS.items()}
# "ms" before "m", "min" before "m", "sec" before "s", "hr" before "h": a shorter unit
# followed by the rest of the longer one ("5m" + "s") can never continue a duration, so
# the first alternative that matches is the only reading.
_PART = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(ms|min|sec|hr|[smhdw])\s*", re.I)
_MS = dt.timedelta(milliseconds=1)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

_DURATION_EXPECTED = "a duration such as '500ms', '15min', '1h', '1d12h' or '2w'"
_DURATION_HINT = (
    "Write a number and a unit (ms, s, m or min, h, d, w), several in a row for a compound "
    "such as '1h30m'; a plain number (not text) means seconds. For months write days ('30d')."
)


def now_ms() -> int:
    """Milliseconds since the epoch, now (the same clock as ``cycleml.store.now_ms``)."""
    return _time.time_ns() // 1_000_000


def _parse_text(text: str) -> int | None:
    """Microseconds in a duration written as text, or ``None`` when it is not one."""
    pos, total = 0, 0
    while pos < len(text):
        part = _PART.match(text, pos)
        if part is None:
            return None
        # Rounded per part so that "0.1h" is exactly 360 s (float 0.1 * 3600 is not).
        total += round(float(part[1]) * _MICROS[part[2].lower()])
        pos = part.end()
    return total if text.strip() else None


def parse_duration(
    value: DurationLike, *, name: str = "duration", positive: bool = False
) -> dt.timedelta:
    """A duration as a ``timedelta``: text (``"500ms"``, ``"15min"``, ``"1d12h"``, ``"2w"``),
    a ``timedelta``, or a number of seconds (see the module docstring for the grammar).

    Args:
        value: The duration.
        name: The parameter's name, for the error message (``max_age``, ``window``).
        positive: Refuse zero too (negative durations are always refused).

    Raises:
        InvalidInput: Not a duration in that form, negative, zero with ``positive``, or
            longer than a ``timedelta`` holds. (``InvalidInput`` is a ``ValueError``.)
    """
    raw: object = value  # checked at run time: callers pass what users wrote
    if isinstance(raw, dt.timedelta):
        duration = raw
    elif not isinstance(raw, bool) and isinstance(raw, numbers.Real):  # numpy numbers too
        seconds = float(raw)
        if not math.isfinite(seconds):
            raise invalid_parameter(name, value, "a finite duration", hint=_DURATION_HINT)
        duration = _timedelta(round(seconds * 1_000_000), name, value)
    elif isinstance(raw, str) and (micros := _parse_text(raw)) is not None:
        duration = _timedelta(micros, name, value)
    else:
        raise invalid_parameter(name, value, _DURATION_EXPECTED, hint=_DURATION_HINT)
    if duration < dt.timedelta(0) or (positive and not duration):
        expected = "a positive duration" if positive else "a duration of zero or more"
        raise invalid_parameter(name, value, expected, example="'30s', '15min' or '1h'")
    return duration


def _timedelta(micros: int, name: str, value: object) -> dt.timedelta:
    try:
        return dt.timedelta(microseconds=micros)
    except OverflowError as exc:  # over 999,999,999 days
        raise invalid_parameter(name, value, "a duration of less than a million years") from exc


def parse_duration_ms(
    value: DurationLike, *, name: str = "duration", positive: bool = False
) -> int:
    """:func:`parse_duration` in whole milliseconds (rounded); ``positive`` also refuses a
    duration that rounds to 0 ms."""
    milliseconds = round(parse_duration(value, name=name, positive=positive) / _MS)
    if positive and milliseconds == 0:
        raise invalid_parameter(name, value, "a duration of at least 1ms")
    return milliseconds


def format_duration(value: dt.timedelta) -> str:
    """A duration written compactly (``"2d"``, ``"1d6h"``, ``"1m30s"``, ``"1.5s"``), in the
    form :func:`parse_duration` reads back to the same ``timedelta``."""
    seconds = value.total_seconds()
    if seconds != int(seconds):
        return f"{seconds:g}s"
    rest, out = int(seconds), ""
    for unit in ("d", "h", "m", "s"):
        count, rest = divmod(rest, int(DURATION_UNITS[unit].total_seconds()))
        out += f"{count}{unit}" if count else ""
    return out or "0s"


def _time_expected(ago: bool) -> str:
    if ago:
        return (
            "a time (milliseconds since the epoch, a datetime or an ISO-8601 string) or a "
            "duration back from now ('2h')"
        )
    return "a time: milliseconds since the epoch, a datetime or an ISO-8601 string"


def _time_error(name: str, value: object, ago: bool) -> InvalidInput:
    return invalid_parameter(
        name,
        value,
        _time_expected(ago),
        hint="Naive times are UTC.",
        example="'2026-11-27T10:00:00Z' or '2026-11-27'" + (", or '7d'" if ago else ""),
    )


def to_ms(
    value: TimeLike | Any,
    *,
    name: str = "time",
    now: int | dt.datetime | None = None,
    ago: bool = True,
) -> int:
    """Milliseconds since the epoch from any of the forms in the module docstring.

    Args:
        value: An ``int`` (ms), a finite ``float`` (ms, truncated), a ``datetime`` (naive =
            UTC), a ``date``, an ISO-8601 string, a ``numpy.datetime64``, or (with ``ago``)
            a duration (``"2h"``, ``timedelta(hours=2)``) meaning that long before ``now``.
        name: The parameter's name, for the error message (``since``, ``--since``).
        now: What "now" is for a duration (ms or a datetime); default: the clock.
        ago: Read durations as "that long ago"; ``False`` refuses them (a row's own time).

    Raises:
        InvalidInput: None of those forms (a boolean, text that is neither a duration nor
            an ISO-8601 time, NaN, a ``NaT``).
    """
    if isinstance(value, bool):
        raise _time_error(name, value, ago)
    if isinstance(value, numbers.Integral):  # numpy integers are registered as Integral
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isfinite(number):
            return int(number)
        raise _time_error(name, value, ago)
    if isinstance(value, dt.timedelta) and ago:
        return _now(now) - value // _MS
    if isinstance(value, str):
        text = value.strip()
        if ago and (micros := _parse_text(text)) is not None:
            return _now(now) - micros // 1000
        try:
            moment: object = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise _time_error(name, value, ago) from exc
    else:
        moment = value
    if isinstance(moment, dt.datetime):
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
        try:
            milliseconds = (aware - _EPOCH) // _MS
        except (TypeError, ValueError, OverflowError) as exc:
            raise _time_error(name, value, ago) from exc
        if isinstance(milliseconds, int):  # pandas' NaT is a datetime too, giving NaN
            return milliseconds
        raise _time_error(name, value, ago)
    if isinstance(moment, dt.date):
        midnight = dt.datetime(moment.year, moment.month, moment.day, tzinfo=dt.UTC)
        return (midnight - _EPOCH) // _MS
    numpy = sys.modules.get("numpy")  # a datetime64 exists only once numpy is imported
    if numpy is not None and isinstance(moment, numpy.datetime64) and not numpy.isnat(moment):
        return int(moment.astype("datetime64[ms]").astype(numpy.int64))
    raise _time_error(name, value, ago)


def _now(now: int | dt.datetime | None) -> int:
    return now_ms() if now is None else to_ms(now, name="now", ago=False)
