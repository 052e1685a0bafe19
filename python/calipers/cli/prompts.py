"""``calipers prompts estimate``: the distribution of accuracy over prompt templates (PromptEval)
from a long table of the (template, example) cells that were evaluated."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import numeric_columns
from ..exceptions import InvalidArgumentError

ESTIMATE_EPILOG = """\
TABLE: CSV/TSV with one row per evaluated cell: columns `template` (or `prompt`), `example`
(or `item`), `score` (0/1, or a fractional score in [0, 1]) and optionally `model` (several
models are fitted at once). Cells not listed were not evaluated.
--format-covariates: CSV/TSV with a `template` column and numeric covariate columns (e.g.
one-hot template features), one row per template.

examples:
  calipers prompts estimate cells.csv
  calipers prompts estimate cells.csv --format-covariates features.csv --quantiles 5,50,95
  calipers prompts estimate cells.csv --json out.json --resamples 2000 --seed 0

The tables are read with calipers.io.read_table (CSV, TSV or parquet; template, example and
model names are matched as text)."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "prompts",
        help="multi-prompt evaluation (PromptEval)",
        description="Estimate a model's accuracy over many prompt templates from a few "
        "evaluated (template, example) cells.",
    )
    sub = parser.add_subparsers(title="prompts commands", metavar="COMMAND")
    p = sub.add_parser(
        "estimate",
        help="quantiles of the accuracy over templates, with intervals, and the best template",
        description="Fit PromptEval to the evaluated cells and report the quantiles of the "
        "accuracy over templates (bootstrap intervals), each template's estimated accuracy "
        "and the probability that it is the best.",
        epilog=ESTIMATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("table", metavar="TABLE", help="evaluated cells (see below)")
    p.add_argument("--format-covariates", metavar="FILE", help="template covariates")
    p.add_argument("--quantiles", default="5,25,50,75,95", help="percent levels, comma-separated")
    p.add_argument("--prior-sd", type=float, default=1.0, help="prior standard deviation")
    p.add_argument("--confidence-level", type=float, default=0.95)
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap replicates (0: none)")
    p.add_argument("--seed", type=int, default=None, help="bootstrap seed")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.set_defaults(handler=_estimate)
    parser.set_defaults(handler=lambda args: (parser.print_help(), 2)[1])


def _read(path: str, name: str):
    from .. import io

    return io.read_table(path, argument=name)


def _covariates(path: str, templates: list[Any]) -> np.ndarray:
    frame = _read(path, "--format-covariates")
    if "template" not in frame.columns:
        raise InvalidArgumentError(f"--format-covariates: {path} has no `template` column")
    frame = frame.set_index("template")
    missing = [t for t in templates if t not in frame.index]
    if missing:
        raise InvalidArgumentError(
            f"--format-covariates: no row for template(s) {missing[:5]} of TABLE"
        )
    return numeric_columns(
        frame.loc[templates],
        "--format-covariates",
        "covariates are numbers (one-hot encode categorical template features)",
    )


def _estimate(args: argparse.Namespace) -> int:
    from ..io.tables import prompt_cells
    from ..prompts import PromptEval

    frame = _read(args.table, "TABLE")
    Y, models, templates, examples = prompt_cells(frame, args.table)
    X = _covariates(args.format_covariates, templates) if args.format_covariates else None
    try:
        q = [float(v) for v in args.quantiles.split(",") if v.strip()]
    except ValueError:
        raise InvalidArgumentError(
            f"--quantiles: {args.quantiles!r} is not a comma-separated list of numbers"
        ) from None
    pe = PromptEval(format_covariates=X, prior_sd=args.prior_sd, random_state=args.seed).fit(Y)
    res = pe.quantiles(q, confidence_level=args.confidence_level, n_resamples=args.resamples)
    best = pe.best_format(n_resamples=max(args.resamples, 1)) if args.resamples else None
    out: dict[str, Any] = {
        "n_templates": len(templates),
        "n_examples": len(examples),
        "quantile_levels": q,
        "confidence_level": args.confidence_level,
        "models": [],
    }
    for m, name in enumerate(models):
        entry = {
            "model": name,
            "n_evaluated": int(pe.n_evaluated_[m]),
            "quantiles": res.statistic[m].tolist(),
            "templates": [str(t) for t in templates],
            "accuracy": pe.format_accuracy_[m].tolist(),
            "accuracy_se": pe.format_accuracy_se_[m].tolist(),
        }
        if res.confidence_interval is not None:
            entry["quantiles_low"] = res.confidence_interval.low[m].tolist()
            entry["quantiles_high"] = res.confidence_interval.high[m].tolist()
        if best is not None:
            entry["best_template"] = str(templates[int(best.best[m])])
            entry["prob_best"] = best.prob_best[m].tolist()
        out["models"].append(entry)
    print(_format(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


def _format(out: dict[str, Any]) -> str:
    lines = [
        f"PromptEval: {out['n_templates']} templates x {out['n_examples']} examples; "
        f"quantiles of the accuracy over templates ({out['confidence_level']:.0%} intervals)"
    ]
    for e in out["models"]:
        cells = out["n_templates"] * out["n_examples"]
        lines.append(
            f"{e['model']}: {e['n_evaluated']} of {cells} cells evaluated "
            f"({e['n_evaluated'] / out['n_examples']:.2f} pass-equivalents)"
        )
        for i, lvl in enumerate(out["quantile_levels"]):
            ci = ""
            if "quantiles_low" in e:
                ci = f"  [{e['quantiles_low'][i]:.4f}, {e['quantiles_high'][i]:.4f}]"
            lines.append(f"  q{lvl:g}: {e['quantiles'][i]:.4f}{ci}")
        if "best_template" in e:
            k = e["templates"].index(e["best_template"])
            lines.append(
                f"  best template: {e['best_template']} (accuracy {e['accuracy'][k]:.4f}, "
                f"P(best) {e['prob_best'][k]:.2f})"
            )
    return "\n".join(lines)


__all__ = ["register"]
