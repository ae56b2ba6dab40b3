"""Buffered logging: many ``log_*`` calls, few database round trips.

Metric points, params and tags wait in memory per run and are written in one transaction
when a run's buffer reaches ``max_items``, when its oldest entry is older than
``max_delay`` seconds (a background thread checks), on ``flush`` (exceptions, searches) and
at interpreter exit; ``end_run`` takes what is left and writes it in the same transaction
that ends the run. A failed background write keeps the entries and raises at the next
foreground flush, so nothing is lost silently.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from cycleml.tracking._entities import Metric

__all__ = ["PendingBatch", "RunBuffer"]


@dataclass
class PendingBatch:
    """What waits to be written for one run."""

    metrics: list[Metric] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.metrics) + len(self.params) + len(self.tags)

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
            batch.metrics.extend(metrics)
            if params:
                batch.params.update(params)
            if tags:
                batch.tags.update(tags)
            full = len(batch) >= self.max_items
        if self._thread is None or not self._thread.is_alive():
            self._start_thread()
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
