"""cycleml's registry API (/api/v1/models) over real HTTP, and Models against a server.

The repository suite (tests/registry/test_model_repository.py) runs whole through the REST
backend; these tests are about HTTP itself: status codes, the one error shape, missing
models, versions and aliases, bad input, OpenAPI, retries, and ``Models`` pointed at a
server by an http tracking URI.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cycleml.errors import AlreadyExists, InvalidInput, InvalidState, NotFound, StoreError
from cycleml.registry import Models, RestModelRepository, SqlModelRepository
from cycleml.settings import Settings
from cycleml.store import ArtifactEntry, Database
from cycleml.tracking import SqlRunRepository

API = "/api/v1"
TableCounts = Callable[[], dict[str, int]]


@pytest.fixture
def run_id(db: Database) -> str:
    """A run with a model folder's files recorded under ``model``."""
    runs = SqlRunRepository(db)
    experiment = runs.create_experiment(f"e-{uuid.uuid4().hex[:6]}").experiment_id
    run = runs.create_run(experiment_id=experiment).info.run_id
    runs.record_artifacts(run, [ArtifactEntry("model/model.pkl", "ab" * 32, 3)])
    return run


def _error(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert set(error) == {"code", "message", "hint", "details"}
    assert error["code"] == code
    assert error["details"]["request_id"] == answer.headers["X-Request-ID"]
    return error


def test_model_routes_answer_with_their_status_codes(api: httpx.Client, run_id: str) -> None:
    created = api.post("/models", json={"name": "churn", "tags": {"team": "growth"}})
    assert created.status_code == 201
    assert created.json()["tags"] == {"team": "growth"}
    assert api.get("/models/churn").json() == created.json()
    assert [m["name"] for m in api.get("/models").json()["models"]] == ["churn"]

    source = f"runs:/{run_id}/model"
    body = {"source": source, "run_id": run_id, "metrics": {"auc": 0.9}}
    version = api.post("/models/churn/versions", json=body)
    assert (version.status_code, version.json()["version"]) == (201, 1)
    nan = api.post("/models/churn/versions", json=body | {"metrics": {"bad": "NaN"}})
    assert nan.json()["metrics"] == {"bad": "NaN"}  # strict JSON
    assert api.get("/models/churn/versions/1").json() == version.json()
    assert [v["version"] for v in api.get("/models/churn/versions").json()["versions"]] == [1, 2]

    aliased = api.put("/models/churn/aliases/champion", json={"version": 2})
    assert (aliased.status_code, aliased.json()["aliases"]) == (200, ["champion"])
    assert api.get("/models/churn/aliases/champion").json()["version"] == 2
    assert api.get("/models/churn").json()["aliases"] == {"champion": 2}

    moved = api.post("/models/churn/versions/1/stage", json={"to_stage": "Staging"})
    assert (moved.status_code, moved.json()["current_stage"]) == (200, "Staging")
    history = api.get("/models/churn/versions/1/stage-history").json()["transitions"]
    assert [(h["from_stage"], h["to_stage"]) for h in history] == [("None", "Staging")]

    resolved = api.get("/resolve/model-uri", params={"uri": "models:/churn@champion"})
    assert resolved.json()["version"] == 2
    location = api.get("/resolve/artifact-uri", params={"uri": "models:/churn/1"}).json()
    assert location["run_id"] == run_id
    assert [e["path"] for e in location["entries"]] == ["model/model.pkl"]
    assert location["model_version"]["version"] == 1

    deleted = api.delete("/models/churn/aliases/champion")
    assert (deleted.status_code, deleted.content) == (204, b"")


def test_missing_models_versions_and_aliases_are_404(api: httpx.Client, run_id: str) -> None:
    assert "nope" in _error(api.get("/models/nope"), 404, "not_found")["message"]
    _error(api.get("/models/nope/versions"), 404, "not_found")
    _error(api.post("/models/nope/versions", json={"source": "s3://b/m"}), 404, "not_found")
    api.post("/models", json={"name": "churn"})
    api.post("/models/churn/versions", json={"source": f"runs:/{run_id}/model"})
    assert (
        "no version 2" in _error(api.get("/models/churn/versions/2"), 404, "not_found")["message"]
    )
    _error(api.put("/models/churn/aliases/champion", json={"version": 9}), 404, "not_found")
    _error(api.get("/models/churn/aliases/champion"), 404, "not_found")
    _error(api.delete("/models/churn/aliases/champion"), 404, "not_found")
    _error(api.get("/resolve/model-uri", params={"uri": "models:/churn@x"}), 404, "not_found")
    _error(api.get("/models/churn/versions/2/stage-history"), 404, "not_found")


def test_bad_input_is_400_and_conflicts_409(api: httpx.Client, run_id: str) -> None:
    api.post("/models", json={"name": "churn"})
    taken = _error(api.post("/models", json={"name": "churn"}), 409, "already_exists")
    assert "churn" in taken["message"]
    assert (
        "model name"
        in _error(api.post("/models", json={"name": "a b"}), 400, "invalid_input")["message"]
    )
    _error(api.post("/models", json={"name": 7}), 400, "invalid_input")
    _error(api.post("/models", json={"name": "x", "unknown": 1}), 400, "invalid_input")
    _error(
        api.post("/models", content=b"{not json", headers={"Content-Type": "application/json"}),
        400,
        "invalid_input",
    )
    api.post("/models/churn/versions", json={"source": f"runs:/{run_id}/model"})
    for version in ("0", "abc", "1.5"):
        _error(api.get(f"/models/churn/versions/{version}"), 400, "invalid_input")
    bad_metric = {"source": "s3://b/m", "metrics": {"auc": "high"}}
    assert (
        "metric 'auc'"
        in _error(api.post("/models/churn/versions", json=bad_metric), 400, "invalid_input")[
            "message"
        ]
    )
    _error(api.put("/models/churn/aliases/latest", json={"version": 1}), 400, "invalid_input")
    _error(api.put("/models/churn/aliases/champion", json={}), 400, "invalid_input")
    stage = _error(
        api.post("/models/churn/versions/1/stage", json={"to_stage": "Deployed"}),
        400,
        "invalid_input",
    )
    assert "stage" in stage["message"]
    again = api.post("/models/churn/versions/1/stage", json={"to_stage": "None"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_state"
    _error(api.get("/resolve/model-uri", params={"uri": "runs:/x"}), 400, "invalid_input")


def test_errors_come_back_as_their_class(team_server: str, run_id: str) -> None:
    with RestModelRepository(team_server, backoff=0.01) as repo:
        with pytest.raises(NotFound, match="nope") as missing:
            repo.get_registered_model("nope")
        assert len(missing.value.details["request_id"]) == 32
        repo.create_registered_model("churn")
        with pytest.raises(AlreadyExists):
            repo.create_registered_model("churn")
        repo.create_model_version("churn", source=f"runs:/{run_id}/model")
        with pytest.raises(InvalidState):
            repo.transition_stage("churn", 1, to_stage="None")
        assert repr(repo) == f"RestModelRepository({team_server!r})"


class _LoseFirstAnswer(httpx.BaseTransport):
    """The first answer to a matching path is lost after the server applied the request."""

    def __init__(self, path_suffix: str, status: int | None = None) -> None:
        self.inner = httpx.HTTPTransport()
        self.path_suffix = path_suffix
        self.status = status
        self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith(self.path_suffix):
            return self.inner.handle_request(request)
        self.sent += 1
        if self.sent > 1:
            return self.inner.handle_request(request)
        if self.status is not None:  # refused before reaching the server
            return httpx.Response(self.status, headers={"Retry-After": "0"}, json={})
        answer = self.inner.handle_request(request)
        answer.read()
        answer.close()  # the connection goes back to the pool; only the answer is lost
        raise httpx.ReadError("connection reset after the server answered", request=request)

    def close(self) -> None:
        self.inner.close()


def test_a_lost_answer_is_retried_and_applied_once(team_server: str, db: Database) -> None:
    for suffix in ("/models", "/versions", "/stage"):
        transport = _LoseFirstAnswer(suffix)
        with RestModelRepository(team_server, transport=transport, backoff=0.01) as repo:
            if suffix == "/models":
                assert repo.create_registered_model("churn").name == "churn"
            elif suffix == "/versions":
                assert repo.create_model_version("churn", source="s3://b/m").version == 1
            else:
                assert repo.transition_stage("churn", 1, to_stage="Staging").current_stage == (
                    "Staging"
                )
        assert transport.sent == 2  # re-sent with the same request id, applied once
    sql = SqlModelRepository(db)
    assert [v.version for v in sql.list_model_versions("churn")] == [1]
    assert len(sql.get_stage_history("churn", 1)) == 1
    assert len(db.list_audit(action="model.create", entity_id="churn")) == 1


def test_a_lost_alias_deletion_is_not_resent(team_server: str) -> None:
    transport = _LoseFirstAnswer("/aliases/champion")
    with RestModelRepository(team_server, transport=transport, backoff=0.01) as repo:
        repo.create_registered_model("churn")
        repo.create_model_version("churn", source="s3://b/m")
        transport.sent = 1  # the PUT's answer arrives
        repo.set_alias("churn", 1, "champion")
        transport.sent = 0
        with pytest.raises(StoreError, match="Cannot reach"):
            repo.delete_alias("churn", "champion")
        assert transport.sent == 1  # a retry would find the alias gone
        assert repo.get_registered_model("churn").aliases == {}


def test_a_request_id_is_applied_once(api: httpx.Client, db: Database) -> None:
    headers = {"X-Request-ID": uuid.uuid4().hex}
    first = api.post("/models", json={"name": "churn"}, headers=headers)
    again = api.post("/models", json={"name": "churn"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()

    headers = {"X-Request-ID": uuid.uuid4().hex}
    made = api.post("/models/churn/versions", json={"source": "s3://b/m"}, headers=headers)
    replayed = api.post("/models/churn/versions", json={"source": "s3://b/m"}, headers=headers)
    assert replayed.json() == made.json()
    assert [v.version for v in SqlModelRepository(db).list_model_versions("churn")] == [1]

    headers = {"X-Request-ID": uuid.uuid4().hex}
    body = {"to_stage": "Production"}
    moved = api.post("/models/churn/versions/1/stage", json=body, headers=headers)
    moved_again = api.post("/models/churn/versions/1/stage", json=body, headers=headers)
    assert moved_again.json() == moved.json()
    assert len(SqlModelRepository(db).get_stage_history("churn", 1)) == 1

    misused = api.post("/models", json={"name": "other"}, headers=headers)
    assert "already used" in _error(misused, 400, "invalid_input")["message"]
    assert [m.name for m in SqlModelRepository(db).list_registered_models()] == ["churn"]


def test_refused_requests_are_retried(team_server: str, db: Database) -> None:
    for status in (429, 503):
        transport = _LoseFirstAnswer("/models", status=status)
        with RestModelRepository(team_server, transport=transport, backoff=0.01) as repo:
            repo.create_registered_model(f"busy-{status}")
        assert transport.sent == 2
    transport = _LoseFirstAnswer("/models/busy-429")  # a read is retried after a lost answer
    with RestModelRepository(team_server, transport=transport, backoff=0.01) as repo:
        assert repo.get_registered_model("busy-429").name == "busy-429"
    assert transport.sent == 2


def test_openapi_documents_every_registry_route(team_server: str) -> None:
    document = httpx.get(f"{team_server}/openapi.json").json()
    ours = {p: ops for p, ops in document["paths"].items() if p.startswith(f"{API}/models")}
    assert {
        f"{API}/models",
        f"{API}/models/{{name}}",
        f"{API}/models/{{name}}/versions",
        f"{API}/models/{{name}}/versions/{{version}}",
        f"{API}/models/{{name}}/versions/{{version}}/stage",
        f"{API}/models/{{name}}/aliases/{{alias}}",
        f"{API}/models/{{name}}/rename",
        f"{API}/models/{{name}}/tags/{{key}}",
        f"{API}/models/{{name}}/versions/{{version}}/tags/{{key}}",
    } <= set(ours)
    assert set(ours[f"{API}/models/{{name}}"]) == {"get", "patch", "delete"}
    assert set(ours[f"{API}/models/{{name}}/versions/{{version}}"]) == {"get", "patch", "delete"}
    assert set(ours[f"{API}/models/{{name}}/tags/{{key}}"]) == {"put", "delete"}
    for ops in ours.values():
        for op in ops.values():
            assert op["summary"]
            assert op["operationId"].startswith("registry_")


def test_models_with_an_http_tracking_uri_use_the_server(
    settings: Settings, team_server: str, db: Database, run_id: str
) -> None:
    remote = dataclasses.replace(settings, tracking_uri=team_server)
    models = Models(remote)
    try:
        assert isinstance(models.repository, RestModelRepository)
        version = models.register("churn", f"runs:/{run_id}/model", metrics={"auc": 0.9})
        assert version.version == 1
        models.set_alias("churn", 1, "champion")
        location = models.resolve("models:/churn@champion")
        assert location.run_id == run_id
        assert location.model_version is not None
        assert location.model_version.metrics == {"auc": 0.9}
    finally:
        models.close()
    # Written through the server into the shared store, with its audit rows.
    stored = SqlModelRepository(db).get_version_by_alias("churn", "champion")
    assert stored.version == 1
    assert db.list_audit(entity_id="churn/1")[0].action == "model_version.create"


# ---- tags, descriptions, renames and deletions ----------------------------------------------


def test_change_routes_answer_with_their_status_codes(api: httpx.Client, run_id: str) -> None:
    api.post("/models", json={"name": "churn"})
    for _ in range(2):
        api.post("/models/churn/versions", json={"source": f"runs:/{run_id}/model"})
    put = api.put("/models/churn/tags/team", json={"value": "growth"})
    assert (put.status_code, put.content) == (204, b"")
    # A key may hold '/' and '.', escaped or not.
    assert api.put("/models/churn/tags/a.b%2Fc", json={"value": "1"}).status_code == 204
    assert api.put("/models/churn/tags/x/y", json={"value": "2"}).status_code == 204
    assert api.get("/models/churn").json()["tags"] == {"team": "growth", "a.b/c": "1", "x/y": "2"}
    assert api.delete("/models/churn/tags/x/y").status_code == 204
    assert "no tag" in _error(api.delete("/models/churn/tags/x/y"), 404, "not_found")["message"]

    assert api.put("/models/churn/versions/1/tags/k", json={"value": "v"}).status_code == 204
    assert api.get("/models/churn/versions/1").json()["tags"] == {"k": "v"}
    assert api.delete("/models/churn/versions/1/tags/k").status_code == 204
    _error(api.delete("/models/churn/versions/1/tags/k"), 404, "not_found")

    patched = api.patch("/models/churn", json={"description": "d"})
    assert (patched.status_code, patched.json()["description"]) == (200, "d")
    patched = api.patch("/models/churn/versions/2", json={"description": "v2"})
    assert (patched.status_code, patched.json()["description"]) == (200, "v2")

    api.put("/models/churn/aliases/champion", json={"version": 2})
    renamed = api.post("/models/churn/rename", json={"new_name": "churn-v2"})
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["aliases"]) == ("churn-v2", {"champion": 2})
    assert renamed.json() == api.get("/models/churn-v2").json()
    _error(api.get("/models/churn"), 404, "not_found")

    deleted = api.delete("/models/churn-v2/versions/2")
    assert (deleted.status_code, deleted.content) == (204, b"")
    _error(api.get("/models/churn-v2/versions/2"), 404, "not_found")
    _error(api.delete("/models/churn-v2/versions/2"), 404, "not_found")
    assert api.get("/models/churn-v2").json()["aliases"] == {}
    assert api.delete("/models/churn-v2").status_code == 204
    _error(api.get("/models/churn-v2"), 404, "not_found")
    _error(api.delete("/models/churn-v2"), 404, "not_found")
    assert api.post("/models", json={"name": "churn-v2"}).status_code == 201  # used again


def test_bad_changes_are_400_or_409_and_write_nothing(
    api: httpx.Client, table_counts: TableCounts
) -> None:
    api.post("/models", json={"name": "churn"})
    api.post("/models", json={"name": "other"})
    api.post("/models/churn/versions", json={"source": "s3://b/m"})
    before = table_counts()
    for path in ("/models/churn/tags/", "/models/churn/versions/1/tags/"):
        assert (
            "tag key"
            in _error(api.put(path + "bad%20key!", json={"value": "v"}), 400, "invalid_input")[
                "message"
            ]
        )
        _error(api.put(path + "team", json={}), 400, "invalid_input")
        _error(api.put(path + "team", json={"value": "v", "x": 1}), 400, "invalid_input")
        _error(api.delete(path + "a%2F..%2Fb"), 400, "invalid_input")
    _error(api.put("/models/churn/versions/0/tags/k", json={"value": "v"}), 400, "invalid_input")
    _error(api.put("/models/nope/tags/k", json={"value": "v"}), 404, "not_found")
    for path in ("/models/churn", "/models/churn/versions/1"):
        assert (
            "description"
            in _error(api.patch(path, json={"description": 7}), 400, "invalid_input")["message"]
        )
        _error(api.patch(path, json={"description": "d", "name": "x"}), 400, "invalid_input")
        _error(api.patch(path, json={}), 400, "invalid_input")
    _error(api.patch("/models/churn/versions/abc", json={"description": "d"}), 400, "invalid_input")
    rename = "/models/churn/rename"
    assert (
        "model name"
        in _error(api.post(rename, json={"new_name": "a b"}), 400, "invalid_input")["message"]
    )
    _error(api.post(rename, json={}), 400, "invalid_input")
    assert (
        "other"
        in _error(api.post(rename, json={"new_name": "other"}), 409, "already_exists")["message"]
    )
    _error(api.post("/models/nope/rename", json={"new_name": "fresh"}), 404, "not_found")
    _error(api.delete("/models/churn/versions/abc"), 400, "invalid_input")
    _error(api.delete("/models/churn/versions/9"), 404, "not_found")
    assert table_counts() == before


def test_a_lost_rename_answer_is_retried_and_applied_once(team_server: str, db: Database) -> None:
    transport = _LoseFirstAnswer("/rename")
    with RestModelRepository(team_server, transport=transport, backoff=0.01) as repo:
        repo.create_registered_model("churn")
        repo.create_model_version("churn", source="s3://b/m")
        assert repo.rename_registered_model("churn", "churn-v2").latest_version == 1
    assert transport.sent == 2  # re-sent with the same request id, applied once
    assert len(db.list_audit(action="model.rename", entity_id="churn-v2")) == 1
    assert [m.name for m in SqlModelRepository(db).list_registered_models()] == ["churn-v2"]


@pytest.mark.parametrize(
    ("suffix", "delete"),
    [
        ("/tags/team", lambda repo: repo.delete_registered_model_tag("churn", "team")),
        ("/versions/1/tags/k", lambda repo: repo.delete_model_version_tag("churn", 1, "k")),
        ("/versions/1", lambda repo: repo.delete_model_version("churn", 1)),
        ("/models/churn", lambda repo: repo.delete_registered_model("churn")),
    ],
)
def test_a_lost_deletion_is_not_resent(
    team_server: str, suffix: str, delete: Callable[[RestModelRepository], None]
) -> None:
    transport = _LoseFirstAnswer(suffix)
    with RestModelRepository(team_server, transport=transport, backoff=0.01) as repo:
        transport.sent = 1  # the set-up's answers arrive
        repo.create_registered_model("churn", tags={"team": "growth"})
        repo.create_model_version("churn", source="s3://b/m", tags={"k": "v"})
        transport.sent = 0
        with pytest.raises(StoreError, match="Cannot reach"):
            delete(repo)
        assert transport.sent == 1  # a retry would find it gone: not re-sent


def test_rest_checks_tag_keys_before_sending(team_server: str) -> None:
    transport = _LoseFirstAnswer("")  # counts every request
    with RestModelRepository(team_server, transport=transport) as repo:
        with pytest.raises(InvalidInput, match="tag key"):
            repo.set_registered_model_tag("churn", "bad key!", "v")
        with pytest.raises(InvalidInput, match="tag key"):
            repo.delete_model_version_tag("churn", 1, "../up")
        with pytest.raises(InvalidInput, match="version"):
            repo.delete_model_version("churn", "abc")
    assert transport.sent == 0


GATED_SPEC = """
name: gated
problem: {task: binary, target: y}
metrics:
  - {name: roc_auc, direction: maximize, threshold: 0.9, applies_to: [deploy]}
"""


def test_the_server_checks_the_deploy_gates_itself(
    api: httpx.Client, settings: Settings, db: Database
) -> None:
    (settings.home / "cycleml.yaml").write_text(GATED_SPEC, encoding="utf-8")
    assert api.post("/models", json={"name": "g"}).status_code == 201
    body = {"source": "s3://bucket/g", "metrics": {"roc_auc": 0.5}}
    assert api.post("/models/g/versions", json=body).status_code == 201
    refused = api.post("/models/g/versions/1/stage", json={"to_stage": "Production"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "gate_failed"
    assert refused.json()["error"]["details"]["failures"][0]["metric"] == "roc_auc"
    assert SqlModelRepository(db).get_model_version("g", 1).current_stage == "None"
    forced = api.post("/models/g/versions/1/stage", json={"to_stage": "Production", "forced": True})
    assert forced.status_code == 200, forced.text
    (row,) = [r for r in db.list_audit(entity_kind="model_version") if "server_gates" in r.payload]
    assert row.payload["server_gates"][0]["passed"] is False
