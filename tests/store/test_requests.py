"""The kernel's request-id claim (:class:`cycleml.store.RequestLog`) on SQLite and PostgreSQL.

The claim runs on a table of the test's own, as a stage hands the kernel its table: a new
id is claimed, a committed one comes back with what was settled, a rolled-back one is
forgotten, a reused one is refused, and ids expire after :data:`REQUEST_ID_TTL_MS`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import JSON, BigInteger, Column, Index, MetaData, String, Table, select

from cycleml.errors import InvalidInput
from cycleml.store import REQUEST_ID_TTL_MS, Database, RequestLog

STAMP = 1_700_000_000_000


@pytest.fixture
def log(db: Database) -> Iterator[RequestLog]:
    """A request log on a fresh table shaped as the stages' are, with an answer column."""
    metadata = MetaData()
    table = Table(
        f"test_requests_{uuid.uuid4().hex[:12]}",
        metadata,
        Column("request_id", String(64), primary_key=True),
        Column("action", String(32), nullable=False),
        Column("subject_id", String(256), nullable=False),
        Column("answer", JSON, nullable=True),
        Column("applied_at", BigInteger, nullable=False),
        Index(None, "applied_at"),
    )
    metadata.create_all(db.engine)
    try:
        yield RequestLog(table, entity="subject_id")
    finally:
        metadata.drop_all(db.engine)


def _ids(db: Database, log: RequestLog) -> list[str]:
    with db.read() as conn:
        return list(conn.execute(select(log.table.c.request_id)).scalars())


def test_a_new_id_is_claimed_and_a_retry_gets_the_settled_answer(
    db: Database, log: RequestLog
) -> None:
    def write(conn: Any) -> Any:
        seen = log.claim(conn, "req-1", "thing.create", "a", STAMP)
        if seen is None:
            log.settle(conn, "req-1", answer={"made": "a"})
        return seen

    assert db.write(write) is None
    retry = db.write(write)
    assert retry is not None
    assert (retry.action, retry.subject_id, retry.answer) == ("thing.create", "a", {"made": "a"})
    assert _ids(db, log) == ["req-1"]
    with db.read() as conn:
        assert log.seen(conn, "req-1", "thing.create", "a").answer == {"made": "a"}
        assert log.seen(conn, "req-2", "thing.create", "a") is None


def test_a_rolled_back_write_forgets_its_claim(db: Database, log: RequestLog) -> None:
    def failing(conn: Any) -> None:
        assert log.claim(conn, "req-1", "thing.create", "a", STAMP) is None
        raise RuntimeError("the write failed after its claim")

    with pytest.raises(RuntimeError):
        db.write(failing)
    assert _ids(db, log) == []
    assert db.write(lambda conn: log.claim(conn, "req-1", "thing.create", "a", STAMP)) is None


@pytest.mark.parametrize(("action", "entity"), [("thing.delete", "a"), ("thing.create", "b")])
def test_an_id_reused_for_another_action_or_entity_is_refused(
    db: Database, log: RequestLog, action: str, entity: str
) -> None:
    db.write(lambda conn: log.claim(conn, "req-1", "thing.create", "a", STAMP))
    with pytest.raises(InvalidInput, match=r"already used for thing\.create of 'a'") as caught:
        db.write(lambda conn: log.claim(conn, "req-1", action, entity, STAMP))
    assert caught.value.status_code == 400
    with db.read() as conn, pytest.raises(InvalidInput, match="already used"):
        log.seen(conn, "req-1", action, entity)


def test_a_stage_says_which_remembered_claims_are_the_same_request(
    db: Database, log: RequestLog
) -> None:
    def same_model(row: Any, action: str, entity_id: str) -> bool:
        return bool(row.action == action and row.subject_id.split("/")[0] == entity_id)

    db.write(lambda conn: log.claim(conn, "req-1", "version.create", "m", STAMP))
    db.write(lambda conn: log.settle(conn, "req-1", subject_id="m/3"))
    retry = db.write(
        lambda conn: log.claim(conn, "req-1", "version.create", "m", STAMP, same=same_model)
    )
    assert retry.subject_id == "m/3"
    with pytest.raises(InvalidInput, match=r"already used for version\.create of 'm/3'"):
        db.write(
            lambda conn: log.claim(conn, "req-1", "version.create", "n", STAMP, same=same_model)
        )


def test_ids_expire_after_a_day(db: Database, log: RequestLog) -> None:
    db.write(lambda conn: log.claim(conn, "old", "thing.create", "a", STAMP))
    db.write(lambda conn: log.claim(conn, "kept", "thing.create", "a", STAMP + 1))
    later = STAMP + REQUEST_ID_TTL_MS + 1
    # A day on, the old id is gone: reusing it for anything is a new request.
    assert db.write(lambda conn: log.claim(conn, "old", "thing.delete", "b", later)) is None
    assert sorted(_ids(db, log)) == ["kept", "old"]
    with db.read() as conn:
        assert log.seen(conn, "old", "thing.delete", "b") is not None


@pytest.mark.parametrize("request_id", ["", "x" * 65, None, 7])
def test_a_malformed_id_is_bad_input_and_claims_nothing(
    db: Database, log: RequestLog, request_id: Any
) -> None:
    with pytest.raises(InvalidInput, match="Invalid request id") as caught:
        db.write(lambda conn: log.claim(conn, request_id, "thing.create", "a", STAMP))
    assert caught.value.status_code == 400
    assert _ids(db, log) == []


def test_settle_without_an_id_writes_nothing(db: Database, log: RequestLog) -> None:
    db.write(lambda conn: log.claim(conn, "req-1", "thing.create", "a", STAMP))
    db.write(lambda conn: log.settle(conn, None, answer={"x": 1}))
    with db.read() as conn:
        assert log.seen(conn, "req-1", "thing.create", "a").answer is None
