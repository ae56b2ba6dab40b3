"""The model registry service: registration, gates, transitions, aliases, URIs (both backends)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from cycleml.errors import GateFailed, InvalidInput, InvalidState, NotFound
from cycleml.registry import Models, Stage, check_gates
from cycleml.settings import Settings
from cycleml.spec import parse_spec
from cycleml.store import Database, now_ms
from cycleml.tracking import TrackingClient
from cycleml.tracking._entities import Metric

SPEC = """
name: gates
problem: {task: binary, target: y, positive_class: 1}
metrics:
  - {name: roc_auc, direction: maximize, threshold: 0.9, applies_to: [deploy]}
  - {name: log_loss, direction: minimize, threshold: 0.3, applies_to: [deploy, train]}
  - {name: accuracy, threshold: 0.5, applies_to: [train]}
"""


@pytest.fixture
def client(settings: Settings, db: Database) -> TrackingClient:
    return TrackingClient(settings, store=db)


@pytest.fixture
def registry(settings: Settings, db: Database) -> Models:
    return Models(settings, store=db, spec=parse_spec(SPEC))


def _run_with_model(client: TrackingClient, tmp_path: Path, metrics: dict[str, float]) -> str:
    experiment = client.get_or_create_experiment("models")
    run = client.create_run(experiment.experiment_id, run_name="candidate")
    stamp = now_ms()
    client.log_batch(run.info.run_id, metrics=[Metric(k, v, 0, stamp) for k, v in metrics.items()])
    model = tmp_path / f"model-{run.info.run_id}.bin"
    model.write_bytes(b"weights " + run.info.run_id.encode())
    client.log_artifact(run.info.run_id, model, "model")
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def _register(
    registry: Models, client: TrackingClient, tmp_path: Path, metrics: dict[str, float]
) -> int:
    """A run with ``metrics`` and a model folder, registered as the next version of churn."""
    run_id = _run_with_model(client, tmp_path, metrics)
    return registry.register("churn", f"runs:/{run_id}/model", metrics=metrics).version


def test_register_keeps_the_given_snapshot_and_links_lineage(
    client: TrackingClient, registry: Models, tmp_path: Path
) -> None:
    run_id = _run_with_model(client, tmp_path, {"roc_auc": 0.95, "log_loss": 0.2})
    version = registry.register(
        "churn", f"runs:/{run_id}/model", description="first", metrics={"roc_auc": 0.9}
    )
    assert (version.name, version.version, version.current_stage) == ("churn", 1, "None")
    assert version.metrics == {"roc_auc": 0.9}  # the snapshot given, not the run's
    assert version.run_id == run_id
    assert version.description == "first"
    # The registry reads no runs: without a snapshot the version has none.
    second = registry.register("churn", f"runs:/{run_id}/model")
    assert (second.version, second.metrics, second.description) == (2, {}, "")
    assert registry.get_version("churn", 1).metrics == {"roc_auc": 0.9}
    edges = registry.repository.db.lineage_edges("model_version", "churn/1")
    assert [(e.src_kind, e.src_id, e.relation) for e in edges] == [("run", run_id, "produced")]


def test_register_refuses_bad_sources(
    client: TrackingClient, registry: Models, tmp_path: Path
) -> None:
    run_id = _run_with_model(client, tmp_path, {"roc_auc": 0.95})
    with pytest.raises(InvalidInput, match="only runs:/"):
        registry.register("churn", "models:/churn/1")
    with pytest.raises(NotFound, match="no artifacts at 'nothing-here'"):
        registry.register("churn", f"runs:/{run_id}/nothing-here")
    with pytest.raises(NotFound):
        registry.register("churn", f"runs:/{'0' * 32}/model")
    with pytest.raises(InvalidInput):
        registry.register("bad name with spaces", f"runs:/{run_id}/model")
    assert registry.list() == []


def test_check_gates_names_each_failure() -> None:
    spec = parse_spec(SPEC)
    report = check_gates(
        {"roc_auc": 0.8, "log_loss": 0.5}, spec.metrics_for("deploy"), name="m", version=1
    )
    assert not report.passed
    assert [f.metric for f in report.failures] == ["roc_auc", "log_loss"]
    assert "0.8 < threshold 0.9" in report.failures[0].reason
    assert "0.5 > threshold 0.3" in report.failures[1].reason
    missing = check_gates({"roc_auc": math.nan}, spec.metrics_for("deploy"), name="m", version=1)
    assert [f.metric for f in missing.failures] == ["roc_auc", "log_loss"]
    assert "was not logged" in missing.failures[1].reason
    ok = check_gates(
        {"roc_auc": 0.9, "log_loss": 0.3}, spec.metrics_for("deploy"), name="m", version=1
    )
    assert ok.passed  # thresholds are inclusive


def test_transition_refuses_failing_version_and_writes_nothing(
    client: TrackingClient, registry: Models, tmp_path: Path
) -> None:
    version = _register(registry, client, tmp_path, {"roc_auc": 0.7, "log_loss": 0.9})
    audit_before = len(registry.repository.db.list_audit())
    with pytest.raises(GateFailed) as refused:
        registry.transition("churn", version, "Production")
    message = str(refused.value)
    assert "roc_auc = 0.7 < threshold 0.9" in message
    assert "log_loss = 0.9 > threshold 0.3" in message
    assert "force" in message  # the hint says how to override
    failures = refused.value.details["failures"]
    assert {f["metric"]: (f["value"], f["threshold"]) for f in failures} == {
        "roc_auc": (0.7, 0.9),
        "log_loss": (0.9, 0.3),
    }
    assert registry.get_version("churn", 1).current_stage == "None"
    assert registry.list_transitions("churn", 1) == []
    assert len(registry.repository.db.list_audit()) == audit_before
    # Archiving needs no gate.
    assert registry.transition("churn", 1, Stage.ARCHIVED).current_stage == "Archived"


def test_forced_transition_is_recorded_in_audit_and_history(
    client: TrackingClient, registry: Models, tmp_path: Path
) -> None:
    _register(registry, client, tmp_path, {"roc_auc": 0.7, "log_loss": 0.1})
    moved = registry.transition("churn", 1, "Staging", force=True, reason="hotfix")
    assert moved.current_stage == "Staging"
    (transition,) = registry.list_transitions("churn", 1)
    assert (transition.from_stage, transition.to_stage, transition.forced) == (
        "None",
        "Staging",
        True,
    )
    assert transition.reason == "hotfix"
    assert transition.actor == "tester"
    (record,) = registry.repository.db.list_audit(action="model_version.transition")
    assert record.actor == "tester"
    assert record.entity_id == "churn/1"
    assert record.payload["forced"] is True
    assert record.payload["overridden_failures"] == ["roc_auc"]


def test_transition_path_with_archive_existing(
    client: TrackingClient, registry: Models, tmp_path: Path
) -> None:
    _register(registry, client, tmp_path, {"roc_auc": 0.95, "log_loss": 0.1})
    _register(registry, client, tmp_path, {"roc_auc": 0.97, "log_loss": 0.05})
    registry.transition("churn", 1, "Staging")
    registry.transition("churn", 1, "Production")
    with pytest.raises(InvalidState, match="already in stage Production"):
        registry.transition("churn", 1, "production")
    registry.transition("churn", 2, "Production", archive_existing=True, reason="better")
    assert registry.get_version("churn", 1).current_stage == Stage.ARCHIVED
    assert registry.get_version("churn", 2).current_stage == Stage.PRODUCTION
    history = [(h.from_stage, h.to_stage) for h in registry.list_transitions("churn", 1)]
    assert history == [("None", "Staging"), ("Staging", "Production"), ("Production", "Archived")]
    with pytest.raises(InvalidInput, match="Invalid stage"):
        registry.transition("churn", 2, "Live")


def test_aliases_and_uri_resolution(
    client: TrackingClient, registry: Models, tmp_path: Path
) -> None:
    run_id = _run_with_model(client, tmp_path, {"roc_auc": 0.95, "log_loss": 0.1})
    registry.register("churn", f"runs:/{run_id}/model")
    registry.register("churn", f"runs:/{run_id}/model")
    registry.set_alias("churn", 1, "champion")
    assert registry.get("churn").aliases == {"champion": 1}
    registry.set_alias("churn", "2", "champion")  # moves
    assert registry.get_version("churn", 2).aliases == ("champion",)
    assert registry.get_version("churn", 1).aliases == ()
    for uri in ("models:/churn@champion", "models:/churn/2", "models:/churn/latest"):
        location = registry.resolve(uri)
        assert location.run_id == run_id
        assert [e.path for e in location.entries] == [f"model/model-{run_id}.bin"]
    assert registry.resolve(f"runs:/{run_id}/model").entries == location.entries
    with pytest.raises(NotFound, match="no alias 'challenger'"):
        registry.resolve("models:/churn@challenger")
    with pytest.raises(NotFound):
        registry.resolve("models:/churn/9")
    with pytest.raises(InvalidInput, match="Invalid URI"):
        registry.resolve("models:/")
    with pytest.raises(InvalidInput, match="Invalid alias"):
        registry.set_alias("churn", 1, "7")
    registry.delete_alias("churn", "champion")
    with pytest.raises(NotFound):
        registry.delete_alias("churn", "champion")


def test_set_alias_in_the_old_order_is_refused_with_the_order(
    client: TrackingClient, registry: Models, tmp_path: Path
) -> None:
    run_id = _run_with_model(client, tmp_path, {})
    registry.register("churn", f"runs:/{run_id}/model")
    for call in (
        lambda: registry.set_alias("churn", "champion", 1),  # type: ignore[arg-type]
        lambda: registry.set_alias("churn", "champion", "1"),
    ):
        with pytest.raises(InvalidInput, match=r"set_alias takes \(name, version, alias\)") as bad:
            call()
        assert "old order (name, alias, version)" in str(bad.value)
        assert "For example set_alias('churn', " in str(bad.value)  # in the right order
    assert registry.get("churn").aliases == {}


def test_spec_is_read_from_the_project(settings: Settings, db: Database) -> None:
    (settings.home / "cycleml.yaml").write_text(SPEC, encoding="utf-8")
    registry = Models(settings, store=db)
    assert [m.name for m in registry.get_deploy_gates()] == ["roc_auc", "log_loss"]
    assert Models(settings, store=db, spec=parse_spec("name: x")).get_deploy_gates() == []


# ---- the deprecated ModelRegistry (kept one release) -----------------------------------------
@pytest.fixture
def legacy(settings: Settings, db: Database) -> Any:
    with pytest.deprecated_call(match=r"ModelRegistry is deprecated.*cycleml\.registry\.Models"):
        from cycleml.registry import ModelRegistry

        found = ModelRegistry(settings, store=db, spec=parse_spec(SPEC))
    assert isinstance(found, Models)
    return found


def test_model_registry_is_no_longer_exported() -> None:
    import cycleml.registry

    assert "ModelRegistry" not in cycleml.registry.__all__
    assert "Models" in cycleml.registry.__all__
    with pytest.raises(AttributeError):
        cycleml.registry.NoSuchName  # noqa: B018


def test_model_registry_register_model_snapshots_the_run(
    client: TrackingClient, legacy: Any, tmp_path: Path
) -> None:
    run_id = _run_with_model(client, tmp_path, {"roc_auc": 0.95, "log_loss": 0.2})
    version = legacy.register_model(f"runs:/{run_id}/model", "churn", description="first")
    assert version.metrics == {"roc_auc": 0.95, "log_loss": 0.2}  # the run's, read here
    assert version.description == "first"
    client.log_metric(run_id, "roc_auc", 0.1, step=5)  # later metrics: snapshot unchanged
    assert legacy.get_version("churn", 1).metrics["roc_auc"] == 0.95
    with pytest.raises(NotFound):
        legacy.register_model(f"runs:/{'0' * 32}/model", "churn")


def test_model_registry_old_methods_still_work(
    client: TrackingClient, legacy: Any, tmp_path: Path
) -> None:
    run_id = _run_with_model(client, tmp_path, {"roc_auc": 0.95, "log_loss": 0.1})
    legacy.register_model(f"runs:/{run_id}/model", "churn")
    assert [m.name for m in legacy.list_models()] == ["churn"]
    assert legacy.set_alias("churn", "champion", 1).version == 1  # (name, alias, version)
    assert legacy.get_model("churn").aliases == {"champion": 1}
    assert [m.name for m in legacy.deploy_gates()] == ["roc_auc", "log_loss"]
    assert legacy.promote("churn", 1, to="Staging", reason="r").current_stage == "Staging"
    assert legacy.promote("churn", 1).current_stage == "Production"  # default: Production
    assert [(h.to_stage, h.reason) for h in legacy.stage_history("churn", 1)] == [
        ("Staging", "r"),
        ("Production", ""),
    ]
    assert legacy.check("churn", 1).passed
    assert legacy.resolve("models:/churn@champion").run_id == run_id
    legacy.delete_alias("churn", "champion")
    assert legacy.get_model("churn").aliases == {}
