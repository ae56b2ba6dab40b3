"""Reliability of the metadata store under several processes and after a killed writer.

* Eight processes log metrics to one SQLite file at once for :data:`LOG_DURATION_S` seconds:
  every point arrives and no process sees "database is locked" (or anything else).
* Several processes open a never-migrated database at once: one migrates, all succeed.
* A process killed with SIGKILL in the middle of logging leaves a store that opens cleanly,
  with the run readable, still RUNNING, found as stale and markable FAILED.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import select
import signal
import subprocess
import sys
import textwrap
import time
import traceback
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cycleml.settings import Settings
from cycleml.store import Database, head_revisions, now_ms
from cycleml.tracking import SqlRunRepository
from cycleml.tracking._entities import Metric

#: How long the eight writers log at once (the issue asks for 20 seconds).
LOG_DURATION_S = 20
LOG_PROCESSES = 8
OPEN_PROCESSES = 4
SPAWN = multiprocessing.get_context("spawn")


def _result(results: Any, count: int, timeout: float) -> list[dict[str, Any]]:
    found = []
    deadline = time.monotonic() + timeout
    while len(found) < count:
        try:
            found.append(results.get(timeout=max(0.1, deadline - time.monotonic())))
        except queue.Empty:
            pytest.fail(f"only {len(found)} of {count} processes reported: {found}")
    return sorted(found, key=lambda r: r["index"])


def _join(processes: list[Any]) -> None:
    for process in processes:
        process.join(timeout=60)
        if process.is_alive():  # pragma: no cover - only when something hangs
            process.kill()
            process.join()
    assert [p.exitcode for p in processes] == [0] * len(processes)


# ---- eight writers on one SQLite file ----------------------------------------------------------


def _log_metrics(
    uri: str, experiment_id: str, index: int, duration: float, barrier: Any, results: Any
) -> None:
    """One writer process: its own store and run, small batches until the time is up."""
    run_id, logged, batches = None, 0, 0
    try:
        store = SqlRunRepository(Database(uri, actor=f"writer-{index}"))
        run_id = store.create_run(experiment_id=experiment_id, run_name=f"writer-{index}").run_id
        barrier.wait(timeout=120)
        deadline = time.monotonic() + duration
        step = 0
        while time.monotonic() < deadline:
            stamp = now_ms()
            points = [Metric("loss", 1.0 / (step + i + 1), step + i, stamp) for i in range(4)]
            points.append(Metric("lr", 0.01, step, stamp))
            tags = {"progress": str(step)} if batches % 10 == 0 else None
            store.log_batch(run_id, metrics=points, tags=tags)
            logged += len(points)
            batches += 1
            step += 4
        store.close()
        error = None
    except BaseException:
        error = traceback.format_exc()
    results.put(
        {"index": index, "run_id": run_id, "logged": logged, "batches": batches, "error": error}
    )


@pytest.mark.slow
def test_eight_processes_log_to_one_sqlite_file(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'metadata.db'}"
    with SqlRunRepository(Database(uri, actor="parent")) as store:
        experiment_id = store.create_experiment("concurrent").experiment_id

    barrier = SPAWN.Barrier(LOG_PROCESSES)
    results = SPAWN.Queue()
    processes = [
        SPAWN.Process(
            target=_log_metrics,
            args=(uri, experiment_id, i, LOG_DURATION_S, barrier, results),
            name=f"writer-{i}",
        )
        for i in range(LOG_PROCESSES)
    ]
    for process in processes:
        process.start()
    reports = _result(results, LOG_PROCESSES, timeout=LOG_DURATION_S + 180)
    _join(processes)

    errors = {r["index"]: r["error"] for r in reports if r["error"]}
    assert errors == {}, "\n".join(f"writer {i}:\n{e}" for i, e in errors.items())
    assert not any("database is locked" in str(r) for r in reports)

    with SqlRunRepository(Database(uri, actor="parent")) as store:
        with store.db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        runs = {r.run_id: r for r in store.get_runs([r["run_id"] for r in reports])}
        assert len(runs) == LOG_PROCESSES
        for report in reports:
            run_id = report["run_id"]
            assert report["batches"] >= 5, f"writer {report['index']} hardly wrote: {report}"
            assert store.count_metric_points([run_id]) == report["logged"]
            loss = store.get_metric_history(run_id, "loss")
            assert [p.step for p in loss] == list(range(report["batches"] * 4))
            assert len(store.get_metric_history(run_id, "lr")) == report["batches"]
            last_step = report["batches"] * 4 - 1
            assert runs[run_id].data.metrics["loss"] == pytest.approx(1.0 / (last_step + 1))
            assert runs[run_id].info.status == "RUNNING"
            audit = store.db.list_audit(entity_id=run_id, action="run.log_batch", limit=10**6)
            assert len(audit) == report["batches"]
            assert {a.actor for a in audit} == {f"writer-{report['index']}"}
        assert store.count_metric_points() == sum(r["logged"] for r in reports)


# ---- several processes open a fresh database --------------------------------------------------


def _open_fresh(uri: str, index: int, barrier: Any, results: Any) -> None:
    try:
        barrier.wait(timeout=120)
        with SqlRunRepository(Database(uri, actor=f"opener-{index}")) as store:
            store.create_experiment(f"from-{index}")
            version = store.db.schema_version
        error = None
    except BaseException:
        version, error = None, traceback.format_exc()
    results.put({"index": index, "version": version, "error": error})


@pytest.mark.slow
def test_processes_opening_a_fresh_database_at_once(fresh_metadata_uri: str) -> None:
    barrier = SPAWN.Barrier(OPEN_PROCESSES)
    results = SPAWN.Queue()
    processes = [
        SPAWN.Process(target=_open_fresh, args=(fresh_metadata_uri, i, barrier, results))
        for i in range(OPEN_PROCESSES)
    ]
    for process in processes:
        process.start()
    reports = _result(results, OPEN_PROCESSES, timeout=180)
    _join(processes)

    assert [r["error"] for r in reports] == [None] * OPEN_PROCESSES, reports
    assert {r["version"] for r in reports} == {" ".join(sorted(head_revisions()))}
    with SqlRunRepository(Database(fresh_metadata_uri, actor="t")) as store:
        with store.db.engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert sorted(v for (v,) in versions) == sorted(head_revisions())
        names = sorted(e.name for e in store.list_experiments())
        assert names == [f"from-{i}" for i in range(OPEN_PROCESSES)]


# ---- a writer killed with SIGKILL -------------------------------------------------------------

KILLED_SCRIPT = textwrap.dedent(
    """
    import sys
    import time

    import cycleml

    cycleml.configure(
        metadata_uri=sys.argv[1], artifact_uri=sys.argv[2], flush_points=25, flush_seconds=0.1
    )
    run = cycleml.start_run(run_name="doomed")
    cycleml.log_param("lr", 0.1)
    print(run.info.run_id, flush=True)
    step = 0
    while True:
        cycleml.log_metric("loss", 1.0 / (step + 1), step=step)
        step += 1
        if step % 10 == 0:
            time.sleep(0.002)
    """
)


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        process.kill()
        pytest.fail(f"the logging process printed nothing within {timeout} s")
    return process.stdout.readline().strip()


@pytest.mark.slow
def test_run_survives_a_killed_writer(settings: Settings, tmp_path: Path) -> None:
    script = tmp_path / "killed.py"
    script.write_text(KILLED_SCRIPT)
    env = {**os.environ, "CYCLEML_HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, str(script), settings.metadata_uri, settings.artifact_uri],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        run_id = _read_line(process, timeout=120)
        assert len(run_id) == 32, f"unexpected output {run_id!r}: {process.stderr}"

        # Wait until points are arriving, then kill it while it is still logging.
        with SqlRunRepository(Database(settings.metadata_uri, actor="watcher")) as watcher:
            deadline = time.monotonic() + 60
            while watcher.count_metric_points([run_id]) < 200:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "the process logs no metrics"
                time.sleep(0.05)
        assert process.poll() is None
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()

    killed_at = now_ms()
    time.sleep(0.3)
    with SqlRunRepository(Database(settings.metadata_uri, actor="janitor")) as store:
        if store.dialect == "sqlite":
            with store.db.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"

        run = store.get_run(run_id)
        assert run.info.status == "RUNNING"
        assert run.info.end_time is None
        assert run.data.params == {"lr": "0.1"}
        points = store.get_metric_history(run_id, "loss")
        assert len(points) >= 200
        # Every flush is one transaction: what is stored is a gap-free prefix of the steps.
        assert [p.step for p in points] == list(range(len(points)))
        assert run.data.metrics["loss"] == pytest.approx(1.0 / len(points))
        assert run.info.heartbeat_time is not None
        assert run.info.heartbeat_time <= killed_at

        # The heartbeat is recent, so it is not stale yet by a generous cut-off ...
        assert run_id not in {r.run_id for r in store.find_stale_runs(older_than_ms=600_000)}
        # ... but it is by a short one, and the janitor marks it failed.
        stale = store.find_stale_runs(older_than_ms=200)
        assert [r.run_id for r in stale] == [run_id]
        info = store.update_run(run_id, status="FAILED", error="writer lost (SIGKILL)")
        assert info.status == "FAILED"
        assert info.end_time is not None
        assert info.end_time >= run.info.start_time
        assert info.error == "writer lost (SIGKILL)"
        assert store.find_stale_runs(older_than_ms=0) == []
        assert len(store.get_metric_history(run_id, "loss")) == len(points)
        (update,) = store.db.list_audit(entity_id=run_id, action="run.update")
        assert update.actor == "janitor"
        assert update.payload["from_status"] == "RUNNING"
