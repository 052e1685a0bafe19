"""The bootstrap engine: many models at once, paired or unpaired, deterministic and distributable.

Every function here resamples per-item scores of one or more models:

* **paired** (the default when all models answered the same items): each replicate draws one
  resample of the items and applies it to every model, so between-model comparisons keep the
  item pairing (``Var(A - B) = Var A + Var B - 2 Cov``);
* **unpaired**: each model's scores (possibly of different lengths) are resampled on their own.

Replicates are split into fixed chunks of 32, each with its own random stream derived from
(seed, chunk index). The result therefore does not depend on the number of threads
(``calipers.set_num_threads``) nor on ``executor=``: any :class:`concurrent.futures.Executor`,
or a ``dask.distributed.Client`` (or its ``get_executor()``), computes ranges of chunks and the
results are concatenated in chunk order, bit for bit equal to the local run.

The mean never materialises a resampled copy of the data: each draw is folded into running sums
in the Rust core (memory O(models × items), time O(models × items) per replicate). A user
``statistic`` (a vectorised numpy function with an ``axis`` argument, as for
:func:`scipy.stats.bootstrap`) is applied to the same resamples in batches of bounded size.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import scipy.special
import scipy.stats

from . import _core
from ._chunked import _BATCH_ELEMENTS, run_chunked
from ._multitest import adjust
from ._progress import Progress
from ._results import ConfidenceInterval, Result
from ._validation import (
    ArrayLike,
    as_float_array,
    check_memory,
    check_nan_policy,
    check_open_unit,
    check_scalar,
    ndim_of,
    seed_from_rng,
)
from .exceptions import InvalidArgumentError, ShapeError

__all__ = [
    "BootstrapResult",
    "DegenerateDataWarning",
    "PairwiseDifferencesResult",
    "PermutationTestResult",
    "RankDistributionResult",
    "bootstrap",
    "pairwise_differences",
    "permutation_test",
    "rank_distribution",
]

Method = Literal["bca", "percentile", "basic"]
Alternative = Literal["two-sided", "less", "greater"]
Correction = Literal["holm", "bh", "bonferroni", "none"]


class DegenerateDataWarning(UserWarning):
    """The bootstrap distribution is degenerate (e.g. constant data): BCa is undefined."""


# ----------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, repr=False)
class BootstrapResult(Result):
    """Bootstrap estimate per model.

    Attributes
    ----------
    statistic : ndarray (m,) or float
        The statistic on the observed scores.
    standard_error : ndarray (m,) or float
        Standard deviation (ddof=1) of the bootstrap distribution.
    confidence_interval : ConfidenceInterval
        ``low`` and ``high``, each (m,) (floats for 1-D input).
    bootstrap_distribution : ndarray (m, n_resamples) or (n_resamples,)
        The replicates, last axis over resamples as in scipy.
    n_resamples, method, confidence_level, paired
        The settings used.
    """

    statistic: Any
    standard_error: Any
    confidence_interval: ConfidenceInterval
    bootstrap_distribution: np.ndarray
    n_resamples: int
    method: str
    confidence_level: float
    paired: bool


@dataclass(frozen=True, repr=False)
class PairwiseDifferencesResult(Result):
    """Differences of means between every pair of models, ``[i, j] = mean_i - mean_j``.

    Attributes
    ----------
    difference, standard_error, pvalue : ndarray (m, m)
        The observed difference, its bootstrap standard error and the two-sided bootstrap
        p-value of ``difference == 0`` (diagonal: 0, 0, 1).
    confidence_interval : ConfidenceInterval
        ``low``/``high`` (m, m) intervals of the differences.
    """

    difference: np.ndarray
    standard_error: np.ndarray
    confidence_interval: ConfidenceInterval
    pvalue: np.ndarray
    n_resamples: int
    method: str
    confidence_level: float
    paired: bool
    pvalue_adjusted: np.ndarray | None = None
    correction: str = "none"


@dataclass(frozen=True, repr=False)
class PermutationTestResult(Result):
    """Permutation test of the difference of means.

    Attributes
    ----------
    statistic : float
        ``mean(x) - mean(y)`` (paired: the mean of ``x - y``, the same number).
    pvalue : float
        Randomised p-value ``(1 + #{null at least as extreme}) / (1 + n_resamples)`` (two-sided:
        twice the smaller one-sided value, at most 1), the convention of
        :func:`scipy.stats.permutation_test` for randomised tests.
    null_distribution : ndarray (n_resamples,)
        The statistic under the permutations.
    """

    statistic: float
    pvalue: float
    null_distribution: np.ndarray
    n_resamples: int
    alternative: str
    paired: bool


@dataclass(frozen=True, repr=False)
class RankDistributionResult(Result):
    """Bootstrap distribution of each model's rank by mean score (rank 1 = best).

    Attributes
    ----------
    probabilities : ndarray (m, m)
        ``[model, k - 1]`` = P(model has rank k). Ties within a replicate share the tied ranks
        equally, so rows and columns sum to 1.
    p_best : ndarray (m,)
        P(rank 1), the first column.
    expected_rank : ndarray (m,)
        Mean rank (ties count as the average of the tied ranks).
    """

    probabilities: np.ndarray
    p_best: np.ndarray
    expected_rank: np.ndarray
    n_resamples: int
    higher_is_better: bool
    paired: bool


# ----------------------------------------------------------------------------------------------
# Input handling


def as_samples(
    scores: Any, *, paired: bool, nan_policy: str = "raise", name: str = "scores"
) -> tuple[list[np.ndarray], bool]:
    """Scores as a list of contiguous float64 rows, and whether the input was 1-D.

    Accepts a 1-D array (one model), a models × items 2-D array, or a list of 1-D arrays (of
    different lengths only when ``paired=False``). ``nan_policy='omit'`` drops NaN scores
    (paired: drops every item where any model has a NaN).
    """
    nan_policy = check_nan_policy(nan_policy)
    if nan_policy == "propagate":
        raise InvalidArgumentError(
            "nan_policy: 'propagate' is not supported by resampling; use 'raise' or 'omit'"
        )
    one_d = False
    if isinstance(scores, list | tuple) and any(
        ndim_of(s, f"{name}[{k}]") >= 1 for k, s in enumerate(scores)
    ):
        rows = [
            as_float_array(s, f"{name}[{k}]", ndim=1, finite=False) for k, s in enumerate(scores)
        ]
    else:
        arr = as_float_array(scores, name, ndim=(1, 2), finite=False)
        one_d = arr.ndim == 1
        rows = [arr] if one_d else list(arr)
    if not rows:
        raise ShapeError(f"{name}: has no models; pass at least one row of scores")
    lengths = {len(r) for r in rows}
    if paired and len(lengths) > 1:
        raise ShapeError(
            f"{name}: rows have different lengths {sorted(lengths)}; a paired design needs one "
            "score per model and item (pass paired=False to resample models independently)"
        )
    rows = _apply_nan_policy(rows, paired=paired, nan_policy=nan_policy, name=name)
    return [np.ascontiguousarray(r) for r in rows], one_d


def _apply_nan_policy(
    rows: list[np.ndarray], *, paired: bool, nan_policy: str, name: str
) -> list[np.ndarray]:
    bad = [~np.isfinite(r) for r in rows]
    if not any(b.any() for b in bad):
        if any(len(r) == 0 for r in rows):
            raise ShapeError(f"{name}: a model has no scores; pass at least one score per model")
        return rows
    if nan_policy == "raise" or any(np.isinf(r).any() for r in rows):
        k = next(k for k, b in enumerate(bad) if b.any())
        raise _non_finite(name, k, int(np.argmax(bad[k])))
    if paired:
        keep = ~np.any(np.vstack(bad), axis=0)
        rows = [r[keep] for r in rows]
    else:
        rows = [r[~b] for r, b in zip(rows, bad, strict=True)]
    if any(len(r) == 0 for r in rows):
        raise ShapeError(f"{name}: no scores left after omitting NaN values")
    return rows


def _non_finite(name: str, row: int, col: int) -> Exception:
    from .exceptions import NonFiniteError

    return NonFiniteError(
        f"{name}: model {row} has a NaN/inf score at item {col}; remove or impute it, or pass "
        "nan_policy='omit' to drop NaN scores"
    )


def _check_common(n_resamples: int, confidence_level: float | None, method: str | None) -> None:
    check_scalar(n_resamples, "n_resamples", kind=int, low=1)
    if confidence_level is not None:
        check_open_unit(confidence_level, "confidence_level")
        needed = min_resamples(confidence_level)
        if n_resamples < needed:
            raise InvalidArgumentError(
                f"n_resamples: {n_resamples} is too few for a {confidence_level:g} confidence "
                f"interval; pass at least {needed} (1 / (1 - confidence_level), so that the "
                "replicates reach beyond the interval), and thousands for stable end points"
            )
    if method is not None and method not in ("bca", "percentile", "basic"):
        raise InvalidArgumentError(f"method: got {method!r}; use 'bca', 'percentile' or 'basic'")


def min_resamples(confidence_level: float) -> int:
    """The fewest replicates for an interval at ``confidence_level``: at least one replicate
    falls outside it on average (B (1 - level) >= 1), and at least 2 (a standard error)."""
    return max(2, int(np.ceil(1.0 / (1.0 - confidence_level) - 1e-9)))


def scale_exponent(samples: Sequence[np.ndarray]) -> int:
    """A power of two that brings extreme data to the unit scale, for statistics that are
    homogeneous (the mean, differences, ranks, p-values): e with the largest |value| times
    2^-e in [0.5, 1) when that value is outside [2^-400, 2^400], where sums overflow or squares
    overflow or underflow; 0 for ordinary data, whose bits are then unchanged. Multiplying by
    a power of two is exact, so results are rescaled with ``np.ldexp(x, e)``."""
    largest = max((float(np.max(np.abs(s))) for s in samples if len(s)), default=0.0)
    if largest == 0.0 or 2.0**-400 <= largest <= 2.0**400:
        return 0
    return int(np.frexp(largest)[1])


def scaled_samples(samples: list[np.ndarray], exponent: int) -> list[np.ndarray]:
    return [np.ldexp(s, -exponent) for s in samples] if exponent else samples


# ----------------------------------------------------------------------------------------------
# Confidence intervals from a bootstrap distribution (the formulas of scipy.stats.bootstrap)


def _percentile_of_score(boot: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Mean of the strict and weak percentile of ``score`` in each row of ``boot``."""
    score = score[..., None]
    return ((boot < score).sum(-1) + (boot <= score).sum(-1)) / (2 * boot.shape[-1])


def acceleration(jackknife_sets: Sequence[tuple[np.ndarray, float]]) -> np.ndarray:
    """BCa acceleration from jackknife values.

    ``jackknife_sets`` holds one ``(values, sign)`` per independent sample, ``values`` of shape
    (..., n_j): the statistic with item i of that sample left out. The formula (Efron 1987) is
    ``a = sum_j sum_i U_ji^3 / n_j^3 / (6 (sum_j sum_i U_ji^2 / n_j^2)^(3/2))`` with
    ``U_ji = (n_j - 1)(mean_i values - values_i)``, summed over samples as scipy does.
    """
    num, den = 0.0, 0.0
    for values, sign in jackknife_sets:
        n = values.shape[-1]
        u = sign * (n - 1) * (values.mean(-1, keepdims=True) - values)
        num = num + (u**3).sum(-1) / n**3
        den = den + (u**2).sum(-1) / n**2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(num / (6.0 * den**1.5))


def intervals(
    observed: np.ndarray,
    boot: np.ndarray,
    *,
    method: str,
    confidence_level: float,
    accel: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided intervals, one per leading index of ``boot`` (shape (..., B)).

    Percentile: the alpha/2 and 1 - alpha/2 percentiles (numpy's linear interpolation) of the
    replicates. Basic: ``2 * observed`` minus the percentile interval, reversed. BCa: the
    percentiles at ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))`` for ``z = Phi^-1(alpha/2)`` and
    ``Phi^-1(1 - alpha/2)``, with ``z0 = Phi^-1(percentile of observed among replicates)`` and
    the acceleration ``a``: the same formulas as :func:`scipy.stats.bootstrap`.
    """
    alpha = (1.0 - confidence_level) / 2.0
    observed = np.asarray(observed, dtype=np.float64)
    if method in ("percentile", "basic"):
        low = np.percentile(boot, 100 * alpha, axis=-1)
        high = np.percentile(boot, 100 * (1 - alpha), axis=-1)
        if method == "basic":
            low, high = 2 * observed - high, 2 * observed - low
        return low, high
    z0 = scipy.special.ndtri(_percentile_of_score(boot, observed))
    a = np.broadcast_to(np.asarray(accel, dtype=np.float64), z0.shape)
    z_lo, z_hi = scipy.special.ndtri(alpha), scipy.special.ndtri(1 - alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        a1 = scipy.special.ndtr(z0 + (z0 + z_lo) / (1 - a * (z0 + z_lo)))
        a2 = scipy.special.ndtr(z0 + (z0 + z_hi) / (1 - a * (z0 + z_hi)))
    flat_boot = boot.reshape(-1, boot.shape[-1])
    lo, hi = np.full(flat_boot.shape[0], np.nan), np.full(flat_boot.shape[0], np.nan)
    degenerate = False
    for k, (p1, p2) in enumerate(zip(a1.ravel(), a2.ravel(), strict=True)):
        if np.isfinite(p1) and np.isfinite(p2):
            lo[k] = np.percentile(flat_boot[k], 100 * p1)
            hi[k] = np.percentile(flat_boot[k], 100 * p2)
        else:
            degenerate = True
    if degenerate:
        _warn_degenerate(stacklevel=4)
    return lo.reshape(z0.shape), hi.reshape(z0.shape)


def _warn_degenerate(stacklevel: int) -> None:
    warnings.warn(
        "the bootstrap distribution is degenerate (e.g. constant scores), so the BCa "
        "interval is undefined and reported as NaN; use method='percentile'",
        DegenerateDataWarning,
        stacklevel=stacklevel,
    )


def _jackknife_statistic(sample: np.ndarray, statistic: Callable) -> np.ndarray:
    """Leave-one-out values of a vectorised statistic, in batches of bounded memory."""
    n = len(sample)
    if n < 2:
        return np.full(n, np.nan)
    base = np.arange(n - 1)
    step = max(1, _BATCH_ELEMENTS // n)
    out = []
    for a in range(0, n, step):
        left_out = np.arange(a, min(a + step, n))[:, None]
        out.append(np.asarray(statistic(sample[base + (base >= left_out)], axis=-1)))
    return np.concatenate(out)


def _jackknife_means(sample: np.ndarray) -> np.ndarray:
    n = len(sample)
    if n < 2:
        return np.full(n, np.nan)
    return (sample.sum() - sample) / (n - 1)


# ----------------------------------------------------------------------------------------------
# Public functions


def _replicates(
    samples: list[np.ndarray],
    statistic: str | Callable,
    *,
    paired: bool,
    seed: int,
    n_resamples: int,
    executor: Any,
    progress: Progress,
) -> np.ndarray:
    """Bootstrap replicates, shape (m, n_resamples)."""
    check_memory(
        16.0 * n_resamples * len(samples),
        "n_resamples",
        "pass fewer resamples (the replicates of every model are kept in memory)",
    )
    if statistic == "mean":
        reps = run_chunked(
            "bootstrap_means",
            (samples, paired),
            seed=seed,
            n_resamples=n_resamples,
            executor=executor,
            progress=progress,
        )
    else:
        reps = run_chunked(
            "statistic",
            (samples, paired, statistic),
            seed=seed,
            n_resamples=n_resamples,
            executor=executor,
            progress=progress,
        )
    return np.ascontiguousarray(np.asarray(reps).T)


def _check_statistic(statistic: Any) -> Literal["mean"] | Callable:
    if statistic == "mean" or callable(statistic):
        return statistic
    raise InvalidArgumentError(
        f"statistic: got {statistic!r}; use 'mean' or a vectorised callable f(x, axis=-1)"
    )


def _resampled(scores, statistic, paired, nan_policy, rng, n_resamples, executor, progress):
    """Validated samples, whether the input was 1-D, the bootstrap replicates of
    ``statistic`` (shape (models, n_resamples)) and the power of two the samples and
    replicates were scaled by (the mean only; see :func:`scale_exponent`): the common start of
    the bootstrap entry points."""
    samples, one_d = as_samples(scores, paired=paired, nan_policy=nan_policy)
    exponent = scale_exponent(samples) if statistic == "mean" else 0
    samples = scaled_samples(samples, exponent)
    boot = _replicates(
        samples,
        statistic,
        paired=paired,
        seed=seed_from_rng(rng),
        n_resamples=n_resamples,
        executor=executor,
        progress=progress,
    )
    return samples, one_d, boot, exponent


def bootstrap(
    scores: Any,
    statistic: str | Callable = "mean",
    *,
    paired: bool = True,
    n_resamples: int = 10_000,
    confidence_level: float = 0.95,
    method: Method = "bca",
    nan_policy: str = "raise",
    rng: Any = None,
    executor: Any = None,
    progress: Progress = False,
) -> BootstrapResult:
    """Bootstrap confidence intervals of a statistic for one or many models at once.

    Parameters
    ----------
    scores : array_like
        Per-item scores: a 1-D array (one model), a models × items array, or a list of 1-D
        arrays (models × their items; different lengths need ``paired=False``).
    statistic : {"mean"} or callable, default "mean"
        ``"mean"`` runs entirely in the Rust core. A callable must be vectorised like those of
        :func:`scipy.stats.bootstrap`: ``statistic(x, axis=-1)`` reduces the last axis.
    paired : bool, default True
        Paired: every replicate resamples the items once and applies the resample to all
        models. Unpaired: each model is resampled independently.
    n_resamples : int, default 10000
    confidence_level : float, default 0.95
    method : {"bca", "percentile", "basic"}, default "bca"
        The interval. BCa uses the jackknife for the acceleration (analytic for the mean).
    nan_policy : {"raise", "omit"}, default "raise"
    rng : None, int or numpy.random.Generator
        Seed. The same seed gives the same bits on any number of threads and any executor.
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        Where to compute the chunks of replicates (default: the local thread pool).
    progress : bool or callable, default False
        ``True`` shows a tqdm bar; a callable receives ``(done_chunks, total_chunks)``.

    Returns
    -------
    BootstrapResult
        Arrays of shape (m,) (floats for 1-D ``scores``).

    Notes
    -----
    Memory is O(models × items + models × n_resamples). The interval formulas are those of
    :func:`scipy.stats.bootstrap`, so feeding scipy the same bootstrap distribution gives the
    same interval. Press Ctrl-C to stop a long run (checked between batches of chunks).

    Examples
    --------
    >>> import numpy as np
    >>> from calipers import resample
    >>> scores = np.random.default_rng(0).random((3, 500))
    >>> r = resample.bootstrap(scores, n_resamples=2000, rng=1)
    >>> r.confidence_interval.low.shape
    (3,)
    """
    statistic = _check_statistic(statistic)
    _check_common(n_resamples, confidence_level, method)
    samples, one_d, boot, exponent = _resampled(
        scores, statistic, paired, nan_policy, rng, n_resamples, executor, progress
    )
    if statistic == "mean":
        observed = np.array([s.mean() for s in samples])
        jack = [_jackknife_means(s) for s in samples] if method == "bca" else None
    else:
        observed = np.array([float(statistic(s, axis=-1)) for s in samples])
        jack = [_jackknife_statistic(s, statistic) for s in samples] if method == "bca" else None
    accel = None
    if jack is not None:
        accel = np.array([acceleration([(j, 1.0)]) for j in jack], dtype=np.float64)
    low, high = intervals(
        observed, boot, method=method, confidence_level=confidence_level, accel=accel
    )
    se = boot.std(axis=-1, ddof=1) if n_resamples > 1 else np.full(len(samples), np.nan)
    observed, se, low, high, boot = _unscaled(exponent, observed, se, low, high, boot)

    def shape(x: np.ndarray) -> Any:
        return float(x[0]) if one_d else x

    return BootstrapResult(
        statistic=shape(observed),
        standard_error=shape(se),
        confidence_interval=ConfidenceInterval(shape(low), shape(high)),
        bootstrap_distribution=boot[0] if one_d else boot,
        n_resamples=n_resamples,
        method=method,
        confidence_level=confidence_level,
        paired=paired,
    )


def _unscaled(exponent: int, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """The arrays back in the data's units (multiplied by 2^exponent; unchanged for 0)."""
    if not exponent:
        return arrays
    return tuple(np.ldexp(a, exponent) for a in arrays)


def _bootstrap_pvalue(diff: np.ndarray, boot: np.ndarray) -> np.ndarray:
    """Two-sided p-value of ``difference == 0`` from the bootstrap distribution shifted to the
    null: ``(1 + #{|d* - d| >= |d|}) / (1 + B)``."""
    b = boot.shape[-1]
    extreme = (np.abs(boot - diff[..., None]) >= np.abs(diff)[..., None]).sum(-1)
    return np.minimum(1.0, (1.0 + extreme) / (1.0 + b))


def pairwise_differences(
    scores: Any,
    *,
    paired: bool = True,
    n_resamples: int = 10_000,
    confidence_level: float = 0.95,
    method: Method = "bca",
    correction: Correction = "holm",
    nan_policy: str = "raise",
    rng: Any = None,
    executor: Any = None,
    progress: Progress = False,
) -> PairwiseDifferencesResult:
    """Bootstrap differences of mean scores between every pair of models.

    ``difference[i, j] = mean_i - mean_j`` with its standard error, confidence interval and a
    two-sided p-value, all from one bootstrap of all models (paired by default: the same item
    resample for every model, which is what makes the differences paired).

    Parameters are those of :func:`bootstrap` (the statistic is the mean), and

    correction : {"holm", "bh", "bonferroni", "none"}, default "holm"
        Adjustment of the p-values over the m(m−1)/2 pairs: Holm (family-wise error),
        Benjamini–Hochberg (false discovery rate), Bonferroni, or none.

    Returns
    -------
    PairwiseDifferencesResult
        (m, m) arrays; the p-value is ``(1 + #{|d* - d| >= |d|}) / (1 + n_resamples)``, the
        bootstrap distribution of the difference shifted to the null (Hall & Wilson 1991).

    Notes
    -----
    The mean is linear in the items, so a bootstrap replicate of ``mean_i - mean_j`` is the
    difference of the two models' replicates (paired or not), and so is its jackknife. The
    bootstrap therefore runs once over the models (O(models × items × n_resamples)); each
    pair then costs O(n_resamples): a pass for the standard error and the counts, and two
    selections (no sort) for the interval, in blocks of pairs. Memory: the replicates
    (models × n_resamples floats), six (m, m) output arrays, and O(block × n_resamples)
    scratch per thread. 4,280 models × 100 items × 1,000 resamples (9.2 million pairs) take
    about 1.5 GB.
    """
    _check_common(n_resamples, confidence_level, method)
    correction = _check_correction(correction)
    m_rows = _count_models(scores)
    check_memory(
        8.0 * 7 * m_rows * m_rows,
        "scores",
        "compare fewer models at once (the result holds several models × models arrays)",
    )
    samples, _, boot, exponent = _resampled(
        scores, "mean", paired, nan_policy, rng, n_resamples, executor, progress
    )
    means = np.array([s.mean() for s in samples])
    m = len(samples)
    influence = _influence_rows(samples) if method == "bca" else None
    diff = means[:, None] - means[None, :]
    se = np.zeros((m, m))
    low, high = np.zeros((m, m)), np.zeros((m, m))
    pvalue = np.ones((m, m))
    degenerate = False
    for first, second in _pair_blocks(m):
        block = _pair_block_summaries(
            boot, diff[first, second], first, second, method, confidence_level, influence, paired
        )
        se[first, second] = se[second, first] = block.se
        low[first, second], high[first, second] = block.low, block.high
        low[second, first], high[second, first] = -block.high, -block.low
        pvalue[first, second] = pvalue[second, first] = block.pvalue
        degenerate |= block.degenerate
    if degenerate:
        _warn_degenerate(stacklevel=3)
    with np.errstate(over="ignore"):  # a difference beyond the float range is honestly ±inf
        diff, se, low, high = _unscaled(exponent, diff, se, low, high)
    return PairwiseDifferencesResult(
        difference=diff,
        standard_error=se,
        confidence_interval=ConfidenceInterval(low, high),
        pvalue=pvalue,
        n_resamples=n_resamples,
        method=method,
        confidence_level=confidence_level,
        paired=paired,
        pvalue_adjusted=_adjust_pairs(pvalue, correction),
        correction=correction,
    )


_PAIRS_PER_BLOCK = 1 << 18  # pairs summarised per core call (bounds the per-block arrays)


def _check_correction(correction: Any) -> Correction:
    if correction not in ("holm", "bh", "bonferroni", "none"):
        raise InvalidArgumentError(
            f"correction: got {correction!r}; use 'holm', 'bh', 'bonferroni' or 'none'"
        )
    return cast(Correction, str(correction))


def _count_models(scores: Any) -> int:
    """The number of models in ``scores`` without converting it (for a memory check first)."""
    if isinstance(scores, list | tuple) and any(
        ndim_of(s, f"scores[{k}]") >= 1 for k, s in enumerate(scores)
    ):
        return len(scores)
    try:
        shape = np.shape(scores)
    except ValueError:  # ragged: the validation reports it
        return 1
    return int(shape[0]) if len(shape) == 2 else 1


def _pair_blocks(m: int):
    """The pairs (i, j), i < j, in row order, as blocks of (first, second) uint32 arrays."""
    row = 0
    while row < m - 1:
        rows, count = [], 0
        while row < m - 1 and (count == 0 or count + (m - 1 - row) <= _PAIRS_PER_BLOCK):
            rows.append(row)
            count += m - 1 - row
            row += 1
        lengths = np.array([m - 1 - r for r in rows])
        first = np.repeat(np.array(rows, dtype=np.uint32), lengths)
        starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        second = (np.arange(count) - starts + np.repeat(np.array(rows) + 1, lengths)).astype(
            np.uint32
        )
        yield first, second


def _influence_rows(samples: list[np.ndarray]) -> list[np.ndarray]:
    """Per model, the jackknife influence values ``(n - 1)(mean(jack) - jack)`` of the mean,
    the ``U`` of :func:`acceleration`."""
    out = []
    for s in samples:
        jack = _jackknife_means(s)
        out.append(np.ascontiguousarray((len(s) - 1) * (jack.mean() - jack)))
    return out


@dataclass
class _PairBlock:
    se: np.ndarray
    low: np.ndarray
    high: np.ndarray
    pvalue: np.ndarray
    degenerate: bool


def _pair_block_summaries(
    boot, observed, first, second, method, confidence_level, influence, paired
) -> _PairBlock:
    """Standard errors, intervals and p-values of one block of pairs from the models'
    replicates (the formulas of :func:`intervals` and :func:`_bootstrap_pvalue`)."""
    b = boot.shape[-1]
    observed = np.ascontiguousarray(observed)
    mean, sd, below, at_or_below, extreme = _core.pair_moments(
        replicates=boot, first=first, second=second, observed=observed
    )
    pvalue = np.minimum(1.0, (1.0 + extreme) / (1.0 + b))
    se = sd if b > 1 else np.full(len(sd), np.nan)
    alpha = (1.0 - confidence_level) / 2.0
    degenerate = False
    if method in ("percentile", "basic"):
        q_low = np.full(len(first), 100 * alpha / 100)
        q_high = np.full(len(first), 100 * (1 - alpha) / 100)
    else:
        z0 = scipy.special.ndtri((below + at_or_below) / (2 * b))
        accel = _core.pair_acceleration(
            influence=influence, paired=paired, first=first, second=second
        )
        z_lo, z_hi = scipy.special.ndtri(alpha), scipy.special.ndtri(1 - alpha)
        with np.errstate(divide="ignore", invalid="ignore"):
            a1 = scipy.special.ndtr(z0 + (z0 + z_lo) / (1 - accel * (z0 + z_lo)))
            a2 = scipy.special.ndtr(z0 + (z0 + z_hi) / (1 - accel * (z0 + z_hi)))
        undefined = ~(np.isfinite(a1) & np.isfinite(a2))
        degenerate = bool(undefined.any())
        # numpy's percentile divides 100 * p by 100 again: the same rounding here
        q_low = np.where(undefined, np.nan, 100 * a1 / 100)
        q_high = np.where(undefined, np.nan, 100 * a2 / 100)
    low, high = _core.pair_quantiles(
        replicates=boot,
        first=first,
        second=second,
        low_q=q_low,
        low_hint=_selection_hint(q_low, mean, sd, b),
        high_q=q_high,
        high_hint=_selection_hint(q_high, mean, sd, b),
    )
    if method == "basic":
        low, high = 2 * observed - high, 2 * observed - low
    return _PairBlock(se, low, high, pvalue, degenerate)


def _selection_hint(q: np.ndarray, mean: np.ndarray, sd: np.ndarray, b: int) -> np.ndarray:
    """A value just beyond each pair's q-quantile (towards the median) from a normal
    approximation of its replicates with a wide margin (6 binomial standard deviations of the
    count below it): the core then selects among the few tens of values in the tail instead
    of all B. Only speed depends on it; the quantile is exact whatever the hint."""
    margin = 6.0 * np.sqrt(q * (1.0 - q) / b) + 4.0 / b
    toward_median = np.where(q <= 0.5, np.minimum(q + margin, 1.0), np.maximum(q - margin, 0.0))
    with np.errstate(invalid="ignore"):
        return np.ascontiguousarray(mean + sd * scipy.special.ndtri(toward_median))


def _adjust_pairs(pvalue: np.ndarray, correction: str) -> np.ndarray:
    """Adjusted p-values over the m(m−1)/2 unordered pairs of a symmetric matrix (diagonal 1)."""
    m = pvalue.shape[0]
    out = np.ones((m, m))
    blocks = list(_pair_blocks(m))
    if not blocks:
        return out
    adjusted = adjust(np.concatenate([pvalue[f, s] for f, s in blocks]), correction)
    start = 0
    for first, second in blocks:
        part = adjusted[start : start + len(first)]
        out[first, second] = out[second, first] = part
        start += len(first)
    return out


def permutation_pvalue(null: np.ndarray, observed: float, alternative: str) -> float:
    """Randomised permutation p-value with scipy's relative tolerance for ties."""
    gamma = abs(1e-14 * observed)
    b = len(null)
    less = ((null <= observed + gamma).sum() + 1) / (b + 1)
    greater = ((null >= observed - gamma).sum() + 1) / (b + 1)
    if alternative == "less":
        return float(less)
    if alternative == "greater":
        return float(greater)
    return float(min(1.0, 2 * min(less, greater)))


def permutation_test(
    x: ArrayLike,
    y: ArrayLike,
    *,
    paired: bool = True,
    n_resamples: int = 10_000,
    alternative: Alternative = "two-sided",
    rng: Any = None,
    executor: Any = None,
    progress: Progress = False,
) -> PermutationTestResult:
    """Permutation test for a difference of means.

    Paired (``x[i]`` and ``y[i]`` score the same item): random sign flips of the differences
    ``x - y`` (the exchangeability of each pair under the null). Unpaired: random relabelling
    of the pooled scores into groups of the original sizes.

    Parameters
    ----------
    x, y : array_like, 1-D
    paired : bool, default True
    n_resamples : int, default 10000
    alternative : {"two-sided", "less", "greater"}
        "greater": the mean of ``x`` exceeds that of ``y``.
    rng, executor, progress
        As in :func:`bootstrap`.

    Notes
    -----
    The test is always randomised (scipy switches to exact enumeration when it has fewer
    permutations than ``n_resamples``; with the same null distribution the p-values agree).
    """
    _check_common(n_resamples, None, None)
    if alternative not in ("two-sided", "less", "greater"):
        raise InvalidArgumentError(
            f"alternative: got {alternative!r}; use 'two-sided', 'less' or 'greater'"
        )
    xs = as_float_array(x, "x", ndim=1)
    ys = as_float_array(y, "y", ndim=1)
    for arr, name in ((xs, "x"), (ys, "y")):
        if len(arr) == 0:
            raise ShapeError(f"{name}: is empty; pass at least one score")
    check_memory(
        8.0 * n_resamples, "n_resamples", "pass fewer resamples (the null distribution is kept)"
    )
    seed = seed_from_rng(rng)
    # the p-value is scale-invariant: extreme data are tested at the unit scale
    exponent = scale_exponent([xs, ys])
    xs, ys = scaled_samples([xs, ys], exponent)
    args: tuple[np.ndarray, ...]
    if paired:
        if len(xs) != len(ys):
            raise ShapeError(
                f"x has {len(xs)} scores but y has {len(ys)}; paired samples need one score "
                "per item in each (pass paired=False for independent samples)"
            )
        d = np.ascontiguousarray(xs - ys)
        observed = float(d.mean())
        kernel, args = "permutation_null_paired", (d,)
    else:
        observed = float(xs.mean() - ys.mean())
        kernel, args = "permutation_null_unpaired", (xs, ys)
    null = run_chunked(
        kernel,
        args,
        seed=seed,
        n_resamples=n_resamples,
        executor=executor,
        progress=progress,
        desc="permutations",
    )
    pvalue = permutation_pvalue(null, observed, alternative)
    with np.errstate(over="ignore"):  # a difference beyond the float range is honestly ±inf
        observed_units, null = _unscaled(exponent, np.asarray(observed), null)
    return PermutationTestResult(
        statistic=float(observed_units),
        pvalue=pvalue,
        null_distribution=null,
        n_resamples=n_resamples,
        alternative=alternative,
        paired=paired,
    )


def rank_probabilities(boot: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """(m, m) P(model has rank k) from replicates (m, B), splitting ties evenly.

    The core sorts the models once per replicate (in parallel) and spreads each tie group's
    share 1 / (group size) over its ranks with a difference array per model: memory is the
    (m, m) result plus 8 bytes per model and replicate.
    """
    return _core.rank_probabilities(np.ascontiguousarray(boot, dtype=np.float64), higher_is_better)


def rank_distribution(
    scores: Any,
    *,
    paired: bool = True,
    n_resamples: int = 10_000,
    higher_is_better: bool = True,
    nan_policy: str = "raise",
    rng: Any = None,
    executor: Any = None,
    progress: Progress = False,
) -> RankDistributionResult:
    """Bootstrap distribution of each model's rank by mean score.

    Parameters
    ----------
    scores : array_like
        Models × items (or a list of 1-D arrays with ``paired=False``).
    higher_is_better : bool, default True
        Rank 1 goes to the highest mean (the lowest when False).
    Other parameters are those of :func:`bootstrap`.

    Returns
    -------
    RankDistributionResult
        ``probabilities[model, k - 1]`` = P(rank k), ``p_best``, ``expected_rank``.
    """
    _check_common(n_resamples, None, None)
    samples, _, boot, _ = _resampled(
        scores, "mean", paired, nan_policy, rng, n_resamples, executor, progress
    )
    probs = rank_probabilities(boot, higher_is_better)
    ranks = np.arange(1, len(samples) + 1)
    return RankDistributionResult(
        probabilities=probs,
        p_best=probs[:, 0].copy(),
        expected_rank=probs @ ranks,
        n_resamples=n_resamples,
        higher_is_better=higher_is_better,
        paired=paired,
    )
