"""Buffered metric logging: many ``log_metric`` calls, few database round trips.

Points wait in memory per run and are written in one transaction when a run's buffer
reaches ``max_points``, when the oldest point is older than ``max_delay`` seconds (a
background thread checks), on ``flush`` (``end_run``, exceptions) and at interpreter exit.
A failed background write keeps the points and raises at the next foreground flush, so
nothing is lost silently.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from cycleml.store import Metric

__all__ = ["MetricBuffer"]

Writer = Callable[[str, Sequence[Metric]], None]


class MetricBuffer:
    """Thread-safe per-run metric buffer.

    Args:
        write: Persists a batch of points of one run (one transaction).
        max_points: Flush a run's buffer once it holds this many points.
        max_delay: Flush points that have waited this many seconds.
    """

    def __init__(self, write: Writer, *, max_points: int = 1000, max_delay: float = 2.0) -> None:
        self._write = write
        self.max_points = max_points
        self.max_delay = max_delay
        self._lock = threading.RLock()
        self._pending: dict[str, list[Metric]] = {}
        self._since: dict[str, float] = {}
        self._error: BaseException | None = None
        self._wakeup = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, run_id: str, points: Sequence[Metric]) -> None:
        """Queue points of one run; flush it now if its buffer is full."""
        with self._lock:
            queue = self._pending.setdefault(run_id, [])
            if not queue:
                self._since[run_id] = time.monotonic()
            queue.extend(points)
            full = len(queue) >= self.max_points
        self._ensure_thread()
        if full:
            self.flush(run_id)

    def pending(self, run_id: str | None = None) -> int:
        """How many points wait (for one run, or in all)."""
        with self._lock:
            if run_id is not None:
                return len(self._pending.get(run_id, ()))
            return sum(len(v) for v in self._pending.values())

    def flush(self, run_id: str | None = None, *, raise_background: bool = True) -> None:
        """Write the waiting points of one run (or of all runs) now."""
        with self._lock:
            if raise_background and self._error is not None:
                error, self._error = self._error, None
                # The failed points are still queued; try them again before reporting.
                self._flush_locked(None)
                raise error
            self._flush_locked(run_id)

    def _flush_locked(self, run_id: str | None) -> None:
        targets = [run_id] if run_id is not None else list(self._pending)
        for target in targets:
            points = self._pending.get(target)
            if not points:
                continue
            self._write(target, points)  # raises: points stay queued
            del self._pending[target]
            self._since.pop(target, None)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._closed or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(
                target=self._run, name="cycleml-metric-flusher", daemon=True
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
