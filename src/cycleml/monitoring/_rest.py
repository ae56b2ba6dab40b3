"""`RestMonitorRepository`: monitoring's repository on a ``cycleml server``, over its ``/api/v1``.

The same protocol as :class:`~cycleml.monitoring.SqlMonitorRepository`, so
:class:`~cycleml.monitoring.Monitors` and its alert engine work against a server unchanged
(``CYCLEML_TRACKING_URI=http://host:port``), and the same repository tests run through it.
The transport (one keep-alive client, retries with backoff re-sending the same
``X-Request-ID``, errors re-raised as the class the server raised) is the kernel's
:class:`cycleml.store._http.ApiClient`.

Every request is retried: the server applies the writes that are not idempotent by nature
(creating a reference or a monitor, an evaluation, an alert transition, a delivery claim or
finish, a retrain trigger) once per ``X-Request-ID`` and answers a retry as the first
attempt; updating a monitor and setting its watermark set values, so a repeat changes
nothing. Deleting a monitor is retried only when it surely was not applied.

Values go as sent, so the server's checks answer with the SQL repository's messages;
NaN and infinities are spelled ``"NaN"``, ``"Infinity"``, ``"-Infinity"``, and what JSON
cannot carry at all is refused here (:class:`~cycleml.errors.InvalidInput`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import EllipsisType
from typing import TYPE_CHECKING, Any

from cycleml.monitoring._delivery import delivery_from_dict
from cycleml.monitoring._repository import MonitorRepository
from cycleml.monitoring._sql_alerts import (
    AlertDelivery,
    AlertEventRecord,
    AlertStateLike,
    AlertStateRecord,
    DeliveryStatus,
    NewAlertEvent,
    check_alert_event,
    transition_from_dict,
)
from cycleml.monitoring._sql_evaluations import EvaluationStatus, MonitorEvaluation, MonitorPoint
from cycleml.monitoring._sql_monitors import (
    Monitor,
    MonitorReference,
    check_reference,
    read_number,
)
from cycleml.store import RestRepository, json_safe, url_segment

__all__ = ["RestMonitorRepository"]


def _monitor(name: str, tail: str = "") -> str:
    return f"/monitors/{url_segment(name, 'monitor name')}{tail}"


def _event(event_id: str, tail: str = "") -> str:
    return f"/alert-events/{url_segment(event_id, 'event id')}{tail}"


def _sources(sources: Sequence[Any]) -> Any:
    return json_safe(list(sources))  # (kind, id) pairs as lists; anything else for the checks


def _given(**params: Any) -> dict[str, Any]:
    """The query parameters that are set."""
    return {key: value for key, value in params.items() if value is not None}


def _values(values: Any) -> Any:
    return json_safe(dict(values) if isinstance(values, Mapping) else values)


class RestMonitorRepository(RestRepository):
    """References, monitors, evaluations and alert state on a ``cycleml server``.

    Arguments as :class:`~cycleml.store.RestRepository` takes them.
    """

    # ---- reference profiles ----------------------------------------------------------------
    def create_monitor_reference(
        self,
        digest: str,
        *,
        rows: int,
        model_name: str | None = None,
        model_version: int | None = None,
        name: str | None = None,
        sources: Sequence[tuple[str, str]] = (),
        reference_id: str | None = None,
        actor: str | None = None,
    ) -> MonitorReference:
        """Record a reference profile stored in the artifact store under ``digest``."""
        body = {
            "digest": digest,
            "rows": rows,
            "model_name": model_name,
            "model_version": model_version,
            "name": name,
            "sources": _sources(sources),
            "reference_id": reference_id,
            "actor": actor,
        }
        return MonitorReference.from_dict(self._call("POST", "/monitor-references", body))

    def get_monitor_reference(self, reference: str) -> MonitorReference:
        """A reference profile by id (32 hex) or by name."""
        path = f"/monitor-references/{url_segment(check_reference(reference), 'reference')}"
        return MonitorReference.from_dict(self._call("GET", path))

    def list_monitor_references(
        self, model_name: str | None = None, *, model_version: int | None = None
    ) -> list[MonitorReference]:
        """Reference profiles, oldest first, optionally those of one model (version)."""
        params = _given(model_name=model_name, model_version=model_version)
        found = self._call("GET", "/monitor-references", params=params)
        return [MonitorReference.from_dict(item) for item in found["references"]]

    # ---- monitors --------------------------------------------------------------------------
    def create_monitor(
        self,
        name: str,
        target: str,
        *,
        reference: str | None = None,
        config: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> Monitor:
        """Create a monitor of a deployment or of a model version."""
        body = {
            "name": name,
            "target": target,
            "reference": reference,
            "config": _values(config),
            "actor": actor,
        }
        return Monitor.from_dict(self._call("POST", "/monitors", body))

    def get_monitor(self, name: str) -> Monitor:
        """A monitor by name."""
        return Monitor.from_dict(self._call("GET", _monitor(name)))

    def list_monitors(
        self, *, target: str | None = None, model_name: str | None = None
    ) -> list[Monitor]:
        """Every monitor by name, optionally those of one target or one model."""
        params = _given(target=target, model_name=model_name)
        found = self._call("GET", "/monitors", params=params)
        return [Monitor.from_dict(item) for item in found["monitors"]]

    def update_monitor(
        self,
        name: str,
        *,
        config: Mapping[str, Any] | EllipsisType = ...,
        reference: str | EllipsisType | None = ...,
        reason: str = "",
        actor: str | None = None,
    ) -> Monitor:
        """Replace a monitor's configuration and/or its reference (``None`` removes it)."""
        body: dict[str, Any] = {"reason": reason, "actor": actor}
        if config is not ...:
            body["config"] = _values(config)
        if reference is not ...:
            body["reference"] = reference
        return Monitor.from_dict(self._call("PATCH", _monitor(name), body))

    def set_monitor_watermark(
        self, name: str, watermark: int | None, *, reason: str = "", actor: str | None = None
    ) -> Monitor:
        """Move a monitor's watermark by hand, backwards too (to re-evaluate a period)."""
        body = {"watermark": watermark, "reason": reason, "actor": actor}
        return Monitor.from_dict(self._call("PUT", _monitor(name, "/watermark"), body))

    def delete_monitor(self, name: str, *, reason: str = "", actor: str | None = None) -> None:
        """Delete a monitor with its evaluations, values, alert states and alert events."""
        params = _given(reason=reason, actor=actor)
        # A retry after a lost answer would find the monitor gone (404): not replayed.
        self._call("DELETE", _monitor(name), params=params, replayable=False)

    # ---- evaluations -----------------------------------------------------------------------
    def record_monitor_evaluation(
        self,
        monitor_name: str,
        *,
        window_start: int,
        window_end: int,
        rows: int,
        status: EvaluationStatus,
        values: Mapping[str, float | None],
        summary: Mapping[str, Any] | None = None,
        sources: Sequence[tuple[str, str]] = (),
        watermark: int | None = None,
        evaluation_id: str | None = None,
        actor: str | None = None,
    ) -> MonitorEvaluation:
        """Store one evaluation in one transaction: its row, every metric value, lineage from
        each source it read, the watermark it advances and the audit row.
        """
        body = {
            "window_start": window_start,
            "window_end": window_end,
            "rows": rows,
            "status": status,
            "values": _values(values),
            "summary": _values(summary),
            "sources": _sources(sources),
            "watermark": watermark,
            "evaluation_id": evaluation_id,
            "actor": actor,
        }
        found = self._call("POST", _monitor(monitor_name, "/evaluations"), body)
        return MonitorEvaluation.from_dict(found)

    def get_monitor_evaluation(self, evaluation_id: str) -> MonitorEvaluation:
        """One evaluation, with its metric values."""
        path = f"/monitor-evaluations/{url_segment(evaluation_id, 'evaluation id')}"
        return MonitorEvaluation.from_dict(self._call("GET", path))

    def list_monitor_evaluations(
        self,
        name: str,
        *,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
        with_values: bool = False,
    ) -> list[MonitorEvaluation]:
        """A monitor's evaluations by ``window_end`` in ``[since, until)``, oldest first."""
        params = {"since": since, "until": until, "limit": limit, "with_values": with_values}
        pages = self._pages(_monitor(name, "/evaluations"), "evaluations", params)
        return [MonitorEvaluation.from_dict(item) for item in pages]

    def monitor_history(
        self,
        name: str,
        metric: str | Sequence[str] | None = None,
        *,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
    ) -> list[MonitorPoint]:
        """A monitor's time series: ``(window_end, metric, value, evaluation_id)`` points."""
        wanted = [metric] if isinstance(metric, str) else None if metric is None else list(metric)
        if wanted == []:
            return []  # no metric asked for: no points (as the SQL repository answers)
        params = _given(metric=wanted, since=since, until=until, limit=limit)
        found = self._call("GET", _monitor(name, "/history"), params=params)
        columns = zip(
            found["window_ends"],
            found["metrics"],
            found["values"],
            found["evaluation_ids"],
            strict=True,
        )
        return [
            MonitorPoint(end, key, float(read_number(value)), evaluation)
            for end, key, value, evaluation in columns
        ]

    def count_monitor_evaluations(self, name: str) -> int:
        """How many evaluations a monitor has stored."""
        return int(self._call("GET", _monitor(name, "/evaluation-count"))["count"])

    # ---- alert state -----------------------------------------------------------------------
    def get_alert_states(self, monitor_name: str) -> dict[str, AlertStateRecord]:
        """The persisted state of each of a monitor's alert rules, by rule name."""
        found = self._call("GET", _monitor(monitor_name, "/alerts"))["states"]
        return {rule: AlertStateRecord.from_dict(state) for rule, state in found.items()}

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
    ) -> tuple[AlertStateRecord, AlertEventRecord | None]:
        """Persist a rule's new state and, with it, the event it emitted: one transaction."""
        checked = check_alert_event(event)
        fields = ("consecutive", "firing", "last_value", "last_fired_at")
        body = {
            "rule_name": rule_name,
            "state": json_safe({name: getattr(state, name, None) for name in fields}),
            "event": None if checked is None else checked.to_dict(),
            "window_end": window_end,
            "expected_version": expected_version,
            "actor": actor,
        }
        found = self._call("POST", _monitor(monitor_name, "/alert-transitions"), body)
        return transition_from_dict(found)

    # ---- alert events and deliveries -------------------------------------------------------
    def get_alert_event(self, event_id: str) -> AlertEventRecord:
        """One alert event with its deliveries."""
        return AlertEventRecord.from_dict(self._call("GET", _event(event_id)))

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
        """Alert events by time in ``[since, until)``, oldest first (with ``limit``: the newest
        ``limit``). ``pending=True`` keeps those with deliveries still open.
        """
        params = {
            "monitor_name": monitor_name,
            "rule_name": rule_name,
            "since": since,
            "until": until,
            "pending": pending,
            "limit": limit,
        }
        pages = self._pages("/alert-events", "events", params)
        return [AlertEventRecord.from_dict(item) for item in pages]

    def claim_alert_delivery(
        self, event_id: str, notifier: str, *, stale_after_ms: int | None = None
    ) -> AlertDelivery | None:
        """Take one delivery for sending: ``pending`` -> ``sending``, atomically."""
        body = {"notifier": notifier, "stale_after_ms": stale_after_ms}
        claimed = self._call("POST", _event(event_id, "/claim"), body)["delivery"]
        return None if claimed is None else delivery_from_dict(claimed["notifier"], claimed)

    def finish_alert_delivery(
        self,
        event_id: str,
        notifier: str,
        status: DeliveryStatus,
        *,
        claim: str | None = None,
        detail: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> AlertEventRecord:
        """Record how a delivery ended: delivered, failed, skipped or unknown."""
        body = {
            "notifier": notifier,
            "status": status,
            "claim": claim,
            "detail": _values(detail),
            "actor": actor,
        }
        return AlertEventRecord.from_dict(self._call("POST", _event(event_id, "/finish"), body))

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
    ) -> None:
        """Audit a retraining hook's run (``monitor.retrain_trigger``) and how it ended."""
        body = {
            "hook": hook,
            "ok": ok,
            "duration_s": json_safe(float(duration_s)),
            "rule_name": rule_name,
            "event_id": event_id,
            "exit_code": exit_code,
            "detail": _values(detail),
            "actor": actor,
        }
        self._call("POST", _monitor(monitor_name, "/retrain-triggers"), body)


if TYPE_CHECKING:
    _REST_IMPLEMENTS: type[MonitorRepository] = RestMonitorRepository  # mypy: the protocol
