"""Registered models, versions, aliases and stage transitions: every backend (SQL, and REST
through a team server on the same database) runs these tests."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from cycleml.errors import AlreadyExists, InvalidInput, InvalidState, NotFound
from cycleml.registry import ModelRepository, SqlModelRepository
from cycleml.registry._entities import Stage
from cycleml.store import Database, now_ms
from cycleml.tracking._entities import Run

TableCounts = Callable[[], dict[str, int]]

pytestmark = pytest.mark.repository_suite


def _source(run: Run) -> str:
    return f"runs:/{run.run_id}/model"


# ---- registered models ----------------------------------------------------------------------


def test_create_registered_model(model_repo: ModelRepository) -> None:
    before = now_ms()
    model = model_repo.create_registered_model("churn", description="d", tags={"team": "x", "n": 1})
    assert model.name == "churn"
    assert model.description == "d"
    assert model.tags == {"team": "x", "n": "1"}
    assert model.aliases == {}
    assert model.latest_version is None
    assert before <= model.creation_time == model.last_updated_time <= now_ms()
    assert model_repo.get_registered_model("churn") == model


def test_duplicate_model_name(model_repo: ModelRepository, table_counts: TableCounts) -> None:
    model_repo.create_registered_model("churn")
    before = table_counts()
    with pytest.raises(AlreadyExists, match="churn"):
        model_repo.create_registered_model("churn", tags={"a": "b"})
    assert table_counts() == before


def test_list_registered_models(model_repo: ModelRepository) -> None:
    for name in ("b-model", "a.model", "C_model"):
        model_repo.create_registered_model(name)
    assert [m.name for m in model_repo.list_registered_models()] == [
        "C_model",
        "a.model",
        "b-model",
    ]


BAD_NAMES = [
    "",
    " churn",
    "churn ",
    "-churn",
    ".hidden",
    "_x",
    "has space",
    "a/b",
    "a@b",
    "churn\n",
    "x" * 246,  # "<name>/<version>" must fit the 256-character entity id columns
    None,
    7,
]


def test_bad_model_names(
    model_repo: ModelRepository, table_counts: TableCounts, subtests: pytest.Subtests
) -> None:
    before = table_counts()
    for name in BAD_NAMES:
        with subtests.test(name=name), pytest.raises(InvalidInput, match="model name"):
            model_repo.create_registered_model(name)  # type: ignore[arg-type]
    assert table_counts() == before


def test_longest_model_name_gets_versions(
    db: Database, model_repo: ModelRepository, run: Run
) -> None:
    name = "m" * 245
    model_repo.create_registered_model(name)
    version = model_repo.create_model_version(name, source=_source(run), run_id=run.run_id)
    assert version.version == 1
    assert db.list_audit(entity_id=f"{name}/1")[0].action == "model_version.create"


def test_unknown_model(model_repo: ModelRepository, run: Run, table_counts: TableCounts) -> None:
    before = table_counts()
    with pytest.raises(NotFound, match="nope"):
        model_repo.get_registered_model("nope")
    with pytest.raises(NotFound, match="nope"):
        model_repo.create_model_version("nope", source=_source(run), run_id=run.run_id)
    with pytest.raises(NotFound, match="nope"):
        model_repo.get_model_version("nope", 1)
    with pytest.raises(NotFound, match="nope"):
        model_repo.list_model_versions("nope")
    with pytest.raises(NotFound, match="nope"):
        model_repo.set_alias("nope", 1, "champion")
    with pytest.raises(NotFound, match="nope"):
        model_repo.transition_stage("nope", 1, to_stage="Staging")
    assert table_counts() == before


# ---- versions -------------------------------------------------------------------------------


def test_versions_increment(model_repo: ModelRepository, run: Run) -> None:
    model_repo.create_registered_model("churn")
    model_repo.create_registered_model("other")
    numbers = [
        model_repo.create_model_version("churn", source=_source(run), run_id=run.run_id).version
        for _ in range(3)
    ]
    assert numbers == [1, 2, 3]
    assert model_repo.create_model_version("other", source="s3://b/m").version == 1
    assert model_repo.get_registered_model("churn").latest_version == 3
    assert [v.version for v in model_repo.list_model_versions("churn")] == [1, 2, 3]


def test_model_version_fields(model_repo: ModelRepository, run: Run) -> None:
    model_repo.create_registered_model("churn")
    before = now_ms()
    version = model_repo.create_model_version(
        "churn",
        source=_source(run),
        run_id=run.run_id,
        metrics={"auc": 0.91, "n": 3},
        description="first",
        tags={"framework": "sklearn"},
        signature={"inputs": [{"name": "x", "type": "double"}]},
    )
    assert version.name == "churn"
    assert version.version == 1
    assert len(version.model_version_id) == 32
    assert version.run_id == run.run_id
    assert version.source == _source(run)
    assert version.current_stage == "None"
    assert version.description == "first"
    assert version.metrics == {"auc": 0.91, "n": 3.0}
    assert version.signature == {"inputs": [{"name": "x", "type": "double"}]}
    assert version.user_id == "tester"
    assert version.tags == {"framework": "sklearn"}
    assert version.aliases == ()
    assert version.uri == "models:/churn/1"
    assert before <= version.creation_time <= now_ms()
    assert model_repo.get_model_version("churn", "1") == version
    assert model_repo.get_registered_model("churn").last_updated_time >= version.creation_time


def test_metrics_snapshot_is_a_copy(model_repo: ModelRepository, run: Run) -> None:
    """The version keeps the metrics it was registered with, whatever the run logs later."""
    model_repo.create_registered_model("churn")
    metrics = {"auc": 0.5}
    model_repo.create_model_version(
        "churn", source=_source(run), run_id=run.run_id, metrics=metrics
    )
    metrics["auc"] = 0.99
    assert model_repo.get_model_version("churn", 1).metrics == {"auc": 0.5}


def test_metrics_snapshot_keeps_nan_and_infinities(model_repo: ModelRepository, run: Run) -> None:
    """A run whose metric is NaN can still be registered (PostgreSQL's JSON has no NaN)."""
    model_repo.create_registered_model("churn")
    snapshot = {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "ok": 1.5}
    model_repo.create_model_version(
        "churn", source=_source(run), run_id=run.run_id, metrics=snapshot
    )
    stored = model_repo.get_model_version("churn", 1).metrics
    assert math.isnan(stored["nan"])
    assert stored["inf"] == math.inf
    assert stored["ninf"] == -math.inf
    assert stored["ok"] == 1.5


def test_bad_version_input_writes_nothing(
    model_repo: ModelRepository, run: Run, table_counts: TableCounts
) -> None:
    model_repo.create_registered_model("churn")
    before = table_counts()
    with pytest.raises(InvalidInput, match="metric 'auc'"):
        model_repo.create_model_version("churn", source=_source(run), metrics={"auc": "high"})
    with pytest.raises(InvalidInput, match="tag key"):
        model_repo.create_model_version("churn", source=_source(run), tags={"bad key!": "v"})
    with pytest.raises(InvalidInput, match="tag key"):
        model_repo.create_registered_model("other", tags={"k" * 251: "v"})
    assert table_counts() == before


def test_bad_version_numbers(
    model_repo: ModelRepository, run: Run, subtests: pytest.Subtests
) -> None:
    model_repo.create_registered_model("churn")
    model_repo.create_model_version("churn", source=_source(run))
    for version in [0, -1, "0", "abc", "", 2.5, True, None]:
        with subtests.test(version=version), pytest.raises(InvalidInput, match="version"):
            model_repo.get_model_version("churn", version)  # type: ignore[arg-type]


def test_unknown_version(model_repo: ModelRepository, run: Run) -> None:
    model_repo.create_registered_model("churn")
    model_repo.create_model_version("churn", source=_source(run))
    assert model_repo.get_model_version("churn", 1.0).version == 1
    with pytest.raises(NotFound, match="no version 2"):
        model_repo.get_model_version("churn", 2)


# ---- aliases --------------------------------------------------------------------------------


@pytest.fixture
def three_versions(model_repo: ModelRepository, run: Run) -> str:
    model_repo.create_registered_model("churn")
    for _ in range(3):
        model_repo.create_model_version("churn", source=_source(run), run_id=run.run_id)
    return "churn"


def test_set_move_and_delete_alias(model_repo: ModelRepository, three_versions: str) -> None:
    tagged = model_repo.set_alias("churn", 1, "champion")
    assert tagged.version == 1
    assert tagged.aliases == ("champion",)
    model_repo.set_alias("churn", "2", "challenger")
    assert model_repo.get_registered_model("churn").aliases == {"champion": 1, "challenger": 2}
    assert model_repo.get_version_by_alias("churn", "champion").version == 1

    moved = model_repo.set_alias("churn", 3, "champion")  # move
    assert moved.aliases == ("champion",)
    assert model_repo.get_model_version("churn", 1).aliases == ()
    assert model_repo.get_version_by_alias("churn", "champion").version == 3
    assert model_repo.get_registered_model("churn").aliases == {"champion": 3, "challenger": 2}

    model_repo.set_alias("churn", 3, "a_first")
    assert model_repo.get_model_version("churn", 3).aliases == ("a_first", "champion")

    model_repo.delete_alias("churn", "champion")
    with pytest.raises(NotFound, match="champion"):
        model_repo.get_version_by_alias("churn", "champion")
    with pytest.raises(NotFound, match="champion"):
        model_repo.delete_alias("churn", "champion")
    assert model_repo.get_registered_model("churn").aliases == {"challenger": 2, "a_first": 3}


def test_alias_errors_write_nothing(
    model_repo: ModelRepository, three_versions: str, table_counts: TableCounts
) -> None:
    model_repo.set_alias("churn", 1, "champion")
    before = table_counts()
    with pytest.raises(NotFound, match="no version 9"):
        model_repo.set_alias("churn", 9, "champion")
    with pytest.raises(NotFound):
        model_repo.get_version_by_alias("churn", "unknown")
    assert table_counts() == before
    assert model_repo.get_version_by_alias("churn", "champion").version == 1


def test_bad_aliases(
    model_repo: ModelRepository,
    three_versions: str,
    table_counts: TableCounts,
    subtests: pytest.Subtests,
) -> None:
    before = table_counts()
    for alias in ["", "latest", "LATEST", "3", "1abc", "-x", "a b", "a/b", "a@b", "champ\n", None]:
        with subtests.test(alias=alias), pytest.raises(InvalidInput, match="alias"):
            model_repo.set_alias("churn", 1, alias)  # type: ignore[arg-type]
    assert table_counts() == before


# ---- stages ---------------------------------------------------------------------------------


def test_transition_stage_records_history(model_repo: ModelRepository, three_versions: str) -> None:
    before = now_ms()
    staged = model_repo.transition_stage("churn", 1, to_stage="Staging", reason="passed tests")
    assert staged.current_stage == "Staging"
    prod = model_repo.transition_stage(
        "churn", 1, to_stage="production", reason="gate override", forced=True
    )
    assert prod.current_stage == Stage.PRODUCTION
    assert model_repo.get_model_version("churn", 1).current_stage == "Production"
    assert model_repo.get_model_version("churn", 2).current_stage == "None"

    history = model_repo.get_stage_history("churn", 1)
    assert [(h.from_stage, h.to_stage, h.reason, h.forced) for h in history] == [
        ("None", "Staging", "passed tests", False),
        ("Staging", "Production", "gate override", True),
    ]
    assert all(h.actor == "tester" and h.name == "churn" and h.version == 1 for h in history)
    assert before <= history[0].time <= history[1].time <= now_ms()
    assert model_repo.get_stage_history("churn", 2) == []


def test_transition_actor_is_the_stores(
    model_repo: ModelRepository, three_versions: str, metadata_uri: str
) -> None:
    with Database(metadata_uri, actor="alice") as alice:
        SqlModelRepository(alice).transition_stage("churn", 2, to_stage="Archived", reason="old")
    (entry,) = model_repo.get_stage_history("churn", 2)
    assert entry.actor == "alice"
    assert entry.to_stage == "Archived"


def test_archive_existing(db: Database, model_repo: ModelRepository, three_versions: str) -> None:
    model_repo.transition_stage("churn", 1, to_stage="Production")
    model_repo.transition_stage("churn", 2, to_stage="Production")  # without archiving: both
    stages = {v.version: v.current_stage for v in model_repo.list_model_versions("churn")}
    assert stages == {1: "Production", 2: "Production", 3: "None"}

    model_repo.transition_stage("churn", 3, to_stage="Production", archive_existing=True)
    stages = {v.version: v.current_stage for v in model_repo.list_model_versions("churn")}
    assert stages == {1: "Archived", 2: "Archived", 3: "Production"}
    last = model_repo.get_stage_history("churn", 1)[-1]
    assert (last.from_stage, last.to_stage, last.forced) == ("Production", "Archived", False)
    assert "version 3" in last.reason
    (audit,) = db.list_audit(action="model_version.transition", entity_id="churn/3")
    assert sorted(audit.payload["archived"]) == [1, 2]


def test_archive_existing_only_touches_the_target_stage(
    model_repo: ModelRepository, three_versions: str
) -> None:
    model_repo.transition_stage("churn", 1, to_stage="Staging")
    model_repo.transition_stage("churn", 2, to_stage="Production", archive_existing=True)
    assert model_repo.get_model_version("churn", 1).current_stage == "Staging"
    # Archiving into Archived never archives the others.
    model_repo.transition_stage("churn", 3, to_stage="Archived", archive_existing=True)
    assert model_repo.get_model_version("churn", 2).current_stage == "Production"


def test_same_stage_transition_is_refused(
    model_repo: ModelRepository, three_versions: str, table_counts: TableCounts
) -> None:
    model_repo.transition_stage("churn", 1, to_stage="Staging")
    before = table_counts()
    with pytest.raises(InvalidState, match="already in stage Staging"):
        model_repo.transition_stage("churn", 1, to_stage="staging")
    with pytest.raises(InvalidState, match="already in stage None"):
        model_repo.transition_stage("churn", 2, to_stage="None")
    assert table_counts() == before


def test_bad_stage(
    model_repo: ModelRepository,
    three_versions: str,
    table_counts: TableCounts,
    subtests: pytest.Subtests,
) -> None:
    before = table_counts()
    for stage in ["Deployed", "", "prod", None, "Production "]:
        with subtests.test(stage=stage), pytest.raises(InvalidInput, match="stage"):
            model_repo.transition_stage("churn", 1, to_stage=stage)  # type: ignore[arg-type]
    assert table_counts() == before


def test_transition_unknown_version(
    model_repo: ModelRepository, three_versions: str, table_counts: TableCounts
) -> None:
    before = table_counts()
    with pytest.raises(NotFound):
        model_repo.transition_stage("churn", 4, to_stage="Staging")
    with pytest.raises(InvalidInput):
        model_repo.transition_stage("churn", 0, to_stage="Staging")
    assert table_counts() == before


# ---- tags -----------------------------------------------------------------------------------


def test_model_tags_set_overwrite_and_delete(db: Database, model_repo: ModelRepository) -> None:
    model_repo.create_registered_model("churn", tags={"team": "growth"})
    created = model_repo.get_registered_model("churn").last_updated_time
    model_repo.set_registered_model_tag("churn", "owner", "ann")
    model_repo.set_registered_model_tag("churn", "team", "risk")  # overwrites
    model_repo.set_registered_model_tag("churn", "model/depth", 3)  # type: ignore[arg-type]
    model = model_repo.get_registered_model("churn")
    assert model.tags == {"team": "risk", "owner": "ann", "model/depth": "3"}
    assert model.last_updated_time >= created
    model_repo.delete_registered_model_tag("churn", "team")
    assert model_repo.get_registered_model("churn").tags == {"owner": "ann", "model/depth": "3"}
    with pytest.raises(NotFound, match="no tag 'team'"):
        model_repo.delete_registered_model_tag("churn", "team")
    actions = [a.action for a in db.list_audit(entity_kind="model", entity_id="churn")]
    assert actions == ["model.create"] + ["model.set_tag"] * 3 + ["model.delete_tag"]


def test_version_tags_set_overwrite_and_delete(
    db: Database, model_repo: ModelRepository, three_versions: str
) -> None:
    model_repo.set_model_version_tag("churn", 2, "framework", "sklearn")
    model_repo.set_model_version_tag("churn", "2", "framework", "xgboost")
    model_repo.set_model_version_tag("churn", 2, "a.b/c", "d")
    assert model_repo.get_model_version("churn", 2).tags == {"framework": "xgboost", "a.b/c": "d"}
    assert model_repo.get_model_version("churn", 1).tags == {}
    model_repo.delete_model_version_tag("churn", 2, "a.b/c")
    assert model_repo.get_model_version("churn", 2).tags == {"framework": "xgboost"}
    with pytest.raises(NotFound, match=r"version 2 has no tag 'a\.b/c'"):
        model_repo.delete_model_version_tag("churn", 2, "a.b/c")
    with pytest.raises(NotFound, match="no tag 'framework'"):
        model_repo.delete_model_version_tag("churn", 1, "framework")
    actions = [a.action for a in db.list_audit(entity_id="churn/2")]
    assert actions == ["model_version.create"] + ["model_version.set_tag"] * 3 + [
        "model_version.delete_tag"
    ]


def test_tag_errors_write_nothing(
    model_repo: ModelRepository, three_versions: str, table_counts: TableCounts
) -> None:
    before = table_counts()
    for key in ["", "bad key!", "k" * 251, "../up", None]:
        with pytest.raises(InvalidInput, match="tag key"):
            model_repo.set_registered_model_tag("churn", key, "v")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="tag key"):
            model_repo.set_model_version_tag("churn", 1, key, "v")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="tag key"):
            model_repo.delete_registered_model_tag("churn", key)  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="nope"):
        model_repo.set_registered_model_tag("nope", "k", "v")
    with pytest.raises(NotFound, match="no version 9"):
        model_repo.set_model_version_tag("churn", 9, "k", "v")
    with pytest.raises(InvalidInput, match="version"):
        model_repo.set_model_version_tag("churn", 0, "k", "v")
    with pytest.raises(NotFound, match="no version 9"):
        model_repo.delete_model_version_tag("churn", 9, "k")
    assert table_counts() == before


# ---- descriptions ---------------------------------------------------------------------------


def test_update_descriptions(
    db: Database, model_repo: ModelRepository, three_versions: str
) -> None:
    before = model_repo.get_registered_model("churn")
    model = model_repo.update_registered_model("churn", description="churn of paying users")
    assert model.description == "churn of paying users"
    assert model.last_updated_time >= before.last_updated_time
    assert model == model_repo.get_registered_model("churn")
    version = model_repo.update_model_version("churn", 2, description="retrained")
    assert version.description == "retrained"
    assert version == model_repo.get_model_version("churn", 2)
    assert model_repo.get_model_version("churn", 1).description == ""
    assert db.list_audit(action="model.update")[0].payload == {
        "description": "churn of paying users"
    }
    assert db.list_audit(action="model_version.update")[0].entity_id == "churn/2"


def test_bad_updates_write_nothing(
    model_repo: ModelRepository, three_versions: str, table_counts: TableCounts
) -> None:
    before = table_counts()
    with pytest.raises(InvalidInput, match="description"):
        model_repo.update_registered_model("churn", description=7)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="description"):
        model_repo.update_model_version("churn", 1, description=None)  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="nope"):
        model_repo.update_registered_model("nope", description="x")
    with pytest.raises(NotFound, match="no version 4"):
        model_repo.update_model_version("churn", 4, description="x")
    assert table_counts() == before


# ---- renames --------------------------------------------------------------------------------


def test_rename_moves_everything(
    db: Database, model_repo: ModelRepository, three_versions: str, run: Run
) -> None:
    model_repo.update_registered_model("churn", description="d")
    model_repo.set_registered_model_tag("churn", "team", "growth")
    model_repo.set_model_version_tag("churn", 2, "framework", "sklearn")
    model_repo.set_alias("churn", 2, "champion")
    model_repo.transition_stage("churn", 2, to_stage="Staging", reason="ok")
    old = model_repo.get_registered_model("churn")

    renamed = model_repo.rename_registered_model("churn", "churn-v2")
    assert renamed.name == "churn-v2"
    assert (renamed.description, renamed.creation_time) == ("d", old.creation_time)
    assert (renamed.tags, renamed.aliases, renamed.latest_version) == (
        {"team": "growth"},
        {"champion": 2},
        3,
    )
    assert renamed == model_repo.get_registered_model("churn-v2")
    assert [m.name for m in model_repo.list_registered_models()] == ["churn-v2"]
    with pytest.raises(NotFound, match="churn"):
        model_repo.get_registered_model("churn")
    with pytest.raises(NotFound, match="churn"):
        model_repo.list_model_versions("churn")
    version = model_repo.resolve_model_uri("models:/churn-v2@champion")
    assert (version.name, version.version, version.current_stage) == ("churn-v2", 2, "Staging")
    assert version.tags == {"framework": "sklearn"}
    history = model_repo.get_stage_history("churn-v2", 2)
    assert [(h.name, h.to_stage, h.reason) for h in history] == [("churn-v2", "Staging", "ok")]
    assert model_repo.create_model_version("churn-v2", source=_source(run)).version == 4

    # Audit rows stay where they were written; the rename is recorded under both names.
    (under_old,) = db.list_audit(action="model.rename", entity_id="churn")
    (under_new,) = db.list_audit(action="model.rename", entity_id="churn-v2")
    renamed_payload = {"from": "churn", "to": "churn-v2", "versions": [1, 2, 3]}
    assert under_old.payload == under_new.payload == renamed_payload
    assert db.list_audit(entity_id="churn/2")[0].action == "model_version.create"
    # Lineage of a moved version still leads to its run.
    graph = db.walk_lineage("model_version", "churn-v2/2", direction="upstream")
    assert ("model_version", "churn/2") in graph.depth
    assert ("run", run.run_id) in graph.depth


def test_a_renamed_name_can_be_used_again(model_repo: ModelRepository, three_versions: str) -> None:
    model_repo.rename_registered_model("churn", "churn-v2")
    model_repo.create_registered_model("churn")
    assert model_repo.get_registered_model("churn").latest_version is None
    assert model_repo.get_registered_model("churn-v2").latest_version == 3


def test_bad_renames_write_nothing(
    model_repo: ModelRepository, three_versions: str, table_counts: TableCounts
) -> None:
    model_repo.create_registered_model("other")
    model_repo.create_registered_model("gone")
    model_repo.delete_registered_model("gone")
    before = table_counts()
    with pytest.raises(AlreadyExists, match="'other' already exists"):
        model_repo.rename_registered_model("churn", "other")
    with pytest.raises(AlreadyExists, match="already exists"):
        model_repo.rename_registered_model("churn", "churn")
    with pytest.raises(AlreadyExists, match="deleted model"):
        model_repo.rename_registered_model("churn", "gone")
    with pytest.raises(NotFound, match="nope"):
        model_repo.rename_registered_model("nope", "fresh")
    with pytest.raises(NotFound, match="gone"):
        model_repo.rename_registered_model("gone", "fresh")
    for bad in ["a b", "", "x" * 246, None]:
        with pytest.raises(InvalidInput, match="model name"):
            model_repo.rename_registered_model("churn", bad)  # type: ignore[arg-type]
    assert table_counts() == before
    assert model_repo.get_registered_model("churn").latest_version == 3


def test_concurrent_renames_apply_once(
    model_repo: ModelRepository, three_versions: str, race: Callable[..., int]
) -> None:
    from cycleml.errors import CycleMLError

    refused = race(lambda: model_repo.rename_registered_model("churn", "churn-v2"), CycleMLError)
    assert refused == 3
    assert [v.version for v in model_repo.list_model_versions("churn-v2")] == [1, 2, 3]


# ---- deletion -------------------------------------------------------------------------------


def test_delete_version(
    db: Database, model_repo: ModelRepository, three_versions: str, run: Run
) -> None:
    model_repo.set_alias("churn", 3, "champion")
    model_repo.set_alias("churn", 1, "old")
    model_repo.transition_stage("churn", 3, to_stage="Production")
    model_repo.delete_model_version("churn", 3)
    with pytest.raises(NotFound, match="no version 3"):
        model_repo.get_model_version("churn", 3)
    assert [v.version for v in model_repo.list_model_versions("churn")] == [1, 2]
    model = model_repo.get_registered_model("churn")
    assert (model.latest_version, model.aliases) == (2, {"old": 1})
    with pytest.raises(NotFound, match="champion"):
        model_repo.get_version_by_alias("churn", "champion")
    with pytest.raises(NotFound):
        model_repo.resolve_model_uri("models:/churn/Production")
    assert model_repo.resolve_model_uri("models:/churn/latest").version == 2
    # Its number is never handed out again.
    assert model_repo.create_model_version("churn", source=_source(run)).version == 4
    assert model_repo.resolve_model_uri("models:/churn/latest").version == 4
    # Lineage and audit keep naming it.
    (audit,) = db.list_audit(action="model_version.delete", entity_id="churn/3")
    assert audit.payload == {"stage": "Production", "aliases": ["champion"]}
    graph = db.walk_lineage("model_version", "churn/3", direction="upstream")
    assert ("run", run.run_id) in graph.depth


def test_a_deleted_version_is_gone_for_every_operation(
    model_repo: ModelRepository, three_versions: str, table_counts: TableCounts
) -> None:
    model_repo.delete_model_version("churn", 2)
    before = table_counts()
    for call in (
        lambda: model_repo.delete_model_version("churn", 2),
        lambda: model_repo.set_alias("churn", 2, "champion"),
        lambda: model_repo.transition_stage("churn", 2, to_stage="Staging"),
        lambda: model_repo.get_stage_history("churn", 2),
        lambda: model_repo.set_model_version_tag("churn", 2, "k", "v"),
        lambda: model_repo.update_model_version("churn", 2, description="x"),
        lambda: model_repo.resolve_model_uri("models:/churn/2"),
        lambda: model_repo.delete_model_version("churn", 7),
        lambda: model_repo.delete_model_version("nope", 1),
    ):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(InvalidInput):
        model_repo.delete_model_version("churn", 0)
    assert table_counts() == before


def test_archiving_leaves_deleted_versions_alone(
    model_repo: ModelRepository, three_versions: str
) -> None:
    model_repo.transition_stage("churn", 1, to_stage="Production")
    model_repo.delete_model_version("churn", 1)
    moved = model_repo.transition_stage("churn", 2, to_stage="Production", archive_existing=True)
    assert model_repo.get_stage_history("churn", 2)[-1].to_stage == moved.current_stage
    assert [v.current_stage for v in model_repo.list_model_versions("churn")] == [
        "Production",
        "None",
    ]


def test_delete_model_and_create_it_again(
    db: Database, model_repo: ModelRepository, three_versions: str, run: Run
) -> None:
    model_repo.set_registered_model_tag("churn", "team", "growth")
    model_repo.set_alias("churn", 2, "champion")
    model_repo.create_registered_model("other")
    model_repo.delete_registered_model("churn")
    with pytest.raises(NotFound, match="churn"):
        model_repo.get_registered_model("churn")
    with pytest.raises(NotFound, match="churn"):
        model_repo.get_model_version("churn", 1)
    with pytest.raises(NotFound, match="churn"):
        model_repo.create_model_version("churn", source=_source(run))
    with pytest.raises(NotFound, match="churn"):
        model_repo.delete_registered_model("churn")
    assert [m.name for m in model_repo.list_registered_models()] == ["other"]
    (audit,) = db.list_audit(action="model.delete", entity_id="churn")
    assert audit.payload == {"versions": [1, 2, 3], "aliases": ["champion"]}
    assert len(db.list_audit(action="model_version.delete")) == 3

    again = model_repo.create_registered_model("churn", description="new", tags={"v": "2"})
    assert (again.description, again.tags, again.aliases, again.latest_version) == (
        "new",
        {"v": "2"},
        {},
        None,
    )
    assert model_repo.list_model_versions("churn") == []
    # Numbering goes on after the deleted versions: "churn/1" still names only the old one.
    assert model_repo.create_model_version("churn", source=_source(run)).version == 4
    assert [v.version for v in model_repo.list_model_versions("churn")] == [4]
    assert db.list_audit(action="model.create", entity_id="churn")[-1].payload["recreated"]
    graph = db.walk_lineage("model_version", "churn/1", direction="upstream")
    assert ("run", run.run_id) in graph.depth
