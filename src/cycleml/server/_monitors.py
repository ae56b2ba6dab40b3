"""cycleml's monitoring API (``/api/v1/monitors``): monitors, evaluations and alerts over HTTP.

Every operation of :class:`cycleml.monitoring.MonitorRepository` has one route, and
:class:`cycleml.monitoring.RestMonitorRepository` calls them, so
:class:`~cycleml.monitoring.Monitors` and its alert engine work against the server
unchanged. The handlers are thin: pydantic checks a body's structure, the stage's
:class:`~cycleml.monitoring.SqlMonitorRepository` on the worker's database does the rest
(names, windows, statuses, metric values, alert states and deliveries are checked there,
with its own messages), and the entities answer as their ``to_dict``.

* **Resources**: ``/monitor-references/{id or name}``; ``/monitors/{name}`` (``PATCH``
  changes the config and/or the reference, a field left out is kept and a ``null``
  reference removes it; ``DELETE ?reason=``), ``.../watermark``, ``.../evaluations``,
  ``.../evaluation-count``, ``.../history``, ``.../alerts`` (the rules' states),
  ``.../alert-transitions`` and ``.../retrain-triggers``; ``/monitor-evaluations/{id}``;
  ``/alert-events`` and ``/alert-events/{id}`` with ``.../claim`` and ``.../finish`` for a
  delivery.
* **Retries are safe.** Creating a reference or a monitor, recording an evaluation, an
  alert transition, a delivery claim or finish and a retrain trigger, sent with an
  ``X-Request-ID``, are applied once per id: the write claims the id in its own
  transaction (``monitoring_0002``'s ``monitor_requests``) and a retry gets the first
  attempt's answer. A delivery claim stays a compare-and-set under the event's row lock, so
  of two senders (two request ids) one wins. ``PATCH`` and ``PUT`` set values, so a repeat
  changes nothing.
* **Listings that grow** (evaluations, alert events) come in pages: ``max_results`` and
  the opaque ``next_page_token`` of the previous page, keyed on the listing's sort order.
* **Metric values** JSON cannot hold are spelled ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel, Field, WithJsonSchema

from cycleml.monitoring import AlertState, NewAlertEvent, SqlMonitorRepository
from cycleml.monitoring._sql_alerts import transition_to_dict
from cycleml.monitoring._sql_monitors import read_number
from cycleml.server._app import ServerState, server_state
from cycleml.server._auth import grant_creator, readable
from cycleml.server._routes import (
    NO_CONTENT,
    NUMBER_SCHEMA,
    CheckedStr,
    MaxResults,
    PageToken,
    RequestId,
    StrictBody,
    json_response,
    v1_router,
)
from cycleml.store import claimed_actor, json_safe

__all__ = ["router"]


router = v1_router("monitors")

# Documented as their type, validated by the repository (whose messages name the field).
CheckedInt = Annotated[Any, WithJsonSchema({"type": "integer", "minimum": 0})]
Number = Annotated[Any, WithJsonSchema(NUMBER_SCHEMA)]
Json = Annotated[Any, WithJsonSchema({"type": "object"})]
Metrics = Annotated[Any, WithJsonSchema({"type": "object", "additionalProperties": NUMBER_SCHEMA})]
Sources = Annotated[
    Any,
    WithJsonSchema(
        {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
    ),
]
_ACTOR = "Who the audit log names; default: the server's actor."
_MS = "Milliseconds since the epoch."


def _repository(state: ServerState = Depends(server_state)) -> SqlMonitorRepository:
    return SqlMonitorRepository(state.db)


Repository = Annotated[SqlMonitorRepository, Depends(_repository)]
Since = Annotated[int | None, Query(description="From then on (ms, inclusive).")]
Until = Annotated[int | None, Query(description="Before then (ms, exclusive).")]
Limit = Annotated[int | None, Query(description="Only the newest this many (still oldest first).")]
ModelName = Annotated[str | None, Query(description="Only this model's.")]


# ---- answers ------------------------------------------------------------------------------
class ReferenceOut(BaseModel):
    """A stored reference profile (the JSON document is the blob ``digest``)."""

    id: str
    name: str | None
    model_name: str | None
    model_version: int | None
    rows: int
    digest: str = Field(description="The profile document's BLAKE3 in the artifact store.")
    created_by: str
    creation_time: int = Field(description=_MS)


class ReferenceList(BaseModel):
    """Reference profiles, oldest first."""

    references: list[ReferenceOut]


class MonitorOut(BaseModel):
    """A monitor: what it watches, against which reference, and how."""

    name: str
    target_kind: str = Field(description="`deployment` or `model_version`.")
    target: str = Field(description="A deployment name or a pinned `models:/name/3`.")
    model_name: str
    model_version: int | None
    reference_id: str | None
    config: dict[str, Any] = Field(description="Checks, window, alert rules, notifications.")
    watermark: int | None = Field(description="Evaluated up to then (ms); null before the first.")
    created_by: str
    creation_time: int
    last_updated_time: int


class MonitorList(BaseModel):
    """Monitors, by name."""

    monitors: list[MonitorOut]


class EvaluationOut(BaseModel):
    """One evaluation over the window ``[window_start, window_end)``."""

    id: str
    monitor_name: str
    window_start: int
    window_end: int
    rows: int
    status: str = Field(description="`ok`, `alert` or `error`.")
    summary: dict[str, Any]
    creation_time: int
    values: Metrics | None = Field(description="Metric values, when asked for.")


class EvaluationPage(BaseModel):
    """A page of a monitor's evaluations, oldest first."""

    evaluations: list[EvaluationOut]
    next_page_token: str | None


class EvaluationCount(BaseModel):
    """How many evaluations a monitor has stored."""

    count: int


class HistoryOut(BaseModel):
    """A monitor's time series, column by column, by window end then metric."""

    window_ends: list[int]
    metrics: list[str]
    values: list[Number]
    evaluation_ids: list[str]


class AlertStateOut(BaseModel):
    """A rule's persisted state (``version`` counts its writes)."""

    monitor_name: str
    rule_name: str
    consecutive: int
    firing: bool
    last_value: Number | None
    last_fired_at: int | None
    window_end: int | None = Field(description="The last evaluation window applied (ms).")
    version: int
    updated_at: int


class AlertStates(BaseModel):
    """Each alert rule's state, by rule name."""

    states: dict[str, AlertStateOut]


class DeliveryOut(BaseModel):
    """One notifier's delivery of an event."""

    notifier: str
    status: str = Field(description="pending, sending, delivered, failed, skipped or unknown.")
    attempts: int
    claim: str | None = Field(description="The token of the sender holding it while sending.")
    claimed_at: int | None
    finished_at: int | None
    detail: dict[str, Any]


class AlertEventOut(BaseModel):
    """An alert fired or resolved, with its deliveries."""

    id: str
    monitor_name: str
    rule_name: str
    kind: str = Field(description="`fired` or `resolved`.")
    metric: str
    value: Number | None
    threshold: Number
    severity: str
    time: int
    details: dict[str, Any]
    deliveries: dict[str, DeliveryOut]
    pending: bool = Field(description="Whether any delivery is still open.")


class AlertEventPage(BaseModel):
    """A page of alert events, oldest first."""

    events: list[AlertEventOut]
    next_page_token: str | None


class TransitionOut(BaseModel):
    """A rule's new state and the event stored with it."""

    state: AlertStateOut
    event: AlertEventOut | None


class ClaimOut(BaseModel):
    """The claimed delivery, or null when it is final or being sent by someone else."""

    delivery: DeliveryOut | None


# ---- bodies -------------------------------------------------------------------------------
class _Audited(StrictBody):
    actor: str | None = Field(None, description=_ACTOR)


class CreateReference(_Audited):
    """A reference profile already stored in the artifact store."""

    digest: CheckedStr = Field(description="The document's BLAKE3 (64 lowercase hex).")
    rows: CheckedInt
    model_name: CheckedStr | None = None
    model_version: CheckedInt | None = Field(None, description="With model_name.")
    name: CheckedStr | None = None
    sources: Sources = Field(default_factory=list, description="`[kind, id]` lineage inputs.")
    reference_id: CheckedStr | None = Field(None, description="32 hex; default: a new id.")


class CreateMonitor(_Audited):
    """A new monitor; its name must be unused."""

    name: CheckedStr = Field(description="Letters, digits, `_ - .`; at most 200 characters.")
    target: CheckedStr = Field(description="A deployment name or a `models:/` URI.")
    reference: CheckedStr | None = Field(None, description="A reference's id or name.")
    config: Json | None = None


class UpdateMonitor(_Audited):
    """Fields to change; a field left out is kept, a null reference removes it."""

    config: Json = None
    reference: CheckedStr | None = None
    reason: str = ""


class SetWatermark(_Audited):
    """Where the monitor's watermark goes (backwards too, to re-evaluate a period)."""

    watermark: CheckedInt | None = Field(description="Milliseconds, or null for none.")
    reason: str = ""


class RecordEvaluation(_Audited):
    """One evaluation: its window, metric values and lineage sources."""

    window_start: CheckedInt
    window_end: CheckedInt
    rows: CheckedInt
    status: CheckedStr = Field(description="`ok`, `alert` or `error`.")
    values: Metrics = Field(description="Metric name to value; null or NaN for none.")
    summary: Json | None = None
    sources: Sources = Field(default_factory=list, description="`[kind, id]` inputs read.")
    watermark: CheckedInt | None = Field(None, description="Move the watermark (only forward).")
    evaluation_id: CheckedStr | None = Field(None, description="32 hex; default: a new id.")


class StateIn(StrictBody):
    """A rule's new state."""

    consecutive: CheckedInt
    firing: Annotated[Any, WithJsonSchema({"type": "boolean"})]
    last_value: Number | None = None
    last_fired_at: CheckedInt | None = None


class EventIn(StrictBody):
    """The event a transition stores; each notifier's delivery starts pending."""

    kind: CheckedStr = Field(description="`fired` or `resolved`.")
    metric: CheckedStr
    value: Number | None
    threshold: Number
    time: CheckedInt
    severity: CheckedStr = "warning"
    notifiers: list[Any] = Field(default_factory=list)
    details: Json = Field(default_factory=dict)
    event_id: CheckedStr | None = None


class Transition(_Audited):
    """A rule's new state and, when it fired or resolved, its event: one transaction."""

    rule_name: CheckedStr
    state: StateIn
    event: EventIn | None = None
    window_end: CheckedInt | None = Field(None, description="The evaluation window applied.")
    expected_version: CheckedInt | None = Field(
        None, description="The state's version as read (0: none yet); another means a conflict."
    )


class Claim(StrictBody):
    """Take one delivery for sending."""

    notifier: CheckedStr
    stale_after_ms: CheckedInt | None = Field(
        None, description="Take over a `sending` claim older than this (its sender died)."
    )


class Finish(_Audited):
    """How a delivery ended."""

    notifier: CheckedStr
    status: CheckedStr = Field(description="delivered, failed, skipped or unknown.")
    claim: CheckedStr | None = Field(None, description="The token the claim returned.")
    detail: Json | None = None


class RetrainTrigger(_Audited):
    """A retraining hook's run, for the audit log."""

    hook: str
    ok: bool
    duration_s: Annotated[float, WithJsonSchema(NUMBER_SCHEMA)]
    rule_name: str | None = None
    event_id: str | None = None
    exit_code: int | None = None
    detail: Json | None = None


def _numbers(values: Any) -> Any:
    """Metric values with JSON's non-finite spellings read back (others as sent)."""
    if not isinstance(values, dict):
        return values
    return {key: read_number(value) for key, value in values.items()}


# ---- reference profiles -------------------------------------------------------------------
@router.post(
    "/monitor-references",
    status_code=201,
    response_model=ReferenceOut,
    summary="Create a monitor reference",
)
def create_reference(
    body: CreateReference, repo: Repository, request_id: RequestId = None
) -> Response:
    """Record a reference profile stored in the artifact store under ``digest``, tied to a
    model version when one is given; with ``X-Request-ID``, a retry returns the reference
    it created."""
    created = repo.create_monitor_reference(
        body.digest,
        rows=body.rows,
        model_name=body.model_name,
        model_version=body.model_version,
        name=body.name,
        sources=body.sources,
        reference_id=body.reference_id,
        actor=claimed_actor(body.actor),
        request_id=request_id,
    )
    return json_response(created.to_dict(), 201)


@router.get("/monitor-references", response_model=ReferenceList, summary="List monitor references")
def list_references(
    repo: Repository,
    model_name: ModelName = None,
    model_version: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="Only this version's.")
    ] = None,
) -> Response:
    """Reference profiles, oldest first, optionally those of one model (version)."""
    found = repo.list_monitor_references(model_name, model_version=model_version)
    return json_response({"references": [ref.to_dict() for ref in found]})


@router.get(
    "/monitor-references/{reference}", response_model=ReferenceOut, summary="Get a reference"
)
def get_reference(reference: str, repo: Repository) -> Response:
    """A reference profile by id (32 hex) or by name (404 when missing)."""
    return json_response(repo.get_monitor_reference(reference).to_dict())


# ---- monitors -----------------------------------------------------------------------------
@router.post("/monitors", status_code=201, response_model=MonitorOut, summary="Create a monitor")
def create_monitor(
    body: CreateMonitor, repo: Repository, request: Request, request_id: RequestId = None
) -> Response:
    """Create a monitor of a deployment or of a model version (an alias is resolved now and
    the monitor pinned); 409 when the name is taken. With ``X-Request-ID``, a retry returns
    the monitor it created."""
    created = repo.create_monitor(
        body.name,
        body.target,
        reference=body.reference,
        config=body.config,
        actor=claimed_actor(body.actor),
        request_id=request_id,
    )
    grant_creator(request, "monitor", created.name)
    return json_response(created.to_dict(), 201)


@router.get("/monitors", response_model=MonitorList, summary="List monitors")
def list_monitors(
    repo: Repository,
    request: Request,
    target: Annotated[str | None, Query(description="Only this target's.")] = None,
    model_name: ModelName = None,
) -> Response:
    """Every monitor by name, optionally those of one target or one model."""
    found = repo.list_monitors(target=target, model_name=model_name)
    allowed = readable(request, "monitor", (m.name for m in found))
    return json_response({"monitors": [m.to_dict() for m in found if m.name in allowed]})


@router.get("/monitors/{name}", response_model=MonitorOut, summary="Get a monitor")
def get_monitor(name: str, repo: Repository) -> Response:
    """One monitor (404 when missing)."""
    return json_response(repo.get_monitor(name).to_dict())


@router.patch("/monitors/{name}", response_model=MonitorOut, summary="Update a monitor")
def update_monitor(name: str, body: UpdateMonitor, repo: Repository) -> Response:
    """Replace the config and/or the reference (fields left out are kept; nothing is written
    when nothing changes); the audit row keeps the previous config."""
    sent = body.model_fields_set
    updated = repo.update_monitor(
        name,
        config=body.config if "config" in sent else ...,
        reference=body.reference if "reference" in sent else ...,
        reason=body.reason,
        actor=claimed_actor(body.actor),
    )
    return json_response(updated.to_dict())


@router.put(
    "/monitors/{name}/watermark", response_model=MonitorOut, summary="Set a monitor's watermark"
)
def set_watermark(name: str, body: SetWatermark, repo: Repository) -> Response:
    """Move the watermark by hand, backwards too (evaluations move it forwards)."""
    moved = repo.set_monitor_watermark(
        name, body.watermark, reason=body.reason, actor=claimed_actor(body.actor)
    )
    return json_response(moved.to_dict())


@router.delete("/monitors/{name}", **NO_CONTENT, summary="Delete a monitor")
def delete_monitor(
    name: str,
    repo: Repository,
    reason: Annotated[str, Query(description="Why (kept in the audit log).")] = "",
    actor: Annotated[str | None, Query(description=_ACTOR)] = None,
) -> Response:
    """Delete the monitor with its evaluations, values, alert states and events (404 when
    missing); the audit log and the lineage keep its history."""
    repo.delete_monitor(name, reason=reason, actor=actor)
    return Response(status_code=204)


# ---- evaluations --------------------------------------------------------------------------
@router.post(
    "/monitors/{name}/evaluations",
    status_code=201,
    response_model=EvaluationOut,
    summary="Record an evaluation",
)
def record_evaluation(
    name: str, body: RecordEvaluation, repo: Repository, request_id: RequestId = None
) -> Response:
    """Store one evaluation in one transaction: its row, every metric value, lineage from
    each source, the watermark it advances (409 ``invalid_state`` when the window was
    already evaluated) and the audit row. With ``X-Request-ID``, a retry returns the
    evaluation it stored."""
    stored = repo.record_monitor_evaluation(
        name,
        window_start=body.window_start,
        window_end=body.window_end,
        rows=body.rows,
        status=body.status,
        values=_numbers(body.values),
        summary=body.summary,
        sources=body.sources,
        watermark=body.watermark,
        evaluation_id=body.evaluation_id,
        actor=claimed_actor(body.actor),
        request_id=request_id,
    )
    return json_response(stored.to_dict(), 201)


@router.get(
    "/monitors/{name}/evaluations", response_model=EvaluationPage, summary="List evaluations"
)
def list_evaluations(
    name: str,
    repo: Repository,
    since: Since = None,
    until: Until = None,
    limit: Limit = None,
    with_values: Annotated[bool, Query(description="Include the metric values.")] = False,
    max_results: MaxResults = 1000,
    page_token: PageToken = None,
) -> Response:
    """The monitor's evaluations by ``window_end`` in ``[since, until)``, oldest first, a
    page."""
    found, token = repo.page_monitor_evaluations(
        name,
        since=since,
        until=until,
        limit=limit,
        with_values=with_values,
        max_results=max_results,
        page_token=page_token,
    )
    return json_response(
        {"evaluations": [item.to_dict() for item in found], "next_page_token": token}
    )


@router.get(
    "/monitors/{name}/evaluation-count",
    response_model=EvaluationCount,
    summary="Count evaluations",
)
def count_evaluations(name: str, repo: Repository) -> Response:
    """How many evaluations the monitor has stored."""
    return json_response({"count": repo.count_monitor_evaluations(name)})


@router.get(
    "/monitor-evaluations/{evaluation_id}",
    response_model=EvaluationOut,
    summary="Get an evaluation",
)
def get_evaluation(evaluation_id: str, repo: Repository) -> Response:
    """One evaluation with its metric values (404 when missing)."""
    return json_response(repo.get_monitor_evaluation(evaluation_id).to_dict())


@router.get("/monitors/{name}/history", response_model=HistoryOut, summary="A monitor's history")
def get_history(
    name: str,
    repo: Repository,
    metric: Annotated[list[str] | None, Query(description="Only these metrics.")] = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int | None, Query(description="Only the newest this many points.")] = None,
) -> Response:
    """The monitor's time series, by window end then metric, column by column."""
    points = repo.monitor_history(name, metric, since=since, until=until, limit=limit)
    return json_response(
        {
            "window_ends": [p.window_end for p in points],
            "metrics": [p.metric for p in points],
            "values": json_safe([p.value for p in points]),
            "evaluation_ids": [p.evaluation_id for p in points],
        }
    )


# ---- alert state and transitions ------------------------------------------------------------
@router.get("/monitors/{name}/alerts", response_model=AlertStates, summary="Get alert states")
def get_alert_states(name: str, repo: Repository) -> Response:
    """The persisted state of each of the monitor's alert rules, by rule name."""
    states = repo.get_alert_states(name)
    return json_response({"states": {rule: state.to_dict() for rule, state in states.items()}})


@router.post(
    "/monitors/{name}/alert-transitions",
    response_model=TransitionOut,
    summary="Apply an alert transition",
)
def apply_transition(
    name: str, body: Transition, repo: Repository, request_id: RequestId = None
) -> Response:
    """Store a rule's new state and its event in one transaction (409 ``invalid_state``
    when ``expected_version`` is stale: another evaluator wrote first). With
    ``X-Request-ID``, a retry answers as the first attempt did."""
    state = body.state
    given = AlertState(
        state.consecutive, state.firing, read_number(state.last_value), state.last_fired_at
    )
    event = None if body.event is None else NewAlertEvent.from_dict(body.event.model_dump())
    stored, record = repo.apply_alert_transition(
        name,
        body.rule_name,
        given,
        event,
        window_end=body.window_end,
        expected_version=body.expected_version,
        actor=claimed_actor(body.actor),
        request_id=request_id,
    )
    return json_response(transition_to_dict(stored, record))


@router.post("/monitors/{name}/retrain-triggers", **NO_CONTENT, summary="Record a retrain trigger")
def record_retrain_trigger(
    name: str, body: RetrainTrigger, repo: Repository, request_id: RequestId = None
) -> Response:
    """Audit a retraining hook's run (``monitor.retrain_trigger``); with ``X-Request-ID``,
    once per id."""
    repo.record_retrain_trigger(
        name,
        hook=body.hook,
        ok=body.ok,
        duration_s=body.duration_s,
        rule_name=body.rule_name,
        event_id=body.event_id,
        exit_code=body.exit_code,
        detail=body.detail,
        actor=claimed_actor(body.actor),
        request_id=request_id,
    )
    return Response(status_code=204)


# ---- alert events and deliveries ----------------------------------------------------------
@router.get("/alert-events", response_model=AlertEventPage, summary="List alert events")
def list_alert_events(
    repo: Repository,
    monitor_name: Annotated[str | None, Query(description="Only this monitor's.")] = None,
    rule_name: Annotated[str | None, Query(description="Only this rule's.")] = None,
    since: Since = None,
    until: Until = None,
    pending: Annotated[bool | None, Query(description="Only those with open deliveries.")] = None,
    limit: Limit = None,
    max_results: MaxResults = 1000,
    page_token: PageToken = None,
) -> Response:
    """Alert events by time in ``[since, until)``, oldest first, a page."""
    found, token = repo.page_alert_events(
        monitor_name,
        rule_name=rule_name,
        since=since,
        until=until,
        pending=pending,
        limit=limit,
        max_results=max_results,
        page_token=page_token,
    )
    return json_response({"events": [event.to_dict() for event in found], "next_page_token": token})


@router.get("/alert-events/{event_id}", response_model=AlertEventOut, summary="Get an alert event")
def get_alert_event(event_id: str, repo: Repository) -> Response:
    """One alert event with its deliveries (404 when missing)."""
    return json_response(repo.get_alert_event(event_id).to_dict())


@router.post(
    "/alert-events/{event_id}/claim", response_model=ClaimOut, summary="Claim an alert delivery"
)
def claim_delivery(
    event_id: str, body: Claim, repo: Repository, request_id: RequestId = None
) -> Response:
    """Take one delivery for sending (``pending`` -> ``sending``) under the event's row lock:
    of two senders one gets it, the other ``null``. With ``X-Request-ID``, a retry returns
    what the first attempt got (the same claim token)."""
    claimed = repo.claim_alert_delivery(
        event_id, body.notifier, stale_after_ms=body.stale_after_ms, request_id=request_id
    )
    return json_response({"delivery": None if claimed is None else claimed.to_dict()})


@router.post(
    "/alert-events/{event_id}/finish",
    response_model=AlertEventOut,
    summary="Finish an alert delivery",
)
def finish_delivery(
    event_id: str, body: Finish, repo: Repository, request_id: RequestId = None
) -> Response:
    """Record how a delivery ended (409 ``invalid_state`` when it is final already or
    claimed by another sender); the event. With ``X-Request-ID``, once per id."""
    finished = repo.finish_alert_delivery(
        event_id,
        body.notifier,
        body.status,
        claim=body.claim,
        detail=body.detail,
        actor=claimed_actor(body.actor),
        request_id=request_id,
    )
    return json_response(finished.to_dict())
