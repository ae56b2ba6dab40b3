"""Reading the caller's data: the input wrapper and the column conversions.

:func:`open_table` wraps whatever monitoring accepts (a pandas or polars DataFrame, an
Arrow table, batch or stream, a Parquet file or folder, a ``datasets:/`` URI or dataset
version) in a :class:`Table` that is either in memory or streamed from Parquet in batches;
:func:`as_table` reads any of them into one Arrow table. The conversions turn one column
into what the profiles and tests work on: float64 values (:func:`as_float_array`), category
counts (:func:`category_counts`, keyed by :func:`key`) and its kind (:func:`column_kind`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from cycleml.errors import InvalidInput

__all__ = ["as_table"]

FloatArray = npt.NDArray[np.float64]

#: A Parquet input up to this many cells (rows x columns read) is loaded and tested
#: exactly; a larger one is streamed in batches of ``BATCH_ROWS`` rows.
IN_MEMORY_CELLS = 25_000_000
BATCH_ROWS = 1 << 18


def column_kind(arrow_type: pa.DataType) -> str | None:
    """The column kind an Arrow type maps to (None: not monitored)."""
    t = pa.types
    checks = {
        "boolean": (t.is_boolean,),
        "numeric": (t.is_integer, t.is_floating, t.is_decimal),
        "datetime": (t.is_timestamp, t.is_date),
        "categorical": (
            t.is_string,
            t.is_large_string,
            t.is_string_view,
            t.is_dictionary,
            t.is_null,
        ),
    }
    return next((k for k, fns in checks.items() if any(f(arrow_type) for f in fns)), None)


def _pandas_type(series: Any) -> pa.DataType:
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biufM":
        return pa.from_numpy_dtype(dtype)
    try:
        return pa.array(series.iloc[:512], from_pandas=True).type
    except (pa.ArrowException, TypeError, ValueError):
        return pa.string()  # mixed objects: compared as their str()


_FRAME_LOCK = threading.Lock()


@dataclass
class Table:
    """The caller's data: a pandas frame or Arrow table in memory, or a Parquet dataset."""

    names: list[str]
    types: dict[str, pa.DataType]
    rows: int
    frame: Any = None
    table: pa.Table | None = None
    dataset: Any = None
    labels: dict[str, Any] = field(default_factory=dict)

    @property
    def in_memory(self) -> bool:
        """True unless the rows are streamed from Parquet."""
        return self.dataset is None

    def select(self, names: Sequence[str]) -> Table:
        """Load a small Parquet input's ``names`` into memory; keep a large one streamed."""
        if self.dataset is None or self.rows * max(len(names), 1) > IN_MEMORY_CELLS:
            return self
        table = self.dataset.to_table(columns=list(names))
        return Table(list(names), {n: self.types[n] for n in names}, self.rows, table=table)

    def column(self, name: str) -> Any:
        """A column of an in-memory table (pandas Series or Arrow ChunkedArray)."""
        if self.frame is not None:
            with _FRAME_LOCK:  # column pools read frames from several threads at once
                return self.frame[self.labels[name]]
        assert self.table is not None
        return self.table.column(name)

    def batches(self, names: Sequence[str]) -> Iterator[pa.RecordBatch]:
        """The rows of a streamed input in batches of at most ``BATCH_ROWS``."""
        import pyarrow.parquet as pq

        # File by file and without pre-buffering: the dataset scanner reads ahead as fast
        # as it can (gigabytes when the consumer is slower), iter_batches only on demand.
        for path in self.dataset.files:
            with pq.ParquetFile(path, pre_buffer=False) as parquet:
                yield from parquet.iter_batches(batch_size=BATCH_ROWS, columns=list(names))


def _arrow_table(table: pa.Table) -> Table:
    names = [str(n) for n in table.column_names]
    if len(set(names)) != len(names):
        raise InvalidInput(f"Column names must be unique, got {names}.")
    return Table(names, {f.name: f.type for f in table.schema}, table.num_rows, table=table)


def _parquet(paths: list[str] | str) -> Table:
    import pyarrow.dataset as pads

    try:
        dataset = pads.dataset(paths, format="parquet")
        rows = dataset.count_rows()
    except (OSError, pa.ArrowException) as exc:
        raise InvalidInput(
            f"Could not read Parquet at {paths!r}: {exc}.",
            hint="Pass a Parquet file or folder, a datasets:/ URI, or an in-memory table.",
        ) from exc
    schema = dataset.schema
    return Table(list(schema.names), {f.name: f.type for f in schema}, rows, dataset=dataset)


def open_table(data: Any) -> Table:
    """Wrap pandas/polars/Arrow data, a Parquet path or a ``datasets:/`` URI/version."""
    import pandas as pd

    from cycleml.data._entities import DatasetVersion

    if isinstance(data, pd.DataFrame):
        labels = {str(label): label for label in data.columns}
        if len(labels) != data.shape[1]:
            raise InvalidInput(f"Column names must be unique, got {list(data.columns)}.")
        types = {name: _pandas_type(data[label]) for name, label in labels.items()}
        return Table(list(labels), types, len(data), frame=data, labels=labels)
    if isinstance(data, pa.Table):
        return _arrow_table(data)
    if isinstance(data, pa.RecordBatch):
        return _arrow_table(pa.Table.from_batches([data]))
    if isinstance(data, pa.RecordBatchReader):
        return _arrow_table(data.read_all())
    if (isinstance(data, str) and data.startswith("datasets:/")) or isinstance(
        data, DatasetVersion
    ):
        from cycleml.data import Datasets

        datasets = Datasets()
        try:
            paths = datasets.list_part_paths(datasets.get(data))
        finally:
            datasets.close()
        if not paths:
            raise InvalidInput(f"Dataset version {data!r} has no rows.")
        return _parquet(paths)
    if (
        isinstance(data, list | tuple)
        and data
        and all(isinstance(item, str | os.PathLike) for item in data)
    ):  # several Parquet files read as one table (e.g. a dataset version's parts)
        missing = [os.fspath(item) for item in data if not Path(item).exists()]
        if missing:
            raise InvalidInput(f"No such file: {missing[0]!r}.")
        return _parquet([os.fspath(item) for item in data])
    if isinstance(data, str | os.PathLike):
        if not Path(data).exists():
            raise InvalidInput(
                f"No such file or folder: {os.fspath(data)!r}.",
                hint="Pass a Parquet file or folder, a datasets:/ URI, or an in-memory table.",
            )
        return _parquet(os.fspath(data))
    if hasattr(data, "to_arrow"):  # polars (and others) without importing them
        return _arrow_table(data.to_arrow())
    if hasattr(data, "__arrow_c_stream__"):
        return _arrow_table(pa.table(data))
    raise InvalidInput(
        f"Cannot read data of type {type(data).__name__}.",
        hint="Pass a pandas/polars DataFrame, a pyarrow Table, a Parquet path, "
        "a datasets:/name/version URI or a ReferenceProfile.",
    )


def as_table(data: Any) -> pa.Table:
    """Any input :func:`reference` accepts, as one in-memory Arrow table (reads it all)."""
    table = open_table(data)
    if table.table is not None:
        return table.table
    if table.dataset is not None:
        return table.dataset.to_table()
    try:
        # Column labels as str (as open_table names them); rename copies the frame.
        return pa.Table.from_pandas(table.frame.rename(columns=str), preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InvalidInput(
            f"Could not convert the DataFrame to Arrow: {exc}.",
            hint="Give each column one type (e.g. no mixed numbers and strings).",
        ) from exc


def _arrow_floats(array: Any) -> FloatArray:
    arrow_type = array.type
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        tz = getattr(arrow_type, "tz", None)
        array = pc.cast(pc.cast(array, pa.timestamp("us", tz=tz), safe=False), pa.int64())
    elif pa.types.is_decimal(arrow_type) or pa.types.is_boolean(arrow_type):
        array = pc.cast(array, pa.float64())
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)


def as_float_array(column: Any, arrow_type: pa.DataType, name: str) -> FloatArray:
    """Float64 values (NaN where missing; datetimes as epoch microseconds)."""
    if column_kind(arrow_type) not in ("numeric", "datetime", "boolean"):
        raise InvalidInput(
            f"Column {name!r} is numeric in the reference but {arrow_type} here.",
            hint="Compare data with the same schema, or list the column in categorical=.",
        )
    if isinstance(column, pa.Array | pa.ChunkedArray):
        return _arrow_floats(column)
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        return np.asarray(column.to_numpy(), dtype=np.float64)
    return _arrow_floats(pa.array(column, from_pandas=True))


def key(value: Any) -> str:
    """The category key of a value: ints and integral floats print alike (``1`` == ``1.0``)."""
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value)


def _tally(values: Iterable[Any], counts: Iterable[Any]) -> dict[str, int]:
    result: dict[str, int] = {}
    for value, count in zip(values, counts, strict=True):
        if value is not None and count:
            name = key(value)
            result[name] = result.get(name, 0) + int(count)
    return result


def category_counts(column: Any, arrow_type: pa.DataType, name: str) -> dict[str, int]:
    """Value (as str) -> count of the present values of a column."""
    if column_kind(arrow_type) in ("numeric", "datetime"):
        values = as_float_array(column, arrow_type, name)
        levels, counts = np.unique(values[np.isfinite(values)], return_counts=True)
        return _tally(levels.tolist(), counts.tolist())
    if not isinstance(column, pa.Array | pa.ChunkedArray):
        dtype = column.dtype
        if isinstance(dtype, np.dtype) and dtype.kind == "b":
            trues = int(np.count_nonzero(column.to_numpy()))
            return _tally([True, False], [trues, len(column) - trues])
        if str(dtype) == "category":
            codes = column.cat.codes.to_numpy()
            counts = np.bincount(codes[codes >= 0], minlength=len(column.cat.categories))
            return _tally(list(column.cat.categories), counts.tolist())
        if isinstance(dtype, np.dtype) and dtype.kind == "O":
            counted = column.value_counts(dropna=True)
            return _tally(counted.index.tolist(), counted.tolist())
        column = pa.array(column, from_pandas=True)
    if pa.types.is_string_view(column.type):
        column = pc.cast(column, pa.large_string())
    counted = pc.value_counts(column)
    return _tally(counted.field("values").to_pylist(), counted.field("counts").to_pylist())
