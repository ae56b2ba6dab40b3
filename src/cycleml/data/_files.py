"""File sources: CSV/TSV, JSON Lines and Parquet from paths, globs, folders and fsspec URIs."""

from __future__ import annotations

import codecs
import io
import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from glob import has_magic
from pathlib import Path
from typing import Any, BinaryIO, cast

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq
from pydantic import ValidationError

from cycleml.data._stream import (
    _ARROW_ERRORS,
    _BLOCK,
    _CSV_CONVERSION,
    _NUMBER,
    _SHOWN,
    DEFAULT_BATCH_SIZE,
    FileEntry,
    Source,
    _cell_error,
    _check_open_args,
    _finish,
    _format_of,
    _mtime,
    _no_credentials,
    _parse_temporal,
    _Resources,
    _temporal_kind,
    arrow_type,
)
from cycleml.errors import InvalidInput, NotFound
from cycleml.hashing import hash_stream
from cycleml.spec._sources import (
    FileFormat,
    FileSourceSpec,
    OnBadRows,
)

__all__ = ["FileSource"]


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
            # The first block failed before Arrow told the column names: read the header.
            raise fail(exc, self._header_names(entry, fmt) if o.header else []) from exc
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

    def _header_names(self, entry: FileEntry, fmt: str) -> list[str]:
        """The column names of a CSV file's header line ([] when it cannot be read)."""
        import csv

        delimiter = self.options.delimiter or ("\t" if fmt == "tsv" else ",")
        try:
            with self._fs.open(
                entry.path, "rt", compression="infer", encoding=self.options.encoding, newline=""
            ) as handle:
                return next(csv.reader(handle, delimiter=delimiter), [])
        except (OSError, UnicodeError, csv.Error):
            return []

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
