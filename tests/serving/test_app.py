"""The model server in process (ASGI): protocols, errors in one JSON shape, metrics, OpenAPI."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.ensemble import RandomForestClassifier

from cycleml.serving import BatchingOptions, ServerOptions, model_app
from cycleml.settings import Settings

IN_THREAD = ServerOptions(batching=BatchingOptions(predict_process=False))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    uri = f"sqlite:///{tmp_path / 'metadata.db'}"
    return Settings(home=tmp_path, metadata_uri=uri, artifact_uri=(tmp_path / "a").as_uri(),
                    tracking_uri=uri, actor="tester")  # fmt: skip


@pytest.fixture
def client(forest_folder: Path, settings: Settings) -> Iterator[TestClient]:
    with TestClient(model_app(str(forest_folder), settings=settings, options=IN_THREAD)) as c:
        yield c


def rows(x: pd.DataFrame, n: int = 3) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = x.head(n).to_dict(orient="records")
    return records


def assert_error_shape(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "hint", "details"}
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["details"]["request_id"] == response.headers["x-request-id"]
    if code is not None:
        assert error["code"] == code
    return error  # type: ignore[no-any-return]


def test_every_mlflow_format_scores_like_the_model(
    client: TestClient, cancer: tuple[pd.DataFrame, pd.Series], forest: RandomForestClassifier
) -> None:
    x, _ = cancer
    expected = forest.predict(x.head(3)).tolist()
    split = {"columns": list(x.columns), "data": x.head(3).to_numpy().tolist()}
    bodies = [
        {"dataframe_split": split},
        {"dataframe_records": rows(x)},
        {"instances": rows(x)},
        {"inputs": {c: x[c].head(3).tolist() for c in x.columns}},
    ]
    for body in bodies:
        response = client.post("/invocations", json=body)
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": expected}
    csv = x.head(3).to_csv(index=False)
    response = client.post("/invocations", content=csv, headers={"content-type": "text/csv"})
    assert response.json() == {"predictions": expected}


def test_predict_returns_probabilities_and_the_request_id(
    client: TestClient, cancer: tuple[pd.DataFrame, pd.Series], forest: RandomForestClassifier
) -> None:
    x, _ = cancer
    response = client.post("/predict", json={"records": rows(x, 2)},
                           headers={"x-request-id": "req-42"})  # fmt: skip
    body = response.json()
    assert response.headers["x-request-id"] == "req-42"
    assert body["request_id"] == "req-42"
    assert body["row_ids"] == ["req-42/0", "req-42/1"]
    assert body["predictions"] == forest.predict(x.head(2)).tolist()
    np.testing.assert_allclose(body["probabilities"], forest.predict_proba(x.head(2)))
    assert body["classes"] == [0, 1]
    assert body["model"] == {"name": "forest", "version": "0", "arm": "primary"}


def test_open_inference_protocol_v2(
    client: TestClient, cancer: tuple[pd.DataFrame, pd.Series], forest: RandomForestClassifier
) -> None:
    x, _ = cancer
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2").json()["name"] == "cycleml"
    meta = client.get("/v2/models/forest").json()
    assert meta["versions"] == ["0"]
    assert [i["name"] for i in meta["inputs"]] == list(x.columns)
    assert client.get("/v2/models/forest/versions/0/ready").json()["ready"] is True
    tensors = [{"name": c, "shape": [2], "datatype": "FP64", "data": x[c].head(2).tolist()}
               for c in x.columns]  # fmt: skip
    for path in ("/v2/models/forest/infer", "/v2/models/forest/versions/0/infer"):
        body = client.post(path, json={"id": "abc", "inputs": tensors}).json()
        assert body["id"] == "abc"
        assert body["model_name"] == "forest"
        outputs = {o["name"]: o for o in body["outputs"]}
        assert outputs["predict"]["data"] == forest.predict(x.head(2)).tolist()
        assert outputs["predict_proba"]["shape"] == [2, 2]
    for missing in (
        client.get("/v2/models/nope"),
        client.post("/v2/models/forest/versions/9/infer", json={"inputs": tensors}),
    ):
        assert missing.status_code == 404
        assert set(missing.json()) == {"error"}  # the protocol's shape: one message
        assert "this server serves forest/0" in missing.json()["error"]  # fmt: skip


def test_bad_input_gets_the_right_4xx_in_one_shape(
    forest_folder: Path, settings: Settings, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    x, _ = cancer
    options = ServerOptions(batching=BatchingOptions(predict_process=False), max_body_bytes=4096)
    with TestClient(model_app(str(forest_folder), settings=settings, options=options)) as client:
        json_headers = {"content-type": "application/json"}
        assert_error_shape(client.post("/predict", content=b"{oops", headers=json_headers),
                           400, "invalid_input")  # fmt: skip
        assert_error_shape(client.post("/predict", content=b"x",
                                       headers={"content-type": "application/xml"}),
                           415, "unsupported_media_type")  # fmt: skip
        assert_error_shape(client.post("/predict", content=b"[]",
                                       headers={"content-type": "application/json; v=1"}),
                           415, "unsupported_media_type")  # fmt: skip
        big = json.dumps(rows(x, 50))
        assert_error_shape(client.post("/predict", content=big, headers=json_headers),
                           413, "payload_too_large")  # fmt: skip
        assert_error_shape(client.post("/predict", json={"records": []}), 400)
        record = rows(x, 1)[0]
        with_nan = json.dumps([{**record, "mean radius": math.nan}])
        error = assert_error_shape(client.post("/predict", content=with_nan,
                                               headers=json_headers), 422)  # fmt: skip
        assert error["details"]["errors"][0]["field"] == "mean radius"
        assert error["details"]["errors"][0]["error"] == "null"
        broken = {k: v for k, v in record.items() if k != "mean area"}
        broken["mean texture"] = "soft"
        error = assert_error_shape(client.post("/predict", json=[broken]), 422,
                                   "signature_mismatch")  # fmt: skip
        fields = {e["field"]: e["error"] for e in error["details"]["errors"]}
        assert fields == {"mean area": "missing", "mean texture": "type"}
        assert_error_shape(client.get("/nowhere"), 404)
        assert_error_shape(client.get("/predict"), 405)
        assert_error_shape(client.post("/feedback", json={"request_id": "r", "label": 1}), 404)
        # MLflow's routes answer in MLflow's shape (tests/serving/test_mlflow_protocol.py)
        mlflow = client.post("/invocations", content=b"{oops", headers=json_headers).json()
        assert mlflow["error_code"] == "BAD_REQUEST"
        assert mlflow["details"]["request_id"]


def test_nulls_a_model_cannot_take_are_422_on_invocations(
    logistic_folder: Path, settings: Settings, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    # A null in a float column reaches the model as NaN on /invocations (as with MLflow);
    # a logistic regression cannot score NaN, and the client hears why, not a 500.
    x, _ = cancer
    app = model_app(str(logistic_folder), settings=settings, options=IN_THREAD)
    with TestClient(app, raise_server_exceptions=False) as client:
        record = {**rows(x, 1)[0], "mean radius": None}
        response = client.post("/invocations", json={"dataframe_records": [record]})
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "'mean radius' does not allow nulls" in body["message"]
        assert "NaN" in body["message"]  # what the model said
        first = body["details"]["errors"][0]
        assert (first["field"], first["error"]) == ("mean radius", "null")


def test_a_model_that_raises_gives_500_and_the_server_goes_on(
    exploding_folder: Path, settings: Settings, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    x, _ = cancer
    app = model_app(str(exploding_folder), settings=settings, options=IN_THREAD)
    with TestClient(app, raise_server_exceptions=False) as client:
        record = rows(x, 1)[0]
        bad = client.post("/predict", json=[{**record, "mean radius": -1.0}],
                          headers={"x-request-id": "boom-1"})  # fmt: skip
        error = assert_error_shape(bad, 500, "internal_error")
        assert error["details"]["request_id"] == "boom-1"
        assert "negative radius" in error["message"]
        good = client.post("/predict", json=[record])
        assert good.status_code == 200
        assert good.json()["predictions"] == [record["mean radius"] * 2]
        failed = client.post("/invocations", json={"inputs": [{**record, "mean radius": -1.0}]})
        assert failed.status_code == 500
        body = failed.json()
        assert body["error_code"] == "INTERNAL_ERROR"
        assert "negative radius" in body["message"]
        assert body["details"]["request_id"] == failed.headers["x-request-id"]


def test_metrics_count_requests_errors_latency_and_batches(client: TestClient,
                                                           cancer: tuple[pd.DataFrame, pd.Series]
                                                           ) -> None:  # fmt: skip
    x, _ = cancer
    for _ in range(3):
        client.post("/invocations", json={"dataframe_records": rows(x, 2)})
    client.post("/invocations", json={"dataframe_records": []})
    text = client.get("/metrics").text
    ok = 'cycleml_requests_total{model="forest",route="/invocations",status="200",version="0"} 3.0'
    assert ok in text
    assert 'cycleml_request_errors_total{model="forest",route="/invocations",status="400"' in text
    assert 'cycleml_batch_rows_count{model="forest",version="0"} 3.0' in text
    assert 'cycleml_predicted_rows_total{model="forest",version="0"} 6.0' in text
    assert "cycleml_request_latency_seconds_bucket" in text


def test_openapi_document_shows_the_signature(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    body = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    record = body["schema"]["oneOf"][0]["properties"]["records"]["items"]
    assert record["properties"]["mean radius"]["type"] in ("number", ["number"])
    assert "mean radius" in doc["info"]["description"]
    assert "/v2/models/{name}/infer" in doc["paths"]


def test_predictions_match_with_the_predict_process(
    forest_folder: Path, settings: Settings, cancer: tuple[pd.DataFrame, pd.Series],
    forest: RandomForestClassifier,
) -> None:  # fmt: skip
    x, _ = cancer
    with TestClient(model_app(str(forest_folder), settings=settings)) as client:
        body = client.post("/predict", json=rows(x, 4)).json()
    assert body["predictions"] == forest.predict(x.head(4)).tolist()
    np.testing.assert_allclose(body["probabilities"], forest.predict_proba(x.head(4)))


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    "body",
    [DEEP, b'{"dataframe_records": [{"mean radius": ' + DEEP + b"}]}"],
    ids=["a deep list", "deep inside a record"],
)
def test_json_nested_too_deeply_is_a_400_in_each_routes_shape(
    client: TestClient, body: bytes
) -> None:
    headers = {"content-type": "application/json"}
    mlflow = client.post("/invocations", content=body, headers=headers)
    assert mlflow.status_code == 400, mlflow.text
    assert mlflow.json()["error_code"] == "BAD_REQUEST"
    assert "nested too deeply" in mlflow.json()["message"]
    error = assert_error_shape(client.post("/predict", content=body, headers=headers), 400,
                               "invalid_input")  # fmt: skip
    assert "nested too deeply" in error["message"]
    v2 = client.post("/v2/models/forest/infer", content=body, headers=headers)
    assert v2.status_code == 400, v2.text
    assert "nested too deeply" in v2.json()["error"]


def test_values_nested_deeply_but_parsable_are_4xx(
    client: TestClient, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    # 900 levels parse, but no column of the signature holds lists, and no tensor either
    x, _ = cancer
    deep = "[" * 900 + "1" + "]" * 900
    record = json.dumps(rows(x, 1)[0])[:-1] + ', "mean radius": ' + deep + "}"
    headers = {"content-type": "application/json"}
    response = client.post("/predict", content="[" + record + "]", headers=headers)
    assert response.status_code == 422, response.text
    tensor = '{"inputs": [{"name": "mean radius", "shape": [1], "datatype": "FP64", "data": '
    response = client.post("/v2/models/forest/infer", content=tensor + deep + "}]}",
                           headers=headers)  # fmt: skip
    assert response.status_code == 400, response.text
    assert "nested deeper than its shape" in response.json()["error"]
