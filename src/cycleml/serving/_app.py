"""The model server's HTTP surface (FastAPI): thin routes over :class:`ScoringService`.

Routes: MLflow's scoring server (``POST /invocations``, ``GET /ping``, ``GET /version``),
``POST /predict`` (records in, predictions and probabilities out), the Open Inference
Protocol v2 (``/v2/...``), ``POST /feedback``, ``GET /metrics`` (Prometheus),
``GET /health``. Every error carries the request id, in the shape its protocol's clients
read (:mod:`cycleml.serving._errors`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import reprlib
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import pandas as pd
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cycleml.errors import CycleMLError, InvalidInput, NotFound, PayloadTooLarge, to_dict
from cycleml.serving._errors import error_body
from cycleml.serving._metrics import CONTENT_TYPE_LATEST
from cycleml.serving._protocols import (
    content_kind,
    json_ready,
    parse_invocations,
    parse_json,
    parse_records,
)
from cycleml.serving._scoring import ScoringService, ServedModel
from cycleml.serving._v2 import BINARY_HEADER, EXTENSIONS, encode_outputs, parse_infer
from cycleml.serving._v2 import model_metadata as v2_metadata

__all__ = ["DEFAULT_MAX_BODY_BYTES", "REQUEST_KEY_HEADER", "create_app"]

_log = logging.getLogger("cycleml.serving")

DEFAULT_MAX_BODY_BYTES = 10 * 2**20
#: How many of the request ids it scored last a server remembers, to tell ``POST /feedback``
#: that ids whose rows are not in the prediction log yet (still in its memory) are known.
RECENT_IDS = 100_000
REQUEST_ID_HEADER = "X-Request-ID"
#: Requests with the same value of this header always reach the same arm of a canary split.
REQUEST_KEY_HEADER = "X-Request-Key"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/-]{1,128}$")


def create_app(
    service: ScoringService,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    record_feedback: Callable[[list[dict[str, Any]]], int] | None = None,
    on_startup: tuple[Callable[[], Awaitable[None]], ...] = (),
    on_shutdown: tuple[Callable[[], Awaitable[None]], ...] = (),
) -> FastAPI:
    """Build the server app for ``service``.

    Args:
        service: Routes and scores requests.
        max_body_bytes: Larger request bodies get a 413.
        record_feedback: Stores ``{"request_id", "label"}`` records (``POST /feedback``)
            and returns how many (a :class:`~cycleml.serving.RecordedFeedback` also says
            which request ids are not in the log yet); ``None`` answers 404 there (a
            server without a deployment has no log).
        on_startup: Awaited when the server starts (e.g. watch a deployment for changes).
        on_shutdown: Awaited at shutdown, first thing (stop watchers); then shadow scoring
            drains, the batchers stop, and ``service.close()`` flushes the prediction log.
    """

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for hook in on_startup:
            await hook()
        yield
        for hook in on_shutdown:
            await hook()
        await service.close()

    primary = service.arms.primary
    app = FastAPI(
        title=f"cycleml model server: {primary.name}",
        version=primary.version,
        description=_description(service),
        lifespan=lifespan,
    )
    app.state.service = service

    app.add_middleware(_RequestIds)

    @app.exception_handler(CycleMLError)
    async def cycleml_error(request: Request, exc: CycleMLError) -> JSONResponse:
        return _error(request, exc.status_code, to_dict(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        if exc.status_code == 405:
            code = "method_not_allowed"
        body: dict[str, Any] = {
            "error": {"code": code, "message": str(exc.detail), "hint": None, "details": {}}
        }
        return _error(request, exc.status_code, body)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        error = InvalidInput(f"The request is not valid: {exc.errors()[:3]}.")
        return _error(request, 400, to_dict(error))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("request %s failed", getattr(request.state, "request_id", "?"))
        body = {"error": {
            "code": "internal_error",
            "message": f"The server failed while answering: {type(exc).__name__}: {exc}",
            "hint": "Quote the request id when reporting this.", "details": {},
        }}  # fmt: skip
        return _error(request, 500, body)

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_body_bytes:
            raise _too_large(int(declared), max_body_bytes)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise _too_large(size, max_body_bytes)
            chunks.append(chunk)
        return b"".join(chunks)

    async def scored(
        request: Request,
        frame: pd.DataFrame,
        *,
        proba: bool,
        model: ServedModel | None = None,
        nan_floats: bool = False,
    ) -> Any:
        outcome = await service.score(
            frame,
            request_id=request.state.request_id,
            key=request.headers.get(REQUEST_KEY_HEADER),
            proba=proba,
            model=model,
            nan_floats=nan_floats,
        )
        served = outcome.model
        service.metrics.observe(
            model=served.name, version=served.version, route=_route_label(request), status=200,
            seconds=time.perf_counter() - request.state.started, rows=len(frame),
        )  # fmt: skip
        request.state.observed = True
        if record_feedback is not None:  # a deployment: its rows go to the prediction log
            scored_here.add(outcome.row_ids)
        return outcome

    schema = _record_schema(primary)
    scored_here = _RecentIds(RECENT_IDS)

    @app.post(
        "/invocations",
        summary="Score rows (MLflow scoring protocol)",
        openapi_extra=_body_doc(schema, mlflow=True),
        responses={200: {"description": '{"predictions": [...]}'}},
    )
    async def invocations(request: Request) -> JSONResponse:
        frame = parse_invocations(await read_body(request), request.headers.get("content-type"))
        # As MLflow: a null in a float column reaches the model as NaN (see docs/serving.md).
        outcome = await scored(request, frame, proba=False, nan_floats=True)
        return JSONResponse({"predictions": json_ready(outcome.result.predictions)})

    @app.get("/ping", summary="Liveness (MLflow's scoring server, which its clients poll)")
    async def ping() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/version", summary="The cycleml version (MLflow's scoring server: its version)")
    async def version() -> Response:
        from cycleml import __version__

        return Response(__version__, media_type="text/plain")

    @app.post(
        "/predict",
        summary="Score records; classifiers also return class probabilities",
        openapi_extra=_body_doc(schema, mlflow=False),
    )
    async def predict(request: Request) -> JSONResponse:
        _require_json(request)
        frame = parse_records(parse_json(await read_body(request)))
        outcome = await scored(request, frame, proba=True)
        served, result = outcome.model, outcome.result
        body: dict[str, Any] = {
            "request_id": outcome.request_id,
            "model": {"name": served.name, "version": served.version, "arm": outcome.arm},
            "predictions": json_ready(result.predictions),
        }
        if result.probabilities is not None:
            body["probabilities"] = json_ready(result.probabilities)
            body["classes"] = json_ready(list(served.model.classes or []))
        if len(outcome.row_ids) > 1:
            body["row_ids"] = outcome.row_ids
        return JSONResponse(body)

    @app.post("/feedback", summary="Record ground truth for earlier predictions")
    async def feedback(request: Request) -> JSONResponse:
        _require_json(request)
        if record_feedback is None:
            raise NotFound(
                "This server has no prediction log, so it takes no feedback.",
                hint="Serve a deployment (cycleml serve --deployment NAME).",
            )
        payload = parse_json(await read_body(request))
        records = payload if isinstance(payload, list) else [payload]
        for i, record in enumerate(records):
            if not isinstance(record, dict) or not isinstance(record.get("request_id"), str):
                raise InvalidInput(
                    f"Feedback record {i} must be an object with a string request_id and a "
                    f"label; received {reprlib.repr(record)}.",
                    hint='Send {"request_id": "…", "label": 1}.',
                )
            if "label" not in record:
                raise InvalidInput(f"Feedback record {i} has no label.")
        recorded = await run_in_threadpool(record_feedback, records)
        # Not in the log yet, and not scored here lately (its row may wait in memory).
        unknown = [i for i in getattr(recorded, "unknown", ()) if i not in scored_here]
        body: dict[str, Any] = {"recorded": int(recorded), "unknown_request_ids": unknown}
        if unknown:
            body["hint"] = (
                f"{len(unknown)} of these request ids match no prediction logged so far. Their "
                "labels are kept and join their predictions when these are logged (by another "
                "process of this deployment, say); a label whose prediction is never logged "
                "is never used. A request of several rows is logged row by row, as "
                "<request id>/0, <request id>/1, ...: label each row."
            )
        return JSONResponse(body)

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(service.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health", summary="Liveness and the served models")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": _served(service)}

    _v2_routes(app, service, read_body, scored)
    return app


def _v2_routes(
    app: FastAPI,
    service: ScoringService,
    read_body: Callable[[Request], Awaitable[bytes]],
    scored: Callable[..., Awaitable[Any]],
) -> None:
    """Open Inference Protocol v2 (KServe, Triton): health, metadata and infer, with the
    binary tensor data extension (:mod:`cycleml.serving._v2`)."""

    def model_or_404(name: str, version: str | None) -> ServedModel:
        found = service.find(name, version)
        if found is None:
            served = ", ".join(f"{m['name']}/{m['version']}" for m in _served(service))
            raise NotFound(
                f"No model {name!r}{'' if version is None else f' version {version}'} is "
                f"served here; this server serves {served}.",
                hint="GET /v2/models/<name> with a name from /health.",
            )
        return found

    @app.get("/v2/health/live", summary="v2: the server is live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready", summary="v2: every served model is ready")
    async def ready() -> dict[str, bool]:
        return {"ready": True}

    @app.get("/v2", summary="v2: server metadata")
    async def server_metadata() -> dict[str, Any]:
        from cycleml import __version__

        return {"name": "cycleml", "version": __version__, "extensions": list(EXTENSIONS)}

    async def infer(request: Request, model: ServedModel) -> Response:
        parsed = parse_infer(await read_body(request), request.headers.get(BINARY_HEADER), model)
        proba = any(spec.name == "predict_proba" for spec, _ in parsed.outputs)
        outcome = await scored(request, parsed.frame, proba=proba, model=model)
        result = outcome.result
        tensors, binary = encode_outputs(parsed.outputs, result.predictions, result.probabilities)
        body = {"model_name": model.name, "model_version": model.version,
                "id": parsed.id or outcome.request_id, "outputs": tensors}  # fmt: skip
        if not any(as_binary for _, as_binary in parsed.outputs):
            return JSONResponse(body)
        header = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
        return Response(header + binary, media_type="application/octet-stream",
                        headers={BINARY_HEADER: str(len(header))})  # fmt: skip

    @app.get("/v2/models/{name}", summary="v2: model metadata")
    async def model_metadata(name: str) -> dict[str, Any]:
        return v2_metadata(model_or_404(name, None))

    @app.get("/v2/models/{name}/versions/{version}", summary="v2: model version metadata")
    async def version_metadata(name: str, version: str) -> dict[str, Any]:
        return v2_metadata(model_or_404(name, version))

    @app.get("/v2/models/{name}/ready", summary="v2: the model is ready")
    async def model_ready(name: str) -> dict[str, Any]:
        return {"name": model_or_404(name, None).name, "ready": True}

    @app.get("/v2/models/{name}/versions/{version}/ready", summary="v2: the version is ready")
    async def version_ready(name: str, version: str) -> dict[str, Any]:
        return {"name": model_or_404(name, version).name, "ready": True}

    @app.post("/v2/models/{name}/infer", summary="v2: inference")
    async def model_infer(name: str, request: Request) -> Response:
        return await infer(request, model_or_404(name, None))

    @app.post("/v2/models/{name}/versions/{version}/infer", summary="v2: version inference")
    async def version_infer(name: str, version: str, request: Request) -> Response:
        return await infer(request, model_or_404(name, version))


class _RecentIds:
    """The newest ``size`` request ids a server scored, oldest forgotten first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, ids: Iterable[str]) -> None:
        for request_id in ids:
            self._ids[request_id] = None
            self._ids.move_to_end(request_id)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._ids


class _RequestIds:
    """Give every request an id (``X-Request-ID`` when valid) and a start time.

    A plain ASGI middleware: Starlette's ``@app.middleware("http")`` wraps each request in
    extra tasks and streams, which costs more than parsing a one-row request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        text = given.decode("latin-1")
        request_id = text if _REQUEST_ID.match(text) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"], state["started"] = request_id, time.perf_counter()
        header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] != b"x-request-id"]
                message["headers"] = [*headers, header]
            await send(message)

        await self.app(scope, receive, send_with_id)


def _error(request: Request, status: int, body: dict[str, Any]) -> JSONResponse:
    """Answer with ``body`` (cycleml's error shape) in the shape of the route's protocol."""
    request_id = getattr(request.state, "request_id", None)
    body["error"]["details"] = {**(body["error"].get("details") or {}), "request_id": request_id}
    service: ScoringService | None = getattr(request.app.state, "service", None)
    started = getattr(request.state, "started", None)
    if service is not None and started is not None and request.url.path != "/metrics":
        primary = service.arms.primary
        service.metrics.observe(
            model=primary.name, version=primary.version, route=_route_label(request),
            status=status,
            seconds=time.perf_counter() - started, rows=0,
        )  # fmt: skip
    # A 500 is rendered outside the middleware stack, so the id header is set here too.
    headers = {REQUEST_ID_HEADER: request_id} if request_id else None
    rendered = error_body(request.url.path, status, body["error"])
    return JSONResponse(rendered, status_code=status, headers=headers)


def _route_label(request: Request) -> str:
    """The matched route's template (bounded label values), or ``unmatched``."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


def _too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body has {size:,} bytes, more than the server's limit of {limit:,}.",
        hint="Send fewer rows per request, or start the server with a larger --max-body-bytes.",
    )


def _require_json(request: Request) -> None:
    content_kind(request.headers.get("content-type"), ("application/json",))


def _served(service: ScoringService) -> list[dict[str, Any]]:
    arms = service.arms
    out: list[dict[str, Any]] = [
        {"name": arms.primary.name, "version": arms.primary.version, "arm": "primary"}
    ]
    if arms.canary is not None:
        out.append({"name": arms.canary.name, "version": arms.canary.version, "arm": "canary",
                    "percent": arms.percent})  # fmt: skip
    if arms.shadow is not None:
        out.append({"name": arms.shadow.name, "version": arms.shadow.version, "arm": "shadow"})
    return out


def _record_schema(model: ServedModel) -> dict[str, Any]:
    signature = model.model.signature
    if signature is None:
        return {"type": "object", "additionalProperties": True}
    schema: dict[str, Any] = signature.json_schema()
    return schema


def _body_doc(record: dict[str, Any], *, mlflow: bool) -> dict[str, Any]:
    records = {"type": "array", "items": record, "minItems": 1}
    if mlflow:
        body: dict[str, Any] = {
            "oneOf": [
                {"type": "object", "required": ["dataframe_records"],
                 "properties": {"dataframe_records": records}},
                {"type": "object", "required": ["dataframe_split"], "properties": {
                    "dataframe_split": {"type": "object", "required": ["columns", "data"],
                                        "properties": {"columns": {"type": "array"},
                                                       "data": {"type": "array"}}}}},
                {"type": "object", "required": ["instances"],
                 "properties": {"instances": records}},
                {"type": "object", "required": ["inputs"], "properties": {"inputs": records}},
            ]
        }  # fmt: skip
        content = {"application/json": {"schema": body}, "text/csv": {"schema": {"type": "string"}}}
    else:
        body = {"oneOf": [
            {"type": "object", "required": ["records"], "properties": {"records": records}},
            records,
        ]}  # fmt: skip
        content = {"application/json": {"schema": body}}
    return {"requestBody": {"required": True, "content": content}}


def _description(service: ScoringService) -> str:
    arms = service.arms
    lines = [f"Serves **{arms.primary.name}** version {arms.primary.version}."]
    signature = arms.primary.model.signature
    if signature is not None:
        cols = ", ".join(f"`{c.name}` ({c.type}{', nullable' if c.nullable else ''})"
                         for c in signature.inputs)  # fmt: skip
        lines.append(f"Input columns: {cols}.")
    if arms.deployment:
        lines.append(f"Deployment `{arms.deployment}` (revision {arms.revision}).")
    return "\n\n".join(lines)
