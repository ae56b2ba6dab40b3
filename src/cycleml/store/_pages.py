"""Opaque page tokens and page sizes, shared by every paged listing.

A listing pages by ``max_results`` and the ``next_page_token`` its previous page returned.
The token is the base64url of a small JSON value (a sort key, an offset) that only the
listing reads back: :func:`encode_page_token` makes it, :func:`decode_page_token` checks
it against the shape the listing expects and refuses anything else as bad input.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from cycleml.errors import InvalidInput

__all__ = ["MAX_PAGE", "check_page_size", "decode_page_token", "encode_page_token"]

#: The largest page a listing returns.
MAX_PAGE = 10_000
#: Longer than any token a listing makes (a key of a few ids and numbers).
_MAX_TOKEN = 400


def encode_page_token(value: Any) -> str:
    """An opaque token for ``value`` (JSON-serializable), without base64 padding."""
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_page_token(token: object, valid: Callable[[Any], bool]) -> Any | None:
    """The value an :func:`encode_page_token` token holds (``None``: no token, the first page).

    Args:
        token: The ``page_token`` as received.
        valid: Whether the decoded JSON value has the shape the listing's tokens have.

    Raises:
        InvalidInput: ``token`` is not one a previous page returned.
    """
    if token is None or token == "":
        return None
    shown = repr(token)[:80]
    try:
        if not isinstance(token, str) or len(token) > _MAX_TOKEN:
            raise ValueError(shown)
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not valid(value):
            raise ValueError(shown)
    except (ValueError, TypeError, binascii.Error) as exc:  # JSONDecodeError too
        raise InvalidInput(
            f"Invalid page_token {shown}: it is not a page token returned by a previous page.",
            hint="Pass the next_page_token of the previous page unchanged, or omit it.",
            details={"page_token": shown},
        ) from exc
    return value


def check_page_size(max_results: object, *, most: int = MAX_PAGE) -> int | None:
    """``max_results`` if it is a page size (1 to ``most``); ``None`` for none given.

    Raises:
        InvalidInput: It is not a whole number in range.
    """
    if max_results is None:
        return None
    if type(max_results) is not int or not 1 <= max_results <= most:
        raise InvalidInput(
            f"Invalid max_results {max_results!r}: expected 1 to {most}.",
            hint="Ask for smaller pages and follow next_page_token.",
        )
    return max_results
