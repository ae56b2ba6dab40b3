"""Team-server benchmark: ``cycleml server`` against ``mlflow server``, then reliability checks.

Figures (one run, the same MLflow client, ``mlflow`` of ``.venv-bench``, against both
servers; each server on a fresh SQLite file and a fresh PostgreSQL database, and with 1 and
4 workers):

* ``runs``     runs created per second: ``MlflowClient.create_run`` + ``set_terminated``.
* ``batch``    metric points per second through ``MlflowClient.log_batch``, 1,000 per call.
* ``search``   ``search_runs`` over 10,000 runs, ``metrics.m1 > q and params.p1 != 'x'``
               ordered by ``metrics.m2 DESC`` (100 results): p50 and p95. The runs are
               written in-process before the server starts (``tracking.py``'s W2 data), once
               per store, and both worker counts search the same store (on PostgreSQL,
               after ``ANALYZE``: see :func:`analyze`).
* ``sdk``      cycleml's own SDK (fluent API over ``RestRunRepository``, buffered batches of
               1,000 points, one request per flush) against the same cycleml server.

Reliability (cycleml only, PostgreSQL, ``--workload concurrent,kill,fuzz``):

* ``concurrent`` 16 client processes log through the SDK to 4 workers for 60 s; every
                 point is read back and counted, and every HTTP status the clients received
                 (retries included) is counted: no 5xx.
* ``kill``       a worker is SIGKILLed while its database transaction for a batch is open
                 (found in ``pg_stat_activity``, its process by ``ss``): right after, the run
                 holds none of the batch or all of it; the SDK's retry (same X-Request-ID)
                 completes it, and the run then holds exactly the batch.
* ``fuzz``       schemathesis against ``/openapi.json``, the ``/api/v1`` operations, check
                 ``not_a_server_error``; and path traversal through the artifact proxy and the
                 blob route refused with 400 (unit tests: tests/server/test_mlflow_artifacts.py).

Short forms of the three run in the suite: tests/server/test_reliability.py.

    .venv-bench/bin/python bench/server.py --quick                 # smoke run (figures meaningless)
    .venv-bench/bin/python bench/server.py --json-out /tmp/server.json

Prints a table, then one JSON document with every figure, to stdout; progress goes to stderr.
Exits 1 when a correctness or reliability check fails (a missed target does not).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy
from mlflow.entities import Metric as MlflowMetric
from mlflow.tracking import MlflowClient
from rich.table import Table

from cycleml.tracking import RestRunRepository, Tracker, TrackingClient
from server_checks import BATCH_KEYS, check_concurrent, check_fuzz, check_kill, serve, store
from tracking import (
    DEFAULT_PG_ADMIN_URI,
    ERR,
    MAX_RESULTS,
    ORDER_BY,
    OUT,
    Checks,
    Config,
    cycleml_settings,
    cycleml_w2,
    expected_names,
    fmt,
    machine_info,
    make_dataset,
    mlflow_w2,
    ratio,
    search_filter,
    search_thresholds,
    summarize_ms,
    temp_folder,
)

# MLflow's client prints a "View run" URL at every set_terminated through a server: noise.
os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
SPEEDUP_TARGET = 5.0  # every figure >= 5x MLflow's (issue 12, section 5)
SEARCH_P50_TARGET_MS = 20.0
SDK_TARGET_RATIO = 50.0  # SDK points/s over the MLflow client's log_batch points/s
BATCH_SIZE = 1000


# ---- figures through the MLflow client -----------------------------------------------------
def time_runs(client: MlflowClient, n_runs: int, tag: str, checks: Checks) -> dict[str, Any]:
    """Runs created per second: ``create_run`` then ``set_terminated``, one run at a time."""
    experiment_id = client.create_experiment(f"runs-{uuid.uuid4().hex[:8]}")
    start = time.perf_counter()
    for _ in range(n_runs):
        run = client.create_run(experiment_id)
        client.set_terminated(run.info.run_id)
    elapsed = time.perf_counter() - start
    found = client.search_runs([experiment_id], max_results=max(n_runs, 1) + 1)
    finished = sum(run.info.status == "FINISHED" for run in found)
    checks.expect(
        len(found) == n_runs == finished,
        f"{tag} runs: {len(found)} stored, {finished} FINISHED, expected {n_runs}",
    )
    return {"runs": n_runs, "seconds": round(elapsed, 3), "runs_per_s": round(n_runs / elapsed, 1)}


def time_log_batch(client: MlflowClient, calls: int, tag: str, checks: Checks) -> dict[str, Any]:
    """Points per second through ``log_batch``, ``BATCH_SIZE`` points (10 keys) per call."""
    experiment_id = client.create_experiment(f"batch-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(experiment_id).info.run_id
    steps = BATCH_SIZE // len(BATCH_KEYS)
    stamp = int(time.time() * 1000)
    batches = [
        [
            MlflowMetric(key, float(c * steps + s) + 0.5, stamp, c * steps + s)
            for s in range(steps)
            for key in BATCH_KEYS
        ]
        for c in range(calls)
    ]
    start = time.perf_counter()
    for batch in batches:
        client.log_batch(run_id, metrics=batch)
    elapsed = time.perf_counter() - start
    client.set_terminated(run_id)
    stored = sum(len(client.get_metric_history(run_id, key)) for key in BATCH_KEYS)
    want = calls * steps * len(BATCH_KEYS)
    checks.expect(stored == want, f"{tag} log_batch: {stored} points read back, expected {want}")
    return {"calls": calls} | points_rate(want, elapsed)


def time_search(
    client: MlflowClient,
    experiment_id: str,
    thresholds: Sequence[float],
    ds: Any,
    tag: str,
    checks: Checks,
) -> dict[str, Any]:
    """``search_runs`` latencies over the populated experiment, each result checked."""

    def names(q: float) -> list[str]:
        found = client.search_runs(
            [experiment_id],
            filter_string=search_filter(q),
            order_by=ORDER_BY,
            max_results=MAX_RESULTS,
        )
        return [run.info.run_name for run in found]

    names(thresholds[0])  # warm-up, untimed
    samples, wrong = [], 0
    for q in thresholds:
        start = time.perf_counter()
        got = names(q)
        samples.append(time.perf_counter() - start)
        wrong += got != expected_names(ds, q)
    checks.expect(
        not wrong, f"{tag} search: {wrong} of {len(thresholds)} results differ from numpy's"
    )
    summary = summarize_ms(samples)
    # The same searches as one raw POST each: the server's share, without the client's parsing.
    raw = []
    with httpx.Client(base_url=client.tracking_uri, timeout=60) as http:
        for q in thresholds:
            body = {"experiment_ids": [experiment_id], "filter": search_filter(q),
                    "order_by": ORDER_BY, "max_results": MAX_RESULTS}  # fmt: skip
            start = time.perf_counter()
            http.post("/api/2.0/mlflow/runs/search", json=body).raise_for_status()
            raw.append(time.perf_counter() - start)
    return {
        "p50_ms": summary["median_ms"],
        "p95_ms": summary["p95_ms"],
        "max_ms": summary["max_ms"],
        "raw_http_p50_ms": summarize_ms(raw)["median_ms"],
        "searches": len(thresholds),
        "runs": ds.n_runs,
    }


def time_sdk(url: str, folder: Path, runs: int, steps: int, tag: str, checks: Checks) -> dict:
    """cycleml's fluent API through ``RestRunRepository``: ``log_metrics`` per step."""
    tracker = Tracker(
        client=TrackingClient(cycleml_settings(folder, None), repository=RestRunRepository(url))
    )
    try:
        tracker.set_experiment(f"sdk-{uuid.uuid4().hex[:8]}")
        values = [{key: float(s) + 0.25 for key in BATCH_KEYS} for s in range(steps)]
        run_ids = []
        start = time.perf_counter()
        for _ in range(runs):
            with tracker.start_run() as run:
                for step, row in enumerate(values):
                    tracker.log_metrics(row, step=step)
            run_ids.append(run.run_id)
        elapsed = time.perf_counter() - start
        stored = tracker.client.repository.count_metric_points(run_ids)
    finally:
        tracker.close()
    want = runs * steps * len(BATCH_KEYS)
    checks.expect(stored == want, f"{tag} sdk: {stored} points stored, expected {want}")
    return {"runs": runs} | points_rate(want, elapsed)


def points_rate(points: int, elapsed: float) -> dict[str, Any]:
    """Points written in ``elapsed`` seconds, as the figures record them."""
    return {
        "points": points,
        "seconds": round(elapsed, 3),
        "points_per_s": round(points / elapsed, 1),
    }


def figures_for(kind: str, backend: str, args: argparse.Namespace, checks: Checks) -> dict:
    """Every figure of one server on one backend: populate once, then each worker count."""
    ds = make_dataset(args.search_runs, 1, seed=2)
    thresholds = search_thresholds(ds, args.searches)
    out: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(temp_folder(f"server-{kind}-{backend}"))
        uri = stack.enter_context(store(backend, folder, args.pg_admin_uri, kind))
        ERR.print(f"[bold]{kind} {backend}[/]: writing {ds.n_runs} runs in-process for search")
        if kind == "mlflow":
            out["in_process_w2"] = mlflow_w2(ds, uri, folder, thresholds[:5], checks)
        else:
            out["in_process_w2"] = cycleml_w2(
                ds, cycleml_settings(folder, uri), thresholds[:5], checks
            )
        if backend == "postgresql":
            analyze(uri)
        for workers in args.worker_counts:
            tag = f"{kind} {backend} w{workers}"
            try:
                with serve(kind, uri, folder, workers) as served:
                    client = MlflowClient(tracking_uri=served.url)
                    ERR.print(f"  {tag}: runs, log_batch, search")
                    result = {
                        "runs": time_runs(client, args.runs, tag, checks),
                        "log_batch": time_log_batch(client, args.batches, tag, checks),
                    }
                    experiment = client.get_experiment_by_name("bench-w2")
                    assert experiment is not None
                    result["search"] = time_search(
                        client, experiment.experiment_id, thresholds, ds, tag, checks
                    )
                    if kind == "cycleml":
                        ERR.print(f"  {tag}: cycleml SDK")
                        result["sdk"] = time_sdk(
                            served.url, folder, args.sdk_runs, args.sdk_steps, tag, checks
                        )
            except Exception as exc:  # recorded: e.g. a server refusing 4 workers on SQLite
                ERR.print(f"[red]{tag} failed: {exc!r}[/]")
                checks.expect(False, f"{tag}: {exc!r}"[:300])
                result = {"error": repr(exc)[:500]}
            out[f"workers_{workers}"] = result
    return out


def analyze(uri: str) -> None:
    """``ANALYZE`` a freshly written PostgreSQL store, as autovacuum would have by now.

    Right after a bulk load the planner has no statistics: it takes the new tables for
    nearly empty and picks nested loops (a metric filter over 2,000 runs took 300 ms instead
    of 14 ms). A team server's store has been analyzed; both servers get the same treatment.
    """
    engine = sqlalchemy.create_engine(uri, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("ANALYZE"))
    finally:
        engine.dispose()


def compare(figures: dict[str, Any]) -> dict[str, Any]:
    """Ratios and targets for every backend and worker count both servers ran."""
    out: dict[str, Any] = {}
    for backend, servers in figures.items():
        cyc, ml = servers.get("cycleml", {}), servers.get("mlflow", {})
        for key, c in cyc.items():
            m = ml.get(key)
            if not key.startswith("workers_") or "error" in c:
                continue
            r: dict[str, Any] = {"search_p50_ms": c["search"]["p50_ms"]}
            r["search_p50_met"] = r["search_p50_ms"] <= SEARCH_P50_TARGET_MS
            r["sdk_over_mlflow_client_on_cycleml"] = ratio(
                c["sdk"]["points_per_s"], c["log_batch"]["points_per_s"]
            )
            if m and "error" not in m:
                r["runs_per_s"] = ratio(c["runs"]["runs_per_s"], m["runs"]["runs_per_s"])
                r["points_per_s"] = ratio(
                    c["log_batch"]["points_per_s"], m["log_batch"]["points_per_s"]
                )
                r["search_p50"] = ratio(m["search"]["p50_ms"], c["search"]["p50_ms"])
                r["search_p95"] = ratio(m["search"]["p95_ms"], c["search"]["p95_ms"])
                r["speedups_met"] = all(
                    r[k] >= SPEEDUP_TARGET
                    for k in ("runs_per_s", "points_per_s", "search_p50", "search_p95")
                )
                r["sdk_over_mlflow_client_on_mlflow"] = ratio(
                    c["sdk"]["points_per_s"], m["log_batch"]["points_per_s"]
                )
                r["sdk_met"] = r["sdk_over_mlflow_client_on_mlflow"] >= SDK_TARGET_RATIO
            out[f"{backend} {key}"] = r
    return out


# ---- report ------------------------------------------------------------------------------
def print_table(doc: dict[str, Any]) -> None:
    table = Table(title="cycleml server vs mlflow server (the same MLflow client)")
    for column in ("store", "workers", "figure", "cycleml", "mlflow", "ratio"):
        table.add_column(column, justify="left" if column in ("store", "figure") else "right")
    rows = (
        ("runs/s", "runs", "runs_per_s", "runs_per_s"),
        ("log_batch points/s", "log_batch", "points_per_s", "points_per_s"),
        ("search p50 ms", "search", "p50_ms", "search_p50"),
        ("search p95 ms", "search", "p95_ms", "search_p95"),
        ("SDK points/s", "sdk", "points_per_s", "sdk_over_mlflow_client_on_mlflow"),
    )
    for backend, servers in doc["figures"].items():
        for workers in doc["config"]["workers"]:
            key = f"workers_{workers}"
            c, m = servers.get("cycleml", {}).get(key, {}), servers.get("mlflow", {}).get(key, {})
            r = doc["ratios"].get(f"{backend} {key}", {})
            for label, part, field, ratio_key in rows:
                cell = r.get(ratio_key)
                table.add_row(
                    backend,
                    str(workers),
                    label,
                    fmt(c.get(part, {}).get(field)) if "error" not in c else "error",
                    fmt(m.get(part, {}).get(field)) if "error" not in m else "error",
                    f"{fmt(cell)}x" if cell is not None else "",
                )
    OUT.print(table)
    OUT.print(
        "ratio: cycleml / MLflow for throughputs, MLflow / cycleml for latencies; SDK: "
        "cycleml SDK points/s over the MLflow client's log_batch on mlflow server"
    )
    for name, result in doc["reliability"].items():
        OUT.print(
            f"[bold]{name}[/]: "
            + json.dumps(
                {
                    k: v
                    for k, v in result.items()
                    if k not in ("report", "summary_tail", "traversal")
                }
            )[:600]
        )
    if doc["checks"]["failed"]:
        OUT.print(f"[bold red]{len(doc['checks']['failed'])} check(s) FAILED[/]")
    else:
        OUT.print(f"[green]all {len(doc['checks']['passed'])} checks passed[/]")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add = parser.add_argument
    add(
        "--workload",
        default="figures,concurrent,kill,fuzz",
        help="comma-separated: figures, concurrent, kill, fuzz (default: all)",
    )
    add("--backends", default="sqlite,postgresql", help="stores for the figures")
    add("--workers", default="1,4", help="worker counts for the figures")
    add("--servers", default="cycleml,mlflow", help="servers for the figures")
    add("--runs", type=int, default=1000, help="runs created for the runs/s figure")
    add("--batches", type=int, default=100, help="log_batch calls of 1,000 points")
    add("--search-runs", type=int, default=10_000, help="runs searched over")
    add("--searches", type=int, default=50, help="timed searches per case")
    add("--sdk-runs", type=int, default=20, help="SDK runs (x steps x 10 metrics)")
    add("--sdk-steps", type=int, default=1000, help="SDK steps per run")
    add("--clients", type=int, default=16, help="concurrent client processes")
    add("--seconds", type=float, default=60.0, help="how long the concurrent clients log")
    add("--client-steps", type=int, default=100, help="steps (x 10 metrics) per client run")
    add("--reliability-workers", type=int, default=4, help="workers for concurrent and kill")
    add("--kill-trials", type=int, default=5)
    add("--kill-points", type=int, default=200_000, help="points in the killed batch")
    add("--fuzz-examples", type=int, default=25, help="schemathesis examples per operation")
    add("--fuzz-phases", default="examples,coverage,fuzzing", help="schemathesis phases")
    add("--quick", action="store_true", help="small sizes for a smoke run (not for figures)")
    add("--json-out", type=Path, help="also write the JSON document here")
    add(
        "--pg-admin-uri",
        default=DEFAULT_PG_ADMIN_URI,
        help="PostgreSQL URI used to create and drop the per-case databases",
    )
    args = parser.parse_args(argv)
    args.workloads = [w.strip() for w in args.workload.split(",") if w.strip()]
    unknown = set(args.workloads) - {"figures", "concurrent", "kill", "fuzz"}
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(sorted(unknown))}")
    args.backend_list = [b.strip() for b in args.backends.split(",") if b.strip()]
    args.server_list = [s.strip() for s in args.servers.split(",") if s.strip()]
    args.worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    if args.quick:
        args.runs, args.batches, args.search_runs, args.searches = 30, 5, 500, 10
        args.sdk_runs, args.sdk_steps, args.clients, args.seconds = 2, 200, 4, 5.0
        args.kill_trials, args.kill_points, args.fuzz_examples = 1, 50_000, 3
        args.reliability_workers = 2
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for name in ("alembic", "mlflow", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    checks = Checks()
    started = time.perf_counter()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    figures: dict[str, Any] = {}
    if "figures" in args.workloads:
        for backend in args.backend_list:
            figures[backend] = {
                kind: figures_for(kind, backend, args, checks) for kind in args.server_list
            }
    reliability: dict[str, Any] = {}
    for name, check in (
        ("concurrent", check_concurrent),
        ("kill", check_kill),
        ("fuzz", check_fuzz),
    ):
        if name in args.workloads:
            try:
                reliability[name] = check(args, checks)
            except Exception as exc:
                checks.expect(False, f"{name}: {exc!r}"[:500])
                reliability[name] = {"error": repr(exc)[:1000]}
    config = Config(w1_runs=0, w1_steps=0, w2_runs=args.search_runs, pg_admin_uri=args.pg_admin_uri)
    doc: dict[str, Any] = {
        "benchmark": "server",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "quick": args.quick,
        "machine": machine_info(config, True) | {"load_average_at_start": load_at_start},
        "config": {
            "workers": args.worker_counts,
            "runs": args.runs,
            "batches": args.batches,
            "batch_size": BATCH_SIZE,
            "search_runs": args.search_runs,
            "searches": args.searches,
            "sdk_points": args.sdk_runs * args.sdk_steps * 10,
            "clients": args.clients,
            "seconds": args.seconds,
            "kill_trials": args.kill_trials,
            "kill_points": args.kill_points,
            "fuzz_examples": args.fuzz_examples,
        },
        "figures": figures,
        "ratios": compare(figures),
        "targets": {
            "speedup": SPEEDUP_TARGET,
            "search_p50_ms": SEARCH_P50_TARGET_MS,
            "sdk_over_mlflow_log_batch": SDK_TARGET_RATIO,
        },
        "reliability": reliability,
        "checks": {"passed": checks.passed, "failed": checks.failed},
        "total_s": round(time.perf_counter() - started, 1),
    }
    print_table(doc)
    rendered = json.dumps(doc, indent=2, default=str)
    print(rendered)
    if args.json_out:
        args.json_out.write_text(rendered + "\n")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
