"""Every example in examples/ runs end to end in a fresh folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cycleml.lifecycle._legacy_store import open_metadata_store

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_quickstart_example_promotes_the_best_forest(tmp_path: Path) -> None:
    project = tmp_path / "project"
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py"), str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "promoted models:/quickstart-forest/1 to Production" in done.stdout
    store = open_metadata_store(f"sqlite:///{project / '.cycleml' / 'metadata.db'}")
    champion = store.resolve_model_uri("models:/quickstart-forest@champion")
    assert champion.current_stage == "Production"
    assert champion.metrics["roc_auc"] >= 0.8
    runs, _ = store.search_runs(experiment_ids=[e.experiment_id for e in store.list_experiments()])
    assert sorted(r.info.run_name for r in runs) == [
        "forest-depth2",
        "forest-depth4",
        "forest-depth8",
    ]
    assert all(r.data.tags["cycleml.gates.train"] == "passed" for r in runs)
