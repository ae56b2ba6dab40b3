"""How far a monitor has been evaluated, pure: no SQL, no clock, no I/O.

Two marks say what has been evaluated already, so a window is counted once even when an
evaluation is retried or two evaluators race:

- the monitor's **watermark** (ms): up to when its prediction log has been evaluated. An
  evaluation moves it only forwards (:func:`evaluation_watermark`); by hand it may move
  backwards too, to evaluate a period again (:func:`watermark_changed`). An evaluation's
  window ``[window_start, window_end)`` does not end before it starts (:func:`check_window`).
- each alert rule's **state mark** (:class:`RuleMark`): the last evaluation window applied
  to the rule's state and the state's ``version``, which counts its writes. A transition is
  written only on top of the version it was computed from (optimistic concurrency:
  :func:`next_rule_mark`), so when two evaluators step the same rule the second one is
  refused instead of counting the window twice.

The repositories (:mod:`cycleml.monitoring._sql_evaluations`, ``_sql_monitors`` and
``_sql_alerts``) read the stored marks under a row lock, call these and write the result in
the same transaction.
"""

from __future__ import annotations

from typing import NamedTuple

from cycleml.errors import InvalidInput, InvalidState

__all__ = [
    "RuleMark",
    "alert_state_conflict",
    "check_expected_version",
    "check_window",
    "evaluation_watermark",
    "next_rule_mark",
    "watermark_changed",
]


# ---- the monitor's watermark -------------------------------------------------------------


def check_window(window_start: int, window_end: int) -> None:
    """Refuse an evaluation window that ends before it starts (an empty one is allowed).

    Raises:
        InvalidInput: ``window_end < window_start``.
    """
    if window_end < window_start:
        raise InvalidInput(
            f"Invalid window {window_start}..{window_end}: it ends before it starts.",
            hint="window_end must be no earlier than window_start (ms since the epoch).",
        )


def evaluation_watermark(
    monitor_name: str, current: int | None, requested: int | None
) -> int | None:
    """The watermark an evaluation leaves, or ``None`` when it does not move it.

    Args:
        current: The monitor's watermark as stored (``None``: never evaluated).
        requested: Where the evaluation moves it (``None``: it does not).

    Raises:
        InvalidState: ``requested`` is not beyond ``current``: another evaluator has
            recorded this window already.
    """
    if requested is not None and current is not None and requested <= current:
        raise InvalidState(
            f"Monitor {monitor_name!r} has already been evaluated up to {current} "
            f"(this evaluation would set its watermark to {requested}).",
            hint="Another evaluator recorded this window; read the monitor again, or "
            "move the watermark back with set_monitor_watermark to re-evaluate.",
            details={"watermark": current, "requested": requested},
        )
    return requested


def watermark_changed(current: int | None, requested: int | None) -> bool:
    """Whether setting the watermark by hand changes it (any direction, or clearing it)."""
    return requested != current


# ---- an alert rule's state mark ------------------------------------------------------------


class RuleMark(NamedTuple):
    """What an alert rule's stored state says about its progress.

    ``version`` counts the state's writes (0: no state yet); ``window_end`` is the last
    evaluation window applied to it (ms), ``None`` when no window was named.
    """

    version: int
    window_end: int | None


def check_expected_version(expected_version: object) -> int | None:
    """The version a transition was computed from: an integer >= 0, or ``None`` (unchecked)."""
    if expected_version is not None and (
        isinstance(expected_version, bool)
        or not isinstance(expected_version, int)
        or expected_version < 0
    ):
        raise InvalidInput(
            f"Invalid expected version {expected_version!r}: expected an integer >= 0.",
            hint="Pass the version get_alert_states returned (0 when there was none).",
        )
    return expected_version


def alert_state_conflict(
    monitor_name: str, rule_name: str, found: int, expected: int | None
) -> InvalidState:
    """The error for a transition computed from a version that is no longer stored."""
    return InvalidState(
        f"The state of alert rule {rule_name!r} of monitor {monitor_name!r} changed "
        f"meanwhile (version {found}, expected {expected}).",
        hint="Another evaluator applied this window; read the states again.",
        details={"version": found, "expected": expected},
    )


def next_rule_mark(
    monitor_name: str,
    rule_name: str,
    stored: RuleMark | None,
    *,
    window_end: int | None = None,
    expected_version: int | None = None,
) -> RuleMark:
    """The mark of a rule's state after a transition is written on top of ``stored``.

    Args:
        stored: The stored mark, ``None`` when the rule has no state yet (version 0).
        window_end: The window the transition applied; ``None`` keeps the stored one.
        expected_version: The version the transition was computed from; ``None`` writes
            whatever is stored.

    Raises:
        InvalidState: The stored version is not ``expected_version``: another evaluator
            wrote first.
    """
    version = 0 if stored is None else stored.version
    if expected_version is not None and version != expected_version:
        raise alert_state_conflict(monitor_name, rule_name, version, expected_version)
    kept = None if stored is None else stored.window_end
    return RuleMark(version + 1, window_end if window_end is not None else kept)
