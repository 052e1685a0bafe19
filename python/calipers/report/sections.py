"""The report's sections. Each is an independent function ``(ReportData, ReportOptions,
Progress) -> Section``: it runs its computations through the calipers library, and returns
an HTML fragment, a JSON-ready dict with every number it shows, and plain-language summary
sentences for the top of the report."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from . import plots
from .data import ALL_ITEMS, Progress, ReportData, ReportOptions
from .html import esc, figure, fmt, paragraph, table

__all__ = ["Section", "overview"]


@dataclasses.dataclass(frozen=True)
class Section:
    """One part of the report: ``key`` (HTML anchor, JSON key), ``title``, ``html`` (body),
    ``data`` (every number shown, JSON-ready) and ``summary`` (sentences, HTML)."""

    key: str
    title: str
    html: str
    data: dict[str, Any]
    summary: list[str]


def _list(names: list[str], limit: int = 3) -> str:
    """'a, b and c' (or 'a, b, c and 4 more')."""
    shown = [esc(n) for n in names[:limit]]
    rest = len(names) - len(shown)
    if rest > 0:
        return ", ".join(shown) + f" and {rest} more"
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]


# ============================================================================ overview


def overview(rd: ReportData, options: ReportOptions, progress: Progress) -> Section:
    """What was compared: models, items, scenarios, missing scores, mean score per scenario."""
    data = rd.data
    n_models, n_items = data.shape
    missing = int(np.isnan(data.scores).sum())
    scenario_names = [v.name for v in rd.views]
    with np.errstate(invalid="ignore"):
        means = np.column_stack(
            [np.nanmean(data.scores[:, _columns(rd, name)], axis=1) for name in scenario_names]
        )
    order = np.argsort(-means[:, 0], kind="stable")
    rows = []
    for view in rd.views:
        cols = _columns(rd, view.name)
        rows.append(
            [
                esc(view.name),
                fmt(len(cols)),
                fmt(view.n_items),
                fmt(view.n_models),
                fmt(int(np.isnan(data.scores[:, cols]).sum())),
                fmt(float(np.nanmean(data.scores[:, cols]))),
            ]
        )
    parts = [
        paragraph(
            f"<b>{n_models}</b> models scored on <b>{n_items}</b> items"
            + (f" in <b>{len(rd.views) - 1}</b> scenarios" if len(rd.views) > 1 else "")
            + f"; metric <code>{esc(rd.metric_name)}</code>"
            + (f"; source <code>{esc(data.source)}</code>" if data.source else "")
            + f". {missing} (model, item) scores are missing."
        ),
        table(
            [
                "scenario",
                "items",
                "items scored by every model",
                "models",
                "missing scores",
                "mean score",
            ],
            rows,
            numeric=[False, True, True, True, True, True],
        ),
        paragraph(
            "The comparisons below are paired: every model is judged on the same items, so "
            "they use the items every model has a score for (the third column)."
        ),
    ]
    if len(rd.views) > 1:
        fig = plots.score_heatmap(
            [data.models[i] for i in order], scenario_names, means[order], f"mean {rd.metric_name}"
        )
        parts.append(
            figure(
                plots.to_img(fig, "mean score of each model in each scenario"),
                "Mean score of each model in each scenario (rows sorted by the mean over all items).",
            )
        )
    summary = [
        f"{n_models} models were compared on {n_items} items"
        + (
            f" in {len(rd.views) - 1} scenarios ({_list(scenario_names[1:], 5)})"
            if len(rd.views) > 1
            else ""
        )
        + f", scored by <code>{esc(rd.metric_name)}</code>."
    ]
    return Section(
        key="overview",
        title="Data",
        html="".join(parts),
        data={
            "n_models": n_models,
            "n_items": n_items,
            "n_missing": missing,
            "metric": rd.metric_name,
            "models": list(data.models),
            "scenarios": {v.name: v.to_json() for v in rd.views},
            "mean_score": {
                name: dict(zip(data.models, means[:, k].tolist(), strict=True))
                for k, name in enumerate(scenario_names)
            },
        },
        summary=summary,
    )


def _columns(rd: ReportData, name: str) -> np.ndarray:
    """All item columns of a scenario (complete or not)."""
    if name == ALL_ITEMS:
        return np.arange(rd.data.shape[1])
    return np.flatnonzero(np.asarray(rd.data.scenario, dtype=object) == name)
