"""Deployments, their revisions, the prediction log index and feedback in the metadata store.

Every test runs on SQLite and PostgreSQL, and through a team server on each (the REST
repository; see tests/conftest.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from cycleml.errors import AlreadyExists, InvalidInput, InvalidState, NotFound
from cycleml.registry import ModelRepository
from cycleml.serving import DeploymentRepository
from cycleml.serving._sql_deployments import Deployment
from cycleml.store import Database, now_ms

pytestmark = pytest.mark.repository_suite

TableCounts = Callable[[], dict[str, int]]
DIGEST = "d" * 64


@pytest.fixture
def models(model_repo: ModelRepository) -> None:
    """``churn`` versions 1-4 (``@champion`` -> 1) and ``other`` version 1."""
    model_repo.create_registered_model("churn")
    for i in range(4):
        model_repo.create_model_version("churn", source=f"s3://bucket/churn/{i + 1}")
    model_repo.set_alias("churn", 1, "champion")
    model_repo.create_registered_model("other")
    model_repo.create_model_version("other", source="s3://bucket/other/1")


def _edges(db: Database, name: str) -> set[tuple[str, str, str]]:
    return {
        (e.src_id, e.relation, e.dst_id)
        for e in db.lineage_edges("deployment", name)
        if e.dst_kind == "deployment"
    }


# ---- create, get, list ----------------------------------------------------------------------


def test_create_deployment(
    models: None, db: Database, deployment_repo: DeploymentRepository
) -> None:
    before = now_ms()
    created = deployment_repo.create_deployment(
        "churn-prod",
        "models:/churn@champion",
        canary_uri="models:/churn/2",
        canary_percent=10,
        shadow_uri="models:/churn/3",
        description="the churn service",
    )
    assert created == Deployment(
        name="churn-prod",
        model_uri="models:/churn@champion",
        model_name="churn",
        model_version=1,
        canary_uri="models:/churn/2",
        canary_name="churn",
        canary_version=2,
        canary_percent=10.0,
        shadow_uri="models:/churn/3",
        shadow_name="churn",
        shadow_version=3,
        revision=1,
        description="the churn service",
        created_by="tester",
        creation_time=created.creation_time,
        last_updated_time=created.creation_time,
    )
    assert before <= created.creation_time <= now_ms()
    assert created.model_version_uri == "models:/churn/1"
    assert created.canary_version_uri == "models:/churn/2"
    assert created.shadow_version_uri == "models:/churn/3"
    assert deployment_repo.get_deployment("churn-prod") == created
    assert created.to_dict()["model_uri"] == "models:/churn@champion"

    # audited, with lineage from each model version, and revision 1 in the history
    audit = db.list_audit(entity_kind="deployment", entity_id="churn-prod")
    assert [a.action for a in audit] == ["deployment.create"]
    assert audit[0].actor == "tester"
    assert audit[0].payload["config"]["model_version"] == 1
    assert _edges(db, "churn-prod") == {
        ("churn/1", "deployed_as", "churn-prod"),
        ("churn/2", "canary_of", "churn-prod"),
        ("churn/3", "shadow_of", "churn-prod"),
    }
    graph = db.walk_lineage("model_version", "churn/1", direction="downstream")
    assert ("deployment", "churn-prod") in graph.depth
    [revision] = deployment_repo.list_deployment_revisions("churn-prod")
    assert (revision.revision, revision.action, revision.actor) == (1, "create", "tester")
    assert revision.config == created.config()


def test_minimal_deployment_and_list(
    models: None, db: Database, deployment_repo: DeploymentRepository
) -> None:
    deployment_repo.create_deployment("b", "models:/churn/2")
    deployment_repo.create_deployment("a", "models:/other/latest", actor="alice")
    found = deployment_repo.list_deployments()
    assert [d.name for d in found] == ["a", "b"]
    a = found[0]
    assert (a.model_name, a.model_version, a.created_by) == ("other", 1, "alice")
    assert a.canary_name is a.canary_percent is a.shadow_name is None
    assert a.canary_version_uri is None
    assert a.shadow_version_uri is None
    assert db.list_audit(entity_id="a")[0].actor == "alice"


def test_canary_percent_defaults_to_zero(
    models: None, deployment_repo: DeploymentRepository
) -> None:
    created = deployment_repo.create_deployment(
        "d", "models:/churn/1", canary_uri="models:/churn/2"
    )
    assert created.canary_percent == 0.0


def test_alias_is_resolved_when_deployed(
    models: None, model_repo: ModelRepository, deployment_repo: DeploymentRepository
) -> None:
    deployment_repo.create_deployment("d", "models:/churn@champion")
    model_repo.set_alias("churn", 4, "champion")
    assert deployment_repo.get_deployment("d").model_version == 1  # pinned until the next change
    updated = deployment_repo.update_deployment("d", model_uri="models:/churn@champion")
    assert (updated.model_version, updated.revision) == (4, 2)


def test_duplicate_name(
    models: None, deployment_repo: DeploymentRepository, table_counts: TableCounts
) -> None:
    deployment_repo.create_deployment("d", "models:/churn/1")
    before = table_counts()
    with pytest.raises(AlreadyExists, match="'d'"):
        deployment_repo.create_deployment("d", "models:/churn/2")
    assert table_counts() == before


def test_concurrent_creates_make_one(
    models: None, deployment_repo: DeploymentRepository, race: Callable[..., int]
) -> None:
    refused = race(
        lambda: deployment_repo.create_deployment("race", "models:/churn/1"), AlreadyExists
    )
    assert refused == 3
    assert len(deployment_repo.list_deployment_revisions("race")) == 1


BAD_CREATES: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("", {"model_uri": "models:/churn/1"}, InvalidInput, "deployment name"),
    ("has space", {"model_uri": "models:/churn/1"}, InvalidInput, "deployment name"),
    ("a/b", {"model_uri": "models:/churn/1"}, InvalidInput, "deployment name"),
    ("x" * 201, {"model_uri": "models:/churn/1"}, InvalidInput, "deployment name"),
    ("d", {"model_uri": "models:/nope/1"}, NotFound, "nope"),
    ("d", {"model_uri": "models:/churn/9"}, NotFound, "version 9"),
    ("d", {"model_uri": "models:/churn@nobody"}, NotFound, "nobody"),
    ("d", {"model_uri": "runs:/" + "a" * 32 + "/model"}, InvalidInput, "models:/"),
    ("d", {"model_uri": "churn"}, InvalidInput, "models:/"),
    ("d", {"model_uri": ""}, InvalidInput, "primary model"),
    ("d", {"model_uri": None, "shadow_uri": "models:/churn/2"}, InvalidInput, "primary model"),
    (
        "d",
        {"model_uri": "models:/churn/1", "canary_uri": "models:/churn/9", "canary_percent": 5},
        NotFound,
        "canary",
    ),
    (
        "d",
        {"model_uri": "models:/churn/1", "canary_uri": "models:/churn/2", "canary_percent": 101},
        InvalidInput,
        "0 to 100",
    ),
    (
        "d",
        {"model_uri": "models:/churn/1", "canary_uri": "models:/churn/2", "canary_percent": -1},
        InvalidInput,
        "0 to 100",
    ),
    (
        "d",
        {
            "model_uri": "models:/churn/1",
            "canary_uri": "models:/churn/2",
            "canary_percent": float("nan"),
        },
        InvalidInput,
        "0 to 100",
    ),
    (
        "d",
        {"model_uri": "models:/churn/1", "canary_uri": "models:/churn/2", "canary_percent": "5"},
        InvalidInput,
        "0 to 100",
    ),
    (
        "d",
        {"model_uri": "models:/churn/1", "canary_uri": "models:/churn/2", "canary_percent": True},
        InvalidInput,
        "0 to 100",
    ),
    ("d", {"model_uri": "models:/churn/1", "canary_percent": 10}, InvalidInput, "needs a canary"),
    (
        "d",
        {"model_uri": "models:/churn@champion", "canary_uri": "models:/churn/1"},
        InvalidInput,
        "primary model itself",
    ),
    (
        "d",
        {"model_uri": "models:/churn/1", "shadow_uri": "models:/churn@champion"},
        InvalidInput,
        "shadow",
    ),
    (
        "d",
        {
            "model_uri": "models:/churn/1",
            "canary_uri": "models:/churn/2",
            "shadow_uri": "models:/churn/2",
        },
        InvalidInput,
        "canary model",
    ),
    ("d", {"model_uri": "models:/churn/1", "description": 3}, InvalidInput, "description"),
]


def test_bad_creates_write_nothing(
    models: None,
    deployment_repo: DeploymentRepository,
    table_counts: TableCounts,
    subtests: pytest.Subtests,
) -> None:
    before = table_counts()
    for name, kwargs, error, match in BAD_CREATES:
        args = dict(kwargs)
        model = args.pop("model_uri")
        with subtests.test(name=name, **{k: str(v) for k, v in kwargs.items()}):
            with pytest.raises(error, match=match) as info:
                deployment_repo.create_deployment(name, model, **args)
            assert info.value.hint  # every refusal says what to do
    assert table_counts() == before


def test_unknown_deployment(
    models: None, deployment_repo: DeploymentRepository, table_counts: TableCounts
) -> None:
    before = table_counts()
    calls: list[Callable[[], object]] = [
        lambda: deployment_repo.get_deployment("nope"),
        lambda: deployment_repo.update_deployment("nope", description="x"),
        lambda: deployment_repo.promote_deployment("nope"),
        lambda: deployment_repo.rollback_deployment("nope"),
        lambda: deployment_repo.list_deployment_revisions("nope"),
        lambda: deployment_repo.list_prediction_log_parts("nope"),
        lambda: deployment_repo.add_prediction_log_part(
            "nope", digest=DIGEST, path="p", rows=1, min_time=1, max_time=2, bytes=10
        ),
        lambda: deployment_repo.add_feedback("nope", [("r1", 1, None)]),
        lambda: deployment_repo.list_feedback("nope"),
    ]
    for call in calls:
        with pytest.raises(NotFound, match="No deployment named 'nope'"):
            call()
    assert table_counts() == before


# ---- update, promote, rollback ------------------------------------------------------------


def test_update_keeps_what_is_not_passed(
    models: None, db: Database, model_repo: ModelRepository, deployment_repo: DeploymentRepository
) -> None:
    deployment_repo.create_deployment(
        "d", "models:/churn@champion", canary_uri="models:/churn/2", canary_percent=10
    )
    model_repo.set_alias("churn", 3, "champion")
    updated = deployment_repo.update_deployment("d", shadow_uri="models:/churn/4", reason="try v4")
    assert (updated.model_uri, updated.model_version) == ("models:/churn@champion", 1)
    assert (updated.canary_version, updated.canary_percent) == (2, 10.0)
    assert (updated.shadow_version, updated.revision) == (4, 2)
    assert updated.last_updated_time >= updated.creation_time

    more = deployment_repo.update_deployment("d", canary_percent=50)
    assert (more.canary_version, more.canary_percent, more.revision) == (2, 50.0, 3)
    cleared = deployment_repo.update_deployment("d", canary_uri=None, shadow_uri=None)
    assert cleared.canary_name is cleared.canary_percent is cleared.shadow_name is None
    assert cleared.revision == 4

    history = deployment_repo.list_deployment_revisions("d")
    assert [(r.revision, r.action) for r in history] == [
        (1, "create"),
        (2, "update"),
        (3, "update"),
        (4, "update"),
    ]
    assert history[1].reason == "try v4"
    assert history[1].config["shadow_version"] == 4
    audit = db.list_audit(entity_id="d")
    assert [a.action for a in audit] == ["deployment.create"] + ["deployment.update"] * 3
    assert audit[1].payload["previous"]["shadow_version"] is None
    assert audit[1].payload["config"]["shadow_version"] == 4
    assert ("churn/4", "shadow_of", "d") in _edges(db, "d")


def test_update_without_change_writes_nothing(
    models: None, deployment_repo: DeploymentRepository, table_counts: TableCounts
) -> None:
    deployment_repo.create_deployment("d", "models:/churn/1", description="x")
    before = table_counts()
    same = deployment_repo.update_deployment("d", model_uri="models:/churn/1", description="x")
    assert same.revision == 1
    assert table_counts() == before


def test_replace_creates_then_replaces_the_whole_configuration(
    models: None, db: Database, deployment_repo: DeploymentRepository
) -> None:
    created = deployment_repo.replace_deployment(
        "d", "models:/churn/1", canary_uri="models:/churn/2", canary_percent=5,
        shadow_uri="models:/churn/3", description="churn", reason="first",
    )  # fmt: skip
    assert (created.revision, created.canary_version, created.shadow_version) == (1, 2, 3)
    kept = deployment_repo.replace_deployment("d", "models:/churn/4", shadow_uri="models:/churn/3")
    assert (kept.revision, kept.model_version, kept.canary_name) == (2, 4, None)
    assert (kept.shadow_version, kept.description) == (3, "churn")
    changed = deployment_repo.replace_deployment(
        "d", "models:/churn/4", shadow_uri="models:/churn/3", description=""
    )
    assert (changed.revision, changed.description) == (3, "")
    history = deployment_repo.list_deployment_revisions("d")
    assert [(r.action, r.reason) for r in history] == [
        ("create", "first"), ("replace", ""), ("replace", "")
    ]  # fmt: skip
    audit = db.list_audit(entity_id="d", action="deployment.replace", latest=False)
    assert [a.payload["removed"] for a in audit] == [["canary"], []]
    assert audit[0].payload["previous"]["canary_uri"] == "models:/churn/2"
    assert ("churn/4", "deployed_as", "d") in _edges(db, "d")


def test_replace_without_change_writes_nothing(
    models: None,
    model_repo: ModelRepository,
    deployment_repo: DeploymentRepository,
    table_counts: TableCounts,
) -> None:
    deployment_repo.replace_deployment("d", "models:/churn@champion", canary_uri="models:/churn/2")
    before = table_counts()
    same = deployment_repo.replace_deployment(
        "d", "models:/churn@champion", canary_uri="models:/churn/2"
    )
    assert same.revision == 1
    assert table_counts() == before
    model_repo.set_alias("churn", 3, "champion")  # the alias moved: resolved again, a new revision
    moved = deployment_repo.replace_deployment(
        "d", "models:/churn@champion", canary_uri="models:/churn/2"
    )
    assert (moved.revision, moved.model_version) == (2, 3)


def test_bad_replaces_write_nothing(
    models: None,
    deployment_repo: DeploymentRepository,
    table_counts: TableCounts,
    subtests: pytest.Subtests,
) -> None:
    deployment_repo.create_deployment("d", "models:/churn/1", canary_uri="models:/churn/2")
    before = table_counts()
    for name, kwargs, error, match in BAD_CREATES:
        args = dict(kwargs)
        model = args.pop("model_uri")
        with subtests.test(name=name, **{k: str(v) for k, v in kwargs.items()}):
            with pytest.raises(error, match=match) as info:
                deployment_repo.replace_deployment(name, model, **args)
            assert info.value.hint
    assert table_counts() == before


def test_concurrent_replaces_of_a_new_name(
    models: None, deployment_repo: DeploymentRepository, race: Callable[..., int]
) -> None:
    assert (
        race(lambda: deployment_repo.replace_deployment("race", "models:/churn/1"), Exception) == 0
    )
    assert [r.action for r in deployment_repo.list_deployment_revisions("race")] == ["create"]


def test_duplicate_name_hint_names_a_real_command(
    models: None, deployment_repo: DeploymentRepository
) -> None:
    deployment_repo.create_deployment("d", "models:/churn/1")
    with pytest.raises(AlreadyExists) as info:
        deployment_repo.create_deployment("d", "models:/churn/2")
    assert info.value.hint is not None
    assert "`cycleml deploy d --model URI`" in info.value.hint


def test_new_canary_keeps_the_percent(models: None, deployment_repo: DeploymentRepository) -> None:
    deployment_repo.create_deployment(
        "d", "models:/churn/1", canary_uri="models:/churn/2", canary_percent=5
    )
    assert (
        deployment_repo.update_deployment("d", canary_uri="models:/churn/3").canary_percent == 5.0
    )


def test_bad_updates_write_nothing(
    models: None, deployment_repo: DeploymentRepository, table_counts: TableCounts
) -> None:
    deployment_repo.create_deployment(
        "d", "models:/churn/1", canary_uri="models:/churn/2", canary_percent=5
    )
    before = table_counts()
    with pytest.raises(InvalidInput, match="primary model itself"):
        deployment_repo.update_deployment("d", model_uri="models:/churn/2")
    with pytest.raises(InvalidInput, match="shadow"):
        deployment_repo.update_deployment("d", shadow_uri="models:/churn/2")
    with pytest.raises(InvalidInput, match="0 to 100"):
        deployment_repo.update_deployment("d", canary_percent=200)
    with pytest.raises(InvalidInput, match="needs a canary"):
        deployment_repo.update_deployment("d", canary_uri=None, canary_percent=5)
    with pytest.raises(InvalidInput, match="primary model"):
        deployment_repo.update_deployment("d", model_uri=None)  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="churn/9"):
        deployment_repo.update_deployment("d", model_uri="models:/churn/9")
    assert table_counts() == before


def test_promote(models: None, db: Database, deployment_repo: DeploymentRepository) -> None:
    deployment_repo.create_deployment(
        "d",
        "models:/churn@champion",
        canary_uri="models:/churn/2",
        canary_percent=10,
        shadow_uri="models:/churn/3",
    )
    promoted = deployment_repo.promote_deployment("d", reason="canary looks good", actor="bob")
    assert (promoted.model_uri, promoted.model_name, promoted.model_version) == (
        "models:/churn/2",
        "churn",
        2,
    )
    assert promoted.canary_name is promoted.canary_uri is promoted.canary_percent is None
    assert (promoted.shadow_version, promoted.revision) == (3, 2)
    last = deployment_repo.list_deployment_revisions("d")[-1]
    assert (last.action, last.actor, last.reason) == ("promote", "bob", "canary looks good")
    audit = db.list_audit(entity_id="d", action="deployment.promote")
    assert audit[0].actor == "bob"
    assert ("churn/2", "deployed_as", "d") in _edges(db, "d")


def test_promote_without_canary(
    models: None, deployment_repo: DeploymentRepository, table_counts: TableCounts
) -> None:
    deployment_repo.create_deployment("d", "models:/churn/1")
    before = table_counts()
    with pytest.raises(InvalidState, match="no canary") as info:
        deployment_repo.promote_deployment("d")
    assert info.value.hint
    assert table_counts() == before


def test_rollback_walks_back(
    models: None, db: Database, deployment_repo: DeploymentRepository
) -> None:
    deployment_repo.create_deployment("d", "models:/churn/1")  # r1
    deployment_repo.update_deployment("d", model_uri="models:/churn/2")  # r2
    deployment_repo.update_deployment("d", model_uri="models:/churn/3")  # r3

    first = deployment_repo.rollback_deployment("d", reason="v3 is bad")  # r4 = r2's config
    assert (first.model_version, first.revision) == (2, 4)
    second = deployment_repo.rollback_deployment("d")  # r5 = r1's config (not back to v3)
    assert (second.model_version, second.revision) == (1, 5)
    history = deployment_repo.list_deployment_revisions("d")
    assert [(r.action, r.restored_revision) for r in history[3:]] == [
        ("rollback", 2),
        ("rollback", 1),
    ]
    assert history[3].reason == "v3 is bad"
    assert [a.action for a in db.list_audit(entity_id="d")][-2:] == [
        "deployment.rollback",
        "deployment.rollback",
    ]


def test_rollback_after_promote_restores_the_canary(
    models: None, deployment_repo: DeploymentRepository
) -> None:
    deployment_repo.create_deployment(
        "d", "models:/churn/1", canary_uri="models:/churn/2", canary_percent=25
    )
    deployment_repo.promote_deployment("d")
    back = deployment_repo.rollback_deployment("d")
    assert (back.model_version, back.canary_version, back.canary_percent) == (1, 2, 25.0)
    assert back.revision == 3


def test_rollback_to_a_revision(
    models: None, deployment_repo: DeploymentRepository, table_counts: TableCounts
) -> None:
    deployment_repo.create_deployment("d", "models:/churn/1")
    for version in (2, 3, 4):
        deployment_repo.update_deployment("d", model_uri=f"models:/churn/{version}")
    back = deployment_repo.rollback_deployment("d", to_revision=2)
    assert (back.model_version, back.revision) == (2, 5)
    # and the next plain rollback goes to what was before revision 2
    assert deployment_repo.rollback_deployment("d").model_version == 1

    before = table_counts()
    with pytest.raises(NotFound, match="no revision 42"):
        deployment_repo.rollback_deployment("d", to_revision=42)
    with pytest.raises(InvalidInput, match="current revision"):
        deployment_repo.rollback_deployment("d", to_revision=6)
    with pytest.raises(InvalidInput, match="positive integer"):
        deployment_repo.rollback_deployment("d", to_revision=0)
    assert table_counts() == before


def test_rollback_without_history(
    models: None, deployment_repo: DeploymentRepository, table_counts: TableCounts
) -> None:
    deployment_repo.create_deployment("d", "models:/churn/1")
    before = table_counts()
    with pytest.raises(InvalidState, match="no earlier configuration"):
        deployment_repo.rollback_deployment("d")
    assert table_counts() == before
    deployment_repo.update_deployment("d", model_uri="models:/churn/2")
    deployment_repo.rollback_deployment("d")
    with pytest.raises(InvalidState, match="no earlier configuration"):
        deployment_repo.rollback_deployment("d")


def test_concurrent_updates_get_distinct_revisions(
    models: None, deployment_repo: DeploymentRepository
) -> None:
    deployment_repo.create_deployment("d", "models:/churn/1", canary_uri="models:/churn/2")
    failures: list[BaseException] = []

    def bump(percent: int) -> None:
        try:
            deployment_repo.update_deployment("d", canary_percent=percent)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=bump, args=(p,)) for p in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    revisions = [r.revision for r in deployment_repo.list_deployment_revisions("d")]
    assert revisions == list(range(1, 10))
    assert deployment_repo.get_deployment("d").revision == 9


# ---- prediction log index -----------------------------------------------------------------


def test_prediction_log_parts(
    models: None, db: Database, deployment_repo: DeploymentRepository
) -> None:
    deployment_repo.create_deployment("d", "models:/churn/1")
    a = deployment_repo.add_prediction_log_part(
        "d",
        digest=DIGEST,
        path="predictions/d/part-a.parquet",
        rows=10,
        min_time=1_000,
        max_time=2_000,
        model_versions=["churn/1", "churn/1", "churn/2"],
        bytes=123,
    )
    assert (a.deployment, a.rows, a.bytes, a.model_versions) == (
        "d",
        10,
        123,
        ("churn/1", "churn/2"),
    )
    assert len(a.id) == 32
    b = deployment_repo.add_prediction_log_part(
        "d", digest="e" * 64, path="p2", rows=5, min_time=3_000, max_time=4_000, bytes=1
    )
    assert [p.id for p in deployment_repo.list_prediction_log_parts("d")] == [a.id, b.id]
    assert deployment_repo.list_prediction_log_parts("d")[0] == a
    # windows: parts overlapping [since, until)
    assert [p.id for p in deployment_repo.list_prediction_log_parts("d", since_ms=2_000)] == [
        a.id,
        b.id,
    ]
    assert [p.id for p in deployment_repo.list_prediction_log_parts("d", since_ms=2_001)] == [b.id]
    assert [p.id for p in deployment_repo.list_prediction_log_parts("d", until_ms=3_000)] == [a.id]
    assert deployment_repo.list_prediction_log_parts("d", since_ms=5_000) == []
    # lineage deployment -> prediction log, and audit
    graph = db.walk_lineage("model_version", "churn/1", direction="downstream")
    assert ("prediction_log", a.id) in graph.depth
    audit = db.list_audit(entity_id="d", action="deployment.log_predictions")
    assert [r.payload["part"] for r in audit] == [a.id, b.id]


def test_prediction_log_part_is_idempotent(
    models: None, deployment_repo: DeploymentRepository, table_counts: TableCounts
) -> None:
    deployment_repo.create_deployment("d", "models:/churn/1")
    part_id = "f" * 32
    kwargs: dict[str, Any] = {
        "digest": DIGEST,
        "path": "p",
        "rows": 3,
        "min_time": 1,
        "max_time": 2,
        "bytes": 9,
        "part_id": part_id,
    }
    first = deployment_repo.add_prediction_log_part("d", **kwargs)
    before = table_counts()
    again = deployment_repo.add_prediction_log_part("d", **kwargs)
    assert again == first
    assert table_counts() == before


def test_bad_prediction_log_parts(
    models: None, deployment_repo: DeploymentRepository, table_counts: TableCounts
) -> None:
    deployment_repo.create_deployment("d", "models:/churn/1")
    good: dict[str, Any] = {
        "digest": DIGEST,
        "path": "p",
        "rows": 3,
        "min_time": 1,
        "max_time": 2,
        "bytes": 9,
    }
    before = table_counts()
    for change in (
        {"digest": "xyz"},
        {"rows": 0},
        {"rows": -1},
        {"max_time": 0},
        {"min_time": "1"},
        {"bytes": None},
        {"part_id": "not-an-id"},
    ):
        with pytest.raises(InvalidInput):
            deployment_repo.add_prediction_log_part("d", **{**good, **change})
    assert table_counts() == before


# ---- feedback -------------------------------------------------------------------------------


def test_feedback(models: None, db: Database, deployment_repo: DeploymentRepository) -> None:
    deployment_repo.create_deployment("d", "models:/churn/1")
    before = now_ms()
    count = deployment_repo.add_feedback(
        "d",
        [("r1", 1, 1_000), ("r2", {"class": "a", "score": 0.5}, None), ("r1", 0, 2_000)],
        actor="labeler",
    )
    assert count == 3
    rows = deployment_repo.list_feedback("d")
    assert [(r.request_id, r.label, r.time) for r in rows][:2] == [
        ("r1", 1, 1_000),
        ("r1", 0, 2_000),
    ]
    assert rows[2].request_id == "r2"
    assert rows[2].label == {"class": "a", "score": 0.5}
    assert before <= rows[2].time <= now_ms()
    assert {r.actor for r in rows} == {"labeler"}
    assert [r.request_id for r in deployment_repo.list_feedback("d", since_ms=1_500)] == [
        "r1",
        "r2",
    ]
    [audit] = db.list_audit(entity_id="d", action="deployment.add_feedback")
    assert (audit.actor, audit.payload["rows"]) == ("labeler", 3)


def test_bad_feedback_writes_nothing(
    models: None, deployment_repo: DeploymentRepository, table_counts: TableCounts
) -> None:
    deployment_repo.create_deployment("d", "models:/churn/1")
    before = table_counts()
    bad_batches: list[Any] = [
        [],
        [("r1", 1, None), ("", 1, None)],
        [("r1", 1, None), (None, 1, None)],
        [("r1", None, None)],
        [("r1", 1, "yesterday")],
        [("r1", 1)],
        [("r1", object(), None)],
        [("x" * 300, 1, None)],
    ]
    for batch in bad_batches:
        with pytest.raises(InvalidInput):
            deployment_repo.add_feedback("d", batch)
    assert table_counts() == before


def test_feedback_non_finite_labels_are_stored(
    models: None, deployment_repo: DeploymentRepository
) -> None:
    deployment_repo.create_deployment("d", "models:/churn/1")
    deployment_repo.add_feedback("d", [("r1", float("nan"), 1), ("r2", float("inf"), 2)])
    assert [r.label for r in deployment_repo.list_feedback("d")] == ["NaN", "Infinity"]


def test_bulk_feedback_is_one_batch(
    models: None, db: Database, deployment_repo: DeploymentRepository
) -> None:
    deployment_repo.create_deployment("d", "models:/churn/1")
    records = [(f"r{i}", i % 2, i) for i in range(5_000)]
    assert deployment_repo.add_feedback("d", records) == 5_000
    assert len(deployment_repo.list_feedback("d")) == 5_000
    assert len(db.list_audit(entity_id="d", action="deployment.add_feedback")) == 1


# ---- batch scoring ----------------------------------------------------------------------------


def test_record_batch_prediction(
    models: None, db: Database, deployment_repo: DeploymentRepository, table_counts: TableCounts
) -> None:
    batch = "b" * 32
    deployment_repo.record_batch_prediction(
        batch,
        model_name="churn",
        model_version=2,
        model_uri="models:/churn/2",
        inputs=[("dataset_version", "customers/3")],
        output="/data/scored.parquet",
        rows=100,
        digest=DIGEST,
        actor="batch",
    )
    graph = db.walk_lineage("dataset_version", "customers/3", direction="downstream")
    assert ("batch_prediction", batch) in graph.depth
    assert ("file", "/data/scored.parquet") in graph.depth
    assert {(e.src_id, e.relation) for e in db.lineage_edges("batch_prediction", batch)} == {
        ("customers/3", "input_to"),
        ("churn/2", "scored"),
        (batch, "produced"),
    }
    [audit] = db.list_audit(entity_kind="batch_prediction")
    assert (audit.action, audit.actor, audit.payload["rows"]) == (
        "batch_prediction.create",
        "batch",
        100,
    )

    before = table_counts()
    for bad in ({"batch_id": "nope"}, {"output": "x" * 300}):
        kwargs: dict[str, Any] = {
            "batch_id": batch,
            "model_name": None,
            "model_version": None,
            "model_uri": "models:/churn/2",
            "inputs": [],
            "output": "out.parquet",
            "rows": 1,
            "digest": DIGEST,
            **bad,
        }
        with pytest.raises(InvalidInput):
            deployment_repo.record_batch_prediction(kwargs.pop("batch_id"), **kwargs)
    assert table_counts() == before
