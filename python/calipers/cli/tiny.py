"""``calipers tiny``: fit a tiny benchmark and estimate new models from their anchor items."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..exceptions import InvalidArgumentError

RESULTS_HELP = """\
RESULTS is a long table (.csv/.tsv/.parquet with columns model, item, score[, scenario,
subscenario, metric]), a wide matrix (one row per model, one column per item) or an
lm-evaluation-harness --log_samples output folder. Scores are 0/1 or numbers in [0, 1]."""

FIT_EPILOG = """\
examples:
  calipers tiny fit results.csv --out tiny.json                  100 anchors per scenario
  calipers tiny fit lm-eval-out/ --n-anchors 50 --method correctness --out tiny.json
  calipers tiny fit results.csv --anchors-csv anchors.csv --out tiny.json

The JSON file holds the anchor item ids and weights, the IRT item parameters, the gp-IRT
lambda and the cross-validated error of each estimator per scenario."""

ESTIMATE_EPILOG = """\
examples:
  calipers tiny estimate tiny.json new-model-anchors.csv        prints a table
  calipers tiny estimate tiny.json lm-eval-out/new-model/ --json estimates.json

RESULTS must hold every anchor item of the fitted tiny benchmark for each model (other items
are ignored); list them with `calipers tiny anchors tiny.json`."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "tiny",
        help="efficient evaluation: anchors and full-score estimates (tinyBenchmarks)",
        description="Choose a few anchor items per scenario and estimate full-benchmark "
        "scores of new models from their answers to those items alone.",
    )
    sub = parser.add_subparsers(title="tiny commands", metavar="COMMAND")
    _add_fit(sub)
    _add_estimate(sub)
    _add_anchors(sub)
    parser.set_defaults(handler=lambda args: (parser.print_help(), 2)[1])


def _add_fit(sub: Any) -> None:
    p = sub.add_parser(
        "fit",
        help="fit anchors, IRT and estimators on training models' full results",
        description="Fit a tiny benchmark on training models' full results.\n\n" + RESULTS_HELP,
        epilog=FIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("results", metavar="RESULTS", help="training results (see above)")
    p.add_argument("--out", metavar="FILE", required=True, help="where to save the JSON model")
    p.add_argument(
        "--n-anchors", type=int, default=100, help="anchor items per scenario (default: 100)"
    )
    p.add_argument(
        "--method",
        choices=["irt", "correctness", "random", "fisher"],
        default="irt",
        help="anchor selection: k-means on IRT item embeddings (default), on correctness "
        "vectors, stratified random, or D-optimal Fisher information",
    )
    p.add_argument(
        "--dims",
        default="1,2,5",
        help="candidate IRT dimensions, comma-separated (default: 1,2,5)",
    )
    p.add_argument("--cv-folds", type=int, default=5, help="cross-validation folds (default: 5)")
    p.add_argument("--metric", help="metric to use when RESULTS holds several")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--anchors-csv", metavar="FILE", help="also write the anchors as CSV")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(handler=_fit)


def _add_estimate(sub: Any) -> None:
    p = sub.add_parser(
        "estimate",
        help="estimate new models' scenario scores from their anchor results",
        description="Estimate scenario scores of new models from a fitted tiny benchmark.\n\n"
        + RESULTS_HELP,
        epilog=ESTIMATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="JSON file written by `calipers tiny fit`")
    p.add_argument("results", metavar="RESULTS", help="the new models' anchor results")
    p.add_argument("--metric", help="metric to use when RESULTS holds several")
    p.add_argument("--json", metavar="FILE", help="also write the estimates as JSON")
    p.set_defaults(handler=_estimate)


def _add_anchors(sub: Any) -> None:
    p = sub.add_parser("anchors", help="list the anchor items of a fitted tiny benchmark")
    p.add_argument("model", metavar="MODEL", help="JSON file written by `calipers tiny fit`")
    p.set_defaults(handler=_anchors)


def _read(path: str, metric: str | None) -> Any:
    from ..io import read_results

    kwargs = {} if metric is None else {"metric": metric}
    return read_results(path, **kwargs)


def _dims(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.split(",") if d.strip())
    except ValueError:
        raise InvalidArgumentError(f"--dims: {text!r} is not a comma-separated list") from None
    if not dims:
        raise InvalidArgumentError("--dims: give at least one dimension, e.g. --dims 1,2")
    return dims


def _fit(args: argparse.Namespace) -> int:
    from ..io import write_item_subset
    from ..tiny import TinyBenchmark

    say = (lambda msg: None) if args.quiet else _stderr
    say(f"reading {args.results}")
    data = _read(args.results, args.metric)
    say(f"{data.shape[0]} models x {data.shape[1]} items, {len(data.scenarios) or 1} scenario(s)")
    tb = TinyBenchmark(
        n_anchors=args.n_anchors,
        method=args.method,
        dims=_dims(args.dims),
        cv_folds=args.cv_folds,
        random_state=args.seed,
    )
    tb.fit(data, progress=say)
    tb.save(args.out)
    if args.anchors_csv:
        items = tb.anchor_items()
        weights = [w for s in tb.scenarios_ for w in tb.weights_[s]]
        scen = [s for s in tb.scenarios_ for _ in tb.anchors_[s]]
        write_item_subset(args.anchors_csv, items, weights=weights, scenario=scen)
    print(f"saved {args.out}: IRT dims={tb.dims_}, {len(tb.anchor_items())} anchor items")
    print(
        f"{'scenario':<24} {'anchors':>7} {'lambda':>7} {'cv MAE naive':>13} {'p-IRT':>7} {'gp-IRT':>7}"
    )
    for s in tb.scenarios_:
        e = tb.cv_error_[s]
        print(
            f"{s:<24} {len(tb.anchors_[s]):>7} {tb.lambda_[s]:>7.3f} {e['naive']:>13.4f} "
            f"{e['pirt']:>7.4f} {e['gpirt']:>7.4f}"
        )
    return 0


def _estimate(args: argparse.Namespace) -> int:
    from ..tiny import TinyBenchmark

    tb = TinyBenchmark.load(args.model)
    data = _read(args.results, args.metric)
    est = tb.estimate(data)
    out = {
        model: {
            s: {
                "estimate": float(est.estimate[r, k]),
                "naive": float(est.naive[r, k]),
                "pirt": float(est.pirt[r, k]),
                "gpirt": float(est.gpirt[r, k]),
                "cv_error": float(est.cv_error[k]),
            }
            for k, s in enumerate(est.scenarios)
        }
        for r, model in enumerate(data.models)
    }
    print(f"{'model':<32} {'scenario':<24} {'estimate':>9} {'+/- cv MAE':>11}")
    for model, per in out.items():
        for s, v in per.items():
            print(f"{model:<32} {s:<24} {v['estimate']:>9.4f} {v['cv_error']:>11.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


def _anchors(args: argparse.Namespace) -> int:
    from ..tiny import TinyBenchmark

    tb = TinyBenchmark.load(args.model)
    for s in tb.scenarios_:
        for item, w in zip(tb.anchors_[s], tb.weights_[s], strict=True):
            print(f"{s}\t{item}\t{w:.6g}")
    return 0


def _stderr(msg: str) -> None:
    print(f"calipers tiny: {msg}", file=sys.stderr, flush=True)
