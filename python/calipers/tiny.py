"""Efficient evaluation: estimate full-benchmark scores from a few anchor items (tinyBenchmarks),
and choose which models to re-run on a new benchmark version (LiveXiv).

tinyBenchmarks (Maia Polo et al. 2024)
--------------------------------------
A benchmark's items are grouped into scenarios (ARC, MMLU, ...) and optionally sub-scenarios
(MMLU subjects). Balance weights ``bw_i = N_s / (n_sub · n_j)`` make the plain mean of
``bw_i · y_i`` over a scenario equal to the macro-average over its sub-scenarios, the number
its maintainers report. For a budget of ``n`` anchor items per scenario:

* anchors are chosen by stratified random sampling over sub-scenarios (``"random"``), k-means
  clustering of the items' correctness vectors over training models (``"correctness"``),
  k-means on IRT item embeddings ``(a_i, b_i)`` (``"irt"``, the method of the released tiny
  benchmarks), or a D-optimal design that maximises the Fisher information about the training
  models' abilities (``"fisher"``). A clustering anchor is the member item nearest its cluster
  centre and weighs its cluster's share of the balance weights;
* estimators of a new model's scenario score from its anchor responses ``y_i``:
  naive ``Σ w_i y_i``; p-IRT ``λ̂ · mean_{Î}(bw_i y_i) + (1 - λ̂) · mean_{I∖Î}(bw_i p̂_i(θ̂))``
  with ``λ̂ = n / N``; gp-IRT ``λ · naive + (1 - λ) · p-IRT`` with
  ``λ = b² / (b² + v / (c n))``, ``b`` the validation error of p-IRT, ``v`` the mean
  across-item variance of the scores, ``c = 4`` for clustered anchors and 1 otherwise.

:class:`TinyBenchmark` runs the whole workflow (IRT dimension chosen on validation models,
anchors, λ, cross-validated errors) and saves it to a documented JSON file.

LiveXiv (Shabtay et al. 2025)
-----------------------------
:class:`ReEvaluation` fits an IRT model to earlier benchmark versions, chooses the ``m``
models to re-run on a new version by Fisher information (for ``m`` anchor difficulties at the
5th..95th percentiles, the model whose ability is most informative), fits the joint model with
the new version's observed cells and predicts the others' new-version scores.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import stats

from . import _core
from ._estimator import Estimator as _EstimatorBase
from ._estimator import renamed_keyword
from ._results import Result
from ._validation import ArrayLike, as_float_array, check_scalar, seed_from_rng
from .exceptions import InvalidArgumentError, ShapeError
from .io import EvalData

__all__ = [
    "AnchorSet",
    "ReEvaluation",
    "ReEvaluationResult",
    "TinyBenchmark",
    "TinyEstimate",
    "balance_weights",
    "choose_models_to_rerun",
    "gpirt_estimate",
    "gpirt_lambda",
    "kmeans_anchors",
    "naive_estimate",
    "pirt_estimate",
    "select_anchors",
]

Method = Literal["random", "correctness", "irt", "fisher"]
Estimator = Literal["naive", "pirt", "gpirt"]
ESTIMATORS: tuple[str, ...] = ("naive", "pirt", "gpirt")
METHODS: tuple[str, ...] = ("random", "correctness", "irt", "fisher")
_FORMAT = "calipers.tiny"
_FORMAT_VERSION = 2  # 2: the IRT part is IRT's own saved state ("calipers.irt" schema)
# Counts beyond these cannot reach the core (64-bit) or could not finish: refused up front.
_MAX_COUNT = 2**63 - 1
_MAX_RESTARTS = 10_000


# ============================================================================ building blocks


def balance_weights(scenario: Any, subscenario: Any = None) -> np.ndarray:
    """Per-item weights whose plain mean over a scenario gives its sub-scenario macro-average.

    ``bw_i = N_s / (n_sub(s) · n_j)`` for item ``i`` of sub-scenario ``j`` in scenario ``s``
    (``N_s`` items, ``n_sub(s)`` sub-scenarios, ``n_j`` items in ``j``); all ones without
    sub-scenarios. The weights average to 1 within each scenario.
    """
    scen = _labels(scenario, "scenario")
    if subscenario is None:
        return np.ones(scen.shape[0])
    sub = _labels(subscenario, "subscenario")
    if sub.shape != scen.shape:
        raise ShapeError(f"subscenario: has {sub.size} labels for {scen.size} items")
    out = np.empty(scen.shape[0])
    for s in _unique(scen):
        idx = np.flatnonzero(scen == s)
        subs, counts = np.unique(sub[idx], return_counts=True)
        per_sub = dict(zip(subs.tolist(), counts.tolist(), strict=True))
        out[idx] = [idx.size / (len(subs) * per_sub[j]) for j in sub[idx]]
    return out


def naive_estimate(y_anchor: ArrayLike, weights: ArrayLike) -> np.ndarray:
    """``Σ_i w_i y_i`` over anchors (last axis); NaN responses are an error upstream."""
    y = as_float_array(y_anchor, "y_anchor", ndim=(1, 2))
    w = as_float_array(weights, "weights", ndim=1)
    if y.shape[-1] != w.shape[0]:
        raise ShapeError(
            f"weights: has {w.shape[0]} values but y_anchor has {y.shape[-1]} anchors; pass "
            "one weight per anchor"
        )
    return y @ w


def pirt_estimate(
    y_anchor: ArrayLike, bw_anchor: ArrayLike, p_rest: ArrayLike, bw_rest: ArrayLike, n_items: int
) -> np.ndarray:
    """p-IRT: ``λ̂ · mean(bw · y) over anchors + (1 - λ̂) · mean(bw · p̂) over the other items``.

    ``λ̂ = n_anchor / n_items``; ``p_rest`` holds the IRT probabilities of the non-anchor items
    at the model's estimated ability (last axis = items).
    """
    y = as_float_array(y_anchor, "y_anchor", ndim=(1, 2))
    p = as_float_array(p_rest, "p_rest", ndim=(1, 2), allow_empty=True)
    n_anchor, n_rest = y.shape[-1], p.shape[-1]
    n_items = check_scalar(n_items, "n_items", kind=int, low=1, high=_MAX_COUNT)
    if n_items != n_anchor + n_rest:
        raise InvalidArgumentError(
            f"n_items: got {n_items}, but y_anchor has {n_anchor} anchors and p_rest "
            f"{n_rest} other items; pass n_items = {n_anchor + n_rest}"
        )
    bw_a = _matching_weights(bw_anchor, "bw_anchor", n_anchor)
    lam = n_anchor / n_items
    seen = (y * bw_a).mean(axis=-1)
    if n_rest == 0:
        return seen
    return lam * seen + (1.0 - lam) * (p * _matching_weights(bw_rest, "bw_rest", n_rest)).mean(
        axis=-1
    )


def _matching_weights(w: Any, name: str, n: int) -> np.ndarray:
    arr = as_float_array(w, name, ndim=1, allow_empty=True)
    if arr.shape[0] != n:
        raise ShapeError(f"{name}: has {arr.shape[0]} values, expected {n} (one per item)")
    return arr


def gpirt_lambda(b: float, v: float, n: int, c: float) -> float:
    """gp-IRT mixing weight ``b² / (b² + v / (c · n))`` (1 when both terms vanish)."""
    n = check_scalar(n, "n", kind=int, low=1, high=_MAX_COUNT)
    c = check_scalar(c, "c", kind=float, low=0.0, low_inclusive=False)
    denom = b * b + v / (c * n)
    return 1.0 if denom <= 0 else float(b * b / denom)


def gpirt_estimate(naive: ArrayLike, pirt: ArrayLike, lam: ArrayLike) -> np.ndarray:
    """gp-IRT: ``λ · naive + (1 - λ) · p-IRT``."""
    weight = as_float_array(lam, "lam")
    if ((weight < 0) | (weight > 1)).any():
        raise InvalidArgumentError("lam: must lie in [0, 1] (a mixing weight)")
    return weight * as_float_array(naive, "naive") + (1.0 - weight) * as_float_array(pirt, "pirt")


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


# ============================================================================ anchor selection


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
    bench = _Bench.from_input(Y, scenario, subscenario)
    n_anchors = check_scalar(n_anchors, "n_anchors", kind=int, low=1)
    _check_method(method)
    bench.check_budget(n_anchors)
    seed = seed_from_rng(rng)
    if method in ("irt", "fisher") and irt is None:
        raise InvalidArgumentError(
            f"irt: method={method!r} needs a fitted calipers.irt.IRT model of these items; "
            "pass irt=IRT(...).fit(Y), or use method='correctness' or 'random'"
        )
    if irt is not None and np.asarray(irt.b_).shape[0] != bench.n_items:
        raise ShapeError(
            f"irt: the model has {np.asarray(irt.b_).shape[0]} items but Y has {bench.n_items}"
        )
    return _select(bench, bench.scores, n_anchors, method, irt, n_restarts, seed, progress)


def _select(
    bench: _Bench,
    scores: np.ndarray,
    n: int,
    method: str,
    irt: Any,
    n_restarts: int,
    seed: int,
    progress: Callable[[int, int], Any] | None,
) -> dict[str, AnchorSet]:
    out = {}
    for s_index, s in enumerate(bench.scenarios):
        idx = bench.scenario_index[s]
        bw = bench.bw[idx]
        sub_seed = (seed + 7919 * s_index) % 2**64
        if method == "random":
            local, w = _stratified(bench.sub_of(idx), bw, n, np.random.default_rng(sub_seed))
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


# ============================================================================ benchmark data


class _Bench:
    """Scores with items grouped by scenario, and the balance weights."""

    def __init__(
        self,
        scores: np.ndarray,
        scenario: np.ndarray,
        subscenario: np.ndarray | None,
        items: list[str],
        models: list[str],
    ) -> None:
        self.scores = scores
        self.scenario = scenario
        self.subscenario = subscenario
        self.items = items
        self.models = models
        self.bw = balance_weights(scenario, subscenario)
        self.scenarios = _unique(scenario)
        self.scenario_index = {s: np.flatnonzero(scenario == s) for s in self.scenarios}

    @property
    def n_items(self) -> int:
        return self.scores.shape[1]

    def sub_of(self, idx: np.ndarray) -> np.ndarray:
        if self.subscenario is None:
            return np.zeros(idx.size, dtype=object)
        return self.subscenario[idx]

    @classmethod
    def from_input(
        cls,
        Y: Any,
        scenario: Any = None,
        subscenario: Any = None,
        items: Sequence[str] | None = None,
        models: Sequence[str] | None = None,
    ) -> _Bench:
        if isinstance(Y, EvalData):
            scores = Y.scores
            scenario = Y.scenario if scenario is None else scenario
            subscenario = Y.subscenario if subscenario is None else subscenario
            items = Y.items if items is None else items
            models = Y.models if models is None else models
        else:
            scores = Y
        arr = as_float_array(scores, "Y", ndim=2, allow_empty=True, finite=False)
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ShapeError(
                f"Y: expected a non-empty 2-D models x items array, got shape {arr.shape}"
            )
        # nanmin/nanmax first (two passes); the element-wise search only when one fails
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN input: checked later
            out_of_range = np.nanmin(arr) < 0 or np.nanmax(arr) > 1
        bad = ~np.isnan(arr) & ((arr < 0) | (arr > 1)) if out_of_range else None
        if bad is not None and bad.any():
            r, c = (int(v) for v in np.argwhere(bad)[0])
            raise InvalidArgumentError(
                f"Y: value {arr[r, c]} at (model {r}, item {c}) is outside [0, 1]; scores must "
                "be correctness (0/1) or fractional scores in [0, 1], NaN for missing"
            )
        n_models, n_items = arr.shape
        scen = (
            np.full(n_items, "all", dtype=object)
            if scenario is None
            else _labels(scenario, "scenario")
        )
        if scen.shape != (n_items,):
            raise ShapeError(f"scenario: has {scen.size} labels for {n_items} items")
        sub = None if subscenario is None else _labels(subscenario, "subscenario")
        if sub is not None and sub.shape != (n_items,):
            raise ShapeError(f"subscenario: has {sub.size} labels for {n_items} items")
        item_ids = (
            [str(i) for i in items] if items is not None else [str(j) for j in range(n_items)]
        )
        if len(item_ids) != n_items:
            raise ShapeError(f"items: has {len(item_ids)} ids for {n_items} items")
        if len(set(item_ids)) != n_items:
            raise InvalidArgumentError("items: item ids must be unique")
        model_ids = (
            [str(m) for m in models] if models is not None else [str(r) for r in range(n_models)]
        )
        return cls(np.ascontiguousarray(arr), scen, sub, item_ids, model_ids)

    def check_budget(self, n: int) -> None:
        small = {s: i.size for s, i in self.scenario_index.items() if i.size < n}
        if small:
            raise InvalidArgumentError(
                f"n_anchors: {n} anchors per scenario but scenario(s) {small} have fewer items; "
                "lower n_anchors or merge small scenarios"
            )

    def true_scores(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Balance-weighted scenario means (NaN-aware), shape (n_rows, n_scenarios)."""
        y = self.scores[rows]
        observed = ~np.isnan(y)
        if observed.all():
            # One matrix product with per-scenario weight columns (same sums, BLAS order).
            return y @ self.scenario_weights()
        out = np.empty((y.shape[0], len(self.scenarios)))
        for k, s in enumerate(self.scenarios):
            idx = self.scenario_index[s]
            obs = observed[:, idx]
            wy = np.where(obs, y[:, idx], 0.0) @ self.bw[idx]
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, k] = wy / (obs @ self.bw[idx])
        return out

    def scenario_weights(self) -> np.ndarray:
        """(n_items, n_scenarios): column s holds ``bw_i / Σ_{j in s} bw_j`` on s's items."""
        if "_scenario_weights" not in self.__dict__:
            w = np.zeros((self.n_items, len(self.scenarios)))
            for k, s in enumerate(self.scenarios):
                idx = self.scenario_index[s]
                w[idx, k] = self.bw[idx] / self.bw[idx].sum()
            self._scenario_weights = w
        return self._scenario_weights


# ============================================================================ the estimator


@dataclasses.dataclass(frozen=True, repr=False)
class TinyEstimate(Result):
    """Estimated scenario scores of one or more models.

    Attributes
    ----------
    scenarios : list of str
    naive, pirt, gpirt : ndarray, shape (n_models, n_scenarios)
        The three estimators.
    estimate : ndarray, shape (n_models, n_scenarios)
        The estimator chosen in :class:`TinyBenchmark` (``estimator``).
    cv_error : ndarray, shape (n_scenarios,)
        Cross-validated mean absolute error of ``estimate`` per scenario (NaN if no CV).
    theta : ndarray, shape (n_models, dims)
        Abilities estimated from the anchors.
    """

    scenarios: list[str]
    naive: np.ndarray
    pirt: np.ndarray
    gpirt: np.ndarray
    estimate: np.ndarray
    cv_error: np.ndarray
    theta: np.ndarray

    def as_dict(self, estimator: str = "estimate", row: int = 0) -> dict[str, float]:
        """``{scenario: value}`` of one estimator for one model."""
        values = getattr(self, estimator)[row]
        return {s: float(v) for s, v in zip(self.scenarios, values, strict=True)}


class TinyBenchmark(_EstimatorBase):
    """tinyBenchmarks: anchors, IRT and estimators for a benchmark with scenarios.

    Parameters
    ----------
    n_anchors : int, default 100
        Anchor items per scenario.
    method : {"irt", "correctness", "random", "fisher"}, default "irt"
        Anchor selection (see the module docstring).
    estimator : {"gpirt", "pirt", "naive"}, default "gpirt"
        Which estimator :attr:`TinyEstimate.estimate` reports (all three are computed).
    dims : int or sequence of int, default (1, 2, 5)
        Candidate IRT dimensions; with several, the smallest whose validation error is within
        ``dim_tol`` of the best is used (as tinyBenchmarks).
    dim_tol : float, default 0.0025
    joint : bool, default True
        Estimate a new model's ability from all scenarios' anchors at once (tinyBenchmarks'
        Open LLM Leaderboard setting); False estimates one ability per scenario.
    ability : {"map", "mle", "eap"}, default "map"
        Ability estimator for new models. tinyBenchmarks uses the MLE, which is infinite for
        all-correct or all-wrong anchor responses; MAP under the standard-normal prior of the
        fitted abilities stays finite.
    cv_folds : int, default 5
        Folds of training models for the cross-validated errors (>= 2). Fold 0 is also the
        validation split that chooses the dimension and the gp-IRT λ.
    n_restarts : int, default 5
        k-means restarts.
    irt_model : {"2pl", "1pl", "rasch"}, default "2pl"
    irt_params : dict, optional
        Extra keyword arguments for :class:`calipers.irt.IRT` (``max_iter``, priors, ...).
    random_state : None, int or Generator

    Attributes
    ----------
    scenarios_ : list of str
    items_ : list of str
        All item ids.
    anchors_ : dict scenario -> list of str
        Anchor item ids.
    anchor_index_ : dict scenario -> ndarray of int
        Anchor positions among ``items_``.
    weights_ : dict scenario -> ndarray
        Anchor weights (sum to 1 per scenario).
    lambda_ : dict scenario -> float
        gp-IRT mixing weight.
    cv_error_ : dict scenario -> dict estimator -> float
        Cross-validated mean absolute error (0-1 scale) over held-out training models.
    dims_ : int
        The chosen IRT dimension; ``dim_errors_`` maps each candidate to its validation error.
    irt_ : calipers.irt.IRT
        The IRT model fitted on all training models.
    balance_weights_ : ndarray
    """

    def __init__(
        self,
        n_anchors: int = 100,
        method: Method = "irt",
        estimator: Estimator = "gpirt",
        dims: int | Sequence[int] = (1, 2, 5),
        dim_tol: float = 0.0025,
        joint: bool = True,
        ability: Literal["map", "mle", "eap"] = "map",
        cv_folds: int = 5,
        n_restarts: int = 5,
        irt_model: Literal["2pl", "1pl", "rasch"] = "2pl",
        irt_params: Mapping[str, Any] | None = None,
        random_state: Any = None,
    ) -> None:
        self.n_anchors = n_anchors
        self.method = method
        self.estimator = estimator
        self.dims = dims
        self.dim_tol = dim_tol
        self.joint = joint
        self.ability = ability
        self.cv_folds = cv_folds
        self.n_restarts = n_restarts
        self.irt_model = irt_model
        self.irt_params = irt_params
        self.random_state = random_state

    _fitted_attribute = "anchors_"
    _fit_hint = "call fit(Y) first"

    def _check_params(self) -> tuple[int, ...]:
        check_scalar(self.n_anchors, "n_anchors", kind=int, low=1)
        _check_method(self.method)
        if self.estimator not in ESTIMATORS:
            raise InvalidArgumentError(
                f"estimator: got {self.estimator!r}; use one of {list(ESTIMATORS)}"
            )
        if self.ability not in ("map", "mle", "eap"):
            raise InvalidArgumentError(f"ability: got {self.ability!r}; use 'map', 'mle' or 'eap'")
        check_scalar(self.cv_folds, "cv_folds", kind=int, low=2)
        check_scalar(self.dim_tol, "dim_tol", kind=float, low=0.0)
        dims = (self.dims,) if isinstance(self.dims, int) else tuple(self.dims)
        if not dims:
            raise InvalidArgumentError("dims: give at least one IRT dimension")
        for d in dims:
            check_scalar(d, "dims", kind=int, low=1)
        return tuple(sorted(set(dims)))

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        Y: Any,
        scenario: Any = None,
        subscenario: Any = None,
        items: Sequence[str] | None = None,
        progress: bool | Callable[[str], Any] = False,
    ) -> TinyBenchmark:
        """Fit on training models' full responses.

        Parameters
        ----------
        Y : array_like (n_models, n_items) or EvalData
            Scores in [0, 1] (NaN = missing). Items may be fractional; the IRT model then
            treats them as Bernoulli targets.
        scenario, subscenario : sequence of str, optional
            Per-item labels (an EvalData brings its own).
        items : sequence of str, optional
            Item ids (default ``"0"``, ``"1"``, ...; an EvalData brings its own).
        progress : bool or callable
            True prints the steps to stderr; a callable receives each step's message.

        Returns
        -------
        self
        """
        dims = self._check_params()
        say = _reporter(progress)
        bench = _Bench.from_input(Y, scenario, subscenario, items)
        bench.check_budget(self.n_anchors)
        n_models = bench.scores.shape[0]
        if n_models < 2 * self.cv_folds and n_models < 4:
            raise InvalidArgumentError(
                f"Y: {n_models} training models are too few for cross-validation; pass at least 4"
            )
        seed = seed_from_rng(self.random_state, "random_state")
        folds = _folds(n_models, min(self.cv_folds, n_models), seed)
        c = 1.0 if self.method in ("random", "fisher") else 4.0
        v = _item_variance(bench)

        # Fold 0 chooses the dimension and gives b (the p-IRT validation error) for λ.
        held = folds == 0
        dim_errors: dict[int, float] = {}
        fold_results: dict[int, dict[str, np.ndarray]] = {}
        per_dim: dict[int, dict[str, np.ndarray]] = {}
        for d in dims:
            say(f"validation fit: IRT dims={d} on {int((~held).sum())} models")
            per_dim[d] = self._holdout(bench, ~held, held, d, seed)
            dim_errors[d] = float(np.nanmean(np.abs(per_dim[d]["pirt"] - per_dim[d]["truth"])))
        best = min(dim_errors.values())
        chosen = next(d for d in dims if dim_errors[d] - best <= self.dim_tol)
        fold_results[0] = per_dim[chosen]
        b = np.nanmean(np.abs(per_dim[chosen]["pirt"] - per_dim[chosen]["truth"]), axis=0)
        lam = np.array(
            [gpirt_lambda(float(b[k]), float(v[k]), self.n_anchors, c) for k in range(len(b))]
        )
        for f in range(1, int(folds.max()) + 1):
            say(f"cross-validation fold {f + 1}/{int(folds.max()) + 1}")
            fold_results[f] = self._holdout(bench, folds != f, folds == f, chosen, seed)

        errors: dict[str, list[np.ndarray]] = {e: [] for e in ESTIMATORS}
        for res in fold_results.values():
            errors["naive"].append(np.abs(res["naive"] - res["truth"]))
            errors["pirt"].append(np.abs(res["pirt"] - res["truth"]))
            gp = gpirt_estimate(res["naive"], res["pirt"], lam[None, :])
            errors["gpirt"].append(np.abs(gp - res["truth"]))
        cv = {e: np.nanmean(np.vstack(errors[e]), axis=0) for e in ESTIMATORS}

        say(f"final fit: IRT dims={chosen} on all {n_models} models, {self.method} anchors")
        irt = self._fit_irt(bench.scores, chosen, seed)
        anchors = _select(
            bench, bench.scores, self.n_anchors, self.method, irt, self.n_restarts, seed, None
        )
        self._set_fitted(bench, irt, anchors, lam, cv, chosen, dim_errors)
        return self

    def _fit_irt(self, scores: np.ndarray, dims: int, seed: int) -> Any:
        from .irt import IRT

        params = dict(self.irt_params or {})
        model = IRT(model=self.irt_model, dims=dims, random_state=seed, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning of inner fits
            return model.fit(scores)

    def _holdout(
        self, bench: _Bench, train: np.ndarray, test: np.ndarray, dims: int, seed: int
    ) -> dict[str, np.ndarray]:
        """Fit on ``train`` models, estimate the ``test`` models from their anchors."""
        train_scores = bench.scores[train]
        irt = self._fit_irt(train_scores, dims, seed)
        anchors = _select(
            bench,
            train_scores,
            self.n_anchors,
            self.method,
            irt,
            self.n_restarts,
            seed,
            None,
        )
        y = bench.scores[test]
        naive, pirt, _ = _estimate(bench, irt, anchors, y, self.joint, self.ability)
        return {"naive": naive, "pirt": pirt, "truth": bench.true_scores(test)}

    def _set_fitted(
        self,
        bench: _Bench,
        irt: Any,
        anchors: dict[str, AnchorSet],
        lam: np.ndarray,
        cv: dict[str, np.ndarray],
        dims: int,
        dim_errors: dict[int, float],
    ) -> None:
        self._bench = bench
        self.irt_ = irt
        self.scenarios_ = list(bench.scenarios)
        self.items_ = list(bench.items)
        self.balance_weights_ = bench.bw
        self.anchor_index_ = {s: a.index for s, a in anchors.items()}
        self.anchors_ = {s: [bench.items[i] for i in a.index] for s, a in anchors.items()}
        self.weights_ = {s: a.weights for s, a in anchors.items()}
        self.lambda_ = {s: float(lam[k]) for k, s in enumerate(self.scenarios_)}
        self.cv_error_ = {
            s: {e: float(cv[e][k]) for e in ESTIMATORS} for k, s in enumerate(self.scenarios_)
        }
        self.dims_ = int(dims)
        self.dim_errors_ = {int(d): float(e) for d, e in dim_errors.items()}
        self._anchor_sets = anchors
        self._prepare()

    def _prepare(self) -> None:
        """Pre-computes index arrays so that estimating a model is a few vector operations."""
        self._all_anchors = np.concatenate([self._anchor_sets[s].index for s in self.scenarios_])
        self._anchor_pos = {item: j for j, item in enumerate(self.anchor_items())}

    def anchor_items(self) -> list[str]:
        """All anchor item ids, scenario by scenario (the column order :meth:`estimate`
        accepts for an array)."""
        self._check_fitted()
        return [self.items_[i] for i in self._all_anchors]

    # ------------------------------------------------------------------ estimating
    def estimate(self, responses: Any) -> TinyEstimate:
        """Estimate scenario scores of new models from their anchor responses alone.

        Parameters
        ----------
        responses : mapping item id -> score, array_like or EvalData
            A mapping (one model) must hold every anchor item id (extra items are ignored).
            An array has shape (n_anchors_total,) or (n_models, n_anchors_total) in the order
            of :meth:`anchor_items`, or (n_models, n_items) over all items (only the anchor
            columns are read). An EvalData is matched by item id.

        Returns
        -------
        TinyEstimate
        """
        self._check_fitted()
        y = self._anchor_matrix(responses)
        naive, pirt, theta = _estimate(
            self._bench, self.irt_, self._anchor_sets, y, self.joint, self.ability, anchor_only=True
        )
        lam = np.array([self.lambda_[s] for s in self.scenarios_])
        gp = gpirt_estimate(naive, pirt, lam[None, :])
        chosen = {"naive": naive, "pirt": pirt, "gpirt": gp}[self.estimator]
        cv = np.array([self.cv_error_[s][self.estimator] for s in self.scenarios_])
        return TinyEstimate(
            scenarios=list(self.scenarios_),
            naive=naive,
            pirt=pirt,
            gpirt=gp,
            estimate=chosen,
            cv_error=cv,
            theta=theta,
        )

    def _anchor_matrix(self, responses: Any) -> np.ndarray:
        names = self.anchor_items()
        n_total = len(names)
        if isinstance(responses, EvalData):
            have = set(responses.items)
            missing = [i for i in names if i not in have]
            if missing:
                raise InvalidArgumentError(
                    f"responses: {len(missing)} anchor item(s) are not in the data, e.g. "
                    f"{missing[:3]}; run the models on every item of anchor_items()"
                )
            y = responses.select(items=names).scores
        elif isinstance(responses, Mapping):
            known = self.__dict__.setdefault("_item_set", set(self.items_))
            unknown = [k for k in responses if str(k) not in known]
            if unknown:
                raise InvalidArgumentError(
                    f"responses: {len(unknown)} item id(s) are not items of this benchmark, "
                    f"e.g. {unknown[:3]}; use ids from items_ / anchor_items()"
                )
            given = {str(k): v for k, v in responses.items()}
            missing = [i for i in names if i not in given]
            if missing:
                raise InvalidArgumentError(
                    f"responses: missing {len(missing)} of the {n_total} anchor items, e.g. "
                    f"{missing[:3]}; run the model on every item of anchor_items()"
                )
            y = np.array([[float(given[i]) for i in names]])
        else:
            arr = np.asarray(responses, dtype=np.float64)
            arr = arr.reshape(1, -1) if arr.ndim == 1 else arr
            if arr.ndim != 2 or arr.shape[1] not in (n_total, len(self.items_)):
                raise ShapeError(
                    f"responses: expected {n_total} anchor columns (anchor_items() order) or "
                    f"{len(self.items_)} columns (all items), got shape {np.shape(responses)}"
                )
            y = arr if arr.shape[1] == n_total else arr[:, self._all_anchors]
        bad = np.isnan(y)
        if bad.any():
            r, j = (int(v) for v in np.argwhere(bad)[0])
            raise InvalidArgumentError(
                f"responses: anchor item {names[j]!r} has no score for model {r} "
                f"({int(bad.sum())} missing in all); every anchor needs a response"
            )
        if ((y < 0) | (y > 1)).any():
            raise InvalidArgumentError("responses: scores must lie in [0, 1]")
        return np.ascontiguousarray(y)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Save to a JSON file.

        Format (``format = "calipers.tiny"``, ``version = 2``; version 1 files still load): ``params`` (constructor
        arguments; ``random_state`` dropped), ``items`` (all item ids), ``scenario`` and
        ``subscenario`` (per-item labels or null), ``balance_weights``, ``dims`` (chosen IRT
        dimension), ``dim_errors``, ``irt`` (the IRT model's own saved state, schema
        ``"calipers.irt"`` version 1: see :meth:`calipers.irt.IRT.save`), and ``scenarios``: a mapping scenario -> ``anchors`` (item ids),
        ``anchor_index`` (positions in ``items``), ``weights``, ``lambda``, ``cv_error``
        (estimator -> mean absolute error). Floats are written with full precision, so a
        loaded model gives bit-identical estimates.
        """
        self._check_fitted()
        bench = self._bench
        state = {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "params": self.get_params() | {"random_state": None},
            "items": self.items_,
            "scenario": bench.scenario.tolist(),
            "subscenario": None if bench.subscenario is None else bench.subscenario.tolist(),
            "balance_weights": bench.bw.tolist(),
            "dims": self.dims_,
            "dim_errors": {str(k): v for k, v in self.dim_errors_.items()},
            "irt": self.irt_._state() | {"theta": None},  # training abilities not needed
            "scenarios": {
                s: {
                    "anchors": self.anchors_[s],
                    "anchor_index": self.anchor_index_[s].tolist(),
                    "weights": self.weights_[s].tolist(),
                    "lambda": self.lambda_[s],
                    "cv_error": self.cv_error_[s],
                }
                for s in self.scenarios_
            },
        }
        if isinstance(state["params"]["dims"], tuple):
            state["params"]["dims"] = list(state["params"]["dims"])
        path = Path(path)
        path.write_text(json.dumps(state, indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> TinyBenchmark:
        """Load a model written by :meth:`save`, validating every field.

        Raises
        ------
        InvalidArgumentError
            The file cannot be read, is not a saved TinyBenchmark, has an unknown format
            version, or has a missing or inconsistent field (the message names the file and
            the problem).
        """
        path = Path(path)
        try:
            state = json.loads(path.read_bytes().decode("utf-8"))
        except OSError as exc:
            raise InvalidArgumentError(f"path: could not read {path} ({exc})") from None
        except ValueError as exc:
            raise _corrupt_tiny(path, f"not JSON ({exc})") from None
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise _corrupt_tiny(path, f"'format' is not {_FORMAT!r}")
        if state.get("version") not in (1, _FORMAT_VERSION):
            raise InvalidArgumentError(
                f"path: {path} has format version {state.get('version')!r}; this calipers "
                f"reads versions 1 and {_FORMAT_VERSION}"
            )
        try:
            return cls._from_state(state, path)
        except InvalidArgumentError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise _corrupt_tiny(path, f"{type(exc).__name__}: {exc}") from None

    @classmethod
    def _from_state(cls, state: dict[str, Any], path: Path) -> TinyBenchmark:
        from .irt import IRT

        params = state["params"]
        valid = set(inspect.signature(cls.__init__).parameters) - {"self"}
        if not isinstance(params, dict) or not set(params) <= valid:
            raise _corrupt_tiny(path, "'params' is not a mapping of TinyBenchmark arguments")
        model = cls(**params)
        items = state["items"]
        if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
            raise _corrupt_tiny(path, "'items' must be a non-empty list of item ids")
        n_items = len(items)
        scenario = np.asarray(state["scenario"], dtype=object)
        sub = state["subscenario"]
        for name, labels in (("scenario", scenario), ("subscenario", sub)):
            if labels is not None and np.shape(labels) != (n_items,):
                raise _corrupt_tiny(path, f"'{name}' must hold one label per item")
        bench = _Bench(
            np.empty((0, n_items)),
            scenario,
            None if sub is None else np.asarray(sub, dtype=object),
            list(items),
            [],
        )
        bench.bw = _finite_vector(state["balance_weights"], "balance_weights", n_items, path)
        irt_state = state["irt"]
        if state["version"] == 1:  # the IRT part was a bare (model, dims, a, b, term_clip)
            irt_state = _irt_state_v1(irt_state)
        irt = IRT._from_state(irt_state, f"{path} (field 'irt')")
        if irt.b_.shape[0] != n_items:
            raise _corrupt_tiny(path, f"'irt' has {irt.b_.shape[0]} items but 'items' {n_items}")
        irt.theta_ = None
        scen = state["scenarios"]
        if not isinstance(scen, dict) or set(scen) != set(bench.scenarios):
            raise _corrupt_tiny(path, "'scenarios' must have one entry per scenario label")
        anchors = {s: _anchor_set(scen[s], s, bench, model.method, path) for s in bench.scenarios}
        lam = np.array([float(scen[s]["lambda"]) for s in bench.scenarios])
        if not np.all((lam >= 0) & (lam <= 1)):
            raise _corrupt_tiny(path, "a scenario's 'lambda' is outside [0, 1]")
        cv = {
            e: np.array([float(scen[s]["cv_error"][e]) for s in bench.scenarios])
            for e in ESTIMATORS
        }
        dims = state["dims"]
        if not isinstance(dims, int) or dims != irt.a_.shape[1]:
            raise _corrupt_tiny(path, f"'dims' ({dims!r}) does not match the IRT model")
        dim_errors = {int(k): float(v) for k, v in state["dim_errors"].items()}
        model._set_fitted(bench, irt, anchors, lam, cv, dims, dim_errors)
        return model


def _corrupt_tiny(path: Path, problem: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"path: {path} is not a valid saved calipers TinyBenchmark: {problem}; fit and save it "
        "again"
    )


def _irt_state_v1(p: dict[str, Any]) -> dict[str, Any]:
    """A version-1 TinyBenchmark's IRT fields as an IRT saved state (schema 1)."""
    return {
        "format": "calipers.irt",
        "version": 1,
        "params": {"model": p["model"], "dims": p["dims"]},
        "term_clip": p["term_clip"],
        "loglik": None,
        "n_iter": 0,
        "converged": True,
        "theta": None,
        "a": p["a"],
        "b": p["b"],
    }


def _finite_vector(values: Any, name: str, n: int, path: Path) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise _corrupt_tiny(path, f"'{name}' must hold {n} finite numbers")
    return arr


def _anchor_set(entry: dict[str, Any], s: str, bench: _Bench, method: str, path: Path):
    index = np.asarray(entry["anchor_index"])
    if index.ndim != 1 or index.size == 0 or index.dtype.kind not in "iu":
        raise _corrupt_tiny(path, f"scenario {s!r}: 'anchor_index' must be a list of integers")
    if not np.isin(index, bench.scenario_index[s]).all():
        raise _corrupt_tiny(path, f"scenario {s!r}: an anchor is not an item of that scenario")
    weights = _finite_vector(entry["weights"], f"{s}.weights", index.size, path)
    return AnchorSet(scenario=s, index=index.astype(np.intp), weights=weights, method=method)


def _estimate(
    bench: _Bench,
    irt: Any,
    anchors: dict[str, AnchorSet],
    y: np.ndarray,
    joint: bool,
    ability: str,
    anchor_only: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """naive and p-IRT estimates (n_models x n_scenarios) and the abilities used.

    ``y`` holds either every item's responses, or (``anchor_only``) only the anchors, in
    scenario order.
    """
    scen = bench.scenarios
    all_idx = np.concatenate([anchors[s].index for s in scen])
    cols: dict[str, np.ndarray] = {}
    start = 0
    for s in scen:
        n = anchors[s].index.size
        cols[s] = np.arange(start, start + n) if anchor_only else anchors[s].index
        start += n
    y_anchor = y if anchor_only else y[:, all_idx]
    n_models = y.shape[0]
    naive = np.empty((n_models, len(scen)))
    pirt = np.empty((n_models, len(scen)))
    if joint:
        theta = _ability(irt, y_anchor, all_idx, ability)
    thetas = []
    for k, s in enumerate(scen):
        a_idx, w = anchors[s].index, anchors[s].weights
        ya = y[:, cols[s]]
        if not joint:
            theta = _ability(irt, ya, a_idx, ability)
            thetas.append(theta)
        rest = _rest_index(bench, s, a_idx)
        p_rest = irt.predict_proba(theta, rest)
        n_items = bench.scenario_index[s].size
        observed = ~np.isnan(ya)
        if observed.all():
            naive[:, k] = ya @ w
            pirt[:, k] = pirt_estimate(ya, bench.bw[a_idx], p_rest, bench.bw[rest], n_items)
            continue
        # Held-out training models may miss some anchors: use the observed ones.
        y0 = np.where(observed, ya, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            naive[:, k] = (y0 @ w) / (observed @ w)
            seen = (y0 * bench.bw[a_idx]).sum(axis=1) / observed.sum(axis=1)
        lam = a_idx.size / n_items
        rest_part = (p_rest * bench.bw[rest]).mean(axis=1) if rest.size else seen
        pirt[:, k] = lam * seen + (1 - lam) * rest_part
    theta_out = theta if joint else np.concatenate(thetas, axis=1)
    return naive, pirt, theta_out


def _rest_index(bench: _Bench, s: str, a_idx: np.ndarray) -> np.ndarray:
    key = (s, a_idx.tobytes())
    cache = bench.__dict__.setdefault("_rest_cache", {})
    if key not in cache:
        idx = bench.scenario_index[s]
        cache[key] = idx[~np.isin(idx, a_idx)]
    return cache[key]


def _ability(irt: Any, y: np.ndarray, items: np.ndarray, method: str) -> np.ndarray:
    theta = irt.score_new(y, items=items, method=method).theta
    # An MLE for all-correct / all-wrong answers is infinite; p(inf) is then exactly 1 / 0.
    return np.asarray(theta, dtype=np.float64)


def _item_variance(bench: _Bench) -> np.ndarray:
    """v per scenario: mean over training models of the across-item variance of the scores."""
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        complete = not np.isnan(bench.scores).any()
        for s in bench.scenarios:
            block = bench.scores[:, bench.scenario_index[s]]
            var = np.var(block, axis=1) if complete else np.nanvar(block, axis=1)
            out.append(float(np.nanmean(var)) if np.isfinite(var).any() else 0.0)
    return np.asarray(out)


def _folds(n: int, k: int, seed: int) -> np.ndarray:
    """Fold label of each model: a seeded permutation cut into k near-equal parts."""
    order = np.random.default_rng(seed).permutation(n)
    labels = np.empty(n, dtype=np.intp)
    labels[order] = np.arange(n) % k
    return labels


def _reporter(progress: bool | Callable[[str], Any]) -> Callable[[str], Any]:
    if callable(progress):
        return progress
    if progress:
        return lambda msg: print(f"[calipers.tiny] {msg}", file=sys.stderr, flush=True)
    return lambda msg: None


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise InvalidArgumentError(f"method: got {method!r}; use one of {list(METHODS)}")


def _labels(values: Any, name: str) -> np.ndarray:
    arr = np.asarray([str(v) for v in values], dtype=object)
    if arr.ndim != 1:
        raise ShapeError(f"{name}: expected one label per item")
    return arr


def _unique(labels: np.ndarray) -> list[str]:
    """Labels in order of first appearance."""
    return list(dict.fromkeys(labels.tolist()))


# ============================================================================ LiveXiv


def choose_models_to_rerun(
    theta: ArrayLike, b: ArrayLike, m: int, *, a: ArrayLike | None = None, must_run: Any = None
) -> np.ndarray:
    """LiveXiv's Fisher-information design: which ``m`` models to re-evaluate.

    Takes the ``m`` items whose difficulties ``b / a`` are nearest the 5th..95th percentiles
    and, for each, the model with the largest Fisher information ``p(1 - p)`` at that item
    (for the Rasch model: the ability closest to the difficulty). If fewer than ``m`` distinct
    models result, the model farthest on average (in ability) from those chosen is added until
    there are ``m``, as in LiveXiv's ``EfficEval``. Models in ``must_run`` (e.g. new models without earlier results, whose
    ``theta`` is NaN) are run in addition to the ``m``.

    Returns
    -------
    ndarray of int
        The chosen model indices (``must_run`` included), sorted.
    """
    th = np.asarray(theta, dtype=np.float64)
    th = th[:, 0] if th.ndim == 2 else th
    diff = np.asarray(b, dtype=np.float64)
    if a is not None:
        diff = diff / np.asarray(a, dtype=np.float64).reshape(diff.shape[0], -1)[:, 0]
    forced = [] if must_run is None else sorted({int(i) for i in must_run})
    known = np.setdiff1d(np.flatnonzero(np.isfinite(th)), forced)
    m = check_scalar(m, "m", kind=int, low=1, high=max(int(known.size), 1))
    # Anchor items: those nearest the m percentiles of the difficulties; each picks its most
    # informative model (a model may be picked twice: LiveXiv keeps the distinct ones).
    targets = np.percentile(diff, np.linspace(5, 95, m))
    anchor_diff = diff[np.abs(diff[None, :] - targets[:, None]).argmin(axis=1)]
    p = 1.0 / (1.0 + np.exp(-(th[known][:, None] - anchor_diff[None, :])))
    chosen = [int(i) for i in np.unique(known[(p * (1 - p)).argmax(axis=0)])]
    while len(chosen) < m:
        # fill up with the model farthest on average from those chosen
        rest = np.setdiff1d(known, chosen)
        gap = np.abs(th[rest][:, None] - th[chosen][None, :]).mean(axis=1)
        chosen.append(int(rest[np.argmax(gap)]))
    return np.asarray(sorted(chosen + forced), dtype=np.intp)


@dataclasses.dataclass(frozen=True, repr=False)
class ReEvaluationResult(Result):
    """New-version scores: observed for the re-run models, predicted for the others.

    Attributes
    ----------
    rerun : ndarray of int
        Models evaluated on the new version.
    predicted : ndarray, shape (n_models,)
        New-version mean score of every model (re-run models: observed cells kept).
    true : ndarray or None
        Full-evaluation scores, when known (for validation).
    mae : float
        Mean absolute error on the models not re-run (NaN when ``true`` is unknown).
    spearman : float
        Rank correlation of predicted and true scores over all models (NaN if unknown).
    """

    rerun: np.ndarray
    predicted: np.ndarray
    true: np.ndarray | None
    mae: float
    spearman: float


class ReEvaluation(_EstimatorBase):
    """LiveXiv-style efficient re-evaluation of a benchmark that gets new versions.

    Parameters
    ----------
    m : int, default 5
        Models to re-run on each new version (models without earlier results run in
        addition).
    irt_model : {"rasch", "1pl", "2pl"}, default "rasch"
        LiveXiv uses the Rasch model.
    irt_params : dict, optional
        Arguments of :class:`calipers.irt.IRT`, over the defaults
        ``prior_sd_theta=30, prior_sd_b=30``: nearly flat priors, close to LiveXiv's
        unpenalised maximum likelihood while keeping all-correct items finite.

    Attributes (after :meth:`fit`)
    ------------------------------
    irt_ : calipers.irt.IRT
        Fitted on the earlier versions.
    """

    _fitted_attribute = "irt_"
    _fit_hint = "call fit(Y_prev) first"

    def __init__(
        self,
        m: int = 5,
        irt_model: Literal["rasch", "1pl", "2pl"] = "rasch",
        irt_params: Mapping[str, Any] | None = None,
    ) -> None:
        self.m = m
        self.irt_model = irt_model
        self.irt_params = irt_params

    def _irt(self) -> Any:
        from .irt import IRT

        params = {"prior_sd_theta": 30.0, "prior_sd_b": 30.0} | dict(self.irt_params or {})
        return IRT(model=self.irt_model, **params)

    def fit(self, Y_prev: Any) -> ReEvaluation:
        """Fit the IRT model to earlier versions (models x items, NaN = not evaluated)."""
        y = _as_matrix(Y_prev, "Y_prev")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.irt_ = self._irt().fit(y)
        self.n_models_ = y.shape[0]
        self.unseen_ = np.flatnonzero(np.isnan(y).all(axis=1))
        return self

    def choose_models(self) -> np.ndarray:
        """The ``m`` models to run on the new version, plus every model never evaluated."""
        self._check_fitted()
        theta = np.asarray(self.irt_.theta_)[:, 0].copy()
        theta[self.unseen_] = np.nan
        a = np.asarray(self.irt_.a_)
        return choose_models_to_rerun(theta, self.irt_.b_, self.m, a=a, must_run=self.unseen_)

    def predict(self, Y_prev: Any, Y_new: Any, true: ArrayLike | None = None) -> ReEvaluationResult:
        """Predict every model's new-version score from the re-run models' responses.

        Parameters
        ----------
        Y_prev : array_like (n_models, n_prev_items)
            Earlier versions (NaN = not evaluated).
        Y_new : array_like (n_models, n_new_items)
            The new version: rows of re-run models filled, others NaN.
        true : array_like (n_models,), optional
            Full-evaluation scores, to report the error.
        """
        prev = _as_matrix(Y_prev, "Y_prev")
        new = _as_matrix(Y_new, "Y_new")
        if prev.shape[0] != new.shape[0]:
            raise ShapeError(
                f"Y_new: has {new.shape[0]} models but Y_prev has {prev.shape[0]}; rows must be "
                "the same models in the same order (NaN rows for models not run)"
            )
        rerun = np.flatnonzero(~np.isnan(new).all(axis=1))
        if rerun.size == 0:
            raise InvalidArgumentError("Y_new: no model was evaluated on the new version")
        joint = np.hstack([prev, new])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            irt = self._irt().fit(joint)
        cols = np.arange(prev.shape[1], joint.shape[1])
        p = irt.predict_proba(irt.theta_, cols)
        filled = np.where(np.isnan(new), p, new)
        predicted = filled.mean(axis=1)
        mae = spear = float("nan")
        t = None
        if true is not None:
            t = np.asarray(true, dtype=np.float64).reshape(-1)
            if t.shape != predicted.shape:
                raise ShapeError(f"true: expected {predicted.size} scores, got {t.size}")
            skipped = np.setdiff1d(np.arange(t.size), rerun)
            mae = float(np.mean(np.abs(predicted[skipped] - t[skipped]))) if skipped.size else 0.0
            spear = float(stats.spearmanr(predicted, t).statistic)
        return ReEvaluationResult(rerun=rerun, predicted=predicted, true=t, mae=mae, spearman=spear)

    def evaluate(self, Y_prev: Any, Y_new_full: Any) -> ReEvaluationResult:
        """Validation: choose the models, hide the others' new-version rows, predict, and
        compare with the full evaluation ``Y_new_full``."""
        full = _as_matrix(Y_new_full, "Y_new_full")
        self.fit(Y_prev)
        rerun = self.choose_models()
        partial = np.full_like(full, np.nan)
        partial[rerun] = full[rerun]
        return self.predict(Y_prev, partial, true=np.nanmean(full, axis=1))


def _as_matrix(Y: Any, name: str) -> np.ndarray:
    arr = Y.scores if isinstance(Y, EvalData) else np.asarray(Y, dtype=np.float64)
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2 or arr.size == 0:
        raise ShapeError(f"{name}: expected a non-empty 2-D models x items array, got {arr.shape}")
    return np.ascontiguousarray(arr)
