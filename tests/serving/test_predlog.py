"""The prediction log: background Parquet parts, no lost rows, reading windows back.

Runs on SQLite and PostgreSQL with real files (and a memory:// artifact store once).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from cycleml.errors import InvalidInput, InvalidState, NotFound, StoreError
from cycleml.registry import ModelRepository
from cycleml.serving import DeploymentRepository
from cycleml.serving._predlog import (
    PREDICTION_LOG_SCHEMA,
    PredictionLogger,
    prediction_log,
    to_json,
    to_ms,
)
from cycleml.settings import Settings
from cycleml.store import ArtifactStore, Blob, Database

T0 = 1_764_000_000_000  # 2025-11-24T16:00:00Z in ms


@pytest.fixture
def deployed(
    db: Database, model_repo: ModelRepository, deployment_repo: DeploymentRepository
) -> DeploymentRepository:
    """A deployment ``churn`` serving ``churn/1`` with the canary ``churn/2``."""
    model_repo.create_registered_model("churn")
    model_repo.create_model_version("churn", source="s3://b/1")
    model_repo.create_model_version("churn", source="s3://b/2")
    deployment_repo.create_deployment(
        "churn", "models:/churn/1", canary_uri="models:/churn/2", canary_percent=10
    )
    return deployment_repo


@pytest.fixture
def logger(settings: Settings, deployed: DeploymentRepository) -> Iterator[PredictionLogger]:
    opened = PredictionLogger(settings, "churn", max_rows=1_000, max_delay_s=60)
    yield opened
    opened.close()


def _rows(
    n: int, *, start: int = 0, at: int | None = None, arm: str = "primary"
) -> list[dict[str, Any]]:
    return [
        {
            "request_id": f"req-{start + i}",
            "time": T0 + start + i if at is None else at,
            "model_name": "churn",
            "model_version": 2 if arm == "canary" else 1,
            "arm": arm,
            "inputs": {"tenure": start + i, "plan": "basic"},
            "outputs": {"prediction": (start + i) % 2, "probabilities": [0.4, 0.6]},
            "latency_ms": 1.5,
        }
        for i in range(n)
    ]


def test_three_threads_30k_rows_none_lost(
    settings: Settings, deployed: DeploymentRepository
) -> None:
    logger = PredictionLogger(settings, "churn", max_rows=4_096, max_delay_s=0.05)
    errors: list[BaseException] = []

    def produce(thread: int) -> None:
        try:
            for batch in range(100):
                start = thread * 10_000 + batch * 100
                logger.log(_rows(100, start=start))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=produce, args=(i,)) for i in range(3)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    logging_s = time.perf_counter() - started
    logger.close()
    assert errors == []
    assert logger.pending_rows == 0
    assert logger.rows_written == 30_000

    table = prediction_log("churn", settings=settings)
    assert table.schema == PREDICTION_LOG_SCHEMA
    assert table.num_rows == 30_000
    assert len(set(table.column("request_id").to_pylist())) == 30_000
    assert set(table.column("deployment").to_pylist()) == {"churn"}
    assert table.column("time").to_pylist() == sorted(table.column("time").to_pylist())
    first = table.slice(0, 1).to_pylist()[0]
    assert first["request_id"] == "req-0"
    assert first["time"] == datetime.fromtimestamp(T0 / 1000, tz=UTC)
    assert (first["model_name"], first["model_version"], first["arm"]) == ("churn", 1, "primary")
    assert json.loads(first["inputs"]) == {"tenure": 0, "plan": "basic"}
    assert json.loads(first["outputs"]) == {"prediction": 0, "probabilities": [0.4, 0.6]}
    assert first["latency_ms"] == 1.5

    parts = deployed.list_prediction_log_parts("churn")
    assert sum(p.rows for p in parts) == 30_000
    assert all(p.rows <= 4_096 for p in parts)
    assert all(p.model_versions == ("churn/1",) for p in parts)
    assert len(parts) >= 8
    assert logging_s < 30  # log() only queues


def test_background_writes_after_max_delay(
    settings: Settings, deployed: DeploymentRepository
) -> None:
    fast = PredictionLogger(settings, "churn", max_rows=1_000_000, max_delay_s=0.05)
    try:
        fast.log(_rows(10))
        deadline = time.monotonic() + 10
        while fast.pending_rows and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fast.pending_rows == 0
        assert prediction_log("churn", settings=settings).num_rows == 10
    finally:
        fast.close()


def test_background_writes_at_max_rows(settings: Settings, deployed: DeploymentRepository) -> None:
    with PredictionLogger(settings, "churn", max_rows=50, max_delay_s=3600) as logger:
        logger.log(_rows(120))
        deadline = time.monotonic() + 10
        while logger.pending_rows and time.monotonic() < deadline:
            time.sleep(0.01)
        assert logger.pending_rows == 0  # written without waiting an hour
        assert [p.rows for p in deployed.list_prediction_log_parts("churn")] == [50, 50, 20]


def test_close_writes_what_is_pending(logger: PredictionLogger, settings: Settings) -> None:
    logger.log(_rows(7))
    assert logger.pending_rows == 7
    assert prediction_log("churn", settings=settings).num_rows == 0
    logger.close()
    logger.close()  # idempotent
    assert logger.closed
    assert prediction_log("churn", settings=settings).num_rows == 7
    with pytest.raises(InvalidState, match="closed"):
        logger.log(_rows(1))


def test_time_window(logger: PredictionLogger, settings: Settings) -> None:
    logger.log(_rows(10, start=0))  # T0 .. T0+9
    logger.flush()
    logger.log(_rows(10, start=1_000))  # T0+1000 .. T0+1009, another part
    logger.flush()
    assert len(logger.parts) == 2

    def ids(**window: Any) -> list[str]:
        got = prediction_log("churn", settings=settings, **window)
        return got.column("request_id").to_pylist()

    assert len(ids()) == 20
    assert ids(since=T0 + 5, until=T0 + 8) == ["req-5", "req-6", "req-7"]  # [since, until)
    assert ids(since=T0 + 1_005) == [f"req-{i}" for i in range(1_005, 1_010)]
    assert ids(until=T0 + 2) == ["req-0", "req-1"]
    as_datetime = datetime.fromtimestamp((T0 + 1_000) / 1000, tz=UTC)
    assert len(ids(since=as_datetime)) == 10
    assert len(ids(since=as_datetime.replace(tzinfo=None))) == 10  # naive means UTC
    assert len(ids(since=as_datetime.isoformat().replace("+00:00", "Z"))) == 10
    assert ids(since=T0 + 100, until=T0 + 200) == []
    assert len(ids(since=timedelta(days=365 * 100))) == 20
    assert ids(since=timedelta(0)) == []
    with pytest.raises(InvalidInput, match="starts after it ends"):
        ids(since=T0 + 10, until=T0)
    with pytest.raises(InvalidInput, match="ISO-8601"):
        ids(since="yesterday")


def test_shadow_rows_only_on_request(logger: PredictionLogger, settings: Settings) -> None:
    logger.log(_rows(3, arm="primary") + _rows(2, start=3, arm="canary"))
    logger.log(_rows(4, start=5, arm="shadow"))
    logger.close()
    live = prediction_log("churn", settings=settings)
    assert live.column("arm").to_pylist() == ["primary"] * 3 + ["canary"] * 2
    everything = prediction_log("churn", settings=settings, include_shadow=True)
    assert everything.num_rows == 9
    assert logger.parts[0].model_versions == ("churn/1", "churn/2")


def test_empty_and_unknown(
    settings: Settings, deployed: DeploymentRepository, logger: PredictionLogger
) -> None:
    empty = prediction_log("churn", settings=settings)
    assert empty.num_rows == 0
    assert empty.schema == PREDICTION_LOG_SCHEMA
    with pytest.raises(NotFound, match="nope"):
        prediction_log("nope", settings=settings)
    with pytest.raises(NotFound, match="nope"):
        PredictionLogger(settings, "nope")
    logger.log([])
    assert logger.pending_rows == 0
    assert logger.flush() == 0


def test_bad_rows_queue_nothing(logger: PredictionLogger) -> None:
    good = _rows(1)[0]
    bad: list[Any] = [
        [good, {**good, "request_id": None}],
        [good, {**good, "request_id": ""}],
        [{**good, "arm": "blue"}],
        [{**good, "model_version": "one"}],
        [{**good, "model_version": True}],
        [{**good, "time": "soon"}],
        [{**good, "latency_ms": "fast"}],
        [{**good, "deployment": "other"}],
        [{**good, "surprise": 1}],
        [3],
        "not rows",
        pa.table({"x": [1]}),
        pa.table({"request_id": ["a", None]}),
        pa.table({"request_id": ["a"], "arm": ["blue"]}),
        pa.table({"request_id": ["a"], "model_version": ["x"]}),
    ]
    for rows in bad:
        with pytest.raises(InvalidInput):
            logger.log(rows)
    assert logger.pending_rows == 0


def test_arrow_rows_and_defaults(logger: PredictionLogger, settings: Settings) -> None:
    before = int(time.time() * 1000)
    logger.log(
        pa.table(
            {
                "request_id": pa.array([1, 2, 3]),
                "time": pa.array(
                    [datetime(2026, 1, 1, 12, 0, 0), None, datetime(2026, 1, 1, 12, 0, 1)],
                    pa.timestamp("ns"),
                ),
                "model_name": ["churn"] * 3,
                "model_version": pa.array([1, 1, None], pa.int32()),
                "inputs": pa.array([{"a": 1}, {"a": 2}, {"a": None}]),
                "outputs": ['{"prediction": 1}', None, '{"prediction": 0}'],
            }
        )
    )
    logger.log([{"request_id": "only-an-id"}])
    logger.close()
    table = prediction_log("churn", settings=settings).to_pylist()
    by_id = {row["request_id"]: row for row in table}
    assert by_id["1"]["time"] == datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert by_id["2"]["time"].timestamp() * 1000 >= before  # a missing time means now
    assert json.loads(by_id["1"]["inputs"]) == {"a": 1}
    assert json.loads(by_id["3"]["inputs"]) == {"a": None}
    assert by_id["3"]["model_version"] is None
    assert {row["arm"] for row in table} == {"primary"}
    assert by_id["only-an-id"]["model_name"] is None
    assert by_id["only-an-id"]["inputs"] is None
    assert logger.parts[0].model_versions == ("churn", "churn/1")


def test_inputs_of_any_type_become_json() -> None:
    value = {
        "n": np.int64(3),
        "x": np.float32(0.5),
        "arr": np.array([1, 2]),
        "when": datetime(2026, 1, 2, 3, 4, 5),
        "nan": float("nan"),
        "inf": np.float64("inf"),
        "raw": b"\x00\x01",
        "tags": {"a"},
    }
    decoded = json.loads(to_json(value))
    assert decoded == {
        "n": 3,
        "x": 0.5,
        "arr": [1, 2],
        "when": "2026-01-02T03:04:05",
        "nan": None,
        "inf": None,
        "raw": "AAE=",
        "tags": ["a"],
    }
    assert to_ms(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)) == 1000
    assert to_ms(np.datetime64("1970-01-01T00:00:02")) == 2000
    with pytest.raises(InvalidInput):
        to_ms(True)
    with pytest.raises(InvalidInput):
        to_ms(object())


def test_failed_write_is_retried_and_loses_nothing(
    logger: PredictionLogger, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ArtifactStore.put_bytes
    failures = {"left": 1}

    def flaky(self: ArtifactStore, data: bytes) -> Blob:
        if failures["left"]:
            failures["left"] -= 1
            raise StoreError("The artifact store could not write blob: disk full.")
        return real(self, data)

    monkeypatch.setattr(ArtifactStore, "put_bytes", flaky)
    logger.log(_rows(900))  # below max_rows, and max_delay_s=60: only flush() writes
    with pytest.raises(StoreError, match="disk full"):
        logger.flush()
    assert logger.pending_rows == 900
    assert isinstance(logger.last_error, StoreError)
    logger.log(_rows(10, start=900))
    assert logger.flush() == 910
    assert logger.last_error is None
    assert logger.pending_rows == 0
    table = prediction_log("churn", settings=settings)
    assert sorted(table.column("request_id").to_pylist()) == sorted(f"req-{i}" for i in range(910))


def test_background_retry_after_failures(
    settings: Settings,
    deployed: DeploymentRepository,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = PredictionLogger(settings, "churn", max_rows=100, max_delay_s=0.02)
    real = logger.repository.add_prediction_log_part
    calls = {"n": 0}

    def flaky(deployment: str, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise OSError("connection reset")
        return real(deployment, **kwargs)

    monkeypatch.setattr(logger.repository, "add_prediction_log_part", flaky)
    logger.log(_rows(250))
    deadline = time.monotonic() + 20
    while logger.pending_rows and time.monotonic() < deadline:
        time.sleep(0.01)
    assert logger.pending_rows == 0
    logger.close()
    assert calls["n"] >= 5  # 2 failures, then 3 parts
    assert "connection reset" in caplog.text
    assert prediction_log("churn", settings=settings).num_rows == 250


def test_lost_acknowledgement_does_not_duplicate_rows(
    logger: PredictionLogger, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = logger.repository.add_prediction_log_part
    calls = {"n": 0}

    def committed_then_failed(deployment: str, **kwargs: Any) -> Any:
        calls["n"] += 1
        stored = real(deployment, **kwargs)
        if calls["n"] == 1:
            raise StoreError("connection lost after commit")
        return stored

    monkeypatch.setattr(logger.repository, "add_prediction_log_part", committed_then_failed)
    logger.log(_rows(20))
    with pytest.raises(StoreError):
        logger.flush()
    logger.flush()  # the same part id again: indexed once
    assert prediction_log("churn", settings=settings).num_rows == 20
    assert len(logger.repository.list_prediction_log_parts("churn")) == 1


def test_parts_have_lineage_and_audit(
    logger: PredictionLogger, deployed: DeploymentRepository, db: Database
) -> None:
    logger.log(_rows(5))
    logger.flush()
    [part] = logger.parts
    assert part.path.startswith("predictions/churn/date=2025-11-24/part-")
    assert part.path.endswith(".parquet")
    assert (part.min_time, part.max_time, part.rows) == (T0, T0 + 4, 5)
    graph = db.walk_lineage("model_version", "churn/1", direction="downstream")
    assert ("prediction_log", part.id) in graph.depth
    [audit] = db.list_audit(action="deployment.log_predictions")
    assert audit.payload["rows"] == 5


def test_memory_artifact_store(settings: Settings, deployed: DeploymentRepository) -> None:
    remote = replace(settings, artifact_uri=f"memory://predlog-{uuid.uuid4().hex}")
    with PredictionLogger(remote, "churn", max_rows=10) as logger:
        logger.log(_rows(25))
    table = prediction_log("churn", settings=remote, since=T0 + 5, until=T0 + 20)
    assert table.column("request_id").to_pylist() == [f"req-{i}" for i in range(5, 20)]
    assert table.schema == PREDICTION_LOG_SCHEMA


def test_bad_options(settings: Settings, deployed: DeploymentRepository) -> None:
    for options in ({"max_rows": 0}, {"max_rows": 1.5}, {"max_delay_s": 0}, {"max_delay_s": -1}):
        with pytest.raises(InvalidInput):
            PredictionLogger(settings, "churn", **options)
