"""cycleml's registry API (``/api/v1/models``): registered models and versions over HTTP.

Every operation of :class:`cycleml.registry.ModelRepository` has one route, and
:class:`cycleml.registry.RestModelRepository` calls them, so :class:`~cycleml.registry.Models`
works against the server unchanged. The handlers are thin: pydantic checks a body's
structure, the stage's :class:`~cycleml.registry.SqlModelRepository` on the worker's database
does the rest (names, aliases, versions, stages and metric values are checked there, with its
own messages), and the entities answer as their ``to_dict``.

* **Resources by name**: ``/models/{name}``, ``/models/{name}/versions/{version}``,
  ``/models/{name}/aliases/{alias}``, ``.../tags/{key}`` (a key may hold ``/``); a version's
  stage changes by ``POST /models/{name}/versions/{version}/stage`` and its history is
  ``.../stage-history``. ``PATCH`` changes a description, ``POST /models/{name}/rename``
  the name, ``DELETE`` deletes (softly: a deleted version's number is never used again).
* **URIs resolve** at ``GET /resolve/model-uri?uri=`` and ``GET /resolve/artifact-uri?uri=``
  (not under ``/models/``, where any word could be a model's name).
* **Retries are safe.** ``POST /models``, ``POST /models/{name}/versions``,
  ``POST .../versions/{version}/stage`` and ``POST /models/{name}/rename`` with an
  ``X-Request-ID`` header are applied once per id (``registry_0002``'s ``model_requests``,
  claimed in the write's own transaction); ``PUT`` and ``PATCH`` set a value, so a repeat
  changes nothing.
* **Metric values** JSON cannot hold are spelled ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel, Field, WithJsonSchema

from cycleml.errors import GateFailed
from cycleml.registry import GATED_STAGES, Models, SqlModelRepository, parse_stage
from cycleml.server._app import ServerState, server_state
from cycleml.server._auth import grant_creator, readable
from cycleml.server._routes import (
    NO_CONTENT,
    NUMBER_SCHEMA,
    CheckedStr,
    RequestId,
    StrictBody,
    Values,
    json_response,
    v1_router,
)

__all__ = ["router"]


router = v1_router("registry")

# Documented as their type, validated by the repository (whose messages name the field).
CheckedVersion = Annotated[Any, WithJsonSchema({"type": "integer", "minimum": 1})]
Metrics = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "additionalProperties": NUMBER_SCHEMA,
        }
    ),
]


def _repository(state: ServerState = Depends(server_state)) -> SqlModelRepository:
    return SqlModelRepository(state.db)


Repository = Annotated[SqlModelRepository, Depends(_repository)]
State = Annotated[ServerState, Depends(server_state)]


# ---- bodies and answers -----------------------------------------------------------------
class RegisteredModelOut(BaseModel):
    """A registered model with its tags, aliases and latest version number."""

    name: str
    description: str
    creation_time: int = Field(description="Milliseconds since the epoch.")
    last_updated_time: int
    tags: dict[str, str]
    aliases: dict[str, int] = Field(description="Alias to version number.")
    latest_version: int | None


class RegisteredModelList(BaseModel):
    """Registered models, by name."""

    models: list[RegisteredModelOut]


class ModelVersionOut(BaseModel):
    """One version of a registered model."""

    name: str
    version: int
    model_version_id: str
    run_id: str | None
    source: str = Field(description="Where the model is, e.g. `runs:/<run_id>/model`.")
    current_stage: str = Field(description="`None`, `Staging`, `Production` or `Archived`.")
    description: str
    metrics: Metrics = Field(description="The metrics snapshot the version was registered with.")
    signature: dict[str, Any] | None
    user_id: str
    creation_time: int
    last_updated_time: int
    tags: dict[str, str]
    aliases: list[str]


class ModelVersionList(BaseModel):
    """Versions of a model, oldest first."""

    versions: list[ModelVersionOut]


class StageTransitionOut(BaseModel):
    """One stage change of a version: who, when, why."""

    name: str
    version: int
    from_stage: str
    to_stage: str
    actor: str
    time: int
    reason: str
    forced: bool


class StageHistory(BaseModel):
    """Stage changes of a version, oldest first."""

    transitions: list[StageTransitionOut]


class ArtifactOut(BaseModel):
    """One run file."""

    path: str
    digest: str
    size: int


class ArtifactLocationOut(BaseModel):
    """What a ``runs:/`` or ``models:/`` URI names: a run, a path in it and its files."""

    uri: str
    run_id: str
    path: str
    entries: list[ArtifactOut]
    model_version: ModelVersionOut | None


class CreateModel(StrictBody):
    """A new registered model; its name must be unused."""

    name: CheckedStr = Field(description="Letters, digits, `_ - .`; at most 245 characters.")
    description: str = ""
    tags: Values = Field(default_factory=dict)


class CreateVersion(StrictBody):
    """The next version of a model."""

    source: CheckedStr = Field(description="Where the model is, e.g. `runs:/<run_id>/model`.")
    run_id: str | None = None
    metrics: Metrics | None = None
    description: str = ""
    tags: Values = Field(default_factory=dict)
    signature: dict[str, Any] | None = None


class SetAlias(StrictBody):
    """The version an alias points at."""

    version: CheckedVersion


class SetTag(StrictBody):
    """A tag's value."""

    value: CheckedStr


class Describe(StrictBody):
    """A new description."""

    description: CheckedStr


class Rename(StrictBody):
    """A registered model's new name; it must be unused."""

    new_name: CheckedStr = Field(description="Letters, digits, `_ - .`; at most 245 characters.")


class Transition(StrictBody):
    """A stage change."""

    to_stage: CheckedStr = Field(description="`None`, `Staging`, `Production` or `Archived`.")
    reason: str = ""
    forced: bool = False
    archive_existing: bool = Field(
        False, description="Move the other versions in the target stage to Archived."
    )
    audit_payload: dict[str, Any] | None = Field(
        None,
        description="Extra fields for the transition's audit row (the client's gate report); "
        "the server adds its own as `server_gates`.",
    )


# ---- registered models --------------------------------------------------------------------
@router.post(
    "/models", status_code=201, response_model=RegisteredModelOut, summary="Create a model"
)
def create_model(
    body: CreateModel, repo: Repository, request: Request, request_id: RequestId = None
) -> Response:
    """Create a registered model (409 ``already_exists`` when the name is taken); with
    ``X-Request-ID``, a retried request returns the model it created. Its creator holds
    MANAGE on it."""
    created = repo.create_registered_model(
        body.name, description=body.description, tags=body.tags, request_id=request_id
    )
    grant_creator(request, "registered_model", created.name)
    return json_response(created.to_dict(), 201)


@router.get("/models", response_model=RegisteredModelList, summary="List models")
def list_models(repo: Repository, request: Request) -> Response:
    """Every registered model the user may read, by name."""
    found = repo.list_registered_models()
    allowed = readable(request, "registered_model", (m.name for m in found))
    return json_response({"models": [m.to_dict() for m in found if m.name in allowed]})


@router.get("/models/{name}", response_model=RegisteredModelOut, summary="Get a model")
def get_model(name: str, repo: Repository) -> Response:
    """One registered model with its tags, aliases and latest version (404 when missing)."""
    return json_response(repo.get_registered_model(name).to_dict())


@router.patch("/models/{name}", response_model=RegisteredModelOut, summary="Update a model")
def update_model(name: str, body: Describe, repo: Repository) -> Response:
    """Change the model's description; the model."""
    return json_response(repo.update_registered_model(name, description=body.description).to_dict())


@router.post("/models/{name}/rename", response_model=RegisteredModelOut, summary="Rename a model")
def rename_model(
    name: str, body: Rename, repo: Repository, request_id: RequestId = None
) -> Response:
    """Give the model an unused name (409 ``already_exists`` when it is taken, also by a
    deleted model); its versions, tags, aliases and history move along. With
    ``X-Request-ID``, a retried request returns the renamed model."""
    renamed = repo.rename_registered_model(name, body.new_name, request_id=request_id)
    return json_response(renamed.to_dict())


@router.delete("/models/{name}", **NO_CONTENT, summary="Delete a model")
def delete_model(name: str, repo: Repository) -> Response:
    """Delete the model and its versions (404 when missing); the name can be used again."""
    repo.delete_registered_model(name)
    return Response(status_code=204)


@router.put("/models/{name}/tags/{key:path}", **NO_CONTENT, summary="Set a model tag")
def set_model_tag(name: str, key: str, body: SetTag, repo: Repository) -> Response:
    """Set (or overwrite) one tag of the model."""
    repo.set_registered_model_tag(name, key, body.value)
    return Response(status_code=204)


@router.delete("/models/{name}/tags/{key:path}", **NO_CONTENT, summary="Delete a model tag")
def delete_model_tag(name: str, key: str, repo: Repository) -> Response:
    """Remove one tag of the model (404 when it is not set)."""
    repo.delete_registered_model_tag(name, key)
    return Response(status_code=204)


# ---- versions -----------------------------------------------------------------------------
@router.post(
    "/models/{name}/versions",
    status_code=201,
    response_model=ModelVersionOut,
    summary="Create a model version",
)
def create_version(
    name: str, body: CreateVersion, repo: Repository, request_id: RequestId = None
) -> Response:
    """Add the next version of the model (404 when the model is missing); with
    ``X-Request-ID``, a retried request returns the version it created."""
    created = repo.create_model_version(
        name,
        source=body.source,
        run_id=body.run_id,
        metrics=body.metrics,
        description=body.description,
        tags=body.tags,
        signature=body.signature,
        request_id=request_id,
    )
    return json_response(created.to_dict(), 201)


@router.get("/models/{name}/versions", response_model=ModelVersionList, summary="List versions")
def list_versions(name: str, repo: Repository) -> Response:
    """Every version of the model, oldest first."""
    return json_response({"versions": [v.to_dict() for v in repo.list_model_versions(name)]})


@router.get(
    "/models/{name}/versions/{version}", response_model=ModelVersionOut, summary="Get a version"
)
def get_version(name: str, version: str, repo: Repository) -> Response:
    """One version (400 for a version that is not a positive integer, 404 when missing)."""
    return json_response(repo.get_model_version(name, version).to_dict())


@router.patch(
    "/models/{name}/versions/{version}", response_model=ModelVersionOut, summary="Update a version"
)
def update_version(name: str, version: str, body: Describe, repo: Repository) -> Response:
    """Change the version's description; the version."""
    updated = repo.update_model_version(name, version, description=body.description)
    return json_response(updated.to_dict())


@router.delete("/models/{name}/versions/{version}", **NO_CONTENT, summary="Delete a version")
def delete_version(name: str, version: str, repo: Repository) -> Response:
    """Delete the version (404 when missing): its aliases go, its number is never reused."""
    repo.delete_model_version(name, version)
    return Response(status_code=204)


@router.put(
    "/models/{name}/versions/{version}/tags/{key:path}", **NO_CONTENT, summary="Set a version tag"
)
def set_version_tag(name: str, version: str, key: str, body: SetTag, repo: Repository) -> Response:
    """Set (or overwrite) one tag of the version."""
    repo.set_model_version_tag(name, version, key, body.value)
    return Response(status_code=204)


@router.delete(
    "/models/{name}/versions/{version}/tags/{key:path}",
    **NO_CONTENT,
    summary="Delete a version tag",
)
def delete_version_tag(name: str, version: str, key: str, repo: Repository) -> Response:
    """Remove one tag of the version (404 when it is not set)."""
    repo.delete_model_version_tag(name, version, key)
    return Response(status_code=204)


@router.post(
    "/models/{name}/versions/{version}/stage",
    response_model=ModelVersionOut,
    summary="Move a version to another stage",
)
def transition_stage(
    name: str,
    version: str,
    body: Transition,
    repo: Repository,
    state: State,
    request_id: RequestId = None,
) -> Response:
    """Move the version to ``to_stage`` and record who, when and why (409 ``invalid_state``
    when it is already there; with ``X-Request-ID``, a retried request is applied once).

    The server's own project gates Staging and Production: a client's check is not trusted,
    so a version failing a gate is refused (409 ``gate_failed``, naming each failure) unless
    the request is ``forced``, and the server's gate report joins the audit row."""
    audit = dict(body.audit_payload or {})
    if parse_stage(body.to_stage) in GATED_STAGES:
        report = Models(state.settings, repository=repo).check(name, version)
        if not report.passed and not body.forced:
            raise GateFailed(
                f"Model {name!r} version {report.version} cannot move to {body.to_stage}: "
                f"{'; '.join(f.reason for f in report.failures)}.",
                hint="Improve the model or the project's thresholds, or force the change "
                "(recorded in the audit log).",
                details={"failures": [f.to_dict() for f in report.failures]},
            )
        audit["server_gates"] = [check.to_dict() for check in report.checks]
    moved = repo.transition_stage(
        name,
        version,
        to_stage=body.to_stage,
        reason=body.reason,
        forced=body.forced,
        archive_existing=body.archive_existing,
        audit_payload=audit,
        request_id=request_id,
    )
    return json_response(moved.to_dict())


@router.get(
    "/models/{name}/versions/{version}/stage-history",
    response_model=StageHistory,
    summary="A version's stage history",
)
def get_stage_history(name: str, version: str, repo: Repository) -> Response:
    """Every stage change of the version, oldest first."""
    history = repo.get_stage_history(name, version)
    return json_response({"transitions": [entry.to_dict() for entry in history]})


# ---- aliases ------------------------------------------------------------------------------
@router.put(
    "/models/{name}/aliases/{alias}", response_model=ModelVersionOut, summary="Set an alias"
)
def set_alias(name: str, alias: str, body: SetAlias, repo: Repository) -> Response:
    """Point the alias at a version (moving it if it pointed elsewhere); the version."""
    return json_response(repo.set_alias(name, body.version, alias).to_dict())


@router.get(
    "/models/{name}/aliases/{alias}",
    response_model=ModelVersionOut,
    summary="Get the version an alias names",
)
def get_version_by_alias(name: str, alias: str, repo: Repository) -> Response:
    """Resolve ``name@alias`` (404 when the alias is not set)."""
    return json_response(repo.get_version_by_alias(name, alias).to_dict())


@router.delete("/models/{name}/aliases/{alias}", **NO_CONTENT, summary="Delete an alias")
def delete_alias(name: str, alias: str, repo: Repository) -> Response:
    """Remove the alias (404 when it is not set)."""
    repo.delete_alias(name, alias)
    return Response(status_code=204)


# ---- URIs ---------------------------------------------------------------------------------
@router.get("/resolve/model-uri", response_model=ModelVersionOut, summary="Resolve a models:/ URI")
def resolve_model_uri(
    repo: Repository,
    uri: Annotated[str, Query(description="`models:/name/3`, `models:/name@alias`, ...")],
) -> Response:
    """The version ``models:/name/3``, ``models:/name@alias``, ``/latest`` or ``/<stage>`` names."""
    return json_response(repo.resolve_model_uri(uri).to_dict())


@router.get(
    "/resolve/artifact-uri",
    response_model=ArtifactLocationOut,
    summary="Resolve a runs:/ or models:/ URI to run files",
)
def resolve_artifact_uri(
    repo: Repository,
    uri: Annotated[str, Query(description="`runs:/<run_id>/path` or a `models:/` URI.")],
) -> Response:
    """The run, path and files a ``runs:/`` or ``models:/`` URI names."""
    return json_response(repo.resolve_artifact_uri(uri).to_dict())
