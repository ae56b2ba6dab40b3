"""Idempotent serving writes by request id (serving_0002's ``deployment_requests``), and pages.

A retried request whose first attempt committed is not applied again: a creation returns
the deployment, a promotion or a rollback is not applied twice, a feedback batch and a batch
scoring record are stored once; an id reused for another write is refused, a rolled-back
attempt leaves no id behind, and a write that changes nothing remembers none. Listings page
by their sort key. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import func, insert, inspect, select, text

from cycleml.errors import InvalidInput, InvalidState
from cycleml.registry import SqlModelRepository
from cycleml.serving import SqlDeploymentRepository
from cycleml.serving._sql_deployments import REQUEST_ID_TTL_MS
from cycleml.serving._sql_predictions import MAX_PAGE
from cycleml.serving._tables import deployment_requests
from cycleml.settings import Settings
from cycleml.store import Database, head_revisions, now_ms

TableCounts = Callable[[], dict[str, int]]
DIGEST = "d" * 64


def _rid() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def repo(db: Database) -> SqlDeploymentRepository:
    """``churn`` versions 1-3, and deployment ``d`` on 1 with 2 as its canary."""
    models = SqlModelRepository(db)
    models.create_registered_model("churn")
    for i in range(3):
        models.create_model_version("churn", source=f"s3://bucket/churn/{i + 1}")
    repository = SqlDeploymentRepository(db)
    repository.create_deployment("d", "models:/churn/1", canary_uri="models:/churn/2")
    return repository


def _claims(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(deployment_requests)).scalar())


def test_each_deployment_write_is_applied_once_per_id(
    repo: SqlDeploymentRepository, table_counts: TableCounts
) -> None:
    rid = _rid()
    made = repo.create_deployment("e", "models:/churn/1", request_id=rid)
    assert repo.create_deployment("e", "models:/churn/1", request_id=rid) == made
    for write in (
        lambda rid: repo.update_deployment("d", canary_percent=30, request_id=rid),
        lambda rid: repo.promote_deployment("d", request_id=rid),
        lambda rid: repo.rollback_deployment("d", request_id=rid),
        lambda rid: repo.replace_deployment("d", "models:/churn/3", request_id=rid),
    ):
        rid = _rid()
        first = write(rid)
        before = table_counts()
        assert write(rid) == first  # not applied again: nothing written
        assert table_counts() == before
    actions = [r.action for r in repo.list_deployment_revisions("d")]
    assert actions == ["create", "update", "promote", "rollback", "replace"]


def test_feedback_and_batch_records_are_stored_once_per_id(
    repo: SqlDeploymentRepository, db: Database
) -> None:
    rid = _rid()
    assert repo.add_feedback("d", [("r1", 1, None), ("r2", 0, None)], request_id=rid) == 2
    assert repo.add_feedback("d", [("r1", 1, None), ("r2", 0, None)], request_id=rid) == 2
    assert len(repo.list_feedback("d")) == 2
    repo.add_feedback("d", [("r1", 2, None)])  # a label's request id is not the write's
    repo.add_feedback("d", [("r1", 3, None)], request_id=_rid())
    assert [r.label for r in repo.list_feedback("d")][2:] == [2, 3]
    rid = _rid()
    for _ in range(2):
        repo.record_batch_prediction(
            "b" * 32, model_name=None, model_version=None, model_uri="models:/churn/1",
            inputs=[], output="out.parquet", rows=1, digest=DIGEST, request_id=rid,
        )  # fmt: skip
    assert len(db.list_audit(entity_kind="batch_prediction")) == 1


def test_an_id_reused_for_another_write_is_refused(repo: SqlDeploymentRepository) -> None:
    rid = _rid()
    repo.update_deployment("d", canary_percent=5, request_id=rid)
    with pytest.raises(InvalidInput, match="already used"):
        repo.promote_deployment("d", request_id=rid)
    with pytest.raises(InvalidInput, match="already used"):
        repo.create_deployment("e", "models:/churn/1", request_id=rid)
    with pytest.raises(InvalidInput, match="request id"):
        repo.promote_deployment("d", request_id="x" * 65)
    assert repo.get_deployment("d").canary_version == 2  # neither applied


def test_refused_and_empty_writes_leave_no_id(repo: SqlDeploymentRepository, db: Database) -> None:
    before = _claims(db)
    with pytest.raises(InvalidState):  # rolled back with its claim
        repo.rollback_deployment("d", request_id=_rid())
    repo.update_deployment("d", canary_percent=None, request_id=_rid())  # nothing changes
    repo.replace_deployment("d", "models:/churn/1", canary_uri="models:/churn/2", request_id=_rid())
    assert _claims(db) == before
    rid = _rid()
    repo.promote_deployment("d", request_id=rid)
    assert _claims(db) == before + 1


def test_old_ids_expire(repo: SqlDeploymentRepository, db: Database) -> None:
    old = now_ms() - REQUEST_ID_TTL_MS - 1
    with db.engine.begin() as conn:
        conn.execute(
            insert(deployment_requests).values(
                request_id="old", action="deployment.promote", entity_id="d", applied_at=old
            )
        )
    repo.update_deployment("d", canary_percent=20, request_id=_rid())  # a claim prunes
    with db.engine.connect() as conn:
        ids = set(conn.execute(select(deployment_requests.c.request_id)).scalars())
    assert "old" not in ids
    assert repo.promote_deployment("d", request_id="old").canary_name is None  # new again


def test_pages_follow_the_sort_key(repo: SqlDeploymentRepository) -> None:
    for i in range(3):
        repo.add_prediction_log_part(
            "d", digest=DIGEST, path="p", rows=1, min_time=i, max_time=i, part_id=f"{i:032x}",
            bytes=1,
        )  # fmt: skip
    first, token = repo.page_prediction_log_parts("d", max_results=2)
    assert [p.min_time for p in first] == [0, 1]
    assert token is not None
    rest, end = repo.page_prediction_log_parts("d", max_results=2, page_token=token)
    assert ([p.min_time for p in rest], end) == ([2], None)
    repo.add_feedback("d", [("a", 1, 5), ("b", 2, 5), ("c", 3, 1)])
    labels, token = repo.page_feedback("d", max_results=2)
    assert [r.request_id for r in labels] == ["c", "a"]
    more, _ = repo.page_feedback("d", max_results=2, page_token=token)
    assert [r.request_id for r in more] == ["b"]  # the tie on time broken by insertion
    for bad in (0, MAX_PAGE + 1, True, "2"):
        with pytest.raises(InvalidInput, match="max_results"):
            repo.page_feedback("d", max_results=bad)  # type: ignore[arg-type]
    for bad_token in ("nope!", "W10", token[:-2] + "zz", "a" * 500):
        with pytest.raises(InvalidInput, match="page token") as info:
            repo.page_feedback("d", page_token=bad_token)
        assert info.value.hint
    with pytest.raises(InvalidInput, match="page token"):  # a parts token is not a labels one
        repo.page_feedback("d", page_token=repo.page_prediction_log_parts("d", max_results=1)[1])


def test_serving_0002_adds_the_request_ids_to_an_older_store(
    db: Database, settings: Settings
) -> None:
    from alembic import command

    from cycleml.store._engine import write_connection
    from cycleml.store._migrate import _config

    SqlModelRepository(db).create_registered_model("churn")
    SqlModelRepository(db).create_model_version("churn", source="s3://b/m")
    SqlDeploymentRepository(db).create_deployment("older", "models:/churn/1")
    config = _config()
    with write_connection(db.engine) as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "serving@serving_0001")
    with db.engine.connect() as conn:
        versions = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    assert "serving_0001" in versions
    assert "deployment_requests" not in inspect(db.engine).get_table_names()

    with Database(settings.metadata_uri, actor="t") as store:  # opening upgrades the branch
        assert store.schema_revisions == head_revisions()
        assert "deployment_requests" in inspect(store.engine).get_table_names()
        again = SqlDeploymentRepository(store)
        assert again.get_deployment("older").model_version == 1
        updated = again.update_deployment("older", description="new", request_id=_rid())
        assert updated.revision == 2
