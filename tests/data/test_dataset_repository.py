"""The dataset repository, on every backend (SQLite, PostgreSQL and through a team server's
REST API; see tests/conftest.py).

Versions are content-addressed and immutable; aliases move; every write is one transaction with
its audit row and lineage edges, and a refused write leaves every table as it was.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from cycleml.data import DatasetPart, DatasetRepository, SqlDatasetRepository
from cycleml.errors import InvalidInput, NotFound
from cycleml.store import Database

pytestmark = pytest.mark.repository_suite

SCHEMA = [{"name": "x", "type": "double"}, {"name": "y", "type": "int64"}]
PART_A = DatasetPart("a" * 64, 10, 1000)
PART_B = DatasetPart("b" * 64, 5, 600)


def _create(repo: DatasetRepository, name: str, digest: str, **options: Any) -> Any:
    options.setdefault("parts", [PART_A])
    options.setdefault("source", {"kind": "frame"})
    return repo.create_dataset_version(name, digest=digest, schema=SCHEMA, **options)


def test_versions_are_numbered_and_read_back(dataset_repo: DatasetRepository) -> None:
    first, created = _create(dataset_repo, "points", "1" * 64, source_identity="file:/a.csv")
    assert created
    assert (first.name, first.version, first.row_count, first.bytes) == ("points", 1, 10, 1000)
    assert first.parts == (PART_A,)
    assert first.schema == SCHEMA
    second, _ = _create(dataset_repo, "points", "2" * 64, parts=[PART_A, PART_B], parent_version=1)
    assert (second.version, second.row_count, second.parent_version) == (2, 15, 1)
    assert second.parts == (PART_A, PART_B)  # an append lists its parent's parts first
    assert dataset_repo.get_dataset_version("points") == second  # latest
    assert dataset_repo.get_dataset_version("points", 1) == first
    assert [v.version for v in dataset_repo.list_dataset_versions("points")] == [1, 2]
    assert [d.name for d in dataset_repo.list_datasets()] == ["points"]


def test_the_same_content_is_the_same_version(
    dataset_repo: DatasetRepository, table_counts: Any
) -> None:
    first, _ = _create(dataset_repo, "points", "1" * 64)
    before = table_counts()
    again, created = _create(dataset_repo, "points", "1" * 64, parts=[PART_B])
    assert not created
    assert again == first
    assert table_counts() == before  # nothing written, not even an audit row


def test_aliases_move_and_resolve(dataset_repo: DatasetRepository) -> None:
    _create(dataset_repo, "points", "1" * 64)
    _create(dataset_repo, "points", "2" * 64)
    assert dataset_repo.set_dataset_alias("points", 1, "train").tags == ("train",)
    assert dataset_repo.resolve_dataset_uri("datasets:/points@train").version == 1
    dataset_repo.set_dataset_alias("points", 2, "train")
    assert dataset_repo.resolve_dataset_uri("datasets:/points@train").version == 2
    assert dataset_repo.get_dataset_version("points", 1).tags == ()
    assert dataset_repo.resolve_dataset_uri("datasets:/points/1").version == 1
    assert dataset_repo.resolve_dataset_uri("datasets:/points/latest").version == 2
    assert dataset_repo.resolve_dataset_uri("datasets:/points").version == 2


@pytest.mark.parametrize(
    "uri",
    ["datasets:/nope", "datasets:/points/9", "datasets:/points@prod", "datasets:/nope@train"],
)
def test_unknown_references_are_not_found(dataset_repo: DatasetRepository, uri: str) -> None:
    _create(dataset_repo, "points", "1" * 64)
    with pytest.raises(NotFound):
        dataset_repo.resolve_dataset_uri(uri)


def test_bad_names_and_tags_write_nothing(
    dataset_repo: DatasetRepository, table_counts: Any
) -> None:
    _create(dataset_repo, "points", "1" * 64)
    before = table_counts()
    with pytest.raises(InvalidInput, match="dataset name"):
        _create(dataset_repo, "../escape", "2" * 64)
    for tag in ("latest", "has space", ""):
        with pytest.raises(InvalidInput, match="dataset tag"):
            dataset_repo.set_dataset_alias("points", 1, tag)
    with pytest.raises(NotFound):
        dataset_repo.set_dataset_alias("points", 7, "train")
    assert table_counts() == before


def test_writes_are_audited_with_their_lineage(
    db: Database, dataset_repo: DatasetRepository
) -> None:
    _create(dataset_repo, "points", "1" * 64, source_identity="file:/data/a.csv")
    _create(dataset_repo, "points", "2" * 64, parent_version=1)
    dataset_repo.set_dataset_alias("points", 2, "train")
    assert [(r.action, r.entity_id) for r in db.list_audit()] == [
        ("dataset.create", "points"),
        ("dataset_version.create", "points/1"),
        ("dataset_version.create", "points/2"),
        ("dataset.set_tag", "points"),
    ]
    graph = db.walk_lineage("dataset_version", "points/2", direction="upstream")
    assert {(e.src_kind, e.src_id, e.relation) for e in graph.edges} == {
        ("dataset_version", "points/1", "parent_of"),
        ("source", "file:/data/a.csv", "ingested_into"),
    }


WATERMARKS = [
    99,
    2**62 + 1,
    2.5,
    "2026-11-03",
    True,
    dt.datetime(2026, 11, 3, 12, 30, 1, 123456, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 3, 12, 30, 1, tzinfo=ZoneInfo("America/New_York")),
    dt.datetime(2026, 11, 3, 12, 30, 1, 5),
    pd.Timestamp("2026-11-03 12:30:01.000000007", tz="Europe/Paris"),
    pd.Timestamp("2026-11-03 12:30:01.000000007"),
    dt.date(2026, 11, 3),
    dt.time(12, 30, 1, 250),
    Decimal("12345678901234567890.123"),
    b"\x00\xffwatermark",
]


@pytest.mark.parametrize("value", WATERMARKS, ids=lambda v: type(v).__name__)
def test_watermarks_read_back_as_the_value_and_type_they_were(
    dataset_repo: DatasetRepository, value: Any
) -> None:
    created, _ = _create(
        dataset_repo, "points", "1" * 64, watermark_column="ts", watermark_value=value
    )
    for found in (created, dataset_repo.get_dataset_version("points", 1)):
        assert found.watermark_column == "ts"
        assert found.watermark_value == value
        assert type(found.watermark_value) is type(value)
        if isinstance(value, dt.datetime):
            assert found.watermark_value.isoformat() == value.isoformat()  # precision, offset
            assert str(found.watermark_value.tzinfo) == str(value.tzinfo)  # the zone's name


def test_non_finite_float_watermarks_stay_floats(dataset_repo: DatasetRepository) -> None:
    for digest, value in (("1", math.nan), ("2", math.inf)):
        _create(dataset_repo, "points", digest * 64, watermark_column="x", watermark_value=value)
    nan, inf = (v.watermark_value for v in dataset_repo.list_dataset_versions("points"))
    assert isinstance(nan, float)
    assert math.isnan(nan)
    assert inf == math.inf


def test_a_watermark_of_no_known_type_writes_nothing(
    dataset_repo: DatasetRepository, table_counts: Any
) -> None:
    before = table_counts()
    with pytest.raises(InvalidInput, match="Invalid watermark value"):
        _create(dataset_repo, "points", "1" * 64, watermark_value=[1, 2])
    assert table_counts() == before


def test_files_validation_and_extra_edges_are_kept(
    db: Database, dataset_repo: DatasetRepository
) -> None:
    files = [{"path": "raw/a.csv", "fingerprint": "f" * 16, "rows": 10}]
    validation = {"passed": False, "rules": [{"rule": "mean", "observed": math.nan}]}
    edge = ("run", "r" * 32, "produced", "dataset_version", "points/1")
    version, _ = _create(
        dataset_repo,
        "points",
        "1" * 64,
        source={"kind": "file", "spread": math.inf},
        files=files,
        validation=validation,
        edges=[edge],
    )
    assert version.files == files
    assert version.validation == {"passed": False, "rules": [{"rule": "mean", "observed": "NaN"}]}
    assert version.source == {"kind": "file", "spread": "Infinity"}
    assert dataset_repo.get_dataset_version("points") == version
    graph = db.walk_lineage("dataset_version", "points/1", direction="upstream")
    assert {(e.src_kind, e.src_id, e.relation) for e in graph.edges} == {edge[:3]}


def test_set_dataset_tag_is_a_deprecated_alias_with_the_old_argument_order(db: Database) -> None:
    # The SQL repository's old name; the REST repository never had it.
    repo = SqlDatasetRepository(db)
    _create(repo, "points", "1" * 64)
    with pytest.warns(DeprecationWarning, match=r"set_dataset_alias\(name, version, alias\)"):
        tagged = repo.set_dataset_tag("points", "train", 1)
    assert tagged.tags == ("train",)
    assert repo.resolve_dataset_uri("datasets:/points@train").version == 1
