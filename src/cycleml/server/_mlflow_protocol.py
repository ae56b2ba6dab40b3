"""MLflow's REST conventions, shared by the routers that speak MLflow's API.

MLflow's client sends a request's fields as proto3 JSON: in the body for POST, PATCH and
DELETE, as query parameters for GET (a repeated field is a repeated key). Numbers may come
as JSON numbers or as strings (proto3 JSON writes int64 as strings, and doubles that are
not finite as ``"NaN"``, ``"Infinity"``, ``"-Infinity"``); :class:`Fields` reads either
form. Answers are proto3 JSON the same way, which the client parses leniently (unknown
fields are ignored, int64 fields accept numbers).

Every route is served at ``/api/2.0/mlflow/<path>`` and ``/ajax-api/2.0/mlflow/<path>``
(the prefix MLflow's web UI uses); :func:`add_routes` registers a handler at both.

MLflow knows one experiment by the id ``"0"``: ``Default``, where runs go when no
experiment is set. cycleml's ids are 32 hex characters, and its own ``Default`` experiment
(``cycleml.tracking.DEFAULT_EXPERIMENT``, where cycleml's fluent API logs without an
experiment) is that one: :class:`ExperimentIds` translates ``"0"`` to its id on the way
in and back on the way out, creating it on first use as MLflow's server does at start.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from cycleml.errors import AlreadyExists, InvalidInput, NotFound
from cycleml.ids import is_id
from cycleml.server._app import ServerState, server_state
from cycleml.server._routes import decode_offset_token, encode_offset_token
from cycleml.tracking import DEFAULT_EXPERIMENT, SqlRunRepository

__all__ = [
    "DEFAULT_EXPERIMENT_ID",
    "MLFLOW_ROUTE_PREFIXES",
    "Call",
    "ExperimentIds",
    "Fields",
    "Handler",
    "add_routes",
    "decode_offset_token",
    "double",
    "encode_offset_token",
]

#: MLflow's id of the ``Default`` experiment.
DEFAULT_EXPERIMENT_ID = "0"
#: Where MLflow's client (``/api``) and web UI (``/ajax-api``) find the 2.0 routes.
MLFLOW_ROUTE_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_CACHE_ATTRIBUTE = "mlflow_default_experiment_id"


def double(value: float) -> float | str:
    """A double as proto3 JSON writes it: non-finite values as ``"NaN"`` or ``"[-]Infinity"``."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


class Fields:
    """The fields of one request, from its JSON body or its query string.

    Args:
        values: Field name to value: a JSON object's members, or for a query string each
            name to the list of its values.
        query: Whether ``values`` came from a query string (every value a list of strings).
        path: The request's path, for error messages.
    """

    def __init__(self, values: Mapping[str, Any], *, query: bool, path: str) -> None:
        self.values = values
        self.query = query
        self.path = path

    def _invalid(self, name: str, expected: str, value: Any) -> InvalidInput:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:80] + "..."
        return InvalidInput(
            f"Invalid value {shown} for field {name!r} of {self.path}: expected {expected}.",
            details={"field": name},
        )

    def _missing(self, name: str) -> InvalidInput:
        return InvalidInput(
            f"Missing value for the required field {name!r} of {self.path}.",
            hint="See the MLflow REST API reference for the request's fields.",
            details={"field": name},
        )

    def _one(self, name: str) -> Any:
        value = self.values.get(name)
        if self.query and isinstance(value, list):
            return value[-1] if value else None
        return value

    def has(self, name: str) -> bool:
        """Whether the request gives a (non-null) value for ``name``."""
        return self._one(name) is not None

    def text(self, name: str, *, required: bool = False) -> str | None:
        """A string field (``None`` when absent; a required one must be non-empty)."""
        value = self._one(name)
        if value is None or (required and value == ""):
            if required:
                raise self._missing(name)
            return None
        if not isinstance(value, str):
            raise self._invalid(name, "a string", value)
        return value

    def required_text(self, name: str) -> str:
        """A string field that must be present and non-empty."""
        value = self.text(name, required=True)
        assert value is not None
        return value

    def integer(self, name: str, *, required: bool = False) -> int | None:
        """An integer field: a JSON number or a numeric string (proto3 JSON's int64)."""
        value = self._one(name)
        if value is None or value == "":
            if required:
                raise self._missing(name)
            return None
        if isinstance(value, bool):
            raise self._invalid(name, "an integer", value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise self._invalid(name, "an integer", value)

    def number(self, name: str) -> float:
        """A required double: a JSON number, a numeric string, ``NaN`` or ``[-]Infinity``."""
        value = self._one(name)
        if value is None or value == "":
            raise self._missing(name)
        if isinstance(value, bool):
            raise self._invalid(name, "a number", value)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            if value in _NON_FINITE:
                return _NON_FINITE[value]
            try:
                return float(value)
            except ValueError:
                pass
        raise self._invalid(name, "a number", value)

    def enum(self, name: str, names: Sequence[str], default: str) -> str:
        """An enum field by name or by its proto number (1 for the first of ``names``)."""
        value = self._one(name)
        if value is None or value == "":
            return default
        if isinstance(value, str) and value.upper() in names:
            return value.upper()
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
        if isinstance(value, str) and value.isdigit():
            number = int(value)
        if number is not None and 1 <= number <= len(names):
            return names[number - 1]
        raise self._invalid(name, f"one of {', '.join(names)}", value)

    def texts(self, name: str) -> list[str]:
        """A repeated string field (empty when absent)."""
        value = self.values.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self._invalid(name, "a list of strings", value)
        return list(value)

    def messages(self, name: str) -> list[Mapping[str, Any]]:
        """A repeated message field (a JSON list of objects; empty when absent)."""
        value = self.values.get(name)
        if value is None:
            return []
        if self.query or not isinstance(value, list):
            raise self._invalid(name, "a list of objects", value)
        for item in value:
            if not isinstance(item, dict):
                raise self._invalid(name, "a list of objects", value)
        return list(value)

    def key_values(self, name: str) -> list[tuple[str, str]]:
        """A repeated ``{key, value}`` field (tags, params) as pairs, in the order given."""
        pairs = []
        for item in self.messages(name):
            key, value = item.get("key"), item.get("value", "")
            if not isinstance(key, str) or not key:
                raise self._invalid(f"{name}.key", "a non-empty string", key)
            if value is None:
                value = ""
            if not isinstance(value, str):
                raise self._invalid(f"{name}.value", "a string", value)
            pairs.append((key, value))
        return pairs

    def run_id(self) -> str:
        """The run a request names: ``run_id``, or MLflow's older ``run_uuid``."""
        value = self.text("run_id") or self.text("run_uuid")
        if not value:
            raise self._missing("run_id")
        return value


class ExperimentIds:
    """Translates between MLflow's experiment ids and cycleml's for one request.

    ``"0"`` is cycleml's experiment named ``Default``; every other id is cycleml's own.
    The Default experiment's id is looked up once per worker (kept on ``app.state``).
    """

    def __init__(self, repository: SqlRunRepository, app_state: Any, artifact_root: str) -> None:
        self.repository = repository
        self.app_state = app_state
        self.artifact_root = artifact_root
        self._looked_up = False

    def default_id(self, *, create: bool) -> str | None:
        """cycleml's id of the Default experiment (created when missing and ``create``)."""
        cached: str | None = getattr(self.app_state, _CACHE_ATTRIBUTE, None)
        if cached is not None or (self._looked_up and not create):
            return cached
        found = self.repository.get_experiment_by_name(DEFAULT_EXPERIMENT)
        if found is None and create:
            try:
                found = self.repository.create_experiment(
                    DEFAULT_EXPERIMENT, artifact_location=self.artifact_root
                )
            except AlreadyExists:  # another worker or request created it just now
                found = self.repository.get_experiment_by_name(DEFAULT_EXPERIMENT)
        self._looked_up = True
        if found is None:
            return None
        setattr(self.app_state, _CACHE_ATTRIBUTE, found.experiment_id)
        return found.experiment_id

    def to_cycleml(self, experiment_id: str) -> str:
        """cycleml's id for an MLflow experiment id (raise :class:`NotFound` if malformed)."""
        if experiment_id == DEFAULT_EXPERIMENT_ID:
            default = self.default_id(create=True)
            assert default is not None
            return default
        if not is_id(experiment_id):
            raise NotFound(
                f"No experiment with id {experiment_id!r}.",
                hint="Experiment ids are '0' (Default) or 32 hex characters; list them with "
                "mlflow.search_experiments() or `cycleml experiments list`.",
            )
        return experiment_id

    def to_mlflow(self, experiment_id: str) -> str:
        """MLflow's id for a cycleml experiment id (``"0"`` for Default)."""
        default = self.default_id(create=False)
        return DEFAULT_EXPERIMENT_ID if experiment_id == default else experiment_id


@dataclass
class Call:
    """One request as a handler sees it: its fields and the worker's stores."""

    state: ServerState
    fields: Fields
    runs: SqlRunRepository
    experiments: ExperimentIds
    request: Request | None = None  # for the permission checks (None: not checked)


#: A route's handler: reads the call, answers with a JSON-ready dict.
Handler = Callable[[Call], Mapping[str, Any]]


async def _fields(request: Request) -> Fields:
    """The request's fields; a route's path parameters (``logged-models/{model_id}``) too."""
    path = request.url.path
    if request.method in ("GET", "DELETE") and not await request.body():
        values: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            values.setdefault(key, []).append(value)
        for key, value in request.path_params.items():
            values[key] = [value]
        return Fields(values, query=True, path=path)
    body = await request.body()
    if not body.strip():
        return Fields(dict(request.path_params), query=False, path=path)
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"The body of {request.method} {path} is not valid JSON: {exc}.",
            hint="Send the request's fields as a JSON object (Content-Type: application/json).",
        ) from exc
    if not isinstance(parsed, dict):
        raise InvalidInput(
            f"The body of {request.method} {path} must be a JSON object, "
            f"not {type(parsed).__name__}."
        )
    return Fields({**parsed, **request.path_params}, query=False, path=path)


def _checked(handler: Handler, call: Call, path: str, method: str) -> Mapping[str, Any]:
    """The handler's answer, once the user's permission for the route is checked."""
    from cycleml.server._auth_mlflow import authorize_mlflow  # it needs Call: import here

    authorize_mlflow(call, path, method)
    return handler(call)


def _endpoint(handler: Handler, path: str) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        fields = await _fields(request)
        state = server_state(request)
        runs = SqlRunRepository(state.db)
        call = Call(
            state=state,
            fields=fields,
            runs=runs,
            experiments=ExperimentIds(runs, request.app.state, state.artifacts.uri),
            request=request,
        )
        answer = await run_in_threadpool(_checked, handler, call, path, request.method)
        body = json.dumps(answer, separators=(",", ":"), allow_nan=False)
        return Response(body, media_type="application/json")

    endpoint.__doc__ = handler.__doc__
    endpoint.__name__ = handler.__name__
    return endpoint


def add_routes(router: APIRouter, routes: Iterable[tuple[str, Sequence[str], Handler]]) -> None:
    """Serve each ``(path, methods, handler)`` under both of MLflow's 2.0 prefixes."""
    for path, methods, handler in routes:
        endpoint = _endpoint(handler, path)
        for prefix in MLFLOW_ROUTE_PREFIXES:
            router.add_api_route(
                f"{prefix}/{path}",
                endpoint,
                methods=list(methods),
                include_in_schema=False,
                name=f"mlflow.{path}" if prefix.startswith("/api") else f"mlflow-ajax.{path}",
            )
