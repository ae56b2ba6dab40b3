"""The one exception tree of cycleml.

Every error cycleml raises on purpose derives from :class:`CycleMLError`. Each class
carries the HTTP status the REST API maps it to and inherits the built-in exception that
callers already catch (``KeyError`` for a missing thing, ``ValueError`` for bad input)::

    CycleMLError (Exception)                      500
    ├── InvalidInput (ValueError)                 400   bad argument, filter, URI or path
    │   ├── SpecError                             422   cycleml.yaml is malformed or wrong
    │   ├── ParamConflict                         409   a param re-logged with another value
    │   ├── PayloadTooLarge                       413   a request body over the server's limit
    │   └── UnsupportedMediaType                  415   a request body in a format not accepted
    ├── NotFound (KeyError)                       404   unknown run, experiment, model, ...
    ├── AlreadyExists                             409   a unique name is taken
    ├── InvalidState                              409   the entity is not in a state that allows it
    │   └── GateFailed                            409   a deploy gate refused a model version
    ├── ValidationFailed                          422   data or model failed validation
    │   ├── SignatureError                        422   model input does not match the signature
    │   └── ModelIntegrityError                   422   a model folder's files fail their sha256
    ├── Unauthenticated                           401   no valid credentials were sent
    ├── PermissionDenied                          403   the actor may not do this
    └── StoreError                                503   the metadata or artifact store failed

Messages say what happened, what was received and what to do, so the CLI can print them
as they are and the API can send them in its one JSON error shape (:func:`to_dict`); a
REST client raises what the server sent as the same class again (:func:`from_dict`).

Warnings have their own small tree, so callers can filter or turn them into errors::

    CycleMLWarning (UserWarning)
    └── ExtraColumnsWarning                 input columns not in a model signature, dropped
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyExists",
    "CycleMLError",
    "CycleMLWarning",
    "ExtraColumnsWarning",
    "GateFailed",
    "InvalidInput",
    "InvalidState",
    "ModelIntegrityError",
    "NotFound",
    "ParamConflict",
    "PayloadTooLarge",
    "PermissionDenied",
    "SignatureError",
    "SpecError",
    "StoreError",
    "Unauthenticated",
    "UnsupportedMediaType",
    "ValidationFailed",
    "from_dict",
    "to_dict",
]


class CycleMLError(Exception):
    """Root of every error cycleml raises on purpose.

    Args:
        message: What happened, what was received and what to do about it.
        hint: An optional last sentence telling the user how to fix it.
        details: Structured facts for machines (the API's ``details`` field).
    """

    status_code: int = 500
    code: str = "internal_error"

    def __init__(
        self, message: str, *, hint: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        self.message = message
        self.hint = hint
        self.details: dict[str, Any] = dict(details or {})
        super().__init__(message)

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} Hint: {self.hint}"
        return self.message


class InvalidInput(CycleMLError, ValueError):
    """An argument, filter string, URI or path is not acceptable."""

    status_code = 400
    code = "invalid_input"


class SpecError(InvalidInput):
    """``cycleml.yaml`` cannot be read, or a field in it is wrong."""

    status_code = 422
    code = "invalid_spec"


class ParamConflict(InvalidInput):
    """A run's param was logged again with a different value (params are immutable)."""

    status_code = 409
    code = "param_conflict"


class PayloadTooLarge(InvalidInput):
    """A request body is larger than the server accepts."""

    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(InvalidInput):
    """A request body's content type is not one the endpoint reads."""

    status_code = 415
    code = "unsupported_media_type"


class NotFound(CycleMLError, KeyError):
    """The named run, experiment, model, version or artifact does not exist."""

    status_code = 404
    code = "not_found"

    # KeyError quotes its argument in str(); keep the readable message instead.
    def __str__(self) -> str:
        return CycleMLError.__str__(self)


class AlreadyExists(CycleMLError):
    """A name that must be unique is already taken."""

    status_code = 409
    code = "already_exists"


class InvalidState(CycleMLError):
    """The entity exists but its state does not allow the operation."""

    status_code = 409
    code = "invalid_state"


class GateFailed(InvalidState):
    """A deploy gate refused a model version; ``details['failures']`` lists why."""

    code = "gate_failed"


class ValidationFailed(CycleMLError):
    """Data or a model failed validation."""

    status_code = 422
    code = "validation_failed"


class SignatureError(ValidationFailed):
    """Model input does not match the model's signature.

    ``details["errors"]`` holds one entry per failing column (the first problem found in
    it): ``{"field", "error", "expected", "received", "message"}`` where ``error`` is one of
    ``missing``, ``type``, ``null`` or ``category``.
    """

    status_code = 422
    code = "signature_mismatch"


class ModelIntegrityError(ValidationFailed):
    """A model folder's files do not match the sha256 hashes recorded in its ``model.yaml``.

    A changed, missing or unexpected file means the folder is not the model that was
    saved, so nothing in it is deserialized. The status stays 422, as for every
    ``ValidationFailed``: the request named a model that exists but cannot be processed.
    A 5xx would tell clients to retry, which cannot help. ``details`` names the file and
    both hashes.
    """

    status_code = 422
    code = "model_integrity"


class Unauthenticated(CycleMLError):
    """The request carries no credentials, or ones the server does not accept."""

    status_code = 401
    code = "unauthenticated"


class PermissionDenied(CycleMLError):
    """The actor may not perform this operation."""

    status_code = 403
    code = "permission_denied"


class StoreError(CycleMLError):
    """The metadata or artifact store could not complete the operation."""

    status_code = 503
    code = "store_error"


class CycleMLWarning(UserWarning):
    """Root of every warning cycleml emits."""


class ExtraColumnsWarning(CycleMLWarning):
    """Model input carried columns the signature does not name; they were dropped.

    Attributes:
        columns: The dropped columns, in input order.
    """

    def __init__(self, columns: list[str], most: int = 8) -> None:
        self.columns = list(columns)
        shown = ", ".join(repr(c) for c in self.columns[:most])
        more = f", … ({len(self.columns)} in all)" if len(self.columns) > most else ""
        super().__init__(
            f"Dropped input columns that are not in the model signature: [{shown}{more}]. "
            "The model never sees them."
        )


def to_dict(error: CycleMLError) -> dict[str, Any]:
    """Render an error into cycleml's one JSON error shape.

    The shape is ``{"error": {"code", "message", "hint", "details"}}``.
    """
    return {
        "error": {
            "code": error.code,
            "message": error.message,
            "hint": error.hint,
            "details": error.details,
        }
    }


def _classes_by_code() -> dict[str, type[CycleMLError]]:
    found: dict[str, type[CycleMLError]] = {}
    pending: list[type[CycleMLError]] = [CycleMLError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


def from_dict(data: dict[str, Any], *, status_code: int | None = None) -> CycleMLError:
    """The error that :func:`to_dict` rendered, as its own class again (a REST client's side).

    ``data`` is ``{"error": {"code", "message", "hint", "details"}}``. An unknown ``code``
    (a newer server's) gives a :class:`CycleMLError` carrying that code and ``status_code``.

    Raises:
        InvalidInput: ``data`` is not in the error shape.
    """
    inner = data.get("error") if isinstance(data, dict) else None
    if not isinstance(inner, dict) or not isinstance(inner.get("message"), str):
        raise InvalidInput(
            f"Not an error in cycleml's shape: {str(data)[:200]!r}.",
            hint='Expected {"error": {"code", "message", "hint", "details"}}.',
        )
    code = str(inner.get("code") or CycleMLError.code)
    cls = _classes_by_code().get(code, CycleMLError)
    hint = inner.get("hint")
    details = inner.get("details")
    error = cls(
        inner["message"],
        hint=hint if isinstance(hint, str) else None,
        details=details if isinstance(details, dict) else None,
    )
    if cls.code != code:  # a code this version does not know: keep the server's
        error.code = code
        if status_code is not None:
            error.status_code = status_code
    return error
