"""The watermark and alert-state mark rules on their own (no database).

The repository suite (test_monitor_repository.py) checks that the store applies them under
its row lock.
"""

from __future__ import annotations

import pytest

from cycleml.errors import InvalidInput, InvalidState
from cycleml.monitoring._watermarks import (
    RuleMark,
    alert_state_conflict,
    check_expected_version,
    check_window,
    evaluation_watermark,
    next_rule_mark,
    watermark_changed,
)

# ---- evaluation windows and the monitor's watermark ------------------------------------------


@pytest.mark.parametrize(("start", "end"), [(0, 0), (10, 20), (5, 5)])
def test_check_window_accepts_windows_that_do_not_end_before_they_start(
    start: int, end: int
) -> None:
    check_window(start, end)


def test_check_window_refuses_one_that_ends_before_it_starts() -> None:
    with pytest.raises(InvalidInput, match=r"Invalid window 20\.\.10: it ends before it starts"):
        check_window(20, 10)


@pytest.mark.parametrize(
    ("current", "requested", "result"),
    [
        (None, None, None),  # neither set: nothing moves
        (None, 100, 100),  # the first evaluation sets it
        (100, 101, 101),  # forwards
        (100, None, None),  # an evaluation that does not move it
    ],
)
def test_evaluation_watermark_moves_forwards(
    current: int | None, requested: int | None, result: int | None
) -> None:
    assert evaluation_watermark("m", current, requested) == result


@pytest.mark.parametrize("requested", [100, 99, 0])
def test_evaluation_watermark_refuses_a_window_recorded_already(requested: int) -> None:
    with pytest.raises(InvalidState, match="has already been evaluated up to 100") as info:
        evaluation_watermark("m", 100, requested)
    assert info.value.details == {"watermark": 100, "requested": requested}
    assert "set_monitor_watermark" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("current", "requested", "changed"),
    [
        (100, 50, True),  # backwards, to evaluate a period again
        (100, 200, True),
        (100, None, True),  # cleared: evaluate from the start
        (None, 5, True),
        (100, 100, False),
        (None, None, False),
    ],
)
def test_watermark_set_by_hand_moves_either_way(
    current: int | None, requested: int | None, changed: bool
) -> None:
    assert watermark_changed(current, requested) is changed


# ---- an alert rule's state mark --------------------------------------------------------------


@pytest.mark.parametrize("version", [None, 0, 3])
def test_check_expected_version_accepts(version: int | None) -> None:
    assert check_expected_version(version) == version


@pytest.mark.parametrize("version", [-1, True, 1.0, "0"])
def test_check_expected_version_refuses(version: object) -> None:
    with pytest.raises(InvalidInput, match="Invalid expected version"):
        check_expected_version(version)


def test_first_write_of_a_rule_state() -> None:
    assert next_rule_mark("m", "r", None) == RuleMark(1, None)
    assert next_rule_mark("m", "r", None, window_end=50, expected_version=0) == RuleMark(1, 50)


def test_next_write_counts_the_version_and_keeps_or_moves_the_window() -> None:
    stored = RuleMark(3, 50)
    assert next_rule_mark("m", "r", stored, window_end=60, expected_version=3) == RuleMark(4, 60)
    # no window named: the state keeps the one applied last
    assert next_rule_mark("m", "r", stored, expected_version=3) == RuleMark(4, 50)
    # no expected version: written whatever is stored
    assert next_rule_mark("m", "r", stored) == RuleMark(4, 50)


@pytest.mark.parametrize(("stored", "expected"), [(RuleMark(3, 50), 2), (None, 1)])
def test_a_write_on_top_of_another_version_is_refused(
    stored: RuleMark | None, expected: int
) -> None:
    found = 0 if stored is None else stored.version
    with pytest.raises(InvalidState, match="changed meanwhile") as info:
        next_rule_mark("m", "r", stored, window_end=60, expected_version=expected)
    assert info.value.details == {"version": found, "expected": expected}


def test_alert_state_conflict_names_the_rule() -> None:
    error = alert_state_conflict("churn", "drift", -1, 0)
    assert error.message == (
        "The state of alert rule 'drift' of monitor 'churn' changed meanwhile "
        "(version -1, expected 0)."
    )
    assert error.hint == "Another evaluator applied this window; read the states again."
