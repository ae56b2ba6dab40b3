"""Multivariate drift: a change in the joint distribution of the numeric columns.

:func:`multivariate_drift` is PCA reconstruction error (as in NannyML): a PCA fitted on
half of the reference's row sample, and a Welch z-test between the mean reconstruction
error of the current rows (streamed in bounded memory) and that of the held-out half. It
opens its inputs as :func:`cycleml.monitoring.drift` does (raw data or a stored
:class:`~cycleml.monitoring.ReferenceProfile`, whose row sample it reuses).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from cycleml.errors import InvalidInput
from cycleml.monitoring._drift import DEFAULT_ALPHA, NUMERIC, _Input, _json_float, _open
from cycleml.monitoring._inputs import as_float_array
from cycleml.monitoring._reference import (
    MAX_DISCRETE,
    FloatArray,
    Options,
    check_columns,
    monitored_columns,
    reference_kinds,
    sample_rows,
    summarise,
)

__all__ = ["MultivariateDrift", "multivariate_drift"]


@dataclass(frozen=True)
class MultivariateDrift:
    """The multivariate detector's result (PCA reconstruction error).

    Attributes:
        method: ``"pca_reconstruction"``.
        columns: The numeric columns used.
        components: Principal components kept.
        explained_variance: Share of the reference's variance they explain.
        statistic: Mean reconstruction error of the current rows.
        reference_statistic: Mean reconstruction error of held-out reference rows.
        p_value: Two-sided Welch z-test of the two means.
        threshold: Alpha.
        drifted: ``p_value < threshold``.
        reference_rows: Held-out reference rows the error was measured on.
        current_rows: Current rows.
    """

    method: str
    columns: tuple[str, ...]
    components: int
    explained_variance: float
    statistic: float
    reference_statistic: float
    p_value: float
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        for key in ("statistic", "reference_statistic", "p_value"):
            data[key] = _json_float(data[key])
        return {**data, "columns": list(self.columns)}


_CHUNK_ROWS = 1 << 16


def _numeric_names(data: _Input, columns: Sequence[str] | None, what: str) -> list[str]:
    if data.profile is not None:
        usable = [n for n, c in data.profile.columns.items() if c.kind in NUMERIC and c.sample]
    else:
        assert data.table is not None
        kinds = reference_kinds(data.table, monitored_columns(data.table))
        usable = [name for name, kind in kinds.items() if kind in NUMERIC]
    if columns is None:
        return usable
    # explicit columns: unknown names are an error, categorical ones are left out
    return [name for name in check_columns(data.names, columns, what) if name in usable]


def _matrix(arrays: Sequence[FloatArray], start: int, stop: int) -> FloatArray:
    block = np.column_stack([a[start:stop] for a in arrays]).astype(np.float64, copy=False)
    block[~np.isfinite(block)] = np.nan
    return block


def _chunks(data: _Input, names: list[str], sample: int, seed: int) -> Any:
    """Row blocks of ``names``: a profile's row sample, or the data (sampled to ``sample``)."""
    if data.profile is not None:
        columns = [np.asarray(data.profile.columns[n].sample, dtype=np.float64) for n in names]
        yield _matrix(columns, 0, len(columns[0]))
        return
    table = data.table
    assert table is not None
    table = table.select(names)
    if table.in_memory:
        arrays = [as_float_array(table.column(n), table.types[n], n) for n in names]
        if sample:
            picked = sample_rows(table.rows, sample, seed)
            arrays = [a[picked] for a in arrays]
        for start in range(0, len(arrays[0]), _CHUNK_ROWS):
            yield _matrix(arrays, start, start + _CHUNK_ROWS)
        return
    if sample:  # a streamed reference: its row sample, drawn in bounded memory
        # "datetime" skips the few-distinct-values rule: every column keeps its row sample
        kinds = dict.fromkeys(names, "datetime")
        sides = summarise(table, kinds, like=None, options=Options(sample_size=sample, seed=seed))
        columns = [
            s.rows_sample if s.rows_sample is not None else np.empty(0) for s in sides.values()
        ]
        yield _matrix(columns, 0, min(len(c) for c in columns))
        return
    for batch in table.batches(names):
        arrays = [
            as_float_array(batch.column(i), batch.column(i).type, n) for i, n in enumerate(names)
        ]
        for start in range(0, batch.num_rows, _CHUNK_ROWS):
            yield _matrix(arrays, start, start + _CHUNK_ROWS)


def multivariate_drift(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    alpha: float = DEFAULT_ALPHA,
    explained_variance: float = 0.65,
    sample_size: int = 10_000,
    seed: int = 0,
) -> MultivariateDrift:
    """Detect a change in the joint distribution of the numeric columns.

    The detector is PCA reconstruction error (as in NannyML): the reference's row sample
    (a stored profile's, or ``sample_size`` seeded rows of raw data) is split in two
    halves. The first fixes each column's mean and standard deviation and a PCA keeping
    the fewest components that explain ``explained_variance`` of the variance (at most
    one fewer than the columns). Every row is standardised (missing values imputed with
    the mean) and its reconstruction error is the distance between it and its projection
    on those components. A change in the correlations moves rows off the reference's
    principal subspace even when no single column's distribution changes. The verdict is a
    two-sided Welch z-test between the mean error of the current rows (all of them, in
    bounded memory) and that of the held-out second half; the held-out half keeps the test
    honest (the fitted half's error is biased low).

    ``columns`` narrows the columns considered (categorical ones among them are left
    out); by default every numeric or datetime column on both sides is used, the same the
    drift tests treat as numeric.

    Raises:
        InvalidInput: Fewer than two varying numeric columns, fewer than 20 reference
            rows, empty data or a bad ``alpha``/``explained_variance``.
    """
    if not (isinstance(alpha, int | float) and 0.0 < alpha < 1.0):
        raise InvalidInput(f"alpha={alpha!r} is out of range.", hint="Use an alpha in (0, 1).")
    if not (isinstance(explained_variance, int | float) and 0.0 < explained_variance < 1.0):
        raise InvalidInput(
            f"explained_variance={explained_variance!r} is out of range.",
            hint="Use a share of the variance in (0, 1), e.g. 0.65.",
        )
    ref, cur = _open(reference, "reference"), _open(current, "current")
    names = _numeric_names(ref, columns, "reference")
    names = [n for n in names if n in set(cur.names)] if columns is None else names
    check_columns(cur.names, names, "current data")
    rows = np.concatenate(list(_chunks(ref, names, sample_size, seed)))
    if ref.table is not None and columns is None:  # as in a profile: few values = categorical
        varied = [np.unique(c[np.isfinite(c)]).size > MAX_DISCRETE for c in rows.T]
        names = [n for n, ok in zip(names, varied, strict=True) if ok]
        rows = rows[:, np.asarray(varied, dtype=bool)]
    order = np.random.default_rng(seed).permutation(len(rows))
    half = len(rows) // 2
    fit, held_out = rows[order[:half]], rows[order[half:]]
    if half < 20:
        raise InvalidInput(
            f"The multivariate detector needs at least 40 reference rows, got {len(rows)}.",
            hint="Use a larger reference (or a larger sample_size).",
        )
    with np.errstate(invalid="ignore"):
        mean, std = np.nanmean(fit, axis=0), np.nanstd(fit, axis=0)
    keep = np.isfinite(std) & (std > 0)
    if int(keep.sum()) < 2:
        raise InvalidInput(
            f"The multivariate detector needs at least two varying numeric columns, got "
            f"{int(keep.sum())} of {names}.",
            hint="Pass columns= with two or more numeric columns that vary.",
        )
    mean, std = mean[keep], std[keep]

    def standardised(block: FloatArray) -> FloatArray:
        z: FloatArray = (block[:, keep] - mean) / std
        z[np.isnan(z)] = 0.0  # mean imputation
        return z

    z_fit = standardised(fit)
    eigenvalues, vectors = np.linalg.eigh(z_fit.T @ z_fit / max(len(z_fit) - 1, 1))
    eigenvalues, vectors = eigenvalues[::-1].clip(min=0.0), vectors[:, ::-1]
    ratio = np.cumsum(eigenvalues) / eigenvalues.sum()
    k = min(int(np.searchsorted(ratio, explained_variance)) + 1, int(keep.sum()) - 1)
    basis = vectors[:, :k]

    def errors(block: FloatArray) -> FloatArray:
        z = standardised(block)
        projected = z @ basis
        residual = np.einsum("ij,ij->i", z, z) - np.einsum("ij,ij->i", projected, projected)
        result: FloatArray = np.sqrt(np.clip(residual, 0.0, None))
        return result

    ref_err = errors(held_out)
    n_cur, total, squares = 0, 0.0, 0.0
    for block in _chunks(cur, names, 0, seed):
        e = errors(block)
        n_cur, total, squares = n_cur + e.size, total + float(e.sum()), squares + float(e @ e)
    if n_cur < 2:
        raise InvalidInput("The current data needs at least two rows for the multivariate test.")
    cur_mean = total / n_cur
    cur_var = max(squares - n_cur * cur_mean * cur_mean, 0.0) / (n_cur - 1)
    ref_mean, ref_var = float(ref_err.mean()), float(ref_err.var(ddof=1))
    spread = math.sqrt(ref_var / ref_err.size + cur_var / n_cur)
    z_stat = (cur_mean - ref_mean) / spread if spread > 0 else 0.0
    p_value = math.erfc(abs(z_stat) / math.sqrt(2.0))  # = 2 * norm.sf(|z|)
    return MultivariateDrift(
        method="pca_reconstruction",
        columns=tuple(n for n, kept in zip(names, keep.tolist(), strict=True) if kept),
        components=k,
        explained_variance=float(ratio[k - 1]),
        statistic=cur_mean,
        reference_statistic=ref_mean,
        p_value=p_value,
        threshold=float(alpha),
        drifted=p_value < alpha,
        reference_rows=int(ref_err.size),
        current_rows=n_cur,
    )
