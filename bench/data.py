"""Data-stage benchmark: cycleml against ydata-profiling and pandera on the same data.

Workloads (all data generated with DuckDB into one temporary folder, deleted at the end):

* ``ingest``   ``Datasets.ingest("big", FileSource(csv), rules=TEN_RULES, policy="warn")``
               on a generated 10M-row x 20-column CSV, in a subprocess whose peak RSS is
               taken from ``os.wait4``'s rusage (``ru_maxrss``); wall time, rows/s, MB/s.
* ``profile``  cycleml ``profile()`` vs ydata-profiling ``ProfileReport(df)``
               (``get_description()`` so everything is computed) on a generated 1M-row x
               30-column table: like for like, the full profiles (ydata's default report on
               ``--ydata-default-rows`` when set, cycleml on the same rows) and the minimal
               ones (both skip correlations and duplicate rows); also cycleml's full
               profile against ydata's minimal one.
* ``validate`` the same ten rules on the 10M-row Parquet, both tools on data already in
               memory: cycleml ``validate(table, rules)`` on the Arrow table vs pandera
               ``schema.validate(df, lazy=True)`` on the pandas DataFrame (loads timed
               separately). Also cycleml ``validate(path, rules)``, reading the file itself.
* ``hash``     ``canonical_digest(schema, batches)`` over batches read in advance from the
               Parquet (MB of Arrow data per second) and ``hash_file`` over the CSV.

Run directly (``--quick`` for a smoke run; figures meaningless)::

    .venv-bench/bin/python bench/data.py --json-out /tmp/data.json

Prints a table, then one JSON document with every figure, to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

import cycleml
from cycleml.data import canonical_digest, profile, validate
from cycleml.hashing import hash_file

OUT = Console(highlight=False, width=120)
ERR = Console(stderr=True, highlight=False)

RSS_TARGET_BYTES = 2 * 1024**3
PROFILE_DEFAULT_TARGET = 20.0
PROFILE_MINIMAL_TARGET = 5.0
VALIDATE_TARGET = 10.0
HASH_TARGET_MB_S = 500.0
MB = 1_000_000

# The ten rules, as in cycleml.yaml; every one holds on the generated data (so both tools
# do the same work, without collecting failure cases).
TEN_RULES: list[dict[str, Any]] = [
    {"rule": "not_null", "column": "id"},
    {"rule": "unique", "columns": ["id"]},
    {"rule": "range", "column": "qty", "min": 0, "max": 999},
    {"rule": "range", "column": "price", "min": 0.0, "max": 1000.0},
    {"rule": "allowed", "column": "category", "values": ["a", "b", "c", "d", "e"]},
    {"rule": "regex", "column": "code", "pattern": "[A-Z]{2}-[0-9]{4}"},
    {"rule": "length", "column": "name", "min": 3, "max": 12},
    {"rule": "not_null", "column": "score", "mostly": 0.95},
    {"rule": "row_count", "min": 1},
    {"rule": "distribution", "column": "price", "mean": {"min": 400.0, "max": 600.0}},
]

# Workaround, not a choice: without it the ingest fails. pyarrow's CSV reader infers
# ``timestamp[s]`` for "2024-01-01 00:00:00", Parquet has no seconds unit and reads the staged
# parts back as ``timestamp[ms]``, so ``canonical_digest(staged.schema, staged.batches())``
# raises "ArrowInvalid: Tried to write record batch with different schema". Declaring the
# column as cycleml's ``timestamp`` type (``timestamp[us]``) avoids the round-trip change.
INGEST_SCHEMA = {"ts": "timestamp"}

# 20 columns: 6 ints, 6 floats (one with 2% nulls), 6 strings, a date, a timestamp.
BIG_SELECT = """
SELECT
  range AS id,
  (range * 7919) % 1000 AS qty,
  hash(range) % 100000 AS i2,
  (range % 97)::INTEGER AS i3,
  (hash(range + 1) % 1000000)::BIGINT - 500000 AS i4,
  (range // 1000)::BIGINT AS i5,
  ((hash(range) % 1000000) / 1000.0)::DOUBLE AS price,
  CASE WHEN range % 50 = 0 THEN NULL ELSE ((hash(range + 2) % 100000) / 1000.0)::DOUBLE END
    AS score,
  ((hash(range + 3) % 2000000) / 1000.0 - 1000.0)::DOUBLE AS f3,
  (range / 3.0)::DOUBLE AS f4,
  ((hash(range + 4) % 1000) / 7.0)::DOUBLE AS f5,
  sqrt(range)::DOUBLE AS f6,
  ['a', 'b', 'c', 'd', 'e'][range % 5 + 1] AS category,
  chr((65 + range % 26)::INTEGER) || chr((65 + (range // 26) % 26)::INTEGER) || '-'
    || lpad((range % 10000)::VARCHAR, 4, '0') AS code,
  'user_' || (range % 100000)::VARCHAR AS name,
  ['north', 'south', 'east', 'west'][range % 4 + 1] AS region,
  md5((range % 1000)::VARCHAR)[1:8] AS tag,
  'item ' || (hash(range + 5) % 5000)::VARCHAR AS item,
  DATE '2020-01-01' + (range % 2000)::INTEGER AS day,
  TIMESTAMP '2024-01-01 00:00:00' + to_seconds(range) AS ts
FROM range({rows})
"""


def profile_select(rows: int) -> str:
    """1M x 30: 15 numeric (ints and floats, some nulls), 12 categorical, a bool, 2 dates."""
    cols = []
    for i in range(8):
        null = f"CASE WHEN hash(range + {i}) % 100 < {i % 3} THEN NULL ELSE " if i % 2 else ""
        end = " END" if null else ""
        cols.append(f"{null}((hash(range * {i + 3}) % 100000) / 100.0)::DOUBLE{end} AS x{i}")
    for i in range(7):
        cols.append(f"(hash(range + {i * 11}) % {10 ** (i % 5 + 1)})::BIGINT AS n{i}")
    for i in range(12):
        card = (3, 5, 10, 20, 50, 200)[i % 6]
        null = f"CASE WHEN range % {97 + i} = 0 THEN NULL ELSE " if i % 4 == 0 else ""
        end = " END" if null else ""
        cols.append(f"{null}'c' || (hash(range + {100 + i}) % {card})::VARCHAR{end} AS s{i}")
    cols.append("(range % 3 = 0) AS flag")
    cols.append("DATE '2021-01-01' + (range % 1500)::INTEGER AS d0")
    cols.append("TIMESTAMP '2023-01-01' + to_seconds(hash(range) % 30000000) AS t0")
    return f"SELECT {', '.join(cols)} FROM range({rows})"  # noqa: S608


# ---- helpers ----------------------------------------------------------------------------
@contextlib.contextmanager
def timed(label: str) -> Iterator[dict[str, float]]:
    ERR.print(f"[dim]{dt.datetime.now(dt.UTC):%H:%M:%S}[/] {label} ...")
    box: dict[str, float] = {}
    gc.collect()
    start = time.perf_counter()
    yield box
    box["s"] = time.perf_counter() - start
    ERR.print(f"    {label}: {box['s']:.2f} s")


def best_of(fn: Callable[[], Any], repeat: int, label: str) -> tuple[float, Any]:
    """The fastest of ``repeat`` runs (seconds) and the last result."""
    times, result = [], None
    for i in range(repeat):
        with timed(f"{label} ({i + 1}/{repeat})") as t:
            result = fn()
        times.append(t["s"])
    return min(times), result


def ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 2) if denominator > 0 else float("inf")


# ---- workload 1: ingest in a subprocess ---------------------------------------------------
CHILD = """
import json, sys, time
from pathlib import Path
from cycleml.data import Datasets, FileSource
from cycleml.settings import resolve_settings
home, csv, rules = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
start = time.perf_counter()
datasets = Datasets(resolve_settings(home=home))
try:
    # schema: see INGEST_SCHEMA in bench/data.py (timestamp[s] inferred from CSV fails).
    source = FileSource(csv, schema=json.loads(sys.argv[4]))
    result = datasets.ingest("big", source, rules=rules, policy="warn")
finally:
    datasets.close()
print(json.dumps({"s": time.perf_counter() - start, "rows": result.rows_read,
                  "passed": (result.report or {}).get("passed"),
                  "failed_rules": (result.report or {}).get("failed_rules"),
                  "version": result.version.version}))
"""


def workload_ingest(csv: Path, rows: int, folder: Path) -> dict[str, Any]:
    home = folder / "home"
    ERR.print(f"{dt.datetime.now(dt.UTC):%H:%M:%S} ingest subprocess ...")
    start = time.perf_counter()
    out_path, err_path = folder / "child.out", folder / "child.err"
    with out_path.open("wb") as out_file, err_path.open("wb") as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(home), str(csv), json.dumps(TEN_RULES),
             json.dumps(INGEST_SCHEMA)],
            stdout=out_file,
            stderr=err_file,
        )  # fmt: skip
        # wait4 gives this child's own rusage; ru_maxrss is in KiB on Linux.
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    out, err = out_path.read_text(), err_path.read_text()
    if code != 0:
        raise RuntimeError(f"ingest subprocess failed ({code}): {err[-3000:]}")
    child = json.loads(out.strip().splitlines()[-1])
    size = csv.stat().st_size
    peak = usage.ru_maxrss * 1024
    ERR.print(f"    ingest: {wall:.1f} s, peak RSS {peak / 2**30:.2f} GiB")
    return {
        "rows": rows,
        "columns": 20,
        "csv_bytes": size,
        "wall_s_subprocess": round(wall, 2),
        "ingest_s_in_child": round(child["s"], 2),
        "rows_per_s": round(rows / child["s"]),
        "csv_mb_per_s": round(size / MB / child["s"], 1),
        "peak_rss_bytes": peak,
        "peak_rss_gib": round(peak / 2**30, 3),
        "user_cpu_s": round(usage.ru_utime, 1),
        "system_cpu_s": round(usage.ru_stime, 1),
        "rows_read": child["rows"],
        "validation_passed": child["passed"],
        "failed_rules": child["failed_rules"],
        "source_schema_override": INGEST_SCHEMA,
        "what": "wall time of Datasets(...).ingest() inside a fresh interpreter (imports and "
        "store creation excluded); peak RSS of the whole subprocess (os.wait4 ru_maxrss)",
    }


# ---- workload 2: profile ------------------------------------------------------------------
def ydata_description(df: pd.DataFrame, *, minimal: bool) -> Any:
    from ydata_profiling import ProfileReport  # imported before any timer (workload_profile)

    report = ProfileReport(df, minimal=minimal, progress_bar=False)
    return report.get_description()


def workload_profile(
    rows: int, default_rows: int | None, repeat: int, skip_default: bool
) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its own deprecation notice; keep imports untimed
        import ydata_profiling  # noqa: F401
    default_rows = rows if default_rows is None else default_rows
    con = duckdb.connect()
    table = con.sql(profile_select(rows)).to_arrow_table()
    con.close()
    result: dict[str, Any] = {"rows": rows, "columns": table.num_columns}
    c_full, prof = best_of(lambda: profile(table), repeat, f"cycleml profile {rows:,} rows")
    c_min, _ = best_of(
        lambda: profile(table, minimal=True), repeat, f"cycleml minimal profile {rows:,} rows"
    )
    result["cycleml_s"] = round(c_full, 3)
    result["cycleml_minimal_s"] = round(c_min, 3)
    result["cycleml_columns_profiled"] = len(prof.columns)
    with timed("to_pandas for ydata") as t:
        df = table.to_pandas()
    result["to_pandas_s_not_timed"] = round(t["s"], 2)
    y_min, _ = best_of(
        lambda: ydata_description(df, minimal=True), repeat, f"ydata minimal {rows:,} rows"
    )
    result["ydata_minimal_s"] = round(y_min, 2)
    result["ratio_minimal"] = ratio(y_min, c_min)
    result["ratio_full_vs_ydata_minimal"] = ratio(y_min, c_full)
    sub = table.slice(0, default_rows) if default_rows < rows else table
    result["default_rows"] = sub.num_rows
    c_sub = c_full
    if sub.num_rows < rows:
        c_sub, _ = best_of(lambda: profile(sub), repeat, f"cycleml profile {sub.num_rows:,} rows")
    result["cycleml_default_rows_s"] = round(c_sub, 3)
    if not skip_default:
        sub_df = df.iloc[: sub.num_rows].copy()
        del df
        gc.collect()
        with timed(f"ydata default {sub.num_rows:,} rows (one run)") as t:
            ydata_description(sub_df, minimal=False)
        result["ydata_default_s"] = round(t["s"], 2)
        result["ratio_default"] = ratio(t["s"], c_sub)
    return result


# ---- workload 3: validate -----------------------------------------------------------------
def pandera_schema() -> Any:
    import pandera.pandas as pda

    def row_count(df: pd.DataFrame) -> bool:
        return len(df) >= 1

    def price_mean(df: pd.DataFrame) -> bool:
        return 400.0 <= float(df["price"].mean()) <= 600.0

    def mostly_not_null(s: pd.Series) -> bool:
        return float(s.notna().mean()) >= 0.95

    return pda.DataFrameSchema(
        {
            "id": pda.Column(nullable=False, unique=True),
            "qty": pda.Column(checks=pda.Check.in_range(0, 999)),
            "price": pda.Column(checks=pda.Check.in_range(0.0, 1000.0)),
            "category": pda.Column(checks=pda.Check.isin(["a", "b", "c", "d", "e"])),
            "code": pda.Column(checks=pda.Check.str_matches(r"^[A-Z]{2}-[0-9]{4}$")),
            "name": pda.Column(checks=pda.Check.str_length(3, 12)),
            # mostly=0.95: a nullable column plus a share-of-non-null check.
            "score": pda.Column(nullable=True, checks=pda.Check(mostly_not_null)),
        },
        checks=[pda.Check(row_count), pda.Check(price_mean)],
        strict=False,
        coerce=False,
    )


def workload_validate(parquet: Path, rows: int, repeat: int) -> dict[str, Any]:
    with timed("Arrow load of the parquet") as t_arrow:
        table = pq.read_table(parquet)
    c_s, report = best_of(lambda: validate(table, TEN_RULES), repeat, "cycleml validate(table)")
    table = None  # free the table before the file-path timing
    gc.collect()
    f_s, file_report = best_of(
        lambda: validate(str(parquet), TEN_RULES), repeat, "cycleml validate(parquet path)"
    )
    result: dict[str, Any] = {
        "rows": rows,
        "rules": len(TEN_RULES),
        "arrow_load_s": round(t_arrow["s"], 2),
        "cycleml_s": round(c_s, 3),
        "cycleml_rows_per_s": round(rows / c_s),
        "cycleml_file_s": round(f_s, 3),
        "cycleml_passed": report.passed and file_report.passed,
        "cycleml_failed_rules": [r.rule for r in report.failed_rules],
    }
    with timed("pandas load of the parquet (pyarrow)") as t:
        df = pd.read_parquet(parquet)
    result["pandas_load_s"] = round(t["s"], 2)
    schema = pandera_schema()
    p_s, _ = best_of(lambda: schema.validate(df, lazy=True), repeat, "pandera validate(df)")
    result["pandera_validate_s"] = round(p_s, 3)
    result["pandera_passed"] = True
    result["ratio_validate_only"] = ratio(p_s, c_s)
    result["ratio_file_vs_validate_only"] = ratio(p_s, f_s)
    result["ratio_load_plus_validate"] = ratio(p_s + t["s"], c_s + t_arrow["s"])
    result["what"] = (
        "in memory, loads excluded: cycleml validate(pyarrow.Table) vs pandera "
        "schema.validate(DataFrame, lazy=True); also cycleml validate(parquet path), "
        "which reads the file itself, against the same pandera figure"
    )
    df = None  # free the frame before the next workload
    gc.collect()
    return result


# ---- workload 4: hashing ------------------------------------------------------------------
def workload_hash(parquet: Path, csv: Path, repeat: int) -> dict[str, Any]:
    with timed("read parquet batches (not timed)"):
        pf = pq.ParquetFile(parquet)
        batches = list(pf.iter_batches(batch_size=65_536))
        schema = pf.schema_arrow
    arrow_bytes = sum(b.nbytes for b in batches)
    d_s, _ = best_of(lambda: canonical_digest(schema, batches), repeat, "canonical_digest")
    batches = []  # free the batches before hashing the file
    gc.collect()
    size = csv.stat().st_size
    f_s, _ = best_of(lambda: hash_file(csv), repeat, "hash_file(csv)")
    return {
        "arrow_bytes": arrow_bytes,
        "canonical_digest_s": round(d_s, 3),
        "canonical_digest_mb_per_s": round(arrow_bytes / MB / d_s, 1),
        "csv_bytes": size,
        "hash_file_s": round(f_s, 3),
        "hash_file_mb_per_s": round(size / MB / f_s, 1),
        "what": "canonical_digest over Parquet batches already in memory (MB = Arrow nbytes); "
        "hash_file over the CSV just written (page cache warm)",
    }


# ---- report -------------------------------------------------------------------------------
def versions() -> dict[str, str]:
    out = {"cycleml": cycleml.__version__, "duckdb": duckdb.__version__}
    out |= {"pyarrow": pa.__version__, "pandas": pd.__version__, "numpy": np.__version__}
    for name in ("ydata_profiling", "pandera", "blake3"):
        with contextlib.suppress(Exception):
            out[name] = __import__(name).__version__
    return out


def machine_info() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu,
        "memory": mem,
        "platform": platform.platform(),
        "python": platform.python_version(),
        **versions(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def targets(w: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def add(name: str, description: str, measured: str, met: bool) -> None:
        out[name] = {"description": description, "measured": measured, "met": met}

    if "ingest" in w:
        peak = w["ingest"]["peak_rss_bytes"]
        add("ingest_peak_rss", "ingest 10M x 20 CSV peak RSS <= 2 GiB",
            f"{peak / 2**30:.2f} GiB", peak <= RSS_TARGET_BYTES)  # fmt: skip
    p = w.get("profile", {})
    if "ratio_default" in p:
        add("profile_vs_ydata_default", f">= {PROFILE_DEFAULT_TARGET:g}x faster than ydata "
            f"default ({p['default_rows']:,} rows)", f"{p['ratio_default']}x",
            p["ratio_default"] >= PROFILE_DEFAULT_TARGET)  # fmt: skip
    if "ratio_minimal" in p:
        add("profile_vs_ydata_minimal", f">= {PROFILE_MINIMAL_TARGET:g}x faster than ydata "
            f"minimal, both minimal ({p['rows']:,} rows)", f"{p['ratio_minimal']}x",
            p["ratio_minimal"] >= PROFILE_MINIMAL_TARGET)  # fmt: skip
    if "validate" in w:
        r = w["validate"]["ratio_validate_only"]
        add("validate_vs_pandera", f">= {VALIDATE_TARGET:g}x faster than pandera (both on "
            "data in memory, loads excluded)", f"{r}x", r >= VALIDATE_TARGET)  # fmt: skip
    if "hash" in w:
        h = w["hash"]
        add("canonical_digest", f"canonical_digest >= {HASH_TARGET_MB_S:g} MB/s",
            f"{h['canonical_digest_mb_per_s']} MB/s",
            h["canonical_digest_mb_per_s"] >= HASH_TARGET_MB_S)  # fmt: skip
        add("hash_file", f"hash_file >= {HASH_TARGET_MB_S:g} MB/s",
            f"{h['hash_file_mb_per_s']} MB/s",
            h["hash_file_mb_per_s"] >= HASH_TARGET_MB_S)  # fmt: skip
    return out


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return (f"{value:,.1f}" if abs(value) >= 100 else f"{value:,.2f}") + unit
    return f"{value:,}{unit}"


def print_table(doc: dict[str, Any]) -> None:
    w = doc["workloads"]
    table = Table(title="cycleml data stage vs ydata-profiling / pandera")
    for column in ("workload", "figure", "cycleml", "peer", "peer/cycleml"):
        table.add_column(column, justify="left" if column in ("workload", "figure") else "right")
    if "ingest" in w:
        i = w["ingest"]
        table.add_row(f"ingest {i['rows']:,} x 20 CSV", "wall s", fmt(i["ingest_s_in_child"]),
                      "", "")  # fmt: skip
        table.add_row("", "rows/s", fmt(i["rows_per_s"]), "", "")
        table.add_row("", "CSV MB/s", fmt(i["csv_mb_per_s"]), "", "")
        table.add_row("", "peak RSS GiB", fmt(i["peak_rss_gib"]), "", "")
    if "profile" in w:
        p = w["profile"]
        table.add_row(f"profile {p['rows']:,} x {p['columns']}", "s, both minimal",
                      fmt(p["cycleml_minimal_s"]), fmt(p.get("ydata_minimal_s")),
                      f"{fmt(p.get('ratio_minimal'))}x")  # fmt: skip
        table.add_row("", "s, cycleml full vs ydata minimal", fmt(p["cycleml_s"]),
                      fmt(p.get("ydata_minimal_s")),
                      f"{fmt(p.get('ratio_full_vs_ydata_minimal'))}x")  # fmt: skip
        if "ydata_default_s" in p:
            table.add_row(f"profile {p['default_rows']:,} x {p['columns']}",
                          "s vs ydata default", fmt(p["cycleml_default_rows_s"]),
                          fmt(p["ydata_default_s"]), f"{fmt(p['ratio_default'])}x")  # fmt: skip
    if "validate" in w:
        v = w["validate"]
        table.add_row(f"validate {v['rows']:,}, 10 rules", "s (both in memory)",
                      fmt(v["cycleml_s"]), fmt(v["pandera_validate_s"]),
                      f"{fmt(v['ratio_validate_only'])}x")  # fmt: skip
        table.add_row("", "s (cycleml reads Parquet)", fmt(v["cycleml_file_s"]),
                      fmt(v["pandera_validate_s"]),
                      f"{fmt(v['ratio_file_vs_validate_only'])}x")  # fmt: skip
        table.add_row("", "s (both incl. load)", fmt(v["cycleml_s"] + v["arrow_load_s"]),
                      fmt(v["pandera_validate_s"] + v["pandas_load_s"]),
                      f"{fmt(v['ratio_load_plus_validate'])}x")  # fmt: skip
    if "hash" in w:
        h = w["hash"]
        table.add_row("hash", "canonical_digest MB/s", fmt(h["canonical_digest_mb_per_s"]),
                      "", "")  # fmt: skip
        table.add_row("", "hash_file(csv) MB/s", fmt(h["hash_file_mb_per_s"]), "", "")
    OUT.print(table)
    for name, target in doc["targets"].items():
        colour = "green" if target["met"] else "red"
        OUT.print(f"[{colour}]target {name}: {target['description']} -> {target['measured']}[/]")


def generate(folder: Path, rows: int) -> tuple[Path, Path]:
    csv, parquet = folder / "big.csv", folder / "big.parquet"
    con = duckdb.connect()
    select = BIG_SELECT.format(rows=rows)
    with timed(f"generate {rows:,}-row CSV"):
        con.execute(f"COPY ({select}) TO '{csv}' (HEADER, DELIMITER ',')")
    with timed(f"generate {rows:,}-row Parquet"):
        con.execute(f"COPY ({select}) TO '{parquet}' (FORMAT parquet)")
    con.close()
    return csv, parquet


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--workload", default="ingest,profile,validate,hash", help="comma-separated subset"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the big table")
    parser.add_argument("--profile-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--ydata-default-rows",
        type=int,
        default=None,
        help="rows for the default ydata report (default: all --profile-rows; a smaller "
        "value subsamples, and cycleml is then also timed on the same rows)",
    )
    parser.add_argument("--skip-ydata-default", action="store_true")
    parser.add_argument("--repeat", type=int, default=2, help="best of N for the fast timings")
    parser.add_argument("--tmp", type=Path, default=None, help="parent of the temp folder")
    parser.add_argument("--json-out", type=Path, help="also write the JSON document here")
    args = parser.parse_args(argv)
    args.workloads = [w.strip() for w in args.workload.split(",") if w.strip()]
    unknown = set(args.workloads) - {"ingest", "profile", "validate", "hash"}
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(sorted(unknown))}")
    if args.quick:
        args.rows, args.profile_rows = 200_000, 50_000
        args.ydata_default_rows, args.repeat = 20_000, 1
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    workloads: dict[str, Any] = {}
    folder = Path(tempfile.mkdtemp(prefix="cycleml-bench-data-", dir=args.tmp))
    try:
        if {"ingest", "validate", "hash"} & set(args.workloads):
            csv, parquet = generate(folder, args.rows)
        if "ingest" in args.workloads:
            workloads["ingest"] = workload_ingest(csv, args.rows, folder)
        if "validate" in args.workloads:
            workloads["validate"] = workload_validate(parquet, args.rows, args.repeat)
        if "hash" in args.workloads:
            workloads["hash"] = workload_hash(parquet, csv, args.repeat)
        if "profile" in args.workloads:
            workloads["profile"] = workload_profile(
                args.profile_rows, args.ydata_default_rows, args.repeat, args.skip_ydata_default
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    doc: dict[str, Any] = {
        "benchmark": "data",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "quick": args.quick,
        "machine": machine_info() | {"load_average_at_start": load_at_start},
        "workloads": workloads,
        "targets": targets(workloads),
        "total_s": round(time.perf_counter() - started, 1),
    }
    print_table(doc)
    rendered = json.dumps(doc, indent=2)
    print(rendered)
    if args.json_out:
        args.json_out.write_text(rendered + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
