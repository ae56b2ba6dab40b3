"""Two-sample drift statistics: vectorised, and equal to scipy's on the same data.

Every function takes plain numpy arrays (raw values, or counts on common bins/categories)
and documents its formula and the scipy call it equals; ``tests/monitoring/test_stats.py``
checks each against that call to 1e-9. Where scipy is fast enough it is called directly;
where it is slow on millions of rows (``wasserstein_distance`` concatenates and argsorts
both samples, ``ks_2samp`` sorts both again) the function works from already-sorted
arrays, so a caller that sorts each column once (``np.sort`` releases the GIL, so columns
can be sorted on a small thread pool) pays for nothing else.

Binned distances (PSI, KL, Jensen-Shannon, Hellinger) take *counts* on common bins; the
frequencies are ``counts / counts.sum()``. PSI and KL are infinite on an empty bin, so
there (and only there) empty bins get :data:`EPSILON` before renormalising.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import numpy.typing as npt
from scipy import stats  # type: ignore[import-untyped]  # scipy ships no stubs
from scipy.spatial import distance  # type: ignore[import-untyped]

__all__ = [
    "EPSILON",
    "KS_EXACT_MAX_N",
    "WASSERSTEIN_STD_FLOOR",
    "anderson_darling",
    "benjamini_hochberg",
    "bin_edges",
    "bonferroni",
    "chi_square",
    "cramer_von_mises",
    "distinct_sorted",
    "empirical_quantiles",
    "finite_sorted",
    "frequencies",
    "hellinger",
    "histogram_counts",
    "jensen_shannon",
    "kl_divergence",
    "ks_2samp",
    "moments",
    "normed_wasserstein",
    "psi",
    "sorted_quantiles",
    "sturges_bins",
    "two_proportion_z",
    "wasserstein",
    "wasserstein_from_quantiles",
]

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

#: Frequency given to an empty bin by PSI and KL (the value Evidently and most PSI guides
#: use); the frequencies are renormalised afterwards so they still sum to one.
EPSILON = 1e-4

#: ``scipy.stats.ks_2samp(method="auto")`` computes the exact p-value up to this size.
KS_EXACT_MAX_N = 10_000

#: The normed Wasserstein distance divides by ``max(std(reference), floor)`` (Evidently's
#: guard against a constant reference column).
WASSERSTEIN_STD_FLOOR = 0.001


def _floats(values: ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=np.float64).ravel()


def _sorted(values: ArrayLike, assume_sorted: bool) -> FloatArray:
    array = _floats(values)
    return array if assume_sorted else np.sort(array)


# ---- continuous samples -----------------------------------------------------------------


def ks_2samp(
    reference: ArrayLike, current: ArrayLike, *, assume_sorted: bool = False
) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov test (two-sided): ``(D, p_value)``.

    ``D = max_x |F_ref(x) - F_cur(x)|`` over the pooled values, with the empirical CDFs
    counting values ``<= x``. Equals ``scipy.stats.ks_2samp(reference, current)``
    (``method="auto"``): up to :data:`KS_EXACT_MAX_N` values per side that call is made
    (exact p-value); above it, ``D`` comes from the sorted arrays and the p-value from
    Smirnov's asymptotic distribution ``scipy.stats.kstwo.sf(D, round(n*m/(n+m)))``, which
    is what scipy does there.
    """
    ref, cur = _sorted(reference, assume_sorted), _sorted(current, assume_sorted)
    n, m = ref.size, cur.size
    if min(n, m) == 0:
        raise ValueError("ks_2samp needs at least one value on each side.")
    if max(n, m) <= KS_EXACT_MAX_N:
        result = stats.ks_2samp(ref, cur)
        return float(result.statistic), float(result.pvalue)
    pooled = np.concatenate([ref, cur])
    # side="right" counts ties as <= x, which is what makes scipy's D tie-safe.
    diff = np.searchsorted(ref, pooled, side="right") / n
    diff -= np.searchsorted(cur, pooled, side="right") / m
    d = float(np.max(np.abs(diff)))
    big, small = sorted([float(n), float(m)], reverse=True)
    en = big * small / (big + small)
    p = float(np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0))
    return d, p


def anderson_darling(reference: ArrayLike, current: ArrayLike) -> tuple[float, float]:
    """k-sample Anderson-Darling test for k=2: ``(A2akN, p_value)``.

    Equals ``scipy.stats.anderson_ksamp([reference, current], variant="midrank")``
    (Scholz and Stephens' midrank version, which suits ties). scipy interpolates the
    p-value from its table of critical values, so it is capped to ``[0.001, 0.25]``; the
    warning scipy gives about the cap is silenced (the cap does not move a verdict at any
    usual alpha).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="p-value (capped|floored)")
        result = stats.anderson_ksamp([_floats(reference), _floats(current)], variant="midrank")
    return float(result.statistic), float(result.pvalue)


def cramer_von_mises(reference: ArrayLike, current: ArrayLike) -> tuple[float, float]:
    """Two-sample Cramer-von Mises test: ``(T, p_value)``.

    Equals ``scipy.stats.cramervonmises_2samp(reference, current)`` (``method="auto"``:
    exact p-value when both sides have at most 20 values, asymptotic otherwise).
    """
    result = stats.cramervonmises_2samp(_floats(reference), _floats(current))
    return float(result.statistic), float(result.pvalue)


def wasserstein(reference: ArrayLike, current: ArrayLike, *, assume_sorted: bool = False) -> float:
    """First Wasserstein (earth mover's) distance between two samples.

    ``W1 = integral_0^1 |Q_ref(t) - Q_cur(t)| dt`` with ``Q`` the empirical quantile
    functions (step functions, jumping at ``i/n`` and ``j/m``). Equals
    ``scipy.stats.wasserstein_distance(reference, current)``, which integrates the same area
    as ``integral |F_ref(x) - F_cur(x)| dx`` over the pooled values. Working on the ``t``
    axis needs no merge of the values: the jump points are the integers ``i*m`` and ``j*n``
    (in units of ``1/(n*m)``), two sorted runs that a stable sort merges in linear time.
    With ``n == m`` the integral is simply ``mean(|ref_sorted - cur_sorted|)``.
    """
    ref, cur = _sorted(reference, assume_sorted), _sorted(current, assume_sorted)
    n, m = ref.size, cur.size
    if min(n, m) == 0:
        raise ValueError("wasserstein needs at least one value on each side.")
    if n == m:
        return float(np.mean(np.abs(ref - cur)))
    # Both runs end at n*m; keeping that end once keeps every segment start below n*m.
    breaks = np.concatenate(
        [np.arange(1, n + 1, dtype=np.int64) * m, np.arange(1, m, dtype=np.int64) * n]
    )
    breaks.sort(kind="stable")  # timsort: two pre-sorted runs, one linear merge
    starts = np.empty_like(breaks)
    starts[0] = 0
    starts[1:] = breaks[:-1]
    widths = (breaks - starts).astype(np.float64)
    gaps = np.abs(ref[starts // m] - cur[starts // n])
    # einsum rather than np.dot: no BLAS threads competing with a caller's thread pool
    return float(np.einsum("i,i->", widths, gaps) / (float(n) * float(m)))


def normed_wasserstein(
    reference: ArrayLike,
    current: ArrayLike,
    *,
    assume_sorted: bool = False,
    reference_std: float | None = None,
) -> float:
    """Wasserstein distance in units of the reference's standard deviation (Evidently's).

    ``wasserstein(reference, current) / max(np.std(reference), 0.001)``, i.e.
    ``scipy.stats.wasserstein_distance(reference, current) / max(np.std(reference), 0.001)``
    (population std, ``ddof=0``). ``reference_std`` skips recomputing the std.
    """
    ref = _sorted(reference, assume_sorted)
    std = float(np.std(ref)) if reference_std is None else float(reference_std)
    return wasserstein(ref, current, assume_sorted=assume_sorted) / max(std, WASSERSTEIN_STD_FLOOR)


def empirical_quantiles(sorted_values: FloatArray, levels: FloatArray) -> FloatArray:
    """The empirical quantile function ``Q(t) = x_(floor(t*n))`` (0-based) at ``levels``."""
    n = sorted_values.size
    index = np.minimum((levels * n).astype(np.int64), n - 1)
    return sorted_values[index]


def wasserstein_from_quantiles(reference_q: FloatArray, current_q: FloatArray) -> float:
    """W1 from two quantile functions evaluated at the same midpoint grid.

    ``mean(|Q_ref(t_k) - Q_cur(t_k)|)`` with ``t_k = (k + 1/2) / K``: the midpoint rule for
    ``integral_0^1 |Q_ref - Q_cur| dt``. This is the approximation used when one side is
    only a stored profile (quantile sketch); its error shrinks as ``1/K``.
    """
    return float(np.mean(np.abs(np.asarray(reference_q) - np.asarray(current_q))))


# ---- counts on common bins or categories -----------------------------------------------


def sturges_bins(n: int) -> int:
    """Sturges' rule, ``ceil(log2(n) + 1)`` bins (numpy's ``bins="sturges"``); 1 when n <= 1."""
    return max(1, math.ceil(math.log2(n) + 1)) if n > 1 else 1


def histogram_counts(
    values: ArrayLike, edges: ArrayLike, *, assume_sorted: bool = False
) -> npt.NDArray[np.int64]:
    """Counts on ``edges`` with values outside them clipped into the outer bins.

    Equals ``np.histogram(np.clip(values, edges[0], edges[-1]), edges)[0]``: bins are
    ``[e_i, e_{i+1})`` and the last one is closed. Clipping makes the two outer bins
    open-ended, so current data outside the reference's range still counts. On sorted
    values this is a handful of binary searches.
    """
    array = _floats(values)
    inner = _floats(edges)[1:-1]
    if assume_sorted:
        cuts = np.searchsorted(array, inner, side="left")
        return np.diff(np.concatenate([[0], cuts, [array.size]])).astype(np.int64)
    index = np.searchsorted(inner, array, side="right")
    return np.bincount(index, minlength=inner.size + 1).astype(np.int64)


def frequencies(counts: ArrayLike, epsilon: float | None = None) -> FloatArray:
    """``counts / sum(counts)``; with ``epsilon``, empty bins get it, then renormalise."""
    freq = _floats(counts)
    total = freq.sum()
    if total <= 0:
        raise ValueError("frequencies need at least one count.")
    freq = freq / total
    if epsilon is not None:
        freq = np.where(freq == 0.0, epsilon, freq)
        freq /= freq.sum()
    return freq


def _pair(reference_counts: ArrayLike, current_counts: ArrayLike) -> tuple[FloatArray, FloatArray]:
    ref, cur = _floats(reference_counts), _floats(current_counts)
    if ref.shape != cur.shape:
        raise ValueError(f"counts must align: {ref.size} reference bins, {cur.size} current.")
    return ref, cur


def psi(
    reference_counts: ArrayLike, current_counts: ArrayLike, *, epsilon: float = EPSILON
) -> float:
    """Population stability index ``sum((p - q) * ln(p / q))``.

    ``p, q`` are :func:`frequencies` with ``epsilon`` for empty bins. PSI is the symmetrised
    KL divergence, so it equals ``scipy.stats.entropy(p, q) + scipy.stats.entropy(q, p)``.
    """
    ref, cur = _pair(reference_counts, current_counts)
    p, q = frequencies(ref, epsilon), frequencies(cur, epsilon)
    return float(np.sum((p - q) * np.log(p / q)))


def kl_divergence(
    reference_counts: ArrayLike, current_counts: ArrayLike, *, epsilon: float = EPSILON
) -> float:
    """Kullback-Leibler divergence ``KL(p || q) = sum(p * ln(p / q))`` (natural log).

    ``p, q`` are :func:`frequencies` with ``epsilon`` for empty bins; equals
    ``scipy.stats.entropy(p, q)``.
    """
    ref, cur = _pair(reference_counts, current_counts)
    p, q = frequencies(ref, epsilon), frequencies(cur, epsilon)
    return float(np.sum(p * np.log(p / q)))


def jensen_shannon(reference_counts: ArrayLike, current_counts: ArrayLike) -> float:
    """Jensen-Shannon *distance* ``sqrt((KL(p || m) + KL(q || m)) / 2)``, ``m = (p + q) / 2``.

    Natural log, so it lies in ``[0, sqrt(ln 2)]``; no epsilon is needed (``m > 0`` wherever
    ``p`` or ``q`` is). This *is* ``scipy.spatial.distance.jensenshannon(p, q)`` on the
    frequencies (small vectors: calling scipy costs nothing).
    """
    ref, cur = _pair(reference_counts, current_counts)
    return float(distance.jensenshannon(frequencies(ref), frequencies(cur)))


def hellinger(reference_counts: ArrayLike, current_counts: ArrayLike) -> float:
    """Hellinger distance ``sqrt(1 - sum(sqrt(p * q)))`` on the frequencies, in ``[0, 1]``.

    Equals ``scipy.spatial.distance.euclidean(np.sqrt(p), np.sqrt(q)) / np.sqrt(2)``.
    """
    ref, cur = _pair(reference_counts, current_counts)
    p, q = frequencies(ref), frequencies(cur)
    affinity = float(np.clip(np.sum(np.sqrt(p * q)), 0.0, 1.0))
    return math.sqrt(1.0 - affinity)


def chi_square(reference_counts: ArrayLike, current_counts: ArrayLike) -> tuple[float, float]:
    """Pearson's chi-square test of homogeneity on the 2 x k contingency table: ``(X2, p)``.

    Both samples are treated as random (unlike a goodness-of-fit test against the
    reference's frequencies, whose false-alarm rate is too high). With row totals ``R``,
    column totals ``C`` and ``E = R C^T / N``: ``X2 = sum((O - E)^2 / E)``, ``dof = k - 1``,
    ``p = chi2.sf(X2, dof)``. Categories empty on both sides are dropped first (scipy
    refuses zero expected counts); this then equals
    ``scipy.stats.chi2_contingency(np.vstack([ref, cur]), correction=False)``.
    """
    ref, cur = _pair(reference_counts, current_counts)
    keep = (ref + cur) > 0
    table = np.vstack([ref[keep], cur[keep]])
    if table.shape[1] < 2:
        return 0.0, 1.0
    rows = table.sum(axis=1, keepdims=True)
    if np.any(rows == 0):
        raise ValueError("chi_square needs at least one count on each side.")
    expected = rows * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    p_value = float(stats.chi2.sf(statistic, table.shape[1] - 1))
    return statistic, p_value


def two_proportion_z(reference_counts: ArrayLike, current_counts: ArrayLike) -> tuple[float, float]:
    """Two-proportion Z test (pooled variance, two-sided) on ``[hits, misses]`` counts.

    ``z = (p1 - p2) / sqrt(P (1 - P) (1/n1 + 1/n2))`` with ``p_i`` each side's share of the
    first entry and ``P`` the pooled share; ``p = 2 * norm.sf(|z|)``. With a pooled variance
    ``z**2`` is the 2 x 2 chi-square statistic, so ``z**2`` and ``p`` equal
    ``scipy.stats.chi2_contingency(table, correction=False)``'s statistic and p-value.
    When both sides hold only one value (``P`` is 0 or 1) there is nothing to test:
    ``(0.0, 1.0)``.
    """
    ref, cur = _pair(reference_counts, current_counts)
    if ref.size != 2:
        raise ValueError(f"two_proportion_z needs [hits, misses] counts, got {ref.size} values.")
    n1, n2 = float(ref.sum()), float(cur.sum())
    if n1 == 0 or n2 == 0:
        raise ValueError("two_proportion_z needs at least one count on each side.")
    p1, p2 = ref[0] / n1, cur[0] / n2
    pooled = (ref[0] + cur[0]) / (n1 + n2)
    variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    if variance <= 0:
        return 0.0, 1.0
    z = float((p1 - p2) / math.sqrt(variance))
    return z, float(2.0 * stats.norm.sf(abs(z)))


# ---- summaries of sorted columns ----------------------------------------------------


def finite_sorted(values: FloatArray) -> FloatArray:
    """The finite values, sorted (NaN sorts last, +-inf at the ends)."""
    ordered = np.sort(values)
    lo = int(np.searchsorted(ordered, -np.inf, side="right"))
    hi = int(np.searchsorted(ordered, np.inf, side="left"))
    return ordered[lo:hi]


def moments(values: FloatArray) -> tuple[float, float]:
    """``(mean, sum((x - mean)**2))``: ``np.var(values) * n``, in chunks (no full-size copy)."""
    mean = float(np.mean(values))
    m2 = 0.0
    step = 1 << 17
    for start in range(0, values.size, step):
        chunk = values[start : start + step] - mean
        # einsum, not np.dot: BLAS threads would spin on the cores the column pool uses
        m2 += float(np.einsum("i,i->", chunk, chunk))
    return mean, m2


def sorted_quantiles(ordered: FloatArray, levels: FloatArray) -> FloatArray:
    """``np.quantile(values, levels)`` (default linear method) on already sorted values."""
    h = (ordered.size - 1) * levels
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, ordered.size - 1)
    return ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo])


def bin_edges(minimum: float, maximum: float, present: int, bins: int | None) -> FloatArray:
    """Equal-width edges over ``[minimum, maximum]``: ``bins`` or Sturges' count of bins.

    Equals ``np.histogram_bin_edges(values, bins)`` (``"sturges"`` when ``bins`` is None).
    """
    count = bins if bins is not None else sturges_bins(present)
    if minimum == maximum:  # numpy's convention for a constant sample
        minimum, maximum = minimum - 0.5, maximum + 0.5
    return np.linspace(minimum, maximum, count + 1)


def distinct_sorted(
    ordered: FloatArray, limit: int
) -> tuple[FloatArray, npt.NDArray[np.int64]] | None:
    """Distinct values and counts of sorted values, or None when there are more than limit."""
    if ordered.size == 0:
        return None
    probe = ordered[np.linspace(0, ordered.size - 1, limit + 2).astype(np.int64)]
    if np.unique(probe).size > limit:  # cheap early exit for continuous columns
        return None
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    if starts.size > limit:
        return None
    counts = np.diff(np.concatenate([starts, [ordered.size]]))
    return ordered[starts], counts.astype(np.int64)


# ---- multiple testing -------------------------------------------------------------------


def bonferroni(p_values: ArrayLike) -> FloatArray:
    """Bonferroni-adjusted p-values ``min(1, p * m)`` for ``m`` tests."""
    p = _floats(p_values)
    return np.minimum(p * p.size, 1.0)


def benjamini_hochberg(p_values: ArrayLike) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values: ``scipy.stats.false_discovery_control(p)``."""
    p = _floats(p_values)
    if p.size == 0:
        return p
    return np.asarray(stats.false_discovery_control(p, method="bh"), dtype=np.float64)
