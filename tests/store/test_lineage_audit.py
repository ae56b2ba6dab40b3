"""The audit log (every mutation, append-only in the database) and lineage edges and walks."""

from __future__ import annotations

import math
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cycleml.errors import AlreadyExists, InvalidInput, InvalidState, NotFound, ParamConflict
from cycleml.lifecycle._legacy_store import SqlMetadataStore
from cycleml.store import ArtifactEntry, AuditRecord, now_ms
from cycleml.tracking._entities import Metric

DIGEST = "c" * 64


def _actions(records: list[AuditRecord]) -> list[tuple[str, str, str]]:
    return [(r.action, r.entity_kind, r.entity_id) for r in records]


def test_every_mutation_is_audited(store: SqlMetadataStore) -> None:
    start = now_ms()
    exp = store.create_experiment("e", tags={"a": "1"}).experiment_id
    store.rename_experiment(exp, "e2")
    store.set_experiment_tag(exp, "k", "v")
    run = store.create_run(experiment_id=exp, run_name="r", tags={"t": "1"}).run_id
    store.log_batch(run, metrics=[Metric("m", 1.0, 0, 1)], params={"p": 1}, tags={"u": 2})
    store.delete_run_tag(run, "u")
    store.record_artifacts(run, [ArtifactEntry("f.txt", DIGEST, 1)])
    store.update_run(run, status="FINISHED")
    store.delete_runs([run])
    store.restore_runs([run])
    store.create_registered_model("churn")
    store.create_model_version("churn", source=f"runs:/{run}/model", run_id=run)
    store.set_alias("churn", "champion", 1)
    store.delete_alias("churn", "champion")
    store.transition_stage("churn", 1, to_stage="Staging")
    store.delete_experiment(exp)
    store.restore_experiment(exp)

    records = store.list_audit()
    assert _actions(records) == [
        ("experiment.create", "experiment", exp),
        ("experiment.rename", "experiment", exp),
        ("experiment.set_tag", "experiment", exp),
        ("run.create", "run", run),
        ("run.log_batch", "run", run),
        ("run.delete_tag", "run", run),
        ("run.log_artifacts", "run", run),
        ("run.update", "run", run),
        ("run.delete", "run", run),
        ("run.restore", "run", run),
        ("model.create", "model", "churn"),
        ("model_version.create", "model_version", "churn/1"),
        ("model.set_alias", "model", "churn"),
        ("model.delete_alias", "model", "churn"),
        ("model_version.transition", "model_version", "churn/1"),
        ("experiment.delete", "experiment", exp),
        ("experiment.restore", "experiment", exp),
    ]
    assert all(r.actor == "tester" for r in records)
    times = [r.time for r in records]
    assert times == sorted(times)
    assert start <= times[0]
    assert times[-1] <= now_ms()
    ids = [r.id for r in records]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_audit_payloads(store: SqlMetadataStore) -> None:
    exp = store.create_experiment("e", tags={"a": "1"}).experiment_id
    store.rename_experiment(exp, "e2")
    run = store.create_run(experiment_id=exp, run_name="r", tags={"t": "1"}).run_id
    store.log_batch(
        run,
        metrics=[Metric("m", 1.0, 0, 1), Metric("m", 2.0, 1, 2), Metric("a", 0.5, 0, 1)],
        params={"p": 1},
        tags={"u": 2},
    )
    store.record_artifacts(run, [ArtifactEntry("f.txt", DIGEST, 1)])
    info = store.update_run(run, status="FAILED", error="boom")
    store.create_registered_model("churn", description="desc")
    store.create_model_version(
        "churn", source=f"runs:/{run}/model", run_id=run, metrics={"auc": 0.9}
    )
    store.create_model_version("churn", source=f"runs:/{run}/model", run_id=run)
    store.set_alias("churn", "champion", 1)
    store.set_alias("churn", "champion", 2)
    store.transition_stage("churn", 2, to_stage="Production", reason="why", forced=True)

    def payload(action: str, index: int = 0) -> dict[str, Any]:
        return store.list_audit(action=action)[index].payload

    assert payload("experiment.create") == {"name": "e", "tags": {"a": "1"}}
    assert payload("experiment.rename") == {"before": "e", "name": "e2"}
    assert payload("run.create") == {"experiment_id": exp, "run_name": "r", "tags": {"t": "1"}}
    assert payload("run.log_batch") == {
        "metric_points": 3,
        "metric_keys": ["a", "m"],
        "params": {"p": "1"},
        "tags": {"u": "2"},
    }
    assert payload("run.log_artifacts") == {"files": {"f.txt": DIGEST}}
    assert payload("run.update") == {
        "from_status": "RUNNING",
        "status": "FAILED",
        "end_time": info.end_time,
        "error": "boom",
    }
    assert payload("model.create") == {"description": "desc", "tags": {}}
    assert payload("model_version.create") == {
        "source": f"runs:/{run}/model",
        "run_id": run,
        "metrics": {"auc": 0.9},
    }
    assert payload("model.set_alias", 0) == {
        "alias": "champion",
        "version": 1,
        "previous_version": None,
    }
    assert payload("model.set_alias", 1) == {
        "alias": "champion",
        "version": 2,
        "previous_version": 1,
    }
    assert payload("model_version.transition") == {
        "from": "None",
        "to": "Production",
        "reason": "why",
        "forced": True,
        "archived": [],
    }


def test_audit_payload_with_nan(store: SqlMetadataStore) -> None:
    """Non-finite numbers in a payload (e.g. an overridden gate on a NaN metric) are kept."""
    store.create_registered_model("churn")
    store.create_model_version("churn", source="s3://x", metrics={"auc": math.nan})
    store.transition_stage(
        "churn", 1, to_stage="Production", forced=True, audit_payload={"gates": [math.inf]}
    )
    (created,) = store.list_audit(action="model_version.create")
    assert created.payload["metrics"] == {"auc": "NaN"}
    (moved,) = store.list_audit(action="model_version.transition")
    assert moved.payload["gates"] == ["Infinity"]


def test_audit_actor_is_the_stores(store: SqlMetadataStore, metadata_uri: str) -> None:
    with SqlMetadataStore(metadata_uri, actor="ci-bot") as bot:
        bot.create_experiment("by-bot")
    store.create_experiment("by-tester")
    assert [r.actor for r in store.list_audit()] == ["ci-bot", "tester"]


def test_list_audit_filters(store: SqlMetadataStore) -> None:
    a = store.create_experiment("a").experiment_id
    b = store.create_experiment("b").experiment_id
    run = store.create_run(experiment_id=a).run_id
    store.rename_experiment(a, "a2")
    assert len(store.list_audit()) == 4
    assert _actions(store.list_audit(entity_kind="run")) == [("run.create", "run", run)]
    assert [r.action for r in store.list_audit(entity_id=a)] == [
        "experiment.create",
        "experiment.rename",
    ]
    assert [r.entity_id for r in store.list_audit(action="experiment.create")] == [a, b]
    assert [r.entity_id for r in store.list_audit(limit=2)] == [a, b]
    assert store.list_audit(since_ms=now_ms() + 60_000) == []
    assert len(store.list_audit(since_ms=0)) == 4
    with pytest.raises(InvalidInput, match="limit"):
        store.list_audit(limit=0)


def test_failed_mutations_leave_no_audit_row(store: SqlMetadataStore) -> None:
    exp = store.create_experiment("e").experiment_id
    run = store.create_run(experiment_id=exp).run_id
    store.log_batch(run, params={"p": 1})
    before = store.list_audit()
    with pytest.raises(AlreadyExists):
        store.create_experiment("e")
    with pytest.raises(ParamConflict):
        store.log_batch(run, params={"p": 2}, metrics=[Metric("m", 1.0, 0, 1)])
    with pytest.raises(InvalidState):
        store.restore_experiment(exp)
    with pytest.raises(NotFound):
        store.delete_runs([run, "f" * 32])
    assert store.list_audit() == before


# ---- append-only in the database ------------------------------------------------------------


def test_audit_log_is_append_only_in_the_database(
    store: SqlMetadataStore, subtests: pytest.Subtests
) -> None:
    store.create_experiment("e", tags={"a": "1"})
    store.create_experiment("f")
    before = store.list_audit()
    assert len(before) == 2

    statements = [
        "UPDATE audit_log SET actor = 'mallory'",
        "UPDATE audit_log SET payload = '{}' WHERE action = 'experiment.create'",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE action = 'experiment.create'",
    ]
    if store.dialect == "postgresql":  # SQLite has no TRUNCATE (its DELETE is guarded)
        statements.append("TRUNCATE audit_log")
    for statement in statements:
        with subtests.test(statement=statement):
            with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
                conn.execute(text(statement))
            assert store.list_audit() == before

    # Other tables stay writable with raw SQL: the guard is specific to the audit log.
    with store.engine.begin() as conn:
        changed = conn.execute(text("UPDATE experiments SET name = name || '!'")).rowcount
    assert changed == 2


def test_audit_log_accepts_raw_inserts(store: SqlMetadataStore) -> None:
    """Append-only, not read-only: the guard does not block new rows."""
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_log (time, actor, action, entity_kind, entity_id, payload) "
                "VALUES (1, 'ops', 'manual.note', 'system', 'x', '{}')"
            )
        )
    assert _actions(store.list_audit()) == [("manual.note", "system", "x")]


# ---- lineage --------------------------------------------------------------------------------


@pytest.fixture
def graph(store: SqlMetadataStore) -> dict[str, str]:
    """Experiment E holds parent run P and its child C; C produced m/1, P produced m/2."""
    exp = store.create_experiment("e").experiment_id
    parent = store.create_run(experiment_id=exp, run_name="parent").run_id
    child = store.create_run(experiment_id=exp, parent_run_id=parent).run_id
    lonely = store.create_run(experiment_id=exp).run_id
    store.create_registered_model("m")
    store.create_model_version("m", source=f"runs:/{child}/model", run_id=child)
    store.create_model_version("m", source=f"runs:/{parent}/model", run_id=parent)
    store.create_model_version("m", source="s3://no/run")  # no run: no edge
    return {"exp": exp, "parent": parent, "child": child, "lonely": lonely}


def _edge_tuples(edges: Any) -> set[tuple[str, str, str, str, str]]:
    return {(e.src_kind, e.src_id, e.relation, e.dst_kind, e.dst_id) for e in edges}


def test_lineage_edges_are_recorded(store: SqlMetadataStore, graph: dict[str, str]) -> None:
    exp, parent, child = graph["exp"], graph["parent"], graph["child"]
    assert _edge_tuples(store.lineage_edges("run", child)) == {
        ("experiment", exp, "contains", "run", child),
        ("run", parent, "parent_of", "run", child),
        ("run", child, "produced", "model_version", "m/1"),
    }
    assert _edge_tuples(store.lineage_edges("model_version", "m/2")) == {
        ("run", parent, "produced", "model_version", "m/2"),
    }
    assert store.lineage_edges("model_version", "m/3") == []
    assert len(store.lineage_edges("experiment", exp)) == 3
    edge = store.lineage_edges("model_version", "m/1")[0]
    run_created = store.get_run(child).info.start_time
    assert run_created <= edge.created_at <= now_ms()


def test_failed_mutations_leave_no_edges(store: SqlMetadataStore, graph: dict[str, str]) -> None:
    count = len(store.lineage_edges("experiment", graph["exp"]))
    with pytest.raises(KeyError):
        store.create_run(experiment_id=graph["exp"], parent_run_id="f" * 32)
    assert len(store.lineage_edges("experiment", graph["exp"])) == count


def test_walk_downstream(store: SqlMetadataStore, graph: dict[str, str]) -> None:
    exp, parent, child, lonely = graph["exp"], graph["parent"], graph["child"], graph["lonely"]
    walk = store.walk_lineage("experiment", exp, direction="downstream")
    assert walk.root == ("experiment", exp)
    assert walk.depth == {
        ("experiment", exp): 0,
        ("run", parent): 1,
        ("run", child): 1,
        ("run", lonely): 1,
        ("model_version", "m/1"): 2,
        ("model_version", "m/2"): 2,
    }
    relations = {e.relation for e in walk.edges}
    assert relations == {"contains", "produced"}  # child was reached through "contains" first

    shallow = store.walk_lineage("experiment", exp, direction="downstream", max_depth=1)
    assert set(shallow.depth) == {
        ("experiment", exp),
        ("run", parent),
        ("run", child),
        ("run", lonely),
    }

    from_parent = store.walk_lineage("run", parent, direction="downstream")
    assert set(from_parent.depth) == {
        ("run", parent),
        ("run", child),
        ("model_version", "m/1"),
        ("model_version", "m/2"),
    }
    assert from_parent.depth[("model_version", "m/1")] == 2


def test_walk_upstream(store: SqlMetadataStore, graph: dict[str, str]) -> None:
    exp, parent, child = graph["exp"], graph["parent"], graph["child"]
    walk = store.walk_lineage("model_version", "m/1", direction="upstream")
    assert walk.depth == {
        ("model_version", "m/1"): 0,
        ("run", child): 1,
        ("experiment", exp): 2,
        ("run", parent): 2,
    }
    assert _edge_tuples(walk.edges) == {
        ("run", child, "produced", "model_version", "m/1"),
        ("experiment", exp, "contains", "run", child),
        ("run", parent, "parent_of", "run", child),
    }
    # m/2 (a sibling through the parent) is not upstream of m/1.
    assert ("model_version", "m/2") not in walk.depth


def test_walk_both_ways(store: SqlMetadataStore, graph: dict[str, str]) -> None:
    exp, parent, child, lonely = graph["exp"], graph["parent"], graph["child"], graph["lonely"]
    walk = store.walk_lineage("run", child)  # both is the default
    assert set(walk.depth) == {
        ("run", child),
        ("experiment", exp),
        ("run", parent),
        ("model_version", "m/1"),
    }
    # Siblings are not pulled in: neither the lonely run nor the parent's model.
    assert ("run", lonely) not in walk.depth
    assert ("model_version", "m/2") not in walk.depth
    assert len(walk.edges) == 3


def test_walk_unknown_entity_and_bad_direction(store: SqlMetadataStore) -> None:
    walk = store.walk_lineage("run", "f" * 32)
    assert walk.edges == ()
    assert walk.depth == {("run", "f" * 32): 0}
    with pytest.raises(InvalidInput, match="direction"):
        store.walk_lineage("run", "f" * 32, direction="sideways")  # type: ignore[arg-type]
