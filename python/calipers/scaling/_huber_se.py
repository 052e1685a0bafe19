"""Standard errors of the fixed-effect Huber fit (Sloth) in its anchored parametrisation.

The fit minimises the total Huber loss Q(θ) = Σ_c ρ(r_c) over the observed cells c = (i, j),
r_c = μ_c(θ) − y_c, with ρ the smooth-L1 loss of threshold δ, ψ = ρ' = clip(r/δ, −1, 1) and
ψ' = 1{|r| < δ}/δ (ρ is δ⁻¹ times Huber's ρ, which scales ψ and ψ' alike and leaves every
covariance below unchanged). It is an M-estimator, not a likelihood, so the three kinds are
the M-estimator versions. θ are the identified parameters of the anchored view (slopes W,
family intercepts A, the non-anchor loadings and biases, and the floors' logits when they are
learned; anchor k loads on skill k only with loading 1 and bias 0), n the number of observed
cells, p = dim θ, G the number of families and J_c = ∂μ_c/∂θ.

- "sandwich" (cluster-robust, by family: the models of one family share its intercept and
  their residuals are correlated): V = G/(G − 1) · A⁻¹ B A⁻¹ with
  A = ∂²Q/∂θ² = Σ_c ψ'(r_c) J_c J_cᵀ + Σ_c ψ(r_c) ∂²μ_c/∂θ² and B = Σ_f s_f s_fᵀ, s_f the
  summed score Σ_{c ∈ f} ψ(r_c) J_c of family f; G/(G − 1) is the usual small-sample factor
  of clustered sandwiches (CR1 without the (n − 1)/(n − p) part).
- "hessian" (model-based, cells independent with one error law): the nonlinear analogue of
  statsmodels RLM's default "H1": V = K² s² (Σ_c J_c J_cᵀ)⁻¹ with
  s² = [Σ_c ψ(r_c)² / (n − p)] / [Σ_c ψ'(r_c) / n]² and Huber's correction
  K = 1 + (p/n) var(ψ') / mean(ψ')²; Σ J_c J_cᵀ plays the role of XᵀX (it is XᵀX for a linear
  mean). NaN where no residual lies inside ±δ (mean ψ' = 0) or n ≤ p.
- "opg" (outer product of the per-family scores): V = (Σ_c ψ² / Σ_c ψ')² · B⁻¹, the scaling
  that makes it equal the other two when the cells are independent with one error law
  (then B ≈ E[ψ²] ΣJJᵀ and A ≈ E[ψ'] ΣJJᵀ). A family's intercept enters that family's cells
  only, so its summed score is zero at the optimum: B carries no information on the
  intercepts. Profiling them out leaves the other parameters' scores unchanged, so the OPG
  covariance of the shared parameters is the scaled inverse of B's shared block; the
  intercepts' OPG entries are NaN, and so is everything when there are no more families
  than shared parameters (the summed scores add to zero, so B has rank ≤ G − 1).

A's first term and the scores use the analytic Jacobian J_c; the curvature term
Σ ψ(r̂_c) ∂²μ_c/∂θ² is a central difference of the smooth map θ ↦ Σ_c ψ(r̂_c) J_c(θ) with the
weights ψ(r̂_c) held at the fit. Differencing the loss gradient Σ ψ(r_c(θ)) J_c(θ) itself would
also be valid (ψ is continuous), but cells whose residual crosses ±δ within the step change
the result by one cell's share; holding ψ' at the fit gives the almost-everywhere Hessian
exactly. A rotated view (``identification="rotate"``) has no standard errors: the rotation is
computed from the fitted skills, and its uncertainty is not part of these formulas.

Memory: about 8·(n_models·(n_params + n_free) + 8·n_free²) bytes (dense p × p matrices; the
family intercepts count d each), checked against the budget first.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.special import expit

from .._validation import check_memory
from . import _objective as obj
from ._fixed_beta import anchored_base, anchored_free_index
from ._random import _neg_hessian


@dataclasses.dataclass(frozen=True)
class HuberCovariances:
    """Covariance matrices of the anchored free parameters of a fixed-effect Huber fit."""

    index: np.ndarray  # positions of the free parameters in the objective's flat layout
    free: np.ndarray  # their values at the fit
    covariances: dict[str, np.ndarray]  # kind → (n_free, n_free)
    hessian: np.ndarray  # A, the Hessian of the total loss
    family_scores: np.ndarray  # (G, n_free): s_f
    gauss_newton: np.ndarray  # Σ J_c J_cᵀ
    scale2: float  # s² of the "hessian" kind (K² not included)
    correction: float  # Huber's K

    def slope_se(self, p: int, d: int) -> dict[str, np.ndarray]:
        """Standard errors of W (the first p·d free parameters) per kind, shape (p, d)."""
        out = {}
        for kind, cov in self.covariances.items():
            var = np.diag(cov)[: p * d]
            out[kind] = np.where(var > 0, np.sqrt(np.abs(var)), np.nan).reshape(p, d)
        return out


def huber_free_index(layout: obj.Layout, anchors: tuple[int, ...]) -> np.ndarray:
    """The anchored free parameters' positions in ``layout`` (W, A, Λ, b, κ)."""
    lead = (layout.p + layout.n_families) * layout.d
    n_tail = layout.J if layout.learn_floor else 0
    return anchored_free_index(lead, layout.d, layout.J, anchors, n_tail=n_tail)


def mean_jacobian(theta: np.ndarray, layout: obj.Layout, X, fam, floor, j: int):
    """Mean scores of benchmark j, μ_{·j} (n,), and their Jacobian (n, layout.size) with
    respect to the flat parameter vector (logistic link; loadings free)."""
    P = layout.unpack(theta)
    n, p, d, J = X.shape[0], layout.p, layout.d, layout.J
    Z = X @ P["W"] + P["A"][fam]
    s = expit(Z @ P["L"][:, j] + P["b"][j])
    c = expit(P["kappa"][j]) if layout.learn_floor else floor[j]
    g = (1.0 - c) * s * (1.0 - s)  # dμ/dη
    jac = np.zeros((n, layout.size))
    lam = P["L"][:, j]
    jac[:, : p * d] = (g[:, None, None] * X[:, :, None] * lam[None, None, :]).reshape(n, p * d)
    cols = p * d + fam[:, None] * d + np.arange(d)[None, :]
    jac[np.arange(n)[:, None], cols] = g[:, None] * lam[None, :]
    o_lam = (p + layout.n_families) * d
    jac[:, o_lam + np.arange(d) * J + j] = g[:, None] * Z
    o_b = o_lam + d * J
    jac[:, o_b + j] = g
    if layout.learn_floor:
        jac[:, o_b + J + j] = c * (1.0 - c) * (1.0 - s)
    return c + (1.0 - c) * s, jac


def weighted_mean_gradient(theta, layout: obj.Layout, X, fam, floor, weights) -> np.ndarray:
    """Σ_ij w_ij ∂μ_ij/∂θ for a weight per cell (n, J) by the chain rule (logistic link)."""
    P = layout.unpack(theta)
    Z = X @ P["W"] + P["A"][fam]
    s = expit(Z @ P["L"] + P["b"])
    c = expit(P["kappa"]) if layout.learn_floor else floor
    g_eta = weights * (1.0 - c) * s * (1.0 - s)  # weight × dμ/dη
    g_z = g_eta @ P["L"].T
    g_a = np.zeros_like(P["A"])
    np.add.at(g_a, fam, g_z)
    parts = [(X.T @ g_z).ravel(), g_a.ravel(), (Z.T @ g_eta).ravel(), g_eta.sum(axis=0)]
    if layout.learn_floor:
        parts.append(np.sum(weights * (1.0 - s), axis=0) * c * (1.0 - c))
    return np.concatenate(parts)


def _psi(r: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """ψ = ρ' and ψ' of the smooth-L1 loss (ψ' taken as 0 at |r| = δ, a null set)."""
    return np.clip(r / delta, -1.0, 1.0), (np.abs(r) < delta) / delta


def huber_covariances(
    theta: np.ndarray,
    layout: obj.Layout,
    X: np.ndarray,
    fam: np.ndarray,
    Y: np.ndarray,
    floor: np.ndarray,
    delta: float,
    anchors: tuple[int, ...],
) -> HuberCovariances:
    """The three covariance kinds (module docstring) at ``theta``, a fit in its anchored
    form (anchor loadings the identity, anchor biases 0; NaN in Y = missing)."""
    if layout.fix_loadings or layout.n_knots:
        raise ValueError("huber_covariances: logistic link with free loadings only")
    index = huber_free_index(layout, anchors)
    n_rows = X.shape[0]
    check_memory(8.0 * (n_rows * (layout.size + index.size) + 8 * index.size**2), "families",
                 "dense covariances over every family intercept do not fit; fit with "
                 "identification='rotate' (no standard errors) or family_effect='random'")  # fmt: skip
    base = anchored_base(layout.size, (layout.p + layout.n_families) * layout.d, layout.J,
                         anchors)  # fmt: skip
    free = theta[index].copy()
    rebuilt = base.copy()
    rebuilt[index] = free
    if not np.allclose(rebuilt, theta, rtol=1e-9, atol=1e-12):
        raise ValueError("huber_covariances: theta is not in the anchored form")
    theta = rebuilt  # the anchors' entries exactly 1 and 0
    mask = np.isfinite(Y)
    n_free = index.size
    psi_cells = np.zeros(Y.shape)  # ψ(r̂) per cell, 0 where the score is missing
    dpsi_cells = np.zeros(Y.shape)
    row_scores = np.zeros((n_rows, n_free))
    gauss_newton = np.zeros((n_free, n_free))
    weighted_gn = np.zeros((n_free, n_free))
    for j in range(layout.J):
        obs = mask[:, j]
        mu, jac = mean_jacobian(theta, layout, X, fam, floor, j)
        jo = jac[obs][:, index]
        psi, dpsi = _psi(mu[obs] - Y[obs, j], delta)
        psi_cells[obs, j], dpsi_cells[obs, j] = psi, dpsi
        row_scores[obs] += psi[:, None] * jo
        gauss_newton += jo.T @ jo
        weighted_gn += (jo * dpsi[:, None]).T @ jo

    def weighted_jacobian_sum(v: np.ndarray) -> np.ndarray:
        """Σ_c ψ(r̂_c) J_c(θ): smooth in θ because the weights stay at the fit."""
        th = base.copy()
        th[index] = v
        return weighted_mean_gradient(th, layout, X, fam, floor, psi_cells)[index]

    # central differences, step 1e-5·max(1, |θ_k|), symmetrised
    curvature = -_neg_hessian(weighted_jacobian_sum, free, None, central=True)
    hessian = 0.5 * (weighted_gn + weighted_gn.T) + curvature
    family_scores = np.zeros((layout.n_families, n_free))
    np.add.at(family_scores, fam, row_scores)
    psi_obs, dpsi_obs = psi_cells[mask], dpsi_cells[mask]
    shared = _shared_positions(layout, n_free)
    covs, scale2, k = m_estimator_covariances(
        hessian, gauss_newton, family_scores, psi_obs, dpsi_obs, shared
    )
    return HuberCovariances(
        index=index, free=free, covariances=covs, hessian=hessian, family_scores=family_scores,
        gauss_newton=gauss_newton, scale2=scale2, correction=k,
    )  # fmt: skip


def _shared_positions(layout: obj.Layout, n_free: int) -> np.ndarray:
    """Free-parameter positions of everything but the family intercepts."""
    pd, fd = layout.p * layout.d, layout.n_families * layout.d
    return np.concatenate([np.arange(pd), np.arange(pd + fd, n_free)]).astype(np.intp)


def m_estimator_covariances(
    hessian: np.ndarray,
    gauss_newton: np.ndarray,
    cluster_scores: np.ndarray,
    psi: np.ndarray,
    dpsi: np.ndarray,
    shared: np.ndarray,
) -> tuple[dict[str, np.ndarray], float, float]:
    """The kinds of the module docstring from their pieces: A (``hessian``), Σ J Jᵀ
    (``gauss_newton``), the per-cluster summed scores (G × p), ψ and ψ' of every observation,
    and the positions whose OPG block is estimable (``shared``). Returns (covariances, s², K).
    """
    n, p = psi.size, hessian.shape[0]
    n_clusters = cluster_scores.shape[0]
    mean_dpsi = float(dpsi.mean()) if n else 0.0
    sum_psi2 = float(psi @ psi)
    if mean_dpsi > 0 and n > p:
        k = 1.0 + (p / n) * float(dpsi.var()) / mean_dpsi**2
        scale2 = sum_psi2 / (n - p) / mean_dpsi**2
        cov_h = k * k * scale2 * np.linalg.pinv(gauss_newton, hermitian=True)
    else:
        k = scale2 = float("nan")
        cov_h = np.full((p, p), np.nan)
    outer = cluster_scores.T @ cluster_scores
    a_inv = np.linalg.pinv(hessian, hermitian=True)
    factor = n_clusters / (n_clusters - 1) if n_clusters > 1 else float("nan")
    cov_s = factor * (a_inv @ outer @ a_inv)
    cov_o = np.full((p, p), np.nan)
    if mean_dpsi > 0 and n_clusters > shared.size:  # else the shared block is singular
        ratio = sum_psi2 / float(dpsi.sum())
        block = np.linalg.pinv(outer[np.ix_(shared, shared)], hermitian=True)
        cov_o[np.ix_(shared, shared)] = ratio * ratio * block
    covs = {"hessian": cov_h, "opg": cov_o, "sandwich": 0.5 * (cov_s + cov_s.T)}
    return covs, scale2, k
