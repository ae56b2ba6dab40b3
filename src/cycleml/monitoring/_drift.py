"""Data drift: per-column two-sample tests, the dataset verdict and prediction drift.

:func:`drift` compares a current window with a reference (raw data or a stored
:class:`~cycleml.monitoring.ReferenceProfile`) column by column; every statistic is one of
:mod:`cycleml.monitoring._stats` (each equal to scipy's on the same data). Columns are
processed on a small thread pool, each column's reference and current values converted
once and sorted once, and never more than a few columns' values are held at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from cycleml.errors import InvalidInput
from cycleml.monitoring import _stats
from cycleml.monitoring._inputs import IN_MEMORY_CELLS, Table, open_table
from cycleml.monitoring._reference import (
    STREAM_SAMPLE_SIZE,
    ColumnReference,
    FloatArray,
    Options,
    ReferenceProfile,
    Side,
    check_columns,
    column_side,
    monitored_columns,
    parallel_map,
    reference_kinds,
    side_from_profile,
    summarise,
)

__all__ = [
    "AUTO_P_VALUE_MAX_ROWS",
    "METHODS",
    "ColumnDrift",
    "DriftReport",
    "drift",
    "prediction_drift",
]

NUMERIC = frozenset({"numeric", "datetime"})
CATEGORICAL = frozenset({"categorical", "boolean"})
#: Method name -> (whether it has a p-value, the column kinds it accepts).
METHODS: dict[str, tuple[bool, frozenset[str]]] = {
    "ks": (True, NUMERIC),
    "chi_square": (True, NUMERIC | CATEGORICAL),
    "z": (True, CATEGORICAL),
    "anderson_darling": (True, NUMERIC),
    "cramer_von_mises": (True, NUMERIC),
    "psi": (False, NUMERIC | CATEGORICAL),
    "jensen_shannon": (False, NUMERIC | CATEGORICAL),
    "wasserstein": (False, NUMERIC),
    "hellinger": (False, NUMERIC | CATEGORICAL),
    "kl": (False, NUMERIC | CATEGORICAL),
}
#: ``method="auto"`` uses p-value tests up to this many reference rows, distances above.
AUTO_P_VALUE_MAX_ROWS = 100_000
DEFAULT_ALPHA = 0.05
DEFAULT_DISTANCE = 0.1
#: Largest meaningful threshold per distance (Jensen-Shannon with natural logs, Hellinger).
_DISTANCE_MAX = {"jensen_shannon": math.sqrt(math.log(2.0)), "hellinger": 1.0}
_CORRECTIONS = {"bonferroni": "bonferroni", "bh": "bh", "benjamini-hochberg": "bh", "fdr_bh": "bh"}
#: Midpoints of the quantile grid used for W1 when one side is only a sketch.
_W1_GRID = (np.arange(20_000) + 0.5) / 20_000
#: Categories listed in a report's distributions (the rest shown as "(other)").
_SHOWN_CATEGORIES = 50
_OTHER = "(other)"


@dataclass(frozen=True)
class ColumnDrift:
    """The drift test of one column.

    Attributes:
        column: Column name.
        kind: The reference's kind (numeric, categorical, boolean, datetime).
        method: The test or distance used (see :data:`METHODS`).
        statistic: Its value (NaN when a side has no values).
        p_value: For p-value tests (adjusted when the report applies a correction).
        threshold: Alpha for p-value tests, the distance threshold otherwise.
        drifted: ``p_value < threshold`` or ``statistic >= threshold``.
        reference_rows, current_rows: Present (non-missing) values on each side.
        reference_distribution, current_distribution: For plots, no raw data:
            ``{"edges", "counts"}`` on the reference's bins (numeric) or
            ``{"categories", "counts"}`` (categorical).
    """

    column: str
    kind: str
    method: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int
    reference_distribution: dict[str, Any]
    current_distribution: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN as None)."""
        data = asdict(self)
        return {
            **data,
            "statistic": _json_float(self.statistic),
            "p_value": _json_float(self.p_value),
        }


def _json_float(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class DriftReport:
    """Per-column drift results and the dataset-level verdict.

    Attributes:
        columns: One :class:`ColumnDrift` per tested column, in the order tested.
        drift_share_threshold: The dataset drifts when ``share >= drift_share_threshold``.
        correction: ``"bonferroni"``, ``"bh"`` (Benjamini-Hochberg) or None.
    """

    columns: tuple[ColumnDrift, ...]
    drift_share_threshold: float
    correction: str | None = None

    @property
    def number_drifted(self) -> int:
        """Columns that drifted."""
        return sum(1 for column in self.columns if column.drifted)

    @property
    def share(self) -> float:
        """Share of the tested columns that drifted."""
        return self.number_drifted / len(self.columns) if self.columns else 0.0

    @property
    def drifted(self) -> bool:
        """The dataset verdict: ``share >= drift_share_threshold``."""
        return bool(self.columns) and self.share >= self.drift_share_threshold

    def column(self, name: str) -> ColumnDrift:
        """The result of column ``name``."""
        for column in self.columns:
            if column.column == name:
                return column
        raise InvalidInput(
            f"No drift result for column {name!r}.",
            hint=f"Tested columns: {', '.join(c.column for c in self.columns)}.",
        )

    def to_pandas(self) -> pd.DataFrame:
        """One row per column: column, kind, method, statistic, p_value, threshold, drifted."""
        keys = ["column", "kind", "method", "statistic", "p_value", "threshold", "drifted"]
        rows = [{k: getattr(c, k) for k in keys} for c in self.columns]
        return pd.DataFrame(rows, columns=keys)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the dataset verdict and every column's result."""
        return {
            "drifted": self.drifted,
            "share": self.share,
            "number_drifted": self.number_drifted,
            "number_of_columns": len(self.columns),
            "drift_share_threshold": self.drift_share_threshold,
            "correction": self.correction,
            "columns": [column.to_dict() for column in self.columns],
        }


# ---- one column ---------------------------------------------------------------------------


def _auto_method(column: ColumnReference) -> str:
    small = column.rows <= AUTO_P_VALUE_MAX_ROWS
    if column.kind in NUMERIC:
        return "ks" if small else "wasserstein"
    if small:
        return "z" if len(column.categories or {}) == 2 and not column.other else "chi_square"
    return "jensen_shannon"


def _check_method(method: str, where: str) -> None:
    if method != "auto" and method not in METHODS:
        raise InvalidInput(
            f"Unknown drift method {method!r}{where}.",
            hint=f"Use 'auto' or one of: {', '.join(METHODS)}.",
        )


def _check_threshold(method: str, threshold: float, column: str) -> float:
    has_p, _ = METHODS[method]
    top = _DISTANCE_MAX.get(method, math.inf)
    ok = isinstance(threshold, int | float) and not isinstance(threshold, bool)
    value = float(threshold) if ok else math.nan
    # an alpha lies in (0, 1); a distance in (0, its maximum]
    if not (0.0 < value < 1.0 if has_p else 0.0 < value <= top):
        span = "(0, 1) (an alpha)" if has_p else f"(0, {top:.4g}]"
        raise InvalidInput(
            f"Threshold {threshold!r} for column {column!r} ({method}) is out of range.",
            hint=f"A {method} threshold lies in {span}.",
        )
    return float(threshold)


def _quantile_function(side: Side) -> FloatArray:
    if side.values is not None and side.values.size:
        return _stats.empirical_quantiles(side.values, _W1_GRID)
    quantiles = side.column.quantiles
    if quantiles:
        return np.interp(_W1_GRID, np.linspace(0.0, 1.0, len(quantiles)), quantiles)
    return _stats.empirical_quantiles(side.test_values(), _W1_GRID)


def _binned(side: Side, edges: FloatArray) -> FloatArray:
    """Counts of a numeric side on ``edges`` (exact when possible, else from quantiles)."""
    column = side.column
    same_bins = column.edges is not None and np.array_equal(np.asarray(column.edges), edges)
    if column.counts is not None and same_bins:
        return np.asarray(column.counts, dtype=np.float64)
    if side.values is not None:
        return _stats.histogram_counts(side.values, edges, assume_sorted=True).astype(float)
    if column.quantiles:  # a profile binned elsewhere: read its CDF off the quantiles
        levels = np.linspace(0.0, 1.0, len(column.quantiles))
        cdf = np.interp(edges[1:-1], np.asarray(column.quantiles), levels)
        return np.diff(np.concatenate([[0.0], cdf, [1.0]])) * column.present
    return _stats.histogram_counts(side.test_values(), edges).astype(float)


def _aligned(
    ref: ColumnReference, cur: ColumnReference
) -> tuple[list[str], FloatArray, FloatArray]:
    """Category labels and counts on both sides, reference categories first."""
    ref_cats, cur_cats = ref.categories or {}, cur.categories or {}
    labels = list(ref_cats)
    fresh = [k for k in cur_cats if k not in ref_cats]
    # a truncated reference cannot tell a new category from a rare one: pool them
    pooled = ref.other > 0
    if not pooled:
        labels += fresh
    ref_counts = [float(ref_cats.get(k, 0)) for k in labels]
    cur_counts = [float(cur_cats.get(k, 0)) for k in labels]
    extra_ref = float(ref.other)
    extra_cur = float(cur.other) + (sum(cur_cats[k] for k in fresh) if pooled else 0.0)
    if extra_ref or extra_cur:
        labels.append(_OTHER)
        ref_counts.append(extra_ref)
        cur_counts.append(extra_cur)
    return labels, np.asarray(ref_counts), np.asarray(cur_counts)


def _shown(labels: list[str], counts: FloatArray) -> dict[str, Any]:
    values = [round(c) for c in counts.tolist()]
    if len(labels) > _SHOWN_CATEGORIES:
        rest = sum(values[_SHOWN_CATEGORIES - 1 :])
        labels, values = [*labels[: _SHOWN_CATEGORIES - 1], _OTHER], values[: _SHOWN_CATEGORIES - 1]
        values.append(rest)
    return {"categories": list(labels), "counts": values}


def _compare(name: str, method: str, threshold: float, ref: Side, cur: Side) -> ColumnDrift:
    """Run ``method`` on one column's two sides."""
    kind = ref.column.kind
    has_p, _ = METHODS[method]
    statistic, p_value = math.nan, None
    if kind in NUMERIC:
        edges = np.asarray(ref.column.edges or (0.0, 1.0))
        ref_counts, cur_counts = _binned(ref, edges), _binned(cur, edges)
        ref_dist = {"edges": edges.tolist(), "counts": [round(c) for c in ref_counts]}
        cur_dist = {"edges": edges.tolist(), "counts": [round(c) for c in cur_counts]}
    else:
        labels, ref_counts, cur_counts = _aligned(ref.column, cur.column)
        ref_dist, cur_dist = _shown(labels, ref_counts), _shown(labels, cur_counts)
    if ref.column.present and cur.column.present:
        statistic, p_value = _statistic(method, ref, cur, ref_counts, cur_counts)
    if not has_p:
        p_value = None
    if p_value is not None and math.isnan(p_value):
        p_value = None
    drifted = (p_value < threshold) if p_value is not None else statistic >= threshold
    return ColumnDrift(
        column=name,
        kind=kind,
        method=method,
        statistic=float(statistic),
        p_value=p_value,
        threshold=threshold,
        drifted=bool(drifted) and not math.isnan(statistic),
        reference_rows=ref.column.present,
        current_rows=cur.column.present,
        reference_distribution=ref_dist,
        current_distribution=cur_dist,
    )


def _statistic(
    method: str, ref: Side, cur: Side, ref_counts: FloatArray, cur_counts: FloatArray
) -> tuple[float, float | None]:
    if method in ("ks", "anderson_darling", "cramer_von_mises"):
        a, b = ref.test_values(), cur.test_values()
        if a.size == 0 or b.size == 0:
            return math.nan, None
        if method == "ks":
            return _stats.ks_2samp(a, b, assume_sorted=True)
        if a[0] == a[-1] == b[0] == b[-1]:  # one value on both sides: nothing can differ
            return 0.0, 1.0
        test = _stats.anderson_darling if method == "anderson_darling" else _stats.cramer_von_mises
        return test(a, b)
    if method == "wasserstein":
        std = float(ref.column.std or 0.0)
        if ref.values is not None and cur.values is not None:
            a, b = ref.values, cur.values
            return _stats.normed_wasserstein(a, b, assume_sorted=True, reference_std=std), None
        w1 = _stats.wasserstein_from_quantiles(_quantile_function(ref), _quantile_function(cur))
        return w1 / max(std, _stats.WASSERSTEIN_STD_FLOOR), None
    if method == "chi_square":
        return _stats.chi_square(ref_counts, cur_counts)
    if method == "z":
        top = int(np.argmax(ref_counts))  # the reference's most frequent category vs the rest
        ref_pair = [ref_counts[top], ref_counts.sum() - ref_counts[top]]
        cur_pair = [cur_counts[top], cur_counts.sum() - cur_counts[top]]
        return _stats.two_proportion_z(ref_pair, cur_pair)
    distance = {
        "psi": _stats.psi,
        "kl": _stats.kl_divergence,
        "jensen_shannon": _stats.jensen_shannon,
        "hellinger": _stats.hellinger,
    }[method]
    return distance(ref_counts, cur_counts), None


# ---- the whole table ----------------------------------------------------------------------


@dataclass
class _Input:
    """A drift input: a stored profile or an opened table."""

    profile: ReferenceProfile | None
    table: Table | None

    @property
    def names(self) -> list[str]:
        if self.profile is not None:
            return list(self.profile.columns)
        assert self.table is not None
        return self.table.names

    @property
    def rows(self) -> int:
        if self.profile is not None:
            return self.profile.rows
        assert self.table is not None
        return self.table.rows


def _open(data: Any, what: str) -> _Input:
    if isinstance(data, ReferenceProfile):
        result = _Input(data, None)
    else:
        result = _Input(None, open_table(data))
    if result.rows == 0:
        raise InvalidInput(f"The {what} data has no rows.", hint=f"Pass a non-empty {what} window.")
    return result


def _columns(ref: _Input, cur: _Input, columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        names = check_columns(ref.names, columns, "reference")
        return check_columns(cur.names, names, "current data")
    available = ref.names
    if ref.table is not None:
        available = monitored_columns(ref.table)
    common = [name for name in available if name in set(cur.names)]
    if not common:
        raise InvalidInput(
            "The reference and the current data have no column in common.",
            hint=f"Reference columns: {', '.join(ref.names)}; current: {', '.join(cur.names)}.",
        )
    return common


def _results(
    ref: _Input,
    cur: _Input,
    names: list[str],
    categorical: Iterable[str],
    decide: Callable[[str, Side, Side], ColumnDrift],
) -> list[ColumnDrift]:
    """``decide`` on both sides of every column, holding as few values as possible."""
    options = Options(sample_size=STREAM_SAMPLE_SIZE, max_categories=None)
    # sorted values kept for exact tests; no row sample (the values are all there)
    summary = partial(
        column_side, options=options, rows_sample=np.zeros(0, np.int64), keep_values=True
    )
    cur_table = cur.table.select(names) if cur.table is not None else None
    ref_table = ref.table.select(names) if ref.table is not None else None
    kinds = reference_kinds(ref_table, names, categorical) if ref_table is not None else {}

    def in_memory(name: str) -> ColumnDrift:
        # one column's reference and current, tested, then dropped: a few columns at a time
        if ref.profile is not None:
            ref_side = side_from_profile(ref.profile.columns[name])
        else:
            assert ref_table is not None
            ref_side = summary(ref_table, name, kinds[name], like=None)
        assert cur_table is not None
        return decide(
            name, ref_side, summary(cur_table, name, ref_side.column.kind, like=ref_side.column)
        )

    if cur_table is not None and cur_table.in_memory and (ref_table is None or ref_table.in_memory):
        return parallel_map(in_memory, names)
    # the current is streamed or a profile: summarise the reference first, bin on its edges
    if ref.profile is not None:
        ref_sides = {name: side_from_profile(ref.profile.columns[name]) for name in names}
    else:
        assert ref_table is not None
        exact = ref_table.in_memory and ref_table.rows * len(names) <= IN_MEMORY_CELLS
        ref_sides = summarise(ref_table, kinds, like=None, options=options, keep_values=exact)
        for side in ref_sides.values():
            complete = side.sample is not None and side.sample.size == side.column.present
            if side.values is None and complete:  # the sample holds every value: exact
                side.values = side.sample
    like = {name: side.column for name, side in ref_sides.items()}
    if cur.profile is not None:
        cur_sides = {name: side_from_profile(cur.profile.columns[name]) for name in names}
    else:
        assert cur_table is not None
        cur_kinds = {name: like[name].kind for name in names}
        cur_sides = summarise(cur_table, cur_kinds, like=like, options=options, keep_values=True)
    return parallel_map(lambda name: decide(name, ref_sides[name], cur_sides[name]), names)


def _plan(
    name: str,
    column: ColumnReference,
    method: str,
    threshold: float | None,
    methods: Mapping[str, str],
    thresholds: Mapping[str, float],
) -> tuple[str, float]:
    """A column's method and threshold (overrides, then ``method``, then auto)."""
    chosen = methods.get(name, method)
    if chosen == "auto":
        chosen = _auto_method(column)
    has_p, kinds = METHODS[chosen]
    if column.kind not in kinds:
        raise InvalidInput(
            f"Method {chosen!r} cannot test column {name!r} ({column.kind}).",
            hint="Use one of: "
            + ", ".join(m for m, (_, allowed) in METHODS.items() if column.kind in allowed),
        )
    limit = thresholds.get(name, threshold)
    if limit is None:
        limit = DEFAULT_ALPHA if has_p else DEFAULT_DISTANCE
    return chosen, _check_threshold(chosen, limit, name)


def _corrected(results: list[ColumnDrift], correction: str) -> list[ColumnDrift]:
    tested = [i for i, r in enumerate(results) if r.p_value is not None]
    if not tested:
        return results
    raw = np.asarray([results[i].p_value for i in tested], dtype=np.float64)
    adjusted = (
        _stats.bonferroni(raw) if correction == "bonferroni" else _stats.benjamini_hochberg(raw)
    )
    out = list(results)
    for i, p in zip(tested, adjusted.tolist(), strict=True):
        r = out[i]
        out[i] = ColumnDrift(
            r.column,
            r.kind,
            r.method,
            r.statistic,
            float(p),
            r.threshold,
            p < r.threshold,
            r.reference_rows,
            r.current_rows,
            r.reference_distribution,
            r.current_distribution,
        )
    return out


def drift(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    method: str = "auto",
    threshold: float | None = None,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    correction: str | None = None,
    drift_share: float = 0.5,
    categorical: Sequence[str] | None = None,
) -> DriftReport:
    """Test every column of ``current`` for drift from ``reference``.

    Args:
        reference: Raw data (a pandas/polars DataFrame, a pyarrow Table, a Parquet path, a
            ``datasets:/name/version`` URI or dataset version) or a stored
            :class:`ReferenceProfile`. Raw data is tested exactly; a profile through its
            summary (exactly too while its row sample holds every value).
        current: The same kinds of input. A large Parquet window is streamed in batches
            and summarised on the reference's bins in bounded memory (exact-style tests
            then use a 100,000-row sample of it and W1 its quantile sketch). A profile
            of the current window is exact while its sample holds every value; beyond
            that its counts on the reference's bins are read off its quantiles
            (approximate, mostly in the tails).
        columns: Columns to test (default: every testable column present on both sides).
        method: ``"auto"`` or one of :data:`METHODS`: ``ks``, ``chi_square``, ``z``,
            ``anderson_darling``, ``cramer_von_mises``, ``psi``, ``jensen_shannon``,
            ``wasserstein`` (normed by the reference's std), ``hellinger``, ``kl``.
        threshold: Alpha for p-value tests or the distance threshold, for every column
            without an entry in ``thresholds`` (default: 0.05 and 0.1).
        methods: Per-column method overrides.
        thresholds: Per-column thresholds.
        correction: ``"bonferroni"`` or ``"bh"`` (Benjamini-Hochberg): adjust the p-values
            of the p-value tests across columns; ``p_value`` is then the adjusted one.
        drift_share: The dataset drifts when at least this share of columns drifts.
        categorical: Columns to treat as categorical (raw reference only).

    ``method="auto"`` picks, per column, by the reference's kind and size:

    ========================  =========================  ===========================
    reference rows            numeric / datetime         categorical / boolean
    ========================  =========================  ===========================
    up to 100,000             ``ks`` (alpha 0.05)        ``z`` with exactly two
                                                         categories, else
                                                         ``chi_square`` (alpha 0.05)
    above 100,000             ``wasserstein`` (0.1)      ``jensen_shannon`` (0.1)
    ========================  =========================  ===========================

    This is the common practice (p-values for small references, distances for large
    ones, where any tiny shift becomes "significant"), with the boundary at 100,000 rows
    rather than Evidently's 1,000 so that the defaults still detect a 0.1-sigma mean shift
    at 100,000 rows and a 5-point change in one category's share. A numeric reference
    column with at most five distinct values is categorical; booleans, strings and
    dictionary columns are categorical; datetimes are numeric on epoch microseconds.
    Binned methods use the reference's equal-width bins (open-ended outer bins) for
    numbers and the union of categories otherwise. The chi-square test is the 2 x k test
    of homogeneity (both samples random), not a goodness-of-fit test against the
    reference, so its false-alarm rate stays at alpha.

    Raises:
        InvalidInput: Unknown method or column, a threshold out of range, a method that
            cannot test a column's kind, or empty data.
    """
    _check_method(method, "")
    methods, thresholds = dict(methods or {}), dict(thresholds or {})
    for name, chosen in methods.items():
        _check_method(chosen, f" for column {name!r}")
    corrected = None
    if correction is not None:
        corrected = _CORRECTIONS.get(str(correction).lower())
        if corrected is None:
            raise InvalidInput(
                f"Unknown correction {correction!r}.", hint="Use 'bonferroni', 'bh' or None."
            )
    if not isinstance(drift_share, int | float) or not 0.0 < float(drift_share) <= 1.0:
        raise InvalidInput(
            f"drift_share={drift_share!r} is out of range.",
            hint="Give the share of drifted columns that makes the dataset drift, in (0, 1].",
        )
    ref, cur = _open(reference, "reference"), _open(current, "current")
    names = _columns(ref, cur, columns)
    for label, mapping in (("methods", methods), ("thresholds", thresholds)):
        stray = [name for name in mapping if name not in names]
        if stray:
            raise InvalidInput(
                f"{label} names column(s) {stray} that are not tested.",
                hint=f"Tested columns: {', '.join(names)}.",
            )
    forced = check_columns(ref.names, categorical or [], "reference")

    def decide(name: str, ref_side: Side, cur_side: Side) -> ColumnDrift:
        plan = _plan(name, ref_side.column, method, threshold, methods, thresholds)
        return _compare(name, *plan, ref_side, cur_side)

    results = _results(ref, cur, names, forced, decide)
    if corrected is not None:
        results = _corrected(results, corrected)
    return DriftReport(tuple(results), float(drift_share), corrected)


def _as_data(data: Any, column: str) -> Any:
    """A bare series/array of predictions as a one-column table."""
    if isinstance(data, pd.Series | np.ndarray | list | tuple | pa.Array | pa.ChunkedArray):
        values = data.to_numpy() if isinstance(data, pd.Series) else data
        return pa.table(
            {column: pa.array(values) if not isinstance(values, pa.ChunkedArray) else values}
        )
    if hasattr(data, "to_arrow") and not hasattr(data, "columns"):  # a polars Series
        return pa.table({column: data.to_arrow()})
    return data


def prediction_drift(
    reference: Any,
    current: Any,
    *,
    column: str = "prediction",
    method: str = "auto",
    threshold: float | None = None,
) -> ColumnDrift:
    """Drift of a model's predictions: :func:`drift` on the ``column`` alone.

    ``reference`` and ``current`` are what :func:`drift` takes, or the predictions
    themselves (a pandas/polars Series, numpy array or list). Class labels are tested as
    categories, scores and regression outputs as numbers, with the same auto rules.
    """
    report = drift(
        _as_data(reference, column),
        _as_data(current, column),
        columns=[column],
        method=method,
        threshold=threshold,
    )
    return report.columns[0]
