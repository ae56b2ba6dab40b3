"""Idempotent registry writes by request id (registry_0002's ``model_requests``).

A retried request whose first attempt committed is not applied again: creating a model or a
version and changing a stage return what the first attempt made, an id reused for another
write is refused, and a rolled-back attempt leaves no id behind.
"""

from __future__ import annotations

import uuid

import pytest

from cycleml.errors import AlreadyExists, InvalidInput
from cycleml.registry import SqlModelRepository
from cycleml.store import Database


def _rid() -> str:
    return uuid.uuid4().hex


def test_creating_a_model_twice_with_one_id_returns_it(db: Database) -> None:
    repo = SqlModelRepository(db)
    rid = _rid()
    first = repo.create_registered_model("churn", tags={"a": "b"}, request_id=rid)
    assert repo.create_registered_model("churn", tags={"a": "b"}, request_id=rid) == first
    with pytest.raises(AlreadyExists):  # a new request is a new creation
        repo.create_registered_model("churn", request_id=_rid())
    assert len(db.list_audit(action="model.create", entity_id="churn")) == 1


def test_a_version_is_created_once_per_id(db: Database) -> None:
    repo = SqlModelRepository(db)
    repo.create_registered_model("churn")
    rid = _rid()
    first = repo.create_model_version("churn", source="s3://b/m", request_id=rid)
    again = repo.create_model_version("churn", source="s3://b/m", request_id=rid)
    assert again == first
    assert repo.create_model_version("churn", source="s3://b/m", request_id=_rid()).version == 2
    assert [v.version for v in repo.list_model_versions("churn")] == [1, 2]


def test_a_stage_change_is_applied_once_per_id(db: Database) -> None:
    repo = SqlModelRepository(db)
    repo.create_registered_model("churn")
    repo.create_model_version("churn", source="s3://b/m")
    rid = _rid()
    moved = repo.transition_stage("churn", 1, to_stage="Staging", request_id=rid)
    assert repo.transition_stage("churn", 1, to_stage="Staging", request_id=rid) == moved
    assert len(repo.get_stage_history("churn", 1)) == 1


def test_an_id_reused_for_another_write_is_refused(db: Database) -> None:
    repo = SqlModelRepository(db)
    rid = _rid()
    repo.create_registered_model("churn", request_id=rid)
    with pytest.raises(InvalidInput, match="already used"):
        repo.create_registered_model("other", request_id=rid)
    with pytest.raises(InvalidInput, match="already used"):
        repo.create_model_version("churn", source="s3://b/m", request_id=rid)
    with pytest.raises(InvalidInput, match="request id"):
        repo.create_registered_model("third", request_id="x" * 65)
    assert [m.name for m in repo.list_registered_models()] == ["churn"]


def test_a_refused_write_leaves_no_id(db: Database) -> None:
    repo = SqlModelRepository(db)
    repo.create_registered_model("churn")
    rid = _rid()
    with pytest.raises(AlreadyExists):
        repo.create_registered_model("churn", request_id=rid)
    assert repo.create_registered_model("fresh", request_id=rid).name == "fresh"
