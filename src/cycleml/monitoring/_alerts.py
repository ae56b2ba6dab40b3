"""Alert rules, their state machine and the engine that persists and delivers alerts.

An :class:`AlertRule` watches one metric of a monitor's evaluations::

    AlertRule("drift-high", "drift_share", ">", 0.3, for_windows=3, cooldown="1h",
              notify=("ops-webhook", "retrain"))

The state machine (:func:`step`, pure) per rule and evaluation window:

- a *breaching* value (``value <operator> threshold``) adds one to ``consecutive``; when it
  reaches ``for_windows`` and the alert is not firing, it **fires** (event ``fired``);
- while firing and still breaching nothing is sent, except that once ``cooldown`` seconds
  have passed since the last notification it **re-notifies** (event ``fired`` again, with
  ``repeat=True``); without a cooldown an incident notifies once;
- a non-breaching value resets ``consecutive`` and, if firing, **resolves** the alert
  (event ``resolved``);
- a missing value (``None``/NaN: the check could not run) changes nothing.

Delivery (:class:`AlertEngine`). Each transition is stored *before* anything is sent, in one
transaction with its event and one ``pending`` delivery per notifier
(:meth:`~cycleml.monitoring.MonitorRepository.apply_alert_transition`). So a restarted monitor
finds the alert firing and sends nothing again. Each delivery is then claimed
(``pending -> sending``, a compare-and-set, so two processes never both send it), sent, and
finished (``delivered``/``failed``/``skipped``). If the process dies in between:

- before the claim: the delivery is still ``pending``; the next engine run sends it (no
  alert is lost);
- after the claim, before the outcome is stored: once the claim is older than ``lease``
  seconds, **at-least-once** notifiers (log, webhook) are sent again - with the same event
  id (``Idempotency-Key``), so a receiver can drop the duplicate - and **at-most-once**
  notifiers (the retraining hook: retraining twice is worse than a missed trigger) are
  marked ``unknown`` and not run again.

A window is applied to a rule once: pass ``window_end`` and a repeated call for the same
(or an older) window changes nothing - re-running a window after a crash does not count a
breach twice. Two evaluators racing on one monitor are serialized by the state's version:
the loser skips the rule.
"""

from __future__ import annotations

import logging
import math
import numbers
import operator as op
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

from cycleml.errors import InvalidInput, InvalidState
from cycleml.monitoring._notify import Delivery, LogNotifier, Notifier
from cycleml.monitoring._repository import MonitorRepository
from cycleml.monitoring._sql_alerts import AlertEventRecord, NewAlertEvent
from cycleml.store import now_ms
from cycleml.time import DurationLike, TimeLike, parse_duration, to_ms

__all__ = [
    "OPERATORS",
    "SEVERITIES",
    "AlertEngine",
    "AlertEvent",
    "AlertRule",
    "AlertState",
    "alert_payload",
    "parse_cooldown",
    "step",
]

_log = logging.getLogger(__name__)

#: The comparisons a rule can make, ``value <operator> threshold`` means breaching.
OPERATORS: Mapping[str, Callable[[float, float], bool]] = MappingProxyType(
    {">": op.gt, ">=": op.ge, "<": op.lt, "<=": op.le, "==": op.eq, "!=": op.ne}
)
#: Severities, least to most urgent.
SEVERITIES = ("info", "warning", "critical")
_RULE_KEYS = frozenset(
    {"name", "metric", "operator", "threshold", "for_windows", "for", "cooldown", "notify"}
    | {"severity"}
)
PAYLOAD_VERSION = 1
_Final = Literal["delivered", "failed", "skipped", "unknown"]
_FINAL = frozenset({"delivered", "failed", "skipped", "unknown"})


def parse_cooldown(value: DurationLike | None) -> float | None:
    """Seconds in a cooldown, or ``None`` (no re-notification): any duration
    :func:`cycleml.time.parse_duration` reads (a number of seconds, a ``timedelta``, text
    such as ``"30m"`` or ``"1h"``), zero or more.

    Raises:
        InvalidInput: Not a duration, or a negative one.
    """
    if value is None:
        return None
    return parse_duration(value, name="cooldown").total_seconds()


def _finite(value: object) -> float | None:
    """``value`` as a float if it is a finite real number (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class AlertRule:
    """Alert when ``metric <operator> threshold`` holds for ``for_windows`` windows in a row.

    Args:
        name: Unique within the monitor (its state is stored under it).
        metric: A metric of the monitor's evaluations, e.g. ``drift_share``.
        operator: ``>``, ``>=``, ``<``, ``<=``, ``==`` or ``!=``.
        threshold: A finite number.
        for_windows: Breaching windows in a row before it fires (>= 1).
        cooldown: Seconds (or ``"30m"``) after which a still-firing alert notifies again;
            ``None`` notifies once per incident.
        notify: Names of the notifiers to send its events to (``log`` is built in).
        severity: ``info``, ``warning`` or ``critical``.
    """

    name: str
    metric: str
    operator: str
    threshold: float
    for_windows: int = 1
    cooldown: float | None = None
    notify: tuple[str, ...] = ("log",)
    severity: str = "warning"

    def __post_init__(self) -> None:
        where = f"alert rule {self.name!r}"
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > 200:
            raise InvalidInput(
                f"Invalid alert rule name {self.name!r}: expected 1-200 characters.",
                hint="Name each rule of a monitor, e.g. 'drift-high'.",
            )
        if not isinstance(self.metric, str) or not self.metric.strip() or len(self.metric) > 250:
            raise InvalidInput(
                f"Invalid metric {self.metric!r} in {where}: expected a metric name.",
                hint="For example 'drift_share', 'drift.age.statistic' or 'accuracy'.",
            )
        if self.operator not in OPERATORS:
            raise InvalidInput(
                f"Invalid operator {self.operator!r} in {where}.",
                hint=f"Use one of {' '.join(OPERATORS)}.",
            )
        threshold = _finite(self.threshold)
        if threshold is None:
            raise InvalidInput(
                f"Invalid threshold {self.threshold!r} in {where}: expected a finite number.",
                hint="For example 0.3.",
            )
        object.__setattr__(self, "threshold", threshold)
        windows = self.for_windows
        if isinstance(windows, bool) or not isinstance(windows, int) or windows < 1:
            raise InvalidInput(
                f"Invalid for_windows {windows!r} in {where}: expected an integer >= 1.",
                hint="1 fires on the first breaching window; 3 needs three in a row.",
            )
        object.__setattr__(self, "cooldown", parse_cooldown(self.cooldown))
        raw: object = self.notify
        notify = (raw,) if isinstance(raw, str) else raw
        if not isinstance(notify, Sequence) or not all(
            isinstance(n, str) and n.strip() for n in notify
        ):
            raise InvalidInput(
                f"Invalid notify {self.notify!r} in {where}: expected notifier names.",
                hint="For example ['log', 'ops-webhook'].",
            )
        if len(set(notify)) != len(notify):
            raise InvalidInput(
                f"Invalid notify {self.notify!r} in {where}: a notifier is listed twice.",
                hint="List each notifier once.",
            )
        object.__setattr__(self, "notify", tuple(notify))
        if self.severity not in SEVERITIES:
            raise InvalidInput(
                f"Invalid severity {self.severity!r} in {where}.",
                hint=f"Use one of {', '.join(SEVERITIES)}.",
            )

    def breached(self, value: float) -> bool:
        """Whether ``value`` breaches the rule."""
        return OPERATORS[self.operator](value, self.threshold)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertRule:
        """Read a rule from configuration; ``for`` is accepted for ``for_windows`` and the
        name defaults to ``"<metric> <operator> <threshold>"``.

        Raises:
            InvalidInput: Unknown keys, missing or bad values.
        """
        if not isinstance(data, Mapping):
            raise InvalidInput(
                f"Invalid alert rule {data!r}: expected a mapping.",
                hint="For example {'metric': 'drift_share', 'operator': '>', 'threshold': 0.3}.",
            )
        unknown = sorted(set(data) - _RULE_KEYS)
        if unknown:
            raise InvalidInput(
                f"Unknown alert rule setting {unknown[0]!r} (rule {data.get('name')!r}).",
                hint=f"Settings: {', '.join(sorted(_RULE_KEYS - {'for'}))}.",
            )
        missing = [k for k in ("metric", "operator", "threshold") if data.get(k) is None]
        if missing:
            raise InvalidInput(
                f"Alert rule {data.get('name')!r} has no {missing[0]}.",
                hint="A rule needs metric, operator and threshold, e.g. drift_share > 0.3.",
            )
        if "for" in data and "for_windows" in data:
            raise InvalidInput(
                f"Alert rule {data.get('name')!r} sets both 'for' and 'for_windows'.",
                hint="Use one of them.",
            )
        threshold = data["threshold"]
        name = data.get("name")
        if name is None:
            name = f"{data['metric']} {data['operator']} {threshold}"
        notify = data.get("notify", ("log",))
        return cls(
            name=name,
            metric=data["metric"],
            operator=data["operator"],
            threshold=threshold,
            for_windows=data.get("for_windows", data.get("for", 1)),
            cooldown=data.get("cooldown"),
            notify=tuple(notify) if isinstance(notify, list | tuple) else notify,
            severity=data.get("severity", "warning"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The rule as configuration (what :meth:`from_dict` reads)."""
        return {
            "name": self.name,
            "metric": self.metric,
            "operator": self.operator,
            "threshold": self.threshold,
            "for_windows": self.for_windows,
            "cooldown": self.cooldown,
            "notify": list(self.notify),
            "severity": self.severity,
        }


@dataclass(frozen=True)
class AlertState:
    """Where one rule stands: breaching windows in a row, whether it fires, the last value
    seen and when it last notified (ms since the epoch)."""

    consecutive: int = 0
    firing: bool = False
    last_value: float | None = None
    last_fired_at: int | None = None


@dataclass(frozen=True)
class AlertEvent:
    """An alert fired (``repeat``: a re-notification) or resolved.

    ``id``, ``monitor`` and ``deliveries`` (notifier -> status) are filled in once the
    engine has stored and delivered it.
    """

    kind: str
    rule: str
    metric: str
    operator: str
    value: float
    threshold: float
    severity: str
    time: int
    consecutive: int
    repeat: bool = False
    monitor: str | None = None
    id: str | None = None
    window_end: int | None = None
    evaluation_id: str | None = None
    deliveries: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = dict(self.__dict__)
        data["deliveries"] = dict(self.deliveries)
        return data


def step(
    rule: AlertRule, state: AlertState, value: float | None, now: TimeLike
) -> tuple[AlertState, AlertEvent | None]:
    """Apply one window's ``value`` to a rule's ``state`` at time ``now``: ms since the
    epoch, a datetime (naive = UTC) or ISO-8601 text (:func:`cycleml.time.to_ms`; not a
    duration, which would need the clock).

    Returns the new state and the event it emits, if any (see the module docstring). Pure:
    it reads no clock and writes nothing.
    """
    now = to_ms(now, name="now", ago=False)
    if value is None or math.isnan(value):
        return state, None
    value = float(value)

    def event(kind: str, consecutive: int, *, repeat: bool = False) -> AlertEvent:
        return AlertEvent(
            kind=kind,
            rule=rule.name,
            metric=rule.metric,
            operator=rule.operator,
            value=value,
            threshold=rule.threshold,
            severity=rule.severity,
            time=now,
            consecutive=consecutive,
            repeat=repeat,
        )

    if not rule.breached(value):
        cleared = AlertState(0, False, value, state.last_fired_at)
        return cleared, (event("resolved", 0) if state.firing else None)
    consecutive = state.consecutive + 1
    if not state.firing:
        if consecutive >= rule.for_windows:
            return AlertState(consecutive, True, value, now), event("fired", consecutive)
        return AlertState(consecutive, False, value, state.last_fired_at), None
    due = rule.cooldown is not None and (
        state.last_fired_at is None or now - state.last_fired_at >= rule.cooldown * 1000
    )
    if due:
        return AlertState(consecutive, True, value, now), event("fired", consecutive, repeat=True)
    return AlertState(consecutive, True, value, state.last_fired_at), None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def alert_payload(record: AlertEventRecord) -> dict[str, Any]:
    """The JSON a notifier receives for a stored event (see :mod:`cycleml.monitoring._notify`)."""
    details = record.details
    value = record.value
    shown = "nan" if value is None else f"{value:g}"
    operator = str(details.get("operator", ""))
    if record.kind == "resolved":
        summary = f"{record.metric} = {shown}, no longer {operator} {record.threshold:g}"
    else:
        windows = int(details.get("consecutive") or 1)
        plural = "window" if windows == 1 else "windows"
        summary = (
            f"{record.metric} = {shown} {operator} {record.threshold:g} for {windows} {plural}"
        )
    summary += f" (monitor {record.monitor_name}, rule {record.rule_name})"
    return {
        "version": PAYLOAD_VERSION,
        "id": record.id,
        "kind": record.kind,
        "repeat": bool(details.get("repeat", False)),
        "monitor": record.monitor_name,
        "rule": record.rule_name,
        "metric": record.metric,
        "operator": operator,
        "value": value,
        "threshold": record.threshold,
        "severity": record.severity,
        "consecutive": details.get("consecutive"),
        "time": _iso(record.time),
        "time_ms": record.time,
        "window_end": details.get("window_end"),
        "evaluation_id": details.get("evaluation_id"),
        "summary": summary,
        "links": dict(details.get("links") or {}),
    }


class AlertEngine:
    """Steps a monitor's alert rules, stores every transition, then delivers its events.

    Args:
        store: The monitor repository holding the alert state.
        notifiers: Notifiers by the names rules use; ``log`` is built in (a
            :class:`~cycleml.monitoring.LogNotifier`) unless given.
        lease: Seconds after which a delivery claimed by a sender that never reported
            back is presumed dead (re-sent or marked ``unknown``, see the module docstring).
            Keep it above the slowest notifier (webhook retries, retraining timeout).
        links: Links added to every payload (e.g. ``{"ui": "https://..."}``).
        clock: Milliseconds since the epoch (tests).
    """

    def __init__(
        self,
        store: MonitorRepository,
        notifiers: Mapping[str, Notifier] | None = None,
        *,
        lease: float = 3600.0,
        links: Mapping[str, str] | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.store = store
        self.notifiers: dict[str, Notifier] = {"log": LogNotifier(), **dict(notifiers or {})}
        if isinstance(lease, bool) or not isinstance(lease, int | float) or not lease >= 0:
            raise InvalidInput(
                f"Invalid lease {lease!r}: expected seconds >= 0.",
                hint="Keep it above the slowest notifier's run time, e.g. 3600.",
            )
        self.lease_ms = int(lease * 1000)
        self.links = dict(links or {})
        self.clock = clock

    def process(
        self,
        monitor: str,
        rules: Sequence[AlertRule],
        values: Mapping[str, float | None],
        *,
        now: TimeLike | None = None,
        window_end: int | None = None,
        evaluation_id: str | None = None,
        links: Mapping[str, str] | None = None,
    ) -> list[AlertEvent]:
        """Step every rule on one evaluation's ``values``, store, then deliver.

        Deliveries left pending by an earlier run of this monitor are sent first.

        Args:
            monitor: The monitor's name.
            rules: Its alert rules.
            values: The evaluation's metric values (a missing metric is a missing value).
            now: The time of the evaluation: ms since the epoch, a datetime (naive = UTC),
                ISO-8601 text, or a duration meaning that long ago
                (:func:`cycleml.time.to_ms`); default: the clock.
            window_end: The evaluated window; a rule already stepped on this window (or a
                later one) is left alone, so re-running a window never counts it twice.
            evaluation_id: Recorded in the events.
            links: Added to the payloads' ``links``.

        Returns:
            The events emitted (fired or resolved), with their id and delivery statuses.

        Raises:
            InvalidInput: Rules with one name twice, or naming a notifier not configured.
            NotFound: No such monitor.
        """
        self._check(rules)
        stamp = self.clock() if now is None else to_ms(now, name="now", now=self.clock())
        self.deliver_pending(monitor)
        states = self.store.get_alert_states(monitor)
        emitted: list[tuple[AlertEvent, AlertEventRecord]] = []
        for rule in rules:
            stored = states.get(rule.name)
            if (
                window_end is not None
                and stored is not None
                and stored.window_end is not None
                and window_end <= stored.window_end
            ):
                continue  # this window was applied already
            state = (
                AlertState()
                if stored is None
                else AlertState(
                    stored.consecutive, stored.firing, stored.last_value, stored.last_fired_at
                )
            )
            new_state, event = step(rule, state, _value(values.get(rule.metric)), stamp)
            if event is None and new_state == state:
                continue
            draft = None
            if event is not None:
                draft = NewAlertEvent(
                    kind="fired" if event.kind == "fired" else "resolved",
                    metric=rule.metric,
                    value=event.value,
                    threshold=rule.threshold,
                    time=stamp,
                    severity=rule.severity,
                    notifiers=rule.notify,
                    details={
                        "operator": rule.operator,
                        "repeat": event.repeat,
                        "consecutive": event.consecutive,
                        "for_windows": rule.for_windows,
                        "window_end": window_end,
                        "evaluation_id": evaluation_id,
                        "links": {**self.links, **dict(links or {})},
                    },
                )
            try:
                _, record = self.store.apply_alert_transition(
                    monitor,
                    rule.name,
                    new_state,
                    draft,
                    window_end=window_end,
                    expected_version=0 if stored is None else stored.version,
                )
            except InvalidState as exc:  # another evaluator stepped this rule first
                _log.info("Skipped alert rule %r of %r: %s", rule.name, monitor, exc.message)
                continue
            if event is not None and record is not None:
                emitted.append((event, record))
        results = []
        for event, record in emitted:
            statuses = self._deliver(record)
            results.append(
                replace(
                    event,
                    monitor=monitor,
                    id=record.id,
                    window_end=window_end,
                    evaluation_id=evaluation_id,
                    deliveries=statuses,
                )
            )
        return results

    def deliver_pending(self, monitor: str | None = None) -> int:
        """Send the deliveries an earlier run left open (all monitors' by default).

        ``pending`` ones are sent; ``sending`` ones older than the lease are sent again
        (at-least-once notifiers) or marked ``unknown`` (at-most-once). Returns how many
        deliveries it finished.
        """
        finished = 0
        for record in self.store.list_alert_events(monitor, pending=True):
            before = {k: d.status for k, d in record.deliveries.items()}
            after = self._deliver(record)
            finished += sum(
                1 for k, status in after.items() if status in _FINAL and before[k] not in _FINAL
            )
        return finished

    # ---- internals ---------------------------------------------------------------------------
    def _check(self, rules: Sequence[AlertRule]) -> None:
        names: set[str] = set()
        for rule in rules:
            if not isinstance(rule, AlertRule):
                raise InvalidInput(
                    f"Invalid alert rule {rule!r}: expected an AlertRule.",
                    hint="Build rules with AlertRule(...) or AlertRule.from_dict({...}).",
                )
            if rule.name in names:
                raise InvalidInput(
                    f"Two alert rules are named {rule.name!r}.",
                    hint="Give each rule of a monitor its own name.",
                )
            names.add(rule.name)
            missing = [n for n in rule.notify if n not in self.notifiers]
            if missing:
                raise InvalidInput(
                    f"Alert rule {rule.name!r} notifies {missing[0]!r}, which is not configured "
                    f"(notifiers: {', '.join(sorted(self.notifiers))}).",
                    hint="Add it to the monitor's notifications, or use the built-in 'log'.",
                )

    def _deliver(self, record: AlertEventRecord) -> dict[str, str]:
        """Claim, send and finish each open delivery of one event; return the statuses."""
        statuses = {name: d.status for name, d in record.deliveries.items()}
        payload: dict[str, Any] | None = None
        for name, delivery in record.deliveries.items():
            if delivery.final:
                continue
            notifier = self.notifiers.get(name)
            if notifier is None:
                if delivery.status == "pending":
                    statuses[name] = self._finish(
                        record, name, "failed", None, {"error": f"no notifier named {name!r}"}
                    )
                continue
            at_most_once = notifier.guarantee == "at-most-once"
            if delivery.status == "sending" and at_most_once:
                claimed_at = delivery.claimed_at or 0
                if self.clock() - claimed_at >= self.lease_ms:
                    statuses[name] = self._finish(
                        record,
                        name,
                        "unknown",
                        None,
                        {
                            "reason": "the sender stopped before recording the outcome; "
                            "not run again (at-most-once)",
                            "claimed_at": claimed_at,
                        },
                    )
                continue
            claim = self.store.claim_alert_delivery(
                record.id, name, stale_after_ms=None if at_most_once else self.lease_ms
            )
            if claim is None:
                continue  # someone else is sending it, or it just finished
            if payload is None:
                payload = alert_payload(record)
            try:
                result = notifier.send(payload, store=self.store)
            except Exception as exc:  # a notifier must not stop the monitor
                result = Delivery("failed", {"error": f"{type(exc).__name__}: {exc}"})
            statuses[name] = self._finish(record, name, result.status, claim.claim, result.detail)
        return statuses

    def _finish(
        self,
        record: AlertEventRecord,
        name: str,
        status: _Final,
        claim: str | None,
        detail: Mapping[str, Any],
    ) -> str:
        try:
            self.store.finish_alert_delivery(record.id, name, status, claim=claim, detail=detail)
        except InvalidState as exc:  # our claim went stale and another sender took over
            _log.warning("Delivery of alert %s to %r: %s", record.id, name, exc.message)
            return "sending"
        except Exception as exc:  # the store is down: the lease recovers it later
            _log.error("Could not record the delivery of alert %s to %r: %s", record.id, name, exc)
            return "sending"
        return status


def _value(value: object) -> float | None:
    """A metric value to step on; anything that is not a number counts as missing."""
    if value is None or not isinstance(value, numbers.Real):
        return None
    return float(value)
