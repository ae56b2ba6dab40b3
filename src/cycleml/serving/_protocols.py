"""Request and response formats: MLflow's scoring protocol and records (v2: :mod:`._v2`).

Parsers turn a request body into a ``pandas.DataFrame`` (checked against the model's
signature afterwards) and raise :class:`~cycleml.errors.InvalidInput` with the received
shape and the accepted ones; formatters turn predictions into JSON-ready values.

MLflow (``POST /invocations``), as ``mlflow models serve`` accepts it:

* ``application/json`` with exactly one of ``dataframe_split`` (``{"columns", "data"}``),
  ``dataframe_records`` (a list of objects), ``instances`` or ``inputs`` (a list of
  objects, a list of rows, or an object of columns); ``params`` and other keys are ignored;
* ``text/csv`` with a header row;
* ``application/vnd.apache.parquet``.

The ``Content-Type`` may carry one parameter, ``charset=utf-8``: any other parameter (such
as MLflow 1's ``format=pandas-split``) or charset is refused with a 415, as MLflow does.
The response is ``{"predictions": [...]}``.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cycleml.errors import InvalidInput, UnsupportedMediaType

__all__ = [
    "MLFLOW_KEYS",
    "MLFLOW_MEDIA_TYPES",
    "content_kind",
    "frame_from_columns",
    "frame_from_records",
    "json_ready",
    "parse_invocations",
    "parse_json",
    "parse_records",
    "too_deep",
]

MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
#: The media types ``POST /invocations`` reads (those of MLflow's scoring server).
MLFLOW_MEDIA_TYPES = ("application/json", "text/csv", "application/vnd.apache.parquet")
PARQUET = "application/vnd.apache.parquet"


def parse_json(body: bytes) -> Any:
    """Decode a JSON body; malformed JSON is an :class:`InvalidInput` naming the position."""
    if not body.strip():
        raise InvalidInput("The request body is empty.", hint="Send a JSON document.")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"The request body is not valid JSON: {exc}.",
            hint="Check the JSON syntax (quotes, commas, brackets).",
        ) from exc
    except RecursionError as exc:  # the parser recurses once per level of nesting
        raise too_deep(len(body)) from exc


def too_deep(size: int) -> InvalidInput:
    """The error for a body nested deeper than the server follows (a 400, not a crash)."""
    return InvalidInput(
        f"The request body ({size:,} bytes) is nested too deeply to read: its arrays or "
        "objects go hundreds of levels deep.",
        hint="Send rows as flat records or columns; no model input needs that much nesting.",
    )


def parse_invocations(body: bytes, content_type: str | None) -> pd.DataFrame:
    """Parse an MLflow scoring request (JSON, CSV or Parquet) into a frame."""
    kind = content_kind(content_type, MLFLOW_MEDIA_TYPES)
    if kind == "text/csv":
        return _parse_csv(body)
    if kind == PARQUET:
        return _parse_parquet(body)
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise InvalidInput(
            f"Expected a JSON object with one of {', '.join(MLFLOW_KEYS)}; received a "
            f"{_kind(payload)}.",
            hint='Wrap the rows, e.g. {"dataframe_records": [{"x": 1}]}.',
        )
    keys = [k for k in MLFLOW_KEYS if k in payload]
    if len(keys) != 1:
        found = ", ".join(sorted(payload)) or "none"
        raise InvalidInput(
            f"Expected exactly one of {', '.join(MLFLOW_KEYS)} in the request; received keys: "
            f"{found}.",
            hint='Send e.g. {"dataframe_split": {"columns": ["x"], "data": [[1]]}}.',
        )
    key, value = keys[0], payload[keys[0]]
    if key == "dataframe_split":
        return _parse_split(value)
    if key == "dataframe_records":
        return frame_from_records(value, where=key)
    return _parse_instances(value, where=key)


def parse_records(payload: Any) -> pd.DataFrame:
    """Parse ``POST /predict``: ``{"records": [...]}``, a list of objects, or one object."""
    if isinstance(payload, dict) and "records" in payload:
        return frame_from_records(payload["records"], where="records")
    if isinstance(payload, dict):
        return frame_from_records([payload], where="the body")
    return frame_from_records(payload, where="the body")


def frame_from_records(records: Any, *, where: str) -> pd.DataFrame:
    """A frame from a list of JSON objects (every element must be an object)."""
    if not isinstance(records, list):
        raise InvalidInput(
            f"{where} must be a list of objects; received a {_kind(records)}.",
            hint='Send e.g. [{"x": 1.0, "y": "a"}].',
        )
    if not records:
        raise InvalidInput(f"{where} is empty: there is nothing to score.", hint="Send rows.")
    bad = next((i for i, r in enumerate(records) if not isinstance(r, dict)), None)
    if bad is not None:
        raise InvalidInput(
            f"{where}[{bad}] is a {_kind(records[bad])}, not an object.",
            hint="Every row must be an object of column: value.",
        )
    return pd.DataFrame.from_records(records)


def frame_from_columns(columns: Mapping[str, Any], *, where: str) -> pd.DataFrame:
    """A frame from ``{column: [values]}`` (equal lengths) or ``{column: value}`` (one row)."""
    if not columns:
        raise InvalidInput(f"{where} has no columns.", hint="Send at least one column.")
    if all(not isinstance(v, list) for v in columns.values()):
        return pd.DataFrame([dict(columns)])
    lengths = {k: len(v) if isinstance(v, list) else None for k, v in columns.items()}
    if len(set(lengths.values())) != 1:
        raise InvalidInput(
            f"The columns of {where} differ in length: {lengths}.",
            hint="Send the same number of values for every column.",
        )
    if next(iter(lengths.values())) == 0:
        raise InvalidInput(f"{where} is empty: there is nothing to score.", hint="Send rows.")
    return pd.DataFrame(dict(columns))


def json_ready(values: Any) -> Any:
    """Predictions as JSON values: numpy scalars become Python ones, NaN becomes ``null``."""
    if isinstance(values, pd.DataFrame):
        return [json_ready(row) for row in values.to_dict(orient="records")]
    if isinstance(values, pd.Series):
        values = values.to_numpy()
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if isinstance(values, dict):
        return {str(k): json_ready(v) for k, v in values.items()}
    if isinstance(values, list | tuple):
        return [json_ready(v) for v in values]
    if isinstance(values, np.generic):
        values = values.item()
    if isinstance(values, float) and not math.isfinite(values):
        return None
    if isinstance(values, bytes):
        return values.decode("utf-8", errors="replace")
    if values is None or isinstance(values, str | int | float | bool):
        return values
    return str(values)


def _parse_csv(body: bytes) -> pd.DataFrame:
    if not body.strip():
        raise InvalidInput("The CSV body is empty.", hint="Send a header row and data rows.")
    try:
        frame = pd.read_csv(io.BytesIO(body))
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"The CSV body cannot be parsed: {str(exc).strip()}.",
            hint="Send a header row and rows with the same number of fields.",
        ) from exc
    if frame.empty:
        raise InvalidInput("The CSV body has a header but no rows.", hint="Send data rows.")
    return frame


def _parse_parquet(body: bytes) -> pd.DataFrame:
    if not body:
        raise InvalidInput("The Parquet body is empty.", hint="Send a Parquet file.")
    try:
        frame = pd.read_parquet(io.BytesIO(body))
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InvalidInput(
            f"The body is not a readable Parquet file: {str(exc).strip()}.",
            hint="Send the bytes of a Parquet file (DataFrame.to_parquet()).",
        ) from exc
    if frame.empty:
        raise InvalidInput("The Parquet file has no rows.", hint="Send data rows.")
    return frame


def _parse_split(value: Any) -> pd.DataFrame:
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise InvalidInput(
            f'dataframe_split must be an object with "columns" and "data"; received a '
            f"{_kind(value)}.",
            hint='Send {"dataframe_split": {"columns": ["x"], "data": [[1.0]]}}.',
        )
    data, columns = value["data"], value.get("columns")
    if not data:
        raise InvalidInput("dataframe_split.data is empty: there is nothing to score.")
    if columns is not None and not (
        isinstance(columns, list) and all(isinstance(c, str) for c in columns)
    ):
        raise InvalidInput("dataframe_split.columns must be a list of strings.")
    width = len(columns) if columns is not None else None
    for i, row in enumerate(data):
        if not isinstance(row, list) or (width is not None and len(row) != width):
            raise InvalidInput(
                f"dataframe_split.data[{i}] must be a list of {width or 'the same number of'} "
                f"values; received {json.dumps(row)[:80]}.",
                hint="Give every row one value per column.",
            )
    try:
        # All-numeric rows (the common case) become one block at once: ~10x faster than
        # pandas' row-by-row inference, which matters when a request holds one row.
        values = np.asarray(data)
        if values.dtype.kind in "fiub" and values.ndim == 2:
            return pd.DataFrame(values, columns=columns)
    except (ValueError, TypeError):
        pass  # ragged or mixed rows: pandas sorts them out below
    try:
        return pd.DataFrame(data, columns=columns)
    except ValueError as exc:
        raise InvalidInput(f"dataframe_split cannot be read as a table: {exc}.") from exc


def _parse_instances(value: Any, *, where: str) -> pd.DataFrame:
    if isinstance(value, dict):
        return frame_from_columns(value, where=where)
    if not isinstance(value, list) or not value:
        raise InvalidInput(
            f"{where} must be a non-empty list or an object of columns; received "
            f"{'an empty list' if value == [] else 'a ' + _kind(value)}.",
            hint=f'Send {{"{where}": [{{"x": 1.0}}]}}.',
        )
    if all(isinstance(v, dict) for v in value):
        return frame_from_records(value, where=where)
    if all(isinstance(v, list) for v in value):
        widths = {len(v) for v in value}
        if len(widths) != 1:
            raise InvalidInput(f"The rows of {where} differ in length: {sorted(widths)}.")
        return pd.DataFrame(value, columns=[str(i) for i in range(widths.pop())])
    raise InvalidInput(
        f"{where} must hold only objects (records) or only lists (rows).",
        hint=f'Send {{"{where}": [{{"x": 1.0}}]}}.',
    )


def content_kind(content_type: str | None, accepted: tuple[str, ...]) -> str:
    """The media type of a ``Content-Type`` header, if the endpoint accepts it.

    A missing header counts as the first accepted type. As MLflow's scoring server, the one
    parameter allowed is ``charset`` and its one value ``utf-8``: a body in another charset
    or with other parameters (``format=pandas-split``, MLflow 1's orientations) would be
    misread, so it is refused. Names and values are read case-insensitively, quoted or not.

    Raises:
        UnsupportedMediaType: Another media type, parameter or charset (415).
    """
    if not content_type or not content_type.strip():
        return accepted[0]
    kind, *parameters = (part.strip() for part in content_type.split(";"))
    kind = kind.lower()
    if kind not in accepted:
        raise UnsupportedMediaType(
            f"Unsupported content type {kind!r}; this endpoint accepts {' or '.join(accepted)}.",
            hint="Set the Content-Type header.",
            details={"content_type": content_type},
        )
    for parameter in filter(None, parameters):
        name, _, value = (p.strip() for p in parameter.partition("="))
        if name.lower() != "charset":
            raise UnsupportedMediaType(
                f"Unsupported content type parameter {name!r} in {content_type!r}: the only "
                "parameter accepted is charset=utf-8.",
                hint=f"Send Content-Type: {kind} (the scoring protocol of MLflow 2 and later "
                "reads the format from the body, not from the header).",
                details={"content_type": content_type},
            )
        if value.strip("\"'").lower() != "utf-8":
            raise UnsupportedMediaType(
                f"Unsupported charset {value!r} in {content_type!r}: the body must be UTF-8.",
                hint=f"Encode the body as UTF-8 and send Content-Type: {kind}; charset=utf-8.",
                details={"content_type": content_type},
            )
    return kind


def _kind(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number" if isinstance(value, int | float) else "value")
