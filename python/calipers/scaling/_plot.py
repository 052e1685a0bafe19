"""Plots of a fitted skill scaling law (matplotlib, imported on first use)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._optional import require
from .._validation import as_float_array
from ._protocol import log_flops


def plot_predictions(model: Any, features: Any, families: Any, scores: Any, *, axes: Any = None):
    """Predicted against observed scores, one panel per benchmark.

    Parameters
    ----------
    model : fitted SkillScalingLaw (or anything with ``predict`` and ``benchmarks_``)
    features, families, scores : array_like
        Models to show (their families must be known to the model).
    axes : sequence of matplotlib Axes, optional
        One per benchmark; created when omitted.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = require("matplotlib.pyplot", "plot_predictions")
    from ._law import _scores

    Y, _ = _scores(scores)
    pred = model.predict(features, families)
    J = Y.shape[1]
    names = getattr(model, "benchmarks_", tuple(f"benchmark {j}" for j in range(J)))
    if axes is None:
        cols = min(J, 3)
        rows = -(-J // cols)
        fig, ax = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
        axes = ax.ravel()
    fig = axes[0].figure
    for j in range(J):
        a = axes[j]
        ok = np.isfinite(Y[:, j])
        a.scatter(Y[ok, j], pred[ok, j], s=12)
        lo = float(min(Y[ok, j].min(), pred[ok, j].min())) if ok.any() else 0.0
        hi = float(max(Y[ok, j].max(), pred[ok, j].max())) if ok.any() else 1.0
        a.plot([lo, hi], [lo, hi], color="grey", lw=1)
        mae = float(np.mean(np.abs(pred[ok, j] - Y[ok, j]))) if ok.any() else float("nan")
        a.set_title(f"{names[j]} (MAE {100 * mae:.1f} pp)", fontsize=9)
        a.set_xlabel("observed")
        a.set_ylabel("predicted")
    for a in list(axes)[J:]:
        a.set_visible(False)
    fig.tight_layout()
    return fig


def plot_skill_trajectories(model: Any, features: Any, families: Any, *, skill: int = 0,
                            ax: Any = None):  # fmt: skip
    """One skill against log compute, one line per family (models sorted by compute).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = require("matplotlib.pyplot", "plot_skill_trajectories")
    X = as_float_array(features, "features", ndim=2)
    fam = np.asarray(families)
    z = model.skills(X, fam)[:, skill]
    lf = log_flops(X)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    for f in np.unique(fam):
        rows = np.flatnonzero(fam == f)
        rows = rows[np.argsort(lf[rows], kind="stable")]
        ax.plot(lf[rows], z[rows], marker="o", ms=3, lw=1, label=str(f))
    ax.set_xlabel("log FLOPs (6·size·tokens)")
    ax.set_ylabel(f"skill {skill}")
    if len(np.unique(fam)) <= 12:
        ax.legend(fontsize=7)
    return ax.figure
