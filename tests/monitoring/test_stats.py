"""Drift statistics: equal to scipy's on the same data, and honest false-alarm rates."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from cycleml.monitoring import _stats

TOL = 1e-9
SEEDS = [0, 1, 2, 3]


def _samples(seed: int, n: int, m: int, *, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0.0, 1.0, n), rng.normal(0.1, 1.3, m)
    if ties:  # rounding makes many exact ties within and across the samples
        a, b = a.round(1), b.round(1)
    return a, b


SIZES = [(40, 40), (300, 170), (2_000, 2_000), (12_000, 15_500)]  # the last one: asymptotic KS


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("n", "m"), SIZES)
@pytest.mark.parametrize("ties", [False, True])
def test_ks_equals_scipy(seed: int, n: int, m: int, ties: bool) -> None:
    a, b = _samples(seed, n, m, ties=ties)
    expected = stats.ks_2samp(a, b)
    d, p = _stats.ks_2samp(a, b)
    assert d == pytest.approx(expected.statistic, abs=TOL)
    assert p == pytest.approx(expected.pvalue, abs=TOL)
    # the caller's sorted arrays give the same answer
    assert _stats.ks_2samp(np.sort(a), np.sort(b), assume_sorted=True) == (d, p)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("n", "m"), [*SIZES, (1, 7), (5, 1), (100_000, 99_999)])
@pytest.mark.parametrize("ties", [False, True])
def test_wasserstein_equals_scipy(seed: int, n: int, m: int, ties: bool) -> None:
    a, b = _samples(seed, n, m, ties=ties)
    expected = stats.wasserstein_distance(a, b)
    assert _stats.wasserstein(a, b) == pytest.approx(expected, rel=TOL, abs=TOL)
    sa, sb = np.sort(a), np.sort(b)
    assert _stats.wasserstein(sa, sb, assume_sorted=True) == pytest.approx(expected, rel=TOL)
    normed = expected / max(np.std(a), _stats.WASSERSTEIN_STD_FLOOR)
    assert _stats.normed_wasserstein(a, b) == pytest.approx(normed, rel=TOL, abs=TOL)


def test_normed_wasserstein_of_a_constant_reference_uses_the_floor() -> None:
    a, b = np.full(50, 3.0), np.full(40, 3.5)
    assert _stats.normed_wasserstein(a, b) == pytest.approx(0.5 / 0.001)


@pytest.mark.filterwarnings("ignore:p-value (capped|floored)")  # scipy's own, on its side
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ties", [False, True])
def test_anderson_darling_and_cramer_von_mises_equal_scipy(seed: int, ties: bool) -> None:
    a, b = _samples(seed, 400, 250, ties=ties)
    expected = stats.anderson_ksamp([a, b], variant="midrank")
    assert _stats.anderson_darling(a, b) == pytest.approx(
        (expected.statistic, expected.pvalue), abs=TOL
    )
    for x, y in [(a, b), (a[:15], b[:12])]:  # asymptotic, then exact p-values
        cvm = stats.cramervonmises_2samp(x, y)
        assert _stats.cramer_von_mises(x, y) == pytest.approx((cvm.statistic, cvm.pvalue), abs=TOL)


def _count_pairs(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(6))
    q = 0.8 * p + 0.2 * rng.dirichlet(np.ones(6))
    ref, cur = rng.multinomial(5_000, p), rng.multinomial(3_000, q)
    with_empty = ref.copy(), cur.copy()
    with_empty[0][2] = 0  # a bin empty on one side
    both_empty = np.append(ref, 0), np.append(cur, 0)  # and on both
    return [(ref, cur), with_empty, both_empty, (np.array([7, 0, 3]), np.array([0, 4, 9]))]


@pytest.mark.parametrize("seed", SEEDS)
def test_chi_square_is_the_contingency_test(seed: int) -> None:
    for ref, cur in _count_pairs(seed):
        keep = (ref + cur) > 0  # scipy refuses all-zero columns; the function drops them
        expected = stats.chi2_contingency(np.vstack([ref, cur])[:, keep], correction=False)
        assert _stats.chi_square(ref, cur) == pytest.approx(
            (expected.statistic, expected.pvalue), rel=TOL, abs=TOL
        )


@pytest.mark.parametrize("seed", SEEDS)
def test_two_proportion_z_squares_to_the_2x2_chi_square(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = np.array([rng.integers(100, 900), 0])
    ref[1] = 1_000 - ref[0]
    cur = np.array([rng.integers(100, 700), 0])
    cur[1] = 800 - cur[0]
    z, p = _stats.two_proportion_z(ref, cur)
    expected = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert z * z == pytest.approx(expected.statistic, rel=TOL)
    assert p == pytest.approx(expected.pvalue, abs=TOL)
    assert p == pytest.approx(2 * stats.norm.sf(abs(z)), abs=TOL)
    assert _stats.two_proportion_z([10, 0], [5, 0]) == (0.0, 1.0)  # one value on both sides


@pytest.mark.parametrize("seed", SEEDS)
def test_binned_distances_equal_scipy(seed: int) -> None:
    eps = _stats.EPSILON
    for ref, cur in _count_pairs(seed):
        p, q = ref / ref.sum(), cur / cur.sum()
        pe, qe = np.where(p == 0, eps, p), np.where(q == 0, eps, q)
        pe, qe = pe / pe.sum(), qe / qe.sum()
        assert _stats.psi(ref, cur) == pytest.approx(
            stats.entropy(pe, qe) + stats.entropy(qe, pe), rel=TOL, abs=TOL
        )
        assert _stats.kl_divergence(ref, cur) == pytest.approx(stats.entropy(pe, qe), rel=TOL)
        assert _stats.jensen_shannon(ref, cur) == pytest.approx(
            distance.jensenshannon(p, q), rel=TOL, abs=TOL
        )
        hellinger = distance.euclidean(np.sqrt(p), np.sqrt(q)) / np.sqrt(2)
        assert _stats.hellinger(ref, cur) == pytest.approx(hellinger, rel=TOL, abs=TOL)
    same = np.array([3, 5, 2])
    for fn in (_stats.psi, _stats.kl_divergence, _stats.jensen_shannon, _stats.hellinger):
        assert fn(same, same * 7) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("seed", SEEDS)
def test_histogram_counts_clip_into_the_outer_bins(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=5_000).round(1)
    edges = np.linspace(-1.5, 1.5, 11)  # many values fall outside, some exactly on edges
    expected = np.histogram(np.clip(values, edges[0], edges[-1]), edges)[0]
    assert _stats.histogram_counts(values, edges).tolist() == expected.tolist()
    sorted_counts = _stats.histogram_counts(np.sort(values), edges, assume_sorted=True)
    assert sorted_counts.tolist() == expected.tolist()


def test_sturges_matches_numpy() -> None:
    for n in (2, 10, 1_000, 123_457):
        values = np.random.default_rng(n).normal(size=n)
        assert _stats.sturges_bins(n) == len(np.histogram_bin_edges(values, "sturges")) - 1


def test_multiple_testing_corrections() -> None:
    p = np.random.default_rng(7).uniform(0, 0.2, 30)
    assert _stats.bonferroni(p) == pytest.approx(np.minimum(p * 30, 1.0))
    expected = stats.false_discovery_control(p, method="bh")
    assert _stats.benjamini_hochberg(p) == pytest.approx(expected, rel=TOL)


def test_w1_from_quantile_functions_approximates_the_exact_distance() -> None:
    rng = np.random.default_rng(3)
    a, b = np.sort(rng.normal(size=40_000)), np.sort(rng.normal(0.3, 1.2, 25_000))
    grid = (np.arange(20_000) + 0.5) / 20_000
    levels = np.linspace(0, 1, 1001)
    sketch = np.quantile(a, levels)  # a stored profile keeps quantiles like these
    approx = _stats.wasserstein_from_quantiles(
        np.interp(grid, levels, sketch), _stats.empirical_quantiles(b, grid)
    )
    assert approx == pytest.approx(stats.wasserstein_distance(a, b), rel=0.01)


# ---- false alarms on identically distributed data ------------------------------------------

TRIALS = 400
ALPHA = 0.05


def _rate(p_values: list[float]) -> float:
    return float(np.mean(np.asarray(p_values) < ALPHA))


def test_false_alarm_rate_of_ks() -> None:
    rng = np.random.default_rng(11)
    ps = [_stats.ks_2samp(rng.normal(size=500), rng.normal(size=500))[1] for _ in range(TRIALS)]
    assert 0.03 <= _rate(ps) <= 0.07


def test_false_alarm_rate_of_anderson_darling() -> None:
    rng = np.random.default_rng(12)
    ps = [
        _stats.anderson_darling(rng.normal(size=300), rng.normal(size=300))[1]
        for _ in range(TRIALS)
    ]
    assert 0.03 <= _rate(ps) <= 0.07


def test_false_alarm_rate_of_cramer_von_mises() -> None:
    rng = np.random.default_rng(13)
    ps = [
        _stats.cramer_von_mises(rng.normal(size=400), rng.normal(size=400))[1]
        for _ in range(TRIALS)
    ]
    assert 0.03 <= _rate(ps) <= 0.07


def test_false_alarm_rate_of_chi_square_and_why_not_goodness_of_fit() -> None:
    rng = np.random.default_rng(14)
    shares = np.array([0.4, 0.25, 0.2, 0.1, 0.05])
    refs, curs = rng.multinomial(500, shares, TRIALS), rng.multinomial(500, shares, TRIALS)
    ps = [_stats.chi_square(r, c)[1] for r, c in zip(refs, curs, strict=True)]
    assert 0.03 <= _rate(ps) <= 0.07
    # treating the reference as exact (goodness of fit) ignores its own noise: too many alarms
    gof = [
        stats.chisquare(c, r / r.sum() * c.sum()).pvalue for r, c in zip(refs, curs, strict=True)
    ]
    assert _rate(gof) > 0.07


def test_false_alarm_rate_of_two_proportion_z() -> None:
    rng = np.random.default_rng(15)
    hits_ref, hits_cur = rng.binomial(600, 0.3, TRIALS), rng.binomial(600, 0.3, TRIALS)
    ps = [
        _stats.two_proportion_z([h, 600 - h], [k, 600 - k])[1]
        for h, k in zip(hits_ref, hits_cur, strict=True)
    ]
    assert 0.03 <= _rate(ps) <= 0.07


@pytest.mark.parametrize("seed", SEEDS)
def test_summaries_of_sorted_columns_equal_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.normal(5.0, 3.0, 2_001).round(2)
    values[::50] = np.nan
    values[[3, 9]] = [np.inf, -np.inf]
    ordered = _stats.finite_sorted(values)
    finite = values[np.isfinite(values)]
    assert ordered.tolist() == np.sort(finite).tolist()
    mean, m2 = _stats.moments(ordered)
    assert mean == pytest.approx(finite.mean(), rel=TOL)
    assert m2 / finite.size == pytest.approx(finite.var(), rel=TOL)
    levels = np.linspace(0, 1, 257)
    assert _stats.sorted_quantiles(ordered, levels) == pytest.approx(
        np.quantile(finite, levels), rel=TOL
    )
    for bins in (None, 7):
        expected = np.histogram_bin_edges(finite, "sturges" if bins is None else bins)
        edges = _stats.bin_edges(ordered[0], ordered[-1], ordered.size, bins)
        assert edges == pytest.approx(expected, rel=TOL)
    found = _stats.distinct_sorted(np.sort(rng.integers(0, 4, 500).astype(float)), 5)
    assert found is not None
    assert found[1].sum() == 500
    assert _stats.distinct_sorted(ordered, 5) is None
