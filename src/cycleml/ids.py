"""Identifiers: 32-hex-character UUIDs, the form MLflow uses for run ids."""

from __future__ import annotations

import re
import uuid

from cycleml.errors import InvalidInput

__all__ = ["check_id", "is_id", "new_id"]

_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def new_id() -> str:
    """Return a new random 32-hex-character identifier."""
    return uuid.uuid4().hex


def is_id(value: str) -> bool:
    """Tell whether ``value`` has the form of a cycleml identifier."""
    return bool(_ID_RE.match(value))


def check_id(value: str, *, kind: str = "id") -> str:
    """Return ``value`` if it is a well-formed identifier, else raise :class:`InvalidInput`."""
    if not isinstance(value, str) or not is_id(value):
        raise InvalidInput(
            f"Invalid {kind}: expected 32 lowercase hex characters, got {value!r}.",
            hint=f"Copy the {kind} from `cycleml runs list` or the object that returned it.",
        )
    return value
