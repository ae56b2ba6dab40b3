"""Reference profiles: exact figures in memory, bounded streaming, every input form, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cycleml.errors import InvalidInput
from cycleml.monitoring import _inputs
from cycleml.monitoring._inputs import as_table
from cycleml.monitoring._reference import ColumnReference, ReferenceProfile, reference


def _frame(n: int = 3_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(10.0, 2.0, n)
    x[::97] = np.nan
    x[5] = np.inf  # not testable: counted as missing
    return pd.DataFrame(
        {
            "x": x,
            "count": rng.poisson(30, n),
            "city": rng.choice(["paris", "lyon", "nice", "lille"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "flag": rng.random(n) < 0.25,
            "grade": rng.integers(1, 4, n),  # three distinct values: categorical
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), "s"),
        }
    )


def _strip(profile: ReferenceProfile) -> dict[str, ColumnReference]:
    return profile.columns


def test_kinds_types_and_missing_values() -> None:
    frame = _frame()
    profile = reference(frame)
    kinds = {name: (c.kind, c.dtype) for name, c in profile.columns.items()}
    assert kinds["x"] == ("numeric", "double")
    assert kinds["count"] == ("numeric", "int64")
    assert kinds["city"][0] == "categorical"
    assert kinds["flag"] == ("boolean", "bool")
    assert kinds["grade"] == ("categorical", "int64")
    unit = np.datetime_data(frame["when"].dtype)[0]
    assert kinds["when"] == ("datetime", f"timestamp[{unit}]")
    x = profile.columns["x"]
    assert x.rows == len(frame) == profile.rows
    assert x.missing == int(frame["x"].isna().sum()) + 1
    assert x.missing_rate == pytest.approx(x.missing / len(frame))
    assert profile.columns["grade"].categories == {
        str(k): int(v) for k, v in frame["grade"].value_counts().items()
    }
    assert profile.columns["flag"].categories == {
        "True": int(frame["flag"].sum()),
        "False": int((~frame["flag"]).sum()),
    }
    forced = reference(frame, columns=["count", "x"], categorical=["count"])
    assert list(forced.columns) == ["count", "x"]
    assert forced.columns["count"].kind == "categorical"


def test_numeric_figures_are_exact_in_memory() -> None:
    frame = _frame()
    profile = reference(frame, quantiles=101, bins=12)
    x = profile.columns["x"]
    values = frame["x"].to_numpy()
    values = values[np.isfinite(values)]
    assert (x.minimum, x.maximum) == (values.min(), values.max())
    assert x.mean == pytest.approx(values.mean(), rel=1e-12)
    assert x.std == pytest.approx(values.std(), rel=1e-12)
    assert x.quantiles == pytest.approx(np.quantile(values, np.linspace(0, 1, 101)), rel=1e-12)
    assert x.edges == pytest.approx(np.linspace(values.min(), values.max(), 13))
    assert list(x.counts or ()) == np.histogram(values, np.asarray(x.edges))[0].tolist()
    when = profile.columns["when"]
    micros = frame["when"].to_numpy().astype("datetime64[us]").astype(np.int64)
    assert when.minimum == micros.min()
    assert when.maximum == micros.max()
    default_bins = reference(frame).columns["x"]
    assert len(default_bins.edges or ()) - 1 == len(np.histogram_bin_edges(values, "sturges")) - 1


def test_row_sample_is_bounded_seeded_and_row_aligned() -> None:
    frame = _frame(n=5_000)
    frame["twice"] = frame["x"] * 2
    profile = reference(frame, sample_size=300, seed=4)
    x, twice = profile.columns["x"].sample, profile.columns["twice"].sample
    assert x is not None
    assert twice is not None
    assert len(x) == 300
    # the same rows in every column: x and 2x stay paired, missing values in the same places
    np.testing.assert_allclose(np.asarray(twice), 2 * np.asarray(x))
    assert set(np.flatnonzero(np.isnan(x))) == set(np.flatnonzero(np.isnan(twice)))
    assert reference(frame, sample_size=300, seed=4).columns["x"].sample == x
    assert reference(frame, sample_size=300, seed=5).columns["x"].sample != x
    assert profile.columns["city"].sample is None  # categories are tested on counts


def test_max_categories_keeps_the_most_frequent() -> None:
    frame = pd.DataFrame({"c": ["a"] * 50 + ["b"] * 30 + ["c"] * 15 + ["d"] * 5})
    column = reference(frame, max_categories=2).columns["c"]
    assert column.categories == {"a": 50, "b": 30}
    assert column.other == 20


def test_json_round_trip() -> None:
    profile = reference(_frame())
    text = profile.to_json()
    json.loads(text)  # strict JSON: no NaN
    assert "NaN" not in text
    again = ReferenceProfile.from_json(text)
    assert again == profile
    assert ReferenceProfile.from_dict(profile.to_dict()) == profile
    assert ColumnReference.from_dict(profile.columns["x"].to_dict()) == profile.columns["x"]


def test_every_input_form_gives_the_same_profile(tmp_path: Path) -> None:
    frame = _frame().drop(columns=["when"])  # polars stores datetimes in another unit
    expected = _strip(reference(frame))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, tmp_path / "ref.parquet")
    for data in (table, pl.from_pandas(frame), tmp_path / "ref.parquet", str(tmp_path)):
        got = _strip(reference(data))
        assert got.keys() == expected.keys()
        for name, column in got.items():
            assert column.kind == expected[name].kind
            assert column.categories == expected[name].categories
            assert column.counts == expected[name].counts
            assert column.quantiles == expected[name].quantiles
            assert column.sample == expected[name].sample
    assert as_table(frame).num_rows == len(frame)
    assert as_table(tmp_path / "ref.parquet").equals(as_table(table))


def test_streamed_parquet_matches_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = _frame(n=60_000, seed=3)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "big.parquet")
    exact = reference(frame)
    # tiny limits force the bounded-memory path on a small file
    monkeypatch.setattr(_inputs, "IN_MEMORY_CELLS", 1_000)
    monkeypatch.setattr(_inputs, "BATCH_ROWS", 7_000)
    streamed = reference(tmp_path / "big.parquet")
    for name, column in streamed.columns.items():
        want = exact.columns[name]
        assert (column.kind, column.rows, column.missing) == (want.kind, want.rows, want.missing)
        assert column.categories == want.categories
        assert column.edges == want.edges
        assert column.counts == want.counts
        if column.kind in ("numeric", "datetime"):
            assert (column.minimum, column.maximum) == (want.minimum, want.maximum)
            assert column.mean == pytest.approx(want.mean, rel=1e-9)
            assert column.std == pytest.approx(want.std, rel=1e-9)
            assert column.sample is not None
            assert len(column.sample) == streamed.sample_size
            # quantile sketch: each estimate's rank (a range, with ties) is within 1/1000 of
            # its level
            values = np.sort(np.asarray(frame[name].to_numpy(), dtype="float64"))
            values = values[np.isfinite(values)]
            estimates, levels = np.asarray(column.quantiles), np.linspace(0, 1, 1001)
            low = np.searchsorted(values, estimates, side="left") / values.size
            high = np.searchsorted(values, estimates, side="right") / values.size
            assert np.all((levels >= low - 1e-3) & (levels <= high + 1e-3))


def test_dataset_version_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cycleml.data import Datasets

    for name in ("CYCLEML_METADATA_URI", "CYCLEML_ARTIFACT_URI", "CYCLEML_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CYCLEML_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    frame = _frame(n=800).drop(columns=["when"])
    datasets = Datasets()
    try:
        version = datasets.ingest("train", frame).version
    finally:
        datasets.close()
    profile = reference("datasets:/train/1")
    assert profile.rows == 800
    assert profile.columns["city"].categories == reference(frame).columns["city"].categories
    assert reference(version).columns["x"].counts == reference(frame).columns["x"].counts


@pytest.mark.parametrize(
    ("data", "options", "fragment"),
    [
        (pd.DataFrame({"a": [1.0]}), {"columns": ["b"]}, "Unknown column"),
        (pd.DataFrame({"a": [1.0]}), {"categorical": ["zz"]}, "Unknown column"),
        (pd.DataFrame({"a": [1.0]}), {"quantiles": 1}, "quantiles=1"),
        (pd.DataFrame({"a": [1.0]}), {"sample_size": -5}, "sample_size=-5"),
        (pd.DataFrame({"a": [1.0]}), {"bins": 0}, "bins=0"),
        (pd.DataFrame({"a": [[1, 2]]}), {"columns": ["a"]}, "does not test"),
        (42, {}, "Cannot read data of type int"),
        ("/no/such/file.parquet", {}, "No such file"),
    ],
)
def test_bad_input(data: object, options: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment) as error:
        reference(data, **options)  # type: ignore[arg-type]
    assert error.value.hint


def test_malformed_profiles_are_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="must be JSON"):
        ReferenceProfile.from_json("{nope")
    with pytest.raises(InvalidInput, match="Not a reference profile"):
        ReferenceProfile.from_dict({"rows": 3})
    with pytest.raises(InvalidInput, match="Not a column reference"):
        ReferenceProfile.from_dict({"rows": 3, "columns": [{"name": "a"}]})
