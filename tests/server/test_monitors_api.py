"""cycleml's monitoring API (/api/v1/monitors ...) over real HTTP, and Monitors against a server.

The repository suite (tests/monitoring/test_monitor_repository.py) runs whole through the
REST backend; these tests are about HTTP itself: status codes, the one error shape, bad
input that writes nothing, request ids applied once, pages, racing delivery claims,
OpenAPI, and ``Monitors`` pointed at a server by an http tracking URI.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from cycleml.errors import InvalidState, NotFound
from cycleml.monitoring import Monitors, RestMonitorRepository, SqlMonitorRepository
from cycleml.registry import SqlModelRepository
from cycleml.serving import PredictionLogger, RestDeploymentRepository, SqlDeploymentRepository
from cycleml.settings import Settings
from cycleml.store import Database
from server.test_registry_api import _error

API = "/api/v1"
DIGEST = "a" * 64
HOUR = 3_600_000
T0 = 1_764_000_000_000 - 1_764_000_000_000 % HOUR
TableCounts = Callable[[], dict[str, int]]


@pytest.fixture
def deployed(db: Database) -> Database:
    """Model ``churn`` version 1 served by deployment ``churn``."""
    models = SqlModelRepository(db)
    models.create_registered_model("churn")
    models.create_model_version("churn", source="s3://b/1")
    SqlDeploymentRepository(db).create_deployment("churn", "models:/churn/1")
    return db


def _evaluation(end: int, **extra: Any) -> dict[str, Any]:
    return {"window_start": end - 10, "window_end": end, "rows": 5, "status": "ok",
            "values": {"m": end / 100, "nan": "NaN"}, **extra}  # fmt: skip


def _transition(**extra: Any) -> dict[str, Any]:
    event = {"kind": "fired", "metric": "m", "value": 0.9, "threshold": 0.5, "time": T0,
             "notifiers": ["log", "hook"]}  # fmt: skip
    return {"rule_name": "high", "state": {"consecutive": 1, "firing": True, "last_value": 0.9},
            "event": event, "window_end": 100, **extra}  # fmt: skip


def _fire(api: httpx.Client) -> str:
    answer = api.post("/monitors/drift/alert-transitions", json=_transition())
    assert answer.status_code == 200, answer.text
    return str(answer.json()["event"]["id"])


@pytest.fixture
def monitor(api: httpx.Client, deployed: Database) -> dict[str, Any]:
    ref = api.post("/monitor-references", json={"digest": DIGEST, "rows": 10, "name": "train"})
    assert ref.status_code == 201, ref.text
    body = {"name": "drift", "target": "churn", "reference": "train", "config": {"w": 1}}
    created = api.post("/monitors", json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def test_monitor_routes_answer_with_their_status_codes(
    api: httpx.Client, monitor: dict[str, Any]
) -> None:
    assert (monitor["target_kind"], monitor["model_name"], monitor["config"]) == (
        "deployment",
        "churn",
        {"w": 1},
    )
    ref = api.get("/monitor-references/train").json()
    assert api.get(f"/monitor-references/{ref['id']}").json() == ref
    assert monitor["reference_id"] == ref["id"]
    assert [r["name"] for r in api.get("/monitor-references").json()["references"]] == ["train"]
    assert api.get("/monitors/drift").json() == monitor
    assert [
        m["name"] for m in api.get("/monitors", params={"target": "churn"}).json()["monitors"]
    ] == ["drift"]
    patched = api.patch("/monitors/drift", json={"config": {"w": 2}, "reason": "wider"})
    assert (patched.status_code, patched.json()["config"]) == (200, {"w": 2})
    assert patched.json()["reference_id"] == ref["id"]  # left out: kept
    unref = api.patch("/monitors/drift", json={"reference": None}).json()
    assert (unref["reference_id"], unref["config"]) == (None, {"w": 2})
    moved = api.put("/monitors/drift/watermark", json={"watermark": 5, "reason": "backfill"})
    assert (moved.status_code, moved.json()["watermark"]) == (200, 5)

    recorded = api.post("/monitors/drift/evaluations", json=_evaluation(20, watermark=20))
    assert recorded.status_code == 201, recorded.text
    evaluation = recorded.json()
    assert evaluation["values"] == {"m": 0.2, "nan": "NaN"}  # strict JSON
    assert api.get(f"/monitor-evaluations/{evaluation['id']}").json() == evaluation
    assert api.get("/monitors/drift/evaluation-count").json() == {"count": 1}
    listed = api.get("/monitors/drift/evaluations", params={"with_values": True}).json()
    assert listed == {"evaluations": [evaluation], "next_page_token": None}
    history = api.get("/monitors/drift/history", params={"metric": ["m", "nan"]}).json()
    assert history == {
        "window_ends": [20, 20],
        "metrics": ["m", "nan"],
        "values": [0.2, "NaN"],
        "evaluation_ids": [evaluation["id"], evaluation["id"]],
    }

    event_id = _fire(api)
    states = api.get("/monitors/drift/alerts").json()["states"]
    assert (states["high"]["firing"], states["high"]["version"]) == (True, 1)
    event = api.get(f"/alert-events/{event_id}").json()
    assert (event["kind"], event["pending"]) == ("fired", True)
    assert api.get("/alert-events", params={"monitor_name": "drift"}).json()["events"] == [event]
    claim = api.post(f"/alert-events/{event_id}/claim", json={"notifier": "log"}).json()
    assert claim["delivery"]["status"] == "sending"
    again = api.post(f"/alert-events/{event_id}/claim", json={"notifier": "log"})
    assert (again.status_code, again.json()) == (200, {"delivery": None})
    body = {"notifier": "log", "status": "delivered", "claim": claim["delivery"]["claim"]}
    finished = api.post(f"/alert-events/{event_id}/finish", json=body).json()
    assert finished["deliveries"]["log"]["status"] == "delivered"
    trigger = {"hook": "retrain.sh", "ok": True, "duration_s": 1.5, "event_id": event_id}
    retrained = api.post("/monitors/drift/retrain-triggers", json=trigger)
    assert (retrained.status_code, retrained.content) == (204, b"")

    deleted = api.delete("/monitors/drift", params={"reason": "done"})
    assert (deleted.status_code, deleted.content) == (204, b"")
    _error(api.get("/monitors/drift"), 404, "not_found")


def test_missing_things_are_404(api: httpx.Client, monitor: dict[str, Any]) -> None:
    assert "'nope'" in _error(api.get("/monitors/nope"), 404, "not_found")["message"]
    for answer in (
        api.patch("/monitors/nope", json={"config": {}}),
        api.put("/monitors/nope/watermark", json={"watermark": 1}),
        api.delete("/monitors/nope"),
        api.post("/monitors/nope/evaluations", json=_evaluation(10)),
        api.get("/monitors/nope/evaluations"),
        api.get("/monitors/nope/evaluation-count"),
        api.get("/monitors/nope/history"),
        api.get("/monitors/nope/alerts"),
        api.post("/monitors/nope/alert-transitions", json=_transition()),
        api.post(
            "/monitors/nope/retrain-triggers", json={"hook": "x", "ok": True, "duration_s": 1}
        ),
        api.get("/alert-events", params={"monitor_name": "nope"}),
    ):
        assert "No monitor named 'nope'" in _error(answer, 404, "not_found")["message"]
    _error(api.get("/monitor-references/nope"), 404, "not_found")
    _error(api.get(f"/monitor-evaluations/{'8' * 32}"), 404, "not_found")
    _error(api.get(f"/alert-events/{'1' * 32}"), 404, "not_found")
    _error(api.post(f"/alert-events/{'1' * 32}/claim", json={"notifier": "log"}), 404, "not_found")
    event_id = _fire(api)
    missing = api.post(f"/alert-events/{event_id}/claim", json={"notifier": "email"})
    assert "no delivery to 'email'" in _error(missing, 404, "not_found")["message"]
    _error(api.get("/monitors/drift/nothing-here"), 404, "not_found")


def test_bad_input_is_400_and_writes_nothing(
    api: httpx.Client, monitor: dict[str, Any], table_counts: TableCounts
) -> None:
    before = table_counts()
    bad: list[tuple[httpx.Response, str]] = [
        (api.post("/monitors", json={"name": "a b", "target": "churn"}), "monitor name"),
        (api.post("/monitors", json={"name": "m", "target": 3}), "monitor target"),
        (api.post("/monitors", json={"name": "m", "target": "churn", "x": 1}), "x"),
        (api.post("/monitors", json={"target": "churn"}), "name"),
        (api.post("/monitor-references", json={"digest": "xyz", "rows": 1}), "digest"),
        (api.post("/monitor-references", json={"digest": DIGEST, "rows": 1.5}), "row count"),
        (api.patch("/monitors/drift", json={"config": [1]}), "monitor config"),
        (api.put("/monitors/drift/watermark", json={"watermark": -1}), "watermark"),
        (api.post("/monitors/drift/evaluations", json=_evaluation(10, status="fine")), "status"),
        (
            api.post("/monitors/drift/evaluations", json=_evaluation(10, values={"m": "high"})),
            "metric 'm'",
        ),
        (api.post("/monitors/drift/evaluations", json=_evaluation(10, window_start=99)), "ends"),
        (
            api.post("/monitors/drift/evaluations", json=_evaluation(10, sources=[["x"]])),
            "kind, id",
        ),
        (
            api.post("/monitors/drift/alert-transitions", json=_transition(rule_name="")),
            "rule name",
        ),
        (
            api.post(
                "/monitors/drift/alert-transitions",
                json=_transition(state={"consecutive": -1, "firing": True}),
            ),
            "consecutive",
        ),
        (
            api.post(
                "/monitors/drift/alert-transitions",
                json=_transition(
                    event={"kind": "opened", "metric": "m", "value": 1, "threshold": 0.5, "time": 1}
                ),
            ),
            "event kind",
        ),
        (
            api.post(
                "/monitors/drift/alert-transitions", json=_transition(event={"kind": "fired"})
            ),
            "",
        ),
        (api.get("/monitors/drift/evaluations", params={"limit": 0}), "limit"),
        (api.get("/monitors/drift/evaluations", params={"page_token": "garbage"}), "page token"),
        (api.get("/alert-events", params={"max_results": 0}), "max_results"),
        (api.get("/monitor-evaluations/abc"), "evaluation id"),
        (
            api.post(
                "/monitors/drift/evaluations",
                content=b"{not json",
                headers={"Content-Type": "application/json"},
            ),
            "",
        ),
    ]
    for answer, match in bad:
        assert match in _error(answer, 400, "invalid_input")["message"]
    assert table_counts() == before
    api.put("/monitors/drift/watermark", json={"watermark": 50})
    before = table_counts()
    late = _error(
        api.post("/monitors/drift/evaluations", json=_evaluation(10, watermark=40)),
        409,
        "invalid_state",
    )
    assert late["details"]["watermark"] == 50
    assert table_counts() == before


def test_a_request_id_is_applied_once(
    api: httpx.Client, monitor: dict[str, Any], db: Database, table_counts: TableCounts
) -> None:
    def twice(method: str, path: str, body: Any) -> Any:
        headers = {"X-Request-ID": uuid.uuid4().hex}
        first = api.request(method, path, json=body, headers=headers)
        again = api.request(method, path, json=body, headers=headers)
        assert first.status_code == again.status_code, again.text
        assert again.content == first.content  # the first attempt's answer
        return first.json() if first.content else None

    made = twice("POST", "/monitors", {"name": "again", "target": "churn"})
    assert made["name"] == "again"
    ref = twice("POST", "/monitor-references", {"digest": DIGEST, "rows": 3})  # no name, no id
    evaluation = twice("POST", "/monitors/drift/evaluations", _evaluation(10, watermark=10))
    transition = twice("POST", "/monitors/drift/alert-transitions", _transition())
    event_id = transition["event"]["id"]
    claim = twice("POST", f"/alert-events/{event_id}/claim", {"notifier": "log"})
    assert claim["delivery"]["attempts"] == 1  # claimed once, the same token returned
    finish = {"notifier": "log", "status": "delivered", "claim": claim["delivery"]["claim"]}
    twice("POST", f"/alert-events/{event_id}/finish", finish)
    twice("POST", "/monitors/drift/retrain-triggers", {"hook": "h", "ok": False, "duration_s": 2})

    sql = SqlMonitorRepository(db)
    assert [m.name for m in sql.list_monitors()] == ["again", "drift"]
    assert ref["id"] in {r.id for r in sql.list_monitor_references()}
    assert len(sql.list_monitor_references()) == 2
    assert [e.id for e in sql.list_monitor_evaluations("drift")] == [evaluation["id"]]
    assert len(sql.list_alert_events("drift")) == 1
    assert sql.get_alert_states("drift")["high"].version == 1
    assert sql.get_alert_event(event_id).deliveries["log"].status == "delivered"
    for action in ("alert.fired", "alert.deliver", "monitor.retrain_trigger", "monitor.evaluate"):
        assert len(db.list_audit(entity_id="drift", action=action)) == 1, action

    headers = {"X-Request-ID": uuid.uuid4().hex}
    api.post("/monitors/drift/evaluations", json=_evaluation(20), headers=headers)
    before = table_counts()
    misused = api.post("/monitors", json={"name": "other", "target": "churn"}, headers=headers)
    assert "already used" in _error(misused, 400, "invalid_input")["message"]
    assert table_counts() == before


class _LoseFirstAnswer(httpx.BaseTransport):
    """The first answer to a matching path is lost after the server applied the request."""

    def __init__(self, path_suffix: str) -> None:
        self.inner = httpx.HTTPTransport()
        self.path_suffix = path_suffix
        self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith(self.path_suffix):
            return self.inner.handle_request(request)
        self.sent += 1
        answer = self.inner.handle_request(request)
        if self.sent > 1:
            return answer
        answer.read()
        answer.close()  # the connection goes back to the pool; only the answer is lost
        raise httpx.ReadError("connection reset after the server answered", request=request)

    def close(self) -> None:
        self.inner.close()


def test_lost_answers_are_retried_and_applied_once(
    team_server: str, monitor: dict[str, Any], db: Database
) -> None:
    transport = _LoseFirstAnswer("/evaluations")
    with RestMonitorRepository(team_server, transport=transport, backoff=0.01) as repo:
        stored = repo.record_monitor_evaluation(
            "drift", window_start=0, window_end=10, rows=1, status="ok", values={"m": 1.0},
            watermark=10,
        )  # fmt: skip
    assert transport.sent == 2  # re-sent with the same request id: not "already evaluated"
    assert stored.window_end == 10
    transport = _LoseFirstAnswer("/claim")
    with RestMonitorRepository(team_server, transport=transport, backoff=0.01) as repo:
        _, event = repo.apply_alert_transition(
            "drift", "r", _State(), _new_event(), window_end=10, expected_version=0
        )
        assert event is not None
        claimed = repo.claim_alert_delivery(event.id, "log")
        assert claimed is not None  # the first claim's answer, not "someone is sending it"
        assert claimed.attempts == 1
        done = repo.finish_alert_delivery(event.id, "log", "delivered", claim=claimed.claim)
        assert done.deliveries["log"].status == "delivered"
    assert transport.sent == 2
    sql = SqlMonitorRepository(db)
    assert sql.count_monitor_evaluations("drift") == 1
    assert sql.get_monitor("drift").watermark == 10
    with RestMonitorRepository(team_server, backoff=0.01) as repo:
        with pytest.raises(InvalidState, match="already been evaluated"):
            repo.record_monitor_evaluation(
                "drift", window_start=0, window_end=10, rows=1, status="ok", values={},
                watermark=10,
            )  # fmt: skip
        with pytest.raises(NotFound, match="No monitor named"):
            repo.get_monitor("gone")


@dataclasses.dataclass(frozen=True)
class _State:
    consecutive: int = 1
    firing: bool = True
    last_value: float | None = 0.9
    last_fired_at: int | None = T0


def _new_event() -> Any:
    from cycleml.monitoring import NewAlertEvent

    return NewAlertEvent("fired", "m", 0.9, 0.5, T0, notifiers=("log",))


def _claim_at_once(team_server: str, event_id: str) -> list[Any]:
    """Two senders (two connections, two request ids) claim one delivery at the same time."""
    barrier = threading.Barrier(2)
    got: list[Any] = []

    def claim() -> None:
        with httpx.Client(base_url=team_server + API) as own:
            barrier.wait()
            found = own.post(f"/alert-events/{event_id}/claim", json={"notifier": "log"})
            assert found.status_code == 200, found.text
            got.append(found.json()["delivery"])

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return got


def test_two_concurrent_claims_one_wins(
    team_server: str, api: httpx.Client, monitor: dict[str, Any]
) -> None:
    for round_ in range(5):
        event = {**_transition()["event"], "notifiers": ["log"]}
        answer = api.post(
            "/monitors/drift/alert-transitions",
            json=_transition(rule_name=f"r{round_}", event=event),
        )
        got = _claim_at_once(team_server, answer.json()["event"]["id"])
        winners = [d for d in got if d is not None]
        assert (len(got), len(winners)) == (2, 1)
        assert winners[0]["status"] == "sending"


def test_listings_come_in_pages(api: httpx.Client, monitor: dict[str, Any]) -> None:
    ids = [api.post("/monitors/drift/evaluations", json=_evaluation(end)).json()["id"]
           for end in range(10, 80, 10)]  # fmt: skip

    def pages(path: str, key: str, **params: Any) -> list[list[str]]:
        found: list[list[str]] = []
        while True:
            page = api.get(path, params={**params, "max_results": 3}).json()
            found.append([item["id"] for item in page[key]])
            if page["next_page_token"] is None:
                return found
            params["page_token"] = page["next_page_token"]

    every = pages("/monitors/drift/evaluations", "evaluations")
    assert every == [ids[0:3], ids[3:6], ids[6:7]]
    newest = pages("/monitors/drift/evaluations", "evaluations", limit=5)
    assert newest == [ids[2:5], ids[5:7]]
    assert pages("/monitors/drift/evaluations", "evaluations", limit=6, since=20) == [
        ids[1:4],
        ids[4:7],
    ]
    events = [_fire_rule(api, f"rule-{i}", T0 + i) for i in range(4)]
    assert pages("/alert-events", "events", monitor_name="drift") == [events[:3], events[3:]]
    assert pages("/alert-events", "events", limit=2) == [events[2:]]


def _fire_rule(api: httpx.Client, rule: str, time: int) -> str:
    event = {**_transition()["event"], "time": time}
    answer = api.post(
        "/monitors/drift/alert-transitions", json=_transition(rule_name=rule, event=event)
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["event"]["id"])


def test_openapi_documents_every_monitor_route(team_server: str) -> None:
    document = httpx.get(f"{team_server}/openapi.json").json()
    prefixes = (f"{API}/monitor", f"{API}/alert-events")
    ours = {p: ops for p, ops in document["paths"].items() if p.startswith(prefixes)}
    assert {
        f"{API}/monitor-references",
        f"{API}/monitor-references/{{reference}}",
        f"{API}/monitors",
        f"{API}/monitors/{{name}}",
        f"{API}/monitors/{{name}}/watermark",
        f"{API}/monitors/{{name}}/evaluations",
        f"{API}/monitors/{{name}}/evaluation-count",
        f"{API}/monitors/{{name}}/history",
        f"{API}/monitors/{{name}}/alerts",
        f"{API}/monitors/{{name}}/alert-transitions",
        f"{API}/monitors/{{name}}/retrain-triggers",
        f"{API}/monitor-evaluations/{{evaluation_id}}",
        f"{API}/alert-events",
        f"{API}/alert-events/{{event_id}}",
        f"{API}/alert-events/{{event_id}}/claim",
        f"{API}/alert-events/{{event_id}}/finish",
    } == set(ours)
    assert set(ours[f"{API}/monitors/{{name}}"]) == {"get", "patch", "delete"}
    for ops in ours.values():
        for op in ops.values():
            assert op["summary"]
            assert op["operationId"].startswith("monitors_")
            assert op["tags"] == ["monitors"]
    schemas = document["components"]["schemas"]
    assert schemas["EvaluationOut"]["properties"]["values"]  # answers are documented
    write = ours[f"{API}/monitors/{{name}}/evaluations"]["post"]
    assert write["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert any(p["name"] == "X-Request-ID" for p in write["parameters"])


def _frame(n: int, *, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"tenure": rng.normal(24 + shift * 10, 10, n), "spend": rng.lognormal(3 + shift, 0.4, n)}
    )


def _log_hour(settings: Settings, hour: int, frame: pd.DataFrame) -> None:
    times = T0 + hour * HOUR + np.linspace(0, HOUR - 1, len(frame)).astype(np.int64)
    with PredictionLogger(settings, "churn", max_rows=100_000, max_delay_s=60) as logger:
        logger.log(
            [
                {"request_id": f"h{hour}-{i}", "time": int(times[i]), "model_name": "churn",
                 "model_version": 1, "inputs": row, "outputs": {"prediction": 1}}
                for i, row in enumerate(frame.to_dict(orient="records"))
            ]
        )  # fmt: skip


def test_monitors_with_an_http_tracking_uri_use_the_server(
    settings: Settings, team_server: str, deployed: Database
) -> None:
    _log_hour(settings, 0, _frame(300, seed=1))
    _log_hour(settings, 1, _frame(300, seed=2, shift=2.0))  # drifted: the rule fires
    remote = dataclasses.replace(settings, tracking_uri=team_server)
    monitors = Monitors(remote)
    try:
        assert isinstance(monitors.repository, RestMonitorRepository)
        assert isinstance(monitors.deployments, RestDeploymentRepository)
        assert monitors.db is None
        ref = monitors.save_reference(_frame(2_000, seed=0), model="models:/churn/1")
        rules = [{"name": "drifted", "metric": "drift.share", "operator": ">=",
                  "threshold": 1.0, "notify": ["log"]}]  # fmt: skip
        monitors.create("watch", target="churn", reference=ref.id, window="1h", lag=0,
                        rules=rules)  # fmt: skip
        runs = monitors.run("watch", now=T0 + 2 * HOUR)
        assert [(r.window_start, r.rows) for r in runs] == [(T0, 300), (T0 + HOUR, 300)]
        assert [r.status for r in runs] == ["ok", "alert"]
        assert monitors.run("watch", now=T0 + 2 * HOUR) == []  # the watermark moved
    finally:
        monitors.close()
    # Written through the server into the shared store: evaluations, lineage, alert, delivery.
    sql = SqlMonitorRepository(deployed)
    assert sql.get_monitor("watch").watermark == T0 + 2 * HOUR
    assert sql.count_monitor_evaluations("watch") == 2
    [event] = sql.list_alert_events("watch")
    assert (event.kind, event.deliveries["log"].status) == ("fired", "delivered")
    edges = deployed.lineage_edges("monitor_evaluation", runs[0].evaluation_id)
    assert ("prediction_log", "read_by") in {(e.src_kind, e.relation) for e in edges}


@pytest.mark.parametrize("version", ["-27694764489", "0", "2147483648"])
def test_reference_versions_outside_the_column_are_400(api: httpx.Client, version: str) -> None:
    answer = api.get("/monitor-references", params={"model_name": "m", "model_version": version})
    assert answer.status_code == 400, answer.text
