"""Buffered logging: many ``log_*`` calls, few database round trips.

Metric points, params and tags wait in memory per run and are written in one transaction
when a run's buffer reaches ``max_items``, when its oldest entry is older than
``max_delay`` seconds (a background thread checks), on ``flush`` (exceptions, searches) and
at interpreter exit; ``end_run`` takes what is left and writes it in the same transaction
that ends the run. A failed background write keeps the entries and raises at the next
foreground flush, so nothing is lost silently.

Metric points wait column by column (:class:`MetricColumns`): a ``log_metrics`` call
appends to four lists instead of creating a tuple per point, and the repository packs the
columns into arrays without unzipping tuples first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import overload

from cycleml.tracking._entities import Metric

__all__ = ["MetricColumns", "PendingBatch", "RunBuffer"]


class MetricColumns(Sequence[Metric]):
    """Metric points stored as four parallel lists: keys, values, steps, timestamps.

    A read-only view of them is a sequence of :class:`Metric`, so anything that takes
    ``Sequence[Metric]`` accepts it; the SQL repository reads the lists directly.
    ``checked`` stays true while every point came through :meth:`add_step`, whose callers
    validate what they add: the repository then does not check the points again.
    """

    __slots__ = ("checked", "keys", "stamps", "steps", "values")

    def __init__(self, points: Iterable[Metric] = ()) -> None:
        self.keys: list[str] = []
        self.values: list[float] = []
        self.steps: list[int] = []
        self.stamps: list[int] = []
        self.checked = True
        self.extend(points)

    def add_step(self, keys: Iterable[str], values: list[float], step: int, stamp: int) -> None:
        """Append validated points of one step and time (``keys`` and ``values`` in order).

        The caller guarantees valid metric keys, ``float`` values and 64-bit ``int`` step
        and timestamp (``Tracker.log_metrics`` checks them).
        """
        self.keys.extend(keys)
        self.values.extend(values)
        repeat = len(values)
        self.steps.extend([step] * repeat)
        self.stamps.extend([stamp] * repeat)

    def extend(self, points: Iterable[Metric]) -> None:
        """Append points given as :class:`Metric` tuples (or other ``MetricColumns``)."""
        if isinstance(points, MetricColumns):
            self.checked = self.checked and points.checked
            self.keys.extend(points.keys)
            self.values.extend(points.values)
            self.steps.extend(points.steps)
            self.stamps.extend(points.stamps)
            return
        for key, value, step, stamp in points:
            self.checked = False  # from any caller: the repository validates these
            self.keys.append(key)
            self.values.append(value)
            self.steps.append(step)
            self.stamps.append(stamp)

    def __len__(self) -> int:
        return len(self.keys)

    @overload
    def __getitem__(self, index: int) -> Metric: ...

    @overload
    def __getitem__(self, index: slice) -> list[Metric]: ...

    def __getitem__(self, index: int | slice) -> Metric | list[Metric]:
        if isinstance(index, slice):
            return list(
                map(
                    Metric,
                    self.keys[index],
                    self.values[index],
                    self.steps[index],
                    self.stamps[index],
                )
            )
        return Metric(self.keys[index], self.values[index], self.steps[index], self.stamps[index])

    def __iter__(self) -> Iterator[Metric]:
        return map(Metric, self.keys, self.values, self.steps, self.stamps)

    def __repr__(self) -> str:
        return f"MetricColumns({list(self)!r})"


class PendingBatch:
    """What waits to be written for one run."""

    __slots__ = ("metrics", "params", "tags")

    def __init__(
        self,
        metrics: Iterable[Metric] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self.metrics = MetricColumns(metrics)
        self.params: dict[str, str] = dict(params or {})
        self.tags: dict[str, str] = dict(tags or {})

    def __len__(self) -> int:
        return len(self.metrics.keys) + len(self.params) + len(self.tags)

    def __repr__(self) -> str:
        return (
            f"PendingBatch({len(self.metrics)} metric points, {len(self.params)} params, "
            f"{len(self.tags)} tags)"
        )

    def merge_back(self, newer: PendingBatch) -> None:
        """Put ``self`` (older, failed to write) before ``newer`` entries."""
        self.metrics.extend(newer.metrics)
        self.params.update(newer.params)
        self.tags.update(newer.tags)


Writer = Callable[[str, PendingBatch], None]


class RunBuffer:
    """Thread-safe per-run buffer of metrics, params and tags.

    Args:
        write: Persists one run's batch in one transaction.
        max_items: Flush a run's buffer once it holds this many entries.
        max_delay: Flush entries that have waited this many seconds.
    """

    def __init__(self, write: Writer, *, max_items: int = 1000, max_delay: float = 2.0) -> None:
        self._write = write
        self.max_items = max_items
        self.max_delay = max_delay
        self._lock = threading.RLock()
        self._pending: dict[str, PendingBatch] = {}
        self._since: dict[str, float] = {}
        self._error: BaseException | None = None
        self._wakeup = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def _queue(self, run_id: str) -> PendingBatch:
        batch = self._pending.get(run_id)
        if batch is None:
            batch = self._pending[run_id] = PendingBatch()
            self._since[run_id] = time.monotonic()
            # Only entries that start waiting need the background thread: checking it
            # here, not at every add, keeps Thread.is_alive off the per-call path.
            if self._thread is None or not self._thread.is_alive():
                self._start_thread()
        return batch

    def add(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        *,
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Queue entries of one run; flush it now if its buffer is full."""
        with self._lock:
            batch = self._queue(run_id)
            if metrics:
                batch.metrics.extend(metrics)
            if params:
                batch.params.update(params)
            if tags:
                batch.tags.update(tags)
            full = len(batch) >= self.max_items
        if full:
            self.flush(run_id)

    def add_step(
        self, run_id: str, keys: Iterable[str], values: list[float], step: int, stamp: int
    ) -> None:
        """Queue validated metric points of one run at one step (``log_metrics``'s path).

        The caller guarantees what :meth:`MetricColumns.add_step` requires.
        """
        repeat = len(values)
        with self._lock:
            batch = self._pending.get(run_id)
            if batch is None:
                batch = self._queue(run_id)
            # MetricColumns.add_step, inlined: this runs once per log_metrics call.
            cols = batch.metrics
            cols.keys.extend(keys)
            cols.values.extend(values)
            cols.steps.extend([step] * repeat)
            cols.stamps.extend([stamp] * repeat)
            full = len(cols.keys) + len(batch.params) + len(batch.tags) >= self.max_items
        if full:
            self.flush(run_id)

    def pending(self, run_id: str | None = None) -> int:
        """How many entries wait (for one run, or in all)."""
        with self._lock:
            if run_id is not None:
                return len(self._pending.get(run_id, ()))
            return sum(len(batch) for batch in self._pending.values())

    def take(self, run_id: str) -> PendingBatch:
        """Remove and return what waits for a run (the caller writes it)."""
        with self._lock:
            self._since.pop(run_id, None)
            return self._pending.pop(run_id, None) or PendingBatch()

    def put_back(self, run_id: str, batch: PendingBatch) -> None:
        """Requeue a batch whose write failed, ahead of anything queued since."""
        if not batch:
            return
        with self._lock:
            newer = self._pending.pop(run_id, None)
            if newer is not None:
                batch.merge_back(newer)
            self._pending[run_id] = batch
            self._since.setdefault(run_id, time.monotonic())
        if self._thread is None or not self._thread.is_alive():
            self._start_thread()

    def flush(self, run_id: str | None = None, *, raise_background: bool = True) -> None:
        """Write what waits for one run (or for all runs) now."""
        with self._lock:
            if raise_background and self._error is not None:
                error, self._error = self._error, None
                # The failed entries are still queued; try them again before reporting.
                self._flush_locked(None)
                raise error
            self._flush_locked(run_id)

    def _flush_locked(self, run_id: str | None) -> None:
        targets = [run_id] if run_id is not None else list(self._pending)
        for target in targets:
            batch = self._pending.get(target)
            if not batch:
                continue
            self._write(target, batch)  # raises: the batch stays queued
            del self._pending[target]
            self._since.pop(target, None)

    def _start_thread(self) -> None:
        with self._lock:
            if self._closed or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(
                target=self._run, name="cycleml-log-flusher", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._wakeup.wait(self.max_delay / 2)
            if self._closed:  # set by close(), from another thread
                return
            now = time.monotonic()
            with self._lock:
                due = [r for r, t in self._since.items() if now - t >= self.max_delay]
                for run_id in due:
                    try:
                        self._flush_locked(run_id)
                    except Exception as exc:  # reported at the next foreground flush
                        self._error = exc

    def close(self) -> None:
        """Flush everything and stop the background thread."""
        self._closed = True
        self._wakeup.set()
        self.flush()
