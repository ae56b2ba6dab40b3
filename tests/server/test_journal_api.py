"""The journal's API (/api/v1/lineage, /api/v1/audit) over real HTTP, RestJournal, and the
``cycleml lineage`` and ``cycleml audit`` commands pointed at a server by an http tracking URI.

The server answers what :class:`~cycleml.store.Database` answers on the same database, so the
tests compare the two, and check the pages of the audit log, the filters and bad input.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cycleml.cli import main
from cycleml.errors import InvalidInput
from cycleml.registry import SqlModelRepository
from cycleml.settings import Settings
from cycleml.store import AuditRecord, Database, LineageGraph, record_audit, record_edges
from cycleml.store._rest_journal import RestJournal, open_journal
from cycleml.tracking import SqlRunRepository
from server.test_registry_api import _error

API = "/api/v1"
# raw file -> dataset version -> run -> model version -> deployment, and a sibling run.
CHAIN = [
    ("file", "raw.csv", "ingested_as", "dataset_version", "d/1"),
    ("dataset_version", "d/1", "input_of", "run", "r1"),
    ("dataset_version", "d/1", "input_of", "run", "r2"),
    ("run", "r1", "produced", "model_version", "m/1"),
    ("model_version", "m/1", "deployed_as", "deployment", "prod"),
]


@pytest.fixture
def journal(team_server: str) -> Iterator[RestJournal]:
    with RestJournal(team_server) as client:
        yield client


@pytest.fixture
def chain(db: Database) -> None:
    db.write(lambda conn: record_edges(conn, CHAIN, at=1_000))


def _audit(db: Database, rows: list[tuple[str, str, str, str, int]]) -> None:
    """Append ``(actor, action, entity_kind, entity_id, time)`` rows in one transaction."""

    def write(conn: Any) -> None:
        for actor, action, kind, ident, at in rows:
            payload = {"n": at}
            record_audit(conn, actor=actor, action=action, entity_kind=kind, entity_id=ident,
                         payload=payload, at=at)  # fmt: skip

    db.write(write)


@pytest.fixture
def audited(db: Database) -> list[AuditRecord]:
    """Twelve rows by two actors, three actions, on two runs, at t = 100, 200, ... 1200."""
    actions = ["run.create", "run.update", "model.create"]
    _audit(
        db,
        [(("ann", "bob")[i % 2], actions[i % 3], "run", f"r{i % 2}", 100 * (i + 1))
         for i in range(12)],
    )  # fmt: skip
    return db.list_audit()


# ---- lineage ------------------------------------------------------------------------------
@pytest.mark.usefixtures("chain")
def test_a_walk_over_http_is_the_database_walk(api: httpx.Client, db: Database) -> None:
    answer = api.get("/lineage", params={"kind": "model_version", "id": "m/1"})
    assert answer.status_code == 200
    found = answer.json()
    assert found["root"] == {"kind": "model_version", "id": "m/1"}
    assert LineageGraph.from_dict(found) == db.walk_lineage("model_version", "m/1")
    reached = {(n["kind"], n["id"]): n["depth"] for n in found["nodes"]}
    # both ways, each separately: the sibling run r2 is not pulled in
    assert reached == {
        ("model_version", "m/1"): 0,
        ("run", "r1"): 1,
        ("deployment", "prod"): 1,
        ("dataset_version", "d/1"): 2,
        ("file", "raw.csv"): 3,
    }
    up = api.get("/lineage", params={"kind": "run", "id": "r1", "direction": "upstream"})
    assert {e["src_id"] for e in up.json()["edges"]} == {"raw.csv", "d/1"}
    short = api.get("/lineage", params={"kind": "file", "id": "raw.csv", "depth": 1}).json()
    assert [(e["dst_kind"], e["dst_id"]) for e in short["edges"]] == [("dataset_version", "d/1")]
    edges = api.get("/lineage/edges", params={"kind": "dataset_version", "id": "d/1"}).json()
    assert [e["dst_id"] for e in edges["edges"]] == ["d/1", "r1", "r2"]
    assert edges["edges"][0] == dict(zip(
        ["src_kind", "src_id", "relation", "dst_kind", "dst_id", "created_at"],
        [*CHAIN[0], 1_000], strict=True,
    ))  # fmt: skip
    nothing = api.get("/lineage", params={"kind": "run", "id": "unknown"}).json()
    assert (nothing["edges"], nothing["nodes"]) == (
        [],
        [{"kind": "run", "id": "unknown", "depth": 0}],
    )


@pytest.mark.usefixtures("chain")
def test_rest_journal_answers_as_the_database(journal: RestJournal, db: Database) -> None:
    for kind, ident in [("run", "r1"), ("dataset_version", "d/1"), ("deployment", "prod")]:
        assert journal.lineage_edges(kind, ident) == db.lineage_edges(kind, ident)
        for direction in ("upstream", "downstream", "both"):
            for depth in (0, 1, 20):
                assert journal.walk_lineage(
                    kind, ident, direction=direction, max_depth=depth
                ) == db.walk_lineage(kind, ident, direction=direction, max_depth=depth)


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"id": "r1"}, "kind"),
        ({"kind": "run"}, "id"),
        ({"kind": "", "id": "r1"}, "kind"),
        ({"kind": "run", "id": "r1", "direction": "sideways"}, "sideways"),
        ({"kind": "run", "id": "r1", "depth": -1}, "depth"),
        ({"kind": "run", "id": "r1", "depth": "deep"}, "depth"),
        ({"kind": "run", "id": "r1", "depth": 100_000}, "depth"),
    ],
)
def test_bad_lineage_queries_are_400(
    api: httpx.Client, params: dict[str, Any], problem: str
) -> None:
    error = _error(api.get("/lineage", params=params), 400, "invalid_input")
    assert problem in error["message"]


def test_a_bad_direction_from_the_client_is_its_error(journal: RestJournal) -> None:
    with pytest.raises(InvalidInput, match="sideways"):
        journal.walk_lineage("run", "r1", direction="sideways")  # type: ignore[arg-type]


# ---- audit --------------------------------------------------------------------------------
def _page(api: httpx.Client, **params: Any) -> tuple[list[int], str | None]:
    answer = api.get("/audit", params=params)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    return [row["id"] for row in found["records"]], found["next_page_token"]


def _all_pages(api: httpx.Client, **params: Any) -> list[int]:
    ids, token = _page(api, **params)
    while token is not None:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)  # opaque, URL-safe
        more, token = _page(api, **(params | {"page_token": token}))
        ids += more
    return ids


def test_audit_rows_page_in_id_order(
    api: httpx.Client, db: Database, audited: list[AuditRecord]
) -> None:
    ids = [row.id for row in audited]
    assert _page(api)[0] == ids  # default page size 100
    first, token = _page(api, max_results=5)
    assert first == ids[:5]
    assert token is not None
    _audit(db, [("cid", "run.create", "run", "new", 5_000)])  # written between two pages
    rest = _all_pages(api, max_results=5, page_token=token)
    assert first + rest == [row.id for row in db.list_audit()]  # nothing repeated or skipped
    assert len(rest) == 8
    newest = _all_pages(api, max_results=5, newest_first=True)
    assert newest == [row.id for row in db.list_audit()][::-1]
    exact, token = _page(api, max_results=13)
    assert (len(exact), token) == (13, None)  # a full last page says it is the last
    row = api.get("/audit", params={"max_results": 1}).json()["records"][0]
    assert row == audited[0].to_dict()
    assert row["payload"] == {"n": 100}


def test_audit_filters(api: httpx.Client, audited: list[AuditRecord]) -> None:
    def ids(**params: Any) -> list[int]:
        return _all_pages(api, max_results=2, **params)

    def where(keep: Any) -> list[int]:
        return [row.id for row in audited if keep(row)]

    assert ids(actor="ann") == where(lambda r: r.actor == "ann")
    assert ids(action="run.update") == where(lambda r: r.action == "run.update")
    assert ids(entity_kind="run", entity_id="r1") == where(lambda r: r.entity_id == "r1")
    assert ids(entity_kind="model_version") == []
    assert ids(since_ms=300, until_ms=700) == where(lambda r: 300 <= r.time < 700)
    middle = audited[5].id
    assert ids(after_id=middle) == where(lambda r: r.id > middle)
    assert ids(before_id=middle, newest_first=True) == where(lambda r: r.id < middle)[::-1]
    both = ids(actor="bob", action="run.create", since_ms=200)
    assert both == where(lambda r: (r.actor, r.action) == ("bob", "run.create") and r.time >= 200)
    assert both


def test_rest_journal_list_audit_is_the_database_s(
    journal: RestJournal, db: Database, audited: list[AuditRecord]
) -> None:
    queries: list[dict[str, Any]] = [
        {},
        {"actor": "bob"},
        {"action": "run.create", "entity_kind": "run"},
        {"entity_id": "r0", "since_ms": 250, "until_ms": 1_100},
        {"limit": 4},
        {"limit": 4, "latest": True},
        {"latest": True, "actor": "ann", "limit": 3},
        {"after_id": audited[2].id, "before_id": audited[9].id},
    ]
    for query in queries:
        assert journal.list_audit(**query) == db.list_audit(**query), query
    with pytest.raises(InvalidInput, match="limit"):
        journal.list_audit(limit=0)


def test_rest_journal_pages_past_one_page(
    journal: RestJournal, db: Database, audited: list[AuditRecord]
) -> None:
    _audit(db, [("bulk", "run.update", "run", f"b{i}", 2_000 + i) for i in range(1_100)])
    everything = journal.list_audit(limit=5_000)
    assert everything == db.list_audit(limit=5_000)
    assert len(everything) == 1_112
    newest = journal.list_audit(limit=1_050, latest=True)
    assert newest == db.list_audit(limit=1_050, latest=True)
    assert newest[-1] == everything[-1]


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"max_results": 0}, "max_results"),
        ({"max_results": 1_001}, "max_results"),
        ({"since_ms": "yesterday"}, "since_ms"),
        ({"after_id": "x"}, "after_id"),
        ({"newest_first": "perhaps"}, "newest_first"),
        ({"page_token": "not a token!"}, "page_token"),
        ({"page_token": "WyJ4Il0"}, "page_token"),  # valid base64 of JSON, not a key
    ],
)
def test_bad_audit_queries_are_400(api: httpx.Client, params: dict[str, Any], problem: str) -> None:
    error = _error(api.get("/audit", params=params), 400, "invalid_input")
    assert problem in error["message"]


def test_a_page_token_continues_only_its_own_order(
    api: httpx.Client, audited: list[AuditRecord]
) -> None:
    _, token = _page(api, max_results=2, newest_first=True)
    error = _error(api.get("/audit", params={"page_token": token}), 400, "invalid_input")
    assert "newest_first" in error["message"]
    assert error["details"]["page_token"] == token


# ---- the commands, through a server ---------------------------------------------------------
def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    captured = capsys.readouterr()
    assert done.value.code in (0, None), captured.err
    return json.loads(captured.out) if "--json" in args else captured.out


def test_lineage_and_audit_commands_read_through_the_server(
    team_server: str,
    db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    runs = SqlRunRepository(db)
    experiment = runs.create_experiment(f"e-{uuid.uuid4().hex[:6]}").experiment_id
    run = runs.create_run(experiment_id=experiment).info.run_id
    SqlModelRepository(db).create_registered_model("churn")
    SqlModelRepository(db).create_model_version("churn", source=f"runs:/{run}/m", run_id=run)
    elsewhere = tmp_path / "client"  # its own (empty) project: only the server has the rows
    elsewhere.mkdir()
    monkeypatch.setenv("CYCLEML_HOME", str(elsewhere))
    monkeypatch.setenv("CYCLEML_TRACKING_URI", team_server)
    for name in ("CYCLEML_METADATA_URI", "CYCLEML_ARTIFACT_URI", "CYCLEML_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)

    graph = _cli(capsys, "lineage", "models:/churn/1", "--json")
    assert graph["root"] == {"kind": "model_version", "id": "churn/1"}
    assert {"src_kind": "run", "src_id": run} in [
        {"src_kind": e["src_kind"], "src_id": e["src_id"]} for e in graph["edges"]
    ]
    assert "churn/1" in _cli(capsys, "lineage", f"runs:/{run}")
    rows = _cli(capsys, "audit", "--json")
    assert [row["id"] for row in rows] == [row.id for row in db.list_audit(limit=200, latest=True)]
    assert {"experiment.create", "run.create", "model.create"} <= {r["action"] for r in rows}
    (created,) = _cli(capsys, "audit", "--action", "model.create", "--json")
    assert created["entity_id"] == "churn"
    assert len(_cli(capsys, "audit", "--limit", "1", "--oldest", "--json")) == 1
    assert not (elsewhere / ".cycleml" / "metadata.db").exists()  # nothing read locally


def test_open_journal_follows_the_tracking_uri(settings: Settings, team_server: str) -> None:
    local = open_journal(settings)
    try:
        assert isinstance(local, Database)
    finally:
        local.close()
    remote = open_journal(
        Settings(
            home=settings.home,
            metadata_uri=settings.metadata_uri,
            artifact_uri=team_server,
            tracking_uri=team_server,
        )
    )
    try:
        assert isinstance(remote, RestJournal)
        assert remote.base_url == team_server
    finally:
        remote.close()


@pytest.mark.parametrize(
    "query",
    [
        {"after_id": "9223372036854775808"},
        {"before_id": "-1"},
        {"since_ms": "9223372036854775808"},
        {"until_ms": "99999999999999999999"},
    ],
)
def test_audit_bounds_past_the_columns_range_are_400(
    team_server: str, query: dict[str, str]
) -> None:
    answer = httpx.get(f"{team_server}/api/v1/audit", params=query)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_input"
