"""The team server's app: one FastAPI app that each stage's router plugs into.

:func:`create_server` opens the worker's stores once (one :class:`~cycleml.store.Database`
with its connection pool, one artifact store) and keeps them in :class:`ServerState` on
``app.state.server``; routers read it through :func:`server_state` and stay thin over the
stages' services. Every route's errors go through :func:`~cycleml.server._errors.
error_response`, so each API answers in one JSON shape: FastAPI's own validation errors
and unknown routes are turned into cycleml errors first.

A router is a module with a module-level ``router`` (:class:`fastapi.APIRouter`), listed in
:data:`ROUTERS`; adding a stage's API is adding its module there.
"""

from __future__ import annotations

import importlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cycleml.errors import CycleMLError, InvalidInput, NotFound
from cycleml.server._auth import AuthConfig, Authenticator, authenticate, authorize_v1
from cycleml.server._errors import error_response, is_mlflow_path
from cycleml.server._metrics import ServerMetrics
from cycleml.settings import Settings, resolve_settings
from cycleml.store import ArtifactStore, Database, open_artifact_store, open_database

__all__ = [
    "PUBLIC_ROUTERS",
    "ROUTERS",
    "ServerState",
    "create_server",
    "server_state",
]

#: The modules whose ``router`` the app includes, in this order.
ROUTERS: tuple[str, ...] = (
    "cycleml.server._health",
    "cycleml.server._tracking",
    "cycleml.server._registry",
    "cycleml.server._deployments",
    "cycleml.server._monitors",
    "cycleml.server._datasets",
    "cycleml.server._blobs",
    "cycleml.server._journal",
    "cycleml.server._mlflow_tracking",
    "cycleml.server._mlflow_models",
    "cycleml.server._mlflow_registry",
    "cycleml.server._mlflow_artifacts",
)

#: Routers answered without credentials (liveness, version and Prometheus scrapes).
PUBLIC_ROUTERS = frozenset({"cycleml.server._health"})

_log = logging.getLogger("cycleml.server")


@dataclass
class ServerState:
    """What every request of one worker shares: settings, stores and metrics."""

    settings: Settings
    db: Database
    artifacts: ArtifactStore
    metrics: ServerMetrics

    def close(self) -> None:
        """Release the database's connections."""
        self.db.close()


def server_state(request: Request) -> ServerState:
    """The worker's :class:`ServerState` (a FastAPI dependency for routers)."""
    state: ServerState = request.app.state.server
    return state


def create_server(
    settings: Settings | None = None,
    *,
    metadata_uri: str | None = None,
    artifact_uri: str | None = None,
    auth: AuthConfig | None = None,
) -> FastAPI:
    """Build the team server's app on ``settings`` (default: resolved from the environment).

    Args:
        settings: Where the stores are.
        metadata_uri: Overrides the settings' metadata database.
        artifact_uri: Overrides the settings' artifact root (a folder or fsspec URI).
        auth: Whether requests need credentials, and the default permission (default: off,
            as for a server on loopback; ``cycleml server`` turns it on elsewhere).

    Raises:
        StoreError: The metadata database cannot be opened.
    """
    base = settings or resolve_settings()
    if metadata_uri is not None or artifact_uri is not None:
        base = resolve_settings(
            home=base.home,
            metadata_uri=metadata_uri or base.metadata_uri,
            artifact_uri=artifact_uri or base.artifact_uri,
            actor=base.actor,
        )
    if base.artifact_uri.startswith(("http://", "https://")):
        raise InvalidInput(
            f"The team server's artifact root is {base.artifact_uri!r}, a server's address: it "
            "would send the blobs it receives to a server (itself, if CYCLEML_TRACKING_URI "
            "names it).",
            hint="Give the server a folder or an object store: --artifact-uri s3://bucket/cycleml "
            "(or unset CYCLEML_TRACKING_URI where the server runs).",
        )
    db = open_database(base)
    pool = db.engine.pool
    state = ServerState(
        settings=base,
        db=db,
        artifacts=open_artifact_store(base.artifact_uri),
        metrics=ServerMetrics(
            pool_checked_out=lambda: float(getattr(pool, "checkedout", lambda: 0)()),
            pool_size=lambda: float(getattr(pool, "size", lambda: 0)()),
        ),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            state.close()

    from cycleml import __version__

    app = FastAPI(
        title="cycleml server",
        version=__version__,
        description="cycleml's REST API (/api/v1) and MLflow's (/api/2.0/mlflow).",
        lifespan=lifespan,
    )
    app.state.server = state
    app.state.authenticator = Authenticator(db, auth or AuthConfig())
    for module in ROUTERS:
        router = importlib.import_module(module).router
        checks = [] if module in PUBLIC_ROUTERS else [Depends(authenticate)]
        if router.prefix == "/api/v1":
            checks.append(Depends(authorize_v1))
        app.include_router(router, dependencies=checks)
    _add_error_handlers(app)
    app.add_middleware(_Observe, metrics=state.metrics)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


#: The one error body, as the OpenAPI document describes it (MLflow's routes use theirs).
_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "hint": {"type": ["string", "null"]},
                "details": {"type": "object"},
            },
        }
    },
}


_MLFLOW_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error_code", "message"],
    "properties": {
        "error_code": {"type": "string"},
        "message": {"type": "string"},
        "hint": {"type": ["string", "null"]},
        "details": {"type": "object"},
    },
}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, saying what the server answers to bad input: a 400 in the error
    shape (FastAPI would advertise its own 422 validation body, which this server never sends)."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path, operations in schema.get("paths", {}).items():
            shape = "MlflowError" if is_mlflow_path(path) else "Error"
            error = {"$ref": f"#/components/schemas/{shape}"}
            for operation in operations.values():
                responses = operation.get("responses", {})
                if responses.pop("422", None) is not None:
                    responses.setdefault(
                        "400",
                        {
                            "description": "Invalid request",
                            "content": {"application/json": {"schema": error}},
                        },
                    )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        components["Error"] = _ERROR_SCHEMA
        components["MlflowError"] = _MLFLOW_ERROR_SCHEMA
        app.openapi_schema = schema
    return app.openapi_schema


class _Observe:
    """Give each request an id and count it under its route's template (plain ASGI).

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware
    runs the app in a task and re-streams its response, about 1 ms a request.
    """

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        request_id = given.decode("latin-1") if given else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                if not any(k.lower() == b"x-request-id" for k, _ in headers):
                    headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            self.metrics.observe(
                route=getattr(route, "path", None) or "(unmatched)",
                method=scope["method"],
                status=status,
                seconds=time.perf_counter() - started,
            )


def _add_error_handlers(app: FastAPI) -> None:
    async def cycleml_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CycleMLError)
        return error_response(request, exc)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = [_problem(error) for error in exc.errors()]
        error = InvalidInput(
            f"Invalid request to {request.url.path}: {'; '.join(problems)}.",
            hint="See the route's schema in /docs (OpenAPI at /openapi.json).",
            details={"problems": problems},
        )
        return error_response(request, error)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        error: CycleMLError
        if exc.status_code == 404:
            error = NotFound(
                f"No route {request.method} {request.url.path}.",
                hint="The API's routes are listed in /docs (OpenAPI at /openapi.json).",
            )
        else:
            error = CycleMLError(str(exc.detail))
            error.status_code = exc.status_code
            error.code = "method_not_allowed" if exc.status_code == 405 else "http_error"
        return error_response(request, error)

    async def unexpected(request: Request, exc: Exception) -> Response:
        _log.exception("unexpected error answering %s %s", request.method, request.url.path)
        return error_response(
            request,
            CycleMLError(
                "The server failed to answer this request.",
                hint="The server's log has the traceback; quote the request id.",
            ),
        )

    app.add_exception_handler(CycleMLError, cycleml_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def _problem(error: Any) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    return f"{where or 'body'}: {error.get('msg', 'invalid')}"
