"""``calipers judge fit``: Bridge, an LLM judge against human raters, from two tables."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..exceptions import InvalidArgumentError

FIT_EPILOG = """\
HUMAN_LABELS: CSV/TSV with one row per human rating: columns `item` and `label` (ordered
values, e.g. 1..5; pairwise: -1 = B better, 0 = tie, 1 = A better).
JUDGE_SCORES: CSV/TSV with one row per item: columns `item`, `score` (the judge latent: a
judge score, or the logit-trick latent of calipers.judge.judge_latent) and the covariates.

examples:
  calipers judge fit humans.csv judge.csv --covariates log_length,human_written
  calipers judge fit prefs.csv judge.csv --covariates dlen --kind pairwise --json out.json

Both tables are read with calipers.io.read_table (CSV, TSV or parquet; item names are matched
as text)."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "judge",
        help="LLM judges against humans (Bridge)",
        description="Model how an LLM judge departs from human raters (Bridge).",
    )
    sub = parser.add_subparsers(title="judge commands", metavar="COMMAND")
    p = sub.add_parser(
        "fit",
        help="fit Bridge and test the judge's discrepancies from humans",
        description="Regress human labels on the judge latent and item covariates; report "
        "the judge's scale (beta), its discrepancies (gamma) and their tests.",
        epilog=FIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("human_labels", metavar="HUMAN_LABELS", help="human ratings (see below)")
    p.add_argument("judge_scores", metavar="JUDGE_SCORES", help="judge scores (see below)")
    p.add_argument(
        "--covariates", default="", help="covariate columns of JUDGE_SCORES, comma-separated"
    )
    p.add_argument("--kind", choices=["absolute", "pairwise"], default="absolute")
    p.add_argument(
        "--thresholds",
        choices=["free", "symmetric"],
        default=None,
        help="default: free (absolute), symmetric (pairwise)",
    )
    p.add_argument("--cov-type", choices=["cluster", "model"], default="cluster")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument(
        "--html",
        metavar="FILE",
        help="also write a report page (HTML, one file): the tables and a plot of the judge "
        "latent against the humans' mean label, coloured by the covariate with the largest "
        "|z| (needs matplotlib)",
    )
    p.set_defaults(handler=_fit)
    parser.set_defaults(handler=lambda args: (parser.print_help(), 2)[1])


def _read(path: str, columns: list[str], name: str):
    from .. import io

    return io.read_table(path, argument=name, columns=columns)


def _numbers(column: Any, name: str, fix: str) -> np.ndarray:
    from .._validation import numeric_column

    return numeric_column(column.to_numpy(dtype=object), name, fix)


def _fit(args: argparse.Namespace) -> int:
    from ..judge import Bridge

    covariates = [c.strip() for c in args.covariates.split(",") if c.strip()]
    humans = _read(args.human_labels, ["item", "label"], "HUMAN_LABELS")
    judge = _read(args.judge_scores, ["item", "score", *covariates], "JUDGE_SCORES")
    # numbers checked per table, so that an error gives the row of that file
    humans["label"] = _numbers(
        humans["label"],
        "HUMAN_LABELS: column `label`",
        "labels are ordered numbers (e.g. 1..5; pairwise -1, 0, 1): recode text labels",
    )
    for column in ["score", *covariates]:
        judge[column] = _numbers(
            judge[column], f"JUDGE_SCORES: column `{column}`", "scores and covariates are numbers"
        )
    if judge["item"].duplicated().any():
        raise InvalidArgumentError("JUDGE_SCORES: has an item twice; give one row per item")
    rows = humans.merge(judge, on="item", how="inner")
    if rows.empty:
        raise InvalidArgumentError("HUMAN_LABELS and JUDGE_SCORES share no item ids")
    thresholds: Literal["free", "symmetric"] = args.thresholds or (
        "symmetric" if args.kind == "pairwise" else "free"
    )
    model = Bridge(kind=args.kind, thresholds=thresholds, cov_type=args.cov_type)
    X = rows[covariates].to_numpy(dtype=float) if covariates else None
    model.fit(
        rows["label"].to_numpy(dtype=float),
        rows["score"].to_numpy(dtype=float),
        X,
        items=rows["item"].to_numpy(),
        feature_names=covariates or None,
    )
    summary = _summary(model, rows.shape[0])
    print(_format(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    if args.html:
        page = _html(summary, rows, covariates, args)
        Path(args.html).write_text(page, encoding="utf-8")
    return 0


def _html(summary: dict[str, Any], rows: Any, covariates: list[str], args: Any) -> str:
    """The fit as a one-file page in the style of ``calipers report``."""
    from .._optional import require

    require("matplotlib", "calipers judge fit --html")
    from ..report.html import esc, figure, fmt, fmt_p, page, table
    from ..report.plots import to_img

    s = summary
    scale = s["scale_test"]
    coef_rows = [["a (judge latent)", fmt(s["a"], 4), fmt(s["a_se"], 4), "", ""]]
    test = s.get("discrepancy_test")
    for k, c in enumerate(s["covariates"]):
        adjusted = fmt_p(test["pvalues_adjusted"][k]) if test else ""
        coef_rows.append(
            [
                esc(c["name"]),
                fmt(c["delta"], 4),
                fmt(c["delta_se"], 4),
                f"{fmt(c['gamma'], 4)} ({fmt(c['gamma_se'], 4)})",
                adjusted,
            ]
        )
    coefficients = table(
        ["term", "coefficient", "se", "judge shift gamma (se)", "Holm p"],
        coef_rows,
        numeric=[False, True, True, True, True],
        caption=f"Covariance: {esc(s['cov_type'])}. gamma > 0: the judge over-rewards the "
        "covariate at fixed human preference.",
    )
    summary_lines = [
        f"{s['n_ratings']} human ratings of {s['n_items']} items; labels {esc(s['classes'])}.",
        f"Judge scale beta = {fmt(s['beta'], 3)} (se {fmt(s['beta_se'], 3)}); "
        f"H0 beta = 1: p = {fmt_p(scale['pvalue'])}.",
    ]
    if test:
        summary_lines.append(
            f"Systematic discrepancy (H0 gamma = 0): Wald {fmt(test['wald_statistic'], 2)} "
            f"(p {fmt_p(test['wald_pvalue'])}), LR {fmt(test['lr_statistic'], 2)} "
            f"(p {fmt_p(test['lr_pvalue'])}) on {test['df']} df."
        )
    if "position_bias" in s:
        pb = s["position_bias"]
        summary_lines.append(f"Position bias c = {fmt(pb['beta'], 3)} (p {fmt_p(pb['pvalue'])}).")
    colour = None
    if test:
        colour = covariates[int(max(range(len(covariates)), key=lambda j: abs(test["z"][j])))]
    plot = figure(
        to_img(_latent_plot(rows, colour), "judge latent against the human mean label"),
        "Each point an item: the judge latent against the mean of its human labels"
        + (f", coloured by {esc(colour)} (the covariate with the largest |z|)." if colour else "."),
    )
    return page(
        "Bridge: the LLM judge against human raters",
        f"<code>calipers judge fit {esc(args.human_labels)} {esc(args.judge_scores)}</code>",
        summary_lines,
        [
            ("coefficients", "Coefficients and tests", coefficients),
            ("plot", "Judge vs humans", plot),
        ],
        "calipers.judge.Bridge (Maia Polo et al., NeurIPS 2025).",
    )


def _latent_plot(rows: Any, colour: str | None) -> Any:
    from matplotlib.figure import Figure

    per_item = rows.groupby("item", sort=False)
    items = per_item.agg(score=("score", "first"), label=("label", "mean"))
    fig = Figure(figsize=(6.0, 4.2))
    ax = fig.subplots()
    if colour is None:
        ax.scatter(items["score"], items["label"], s=10, color="#1f5f99", alpha=0.6)
    else:
        values = per_item[colour].first()
        points = ax.scatter(
            items["score"], items["label"], s=10, c=values, cmap="viridis", alpha=0.7
        )
        fig.colorbar(points, ax=ax, label=colour)
    ax.set_xlabel("judge latent")
    ax.set_ylabel("mean human label")
    return fig


def _summary(model: Any, n_rows: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "n_ratings": n_rows,
        "n_items": model.n_items_,
        "classes": model.classes_.tolist(),
        "thresholds": model.thresholds_.tolist(),
        "a": model.a_,
        "a_se": model.a_se_,
        "beta": model.beta_,
        "beta_se": model.beta_se_,
        "loglik": model.loglik_,
        "cov_type": model.cov_type,
        "scale_test": model.test_scale().to_dict(json_safe=True),
        "covariates": [
            {
                "name": n,
                "delta": float(d),
                "delta_se": float(s),
                "gamma": float(g),
                "gamma_se": float(gs),
            }
            for n, d, s, g, gs in zip(
                model.feature_names_,
                model.delta_,
                model.delta_se_,
                model.gamma_,
                model.gamma_se_,
                strict=True,
            )
        ],
    }
    if model.delta_.size:
        out["discrepancy_test"] = model.test_discrepancy().to_dict(json_safe=True)
    if model.kind == "pairwise" and model.thresholds == "symmetric":
        out["position_bias"] = model.test_position_bias().to_dict(json_safe=True)
    return out


def _format(s: dict[str, Any]) -> str:
    lines = [
        f"Bridge fit: {s['n_ratings']} ratings of {s['n_items']} items, labels {s['classes']}",
        f"  a (on the judge latent) = {s['a']:.4f} (se {s['a_se']:.4f}); "
        f"beta = {s['beta']:.4f} (se {s['beta_se']:.4f}); "
        f"H0 beta = 1: p = {s['scale_test']['pvalue']:.3g}",
    ]
    for c in s["covariates"]:
        lines.append(
            f"  {c['name']}: delta = {c['delta']:.4f} (z {c['delta'] / c['delta_se']:.2f}), "
            f"gamma = {c['gamma']:.4f} (se {c['gamma_se']:.4f})"
        )
    if "discrepancy_test" in s:
        t = s["discrepancy_test"]
        holm = ", ".join(
            f"{n} {p:.3g}" for n, p in zip(t["names"], t["pvalues_adjusted"], strict=True)
        )
        lines.append(
            f"  H0 gamma = 0: Wald {t['wald_statistic']:.2f} (p {t['wald_pvalue']:.3g}), "
            f"LR {t['lr_statistic']:.2f} (p {t['lr_pvalue']:.3g}) on {t['df']} df; Holm: {holm}"
        )
    if "position_bias" in s:
        pb = s["position_bias"]
        lines.append(
            f"  position bias c = {pb['beta']:.4f} (z {pb['statistic']:.2f}, p {pb['pvalue']:.3g})"
        )
    lines.append(f"  covariance: {s['cov_type']}; log-likelihood {s['loglik']:.2f}")
    return "\n".join(lines)


__all__ = ["register"]
