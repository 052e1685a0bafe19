"""``PromptEval(method="mml")``: the template model with the example effects integrated out.

The responses are transposed so that examples are the IRT respondents (abilities θ_j ~ N(0, 1)
integrated out on a quadrature grid) and templates are the items of a 1PL model,
P(Y_fj = 1) = σ(a θ_j − b_f), fitted by marginal maximum likelihood with EM
(``calipers.irt.IRT(model="1pl", method="em")``; the template parameters b_f get the
N(0, prior_sd²) prior). A cell not evaluated is filled with its posterior expectation
E[σ(a θ_j − b_f) | the evaluated cells of example j] (the prior expectation for an example
never evaluated), which removes the Jensen bias of plugging a point estimate into σ(·).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import special

from .exceptions import ConvergenceWarning, InvalidArgumentError

_N_QUAD = 61


def _check(x: Any, z: Any) -> None:
    if x is not None or z is not None:
        raise InvalidArgumentError(
            "method: 'mml' does not take format_covariates or example_covariates yet; use "
            "method='map' with covariates"
        )


def _fit_one(y: np.ndarray, prior_sd: float, max_iter: int, tol: float):
    """One F × J matrix (NaN = not evaluated) -> (a, b, expected probabilities J × F, fit)."""
    from .irt import IRT

    irt = IRT(
        model="1pl",
        method="em",
        prior_sd_b=prior_sd,
        max_iter=max(max_iter, 200),
        tol=max(tol, 1e-6),
        n_quad=_N_QUAD,
        responses="fractional",
    )
    yt = y.T.astype(np.float64)
    with warnings.catch_warnings():
        # Examples never evaluated are expected here (their prior is integrated over).
        warnings.filterwarnings("ignore", message=r"Y: \d+ model\(s\)", category=UserWarning)
        irt.fit(yt)
    a = float(irt.a_[0, 0])
    b = irt.b_.astype(np.float64)
    return a, b, _posterior_mean(yt, a, b), irt


def _posterior_mean(yt: np.ndarray, a: float, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E[σ(a θ_j − b_f) | evaluated cells of j] (J × F) and the posterior mean of a θ_j."""
    nodes = np.linspace(-6.0, 6.0, _N_QUAD)
    log_prior = -0.5 * nodes**2
    logits = a * nodes[None, :] - b[:, None]  # F × Q
    log_p, log_q = -np.logaddexp(0, -logits), -np.logaddexp(0, logits)
    seen = ~np.isnan(yt)
    y0 = np.where(seen, yt, 0.0)
    n0 = np.where(seen, 1.0 - yt, 0.0)
    log_post = y0 @ log_p + n0 @ log_q + log_prior  # J × Q
    post = special.softmax(log_post, axis=1)
    return post @ special.expit(logits).T, a * (post @ nodes)


def fit_mml(y: np.ndarray, x: Any, z: Any, prior_sd: float, max_iter: int, tol: float):
    """The same outputs as ``_core.prompts_fit`` for ``method="mml"``."""
    _check(x, z)
    n_models, nf, nj = y.shape
    coef = np.zeros((n_models, nf))
    beta = np.zeros((n_models, nj))
    acc = np.zeros((n_models, nf))
    se = np.zeros((n_models, nf))
    objective = np.zeros(n_models)
    n_iter = np.zeros(n_models, dtype=np.uint64)
    converged = np.zeros(n_models, dtype=bool)
    for m in range(n_models):
        a, b, (expected, ability), irt = _fit_one(y[m], prior_sd, max_iter, tol)
        seen = ~np.isnan(y[m])
        filled = np.where(seen, y[m], expected.T)
        acc[m] = filled.mean(axis=1)
        var = np.where(seen, 0.0, expected.T * (1 - expected.T)).sum(axis=1) / nj**2
        se[m] = np.sqrt(var)
        coef[m], beta[m] = -b, ability
        objective[m] = irt.loglik_
        n_iter[m] = irt.n_iter_
        converged[m] = irt.converged_
    return coef, beta, acc, se, objective, n_iter, converged


def bootstrap_mml(pe: Any, n_resamples: int, seed: int, parametric: bool) -> np.ndarray:
    """Bootstrap over examples for ``method="mml"`` (a Python loop of refits: slower than the
    Rust bootstrap of ``method="map"``)."""
    y = pe._y
    n_models, nf, nj = y.shape
    rng = np.random.default_rng(seed)
    width = 2 * nf if parametric else nf
    out = np.empty((n_models, n_resamples, width))
    prior_sd = pe._prior_sd_checked
    fits = [_fit_one(y[m], prior_sd, pe.max_iter, pe.tol) for m in range(n_models)]
    nodes = np.linspace(-6.0, 6.0, _N_QUAD)
    for m in range(n_models):
        a, b, _, _ = fits[m]
        yt = y[m].T.astype(np.float64)
        seen = ~np.isnan(yt)
        if parametric:
            logits = a * nodes[None, :] - b[:, None]
            y0 = np.where(seen, yt, 0.0)
            n0 = np.where(seen, 1.0 - yt, 0.0)
            log_post = y0 @ -np.logaddexp(0, -logits) + n0 @ -np.logaddexp(0, logits)
            post = special.softmax(log_post - 0.5 * nodes**2, axis=1)
        for r in range(n_resamples):
            idx = rng.integers(0, nj, size=nj)
            if parametric:
                # True abilities drawn from each example's posterior, every cell simulated.
                u = rng.random(nj)[:, None]
                k = np.minimum((post[idx].cumsum(axis=1) < u).sum(axis=1), _N_QUAD - 1)
                p = special.expit(a * nodes[k][:, None] - b[None, :])  # J × F
                draw = (rng.random(p.shape) < p).astype(np.float64)
                rep = np.where(seen[idx], draw, np.nan)
                out[m, r, nf:] = draw.mean(axis=0)
            else:
                rep = yt[idx]
            with warnings.catch_warnings():  # a replicate's slow EM is not the user's fit
                warnings.simplefilter("ignore", ConvergenceWarning)
                _, _, (expected, _), _ = _fit_one(rep.T, prior_sd, pe.max_iter, pe.tol)
            rep_seen = ~np.isnan(rep)
            out[m, r, :nf] = np.where(rep_seen, rep, expected).mean(axis=0)
    return out
