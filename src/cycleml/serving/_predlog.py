"""The prediction log: every scored row, written in the background as Parquet parts.

:class:`PredictionLogger` takes rows without blocking (an in-memory queue), and a background
thread writes them in batches: each batch becomes one Parquet part, stored as a
content-addressed blob in the artifact store and indexed in the metadata store
(``prediction_log_parts``, with the lineage edge ``deployment --produced--> prediction_log``).
A failed write keeps its rows queued, logs the error and is retried; ``close()`` writes
everything still pending. :func:`prediction_log` reads the log back as one Arrow table (the
monitoring stage's input).

Row schema (:data:`PREDICTION_LOG_SCHEMA`), one row per scored input row:

===============  ==========================  ===============================================
request_id       string                      the id the response carried (join key)
time             timestamp[ms, tz=UTC]       when the row was scored
deployment       string                      the deployment's name
model_name       string                      the model version that scored the row ...
model_version    int64                       ... (null when unknown)
arm              string                      ``primary``, ``canary`` or ``shadow``
inputs           string                      the row's inputs as a JSON object
outputs          string                      JSON: ``{"prediction": ..., "probabilities": ...}``
latency_ms       float64                     scoring time of the request
===============  ==========================  ===============================================
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import itertools
import json
import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NamedTuple
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from cycleml.errors import CycleMLError, InvalidInput, InvalidState, StoreError
from cycleml.ids import new_id
from cycleml.serving._repository import DeploymentRepository, open_deployment_repository
from cycleml.serving._sql_predictions import PredictionLogPart
from cycleml.settings import Settings
from cycleml.spec import project_settings
from cycleml.store import (
    ArtifactStore,
    Database,
    now_ms,
    open_artifact_store,
)
from cycleml.time import TimeLike
from cycleml.time import to_ms as _to_ms

__all__ = [
    "ARMS",
    "PREDICTION_LOG_SCHEMA",
    "PredictionLogger",
    "prediction_log",
    "to_json",
    "to_ms",
]

_log = logging.getLogger(__name__)

#: The arms a row can come from.
ARMS = ("primary", "canary", "shadow")
TIME_TYPE = pa.timestamp("ms", tz="UTC")

#: The columns of every prediction log part and of :func:`prediction_log`'s result.
PREDICTION_LOG_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string()),
        pa.field("time", TIME_TYPE),
        pa.field("deployment", pa.string()),
        pa.field("model_name", pa.string()),
        pa.field("model_version", pa.int64()),
        pa.field("arm", pa.string()),
        pa.field("inputs", pa.string()),
        pa.field("outputs", pa.string()),
        pa.field("latency_ms", pa.float64()),
    ]
)
_COLUMNS = frozenset(PREDICTION_LOG_SCHEMA.names)
_MAX_BACKOFF_S = 60.0


# ---- conversions -------------------------------------------------------------------------------
def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None`` (JSON has no such numbers)."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        return [_finite(v) for v in value]
    return value


def to_json(value: Any) -> str:
    """Compact JSON for any input or output value (numpy types, dates, NaN -> ``null``)."""
    try:
        return json.dumps(value, default=_json_default, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a NaN or an infinity somewhere (or a circular reference)
        try:
            return json.dumps(
                _finite(value), default=_json_default, allow_nan=False, separators=(",", ":")
            )
        except (ValueError, RecursionError):
            return json.dumps(str(value))


def to_ms(value: Any, *, what: str = "time") -> int:
    """Milliseconds since the epoch from an int (ms), a datetime (naive = UTC), a date, an
    ISO-8601 string or a ``numpy.datetime64`` (:func:`cycleml.time.to_ms`; a row's own
    time, so a duration is refused)."""
    return _to_ms(value, name=what, ago=False)


def _window_ms(value: TimeLike | None, what: str) -> int | None:
    """A window end: any time :func:`to_ms` reads, or a duration meaning that long ago
    (``timedelta(hours=1)`` or ``"1h"``)."""
    return None if value is None else _to_ms(value, name=what)


class _Rows(NamedTuple):
    """Rows given as dicts, checked and held as columns until a flush makes them Arrow."""

    request_ids: list[str]
    times: list[int]
    names: list[str | None]
    versions: list[int | None]
    arms: list[str]
    inputs: list[str | None]
    outputs: list[str | None]
    latencies: list[float | None]


def _rows_table(batches: Sequence[_Rows], deployment: str) -> pa.Table:
    """Checked rows of many ``log`` calls -> one table in the log's schema."""

    def merged(i: int) -> list[Any]:
        return list(itertools.chain.from_iterable(batch[i] for batch in batches))

    n = sum(len(batch.request_ids) for batch in batches)
    return pa.Table.from_arrays(
        [
            pa.array(merged(0), pa.string()),
            pa.array(merged(1), TIME_TYPE),
            pa.array([deployment] * n, pa.string()),
            pa.array(merged(2), pa.string()),
            pa.array(merged(3), pa.int64()),
            pa.array(merged(4), pa.string()),
            pa.array(merged(5), pa.string()),
            pa.array(merged(6), pa.string()),
            pa.array(merged(7), pa.float64()),
        ],
        schema=PREDICTION_LOG_SCHEMA,
    )


def _check_records(records: Sequence[Mapping[str, Any]], deployment: str) -> _Rows:
    """Rows given as dicts, checked, with defaults filled (Arrow comes later, in bulk)."""
    n = len(records)
    request_ids: list[str] = [""] * n
    times: list[int] = [0] * n
    names: list[str | None] = [None] * n
    versions: list[int | None] = [None] * n
    arms: list[str] = ["primary"] * n
    inputs: list[str | None] = [None] * n
    outputs: list[str | None] = [None] * n
    latencies: list[float | None] = [None] * n
    stamp = now_ms()
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise InvalidInput(f"Prediction log row {i} is not a mapping: {record!r}.")
        if extra := record.keys() - _COLUMNS:
            raise InvalidInput(
                f"Prediction log row {i} has unknown fields {sorted(extra)}.",
                hint=f"Known fields: {', '.join(PREDICTION_LOG_SCHEMA.names)}.",
            )
        request_id = record.get("request_id")
        if request_id is None or request_id == "":
            raise InvalidInput(f"Prediction log row {i} has no request_id.")
        request_ids[i] = str(request_id)
        own = record.get("deployment")
        if own is not None and own != deployment:
            raise InvalidInput(
                f"Prediction log row {i} belongs to deployment {own!r}, not {deployment!r}."
            )
        at = record.get("time")
        times[i] = stamp if at is None else to_ms(at, what=f"time of row {i}")
        name = record.get("model_name")
        names[i] = None if name is None else str(name)
        version = record.get("model_version")
        if version is not None:
            if isinstance(version, bool):
                raise InvalidInput(f"Prediction log row {i}: invalid model_version {version!r}.")
            try:
                versions[i] = int(version)
            except (TypeError, ValueError) as exc:
                raise InvalidInput(
                    f"Prediction log row {i}: invalid model_version {version!r}."
                ) from exc
        arm = record.get("arm")
        if arm is not None:
            if arm not in ARMS:
                raise InvalidInput(
                    f"Prediction log row {i}: invalid arm {arm!r}, expected one of {ARMS}."
                )
            arms[i] = arm
        given = record.get("inputs")
        inputs[i] = given if isinstance(given, str) or given is None else to_json(given)
        given = record.get("outputs")
        outputs[i] = given if isinstance(given, str) or given is None else to_json(given)
        latency = record.get("latency_ms")
        if latency is not None:
            try:
                latencies[i] = float(latency)
            except (TypeError, ValueError) as exc:
                raise InvalidInput(
                    f"Prediction log row {i}: invalid latency_ms {latency!r}."
                ) from exc
    return _Rows(request_ids, times, names, versions, arms, inputs, outputs, latencies)


def _json_column(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.cast(pa.string())
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), pa.string())
    return pa.array([None if v is None else to_json(v) for v in column.to_pylist()], pa.string())


def _arrow_table(table: pa.Table, deployment: str) -> pa.Table:
    """Rows given as an Arrow table -> the log's schema (vectorized)."""
    if extra := set(table.column_names) - _COLUMNS:
        raise InvalidInput(
            f"The prediction log rows have unknown columns {sorted(extra)}.",
            hint=f"Known columns: {', '.join(PREDICTION_LOG_SCHEMA.names)}.",
        )
    n = table.num_rows

    def column(name: str) -> pa.ChunkedArray | None:
        return table.column(name) if name in table.column_names else None

    try:
        request_ids = column("request_id")
        if request_ids is None:
            raise InvalidInput("The prediction log rows have no request_id column.")
        request_ids = request_ids.cast(pa.string())
        if request_ids.null_count or pc.any(pc.equal(request_ids, "")).as_py():
            raise InvalidInput("Some prediction log rows have no request_id.")
        own = column("deployment")
        if own is not None and pc.any(pc.not_equal(own.cast(pa.string()), deployment)).as_py():
            raise InvalidInput(
                f"Some prediction log rows belong to another deployment than {deployment!r}."
            )
        times = column("time")
        if times is None:
            times = pa.chunked_array([pa.array([now_ms()] * n, TIME_TYPE)])
        else:
            if pa.types.is_timestamp(times.type):
                times = times.cast(pa.timestamp(times.type.unit, tz="UTC")).cast(
                    TIME_TYPE, safe=False
                )
            else:
                times = times.cast(pa.int64()).cast(TIME_TYPE)
            times = pc.fill_null(times, pa.scalar(now_ms(), TIME_TYPE))
        arms = column("arm")
        if arms is None:
            arms = pa.chunked_array([pa.array(["primary"] * n, pa.string())])
        else:
            arms = pc.fill_null(arms.cast(pa.string()), "primary")
            if not pc.all(pc.is_in(arms, pa.array(ARMS))).as_py():
                raise InvalidInput(f"Some prediction log rows have an arm not in {ARMS}.")

        def optional(name: str, type_: pa.DataType) -> Any:
            found = column(name)
            return pa.nulls(n, type_) if found is None else found.cast(type_)

        inputs, outputs = column("inputs"), column("outputs")
        return pa.Table.from_arrays(
            [
                request_ids,
                times,
                pa.array([deployment] * n, pa.string()),
                optional("model_name", pa.string()),
                optional("model_version", pa.int64()),
                arms,
                pa.nulls(n, pa.string()) if inputs is None else _json_column(inputs),
                pa.nulls(n, pa.string()) if outputs is None else _json_column(outputs),
                optional("latency_ms", pa.float64()),
            ],
            schema=PREDICTION_LOG_SCHEMA,
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise InvalidInput(f"The prediction log rows do not fit the log's schema: {exc}") from exc


def _model_versions(table: pa.Table) -> list[str]:
    names = table.column("model_name")
    versions = table.column("model_version").cast(pa.string())
    joined = pc.if_else(
        pc.is_null(versions), names, pc.binary_join_element_wise(names, versions, "/")
    )
    return sorted(str(v) for v in pc.unique(joined).drop_null().to_pylist())


def _open(
    settings: Settings | None, store: Database | None, artifacts: ArtifactStore | None
) -> tuple[DeploymentRepository, ArtifactStore]:
    """The repository and artifact store to use: on the ones given, else the settings'
    (the repository through a ``cycleml server`` for an http(s) tracking URI)."""
    if store is None or artifacts is None:
        settings = settings or project_settings()
        artifacts = artifacts or open_artifact_store(settings.artifact_uri)
    return open_deployment_repository(settings, store), artifacts


# ---- the logger ----------------------------------------------------------------------------
class PredictionLogger:
    """Log scored rows without blocking; a background thread writes them as Parquet parts.

    A batch is written when ``max_rows`` rows are pending or the oldest pending row has
    waited ``max_delay_s``. A failed write keeps its rows (retried with back-off, each part
    under the same id so a write that did land is not indexed twice) and logs the error.
    :meth:`close` (also run at interpreter exit) writes whatever is pending; call it when
    the server shuts down (SIGTERM).

    Args:
        settings: Where the stores are; default: the project's settings.
        deployment: The deployment whose rows this logs (it must exist).
        store: An open metadata store to use.
        artifacts: An open artifact store to use.
        max_rows: Rows per part, at most; a batch is written once this many are pending.
        max_delay_s: The longest a row waits in memory before its batch is written.
    """

    def __init__(
        self,
        settings: Settings | None,
        deployment: str,
        *,
        store: Database | None = None,
        artifacts: ArtifactStore | None = None,
        max_rows: int = 10_000,
        max_delay_s: float = 2.0,
    ) -> None:
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
            raise InvalidInput(f"Invalid max_rows {max_rows!r}: expected a positive integer.")
        if not isinstance(max_delay_s, int | float) or not 0 < max_delay_s < math.inf:
            raise InvalidInput(f"Invalid max_delay_s {max_delay_s!r}: expected seconds > 0.")
        self._owns_store = store is None
        self.repository, self.artifacts = _open(settings, store, artifacts)
        try:
            self.repository.get_deployment(deployment)  # NotFound now, not in the background
        except BaseException:
            if self._owns_store:
                self.repository.close()
            raise
        self.deployment = deployment
        self.max_rows = max_rows
        self.max_delay_s = float(max_delay_s)
        self.last_error: BaseException | None = None
        self.rows_written = 0
        self.parts: list[PredictionLogPart] = []
        self._cond = threading.Condition()
        self._flush_lock = threading.Lock()
        self._pending: list[pa.Table | _Rows] = []
        self._pending_rows = 0
        self._oldest: float | None = None  # monotonic time the oldest pending row arrived
        self._ready: list[tuple[str, pa.Table]] = []  # cut into parts, ids fixed, not written
        self._ready_rows = 0
        self._backoff = 0.0
        self._retry_at = 0.0
        self._flushing = False
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name=f"cycleml-predlog-{deployment}", daemon=True
        )
        self._thread.start()
        atexit.register(self._at_exit)

    # ---- public ------------------------------------------------------------------------
    def log(self, records: pa.Table | Sequence[Mapping[str, Any]]) -> None:
        """Queue rows for the log and return at once.

        ``records``: dicts or an Arrow table with the columns of :data:`PREDICTION_LOG_SCHEMA`.
        Only ``request_id`` is required; ``time`` defaults to now (ms since the epoch, a
        datetime or a timestamp column), ``arm`` to ``primary``, ``deployment`` to the
        logger's; ``inputs`` and ``outputs`` may be JSON strings or any JSON-able values.

        Raises:
            InvalidInput: A row does not fit the schema (nothing of the call is queued).
            InvalidState: The logger is closed.
        """
        batch: pa.Table | _Rows
        if isinstance(records, pa.Table):
            batch = _arrow_table(records, self.deployment)
            rows: int = batch.num_rows
        elif isinstance(records, Sequence) and not isinstance(records, str | bytes):
            batch = _check_records(records, self.deployment)
            rows = len(batch.request_ids)
        else:
            raise InvalidInput(
                f"Cannot log {type(records).__name__}: expected a list of dicts or an Arrow table."
            )
        if rows == 0:
            return
        with self._cond:
            if self._closed:
                raise InvalidState(
                    f"The prediction logger of deployment {self.deployment!r} is closed; "
                    f"{rows} rows were not logged.",
                    hint="Log before closing the logger (drain requests, then close).",
                )
            self._pending.append(batch)
            self._pending_rows += rows
            if self._oldest is None:  # the writer may be waiting with no deadline: wake it
                self._oldest = time.monotonic()
                self._cond.notify_all()
            elif self._pending_rows >= self.max_rows:
                self._cond.notify_all()

    @property
    def pending_rows(self) -> int:
        """Rows logged but not yet written (queued or waiting for a retry)."""
        with self._cond:
            return self._pending_rows + self._ready_rows

    def flush(self) -> int:
        """Write every pending row now; return how many were written.

        Raises:
            StoreError: A write failed; the rows not written stay queued for the next flush.
        """
        with self._flush_lock:
            with self._cond:
                self._flushing = True
                batches, self._pending = self._pending, []
                self._ready_rows += self._pending_rows  # still counted while in flight
                self._pending_rows = 0
                self._oldest = None
            try:
                if batches:  # built and cut outside the lock: log() never waits for it
                    tables = [b for b in batches if isinstance(b, pa.Table)]
                    rows = [b for b in batches if isinstance(b, _Rows)]
                    if rows:
                        tables.append(_rows_table(rows, self.deployment))
                    combined = pa.concat_tables(tables).combine_chunks()
                    chunks = [
                        (new_id(), combined.slice(start, self.max_rows))
                        for start in range(0, combined.num_rows, self.max_rows)
                    ]
                    with self._cond:
                        self._ready.extend(chunks)
                return self._write_ready()
            finally:
                with self._cond:
                    self._flushing = False
                    self._cond.notify_all()

    def _write_ready(self) -> int:
        """Write the parts cut so far, oldest first (the caller holds the flush lock)."""
        written = 0
        while True:
            with self._cond:
                if not self._ready:
                    break
                part_id, chunk = self._ready[0]
            try:
                part = self._write_part(part_id, chunk)
            except Exception as exc:
                self.last_error = exc
                with self._cond:  # the background thread retries after a back-off
                    self._backoff = min(_MAX_BACKOFF_S, max(self.max_delay_s, self._backoff * 2))
                    self._retry_at = time.monotonic() + self._backoff
                _log.error(
                    "prediction log of deployment %s: could not write %d rows (kept for "
                    "a retry): %s",
                    self.deployment,
                    self.pending_rows,
                    exc,
                )
                if isinstance(exc, CycleMLError):
                    raise
                raise StoreError(
                    f"Could not write the prediction log of deployment "
                    f"{self.deployment!r}: {exc}. The rows stay queued for the next flush.",
                ) from exc
            with self._cond:
                self._ready.pop(0)
                self._ready_rows -= chunk.num_rows
                self.rows_written += chunk.num_rows
                self.parts.append(part)
            written += chunk.num_rows
        self.last_error = None
        self._backoff = 0.0
        return written

    def close(self) -> None:
        """Stop the background thread and write everything pending (idempotent).

        Raises:
            StoreError: The final write failed; the rows stay queued, so calling ``close``
                (or :meth:`flush`) again retries.
        """
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        self.flush()
        atexit.unregister(self._at_exit)
        if self._owns_store:
            self.repository.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __enter__(self) -> PredictionLogger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- background ----------------------------------------------------------------------
    def _write_part(self, part_id: str, table: pa.Table) -> PredictionLogPart:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        blob = self.artifacts.put_bytes(sink.getvalue().to_pybytes())
        low, high = pc.min_max(table.column("time").cast(pa.int64())).values()
        day = datetime.fromtimestamp(low.as_py() / 1000, tz=UTC).strftime("%Y-%m-%d")
        return self.repository.add_prediction_log_part(
            self.deployment,
            digest=blob.digest,
            path=f"predictions/{self.deployment}/date={day}/part-{part_id}.parquet",
            rows=table.num_rows,
            min_time=int(low.as_py()),
            max_time=int(high.as_py()),
            model_versions=_model_versions(table),
            bytes=blob.size,
            part_id=part_id,
        )

    def _due(self) -> float | None:
        """Seconds until the next background write (0: now; None: nothing to write yet)."""
        if self._flushing:  # a flush is under way: look again when it ends
            return None
        if self._pending_rows >= self.max_rows:
            return 0.0
        if self._ready:
            return max(0.0, self._retry_at - time.monotonic())
        if self._oldest is None:
            return None
        return max(0.0, self._oldest + self.max_delay_s - time.monotonic())

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    wait = self._due()
                    if wait is not None and wait <= 0:
                        break
                    self._cond.wait(wait)
                if self._closed:
                    return  # close() writes what is left
            with contextlib.suppress(Exception):  # logged by flush; the rows stay queued
                self.flush()

    def _at_exit(self) -> None:
        try:
            self.close()
        except Exception as exc:  # nothing left to raise to at exit
            _log.error(
                "prediction log of deployment %s: %d rows could not be written at exit: %s",
                self.deployment,
                self.pending_rows,
                exc,
            )


# ---- reading -------------------------------------------------------------------------------
def _local_path(artifacts: ArtifactStore, digest: str) -> str | None:
    url = artifacts.blob_url(digest)
    if not url.startswith("file://"):
        return None
    return url2pathname(urlparse(url).path)


def prediction_log(
    deployment: str,
    *,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    settings: Settings | None = None,
    include_shadow: bool = False,
    store: Database | None = None,
    artifacts: ArtifactStore | None = None,
) -> pa.Table:
    """A deployment's logged rows with ``since <= time < until``, oldest first, as Arrow.

    Args:
        deployment: The deployment's name.
        since: Start of the window (inclusive): ms since the epoch, a datetime (naive =
            UTC), a date, an ISO-8601 string, or a duration (``timedelta(hours=1)``,
            ``"1h"``, ``"1d12h"``) meaning "that long ago" (:func:`cycleml.time.to_ms`).
        until: End of the window (exclusive), same forms.
        settings: Where the stores are; default: the project's settings.
        include_shadow: Also return the shadow model's rows (never returned to callers).
        store: An open metadata store to use.
        artifacts: An open artifact store to use.

    Returns:
        A table with :data:`PREDICTION_LOG_SCHEMA` (empty when nothing matches).

    Raises:
        NotFound: No such deployment.
        InvalidInput: A bad ``since`` or ``until``, or ``since`` after ``until``.
    """
    since_ms, until_ms = _window_ms(since, "since"), _window_ms(until, "until")
    if since_ms is not None and until_ms is not None and since_ms > until_ms:
        raise InvalidInput(
            f"The window starts after it ends (since={since!r}, until={until!r}).",
            hint="Swap them.",
        )
    meta, blobs = _open(settings, store, artifacts)
    try:
        parts = meta.list_prediction_log_parts(deployment, since_ms=since_ms, until_ms=until_ms)
    finally:
        if store is None:
            meta.close()
    if not parts:
        return PREDICTION_LOG_SCHEMA.empty_table()

    condition = None
    field = pc.field("time")
    if since_ms is not None:
        condition = field >= pa.scalar(since_ms, TIME_TYPE)
    if until_ms is not None:
        upper = field < pa.scalar(until_ms, TIME_TYPE)
        condition = upper if condition is None else condition & upper
    if not include_shadow:
        live = pc.field("arm") != "shadow"
        condition = live if condition is None else condition & live

    paths = [_local_path(blobs, part.digest) for part in parts]
    local = [p for p in paths if p is not None]
    try:
        if len(local) == len(parts):  # local blobs: one multi-threaded scan
            table = pads.dataset(local, format="parquet", schema=PREDICTION_LOG_SCHEMA).to_table(
                filter=condition
            )
        else:
            tables = [
                pq.read_table(pa.BufferReader(blobs.get_bytes(part.digest)), filters=condition)
                for part in parts
            ]
            table = pa.concat_tables(t.cast(PREDICTION_LOG_SCHEMA) for t in tables)
    except (OSError, pa.ArrowInvalid) as exc:
        raise StoreError(
            f"Could not read the prediction log of deployment {deployment!r}: {exc}.",
            hint="Check that the metadata and artifact stores belong together.",
        ) from exc
    if table.num_rows > 1:
        table = table.take(pc.sort_indices(table, sort_keys=[("time", "ascending")]))
    return table.combine_chunks()
