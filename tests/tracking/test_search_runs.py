"""search_runs with MLflow's filter grammar, ordering, paging and pandas output."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import pytest
from sqlalchemy import func, select

import cycleml
from cycleml.errors import InvalidInput, NotFound
from cycleml.settings import Settings
from cycleml.tracking import Tracker, TrackingClient
from cycleml.tracking._entities import Run
from cycleml.tracking._tables import latest_metrics, params, run_tags, runs

FULL_FILTER = (
    "metrics.auc > 0.8 and params.model = 'rf' and tags.team LIKE 'ml%' "
    "and attributes.status = 'FINISHED'"
)


@dataclass
class World:
    """Runs in two experiments, by name."""

    client: TrackingClient
    a: str
    b: str
    ids: dict[str, str]

    def names(self, found: list[Run]) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[r.run_id] for r in found]

    def search(self, filter_string: str = "", **kwargs: object) -> list[str]:
        kwargs.setdefault("experiment_ids", [self.a])
        found = self.client.search_runs(filter_string=filter_string, **kwargs)  # type: ignore[call-overload]
        assert isinstance(found, list)
        return self.names(found)


RUNS = {
    # name: (experiment, model, team, auc, status)
    "r1": ("a", "rf", "ml-core", 0.9, "FINISHED"),
    "r2": ("a", "rf", "ml-ops", 0.85, "FAILED"),
    "r3": ("a", "xgb", "ML-research", 0.95, "FINISHED"),
    "r4": ("a", "rf", "data", 0.7, "FINISHED"),
    "r5": ("a", "lr", None, None, "FINISHED"),
    "r6": ("b", "rf", "ml-b", 0.99, "FINISHED"),
}


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    client = TrackingClient(settings)
    experiments = {
        "a": client.create_experiment("search-a"),
        "b": client.create_experiment("search-b"),
    }
    ids = {}
    for name, (experiment, model, team, auc, status) in RUNS.items():
        tags = {"team": team} if team else {}
        run = client.create_run(experiments[experiment], run_name=name, tags=tags)
        client.log_param(run.run_id, "model", model)
        if auc is not None:
            client.log_metric(run.run_id, "auc", 0.1, step=0)  # an older, lower value
            client.log_metric(run.run_id, "auc", auc, step=1)
        client.set_terminated(run.run_id, status)
        ids[name] = run.run_id
    yield World(client, experiments["a"], experiments["b"], ids)
    client.close()


def test_combined_filter(world: World) -> None:
    assert world.search(FULL_FILTER) == ["r1"]
    both = world.search(FULL_FILTER, experiment_ids=None, experiment_names=["search-a", "search-b"])
    assert sorted(both) == ["r1", "r6"]
    assert sorted(world.search(FULL_FILTER, experiment_ids=None)) == ["r1", "r6"]  # all active
    # keywords and prefixes are case-insensitive; prefix aliases work
    assert world.search(FULL_FILTER.replace("and", "AND").replace("metrics.", "metric.")) == ["r1"]


FILTER_CASES = [
    ("params.model IN ('xgb', 'lr')", ["r3", "r5"]),
    ("params.model NOT IN ('rf')", ["r3", "r5"]),
    ("tags.team LIKE 'ml%'", ["r1", "r2"]),  # case-sensitive
    ("tags.team ILIKE 'ml%'", ["r1", "r2", "r3"]),
    ("tags.team LIKE 'ml-___'", ["r2"]),  # _ is one character
    ("tags.team LIKE 'ml-____'", ["r1"]),
    ("tags.team LIKE '%-%'", ["r1", "r2", "r3"]),
    ("params.model != 'rf'", ["r3", "r5"]),
    ("tags.team != 'data'", ["r1", "r2", "r3"]),  # a run without the tag never matches
    ("metrics.auc IS NULL", ["r5"]),
    ("tags.team IS NULL", ["r5"]),
    ("metrics.auc >= 0.9", ["r1", "r3"]),
    ("metrics.auc = 0.85", ["r2"]),
    ("metrics.auc <= 0.1", []),  # 0.1 is only history; the latest value counts
    ("attributes.status = 'FAILED'", ["r2"]),
    ("attributes.status != 'FINISHED'", ["r2"]),
    ("attributes.run_name = 'r4'", ["r4"]),
    ("attributes.status IN ('FAILED', 'KILLED')", ["r2"]),
    ("tags.\"team\" = 'ml-core'", ["r1"]),
    ('params.`model` = "xgb"', ["r3"]),
    ("", ["r1", "r2", "r3", "r4", "r5"]),
]


def test_filter_operators(world: World) -> None:
    results = {f: sorted(world.search(f)) for f, _ in FILTER_CASES}
    assert results == dict(FILTER_CASES)


def test_order_by_and_nulls_last(world: World) -> None:
    assert world.search(order_by=["metrics.auc DESC"]) == ["r3", "r1", "r2", "r4", "r5"]
    assert world.search(order_by=["metrics.auc ASC"]) == ["r4", "r2", "r1", "r3", "r5"]
    assert world.search(order_by=["metrics.auc"]) == ["r4", "r2", "r1", "r3", "r5"]
    assert world.search(order_by=["tags.team DESC"]) == ["r2", "r1", "r4", "r3", "r5"]
    assert world.search(order_by=["params.model", "metrics.auc DESC"]) == [
        "r5",
        "r1",
        "r2",
        "r4",
        "r3",
    ]
    assert world.search(order_by=["attributes.run_name DESC"]) == ["r5", "r4", "r3", "r2", "r1"]


def test_max_results_and_page_tokens(world: World) -> None:
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page, token = world.client.search_runs_page(
            experiment_ids=[world.a],
            order_by=["metrics.auc DESC"],
            max_results=2,
            page_token=token,
        )
        pages += 1
        assert len(page) <= 2
        seen += world.names(page)
        if token is None:
            break
        assert isinstance(token, str)
    assert pages == 3
    assert seen == ["r3", "r1", "r2", "r4", "r5"]
    assert world.search(order_by=["metrics.auc DESC"], max_results=3) == ["r3", "r1", "r2"]
    # an exactly full last page has no next token
    page, token = world.client.search_runs_page(experiment_ids=[world.a], max_results=5)
    assert len(page) == 5
    assert token is None


def test_invalid_max_results_and_page_tokens(world: World) -> None:
    for bad in (0, -1, 50_001, 2.5, True, "10"):
        with pytest.raises(InvalidInput, match="max_results"):
            world.client.search_runs(experiment_ids=[world.a], max_results=bad)  # type: ignore[arg-type]
    for token in ("garbage!", "eyJvZmZzZXQiOi0xfQ", "e30", "x" * 300):  # {"offset":-1}, {}
        with pytest.raises(InvalidInput, match="page token"):
            world.client.search_runs_page(experiment_ids=[world.a], page_token=token)


def test_experiment_names(world: World) -> None:
    assert world.search(experiment_ids=None, experiment_names=["search-b"]) == ["r6"]
    assert sorted(world.search(experiment_ids=[world.b], experiment_names=["search-a"])) == [
        "r1",
        "r2",
        "r3",
        "r4",
        "r5",
        "r6",
    ]
    with pytest.raises(NotFound, match="nope"):
        world.search(experiment_ids=None, experiment_names=["nope"])
    assert world.search(experiment_ids=[]) == []


def test_deleted_runs_and_views(world: World) -> None:
    world.client.delete_run(world.ids["r4"])
    assert "r4" not in world.search()
    assert world.search(view="deleted") == ["r4"]
    assert "r4" in world.search(view="all")
    world.client.restore_run(world.ids["r4"])
    assert "r4" in world.search()
    with pytest.raises(InvalidInput, match="view"):
        world.search(view="bogus")


def test_pandas_output_has_mlflow_columns(world: World) -> None:
    frame = world.client.search_runs(
        experiment_ids=[world.a], order_by=["metrics.auc DESC"], output="pandas"
    )
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == 5
    assert list(frame.columns[:7]) == [
        "run_id",
        "experiment_id",
        "run_name",
        "status",
        "artifact_uri",
        "start_time",
        "end_time",
    ]
    assert {"metrics.auc", "params.model", "tags.team"} <= set(frame.columns)
    assert list(frame["run_id"]) == [world.ids[n] for n in ["r3", "r1", "r2", "r4", "r5"]]
    row = frame.set_index("run_name").loc["r1"]
    assert row["status"] == "FINISHED"
    assert row["metrics.auc"] == 0.9
    assert row["params.model"] == "rf"
    assert row["tags.team"] == "ml-core"
    assert math.isnan(frame.set_index("run_name").loc["r5", "metrics.auc"])
    assert isinstance(frame["start_time"].dtype, pd.DatetimeTZDtype)
    assert str(frame["start_time"].dt.tz) == "UTC"
    assert frame["end_time"].notna().all()

    empty = world.client.search_runs(
        experiment_ids=[world.a], filter_string="params.model = 'none'", output="pandas"
    )
    assert isinstance(empty, pd.DataFrame)
    assert empty.empty
    assert "run_id" in empty.columns
    with pytest.raises(InvalidInput, match="output"):
        world.client.search_runs(output="csv")  # type: ignore[call-overload]


def test_fluent_search_runs(world: World, tracking: Tracker) -> None:
    frame = cycleml.search_runs(
        experiment_names=["search-a"], filter_string=FULL_FILTER, output="pandas"
    )
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["run_id"]) == [world.ids["r1"]]
    assert len(cycleml.search_runs()) == 6  # no active experiment: every active experiment
    cycleml.set_experiment("search-b")
    found = cycleml.search_runs()
    assert isinstance(found, list)
    assert world.names(found) == ["r6"]  # the active experiment only
    found = cycleml.search_runs(experiment_ids=[world.a], filter_string="params.model = 'xgb'")
    assert isinstance(found, list)
    assert world.names(found) == ["r3"]
    with pytest.raises(InvalidInput, match="output"):
        cycleml.search_runs(output="csv")  # type: ignore[arg-type]


BAD_FILTERS = [
    # (filter, what the message must mention)
    ("metrics.auc >", "number"),
    ("auc > 0.5", "prefix"),
    ("foo.auc > 0.5", "foo"),
    ("params.model = rf", "quoted string"),
    ("metrics.auc > 'high'", "unquoted"),
    ("metrics.auc LIKE '0.9%'", "LIKE"),
    ("metrics.auc > 0.8 or params.model = 'rf'", "OR"),
    ("metrics.auc > 0.8 and", "AND"),
    ("params.model = 'rf", "unterminated"),
    ("attributes.color = 'red'", "color"),
    ("params.model IN ()", "empty"),
    ("metrics.auc ~ 1", "operator"),
]


def test_bad_filter_is_invalid_input(world: World) -> None:
    for filter_string, mention in BAD_FILTERS:
        with pytest.raises(InvalidInput) as caught:
            world.search(filter_string)
        error = caught.value
        message = str(error)
        assert mention in message, (filter_string, message)
        assert "position" in message, message
        assert repr(filter_string)[1:-1] in message or filter_string in message, message
        assert error.details["filter"] == filter_string
        assert 0 <= error.details["position"] <= len(filter_string)
        assert isinstance(error, ValueError)
        assert error.status_code == 400


def test_bad_order_by_is_invalid_input(world: World) -> None:
    with pytest.raises(InvalidInput, match="DESC"):
        world.search(order_by=["metrics.auc SIDEWAYS"])
    with pytest.raises(InvalidInput, match="prefix"):
        world.search(order_by=["auc DESC"])


def _row_counts(world: World) -> tuple[int, ...]:
    store = world.client.repository.db
    with store.engine.connect() as conn:
        return tuple(
            int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in (runs, params, run_tags, latest_metrics)
        )


HOSTILE_LITERALS = [
    "params.model = 'rf''; DROP TABLE runs; --'",
    "params.model = 'x'' OR ''1''=''1'",
    "params.`model' OR '1'='1` = 'rf'",
    'tags."team\\" OR 1=1 --" = \'ml-core\'',
    "params.model = 'rf\\'; DELETE FROM params; --'",
    "attributes.run_name LIKE '%'' OR 1=1 --'",
    "params.model IN ('rf'') OR (''1''=''1')",
]

HOSTILE_REJECTED = [
    "params.model = 'rf'; DROP TABLE runs",
    "params.model = 'rf' OR 1=1",
    "params.model = 'rf' --",
    "metrics.auc > 0 AND 1=1",
    "attributes.status = 'FINISHED' UNION SELECT * FROM runs",
    "metrics.auc > 0) OR (1=1",
    "params.model = 'a'\x00",
    "metrics.`auc` > 0.5; DELETE FROM latest_metrics",
    "metrics.auc > 1e999",
]


def test_hostile_filters_are_literals_or_rejected(world: World) -> None:
    before = _row_counts(world)
    for hostile in HOSTILE_LITERALS:
        assert world.search(hostile) == [], hostile
    for hostile in HOSTILE_REJECTED:
        with pytest.raises(InvalidInput):
            world.search(hostile)
    for order in (["metrics.auc; DROP TABLE runs"], ["params.model DESC, 1"]):
        with pytest.raises(InvalidInput):
            world.search(order_by=order)
    assert _row_counts(world) == before
    assert sorted(world.search()) == ["r1", "r2", "r3", "r4", "r5"]
