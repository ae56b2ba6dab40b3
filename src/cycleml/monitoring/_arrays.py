"""Tables of predictions as numpy arrays: the input side of performance, CBPE and fairness.

:func:`prediction_arrays` reads a pandas, polars or Arrow table, a mapping of columns or a
dataset version (``datasets:/name/3``), including a prediction-log table joined to its
labels, whose predictions and probabilities sit in the ``outputs`` JSON and other columns in
the ``inputs`` JSON (parsed and typed by Arrow's JSON reader), and returns the aligned arrays of
:class:`PredictionArrays`.

It lives apart from :mod:`cycleml.monitoring._performance` because
:func:`~cycleml.monitoring.performance`, :func:`~cycleml.monitoring.estimate_performance`
and :func:`~cycleml.monitoring.fairness` all read their data through it, and they share the
small helpers here too: :func:`read_table`, :func:`sorted_unique` (the classes of labels)
and :func:`plain` (JSON-ready values for reports).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from cycleml.errors import InvalidInput
from cycleml.monitoring._inputs import as_table
from cycleml.monitoring._logs import read_json_column

__all__ = ["PredictionArrays", "prediction_arrays"]

Array = npt.NDArray[Any]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

_JOIN_HINT = (
    "Join labels to the prediction log with cycleml.serving.join_feedback(log, labels), or "
    "name the columns with label_column=, prediction_column=, score_column=."
)


# ---- tables and arrays ---------------------------------------------------------------------
def read_table(data: Any) -> pa.Table:
    """Arrow table from anything :func:`cycleml.monitoring.reference` reads (pandas, polars,
    Arrow, a Parquet path, a dataset version) or a mapping of columns."""
    if isinstance(data, Mapping):
        import pandas as pd

        try:
            return pa.Table.from_pandas(pd.DataFrame(dict(data)), preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
            raise InvalidInput(
                f"Cannot read the table: {exc}", hint="Give each column one type."
            ) from exc
    return as_table(data)


def _lookup(
    table: pa.Table, name: str, sources: Sequence[str], parsed: dict[str, pa.Table]
) -> pa.ChunkedArray | None:
    """Column ``name``, else the key ``name`` of the first JSON column of ``sources`` with it
    (each JSON column parsed once per call of :func:`prediction_arrays`, into ``parsed``)."""
    if name in table.column_names:
        column = table.column(name)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        return column
    for source in sources:
        if source in table.column_names:
            if source not in parsed:
                parsed[source] = read_json_column(table.column(source), source)
            values = parsed[source]
            if name in values.column_names and not pa.types.is_null(values.schema.field(name).type):
                return values.column(name)
    return None


def _present(column: pa.ChunkedArray) -> Bools:
    """True where a value is present (not null, not NaN)."""
    mask = pc.is_valid(column)
    if pa.types.is_floating(column.type):
        mask = pc.and_kleene(mask, pc.invert(pc.is_nan(column)))
    return np.asarray(mask.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _values(column: pa.ChunkedArray) -> Array:
    """Values as numpy with the column's type kept; missing entries hold a filler value."""
    if column.null_count:
        valid = column.drop_null()
        if len(valid):
            column = column.fill_null(valid[0])
    return np.asarray(column.to_numpy())


def _matrix(column: pa.ChunkedArray, name: str) -> tuple[Floats, Bools]:
    """A list column (one probability per class) as an ``(n, k)`` matrix and its row mask."""
    array = column.combine_chunks()
    if not (
        pa.types.is_list(array.type)
        or pa.types.is_large_list(array.type)
        or pa.types.is_fixed_size_list(array.type)
    ):
        raise InvalidInput(f"Score column {name!r} holds {array.type}, not lists of numbers.")
    lengths = np.asarray(pc.list_value_length(array).fill_null(0).to_numpy(zero_copy_only=False))
    valid = np.asarray(pc.is_valid(array).to_numpy(zero_copy_only=False), dtype=bool)
    valid &= lengths > 0
    sizes = np.unique(lengths[valid])
    if sizes.size > 1:
        raise InvalidInput(
            f"Score column {name!r} has lists of {sizes.tolist()} probabilities; every row "
            "must hold one probability per class."
        )
    k = int(sizes[0]) if sizes.size else 0
    out = np.full((len(array), k), np.nan)
    if k:
        flat = pc.list_flatten(array).cast(pa.float64()).to_numpy(zero_copy_only=False)
        out[valid] = np.asarray(flat, dtype=float).reshape(-1, k)
    return out, valid & ~np.isnan(out).any(axis=1)


def _numbers(column: pa.ChunkedArray, name: str) -> Floats:
    try:
        return np.asarray(column.cast(pa.float64()).to_numpy(), dtype=float)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInput(f"Score column {name!r} must hold numbers, not {column.type}.") from exc


def _time_ms(column: pa.ChunkedArray, name: str) -> npt.NDArray[np.int64]:
    """Epoch milliseconds from timestamps, dates, epoch-ms integers or ISO-8601 strings."""
    kind = column.type
    try:
        if pa.types.is_timestamp(kind):
            column = column.cast(pa.timestamp("ms", tz=kind.tz), safe=False)
        elif pa.types.is_date(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind):
            column = column.cast(pa.timestamp("ms", tz="UTC"))
        elif pa.types.is_floating(kind):
            column = pc.floor(column)
        elif not pa.types.is_integer(kind):
            raise InvalidInput(f"Time column {name!r} holds {kind}, not times.")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInput(
            f"Time column {name!r} cannot be read as times: {exc}",
            hint="Use timestamps, epoch milliseconds or ISO-8601 strings.",
        ) from exc
    if column.null_count:
        raise InvalidInput(
            f"Time column {name!r} has {column.null_count} missing values.",
            hint="Drop or fill those rows, or pass time_column=None (window None or a count).",
        )
    return np.asarray(column.cast(pa.int64()).to_numpy(), dtype=np.int64)


@dataclass(frozen=True)
class PredictionArrays:
    """Arrays of one table of predictions, aligned by row (see :func:`prediction_arrays`).

    Attributes:
        y_true: Labels (``None`` without a label column); missing ones hold a filler value.
        labelled: True where a label is present.
        y_pred: Predicted labels or values (``None`` without a prediction column).
        predicted: True where a prediction is present.
        y_score: A 1-D score of the positive class, or an ``(n, k)`` probability matrix.
        scored: True where the row's score(s) are present.
        score_classes: The classes the matrix's columns follow when the data names them
            (``proba_<class>`` columns), else ``None``.
        time: Epoch milliseconds (``None`` without a time column).
        columns: The other requested columns, such as sensitive attributes.
    """

    y_true: Array | None
    labelled: Bools
    y_pred: Array | None
    predicted: Bools
    y_score: Floats | None
    scored: Bools
    score_classes: tuple[Any, ...] | None
    time: npt.NDArray[np.int64] | None
    columns: Mapping[str, Array] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Number of rows."""
        return int(self.labelled.shape[0])


def _score_columns(table: pa.Table, score_column: str | Sequence[str] | None) -> Any:
    """The score column(s) to use: given, or found (``probabilities``, ``proba_*`` columns)."""
    if score_column is not None:
        return score_column
    if "probabilities" in table.column_names:
        return "probabilities"
    proba = [c for c in table.column_names if c.startswith("proba_")]
    if proba:
        return proba
    if "outputs" in table.column_names:
        return "probabilities"
    return None


def _suffix_classes(names: Sequence[str], like: Array | None) -> list[Any]:
    """``proba_<class>`` suffixes converted to the labels' type."""
    suffixes = [n[len("proba_") :] for n in names]
    kind = like.dtype.kind if like is not None else "U"
    try:
        if kind in "iu":
            return [int(s) for s in suffixes]
        if kind == "f":
            return [float(s) for s in suffixes]
        if kind == "b":
            return [s == "True" for s in suffixes]
    except ValueError as exc:
        raise InvalidInput(
            f"Score columns {list(names)} do not name classes of the labels' type ({exc}).",
            hint="Pass score_column= in class order and classes=.",
        ) from exc
    return suffixes


def prediction_arrays(
    data: Any,
    *,
    label_column: str | None = "label",
    prediction_column: str | None = "prediction",
    score_column: str | Sequence[str] | None = None,
    time_column: str | None = "time",
    columns: Sequence[str] = (),
    arms: Sequence[str] | None = None,
    scores: bool = True,
) -> PredictionArrays:
    """Turn a table of predictions (a joined prediction log or any table) into numpy arrays.

    A prediction-log table (:data:`cycleml.serving.PREDICTION_LOG_SCHEMA` joined to labels by
    :func:`cycleml.serving.join_feedback`) keeps the prediction and the class probabilities
    in the ``outputs`` JSON and the model inputs in the ``inputs`` JSON: a name that is not a
    column is read from ``outputs`` (prediction, probabilities) or ``inputs`` (anything
    else, such as a sensitive attribute), typed by Arrow's JSON reader. The log's shadow
    rows are left out unless ``arms`` asks for them (shadow predictions were never served,
    and they repeat the request ids of the served rows).

    Args:
        data: A pandas/polars/Arrow table, a mapping of columns, or a dataset version.
        label_column: The labels; ``None`` for none. Given but absent: an error.
        prediction_column: Predicted labels or values; ``None`` for none. Absent: an error.
        score_column: A numeric column (score of the positive class), a list column (one
            probability per class), or several numeric columns (one per class, in class
            order). Default: a ``probabilities`` column or JSON key, or ``proba_<class>``
            columns (batch scoring's output, their classes read from the names), else none.
        time_column: The event time (timestamps, epoch ms, ISO strings); absent: ``None``.
        columns: Further columns (or ``inputs`` JSON keys) to return in ``columns``, with
            missing values kept as ``None`` (or NaN in numeric columns).
        arms: Keep the log's rows of these arms (``primary``, ``canary``, ``shadow``).
        scores: False to read no scores at all (``score_column`` is then ignored).

    Raises:
        InvalidInput: A named column is missing or holds values of the wrong type.
    """
    table = read_table(data)
    if arms is not None or ("arm" in table.column_names and "outputs" in table.column_names):
        if "arm" not in table.column_names:
            raise InvalidInput("arms= filters the prediction log's arm column; the data has none.")
        keep = list(arms) if arms is not None else ["primary", "canary"]
        chosen_arms = pc.is_in(table.column("arm"), value_set=pa.array(keep, pa.string()))
        table = table.filter(pc.fill_null(chosen_arms, False))

    parsed: dict[str, pa.Table] = {}  # JSON columns of a prediction log, parsed once

    def required(name: str, what: str, sources: Sequence[str]) -> pa.ChunkedArray:
        found = _lookup(table, name, sources, parsed)
        if found is None:
            raise InvalidInput(
                f"The data has no {what} column {name!r} (columns: {table.column_names}).",
                hint=_JOIN_HINT,
            )
        return found

    n = table.num_rows
    nothing = np.zeros(n, dtype=bool)
    y_true = y_pred = None
    labelled = predicted = nothing
    if label_column is not None:
        found = required(label_column, "label", ())
        y_true, labelled = _values(found), _present(found)
    if prediction_column is not None:
        found = required(prediction_column, "prediction", ("outputs",))
        y_pred, predicted = _values(found), _present(found)
    y_score, scored, score_classes = None, nothing, None
    chosen = _score_columns(table, score_column) if scores else None
    if isinstance(chosen, str):
        found = _lookup(table, chosen, ("outputs",), parsed)
        if found is None and score_column is not None:
            raise InvalidInput(
                f"The data has no score column {chosen!r} (columns: {table.column_names}).",
                hint=_JOIN_HINT,
            )
        if found is not None and pa.types.is_null(found.type):
            found = None
        if found is not None and (
            pa.types.is_list(found.type)
            or pa.types.is_large_list(found.type)
            or pa.types.is_fixed_size_list(found.type)
        ):
            y_score, scored = _matrix(found, chosen)
        elif found is not None:
            y_score = _numbers(found, chosen)
            scored = ~np.isnan(y_score)
    elif chosen is not None:
        names = list(chosen)
        if score_column is None:  # proba_<class> columns, put in class order
            found_classes = _suffix_classes(names, y_true if y_true is not None else y_pred)
            order = sorted(range(len(names)), key=found_classes.__getitem__)
            names = [names[i] for i in order]
            score_classes = tuple(found_classes[i] for i in order)
        stacked = [_numbers(required(c, "score", ("outputs",)), c) for c in names]
        y_score = (
            (np.column_stack(stacked) if len(stacked) > 1 else stacked[0]) if stacked else None
        )
        if y_score is not None:
            scored = np.asarray(~np.isnan(y_score.reshape(n, -1)).any(axis=1), dtype=bool)
    times = None
    if time_column is not None and time_column in table.column_names:
        times = _time_ms(table.column(time_column), time_column)
    extra = {  # missing values stay missing (None or NaN)
        c: np.asarray(required(c, "input", ("inputs",)).to_numpy()) for c in columns
    }
    return PredictionArrays(
        y_true, labelled, y_pred, predicted, y_score, scored, score_classes, times, extra
    )


# ---- shared helpers ------------------------------------------------------------------------
def sorted_unique(values: Array) -> list[Any]:
    """The distinct values, sorted, as Python scalars (the classes of labels)."""
    try:
        return [v.item() if isinstance(v, np.generic) else v for v in np.unique(values)]
    except TypeError as exc:
        raise InvalidInput(
            f"Labels and predictions mix types that cannot be ordered ({exc}).",
            hint="Give labels and predictions one type (or pass classes=).",
        ) from exc


def plain(value: Any) -> Any:
    """A JSON-ready value: NaN and infinities as ``None``, numpy scalars as Python ones."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
