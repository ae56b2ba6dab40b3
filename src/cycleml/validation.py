"""Validation every stage shares: human-facing names, labels (aliases, tags), keys, and the
one template for a parameter that is not acceptable (:func:`invalid_parameter`).

Core (imports nothing above ``cycleml.errors``), so every stage checks a name the same way
and words a bad parameter the same way.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from cycleml.errors import InvalidInput

__all__ = ["KEY_MAX", "check_key", "check_label", "check_name", "invalid_parameter"]

#: Longest metric, param or tag key (MLflow's limit).
KEY_MAX = 250
_KEY_RE = re.compile(r"[\w\-. /:]+")  # used with fullmatch: "$" would accept a final "\n"
#: Longest ``repr`` of a received value quoted in an error (a whole DataFrame helps nobody).
_REPR_MAX = 80


def invalid_parameter(
    name: str,
    value: object,
    expected: str,
    *,
    hint: str | None = None,
    example: str | None = None,
    details: dict[str, Any] | None = None,
) -> InvalidInput:
    """The error for a parameter whose value is not acceptable, in one shape everywhere
    (as scikit-learn's ``InvalidParameterError``): ``Invalid {name} {value!r}: expected
    {expected}.``, with ``hint`` and then ``For example {example}.`` as the hint.

    Returned, not raised, so the caller's ``raise ... from exc`` keeps the cause::

        raise invalid_parameter("window", value, "a number of rows or a duration",
                                example="'1h'")

    Args:
        name: The parameter as the caller wrote it (``window``, ``--since``, ``max_age``).
        value: What was received; its ``repr`` is shortened past 80 characters.
        expected: What would have been accepted, as a phrase (``"a positive duration"``).
        hint: How to write an acceptable value.
        example: An acceptable value, written as the caller would write it.
        details: Extra facts for machines; ``parameter`` (the name) is always set.
    """
    shown = repr(value)
    if len(shown) > _REPR_MAX:
        shown = shown[: _REPR_MAX - 3] + "..."
    tips = [tip for tip in (hint, example and f"For example {example}.") if tip]
    return InvalidInput(
        f"Invalid {name} {shown}: expected {expected}.",
        hint=" ".join(tips) or None,
        details={"parameter": name, **(details or {})},
    )


# fullmatch on these ("$" would accept a final newline).
@functools.cache
def _name_re(max_len: int) -> re.Pattern[str]:
    return re.compile(rf"[A-Za-z0-9][\w\-.]{{0,{max_len - 1}}}")


@functools.cache
def _label_re(max_len: int) -> re.Pattern[str]:
    return re.compile(rf"[A-Za-z_][\w\-]{{0,{max_len - 1}}}")


def check_name(value: str, *, kind: str, max_len: int, example: str) -> str:
    """A name of letters, digits, ``_ - .`` starting with a letter or digit."""
    if not isinstance(value, str) or not _name_re(max_len).fullmatch(value):
        raise InvalidInput(
            f"Invalid {kind} {value!r}: use 1-{max_len} letters, digits, '_', '-' or '.', "
            "starting with a letter or digit.",
            hint=f"For example {example}.",
        )
    return value


def check_label(value: str, *, kind: str, max_len: int, reserved: str, example: str) -> str:
    """A label (alias, tag) of letters, digits, ``_ -`` starting with a letter or ``_``;
    ``latest`` is always reserved."""
    if (
        not isinstance(value, str)
        or not _label_re(max_len).fullmatch(value)
        or value.lower() == "latest"
    ):
        raise InvalidInput(
            f"Invalid {kind} {value!r}: use letters, digits, '_' or '-', starting with a "
            f"letter or '_'; {reserved}.",
            hint=f"For example {example}.",
        )
    return value


def check_key(key: str, kind: str) -> str:
    """Validate a metric, param or tag key (MLflow's rules) and return it."""
    if not isinstance(key, str) or not key or len(key) > KEY_MAX or not _KEY_RE.fullmatch(key):
        raise InvalidInput(
            f"Invalid {kind} key {key!r}: keys are 1-250 characters of letters, digits, "
            "'_', '-', '.', ' ', ':' and '/'.",
            hint=f"Rename the {kind}, e.g. 'val_auc' or 'model/depth'.",
        )
    if ".." in key.split("/") or key.startswith("/"):
        raise InvalidInput(f"Invalid {kind} key {key!r}: it must not look like a path escape.")
    return key
