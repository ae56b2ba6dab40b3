"""What every stage's ``/api/v1`` router shares: documented field types, the request-id
header, the paging parameters, strict bodies, the answer of an already JSON-shaped entity
and of none (204), and the offset page tokens of the MLflow-protocol listings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, WithJsonSchema

from cycleml.store import MAX_PAGE, decode_page_token, encode_page_token

__all__ = [
    "NO_CONTENT",
    "NUMBER_SCHEMA",
    "CheckedStr",
    "MaxResults",
    "PageToken",
    "RequestId",
    "StrictBody",
    "Values",
    "decode_offset_token",
    "encode_offset_token",
    "json_response",
    "v1_router",
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


#: A page size of a keyset-paged listing (the route sets its default).
MaxResults = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Page size, 1-{MAX_PAGE}.")]
#: The token that continues a listing where its previous page ended.
PageToken = Annotated[str | None, Query(description="The previous page's next_page_token.")]
#: A route's keyword arguments when it answers nothing: ``@router.delete(..., **NO_CONTENT)``.
NO_CONTENT: dict[str, Any] = {"status_code": 204, "response_class": Response}


class StrictBody(BaseModel):
    """A request body that refuses fields it does not know."""

    model_config = ConfigDict(extra="forbid")


def json_response(content: Any, status_code: int = 200) -> JSONResponse:
    """``content``, already JSON-shaped by the entities' ``to_dict``, as the answer.

    Returning a response skips FastAPI's second validation against the documented model.
    """
    return JSONResponse(content, status_code=status_code)


def encode_offset_token(offset: int) -> str:
    """An opaque page token for the next page, which starts at ``offset``."""
    return encode_page_token({"offset": offset})


def _is_offset(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.keys() == {"offset"}
        and type(value["offset"]) is int
        and value["offset"] >= 0
    )


def decode_offset_token(token: str | None) -> int:
    """The offset a page token of :func:`encode_offset_token` stands for (0 for none).

    Raises:
        InvalidInput: ``token`` is not one a previous page returned.
    """
    found = decode_page_token(token, _is_offset)
    return 0 if found is None else int(found["offset"])


def v1_router(stage: str) -> APIRouter:
    """A stage's ``/api/v1`` router: tagged with the stage, OpenAPI operation ids
    ``<stage>_<handler>`` (``tracking_log_batch``, ``registry_create_model``, ...)."""

    def operation_id(route: APIRoute) -> str:
        return f"{stage}_{route.name}"

    return APIRouter(prefix="/api/v1", tags=[stage], generate_unique_id_function=operation_id)
