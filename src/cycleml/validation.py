"""Validation every stage shares: human-facing names, labels (aliases, tags) and keys.

Core (imports nothing above ``cycleml.errors``), so every stage checks a name the same way.
"""

from __future__ import annotations

import functools
import re

from cycleml.errors import InvalidInput

__all__ = ["KEY_MAX", "check_key", "check_label", "check_name"]

#: Longest metric, param or tag key (MLflow's limit).
KEY_MAX = 250
_KEY_RE = re.compile(r"[\w\-. /:]+")  # used with fullmatch: "$" would accept a final "\n"


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
