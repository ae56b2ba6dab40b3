"""cycleml's data API (/api/v1/datasets) over real HTTP, and Datasets against a server.

The repository suite (tests/data/test_dataset_repository.py) runs whole through the REST
backend; these tests are about HTTP itself: status codes, the one error shape, missing
datasets, versions and aliases, bad input (which writes nothing), retries, OpenAPI, and
``Datasets`` pointed at a server by an http tracking URI, sharing a local artifact store
with it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from cycleml.data import Datasets, RestDatasetRepository, SqlDatasetRepository
from cycleml.errors import InvalidInput, NotFound
from cycleml.settings import Settings
from cycleml.store import Database
from server.test_registry_api import _error, _LoseFirstAnswer

API = "/api/v1"
TableCounts = Callable[[], dict[str, int]]
STAMP = {"type": "timestamp", "value": "2026-11-03T12:30:00+00:00"}


def _body(digest: str = "1" * 64, **fields: Any) -> dict[str, Any]:
    return {
        "digest": digest,
        "schema": [{"name": "x", "type": "double", "nullable": True}],
        "parts": [{"digest": "a" * 64, "row_count": 10, "bytes": 1000}],
        "source": {"kind": "frame"},
        **fields,
    }


def test_dataset_routes_answer_with_their_status_codes(api: httpx.Client) -> None:
    body = _body(watermark_column="ts", watermark_value=STAMP, source_identity="file:/a.csv")
    created = api.post("/datasets/points/versions", json=body)
    assert created.status_code == 201
    assert created.json()["created"] is True
    version = created.json()["version"]
    assert (version["version"], version["uri"], version["row_count"]) == (
        1,
        "datasets:/points/1",
        10,
    )
    assert version["watermark_value"] == STAMP  # typed, as sent
    again = api.post("/datasets/points/versions", json=body)  # the same digest: the same version
    assert (again.status_code, again.json()) == (200, {"created": False, "version": version})

    assert api.get("/datasets/points/versions/1").json() == version
    assert api.get("/datasets/points/versions/latest").json() == version
    grown = api.post("/datasets/points/versions", json=_body("2" * 64, parent_version=1))
    assert grown.json()["version"]["parent_version"] == 1
    assert api.get("/datasets/points/versions/latest").json()["version"] == 2
    listed = api.get("/datasets/points/versions").json()["versions"]
    assert [v["version"] for v in listed] == [1, 2]
    assert [d["version"] for d in api.get("/datasets").json()["datasets"]] == [2]

    aliased = api.put("/datasets/points/aliases/train", json={"version": 1})
    assert (aliased.status_code, aliased.json()["tags"]) == (200, ["train"])
    found = api.get("/resolve/dataset-uri", params={"uri": "datasets:/points@train"})
    assert (found.status_code, found.json()["version"]) == (200, 1)
    moved = api.put("/datasets/points/aliases/train", json={"version": 2})
    assert moved.json()["tags"] == ["train"]
    assert api.get("/datasets/points/versions/1").json()["tags"] == []


def test_missing_datasets_versions_and_aliases_are_404(api: httpx.Client) -> None:
    assert "nope" in _error(api.get("/datasets/nope/versions"), 404, "not_found")["message"]
    _error(api.get("/datasets/nope/versions/latest"), 404, "not_found")
    api.post("/datasets/points/versions", json=_body())
    message = _error(api.get("/datasets/points/versions/9"), 404, "not_found")["message"]
    assert "no version 9" in message
    _error(api.put("/datasets/points/aliases/train", json={"version": 9}), 404, "not_found")
    for uri in ("datasets:/points@prod", "datasets:/nope/1", "datasets:/points/7"):
        _error(api.get("/resolve/dataset-uri", params={"uri": uri}), 404, "not_found")
    _error(api.delete("/datasets/points/versions/1"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("/datasets/a b/versions", _body(), "dataset name"),
        ("/datasets/points/versions", _body(digest=7), "digest"),
        ("/datasets/points/versions", _body(unknown=1), "unknown"),
        ("/datasets/points/versions", {"digest": "1" * 64}, "parts"),
        ("/datasets/points/versions", _body(parts=[{"digest": "a", "row_count": "10"}]), "parts"),
        ("/datasets/points/versions", _body(parent_version="1"), "parent_version"),
        ("/datasets/points/versions", _body(parent_version=2**31), "parent_version"),
        (
            "/datasets/points/versions",
            _body(parts=[{"digest": "a" * 64, "row_count": -1, "bytes": 0}]),
            "parts",
        ),
        ("/datasets/points/versions", _body(edges=[["run", "r", "produced"]]), "edges"),
        (
            "/datasets/points/versions",
            _body(watermark_value={"type": "colour", "value": "red"}),
            "watermark type 'colour'",
        ),
        (
            "/datasets/points/versions",
            _body(watermark_value={"type": "timestamp", "value": "yesterday"}),
            "timestamp watermark",
        ),
        (
            "/datasets/points/versions",
            _body(watermark_value={"type": "int", "value": "12"}),
            "int watermark",
        ),
    ],
)
def test_bad_versions_are_400_and_write_nothing(
    api: httpx.Client, table_counts: TableCounts, path: str, body: Any, says: str
) -> None:
    before = table_counts()
    assert says in _error(api.post(path, json=body), 400, "invalid_input")["message"]
    assert table_counts() == before


def test_bad_reads_and_aliases_are_400_and_write_nothing(
    api: httpx.Client, table_counts: TableCounts
) -> None:
    api.post("/datasets/points/versions", json=_body())
    before = table_counts()
    not_json = api.post(
        "/datasets/points/versions",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    _error(not_json, 400, "invalid_input")
    for version in ("abc", "1.5", "newest", str(2**31)):  # beyond what a version can be
        _error(api.get(f"/datasets/points/versions/{version}"), 400, "invalid_input")
    for alias in ("latest", "has space"):
        answer = api.put(f"/datasets/points/aliases/{alias}", json={"version": 1})
        assert "dataset tag" in _error(answer, 400, "invalid_input")["message"]
    for body in ({}, {"version": "1"}, {"version": 2**31}, {"version": 1, "extra": True}):
        _error(api.put("/datasets/points/aliases/train", json=body), 400, "invalid_input")
    for uri in ("runs:/x", "datasets:/points/abc"):
        _error(api.get("/resolve/dataset-uri", params={"uri": uri}), 400, "invalid_input")
    assert table_counts() == before


def test_errors_come_back_as_their_class(team_server: str) -> None:
    with RestDatasetRepository(team_server, backoff=0.01) as repo:
        with pytest.raises(NotFound, match="nope") as missing:
            repo.get_dataset_version("nope")
        assert len(missing.value.details["request_id"]) == 32
        with pytest.raises(InvalidInput, match="dataset name"):
            repo.list_dataset_versions("a/b")  # refused before it is sent
        with pytest.raises(InvalidInput, match="dataset version"):
            repo.get_dataset_version("points", "2")  # type: ignore[arg-type]
        assert repr(repo) == f"RestDatasetRepository({team_server!r})"


def test_a_lost_create_answer_is_retried_and_written_once(team_server: str, db: Database) -> None:
    transport = _LoseFirstAnswer("/versions")
    with RestDatasetRepository(team_server, transport=transport, backoff=0.01) as repo:
        version, created = repo.create_dataset_version(
            "points", digest="1" * 64, schema=[], parts=[], source={"kind": "frame"}
        )
    assert transport.sent == 2  # the retry finds the digest recorded: the same version
    assert (version.version, created) == (1, False)
    assert [v.version for v in SqlDatasetRepository(db).list_dataset_versions("points")] == [1]
    assert len(db.list_audit(action="dataset_version.create")) == 1


def test_openapi_documents_every_dataset_route(team_server: str) -> None:
    document = httpx.get(f"{team_server}/openapi.json").json()
    ours = {
        path: ops
        for path, ops in document["paths"].items()
        if path.startswith((f"{API}/datasets", f"{API}/resolve/dataset-uri"))
    }
    assert {path: set(ops) for path, ops in ours.items()} == {
        f"{API}/datasets": {"get"},
        f"{API}/datasets/{{name}}/versions": {"get", "post"},
        f"{API}/datasets/{{name}}/versions/{{version}}": {"get"},
        f"{API}/datasets/{{name}}/aliases/{{alias}}": {"put"},
        f"{API}/resolve/dataset-uri": {"get"},
    }
    for ops in ours.values():
        for op in ops.values():
            assert op["summary"]
            assert op["operationId"].startswith("datasets_")
            assert op["tags"] == ["datasets"]
    create = ours[f"{API}/datasets/{{name}}/versions"]["post"]
    assert {"200", "201", "400"} <= set(create["responses"])
    assert "422" not in create["responses"]


def test_datasets_with_an_http_tracking_uri_use_the_server(
    settings: Settings, team_server: str, db: Database, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.csv").write_text("id,ts,x\n1,2026-11-01T00:00:00Z,0.5\n2,2026-11-02T00:00:00Z,1.5\n")
    # The client and the server share the settings' local artifact store.
    remote = dataclasses.replace(settings, tracking_uri=team_server)
    datasets = Datasets(remote)
    try:
        assert isinstance(datasets.repository, RestDatasetRepository)
        first = datasets.ingest("flowers", raw / "*.csv", watermark="ts", aliases=["train"])
        assert (first.created, first.version.version, first.version.row_count) == (True, 1, 2)
        assert first.version.watermark_value == dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
        assert datasets.ingest("flowers", raw / "*.csv", watermark="ts").created is False

        (raw / "b.csv").write_text("id,ts,x\n3,2026-11-03T00:00:00Z,2.5\n")
        grown = datasets.ingest("flowers", raw / "*.csv", mode="append")
        assert (grown.version.version, grown.version.parent_version) == (2, 1)
        assert grown.rows_read == 1  # only the new file, after the typed watermark
        assert grown.version.watermark_value == dt.datetime(2026, 11, 3, tzinfo=dt.UTC)

        table = datasets.load("datasets:/flowers/latest")
        assert table.column("id").to_pylist() == [1, 2, 3]
        assert datasets.load("datasets:/flowers@train").num_rows == 2
        assert [v.version for v in datasets.list_versions("flowers")] == [1, 2]
        assert [d.name for d in datasets.list()] == ["flowers"]
    finally:
        datasets.close()
    # Written through the server into the shared store, with its audit rows and lineage.
    stored = SqlDatasetRepository(db).get_dataset_version("flowers")
    assert stored == grown.version
    assert [r.action for r in db.list_audit(entity_id="flowers/2")] == ["dataset_version.create"]
    graph = db.walk_lineage("dataset_version", "flowers/2", direction="upstream")
    assert ("dataset_version", "flowers/1", "parent_of") in {
        (e.src_kind, e.src_id, e.relation) for e in graph.edges
    }
