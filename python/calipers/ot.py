"""One-dimensional optimal transport by sorting.

For a convex cost ``c(x - y)`` the optimal coupling of two distributions on the real line is
the monotone (quantile) coupling, so

    W_p(mu, nu)^p = ∫_0^1 |F^-1(t) - G^-1(t)|^p dt

is computed exactly in O(n log n) by sorting and merging cumulative weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._validation import as_float_array, as_weights, check_scalar

__all__ = ["wasserstein"]


def wasserstein(
    u: Any,
    v: Any,
    p: float = 1.0,
    u_weights: Any = None,
    v_weights: Any = None,
    *,
    return_power: bool = False,
) -> float | np.ndarray:
    """Exact p-Wasserstein distance between 1-D empirical distributions.

    Parameters
    ----------
    u, v : array_like, 1-D or 2-D
        Samples. 1-D arrays are one distribution each and may have different lengths.
        2-D arrays hold one distribution per row (same number of rows; row lengths of ``u``
        and ``v`` may differ); the pairs are computed in parallel.
    p : float, default 1
        Order, ``p >= 1``.
    u_weights, v_weights : array_like, optional
        Non-negative weights with the shape of ``u`` / ``v`` (normalised per row).
        Uniform when omitted.
    return_power : bool, default False
        Return ``W_p ** p`` instead of ``W_p``. Note that POT's ``wasserstein_1d`` returns
        ``W_p ** p`` while ``scipy.stats.wasserstein_distance`` returns ``W_1``.

    Returns
    -------
    float or ndarray
        ``W_p`` (or ``W_p ** p``); one value per row for 2-D input.

    Examples
    --------
    >>> from calipers.ot import wasserstein
    >>> wasserstein([0.0, 1.0, 3.0], [5.0, 6.0, 8.0])
    5.0
    """
    p = check_scalar(p, "p", kind=float, low=1.0)
    u_arr = as_float_array(u, "u", ndim=(1, 2))
    v_arr = as_float_array(v, "v", ndim=(1, 2))
    if u_arr.ndim != v_arr.ndim:
        raise_shape(
            f"u is {u_arr.ndim}-D but v is {v_arr.ndim}-D; pass two 1-D samples or two 2-D batches"
        )
    uw = as_weights(u_weights, "u_weights", u_arr.shape[-1], ndim=u_arr.ndim)
    vw = as_weights(v_weights, "v_weights", v_arr.shape[-1], ndim=v_arr.ndim)
    if u_arr.ndim == 1:
        value = _core.wasserstein_pp(u_arr, v_arr, p, uw, vw)
        return value if return_power else value ** (1.0 / p)
    if u_arr.shape[0] != v_arr.shape[0]:
        raise_shape(
            f"u has {u_arr.shape[0]} rows but v has {v_arr.shape[0]}; pass one row per pair"
        )
    _check_weight_rows(uw, u_arr, "u_weights")
    _check_weight_rows(vw, v_arr, "v_weights")
    values = _core.wasserstein_pp_rows(u_arr, v_arr, p, uw, vw)
    return values if return_power else values ** (1.0 / p)


def _check_weight_rows(w: np.ndarray | None, x: np.ndarray, name: str) -> None:
    if w is not None and w.shape != x.shape:
        raise_shape(f"{name} has shape {w.shape} but the samples have shape {x.shape}")


def raise_shape(message: str) -> None:
    from .exceptions import ShapeError

    raise ShapeError(message)
