"""Request parsing: MLflow's scoring formats, v2 tensors, records; every bad shape is a 4xx."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from cycleml.errors import InvalidInput, UnsupportedMediaType
from cycleml.serving._protocols import (
    MLFLOW_MEDIA_TYPES,
    content_kind,
    json_ready,
    parse_invocations,
    parse_records,
)
from cycleml.serving._v2 import parse_v2_inputs, v2_datatype

EXPECTED = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})


def body(payload: object) -> bytes:
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": ["a", "b"], "data": [[1, "x"], [2, "y"]]}},
        {"dataframe_split": {"columns": ["a", "b"], "data": [[1, "x"], [2, "y"]], "index": [0, 1]}},
        {"dataframe_records": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]},
        {"instances": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]},
        {"inputs": {"a": [1, 2], "b": ["x", "y"]}},
        {"inputs": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], "params": {"ignored": True}},
    ],
)
def test_mlflow_json_formats_give_the_same_frame(payload: dict[str, object]) -> None:
    frame = parse_invocations(body(payload), "application/json; charset=utf-8")
    pd.testing.assert_frame_equal(frame, EXPECTED)


def test_mlflow_csv() -> None:
    frame = parse_invocations(b"a,b\n1,x\n2,y\n", "text/csv")
    pd.testing.assert_frame_equal(frame, EXPECTED)


def test_instances_as_rows_name_columns_by_position() -> None:
    frame = parse_invocations(body({"instances": [[1, 2], [3, 4]]}), "application/json")
    assert list(frame.columns) == ["0", "1"]
    assert frame.to_numpy().tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize(
    ("raw", "content_type", "fragment", "status"),
    [
        (b"{bad json", "application/json", "not valid JSON", 400),
        (b"", "application/json", "empty", 400),
        (b"[1, 2]", "application/json", "Expected a JSON object", 400),
        (body({"rows": []}), "application/json", "Expected exactly one of", 400),
        (body({"dataframe_records": [], "inputs": []}), "application/json", "exactly one", 400),
        (body({"dataframe_records": []}), "application/json", "empty", 400),
        (body({"dataframe_records": [1, 2]}), "application/json", "not an object", 400),
        (body({"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}), None, r"data\[0\]", 400),
        (body({"dataframe_split": [1]}), "application/json", "dataframe_split must be", 400),
        (body({"inputs": {"a": [1], "b": [1, 2]}}), "application/json", "differ in length", 400),
        (body({"instances": [[1], [1, 2]]}), "application/json", "differ in length", 400),
        (body({"instances": [1, {"a": 1}]}), "application/json", "only objects", 400),
        (b"a,b\n", "text/csv", "no rows", 400),
        (b"", "text/csv", "empty", 400),
        (b"a,b", "application/xml", "Unsupported content type", 415),
    ],
)
def test_bad_requests_are_clear_4xx(
    raw: bytes, content_type: str | None, fragment: str, status: int
) -> None:
    with pytest.raises(InvalidInput, match=fragment) as caught:
        parse_invocations(raw, content_type)
    assert caught.value.status_code == status


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        (None, "application/json"),
        ("", "application/json"),
        ("application/json", "application/json"),
        ("Application/JSON", "application/json"),
        ("application/json;charset=utf-8", "application/json"),
        ('application/json; Charset="UTF-8"', "application/json"),
        ("application/json;", "application/json"),
        ("text/csv; charset=utf-8", "text/csv"),
        ("application/vnd.apache.parquet", "application/vnd.apache.parquet"),
    ],
)
def test_content_types_mlflow_accepts(header: str | None, kind: str) -> None:
    assert content_kind(header, MLFLOW_MEDIA_TYPES) == kind


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("application/json; format=pandas-split", "parameter 'format'"),
        ("application/json; something=something", "parameter 'something'"),
        ("application/json; charset=latin-1", "charset 'latin-1'"),
        ("application/json; charset=utf8", "charset 'utf8'"),
        ("text/csv; header=present", "parameter 'header'"),
        ("application/xml", "'application/xml'"),
    ],
)
def test_content_types_mlflow_refuses(header: str, fragment: str) -> None:
    with pytest.raises(UnsupportedMediaType, match=fragment) as caught:
        content_kind(header, MLFLOW_MEDIA_TYPES)
    assert caught.value.status_code == 415


def test_records_forms() -> None:
    pd.testing.assert_frame_equal(parse_records({"records": [{"a": 1, "b": "x"}]}),
                                  EXPECTED.iloc[:1])  # fmt: skip
    pd.testing.assert_frame_equal(parse_records({"a": 1, "b": "x"}), EXPECTED.iloc[:1])
    with pytest.raises(InvalidInput, match="empty"):
        parse_records([])
    with pytest.raises(InvalidInput, match="list of objects"):
        parse_records("text")


def test_v2_tensors_by_column_and_as_one_matrix() -> None:
    tensors = {"inputs": [
        {"name": "a", "shape": [2], "datatype": "INT64", "data": [1, 2]},
        {"name": "b", "shape": [2, 1], "datatype": "BYTES", "data": [["x"], ["y"]]},
    ]}  # fmt: skip
    pd.testing.assert_frame_equal(parse_v2_inputs(tensors, ["a", "b"]), EXPECTED)
    matrix = {"inputs": [{"name": "input-0", "shape": [2, 2], "datatype": "FP64",
                          "data": [1.0, 2.0, 3.0, 4.0]}]}  # fmt: skip
    frame = parse_v2_inputs(matrix, ["a", "b"])
    assert frame.to_dict(orient="list") == {"a": [1.0, 3.0], "b": [2.0, 4.0]}


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"inputs": []}, "no inputs"),
        ({}, '"inputs" list'),
        ({"inputs": [{"name": "a", "shape": [3], "datatype": "FP64", "data": [1]}]}, "shape"),
        ({"inputs": [{"name": "a", "shape": [1], "datatype": "FLOAT", "data": [1]}]}, "datatype"),
        ({"inputs": [{"shape": [1], "datatype": "FP64", "data": [1]}]}, "name"),
        ({"inputs": [{"name": "a", "shape": [0], "datatype": "FP64", "data": []}]}, "empty"),
        (
            {"inputs": [{"name": "a", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]},
            "2-D input",
        ),
    ],
)
def test_bad_v2_requests(payload: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        parse_v2_inputs(payload, ["a", "b"])


def test_json_ready_converts_numpy_and_nan() -> None:
    values = np.array([1.5, math.nan, np.inf])
    assert json_ready(values) == [1.5, None, None]
    assert json_ready(np.array([[1, 2]], dtype=np.int32)) == [[1, 2]]
    assert json_ready(pd.DataFrame({"p": [np.int64(1)]})) == [{"p": 1}]
    assert json_ready({"k": np.float32(0.5)}) == {"k": 0.5}
    assert v2_datatype(np.array([1], dtype=np.int32)) == "INT32"
    assert v2_datatype(np.array([True])) == "BOOL"
    assert v2_datatype(np.array(["a"], dtype=object)) == "BYTES"
