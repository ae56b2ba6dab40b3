"""Auth on the team server, over real HTTP: who may do what on both APIs.

Each permission is tried allowed, refused with 403 (nothing written), and without
credentials (401), on cycleml's /api/v1 and on MLflow's routes; the signed-in user is the
audit actor.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from cycleml.server import AuthConfig, Permission, UserStore, create_server
from cycleml.settings import Settings
from cycleml.store import open_database
from cycleml.tracking import SqlRunRepository

V1 = "/api/v1"
MLFLOW = "/api/2.0/mlflow"


@dataclass
class Team:
    url: str
    tokens: dict[str, str]
    settings: Settings

    def as_(self, user: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def _team(settings: Settings, default: Permission) -> Iterator[Team]:
    from cycleml.serving import background_server

    app = create_server(settings, auth=AuthConfig(enabled=True, default_permission=default))
    users = UserStore(app.state.server.db)
    users.create_user("root", admin=True)
    tokens = {}
    for name in ("root", "ann", "bob"):
        if name != "root":
            users.create_user(name, password=f"{name}-password")
        tokens[name] = users.create_token(name, label="test")[0]
    with background_server(app) as url:
        yield Team(url, tokens, settings)


@pytest.fixture
def team(settings: Settings) -> Iterator[Team]:
    """A server with auth on, default READ; ann and bob are users, root an admin."""
    yield from _team(settings, Permission.READ)


@pytest.fixture
def closed_team(settings: Settings) -> Iterator[Team]:
    """The same with default NO_PERMISSIONS: only grants open anything."""
    yield from _team(settings, Permission.NO_PERMISSIONS)


def _status(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    code = body["error"]["code"] if "error" in body else body.get("error_code", "")
    return response.status_code, code


def _experiment(client: httpx.Client, name: str = "churn") -> str:
    made = client.post(f"{V1}/experiments", json={"name": name})
    assert made.status_code == 201, made.text
    return str(made.json()["experiment_id"])


# ---- authentication ----------------------------------------------------------------------
def test_requests_without_credentials_get_401_in_each_apis_shape(team: Team) -> None:
    with team.as_(None) as anonymous:
        assert _status(anonymous.get(f"{V1}/experiments")) == (401, "unauthenticated")
        mlflow = anonymous.get(f"{MLFLOW}/experiments/search")
        assert _status(mlflow) == (401, "UNAUTHENTICATED")
        assert "CYCLEML_TRACKING_TOKEN" in mlflow.json()["hint"]
        proxy = anonymous.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": "0"})
        assert proxy.status_code == 401
        assert anonymous.get("/health").status_code == 200  # liveness stays public
        assert anonymous.get("/version").status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Bearer cml_000000000000_" + "x" * 43,
        "Bearer not-a-token",
        "Basic " + base64.b64encode(b"ann:wrong-password").decode(),
        "Basic !!!",
        "Digest abc",
    ],
)
def test_bad_credentials_get_401(team: Team, header: str) -> None:
    with httpx.Client(base_url=team.url, headers={"Authorization": header}) as client:
        assert _status(client.get(f"{V1}/experiments")) == (401, "unauthenticated")


def test_bearer_basic_with_password_and_basic_with_a_token_sign_in(team: Team) -> None:
    for header in (
        f"Bearer {team.tokens['ann']}",
        "Basic " + base64.b64encode(b"ann:ann-password").decode(),
        "Basic " + base64.b64encode(f"ann:{team.tokens['ann']}".encode()).decode(),
    ):
        with httpx.Client(base_url=team.url, headers={"Authorization": header}) as client:
            assert client.get(f"{V1}/experiments").status_code == 200, header
    # Someone else's token as ann's password is not ann.
    other = "Basic " + base64.b64encode(f"ann:{team.tokens['bob']}".encode()).decode()
    with httpx.Client(base_url=team.url, headers={"Authorization": other}) as client:
        assert client.get(f"{V1}/experiments").status_code == 401


def test_a_revoked_or_expired_token_stops_working(team: Team) -> None:
    with open_database(team.settings) as db:
        users = UserStore(db)
        token, record = users.create_token("ann", label="short")
        expired, _ = users.create_token("ann", label="old", expires_at=1)
    with httpx.Client(base_url=team.url, headers={"Authorization": f"Bearer {token}"}) as c:
        assert c.get(f"{V1}/experiments").status_code == 200
        with open_database(team.settings) as db:
            UserStore(db).revoke_token(record.token_id)
        assert c.get(f"{V1}/experiments").status_code == 401
    with httpx.Client(base_url=team.url, headers={"Authorization": f"Bearer {expired}"}) as c:
        assert c.get(f"{V1}/experiments").status_code == 401


# ---- experiments and runs: both APIs -------------------------------------------------------
def test_the_creator_manages_others_read_and_grants_open_more(team: Team) -> None:
    with team.as_("ann") as ann, team.as_("bob") as bob:
        experiment = _experiment(ann)
        run = ann.post(f"{V1}/runs", json={"experiment_id": experiment})
        assert run.status_code == 201, run.text
        run_id = run.json()["info"]["run_id"]

        # bob reads (default READ) but may not log: 403 on both APIs, nothing written.
        assert bob.get(f"{V1}/runs/{run_id}").status_code == 200
        assert bob.get(f"{MLFLOW}/runs/get", params={"run_id": run_id}).status_code == 200
        batch = {"params": {"lr": "0.1"}, "tags": {}}
        refused = bob.post(f"{V1}/runs/{run_id}/batch", json=batch)
        assert _status(refused) == (403, "permission_denied")
        assert "needs EDIT" in refused.json()["error"]["message"]
        mlflow = bob.post(
            f"{MLFLOW}/runs/log-parameter", json={"run_id": run_id, "key": "lr", "value": "1"}
        )
        assert _status(mlflow) == (403, "PERMISSION_DENIED")
        created = bob.post(f"{MLFLOW}/runs/create", json={"experiment_id": experiment})
        assert _status(created) == (403, "PERMISSION_DENIED")
        with open_database(team.settings) as db:
            repository = SqlRunRepository(db)
            assert repository.get_run(run_id).data.params == {}
            runs, _ = repository.search_runs(experiment_ids=[experiment])
            assert len(runs) == 1

        # EDIT lets bob log, not delete (MANAGE).
        with team.as_("root") as root:
            grant = root.get("/health")  # the admin needs no grant
            assert grant.status_code == 200
        with open_database(team.settings) as db:
            UserStore(db).grant("bob", "experiment", experiment, "EDIT")
        assert bob.post(f"{V1}/runs/{run_id}/batch", json=batch).status_code in (200, 204)
        delete = bob.post(f"{MLFLOW}/runs/delete", json={"run_id": run_id})
        assert _status(delete) == (403, "PERMISSION_DENIED")
        assert _status(bob.delete(f"{V1}/experiments/{experiment}"))[0] == 403
        assert ann.post(f"{MLFLOW}/runs/delete", json={"run_id": run_id}).status_code == 200


def test_the_signed_in_user_is_the_audit_actor(team: Team) -> None:
    with team.as_("ann") as ann:
        experiment = _experiment(ann, "audited")
        made = ann.post(f"{MLFLOW}/runs/create", json={"experiment_id": experiment})
        run_id = made.json()["run"]["info"]["run_id"]
        ann.post(
            f"{MLFLOW}/runs/log-metric",
            json={"run_id": run_id, "key": "auc", "value": 0.9, "timestamp": 1, "step": 0},
        )
    with open_database(team.settings) as db:
        rows = db.list_audit(entity_kind="run", entity_id=run_id)
        assert {row.actor for row in rows} == {"ann"}
        assert {
            row.actor for row in db.list_audit(entity_kind="experiment", entity_id=experiment)
        } == {"ann"}


def test_without_a_default_level_lists_show_only_what_a_user_may_read(closed_team: Team) -> None:
    with closed_team.as_("ann") as ann, closed_team.as_("bob") as bob:
        experiment = _experiment(ann, "private")
        names = [e["name"] for e in bob.get(f"{V1}/experiments").json()["experiments"]]
        assert "private" not in names
        searched = bob.post(f"{MLFLOW}/experiments/search", json={})
        assert "private" not in [e["name"] for e in searched.json()["experiments"]]
        assert _status(bob.get(f"{V1}/experiments/{experiment}"))[0] == 403
        assert ann.get(f"{V1}/experiments/{experiment}").status_code == 200


# ---- registered models (MLflow's registry) and the other stages (/api/v1) ------------------
def test_a_stage_transition_needs_manage_and_aliases_need_edit(team: Team) -> None:
    with team.as_("ann") as ann, team.as_("bob") as bob:
        assert (
            ann.post(f"{MLFLOW}/registered-models/create", json={"name": "clf"}).status_code == 200
        )
        experiment = _experiment(ann, "models")
        run_id = ann.post(f"{V1}/runs", json={"experiment_id": experiment}).json()["info"]["run_id"]
        version = ann.post(
            f"{MLFLOW}/model-versions/create",
            json={"name": "clf", "source": f"runs:/{run_id}/model", "run_id": run_id},
        )
        assert version.status_code == 200, version.text
        alias = {"name": "clf", "alias": "champion", "version": "1"}
        assert _status(bob.post(f"{MLFLOW}/registered-models/alias", json=alias))[0] == 403
        with open_database(team.settings) as db:
            UserStore(db).grant("bob", "registered_model", "clf", "EDIT")
        assert bob.post(f"{MLFLOW}/registered-models/alias", json=alias).status_code == 200
        stage = {"name": "clf", "version": "1", "stage": "Archived"}
        refused = bob.post(f"{MLFLOW}/model-versions/transition-stage", json=stage)
        assert _status(refused) == (403, "PERMISSION_DENIED")
        assert (
            _status(bob.post(f"{V1}/models/clf/versions/1/stage", json={"stage": "Archived"}))[0]
            == 403
        )
        got = bob.get(f"{MLFLOW}/model-versions/get", params={"name": "clf", "version": "1"})
        assert got.json()["model_version"]["current_stage"] == "None"  # nothing moved
        assert ann.post(f"{MLFLOW}/model-versions/transition-stage", json=stage).status_code == 200


@pytest.mark.parametrize(
    ("kind", "name", "method", "path", "body"),
    [
        ("registered_model", "m", "DELETE", "/models/m", None),
        ("registered_model", "m", "PATCH", "/models/m", {"description": "x"}),
    ],
)
def test_v1_model_writes_are_refused_to_readers(
    team: Team, kind: str, name: str, method: str, path: str, body: object
) -> None:
    with team.as_("ann") as ann, team.as_("bob") as bob:
        assert ann.post(f"{V1}/models", json={"name": name}).status_code == 201
        refused = bob.request(method, f"{V1}{path}", json=body)
        assert _status(refused) == (403, "permission_denied")
        assert bob.get(f"{V1}/models/{name}").json()["description"] == ""
        assert ann.request(method, f"{V1}{path}", json=body).status_code < 300


def test_every_mlflow_route_says_what_permission_it_needs(settings: Settings) -> None:
    from cycleml.server._auth_mlflow import RULES
    from cycleml.server._mlflow_protocol import MLFLOW_ROUTE_PREFIXES

    app = create_server(settings)
    try:
        prefix = MLFLOW_ROUTE_PREFIXES[0] + "/"
        missing = [
            (route.path, method)
            for route in app.routes
            if getattr(route, "path", "").startswith(prefix)
            for method in getattr(route, "methods", ())
            if (route.path[len(prefix) :], method) not in RULES
        ]
    finally:
        app.state.server.close()
    assert missing == []


def _dataset_body(digest: str) -> dict[str, object]:
    return {
        "digest": digest,
        "schema": [{"name": "x", "type": "double", "nullable": True}],
        "parts": [{"digest": "a" * 64, "row_count": 10, "bytes": 1000}],
        "source": {"kind": "frame"},
    }


def test_datasets_deployments_and_monitors_follow_their_grants(team: Team) -> None:
    with team.as_("ann") as ann, team.as_("bob") as bob:
        # Datasets: the first version creates it (ann manages it); bob reads, may not add.
        assert (
            ann.post(f"{V1}/datasets/iris/versions", json=_dataset_body("1" * 64)).status_code
            == 201
        )
        refused = bob.post(f"{V1}/datasets/iris/versions", json=_dataset_body("2" * 64))
        assert _status(refused) == (403, "permission_denied")
        assert [
            v["version"] for v in bob.get(f"{V1}/datasets/iris/versions").json()["versions"]
        ] == [1]
        # A dataset of bob's own is his to manage.
        assert (
            bob.post(f"{V1}/datasets/bobs/versions", json=_dataset_body("3" * 64)).status_code
            == 201
        )

        # Deployments: changing one needs MANAGE, even with EDIT.
        assert ann.post(f"{V1}/models", json={"name": "churn"}).status_code == 201
        made = ann.post(f"{V1}/models/churn/versions", json={"source": "s3://bucket/churn"})
        assert made.status_code == 201, made.text
        body = {"name": "d", "model_uri": "models:/churn/1"}
        assert ann.post(f"{V1}/deployments", json=body).status_code == 201, "create"
        with open_database(team.settings) as db:
            UserStore(db).grant("bob", "deployment", "d", "EDIT")
        for method, path, payload in (
            ("PATCH", "/deployments/d", {"description": "bob's"}),
            ("POST", "/deployments/d/rollback", {}),
            ("PUT", "/deployments/d", {"model_uri": "models:/churn/1", "description": "x"}),
        ):
            answer = bob.request(method, f"{V1}{path}", json=payload)
            assert _status(answer) == (403, "permission_denied"), (method, path, answer.text)
        assert bob.get(f"{V1}/deployments/d").json()["description"] == ""
        assert ann.patch(f"{V1}/deployments/d", json={"description": "ann's"}).status_code == 200

        # Monitors: EDIT changes one, MANAGE deletes it.
        monitor = {"name": "m", "target": "d"}
        assert ann.post(f"{V1}/monitors", json=monitor).status_code == 201
        assert _status(bob.patch(f"{V1}/monitors/m", json={"config": {"w": 2}}))[0] == 403
        with open_database(team.settings) as db:
            UserStore(db).grant("bob", "monitor", "m", "EDIT")
        assert _status(bob.delete(f"{V1}/monitors/m", params={"reason": "x"}))[0] == 403
        assert bob.get(f"{V1}/monitors/m").status_code == 200
        assert ann.delete(f"{V1}/monitors/m", params={"reason": "done"}).status_code < 300
