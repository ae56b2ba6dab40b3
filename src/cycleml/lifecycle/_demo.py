"""The lifecycle demo: ``cycleml demo`` / ``make demo``.

It runs the stages built so far on a real dataset that ships with scikit-learn (the
Wisconsin breast cancer data, 569 tumours, 30 features): a project spec with metric gates,
tracked training of several models, registration of the best, a gate refusing a weak model,
the best moved to Production through the gates, an alias, and a deployment served with a canary,
its prediction log and ground truth joined back. Later stages join here.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from cycleml.data import Datasets
from cycleml.errors import GateFailed
from cycleml.lifecycle._demo_data import DATA_SPEC, prepare_data
from cycleml.lifecycle._demo_monitoring import monitor_demo
from cycleml.lifecycle._demo_serving import serve_demo
from cycleml.models import load_model
from cycleml.models._autolog import log_fitted_model
from cycleml.settings import PROJECT_FILE, STATE_DIR, Settings, resolve_settings
from cycleml.spec import ProjectSpec, load_spec
from cycleml.store import database_of
from cycleml.tracking import MODEL_DIR, TRAIN_GATE_TAG, configure
from cycleml.tracking._autolog import Autologger

__all__ = ["DEMO_SPEC", "DemoResult", "run_demo"]

MODEL_NAME = "breast-cancer-classifier"
PACKAGE = MODEL_DIR  # each run's servable model folder, logged by autolog
EXPERIMENT = "breast-cancer"

#: The demo project's cycleml.yaml (the same shape `cycleml init` writes).
DEMO_SPEC = """\
# cycleml demo project: classify breast tumours as malignant (1) or benign (0).
name: breast-cancer-demo
description: Wisconsin diagnostic breast cancer data, bundled with scikit-learn.

problem:
  task: binary
  target: malignant          # 1 = malignant, 0 = benign
  positive_class: 1
  entity_keys: [patient_id]
  sensitive_attributes: []

# Defined once, reused as training gates, deployment gates and monitoring alerts.
metrics:
  - name: roc_auc
    direction: maximize
    threshold: 0.97
    applies_to: [train, deploy, monitor]
  - name: f1
    direction: maximize
    threshold: 0.90
    applies_to: [deploy, monitor]
  - name: log_loss
    direction: minimize
    threshold: 0.35
    applies_to: [train]
"""


@dataclass
class DemoResult:
    """What the demo made, for printing and for tests."""

    home: Path
    experiment_id: str
    dataset_uri: str = ""
    report: Path | None = None
    run_ids: dict[str, str] = field(default_factory=dict)
    best_run_id: str = ""
    model_uri: str = ""
    refused: str = ""
    deployment: str = ""
    monitor: str = ""
    monitoring_report: Path | None = None
    alerts: int = 0
    more: list[object] = field(default_factory=list)


def _candidates() -> list[tuple[str, Any]]:
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return [
        ("baseline-dummy", DummyClassifier(strategy="prior")),
        ("logreg-C0.01", make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=500))),
        ("logreg-C1", make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500))),
        ("forest-50", RandomForestClassifier(n_estimators=50, max_depth=4, random_state=0)),
        ("forest-200", RandomForestClassifier(n_estimators=200, random_state=0)),
        ("boosting", GradientBoostingClassifier(random_state=0)),
    ]


def _split(frame: Any) -> Any:
    """The same stratified 75/25 split for every candidate."""
    from sklearn.model_selection import train_test_split

    features = frame.drop(columns=["patient_id", "malignant"])
    target = frame["malignant"]
    return train_test_split(features, target, test_size=0.25, stratify=target, random_state=42)


def _validation_metrics(spec: ProjectSpec, model: Any, X: Any, y: Any) -> dict[str, float]:
    from cycleml.spec import get_metric

    predicted = model.predict(X)
    score = model.predict_proba(X)[:, 1]
    names = sorted({m.name for m in spec.metrics} | {"accuracy", "precision", "recall"})
    return {
        name: get_metric(name).compute(y, y_pred=predicted, y_score=score, positive_class=1)
        for name in names
    }


def run_demo(
    directory: str | Path,
    *,
    fresh: bool = False,
    console: Console | None = None,
    more_steps: Sequence[Callable[[Settings, Console], object]] = (),
) -> DemoResult:
    """Run the lifecycle demo in ``directory`` and print where everything is.

    Args:
        directory: The demo project's folder.
        fresh: Delete the folder first if it exists.
        console: Where the story is printed.
        more_steps: Steps of layers above the workflows (``cycleml demo`` adds the team
            server's), run on the project's settings after the monitoring step; what each
            returns is kept in :attr:`DemoResult.more`.
    """
    from cycleml.models._registering import register_run_model
    from cycleml.registry import Models

    out = console or Console()
    home = Path(directory).resolve()
    if fresh and home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / PROJECT_FILE).write_text(DEMO_SPEC + DATA_SPEC, encoding="utf-8")
    (home / STATE_DIR).mkdir(exist_ok=True)
    (home / STATE_DIR / ".gitignore").write_text("*\n", encoding="utf-8")
    spec = load_spec(home / PROJECT_FILE)
    settings = resolve_settings(home=home, storage=spec.storage.as_mapping())
    out.rule("[bold]cycleml demo[/]")
    task_kind = spec.problem.task if spec.problem else ""
    out.print(
        f"1. Problem defined in [bold]{home / PROJECT_FILE}[/]: {task_kind} classification, gates: "
        + ", ".join(
            f"{m.name} {'>=' if m.direction == 'maximize' else '<='} {m.threshold}"
            for m in spec.metrics_for("deploy")
        )
    )

    prepared = prepare_data(home, settings, spec, out)
    datasets = Datasets(settings)

    # The module-level tracker, so that loading a dataset inside a run records it as input.
    tracker = configure(settings)
    result = DemoResult(home=home, experiment_id=tracker.set_experiment(EXPERIMENT).experiment_id)
    result.dataset_uri = prepared.version.uri
    result.report = prepared.report
    # Autologging on this tracker (cycleml.autolog() does the same for the default one).
    autologger = Autologger(tracker, model_logger=log_fitted_model)
    autologger.enable()
    try:
        with Progress(console=out, transient=True) as progress:
            task = progress.add_task("3. Training candidates", total=len(_candidates()))
            for name, model in _candidates():
                with tracker.start_run(run_name=name, tags={"demo": "true"}) as run:
                    frame = datasets.load(prepared.version, output="pandas")  # run input
                    X_train, X_val, y_train, y_val = _split(frame)
                    # autolog: params, training metrics and the servable model folder
                    # (skops files, signature from the training data, hashes)
                    model.fit(X_train, y_train)
                    tracker.log_metrics(_validation_metrics(spec, model, X_val, y_val))
                result.run_ids[name] = run.run_id
                progress.advance(task)
    finally:
        autologger.disable()
    tracker.flush()

    ranked = tracker.client.search_runs(
        experiment_ids=[result.experiment_id], order_by=["metrics.roc_auc DESC"]
    )
    out.print(f"3. Trained {len(ranked)} models under tracking (experiment '{EXPERIMENT}'):")
    for ranked_run in ranked:
        m = ranked_run.data.metrics
        out.print(
            f"   {ranked_run.info.run_name:<16} roc_auc={m.get('roc_auc', float('nan')):.4f} "
            f"f1={m.get('f1', float('nan')):.4f} log_loss={m.get('log_loss', float('nan')):.4f}"
            f"  train gate: {ranked_run.data.tags.get(TRAIN_GATE_TAG, '-')}"
        )
    best = ranked[0]
    result.best_run_id = best.info.run_id

    registry = Models(settings, store=database_of(tracker.client.repository), spec=spec)

    weak = register_run_model(
        registry,
        f"runs:/{result.run_ids['baseline-dummy']}/{PACKAGE}",
        MODEL_NAME,
        description="majority-class baseline",
    )
    try:
        registry.transition(MODEL_NAME, weak.version, "Staging", reason="demo: try the baseline")
    except GateFailed as refusal:
        result.refused = refusal.message
        out.print(f"4. Gate refused the baseline ({weak.uri}): [red]{refusal.message}[/]")
    version = register_run_model(
        registry,
        f"runs:/{best.info.run_id}/{PACKAGE}",
        MODEL_NAME,
        description=f"best of {len(ranked)} candidates by validation roc_auc",
    )
    registry.transition(MODEL_NAME, version.version, "Staging", reason="best validation roc_auc")
    registry.transition(
        MODEL_NAME,
        version.version,
        "Production",
        reason="passed deploy gates",
        archive_existing=True,
    )
    registry.set_alias(MODEL_NAME, version.version, "champion")
    result.model_uri = f"models:/{MODEL_NAME}@champion"
    out.print(
        f"5. Registered {best.info.run_name} as {version.uri}, moved through the gates to "
        f"Production, alias [bold]{result.model_uri}[/]."
    )

    champion = load_model(result.model_uri, settings=settings)  # every file's hash checked
    frame = datasets.load(prepared.version, output="pandas")
    _, X_val, _, y_val = _split(frame)
    accuracy = float((champion.predict(X_val) == y_val.to_numpy()).mean())
    out.print(
        f"6. Loaded the champion back from the artifact store (hashes verified, signature "
        f"{len(champion.signature.inputs) if champion.signature else 0} columns): validation "
        f"accuracy {accuracy:.3f}."
    )
    challenger = register_run_model(
        registry,
        f"runs:/{ranked[1].info.run_id}/{PACKAGE}",
        MODEL_NAME,
        description="runner-up, served as a canary",
    )
    result.deployment = serve_demo(
        settings, frame, champion_version=version.version,
        challenger_version=challenger.version, console=out,
    )  # fmt: skip
    monitored = monitor_demo(
        settings, frame, deployment=result.deployment, model_name=MODEL_NAME,
        model_version=version.version, console=out,
    )  # fmt: skip
    result.monitor, result.monitoring_report = monitored.monitor, monitored.report
    result.alerts = monitored.alerts
    tracker.close()
    result.more = [step(settings, out) for step in more_steps]

    out.rule("where everything is")
    out.print(f"project       {home}")
    out.print(f"spec          {home / PROJECT_FILE}")
    out.print(f"metadata      {settings.metadata_uri}")
    out.print(f"artifacts     {settings.artifact_uri}")
    out.print(f"champion      {result.model_uri}  (run {best.info.run_id})")
    out.print(f"monitoring    {result.monitoring_report}")
    # The command as this environment knows it (a venv's cycleml may not be on PATH).
    installed = Path(sys.executable).with_name("cycleml")
    exe = str(installed) if installed.exists() and not shutil.which("cycleml") else "cycleml"
    out.print("try:")
    for command in (
        f"{exe} runs list --order-by 'metrics.roc_auc DESC'",
        f"{exe} runs show {best.info.run_id}",
        f"{exe} models show {MODEL_NAME} --version {version.version}",
        f"{exe} lineage {result.model_uri}",
        f"{exe} audit --since 1h",
        f"{exe} deploy history {result.deployment}",
        f"{exe} serve --deployment {result.deployment}",
        f"{exe} monitor history {result.monitor} --metric drift.share",
        f"{exe} monitor alerts {result.monitor}",
        f"{exe} monitor report {result.monitor} -o monitor.html",
        f"{exe} server --port 5000  # the team server on this store",
    ):
        out.print(f"  cd {home} && {command}")
    return result
