"""MLflow's tracking API (``MlflowService``): experiments, runs, metrics, inputs.

The unmodified ``mlflow`` client, pointed at ``cycleml server`` with
``mlflow.set_tracking_uri("http://host:port")``, logs into the tracking stage through
these routes. Each handler reads MLflow's fields (see :mod:`._mlflow_protocol`) and calls
the tracking repository, so what an MLflow client writes is ordinary cycleml data: the
same runs, params, metrics and tags, with the same audit rows and lineage edges, as if the
cycleml SDK had written them.

Where MLflow and cycleml differ, the routes keep MLflow's behaviour on the wire:

* ``"0"`` is the Default experiment (see :class:`._mlflow_protocol.ExperimentIds`); it
  cannot be renamed here, since that name is what ties it to ``"0"``;
* a run's name is also its ``mlflow.runName`` tag, and a ``mlflow.parentRunId`` tag makes
  the run a child of that run in cycleml too (``parent_run_id`` and a lineage edge);
* a run whose ``artifact_uri`` is cycleml's ``runs:/<run_id>`` (every run the MLflow
  client creates, and the SDK's by default) shows ``mlflow-artifacts:/<exp>/<run>/artifacts``,
  so the client uploads through the artifact proxy (:mod:`._mlflow_artifacts`); cycleml
  itself reads a run's files from its artifact index, never from that URI;
* a metric's ``model_id`` and dataset fields are not stored (cycleml metrics have none),
  and the latest metrics of a run carry their value only.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter

from cycleml.errors import InvalidInput, NotFound
from cycleml.ids import is_id
from cycleml.server._auth import grant_creator, readable
from cycleml.server._mlflow_artifacts import mlflow_artifact_uri
from cycleml.server._mlflow_models import run_outputs_json
from cycleml.server._mlflow_protocol import (
    DEFAULT_EXPERIMENT_ID,
    Call,
    ExperimentIds,
    Fields,
    Handler,
    add_routes,
    decode_offset_token,
    double,
    encode_offset_token,
)
from cycleml.server._mlflow_search import (
    filter_experiments,
    order_experiments,
    parse_experiment_filter,
    sample_steps,
)
from cycleml.store import parse_dataset_uri
from cycleml.tracking import DEFAULT_EXPERIMENT, Experiment, Metric, Run, RunInfo
from cycleml.validation import check_key

__all__ = ["router"]

router = APIRouter(tags=["mlflow"])

RUN_NAME_TAG = "mlflow.runName"
PARENT_RUN_TAG = "mlflow.parentRunId"
_CONTEXT_TAG = "mlflow.data.context"
_INPUT_TAG_PREFIX = "cycleml.input."  # the tag cycleml's log_input sets per dataset

_VIEW_TYPES = ("ACTIVE_ONLY", "DELETED_ONLY", "ALL")
_VIEWS = {"ACTIVE_ONLY": "active", "DELETED_ONLY": "deleted", "ALL": "all"}
# MLflow's RunStatus names in the order of their proto numbers (1-5); cycleml's are the same.
_RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")

# MLflow's limits, so that a request MLflow's server refuses is refused here too.
MAX_RESULTS_DEFAULT = 1000
MAX_RESULTS_LIMIT = 50_000
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_HISTORY_PAGE = 25_000
MAX_BULK_RUNS = 100
MAX_BULK_RESULTS = 2500


# ---- rendering (proto3 JSON) -------------------------------------------------------------
def _pairs(values: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in values.items()]


def _experiment_json(experiment: Experiment, ids: ExperimentIds) -> dict[str, Any]:
    return {
        "experiment_id": ids.to_mlflow(experiment.experiment_id),
        "name": experiment.name,
        "artifact_location": experiment.artifact_location,
        "lifecycle_stage": experiment.lifecycle_stage,
        "creation_time": experiment.creation_time,
        "last_update_time": experiment.last_update_time,
        "tags": _pairs(experiment.tags),
    }


def _artifact_uri(info: RunInfo, ids: ExperimentIds) -> str:
    if info.artifact_uri == f"runs:/{info.run_id}":  # cycleml's index, served by the proxy
        return mlflow_artifact_uri(ids.to_mlflow(info.experiment_id), info.run_id)
    return info.artifact_uri


def _run_info_json(info: RunInfo, ids: ExperimentIds) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "run_id": info.run_id,
        "run_uuid": info.run_id,
        "run_name": info.run_name,
        "experiment_id": ids.to_mlflow(info.experiment_id),
        "user_id": info.user_id,
        "status": info.status,
        "start_time": info.start_time,
        "artifact_uri": _artifact_uri(info, ids),
        "lifecycle_stage": info.lifecycle_stage,
    }
    if info.end_time is not None:
        answer["end_time"] = info.end_time
    return answer


def _run_json(
    run: Run,
    ids: ExperimentIds,
    inputs: list[dict[str, Any]] | None = None,
    outputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "info": _run_info_json(run.info, ids),
        "data": {
            "metrics": [
                {"key": key, "value": double(value)} for key, value in run.data.metrics.items()
            ],
            "params": _pairs(run.data.params),
            "tags": _pairs(run.data.tags),
        },
        "inputs": {"dataset_inputs": inputs or []},
        "outputs": outputs or {},
    }


def _metric_json(point: Metric, run_id: str | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "key": point.key,
        "value": double(point.value),
        "timestamp": point.timestamp,
        "step": point.step,
    }
    if run_id is not None:
        answer["run_id"] = run_id
    return answer


# ---- shared reading ----------------------------------------------------------------------
def _run_id(call: Call) -> str:
    run_id = call.fields.run_id()
    if not is_id(run_id):
        raise NotFound(
            f"No run with id {run_id!r}.",
            hint="Run ids are 32 hex characters; find them with mlflow.search_runs().",
        )
    return run_id


def _experiment_id(call: Call, name: str = "experiment_id") -> str:
    return call.experiments.to_cycleml(call.fields.required_text(name))


def _max_results(call: Call, default: int, limit: int) -> int:
    value = call.fields.integer("max_results")
    if value is None or value == 0:  # proto3 omits 0, and MLflow reads it as "not given"
        return default
    if not 1 <= value <= limit:
        raise InvalidInput(
            f"Invalid max_results {value}: expected 1 to {limit}.",
            details={"field": "max_results"},
        )
    return value


def _tags(call: Call, name: str = "tags") -> dict[str, str]:
    return dict(call.fields.key_values(name))


# ---- experiments -------------------------------------------------------------------------
def create_experiment(call: Call) -> dict[str, Any]:
    """``experiments/create``: a new experiment; its name must be unused."""
    fields = call.fields
    call.experiments.default_id(create=True)  # Default exists before any other experiment
    experiment = call.runs.create_experiment(
        fields.required_text("name"),
        artifact_location=fields.text("artifact_location") or call.state.artifacts.uri,
        tags=_tags(call),
    )
    if call.request is not None:
        grant_creator(call.request, "experiment", experiment.experiment_id)
    return {"experiment_id": call.experiments.to_mlflow(experiment.experiment_id)}


def get_experiment(call: Call) -> dict[str, Any]:
    """``experiments/get``: one experiment by id (``"0"`` is Default)."""
    experiment = call.runs.get_experiment(_experiment_id(call))
    return {"experiment": _experiment_json(experiment, call.experiments)}


def get_experiment_by_name(call: Call) -> dict[str, Any]:
    """``experiments/get-by-name``: one experiment by name, deleted ones included."""
    name = call.fields.required_text("experiment_name")
    if name == DEFAULT_EXPERIMENT:
        call.experiments.default_id(create=True)
    experiment = call.runs.get_experiment_by_name(name)
    if experiment is None:
        raise NotFound(
            f"No experiment named {name!r}.",
            hint="Create it with mlflow.set_experiment or `cycleml experiments create`.",
        )
    return {"experiment": _experiment_json(experiment, call.experiments)}


def search_experiments(call: Call) -> dict[str, Any]:
    """``experiments/search``: experiments by filter and order, one page at a time."""
    fields = call.fields
    view = _VIEWS[fields.enum("view_type", _VIEW_TYPES, "ACTIVE_ONLY")]
    limit = _max_results(call, MAX_RESULTS_DEFAULT, MAX_RESULTS_LIMIT)
    offset = decode_offset_token(fields.text("page_token"))
    terms = parse_experiment_filter(fields.text("filter"))
    call.experiments.default_id(create=True)
    found = filter_experiments(call.runs.list_experiments(view=view), terms)
    if call.request is not None:
        allowed = readable(call.request, "experiment", (e.experiment_id for e in found))
        found = [e for e in found if e.experiment_id in allowed]
    ordered = order_experiments(found, fields.texts("order_by"))
    page = ordered[offset : offset + limit]
    answer: dict[str, Any] = {"experiments": [_experiment_json(e, call.experiments) for e in page]}
    if offset + limit < len(ordered):
        answer["next_page_token"] = encode_offset_token(offset + limit)
    return answer


def update_experiment(call: Call) -> dict[str, Any]:
    """``experiments/update``: rename an experiment (not Default, which is ``"0"`` by name)."""
    experiment_id = _experiment_id(call)
    new_name = call.fields.text("new_name")
    if new_name:
        current = call.runs.get_experiment(experiment_id)
        if experiment_id == call.experiments.default_id(create=False) and new_name != current.name:
            raise InvalidInput(
                f"The Default experiment (id {DEFAULT_EXPERIMENT_ID}) cannot be renamed: "
                f"cycleml knows it as the experiment named {DEFAULT_EXPERIMENT!r}.",
                hint="Create a new experiment with the name you want instead.",
            )
        call.runs.rename_experiment(experiment_id, new_name)
    return {}


def delete_experiment(call: Call) -> dict[str, Any]:
    """``experiments/delete``: mark an experiment deleted (restore brings it back)."""
    call.runs.delete_experiment(_experiment_id(call))
    return {}


def restore_experiment(call: Call) -> dict[str, Any]:
    """``experiments/restore``: bring back a deleted experiment."""
    call.runs.restore_experiment(_experiment_id(call))
    return {}


def set_experiment_tag(call: Call) -> dict[str, Any]:
    """``experiments/set-experiment-tag``: set or overwrite one experiment tag."""
    experiment_id = _experiment_id(call)
    call.runs.set_experiment_tag(
        experiment_id, call.fields.required_text("key"), call.fields.text("value") or ""
    )
    return {}


def delete_experiment_tag(call: Call) -> dict[str, Any]:
    """``experiments/delete-experiment-tag``: remove one experiment tag."""
    call.runs.delete_experiment_tag(_experiment_id(call), call.fields.required_text("key"))
    return {}


# ---- runs --------------------------------------------------------------------------------
def create_run(call: Call) -> dict[str, Any]:
    """``runs/create``: a RUNNING run (experiment ``"0"`` when none is named)."""
    fields = call.fields
    experiment_id = call.experiments.to_cycleml(
        fields.text("experiment_id") or DEFAULT_EXPERIMENT_ID
    )
    tags = _tags(call)
    run_name = fields.text("run_name") or None
    tagged_name = tags.get(RUN_NAME_TAG)
    if run_name and tagged_name and run_name != tagged_name:
        raise InvalidInput(
            f"The run name {run_name!r} and the {RUN_NAME_TAG} tag {tagged_name!r} differ.",
            hint="Give the name once, as run_name.",
        )
    name = run_name or tagged_name or f"run-{secrets.token_hex(4)}"
    tags[RUN_NAME_TAG] = name
    parent = tags.get(PARENT_RUN_TAG)
    run = call.runs.create_run(
        experiment_id=experiment_id,
        run_name=name,
        user_id=fields.text("user_id") or None,
        tags=tags,
        parent_run_id=parent if parent and is_id(parent) else None,
        start_time=fields.integer("start_time"),
    )
    return {"run": _run_json(run, call.experiments)}


def get_run(call: Call) -> dict[str, Any]:
    """``runs/get``: one run with its latest metrics, params, tags and dataset inputs."""
    run = call.runs.get_run(_run_id(call))
    inputs = _dataset_inputs(call, run.run_id)
    outputs = run_outputs_json(call, [run.run_id]).get(run.run_id)
    return {"run": _run_json(run, call.experiments, inputs, outputs)}


def update_run(call: Call) -> dict[str, Any]:
    """``runs/update``: change a run's status (ending it when terminal) or its name."""
    fields = call.fields
    run_id = _run_id(call)
    status = fields.enum("status", _RUN_STATUSES, "") or None
    run_name = fields.text("run_name") or None
    info = call.runs.update_run(
        run_id,
        status=status,
        end_time=fields.integer("end_time"),
        run_name=run_name,
        tags={RUN_NAME_TAG: run_name} if run_name else None,
    )
    return {"run_info": _run_info_json(info, call.experiments)}


def delete_run(call: Call) -> dict[str, Any]:
    """``runs/delete``: mark a run deleted (restore brings it back)."""
    call.runs.delete_runs([_run_id(call)])
    return {}


def restore_run(call: Call) -> dict[str, Any]:
    """``runs/restore``: bring back a deleted run."""
    call.runs.restore_runs([_run_id(call)])
    return {}


def search_runs(call: Call) -> dict[str, Any]:
    """``runs/search``: runs by MLflow's filter grammar and order, one page at a time."""
    fields = call.fields
    experiment_ids = [call.experiments.to_cycleml(e) for e in fields.texts("experiment_ids")]
    found, token = call.runs.search_runs(
        experiment_ids=experiment_ids,
        filter_string=fields.text("filter") or "",
        order_by=fields.texts("order_by") or None,
        max_results=_max_results(call, MAX_RESULTS_DEFAULT, MAX_RESULTS_LIMIT),
        page_token=fields.text("page_token") or None,
        view=_VIEWS[fields.enum("run_view_type", _VIEW_TYPES, "ACTIVE_ONLY")],
    )
    outputs = run_outputs_json(call, [run.run_id for run in found])
    answer: dict[str, Any] = {
        "runs": [_run_json(run, call.experiments, outputs=outputs.get(run.run_id)) for run in found]
    }
    if token:
        answer["next_page_token"] = token
    return answer


# ---- logging -----------------------------------------------------------------------------
def _write(
    call: Call,
    run_id: str,
    *,
    metrics: Sequence[Metric] = (),
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> None:
    """One batch; a ``mlflow.runName`` tag renames the run in the same transaction."""
    if tags and RUN_NAME_TAG in tags:
        call.runs.update_run(
            run_id, run_name=tags[RUN_NAME_TAG], metrics=metrics, params=params, tags=tags
        )
    else:
        call.runs.log_batch(run_id, metrics=metrics, params=params, tags=tags)


def _metric(fields: Mapping[str, Any], call: Call, where: str) -> Metric:
    point = Fields(fields, query=False, path=f"{call.fields.path} ({where})")
    timestamp = point.integer("timestamp", required=True)
    assert timestamp is not None
    return Metric(
        point.required_text("key"), point.number("value"), point.integer("step") or 0, timestamp
    )


def log_metric(call: Call) -> dict[str, Any]:
    """``runs/log-metric``: one metric point."""
    run_id = _run_id(call)
    _write(call, run_id, metrics=[_metric(call.fields.values, call, "metric")])
    return {}


def log_param(call: Call) -> dict[str, Any]:
    """``runs/log-parameter``: one param (a different value for a logged key is refused)."""
    run_id = _run_id(call)
    key = call.fields.required_text("key")
    _write(call, run_id, params={key: call.fields.text("value") or ""})
    return {}


def set_tag(call: Call) -> dict[str, Any]:
    """``runs/set-tag``: set or overwrite one run tag (``mlflow.runName`` renames the run)."""
    run_id = _run_id(call)
    key = call.fields.required_text("key")
    _write(call, run_id, tags={key: call.fields.text("value") or ""})
    return {}


def delete_tag(call: Call) -> dict[str, Any]:
    """``runs/delete-tag``: remove one run tag."""
    call.runs.delete_run_tag(_run_id(call), call.fields.required_text("key"))
    return {}


def _check_batch_size(metrics: int, params: int, tags: int) -> None:
    limits = (
        (metrics, MAX_METRICS_PER_BATCH, "metrics"),
        (params, MAX_PARAMS_TAGS_PER_BATCH, "params"),
        (tags, MAX_PARAMS_TAGS_PER_BATCH, "tags"),
        (metrics + params + tags, MAX_ENTITIES_PER_BATCH, "metrics, params and tags together"),
    )
    for count, limit, what in limits:
        if count > limit:
            raise InvalidInput(
                f"A log-batch request holds {count} {what}; at most {limit} are allowed.",
                hint="Split the batch (MLflow's client does so by itself).",
            )


def log_batch(call: Call) -> dict[str, Any]:
    """``runs/log-batch``: metrics, params and tags of one run in one transaction."""
    fields = call.fields
    run_id = _run_id(call)
    raw_metrics = fields.messages("metrics")
    param_pairs = fields.key_values("params")
    tag_pairs = fields.key_values("tags")
    _check_batch_size(len(raw_metrics), len(param_pairs), len(tag_pairs))
    metrics = [_metric(item, call, f"metrics[{i}]") for i, item in enumerate(raw_metrics)]
    params: dict[str, str] = {}
    for key, value in param_pairs:
        if params.setdefault(key, value) != value:
            raise InvalidInput(
                f"The batch logs param {key!r} twice, as {params[key]!r} and {value!r}.",
                hint="Params are immutable: log each key once.",
            )
    _write(call, run_id, metrics=metrics, params=params, tags=dict(tag_pairs))
    return {}


def _dataset_entity(source: str, name: str, digest: str) -> tuple[str, str]:
    """The lineage entity a logged dataset is: a cycleml dataset version, or MLflow's."""
    if source.startswith("datasets:/"):
        try:
            parsed = parse_dataset_uri(source)
        except InvalidInput:
            parsed = None
        if parsed is not None and parsed.version is not None:
            return "dataset_version", f"{parsed.name}/{parsed.version}"
    return "mlflow_dataset", f"{name}@{digest}"[:256]


def log_inputs(call: Call) -> dict[str, Any]:
    """``runs/log-inputs``: datasets a run read (lineage edges, audit rows and a run tag)."""
    run_id = _run_id(call)
    entries = []
    tags: dict[str, str] = {}
    for index, item in enumerate(call.fields.messages("datasets")):
        where = f"{call.fields.path} (datasets[{index}])"
        dataset_fields = item.get("dataset")
        if not isinstance(dataset_fields, dict):
            raise InvalidInput(f"Missing the dataset of datasets[{index}] in {call.fields.path}.")
        dataset = Fields(dataset_fields, query=False, path=where)
        described = {
            "name": dataset.required_text("name"),
            "digest": dataset.required_text("digest"),
            "source_type": dataset.required_text("source_type"),
            "source": dataset.required_text("source"),
        }
        for optional in ("schema", "profile"):
            if dataset.text(optional):
                described[optional] = dataset.text(optional) or ""
        input_tags = dict(Fields(item, query=False, path=where).key_values("tags"))
        entries.append((described, input_tags))
        try:
            key = check_key(_INPUT_TAG_PREFIX + described["name"], "tag")
        except InvalidInput:
            continue  # a name no tag key can hold: the lineage edge still records it
        tags[key] = f"{described['source']} {described['digest'][:16]}"
    # The tags first: that write checks that the run exists and is active, before any edge.
    if tags:
        call.runs.log_batch(run_id, tags=tags)
    else:
        call.runs.get_run(run_id)
    for described, input_tags in entries:
        kind, entity_id = _dataset_entity(
            described["source"], described["name"], described["digest"]
        )
        call.runs.record_input(
            run_id,
            kind,
            entity_id,
            payload={
                "dataset": described["source"],
                "digest": described["digest"],
                "context": input_tags.get(_CONTEXT_TAG, ""),
                "mlflow_dataset": described,
                "mlflow_tags": input_tags,
            },
        )
    return {}


def _dataset_inputs(call: Call, run_id: str) -> list[dict[str, Any]]:
    """The datasets a run read, from its ``run.log_input`` audit rows, as MLflow shows them."""
    inputs = []
    for record in call.state.db.list_audit(
        entity_kind="run", entity_id=run_id, action="run.log_input"
    ):
        payload = record.payload
        described = payload.get("mlflow_dataset")
        input_tags = payload.get("mlflow_tags")
        if not isinstance(described, dict):  # logged by cycleml's SDK: a datasets:/ URI
            uri = str(payload.get("dataset", ""))
            name = uri.removeprefix("datasets:/").split("/")[0].split("@")[0]
            described = {
                "name": name,
                "digest": str(payload.get("digest", "")),
                "source_type": "cycleml",
                "source": uri,
            }
            context = payload.get("context")
            input_tags = {_CONTEXT_TAG: context} if context else {}
        inputs.append({"tags": _pairs(input_tags or {}), "dataset": described})
    return inputs


# ---- metric history ----------------------------------------------------------------------
def get_metric_history(call: Call) -> dict[str, Any]:
    """``metrics/get-history``: every point of one metric of a run, paged."""
    run_id = _run_id(call)
    points = call.runs.get_metric_history(run_id, call.fields.required_text("metric_key"))
    limit = _max_results(call, MAX_HISTORY_PAGE, MAX_HISTORY_PAGE)
    offset = decode_offset_token(call.fields.text("page_token"))
    answer: dict[str, Any] = {
        "metrics": [_metric_json(point) for point in points[offset : offset + limit]]
    }
    if offset + limit < len(points):
        answer["next_page_token"] = encode_offset_token(offset + limit)
    return answer


def get_metric_history_bulk_interval(call: Call) -> dict[str, Any]:
    """``metrics/get-history-bulk-interval``: one metric of several runs, sampled by step."""
    fields = call.fields
    run_ids = list(dict.fromkeys(fields.texts("run_ids")))
    if not run_ids:
        raise InvalidInput(f"Missing value for the required field 'run_ids' of {fields.path}.")
    if len(run_ids) > MAX_BULK_RUNS:
        raise InvalidInput(
            f"{len(run_ids)} run_ids given; at most {MAX_BULK_RUNS} are allowed per request."
        )
    key = fields.required_text("metric_key")
    start, end = fields.integer("start_step"), fields.integer("end_step")
    if (start is None) != (end is None):
        raise InvalidInput("Give both start_step and end_step, or neither.")
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"start_step {start} is after end_step {end}.")
    limit = _max_results(call, MAX_BULK_RESULTS, MAX_BULK_RESULTS)
    for run_id in run_ids:
        if not is_id(run_id):
            raise NotFound(f"No run with id {run_id!r}.")
    histories = [call.runs.get_metric_history(run_id, key) for run_id in run_ids]
    steps = sample_steps(histories, limit, start, end)
    metrics: list[dict[str, Any]] = []
    for run_id, history in zip(run_ids, histories, strict=True):
        chosen = [point for point in history if point.step in steps]
        if len(chosen) > len(steps):  # many points at one step: sample evenly, keep the ends
            stride = len(chosen) / len(steps)
            chosen = [chosen[int(i * stride)] for i in range(len(steps))] + [chosen[-1]]
            chosen = list(dict.fromkeys(chosen))
        metrics.extend(_metric_json(point, run_id) for point in chosen)
    return {"metrics": metrics}


_GET, _POST, _BOTH = ("GET",), ("POST",), ("GET", "POST")
_ROUTES: tuple[tuple[str, Sequence[str], Handler], ...] = (
    ("experiments/create", _POST, create_experiment),
    ("experiments/get", _GET, get_experiment),
    ("experiments/get-by-name", _GET, get_experiment_by_name),
    ("experiments/search", _BOTH, search_experiments),
    ("experiments/update", _POST, update_experiment),
    ("experiments/delete", _POST, delete_experiment),
    ("experiments/restore", _POST, restore_experiment),
    ("experiments/set-experiment-tag", _POST, set_experiment_tag),
    ("experiments/delete-experiment-tag", _POST, delete_experiment_tag),
    ("runs/create", _POST, create_run),
    ("runs/get", _GET, get_run),
    ("runs/update", _POST, update_run),
    ("runs/delete", _POST, delete_run),
    ("runs/restore", _POST, restore_run),
    ("runs/search", _POST, search_runs),
    ("runs/log-metric", _POST, log_metric),
    ("runs/log-parameter", _POST, log_param),
    ("runs/set-tag", _POST, set_tag),
    ("runs/delete-tag", _POST, delete_tag),
    ("runs/log-batch", _POST, log_batch),
    ("runs/log-inputs", _POST, log_inputs),
    ("metrics/get-history", _GET, get_metric_history),
    ("metrics/get-history-bulk-interval", _GET, get_metric_history_bulk_interval),
)
add_routes(router, _ROUTES)
