"""cycleml's serving API (/api/v1/deployments) over real HTTP, and serving's services on it.

The repository suite (tests/serving/test_deployment_repository.py) runs whole through the
REST backend; these tests are about HTTP itself: status codes, the one error shape, missing
deployments, bad input that writes nothing, request ids applied once, lost answers retried,
pages, OpenAPI, and the services pointed at a server by an http tracking URI.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cycleml.errors import InvalidState, NotFound
from cycleml.registry import SqlModelRepository
from cycleml.serving import (
    Deployments,
    PredictionLogger,
    RestDeploymentRepository,
    SqlDeploymentRepository,
    feedback,
    prediction_log,
    record_feedback,
)
from cycleml.settings import Settings
from cycleml.store import Database
from server.test_registry_api import _error, _LoseFirstAnswer

API = "/api/v1"
DIGEST = "d" * 64
TableCounts = Callable[[], dict[str, int]]


@pytest.fixture
def models(db: Database) -> None:
    """``churn`` versions 1-3 (``@champion`` -> 1)."""
    registry = SqlModelRepository(db)
    registry.create_registered_model("churn")
    for i in range(3):
        registry.create_model_version("churn", source=f"s3://bucket/churn/{i + 1}")
    registry.set_alias("churn", 1, "champion")


@pytest.fixture
def deployed(models: None, api: httpx.Client) -> str:
    """Deployment ``d``: ``churn@champion`` with ``churn/2`` as a 10 % canary."""
    body: dict[str, Any] = {"name": "d", "model_uri": "models:/churn@champion"}
    body |= {"canary_uri": "models:/churn/2", "canary_percent": 10}
    assert api.post("/deployments", json=body).status_code == 201
    return "d"


def _part(**change: Any) -> dict[str, Any]:
    body = {"digest": DIGEST, "path": "p", "rows": 3, "min_time": 1, "max_time": 2, "bytes": 9}
    return body | change


def test_deployment_routes_answer_with_their_status_codes(
    models: None, api: httpx.Client, db: Database
) -> None:
    body = {"name": "d", "model_uri": "models:/churn@champion", "description": "churn"}
    created = api.post("/deployments", json=body | {"canary_uri": "models:/churn/2"})
    assert created.status_code == 201
    assert (created.json()["model_version"], created.json()["revision"]) == (1, 1)
    assert api.get("/deployments/d").json() == created.json()
    assert [d["name"] for d in api.get("/deployments").json()["deployments"]] == ["d"]

    patched = api.patch("/deployments/d", json={"canary_percent": 25, "reason": "more"})
    assert (patched.status_code, patched.json()["canary_percent"]) == (200, 25.0)
    assert patched.json()["canary_version"] == 2  # left out: kept
    promoted = api.post("/deployments/d/promote", json={"reason": "good"})
    assert (promoted.status_code, promoted.json()["model_version"]) == (200, 2)
    assert promoted.json()["canary_uri"] is None
    back = api.post("/deployments/d/rollback", json={})
    assert (back.status_code, back.json()["canary_version"], back.json()["revision"]) == (
        200,
        2,
        4,
    )
    removed = api.patch("/deployments/d", json={"canary_uri": None, "actor": "alice"})
    assert removed.json()["canary_name"] is None  # null removes the canary
    replaced = api.put("/deployments/d", json={"model_uri": "models:/churn/3"})
    assert (replaced.status_code, replaced.json()["model_version"]) == (200, 3)
    assert replaced.json()["description"] == "churn"  # PUT without a description keeps it
    made = api.put("/deployments/e", json={"model_uri": "models:/churn/1"})  # PUT creates
    assert (made.status_code, made.json()["revision"]) == (200, 1)
    revisions = api.get("/deployments/d/revisions").json()["revisions"]
    assert [r["action"] for r in revisions] == [
        "create", "update", "promote", "rollback", "update", "replace"
    ]  # fmt: skip
    assert (revisions[4]["actor"], revisions[1]["reason"]) == ("alice", "more")
    assert revisions[3]["restored_revision"] == 2

    part = api.post("/deployments/d/prediction-log", json=_part(model_versions=["churn/3"]))
    assert (part.status_code, len(part.json()["id"])) == (201, 32)
    parts = api.get("/deployments/d/prediction-log").json()
    assert (parts["parts"], parts["next_page_token"]) == ([part.json()], None)

    stored = api.post(
        "/deployments/d/feedback", json={"records": [["r1", 1, 5], ["r2", "NaN", None]]}
    )
    assert (stored.status_code, stored.json()) == (201, {"stored": 2})
    labels = api.get("/deployments/d/feedback", params={"since_ms": 5}).json()["feedback"]
    assert [(f["request_id"], f["label"]) for f in labels] == [("r1", 1), ("r2", "NaN")]

    batch = {"batch_id": "b" * 32, "model_uri": "models:/churn/3", "output": "out.parquet"}
    batch |= {"model_name": "churn", "model_version": 3, "rows": 4, "digest": DIGEST}
    recorded = api.post("/batch-predictions", json=batch | {"inputs": [["file", "in.csv"]]})
    assert (recorded.status_code, recorded.content) == (204, b"")
    assert db.list_audit(entity_kind="batch_prediction")[0].payload["rows"] == 4


def test_missing_deployments_are_404(models: None, api: httpx.Client) -> None:
    for answer in (
        api.get("/deployments/nope"),
        api.patch("/deployments/nope", json={"description": "x"}),
        api.post("/deployments/nope/promote", json={}),
        api.post("/deployments/nope/rollback", json={}),
        api.get("/deployments/nope/revisions"),
        api.get("/deployments/nope/prediction-log"),
        api.post("/deployments/nope/prediction-log", json=_part()),
        api.get("/deployments/nope/feedback"),
        api.post("/deployments/nope/feedback", json={"records": [["r1", 1, None]]}),
    ):
        assert "No deployment named 'nope'" in _error(answer, 404, "not_found")["message"]
    missing = api.post("/deployments", json={"name": "d", "model_uri": "models:/churn/9"})
    assert "version 9" in _error(missing, 404, "not_found")["message"]


def test_bad_input_is_400_and_writes_nothing(
    deployed: str, api: httpx.Client, table_counts: TableCounts
) -> None:
    before = table_counts()
    create = {"name": "e", "model_uri": "models:/churn/1"}
    canary = {"canary_uri": "models:/churn/2"}
    for answer, words in (
        (api.post("/deployments", json=create | {"name": "a b"}), "deployment name"),
        (api.post("/deployments", json=create | {"unknown": 1}), "unknown"),
        (api.post("/deployments", json={"name": "e"}), "model_uri"),
        (api.post("/deployments", json=create | {"model_uri": "churn"}), "models:/"),
        (api.post("/deployments", json=create | canary | {"canary_percent": "5"}), "0 to 100"),
        (api.post("/deployments", json=create | {"description": 3}), "description"),
        (
            api.post(
                "/deployments",
                content=b"{not json",
                headers={"Content-Type": "application/json"},
            ),
            "",
        ),
        (api.patch("/deployments/d", json={"canary_percent": 101}), "0 to 100"),
        (api.patch("/deployments/d", json={"model_uri": None}), "primary model"),
        (api.post("/deployments/d/rollback", json={"to_revision": 0}), "positive integer"),
        (api.post("/deployments/d/rollback", json={"to_revision": "x"}), "positive integer"),
        (api.post("/deployments/d/prediction-log", json=_part(digest="xyz")), "digest"),
        (api.post("/deployments/d/prediction-log", json=_part(rows=0)), "at least one row"),
        (api.post("/deployments/d/prediction-log", json=_part(part_id="no")), "part id"),
        (api.post("/deployments/d/feedback", json={"records": []}), "empty"),
        (api.post("/deployments/d/feedback", json={"records": [["r1", 1]]}), "record 0"),
        (api.post("/deployments/d/feedback", json={"records": [["r1", 1, "x"]]}), "time"),
        (api.get("/deployments/d/feedback", params={"page_token": "nope!"}), "page token"),
        (api.get("/deployments/d/prediction-log", params={"max_results": 0}), "max_results"),
        (api.get("/deployments/d/feedback", params={"since_ms": "soon"}), "since_ms"),
        (api.post("/batch-predictions", json={"batch_id": "no"}), ""),
    ):
        assert words in _error(answer, 400, "invalid_input")["message"]
    taken = api.post("/deployments", json=create | {"name": "d"})
    assert "'d'" in _error(taken, 409, "already_exists")["message"]
    api.post("/deployments/d/promote", json={})
    before = table_counts()  # promoted: no canary left
    nothing = _error(api.post("/deployments/d/promote", json={}), 409, "invalid_state")
    assert "canary" in nothing["message"]
    assert table_counts() == before


def test_a_request_id_is_applied_once(
    deployed: str, api: httpx.Client, db: Database, table_counts: TableCounts
) -> None:
    def twice(method: str, path: str, body: dict[str, Any]) -> Any:
        headers = {"X-Request-ID": uuid.uuid4().hex}
        first = api.request(method, path, json=body, headers=headers)
        counts = table_counts()
        again = api.request(method, path, json=body, headers=headers)
        assert (first.status_code, again.content) == (again.status_code, first.content)
        assert table_counts() == counts  # the replay wrote nothing
        return first.json() if first.content else None, headers

    twice("PATCH", "/deployments/d", {"canary_percent": 20})
    twice("POST", "/deployments/d/promote", {})  # a replay is not refused for no canary
    assert twice("POST", "/deployments/d/rollback", {})[0]["model_version"] == 1
    assert api.get("/deployments/d").json()["revision"] == 4  # rolled back once, not twice
    twice("PUT", "/deployments/d", {"model_uri": "models:/churn/3"})
    made, headers = twice("POST", "/deployments", {"name": "e", "model_uri": "models:/churn/1"})
    assert made["name"] == "e"
    assert twice("POST", "/deployments/d/feedback", {"records": [["r1", 1, None]]})[0] == {
        "stored": 1
    }
    batch = {"batch_id": "b" * 32, "model_uri": "models:/churn/1", "output": "o", "rows": 1}
    twice("POST", "/batch-predictions", batch | {"digest": DIGEST})
    assert len(SqlDeploymentRepository(db).list_feedback("d")) == 1
    assert len(db.list_audit(entity_kind="batch_prediction")) == 1

    misused = api.post("/deployments/d/promote", json={}, headers=headers)  # e's create id
    assert "already used" in _error(misused, 400, "invalid_input")["message"]


def test_a_lost_answer_is_retried_and_applied_once(
    deployed: str, team_server: str, db: Database
) -> None:
    for suffix in ("/deployments/d", "/promote", "/rollback", "/feedback", "/prediction-log"):
        transport = _LoseFirstAnswer(suffix)
        with RestDeploymentRepository(team_server, transport=transport, backoff=0.01) as repo:
            if suffix == "/deployments/d":
                repo.update_deployment("d", canary_percent=50)
            elif suffix == "/promote":
                assert repo.promote_deployment("d").model_version == 2
            elif suffix == "/rollback":
                assert repo.rollback_deployment("d").canary_version == 2
            elif suffix == "/feedback":
                assert repo.add_feedback("d", [("r1", 1, None), ("r2", 0, None)]) == 2
            else:
                repo.add_prediction_log_part("d", **_part())
        assert transport.sent == 2  # re-sent with the same request id (or part id)
    sql = SqlDeploymentRepository(db)
    assert [r.action for r in sql.list_deployment_revisions("d")] == [
        "create", "update", "promote", "rollback"
    ]  # fmt: skip
    assert len(sql.list_feedback("d")) == 2
    assert len(sql.list_prediction_log_parts("d")) == 1


def test_listings_come_in_pages(deployed: str, api: httpx.Client, team_server: str) -> None:
    for i in range(5):
        part = _part(min_time=10 * i, max_time=10 * i + 5, part_id=f"{i:032x}")
        assert api.post("/deployments/d/prediction-log", json=part).status_code == 201
    records = [[f"r{i}", i, 100 - i] for i in range(5)]
    api.post("/deployments/d/feedback", json={"records": records})

    def pages(path: str, key: str, **params: Any) -> list[list[Any]]:
        found, token = [], None
        while True:
            page = api.get(path, params={**params, "max_results": 2, "page_token": token})
            found.append(page.json()[key])
            token = page.json()["next_page_token"]
            if token is None:
                return found
            if path.endswith("prediction-log") and len(found) == 1:  # indexed mid-listing
                late = _part(min_time=99, max_time=99, part_id="f" * 32)
                api.post("/deployments/d/prediction-log", json=late)

    parts = pages("/deployments/d/prediction-log", "parts")
    assert [len(page) for page in parts] == [2, 2, 2]
    assert [p["min_time"] for page in parts for p in page] == [0, 10, 20, 30, 40, 99]
    labels = pages("/deployments/d/feedback", "feedback", since_ms=97)
    assert [[f["request_id"] for f in page] for page in labels] == [["r3", "r2"], ["r1", "r0"]]
    with RestDeploymentRepository(team_server) as repo:  # the client reads every page
        assert len(repo.list_prediction_log_parts("d", since_ms=16)) == 4
        assert [r.label for r in repo.list_feedback("d")] == [4, 3, 2, 1, 0]


def test_openapi_documents_every_deployment_route(team_server: str) -> None:
    document = httpx.get(f"{team_server}/openapi.json").json()
    paths = document["paths"]
    ours = {
        path: ops
        for path, ops in paths.items()
        if path.startswith((f"{API}/deployments", f"{API}/batch-predictions"))
    }
    expected = {
        f"{API}/deployments": {"get", "post"},
        f"{API}/deployments/{{name}}": {"get", "put", "patch"},
        f"{API}/deployments/{{name}}/promote": {"post"},
        f"{API}/deployments/{{name}}/rollback": {"post"},
        f"{API}/deployments/{{name}}/revisions": {"get"},
        f"{API}/deployments/{{name}}/prediction-log": {"get", "post"},
        f"{API}/deployments/{{name}}/feedback": {"get", "post"},
        f"{API}/batch-predictions": {"post"},
    }
    assert {path: set(ops) for path, ops in ours.items()} == expected
    for ops in ours.values():
        for op in ops.values():
            assert op["summary"]
            assert op["operationId"].startswith("deployments_")
            assert op["tags"] == ["deployments"]
            if op.get("parameters") or op.get("requestBody"):  # bad input: cycleml's 400
                assert "400" in op["responses"]
    listing = paths[f"{API}/deployments/{{name}}/feedback"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"max_results", "page_token"}


def test_services_with_an_http_tracking_uri_use_the_server(
    deployed: str, settings: Settings, team_server: str, db: Database
) -> None:
    remote = dataclasses.replace(settings, tracking_uri=team_server)
    service = Deployments(remote)
    try:
        assert isinstance(service.repository, RestDeploymentRepository)
        assert [d.name for d in service.list()] == ["d"]
        assert service.promote("d", "looks good").model_version == 2
        with pytest.raises(InvalidState):
            service.promote("d")
        assert service.rollback("d").canary_version == 2
        with pytest.raises(NotFound):
            service.get("nope")
    finally:
        service.close()

    with PredictionLogger(remote, "d", max_delay_s=60) as logger:
        assert isinstance(logger.repository, RestDeploymentRepository)
        logger.log([{"request_id": "r1", "time": 1_000}, {"request_id": "r2", "time": 2_000}])
    assert prediction_log("d", settings=remote).column("request_id").to_pylist() == ["r1", "r2"]
    recorded = record_feedback("d", [{"request_id": "r1", "label": 1}, {"request_id": "rx",
                                      "label": 0}], settings=remote)  # fmt: skip
    assert (int(recorded), recorded.unknown) == (2, ("rx",))
    assert feedback("d", settings=remote).column("request_id").to_pylist() == ["r1", "rx"]
    # Written through the server into the shared store, with its audit rows.
    sql = SqlDeploymentRepository(db)
    assert len(sql.list_prediction_log_parts("d")) == 1
    actions = [a.action for a in db.list_audit(entity_id="d", latest=False)]
    assert {"deployment.promote", "deployment.log_predictions", "deployment.add_feedback"} <= (
        set(actions)
    )
