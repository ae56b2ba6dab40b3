"""MLflow's model registry API (``ModelRegistryService``) over cycleml's registry stage.

The unmodified ``mlflow`` client registers, searches, aliases and loads models through
these routes, and what it writes is cycleml's registry: ``cycleml models list`` shows the
models, each version keeps its run's latest metrics as its snapshot (as
:func:`cycleml.models.register_model` does) with the same lineage edge run -> version and
audit rows.

Where the two differ, the routes keep MLflow's wire and cycleml's rules:

* **Sources.** MLflow 3 registers ``models:/m-<id>`` (a logged model, see
  :mod:`._mlflow_models`); cycleml stores the logged model's run files,
  ``runs:/<run>/<artifact_path>``, and shows MLflow ``models:/m-<id>`` and its ``model_id``
  again. ``mlflow-artifacts:/<exp>/<run>/artifacts/<path>`` becomes ``runs:/<run>/<path>``.
  ``model-versions/get-download-uri`` answers the proxy URI of those files.
* **Stages** change through :meth:`cycleml.registry.Models.transition`, so the project's
  deploy gates apply to MLflow clients too (a failing gate is a 400 naming each failure).
* **Versions** are strings on the wire (proto3 JSON's int64) and always ``READY``: cycleml
  registers a version after its files are stored, never before.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from fastapi import APIRouter

from cycleml.errors import InvalidInput, NotFound
from cycleml.ids import is_id
from cycleml.registry import Models, ModelVersion, RegisteredModel, SqlModelRepository
from cycleml.server._auth import grant_creator, readable
from cycleml.server._mlflow_artifacts import (
    mlflow_artifact_uri,
    mlflow_model_artifact_uri,
    parse_artifact_path,
)
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
from cycleml.store import RunUri, parse_uri
from cycleml.tracking._logged_models import LoggedModel, is_logged_model_id

__all__ = ["router"]

router = APIRouter(tags=["mlflow"])

_STAGES = ("None", "Staging", "Production", "Archived")

MODEL_FILTER = FilterGrammar(
    what="registered model",
    strings=("name",),
    numbers=("creation_timestamp", "last_updated_timestamp"),
    example="name LIKE 'churn%' AND tags.team = 'fraud'",
    order_keys=("name", "creation_timestamp", "last_updated_timestamp"),
    tiebreak="name",
    default_order=("name ASC",),
)
VERSION_FILTER = FilterGrammar(
    what="model version",
    strings=("name", "run_id", "source_path"),
    numbers=("version_number", "creation_timestamp", "last_updated_timestamp"),
    example="name = 'churn' AND run_id IN ('<id>', '<id>')",
    order_keys=("name", "version_number", "creation_timestamp", "last_updated_timestamp"),
    tiebreak="version_number",
    default_order=("name ASC", "version_number DESC"),
    lists=("name", "run_id"),
)
_MODEL_PAGE = (100, 1000)  # MLflow's default and largest max_results
_VERSION_PAGE = (10_000, 200_000)


# ---- sources: cycleml's run files <-> MLflow's logged models and proxy URIs ---------------
def _logged_model_of(call: Call, version: ModelVersion) -> LoggedModel | None:
    try:
        source = parse_uri(version.source)
    except InvalidInput:
        return None
    if not isinstance(source, RunUri) or not source.path:
        return None
    return call.runs.find_logged_model(source.run_id, source.path)


def _cycleml_source(call: Call, source: str, model_id: str | None) -> tuple[str, str | None]:
    """cycleml's ``(source, run_id)`` for the source (and ``model_id``) MLflow registers."""
    if model_id is None and source.startswith("models:/") and is_logged_model_id(source[8:]):
        model_id = source[8:]
    if model_id:
        model = call.runs.get_logged_model(model_id)
        return (model.run_uri or source), model.source_run_id
    if source.startswith("mlflow-artifacts:/"):
        where = parse_artifact_path(source[len("mlflow-artifacts:/") :], file=False)
        if where.owner == "logged_model":
            model = call.runs.get_logged_model(where.owner_id)
            return (model.run_uri or source), model.source_run_id
        return f"runs:/{where.owner_id}/{where.path}".rstrip("/"), where.owner_id
    try:
        parsed = parse_uri(source)
    except InvalidInput:
        return source, None  # e.g. s3://...: kept as given, it names no run files
    return source, parsed.run_id if isinstance(parsed, RunUri) else None


def _download_uri(call: Call, version: ModelVersion) -> str:
    logged = _logged_model_of(call, version)
    if logged is not None:
        experiment = call.experiments.to_mlflow(logged.experiment_id)
        return mlflow_model_artifact_uri(experiment, logged.model_id)
    try:
        source = parse_uri(version.source)
    except InvalidInput:
        return version.source
    if isinstance(source, RunUri):
        run = call.runs.get_run(source.run_id)
        root = mlflow_artifact_uri(call.experiments.to_mlflow(run.info.experiment_id), run.run_id)
        return f"{root}/{source.path}" if source.path else root
    return version.source


# ---- rendering (proto3 JSON) -------------------------------------------------------------
def _pairs(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in values.items()]


def _version_json(call: Call, version: ModelVersion) -> dict[str, Any]:
    logged = _logged_model_of(call, version)
    answer: dict[str, Any] = {
        "name": version.name,
        "version": str(version.version),
        "creation_timestamp": version.creation_time,
        "last_updated_timestamp": version.last_updated_time,
        "user_id": version.user_id,
        "current_stage": version.current_stage,
        "description": version.description,
        "source": f"models:/{logged.model_id}" if logged else version.source,
        "status": "READY",
        "tags": _pairs(version.tags),
        "aliases": list(version.aliases),
    }
    if version.run_id:
        answer["run_id"] = version.run_id
    if logged is not None:
        answer["model_id"] = logged.model_id
    return answer


def _model_json(call: Call, model: RegisteredModel, *, latest: bool = True) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "name": model.name,
        "creation_timestamp": model.creation_time,
        "last_updated_timestamp": model.last_updated_time,
        "description": model.description,
        "tags": _pairs(model.tags),
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(model.aliases.items())],
    }
    if latest and model.latest_version is not None:
        versions = _registry(call).list_model_versions(model.name)
        answer["latest_versions"] = [_version_json(call, v) for v in _latest_per_stage(versions)]
    return answer


def _latest_per_stage(versions: Sequence[ModelVersion], stages: Sequence[str] = ()) -> list[Any]:
    latest: dict[str, ModelVersion] = {}
    for version in versions:  # oldest first: later ones replace earlier
        latest[version.current_stage] = version
    wanted = [s.capitalize() if s.lower() != "none" else "None" for s in stages] or _STAGES
    return [latest[stage] for stage in wanted if stage in latest]


# ---- reading requests --------------------------------------------------------------------
def _registry(call: Call) -> SqlModelRepository:
    return SqlModelRepository(call.state.db)


def _name(call: Call, field: str = "name") -> str:
    return call.fields.required_text(field)


def _version(call: Call) -> str:
    value = call.fields.integer("version", required=True)
    assert value is not None
    return str(value)


def _page(call: Call, sizes: tuple[int, int]) -> tuple[int, int]:
    default, limit = sizes
    size = call.fields.integer("max_results") or default
    if not 1 <= size <= limit:
        raise InvalidInput(
            f"Invalid max_results {size}: expected 1 to {limit}.", details={"field": "max_results"}
        )
    return decode_offset_token(call.fields.text("page_token")), size


def _paged(items: list[Any], offset: int, size: int) -> tuple[list[Any], dict[str, str]]:
    more = {"next_page_token": encode_offset_token(offset + size)}
    return items[offset : offset + size], (more if offset + size < len(items) else {})


# ---- registered models -------------------------------------------------------------------
def create_registered_model(call: Call) -> dict[str, Any]:
    """``registered-models/create``."""
    model = _registry(call).create_registered_model(
        _name(call),
        description=call.fields.text("description") or "",
        tags=dict(call.fields.key_values("tags")),
    )
    if call.request is not None:
        grant_creator(call.request, "registered_model", model.name)
    return {"registered_model": _model_json(call, model)}


def get_registered_model(call: Call) -> dict[str, Any]:
    """``registered-models/get``."""
    return {
        "registered_model": _model_json(call, _registry(call).get_registered_model(_name(call)))
    }


def update_registered_model(call: Call) -> dict[str, Any]:
    """``registered-models/update``: a new description."""
    model = _registry(call).update_registered_model(
        _name(call), description=call.fields.text("description") or ""
    )
    return {"registered_model": _model_json(call, model)}


def rename_registered_model(call: Call) -> dict[str, Any]:
    """``registered-models/rename``."""
    model = _registry(call).rename_registered_model(_name(call), _name(call, "new_name"))
    return {"registered_model": _model_json(call, model)}


def delete_registered_model(call: Call) -> dict[str, Any]:
    """``registered-models/delete``."""
    _registry(call).delete_registered_model(_name(call))
    return {}


def _model_view(model: RegisteredModel) -> SimpleNamespace:
    return SimpleNamespace(
        model=model,
        name=model.name,
        creation_timestamp=model.creation_time,
        last_updated_timestamp=model.last_updated_time,
        tags=model.tags,
    )


def search_registered_models(call: Call) -> dict[str, Any]:
    """``registered-models/search``: filter (name, tags), order and page the models."""
    terms = parse_filter(call.fields.text("filter"), MODEL_FILTER)
    views = [
        _model_view(m) for m in _readable_models(call, _registry(call).list_registered_models())
    ]
    ordered = order_entities(
        filter_entities(views, terms, absent_tags_differ=True),
        call.fields.texts("order_by"),
        MODEL_FILTER,
    )
    page, more = _paged(ordered, *_page(call, _MODEL_PAGE))
    return {"registered_models": [_model_json(call, v.model) for v in page], **more}


def set_registered_model_tag(call: Call) -> dict[str, Any]:
    """``registered-models/set-tag``."""
    value = call.fields.text("value") or ""
    _registry(call).set_registered_model_tag(_name(call), call.fields.required_text("key"), value)
    return {}


def delete_registered_model_tag(call: Call) -> dict[str, Any]:
    """``registered-models/delete-tag``."""
    _registry(call).delete_registered_model_tag(_name(call), call.fields.required_text("key"))
    return {}


def set_alias(call: Call) -> dict[str, Any]:
    """``registered-models/alias`` (POST): point an alias at a version."""
    _registry(call).set_alias(_name(call), _version(call), call.fields.required_text("alias"))
    return {}


def delete_alias(call: Call) -> dict[str, Any]:
    """``registered-models/alias`` (DELETE)."""
    _registry(call).delete_alias(_name(call), call.fields.required_text("alias"))
    return {}


def get_version_by_alias(call: Call) -> dict[str, Any]:
    """``registered-models/alias`` (GET): the version an alias names."""
    found = _registry(call).get_version_by_alias(_name(call), call.fields.required_text("alias"))
    return {"model_version": _version_json(call, found)}


def get_latest_versions(call: Call) -> dict[str, Any]:
    """``registered-models/get-latest-versions``: the newest version in each stage asked."""
    versions = _registry(call).list_model_versions(_name(call))
    latest = _latest_per_stage(versions, call.fields.texts("stages"))
    return {"model_versions": [_version_json(call, v) for v in latest]}


# ---- model versions ----------------------------------------------------------------------
def create_model_version(call: Call) -> dict[str, Any]:
    """``model-versions/create``: the next version, its run's latest metrics as snapshot."""
    fields = call.fields
    source, run_id = _cycleml_source(
        call, fields.required_text("source"), fields.text("model_id") or None
    )
    given_run = fields.text("run_id") or None
    if given_run is not None and run_id is not None and given_run != run_id:
        raise InvalidInput(
            f"run_id {given_run} is not the run of source {fields.required_text('source')!r} "
            f"({run_id}).",
            hint="Leave run_id out, or pass the run the model's files belong to.",
        )
    run_id = run_id or given_run
    metrics: dict[str, float] = {}
    if run_id is not None:
        if not is_id(run_id):
            raise NotFound(f"No run with id {run_id!r}.")
        metrics = dict(call.runs.get_run(run_id).data.metrics)
    version = _registry(call).create_model_version(
        _name(call),
        source=source,
        run_id=run_id,
        metrics=metrics,
        description=fields.text("description") or "",
        tags=dict(fields.key_values("tags")),
    )
    return {"model_version": _version_json(call, version)}


def get_model_version(call: Call) -> dict[str, Any]:
    """``model-versions/get``."""
    version = _registry(call).get_model_version(_name(call), _version(call))
    return {"model_version": _version_json(call, version)}


def update_model_version(call: Call) -> dict[str, Any]:
    """``model-versions/update``: a new description."""
    version = _registry(call).update_model_version(
        _name(call), _version(call), description=call.fields.text("description") or ""
    )
    return {"model_version": _version_json(call, version)}


def delete_model_version(call: Call) -> dict[str, Any]:
    """``model-versions/delete``."""
    _registry(call).delete_model_version(_name(call), _version(call))
    return {}


def transition_stage(call: Call) -> dict[str, Any]:
    """``model-versions/transition-stage``: through the project's deploy gates."""
    fields = call.fields
    archive = fields.values.get("archive_existing_versions") in (True, "true", "True")
    models = Models(call.state.settings, repository=_registry(call))
    version = models.transition(
        _name(call), _version(call), fields.required_text("stage"), archive_existing=archive
    )
    return {"model_version": _version_json(call, version)}


def get_download_uri(call: Call) -> dict[str, Any]:
    """``model-versions/get-download-uri``: where the version's files are read from."""
    version = _registry(call).get_model_version(_name(call), _version(call))
    return {"artifact_uri": _download_uri(call, version)}


def set_model_version_tag(call: Call) -> dict[str, Any]:
    """``model-versions/set-tag``."""
    key, value = call.fields.required_text("key"), call.fields.text("value") or ""
    _registry(call).set_model_version_tag(_name(call), _version(call), key, value)
    return {}


def delete_model_version_tag(call: Call) -> dict[str, Any]:
    """``model-versions/delete-tag``."""
    key = call.fields.required_text("key")
    _registry(call).delete_model_version_tag(_name(call), _version(call), key)
    return {}


def _version_view(version: ModelVersion) -> SimpleNamespace:
    return SimpleNamespace(
        version=version,
        name=version.name,
        run_id=version.run_id,
        source_path=version.source,
        version_number=version.version,
        creation_timestamp=version.creation_time,
        last_updated_timestamp=version.last_updated_time,
        tags=version.tags,
    )


def search_model_versions(call: Call) -> dict[str, Any]:
    """``model-versions/search``: filter (name, run_id, source, tags), order and page."""
    terms = parse_filter(call.fields.text("filter"), VERSION_FILTER)
    registry = _registry(call)
    names = [t.value for t in terms if t.kind == "attribute" and t.key == "name" and t.op == "="]
    if names:  # the usual name = '...' filter reads one model's versions, not all
        models = [str(names[0])] if _exists(registry, str(names[0])) else []
    else:
        models = [m.name for m in registry.list_registered_models()]
    if call.request is not None:
        allowed = readable(call.request, "registered_model", models)
        models = [name for name in models if name in allowed]
    views = [_version_view(v) for name in models for v in registry.list_model_versions(name)]
    ordered = order_entities(
        filter_entities(views, terms, absent_tags_differ=True),
        call.fields.texts("order_by"),
        VERSION_FILTER,
    )
    page, more = _paged(ordered, *_page(call, _VERSION_PAGE))
    return {"model_versions": [_version_json(call, v.version) for v in page], **more}


def _readable_models(call: Call, models: list[RegisteredModel]) -> list[RegisteredModel]:
    if call.request is None:
        return models
    allowed = readable(call.request, "registered_model", (m.name for m in models))
    return [m for m in models if m.name in allowed]


def _exists(registry: SqlModelRepository, name: str) -> bool:
    try:
        registry.get_registered_model(name)
    except NotFound:
        return False
    return True


_GET, _POST, _PATCH, _DELETE = ("GET",), ("POST",), ("PATCH",), ("DELETE",)
_BOTH = ("GET", "POST")
_ROUTES: tuple[tuple[str, Sequence[str], Handler], ...] = (
    ("registered-models/create", _POST, create_registered_model),
    ("registered-models/get", _GET, get_registered_model),
    ("registered-models/update", _PATCH, update_registered_model),
    ("registered-models/rename", _POST, rename_registered_model),
    ("registered-models/delete", _DELETE, delete_registered_model),
    ("registered-models/search", _GET, search_registered_models),
    ("registered-models/set-tag", _POST, set_registered_model_tag),
    ("registered-models/delete-tag", _DELETE, delete_registered_model_tag),
    ("registered-models/alias", _POST, set_alias),
    ("registered-models/alias", _DELETE, delete_alias),
    ("registered-models/alias", _GET, get_version_by_alias),
    ("registered-models/get-latest-versions", _BOTH, get_latest_versions),
    ("model-versions/create", _POST, create_model_version),
    ("model-versions/get", _GET, get_model_version),
    ("model-versions/update", _PATCH, update_model_version),
    ("model-versions/delete", _DELETE, delete_model_version),
    ("model-versions/search", _GET, search_model_versions),
    ("model-versions/transition-stage", _POST, transition_stage),
    ("model-versions/get-download-uri", _GET, get_download_uri),
    ("model-versions/set-tag", _POST, set_model_version_tag),
    ("model-versions/delete-tag", _DELETE, delete_model_version_tag),
)
add_routes(router, _ROUTES)
