"""Tracking benchmark: cycleml against MLflow on the same workloads, in the same process.

Workloads (each system gets its own fresh temporary folder or PostgreSQL database):

* ``w1``   200 runs, each with 10 params, 3 tags and 5 metrics x 100 steps logged the way a
           user writes it (``start_run``, ``log_params``, ``set_tags``, ``log_metrics`` per
           step, end), then 20 searches ``metrics.m1 > q and params.p1 != 'x'`` ordered by
           ``metrics.m2 DESC`` (100 results each). MLflow is also measured logging each run's
           500 points in one ``MlflowClient.log_batch`` call (its best case).
* ``w2``   the same 20 searches over 10,000 runs (same params, tags and metrics, but one step
           per metric: populating 10,000 runs x 500 points through MLflow would take ~25 min,
           and a search only reads the latest values).
* ``w1pg`` w1 on PostgreSQL (a fresh database per store, dropped afterwards).
* ``empty`` the fixed cost of a run: ``with start_run(): pass`` (SQLite), timed one run at a
           time, median of 200 runs after 20 warm-up runs, for cycleml and for MLflow
           (``mlflow.start_run()``, SQLite backend).

Correctness is checked, not assumed: after logging, every store must hold exactly the
expected number of metric points, and every search must return exactly the run names (in
order) that numpy computes from the generated data. A failed check is printed in red, listed
in the JSON document, and makes the script exit with status 1.

Run with ``make bench`` (``BENCH_ARGS="--quick"`` for a smoke run) or directly::

    .venv-bench/bin/python bench/tracking.py --workload empty,w1,w2,w1pg --json-out results.json

Prints a table, then one JSON document with every figure, to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Before MLflow is imported: keep it synchronous (the default, made explicit) and keep work
# that is not the workload out of the timings (no telemetry thread, no system metrics).
os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
os.environ["MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"] = "false"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

import mlflow
import numpy as np
import sqlalchemy
from mlflow.entities import Metric as MlflowMetric
from mlflow.entities import Param as MlflowParam
from mlflow.tracking import MlflowClient
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.engine import make_url

import cycleml
from cycleml.settings import Settings, resolve_settings
from cycleml.tracking import TrackingClient
from cycleml.tracking._entities import Metric as CycleMetric

OUT = Console(highlight=False, width=120)
ERR = Console(stderr=True, highlight=False)

DEFAULT_PG_ADMIN_URI = os.environ.get(
    "CYCLEML_TEST_POSTGRES_URI", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
N_PARAMS = 10
N_TAGS = 3
METRIC_KEYS = ("m1", "m2", "m3", "m4", "m5")
N_SEARCHES = 20
MAX_RESULTS = 100
ORDER_BY = ["metrics.m2 DESC"]
# W1 cycleml points/s over MLflow's natural code (one log_batch per log_metrics call).
W1_TARGET_RATIO = 100.0
# W1 cycleml points/s over MLflow's best case, one MlflowClient.log_batch per run (issue 11).
W1_TARGET_RATIO_LOG_BATCH = 50.0
W2_TARGET_MEDIAN_MS = 20.0
EMPTY_TARGET_MEDIAN_MS = 1.5  # an empty fluent run on SQLite (issue 11)
EMPTY_RUNS = 200
EMPTY_WARMUP = 20


# ---- data ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dataset:
    """Deterministic runs: names, params, tags and metric values per step."""

    names: list[str]
    params: list[dict[str, str]]
    tags: list[dict[str, str]]
    steps: list[list[dict[str, float]]]  # run -> step -> {metric key: value}
    latest_m1: np.ndarray
    latest_m2: np.ndarray
    p1: np.ndarray

    @property
    def n_runs(self) -> int:
        return len(self.names)

    @property
    def n_steps(self) -> int:
        return len(self.steps[0]) if self.steps else 0

    @property
    def n_points(self) -> int:
        return self.n_runs * self.n_steps * len(METRIC_KEYS)


def make_dataset(n_runs: int, n_steps: int, seed: int) -> Dataset:
    """Generate runs with a seeded RNG: every system logs exactly the same values."""
    rng = np.random.default_rng(seed)
    values = rng.random((n_runs, n_steps, len(METRIC_KEYS)))
    p1 = rng.choice(np.array(["x", "y", "z"]), size=n_runs)
    lrs = rng.choice(np.array(["0.001", "0.01", "0.1"]), size=n_runs)
    depths = rng.integers(2, 12, size=n_runs)
    teams = rng.choice(np.array(["vision", "nlp", "tabular"]), size=n_runs)
    params = []
    tags = []
    for i in range(n_runs):
        run_params = {f"p{k}": f"v{k}-{(i * 7 + k) % 13}" for k in range(N_PARAMS)}
        run_params["p1"] = str(p1[i])
        run_params["p2"] = str(lrs[i])
        run_params["p3"] = str(int(depths[i]))
        params.append(run_params)
        tags.append({"t0": str(teams[i]), "t1": f"batch-{i % 5}", "t2": "benchmark"})
    as_lists = values.tolist()  # plain Python floats, as user code has them
    steps = [
        [dict(zip(METRIC_KEYS, step_values, strict=True)) for step_values in run_values]
        for run_values in as_lists
    ]
    return Dataset(
        names=[f"run-{i:05d}" for i in range(n_runs)],
        params=params,
        tags=tags,
        steps=steps,
        latest_m1=values[:, -1, 0].copy(),
        latest_m2=values[:, -1, 1].copy(),
        p1=p1,
    )


def search_thresholds(ds: Dataset, count: int = N_SEARCHES) -> list[float]:
    """``count`` thresholds q for ``metrics.m1 > q``: quantiles 0-95% of m1's latest values."""
    quantiles = np.quantile(ds.latest_m1, np.linspace(0.0, 0.95, count))
    return [round(float(q), 6) for q in quantiles]


def search_filter(q: float) -> str:
    return f"metrics.m1 > {q!r} and params.p1 != 'x'"


def expected_names(ds: Dataset, q: float) -> list[str]:
    """What a correct search returns, computed with numpy from the generated data."""
    hit = np.flatnonzero((ds.latest_m1 > q) & (ds.p1 != "x"))
    ordered = hit[np.argsort(-ds.latest_m2[hit], kind="stable")][:MAX_RESULTS]
    return [ds.names[i] for i in ordered]


# ---- checks and timing -----------------------------------------------------------------
class Checks:
    """Correctness checks; failures are reported loudly and fail the script at the end."""

    def __init__(self) -> None:
        self.passed: list[str] = []
        self.failed: list[str] = []

    def expect(self, ok: bool, what: str) -> None:
        if ok:
            self.passed.append(what)
        else:
            self.failed.append(what)
            ERR.print(f"[bold red]CHECK FAILED:[/] {what}")


def summarize_ms(samples: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1000.0
    return {
        "median_ms": round(float(np.median(ms)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "min_ms": round(float(ms.min()), 3),
        "max_ms": round(float(ms.max()), 3),
    }


SearchFn = Callable[[float], list[str]]


def run_searches(
    label: str, search: SearchFn, ds: Dataset, thresholds: Sequence[float], checks: Checks
) -> dict[str, Any]:
    """One untimed warm-up search, then the timed searches, each checked against numpy."""
    search(thresholds[0])
    samples = []
    wrong = []
    for q in thresholds:
        start = time.perf_counter()
        names = search(q)
        samples.append(time.perf_counter() - start)
        want = expected_names(ds, q)
        if names != want:
            same_set = set(names) == set(want)
            wrong.append(
                f"q={q}: got {len(names)} runs ({len(set(names) ^ set(want))} differ from "
                f"the {len(want)} expected{', same set, other order' if same_set else ''})"
            )
    checks.expect(
        not wrong,
        f"{label}: {len(thresholds)} searches return the expected run names in order"
        + (f" -- {'; '.join(wrong[:3])}" if wrong else ""),
    )
    result: dict[str, Any] = summarize_ms(samples)
    result["searches"] = len(thresholds)
    result["result_sizes"] = [len(expected_names(ds, q)) for q in thresholds]
    return result


HistoryFn = Callable[[str, str], list[tuple[int, float]]]


def check_histories(
    label: str, find_id: Callable[[str], str], history: HistoryFn, ds: Dataset, checks: Checks
) -> None:
    """Read back every metric's full history of a few runs and compare it with the data."""
    sample = sorted({0, ds.n_runs // 2, ds.n_runs - 1})
    wrong = []
    for i in sample:
        run_id = find_id(ds.names[i])
        for key in METRIC_KEYS:
            want = [(step, values[key]) for step, values in enumerate(ds.steps[i])]
            got = sorted(history(run_id, key))
            if got != want:
                wrong.append(f"{ds.names[i]}/{key}: {len(got)} points read, {len(want)} logged")
    checks.expect(
        not wrong,
        f"{label}: metric histories of {len(sample)} runs read back exactly"
        + (f" -- {'; '.join(wrong[:3])}" if wrong else ""),
    )


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=ERR,
        transient=True,
    )


# ---- stores ----------------------------------------------------------------------------
@contextlib.contextmanager
def temp_folder(label: str) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix=f"bench-{label}-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def pg_database(admin_uri: str, label: str) -> Iterator[str]:
    """A fresh PostgreSQL database (its URI), dropped afterwards."""
    name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(admin_uri, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_uri).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def count_rows(db_uri: str, table: str) -> int:
    """``SELECT COUNT(*)`` of a fixed table name, via SQL (used for MLflow's store)."""
    if table not in ("metrics", "runs", "audit_log", "lineage_edges"):
        raise ValueError(table)
    engine = sqlalchemy.create_engine(db_uri)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())  # noqa: S608
    finally:
        engine.dispose()


# ---- cycleml -----------------------------------------------------------------------------
def cycleml_settings(folder: Path, metadata_uri: str | None) -> Settings:
    return resolve_settings(
        home=folder,
        metadata_uri=metadata_uri or f"sqlite:///{folder / 'metadata.db'}",
        artifact_uri=(folder / "artifacts").as_uri(),
    )


def cycleml_w1(
    ds: Dataset, settings: Settings, thresholds: Sequence[float], checks: Checks, label: str
) -> dict[str, Any]:
    tracker = cycleml.configure(settings)
    cycleml.set_experiment("bench-w1")  # opens and migrates the store: not timed
    start = time.perf_counter()
    for i, name in enumerate(ds.names):
        with cycleml.start_run(run_name=name):
            cycleml.log_params(ds.params[i])
            cycleml.set_tags(ds.tags[i])
            for step, values in enumerate(ds.steps[i]):
                cycleml.log_metrics(values, step=step)
    elapsed = time.perf_counter() - start
    tracker.close()

    client = TrackingClient(settings)
    try:
        experiment = client.get_experiment_by_name("bench-w1")
        assert experiment is not None
        stored = client.repository.count_metric_points()
        checks.expect(
            stored == ds.n_points, f"{label}: stores {stored} metric points, expected {ds.n_points}"
        )
        cycleml_histories(client, experiment.experiment_id, ds, checks, label)
        searches = run_searches(
            label, cycleml_search(client, experiment.experiment_id), ds, thresholds, checks
        )
    finally:
        client.close()
    return logging_result(ds, elapsed, stored) | {"search": searches}


def cycleml_search(client: TrackingClient, experiment_id: str) -> SearchFn:
    def search(q: float) -> list[str]:
        found = client.search_runs(
            experiment_ids=[experiment_id],
            filter_string=search_filter(q),
            order_by=ORDER_BY,
            max_results=MAX_RESULTS,
        )
        return [run.info.run_name for run in found]

    return search


def cycleml_histories(
    client: TrackingClient, experiment_id: str, ds: Dataset, checks: Checks, label: str
) -> None:
    def find_id(name: str) -> str:
        found = client.search_runs(
            experiment_ids=[experiment_id], filter_string=f"attributes.run_name = '{name}'"
        )
        return found[0].info.run_id

    def history(run_id: str, key: str) -> list[tuple[int, float]]:
        return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]

    check_histories(label, find_id, history, ds, checks)


def cycleml_w2(
    ds: Dataset, settings: Settings, thresholds: Sequence[float], checks: Checks
) -> dict[str, Any]:
    client = TrackingClient(settings)
    try:
        experiment_id = client.create_experiment("bench-w2")
        start = time.perf_counter()
        with progress_bar() as bar:
            task = bar.add_task("cycleml: populating W2", total=ds.n_runs)
            for i, name in enumerate(ds.names):
                run = client.create_run(experiment_id, run_name=name, tags=ds.tags[i])
                stamp = int(time.time() * 1000)
                points = [
                    CycleMetric(key, value, step, stamp)
                    for step, values in enumerate(ds.steps[i])
                    for key, value in values.items()
                ]
                client.log_batch(run.info.run_id, metrics=points, params=ds.params[i])
                client.set_terminated(run.info.run_id)
                bar.advance(task)
        populate_s = time.perf_counter() - start
        stored = client.repository.count_metric_points()
        checks.expect(
            stored == ds.n_points, f"cycleml w2: stores {stored} points, expected {ds.n_points}"
        )
        cycleml_histories(client, experiment_id, ds, checks, "cycleml w2")
        searches = run_searches(
            "cycleml w2", cycleml_search(client, experiment_id), ds, thresholds, checks
        )
    finally:
        client.close()
    return {"populate_s": round(populate_s, 2), "runs_per_s": round(ds.n_runs / populate_s, 1)} | {
        "search": searches
    }


def cycleml_empty(settings: Settings, n_runs: int, warmup: int, checks: Checks) -> dict[str, Any]:
    """Time ``with cycleml.start_run(): pass`` one run at a time (after warm-up runs)."""
    tracker = cycleml.configure(settings)
    cycleml.set_experiment("bench-empty")  # opens and migrates the store: not timed
    samples = []
    for i in range(warmup + n_runs):
        start = time.perf_counter()
        with cycleml.start_run():
            pass
        if i >= warmup:
            samples.append(time.perf_counter() - start)
    tracker.close()
    total = warmup + n_runs
    uri = settings.metadata_uri
    client = TrackingClient(settings)
    try:
        experiment = client.get_experiment_by_name("bench-empty")
        assert experiment is not None
        found = client.search_runs(experiment_ids=[experiment.experiment_id], max_results=total + 1)
    finally:
        client.close()
    finished = sum(run.info.status == "FINISHED" for run in found)
    checks.expect(
        len(found) == total and finished == total,
        f"cycleml empty: {len(found)} runs stored, {finished} FINISHED, expected {total}",
    )
    # Every start writes one audit row and one lineage edge (experiment contains run),
    # every end one audit row: the fast path must not skip them.
    audit, edges = count_rows(uri, "audit_log"), count_rows(uri, "lineage_edges")
    checks.expect(
        audit >= 2 * total and edges >= total,
        f"cycleml empty: {audit} audit rows and {edges} lineage edges, expected at least "
        f"{2 * total} and {total}",
    )
    return summarize_ms(samples) | {"runs": n_runs, "warmup_runs": warmup}


# ---- MLflow ------------------------------------------------------------------------------
def mlflow_open(db_uri: str, folder: Path, experiment: str) -> str:
    """Point MLflow at a fresh store and create the experiment (DB init + migrations)."""
    mlflow.set_tracking_uri(db_uri)
    experiment_id = mlflow.create_experiment(
        experiment, artifact_location=(folder / "mlartifacts").as_uri()
    )
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def mlflow_log_natural(ds: Dataset) -> None:
    """The natural user code: one ``log_batch`` per ``log_metrics`` call."""
    for i, name in enumerate(ds.names):
        with mlflow.start_run(run_name=name):
            mlflow.log_params(ds.params[i])
            mlflow.set_tags(ds.tags[i])
            for step, values in enumerate(ds.steps[i]):
                mlflow.log_metrics(values, step=step)


def mlflow_log_single_batch(ds: Dataset) -> None:
    """MLflow's best case: each run's points in one ``MlflowClient.log_batch`` call."""
    client = MlflowClient()
    for i, name in enumerate(ds.names):
        with mlflow.start_run(run_name=name) as run:
            mlflow.log_params(ds.params[i])
            mlflow.set_tags(ds.tags[i])
            stamp = int(time.time() * 1000)
            points = [
                MlflowMetric(key, value, stamp, step)
                for step, values in enumerate(ds.steps[i])
                for key, value in values.items()
            ]
            client.log_batch(run.info.run_id, metrics=points)


def mlflow_empty(
    db_uri: str, folder: Path, n_runs: int, warmup: int, checks: Checks
) -> dict[str, Any]:
    """Time ``with mlflow.start_run(): pass`` one run at a time (after warm-up runs)."""
    mlflow_open(db_uri, folder, "bench-empty")
    samples = []
    for i in range(warmup + n_runs):
        start = time.perf_counter()
        with mlflow.start_run():
            pass
        if i >= warmup:
            samples.append(time.perf_counter() - start)
    stored = count_rows(db_uri, "runs")
    checks.expect(
        stored == warmup + n_runs, f"mlflow empty: {stored} runs stored, expected {warmup + n_runs}"
    )
    return summarize_ms(samples) | {"runs": n_runs, "warmup_runs": warmup}


def mlflow_search(experiment_id: str) -> SearchFn:
    client = MlflowClient()

    def search(q: float) -> list[str]:
        found = client.search_runs(
            experiment_ids=[experiment_id],
            filter_string=search_filter(q),
            order_by=ORDER_BY,
            max_results=MAX_RESULTS,
        )
        return [run.info.run_name for run in found]

    return search


def mlflow_histories(experiment_id: str, ds: Dataset, checks: Checks, label: str) -> None:
    client = MlflowClient()

    def find_id(name: str) -> str:
        found = client.search_runs(
            experiment_ids=[experiment_id], filter_string=f"attributes.run_name = '{name}'"
        )
        return str(found[0].info.run_id)

    def history(run_id: str, key: str) -> list[tuple[int, float]]:
        return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]

    check_histories(label, find_id, history, ds, checks)


def mlflow_w1(
    ds: Dataset,
    db_uri: str,
    folder: Path,
    thresholds: Sequence[float],
    checks: Checks,
    label: str,
    log: Callable[[Dataset], None],
) -> dict[str, Any]:
    experiment_id = mlflow_open(db_uri, folder, "bench-w1")
    start = time.perf_counter()
    log(ds)
    elapsed = time.perf_counter() - start
    stored = count_rows(db_uri, "metrics")
    checks.expect(
        stored == ds.n_points, f"{label}: stores {stored} metric points, expected {ds.n_points}"
    )
    mlflow_histories(experiment_id, ds, checks, label)
    searches = run_searches(label, mlflow_search(experiment_id), ds, thresholds, checks)
    return logging_result(ds, elapsed, stored) | {"search": searches}


def mlflow_w2(
    ds: Dataset, db_uri: str, folder: Path, thresholds: Sequence[float], checks: Checks
) -> dict[str, Any]:
    experiment_id = mlflow_open(db_uri, folder, "bench-w2")
    client = MlflowClient()
    start = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task("mlflow: populating W2", total=ds.n_runs)
        for i, name in enumerate(ds.names):
            run = client.create_run(experiment_id, run_name=name, tags=ds.tags[i])
            stamp = int(time.time() * 1000)
            points = [
                MlflowMetric(key, value, stamp, step)
                for step, values in enumerate(ds.steps[i])
                for key, value in values.items()
            ]
            params = [MlflowParam(k, v) for k, v in ds.params[i].items()]
            client.log_batch(run.info.run_id, metrics=points, params=params)
            client.set_terminated(run.info.run_id)
            bar.advance(task)
    populate_s = time.perf_counter() - start
    stored = count_rows(db_uri, "metrics")
    checks.expect(
        stored == ds.n_points, f"mlflow w2: stores {stored} points, expected {ds.n_points}"
    )
    mlflow_histories(experiment_id, ds, checks, "mlflow w2")
    searches = run_searches("mlflow w2", mlflow_search(experiment_id), ds, thresholds, checks)
    return {"populate_s": round(populate_s, 2), "runs_per_s": round(ds.n_runs / populate_s, 1)} | {
        "search": searches
    }


def logging_result(ds: Dataset, elapsed: float, stored: int) -> dict[str, Any]:
    return {
        "runs": ds.n_runs,
        "points": ds.n_points,
        "stored_points": stored,
        "log_s": round(elapsed, 3),
        "points_per_s": round(ds.n_points / elapsed, 1),
    }


# ---- workloads ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    w1_runs: int
    w1_steps: int
    w2_runs: int
    pg_admin_uri: str
    empty_runs: int = EMPTY_RUNS


def ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 2) if denominator else float("inf")


def w1_ratios(results: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    cml = results.get("cycleml")
    if not cml:
        return out
    for peer in ("mlflow", "mlflow_single_batch"):
        if peer in results:
            out[f"points_per_s_cycleml_over_{peer}"] = ratio(
                cml["points_per_s"], results[peer]["points_per_s"]
            )
            out[f"search_median_{peer}_over_cycleml"] = ratio(
                results[peer]["search"]["median_ms"], cml["search"]["median_ms"]
            )
    return out


def workload_w1(config: Config, checks: Checks, *, postgres: bool) -> dict[str, Any]:
    tag = "w1pg" if postgres else "w1"
    ds = make_dataset(config.w1_runs, config.w1_steps, seed=1)
    thresholds = search_thresholds(ds)
    results: dict[str, Any] = {}

    def store_uri(stack: contextlib.ExitStack, folder: Path, label: str, default: str) -> str:
        if not postgres:
            return default
        return stack.enter_context(pg_database(config.pg_admin_uri, label))

    ERR.print(
        f"[bold]{tag}[/]: cycleml logging {ds.n_runs} runs x {ds.n_points // ds.n_runs} points"
    )
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(temp_folder(f"{tag}-cycleml"))
        uri = store_uri(stack, folder, "cycleml", f"sqlite:///{folder / 'metadata.db'}")
        results["cycleml"] = cycleml_w1(
            ds, cycleml_settings(folder, uri), thresholds, checks, f"cycleml {tag}"
        )
    for variant, log in (
        ("mlflow", mlflow_log_natural),
        ("mlflow_single_batch", mlflow_log_single_batch),
    ):
        ERR.print(f"[bold]{tag}[/]: {variant} logging {ds.n_runs} runs")
        try:
            with contextlib.ExitStack() as stack:
                folder = stack.enter_context(temp_folder(f"{tag}-{variant}"))
                uri = store_uri(stack, folder, "mlflow", f"sqlite:///{folder / 'mlflow.db'}")
                results[variant] = mlflow_w1(
                    ds, uri, folder, thresholds, checks, f"{variant} {tag}", log
                )
        except Exception as exc:
            if not postgres:
                raise
            # MLflow on PostgreSQL is a bonus; cycleml's figures stand without it.
            ERR.print(f"[yellow]{tag}: {variant} failed on PostgreSQL: {exc!r}[/]")
            results[f"{variant}_error"] = repr(exc)
    results["ratios"] = w1_ratios(results)
    results["data"] = {
        "runs": ds.n_runs,
        "params_per_run": N_PARAMS,
        "tags_per_run": N_TAGS,
        "metrics": len(METRIC_KEYS),
        "steps": ds.n_steps,
        "points": ds.n_points,
        "thresholds": thresholds,
        "backend": "postgresql" if postgres else "sqlite",
    }
    return results


def workload_empty(config: Config, checks: Checks) -> dict[str, Any]:
    n_runs, warmup = config.empty_runs, EMPTY_WARMUP
    results: dict[str, Any] = {}
    ERR.print(f"[bold]empty[/]: {warmup} + {n_runs} empty runs, cycleml then MLflow")
    with temp_folder("empty-cycleml") as folder:
        results["cycleml"] = cycleml_empty(cycleml_settings(folder, None), n_runs, warmup, checks)
    with temp_folder("empty-mlflow") as folder:
        results["mlflow"] = mlflow_empty(
            f"sqlite:///{folder / 'mlflow.db'}", folder, n_runs, warmup, checks
        )
    results["ratios"] = {
        "median_mlflow_over_cycleml": ratio(
            results["mlflow"]["median_ms"], results["cycleml"]["median_ms"]
        )
    }
    results["data"] = {
        "code": "with start_run(): pass",
        "backend": "sqlite",
        "timed": "each run alone (perf_counter around the with block), median over the runs",
    }
    return results


def workload_w2(config: Config, checks: Checks) -> dict[str, Any]:
    ds = make_dataset(config.w2_runs, 1, seed=2)
    thresholds = search_thresholds(ds)
    results: dict[str, Any] = {}
    with temp_folder("w2-cycleml") as folder:
        results["cycleml"] = cycleml_w2(ds, cycleml_settings(folder, None), thresholds, checks)
    with temp_folder("w2-mlflow") as folder:
        results["mlflow"] = mlflow_w2(
            ds, f"sqlite:///{folder / 'mlflow.db'}", folder, thresholds, checks
        )
    results["ratios"] = {
        "search_median_mlflow_over_cycleml": ratio(
            results["mlflow"]["search"]["median_ms"], results["cycleml"]["search"]["median_ms"]
        ),
        "search_p95_mlflow_over_cycleml": ratio(
            results["mlflow"]["search"]["p95_ms"], results["cycleml"]["search"]["p95_ms"]
        ),
    }
    results["data"] = {
        "runs": ds.n_runs,
        "params_per_run": N_PARAMS,
        "tags_per_run": N_TAGS,
        "metrics": len(METRIC_KEYS),
        "steps": ds.n_steps,
        "points": ds.n_points,
        "thresholds": thresholds,
        "backend": "sqlite",
        "note": (
            "W2 runs carry the same 10 params, 3 tags and 5 metrics as W1 but one step per "
            "metric instead of 100: populating 10,000 runs x 500 points through MLflow would "
            "take ~25 min, and the search reads only the latest values."
        ),
    }
    return results


# ---- report ------------------------------------------------------------------------------
def machine_info(config: Config, with_postgres: bool) -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cycleml": cycleml.__version__,
        "mlflow": mlflow.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "numpy": np.__version__,
        "sqlite": sqlite3.sqlite_version,
        # Other work on the machine skews timings: the 1/5/15-minute load averages.
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    if with_postgres:
        try:
            engine = sqlalchemy.create_engine(config.pg_admin_uri)
            with engine.connect() as conn:
                info["postgresql"] = conn.execute(text("SHOW server_version")).scalar_one()
            engine.dispose()
        except Exception as exc:
            info["postgresql"] = f"unavailable: {exc!r}"
    return info


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text_value = f"{value:,.1f}" if abs(value) >= 100 else f"{value:,.2f}"
    else:
        text_value = f"{value:,}"
    return f"{text_value}{unit}"


def print_table(doc: dict[str, Any]) -> None:
    table = Table(title="cycleml vs MLflow: tracking", show_lines=False)
    for column in ("workload", "figure", "cycleml", "mlflow", "mlflow single batch", "ratio"):
        table.add_column(column, justify="left" if column in ("workload", "figure") else "right")
    for tag in ("w1", "w1pg"):
        res = doc["workloads"].get(tag)
        if not res:
            continue
        c, m, s = res.get("cycleml", {}), res.get("mlflow", {}), res.get("mlflow_single_batch", {})
        r = res["ratios"]
        table.add_row(
            tag,
            "log points/s",
            fmt(c.get("points_per_s")),
            fmt(m.get("points_per_s")),
            fmt(s.get("points_per_s")),
            f"{fmt(r.get('points_per_s_cycleml_over_mlflow'))}x / "
            f"{fmt(r.get('points_per_s_cycleml_over_mlflow_single_batch'))}x",
        )
        table.add_row(
            "", "log wall s", fmt(c.get("log_s")), fmt(m.get("log_s")), fmt(s.get("log_s")), ""
        )
        for key, label in (("median_ms", "search median ms"), ("p95_ms", "search p95 ms")):
            table.add_row(
                "",
                label,
                fmt(c.get("search", {}).get(key)),
                fmt(m.get("search", {}).get(key)),
                fmt(s.get("search", {}).get(key)),
                f"{fmt(r.get('search_median_mlflow_over_cycleml'))}x" if key == "median_ms" else "",
            )
    res = doc["workloads"].get("empty")
    if res:
        c, m = res["cycleml"], res["mlflow"]
        table.add_row(
            "empty run",
            "median ms",
            fmt(c["median_ms"]),
            fmt(m["median_ms"]),
            "",
            f"{fmt(res['ratios']['median_mlflow_over_cycleml'])}x",
        )
        table.add_row("", "p95 ms", fmt(c["p95_ms"]), fmt(m["p95_ms"]), "", "")
    res = doc["workloads"].get("w2")
    if res:
        c, m, r = res["cycleml"], res["mlflow"], res["ratios"]
        table.add_row(
            f"w2 ({res['data']['runs']:,} runs)",
            "search median ms",
            fmt(c["search"]["median_ms"]),
            fmt(m["search"]["median_ms"]),
            "",
            f"{fmt(r['search_median_mlflow_over_cycleml'])}x",
        )
        table.add_row(
            "",
            "search p95 ms",
            fmt(c["search"]["p95_ms"]),
            fmt(m["search"]["p95_ms"]),
            "",
            f"{fmt(r['search_p95_mlflow_over_cycleml'])}x",
        )
        table.add_row("", "populate runs/s", fmt(c["runs_per_s"]), fmt(m["runs_per_s"]), "", "")
    OUT.print(table)
    OUT.print(
        "ratio: log points/s = cycleml / MLflow (natural / single batch); "
        "search and empty run = MLflow / cycleml"
    )
    for name, target in doc["targets"].items():
        colour = "green" if target["met"] else "red"
        OUT.print(f"[{colour}]target {name}: {target['description']} -> {target['measured']}[/]")
    if doc["checks"]["failed"]:
        OUT.print(f"[bold red]{len(doc['checks']['failed'])} correctness check(s) FAILED[/]")
    else:
        OUT.print(f"[green]all {len(doc['checks']['passed'])} correctness checks passed[/]")


def targets(workloads: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    w1 = workloads.get("w1")
    if w1 and "mlflow" in w1:
        measured = w1["ratios"]["points_per_s_cycleml_over_mlflow"]
        out["w1_points_per_s"] = {
            "description": f"W1 cycleml points/s >= {W1_TARGET_RATIO:g}x MLflow's (same run)",
            "measured": f"{measured}x",
            "met": measured >= W1_TARGET_RATIO,
        }
    if w1 and "mlflow_single_batch" in w1:
        measured = w1["ratios"]["points_per_s_cycleml_over_mlflow_single_batch"]
        out["w1_points_per_s_vs_log_batch"] = {
            "description": f"W1 cycleml points/s >= {W1_TARGET_RATIO_LOG_BATCH:g}x MLflow's "
            "one-log_batch-per-run best case (same run)",
            "measured": f"{measured}x",
            "met": measured >= W1_TARGET_RATIO_LOG_BATCH,
        }
    empty = workloads.get("empty")
    if empty:
        measured_ms = empty["cycleml"]["median_ms"]
        out["empty_run_median"] = {
            "description": f"empty fluent run (SQLite) median <= {EMPTY_TARGET_MEDIAN_MS:g} ms",
            "measured": f"{measured_ms} ms (MLflow {empty['mlflow']['median_ms']} ms)",
            "met": measured_ms <= EMPTY_TARGET_MEDIAN_MS,
        }
    w2 = workloads.get("w2")
    if w2:
        measured_ms = w2["cycleml"]["search"]["median_ms"]
        out["w2_search_median"] = {
            "description": f"W2 cycleml median search <= {W2_TARGET_MEDIAN_MS:g} ms",
            "measured": f"{measured_ms} ms",
            "met": measured_ms <= W2_TARGET_MEDIAN_MS,
        }
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workload",
        default="empty,w1,w2,w1pg",
        help="comma-separated workloads among empty, w1, w2, w1pg (default: all)",
    )
    parser.add_argument("--runs-w2", type=int, default=10_000, help="runs in W2 (default 10,000)")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes for a smoke run (not for figures)"
    )
    parser.add_argument("--json-out", type=Path, help="also write the JSON document here")
    parser.add_argument(
        "--pg-admin-uri",
        default=DEFAULT_PG_ADMIN_URI,
        help="PostgreSQL URI used to create and drop the per-store databases",
    )
    args = parser.parse_args(argv)
    args.workloads = [w.strip() for w in args.workload.split(",") if w.strip()]
    unknown = set(args.workloads) - {"empty", "w1", "w2", "w1pg"}
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    config = Config(
        w1_runs=20 if args.quick else 200,
        w1_steps=10 if args.quick else 100,
        w2_runs=min(args.runs_w2, 500) if args.quick else args.runs_w2,
        pg_admin_uri=args.pg_admin_uri,
        empty_runs=50 if args.quick else EMPTY_RUNS,
    )
    checks = Checks()
    workloads: dict[str, Any] = {}
    started = time.perf_counter()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    for name in args.workloads:
        if name == "empty":
            workloads["empty"] = workload_empty(config, checks)
        elif name == "w1":
            workloads["w1"] = workload_w1(config, checks, postgres=False)
        elif name == "w2":
            workloads["w2"] = workload_w2(config, checks)
        else:
            workloads["w1pg"] = workload_w1(config, checks, postgres=True)
    doc: dict[str, Any] = {
        "benchmark": "tracking",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "quick": args.quick,
        "machine": machine_info(config, "w1pg" in args.workloads)
        | {"load_average_at_start": load_at_start},
        "workloads": workloads,
        "targets": targets(workloads),
        "checks": {"passed": checks.passed, "failed": checks.failed},
        "total_s": round(time.perf_counter() - started, 1),
    }
    print_table(doc)
    rendered = json.dumps(doc, indent=2)
    print(rendered)
    if args.json_out:
        args.json_out.write_text(rendered + "\n")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
