"""The team server under failure: short forms of bench/server.py's reliability checks.

* Concurrent SDK clients logging to a multi-worker ``cycleml server`` on PostgreSQL: every
  point is read back, and no answer any client received (retries included) is a 5xx.
* A worker SIGKILLed while its transaction for a batch is open: the store holds none of the
  batch right after (or all, never part), and the SDK's retry (same ``X-Request-ID``)
  writes it exactly once.
* schemathesis against ``/api/v1``'s OpenAPI document: no generated request gets a 5xx.
  Path traversal through the artifact proxy is tested in test_mlflow_artifacts.py.

The full forms (16 clients for 60 s, several kills, more examples) are
``bench/server.py --workload concurrent,kill,fuzz``.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from cycleml.server import create_server
from cycleml.settings import resolve_settings
from cycleml.tracking import RestRunRepository, Tracker, TrackingClient
from cycleml.tracking._entities import Metric

KEYS = tuple(f"m{k}" for k in range(10))
Scratch = Callable[[str], AbstractContextManager[str]]


@contextmanager
def cycleml_server(
    uri: str, home: Path, workers: int
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``cycleml server --workers N`` on ``uri`` and a free port; its URL and process."""
    process = subprocess.Popen(
        [
            sys.executable, "-m", "cycleml.cli", "--home", str(home), "server", "--port", "0",
            "--workers", str(workers), "--metadata-uri", uri,
            "--artifact-uri", (home / "artifacts").as_uri(),
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=home,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once every worker has built its app
        found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert found, line + (process.stderr.read() if process.stderr else "")
        yield f"http://127.0.0.1:{found.group(1)}", process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def workers_of(process: subprocess.Popen[str]) -> set[int]:
    """The server's worker processes (its children)."""
    tasks = Path(f"/proc/{process.pid}/task").glob("*/children")
    return {int(pid) for task in tasks for pid in task.read_text().split()}


def statuses_of(repository: RestRunRepository) -> Counter[int]:
    """Every status the repository's client receives from now on, retried answers included."""
    seen: Counter[int] = Counter()
    repository._api._http.event_hooks["response"].append(
        lambda response: seen.update([response.status_code])
    )
    return seen


@pytest.mark.postgres
@pytest.mark.slow
def test_concurrent_clients_on_two_workers_lose_no_point_and_get_no_5xx(
    scratch_postgres: Scratch, tmp_path: Path
) -> None:
    seconds, steps = 5.0, 50
    with scratch_postgres("reliability") as uri, cycleml_server(uri, tmp_path, 2) as (url, _):
        statuses: Counter[int] = Counter()
        logged: dict[str, int] = {}
        errors: list[BaseException] = []
        lock = threading.Lock()

        def client(index: int) -> None:
            repository = RestRunRepository(url)
            seen = statuses_of(repository)
            settings = resolve_settings(home=tmp_path / f"client-{index}")
            tracker = Tracker(client=TrackingClient(settings, repository=repository))
            mine: dict[str, int] = {}
            try:
                tracker.set_experiment(f"concurrent-{index}")
                stop = time.monotonic() + seconds
                while time.monotonic() < stop:
                    with tracker.start_run() as run:
                        for step in range(steps):
                            tracker.log_metrics(dict.fromkeys(KEYS, step + 0.5), step=step)
                    mine[run.run_id] = steps * len(KEYS)
            except BaseException as exc:
                errors.append(exc)
            finally:
                tracker.close()
                with lock:
                    statuses.update(seen)
                    logged.update(mine)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 60)
        assert not errors, errors
        reader = RestRunRepository(url)
        try:
            per_run = {run_id: reader.count_metric_points([run_id]) for run_id in logged}
            total = reader.count_metric_points()
        finally:
            reader.close()
    assert len(logged) >= 4  # every client finished runs
    assert per_run == logged
    assert total == sum(logged.values())
    assert statuses, "no answer was counted"
    assert not [status for status in statuses if status >= 500], statuses


def _writer_in_transaction(uri: str, workers: set[int], timeout: float) -> int | None:
    """The worker whose connection has a transaction open on ``uri``'s database (polled).

    PostgreSQL names the connection's client port; ``ss`` names the process holding it.
    """
    database = make_url(uri).database
    engine = create_engine(uri, poolclass=NullPool)
    query = text(
        "SELECT client_port FROM pg_stat_activity WHERE datname = :db AND pid <> "
        "pg_backend_pid() AND xact_start IS NOT NULL AND state <> 'idle'"
    )
    deadline = time.monotonic() + timeout
    try:
        with engine.connect() as conn:
            while time.monotonic() < deadline:
                conn.rollback()  # a new snapshot of pg_stat_activity each time
                for port in conn.execute(query, {"db": database}).scalars():
                    held = subprocess.run(
                        ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
                        capture_output=True, text=True, check=True,
                    ).stdout  # fmt: skip
                    owner = re.search(r"pid=(\d+)", held)
                    if owner and int(owner.group(1)) in workers:
                        return int(owner.group(1))
    finally:
        engine.dispose()
    return None


@pytest.mark.postgres
@pytest.mark.slow
def test_a_worker_killed_during_a_batch_writes_none_of_it_and_the_retry_writes_it_once(
    scratch_postgres: Scratch, tmp_path: Path
) -> None:
    points = 50_000
    with (
        scratch_postgres("reliability") as uri,
        cycleml_server(uri, tmp_path, 2) as (url, process),
    ):
        # The first retry waits 1-2 s: time to look at the store between the kill and it.
        repository = RestRunRepository(url, backoff=2.0)
        experiment = repository.create_experiment("kill")
        run_id = repository.create_run(experiment_id=experiment.experiment_id).info.run_id
        sent: list[str] = []
        repository._api._http.event_hooks["request"].append(
            lambda request: sent.append(request.headers["X-Request-ID"])
        )
        stamp = int(time.time() * 1000)
        batch = [Metric(KEYS[i % 10], i + 0.5, i // 10, stamp) for i in range(points)]
        outcome: list[Any] = []
        writer = threading.Thread(
            target=lambda: outcome.append(repository.log_batch(run_id, metrics=batch))
        )
        writer.start()
        workers = workers_of(process)
        assert len(workers) == 2
        victim = _writer_in_transaction(uri, workers, timeout=60)
        assert victim is not None, "no worker was seen writing the batch"
        os.kill(victim, signal.SIGKILL)
        reader = RestRunRepository(url)
        try:
            deadline = time.monotonic() + 10
            while victim in workers_of(process) and time.monotonic() < deadline:
                time.sleep(0.01)
            right_after = reader.count_metric_points([run_id])
            writer.join(timeout=120)
            at_end = reader.count_metric_points([run_id])
        finally:
            reader.close()
            repository.close()
        survivors = workers_of(process)
    # Killed inside its transaction: none of the batch, or (had COMMIT already been under
    # way) all of it, never part.
    assert right_after in (0, points)
    assert outcome == [None]  # log_batch returned: the retry succeeded
    assert at_end == points  # and wrote the batch once
    assert len(sent) >= 2
    assert len(set(sent)) == 1  # every attempt carried the first one's request id
    assert victim not in survivors


# ---- schemathesis over /api/v1 ----------------------------------------------------------------
# Built at import, as tests/serving/test_fuzz.py explains (schemathesis reads the schema at
# collection); each pytest-xdist worker gets its own SQLite store in a temporary folder.
_SCRATCH = Path(tempfile.mkdtemp(prefix="cycleml-server-fuzz-"))
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)
_SETTINGS = resolve_settings(
    home=_SCRATCH,
    metadata_uri=f"sqlite:///{_SCRATCH / 'metadata.db'}",
    artifact_uri=(_SCRATCH / "artifacts").as_uri(),
)
# Operations that answer 500 today to a number past int64, the driver's overflow on SQLite
# and PostgreSQL (reported, not yet fixed; the bench's fuzz workload still covers them):
# GET /api/v1/runs/stale?older_than_ms=-9223370240156306350 and
# GET /api/v1/audit?after_id=9223372036854775808. Delete an entry once its route answers 400.
schema = schemathesis.openapi.from_asgi("/openapi.json", create_server(_SETTINGS)).include(
    path_regex="^/api/v1/"
)


@schema.parametrize()
@hypothesis_settings(
    max_examples=5, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")
def test_no_generated_api_v1_request_gets_a_server_error(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, case.body, response.text)
    if response.status_code >= 400 and response.status_code != 405 and case.method != "HEAD":
        assert set(response.json()["error"]) == {"code", "message", "hint", "details"}


def test_the_fuzzed_schema_covers_every_stage() -> None:
    paths = {operation.path for operation in _operations()}
    for prefix in ("/api/v1/runs", "/api/v1/models", "/api/v1/datasets", "/api/v1/monitors"):
        assert any(path.startswith(prefix) for path in paths), prefix


def _operations() -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]
