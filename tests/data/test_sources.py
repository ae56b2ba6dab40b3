"""Data sources: files (CSV/TSV/Parquet/JSONL, globs, folders, fsspec URIs), SQL (SQLite and
PostgreSQL, watermark pushdown), frames; every bad input gives a clear error. Real files and
databases, no mocks."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError
from sklearn.datasets import load_iris

from cycleml.data._sources import (
    FileSource,
    FrameSource,
    SqlSource,
    arrow_type,
    source_from_spec,
)
from cycleml.errors import InvalidInput, InvalidState, NotFound
from cycleml.hashing import hash_file
from cycleml.spec._sources import FileSourceSpec, SourceSpec, SqlSourceSpec

SPEC = TypeAdapter(SourceSpec)


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    """Iris plus a date and a timestamp column (150 rows)."""
    frame = load_iris(as_frame=True).frame
    frame.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    frame["day"] = pd.date_range("2024-01-01", periods=len(frame), freq="D").date
    frame["ts"] = pd.date_range("2024-01-01 08:00", periods=len(frame), freq="h").as_unit("us")
    frame.insert(0, "id", range(len(frame)))
    return frame


def _check_iris(table: pa.Table, iris: pd.DataFrame) -> None:
    assert table.num_rows == 150
    assert table.column_names == list(iris.columns)
    assert table.schema.field("id").type == pa.int64()
    assert table.schema.field("sepal_length").type == pa.float64()
    assert table.schema.field("day").type == pa.date32()
    assert pa.types.is_timestamp(table.schema.field("ts").type)
    assert table.column("sepal_length").to_pylist() == iris["sepal_length"].tolist()
    assert table.column("species").to_pylist() == iris["species"].tolist()
    assert table.column("day").to_pylist() == list(iris["day"])
    assert table.column("ts").cast(pa.timestamp("us")).to_pylist() == list(
        iris["ts"].dt.to_pydatetime()
    )


def _write(iris: pd.DataFrame, path: Path, fmt: str) -> Path:
    if fmt == "csv":
        iris.to_csv(path, index=False)
    elif fmt == "tsv":
        iris.to_csv(path, index=False, sep="\t")
    elif fmt == "parquet":
        iris.to_parquet(path, index=False)
    else:
        iris.to_json(path, orient="records", lines=True, date_format="iso")
    return path


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "jsonl"])
def test_round_trip_per_format(iris: pd.DataFrame, tmp_path: Path, fmt: str) -> None:
    path = _write(iris, tmp_path / f"iris.{fmt}", fmt)
    source = FileSource(path, schema={"day": "date"} if fmt == "jsonl" else None)
    _check_iris(source.open().read_all(), iris)
    assert source.identity() == f"file://{path}"
    described = source.describe()
    assert described["kind"] == "file"
    assert described["format"] == fmt
    assert described["uri"] == f"file://{path}"
    assert [entry.path for entry in source.read_files] == [str(path)]


def test_batches_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    n = 200_000
    pcsv.write_csv(pa.table({"a": range(n), "b": [i * 0.5 for i in range(n)]}), path)
    sizes = [batch.num_rows for batch in FileSource(path).open(batch_size=30_000)]
    assert len(sizes) == 7
    assert max(sizes) <= 30_000
    assert sum(sizes) == n


def test_csv_streams_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    n = 2_000_000  # 64 MB as an Arrow table
    table = pa.table({f"c{i}": pa.array(range(i, n + i), pa.int64()) for i in range(4)})
    pcsv.write_csv(table, path)
    full, peak, rows = table.nbytes, 0, 0
    del table
    base = pa.total_allocated_bytes()
    for batch in FileSource(path).open(batch_size=8_192):
        rows += batch.num_rows
        peak = max(peak, pa.total_allocated_bytes() - base)
    assert rows == n
    assert full == 64_000_000
    assert peak < 24 << 20, (peak, full)  # a few 4 MiB blocks, not the whole file


def test_glob_and_folder_read_sorted_parts(iris: pd.DataFrame, tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, name in [(2, "part-2.csv"), (0, "part-0.csv"), (1, "part-1.csv")]:
        iris.iloc[i * 50 : (i + 1) * 50].to_csv(parts / name, index=False)
    (parts / "README.md").write_text("not data")
    (parts / "_SUCCESS").write_text("")
    for source in (FileSource(parts / "*.csv"), FileSource(parts)):
        assert [Path(e.path).name for e in source.files()] == [f"part-{i}.csv" for i in range(3)]
        _check_iris(source.open(batch_size=64).read_all(), iris)
    assert FileSource(parts / "*.csv").identity() == f"file://{parts}/*.csv"
    with pytest.raises(NotFound, match=r"No files match"):
        FileSource(parts / "*.parquet").files()


def test_type_overrides_and_custom_formats(tmp_path: Path) -> None:
    path = tmp_path / "custom.csv"
    path.write_text(
        "code,amount,when,day,flag\n"
        "007,1,05/01/2024 10:30,05/01/2024,true\n"
        "010,2,06/01/2024 11:00,06/01/2024,false\n"
    )
    source = FileSource(
        path,
        schema={"code": "string", "amount": "float", "day": "date"},
        timestamp_formats=["%d/%m/%Y %H:%M", "%d/%m/%Y"],
    )
    table = source.open().read_all()
    assert table.schema.field("code").type == pa.string()
    assert table.column("code").to_pylist() == ["007", "010"]
    assert table.schema.field("amount").type == pa.float64()
    assert table.column("when").to_pylist() == [
        dt.datetime(2024, 1, 5, 10, 30),
        dt.datetime(2024, 1, 6, 11, 0),
    ]
    assert table.column("day").to_pylist() == [dt.date(2024, 1, 5), dt.date(2024, 1, 6)]
    assert table.column("flag").to_pylist() == [True, False]

    jsonl = tmp_path / "custom.jsonl"
    jsonl.write_text(
        '{"when": "05/01/2024 10:30", "day": "05/01/2024", "n": 1}\n'
        '{"when": "06/01/2024 11:00", "day": "06/01/2024", "n": 2}\n'
    )
    table = (
        FileSource(
            jsonl,
            schema={"day": "date", "n": "float"},
            timestamp_formats=["%d/%m/%Y %H:%M", "%d/%m/%Y"],
        )
        .open()
        .read_all()
    )
    assert table.column("when").to_pylist()[0] == dt.datetime(2024, 1, 5, 10, 30)
    assert table.column("day").to_pylist() == [dt.date(2024, 1, 5), dt.date(2024, 1, 6)]
    assert table.schema.field("n").type == pa.float64()

    with pytest.raises(InvalidInput, match=r"custom.csv row 1: column 'when' holds '05/01"):
        FileSource(path, schema={"when": "timestamp"}, format="csv")._conform(
            pa.table({"when": ["05/01/2024 10:30"]}),
            pa.schema([("when", pa.timestamp("us"))]),
            lambda i: f"{path} row {i + 1}",
        )


def test_memory_and_file_uris(iris: pd.DataFrame, tmp_path: Path) -> None:
    memory = fsspec.filesystem("memory")
    root = f"/cycleml-test-{uuid.uuid4().hex}"
    try:
        memory.pipe(f"{root}/b.csv", iris.iloc[75:].to_csv(index=False).encode())
        memory.pipe(f"{root}/a.csv", iris.iloc[:75].to_csv(index=False).encode())
        source = FileSource(f"memory://{root}/*.csv")
        assert source.identity() == f"memory://{root}/*.csv"
        assert [e.uri for e in source.files()] == [
            f"memory://{root}/a.csv",
            f"memory://{root}/b.csv",
        ]
        _check_iris(source.open().read_all(), iris)
        memory.pipe(f"{root}/empty.csv", b"")
        with pytest.raises(InvalidInput, match=rf"memory://{root}/empty.csv is empty"):
            FileSource(f"memory://{root}/empty.csv").open()
    finally:
        memory.rm(root, recursive=True)
    path = _write(iris, tmp_path / "iris.csv", "csv")
    by_uri, by_path = FileSource(path.as_uri()), FileSource(path)
    assert by_uri.identity() == by_path.identity() == f"file://{path}"
    assert by_uri.files() == by_path.files()
    _check_iris(by_uri.open().read_all(), iris)


def test_fingerprints_are_stable_and_skip_files_reads_only_new_files(
    iris: pd.DataFrame, tmp_path: Path
) -> None:
    iris.iloc[:100].to_csv(tmp_path / "day1.csv", index=False)
    source = FileSource(tmp_path / "*.csv")
    first = source.files()
    assert first == source.files()
    assert first[0].fingerprint == hash_file(tmp_path / "day1.csv")
    assert first[0].size == (tmp_path / "day1.csv").stat().st_size
    assert first[0].mtime
    assert first[0].to_dict()["fingerprint"] == first[0].fingerprint
    seen = {entry.fingerprint for entry in first}
    iris.iloc[100:].to_csv(tmp_path / "day2.csv", index=False)
    table = source.open(skip_files=seen).read_all()
    assert table.column("id").to_pylist() == list(range(100, 150))
    assert [Path(e.path).name for e in source.read_files] == ["day2.csv"]
    everything = seen | {entry.fingerprint for entry in source.files()}
    empty = source.open(skip_files=everything)
    assert empty.schema.names == list(iris.columns)
    assert empty.read_all().num_rows == 0
    # A renamed copy has the same content identity.
    (tmp_path / "day2.csv").rename(tmp_path / "day2-renamed.csv")
    assert source.open(skip_files=everything).read_all().num_rows == 0


def test_file_watermark_filters_rows(iris: pd.DataFrame, tmp_path: Path) -> None:
    for fmt in ("csv", "parquet"):
        source = FileSource(_write(iris, tmp_path / f"iris.{fmt}", fmt))
        after = dt.datetime(2024, 1, 7, 10, 0)  # row 146
        table = source.open(watermark="ts", after=after).read_all()
        assert table.column("id").to_pylist() == [147, 148, 149]
        assert source.open(watermark="id", after=147).read_all().num_rows == 2
        assert source.open(watermark="id").read_all().num_rows == 150
        with pytest.raises(InvalidInput, match=r"watermark column 'nope' is not in the data"):
            source.open(watermark="nope", after=1)
        with pytest.raises(InvalidInput, match=r"cannot be compared with column 'id'"):
            source.open(watermark="id", after="not a number")
    with pytest.raises(InvalidInput, match=r"without watermark="):
        source.open(after=3)


def test_ragged_rows_error_lists_lines_and_skip_reports_them(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,c\n1,2,3\n4,5\n6,7,8\n9,10,11,12\n13,14,15\n")
    with pytest.raises(InvalidInput) as caught:
        FileSource(path).open().read_all()
    message = str(caught.value)
    assert f"{path}:3: expected 3 fields, found 2" in message
    assert f"{path}:5: expected 3 fields, found 4" in message
    assert "on_bad_rows: skip" in message
    source = FileSource(path, on_bad_rows="skip")
    assert source.open().read_all().column("a").to_pylist() == [1, 6, 13]
    assert source.bad_rows == [
        {"file": str(path), "line": 3, "text": "4,5", "problem": "expected 3 fields, found 2"},
        {
            "file": str(path),
            "line": 5,
            "text": "9,10,11,12",
            "problem": "expected 3 fields, found 4",
        },
    ]


def test_mixed_types_name_file_line_column_value(tmp_path: Path) -> None:
    # A stray word among numbers in the inference sample (row 5000) ...
    early = tmp_path / "early.csv"
    rows = [f"{i},{i * 2}" for i in range(1, 7000)]
    rows[4999] = "5000,abc"
    early.write_text("id,amount\n" + "\n".join(rows) + "\n")
    with pytest.raises(InvalidInput) as caught:
        FileSource(early).open().read_all()
    message = str(caught.value)
    assert f"{early}:5001: column 'amount' holds 'abc'" in message
    assert "schema: {amount: string}" in message
    assert FileSource(early, schema={"amount": "string"}).open().read_all().num_rows == 6999
    # ... and a value after the first block that does not fit the inferred type.
    late = tmp_path / "late.csv"
    n = 200_000
    with late.open("w") as handle:
        handle.write("id,amount\n")
        handle.writelines(f"{i},{i}\n" for i in range(n))
        handle.write("x,2.5\n")
    with pytest.raises(InvalidInput) as caught:
        FileSource(late).open().read_all()
    message = str(caught.value)
    assert f"{late}:{n + 2}: column 'id' holds 'x', which is not a valid int64" in message
    assert "schema: {id: string}" in message
    assert caught.value.details["line"] == n + 2


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_empty_and_missing_files(tmp_path: Path, fmt: str) -> None:
    empty = tmp_path / f"empty.{fmt}"
    empty.write_bytes(b"")
    with pytest.raises(InvalidInput, match=r"empty\." + fmt + " is empty"):
        FileSource(empty).open()
    if fmt == "jsonl":
        empty.write_text("\n  \n")
        with pytest.raises(InvalidInput, match=r"is empty"):
            FileSource(empty).open()
    missing = tmp_path / f"missing.{fmt}"
    with pytest.raises(NotFound, match=str(missing)):
        FileSource(missing).open()


def test_non_utf8_bytes_are_located(tmp_path: Path) -> None:
    for name, data in [
        ("early.csv", "id,name\n1,ok\n2,caf\xe9\n".encode("latin-1")),
        (
            "late.csv",
            ("id,name\n" + "".join(f"{i},n{i}\n" for i in range(150_000)) + "7,\xe9\n").encode(
                "latin-1"
            ),
        ),
        (
            "names.jsonl",
            '{"id": 1, "name": "ok"}\n{"id": 2, "name": "caf\xe9"}\n'.encode("latin-1"),
        ),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        offset = data.index(b"\xe9")
        line = data[:offset].count(b"\n") + 1
        with pytest.raises(InvalidInput) as caught:
            FileSource(path).open().read_all()
        message = str(caught.value)
        assert f"{path} is not valid utf-8" in message
        assert f"offset {offset} (line {line})" in message
        assert "encoding:" in message
        assert caught.value.details == {"file": str(path), "offset": offset, "line": line}
        names = FileSource(path, encoding="latin-1").open().read_all().column("name")
        assert names[-1].as_py() in ("café", "é")


def test_jsonl_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"a": 1, "b": "x"}\n{"a": 2, "b": \n\n{"a": "oops", "b": "z"}\n[1, 2]\n{"a": 5}\n'
    )
    with pytest.raises(InvalidInput, match=rf"{path}:2: invalid JSON"):
        FileSource(path).open().read_all()
    source = FileSource(path, on_bad_rows="skip")
    table = source.open().read_all()
    assert table.to_pylist() == [{"a": 1, "b": "x"}, {"a": 5, "b": None}]
    assert [(r["line"], r["problem"].split(":")[0]) for r in source.bad_rows] == [
        (2, "invalid JSON"),
        (
            4,
            "column 'a' holds 'oops', which is not a valid int64; declare the column's type in "
            "schema",
        ),
        (5, "expected a JSON object, found list"),
    ]
    late = tmp_path / "late.jsonl"
    with late.open("w") as handle:
        handle.writelines(f'{{"a": {i}}}\n' for i in range(150_000))
        handle.write('{"a": 1, "extra": true}\n')
    with pytest.raises(InvalidInput, match=rf"{late}:150001: field\(s\) \['extra'\] not seen"):
        FileSource(late).open().read_all()


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"Unknown column type 'money'"):
        FileSource(tmp_path / "x.csv", schema={"a": "money"})
    with pytest.raises(InvalidInput, match=r"delimiter"):
        FileSource(tmp_path / "x.csv", delimiter=";;")
    with pytest.raises(InvalidInput, match=r"format"):
        FileSource(tmp_path / "x.csv", format="xlsx")  # type: ignore[arg-type]
    (tmp_path / "x.txt").write_text("a\n1\n")
    with pytest.raises(InvalidInput, match=r"Cannot tell the format"):
        FileSource(tmp_path / "x.txt").open()
    assert FileSource(tmp_path / "x.txt", format="csv").open().read_all().num_rows == 1
    with pytest.raises(InvalidInput, match=r"batch_size"):
        FileSource(tmp_path / "x.txt", format="csv").open(batch_size=0)
    with pytest.raises(InvalidInput, match=r"not a plain identifier"):
        FileSource(tmp_path / "x.txt", format="csv").open(watermark="a or 1=1", after=0)
    (tmp_path / "x.parquet").write_text("not parquet at all")
    with pytest.raises(InvalidInput, match=r"not a readable Parquet file"):
        FileSource(tmp_path / "x.parquet").open()
    with pytest.raises(InvalidInput, match=r"schema: names column\(s\) \['Name'\]"):
        FileSource(tmp_path / "x.txt", format="csv", schema={"Name": "string"}).open()
    assert arrow_type("decimal(10, 2)") == pa.decimal128(10, 2)


# -- SQL ---------------------------------------------------------------------------------


def _make_table(engine: sa.Engine, iris: pd.DataFrame) -> None:
    meta = sa.MetaData()
    table = sa.Table(
        "flowers",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sepal_length", sa.Float),
        sa.Column("species", sa.Integer),
        sa.Column("price", sa.Numeric(10, 2)),
        sa.Column("note", sa.Text),  # NULL in every row
        sa.Column("ts", sa.DateTime),
    )
    meta.drop_all(engine)
    meta.create_all(engine)
    rows = [
        {
            "id": int(r.id),
            "sepal_length": float(r.sepal_length),
            "species": int(r.species),
            "price": round(r.sepal_length * 1.25, 2),
            "note": None,
            "ts": r.ts.to_pydatetime(),
        }
        for r in iris.itertuples()
    ]
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)


@pytest.fixture
def sqlite_engine(iris: pd.DataFrame, tmp_path: Path) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    _make_table(engine, iris)
    yield engine
    engine.dispose()


@pytest.fixture
def postgresql_engine(
    iris: pd.DataFrame, scratch_postgres: Callable[[str], AbstractContextManager[str]]
) -> Iterator[sa.Engine]:
    with scratch_postgres("cycleml_sources") as uri:  # a throwaway database, dropped after
        engine = sa.create_engine(uri)
        _make_table(engine, iris)
        yield engine
        engine.dispose()


def _capture(engine: sa.Engine) -> list[tuple[str, Any]]:
    executed: list[tuple[str, Any]] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _record(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        executed.append((statement, params))

    return executed


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sql_source_streams_and_pushes_the_watermark_into_sql(
    backend: str, iris: pd.DataFrame, request: pytest.FixtureRequest
) -> None:
    engine: sa.Engine = request.getfixturevalue(f"{backend}_engine")
    query = "SELECT id, sepal_length, species, price, note, ts FROM flowers WHERE species >= :low"
    source = SqlSource(engine, query, params={"low": 0}, schema={"ts": "timestamp"})
    sizes = [batch.num_rows for batch in source.open(batch_size=40)]
    assert sizes == [40, 40, 40, 30]
    table = source.open(batch_size=40).read_all()
    assert table.column("id").to_pylist() == list(range(150))
    assert table.column("sepal_length").to_pylist() == iris["sepal_length"].tolist()
    assert table.schema.field("ts").type == pa.timestamp("us")
    assert table.column("ts").to_pylist()[3] == dt.datetime(2024, 1, 1, 11, 0)
    if backend == "postgresql":  # types from the cursor description, even for NULL-only
        assert table.schema.field("note").type == pa.string()
        assert table.schema.field("price").type == pa.decimal128(10, 2)
        assert table.schema.field("species").type == pa.int32()
    else:
        assert table.schema.field("note").type == pa.null()
    executed = _capture(engine)
    after = dt.datetime(2024, 1, 7, 10, 0)  # row 146
    recent = source.open(watermark="ts", after=after, batch_size=2).read_all()
    assert recent.column("id").to_pylist() == [147, 148, 149]
    [(statement, params)] = executed
    assert "FROM (SELECT id, sepal_length" in statement
    assert "AS src" in statement
    assert "WHERE src.ts >" in statement
    assert "ORDER BY src.ts" in statement
    bound = list(params.values() if isinstance(params, dict) else params)
    assert after in bound or "2024-01-07 10:00:00.000000" in bound  # SQLite binds text
    executed.clear()
    with pytest.raises(InvalidInput, match=r"not a plain identifier"):
        source.open(watermark='ts" > 0; DROP TABLE flowers; --', after=after)
    assert executed == []
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM flowers")).scalar() == 150


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sql_errors_are_clear(backend: str, request: pytest.FixtureRequest) -> None:
    engine: sa.Engine = request.getfixturevalue(f"{backend}_engine")
    url = engine.url.set(password="hunter2").render_as_string(hide_password=False)
    for query, expected in [
        ("SELEC id FROM flowers", "syntax error"),
        ("SELECT * FROM no_such_table", "no_such_table"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            SqlSource(url, query).open()
        message = str(caught.value)
        assert "The SQL query failed" in message
        assert expected in message
        assert f"Query: {query}" in message
        assert "hunter2" not in message
    with pytest.raises(InvalidInput, match=r"must return the column 'missing'"):
        SqlSource(url, "SELECT id FROM flowers").open(watermark="missing", after=1)
    source = SqlSource(url, "SELECT id FROM flowers")
    assert "hunter2" not in str(source.describe())
    assert "hunter2" not in source.identity()


def test_sql_identity_description_and_type_problems(
    sqlite_engine: sa.Engine, tmp_path: Path
) -> None:
    url = sqlite_engine.url.render_as_string()
    source = SqlSource(url, "SELECT * FROM flowers;")
    assert source.identity().startswith(f"sql:sqlite:///{tmp_path}/shop.db#")
    assert source.identity() == SqlSource(url, "SELECT * FROM flowers").identity()
    assert source.identity() != SqlSource(url, "SELECT id FROM flowers").identity()
    assert source.describe() == {
        "kind": "sql",
        "url": url,
        "query": "SELECT * FROM flowers",
        "params": {},
        "options": {"schema": None},
    }
    pg = SqlSource("postgresql+psycopg://me:secret@db.example:5433/shop", "SELECT 1")
    assert pg.identity().startswith("sql:postgresql://db.example:5433/shop#")
    assert pg.describe()["url"] == "postgresql+psycopg://me@db.example:5433/shop"
    with sqlite_engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE loose (v)"))
        conn.execute(sa.text("INSERT INTO loose VALUES (1), (2), ('three')"))
    with pytest.raises(InvalidInput, match=r"Column 'v' of the SQL result mixes value types"):
        SqlSource(url, "SELECT v FROM loose").open()
    as_text = SqlSource(url, "SELECT v FROM loose", schema={"v": "string"}).open().read_all()
    assert as_text.column("v").to_pylist() == ["1", "2", "three"]
    with pytest.raises(InvalidInput, match=r"SQL result row 3: column 'v' holds 'three'"):
        SqlSource(url, "SELECT v FROM loose ORDER BY rowid").open(batch_size=2).read_all()
    with pytest.raises(NotFound, match=r"No SQLite database"):
        SqlSource(f"sqlite:///{tmp_path / 'nope.db'}", "SELECT 1").open()
    with pytest.raises(InvalidInput, match=r"not a SQLAlchemy URL"):
        SqlSource("not a url", "SELECT 1")
    with pytest.raises(InvalidInput, match=r"query is empty"):
        SqlSource(url, " ; ")


# -- frames --------------------------------------------------------------------------------


def test_frame_sources(iris: pd.DataFrame) -> None:
    arrow = pa.Table.from_pandas(iris, preserve_index=False)
    frames: list[Any] = [
        iris,
        pl.from_pandas(iris),
        pl.from_pandas(iris).lazy(),
        arrow,
        arrow.to_batches()[0],
        pa.RecordBatchReader.from_batches(arrow.schema, arrow.to_batches(max_chunksize=7)),
    ]
    for frame in frames:
        source = FrameSource(frame)
        batches = list(source.open(batch_size=64))
        assert [b.num_rows for b in batches] == [64, 64, 22], type(frame)
        table = pa.Table.from_batches(batches)
        assert table.column("sepal_length").to_pylist() == iris["sepal_length"].tolist()
        assert table.column("id").to_pylist() == list(range(150))
        assert source.describe()["kind"] == "frame"
        assert "id" in source.describe()["columns"]
        assert source.identity().startswith("frame:")
    with pytest.raises(InvalidState, match=r"read once"):
        source.open()
    recent = FrameSource(iris, name="iris").open(watermark="id", after=146).read_all()
    assert recent.column("id").to_pylist() == [147, 148, 149]
    assert FrameSource(iris, name="iris").identity() == "frame:iris"
    with pytest.raises(InvalidInput, match=r"cannot read a builtins.list"):
        FrameSource([1, 2, 3])
    with pytest.raises(InvalidInput, match=r"cannot be converted to Arrow"):
        FrameSource(pd.DataFrame({"x": [1, "a", 2.5]}))


# -- specs -------------------------------------------------------------------------------


def test_source_specs_and_source_from_spec(
    iris: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data").mkdir()
    _write(iris, tmp_path / "data" / "iris.csv", "csv")
    spec = SPEC.validate_python(
        {"kind": "file", "path": "data/*.csv", "schema": {"species": "text"}, "watermark": "id"}
    )
    assert isinstance(spec, FileSourceSpec)
    assert spec.column_types == {"species": "string"}
    assert spec.mode == "append"
    assert spec.model_dump()["schema"] == {"species": "string"}
    source = source_from_spec(spec, base_dir=tmp_path)
    assert isinstance(source, FileSource)
    assert source.identity() == f"file://{tmp_path}/data/*.csv"
    assert source.open().read_all().schema.field("species").type == pa.string()

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    _make_table(engine, iris)
    engine.dispose()
    monkeypatch.setenv("CYCLEML_TEST_DB", "shop.db")
    sql = SPEC.validate_python(
        {"kind": "sql", "url": "sqlite:///${CYCLEML_TEST_DB}", "query": "SELECT id FROM flowers"}
    )
    assert isinstance(sql, SqlSourceSpec)
    assert sql.mode == "replace"
    sql_source = source_from_spec(sql, base_dir=tmp_path)
    assert sql_source.describe()["url"] == f"sqlite:///{tmp_path / 'shop.db'}"
    assert sql_source.open().read_all().num_rows == 150

    for bad, problem in [
        ({"kind": "ftp", "path": "x"}, "does not match any of the expected tags"),
        ({"kind": "file", "path": "x", "sheet": 1}, "Extra inputs are not permitted"),
        ({"kind": "file", "path": "x", "schema": {"a": "money"}}, "Unknown column type"),
        ({"kind": "sql", "url": "sqlite://", "query": "q", "watermark": "a;b"}, "identifier"),
        ({"kind": "file", "path": "x", "mode": "upsert"}, "'replace' or 'append'"),
        ({"kind": "file", "path": "x", "timestamp_formats": ["dd/mm"]}, "no % directive"),
        ({"kind": "file", "path": "x", "encoding": "klingon"}, "unknown encoding"),
    ]:
        with pytest.raises(ValidationError, match=problem):
            SPEC.validate_python(bad)


def test_bad_value_in_the_first_block_names_the_column(tmp_path: Path) -> None:
    typed = tmp_path / "typed.csv"
    typed.write_text("id,amount\n1,x\n2,3.5\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"typed\.csv:2: column 'amount' holds 'x'") as err:
        FileSource(typed, schema={"amount": "float"}).open().read_all()
    assert err.value.hint is not None
    assert "schema:" in err.value.hint
