"""The report's figures (matplotlib, no pyplot: figures are built and rendered without a
display or global state) and their embedding as base64 PNG data URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from .html import esc

__all__ = [
    "to_img",
    "forest_grid",
    "rank_heatmap",
    "pairwise_heatmap",
    "score_heatmap",
    "dominance_bars",
    "irt_scatter",
    "tiny_errors",
    "prompt_distributions",
]

_DPI = 100
_ACCENT = "#1f5f99"
_MUTED = "#8a96a3"


def to_img(fig: Figure, alt: str) -> str:
    """Render ``fig`` to PNG and return an ``<img>`` tag that embeds it (no external file)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{esc(alt)}">'


def _height(n_rows: int, per_row: float = 0.24, base: float = 1.2) -> float:
    return base + per_row * n_rows


def forest_grid(
    panels: Sequence[tuple[str, Sequence[str], np.ndarray, np.ndarray, np.ndarray]],
    xlabel: str,
) -> Figure:
    """One panel per scenario: each model's mean with its confidence interval, best on top.

    ``panels`` holds (title, model names, means, lows, highs) in leaderboard order.
    """
    n_rows = max(len(p[1]) for p in panels)
    n_panels = len(panels)
    fig = Figure(figsize=(3.6 * n_panels + 1.6, _height(n_rows)))
    axes = fig.subplots(1, n_panels, sharey=False, squeeze=False)[0]
    for k, (ax, (title, names, means, lows, highs)) in enumerate(zip(axes, panels, strict=True)):
        y = np.arange(len(names))[::-1]
        ax.hlines(y, lows, highs, color=_ACCENT, lw=2)
        ax.plot(means, y, "o", color=_ACCENT, ms=4)
        ax.set_yticks(y)
        ax.set_yticklabels(names if k == 0 else names, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    return fig


def rank_heatmap(names: Sequence[str], probabilities: np.ndarray, title: str) -> Figure:
    """Rows = models (leaderboard order), columns = ranks; cell = P(model has that rank)."""
    n = len(names)
    fig = Figure(figsize=(max(5.0, 0.28 * n + 3.0), _height(n)))
    ax = fig.subplots()
    image = ax.imshow(probabilities, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_yticks(np.arange(n))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xticks(np.arange(n))
    ax.set_xticklabels([str(r + 1) for r in range(n)], fontsize=7)
    ax.set_xlabel("rank (1 = best)", fontsize=9)
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label="probability", shrink=0.6)
    fig.tight_layout()
    return fig


def pairwise_heatmap(
    names: Sequence[str], difference: np.ndarray, significant: np.ndarray, title: str
) -> Figure:
    """Cell (i, j) = mean score of row model minus column model; significant cells are
    coloured, the others grey (the difference could be zero)."""
    n = len(names)
    shown = np.where(significant, difference, np.nan)
    limit = float(np.nanmax(np.abs(difference))) if np.isfinite(difference).any() else 1.0
    limit = limit if limit > 0 else 1.0
    fig = Figure(figsize=(max(5.5, 0.28 * n + 3.5), _height(n, base=2.2)))
    ax = fig.subplots()
    ax.imshow(np.where(significant, np.nan, 0.15), cmap="Greys", vmin=0, vmax=1, aspect="auto")
    image = ax.imshow(shown, cmap="RdBu", norm=TwoSlopeNorm(0.0, -limit, limit), aspect="auto")
    ax.set_yticks(np.arange(n))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xticks(np.arange(n))
    ax.set_xticklabels(names, fontsize=8, rotation=90)
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label="row minus column (significant only)", shrink=0.6)
    fig.tight_layout()
    return fig


def score_heatmap(
    names: Sequence[str], columns: Sequence[str], values: np.ndarray, label: str
) -> Figure:
    """Models x scenarios table of mean scores, annotated."""
    n, k = values.shape
    fig = Figure(figsize=(1.3 * k + 3.5, _height(n)))
    ax = fig.subplots()
    image = ax.imshow(values, cmap="viridis", aspect="auto")
    for i in range(n):
        for j in range(k):
            v = values[i, j]
            if np.isfinite(v):
                colour = "white" if v < np.nanmean(values) else "black"
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color=colour)
    ax.set_yticks(np.arange(n))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xticks(np.arange(k))
    ax.set_xticklabels(columns, fontsize=9)
    fig.colorbar(image, ax=ax, label=label, shrink=0.6)
    fig.tight_layout()
    return fig


def dominance_bars(
    names: Sequence[str], values: Sequence[np.ndarray], labels: Sequence[str], xlabel: str
) -> Figure:
    """Horizontal grouped bars, one group per model (e.g. mean violation ratio per order)."""
    n = len(names)
    fig = Figure(figsize=(7.5, _height(n, per_row=0.3)))
    ax = fig.subplots()
    y = np.arange(n)[::-1]
    height = 0.8 / len(values)
    colours = [_ACCENT, "#d08c2f", "#4c9a5b"]
    for k, (vals, label) in enumerate(zip(values, labels, strict=True)):
        ax.barh(
            y - (k - (len(values) - 1) / 2) * height,
            vals,
            height,
            label=label,
            color=colours[k % 3],
        )
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.axvline(0.5, color=_MUTED, lw=1, ls="--")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def irt_scatter(
    difficulty: np.ndarray,
    discrimination: np.ndarray,
    groups: np.ndarray,
    flagged: np.ndarray,
) -> Figure:
    """Item difficulty against discrimination, coloured by scenario; flagged items circled."""
    fig = Figure(figsize=(8.0, 5.0))
    ax = fig.subplots()
    cmap = ["#1f5f99", "#d08c2f", "#4c9a5b", "#9b4d96", "#c0392b", "#7f8c8d"]
    for k, group in enumerate(dict.fromkeys(groups.tolist())):
        mask = groups == group
        ax.scatter(
            difficulty[mask],
            discrimination[mask],
            s=9,
            alpha=0.55,
            color=cmap[k % len(cmap)],
            label=str(group),
        )
    if flagged.any():
        ax.scatter(
            difficulty[flagged],
            discrimination[flagged],
            s=40,
            facecolors="none",
            edgecolors="black",
            linewidths=0.8,
            label="flagged",
        )
    ax.axhline(0.0, color=_MUTED, lw=1, ls="--")
    ax.set_xlabel("difficulty b (higher = harder)", fontsize=9)
    ax.set_ylabel("discrimination a", fontsize=9)
    ax.legend(fontsize=8, markerscale=1.5)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def tiny_errors(
    scenarios: Sequence[str], sizes: Sequence[int], errors: Sequence[float], n_items: Sequence[int]
) -> Figure:
    """Cross-validated error of the recommended subset per scenario."""
    fig = Figure(figsize=(7.0, 0.5 * len(scenarios) + 1.5))
    ax = fig.subplots()
    y = np.arange(len(scenarios))[::-1]
    ax.barh(y, errors, color=_ACCENT)
    labels = [f"{s}\n{k} of {n} items" for s, k, n in zip(scenarios, sizes, n_items, strict=True)]
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("cross-validated mean absolute error of the estimated score", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def prompt_distributions(
    names: Sequence[str],
    levels: np.ndarray,
    quantiles: np.ndarray,
    lows: np.ndarray | None,
    highs: np.ndarray | None,
    level: float,
) -> Figure:
    """One panel per model: the estimated distribution of the accuracy over prompt templates
    (its quantile function drawn as a CDF) with the pointwise confidence band of the
    quantiles. ``quantiles``, ``lows``, ``highs`` are n_models × len(levels) (percent)."""
    from ..prompts import quantile_panels

    return quantile_panels(names, levels, quantiles, lows, highs, level)
