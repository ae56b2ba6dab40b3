"""The deployments service and sticky canary routing (the store: tests/store)."""

from __future__ import annotations

import random
import shutil
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from cycleml.errors import (
    AlreadyExists,
    CycleMLError,
    InvalidInput,
    InvalidState,
    ModelIntegrityError,
    NotFound,
)
from cycleml.registry import ModelRepository
from cycleml.serving._deployments import Deployment, Deployments, route, route_point
from cycleml.settings import Settings
from cycleml.store import Database
from cycleml.tracking import RunRepository, TrackingClient


def _logged(settings: Settings, db: Database, folder: Path) -> str:
    """Log ``folder`` as a run's ``model`` artifacts; return ``runs:/<id>/model``."""
    client = TrackingClient(settings, store=db)
    found = client.repository.get_experiment_by_name("models")
    experiment = found.experiment_id if found else client.create_experiment("models")
    run = client.create_run(experiment).info.run_id
    client.log_artifacts(run, folder, "model")
    return f"runs:/{run}/model"


@pytest.fixture
def deployments(
    settings: Settings, model_repo: ModelRepository, exploding_folder: Path, db: Database
) -> Deployments:
    """The service on SQLite and PostgreSQL, with ``churn`` versions 1-4 (``@champion`` -> 1),
    each a servable model package logged to a run."""
    model_repo.create_registered_model("churn")
    source = _logged(settings, db, exploding_folder)
    for _ in range(4):
        model_repo.create_model_version("churn", source=source)
    model_repo.set_alias("churn", 1, "champion")
    return Deployments(settings)


def test_create_get_list(deployments: Deployments) -> None:
    created = deployments.create(
        "churn",
        "models:/churn@champion",
        canary="models:/churn/2",
        percent=10,
        shadow="models:/churn/3",
        description="d",
        actor="alice",
    )
    assert (created.model_version, created.canary_version, created.shadow_version) == (1, 2, 3)
    assert (created.canary_percent, created.created_by, created.revision) == (10.0, "alice", 1)
    assert deployments.get("churn") == created
    assert deployments.list() == [created]
    with pytest.raises(AlreadyExists):
        deployments.create("churn", "models:/churn/1")
    with pytest.raises(NotFound, match="No deployment named 'nope'"):
        deployments.get("nope")


def test_percent_without_canary_is_refused(deployments: Deployments) -> None:
    with pytest.raises(InvalidInput, match="needs a canary"):
        deployments.create("churn", "models:/churn/1", percent=10)
    with pytest.raises(NotFound):
        deployments.get("churn")


def test_canary_shadow_promote_rollback(deployments: Deployments) -> None:
    deployments.create("churn", "models:/churn@champion")
    with_canary = deployments.set_canary("churn", "models:/churn/2", 20, reason="try v2")
    assert (with_canary.canary_version, with_canary.canary_percent) == (2, 20.0)
    with_shadow = deployments.set_shadow("churn", "models:/churn/3")
    assert with_shadow.shadow_version == 3
    promoted = deployments.promote("churn", "v2 wins")
    assert (promoted.model_version, promoted.canary_name, promoted.shadow_version) == (2, None, 3)
    with pytest.raises(InvalidState, match="no canary"):
        deployments.promote("churn")
    rolled = deployments.rollback("churn", "v2 is worse in production")
    assert (rolled.model_version, rolled.canary_version, rolled.canary_percent) == (1, 2, 20.0)
    no_shadow = deployments.set_shadow("churn", None)
    no_canary = deployments.set_canary("churn", None, 0)
    assert no_shadow.shadow_name is None
    assert no_canary.canary_name is None
    history = deployments.list_revisions("churn")
    assert [r.action for r in history] == [
        "create",
        "update",
        "update",
        "promote",
        "rollback",
        "update",
        "update",
    ]
    assert [r.reason for r in history][1:5] == [
        "try v2",
        "",
        "v2 wins",
        "v2 is worse in production",
    ]
    assert deployments.rollback("churn", to_revision=1).model_version == 1


def test_apply_creates_then_replaces(deployments: Deployments) -> None:
    first = deployments.apply("churn", "models:/churn/1", canary="models:/churn/2", percent=5)
    assert (first.revision, first.canary_version) == (1, 2)
    same = deployments.apply("churn", "models:/churn/1", canary="models:/churn/2", percent=5)
    assert same.revision == 1  # nothing changed, nothing written
    replaced = deployments.apply("churn", "models:/churn/3", description="v3 only")
    assert (replaced.model_version, replaced.canary_name, replaced.revision) == (3, None, 2)
    assert replaced.description == "v3 only"
    updated = deployments.update("churn", model="models:/churn@champion")
    assert (updated.model_version, updated.description) == (1, "v3 only")


def test_apply_replaces_the_whole_configuration_and_audits_it(deployments: Deployments) -> None:
    deployments.apply("churn", "models:/churn/1", canary="models:/churn/2", percent=5,
                      shadow="models:/churn/3", description="live churn")  # fmt: skip
    replaced = deployments.apply("churn", "models:/churn/4", reason="v4 alone")
    assert (replaced.model_version, replaced.revision) == (4, 2)
    assert (replaced.canary_name, replaced.shadow_name) == (None, None)  # not given: removed
    assert replaced.description == "live churn"  # kept unless given
    (revision,) = [r for r in deployments.list_revisions("churn") if r.revision == 2]
    assert (revision.action, revision.reason) == ("replace", "v4 alone")
    (audit,) = deployments.repository.db.list_audit(entity_id="churn", action="deployment.replace")
    assert audit.payload["removed"] == ["canary", "shadow"]
    assert audit.payload["previous"]["canary_version"] == 2
    assert audit.payload["config"]["model_version"] == 4
    # a rollback brings the removed arms back
    back = deployments.rollback("churn")
    assert (back.model_version, back.canary_version, back.shadow_version) == (1, 2, 3)


def _versions(model_repo: ModelRepository, *sources: str) -> list[int]:
    return [model_repo.create_model_version("churn", source=s).version for s in sources]


def test_models_that_cannot_be_served_are_refused_before_anything_is_written(
    deployments: Deployments,
    settings: Settings,
    db: Database,
    run_repo: RunRepository,
    model_repo: ModelRepository,
    exploding_folder: Path,
    tmp_path: Path,
) -> None:
    no_yaml = tmp_path / "no-yaml"
    shutil.copytree(exploding_folder, no_yaml)
    (no_yaml / "model.yaml").unlink()
    tampered = tmp_path / "tampered"
    shutil.copytree(exploding_folder, tampered)
    changed = next(p for p in tampered.iterdir() if p.name != "model.yaml")
    changed.write_bytes(changed.read_bytes() + b" ")
    model_repo.create_registered_model("other")
    s3, bare, bad = _versions(
        model_repo, "s3://bucket/churn/5", _logged(settings, db, no_yaml),
        _logged(settings, db, tampered),
    )  # fmt: skip
    deployments.create("live", "models:/churn/1")
    before = (len(db.list_audit(limit=10_000)), deployments.list_revisions("live"))
    cases: list[tuple[Callable[[], object], type[CycleMLError], str]] = [
        (lambda: deployments.apply("new", f"models:/churn/{s3}"), NotFound, "not a run"),
        (lambda: deployments.apply("new", f"models:/churn/{bare}"), InvalidInput,
         "not a cycleml model folder"),
        (lambda: deployments.create("new", f"models:/churn/{bad}"), ModelIntegrityError,
         "does not match its model.yaml"),
        (lambda: deployments.apply("live", "models:/churn/1", canary=f"models:/churn/{bad}",
                                   percent=5), ModelIntegrityError, "as the canary model"),
        (lambda: deployments.set_shadow("live", f"models:/churn/{bare}"), InvalidInput,
         "as the shadow model"),
        (lambda: deployments.update("live", model=f"models:/churn/{s3}"), NotFound,
         f"'models:/churn/{s3}'"),
        (lambda: deployments.apply("new", "models:/other@champion"), NotFound, "champion"),
    ]  # fmt: skip
    for call, error, match in cases:
        with pytest.raises(error, match=match) as info:
            call()
        assert "Cannot deploy 'models:/" in info.value.message
        assert "cycleml-check-" not in str(info.value)  # the URI, not a temporary folder
        assert info.value.hint
    assert (len(db.list_audit(limit=10_000)), deployments.list_revisions("live")) == before
    with pytest.raises(NotFound):
        deployments.get("new")
    # the check is internal now; its old public name warns for one release
    with pytest.warns(DeprecationWarning, match="Deployments.check_servable is deprecated"):
        deployments.check_servable("models:/churn/1")
    with (
        pytest.warns(DeprecationWarning, match="check_servable"),
        pytest.raises(InvalidInput, match="as the canary model"),
    ):
        deployments.check_servable(f"models:/churn/{bare}", "canary")


def test_deprecated_revisions_warns_and_still_works(deployments: Deployments) -> None:
    deployments.create("churn", "models:/churn/1")
    deployments.set_canary("churn", "models:/churn/2", 10)
    with pytest.warns(
        DeprecationWarning,
        match=r"Deployments\.revisions is deprecated.*use Deployments\.list_revisions\.",
    ):
        old = deployments.revisions("churn")
    assert old == deployments.list_revisions("churn")
    assert [r.revision for r in old] == [1, 2]


def test_service_on_an_open_store(db: Database, settings: Settings) -> None:
    service = Deployments(settings, store=db)
    assert service.repository.db is db
    service.close()  # does not close a store it was given
    assert service.list() == []


# ---- routing ----------------------------------------------------------------------------------


def _deployment(percent: float | None, canary: bool = True) -> Deployment:
    return Deployment(
        name="d",
        model_uri="models:/m/1",
        model_name="m",
        model_version=1,
        canary_uri="models:/m/2" if canary else None,
        canary_name="m" if canary else None,
        canary_version=2 if canary else None,
        canary_percent=percent,
        shadow_uri=None,
        shadow_name=None,
        shadow_version=None,
        revision=1,
        description="",
        created_by="t",
        creation_time=0,
        last_updated_time=0,
    )


@pytest.mark.parametrize("percent", [1, 10, 37.5, 50, 90])
def test_observed_split_matches_the_percent(percent: float) -> None:
    deployment = _deployment(percent)
    keys = [uuid.uuid4().hex for _ in range(10_000)]
    share = sum(route(deployment, key) == "canary" for key in keys) / len(keys) * 100
    assert abs(share - percent) <= 2


def test_routing_is_sticky() -> None:
    deployment = _deployment(30)
    for key in (uuid.uuid4().hex for _ in range(200)):
        arms = {route(deployment, key) for _ in range(20)}
        assert len(arms) == 1
    # the same key, the same arm, in another process too: the point is a pure function
    assert route_point("customer-42") == route_point("customer-42")
    assert 0 <= route_point("customer-42") < 100


def test_raising_the_percent_never_moves_canary_keys_back() -> None:
    keys = [uuid.uuid4().hex for _ in range(2_000)]
    low, high = _deployment(10), _deployment(40)
    on_canary = {k for k in keys if route(low, k) == "canary"}
    assert on_canary
    assert all(route(high, k) == "canary" for k in on_canary)


def test_edges_of_the_split() -> None:
    keys = [uuid.uuid4().hex for _ in range(500)]
    assert {route(_deployment(0), k) for k in keys} == {"primary"}
    assert {route(_deployment(100), k) for k in keys} == {"canary"}
    assert {route(_deployment(None), k) for k in keys} == {"primary"}
    assert {route(_deployment(50, canary=False), k) for k in keys} == {"primary"}


def test_requests_without_a_key_are_split_at_random() -> None:
    deployment = _deployment(25)
    rng = random.Random(7)
    share = sum(route(deployment, None, rng=rng) == "canary" for _ in range(10_000)) / 100
    assert abs(share - 25) <= 2
    a, b = random.Random(3), random.Random(3)
    assert [route(deployment, None, rng=a) for _ in range(50)] == [
        route(deployment, None, rng=b) for _ in range(50)
    ]
    assert route(replace(deployment, canary_percent=0), None) == "primary"
