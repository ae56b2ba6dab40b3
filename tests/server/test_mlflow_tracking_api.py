"""MLflow's tracking routes over plain HTTP: conventions, edge cases, errors and paging.

The MLflow client itself drives the everyday sequence in ``test_mlflow_client.py``; here
each convention is pinned down on the wire: GET fields as query parameters (repeated keys
for lists), ``run_uuid`` for ``run_id``, proto3 JSON numbers as strings and non-finite
doubles, MLflow's error codes and statuses, and page tokens.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from cycleml.errors import InvalidInput
from cycleml.server._mlflow_search import (
    filter_experiments,
    order_experiments,
    parse_experiment_filter,
    sample_steps,
)
from cycleml.settings import Settings
from cycleml.store import open_artifact_store, open_database
from cycleml.tracking import Experiment, Metric, SqlRunRepository

API = "/api/2.0/mlflow"


class Mlflow:
    """A thin caller of MLflow's REST API on one server."""

    def __init__(self, url: str, prefix: str = API) -> None:
        self.base = url + prefix
        self.http = httpx.Client(timeout=30)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(f"{self.base}/{path}", params=params)

    def post(self, path: str, body: Any = None, **fields: Any) -> httpx.Response:
        return self.http.post(f"{self.base}/{path}", json=fields if body is None else body)

    def ok(self, response: httpx.Response) -> dict[str, Any]:
        assert response.status_code == 200, response.text
        return dict(response.json())

    def run(self, experiment_id: str = "0", **fields: Any) -> str:
        answer = self.ok(self.post("runs/create", experiment_id=experiment_id, **fields))
        return str(answer["run"]["info"]["run_id"])


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error_code"]


@pytest.fixture
def api(server_url: str) -> Mlflow:
    return Mlflow(server_url)


def test_experiment_0_is_default_on_both_prefixes(api: Mlflow, server_url: str) -> None:
    experiment = api.ok(api.get("experiments/get", experiment_id="0"))["experiment"]
    assert experiment["experiment_id"] == "0"
    assert experiment["name"] == "Default"
    assert experiment["lifecycle_stage"] == "active"
    ajax = Mlflow(server_url, "/ajax-api/2.0/mlflow")
    by_name = ajax.ok(ajax.get("experiments/get-by-name", experiment_name="Default"))
    assert by_name["experiment"]["experiment_id"] == "0"
    run_id = api.run("0")
    info = api.ok(api.get("runs/get", run_id=run_id))["run"]["info"]
    assert info["experiment_id"] == "0"
    assert info["run_uuid"] == run_id
    assert info["artifact_uri"] == f"mlflow-artifacts:/0/{run_id}/artifacts"
    renamed = api.post("experiments/update", experiment_id="0", new_name="Mine")
    assert error(renamed) == (400, "INVALID_PARAMETER_VALUE")
    assert "cannot be renamed" in renamed.json()["message"]


def test_experiment_lifecycle_and_tags(api: Mlflow, settings: Settings) -> None:
    created = api.ok(
        api.post("experiments/create", name="churn", tags=[{"key": "team", "value": "risk"}])
    )
    experiment_id = created["experiment_id"]
    assert len(experiment_id) == 32
    assert error(api.post("experiments/create", name="churn")) == (400, "RESOURCE_ALREADY_EXISTS")
    assert error(api.post("experiments/create")) == (400, "INVALID_PARAMETER_VALUE")
    api.ok(api.post("experiments/update", experiment_id=experiment_id, new_name="churn-2"))
    api.ok(
        api.post("experiments/set-experiment-tag", experiment_id=experiment_id, key="k", value="v")
    )
    api.ok(api.post("experiments/delete-experiment-tag", experiment_id=experiment_id, key="team"))
    missing_tag = api.post(
        "experiments/delete-experiment-tag", experiment_id=experiment_id, key="x"
    )
    assert error(missing_tag) == (404, "RESOURCE_DOES_NOT_EXIST")
    got = api.ok(api.get("experiments/get", experiment_id=experiment_id))["experiment"]
    assert got["name"] == "churn-2"
    assert got["tags"] == [{"key": "k", "value": "v"}]
    assert got["artifact_location"] == open_artifact_store(settings.artifact_uri).uri
    api.ok(api.post("experiments/delete", experiment_id=experiment_id))
    by_name = api.ok(api.get("experiments/get-by-name", experiment_name="churn-2"))
    assert by_name["experiment"]["lifecycle_stage"] == "deleted"
    api.ok(api.post("experiments/restore", experiment_id=experiment_id))
    with open_database(settings) as db:
        actions = [
            r.action for r in db.list_audit(entity_kind="experiment", entity_id=experiment_id)
        ]
    assert actions == [
        "experiment.create",
        "experiment.rename",
        "experiment.set_tag",
        "experiment.delete_tag",
        "experiment.delete",
        "experiment.restore",
    ]


def test_missing_things_are_resource_does_not_exist(api: Mlflow) -> None:
    assert error(api.get("experiments/get-by-name", experiment_name="nope")) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert error(api.get("experiments/get", experiment_id="12345")) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert error(api.get("runs/get", run_id="f" * 32)) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert error(api.get("runs/get", run_id="not-a-run")) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert error(api.post("runs/log-metric", run_id="f" * 32, key="m", value=1, timestamp=1)) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    missing = api.get("runs/get")
    assert error(missing) == (400, "INVALID_PARAMETER_VALUE")
    assert "'run_id'" in missing.json()["message"]
    assert api.http.get(f"{api.base}/runs/create").status_code == 405


def test_bad_bodies_are_invalid_parameter_value(api: Mlflow) -> None:
    raw = api.http.post(
        f"{api.base}/runs/create",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert error(raw) == (400, "INVALID_PARAMETER_VALUE")
    assert error(api.post("runs/create", body=[1, 2])) == (400, "INVALID_PARAMETER_VALUE")
    assert error(api.post("experiments/create", name=7)) == (400, "INVALID_PARAMETER_VALUE")
    run_id = api.run()
    no_stamp = api.post("runs/log-metric", run_id=run_id, key="m", value=1.0)
    assert error(no_stamp) == (400, "INVALID_PARAMETER_VALUE")
    assert "'timestamp'" in no_stamp.json()["message"]
    bad_value = api.post("runs/log-metric", run_id=run_id, key="m", value="high", timestamp=1)
    assert error(bad_value) == (400, "INVALID_PARAMETER_VALUE")


def test_run_uuid_strings_for_int64_and_non_finite_doubles(api: Mlflow) -> None:
    run_id = api.run(start_time="1700000000000", run_name="wire")
    # The legacy run_uuid alone names the run; int64 fields may be strings (proto3 JSON).
    api.ok(
        api.post(
            "runs/log-metric", run_uuid=run_id, key="loss", value="NaN", timestamp="5", step="3"
        )
    )
    api.ok(api.post("runs/log-metric", run_uuid=run_id, key="gain", value="-Infinity", timestamp=6))
    run = api.ok(api.get("runs/get", run_uuid=run_id))["run"]
    assert run["info"]["start_time"] == 1700000000000
    assert run["info"]["run_name"] == "wire"
    assert {m["key"]: m["value"] for m in run["data"]["metrics"]} == {
        "loss": "NaN",
        "gain": "-Infinity",
    }
    history = api.ok(api.get("metrics/get-history", run_uuid=run_id, metric_key="loss"))
    assert history["metrics"] == [{"key": "loss", "value": "NaN", "timestamp": 5, "step": 3}]
    ended = api.ok(
        api.post("runs/update", run_uuid=run_id, status="FINISHED", end_time="1700000000500")
    )
    assert ended["run_info"]["status"] == "FINISHED"
    assert ended["run_info"]["end_time"] == 1700000000500
    killed = api.ok(api.post("runs/update", run_id=run_id, status=5))  # the proto number
    assert killed["run_info"]["status"] == "KILLED"


def test_run_names_parents_and_tags(api: Mlflow, settings: Settings) -> None:
    parent = api.run(run_name="parent")
    child = api.run(tags=[{"key": "mlflow.parentRunId", "value": parent}])
    tags = {
        t["key"]: t["value"]
        for t in api.ok(api.get("runs/get", run_id=child))["run"]["data"]["tags"]
    }
    assert tags["mlflow.parentRunId"] == parent
    assert tags["mlflow.runName"].startswith("run-")
    clash = api.post("runs/create", experiment_id="0", run_name="a",
                     tags=[{"key": "mlflow.runName", "value": "b"}])  # fmt: skip
    assert error(clash) == (400, "INVALID_PARAMETER_VALUE")
    api.ok(api.post("runs/set-tag", run_id=child, key="mlflow.runName", value="renamed"))
    api.ok(api.post("runs/set-tag", run_id=child, key="note", value=""))
    api.ok(api.post("runs/delete-tag", run_id=child, key="note"))
    assert error(api.post("runs/delete-tag", run_id=child, key="note")) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    with open_database(settings) as db:
        run = SqlRunRepository(db).get_run(child)
        assert run.info.run_name == "renamed"
        assert run.data.tags["mlflow.runName"] == "renamed"
        assert run.info.parent_run_id == parent
    api.ok(api.post("runs/update", run_id=child, run_name="again"))
    info = api.ok(api.get("runs/get", run_id=child))["run"]
    assert info["info"]["run_name"] == "again"
    assert {"key": "mlflow.runName", "value": "again"} in info["data"]["tags"]


def test_params_are_immutable_and_batches_all_or_nothing(api: Mlflow, settings: Settings) -> None:
    run_id = api.run()
    api.ok(api.post("runs/log-parameter", run_id=run_id, key="lr", value="0.1"))
    api.ok(api.post("runs/log-parameter", run_id=run_id, key="lr", value="0.1"))  # same: fine
    again = api.post("runs/log-parameter", run_id=run_id, key="lr", value="0.2")
    assert error(again) == (400, "INVALID_PARAMETER_VALUE")
    now = int(time.time() * 1000)
    twice = api.post(
        "runs/log-batch",
        run_id=run_id,
        metrics=[{"key": "m", "value": 1, "timestamp": now, "step": 0}],
        params=[{"key": "a", "value": "1"}, {"key": "a", "value": "2"}],
    )
    assert error(twice) == (400, "INVALID_PARAMETER_VALUE")
    too_many = api.post(
        "runs/log-batch",
        run_id=run_id,
        params=[{"key": f"p{i}", "value": "1"} for i in range(101)],
    )
    assert error(too_many) == (400, "INVALID_PARAMETER_VALUE")
    assert "at most 100" in too_many.json()["message"]
    with open_database(settings) as db:
        run = SqlRunRepository(db).get_run(run_id)
    assert run.data.params == {"lr": "0.1"}
    assert run.data.metrics == {}
    api.ok(api.post("runs/delete", run_id=run_id))
    deleted = api.post("runs/log-parameter", run_id=run_id, key="x", value="1")
    assert deleted.status_code == 409
    assert deleted.json()["error_code"] == "INVALID_STATE"


def test_search_runs_filters_orders_and_pages(api: Mlflow) -> None:
    experiment_id = api.ok(api.post("experiments/create", name="search"))["experiment_id"]
    now = int(time.time() * 1000)
    for i in range(5):
        run_id = api.run(experiment_id, run_name=f"r{i}")
        api.ok(
            api.post(
                "runs/log-batch",
                run_id=run_id,
                metrics=[{"key": "auc", "value": 0.5 + i / 10, "timestamp": now, "step": 0}],
                params=[{"key": "even", "value": str(i % 2 == 0)}],
            )
        )
    names: list[str] = []
    token = None
    while True:
        page = api.ok(
            api.post(
                "runs/search",
                experiment_ids=[experiment_id],
                filter="params.even = 'True'",
                order_by=["metrics.auc DESC"],
                max_results=2,
                **({"page_token": token} if token else {}),
            )
        )
        names += [run["info"]["run_name"] for run in page["runs"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert names == ["r4", "r2", "r0"]
    bad = api.post("runs/search", experiment_ids=[experiment_id], filter="metrics.auc >> 1")
    assert error(bad) == (400, "INVALID_PARAMETER_VALUE")
    bad_token = api.post("runs/search", experiment_ids=[experiment_id], page_token="nope")
    assert error(bad_token) == (400, "INVALID_PARAMETER_VALUE")
    too_many = api.post("runs/search", experiment_ids=[experiment_id], max_results=50_001)
    assert error(too_many) == (400, "INVALID_PARAMETER_VALUE")
    everything = api.ok(
        api.post("runs/search", experiment_ids=[experiment_id, "0"], run_view_type="ALL")
    )
    assert len(everything["runs"]) == 5
    assert "next_page_token" not in everything


def test_search_experiments_by_query_parameters(api: Mlflow) -> None:
    for name in ("alpha", "beta", "gamma"):
        api.ok(api.post("experiments/create", name=name, tags=[{"key": "kind", "value": name[0]}]))
    gone = api.ok(api.post("experiments/create", name="gone"))["experiment_id"]
    api.ok(api.post("experiments/delete", experiment_id=gone))
    # GET: every field a query parameter, order_by repeated.
    page = api.ok(
        api.http.get(
            f"{api.base}/experiments/search",
            params=[("filter", "name LIKE '%a'"), ("order_by", "name DESC"), ("max_results", "2")],
        )
    )
    assert [e["name"] for e in page["experiments"]] == ["gamma", "beta"]
    rest = api.ok(
        api.get(
            "experiments/search",
            filter="name LIKE '%a'",
            order_by="name DESC",
            max_results=2,
            page_token=page["next_page_token"],
        )
    )
    assert [e["name"] for e in rest["experiments"]] == ["alpha"]
    assert "next_page_token" not in rest
    listed = api.ok(api.post("experiments/search", order_by=["name ASC"]))
    assert [e["name"] for e in listed["experiments"]] == ["Default", "alpha", "beta", "gamma"]
    assert listed["experiments"][0]["experiment_id"] == "0"
    deleted = api.ok(api.post("experiments/search", view_type="DELETED_ONLY"))
    assert [e["name"] for e in deleted["experiments"]] == ["gone"]
    tagged = api.ok(api.post("experiments/search", filter="tags.kind = 'b'"))
    assert [e["name"] for e in tagged["experiments"]] == ["beta"]
    assert error(api.post("experiments/search", filter="name ~ 'x'")) == (
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_metric_history_pages_and_bulk_interval(api: Mlflow) -> None:
    runs = [api.run(), api.run()]
    for offset, run_id in enumerate(runs):
        api.ok(
            api.post(
                "runs/log-batch",
                run_id=run_id,
                metrics=[
                    {"key": "loss", "value": step + offset, "timestamp": 1000 + step, "step": step}
                    for step in range(10)
                ],
            )
        )
    points: list[int] = []
    token = None
    while True:
        fields: dict[str, Any] = {"run_id": runs[0], "metric_key": "loss", "max_results": 4}
        page = api.ok(
            api.get("metrics/get-history", **fields, **({"page_token": token} if token else {}))
        )
        points += [m["step"] for m in page["metrics"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert points == list(range(10))
    bulk = api.ok(
        api.http.get(
            f"{api.base}/metrics/get-history-bulk-interval",
            params=[
                ("run_ids", runs[0]),
                ("run_ids", runs[1]),
                ("metric_key", "loss"),
                ("max_results", "3"),
            ],
        )
    )
    by_run: dict[str, list[int]] = {}
    for metric in bulk["metrics"]:
        by_run.setdefault(metric["run_id"], []).append(metric["step"])
    assert set(by_run) == set(runs)
    for steps in by_run.values():
        assert (steps[0], steps[-1]) == (0, 9)  # each curve keeps its ends
        assert len(steps) <= 4
    window = api.ok(
        api.get(
            "metrics/get-history-bulk-interval",
            run_ids=runs[1],
            metric_key="loss",
            start_step=2,
            end_step=4,
        )
    )
    assert [(m["step"], m["value"]) for m in window["metrics"]] == [(2, 3.0), (3, 4.0), (4, 5.0)]
    half = api.get(
        "metrics/get-history-bulk-interval", run_ids=runs[0], metric_key="loss", start_step=1
    )
    assert error(half) == (400, "INVALID_PARAMETER_VALUE")


def test_log_inputs_records_lineage_and_shows_on_the_run(api: Mlflow, settings: Settings) -> None:
    run_id = api.run()
    dataset = {
        "name": "tumours",
        "digest": "d" * 20,
        "source_type": "cycleml",
        "source": "datasets:/tumours/2",
    }
    api.ok(
        api.post(
            "runs/log-inputs",
            run_id=run_id,
            datasets=[
                {"dataset": dataset, "tags": [{"key": "mlflow.data.context", "value": "eval"}]}
            ],
        )
    )
    inputs = api.ok(api.get("runs/get", run_id=run_id))["run"]["inputs"]["dataset_inputs"]
    assert inputs == [
        {"tags": [{"key": "mlflow.data.context", "value": "eval"}], "dataset": dataset}
    ]
    with open_database(settings) as db:
        edges = {(e.src_kind, e.src_id, e.relation) for e in db.lineage_edges("run", run_id)}
        tags = SqlRunRepository(db).get_run(run_id).data.tags
    assert ("dataset_version", "tumours/2", "input_to") in edges  # a cycleml dataset version
    assert tags["cycleml.input.tumours"] == f"datasets:/tumours/2 {'d' * 16}"
    missing = api.post("runs/log-inputs", run_id=run_id, datasets=[{"dataset": {"name": "x"}}])
    assert error(missing) == (400, "INVALID_PARAMETER_VALUE")


# ---- the experiment search grammar, without a server -------------------------------------
def _experiment(name: str, created: int, **tags: str) -> Experiment:
    return Experiment(f"{created:032x}", name, "", "active", created, created, tags)


def test_experiment_filter_grammar() -> None:
    found = [
        _experiment("churn-a", 1, team="x"),
        _experiment("Churn-b", 2),
        _experiment("fraud", 3),
    ]
    cases = {
        "name = 'fraud'": ["fraud"],
        "attribute.name != 'fraud'": ["churn-a", "Churn-b"],
        "name LIKE 'churn%'": ["churn-a"],
        "name ILIKE 'churn%'": ["churn-a", "Churn-b"],
        "creation_time >= 2 AND name LIKE '%r%'": ["Churn-b", "fraud"],
        "tags.team = 'x'": ["churn-a"],
        "tags.`team` != 'y'": ["churn-a"],
        "tags.\"team\" LIKE '%'": ["churn-a"],
        "": ["churn-a", "Churn-b", "fraud"],
    }
    for text, expected in cases.items():
        assert [e.name for e in filter_experiments(found, parse_experiment_filter(text))] == (
            expected
        ), text
    for bad in ("name > 'a'", "creation_time = 'x'", "colour = 'red'", "name = 'a' OR name = 'b'",
                "name =", "metrics.m > 1", "name LIKE fraud"):  # fmt: skip
        with pytest.raises(InvalidInput):
            parse_experiment_filter(bad)


def test_experiment_order() -> None:
    found = [_experiment("b", 1), _experiment("a", 2), _experiment("c", 2)]
    assert [e.name for e in order_experiments(found, [])] == ["a", "c", "b"]  # newest first
    assert [e.name for e in order_experiments(found, ["name"])] == ["a", "b", "c"]
    assert [
        e.name for e in order_experiments(found, ["attribute.creation_time ASC", "name DESC"])
    ] == [
        "b",
        "c",
        "a",
    ]
    with pytest.raises(InvalidInput):
        order_experiments(found, ["colour"])
    with pytest.raises(InvalidInput):
        order_experiments(found, ["name sideways"])


def test_sample_steps_keeps_every_curves_ends() -> None:
    long = [Metric("m", 0.0, step, 0) for step in range(100)]
    short = [Metric("m", 0.0, step, 0) for step in (5, 37)]
    chosen = sample_steps([long, short], 10, None, None)
    assert {0, 99, 5, 37} <= chosen
    assert len(chosen) <= 10 + 3
    assert sample_steps([long], 200, 10, 12) == {10, 11, 12}
    assert sample_steps([], 5, None, None) == set()
