"""Registered models, versions, aliases and stage transitions in the SQL metadata store."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from cycleml.errors import AlreadyExists, InvalidInput, InvalidState, NotFound
from cycleml.lifecycle._legacy_store import SqlMetadataStore
from cycleml.registry._entities import Stage
from cycleml.store import now_ms
from cycleml.tracking._entities import Run

TableCounts = Callable[[], dict[str, int]]


def _source(run: Run) -> str:
    return f"runs:/{run.run_id}/model"


# ---- registered models ----------------------------------------------------------------------


def test_create_registered_model(store: SqlMetadataStore) -> None:
    before = now_ms()
    model = store.create_registered_model("churn", description="d", tags={"team": "x", "n": 1})
    assert model.name == "churn"
    assert model.description == "d"
    assert model.tags == {"team": "x", "n": "1"}
    assert model.aliases == {}
    assert model.latest_version is None
    assert before <= model.creation_time == model.last_updated_time <= now_ms()
    assert store.get_registered_model("churn") == model


def test_duplicate_model_name(store: SqlMetadataStore, table_counts: TableCounts) -> None:
    store.create_registered_model("churn")
    before = table_counts()
    with pytest.raises(AlreadyExists, match="churn"):
        store.create_registered_model("churn", tags={"a": "b"})
    assert table_counts() == before


def test_list_registered_models(store: SqlMetadataStore) -> None:
    for name in ("b-model", "a.model", "C_model"):
        store.create_registered_model(name)
    assert [m.name for m in store.list_registered_models()] == ["C_model", "a.model", "b-model"]


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
    store: SqlMetadataStore, table_counts: TableCounts, subtests: pytest.Subtests
) -> None:
    before = table_counts()
    for name in BAD_NAMES:
        with subtests.test(name=name), pytest.raises(InvalidInput, match="model name"):
            store.create_registered_model(name)  # type: ignore[arg-type]
    assert table_counts() == before


def test_longest_model_name_gets_versions(store: SqlMetadataStore, run: Run) -> None:
    name = "m" * 245
    store.create_registered_model(name)
    version = store.create_model_version(name, source=_source(run), run_id=run.run_id)
    assert version.version == 1
    assert store.list_audit(entity_id=f"{name}/1")[0].action == "model_version.create"


def test_unknown_model(store: SqlMetadataStore, run: Run, table_counts: TableCounts) -> None:
    before = table_counts()
    with pytest.raises(NotFound, match="nope"):
        store.get_registered_model("nope")
    with pytest.raises(NotFound, match="nope"):
        store.create_model_version("nope", source=_source(run), run_id=run.run_id)
    with pytest.raises(NotFound, match="nope"):
        store.get_model_version("nope", 1)
    with pytest.raises(NotFound, match="nope"):
        store.list_model_versions("nope")
    with pytest.raises(NotFound, match="nope"):
        store.set_alias("nope", "champion", 1)
    with pytest.raises(NotFound, match="nope"):
        store.transition_stage("nope", 1, to_stage="Staging")
    assert table_counts() == before


# ---- versions -------------------------------------------------------------------------------


def test_versions_increment(store: SqlMetadataStore, run: Run) -> None:
    store.create_registered_model("churn")
    store.create_registered_model("other")
    numbers = [
        store.create_model_version("churn", source=_source(run), run_id=run.run_id).version
        for _ in range(3)
    ]
    assert numbers == [1, 2, 3]
    assert store.create_model_version("other", source="s3://b/m").version == 1
    assert store.get_registered_model("churn").latest_version == 3
    assert [v.version for v in store.list_model_versions("churn")] == [1, 2, 3]


def test_model_version_fields(store: SqlMetadataStore, run: Run) -> None:
    store.create_registered_model("churn")
    before = now_ms()
    version = store.create_model_version(
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
    assert store.get_model_version("churn", "1") == version
    assert store.get_registered_model("churn").last_updated_time >= version.creation_time


def test_metrics_snapshot_is_a_copy(store: SqlMetadataStore, run: Run) -> None:
    """The version keeps the metrics it was registered with, whatever the run logs later."""
    store.create_registered_model("churn")
    metrics = {"auc": 0.5}
    store.create_model_version("churn", source=_source(run), run_id=run.run_id, metrics=metrics)
    metrics["auc"] = 0.99
    assert store.get_model_version("churn", 1).metrics == {"auc": 0.5}


def test_metrics_snapshot_keeps_nan_and_infinities(store: SqlMetadataStore, run: Run) -> None:
    """A run whose metric is NaN can still be registered (PostgreSQL's JSON has no NaN)."""
    store.create_registered_model("churn")
    snapshot = {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "ok": 1.5}
    store.create_model_version("churn", source=_source(run), run_id=run.run_id, metrics=snapshot)
    stored = store.get_model_version("churn", 1).metrics
    assert math.isnan(stored["nan"])
    assert stored["inf"] == math.inf
    assert stored["ninf"] == -math.inf
    assert stored["ok"] == 1.5


def test_bad_version_input_writes_nothing(
    store: SqlMetadataStore, run: Run, table_counts: TableCounts
) -> None:
    store.create_registered_model("churn")
    before = table_counts()
    with pytest.raises(InvalidInput, match="metric 'auc'"):
        store.create_model_version("churn", source=_source(run), metrics={"auc": "high"})
    with pytest.raises(InvalidInput, match="tag key"):
        store.create_model_version("churn", source=_source(run), tags={"bad key!": "v"})
    with pytest.raises(InvalidInput, match="tag key"):
        store.create_registered_model("other", tags={"k" * 251: "v"})
    assert table_counts() == before


def test_bad_version_numbers(store: SqlMetadataStore, run: Run, subtests: pytest.Subtests) -> None:
    store.create_registered_model("churn")
    store.create_model_version("churn", source=_source(run))
    for version in [0, -1, "0", "abc", "", 2.5, True, None]:
        with subtests.test(version=version), pytest.raises(InvalidInput, match="version"):
            store.get_model_version("churn", version)  # type: ignore[arg-type]


def test_unknown_version(store: SqlMetadataStore, run: Run) -> None:
    store.create_registered_model("churn")
    store.create_model_version("churn", source=_source(run))
    assert store.get_model_version("churn", 1.0).version == 1
    with pytest.raises(NotFound, match="no version 2"):
        store.get_model_version("churn", 2)


# ---- aliases --------------------------------------------------------------------------------


@pytest.fixture
def three_versions(store: SqlMetadataStore, run: Run) -> str:
    store.create_registered_model("churn")
    for _ in range(3):
        store.create_model_version("churn", source=_source(run), run_id=run.run_id)
    return "churn"


def test_set_move_and_delete_alias(store: SqlMetadataStore, three_versions: str) -> None:
    tagged = store.set_alias("churn", "champion", 1)
    assert tagged.version == 1
    assert tagged.aliases == ("champion",)
    store.set_alias("churn", "challenger", "2")
    assert store.get_registered_model("churn").aliases == {"champion": 1, "challenger": 2}
    assert store.get_version_by_alias("churn", "champion").version == 1

    moved = store.set_alias("churn", "champion", 3)  # move
    assert moved.aliases == ("champion",)
    assert store.get_model_version("churn", 1).aliases == ()
    assert store.get_version_by_alias("churn", "champion").version == 3
    assert store.get_registered_model("churn").aliases == {"champion": 3, "challenger": 2}

    store.set_alias("churn", "a_first", 3)
    assert store.get_model_version("churn", 3).aliases == ("a_first", "champion")

    store.delete_alias("churn", "champion")
    with pytest.raises(NotFound, match="champion"):
        store.get_version_by_alias("churn", "champion")
    with pytest.raises(NotFound, match="champion"):
        store.delete_alias("churn", "champion")
    assert store.get_registered_model("churn").aliases == {"challenger": 2, "a_first": 3}


def test_alias_errors_write_nothing(
    store: SqlMetadataStore, three_versions: str, table_counts: TableCounts
) -> None:
    store.set_alias("churn", "champion", 1)
    before = table_counts()
    with pytest.raises(NotFound, match="no version 9"):
        store.set_alias("churn", "champion", 9)
    with pytest.raises(NotFound):
        store.get_version_by_alias("churn", "unknown")
    assert table_counts() == before
    assert store.get_version_by_alias("churn", "champion").version == 1


def test_bad_aliases(
    store: SqlMetadataStore,
    three_versions: str,
    table_counts: TableCounts,
    subtests: pytest.Subtests,
) -> None:
    before = table_counts()
    for alias in ["", "latest", "LATEST", "3", "1abc", "-x", "a b", "a/b", "a@b", "champ\n", None]:
        with subtests.test(alias=alias), pytest.raises(InvalidInput, match="alias"):
            store.set_alias("churn", alias, 1)  # type: ignore[arg-type]
    assert table_counts() == before


# ---- stages ---------------------------------------------------------------------------------


def test_transition_stage_records_history(store: SqlMetadataStore, three_versions: str) -> None:
    before = now_ms()
    staged = store.transition_stage("churn", 1, to_stage="Staging", reason="passed tests")
    assert staged.current_stage == "Staging"
    prod = store.transition_stage(
        "churn", 1, to_stage="production", reason="gate override", forced=True
    )
    assert prod.current_stage == Stage.PRODUCTION
    assert store.get_model_version("churn", 1).current_stage == "Production"
    assert store.get_model_version("churn", 2).current_stage == "None"

    history = store.get_stage_history("churn", 1)
    assert [(h.from_stage, h.to_stage, h.reason, h.forced) for h in history] == [
        ("None", "Staging", "passed tests", False),
        ("Staging", "Production", "gate override", True),
    ]
    assert all(h.actor == "tester" and h.name == "churn" and h.version == 1 for h in history)
    assert before <= history[0].time <= history[1].time <= now_ms()
    assert store.get_stage_history("churn", 2) == []


def test_transition_actor_is_the_stores(
    store: SqlMetadataStore, three_versions: str, metadata_uri: str
) -> None:
    with SqlMetadataStore(metadata_uri, actor="alice") as alice:
        alice.transition_stage("churn", 2, to_stage="Archived", reason="old")
    (entry,) = store.get_stage_history("churn", 2)
    assert entry.actor == "alice"
    assert entry.to_stage == "Archived"


def test_archive_existing(store: SqlMetadataStore, three_versions: str) -> None:
    store.transition_stage("churn", 1, to_stage="Production")
    store.transition_stage("churn", 2, to_stage="Production")  # without archiving: both
    stages = {v.version: v.current_stage for v in store.list_model_versions("churn")}
    assert stages == {1: "Production", 2: "Production", 3: "None"}

    store.transition_stage("churn", 3, to_stage="Production", archive_existing=True)
    stages = {v.version: v.current_stage for v in store.list_model_versions("churn")}
    assert stages == {1: "Archived", 2: "Archived", 3: "Production"}
    last = store.get_stage_history("churn", 1)[-1]
    assert (last.from_stage, last.to_stage, last.forced) == ("Production", "Archived", False)
    assert "version 3" in last.reason
    (audit,) = store.list_audit(action="model_version.transition", entity_id="churn/3")
    assert sorted(audit.payload["archived"]) == [1, 2]


def test_archive_existing_only_touches_the_target_stage(
    store: SqlMetadataStore, three_versions: str
) -> None:
    store.transition_stage("churn", 1, to_stage="Staging")
    store.transition_stage("churn", 2, to_stage="Production", archive_existing=True)
    assert store.get_model_version("churn", 1).current_stage == "Staging"
    # Archiving into Archived never archives the others.
    store.transition_stage("churn", 3, to_stage="Archived", archive_existing=True)
    assert store.get_model_version("churn", 2).current_stage == "Production"


def test_same_stage_transition_is_refused(
    store: SqlMetadataStore, three_versions: str, table_counts: TableCounts
) -> None:
    store.transition_stage("churn", 1, to_stage="Staging")
    before = table_counts()
    with pytest.raises(InvalidState, match="already in stage Staging"):
        store.transition_stage("churn", 1, to_stage="staging")
    with pytest.raises(InvalidState, match="already in stage None"):
        store.transition_stage("churn", 2, to_stage="None")
    assert table_counts() == before


def test_bad_stage(
    store: SqlMetadataStore,
    three_versions: str,
    table_counts: TableCounts,
    subtests: pytest.Subtests,
) -> None:
    before = table_counts()
    for stage in ["Deployed", "", "prod", None, "Production "]:
        with subtests.test(stage=stage), pytest.raises(InvalidInput, match="stage"):
            store.transition_stage("churn", 1, to_stage=stage)  # type: ignore[arg-type]
    assert table_counts() == before


def test_transition_unknown_version(
    store: SqlMetadataStore, three_versions: str, table_counts: TableCounts
) -> None:
    before = table_counts()
    with pytest.raises(NotFound):
        store.transition_stage("churn", 4, to_stage="Staging")
    with pytest.raises(InvalidInput):
        store.transition_stage("churn", 0, to_stage="Staging")
    assert table_counts() == before
