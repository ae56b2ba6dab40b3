"""Dataset versions: content addressing, append with a watermark, aliases, load, lineage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sklearn.datasets import load_iris

import cycleml
from cycleml.data._versions import Datasets, canonical_digest
from cycleml.errors import InvalidInput, NotFound
from cycleml.settings import Settings
from cycleml.store import Database
from cycleml.tracking import Tracker


class TableSource:
    """A source over an in-memory Arrow table, in batches of ``chunk`` rows."""

    def __init__(self, table: pa.Table, chunk: int = 37) -> None:
        self.table = table
        self.chunk = chunk

    def open(self, **options: Any) -> pa.RecordBatchReader:
        table = self.table
        if "after" in options:
            table = table.filter(pc.greater(table[options["watermark"]], options["after"]))
        batches = table.to_batches(max_chunksize=self.chunk)
        return pa.RecordBatchReader.from_batches(table.schema, batches)

    def describe(self) -> dict[str, Any]:
        return {"kind": "memory", "rows": self.table.num_rows}

    def identity(self) -> str:
        return "memory:iris"


@pytest.fixture
def iris() -> pa.Table:
    frame = load_iris(as_frame=True).frame
    frame.insert(0, "id", range(len(frame)))
    return pa.Table.from_pandas(frame, preserve_index=False)


@pytest.fixture
def datasets(settings: Settings, db: Database) -> Datasets:
    return Datasets(settings, store=db)


def test_same_rows_same_version_whatever_the_batching(datasets: Datasets, iris: pa.Table) -> None:
    first = datasets.ingest("iris", TableSource(iris, chunk=7), aliases=["prod"])
    assert first.created
    assert (first.version.version, first.version.row_count) == (1, 150)
    again = datasets.ingest("iris", TableSource(iris, chunk=100))
    assert not again.created
    assert again.version.version_id == first.version.version_id
    assert len(datasets.list_versions("iris")) == 1
    other = datasets.ingest("iris", TableSource(iris.slice(0, 149)))
    assert other.created
    assert other.version.version == 2
    assert other.version.digest != first.version.digest
    assert canonical_digest(iris.schema, iris.to_batches(5)) == first.version.digest


def test_load_outputs_and_uris(datasets: Datasets, iris: pa.Table) -> None:
    datasets.ingest("iris", TableSource(iris), aliases=["prod"])
    datasets.ingest("iris", TableSource(iris.slice(0, 100)))
    assert datasets.load("datasets:/iris@prod").equals(iris)
    assert datasets.load("datasets:/iris/latest").num_rows == 100
    assert datasets.load("iris").num_rows == 100
    assert datasets.load("datasets:/iris/1", output="pandas").shape == (150, 6)
    assert datasets.load("datasets:/iris/1", output="polars").shape == (150, 6)
    relation = datasets.load("datasets:/iris/1", output="duckdb")
    assert relation.aggregate("count(*)").fetchall() == [(150,)]
    reader = datasets.load("datasets:/iris/1", output="reader", columns=["id"])
    assert reader.read_all().column_names == ["id"]
    with pytest.raises(NotFound, match="no tag 'staging'"):
        datasets.load("datasets:/iris@staging")
    with pytest.raises(NotFound, match="no version 9"):
        datasets.load("datasets:/iris/9")
    with pytest.raises(NotFound, match="No dataset named 'nope'"):
        datasets.load("nope")
    with pytest.raises(InvalidInput, match="Invalid dataset URI"):
        datasets.load("datasets:/iris/zero")
    with pytest.raises(InvalidInput, match="Invalid output"):
        datasets.load("iris", output="excel")  # type: ignore[arg-type]


def test_append_takes_only_new_rows_and_rewrites_nothing(
    datasets: Datasets, iris: pa.Table
) -> None:
    base = datasets.ingest("iris", TableSource(iris.slice(0, 100)), watermark="id").version
    assert base.watermark_value == 99
    grown = datasets.ingest("iris", TableSource(iris), mode="append", watermark="id")
    assert grown.created
    assert grown.rows_read == 50  # only id > 99 was read
    version = grown.version
    assert (version.version, version.parent_version, version.row_count) == (2, 1, 150)
    assert version.parts[: len(base.parts)] == base.parts  # the parent's parts, untouched
    assert datasets.load(version).equals(iris)
    nothing = datasets.ingest("iris", TableSource(iris), mode="append")
    assert not nothing.created
    assert nothing.version.version == 2
    assert nothing.rows_read == 0
    edges = datasets.repository.db.lineage_edges("dataset_version", "iris/2")
    assert {(e.src_kind, e.src_id, e.relation) for e in edges} == {
        ("source", "memory:iris", "ingested_into"),
        ("dataset_version", "iris/1", "parent_of"),
    }


def test_append_with_another_schema_is_refused(datasets: Datasets, iris: pa.Table) -> None:
    datasets.ingest("iris", TableSource(iris), watermark="id")
    more = iris.set_column(0, "id", pa.array(range(150, 300)))  # new rows...
    changed = more.append_column("extra", pa.array([1] * 150))  # ...with another column
    before = len(datasets.repository.db.list_audit())
    with pytest.raises(InvalidInput, match="differ from its latest version"):
        datasets.ingest("iris", TableSource(changed), mode="append", watermark="id")
    assert len(datasets.repository.db.list_audit()) == before
    assert len(datasets.list_versions("iris")) == 1


def test_aliases_move_and_are_validated(datasets: Datasets, iris: pa.Table) -> None:
    datasets.ingest("iris", TableSource(iris))
    datasets.ingest("iris", TableSource(iris.slice(0, 10)))
    assert datasets.set_alias("iris", 1, "prod").tags == ("prod",)
    assert datasets.set_alias("iris", 2, "prod").tags == ("prod",)
    assert datasets.repository.get_dataset_version("iris", 1).tags == ()
    with pytest.raises(InvalidInput, match="Invalid dataset tag"):
        datasets.set_alias("iris", 1, "latest")
    with pytest.raises(InvalidInput, match="Invalid dataset name"):
        datasets.ingest("bad name!", TableSource(iris))


def test_loading_inside_a_run_records_the_input(
    settings: Settings, db: Database, iris: pa.Table, default_tracker: Callable[..., Tracker]
) -> None:
    datasets = Datasets(settings, store=db)
    version = datasets.ingest("iris", TableSource(iris)).version
    default_tracker(settings)
    with cycleml.start_run() as run:
        datasets.load("datasets:/iris/1")
    tags = cycleml.get_run(run.run_id).data.tags
    assert tags["cycleml.input.iris"].startswith("datasets:/iris/1 ")
    edges = db.lineage_edges("run", run.run_id)
    assert ("dataset_version", "iris/1", "input_to") in {
        (e.src_kind, e.src_id, e.relation) for e in edges
    }
    graph = db.walk_lineage("run", run.run_id, direction="upstream")
    assert ("source", "memory:iris") in graph.depth
    assert version.uri == "datasets:/iris/1"


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import pyarrow as pa
    from cycleml.data._versions import Datasets
    from cycleml.settings import resolve_settings

    class Slow:
        def open(self, **options):
            schema = pa.schema([("x", pa.int64())])
            def batches():
                for i in range(10_000):
                    if i == 5:
                        print("staging", flush=True)
                    time.sleep(0.01)
                    values = pa.array(range(i * 1000, (i + 1) * 1000))
                    yield pa.record_batch([values], schema=schema)
            return pa.RecordBatchReader.from_batches(schema, batches())
        def describe(self):
            return {"kind": "slow"}
        def identity(self):
            return "slow:numbers"

    Datasets(resolve_settings(home=sys.argv[1])).ingest("numbers", Slow(), part_rows=2000)
    """
)


def test_an_ingest_killed_midway_leaves_no_version(tmp_path: Path) -> None:
    script = tmp_path / "ingest.py"
    script.write_text(KILL_SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "staging"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    from cycleml.settings import resolve_settings

    datasets = Datasets(resolve_settings(home=tmp_path))
    with pytest.raises(NotFound):
        datasets.load("numbers")
    assert list((tmp_path / ".cycleml" / "staging").iterdir())  # leftovers of the kill
    result = datasets.ingest("numbers", TableSource(pa.table({"x": list(range(10))})))
    assert result.version.version == 1
    assert not list((tmp_path / ".cycleml" / "staging").iterdir())  # cleaned up


RULES = [
    {"rule": "range", "column": "petal length (cm)", "max": 6.5},
    {"rule": "not_null", "column": "id"},
]


def test_fail_policy_stores_nothing(datasets: Datasets, iris: pa.Table) -> None:
    from cycleml.errors import ValidationFailed

    before = len(datasets.repository.db.list_audit())
    with pytest.raises(ValidationFailed, match="1 of 2 validation rules failed") as failed:
        datasets.ingest("iris", TableSource(iris), rules=RULES)
    report = failed.value.details
    (broken,) = [r for r in report["results"] if not r["passed"]]
    assert broken["failing_count"] == 4  # petal lengths 6.6, 6.7, 6.7, 6.9
    assert len(datasets.repository.db.list_audit()) == before
    with pytest.raises(NotFound):
        datasets.load("iris")


def test_quarantine_policy_splits_the_rows(datasets: Datasets, iris: pa.Table) -> None:
    result = datasets.ingest("iris", TableSource(iris), rules=RULES, policy="quarantine")
    assert result.version.row_count == 146
    assert result.version.validation is not None
    assert result.version.validation["passed"] is False
    assert result.quarantine is not None
    held = datasets.load(result.quarantine)
    assert held.num_rows == 4
    assert set(held.column("_rules").to_pylist()[0]) == {"range(petal length (cm))"}
    stored = datasets.load(result.version)
    assert pc.max(stored.column("petal length (cm)")).as_py() <= 6.5
    assert stored.column("id").to_pylist() == held_ids_complement(held)


def held_ids_complement(held: pa.Table) -> list[int]:
    bad = set(held.column("id").to_pylist())
    return [i for i in range(150) if i not in bad]


def test_warn_policy_stores_everything_with_the_report(datasets: Datasets, iris: pa.Table) -> None:
    result = datasets.ingest("iris", TableSource(iris), rules=RULES, policy="warn")
    assert result.version.row_count == 150
    assert result.report is not None
    assert result.report["passed"] is False
    assert result.quarantine is None


def test_profile_compare_and_validate_stored_versions(datasets: Datasets, iris: pa.Table) -> None:
    datasets.ingest("iris", TableSource(iris))
    datasets.ingest("iris", TableSource(iris.slice(0, 50)))  # only one species left
    found = datasets.profile("datasets:/iris/1", target="target")
    columns = found.to_dict()["columns"]
    assert {c["name"] for c in columns} == set(iris.column_names)
    comparison = datasets.compare("datasets:/iris/1", "datasets:/iris/2").to_dict()
    assert comparison  # differences are reported side by side
    assert "target" in str(comparison)
    report = datasets.validate(
        "datasets:/iris/2", [{"rule": "allowed", "column": "target", "values": [0]}]
    )
    assert report.passed
    report = datasets.validate(
        "datasets:/iris/1", [{"rule": "allowed", "column": "target", "values": [0]}]
    )
    assert not report.passed
    assert report.results[0].failing_count == 100


def test_csv_with_second_precision_timestamps(datasets: Datasets, tmp_path: Path) -> None:
    csv = tmp_path / "events.csv"
    csv.write_text("id,at\n1,2024-01-01 00:00:00\n2,2024-01-02 12:30:00\n", encoding="utf-8")
    version = datasets.ingest("events", str(csv)).version
    loaded = datasets.load(version)
    assert loaded.num_rows == 2
    assert str(loaded.schema.field("at").type) == next(
        f["type"] for f in version.schema if f["name"] == "at"
    )
    assert not datasets.ingest("events", str(csv)).created  # stable digest


# ---- the spec's validation.<name>, applied by Datasets.ingest ------------------------------
SPEC_WITH_VALIDATION = """\
name: versions
validation:
  iris:
    policy: quarantine
    rules:
      - {rule: range, column: petal length (cm), max: 6.5}
"""


def test_ingest_applies_the_spec_validation_of_the_dataset(
    settings: Settings, db: Database, iris: pa.Table
) -> None:
    from cycleml.errors import ValidationFailed

    (settings.home / "cycleml.yaml").write_text(SPEC_WITH_VALIDATION, encoding="utf-8")
    datasets = Datasets(settings, store=db)  # reads cycleml.yaml of the settings' project
    assert datasets.spec is not None
    held = datasets.ingest("iris", TableSource(iris))  # the spec's rules and policy
    assert held.version.row_count == 146
    assert held.quarantine is not None
    assert held.quarantine.row_count == 4
    warned = datasets.ingest("iris", TableSource(iris), policy="warn")  # the spec's rules
    assert warned.version.row_count == 150
    assert warned.quarantine is None
    assert warned.report is not None
    assert warned.report["passed"] is False
    with pytest.raises(ValidationFailed, match=r"range\(id\)"):  # own rules: policy fail
        datasets.ingest(
            "iris", TableSource(iris), rules=[{"rule": "range", "column": "id", "max": 9}]
        )
    other = datasets.ingest("roses", TableSource(iris))  # validation declares no roses
    assert other.report is None
    assert other.version.row_count == 150


def test_an_explicit_spec_applies_and_no_spec_file_applies_none(
    settings: Settings, db: Database, iris: pa.Table
) -> None:
    from cycleml.spec import parse_spec

    bare = Datasets(settings, store=db)  # explicit settings, no cycleml.yaml
    assert bare.spec is None
    assert bare.ingest("iris", TableSource(iris)).report is None
    given = Datasets(settings, store=db, spec=parse_spec(SPEC_WITH_VALIDATION))
    held = given.ingest("iris", TableSource(iris))
    assert held.version.row_count == 146
    assert held.quarantine is not None


def test_module_level_ingest_and_load_are_the_methods(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, iris: pa.Table
) -> None:
    import inspect

    import cycleml.data as data

    for shortcut, method in ((data.ingest, Datasets.ingest), (data.load, Datasets.load)):
        assert shortcut.__wrapped__ is method  # type: ignore[attr-defined]
        assert shortcut.__doc__ == method.__doc__
        own = list(inspect.signature(method).parameters.values())[1:]
        assert inspect.signature(shortcut) == inspect.signature(method).replace(parameters=own)
    (tmp_path / "cycleml.yaml").write_text(SPEC_WITH_VALIDATION, encoding="utf-8")
    monkeypatch.setenv("CYCLEML_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    held = data.ingest("iris", TableSource(iris))  # Datasets() of the project: its spec
    assert held.quarantine is not None
    assert data.load("datasets:/iris/1").num_rows == 146


# ---- deprecated names (kept one release) ------------------------------------------------
def test_tag_is_a_deprecated_alias_of_set_alias(datasets: Datasets, iris: pa.Table) -> None:
    datasets.ingest("iris", TableSource(iris))
    with pytest.warns(DeprecationWarning, match=r"Datasets\.tag .* use Datasets\.set_alias") as got:
        assert datasets.tag("iris", 1, "prod").tags == ("prod",)
    assert got[0].filename == __file__  # points at the caller
    with pytest.warns(DeprecationWarning, match=r"Datasets\.set_alias"):
        assert datasets.tag(name="iris", version=1, tag="old").tags == ("old", "prod")
    assert datasets.get("datasets:/iris@old").version == 1


def test_versions_is_a_deprecated_alias_of_list_versions(
    datasets: Datasets, iris: pa.Table
) -> None:
    datasets.ingest("iris", TableSource(iris))
    with pytest.warns(DeprecationWarning, match=r"Datasets\.versions .* Datasets\.list_versions"):
        assert [v.version for v in datasets.versions("iris")] == [1]


def test_part_paths_is_a_deprecated_alias_of_list_part_paths(
    datasets: Datasets, iris: pa.Table
) -> None:
    version = datasets.ingest("iris", TableSource(iris)).version
    with pytest.warns(
        DeprecationWarning, match=r"Datasets\.part_paths .* Datasets\.list_part_paths"
    ):
        assert datasets.part_paths(version) == datasets.list_part_paths(version)


def test_ingest_tags_is_a_deprecated_spelling_of_aliases(
    datasets: Datasets, iris: pa.Table
) -> None:
    with pytest.warns(
        DeprecationWarning, match=r"ingest\(tags=\.\.\.\) .* Datasets\.ingest\(aliases="
    ) as got:
        result = datasets.ingest("iris", TableSource(iris), tags=["prod"])
    assert got[0].filename == __file__
    assert result.version.tags == ("prod",)
    with (
        pytest.warns(DeprecationWarning, match=r"ingest\(tags=\.\.\.\)"),
        pytest.raises(InvalidInput, match="aliases= only"),
    ):
        datasets.ingest("iris", TableSource(iris), aliases=["a"], tags=["b"])
