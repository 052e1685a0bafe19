"""tinyBenchmarks' estimators of a scenario score from anchor responses: balance weights,
naive, p-IRT and gp-IRT (Maia Polo et al. 2024; see :mod:`calipers.tiny`)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .._validation import ArrayLike, as_float_array, check_scalar
from ..exceptions import InvalidArgumentError, ShapeError

__all__ = [
    "balance_weights",
    "gpirt_estimate",
    "gpirt_lambda",
    "naive_estimate",
    "pirt_estimate",
]

Estimator = Literal["naive", "pirt", "gpirt"]
ESTIMATORS: tuple[str, ...] = ("naive", "pirt", "gpirt")
# Counts beyond this cannot reach the core (64-bit): refused up front.
_MAX_COUNT = 2**63 - 1


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


def _labels(values: Any, name: str) -> np.ndarray:
    arr = np.asarray([str(v) for v in values], dtype=object)
    if arr.ndim != 1:
        raise ShapeError(f"{name}: expected one label per item")
    return arr


def _unique(labels: np.ndarray) -> list[str]:
    """Labels in order of first appearance."""
    return list(dict.fromkeys(labels.tolist()))
