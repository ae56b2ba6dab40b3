"""Validation of human-facing names (models, datasets) and labels (aliases, tags)."""

from __future__ import annotations

import functools
import re

from cycleml.errors import InvalidInput

__all__ = ["check_label", "check_name"]


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
