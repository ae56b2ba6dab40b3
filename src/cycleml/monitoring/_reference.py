"""Reference profiles: a compact, storable summary of a dataset for drift monitoring.

:func:`reference` reads a table once (in memory, or streamed from Parquet in bounded
memory) and keeps, per column, what every drift test needs later: the type, missing
count, moments, a quantile sketch, a histogram on fixed bin edges, category counts and a
bounded, seeded row sample for the tests that need values (KS, Anderson-Darling,
Cramer-von Mises) and for the multivariate detector. Monitoring never reads the raw
reference again; :meth:`ReferenceProfile.to_json` is what gets stored.

The same machinery summarises a *current* window on the reference's bins
(:func:`summarise` with ``like=``), which is how :func:`cycleml.monitoring.drift` handles
a 10M-row Parquet window without loading it. Reading the caller's data (every input form,
a column as numbers or category counts) is in :mod:`cycleml.monitoring._inputs`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from cycleml.errors import InvalidInput
from cycleml.monitoring import _stats
from cycleml.monitoring._inputs import (
    Table,
    as_float_array,
    category_counts,
    column_kind,
    key,
    open_table,
)

__all__ = ["ColumnReference", "ReferenceProfile", "reference"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
T = TypeVar("T")
R = TypeVar("R")

#: Rows in a profile's seeded row sample (per-column values of the same rows).
DEFAULT_SAMPLE_SIZE = 10_000
#: Quantiles kept per numeric column, at ``np.linspace(0, 1, DEFAULT_QUANTILES)``.
DEFAULT_QUANTILES = 1001
#: Categories kept per column; the rest are counted together (``ColumnReference.other``).
DEFAULT_MAX_CATEGORIES = 1000
#: A numeric reference column with at most this many distinct values is categorical
#: (codes, flags, ratings): a KS test on five values is mostly ties.
MAX_DISCRETE = 5
#: A streamed batch's quantile summary keeps this many points (rank error <= 1/4000).
SKETCH_POINTS = 4001
#: Sample rows kept from a *streamed current* window (not stored, so it can be larger).
STREAM_SAMPLE_SIZE = 100_000


def _workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def parallel_map(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(x) for x in items]`` on a small thread pool (numpy/Arrow release the GIL)."""
    if len(items) <= 1 or _workers() == 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(_workers(), len(items))) as pool:
        return list(pool.map(fn, items))


# ---- the stored shapes ------------------------------------------------------------------

#: One NaN object for every missing sample value: tuples compare items by identity first,
#: so a profile still equals itself after a JSON round trip.
_NAN = float("nan")


def _sample_tuple(values: Iterable[Any]) -> tuple[float, ...]:
    return tuple(_NAN if v is None or v != v else float(v) for v in values)


@dataclass(frozen=True)
class ColumnReference:
    """The reference summary of one column.

    Attributes:
        name: Column name.
        kind: ``numeric``, ``categorical``, ``boolean`` or ``datetime``.
        dtype: The Arrow type as ``str(type)``, e.g. ``double``, ``string``.
        rows: All rows.
        missing: Nulls; for numbers also NaN and +-inf (they cannot be tested).
        minimum, maximum, mean, std: Of the present values (``std`` with ``ddof=0``);
            datetimes as epoch microseconds.
        quantiles: Values at ``np.linspace(0, 1, len(quantiles))`` (exact in memory, a
            merged sketch with rank error below 1/4000 when streamed).
        edges: Equal-width histogram bin edges over ``[minimum, maximum]`` (Sturges' rule
            by default); the outer bins are open-ended when current data is binned.
        counts: Histogram counts on ``edges``.
        sample: The column's values in the profile's seeded row sample, NaN where the
            row's value is missing; every numeric column holds the *same* rows in the same
            order, so the samples together are a joint sample (multivariate detector).
        categories: Categorical/boolean: value (as str) -> count, the most frequent ones.
    """

    name: str
    kind: str
    dtype: str
    rows: int
    missing: int
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: tuple[float, ...] | None = None
    edges: tuple[float, ...] | None = None
    counts: tuple[int, ...] | None = None
    sample: tuple[float, ...] | None = None
    categories: dict[str, int] | None = None

    @property
    def missing_rate(self) -> float:
        """Share of missing values (0.0 for an empty column)."""
        return self.missing / self.rows if self.rows else 0.0

    @property
    def present(self) -> int:
        """Rows with a value."""
        return self.rows - self.missing

    @property
    def other(self) -> int:
        """Categorical: present values outside the kept ``categories``."""
        return self.present - sum((self.categories or {}).values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (fields that are None left out; missing sample values None)."""
        data: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is None:
                continue
            if item.name == "sample":
                value = [None if v != v else v for v in value]
            elif isinstance(value, tuple | dict):
                value = dict(value) if isinstance(value, dict) else list(value)
            data[item.name] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnReference:
        """Rebuild from :meth:`to_dict`'s output."""

        def floats(key: str) -> tuple[float, ...] | None:
            return None if data.get(key) is None else tuple(map(float, data[key]))

        def number(key: str) -> float | None:
            return None if data.get(key) is None else float(data[key])

        try:
            return cls(
                name=str(data["name"]),
                kind=str(data["kind"]),
                dtype=str(data["dtype"]),
                rows=int(data["rows"]),
                missing=int(data["missing"]),
                minimum=number("minimum"),
                maximum=number("maximum"),
                mean=number("mean"),
                std=number("std"),
                quantiles=floats("quantiles"),
                edges=floats("edges"),
                counts=None if data.get("counts") is None else tuple(map(int, data["counts"])),
                sample=None if data.get("sample") is None else _sample_tuple(data["sample"]),
                categories=None
                if data.get("categories") is None
                else {str(k): int(v) for k, v in data["categories"].items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInput(
                f"Not a column reference: {exc!r} in {sorted(data)}.",
                hint="Pass what ColumnReference.to_dict() or ReferenceProfile.to_json() wrote.",
            ) from exc


@dataclass(frozen=True)
class ReferenceProfile:
    """A compact, storable reference: one :class:`ColumnReference` per column.

    Attributes:
        columns: Column name -> summary, in the data's column order.
        rows: Rows of the reference data.
        sample_size: Rows requested for the seeded row sample.
        created_at: Epoch milliseconds.
    """

    columns: dict[str, ColumnReference]
    rows: int
    sample_size: int
    created_at: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "format": 1,
            "rows": self.rows,
            "sample_size": self.sample_size,
            "created_at": self.created_at,
            "columns": [column.to_dict() for column in self.columns.values()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceProfile:
        """Rebuild from :meth:`to_dict`'s output."""
        if not isinstance(data, Mapping) or not isinstance(data.get("columns"), list):
            raise InvalidInput(
                f"Not a reference profile: expected a mapping with a 'columns' list, "
                f"got {type(data).__name__}.",
                hint="Pass what ReferenceProfile.to_dict() or to_json() wrote.",
            )
        columns = [ColumnReference.from_dict(item) for item in data["columns"]]
        try:
            return cls(
                columns={column.name: column for column in columns},
                rows=int(data["rows"]),
                sample_size=int(data.get("sample_size", DEFAULT_SAMPLE_SIZE)),
                created_at=int(data.get("created_at", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"Not a reference profile: {exc!r}.") from exc

    def to_json(self) -> str:
        """The profile as compact JSON (what the store keeps)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> ReferenceProfile:
        """Rebuild from :meth:`to_json`'s output."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InvalidInput(
                f"A reference profile must be JSON: {exc}.",
                hint="Pass what ReferenceProfile.to_json() wrote.",
            ) from exc
        return cls.from_dict(data)


# ---- summarising columns ------------------------------------------------------------------


@dataclass
class Side:
    """One side of a column comparison: its summary plus values when they are at hand.

    ``column`` is the side's :class:`ColumnReference` (for a current window: counted on the
    reference's bins). ``values`` holds *all* present values sorted (exact tests), or
    ``None`` when only a summary exists; ``sample`` holds the sorted present values of the
    row sample and ``rows_sample`` the row sample itself (NaN where missing).
    """

    column: ColumnReference
    values: FloatArray | None = None
    sample: FloatArray | None = None
    rows_sample: FloatArray | None = field(default=None, repr=False)

    def test_values(self) -> FloatArray:
        """All present values if known, else the sample's (sorted)."""
        if self.values is not None:
            return self.values
        return self.sample if self.sample is not None else np.empty(0)


@dataclass(frozen=True)
class Options:
    """How columns are summarised (see :func:`reference`)."""

    sample_size: int = DEFAULT_SAMPLE_SIZE
    quantiles: int = DEFAULT_QUANTILES
    bins: int | None = None
    max_categories: int | None = DEFAULT_MAX_CATEGORIES
    seed: int = 0

    def __post_init__(self) -> None:
        def whole(value: Any, least: int) -> bool:
            return isinstance(value, int) and not isinstance(value, bool) and value >= least

        ok = (
            whole(self.sample_size, 0)
            and whole(self.quantiles, 2)
            and (self.bins is None or whole(self.bins, 1))
            and (self.max_categories is None or whole(self.max_categories, 1))
        )
        if not ok:
            raise InvalidInput(
                f"Invalid options: sample_size={self.sample_size!r}, "
                f"quantiles={self.quantiles!r}, bins={self.bins!r}, "
                f"max_categories={self.max_categories!r}.",
                hint="Use sample_size >= 0, quantiles >= 2, bins >= 1 or None, "
                "max_categories >= 1.",
            )


def _categorical(
    name: str, kind: str, dtype: str, rows: int, counts: Mapping[str, int], limit: int | None
) -> ColumnReference:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ColumnReference(
        name=name,
        kind=kind,
        dtype=dtype,
        rows=rows,
        missing=rows - int(sum(counts.values())),
        categories=dict(ordered if limit is None else ordered[:limit]),
    )


class _Numeric:
    """One numeric column summarised batch by batch.

    With a single batch (anything in memory) every figure is exact and the sorted values
    can be kept for exact tests; over several batches (streamed Parquet) the quantiles come
    from a merged sketch, and the reference's histogram needs a second pass because its
    bin edges depend on the final minimum and maximum.
    """

    def __init__(
        self, name: str, kind: str, dtype: str, like: ColumnReference | None, bins: int | None
    ) -> None:
        self.name, self.kind, self.dtype, self.bins = name, kind, dtype, bins
        self.rows = self.count = self.batches = 0
        self.mean = self.m2 = 0.0
        self.minimum, self.maximum = math.inf, -math.inf
        self.points: list[FloatArray] = []
        self.weights: list[FloatArray] = []
        self.exact: FloatArray | None = None
        # few distinct values make a reference column categorical; a current one never
        self.distinct: dict[float, int] | None = {} if like is None and kind == "numeric" else None
        self.edges = None if like is None or like.edges is None else np.asarray(like.edges)
        self.counts: IntArray | None = None
        self.sample = np.empty(0)
        self.candidates = np.empty(0)

    def update(self, values: FloatArray, candidates: IntArray) -> None:
        self.rows += values.size
        self.batches += 1
        self.candidates = values[candidates]
        ordered = _stats.finite_sorted(values)
        n = ordered.size
        self.exact = ordered if self.batches == 1 else None
        if n == 0:
            return
        mean, m2 = _stats.moments(ordered)
        total = self.count + n
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.count * n / total  # Chan et al.'s merge
        self.mean += delta * n / total
        self.count = total
        self.minimum = min(self.minimum, float(ordered[0]))
        self.maximum = max(self.maximum, float(ordered[-1]))
        if n <= SKETCH_POINTS:
            self.points.append(ordered.copy())
            self.weights.append(np.ones(n))
        else:
            ranks = ((np.arange(SKETCH_POINTS) + 0.5) * n / SKETCH_POINTS).astype(np.int64)
            self.points.append(ordered[ranks])
            self.weights.append(np.full(SKETCH_POINTS, n / SKETCH_POINTS))
        if self.distinct is not None:
            found = _stats.distinct_sorted(ordered, MAX_DISCRETE)
            for value, count in zip(*(found or ((), ())), strict=True):
                self.distinct[float(value)] = self.distinct.get(float(value), 0) + int(count)
            if found is None or len(self.distinct) > MAX_DISCRETE:
                self.distinct = None
        if self.edges is not None:
            counts = _stats.histogram_counts(ordered, self.edges, assume_sorted=True)
            self.counts = counts if self.counts is None else self.counts + counts

    def keep(self, order: IntArray) -> None:
        """Keep the sample rows ``order`` picks from (old sample + this batch's candidates)."""
        self.sample = np.concatenate([self.sample, self.candidates])[order]

    def needs_bins(self) -> bool:
        """True when the bins are known only now (a streamed reference)."""
        if self.edges is not None or not self.count or self.distinct is not None:
            return False
        self.edges = _stats.bin_edges(self.minimum, self.maximum, self.count, self.bins)
        if self.exact is not None:
            self.counts = _stats.histogram_counts(self.exact, self.edges, assume_sorted=True)
            return False
        return True

    def count_bins(self, values: FloatArray) -> None:
        assert self.edges is not None
        counts = _stats.histogram_counts(values[np.isfinite(values)], self.edges)
        self.counts = counts if self.counts is None else self.counts + counts

    def _quantiles(self, levels: FloatArray) -> FloatArray:
        if self.exact is not None:
            return _stats.sorted_quantiles(self.exact, levels)
        points, weights = np.concatenate(self.points), np.concatenate(self.weights)
        order = np.argsort(points, kind="stable")
        points, weights = points[order], weights[order]
        # each point stands for `weight` values: place it at the centre of their ranks
        centres = np.cumsum(weights) - (weights + 1.0) / 2.0
        result = np.interp(levels * (self.count - 1), centres, points)
        result[0], result[-1] = self.minimum, self.maximum
        return result

    def finish(self, options: Options, *, stored: bool, keep_values: bool) -> Side:
        if self.distinct is not None and self.count:
            categories = {key(v): c for v, c in self.distinct.items()}
            column = _categorical(self.name, "categorical", self.dtype, self.rows, categories, None)
            return Side(column)
        stats: dict[str, Any] = {}
        if self.count:
            levels = np.linspace(0.0, 1.0, options.quantiles)
            stats = {
                "minimum": self.minimum,
                "maximum": self.maximum,
                "mean": self.mean,
                "std": math.sqrt(self.m2 / self.count),
                "quantiles": tuple(self._quantiles(levels).tolist()),
            }
        if self.edges is not None and self.counts is not None:
            stats["edges"] = tuple(self.edges.tolist())
            stats["counts"] = tuple(int(c) for c in self.counts.tolist())
        rows_sample = self.sample.copy()
        rows_sample[~np.isfinite(rows_sample)] = np.nan
        if stored:
            stats["sample"] = _sample_tuple(rows_sample.tolist())
        missing = self.rows - self.count
        column = ColumnReference(self.name, self.kind, self.dtype, self.rows, missing, **stats)
        return Side(
            column,
            values=self.exact if keep_values else None,
            sample=np.sort(rows_sample[np.isfinite(rows_sample)]),
            rows_sample=rows_sample,
        )


def _state(
    table: Table, name: str, kind: str, like: ColumnReference | None, options: Options
) -> _Numeric | _CategoricalCounts:
    dtype = str(table.types[name])
    if kind in ("numeric", "datetime"):
        return _Numeric(name, kind, dtype, like, options.bins)
    return _CategoricalCounts(name, kind, dtype)


class _CategoricalCounts:
    """One categorical column's counts, batch by batch."""

    def __init__(self, name: str, kind: str, dtype: str) -> None:
        self.name, self.kind, self.dtype = name, kind, dtype
        self.rows = 0
        self.counts: dict[str, int] = {}

    def update(self, column: Any, arrow_type: pa.DataType, rows: int) -> None:
        self.rows += rows
        for value, count in category_counts(column, arrow_type, self.name).items():
            self.counts[value] = self.counts.get(value, 0) + count

    def finish(self, options: Options, *, stored: bool, keep_values: bool) -> Side:
        limit = options.max_categories if stored else None
        return Side(_categorical(self.name, self.kind, self.dtype, self.rows, self.counts, limit))


def sample_rows(rows: int, size: int, seed: int) -> IntArray:
    """A seeded uniform sample of ``size`` row indices (all rows when fewer), in row order."""
    if rows <= size:
        return np.arange(rows, dtype=np.int64)
    keys = np.random.default_rng(seed).random(rows)
    return np.sort(np.argpartition(keys, size - 1)[:size]).astype(np.int64)


def column_side(
    table: Table,
    name: str,
    kind: str,
    *,
    like: ColumnReference | None,
    options: Options,
    rows_sample: IntArray,
    keep_values: bool = False,
    stored: bool = False,
) -> Side:
    """The :class:`Side` of one column of an in-memory table (exact figures).

    Without ``like`` this is a reference summary (a numeric column with at most
    :data:`MAX_DISCRETE` distinct values becomes categorical); with ``like`` (a reference
    column) the column is read as that kind and counted on its bins.
    """
    state = _state(table, name, kind, like, options)
    column = table.column(name)
    if isinstance(state, _Numeric):
        state.update(as_float_array(column, table.types[name], name), rows_sample)
        state.keep(np.arange(rows_sample.size))
        state.needs_bins()
    else:
        state.update(column, table.types[name], table.rows)
    return state.finish(options, stored=stored, keep_values=keep_values)


def _stream(
    table: Table,
    kinds: Mapping[str, str],
    like: Mapping[str, ColumnReference] | None,
    options: Options,
    stored: bool,
) -> dict[str, Side]:
    """Summarise a streamed table batch by batch (bounded memory; a second pass for bins)."""
    names = list(kinds)
    states = {n: _state(table, n, kinds[n], like[n] if like else None, options) for n in names}
    numeric = {n: s for n, s in states.items() if isinstance(s, _Numeric)}
    rng = np.random.default_rng(options.seed)
    keys = np.empty(0)
    for batch in table.batches(names):
        # bottom-k of uniform keys over all rows seen: a uniform sample of rows
        batch_keys = rng.random(batch.num_rows)
        size = min(options.sample_size, batch.num_rows)
        picked = np.argpartition(batch_keys, size - 1)[:size] if size else np.zeros(0, np.int64)

        def work(i: int, batch: pa.RecordBatch = batch, picked: IntArray = picked) -> None:
            state, array = states[names[i]], batch.column(i)
            if isinstance(state, _Numeric):
                state.update(as_float_array(array, array.type, names[i]), picked)
            else:
                state.update(array, array.type, batch.num_rows)

        parallel_map(work, range(len(names)))
        keys = np.concatenate([keys, batch_keys[picked]])
        order = np.argsort(keys, kind="stable")[: options.sample_size]
        keys = keys[order]
        for state in numeric.values():
            state.keep(order)
    binned = [name for name, state in numeric.items() if state.needs_bins()]
    if binned:
        for batch in table.batches(binned):
            for i, name in enumerate(binned):
                array = batch.column(i)
                numeric[name].count_bins(as_float_array(array, array.type, name))
    return {n: states[n].finish(options, stored=stored, keep_values=False) for n in names}


def reference_kinds(
    table: Table, names: Sequence[str], categorical: Iterable[str] = ()
) -> dict[str, str]:
    """The declared kind of each column (before the few-distinct-values rule)."""
    forced = set(categorical)
    kinds = {}
    for name in names:
        kind = "categorical" if name in forced else column_kind(table.types[name])
        if kind is None:
            raise InvalidInput(
                f"Column {name!r} has type {table.types[name]}, which drift does not test.",
                hint="Leave it out of columns=, or cast it to a number or string.",
            )
        kinds[name] = kind
    return kinds


def summarise(
    table: Table,
    kinds: Mapping[str, str],
    *,
    like: Mapping[str, ColumnReference] | None,
    options: Options,
    stored: bool = False,
    keep_values: bool = False,
) -> dict[str, Side]:
    """A :class:`Side` per column of ``kinds``: exact in memory, sketched when streamed.

    ``keep_values`` keeps each in-memory column's sorted values for exact tests.
    """
    if not table.in_memory:
        return _stream(table, kinds, like, options, stored)
    picked = sample_rows(table.rows, options.sample_size, options.seed)
    side = partial(column_side, options=options, rows_sample=picked, stored=stored)

    def one(name: str) -> Side:
        ref = like[name] if like is not None else None
        return side(table, name, kinds[name], like=ref, keep_values=keep_values)

    return dict(zip(kinds, parallel_map(one, list(kinds)), strict=True))


def side_from_profile(column: ColumnReference) -> Side:
    """A :class:`Side` from a stored column: exact when its sample holds every value."""
    if column.sample is None:
        return Side(column)
    rows_sample = np.asarray(column.sample, dtype=np.float64)
    present = np.sort(rows_sample[np.isfinite(rows_sample)])
    exact = present.size == column.present and column.present > 0
    return Side(column, values=present if exact else None, sample=present, rows_sample=rows_sample)


def check_columns(
    available: Sequence[str], requested: Iterable[str] | None, what: str
) -> list[str]:
    """``requested`` (or all of ``available``), each checked to exist."""
    if requested is None:
        return list(available)
    names = [requested] if isinstance(requested, str) else list(requested)
    unknown = [name for name in names if name not in available]
    if unknown:
        raise InvalidInput(
            f"Unknown column(s) {unknown} in the {what}.",
            hint=f"Pick from: {', '.join(available) or '(no columns)'}.",
        )
    return names


def monitored_columns(table: Table) -> list[str]:
    """Columns whose type drift can test, in table order."""
    return [name for name in table.names if column_kind(table.types[name]) is not None]


def reference(
    data: Any,
    *,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    quantiles: int = DEFAULT_QUANTILES,
    bins: int | None = None,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
    seed: int = 0,
) -> ReferenceProfile:
    """Summarise ``data`` into a compact, storable :class:`ReferenceProfile`.

    Args:
        data: A pandas or polars DataFrame, a pyarrow Table, a Parquet file or folder
            (streamed in batches when large: bounded memory), a ``datasets:/name/version``
            URI or a dataset version.
        columns: Columns to keep (default: every column of a testable type: numbers,
            booleans, strings/categories, dates and timestamps).
        categorical: Columns to treat as categorical whatever their type. Without it,
            strings, dictionaries and booleans are categorical, and so is a numeric
            column with at most five distinct values.
        sample_size: Rows in the seeded row sample kept for the exact-style tests.
        quantiles: Quantiles kept per numeric column.
        bins: Histogram bins per numeric column (default: Sturges' rule).
        max_categories: Most frequent categories kept per column (the rest are counted
            together, see :attr:`ColumnReference.other`).
        seed: Seed of the row sample.

    Raises:
        InvalidInput: Unreadable data, unknown columns or bad options.
    """
    options = Options(sample_size, quantiles, bins, max_categories, int(seed))
    table = open_table(data)
    names = check_columns(table.names, columns, "data") if columns else monitored_columns(table)
    kinds = reference_kinds(table, names, check_columns(table.names, categorical or [], "data"))
    sides = summarise(table.select(names), kinds, like=None, options=options, stored=True)
    return ReferenceProfile(
        columns={name: side.column for name, side in sides.items()},
        rows=table.rows,
        sample_size=sample_size,
        created_at=int(time.time() * 1000),
    )
