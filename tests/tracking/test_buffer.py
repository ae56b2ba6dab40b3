"""Metric buffering: few transactions for many points, and no point ever lost.

Every database check here reads through ``store``, a separate connection that only sees
what the tracker has committed, never through the tracker (whose ``get_run`` flushes).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

import cycleml
from cycleml.settings import Settings
from cycleml.store import Database
from cycleml.tracking import ActiveRun, RunRepository, Tracker
from cycleml.tracking._buffer import PendingBatch, RunBuffer
from cycleml.tracking._entities import Metric, RunStatus

Configure = Callable[..., Tracker]


def _batches(db: Database, run_id: str) -> list[int]:
    """Metric points per write transaction: ``run.log_batch`` audit rows, and the final
    batch that ``end_run`` writes with the ``run.update`` that ends the run."""
    sizes = []
    for record in db.list_audit(entity_id=run_id):
        if record.action == "run.log_batch":
            sizes.append(int(record.payload["metric_points"]))
        elif record.action == "run.update" and "batch" in record.payload:
            sizes.append(int(record.payload["batch"]["metric_points"]))
    return [size for size in sizes if size]


def _wait_for(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


# ---- few transactions, nothing lost -------------------------------------------------------
def test_tight_loop_is_written_in_few_transactions(
    configure_tracking: Configure, db: Database, run_repo: RunRepository
) -> None:
    tracker = configure_tracking(flush_points=1000, flush_seconds=600)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    with cycleml.start_run() as run:
        engine = tracker.client.repository.db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            for step in range(5000):
                cycleml.log_metric("loss", 1.0 / (step + 1), step=step)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        # 5 full buffers were written while logging, 1000 points per transaction
        assert _batches(db, run.run_id) == [1000] * 5
        assert tracker.buffer.pending(run.run_id) == 0
    assert 0 < len(statements) < 100, f"{len(statements)} statements for 5,000 log_metric calls"
    history = run_repo.get_metric_history(run.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(5000)]
    assert run_repo.get_run(run.run_id).data.metrics["loss"] == 1.0 / 5000


def test_flush_on_size_threshold(
    configure_tracking: Configure, db: Database, run_repo: RunRepository
) -> None:
    tracker = configure_tracking(flush_points=100, flush_seconds=600)
    with cycleml.start_run() as run:
        for step in range(250):
            cycleml.log_metrics({"a": step, "b": -step}, step=step)  # 2 points per call
        assert run_repo.count_metric_points([run.run_id]) == 500
        cycleml.log_metric("a", 1.5, step=250)
        assert run_repo.count_metric_points([run.run_id]) == 500  # below the threshold: waits
        assert tracker.buffer.pending(run.run_id) == 1
    assert run_repo.count_metric_points([run.run_id]) == 501
    assert _batches(db, run.run_id) == [100] * 5 + [1]


def test_flush_on_time_threshold(
    configure_tracking: Configure, db: Database, run_repo: RunRepository
) -> None:
    tracker = configure_tracking(flush_points=100_000, flush_seconds=0.3)
    run = cycleml.start_run()
    for step in range(7):
        cycleml.log_metric("loss", float(step), step=step)
    assert run_repo.count_metric_points([run.run_id]) == 0  # still waiting in the buffer
    # no flush, no end_run: the background thread writes them
    assert _wait_for(lambda: run_repo.count_metric_points([run.run_id]) == 7)
    assert tracker.buffer.pending() == 0
    assert _batches(db, run.run_id) == [7]
    assert run_repo.get_run(run.run_id).info.status == RunStatus.RUNNING
    cycleml.end_run()


def test_flush_on_exception_in_with_block(tracking: Tracker, run_repo: RunRepository) -> None:
    started: list[ActiveRun] = []

    def train() -> None:
        with cycleml.start_run() as run:
            started.append(run)
            for step in range(10):
                cycleml.log_metric("loss", 10.0 - step, step=step)
            raise RuntimeError("training diverged")

    with pytest.raises(RuntimeError, match="diverged"):
        train()
    run = started[0]
    assert run_repo.count_metric_points([run.run_id]) == 10
    stored = run_repo.get_run(run.run_id)
    assert stored.info.status == RunStatus.FAILED
    assert stored.data.metrics["loss"] == 1.0


def test_search_and_get_run_see_buffered_points(tracking: Tracker, run_repo: RunRepository) -> None:
    with cycleml.start_run() as run:
        cycleml.log_metric("auc", 0.91)
        assert run_repo.count_metric_points([run.run_id]) == 0
        found = cycleml.search_runs(filter_string="metrics.auc > 0.9")
        assert isinstance(found, list)
        assert [r.run_id for r in found] == [run.run_id]
        assert cycleml.get_run(run.run_id).data.metrics == {"auc": 0.91}


def test_closing_the_tracker_flushes_and_finishes(
    configure_tracking: Configure, run_repo: RunRepository
) -> None:
    configure_tracking()
    run = cycleml.start_run()
    cycleml.log_metric("m", 1.0)
    cycleml.tracking._default.replace(None)
    assert run_repo.count_metric_points([run.run_id]) == 1
    assert run_repo.get_run(run.run_id).info.status == RunStatus.FINISHED


# ---- interpreter exit ---------------------------------------------------------------------
EXIT_SCRIPT = """
import json, sys
from pathlib import Path
import cycleml
from cycleml.settings import Settings

cfg = json.loads(sys.argv[1])
settings = Settings(
    home=Path(cfg["home"]), metadata_uri=cfg["uri"], artifact_uri=cfg["artifacts"],
    tracking_uri=cfg["uri"], actor="script",
)
cycleml.configure(settings=settings, flush_points=1000, flush_seconds=600)
run = cycleml.start_run(run_name="script-run")
print(run.run_id, flush=True)
for step in range(2500):
    cycleml.log_metric("loss", 1.0 / (step + 1), step=step)
cycleml.log_param("mode", cfg["mode"])
if cfg["mode"] == "raise":
    raise RuntimeError("fatal error in the training script")
"""


def _run_script(settings: Settings, tmp_path: Path, mode: str) -> tuple[str, str]:
    script = tmp_path / "train.py"
    script.write_text(EXIT_SCRIPT)
    cfg = {
        "home": str(settings.home),
        "uri": settings.metadata_uri,
        "artifacts": settings.artifact_uri,
        "mode": mode,
    }
    done = subprocess.run(
        [sys.executable, str(script), json.dumps(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode == 0) == (mode == "exit"), done.stderr
    assert "could not" not in done.stderr, done.stderr
    return done.stdout.split()[0], done.stderr


def test_flush_at_interpreter_exit(
    settings: Settings, db: Database, run_repo: RunRepository, tmp_path: Path
) -> None:
    run_id, _ = _run_script(settings, tmp_path, "exit")
    stored = run_repo.get_run(run_id)
    assert stored.info.status == RunStatus.FINISHED
    assert stored.info.end_time is not None
    assert stored.info.error is None
    assert stored.data.params == {"mode": "exit"}
    history = run_repo.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(2500))
    # two full buffers while running, the last 500 points by the exit hook
    assert _batches(db, run_id) == [1000, 1000, 500]


def test_uncaught_exception_marks_run_failed(
    settings: Settings, run_repo: RunRepository, tmp_path: Path
) -> None:
    run_id, stderr = _run_script(settings, tmp_path, "raise")
    assert "RuntimeError: fatal error in the training script" in stderr  # still printed
    stored = run_repo.get_run(run_id)
    assert stored.info.status == RunStatus.FAILED
    assert stored.info.error is not None
    assert "RuntimeError: fatal error in the training script" in stored.info.error
    assert run_repo.count_metric_points([run_id]) == 2500


# ---- RunBuffer on its own ----------------------------------------------------------------
class FlakyWriter:
    """Records batches; fails while ``failing`` is set."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[Metric]]] = []
        self.failing = False
        self.lock = threading.Lock()

    def __call__(self, run_id: str, batch: PendingBatch) -> None:
        if self.failing:
            raise OSError("database unreachable")
        with self.lock:
            self.batches.append((run_id, list(batch.metrics)))

    def points(self, run_id: str | None = None) -> list[Metric]:
        return [p for r, batch in self.batches for p in batch if run_id in (None, r)]


def _point(step: int) -> Metric:
    return Metric("m", float(step), step, 0)


def test_buffer_keeps_points_when_a_write_fails() -> None:
    writer = FlakyWriter()
    buffer = RunBuffer(writer, max_items=10, max_delay=600)
    try:
        writer.failing = True
        with pytest.raises(OSError, match="unreachable"):
            buffer.add("r1", [_point(s) for s in range(10)])
        assert buffer.pending("r1") == 10
        with pytest.raises(OSError, match="unreachable"):
            buffer.flush()
        writer.failing = False
        buffer.add("r1", [_point(10)])
        buffer.flush()
        assert [p.step for p in writer.points()] == list(range(11))
        assert buffer.pending() == 0
    finally:
        buffer.close()


def test_failed_background_write_is_reported_and_nothing_lost() -> None:
    writer = FlakyWriter()
    buffer = RunBuffer(writer, max_items=1000, max_delay=0.1)
    try:
        writer.failing = True
        buffer.add("r1", [_point(0), _point(1)])
        assert _wait_for(lambda: buffer._error is not None, timeout=5)
        assert buffer.pending("r1") == 2
        writer.failing = False
        with pytest.raises(OSError, match="unreachable"):
            buffer.flush()  # the background failure surfaces in the foreground
        assert [p.step for p in writer.points()] == [0, 1]  # retried, written once
        buffer.flush()  # reported once only
    finally:
        buffer.close()


def test_buffer_is_thread_safe() -> None:
    writer = FlakyWriter()
    buffer = RunBuffer(writer, max_items=37, max_delay=0.05)

    def log(run_id: str) -> None:
        for step in range(500):
            buffer.add(run_id, [_point(step)])

    threads = [threading.Thread(target=log, args=(f"run{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    buffer.close()
    for i in range(4):
        assert sorted(p.step for p in writer.points(f"run{i}")) == list(range(500))
    assert len(writer.batches) < 4 * 500 / 10
    assert buffer._thread is not None
    buffer._thread.join(timeout=5)  # close() told the background thread to stop
    assert not buffer._thread.is_alive()
