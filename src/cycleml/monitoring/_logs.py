"""Turn the serving stage's prediction log into flat tables the checks can read.

The log keeps each row's inputs and outputs as JSON text (one schema for every model). The
checks need columns: :func:`expand_log` parses all rows' JSON in one pass with Arrow's JSON
reader (no per-row Python) and returns the inputs as columns next to ``request_id``,
``time``, ``model_version``, ``arm``, ``prediction`` and, for classifiers, ``score`` (the
positive class's probability when there are two classes) and ``probabilities``.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from cycleml.errors import InvalidInput

__all__ = ["LOG_KEYS", "expand_log", "read_json_column"]

#: Columns of the prediction log kept beside the expanded inputs and outputs.
LOG_KEYS = ("request_id", "time", "model_name", "model_version", "arm", "latency_ms")


def read_json_column(column: pa.ChunkedArray | pa.Array, what: str) -> pa.Table:
    """A column of JSON objects (one per row; null as ``{}``) parsed into a table, one
    column per key, types inferred by Arrow's JSON reader in one pass."""
    values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    values = values.cast(pa.string())
    if len(values) == 0:
        return pa.table({})
    if values.null_count:
        values = values.fill_null("{}")
    # One newline-delimited document, joined in Arrow (JSON strings cannot hold a raw newline).
    whole = pc.binary_join(pa.ListArray.from_arrays([0, len(values)], values), "\n")[0]
    try:
        return pajson.read_json(io.BytesIO(whole.as_buffer()))
    except pa.ArrowInvalid as exc:
        raise InvalidInput(
            f"The prediction log's {what} column holds rows that are not JSON objects of one "
            f"shape: {exc}.",
            hint="Read it with cycleml.serving.prediction_log(); it writes the expected shape.",
        ) from exc


def expand_log(log: pa.Table, *, schema: pa.Schema | None = None) -> pa.Table:
    """The prediction log ``log`` with its JSON ``inputs`` and ``outputs`` as columns.

    Args:
        log: A table from :func:`cycleml.serving.prediction_log` (optionally with a
            ``label`` column from :func:`cycleml.serving.join_feedback`, kept as is).
        schema: Types to cast the input columns to (e.g. the reference's), so that a
            window where a column happens to be all integers still reads as floats.

    Returns:
        The :data:`LOG_KEYS` columns, the input columns, ``prediction``, and for
        classifiers ``probabilities`` (list of floats) and ``score`` (the probability of
        the last class when there are two, the convention of ``predict_proba[:, 1]``),
        plus ``label`` when ``log`` has one.
    """
    missing = {"inputs", "outputs"} - set(log.column_names)
    if missing:
        raise InvalidInput(
            f"Not a prediction log: the table has no {sorted(missing)} column "
            f"(columns: {log.column_names}).",
            hint="Pass the table cycleml.serving.prediction_log() returns.",
        )
    keys = [name for name in LOG_KEYS if name in log.column_names]
    out = log.select(keys)
    if log.num_rows == 0:
        return out.append_column("prediction", pa.nulls(0))
    inputs = read_json_column(log.column("inputs"), "inputs")
    for name in inputs.column_names:
        column = inputs.column(name)
        if schema is not None and name in schema.names:
            target = schema.field(name).type
            # A column that does not cast stays as read: the quality check reports it.
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                column = column.cast(target)
        if name in out.column_names:
            name = f"input_{name}"  # an input named like a log key keeps its values
        out = out.append_column(name, column)
    outputs = read_json_column(log.column("outputs"), "outputs")
    if "prediction" in outputs.column_names:
        out = out.append_column("prediction", outputs.column("prediction"))
    else:
        out = out.append_column("prediction", pa.nulls(log.num_rows))
    if "probabilities" in outputs.column_names:
        proba = outputs.column("probabilities")
        out = out.append_column("probabilities", proba)
        widths = pc.list_value_length(proba).to_numpy(zero_copy_only=False)
        if len(widths) and np.all(widths == 2):
            flat = pc.list_flatten(proba).to_numpy(zero_copy_only=False).astype(np.float64)
            out = out.append_column("score", pa.array(flat[1::2]))
    if "label" in log.column_names:
        out = out.append_column("label", log.column("label"))
    return out
