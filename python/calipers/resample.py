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

import concurrent.futures
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.special
import scipy.stats

from . import _core
from ._results import ConfidenceInterval, Result
from ._validation import as_float_array, check_nan_policy, check_scalar, seed_from_rng
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
Progress = bool | Callable[[int, int], Any] | None

_MAX_PARTS = 16  # tasks submitted to an executor (results never depend on it)
_BATCH_ELEMENTS = 1 << 22  # float64 elements materialised at once for a user statistic


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
    if isinstance(scores, list | tuple) and any(np.ndim(s) >= 1 for s in scores):
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
        check_scalar(
            confidence_level,
            "confidence_level",
            low=0.0,
            high=1.0,
            low_inclusive=False,
            high_inclusive=False,
        )
    if method is not None and method not in ("bca", "percentile", "basic"):
        raise InvalidArgumentError(f"method: got {method!r}; use 'bca', 'percentile' or 'basic'")


# ----------------------------------------------------------------------------------------------
# Chunked execution: local (threads in the core) or on an executor


def chunk_task(kernel: str, args: tuple, seed: int, n_resamples: int, start: int, end: int):
    """Compute chunks ``start..end`` of a core kernel (picklable: runs on executor workers)."""
    args = tuple(_aligned(a) for a in args)
    if kernel == "statistic":
        return _statistic_chunks(*args, seed, n_resamples, start, end)
    return getattr(_core, kernel)(*args, seed, n_resamples, start, end)


def _aligned(arg: Any) -> Any:
    """Arrays as C-contiguous, aligned float64 (deserialised buffers may be neither)."""
    if isinstance(arg, np.ndarray) and arg.dtype == np.float64:
        return np.require(arg, requirements=["C", "A"])
    if isinstance(arg, list):
        return [_aligned(a) for a in arg]
    return arg


def _progress_callback(progress: Progress, total: int, desc: str):
    """(callback or None, tqdm bar or None) for ``progress``."""
    if progress is None or progress is False:
        return None, None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=desc, unit="chunk")

        def update(done: int, _total: int) -> None:
            bar.update(done - bar.n)

        return update, bar
    if callable(progress):
        return progress, None
    raise InvalidArgumentError(
        f"progress: expected a bool or a callable(done, total), got {type(progress).__name__}"
    )


def _as_executor(executor: Any) -> concurrent.futures.Executor:
    if isinstance(executor, concurrent.futures.Executor):
        return executor
    if hasattr(executor, "get_executor"):  # dask.distributed.Client
        return executor.get_executor()
    raise InvalidArgumentError(
        "executor: expected a concurrent.futures.Executor or a dask.distributed.Client, got "
        f"{type(executor).__name__}"
    )


def run_chunked(
    kernel: str,
    args: tuple,
    *,
    seed: int,
    n_resamples: int,
    executor: Any = None,
    progress: Progress = False,
    desc: str = "bootstrap",
) -> np.ndarray:
    """Run ``kernel`` over all chunks and concatenate the results in chunk order (axis 0)."""
    _, n_chunks = _core.resample_chunking(n_resamples)
    callback, bar = _progress_callback(progress, n_chunks, desc)
    try:
        if executor is None:
            if kernel == "statistic":
                return _statistic_chunks(*args, seed, n_resamples, 0, n_chunks, callback)
            return getattr(_core, kernel)(*args, seed, n_resamples, 0, n_chunks, callback)
        return _run_on_executor(
            _as_executor(executor), kernel, args, seed, n_resamples, n_chunks, callback
        )
    finally:
        if bar is not None:
            bar.close()


def _run_on_executor(ex, kernel, args, seed, n_resamples, n_chunks, callback) -> np.ndarray:
    n_parts = min(n_chunks, _MAX_PARTS)
    bounds = np.linspace(0, n_chunks, n_parts + 1).round().astype(int)
    futures = {
        ex.submit(chunk_task, kernel, args, seed, n_resamples, int(a), int(b)): (int(a), int(b))
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    }
    parts: dict[int, np.ndarray] = {}
    done_chunks = 0
    try:
        for fut in concurrent.futures.as_completed(futures):
            a, b = futures[fut]
            parts[a] = np.asarray(fut.result())
            done_chunks += b - a
            if callback is not None:
                callback(done_chunks, n_chunks)
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise
    return np.concatenate([parts[a] for a in sorted(parts)], axis=0)


def _statistic_chunks(
    samples: list[np.ndarray],
    paired: bool,
    statistic: Callable,
    seed: int,
    n_resamples: int,
    start: int,
    end: int,
    callback: Callable | None = None,
) -> np.ndarray:
    """Replicates (r, m) of a user statistic on the core's resample indices for chunks."""
    sizes = [len(samples[0])] if paired else [len(s) for s in samples]
    per_replicate = sum(sizes)
    chunk, _ = _core.resample_chunking(n_resamples)
    step = max(1, _BATCH_ELEMENTS // (chunk * per_replicate * (len(samples) if paired else 1)))
    out = []
    for a in range(start, end, step):
        b = min(a + step, end)
        idx = _core.bootstrap_indices(sizes, seed, n_resamples, a, b)
        idx = idx.reshape(-1, per_replicate)
        cols = []
        offset = 0
        for k, s in enumerate(samples):
            if paired:
                take = idx
            else:
                take = idx[:, offset : offset + sizes[k]]
                offset += sizes[k]
            cols.append(np.asarray(statistic(s[take], axis=-1), dtype=np.float64))
        out.append(np.stack(cols, axis=-1))
        if callback is not None:
            callback(b - start, end - start)
    return np.concatenate(out, axis=0) if out else np.empty((0, len(samples)))


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
        warnings.warn(
            "the bootstrap distribution is degenerate (e.g. constant scores), so the BCa "
            "interval is undefined and reported as NaN; use method='percentile'",
            DegenerateDataWarning,
            stacklevel=3,
        )
    return lo.reshape(z0.shape), hi.reshape(z0.shape)


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


def _check_statistic(statistic: Any) -> str | Callable:
    if statistic == "mean" or callable(statistic):
        return statistic
    raise InvalidArgumentError(
        f"statistic: got {statistic!r}; use 'mean' or a vectorised callable f(x, axis=-1)"
    )


def _resampled(scores, statistic, paired, nan_policy, rng, n_resamples, executor, progress):
    """Validated samples, whether the input was 1-D, and the bootstrap replicates of
    ``statistic`` (shape (n_resamples, models)): the common start of the bootstrap entry points."""
    samples, one_d = as_samples(scores, paired=paired, nan_policy=nan_policy)
    boot = _replicates(
        samples,
        statistic,
        paired=paired,
        seed=seed_from_rng(rng),
        n_resamples=n_resamples,
        executor=executor,
        progress=progress,
    )
    return samples, one_d, boot


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
    samples, one_d, boot = _resampled(
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
    nan_policy: str = "raise",
    rng: Any = None,
    executor: Any = None,
    progress: Progress = False,
) -> PairwiseDifferencesResult:
    """Bootstrap differences of mean scores between every pair of models.

    ``difference[i, j] = mean_i - mean_j`` with its standard error, confidence interval and a
    two-sided p-value, all from one bootstrap of all models (paired by default: the same item
    resample for every model, which is what makes the differences paired).

    Parameters are those of :func:`bootstrap` (the statistic is the mean).

    Returns
    -------
    PairwiseDifferencesResult
        (m, m) arrays; the p-value is ``(1 + #{|d* - d| >= |d|}) / (1 + n_resamples)``, the
        bootstrap distribution of the difference shifted to the null (Hall & Wilson 1991).
    """
    _check_common(n_resamples, confidence_level, method)
    samples, _, boot = _resampled(
        scores, "mean", paired, nan_policy, rng, n_resamples, executor, progress
    )
    means = np.array([s.mean() for s in samples])
    m = len(samples)
    jack = [_jackknife_means(s) for s in samples]
    diff = means[:, None] - means[None, :]
    se = np.zeros((m, m))
    low, high = np.zeros((m, m)), np.zeros((m, m))
    pvalue = np.ones((m, m))
    for i in range(m):
        d_boot = boot[i][None, :] - boot[i + 1 :]  # (m - i - 1, B): model i minus each later j
        if d_boot.shape[0] == 0:
            continue
        d_obs = diff[i, i + 1 :]
        accel = None
        if method == "bca":
            if paired:
                sets = [[(jack[i] - jack[j], 1.0)] for j in range(i + 1, m)]
            else:
                sets = [[(jack[i], 1.0), (jack[j], -1.0)] for j in range(i + 1, m)]
            accel = np.array([acceleration(s) for s in sets], dtype=np.float64)
        lo, hi = intervals(
            d_obs, d_boot, method=method, confidence_level=confidence_level, accel=accel
        )
        s = d_boot.std(axis=-1, ddof=1) if n_resamples > 1 else np.full(len(d_obs), np.nan)
        p = _bootstrap_pvalue(d_obs, d_boot)
        js = np.arange(i + 1, m)
        se[i, js] = se[js, i] = s
        low[i, js], high[i, js] = lo, hi
        low[js, i], high[js, i] = -hi, -lo
        pvalue[i, js] = pvalue[js, i] = p
    return PairwiseDifferencesResult(
        difference=diff,
        standard_error=se,
        confidence_interval=ConfidenceInterval(low, high),
        pvalue=pvalue,
        n_resamples=n_resamples,
        method=method,
        confidence_level=confidence_level,
        paired=paired,
    )


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
    x: Any,
    y: Any,
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
    seed = seed_from_rng(rng)
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
    return PermutationTestResult(
        statistic=observed,
        pvalue=permutation_pvalue(null, observed, alternative),
        null_distribution=null,
        n_resamples=n_resamples,
        alternative=alternative,
        paired=paired,
    )


def rank_probabilities(boot: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """(m, m) P(model has rank k) from replicates (m, B), splitting ties evenly."""
    m, b = boot.shape
    values = -boot.T if higher_is_better else boot.T  # (B, m), smaller is better
    low = scipy.stats.rankdata(values, method="min", axis=1).astype(np.int64)  # 1-based
    high = scipy.stats.rankdata(values, method="max", axis=1).astype(np.int64)
    share = 1.0 / (high - low + 1)
    # difference array over ranks: +share at low, -share after high, then cumulative sum
    acc = np.zeros((m, m + 1))
    models = np.broadcast_to(np.arange(m), (b, m))
    np.add.at(acc, (models.ravel(), (low - 1).ravel()), share.ravel())
    np.add.at(acc, (models.ravel(), high.ravel()), -share.ravel())
    return np.cumsum(acc, axis=1)[:, :m] / b


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
    samples, _, boot = _resampled(
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
