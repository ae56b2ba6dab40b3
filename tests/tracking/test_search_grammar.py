"""Tests of the MLflow-compatible run search (cycleml.tracking._search).

Every query test runs on SQLite and on PostgreSQL (a fresh database per module; skipped when
the server is unreachable, except when CI=true). Results are checked against a pure-Python
reference implementation of the same semantics.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import os
import re
import secrets
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, delete, func, insert, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from cycleml.errors import InvalidInput
from cycleml.tracking._search import (
    MAX_RESULTS_LIMIT,
    Comparison,
    OrderClause,
    build_run_search,
    check_max_results,
    decode_page_token,
    encode_page_token,
    parse_filter,
    parse_order_by,
)
from cycleml.tracking._tables import experiments, latest_metrics, metadata, params, run_tags, runs

PG_URL = os.environ.get(
    "CYCLEML_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
NAN = float("nan")


# --------------------------------------------------------------------------- reference model


@dataclass
class Run:
    """A run as the Python reference implementation sees it."""

    run_id: str
    experiment_id: str = "fixed"
    run_name: str = "run"
    status: str = "FINISHED"
    start_time: int = 0
    end_time: int | None = None
    user_id: str = "ann"
    artifact_uri: str = "file:///a"
    lifecycle_stage: str = "active"
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


def like_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """LIKE pattern -> regex: % any run, _ one char, backslash makes the next char literal."""
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append({"%": ".*", "_": "."}.get(pattern[i], re.escape(pattern[i])))
        i += 1
    body = "".join(out)
    if ignore_case:  # ASCII-only folding, as SQLite's lower() and LIKE do
        return re.compile(body, re.DOTALL | re.IGNORECASE | re.ASCII)
    return re.compile(body, re.DOTALL)


def ref_value(run: Run, entity: str, key: str) -> Any:
    if entity == "metric":
        value = run.metrics.get(key)
        return None if value is None or math.isnan(value) else value
    if entity == "param":
        return run.params.get(key)
    if entity == "tag":
        return run.tags.get(key)
    return getattr(run, key)


def ref_matches(run: Run, comp: Comparison) -> bool:
    value = ref_value(run, comp.entity, comp.key)
    if comp.op == "IS NULL":
        return value is None
    if comp.op == "IS NOT NULL":
        return value is not None
    if value is None:
        return False
    target = comp.value
    if comp.op == "IN":
        assert isinstance(target, tuple)
        return value in target
    if comp.op == "NOT IN":
        assert isinstance(target, tuple)
        return value not in target
    if comp.op in ("LIKE", "ILIKE"):
        assert isinstance(target, str)
        return like_regex(target, comp.op == "ILIKE").fullmatch(value) is not None
    ops = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    return bool(ops[comp.op](value, target))


def ref_compare(a: Run, b: Run, clauses: Sequence[OrderClause]) -> int:
    for clause in clauses:
        va, vb = ref_value(a, clause.entity, clause.key), ref_value(b, clause.entity, clause.key)
        if va is None and vb is None:
            continue
        if va is None or vb is None:
            return 1 if va is None else -1  # nulls last in both directions
        if va != vb:
            result = -1 if va < vb else 1
            return result if clause.ascending else -result
    return 0


def ref_search(
    all_runs: Sequence[Run],
    filters: Sequence[Comparison],
    order: Sequence[OrderClause],
    *,
    experiment_ids: Sequence[str] = ("fixed",),
    stages: Sequence[str] = ("active",),
    limit: int = 1000,
    offset: int = 0,
) -> list[str]:
    selected = [
        r
        for r in all_runs
        if r.experiment_id in experiment_ids
        and r.lifecycle_stage in stages
        and all(ref_matches(r, c) for c in filters)
    ]
    clauses = [*order, OrderClause("attribute", "run_id", True)]
    selected.sort(key=functools.cmp_to_key(lambda a, b: ref_compare(a, b, clauses)))
    return [r.run_id for r in selected[offset : offset + limit]]


# --------------------------------------------------------------------------- databases


def insert_runs(engine: Engine, items: Sequence[Run]) -> None:
    if not items:
        return
    with engine.begin() as conn:
        conn.execute(
            insert(runs),
            [
                {
                    "run_id": r.run_id,
                    "experiment_id": r.experiment_id,
                    "run_name": r.run_name,
                    "status": r.status,
                    "start_time": r.start_time,
                    "end_time": r.end_time,
                    "heartbeat_time": r.start_time,
                    "lifecycle_stage": r.lifecycle_stage,
                    "user_id": r.user_id,
                    "artifact_uri": r.artifact_uri,
                }
                for r in items
            ],
        )
        rows = [
            {"run_id": r.run_id, "key": k, "value": v} for r in items for k, v in r.params.items()
        ]
        if rows:
            conn.execute(insert(params), rows)
        rows = [
            {"run_id": r.run_id, "key": k, "value": v} for r in items for k, v in r.tags.items()
        ]
        if rows:
            conn.execute(insert(run_tags), rows)
        metric_rows = [
            {
                "run_id": r.run_id,
                "key": k,
                "value": None if math.isnan(v) else v,
                "is_nan": math.isnan(v),
                "step": 0,
                "timestamp": 0,
            }
            for r in items
            for k, v in r.metrics.items()
        ]
        if metric_rows:
            conn.execute(insert(latest_metrics), metric_rows)


def delete_experiment_runs(engine: Engine, experiment_id: str) -> None:
    ids = select(runs.c.run_id).where(runs.c.experiment_id == experiment_id)
    with engine.begin() as conn:
        for table in (params, run_tags, latest_metrics):
            conn.execute(delete(table).where(table.c.run_id.in_(ids)))
        conn.execute(delete(runs).where(runs.c.experiment_id == experiment_id))


def rid(n: int) -> str:
    return f"{n:032x}"


HOSTILE_VALUE = "x'; DROP TABLE runs; --"
HOSTILE_KEY = "m1) OR 1=1 --"
LONG_VALUE = "A" * 20_000
FIXED_RUNS = [
    Run(
        rid(1),
        run_name="alpha",
        status="FINISHED",
        start_time=100,
        end_time=150,
        params={"p": "abc", "lr": "0.1", "model": "rf", "glob": "a*b", "quote": "it's"},
        tags={"mlflow.user": "Ann", "mlflow.runName": "alpha", "my tag": "A_B"},
        metrics={"m1": 0.5, "m2": 3.0, "acc": 0.9, HOSTILE_KEY: 1.0},
    ),
    Run(
        rid(2),
        run_name="Beta",
        status="RUNNING",
        start_time=200,
        params={"p": "ABC", "lr": "0.01", "model": "xgb", "glob": "a?b", "danger": HOSTILE_VALUE},
        tags={"mlflow.user": "bob", "my tag": "AxB"},
        metrics={"m1": NAN, "m2": -1.0, "acc": 0.7},
    ),
    Run(
        rid(3),
        run_name="gamma",
        status="FAILED",
        start_time=300,
        end_time=320,
        params={
            "p": "a%c",
            "model": "rf",
            "glob": "a[b]",
            "unicode": "日本語 🚀",
            "long": LONG_VALUE,
        },
        tags={"mlflow.user": "ann"},
        metrics={"m2": NAN, "acc": 0.7, "neg": -2.5e-3},
    ),
    Run(
        rid(4),
        run_name="delta",
        start_time=400,
        end_time=410,
        params={"p": "a_c", "model": "lr", "ключ": "значение", "back": "a\\b"},
        metrics={"m1": 2.0, "acc": 1e10},
        lifecycle_stage="deleted",
    ),
    Run(
        rid(5),
        run_name="epsilon",
        start_time=200,
        params={f"k{i}": "v" for i in range(40)},
        tags={"mlflow.user": "Ann"},
        metrics={"m1": -1.0, "m2": 3.0},
    ),
    Run(rid(6), experiment_id="other", run_name="other", params={"p": "abc"}, metrics={"m1": 9}),
]


def _experiment_rows() -> list[dict[str, Any]]:
    return [
        {
            "experiment_id": name,
            "name": name,
            "artifact_location": "file:///x",
            "lifecycle_stage": "active",
            "creation_time": 0,
            "last_update_time": 0,
        }
        for name in ("fixed", "other", "hyp")
    ]


def _prepare(engine: Engine) -> Engine:
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(experiments), _experiment_rows())
    insert_runs(engine, FIXED_RUNS)
    return engine


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('search') / 'meta.db'}")
    yield _prepare(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def postgres_engine() -> Iterator[Engine]:
    admin = create_engine(
        PG_URL,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"connect_timeout": 5},
    )
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = f"PostgreSQL is not reachable at {PG_URL}: {exc.orig or exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests may not be skipped)")
        pytest.skip(reason)
    name = f"cycleml_search_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        try:  # a linguistic collation, so that code-point ordering is really exercised
            conn.execute(
                text(
                    f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
                    "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
                )
            )
        except Exception:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(make_url(PG_URL).set(database=name), poolclass=NullPool)
    try:
        yield _prepare(engine)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def engine(request: pytest.FixtureRequest) -> Engine:
    fixture = "sqlite_engine" if request.param == "sqlite" else "postgres_engine"
    result: Engine = request.getfixturevalue(fixture)
    return result


def search(
    engine: Engine,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
    *,
    experiment_ids: Sequence[str] = ("fixed",),
    stages: Sequence[str] = ("active",),
    limit: int = 1000,
    offset: int = 0,
) -> list[str]:
    stmt = build_run_search(
        experiment_ids=experiment_ids,
        filters=parse_filter(filter_string),
        order=parse_order_by(order_by),
        lifecycle_stages=stages,
        limit=limit,
        offset=offset,
    )
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(stmt)]


def expected(
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
    *,
    all_runs: Sequence[Run] = FIXED_RUNS,
    **kwargs: Any,
) -> list[str]:
    return ref_search(all_runs, parse_filter(filter_string), parse_order_by(order_by), **kwargs)


# --------------------------------------------------------------------------- parsing


def C(entity: str, key: str, op: str, value: Any) -> tuple[str, str, str, Any]:
    return (entity, key, op, value)


VALID_FILTERS: list[tuple[str, list[tuple[str, str, str, Any]]]] = [
    ("", []),
    ("   \n\t ", []),
    ("metrics.acc > 0.9", [C("metric", "acc", ">", 0.9)]),
    ("metrics.acc>=1", [C("metric", "acc", ">=", 1)]),
    ("metric.acc < -1.5e-3", [C("metric", "acc", "<", -1.5e-3)]),
    ("metrics.acc <= +2E10", [C("metric", "acc", "<=", 2e10)]),
    ("metrics.acc = .5", [C("metric", "acc", "=", 0.5)]),
    ("metrics.acc != 3.", [C("metric", "acc", "!=", 3.0)]),
    ("metrics.acc = -7", [C("metric", "acc", "=", -7)]),
    ("params.model = 'rf'", [C("param", "model", "=", "rf")]),
    ('param.model != "rf"', [C("param", "model", "!=", "rf")]),
    ("params.model LIKE 'r%'", [C("param", "model", "LIKE", "r%")]),
    ("params.model like 'r%'", [C("param", "model", "LIKE", "r%")]),
    ("params.model ILIKE '%F'", [C("param", "model", "ILIKE", "%F")]),
    ("params.model IN ('rf', 'xgb')", [C("param", "model", "IN", ("rf", "xgb"))]),
    ("params.model in('rf')", [C("param", "model", "IN", ("rf",))]),
    ("params.model NOT IN ( 'rf' ,\"lr\" )", [C("param", "model", "NOT IN", ("rf", "lr"))]),
    ("params.model not   in ('rf')", [C("param", "model", "NOT IN", ("rf",))]),
    ("params.model IS NULL", [C("param", "model", "IS NULL", None)]),
    ("tags.x is not null", [C("tag", "x", "IS NOT NULL", None)]),
    ("metrics.m IS NULL", [C("metric", "m", "IS NULL", None)]),
    ("tag.x = 'y'", [C("tag", "x", "=", "y")]),
    ("tags.mlflow.runName = 'a'", [C("tag", "mlflow.runName", "=", "a")]),
    ("tags.\"mlflow.user\" = 'ann'", [C("tag", "mlflow.user", "=", "ann")]),
    ("metrics.`my metric` > 1", [C("metric", "my metric", ">", 1)]),
    ("metrics.`a``b` > 1", [C("metric", "a`b", ">", 1)]),
    ('tags."a\\"b" = \'x\'', [C("tag", 'a"b', "=", "x")]),
    ("params.a-b/c:d = 'x'", [C("param", "a-b/c:d", "=", "x")]),
    ("params.p = 'it''s'", [C("param", "p", "=", "it's")]),
    ("params.p = 'it\\'s'", [C("param", "p", "=", "it's")]),
    ('params.p = "say ""hi"""', [C("param", "p", "=", 'say "hi"')]),
    ("params.p = 'a\\\\b'", [C("param", "p", "=", "a\\b")]),
    ("params.p = 'a\\%'", [C("param", "p", "=", "a\\%")]),
    ("params.p = ''", [C("param", "p", "=", "")]),
    ("params.p = 'x' AND metrics.m > 1", [C("param", "p", "=", "x"), C("metric", "m", ">", 1)]),
    ("params.p = 'x'and metrics.m > 1", [C("param", "p", "=", "x"), C("metric", "m", ">", 1)]),
    (
        "params.p='x' aNd metrics.m>1 AND tags.t='y'",
        [C("param", "p", "=", "x"), C("metric", "m", ">", 1), C("tag", "t", "=", "y")],
    ),
    ("attributes.status = 'FINISHED'", [C("attribute", "status", "=", "FINISHED")]),
    ("attribute.run_name LIKE 'a%'", [C("attribute", "run_name", "LIKE", "a%")]),
    ("attr.run_id IN ('a')", [C("attribute", "run_id", "IN", ("a",))]),
    ("run.user_id != 'x'", [C("attribute", "user_id", "!=", "x")]),
    ("attributes.artifact_uri ILIKE '%s3%'", [C("attribute", "artifact_uri", "ILIKE", "%s3%")]),
    ("attributes.lifecycle_stage = 'active'", [C("attribute", "lifecycle_stage", "=", "active")]),
    ("attributes.start_time >= 100", [C("attribute", "start_time", ">=", 100)]),
    ("attributes.end_time < 1e3", [C("attribute", "end_time", "<", 1000.0)]),
    ("attributes.created > 5", [C("attribute", "start_time", ">", 5)]),
    ("ATTRIBUTES.Status = 'x'", [C("attribute", "status", "=", "x")]),
    ("metrics.m > 0 ", [C("metric", "m", ">", 0)]),
    ("params.p = '日本語 🚀'", [C("param", "p", "=", "日本語 🚀")]),
    ("params.ключ = 'значение'", [C("param", "ключ", "=", "значение")]),
]


@pytest.mark.parametrize(("filter_string", "want"), VALID_FILTERS)
def test_parse_valid_filters(filter_string: str, want: list[tuple[str, str, str, Any]]) -> None:
    got = parse_filter(filter_string)
    assert [(c.entity, c.key, c.op, c.value) for c in got] == want
    for comp, (*_, value) in zip(got, want, strict=True):
        assert type(comp.value) is type(value)


def test_parse_filter_positions_and_none() -> None:
    comps = parse_filter("params.p = 'x' AND  metrics.m > 1")
    assert [c.position for c in comps] == [0, 20]
    assert parse_filter(None) == []


BAD_FILTERS: list[tuple[str, int, str]] = [
    ("params.p = 'abc", 11, "unterminated"),
    ("params.p = 'it\\'s", 11, "unterminated"),
    ("tags.`key = 'x'", 5, "unterminated"),
    ("metrics.m >", 11, "expected a number"),
    ("params.p =", 10, "expected a quoted string"),
    ("metrics.a > 1 OR metrics.b > 2", 14, "OR is not supported"),
    ("metrics.a > 1 AND metrics.b > 2 or params.p = 'x'", 32, "OR is not supported"),
    ("foo.bar = 'x'", 0, "unknown entity 'foo'"),
    ("status = 'x'", 0, "no entity prefix"),
    ("AND params.p = 'a'", 0, "no entity prefix"),
    ("attributes.foo = 'x'", 11, "unknown attribute 'foo'"),
    ("metrics.auc > 'abc'", 14, "unquoted"),
    ("params.x > 3", 9, "operator > cannot be used with params"),
    ("params.x = 3", 11, "quote the value"),
    ("tags.x LIKE 3", 12, "quote the value"),
    ("metrics.m LIKE '1'", 10, "operator LIKE cannot be used with metrics"),
    ("metrics.m IN ('1')", 10, "operator IN cannot be used"),
    ("attributes.start_time LIKE 'x'", 22, "cannot be used with attribute start_time"),
    ("attributes.status < 'x'", 18, "cannot be used with attribute status"),
    ("attributes.status IS NULL", 18, "cannot be used"),
    ("attributes.start_time = 'x'", 24, "unquoted"),
    ("metrics.m > 1 garbage", 14, "expected AND"),
    ("params.p = 'x')", 14, "expected AND"),
    ("params.p = 'x' -- comment", 15, "expected AND"),
    ("params.p = 'x'; DROP TABLE runs", 14, "expected AND"),
    ("params.p IN ()", 12, "empty"),
    ("params.p IN ( )", 12, "empty"),
    ("params.p IN ('a',)", 17, "expected a quoted string"),
    ("params.p IN ('a' 'b')", 17, "expected ',' or ')'"),
    ("params.p IN ('a', 1)", 18, "quote the value"),
    ("params.p IN 'a'", 12, "expected a list"),
    ("params.p IN ('a'", 16, "expected ',' or ')'"),
    ("metrics.m > 1 AND", 17, "after AND"),
    ("metrics.m > 1 AND   ", 20, "after AND"),
    ("params.p = 'a' AND AND params.q = 'b'", 19, "no entity prefix"),
    ("metrics. > 1", 8, "expected a key"),
    ("metrics > 1", 0, "no entity prefix"),
    ("metrics.m1 >> 1", 12, "expected a number"),
    ("metrics.m1 == 1", 12, "expected a number"),
    ("metrics.m1 <> 1", 12, "expected a number"),
    ("metrics.m1 ~ 1", 11, "expected an operator"),
    ("metrics.m1", 10, "expected an operator"),
    ("metrics.m1 NOT LIKE 1", 11, "expected an operator"),
    ("params.p IS 'x'", 9, "expected an operator"),
    ("params.p ISNULL", 9, "expected an operator"),
    ("metrics.m > 1e999", 12, "out of range"),
    ("attributes.start_time > 99999999999999999999", 24, "out of range"),
    ("metrics.m > 3abc", 12, "expected a number"),
    ("metrics.m > 0x10", 12, "expected a number"),
    ("metrics.m > 1.2.3", 12, "expected a number"),
    ("metrics.m > nan", 12, "expected a number"),
    ("(metrics.m > 1)", 0, "expected <entity>.<key>"),
    ("metrics.m1) OR 1=1 > 0", 10, "unexpected ')'"),
    ("params.'p' = 'x'", 7, "expected a key"),
    ("metrics.`` > 1", 8, "key is empty"),
    ("metrics.`a`b > 1", 11, "unexpected 'b'"),
    ("params.p = 'a\x00b'", 13, "NUL"),
    ("params.p = `x`", 11, "expected a quoted string"),
    ("params.p LIKE '" + "%" * 10_001 + "'", 14, "longer than"),
]


@pytest.mark.parametrize(("filter_string", "position", "message"), BAD_FILTERS)
def test_parse_bad_filters(filter_string: str, position: int, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_filter(filter_string)
    err = info.value
    assert message in err.message
    assert err.details == {"filter": filter_string, "position": position}
    assert f"at position {position}" in err.message
    assert err.status_code == 400
    assert isinstance(err, ValueError)


def test_parse_limits() -> None:
    ok = " AND ".join(f"metrics.m{i} > {i}" for i in range(100))
    assert len(parse_filter(ok)) == 100
    with pytest.raises(InvalidInput, match="more than 100 comparisons"):
        parse_filter(ok + " AND metrics.x > 1")
    many = "params.p IN (" + ", ".join(["'v'"] * 10_001) + ")"
    with pytest.raises(InvalidInput, match="IN lists hold 10001 values"):
        parse_filter(many)


def test_error_message_is_truncated_for_long_filters() -> None:
    bad = "params.p = '" + "x" * 5000
    with pytest.raises(InvalidInput) as info:
        parse_filter(bad)
    assert len(info.value.message) < 500
    assert info.value.details["filter"] == bad


@pytest.mark.parametrize(
    ("items", "want"),
    [
        (None, [("attribute", "start_time", False)]),
        ([], [("attribute", "start_time", False)]),
        (["metrics.m2 DESC"], [("metric", "m2", False)]),
        (["attributes.start_time"], [("attribute", "start_time", True)]),
        (["params.p1 ASC", "tags.x"], [("param", "p1", True), ("tag", "x", True)]),
        (["metrics.`my metric` desc"], [("metric", "my metric", False)]),
        (['tags."mlflow.runName"  '], [("tag", "mlflow.runName", True)]),
        (["  tags.mlflow.runName\tDESC"], [("tag", "mlflow.runName", False)]),
        (["attr.created DESC"], [("attribute", "start_time", False)]),
        (["attributes.run_id ASC"], []),
        (["attributes.run_id DESC"], [("attribute", "run_id", False)]),
    ],
)
def test_parse_order_by(items: list[str] | None, want: list[tuple[str, str, bool]]) -> None:
    got = parse_order_by(items)
    assert [(c.entity, c.key, c.ascending) for c in got] == [*want, ("attribute", "run_id", True)]


@pytest.mark.parametrize(
    ("item", "position", "message"),
    [
        ("metrics.m2 DESCENDING", 11, "expected ASC, DESC"),
        ("metrics.m2 DESC x", 16, "expected ASC, DESC"),
        ("metrics.m2 = 1", 11, "expected ASC, DESC"),
        ("m2 DESC", 0, "no entity prefix"),
        ("attributes.bogus", 11, "unknown attribute"),
        ("foo.x", 0, "unknown entity"),
        ("metrics.", 8, "expected a key"),
        ("metrics.`m2 DESC", 8, "unterminated"),
        ("", 0, "expected <entity>.<key>"),
    ],
)
def test_parse_order_by_errors(item: str, position: int, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_order_by(["metrics.ok", item])
    assert message in info.value.message
    assert info.value.details == {"order_by": item, "index": 1, "position": position}


def test_parse_order_by_rejects_non_strings_and_too_many_items() -> None:
    with pytest.raises(InvalidInput, match="expected a string"):
        parse_order_by([3])  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="at most 10"):
        parse_order_by([f"metrics.m{i}" for i in range(11)])


# --------------------------------------------------------------------------- page tokens


@pytest.mark.parametrize("offset", [0, 1, 99, 50_000, 10**12])
def test_page_token_round_trip(offset: int) -> None:
    token = encode_page_token(offset)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert json.loads(base64.urlsafe_b64decode(token + "==")) == {"offset": offset}
    assert decode_page_token(token) == offset


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(
    "token",
    [
        "!!!",
        "abc",
        "a",
        "eyJvZmZzZXQiOjF9!",
        " " + encode_page_token(3),
        _b64(b'{"offset": -1}'),
        _b64(b'{"offset": "1"}'),
        _b64(b'{"offset": 1.5}'),
        _b64(b'{"offset": true}'),
        _b64(b'{"offset": 1, "x": 2}'),
        _b64(b"[1]"),
        _b64(b"null"),
        _b64(b"1"),
        _b64(b'{"offset": 10000000000000}'),
        _b64(b"\xff\xfe"),
        "A" * 1000,
        base64.b64encode(b'{"offset":1}').decode() + "+/",
    ],
)
def test_page_token_rejects_garbage(token: str) -> None:
    with pytest.raises(InvalidInput, match="Invalid page token"):
        decode_page_token(token)


def test_page_token_defaults_and_bad_offsets() -> None:
    assert decode_page_token(None) == 0
    assert decode_page_token("") == 0
    assert decode_page_token(_b64(b'{"offset": 7}')) == 7  # padded form is accepted
    for bad in (-1, True, 1.5, 10**13):
        with pytest.raises(InvalidInput):
            encode_page_token(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        decode_page_token(123)  # type: ignore[arg-type]


def test_check_max_results() -> None:
    assert check_max_results(1) == 1
    assert check_max_results(MAX_RESULTS_LIMIT) == 50_000
    for bad in (0, -1, 50_001, True, 1.5, "10", None):
        with pytest.raises(InvalidInput, match="max_results"):
            check_max_results(bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- queries


def test_build_rejects_negative_limit_and_offset() -> None:
    for limit, offset in ((-1, 0), (1, -1)):
        with pytest.raises(InvalidInput):
            build_run_search(experiment_ids=["e"], filters=[], order=[], limit=limit, offset=offset)


def test_build_rejects_hand_made_bad_comparisons() -> None:
    bad = [
        Comparison("attribute", "nope", "=", "x"),
        Comparison("bogus", "x", "=", "x"),  # type: ignore[arg-type]
        Comparison("metric", "m", "LIKE", 3),
        Comparison("metric", "m", ">", "x"),
        Comparison("param", "p", "~", "x"),
    ]
    for comp in bad:
        with pytest.raises(InvalidInput):
            build_run_search(experiment_ids=["e"], filters=[comp], order=[], limit=1, offset=0)
    with pytest.raises(InvalidInput):
        build_run_search(
            experiment_ids=["e"],
            filters=[],
            order=[OrderClause("attribute", "x")],
            limit=1,
            offset=0,
        )


def test_select_returns_run_columns_with_run_id_first() -> None:
    stmt = build_run_search(experiment_ids=["e"], filters=[], order=[], limit=1, offset=0)
    assert next(iter(stmt.selected_columns)).name == "run_id"
    assert [c.name for c in stmt.selected_columns] == [c.name for c in runs.columns]


def test_values_and_keys_are_bound_parameters() -> None:
    escaped = HOSTILE_VALUE.replace("'", "''")
    stmt = build_run_search(
        experiment_ids=["e"],
        filters=parse_filter(f"params.`{HOSTILE_KEY}` = '{escaped}'"),
        order=parse_order_by([f"tags.`{HOSTILE_KEY}`"]),
        limit=5,
        offset=0,
    )
    sql = str(stmt.compile(dialect=create_engine("sqlite://").dialect))
    assert "DROP" not in sql
    assert "1=1" not in sql


FIXED_CASES: list[tuple[str | None, list[str] | None, list[int]]] = [
    (None, None, [3, 2, 5, 1]),  # start_time DESC, run_id tiebreak
    ("metrics.m1 > 0", None, [1]),  # NaN (run 2) never matches
    ("metrics.m1 != 0.5", None, [5]),  # NaN and missing never match !=
    ("metrics.m1 IS NULL", None, [3, 2]),  # missing or NaN
    ("metrics.m1 IS NOT NULL", None, [5, 1]),
    ("metrics.neg < -0.001", None, [3]),
    ("metrics.acc = 0.7", ["attributes.run_id"], [2, 3]),
    ("params.p = 'abc'", None, [1]),
    ("params.p != 'abc'", ["attributes.run_id"], [2, 3]),  # run 5 has no p
    ("params.p IS NULL", None, [5]),
    ("params.p LIKE 'a%'", ["attributes.run_id"], [1, 3]),  # case-sensitive: not ABC
    ("params.p ILIKE 'a%'", ["attributes.run_id"], [1, 2, 3]),
    ("params.p LIKE 'A%'", None, [2]),
    ("params.p LIKE 'a\\%c'", None, [3]),  # escaped %: only the literal a%c
    ("params.p LIKE 'a_c'", ["attributes.run_id"], [1, 3]),  # deleted run 4 excluded
    ("params.glob LIKE 'a*b'", None, [1]),  # GLOB metacharacters are literals
    ("params.glob LIKE 'a?b'", None, [2]),
    ("params.glob LIKE 'a[b]'", None, [3]),
    ("params.glob LIKE 'a_b'", ["attributes.run_id"], [1, 2]),
    ("params.glob NOT IN ('a*b', 'zzz')", ["attributes.run_id"], [2, 3]),
    ("params.quote = 'it''s'", None, [1]),
    ("params.model IN ('rf', 'lr')", ["attributes.run_id"], [1, 3]),
    ("tags.`my tag` LIKE 'A_B'", ["attributes.run_id"], [1, 2]),
    ("tags.`my tag` = 'A_B'", None, [1]),
    ("tags.\"mlflow.user\" ILIKE 'ann'", ["attributes.run_id"], [1, 3, 5]),
    ("tags.mlflow.user = 'Ann' AND metrics.m2 >= 3", ["attributes.run_id"], [1, 5]),
    ("tags.mlflow.runName IS NOT NULL", None, [1]),
    ("attributes.status = 'RUNNING'", None, [2]),
    ("attributes.run_name ILIKE 'b%'", None, [2]),
    ("attributes.run_name LIKE 'b%'", None, []),
    ("attributes.start_time >= 200 AND attributes.start_time < 300", None, [2, 5]),
    ("attributes.created = 200", ["attributes.run_id DESC"], [5, 2]),
    ("attributes.end_time > 100", None, [3, 1]),
    (f"attributes.run_id IN ('{rid(1)}', '{rid(2)}')", None, [2, 1]),
    ("params.unicode = '日本語 🚀'", None, [3]),
    ("params.ключ = 'значение'", None, []),
    (f"params.long = '{LONG_VALUE}'", None, [3]),
    (f"params.long = '{LONG_VALUE}B'", None, []),
    # ordering: missing and NaN last in both directions
    (None, ["metrics.m2 DESC"], [1, 5, 2, 3]),
    (None, ["metrics.m2 ASC"], [2, 1, 5, 3]),
    (None, ["metrics.m1 DESC"], [1, 5, 2, 3]),
    (None, ["metrics.m1"], [5, 1, 2, 3]),
    (None, ["params.p"], [2, 3, 1, 5]),  # code point order: 'ABC' < 'a%c' < 'abc'
    (None, ["params.p DESC"], [1, 3, 2, 5]),
    (None, ["attributes.run_name"], [2, 1, 5, 3]),  # 'Beta' < 'alpha' by code point
    (None, ["attributes.end_time DESC"], [3, 1, 2, 5]),
    (None, ["attributes.end_time"], [1, 3, 2, 5]),
    (None, ["tags.mlflow.user", "metrics.acc DESC"], [1, 5, 3, 2]),
    ("metrics.m2 > 0", ["metrics.m2 DESC", "attributes.start_time DESC"], [5, 1]),
]


@pytest.mark.parametrize(("filter_string", "order_by", "want"), FIXED_CASES)
def test_search_fixed_data(
    engine: Engine, filter_string: str | None, order_by: list[str] | None, want: list[int]
) -> None:
    got = search(engine, filter_string, order_by)
    assert got == [rid(n) for n in want]
    assert got == expected(filter_string, order_by)


def test_search_experiments_and_lifecycle(engine: Engine) -> None:
    assert search(engine, "params.p = 'abc'", experiment_ids=["fixed", "other"]) == [rid(1), rid(6)]
    got = search(
        engine, "params.p = 'abc'", ["attributes.run_id"], experiment_ids=["other", "fixed"]
    )
    assert got == [rid(1), rid(6)]
    assert search(engine, None, experiment_ids=[]) == []
    assert search(engine, "params.p LIKE 'a\\_c'", stages=["deleted"]) == [rid(4)]
    got = search(engine, "params.p LIKE 'a_c'", ["attributes.run_id"], stages=["active", "deleted"])
    assert got == [rid(1), rid(3), rid(4)]
    got = search(engine, "attributes.lifecycle_stage = 'deleted'", stages=["active", "deleted"])
    assert got == [rid(4)]


def test_many_keys_fall_back_to_exists(engine: Engine) -> None:
    filter_string = " AND ".join(f"params.k{i} = 'v'" for i in range(40))
    assert search(engine, filter_string) == [rid(5)] == expected(filter_string)
    assert search(engine, filter_string + " AND params.k39 != 'v'") == []
    order = [f"params.k{i}" for i in range(10)]
    assert search(engine, filter_string, order) == [rid(5)]


def test_paging_is_stable(engine: Engine) -> None:
    for order in (["metrics.acc DESC"], ["attributes.start_time"], None, ["tags.mlflow.user"]):
        full = search(engine, None, order)
        assert full == expected(None, order)
        pages: list[str] = []
        token: str | None = None
        while True:
            offset = decode_page_token(token)
            page = search(engine, None, order, limit=2, offset=offset)
            pages += page
            if len(page) < 2:
                break
            token = encode_page_token(offset + len(page))
        assert pages == full


HOSTILE_FILTERS = [
    "params.p = 'x'; DROP TABLE runs; --'",
    "params.p = 'x' OR 1=1",
    "params.p = 'x' OR '1'='1'",
    "params.p = 'x\\' OR 1=1 --'",
    'metrics."m1) OR 1=1 --" > 0',
    "metrics.`m1) OR 1=1 --` >= 1",
    "params.danger = 'x''; DROP TABLE runs; --'",
    'params.`danger` = "x\'; DROP TABLE runs; --"',
    "params.`p'; DROP TABLE runs; --` = 'x'",
    "params.p = 'Robert''); DROP TABLE params;--'",
    "params.p LIKE '%'' OR ''1''=''1'",
    "params.p IN ('abc'); DELETE FROM runs; --')",
    "params.p IN ('abc', 'x''); DELETE FROM runs; --')",
    'tags."a\\" OR \\"1\\"=\\"1" = \'x\'',
    "metrics.m1 > 0 AND/**/params.p = 'x'",
    "metrics.m1 > 0 /* comment */",
    "attributes.run_id = '' OR ''=''",
    "attributes.status = 'FINISHED' UNION SELECT * FROM runs",
    "params.p = 'a' AND 1=1",
    "params.p = '\u202eabc'",
    "params.p = '日本語 🚀' AND params.unicode = '日本語 🚀'",
    "params.ключ = 'значение'",
    "params.p = '\\\\' AND params.back = 'a\\\\b'",
    "params.back LIKE 'a\\\\\\\\b'",
    "params.p = '" + "x" * 100_000 + "'",
    "params.`" + "k" * 10_000 + "` = 'x'",
    "params.p = '" + "'" * 1001,
    "metrics.m1 > " + "9" * 400,
    "params.p LIKE '" + "%_" * 4_000 + "'",
    "params.p = 'x'\x00",
    "params.p = 'a' " + "AND params.p = 'a' " * 99,
]


def parse_or_error(filter_string: str) -> list[Comparison] | InvalidInput:
    try:
        return parse_filter(filter_string)
    except InvalidInput as err:
        return err


@pytest.mark.parametrize("filter_string", HOSTILE_FILTERS, ids=lambda s: repr(s[:40]))
def test_hostile_filters_are_rejected_or_literal(engine: Engine, filter_string: str) -> None:
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(runs)).scalar_one()
    comps = parse_or_error(filter_string)
    if isinstance(comps, InvalidInput):
        assert 0 <= comps.details["position"] <= len(filter_string)
        assert comps.details["filter"] == filter_string
    else:
        got = search(engine, filter_string, ["attributes.run_id"])
        assert got == ref_search(FIXED_RUNS, comps, parse_order_by(["attributes.run_id"]))
    assert inspect(engine).has_table("runs")
    assert inspect(engine).has_table("params")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(runs)).scalar_one() == before


def test_hostile_values_match_literally(engine: Engine) -> None:
    escaped = HOSTILE_VALUE.replace("'", "''")
    assert search(engine, f"params.danger = '{escaped}'") == [rid(2)]
    assert search(engine, "params.danger LIKE '%DROP TABLE%'") == [rid(2)]
    assert search(engine, f"metrics.`{HOSTILE_KEY}` = 1") == [rid(1)]
    assert search(engine, "params.back = 'a\\\\b'", stages=["deleted"]) == [rid(4)]


# --------------------------------------------------------------------------- property test

ALPHABET = "aAbB%_\\*?[]'\"€ß "
text_values = st.text(alphabet=ALPHABET, max_size=4)
metric_values = st.one_of(
    st.sampled_from([NAN, 0.0, -0.0, 1.0, -1.5, 2.0, 1e300]),
    st.floats(allow_nan=True, allow_infinity=False, allow_subnormal=False, width=64),
)
number_literals = st.one_of(
    st.sampled_from([0.0, 1.0, -1.5, 2.0, 1e300]),
    st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False),
)


def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


@st.composite
def run_sets(draw: st.DrawFn) -> list[Run]:
    ids = draw(st.lists(st.uuids(), min_size=0, max_size=7, unique=True))
    result = []
    for run_uuid in ids:
        result.append(
            Run(
                run_uuid.hex,
                experiment_id="hyp",
                run_name=draw(text_values),
                status=draw(st.sampled_from(["RUNNING", "FINISHED", "FAILED"])),
                start_time=draw(st.integers(0, 3)),
                end_time=draw(st.one_of(st.none(), st.integers(0, 3))),
                lifecycle_stage=draw(st.sampled_from(["active", "active", "deleted"])),
                params=draw(st.dictionaries(st.sampled_from(["p1", "p2"]), text_values)),
                tags=draw(st.dictionaries(st.sampled_from(["t1", "mlflow.user"]), text_values)),
                metrics=draw(st.dictionaries(st.sampled_from(["m1", "m2"]), metric_values)),
            )
        )
    return result


@st.composite
def filter_terms(draw: st.DrawFn) -> str:
    entity = draw(st.sampled_from(["metrics", "params", "tags", "attributes"]))
    if entity == "metrics":
        key = draw(st.sampled_from(["m1", "m2", "m3"]))
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "IS NULL", "IS NOT NULL"]))
        if op.startswith("IS"):
            return f"metrics.{key} {op}"
        return f"metrics.{key} {op} {draw(number_literals)!r}"
    if entity == "attributes":
        key = draw(st.sampled_from(["status", "run_name", "start_time", "end_time", "created"]))
        if key in ("start_time", "end_time", "created"):
            op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
            return f"attributes.{key} {op} {draw(st.integers(-1, 4))}"
    else:
        key = draw(st.sampled_from(["p1", "p2"] if entity == "params" else ["t1", "mlflow.user"]))
        key = f"`{key}`" if draw(st.booleans()) else key
    op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL"]))
    if op == "IS NULL" and entity == "attributes":
        op = "="
    if op == "IS NULL":
        return f"{entity}.{key} {draw(st.sampled_from(['IS NULL', 'IS NOT NULL']))}"
    if op in ("IN", "NOT IN"):
        values = draw(st.lists(text_values, min_size=1, max_size=3))
        return f"{entity}.{key} {op} ({', '.join(quote(v) for v in values)})"
    return f"{entity}.{key} {op} {quote(draw(text_values))}"


order_items = st.builds(
    lambda key, direction: f"{key}{direction}",
    st.sampled_from(
        [
            "metrics.m1",
            "metrics.m2",
            "metrics.m3",
            "params.p1",
            "tags.mlflow.user",
            "attributes.start_time",
            "attributes.end_time",
            "attributes.run_name",
            "attributes.status",
        ]
    ),
    st.sampled_from(["", " ASC", " DESC", " desc"]),
)


@settings(
    max_examples=int(os.environ.get("CYCLEML_SEARCH_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    data=run_sets(),
    terms=st.lists(filter_terms(), max_size=3),
    order_by=st.lists(order_items, max_size=3),
    stages=st.sampled_from([("active",), ("active", "deleted")]),
    limit=st.integers(1, 8),
    offset=st.integers(0, 4),
)
def test_search_matches_reference(
    engine: Engine,
    data: list[Run],
    terms: list[str],
    order_by: list[str],
    stages: tuple[str, ...],
    limit: int,
    offset: int,
) -> None:
    filter_string = " AND ".join(terms)
    delete_experiment_runs(engine, "hyp")
    insert_runs(engine, data)
    got = search(
        engine,
        filter_string,
        order_by,
        experiment_ids=["hyp"],
        stages=stages,
        limit=limit,
        offset=offset,
    )
    want = ref_search(
        data,
        parse_filter(filter_string),
        parse_order_by(order_by),
        experiment_ids=["hyp"],
        stages=stages,
        limit=limit,
        offset=offset,
    )
    assert got == want, (filter_string, order_by)


def test_reference_implementation_sanity() -> None:
    runs_ = [Run("b", metrics={"m": 1.0}), Run("a", metrics={"m": NAN}), Run("c")]
    order = parse_order_by(["metrics.m DESC"])
    assert ref_search(runs_, [], order) == ["b", "a", "c"]
    assert ref_search(runs_, parse_filter("metrics.m != 5"), order) == ["b"]
    assert like_regex("a\\%_", False).fullmatch("a%x")
    assert not like_regex("a\\%_", False).fullmatch("abx")
    assert uuid.UUID(int=1).hex == rid(1)
