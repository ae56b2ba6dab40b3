"""The model server over real HTTP on loopback: ``cycleml serve`` in its own process.

Covers micro-batching under concurrency, SIGTERM, a deployment with canary and shadow,
sticky routing, promote and rollback under load without a failed request, the prediction
log flushed at SIGTERM, and feedback joined back by request id.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

import cycleml
from cycleml.models import load_model, log_model
from cycleml.serving import Deployments, feedback, join_feedback, prediction_log
from cycleml.settings import Settings, resolve_settings
from cycleml.tracking import Tracker

from .conftest import CLI, served


def serving(args: list[str], home: Path) -> AbstractContextManager[tuple[str, Any]]:
    """``cycleml serve ARGS`` until the block ends, ready once ``/health`` answers."""
    return served(args, home, route="/health")


def records(x: pd.DataFrame, start: int, n: int = 1) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = x.iloc[start : start + n].to_dict(orient="records")
    return rows


def test_cli_server_merges_concurrent_requests_and_stops_on_sigterm(
    forest_folder: Path, tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    x, _ = cancer
    expected = load_model(forest_folder).predict(x.head(64)).tolist()
    with serving([str(forest_folder)], tmp_path) as (url, process):
        with httpx.Client(base_url=url, timeout=30) as client:

            def one(i: int) -> Any:
                response = client.post("/invocations", json={"dataframe_records": records(x, i)})
                assert response.status_code == 200, response.text
                return response.json()["predictions"][0]

            with ThreadPoolExecutor(32) as pool:
                got = list(pool.map(one, range(64)))
            metrics = client.get("/metrics").text
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0  # drained gracefully, then a clean exit
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read().decode()
    assert got == expected
    batches = next(
        float(line.split()[-1]) for line in metrics.splitlines()
        if line.startswith("cycleml_batch_rows_count")
    )  # fmt: skip
    assert batches < 64  # concurrent single-row requests were scored together


@pytest.fixture
def project(tmp_path: Path, default_tracker: Callable[..., Tracker]) -> Settings:
    settings = resolve_settings(home=tmp_path)  # what `cycleml --home tmp_path` opens
    default_tracker(settings=settings)
    return settings


def register(settings: Settings, x: pd.DataFrame, y: pd.Series) -> None:
    """Versions 1 (logistic regression), 2 (forest) and 3 (shallow forest) of ``tumours``."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    models = [LogisticRegression(max_iter=5000), RandomForestClassifier(20, random_state=0),
              RandomForestClassifier(5, max_depth=2, random_state=1)]  # fmt: skip
    for model in models:
        with cycleml.start_run():
            log_model(model.fit(x, y), "model", input_example=x.head(),
                      registered_model_name="tumours")  # fmt: skip


def test_deployment_canary_shadow_switch_log_and_feedback(
    project: Settings, tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    x, y = cancer
    register(project, x, y)
    deployments = Deployments(project)
    deployments.create("tumours-live", "models:/tumours/1", canary="models:/tumours/2",
                       percent=50, shadow="models:/tumours/3")  # fmt: skip
    sent: list[str] = []
    failures: list[str] = []
    with serving(["--deployment", "tumours-live"], tmp_path) as (url, process):
        with httpx.Client(base_url=url, timeout=30) as client:
            # Sticky: a key always reaches the same version; both arms get traffic.
            arms: dict[str, set[str]] = {}
            for i in range(40):
                key = f"customer-{i % 10}"
                response = client.post(
                    "/predict",
                    json=records(x, i),
                    headers={"x-request-key": key, "x-request-id": f"r{i}"},
                )
                assert response.status_code == 200, response.text
                sent.append(f"r{i}")
                arms.setdefault(key, set()).add(response.json()["model"]["version"])
            assert all(len(versions) == 1 for versions in arms.values())
            assert {v for versions in arms.values() for v in versions} == {"1", "2"}

            # Promote under load: no request fails, and the canary becomes the primary.
            stop = threading.Event()

            def load(worker: int) -> None:
                n = 0
                while not stop.is_set():
                    rid = f"load-{worker}-{n}"
                    response = client.post("/predict", json=records(x, n % 100),
                                           headers={"x-request-id": rid})  # fmt: skip
                    (sent if response.status_code == 200 else failures).append(rid)
                    n += 1

            threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
            for thread in threads:
                thread.start()
            time.sleep(1.0)
            promoted = subprocess.run(
                [*CLI, "--home", str(tmp_path), "deploy", "promote", "tumours-live"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert promoted.returncode == 0, promoted.stderr
            deadline = time.monotonic() + 20
            while client.get("/health").json()["models"][0]["version"] != "2":
                assert time.monotonic() < deadline, "the promotion was not picked up"
                time.sleep(0.2)
            time.sleep(1.0)
            stop.set()
            for thread in threads:
                thread.join()
            assert failures == []
            after = client.post("/predict", json=records(x, 0), headers={"x-request-id": "after"})
            assert after.json()["model"] == {"name": "tumours", "version": "2", "arm": "primary"}
            sent.append("after")

            labels = [{"request_id": rid, "label": int(y.iloc[i])}
                      for i, rid in enumerate(sent[:10])]  # fmt: skip
            answer = client.post("/feedback", json=labels).json()
            assert answer == {"recorded": 10, "unknown_request_ids": []}  # all scored here
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0

    log = prediction_log("tumours-live", settings=project)
    assert sorted(log.column("request_id").to_pylist()) == sorted(sent)  # none lost at SIGTERM
    shadow = prediction_log("tumours-live", settings=project, include_shadow=True)
    shadow_rows = [a for a in shadow.column("arm").to_pylist() if a == "shadow"]
    assert 0 < len(shadow_rows) <= len(sent)
    assert set(log.column("arm").to_pylist()) <= {"primary", "canary"}
    joined = join_feedback(log, feedback("tumours-live", settings=project))
    labelled = {r["request_id"]: r["label"] for r in joined.to_pylist() if r["label"] is not None}
    assert labelled == {rid: int(y.iloc[i]) for i, rid in enumerate(sent[:10])}


def test_serve_refuses_bad_arguments(tmp_path: Path, forest_folder: Path) -> None:
    both = subprocess.run(
        [*CLI, "--home", str(tmp_path), "serve", str(forest_folder), "--deployment", "x"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert both.returncode == 1
    assert "exactly one" in both.stderr
    unknown = subprocess.run(
        [*CLI, "--home", str(tmp_path), "serve", "--deployment", "ghost"],
        capture_output=True, text=True, check=False, env={**os.environ},
    )  # fmt: skip
    assert unknown.returncode == 1
    assert "ghost" in unknown.stderr


def test_workers_share_one_port_and_all_stop_on_sigterm(
    forest_folder: Path, tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    x, _ = cancer
    with serving([str(forest_folder), "--workers", "2"], tmp_path) as (url, process):
        with httpx.Client(base_url=url, timeout=30) as client:

            def one(i: int) -> int:
                response = client.post("/invocations", json={"dataframe_records": records(x, i)},
                                       headers={"connection": "close"})  # fmt: skip
                return response.status_code

            with ThreadPoolExecutor(8) as pool:
                assert set(pool.map(one, range(40))) == {200}
        children = subprocess.run(
            ["pgrep", "-P", str(process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        assert len(children) == 2  # the two forked workers (each with its predict process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        for child in children:
            assert not Path(f"/proc/{child}").exists() or "zombie" in Path(
                f"/proc/{child}/status").read_text().lower()  # fmt: skip


def test_a_killed_worker_is_replaced(
    forest_folder: Path, tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    x, _ = cancer

    def workers(parent: int) -> set[str]:
        found = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True)
        return set(found.stdout.split())

    def wait_for(parent: int, ok: Callable[[set[str]], bool]) -> set[str]:
        deadline = time.monotonic() + 120
        while not ok(now := workers(parent)) and time.monotonic() < deadline:
            time.sleep(0.1)
        return now

    with serving([str(forest_folder), "--workers", "2"], tmp_path) as (url, process):
        first = wait_for(process.pid, lambda found: len(found) == 2)
        assert len(first) == 2, first
        killed = sorted(first)[0]
        os.kill(int(killed), signal.SIGKILL)
        now = wait_for(process.pid, lambda found: len(found) == 2 and killed not in found)
        assert len(now) == 2, now  # a new worker took its place
        assert killed not in now
        with httpx.Client(base_url=url, timeout=30) as client:
            for i in range(10):
                body = {"dataframe_records": records(x, i)}
                answer = client.post("/invocations", json=body, headers={"connection": "close"})
                assert answer.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
