"""Quickstart: track a small hyper-parameter sweep, register the best model, move it to Production.

Run it from any folder; it creates a cycleml project in ``./quickstart-project``:

    python examples/quickstart.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import train_test_split

import cycleml
from cycleml.errors import GateFailed
from cycleml.models import register_model
from cycleml.registry import Models
from cycleml.spec import init_project, project_settings


def main(directory: Path) -> None:
    """Create the project (if needed), train three forests, register the best, gate it."""
    if not (directory / "cycleml.yaml").exists():
        init_project(directory, name="quickstart")  # gates: roc_auc >= 0.8, f1 >= 0.6
    settings = project_settings(home=directory)
    cycleml.configure(settings)
    cycleml.set_experiment("quickstart")
    cycleml.autolog()

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, random_state=0, stratify=y)
    for depth in (2, 4, 8):
        with cycleml.start_run(run_name=f"forest-depth{depth}"):
            model = RandomForestClassifier(max_depth=depth, random_state=0).fit(X_train, y_train)
            cycleml.log_metrics(
                {
                    "roc_auc": roc_auc_score(y_val, model.predict_proba(X_val)[:, 1]),
                    "f1": f1_score(y_val, model.predict(X_val)),
                }
            )

    best = cycleml.search_runs(order_by=["metrics.roc_auc DESC"], max_results=1)[0]
    # The version keeps the run's metrics as the snapshot the deploy gates check.
    version = register_model(f"runs:/{best.info.run_id}/model", "quickstart-forest")
    models = Models(settings)
    try:
        models.transition(version.name, version.version, "Production", reason="best roc_auc")
    except GateFailed as refused:
        print(f"not moved to Production: {refused.message}")
        return
    models.set_alias(version.name, version.version, "champion")
    print(f"{best.info.run_name}: roc_auc={best.data.metrics['roc_auc']:.4f}")
    print(f"moved {version.uri} to Production as models:/{version.name}@champion")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "quickstart-project").resolve())
