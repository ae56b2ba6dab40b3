"""MLflow's scoring protocol against ``cycleml serve`` over HTTP on loopback.

Every request shape of MLflow's scoring protocol (``mlflow models serve``, MLflow 3.x):
``dataframe_split``, ``dataframe_records``, ``instances`` and ``inputs``, CSV and Parquet,
``params``, content-type parameters and charsets, shuffled and extra columns, nulls in float
columns, empty and malformed bodies. Status codes and bodies follow MLflow's documentation
and its scoring server: ``/ping`` and ``/version`` answer 200, a content type with any
parameter but ``charset=utf-8`` is a 415, and every error body carries MLflow's
``error_code`` and ``message``.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

import cycleml

JSON = "application/json"


@pytest.fixture(scope="module")
def client(forest_server: str) -> Any:
    with httpx.Client(base_url=forest_server, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def rows(cancer: tuple[pd.DataFrame, pd.Series]) -> pd.DataFrame:
    x, _ = cancer
    return x.iloc[[0, 1, 7]].reset_index(drop=True)


def post(client: httpx.Client, body: Any, content_type: str = JSON) -> httpx.Response:
    content = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post("/invocations", content=content, headers={"content-type": content_type})


def mlflow_error(response: httpx.Response, status: int, error_code: str) -> dict[str, Any]:
    """MLflow's error keys, with cycleml's hint and details (and the request id) as extras."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(JSON)
    body: dict[str, Any] = response.json()
    assert set(body) == {"error_code", "message", "hint", "details"}
    assert body["error_code"] == error_code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["details"]["request_id"] == response.headers["x-request-id"]
    return body


def test_ping_and_version_answer_as_mlflow_clients_expect(client: httpx.Client) -> None:
    # mlflow's ScoringServerClient.wait_server_ready polls GET /ping; get_version reads the text
    assert client.get("/ping").status_code == 200
    version = client.get("/version")
    assert version.status_code == 200
    assert version.text == cycleml.__version__
    mlflow_error(client.post("/ping"), 405, "BAD_REQUEST")
    mlflow_error(client.get("/invocations"), 405, "BAD_REQUEST")


def shapes(rows: pd.DataFrame) -> dict[str, Any]:
    columns = list(rows.columns)
    records = rows.to_dict(orient="records")
    return {
        "split": {"dataframe_split": {"columns": columns, "data": rows.to_numpy().tolist()}},
        "split with index": {"dataframe_split": rows.to_dict(orient="split")},
        "records": {"dataframe_records": records},
        "instances as records": {"instances": records},
        "inputs as columns": {"inputs": rows.to_dict(orient="list")},
        "inputs as records": {"inputs": records},
        "params": {"dataframe_records": records, "params": {"threshold": 0.5}},
        "params not an object": {"dataframe_records": records, "params": 5},
        "other top-level keys": {"dataframe_records": records, "comment": "ignored"},
        "shuffled columns": {"dataframe_split": {
            "columns": columns[::-1], "data": rows[columns[::-1]].to_numpy().tolist()}},
        "extra columns": {"dataframe_records": [{**r, "patient": "p1"} for r in records]},
        "ints in float columns": {"dataframe_records": [
            {**r, "mean area": int(r["mean area"])} for r in records]},
    }  # fmt: skip


@pytest.mark.parametrize(
    "shape",
    [
        "split",
        "split with index",
        "records",
        "instances as records",
        "inputs as columns",
        "inputs as records",
        "params",
        "params not an object",
        "other top-level keys",
        "shuffled columns",
        "extra columns",
        "ints in float columns",
    ],
)
@pytest.mark.parametrize("charset", ["", "; charset=utf-8", "; charset=UTF-8"])
def test_every_json_shape_scores_like_the_model(
    client: httpx.Client, rows: pd.DataFrame, forest: RandomForestClassifier, shape: str,
    charset: str,
) -> None:  # fmt: skip
    body = shapes(rows)[shape]
    expected = forest.predict(pd.DataFrame(body["dataframe_records"])[rows.columns]) if (
        shape == "ints in float columns") else forest.predict(rows)  # fmt: skip
    response = post(client, body, JSON + charset)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected.tolist()}


def test_one_row_as_an_object_of_scalars(
    client: httpx.Client, rows: pd.DataFrame, forest: RandomForestClassifier
) -> None:
    response = post(client, {"inputs": rows.iloc[0].to_dict()})
    assert response.json() == {"predictions": forest.predict(rows.head(1)).tolist()}


@pytest.mark.parametrize("content_type", ["text/csv", "text/csv; charset=utf-8"])
def test_csv_with_shuffled_and_extra_columns(
    client: httpx.Client, rows: pd.DataFrame, forest: RandomForestClassifier, content_type: str
) -> None:
    shuffled = rows[list(rows.columns)[::-1]].assign(patient=["a", "b", "c"])
    response = post(client, shuffled.to_csv(index=False), content_type)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": forest.predict(rows).tolist()}


def test_parquet(client: httpx.Client, rows: pd.DataFrame, forest: RandomForestClassifier) -> None:
    buffer = io.BytesIO()
    rows.to_parquet(buffer)
    response = post(client, buffer.getvalue(), "application/vnd.apache.parquet")
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": forest.predict(rows).tolist()}


def test_nulls_in_float_columns_reach_the_model_as_nan(
    client: httpx.Client, rows: pd.DataFrame, forest: RandomForestClassifier
) -> None:
    # The forest's signature says no column is nullable; MLflow passes NaN on, and so does
    # /invocations for float columns (the forest handles missing values itself).
    holes = rows.copy()
    holes.loc[0, "mean radius"] = np.nan
    holes.loc[2, "worst area"] = np.nan
    expected = {"predictions": forest.predict(holes).tolist()}
    records = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
               for r in holes.to_dict(orient="records")]  # fmt: skip
    split = {"columns": list(holes.columns),
             "data": [list(r.values()) for r in records]}  # fmt: skip
    assert post(client, {"dataframe_records": records}).json() == expected
    assert post(client, {"dataframe_split": split}).json() == expected
    assert post(client, {"inputs": pd.DataFrame(records).to_dict(orient="list")}).json() == expected
    assert post(client, holes.to_csv(index=False), "text/csv").json() == expected
    literal = json.dumps({"dataframe_records": holes.to_dict(orient="records")})  # NaN tokens
    assert "NaN" in literal
    assert post(client, literal).json() == expected


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; something=something",
        "application/json; format=pandas-split",
        "application/json; format=pandas-records",
        "application/json; charset=latin-1",
        "application/json; charset=utf-16",
        "text/csv; charset=latin-1",
        "text/csv; header=present",
        "application/xml",
        "text/plain",
    ],
)
def test_unknown_content_type_parameters_and_charsets_are_415(
    client: httpx.Client, rows: pd.DataFrame, content_type: str
) -> None:
    body = mlflow_error(post(client, shapes(rows)["records"], content_type), 415, "BAD_REQUEST")
    assert content_type.split(";")[-1].strip().split("=")[0] in body["message"]


def test_a_body_over_the_limit_is_413(client: httpx.Client) -> None:
    huge = b'{"dataframe_records": [' + b" " * (10 * 2**20) + b"]}"
    body = mlflow_error(post(client, huge), 413, "BAD_REQUEST")
    assert "limit" in body["message"]


@pytest.mark.parametrize(
    ("raw", "content_type", "fragment"),
    [
        (b"", JSON, "empty"),
        (b"   ", JSON, "empty"),
        (b"{oops", JSON, "not valid JSON"),
        (b'{"dataframe_records": [{"mean radius": "\xff"}]}', JSON, "not valid JSON"),
        (b'[{"mean radius": 1}]', JSON, "received a list"),
        (b"3", JSON, "received a number"),
        (b'{"rows": [{"mean radius": 1}]}', JSON, "exactly one of"),
        (b'{"dataframe_records": [], "inputs": []}', JSON, "exactly one of"),
        (b'{"dataframe_records": {"mean radius": 1}}', JSON, "list of objects"),
        (b'{"dataframe_records": [1, 2]}', JSON, "not an object"),
        (b'{"dataframe_records": []}', JSON, "empty"),
        (b'{"dataframe_split": [[1, 2]]}', JSON, "dataframe_split must be"),
        (b'{"dataframe_split": {"columns": ["a"]}}', JSON, "dataframe_split must be"),
        (b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}', JSON, r"data[0]"),
        (b'{"dataframe_split": {"columns": ["a"], "data": []}}', JSON, "empty"),
        (b'{"inputs": []}', JSON, "non-empty"),
        (b'{"inputs": 5}', JSON, "non-empty list"),
        (b'{"inputs": {"a": [1, 2], "b": [1]}}', JSON, "differ in length"),
        (b'{"instances": [[1], [1, 2]]}', JSON, "differ in length"),
        (b"", "text/csv", "empty"),
        (b"mean radius,mean texture\n", "text/csv", "no rows"),
        (b"a,b\n1,2\n1,2,3,4\n", "text/csv", "cannot be parsed"),
        (b"PAR1 not parquet", "application/vnd.apache.parquet", "Parquet"),
    ],
)
def test_empty_and_malformed_bodies_are_400(
    client: httpx.Client, raw: bytes, content_type: str, fragment: str
) -> None:
    body = mlflow_error(post(client, raw, content_type), 400, "BAD_REQUEST")
    assert fragment in body["message"]


def test_rows_that_do_not_fit_the_signature_are_422(
    client: httpx.Client, rows: pd.DataFrame
) -> None:
    record = rows.iloc[0].to_dict()
    missing = {k: v for k, v in record.items() if k != "mean area"}
    body = mlflow_error(post(client, {"dataframe_records": [missing]}), 422,
                        "INVALID_PARAMETER_VALUE")  # fmt: skip
    assert [(e["field"], e["error"]) for e in body["details"]["errors"]] == [
        ("mean area", "missing")
    ]
    typed = post(client, {"dataframe_records": [{**record, "mean area": "big"}]})
    body = mlflow_error(typed, 422, "INVALID_PARAMETER_VALUE")
    assert [e["field"] for e in body["details"]["errors"]] == ["mean area"]
    # rows without column names cannot be matched to a signature with named columns
    unnamed = post(client, {"instances": [list(record.values())]})
    mlflow_error(unnamed, 422, "INVALID_PARAMETER_VALUE")
