"""MLflow 3's logged models (``logged-models``) and a run's outputs (``runs/outputs``).

``mlflow.<flavor>.log_model`` in MLflow 3 creates a logged model, records it as the run's
output, uploads the files to ``<experiment>/models/<model_id>/artifacts`` through the
artifact proxy, finalizes the model as READY and, with ``registered_model_name``, registers
``models:/m-<id>``. These routes keep the models in the tracking stage
(:mod:`cycleml.tracking._logged_models`): their files are also the source run's files at
the model's ``artifact_path``, so cycleml's registry, loaders and lineage see an ordinary
``runs:/<run>/<path>`` model.

Searches filter and order in memory (an experiment holds few models) with MLflow's grammar
for them: ``name``, ``model_id``, ``model_type``, ``status``, ``source_run_id``, the
creation and update times, ``tags.<key>`` and ``params.<key>``. cycleml keeps no metrics per
logged model (a metric's ``model_id`` is not stored), so ``metrics.<key>`` and a search's
``datasets`` are refused with that reason rather than answered wrongly.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from fastapi import APIRouter

from cycleml.errors import InvalidInput
from cycleml.server._mlflow_artifacts import folder_listing, mlflow_model_artifact_uri
from cycleml.server._mlflow_protocol import (
    Call,
    Handler,
    add_routes,
    decode_offset_token,
    encode_offset_token,
)
from cycleml.server._mlflow_search import (
    FilterGrammar,
    filter_entities,
    order_entities,
    parse_filter,
)
from cycleml.store import safe_relpath
from cycleml.tracking._logged_models import LoggedModel

__all__ = ["logged_model_json", "router"]

router = APIRouter(tags=["mlflow"])

#: MLflow's proto names of a logged model's statuses (``LoggedModelStatus``), by cycleml's.
_STATUS_NAMES = {
    "PENDING": "LOGGED_MODEL_PENDING",
    "READY": "LOGGED_MODEL_READY",
    "FAILED": "LOGGED_MODEL_UPLOAD_FAILED",
}
_STATUS_FROM_PROTO = {value: key for key, value in _STATUS_NAMES.items()}
_STATUS_NUMBERS = {1: "PENDING", 2: "READY", 3: "FAILED"}
_MAX_RESULTS_DEFAULT = 100
_MAX_RESULTS_LIMIT = 1000

LOGGED_MODEL_FILTER = FilterGrammar(
    what="logged model",
    strings=("name", "model_id", "model_type", "status", "source_run_id"),
    numbers=(
        "creation_timestamp",
        "creation_time",
        "last_updated_timestamp",
        "last_updated_time",
    ),
    example="name = 'model' AND params.alpha = '0.5'",
    order_keys=(
        "name",
        "model_id",
        "model_type",
        "status",
        "source_run_id",
        "creation_timestamp",
        "creation_time",
        "last_updated_timestamp",
        "last_updated_time",
    ),
    tiebreak="model_id",
    default_order=("creation_timestamp DESC",),
    params=True,
)


def _pairs(values: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in values.items()]


def logged_model_json(model: LoggedModel, call: Call) -> dict[str, Any]:
    """A logged model as MLflow's proto3 JSON (``LoggedModel{info, data}``)."""
    experiment_id = call.experiments.to_mlflow(model.experiment_id)
    info: dict[str, Any] = {
        "model_id": model.model_id,
        "experiment_id": experiment_id,
        "name": model.name,
        "artifact_uri": mlflow_model_artifact_uri(experiment_id, model.model_id),
        "creation_timestamp_ms": model.creation_time,
        "last_updated_timestamp_ms": model.last_updated_time,
        "model_type": model.model_type,
        "status": _STATUS_NAMES[model.status],
        "status_message": model.status_message,
        "tags": _pairs(model.tags),
    }
    if model.source_run_id is not None:
        info["source_run_id"] = model.source_run_id
    return {"info": info, "data": {"params": _pairs(model.params), "metrics": []}}


def _model_id(call: Call) -> str:
    return call.fields.required_text("model_id")


def create_logged_model(call: Call) -> dict[str, Any]:
    """``POST logged-models``: a PENDING model of an experiment, maybe of a run."""
    fields = call.fields
    experiment_id = call.experiments.to_cycleml(fields.required_text("experiment_id"))
    name = fields.text("name") or f"model-{secrets.token_hex(4)}"  # MLflow names it too
    model = call.runs.create_logged_model(
        experiment_id,
        name=name,
        model_type=fields.text("model_type") or "",
        source_run_id=fields.text("source_run_id") or None,
        params=dict(fields.key_values("params")),
        tags=dict(fields.key_values("tags")),
    )
    return {"model": logged_model_json(model, call)}


def get_logged_model(call: Call) -> dict[str, Any]:
    """``GET logged-models/{model_id}``."""
    return {"model": logged_model_json(call.runs.get_logged_model(_model_id(call)), call)}


def _status(call: Call) -> str:
    value = call.fields.values.get("status")
    if isinstance(value, str) and value in _STATUS_FROM_PROTO:
        return _STATUS_FROM_PROTO[value]
    if isinstance(value, int) and not isinstance(value, bool) and value in _STATUS_NUMBERS:
        return _STATUS_NUMBERS[value]
    raise InvalidInput(
        f"Invalid value {value!r} for field 'status' of {call.fields.path}: expected "
        "LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED.",
        details={"field": "status"},
    )


def finalize_logged_model(call: Call) -> dict[str, Any]:
    """``PATCH logged-models/{model_id}``: the upload finished (READY) or failed."""
    model = call.runs.finalize_logged_model(_model_id(call), _status(call))
    return {"model": logged_model_json(model, call)}


def delete_logged_model(call: Call) -> dict[str, Any]:
    """``DELETE logged-models/{model_id}``: marked deleted; files and lineage stay."""
    call.runs.delete_logged_model(_model_id(call))
    return {}


def set_logged_model_tags(call: Call) -> dict[str, Any]:
    """``PATCH logged-models/{model_id}/tags``."""
    call.runs.set_logged_model_tags(_model_id(call), dict(call.fields.key_values("tags")))
    return {}


def delete_logged_model_tag(call: Call) -> dict[str, Any]:
    """``DELETE logged-models/{model_id}/tags/{tag_key}``."""
    call.runs.delete_logged_model_tag(_model_id(call), call.fields.required_text("tag_key"))
    return {}


def log_logged_model_params(call: Call) -> dict[str, Any]:
    """``POST logged-models/{model_id}/params``."""
    call.runs.log_logged_model_params(_model_id(call), dict(call.fields.key_values("params")))
    return {}


def _view(model: LoggedModel) -> SimpleNamespace:
    """A model under the names MLflow's filter and ``order_by`` use."""
    return SimpleNamespace(
        model=model,
        name=model.name,
        model_id=model.model_id,
        model_type=model.model_type,
        status=model.status,
        source_run_id=model.source_run_id,
        creation_timestamp=model.creation_time,
        creation_time=model.creation_time,
        last_updated_timestamp=model.last_updated_time,
        last_updated_time=model.last_updated_time,
        tags=model.tags,
        params=model.params,
    )


def _order_by(call: Call) -> list[str]:
    items = []
    for clause in call.fields.messages("order_by"):
        field = clause.get("field_name")
        if not isinstance(field, str) or not field:
            raise InvalidInput("Each order_by item needs a field_name.")
        if field.startswith("metrics."):
            raise InvalidInput(
                f"Cannot order logged models by {field!r}: cycleml keeps no metrics per "
                "logged model.",
                hint="Order by name, creation_timestamp or another attribute.",
            )
        items.append(f"{field} {'ASC' if clause.get('ascending', True) else 'DESC'}")
    return items


def search_logged_models(call: Call) -> dict[str, Any]:
    """``POST logged-models/search``: filter, order and page an experiment's models."""
    fields = call.fields
    text = fields.text("filter") or ""
    if "metrics." in text or fields.messages("datasets"):
        raise InvalidInput(
            f"Cannot search logged models by metrics ({text!r}): cycleml keeps no metrics per "
            "logged model.",
            hint="Search by name, status, source_run_id, params.<key> or tags.<key>.",
        )
    terms = parse_filter(text, LOGGED_MODEL_FILTER)
    experiment_ids = [call.experiments.to_cycleml(i) for i in fields.texts("experiment_ids")]
    models = [_view(m) for m in call.runs.search_logged_models(experiment_ids)]
    ordered = order_entities(filter_entities(models, terms), _order_by(call), LOGGED_MODEL_FILTER)
    limit = fields.integer("max_results") or _MAX_RESULTS_DEFAULT
    if not 1 <= limit <= _MAX_RESULTS_LIMIT:
        raise InvalidInput(f"Invalid max_results {limit}: expected 1 to {_MAX_RESULTS_LIMIT}.")
    offset = decode_offset_token(fields.text("page_token"))
    page = ordered[offset : offset + limit]
    answer: dict[str, Any] = {"models": [logged_model_json(v.model, call) for v in page]}
    if offset + limit < len(ordered):
        answer["next_page_token"] = encode_offset_token(offset + limit)
    return answer


def list_logged_model_artifacts(call: Call) -> dict[str, Any]:
    """``GET logged-models/{model_id}/artifacts/directories``: one folder of the model."""
    model_id = _model_id(call)
    raw = call.fields.text("artifact_directory_path")
    folder = safe_relpath(raw) if raw else ""
    model = call.runs.get_logged_model(model_id)
    entries = call.runs.list_logged_model_artifacts(model_id, folder)
    files = folder_listing(entries, folder)
    for item in files:  # this route names files from the model's root, as MLflow does
        item["path"] = f"{folder}/{item['path']}" if folder else item["path"]
    experiment_id = call.experiments.to_mlflow(model.experiment_id)
    return {"root_uri": mlflow_model_artifact_uri(experiment_id, model_id), "files": files}


def log_outputs(call: Call) -> dict[str, Any]:
    """``POST runs/outputs``: logged models the run produced, each at a step."""
    outputs: list[tuple[str, int]] = []
    for item in call.fields.messages("models"):
        model_id, step = item.get("model_id"), item.get("step", 0)
        if not isinstance(model_id, str) or not model_id:
            raise InvalidInput("Each output model needs a model_id.", details={"field": "models"})
        if isinstance(step, str) and step.lstrip("-").isdigit():
            step = int(step)
        if isinstance(step, bool) or not isinstance(step, int):
            raise InvalidInput(f"Invalid step {step!r} of output model {model_id}.")
        outputs.append((model_id, step))
    call.runs.log_run_outputs(call.fields.run_id(), outputs)
    return {}


def run_outputs_json(call: Call, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each run's ``outputs`` field (``{"model_outputs": [{model_id, step}]}``)."""
    found = call.runs.list_run_outputs(run_ids)
    return {
        run_id: {"model_outputs": [{"model_id": m, "step": s} for m, s in outputs]}
        for run_id, outputs in found.items()
    }


_GET, _POST, _PATCH, _DELETE = ("GET",), ("POST",), ("PATCH",), ("DELETE",)
_ROUTES: tuple[tuple[str, Sequence[str], Handler], ...] = (
    ("logged-models", _POST, create_logged_model),
    ("logged-models/search", _POST, search_logged_models),
    ("logged-models/{model_id}", _GET, get_logged_model),
    ("logged-models/{model_id}", _PATCH, finalize_logged_model),
    ("logged-models/{model_id}", _DELETE, delete_logged_model),
    ("logged-models/{model_id}/tags", _PATCH, set_logged_model_tags),
    ("logged-models/{model_id}/tags/{tag_key}", _DELETE, delete_logged_model_tag),
    ("logged-models/{model_id}/params", _POST, log_logged_model_params),
    ("logged-models/{model_id}/artifacts/directories", _GET, list_logged_model_artifacts),
    ("runs/outputs", _POST, log_outputs),
)
add_routes(router, _ROUTES)
