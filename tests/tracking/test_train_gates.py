"""Training gates: the spec's ``applies_to: train`` thresholds are tagged on finished runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cycleml.settings import Settings
from cycleml.tracking import TRAIN_GATE_TAG, RunRepository, Tracker

SPEC = """
name: gated
problem: {task: binary, target: y}
metrics:
  - {name: roc_auc, threshold: 0.9, applies_to: [train, deploy]}
  - {name: log_loss, threshold: 0.4, applies_to: [train]}
  - {name: f1, threshold: 0.99, applies_to: [deploy]}
  - {name: accuracy, applies_to: [train]}
"""


@pytest.fixture
def gated(settings: Settings) -> Iterator[Tracker]:
    (Path(settings.home) / "cycleml.yaml").write_text(SPEC, encoding="utf-8")
    tracker = Tracker(settings)
    yield tracker
    tracker.close()


def test_finished_runs_are_tagged_with_the_train_gate_verdict(
    gated: Tracker, run_repo: RunRepository
) -> None:
    with gated.start_run(run_name="good") as good:
        gated.log_metrics({"roc_auc": 0.95, "log_loss": 0.2, "f1": 0.1})
    with gated.start_run(run_name="bad") as bad:
        gated.log_metrics({"roc_auc": 0.85})
    good_tags = run_repo.get_run(good.run_id).data.tags
    assert good_tags[TRAIN_GATE_TAG] == "passed"  # f1 is a deploy gate, not a train gate
    assert json.loads(good_tags[f"{TRAIN_GATE_TAG}.failures"]) == []
    bad_tags = run_repo.get_run(bad.run_id).data.tags
    assert bad_tags[TRAIN_GATE_TAG] == "failed"
    failures = json.loads(bad_tags[f"{TRAIN_GATE_TAG}.failures"])
    assert failures == [
        "roc_auc = 0.85 < threshold 0.9 (maximize)",
        "log_loss was not logged by the source run",
    ]
    found = gated.client.search_runs(filter_string=f"tags.`{TRAIN_GATE_TAG}` = 'passed'")
    assert [r.info.run_name for r in found] == ["good"]


def test_failed_runs_and_projects_without_train_gates_get_no_verdict(
    gated: Tracker, settings: Settings, run_repo: RunRepository
) -> None:
    crashed = gated.start_run()
    gated.log_metric("roc_auc", 0.99)
    gated.end_run("FAILED")
    assert TRAIN_GATE_TAG not in run_repo.get_run(crashed.run_id).data.tags
    (Path(settings.home) / "cycleml.yaml").write_text("name: plain\n", encoding="utf-8")
    plain = Tracker(settings)
    with plain.start_run() as run:
        plain.log_metric("roc_auc", 0.5)
    plain.close()
    assert TRAIN_GATE_TAG not in run_repo.get_run(run.run_id).data.tags
