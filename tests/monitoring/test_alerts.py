"""Alert rules, the alert state machine and the engine that persists and delivers alerts.

The engine tests run on SQLite and PostgreSQL (see tests/conftest.py).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cycleml.errors import InvalidInput, NotFound
from cycleml.monitoring import (
    AlertEngine,
    AlertEvent,
    AlertRule,
    AlertState,
    Delivery,
    MonitorRepository,
    SqlMonitorRepository,
    alert_payload,
    parse_cooldown,
    step,
)
from cycleml.monitoring._sql_alerts import NewAlertEvent
from cycleml.registry import ModelRepository, SqlModelRepository
from cycleml.store import Database

RULE = AlertRule("drift-high", "drift_share", ">", 0.3)


# ---- rules ------------------------------------------------------------------------------------


def test_rule_defaults_and_round_trip() -> None:
    assert (RULE.for_windows, RULE.cooldown, RULE.notify, RULE.severity) == (
        1,
        None,
        ("log",),
        "warning",
    )
    rule = AlertRule.from_dict(
        {
            "name": "acc",
            "metric": "performance.accuracy",
            "operator": "<",
            "threshold": 0.8,
            "for": 3,
            "cooldown": "30m",
            "notify": ["log", "hook"],
            "severity": "critical",
        }
    )
    assert rule == AlertRule(
        "acc", "performance.accuracy", "<", 0.8, 3, 1800.0, ("log", "hook"), "critical"
    )
    assert rule.to_dict() == {
        "name": "acc",
        "metric": "performance.accuracy",
        "operator": "<",
        "threshold": 0.8,
        "for_windows": 3,
        "cooldown": 1800.0,
        "notify": ["log", "hook"],
        "severity": "critical",
    }
    assert AlertRule.from_dict(rule.to_dict()) == rule
    unnamed = AlertRule.from_dict({"metric": "m", "operator": ">=", "threshold": 1, "notify": "x"})
    assert (unnamed.name, unnamed.threshold, unnamed.notify) == ("m >= 1", 1.0, ("x",))
    assert AlertRule("r", "m", ">", 1, cooldown="1h").cooldown == 3600.0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("operator", "breaching", "calm"),
    [(">", 0.4, 0.3), (">=", 0.3, 0.29), ("<", 0.2, 0.3), ("<=", 0.3, 0.31),
     ("==", 0.3, 0.31), ("!=", 0.31, 0.3)],
)  # fmt: skip
def test_operators(operator: str, breaching: float, calm: float) -> None:
    rule = AlertRule("r", "m", operator, 0.3)
    assert rule.breached(breaching)
    assert not rule.breached(calm)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, None), (0, 0.0), (90, 90.0), (1.5, 1.5), ("90s", 90.0), ("30m", 1800.0),
     ("1h", 3600.0), (" 2d ", 172800.0), ("500ms", 0.5), ("1w", 604800.0), ("0s", 0.0),
     (timedelta(minutes=5), 300.0), ("1h30m", 5400.0)],
)  # fmt: skip
def test_parse_cooldown(value: float | str | None, seconds: float | None) -> None:
    assert parse_cooldown(value) == seconds


@pytest.mark.parametrize("bad", ["soon", "-1h", "1 hour", "", -1, math.nan, math.inf, True, [1]])
def test_bad_cooldowns(bad: Any) -> None:
    with pytest.raises(InvalidInput, match="cooldown") as info:
        parse_cooldown(bad)
    assert info.value.hint


BAD_RULES: list[tuple[Any, str]] = [
    ("text", "expected a mapping"),
    ({"metric": "m", "operator": ">", "threshold": 1, "above": 2}, "Unknown alert rule setting"),
    ({"operator": ">", "threshold": 1}, "has no metric"),
    ({"metric": "m", "threshold": 1}, "has no operator"),
    ({"metric": "m", "operator": ">"}, "has no threshold"),
    ({"metric": "m", "operator": "=>", "threshold": 1}, "operator"),
    ({"metric": "m", "operator": ">", "threshold": math.nan}, "threshold"),
    ({"metric": "m", "operator": ">", "threshold": True}, "threshold"),
    ({"metric": "m", "operator": ">", "threshold": "0.3"}, "threshold"),
    ({"metric": "m", "operator": ">", "threshold": 1, "for": 0}, "for_windows"),
    ({"metric": "m", "operator": ">", "threshold": 1, "for_windows": 1.5}, "for_windows"),
    ({"metric": "m", "operator": ">", "threshold": 1, "for": 1, "for_windows": 2}, "both"),
    ({"metric": "m", "operator": ">", "threshold": 1, "cooldown": "soon"}, "cooldown"),
    ({"metric": "m", "operator": ">", "threshold": 1, "notify": ["a", "a"]}, "twice"),
    ({"metric": "m", "operator": ">", "threshold": 1, "notify": [""]}, "notify"),
    ({"metric": "m", "operator": ">", "threshold": 1, "notify": 3}, "notify"),
    ({"metric": "m", "operator": ">", "threshold": 1, "severity": "high"}, "severity"),
    ({"name": "", "metric": "m", "operator": ">", "threshold": 1}, "rule name"),
    ({"name": "r", "metric": "", "operator": ">", "threshold": 1}, "metric"),
]


@pytest.mark.parametrize(("data", "match"), BAD_RULES)
def test_bad_rules(data: Any, match: str) -> None:
    with pytest.raises(InvalidInput, match=match) as info:
        AlertRule.from_dict(data)
    assert info.value.hint


# ---- the state machine ----------------------------------------------------------------------


def _run(
    rule: AlertRule, values: list[float | None], *, start: int = 0, dt: int = 1000
) -> tuple[AlertState, list[AlertEvent | None]]:
    state, events = AlertState(), []
    for i, value in enumerate(values):
        state, event = step(rule, state, value, start + i * dt)
        events.append(event)
    return state, events


def test_fires_after_for_windows() -> None:
    rule = AlertRule("r", "m", ">", 0.3, for_windows=3, severity="critical")
    state, events = _run(rule, [0.5, 0.6, 0.7])
    assert events[:2] == [None, None]
    fired = events[2]
    assert fired == AlertEvent(
        kind="fired",
        rule="r",
        metric="m",
        operator=">",
        value=0.7,
        threshold=0.3,
        severity="critical",
        time=2000,
        consecutive=3,
    )
    assert state == AlertState(consecutive=3, firing=True, last_value=0.7, last_fired_at=2000)


def test_a_calm_window_restarts_the_count() -> None:
    rule = AlertRule("r", "m", ">", 0.3, for_windows=2)
    state, events = _run(rule, [0.5, 0.1, 0.5])
    assert events == [None, None, None]
    assert state == AlertState(1, False, 0.5, None)


def test_still_firing_sends_nothing_without_a_cooldown() -> None:
    state, events = _run(RULE, [0.5] * 10, dt=10**9)
    assert [e.kind if e else None for e in events] == ["fired"] + [None] * 9
    assert state.consecutive == 10
    assert state.last_fired_at == 0


def test_renotifies_after_the_cooldown() -> None:
    rule = AlertRule("r", "m", ">", 0.3, cooldown=2.5)  # 2.5 s; a window every second
    state, events = _run(rule, [0.5] * 7)
    kinds = [(e.kind, e.repeat, e.time) if e else None for e in events]
    assert kinds == [
        ("fired", False, 0),
        None,
        None,
        ("fired", True, 3000),
        None,
        None,
        ("fired", True, 6000),
    ]
    assert state.last_fired_at == 6000


def test_zero_cooldown_renotifies_every_window() -> None:
    _, events = _run(AlertRule("r", "m", ">", 0.3, cooldown=0), [0.5, 0.5, 0.5])
    assert [(e.kind, e.repeat) for e in events if e] == [
        ("fired", False),
        ("fired", True),
        ("fired", True),
    ]


def test_resolves() -> None:
    state, events = _run(RULE, [0.5, 0.5, 0.1, 0.1])
    assert [e.kind if e else None for e in events] == ["fired", None, "resolved", None]
    resolved = events[2]
    assert resolved is not None
    assert (resolved.value, resolved.consecutive, resolved.time) == (0.1, 0, 2000)
    assert state == AlertState(0, False, 0.1, 0)  # last_fired_at is kept


def test_missing_values_change_nothing() -> None:
    state = AlertState(2, True, 0.5, 1000)
    for missing in (None, math.nan):
        same, event = step(RULE, state, missing, 99_000)
        assert same is state
        assert event is None


def test_renotify_edge_cases() -> None:
    rule = AlertRule("r", "m", ">", 0.3, cooldown=60)
    # firing without a recorded notification time: notify now
    _, event = step(rule, AlertState(1, True, 0.5, None), 0.5, 1000)
    assert event is not None
    assert event.repeat
    # a clock that went backwards does not re-notify
    state, event = step(rule, AlertState(1, True, 0.5, 10_000), 0.5, 5000)
    assert event is None
    assert state.last_fired_at == 10_000
    # a lower for_windows than the current run fires at once
    _, event = step(AlertRule("r", "m", ">", 0.3, for_windows=2), AlertState(5), 0.5, 0)
    assert event is not None
    assert (event.kind, event.consecutive) == ("fired", 6)


def test_step_reads_now_as_any_time_but_not_a_duration() -> None:
    moment = datetime(2026, 11, 27, 10, tzinfo=UTC)
    expected = int(moment.timestamp() * 1000)
    for now in (moment, moment.replace(tzinfo=None), "2026-11-27T10:00:00Z", expected):
        state, event = step(RULE, AlertState(), 0.5, now)
        assert event is not None
        assert (event.time, state.last_fired_at) == (expected, expected)
    with pytest.raises(InvalidInput, match=r"^Invalid now '1h'"):
        step(RULE, AlertState(), 0.5, "1h")  # pure: no clock to go back from


values = st.one_of(st.none(), st.just(math.nan), st.floats(-1, 1, allow_nan=False))


@settings(max_examples=300, deadline=None)
@given(
    for_windows=st.integers(1, 4),
    cooldown=st.one_of(st.none(), st.integers(0, 5)),
    steps=st.lists(st.tuples(values, st.integers(0, 3)), max_size=40),
)
def test_state_machine_invariants(
    for_windows: int, cooldown: int | None, steps: list[tuple[float | None, int]]
) -> None:
    rule = AlertRule("r", "m", ">", 0.0, for_windows=for_windows, cooldown=cooldown)
    state = AlertState()
    now = 0
    run = 0  # breaching values in a row, missing ones skipped
    incident_kinds: list[str] = []
    last_notice: int | None = None
    for value, dt in steps:
        now += dt * 1000
        before = state
        state, event = step(rule, state, value, now)
        if value is None or math.isnan(value):
            assert state is before
            assert event is None
            continue
        breaching = value > 0.0
        run = run + 1 if breaching else 0
        assert state.consecutive == run
        assert state.firing == (run >= for_windows)
        assert state.last_value == value
        if event is None:
            continue
        assert event.time == now
        if event.kind == "resolved":
            assert before.firing
            assert not breaching
            incident_kinds.append("resolved")
        elif not event.repeat:
            assert run == for_windows  # fires exactly when the run reaches for_windows
            assert not before.firing
            incident_kinds.append("fired")
            last_notice = now
        else:  # a re-notification
            assert cooldown is not None
            assert before.firing
            assert last_notice is not None
            assert now - last_notice >= cooldown * 1000
            last_notice = now
        # fired and resolved alternate, starting with fired
        assert incident_kinds == ["fired", "resolved"] * (len(incident_kinds) // 2) + (
            ["fired"] if len(incident_kinds) % 2 else []
        )
    # every breaching window without a notice while firing was inside the cooldown
    if cooldown is None:
        assert state.last_fired_at is None or state.last_fired_at == last_notice


# ---- the engine -------------------------------------------------------------------------------


class Crash(BaseException):
    """Stands in for the process dying (not an Exception: nothing catches it)."""


@dataclass
class Recorder:
    """A notifier that remembers what it was sent."""

    guarantee: Any = "at-least-once"
    sent: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False
    crash: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, payload: Mapping[str, Any], *, store: object = None) -> Delivery:
        if self.crash:
            raise Crash
        with self.lock:
            self.sent.append(dict(payload))
        if self.fail:
            return Delivery("failed", {"error": "nope"})
        return Delivery("delivered", {"n": len(self.sent)})


@pytest.fixture
def monitored(model_repo: ModelRepository, monitor_repo: MonitorRepository) -> MonitorRepository:
    """A store with monitor ``mon`` (on ``models:/m/1``)."""
    model_repo.create_registered_model("m")
    model_repo.create_model_version("m", source="s3://bucket/m/1")
    monitor_repo.create_monitor("mon", "models:/m/1")
    return monitor_repo


def test_engine_fires_once_and_remembers(monitored: MonitorRepository, db: Database) -> None:
    hook = Recorder()
    rule = AlertRule("drift", "drift_share", ">", 0.3, notify=("hook",), severity="critical")
    engine = AlertEngine(monitored, {"hook": hook}, links={"ui": "http://ui/mon"})
    [event] = engine.process(
        "mon", [rule], {"drift_share": 0.5}, now=1000, window_end=1000, evaluation_id="e" * 32
    )
    assert (event.kind, event.monitor, event.rule, event.value) == ("fired", "mon", "drift", 0.5)
    assert event.id is not None
    assert event.deliveries == {"hook": "delivered"}
    assert event.to_dict()["deliveries"] == {"hook": "delivered"}
    [payload] = hook.sent
    assert payload == {
        "version": 1,
        "id": event.id,
        "kind": "fired",
        "repeat": False,
        "monitor": "mon",
        "rule": "drift",
        "metric": "drift_share",
        "operator": ">",
        "value": 0.5,
        "threshold": 0.3,
        "severity": "critical",
        "consecutive": 1,
        "time": "1970-01-01T00:00:01.000Z",
        "time_ms": 1000,
        "window_end": 1000,
        "evaluation_id": "e" * 32,
        "summary": "drift_share = 0.5 > 0.3 for 1 window (monitor mon, rule drift)",
        "links": {"ui": "http://ui/mon"},
    }
    stored = monitored.get_alert_event(event.id)
    assert stored.deliveries["hook"].status == "delivered"
    assert not stored.pending
    assert alert_payload(stored) == payload

    # still breaching: nothing new is sent, the count goes on
    assert engine.process("mon", [rule], {"drift_share": 0.6}, now=2000, window_end=2000) == []
    assert len(hook.sent) == 1
    assert monitored.get_alert_states("mon")["drift"].consecutive == 2
    # calm again: resolved (now in any form cycleml.time.to_ms reads)
    [resolved] = engine.process(
        "mon", [rule], {"drift_share": 0.1}, now="1970-01-01T00:00:03Z", window_end=3000
    )
    assert resolved.time == 3000
    assert resolved.kind == "resolved"
    assert hook.sent[-1]["kind"] == "resolved"
    assert hook.sent[-1]["summary"].startswith("drift_share = 0.1, no longer > 0.3")
    actions = [a.action for a in db.list_audit(entity_id="mon")]
    assert actions.count("alert.fired") == actions.count("alert.resolved") == 1
    assert actions.count("alert.deliver") == 2


def test_a_restart_sends_no_duplicate(metadata_uri: str) -> None:
    first_db = Database(metadata_uri, actor="monitor")
    first_models = SqlModelRepository(first_db)
    first_models.create_registered_model("m")
    first_models.create_model_version("m", source="s3://bucket/m/1")
    first_store = SqlMonitorRepository(first_db, models=first_models)
    first_store.create_monitor("mon", "models:/m/1")
    rule = AlertRule("drift", "drift_share", ">", 0.3, notify=("hook",), cooldown=3600)
    first = Recorder()
    events = AlertEngine(first_store, {"hook": first}).process(
        "mon", [rule], {"drift_share": 0.5}, now=1000, window_end=1000
    )
    assert [e.kind for e in events] == ["fired"]
    first_store.close()

    # a new process: new repository and database, new engine, new notifier - same database
    with SqlMonitorRepository(Database(metadata_uri, actor="monitor")) as again:
        second = Recorder()
        engine = AlertEngine(again, {"hook": second})
        assert engine.process("mon", [rule], {"drift_share": 0.5}, now=2000, window_end=2000) == []
        # the same window again (e.g. re-run after a crash) is not counted twice
        assert engine.process("mon", [rule], {"drift_share": 0.5}, now=2500, window_end=2000) == []
        assert again.get_alert_states("mon")["drift"].consecutive == 2
        assert second.sent == []
        # the cooldown still counts from the first notification
        [repeat] = engine.process(
            "mon", [rule], {"drift_share": 0.5}, now=3_601_000, window_end=3000
        )
        assert repeat.repeat
        assert [p["repeat"] for p in second.sent] == [True]
        assert len(again.list_alert_events("mon")) == 2


def test_windows_are_applied_once(monitored: MonitorRepository) -> None:
    rule = AlertRule("r", "m", ">", 0.3, for_windows=2)
    engine = AlertEngine(monitored)
    engine.process("mon", [rule], {"m": 0.5}, window_end=1000)
    engine.process("mon", [rule], {"m": 0.5}, window_end=1000)
    engine.process("mon", [rule], {"m": 0.5}, window_end=500)
    assert monitored.get_alert_states("mon")["r"].consecutive == 1
    assert [e.kind for e in engine.process("mon", [rule], {"m": 0.5}, window_end=2000)] == ["fired"]


def test_missing_metrics_write_nothing(monitored: MonitorRepository) -> None:
    engine = AlertEngine(monitored)
    rules = [AlertRule("a", "absent", ">", 0.3), AlertRule("b", "nan", ">", 0.3)]
    assert engine.process("mon", rules, {"nan": math.nan, "text": "x"}) == []  # type: ignore[dict-item]
    assert monitored.get_alert_states("mon") == {}


def test_bad_rules_are_refused_before_anything_is_written(monitored: MonitorRepository) -> None:
    engine = AlertEngine(monitored, {"hook": Recorder()})
    good = AlertRule("r", "m", ">", 0.3)
    cases: list[tuple[list[Any], str]] = [
        ([good, AlertRule("r", "m2", "<", 0.1)], "Two alert rules are named 'r'"),
        ([good, AlertRule("x", "m", ">", 0.3, notify=("pager",))], "notifies 'pager'"),
        ([good, {"name": "d"}], "expected an AlertRule"),
    ]
    for rules, match in cases:
        with pytest.raises(InvalidInput, match=match) as info:
            engine.process("mon", rules, {"m": 0.9})
        assert info.value.hint
    assert monitored.get_alert_states("mon") == {}
    with pytest.raises(NotFound, match="No monitor named 'nope'"):
        engine.process("nope", [good], {"m": 0.9})
    with pytest.raises(InvalidInput, match="lease"):
        AlertEngine(monitored, lease=-1)


def test_the_builtin_log_notifier(
    monitored: MonitorRepository, caplog: pytest.LogCaptureFixture
) -> None:
    rule = AlertRule("r", "m", ">", 0.3)  # notify defaults to the built-in log
    with caplog.at_level(logging.INFO, logger="cycleml.monitoring.alerts"):
        [event] = AlertEngine(monitored).process("mon", [rule], {"m": 0.5}, now=1000)
        AlertEngine(monitored).process("mon", [rule], {"m": 0.1}, now=2000)
    assert event.deliveries == {"log": "delivered"}
    records = [r for r in caplog.records if r.name == "cycleml.monitoring.alerts"]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.WARNING, "Alert fired: m = 0.5 > 0.3 for 1 window (monitor mon, rule r)"),
        (logging.INFO, "Alert resolved: m = 0.1, no longer > 0.3 (monitor mon, rule r)"),
    ]
    assert records[0].alert["id"] == event.id  # type: ignore[attr-defined]


def test_failing_notifiers_do_not_stop_the_others(monitored: MonitorRepository) -> None:
    class Broken:
        guarantee: Any = "at-least-once"

        def send(self, payload: Mapping[str, Any], *, store: object = None) -> Delivery:
            raise RuntimeError("socket on fire")

    good, refused = Recorder(), Recorder(fail=True)
    rule = AlertRule("r", "m", ">", 0.3, notify=("broken", "refused", "good"))
    engine = AlertEngine(monitored, {"broken": Broken(), "refused": refused, "good": good})
    [event] = engine.process("mon", [rule], {"m": 0.5})
    assert event.deliveries == {"broken": "failed", "refused": "failed", "good": "delivered"}
    stored = monitored.get_alert_event(str(event.id))
    assert stored.deliveries["broken"].detail == {"error": "RuntimeError: socket on fire"}
    assert not stored.pending  # failures are final: the notifier did its retrying
    assert len(good.sent) == 1


def test_pending_deliveries_are_sent_after_a_crash_before_sending(
    monitored: MonitorRepository,
) -> None:
    # The transition was stored, then the process died before claiming any delivery.
    _, record = monitored.apply_alert_transition(
        "mon",
        "r",
        AlertState(1, True, 0.5, 1000),
        NewAlertEvent("fired", "m", 0.5, 0.3, 1000, notifiers=("hook",), details={"operator": ">"}),
    )
    assert record is not None
    hook = Recorder()
    engine = AlertEngine(monitored, {"hook": hook})
    rule = AlertRule("r", "m", ">", 0.3, notify=("hook",))
    assert engine.process("mon", [rule], {"m": 0.5}) == []  # still firing: no new event
    assert [p["id"] for p in hook.sent] == [record.id]  # but the lost one went out, once
    assert engine.deliver_pending() == 0
    assert len(hook.sent) == 1


@pytest.mark.parametrize("guarantee", ["at-least-once", "at-most-once"])
def test_a_crash_while_sending(monitored: MonitorRepository, guarantee: str) -> None:
    rule = AlertRule("r", "m", ">", 0.3, notify=("hook",))
    with pytest.raises(Crash):
        AlertEngine(monitored, {"hook": Recorder(guarantee, crash=True)}).process(
            "mon", [rule], {"m": 0.5}
        )
    [record] = monitored.list_alert_events("mon", pending=True)
    assert record.deliveries["hook"].status == "sending"

    # within the lease: the sender may still be alive; nothing is touched
    patient = Recorder(guarantee)
    assert AlertEngine(monitored, {"hook": patient}).deliver_pending("mon") == 0
    assert patient.sent == []

    # after the lease: at-least-once sends again (same id), at-most-once gives up
    restarted = Recorder(guarantee)
    assert AlertEngine(monitored, {"hook": restarted}, lease=0).deliver_pending() == 1
    delivery = monitored.get_alert_event(record.id).deliveries["hook"]
    if guarantee == "at-least-once":
        assert [p["id"] for p in restarted.sent] == [record.id]
        assert (delivery.status, delivery.attempts) == ("delivered", 2)
    else:
        assert restarted.sent == []
        assert delivery.status == "unknown"
        assert "not run again" in delivery.detail["reason"]
    assert monitored.list_alert_events(pending=True) == []


def test_unconfigured_notifier_of_a_stored_event_fails_cleanly(
    monitored: MonitorRepository,
) -> None:
    monitored.apply_alert_transition(
        "mon",
        "r",
        AlertState(1, True, 0.5, 1),
        NewAlertEvent("fired", "m", 0.5, 0.3, 1, notifiers=("gone",)),
    )
    assert AlertEngine(monitored).deliver_pending("mon") == 1
    [record] = monitored.list_alert_events("mon")
    assert record.deliveries["gone"].status == "failed"
    assert record.deliveries["gone"].detail == {"error": "no notifier named 'gone'"}


def test_racing_engines_notify_once(monitored: MonitorRepository) -> None:
    hook = Recorder()
    rule = AlertRule("r", "m", ">", 0.3, notify=("hook",))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            AlertEngine(monitored, {"hook": hook}).process(
                "mon", [rule], {"m": 0.5}, window_end=1000
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(hook.sent) == 1
    assert len(monitored.list_alert_events("mon")) == 1
    assert monitored.get_alert_states("mon")["r"].consecutive == 1
