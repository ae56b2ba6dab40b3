"""Data profiles (lifecycle stage 5): per-column statistics, correlations, associations, alerts.

:func:`profile` runs DuckDB SQL over an Arrow table, a DuckDB relation or Parquet files, in a
handful of vectorized scans, and never loads the dataset into pandas:

1. one aggregate query for all columns: count, missing, distinct, min/max/mean, quantiles,
   string lengths, and the duplicate-row count (``count(DISTINCT hash(<all columns>))``);
2. one query with every histogram (``histogram()`` of a bin index), the centred moment sums
   (std/skewness/kurtosis without cancellation), the Pearson correlation of each numeric
   feature with a regression target and the "identical to the target" leakage check;
3. one ``GROUPING SETS`` query: value counts of every low-cardinality column, the
   (feature, target) contingency counts for a classification target, or per-category target
   means/variances for a regression target (correlation ratio);
4. one ``UNION ALL`` of ``GROUP BY ... ORDER BY count DESC LIMIT k`` for high-cardinality strings;
5. for a classification target, one ``GROUP BY target`` giving each numeric feature's
   correlation ratio η (equal to ``|point-biserial r|`` for a binary target);
6. a Bernoulli sample of about 200,000 rows (the whole data when smaller, so then exact) for
   the Pearson and Spearman matrices (Spearman = Pearson on average ranks, pairwise-complete)
   and the Cramér's V matrix (contingency counts from one ``GROUPING SETS`` over the sample).

Approximations (recorded in ``Profile.settings`` and ``ColumnProfile.distinct_approximate``):
above 100,000 rows, distinct counts of numeric and datetime columns are HyperLogLog estimates,
except integer columns that may be ids (counted exactly); strings and low-cardinality columns
are always exact. Above 30 million buffered values quantiles come from t-digest
(``approx_quantile``) instead of ``quantile_cont``. Duplicate rows are counted through 64-bit
row hashes (a collision is ~1e-8 likely at a million rows).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from cycleml.data._compare import (
    QUANTILES,
    ColumnProfile,
    Profile,
    average_ranks,
    correlation_ratio,
    cramers_v,
    cramers_v_counts,
    is_id_like,
    moments_from_sums,
    pearson_matrix,
    profile_alerts,
)
from cycleml.errors import InvalidInput

__all__ = ["profile"]

_SRC = "__cycleml_profile_src"
_SAMPLE = "__cycleml_profile_sample"
_SAMPLE_ROWS = 200_000
_EXACT_DISTINCT_ROWS = 100_000
_EXACT_QUANTILE_VALUES = 30_000_000
_MAX_VALUE_CHARS = 200
_SEED = 42
_INTS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}
_INTS |= {"UBIGINT"}
_DATETIMES = {"DATE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"}
_DATETIMES |= {"TIMESTAMP WITH TIME ZONE"}
_TASKS = {"binary", "multiclass", "classification", "regression"}


def profile(
    data: Any,
    *,
    target: str | None = None,
    task: str | None = None,
    max_categories: int = 50,
    top_k: int = 10,
    bins: int = 30,
    correlation_columns: int = 50,
    minimal: bool = False,
) -> Profile:
    """Profile a dataset with DuckDB: column statistics, correlations, associations, alerts.

    Args:
        data: A ``pyarrow.Table`` (or record batch), a DuckDB relation, Parquet path(s), a
            directory or a glob; pandas and polars frames are converted to Arrow.
        target: The target column; enables target associations and the leakage alert.
        task: ``binary``, ``multiclass``, ``classification`` or ``regression``; inferred
            from the target when omitted (strings, booleans and integers with at most 10
            distinct values mean classification).
        max_categories: Cardinality cap: categorical columns with more distinct values raise
            a high-cardinality alert and are left out of Cramér's V.
        top_k: How many most frequent values to keep per column.
        bins: Number of histogram bins.
        correlation_columns: Most numeric (and categorical) columns in the correlation
            matrices; the first ones in schema order are kept, the target always.
        minimal: Column statistics and target associations only: no correlation matrices
            and no duplicate-row count (``duplicate_rows`` is ``None``), as ydata-profiling's
            ``minimal=True``.

    Raises:
        InvalidInput: Unreadable data, an unknown target or task, or a bad argument.
    """
    limits = {"max_categories": 1, "top_k": 0, "bins": 1, "correlation_columns": 0}
    options = {"max_categories": max_categories, "top_k": top_k, "bins": bins}
    options["correlation_columns"] = correlation_columns
    for name, value in options.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < limits[name]:
            raise InvalidInput(f"{name} must be an integer >= {limits[name]}, got {value!r}")
    if not isinstance(minimal, bool):
        raise InvalidInput(f"minimal must be True or False, got {minimal!r}")
    options["correlation_columns"] = 0 if minimal else correlation_columns
    if task is not None and task not in _TASKS:
        raise InvalidInput(f"unknown task {task!r}; use one of {sorted(_TASKS)}")
    if task is not None and target is None:
        raise InvalidInput(f"task {task!r} was given without a target; pass target=<column>")
    source = _Source(data)
    try:
        return _Run(source, target, task, minimal=minimal, **options).run()
    finally:
        source.close()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _double(value: Any) -> str:
    """A SQL DOUBLE literal (a bare ``0.1`` would be a DECIMAL)."""
    return f"{float(value)!r}::DOUBLE"


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def _plain(value: Any) -> Any:
    """A JSON-ready scalar for a value DuckDB returned (strings are truncated)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return _finite(value)
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[:_MAX_VALUE_CHARS] + "…"


class _Source:
    """Runs SQL against the data under the name ``_SRC`` (private connection or relation)."""

    def __init__(self, data: Any) -> None:
        self._rel: duckdb.DuckDBPyRelation | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        if isinstance(data, duckdb.DuckDBPyRelation):
            self._rel = data
            return
        table = _as_arrow(data)
        self._con = duckdb.connect()
        if table is not None:
            self._con.register(_SRC, table)
            return
        files = ", ".join(_literal(p) for p in _parquet_paths(data))
        sql = f"CREATE VIEW {_SRC} AS SELECT * FROM read_parquet([{files}], union_by_name = true)"  # noqa: S608
        self.rows(sql)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self._fetch(sql, arrow=False)  # type: ignore[no-any-return]

    def arrow(self, sql: str) -> pa.Table:
        return self._fetch(sql, arrow=True)

    def _fetch(self, sql: str, *, arrow: bool) -> Any:
        try:
            if self._rel is not None:
                rel = self._rel.query(_SRC, sql)
            else:
                assert self._con is not None
                rel = self._con.sql(sql)
            if rel is None:
                return []
            return rel.to_arrow_table() if arrow else rel.fetchall()
        except duckdb.Error as exc:
            raise InvalidInput(f"cannot profile the data: {exc}") from exc

    def close(self) -> None:
        if self._con is not None:
            self._con.close()


def _as_arrow(data: Any) -> pa.Table | None:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__.split(".")[0]
    if module == "polars" and hasattr(data, "to_arrow"):
        return data.to_arrow()
    if module == "pandas" and hasattr(data, "columns"):
        return pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, str | os.PathLike) or (
        isinstance(data, list | tuple)
        and data
        and all(isinstance(p, str | os.PathLike) for p in data)
    ):
        return None
    raise InvalidInput(
        f"cannot profile a {type(data).__name__}; pass a pyarrow.Table, a DuckDB relation "
        "or Parquet path(s)"
    )


def _parquet_paths(data: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    items = [data] if isinstance(data, str | os.PathLike) else list(data)
    paths: list[str] = []
    for item in items:
        text = os.fspath(item)
        if "://" in text or any(ch in text for ch in "*?["):
            paths.append(text)
        elif Path(text).is_dir():
            paths.append(str(Path(text) / "**" / "*.parquet"))
        elif Path(text).is_file():
            paths.append(text)
        else:
            raise InvalidInput(f"no Parquet file or directory at {text!r}; check the path")
    return paths


@dataclass
class _Col:
    """A column being profiled: its SQL value expression and the statistics found so far."""

    name: str
    dtype: str
    kind: str
    raw: str
    value: str
    is_float: bool = False
    is_integer: bool = False
    s: dict[str, Any] = field(default_factory=dict)


def _column(name: str, dtype: str) -> _Col:
    raw = _quote(name)
    if dtype in {"FLOAT", "DOUBLE"}:
        finite = f"(CASE WHEN isfinite({raw}) THEN {raw} END)"
        return _Col(name, dtype, "numeric", raw, finite, is_float=True)
    if dtype in _INTS:
        return _Col(name, dtype, "numeric", raw, raw, is_integer=True)
    if dtype in {"HUGEINT", "UHUGEINT"} or dtype.startswith("DECIMAL"):
        return _Col(name, dtype, "numeric", raw, f"{raw}::DOUBLE", is_integer="INT" in dtype)
    if dtype == "BOOLEAN":
        return _Col(name, dtype, "boolean", raw, raw)
    if dtype in _DATETIMES:
        return _Col(name, dtype, "datetime", raw, f"epoch({raw})")
    value = raw if dtype == "VARCHAR" else f"{raw}::VARCHAR"
    return _Col(name, dtype, "string", raw, value)


def _one_row(source: _Source, exprs: dict[Any, str]) -> dict[Any, Any]:
    """Run one aggregate query of keyed expressions; return the values by key."""
    if not exprs:
        return {}
    row = source.rows(f"SELECT {', '.join(exprs.values())} FROM {_SRC}")[0]  # noqa: S608
    return dict(zip(exprs, row, strict=True))


def _iso(seconds: float | None, dtype: str) -> str | None:
    if seconds is None:
        return None
    stamp = datetime.fromtimestamp(seconds, tz=UTC)
    if dtype == "DATE":
        return stamp.date().isoformat()
    return stamp.isoformat() if "ZONE" in dtype else stamp.replace(tzinfo=None).isoformat()


class _Run:
    """One profiling run: the queries in order, then the assembly of the :class:`Profile`."""

    def __init__(
        self, source: _Source, target: str | None, task: str | None, *, minimal: bool, **opts: int
    ) -> None:
        self.src, self.target, self.task, self.opts = source, target, task, opts
        self.max_cat, self.top_k, self.bins = opts["max_categories"], opts["top_k"], opts["bins"]
        self.minimal = minimal
        self.cols: list[_Col] = []
        self.n = self.sampled = 0
        self.duplicates: int | None = None if minimal else 0
        self.assoc: dict[str, tuple[str, float | None]] = {}
        self.identical: set[str] = set()
        self.correlations: dict[str, Any] = {}
        self.id_like: set[str] = set()
        self.approx_quantiles = False

    # -- queries -----------------------------------------------------------------------------
    def run(self) -> Profile:
        schema = self.src.rows(f"DESCRIBE SELECT * FROM {_SRC}")  # noqa: S608
        if not schema:
            raise InvalidInput("the data has no columns; there is nothing to profile")
        self.cols = [_column(str(row[0]), str(row[1]).strip('"')) for row in schema]
        names = [c.name for c in self.cols]
        if self.target is not None and self.target not in names:
            raise InvalidInput(f"target {self.target!r} is not a column; columns: {names}")
        self.n = int(self.src.rows(f"SELECT count(*) FROM {_SRC}")[0][0])  # noqa: S608
        self._aggregates()
        self._resolve_task()
        self._second_scan()
        self._value_counts()
        self._string_top_values()
        self._exact_id_candidates()
        self._class_ratios()
        columns = [self._column_profile(c) for c in self.cols]
        self.id_like = {c.name for c in columns if c.name != self.target and is_id_like(c, self.n)}
        self._sample_matrices()
        return self._assemble(columns)

    @property
    def _tcol(self) -> _Col | None:
        return next((c for c in self.cols if c.name == self.target), None)

    def _aggregates(self) -> None:
        exact = self.n <= _EXACT_DISTINCT_ROWS
        n_quant = sum(c.kind in ("numeric", "datetime") for c in self.cols)
        self.approx_quantiles = self.n * n_quant > _EXACT_QUANTILE_VALUES
        qfn = "approx_quantile" if self.approx_quantiles else "quantile_cont"
        qs = "[" + ", ".join(map(str, QUANTILES.values())) + "]"
        sel: dict[Any, str] = {}
        for i, c in enumerate(self.cols):
            v = c.value
            sel[(i, "n")] = f"count({c.raw})"
            fn = "count(DISTINCT {})" if exact else "approx_count_distinct({})"
            sel[(i, "distinct")] = fn.format(v)
            c.s["distinct_approximate"] = not exact
            if c.is_float:
                sel[(i, "nan")] = f"count_if(isnan({c.raw}))"
                sel[(i, "infinite")] = f"count_if(isinf({c.raw}))"
            if c.kind in ("numeric", "datetime"):
                for stat in ("min", "max", "avg"):
                    sel[(i, stat)] = f"{stat}({v})"
                sel[(i, "nv")] = f"count({v})"
                if self.approx_quantiles:  # else exact, in numpy (_column_arrays)
                    sel[(i, "quantiles")] = f"{qfn}({v}, {qs})"
            if c.kind == "numeric":
                sel[(i, "zeros")] = f"count_if({v} = 0)"
            elif c.kind == "boolean":
                sel[(i, "true")] = f"count_if({v})"
            elif c.kind == "string":
                for stat in ("min", "max", "avg"):
                    sel[(i, f"len_{stat}")] = f"{stat}(length({v}))"
        if self.duplicates is not None:
            rows = ", ".join(c.raw for c in self.cols)
            sel["distinct_rows"] = f"count(DISTINCT hash({rows}))"
        res = _one_row(self.src, sel)
        if self.duplicates is not None:
            self.duplicates = self.n - int(res.pop("distinct_rows") or 0)
        for (i, stat), value in res.items():
            self.cols[i].s[stat] = value
        for c in self.cols:
            c.s["count"] = int(c.s["n"]) - int(c.s.get("nan") or 0)
            c.s["distinct"] = int(c.s["distinct"] or 0)
            if c.kind == "string":
                c.kind = "categorical"
        self._find_text()

    def _find_text(self) -> None:
        """Mark high-cardinality strings averaging 2+ spaces per value as free text.

        Only the few columns over the cardinality cap are measured (counting spaces touches
        every character, the costliest string statistic).
        """
        wide = {
            i: f"avg(length({c.value}) - length(replace({c.value}, ' ', '')))"
            for i, c in enumerate(self.cols)
            if c.kind == "categorical" and c.s["distinct"] > self.max_cat
        }
        for i, spaces in _one_row(self.src, wide).items():
            c = self.cols[i]
            c.s["spaces"] = spaces
            if (spaces or 0) >= 2:
                c.kind = "text"

    def _resolve_task(self) -> None:
        t = self._tcol
        if t is None:
            return
        if self.task is None:
            classify = t.kind != "numeric" or (t.is_integer and t.s["distinct"] <= 10)
            self.task = "classification" if classify else "regression"
        if self.task == "classification":
            self.task = "binary" if t.s["distinct"] == 2 else "multiclass"
        if self.task == "regression" and t.kind != "numeric":
            raise InvalidInput(
                f"task 'regression' needs a numeric target; {t.name!r} is {t.kind}; "
                "pass task='binary' or 'multiclass'"
            )

    def _second_scan(self) -> None:
        """Histograms, centred moments (stable std/skewness/kurtosis), target checks."""
        sel: dict[Any, str] = {}
        in_numpy: list[tuple[int, _Col]] = []
        for i, c in enumerate(self.cols):
            if c.kind not in ("numeric", "datetime"):
                continue
            if not self.approx_quantiles:
                in_numpy.append((i, c))
            lo, hi = _finite(c.s.get("min")), _finite(c.s.get("max"))
            if lo is None or hi is None:
                continue
            if not self.approx_quantiles:
                pass  # histogram and moments in numpy
            elif hi > lo and c.is_integer and hi - lo < self.bins:
                sel[(i, "hist")] = f"histogram(({c.value}) - ({int(lo)}))"
            elif hi > lo:
                index = f"floor(({c.value}::DOUBLE - {_double(lo)}) / {_double(self._width(c))})"
                index = f"least({self.bins - 1}, {index})"
                nonnull = f"FILTER (WHERE {c.value} IS NOT NULL)"
                sel[(i, "hist")] = f"histogram({index}::INTEGER) {nonnull}"
            powers = (2, 3, 4) if c.kind == "numeric" else (2,)
            for k in powers if self.approx_quantiles else ():
                centred = f"({c.value}::DOUBLE - {_double(c.s['avg'])})"
                sel[(i, f"m{k}")] = f"sum({' * '.join([centred] * k)})"
            c.s["histogram"] = (self._edges(c), [int(c.s["nv"])] if hi <= lo else None)
        self._exact_in_numpy(in_numpy)
        t = self._tcol
        if t is not None:
            for i, c in enumerate(self.cols):
                if c is t:
                    continue
                if self.task == "regression" and c.kind == "numeric":
                    sel[(i, "pearson")] = f"corr({c.value}::DOUBLE, {t.value}::DOUBLE)"
                same = {c.kind, t.kind} <= {"numeric"} or c.dtype == t.dtype
                if same and c.kind not in ("text", "datetime"):
                    check = f"{c.raw} IS NOT DISTINCT FROM {t.raw}"
                    sel[(i, "identical")] = f"bool_and({check})"
        for (i, stat), value in _one_row(self.src, sel).items():
            c = self.cols[i]
            if stat == "hist":
                edges = c.s["histogram"][0]
                counts = [0] * (len(edges) - 1)
                for key, count in (value or {}).items():
                    counts[int(key)] += int(count)
                c.s["histogram"] = (edges, counts)
            elif stat == "pearson":
                self.assoc[c.name] = ("pearson", _finite(value))
            elif stat.startswith("m"):
                c.s[stat] = float(value)
            elif value and c.s["count"] > 0:
                self.identical.add(c.name)
        for c in self.cols:
            if "m2" in c.s:
                c.s["std"], c.s["skewness"], c.s["kurtosis"] = moments_from_sums(
                    int(c.s["nv"]), c.s["m2"], c.s.get("m3"), c.s.get("m4")
                )

    def _width(self, c: _Col) -> float:
        return (float(c.s["max"]) - float(c.s["min"])) / self.bins

    def _edges(self, c: _Col) -> list[float]:
        """Histogram bin edges: unit bins for small integer ranges, else ``bins`` equal bins."""
        lo, hi = float(c.s["min"]), float(c.s["max"])
        if hi <= lo:
            return [lo, hi]
        if c.is_integer and hi - lo < self.bins:
            return [lo - 0.5 + k for k in range(int(hi - lo) + 2)]
        width = self._width(c)
        return [lo + k * width for k in range(self.bins)] + [hi]

    def _exact_in_numpy(self, todo: list[tuple[int, _Col]]) -> None:
        """Exact quantiles, centred moment sums and histograms, column by column in numpy.

        One query hands every numeric and datetime column to Arrow (at most
        ``_EXACT_QUANTILE_VALUES`` doubles, the bound for exact quantiles); a selection
        (``np.quantile``) and a few vectorized passes per column cost a third of DuckDB's
        ``quantile_cont`` list aggregate plus a histogram aggregate. The arithmetic is the
        SQL path's, so histograms come out identical.
        """
        if not todo:
            return
        exprs = ", ".join(f"{c.value}::DOUBLE AS v{i}" for i, c in todo)
        table = self.src.arrow(f"SELECT {exprs} FROM {_SRC}")  # noqa: S608
        # numpy's selection and ufuncs release the GIL: columns run on every core.
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            found = pool.map(lambda ic: self._column_arrays(ic[1], table.column(f"v{ic[0]}")), todo)
            for (_, c), stats in zip(todo, found, strict=True):
                c.s.update(stats)

    def _column_arrays(self, c: _Col, column: pa.ChunkedArray) -> dict[str, Any]:
        """Quantiles, moment sums and histogram of one column's non-null values."""
        values = column.drop_null() if column.null_count else column
        x = values.to_numpy()
        if x.size == 0:
            return {}
        out: dict[str, Any] = {"quantiles": np.quantile(x, list(QUANTILES.values())).tolist()}
        deviation = x - float(c.s["avg"])
        squared = deviation * deviation
        out["m2"] = float(squared.sum())
        if c.kind == "numeric":
            out["m3"] = float((squared * deviation).sum())
            out["m4"] = float((squared * squared).sum())
        lo, hi = float(c.s["min"]), float(c.s["max"])
        if hi <= lo:
            return out
        edges = self._edges(c)
        if c.is_integer and hi - lo < self.bins:
            index = x - lo
        else:
            index = np.floor((x - lo) / self._width(c))
        # A relation re-evaluated per query (random()) may stray outside the first scan's
        # min/max: such values join the edge bins rather than breaking the histogram.
        index = np.clip(index, 0, len(edges) - 2).astype(np.int64)
        out["histogram"] = (edges, np.bincount(index, minlength=len(edges) - 1).tolist())
        return out

    def _value_counts(self) -> None:
        """Full value counts of low-cardinality columns and categorical-target statistics.

        One GROUPING SETS query: a single-column set per low-cardinality column (its value
        counts) and, for a classification target, a (feature, target) set per categorical
        feature (contingency counts for Cramér's V). For a regression target every set also
        carries count/avg/var_pop of the target (the correlation ratio of the feature).
        """
        t = self._tcol
        low = [c for c in self.cols if c.kind != "text" and 0 < c.s["distinct"] <= self.max_cat]
        classify = t is not None and self.task != "regression"
        group = [*low, t] if classify and t is not None and t not in low else list(low)
        if not group:
            return
        width = len(group)
        sets = [f"(c{j})" for j, c in enumerate(group) if c in low]
        exprs = [
            f"{c.raw}::VARCHAR AS c{j}" if c.kind == "datetime" else f"{c.value} AS c{j}"
            for j, c in enumerate(group)
        ]
        aggs, tj = ["count(*)"], -1
        if t is not None and classify:
            tj = group.index(t)
            features = [j for j, c in enumerate(group) if c.kind in ("categorical", "boolean")]
            sets += [f"(c{j}, c{tj})" for j in features if j != tj]
        elif t is not None:
            exprs.append(f"{t.value} AS tv")
            aggs += ["count(tv)", "avg(tv)", "var_pop(tv)"]  # NULL targets are ignored
        ungrouped = " + ".join(f"GROUPING(c{j})" for j in range(width))
        sql = (
            f"SELECT {', '.join(f'c{j}' for j in range(width))}, {ungrouped}, {', '.join(aggs)} "  # noqa: S608
            f"FROM (SELECT {', '.join(exprs)} FROM {_SRC}) "
            f"GROUP BY GROUPING SETS ({', '.join(sets)})"
        )
        counts: dict[int, list[tuple[Any, int]]] = {j: [] for j in range(width)}
        tables: dict[int, dict[tuple[Any, Any], int]] = {}
        eta: dict[int, list[tuple[int, float, float]]] = {}
        for row in self.src.rows(sql):
            present = [j for j in range(width) if row[j] is not None]
            grouped = width - int(row[width])
            if len(present) != grouped:  # a NULL value: not a category, dropped pairwise
                continue
            n = int(row[width + 1])
            if grouped == 1:
                j = present[0]
                counts[j].append((row[j], n))
                if len(row) > width + 2 and row[width + 2]:
                    stat = (int(row[width + 2]), float(row[-2]), float(row[-1]))
                    eta.setdefault(j, []).append(stat)
            else:
                a, b = sorted(present, key=lambda j: j == tj)
                tables.setdefault(a, {})[(row[a], row[b])] = n
        for j, c in enumerate(group):
            if c not in low:
                continue
            values = sorted(counts[j], key=lambda vc: (-vc[1], str(vc[0])))
            c.s["distinct"], c.s["distinct_approximate"] = len(values), False
            c.s["top"] = [{"value": _plain(v), "count": n} for v, n in values[: self.top_k]]
        for j, c in enumerate(group):
            if t is None or c is t or c.kind not in ("categorical", "boolean"):
                continue
            if classify:
                self.assoc[c.name] = ("cramers_v", cramers_v(tables.get(j, {})))
            else:
                self.assoc[c.name] = ("correlation_ratio", correlation_ratio(eta.get(j, [])))

    def _string_top_values(self) -> None:
        """Top values and exact distinct counts of high-cardinality strings, in one query."""
        high = [
            (i, c)
            for i, c in enumerate(self.cols)
            if c.kind in ("categorical", "text") and "top" not in c.s and c.s["count"] > 0
        ]
        if not high or self.top_k == 0:
            return
        parts = [
            f"SELECT * FROM (SELECT {i} AS i, x AS v, count(*) AS n, "  # noqa: S608
            f"count(*) OVER () AS d FROM (SELECT {c.value} AS x FROM {_SRC}) "
            f"WHERE x IS NOT NULL GROUP BY x ORDER BY n DESC, x LIMIT {self.top_k})"
            for i, c in high
        ]
        for c in (c for _, c in high):
            c.s["top"] = []
        for i, value, n, distinct in self.src.rows(" UNION ALL ".join(parts)):
            c = self.cols[i]
            c.s["distinct"], c.s["distinct_approximate"] = int(distinct), False
            if n >= 2 or c.s["distinct"] <= self.max_cat:  # singletons of high-card = raw rows
                c.s["top"].append({"value": _plain(value), "count": int(n)})

    def _exact_id_candidates(self) -> None:
        """Exact distinct counts for integer columns whose estimate says 'maybe all unique'."""
        sel: dict[Any, str] = {}
        for i, c in enumerate(self.cols):
            maybe = c.s["distinct"] >= 0.9 * c.s["count"] and c.s["count"] == self.n
            if c.kind == "numeric" and c.is_integer and c.s["distinct_approximate"] and maybe:
                sel[i] = f"count(DISTINCT {c.value})"
        for i, value in _one_row(self.src, sel).items():
            self.cols[i].s["distinct"], self.cols[i].s["distinct_approximate"] = int(value), False

    def _class_ratios(self) -> None:
        """Correlation ratio of each numeric feature with a classification target."""
        t = self._tcol
        if t is None or self.task == "regression":
            return
        feats = [c for c in self.cols if c.kind == "numeric" and c is not t]
        if not feats:
            return
        aggs = ", ".join(f"count({c.value}), avg({c.value}), var_pop({c.value})" for c in feats)
        rows = self.src.rows(
            f"SELECT {aggs} FROM {_SRC} WHERE {t.raw} IS NOT NULL GROUP BY {t.raw}"  # noqa: S608
        )
        for k, c in enumerate(feats):
            groups = [row[3 * k : 3 * k + 3] for row in rows if row[3 * k]]
            stats = [(int(n), float(m), float(v)) for n, m, v in groups]
            self.assoc[c.name] = ("correlation_ratio", correlation_ratio(stats))

    def _sample_matrices(self) -> None:
        """Pearson/Spearman and Cramér's V matrices on a Bernoulli sample (exact when small).

        Id-like columns are left out: correlating a row id measures how the rows are ordered.
        """
        t = self._tcol
        cols = [c for c in self.cols if c.name not in self.id_like]
        nums = [c for c in cols if c.kind == "numeric" and (c.s.get("std") or 0) > 0]
        cats = [
            c
            for c in cols
            if c.kind in ("categorical", "boolean") and 2 <= c.s["distinct"] <= self.max_cat
        ]
        cap = self.opts["correlation_columns"]
        nums, cats = _cap(nums, cap, t), _cap(cats, cap, t)
        nums, cats = (nums if len(nums) > 1 else []), (cats if len(cats) > 1 else [])
        if not nums and not cats:
            return
        exprs = [f"{c.value}::DOUBLE AS n{k}" for k, c in enumerate(nums)]
        exprs += [f"{c.value} AS c{k}" for k, c in enumerate(cats)]
        percent = 100.0 * _SAMPLE_ROWS / max(self.n, 1)
        sample = f"USING SAMPLE bernoulli({percent:.6f}%) REPEATABLE ({_SEED})"
        tail = sample if self.n > _SAMPLE_ROWS else ""
        table = self.src.arrow(f"SELECT {', '.join(exprs)} FROM {_SRC} {tail}")  # noqa: S608
        self.sampled = table.num_rows
        if nums:
            matrix = np.column_stack(
                [table.column(f"n{k}").to_numpy(zero_copy_only=False) for k in range(len(nums))]
            ).astype(np.float64)
            names = [c.name for c in nums]
            self.correlations["pearson"] = _matrix(names, pearson_matrix(matrix))
            self.correlations["spearman"] = _matrix(names, pearson_matrix(average_ranks(matrix)))
        if cats:
            self.correlations["cramers_v"] = _cramers_matrix(table, cats)

    # -- assembly ----------------------------------------------------------------------------
    def _assemble(self, columns: list[ColumnProfile]) -> Profile:
        missing, n, cells = sum(c.missing for c in columns), self.n, self.n * len(columns)
        alerts = profile_alerts(
            columns,
            n_rows=n,
            duplicate_rows=self.duplicates,
            max_categories=self.max_cat,
            association=self.assoc,
            identical_to_target=sorted(self.identical),
            target=self.target,
            task=self.task,
        )
        settings: dict[str, Any] = dict(self.opts)
        settings |= {
            "correlation_sample_rows": self.sampled,
            "correlation_sampled": n > _SAMPLE_ROWS,
        }
        settings |= {"quantiles_approximate": self.approx_quantiles}
        settings["correlation_excluded"] = [c.name for c in self.cols if c.name in self.id_like]
        settings["duplicates_method"] = "64-bit row hashes"
        return Profile(
            n_rows=n,
            n_columns=len(columns),
            missing_cells=missing,
            missing_cells_fraction=missing / cells if cells else 0.0,
            duplicate_rows=self.duplicates,
            duplicate_fraction=None
            if self.duplicates is None
            else (self.duplicates / n if n else 0.0),
            columns=columns,
            correlations=self.correlations,
            target=self.target,
            task=self.task,
            target_association=[
                {"column": name, "measure": measure, "value": value}
                for name, (measure, value) in self.assoc.items()
            ],
            alerts=alerts,
            settings=settings,
        )

    def _column_profile(self, c: _Col) -> ColumnProfile:
        s, n = c.s, self.n
        count = int(s["count"])
        out: dict[str, Any] = {"name": c.name, "kind": c.kind, "dtype": c.dtype, "count": count}
        out |= {"missing": n - count, "missing_fraction": (n - count) / n if n else 0.0}
        out |= {"distinct": int(s["distinct"]), "top_values": s.get("top", [])}
        out["distinct_approximate"] = bool(s.get("distinct_approximate"))
        quantiles = s.get("quantiles") or [None] * len(QUANTILES)
        if c.kind == "numeric":
            ints = c.is_integer and "DECIMAL" not in c.dtype and "HUGE" not in c.dtype
            pick = _plain if ints else _finite
            out |= {"min": pick(s["min"]), "max": pick(s["max"]), "mean": _finite(s["avg"])}
            out |= {k: _finite(s.get(k)) for k in ("std", "skewness", "kurtosis")}
            out["zeros"] = int(s["zeros"] or 0)
            out["infinite"] = int(s["infinite"] or 0) if c.is_float else None
            out["quantiles"] = {k: pick(q) for k, q in zip(QUANTILES, quantiles, strict=True)}
        elif c.kind == "datetime":
            for key, stat in (("min", "min"), ("max", "max"), ("mean", "avg")):
                out[key] = _iso(_finite(s[stat]), c.dtype)
            out["std"] = _finite(s.get("std"))
            out["quantiles"] = {
                k: _iso(_finite(q), c.dtype) for k, q in zip(QUANTILES, quantiles, strict=True)
            }
        elif c.kind == "boolean":
            out["mean"] = int(s["true"]) / count if count else None
        else:
            out["length"] = {
                "min": s["len_min"],
                "max": s["len_max"],
                "mean": _finite(s["len_avg"]),
            }
        if "histogram" in s and s["histogram"][1] is not None:
            edges, counts = s["histogram"]
            if c.kind == "datetime":
                edges = [_iso(e, "TIMESTAMP") for e in edges]
            out["histogram"] = {"edges": edges, "counts": counts}
        return ColumnProfile(**out)


def _cap(cols: list[_Col], cap: int, target: _Col | None) -> list[_Col]:
    kept = cols[:cap]
    if target is not None and target in cols and target not in kept and cap > 0:
        kept = [*kept[: cap - 1], target]
    return kept


def _matrix(names: list[str], values: NDArray[np.float64]) -> dict[str, Any]:
    rows = [[_finite(v) for v in row] for row in values.tolist()]
    return {"columns": names, "matrix": rows}


def _cramers_matrix(table: pa.Table, cats: list[_Col]) -> dict[str, Any]:
    """Cramér's V between categorical columns of the sample, from integer-coded pairs.

    Each column is dictionary-encoded once; a pair's contingency table is one ``bincount``
    of ``code_a * k_b + code_b`` over the rows where both are present (pairwise-complete).
    """
    k = len(cats)
    codes: list[NDArray[np.int64]] = []
    sizes: list[int] = []
    for j in range(k):
        encoded = table.column(f"c{j}").combine_chunks().dictionary_encode()
        codes.append(encoded.indices.fill_null(-1).to_numpy().astype(np.int64))
        sizes.append(len(encoded.dictionary))
    values = np.eye(k)
    for a in range(k):
        for b in range(a + 1, k):
            both = (codes[a] >= 0) & (codes[b] >= 0)
            pairs = codes[a][both] * sizes[b] + codes[b][both]
            counts = np.bincount(pairs, minlength=sizes[a] * sizes[b])
            v = cramers_v_counts(counts.reshape(sizes[a], sizes[b]).astype(np.float64))
            values[a, b] = values[b, a] = np.nan if v is None else v
    return _matrix([c.name for c in cats], values)
