"""Random family effects for skill scaling laws (the latent-variable framework).

Method: Cai, Cui, Maia Polo et al., "A Latent Variable Framework for Scaling Laws in Large
Language Models" (2025). Each LLM family f carries a Gaussian effect α_f ~ N_K(0, Σ) (Σ a
correlation matrix); model i of family f has skills θ_i = βᵀx_i + α_f (x = standardised log
size, log tokens and their product); benchmark j has score

    y_ij ~ Beta(φ_j μ_ij, φ_j (1 − μ_ij)),   μ_ij = c_j + (1 − c_j) σ(λ_jᵀ θ_i + b_j),

with missing scores (NaN) skipped. Identification: the first K *anchor* benchmarks load only on
their own skill (λ_{a_k} = λ_kk e_k with λ_kk ≥ 0) and Σ has a unit diagonal (its Cholesky
factor L has unit-norm rows: row k is (t_k, 1)/|(t_k, 1)|, t_k free).

Estimation differs from the authors' code (Monte Carlo over 10,000 prior draws, Adam for
20,000 epochs, 30 restarts, Polyak averaging): each family's integral is evaluated by
*adaptive Gauss–Hermite quadrature* in the Rust core (``n_nodes``^K nodes centred at the
family's posterior mode and scaled by its curvature), which makes the objective deterministic
and smooth. It is maximised by a damped quasi-Newton method on the exact gradient: the
curvature starts from the negative Hessian (differences of the analytic gradient) and is kept
up to date by BFGS updates, with Marquardt damping; the nodes are re-centred at the family
modes after every accepted step (cheap: a warm-started Newton per family). The starts (the
least-squares one and ``n_restarts − 1`` seeded perturbations) are first climbed on the
2^K-node rule, and only the best is refined on the full ``n_nodes``^K grid, reusing its
curvature. ``integration="laplace"`` is the one-node rule (the Laplace approximation with the
nodes' scale held fixed between steps; a cross-check, not an estimator to rely on);
``"monte_carlo"`` uses ``n_nodes`` seeded prior draws, like the reference, as a
cross-check. Standard errors: observed information (finite differences of the analytic
gradient, nodes fixed), outer product of per-family scores (OPG), and the sandwich
V_H (JᵀJ) V_H.

Interface (``SkillScalingLaw(family_effect="random")`` drives these functions):

``fit_random_effects(X, Y, families, *, n_skills, anchors=None, floor=None, link="logistic",
integration="quadrature", n_nodes=None, n_restarts=1, random_state=None, ...)``
    returns a frozen :class:`RandomEffectsFit` with loadings Λ (K × J), slopes β (P × K, per
    standardised feature, and ``slopes_raw`` per unit of the raw feature), bias b, floors c,
    precision φ, the family-effect correlation Σ, per-family posterior modes and covariances,
    ``loglik``, ``aic``, the free-parameter vector with its names and three covariance
    matrices (``cov_hessian``, ``cov_opg``, ``cov_sandwich``) and their standard errors.
``add_families_random_effects(fit, X, Y, families)``
    a new fit object whose family posteriors include (or are replaced by) the families of the
    given rows, with every other parameter frozen: the "new family from its first models" path.
``predict_random_effects(fit, X, families, unseen="error")``
    mean scores (m × J): seen families use their posterior mode; ``unseen="prior"`` uses α = 0.
``predict_interval_random_effects(fit, X, families, level=0.9, n_draws=1000,
random_state=None, kind="observation")``
    (low, high) arrays from parameter draws N(θ̂, V_H) × family posterior draws (the Laplace
    posterior of the family effect) × Beta predictive draws (``kind="mean"`` leaves out the
    Beta noise).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings
from itertools import product
from typing import Any, Literal

import numpy as np
from scipy.special import expit

from .. import _core
from .._validation import as_float_array, as_labels, check_scalar, seed_from_rng
from ..exceptions import ConvergenceWarning, InvalidArgumentError, NumericalError, ShapeError

__all__ = [
    "RandomEffectsFit",
    "add_families_random_effects",
    "fit_random_effects",
    "gauss_hermite_rule",
    "predict_interval_random_effects",
    "predict_random_effects",
]

Integration = Literal["quadrature", "laplace", "monte_carlo"]
_INTEGRATIONS = ("quadrature", "laplace", "monte_carlo")
# Default nodes per dimension for quadrature: K ≤ 2 → 5, K = 3 → 4, K ≥ 4 → 3.
_DEFAULT_NODES = {1: 7, 2: 5, 3: 4}
_MAX_NODES_TOTAL = 200_000
# Starts are compared on this many nodes per dimension (2^K nodes: a degree-3 adaptive rule,
# 5x cheaper than 3^4 at K = 4); the best is then refined on the requested rule.
_COARSE_NODES = 2
# Newton-decrement tolerance (log-likelihood units) of the coarse stage.
_COARSE_TOL = 1e-3
# A stage that starts without a handed-over curvature recomputes it by differences this often
# (BFGS alone needs 2-4x the iterations on this badly scaled problem).
_REFRESH_EVERY = 25
# Spread of the seeded perturbations of the extra starts (standardised parameter units).
_START_SPREAD = 0.5
# Start scores are clipped to [this, 1 − this] above the floor before the logit: closer to
# 0 or 1 the least-squares start puts a benchmark whose scores sit at its floor deep in the
# flat tail of the logistic (a local optimum where it is pure noise).
_START_CLIP = 0.1

_Place = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclasses.dataclass(frozen=True, repr=False)
class RandomEffectsFit:
    """A fitted random-family-effect scaling law (see the module docstring for the model).

    Attributes
    ----------
    n_skills : int
        K.
    anchors : tuple of int
        The anchor benchmark (column) of each skill.
    floor : ndarray (J,)
        Guessing floors c_j.
    feature_mean, feature_scale : ndarray (P,)
        Standardisation of the features (fitted rows): x_std = (x − mean) / scale.
    slopes : ndarray (P, K)
        β per standardised feature; ``slopes_raw`` = slopes / feature_scale[:, None].
    loadings : ndarray (K, J)
        Λ; column ``anchors[k]`` is λ_kk e_k.
    bias, precision : ndarray (J,)
        b_j and φ_j.
    family_cov : ndarray (K, K)
        Σ, the correlation matrix of the family effects; ``chol`` its Cholesky factor L.
    families : ndarray
        The family labels with a posterior, sorted.
    family_effects : ndarray (F, K)
        Posterior mode of α_f = L z_f per family.
    family_effect_cov : ndarray (F, K, K)
        Laplace posterior covariance of α_f.
    loglik, aic : float
        Marginal log-likelihood at the estimate and AIC = −2(loglik − n_params).
    theta, param_names : ndarray, tuple of str
        Free parameters (β, anchor loadings, other loadings, b, log φ, t) and their names.
    cov_hessian, cov_opg, cov_sandwich : ndarray (p, p)
        Covariance estimates of ``theta``; ``se_hessian`` etc. their square-rooted diagonals.
    """

    n_skills: int
    anchors: tuple[int, ...]
    floor: np.ndarray
    feature_mean: np.ndarray
    feature_scale: np.ndarray
    slopes: np.ndarray
    loadings: np.ndarray
    bias: np.ndarray
    precision: np.ndarray
    family_cov: np.ndarray
    chol: np.ndarray
    families: np.ndarray
    family_effects: np.ndarray
    family_effect_cov: np.ndarray
    loglik: float
    aic: float
    n_params: int
    n_obs: int
    theta: np.ndarray
    param_names: tuple[str, ...]
    cov_hessian: np.ndarray
    cov_opg: np.ndarray
    cov_sandwich: np.ndarray
    integration: str
    n_nodes: int
    converged: bool
    n_rounds: int

    @property
    def slopes_raw(self) -> np.ndarray:
        """β per unit of the raw (unstandardised) features."""
        return self.slopes / self.feature_scale[:, None]

    @property
    def se_hessian(self) -> np.ndarray:
        return _se(self.cov_hessian)

    @property
    def se_opg(self) -> np.ndarray:
        return _se(self.cov_opg)

    @property
    def se_sandwich(self) -> np.ndarray:
        return _se(self.cov_sandwich)

    def slope_se(self, kind: str = "hessian", raw: bool = False) -> np.ndarray:
        """Standard errors of ``slopes`` (P × K) from ``kind`` = "hessian" | "opg" | "sandwich"."""
        cov = {"hessian": self.cov_hessian, "opg": self.cov_opg, "sandwich": self.cov_sandwich}
        if kind not in cov:
            raise InvalidArgumentError(
                f"kind: expected 'hessian', 'opg' or 'sandwich', got {kind!r}"
            )
        p = self.feature_mean.size
        se = _se(cov[kind])[: p * self.n_skills].reshape(p, self.n_skills)
        return se / self.feature_scale[:, None] if raw else se

    def __repr__(self) -> str:
        return (
            f"RandomEffectsFit(n_skills={self.n_skills}, n_benchmarks={self.bias.size}, "
            f"n_families={self.families.size}, loglik={self.loglik:.3f}, aic={self.aic:.3f}, "
            f"integration={self.integration!r}, n_nodes={self.n_nodes}, "
            f"converged={self.converged})"
        )


def _se(cov: np.ndarray) -> np.ndarray:
    d = np.diag(cov).copy()
    d[d < 0] = np.nan
    return np.sqrt(d)


# --------------------------------------------------------------------------- integration rules


def gauss_hermite_rule(n_nodes: int, n_dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor Gauss–Hermite rule for N(0, I_K): nodes (n_nodes**K, K) and log weights.

    The weights sum to one; the rule integrates polynomials of degree ≤ 2·n_nodes − 1 in each
    coordinate exactly against the standard normal density.
    """
    x, w = np.polynomial.hermite_e.hermegauss(n_nodes)
    logw = np.log(w / math.sqrt(2.0 * math.pi))
    grids = list(product(range(n_nodes), repeat=n_dims))
    idx = np.array(grids, dtype=np.intp).reshape(-1, n_dims)
    nodes = np.ascontiguousarray(x[idx])
    log_weights = np.ascontiguousarray(logw[idx].sum(axis=1))
    return nodes, log_weights


# --------------------------------------------------------------------------- parametrisation


class _Layout:
    """Maps the free parameters onto the core's flat layout and gradients back."""

    def __init__(self, p: int, k: int, j: int, anchors: tuple[int, ...]) -> None:
        self.p, self.k, self.j = p, k, j
        self.anchors = anchors
        self.others = tuple(c for c in range(j) if c not in anchors)
        self.n_free = p * k + k + k * (j - k) + 2 * j + k * (k - 1) // 2
        self.n_full = p * k + k * j + 2 * j + k * k
        o = 0
        self.s_beta = slice(o, o + p * k)
        o += p * k
        self.s_diag = slice(o, o + k)
        o += k
        self.s_free = slice(o, o + k * (j - k))
        o += k * (j - k)
        self.s_bias = slice(o, o + j)
        o += j
        self.s_logphi = slice(o, o + j)
        o += j
        self.s_t = slice(o, o + k * (k - 1) // 2)
        self.tril = [(a, b) for a in range(k) for b in range(a)]

    def names(self, benchmarks: list[str]) -> tuple[str, ...]:
        p, k = self.p, self.k
        out = [f"beta[{q},{a}]" for q in range(p) for a in range(k)]
        out += [f"lambda[{a},{benchmarks[self.anchors[a]]}]" for a in range(k)]
        out += [f"lambda[{a},{benchmarks[c]}]" for a in range(k) for c in self.others]
        out += [f"bias[{b}]" for b in benchmarks]
        out += [f"log_precision[{b}]" for b in benchmarks]
        out += [f"t[{a},{b}]" for a, b in self.tril]
        return tuple(out)

    def unpack(self, free: np.ndarray) -> dict[str, np.ndarray]:
        p, k, j = self.p, self.k, self.j
        beta = free[self.s_beta].reshape(p, k)
        lam = np.zeros((k, j))
        for a, c in enumerate(self.anchors):
            lam[a, c] = free[self.s_diag][a]
        if self.others:
            lam[:, list(self.others)] = free[self.s_free].reshape(k, j - k)
        t = free[self.s_t]
        chol = np.zeros((k, k))
        norms = np.ones(k)
        for a in range(k):
            row = np.zeros(a + 1)
            row[a] = 1.0
            for idx, (aa, b) in enumerate(self.tril):
                if aa == a:
                    row[b] = t[idx]
            norms[a] = np.linalg.norm(row)
            chol[a, : a + 1] = row / norms[a]
        return {
            "beta": beta,
            "loadings": lam,
            "bias": free[self.s_bias].copy(),
            "log_precision": free[self.s_logphi].copy(),
            "chol": chol,
            "norms": norms,
        }

    def full(self, free: np.ndarray) -> np.ndarray:
        u = self.unpack(free)
        return np.ascontiguousarray(
            np.concatenate(
                [
                    u["beta"].ravel(),
                    u["loadings"].ravel(),
                    u["bias"],
                    u["log_precision"],
                    u["chol"].ravel(),
                ]
            )
        )

    def jacobian(self, free: np.ndarray) -> np.ndarray:
        """d full / d free, (n_full, n_free)."""
        p, k, j = self.p, self.k, self.j
        jac = np.zeros((self.n_full, self.n_free))
        jac[: p * k, self.s_beta] = np.eye(p * k)
        o_lam = p * k
        for a, c in enumerate(self.anchors):
            jac[o_lam + a * j + c, self.s_diag.start + a] = 1.0
        for a in range(k):
            for m, c in enumerate(self.others):
                jac[o_lam + a * j + c, self.s_free.start + a * (j - k) + m] = 1.0
        o_b = o_lam + k * j
        jac[o_b : o_b + j, self.s_bias] = np.eye(j)
        jac[o_b + j : o_b + 2 * j, self.s_logphi] = np.eye(j)
        o_l = o_b + 2 * j
        u = self.unpack(free)
        chol, norms = u["chol"], u["norms"]
        for idx, (a, b) in enumerate(self.tril):
            # row a of L = v/|v|; d(v/|v|)/dv_b = (e_b − L_a L_ab)/|v|
            col = self.s_t.start + idx
            for q in range(a + 1):
                jac[o_l + a * k + q, col] = ((1.0 if q == b else 0.0) - chol[a, q] * chol[a, b]) / (
                    norms[a]
                )
        return jac

    def bounds(self) -> list[tuple[float | None, float | None]]:
        out: list[tuple[float | None, float | None]] = [(None, None)] * self.n_free
        for i in range(self.s_diag.start, self.s_diag.stop):
            out[i] = (0.0, None)
        for i in range(self.s_logphi.start, self.s_logphi.stop):
            out[i] = (-20.0, 20.0)
        return out


# --------------------------------------------------------------------------- the problem


class _Problem:
    """Validated data with rows sorted by family, and the core calls on it."""

    def __init__(
        self,
        x_std: np.ndarray,
        y: np.ndarray,
        codes: np.ndarray,
        n_families: int,
        floor: np.ndarray,
        layout: _Layout,
    ) -> None:
        order = np.argsort(codes, kind="stable")
        self.order = order
        self.x = np.ascontiguousarray(x_std[order])
        self.y = np.ascontiguousarray(y[order])
        counts = np.bincount(codes, minlength=n_families)
        self.ptr = np.ascontiguousarray(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
        self.floor = np.ascontiguousarray(floor, dtype=np.float64)
        self.layout = layout
        self.k = layout.k
        self.n_families = n_families

    def modes(
        self, free: np.ndarray, init: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        centre, scale, log_det, converged, _ = _core.scaling_random_modes(
            y=self.y,
            x=self.x,
            family_ptr=self.ptr,
            floor=self.floor,
            theta=self.layout.full(free),
            n_skills=self.k,
            init=None if init is None else np.ascontiguousarray(init),
        )
        return centre, scale, log_det, converged

    def loglik(
        self,
        free: np.ndarray,
        rule: tuple[np.ndarray, np.ndarray],
        place: tuple[np.ndarray, np.ndarray, np.ndarray],
        *,
        grad: bool = True,
        scores: bool = False,
    ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        ll, fam, g, s = _core.scaling_random_loglik(
            y=self.y,
            x=self.x,
            family_ptr=self.ptr,
            floor=self.floor,
            theta=self.layout.full(free),
            n_skills=self.k,
            nodes=rule[0],
            log_weights=rule[1],
            centre=place[0],
            scale=place[1],
            log_det=place[2],
            grad=grad,
            scores=scores,
        )
        jac = self.layout.jacobian(free) if (grad or scores) else None
        g_free = g @ jac if grad and jac is not None else np.empty(0)
        s_free = s @ jac if scores and jac is not None else np.empty((0, 0))
        return float(ll), fam, g_free, s_free


def _check_inputs(X: Any, Y: Any, families: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = as_float_array(X, "X", ndim=2)
    y = as_float_array(Y, "Y", ndim=2, finite=False)
    if np.isinf(y).any():
        raise InvalidArgumentError("Y: has infinite values; scores must lie in [0, 1] or be NaN")
    if x.shape[0] != y.shape[0]:
        raise ShapeError(f"X: has {x.shape[0]} rows but Y has {y.shape[0]}; pass one row per model")
    fam = as_labels(families, "families", y.shape[0], what="row of Y")
    obs = y[~np.isnan(y)]
    if obs.size and (obs.min() < 0.0 or obs.max() > 1.0):
        raise InvalidArgumentError(
            "Y: scores must lie in [0, 1] (NaN marks a missing score); rescale percentages"
        )
    return x, y, fam


def _anchor_columns(anchors: Any) -> tuple[int, ...]:
    """The anchors as a tuple of column indices (whole numbers, given as ints or floats)."""
    cols = as_float_array(anchors, "anchors", ndim=(0, 1)).ravel()
    if np.any(cols != np.round(cols)):
        raise InvalidArgumentError(
            f"anchors: expected benchmark column indices (whole numbers), got {cols.tolist()}"
        )
    return tuple(int(a) for a in cols)


def _column_mean_std(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each column (1 for a constant one), computed on the
    column divided by a power of two near its largest magnitude so that the squares of
    features near 1e300 do not overflow (nor those near 1e-300 underflow)."""
    top = np.abs(x).max(axis=0)
    unit = np.where(top > 0, np.ldexp(1.0, np.frexp(np.where(top > 0, top, 1.0))[1]), 1.0)
    scaled = x / unit
    mean = scaled.mean(axis=0) * unit
    scale = scaled.std(axis=0) * unit
    scale[scale == 0] = 1.0
    return mean, scale


def _init_free(
    layout: _Layout, x: np.ndarray, ystar: np.ndarray, rng: np.random.Generator | None
) -> np.ndarray:
    """A deterministic start from per-benchmark least squares on the logit scale (plus noise
    for extra restarts)."""
    p, k, j = layout.p, layout.k, layout.j
    gam = np.zeros((p, j))
    bias = np.zeros(j)
    for c in range(j):
        m = ~np.isnan(ystar[:, c])
        if m.sum() > p + 1:
            design = np.column_stack([np.ones(m.sum()), x[m]])
            coef = np.linalg.lstsq(design, ystar[m, c], rcond=None)[0]
            bias[c], gam[:, c] = coef[0], coef[1:]
        elif m.any():
            bias[c] = ystar[m, c].mean()
    beta = gam[:, list(layout.anchors)].copy()
    diag = np.ones(k)
    lam_free = (
        np.linalg.lstsq(beta, gam[:, list(layout.others)], rcond=None)[0]
        if layout.others
        else np.zeros((k, 0))
    )
    free = np.concatenate(
        [
            beta.ravel(),
            diag,
            lam_free.ravel(),
            bias,
            np.full(j, math.log(20.0)),
            np.zeros(k * (k - 1) // 2),
        ]
    )
    if rng is not None:
        free = free + 0.3 * rng.standard_normal(free.size)
        free[layout.s_diag] = np.abs(free[layout.s_diag])
    return free


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """BLAS pinned to one thread: L-BFGS-B's small dense products are slower with threads,
    and the likelihood already runs on calipers' pool (no oversubscription)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn (a dependency) brings it
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _rule_for(integration: str, n_nodes: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if integration == "quadrature":
        return gauss_hermite_rule(n_nodes, k)
    if integration == "laplace":
        return np.zeros((1, k)), np.zeros(1)
    draws = np.random.default_rng(seed).standard_normal((n_nodes, k))
    return np.ascontiguousarray(draws), np.full(n_nodes, -math.log(n_nodes))


def _objective(
    prob: _Problem,
    free: np.ndarray,
    rule: tuple[np.ndarray, np.ndarray],
    place: tuple[np.ndarray, np.ndarray, np.ndarray],
    penalty: float,
) -> tuple[float, np.ndarray | None]:
    """Penalised fixed-node log-likelihood and its gradient; (−inf, None) where the model
    cannot be evaluated (a precision out of range, a non-finite density)."""
    try:
        val, _, g, _ = prob.loglik(free, rule, place)
    except (NumericalError, InvalidArgumentError):
        return -math.inf, None
    if not (np.isfinite(val) and np.all(np.isfinite(g))):
        return -math.inf, None
    pen, pen_g = _penalty(prob.layout, free, penalty)
    return val + pen, g + pen_g


def _neg_hessian(
    grad_at: Any, free: np.ndarray, g0: np.ndarray | None, *, central: bool
) -> np.ndarray:
    """−(Hessian) by differences of the analytic gradient ``grad_at(free)``: forward
    differences from ``g0`` (one gradient per parameter) or central ones (two)."""
    n = free.size
    hess = np.zeros((n, n))
    for i in range(n):
        h = 1e-5 * max(1.0, abs(free[i]))
        up = free.copy()
        up[i] += h
        if central:
            down = free.copy()
            down[i] -= h
            hess[i] = (grad_at(up) - grad_at(down)) / (2.0 * h)
        else:
            hess[i] = (grad_at(up) - g0) / h
    return -0.5 * (hess + hess.T)


def _place(prob: _Problem, free: np.ndarray, init: np.ndarray | None = None) -> _Place:
    centre, scale, log_det, _ = prob.modes(free, init=init)
    return centre, scale.reshape(prob.n_families, prob.k * prob.k), log_det


def _prior_place(prob: _Problem) -> _Place:
    k, n_fam = prob.k, prob.n_families
    return np.zeros((n_fam, k)), np.tile(np.eye(k).ravel(), (n_fam, 1)), np.zeros(n_fam)


def _maximise(
    prob: _Problem,
    free: np.ndarray,
    rule: tuple[np.ndarray, np.ndarray],
    adaptive: bool,
    penalty: float,
    max_iter: int,
    tol: float,
    neg_hess: np.ndarray | None = None,
    recentre_every: int = 1,
    refresh_every: int = 0,
) -> tuple[np.ndarray, float, _Place, bool, int, np.ndarray]:
    """Damped quasi-Newton ascent of the penalised log-likelihood.

    The curvature starts from the negative Hessian (differences of the analytic gradient,
    or ``neg_hess`` from a coarser stage) and is kept up to date by BFGS updates; each step
    solves (|N| + μ·diag|N|) s = g, with |N| the eigenvalue-wise absolute value (so a saddle
    is not mistaken for a maximum) and the Marquardt damping μ adapted to how well the
    quadratic model predicted the gain. With adaptive quadrature the nodes are re-centred at
    the family modes after every accepted step (warm-started Newton per family, cheap beside
    one likelihood evaluation). Stops when the Newton decrement ½ gᵀN⁻¹g falls below ``tol``
    (in log-likelihood units). Returns (free, value, placement, converged, iterations, N).
    """
    place = _place(prob, free) if adaptive else _prior_place(prob)
    value, grad = _objective(prob, free, rule, place, penalty)
    if grad is None:
        raise NumericalError(
            "fit_random_effects: the likelihood is not finite at the start; check the scores "
            "and floors (a floor at or above every score of a benchmark)"
        )

    def fresh_curvature() -> np.ndarray:
        return _neg_hessian(
            lambda th: _objective(prob, th, rule, place, penalty)[1], free, grad, central=False
        )

    if neg_hess is None:
        neg_hess = fresh_curvature()
    damping = 0.0
    converged = False
    verified = False
    since_centre = 0
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (reported after the loop)
        if refresh_every and it % refresh_every == 0:
            neg_hess = fresh_curvature()
            verified = True
        w, v = np.linalg.eigh(neg_hess)
        w_abs = np.maximum(np.abs(w), 1e-10 * max(1.0, float(np.abs(w).max())))
        curv = (v * w_abs) @ v.T
        if 0.5 * grad @ (v @ ((v.T @ grad) / w_abs)) < tol:
            if since_centre > 0 and adaptive:
                # converged on these nodes: re-centre and check again
                place = _place(prob, free, init=place[0])
                since_centre = 0
                value, grad_new = _objective(prob, free, rule, place, penalty)
                if grad_new is None:
                    break
                grad = grad_new
                continue
            if verified:
                converged = True
                break
            # BFGS curvature can be far off along the gradient: confirm with a fresh one
            neg_hess = fresh_curvature()
            verified = True
            continue
        verified = False
        diag = np.diag(curv).copy()
        step = None
        for _ in range(50):
            s = np.linalg.solve(curv + damping * np.diag(diag), grad)
            predicted = s @ grad - 0.5 * s @ curv @ s
            new_value, new_grad = _objective(prob, free + s, rule, place, penalty)
            if new_grad is not None and new_value >= value - 1e-12 * abs(value):
                ratio = (new_value - value) / predicted if predicted > 0 else 1.0
                if ratio > 0.75:
                    damping = damping / 4.0 if damping > 1e-8 else 0.0
                elif ratio < 0.25:
                    damping = max(2.0 * damping, 1e-4)
                step = s
                break
            damping = max(4.0 * damping, 1e-4)
        if step is None or new_grad is None:
            break
        y = grad - new_grad  # secant pair on the current nodes (N s ≈ y)
        sy = float(step @ y)
        if sy > 1e-12:
            ns = neg_hess @ step
            neg_hess = neg_hess - np.outer(ns, ns) / float(step @ ns) + np.outer(y, y) / sy
        free = free + step
        value, grad = new_value, new_grad
        since_centre += 1
        if adaptive and since_centre >= recentre_every:
            place = _place(prob, free, init=place[0])
            since_centre = 0
            value, grad_new = _objective(prob, free, rule, place, penalty)
            if grad_new is None:
                break
            grad = grad_new
    return free, value, place, converged, it, neg_hess


def _fit_once(
    prob: _Problem,
    free0: np.ndarray,
    rule: tuple[np.ndarray, np.ndarray],
    adaptive: bool,
    tol: float,
    max_iter: int,
    penalty: float,
    neg_hess: np.ndarray | None = None,
) -> tuple[np.ndarray, float, _Place, bool, int, np.ndarray | None]:
    """One start: quasi-Newton ascent (the curvature refreshed by differences every
    ``_REFRESH_EVERY`` iterations unless a coarser stage handed it over), then the anchor
    signs folded to ≥ 0 (the likelihood is invariant to flipping a skill, so the optimiser
    leaves them free) and the nodes re-centred for the folded parameters.
    Returns (free, loglik, placement, converged, iterations, N)."""
    refresh = 0 if neg_hess is not None else _REFRESH_EVERY
    free, _, place, converged, it, curvature = _maximise(
        prob, free0, rule, adaptive, penalty, max_iter, tol, neg_hess, refresh_every=refresh
    )
    neg_hess_out: np.ndarray | None = curvature
    folded = _fold_signs(prob.layout, free)
    if not np.array_equal(folded, free):
        free = folded
        neg_hess_out = None  # the curvature of the flipped coordinates no longer applies
        if adaptive:
            place = _place(prob, free)
    ll = prob.loglik(free, rule, place, grad=False)[0]
    return free, ll, place, converged, it, neg_hess_out


def _penalty(layout: _Layout, free: np.ndarray, weight: float) -> tuple[float, np.ndarray]:
    """A weak log-prior keeping the fit away from the boundary where Σ is singular and the
    loadings diverge: weight · (log det Σ − Σ λ² / 25) (an LKJ(1 + weight) density on Σ and
    N(0, 5²/weight) on the loadings)."""
    g = np.zeros_like(free)
    if weight == 0.0:
        return 0.0, g
    val = 0.0
    k = layout.k
    t = free[layout.s_t]
    for a in range(k):
        rows = [i for i, (aa, _) in enumerate(layout.tril) if aa == a]
        if rows:
            tt = t[rows]
            s2 = 1.0 + float(tt @ tt)
            val -= math.log(s2)
            g[layout.s_t.start + np.array(rows)] -= 2.0 * tt / s2
    lam = np.concatenate([free[layout.s_diag], free[layout.s_free]])
    val -= float(lam @ lam) / 25.0
    g[layout.s_diag] -= 2.0 * free[layout.s_diag] / 25.0
    g[layout.s_free] -= 2.0 * free[layout.s_free] / 25.0
    return weight * val, weight * g


def _fold_signs(layout: _Layout, free: np.ndarray) -> np.ndarray:
    """Flip the skills whose anchor loading is negative (β column, loadings row and the
    family-effect correlations), an exact symmetry of the likelihood."""
    out = free.copy()
    diag = out[layout.s_diag]
    flip = np.where(diag < 0, -1.0, 1.0)
    if (flip > 0).all():
        return out
    p, k, j = layout.p, layout.k, layout.j
    out[layout.s_beta] = (out[layout.s_beta].reshape(p, k) * flip).ravel()
    out[layout.s_diag] = np.abs(diag)
    out[layout.s_free] = (out[layout.s_free].reshape(k, j - k) * flip[:, None]).ravel()
    chol = layout.unpack(free)["chol"]
    sigma = chol @ chol.T * np.outer(flip, flip)
    new = np.linalg.cholesky(sigma + 1e-300 * np.eye(k))
    t = [new[a, b] / new[a, a] for a, b in layout.tril]
    out[layout.s_t] = t
    return out


def fit_random_effects(
    X: Any,
    Y: Any,
    families: Any,
    *,
    n_skills: int,
    anchors: Any = None,
    floor: Any = None,
    link: str = "logistic",
    integration: Integration = "quadrature",
    n_nodes: int | None = None,
    n_restarts: int = 1,
    random_state: Any = None,
    clip: float = 1e-3,
    standardize: bool = True,
    benchmarks: Any = None,
    tol: float = 1e-6,
    max_iter: int = 1000,
    penalty: float = 1.0,
) -> RandomEffectsFit:
    """Fit the random-family-effect scaling law by maximum marginal likelihood.

    Parameters
    ----------
    X : array_like (n, P)
        Features per model (e.g. log size, log tokens, their product); standardised internally
        when ``standardize`` (the stored slopes are per standardised feature).
    Y : array_like (n, J)
        Scores in [0, 1]; NaN marks a missing score. Clipped to [clip, 1 − clip].
    families : array_like (n,)
        Family label of each row.
    n_skills : int
        K, between 1 and J.
    anchors : sequence of int, optional
        Column of the anchor benchmark of each skill (K distinct columns); default the first K.
    floor : array_like (J,), optional
        Guessing floors c_j in [0, 1); default zeros.
    link : {"logistic"}
        The link σ (the only one of the random-effects model).
    integration : {"quadrature", "laplace", "monte_carlo"}
        Adaptive Gauss–Hermite (default), the one-node Laplace rule, or plain Monte Carlo with
        ``n_nodes`` seeded prior draws (the reference's estimator, with draws fixed).
    n_nodes : int, optional
        Nodes per dimension for quadrature (default 7, 5, 4, 3 for K = 1, 2, 3, ≥ 4); number of
        draws for Monte Carlo (default 10,000).
    n_restarts : int
        Starts: the first from per-benchmark least squares on the logit scale, the others from
        seeded perturbations of it (N(0, 0.5²) per parameter). With quadrature they are
        compared on the cheap 2^K-node rule and the best is refined on the full grid. The
        likelihood has several local optima at K ≥ 3 (benchmarks near their floor, such as
        GPQA and MuSR, can load on the skills in several ways); 4–8 starts are advisable there.
    random_state : None, int or numpy Generator
        Seeds the extra restarts and the Monte Carlo draws.
    clip : float
        Scores are clipped to [clip, 1 − clip] (the reference uses 1e-3).
    standardize : bool
        Standardise the features with the mean and standard deviation of the rows.
    benchmarks : sequence of str, optional
        Names for ``param_names``.
    tol : float
        The fit stops when the Newton decrement ½ gᵀN⁻¹g (the log-likelihood gain a Newton
        step predicts) falls below this.
    max_iter : int
        Quasi-Newton iterations per stage (coarse and full grid).
    penalty : float
        Weight of a weak log-prior, penalty · (log det Σ − Σ λ²/25), that keeps the optimiser
        off the boundary where Σ turns singular and loadings diverge (the likelihood has
        such ridges); 0 gives plain maximum likelihood. ``loglik`` and ``aic`` are always
        the unpenalised values.

    Returns
    -------
    RandomEffectsFit

    Notes
    -----
    Cost: one likelihood-and-gradient evaluation is O(M · N_obs · K) Beta densities with
    M = n_nodes**K nodes (K = 4, 3 nodes, 286 × 12 cells: ~0.2 M densities, about 25 ms on
    one core); a start takes 100–300 coarse evaluations, the refinement 50–200 full ones, the
    standard errors 2·p more (p free parameters, central differences); memory is
    O(F · p) for the per-family scores (p free parameters) and O(M · K) for the nodes.
    """
    x, y, fam = _check_inputs(X, Y, families)
    n, j = y.shape
    p = x.shape[1]
    k = check_scalar(n_skills, "n_skills", kind=int, low=1, high=j)
    if link != "logistic":
        raise InvalidArgumentError(
            f"link: the random-effects model supports 'logistic' only, got {link!r}"
        )
    if integration not in _INTEGRATIONS:
        raise InvalidArgumentError(
            f"integration: expected one of {_INTEGRATIONS}, got {integration!r}"
        )
    tol = check_scalar(tol, "tol", low=0.0)
    max_iter = check_scalar(max_iter, "max_iter", kind=int, low=1, high=10**7)
    penalty = check_scalar(penalty, "penalty", low=0.0, high=1e6)
    if anchors is None:
        anchors_t = tuple(range(k))
    else:
        anchors_t = _anchor_columns(anchors)
        if (
            len(anchors_t) != k
            or len(set(anchors_t)) != k
            or not all(0 <= a < j for a in anchors_t)
        ):
            raise InvalidArgumentError(
                f"anchors: pass {k} distinct benchmark columns in [0, {j}), got {anchors_t}"
            )
    if floor is None:
        c = np.zeros(j)
    else:
        c = as_float_array(floor, "floor", ndim=1)
        if c.size != j:
            raise ShapeError(f"floor: has {c.size} values for {j} benchmarks")
        if (c < 0).any() or (c >= 1).any():
            raise InvalidArgumentError("floor: guessing floors must lie in [0, 1)")
    clip = check_scalar(clip, "clip", low=0.0, high=0.5, low_inclusive=False, high_inclusive=False)
    n_restarts = check_scalar(n_restarts, "n_restarts", kind=int, low=1, high=1000)
    if n_nodes is None:
        n_nodes = 10_000 if integration == "monte_carlo" else _DEFAULT_NODES.get(k, 3)
    n_nodes = check_scalar(n_nodes, "n_nodes", kind=int, low=1)
    total_nodes = n_nodes**k if integration == "quadrature" else n_nodes
    if total_nodes > _MAX_NODES_TOTAL:
        raise InvalidArgumentError(
            f"n_nodes: {n_nodes}**{k} = {total_nodes} quadrature nodes is more than "
            f"{_MAX_NODES_TOTAL}; pass fewer nodes per dimension or integration='laplace'"
        )
    seed = seed_from_rng(random_state, "random_state")
    y = np.where(np.isnan(y), np.nan, np.clip(y, clip, 1.0 - clip))
    if not (~np.isnan(y)).any(axis=1).all():
        raise InvalidArgumentError("Y: some rows have no observed score; drop them")
    labels, codes = np.unique(fam, return_inverse=True)
    if standardize:
        mean, scale = _column_mean_std(x)
    else:
        mean, scale = np.zeros(p), np.ones(p)
    x_std = (x - mean) / scale
    names = [str(b) for b in benchmarks] if benchmarks is not None else [str(i) for i in range(j)]
    layout = _Layout(p, k, j, anchors_t)
    prob = _Problem(x_std, y, codes, labels.size, c, layout)
    rule = _rule_for(integration, n_nodes, k, seed)
    adaptive = integration != "monte_carlo"
    n_obs = int((~np.isnan(y)).sum())
    ratio = np.clip((y - c) / (1 - c), _START_CLIP, 1 - _START_CLIP)
    ystar = np.log(ratio / (1 - ratio))
    rng = np.random.default_rng(seed)
    base = _init_free(layout, x_std, ystar, None)
    starts = [base] + [
        base + _START_SPREAD * rng.standard_normal(base.size) for _ in range(n_restarts - 1)
    ]
    coarse = integration == "quadrature" and n_nodes > _COARSE_NODES and (n_restarts > 1 or k > 1)
    with _one_blas_thread():
        neg_hess = None
        if coarse:
            rule_c = gauss_hermite_rule(_COARSE_NODES, k)
            best_c = None
            for free0 in starts:
                out_c = _fit_once(prob, free0, rule_c, True, _COARSE_TOL, max_iter, penalty)
                if best_c is None or out_c[1] > best_c[1]:
                    best_c = out_c
            assert best_c is not None
            starts = [best_c[0]]
            neg_hess = best_c[5]
        best = None
        for free0 in starts:
            out = _fit_once(prob, free0, rule, adaptive, tol, max_iter, penalty, neg_hess)
            if best is None or out[1] > best[1]:
                best = out
    assert best is not None
    free, ll, place, converged, rounds, _ = best
    if not converged:
        warnings.warn(
            "fit_random_effects: the optimiser stopped before the Newton decrement fell below "
            "tol; raise max_iter or try n_restarts > 1",
            ConvergenceWarning,
            stacklevel=2,
        )
    with _one_blas_thread():
        cov_h, cov_j, cov_s = _covariances(prob, free, rule, place)
    u = layout.unpack(free)
    chol = u["chol"]
    centre = place[0]
    a_scale = place[1].reshape(-1, k, k)
    if not adaptive:  # posteriors for prediction: the Laplace modes
        centre, sc, _, _ = prob.modes(free)
        a_scale = sc.reshape(-1, k, k)
    effects = centre @ chol.T
    post_cov = np.einsum("ab,fbc,fdc,ed->fae", chol, a_scale, a_scale, chol)
    n_free = layout.n_free
    return RandomEffectsFit(
        n_skills=k,
        anchors=anchors_t,
        floor=c,
        feature_mean=mean,
        feature_scale=scale,
        slopes=u["beta"],
        loadings=u["loadings"],
        bias=u["bias"],
        precision=np.exp(u["log_precision"]),
        family_cov=chol @ chol.T,
        chol=chol,
        families=labels,
        family_effects=effects,
        family_effect_cov=post_cov,
        loglik=float(ll),
        aic=float(-2.0 * (ll - n_free)),
        n_params=n_free,
        n_obs=n_obs,
        theta=free,
        param_names=layout.names(names),
        cov_hessian=cov_h,
        cov_opg=cov_j,
        cov_sandwich=cov_s,
        integration=integration,
        n_nodes=n_nodes,
        converged=converged,
        n_rounds=rounds,
    )


def _inverse(m: np.ndarray, what: str) -> np.ndarray:
    try:
        out = np.linalg.inv(m)
        if np.all(np.isfinite(out)):
            return out
    except np.linalg.LinAlgError:
        pass
    warnings.warn(
        f"fit_random_effects: the {what} matrix is singular; its covariance uses the "
        "pseudo-inverse (a parameter is at a bound or not identified)",
        ConvergenceWarning,
        stacklevel=3,
    )
    return np.linalg.pinv(m)


def _covariances(
    prob: _Problem,
    free: np.ndarray,
    rule: tuple[np.ndarray, np.ndarray],
    place: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed information (central differences of the analytic gradient, nodes fixed), OPG
    and sandwich covariances of the free parameters."""
    n_free = free.size
    _, _, _, scores = prob.loglik(free, rule, place, grad=False, scores=True)
    hess = np.zeros((n_free, n_free))
    for i in range(n_free):
        h = 1e-5 * max(1.0, abs(free[i]))
        tp = free.copy()
        tp[i] += h
        tm = free.copy()
        tm[i] -= h
        gp = prob.loglik(tp, rule, place)[2]
        gm = prob.loglik(tm, rule, place)[2]
        hess[i] = (gp - gm) / (2.0 * h)
    info = -0.5 * (hess + hess.T)
    opg = scores.T @ scores
    cov_h = _inverse(info, "observed information")
    cov_j = _inverse(opg, "outer-product")
    cov_s = cov_h @ opg @ cov_h
    return cov_h, cov_j, cov_s


# --------------------------------------------------------------------------- prediction


def _family_index(fit: RandomEffectsFit, families: Any, n: int, unseen: str) -> np.ndarray:
    fam = as_labels(families, "families", n, what="row of X")
    if unseen not in ("error", "prior"):
        raise InvalidArgumentError(f"unseen: expected 'error' or 'prior', got {unseen!r}")
    pos = np.searchsorted(fit.families, fam)
    pos = np.clip(pos, 0, max(fit.families.size - 1, 0))
    known = fit.families[pos] == fam if fit.families.size else np.zeros(n, dtype=bool)
    if not known.all() and unseen == "error":
        missing = sorted({str(v) for v in fam[~known]})[:5]
        raise InvalidArgumentError(
            f"families: {missing} have no posterior; pass their first models' scores to "
            "add_families_random_effects, or unseen='prior' to use the population mean effect"
        )
    return np.where(known, pos, -1)


def _mean(fit: RandomEffectsFit, x_std: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    eta = (x_std @ fit.slopes + alpha) @ fit.loadings + fit.bias
    return fit.floor + (1.0 - fit.floor) * expit(eta)


def _features(fit: RandomEffectsFit, X: Any) -> np.ndarray:
    x = as_float_array(X, "X", ndim=2)
    if x.shape[1] != fit.feature_mean.size:
        raise ShapeError(
            f"X: has {x.shape[1]} columns; the fit used {fit.feature_mean.size} features"
        )
    return (x - fit.feature_mean) / fit.feature_scale


def predict_random_effects(
    fit: RandomEffectsFit, X: Any, families: Any, *, unseen: str = "error"
) -> np.ndarray:
    """Mean scores (m, J) at the family's posterior mode (α = 0 for unseen with 'prior')."""
    x_std = _features(fit, X)
    idx = _family_index(fit, families, x_std.shape[0], unseen)
    alpha = np.where(idx[:, None] >= 0, fit.family_effects[np.maximum(idx, 0)], 0.0)
    return _mean(fit, x_std, alpha)


def add_families_random_effects(
    fit: RandomEffectsFit, X: Any, Y: Any, families: Any, *, clip: float = 1e-3
) -> RandomEffectsFit:
    """Posterior of the effects of the families in these rows, all other parameters frozen.

    Families already in ``fit`` are replaced by the posterior given these rows only. Returns a
    new fit object; ``fit`` is unchanged.
    """
    x, y, fam = _check_inputs(X, Y, families)
    if y.shape[1] != fit.bias.size:
        raise ShapeError(f"Y: has {y.shape[1]} columns; the fit has {fit.bias.size} benchmarks")
    clip = check_scalar(clip, "clip", low=0.0, high=0.5, low_inclusive=False, high_inclusive=False)
    y = np.where(np.isnan(y), np.nan, np.clip(y, clip, 1.0 - clip))
    x_std = _features(fit, x)
    k = fit.n_skills
    labels, codes = np.unique(fam, return_inverse=True)
    layout = _Layout(x.shape[1], k, y.shape[1], fit.anchors)
    prob = _Problem(x_std, y, codes, labels.size, fit.floor, layout)
    centre, scale, _, _ = prob.modes(fit.theta)
    a = scale.reshape(-1, k, k)
    effects = centre @ fit.chol.T
    cov = np.einsum("ab,fbc,fdc,ed->fae", fit.chol, a, a, fit.chol)
    keep = ~np.isin(fit.families, labels)
    all_labels = np.concatenate([fit.families[keep], labels])
    order = np.argsort(all_labels, kind="stable")
    return dataclasses.replace(
        fit,
        families=all_labels[order],
        family_effects=np.concatenate([fit.family_effects[keep], effects])[order],
        family_effect_cov=np.concatenate([fit.family_effect_cov[keep], cov])[order],
    )


def predict_interval_random_effects(
    fit: RandomEffectsFit,
    X: Any,
    families: Any,
    *,
    level: float = 0.9,
    n_draws: int = 1000,
    random_state: Any = None,
    kind: str = "observation",
    unseen: str = "error",
) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed prediction intervals (low, high), each (m, J).

    Draws θ ~ N(θ̂, V_H) (loadings of the anchors folded to ≥ 0), the family effect from its
    Laplace posterior N(α̂_f, C_f) (the prior N(0, Σ) for unseen families with
    ``unseen="prior"``), and with ``kind="observation"`` a score from the Beta predictive.
    Peak memory: 3 · n_draws · m · J floats.
    """
    from .._validation import check_open_unit

    level = check_open_unit(level, "level")
    n_draws = check_scalar(n_draws, "n_draws", kind=int, low=2, high=10_000_000)
    if kind not in ("observation", "mean"):
        raise InvalidArgumentError(f"kind: expected 'observation' or 'mean', got {kind!r}")
    x_std = _features(fit, X)
    m = x_std.shape[0]
    j = fit.bias.size
    from .._validation import check_memory

    check_memory(3.0 * 8 * n_draws * m * j, "n_draws", "pass fewer draws or fewer rows")
    idx = _family_index(fit, families, m, unseen)
    rng = np.random.default_rng(seed_from_rng(random_state, "random_state"))
    k = fit.n_skills
    layout = _Layout(x_std.shape[1], k, j, fit.anchors)
    cov = 0.5 * (fit.cov_hessian + fit.cov_hessian.T)
    w, v = np.linalg.eigh(cov)
    root = v * np.sqrt(np.clip(w, 0.0, None))
    thetas = fit.theta + rng.standard_normal((n_draws, fit.theta.size)) @ root.T
    thetas[:, layout.s_diag] = np.abs(thetas[:, layout.s_diag])
    # Family effects: one posterior draw per (draw, row's family).
    roots = (
        np.linalg.cholesky(fit.family_effect_cov + 1e-12 * np.eye(k))
        if fit.families.size
        else np.zeros((0, k, k))
    )
    out = np.empty((n_draws, m, j))
    for d in range(n_draws):
        u = layout.unpack(thetas[d])
        chol = u["chol"]
        z = rng.standard_normal((m, k))
        alpha = np.empty((m, k))
        seen = idx >= 0
        if seen.any():
            alpha[seen] = fit.family_effects[idx[seen]] + np.einsum(
                "mab,mb->ma", roots[idx[seen]], z[seen]
            )
        if (~seen).any():
            alpha[~seen] = z[~seen] @ chol.T
        eta = (x_std @ u["beta"] + alpha) @ u["loadings"] + u["bias"]
        mu = fit.floor + (1.0 - fit.floor) * expit(eta)
        if kind == "observation":
            phi = np.exp(u["log_precision"])
            a = np.clip(phi * mu, 1e-300, None)
            b = np.clip(phi * (1.0 - mu), 1e-300, None)
            out[d] = rng.beta(a, b)
        else:
            out[d] = mu
    tail = 0.5 * (1.0 - level)
    low = np.quantile(out, tail, axis=0)
    high = np.quantile(out, 1.0 - tail, axis=0)
    return low, high
