"""Alert state, alert events and their deliveries in the SQL metadata store.

Each alert rule of a monitor has one persisted state row, so a restarted monitor neither
forgets that an alert is firing nor sends it again. A transition (state change plus, when
it fires or resolves, the event with one *pending* delivery per notifier) is one
transaction, written *before* anything is sent. Sending then goes through a claim:

``pending`` --claim--> ``sending`` --finish--> ``delivered`` | ``failed`` | ``skipped``

A claim is a compare-and-set under the row lock, so two processes never both send the same
delivery. A claim whose sender died stays ``sending``; once it is older than the caller's
lease it can be claimed again (at-least-once notifiers) or given up as ``unknown``
(at-most-once notifiers) - see :mod:`cycleml.monitoring` for the policy.

The rules are pure functions this module calls inside its transactions: the delivery state
machine in :mod:`cycleml.monitoring._delivery`, the state's version and window mark in
:mod:`cycleml.monitoring._watermarks`.

Audit rows (entity ``monitor``): ``alert.fired`` / ``alert.resolved`` for every event,
``alert.deliver`` for every finished delivery, ``monitor.retrain_trigger`` for retraining
hooks. Counter-only state updates (one more breaching window, no event) are not audited:
they follow from the audited evaluations.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from sqlalchemy import Connection, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from cycleml.errors import InvalidInput, NotFound
from cycleml.ids import check_id, new_id
from cycleml.monitoring._delivery import (
    DELIVERY_STATUSES,
    AlertDelivery,
    DeliveryStatus,
    check_final_status,
    claim_delivery,
    deliveries_open,
    delivery_from_dict,
    finish_delivery,
    new_deliveries,
)
from cycleml.monitoring._sql_monitors import (
    check_json,
    check_limit,
    check_metric,
    read_number,
    require_monitor,
)
from cycleml.monitoring._sql_requests import claim_request, read_page, settle_request
from cycleml.monitoring._tables import alert_events, alert_states
from cycleml.monitoring._watermarks import (
    RuleMark,
    alert_state_conflict,
    check_expected_version,
    next_rule_mark,
)
from cycleml.store import NAME_LEN, SqlRepository, json_safe, now_ms, record_audit

__all__ = [
    "DELIVERY_STATUSES",
    "AlertDelivery",
    "AlertEventRecord",
    "AlertOps",
    "AlertStateLike",
    "AlertStateRecord",
    "DeliveryStatus",
    "NewAlertEvent",
    "check_alert_event",
    "transition_from_dict",
    "transition_to_dict",
]

#: An event fires or resolves an alert.
EventKind = Literal["fired", "resolved"]


class AlertStateLike(Protocol):
    """What a rule's state holds (:class:`cycleml.monitoring.AlertState` is one)."""

    @property
    def consecutive(self) -> int:
        """Breaching windows in a row."""

    @property
    def firing(self) -> bool:
        """Whether the alert is firing."""

    @property
    def last_value(self) -> float | None:
        """The last value seen."""

    @property
    def last_fired_at(self) -> int | None:
        """When it last notified (ms since the epoch)."""


@dataclass(frozen=True)
class AlertStateRecord:
    """A rule's persisted state.

    ``window_end`` is the last evaluation window applied to it (ms), ``version`` counts the
    writes (pass it back as ``expected_version`` to detect a concurrent evaluator).
    """

    monitor_name: str
    rule_name: str
    consecutive: int
    firing: bool
    last_value: float | None
    last_fired_at: int | None
    window_end: int | None
    version: int
    updated_at: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(json_safe(dict(self.__dict__)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertStateRecord:
        """The state :meth:`to_dict` made."""
        fields = {name: data[name] for name in cls.__dataclass_fields__}
        return cls(**{**fields, "last_value": read_number(fields["last_value"])})


@dataclass(frozen=True)
class NewAlertEvent:
    """An event to store with a transition: a rule fired (again) or resolved.

    ``notifiers`` names where it must be delivered; each starts ``pending``.
    """

    kind: EventKind
    metric: str
    value: float | None
    threshold: float
    time: int
    severity: str = "warning"
    notifiers: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    event_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (unchecked: the repository checks the event it is given)."""
        data = {**self.__dict__, "notifiers": list(self.notifiers)}
        return dict(json_safe({**data, "details": dict(self.details)}))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NewAlertEvent:
        """The event :meth:`to_dict` made; numbers and lists as sent, for the repository's
        checks (a ``notifiers`` that is not a list is left for them to refuse)."""
        fields = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        for name in ("value", "threshold"):
            if name in fields:
                fields[name] = read_number(fields[name])
        if isinstance(fields.get("notifiers"), list):
            fields["notifiers"] = tuple(fields["notifiers"])
        return cls(**fields)


@dataclass(frozen=True)
class AlertEventRecord:
    """A stored alert event with its deliveries; ``pending`` while any is not final."""

    id: str
    monitor_name: str
    rule_name: str
    kind: str
    metric: str
    value: float | None
    threshold: float
    severity: str
    time: int
    details: dict[str, Any]
    deliveries: dict[str, AlertDelivery]
    pending: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = dict(self.__dict__)
        data["deliveries"] = {k: d.to_dict() for k, d in self.deliveries.items()}
        return dict(json_safe(data))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertEventRecord:
        """The event :meth:`to_dict` made."""
        fields = {name: data[name] for name in cls.__dataclass_fields__}
        return cls(
            **{
                **fields,
                "value": read_number(fields["value"]),
                "threshold": float(read_number(fields["threshold"])),
                "deliveries": {k: delivery_from_dict(k, v) for k, v in data["deliveries"].items()},
            }
        )


# ---- helpers ------------------------------------------------------------------------------


def _check_rule_name(rule_name: object) -> str:
    if not isinstance(rule_name, str) or not rule_name.strip() or len(rule_name) > 200:
        raise InvalidInput(
            f"Invalid alert rule name {rule_name!r}: expected 1-200 characters.",
            hint="Name each rule of a monitor, e.g. 'drift' or 'accuracy-drop'.",
        )
    return rule_name


def _optional_float(value: object, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInput(
            f"Invalid {what} {value!r}: expected a number or None.",
            hint="Pass the metric value as a float (None when there is none).",
        )
    number = float(value)
    return None if math.isnan(number) else number


def _optional_ms(value: object, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(
            f"Invalid {what} {value!r}: expected milliseconds since the epoch or None.",
            hint="Use cycleml.store.now_ms() for the current time.",
        )
    return value


def _check_state(state: AlertStateLike) -> dict[str, Any]:
    consecutive = getattr(state, "consecutive", None)
    firing = getattr(state, "firing", None)
    if isinstance(consecutive, bool) or not isinstance(consecutive, int) or consecutive < 0:
        raise InvalidInput(
            f"Invalid alert state: consecutive={consecutive!r}, expected an integer >= 0.",
            hint="consecutive counts breaching windows in a row.",
        )
    if not isinstance(firing, bool):
        raise InvalidInput(
            f"Invalid alert state: firing={firing!r}, expected True or False.",
            hint="Pass the state cycleml.monitoring.step returned.",
        )
    return {
        "consecutive": consecutive,
        "firing": firing,
        "last_value": _optional_float(getattr(state, "last_value", None), "last value"),
        "last_fired_at": _optional_ms(getattr(state, "last_fired_at", None), "last_fired_at"),
    }


def check_alert_event(event: object) -> NewAlertEvent | None:
    """``event`` if it is a :class:`NewAlertEvent` or ``None`` (its fields are checked later)."""
    if event is not None and not isinstance(event, NewAlertEvent):
        raise InvalidInput(
            f"Invalid alert event {event!r}: expected a NewAlertEvent or None.",
            hint="Build it with cycleml.monitoring.NewAlertEvent(kind=..., ...).",
        )
    return event


def _check_event(event: NewAlertEvent) -> dict[str, Any]:
    check_alert_event(event)
    if event.kind not in ("fired", "resolved"):
        raise InvalidInput(
            f"Invalid alert event kind {event.kind!r}: expected fired or resolved.",
            hint="An event either fires an alert (again) or resolves it.",
        )
    threshold = _optional_float(event.threshold, "threshold")
    if threshold is None or not math.isfinite(threshold):
        raise InvalidInput(
            f"Invalid threshold {event.threshold!r}: expected a finite number.",
            hint="Pass the rule's threshold.",
        )
    if not isinstance(event.severity, str) or not 0 < len(event.severity) <= 16:
        raise InvalidInput(
            f"Invalid severity {event.severity!r}: expected a word of 1-16 characters.",
            hint="For example 'info', 'warning' or 'critical'.",
        )
    time = _optional_ms(event.time, "event time")
    if time is None:
        raise InvalidInput(
            "Invalid event time None: expected milliseconds since the epoch.",
            hint="Use cycleml.store.now_ms() for the current time.",
        )
    names = list(event.notifiers)
    for name in names:
        if not isinstance(name, str) or not name.strip() or len(name) > NAME_LEN:
            raise InvalidInput(
                f"Invalid notifier name {name!r}: expected 1-{NAME_LEN} characters.",
                hint="Name notifiers as the monitor configuration does, e.g. 'ops-webhook'.",
            )
    if len(set(names)) != len(names):
        raise InvalidInput(
            f"Notifier names repeat in {names!r}.",
            hint="List each notifier once.",
        )
    return {
        "id": new_id() if event.event_id is None else check_id(event.event_id, kind="event id"),
        "kind": event.kind,
        "metric": check_metric(event.metric),
        "value": _optional_float(event.value, "value"),
        "threshold": threshold,
        "severity": event.severity,
        "time": time,
        "details": check_json(event.details, "event details"),
        "deliveries": new_deliveries(names),
        "pending": bool(names),
    }


def transition_to_dict(state: AlertStateRecord, event: AlertEventRecord | None) -> dict[str, Any]:
    """What :meth:`AlertOps.apply_alert_transition` returns, as JSON."""
    return {"state": state.to_dict(), "event": None if event is None else event.to_dict()}


def transition_from_dict(
    data: Mapping[str, Any],
) -> tuple[AlertStateRecord, AlertEventRecord | None]:
    """:func:`transition_to_dict`'s output back."""
    event = data["event"]
    return (
        AlertStateRecord.from_dict(data["state"]),
        None if event is None else AlertEventRecord.from_dict(event),
    )


def _state(row: Any) -> AlertStateRecord:
    return AlertStateRecord(
        monitor_name=row.monitor_name,
        rule_name=row.rule_name,
        consecutive=int(row.consecutive),
        firing=bool(row.firing),
        last_value=None if row.last_value is None else float(row.last_value),
        last_fired_at=None if row.last_fired_at is None else int(row.last_fired_at),
        window_end=None if row.window_end is None else int(row.window_end),
        version=int(row.version),
        updated_at=int(row.updated_at),
    )


def _event(row: Any) -> AlertEventRecord:
    return AlertEventRecord(
        id=row.id,
        monitor_name=row.monitor_name,
        rule_name=row.rule_name,
        kind=row.kind,
        metric=row.metric,
        value=None if row.value is None else float(row.value),
        threshold=float(row.threshold),
        severity=row.severity,
        time=int(row.time),
        details=dict(row.details or {}),
        deliveries={k: delivery_from_dict(k, v) for k, v in dict(row.deliveries or {}).items()},
        pending=bool(row.pending),
    )


def _event_row(conn: Connection, event_id: str, *, lock: bool = False) -> Any:
    query = select(alert_events).where(alert_events.c.id == event_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(
            f"No alert event {event_id}.",
            hint="List them with `cycleml monitor alerts NAME`.",
        )
    return row


def _notifier_of(row: Any, notifier: str) -> dict[str, Any]:
    deliveries = dict(row.deliveries or {})
    if notifier not in deliveries:
        raise NotFound(
            f"Alert event {row.id} has no delivery to {notifier!r} "
            f"(it has {sorted(deliveries) or 'none'}).",
            hint="Deliveries are fixed when the event is recorded, from the rule's notify list.",
        )
    return dict(deliveries[notifier])


class AlertOps(SqlRepository):
    """Alert state, alert event, delivery and retraining-trigger operations."""

    def get_alert_states(self, monitor_name: str) -> dict[str, AlertStateRecord]:
        """The persisted state of each of a monitor's alert rules, by rule name."""
        with self._read() as conn:
            require_monitor(conn, monitor_name)
            rows = conn.execute(
                select(alert_states)
                .where(alert_states.c.monitor_name == monitor_name)
                .order_by(alert_states.c.rule_name)
            ).all()
        return {row.rule_name: _state(row) for row in rows}

    def apply_alert_transition(
        self,
        monitor_name: str,
        rule_name: str,
        state: AlertStateLike,
        event: NewAlertEvent | None = None,
        *,
        window_end: int | None = None,
        expected_version: int | None = None,
        actor: str | None = None,
        request_id: str | None = None,
    ) -> tuple[AlertStateRecord, AlertEventRecord | None]:
        """Persist a rule's new state and, with it, the event it emitted: one transaction.

        With ``request_id`` (the server's ``X-Request-ID``), a retry of a transition that
        was applied answers as it did, without applying it again.

        Args:
            state: The rule's new state.
            event: The event the step emitted (``fired`` or ``resolved``), or ``None``.
                Its deliveries start ``pending`` and are sent after this returns.
            window_end: The evaluation window this step applied (kept on the state, so the
                same window is not applied twice).
            expected_version: The state's ``version`` as read (0: no state yet). When the
                stored one differs another evaluator wrote first and nothing is written.

        Raises:
            InvalidInput: A bad state or event.
            NotFound: No such monitor.
            InvalidState: ``expected_version`` does not match (a concurrent evaluator).
        """
        _check_rule_name(rule_name)
        values = _check_state(state)
        mark = _optional_ms(window_end, "window end")
        check_expected_version(expected_version)
        new_event = None if event is None else _check_event(event)
        who = actor or self.actor
        stamp = now_ms()

        def write(conn: Connection) -> tuple[AlertStateRecord, AlertEventRecord | None]:
            if request_id is not None and (
                done := claim_request(conn, request_id, "alert.transition", monitor_name, stamp)
            ):
                return transition_from_dict(done.answer)
            require_monitor(conn, monitor_name)
            key = and_(
                alert_states.c.monitor_name == monitor_name, alert_states.c.rule_name == rule_name
            )
            row = conn.execute(select(alert_states).where(key).with_for_update()).first()
            next_mark = next_rule_mark(
                monitor_name,
                rule_name,
                None if row is None else RuleMark(int(row.version), row.window_end),
                window_end=mark,
                expected_version=expected_version,
            )
            stored = AlertStateRecord(
                monitor_name=monitor_name,
                rule_name=rule_name,
                window_end=next_mark.window_end,
                version=next_mark.version,
                updated_at=stamp,
                **values,
            )
            columns = {k: v for k, v in stored.__dict__.items() if k not in ("monitor_name",)}
            if row is None:
                conn.execute(insert(alert_states).values(monitor_name=monitor_name, **columns))
            else:
                conn.execute(update(alert_states).where(key).values(**columns))
            if new_event is None:
                settle_request(conn, request_id, transition_to_dict(stored, None))
                return stored, None
            conn.execute(
                insert(alert_events).values(
                    monitor_name=monitor_name, rule_name=rule_name, **new_event
                )
            )
            record_audit(
                conn,
                actor=who,
                action=f"alert.{new_event['kind']}",
                entity_kind="monitor",
                entity_id=monitor_name,
                payload={
                    "event_id": new_event["id"],
                    "rule": rule_name,
                    "metric": new_event["metric"],
                    "value": new_event["value"],
                    "threshold": new_event["threshold"],
                    "severity": new_event["severity"],
                    "notifiers": sorted(new_event["deliveries"]),
                    "details": new_event["details"],
                    "state": {**values, "window_end": stored.window_end},
                },
                at=stamp,
            )
            record = AlertEventRecord(
                monitor_name=monitor_name,
                rule_name=rule_name,
                **{
                    **new_event,
                    "deliveries": {
                        k: delivery_from_dict(k, v) for k, v in new_event["deliveries"].items()
                    },
                },
            )
            settle_request(conn, request_id, transition_to_dict(stored, record))
            return stored, record

        try:
            return self._write(write)
        except IntegrityError as exc:  # a concurrent first write of the same rule's state
            raise alert_state_conflict(monitor_name, rule_name, -1, expected_version) from exc

    def get_alert_event(self, event_id: str) -> AlertEventRecord:
        """One alert event with its deliveries."""
        check_id(event_id, kind="event id")
        with self._read() as conn:
            return _event(_event_row(conn, event_id))

    def list_alert_events(
        self,
        monitor_name: str | None = None,
        *,
        rule_name: str | None = None,
        since: int | None = None,
        until: int | None = None,
        pending: bool | None = None,
        limit: int | None = None,
    ) -> list[AlertEventRecord]:
        """Alert events by time in ``[since, until)``, oldest first (with ``limit``: the
        newest ``limit``). ``pending=True`` keeps those with deliveries still open."""
        return self.page_alert_events(
            monitor_name, rule_name=rule_name, since=since, until=until, pending=pending,
            limit=limit,
        )[0]  # fmt: skip

    def page_alert_events(
        self,
        monitor_name: str | None = None,
        *,
        rule_name: str | None = None,
        since: int | None = None,
        until: int | None = None,
        pending: bool | None = None,
        limit: int | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> tuple[list[AlertEventRecord], str | None]:
        """One page of :meth:`list_alert_events` (at most ``max_results``) and the next
        page's token (``None`` after the last page).

        Raises:
            InvalidInput: A bad limit, ``max_results`` or page token.
            NotFound: No such monitor.
        """
        top = check_limit(limit)
        events = alert_events.c
        query = select(alert_events)
        if monitor_name is not None:
            query = query.where(events.monitor_name == monitor_name)
        if rule_name is not None:
            query = query.where(events.rule_name == rule_name)
        if since is not None:
            query = query.where(events.time >= since)
        if until is not None:
            query = query.where(events.time < until)
        if pending is not None:
            query = query.where(events.pending == pending)
        with self._read() as conn:
            if monitor_name is not None:
                require_monitor(conn, monitor_name)
            rows, token = read_page(
                conn,
                query,
                (events.time, events.id),
                limit=top,
                max_results=max_results,
                page_token=page_token,
                types=(int, str),
            )
        return [_event(row) for row in rows], token

    def claim_alert_delivery(
        self,
        event_id: str,
        notifier: str,
        *,
        stale_after_ms: int | None = None,
        request_id: str | None = None,
    ) -> AlertDelivery | None:
        """Take one delivery for sending: ``pending`` -> ``sending``, atomically.

        Returns the claimed delivery (its ``claim`` token finishes it), or ``None`` when it
        is not available: already final, or being sent by someone else. A ``sending``
        claim older than ``stale_after_ms`` is taken over (its sender is presumed dead).
        With ``request_id``, a retry of a claim that was applied returns what it returned
        (the same claim token): a lost answer neither strands the delivery nor sends it twice.
        """
        check_id(event_id, kind="event id")
        stale = _optional_ms(stale_after_ms, "stale_after_ms")
        stamp = now_ms()

        def write(conn: Connection) -> AlertDelivery | None:
            if request_id is not None and (
                done := claim_request(conn, request_id, "alert.claim", event_id, stamp)
            ):
                answer = done.answer
                return None if answer is None else delivery_from_dict(notifier, answer)
            row = _event_row(conn, event_id, lock=True)
            current = delivery_from_dict(notifier, _notifier_of(row, notifier))
            claimed_delivery = claim_delivery(
                current, now=stamp, claim=new_id(), stale_after_ms=stale
            )
            if claimed_delivery is None:
                return None  # the request id stays, without an answer: a retry gets None
            deliveries = dict(row.deliveries)
            deliveries[notifier] = claimed_delivery.to_dict()
            settle_request(conn, request_id, deliveries[notifier])
            conn.execute(
                update(alert_events)
                .where(alert_events.c.id == event_id)
                .values(deliveries=deliveries)
            )
            return claimed_delivery

        return self._write(write)

    def finish_alert_delivery(
        self,
        event_id: str,
        notifier: str,
        status: DeliveryStatus,
        *,
        claim: str | None = None,
        detail: Mapping[str, Any] | None = None,
        actor: str | None = None,
        request_id: str | None = None,
    ) -> AlertEventRecord:
        """Record how a delivery ended: ``delivered``, ``failed``, ``skipped`` or
        ``unknown`` (audited as ``alert.deliver``; with ``request_id``, once per id).

        ``claim`` must be the token :meth:`claim_alert_delivery` returned, unless the
        delivery is still ``pending`` (then it is finished without being sent, e.g. when
        a notifier is not configured) or being given up as ``unknown``.

        Raises:
            InvalidInput: A status that is not final, or bad detail.
            NotFound: No such event or delivery.
            InvalidState: The delivery is already final, or claimed by another sender.
        """
        check_id(event_id, kind="event id")
        check_final_status(status)
        clean = check_json({} if detail is None else detail, "delivery detail")
        who = actor or self.actor
        stamp = now_ms()

        def write(conn: Connection) -> AlertEventRecord:
            if request_id is not None and (
                done := claim_request(conn, request_id, "alert.deliver", event_id, stamp)
            ):
                return AlertEventRecord.from_dict(done.answer)
            row = _event_row(conn, event_id, lock=True)
            current = delivery_from_dict(notifier, _notifier_of(row, notifier))
            finished = finish_delivery(
                event_id, current, status, now=stamp, claim=claim, detail=clean
            )
            deliveries = dict(row.deliveries)
            deliveries[notifier] = finished.to_dict()
            still_open = deliveries_open(deliveries)
            conn.execute(
                update(alert_events)
                .where(alert_events.c.id == event_id)
                .values(deliveries=deliveries, pending=still_open)
            )
            record_audit(
                conn,
                actor=who,
                action="alert.deliver",
                entity_kind="monitor",
                entity_id=row.monitor_name,
                payload={
                    "event_id": event_id,
                    "rule": row.rule_name,
                    "kind": row.kind,
                    "notifier": notifier,
                    "status": status,
                    "attempts": current.attempts,
                    "detail": clean,
                },
                at=stamp,
            )
            finished_event = replace(
                _event(row),
                deliveries={k: delivery_from_dict(k, v) for k, v in deliveries.items()},
                pending=still_open,
            )
            settle_request(conn, request_id, finished_event.to_dict())
            return finished_event

        return self._write(write)

    def record_retrain_trigger(
        self,
        monitor_name: str,
        *,
        hook: str,
        ok: bool,
        duration_s: float,
        rule_name: str | None = None,
        event_id: str | None = None,
        exit_code: int | None = None,
        detail: Mapping[str, Any] | None = None,
        actor: str | None = None,
        request_id: str | None = None,
    ) -> None:
        """Audit a retraining hook's run (``monitor.retrain_trigger``): what ran, for which
        alert, and how it ended (``ok``, exit code, duration, output tail); with
        ``request_id``, once per id.

        Raises:
            NotFound: No such monitor.
        """
        clean = check_json({} if detail is None else detail, "retrain detail")
        who = actor or self.actor
        stamp = now_ms()

        def write(conn: Connection) -> None:
            if request_id is not None and claim_request(
                conn, request_id, "monitor.retrain_trigger", monitor_name, stamp
            ):
                return
            require_monitor(conn, monitor_name)
            record_audit(
                conn,
                actor=who,
                action="monitor.retrain_trigger",
                entity_kind="monitor",
                entity_id=monitor_name,
                payload={
                    "hook": hook,
                    "rule": rule_name,
                    "event_id": event_id,
                    "ok": bool(ok),
                    "exit_code": exit_code,
                    "duration_s": round(float(duration_s), 6),
                    "detail": clean,
                },
                at=stamp,
            )

        self._write(write)
