"""Monitoring benchmark: ``cycleml.monitoring.drift`` against Evidently's DataDriftPreset.

Same synthetic data for both, with known shifts, generated (seeded, in batches) into
Parquet files in one temporary folder:

* ``200k``  reference and current of 200,000 rows x (20 numeric + 5 categorical)
* ``1m``    reference and current of 1,000,000 rows x (40 numeric + 10 categorical)
* ``10m``   a 10,000,000-row current x (40 + 10) (written in row groups, so generation is
            bounded too), evaluated by cycleml against the 1M reference, the current given as
            the Parquet path (cycleml streams it)

Numeric columns come from normal, lognormal, uniform, exponential and integer-valued
(Poisson, uniform integer) distributions, categorical ones have 3-20 categories; a
documented subset is shifted (``NUMERIC`` and ``CATEGORICAL`` below: mean shifts of several
sizes, scale changes, changed shares, a new category). Each column's population drift
statistic (normed Wasserstein distance, Jensen-Shannon distance) is computed exactly from
the distributions, so the JSON says which columns a 0.1 threshold should flag.

Each tool runs in its own subprocess per workload, so each peak RSS is its own: the child
loads both Parquet files into pandas (both tools get the same DataFrames), records RSS
after loading (the data's own footprint), warms up on 2,000 rows (imports and first-call
costs excluded for both), resets the kernel's peak-RSS mark (``/proc/self/clear_refs``),
runs the drift step (timed alone), reads the peak (``VmHWM``, cross-checked by a sampling
thread) and writes the per-column verdicts. Peak minus after-load RSS is the memory the
tool needs above the data. Both use the same tests by default (``--methods explicit``):
Wasserstein distance (normed) for numeric and Jensen-Shannon distance for categorical
columns, threshold 0.1, which is what both pick by themselves for references above 100k
rows (``--methods auto`` lets each choose).

    .venv-bench/bin/python bench/monitoring.py --json-out /tmp/monitoring.json
    .venv-bench/bin/python bench/monitoring.py --quick          # smoke run, figures meaningless
    make bench-monitoring BENCH_ARGS="--sizes 200k --skip-big"  # Evidently at 200k only

``--skip-evidently`` runs cycleml alone; ``--data-dir DIR`` keeps the generated files (3.3 GB
with the 10M current) and reuses them on later runs with the same recipe.

Prints tables, then one JSON document with every figure, to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

OUT = Console(highlight=False, width=130)
ERR = Console(stderr=True, highlight=False)
HERE = Path(__file__).resolve()
MIB = 1024**2

# label -> (rows, numeric columns, categorical columns)
SIZES: dict[str, tuple[int, int, int]] = {
    "20k": (20_000, 20, 5),
    "200k": (200_000, 20, 5),
    "1m": (1_000_000, 40, 10),
}
BIG_ROWS = 10_000_000
BIG_WIDTH = (40, 10)
BATCH_ROWS = 500_000  # rows per generated batch and Parquet row group
WARMUP_ROWS = 2_000
THRESHOLD = 0.1
SPEED_TARGETS = {"200k": 20.0, "1m": 50.0}  # x Evidently's drift time
MEMORY_TARGET = 1 / 3  # cycleml's memory above the data, as a share of Evidently's
BOUNDED_SHARE = 0.5  # 10M peak RSS below half the 10M current's in-memory (Arrow) size
TIE_MARGIN = 0.005  # a statistic this close to the threshold is a near-threshold tie
# The same two tests under each tool's names (numeric, categorical).
EVIDENTLY_METHODS = ("wasserstein", "jensenshannon")
CYCLEML_METHODS = ("wasserstein", "jensen_shannon")

# Numeric column templates: (scipy.stats distribution, reference parameters, current
# parameters or None for "not shifted", description of the shift, share of nulls). Column
# n{i} uses template i % 20, so the 40-column tables repeat the 20 templates.
NUMERIC: list[tuple[str, dict[str, float], dict[str, float] | None, str, float]] = [
    ("norm", {"loc": 0, "scale": 1}, None, "none", 0.0),
    ("norm", {"loc": 0, "scale": 1}, {"loc": 0.5, "scale": 1}, "mean +0.5 sd", 0.0),
    ("norm", {"loc": 10, "scale": 2}, {"loc": 10.1, "scale": 2}, "mean +0.05 sd (small)", 0.0),
    ("norm", {"loc": 0, "scale": 1}, {"loc": 0, "scale": 1.5}, "scale x1.5", 0.0),
    ("lognorm", {"s": 0.5}, None, "none", 0.0),
    ("lognorm", {"s": 0.5}, {"s": 0.5, "scale": math.exp(0.3)}, "log-mean +0.3", 0.0),
    (
        "lognorm",
        {"s": 0.75, "scale": math.e},
        {"s": 0.7875, "scale": math.e},
        "log-sd x1.05 (small)",
        0.0,
    ),
    ("uniform", {"loc": 0, "scale": 1}, None, "none", 0.0),
    ("uniform", {"loc": 0, "scale": 1}, {"loc": 0.1, "scale": 1}, "shift +0.1 (0.35 sd)", 0.0),
    ("uniform", {"loc": -5, "scale": 10}, {"loc": -6, "scale": 12}, "range x1.2", 0.0),
    ("expon", {"scale": 1}, None, "none", 0.0),
    ("expon", {"scale": 1}, {"scale": 1.3}, "scale x1.3", 0.0),
    ("expon", {"scale": 2}, {"scale": 2.1}, "scale x1.05 (small)", 0.0),
    ("poisson", {"mu": 20}, None, "none (integer)", 0.0),
    ("poisson", {"mu": 20}, {"mu": 23}, "mean +3 (integer)", 0.0),
    ("poisson", {"mu": 5}, {"mu": 6}, "mean +1 (integer, ~15 values)", 0.0),
    ("norm", {"loc": 0, "scale": 1}, None, "none (2% nulls)", 0.02),
    (
        "norm",
        {"loc": 100, "scale": 15},
        {"loc": 103.75, "scale": 15},
        "mean +0.25 sd (2% nulls)",
        0.02,
    ),
    ("randint", {"low": 0, "high": 1000}, None, "none (integer 0-999)", 0.0),
    ("norm", {"loc": 0, "scale": 1}, {"loc": 0.15, "scale": 1}, "mean +0.15 sd", 0.0),
]


def _zipf(k: int) -> list[float]:
    weights = [1 / (i + 1) for i in range(k)]
    return [w / sum(weights) for w in weights]


def _moved(shares: list[float], source: int, target: int, amount: float) -> list[float]:
    out = list(shares)
    out[source] -= amount
    out[target] += amount
    return out


# Categorical templates: (category shares in the reference, shares in the current or None;
# a longer current list adds categories unseen in the reference), description, null share.
# Column c{i} uses template i % 5.
CATEGORICAL: list[tuple[list[float], list[float] | None, str, float]] = [
    ([0.5, 0.3, 0.2], None, "none (3 categories)", 0.0),
    ([0.4, 0.25, 0.15, 0.1, 0.1], [0.25, 0.25, 0.2, 0.15, 0.15], "shares changed (5)", 0.0),
    ([0.1] * 10, None, "none (10 categories, 1% nulls)", 0.01),
    (_zipf(20), _moved(_zipf(20), 0, 1, 0.03), "3% share moved (20, small)", 0.0),
    ([1 / 8] * 8, [0.9 / 8] * 8 + [0.1], "new category at 10% (8 -> 9)", 0.0),
]


# ---- data ----------------------------------------------------------------------------------
def column_specs(n_num: int, n_cat: int) -> list[dict[str, Any]]:
    """One dict per column: name, kind, template, shift and the population statistic."""
    specs = []
    for i in range(n_num):
        dist, ref, cur, shift, nulls = NUMERIC[i % len(NUMERIC)]
        specs.append({"column": f"n{i:02d}", "kind": "numeric", "template": i % len(NUMERIC),
                      "distribution": dist, "reference": ref, "current": cur or ref,
                      "shift": shift, "shifted": cur is not None, "nulls": nulls})  # fmt: skip
    for i in range(n_cat):
        ref_p, cur_p, shift, nulls = CATEGORICAL[i % len(CATEGORICAL)]
        specs.append({"column": f"c{i:02d}", "kind": "categorical",
                      "template": i % len(CATEGORICAL), "reference": ref_p,
                      "current": cur_p or ref_p, "shift": shift, "shifted": cur_p is not None,
                      "nulls": nulls})  # fmt: skip
    for spec in specs:
        spec["expected_statistic"] = round(population_statistic(spec), 4)
        spec["expected_drifted"] = spec["expected_statistic"] >= THRESHOLD
    return specs


def population_statistic(spec: dict[str, Any]) -> float:
    """Normed Wasserstein (numeric) or Jensen-Shannon distance (categorical, natural log)."""
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

    if not spec["shifted"]:
        return 0.0
    if spec["kind"] == "categorical":
        ref, cur = list(spec["reference"]), list(spec["current"])
        ref += [0.0] * (len(cur) - len(ref))
        return float(jensenshannon(ref, cur))
    grid = (np.arange(200_000) + 0.5) / 200_000
    ref_dist = getattr(stats, spec["distribution"])(**spec["reference"])
    cur_dist = getattr(stats, spec["distribution"])(**spec["current"])
    distance = np.mean(np.abs(ref_dist.ppf(grid) - cur_dist.ppf(grid)))
    return float(distance / ref_dist.std())


SIDES = {"reference": 1, "current": 2, "big": 3}


def write_parquet(
    path: Path, rows: int, specs: list[dict[str, Any]], side: str, seed: int
) -> dict[str, Any]:
    """Generate ``rows`` rows in batches (one row group each); bounded memory."""
    from scipy import stats

    params_key = "reference" if side == "reference" else "current"
    started = time.perf_counter()
    arrow_bytes = 0
    schema = pa.schema([(s["column"], pa.string() if s["kind"] == "categorical" else
                         pa.int64() if s["distribution"] in ("poisson", "randint")
                         else pa.float64()) for s in specs])  # fmt: skip
    with pq.ParquetWriter(path, schema) as writer:
        for batch_no, start in enumerate(range(0, rows, BATCH_ROWS)):
            n = min(BATCH_ROWS, rows - start)
            arrays = []
            for col_no, spec in enumerate(specs):
                rng = np.random.default_rng([seed, SIDES[side], batch_no, col_no])
                mask = rng.random(n) < spec["nulls"] if spec["nulls"] else None
                if spec["kind"] == "numeric":
                    dist = getattr(stats, spec["distribution"])(**spec[params_key])
                    values = dist.rvs(size=n, random_state=rng)
                    arrays.append(pa.array(values, type=schema.field(col_no).type, mask=mask))
                else:
                    shares = np.asarray(spec[params_key], dtype=float)
                    codes = rng.choice(len(shares), size=n, p=shares / shares.sum())
                    labels = pa.array([f"{spec['column']}_v{k:02d}" for k in range(len(shares))])
                    arrays.append(pc.take(labels, pa.array(codes, mask=mask)))
            batch = pa.record_batch(arrays, schema=schema)
            arrow_bytes += batch.nbytes
            writer.write_batch(batch, row_group_size=n)
    return {"path": str(path), "rows": rows, "columns": len(specs), "arrow_bytes": arrow_bytes,
            "file_bytes": path.stat().st_size,
            "generate_s": round(time.perf_counter() - started, 2)}  # fmt: skip


def ensure_file(
    folder: Path, name: str, rows: int, specs: list[dict[str, Any]], side: str, seed: int
) -> dict[str, Any]:
    """Write the file unless ``folder`` already holds it from the same recipe (``--data-dir``)."""
    path, manifest = folder / f"{name}.parquet", folder / f"{name}.json"
    recipe = {"rows": rows, "side": side, "seed": seed, "specs": specs, "batch": BATCH_ROWS}
    if path.exists() and manifest.exists():
        stored = json.loads(manifest.read_text())
        if stored.get("recipe") == json.loads(json.dumps(recipe)):
            ERR.print(f"[dim]reuse {path}[/]")
            return dict(stored["info"])
    ERR.print(f"{now()} generate {name}: {rows:,} rows x {len(specs)} columns ...")
    info = write_parquet(path, rows, specs, side, seed)
    manifest.write_text(json.dumps({"recipe": recipe, "info": info}))
    ERR.print(f"    {info['generate_s']} s, {info['file_bytes'] / MIB:,.0f} MiB on disk")
    return info


# ---- the child: one tool, one workload, its own process --------------------------------------
def proc_status(field: str) -> int:
    """A /proc/self/status figure in bytes (VmRSS, VmHWM)."""
    with open("/proc/self/status") as status:
        match = re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.MULTILINE)
    return int(match.group(1)) * 1024 if match else 0


class Sampler:
    """Samples VmRSS every 10 ms (a cross-check of VmHWM)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, proc_status("VmRSS"))
            self._stop.wait(0.01)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, proc_status("VmRSS"))


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process; False if not supported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def run_evidently(ref: Any, cur: Any, spec: dict[str, Any]) -> Any:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=spec["numeric"],
                                categorical_columns=spec["categorical"])  # fmt: skip
    if spec["methods"] == "explicit":
        num_method, cat_method = EVIDENTLY_METHODS
        preset = DataDriftPreset(num_method=num_method, cat_method=cat_method,
                                 threshold=spec["threshold"])  # fmt: skip
    else:
        preset = DataDriftPreset()
    report = Report([preset], include_tests=True)
    return report.run(Dataset.from_pandas(cur, data_definition=definition),
                      Dataset.from_pandas(ref, data_definition=definition))  # fmt: skip


def evidently_verdicts(snapshot: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-column verdicts (the preset's own pass/fail tests) and the dataset figures."""
    doc = snapshot.dict()
    status = {t["metric_config"]["metric_id"]: t["status"] for t in doc["tests"]
              if t["id"] == "drift"}  # fmt: skip
    columns: dict[str, Any] = {}
    dataset: dict[str, Any] = {}
    for metric in doc["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            columns[config["column"]] = {
                "method": config.get("method"),
                "statistic": float(metric["value"]),
                "threshold": config.get("threshold"),
                "drifted": status.get(metric["id"]) == "FAIL",
            }
        elif config["type"].endswith("DriftedColumnsCount"):
            share = float(metric["value"]["share"])
            dataset = {"drifted_columns": int(metric["value"]["count"]), "share": share,
                       "drifted": share >= config.get("drift_share", 0.5)}  # fmt: skip
    return columns, dataset


def run_cycleml(ref: Any, cur: Any, spec: dict[str, Any]) -> Any:
    from cycleml.monitoring import drift

    kwargs: dict[str, Any] = {"categorical": spec["categorical"]}
    if spec["methods"] == "explicit":
        num_method, cat_method = CYCLEML_METHODS
        kwargs["methods"] = dict.fromkeys(spec["numeric"], num_method)
        kwargs["methods"] |= dict.fromkeys(spec["categorical"], cat_method)
        kwargs["threshold"] = spec["threshold"]
    return drift(ref, cur, **kwargs)


def cycleml_verdicts(report: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    frame = report.to_pandas()
    columns = {
        str(row["column"]): {
            "method": str(row["method"]),
            "statistic": None if pd.isna(row["statistic"]) else float(row["statistic"]),
            "p_value": None if pd.isna(row["p_value"]) else float(row["p_value"]),
            "threshold": None if pd.isna(row["threshold"]) else float(row["threshold"]),
            "drifted": bool(row["drifted"]),
        }
        for row in frame.to_dict("records")
    }
    dataset = {"drifted_columns": int(frame["drifted"].sum()), "share": float(report.share),
               "drifted": bool(report.drifted)}  # fmt: skip
    return columns, dataset


def child(spec: dict[str, Any]) -> None:
    """Runs inside the subprocess: load, warm up, measure one tool's drift step."""
    tool = spec["tool"]
    run, verdicts = (run_evidently, evidently_verdicts) if tool == "evidently" else (
        run_cycleml, cycleml_verdicts)  # fmt: skip
    out: dict[str, Any] = {"tool": tool, "input": spec["input"]}
    out["rss_start"] = proc_status("VmRSS")
    if spec["input"] == "pandas":
        started = time.perf_counter()
        ref = pd.read_parquet(spec["reference"])
        cur = pd.read_parquet(spec["current"])
        out["load_s"] = time.perf_counter() - started
        out["data_bytes"] = {"reference": int(ref.memory_usage(deep=True).sum()),
                             "current": int(cur.memory_usage(deep=True).sum())}  # fmt: skip
        small_ref, small_cur = ref.head(WARMUP_ROWS).copy(), cur.head(WARMUP_ROWS).copy()
    else:  # cycleml reads the Parquet files itself
        ref, cur = spec["reference"], spec["current"]
        out["load_s"] = 0.0
        first = pq.ParquetFile(spec["reference"]).read_row_group(0)
        small_ref = small_cur = first.slice(0, WARMUP_ROWS).to_pandas()
        del first
    started = time.perf_counter()
    run(small_ref, small_cur, spec)
    out["warmup_s"] = time.perf_counter() - started
    del small_ref, small_cur
    gc.collect()
    pa.default_memory_pool().release_unused()
    out["rss_after_load"] = proc_status("VmRSS")
    out["hwm_reset"] = reset_peak()
    times = []
    with Sampler() as sampler:
        for _ in range(spec["repeat"]):
            started = time.perf_counter()
            result = run(ref, cur, spec)
            times.append(time.perf_counter() - started)
            if len(times) < spec["repeat"]:
                del result
                gc.collect()
    # VmHWM can lag the sampled VmRSS by a page or two (per-thread RSS counters): the max.
    hwm = proc_status("VmHWM") if out["hwm_reset"] else 0
    out["peak_rss"] = max(hwm, sampler.peak)
    out["peak_rss_sampled"] = sampler.peak
    out["drift_s_runs"] = [round(t, 4) for t in times]
    out["drift_s"] = statistics.median(times)
    started = time.perf_counter()
    out["columns"], out["dataset"] = verdicts(result)
    out["extract_s"] = time.perf_counter() - started
    Path(spec["out"]).write_text(json.dumps(out))


def run_child(spec: dict[str, Any], folder: Path) -> dict[str, Any]:
    label = f"{spec['tool']} ({spec['input']}) {spec['workload']}"
    ERR.print(f"{now()} {label} ...")
    out_file = folder / f"child-{spec['tool']}-{spec['input']}-{spec['workload']}.json"
    err_file = folder / "child.err"
    spec = spec | {"out": str(out_file)}
    started = time.perf_counter()
    with err_file.open("wb") as err:
        proc = subprocess.Popen([sys.executable, str(HERE), "--child", json.dumps(spec)],
                                stdout=err, stderr=err)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = err_file.read_text(errors="replace")[-4000:]
        ERR.print(f"[red]{label} failed ({code}):[/]\n{tail}")
        return {"tool": spec["tool"], "input": spec["input"], "failed": True,
                "exit_code": code, "error": tail[-1500:]}  # fmt: skip
    out: dict[str, Any] = json.loads(out_file.read_text())
    out["wall_s_subprocess"] = round(wall, 2)
    out["peak_rss_process"] = usage.ru_maxrss * 1024  # KiB on Linux; includes the load
    out["user_cpu_s"], out["system_cpu_s"] = round(usage.ru_utime, 1), round(usage.ru_stime, 1)
    out["above_data"] = out["peak_rss"] - out["rss_after_load"]
    out["total_s"] = out["load_s"] + out["drift_s"]
    for key in ("load_s", "warmup_s", "drift_s", "extract_s", "total_s"):
        out[key] = round(out[key], 4)
    ERR.print(f"    drift {out['drift_s']:.3f} s (runs {out['drift_s_runs']}), "
              f"peak {out['peak_rss'] / MIB:,.0f} MiB, after load "
              f"{out['rss_after_load'] / MIB:,.0f} MiB, above data "
              f"{out['above_data'] / MIB:,.0f} MiB")  # fmt: skip
    return out


# ---- comparisons -----------------------------------------------------------------------------
def compare(specs: list[dict[str, Any]], runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    ok = {tool: r for tool, r in runs.items() if not r.get("failed")}
    out: dict[str, Any] = {}
    ev, cy = ok.get("evidently"), ok.get("cycleml")
    if ev and cy:
        out["speed_ratio"] = ratio(ev["drift_s"], cy["drift_s"])
        out["speed_ratio_incl_load"] = ratio(ev["total_s"], cy["total_s"])
        out["memory_above_data_ratio"] = ratio(cy["above_data"], ev["above_data"], 3)
        out["peak_rss_ratio"] = ratio(cy["peak_rss"], ev["peak_rss"], 3)
        out["verdicts"] = agreement(specs, ev["columns"], cy["columns"])
        same = ev["dataset"]["drifted"] == cy["dataset"]["drifted"]
        out["dataset_verdicts"] = {"evidently": ev["dataset"], "cycleml": cy["dataset"],
                                   "same": same}  # fmt: skip
    parquet = ok.get("cycleml_parquet")
    if ev and parquet:  # not a target: cycleml reading the files itself, same verdicts?
        out["verdicts_cycleml_parquet"] = agreement(specs, ev["columns"], parquet["columns"])
    out["detection"] = {tool: detection(specs, r["columns"]) for tool, r in ok.items()}
    return out


def ratio(numerator: float, denominator: float, digits: int = 1) -> float:
    return round(numerator / denominator, digits) if denominator > 0 else float("inf")


def agreement(
    specs: list[dict[str, Any]], ev: dict[str, Any], cy: dict[str, Any]
) -> dict[str, Any]:
    disagreements, ties, missing = [], [], []
    deltas: dict[str, list[float]] = {"numeric": [], "categorical": []}
    for spec in specs:
        name = spec["column"]
        if name not in ev or name not in cy:
            missing.append(name)
            continue
        e, c = ev[name], cy[name]
        if e["statistic"] is not None and c["statistic"] is not None:
            deltas[spec["kind"]].append(abs(e["statistic"] - c["statistic"]))
        if e["drifted"] == c["drifted"]:
            continue
        near = any(r["statistic"] is not None and r["threshold"] is not None
                   and abs(r["statistic"] - r["threshold"]) <= TIE_MARGIN
                   for r in (e, c))  # fmt: skip
        row = {"column": name, "kind": spec["kind"], "shift": spec["shift"],
               "expected_statistic": spec["expected_statistic"], "evidently": e, "cycleml": c,
               "near_threshold_tie": near}  # fmt: skip
        (ties if near else disagreements).append(row)
    return {
        "columns_compared": len(specs) - len(missing),
        "disagreements": len(disagreements) + len(ties),
        "disagreements_not_ties": len(disagreements),
        "details": disagreements + ties,
        "missing_columns": missing,
        "max_abs_statistic_difference": {
            kind: round(max(values), 6) if values else None for kind, values in deltas.items()
        },
    }


def detection(specs: list[dict[str, Any]], columns: dict[str, Any]) -> dict[str, Any]:
    """Verdicts against the known shifts (expected: population statistic >= threshold)."""
    missed, false_alarms, small_flagged = [], [], []
    for spec in specs:
        flagged = columns.get(spec["column"], {}).get("drifted")
        if spec["expected_drifted"] and not flagged:
            missed.append(spec["column"])
        elif not spec["shifted"] and flagged:
            false_alarms.append(spec["column"])
        elif spec["shifted"] and not spec["expected_drifted"] and flagged:
            small_flagged.append(spec["column"])
    return {"expected_drifted": sum(s["expected_drifted"] for s in specs),
            "flagged": sum(bool(c.get("drifted")) for c in columns.values()),
            "missed": missed, "false_alarms_on_unshifted": false_alarms,
            "small_shifts_flagged": small_flagged}  # fmt: skip


def targets(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def add(name: str, description: str, measured: str, met: bool) -> None:
        out[name] = {"description": description, "measured": measured, "met": met}

    for label, workload in results["workloads"].items():
        cmp = workload["comparison"]
        if "speed_ratio" not in cmp:
            continue
        if label in SPEED_TARGETS:
            goal = SPEED_TARGETS[label]
            add(f"speed_{label}", f">= {goal:g}x faster than Evidently's drift step ({label})",
                f"{cmp['speed_ratio']}x", cmp["speed_ratio"] >= goal)  # fmt: skip
        add(f"memory_{label}", f"memory above the data <= 1/3 of Evidently's ({label})",
            f"{cmp['memory_above_data_ratio']} of Evidently's",
            cmp["memory_above_data_ratio"] <= MEMORY_TARGET)  # fmt: skip
        v = cmp["verdicts"]
        add(f"verdicts_{label}", f"same per-column verdicts, same tests ({label})",
            f"{v['disagreements']} disagreement(s) of {v['columns_compared']} "
            f"({v['disagreements_not_ties']} not near-threshold ties)",
            v["disagreements"] == 0 and not v["missing_columns"])  # fmt: skip
    big = results.get("big")
    if big and not big["run"].get("failed"):
        peak, size = big["run"]["peak_rss"], big["current_arrow_bytes"]
        add("bounded_10m", f"{big['rows']:,}-row current from Parquet: peak RSS < "
            f"{BOUNDED_SHARE:g} x its in-memory (Arrow) size",
            f"peak {peak / MIB:,.0f} MiB vs Arrow {size / MIB:,.0f} MiB, pandas "
            f"{big['current_pandas_bytes_estimate'] / MIB:,.0f} MiB",
            peak < BOUNDED_SHARE * size)  # fmt: skip
    return out


# ---- driver ----------------------------------------------------------------------------------
def now() -> str:
    return f"{dt.datetime.now(dt.UTC):%H:%M:%S}"


def workload(
    label: str, folder: Path, args: argparse.Namespace, tools: list[tuple[str, str]]
) -> dict[str, Any]:
    rows, n_num, n_cat = SIZES[label]
    specs = column_specs(n_num, n_cat)
    files = {side: ensure_file(folder, f"{side}_{label}", rows, specs, side, args.seed)
             for side in ("reference", "current")}  # fmt: skip
    base = {"workload": label, "reference": files["reference"]["path"],
            "current": files["current"]["path"], "methods": args.methods,
            "threshold": args.threshold,
            "numeric": [s["column"] for s in specs if s["kind"] == "numeric"],
            "categorical": [s["column"] for s in specs if s["kind"] == "categorical"]}  # fmt: skip
    runs = {}
    for tool, source in tools:
        repeat = args.evidently_repeat if tool == "evidently" else args.repeat
        key = tool if source == "pandas" else f"{tool}_parquet"
        runs[key] = run_child(base | {"tool": tool, "input": source, "repeat": repeat}, folder)
    return {
        "rows": rows, "numeric_columns": n_num, "categorical_columns": n_cat,
        "files": {side: {k: v for k, v in info.items() if k != "path"}
                  for side, info in files.items()},
        "runs": runs, "comparison": compare(specs, runs),
    }  # fmt: skip


def big_workload(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    n_num, n_cat = BIG_WIDTH
    specs = column_specs(n_num, n_cat)
    ref_label = next((k for k, (r, nn, nc) in SIZES.items()
                      if r == args.big_reference_rows and (nn, nc) == BIG_WIDTH), None)  # fmt: skip
    ref_name = f"reference_{ref_label}" if ref_label else f"reference_{args.big_reference_rows}"
    ref = ensure_file(folder, ref_name, args.big_reference_rows, specs, "reference", args.seed)
    cur = ensure_file(folder, f"big_{args.big_rows}", args.big_rows, specs, "big", args.seed)
    # What the current would take in memory as a pandas frame: one row group, scaled.
    first = pq.ParquetFile(cur["path"]).read_row_group(0).to_pandas()
    pandas_bytes = int(first.memory_usage(deep=True).sum() * args.big_rows / len(first))
    del first
    spec = {"workload": "big", "reference": ref["path"], "current": cur["path"],
            "methods": args.methods, "threshold": args.threshold,
            "numeric": [s["column"] for s in specs if s["kind"] == "numeric"],
            "categorical": [s["column"] for s in specs if s["kind"] == "categorical"],
            "tool": "cycleml", "input": "parquet", "repeat": 1}  # fmt: skip
    run = run_child(spec, folder)
    out = {"rows": args.big_rows, "reference_rows": args.big_reference_rows,
           "columns": len(specs), "current_file_bytes": cur["file_bytes"],
           "current_arrow_bytes": cur["arrow_bytes"],
           "current_pandas_bytes_estimate": pandas_bytes, "run": run,
           "what": "cycleml drift(reference Parquet path, current Parquet path) in a fresh "
           "process; peak RSS (VmHWM, reset after imports and warm-up) of the whole step, "
           "compared with the in-memory size of the current alone"}  # fmt: skip
    if not run.get("failed"):
        out["detection"] = detection(specs, run["columns"])
        out["peak_share_of_arrow_size"] = ratio(run["peak_rss"], cur["arrow_bytes"], 3)
    return out


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "pandas": pd.__version__,
           "numpy": np.__version__, "pyarrow": pa.__version__}  # fmt: skip
    for name in ("cycleml", "evidently", "scipy"):
        with contextlib.suppress(Exception):
            out[name] = __import__(name).__version__
    return out


def machine_info(load_at_start: list[float]) -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    return {"cpu_count": os.cpu_count(), "cpu_model": cpu, "memory": mem,
            "platform": platform.platform(), "load_average_at_start": load_at_start,
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip


def cycleml_has_drift() -> bool:
    try:
        from cycleml.monitoring import drift  # noqa: F401
    except ImportError:
        return False
    return True


def mib(value: float | None) -> str:
    return "-" if value is None else f"{value / MIB:,.0f}"


def print_tables(doc: dict[str, Any]) -> None:
    results = doc["results"]
    table = Table(title="drift: cycleml vs Evidently DataDriftPreset (same data, same tests)")
    for column in ("workload", "tool", "drift s", "load s", "after load MiB", "peak MiB",
                   "above data MiB", "drifted", "ratio"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("workload", "tool") else "right")
    for label, w in results["workloads"].items():
        cmp = w["comparison"]
        for i, (tool, r) in enumerate(w["runs"].items()):
            name = f"{label} ({w['numeric_columns']}+{w['categorical_columns']})" if i == 0 else ""
            if r.get("failed"):
                table.add_row(name, tool, "failed", "", "", "", "", "", "")
                continue
            extra = ""
            if tool == "cycleml" and "speed_ratio" in cmp:
                extra = f"{cmp['speed_ratio']}x faster, mem {cmp['memory_above_data_ratio']}"
            table.add_row(name, tool, f"{r['drift_s']:.3f}", f"{r['load_s']:.2f}",
                          mib(r["rss_after_load"]), mib(r["peak_rss"]), mib(r["above_data"]),
                          str(r["dataset"]["drifted_columns"]), extra)  # fmt: skip
    big = results.get("big")
    if big and not big["run"].get("failed"):
        r = big["run"]
        table.add_row(f"{big['rows']:,} current (Parquet)", "cycleml (path)",
                      f"{r['drift_s']:.2f}", "-", mib(r["rss_after_load"]), mib(r["peak_rss"]),
                      mib(r["above_data"]), str(r["dataset"]["drifted_columns"]),
                      f"Arrow {mib(big['current_arrow_bytes'])} MiB")  # fmt: skip
    OUT.print(table)
    for label, w in results["workloads"].items():
        v = w["comparison"].get("verdicts")
        if v:
            OUT.print(f"{label}: {v['disagreements']} verdict disagreement(s); max |statistic "
                      f"difference| {v['max_abs_statistic_difference']}")  # fmt: skip
            for d in v["details"]:
                tie = " (near-threshold tie)" if d["near_threshold_tie"] else ""
                OUT.print(f"   {d['column']} ({d['shift']}): evidently "
                          f"{d['evidently']['statistic']:.4f} -> {d['evidently']['drifted']}, "
                          f"cycleml {d['cycleml']['statistic']} -> {d['cycleml']['drifted']}"
                          f"{tie}")  # fmt: skip
        for tool, det in w["comparison"]["detection"].items():
            OUT.print(f"{label} {tool}: flagged {det['flagged']} (expected "
                      f"{det['expected_drifted']}), missed {det['missed']}, false alarms "
                      f"{det['false_alarms_on_unshifted']}, small shifts flagged "
                      f"{det['small_shifts_flagged']}")  # fmt: skip
    for name, target in doc["targets"].items():
        colour = "green" if target["met"] else "red"
        OUT.print(f"[{colour}]target {name}: {target['description']} -> {target['measured']}[/]")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="200k,1m", help=f"subset of {','.join(SIZES)}")
    parser.add_argument("--quick", action="store_true",
                        help="20k rows and a 300k-row big current (smoke run)")  # fmt: skip
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--skip-cycleml", action="store_true")
    parser.add_argument("--skip-parquet", action="store_true",
                        help="skip cycleml reading the Parquet paths itself")  # fmt: skip
    parser.add_argument("--skip-big", action="store_true", help="skip the 10M-row current")
    parser.add_argument("--big-rows", type=int, default=BIG_ROWS)
    parser.add_argument("--big-reference-rows", type=int, default=1_000_000)
    parser.add_argument("--methods", choices=("explicit", "auto"), default="explicit",
                        help="explicit: both use Wasserstein (normed) / Jensen-Shannon; "
                        "auto: each tool picks its own tests")  # fmt: skip
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    parser.add_argument("--repeat", type=int, default=3, help="cycleml runs (median)")
    parser.add_argument("--evidently-repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tmp", type=Path, default=None, help="parent of the temp folder")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep the generated files here, reuse them later")  # fmt: skip
    parser.add_argument("--json-out", type=Path, help="also write the JSON document here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.big_rows, args.big_reference_rows = "20k", 300_000, 20_000
        args.repeat = 1
    args.size_list = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    unknown = set(args.size_list) - set(SIZES)
    if unknown:
        parser.error(f"unknown size(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    started = time.perf_counter()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    notes = []
    tools: list[tuple[str, str]] = []
    if not args.skip_evidently:
        tools.append(("evidently", "pandas"))
    if not args.skip_cycleml:
        if cycleml_has_drift():
            tools.append(("cycleml", "pandas"))
            if not args.skip_parquet:
                tools.append(("cycleml", "parquet"))
        else:
            notes.append("cycleml.monitoring.drift is not available: cycleml not run")
            args.skip_big = True
    folder = args.data_dir or Path(tempfile.mkdtemp(prefix="cycleml-bench-monitoring-",
                                                    dir=args.tmp))  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"workloads": {}}
    try:
        for label in args.size_list:
            results["workloads"][label] = workload(label, folder, args, tools)
        if not args.skip_big:
            results["big"] = big_workload(folder, args)
    finally:
        if args.data_dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    _, n_num, n_cat = SIZES["1m"]
    doc: dict[str, Any] = {
        "benchmark": "monitoring",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine_info(load_at_start),
        "versions": versions(),
        "setup": {
            "methods": args.methods,
            "tests": {
                "numeric": "Wasserstein distance (normed by the reference std)",
                "categorical": "Jensen-Shannon distance (natural log)",
            }
            if args.methods == "explicit"
            else "each tool's own choice",
            "threshold": args.threshold,
            "seed": args.seed,
            "warmup_rows": WARMUP_ROWS,
            "repeat": {"cycleml": args.repeat, "evidently": args.evidently_repeat},
            "columns": column_specs(n_num, n_cat),
            "column_note": "n{i} uses numeric template i % 20 and c{i} categorical template "
            "i % 5, so the 20+5 tables are the first columns of the 40+10 ones; "
            "expected_statistic is the population value, expected_drifted = expected_statistic "
            ">= threshold",
            "memory": "rss_after_load: RSS after loading both frames (imports and warm-up "
            "included); peak_rss: VmHWM during the drift step(s) after resetting it; "
            "above_data = peak_rss - rss_after_load; peak_rss_process: whole-process peak "
            "(wait4 ru_maxrss, includes the load)",
        },
        "results": results,
        "targets": targets(results),
        "notes": notes,
        "total_s": round(time.perf_counter() - started, 1),
    }
    print_tables(doc)
    rendered = json.dumps(doc, indent=2, default=str)
    print(rendered)
    if args.json_out:
        args.json_out.write_text(rendered + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
