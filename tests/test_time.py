"""cycleml.time: one duration grammar and one reading of times, used by every stage and the
CLI; and cycleml.validation.invalid_parameter, the template of its errors."""

from __future__ import annotations

import datetime as dt
import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cycleml.cli._common import parse_duration_ms as cli_duration_ms
from cycleml.cli._common import parse_since
from cycleml.errors import InvalidInput
from cycleml.monitoring import parse_cooldown, parse_window
from cycleml.spec._rules import FreshnessRule, parse_rules
from cycleml.time import (
    DURATION_UNITS,
    format_duration,
    now_ms,
    parse_duration,
    parse_duration_ms,
    to_ms,
)
from cycleml.validation import invalid_parameter

SECOND = 1_000
HOUR = 3_600_000
DAY = 86_400_000
T = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
T_MS = 1_795_773_600_000  # T in ms since the epoch


# ---- durations -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "ms"),
    [("500ms", 500), ("15min", 15 * 60_000), ("15m", 15 * 60_000), ("1h", HOUR),
     ("1d12h", DAY + 12 * HOUR), ("2w", 14 * DAY), ("90s", 90 * SECOND), ("90sec", 90 * SECOND),
     ("2hr", 2 * HOUR), ("1h30m", HOUR + 30 * 60_000), ("1m30s", 90 * SECOND),
     ("1s500ms", 1_500), ("0.5h", HOUR // 2), ("1.5d", DAY * 3 // 2), (".5s", 500),
     ("0.1h", 360 * SECOND), ("0s", 0), ("1D12H", DAY + 12 * HOUR), ("15MIN", 15 * 60_000),
     ("1d 12h", DAY + 12 * HOUR), (" 2 h ", 2 * HOUR), ("1w1d", 8 * DAY)],
)  # fmt: skip
def test_every_unit_and_compound(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms
    assert parse_duration(text) == dt.timedelta(milliseconds=ms)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(90, dt.timedelta(seconds=90)), (2.5, dt.timedelta(seconds=2.5)),
     (np.int64(3), dt.timedelta(seconds=3)), (np.float32(0.5), dt.timedelta(seconds=0.5)),
     (dt.timedelta(minutes=5), dt.timedelta(minutes=5)),
     (pd.Timedelta("2h"), dt.timedelta(hours=2)), (0, dt.timedelta(0))],
)  # fmt: skip
def test_numbers_are_seconds_and_timedeltas_are_kept(value: Any, expected: dt.timedelta) -> None:
    assert parse_duration(value) == expected


def test_units_are_listed_with_their_lengths() -> None:
    assert set(DURATION_UNITS) == {"ms", "s", "sec", "m", "min", "h", "hr", "d", "w"}
    assert DURATION_UNITS["min"] == DURATION_UNITS["m"] == dt.timedelta(minutes=1)
    with pytest.raises(TypeError):
        DURATION_UNITS["mo"] = dt.timedelta(days=30)  # type: ignore[index]


# Text needs a unit ("90" is a row count to a monitor window); no months, no spelled-out names.
@pytest.mark.parametrize(
    "bad",
    ["", "   ", "90", "h", "2x", "1h30", "2 days", "1 hour", "1 month", "1mo", "-1h", "1e3s",
     "1..5h", "1h-30m", "1,5h", True, None, [1], "1h\n2"],
)  # fmt: skip
def test_what_is_not_a_duration_is_refused_with_the_grammar(bad: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_duration(bad, name="max_age")
    assert info.value.message == (
        f"Invalid max_age {bad!r}: expected a duration such as '500ms', '15min', '1h', "
        "'1d12h' or '2w'."
    )
    assert info.value.hint is not None
    assert "ms, s, m or min, h, d, w" in info.value.hint
    assert info.value.details == {"parameter": "max_age"}


@pytest.mark.parametrize(
    ("bad", "expected"),
    [(-5, "a duration of zero or more"), (dt.timedelta(seconds=-1), "a duration of zero or more"),
     (math.nan, "a finite duration"), (math.inf, "a finite duration"),
     ("99999999999999w", "a duration of less than a million years")],
)  # fmt: skip
def test_negative_infinite_and_huge_durations_are_refused(bad: Any, expected: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_duration(bad, name="lag")
    assert info.value.message == f"Invalid lag {bad!r}: expected {expected}."


def test_positive_refuses_zero_and_what_rounds_to_zero_ms() -> None:
    assert parse_duration("0s") == dt.timedelta(0)
    with pytest.raises(InvalidInput, match="expected a positive duration") as info:
        parse_duration("0s", positive=True)
    assert info.value.hint == "For example '30s', '15min' or '1h'."
    with pytest.raises(InvalidInput, match="at least 1ms"):
        parse_duration_ms("0.1ms", positive=True)
    assert parse_duration_ms("0.1ms") == 0
    assert parse_duration_ms("1.5ms", positive=True) == 2  # rounded, not truncated


def test_format_duration_writes_what_parse_reads() -> None:
    assert format_duration(dt.timedelta(days=1, hours=6)) == "1d6h"
    assert format_duration(dt.timedelta(seconds=90)) == "1m30s"
    assert format_duration(dt.timedelta(0)) == "0s"
    assert format_duration(dt.timedelta(seconds=1.5)) == "1.5s"


@given(st.integers(0, 10**6 * 86_400))
def test_format_then_parse_is_the_identity(seconds: int) -> None:
    duration = dt.timedelta(seconds=seconds)
    assert parse_duration(format_duration(duration)) == duration


# ---- the three former grammars now read the same forms -------------------------------------
def _max_age_ms(text: str) -> int:
    (rule,) = parse_rules([{"rule": "freshness", "column": "t", "max_age": text}])
    assert isinstance(rule, FreshnessRule)
    return round(rule.max_age / dt.timedelta(milliseconds=1))


PARSERS: dict[str, Callable[[str], int]] = {
    "spec": _max_age_ms,
    "monitoring": lambda text: round((parse_cooldown(text) or 0.0) * 1000),
    "cli": cli_duration_ms,
    "window": lambda text: parse_window(text)[1],
}


@pytest.mark.parametrize("where", sorted(PARSERS))
@pytest.mark.parametrize(
    ("text", "ms"),
    [("500ms", 500), ("15min", 900_000), ("1h", HOUR), ("1d12h", 36 * HOUR), ("2w", 14 * DAY)],
)
def test_spec_monitoring_and_cli_share_one_grammar(where: str, text: str, ms: int) -> None:
    assert PARSERS[where](text) == ms


@pytest.mark.parametrize("where", sorted(PARSERS))
def test_spec_monitoring_and_cli_refuse_alike(where: str) -> None:
    with pytest.raises(InvalidInput, match="Invalid"):
        PARSERS[where]("1 fortnight")


def test_each_caller_keeps_its_own_rules_on_zero_and_names() -> None:
    assert cli_duration_ms("0s") == 0  # `runs mark-stale --older-than 0s`
    assert parse_cooldown("0s") == 0.0  # re-notify every window, as a cooldown of 0 does
    with pytest.raises(InvalidInput, match=r"^Invalid cooldown -1: expected a duration of zero"):
        parse_cooldown(-1)
    with pytest.raises(InvalidInput, match=r"^Invalid window '0s': expected a number of"):
        parse_window("0s")  # a window is positive
    with pytest.raises(InvalidInput, match=r"^Invalid duration 'soon'"):
        cli_duration_ms("soon")
    assert parse_window("250") == ("rows", 250)  # digits alone are rows, not seconds
    with pytest.raises(InvalidInput, match=r"^Invalid window '1 month': expected a number of"):
        parse_window("1 month")


# ---- times ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [T_MS, float(T_MS), np.int64(T_MS), T, T.replace(tzinfo=None), T.astimezone(
        dt.timezone(dt.timedelta(hours=5, minutes=30))), "2026-11-27T10:00:00Z",
     "2026-11-27T10:00:00", "2026-11-27T10:00", "2026-11-27T15:30:00+05:30",
     " 2026-11-27T10:00:00.000+00:00 ", pd.Timestamp(T), np.datetime64("2026-11-27T10:00:00")],
)  # fmt: skip
def test_times_in_every_form_are_the_same_millisecond(value: Any) -> None:
    assert to_ms(value) == T_MS


def test_dates_are_their_midnight_utc() -> None:
    midnight = T_MS - 10 * HOUR
    assert to_ms(dt.date(2026, 11, 27)) == midnight
    assert to_ms("2026-11-27") == midnight


def test_milliseconds_are_exact_not_float_rounded() -> None:
    # 0.001 s in float seconds is 0.000999..., which truncation made 0 ms
    assert to_ms(dt.datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=dt.UTC)) == 1
    assert to_ms(dt.datetime(2026, 11, 27, 10, 0, 0, 999_999, tzinfo=dt.UTC)) == T_MS + 999


@pytest.mark.parametrize(
    ("value", "back"),
    [("2h", 2 * HOUR), ("1d12h", 36 * HOUR), ("15min", 900_000), ("500ms", 500),
     (dt.timedelta(hours=1), HOUR), (pd.Timedelta("1s"), SECOND), ("0s", 0)],
)  # fmt: skip
def test_durations_are_that_long_before_now(value: Any, back: int) -> None:
    assert to_ms(value, now=T_MS) == T_MS - back
    assert to_ms(value, now=T) == T_MS - back  # now as a datetime or as ms
    before = now_ms()
    assert before - back <= to_ms(value) <= now_ms() - back


def test_now_ms_is_the_clock_in_ms() -> None:
    from cycleml.store import now_ms as store_now_ms

    first = now_ms()
    assert abs(first - dt.datetime.now(dt.UTC).timestamp() * 1000) < 5_000
    assert first <= store_now_ms() <= now_ms()


@pytest.mark.parametrize("value", ["2h", dt.timedelta(hours=2)])
def test_ago_false_refuses_durations(value: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        to_ms(value, name="time of row 3", ago=False)
    assert info.value.message == (
        f"Invalid time of row 3 {value!r}: expected a time: milliseconds since the epoch, a "
        "datetime or an ISO-8601 string."
    )
    assert (
        info.value.hint
        == "Naive times are UTC. For example '2026-11-27T10:00:00Z' or '2026-11-27'."
    )


@pytest.mark.parametrize(
    "bad",
    ["yesterday", "", "2026-13-01", "1 fortnight", True, math.nan, math.inf, None, object(),
     pd.NaT, np.datetime64("NaT"), [T_MS]],
)  # fmt: skip
def test_what_is_not_a_time_is_refused(bad: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        to_ms(bad, name="since")
    assert info.value.message.startswith("Invalid since ")
    assert info.value.message.endswith(
        ": expected a time (milliseconds since the epoch, a datetime or an ISO-8601 string) "
        "or a duration back from now ('2h')."
    )
    assert info.value.hint is not None
    assert "'7d'" in info.value.hint


def test_cli_since_reads_durations_and_dates() -> None:
    assert parse_since("1d12h", now_ms=T_MS) == T_MS - 36 * HOUR
    assert parse_since("15min", now_ms=T_MS) == T_MS - 900_000
    assert parse_since("2026-11-27T10:00") == T_MS
    assert parse_since("2026-11-27T10:00:00Z") == T_MS
    before = now_ms()
    assert before - HOUR <= parse_since("1h") <= now_ms() - HOUR
    with pytest.raises(InvalidInput, match=r"^Invalid --since 'yesterday-ish'"):
        parse_since("yesterday-ish")


# ---- the parameter-error template ----------------------------------------------------------
def test_invalid_parameter_has_one_shape() -> None:
    error = invalid_parameter(
        "window", "soon", "a duration", hint="Units: ms, s.", example="'1h'", details={"n": 1}
    )
    assert isinstance(error, InvalidInput)
    assert error.message == "Invalid window 'soon': expected a duration."
    assert error.hint == "Units: ms, s. For example '1h'."
    assert error.details == {"parameter": "window", "n": 1}
    assert (
        str(error)
        == "Invalid window 'soon': expected a duration. Hint: Units: ms, s. For example '1h'."
    )
    assert invalid_parameter("n", 0, "at least 1").hint is None
    assert invalid_parameter("n", 0, "at least 1", example="5").hint == "For example 5."


def test_invalid_parameter_shortens_long_values() -> None:
    error = invalid_parameter("since", "x" * 500, "a time")
    quoted = error.message.removeprefix("Invalid since ").removesuffix(": expected a time.")
    assert len(quoted) == 80
    assert quoted.startswith("'xxx")
    assert quoted.endswith("...")


def test_the_module_imports_only_the_standard_library(
    fresh_imports: Callable[..., tuple[Any, set[str]]],
) -> None:
    _, bare = fresh_imports("pass")  # what the interpreter itself loads (site hooks too)
    done, loaded = fresh_imports("import cycleml.time")
    assert done.returncode == 0, done.stderr
    assert loaded - bare - set(sys.stdlib_module_names) == {"cycleml"}
