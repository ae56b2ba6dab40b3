"""The data stages of the demo: raw files -> validated, versioned dataset -> profile."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from cycleml.data import Datasets, DatasetVersion, profile, source_from_spec
from cycleml.reports import render_profile_html, write_html
from cycleml.settings import Settings
from cycleml.spec import ProjectSpec

__all__ = ["DATA_SPEC", "DemoData", "prepare_data"]

DATASET = "tumours"

#: The data sections of the demo's cycleml.yaml.
DATA_SPEC = """
# Stage 2: where the rows come from (every CSV batch in data/raw).
sources:
  tumours: {kind: file, path: data/raw/*.csv}

# Stage 3: what every ingested batch must satisfy; failing rows are quarantined.
validation:
  tumours:
    policy: quarantine
    rules:
      - {rule: unique, columns: [patient_id]}
      - {rule: not_null, column: mean radius}
      - {rule: range, column: mean radius, min: 0}
      - {rule: allowed, column: malignant, values: [0, 1]}
      - {rule: row_count, min: 500}
"""


@dataclass(frozen=True)
class DemoData:
    """The dataset version the demo trains from, and where its report is."""

    version: DatasetVersion
    quarantined: int
    report: Path


def _write_raw_batches(home: Path) -> Path:
    """Write scikit-learn's breast cancer data as three CSV batches; the last has bad rows."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.insert(0, "patient_id", np.arange(1, len(frame) + 1))
    frame["malignant"] = (frame.pop("target") == 0).astype(int)  # scikit-learn: 0 = malignant
    raw = home / "data" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    frame.iloc[:300].to_csv(raw / "batch-1.csv", index=False)
    frame.iloc[300:].to_csv(raw / "batch-2.csv", index=False)
    bad = frame.iloc[:6].copy()  # a deliberately bad batch from a broken upstream export
    bad["patient_id"] = [9001, 9002, 9003, 9004, 9005, 9006]
    bad.loc[bad.index[:2], "mean radius"] = -1.0  # impossible sizes
    bad.loc[bad.index[2:4], "malignant"] = 7  # an unknown label
    bad.loc[bad.index[4:], "mean radius"] = None  # missing measurements
    bad.to_csv(raw / "batch-3-bad.csv", index=False)
    return raw


def prepare_data(home: Path, settings: Settings, spec: ProjectSpec, out: Console) -> DemoData:
    """Ingest the raw files (quarantining bad rows), then profile the new version."""
    raw = _write_raw_batches(home)
    datasets = Datasets(settings)
    checks = spec.validation[DATASET]
    result = datasets.ingest(
        DATASET,
        source_from_spec(spec.sources[DATASET], base_dir=home),
        rules=checks.rules,
        policy=checks.policy,
        aliases=["train"],
    )
    version = result.version
    held = result.quarantine.row_count if result.quarantine is not None else 0
    files = len(list(raw.glob("*.csv")))
    out.print(
        f"2. Ingested {files} raw CSV files into [bold]{version.uri}[/] ({version.row_count} "
        f"rows, blake3:{version.digest[:12]}); validation quarantined {held} bad rows"
        + (f" as {result.quarantine.uri}." if result.quarantine is not None else ".")
    )
    problem = spec.problem
    found = profile(
        datasets.list_part_paths(version),
        target=problem.target if problem else None,
        task=problem.task if problem else None,
    )
    report = write_html(
        render_profile_html(
            found.to_dict(), title=f"Profile of {version.uri}", include_plotlyjs="shared"
        ),
        settings.state_dir / "reports" / f"{DATASET}-v{version.version}.html",
    )
    alerts: list[dict[str, Any]] = found.to_dict()["alerts"]
    out.print(f"   Profiled it: {len(alerts)} alerts; report: [bold]{report}[/]")
    datasets.close()
    return DemoData(version=version, quarantined=held, report=report)
