"""cycleml's tracking API (``/api/v1/experiments``, ``/api/v1/runs``): runs over HTTP.

Every operation of :class:`cycleml.tracking.RunRepository` has one route, and
:class:`cycleml.tracking.RestRunRepository` calls them, so the SDK works against the server
unchanged. The handlers are thin: pydantic checks a body's structure, the stage's
:class:`~cycleml.tracking.SqlRunRepository` on the worker's database does the rest, and the
entities answer as their ``to_dict`` (the JSON shapes of :mod:`cycleml.tracking._wire`).

* **Values are checked once, by the stage.** Fields the repository validates with its own
  messages (names, statuses, keys, metric values and steps) are documented with their type
  but accepted as sent, so ``curl`` users get the same precise error as the SDK.
* **Batches are column-wise**: ``{"metrics": {"keys", "values", "steps", "timestamps"},
  "params": {...}, "tags": {...}}``; non-finite values as ``"NaN"``, ``"Infinity"``,
  ``"-Infinity"``.
* **Retries are safe.** ``POST /runs``, ``POST /runs/{run_id}/batch`` and
  ``PATCH /runs/{run_id}`` with an ``X-Request-ID`` header are applied once per id: a retry
  of a request whose answer was lost finds its id recorded in the write's own transaction
  and answers as the first attempt did (``tracking._run_writes.claim_request``).
* **Search pages** by the opaque ``next_page_token`` of the previous page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel, Field, WithJsonSchema, model_validator

from cycleml.errors import NotFound
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
from cycleml.tracking import SqlRunRepository
from cycleml.tracking._wire import (
    artifact_from_dict,
    artifact_to_dict,
    history_to_json,
    metrics_from_json,
)

__all__ = ["router"]


router = v1_router("tracking")

# Documented as their type, validated by the repository (whose messages name the field).
CheckedInt = Annotated[Any, WithJsonSchema({"type": "integer", "format": "int64"})]
Number = Annotated[
    Any,
    WithJsonSchema(NUMBER_SCHEMA),
]


def _repository(state: ServerState = Depends(server_state)) -> SqlRunRepository:
    return SqlRunRepository(state.db)


Repository = Annotated[SqlRunRepository, Depends(_repository)]


# ---- bodies and answers -----------------------------------------------------------------
class ExperimentOut(BaseModel):
    """An experiment."""

    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = Field(description="`active` or `deleted`.")
    creation_time: int = Field(description="Milliseconds since the epoch.")
    last_update_time: int
    tags: dict[str, str]


class ExperimentList(BaseModel):
    """Experiments, oldest first."""

    experiments: list[ExperimentOut]


class CreateExperiment(StrictBody):
    """A new experiment; its name must be unused (deleted experiments included)."""

    name: CheckedStr = Field(description="1-256 characters; leading and trailing blanks dropped.")
    artifact_location: str = ""
    tags: Values = Field(default_factory=dict)


class RenameExperiment(StrictBody):
    """A new, unused name."""

    name: CheckedStr


class SetTag(StrictBody):
    """One tag (set, or overwritten)."""

    key: CheckedStr
    value: Any = Field(json_schema_extra={"type": "string"})


class RunInfoOut(BaseModel):
    """A run's attributes (MLflow's ``run.info``)."""

    run_id: str
    run_name: str
    experiment_id: str
    status: str = Field(description="RUNNING, SCHEDULED, FINISHED, FAILED or KILLED.")
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    user_id: str
    artifact_uri: str
    parent_run_id: str | None = None
    error: str | None = None
    heartbeat_time: int | None = None


class RunDataOut(BaseModel):
    """A run's latest metrics, its params and tags."""

    metrics: dict[str, float | str] = Field(description="Non-finite values as 'NaN' etc.")
    params: dict[str, str]
    tags: dict[str, str]


class RunOut(BaseModel):
    """A run: ``info`` and ``data``."""

    info: RunInfoOut
    data: RunDataOut


class RunList(BaseModel):
    """Runs."""

    runs: list[RunOut]


class RunInfoList(BaseModel):
    """Runs' attributes."""

    runs: list[RunInfoOut]


class RunPage(BaseModel):
    """One page of a search, and the token of the next (``null`` on the last page)."""

    runs: list[RunOut]
    next_page_token: str | None


class CreateRun(StrictBody):
    """A new RUNNING run in an active experiment."""

    experiment_id: str
    run_name: CheckedStr | None = Field(default=None, description="Default: run-<id prefix>.")
    artifact_uri: str = Field(default="", description="Default: runs:/<run_id>.")
    user_id: CheckedStr | None = Field(default=None, description="Default: the server's actor.")
    tags: Values = Field(default_factory=dict)
    parent_run_id: str | None = None
    start_time: int | None = Field(default=None, description="Default: now (ms).")


class MetricColumnsIn(StrictBody):
    """Metric points column by column (point ``i`` is the ``i``-th of each list)."""

    keys: list[CheckedStr]
    values: list[Number]
    steps: list[CheckedInt]
    timestamps: list[CheckedInt] = Field(description="Milliseconds since the epoch.")

    @model_validator(mode="after")
    def _same_lengths(self) -> MetricColumnsIn:
        sizes = {len(self.keys), len(self.values), len(self.steps), len(self.timestamps)}
        if len(sizes) != 1:
            raise ValueError(
                f"keys, values, steps and timestamps must be as long as each other, got "
                f"{len(self.keys)}, {len(self.values)}, {len(self.steps)}, {len(self.timestamps)}"
            )
        return self


class LogBatch(StrictBody):
    """Metrics, params and tags of one run, written in one transaction."""

    metrics: MetricColumnsIn | None = None
    params: Values = Field(default_factory=dict, description="Immutable once logged.")
    tags: Values = Field(default_factory=dict)


class UpdateRun(LogBatch):
    """A new status (a terminal one ends the run), error or name, and maybe a final batch."""

    status: CheckedStr | None = None
    end_time: int | None = Field(default=None, description="Default for a terminal status: now.")
    error: str | None = None
    run_name: CheckedStr | None = None


class RunIds(StrictBody):
    """Run ids."""

    run_ids: list[str]


class Changed(BaseModel):
    """How many runs changed."""

    changed: int


class CountPoints(StrictBody):
    """The runs whose points to count (``null``: every run)."""

    run_ids: list[str] | None = None


class PointCount(BaseModel):
    """How many metric points are stored."""

    count: int


class SearchRuns(StrictBody):
    """A run search in MLflow's filter grammar."""

    experiment_ids: list[str]
    filter_string: str = Field(default="", examples=["metrics.auc > 0.8 and params.model = 'rf'"])
    order_by: list[str] | None = Field(default=None, examples=[["metrics.auc DESC"]])
    max_results: int = Field(default=1000, description="Page size, 1-50,000.")
    page_token: str | None = Field(default=None, description="The previous page's token.")
    view: str = Field(default="active", description="`active`, `deleted` or `all` runs.")


class MetricHistory(BaseModel):
    """Every point of one metric, ordered by step then timestamp, column by column."""

    key: str
    values: list[float | str]
    steps: list[int]
    timestamps: list[int]


class ArtifactIn(StrictBody):
    """One stored file of a run: its logical path, the blob's BLAKE3 digest and its size."""

    path: CheckedStr
    digest: CheckedStr
    size: CheckedInt


class ArtifactOut(BaseModel):
    """One stored file of a run."""

    path: str
    digest: str
    size: int


class RecordArtifacts(StrictBody):
    """Artifact records of a run (a path recorded again moves to the new blob)."""

    artifacts: list[ArtifactIn]


class ArtifactList(BaseModel):
    """A run's artifact records, by path."""

    artifacts: list[ArtifactOut]


class RecordInput(StrictBody):
    """An entity the run read (lineage ``entity -> run``), e.g. a dataset version."""

    kind: str = Field(examples=["dataset_version"])
    entity_id: str
    payload: dict[str, Any] = Field(default_factory=dict)


def _batch(body: LogBatch) -> dict[str, Any]:
    """The batch's keyword arguments of ``log_batch`` and ``update_run``."""
    columns = body.metrics
    metrics = (
        metrics_from_json(
            {
                "keys": columns.keys,
                "values": columns.values,
                "steps": columns.steps,
                "timestamps": columns.timestamps,
            }
        )
        if columns is not None
        else ()
    )
    return {"metrics": metrics, "params": body.params, "tags": body.tags}


# ---- experiments ------------------------------------------------------------------------
@router.post(
    "/experiments", status_code=201, response_model=ExperimentOut, summary="Create an experiment"
)
def create_experiment(body: CreateExperiment, repo: Repository, request: Request) -> Response:
    """Create an experiment (409 ``already_exists`` when the name is taken); its creator
    holds MANAGE on it."""
    created = repo.create_experiment(
        body.name, artifact_location=body.artifact_location, tags=body.tags
    )
    grant_creator(request, "experiment", created.experiment_id)
    return json_response(created.to_dict(), 201)


@router.get("/experiments", response_model=ExperimentList, summary="List experiments")
def list_experiments(
    repo: Repository,
    request: Request,
    view: Annotated[str, Query(description="`active`, `deleted` or `all`.")] = "active",
) -> Response:
    """Every experiment in the view the user may read, oldest first."""
    found = repo.list_experiments(view=view)
    allowed = readable(request, "experiment", (e.experiment_id for e in found))
    return json_response(
        {"experiments": [e.to_dict() for e in found if e.experiment_id in allowed]}
    )


@router.get(
    "/experiments/by-name", response_model=ExperimentOut, summary="Get an experiment by name"
)
def get_experiment_by_name(repo: Repository, name: str) -> Response:
    """The experiment with this exact name, deleted or not (404 when there is none)."""
    found = repo.get_experiment_by_name(name)
    if found is None:
        raise NotFound(
            f"No experiment named {name!r}.",
            hint="List experiments with GET /api/v1/experiments.",
            details={"experiment_name": name},
        )
    return json_response(found.to_dict())


@router.get(
    "/experiments/{experiment_id}", response_model=ExperimentOut, summary="Get an experiment"
)
def get_experiment(experiment_id: str, repo: Repository) -> Response:
    """The experiment with this id."""
    return json_response(repo.get_experiment(experiment_id).to_dict())


@router.patch(
    "/experiments/{experiment_id}", response_model=ExperimentOut, summary="Rename an experiment"
)
def rename_experiment(experiment_id: str, body: RenameExperiment, repo: Repository) -> Response:
    """Give the experiment a new, unused name."""
    return json_response(repo.rename_experiment(experiment_id, body.name).to_dict())


@router.delete(
    "/experiments/{experiment_id}", response_model=ExperimentOut, summary="Delete an experiment"
)
def delete_experiment(experiment_id: str, repo: Repository) -> Response:
    """Mark the experiment deleted; its runs stay, and restoring brings it back."""
    return json_response(repo.delete_experiment(experiment_id).to_dict())


@router.post(
    "/experiments/{experiment_id}/restore",
    response_model=ExperimentOut,
    summary="Restore a deleted experiment",
)
def restore_experiment(experiment_id: str, repo: Repository) -> Response:
    """Bring back a deleted experiment."""
    return json_response(repo.restore_experiment(experiment_id).to_dict())


@router.post("/experiments/{experiment_id}/tags", **NO_CONTENT, summary="Set an experiment tag")
def set_experiment_tag(experiment_id: str, body: SetTag, repo: Repository) -> Response:
    """Set (or overwrite) one tag of the experiment."""
    repo.set_experiment_tag(experiment_id, body.key, body.value)
    return Response(status_code=204)


# ---- runs: collections (declared before /runs/{run_id}) -----------------------------------
@router.post("/runs", status_code=201, response_model=RunOut, summary="Create a run")
def create_run(body: CreateRun, repo: Repository, request_id: RequestId = None) -> Response:
    """Start a RUNNING run; with ``X-Request-ID``, a retried request returns the same run."""
    run = repo.create_run(
        experiment_id=body.experiment_id,
        run_name=body.run_name,
        artifact_uri=body.artifact_uri,
        user_id=body.user_id,
        tags=body.tags,
        parent_run_id=body.parent_run_id,
        start_time=body.start_time,
        request_id=request_id,
    )
    return json_response(run.to_dict(), 201)


@router.post("/runs/search", response_model=RunPage, summary="Search runs")
def search_runs(body: SearchRuns, repo: Repository) -> Response:
    """One page of runs matching MLflow's filter grammar, and the next page's token."""
    runs, token = repo.search_runs(
        experiment_ids=body.experiment_ids,
        filter_string=body.filter_string,
        order_by=body.order_by,
        max_results=body.max_results,
        page_token=body.page_token,
        view=body.view,
    )
    return json_response({"runs": [run.to_dict() for run in runs], "next_page_token": token})


@router.post("/runs/get", response_model=RunList, summary="Get runs by id")
def get_runs(body: RunIds, repo: Repository) -> Response:
    """The runs in the order given; unknown ids are left out."""
    return json_response({"runs": [run.to_dict() for run in repo.get_runs(body.run_ids)]})


@router.post("/runs/delete", response_model=Changed, summary="Delete runs")
def delete_runs(body: RunIds, repo: Repository) -> Response:
    """Mark runs deleted (soft delete); how many changed. One unknown id changes none."""
    return json_response({"changed": repo.delete_runs(body.run_ids)})


@router.post("/runs/restore", response_model=Changed, summary="Restore deleted runs")
def restore_runs(body: RunIds, repo: Repository) -> Response:
    """Bring back deleted runs; how many changed."""
    return json_response({"changed": repo.restore_runs(body.run_ids)})


@router.post("/runs/metric-points/count", response_model=PointCount, summary="Count metric points")
def count_metric_points(body: CountPoints, repo: Repository) -> Response:
    """How many metric points are stored, for some runs or for all."""
    return json_response({"count": repo.count_metric_points(body.run_ids)})


@router.get("/runs/stale", response_model=RunInfoList, summary="Find stale runs")
def find_stale_runs(
    repo: Repository,
    older_than_ms: Annotated[
        int, Query(ge=0, le=2**62, description="Silence longer than this, in ms.")
    ],
) -> Response:
    """RUNNING runs whose logger has not written for ``older_than_ms``."""
    infos = repo.find_stale_runs(older_than_ms=older_than_ms)
    return json_response({"runs": [info.to_dict() for info in infos]})


# ---- one run ------------------------------------------------------------------------------
@router.get("/runs/{run_id}", response_model=RunOut, summary="Get a run")
def get_run(run_id: str, repo: Repository) -> Response:
    """The run with its latest metrics, params and tags."""
    return json_response(repo.get_run(run_id).to_dict())


@router.patch("/runs/{run_id}", response_model=RunInfoOut, summary="Update or end a run")
def update_run(
    run_id: str, body: UpdateRun, repo: Repository, request_id: RequestId = None
) -> Response:
    """Change status, error or name, writing the final batch in the same transaction."""
    info = repo.update_run(
        run_id,
        status=body.status,
        end_time=body.end_time,
        error=body.error,
        run_name=body.run_name,
        request_id=request_id,
        **_batch(body),
    )
    return json_response(info.to_dict())


@router.post("/runs/{run_id}/batch", **NO_CONTENT, summary="Log a batch")
def log_batch(
    run_id: str, body: LogBatch, repo: Repository, request_id: RequestId = None
) -> Response:
    """Write metrics, params and tags in one transaction; a replayed request id writes nothing."""
    repo.log_batch(run_id, request_id=request_id, **_batch(body))
    return Response(status_code=204)


@router.delete("/runs/{run_id}/tags", **NO_CONTENT, summary="Delete a run tag")
def delete_run_tag(run_id: str, key: str, repo: Repository) -> Response:
    """Remove one tag from the run."""
    repo.delete_run_tag(run_id, key)
    return Response(status_code=204)


@router.get(
    "/runs/{run_id}/metric-history", response_model=MetricHistory, summary="Get a metric's history"
)
def get_metric_history(run_id: str, key: str, repo: Repository) -> Response:
    """Every logged point of one metric, ordered by step then timestamp."""
    return json_response(history_to_json(key, repo.get_metric_history(run_id, key)))


@router.post("/runs/{run_id}/artifacts", **NO_CONTENT, summary="Record artifacts")
def record_artifacts(run_id: str, body: RecordArtifacts, repo: Repository) -> Response:
    """Map logical paths of the run to stored blobs (the blobs are stored already)."""
    repo.record_artifacts(run_id, [artifact_from_dict(a.model_dump()) for a in body.artifacts])
    return Response(status_code=204)


@router.get("/runs/{run_id}/artifacts", response_model=ArtifactList, summary="List artifacts")
def list_artifacts(
    run_id: str,
    repo: Repository,
    prefix: Annotated[str, Query(description="A folder of the run's files.")] = "",
) -> Response:
    """The run's artifact records at or below ``prefix``."""
    entries = repo.list_artifacts(run_id, prefix)
    return json_response({"artifacts": [artifact_to_dict(entry) for entry in entries]})


@router.delete("/runs/{run_id}/artifacts", response_model=ArtifactList, summary="Delete artifacts")
def delete_artifacts(
    run_id: str,
    repo: Repository,
    path: Annotated[str, Query(description="A file of the run, or a folder of its files.")],
) -> Response:
    """Remove the run's file at ``path`` (or a folder's files) from its index; answer what went.

    The blobs stay in the artifact store (shared by content); the audit log names them.
    """
    entries = repo.delete_artifacts(run_id, path)
    return json_response({"artifacts": [artifact_to_dict(entry) for entry in entries]})


@router.post("/runs/{run_id}/inputs", **NO_CONTENT, summary="Record an input")
def record_input(run_id: str, body: RecordInput, repo: Repository) -> Response:
    """Record that the run read an entity (a lineage edge ``entity -> run``)."""
    repo.record_input(run_id, body.kind, body.entity_id, payload=body.payload)
    return Response(status_code=204)
