"""The Open Inference Protocol v2 (KServe, Triton): tensors in, tensors out.

An infer request is JSON, or, with the *binary tensor data* extension that Triton's
clients use by default, a JSON header followed by raw tensor bytes: the header's length is
in ``Inference-Header-Content-Length``, and each input sent that way says how many bytes it
takes (``parameters.binary_data_size``), in the order of the inputs. The answer follows the
same rules: an output asked for with ``parameters.binary_data`` (or every output, when the
request sets ``parameters.binary_data_output``) comes as bytes after the JSON header.
Binary data is little-endian and row-major; a ``BYTES`` element is a 4-byte length, then
its UTF-8 bytes.

Inputs are columns: one tensor per signature column (shape ``[n]`` or ``[n, 1]``), or a
single ``[n, k]`` tensor holding the ``k`` columns in the signature's order. Outputs are
fixed per model by :func:`output_specs`, which both the model metadata and every infer
answer use, so the datatypes they declare always agree:

* ``predict``: the predictions, typed by the signature's output column (``int`` ->
  ``INT64``, ``float`` or a nullable ``int`` -> ``FP64``, ``bool`` -> ``BOOL``, text and
  the rest -> ``BYTES``); several output columns are one ``[n, k]`` tensor when they share a
  type, else one tensor per column, named after it. Without an output signature, a
  classifier's predictions take the type of its classes and other models' are ``BYTES``.
* ``predict_proba`` (classifiers): ``FP64`` of shape ``[n, classes]``.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cycleml.errors import CycleMLError, InvalidInput
from cycleml.serving._protocols import json_ready, parse_json

if TYPE_CHECKING:
    from cycleml.serving._scoring import ServedModel

__all__ = [
    "BINARY_HEADER",
    "EXTENSIONS",
    "V2_DATATYPES",
    "InferRequest",
    "OutputSpec",
    "encode_outputs",
    "model_metadata",
    "output_specs",
    "parse_infer",
    "parse_v2_inputs",
    "v2_datatype",
]

#: The header that gives the length of the JSON part of a binary request or answer.
BINARY_HEADER = "Inference-Header-Content-Length"
#: The protocol extensions this server supports (``GET /v2``).
EXTENSIONS = ("binary_tensor_data",)
#: Open Inference Protocol v2 tensor datatypes and their numpy types (``BYTES``: text).
V2_DATATYPES: dict[str, type[Any]] = {
    "BOOL": np.bool_, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
    "UINT64": np.uint64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
    "BYTES": np.object_,
}  # fmt: skip
_BY_COLUMN_TYPE = {"int": "INT64", "float": "FP64", "bool": "BOOL"}
_LENGTH = struct.Struct("<I")


def v2_datatype(values: np.ndarray) -> str:
    """The v2 datatype of an array (``BYTES`` for strings and objects)."""
    kind = values.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind in "iu":
        return f"{'U' if kind == 'u' else ''}INT{values.dtype.itemsize * 8}"
    if kind == "f":
        return f"FP{values.dtype.itemsize * 8}"
    return "BYTES"


# ---- what a model takes and returns ------------------------------------------------------
@dataclass(frozen=True)
class OutputSpec:
    """One output tensor of a model: its name, datatype and shape (-1: any size)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    #: The prediction columns it holds, by name and position (none: all of them).
    columns: tuple[str, ...] = ()
    positions: tuple[int, ...] = ()

    def metadata(self) -> dict[str, Any]:
        """The tensor as model metadata lists it."""
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


def output_specs(model: ServedModel) -> list[OutputSpec]:
    """The output tensors of ``model``, which its metadata declares and infer returns."""
    signature = model.model.signature
    columns = signature.outputs if signature is not None else None
    specs: list[OutputSpec]
    if columns:
        types = [
            "FP64" if c.type == "int" and c.nullable else _BY_COLUMN_TYPE.get(c.type, "BYTES")
            for c in columns
        ]
        names = tuple(c.name for c in columns)
        if len(columns) == 1:
            specs = [OutputSpec("predict", types[0], (-1,))]
        elif len(set(types)) == 1:
            specs = [OutputSpec("predict", types[0], (-1, len(columns)), names,
                                tuple(range(len(columns))))]  # fmt: skip
        else:
            specs = [OutputSpec(name, t, (-1,), (name,), (j,))
                     for j, (name, t) in enumerate(zip(names, types, strict=True))]  # fmt: skip
    elif model.is_classifier and model.model.classes:
        specs = [OutputSpec("predict", v2_datatype(np.asarray(model.model.classes)), (-1,))]
    else:
        specs = [OutputSpec("predict", "BYTES", (-1,))]
    if model.is_classifier:
        count = len(model.model.classes) if model.model.classes else -1
        specs.append(OutputSpec("predict_proba", "FP64", (-1, count)))
    return specs


def model_metadata(model: ServedModel) -> dict[str, Any]:
    """``GET /v2/models/{name}``: the model's inputs and outputs as tensors."""
    signature = model.model.signature
    inputs = [] if signature is None else [
        {"name": c.name, "shape": [-1],
         "datatype": _BY_COLUMN_TYPE.get(c.type, "BYTES")}
        for c in signature.inputs
    ]  # fmt: skip
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": f"cycleml-{model.model.flavor}",
        "inputs": inputs,
        "outputs": [spec.metadata() for spec in output_specs(model)],
    }


# ---- requests ----------------------------------------------------------------------------
@dataclass(frozen=True)
class InferRequest:
    """A parsed infer request: the rows, and which outputs to return, binary or not."""

    id: str | None
    frame: pd.DataFrame
    outputs: list[tuple[OutputSpec, bool]]


def parse_infer(body: bytes, header_length: str | None, model: ServedModel) -> InferRequest:
    """Parse an infer request (JSON, or JSON and binary tensors) for ``model``.

    Args:
        body: The request body.
        header_length: The ``Inference-Header-Content-Length`` header, if sent.
        model: The model the request is for (its signature and outputs).

    Raises:
        InvalidInput: A malformed request, tensor or output list (400).
    """
    header, binary = _split_body(body, header_length)
    payload = parse_json(header)
    signature = model.model.signature
    frame = parse_v2_inputs(payload, None if signature is None else signature.input_names,
                            binary=binary)  # fmt: skip
    given = payload.get("id")
    return InferRequest(
        id=given if isinstance(given, str) else None,
        frame=frame,
        outputs=_requested(payload, output_specs(model), model.name),
    )


def _split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    text = header_length.strip()
    if not text.isdigit() or not 0 < int(text) <= len(body):
        raise InvalidInput(
            f"The {BINARY_HEADER} header is {header_length!r}, but the body has {len(body):,} "
            "bytes: it must be the length of the JSON part, between 1 and the body's length.",
            hint="Send the JSON header first, then the binary tensors, and its byte length "
            "in the header.",
        )
    return body[: int(text)], body[int(text) :]


def parse_v2_inputs(
    payload: Any, input_names: Sequence[str] | None, *, binary: bytes = b""
) -> pd.DataFrame:
    """The rows of an infer request: one column per input tensor, or one ``[n, k]`` tensor.

    ``binary`` holds the bytes of the inputs sent with ``parameters.binary_data_size``.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise InvalidInput(
            f'Expected an object with an "inputs" list; received a {_kind(payload)}'
            + (f" with keys {sorted(payload)}" if isinstance(payload, dict) else "")
            + ".",
            hint='Send {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", '
            '"data": [1.0]}]}.',
        )
    tensors = payload["inputs"]
    if not tensors:
        raise InvalidInput("The request has no inputs.", hint="Send at least one input tensor.")
    reader = _BinaryReader(binary)
    decoded = [_tensor(tensor, position, reader) for position, tensor in enumerate(tensors)]
    reader.done()
    names = [name for name, _ in decoded]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise InvalidInput(f"The request names the inputs {twice} more than once.")
    if len(decoded) == 1 and decoded[0][1].ndim == 2 and decoded[0][1].shape[1] != 1:
        name, values = decoded[0]
        if not input_names or values.shape[1] != len(input_names):
            expected = len(input_names) if input_names else "as many as the signature's"
            raise InvalidInput(
                f"Input {name!r} has shape {list(values.shape)}; a 2-D input must hold "
                f"{expected} columns, in the signature's order.",
                hint="Send one tensor per column, each of shape [n].",
            )
        return pd.DataFrame({c: values[:, j] for j, c in enumerate(input_names)})
    lengths = {name: len(values) for name, values in decoded}
    for name, values in decoded:
        if values.ndim == 2 and values.shape[1] != 1:
            raise InvalidInput(
                f"Input {name!r} has shape {list(values.shape)}; a 2-D input must be the only one.",
                hint="Send one tensor per column, each of shape [n] or [n, 1].",
            )
    if len(set(lengths.values())) != 1:
        raise InvalidInput(
            f"The inputs differ in length: {lengths}.",
            hint="Send the same number of values for every column.",
        )
    return pd.DataFrame({name: values.reshape(-1) for name, values in decoded})


def _tensor(tensor: Any, position: int, reader: _BinaryReader) -> tuple[str, np.ndarray]:
    where = f"inputs[{position}]"
    if not isinstance(tensor, dict):
        raise InvalidInput(f"{where} must be an object; received a {_kind(tensor)}.")
    name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{where} needs a string name.")
    where = f"input {name!r}"
    if not isinstance(shape, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
    ):
        raise InvalidInput(f"{where}: shape must be a list of non-negative integers.")
    if len(shape) not in (1, 2):
        raise InvalidInput(
            f"{where} has shape {shape}: inputs are columns, of shape [n], [n, 1] or [n, k].",
        )
    if datatype not in V2_DATATYPES:
        raise InvalidInput(
            f"{where}: datatype {datatype!r} is not one this server reads; use one of "
            f"{', '.join(V2_DATATYPES)}.",
            hint="Send BF16 data as FP32." if datatype == "BF16" else None,
        )
    if shape[0] == 0:
        raise InvalidInput(f"{where} is empty: there is nothing to score.")
    count = math.prod(shape)
    parameters = tensor.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidInput(f"{where}: parameters must be an object.")
    size = parameters.get("binary_data_size")
    if size is not None:
        if "data" in tensor:
            raise InvalidInput(f"{where} has both data and binary_data_size: send one.")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidInput(f"{where}: binary_data_size must be a non-negative integer.")
        values = _from_binary(reader.take(size, where), datatype, count, where)
    else:
        data = tensor.get("data")
        if not isinstance(data, list):
            raise InvalidInput(
                f"{where}: data must be a list; received a {_kind(data)}.",
                hint="Or send the tensor as binary data (parameters.binary_data_size).",
            )
        values = _from_json(_flatten(data, len(shape), where), datatype, where)
    if len(values) != count:
        raise InvalidInput(
            f"{where} has shape {shape} but {len(values)} values.",
            hint="Send shape [n] (one column) or [n, k] with n*k values.",
        )
    return name, values.reshape(shape)


def _flatten(data: list[Any], depth: int, where: str) -> list[Any]:
    """``data`` flat, nested at most ``depth`` lists deep (row-major, as the shape says)."""
    flat = data
    for _ in range(depth):
        if not any(isinstance(v, list) for v in flat):
            return flat
        if not all(isinstance(v, list) for v in flat):
            raise InvalidInput(f"{where}: data mixes values and lists.")
        flat = [v for row in flat for v in row]
    if any(isinstance(v, list | dict) for v in flat):
        raise InvalidInput(f"{where}: data is nested deeper than its shape.")
    return flat


def _from_json(values: list[Any], datatype: str, where: str) -> np.ndarray:
    if datatype == "BYTES":
        if any(isinstance(v, dict) for v in values):
            raise InvalidInput(f"{where}: BYTES data must be strings.")
        return np.array(values, dtype=object)
    if datatype == "BOOL":
        ok = all(isinstance(v, bool) for v in values)
    elif datatype.startswith(("INT", "UINT")):
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    else:  # null is NaN here; the signature says whether the column allows it
        ok = all(v is None or (isinstance(v, int | float) and not isinstance(v, bool))
                 for v in values)  # fmt: skip
    if not ok:
        bad = next(v for v in values if not _fits(v, datatype))
        raise InvalidInput(
            f"{where}: the value {json.dumps(bad)[:40]} is not {datatype} data.",
            hint=f"Send {_expected(datatype)}, or declare the tensor's datatype accordingly.",
        )
    kind = V2_DATATYPES[datatype]
    try:
        array = np.array([math.nan if v is None else v for v in values], dtype=kind)
    except OverflowError as exc:
        raise InvalidInput(f"{where}: a value does not fit {datatype}: {exc}.") from exc
    return array


def _fits(value: Any, datatype: str) -> bool:
    if datatype == "BOOL":
        return isinstance(value, bool)
    if datatype.startswith(("INT", "UINT")):
        return isinstance(value, int) and not isinstance(value, bool)
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _expected(datatype: str) -> str:
    if datatype == "BOOL":
        return "true or false"
    return "integers" if datatype.startswith(("INT", "UINT")) else "numbers"


def _from_binary(raw: bytes, datatype: str, count: int, where: str) -> np.ndarray:
    if datatype == "BYTES":
        items, offset = [], 0
        while offset < len(raw):
            if offset + 4 > len(raw):
                raise InvalidInput(f"{where}: its binary BYTES data ends inside a length.")
            (length,) = _LENGTH.unpack_from(raw, offset)
            offset += 4
            if offset + length > len(raw):
                raise InvalidInput(f"{where}: a BYTES element runs past its binary data.")
            try:
                items.append(raw[offset : offset + length].decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise InvalidInput(f"{where}: a BYTES element is not UTF-8 text: {exc}.") from exc
            offset += length
        return np.array(items, dtype=object)
    dtype = np.dtype(V2_DATATYPES[datatype]).newbyteorder("<")
    if len(raw) != count * dtype.itemsize:
        raise InvalidInput(
            f"{where}: {len(raw)} bytes of binary data, but its shape needs {count} {datatype} "
            f"values ({count * dtype.itemsize} bytes).",
        )
    if datatype == "BOOL":
        flags = np.frombuffer(raw, dtype=np.uint8)
        if (flags > 1).any():
            raise InvalidInput(f"{where}: BOOL bytes must be 0 or 1.")
        return flags.astype(bool)
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="))


class _BinaryReader:
    """Hands out the binary part of a request, input by input."""

    def __init__(self, data: bytes) -> None:
        self.data, self.offset = data, 0

    def take(self, size: int, where: str) -> bytes:
        if self.offset + size > len(self.data):
            raise InvalidInput(
                f"{where} declares binary_data_size {size}, but only "
                f"{len(self.data) - self.offset} bytes of binary data are left.",
                hint=f"Check the sizes and the {BINARY_HEADER} header.",
            )
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def done(self) -> None:
        left = len(self.data) - self.offset
        if left:
            raise InvalidInput(
                f"The request has {left} bytes of binary data that no input declares.",
                hint="Give every binary input its binary_data_size.",
            )


def _requested(
    payload: dict[str, Any], specs: list[OutputSpec], model: str
) -> list[tuple[OutputSpec, bool]]:
    """The outputs to return, each with whether it goes as binary data."""
    parameters = payload.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidInput("The request's parameters must be an object.")
    binary_default = parameters.get("binary_data_output", False)
    if not isinstance(binary_default, bool):
        raise InvalidInput("The parameter binary_data_output must be true or false.")
    asked = payload.get("outputs")
    if not asked:  # absent (or empty): every output, as the protocol says
        return [(spec, binary_default) for spec in specs]
    if not isinstance(asked, list):
        raise InvalidInput(f"outputs must be a list; received a {_kind(asked)}.")
    by_name = {spec.name: spec for spec in specs}
    chosen: list[tuple[OutputSpec, bool]] = []
    for i, output in enumerate(asked):
        name = output.get("name") if isinstance(output, dict) else None
        if not isinstance(name, str):
            raise InvalidInput(f'outputs[{i}] must be an object with a string "name".')
        if name not in by_name:
            raise InvalidInput(
                f"Model {model!r} has no output {name!r}; its outputs are {sorted(by_name)}.",
                hint="GET /v2/models/<name> lists them.",
            )
        if any(spec.name == name for spec, _ in chosen):
            raise InvalidInput(f"The output {name!r} is asked for twice.")
        options = output.get("parameters") or {}
        if not isinstance(options, dict):
            raise InvalidInput(f"The parameters of output {name!r} must be an object.")
        if options.get("classification"):
            raise InvalidInput(
                f"Output {name!r}: the classification extension is not supported.",
                hint="Ask for predict_proba and take the top classes from it.",
            )
        binary = options.get("binary_data", binary_default)
        if not isinstance(binary, bool):
            raise InvalidInput(f"Output {name!r}: binary_data must be true or false.")
        chosen.append((by_name[name], binary))
    return chosen


# ---- answers -----------------------------------------------------------------------------
def encode_outputs(
    outputs: list[tuple[OutputSpec, bool]], predictions: Any, probabilities: Any
) -> tuple[list[dict[str, Any]], bytes]:
    """The output tensors of an answer, and the binary data of those sent as bytes.

    Each tensor is cast to its spec's datatype, so infer answers what the metadata says.

    Raises:
        CycleMLError: The model returned values its output signature does not allow (500).
    """
    tensors, chunks = [], []
    for spec, binary in outputs:
        if spec.name == "predict_proba":
            values = np.asarray(probabilities, dtype=np.float64)
        else:
            values = _prediction_values(spec, predictions)
        typed = _cast(values, spec)
        tensor: dict[str, Any] = {"name": spec.name, "datatype": spec.datatype,
                                  "shape": list(typed.shape)}  # fmt: skip
        if binary:
            raw = _to_binary(typed, spec.datatype)
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            tensor["data"] = json_ready(typed.reshape(-1))
        tensors.append(tensor)
    return tensors, b"".join(chunks)


def _prediction_values(spec: OutputSpec, predictions: Any) -> np.ndarray:
    """The prediction columns ``spec`` holds, as an array of its rank."""
    if isinstance(predictions, pd.DataFrame):
        frame = predictions
        if spec.columns:
            named = all(c in frame.columns for c in spec.columns)
            frame = frame[list(spec.columns)] if named else frame.iloc[:, list(spec.positions)]
        values = frame.to_numpy()
    else:
        values = np.asarray(predictions)
        if values.ndim == 2 and spec.positions and len(spec.positions) < values.shape[1]:
            values = values[:, list(spec.positions)]
    if len(spec.shape) == 1 and values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    return values


def _cast(values: np.ndarray, spec: OutputSpec) -> np.ndarray:
    """``values`` as ``spec`` declares them (its datatype and rank), or a 500 saying why not."""
    if values.ndim != len(spec.shape) or any(
        want not in (-1, got) for want, got in zip(spec.shape, values.shape, strict=True)
    ):
        raise CycleMLError(
            f"The model returned predictions of shape {list(values.shape)} for output "
            f"{spec.name!r}, which its metadata declares as {list(spec.shape)}.",
            hint="The model's output signature does not match what it predicts; save the "
            "model again with an input example so the signature is inferred.",
        )
    if spec.datatype == "BYTES":
        return np.array([None if v is None else _text(v) for v in values.reshape(-1)],
                        dtype=object).reshape(values.shape)  # fmt: skip
    kind = np.dtype(V2_DATATYPES[spec.datatype])
    try:
        with np.errstate(invalid="ignore"):  # NaN to int: caught by the check below
            cast = values.astype(kind)
        if kind.kind in "iub" and values.dtype.kind not in "iub":
            exact = values.astype(np.float64) == cast.astype(np.float64)
            if not exact.all():
                raise ValueError(f"not every value is a {spec.datatype}")
    except (TypeError, ValueError) as exc:
        raise CycleMLError(
            f"The model returned {values.dtype} values for output {spec.name!r}, which its "
            f"metadata declares as {spec.datatype}: {exc}.",
            hint="The model's output signature does not match what it predicts; save the "
            "model again with an input example so the signature is inferred.",
        ) from exc
    return cast


def _text(value: Any) -> str:
    ready = json_ready(value)
    return ready if isinstance(ready, str) else json.dumps(ready)


def _to_binary(values: np.ndarray, datatype: str) -> bytes:
    if datatype == "BYTES":
        parts = []
        for value in values.reshape(-1):
            encoded = b"" if value is None else str(value).encode("utf-8")
            parts.append(_LENGTH.pack(len(encoded)) + encoded)
        return b"".join(parts)
    if datatype == "BOOL":
        return values.astype(np.uint8).tobytes()
    return np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<")).tobytes()


def _kind(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number" if isinstance(value, int | float) else "value")
