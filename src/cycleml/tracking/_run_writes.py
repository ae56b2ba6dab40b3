"""The run hot path's fixed SQL and the packing of metric batches into rows.

Starting a run, writing a batch and ending a run are what a training script pays on every
run, so their statements are plain SQL text built once per dialect (:class:`RunSql`) and
run with ``Connection.exec_driver_sql``: nothing is built, compiled or cache-keyed per
call. A batch's points arrive column by column (:class:`~cycleml.tracking._buffer.
MetricColumns` from the buffer, or unzipped ``Metric`` tuples) and leave as one
``metric_chunks`` row and one ``latest_metrics`` row per key, packed with numpy.

A write that arrives with a request id (the server's ``X-Request-ID``) first claims the id
in ``run_requests`` inside its own transaction (:func:`claim_request`): a retried request
whose first attempt committed finds its id there and is not applied again, and a first
attempt that rolled back left no id behind, so its retry is applied.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection

from cycleml.errors import InvalidInput
from cycleml.store import REQUEST_ID_TTL_MS, RequestLog, driver_sql
from cycleml.tracking._buffer import MetricColumns
from cycleml.tracking._entities import Metric
from cycleml.tracking._tables import run_requests
from cycleml.validation import check_key

__all__ = [
    "REQUEST_ID_TTL_MS",
    "RUN_SQL",
    "Columns",
    "RunSql",
    "check_metrics",
    "check_request_id",
    "claim_request",
    "metric_rows",
]

_REQUESTS = RequestLog(run_requests, entity="run_id")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1  # steps and timestamps are BIGINT columns
_FLOAT = frozenset({float})
_INT = frozenset({int})
#: A batch of metric points column by column: keys, values, steps, timestamps.
Columns = tuple[Sequence[str], Sequence[float], Sequence[int], Sequence[int]]


class RunSql:
    """The hot path's fixed SQL in one dialect's paramstyle (``?`` or ``%s``).

    Column lists follow ``cycleml.tracking._tables``; a test executes every statement on
    both backends. ``"key"`` is quoted: SQLite reserves the word.
    """

    def __init__(self, dialect: str) -> None:
        def sql(text: str) -> str:
            return driver_sql(dialect, text)

        # The experiment's existence and stage are checked by the INSERT itself (it
        # inserts nothing otherwise): starting a run costs one statement, not two. The
        # casts type the SELECT list's parameters for PostgreSQL.
        self.insert_run = sql(
            "INSERT INTO runs (run_id, experiment_id, run_name, status, start_time, end_time, "
            "heartbeat_time, lifecycle_stage, user_id, artifact_uri, parent_run_id, error) "
            "SELECT CAST(? AS VARCHAR(32)), experiment_id, CAST(? AS VARCHAR(256)), "
            "CAST(? AS VARCHAR(16)), CAST(? AS BIGINT), CAST(NULL AS BIGINT), "
            "CAST(? AS BIGINT), 'active', CAST(? AS VARCHAR(256)), CAST(? AS TEXT), "
            "CAST(? AS VARCHAR(32)), CAST(NULL AS TEXT) "
            "FROM experiments WHERE experiment_id = ? AND lifecycle_stage = 'active'"
        )
        self.run_row = sql(
            "SELECT run_id, experiment_id, run_name, status, start_time, end_time, "
            "heartbeat_time, lifecycle_stage, user_id, artifact_uri, parent_run_id, error "
            "FROM runs WHERE run_id = ?"
        )
        self.heartbeat = sql(
            "UPDATE runs SET heartbeat_time = ? WHERE run_id = ? AND lifecycle_stage = 'active'"
        )
        self.insert_tags = sql('INSERT INTO run_tags (run_id, "key", value) VALUES (?, ?, ?)')
        self.upsert_tags = sql(
            'INSERT INTO run_tags (run_id, "key", value) VALUES (?, ?, ?) '
            'ON CONFLICT (run_id, "key") DO UPDATE SET value = excluded.value'
        )
        self.run_params = sql('SELECT "key", value FROM params WHERE run_id = ?')
        # Params are immutable: a key logged before keeps its row (and is compared after).
        self.insert_params = sql(
            'INSERT INTO params (run_id, "key", value) VALUES (?, ?, ?) '
            'ON CONFLICT (run_id, "key") DO NOTHING'
        )
        self.insert_chunks = sql(
            'INSERT INTO metric_chunks (run_id, "key", n_points, min_step, max_step, '
            "step_blob, value_blob, time_blob) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        # Keep the newest point per (run, key): a higher step, or the same step and later.
        self.upsert_latest = sql(
            'INSERT INTO latest_metrics (run_id, "key", value, is_nan, step, timestamp) '
            'VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, "key") DO UPDATE SET '
            "value = excluded.value, is_nan = excluded.is_nan, step = excluded.step, "
            "timestamp = excluded.timestamp WHERE excluded.step > latest_metrics.step OR "
            "(excluded.step = latest_metrics.step "
            "AND excluded.timestamp >= latest_metrics.timestamp)"
        )
        self._sql = sql
        self._updates: dict[tuple[str, ...], str] = {}

    def update_run(self, columns: tuple[str, ...]) -> str:
        """``UPDATE runs SET <columns> WHERE run_id = ?`` (one text per set of columns)."""
        text = self._updates.get(columns)
        if text is None:
            assignments = ", ".join(f"{column} = ?" for column in columns)
            text = self._updates[columns] = self._sql(
                f"UPDATE runs SET {assignments} WHERE run_id = ?"  # noqa: S608 (column names from update_run)
            )
        return text


RUN_SQL = {dialect: RunSql(dialect) for dialect in ("sqlite", "postgresql")}


def check_request_id(request_id: str) -> str:
    """Return ``request_id`` if it can name a request (1-64 of ``A-Za-z0-9._:-``)."""
    if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
        raise InvalidInput(
            f"Invalid request id {request_id!r}: expected 1-64 letters, digits or '._:-'.",
            hint="Send a fresh UUID (hex) as X-Request-ID, and the same one on each retry.",
        )
    return request_id


def _same_run(row: Any, action: str, run_id: str) -> bool:
    """Whether a remembered claim is this request's: the same action and run (a retried
    ``run.create`` names a fresh run id; the claim holds the one made first)."""
    return bool(row.action == action and (action == "run.create" or row.run_id == run_id))


def claim_request(
    conn: Connection, request_id: str, action: str, run_id: str, stamp: int
) -> str | None:
    """Record ``request_id`` in the caller's transaction; the run id it named, if applied before.

    ``None``: the id is new, and the caller applies its write (a rollback forgets the id
    again). Otherwise the id names a write already committed, whose run id is returned, and
    the caller must not apply it again (:meth:`cycleml.store.RequestLog.claim`: two fixed
    driver statements, an index probe to expire old ids and the insert).

    Raises:
        InvalidInput: The id was used for another action or run.
    """
    seen = _REQUESTS.claim(conn, request_id, action, run_id, stamp, same=_same_run)
    return None if seen is None else str(seen.run_id)


def check_metrics(points: Sequence[Metric]) -> Columns:
    """Validate a batch and return it column by column (keys, values, steps, stamps).

    Each distinct key is checked once and the numbers column by column; only a batch with
    other types than float values and int steps is checked (and converted) point by point.
    The buffer's :class:`MetricColumns` are read as they are, never copied or changed, and
    not checked again when the tracker validated every point as it was logged.
    """
    if not points:
        return (), (), (), ()
    if isinstance(points, MetricColumns) and points.checked:
        return points.keys, points.values, points.steps, points.stamps
    keys: Sequence[str]
    values: Sequence[float]
    steps: Sequence[int]
    stamps: Sequence[int]
    if isinstance(points, MetricColumns):
        keys, values, steps, stamps = points.keys, points.values, points.steps, points.stamps
    else:
        keys, values, steps, stamps = zip(*points, strict=True)
    for key in set(keys):
        check_key(key, "metric")
    if (
        _FLOAT.issuperset(map(type, values))
        and _INT.issuperset(map(type, steps))
        and _INT.issuperset(map(type, stamps))
        and min(min(steps), min(stamps)) >= _INT64_MIN
        and max(max(steps), max(stamps)) <= _INT64_MAX
    ):
        return keys, values, steps, stamps
    checked = [
        _check_metric(Metric(*point)) for point in zip(keys, values, steps, stamps, strict=True)
    ]
    return tuple(zip(*checked, strict=True))  # type: ignore[return-value]


def _check_metric(metric: Metric) -> Metric:
    check_key(metric.key, "metric")
    value = metric.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"Invalid value for metric {metric.key!r}: expected a number, got {value!r}."
            ) from exc
    for what, number in (("step", metric.step), ("timestamp", metric.timestamp)):
        if (
            not isinstance(number, int)
            or isinstance(number, bool)
            or not _INT64_MIN <= number <= _INT64_MAX
        ):
            raise InvalidInput(
                f"Invalid {what} for metric {metric.key!r}: expected a 64-bit integer, "
                f"got {number!r}."
            )
    return Metric(metric.key, float(value), metric.step, metric.timestamp)


def metric_rows(
    run_id: str, points: Columns
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """A validated batch as ``metric_chunks`` rows and ``latest_metrics`` rows, one per key.

    Keys come first-logged first; a key's chunk keeps its points in logging order.
    """
    keys, values, steps, stamps = points
    all_steps = np.array(steps, dtype="<i8")
    all_values = np.array(values, dtype="<f8")
    all_stamps = np.array(stamps, dtype="<i8")
    total = len(keys)
    try:
        width = keys.index(keys[0], 1)
    except ValueError:
        width = total
    reps, rest = divmod(total, width)
    head = list(keys[:width])
    # log_metrics logs the same keys in the same order at every step: the batch is then a
    # (steps x keys) matrix whose columns are the keys, and every figure of every key
    # comes out of one numpy call.
    if not rest and len(set(head)) == width and list(keys) == head * reps:
        step_m = all_steps.reshape(reps, width)
        value_m = all_values.reshape(reps, width)
        stamp_m = all_stamps.reshape(reps, width)
        # The last point of the highest (step, timestamp) is the latest value; lexsort is
        # stable, so among equal (step, timestamp) the last logged wins.
        best = np.lexsort((stamp_m, step_m), axis=0)[-1]
        cols = np.arange(width)
        return _rows(
            run_id,
            head,
            reps,
            np.ascontiguousarray(step_m.T),
            np.ascontiguousarray(value_m.T),
            np.ascontiguousarray(stamp_m.T),
            step_m.min(axis=0).tolist(),
            step_m.max(axis=0).tolist(),
            value_m[best, cols].tolist(),
            step_m[best, cols].tolist(),
            stamp_m[best, cols].tolist(),
        )
    chunks, latest = [], []
    key_arr = np.array(keys)
    for key in dict.fromkeys(keys):
        mask = key_arr == key
        step_arr, value_arr, stamp_arr = all_steps[mask], all_values[mask], all_stamps[mask]
        best_i = int(np.lexsort((stamp_arr, step_arr))[-1])
        one = _rows(
            run_id,
            [key],
            len(step_arr),
            step_arr[None],
            value_arr[None],
            stamp_arr[None],
            [int(step_arr.min())],
            [int(step_arr.max())],
            [float(value_arr[best_i])],
            [int(step_arr[best_i])],
            [int(stamp_arr[best_i])],
        )
        chunks += one[0]
        latest += one[1]
    return chunks, latest


def _rows(
    run_id: str,
    keys: list[str],
    n_points: int,
    steps: np.ndarray,
    values: np.ndarray,
    stamps: np.ndarray,
    low: list[int],
    high: list[int],
    last_value: list[float],
    last_step: list[int],
    last_stamp: list[int],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Chunk and latest rows of keys whose points are the rows of ``steps`` ... ``stamps``."""
    chunks = []
    latest = []
    for j, key in enumerate(keys):
        chunks.append(
            (
                run_id,
                key,
                n_points,
                low[j],
                high[j],
                steps[j].tobytes(),
                values[j].tobytes(),
                stamps[j].tobytes(),
            )
        )
        value = last_value[j]
        nan = math.isnan(value)
        latest.append((run_id, key, None if nan else value, nan, last_step[j], last_stamp[j]))
    return chunks, latest
