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

import os
from pathlib import Path

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from cycleml.data._files import FileSource
from cycleml.data._frames import FrameSource
from cycleml.data._sql import SqlSource
from cycleml.data._stream import DEFAULT_BATCH_SIZE, FileEntry, Source, arrow_type
from cycleml.errors import InvalidInput
from cycleml.spec._sources import FileSourceSpec, SqlSourceSpec

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
