"""Evaluating a model with weak labels only: sharp (Fréchet) bounds on its metrics.

With no ground-truth labels, a model's accuracy is not identified: what is known is the joint
distribution of its predictions and the weak labels Z (from the evaluation sample) and P(Y | Z)
(from a label model or, better, a small labelled calibration set). How Y and the prediction
couple given Z is unknown, so the metric lies in an interval, the identified set. Every value in
the interval is consistent with everything observable; the bounds are sharp.

Method: Maia Polo et al., "Weak supervision performance evaluation via partial identification"
(NeurIPS 2024, arXiv 2312.04601). Conditioning on the weak-label pattern z, each bound is an
optimal-transport problem between the distribution of the predictions in pattern z and q(z) =
P(Y | z). For metrics of a discrete prediction (accuracy, precision, recall, F1) it has a closed
form (calipers' simplification of the paper's dual, exact and O(n)); for a general g(x, y) the
K = 2 case is exact by sorting and K > 2 uses the paper's entropic dual, solved per pattern by
Newton in the Rust core.

The bounds are only as valid as P(Y | Z): a label model that assumes conditionally independent
labelling functions (Dawid–Skene, Snorkel) gives narrow and *wrong* bounds when the weak labels are
correlated LLM judges. Estimate P(Y | Z) on a labelled calibration set when you can
(:func:`p_y_given_z_from_labels`) and look at the ``delta`` sensitivity.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Literal

import numpy as np
from scipy import stats

from . import _core
from ._results import ConfidenceInterval, Result
from ._validation import ArrayLike, as_float_array, check_open_unit, check_scalar, seed_from_rng
from .exceptions import InvalidArgumentError, NumericalError, ShapeError

__all__ = [
    "FrechetBounds",
    "GeneralFrechetBounds",
    "dawid_skene",
    "encode_patterns",
    "frechet_bounds",
    "frechet_bounds_general",
    "p_y_given_z_from_labels",
]

Metric = Literal["accuracy", "precision", "recall", "f1"]
_METRICS = ("accuracy", "precision", "recall", "f1")
_PROBABILITY_TOL = 1e-6
# Mean number of evaluation rows per pattern below which the plug-in P(z, yhat) is too noisy.
_FEW_ROWS_PER_PATTERN = 5
_MAX_RESAMPLES = 10_000_000
# |G| beyond this (or below its inverse) is rescaled first: the bounds are positively
# homogeneous in g, and exp((g + a)/eps) must not overflow.
_RESCALE_ABOVE = 1e100


@dataclasses.dataclass(frozen=True, repr=False)
class FrechetBounds(Result):
    """Sharp bounds on a metric from weak labels.

    ``lower``/``upper`` bound the metric; ``lower_ci``/``upper_ci`` are bootstrap percentile
    intervals of each bound over evaluation rows (None when ``n_resamples=0``), so
    ``(lower_ci.low, upper_ci.high)`` covers the identified set with the stated level.
    ``pattern_lower``/``pattern_upper`` are the per-pattern bounds of the numerator (the
    accuracy, or P(Yhat=1, Y=1) for precision/recall/F1), NaN for patterns absent from the
    evaluation rows.
    """

    lower: float
    upper: float
    metric: str
    delta: float
    lower_ci: ConfidenceInterval | None
    upper_ci: ConfidenceInterval | None
    confidence_level: float
    n_patterns: int
    pattern_lower: np.ndarray
    pattern_upper: np.ndarray


@dataclasses.dataclass(frozen=True, repr=False)
class GeneralFrechetBounds(Result):
    """Bounds on E[g(X, Y)] for a general g.

    ``method`` is ``"sort"`` (K = 2: exact) or ``"entropic"`` (K > 2: each bound is on the
    conservative side of the sharp one, by at most ``smoothing_gap`` = eps·log K).
    ``lower_ci``/``upper_ci`` are normal intervals from the per-row summands (the paper's
    interval; they ignore the error in P(Y | Z)). ``dual_lower``/``dual_upper`` are the
    n_patterns × K dual variables (entropic method only, else None).
    """

    lower: float
    upper: float
    method: str
    eps: float
    smoothing_gap: float
    converged: bool
    lower_ci: ConfidenceInterval
    upper_ci: ConfidenceInterval
    confidence_level: float
    dual_lower: np.ndarray | None
    dual_upper: np.ndarray | None


# ---------------------------------------------------------------------------------------------
# Input checks


def _as_int_array(x: Any, name: str, *, ndim: int | tuple[int, ...], low: int) -> np.ndarray:
    """Integer-valued array (given as ints or floats) with every value >= ``low``."""
    arr = as_float_array(x, name, ndim=ndim)
    if np.any(arr != np.round(arr)):
        bad = tuple(int(i) for i in np.argwhere(arr != np.round(arr))[0])
        raise InvalidArgumentError(
            f"{name}: has a non-integer value at index {bad[0] if len(bad) == 1 else bad}; "
            "pass integer labels"
        )
    if np.any(arr < low):
        raise InvalidArgumentError(
            f"{name}: has values below {low} (smallest {arr.min():g}); labels are 0..K-1"
            + (" and -1 for an abstention" if low == -1 else "")
        )
    if np.any(arr > np.iinfo(np.int64).max / 2):
        raise InvalidArgumentError(f"{name}: has values too large to be labels")
    return arr.astype(np.int64)


def _check_conditional(p_y_given_z: Any) -> np.ndarray:
    """P(Y | z) as an n_patterns × K matrix of probability rows."""
    q = as_float_array(p_y_given_z, "p_y_given_z", ndim=2)
    if q.shape[1] < 2:
        raise ShapeError(
            f"p_y_given_z: has {q.shape[1]} column(s); pass one column per label (K >= 2)"
        )
    if np.any(q < 0):
        row = int(np.argwhere(q < 0)[0][0])
        raise InvalidArgumentError(f"p_y_given_z: row {row} has a negative probability")
    sums = q.sum(axis=1)
    bad = np.abs(sums - 1.0) > _PROBABILITY_TOL
    if bad.any():
        row = int(np.argmax(bad))
        raise InvalidArgumentError(
            f"p_y_given_z: row {row} sums to {sums[row]:.6g}, not 1; each row is P(Y | pattern) "
            "and must sum to 1"
        )
    return q / sums[:, None]


def _check_patterns(z: Any, n_patterns: int) -> np.ndarray:
    zi = _as_int_array(z, "z", ndim=1, low=0)
    if zi.max() >= n_patterns:
        raise InvalidArgumentError(
            f"z: has pattern {int(zi.max())} but p_y_given_z has {n_patterns} rows; z indexes "
            "the rows of p_y_given_z (use encode_patterns)"
        )
    return zi


def _warn_if_sparse(z: np.ndarray) -> None:
    n_seen = np.unique(z).size
    if z.size < _FEW_ROWS_PER_PATTERN * n_seen:
        warnings.warn(
            f"z: {n_seen} weak-label patterns for {z.size} rows (fewer than "
            f"{_FEW_ROWS_PER_PATTERN} rows per pattern on average); the plug-in bounds are "
            "noisy and biased inward. Use fewer weak labels or more evaluation rows.",
            UserWarning,
            stacklevel=3,
        )


# ---------------------------------------------------------------------------------------------
# Patterns and P(Y | Z)


def encode_patterns(L: Any) -> tuple[np.ndarray, np.ndarray]:
    """Index each row of weak labels by its pattern.

    Parameters
    ----------
    L : array_like, shape (n, m) or (n,)
        Weak labels, integers in 0..K-1, with -1 for an abstention. A 1-D array is one
        labelling function.

    Returns
    -------
    z : ndarray of int64, shape (n,)
        The pattern of each row (a row index into ``patterns``).
    patterns : ndarray of int64, shape (n_patterns, m)
        The distinct rows of ``L``, in lexicographic order.

    Examples
    --------
    >>> z, patterns = encode_patterns([[0, -1], [1, 1], [0, -1]])
    >>> z.tolist(), patterns.tolist()
    ([0, 1, 0], [[0, -1], [1, 1]])
    """
    labels = _as_int_array(L, "L", ndim=(1, 2), low=-1)
    if labels.ndim == 1:
        labels = labels[:, None]
    if labels.shape[1] == 0:
        raise ShapeError("L: has no columns; pass one column per labelling function")
    patterns, z = np.unique(labels, axis=0, return_inverse=True)
    return z.reshape(-1).astype(np.int64), patterns


def p_y_given_z_from_labels(
    z: ArrayLike,
    y: ArrayLike,
    n_classes: int,
    *,
    n_patterns: int | None = None,
    smoothing: float = 0.0,
) -> np.ndarray:
    """Estimate P(Y | z) from a labelled calibration set (the recommended workflow).

    Parameters
    ----------
    z : array_like of int, shape (n,)
        Pattern of each labelled row (from :func:`encode_patterns` on all rows, so that the
        indices agree with the evaluation rows).
    y : array_like of int, shape (n,)
        True labels in 0..n_classes-1.
    n_classes : int
        K, the number of labels.
    n_patterns : int, optional
        Number of patterns (rows of the result); default ``max(z) + 1``.
    smoothing : float, default 0
        Added to every count (Laplace smoothing).

    Returns
    -------
    ndarray, shape (n_patterns, n_classes)
        Row z is the conditional distribution of Y in pattern z. A pattern with no labelled
        row (and no smoothing) gets the marginal distribution of Y, with a warning: nothing
        about it is known, and the bounds of its rows then rest on that guess.
    """
    k = check_scalar(n_classes, "n_classes", kind=int, low=2, high=1_000_000)
    smooth = check_scalar(smoothing, "smoothing", low=0.0)
    zi = _as_int_array(z, "z", ndim=1, low=0)
    yi = _as_int_array(y, "y", ndim=1, low=0)
    if yi.shape != zi.shape:
        raise ShapeError(f"y: has length {yi.size} but z has {zi.size}; pass one label per row")
    if yi.max() >= k:
        raise InvalidArgumentError(
            f"y: has label {int(yi.max())}, outside 0..{k - 1}; raise n_classes or recode y"
        )
    n_pat = int(zi.max()) + 1 if n_patterns is None else n_patterns
    n_pat = check_scalar(n_pat, "n_patterns", kind=int, low=int(zi.max()) + 1, high=10**8)
    counts = np.zeros((n_pat, k))
    np.add.at(counts, (zi, yi), 1.0)
    counts += smooth
    totals = counts.sum(axis=1)
    empty = totals == 0
    if empty.any():
        warnings.warn(
            f"z: {int(empty.sum())} pattern(s) have no labelled row; they get the marginal "
            "P(Y) (pass smoothing > 0 or label rows of every pattern)",
            UserWarning,
            stacklevel=2,
        )
        counts[empty] = np.bincount(yi, minlength=k) / yi.size
        totals = counts.sum(axis=1)
    return counts / totals[:, None]


def dawid_skene(
    L: Any, n_classes: int, *, max_iter: int = 200, tol: float = 1e-8, smoothing: float = 0.01
) -> np.ndarray:
    """P(Y | pattern) from an unsupervised Dawid–Skene label model.

    .. warning::
       Dawid–Skene assumes the labelling functions err independently given Y. Weak labels that
       are LLM judges are correlated and share biases; the posterior is then over-confident and
       the Fréchet bounds built on it are narrow and wrong. On HANNA (4 open LLM judges, binary
       "human mean >= 3"), bounds on ChatGPT's accuracy from this model miss the true accuracy
       for all six criteria, while bounds from P(Y | Z) estimated on labelled rows contain it
       (see the user guide). Prefer :func:`p_y_given_z_from_labels`.

    Parameters
    ----------
    L : array_like, shape (n, m)
        Weak labels in 0..n_classes-1, -1 = abstain.
    n_classes : int
        K.
    max_iter, tol : int, float
        EM stops after ``max_iter`` iterations or when no posterior moves by more than ``tol``.
    smoothing : float, default 0.01
        Pseudo-count added to every confusion-matrix cell and class count (keeps the EM away
        from log 0).

    Returns
    -------
    ndarray, shape (n_patterns, n_classes)
        P(Y | z) for the patterns of :func:`encode_patterns` (same order), so
        ``frechet_bounds(yhat, z, dawid_skene(L, K))`` with ``z, _ = encode_patterns(L)``.
    """
    k = check_scalar(n_classes, "n_classes", kind=int, low=2, high=100_000)
    iters = check_scalar(max_iter, "max_iter", kind=int, low=1, high=10**7)
    tolerance = check_scalar(tol, "tol", low=0.0)
    smooth = check_scalar(smoothing, "smoothing", low=0.0, low_inclusive=False)
    z, patterns = encode_patterns(L)
    if patterns.max() >= k:
        raise InvalidArgumentError(
            f"L: has label {int(patterns.max())}, outside 0..{k - 1}; raise n_classes or recode L"
        )
    weight = np.bincount(z, minlength=patterns.shape[0]).astype(float)
    # One-hot votes per pattern (n_patterns, m, K); abstentions are all-zero rows.
    votes = np.zeros((*patterns.shape, k))
    p_idx, j_idx = np.nonzero(patterns >= 0)
    votes[p_idx, j_idx, patterns[p_idx, j_idx]] = 1.0
    # Start from the (soft) majority vote, uniform where every function abstains.
    post = votes.sum(axis=1) + 1e-3
    post /= post.sum(axis=1, keepdims=True)
    for _ in range(iters):
        prior = (weight @ post + smooth) / (weight.sum() + k * smooth)
        # conf[j, y, l] = P(LF j says l | Y = y), over non-abstaining votes
        conf = np.einsum("p,py,pjl->jyl", weight, post, votes) + smooth
        conf /= conf.sum(axis=2, keepdims=True)
        log_post = np.log(prior) + np.einsum("pjl,jyl->py", votes, np.log(conf))
        log_post -= log_post.max(axis=1, keepdims=True)
        new = np.exp(log_post)
        new /= new.sum(axis=1, keepdims=True)
        moved = np.abs(new - post).max()
        post = new
        if moved < tolerance:
            break
    return post


# ---------------------------------------------------------------------------------------------
# Closed-form bounds for metrics of a discrete prediction


def _cell_probabilities(z: np.ndarray, yhat: np.ndarray, n_patterns: int, k: int) -> np.ndarray:
    """Empirical P(z, yhat) as an n_patterns × K matrix."""
    return np.bincount(z * k + yhat, minlength=n_patterns * k).reshape(n_patterns, k) / z.size


def _accuracy_pattern_bounds(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pattern min/max of P(Yhat = Y) over couplings of p = P(Yhat|z) and q = P(Y|z)."""
    upper = np.minimum(p, q).sum(axis=1)
    lower = np.maximum(0.0, (p + q - 1.0).max(axis=1))
    return lower, upper


def _p11_pattern_bounds(p1: np.ndarray, q1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pattern min/max of P(Yhat = 1, Y = 1 | z)."""
    return np.maximum(0.0, p1 + q1 - 1.0), np.minimum(p1, q1)


def _bounds_from_cells(
    cells: np.ndarray, q: np.ndarray, metric: str, delta: float
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Bounds of ``metric`` from P(z, yhat) (``cells``) and P(Y|z); also per-pattern bounds."""
    pz = cells.sum(axis=1)
    seen = pz > 0
    p = np.divide(cells, pz[:, None], out=np.zeros_like(cells), where=seen[:, None])
    if metric == "accuracy":
        lo, hi = _accuracy_pattern_bounds(p, q)
        # delta: P(Y|z) is anywhere within total variation delta of q (valid outer bounds).
        lo, hi = np.maximum(0.0, lo - delta), np.minimum(1.0, hi + delta)
        return float(pz @ lo), float(pz @ hi), lo, hi
    p1 = p[:, 1]
    # Within total variation delta of q, q1 lies in [q1 - delta, q1 + delta].
    lo = np.maximum(0.0, p1 + np.maximum(q[:, 1] - delta, 0.0) - 1.0)
    hi = np.minimum(p1, np.minimum(q[:, 1] + delta, 1.0))
    p11_lo, p11_hi = float(pz @ lo), float(pz @ hi)
    p_yhat1 = float(pz @ p1)
    p_y1 = float(pz @ q[:, 1])
    # The P(Y=1) range the delta-ball allows (a point when delta = 0).
    p_y1_lo, p_y1_hi = max(p_y1 - delta, 0.0), min(p_y1 + delta, 1.0)
    if metric == "precision":
        den_lo = den_hi = p_yhat1
    elif metric == "recall":
        den_lo, den_hi = p_y1_lo, p_y1_hi
    else:  # f1 = 2 P11 / (P(Yhat=1) + P(Y=1))
        p11_lo, p11_hi = 2 * p11_lo, 2 * p11_hi
        den_lo, den_hi = p_yhat1 + p_y1_lo, p_yhat1 + p_y1_hi
    lower = _safe_ratio(p11_lo, den_hi)
    upper = _safe_ratio(p11_hi, den_lo, empty=1.0)
    return min(lower, 1.0), min(upper, 1.0), lo, hi


def _safe_ratio(num: float, den: float, empty: float = 0.0) -> float:
    return num / den if den > 0 else empty


def frechet_bounds(
    yhat: ArrayLike,
    z: ArrayLike,
    p_y_given_z: ArrayLike,
    metric: Metric = "accuracy",
    *,
    delta: float = 0.0,
    confidence_level: float = 0.95,
    n_resamples: int = 0,
    rng: Any = None,
    calibration: tuple[Any, Any] | None = None,
) -> FrechetBounds:
    """Sharp bounds on accuracy, precision, recall or F1 of a classifier from weak labels.

    For each weak-label pattern z, with p(z) the distribution of the predictions Yhat among the
    evaluation rows of pattern z and q(z) = P(Y | z), the accuracy lies between
    ``Σ_z P(z) max(0, max_k p_k + q_k − 1)`` and ``Σ_z P(z) Σ_k min(p_k, q_k)`` (the least and
    most diagonal mass of a coupling of p and q), and both ends are attained. For binary
    precision, recall and F1 (label 1 = positive) the same holds for P11 = P(Yhat=1, Y=1),
    divided by the identified denominators P(Yhat=1), P(Y=1) = E_Z[q_1(Z)] and
    P(Yhat=1) + P(Y=1) (F1 = 2·P11 / that).

    These closed forms (exact, O(n)) replace the paper's smoothed dual for these metrics; they
    are numpy (a few bincounts), as fast as a Rust kernel would be.

    Parameters
    ----------
    yhat : array_like of int, shape (n,)
        The evaluated model's predictions on the evaluation rows, labels 0..K-1.
    z : array_like of int, shape (n,)
        The weak-label pattern of each row (:func:`encode_patterns`).
    p_y_given_z : array_like, shape (n_patterns, K)
        P(Y | pattern), rows summing to 1: from a labelled calibration set
        (:func:`p_y_given_z_from_labels`) or a label model (:func:`dawid_skene`, with its
        warning).
    metric : {"accuracy", "precision", "recall", "f1"}
        Precision, recall and F1 need K = 2.
    delta : float, default 0
        Sensitivity to the label model: bounds valid whenever each true P(Y | z) lies within
        total variation ``delta`` of ``p_y_given_z`` (outer bounds; for accuracy and P11 they
        are the spec's per-pattern widening, for the ratio metrics the P11 bounds are divided
        by the extreme denominators the ball allows).
    confidence_level : float, default 0.95
        Level of the bootstrap intervals of each bound.
    n_resamples : int, default 0
        Bootstrap replicates over evaluation rows (0: no intervals). P(Y | z) is held fixed
        (the intervals ignore its estimation error) unless ``calibration`` is given.
    rng : None, int or numpy.random.Generator
        Seed of the bootstrap.
    calibration : (z_cal, y_cal), optional
        The labelled rows ``p_y_given_z`` was estimated from (their patterns and true labels).
        Each bootstrap replicate then also resamples them and re-estimates P(Y | z) (a pattern
        a replicate leaves without rows keeps ``p_y_given_z``), so the intervals include the
        calibration set's sampling error.

    Returns
    -------
    FrechetBounds

    Examples
    --------
    >>> yhat, z = [0, 1, 1, 0] * 5, [0, 0, 1, 1] * 5
    >>> res = frechet_bounds(yhat, z, [[0.5, 0.5], [0.2, 0.8]])
    >>> round(res.lower, 3), round(res.upper, 3)
    (0.15, 0.85)
    """
    if metric not in _METRICS:
        raise InvalidArgumentError(f"metric: got {metric!r}; use one of {list(_METRICS)}")
    q = _check_conditional(p_y_given_z)
    n_patterns, k = q.shape
    zi = _check_patterns(z, n_patterns)
    yh = _as_int_array(yhat, "yhat", ndim=1, low=0)
    if yh.size != zi.size:
        raise ShapeError(
            f"yhat: has length {yh.size} but z has {zi.size}; pass one prediction per row"
        )
    if yh.max() >= k:
        raise InvalidArgumentError(
            f"yhat: has label {int(yh.max())} but p_y_given_z has {k} columns (labels "
            f"0..{k - 1}); recode yhat or add columns"
        )
    if metric != "accuracy" and k != 2:
        raise InvalidArgumentError(
            f"metric: {metric!r} is binary (label 1 = positive) but p_y_given_z has {k} "
            "columns; use metric='accuracy' or binarise the labels"
        )
    d = check_scalar(delta, "delta", low=0.0, high=1.0)
    level = check_open_unit(confidence_level, "confidence_level")
    b = check_scalar(n_resamples, "n_resamples", kind=int, low=0, high=_MAX_RESAMPLES)
    _warn_if_sparse(zi)

    cells = _cell_probabilities(zi, yh, n_patterns, k)
    lower, upper, lo, hi = _bounds_from_cells(cells, q, metric, d)
    seen = cells.sum(axis=1) > 0
    lower_ci = upper_ci = None
    if b > 0:
        cal = None if calibration is None else _calibration_counts(calibration, n_patterns, k)
        lower_ci, upper_ci = _bootstrap_bounds(cells, zi.size, q, metric, d, level, b, rng, cal)
    return FrechetBounds(
        lower=lower,
        upper=upper,
        metric=metric,
        delta=d,
        lower_ci=lower_ci,
        upper_ci=upper_ci,
        confidence_level=level,
        n_patterns=n_patterns,
        pattern_lower=np.where(seen, lo, np.nan),
        pattern_upper=np.where(seen, hi, np.nan),
    )


def _bootstrap_bounds(
    cells: np.ndarray,
    n: int,
    q: np.ndarray,
    metric: str,
    delta: float,
    level: float,
    n_resamples: int,
    rng: Any,
    calibration: np.ndarray | None = None,
) -> tuple[ConfidenceInterval, ConfidenceInterval]:
    """Percentile intervals of each bound over rows resampled with replacement.

    Resampling rows only moves the (z, yhat) cell counts, so each replicate is one multinomial
    draw over the cells: O(cells) per replicate instead of O(n). ``calibration`` (the
    pattern x label counts of the labelled rows) is resampled the same way.
    """
    gen = np.random.default_rng(seed_from_rng(rng))
    flat = cells.reshape(-1)
    lows = np.empty(n_resamples)
    highs = np.empty(n_resamples)
    # At most ~160 MB of replicate cell counts at a time, whatever the number of patterns.
    batch = int(max(1, min(1024, 20_000_000 // flat.size)))
    for start in range(0, n_resamples, batch):
        stop = min(start + batch, n_resamples)
        draws = gen.multinomial(n, flat, size=stop - start) / n
        for r, draw in enumerate(draws):
            q_r = q if calibration is None else _resampled_conditional(calibration, q, gen)
            lo, hi, _, _ = _bounds_from_cells(draw.reshape(cells.shape), q_r, metric, delta)
            lows[start + r], highs[start + r] = lo, hi
    alpha = 1.0 - level
    lo_q = np.quantile(lows, [alpha / 2, 1 - alpha / 2])
    hi_q = np.quantile(highs, [alpha / 2, 1 - alpha / 2])
    return ConfidenceInterval(float(lo_q[0]), float(lo_q[1])), ConfidenceInterval(
        float(hi_q[0]), float(hi_q[1])
    )


def _calibration_counts(calibration: Any, n_patterns: int, k: int) -> np.ndarray:
    """Pattern x label counts of the labelled calibration rows ``(z_cal, y_cal)``."""
    try:
        z_cal, y_cal = calibration
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            "calibration: expected a pair (z_cal, y_cal) of the labelled rows' patterns and labels"
        ) from None
    zc = _as_int_array(z_cal, "calibration[0] (z_cal)", ndim=1, low=0)
    yc = _as_int_array(y_cal, "calibration[1] (y_cal)", ndim=1, low=0)
    if zc.size != yc.size:
        raise ShapeError(f"calibration: z_cal has {zc.size} rows but y_cal has {yc.size}")
    if zc.max() >= n_patterns or yc.max() >= k:
        raise InvalidArgumentError(
            f"calibration: patterns must be < {n_patterns} and labels < {k} (the shape of "
            "p_y_given_z)"
        )
    return np.bincount(zc * k + yc, minlength=n_patterns * k).reshape(n_patterns, k)


def _resampled_conditional(
    counts: np.ndarray, q: np.ndarray, gen: np.random.Generator
) -> np.ndarray:
    """P(Y | z) from one bootstrap resample of the calibration rows."""
    total = int(counts.sum())
    draw = gen.multinomial(total, counts.reshape(-1) / total).reshape(counts.shape)
    rows = draw.sum(axis=1, keepdims=True)
    return np.where(rows > 0, draw / np.maximum(rows, 1), q)


# ---------------------------------------------------------------------------------------------
# General g


def _sorted_upper_k2(g: np.ndarray, z: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """Per-row terms of the exact upper bound for K = 2 (their mean is the bound).

    In pattern z the coupling gives label 1 to the fraction q1(z) of rows with the largest
    g(x, 1) − g(x, 0) (a 1-D monotone coupling); the row at the boundary gets a fraction.
    """
    diff = g[:, 1] - g[:, 0]
    order = np.lexsort((-diff, z))
    zs = z[order]
    counts = np.bincount(zs)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(z.size) - starts[zs]
    share = np.clip(counts[zs] * q1[zs] - rank, 0.0, 1.0)
    terms = np.empty(z.size)
    terms[order] = g[order, 0] + share * diff[order]
    return terms


def _normal_interval(terms: np.ndarray, value: float, level: float) -> ConfidenceInterval:
    # the standard deviation of terms / scale, scaled back: squares of terms near 1e300 (a
    # huge eps) would overflow
    scale = float(np.abs(terms).max()) if terms.size else 0.0
    scale = scale if 0 < scale < np.inf else 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        sd = (terms / scale).std(ddof=1) * scale
    half = stats.norm.ppf((1 + level) / 2) * sd / np.sqrt(terms.size)
    if not np.isfinite(half):
        half = np.inf
    return ConfidenceInterval(value - half, value + half)


def frechet_bounds_general(
    G: Any,
    z: ArrayLike,
    p_y_given_z: ArrayLike,
    eps: float = 0.01,
    *,
    confidence_level: float = 0.95,
    progress: Any = False,
) -> GeneralFrechetBounds:
    """Bounds on E[g(X, Y)] for any bounded g, from weak labels.

    Parameters
    ----------
    G : array_like, shape (n, K)
        ``G[i, y] = g(x_i, y)`` on the evaluation rows (e.g. the log-likelihood the model gives
        label y, or a cost-sensitive loss).
    z : array_like of int, shape (n,)
        Pattern of each row.
    p_y_given_z : array_like, shape (n_patterns, K)
        P(Y | pattern).
    eps : float, default 0.01
        Smoothing of the entropic dual (K > 2). Each bound then sits outside the sharp one by
        at most ``eps * log K`` (returned as ``smoothing_gap``): the upper bound is never below
        the sharp upper bound, even if Newton stopped early, because every dual value is an
        upper bound. Smaller eps: tighter, more Newton steps.
    confidence_level : float, default 0.95
        Level of the normal intervals of each bound (from the per-row dual summands, as in the
        paper; the error in P(Y | Z) is ignored).
    progress : bool or callable, default False
        Progress over patterns (entropic method).

    Returns
    -------
    GeneralFrechetBounds

    Notes
    -----
    K = 2 is solved exactly by sorting in numpy (O(n log n)). K > 2 solves, in parallel over
    patterns in the Rust core, the smoothed dual
    ``min_a mean_i ε·LSE_y((g_iy + a_y)/ε) − Σ_y q_y a_y`` per pattern by damped Newton with a
    stable (max-shifted) log-sum-exp; labels with q_y(z) = 0 are dropped from pattern z. The
    result does not depend on the thread count. Memory: O(n·K).
    """
    q = _check_conditional(p_y_given_z)
    n_patterns, k = q.shape
    g = as_float_array(G, "G", ndim=2)
    if g.shape[1] != k:
        raise ShapeError(
            f"G: has {g.shape[1]} columns but p_y_given_z has {k}; pass one column per label"
        )
    zi = _check_patterns(z, n_patterns)
    if zi.size != g.shape[0]:
        raise ShapeError(f"z: has length {zi.size} but G has {g.shape[0]} rows")
    e = check_scalar(eps, "eps", low=0.0, low_inclusive=False)
    level = check_open_unit(confidence_level, "confidence_level")
    scale = float(np.abs(g).max())
    if scale > _RESCALE_ABOVE or 0 < scale < 1 / _RESCALE_ABOVE:
        return _rescaled(g, zi, q, e, scale, level, progress)
    _warn_if_sparse(zi)
    if k == 2:
        up_terms = _sorted_upper_k2(g, zi, q[:, 1])
        low_terms = -_sorted_upper_k2(-g, zi, q[:, 1])
        upper, lower = float(up_terms.mean()), float(low_terms.mean())
        return GeneralFrechetBounds(
            lower=lower,
            upper=upper,
            method="sort",
            eps=e,
            smoothing_gap=0.0,
            converged=True,
            lower_ci=_normal_interval(low_terms, lower, level),
            upper_ci=_normal_interval(up_terms, upper, level),
            confidence_level=level,
            dual_lower=None,
            dual_upper=None,
        )
    from ._progress import progress_callback

    with progress_callback(progress, "frechet_bounds_general") as callback:
        up = _core.weak_entropic_upper(g=g, z=zi, q=q, eps=e, progress=callback)
        low = _core.weak_entropic_upper(
            g=np.ascontiguousarray(-g), z=zi, q=q, eps=e, progress=callback
        )
    upper, dual_upper, up_terms, up_ok, _ = up
    neg_lower, dual_neg, neg_terms, low_ok, _ = low
    if not (np.isfinite(upper) and np.isfinite(neg_lower)):
        raise NumericalError(
            "frechet_bounds_general: the dual value is not finite; rescale G (e.g. divide by "
            "its largest absolute value) and multiply the bounds back"
        )
    lower = -neg_lower
    return GeneralFrechetBounds(
        lower=lower,
        upper=upper,
        method="entropic",
        eps=e,
        smoothing_gap=e * float(np.log(k)),
        converged=bool(up_ok and low_ok),
        lower_ci=_normal_interval(-neg_terms, lower, level),
        upper_ci=_normal_interval(up_terms, upper, level),
        confidence_level=level,
        dual_lower=-dual_neg,
        dual_upper=dual_upper,
    )


def _rescaled(
    g: np.ndarray,
    z: np.ndarray,
    q: np.ndarray,
    eps: float,
    scale: float,
    level: float,
    progress: Any,
) -> GeneralFrechetBounds:
    """Bounds for G of extreme magnitude: solve for G / scale with eps / scale (the same
    smoothing in G's units) and scale the answer back."""
    # In units where |G| <= 1 a smoothing above 1e3 only loosens the bound (still valid, and
    # its gap, reported, stays below eps * log K); capping it keeps the dual terms finite.
    small_eps = float(np.clip(eps / scale, np.finfo(float).tiny, 1e3))
    res = frechet_bounds_general(
        g / scale, z, q, small_eps, confidence_level=level, progress=progress
    )

    def back(interval: ConfidenceInterval) -> ConfidenceInterval:
        return ConfidenceInterval(interval.low * scale, interval.high * scale)

    return dataclasses.replace(
        res,
        lower=res.lower * scale,
        upper=res.upper * scale,
        eps=eps,
        smoothing_gap=res.smoothing_gap * scale,
        lower_ci=back(res.lower_ci),
        upper_ci=back(res.upper_ci),
        dual_lower=None if res.dual_lower is None else res.dual_lower * scale,
        dual_upper=None if res.dual_upper is None else res.dual_upper * scale,
    )
