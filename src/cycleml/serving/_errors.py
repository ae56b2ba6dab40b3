"""Error bodies of the model server, in the shape each protocol's clients read.

Every error starts as cycleml's one shape (:func:`cycleml.errors.to_dict`, with the request
id in ``details``); :func:`error_body` then renders it for the route's protocol:

* cycleml's routes (``/predict``, ``/feedback``, ``/health``, ...) keep it:
  ``{"error": {"code", "message", "hint", "details"}}``;
* MLflow's scoring routes (``/invocations``, ``/ping``, ``/version``) answer with MLflow's
  ``{"error_code", "message"}``, the keys MLflow's clients and tests read, plus cycleml's
  ``hint`` and ``details``;
* the Open Inference Protocol's routes (``/v2``, ``/v2/...``) answer
  ``{"error": "<message>"}``, as the protocol specifies (the hint ends the message; the
  request id is in the ``X-Request-ID`` header).
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["MLFLOW_PATHS", "error_body", "mlflow_error_code", "protocol_of"]

#: The routes of MLflow's scoring server that cycleml serves.
MLFLOW_PATHS = frozenset({"/invocations", "/ping", "/version"})

# MLflow's codes (its ``databricks_pb2.ErrorCode`` names) for cycleml's error codes. MLflow's
# scoring server says BAD_REQUEST for any request it cannot read and INVALID_PARAMETER_VALUE
# when the data does not fit the model's schema; it has no codes of its own for a refused
# media type or an oversized body, which are requests it cannot read as well.
_MLFLOW_CODES = {
    "signature_mismatch": "INVALID_PARAMETER_VALUE",
    "validation_failed": "INVALID_PARAMETER_VALUE",
    "not_found": "ENDPOINT_NOT_FOUND",
    "permission_denied": "PERMISSION_DENIED",
    "store_error": "TEMPORARILY_UNAVAILABLE",
    "internal_error": "INTERNAL_ERROR",
}


def protocol_of(path: str) -> Literal["mlflow", "v2", "cycleml"]:
    """Which protocol's error shape the route at ``path`` answers with."""
    if path in MLFLOW_PATHS:
        return "mlflow"
    if path == "/v2" or path.startswith("/v2/"):
        return "v2"
    return "cycleml"


def mlflow_error_code(status: int, code: str) -> str:
    """MLflow's ``error_code`` for an error of HTTP ``status`` and cycleml ``code``."""
    known = _MLFLOW_CODES.get(code)
    if known is not None:
        return known
    return "BAD_REQUEST" if 400 <= status < 500 else "INTERNAL_ERROR"


def error_body(path: str, status: int, error: dict[str, Any]) -> dict[str, Any]:
    """The body of an error answered at ``path``.

    Args:
        path: The request's path (it picks the protocol).
        status: The HTTP status of the answer.
        error: cycleml's error object: ``{"code", "message", "hint", "details"}``.
    """
    protocol = protocol_of(path)
    if protocol == "mlflow":
        return {
            "error_code": mlflow_error_code(status, str(error.get("code"))),
            "message": error["message"],
            "hint": error.get("hint"),
            "details": error.get("details") or {},
        }
    if protocol == "v2":
        hint = error.get("hint")
        return {"error": f"{error['message']} Hint: {hint}" if hint else str(error["message"])}
    return {"error": error}
