"""The ``sources:`` section of ``cycleml.yaml`` (lifecycle stage 2, data collection).

A source says where raw data comes from: files (:class:`FileSourceSpec`, ``kind: file``) or
a SQL query (:class:`SqlSourceSpec`, ``kind: sql``). :data:`SourceSpec` is the union of both,
discriminated on ``kind``. Both carry the incremental-ingestion settings ``watermark`` (a
column whose values only grow) and ``mode`` (``replace`` or ``append``; default ``append``
when a watermark is set, else ``replace``).

Column types in ``schema:`` are short names (``int``, ``float``, ``string``, ``bool``,
``date``, ``timestamp``, ...); :func:`normalize_column_type` maps every accepted spelling to
one canonical name, which is what the validated models hold. This module is pure pydantic:
the readers live in :mod:`cycleml.data`.

Example::

    sources:
      orders:
        kind: sql
        url: postgresql+psycopg://analyst@db/shop
        query: SELECT * FROM orders
        watermark: updated_at
      events:
        kind: file
        path: data/events/*.csv
        schema: {user_id: string, amount: float}
        timestamp_formats: ["%d/%m/%Y %H:%M"]
"""

from __future__ import annotations

import codecs
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from cycleml.errors import InvalidInput

__all__ = [
    "COLUMN_TYPES",
    "FILE_FORMATS",
    "FileFormat",
    "FileSourceSpec",
    "IngestMode",
    "OnBadRows",
    "SourceSpec",
    "SqlSourceSpec",
    "normalize_column_type",
    "validate_identifier",
]

#: File formats a file source reads.
FileFormat = Literal["csv", "tsv", "parquet", "jsonl"]
FILE_FORMATS: tuple[FileFormat, ...] = ("csv", "tsv", "parquet", "jsonl")
#: What a file source does with a malformed row: raise, or skip and report it.
OnBadRows = Literal["error", "skip"]
#: How an ingestion stores new rows: a new version with only them, or appended to the last.
IngestMode = Literal["replace", "append"]

_ALIASES: dict[str, str] = {
    **dict.fromkeys(("int", "integer", "int64", "bigint", "long"), "int64"),
    **{k: k for k in ("int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8")},
    **dict.fromkeys(("float", "double", "float64", "number"), "float64"),
    **dict.fromkeys(("float32", "real"), "float32"),
    **dict.fromkeys(("string", "str", "text", "utf8", "varchar"), "string"),
    **dict.fromkeys(("bool", "boolean"), "bool"),
    "date": "date",
    **dict.fromkeys(("timestamp", "datetime"), "timestamp"),
    **dict.fromkeys(("timestamp_tz", "timestamptz", "datetime_tz"), "timestamp_tz"),
    "time": "time",
    **dict.fromkeys(("binary", "bytes"), "binary"),
}
#: The canonical column type names (plus ``decimal(precision,scale)``).
COLUMN_TYPES: tuple[str, ...] = (
    "int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8",
    "float64", "float32", "string", "bool", "date", "timestamp", "timestamp_tz", "time",
    "binary", "decimal(precision,scale)",
)  # fmt: skip
_DECIMAL = re.compile(r"(?:decimal|numeric)\(\s*(\d+)\s*,\s*(\d+)\s*\)")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def normalize_column_type(name: str) -> str:
    """Return the canonical name of a column type (``"integer"`` -> ``"int64"``).

    Raises:
        InvalidInput: ``name`` is not a known type; the message lists the valid names.
    """
    key = name.strip().lower() if isinstance(name, str) else ""
    if key in _ALIASES:
        return _ALIASES[key]
    match = _DECIMAL.fullmatch(key)
    if match and 1 <= int(match[1]) <= 38 and int(match[2]) <= int(match[1]):
        return f"decimal({int(match[1])},{int(match[2])})"
    raise InvalidInput(
        f"Unknown column type {name!r}.",
        hint=f"Use one of: {', '.join(COLUMN_TYPES)} (aliases such as int, float, "
        "datetime are accepted).",
        details={"received": name, "valid": list(COLUMN_TYPES)},
    )


def validate_identifier(name: str, *, what: str = "watermark column") -> str:
    """Return ``name`` if it is a plain SQL identifier (letters, digits, ``_``).

    Raises:
        InvalidInput: ``name`` is anything else (spaces, quotes, operators, ...).
    """
    if isinstance(name, str) and _IDENTIFIER.fullmatch(name):
        return name
    raise InvalidInput(
        f"The {what} {name!r} is not a plain identifier.",
        hint="Use a column name made of letters, digits and underscores that does not start "
        "with a digit; rename the column in the query (SELECT ... AS name) if needed.",
        details={"received": name},
    )


def _custom(exc: InvalidInput) -> PydanticCustomError:
    return PydanticCustomError("invalid_source", "{text}", {"text": str(exc)})


class _SourceSpecBase(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    column_types: dict[str, str] | None = Field(default=None, alias="schema")
    watermark: str | None = None
    mode: IngestMode = "replace"

    @model_validator(mode="before")
    @classmethod
    def _default_mode(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("watermark") is not None and "mode" not in data:
            return {**data, "mode": "append"}
        return data

    @field_validator("column_types")
    @classmethod
    def _known_types(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        try:
            return {column: normalize_column_type(kind) for column, kind in value.items()}
        except InvalidInput as exc:
            raise _custom(exc) from exc

    @field_validator("watermark")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return validate_identifier(value)
        except InvalidInput as exc:
            raise _custom(exc) from exc


class FileSourceSpec(_SourceSpecBase):
    """Files on a local disk or any fsspec filesystem (``kind: file``).

    Attributes:
        kind: Always ``file``.
        path: A file, a glob (``data/*.csv``), a folder or an fsspec URI (``s3://...``).
            Relative paths are resolved against the project folder.
        format: ``csv``, ``tsv``, ``parquet`` or ``jsonl``; default: from the extension.
        column_types: ``schema:`` in YAML; explicit column types, overriding inference.
        timestamp_formats: ``strptime`` formats tried after ISO 8601 for dates/timestamps.
        delimiter: One-character field separator (default ``,``; ``\\t`` for tsv).
        encoding: Text encoding of CSV/TSV/JSONL files.
        header: Whether the first CSV/TSV line holds the column names.
        on_bad_rows: ``error`` raises on malformed rows; ``skip`` skips and reports them.
        watermark: Column whose values only grow; only newer rows are ingested.
        mode: ``replace`` or ``append`` (default ``append`` with a watermark).
    """

    kind: Literal["file"] = "file"
    path: str = Field(min_length=1)
    format: FileFormat | None = None
    timestamp_formats: list[str] | None = None
    delimiter: str | None = None
    encoding: str = "utf-8"
    header: bool = True
    on_bad_rows: OnBadRows = "error"

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 1:
            raise PydanticCustomError(
                "invalid_source", "delimiter must be exactly one character, got {v}", {"v": value}
            )
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError as exc:
            raise PydanticCustomError(
                "invalid_source", "unknown encoding {v}, e.g. use utf-8 or latin-1", {"v": value}
            ) from exc
        return value

    @field_validator("timestamp_formats")
    @classmethod
    def _strptime_formats(cls, value: list[str] | None) -> list[str] | None:
        for fmt in value or []:
            if "%" not in fmt:
                raise PydanticCustomError(
                    "invalid_source",
                    "timestamp format {v} has no % directive, e.g. '%d/%m/%Y %H:%M'",
                    {"v": fmt},
                )
        return value


class SqlSourceSpec(_SourceSpecBase):
    """The result of a SQL query against any SQLAlchemy URL (``kind: sql``).

    Attributes:
        kind: Always ``sql``.
        url: SQLAlchemy URL; ``${VAR}`` is expanded from the environment so passwords need
            not be written in the file. Relative SQLite paths resolve against the project.
        query: The SELECT to run; ``:name`` placeholders are bound from ``params``.
        column_types: ``schema:`` in YAML; explicit column types, overriding inference.
        params: Values bound to the query's ``:name`` placeholders.
        watermark: Column whose values only grow; the ``> last value`` condition is pushed
            into the SQL.
        mode: ``replace`` or ``append`` (default ``append`` with a watermark).
    """

    kind: Literal["sql"] = "sql"
    url: str = Field(min_length=1)
    query: str = Field(min_length=1)
    params: dict[str, Any] | None = None


#: One entry of ``sources:``: a file source or a SQL source, chosen by ``kind``.
SourceSpec = Annotated[FileSourceSpec | SqlSourceSpec, Field(discriminator="kind")]
