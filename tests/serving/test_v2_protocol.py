"""The Open Inference Protocol v2 against ``cycleml serve``, with Triton's own HTTP client.

``tritonclient.http`` over loopback, as a user of KServe or Triton would call the server:
JSON and binary tensors (the binary tensor data extension, the client's default), one input
per column and one 2-D tensor, outputs chosen per request, metadata whose datatypes agree
with what infer returns, and errors as ``{"error": "<message>"}``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
from sklearn.ensemble import RandomForestClassifier
from tritonclient.utils import InferenceServerException

from cycleml.models import load_model

N = 5


@pytest.fixture(scope="module")
def client(forest_server: str) -> Iterator[triton.InferenceServerClient]:
    c = triton.InferenceServerClient(forest_server.removeprefix("http://"), network_timeout=60)
    yield c
    c.close()


@pytest.fixture(scope="module")
def grades_server(
    grades_folder: Path, tmp_path_factory: pytest.TempPathFactory, cli_server: Any
) -> Iterator[str]:
    with cli_server([str(grades_folder)], tmp_path_factory.mktemp("home")) as url:
        yield url


@pytest.fixture(scope="module")
def x(cancer: tuple[pd.DataFrame, pd.Series]) -> pd.DataFrame:
    return cancer[0].iloc[10 : 10 + N].reset_index(drop=True)


def columns(x: pd.DataFrame, *, binary: bool) -> list[triton.InferInput]:
    inputs = []
    for name in x.columns:
        tensor = triton.InferInput(name, [len(x)], "FP64")
        tensor.set_data_from_numpy(x[name].to_numpy(), binary_data=binary)
        inputs.append(tensor)
    return inputs


def matrix(x: pd.DataFrame, *, binary: bool) -> list[triton.InferInput]:
    tensor = triton.InferInput("input-0", list(x.shape), "FP64")
    tensor.set_data_from_numpy(x.to_numpy(), binary_data=binary)
    return [tensor]


def wanted(*names: str, binary: bool) -> list[triton.InferRequestedOutput]:
    return [triton.InferRequestedOutput(name, binary_data=binary) for name in names]


def test_server_and_model_metadata(client: triton.InferenceServerClient, x: pd.DataFrame) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("forest")
    assert client.is_model_ready("forest", "0")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    meta = client.get_model_metadata("forest")
    assert meta["versions"] == ["0"]
    assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [(c, "FP64") for c in x]
    assert meta["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
    ]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("layout", [columns, matrix], ids=["per column", "2-D tensor"])
def test_infer_matches_the_model_and_its_metadata(
    client: triton.InferenceServerClient, x: pd.DataFrame, forest: RandomForestClassifier,
    binary: bool, layout: Any,
) -> None:  # fmt: skip
    result = client.infer("forest", layout(x, binary=binary),
                          outputs=wanted("predict", "predict_proba", binary=binary))  # fmt: skip
    predict = result.as_numpy("predict")
    assert predict.dtype == np.int64
    assert predict.tolist() == forest.predict(x).tolist()
    np.testing.assert_allclose(result.as_numpy("predict_proba"), forest.predict_proba(x))
    declared = {o["name"]: o for o in client.get_model_metadata("forest")["outputs"]}
    for output in result.get_response()["outputs"]:
        assert output["datatype"] == declared[output["name"]]["datatype"]
        assert len(output["shape"]) == len(declared[output["name"]]["shape"])
        assert ("parameters" in output) is binary  # binary_data_size, and no "data"
        assert ("data" in output) is not binary


def test_outputs_default_to_binary_as_the_client_asks(
    client: triton.InferenceServerClient, x: pd.DataFrame, forest: RandomForestClassifier
) -> None:
    # No outputs named: the client sets binary_data_output, and every output comes back.
    result = client.infer("forest", columns(x, binary=True), model_version="0")
    outputs = result.get_response()["outputs"]
    assert [o["name"] for o in outputs] == ["predict", "predict_proba"]
    assert all(o["parameters"]["binary_data_size"] > 0 for o in outputs)
    assert result.as_numpy("predict").tolist() == forest.predict(x).tolist()
    assert result.as_numpy("predict_proba").shape == (N, 2)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_outputs_select_what_comes_back(
    client: triton.InferenceServerClient, x: pd.DataFrame, forest: RandomForestClassifier,
    binary: bool,
) -> None:  # fmt: skip
    only_proba = client.infer("forest", columns(x, binary=binary),
                              outputs=wanted("predict_proba", binary=binary))  # fmt: skip
    assert [o["name"] for o in only_proba.get_response()["outputs"]] == ["predict_proba"]
    assert only_proba.as_numpy("predict") is None
    np.testing.assert_allclose(only_proba.as_numpy("predict_proba"), forest.predict_proba(x))
    only_predict = client.infer("forest", matrix(x, binary=binary),
                                outputs=wanted("predict", binary=binary))  # fmt: skip
    assert [o["name"] for o in only_predict.get_response()["outputs"]] == ["predict"]
    # JSON for one output, binary for the other, in the order asked
    mixed = client.infer("forest", columns(x, binary=True), outputs=[
        triton.InferRequestedOutput("predict_proba", binary_data=False),
        triton.InferRequestedOutput("predict", binary_data=True),
    ])  # fmt: skip
    assert [o["name"] for o in mixed.get_response()["outputs"]] == ["predict_proba", "predict"]
    assert mixed.as_numpy("predict").tolist() == forest.predict(x).tolist()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_text_in_and_out(
    grades_server: str, grades_folder: Path, cancer: tuple[pd.DataFrame, pd.Series],
    binary: bool,
) -> None:  # fmt: skip
    x, _ = cancer
    frame = pd.DataFrame({"grade": np.where(x["mean radius"] > 15, "high", "low"),
                          "size": x["mean area"]}).iloc[:N]  # fmt: skip
    client = triton.InferenceServerClient(grades_server.removeprefix("http://"))
    try:
        meta = client.get_model_metadata("grades")
        assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [
            ("grade", "BYTES"), ("size", "FP64")]  # fmt: skip
        assert meta["outputs"][0] == {"name": "predict", "datatype": "BYTES", "shape": [-1]}
        grade = triton.InferInput("grade", [N], "BYTES")
        grade.set_data_from_numpy(frame["grade"].to_numpy(dtype=object), binary_data=binary)
        size = triton.InferInput("size", [N], "FP64")
        size.set_data_from_numpy(frame["size"].to_numpy(), binary_data=binary)
        result = client.infer("grades", [grade, size], outputs=wanted("predict", binary=binary))
    finally:
        client.close()
    got = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("predict")]
    assert got == load_model(grades_folder).predict(frame).tolist()
    assert result.get_response()["outputs"][0]["datatype"] == "BYTES"


def test_errors_are_one_message(
    client: triton.InferenceServerClient, forest_server: str, x: pd.DataFrame
) -> None:
    with pytest.raises(InferenceServerException, match="no output 'probability'") as caught:
        client.infer("forest", columns(x, binary=True),
                     outputs=wanted("probability", binary=True))  # fmt: skip
    assert caught.value.status() == "400"
    with pytest.raises(InferenceServerException, match="No model 'nope'") as caught:
        client.get_model_metadata("nope")
    assert caught.value.status() == "404"
    with pytest.raises(InferenceServerException, match="'mean area' is missing") as caught:
        client.infer("forest", columns(x.drop(columns="mean area"), binary=True))
    assert caught.value.status() == "422"
    # The body itself: {"error": "<message>"}, and the request id in the header.
    for response in (
        httpx.get(f"{forest_server}/v2/models/nope"),
        httpx.post(f"{forest_server}/v2/models/forest/infer", content=b"{oops"),
        httpx.get(f"{forest_server}/v2/models/forest/infer"),
    ):
        assert response.status_code in (400, 404, 405)
        body = response.json()
        assert set(body) == {"error"}
        assert isinstance(body["error"], str)
        assert body["error"]
        assert response.headers["x-request-id"]


def binary_request(
    x: pd.DataFrame, *, header_length: int | None = None, extra: bytes = b"", size: int = 0
) -> tuple[bytes, dict[str, str]]:
    """A two-column binary request; ``size`` overrides the second input's declared size."""
    values = [x[c].to_numpy(dtype="<f8").tobytes() for c in ("mean radius", "mean area")]
    inputs = [{"name": c, "shape": [len(x)], "datatype": "FP64",
               "parameters": {"binary_data_size": size or len(v)}}
              for c, v in zip(("mean radius", "mean area"), values, strict=True)]  # fmt: skip
    header = json.dumps({"inputs": inputs}).encode()
    length = len(header) if header_length is None else header_length
    return header + b"".join(values) + extra, {"Inference-Header-Content-Length": str(length)}


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ({"header_length": 0}, "must be the length of the JSON part"),
        ({"header_length": 10**9}, "must be the length of the JSON part"),
        ({"extra": b"\x00" * 8}, "8 bytes of binary data that no input declares"),
        ({"size": 8}, "shape needs"),
        ({"size": 10**6}, "bytes of binary data are left"),
    ],
)
def test_malformed_binary_requests_are_400(
    forest_server: str, x: pd.DataFrame, case: dict[str, Any], fragment: str
) -> None:
    body, headers = binary_request(x, **case)
    response = httpx.post(f"{forest_server}/v2/models/forest/infer", content=body,
                          headers=headers)  # fmt: skip
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]


def test_bytes_tensors_are_length_prefixed(forest_server: str) -> None:
    # One BYTES element cut short: the 4-byte length promises more than follows.
    raw = struct.pack("<I", 10) + b"abc"
    header = json.dumps({"inputs": [{"name": "grade", "shape": [1], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": len(raw)}}]})  # fmt: skip
    response = httpx.post(
        f"{forest_server}/v2/models/forest/infer", content=header.encode() + raw,
        headers={"Inference-Header-Content-Length": str(len(header))},
    )  # fmt: skip
    assert response.status_code == 400
    assert "runs past its binary data" in response.json()["error"]
