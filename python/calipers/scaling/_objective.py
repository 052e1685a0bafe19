"""The fixed-effect Sloth objective in numpy: the reference implementation of what the Rust
kernel computes (used for the learned-link stage, for small problems and in the tests).

Parameters are one flat vector ``theta`` laid out as

    W (p × d) | A (F × d) | Λ (d × J, absent when ``fix_loadings``) | b (J) | κ (J, only when
    the floors are learned) | link parameters (J × (1 + 3K), only for the monotone link)

with skills Z = X W + A[family], index H = Z Λ + b, floor c = floor or σ(κ) and mean
Ŷ = c + (1 − c) g(H). The loss is the mean Huber (smooth-L1) loss over the observed cells.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from scipy.special import expit


@dataclasses.dataclass(frozen=True)
class Layout:
    """Sizes of the parameter blocks of one fixed-effect model."""

    p: int  # features
    n_families: int
    d: int  # skills
    J: int  # benchmarks
    fix_loadings: bool = False
    learn_floor: bool = False
    n_knots: int = 0  # monotone link units per benchmark (0: logistic link)

    @property
    def sizes(self) -> tuple[int, ...]:
        return (
            self.p * self.d,
            self.n_families * self.d,
            0 if self.fix_loadings else self.d * self.J,
            self.J,
            self.J if self.learn_floor else 0,
            self.J * (1 + 3 * self.n_knots) if self.n_knots else 0,
        )

    @property
    def size(self) -> int:
        return int(sum(self.sizes))

    def unpack(
        self, theta: np.ndarray
    ) -> dict[str, Any]:  # arrays; None for the parts a layout lacks
        parts = np.split(theta, np.cumsum(self.sizes)[:-1])
        w, a, lam, b, kappa, link = parts
        return {
            "W": w.reshape(self.p, self.d),
            "A": a.reshape(self.n_families, self.d),
            "L": np.ones((self.d, self.J)) if self.fix_loadings else lam.reshape(self.d, self.J),
            "b": b,
            "kappa": kappa if self.learn_floor else None,
            "link": link.reshape(self.J, 1 + 3 * self.n_knots) if self.n_knots else None,
        }

    def pack(self, W, A, L, b, kappa=None, link=None) -> np.ndarray:
        parts = [np.ravel(W), np.ravel(A)]
        if not self.fix_loadings:
            parts.append(np.ravel(L))
        parts.append(np.ravel(b))
        if self.learn_floor:
            parts.append(np.ravel(kappa))
        if self.n_knots:
            parts.append(np.ravel(link))
        return np.concatenate(parts).astype(np.float64)

    def link_bounds(self) -> list[tuple[float | None, float | None]]:
        """L-BFGS-B bounds: link weights and slopes non-negative, everything else free."""
        bounds: list[tuple[float | None, float | None]] = [(None, None)] * (
            self.size - (self.sizes[5])
        )
        k = self.n_knots
        for _ in range(self.J):
            # per benchmark: a | w (K) | v (K) | c (K)
            bounds += [(None, None)] + [(0.0, None)] * (2 * k) + [(None, None)] * k
        return bounds


def monotone_link(h: np.ndarray, link: np.ndarray, n_knots: int):
    """g(h) = σ(a + Σ_k w_k tanh(v_k h + c_k)) per column, with its pieces for the gradient.

    ``h`` is (n, J), ``link`` (J, 1 + 3K). Returns g, dg/dh and the hidden activations."""
    a = link[:, 0]
    w = link[:, 1 : 1 + n_knots]
    v = link[:, 1 + n_knots : 1 + 2 * n_knots]
    c = link[:, 1 + 2 * n_knots :]
    t = np.tanh(h[:, :, None] * v[None] + c[None])  # (n, J, K)
    s = a[None] + np.einsum("njk,jk->nj", t, w)
    g = expit(s)
    sech2 = 1.0 - t * t
    ds_dh = np.einsum("njk,jk->nj", sech2, w * v)
    return g, g * (1.0 - g) * ds_dh, t, sech2, s


def huber(r: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Smooth-L1 loss 0.5 r²/δ (|r| < δ) or |r| − δ/2, and its derivative."""
    ar = np.abs(r)
    small = ar < delta
    loss = np.where(small, 0.5 * r * r / delta, ar - 0.5 * delta)
    dloss = np.where(small, r / delta, np.sign(r))
    return loss, dloss


def predict(theta, layout: Layout, X, fam, floor) -> np.ndarray:
    """Mean scores Ŷ (n × J) for features X and family indices fam."""
    P = layout.unpack(theta)
    Z = X @ P["W"] + P["A"][fam]
    H = Z @ P["L"] + P["b"]
    c = expit(P["kappa"]) if layout.learn_floor else floor
    if layout.n_knots:
        g = monotone_link(H, P["link"], layout.n_knots)[0]
    else:
        g = expit(H)
    return c + (1.0 - c) * g


def objective(theta, layout: Layout, X, fam, Y, mask, floor, delta):
    """Mean Huber loss over the observed cells of Y and its gradient with respect to theta."""
    P = layout.unpack(theta)
    n_obs = max(int(mask.sum()), 1)
    Z = X @ P["W"] + P["A"][fam]
    H = Z @ P["L"] + P["b"]
    if layout.learn_floor:
        c = expit(P["kappa"])
    else:
        c = floor
    if layout.n_knots:
        g, dg, t, sech2, s = monotone_link(H, P["link"], layout.n_knots)
    else:
        g = expit(H)
        dg = g * (1.0 - g)
    Yhat = c + (1.0 - c) * g
    R = np.where(mask, Yhat - np.where(mask, Y, 0.0), 0.0)
    loss, dloss = huber(R, delta)
    value = float(np.sum(np.where(mask, loss, 0.0))) / n_obs
    Gy = np.where(mask, dloss, 0.0) / n_obs  # dL/dYhat
    Gh = Gy * (1.0 - c) * dg
    grads = []
    Gz = Gh @ P["L"].T
    grads.append((X.T @ Gz).ravel())
    gA = np.zeros_like(P["A"])
    np.add.at(gA, fam, Gz)
    grads.append(gA.ravel())
    if not layout.fix_loadings:
        grads.append((Z.T @ Gh).ravel())
    grads.append(Gh.sum(axis=0))
    if layout.learn_floor:
        grads.append(np.sum(Gy * (1.0 - g), axis=0) * c * (1.0 - c))
    if layout.n_knots:
        k = layout.n_knots
        Gs = Gy * (1.0 - c) * g * (1.0 - g)  # dL/ds (n, J)
        link_grad = np.empty_like(P["link"])
        link_grad[:, 0] = Gs.sum(axis=0)
        w = P["link"][:, 1 : 1 + k]
        link_grad[:, 1 : 1 + k] = np.einsum("nj,njk->jk", Gs, t)
        Gt = Gs[:, :, None] * w[None] * sech2  # dL/d(v h + c)
        link_grad[:, 1 + k : 1 + 2 * k] = np.einsum("njk,nj->jk", Gt, H)
        link_grad[:, 1 + 2 * k :] = Gt.sum(axis=0)
        grads.append(link_grad.ravel())
    return value, np.concatenate(grads)
