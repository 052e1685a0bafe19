"""One-dimensional optimal transport by sorting.

For a convex cost ``c(x - y)`` the optimal coupling of two distributions on the real line is
the monotone (quantile) coupling, so

    W_p(mu, nu)^p = ∫_0^1 |F^-1(t) - G^-1(t)|^p dt

is computed exactly in O(n log n) by sorting and merging cumulative weights. The same
sort-then-match kernel gives the quantile function, the optimal plan (:func:`monotone_coupling`)
and the AOT alignment losses (:func:`aot_loss`); :func:`kmixup_match` solves the small
exact assignment problems of k-mixup.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np

from . import _core
from ._results import Result
from ._validation import (
    ArrayLike,
    as_float_array,
    as_weights,
    check_finite,
    check_scalar,
    ndim_of,
    seed_from_rng,
)
from .exceptions import InvalidArgumentError, ShapeError

__all__ = [
    "AOTLoss",
    "KMixup",
    "MonotoneCoupling",
    "aot_loss",
    "kmixup",
    "kmixup_match",
    "monotone_coupling",
    "quantile_function",
    "wasserstein",
]


def wasserstein(
    u: ArrayLike,
    v: ArrayLike,
    p: float = 1.0,
    u_weights: ArrayLike | None = None,
    v_weights: ArrayLike | None = None,
    *,
    return_power: bool = False,
) -> float | np.ndarray:
    """Exact p-Wasserstein distance between 1-D empirical distributions.

    Parameters
    ----------
    u, v : array_like, 1-D or 2-D
        Samples. 1-D arrays are one distribution each and may have different lengths.
        2-D arrays hold one distribution per row (same number of rows; row lengths of ``u``
        and ``v`` may differ); the pairs are computed in parallel.
    p : float, default 1
        Order, ``p >= 1``.
    u_weights, v_weights : array_like, optional
        Non-negative weights with the shape of ``u`` / ``v`` (normalised per row).
        Uniform when omitted.
    return_power : bool, default False
        Return ``W_p ** p`` instead of ``W_p``. Note that POT's ``wasserstein_1d`` returns
        ``W_p ** p`` while ``scipy.stats.wasserstein_distance`` returns ``W_1``. ``W_p ** p``
        overflows to inf (or underflows to 0) where ``W_p`` itself is still representable,
        e.g. ``p = 2`` and values near 1e200; ``W_p`` is finite whenever it is below
        ``1.8e308``.

    Returns
    -------
    float or ndarray
        ``W_p`` (or ``W_p ** p``); one value per row for 2-D input.

    Notes
    -----
    ``W_p`` is computed as ``M * (sum_k m_k (|d_k| / M) ** p) ** (1 / p)`` with ``M`` the
    largest matched difference ``|d_k|`` whenever the plain sum ``sum_k m_k |d_k| ** p`` would
    overflow or underflow (huge or tiny values, large ``p``), so every representable answer is
    returned; as ``p`` grows the result tends to ``M``.
    Both samples are sorted in parallel as order-preserving 64-bit integer keys. Extra memory:
    8 bytes per value without weights, about 40 with weights (sorted keys, positions and
    cumulative weights); for 2-D input only one row pair per thread. Sort buffers of up to
    2**21 values are kept per worker thread and reused by later calls.

    Examples
    --------
    >>> from calipers.ot import wasserstein
    >>> wasserstein([0.0, 1.0, 3.0], [5.0, 6.0, 8.0])
    5.0
    """
    p = check_scalar(p, "p", kind=float, low=1.0)
    u_arr = _finite_array(u, "u", ndim=(1, 2))
    v_arr = _finite_array(v, "v", ndim=(1, 2))
    if u_arr.ndim != v_arr.ndim:
        raise_shape(
            f"u is {u_arr.ndim}-D but v is {v_arr.ndim}-D; pass two 1-D samples or two 2-D batches"
        )
    uw = as_weights(u_weights, "u_weights", u_arr.shape[-1], ndim=u_arr.ndim)
    vw = as_weights(v_weights, "v_weights", v_arr.shape[-1], ndim=v_arr.ndim)
    if u_arr.ndim == 1:
        distance, power = _core.wasserstein_pp(u=u_arr, v=v_arr, p=p, u_weights=uw, v_weights=vw)
        return power if return_power else distance
    if u_arr.shape[0] != v_arr.shape[0]:
        raise_shape(
            f"u has {u_arr.shape[0]} rows but v has {v_arr.shape[0]}; pass one row per pair"
        )
    _check_weight_rows(uw, u_arr, "u_weights")
    _check_weight_rows(vw, v_arr, "v_weights")
    distances, powers = _core.wasserstein_pp_rows(u=u_arr, v=v_arr, p=p, u_weights=uw, v_weights=vw)
    return powers if return_power else distances


def _finite_array(x: Any, name: str, ndim: tuple[int, ...]) -> np.ndarray:
    """``as_float_array`` with a cheaper finiteness test for large inputs: a sum is finite
    exactly when no value is NaN/inf (or it overflowed), and summing allocates nothing."""
    arr = as_float_array(x, name, ndim=ndim, finite=False)
    with np.errstate(over="ignore", invalid="ignore"):
        total = arr.sum()
    if not np.isfinite(total):
        check_finite(arr, name)
    return arr


def _check_weight_rows(w: np.ndarray | None, x: np.ndarray, name: str) -> None:
    if w is not None and w.shape != x.shape:
        raise_shape(f"{name} has shape {w.shape} but the samples have shape {x.shape}")


def raise_shape(message: str) -> None:
    raise ShapeError(message)


def quantile_function(
    x: ArrayLike, q: ArrayLike, weights: ArrayLike | None = None
) -> float | np.ndarray:
    """Quantile function (generalised inverse CDF) of a weighted empirical distribution.

    ``Q(q) = inf{t : F(t) >= q}`` with ``F(t)`` the total (normalised) weight of the values
    ``<= t``. This is numpy's ``method="inverted_cdf"``: every answer is one of the sample's
    values, and no interpolation takes place. ``Q(0)`` is the smallest value of positive weight.

    Parameters
    ----------
    x : array_like, 1-D or 2-D
        The sample, or one sample per row (computed in parallel over rows).
    q : float or array_like, 1-D
        Levels in ``[0, 1]``.
    weights : array_like, optional
        Non-negative weights with the shape of ``x`` (normalised per row); uniform if omitted.

    Returns
    -------
    float or ndarray
        Shape ``q.shape`` for 1-D ``x``; ``(x.shape[0],) + q.shape`` for 2-D ``x``.

    Examples
    --------
    >>> from calipers.ot import quantile_function
    >>> quantile_function([3.0, 1.0, 2.0, 4.0], [0.25, 0.5, 0.75])
    array([1., 2., 3.])
    """
    x_arr = _finite_array(x, "x", ndim=(1, 2))
    w = as_weights(weights, "weights", x_arr.shape[-1], ndim=x_arr.ndim)
    _check_weight_rows(w, x_arr, "weights")
    q_arr = as_float_array(q, "q", ndim=(0, 1), allow_empty=True)
    levels = np.atleast_1d(q_arr)
    if x_arr.ndim == 1:
        out = _core.quantile_function(x_arr, levels, w)
        return float(out[0]) if np.ndim(q) == 0 else out
    out = _core.quantile_function_rows(x_arr, levels, w)
    return out[:, 0] if np.ndim(q) == 0 else out


@dataclasses.dataclass(frozen=True, repr=False)
class MonotoneCoupling(Result):
    """The optimal transport plan between two 1-D samples, as a sparse list.

    Entry ``s`` moves probability ``mass[s]`` from ``u[i[s]]`` to ``v[j[s]]``. The plan is the
    monotone (quantile) coupling: optimal for every convex cost ``c(x - y)``, so
    ``sum(mass * abs(u[i] - v[j]) ** p) == wasserstein(u, v, p) ** p`` for every ``p >= 1``.
    It has at most ``len(u) + len(v) - 1`` entries, each of positive mass.
    """

    i: np.ndarray
    j: np.ndarray
    mass: np.ndarray
    shape: tuple[int, int]

    def to_dense(self) -> np.ndarray:
        """The plan as a dense ``shape`` matrix (rows: ``u``, columns: ``v``)."""
        dense = np.zeros(self.shape)
        np.add.at(dense, (self.i, self.j), self.mass)
        return dense


def monotone_coupling(
    u: ArrayLike,
    v: ArrayLike,
    u_weights: ArrayLike | None = None,
    v_weights: ArrayLike | None = None,
) -> MonotoneCoupling:
    """Optimal transport plan between two weighted 1-D samples.

    Parameters
    ----------
    u, v : array_like, 1-D
        Samples (any lengths).
    u_weights, v_weights : array_like, optional
        Non-negative weights (normalised to total mass 1); uniform when omitted.

    Returns
    -------
    MonotoneCoupling
        ``i``, ``j`` (int64 positions in ``u`` and ``v``), ``mass`` (float64, sums to 1),
        ``shape = (len(u), len(v))``; ``to_dense()`` gives the matrix.

    Examples
    --------
    >>> from calipers.ot import monotone_coupling
    >>> plan = monotone_coupling([2.0, 0.0], [1.0, 5.0, 3.0, 4.0])
    >>> plan.i, plan.j, plan.mass
    (array([1, 1, 0, 0]), array([0, 2, 3, 1]), array([0.25, 0.25, 0.25, 0.25]))
    """
    u_arr = as_float_array(u, "u", ndim=1)
    v_arr = as_float_array(v, "v", ndim=1)
    uw = as_weights(u_weights, "u_weights", u_arr.shape[0])
    vw = as_weights(v_weights, "v_weights", v_arr.shape[0])
    i, j, mass = _core.monotone_coupling(u=u_arr, v=v_arr, u_weights=uw, v_weights=vw)
    return MonotoneCoupling(i=i, j=j, mass=mass, shape=(len(u_arr), len(v_arr)))


@dataclasses.dataclass(frozen=True, repr=False)
class AOTLoss(Result):
    """Value and gradients of the AOT loss (see :func:`aot_loss`).

    ``grad_*`` has the shape of the matching input. ``delta`` and ``mass`` describe the
    coupling: ``loss == sum(mass * h(delta))`` with ``h`` the (label-smoothed) relaxation; for
    equal sizes ``delta[k]`` is the k-th sorted difference and ``mass`` is ``1/B``.
    """

    loss: float
    grad_chosen_logps: np.ndarray
    grad_rejected_logps: np.ndarray
    grad_ref_chosen_logps: np.ndarray
    grad_ref_rejected_logps: np.ndarray
    delta: np.ndarray
    mass: np.ndarray
    mode: str
    relaxation: str


def aot_loss(
    chosen_logps: ArrayLike,
    rejected_logps: ArrayLike,
    ref_chosen_logps: ArrayLike,
    ref_rejected_logps: ArrayLike,
    *,
    beta: float = 0.1,
    label_smoothing: float = 0.0,
    relaxation: Literal["logistic", "squared_hinge"] = "logistic",
    mode: Literal["paired", "unpaired"] = "paired",
) -> AOTLoss:
    """AOT alignment loss (Melnyk et al. 2024) with its gradient, as in TRL's DPO trainer.

    The inputs are sequence log-probabilities (sums over completion tokens) of the policy and
    of the reference model for the chosen and rejected responses.

    * ``mode="paired"`` (TRL ``loss_type="aot"``): ``rho = chosen - rejected`` and
      ``rho_ref = ref_chosen - ref_rejected`` are sorted separately and
      ``delta_k = rho_(k) - rho_ref_(k)``.
    * ``mode="unpaired"`` (TRL ``"aot_unpaired"``): the chosen log-ratios
      ``u = chosen - ref_chosen`` and rejected log-ratios ``v = rejected - ref_rejected`` are
      sorted separately and ``delta_k = u_(k) - v_(k)``. Chosen and rejected sets may have
      different sizes (the sorted values are then matched by merging quantiles).

    The loss is ``mean_k[(1 - eps) * h(delta_k) + eps * h(-delta_k)]`` with ``eps`` the
    label smoothing and ``h`` the relaxation of the violation indicator ``1{delta < 0}``:

    * ``"logistic"``: ``h(d) = softplus(-beta * d) = -log sigmoid(beta * d)``; ``beta`` is an
      inverse temperature. With ``eps`` this is exactly TRL's formula.
    * ``"squared_hinge"``: ``h(d) = max(beta - d, 0) ** 2``; ``beta`` is a margin (the paper's
      squared-hinge relaxation; not in TRL).

    Because ``h`` is convex, sorting gives the optimal coupling of the two distributions, so the
    paired loss is never above the DPO loss on the same batch (which keeps the given pairing).
    The gradient is exact almost everywhere (hard sort: at ties any sorted order is a valid
    subgradient). For autograd use :func:`calipers.torch.aot_loss`.

    Parameters
    ----------
    chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps : array_like, 1-D
        Policy and reference log-probabilities. ``ref_chosen_logps`` has the length of
        ``chosen_logps``, ``ref_rejected_logps`` that of ``rejected_logps``; in paired mode all
        four have the same length B.
    beta : float, default 0.1
        Inverse temperature (logistic) or margin (squared hinge), > 0. TRL's default is 0.1.
    label_smoothing : float, default 0
        ``eps`` in ``[0, 0.5)``.
    relaxation : {"logistic", "squared_hinge"}
    mode : {"paired", "unpaired"}

    Returns
    -------
    AOTLoss
        ``loss`` and ``grad_*`` (gradients of ``loss`` with respect to each input), ``delta``,
        ``mass``.

    Examples
    --------
    >>> from calipers.ot import aot_loss
    >>> res = aot_loss([-1.0, -2.0], [-3.0, -2.5], [-1.5, -2.0], [-2.0, -2.0], beta=1.0)
    >>> round(res.loss, 6), res.grad_chosen_logps
    (0.337745, array([-0.09121276, -0.18877033]))
    """
    beta = check_scalar(beta, "beta", low=0.0, low_inclusive=False)
    label_smoothing = check_scalar(
        label_smoothing, "label_smoothing", low=0.0, high=0.5, high_inclusive=False
    )
    if relaxation not in ("logistic", "squared_hinge"):
        raise InvalidArgumentError(
            f"relaxation: got {relaxation!r}; use 'logistic' or 'squared_hinge'"
        )
    if mode not in ("paired", "unpaired"):
        raise InvalidArgumentError(f"mode: got {mode!r}; use 'paired' or 'unpaired'")
    names = ("chosen_logps", "rejected_logps", "ref_chosen_logps", "ref_rejected_logps")
    arrays = {
        name: as_float_array(a, name, ndim=1)
        for a, name in zip(
            (chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps), names, strict=True
        )
    }
    out = _core.aot_loss(
        **arrays,
        beta=beta,
        label_smoothing=label_smoothing,
        relaxation=relaxation,
        paired=mode == "paired",
    )
    return AOTLoss(*out, mode=mode, relaxation=relaxation)


def _points(x: Any, name: str) -> np.ndarray:
    """Points as rows of a C-contiguous (n, d) float64 array (trailing axes flattened)."""
    if ndim_of(x, name) == 0:
        raise ShapeError(f"{name}: expected an array of points (n, ...), got a scalar")
    arr = as_float_array(x, name)
    return arr.reshape(arr.shape[0], -1)


def kmixup_match(x: ArrayLike, y: ArrayLike, k: int) -> np.ndarray:
    """k-mixup matching: exact optimal transport between k-point blocks of two batches.

    Rows ``b*k .. (b+1)*k - 1`` of ``x`` are matched to the same rows of ``y`` by the
    permutation that minimises the total squared Euclidean distance (an exact assignment
    problem, solved by shortest augmenting paths, Jonker–Volgenant style). With uniform weights
    this permutation is the exact W2 optimal transport plan of the two k-point clouds. Blocks
    are solved in parallel; a last block holds the ``n mod k`` remaining rows.

    Parameters
    ----------
    x, y : array_like, shape (n, ...)
        Two batches of n points; trailing axes (e.g. image channels and pixels) are flattened.
    k : int
        Block size, >= 1 (``k = 1`` is plain mixup's identity pairing; ``k >= n`` is one
        assignment over the whole batch).

    Returns
    -------
    ndarray of int64, shape (n,)
        ``perm`` such that ``x[i]`` is matched to ``y[perm[i]]`` (``perm[i]`` lies in the block
        of ``i``).

    Notes
    -----
    The reference k-mixup code uses the (unsquared) Euclidean distance; the paper's W2 cost,
    used here, is the squared one. The two can choose different matchings. Cost per block:
    O(k²d) for distances plus O(k³) at worst for the assignment; memory O(k²) per thread.

    Examples
    --------
    >>> import numpy as np
    >>> from calipers.ot import kmixup_match
    >>> kmixup_match(np.array([[0.0], [1.0]]), np.array([[1.1], [0.1]]), k=2)
    array([1, 0])
    """
    x_arr, y_arr = _points(x, "x"), _points(y, "y")
    if x_arr.shape != y_arr.shape:
        raise ShapeError(
            f"y: has {y_arr.shape[0]} points of dimension {y_arr.shape[1]} but x has "
            f"{x_arr.shape[0]} of dimension {x_arr.shape[1]}; pass two batches of equal shape"
        )
    k = check_scalar(k, "k", kind=int, low=1)
    return _core.kmixup_match(x_arr, y_arr, k)


@dataclasses.dataclass(frozen=True, repr=False)
class KMixup(Result):
    """Result of :func:`kmixup`: ``mixed = lam * x + (1 - lam) * y[perm]``."""

    mixed: np.ndarray
    lam: float
    perm: np.ndarray


def kmixup(x: ArrayLike, y: ArrayLike, k: int, alpha: float = 1.0, rng: Any = None) -> KMixup:
    """k-mixup (Greenewald et al. 2021): match k-point blocks by optimal transport, then mix.

    ``perm = kmixup_match(x, y, k)``, ``lam ~ Beta(alpha, alpha)``, and
    ``mixed = lam * x + (1 - lam) * y[perm]`` (the displacement interpolation between the two
    empirical measures). Mix the labels with the same ``lam`` and ``perm``.

    Parameters
    ----------
    x, y : array_like, shape (n, ...)
        Two batches (e.g. a batch and a shuffled copy of it).
    k : int
        Block size (see :func:`kmixup_match`).
    alpha : float, default 1
        Beta distribution parameter, > 0.
    rng : None, int or numpy.random.Generator
        Seeds the numpy Generator that draws ``lam``.

    Returns
    -------
    KMixup
        ``mixed`` (shape of ``x``), ``lam``, ``perm``.
    """
    alpha = check_scalar(alpha, "alpha", low=0.0, low_inclusive=False)
    perm = kmixup_match(x, y, k)
    lam = float(np.random.default_rng(seed_from_rng(rng)).beta(alpha, alpha))
    x_arr = np.asarray(x, dtype=np.float64)
    y_arr = np.asarray(y, dtype=np.float64)
    mixed = lam * x_arr + (1.0 - lam) * y_arr[perm]
    return KMixup(mixed=mixed, lam=lam, perm=perm)
