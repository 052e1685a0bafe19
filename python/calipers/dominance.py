"""Risk-aware model comparison with almost stochastic dominance (Nitsure et al., ICML 2024).

The **violation ratio** of "X dominates Y" at order ℓ is

    ε_ℓ(X, Y) = ∫₀¹ (Q⁽ℓ⁾_Y(t) − Q⁽ℓ⁾_X(t))₊² dt / ∫₀¹ (Q⁽ℓ⁾_Y(t) − Q⁽ℓ⁾_X(t))² dt

where Q⁽¹⁾ is the quantile function (first order, FSD) and Q⁽²⁾(t) = ∫₀ᵗ Q (second order,
SSD: the absolute Lorenz curve, i.e. t·TVaR_t). ε = 0 is exact dominance, ε(X, Y) + ε(Y, X) = 1,
and 0.5 is reported when the two distributions coincide. Scores are oriented so that higher is
better.

calipers computes ε exactly from sorted samples and prefix sums (Q is constant and Q⁽²⁾ linear
on each cell of the merged grid of cumulative weights, for any sample sizes), with no truncated
t-grid. deepsig's ``aso`` integrates on t ∈ {0.005, ..., 0.995} and so drops the extreme 0.5 %
tails, where a risk-aware comparison matters most; its ε̂ differs from the exact one by exactly
that truncation and grid (see :func:`violation_ratio`).

* :func:`absolute_test`: the ASO test of del Barrio et al. / Dror et al. with a threshold ε₀;
* :func:`compare`: the relative one-vs-all test across many models with a correct Bonferroni
  (α / #pairs) or Holm correction and a Borda ranking, on single scores or metric portfolios;
* :func:`portfolio`: several metrics aggregated by pooled empirical CDFs and a weighted
  geometric mean.

The bootstrap resamples multinomial counts over each model's pre-sorted scores (O(items) per
model and replicate, no sorting, memory O(models × items)), is paired by default (one item
resample shared by all models), and is bit-identical for any thread count or executor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.special

from . import _core
from ._chunked import run_chunked
from ._multitest import adjust
from ._optional import require
from ._progress import Progress
from ._results import Result
from ._validation import (
    ArrayLike,
    as_float_array,
    check_memory,
    check_open_unit,
    check_scalar,
    seed_from_rng,
)
from .exceptions import InvalidArgumentError, ShapeError
from .io.evaldata import as_pandas, is_table
from .resample import as_samples, scale_exponent, scaled_samples

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AbsoluteTestResult",
    "DominanceResult",
    "absolute_test",
    "compare",
    "portfolio",
    "violation_ratio",
]

Correction = Literal["bonferroni", "holm"]


@dataclass(frozen=True, repr=False)
class AbsoluteTestResult(Result):
    """Almost-stochastic-dominance test of "X dominates Y" with threshold ε₀.

    Attributes
    ----------
    eps : float
        ε̂ = ε_ℓ(X, Y), the exact empirical violation ratio.
    sigma : float
        σ̂ = sd of √(nm/(n+m))·(ε* − ε̂) over bootstrap replicates ε* (the CLT scale).
    eps_min : float
        ε_min = ε̂ − √((n+m)/(nm))·σ̂·Φ⁻¹(α), clipped to [0, 1]: the one-sided upper
        (1 − α) confidence bound on ε (Dror et al.'s ε_min; not a p-value).
    pvalue : float
        Φ((ε̂ − ε₀) / (σ̂ √((n+m)/(nm)))): the p-value of H0 ε ≥ ε₀.
    reject : bool
        ``eps_min < eps0``: X ε₀-almost dominates Y at level α.
    """

    eps: float
    sigma: float
    eps_min: float
    pvalue: float
    reject: bool
    eps0: float
    alpha: float
    order: int
    n_resamples: int
    paired: bool


@dataclass(frozen=True, repr=False)
class DominanceResult(Result):
    """Relative (one-vs-all) almost-stochastic-dominance test across m models.

    Attributes
    ----------
    eps : ndarray (m, m)
        ε(F_i, F_j), the violation ratio of "model i dominates model j" (diagonal 0.5).
    eps_i : ndarray (m,)
        One-vs-all ratio ε_i = mean_{j≠i} ε(F_i, F_j); lower is better.
    delta : ndarray (m, m)
        Δε_ij = ε_i − ε_j; negative when i relatively dominates j.
    sigma : ndarray (m, m)
        Bootstrap standard deviation of Δε*_ij, the standard error of Δε̂_ij (the paper's
        σ_ij / √n).
    pvalue : ndarray (m, m)
        One-sided p-value of H0 Δε_ij ≥ 0 against "i dominates j": the larger of
        ``pvalue_clt`` and ``pvalue_mean`` (``pvalue_clt`` with ``mean_guard=False``).
    pvalue_clt : ndarray (m, m)
        The paper's CLT p-value Φ(Δε̂_ij / σ_ij).
    pvalue_mean : ndarray (m, m) or None
        One-sided normal p-value of mean_i > mean_j (see :func:`compare`, Notes).
    pvalue_adjusted : ndarray (m, m)
        Bonferroni- or Holm-adjusted over the m(m−1)/2 pairs of the two-sided pair p-value
        2·min(p_ij, p_ji), placed in the winning direction (the other direction is 1).
    reject : ndarray (m, m) of bool
        ``reject[i, j]``: model i significantly dominates model j (adjusted p < α).
    borda : ndarray (m,)
        Number of significant wins of each model.
    ranking : pandas.DataFrame
        Best first: model, rank, borda (wins), losses, eps_i, eps_i_se, mean (the mean score
        or portfolio value); ties in wins are broken by ε_i.
    """

    eps: np.ndarray
    eps_i: np.ndarray
    delta: np.ndarray
    sigma: np.ndarray
    pvalue: np.ndarray
    pvalue_clt: np.ndarray
    pvalue_mean: np.ndarray | None
    pvalue_adjusted: np.ndarray
    reject: np.ndarray
    borda: np.ndarray
    ranking: pd.DataFrame
    model_names: list
    order: int
    alpha: float
    correction: str
    n_resamples: int
    paired: bool


def _check_order(order: Any) -> int:
    if isinstance(order, bool) or order not in (1, 2):
        raise InvalidArgumentError(f"order: got {order!r}; use 1 (first order) or 2 (second)")
    return int(order)


def violation_ratio(x: ArrayLike, y: ArrayLike, order: int = 1) -> float:
    """Exact violation ratio ε_ℓ(X, Y) of "X stochastically dominates Y".

    Parameters
    ----------
    x, y : array_like, 1-D
        Samples of scores (higher is better), of any sizes.
    order : {1, 2}, default 1
        1: quantile functions (first order). 2: integrated quantiles (second order).

    Returns
    -------
    float
        In [0, 1]; 0 when X dominates Y exactly, 0.5 when the distributions coincide.

    Notes
    -----
    Both integrals are computed exactly on the merged grid of the two samples' cumulative
    weights. deepsig's ASO statistic is a Riemann sum on t = 0.005, 0.010, ..., 0.995 (its
    numerator also skips the first point), so it ignores the outer 0.5 % of each tail and
    differs from this value by that truncation; on the grid points where both agree the
    integrands are identical.

    Examples
    --------
    >>> from calipers.dominance import violation_ratio
    >>> violation_ratio([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
    0.0
    """
    order = _check_order(order)
    xs = as_float_array(x, "x", ndim=1)
    ys = as_float_array(y, "y", ndim=1)
    return float(_core.violation_ratio(xs, ys, order))


def absolute_test(
    x: ArrayLike,
    y: ArrayLike,
    order: int = 1,
    *,
    eps0: float = 0.5,
    alpha: float = 0.05,
    n_resamples: int = 1000,
    paired: bool = False,
    rng: Any = None,
    executor: Any = None,
    progress: Progress = False,
) -> AbsoluteTestResult:
    """Absolute almost-stochastic-dominance test (ASO) of "X dominates Y".

    H0: ε_ℓ(X, Y) ≥ ε₀ against H1: ε_ℓ(X, Y) < ε₀. By the CLT of del Barrio et al. (2018)
    √(nm/(n+m))(ε̂ − ε) is asymptotically normal; its standard deviation σ̂ is estimated by the
    bootstrap, and H0 is rejected when ε_min = ε̂ − √((n+m)/(nm))·σ̂·Φ⁻¹(α) < ε₀.

    Parameters
    ----------
    x, y : array_like, 1-D
        Scores of the two models (higher is better).
    order : {1, 2}, default 1
    eps0 : float, default 0.5
        Threshold ε₀ in (0, 1]. deepsig recommends 0.2 for a stricter decision.
    alpha : float, default 0.05
    n_resamples : int, default 1000
    paired : bool, default False
        Resample items jointly (needs equal lengths); by default the samples are independent,
        as in deepsig.
    rng, executor, progress
        As in :func:`calipers.resample.bootstrap`.
    """
    order = _check_order(order)
    eps0 = check_scalar(eps0, "eps0", low=0.0, high=1.0, low_inclusive=False)
    alpha = check_open_unit(alpha, "alpha")
    check_scalar(n_resamples, "n_resamples", kind=int, low=2)
    _check_replicate_memory(n_resamples, 1)
    samples, _ = as_samples([x, y], paired=paired)
    xs, ys = samples
    seed = seed_from_rng(rng)
    eps = float(_core.violation_ratio(xs, ys, order))
    reps = run_chunked(
        "bootstrap_one_vs_all",
        (samples, paired, order),
        seed=seed,
        n_resamples=n_resamples,
        executor=executor,
        progress=progress,
        desc="dominance bootstrap",
    )[:, 0]
    n, m = len(xs), len(ys)
    scale = np.sqrt(n * m / (n + m))
    sigma = float(np.std(scale * (reps - eps), ddof=1))
    se = sigma / scale
    eps_min = float(np.clip(eps - se * scipy.special.ndtri(alpha), 0.0, 1.0))
    pvalue = _normal_cdf_ratio(eps - eps0, se)
    return AbsoluteTestResult(
        eps=eps,
        sigma=sigma,
        eps_min=eps_min,
        pvalue=float(pvalue),
        reject=bool(eps_min < eps0),
        eps0=eps0,
        alpha=alpha,
        order=order,
        n_resamples=n_resamples,
        paired=paired,
    )


def _check_replicate_memory(n_resamples: int, n_models: int) -> None:
    check_memory(
        16.0 * n_resamples * n_models,
        "n_resamples",
        "pass fewer resamples (the replicates of every model are kept in memory)",
    )


def _normal_cdf_ratio(num: Any, den: Any) -> np.ndarray:
    """Φ(num / den), with Φ(±∞) for den = 0 and 0.5 for 0 / 0.

    A zero standard error (identical or constant models: every replicate equal) with a zero
    difference is no evidence either way, so z = 0 and the one-sided p-value is 0.5 (plain
    division would give NaN, and ``sign(0) * inf`` too)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = num / np.where(den > 0, den, 1.0)
    infinite = np.where(num > 0, np.inf, np.where(num < 0, -np.inf, 0.0))
    return scipy.special.ndtr(np.where(den > 0, ratio, infinite))


def portfolio(
    scores_by_metric: Any,
    weights: ArrayLike | None = None,
    *,
    lower_is_better: Any = None,
) -> np.ndarray:
    """Aggregate several metrics per item into one portfolio score in (0, 1].

    R = exp(Σ_k λ_k log F_k(s_k)) = Π_k F_k(s_k)^λ_k, the weighted geometric mean of the
    metrics normalised by their pooled empirical CDFs F_k(v) = #{pooled scores ≤ v} / N (pooled
    over all models and items, so every model is measured on the same scale; F ≥ 1/N, so the
    logarithm is finite). The weights λ are normalised to sum to 1.

    Parameters
    ----------
    scores_by_metric : array_like, (models, items, metrics)
    weights : array_like (metrics,), optional
        Non-negative importance weights; uniform by default.
    lower_is_better : array_like of bool (metrics,), optional
        Metrics to negate before normalising (e.g. toxicity), so higher is better for all.

    Returns
    -------
    ndarray (models, items)
    """
    arr = as_float_array(scores_by_metric, "scores_by_metric", ndim=3)
    k = arr.shape[2]
    lam = _metric_weights(weights, k)
    if lower_is_better is not None:
        flip = np.asarray(lower_is_better, dtype=bool).reshape(-1)
        if flip.shape != (k,):
            raise ShapeError(
                f"lower_is_better: expected {k} booleans (one per metric), got {flip.size}"
            )
        arr = np.where(flip, -arr, arr)
    log_r = np.zeros(arr.shape[:2])
    for j in range(k):
        values = arr[:, :, j]
        pooled = np.sort(values, axis=None)
        cdf = np.searchsorted(pooled, values, side="right") / pooled.size
        log_r += lam[j] * np.log(cdf)
    return np.exp(log_r)


def _metric_weights(weights: Any, k: int) -> np.ndarray:
    if weights is None:
        return np.full(k, 1.0 / k)
    lam = as_float_array(weights, "metric_weights", ndim=1)
    if lam.shape != (k,):
        raise ShapeError(f"metric_weights: expected {k} weights (one per metric), got {lam.size}")
    if (lam < 0).any() or lam.sum() <= 0:
        raise InvalidArgumentError("metric_weights: must be >= 0 with a positive sum")
    return lam / lam.sum()


def _from_long(df: pd.DataFrame) -> tuple[np.ndarray, list]:
    """Long table (model, item, score[, metric]) → (models × items [× metrics], names)."""
    pd = require("pandas", "dominance.compare on a long table")  # as_pandas has checked
    missing = {"model", "item", "score"} - set(df.columns)
    if missing:
        raise ShapeError(
            f"scores: the table lacks column(s) {sorted(missing)}; a long table needs columns "
            "model, item, score (and optionally metric)"
        )
    keys = ["model", "item"] + (["metric"] if "metric" in df.columns else [])
    if df.duplicated(subset=keys).any():
        raise ShapeError(
            f"scores: the table has duplicate ({', '.join(keys)}) rows; keep one score each"
        )
    table = df.set_index(keys)["score"].astype(np.float64)
    if "metric" in df.columns:
        cube = table.unstack(["item", "metric"])
        models = list(cube.index)
        items = cube.columns.get_level_values(0).unique()
        metrics = cube.columns.get_level_values(1).unique()
        cube = cube.reindex(columns=pd.MultiIndex.from_product([items, metrics]))
        values = cube.to_numpy().reshape(len(models), len(items), len(metrics))
    else:
        wide = table.unstack("item")
        models = list(wide.index)
        values = wide.to_numpy()
    return values, models


def compare(
    scores: Any,
    *,
    order: int = 1,
    alpha: float = 0.05,
    correction: Correction = "bonferroni",
    n_resamples: int = 1000,
    paired: bool = True,
    rng: Any = None,
    model_names: Sequence | None = None,
    metric_weights: Any = None,
    mean_guard: bool = True,
    nan_policy: str = "raise",
    executor: Any = None,
    progress: Progress = False,
) -> DominanceResult:
    """Rank models by relative almost stochastic dominance (R-FSD / R-SSD).

    For every pair the violation ratio ε(F_i, F_j) is computed exactly; each model's
    one-vs-all ratio is ε_i = mean_{j≠i} ε(F_i, F_j). Model i relatively dominates model j
    when Δε_ij = ε_i − ε_j < 0; H0 Δε_ij ≥ 0 is rejected when Δε̂_ij + z_{1−α'}·σ̂_ij < 0 with
    σ̂_ij the bootstrap standard deviation of Δε*_ij. With Bonferroni, α' = α / (2·#pairs):
    both directions of each of the m(m−1)/2 pairs are hypotheses (all true when the models are
    identical), so this bounds the family-wise error of every "i dominates j" claim by α
    (deepsig's ``multi_aso`` uses α(#pairs − 1)/#pairs, which is no Bonferroni bound). Holm's
    step-down procedure on the same two-sided pair p-values is uniformly more powerful.
    Models are ranked by their number of significant wins (Borda count), ties broken by ε_i.

    Parameters
    ----------
    scores : array_like or table
        Models × items, models × items × metrics (a metric portfolio is built with
        :func:`portfolio`), a list of 1-D arrays (``paired=False`` for different lengths), or
        a long table (pandas, polars or pyarrow) with columns model, item, score (and
        metric). The result's ranking is a pandas DataFrame, so this function needs pandas
        (the ``[io]`` extra).
    order : {1, 2}, default 1
        First-order (quantiles) or second-order (integrated quantiles, risk-averse) dominance.
    alpha : float, default 0.05
        Family-wise error rate over all pairs.
    correction : {"bonferroni", "holm"}, default "bonferroni"
    n_resamples : int, default 1000
    paired : bool, default True
        One item resample shared by all models per replicate (all models scored the same
        items); False resamples models independently.
    rng : None, int or numpy.random.Generator
    model_names : sequence, optional
        Names for the rows (defaults: the table's model labels, else 0..m−1).
    metric_weights : array_like, optional
        Portfolio weights for 3-D scores (uniform by default).
    mean_guard : bool, default True
        Also require a one-sided test of mean_i > mean_j to reject (see Notes); False gives
        the paper's CLT test alone, which over-rejects when models have the same distribution.
    nan_policy : {"raise", "omit"}, default "raise"
    executor, progress
        As in :func:`calipers.resample.bootstrap`.

    Returns
    -------
    DominanceResult

    Notes
    -----
    The CLT for ε̂ degenerates when two models have the same distribution: ε(F_i, F_j) is then
    0/0 in the limit, ε̂ keeps an O(1) spread for every n (mostly near 0 and 1), and the
    bootstrap σ̂ does not follow it; the CLT test alone then makes far too many claims
    (simulated here: 23 % instead of 5 % for two identical models). With ``mean_guard=True``
    a claim "i dominates j" also needs the mean of i to be significantly larger (a normal test
    on the paired differences, or Welch's when unpaired). The reported one-sided p-value is
    the larger of the two, which is asymptotically valid on the whole null Δε_ij ≥ 0: the
    mean test covers F_i = F_j, the CLT test F_i ≠ F_j. Dominance of either order implies a
    larger mean, so the guard costs power only when ε is small but the means are nearly equal.

    One-vs-all ratios depend on which models are in the pool: adding a model can change the
    order of two others. Memory is O(models × items) for the bootstrap plus
    O(models × n_resamples) for the replicates.
    """
    order = _check_order(order)
    alpha = check_open_unit(alpha, "alpha")
    check_scalar(n_resamples, "n_resamples", kind=int, low=2)
    if correction not in ("bonferroni", "holm"):
        raise InvalidArgumentError(f"correction: got {correction!r}; use 'bonferroni' or 'holm'")
    names: list | None = None
    if is_table(scores):  # pandas, polars or pyarrow
        scores, names = _from_long(as_pandas(scores))
    if _is_cube(scores):
        cube = as_float_array(scores, "scores", ndim=3, finite=False)
        if nan_policy == "omit":
            keep = np.isfinite(cube).all(axis=(0, 2))
            cube = cube[:, keep, :]
        scores = portfolio(cube, metric_weights)
    elif metric_weights is not None:
        raise InvalidArgumentError(
            "metric_weights: only applies to models × items × metrics scores (a portfolio)"
        )
    samples, one_d = as_samples(scores, paired=paired, nan_policy=nan_policy)
    if one_d or len(samples) < 2:
        raise ShapeError("scores: has one model; dominance compares at least two (models × items)")
    m = len(samples)
    _check_replicate_memory(n_resamples, m)
    names = _model_names(model_names, names, m)
    seed = seed_from_rng(rng)
    eps = np.asarray(_core.violation_ratio_matrix(samples, order))
    eps_i = (eps.sum(axis=1) - 0.5) / (m - 1)
    reps = run_chunked(
        "bootstrap_one_vs_all",
        (samples, paired, order),
        seed=seed,
        n_resamples=n_resamples,
        executor=executor,
        progress=progress,
        desc="dominance bootstrap",
    )
    delta = eps_i[:, None] - eps_i[None, :]
    sigma = _difference_sd(reps)
    pvalue_clt = _normal_cdf_ratio(delta, sigma)
    np.fill_diagonal(pvalue_clt, 1.0)
    pvalue_mean = _mean_pvalues(samples, paired) if mean_guard else None
    pvalue = pvalue_clt if pvalue_mean is None else np.maximum(pvalue_clt, pvalue_mean)
    adjusted = _adjust(pvalue, correction)
    reject = adjusted < alpha
    borda = reject.sum(axis=1)
    ranking = _ranking(names, borda, reject.sum(axis=0), eps_i, reps.std(axis=0, ddof=1), samples)
    return DominanceResult(
        eps=eps,
        eps_i=eps_i,
        delta=delta,
        sigma=sigma,
        pvalue=pvalue,
        pvalue_clt=pvalue_clt,
        pvalue_mean=pvalue_mean,
        pvalue_adjusted=adjusted,
        reject=reject,
        borda=borda,
        ranking=ranking,
        model_names=names,
        order=order,
        alpha=alpha,
        correction=correction,
        n_resamples=n_resamples,
        paired=paired,
    )


def _mean_pvalues(samples: list[np.ndarray], paired: bool) -> np.ndarray:
    """(m, m) one-sided normal p-values of mean_i > mean_j: paired differences' standard
    error when paired, Welch's otherwise."""
    m = len(samples)
    # p-values are scale-invariant: extreme scores are tested at the unit scale (no overflow)
    samples = scaled_samples(samples, scale_exponent(samples))
    means = np.array([s.mean() for s in samples])
    diff = means[:, None] - means[None, :]
    se = np.zeros((m, m))
    for i in range(m):
        for j in range(i + 1, m):
            if paired:
                d = samples[i] - samples[j]
                v = d.var(ddof=1) / len(d) if len(d) > 1 else 0.0
            else:
                v = sum(
                    s.var(ddof=1) / len(s) if len(s) > 1 else 0.0 for s in (samples[i], samples[j])
                )
            se[i, j] = se[j, i] = np.sqrt(v)
    out = _normal_cdf_ratio(-diff, se)
    np.fill_diagonal(out, 1.0)
    return out


def _is_cube(scores: Any) -> bool:
    """Whether ``scores`` is a models × items × metrics array (ragged lists are not)."""
    try:
        return np.ndim(scores) == 3
    except ValueError:
        return False


def _model_names(given: Sequence | None, from_table: list | None, m: int) -> list:
    if given is None:
        return list(from_table) if from_table is not None else list(range(m))
    names = list(given)
    if len(names) != m:
        raise ShapeError(f"model_names: has {len(names)} names for {m} models")
    return names


def _difference_sd(reps: np.ndarray) -> np.ndarray:
    """(m, m) standard deviations (ddof=1) of reps[:, i] − reps[:, j] over replicates."""
    centred = reps - reps.mean(axis=0)
    cov = centred.T @ centred / (reps.shape[0] - 1)
    var = np.diag(cov)[:, None] + np.diag(cov)[None, :] - 2 * cov
    sd = np.sqrt(np.maximum(var, 0.0))
    np.fill_diagonal(sd, 0.0)
    return sd


def _adjust(pvalue: np.ndarray, correction: str) -> np.ndarray:
    """Family-wise adjusted p-values over the m(m−1)/2 pairs.

    Every ordered pair (i, j) is a one-sided hypothesis, and with identical models all
    m(m−1) of them are true, so each unordered pair is tested two-sided (p = 2·min(p_ij, p_ji))
    and the decision goes to the winning direction; the losing direction gets 1. This keeps
    the family-wise rate of any false "i dominates j" claim at α.
    """
    m = pvalue.shape[0]
    iu, ju = np.triu_indices(m, k=1)
    upper_wins = pvalue[iu, ju] <= pvalue[ju, iu]
    win_i = np.where(upper_wins, iu, ju)
    win_j = np.where(upper_wins, ju, iu)
    p = np.minimum(1.0, 2.0 * pvalue[win_i, win_j])  # two-sided: both directions are tested
    adj = adjust(p, correction)
    out = np.ones((m, m))
    out[win_i, win_j] = adj
    return out


def _mean(x: np.ndarray) -> float:
    """The mean without overflow for scores near the float limits."""
    e = scale_exponent([x])
    return float(np.ldexp(np.ldexp(x, -e).mean(), e)) if e else float(x.mean())


def _ranking(names, borda, losses, eps_i, eps_se, samples) -> pd.DataFrame:
    pd = require("pandas", "the ranking table of dominance.compare")
    order = np.lexsort((eps_i, -borda))  # most wins first, then lowest ε_i
    df = pd.DataFrame(
        {
            "model": [names[k] for k in order],
            "rank": np.arange(1, len(order) + 1),
            "borda": borda[order],
            "losses": losses[order],
            "eps_i": eps_i[order],
            "eps_i_se": eps_se[order],
            "mean": np.array([_mean(samples[k]) for k in order]),
        }
    )
    return df
