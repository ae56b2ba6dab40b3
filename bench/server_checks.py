"""The team-server benchmark's server processes and its reliability checks (bench/server.py).

* :func:`serve` starts ``mlflow server`` or ``cycleml server`` on a free port (its own
  session, its output in a log file in the case's folder) and stops it with SIGTERM.
* :func:`check_concurrent`, :func:`check_kill` and :func:`check_fuzz` are ``server.py``'s
  ``concurrent``, ``kill`` and ``fuzz`` workloads (described in its docstring). Each
  records what it saw in ``Checks``, and returns its figures as JSON-ready dicts.

In the concurrent clients' statuses, a few 404s and 409s are expected: every client looks
its experiment up by name (404 when it is not there yet) and all but one lose the race to
create it (409), then read it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy
from mlflow.tracking import MlflowClient
from sqlalchemy import text

from cycleml.tracking import RestRunRepository, Tracker, TrackingClient
from cycleml.tracking._entities import Metric as CycleMetric
from tracking import ERR, Checks, cycleml_settings, pg_database, temp_folder

BIN = Path(sys.executable).parent
BATCH_KEYS = tuple(f"m{k}" for k in range(10))


# ---- servers -----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(home: Path) -> dict[str, str]:
    """The parent's environment without cycleml's and MLflow's settings (as startup.py)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CYCLEML_", "MLFLOW_"))}
    env |= {"CYCLEML_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # mlflow server runs uvicorn
    return env


@dataclass
class Served:
    """A running server: its URL, process and settings."""

    kind: str
    url: str
    process: subprocess.Popen[bytes]
    workers: int

    def worker_pids(self) -> list[int]:
        """The processes serving requests: the children of the command, or itself."""
        found: list[int] = []
        for task in Path(f"/proc/{self.process.pid}/task").glob("*/children"):
            found += [int(pid) for pid in task.read_text().split()]
        return found or [self.process.pid]


@contextlib.contextmanager
def serve(kind: str, store_uri: str, folder: Path, workers: int) -> Iterator[Served]:
    """``mlflow server`` or ``cycleml server`` on a free port until the block ends."""
    port = free_port()
    common = ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    if kind == "mlflow":
        artifacts = ["--artifacts-destination", (folder / "mlartifacts").as_uri()]
        command = [str(BIN / "mlflow"), "server", "--backend-store-uri", store_uri, *artifacts]
    else:
        artifacts = ["--artifact-uri", (folder / "artifacts").as_uri()]
        command = [str(BIN / "cycleml"), "server", "--metadata-uri", store_uri, *artifacts]
    command += common
    log = (folder / f"{kind}-{workers}-{port}.log").open("wb")
    process = subprocess.Popen(
        command,
        env=child_env(folder / "home"),
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{kind} server exited with {process.returncode}: "
                    f"{Path(log.name).read_text()[-2000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind} server not ready after 120 s")
            time.sleep(0.2)
        yield Served(kind, url, process, workers)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@contextlib.contextmanager
def store(backend: str, folder: Path, pg_admin_uri: str, label: str) -> Iterator[str]:
    """A fresh metadata store URI: a SQLite file in ``folder``, or a new PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'metadata.db'}"
    else:
        with pg_database(pg_admin_uri, label) as uri:
            yield uri


# ---- reliability: concurrent clients ------------------------------------------------------
def count_statuses(repository: RestRunRepository, statuses: Counter[int]) -> None:
    """Count every answer the SDK receives, retried ones included (the SDK hides those)."""
    http = repository._api._http  # the SDK's one keep-alive client
    http.event_hooks["response"].append(lambda response: statuses.update([response.status_code]))


def _client_process(url: str, seconds: float, steps: int, folder: str, queue: Any) -> None:
    """One concurrent client: fluent runs of ``steps`` x 10 points until time is up."""
    statuses: Counter[int] = Counter()
    logged: dict[str, int] = {}
    errors: list[str] = []
    repository = RestRunRepository(url)
    count_statuses(repository, statuses)
    tracker = Tracker(
        client=TrackingClient(cycleml_settings(Path(folder), None), repository=repository)
    )
    try:
        tracker.set_experiment("concurrent")
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            try:
                with tracker.start_run() as run:
                    for step in range(steps):
                        tracker.log_metrics(dict.fromkeys(BATCH_KEYS, step + 0.5), step=step)
                logged[run.run_id] = steps * len(BATCH_KEYS)
            except Exception as exc:
                errors.append(repr(exc)[:300])
    finally:
        with contextlib.suppress(Exception):
            tracker.close()
    queue.put({"logged": logged, "statuses": dict(statuses), "errors": errors})


def check_concurrent(args: argparse.Namespace, checks: Checks) -> dict[str, Any]:
    """``--clients`` processes log to 4 workers on PostgreSQL; every point is counted."""
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(temp_folder("server-concurrent"))
        uri = stack.enter_context(pg_database(args.pg_admin_uri, "concurrent"))
        served = stack.enter_context(serve("cycleml", uri, folder, args.reliability_workers))
        ERR.print(
            f"[bold]concurrent[/]: {args.clients} clients x {args.seconds:g} s to "
            f"{served.workers} workers on PostgreSQL"
        )
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        processes = [
            context.Process(
                target=_client_process,
                args=(served.url, args.seconds, args.client_steps, str(folder / f"c{i}"), queue),
            )
            for i in range(args.clients)
        ]
        for process in processes:
            process.start()
        reports = [queue.get(timeout=args.seconds + 300) for _ in processes]
        for process in processes:
            process.join(timeout=60)
        statuses: Counter[int] = Counter()
        logged: dict[str, int] = {}
        errors: list[str] = []
        for report in reports:
            statuses.update({int(k): v for k, v in report["statuses"].items()})
            logged |= report["logged"]
            errors += report["errors"]
        reader = TrackingClient(cycleml_settings(folder, uri))
        try:
            stored = reader.repository.count_metric_points(list(logged))
            total = reader.repository.count_metric_points()
            wrong = (
                [
                    run_id
                    for run_id, n in logged.items()
                    if reader.repository.count_metric_points([run_id]) != n
                ]
                if (stored != sum(logged.values()))
                else []
            )
        finally:
            reader.close()
    want = sum(logged.values())
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    checks.expect(
        stored == want == total and not wrong,
        f"concurrent: {stored} points in the {len(logged)} finished runs, {total} in "
        f"the store, {want} logged; {len(wrong)} runs differ",
    )
    checks.expect(
        server_errors == 0, f"concurrent: {server_errors} answers were 5xx: {dict(statuses)}"
    )
    checks.expect(not errors, f"concurrent: {len(errors)} client errors {errors[:3]}")
    requests = sum(statuses.values())
    return {
        "clients": args.clients,
        "seconds": args.seconds,
        "workers": args.reliability_workers,
        "runs": len(logged),
        "points_logged": want,
        "points_stored": stored,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "client_errors": errors[:10],
        "requests_per_s": round(requests / args.seconds, 1),
        "points_per_s": round(want / args.seconds, 1),
    }


# ---- reliability: a worker SIGKILLed during a batch ---------------------------------------
def open_transaction_port(engine: sqlalchemy.Engine, database: str) -> int | None:
    """The client port of a server connection with a transaction open on ``database``."""
    with engine.connect() as conn:
        port = conn.execute(
            text(
                "SELECT client_port FROM pg_stat_activity WHERE datname = :db AND "
                "xact_start IS NOT NULL AND pid <> pg_backend_pid() AND state <> 'idle' "
                "AND backend_type = 'client backend' LIMIT 1"
            ),
            {"db": database},
        ).scalar()
    return int(port) if port is not None else None


def socket_owner(local_port: int) -> int | None:
    """The process holding the established TCP socket bound to ``local_port`` (``ss -p``)."""
    listing = subprocess.run(
        ["ss", "-Htnp", "state", "established", f"( sport = :{local_port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"pid=(\d+)", listing)
    return int(found.group(1)) if found else None


def kill_trial(uri: str, folder: Path, points: int, workers: int, trial: int) -> dict[str, Any]:
    """One SIGKILL of the worker writing a batch; what the store held after, and at the end."""
    database = sqlalchemy.engine.make_url(uri).database or ""
    sent: list[str] = []
    with serve("cycleml", uri, folder, workers) as served:
        # A long first backoff leaves time to look at the store between the kill and the retry.
        repository = RestRunRepository(served.url, backoff=2.0)
        repository._api._http.event_hooks["request"].append(
            lambda request: sent.append(request.headers.get("X-Request-ID", ""))
        )
        experiment = repository.create_experiment(f"kill-{trial}")
        run_id = repository.create_run(experiment_id=experiment.experiment_id).info.run_id
        sent.clear()
        stamp = int(time.time() * 1000)
        batch = [CycleMetric(f"m{i % 10}", i + 0.5, i // 10, stamp) for i in range(points)]
        outcome: dict[str, Any] = {}

        def write() -> None:
            try:
                repository.log_batch(run_id, metrics=batch)
                outcome["ok"] = True
            except Exception as exc:
                outcome["error"] = repr(exc)

        engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool)
        reader = TrackingClient(cycleml_settings(folder, uri))
        try:
            started = time.perf_counter()
            writer = threading.Thread(target=write)
            writer.start()
            victim, port = None, None
            while writer.is_alive() and time.perf_counter() - started < 60:
                port = open_transaction_port(engine, database)
                victim = socket_owner(port) if port else None
                if victim in served.worker_pids():
                    break
                victim = None
            killed_at = time.perf_counter() - started
            if victim is not None:
                os.kill(victim, signal.SIGKILL)
                while open_transaction_port(engine, database) == port:  # PostgreSQL rolls back
                    time.sleep(0.005)
            after_kill = reader.repository.count_metric_points([run_id])
            writer.join(timeout=120)
            final = reader.repository.count_metric_points([run_id])
        finally:
            reader.close()
            engine.dispose()
            repository.close()
    return {
        "killed_pid": victim,
        "killed_after_s": round(killed_at, 3),
        "points": points,
        "stored_right_after_kill": after_kill,
        "stored_at_end": final,
        "attempts": len(sent),
        "same_request_id": len(set(sent)) == 1,
        "client": outcome,
    }


def check_kill(args: argparse.Namespace, checks: Checks) -> dict[str, Any]:
    """``--kill-trials`` kills, each on a fresh database and server."""
    trials = []
    for trial in range(args.kill_trials):
        ERR.print(
            f"[bold]kill[/]: trial {trial + 1}/{args.kill_trials}, {args.kill_points:,} points"
        )
        with contextlib.ExitStack() as stack:
            folder = stack.enter_context(temp_folder("server-kill"))
            uri = stack.enter_context(pg_database(args.pg_admin_uri, "kill"))
            result = kill_trial(uri, folder, args.kill_points, args.reliability_workers, trial)
        n = result["points"]
        checks.expect(
            result["killed_pid"] is not None,
            f"kill {trial}: a worker was killed inside the batch's transaction",
        )
        checks.expect(
            result["stored_right_after_kill"] in (0, n),
            f"kill {trial}: {result['stored_right_after_kill']} of {n} points right "
            "after the kill (all or nothing)",
        )
        checks.expect(
            result["client"].get("ok") is True and result["stored_at_end"] == n,
            f"kill {trial}: the retry completed the batch: {result['stored_at_end']} "
            f"of {n} points, client {result['client']}",
        )
        checks.expect(
            result["attempts"] >= 2 and result["same_request_id"],
            f"kill {trial}: {result['attempts']} attempts, one X-Request-ID: "
            f"{result['same_request_id']}",
        )
        trials.append(result)
    return {"trials": trials, "workers": args.reliability_workers}


# ---- reliability: fuzzing and path traversal ----------------------------------------------
TRAVERSALS = (
    "..%2f..%2fescape.txt",
    "%2e%2e/%2e%2e/escape.txt",
    "..%5c..%5cescape.txt",
    "%252e%252e/escape.txt",
    "%2fetc%2fpasswd",
)


def check_fuzz(args: argparse.Namespace, checks: Checks) -> dict[str, Any]:
    """schemathesis over ``/api/v1`` (no 5xx), then traversal through the artifact routes."""
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(temp_folder("server-fuzz"))
        uri = stack.enter_context(pg_database(args.pg_admin_uri, "fuzz"))
        served = stack.enter_context(serve("cycleml", uri, folder, 1))
        report = folder / "schemathesis.har"
        command = [
            str(BIN / "schemathesis"),
            "run",
            f"{served.url}/openapi.json",
            "--include-path-regex",
            "^/api/v1/",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            str(args.fuzz_examples),
            "--seed",
            "1",
            "--workers",
            "1",
            "--phases",
            args.fuzz_phases,
            "--report",
            "har",
            "--report-har-path",
            str(report),
            "--no-color",
        ]
        ERR.print(f"[bold]fuzz[/]: schemathesis, {args.fuzz_examples} examples per operation")
        started = time.perf_counter()
        # In the case's folder: schemathesis keeps a cache (.schemathesis/) in its working folder.
        done = subprocess.run(
            command, capture_output=True, text=True, env=child_env(folder), cwd=folder
        )
        elapsed = time.perf_counter() - started
        summary = done.stdout[-3000:]
        checks.expect(
            done.returncode == 0, f"fuzz: schemathesis exited {done.returncode}: {summary[-1500:]}"
        )
        traversal = traversal_statuses(served.url)
        statuses = report_statuses(report)
    server_errors = sum(n for status, n in statuses.items() if status.startswith("5"))
    checks.expect(server_errors == 0, f"fuzz: {server_errors} of schemathesis's requests got 5xx")
    refused = all(status == 400 for status in traversal.values())
    checks.expect(refused, f"fuzz: path traversal refused with 400: {traversal}")
    return {
        "schemathesis_exit": done.returncode,
        "seconds": round(elapsed, 1),
        "summary_tail": summary.splitlines()[-12:],
        "traversal": traversal,
        "response_statuses": statuses,
    }


def report_statuses(report: Path) -> dict[str, int]:
    """How many of schemathesis's requests got each status (from its HAR report)."""
    if not report.is_file():
        return {}
    entries = json.loads(report.read_text())["log"]["entries"]
    found = Counter(str(entry["response"]["status"]) for entry in entries)
    return dict(sorted(found.items()))


def traversal_statuses(url: str) -> dict[str, int]:
    """Statuses of writes and reads that try to leave a run's artifact folder or the blobs."""
    client = MlflowClient(tracking_uri=url)
    run_id = client.create_run(client.create_experiment("traversal")).info.run_id
    root = f"{url}/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts"
    out: dict[str, int] = {}
    with httpx.Client(timeout=10) as http:
        for path in TRAVERSALS:
            out[f"PUT proxy {path}"] = http.put(f"{root}/{path}", content=b"x").status_code
            out[f"GET proxy {path}"] = http.get(f"{root}/{path}").status_code
        for digest in ("..%2f..%2fetc", "%2e%2e", "a" * 63 + "%2f"):
            out[f"GET blob {digest}"] = http.get(f"{url}/api/v1/blobs/{digest}").status_code
    return out
