"""Is an item's negative discrimination real or noise? An exact rank test per item.

With few models most negative discrimination estimates are noise: an item answered correctly
by 4 of 19 models has a negative slope by chance about half the time. The report flags an
item only when the models that answer it correctly are significantly *weaker* than those that
do not, and controls the false discovery rate over all tested items.

The test: rank the models that observed the item by ability (the IRT θ; mid-ranks for ties)
and sum the ranks of those that answered correctly. Under the null hypothesis (correctness
unrelated to ability) every set of k correct models among n is equally likely, so the
one-sided p-value is P(S ≤ s) under that permutation distribution, computed exactly by
counting subsets (up to ``EXACT_MAX_MODELS`` models; above it, the normal approximation of
the rank-sum statistic with the tie correction). θ is fitted on every item, the tested one
included, which pulls the test towards a positive association: it is conservative.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

from .. import _multitest

EXACT_MAX_MODELS = 60


@dataclass(frozen=True)
class NegativeDiscriminationTest:
    """Per-item one-sided p-values (NaN where untestable), their Benjamini–Hochberg
    adjustment, the significant items at ``alpha`` and how many models a lone item needs."""

    pvalue: np.ndarray
    pvalue_bh: np.ndarray
    significant: np.ndarray
    n_tested: int
    min_models: int


def negative_discrimination_test(
    scores: np.ndarray, ability: np.ndarray, alpha: float
) -> NegativeDiscriminationTest:
    """Test every item (columns of the 0/1 ``scores``, NaN = not observed) for a negative
    association between correctness and ``ability`` (one value per model)."""
    observed = ~np.isnan(scores)
    pvalue = np.full(scores.shape[1], np.nan)
    patterns, which = np.unique(observed.T, axis=0, return_inverse=True)
    for index, rows in enumerate(patterns):
        items = np.flatnonzero(which.ravel() == index)
        if rows.sum() >= 2:
            pvalue[items] = _rank_sum_pvalues(scores[np.ix_(rows, items)], ability[rows])
    pvalue_bh = benjamini_hochberg(pvalue)
    tested = ~np.isnan(pvalue)
    significant = tested & (np.where(tested, pvalue_bh, 1.0) <= alpha)
    n_tested = int(tested.sum())
    return NegativeDiscriminationTest(
        pvalue, pvalue_bh, significant, n_tested, models_needed(alpha, max(n_tested, 1))
    )


def _rank_sum_pvalues(correct: np.ndarray, ability: np.ndarray) -> np.ndarray:
    """P(rank sum of the correct models ≤ observed) for each column of ``correct`` (0/1, all
    observed); NaN for columns answered by every model or by none."""
    from scipy.stats import norm, rankdata

    n = correct.shape[0]
    doubled = np.rint(2 * rankdata(ability)).astype(np.int64)  # mid-ranks made integer
    k = correct.sum(axis=0).astype(np.int64)
    stat = doubled @ correct.astype(np.int64)
    out = np.full(correct.shape[1], np.nan)
    testable = (k > 0) & (k < n)
    if n <= EXACT_MAX_MODELS:
        cdf = _subset_sum_cdf(doubled)
        out[testable] = cdf[k[testable], stat[testable]]
    else:
        mean = k * doubled.mean()
        var = k * (n - k) / n * doubled.var(ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (stat - mean + 1.0) / np.sqrt(var)  # continuity: one doubled-rank step of 2
        out[testable] = norm.cdf(z[testable])
    return np.minimum(out, 1.0)


def _subset_sum_cdf(values: np.ndarray) -> np.ndarray:
    """``cdf[k, s]`` = share of the k-subsets of ``values`` (non-negative ints) whose sum is
    ≤ s: the exact permutation distribution of a rank sum, by counting subsets."""
    n, total = values.size, int(values.sum())
    counts = np.zeros((n + 1, total + 1))
    counts[0, 0] = 1.0
    for v in values:
        # Adding one value: a j-subset with sum s comes from a (j-1)-subset with sum s - v.
        counts[1:, v:] += counts[:-1, : total + 1 - v].copy()
    sizes = np.array([comb(n, j) for j in range(n + 1)], dtype=np.float64)
    return np.cumsum(counts, axis=1) / sizes[:, None]


def benjamini_hochberg(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values over the tested items (NaN = untested, left out
    of the family and kept NaN)."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    keep = ~np.isnan(p)
    if keep.any():
        out[keep] = _multitest.benjamini_hochberg(p[keep])
    return out


def models_needed(alpha: float, n_tests: int) -> int:
    """The fewest models with which one perfectly reversed item (the weakest half right, the
    strongest half wrong) could be significant on its own among ``n_tests`` items: its exact
    p-value 1 / C(n, n/2) must reach the Bonferroni level alpha / n_tests."""
    n = 2
    while comb(n, n // 2) * alpha < n_tests:
        n += 1
    return n
