"""One rendering of every error the team server answers with, in its protocol's shape.

Every error is a :class:`~cycleml.errors.CycleMLError` by the time it is rendered (FastAPI's
request-validation errors and unknown routes are turned into ``InvalidInput`` and
``NotFound`` first), and :func:`error_response` answers it:

* cycleml's routes (``/api/v1/...``, ``/health`` ...) with cycleml's one shape,
  ``{"error": {"code", "message", "hint", "details"}}``;
* MLflow's routes (``/api/2.0/mlflow/...``, ``/ajax-api/2.0/mlflow/...``,
  ``/api/2.0/mlflow-artifacts/...``) with MLflow's ``{"error_code", "message"}``, the keys
  its client reads (``get_experiment_by_name`` turns ``RESOURCE_DOES_NOT_EXIST`` into
  ``None``), plus cycleml's ``hint`` and ``details``.

The HTTP status is the error's own ``status_code``, except that MLflow's routes answer bad
input and taken names with 400 as MLflow's server does.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from cycleml.errors import CycleMLError, to_dict

__all__ = ["MLFLOW_PREFIXES", "error_response", "is_mlflow_path", "mlflow_error_code"]

#: Path prefixes of MLflow's REST API (its tracking, registry and artifact services).
MLFLOW_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow", "/api/3.0/mlflow")

# MLflow's codes (databricks_pb2.ErrorCode names) for cycleml's error codes.
_MLFLOW_CODES = {
    "not_found": "RESOURCE_DOES_NOT_EXIST",
    "already_exists": "RESOURCE_ALREADY_EXISTS",
    "invalid_input": "INVALID_PARAMETER_VALUE",
    "invalid_spec": "INVALID_PARAMETER_VALUE",
    "param_conflict": "INVALID_PARAMETER_VALUE",
    "validation_failed": "INVALID_PARAMETER_VALUE",
    "invalid_state": "INVALID_STATE",
    "gate_failed": "INVALID_STATE",
    "payload_too_large": "INVALID_PARAMETER_VALUE",
    "unsupported_media_type": "BAD_REQUEST",
    "permission_denied": "PERMISSION_DENIED",
    "unauthenticated": "UNAUTHENTICATED",
    "store_error": "TEMPORARILY_UNAVAILABLE",
}

# The HTTP status MLflow's server sends with these codes, where it differs from cycleml's
# (a name taken and a re-logged param are 400 there, not 409). Other errors keep cycleml's
# status: MLflow's 500 for INVALID_STATE would make its client retry a request that cannot
# succeed, and 413 and 415 say more than 400.
_MLFLOW_STATUS = {
    "already_exists": 400,
    "invalid_input": 400,
    "invalid_spec": 400,
    "param_conflict": 400,
    "validation_failed": 400,
}


def is_mlflow_path(path: str) -> bool:
    """Whether ``path`` is one of MLflow's routes (answered in MLflow's error shape)."""
    return path.startswith(MLFLOW_PREFIXES)


def mlflow_error_code(code: str) -> str:
    """MLflow's ``error_code`` for cycleml's error ``code``."""
    return _MLFLOW_CODES.get(code, "INTERNAL_ERROR")


def error_response(request: Request, error: CycleMLError) -> JSONResponse:
    """``error`` as the JSON answer to ``request``, in the shape of the route's protocol."""
    body: dict[str, Any] = to_dict(error)
    status = error.status_code
    request_id = getattr(request.state, "request_id", None)
    if request_id is not None:
        body["error"]["details"] = {**(body["error"]["details"] or {}), "request_id": request_id}
    if is_mlflow_path(request.url.path):
        inner = body["error"]
        body = {
            "error_code": mlflow_error_code(inner["code"]),
            "message": inner["message"],
            "hint": inner["hint"],
            "details": inner["details"] or {},
        }
        status = _MLFLOW_STATUS.get(error.code, status)
    headers = {"X-Request-ID": request_id} if request_id else None
    return JSONResponse(body, status_code=status, headers=headers)
