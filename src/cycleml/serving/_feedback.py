"""Ground truth that arrives after the prediction: store it, read it, join it to the log.

Labels are append-only in the metadata store. A request id labelled twice keeps both rows;
readers (:func:`feedback`, :func:`join_feedback`) take the *latest* label: the one with the
greatest ``time``, and of equal times the one recorded last. So a correction is simply a
new label, and a backfill with older times does not override a newer label.

A label whose request id matches no row of the prediction log is kept all the same, and
reported (:attr:`RecordedFeedback.unknown`): the log is written in batches (every 2 s or
10,000 rows), by every server process of the deployment on its own, so a label can arrive
before its prediction's row is written, and the monitoring stage joins labels by request id
whenever it reads them. A label that never finds its prediction is simply never joined.

``label`` is any JSON value. In Arrow results its type is inferred from the values (int64,
double, string, bool, struct...); labels of mixed types come back as JSON strings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from cycleml.errors import InvalidInput, StoreError
from cycleml.serving._predlog import PREDICTION_LOG_SCHEMA, TIME_TYPE, _local_path, _open, to_ms
from cycleml.serving._repository import DeploymentRepository, open_deployment_repository
from cycleml.settings import Settings
from cycleml.store import ArtifactStore, Database
from cycleml.time import TimeLike
from cycleml.time import to_ms as time_ms

__all__ = ["RecordedFeedback", "feedback", "join_feedback", "record_feedback"]

_HINT = "Pass records with a request_id and a label column (and optionally a time)."
#: Deeper labels are refused: a label is a class, a number or a small structure.
MAX_LABEL_DEPTH = 32


class RecordedFeedback(int):
    """How many labels were stored (it *is* that ``int``), and which request ids are unknown.

    Attributes:
        unknown: The request ids, in the order given, that match no row of the deployment's
            prediction log written so far. Their labels are stored too: they join their
            prediction as soon as its row is written (see the module docstring).
    """

    unknown: tuple[str, ...]

    def __new__(cls, count: int, unknown: Sequence[str] = ()) -> RecordedFeedback:
        recorded = super().__new__(cls, count)
        recorded.unknown = tuple(unknown)
        return recorded

    def __repr__(self) -> str:
        return f"RecordedFeedback({int(self)}, unknown={list(self.unknown)!r})"


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as Python values (what JSON can hold)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _read_file(path: Path) -> pa.Table:
    if not path.is_file():
        raise InvalidInput(f"Cannot read feedback from {str(path)!r}: no such file.", hint=_HINT)
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            import pyarrow.csv as pacsv

            return pacsv.read_csv(
                path,
                convert_options=pacsv.ConvertOptions(column_types={"request_id": pa.string()}),
            )
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InvalidInput(f"Cannot read feedback from {str(path)!r}: {exc}", hint=_HINT) from exc
    raise InvalidInput(
        f"Cannot read feedback from {str(path)!r}: expected a .csv or .parquet file.", hint=_HINT
    )


def _as_table(records: Any) -> pa.Table | None:
    """An Arrow table for columnar inputs (files, pandas, polars, Arrow); ``None`` for dicts."""
    if isinstance(records, str | os.PathLike):
        return _read_file(Path(records))
    if isinstance(records, pa.Table):
        return records
    if isinstance(records, pa.RecordBatch):
        return pa.Table.from_batches([records])
    if hasattr(records, "to_arrow"):  # polars
        return records.to_arrow()
    import pandas as pd

    if isinstance(records, pd.DataFrame):
        missing = {"request_id", "label"} - set(records.columns)
        if missing:
            raise InvalidInput(f"The feedback has no {sorted(missing)} column.", hint=_HINT)
        columns = {
            "request_id": pa.array(records["request_id"].astype("string")),
            "label": _label_array([_plain(v) for v in records["label"].tolist()]),
        }
        if "time" in records.columns:
            columns["time"] = pa.array(records["time"], from_pandas=True)
        return pa.table(columns)
    return None


def _times(column: pa.ChunkedArray) -> list[int | None]:
    if pa.types.is_timestamp(column.type):
        utc = column.cast(pa.timestamp(column.type.unit, tz="UTC"))
        return list(utc.cast(TIME_TYPE, safe=False).cast(pa.int64()).to_pylist())
    if pa.types.is_integer(column.type):
        return list(column.cast(pa.int64()).to_pylist())
    if pa.types.is_null(column.type):
        return [None] * len(column)
    values = column.to_pylist()
    return [None if v is None else to_ms(v, what=f"time of row {i}") for i, v in enumerate(values)]


def _normalize(records: Any) -> list[tuple[str, Any, int | None]]:
    """Any accepted form -> ``(request_id, label, time_ms or None)``, checked."""
    table = _as_table(records)
    if table is not None:
        missing = {"request_id", "label"} - set(table.column_names)
        if missing:
            raise InvalidInput(
                f"The feedback has no {sorted(missing)} column (columns: {table.column_names}).",
                hint=_HINT,
            )
        try:
            ids = table.column("request_id").cast(pa.string()).to_pylist()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidInput(f"Invalid request_id column: {exc}", hint=_HINT) from exc
        labels = table.column("label").to_pylist()
        times: Sequence[int | None] = (
            _times(table.column("time")) if "time" in table.column_names else [None] * len(ids)
        )
    elif isinstance(records, Sequence) and not isinstance(records, bytes):
        ids, labels, times = [], [], []
        for i, record in enumerate(records):
            if not isinstance(record, Mapping):
                raise InvalidInput(f"Feedback record {i} is not a mapping: {record!r}.", hint=_HINT)
            if "request_id" not in record:
                raise InvalidInput(f"Feedback record {i} has no request_id.", hint=_HINT)
            if "label" not in record:
                raise InvalidInput(f"Feedback record {i} has no label.", hint=_HINT)
            request_id = record["request_id"]
            ids.append(None if request_id is None else str(request_id))
            labels.append(_plain(record["label"]))
            at = record.get("time")
            times.append(None if at is None else to_ms(at, what=f"time of record {i}"))
    else:
        raise InvalidInput(
            f"Cannot read feedback from {type(records).__name__}: expected dicts, a pandas or "
            "Arrow table, or the path of a CSV or Parquet file.",
            hint=_HINT,
        )
    if not ids:
        raise InvalidInput("No feedback to record: the batch is empty.", hint=_HINT)
    out: list[tuple[str, Any, int | None]] = []
    for i, (request_id, label, at) in enumerate(zip(ids, labels, times, strict=True)):
        if request_id is None or not str(request_id).strip():
            raise InvalidInput(f"Feedback record {i} has no request_id.", hint=_HINT)
        if label is None:
            raise InvalidInput(f"Feedback record {i} (request {request_id!r}) has no label.")
        if isinstance(label, list | dict) and _too_deep(label):
            raise InvalidInput(
                f"Feedback record {i} (request {request_id!r}): the label is nested more than "
                f"{MAX_LABEL_DEPTH} levels deep.",
                hint="A label is a class, a number or a small object.",
            )
        out.append((request_id, label, at))
    return out


def _too_deep(label: Any) -> bool:
    """Whether ``label`` nests lists or objects deeper than :data:`MAX_LABEL_DEPTH`."""
    level: list[Any] = [label]
    for _ in range(MAX_LABEL_DEPTH):
        level = [v for item in level if isinstance(item, list | dict)
                 for v in (item.values() if isinstance(item, dict) else item)]  # fmt: skip
        if not level:
            return False
    return any(isinstance(item, list | dict) for item in level)


def _unknown_ids(
    deployment: str, ids: Sequence[str], meta: DeploymentRepository, blobs: ArtifactStore
) -> tuple[str, ...]:
    """The ``ids`` (each once, in order) that no written row of the prediction log has.

    Reads only the ``request_id`` column of the log's parts, filtered to ``ids``.
    """
    wanted = list(dict.fromkeys(ids))
    parts = meta.list_prediction_log_parts(deployment)  # NotFound for an unknown deployment
    if not parts:
        return tuple(wanted)
    condition = pc.field("request_id").isin(pa.array(wanted, pa.string()))
    paths = [_local_path(blobs, part.digest) for part in parts]
    try:
        if all(path is not None for path in paths):
            found = pads.dataset(paths, format="parquet", schema=PREDICTION_LOG_SCHEMA).to_table(
                columns=["request_id"], filter=condition
            )
        else:
            found = pa.concat_tables(
                pq.read_table(pa.BufferReader(blobs.get_bytes(part.digest)),
                              columns=["request_id"], filters=condition)
                for part in parts
            )  # fmt: skip
    except (OSError, pa.ArrowInvalid) as exc:
        raise StoreError(
            f"Could not read the prediction log of deployment {deployment!r} to match the "
            f"labels' request ids: {exc}.",
            hint="Check that the metadata and artifact stores belong together.",
        ) from exc
    logged = set(found.column("request_id").to_pylist())
    return tuple(i for i in wanted if i not in logged)


def record_feedback(
    deployment: str,
    records: Any,
    *,
    settings: Settings | None = None,
    store: Database | None = None,
    artifacts: ArtifactStore | None = None,
    actor: str | None = None,
) -> RecordedFeedback:
    """Store labels for earlier predictions of ``deployment``, all or nothing.

    Labels whose request id matches no prediction logged so far are stored too, and
    reported in the result's ``unknown``: they join their prediction once it is logged.

    Args:
        deployment: The deployment that made the predictions.
        records: Dicts, a pandas/polars DataFrame, an Arrow table, or the path of a CSV or
            Parquet file, with columns ``request_id`` and ``label`` and optionally ``time``
            (when the truth was observed: ms since the epoch, a datetime or ISO string;
            default now).
        settings: Where the stores are; default: the project's settings.
        store: An open metadata store to use.
        artifacts: An open artifact store to use (it holds the prediction log).
        actor: Who the audit log names; default: the store's actor.

    Returns:
        How many labels were stored (an ``int``), with the ``unknown`` request ids.

    Raises:
        InvalidInput: An empty batch, a record without request id or label, or a label
            nested too deeply (nothing is stored then).
        NotFound: No such deployment.
        StoreError: The prediction log cannot be read (nothing is stored then).
    """
    rows = _normalize(records)
    meta, blobs = _open(settings, store, artifacts)
    try:
        unknown = _unknown_ids(deployment, [request_id for request_id, _, _ in rows], meta, blobs)
        return RecordedFeedback(meta.add_feedback(deployment, rows, actor=actor), unknown)
    finally:
        if store is None:
            meta.close()


def _label_array(labels: list[Any]) -> pa.Array:
    """Labels with their inferred Arrow type, or as JSON strings when the types are mixed."""
    try:
        return pa.array(labels)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
        return pa.array([json.dumps(v) for v in labels], pa.string())


def feedback(
    deployment: str,
    since: TimeLike | None = None,
    *,
    settings: Settings | None = None,
    store: Database | None = None,
) -> pa.Table:
    """The latest label of every request id of ``deployment`` (labels from ``since`` on).

    Args:
        deployment: The deployment's name.
        since: Only labels observed from then on: ms since the epoch, a datetime (naive =
            UTC), a date, an ISO-8601 string, or a duration (``"7d"``, ``timedelta``)
            meaning that long ago (:func:`cycleml.time.to_ms`); default: every label.
        settings: Where the stores are; default: the project's settings.
        store: An open metadata store to use.

    Returns:
        Columns ``request_id`` (string), ``label`` (inferred type) and ``time``
        (timestamp[ms, UTC], when the label was observed), ordered by time.

    Raises:
        NotFound: No such deployment.
        InvalidInput: A bad ``since``.
    """
    since_ms = None if since is None else time_ms(since, name="since")
    meta = open_deployment_repository(settings, store)
    try:
        stored = meta.list_feedback(deployment, since_ms=since_ms)
    finally:
        if store is None:
            meta.close()
    if not stored:
        return pa.table(
            {
                "request_id": pa.array([], pa.string()),
                "label": pa.array([], pa.null()),
                "time": pa.array([], TIME_TYPE),
            }
        )
    # Rows come ordered by (time, id): the last row of each request id is its latest label.
    ids = pa.array([r.request_id for r in stored], pa.string())
    order = pa.table({"request_id": ids, "i": pa.array(np.arange(len(stored), dtype=np.int64))})
    latest = order.group_by("request_id", use_threads=False).aggregate([("i", "max")])
    keep = pc.sort_indices(latest.column("i_max"))
    indices = latest.column("i_max").take(keep).to_numpy()
    chosen = [stored[int(i)] for i in indices]
    return pa.table(
        {
            "request_id": pa.array([r.request_id for r in chosen], pa.string()),
            "label": _label_array([r.label for r in chosen]),
            "time": pa.array([r.time for r in chosen], TIME_TYPE),
        }
    )


def join_feedback(predictions: pa.Table, labels: pa.Table) -> pa.Table:
    """``predictions`` with a ``label`` column: each row's latest label by ``request_id``.

    A left join (rows without a label get null), in the predictions' row order, done in
    DuckDB. When ``labels`` holds several labels for a request id, the one with the greatest
    ``time`` (if it has a ``time`` column) wins, then the last one.

    Raises:
        InvalidInput: A ``request_id`` or ``label`` column is missing, or ``predictions``
            has a ``label`` column already.
    """
    import duckdb

    if "request_id" not in predictions.column_names:
        raise InvalidInput("The predictions have no request_id column to join labels on.")
    missing = {"request_id", "label"} - set(labels.column_names)
    if missing:
        raise InvalidInput(f"The labels have no {sorted(missing)} column.", hint=_HINT)
    if "label" in predictions.column_names:
        raise InvalidInput(
            "The predictions have a label column already.",
            hint="Drop it first (predictions.drop_columns(['label'])).",
        )
    label_type = labels.column("label").type
    keys = pa.table(
        {
            "i": pa.array(np.arange(predictions.num_rows, dtype=np.int64)),
            "request_id": predictions.column("request_id").cast(pa.string()),
        }
    )
    if "time" in labels.column_names:
        times = labels.column("time")
        if pa.types.is_timestamp(times.type):
            times = times.cast(pa.timestamp(times.type.unit, tz="UTC")).cast(TIME_TYPE, safe=False)
        label_time = times.cast(pa.int64())
    else:
        label_time = pa.nulls(labels.num_rows, pa.int64())
    candidates = pa.table(
        {
            "j": pa.array(np.arange(labels.num_rows, dtype=np.int64)),
            "request_id": labels.column("request_id").cast(pa.string()),
            "label": labels.column("label"),
            "t": label_time,
        }
    )
    with duckdb.connect() as con:
        con.register("k", keys)
        con.register("l", candidates)
        joined = con.sql(
            """
            SELECT latest.label
            FROM k LEFT JOIN (
                SELECT request_id, label FROM l
                QUALIFY row_number() OVER (
                    PARTITION BY request_id ORDER BY t DESC NULLS LAST, j DESC
                ) = 1
            ) AS latest USING (request_id)
            ORDER BY k.i
            """
        ).to_arrow_table()
    column = joined.column("label")
    if column.type != label_type:
        column = column.cast(label_type)
    return predictions.append_column(pa.field("label", label_type), column)
