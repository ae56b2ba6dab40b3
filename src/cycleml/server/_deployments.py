"""cycleml's serving API (``/api/v1/deployments``): deployments, the prediction log, feedback.

Every operation of :class:`cycleml.serving.DeploymentRepository` has one route, and
:class:`cycleml.serving.RestDeploymentRepository` calls them, so
:class:`~cycleml.serving.Deployments`, the prediction logger, feedback and batch scoring work
against the server unchanged. The handlers are thin: pydantic checks a body's structure, the
stage's :class:`~cycleml.serving.SqlDeploymentRepository` on the worker's database does the
rest (names, URIs, percents, revisions, digests, labels are checked there, with its own
messages), and the entities answer as their ``to_dict``.

* **Resources by name**: ``/deployments/{name}`` (``GET``; ``PUT`` replaces the whole
  configuration, ``PATCH`` changes the fields sent: ``null`` removes a canary or shadow, a
  field left out is kept), ``.../promote``, ``.../rollback``, ``.../revisions``,
  ``.../prediction-log`` and ``.../feedback``; a batch scoring job's record is
  ``POST /batch-predictions``. ``models:/`` URIs resolve at the registry's
  ``GET /resolve/model-uri``.
* **Retries are safe.** Every deployment write, ``POST .../feedback`` and
  ``POST /batch-predictions`` with an ``X-Request-ID`` header is applied once per id
  (``serving_0002``'s ``deployment_requests``, claimed in the write's own transaction).
  ``POST .../prediction-log`` is idempotent by its ``part_id``, which the client chooses.
* **Listings that grow** (prediction log parts, feedback) come in pages: ``max_results`` and
  the opaque ``next_page_token`` of the previous page, keyed on the listing's sort order.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel, Field, WithJsonSchema

from cycleml.server._app import ServerState, server_state
from cycleml.server._auth import grant_creator, readable
from cycleml.server._routes import (
    NO_CONTENT,
    CheckedStr,
    MaxResults,
    PageToken,
    RequestId,
    StrictBody,
    json_response,
    v1_router,
)
from cycleml.serving import SqlDeploymentRepository
from cycleml.store import claimed_actor

__all__ = ["router"]


router = v1_router("deployments")

# Documented as their type, validated by the repository (whose messages name the field).
CheckedNumber = Annotated[Any, WithJsonSchema({"type": "number", "minimum": 0, "maximum": 100})]
CheckedInt = Annotated[Any, WithJsonSchema({"type": "integer", "minimum": 0})]
_URI = "A `models:/` URI, e.g. `models:/churn@champion`."
_ACTOR = "Who the audit log names; default: the server's actor."


def _repository(state: ServerState = Depends(server_state)) -> SqlDeploymentRepository:
    return SqlDeploymentRepository(state.db)


Repository = Annotated[SqlDeploymentRepository, Depends(_repository)]


# ---- answers ------------------------------------------------------------------------------
class DeploymentOut(BaseModel):
    """The models a deployment serves, as of its current revision."""

    name: str
    model_uri: str = Field(description="The primary's URI as given.")
    model_name: str = Field(description="The model the primary's URI resolved to.")
    model_version: int
    canary_uri: str | None
    canary_name: str | None
    canary_version: int | None
    canary_percent: float | None = Field(description="The canary's share of requests, 0-100.")
    shadow_uri: str | None
    shadow_name: str | None
    shadow_version: int | None
    revision: int
    description: str
    created_by: str
    creation_time: int = Field(description="Milliseconds since the epoch.")
    last_updated_time: int


class DeploymentList(BaseModel):
    """Deployments, by name."""

    deployments: list[DeploymentOut]


class RevisionOut(BaseModel):
    """One configuration of a deployment, in its append-only history."""

    name: str
    revision: int
    config: dict[str, Any] = Field(description="The models, canary share and description.")
    action: str = Field(description="`create`, `update`, `replace`, `promote` or `rollback`.")
    actor: str
    time: int
    reason: str
    restored_revision: int | None = Field(description="The revision a rollback brought back.")


class RevisionList(BaseModel):
    """A deployment's configurations, oldest first."""

    revisions: list[RevisionOut]


class PartOut(BaseModel):
    """One Parquet part of a deployment's prediction log (a content-addressed blob)."""

    id: str
    deployment: str
    digest: str = Field(description="The blob's BLAKE3 digest (64 hex).")
    path: str
    rows: int
    min_time: int = Field(description="The earliest row's time, ms since the epoch.")
    max_time: int
    model_versions: list[str] = Field(description="`<name>/<version>` that scored the rows.")
    created_time: int
    bytes: int


class PartPage(BaseModel):
    """One page of prediction log parts, oldest first, and the next page's token."""

    parts: list[PartOut]
    next_page_token: str | None


class FeedbackOut(BaseModel):
    """One stored label."""

    id: int
    deployment: str
    request_id: str = Field(description="The id the prediction was returned with.")
    label: Any = Field(description="Any JSON value (NaN and infinities as strings).")
    time: int = Field(description="When the truth was observed, ms since the epoch.")
    actor: str
    created_time: int


class FeedbackPage(BaseModel):
    """One page of labels, by time then insertion, and the next page's token."""

    feedback: list[FeedbackOut]
    next_page_token: str | None


class FeedbackStored(BaseModel):
    """How many labels were stored."""

    stored: int


# ---- bodies -------------------------------------------------------------------------------
class _Why(StrictBody):
    reason: str = Field("", description="Why (kept in the revision history).")
    actor: str | None = Field(None, description=_ACTOR)


class ReplaceDeployment(_Why):
    """A deployment's whole configuration (a canary or shadow left out is removed)."""

    model_uri: CheckedStr = Field(description=_URI)
    canary_uri: CheckedStr | None = None
    canary_percent: CheckedNumber | None = None
    shadow_uri: CheckedStr | None = None
    description: CheckedStr | None = Field(
        None, description="Free text; on PUT, left out keeps the current one."
    )


class CreateDeployment(ReplaceDeployment):
    """A new deployment; its name must be unused."""

    name: CheckedStr = Field(description="Letters, digits, `_ - .`; at most 200 characters.")


class UpdateDeployment(_Why):
    """Fields to change; a field left out is kept, ``null`` removes a canary or shadow."""

    model_uri: CheckedStr | None = Field(None, description=_URI)
    canary_uri: CheckedStr | None = None
    canary_percent: CheckedNumber | None = None
    shadow_uri: CheckedStr | None = None
    description: CheckedStr | None = None


class Promote(_Why):
    """Make the canary the primary."""


class Rollback(_Why):
    """Restore an earlier configuration."""

    to_revision: CheckedInt | None = Field(
        None, description="The revision to restore; default: the one before the current."
    )


class AddPart(StrictBody):
    """One Parquet part of the prediction log, already stored as a blob."""

    digest: CheckedStr = Field(description="The blob's digest (64 lowercase hex).")
    path: CheckedStr
    rows: CheckedInt
    min_time: CheckedInt
    max_time: CheckedInt
    model_versions: list[str] = Field(default_factory=list)
    bytes: CheckedInt
    part_id: CheckedStr | None = Field(
        None, description="32 hex; the same id again is the same part (retries are safe)."
    )
    actor: str | None = Field(None, description=_ACTOR)


class AddFeedback(StrictBody):
    """Labels of earlier predictions, stored all or nothing."""

    records: list[Any] = Field(
        description="`[request_id, label, time]` triples; time in ms, or null for now."
    )
    actor: str | None = Field(None, description=_ACTOR)


class RecordBatch(StrictBody):
    """A finished batch scoring job: its lineage and audit row."""

    batch_id: CheckedStr = Field(description="32 hex.")
    model_name: str | None = None
    model_version: int | None = None
    model_uri: str
    inputs: list[tuple[str, str]] = Field(
        default_factory=list, description="`[kind, id]` lineage nodes the job read."
    )
    output: CheckedStr = Field(description="The file the job wrote.")
    rows: int
    digest: str
    actor: str | None = Field(None, description=_ACTOR)


def _arms(body: ReplaceDeployment) -> dict[str, Any]:
    return {
        "canary_uri": body.canary_uri,
        "canary_percent": body.canary_percent,
        "shadow_uri": body.shadow_uri,
    }


# ---- deployments --------------------------------------------------------------------------
@router.post(
    "/deployments", status_code=201, response_model=DeploymentOut, summary="Create a deployment"
)
def create_deployment(
    body: CreateDeployment, repo: Repository, request: Request, request_id: RequestId = None
) -> Response:
    """Create a deployment at revision 1 (409 ``already_exists`` when the name is taken); with
    ``X-Request-ID``, a retried request returns the deployment it created. The models'
    folders are not checked here: ``Deployments.create`` checks them before it calls this."""
    created = repo.create_deployment(
        body.name,
        body.model_uri,
        **_arms(body),
        description="" if body.description is None else body.description,
        reason=body.reason,
        actor=claimed_actor(body.actor),
        request_id=request_id,
    )
    grant_creator(request, "deployment", created.name)
    return json_response(created.to_dict(), 201)


@router.get("/deployments", response_model=DeploymentList, summary="List deployments")
def list_deployments(repo: Repository, request: Request) -> Response:
    """Every deployment the user may read, by name."""
    found = repo.list_deployments()
    allowed = readable(request, "deployment", (d.name for d in found))
    return json_response({"deployments": [d.to_dict() for d in found if d.name in allowed]})


@router.get("/deployments/{name}", response_model=DeploymentOut, summary="Get a deployment")
def get_deployment(name: str, repo: Repository) -> Response:
    """A deployment's current configuration (404 when missing)."""
    return json_response(repo.get_deployment(name).to_dict())


@router.put(
    "/deployments/{name}", response_model=DeploymentOut, summary="Create or replace a deployment"
)
def replace_deployment(
    name: str,
    body: ReplaceDeployment,
    repo: Repository,
    request: Request,
    request_id: RequestId = None,
) -> Response:
    """Make the deployment's whole configuration this one (what ``cycleml deploy`` does):
    create it, or write the next revision; nothing is written when nothing changes."""
    replaced = repo.replace_deployment(
        name,
        body.model_uri,
        **_arms(body),
        description=... if body.description is None else body.description,
        reason=body.reason,
        actor=claimed_actor(body.actor),
        request_id=request_id,
    )
    if replaced.revision == 1:  # this PUT created it
        grant_creator(request, "deployment", replaced.name)
    return json_response(replaced.to_dict())


@router.patch("/deployments/{name}", response_model=DeploymentOut, summary="Update a deployment")
def update_deployment(
    name: str, body: UpdateDeployment, repo: Repository, request_id: RequestId = None
) -> Response:
    """Change the fields sent (a URI sent is resolved again; ``null`` removes the canary or
    the shadow); the next revision, or none when nothing changes."""
    sent = body.model_fields_set
    changes = {
        key: getattr(body, key) if key in sent else ...
        for key in ("model_uri", "canary_uri", "canary_percent", "shadow_uri", "description")
    }
    updated = repo.update_deployment(
        name, **changes, reason=body.reason, actor=claimed_actor(body.actor), request_id=request_id
    )
    return json_response(updated.to_dict())


@router.post(
    "/deployments/{name}/promote", response_model=DeploymentOut, summary="Promote the canary"
)
def promote_deployment(
    name: str, body: Promote, repo: Repository, request_id: RequestId = None
) -> Response:
    """Make the canary the primary and remove the canary (409 ``invalid_state`` without a
    canary; with ``X-Request-ID``, a retried request is applied once)."""
    promoted = repo.promote_deployment(
        name, reason=body.reason, actor=claimed_actor(body.actor), request_id=request_id
    )
    return json_response(promoted.to_dict())


@router.post(
    "/deployments/{name}/rollback",
    response_model=DeploymentOut,
    summary="Roll back to an earlier configuration",
)
def rollback_deployment(
    name: str, body: Rollback, repo: Repository, request_id: RequestId = None
) -> Response:
    """Restore the configuration before the current one, or ``to_revision``'s, as the next
    revision (409 ``invalid_state`` when there is none; with ``X-Request-ID``, a retried
    request does not roll back further)."""
    restored = repo.rollback_deployment(
        name,
        to_revision=body.to_revision,
        reason=body.reason,
        actor=claimed_actor(body.actor),
        request_id=request_id,
    )
    return json_response(restored.to_dict())


@router.get(
    "/deployments/{name}/revisions",
    response_model=RevisionList,
    summary="List a deployment's revisions",
)
def list_deployment_revisions(name: str, repo: Repository) -> Response:
    """The deployment's configurations, oldest first."""
    revisions = repo.list_deployment_revisions(name)
    return json_response({"revisions": [revision.to_dict() for revision in revisions]})


# ---- prediction log -----------------------------------------------------------------------
@router.post(
    "/deployments/{name}/prediction-log",
    status_code=201,
    response_model=PartOut,
    summary="Index a prediction log part",
)
def add_prediction_log_part(name: str, body: AddPart, repo: Repository) -> Response:
    """Index one Parquet part of the deployment's prediction log (the blob is stored
    already). Idempotent on ``part_id``: the same part again answers the stored one."""
    part = repo.add_prediction_log_part(
        name,
        digest=body.digest,
        path=body.path,
        rows=body.rows,
        min_time=body.min_time,
        max_time=body.max_time,
        model_versions=body.model_versions,
        bytes=body.bytes,
        part_id=body.part_id,
        actor=claimed_actor(body.actor),
    )
    return json_response(part.to_dict(), 201)


@router.get(
    "/deployments/{name}/prediction-log",
    response_model=PartPage,
    summary="List prediction log parts",
)
def list_prediction_log_parts(
    name: str,
    repo: Repository,
    since_ms: Annotated[int | None, Query(description="Parts with rows from then on.")] = None,
    until_ms: Annotated[int | None, Query(description="Parts with rows before then.")] = None,
    max_results: MaxResults = 1000,
    page_token: PageToken = None,
) -> Response:
    """The parts whose rows may fall in ``[since_ms, until_ms)``, oldest first, a page."""
    parts, token = repo.page_prediction_log_parts(
        name, since_ms=since_ms, until_ms=until_ms, max_results=max_results, page_token=page_token
    )
    return json_response({"parts": [part.to_dict() for part in parts], "next_page_token": token})


# ---- feedback -----------------------------------------------------------------------------
@router.post(
    "/deployments/{name}/feedback",
    status_code=201,
    response_model=FeedbackStored,
    summary="Store labels",
)
def add_feedback(
    name: str, body: AddFeedback, repo: Repository, request_id: RequestId = None
) -> Response:
    """Store labels of earlier predictions in one transaction, all or nothing; with
    ``X-Request-ID``, a retried batch is stored once."""
    stored = repo.add_feedback(
        name, body.records, actor=claimed_actor(body.actor), request_id=request_id
    )
    return json_response({"stored": stored}, 201)


@router.get("/deployments/{name}/feedback", response_model=FeedbackPage, summary="List labels")
def list_feedback(
    name: str,
    repo: Repository,
    since_ms: Annotated[int | None, Query(description="Labels observed from then on.")] = None,
    max_results: MaxResults = 1000,
    page_token: PageToken = None,
) -> Response:
    """Every stored label (not only the latest), by time then insertion, a page."""
    found, token = repo.page_feedback(
        name, since_ms=since_ms, max_results=max_results, page_token=page_token
    )
    return json_response({"feedback": [r.to_dict() for r in found], "next_page_token": token})


# ---- batch scoring ------------------------------------------------------------------------
@router.post(
    "/batch-predictions",
    **NO_CONTENT,
    summary="Record a batch scoring job",
)
def record_batch_prediction(
    body: RecordBatch, repo: Repository, request_id: RequestId = None
) -> Response:
    """Record a finished batch scoring job's lineage and audit row; with ``X-Request-ID``, a
    retried record is written once."""
    repo.record_batch_prediction(
        body.batch_id,
        model_name=body.model_name,
        model_version=body.model_version,
        model_uri=body.model_uri,
        inputs=body.inputs,
        output=body.output,
        rows=body.rows,
        digest=body.digest,
        actor=claimed_actor(body.actor),
        request_id=request_id,
    )
    return Response(status_code=204)
