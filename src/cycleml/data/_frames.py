"""In-memory sources: pandas, polars and pyarrow objects sliced into Arrow batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

from cycleml.data._stream import (
    _ARROW_ERRORS,
    DEFAULT_BATCH_SIZE,
    Source,
    _check_open_args,
    _finish,
)
from cycleml.errors import InvalidInput, InvalidState
from cycleml.hashing import hash_bytes

__all__ = ["FrameSource"]


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
