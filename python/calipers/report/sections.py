"""The report's sections. Each is an independent function ``(ReportData, ReportOptions,
Progress) -> Section``: it runs its computations through the calipers library, and returns
an HTML fragment, a JSON-ready dict with every number it shows, and plain-language summary
sentences for the top of the report."""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._multitest import holm
from . import plots
from .data import (
    ALL_ITEMS,
    Progress,
    ReportData,
    ReportOptions,
    ScenarioView,
    complete_view,
    derive_seed,
    metric_name,
)
from .html import esc, figure, fmt, fmt_ci, fmt_p, note, paragraph, plain_text, table
from .item_flags import NegativeDiscriminationTest, negative_discrimination_test

__all__ = [
    "Section",
    "holm",
    "item_analysis",
    "leaderboard",
    "normal_pvalues",
    "overview",
    "pairwise_tests",
    "prompt_templates",
    "risk_aware",
    "tiny_dims",
    "tiny_subset",
]


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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a model with no score: NaN mean
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
                fmt(float(np.nanmean(data.scores[:, cols])) if view.n_items else None),
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
    for view in rd.skipped_views:
        parts.append(
            note(
                f"Scenario {esc(view.name)} is left out of the comparisons: only "
                f"{view.n_models} models and {view.n_items} items are complete there."
            )
        )
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
            "skipped_scenarios": [v.name for v in rd.skipped_views],
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


# ============================================================================ leaderboard


def _bootstrap_seed(options: ReportOptions, view: ScenarioView) -> int:
    """One seed per scenario for the leaderboard, rank distribution and pairwise tests, so
    all three come from the same item resamples."""
    return derive_seed(options.seed, "bootstrap", view.name)


def leaderboard(rd: ReportData, options: ReportOptions, progress: Progress) -> Section:
    """Mean score per model and scenario with paired-bootstrap (BCa) confidence intervals, and
    the bootstrap distribution of each model's rank."""
    from .. import resample

    level = options.confidence_level
    results: dict[str, dict[str, Any]] = {}
    panels = []
    for view in rd.views:
        seed = _bootstrap_seed(options, view)
        with progress.task(f"leaderboard: bootstrap ({view.name})") as callback:
            with _collect_warnings() as caught:
                boot = resample.bootstrap(
                    view.scores,
                    paired=True,
                    n_resamples=options.n_resamples,
                    confidence_level=level,
                    method="bca",
                    rng=seed,
                    progress=callback or False,
                )
        with progress.task(f"leaderboard: rank distribution ({view.name})") as callback:
            ranks = resample.rank_distribution(
                view.scores,
                paired=True,
                n_resamples=options.n_resamples,
                rng=seed,
                progress=callback or False,
            )
        mean = np.asarray(boot.statistic)
        order = np.argsort(-mean, kind="stable")
        low, high = boot.confidence_interval
        results[view.name] = {
            "rng_seed": seed,
            "n_items": view.n_items,
            "models": view.models,
            "mean": mean,
            "standard_error": boot.standard_error,
            "ci_low": low,
            "ci_high": high,
            "p_best": ranks.p_best,
            "expected_rank": ranks.expected_rank,
            "rank_probabilities": ranks.probabilities,
            "order": [view.models[i] for i in order],
            "warnings": caught,
        }
        names = [view.models[i] for i in order]
        panels.append(
            (f"{view.name} ({view.n_items} items)", names, mean[order], low[order], high[order])
        )

    overall = rd.overall
    first = results[overall.name]
    parts = [
        paragraph(
            f"Mean <code>{esc(rd.metric_name)}</code> per model with {level:.0%} paired-bootstrap "
            f"confidence intervals (BCa, {options.n_resamples} item resamples shared by all "
            "models). <b>P(best)</b> is the share of resamples in which the model has the "
            "highest mean; the expected rank averages its rank over the resamples. Two models "
            "whose intervals overlap may still differ significantly: the paired tests below "
            "decide that."
        ),
        _leaderboard_table(first, level),
        figure(
            plots.to_img(
                plots.forest_grid(panels, f"mean {rd.metric_name}"), "leaderboard intervals"
            ),
            f"Mean score with its {level:.0%} confidence interval, best on top, per scenario.",
        ),
    ]
    for view in rd.views[1:]:
        parts.append(
            f"<details><summary>Leaderboard: {esc(view.name)} ({view.n_items} items)</summary>"
            + _leaderboard_table(results[view.name], level)
            + "</details>"
        )
    all_caught = {f"{name}: {w}" for name, res in results.items() for w in res["warnings"]}
    if all_caught:
        parts.append(note("; ".join(esc(w) for w in sorted(all_caught))))
    top = [overall.models[i] for i in np.argsort(-first["p_best"], kind="stable")]
    parts.append(
        figure(
            plots.to_img(
                plots.rank_heatmap(
                    first["order"],
                    _reorder(first["rank_probabilities"], first),
                    "rank distribution",
                ),
                "rank distribution",
            ),
            f"Probability of each rank over the bootstrap resamples ({esc(overall.name)}).",
        )
    )
    best = first["order"][0]
    best_index = overall.models.index(best)
    summary = [
        f"Best on {esc(overall.name)}: <b>{esc(best)}</b> with mean {fmt(first['mean'][best_index])} "
        f"({level:.0%} CI {fmt(first['ci_low'][best_index])} to {fmt(first['ci_high'][best_index])}); "
        f"it ranks first in {_percent(first['p_best'][best_index])} of the bootstrap resamples"
        + (
            f" (next most often first: {esc(top[1])}, {_percent(first['p_best'][overall.models.index(top[1])])})."
            if len(top) > 1 and top[0] == best
            else "."
        )
    ]
    if len(rd.views) > 1:
        bests = [f"{esc(v.name)}: {esc(results[v.name]['order'][0])}" for v in rd.views[1:]]
        summary.append("Best per scenario: " + "; ".join(bests) + ".")
    return Section(
        key="leaderboard",
        title="Leaderboard",
        html="".join(parts),
        data={
            "confidence_level": level,
            "n_resamples": options.n_resamples,
            "method": "bca",
            "scenarios": results,
        },
        summary=summary,
    )


def _percent(p: float) -> str:
    """A probability as a percentage; one decimal near 0 and 1 so 0.999 is not '100%'."""
    text = f"{p:.0%}"
    return f"{p:.1%}" if text in ("0%", "100%") and 0 < p < 1 else text


def _reorder(matrix: np.ndarray, result: dict[str, Any]) -> np.ndarray:
    """Rows of a per-model matrix in leaderboard order."""
    index = [result["models"].index(m) for m in result["order"]]
    return np.asarray(matrix)[index]


def _leaderboard_table(result: dict[str, Any], level: float) -> str:
    rows = []
    for rank, name in enumerate(result["order"], start=1):
        i = result["models"].index(name)
        rows.append(
            [
                fmt(rank),
                esc(name),
                fmt(result["mean"][i]),
                fmt_ci(result["ci_low"][i], result["ci_high"][i]),
                fmt(result["p_best"][i]),
                fmt(result["expected_rank"][i], 1),
            ]
        )
    return table(
        ["#", "model", "mean", f"{level:.0%} CI", "P(best)", "expected rank"],
        rows,
        numeric=[True, False, True, True, True, True],
    )


# ============================================================================ pairwise tests


def normal_pvalues(difference: np.ndarray, standard_error: np.ndarray) -> np.ndarray:
    """Two-sided p-values of ``difference == 0`` from the bootstrap standard error,
    2 * (1 - Phi(|d| / se)); 1 where both are 0 (identical models), 0 where only se is.

    A resampling p-value cannot fall below 1 / (B + 1); Holm over m(m-1)/2 pairs multiplies
    the smallest by the number of pairs, so with hundreds of pairs no difference could ever be
    significant. The normal approximation with the paired-bootstrap standard error (the same
    one the dominance test uses) has no such floor.
    """
    from scipy.stats import norm

    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(difference) / standard_error
    p = 2.0 * norm.sf(z)
    p = np.where(standard_error > 0, p, np.where(difference == 0, 1.0, 0.0))
    return np.minimum(p, 1.0)


def _holm_pairs(pvalue: np.ndarray) -> np.ndarray:
    """Holm over the m(m-1)/2 unordered pairs of a symmetric p-value matrix (diagonal 1)."""
    m = pvalue.shape[0]
    iu, ju = np.triu_indices(m, k=1)
    out = np.ones((m, m))
    if iu.size:
        adjusted = holm(pvalue[iu, ju])
        out[iu, ju] = out[ju, iu] = adjusted
    return out


def pairwise_tests(rd: ReportData, options: ReportOptions, progress: Progress) -> Section:
    """Paired-bootstrap differences of mean score between every pair of models, with
    Holm-adjusted p-values: which differences are real."""
    from .. import resample

    level, alpha = options.confidence_level, options.alpha
    results: dict[str, dict[str, Any]] = {}
    for view in rd.views:
        seed = _bootstrap_seed(options, view)
        with progress.task(f"pairwise tests ({view.name})") as callback:
            with _collect_warnings() as caught:
                res = resample.pairwise_differences(
                    view.scores,
                    paired=True,
                    n_resamples=options.n_resamples,
                    confidence_level=level,
                    method="bca",
                    rng=seed,
                    progress=callback or False,
                )
        pvalue = normal_pvalues(np.asarray(res.difference), np.asarray(res.standard_error))
        adjusted = _holm_pairs(pvalue)
        significant = adjusted < alpha
        np.fill_diagonal(significant, False)
        mean = view.scores.mean(axis=1)
        order = np.argsort(-mean, kind="stable")
        best = int(order[0])
        tied = [view.models[j] for j in order[1:] if not significant[best, j]]
        results[view.name] = {
            "rng_seed": seed,
            "models": view.models,
            "order": [view.models[i] for i in order],
            "difference": res.difference,
            "ci_low": res.confidence_interval.low,
            "ci_high": res.confidence_interval.high,
            "standard_error": res.standard_error,
            "pvalue": pvalue,
            "pvalue_bootstrap": res.pvalue,
            "pvalue_holm": adjusted,
            "significant": significant,
            "n_pairs": len(view.models) * (len(view.models) - 1) // 2,
            "n_significant": int(significant.sum() // 2),
            "tied_with_best": tied,
            "warnings": caught,
        }

    overall = results[rd.overall.name]
    ranked = [overall["models"].index(m) for m in overall["order"]]
    names = overall["order"]
    diff = np.asarray(overall["difference"])[np.ix_(ranked, ranked)]
    sig = np.asarray(overall["significant"])[np.ix_(ranked, ranked)]
    rows, classes = [], []
    for k in range(len(ranked) - 1):
        i, j = ranked[k], ranked[k + 1]
        real = bool(overall["significant"][i, j])
        rows.append(
            [
                f"{k + 1}. {esc(names[k])}",
                f"{k + 2}. {esc(names[k + 1])}",
                fmt(overall["difference"][i, j]),
                fmt_ci(overall["ci_low"][i, j], overall["ci_high"][i, j]),
                fmt_p(overall["pvalue"][i, j]),
                fmt_p(overall["pvalue_holm"][i, j]),
                "real" if real else "could be chance",
            ]
        )
        classes.append("sig" if real else "")
    scenario_rows = [
        [
            esc(name),
            fmt(res["n_pairs"]),
            fmt(res["n_significant"]),
            esc(res["order"][0]),
            _list(res["tied_with_best"], 4) or "none",
        ]
        for name, res in results.items()
    ]
    parts = [
        paragraph(
            f"For every pair of models, the difference of their mean <code>{esc(rd.metric_name)}"
            f"</code> on the same items, with a {level:.0%} paired-bootstrap interval (BCa) "
            "and a two-sided p-value from its bootstrap standard error (normal approximation: "
            "a resampling p-value cannot fall below 1/(resamples + 1), too coarse once "
            "corrected for hundreds of pairs). A difference is called <b>real</b> when its "
            f"Holm-adjusted p-value (over all pairs of a scenario) is below {alpha:g}."
        ),
        table(
            [
                "scenario",
                "pairs",
                "real differences",
                "best model",
                "not distinguishable from the best",
            ],
            scenario_rows,
            numeric=[False, True, True, False, False],
        ),
        f"<h3>Neighbours in the leaderboard ({esc(rd.overall.name)})</h3>",
        table(
            ["model", "next model", "difference", f"{level:.0%} CI", "p", "Holm p", "verdict"],
            rows,
            numeric=[False, False, True, True, True, True, False],
            row_classes=classes,
        ),
        figure(
            plots.to_img(
                plots.pairwise_heatmap(names, diff, sig, f"{rd.overall.name}: row minus column"),
                "pairwise differences",
            ),
            "Difference of mean score, row model minus column model, in leaderboard order. "
            "Grey cells: not significant after Holm's correction (could be chance).",
        ),
    ]
    tied = overall["tied_with_best"]
    summary = [
        f"{overall['n_significant']} of the {overall['n_pairs']} model pairs differ for real on "
        f"{esc(rd.overall.name)} (paired bootstrap, Holm-corrected at {alpha:g}); "
        + (
            f"the best model cannot be told apart from {_list(tied, 4)}."
            if tied
            else "the best model is significantly better than every other."
        )
    ]
    return Section(
        key="pairwise",
        title="Pairwise tests",
        html="".join(parts),
        data={
            "confidence_level": level,
            "alpha": alpha,
            "correction": "holm",
            "n_resamples": options.n_resamples,
            "scenarios": results,
        },
        summary=summary,
    )


# ============================================================================ risk-aware ranking


def risk_aware(rd: ReportData, options: ReportOptions, progress: Progress) -> Section:
    """Relative first- and second-order almost stochastic dominance over the per-item score
    distributions, with Holm-corrected decisions and the Borda ranking."""
    from .. import dominance

    source = rd.risk if rd.risk is not None else rd.data
    metric = metric_name(source)
    view = complete_view(source, ALL_ITEMS, np.arange(source.shape[1]))
    results: dict[str, dict[str, Any]] = {}
    fitted = {}
    for order in (1, 2):
        seed = derive_seed(options.seed, "dominance", str(order))
        with progress.task(f"risk-aware ranking: order {order}") as callback:
            with _collect_warnings() as caught:
                res = dominance.compare(
                    view.scores,
                    order=order,
                    alpha=options.alpha,
                    correction="holm",
                    n_resamples=options.dominance_resamples,
                    paired=True,
                    rng=seed,
                    model_names=view.models,
                    progress=callback or False,
                )
        fitted[order] = res
        results[str(order)] = {
            "rng_seed": seed,
            "models": view.models,
            "eps": res.eps,
            "eps_i": res.eps_i,
            "pvalue_adjusted": res.pvalue_adjusted,
            "reject": res.reject,
            "borda": res.borda,
            "ranking": res.ranking.to_dict(orient="records"),
            "n_dominance_relations": int(np.asarray(res.reject).sum()),
            "warnings": caught,
        }

    first, second = fitted[1], fitted[2]
    mean = view.scores.mean(axis=1)
    by_mean = {view.models[i]: r for r, i in enumerate(np.argsort(-mean, kind="stable"), start=1)}
    rank1 = first.ranking.set_index("model")
    rank2 = second.ranking.set_index("model")
    rows = []
    for name in first.ranking["model"]:
        i = view.models.index(name)
        rows.append(
            [
                esc(name),
                fmt(mean[i]),
                fmt(by_mean[name]),
                fmt(int(rank1.loc[name, "rank"])),
                fmt(int(rank1.loc[name, "borda"])),
                fmt(first.eps_i[i]),
                fmt(int(rank2.loc[name, "rank"])),
                fmt(int(rank2.loc[name, "borda"])),
                fmt(second.eps_i[i]),
            ]
        )
    binary = bool(np.isin(view.scores, (0.0, 1.0)).all())
    parts = [
        paragraph(
            f"Beyond the mean: the whole distribution of each model's per-item <code>"
            f"{esc(metric)}</code> over {view.n_items} items. Model A <b>first-order</b> "
            "dominates B when A's quantile function lies above B's (better at every level of "
            "the score distribution); <b>second-order</b> dominance compares the integrated "
            "quantiles, which weighs the worst items most (risk-averse). The violation ratio "
            "&epsilon; measures how far a pair is from dominance (0 = A dominates B outright). "
            "Each model's one-vs-all ratio &epsilon;<sub>i</sub> (lower = more dominant) is "
            "compared between every pair by a paired bootstrap; a <b>win</b> is a significant "
            f"dominance (Holm-corrected over all pairs at {options.alpha:g}), and models are "
            "ranked by their wins (Borda count), ties broken by &epsilon;<sub>i</sub>."
        ),
    ]
    if binary:
        parts.append(
            note(
                "The scores are 0/1, so every model's distribution is two-valued and "
                "first-order dominance reduces to comparing accuracies; a continuous metric "
                "(--risk-metric) shows more."
            )
        )
    parts += [
        table(
            [
                "model",
                f"mean {metric}",
                "rank by mean",
                "rank (1st order)",
                "wins",
                "ε_i",
                "rank (2nd order)",
                "wins",
                "ε_i",
            ],
            rows,
            numeric=[False] + [True] * 8,
        ),
        figure(
            plots.to_img(
                plots.dominance_bars(
                    list(first.ranking["model"]),
                    [
                        first.eps_i[[view.models.index(n) for n in first.ranking["model"]]],
                        second.eps_i[[view.models.index(n) for n in first.ranking["model"]]],
                    ],
                    ["first order", "second order"],
                    "one-vs-all violation ratio ε_i (lower = more dominant)",
                ),
                "violation ratios",
            ),
            "One-vs-all violation ratio of each model, in first-order ranking order.",
        ),
    ]
    leader1, leader2 = first.ranking["model"].iloc[0], second.ranking["model"].iloc[0]
    mean_leader = view.models[int(np.argmax(mean))]
    agree = (
        "the same model that has the best mean"
        if leader1 == leader2 == mean_leader
        else f"the best mean belongs to {esc(mean_leader)}"
    )
    summary = [
        f"Risk-aware ranking on <code>{esc(metric)}</code>: first-order dominance ranks "
        f"<b>{esc(leader1)}</b> first ({int(first.borda[view.models.index(leader1)])} significant "
        f"wins of {len(view.models) - 1}), second-order (risk-averse) ranks <b>{esc(leader2)}</b> "
        f"first ({int(second.borda[view.models.index(leader2)])} wins); {agree}."
    ]
    return Section(
        key="risk",
        title="Risk-aware ranking",
        html="".join(parts),
        data={
            "metric": metric,
            "n_items": view.n_items,
            "alpha": options.alpha,
            "correction": "holm",
            "n_resamples": options.dominance_resamples,
            "orders": results,
        },
        summary=summary,
    )


# ============================================================================ IRT item analysis

_SHOW_ITEMS = 15


def item_analysis(rd: ReportData, options: ReportOptions, progress: Progress) -> Section:
    """A 2PL IRT model of the 0/1 scores: item difficulty and discrimination, and the items
    that look broken (answered by every model or by none; negative discrimination)."""
    from ..irt import IRT

    key, title = "items", "Item analysis (IRT)"
    data = rd.data
    observed = ~np.isnan(data.scores)
    values = data.scores[observed]
    if not np.isin(values, (0.0, 1.0)).all():
        reason = (
            f"the IRT item analysis needs 0/1 scores; <code>{esc(rd.metric_name)}</code> has "
            "other values (choose a 0/1 metric with --metric)"
        )
        return _skipped(key, title, reason)
    with progress.task("IRT: fitting a 2PL model") as callback, _collect_warnings() as caught:
        model = IRT(model="2pl").fit(data.scores, progress=callback)
    a = model.a_[:, 0]
    b = model.b_
    n_obs = observed.sum(axis=0)
    n_correct = np.where(observed, data.scores, 0.0).sum(axis=0)
    share = np.divide(n_correct, n_obs, out=np.full(n_obs.shape, np.nan), where=n_obs > 0)
    all_right = (n_obs > 0) & (n_correct == n_obs)
    all_wrong = (n_obs > 0) & (n_correct == 0)
    negative = (a < 0) & ~all_right & ~all_wrong
    assert model.theta_ is not None  # fitted just above
    ability = model.theta_[:, 0]
    # A negative estimate is flagged only when the rank test says it is not noise.
    reversed_test = negative_discrimination_test(data.scores, ability, options.alpha)
    significant = negative & reversed_test.significant
    # How the stronger half of the models does on each item against the weaker half.
    strong = ability >= np.median(ability)
    gap = _mean_where(data.scores, observed, strong) - _mean_where(data.scores, observed, ~strong)

    groups = (
        np.asarray(data.scenario, dtype=object)
        if data.scenario is not None
        else np.full(data.shape[1], "all items", dtype=object)
    )
    flagged = all_right | all_wrong | significant
    parts = [
        paragraph(
            f"A two-parameter logistic IRT model, P(model <i>l</i> answers item <i>i</i>) = "
            f"&sigma;(<i>a<sub>i</sub></i>&theta;<sub><i>l</i></sub> &minus; <i>b<sub>i</sub></i>), "
            f"fitted by penalised joint maximum likelihood to all {data.shape[0]} models and "
            f"{data.shape[1]} items ({model.n_iter_} iterations"
            + ("" if model.converged_ else ", <b>not converged</b>")
            + "). The discrimination <i>a</i> says how sharply an item separates strong from weak "
            "models; <i>b</i> is its difficulty."
        ),
        figure(
            plots.to_img(
                plots.irt_scatter(b, a, groups, flagged), "item difficulty against discrimination"
            ),
            "Each point is an item. Items below the dashed line have negative discrimination: "
            "stronger models get them wrong more often than weaker ones. Circled: flagged items.",
        ),
        _flag_table(
            "Answered correctly by every model",
            all_right,
            "cannot separate the models (too easy, or a scoring bug that accepts everything)",
            data,
        ),
        _flag_table(
            "Answered correctly by no model",
            all_wrong,
            "cannot separate the models (too hard, or a wrong reference answer)",
            data,
        ),
        _flag_table(
            "Significantly negative discrimination",
            significant,
            "stronger models fail them more often than weaker ones, beyond chance: check the "
            "reference answer and the item text",
            data,
            {
                "share correct": share,
                "strong minus weak models": gap,
                "discrimination a": a,
                "p (BH)": reversed_test.pvalue_bh,
            },
            order=np.argsort(np.nan_to_num(reversed_test.pvalue, nan=2.0), kind="stable"),
        ),
        paragraph(_negative_discrimination_note(negative, significant, reversed_test, options)),
    ]
    if caught:
        parts.append(note("; ".join(esc(w) for w in caught)))
    n_items = data.shape[1]
    summary = [
        f"Item analysis: {int(all_right.sum())} of {n_items} items were answered correctly by "
        f"every model and {int(all_wrong.sum())} by none, so they do not separate models; "
        f"{int(negative.sum())} have a negative estimated IRT discrimination, and "
        f"{int(significant.sum())} of these significantly so (stronger models fail them more "
        f"often beyond chance, {options.alpha:.0%} false discovery rate): those are worth "
        "checking for wrong reference answers."
        + (
            ""
            if data.shape[0] >= reversed_test.min_models
            else f" With {data.shape[0]} models few items can reach significance "
            f"(a lone item needs about {reversed_test.min_models} models)."
        )
    ]
    ids = np.asarray(data.items, dtype=object)
    return Section(
        key=key,
        title=title,
        html="".join(parts),
        data={
            "model": "2pl",
            "n_iter": model.n_iter_,
            "converged": model.converged_,
            "loglik": model.loglik_,
            "ability": dict(zip(data.models, ability.tolist(), strict=True)),
            "items": list(data.items),
            "discrimination": a,
            "difficulty": b,
            "share_correct": share,
            "strong_minus_weak": gap,
            "answered_by_all": ids[all_right].tolist(),
            "answered_by_none": ids[all_wrong].tolist(),
            "negative_estimate": ids[negative][np.argsort(a[negative], kind="stable")].tolist(),
            "negative_discrimination": ids[significant][
                np.argsort(reversed_test.pvalue[significant], kind="stable")
            ].tolist(),
            "negative_discrimination_test": {
                "method": "exact one-sided rank-sum test of correctness against IRT ability, "
                "Benjamini-Hochberg over the tested items",
                "alpha": options.alpha,
                "n_tested": reversed_test.n_tested,
                "pvalue": reversed_test.pvalue,
                "pvalue_bh": reversed_test.pvalue_bh,
                "min_models_for_a_lone_item": reversed_test.min_models,
            },
            "warnings": caught,
        },
        summary=summary,
    )


def _negative_discrimination_note(
    negative: np.ndarray,
    significant: np.ndarray,
    test: NegativeDiscriminationTest,
    options: ReportOptions,
) -> str:
    return (
        f"{int(negative.sum())} items have a negative estimated discrimination; with few models "
        "most such signs are noise. An item is flagged only when the models answering it "
        "correctly are significantly weaker than those that do not (exact one-sided rank-sum "
        "test of correctness against the fitted ability, Benjamini&ndash;Hochberg over the "
        f"{test.n_tested} items answered by some but not all models, false discovery rate "
        f"{options.alpha:.0%}): {int(significant.sum())} items. A perfectly reversed item "
        f"could be flagged on its own only with at least {test.min_models} models."
    )


def _mean_where(scores: np.ndarray, observed: np.ndarray, rows: np.ndarray) -> np.ndarray:
    count = observed[rows].sum(axis=0)
    total = np.where(observed[rows], scores[rows], 0.0).sum(axis=0)
    return np.divide(total, count, out=np.full(count.shape, np.nan), where=count > 0)


def _flag_table(
    heading: str,
    mask: np.ndarray,
    meaning: str,
    data: Any,
    numbers: dict[str, np.ndarray] | None = None,
    order: np.ndarray | None = None,
) -> str:
    """The first flagged items (in ``order``) with their labels and ``numbers`` columns."""
    numbers = numbers or {}
    index = np.flatnonzero(mask) if order is None else order[mask[order]]
    head = f"<h3>{esc(heading)}: {len(index)} items</h3>"
    if len(index) == 0:
        return head
    shown = index[:_SHOW_ITEMS]
    scen, sub = data.scenario, data.subscenario
    rows = [
        [
            f"<code>{esc(data.items[j])}</code>",
            esc(scen[j]) if scen is not None else "",
            esc(sub[j]) if sub is not None else "",
            *(fmt(values[j]) for values in numbers.values()),
        ]
        for j in shown
    ]
    more = (
        f" The first {len(shown)} are listed; all {len(index)} are in the JSON."
        if len(index) > len(shown)
        else ""
    )
    columns = ["item", "scenario", "sub-scenario", *numbers]
    return (
        head
        + paragraph(f"These items {meaning}.{more}")
        + table(columns, rows, numeric=[False] * 3 + [True] * len(numbers))
    )


# ============================================================================ tiny subset


def tiny_dims(n_models: int) -> tuple[int, ...]:
    """Candidate IRT dimensions for the subset: tinyBenchmarks' (1, 2, 5) from 100 models up;
    with fewer, a 5-dimensional ability per model is barely identified (the fold-0 validation
    then picks it by chance) and its fits cost ten times more, so (1, 2)."""
    return (1, 2, 5) if n_models >= 100 else (1, 2)


def tiny_subset(rd: ReportData, options: ReportOptions, progress: Progress) -> Section:
    """tinyBenchmarks: a small anchor-item subset per scenario and the cross-validated error
    of the score it estimates for a model that is run on the subset only."""
    from ..tiny import TinyBenchmark

    key, title = "subset", "Recommended small item subset"
    data = rd.data
    if data.shape[0] < 4:
        return _skipped(
            key, title, "the subset is cross-validated over models: it needs at least 4"
        )
    values = data.scores[~np.isnan(data.scores)]
    if values.min() < 0 or values.max() > 1:
        return _skipped(key, title, "the subset's IRT model needs scores in [0, 1]")
    labels = (
        np.asarray(data.scenario, dtype=object)
        if data.scenario is not None
        else np.full(data.shape[1], ALL_ITEMS, dtype=object)
    )
    sizes = {s: int((labels == s).sum()) for s in dict.fromkeys(labels.tolist())}
    n_anchors = min(options.tiny_items, min(sizes.values()) - 1)
    if n_anchors < 2:
        return _skipped(key, title, "a scenario has fewer than 3 items: too few to subsample")
    seed = derive_seed(options.seed, "tiny")
    dims = tiny_dims(data.shape[0])
    bench = TinyBenchmark(n_anchors=n_anchors, method="irt", dims=dims, random_state=seed)
    with progress.messages("tinyBenchmarks: anchors and cross-validation") as say:
        with _collect_warnings() as caught:
            bench.fit(data, scenario=labels, progress=say)
    scenarios = list(bench.scenarios_)
    errors = {s: bench.cv_error_[s] for s in scenarios}
    estimator = bench.estimator
    rows = [
        [
            esc(s),
            fmt(sizes[s]),
            fmt(len(bench.anchors_[s])),
            fmt(errors[s][estimator]),
            fmt(errors[s]["pirt"]),
            fmt(errors[s]["naive"]),
        ]
        for s in scenarios
    ]
    total = sum(len(bench.anchors_[s]) for s in scenarios)
    mean_error = float(np.mean([errors[s][estimator] for s in scenarios]))
    anchor_lists = "".join(
        f"<details><summary>{esc(s)}: the {len(bench.anchors_[s])} items</summary><p>"
        + ", ".join(f"<code>{esc(i)}</code>" for i in bench.anchors_[s])
        + "</p></details>"
        for s in scenarios
    )
    parts = [
        paragraph(
            f"tinyBenchmarks: {n_anchors} anchor items per scenario, chosen by clustering the "
            f"items' IRT embeddings (IRT dimension {bench.dims_} of the candidates "
            f"{', '.join(map(str, dims))}, chosen on held-out models). A "
            "new model run on the anchors only gets its scenario scores estimated by the "
            f"<b>{estimator}</b> estimator (naive = weighted anchor mean; p-IRT and gp-IRT add "
            "the IRT prediction for the items not run). The errors are mean absolute errors of "
            f"the estimated score, cross-validated over held-out models ({bench.cv_folds} folds)."
        ),
        table(
            [
                "scenario",
                "items",
                "subset",
                f"CV error ({estimator})",
                "CV error (pirt)",
                "CV error (naive)",
            ],
            rows,
            numeric=[False, True, True, True, True, True],
        ),
        figure(
            plots.to_img(
                plots.tiny_errors(
                    scenarios,
                    [len(bench.anchors_[s]) for s in scenarios],
                    [errors[s][estimator] for s in scenarios],
                    [sizes[s] for s in scenarios],
                ),
                "cross-validated error of the subset",
            ),
            "Cross-validated mean absolute error of the score estimated from the subset, per "
            "scenario.",
        ),
        anchor_lists,
    ]
    if n_anchors < options.tiny_items:
        parts.insert(
            1,
            note(
                f"Asked for {options.tiny_items} items per scenario; the smallest scenario has "
                f"{min(sizes.values())}, so the subset keeps {n_anchors}."
            ),
        )
    if caught:
        parts.append(note("; ".join(esc(w) for w in caught)))
    summary = [
        f"Small subset: running {total} of {data.shape[1]} items ({n_anchors} per scenario, "
        f"{total / data.shape[1]:.1%} of the cost) estimates a model's scenario scores with a "
        f"cross-validated mean absolute error of {mean_error:.3f} on average ({estimator})."
    ]
    return Section(
        key=key,
        title=title,
        html="".join(parts),
        data={
            "rng_seed": seed,
            "n_anchors": n_anchors,
            "method": bench.method,
            "estimator": estimator,
            "irt_dims": bench.dims_,
            "irt_dims_candidates": list(dims),
            "scenarios": {
                s: {
                    "n_items": sizes[s],
                    "anchors": bench.anchors_[s],
                    "weights": bench.weights_[s],
                    "lambda": bench.lambda_[s],
                    "cv_error": errors[s],
                }
                for s in scenarios
            },
            "warnings": caught,
        },
        summary=summary,
    )


# ============================================================================ prompt templates

# Quantile levels (percent) of the distribution curve; the table shows five of them.
_PROMPT_CURVE = np.linspace(0.0, 100.0, 41)
_PROMPT_TABLE = (5.0, 25.0, 50.0, 75.0, 95.0)
# Parametric-bootstrap replicates: each refits every model, so fewer than the leaderboard's.
_PROMPT_MAX_RESAMPLES = 1000


def prompt_templates(rd: ReportData, options: ReportOptions, progress: Progress) -> Section:
    """PromptEval: each model's accuracy over the prompt templates, estimated from the
    (template, example) cells that were evaluated, as a distribution (quantiles with
    parametric-bootstrap confidence intervals) and the template most likely to be best."""
    from ..exceptions import InvalidArgumentError
    from ..prompts import PromptEval

    key, title = "prompts", "Score over prompt templates"
    pdata = rd.prompts
    if pdata is None:
        return _skipped(key, title, "the input has no prompt or template column")
    n_models, n_templates, n_examples = pdata.scores.shape
    if n_templates < 2:
        return _skipped(key, title, "there is one template: no distribution over templates")
    seed = derive_seed(options.seed, "prompts")
    n_resamples = min(options.n_resamples, _PROMPT_MAX_RESAMPLES)
    level = options.confidence_level
    pe = PromptEval(random_state=seed)
    with _collect_warnings() as caught:
        try:
            with progress.task("PromptEval: fitting the template model") as callback:
                pe.fit(pdata.scores, progress=callback or False)
        except InvalidArgumentError as exc:
            return _skipped(key, title, f"PromptEval cannot fit these scores ({exc})")
        with progress.task("PromptEval: quantile intervals") as callback:
            curve = pe.quantiles(
                _PROMPT_CURVE,
                confidence_level=level,
                n_resamples=n_resamples,
                progress=callback or False,
            )
        with progress.task("PromptEval: best template") as callback:
            best = pe.best_format(n_resamples=n_resamples, progress=callback or False)
    stat = np.atleast_2d(curve.statistic)
    ci = curve.confidence_interval
    low = np.atleast_2d(ci.low) if ci is not None else np.full_like(stat, np.nan)
    high = np.atleast_2d(ci.high) if ci is not None else np.full_like(stat, np.nan)
    accuracy = np.atleast_2d(pe.format_accuracy_)
    accuracy_se = np.atleast_2d(pe.format_accuracy_se_)
    n_evaluated = np.atleast_1d(pe.n_evaluated_)
    best_index = np.atleast_1d(best.best)
    prob_best = np.atleast_2d(best.prob_best)
    pick = [int(np.flatnonzero(np.isclose(_PROMPT_CURVE, q))[0]) for q in _PROMPT_TABLE]
    per_model: dict[str, Any] = {}
    rows = []
    for m, name in enumerate(pdata.models):
        b = int(best_index[m])
        per_model[name] = {
            "n_evaluated": int(n_evaluated[m]),
            "pass_equivalents": float(n_evaluated[m] / n_examples),
            "quantiles": stat[m, pick],
            "quantiles_low": low[m, pick],
            "quantiles_high": high[m, pick],
            "curve": stat[m],
            "curve_low": low[m],
            "curve_high": high[m],
            "accuracy": accuracy[m],
            "accuracy_se": accuracy_se[m],
            "best_template": pdata.templates[b],
            "prob_best": prob_best[m],
            "converged": bool(np.atleast_1d(pe.converged_)[m]),
        }
        q = per_model[name]
        rows.append(
            [
                esc(name),
                f"{q['n_evaluated']} ({q['pass_equivalents']:.2f})",
                *(
                    f"{fmt(q['quantiles'][i])} "
                    + fmt_ci(q["quantiles_low"][i], q["quantiles_high"][i])
                    for i in (0, 2, 4)
                ),
                fmt(q["quantiles"][4] - q["quantiles"][0]),
                f"<code>{esc(pdata.templates[b])}</code> ({fmt(accuracy[m, b])}, "
                f"P(best) {_percent(float(prob_best[m, b]))})",
            ]
        )
    medians = {name: per_model[name]["quantiles"][2] for name in pdata.models}
    spreads = {
        name: per_model[name]["quantiles"][4] - per_model[name]["quantiles"][0]
        for name in pdata.models
    }
    widest = max(spreads, key=lambda name: spreads[name])
    top = max(medians, key=lambda name: medians[name])
    parts = [
        paragraph(
            f"PromptEval (Maia Polo et al., 2024): {n_templates} prompt templates &times; "
            f"{n_examples} examples, of which each model ran the listed cells (one pass over "
            "the examples = 1.00). A Rasch-type model P(correct) = &sigma;(template effect + "
            "example effect), fitted with a unit-variance prior, fills in the cells not run; "
            "each template's accuracy is the mean of the observed and predicted cells. The "
            "quantiles of that accuracy over templates have "
            f"{level:.0%} parametric-bootstrap intervals ({n_resamples} replicates, which "
            "include the error of the cells not run); the best template's probability of "
            "being best comes from the same replicates."
        ),
        table(
            [
                "model",
                "cells run (passes)",
                "5th percentile",
                "median",
                "95th percentile",
                "spread (95th − 5th)",
                "most likely best template",
            ],
            rows,
            numeric=[False, True, True, True, True, True, False],
        ),
        figure(
            plots.to_img(
                plots.prompt_distributions(
                    pdata.models,
                    _PROMPT_CURVE,
                    stat,
                    None if ci is None else low,
                    None if ci is None else high,
                    level,
                ),
                "distribution of the accuracy over prompt templates",
            ),
            "The estimated distribution of each model's accuracy over the templates (the share "
            f"of templates below each accuracy) with the {level:.0%} band of its quantiles.",
        ),
    ]
    if caught:
        parts.append(note("; ".join(esc(w) for w in caught)))
    summary = [
        f"Prompt templates: across {n_templates} templates the accuracy of "
        f"<b>{esc(widest)}</b> moves the most (5th to 95th percentile "
        f"{fmt(per_model[widest]['quantiles'][0])} to "
        f"{fmt(per_model[widest]['quantiles'][4])}); <b>{esc(top)}</b> has the highest "
        f"median accuracy over templates ({fmt(medians[top])})."
    ]
    return Section(
        key=key,
        title=title,
        html="".join(parts),
        data={
            "rng_seed": seed,
            "method": "map",
            "prior_sd": pe.prior_sd,
            "n_templates": n_templates,
            "n_examples": n_examples,
            "templates": list(pdata.templates),
            "quantile_levels": list(_PROMPT_TABLE),
            "curve_levels": _PROMPT_CURVE,
            "confidence_level": level,
            "n_resamples": n_resamples,
            "models": per_model,
            "warnings": caught,
        },
        summary=summary,
    )


# ============================================================================ helpers


def _skipped(key: str, title: str, reason: str) -> Section:
    return Section(
        key=key,
        title=title,
        html=note(f"Not computed: {reason}."),
        data={"skipped": plain_text(reason)},
        summary=[],
    )


@contextlib.contextmanager
def _collect_warnings() -> Iterator[list[str]]:
    """Collect the library's warnings (e.g. non-convergence) to show them in the report
    rather than on the terminal."""
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        yield caught
    caught.extend(dict.fromkeys(str(r.message) for r in records))
