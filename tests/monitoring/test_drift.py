"""Drift reports: detection, raw vs stored reference, input forms, overrides and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats
from scipy.spatial import distance

from cycleml.errors import InvalidInput
from cycleml.monitoring import _drift, _inputs
from cycleml.monitoring._drift import METHODS, DriftReport, drift, prediction_drift
from cycleml.monitoring._multivariate import multivariate_drift
from cycleml.monitoring._reference import ReferenceProfile, reference

CITIES = ["paris", "lyon", "nice", "lille"]


def _frame(
    n: int, seed: int, *, shift: float = 0.0, shares: list[float] | None = None
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, n),
            "y": rng.exponential(2.0, n),
            "city": rng.choice(CITIES, n, p=shares or [0.4, 0.3, 0.2, 0.1]),
            "flag": rng.random(n) < 0.3,
        }
    )


def test_detects_a_tenth_of_a_sigma_at_100k_rows() -> None:
    ref = _frame(100_000, 0)
    shifted = drift(ref, _frame(100_000, 1, shift=0.1))
    assert shifted.column("x").method == "ks"
    assert shifted.column("x").drifted
    assert not shifted.column("y").drifted
    assert not drift(ref, _frame(100_000, 2)).column("x").drifted


def test_detects_a_five_point_change_in_one_category() -> None:
    ref = _frame(20_000, 0)
    cur = _frame(20_000, 1, shares=[0.45, 0.25, 0.2, 0.1])
    report = drift(ref, cur)
    assert report.column("city").method == "chi_square"
    assert report.column("city").drifted
    assert not drift(ref, _frame(20_000, 2)).column("city").drifted
    # a two-valued column goes to the two-proportion z test
    flags = pd.DataFrame({"flag": np.random.default_rng(3).random(20_000) < 0.35})
    binary = drift(ref[["flag"]], flags).column("flag")
    assert (binary.method, binary.drifted) == ("z", True)


def test_auto_switches_to_distances_above_100k_rows() -> None:
    report = drift(_frame(100_001, 0), _frame(5_000, 1))
    assert report.column("x").method == "wasserstein"
    assert report.column("city").method == "jensen_shannon"
    assert report.column("x").p_value is None
    assert report.column("x").threshold == 0.1


def test_statistics_are_scipy_values_on_the_columns() -> None:
    ref, cur = _frame(3_000, 0), _frame(2_000, 1, shift=0.05)
    report = drift(ref, cur, methods={"y": "wasserstein"})
    expected = stats.ks_2samp(ref["x"], cur["x"])
    assert report.column("x").statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert report.column("x").p_value == pytest.approx(expected.pvalue, abs=1e-12)
    w1 = stats.wasserstein_distance(ref["y"], cur["y"]) / np.std(ref["y"])
    assert report.column("y").statistic == pytest.approx(w1, rel=1e-9)
    counts = [[int((frame["city"] == c).sum()) for c in CITIES] for frame in (ref, cur)]
    chi = stats.chi2_contingency(np.asarray(counts), correction=False)
    assert report.column("city").statistic == pytest.approx(chi.statistic, rel=1e-9)
    assert report.column("city").p_value == pytest.approx(chi.pvalue, abs=1e-12)
    js = drift(ref, cur, method="jensen_shannon", columns=["city"]).column("city")
    assert js.statistic == pytest.approx(distance.jensenshannon(*counts), rel=1e-9)


def test_false_alarm_rate_end_to_end_for_categories() -> None:
    rng = np.random.default_rng(21)
    alarms = 0
    for _ in range(400):
        ref = pa.table({"c": rng.choice(CITIES, 300, p=[0.4, 0.3, 0.2, 0.1])})
        cur = pa.table({"c": rng.choice(CITIES, 300, p=[0.4, 0.3, 0.2, 0.1])})
        alarms += drift(ref, cur).column("c").drifted
    assert 0.03 <= alarms / 400 <= 0.07


def test_stored_profile_gives_the_same_verdicts_as_raw_data() -> None:
    ref = _frame(8_000, 0)  # fits the profile's sample: every test is exact
    cur = _frame(6_000, 1, shift=0.08, shares=[0.37, 0.33, 0.2, 0.1])
    stored = ReferenceProfile.from_json(reference(ref).to_json())
    raw, from_profile = drift(ref, cur), drift(stored, cur)
    pd.testing.assert_frame_equal(raw.to_pandas(), from_profile.to_pandas())
    # a stored current (a summarised window) against raw or stored references, too
    for reference_data in (ref, stored):
        pd.testing.assert_frame_equal(
            drift(reference_data, reference(cur)).to_pandas(), raw.to_pandas()
        )
    # a larger reference than the sample: KS runs on the sample, same verdicts
    big = _frame(60_000, 5)
    big_cur = _frame(30_000, 6, shift=0.2)
    verdicts = drift(big, big_cur).to_pandas()["drifted"]
    stored_big = ReferenceProfile.from_json(reference(big).to_json())
    assert drift(stored_big, big_cur).to_pandas()["drifted"].equals(verdicts)
    # a stored current larger than its sample: bins read off its quantiles, close to exact
    exact_psi = drift(big, big_cur, method="psi").column("x").statistic
    stored_psi = drift(big, reference(big_cur), method="psi").column("x").statistic
    assert stored_psi == pytest.approx(exact_psi, rel=0.1)
    # and above 100k rows, W1 from the quantile sketch is close to the exact one
    huge, huge_cur = _frame(150_000, 7), _frame(50_000, 8, shift=0.3)
    exact = drift(huge, huge_cur).column("x").statistic
    sketched = drift(reference(huge), huge_cur).column("x").statistic
    assert sketched == pytest.approx(exact, abs=0.005)


def test_accepts_pandas_polars_arrow_and_parquet(tmp_path: Path) -> None:
    ref, cur = _frame(2_000, 0), _frame(1_500, 1, shift=0.3)
    expected = drift(ref, cur).to_pandas()
    pq.write_table(pa.Table.from_pandas(ref, preserve_index=False), tmp_path / "ref.parquet")
    pq.write_table(pa.Table.from_pandas(cur, preserve_index=False), tmp_path / "cur.parquet")
    inputs = [
        (pl.from_pandas(ref), pl.from_pandas(cur)),
        (pa.Table.from_pandas(ref), pa.Table.from_pandas(cur)),
        (tmp_path / "ref.parquet", str(tmp_path / "cur.parquet")),
    ]
    for reference_data, current_data in inputs:
        pd.testing.assert_frame_equal(drift(reference_data, current_data).to_pandas(), expected)


def test_streamed_current_matches_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = _frame(5_000, 0)
    cur = _frame(40_000, 1, shift=0.1, shares=[0.45, 0.25, 0.2, 0.1])
    pq.write_table(pa.Table.from_pandas(cur, preserve_index=False), tmp_path / "cur.parquet")
    expected = drift(ref, cur, methods={"y": "psi"})
    # tiny limits force the bounded-memory path: batches summarised on the reference's bins
    monkeypatch.setattr(_inputs, "IN_MEMORY_CELLS", 1_000)
    monkeypatch.setattr(_drift, "IN_MEMORY_CELLS", 1_000)
    monkeypatch.setattr(_inputs, "BATCH_ROWS", 6_000)
    streamed = drift(ref, tmp_path / "cur.parquet", methods={"y": "psi"})
    assert streamed.to_pandas()["drifted"].equals(expected.to_pandas()["drifted"])
    for name in ("y", "city", "flag"):  # binned and counted tests are exact when streamed
        assert streamed.column(name).statistic == pytest.approx(expected.column(name).statistic)
    assert streamed.column("x").current_rows == 40_000


def test_every_method_runs_where_it_applies() -> None:
    ref, cur = _frame(1_000, 0), _frame(800, 1, shift=1.0, shares=[0.1, 0.2, 0.3, 0.4])
    for method, (has_p, kinds) in METHODS.items():
        columns = [c for c, k in (("x", "numeric"), ("city", "categorical")) if k in kinds]
        report = drift(ref, cur, method=method, columns=columns)
        for result in report.columns:
            assert result.method == method
            assert (result.p_value is not None) == has_p
            assert result.drifted, (method, result)


def test_overrides_thresholds_and_dataset_share() -> None:
    ref, cur = _frame(2_000, 0), _frame(2_000, 1, shift=0.25)
    report = drift(
        ref,
        cur,
        methods={"x": "psi", "city": "hellinger"},
        thresholds={"x": 0.5, "y": 0.2},
        drift_share=0.5,
    )
    table = report.to_pandas()
    assert list(table.columns) == [
        "column", "kind", "method", "statistic", "p_value", "threshold", "drifted"
    ]  # fmt: skip
    assert list(table["column"]) == ["x", "y", "city", "flag"]
    assert report.column("x").method == "psi"
    assert report.column("x").threshold == 0.5
    assert report.column("y").threshold == 0.2
    assert report.column("city").threshold == 0.1
    assert report.share == report.number_drifted / 4
    assert report.drifted == (report.share >= 0.5)
    strict = drift(ref, cur, threshold=0.2, drift_share=0.25)
    assert all(c.threshold == 0.2 for c in strict.columns)
    assert strict.column("x").drifted
    assert strict.drifted
    payload = report.to_dict()
    json.dumps(payload, allow_nan=False)
    assert payload["number_drifted"] == report.number_drifted
    assert payload["columns"][0]["reference_distribution"]["edges"]
    assert payload["columns"][2]["current_distribution"]["categories"][:2] == ["paris", "lyon"]


def test_corrections_adjust_the_p_values() -> None:
    rng = np.random.default_rng(9)
    ref = pd.DataFrame({f"v{i}": rng.normal(size=400) for i in range(8)})
    cur = pd.DataFrame({f"v{i}": rng.normal(0.12 * i, 1.0, 400) for i in range(8)})
    raw = drift(ref, cur)
    ps = np.array([c.p_value for c in raw.columns])
    bonferroni = drift(ref, cur, correction="bonferroni")
    assert [c.p_value for c in bonferroni.columns] == pytest.approx(np.minimum(ps * 8, 1.0))
    bh = drift(ref, cur, correction="bh")
    expected = stats.false_discovery_control(ps, method="bh")
    assert [c.p_value for c in bh.columns] == pytest.approx(expected)
    assert [c.drifted for c in bh.columns] == list(expected < 0.05)
    assert bh.correction == "bh"
    assert bonferroni.number_drifted <= bh.number_drifted <= raw.number_drifted


def test_prediction_drift() -> None:
    rng = np.random.default_rng(4)
    scores = prediction_drift(pd.Series(rng.random(3_000)), rng.random(3_000) ** 1.5)
    assert (scores.column, scores.kind, scores.method, scores.drifted) == (
        "prediction", "numeric", "ks", True
    )  # fmt: skip
    labels = prediction_drift(
        pd.DataFrame({"label": rng.choice(["churn", "stay"], 3_000, p=[0.2, 0.8])}),
        pd.DataFrame({"label": rng.choice(["churn", "stay"], 3_000, p=[0.2, 0.8])}),
        column="label",
    )
    assert (labels.kind, labels.method, labels.drifted) == ("categorical", "z", False)


def _correlated(n: int, seed: int, rho: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rho * a + np.sqrt(1 - rho**2) * rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": b, "c": rng.normal(size=n), "d": rng.normal(size=n)})


def test_multivariate_detects_a_change_no_single_column_shows() -> None:
    ref = _correlated(20_000, 0, rho=0.9)
    broken = _correlated(5_000, 1, rho=0.0)  # same marginals, correlation gone
    assert drift(ref, broken).number_drifted == 0
    result = multivariate_drift(ref, broken)
    assert result.drifted
    assert result.statistic > result.reference_statistic
    assert not multivariate_drift(ref, _correlated(5_000, 2, rho=0.9)).drifted
    stored = ReferenceProfile.from_json(reference(ref).to_json())
    assert multivariate_drift(stored, broken).drifted
    assert not multivariate_drift(stored, _correlated(5_000, 3, rho=0.9)).drifted
    json.dumps(result.to_dict(), allow_nan=False)


def test_multivariate_from_a_profile_equals_raw_data() -> None:
    ref, cur = _correlated(4_000, 5, rho=0.6), _correlated(3_000, 6, rho=0.5)
    assert multivariate_drift(reference(ref), cur) == multivariate_drift(ref, cur)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"method": "kstest"}, "Unknown drift method 'kstest'"),
        ({"methods": {"x": "t_test"}}, "Unknown drift method 't_test' for column 'x'"),
        ({"columns": ["nope"]}, r"Unknown column\(s\) \['nope'\]"),
        ({"methods": {"nope": "ks"}}, "not tested"),
        ({"threshold": 1.5}, "Threshold 1.5 for column 'x' \\(ks\\) is out of range"),
        ({"threshold": 1.0}, "Threshold 1.0 for column 'x'"),
        ({"thresholds": {"x": "high"}}, "Threshold 'high'"),
        ({"method": "psi", "threshold": -0.1}, "Threshold -0.1"),
        ({"method": "hellinger", "threshold": 2.0}, "Threshold 2.0"),
        ({"thresholds": {"city": 0.0}}, "Threshold 0.0 for column 'city'"),
        ({"methods": {"city": "ks"}}, "Method 'ks' cannot test column 'city'"),
        ({"methods": {"x": "z"}}, "Method 'z' cannot test column 'x'"),
        ({"correction": "holm"}, "Unknown correction 'holm'"),
        ({"drift_share": 0}, "drift_share=0"),
    ],
)
def test_bad_input(options: dict[str, object], fragment: str) -> None:
    ref, cur = _frame(200, 0), _frame(200, 1)
    with pytest.raises(InvalidInput, match=fragment) as error:
        drift(ref, cur, **options)  # type: ignore[arg-type]
    assert error.value.hint


def test_empty_or_disjoint_data_is_invalid_input() -> None:
    ref = _frame(200, 0)
    with pytest.raises(InvalidInput, match="The current data has no rows") as error:
        drift(ref, ref.iloc[:0])
    assert error.value.hint
    with pytest.raises(InvalidInput, match="no column in common"):
        drift(ref, pd.DataFrame({"other": [1.0, 2.0]}))
    with pytest.raises(InvalidInput, match="at least two varying numeric columns"):
        multivariate_drift(ref, ref, columns=["city", "x"])  # categorical columns are skipped


def test_a_column_missing_on_one_side_is_reported_not_raised() -> None:
    ref = _frame(300, 0)
    cur = _frame(300, 1)
    cur["x"] = np.nan
    result = drift(ref, cur).column("x")
    assert np.isnan(result.statistic)
    assert not result.drifted
    assert result.current_rows == 0
    assert isinstance(drift(ref, cur), DriftReport)
