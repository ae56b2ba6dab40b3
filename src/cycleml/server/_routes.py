"""What every stage's ``/api/v1`` router shares: documented field types, the request-id
header, strict bodies and the answer of an already JSON-shaped entity."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, WithJsonSchema

__all__ = [
    "NUMBER_SCHEMA",
    "CheckedStr",
    "RequestId",
    "StrictBody",
    "Values",
    "json_response",
]

#: A float as JSON carries it: a number, or one of the strings for the non-finite values.
NUMBER_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "number"},
        {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]},
    ]
}
# Documented as their type, validated by the repository (whose messages name the field).
CheckedStr = Annotated[Any, WithJsonSchema({"type": "string"})]
Values = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "additionalProperties": {"type": "string"}}),
]

#: The client's request id, if it sent one (the middleware invents one otherwise).
RequestId = Annotated[
    str | None,
    Header(
        alias="X-Request-ID",
        description="Makes the write idempotent: a retry with the same id is applied once.",
    ),
]


class StrictBody(BaseModel):
    """A request body that refuses fields it does not know."""

    model_config = ConfigDict(extra="forbid")


def json_response(content: Any, status_code: int = 200) -> JSONResponse:
    """``content``, already JSON-shaped by the entities' ``to_dict``, as the answer.

    Returning a response skips FastAPI's second validation against the documented model.
    """
    return JSONResponse(content, status_code=status_code)
