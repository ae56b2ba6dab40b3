"""Data sources (lifecycle stage 2): files, SQL queries and in-memory frames as Arrow streams.

Every :class:`Source` opens as a :class:`pyarrow.RecordBatchReader` whose batches hold at most
``batch_size`` rows, so ingestion runs in bounded memory whatever the input size:

- :class:`FileSource` reads CSV/TSV (``pyarrow.csv.open_csv``, serial, 1 MiB blocks), JSON
  Lines (1 MiB line-aligned chunks through ``pyarrow.json``) and Parquet
  (``ParquetFile.iter_batches``) from local paths, globs, folders and fsspec URIs. Types are
  inferred from the first block of the first file (explicit ``schema`` overrides win) and
  then fixed for the whole stream. Problems name the file and line: ragged rows, a value
  that does not fit its column, undecodable bytes (with the byte offset), empty files.
- :class:`SqlSource` streams a query through SQLAlchemy (``stream_results``/``yield_per``);
  an incremental ``watermark`` condition is pushed into the SQL with a bound parameter.
- :class:`FrameSource` slices pandas/polars/pyarrow objects without copying to pandas.

Line numbers count CSV records (the header is line 1); they are physical lines unless an
earlier quoted value spans several lines.
"""

from __future__ import annotations

import codecs
import io
import itertools
import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass
from datetime import datetime
from glob import has_magic
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, cast

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool

from cycleml.errors import InvalidInput, InvalidState, NotFound
from cycleml.hashing import hash_bytes, hash_stream
from cycleml.spec._sources import (
    FileFormat,
    FileSourceSpec,
    OnBadRows,
    SqlSourceSpec,
    normalize_column_type,
    validate_identifier,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "FileEntry",
    "FileSource",
    "FrameSource",
    "Source",
    "SqlSource",
    "arrow_type",
    "source_from_spec",
]

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


class FileSource(Source):
    """CSV, TSV, Parquet or JSON Lines files: one file, a glob, a folder or an fsspec URI.

    Args:
        path: File, glob (``data/*.csv``), folder (every file of the format inside, sorted)
            or fsspec URI (``memory://``, ``file://``, ``s3://`` with s3fs installed).
        format: ``csv``, ``tsv``, ``parquet`` or ``jsonl``; default: from the extension.
        schema: Explicit column types by column (``{"id": "string", "day": "date"}``).
        timestamp_formats: ``strptime`` formats tried after ISO 8601 for date/time values.
        delimiter: CSV field separator (default ``,``; tab for tsv).
        encoding: Text encoding of CSV/TSV/JSONL files.
        header: Whether the first CSV/TSV line holds column names (else ``f0, f1, ...``).
        on_bad_rows: ``error`` raises on ragged CSV rows or invalid JSON lines; ``skip``
            skips them and lists them in :attr:`bad_rows` after reading.

    Attributes:
        bad_rows: After reading: ``{file, line, text, problem}`` for each malformed row.
        read_files: After :meth:`open`: the files that were read (not skipped).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        format: FileFormat | None = None,
        schema: dict[str, str] | None = None,
        timestamp_formats: list[str] | None = None,
        delimiter: str | None = None,
        encoding: str = "utf-8",
        header: bool = True,
        on_bad_rows: OnBadRows = "error",
    ) -> None:
        try:
            self.options = FileSourceSpec.model_validate(
                {
                    "kind": "file",
                    "path": os.fspath(path),
                    "format": format,
                    "schema": schema,
                    "timestamp_formats": timestamp_formats,
                    "delimiter": delimiter,
                    "encoding": encoding,
                    "header": header,
                    "on_bad_rows": on_bad_rows,
                },
                strict=False,
            )
        except ValidationError as exc:
            raise _options_error(exc) from exc
        options = self.options
        self._types = {col: arrow_type(kind) for col, kind in (options.column_types or {}).items()}
        raw = options.path
        if "://" in raw:
            self._fs, self._root = fsspec.core.url_to_fs(raw)
        else:
            self._fs = fsspec.filesystem("file")
            self._root = Path(os.path.abspath(os.path.expanduser(raw))).as_posix()
        self._uri = _no_credentials(self._fs.unstrip_protocol(self._root))
        self.bad_rows: list[dict[str, Any]] = []
        self.read_files: list[FileEntry] = []

    def identity(self) -> str:
        """The source's URI, e.g. ``file:///abs/data/*.csv``."""
        return self._uri

    def describe(self) -> dict[str, Any]:
        """``{kind: file, uri, format, options}``."""
        o = self.options
        return {
            "kind": "file",
            "uri": self._uri,
            "format": o.format or _format_of(self._root),
            "options": {
                "schema": o.column_types,
                "timestamp_formats": o.timestamp_formats,
                "delimiter": o.delimiter,
                "encoding": o.encoding,
                "header": o.header,
                "on_bad_rows": o.on_bad_rows,
            },
        }

    def _paths(self) -> tuple[list[str], FileFormat]:
        fs, root, wanted = self._fs, self._root, self.options.format
        if has_magic(root):
            paths = sorted(p for p in fs.glob(root) if fs.isfile(p))
            if not paths:
                raise NotFound(f"No files match {self._uri}.", details={"path": self._uri})
        elif fs.isdir(root):
            found = sorted(
                p
                for p in fs.find(root)
                if not any(part.startswith((".", "_")) for part in p[len(root) :].split("/"))
            )
            formats = {f for f in map(_format_of, found) if f is not None}
            if wanted is None and len(formats) > 1:
                raise InvalidInput(
                    f"The folder {self._uri} mixes file formats ({', '.join(sorted(formats))}).",
                    hint="Set format: to the one to read.",
                )
            wanted = wanted or (formats.pop() if formats else None)
            paths = [p for p in found if wanted is not None and _format_of(p) == wanted]
            if not paths:
                raise NotFound(f"No {wanted or 'data'} files in the folder {self._uri}.")
        elif fs.exists(root):
            paths = [root]
        else:
            raise NotFound(
                f"No file or folder at {self._uri}.",
                hint="Check the path; relative paths in cycleml.yaml are resolved against the "
                "project folder.",
                details={"path": self._uri},
            )
        if wanted is None:
            found_formats = {_format_of(p) for p in paths}
            wanted = found_formats.pop() if len(found_formats) == 1 else None
            if wanted is None:
                raise InvalidInput(
                    f"Cannot tell the format of {self._uri} from its file extension(s).",
                    hint="Set format: to csv, tsv, parquet or jsonl.",
                )
        return paths, wanted

    def files(self) -> list[FileEntry]:
        """The files the source covers, sorted, with sizes, times and BLAKE3 fingerprints.

        Raises:
            NotFound: No file matches the path.
        """
        return self._scan()[0]

    def _scan(self) -> tuple[list[FileEntry], FileFormat]:
        paths, fmt = self._paths()
        entries = []
        for path in paths:
            info = self._fs.info(path)
            with self._fs.open(path, "rb") as handle:
                fingerprint = hash_stream(handle)
            uri = _no_credentials(self._fs.unstrip_protocol(path))
            size = int(info.get("size") or 0)
            entries.append(FileEntry(path, uri, size, _mtime(info), fingerprint))
        return entries, fmt

    def open(
        self,
        *,
        after: Any | None = None,
        watermark: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        skip_files: Iterable[str] | None = None,
    ) -> pa.RecordBatchReader:
        """Stream the files' rows (see :meth:`Source.open`).

        Args:
            skip_files: Fingerprints (or paths/URIs) of files already ingested; those files
                are not read. The schema still comes from the first file.

        Raises:
            NotFound: No file matches. InvalidInput: A file is empty, malformed, not in the
                declared encoding, or holds a value that does not fit its column.
        """
        _check_open_args(after, watermark, batch_size)
        skip = {skip_files} if isinstance(skip_files, str) else set(skip_files or ())
        entries, fmt = self._scan()
        chosen = [e for e in entries if not {e.fingerprint, e.path, e.uri} & skip]
        self.read_files, self.bad_rows = chosen, []
        res = _Resources()
        try:
            target = self._parquet_schema(chosen or entries[:1], res) if fmt == "parquet" else None
            schema, first = self._stream(fmt, (chosen or entries)[0], target, res, batch_size)
        except BaseException:
            res.close()
            raise
        unknown = sorted(set(self._types) - set(schema.names))
        if unknown:
            res.close()
            raise InvalidInput(
                f"schema: names column(s) {unknown} that {self._uri} does not have; its "
                f"columns: {', '.join(schema.names)}.",
                hint="Fix the column names in schema: (they are case-sensitive).",
                details={"received": unknown, "valid": schema.names},
            )
        if not chosen:
            res.close()
            first = iter(())

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                yield from first
                for entry in chosen[1:]:
                    yield from self._stream(fmt, entry, schema, res, batch_size)[1]
            finally:
                res.close()

        return _finish(schema, batches(), watermark=watermark, after=after, batch_size=batch_size)

    # -- per format ------------------------------------------------------------------------
    def _stream(
        self,
        fmt: FileFormat,
        entry: FileEntry,
        target: pa.Schema | None,
        res: ExitStack,
        batch_size: int,
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        _check_not_empty(entry)
        if fmt == "parquet":
            return self._parquet(entry, cast(pa.Schema, target), res, batch_size)
        handle = res.enter_context(self._fs.open(entry.path, "rb", compression="infer"))
        if fmt == "jsonl":
            return self._jsonl(entry, handle, target)
        return self._csv(entry, handle, target, fmt)

    def _bad_row_error(self) -> InvalidInput:
        rows = self.bad_rows
        listed = "\n".join(f"  {r['file']}:{r['line']}: {r['problem']}" for r in rows[:_SHOWN])
        return InvalidInput(
            f"Malformed rows found ({len(rows)} so far; reading stopped):\n{listed}",
            hint="Fix the rows, or set on_bad_rows: skip to skip and report them.",
            details={"bad_rows": rows[:_SHOWN]},
        )

    def _csv(
        self, entry: FileEntry, handle: BinaryIO, target: pa.Schema | None, fmt: FileFormat
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        o = self.options
        formats = o.timestamp_formats or []
        # Custom formats parse into timestamps; declared dates are cast afterwards.
        read_types = {
            c: pa.timestamp("us") if formats and t == pa.date32() else t
            for c, t in self._types.items()
        }
        if target is not None:
            read_types = {**{f.name: f.type for f in target}, **read_types}

        def on_bad(row: Any) -> str:
            self.bad_rows.append(
                {
                    "file": entry.display,
                    "line": row.number,
                    "text": row.text,
                    "problem": f"expected {row.expected_columns} fields, "
                    f"found {row.actual_columns}",
                }
            )
            return "skip"

        def fail(exc: Exception, names: list[str]) -> InvalidInput:
            return self._csv_error(entry, exc, names)

        try:
            reader = pcsv.open_csv(
                handle,
                read_options=pcsv.ReadOptions(
                    use_threads=False,
                    block_size=_BLOCK,
                    encoding=o.encoding,
                    autogenerate_column_names=not o.header,
                ),
                parse_options=pcsv.ParseOptions(
                    delimiter=o.delimiter or ("\t" if fmt == "tsv" else ","),
                    newlines_in_values=True,
                    invalid_row_handler=on_bad,
                ),
                convert_options=pcsv.ConvertOptions(
                    column_types=read_types,
                    strings_can_be_null=True,
                    timestamp_parsers=[pcsv.ISO8601, *formats] if formats else None,
                ),
            )
        except (pa.ArrowInvalid, UnicodeError) as exc:
            raise fail(exc, []) from exc
        names = reader.schema.names
        binary = [f.name for f in reader.schema if pa.types.is_binary(f.type)]
        if set(binary) - {c for c, t in read_types.items() if t == pa.binary()}:
            raise self._encoding_error(entry)
        if target is not None and set(names) != set(target.names):
            raise InvalidInput(
                f"{entry.display} has other columns than the first file: missing "
                f"{sorted(set(target.names) - set(names))}, extra "
                f"{sorted(set(names) - set(target.names))}.",
                hint="Files read together must share their header; read them as separate sources.",
                details={"file": entry.display},
            )
        dates = [c for c, t in self._types.items() if t == pa.date32() and c in names]
        schema = target or pa.schema(
            [pa.field(f.name, pa.date32()) if f.name in dates else f for f in reader.schema]
        )

        def fix(batch: pa.RecordBatch) -> pa.RecordBatch:
            if self.bad_rows and o.on_bad_rows == "error":
                raise self._bad_row_error()
            columns = [
                batch.column(n).cast(pa.date32()) if n in dates else batch.column(n)
                for n in schema.names
            ]
            return pa.RecordBatch.from_arrays(columns, schema=schema)

        def batches() -> Iterator[pa.RecordBatch]:
            with handle:
                sample = target is None  # the first block of the first file set the types
                while True:
                    try:
                        batch = reader.read_next_batch()
                        if sample:
                            self._check_sample(entry, batch, int(o.header) + 1)
                            sample = False
                    except StopIteration:
                        break
                    except (pa.ArrowInvalid, UnicodeError) as exc:
                        raise fail(exc, names) from exc
                    yield fix(batch)
                if self.bad_rows and o.on_bad_rows == "error":
                    raise self._bad_row_error()

        if self.bad_rows and o.on_bad_rows == "error":
            raise self._bad_row_error()
        return schema, batches()

    def _check_sample(self, entry: FileEntry, batch: pa.RecordBatch, first_line: int) -> None:
        """Refuse a text column whose sampled values are numbers except for a stray few."""
        for name in batch.schema.names:
            column = batch.column(name)
            if name in self._types or not pa.types.is_string(column.type):
                continue
            numeric = pc.match_substring_regex(column, _NUMBER)
            count, total = pc.sum(numeric).as_py() or 0, len(column) - column.null_count
            if count >= 50 and count < total and count >= 0.99 * total:
                at = pc.index(pc.invert(numeric), True).as_py()
                skipped = sum(1 for r in self.bad_rows if r["line"] <= first_line + at)
                line = first_line + at + skipped
                raise _cell_error(
                    f"{entry.display}:{line}",
                    name,
                    column[at].as_py(),
                    "number",
                    f"all {count} other values in the first rows are numbers",
                    {"file": entry.display, "line": line},
                )

    def _csv_error(self, entry: FileEntry, exc: Exception, names: list[str]) -> InvalidInput:
        text = str(exc)
        if "Empty CSV file" in text:
            return InvalidInput(f"{entry.display} is empty.", details={"file": entry.display})
        if isinstance(exc, UnicodeError) or "invalid UTF8" in text:
            return self._encoding_error(entry)
        match = _CSV_CONVERSION.search(text)
        if match and names:
            column, line = names[int(match[1])], int(match[2])
            return _cell_error(
                f"{entry.display}:{line}",
                column,
                match[4],
                match[3],
                column in self._types,
                {"file": entry.display, "line": line},
            )
        return InvalidInput(
            f"Could not read {entry.display} as {self.options.format or 'CSV'}: {text}",
            hint="Check the file format, delimiter: and quoting.",
            details={"file": entry.display},
        )

    def _encoding_error(self, entry: FileEntry) -> InvalidInput:
        """Locate the first undecodable byte (one bounded pass) and describe it."""
        with self._fs.open(entry.path, "rb", compression="infer") as handle:
            try:
                for _ in _line_chunks(handle, self.options.encoding, entry.display):
                    pass
            except InvalidInput as located:
                return located
        return InvalidInput(
            f"{entry.display} holds text that is not valid {self.options.encoding}.",
            hint="Set encoding: to the file's encoding (e.g. latin-1 or cp1252).",
        )

    def _jsonl(
        self, entry: FileEntry, handle: BinaryIO, target: pa.Schema | None
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        chunks = _line_chunks(handle, self.options.encoding, entry.display)
        first: tuple[int, bytes] | None = None
        for line, data in chunks:
            if data.strip():
                first = (line, data)
                break
        if first is None:
            raise InvalidInput(f"{entry.display} is empty.", details={"file": entry.display})
        formats = self.options.timestamp_formats or []

        def as_text(schema: pa.Schema) -> pa.Schema:  # temporal values parse in _conform
            return pa.schema(
                [
                    pa.field(f.name, pa.string()) if pa.types.is_temporal(f.type) else f
                    for f in schema
                ]
            )

        parsed: pa.Table | None = None
        if target is None:
            declared = as_text(pa.schema(list(self._types.items())))
            parsed = self._json_table(entry, *first, declared, "infer")
            fields = []
            for f in parsed.schema:  # text columns whose values all are dates or timestamps
                kind = self._types.get(f.name, f.type)
                if f.name not in self._types and pa.types.is_string(f.type):
                    kind = _temporal_kind(parsed.column(f.name).combine_chunks(), formats) or kind
                fields.append(pa.field(f.name, kind))
            order = _first_keys(first[1])  # declared columns first otherwise
            fields.sort(key=lambda f: order.index(f.name) if f.name in order else len(order))
            target = pa.schema(fields)
        schema, read = target, as_text(target)

        def batches() -> Iterator[pa.RecordBatch]:
            with handle:
                for line, data in itertools.chain([first], chunks):
                    if parsed is not None and line == first[0]:
                        table = parsed
                    elif data.strip():
                        table = self._json_table(entry, line, data, read, "error")
                    else:
                        continue
                    where = self._json_where(entry, line, data)
                    yield from self._conform(table, schema, where).to_batches()

        return schema, batches()

    def _json_table(
        self, entry: FileEntry, line: int, data: bytes, explicit: pa.Schema, behavior: str
    ) -> pa.Table:
        def parse(blob: bytes) -> pa.Table:
            return pjson.read_json(
                io.BytesIO(blob),
                read_options=pjson.ReadOptions(use_threads=False, block_size=len(blob) + 1),
                parse_options=pjson.ParseOptions(
                    explicit_schema=locked[0] or None, unexpected_field_behavior=behavior
                ),
            )

        locked = [explicit]
        try:
            return parse(data)
        except pa.ArrowInvalid:
            pass
        # Bisect the chunk down to the offending lines (a few parses per bad line). The
        # first (leftmost) good part fixes the types, so later conflicts become bad rows.
        lines = [(line + i, text) for i, text in enumerate(data.split(b"\n")) if text.strip()]
        good: list[pa.Table] = []
        stop = self.options.on_bad_rows == "error"

        def bisect(part: list[tuple[int, bytes]]) -> None:
            if stop and self.bad_rows:
                return
            try:
                good.append(parse(b"\n".join(text for _, text in part)))
                if behavior == "infer" and len(good) == 1:
                    known = [f for f in good[0].schema if f.name not in explicit.names]
                    locked[0] = pa.schema([*explicit, *known])
            except pa.ArrowInvalid as exc:
                if len(part) > 1:
                    bisect(part[: len(part) // 2])
                    bisect(part[len(part) // 2 :])
                    return
                number, text = part[0]
                problem = _json_problem(text, locked[0], behavior == "error", str(exc))
                raw = text.decode(errors="replace")
                self.bad_rows.append(
                    {"file": entry.display, "line": number, "text": raw, "problem": problem}
                )

        bisect(lines)
        if stop and self.bad_rows:
            raise self._bad_row_error()
        if not good:
            return locked[0].empty_table()
        return pa.concat_tables(good, promote_options="permissive")

    def _json_where(self, entry: FileEntry, line: int, data: bytes) -> Callable[[int], str]:
        def where(i: int) -> str:  # i-th record of the chunk -> file:line
            bad = {r["line"] for r in self.bad_rows if r["file"] == entry.display}
            records = [line + n for n, t in enumerate(data.split(b"\n")) if t.strip()]
            return f"{entry.display}:{[n for n in records if n not in bad][i]}"

        return where

    def _parquet_schema(self, entries: list[FileEntry], res: ExitStack) -> pa.Schema:
        schemas = []
        for entry in entries:
            _check_not_empty(entry)
            try:
                with self._fs.open(entry.path, "rb") as handle:
                    schemas.append(pq.read_schema(handle))
            except _ARROW_ERRORS as exc:
                raise _parquet_error(entry, exc) from exc
        try:
            unified = pa.unify_schemas(schemas, promote_options="permissive")
        except _ARROW_ERRORS as exc:
            raise InvalidInput(
                f"The Parquet files of {self._uri} have incompatible schemas: {exc}",
                hint="Declare the conflicting columns' types in schema:.",
            ) from exc
        return pa.schema([pa.field(f.name, self._types.get(f.name, f.type)) for f in unified])

    def _parquet(
        self, entry: FileEntry, target: pa.Schema, res: ExitStack, batch_size: int
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        handle = res.enter_context(self._fs.open(entry.path, "rb"))
        try:
            parquet = pq.ParquetFile(handle)
        except _ARROW_ERRORS as exc:
            raise _parquet_error(entry, exc) from exc

        seen = 0

        def where(i: int) -> str:
            return f"{entry.display} row {seen + i + 1}"

        def batches() -> Iterator[pa.RecordBatch]:
            nonlocal seen
            with handle:
                for batch in parquet.iter_batches(batch_size=batch_size):
                    table = pa.Table.from_batches([batch])
                    yield from self._conform(table, target, where).to_batches()
                    seen += batch.num_rows

        return target, batches()

    def _conform(self, table: pa.Table, schema: pa.Schema, where: Callable[[int], str]) -> pa.Table:
        """Order, fill (missing columns are null), cast and parse ``table`` into ``schema``."""
        columns = []
        for field in schema:
            if field.name not in table.column_names:
                columns.append(pa.nulls(table.num_rows, field.type))
                continue
            column = table.column(field.name).combine_chunks()
            try:
                if column.type == field.type:
                    columns.append(column)
                elif pa.types.is_string(column.type) and pa.types.is_temporal(field.type):
                    formats = self.options.timestamp_formats or []
                    columns.append(_parse_temporal(column, field.type, formats))
                else:
                    columns.append(column.cast(field.type))
            except (IndexError, *_ARROW_ERRORS) as exc:
                at = exc.args[0] if isinstance(exc, IndexError) else _first_unfit(column, field)
                value, kind = column[at].as_py(), str(field.type)
                declared = field.name in self._types
                details = {"file": where(at)}
                raise _cell_error(where(at), field.name, value, kind, declared, details) from exc
        return pa.Table.from_arrays(columns, schema=schema)


def _first_unfit(column: pa.Array, field: pa.Field) -> int:
    """Position of the first value of ``column`` that does not cast to ``field``'s type."""
    for i in range(len(column)):
        try:
            column.slice(i, 1).cast(field.type)
        except _ARROW_ERRORS:
            return i
    return 0


def _check_not_empty(entry: FileEntry) -> None:
    if entry.size == 0:
        raise InvalidInput(
            f"{entry.display} is empty (0 bytes).",
            hint="Remove the file or write data (with a header line for CSV) into it.",
            details={"file": entry.display},
        )


def _options_error(exc: ValidationError) -> InvalidInput:
    problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    return InvalidInput(
        f"Invalid source options: {'; '.join(problems)}.", details={"problems": problems}
    )


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


def _line_chunks(stream: BinaryIO, encoding: str, display: str) -> Iterator[tuple[int, bytes]]:
    """Yield ``(first line number, UTF-8 bytes)`` for line-aligned chunks of a text stream.

    Raises:
        InvalidInput: Bytes that do not decode, with their byte offset and line.
    """
    utf8 = codecs.lookup(encoding).name == "utf-8"
    line, offset, carry = 1, 0, b""
    while True:
        block = stream.read(_BLOCK)
        data = carry + block
        cut = data.rfind(b"\n") + 1 if block else len(data)
        part, carry = data[:cut], data[cut:]
        if part:
            try:
                text = part.decode(encoding)
            except UnicodeDecodeError as exc:
                at = offset + exc.start
                bad_line = line + part.count(b"\n", 0, exc.start)
                raise InvalidInput(
                    f"{display} is not valid {encoding}: byte {part[exc.start : exc.start + 1]!r} "
                    f"at offset {at} (line {bad_line}) cannot be decoded.",
                    hint="Set encoding: to the file's encoding (e.g. latin-1 or cp1252), or "
                    "re-save the file as UTF-8.",
                    details={"file": display, "offset": at, "line": bad_line},
                ) from exc
            yield line, part if utf8 else text.encode("utf-8")
            line += part.count(b"\n")
            offset += len(part)
        if not block:
            return


def _first_keys(data: bytes) -> list[str]:
    """The keys of the first JSON object in ``data``, in file order (``[]`` if unreadable)."""
    try:
        record = json.loads(data.lstrip().split(b"\n", 1)[0])
    except ValueError:
        return []
    return list(record) if isinstance(record, dict) else []


def _json_problem(text: bytes, schema: pa.Schema, strict: bool, arrow_message: str) -> str:
    """Say why one JSON line does not parse into ``schema``."""
    try:
        record = json.loads(text)
    except ValueError as exc:
        return f"invalid JSON: {exc}"
    if not isinstance(record, dict):
        return f"expected a JSON object, found {type(record).__name__}"
    if strict:
        extra = sorted(set(record) - set(schema.names))
        if extra:
            return (
                f"field(s) {extra} not seen in the first rows; declare them in schema: to read them"
            )
    for field in schema:
        value = record.get(field.name)
        try:
            pa.array([value], type=field.type)
        except _ARROW_ERRORS:
            return (
                f"column {field.name!r} holds {value!r}, which is not a valid {field.type}; "
                f"declare the column's type in schema:, e.g. {{{field.name}: string}}"
            )
    return arrow_message


def _parquet_error(entry: FileEntry, exc: BaseException) -> InvalidInput:
    return InvalidInput(
        f"{entry.display} is not a readable Parquet file: {exc}",
        hint="Check the file is Parquet (or set format: to its real format).",
        details={"file": entry.display},
    )


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


class SqlSource(Source):
    """The result of a SQL query against any SQLAlchemy URL, streamed in batches.

    Args:
        url: SQLAlchemy URL (``sqlite:///x.db``, ``postgresql+psycopg://u:p@host/db``) or an
            :class:`~sqlalchemy.engine.Engine` to reuse.
        query: The SELECT to run; ``:name`` placeholders are bound from ``params``.
        schema: Explicit column types by column (win over inference).
        params: Values bound to the query's placeholders.

    Column types come from the first batch plus the database's cursor description
    (PostgreSQL types are known even for columns that are NULL in the first batch); they
    are then fixed for the whole stream. JSON values become JSON text, UUIDs text.
    """

    def __init__(
        self,
        url: str | Engine,
        query: str,
        *,
        schema: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self._engine = url if isinstance(url, Engine) else None
        try:
            self._url: URL = url.url if isinstance(url, Engine) else make_url(url)
        except sa_exc.ArgumentError as exc:
            raise InvalidInput(
                f"{url!r} is not a SQLAlchemy URL: {exc}",
                hint="Use e.g. sqlite:///data.db or postgresql+psycopg://user@host/db.",
            ) from exc
        if not isinstance(query, str) or not query.strip().rstrip(";").strip():
            raise InvalidInput(f"The SQL query is empty: {query!r}.", hint="Pass a SELECT.")
        self.query = query.strip().rstrip(";").strip()
        self.params = dict(params or {})
        self._types = {col: arrow_type(kind) for col, kind in (schema or {}).items()}
        self._schema = dict(schema or {})

    def _safe_url(self) -> str:
        return self._url._replace(password=None).render_as_string(hide_password=False)

    def identity(self) -> str:
        """``sql:<backend>://host:port/db#<BLAKE3 of the query (and params)>``."""
        u = self._url
        where = URL.create(u.get_backend_name(), host=u.host, port=u.port, database=u.database)
        payload = self.query
        if self.params:
            payload += "\0" + json.dumps(self.params, sort_keys=True, default=str)
        return f"sql:{where.render_as_string()}#{hash_bytes(payload.encode())}"

    def describe(self) -> dict[str, Any]:
        """``{kind: sql, url (no password), query, params, options}``."""
        return {
            "kind": "sql",
            "url": self._safe_url(),
            "query": self.query,
            "params": json.loads(json.dumps(self.params, default=str)),
            "options": {"schema": self._schema or None},
        }

    def _error(self, exc: sa_exc.SQLAlchemyError, watermark: str | None) -> InvalidInput:
        orig = getattr(exc, "orig", None)
        message = str(orig if orig is not None else exc).strip()
        if self._url.password:
            message = message.replace(str(self._url.password), "***")
        wrapped = (
            f" With a watermark the query runs as a subquery filtered on src.{watermark} > "
            f":after and ordered by it, so the query must return the column {watermark!r}."
            if watermark
            else ""
        )
        return InvalidInput(
            f"The SQL query failed on {self._safe_url()}: {message}\nQuery: {self.query}",
            hint=f"Fix the query (try it in a SQL client first).{wrapped}",
            details={"url": self._safe_url(), "query": self.query, "error": message},
        )

    def open(
        self,
        *,
        after: Any | None = None,
        watermark: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> pa.RecordBatchReader:
        """Run the query and stream its rows; the watermark condition runs in the database.

        Raises:
            NotFound: A SQLite database file does not exist.
            InvalidInput: The database refused the query (its message and the query are in
                the error, never the password), or a value does not fit its column's type.
        """
        _check_open_args(after, watermark, batch_size)
        database = self._url.database
        if (
            self._url.get_backend_name() == "sqlite"
            and database not in (None, "", ":memory:")
            and not database.startswith("file:")
            and not Path(database).exists()
        ):
            raise NotFound(f"No SQLite database at {database}.", details={"path": database})
        statement: sa.Executable = sa.text(self.query)
        if watermark is not None:
            sub = sa.text(self.query).columns(sa.column(watermark)).subquery("src")
            select: sa.Select[Any] = sa.select(sa.literal_column("*")).select_from(sub)
            if after is not None:
                # Text is sent untyped so the database casts it to the column's type.
                kind = sa.types.NullType() if isinstance(after, str) else None
                select = select.where(sub.c[watermark] > sa.bindparam("cycleml_after", after, kind))
            statement = select.order_by(sub.c[watermark])
        res = _Resources()
        try:
            engine = self._engine
            if engine is None:
                engine = sa.create_engine(self._url, poolclass=NullPool)
                res.callback(engine.dispose)
            conn = res.enter_context(engine.connect())
            options = conn.execution_options(stream_results=True, yield_per=batch_size)
            result = options.execute(statement, self.params)
            res.callback(result.close)
            names = list(result.keys())
            description = list(result.cursor.description or []) if result.cursor else []
            rows = result.fetchmany(batch_size)
            schema = self._infer(names, description, rows)
            first = self._batch(rows, schema, 0)
        except sa_exc.SQLAlchemyError as exc:
            res.close()
            raise self._error(exc, watermark) from exc
        except BaseException:
            res.close()
            raise

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                yield first
                seen = len(rows)
                while chunk := result.fetchmany(batch_size):
                    yield self._batch(chunk, schema, seen)
                    seen += len(chunk)
            except sa_exc.SQLAlchemyError as exc:
                raise self._error(exc, watermark) from exc
            finally:
                res.close()

        return _finish(schema, batches(), watermark=None, after=None, batch_size=batch_size)

    def _infer(self, names: list[str], description: list[Any], rows: Sequence[Any]) -> pa.Schema:
        postgres = self._url.get_backend_name() == "postgresql"
        fields = []
        for i, name in enumerate(names):
            kind = self._types.get(name)
            code = description[i][1] if i < len(description) else None
            if kind is None and postgres and isinstance(code, int):
                precision, scale = description[i][4], description[i][5]
                if code == 1700 and precision:
                    kind = pa.decimal128(min(int(precision), 38), int(scale or 0))
                kind = kind or _PG_TYPES.get(code)
            if kind is None:
                sample = [row[i] for row in rows if row[i] is not None]
                try:
                    kind = pa.array(sample).type if sample else pa.null()
                except _ARROW_ERRORS as exc:
                    found = sorted({type(v).__name__ for v in sample})
                    raise InvalidInput(
                        f"Column {name!r} of the SQL result mixes value types ({', '.join(found)})"
                        " in its first rows.",
                        details={"column": name, "types": found},
                        hint=f"Declare its type in schema:, e.g. schema: {{{name}: string}}.",
                    ) from exc
                if pa.types.is_decimal(kind):
                    kind = pa.decimal128(38, kind.scale)
                elif pa.types.is_struct(kind) or pa.types.is_map(kind):
                    kind = pa.string()
            fields.append(pa.field(name, kind))
        return pa.schema(fields)

    def _batch(self, rows: Sequence[Any], schema: pa.Schema, offset: int) -> pa.RecordBatch:
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
        return pa.RecordBatch.from_arrays(
            [
                self._array(list(values), field, offset)
                for values, field in zip(columns, schema, strict=True)
            ],
            schema=schema,
        )

    def _array(self, values: list[Any], field: pa.Field, offset: int) -> pa.Array:
        kind = field.type
        try:
            return pa.array(values, type=kind)
        except _ARROW_ERRORS:
            pass
        if pa.types.is_string(kind):
            return pa.array([_text(v) for v in values], type=kind)
        try:
            return pa.array(values).cast(kind)
        except _ARROW_ERRORS as exc:
            at = next(i for i, v in enumerate(values) if not _fits(v, kind))
            raise _cell_error(
                f"SQL result row {offset + at + 1}",
                field.name,
                values[at],
                str(kind),
                field.name in self._types,
                {"row": offset + at + 1},
            ) from exc


def _fits(value: Any, kind: pa.DataType) -> bool:
    try:
        pa.array([value], type=kind)
        return True
    except _ARROW_ERRORS:
        pass
    try:
        pa.array([value]).cast(kind)
        return True
    except _ARROW_ERRORS:
        pass
    return False


class FrameSource(Source):
    """An in-memory frame: pandas or polars DataFrame, polars LazyFrame, or a pyarrow
    Table, RecordBatch or RecordBatchReader (anything with ``__arrow_c_stream__`` too).

    Args:
        obj: The frame. A RecordBatchReader can be opened once.
        name: Optional name used in :meth:`identity` (default: the frame's type and schema).
    """

    def __init__(self, obj: Any, *, name: str | None = None) -> None:
        module = type(obj).__module__.split(".")[0]
        kind = f"{module}.{type(obj).__name__}"
        if isinstance(obj, pa.RecordBatch):
            obj = pa.Table.from_batches([obj])
        if not (
            isinstance(obj, pa.Table | pa.RecordBatchReader)
            or module in ("pandas", "polars")
            or hasattr(obj, "__arrow_c_stream__")
        ):
            raise InvalidInput(
                f"FrameSource cannot read a {kind}.",
                hint="Pass a pandas or polars DataFrame, a polars LazyFrame, or a pyarrow "
                "Table, RecordBatch or RecordBatchReader.",
                details={"received": kind},
            )
        self._obj, self._kind, self._name, self._used = obj, kind, name, False
        self.schema = self._schema()

    def _schema(self) -> pa.Schema:
        obj = self._obj
        if isinstance(obj, pa.Table | pa.RecordBatchReader):
            return obj.schema
        if self._kind == "pandas.DataFrame":
            try:
                return pa.Schema.from_pandas(obj, preserve_index=False).remove_metadata()
            except _ARROW_ERRORS as exc:
                raise InvalidInput(
                    f"The pandas DataFrame cannot be converted to Arrow: {exc}",
                    hint="Give object columns a single type each.",
                ) from exc
        if self._kind.startswith("polars."):
            import polars as pl

            empty = pl.DataFrame(schema=obj.collect_schema())
            return empty.to_arrow(compat_level=pl.CompatLevel.oldest()).schema
        self._obj = pa.RecordBatchReader.from_stream(obj)
        return self._obj.schema

    def identity(self) -> str:
        """``frame:<name>``, or ``frame:<type>#<BLAKE3 of the schema>`` without a name."""
        if self._name:
            return f"frame:{self._name}"
        return f"frame:{self._kind}#{hash_bytes(self.schema.to_string().encode())[:16]}"

    def describe(self) -> dict[str, Any]:
        """``{kind: frame, type, columns, rows}`` (rows when known without reading)."""
        rows = getattr(self._obj, "num_rows", None)
        if rows is None and self._kind.endswith("DataFrame"):
            rows = len(self._obj)
        return {
            "kind": "frame",
            "type": self._kind,
            "name": self._name,
            "columns": {f.name: str(f.type) for f in self.schema},
            "rows": rows,
        }

    def open(
        self,
        *,
        after: Any | None = None,
        watermark: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> pa.RecordBatchReader:
        """Stream the frame in slices of ``batch_size`` rows (see :meth:`Source.open`).

        Raises:
            InvalidState: A RecordBatchReader (or stream) was already opened once.
        """
        _check_open_args(after, watermark, batch_size)
        obj, schema = self._obj, self.schema
        if isinstance(obj, pa.RecordBatchReader):
            if self._used:
                raise InvalidState(
                    "This RecordBatchReader was already read; a reader can be read once.",
                    hint="Pass a pyarrow Table to read it again.",
                )
            self._used = True
            batches: Iterable[pa.RecordBatch] = obj
        elif isinstance(obj, pa.Table):
            batches = obj.to_batches(max_chunksize=batch_size)
        elif self._kind == "pandas.DataFrame":
            batches = self._pandas(obj, schema, batch_size)
        else:
            batches = self._polars(obj, schema, batch_size)
        return _finish(schema, batches, watermark=watermark, after=after, batch_size=batch_size)

    @staticmethod
    def _pandas(frame: Any, schema: pa.Schema, size: int) -> Iterator[pa.RecordBatch]:
        for start in range(0, len(frame), size):
            part = frame.iloc[start : start + size]
            try:
                table = pa.Table.from_pandas(part, schema=schema, preserve_index=False)
            except _ARROW_ERRORS as exc:
                raise InvalidInput(
                    f"Rows {start}-{start + len(part) - 1} of the pandas "
                    f"DataFrame cannot be converted to Arrow: {exc}"
                ) from exc
            yield from table.replace_schema_metadata(None).to_batches()

    @staticmethod
    def _polars(frame: Any, schema: pa.Schema, size: int) -> Iterator[pa.RecordBatch]:
        import polars as pl

        compat = pl.CompatLevel.oldest()
        if isinstance(frame, pl.LazyFrame):
            if hasattr(frame, "collect_batches"):  # streaming engine, bounded memory
                for part in frame.collect_batches(chunk_size=size, lazy=True):
                    yield from part.to_arrow(compat_level=compat).cast(schema).to_batches()
                return
            frame = frame.collect()
        for part in frame.iter_slices(size):
            yield from part.to_arrow(compat_level=compat).cast(schema).to_batches()


def source_from_spec(spec: FileSourceSpec | SqlSourceSpec, *, base_dir: Path) -> Source:
    """Build the :class:`Source` a ``sources:`` entry describes.

    Relative file paths and relative SQLite database paths resolve against ``base_dir``
    (the project folder); ``${VAR}`` in a SQL URL is expanded from the environment.
    """
    if isinstance(spec, FileSourceSpec):
        path = spec.path
        if "://" not in path:
            path = str(Path(base_dir) / Path(path).expanduser())
        return FileSource(
            path,
            format=spec.format,
            schema=spec.column_types,
            timestamp_formats=spec.timestamp_formats,
            delimiter=spec.delimiter,
            encoding=spec.encoding,
            header=spec.header,
            on_bad_rows=spec.on_bad_rows,
        )
    if isinstance(spec, SqlSourceSpec):
        url = os.path.expandvars(spec.url)
        try:
            parsed = make_url(url)
        except sa_exc.ArgumentError as exc:
            raise InvalidInput(f"{spec.url!r} is not a SQLAlchemy URL: {exc}") from exc
        database = parsed.database
        if (
            parsed.get_backend_name() == "sqlite"
            and database
            and database != ":memory:"
            and not database.startswith("file:")
            and not Path(database).is_absolute()
        ):
            url = parsed.set(database=str(Path(base_dir) / database)).render_as_string(
                hide_password=False
            )
        return SqlSource(url, spec.query, schema=spec.column_types, params=spec.params)
    raise InvalidInput(f"Not a source spec: {type(spec).__name__}.")
