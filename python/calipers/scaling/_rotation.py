"""Gradient-projection factor rotations (Bernaards & Jennrich 2005): oblique geomin and
orthogonal varimax, for the loadings of a fitted skill scaling law. numpy only."""

from __future__ import annotations

import numpy as np

from ..exceptions import InvalidArgumentError

ROTATIONS = ("geomin_obl", "varimax")


def _geomin(L: np.ndarray, delta: float = 0.01) -> tuple[float, np.ndarray]:
    k = L.shape[1]
    L2 = L * L + delta
    pro = np.exp(np.log(L2).sum(axis=1) / k)
    return float(pro.sum()), (2.0 / k) * (L / L2) * pro[:, None]


def _varimax(L: np.ndarray) -> tuple[float, np.ndarray]:
    L2 = L * L
    QL = L2 - L2.mean(axis=0)
    return float(-np.sum(QL * QL) / 4.0), -L * QL


def _oblique(A: np.ndarray, crit, max_iter: int, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """GPFoblq: returns the rotated loadings L = A T^{-T} and T (unit-length columns)."""
    k = A.shape[1]
    T = np.eye(k)
    L = A @ np.linalg.inv(T).T
    f, Gq = crit(L)
    G = -(L.T @ Gq @ np.linalg.inv(T)).T
    al = 1.0
    for _ in range(max_iter):
        Gp = G - T @ np.diag(np.sum(T * G, axis=0))
        s = float(np.linalg.norm(Gp))
        if s < tol:
            break
        al *= 2.0
        for _ in range(11):
            X = T - al * Gp
            Tt = X / np.sqrt(np.sum(X * X, axis=0))
            Lt = A @ np.linalg.inv(Tt).T
            ft, Gqt = crit(Lt)
            if ft < f - 0.5 * s * s * al:
                break
            al /= 2.0
        T, L, f, Gq = Tt, Lt, ft, Gqt
        G = -(L.T @ Gq @ np.linalg.inv(T)).T
    return L, T


def _orthogonal(A: np.ndarray, crit, max_iter: int, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """GPForth: returns L = A T and the orthogonal T."""
    k = A.shape[1]
    T = np.eye(k)
    L = A @ T
    f, Gq = crit(L)
    G = A.T @ Gq
    al = 1.0
    for _ in range(max_iter):
        M = T.T @ G
        Gp = G - T @ ((M + M.T) / 2.0)
        s = float(np.linalg.norm(Gp))
        if s < tol:
            break
        al *= 2.0
        for _ in range(11):
            U, _, Vt = np.linalg.svd(T - al * Gp)
            Tt = U @ Vt
            Lt = A @ Tt
            ft, Gqt = crit(Lt)
            if ft < f - 0.5 * s * s * al:
                break
            al /= 2.0
        T, L, f, Gq = Tt, Lt, ft, Gqt
        G = A.T @ Gq
    return L, T


def rotation_matrix(
    loadings: np.ndarray, method: str, *, max_iter: int = 1000, tol: float = 1e-8
) -> np.ndarray:
    """The d × d matrix R such that the rotated skills are Z R and the rotated loadings
    (benchmarks × skills) are ``loadings @ inv(R).T``.

    ``loadings`` is J × d (one row per benchmark). geomin_obl: R has unit-length columns (skills
    keep unit variance, may correlate; their correlation is RᵀR). varimax: R orthogonal.
    """
    if method == "geomin_obl":
        return _oblique(loadings, _geomin, max_iter, tol)[1]
    if method == "varimax":
        return _orthogonal(loadings, _varimax, max_iter, tol)[1]
    raise InvalidArgumentError(f"method: expected one of {ROTATIONS} or None, got {method!r}")
