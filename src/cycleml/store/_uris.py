"""cycleml URIs: ``runs:/<run_id>/<path>``, ``models:/<name>/<version>``, ``models:/<name>@<alias>``
(and ``models:/<name>/latest`` or ``/<stage>``).

Parsing is strict: a malformed URI is an :class:`~cycleml.errors.InvalidInput` that shows
the accepted forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cycleml.errors import InvalidInput
from cycleml.store._artifacts import safe_relpath

__all__ = ["DatasetUri", "ModelUri", "RunUri", "parse_dataset_uri", "parse_uri"]

_FORMS = (
    "runs:/<run_id>[/<path>], models:/<name>/<version>, models:/<name>/latest, "
    "models:/<name>/<stage> or models:/<name>@<alias>"
)
# Used with fullmatch: "$" would accept (and drop) a final newline.
_RUN_RE = re.compile(r"runs:/(?P<run_id>[0-9a-f]{32})(?:/(?P<path>.*))?", re.DOTALL)
_MODEL_ALIAS_RE = re.compile(r"models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)")
_MODEL_VERSION_RE = re.compile(r"models:/(?P<name>[^/@]+)/(?P<ref>[^/@]+)")


@dataclass(frozen=True)
class RunUri:
    """``runs:/<run_id>/<path>``: files logged to a run (``path`` may be empty)."""

    run_id: str
    path: str = ""


@dataclass(frozen=True)
class ModelUri:
    """``models:/<name>/<version|latest|stage>`` or ``models:/<name>@<alias>``."""

    name: str
    version: int | None = None
    alias: str | None = None
    stage: str | None = None
    latest: bool = False


def parse_uri(uri: str) -> RunUri | ModelUri:
    """Parse a ``runs:/`` or ``models:/`` URI.

    Raises:
        InvalidInput: The text is not one of the accepted forms.
    """

    def bad(why: str) -> InvalidInput:
        return InvalidInput(
            f"Invalid URI {uri!r}: {why}.",
            hint=f"Use one of {_FORMS}.",
            details={"uri": uri},
        )

    if not isinstance(uri, str) or not uri:
        raise bad("it is empty")
    if uri.startswith("runs:/"):
        match = _RUN_RE.fullmatch(uri)
        if match is None:
            raise bad("the run id must be 32 lowercase hex characters")
        raw = match["path"] or ""
        if not [part for part in raw.replace("\\", "/").split("/") if part not in ("", ".")]:
            return RunUri(run_id=match["run_id"])
        try:  # the same rules as logged artifact paths: no '..', no NUL, no absolute path
            path = safe_relpath(raw.strip("/"))
        except InvalidInput as exc:
            raise bad(f"the artifact path {raw!r} is not a clean relative path") from exc
        return RunUri(run_id=match["run_id"], path=path)
    if uri.startswith("models:/"):
        alias = _MODEL_ALIAS_RE.fullmatch(uri)
        if alias:
            return ModelUri(name=alias["name"], alias=alias["alias"])
        match = _MODEL_VERSION_RE.fullmatch(uri)
        if match is None:
            raise bad("expected a model name followed by /<version> or @<alias>")
        ref = match["ref"]
        if ref.isascii() and ref.isdigit():  # int() also takes other scripts' digits
            if int(ref) < 1:
                raise bad("model versions start at 1")
            return ModelUri(name=match["name"], version=int(ref))
        if ref.lower() == "latest":
            return ModelUri(name=match["name"], latest=True)
        return ModelUri(name=match["name"], stage=ref)
    raise bad("unknown scheme")


_DATASET_TAG_RE = re.compile(r"datasets:/(?P<name>[^/@]+)@(?P<tag>[^/@]+)")
_DATASET_VERSION_RE = re.compile(r"datasets:/(?P<name>[^/@]+)(?:/(?P<ref>[^/@]+))?")
_DATASET_FORMS = (
    "datasets:/<name>, datasets:/<name>/<version>, datasets:/<name>/latest "
    "or datasets:/<name>@<tag>"
)


@dataclass(frozen=True)
class DatasetUri:
    """``datasets:/<name>/<version|latest>`` or ``datasets:/<name>@<tag>``."""

    name: str
    version: int | None = None
    tag: str | None = None

    @property
    def latest(self) -> bool:
        """True when neither a version nor a tag is named."""
        return self.version is None and self.tag is None


def parse_dataset_uri(uri: str) -> DatasetUri:
    """Parse a ``datasets:/`` URI (a bare name means its latest version).

    Raises:
        InvalidInput: The text is not one of the accepted forms.
    """

    def bad(why: str) -> InvalidInput:
        return InvalidInput(
            f"Invalid dataset URI {uri!r}: {why}.",
            hint=f"Use one of {_DATASET_FORMS}.",
            details={"uri": uri},
        )

    if not isinstance(uri, str) or not uri.startswith("datasets:/"):
        raise bad("it does not start with datasets:/")
    tagged = _DATASET_TAG_RE.fullmatch(uri)
    if tagged:
        return DatasetUri(name=tagged["name"], tag=tagged["tag"])
    match = _DATASET_VERSION_RE.fullmatch(uri)
    if match is None:
        raise bad("expected a dataset name followed by /<version> or @<tag>")
    ref = match["ref"]
    if ref is None or ref.lower() == "latest":
        return DatasetUri(name=match["name"])
    if not (ref.isascii() and ref.isdigit()) or int(ref) < 1:
        raise bad("versions are positive integers (or 'latest')")
    return DatasetUri(name=match["name"], version=int(ref))
