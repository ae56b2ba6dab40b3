"""Adaptive micro-batching: concurrent requests share one vectorized ``predict`` call.

A model's ``predict`` costs about the same for 1 row as for 100 (a random forest walks
every tree either way), so under load the server merges the requests that queued up while
the previous batch ran into the next one. The batcher never waits when the server is idle:
a lone request is scored at once, and merging happens only because predictions take time.
When the previous batch merged several requests (the server is busy), the batcher waits up
to ``max_wait_ms`` more for stragglers, bounded by ``max_batch_size`` rows.

If a merged batch fails, each request is retried on its own so only the request that
breaks the model fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BatchResult", "MicroBatcher"]

#: Chosen by ``bench/serving.py --sweep`` (see bench/RESULTS.md): from 32 rows up the
#: throughput at concurrency 64 is flat, so 64 (one burst of 64 clients fits one batch).
#: Waiting for stragglers never paid: requests merge anyway while the previous batch
#: runs, and every millisecond of wait lowered throughput at concurrency 16.
DEFAULT_MAX_BATCH_SIZE = 64
DEFAULT_MAX_WAIT_MS = 0.0


@dataclass
class BatchResult:
    """Predictions for some rows: ``predictions`` and, for classifiers, ``probabilities``."""

    predictions: Any
    probabilities: np.ndarray | None = None
    seconds: float = 0.0  # time of the predict call that produced it (whole batch)

    def slice(self, start: int, stop: int) -> BatchResult:
        """The rows ``start:stop`` of this result."""
        preds = self.predictions
        part = preds.iloc[start:stop] if isinstance(preds, pd.DataFrame | pd.Series) else None
        if part is None:
            part = preds[start:stop]
        proba = None if self.probabilities is None else self.probabilities[start:stop]
        return BatchResult(part, proba, self.seconds)


@dataclass
class _Pending:
    frame: pd.DataFrame
    future: asyncio.Future[BatchResult]
    proba: bool
    rows: int = field(init=False)

    def __post_init__(self) -> None:
        self.rows = len(self.frame)


class MicroBatcher:
    """Queue requests for one model and score them in merged batches on a worker thread.

    Args:
        predict: Scores a frame (already checked against the signature), with class
            probabilities when its second argument is true; runs on the batcher's thread,
            one batch at a time.
        max_batch_size: Most rows in one merged call (a larger single request is scored
            alone, never split).
        max_wait_ms: How long a busy batcher waits for more requests to join a batch.
        enabled: ``False`` scores every request on its own (for comparison).
        batch_observer: Called with each batch's row count (the server's histogram).
        executor: Makes the executor ``predict`` runs on (``predict`` must then be
            picklable for a process pool); default: one thread. Made on :meth:`start` or
            first use, shut down on :meth:`close`, made again if the batcher is used after
            (an app whose lifespan runs twice).
        idle_predict: Scores a request on a thread of this process when it is the only one
            in flight: no process hop, and no other request is being parsed for it to slow
            down. ``None``: always ``predict``.
    """

    def __init__(
        self,
        predict: Callable[[pd.DataFrame, bool], BatchResult],
        *,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_wait_ms: float = DEFAULT_MAX_WAIT_MS,
        enabled: bool = True,
        batch_observer: Callable[[int], None] | None = None,
        executor: Callable[[], Executor] | None = None,
        idle_predict: Callable[[pd.DataFrame, bool], BatchResult] | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self._predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.enabled = enabled
        self._observe = batch_observer
        self._make_executor = executor or _predict_thread
        self._executor: Executor | None = None
        self._idle_predict = idle_predict
        self._idle_executor: Executor | None = None
        self._in_flight = 0  # requests submitted and not yet answered
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._busy = False  # the previous batch merged several requests

    async def submit(self, frame: pd.DataFrame, *, proba: bool = False) -> BatchResult:
        """Score ``frame`` (merged with other requests when batching is on)."""
        self._in_flight += 1
        try:
            return await self._submit(frame, proba)
        finally:
            self._in_flight -= 1

    async def _submit(self, frame: pd.DataFrame, proba: bool) -> BatchResult:
        loop = asyncio.get_running_loop()
        if not self.enabled:
            return await self._scored(frame, proba)
        if self._queue is None or self._loop is not loop or self._worker is None:
            # A new event loop (a test client, a restarted app) gets its own queue and worker.
            self._queue, self._loop = asyncio.Queue(), loop
            self._worker = loop.create_task(self._run(self._queue))
        pending = _Pending(frame, loop.create_future(), proba)
        await self._queue.put(pending)
        return await pending.future

    async def close(self) -> None:
        """Stop the worker (pending requests fail) and the predict thread."""
        if self._worker is not None and self._loop is asyncio.get_running_loop():
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._worker, self._queue, self._loop = None, None, None
        for executor in (self._executor, self._idle_executor):
            if executor is not None:
                executor.shutdown(wait=True)
        self._executor = self._idle_executor = None

    def start(self) -> None:
        """Make the executor now (a predict process loads its model here)."""
        if self._executor is None:
            self._executor = self._make_executor()

    async def _scored(self, frame: pd.DataFrame, proba: bool) -> BatchResult:
        if self._observe is not None:
            self._observe(len(frame))
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        if self._idle_predict is not None and self._in_flight <= 1:
            if self._idle_executor is None:
                self._idle_executor = _predict_thread()
            result = await loop.run_in_executor(
                self._idle_executor, self._idle_predict, frame, proba
            )
        else:
            self.start()
            result = await loop.run_in_executor(self._executor, self._predict, frame, proba)
        result.seconds = time.perf_counter() - started
        return result

    async def _collect(self, queue: asyncio.Queue[_Pending]) -> list[_Pending]:
        loop = asyncio.get_running_loop()
        batch = [await queue.get()]
        rows = batch[0].rows
        deadline = loop.time() + (self.max_wait_s if self._busy else 0.0)
        while rows < self.max_batch_size:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=left)
                except TimeoutError:
                    break
            if rows + item.rows > self.max_batch_size:
                await queue.put(item)  # next batch; requests stay whole
                break
            batch.append(item)
            rows += item.rows
        self._busy = len(batch) > 1
        return batch

    async def _run(self, queue: asyncio.Queue[_Pending]) -> None:
        while True:
            batch = await self._collect(queue)
            live = [p for p in batch if not p.future.done()]  # a client may have gone
            if live:
                try:
                    await self._score_batch(live)
                except Exception as exc:  # the worker must outlive any batch
                    for pending in live:
                        _settle(pending, exc)

    async def _score_batch(self, live: list[_Pending]) -> None:
        if len(live) > 1:
            try:
                frame = _merge([p.frame for p in live])
                result = await self._scored(frame, any(p.proba for p in live))
                pieces = []
                start = 0
                for pending in live:
                    pieces.append(result.slice(start, start + pending.rows))
                    start += pending.rows
            except Exception:  # alone, so only the culprit fails
                pass
            else:
                for pending, piece in zip(live, pieces, strict=True):
                    _settle(pending, piece)
                return
        for pending in live:
            try:
                one = await self._scored(pending.frame, pending.proba)
            except Exception as error:  # the request's own failure
                _settle(pending, error)
            else:
                _settle(pending, one)


def _predict_thread() -> Executor:
    return ThreadPoolExecutor(1, thread_name_prefix="cycleml-predict")


def _merge(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Stack frames with the same columns; one numpy ``vstack`` when they are all numeric.

    ``pd.concat`` of 64 one-row frames costs more than scoring them; checked frames share
    their columns and dtypes, so a homogeneous numeric frame stacks as one array.
    """
    first = frames[0]
    columns = first.columns
    if all(f.columns.equals(columns) for f in frames):
        blocks = [f.to_numpy() for f in frames]
        kind = blocks[0].dtype
        if kind.kind in "fiub" and all(b.dtype == kind for b in blocks):
            dtypes = first.dtypes
            if all(d == kind for d in dtypes):
                return pd.DataFrame(np.vstack(blocks), columns=columns)
    return pd.concat(frames, ignore_index=True)


def _settle(pending: _Pending, outcome: BatchResult | BaseException) -> None:
    if pending.future.done():
        return
    if isinstance(outcome, BaseException):
        pending.future.set_exception(outcome)
    else:
        pending.future.set_result(outcome)
