"""Shared parts of the data sources: the Source base class, Arrow types, batching, file entries."""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cycleml.errors import InvalidInput
from cycleml.spec._sources import (
    FileFormat,
    normalize_column_type,
    validate_identifier,
)

__all__ = ["DEFAULT_BATCH_SIZE", "FileEntry", "Source", "arrow_type"]

#: Rows per batch unless ``open(batch_size=...)`` says otherwise.
DEFAULT_BATCH_SIZE = 65_536
_BLOCK = 1 << 20  # bytes parsed at a time (and the type-inference sample)
_SHOWN = 5  # bad rows listed in an error message
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError)
_EXTENSIONS: dict[str, FileFormat] = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl",
}  # fmt: skip
_COMPRESSED = (".gz", ".bz2", ".zst", ".xz")
_SIMPLE_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(), "bool": pa.bool_(), "date": pa.date32(), "binary": pa.binary(),
    "timestamp": pa.timestamp("us"), "timestamp_tz": pa.timestamp("us", tz="UTC"),
    "time": pa.time64("us"),
}  # fmt: skip
_PG_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(), 20: pa.int64(), 21: pa.int16(), 23: pa.int32(), 26: pa.int64(),
    700: pa.float32(), 701: pa.float64(), 25: pa.string(), 1043: pa.string(), 1042: pa.string(),
    18: pa.string(), 19: pa.string(), 114: pa.string(), 3802: pa.string(), 2950: pa.string(),
    1082: pa.date32(), 1114: pa.timestamp("us"), 1184: pa.timestamp("us", tz="UTC"),
    1083: pa.time64("us"), 17: pa.binary(), 1186: pa.duration("us"),
}  # fmt: skip
_NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
_CSV_CONVERSION = re.compile(
    r"column #(\d+): Row #(\d+): CSV conversion error to (.+?): invalid value '(.*)'", re.S
)


def arrow_type(name: str) -> pa.DataType:
    """The Arrow type of a ``schema:`` column type name (``"int"`` -> ``int64``).

    Raises:
        InvalidInput: Unknown type name.
    """
    canonical = normalize_column_type(name)
    if canonical.startswith("decimal("):
        precision, scale = canonical[8:-1].split(",")
        return pa.decimal128(int(precision), int(scale))
    return _SIMPLE_TYPES.get(canonical) or getattr(pa, canonical)()


class _Resources(ExitStack):
    """Handles a stream holds; closed when it ends or when the stream is dropped unread."""

    def __del__(self) -> None:
        with suppress(Exception):
            self.close()


def _check_open_args(after: Any, watermark: str | None, batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInput(f"batch_size must be a positive integer, got {batch_size!r}.")
    if watermark is not None:
        validate_identifier(watermark)
    elif after is not None:
        raise InvalidInput(
            f"after={after!r} was given without watermark=.",
            hint="Pass the name of the column whose values only grow as watermark=.",
        )


def _bound(after: Any, column: str, kind: pa.DataType) -> pa.Scalar:
    """The scalar ``after`` in a form ``pc.greater(<column of kind>, scalar)`` accepts."""
    probe = pa.array([], type=kind)
    try:
        scalar = after if isinstance(after, pa.Scalar) else pa.scalar(after)
        try:
            pc.greater(probe, scalar)
            return scalar
        except pa.ArrowNotImplementedError:
            if pa.types.is_timestamp(kind) and pa.types.is_timestamp(scalar.type):
                scalar = scalar.cast(pa.timestamp(scalar.type.unit, tz=kind.tz))
            else:
                scalar = scalar.cast(kind)
            pc.greater(probe, scalar)
            return scalar
    except _ARROW_ERRORS as exc:
        raise InvalidInput(
            f"The watermark value {after!r} cannot be compared with column {column!r} of type "
            f"{kind}.",
            hint="Pass after= as a value of the column's type (number, date, datetime, text).",
            details={"column": column, "type": str(kind), "received": repr(after)},
        ) from exc


def _rebatch(batches: Iterable[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """Re-cut a stream into batches of exactly ``size`` rows (the last may be shorter)."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        while batch.num_rows:
            take = min(size - count, batch.num_rows)
            pending.append(batch.slice(0, take))
            count += take
            batch = batch.slice(take)
            if count == size:
                yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)
                pending, count = [], 0
    if count:
        yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)


def _finish(
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    *,
    watermark: str | None,
    after: Any,
    batch_size: int,
) -> pa.RecordBatchReader:
    """Apply the ``watermark > after`` row filter and the batch size; build the reader."""
    if watermark is not None:
        if watermark not in schema.names:
            raise InvalidInput(
                f"The watermark column {watermark!r} is not in the data; columns: "
                f"{', '.join(schema.names)}.",
                details={"received": watermark, "valid": schema.names},
            )
        if after is not None:
            bound = _bound(after, watermark, schema.field(watermark).type)
            batches = (b.filter(pc.greater(b.column(watermark), bound)) for b in batches)
    return pa.RecordBatchReader.from_batches(schema, _rebatch(batches, batch_size))


def _parse_temporal(values: pa.Array, kind: pa.DataType, formats: list[str]) -> pa.Array:
    """Parse text into ``kind`` (date/timestamp/time): ISO 8601 first, then each format.

    Raises:
        IndexError: carrying the position of the first value no format parses.
    """
    stamp = pa.timestamp("us", tz=getattr(kind, "tz", None))
    for via in (kind, stamp):
        try:
            return values.cast(via).cast(kind)
        except _ARROW_ERRORS:
            pass
    parsed: pa.Array | None = None
    for fmt in formats:
        attempt = pc.strptime(values, format=fmt, unit="us", error_is_null=True)
        parsed = attempt if parsed is None else pc.coalesce(parsed, attempt)
    failed = values.is_valid() if parsed is None else pc.and_(values.is_valid(), parsed.is_null())
    if parsed is None or pc.any(failed).as_py():
        raise IndexError(pc.index(failed, True).as_py())
    if stamp.tz is not None and parsed.type.tz is None:
        parsed = pc.assume_timezone(parsed, stamp.tz)
    return parsed.cast(stamp).cast(kind)


def _temporal_kind(values: pa.Array, formats: list[str]) -> pa.DataType | None:
    """``date32``/``timestamp[us]`` when every value of a text column parses as one."""
    if values.null_count == len(values):
        return None
    for kind in (pa.date32(), pa.timestamp("us")):
        try:
            return (
                values.cast(kind).type
                if kind == pa.date32()
                else (_parse_temporal(values, kind, formats).type)
            )
        except (IndexError, *_ARROW_ERRORS):
            pass
    return None


@dataclass(frozen=True)
class FileEntry:
    """One file of a :class:`FileSource`.

    Attributes:
        path: The path as its filesystem knows it (local absolute path, ``bucket/key``...).
        uri: The full URI (``file:///...``, ``memory:///...``, ``s3://...``).
        size: Size in bytes.
        mtime: Modification time (seconds since the epoch), when the filesystem tells.
        fingerprint: BLAKE3 hex digest of the file's bytes (its content identity).
    """

    path: str
    uri: str
    size: int
    mtime: float | None
    fingerprint: str

    @property
    def display(self) -> str:
        """How messages name the file: the local path, or the URI elsewhere."""
        return self.path if self.uri.startswith("file://") else self.uri

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping of the fields."""
        return asdict(self)


def _mtime(info: dict[str, Any]) -> float | None:
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
    return None


def _format_of(path: str) -> FileFormat | None:
    suffixes = PurePosixPath(path.lower()).suffixes
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    return _EXTENSIONS.get(suffixes[-1]) if suffixes else None


def _no_credentials(uri: str) -> str:
    return re.sub(r"//[^/@]*@", "//", uri)


class Source(ABC):
    """Where raw data comes from; opened as a stream of Arrow record batches."""

    @abstractmethod
    def open(
        self,
        *,
        after: Any | None = None,
        watermark: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> pa.RecordBatchReader:
        """Stream the data as record batches of at most ``batch_size`` rows.

        Args:
            after: The last ingested watermark value: only rows with ``watermark > after``
                are returned (``None``: all rows).
            watermark: Name of a column whose values only grow (incremental ingestion).
            batch_size: Maximum rows per batch.
        """

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """A JSON-ready description for metadata and lineage (never holds a password)."""

    @abstractmethod
    def identity(self) -> str:
        """A stable string naming the source for lineage (``file:///data/*.csv``)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.identity()!r})"


def _cell_error(
    where: str, column: str, value: Any, kind: str, declared: bool | str, details: dict[str, Any]
) -> InvalidInput:
    """A value that does not fit its column's type, with a ``schema:`` suggestion."""
    if isinstance(declared, str):
        origin = declared
    elif kind == "null":
        origin = "the column was empty in the first rows, so its type could not be inferred"
    else:
        origin = "type declared in schema:" if declared else "type inferred from the first rows"
    numeric = kind.startswith(("int", "uint")) and re.fullmatch(r"[-+]?[\d.eE+-]+", str(value))
    return InvalidInput(
        f"{where}: column {column!r} holds {value!r}, which is not a valid {kind} ({origin}).",
        hint=f"Fix the value, or declare the column's type in the source's schema:, e.g. "
        f"schema: {{{column}: {'float' if numeric else 'string'}}}.",
        details={**details, "column": column, "value": str(value), "expected_type": kind},
    )


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)
