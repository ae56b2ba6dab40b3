"""The profile data model (:class:`Profile`, :class:`ColumnProfile`, :class:`Alert`), the alert
rules, the association measures that compare columns (Pearson, Spearman via ranks, Cramér's V,
correlation ratio) and :func:`compare` for two profiles.

A profile holds aggregates only: counts, moments, quantiles, histograms, capped top values and
association matrices. It is what :func:`cycleml.data.profile` returns, what the HTML report
renders (through :meth:`Profile.to_dict`), and what :func:`compare` puts side by side.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cycleml.errors import InvalidInput, NotFound

__all__ = [
    "KINDS",
    "QUANTILES",
    "Alert",
    "ColumnProfile",
    "Profile",
    "ProfileComparison",
    "average_ranks",
    "compare",
    "correlation_ratio",
    "cramers_v",
    "is_id_like",
    "moments_from_sums",
    "pearson_matrix",
    "profile_alerts",
]

#: The logical column types a profile distinguishes.
KINDS = ("numeric", "categorical", "boolean", "datetime", "text")
#: The quantiles every numeric and datetime column reports, by key.
QUANTILES = {"5%": 0.05, "25%": 0.25, "50%": 0.5, "75%": 0.75, "95%": 0.95}
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Alert:
    """A data-quality warning: ``kind`` names the rule, ``value`` the measurement that fired.

    Kinds: ``duplicates``, ``constant``, ``high_missing``, ``high_cardinality``, ``skewed``,
    ``id_like`` and ``target_leakage``.
    """

    kind: str
    columns: tuple[str, ...]
    message: str
    value: float | int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the alert as a JSON-ready dict."""
        return {**asdict(self), "columns": list(self.columns)}


@dataclass(frozen=True)
class ColumnProfile:
    """Aggregate statistics of one column (no raw rows; top values are capped).

    ``count`` is the number of non-missing values (NaN counts as missing). Datetime
    statistics are ISO-8601 strings (UTC) and their ``std`` is in seconds. ``length`` holds
    the string length statistics of categorical and text columns. ``histogram`` is
    ``{"edges": [n + 1 edges], "counts": [n counts]}``; ``top_values`` is a list of
    ``{"value", "count"}``, most frequent first.
    """

    name: str
    kind: str
    dtype: str
    count: int
    missing: int
    missing_fraction: float
    distinct: int
    distinct_approximate: bool = False
    min: Any = None
    max: Any = None
    mean: Any = None
    std: float | None = None
    skewness: float | None = None
    kurtosis: float | None = None
    zeros: int | None = None
    infinite: int | None = None
    quantiles: dict[str, Any] = field(default_factory=dict)
    top_values: list[dict[str, Any]] = field(default_factory=list)
    histogram: dict[str, list[Any]] | None = None
    length: dict[str, float | int | None] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the column profile as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Profile:
    """The profile of a dataset: overview, one :class:`ColumnProfile` per column, alerts.

    ``correlations`` maps ``pearson``, ``spearman`` and ``cramers_v`` to
    ``{"columns": [...], "matrix": [[...]]}`` (``None`` where undefined);
    ``target_association`` lists ``{"column", "measure", "value"}`` with ``measure`` one of
    ``pearson``, ``correlation_ratio`` or ``cramers_v``; ``settings`` records the parameters
    and the approximations used.
    """

    n_rows: int
    n_columns: int
    missing_cells: int
    missing_cells_fraction: float
    duplicate_rows: int | None
    duplicate_fraction: float | None
    columns: list[ColumnProfile]
    correlations: dict[str, Any] = field(default_factory=dict)
    target: str | None = None
    task: str | None = None
    target_association: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def column(self, name: str) -> ColumnProfile:
        """Return the profile of column ``name``; raise :class:`NotFound` if there is none."""
        for col in self.columns:
            if col.name == name:
                return col
        names = [c.name for c in self.columns]
        raise NotFound(f"the profile has no column {name!r}; its columns are {names}")

    def to_dict(self) -> dict[str, Any]:
        """Return the profile as a JSON-ready dict (aggregates only, no raw rows)."""
        out = asdict(self)
        out["alerts"] = [a.to_dict() for a in self.alerts]
        return {"schema_version": SCHEMA_VERSION, **out}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Rebuild a profile from :meth:`to_dict` output; raise :class:`InvalidInput` if bad."""
        try:
            body = {k: v for k, v in data.items() if k != "schema_version"}
            body["columns"] = [ColumnProfile(**c) for c in data["columns"]]
            alerts = data.get("alerts", [])
            body["alerts"] = [Alert(**{**a, "columns": tuple(a["columns"])}) for a in alerts]
            return cls(**body)
        except (KeyError, TypeError) as exc:
            raise InvalidInput(
                f"not a profile dict ({exc}); pass the output of Profile.to_dict()"
            ) from exc


def is_id_like(column: ColumnProfile, n_rows: int) -> bool:
    """Whether a column looks like a row id: integer or string, present and unique on every
    row (counted exactly). Such a column raises the ``id_like`` alert and is left out of the
    correlation matrices, where its ranks would only measure the order of the rows."""
    integral = column.kind == "categorical" or (
        column.kind == "numeric" and isinstance(column.min, int)
    )
    every = n_rows > 1 and column.count == n_rows == column.distinct
    return integral and every and not column.distinct_approximate


def profile_alerts(
    columns: Sequence[ColumnProfile],
    *,
    n_rows: int,
    duplicate_rows: int | None,
    max_categories: int,
    association: Mapping[str, tuple[str, float | None]] | None = None,
    identical_to_target: Sequence[str] = (),
    target: str | None = None,
    task: str | None = None,
) -> list[Alert]:
    """Apply the alert rules to finished column profiles.

    Rules: duplicate rows (any), constant (at most one distinct value), high missing
    (> 20%), high cardinality (categorical with more than ``max_categories`` distinct values
    or > 50% unique), skewed (``|skewness| > 2``; not for a classification ``target``, whose
    values are class labels), id-like (:func:`is_id_like`) and target leakage
    (``|association| >= 0.95`` or identical to the target). ``association`` maps a column to
    ``(measure, value)``.
    """
    alerts: list[Alert] = []
    if duplicate_rows:  # None: not counted (a minimal profile)
        msg = f"{duplicate_rows} duplicate rows ({duplicate_rows / n_rows:.1%} of {n_rows})"
        alerts.append(Alert("duplicates", (), msg, duplicate_rows))
    for c in columns:
        one = (c.name,)
        if c.distinct <= 1:
            msg = f"{c.name!r} has a single value" if c.distinct else f"{c.name!r} is all missing"
            alerts.append(Alert("constant", one, msg, c.distinct))
        if c.missing_fraction > 0.2:
            msg = f"{c.name!r} is {c.missing_fraction:.1%} missing"
            alerts.append(Alert("high_missing", one, msg, c.missing_fraction))
        unique = c.distinct / c.count if c.count else 0.0
        if c.kind == "categorical" and (c.distinct > max_categories or unique > 0.5):
            msg = f"{c.name!r} has {c.distinct} distinct values ({unique:.0%} unique)"
            alerts.append(Alert("high_cardinality", one, msg, c.distinct))
        labels = c.name == target and task not in (None, "regression")
        if c.skewness is not None and abs(c.skewness) > 2 and not labels:
            msg = f"{c.name!r} is highly skewed (skewness {c.skewness:.2f})"
            alerts.append(Alert("skewed", one, msg, c.skewness))
        if is_id_like(c, n_rows):
            alerts.append(Alert("id_like", one, f"{c.name!r} is unique on every row", c.distinct))
        measure, value = (association or {}).get(c.name, ("", None))
        if c.name in identical_to_target:
            msg = f"{c.name!r} is identical to the target: suspected target leakage"
            alerts.append(Alert("target_leakage", one, msg, 1.0))
        elif value is not None and abs(value) >= 0.95:
            msg = f"{c.name!r} has {measure} {value:.3f} with the target: suspected leakage"
            alerts.append(Alert("target_leakage", one, msg, value))
    return alerts


# -- association measures ------------------------------------------------------------
def moments_from_sums(
    n: int, m2: float, m3: float | None, m4: float | None
) -> tuple[float | None, float | None, float | None]:
    """Sample std, skewness and excess kurtosis (bias-corrected, as pandas) of ``n`` values.

    ``m2``, ``m3`` and ``m4`` are the sums of the 2nd, 3rd and 4th powers of the deviations
    from the mean (one aggregate query computes them without cancellation).
    """
    std = math.sqrt(m2 / (n - 1)) if n > 1 else None
    if m2 <= 0 or m3 is None or m4 is None:
        return std, None, None
    skew = (m3 / n) / (m2 / n) ** 1.5 * math.sqrt(n * (n - 1)) / (n - 2) if n > 2 else None
    g2 = (m4 / n) / (m2 / n) ** 2 - 3
    kurt = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * g2 + 6) if n > 3 else None
    return std, skew, kurt


def pearson_matrix(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Pearson correlation matrix of the columns of ``x``, pairwise-complete over NaNs."""
    valid = ~np.isnan(x)
    if valid.all():
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.atleast_2d(np.corrcoef(x, rowvar=False))
    else:
        centered = np.where(valid, x - np.nanmean(x, axis=0), 0.0)
        mask = valid.astype(np.float64)
        n = mask.T @ mask
        sums = centered.T @ mask  # [i, j]: sum of x_i over rows where i and j are valid
        squares = (centered**2).T @ mask
        with np.errstate(invalid="ignore", divide="ignore"):
            cov = centered.T @ centered - sums * sums.T / n
            var = squares - sums**2 / n
            out = cov / np.sqrt(var * var.T)
    out = np.clip(out, -1.0, 1.0)
    np.fill_diagonal(out, 1.0)
    return out


def average_ranks(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Average ranks (ties share their mean rank) of each column of ``x``; NaN stays NaN."""
    out = np.full_like(x, np.nan)

    def rank(j: int) -> None:
        valid = ~np.isnan(x[:, j])
        _, inverse, counts = np.unique(x[valid, j], return_inverse=True, return_counts=True)
        ends = np.cumsum(counts)
        out[valid, j] = ((2 * ends - counts + 1) / 2.0)[inverse]

    # The sorts release the GIL: columns rank in parallel.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(rank, range(x.shape[1])))
    return out


def cramers_v(table: Mapping[tuple[Any, Any], int]) -> float | None:
    """Cramér's V (no bias correction) from ``{(a, b): count}`` contingency counts."""
    rows = {a: k for k, a in enumerate(sorted({a for a, _ in table}, key=str))}
    cols = {b: k for k, b in enumerate(sorted({b for _, b in table}, key=str))}
    if len(rows) < 2 or len(cols) < 2:
        return None
    observed = np.zeros((len(rows), len(cols)))
    for (a, b), count in table.items():
        observed[rows[a], cols[b]] = count
    return cramers_v_counts(observed)


def cramers_v_counts(observed: NDArray[np.float64]) -> float | None:
    """Cramér's V (no bias correction) of a contingency table; empty rows/columns dropped."""
    observed = observed[observed.sum(axis=1) > 0][:, observed.sum(axis=0) > 0]
    if min(observed.shape) < 2:
        return None
    total = observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / total
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    return math.sqrt(chi2 / (total * (min(observed.shape) - 1)))


def correlation_ratio(groups: Iterable[tuple[int, float, float]]) -> float | None:
    """Correlation ratio η of a numeric variable across groups, in [0, 1].

    ``groups`` holds each group's (count, mean, population variance). η² is the share of the
    variance explained by the groups; for two groups η equals ``|point-biserial r|``.
    """
    stats = [g for g in groups if g[0] > 0]
    total = sum(n for n, _, _ in stats)
    if total == 0:
        return None
    mean = sum(n * m for n, m, _ in stats) / total
    between = sum(n * (m - mean) ** 2 for n, m, _ in stats)
    within = sum(n * v for n, _, v in stats)
    if between + within <= 0:
        return None
    return math.sqrt(between / (between + within))


_STATS = ("count", "missing_fraction", "distinct", "min", "max", "mean", "std")


@dataclass(frozen=True)
class ProfileComparison:
    """Two profiles side by side: schema differences and per-column statistic differences.

    ``overview`` and each column's ``stats`` map a statistic to ``{"a", "b", "delta"}``
    (``delta = b - a`` for numbers, else ``None``). ``columns`` holds one entry per column
    present in both, with ``kind``/``dtype`` pairs, ``stats``, ``mean_shift`` (mean
    difference in standard deviations of ``a``), ``top_values``/``histograms`` of both, and
    ``reasons`` it counts as changed (``type``, ``missing``, ``mean``, ``categories``).
    """

    overview: dict[str, dict[str, Any]]
    added_columns: list[str]
    removed_columns: list[str]
    type_changes: list[dict[str, Any]]
    columns: list[dict[str, Any]]
    changed_columns: list[str]
    alerts: dict[str, list[dict[str, Any]]]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the comparison as a JSON-ready dict."""
        return {"schema_version": SCHEMA_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProfileComparison:
        """Rebuild a comparison from :meth:`to_dict` output."""
        try:
            return cls(**{k: v for k, v in data.items() if k != "schema_version"})
        except TypeError as exc:
            raise InvalidInput(f"not a comparison dict ({exc})") from exc


def compare(
    a: Profile, b: Profile, *, mean_shift: float = 0.1, missing_shift: float = 0.05
) -> ProfileComparison:
    """Compare profile ``a`` (reference) with profile ``b`` (current).

    Args:
        a: The reference profile (for example the older dataset version).
        b: The profile compared against it.
        mean_shift: A numeric column counts as changed when its mean moved by more than this
            many standard deviations of ``a``.
        missing_shift: A column counts as changed when its missing fraction moved by more
            than this (absolute).
    """
    cols_a = {c.name: c for c in a.columns}
    cols_b = {c.name: c for c in b.columns}
    overview = {
        key: _pair(getattr(a, key), getattr(b, key))
        for key in ("n_rows", "n_columns", "missing_cells_fraction", "duplicate_rows")
    }
    overview["duplicate_fraction"] = _pair(a.duplicate_fraction, b.duplicate_fraction)
    type_changes: list[dict[str, Any]] = []
    columns: list[dict[str, Any]] = []
    for name, ca in cols_a.items():
        cb = cols_b.get(name)
        if cb is None:
            continue
        entry = _column_diff(ca, cb, mean_shift, missing_shift)
        columns.append(entry)
        if "type" in entry["reasons"]:
            type_changes.append({"column": name, "kind": entry["kind"], "dtype": entry["dtype"]})
    alerts_a = {_alert_key(x): x.to_dict() for x in a.alerts}
    alerts_b = {_alert_key(x): x.to_dict() for x in b.alerts}
    return ProfileComparison(
        overview=overview,
        added_columns=[n for n in cols_b if n not in cols_a],
        removed_columns=[n for n in cols_a if n not in cols_b],
        type_changes=type_changes,
        columns=columns,
        changed_columns=[c["name"] for c in columns if c["reasons"]],
        alerts={
            "only_a": [v for k, v in alerts_a.items() if k not in alerts_b],
            "only_b": [v for k, v in alerts_b.items() if k not in alerts_a],
        },
        settings={"mean_shift": mean_shift, "missing_shift": missing_shift},
    )


def _alert_key(alert: Alert) -> tuple[str, tuple[str, ...]]:
    return alert.kind, alert.columns


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _pair(a: Any, b: Any) -> dict[str, Any]:
    delta = b - a if _number(a) and _number(b) else None
    return {"a": a, "b": b, "delta": delta}


def _column_diff(
    a: ColumnProfile, b: ColumnProfile, mean_shift: float, missing_shift: float
) -> dict[str, Any]:
    stats = {key: _pair(getattr(a, key), getattr(b, key)) for key in _STATS}
    for key in QUANTILES:
        stats[key] = _pair(a.quantiles.get(key), b.quantiles.get(key))
    reasons: list[str] = []
    if a.kind != b.kind or a.dtype != b.dtype:
        reasons.append("type")
    if abs(b.missing_fraction - a.missing_fraction) > missing_shift:
        reasons.append("missing")
    shift = None
    numeric = a.kind == b.kind == "numeric"
    if numeric and _number(a.mean) and _number(b.mean) and a.std and math.isfinite(a.std):
        shift = (b.mean - a.mean) / a.std
        if abs(shift) > mean_shift:
            reasons.append("mean")
    complete = a.distinct <= len(a.top_values) and b.distinct <= len(b.top_values)
    values_a, values_b = ({str(v["value"]) for v in c.top_values} for c in (a, b))
    if a.kind in ("categorical", "boolean") and a.kind == b.kind and complete:
        reasons += ["categories"] if values_a != values_b else []
    return {
        "name": a.name,
        "kind": {"a": a.kind, "b": b.kind},
        "dtype": {"a": a.dtype, "b": b.dtype},
        "stats": stats,
        "mean_shift": shift,
        "top_values": {"a": a.top_values, "b": b.top_values},
        "histograms": {"a": a.histogram, "b": b.histogram},
        "reasons": reasons,
    }
