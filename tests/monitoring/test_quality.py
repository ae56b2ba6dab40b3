"""Data quality of a window against a reference profile: missing rates, ranges, unseen
categories, schema changes, row counts, input forms and the report's shapes."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from cycleml.errors import InvalidInput
from cycleml.monitoring import (
    ColumnQuality,
    QualityReport,
    ReferenceProfile,
    RowCountCheck,
    SchemaChanges,
    data_quality,
    reference,
    row_count_check,
)

CITIES = ["paris", "lyon", "nice", "lille"]
START = dt.datetime(2024, 1, 1)


def _frame(n: int, seed: int) -> pd.DataFrame:
    """Mixed columns: floats, wide ints, a 1-3 rating, strings, booleans, timestamps."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(0.0, 1.0, n),
            "count": rng.integers(0, 100, n),
            "rating": rng.integers(1, 4, n),
            "city": rng.choice(CITIES, n, p=[0.4, 0.3, 0.2, 0.1]),
            "flag": rng.random(n) < 0.3,
            "ts": pd.Series(
                START + pd.to_timedelta(rng.integers(0, 30 * 24 * 3600, n), unit="s")
            ).astype("datetime64[us]"),
        }
    )


REF = _frame(5000, 0)
PROFILE = reference(REF)


def _col(report: QualityReport, name: str) -> ColumnQuality:
    found = [c for c in report.columns if c.column == name]
    assert len(found) == 1, f"no single result for {name!r}"
    return found[0]


def _floats(values: Sequence[float | None]) -> pa.Table:
    return pa.table({"x": pa.array(values, pa.float64())})


LINEAR = reference(_floats(list(np.linspace(0.0, 10.0, 101))))  # x in [0, 10], no missing


# ---- how the reference classifies columns --------------------------------------------------


def test_reference_kinds_of_the_test_frame() -> None:
    kinds = {name: c.kind for name, c in PROFILE.columns.items()}
    assert kinds == {
        "x": "numeric",
        "count": "numeric",
        "rating": "categorical",  # three distinct integers: codes, not a number
        "city": "categorical",
        "flag": "boolean",
        "ts": "datetime",
    }
    assert PROFILE.columns["rating"].categories is not None
    assert set(PROFILE.columns["rating"].categories) == {"1", "2", "3"}
    assert PROFILE.columns["flag"].categories is not None
    assert set(PROFILE.columns["flag"].categories) == {"True", "False"}


def test_a_window_like_the_reference_is_ok() -> None:
    for window in (REF, _frame(1000, 1)):
        report = data_quality(PROFILE, window)
        assert report.ok, report.issues
        assert report.issues == []
        assert report.rows == len(window)
        assert [c.column for c in report.columns] == list(PROFILE.columns)
        assert not report.schema.changed
        assert report.row_count is None
    same = data_quality(PROFILE, REF)
    for column in same.columns:
        assert column.missing_change == 0.0
        assert column.issues == ()
    assert _col(same, "x").out_of_range == 0.0
    assert _col(same, "count").out_of_range == 0.0
    assert _col(same, "ts").out_of_range == 0.0
    assert _col(same, "city").unseen_share == 0.0
    assert _col(same, "rating").unseen_share == 0.0
    assert _col(same, "flag").unseen_share == 0.0
    # numeric columns get a range, categorical ones an unseen share, never both
    assert _col(same, "x").unseen_share is None
    assert _col(same, "city").out_of_range is None


# ---- missing-rate change -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "limit", "flagged"),
    [(0, 0.05, False), (5, 0.05, False), (6, 0.05, True), (6, 0.10, False), (1, 0.0, True)],
)
def test_missing_rate_rise_against_the_limit(missing: int, limit: float, flagged: bool) -> None:
    values: list[float] = [5.0] * (100 - missing) + [math.nan] * missing
    report = data_quality(LINEAR, _floats(values), max_missing_change=limit)
    column = _col(report, "x")
    assert column.reference_missing_rate == 0.0
    assert column.current_missing_rate == pytest.approx(missing / 100)
    assert column.missing_change == pytest.approx(missing / 100)
    assert bool(column.issues) is flagged
    assert report.ok is not flagged
    if flagged:
        assert "missing rate rose" in column.issues[0]
        assert report.issues == [f"x: {column.issues[0]}"]


def test_missing_change_is_relative_to_the_reference_rate() -> None:
    ref = _floats([1.0] * 80 + [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0] + [None] * 10)
    profile = reference(ref)
    assert profile.columns["x"].missing_rate == pytest.approx(0.1)
    # 14% missing: +4 points, under the default 5-point limit
    cur = _floats([1.0] * 86 + [None] * 14)
    column = _col(data_quality(profile, cur), "x")
    assert column.reference_missing_rate == pytest.approx(0.1)
    assert column.current_missing_rate == pytest.approx(0.14)
    assert column.missing_change == pytest.approx(0.04)
    assert column.issues == ()
    # a drop in the missing rate is never a problem
    fewer = _col(data_quality(profile, _floats([1.0] * 100)), "x")
    assert fewer.missing_change == pytest.approx(-0.1)
    assert fewer.issues == ()
    # 20% missing: +10 points
    more = _col(data_quality(profile, _floats([1.0] * 80 + [None] * 20)), "x")
    assert more.missing_change == pytest.approx(0.1)
    assert len(more.issues) == 1


def test_nan_inf_and_null_are_missing_in_float_columns() -> None:
    values = [1.0, math.nan, math.inf, -math.inf, None, 2.0, 3.0, 4.0, 5.0, 6.0]
    arrow = _col(data_quality(LINEAR, _floats(values)), "x")
    assert arrow.current_missing_rate == pytest.approx(0.4)
    # pandas turns NaN into null on the way to Arrow; inf stays: still 4 of 10
    frame = pd.DataFrame({"x": [v if v is not None else math.nan for v in values]})
    assert _col(data_quality(LINEAR, frame), "x").current_missing_rate == pytest.approx(0.4)
    # polars keeps NaN and null apart: both count
    polars = pl.DataFrame({"x": pl.Series(values, dtype=pl.Float64)})
    assert polars["x"].null_count() == 1
    assert polars["x"].is_nan().sum() == 1
    assert _col(data_quality(LINEAR, polars), "x").current_missing_rate == pytest.approx(0.4)


def test_the_reference_counts_nan_and_inf_as_missing_too() -> None:
    values = [float(v) for v in range(10)] * 9 + [math.nan] * 4 + [math.inf] * 3 + [None] * 3
    profile = reference(_floats(values))
    assert profile.columns["x"].kind == "numeric"
    assert profile.columns["x"].missing_rate == pytest.approx(0.1)
    # the same mix in the window: no change
    assert _col(data_quality(profile, _floats(values)), "x").missing_change == pytest.approx(0.0)


def test_null_strings_are_missing_and_empty_strings_are_not() -> None:
    ref = pa.table({"s": ["a", "b", ""] * 20})
    profile = reference(ref)
    assert profile.columns["s"].missing_rate == 0.0
    cur = pa.table({"s": ["a", None, "", "b", None, "a", "a", "b", "", "a"]})
    column = _col(data_quality(profile, cur), "s")
    assert column.current_missing_rate == pytest.approx(0.2)
    assert column.unseen_share == 0.0  # "" is a category of the reference
    assert any("missing rate rose" in issue for issue in column.issues)


# ---- out of range --------------------------------------------------------------------------


def test_out_of_range_share_of_present_numeric_values() -> None:
    # present: 0, 10 (bounds are in range), 5, 10.5, -0.1, 7  -> 2 of 6 outside
    cur = _floats([0.0, 10.0, 5.0, 10.5, -0.1, 7.0, None, math.nan])
    column = _col(data_quality(LINEAR, cur), "x")
    assert column.out_of_range == pytest.approx(2 / 6)
    assert column.unseen_share is None
    assert any("outside the reference range [0, 10]" in issue for issue in column.issues)


@pytest.mark.parametrize(("outside", "limit", "flagged"), [(1, 0.01, False), (2, 0.01, True)])
def test_out_of_range_against_the_limit(outside: int, limit: float, flagged: bool) -> None:
    cur = _floats([5.0] * (100 - outside) + [11.0] * outside)
    column = _col(data_quality(LINEAR, cur, max_out_of_range=limit), "x")
    assert column.out_of_range == pytest.approx(outside / 100)
    assert any("outside the reference range" in i for i in column.issues) is flagged


def test_out_of_range_of_an_integer_column_read_as_floats() -> None:
    report = data_quality(PROFILE, REF.assign(count=REF["count"].astype(float) + 50.0))
    column = _col(report, "count")
    expected = float(np.mean(REF["count"].to_numpy() + 50 > REF["count"].max()))
    assert column.out_of_range == pytest.approx(expected)
    assert column.out_of_range > 0.4
    assert not report.schema.changed  # int64 vs double is not a type change


def test_out_of_range_of_datetime_columns() -> None:
    days = [dt.datetime(2024, 1, d) for d in range(1, 11)]
    ref = pa.table(
        {
            "t": pa.array(days, pa.timestamp("us")),
            "d": pa.array([d.date() for d in days]),
        }
    )
    profile = reference(ref)
    assert profile.columns["t"].kind == profile.columns["d"].kind == "datetime"
    cur = pa.table(
        {
            "t": pa.array(
                [
                    dt.datetime(2024, 1, 1),
                    dt.datetime(2024, 1, 10),  # the bounds are in range
                    dt.datetime(2024, 1, 10, 0, 0, 1),
                    dt.datetime(2023, 12, 31, 23, 59),
                    None,
                ],
                pa.timestamp("us"),
            ),
            "d": pa.array(
                [dt.date(2024, 1, 5), dt.date(2024, 2, 1), None, None, dt.date(2024, 1, 1)]
            ),
        }
    )
    report = data_quality(profile, cur)
    t, d = _col(report, "t"), _col(report, "d")
    assert t.out_of_range == pytest.approx(2 / 4)
    assert d.out_of_range == pytest.approx(1 / 3)
    assert t.current_missing_rate == pytest.approx(0.2)
    assert d.current_missing_rate == pytest.approx(0.4)
    assert t.unseen_share is None
    assert not report.ok
    # the same window through polars (datetime[us], date) reads the same
    via_polars = data_quality(profile, pl.from_arrow(cur))
    assert _col(via_polars, "t").out_of_range == pytest.approx(2 / 4)
    assert _col(via_polars, "d").out_of_range == pytest.approx(1 / 3)


def test_a_window_without_present_values_has_no_range_share() -> None:
    column = _col(data_quality(LINEAR, _floats([math.nan, None, math.inf])), "x")
    assert column.out_of_range is None
    assert column.current_missing_rate == 1.0


# ---- unseen categories ---------------------------------------------------------------------


def test_unseen_string_categories_and_their_share() -> None:
    cur = pd.DataFrame({"city": ["paris"] * 90 + ["rome"] * 6 + ["oslo"] * 2 + [None] * 2})
    column = _col(data_quality(PROFILE, cur, columns=["city"]), "city")
    # share of the present rows (98), most frequent unseen value first
    assert column.unseen_share == pytest.approx(8 / 98)
    assert column.unseen_categories == ("rome", "oslo")
    assert column.out_of_range is None
    assert any("categories the reference never had" in i and "'rome'" in i for i in column.issues)


@pytest.mark.parametrize(("unseen", "limit", "flagged"), [(1, 0.01, False), (2, 0.01, True)])
def test_unseen_share_against_the_limit(unseen: int, limit: float, flagged: bool) -> None:
    cur = pd.DataFrame({"city": ["lyon"] * (100 - unseen) + ["rome"] * unseen})
    column = _col(data_quality(PROFILE, cur, columns=["city"], max_unseen_share=limit), "city")
    assert column.unseen_share == pytest.approx(unseen / 100)
    assert column.unseen_categories == ("rome",)
    assert bool(column.issues) is flagged


def test_unseen_values_listed_are_capped_but_the_share_is_exact() -> None:
    new = [f"new{i:02d}" for i in range(25)]
    cur = pa.table({"city": ["paris"] * 75 + new})
    column = _col(data_quality(PROFILE, cur, columns=["city"]), "city")
    assert column.unseen_share == pytest.approx(0.25)
    assert len(column.unseen_categories) == 20
    assert set(column.unseen_categories) <= set(new)


def test_unseen_boolean_values() -> None:
    profile = reference(pd.DataFrame({"flag": [True] * 50}))
    assert profile.columns["flag"].kind == "boolean"
    column = _col(data_quality(profile, pd.DataFrame({"flag": [True] * 45 + [False] * 5})), "flag")
    assert column.unseen_categories == ("False",)
    assert column.unseen_share == pytest.approx(0.1)
    assert column.issues
    # both values known: nothing unseen, from Arrow or polars
    both = _col(
        data_quality(PROFILE, pl.DataFrame({"flag": [True, False]}), columns=["flag"]), "flag"
    )
    assert both.unseen_share == 0.0


def test_low_cardinality_integers_are_checked_as_categories() -> None:
    cur = pd.DataFrame({"rating": [1, 2, 3] * 30 + [4] * 10})
    column = _col(data_quality(PROFILE, cur, columns=["rating"]), "rating")
    assert column.kind == "categorical"
    assert column.unseen_categories == ("4",)
    assert column.unseen_share == pytest.approx(0.1)
    assert column.out_of_range is None
    # the same codes read as floats are the same categories; 1.5 is not one of them
    floats = pa.table({"rating": pa.array([1.0, 2.0, 3.0, 1.5, None] * 4)})
    as_float = data_quality(PROFILE, floats, columns=["rating"])
    assert _col(as_float, "rating").unseen_categories == ("1.5",)
    assert _col(as_float, "rating").unseen_share == pytest.approx(0.25)
    assert not as_float.schema.changed


def test_six_distinct_integers_are_numeric_and_get_a_range() -> None:
    five = reference(pd.DataFrame({"r": np.arange(600) % 5}))
    six = reference(pd.DataFrame({"r": np.arange(600) % 6}))
    assert five.columns["r"].kind == "categorical"
    assert six.columns["r"].kind == "numeric"
    cur = pd.DataFrame({"r": [0, 1, 2, 6, 7]})
    as_categories = _col(data_quality(five, cur), "r")
    assert set(as_categories.unseen_categories) == {"6", "7"}
    as_numbers = _col(data_quality(six, cur), "r")
    assert as_numbers.unseen_share is None
    assert as_numbers.out_of_range == pytest.approx(2 / 5)


def test_forced_categorical_numbers() -> None:
    profile = reference(pd.DataFrame({"zip": np.arange(100) % 50}), categorical=["zip"])
    assert profile.columns["zip"].kind == "categorical"
    column = _col(data_quality(profile, pd.DataFrame({"zip": [1, 2, 99, 100]})), "zip")
    assert set(column.unseen_categories) == {"99", "100"}
    assert column.unseen_share == pytest.approx(0.5)


def test_unseen_check_is_skipped_when_the_reference_kept_only_top_categories() -> None:
    ref = pd.DataFrame({"city": ["paris"] * 50 + ["lyon"] * 30 + ["nice"] * 20})
    truncated = reference(ref, max_categories=2)
    assert truncated.columns["city"].other == 20
    cur = pd.DataFrame({"city": ["rome"] * 90 + [None] * 10})
    column = _col(data_quality(truncated, cur), "city")
    assert column.unseen_share is None
    assert column.unseen_categories == ()
    # the missing rate is still checked
    assert column.current_missing_rate == pytest.approx(0.1)
    assert len(column.issues) == 1
    assert "missing rate" in column.issues[0]
    # the skip survives storage
    stored = ReferenceProfile.from_json(truncated.to_json())
    assert _col(data_quality(stored, cur), "city").unseen_share is None
    # with every category kept the check runs
    full = reference(ref, max_categories=3)
    assert full.columns["city"].other == 0
    assert _col(data_quality(full, cur), "city").unseen_share == 1.0


# ---- schema changes ------------------------------------------------------------------------


def test_added_removed_and_retyped_columns() -> None:
    cur = REF.drop(columns=["flag"]).assign(city=np.arange(len(REF)), extra=1.0)
    report = data_quality(PROFILE, cur)
    assert report.schema.added == ("extra",)
    assert report.schema.removed == ("flag",)
    assert report.schema.retyped == (("city", "large_string", "int64"),)
    assert report.schema.changed
    assert "flag" not in [c.column for c in report.columns]
    assert "extra" not in [c.column for c in report.columns]
    assert "column 'extra' is new" in report.issues
    assert "column 'flag' is missing" in report.issues
    assert "column 'city' changed type from large_string to int64" in report.issues
    assert not report.ok


def test_a_numeric_column_read_as_text_is_retyped_not_an_error() -> None:
    cur = pa.table({"x": pa.array(["1.5", "2.5", "oops"])})
    report = data_quality(LINEAR, cur)
    assert report.schema.retyped == (("x", "double", "string"),)
    column = _col(report, "x")
    assert column.out_of_range is None
    assert column.unseen_share is None


def test_booleans_read_as_integers_are_retyped() -> None:
    cur = pa.table({"flag": pa.array([0, 1, 1], pa.int64())})
    report = data_quality(PROFILE, cur, columns=["flag"])
    assert report.schema.retyped == (("flag", "bool", "int64"),)


@pytest.mark.parametrize(
    ("ref_type", "cur_type"),
    [
        (pa.int64(), pa.float64()),
        (pa.float64(), pa.int64()),
        (pa.int32(), pa.int64()),
        (pa.float32(), pa.float64()),
        (pa.int64(), pa.uint16()),
    ],
)
def test_integers_and_floats_are_one_type_family(
    ref_type: pa.DataType, cur_type: pa.DataType
) -> None:
    ref = pa.table({"v": pa.array(np.arange(100) % 40, ref_type)})
    profile = reference(ref)
    assert profile.columns["v"].kind == "numeric"
    cur = pa.table({"v": pa.array(np.arange(10), cur_type)})
    report = data_quality(profile, cur)
    assert report.schema == SchemaChanges()
    assert report.ok, report.issues


@pytest.mark.parametrize(
    "cur",
    [
        pa.array(["a", "b", "a"], pa.string()),
        pa.array(["a", "b", "a"], pa.large_string()),
        pa.array(["a", "b", "a"], pa.string()).dictionary_encode(),
        pa.array(["a", "b", "a"], pa.large_string()).dictionary_encode(),
    ],
    ids=["string", "large_string", "dictionary", "large_dictionary"],
)
@pytest.mark.parametrize("ref_type", [pa.string(), pa.large_string()])
def test_plain_string_reference_matches_strings_and_dictionaries(
    ref_type: pa.DataType, cur: pa.Array
) -> None:
    profile = reference(pa.table({"s": pa.array(["a", "b"] * 10, ref_type)}))
    report = data_quality(profile, pa.table({"s": cur}))
    assert report.schema.retyped == ()
    assert _col(report, "s").unseen_share == 0.0


def test_dictionary_reference_against_plain_strings_is_not_retyped() -> None:
    ref = pa.table({"s": pa.array(["a", "b"] * 10).dictionary_encode()})
    profile = reference(ref)
    assert profile.columns["s"].dtype.startswith("dictionary")
    report = data_quality(profile, pa.table({"s": ["a", "b", "a"]}))
    assert report.schema.retyped == ()


def test_pandas_category_round_tripped_through_parquet_is_not_retyped(tmp_path: Path) -> None:
    frame = pd.DataFrame({"cat": pd.Categorical(["u", "v"] * 50)})
    profile = reference(frame)
    path = tmp_path / "window.parquet"
    frame.to_parquet(path)
    report = data_quality(profile, path)
    assert report.schema.retyped == ()


def test_columns_restricts_the_check_and_ignores_added_columns() -> None:
    cur = REF.drop(columns=["flag"]).assign(extra=1)
    report = data_quality(PROFILE, cur, columns=["x", "flag"])
    assert [c.column for c in report.columns] == ["x"]
    assert report.schema.added == ()
    assert report.schema.removed == ("flag",)
    empty = data_quality(PROFILE, cur, columns=[])
    assert empty.columns == ()
    assert list(empty.to_pandas().columns) == ["column"]
    assert empty.to_pandas().empty


def test_unknown_columns_are_refused() -> None:
    with pytest.raises(InvalidInput, match="no column 'nope'"):
        data_quality(PROFILE, REF, columns=["x", "nope"])


@pytest.mark.parametrize("name", ["max_missing_change", "max_out_of_range", "max_unseen_share"])
@pytest.mark.parametrize("value", [-0.01, 1.01, 5, math.nan, -math.inf])
def test_thresholds_outside_zero_one_are_refused(name: str, value: float) -> None:
    with pytest.raises(InvalidInput, match=name):
        data_quality(LINEAR, _floats([1.0]), **{name: value})


@pytest.mark.parametrize("value", [0.0, 1.0, 0, 1])
def test_thresholds_at_the_bounds_are_accepted(value: float) -> None:
    report = data_quality(
        LINEAR,
        _floats([1.0, 20.0]),
        max_missing_change=value,
        max_out_of_range=value,
        max_unseen_share=value,
    )
    assert report.thresholds == {
        "max_missing_change": value,
        "max_out_of_range": value,
        "max_unseen_share": value,
    }
    # 20.0 is out of range: a problem at limit 0, not at limit 1
    assert report.ok is (value == 1)


# ---- row counts ----------------------------------------------------------------------------


def test_row_count_band_from_median_and_mad() -> None:
    history = [100, 120, 80, 110, 90]  # median 100, MAD 10
    check = row_count_check(history, 140)
    spread = 3.0 * 1.4826 * 10
    assert check.expected == 100.0
    assert check.low == pytest.approx(100 - spread)
    assert check.high == pytest.approx(100 + spread)
    assert not check.anomalous
    assert row_count_check(history, 145).anomalous
    assert row_count_check(history, 55).anomalous
    assert not row_count_check(history, 56).anomalous
    # tolerance widens the band
    wide = row_count_check(history, 145, tolerance=4.0)
    assert wide.high == pytest.approx(100 + 4.0 * 1.4826 * 10)
    assert not wide.anomalous
    assert isinstance(check, RowCountCheck)
    assert check.rows == 140


def test_row_count_band_is_at_least_ten_percent_wide() -> None:
    steady = [1000, 1000, 1000, 1000]
    check = row_count_check(steady, 1100)
    assert (check.low, check.high) == pytest.approx((900.0, 1100.0))
    assert not check.anomalous  # the band is inclusive
    assert row_count_check(steady, 1101).anomalous
    assert row_count_check(steady, 899).anomalous


def test_row_count_is_robust_to_one_odd_window() -> None:
    check = row_count_check([1000, 1010, 990, 1005, 50_000], 1000)
    assert check.expected == 1005.0
    assert not check.anomalous
    assert row_count_check([1000, 1010, 990, 1005, 50_000], 50_000).anomalous


def test_row_count_band_floor_of_one_row_and_never_negative() -> None:
    check = row_count_check([1, 1, 1], 2)
    assert (check.low, check.high) == (0.0, 2.0)
    assert not check.anomalous
    assert not row_count_check([1, 1, 1], 0).anomalous
    assert row_count_check([1, 1, 1], 3).anomalous
    assert row_count_check([0, 0], 0).low == 0.0


def test_row_count_needs_a_history() -> None:
    with pytest.raises(InvalidInput, match="earlier windows"):
        row_count_check([], 10)


def test_row_history_is_wired_into_the_report() -> None:
    window = _floats([5.0] * 100)
    usual = data_quality(LINEAR, window, row_history=[100, 98, 103])
    assert usual.row_count is not None
    assert usual.row_count.rows == 100
    assert not usual.row_count.anomalous
    assert usual.ok
    odd = data_quality(LINEAR, window, row_history=[1000, 1010, 990])
    assert odd.row_count is not None
    assert odd.row_count.anomalous
    assert not odd.ok
    assert odd.issues == [
        "100 rows, outside the expected 900-1100 (median of earlier windows 1000)"
    ]
    # the tolerance is passed on
    loose = data_quality(LINEAR, window, row_history=[90, 110, 100, 80, 120], row_tolerance=0.1)
    assert loose.row_count is not None
    assert loose.row_count.high == pytest.approx(110.0)  # the 10% floor wins
    # no history (None or empty): no row-count check
    assert data_quality(LINEAR, window).row_count is None
    assert data_quality(LINEAR, window, row_history=[]).row_count is None


# ---- input forms ---------------------------------------------------------------------------


def _signature(report: QualityReport) -> list[tuple[object, ...]]:
    return [
        (
            c.column,
            c.kind,
            round(c.current_missing_rate, 12),
            None if c.out_of_range is None else round(c.out_of_range, 12),
            None if c.unseen_share is None else round(c.unseen_share, 12),
            c.unseen_categories,
            len(c.issues),
        )
        for c in report.columns
    ]


def _bad_window() -> pd.DataFrame:
    window = _frame(1000, 7)
    window.loc[:99, "x"] = np.nan
    window.loc[100:149, "count"] = 500
    window.loc[150:199, "city"] = "rome"
    window.loc[200:260, "city"] = None
    window.loc[261:299, "rating"] = 9
    return window


def test_window_forms_agree(tmp_path: Path) -> None:
    window = _bad_window()
    base = data_quality(PROFILE, window)
    assert not base.ok
    assert _col(base, "x").current_missing_rate == pytest.approx(0.1)
    assert _col(base, "count").out_of_range == pytest.approx(0.05)
    assert _col(base, "city").unseen_share == pytest.approx(50 / (1000 - 61))
    assert _col(base, "rating").unseen_categories == ("9",)
    path = tmp_path / "window.parquet"
    window.to_parquet(path)
    forms = {
        "arrow": pa.Table.from_pandas(window, preserve_index=False),
        "polars": pl.from_pandas(window),
        "parquet_str": str(path),
        "parquet_path": path,
    }
    for name, data in forms.items():
        report = data_quality(PROFILE, data)
        assert _signature(report) == _signature(base), name
        assert report.rows == 1000, name
        assert not report.schema.changed, (name, report.schema)


def test_reference_forms_agree(tmp_path: Path) -> None:
    window = _bad_window()
    base = data_quality(PROFILE, window)
    path = tmp_path / "reference.parquet"
    REF.to_parquet(path)
    references = {
        "pandas": REF,
        "arrow": pa.Table.from_pandas(REF, preserve_index=False),
        "polars": pl.from_pandas(REF),
        "parquet": path,
        "json": ReferenceProfile.from_json(PROFILE.to_json()),
        "dict": ReferenceProfile.from_dict(json.loads(json.dumps(PROFILE.to_dict()))),
    }
    for name, ref in references.items():
        report = data_quality(ref, window)
        assert _signature(report) == _signature(base), name
        assert report.issues == base.issues, name


def test_window_of_zero_rows() -> None:
    report = data_quality(PROFILE, REF.iloc[:0])
    assert report.rows == 0
    for column in report.columns:
        assert column.current_missing_rate == 0.0
        assert column.out_of_range is None
        assert column.unseen_share is None
    assert report.ok


def test_the_callers_frame_is_left_alone() -> None:
    window = pd.DataFrame({1: [1.0, 2.0], "x": [3.0, 4.0]})
    before = window.copy()
    data_quality(LINEAR, window)
    pd.testing.assert_frame_equal(window, before)


def test_unreadable_window_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        data_quality(PROFILE, tmp_path / "missing.parquet")
    with pytest.raises(InvalidInput):
        data_quality(PROFILE, 42)


# ---- the report ----------------------------------------------------------------------------


def test_report_to_pandas() -> None:
    report = data_quality(PROFILE, _bad_window())
    frame = report.to_pandas()
    assert list(frame.columns) == [
        "column",
        "kind",
        "reference_missing_rate",
        "current_missing_rate",
        "missing_change",
        "out_of_range",
        "unseen_share",
        "unseen_categories",
        "issues",
    ]
    assert list(frame["column"]) == list(PROFILE.columns)
    row = frame.set_index("column")
    assert row.loc["x", "current_missing_rate"] == pytest.approx(0.1)
    assert row.loc["rating", "unseen_categories"] == ["9"]
    assert "missing rate rose" in row.loc["x", "issues"]
    assert row.loc["flag", "issues"] == ""
    assert pd.isna(row.loc["city", "out_of_range"])


def test_report_to_dict_is_json_ready() -> None:
    window = (
        _bad_window().drop(columns=["flag"]).assign(extra="e", ts=lambda f: f["ts"].astype(str))
    )
    report = data_quality(PROFILE, window, row_history=[5000, 5100, 4900])
    data = report.to_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text) == data
    assert set(data) == {"rows", "ok", "issues", "thresholds", "schema", "row_count", "columns"}
    assert data["rows"] == 1000
    assert data["ok"] is False
    assert data["issues"] == report.issues
    assert data["thresholds"] == {
        "max_missing_change": 0.05,
        "max_out_of_range": 0.01,
        "max_unseen_share": 0.01,
    }
    assert data["schema"] == {
        "added": ["extra"],
        "removed": ["flag"],
        "retyped": [["ts", "timestamp[us]", "large_string"]],
    }
    assert data["row_count"]["anomalous"] is True
    assert data["row_count"]["rows"] == 1000
    columns = {c["column"]: c for c in data["columns"]}
    assert set(columns) == set(PROFILE.columns) - {"flag"}
    assert columns["rating"]["unseen_categories"] == ["9"]
    assert isinstance(columns["x"]["issues"], list)
    assert columns["city"]["out_of_range"] is None
    assert columns["ts"]["out_of_range"] is None  # retyped: no range check
    assert set(columns["x"]) == {
        "column",
        "kind",
        "reference_missing_rate",
        "current_missing_rate",
        "missing_change",
        "out_of_range",
        "unseen_categories",
        "unseen_share",
        "issues",
    }


def test_report_of_a_clean_window() -> None:
    report = data_quality(PROFILE, REF)
    data = report.to_dict()
    json.dumps(data, allow_nan=False)
    assert data["ok"] is True
    assert data["issues"] == []
    assert data["row_count"] is None
    assert data["schema"] == {"added": [], "removed": [], "retyped": []}
    assert len(report.to_pandas()) == len(PROFILE.columns)
