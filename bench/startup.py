"""Startup benchmark: how long cycleml's commands take to start, next to MLflow's.

Every figure is the wall time of a fresh subprocess, from ``Popen`` to its exit (or, for a
server, to the first ``200`` of its health route, polled every ``--poll-ms``), as the
median, min and max of ``--runs`` runs after ``--warmup`` untimed ones. cycleml and MLflow
take turns within each round so that a change in the machine's load hits both alike.

- ``import``: ``python -c "import cycleml"`` / ``python -c "import mlflow"``.
- ``help``: ``cycleml --help`` / ``mlflow --help``.
- ``runs_list``: ``cycleml runs list`` in the demo project (``cycleml demo --dir <tmp>
  --fresh``, created once per benchmark) / ``mlflow runs list --experiment-id <id>`` on a
  SQLite MLflow store holding a copy of the demo's runs (same experiment name, run names,
  times, params, tags and every metric point).
- ``serve``: ``cycleml serve models:/<model>@champion`` until ``GET /health`` answers 200 /
  ``mlflow models serve -m models:/<model>@champion --env-manager local`` until ``GET
  /ping`` answers 200. The MLflow model is the same scikit-learn object, logged with
  ``mlflow.sklearn.log_model`` into the copy of the champion's run and registered under the
  same name and alias. Each server is stopped with SIGTERM to its process group.
- ``serve_deployment``: ``cycleml serve --deployment <the demo's deployment>`` (primary and
  canary) until ``GET /health`` answers 200 (MLflow has no equivalent).

    .venv-bench/bin/python bench/startup.py --json-out /tmp/startup.json
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

# Wide enough for the table when stdout is a pipe (rich falls back to 80 columns).
OUT = Console(width=None if sys.stdout.isatty() else 120)
ERR = Console(stderr=True)
BIN = Path(sys.executable).parent
WORKLOADS = ("import", "help", "runs_list", "serve", "serve_deployment")
# Median seconds, from issue 10. serve_deployment has no target: it is reported only.
TARGETS_S = {"import": 0.25, "help": 0.6, "runs_list": 1.5, "serve": 4.0}
# What `import cycleml` must leave out of sys.modules (DESIGN.md section 3).
HEAVY = ("sklearn", "scipy", "pandas", "alembic", "fastapi", "plotly")
SERVER_TIMEOUT_S = 180.0


@dataclass
class Command:
    """One side of a workload: what to run, where, and for servers which route to poll."""

    argv: Callable[[], list[str]]  # called per run: servers need a fresh port each time
    cwd: Path
    env: dict[str, str]
    health: str | None = None  # path polled until it answers 200; None: wait for exit
    check: Callable[[str], str | None] | None = None  # stdout -> problem, or None if fine


@dataclass
class Sample:
    seconds: float
    ok: bool
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_of(argv: list[str]) -> int:
    flag = "--port" if "--port" in argv else "-p"
    return int(argv[argv.index(flag) + 1])


def answers_200(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:  # refused (not listening yet), reset, timeout
        return False
    finally:
        connection.close()


def run_once(command: Command, poll_s: float, log: Path) -> Sample:
    """Time one fresh process: to its exit, or to its health route's first 200."""
    argv = command.argv()
    if command.health is None:
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=command.cwd, env=command.env, capture_output=True,
                              text=True, check=False)  # fmt: skip
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            return Sample(seconds, False, f"exit {done.returncode}: {done.stderr[-600:]}")
        problem = command.check(done.stdout) if command.check else None
        return Sample(seconds, problem is None, problem or "")
    port = port_of(argv)
    with log.open("wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(argv, cwd=command.cwd, env=command.env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        try:
            while not answers_200(port, command.health):
                if process.poll() is not None:
                    tail = log.read_text(errors="replace")[-600:]
                    detail = f"exited {process.returncode} before healthy: {tail}"
                    return Sample(time.perf_counter() - started, False, detail)
                if time.perf_counter() - started > SERVER_TIMEOUT_S:
                    return Sample(SERVER_TIMEOUT_S, False, "not healthy in time")
                time.sleep(poll_s)
            seconds = time.perf_counter() - started
            extra = {"port": port}
            if command.check is not None:
                problem = command.check(str(port))
                if problem:
                    return Sample(seconds, False, problem)
        finally:
            stop = stop_server(process)
    return Sample(seconds, True, extra={**extra, **stop})


def stop_server(process: subprocess.Popen[bytes]) -> dict[str, Any]:
    """SIGTERM the server's process group and wait; SIGKILL after 30 s."""
    started = time.perf_counter()
    forced = False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        forced = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return {"stop_s": round(time.perf_counter() - started, 3), "exit_code": process.returncode,
            "killed": forced}  # fmt: skip


def summarize(samples: list[Sample]) -> dict[str, Any]:
    times = [s.seconds for s in samples]
    out: dict[str, Any] = {
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "runs_s": [round(t, 3) for t in times],
    }
    exits = sorted({s.extra["exit_code"] for s in samples if "exit_code" in s.extra})
    if exits:
        out["exit_codes_after_sigterm"] = exits
        out["stop_median_s"] = round(statistics.median(s.extra["stop_s"] for s in samples), 3)
    return out


def measure(
    name: str, sides: dict[str, Command], runs: int, warmup: int, poll_s: float, logs: Path
) -> tuple[dict[str, Any], list[str]]:
    """Warm-up rounds, then ``runs`` rounds in which every side runs once, in turn."""
    samples: dict[str, list[Sample]] = {side: [] for side in sides}
    problems: list[str] = []
    for i in range(warmup + runs):
        for side, command in sides.items():
            sample = run_once(command, poll_s, logs / f"{name}-{side}-{i}.log")
            label = "warm-up" if i < warmup else f"run {i - warmup + 1}/{runs}"
            ERR.print(f"[dim]{dt.datetime.now(dt.UTC):%H:%M:%S}[/] {name} {side} {label}: "
                      f"{sample.seconds:.3f} s{'' if sample.ok else ' FAILED'}")  # fmt: skip
            if not sample.ok:
                problems.append(f"{name} {side}: {sample.detail}")
                ERR.print(f"    [red]{sample.detail}[/]")
            if i >= warmup:
                samples[side].append(sample)
    return {side: summarize(found) for side, found in samples.items() if found}, problems


# ---- fixtures: the demo project and its MLflow copy ----------------------------------------


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The parent's environment without cycleml/MLflow settings, as a new user has it.

    PYTHONDONTWRITEBYTECODE is dropped: with it, every start compiles cycleml's (editable)
    sources again, which no user's install does. MLflow's telemetry is off, as in
    bench/tracking.py. `mlflow models serve` starts uvicorn through bash: the venv's bin goes
    first on PATH. COLUMNS keeps both tools' tables wide enough to show full run ids.
    """
    dropped = ("CYCLEML_", "MLFLOW_", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env |= {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "COLUMNS": "250",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
    return env | (extra or {})


def make_demo(folder: Path) -> float:
    ERR.print(f"[dim]creating the demo project in {folder} (cycleml demo --fresh)[/]")
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "cycleml"), "demo", "--dir", str(folder), "--fresh"],
                          env=child_env(), capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"cycleml demo failed ({done.returncode}): {done.stderr[-2000:]}")
    return round(time.perf_counter() - started, 1)


@dataclass
class Fixture:
    demo: Path
    model_uri: str  # the same URI names the model in both registries
    deployment: str
    cycleml_run_ids: list[str]
    input_example: list[dict[str, Any]]
    mlflow_uri: str = ""
    mlflow_experiment_id: str = ""
    mlflow_run_ids: list[str] = field(default_factory=list)
    copied: dict[str, int] = field(default_factory=dict)


def read_demo(demo: Path) -> tuple[Fixture, dict[str, Any], Any]:
    from cycleml.lifecycle._demo_serving import DEPLOYMENT, MODEL_NAME
    from cycleml.models import load_model
    from cycleml.settings import resolve_settings
    from cycleml.tracking import TrackingClient

    settings = resolve_settings(home=demo)
    model_uri = f"models:/{MODEL_NAME}@champion"
    loaded = load_model(model_uri, settings=settings)
    client = TrackingClient(settings)
    runs = client.search_runs(max_results=1000)
    histories = {r.info.run_id: {k: client.get_metric_history(r.info.run_id, k)
                                 for k in r.data.metrics} for r in runs}  # fmt: skip
    fixture = Fixture(demo=demo, model_uri=model_uri, deployment=DEPLOYMENT,
                      cycleml_run_ids=[r.info.run_id for r in runs],
                      input_example=loaded.input_example or [])  # fmt: skip
    experiments = {e.experiment_id: e.name for e in client.list_experiments()}
    copy = {"runs": runs, "histories": histories, "champion_run": loaded.run_id,
            "experiments": experiments}  # fmt: skip
    model = loaded.unwrap()
    loaded.close()
    return fixture, copy, model


def copy_to_mlflow(fixture: Fixture, copy: dict[str, Any], model: Any, folder: Path) -> None:
    """An MLflow store with the demo's runs, and the champion logged and registered."""
    import mlflow
    import mlflow.sklearn
    import pandas as pd
    import skops.io
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri, uri)
    names = {r.info.experiment_id for r in copy["runs"]}
    if len(names) != 1:
        raise RuntimeError(f"the demo has runs in {len(names)} experiments; expected one")
    name = copy["experiments"][names.pop()]
    experiment_id = client.create_experiment(name, (folder / "artifacts").as_uri())
    name_of, version = fixture.model_uri.removeprefix("models:/").split("@")[0], None
    points = params = tags = 0
    for run in sorted(copy["runs"], key=lambda r: r.info.start_time):
        info, data = run.info, run.data
        created = client.create_run(experiment_id, start_time=info.start_time,
                                    run_name=info.run_name)  # fmt: skip
        run_id = created.info.run_id
        histories = copy["histories"][info.run_id].values()
        metrics = [Metric(p.key, p.value, p.timestamp, p.step) for h in histories for p in h]
        client.log_batch(run_id, metrics=metrics,
                         params=[Param(k, v) for k, v in data.params.items()],
                         tags=[RunTag(k, v) for k, v in data.tags.items()])  # fmt: skip
        points += len(metrics)
        params += len(data.params)
        tags += len(data.tags)
        if info.run_id == copy["champion_run"]:
            # MLflow 3.17 stores sklearn models with skops, which refuses types it does not
            # trust; name the ones this model holds (cycleml records the same at save time).
            trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
            # MLflow's hint about integer columns in the inferred schema is noise here.
            with mlflow.start_run(run_id=run_id), warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                logged = mlflow.sklearn.log_model(
                    model, name="model", input_example=pd.DataFrame(fixture.input_example),
                    skops_trusted_types=trusted,
                )  # fmt: skip
            version = mlflow.register_model(logged.model_uri, name_of).version
        client.set_terminated(run_id, info.status, end_time=info.end_time)
        fixture.mlflow_run_ids.append(run_id)
    if version is None:
        raise RuntimeError("the champion's run is not among the demo's runs")
    client.set_registered_model_alias(name_of, "champion", version)
    fixture.mlflow_uri, fixture.mlflow_experiment_id = uri, experiment_id
    fixture.copied = {"runs": len(fixture.mlflow_run_ids), "metric_points": points,
                      "params": params, "tags": tags}  # fmt: skip


# ---- the workloads --------------------------------------------------------------------------


def lists_all(run_ids: list[str]) -> Callable[[str], str | None]:
    def check(stdout: str) -> str | None:
        missing = [r for r in run_ids if r not in stdout]
        return f"{len(missing)} of {len(run_ids)} runs missing from the output" if missing else None

    return check


def predicts(
    example: list[dict[str, Any]], seen: dict[str, Any], side: str
) -> Callable[[str], str | None]:
    """After the health check: one `/invocations` request, kept to compare the two servers."""

    def check(port: str) -> str | None:
        columns = list(example[0])
        rows = [[r[c] for c in columns] for r in example]
        body = json.dumps({"dataframe_split": {"columns": columns, "data": rows}})
        connection = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
        try:
            connection.request("POST", "/invocations", body,
                               {"Content-Type": "application/json"})  # fmt: skip
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        if response.status != 200:
            return f"/invocations answered {response.status}: {text[:300]}"
        seen.setdefault(side, json.loads(text).get("predictions"))
        return None

    return check


def workloads(fixture: Fixture, neutral: Path, chosen: set[str], skip_mlflow: bool,
              seen: dict[str, Any]) -> dict[str, dict[str, Command]]:  # fmt: skip
    py, cyc, mlf = str(BIN / "python"), str(BIN / "cycleml"), str(BIN / "mlflow")
    env, mlflow_env = child_env(), child_env({"MLFLOW_TRACKING_URI": fixture.mlflow_uri})
    example = fixture.input_example
    out: dict[str, dict[str, Command]] = {
        "import": {"cycleml": Command(lambda: [py, "-c", "import cycleml"], neutral, env),
                   "mlflow": Command(lambda: [py, "-c", "import mlflow"], neutral, env)},
        "help": {"cycleml": Command(lambda: [cyc, "--help"], neutral, env),
                 "mlflow": Command(lambda: [mlf, "--help"], neutral, env)},
        "runs_list": {
            "cycleml": Command(lambda: [cyc, "runs", "list"], fixture.demo, env,
                               check=lists_all(fixture.cycleml_run_ids)),
            "mlflow": Command(lambda: [mlf, "runs", "list", "--experiment-id",
                                       fixture.mlflow_experiment_id], neutral, mlflow_env,
                              check=lists_all(fixture.mlflow_run_ids))},
        "serve": {
            "cycleml": Command(lambda: [cyc, "serve", fixture.model_uri, "--port",
                                        str(free_port())], fixture.demo, env, health="/health",
                               check=predicts(example, seen, "cycleml")),
            "mlflow": Command(lambda: [mlf, "models", "serve", "-m", fixture.model_uri, "-h",
                                       "127.0.0.1", "-p", str(free_port()), "--env-manager",
                                       "local"], neutral, mlflow_env, health="/ping",
                              check=predicts(example, seen, "mlflow"))},
        "serve_deployment": {
            "cycleml": Command(lambda: [cyc, "serve", "--deployment", fixture.deployment,
                                        "--port", str(free_port())], fixture.demo, env,
                               health="/health")},
    }  # fmt: skip
    if skip_mlflow:
        out = {name: {k: v for k, v in sides.items() if k == "cycleml"}
               for name, sides in out.items()}  # fmt: skip
    return {name: sides for name, sides in out.items() if name in chosen}


def heavy_after_import(module: str, neutral: Path) -> list[str]:
    code = (f"import sys, json, {module}; "
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")  # fmt: skip
    done = subprocess.run([str(BIN / "python"), "-c", code], cwd=neutral, env=child_env(),
                          capture_output=True, text=True, check=True)  # fmt: skip
    found: list[str] = json.loads(done.stdout)
    return found


def targets(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, sides in results.items():
        ours, theirs = sides.get("cycleml"), sides.get("mlflow")
        if ours is None:
            continue
        entry: dict[str, Any] = {"cycleml_median_s": ours["median_s"]}
        if name in TARGETS_S:
            entry |= {"target_s": TARGETS_S[name], "met": ours["median_s"] <= TARGETS_S[name]}
        if theirs is not None:
            entry["mlflow_median_s"] = theirs["median_s"]
            # How many times faster cycleml starts than MLflow (MLflow / cycleml).
            entry["mlflow_over_cycleml"] = round(theirs["median_s"] / ours["median_s"], 2)
        out[name] = entry
    return out


def versions() -> dict[str, str]:
    import cycleml

    found = {"cycleml": cycleml.__version__, "python": platform.python_version()}
    with contextlib.suppress(ImportError):
        from importlib.metadata import version

        found |= {"mlflow": version("mlflow"), "scikit_learn": version("scikit-learn")}
    return found


def git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=False, cwd=Path(__file__).parent)  # fmt: skip
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=False,
                           cwd=Path(__file__).parent)  # fmt: skip
    return done.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def print_table(doc: dict[str, Any]) -> None:
    table = Table(title=f"startup, median (min-max) of {doc['runs']} fresh processes")
    for column in ("workload", "cycleml s", "MLflow s", "MLflow / cycleml", "target", "met"):
        table.add_column(column, justify="left" if column == "workload" else "right")

    def cell(found: dict[str, Any] | None) -> str:
        if found is None:
            return "-"
        return f"{found['median_s']:.3f} ({found['min_s']:.3f}-{found['max_s']:.3f})"

    for name, sides in doc["results"].items():
        target = doc["targets"].get(name, {})
        ratio = target.get("mlflow_over_cycleml")
        met = target.get("met")
        table.add_row(name, cell(sides.get("cycleml")), cell(sides.get("mlflow")),
                      "-" if ratio is None else f"{ratio}x",
                      f"<= {target['target_s']} s" if "target_s" in target else "-",
                      "-" if met is None else ("yes" if met else "NO"))  # fmt: skip
    OUT.print(table)
    setup = doc["setup"]
    if "interpreter" in setup:
        OUT.print(f"python -c pass (in every figure): {cell(setup['interpreter'])} s")
    OUT.print(f"heavy modules loaded by the import: {setup['heavy_modules_after_import']}")
    if doc["problems"]:
        OUT.print(f"[red]problems: {doc['problems']}[/]")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (caches)")
    parser.add_argument("--workload", default=",".join(WORKLOADS),
                        help=f"comma-separated subset of {','.join(WORKLOADS)}")  # fmt: skip
    parser.add_argument("--poll-ms", type=float, default=20.0, help="health polling interval")
    parser.add_argument("--demo-dir", type=Path,
                        help="use this existing demo project instead of creating one")  # fmt: skip
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--quick", action="store_true", help="3 runs, no warm-up (smoke run)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.runs, args.warmup = 3, 0
    chosen = {w.strip() for w in args.workload.split(",") if w.strip()}
    if unknown := chosen - set(WORKLOADS):
        parser.error(f"unknown workload(s) {sorted(unknown)}; choose from {', '.join(WORKLOADS)}")
    started = time.perf_counter()
    load_at_start = [round(v, 2) for v in os.getloadavg()]
    date = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    folder = Path(tempfile.mkdtemp(prefix="cycleml-bench-startup-"))
    problems: list[str] = []
    results: dict[str, dict[str, Any]] = {}
    seen: dict[str, Any] = {}
    setup: dict[str, Any] = {}
    try:
        neutral, logs = folder / "empty", folder / "logs"
        neutral.mkdir()
        logs.mkdir()
        demo = args.demo_dir.resolve() if args.demo_dir else folder / "demo"
        if args.demo_dir is None:
            setup["demo_s"] = make_demo(demo)
        fixture, copy, model = read_demo(demo)
        setup["demo_runs"] = len(fixture.cycleml_run_ids)
        if not args.skip_mlflow:
            (folder / "mlflow").mkdir()
            copy_to_mlflow(fixture, copy, model, folder / "mlflow")
            setup["mlflow_copy"] = fixture.copied
        setup["heavy_modules_after_import"] = {
            "cycleml": heavy_after_import("cycleml", neutral),
            **({} if args.skip_mlflow else {"mlflow": heavy_after_import("mlflow", neutral)}),
        }  # fmt: skip
        # The floor every figure includes: the interpreter's own start.
        interpreter = Command(lambda: [str(BIN / "python"), "-c", "pass"], neutral, child_env())
        baseline, found = measure("python -c pass", {"python": interpreter}, args.runs,
                                  args.warmup, args.poll_ms / 1000, logs)  # fmt: skip
        setup["interpreter"], problems = baseline["python"], problems + found
        for name, sides in workloads(fixture, neutral, chosen, args.skip_mlflow, seen).items():
            results[name], found = measure(name, sides, args.runs, args.warmup,
                                           args.poll_ms / 1000, logs)  # fmt: skip
            problems += found
        if {"cycleml", "mlflow"} <= seen.keys() and seen["cycleml"] != seen["mlflow"]:
            problems.append(f"the two servers predict differently: {seen}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    doc = {
        "benchmark": "startup",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": date,
        "commit": git_commit(),
        "machine": {"cpu_count": os.cpu_count(), "load_average_at_start": load_at_start,
                    "load_average_at_end": [round(v, 2) for v in os.getloadavg()]},
        "versions": versions(),
        "runs": args.runs,
        "warmup": args.warmup,
        "poll_ms": args.poll_ms,
        "setup": setup,
        "results": results,
        "targets": targets(results),
        "same_predictions": seen.get("cycleml") == seen.get("mlflow") if len(seen) == 2 else None,
        "problems": problems,
        "total_s": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    print_table(doc)
    rendered = json.dumps(doc, indent=2)
    print(rendered)
    if args.json_out:
        args.json_out.write_text(rendered + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
