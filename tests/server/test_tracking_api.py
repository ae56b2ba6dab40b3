"""cycleml's tracking API (/api/v1) over real HTTP, and the REST repository's wire behaviour.

The repository suite (tests/tracking/test_run_repository.py) runs whole through the REST
backend; these tests are about HTTP itself: status codes, the one error shape, paging
tokens, the idempotent replay of a request id, retries, and the fluent API against a server
with one request per buffer flush.
"""

from __future__ import annotations

import json
import math
import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import cycleml
from cycleml.errors import InvalidInput, NotFound, ParamConflict, StoreError
from cycleml.store import Database
from cycleml.tracking import Metric, RestRunRepository, SqlRunRepository
from server.test_registry_api import _error

API = "/api/v1"
UNKNOWN_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def repo(team_server: str) -> Iterator[RestRunRepository]:
    with RestRunRepository(team_server, backoff=0.01) as opened:
        yield opened


def _run(api: httpx.Client) -> str:
    experiment = api.post("/experiments", json={"name": f"e-{uuid.uuid4().hex[:6]}"}).json()
    created = api.post("/runs", json={"experiment_id": experiment["experiment_id"]})
    assert created.status_code == 201
    return str(created.json()["info"]["run_id"])


def _batch(keys: list[str], start: int = 0) -> dict[str, Any]:
    n = len(keys)
    return {
        "metrics": {
            "keys": keys,
            "values": [float(i) for i in range(n)],
            "steps": list(range(start, start + n)),
            "timestamps": [1000 + i for i in range(n)],
        }
    }


# ---- status codes and the error shape ------------------------------------------------------


def test_experiment_routes_answer_with_their_status_codes(api: httpx.Client) -> None:
    created = api.post("/experiments", json={"name": "churn", "tags": {"team": "growth"}})
    assert created.status_code == 201
    experiment = created.json()
    experiment_id = experiment["experiment_id"]
    assert experiment["tags"] == {"team": "growth"}
    assert api.get(f"/experiments/{experiment_id}").json() == experiment
    assert api.get("/experiments/by-name", params={"name": "churn"}).json() == experiment
    renamed = api.patch(f"/experiments/{experiment_id}", json={"name": "churn-2"})
    assert (renamed.status_code, renamed.json()["name"]) == (200, "churn-2")
    tagged = api.post(f"/experiments/{experiment_id}/tags", json={"key": "k", "value": "v"})
    assert (tagged.status_code, tagged.content) == (204, b"")
    assert api.delete(f"/experiments/{experiment_id}").json()["lifecycle_stage"] == "deleted"
    assert api.get("/experiments").json() == {"experiments": []}
    listed = api.get("/experiments", params={"view": "deleted"}).json()["experiments"]
    assert [e["name"] for e in listed] == ["churn-2"]
    assert api.post(f"/experiments/{experiment_id}/restore").json()["lifecycle_stage"] == "active"

    taken = _error(api.post("/experiments", json={"name": "churn-2"}), 409, "already_exists")
    assert "churn-2" in taken["message"]


def test_unknown_experiment_and_run_are_404_in_cycleml_shape(api: httpx.Client) -> None:
    error = _error(api.get(f"/experiments/{UNKNOWN_ID}"), 404, "not_found")
    assert UNKNOWN_ID in error["message"]
    assert error["hint"]
    missing = _error(api.get("/experiments/by-name", params={"name": "nope"}), 404, "not_found")
    assert missing["details"]["experiment_name"] == "nope"
    run = _error(api.get(f"/runs/{UNKNOWN_ID}"), 404, "not_found")
    assert UNKNOWN_ID in run["message"]
    gone = _error(api.post("/runs", json={"experiment_id": UNKNOWN_ID}), 404, "not_found")
    assert "experiment" in gone["message"]
    batch = api.post(f"/runs/{UNKNOWN_ID}/batch", json=_batch(["m"]))
    _error(batch, 404, "not_found")


def test_bad_input_is_400_with_the_repositorys_message(api: httpx.Client) -> None:
    # Values the stage validates reach it as sent: its message names the field.
    name = _error(api.post("/experiments", json={"name": 42}), 400, "invalid_input")
    assert "experiment name 42" in name["message"]
    run_id = _run(api)
    step = _error(
        api.post(
            f"/runs/{run_id}/batch",
            json={"metrics": {"keys": ["m"], "values": [1.0], "steps": [True], "timestamps": [1]}},
        ),
        400,
        "invalid_input",
    )
    assert "Invalid step for metric 'm'" in step["message"]
    status = _error(api.patch(f"/runs/{run_id}", json={"status": "DONE"}), 400, "invalid_input")
    assert "Invalid run status 'DONE'" in status["message"]
    malformed = _error(api.get("/runs/not-a-run-id"), 400, "invalid_input")
    assert "run id" in malformed["message"]
    conflict = api.post(f"/runs/{run_id}/batch", json={"params": {"lr": "0.1"}})
    assert conflict.status_code == 204
    refused = _error(
        api.post(f"/runs/{run_id}/batch", json={"params": {"lr": "0.2"}}), 409, "param_conflict"
    )
    assert refused["details"]["conflicts"] == {"lr": ["0.1", "0.2"]}


def test_malformed_bodies_are_400_listing_the_problems(api: httpx.Client) -> None:
    run_id = _run(api)
    unknown_field = _error(
        api.post("/runs/search", json={"experiment_ids": [], "filter": "x"}), 400, "invalid_input"
    )
    assert any("filter" in problem for problem in unknown_field["details"]["problems"])
    ragged = {"metrics": {"keys": ["a", "b"], "values": [1.0], "steps": [0], "timestamps": [1]}}
    error = _error(api.post(f"/runs/{run_id}/batch", json=ragged), 400, "invalid_input")
    assert "as long as each other" in error["message"]
    not_json = api.post(f"/runs/{run_id}/batch", content=b"{", headers={"content-type": "x"})
    _error(not_json, 400, "invalid_input")


def test_non_finite_values_travel_as_strict_json(api: httpx.Client) -> None:
    run_id = _run(api)
    points = {"keys": ["nan", "inf", "ninf"], "values": ["NaN", "Infinity", "-Infinity"]}
    body = {"metrics": {**points, "steps": [0, 0, 0], "timestamps": [1, 1, 1]}}
    assert api.post(f"/runs/{run_id}/batch", json=body).status_code == 204

    def refuse(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant}")

    answer = json.loads(api.get(f"/runs/{run_id}").text, parse_constant=refuse)
    assert answer["data"]["metrics"] == {"nan": "NaN", "inf": "Infinity", "ninf": "-Infinity"}
    history = json.loads(
        api.get(f"/runs/{run_id}/metric-history", params={"key": "inf"}).text,
        parse_constant=refuse,
    )
    assert history == {"key": "inf", "values": ["Infinity"], "steps": [0], "timestamps": [1]}


def test_search_pages_by_opaque_tokens(api: httpx.Client) -> None:
    experiment = api.post("/experiments", json={"name": "paged"}).json()["experiment_id"]
    ids = []
    for i in range(5):
        run_id = api.post("/runs", json={"experiment_id": experiment}).json()["info"]["run_id"]
        api.post(
            f"/runs/{run_id}/batch",
            json={
                "metrics": {"keys": ["m"], "values": [i], "steps": [0], "timestamps": [1]},
            },
        )
        ids.append(run_id)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = api.post(
            "/runs/search",
            json={
                "experiment_ids": [experiment],
                "filter_string": "metrics.m >= 1",
                "order_by": ["metrics.m DESC"],
                "max_results": 2,
                "page_token": token,
            },
        ).json()
        seen += [run["info"]["run_id"] for run in page["runs"]]
        token = page["next_page_token"]
        pages += 1
        if token is None:
            break
        assert re.fullmatch(r"[A-Za-z0-9_=-]+", token)  # opaque, URL-safe
    assert seen == ids[:0:-1]
    assert pages == 2
    bad = api.post("/runs/search", json={"experiment_ids": [experiment], "page_token": "x"})
    _error(bad, 400, "invalid_input")


# ---- request ids: a replayed write is applied once ------------------------------------------


def test_a_replayed_batch_is_logged_once(api: httpx.Client, db: Database) -> None:
    run_id = _run(api)
    headers = {"X-Request-ID": uuid.uuid4().hex}
    for _ in range(3):
        answer = api.post(f"/runs/{run_id}/batch", json=_batch(["a", "b"]), headers=headers)
        assert answer.status_code == 204
    assert SqlRunRepository(db).count_metric_points([run_id]) == 2
    # Another request id is another batch.
    api.post(f"/runs/{run_id}/batch", json=_batch(["a", "b"], start=2))
    assert SqlRunRepository(db).count_metric_points([run_id]) == 4

    # The same id for another run is refused, not silently skipped.
    other = _run(api)
    misused = api.post(f"/runs/{other}/batch", json=_batch(["a"]), headers=headers)
    assert "already used" in _error(misused, 400, "invalid_input")["message"]
    bad_id = api.post(f"/runs/{run_id}/batch", json=_batch(["a"]), headers={"X-Request-ID": "a b"})
    _error(bad_id, 400, "invalid_input")


def test_a_failed_batch_leaves_its_request_id_unused(api: httpx.Client, db: Database) -> None:
    run_id = _run(api)
    api.post(f"/runs/{run_id}/batch", json={"params": {"lr": "1"}})
    headers = {"X-Request-ID": uuid.uuid4().hex}
    refused = api.post(
        f"/runs/{run_id}/batch", json={**_batch(["m"]), "params": {"lr": "2"}}, headers=headers
    )
    assert refused.status_code == 409
    fixed = api.post(f"/runs/{run_id}/batch", json=_batch(["m"]), headers=headers)
    assert fixed.status_code == 204  # the rolled-back attempt recorded nothing
    assert SqlRunRepository(db).count_metric_points([run_id]) == 1


def test_replayed_run_creation_and_update_are_applied_once(api: httpx.Client, db: Database) -> None:
    experiment = api.post("/experiments", json={"name": "once"}).json()["experiment_id"]
    headers = {"X-Request-ID": uuid.uuid4().hex}
    first = api.post("/runs", json={"experiment_id": experiment}, headers=headers).json()
    again = api.post("/runs", json={"experiment_id": experiment}, headers=headers).json()
    assert again["info"]["run_id"] == first["info"]["run_id"]
    repo = SqlRunRepository(db)
    assert len(repo.search_runs(experiment_ids=[experiment])[0]) == 1

    run_id = first["info"]["run_id"]
    ending = {"status": "FINISHED", "end_time": 5000, **_batch(["loss"])}
    headers = {"X-Request-ID": uuid.uuid4().hex}
    ended = api.patch(f"/runs/{run_id}", json=ending, headers=headers).json()
    replayed = api.patch(f"/runs/{run_id}", json=ending, headers=headers).json()
    assert replayed == ended
    assert ended["status"] == "FINISHED"
    assert repo.count_metric_points([run_id]) == 1  # the final batch is not doubled


class _LoseFirstAnswer(httpx.BaseTransport):
    """Sends every request; the first answer to a matching path is lost on the way back."""

    def __init__(self, path_suffix: str, status: int | None = None) -> None:
        self.inner = httpx.HTTPTransport()
        self.path_suffix = path_suffix
        self.status = status
        self.request_ids: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith(self.path_suffix):
            return self.inner.handle_request(request)
        self.request_ids.append(request.headers["X-Request-ID"])
        if len(self.request_ids) > 1:
            return self.inner.handle_request(request)
        if self.status is not None:  # refused before reaching the server
            return httpx.Response(self.status, headers={"Retry-After": "0"}, json={})
        answer = self.inner.handle_request(request)
        answer.read()
        answer.close()  # the connection goes back to the pool; only the answer is lost
        raise httpx.ReadError("connection reset after the server answered", request=request)

    def close(self) -> None:
        self.inner.close()


def test_the_client_retries_a_lost_answer_with_the_same_request_id(
    team_server: str, db: Database
) -> None:
    transport = _LoseFirstAnswer("/batch")
    with RestRunRepository(team_server, transport=transport, backoff=0.01) as repo:
        experiment = repo.create_experiment("retried").experiment_id
        run_id = repo.create_run(experiment_id=experiment).run_id
        points = [Metric("m", float(i), i, 1) for i in range(1000)]
        repo.log_batch(run_id, metrics=points)
    assert len(transport.request_ids) == 2
    assert len(set(transport.request_ids)) == 1  # the retry re-sent the same id
    assert SqlRunRepository(db).count_metric_points([run_id]) == 1000  # applied once


def test_the_client_retries_429_and_5xx(team_server: str) -> None:
    for status in (429, 503):
        transport = _LoseFirstAnswer("/experiments", status=status)
        with RestRunRepository(team_server, transport=transport, backoff=0.01) as repo:
            repo.create_experiment(f"busy-{status}")
        assert len(transport.request_ids) == 2


def test_one_repository_serves_many_threads(repo: RestRunRepository, db: Database) -> None:
    experiment = repo.create_experiment("threads").experiment_id
    run_ids = [repo.create_run(experiment_id=experiment).run_id for _ in range(4)]

    def log(run_id: str) -> None:
        for step in range(20):
            repo.log_batch(run_id, metrics=[Metric("m", 1.0, step, 1), Metric("n", 2.0, step, 1)])

    threads = [threading.Thread(target=log, args=(run_id,)) for run_id in run_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert SqlRunRepository(db).count_metric_points(run_ids) == 4 * 20 * 2


def test_errors_come_back_as_their_class(repo: RestRunRepository) -> None:
    with pytest.raises(NotFound, match=UNKNOWN_ID) as missing:
        repo.get_run(UNKNOWN_ID)
    assert missing.value.hint == "List runs with `cycleml runs list`."
    assert len(missing.value.details["request_id"]) == 32
    experiment = repo.create_experiment("e").experiment_id
    run_id = repo.create_run(experiment_id=experiment).run_id
    repo.log_batch(run_id, params={"lr": 1})
    with pytest.raises(ParamConflict) as conflict:
        repo.log_batch(run_id, params={"lr": 2})
    assert conflict.value.status_code == 409
    assert conflict.value.details["conflicts"] == {"lr": ["1", "2"]}
    with pytest.raises(InvalidInput, match="not JSON"):
        repo.record_input(run_id, "dataset_version", "x", payload={"obj": object()})


def test_an_unreachable_server_is_a_store_error() -> None:
    with (
        RestRunRepository("http://127.0.0.1:9", retries=1, backoff=0.01) as repo,
        pytest.raises(StoreError, match="Cannot reach the tracking server") as info,
    ):
        repo.list_experiments()
    assert "2 attempts" in info.value.message
    with pytest.raises(InvalidInput, match="http"):
        RestRunRepository("localhost:5000")


def test_openapi_documents_every_tracking_route(api: httpx.Client, team_server: str) -> None:
    document = httpx.get(f"{team_server}/openapi.json").json()
    ours = {path: ops for path, ops in document["paths"].items() if path.startswith(API)}
    assert {f"{API}/experiments", f"{API}/runs/search", f"{API}/runs/{{run_id}}/batch"} <= set(ours)
    for path, operations in ours.items():
        for method, operation in operations.items():
            assert operation.get("summary"), (method, path)
    run_schema = document["components"]["schemas"]["RunOut"]
    assert set(run_schema["properties"]) == {"info", "data"}


# ---- the SDK against a server: one request per flush ----------------------------------------


def _requests(team_server: str, method: str, route: str) -> int:
    text = httpx.get(f"{team_server}/metrics").text
    pattern = (
        rf'cycleml_server_requests_total\{{method="{method}",route="{re.escape(route)}",'
        r'status="2\d\d"\} (\d+)\.0'
    )
    return sum(int(count) for count in re.findall(pattern, text))


def test_the_fluent_api_logs_through_the_server_one_request_per_flush(
    team_server: str, db: Database, default_tracker: Any, tmp_path: Any
) -> None:
    default_tracker(home=tmp_path, tracking_uri=team_server, flush_points=100, flush_seconds=60.0)
    cycleml.set_experiment("remote")
    with cycleml.start_run(run_name="over-http") as run:
        cycleml.log_params({"lr": 0.1, "depth": 3})
        for step in range(250):
            cycleml.log_metric("loss", 1 / (step + 1), step=step)
        cycleml.log_metric("nan", math.nan)
    batches = _requests(team_server, "POST", f"{API}/runs/{{run_id}}/batch")
    updates = _requests(team_server, "PATCH", f"{API}/runs/{{run_id}}")
    # 252 entries: full buffers flush at 100 and 200; the last 52 ride with the run's end.
    assert (batches, updates) == (2, 1)

    stored = SqlRunRepository(db).get_run(run.run_id)  # in the server's database
    assert stored.info.run_name == "over-http"
    assert stored.info.status == "FINISHED"
    assert stored.data.params == {"lr": "0.1", "depth": "3"}
    assert stored.data.metrics["loss"] == 1 / 250
    assert math.isnan(stored.data.metrics["nan"])
    assert len(SqlRunRepository(db).get_metric_history(run.run_id, "loss")) == 250


def test_cycleml_tracking_uri_points_the_sdk_at_a_server(
    team_server: str, db: Database, default_tracker: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("CYCLEML_TRACKING_URI", team_server)
    default_tracker(home=tmp_path)
    with cycleml.start_run() as run:
        cycleml.log_metric("m", 1.0)
    assert SqlRunRepository(db).get_run(run.run_id).data.metrics == {"m": 1.0}
    assert not (tmp_path / ".cycleml" / "metadata.db").exists()  # nothing tracked locally


@pytest.mark.parametrize("older", ["-1", "-9223370240156306350", "99999999999999999999"])
def test_stale_runs_outside_the_range_of_times_are_400(team_server: str, older: str) -> None:
    answer = httpx.get(f"{team_server}/api/v1/runs/stale", params={"older_than_ms": older})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_input"
