"""Differentiable torch versions of :mod:`calipers.ot`: the AOT loss and batched W_p.

Everything here is sort-based and runs on whatever device the inputs live on (CPU or CUDA);
gradients come from autograd through ``torch.sort`` (exact almost everywhere, like the hard
sort of the paper). The numbers equal those of the Rust implementation in :mod:`calipers.ot`
up to floating-point rounding (and the input dtype).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from ..exceptions import InvalidArgumentError, ShapeError

__all__ = ["aot_loss", "wasserstein"]


def _check_vector(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise InvalidArgumentError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 1:
        raise ShapeError(f"{name}: expected a 1-D tensor, got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ShapeError(f"{name}: is empty; pass at least one value")


def _check_same_length(a: torch.Tensor, b: torch.Tensor, name: str, other: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ShapeError(
            f"{name}: has length {a.shape[0]} but {other} has length {b.shape[0]}; "
            "pass one value per response"
        )


def _quantile_pairs(
    x: torch.Tensor,
    y: torch.Tensor,
    x_weights: torch.Tensor | None = None,
    y_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The monotone coupling along the last axis: values (x_i, y_j) and the mass of each piece.

    Equal sizes without weights: the k-th order statistics, mass 1/n. Otherwise the merged
    cumulative weights q_1 <= ... <= q_{n+m}: piece l is (q_{l-1}, q_l] with x and y at their
    generalised inverse CDFs (first index whose cumulative weight reaches q_l).
    """
    xs, xi = torch.sort(x, dim=-1)
    ys, yi = torch.sort(y, dim=-1)
    n, m = x.shape[-1], y.shape[-1]
    if x_weights is None and y_weights is None and n == m:
        mass = torch.full_like(xs, 1.0 / n)
        return xs, ys, mass
    x_cdf = _sorted_cdf(xs, xi, x_weights)
    y_cdf = _sorted_cdf(ys, yi, y_weights)
    q, _ = torch.sort(torch.cat([x_cdf, y_cdf], dim=-1), dim=-1)
    mass = torch.diff(q, dim=-1, prepend=torch.zeros_like(q[..., :1]))
    ix = torch.searchsorted(x_cdf.contiguous(), q.contiguous()).clamp(max=n - 1)
    iy = torch.searchsorted(y_cdf.contiguous(), q.contiguous()).clamp(max=m - 1)
    return torch.gather(xs, -1, ix), torch.gather(ys, -1, iy), mass


def _sorted_cdf(
    values_sorted: torch.Tensor, order: torch.Tensor, weights: torch.Tensor | None
) -> torch.Tensor:
    n = values_sorted.shape[-1]
    if weights is None:
        steps = torch.arange(1, n + 1, device=values_sorted.device, dtype=values_sorted.dtype)
        return (steps / n).expand_as(values_sorted)
    w = torch.gather(weights.to(values_sorted.dtype).expand_as(values_sorted), -1, order)
    cdf = torch.cumsum(w, dim=-1)
    return cdf / cdf[..., -1:]


def wasserstein(
    u: torch.Tensor,
    v: torch.Tensor,
    p: float = 1.0,
    u_weights: torch.Tensor | None = None,
    v_weights: torch.Tensor | None = None,
    *,
    return_power: bool = False,
) -> torch.Tensor:
    """Exact p-Wasserstein distance between 1-D samples along the last axis (differentiable).

    ``u`` and ``v`` may carry any leading batch axes (one distribution per row, like the 2-D
    input of :func:`calipers.ot.wasserstein`); their last axes may differ in length.

    Parameters
    ----------
    u, v : torch.Tensor, shape (..., n) and (..., m)
    p : float, default 1
        Order, ``p >= 1``.
    u_weights, v_weights : torch.Tensor, optional
        Non-negative weights with the shape of ``u`` / ``v``; uniform when omitted.
    return_power : bool, default False
        Return ``W_p ** p`` (smooth at 0, unlike ``W_p`` for ``p > 1``).

    Returns
    -------
    torch.Tensor
        Shape ``u.shape[:-1]``.
    """
    if not p >= 1.0:
        raise InvalidArgumentError(f"p: must be >= 1, got {p}")
    for t, name in ((u, "u"), (v, "v")):
        if t.ndim == 0 or t.shape[-1] == 0:
            raise ShapeError(f"{name}: needs a non-empty last axis, got shape {tuple(t.shape)}")
    if u.shape[:-1] != v.shape[:-1]:
        raise ShapeError(
            f"u has batch shape {tuple(u.shape[:-1])} but v has {tuple(v.shape[:-1])}; "
            "pass one row per pair"
        )
    for w, t, name in ((u_weights, u, "u_weights"), (v_weights, v, "v_weights")):
        if w is not None and w.shape != t.shape:
            raise ShapeError(f"{name}: has shape {tuple(w.shape)}; expected {tuple(t.shape)}")
    xs, ys, mass = _quantile_pairs(u, v, u_weights, v_weights)
    power = (mass * (xs - ys).abs() ** p).sum(dim=-1)
    return power if return_power else power ** (1.0 / p)


def _relaxed(delta: torch.Tensor, beta: float, relaxation: str) -> torch.Tensor:
    if relaxation == "logistic":
        # softplus(-beta d), exactly (F.softplus turns linear past its threshold)
        return -F.logsigmoid(beta * delta)
    return torch.clamp(beta - delta, min=0) ** 2


def aot_loss(
    chosen_logps: torch.Tensor,
    rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    *,
    beta: float = 0.1,
    label_smoothing: float = 0.0,
    relaxation: Literal["logistic", "squared_hinge"] = "logistic",
    mode: Literal["paired", "unpaired"] = "paired",
) -> torch.Tensor:
    """AOT alignment loss as a differentiable scalar tensor (see :func:`calipers.ot.aot_loss`).

    Paired (TRL ``"aot"``): ``delta = sort(chosen - rejected) - sort(ref_chosen - ref_rejected)``.
    Unpaired (TRL ``"aot_unpaired"``): ``delta = sort(chosen - ref_chosen) -
    sort(rejected - ref_rejected)`` (chosen and rejected sets may differ in size; the sorted
    values are then matched by merging quantiles). Loss:
    ``mean[(1 - eps) * h(delta) + eps * h(-delta)]`` with ``h(d) = softplus(-beta * d)``
    (logistic) or ``max(beta - d, 0) ** 2`` (squared hinge).

    Sorting happens within the tensors given: under data parallelism, gather the batch
    across devices first if the distributional comparison should span it.
    """
    names = ("chosen_logps", "rejected_logps", "ref_chosen_logps", "ref_rejected_logps")
    tensors = (chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps)
    for t, name in zip(tensors, names, strict=True):
        _check_vector(t, name)
    if not beta > 0:
        raise InvalidArgumentError(f"beta: must be > 0, got {beta}")
    if not 0 <= label_smoothing < 0.5:
        raise InvalidArgumentError(f"label_smoothing: must lie in [0, 0.5), got {label_smoothing}")
    if relaxation not in ("logistic", "squared_hinge"):
        raise InvalidArgumentError(
            f"relaxation: got {relaxation!r}; use 'logistic' or 'squared_hinge'"
        )
    if mode not in ("paired", "unpaired"):
        raise InvalidArgumentError(f"mode: got {mode!r}; use 'paired' or 'unpaired'")
    _check_same_length(ref_chosen_logps, chosen_logps, "ref_chosen_logps", "chosen_logps")
    _check_same_length(ref_rejected_logps, rejected_logps, "ref_rejected_logps", "rejected_logps")
    if mode == "paired":
        _check_same_length(rejected_logps, chosen_logps, "rejected_logps", "chosen_logps")
        x = chosen_logps - rejected_logps
        y = ref_chosen_logps - ref_rejected_logps
    else:
        x = chosen_logps - ref_chosen_logps
        y = rejected_logps - ref_rejected_logps
    xs, ys, mass = _quantile_pairs(x, y)
    delta = xs - ys
    per_piece = (1 - label_smoothing) * _relaxed(delta, beta, relaxation)
    if label_smoothing > 0:
        per_piece = per_piece + label_smoothing * _relaxed(-delta, beta, relaxation)
    return (mass * per_piece).sum()
