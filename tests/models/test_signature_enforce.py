"""Signature enforcement: each documented coercion, each error kind, and the report shape."""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from cycleml.errors import InvalidInput, SignatureError, ValidationFailed
from cycleml.models import ColumnSpec, Signature


def _one(kind: str, nullable: bool = False, categories: list[str] | None = None) -> Signature:
    return Signature([ColumnSpec("x", kind, nullable, categories)])  # type: ignore[arg-type]


def _enforce(kind: str, values: list[Any], **options: Any) -> pd.Series:
    return _one(kind, **options).enforce({"x": values})["x"]


def _error(kind: str, values: list[Any], **options: Any) -> dict[str, str]:
    with pytest.raises(SignatureError) as caught:
        _one(kind, **options).enforce({"x": values})
    (error,) = caught.value.details["errors"]
    return error


# ---- coercions ---------------------------------------------------------------------------
def test_int_accepts_ints_integral_floats_and_numeric_strings() -> None:
    out = _enforce("int", [1, 2.0, "3", " 4 "])
    assert out.dtype == np.int64
    assert out.tolist() == [1, 2, 3, 4]
    assert _enforce("int", pd.array([1, 2], dtype="Int64").tolist()).dtype == np.int64


def test_nullable_int_with_nulls_becomes_float_with_nan() -> None:
    out = _enforce("int", [1, None, "3"], nullable=True)
    assert out.dtype == np.float64
    assert out.iloc[0] == 1
    assert np.isnan(out.iloc[1])
    assert out.iloc[2] == 3
    assert _enforce("int", [1, 2], nullable=True).dtype == np.int64  # no nulls: int64


def test_int_refuses_fractions_words_and_bools() -> None:
    error = _error("int", [1, 2.5, 3.5])
    assert error["error"] == "type"
    assert error["received"] == "2.5 (float) at row 1"
    assert "is not a whole number (2 values in total)" in error["message"]
    assert _error("int", ["2.5"])["error"] == "type"
    assert _error("int", ["seven"])["received"] == "'seven' (str) at row 0"
    assert _error("int", [True, False])["received"] == "bool"
    assert "64 bits" in _error("int", [1e20])["message"]
    assert _error("int", [float("inf")])["error"] == "type"


def test_float_accepts_ints_and_numeric_strings() -> None:
    out = _enforce("float", [1, "2.5", 3.25, "1e3"])
    assert out.dtype == np.float64
    assert out.tolist() == [1.0, 2.5, 3.25, 1000.0]
    assert _enforce("float", np.array([1, 2], dtype=np.int32).tolist()).tolist() == [1.0, 2.0]
    assert _error("float", ["abc"])["error"] == "type"
    assert _error("float", [True])["error"] == "type"
    assert _error("float", list(pd.to_datetime(["2024-01-01"])))["error"] == "type"


def test_nan_counts_as_null_for_floats() -> None:
    error = _error("float", [1.0, float("nan")])
    assert error["error"] == "null"
    assert error["received"] == "1 null value(s), the first at row 1"
    assert np.isnan(_enforce("float", [1.0, float("nan")], nullable=True).iloc[1])


def test_bool_accepts_bools_zero_one_and_words() -> None:
    assert _enforce("bool", [True, False]).tolist() == [True, False]
    assert _enforce("bool", [1, 0, 1.0]).tolist() == [True, False, True]
    out = _enforce("bool", ["true", "False", " TRUE ", "0", "1"])
    assert out.dtype == bool
    assert out.tolist() == [True, False, True, False, True]
    assert _error("bool", [2])["message"].endswith("is neither 0 nor 1.")
    assert _error("bool", ["yes"])["error"] == "type"
    nullable = _enforce("bool", [True, None], nullable=True)
    assert str(nullable.dtype) == "boolean"
    assert nullable.isna().tolist() == [False, True]


def test_string_turns_numbers_into_strings() -> None:
    out = _enforce("string", ["a", 3, 2.5, True])
    assert out.tolist() == ["a", "3", "2.5", "True"]
    nullable = _enforce("string", ["a", None], nullable=True)
    assert nullable.iloc[0] == "a"
    assert pd.isna(nullable.iloc[1])
    assert _enforce("string", pd.Categorical(["p", "q"]).tolist()).tolist() == ["p", "q"]


def test_datetime_accepts_iso_strings_and_datetimes() -> None:
    out = _enforce("datetime", ["2024-01-02", "2024-01-02T03:04:05", dt.datetime(2024, 1, 3)])
    assert pd.api.types.is_datetime64_any_dtype(out.dtype)
    assert out.tolist() == [
        pd.Timestamp("2024-01-02"),
        pd.Timestamp("2024-01-02T03:04:05"),
        pd.Timestamp("2024-01-03"),
    ]
    mixed = _enforce("datetime", ["2024-01-02T00:00:00+01:00", "2024-01-02T00:00:00Z"])
    assert str(mixed.dt.tz) == "UTC"
    assert mixed.iloc[0] == pd.Timestamp("2024-01-01T23:00Z")
    error = _error("datetime", ["2024-01-02", "yesterday"])
    assert error["error"] == "type"
    assert "ISO 8601" in error["message"]
    assert _error("datetime", [1700000000])["error"] == "type"
    kept = pd.DataFrame({"x": pd.to_datetime(["2024-01-01"]).tz_localize("UTC")})
    assert str(_one("datetime").enforce(kept)["x"].dtype) == str(kept["x"].dtype)


def test_category_checks_the_vocabulary() -> None:
    out = _enforce("category", ["free", "pro"], categories=["free", "pro", "team"])
    assert isinstance(out.dtype, pd.CategoricalDtype)
    assert list(out.cat.categories) == ["free", "pro", "team"]
    assert out.tolist() == ["free", "pro"]
    error = _error("category", ["free", "gold", "gold"], categories=["free", "pro"])
    assert error == {
        "field": "x",
        "error": "category",
        "expected": "one of ['free', 'pro']",
        "received": "'gold' at row 1",
        "message": "Column 'x' has the unknown category 'gold' at row 1 (2 values in total), "
        "expected one of ['free', 'pro'].",
    }
    assert _enforce("category", [1, 2], categories=["1", "2"]).tolist() == ["1", "2"]
    assert _enforce("category", ["anything"]).tolist() == ["anything"]  # no vocabulary
    nullable = _enforce("category", ["free", None], nullable=True, categories=["free"])
    assert nullable.isna().tolist() == [False, True]


# ---- errors ------------------------------------------------------------------------------
def test_every_failing_column_is_reported_once() -> None:
    signature = Signature(
        [
            ColumnSpec("age", "int"),
            ColumnSpec("income", "float"),
            ColumnSpec("plan", "category", categories=["free", "pro"]),
            ColumnSpec("joined", "datetime"),
            ColumnSpec("active", "bool"),
        ]
    )
    records = [
        {"age": "old", "income": None, "plan": "gold", "active": True},
        {"age": "older", "income": 2.0, "plan": "free", "active": False},
    ]
    with pytest.raises(SignatureError) as caught:
        signature.enforce(records)
    error = caught.value
    assert isinstance(error, ValidationFailed)
    assert isinstance(error, SignatureError)
    assert error.status_code == 422
    assert error.code == "signature_mismatch"
    found = [(e["field"], e["error"]) for e in error.details["errors"]]
    assert found == [
        ("age", "type"),
        ("income", "null"),
        ("plan", "category"),
        ("joined", "missing"),
    ]
    assert error.details["errors"][0]["received"] == "'old' (str) at row 0"
    assert error.details["errors"][3] == {
        "field": "joined",
        "error": "missing",
        "expected": "datetime",
        "received": "nothing",
        "message": "Column 'joined' is missing.",
    }
    assert str(error).startswith(
        "The input does not match the model signature: 4 column(s) failed: Column 'age' "
        "expects int, but 'old' at row 0 is not a number (2 values in total); Column 'income' "
        "does not allow nulls, but it has 1 (the first at row 0); "
    )
    assert "Hint: Send the 5 columns ['age', 'income', 'plan', 'joined', 'active']" in str(error)


def test_null_is_reported_before_the_type() -> None:
    error = _error("int", [None, "x"])
    assert error["error"] == "null"
    assert error["expected"] == "int (not nullable)"


def test_extra_columns_are_dropped_with_a_warning_and_order_is_restored() -> None:
    signature = Signature([ColumnSpec("b", "int"), ColumnSpec("a", "float")])
    frame = pd.DataFrame({"z": [1], "a": [1.5], "y": ["?"], "b": [2]}, index=[7])
    with pytest.warns(UserWarning, match=r"not in the model signature: \['z', 'y'\]"):
        out = signature.enforce(frame)
    assert list(out.columns) == ["b", "a"]
    assert list(out.index) == [0]
    assert out.to_dict("records") == [{"b": 2, "a": 1.5}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        signature.enforce({"a": [1.0], "b": [1]})  # no extras: no warning


def test_accepted_input_forms() -> None:
    signature = Signature([ColumnSpec("0", "int"), ColumnSpec("1", "string")])
    expected = [{"0": 1, "1": "a"}, {"0": 2, "1": "b"}]
    forms: list[Any] = [
        pd.DataFrame({"0": [1, 2], "1": ["a", "b"]}),
        pd.DataFrame([[1, "a"], [2, "b"]]),  # integer column labels
        pa.table({"0": [1, 2], "1": ["a", "b"]}),
        pl.DataFrame({"0": [1, 2], "1": ["a", "b"]}),
        np.array([[1, "a"], [2, "b"]], dtype=object),
        [{"0": 1, "1": "a"}, {"0": 2, "1": "b"}],
        [[1, "a"], [2, "b"]],
        {"0": [1, 2], "1": ["a", "b"]},
    ]
    for data in forms:
        assert signature.enforce(data).to_dict("records") == expected, type(data)
    assert signature.enforce({"0": 1, "1": "a"}).to_dict("records") == expected[:1]  # one record
    empty = signature.enforce(pd.DataFrame({"0": pd.Series([], dtype=int), "1": []}))
    assert len(empty) == 0
    assert list(empty.columns) == ["0", "1"]


def test_inputs_that_are_not_tables_are_invalid_input() -> None:
    signature = _one("int")
    with pytest.raises(InvalidInput, match="differ in length"):
        signature.enforce({"x": [1, 2], "y": [1]})
    with pytest.raises(InvalidInput, match="mixes lists and single values"):
        signature.enforce({"x": [1, 2], "y": 1})
    with pytest.raises(InvalidInput, match="rows of different lengths"):
        signature.enforce([[1], [1, 2]])
    with pytest.raises(InvalidInput, match="list of records"):
        signature.enforce([1, 2])
    with pytest.raises(InvalidInput, match="Cannot read model input of type str"):
        signature.enforce("x=1")


def test_enforcement_is_vectorized_on_a_large_batch() -> None:
    rows = 200_000
    signature = Signature(
        [ColumnSpec("i", "int"), ColumnSpec("f", "float"), ColumnSpec("s", "string")]
    )
    frame = pd.DataFrame(
        {"i": np.arange(rows).astype(str), "f": np.arange(rows), "s": np.arange(rows)}
    )
    out = signature.enforce(frame)
    assert out["i"].iloc[-1] == rows - 1
    assert out["s"].iloc[-1] == str(rows - 1)


def test_conforming_frames_take_the_fast_path_with_the_same_result() -> None:
    columns = [ColumnSpec("a", "float"), ColumnSpec("b", "int"), ColumnSpec("c", "bool")]
    signature = Signature([*columns, ColumnSpec("d", "float", nullable=True)])
    frame = pd.DataFrame({"d": [np.nan, 1.0], "c": [True, False], "b": [1, 2], "a": [0.5, 1.5],
                          "extra": ["x", "y"]}, index=[7, 8])  # fmt: skip
    with pytest.warns(UserWarning, match="extra"):
        fast = signature.enforce(frame)
    assert list(fast.columns) == ["a", "b", "c", "d"]
    assert list(fast.index) == [0, 1]
    slow = signature.enforce(frame.astype({"b": "float64"}).drop(columns="extra"))
    pd.testing.assert_frame_equal(fast, slow)
    frame.loc[7, "a"] = np.nan  # NaN in a float column that allows no nulls: the full check
    with pytest.raises(SignatureError, match="does not allow nulls"):
        signature.enforce(frame.drop(columns="extra"))
