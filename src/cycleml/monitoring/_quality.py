"""Data quality of a window against the reference: missing values, ranges, categories, schema.

Every check compares the current window with the stored reference profile, never with raw
reference data:

- **missing-rate change**: the window's share of nulls (and NaN) minus the reference's;
- **out of range**: the share of a numeric or datetime column's values outside the
  reference's ``[minimum, maximum]``;
- **unseen categories**: values of a categorical column the reference never had, and the
  share of rows holding one (skipped when the reference kept only its most frequent
  categories, since then "unseen" cannot be told apart from "rare");
- **schema changes**: columns added, removed, or read with another Arrow type;
- **row count**: the window's rows against the counts of earlier windows (median and
  median absolute deviation, robust to one odd window).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cycleml.errors import InvalidInput
from cycleml.monitoring._inputs import as_float_array, as_table, category_counts
from cycleml.monitoring._reference import ColumnReference, ReferenceProfile
from cycleml.monitoring._reference import reference as profile_of

__all__ = [
    "ColumnQuality",
    "QualityReport",
    "RowCountCheck",
    "SchemaChanges",
    "data_quality",
    "row_count_check",
]

_UNSEEN_SHOWN = 20  # unseen values listed per column (the count is always exact)
_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation


@dataclass(frozen=True)
class ColumnQuality:
    """One column's quality in the window, against the reference.

    Attributes:
        column: The column's name.
        kind: The reference's kind (numeric, categorical, boolean, datetime).
        reference_missing_rate: Share of missing values in the reference.
        current_missing_rate: Share of missing values in the window.
        missing_change: ``current_missing_rate - reference_missing_rate``.
        out_of_range: Share of the window's non-missing values outside the reference's
            range (numeric and datetime columns; ``None`` otherwise).
        unseen_categories: Up to 20 values the reference never had (categorical columns).
        unseen_share: Share of the window's non-missing rows holding an unseen value
            (``None`` when not checked).
        issues: What crossed a threshold, in words.
    """

    column: str
    kind: str
    reference_missing_rate: float
    current_missing_rate: float
    missing_change: float
    out_of_range: float | None = None
    unseen_categories: tuple[str, ...] = ()
    unseen_share: float | None = None
    issues: tuple[str, ...] = ()


@dataclass(frozen=True)
class SchemaChanges:
    """Columns added, removed or retyped between the reference and the window."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    retyped: tuple[tuple[str, str, str], ...] = ()  # (column, reference type, current type)

    @property
    def changed(self) -> bool:
        """True when any column was added, removed or retyped."""
        return bool(self.added or self.removed or self.retyped)


@dataclass(frozen=True)
class RowCountCheck:
    """The window's row count against earlier windows' (median +- tolerance x robust sigma)."""

    rows: int
    expected: float
    low: float
    high: float
    anomalous: bool


@dataclass(frozen=True)
class QualityReport:
    """The quality of one window. :attr:`ok` is false when any check crossed its threshold."""

    columns: tuple[ColumnQuality, ...]
    schema: SchemaChanges
    rows: int
    row_count: RowCountCheck | None = None
    thresholds: Mapping[str, float] = field(default_factory=dict)

    @property
    def issues(self) -> list[str]:
        """Every problem found, one sentence each."""
        found = [f"{c.column}: {issue}" for c in self.columns for issue in c.issues]
        found += [f"column {name!r} is new" for name in self.schema.added]
        found += [f"column {name!r} is missing" for name in self.schema.removed]
        found += [
            f"column {name!r} changed type from {old} to {new}"
            for name, old, new in self.schema.retyped
        ]
        if self.row_count is not None and self.row_count.anomalous:
            rc = self.row_count
            found.append(
                f"{rc.rows} rows, outside the expected {rc.low:.0f}-{rc.high:.0f} "
                f"(median of earlier windows {rc.expected:.0f})"
            )
        return found

    @property
    def ok(self) -> bool:
        """True when nothing crossed a threshold."""
        return not self.issues

    def to_pandas(self) -> Any:
        """One row per column: the rates, shares and issues."""
        import pandas as pd

        rows = [
            {
                "column": c.column,
                "kind": c.kind,
                "reference_missing_rate": c.reference_missing_rate,
                "current_missing_rate": c.current_missing_rate,
                "missing_change": c.missing_change,
                "out_of_range": c.out_of_range,
                "unseen_share": c.unseen_share,
                "unseen_categories": list(c.unseen_categories),
                "issues": "; ".join(c.issues),
            }
            for c in self.columns
        ]
        return pd.DataFrame(rows, columns=list(rows[0]) if rows else ["column"])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "rows": self.rows,
            "ok": self.ok,
            "issues": self.issues,
            "thresholds": dict(self.thresholds),
            "schema": {
                "added": list(self.schema.added),
                "removed": list(self.schema.removed),
                "retyped": [list(t) for t in self.schema.retyped],
            },
            "row_count": None if self.row_count is None else asdict(self.row_count),
            "columns": [
                {
                    **asdict(c),
                    "unseen_categories": list(c.unseen_categories),
                    "issues": list(c.issues),
                }
                for c in self.columns
            ],
        }


def row_count_check(history: Sequence[int], rows: int, *, tolerance: float = 3.0) -> RowCountCheck:
    """Is ``rows`` unusual next to earlier windows' counts ``history``?

    The band is the median plus or minus ``tolerance`` robust standard deviations
    (1.4826 x the median absolute deviation), at least 10% of the median wide, so steady
    traffic does not make every small wobble an anomaly.
    """
    if not history:
        raise InvalidInput(
            "A row-count check needs the row counts of earlier windows; received none.",
            hint="Pass row_history=[...] or leave it out to skip the check.",
        )
    counts = np.asarray(history, dtype=np.float64)
    median = float(np.median(counts))
    sigma = _MAD_TO_SIGMA * float(np.median(np.abs(counts - median)))
    spread = max(tolerance * sigma, 0.1 * median, 1.0)
    low, high = max(median - spread, 0.0), median + spread
    return RowCountCheck(int(rows), median, low, high, not low <= rows <= high)


def _missing(column: pa.ChunkedArray) -> int:
    """Nulls, and for floats NaN and +-inf (the reference counts those as missing too)."""
    missing = column.null_count
    if pa.types.is_floating(column.type):
        missing += int(pc.sum(pc.invert(pc.is_finite(column))).as_py() or 0)  # nulls skipped
    return int(missing)


def _numeric_values(column: pa.ChunkedArray, name: str) -> np.ndarray:
    """Finite values as floats, datetimes as epoch microseconds (as the reference has them)."""
    values = as_float_array(column, column.type, name)
    finite: np.ndarray = values[np.isfinite(values)]
    return finite


def _column_quality(
    ref: ColumnReference,
    column: pa.ChunkedArray,
    *,
    max_missing_change: float,
    max_out_of_range: float,
    max_unseen_share: float,
) -> ColumnQuality:
    rows = len(column)
    missing = _missing(column)
    current_rate = missing / rows if rows else 0.0
    change = current_rate - ref.missing_rate
    issues = []
    if change > max_missing_change:
        issues.append(
            f"missing rate rose from {ref.missing_rate:.1%} to {current_rate:.1%} "
            f"(limit +{max_missing_change:.1%})"
        )
    out_of_range = None
    unseen: tuple[str, ...] = ()
    unseen_share = None
    if ref.kind in ("numeric", "datetime") and ref.minimum is not None and ref.maximum is not None:
        try:
            values = _numeric_values(column, ref.name)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError, ValueError):
            values = None  # retyped column: the schema check reports it
        if values is not None and len(values):
            outside = np.count_nonzero((values < ref.minimum) | (values > ref.maximum))
            out_of_range = outside / len(values)
            if out_of_range > max_out_of_range:
                issues.append(
                    f"{out_of_range:.1%} of values outside the reference range "
                    f"[{ref.minimum:g}, {ref.maximum:g}] (limit {max_out_of_range:.1%})"
                )
    elif ref.categories is not None and ref.other == 0:  # every reference category kept
        try:
            current = category_counts(column, column.type, ref.name)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError, ValueError):
            current = None  # retyped column: the schema check reports it
        present = sum(current.values()) if current else 0
        if current is not None and present:
            new = {value: n for value, n in current.items() if value not in ref.categories}
            unseen_share = sum(new.values()) / present
            unseen = tuple(sorted(new, key=lambda v: -new[v])[:_UNSEEN_SHOWN])
            if unseen_share > max_unseen_share:
                shown = ", ".join(repr(v) for v in unseen[:5])
                issues.append(
                    f"{unseen_share:.1%} of rows hold categories the reference never had "
                    f"({shown}) (limit {max_unseen_share:.1%})"
                )
    return ColumnQuality(
        column=ref.name,
        kind=ref.kind,
        reference_missing_rate=ref.missing_rate,
        current_missing_rate=current_rate,
        missing_change=change,
        out_of_range=out_of_range,
        unseen_categories=unseen,
        unseen_share=unseen_share,
        issues=tuple(issues),
    )


_DICTIONARY_VALUES = re.compile(r"^dictionary<values=([^,]+),")
#: Types that hold the same data read differently in different windows: an all-integer
#: float window, a dictionary-encoded Parquet column, another timestamp unit.
_TYPE_FAMILIES = (
    ("int", "uint", "double", "float", "halffloat"),
    ("string", "large_string", "string_view"),
    ("timestamp",),
    ("date",),
)


def _value_type(text: str) -> str:
    """A dictionary type's value type (as text); other types as they are."""
    match = _DICTIONARY_VALUES.match(text)
    return match.group(1) if match else text


def _types_match(reference_type: str, current: pa.DataType) -> bool:
    ref_text, current_text = _value_type(reference_type), _value_type(str(current))
    if ref_text == current_text:
        return True
    return any(
        current_text.startswith(family) and ref_text.startswith(family) for family in _TYPE_FAMILIES
    )


def data_quality(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    max_missing_change: float = 0.05,
    max_out_of_range: float = 0.01,
    max_unseen_share: float = 0.01,
    row_history: Sequence[int] | None = None,
    row_tolerance: float = 3.0,
) -> QualityReport:
    """Check the quality of ``current`` against ``reference``.

    Args:
        reference: A :class:`ReferenceProfile` or raw data (profiled first).
        current: The window: a pandas/polars DataFrame, an Arrow table, a Parquet path or
            a ``datasets:/`` URI.
        columns: The columns to check; default: every column of the reference.
        max_missing_change: Largest allowed rise of a column's missing rate (absolute).
        max_out_of_range: Largest allowed share of values outside the reference range.
        max_unseen_share: Largest allowed share of rows with an unseen category.
        row_history: Row counts of earlier windows, for the row-count check.
        row_tolerance: Width of the row-count band in robust standard deviations.

    Returns:
        A :class:`QualityReport`.

    Raises:
        InvalidInput: A threshold outside [0, 1], or a named column the reference lacks.
    """
    for name, value in (
        ("max_missing_change", max_missing_change),
        ("max_out_of_range", max_out_of_range),
        ("max_unseen_share", max_unseen_share),
    ):
        if not 0.0 <= float(value) <= 1.0:
            raise InvalidInput(
                f"{name} must be a share between 0 and 1; received {value!r}.",
                hint="E.g. 0.05 for five percent.",
            )
    profile = reference if isinstance(reference, ReferenceProfile) else profile_of(reference)
    table = as_table(current)
    names = list(profile.columns) if columns is None else list(columns)
    unknown = [name for name in names if name not in profile.columns]
    if unknown:
        raise InvalidInput(
            f"The reference has no column {unknown[0]!r}; it has: {', '.join(profile.columns)}.",
            hint="Check the column names, or profile a reference that has them.",
        )
    present = set(table.column_names)
    removed = tuple(name for name in names if name not in present)
    added = tuple(
        name for name in table.column_names if name not in profile.columns and columns is None
    )
    retyped = tuple(
        (name, profile.columns[name].dtype, str(table.schema.field(name).type))
        for name in names
        if name in present
        and not _types_match(profile.columns[name].dtype, table.schema.field(name).type)
    )
    results = tuple(
        _column_quality(
            profile.columns[name],
            table.column(name),
            max_missing_change=max_missing_change,
            max_out_of_range=max_out_of_range,
            max_unseen_share=max_unseen_share,
        )
        for name in names
        if name in present
    )
    row_count = (
        row_count_check(row_history, table.num_rows, tolerance=row_tolerance)
        if row_history
        else None
    )
    return QualityReport(
        columns=results,
        schema=SchemaChanges(added, removed, retyped),
        rows=table.num_rows,
        row_count=row_count,
        thresholds={
            "max_missing_change": max_missing_change,
            "max_out_of_range": max_out_of_range,
            "max_unseen_share": max_unseen_share,
        },
    )
