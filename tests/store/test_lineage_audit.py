"""The audit log (every mutation, append-only in the database) and lineage edges and walks."""

from __future__ import annotations

import math
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cycleml.errors import AlreadyExists, InvalidInput, InvalidState, NotFound, ParamConflict
from cycleml.registry import ModelRepository
from cycleml.store import ArtifactEntry, AuditRecord, Database, now_ms
from cycleml.tracking import RunRepository, SqlRunRepository
from cycleml.tracking._entities import Metric

DIGEST = "c" * 64


def _actions(records: list[AuditRecord]) -> list[tuple[str, str, str]]:
    return [(r.action, r.entity_kind, r.entity_id) for r in records]


def test_every_mutation_is_audited(
    db: Database, run_repo: RunRepository, model_repo: ModelRepository
) -> None:
    start = now_ms()
    exp = run_repo.create_experiment("e", tags={"a": "1"}).experiment_id
    run_repo.rename_experiment(exp, "e2")
    run_repo.set_experiment_tag(exp, "k", "v")
    run = run_repo.create_run(experiment_id=exp, run_name="r", tags={"t": "1"}).run_id
    run_repo.log_batch(run, metrics=[Metric("m", 1.0, 0, 1)], params={"p": 1}, tags={"u": 2})
    run_repo.delete_run_tag(run, "u")
    run_repo.record_artifacts(run, [ArtifactEntry("f.txt", DIGEST, 1)])
    run_repo.update_run(run, status="FINISHED")
    run_repo.delete_runs([run])
    run_repo.restore_runs([run])
    model_repo.create_registered_model("churn")
    model_repo.create_model_version("churn", source=f"runs:/{run}/model", run_id=run)
    model_repo.set_alias("churn", 1, "champion")
    model_repo.delete_alias("churn", "champion")
    model_repo.transition_stage("churn", 1, to_stage="Staging")
    run_repo.delete_experiment(exp)
    run_repo.restore_experiment(exp)

    records = db.list_audit()
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


def test_audit_payloads(db: Database, run_repo: RunRepository, model_repo: ModelRepository) -> None:
    exp = run_repo.create_experiment("e", tags={"a": "1"}).experiment_id
    run_repo.rename_experiment(exp, "e2")
    run = run_repo.create_run(experiment_id=exp, run_name="r", tags={"t": "1"}).run_id
    run_repo.log_batch(
        run,
        metrics=[Metric("m", 1.0, 0, 1), Metric("m", 2.0, 1, 2), Metric("a", 0.5, 0, 1)],
        params={"p": 1},
        tags={"u": 2},
    )
    run_repo.record_artifacts(run, [ArtifactEntry("f.txt", DIGEST, 1)])
    info = run_repo.update_run(run, status="FAILED", error="boom")
    model_repo.create_registered_model("churn", description="desc")
    model_repo.create_model_version(
        "churn", source=f"runs:/{run}/model", run_id=run, metrics={"auc": 0.9}
    )
    model_repo.create_model_version("churn", source=f"runs:/{run}/model", run_id=run)
    model_repo.set_alias("churn", 1, "champion")
    model_repo.set_alias("churn", 2, "champion")
    model_repo.transition_stage("churn", 2, to_stage="Production", reason="why", forced=True)

    def payload(action: str, index: int = 0) -> dict[str, Any]:
        return db.list_audit(action=action)[index].payload

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


def test_audit_payload_with_nan(db: Database, model_repo: ModelRepository) -> None:
    """Non-finite numbers in a payload (e.g. an overridden gate on a NaN metric) are kept."""
    model_repo.create_registered_model("churn")
    model_repo.create_model_version("churn", source="s3://x", metrics={"auc": math.nan})
    model_repo.transition_stage(
        "churn", 1, to_stage="Production", forced=True, audit_payload={"gates": [math.inf]}
    )
    (created,) = db.list_audit(action="model_version.create")
    assert created.payload["metrics"] == {"auc": "NaN"}
    (moved,) = db.list_audit(action="model_version.transition")
    assert moved.payload["gates"] == ["Infinity"]


def test_audit_actor_is_the_stores(
    db: Database, run_repo: RunRepository, metadata_uri: str
) -> None:
    with Database(metadata_uri, actor="ci-bot") as bot:
        SqlRunRepository(bot).create_experiment("by-bot")
    run_repo.create_experiment("by-tester")
    assert [r.actor for r in db.list_audit()] == ["ci-bot", "tester"]


def test_list_audit_filters(db: Database, run_repo: RunRepository) -> None:
    a = run_repo.create_experiment("a").experiment_id
    b = run_repo.create_experiment("b").experiment_id
    run = run_repo.create_run(experiment_id=a).run_id
    run_repo.rename_experiment(a, "a2")
    assert len(db.list_audit()) == 4
    assert _actions(db.list_audit(entity_kind="run")) == [("run.create", "run", run)]
    assert [r.action for r in db.list_audit(entity_id=a)] == [
        "experiment.create",
        "experiment.rename",
    ]
    assert [r.entity_id for r in db.list_audit(action="experiment.create")] == [a, b]
    assert [r.entity_id for r in db.list_audit(limit=2)] == [a, b]
    assert db.list_audit(since_ms=now_ms() + 60_000) == []
    assert len(db.list_audit(since_ms=0)) == 4
    with pytest.raises(InvalidInput, match="limit"):
        db.list_audit(limit=0)


def test_failed_mutations_leave_no_audit_row(db: Database, run_repo: RunRepository) -> None:
    exp = run_repo.create_experiment("e").experiment_id
    run = run_repo.create_run(experiment_id=exp).run_id
    run_repo.log_batch(run, params={"p": 1})
    before = db.list_audit()
    with pytest.raises(AlreadyExists):
        run_repo.create_experiment("e")
    with pytest.raises(ParamConflict):
        run_repo.log_batch(run, params={"p": 2}, metrics=[Metric("m", 1.0, 0, 1)])
    with pytest.raises(InvalidState):
        run_repo.restore_experiment(exp)
    with pytest.raises(NotFound):
        run_repo.delete_runs([run, "f" * 32])
    assert db.list_audit() == before


# ---- append-only in the database ------------------------------------------------------------


def test_audit_log_is_append_only_in_the_database(
    db: Database, run_repo: RunRepository, subtests: pytest.Subtests
) -> None:
    run_repo.create_experiment("e", tags={"a": "1"})
    run_repo.create_experiment("f")
    before = db.list_audit()
    assert len(before) == 2

    statements = [
        "UPDATE audit_log SET actor = 'mallory'",
        "UPDATE audit_log SET payload = '{}' WHERE action = 'experiment.create'",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE action = 'experiment.create'",
    ]
    if db.dialect == "postgresql":  # SQLite has no TRUNCATE (its DELETE is guarded)
        statements.append("TRUNCATE audit_log")
    for statement in statements:
        with subtests.test(statement=statement):
            with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
                conn.execute(text(statement))
            assert db.list_audit() == before

    # Other tables stay writable with raw SQL: the guard is specific to the audit log.
    with db.engine.begin() as conn:
        changed = conn.execute(text("UPDATE experiments SET name = name || '!'")).rowcount
    assert changed == 2


def test_audit_log_accepts_raw_inserts(db: Database) -> None:
    """Append-only, not read-only: the guard does not block new rows."""
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_log (time, actor, action, entity_kind, entity_id, payload) "
                "VALUES (1, 'ops', 'manual.note', 'system', 'x', '{}')"
            )
        )
    assert _actions(db.list_audit()) == [("manual.note", "system", "x")]


# ---- lineage --------------------------------------------------------------------------------


@pytest.fixture
def graph(run_repo: RunRepository, model_repo: ModelRepository) -> dict[str, str]:
    """Experiment E holds parent run P and its child C; C produced m/1, P produced m/2."""
    exp = run_repo.create_experiment("e").experiment_id
    parent = run_repo.create_run(experiment_id=exp, run_name="parent").run_id
    child = run_repo.create_run(experiment_id=exp, parent_run_id=parent).run_id
    lonely = run_repo.create_run(experiment_id=exp).run_id
    model_repo.create_registered_model("m")
    model_repo.create_model_version("m", source=f"runs:/{child}/model", run_id=child)
    model_repo.create_model_version("m", source=f"runs:/{parent}/model", run_id=parent)
    model_repo.create_model_version("m", source="s3://no/run")  # no run: no edge
    return {"exp": exp, "parent": parent, "child": child, "lonely": lonely}


def _edge_tuples(edges: Any) -> set[tuple[str, str, str, str, str]]:
    return {(e.src_kind, e.src_id, e.relation, e.dst_kind, e.dst_id) for e in edges}


def test_lineage_edges_are_recorded(
    db: Database, run_repo: RunRepository, graph: dict[str, str]
) -> None:
    exp, parent, child = graph["exp"], graph["parent"], graph["child"]
    assert _edge_tuples(db.lineage_edges("run", child)) == {
        ("experiment", exp, "contains", "run", child),
        ("run", parent, "parent_of", "run", child),
        ("run", child, "produced", "model_version", "m/1"),
    }
    assert _edge_tuples(db.lineage_edges("model_version", "m/2")) == {
        ("run", parent, "produced", "model_version", "m/2"),
    }
    assert db.lineage_edges("model_version", "m/3") == []
    assert len(db.lineage_edges("experiment", exp)) == 3
    edge = db.lineage_edges("model_version", "m/1")[0]
    run_created = run_repo.get_run(child).info.start_time
    assert run_created <= edge.created_at <= now_ms()


def test_failed_mutations_leave_no_edges(
    db: Database, run_repo: RunRepository, graph: dict[str, str]
) -> None:
    count = len(db.lineage_edges("experiment", graph["exp"]))
    with pytest.raises(KeyError):
        run_repo.create_run(experiment_id=graph["exp"], parent_run_id="f" * 32)
    assert len(db.lineage_edges("experiment", graph["exp"])) == count


def test_walk_downstream(db: Database, graph: dict[str, str]) -> None:
    exp, parent, child, lonely = graph["exp"], graph["parent"], graph["child"], graph["lonely"]
    walk = db.walk_lineage("experiment", exp, direction="downstream")
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

    shallow = db.walk_lineage("experiment", exp, direction="downstream", max_depth=1)
    assert set(shallow.depth) == {
        ("experiment", exp),
        ("run", parent),
        ("run", child),
        ("run", lonely),
    }

    from_parent = db.walk_lineage("run", parent, direction="downstream")
    assert set(from_parent.depth) == {
        ("run", parent),
        ("run", child),
        ("model_version", "m/1"),
        ("model_version", "m/2"),
    }
    assert from_parent.depth[("model_version", "m/1")] == 2


def test_walk_upstream(db: Database, graph: dict[str, str]) -> None:
    exp, parent, child = graph["exp"], graph["parent"], graph["child"]
    walk = db.walk_lineage("model_version", "m/1", direction="upstream")
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


def test_walk_both_ways(db: Database, graph: dict[str, str]) -> None:
    exp, parent, child, lonely = graph["exp"], graph["parent"], graph["child"], graph["lonely"]
    walk = db.walk_lineage("run", child)  # both is the default
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


def test_walk_unknown_entity_and_bad_direction(db: Database) -> None:
    walk = db.walk_lineage("run", "f" * 32)
    assert walk.edges == ()
    assert walk.depth == {("run", "f" * 32): 0}
    with pytest.raises(InvalidInput, match="direction"):
        db.walk_lineage("run", "f" * 32, direction="sideways")  # type: ignore[arg-type]
