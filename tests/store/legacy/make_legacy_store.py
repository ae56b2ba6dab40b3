"""Fill a metadata store through cycleml's public API, then write what it reads back.

Run with the cycleml of commit 657c13b (schema revision ``0004``, the last single-chain
layout) to make the fixtures ``tests/store/test_legacy_upgrade.py`` upgrades:

    git archive 657c13b src | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old/src python tests/store/legacy/make_legacy_store.py HOME [METADATA_URI]

HOME gets the project (``.cycleml/`` with the database and artifacts) and ``expected.json``.
The snapshot is taken with :func:`snapshot`, which the test calls again on the upgraded
store, so both sides read the same things through the same method names.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd


def _plain(value: Any) -> Any:
    """Dataclasses, named tuples and enums as JSON."""
    import dataclasses
    import enum

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def snapshot(store: Any) -> dict[str, Any]:
    """Everything the store answers, by the old ``SqlMetadataStore`` method names."""
    experiments = store.list_experiments(view="all")
    ids = [e.experiment_id for e in experiments]
    runs, _ = store.search_runs(experiment_ids=ids, view="all", max_results=1000)
    run_ids = sorted(r.info.run_id for r in runs)
    models = store.list_registered_models()
    datasets = store.list_datasets()
    deployments = store.list_deployments()
    monitors = store.list_monitors()
    return _plain(
        {
            "experiments": sorted(experiments, key=lambda e: e.name),
            "runs": sorted(runs, key=lambda r: r.info.run_id),
            "metric_history": {
                rid: {k: store.get_metric_history(rid, k) for k in store.get_run(rid).data.metrics}
                for rid in run_ids
            },
            "artifacts": {rid: store.list_artifacts(rid) for rid in run_ids},
            "models": models,
            "versions": {m.name: store.list_model_versions(m.name) for m in models},
            "stage_history": {
                f"{m.name}/{v.version}": store.get_stage_history(m.name, v.version)
                for m in models
                for v in store.list_model_versions(m.name)
            },
            "datasets": {d.name: store.list_dataset_versions(d.name) for d in datasets},
            "deployments": deployments,
            "revisions": {d.name: store.list_deployment_revisions(d.name) for d in deployments},
            "prediction_log": {
                d.name: [p.rows for p in store.list_prediction_log_parts(d.name)]
                for d in deployments
            },
            "feedback": {d.name: store.list_feedback(d.name) for d in deployments},
            "references": store.list_monitor_references(),
            "monitors": monitors,
            "evaluations": {m.name: store.list_monitor_evaluations(m.name) for m in monitors},
            "alert_states": {m.name: store.get_alert_states(m.name) for m in monitors},
            "alert_events": {m.name: store.list_alert_events(m.name) for m in monitors},
            "audit": store.list_audit(limit=100_000),
            "lineage": {
                f"run:{rid}": sorted(
                    (e.src_kind, e.src_id, e.relation, e.dst_kind, e.dst_id)
                    for e in store.lineage_edges("run", rid)
                )
                for rid in run_ids
            },
        }
    )


def fill(home: Path, metadata_uri: str | None) -> dict[str, Any]:
    """A small project with something in every table, made through the public API."""
    from sklearn.dummy import DummyClassifier

    import cycleml
    import cycleml.tracking
    from cycleml.data import Datasets
    from cycleml.models import log_model
    from cycleml.monitoring import Monitors
    from cycleml.registry import ModelRegistry
    from cycleml.serving import Deployments, PredictionLogger, record_feedback
    from cycleml.settings import Settings

    state = home / ".cycleml"
    settings = Settings(
        home=home,
        metadata_uri=metadata_uri or f"sqlite:///{state / 'metadata.db'}",
        artifact_uri=(state / "artifacts").as_uri(),
        tracking_uri=metadata_uri or f"sqlite:///{state / 'metadata.db'}",
        actor="legacy-maker",
    )
    frame = pd.DataFrame({"x": [float(i) for i in range(40)], "y": [i % 2 for i in range(40)]})
    datasets = Datasets(settings)
    version = datasets.ingest("points", frame).version
    datasets.tag("points", version.version, "train")

    cycleml.configure(settings)
    cycleml.set_experiment("legacy")
    with cycleml.start_run(run_name="parent") as parent:
        cycleml.log_params({"depth": 3, "kind": "tree"})
        for step in range(5):
            cycleml.log_metric("loss", 1.0 / (step + 1), step=step)
        cycleml.log_metric("auc", 0.9)
        cycleml.set_tag("team", "risk")
        cycleml.tracking.log_input(version)
        model = DummyClassifier(strategy="most_frequent").fit(frame[["x"]], frame["y"])
        log_model(model, "model", input_example=frame[["x"]].head(3))
        cycleml.log_text("notes", "notes.txt")
        with cycleml.start_run(run_name="child", nested=True):
            cycleml.log_metric("auc", 0.8)
    registry = ModelRegistry(settings)
    v1 = registry.register_model(f"runs:/{parent.info.run_id}/model", "legacy-model")
    registry.set_alias("legacy-model", "champion", v1.version)
    registry.promote("legacy-model", v1.version, to="Staging", reason="legacy")

    deployments = Deployments(settings)
    deployments.create("legacy-live", "models:/legacy-model@champion", description="legacy")
    logger = PredictionLogger(settings, "legacy-live")
    logger.log(
        [
            {
                "request_id": f"r{i}",
                "time": 1_700_000_000_000 + i,
                "model_name": "legacy-model",
                "model_version": v1.version,
                "inputs": {"x": float(i)},
                "outputs": {"prediction": i % 2},
            }
            for i in range(10)
        ]
    )
    logger.close()
    record_feedback(
        "legacy-live",
        [{"request_id": f"r{i}", "label": i % 2, "time": 1_700_000_100_000} for i in range(6)],
        settings=settings,
    )

    monitors = Monitors(settings)
    ref = monitors.save_reference(frame, model="models:/legacy-model/1", name="legacy-ref")
    monitors.create(
        "legacy-monitor",
        target="models:/legacy-model/1",
        reference=ref.id,
        checks=["drift", "quality"],
        rules=[{"name": "drifted", "metric": "drift.share", "operator": ">=", "threshold": 0.0}],
    )
    shifted = frame.assign(x=frame["x"] + 100.0)
    monitors.run("legacy-monitor", data=shifted)
    from cycleml.store import open_metadata_store

    with open_metadata_store(settings) as store:
        return snapshot(store)


if __name__ == "__main__":
    target = Path(sys.argv[1]).resolve()
    target.mkdir(parents=True, exist_ok=True)
    expected = fill(target, sys.argv[2] if len(sys.argv) > 2 else None)
    (target / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True))
