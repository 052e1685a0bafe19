"""Penalised JML for IRT in torch (GPU), mirroring ``calipers_core::irt::fit_jml``.

Same model, priors, guarded Newton steps (capped at 1 per parameter), re-standardisation and
convergence rule as the Rust core, written as dense tensor operations so that a GPU does the
work. Used by ``IRT(device="cuda")``; the responses stay one byte per cell on the device
(plus float temporaries of the matrix's size during each step).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["fit_jml"]

_MAX_STEP = 1.0
_MISSING = 255


def _cap(step: torch.Tensor) -> torch.Tensor:
    """Scale each row so its largest absolute entry is at most the step cap."""
    big = step.abs().amax(dim=-1, keepdim=True).clamp_min(_MAX_STEP)
    return step * (_MAX_STEP / big)


def _solve(h: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Batched SPD solve h x = g (h: n × k × k, g: n × k)."""
    chol, info = torch.linalg.cholesky_ex(h)
    x = torch.cholesky_solve(g.unsqueeze(-1), chol).squeeze(-1)
    return torch.where((info == 0).unsqueeze(-1), x, torch.zeros_like(x))


def _clipped_logit(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(0.02, 0.98)
    return torch.log(p / (1 - p))


def _standardise(theta, a, b, common):
    mu = theta.mean(dim=0)
    centred = theta - mu
    cov = centred.T @ centred / theta.shape[0]
    b = b - a @ mu
    max_var = torch.diagonal(cov).max()
    if max_var > 1e-12:
        chol, info = torch.linalg.cholesky_ex(cov)
        if info == 0 and torch.diagonal(chol).min() > 1e-6 * max_var.sqrt():
            centred = torch.linalg.solve_triangular(chol, centred.T, upper=False).T
            a = a @ chol
    if common:
        a = a[:1].expand_as(a).clone()
    return centred, a, b


def fit_jml(
    codes: np.ndarray,
    *,
    model: str,
    dims: int,
    max_iter: int,
    tol: float,
    prior_sd_theta: float,
    prior_sd_a: float,
    prior_sd_b: float,
    positive: bool,
    seed: int,
    device: str = "cuda",
    dtype: torch.dtype | None = None,
) -> tuple:
    """Fit by JML on ``device``; returns the tuple of ``calipers._core.irt_fit``.

    ``codes``: uint8 (0, 1, 255 = missing) or float32 (NaN = missing), models × items.
    ``dtype`` defaults to float32 on CUDA and float64 elsewhere.
    """
    dev = torch.device(device)
    if dtype is None:
        dtype = torch.float32 if dev.type == "cuda" else torch.float64
    raw = torch.from_numpy(np.ascontiguousarray(codes)).to(dev)
    if raw.dtype == torch.uint8:
        obs = raw <= 1
        y = (raw & 1).to(dtype)
    else:
        obs = ~torch.isnan(raw)
        y = torch.nan_to_num(raw, nan=0.0).to(dtype)
    del raw
    obs_f = obs.to(dtype)
    n, m = y.shape
    common = model == "1pl"
    pt, pa, pb = prior_sd_theta**-2, prior_sd_a**-2, prior_sd_b**-2

    counts_r = obs_f.sum(1)
    row_mean = torch.where(counts_r > 0, (y * obs_f).sum(1) / counts_r.clamp_min(1), 0.5)
    counts_c = obs_f.sum(0)
    col_mean = torch.where(counts_c > 0, (y * obs_f).sum(0) / counts_c.clamp_min(1), 0.5)
    gen = np.random.default_rng(seed)
    theta = torch.zeros(n, dims, dtype=dtype, device=dev)
    theta[:, 0] = _clipped_logit(row_mean)
    a = torch.zeros(m, dims, dtype=dtype, device=dev)
    a[:, 0] = 1.0
    if dims > 1:
        theta[:, 1:] = torch.from_numpy(gen.normal(size=(n, dims - 1))).to(dev, dtype)
        a[:, 1:] = torch.from_numpy(0.1 * gen.normal(size=(m, dims - 1))).to(dev, dtype)
    b = -_clipped_logit(col_mean)
    theta, a, b = _standardise(theta, a, b, common)

    def residuals(theta, a, b):
        p = torch.sigmoid(theta @ a.T - b)
        return obs_f * (y - p), obs_f * p * (1 - p)

    eye = torch.eye(dims, dtype=dtype, device=dev)
    converged = False
    it = 0
    while it < max_iter:
        it += 1
        before = (theta.clone(), a.clone(), b.clone())
        r, w = residuals(theta, a, b)
        g = r @ a - pt * theta
        aa = (a[:, :, None] * a[:, None, :]).reshape(m, dims * dims)
        h = (w @ aa).reshape(n, dims, dims) + pt * eye
        theta = theta + _cap(_solve(h, g))
        theta, a, b = _standardise(theta, a, b, common)
        r, w = residuals(theta, a, b)
        x = torch.cat([theta, -torch.ones(n, 1, dtype=dtype, device=dev)], dim=1)
        k = dims + 1
        if common:
            ga = (r.T @ theta[:, 0]).sum() - pa * a[0, 0]
            ha = (w.T @ theta[:, 0] ** 2).sum() + pa
            gb = -r.sum(0) - pb * b
            hb = w.sum(0) + pb
            b = b + (gb / hb).clamp(-_MAX_STEP, _MAX_STEP)
            a_new = a[0, 0] + (ga / ha).clamp(-_MAX_STEP, _MAX_STEP)
            if positive:
                a_new = a_new.clamp_min(0.0)
            a = torch.full_like(a, float(a_new))
        else:
            g = r.T @ x
            xx = (x[:, :, None] * x[:, None, :]).reshape(n, k * k)
            h = (w.T @ xx).reshape(m, k, k)
            prior = torch.tensor([pa] * dims + [pb], dtype=dtype, device=dev)
            params = torch.cat([a, b[:, None]], dim=1)
            g = g - prior * params
            h = h + torch.diag(prior)
            params = params + _cap(_solve(h, g))
            a, b = params[:, :dims], params[:, dims]
            if positive:
                a = a.clamp_min(0.0)
        if _max_change(before, (theta, a, b)) < tol:
            converged = True
            break
    if dims == 1 and a.sum() < 0:
        a, theta = -a, -theta
    z = theta @ a.T - b
    loglik = float((obs_f * (y * z - torch.nn.functional.softplus(z))).sum(dtype=torch.float64))
    out = [t.detach().to("cpu", torch.float64).numpy() for t in (theta, a, b)]
    empty = np.zeros(0)
    return out[0], out[1], out[2], loglik, it, converged, empty, empty


def _max_change(old, new) -> float:
    (t0, a0, b0), (t1, a1, b1) = old, new
    if t0.shape[1] == 1:
        dt, da = (t0 - t1).abs().max(), (a0 - a1).abs().max()
    else:
        dt = (t0.norm(dim=1) - t1.norm(dim=1)).abs().max()
        da = (a0.norm(dim=1) - a1.norm(dim=1)).abs().max()
    return float(torch.stack([dt, da, (b0 - b1).abs().max()]).max())
