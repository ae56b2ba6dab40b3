"""Signature inference per type, nullability, vocabularies, outputs, storage and JSON schema."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cycleml.errors import InvalidInput
from cycleml.models import ColumnSpec, Signature, infer_signature


def _types(signature: Signature) -> dict[str, tuple[str, bool]]:
    return {c.name: (c.type, c.nullable) for c in signature.inputs}


def test_pandas_types_and_nullability() -> None:
    frame = pd.DataFrame(
        {
            "i8": np.array([1, 2, 3], dtype=np.int8),
            "u64": np.array([1, 2, 3], dtype=np.uint64),
            "nullable_int": pd.array([1, None, 3], dtype="Int64"),
            "f": [1.5, 2.5, np.nan],
            "b": [True, False, True],
            "nullable_b": pd.array([True, None, False], dtype="boolean"),
            "s": ["a", "b", None],
            "obj_int": pd.Series([1, 2, None], dtype=object),
            "obj_bool": pd.Series([True, False, True], dtype=object),
            "obj_dt": pd.Series([dt.datetime(2024, 1, 1), dt.date(2024, 1, 2), None], dtype=object),
            "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
            "ts_tz": pd.to_datetime(["2024-01-01", "2024-01-02", None]).tz_localize("UTC"),
            "mixed": pd.Series(["a", 1, 2.5], dtype=object),
            "empty": pd.Series([None, None, None], dtype=object),
        }
    )
    assert _types(infer_signature(frame)) == {
        "i8": ("int", False),
        "u64": ("int", False),
        "nullable_int": ("int", True),
        "f": ("float", True),  # NaN counts as null
        "b": ("bool", False),
        "nullable_b": ("bool", True),
        "s": ("string", True),
        "obj_int": ("int", True),
        "obj_bool": ("bool", False),
        "obj_dt": ("datetime", True),
        "ts": ("datetime", False),
        "ts_tz": ("datetime", True),
        "mixed": ("string", False),
        "empty": ("string", True),
    }


def test_category_vocabulary_is_the_full_dtype_not_the_values_seen() -> None:
    frame = pd.DataFrame(
        {
            "grade": pd.Categorical(["low", "low"], categories=["low", "mid", "high"]),
            "code": pd.Categorical([1, None], categories=[1, 2]),
        }
    )
    grade, code = infer_signature(frame).inputs
    assert grade == ColumnSpec("grade", "category", False, ["low", "mid", "high"])
    assert code == ColumnSpec("code", "category", True, ["1", "2"])  # stored as strings


def test_arrow_types_dictionaries_and_nan() -> None:
    table = pa.table(
        {
            "i": pa.array([1, None, 3], pa.int32()),
            "f": pa.array([1.0, float("nan"), 2.0]),
            "f_ok": pa.array([1.0, 2.0, 3.0], pa.float32()),
            "dec": pa.array([1, 2, 3], pa.decimal128(5, 2)),
            "b": pa.array([True, False, None]),
            "s": pa.array(["x", "y", "z"], pa.large_string()),
            "t": pa.array([1, 2, 3], pa.timestamp("ms")),
            "d": pa.array([dt.date(2024, 1, 1)] * 3, pa.date32()),
            "c": pa.array(["lo", "hi", "lo"]).dictionary_encode(),
            "n": pa.nulls(3),
        }
    )
    signature = infer_signature(table)
    assert _types(signature) == {
        "i": ("int", True),
        "f": ("float", True),
        "f_ok": ("float", False),
        "dec": ("float", False),
        "b": ("bool", True),
        "s": ("string", False),
        "t": ("datetime", False),
        "d": ("datetime", False),
        "c": ("category", False),
        "n": ("string", True),
    }
    assert signature.inputs[8].categories == ["lo", "hi"]
    assert infer_signature(table.to_batches()[0]) == signature


def test_arrow_dictionaries_of_several_chunks_are_unified() -> None:
    chunks = [pa.array(["a", "b"]).dictionary_encode(), pa.array(["c"]).dictionary_encode()]
    table = pa.table({"c": pa.chunked_array(chunks)})
    assert infer_signature(table).inputs[0].categories == ["a", "b", "c"]


def test_polars_goes_through_arrow() -> None:
    frame = pl.DataFrame(
        {"i": [1, None], "s": ["a", "b"], "c": pl.Series(["u", "v"], dtype=pl.Categorical)}
    )
    signature = infer_signature(frame)
    assert _types(signature) == {
        "i": ("int", True),
        "s": ("string", False),
        "c": ("category", False),
    }
    assert signature.inputs[2].categories == ["u", "v"]


def test_numpy_columns_are_named_by_position() -> None:
    signature = infer_signature(np.array([[1.0, 2.0], [3.0, np.nan]]))
    assert _types(signature) == {"0": ("float", False), "1": ("float", True)}
    assert infer_signature(np.array([1, 2, 3])).input_names == ["0"]
    assert infer_signature(np.array([["a", "b"]])).inputs[0].type == "string"


def test_records_and_dicts_of_columns() -> None:
    assert _types(infer_signature([{"a": 1, "b": "x"}, {"a": 2}])) == {
        "a": ("int", False),
        "b": ("string", True),
    }
    assert _types(infer_signature({"a": [1.5], "b": [True]})) == {
        "a": ("float", False),
        "b": ("bool", False),
    }


def test_outputs() -> None:
    frame = pd.DataFrame({"x": [1, 2]})
    assert infer_signature(frame, np.array([0, 1])).outputs == [ColumnSpec("prediction", "int")]
    assert infer_signature(frame, pd.Series(["a", "b"], name="y")).outputs == [
        ColumnSpec("prediction", "string")
    ]
    assert infer_signature(frame, [0.5, 0.25]).outputs == [ColumnSpec("prediction", "float")]
    assert [c.name for c in infer_signature(frame, np.ones((2, 3))).outputs or []] == [
        "0",
        "1",
        "2",
    ]
    two = infer_signature(frame, pd.DataFrame({"p": [0.1, 0.2], "label": ["a", None]})).outputs
    assert two == [ColumnSpec("p", "float"), ColumnSpec("label", "string", True)]
    assert infer_signature(frame).outputs is None


def test_unsupported_types_are_refused() -> None:
    with pytest.raises(InvalidInput, match="Cannot infer a signature type for column 'd'"):
        infer_signature(pd.DataFrame({"d": pd.to_timedelta([1, 2], unit="s")}))
    with pytest.raises(InvalidInput, match="3-D numpy array"):
        infer_signature(np.zeros((2, 2, 2)))
    with pytest.raises(InvalidInput, match="0-D numpy array"):
        infer_signature(np.array(1.0))
    with pytest.raises(InvalidInput, match="Cannot read model input of type int"):
        infer_signature(3)
    with pytest.raises(InvalidInput, match="twice"):
        infer_signature(pd.DataFrame([[1, 2]], columns=["a", "a"]))


def test_column_spec_validation() -> None:
    with pytest.raises(InvalidInput, match="Invalid type 'text'"):
        ColumnSpec("a", "text")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="only category columns"):
        ColumnSpec("a", "string", categories=["x"])
    with pytest.raises(InvalidInput, match="twice"):
        ColumnSpec("a", "category", categories=["x", "x"])
    with pytest.raises(InvalidInput, match="non-empty"):
        ColumnSpec("", "int")
    with pytest.raises(InvalidInput, match="name a column twice"):
        Signature([ColumnSpec("a", "int"), ColumnSpec("a", "float")])


def test_to_dict_round_trip_and_bad_dicts() -> None:
    signature = Signature(
        inputs=[
            ColumnSpec("age", "int"),
            ColumnSpec("plan", "category", True, ["free", "pro"]),
        ],
        outputs=[ColumnSpec("prediction", "float")],
    )
    stored = signature.to_dict()
    assert stored == {
        "inputs": [
            {"name": "age", "type": "int", "nullable": False},
            {"name": "plan", "type": "category", "nullable": True, "categories": ["free", "pro"]},
        ],
        "outputs": [{"name": "prediction", "type": "float", "nullable": False}],
    }
    assert Signature.from_dict(stored) == signature
    assert signature.input_names == ["age", "plan"]
    for bad in ({}, {"inputs": "x"}, {"inputs": [{"name": "a"}]}, {"inputs": [], "outputs": 1}):
        with pytest.raises(InvalidInput):
            Signature.from_dict(bad)
    with pytest.raises(InvalidInput, match="unknown keys"):
        Signature.from_dict({"inputs": [{"name": "a", "type": "int", "color": "red"}]})


def test_json_schema_of_one_record() -> None:
    signature = Signature(
        [
            ColumnSpec("n", "int"),
            ColumnSpec("x", "float", nullable=True),
            ColumnSpec("ok", "bool"),
            ColumnSpec("name", "string"),
            ColumnSpec("at", "datetime"),
            ColumnSpec("plan", "category", categories=["free", "pro"]),
            ColumnSpec("tier", "category", nullable=True, categories=["a"]),
            ColumnSpec("tag", "category"),
        ]
    )
    assert signature.json_schema() == {
        "type": "object",
        "properties": {
            "n": {"type": "integer"},
            "x": {"type": ["number", "null"]},
            "ok": {"type": "boolean"},
            "name": {"type": "string"},
            "at": {"type": "string", "format": "date-time"},
            "plan": {"type": "string", "enum": ["free", "pro"]},
            "tier": {"type": ["string", "null"], "enum": ["a", None]},
            "tag": {"type": "string"},
        },
        "required": ["n", "x", "ok", "name", "at", "plan", "tier", "tag"],
        "additionalProperties": True,
    }


# ---- properties --------------------------------------------------------------------------
_COLUMNS = {
    "int": st.integers(-(2**53), 2**53),
    "float": st.floats(allow_nan=False, allow_infinity=False, width=64),
    "bool": st.booleans(),
    "string": st.text(max_size=8),
    "datetime": st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
    "category": st.sampled_from(["red", "green", "blue"]),
}


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    rows = draw(st.integers(1, 6))
    kinds = draw(st.lists(st.sampled_from(sorted(_COLUMNS)), min_size=1, max_size=6))
    data: dict[str, object] = {}
    for index, kind in enumerate(kinds):
        values = draw(st.lists(_COLUMNS[kind], min_size=rows, max_size=rows))
        name = f"{kind}_{index}"
        if kind == "category":
            data[name] = pd.Categorical(values, categories=["red", "green", "blue"])
        elif kind == "datetime":
            data[name] = pd.to_datetime(values)
        elif kind == "string":
            data[name] = pd.Series(values, dtype=object)
        else:
            data[name] = values
    return pd.DataFrame(data)


@settings(max_examples=60, deadline=None)
@given(frames())
def test_inferred_signature_accepts_its_own_data(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame)
    assert Signature.from_dict(signature.to_dict()) == signature
    assert [c.type for c in signature.inputs] == [n.split("_")[0] for n in frame.columns]
    enforced = signature.enforce(frame)
    assert list(enforced.columns) == list(frame.columns)
    for name in frame.columns:
        assert enforced[name].astype(object).tolist() == frame[name].astype(object).tolist()
    # The JSON records a client would send are read back to the same values.
    text = frame.to_json(orient="records", date_format="iso", date_unit="ns", double_precision=15)
    records = json.loads(text)
    again = signature.enforce(records)
    for name in frame.columns:
        if not name.startswith("float"):  # 15 significant digits in JSON
            assert again[name].astype(object).tolist() == frame[name].astype(object).tolist()
