"""Data profiles on real data: statistics checked against numpy/scipy, alerts, compare()."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats
from scipy.stats.contingency import association, crosstab
from sklearn.datasets import load_breast_cancer, load_diabetes

from cycleml.data._compare import Profile, ProfileComparison, compare
from cycleml.data._profile import profile
from cycleml.errors import InvalidInput, NotFound

N_ALERT_ROWS = 400
SENTINEL = "code_q7x_0123"


def _table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    return frame


@pytest.fixture(scope="module")
def cancer_profile(cancer: pd.DataFrame) -> Profile:
    return profile(_table(cancer), target="target")


@pytest.fixture(scope="module")
def diabetes() -> pd.DataFrame:
    frame: pd.DataFrame = load_diabetes(as_frame=True, scaled=False).frame
    return frame


def alerts_frame() -> pd.DataFrame:
    """One column per alert rule, plus well-behaved columns that must stay quiet."""
    rng = np.random.default_rng(7)
    n = N_ALERT_ROWS
    target = rng.integers(0, 2, n)
    half = rng.normal(size=n)
    half[rng.permutation(n)[: n // 2]] = np.nan
    start = datetime(2021, 3, 1)
    return pd.DataFrame(
        {
            "id": np.arange(n, dtype=np.int64),
            "constant": np.full(n, 7.0),
            "half_missing": half,
            "skewed": rng.lognormal(0.0, 1.5, n),
            "code": [f"code_q7x_{i:04d}" for i in range(n)],
            "color": rng.choice(["red", "green", "blue"], n),
            "normal": rng.normal(10.0, 2.0, n),
            "when": [start + timedelta(hours=int(h)) for h in rng.integers(0, 24 * 90, n)],
            "note": [f"free text number {i} with several words" for i in range(n)],
            "leak": target.copy(),
            "target": target,
        }
    )


@pytest.fixture(scope="module")
def alerts_profile() -> Profile:
    return profile(_table(alerts_frame()), target="target")


# -- statistics against numpy / scipy ------------------------------------------------------------
def test_numeric_statistics_match_numpy_and_scipy(
    cancer: pd.DataFrame, cancer_profile: Profile
) -> None:
    assert cancer_profile.n_rows == len(cancer)
    assert cancer_profile.n_columns == cancer.shape[1]
    for name in cancer.columns:
        x = cancer[name].to_numpy(dtype=float)
        col = cancer_profile.column(name)
        assert col.kind == "numeric"
        assert (col.count, col.missing, col.missing_fraction) == (len(x), 0, 0.0)
        assert col.distinct == len(np.unique(x))
        assert not col.distinct_approximate
        assert col.min == pytest.approx(x.min())
        assert col.max == pytest.approx(x.max())
        assert col.mean == pytest.approx(x.mean(), rel=1e-9)
        assert col.std == pytest.approx(x.std(ddof=1), rel=1e-9)
        assert col.skewness == pytest.approx(stats.skew(x, bias=False), rel=1e-6, abs=1e-9)
        assert col.kurtosis == pytest.approx(stats.kurtosis(x, bias=False), rel=1e-6, abs=1e-9)
        expected = np.quantile(x, [0.05, 0.25, 0.5, 0.75, 0.95])
        assert list(col.quantiles.values()) == pytest.approx(expected, rel=1e-9)
        assert col.zeros == int((x == 0).sum())


def test_histograms_match_numpy(cancer: pd.DataFrame, cancer_profile: Profile) -> None:
    for name in ["mean radius", "mean area", "worst concavity"]:
        x = cancer[name].to_numpy(dtype=float)
        hist = cancer_profile.column(name).histogram
        assert hist is not None
        counts, edges = np.histogram(x, bins=30, range=(x.min(), x.max()))
        assert hist["edges"] == pytest.approx(edges.tolist())
        assert sum(hist["counts"]) == len(x)
        # equal-width bins: a value on an inner edge may land on either side in float math
        assert np.abs(np.array(hist["counts"]) - counts).sum() <= 2
    # integer columns with a small range get one bin per value
    target_hist = cancer_profile.column("target").histogram
    assert target_hist == {"edges": [-0.5, 0.5, 1.5], "counts": [212, 357]}


def test_pearson_and_spearman_match_scipy(cancer: pd.DataFrame, cancer_profile: Profile) -> None:
    pearson = cancer_profile.correlations["pearson"]
    spearman = cancer_profile.correlations["spearman"]
    names = pearson["columns"]
    assert names == list(cancer.columns)  # 31 < correlation_columns, target included
    x = cancer[names].to_numpy(dtype=float)
    np.testing.assert_allclose(pearson["matrix"], np.corrcoef(x, rowvar=False), atol=1e-9)
    np.testing.assert_allclose(spearman["matrix"], stats.spearmanr(x).statistic, atol=1e-9)
    assert cancer_profile.settings["correlation_sampled"] is False


def test_pairwise_complete_correlation_with_missing_values() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=500)
    frame = pd.DataFrame({"a": a, "b": a + rng.normal(size=500), "c": rng.normal(size=500)})
    frame.loc[rng.permutation(500)[:80], "a"] = np.nan
    frame.loc[rng.permutation(500)[:50], "b"] = np.nan
    result = profile(_table(frame))
    np.testing.assert_allclose(
        result.correlations["pearson"]["matrix"], frame.corr().to_numpy(), atol=1e-9
    )
    spearman = np.array(result.correlations["spearman"]["matrix"])
    # ranks are taken per column, so with missing values Spearman is close, not identical
    np.testing.assert_allclose(spearman, frame.corr(method="spearman").to_numpy(), atol=0.02)
    assert result.column("a").missing == 80
    assert result.column("a").missing_fraction == pytest.approx(0.16)
    assert result.column("a").mean == pytest.approx(frame["a"].mean())


def test_nan_and_infinity_in_floats() -> None:
    values = [1.0, 2.0, float("nan"), None, float("inf"), 3.0]
    result = profile(pa.table({"x": pa.array(values, pa.float64())}))
    col = result.column("x")
    assert (col.count, col.missing, col.infinite) == (4, 2, 1)
    assert col.mean == pytest.approx(2.0)
    assert col.max == 3.0
    assert sum(col.histogram["counts"]) == 3  # type: ignore[index]


def _categorical_cancer(cancer: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "radius_q": pd.qcut(cancer["mean radius"], 4, labels=["r1", "r2", "r3", "r4"]),
            "texture_q": pd.qcut(cancer["mean texture"], 3, labels=["t1", "t2", "t3"]),
            "smooth_q": pd.qcut(cancer["mean smoothness"], 5, labels=list("abcde")),
            "diagnosis": np.where(cancer["target"] == 1, "benign", "malignant"),
        }
    ).astype(str)


def _cramer(frame: pd.DataFrame, a: str, b: str) -> float:
    table = crosstab(frame[a].to_numpy(), frame[b].to_numpy()).count
    return float(association(table, method="cramer"))


def test_cramers_v_matches_scipy_contingency(cancer: pd.DataFrame) -> None:
    frame = _categorical_cancer(cancer)
    result = profile(_table(frame), target="diagnosis")
    block = result.correlations["cramers_v"]
    names = block["columns"]
    assert names == list(frame.columns)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            expected = 1.0 if i == j else _cramer(frame, a, b)
            assert block["matrix"][i][j] == pytest.approx(expected, rel=1e-9)
    assoc = {r["column"]: r for r in result.target_association}
    assert result.task == "binary"
    for name in ("radius_q", "texture_q", "smooth_q"):
        assert assoc[name]["measure"] == "cramers_v"
        assert assoc[name]["value"] == pytest.approx(_cramer(frame, name, "diagnosis"))
    top = result.column("diagnosis").top_values
    assert top == [{"value": "benign", "count": 357}, {"value": "malignant", "count": 212}]


def test_classification_association_is_the_correlation_ratio(
    cancer: pd.DataFrame, cancer_profile: Profile
) -> None:
    assert cancer_profile.task == "binary"
    assoc = {r["column"]: r for r in cancer_profile.target_association}
    assert "target" not in assoc
    y = cancer["target"].to_numpy()
    for name in ["mean radius", "mean texture", "worst area"]:
        x = cancer[name].to_numpy(dtype=float)
        # for a binary target the correlation ratio equals |point-biserial r|
        expected = abs(stats.pointbiserialr(y, x).statistic)
        assert assoc[name]["measure"] == "correlation_ratio"
        assert assoc[name]["value"] == pytest.approx(expected, rel=1e-9)


def test_regression_association(diabetes: pd.DataFrame) -> None:
    frame = diabetes.assign(sex_label=diabetes["sex"].map({1.0: "f", 2.0: "m"}))
    frame.loc[frame.index[:25], "target"] = np.nan  # unlabeled rows still count elsewhere
    result = profile(_table(frame), target="target")
    assert result.task == "regression"
    assoc = {r["column"]: r for r in result.target_association}
    labeled = frame.dropna(subset=["target"])
    y = labeled["target"].to_numpy(dtype=float)
    for name in ["bmi", "bp", "s5", "age"]:
        expected = stats.pearsonr(labeled[name].to_numpy(dtype=float), y).statistic
        assert assoc[name]["measure"] == "pearson"
        assert assoc[name]["value"] == pytest.approx(expected, rel=1e-9)
    top = {t["value"]: t["count"] for t in result.column("sex_label").top_values}
    assert top == dict(frame["sex_label"].value_counts())
    assert sum(top.values()) == len(frame)
    groups = labeled.groupby("sex_label")["target"]
    between = (groups.count() * (groups.mean() - y.mean()) ** 2).sum()
    eta = math.sqrt(between / ((y - y.mean()) ** 2).sum())
    assert assoc["sex_label"]["measure"] == "correlation_ratio"
    assert assoc["sex_label"]["value"] == pytest.approx(eta, rel=1e-9)
    assert not [a for a in result.alerts if a.kind == "target_leakage"]


# -- kinds, datetime, text ---------------------------------------------------------------------
def test_kinds_datetime_and_text(alerts_profile: Profile) -> None:
    frame = alerts_frame()
    kinds = {c.name: c.kind for c in alerts_profile.columns}
    assert kinds == {
        "id": "numeric",
        "constant": "numeric",
        "half_missing": "numeric",
        "skewed": "numeric",
        "code": "categorical",
        "color": "categorical",
        "normal": "numeric",
        "when": "datetime",
        "note": "text",
        "leak": "numeric",
        "target": "numeric",
    }
    when = alerts_profile.column("when")
    assert when.min == frame["when"].min().isoformat()
    assert when.max == frame["when"].max().isoformat()
    assert when.distinct == frame["when"].nunique()
    assert when.histogram is not None
    assert sum(when.histogram["counts"]) == N_ALERT_ROWS
    assert when.histogram["edges"][0] == when.min
    assert when.histogram["edges"][-1] == when.max
    for key, q in (("25%", 0.25), ("50%", 0.5), ("75%", 0.75)):
        expected = frame["when"].quantile(q).to_pydatetime()
        assert datetime.fromisoformat(when.quantiles[key]) == expected
    note = alerts_profile.column("note")
    lengths = frame["note"].str.len()
    assert note.length == {"min": lengths.min(), "max": lengths.max(), "mean": lengths.mean()}
    color = alerts_profile.column("color")
    assert {t["value"]: t["count"] for t in color.top_values} == dict(frame["color"].value_counts())


# -- alerts ------------------------------------------------------------------------------------
def test_alerts_fire_exactly_where_expected(alerts_profile: Profile) -> None:
    fired = {(a.kind, a.columns) for a in alerts_profile.alerts}
    assert fired == {
        ("id_like", ("id",)),
        ("constant", ("constant",)),
        ("high_missing", ("half_missing",)),
        ("skewed", ("skewed",)),
        ("high_cardinality", ("code",)),
        ("id_like", ("code",)),
        ("target_leakage", ("leak",)),
    }
    by_kind = {(a.kind, a.columns[0]): a for a in alerts_profile.alerts}
    assert by_kind[("high_missing", "half_missing")].value == pytest.approx(0.5)
    assert by_kind[("target_leakage", "leak")].value == 1.0
    assert alerts_profile.duplicate_rows == 0


def test_id_like_columns_are_left_out_of_the_correlations(alerts_profile: Profile) -> None:
    # "id" counts the rows in order: its correlations would measure how the rows are sorted.
    assert ("id_like", ("id",)) in {(a.kind, a.columns) for a in alerts_profile.alerts}
    for key in ("pearson", "spearman"):
        names = alerts_profile.correlations[key]["columns"]
        assert "id" not in names
        assert {"normal", "skewed", "target"} <= set(names)
    assert alerts_profile.settings["correlation_excluded"] == ["id", "code"]
    # Small tables: a unique string id is within the cardinality cap, and still left out.
    rng = np.random.default_rng(2)
    keys = [f"k{i}" for i in range(30)]
    frame = pd.DataFrame(
        {"key": keys, "a": rng.choice(["x", "y"], 30), "b": rng.choice(["u", "v"], 30)}
    )
    small = profile(_table(frame))
    assert small.correlations["cramers_v"]["columns"] == ["a", "b"]


def test_a_classification_target_is_the_target_not_a_skewed_feature() -> None:
    rng = np.random.default_rng(3)
    n = 2_000
    fraud = (rng.random(n) < 0.04).astype(np.int64)  # 4% positives: skewness ~4.7
    frame = pd.DataFrame({"amount": rng.normal(50, 5, n), "fraud": fraud})
    result = profile(_table(frame), target="fraud", task="binary")
    assert result.column("fraud").skewness is not None
    assert abs(result.column("fraud").skewness) > 2
    assert not [a for a in result.alerts if a.kind == "skewed"]
    # A regression target's skew is worth knowing (a log scale may suit it).
    spend = rng.lognormal(0.0, 1.5, n)
    regression = profile(
        _table(frame[["amount"]].assign(spend=spend)), target="spend", task="regression"
    )
    assert [a.columns for a in regression.alerts if a.kind == "skewed"] == [("spend",)]


def test_leakage_through_a_strong_association() -> None:
    rng = np.random.default_rng(11)
    y = rng.normal(size=300)
    frame = pd.DataFrame({"x": rng.normal(size=300), "almost": y * 2 + 0.01, "y": y})
    result = profile(_table(frame), target="y")
    leaks = [a for a in result.alerts if a.kind == "target_leakage"]
    assert [a.columns for a in leaks] == [("almost",)]
    assert leaks[0].value == pytest.approx(1.0)


def test_duplicate_rows_are_counted(cancer: pd.DataFrame) -> None:
    base = cancer.iloc[:90]
    frame = pd.concat([base, base.iloc[:7], base.iloc[:3]], ignore_index=True)
    result = profile(_table(frame))
    expected = int(frame.duplicated().sum())
    assert expected == 10
    assert result.duplicate_rows == expected
    assert result.duplicate_fraction == pytest.approx(10 / 100)
    alert = next(a for a in result.alerts if a.kind == "duplicates")
    assert alert.value == 10
    assert alert.columns == ()


def test_high_cardinality_top_values_hold_no_singletons(alerts_profile: Profile) -> None:
    code = alerts_profile.column("code")
    assert code.distinct == N_ALERT_ROWS
    assert not code.distinct_approximate
    assert code.top_values == []  # every value occurs once: listing them would leak rows
    assert code.min is None
    assert code.max is None
    assert SENTINEL not in json.dumps(alerts_profile.to_dict())


# -- inputs ------------------------------------------------------------------------------------
def test_parquet_paths_globs_relations_and_frames(tmp_path: Path, cancer: pd.DataFrame) -> None:
    table = _table(cancer)
    pq.write_table(table.slice(0, 300), tmp_path / "part-0.parquet")
    pq.write_table(table.slice(300), tmp_path / "part-1.parquet")
    reference = profile(table).to_dict()
    con = duckdb.connect()
    con.register("cancer", table)
    inputs: list[Any] = [
        str(tmp_path / "*.parquet"),
        tmp_path,
        [tmp_path / "part-0.parquet", tmp_path / "part-1.parquet"],
        con.sql("SELECT * FROM cancer"),
        pl.from_arrow(table),
        cancer,
    ]
    for data in inputs:
        got = profile(data).to_dict()
        for mine, theirs in zip(got["columns"], reference["columns"], strict=True):
            assert mine["count"] == theirs["count"]
            assert mine["distinct"] == theirs["distinct"]
            assert mine["mean"] == pytest.approx(theirs["mean"], rel=1e-12)
            assert mine["quantiles"] == pytest.approx(theirs["quantiles"], rel=1e-12)
        np.testing.assert_allclose(
            got["correlations"]["pearson"]["matrix"],
            reference["correlations"]["pearson"]["matrix"],
            rtol=1e-9,
        )


def test_bad_input_is_refused(tmp_path: Path) -> None:
    table = pa.table({"x": [1, 2, 3], "s": ["a", "b", "c"]})
    with pytest.raises(InvalidInput, match="no Parquet file"):
        profile(tmp_path / "missing.parquet")
    with pytest.raises(InvalidInput, match="not a column"):
        profile(table, target="nope")
    with pytest.raises(InvalidInput, match="unknown task"):
        profile(table, target="x", task="ranking")
    with pytest.raises(InvalidInput, match="numeric target"):
        profile(table, target="s", task="regression")
    with pytest.raises(InvalidInput, match="bins"):
        profile(table, bins=0)
    with pytest.raises(InvalidInput, match="cannot profile a dict"):
        profile({"x": [1]})
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InvalidInput):
        profile(tmp_path / "broken.parquet")


def test_empty_table() -> None:
    table = pa.table({"x": pa.array([], pa.float64()), "s": pa.array([], pa.string())})
    result = profile(table)
    assert result.n_rows == 0
    assert result.duplicate_rows == 0
    assert result.column("x").count == 0
    assert result.column("x").histogram is None
    assert {a.kind for a in result.alerts} == {"constant"}


def test_large_input_uses_a_sample_and_sketches() -> None:
    con = duckdb.connect()
    rel = con.sql(
        "SELECT x, x + 0.5 * noise AS y, (range % 1000)::BIGINT AS bucket, range AS id "
        "FROM (SELECT range, random() AS x, random() - 0.5 AS noise FROM range(250000))"
    )
    result = profile(rel)
    assert result.settings["correlation_sampled"] is True
    assert 190_000 < result.settings["correlation_sample_rows"] < 210_000
    pearson = np.array(result.correlations["pearson"]["matrix"])
    # x ~ U(0,1), noise ~ U(-.5,.5) scaled by .5: r = 1 / sqrt(1 + 0.25) = 0.894
    assert pearson[0, 1] == pytest.approx(1 / math.sqrt(1.25), abs=0.01)
    bucket = result.column("bucket")
    assert bucket.distinct_approximate
    assert abs(bucket.distinct - 1000) < 50
    ident = result.column("id")
    assert ident.distinct == 250_000
    assert not ident.distinct_approximate
    assert ("id_like", ("id",)) in {(a.kind, a.columns) for a in result.alerts}


# -- serialization and comparison --------------------------------------------------------------
def test_to_dict_round_trip(alerts_profile: Profile, cancer_profile: Profile) -> None:
    for original in (alerts_profile, cancer_profile):
        text = json.dumps(original.to_dict(), allow_nan=False)
        data = json.loads(text)
        assert data["schema_version"] == 1
        assert Profile.from_dict(data) == original
    with pytest.raises(InvalidInput):
        Profile.from_dict({"n_rows": 1})
    with pytest.raises(NotFound):
        cancer_profile.column("nope")


def test_compare_finds_schema_changes_and_shifts(cancer: pd.DataFrame) -> None:
    before = cancer[["mean radius", "mean texture", "mean area", "target"]].copy()
    after = before.drop(columns=["mean area"])
    after["mean radius"] = after["mean radius"] + before["mean radius"].std()
    after["target"] = after["target"].map({0: "malignant", 1: "benign"})
    after["extra"] = 1.5
    after.loc[after.index[:150], "mean texture"] = np.nan
    a, b = profile(_table(before)), profile(_table(after))
    result = compare(a, b)
    assert result.added_columns == ["extra"]
    assert result.removed_columns == ["mean area"]
    assert [t["column"] for t in result.type_changes] == ["target"]
    assert result.type_changes[0]["kind"] == {"a": "numeric", "b": "categorical"}
    reasons = {c["name"]: c["reasons"] for c in result.columns}
    assert reasons == {"mean radius": ["mean"], "mean texture": ["missing"], "target": ["type"]}
    assert result.changed_columns == ["mean radius", "mean texture", "target"]
    radius = next(c for c in result.columns if c["name"] == "mean radius")
    assert radius["mean_shift"] == pytest.approx(1.0)
    mean = radius["stats"]["mean"]
    assert mean["delta"] == pytest.approx(before["mean radius"].std())
    assert mean["a"] == pytest.approx(before["mean radius"].mean())
    assert radius["stats"]["50%"]["b"] == pytest.approx(after["mean radius"].median())
    texture = next(c for c in result.columns if c["name"] == "mean texture")
    assert texture["stats"]["missing_fraction"]["delta"] == pytest.approx(150 / len(after))
    assert result.overview["n_columns"] == {"a": 4, "b": 4, "delta": 0}
    new_alerts = {(x["kind"], tuple(x["columns"])) for x in result.alerts["only_b"]}
    assert {("constant", ("extra",)), ("high_missing", ("mean texture",))} <= new_alerts
    assert result.alerts["only_a"] == []
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert ProfileComparison.from_dict(data) == result
    assert compare(a, a).changed_columns == []


def test_awkward_column_names() -> None:
    names = ['a"b', "select", "v", "n", "x", "c0", "tv", "from where"]
    rng = np.random.default_rng(1)
    table = pa.table(
        {
            'a"b': rng.normal(size=200),
            "select": [f"s{i}" for i in range(200)],
            "v": rng.choice(["p", "q"], 200),
            "n": rng.integers(0, 5, 200),
            "x": [f"w{i % 120}" for i in range(200)],
            "c0": rng.normal(size=200),
            "tv": rng.normal(size=200),
            "from where": rng.integers(0, 2, 200),
        }
    )
    result = profile(table, target="from where")
    assert [c.name for c in result.columns] == names
    assert result.column("x").distinct == 120
    assert result.column("x").top_values[0]["count"] == 2
    assert result.column("v").distinct == 2
    assert {r["column"] for r in result.target_association} == set(names) - {
        "from where",
        "select",
        "x",
    }


def test_minimal_profile_skips_correlations_and_duplicates(
    cancer: pd.DataFrame, cancer_profile: Profile
) -> None:
    doubled = _table(pd.concat([cancer, cancer.head(5)]))
    full = profile(doubled, target="target")
    minimal = profile(doubled, target="target", minimal=True)
    assert full.duplicate_rows == 5
    assert "duplicates" in {a.kind for a in full.alerts}
    assert minimal.duplicate_rows is None
    assert minimal.duplicate_fraction is None
    assert "duplicates" not in {a.kind for a in minimal.alerts}
    assert minimal.correlations == {}
    assert full.correlations
    assert minimal.columns == full.columns
    assert minimal.target_association == full.target_association
    assert Profile.from_dict(json.loads(json.dumps(minimal.to_dict()))) == minimal
    with pytest.raises(InvalidInput, match="minimal must be True or False"):
        profile(doubled, minimal="yes")  # type: ignore[arg-type]


def test_cramers_v_is_pairwise_complete_over_nulls() -> None:
    a = ["x", "y", None, "x", "y", "x", None, "y"] * 50
    b = ["p", "q", "p", None, "q", "p", "q", "q"] * 50
    result = profile(pa.table({"a": a, "b": b}))
    frame = pd.DataFrame({"a": a, "b": b}).dropna()
    expected = association(crosstab(frame["a"], frame["b"]).count, method="cramer",
                           correction=False)  # fmt: skip
    assert result.correlations["cramers_v"]["matrix"][0][1] == pytest.approx(expected, rel=1e-12)
