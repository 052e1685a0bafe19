"""Anchor items of :mod:`calipers.tiny`: weighted k-means anchors, stratified random,
correctness and IRT-embedding clustering, and a D-optimal (Fisher information) design."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from .. import _core
from .._estimator import renamed_keyword
from .._results import Result
from .._validation import ArrayLike, as_float_array, check_scalar, seed_from_rng
from ..exceptions import InvalidArgumentError, ShapeError
from ._layout import Layout, as_eval_data
from .estimators import _MAX_COUNT, _unique

__all__ = ["AnchorSet", "kmeans_anchors", "select_anchors"]

Method = Literal["random", "correctness", "irt", "fisher"]
METHODS: tuple[str, ...] = ("random", "correctness", "irt", "fisher")
# More restarts than this could not finish: refused up front.
_MAX_RESTARTS = 10_000


def kmeans_anchors(
    x: ArrayLike,
    k: int,
    *,
    sample_weight: ArrayLike | None = None,
    n_restarts: int = 5,
    max_iter: int = 300,
    tol: float = 1e-4,
    rng: Any = None,
    progress: Callable[[int, int], Any] | None = None,
    **renamed: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Weighted k-means of the rows of ``x``; one anchor row per cluster.

    scikit-learn's algorithm (greedy k-means++ seeding, Lloyd iterations, ``tol`` relative to
    the mean feature variance, best of ``n_restarts`` seeded restarts; scikit-learn's
    ``n_init``, the old name here, is accepted with a FutureWarning), run in the Rust core with
    the restarts in parallel; bit-identical for any thread count. Lloyd steps use Hamerly's
    bounds to skip the points whose centre provably stays the nearest (with a margin for
    rounding), so the iterations, labels, centres and inertia are exactly those of plain Lloyd
    (tested bit for bit); distances come from a register-blocked SIMD kernel. Differs from tinyBenchmarks in one
    deliberate way: the anchor of a cluster is its *member* nearest the centre (not the
    nearest point overall), so anchors are distinct and represent their own cluster.

    Returns
    -------
    anchors : ndarray of int, shape (k,)
        Row index of each cluster's anchor.
    weights : ndarray, shape (k,)
        Each cluster's share of the total sample weight (sums to 1).
    labels : ndarray of int, shape (n,)
    inertia : float
    """
    arr = as_float_array(x, "x", ndim=2, finite=False)  # the core names a NaN's position
    k = check_scalar(k, "k", kind=int, low=1, high=_MAX_COUNT)
    n_restarts = renamed_keyword(
        "kmeans_anchors", renamed, "n_init", "n_restarts", n_restarts, default=5
    )
    n_restarts = check_scalar(n_restarts, "n_restarts", kind=int, low=1, high=_MAX_RESTARTS)
    max_iter = check_scalar(max_iter, "max_iter", kind=int, low=1, high=_MAX_COUNT)
    tol = check_scalar(tol, "tol", kind=float, low=0.0)
    w = (
        None
        if sample_weight is None
        else as_float_array(sample_weight, "sample_weight", ndim=1, finite=False)
    )
    seed = seed_from_rng(rng)
    _, labels, inertia, _, anchors, weights = _core.kmeans_anchors(
        x=arr,
        k=k,
        sample_weight=w,
        n_restarts=n_restarts,
        max_iter=max_iter,
        tol=float(tol),
        seed=seed,
        progress=progress,
    )
    return anchors.astype(np.intp), weights, labels.astype(np.intp), float(inertia)


@dataclasses.dataclass(frozen=True, repr=False)
class AnchorSet(Result):
    """Anchors of one scenario.

    Attributes
    ----------
    scenario : str
    index : ndarray of int
        Positions of the anchors among all items of the benchmark.
    weights : ndarray
        Anchor weights (sum to 1): the naive estimate is ``Σ w_i y_i``.
    method : str
    """

    scenario: str
    index: np.ndarray
    weights: np.ndarray
    method: str


def select_anchors(
    Y: Any,
    n_anchors: int,
    *,
    scenario: Any = None,
    subscenario: Any = None,
    method: Method = "irt",
    irt: Any = None,
    n_restarts: int = 5,
    rng: Any = None,
    progress: Callable[[int, int], Any] | None = None,
) -> dict[str, AnchorSet]:
    """Choose ``n_anchors`` items per scenario.

    Parameters
    ----------
    Y : array_like (n_models, n_items) or EvalData
        Training scores in [0, 1]; NaN = missing (imputed by the item mean for clustering).
    n_anchors : int
        Budget per scenario.
    scenario, subscenario : sequence of str, optional
        Per-item labels (taken from ``Y`` when it is an EvalData). No scenario: one scenario
        ``"all"``.
    method : {"irt", "correctness", "random", "fisher"}, default "irt"
        See the module docstring. ``"irt"`` and ``"fisher"`` need ``irt`` (a fitted
        :class:`calipers.irt.IRT` on these items, with ``theta_`` for ``"fisher"``).
    n_restarts : int, default 5
        k-means restarts (the lowest inertia is kept).
    rng : None, int or Generator
        Seeds k-means and random sampling.

    Returns
    -------
    dict scenario -> AnchorSet
    """
    data = as_eval_data(Y, scenario, subscenario)
    layout = Layout.of(data)
    n_anchors = check_scalar(n_anchors, "n_anchors", kind=int, low=1)
    _check_method(method)
    layout.check_budget(n_anchors)
    seed = seed_from_rng(rng)
    if method in ("irt", "fisher") and irt is None:
        raise InvalidArgumentError(
            f"irt: method={method!r} needs a fitted calipers.irt.IRT model of these items; "
            "pass irt=IRT(...).fit(Y), or use method='correctness' or 'random'"
        )
    if irt is not None and np.asarray(irt.b_).shape[0] != layout.n_items:
        raise ShapeError(
            f"irt: the model has {np.asarray(irt.b_).shape[0]} items but Y has {layout.n_items}"
        )
    return _select(layout, data.scores, n_anchors, method, irt, n_restarts, seed, progress)


def _select(
    layout: Layout,
    scores: np.ndarray,
    n: int,
    method: str,
    irt: Any,
    n_restarts: int,
    seed: int,
    progress: Callable[[int, int], Any] | None,
) -> dict[str, AnchorSet]:
    out = {}
    for s_index, s in enumerate(layout.scenarios):
        idx = layout.index[s]
        bw = layout.bw[idx]
        sub_seed = (seed + 7919 * s_index) % 2**64
        if method == "random":
            local, w = _stratified(layout.sub_of(idx), bw, n, np.random.default_rng(sub_seed))
        elif method == "fisher":
            local = _d_optimal(irt, idx, n)
            w = bw[local] / bw[local].sum()
        else:
            x = _item_vectors(scores[:, idx]) if method == "correctness" else _embed(irt, idx)
            local, w, _, _ = kmeans_anchors(
                x, n, sample_weight=bw, n_restarts=n_restarts, rng=sub_seed, progress=progress
            )
        order = np.argsort(idx[local], kind="stable")
        out[s] = AnchorSet(
            scenario=s, index=idx[local][order], weights=np.asarray(w)[order], method=method
        )
    return out


def _item_vectors(scores: np.ndarray) -> np.ndarray:
    """Items x models correctness vectors, NaN imputed by the item's mean (0.5 if unseen)."""
    x = scores.T.copy()
    nan = np.isnan(x)
    if nan.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nanmean(x, axis=1)
        means = np.where(np.isnan(means), 0.5, means)
        x[nan] = np.broadcast_to(means[:, None], x.shape)[nan]
    return x


def _embed(irt: Any, idx: np.ndarray) -> np.ndarray:
    """IRT item embeddings (a_i, b_i), as tinyBenchmarks clusters them."""
    return np.column_stack([np.asarray(irt.a_)[idx], np.asarray(irt.b_)[idx]])


def _stratified(
    sub: np.ndarray, bw: np.ndarray, n: int, gen: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """n items spread over sub-scenarios in proportion to their balance-weight share (equal
    shares with balance weights), uniformly within each; weight = share / items drawn."""
    subs = _unique(sub)
    members = [np.flatnonzero(sub == j) for j in subs]
    share = np.array([bw[m].sum() for m in members]) / bw.sum()
    quota = _allocate(share, np.array([m.size for m in members]), n, gen)
    chosen, weights = [], []
    for m, q, sh in zip(members, quota, share, strict=True):
        if q == 0:
            continue
        pick = gen.choice(m, size=q, replace=False)
        chosen.append(pick)
        weights.append(np.full(q, sh / q))
    w = np.concatenate(weights)
    return np.concatenate(chosen), w / w.sum()


def _allocate(share: np.ndarray, capacity: np.ndarray, n: int, gen: np.random.Generator):
    """Integer quotas summing to n, proportional to share, capped by capacity (largest
    remainder, ties broken at random)."""
    quota = np.zeros(share.size, dtype=np.int64)
    left = n
    open_ = capacity > 0
    while left > 0:
        s = np.where(open_ & (quota < capacity), share, 0.0)
        if s.sum() <= 0:
            s = (quota < capacity).astype(float)
        ideal = left * s / s.sum()
        add = np.minimum(np.floor(ideal).astype(np.int64), capacity - quota)
        if add.sum() == 0:
            rem = ideal - np.floor(ideal) + gen.random(ideal.size) * 1e-9
            rem[quota >= capacity] = -1
            add = np.zeros_like(quota)
            add[np.argmax(rem)] = 1
        quota += add
        left -= int(add.sum())
    return quota


def _d_optimal(irt: Any, idx: np.ndarray, n: int) -> np.ndarray:
    """Greedy D-optimal design: add the item maximising det(M + I_i), where I_i is the item's
    Fisher information summed over the training abilities (matrix determinant lemma)."""
    theta = getattr(irt, "theta_", None)
    if theta is None:
        raise InvalidArgumentError(
            "irt: method='fisher' needs the training abilities (irt.theta_); fit the model"
        )
    p = irt.predict_proba(theta, idx)
    info = (p * (1.0 - p)).sum(axis=0)  # Σ_l p(1-p) per item
    a = np.asarray(irt.a_)[idx]
    dims = a.shape[1]
    m_inv = np.eye(dims) / 1e-6  # a tiny ridge starts the design
    chosen = np.zeros(idx.size, dtype=bool)
    picks = []
    for _ in range(n):
        gain = info * np.einsum("ij,jk,ik->i", a, m_inv, a)
        gain[chosen] = -np.inf
        i = int(np.argmax(gain))
        picks.append(i)
        chosen[i] = True
        u = m_inv @ a[i]
        m_inv -= info[i] * np.outer(u, u) / (1.0 + info[i] * a[i] @ u)
    return np.asarray(picks, dtype=np.intp)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise InvalidArgumentError(f"method: got {method!r}; use one of {list(METHODS)}")
