"""``init_project``: write a commented ``cycleml.yaml`` and the ``.cycleml/`` state folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cycleml.errors import AlreadyExists, InvalidInput
from cycleml.ids import new_id
from cycleml.settings import PROJECT_FILE, STATE_DIR
from cycleml.spec._load import parse_spec
from cycleml.spec._metrics import TASKS

__all__ = ["init_project", "render_template"]

_HEADER = """\
# cycleml project spec. Every cycleml command run in this folder (or below it) reads it.
# Unknown fields are errors, so a typo never goes unnoticed.

# Project name: shown in the UI and recorded with every run and model.
name: {name}
# Free text for people reading this project.
description: "Describe what this project predicts and why."

# Stage 1, problem definition: what is predicted, from which rows.
problem:
  # binary | multiclass | regression
  task: {task}
  # The column holding the label (replace the placeholder with your column name).
  target: label
{positive_class}\
  # Columns that identify the entity a row describes (for feature joins and serving).
  entity_keys: [id]
  # Event-time column, used for point-in-time feature joins and time-based splits.
  # Use null if rows have no time.
  timestamp: event_time
  # Columns checked for fairness by monitoring (they need not be model features).
  sensitive_attributes: []
  # Fairness thresholds monitoring checks for each sensitive attribute, e.g.
  # {{demographic_parity_difference: 0.1, equalized_odds_difference: 0.1}}.
  fairness: {{}}

# Stage 4, metrics: each metric has a name from the metric registry (for example accuracy,
# balanced_accuracy, precision, recall, f1, roc_auc, log_loss, average_precision, mae,
# mse, rmse, mape, r2, median_ae),
# a direction (maximize | minimize; default: the metric's natural one), an optional
# threshold, and where the threshold applies:
#   train   - a run is marked as failing its gate
#   deploy  - a model version cannot be promoted
#   monitor - an alert is raised on live data
# Metrics without a threshold are computed and shown, never enforced.
metrics:
{metrics}
# Where state lives. null means: the CYCLEML_* environment variables, else the local
# defaults (.cycleml/metadata.db and .cycleml/artifacts in this folder).
storage:
  # e.g. postgresql+psycopg://user@host:5432/cycleml
  metadata_uri: null
  # e.g. s3://bucket/prefix
  artifact_uri: null
"""

_POSITIVE = """\
  # The label value counted as positive (binary only; default: the larger label).
  positive_class: 1
"""

_METRICS = {
    "binary": [
        ("roc_auc", "0.8", "[train, deploy, monitor]"),
        ("f1", "0.6", "[train, deploy]"),
    ],
    "multiclass": [
        ("accuracy", "0.8", "[train, deploy, monitor]"),
        ("f1", "0.6", "[train, deploy]"),
    ],
    "regression": [
        ("rmse", "10.0", "[train, deploy, monitor]"),
        ("r2", "0.5", "[train, deploy]"),
    ],
}


def render_template(name: str, task: str = "binary") -> str:
    """Return the commented ``cycleml.yaml`` text for a new project.

    Raises:
        InvalidInput: ``task`` is not binary, multiclass or regression, or ``name`` is empty.
    """
    if task not in TASKS:
        raise InvalidInput(
            f"Unknown task {task!r}; valid tasks: {', '.join(TASKS)}.",
            details={"valid": list(TASKS)},
        )
    if not name or not name.strip():
        raise InvalidInput("The project name must not be empty.")
    blocks = []
    for metric, threshold, stages in _METRICS[task]:
        blocks.append(
            f"  - name: {metric}\n"
            f"    # direction: natural for {metric}; set it only to override.\n"
            f"    threshold: {threshold}\n"
            f"    applies_to: {stages}\n"
        )
    return _HEADER.format(
        name=json.dumps(name.strip()),  # a JSON string is a valid YAML scalar
        task=task,
        positive_class=_POSITIVE if task == "binary" else "",
        metrics="".join(blocks),
    )


def init_project(
    directory: str | Path,
    *,
    name: str | None = None,
    task: str = "binary",
    force: bool = False,
) -> Path:
    """Create a project: a commented ``cycleml.yaml`` plus ``.cycleml/`` and its artifacts.

    Args:
        directory: Project folder; created if missing.
        name: Project name; default: the folder's name.
        task: ``binary``, ``multiclass`` or ``regression``; picks example metrics.
        force: Overwrite an existing ``cycleml.yaml``.

    Returns:
        The path of the written ``cycleml.yaml``.

    Raises:
        AlreadyExists: ``cycleml.yaml`` exists and ``force`` is false (nothing is written).
        InvalidInput: Bad ``task`` or ``name``, or ``directory`` is a file.
    """
    folder = Path(directory).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"Cannot create a project in {folder}: it is a file, not a folder.")
    spec_path = folder / PROJECT_FILE
    if spec_path.exists() and not force:
        raise AlreadyExists(
            f"{spec_path} already exists.",
            hint="Edit it, or pass force=True (`cycleml init --force`) to overwrite it.",
            details={"file": str(spec_path)},
        )
    text = render_template(name if name is not None else (folder.name or "project"), task)
    parse_spec(text, source=str(spec_path))  # never write a file that does not load

    state = folder / STATE_DIR
    (state / "artifacts").mkdir(parents=True, exist_ok=True)
    gitignore = state / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("*\n", encoding="utf-8")
    _atomic_write(spec_path, text)
    return spec_path


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{new_id()}.tmp")
    try:
        with tmp.open("x", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
