"""``calipers route evaluate``: fit a cost-aware kNN router on part of a results table and
measure its accuracy-cost frontier on the rest, with paired bootstrap CIs (HTML + JSON)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import numeric_columns, seed_from_rng
from ..exceptions import InvalidArgumentError

EPILOG = """\
TABLE: evaluation results read by calipers.io (a long table model, item, score; a wide matrix
with one row per model; or an lm-evaluation-harness --log_samples folder). Scores in [0, 1].
--features: .npy (one row per item, in TABLE's item order), or CSV/TSV with an `item` column
and either a `text` column (TF-IDF + truncated SVD features are computed) or numeric columns.
--prices: CSV/TSV with columns `model` and `price` (mean cost of one query), or inline
`name=price,name=price`.

examples:
  calipers route evaluate results.csv --features prompts.csv --prices prices.csv --out route-out
  calipers route evaluate results.csv --features emb.npy --prices "small=0.1,large=1" --out r"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "route",
        help="cost-aware routing: kNN router, exact frontier, bootstrap CIs (CARROT)",
        description="Route each query to the model with the best predicted quality for its cost.",
    )
    sub = parser.add_subparsers(title="route commands", metavar="COMMAND")
    p = sub.add_parser(
        "evaluate",
        help="fit a router on a split of TABLE and report its accuracy-cost frontier",
        description="Fit CostAwareRouter (kNN, k by cross-validation) on a random part of the "
        "items, route the others along the exact mu-path, and compare its frontier with the "
        "single models, the zero router and the oracle (paired bootstrap CIs).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("table", metavar="TABLE")
    p.add_argument("--features", required=True, help="query features (see below)")
    p.add_argument("--prices", required=True, help="price of one query per model (see below)")
    p.add_argument("--test-fraction", type=float, default=0.5)
    p.add_argument("--metric", choices=["cosine", "euclidean"], default="cosine")
    p.add_argument(
        "--shrinkage",
        type=float,
        default=0.0,
        help="pseudo-count shrinking each model's kNN quality toward its mean (default 0)",
    )
    p.add_argument("--n-resamples", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="route-out", help="output folder (route.html, route.json)")
    p.set_defaults(handler=_evaluate)
    parser.set_defaults(handler=lambda args: (parser.print_help(), 2)[1])


def _read_frame(path: Path, name: str):
    from .. import io

    return io.read_table(path, argument=name)


def _features(spec: str, items: list[str], seed: int) -> np.ndarray:
    from ..route import text_features

    path = Path(spec)
    if path.suffix == ".npy":
        if not path.is_file():
            raise InvalidArgumentError(f"--features: no such file {spec}")
        try:
            x = np.load(path, allow_pickle=False)
        except ValueError as exc:  # an object array (pickled) or a file that is not .npy
            raise InvalidArgumentError(
                f"--features: {spec} is not a numeric .npy array ({exc}); save the features "
                "with np.save(path, np.asarray(x, dtype=float))"
            ) from None
        if x.ndim != 2 or x.shape[0] != len(items):
            raise InvalidArgumentError(
                f"--features: {spec} has shape {x.shape}; expected ({len(items)}, d), one row "
                "per item of TABLE"
            )
        return x
    frame = _read_frame(path, "--features")
    if "item" not in frame.columns:
        raise InvalidArgumentError(f"--features: {spec} lacks an `item` column")
    frame = frame.assign(item=frame["item"].astype(str)).set_index("item")
    missing = [i for i in items if i not in frame.index]
    if missing:
        raise InvalidArgumentError(
            f"--features: {len(missing)} item(s) of TABLE have no features, e.g. {missing[:3]}"
        )
    frame = frame.loc[items]
    if "text" in frame.columns:
        return text_features(frame["text"].astype(str).tolist(), random_state=seed)
    if frame.shape[1] == 0:
        raise InvalidArgumentError(
            f"--features: {spec} has only an `item` column; add numeric feature columns or a "
            "`text` column"
        )
    # every column is a feature: a non-numeric one is an error, not silently dropped
    return numeric_columns(
        frame,
        "--features",
        "feature columns are numbers (or give one `text` column instead)",
        source=spec,
    )


def _prices(spec: str, models: list[str]) -> np.ndarray:
    try:
        is_file = Path(spec).suffix in (".csv", ".tsv") or Path(spec).is_file()
    except OSError:  # e.g. a long inline list is not a valid file name
        is_file = False
    if is_file:
        frame = _read_frame(Path(spec), "--prices")
        if not {"model", "price"} <= set(frame.columns):
            raise InvalidArgumentError("--prices: the table needs columns `model` and `price`")
        names = frame["model"].astype(str)
        if names.duplicated().any():
            raise InvalidArgumentError(
                f"--prices: model {names[names.duplicated()].iloc[0]!r} has two prices; give "
                "one row per model"
            )
        table = dict(zip(names, frame["price"], strict=True))
    else:
        table = {}
        for part in spec.split(","):
            name, sep, value = part.rpartition("=")
            if not sep or not name.strip():
                raise InvalidArgumentError(f"--prices: {part!r} is not name=price")
            if name.strip() in table:
                raise InvalidArgumentError(f"--prices: model {name.strip()!r} is priced twice")
            table[name.strip()] = value
    missing = [m for m in models if m not in table]
    if missing:
        raise InvalidArgumentError(
            f"--prices: model(s) {missing} have no price; every model needs a cost"
        )
    try:
        prices = np.array([float(table[m]) for m in models])
    except ValueError as exc:
        raise InvalidArgumentError(f"--prices: {exc}") from None
    from ..route import _cost_matrix  # the library's checks, under the option's name

    return _cost_matrix(prices, "--prices", 1, len(models))[0].copy()


def _evaluate(args: argparse.Namespace) -> int:
    from .. import io, route
    from ..report import html
    from ..report.plots import to_img

    seed_from_rng(args.seed, "--seed")  # numpy's own message does not name the option
    data = io.read_results(args.table)
    y_all = np.asarray(data.scores, dtype=np.float64).T  # items x models
    if np.isnan(y_all).any():
        raise InvalidArgumentError(
            "TABLE: some (model, item) scores are missing; routing needs every model on every item"
        )
    models, items = list(data.models), [str(i) for i in data.items]
    x = _features(args.features, items, args.seed)
    price = _prices(args.prices, models)
    if not 0 < args.test_fraction < 1:
        raise InvalidArgumentError("--test-fraction: must be between 0 and 1")
    rng = np.random.default_rng(args.seed)
    perm = rng.permutation(len(items))
    n_test = int(round(args.test_fraction * len(items)))
    te, tr = perm[:n_test], perm[n_test:]
    router = route.CostAwareRouter(
        metric=args.metric, random_state=args.seed, shrinkage=args.shrinkage
    )
    router.fit(x[tr], y_all[tr], price)
    y, cost = y_all[te], np.broadcast_to(price, (len(te), len(models)))
    path = router.lambda_path(x[te], y, cost)
    cost_range = route.model_cost_range(cost)
    boot = route.bootstrap_frontier(
        {"kNN router": path, "oracle": route.mu_path(y, cost)},
        y,
        cost,
        cost_range=cost_range,
        n_resamples=args.n_resamples,
        rng=args.seed,
    )
    fronts = [
        route.frontier(path, name="kNN router"),
        route.oracle_frontier(y, cost),
        route.zero_router_frontier(y, cost),
    ]
    acc, mean_cost = y.mean(axis=0), cost.mean(axis=0)
    best = int(np.lexsort((mean_cost, -acc))[0])
    router_at_best = float(fronts[0].at(mean_cost[best])[0])
    matched = route.cost_at_matched_accuracy(fronts[0], y, cost)
    result = {
        "table": str(args.table),
        "n_train": int(tr.size),
        "n_test": int(te.size),
        "models": models,
        "prices": price.tolist(),
        "k_score": router.k_score_,
        "shrinkage": args.shrinkage,
        "cost_range": list(cost_range),
        "auc": boot.table(),
        "auc_difference_router_minus_zero": {
            "estimate": float(boot.difference[0, 2]),
            "low": float(boot.difference_interval.low[0, 2]),
            "high": float(boot.difference_interval.high[0, 2]),
            "pvalue": float(boot.difference_pvalue[0, 2]),
        },
        "auc_comparisons": boot.comparisons("holm"),
        "best_single_model": {
            "name": models[best],
            "accuracy": float(acc[best]),
            "cost": float(mean_cost[best]),
        },
        "router_accuracy_at_best_model_cost": router_at_best,
        "router_cost_at_best_model_accuracy_fraction": matched,
        "frontier": {f.name: {"cost": f.cost, "performance": f.performance} for f in fronts},
        "path": {"mu": path.mu, "cost": path.cost, "performance": path.performance},
    }
    from .._results import _json_safe

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "route.json").write_text(json.dumps(_json_safe(result), indent=2))
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.6))
    ax = fig.add_subplot()
    route.plot_frontiers(fronts, bootstrap=boot, models=(mean_cost, acc, models), ax=ax)
    rows = [
        [html.esc(r["router"]), html.fmt(r["statistic"]), html.fmt_ci(r["low"], r["high"])]
        for r in boot.table()
    ]
    d = result["auc_difference_router_minus_zero"]
    summary = [
        f"Router fitted on {tr.size} items (k = {router.k_score_}), evaluated on {te.size}.",
        f"Best single model {html.esc(models[best])}: accuracy {acc[best]:.3f} at cost "
        f"{mean_cost[best]:.4g}; the router's frontier reaches {router_at_best:.3f} at that cost.",
        f"Frontier AUC, router minus zero router: {d['estimate']:.4f} "
        f"[{d['low']:.4f}, {d['high']:.4f}] (p = {d['pvalue']:.3g}).",
    ]
    body = html.figure(
        to_img(fig, "accuracy-cost frontiers"),
        "Non-decreasing hulls with pointwise 95% bootstrap bands; dots are single models.",
    ) + html.table(
        ["router", f"AUC on cost range [{cost_range[0]:.4g}, {cost_range[1]:.4g}]", "95% CI"],
        rows,
        numeric=[False, True, True],
    )
    pair_rows = [
        [
            html.esc(f"{c['a']} − {c['b']}"),
            html.fmt(c["difference"]),
            html.fmt_ci(c["low"], c["high"]),
            html.fmt(c["pvalue_adjusted"]),
        ]
        for c in result["auc_comparisons"]
    ]
    body += html.table(
        ["paired comparison", "AUC difference", "95% CI", "p (Holm)"],
        pair_rows,
        numeric=[False, True, True, True],
    )
    page = html.page(
        "calipers route evaluate",
        f"<code>{html.esc(args.table)}</code>",
        summary,
        [("frontier", "Accuracy-cost frontier", body)],
        "calipers.route: CARROT kNN router, exact mu-path, paired bootstrap over test items.",
    )
    (out / "route.html").write_text(page)
    print("\n".join(html.plain_text(s) for s in summary))
    print(f"wrote {out / 'route.html'} and {out / 'route.json'}")
    return 0
