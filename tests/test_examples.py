"""Every example in examples/ runs end to end in a fresh folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cycleml.registry import SqlModelRepository
from cycleml.store import open_database
from cycleml.tracking import SqlRunRepository

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_quickstart_example_moves_the_best_forest_to_production(tmp_path: Path) -> None:
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
    assert "moved models:/quickstart-forest/1 to Production" in done.stdout
    with open_database(f"sqlite:///{project / '.cycleml' / 'metadata.db'}") as db:
        champion = SqlModelRepository(db).resolve_model_uri("models:/quickstart-forest@champion")
        run_repo = SqlRunRepository(db)
        experiments = [e.experiment_id for e in run_repo.list_experiments()]
        runs, _ = run_repo.search_runs(experiment_ids=experiments)
    assert champion.current_stage == "Production"
    assert champion.metrics["roc_auc"] >= 0.8
    assert sorted(r.info.run_name for r in runs) == [
        "forest-depth2",
        "forest-depth4",
        "forest-depth8",
    ]
    assert all(r.data.tags["cycleml.gates.train"] == "passed" for r in runs)
