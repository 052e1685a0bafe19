"""Fixed family effects under the Beta likelihood (``SkillScalingLaw(loss="beta")``).

The mean structure is Sloth's, μ_ij = c_j + (1 − c_j) σ(λ_jᵀ(Wᵀx_i + α_f(i)) + b_j), with each
family's intercept α_f a free parameter and y_ij ~ Beta(φ_j μ_ij, φ_j (1 − μ_ij)) (missing
scores skipped). Identification by anchors: anchor benchmark k loads on skill k only with
loading 1 and bias 0, which removes the GL(K) and translation invariances, so every parameter
has a standard error: observed information (differences of the analytic gradient), outer
product of the per-family scores (OPG) and the sandwich, all clustered by family.

The likelihood and its gradient come from the random-effects kernel of the Rust core: the
family intercepts enter as one-hot features and the family-effect Cholesky factor is zero, so
the single node at the origin gives the plain (fixed-effect) Beta likelihood, with per-family
score vectors. The fit is the damped quasi-Newton ascent of the random-effects module.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._random import _maximise, _neg_hessian, _one_blas_thread

_START_CLIP = 0.1


@dataclasses.dataclass(frozen=True)
class FixedBetaFit:
    """Raw-feature parameters of a fixed-effect Beta fit (anchored) and their covariances."""

    slopes: np.ndarray  # W, P × K, per raw feature
    family_effects: np.ndarray  # A, F × K (raw-feature intercepts)
    loadings: np.ndarray  # Λ, K × J
    bias: np.ndarray  # b, J
    precision: np.ndarray  # φ, J
    loglik: float
    n_params: int
    converged: bool
    slope_se: dict[str, np.ndarray]  # kind → P × K


def anchored_free_index(
    n_lead: int, k: int, n_bench: int, anchors: tuple[int, ...], *, n_tail: int
) -> np.ndarray:
    """Positions of the free parameters of an anchored fit in a flat vector laid out as
    [lead (n_lead) | Λ (k × n_bench, row-major) | b (n_bench) | tail (n_tail) | ...].

    Anchor benchmark ``anchors[a]`` loads on skill a only, with loading 1 and bias 0, so its
    column of Λ and its bias are fixed; everything else in lead, Λ, b and tail is free."""
    others = [c for c in range(n_bench) if c not in anchors]
    o_lam = n_lead
    o_b = o_lam + k * n_bench
    return np.concatenate(
        [
            np.arange(n_lead),
            [o_lam + a * n_bench + c for a in range(k) for c in others],
            [o_b + c for c in others],
            o_b + n_bench + np.arange(n_tail),
        ]
    ).astype(np.intp)


def anchored_base(n_full: int, n_lead: int, n_bench: int, anchors: tuple[int, ...]) -> np.ndarray:
    """The fixed entries of an anchored vector (layout of :func:`anchored_free_index`): the
    anchors' loadings 1, zero elsewhere (free entries are written over it)."""
    base = np.zeros(n_full)
    for a, c in enumerate(anchors):
        base[n_lead + a * n_bench + c] = 1.0
    return base


class _FixedProblem:
    """The core's likelihood with family one-hot features and Σ = 0, over the free
    parameters (W, A, free loadings, free biases, log φ): a selection of the full layout."""

    def __init__(self, x_std, y, codes, n_families, floor, anchors, k):
        from ._random import _Layout, _Problem

        n, j = y.shape
        p = x_std.shape[1]
        onehot = np.zeros((n, n_families))
        onehot[np.arange(n), codes] = 1.0
        self.p_aug = p + n_families
        layout = _Layout(self.p_aug, k, j, tuple(anchors))
        self.inner = _Problem(np.hstack([x_std, onehot]), y, codes, n_families, floor, layout)
        self.layout = layout  # read by the (zero-weight) penalty only
        self.k, self.n_families = k, n_families
        self.anchors = tuple(anchors)
        # the core's flat layout is [β, Λ, b, log φ, L]: log φ is the free tail, L stays 0
        self.index = anchored_free_index(self.p_aug * k, k, j, self.anchors, n_tail=j)
        self.n_full = layout.n_full
        self.base = anchored_base(self.n_full, self.p_aug * k, j, self.anchors)

    def full(self, free: np.ndarray) -> np.ndarray:
        out = self.base.copy()
        out[self.index] = free
        return out

    def loglik(self, free, rule, place, *, grad=True, scores=False):
        from .. import _core

        prob = self.inner
        ll, fam, g, s = _core.scaling_random_loglik(
            y=prob.y, x=prob.x, family_ptr=prob.ptr, floor=prob.floor, theta=self.full(free),
            n_skills=self.k, nodes=rule[0], log_weights=rule[1], centre=place[0],
            scale=place[1], log_det=place[2], grad=grad, scores=scores,
        )  # fmt: skip
        g_free = g[self.index] if grad else np.empty(0)
        s_free = s[:, self.index] if scores else np.empty((0, 0))
        return float(ll), fam, g_free, s_free


def fit_fixed_beta(
    x: np.ndarray,
    y: np.ndarray,
    codes: np.ndarray,
    n_families: int,
    floor: np.ndarray,
    anchors: tuple[int, ...],
    k: int,
    *,
    max_iter: int = 500,
    tol: float = 1e-7,
) -> FixedBetaFit:
    """Maximum-likelihood fit of the fixed-effect Beta model (scores already clipped into
    (0, 1), NaN = missing). Features are standardised internally; the result is per raw
    feature unit."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    x_std = (x - mean) / scale
    prob = _FixedProblem(x_std, y, codes, n_families, floor, anchors, k)
    free0 = _start(x_std, y, codes, n_families, floor, anchors, k, prob)
    rule = (np.zeros((1, k)), np.zeros(1))
    with _one_blas_thread():
        # _FixedProblem has the interface _maximise uses (loglik, layout, k, n_families)
        free, _, place, converged, _, _ = _maximise(
            prob,  # type: ignore[arg-type]
            free0, rule, False, 0.0, max_iter, tol, None, refresh_every=10,
        )  # fmt: skip
        ll, _, grad, _ = prob.loglik(free, rule, place)
        info = _neg_hessian(lambda th: prob.loglik(th, rule, place)[2], free, grad, central=True)
        scores = prob.loglik(free, rule, place, grad=False, scores=True)[3]
    opg = scores.T @ scores
    cov_h = np.linalg.pinv(info)
    cov_j = np.linalg.pinv(opg)
    covs = {"hessian": cov_h, "opg": cov_j, "sandwich": cov_h @ opg @ cov_h}
    p = x.shape[1]
    w_std = free[: p * k].reshape(p, k)
    a_std = free[p * k : (p + n_families) * k].reshape(n_families, k)
    full = prob.full(free)
    j = y.shape[1]
    o_lam = prob.p_aug * k
    lam = full[o_lam : o_lam + k * j].reshape(k, j)
    bias = full[o_lam + k * j : o_lam + k * j + j]
    phi = np.exp(full[o_lam + k * j + j : o_lam + k * j + 2 * j])
    slopes = w_std / scale[:, None]
    se = {
        kind: np.sqrt(np.clip(np.diag(c)[: p * k], 0.0, None)).reshape(p, k) / scale[:, None]
        for kind, c in covs.items()
    }
    return FixedBetaFit(
        slopes=slopes,
        family_effects=a_std - mean @ slopes,
        loadings=lam,
        bias=bias,
        precision=phi,
        loglik=ll,
        n_params=free.size,
        converged=converged,
        slope_se=se,
    )


def _start(x_std, y, codes, n_families, floor, anchors, k, prob) -> np.ndarray:
    """Least squares on the logit scale: the anchors' columns give W and the family means
    of their residuals give A; the other benchmarks are regressed on the anchor skills."""
    j = y.shape[1]
    ratio = np.clip((y - floor) / (1 - floor), _START_CLIP, 1 - _START_CLIP)
    ystar = np.log(ratio / (1 - ratio))
    p = x_std.shape[1]
    skills = np.zeros((y.shape[0], k))
    w = np.zeros((p, k))
    a = np.zeros((n_families, k))
    for s, c in enumerate(anchors):
        m = ~np.isnan(ystar[:, c])
        w[:, s] = np.linalg.lstsq(x_std[m], ystar[m, c], rcond=None)[0]
        resid = np.where(m, ystar[:, c] - x_std @ w[:, s], np.nan)
        for f in range(n_families):
            rows = (codes == f) & m
            a[f, s] = resid[rows].mean() if rows.any() else 0.0
        skills[:, s] = x_std @ w[:, s] + a[codes, s]
    others = [c for c in range(j) if c not in anchors]
    lam = np.zeros((k, len(others)))
    bias = np.zeros(len(others))
    for i, c in enumerate(others):
        m = ~np.isnan(ystar[:, c])
        design = np.column_stack([skills[m], np.ones(m.sum())])
        coef = np.linalg.lstsq(design, ystar[m, c], rcond=None)[0]
        lam[:, i], bias[i] = coef[:k], coef[k]
    return np.concatenate([w.ravel(), a.ravel(), lam.ravel(), bias, np.full(j, math.log(20.0))])
