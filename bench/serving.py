"""Serving benchmark: ``cycleml serve`` against ``mlflow models serve`` on the same model.

Both serve one scikit-learn model, a 100-tree random forest trained on scikit-learn's
bundled breast-cancer data, from their own model folders. The load generator
(``bench/loadgen.py``, closed loop over keep-alive connections) runs in a separate process
on loopback and sends single-row requests in MLflow's ``dataframe_split`` format to
``/invocations`` (the same body for both) at concurrency 1, 16 and 64. cycleml runs with
micro-batching on (the default) and off. In-process ``predict`` times give the overhead at
concurrency 1 and the throughput ceiling (batch predict, rows per second).

    .venv-bench/bin/python bench/serving.py --json-out /tmp/serving.json
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

OUT = Console()
ERR = Console(stderr=True)
BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
CONCURRENCY = (1, 16, 64)
THROUGHPUT_TARGET = 20.0  # x MLflow's req/s at concurrency 64
P99_TARGET = 0.1  # x MLflow's p99 at concurrency 64
OVERHEAD_TARGET_MS = 2.0  # p50 latency minus in-process predict, concurrency 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before it was ready")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready at {url} after {timeout:.0f} s")


@contextlib.contextmanager
def server(command: list[str], health: str, env: dict[str, str]) -> Iterator[None]:
    ERR.print(f"[dim]start: {' '.join(command)}[/]")
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_ready(health, process)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def load(url: str, body: Path, concurrency: int, duration: float, warmup: float) -> dict[str, Any]:
    command = [str(BIN / "python"), str(HERE / "loadgen.py"), "--url", url, "--body", str(body),
               "--concurrency", str(concurrency), "--duration", str(duration),
               "--warmup", str(warmup)]  # fmt: skip
    ERR.print(f"[dim]{dt.datetime.now(dt.UTC):%H:%M:%S}[/] load c={concurrency} {url}")
    done = subprocess.run(command, capture_output=True, check=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout)
    ERR.print(f"    {result['throughput_rps']} req/s, p50 {result['latency_ms']['p50']} ms, "
              f"p99 {result['latency_ms']['p99']} ms, errors {result['errors']}")  # fmt: skip
    return result


def in_process(model: RandomForestClassifier, x: pd.DataFrame, repeat: int) -> dict[str, float]:
    def best(rows: int) -> float:
        frame = x.iloc[:rows]
        model.predict(frame)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            model.predict(frame)
            times.append(time.perf_counter() - started)
        return float(np.median(times))

    one, hundred, batch64 = best(1), best(100), best(64)
    return {
        "predict_1_row_ms": round(one * 1000, 3),
        "predict_100_rows_ms": round(hundred * 1000, 3),
        "predict_64_rows_ms": round(batch64 * 1000, 3),
        "ceiling_rows_per_s_batch_64": round(64 / batch64, 1),
        "ceiling_rows_per_s_batch_100": round(100 / hundred, 1),
    }


def cycleml_overhead(folder: Path, x: pd.DataFrame, repeat: int) -> dict[str, float]:
    from cycleml.models import load_model

    loaded = load_model(folder)
    frame = x.iloc[:1]
    loaded.predict(frame)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        loaded.predict(frame)
        times.append(time.perf_counter() - started)
    return {"loaded_model_predict_1_row_ms": round(float(np.median(times)) * 1000, 3)}


def versions() -> dict[str, str]:
    import mlflow
    import sklearn

    import cycleml

    return {"cycleml": cycleml.__version__, "mlflow": mlflow.__version__,
            "scikit_learn": sklearn.__version__, "python": platform.python_version()}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load level")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=200, help="in-process timing repeats")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--quick", action="store_true", help="short levels (smoke run)")
    parser.add_argument("--sweep", action="store_true",
                        help="only sweep the micro-batching settings (no MLflow)")  # fmt: skip
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup, args.repeat = 2.0, 0.5, 20
    if args.sweep:
        return sweep(args)
    started = time.perf_counter()
    load_at_start = [round(v, 2) for v in os.getloadavg()]
    folder = Path(tempfile.mkdtemp(prefix="cycleml-bench-serving-"))
    try:
        x, y = load_breast_cancer(return_X_y=True, as_frame=True)
        model = RandomForestClassifier(n_estimators=100, random_state=0).fit(x, y)
        body = folder / "body.json"
        body.write_text(json.dumps({"dataframe_split": {
            "columns": list(x.columns), "data": x.iloc[:1].to_numpy().tolist()}}))  # fmt: skip
        from cycleml.models import save_model

        cyc_model = save_model(model, folder / "cycleml-model", input_example=x.head(5))
        results: dict[str, Any] = {"in_process": in_process(model, x, args.repeat)}
        results["in_process"] |= cycleml_overhead(cyc_model, x, args.repeat)
        # `mlflow models serve` starts `uvicorn` through bash: the venv's bin must be on PATH.
        env = {**os.environ, "CYCLEML_HOME": str(folder / "home"),
               "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
        runs: dict[str, dict[str, Any]] = {}
        for label, extra in (("cycleml", []), ("cycleml_no_batching", ["--no-batching"])):
            port = free_port()
            command = [str(BIN / "cycleml"), "serve", str(cyc_model), "--port", str(port)]
            with server(command + extra, f"http://127.0.0.1:{port}/health", env):
                url = f"http://127.0.0.1:{port}/invocations"
                runs[label] = {str(c): load(url, body, c, args.duration, args.warmup)
                               for c in CONCURRENCY}  # fmt: skip
        if not args.skip_mlflow:
            import mlflow.sklearn

            ml_model = folder / "mlflow-model"
            # MLflow 3.17 stores sklearn models with skops and refuses a forest's tree type
            # unless it is named as trusted (the same type cycleml records at save time).
            mlflow.sklearn.save_model(model, str(ml_model), input_example=x.head(5),
                                      skops_trusted_types=["sklearn.tree._tree.Tree"])  # fmt: skip
            port = free_port()
            command = [str(BIN / "mlflow"), "models", "serve", "-m", str(ml_model), "-p",
                       str(port), "-h", "127.0.0.1", "--env-manager", "local"]  # fmt: skip
            with server(command, f"http://127.0.0.1:{port}/ping", env):
                url = f"http://127.0.0.1:{port}/invocations"
                runs["mlflow"] = {str(c): load(url, body, c, args.duration, args.warmup)
                                  for c in CONCURRENCY}  # fmt: skip
        results["runs"] = runs
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    doc = {
        "benchmark": "serving",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "load_average_at_start": load_at_start,
                    "load_average_at_end": [round(v, 2) for v in os.getloadavg()]},
        "versions": versions(),
        "results": results,
        "targets": targets(results),
        "total_s": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    print_table(doc)
    rendered = json.dumps(doc, indent=2)
    print(rendered)
    if args.json_out:
        args.json_out.write_text(rendered + "\n")
    return 0


SWEEP_BATCH_SIZES = (16, 32, 64, 128, 256)
SWEEP_WAITS_MS = (0.0, 2.0, 5.0)
SWEEP_CONCURRENCY = (16, 64)


def sweep(args: argparse.Namespace) -> int:
    """Throughput and p99 for each ``--max-batch-size`` x ``--max-wait-ms`` pair."""
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="cycleml-bench-sweep-"))
    rows: list[dict[str, Any]] = []
    try:
        x, y = load_breast_cancer(return_X_y=True, as_frame=True)
        model = RandomForestClassifier(n_estimators=100, random_state=0).fit(x, y)
        body = folder / "body.json"
        body.write_text(json.dumps({"dataframe_split": {
            "columns": list(x.columns), "data": x.iloc[:1].to_numpy().tolist()}}))  # fmt: skip
        from cycleml.models import save_model

        cyc_model = save_model(model, folder / "cycleml-model", input_example=x.head(5))
        env = {**os.environ, "CYCLEML_HOME": str(folder / "home")}
        for size in SWEEP_BATCH_SIZES:
            for wait in SWEEP_WAITS_MS:
                port = free_port()
                command = [str(BIN / "cycleml"), "serve", str(cyc_model), "--port", str(port),
                           "--max-batch-size", str(size), "--max-wait-ms", str(wait)]  # fmt: skip
                with server(command, f"http://127.0.0.1:{port}/health", env):
                    url = f"http://127.0.0.1:{port}/invocations"
                    for c in SWEEP_CONCURRENCY:
                        r = load(url, body, c, args.duration, args.warmup)
                        rows.append({"max_batch_size": size, "max_wait_ms": wait,
                                     "concurrency": c, "throughput_rps": r["throughput_rps"],
                                     "p50_ms": r["latency_ms"]["p50"],
                                     "p99_ms": r["latency_ms"]["p99"],
                                     "errors": r["errors"]})  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    table = Table(title="micro-batching settings (single-row requests, forest)")
    for column in ("max_batch_size", "max_wait_ms", "concurrency", "req/s", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(str(r["max_batch_size"]), str(r["max_wait_ms"]), str(r["concurrency"]),
                      f"{r['throughput_rps']:,}", str(r["p50_ms"]), str(r["p99_ms"]))  # fmt: skip
    OUT.print(table)
    doc = {"benchmark": "serving-sweep",
           "command": " ".join([Path(sys.executable).name, *sys.argv]),
           "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
           "machine": {"cpu_count": os.cpu_count()}, "results": rows,
           "total_s": round(time.perf_counter() - started, 1)}  # fmt: skip
    rendered = json.dumps(doc, indent=2)
    print(rendered)
    if args.json_out:
        args.json_out.write_text(rendered + "\n")
    return 0


def targets(results: dict[str, Any]) -> dict[str, Any]:
    runs, base = results["runs"], results["in_process"]
    out: dict[str, Any] = {}
    c1 = runs["cycleml"]["1"]["latency_ms"]["p50"]
    overhead = c1 - base["predict_1_row_ms"]
    out["overhead_c1"] = {"measured_ms": round(overhead, 3), "target_ms": OVERHEAD_TARGET_MS,
                          "met": overhead <= OVERHEAD_TARGET_MS}  # fmt: skip
    if "mlflow" in runs:
        ours, theirs = runs["cycleml"]["64"], runs["mlflow"]["64"]
        ratio = ours["throughput_rps"] / max(theirs["throughput_rps"], 1e-9)
        p99 = ours["latency_ms"]["p99"] / max(theirs["latency_ms"]["p99"], 1e-9)
        out["throughput_c64"] = {"ratio": round(ratio, 1), "target": THROUGHPUT_TARGET,
                                 "met": ratio >= THROUGHPUT_TARGET}  # fmt: skip
        out["p99_c64"] = {"ratio_to_mlflow": round(p99, 3), "target": P99_TARGET,
                          "met": p99 <= P99_TARGET}  # fmt: skip
    ceiling = base["ceiling_rows_per_s_batch_64"]
    out["share_of_ceiling_c64"] = round(runs["cycleml"]["64"]["throughput_rps"] / ceiling, 3)
    return out


def print_table(doc: dict[str, Any]) -> None:
    table = Table(title="cycleml serve vs mlflow models serve (single-row requests)")
    for column in ("server", "concurrency", "req/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="left" if column == "server" else "right")
    for label, levels in doc["results"]["runs"].items():
        for c, r in levels.items():
            lat = r["latency_ms"]
            table.add_row(label, c, f"{r['throughput_rps']:,}", f"{lat['p50']}", f"{lat['p99']}",
                          str(r["errors"]))  # fmt: skip
    OUT.print(table)
    OUT.print(doc["results"]["in_process"])
    OUT.print(doc["targets"])


if __name__ == "__main__":
    sys.exit(main())
