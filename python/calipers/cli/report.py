"""``calipers report``: the end-to-end evaluation report from per-item results."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from ..exceptions import InvalidArgumentError

DESCRIPTION = """\
Build the statistically sound picture of several models from their per-item results:
a self-contained HTML page (plots embedded, opens offline) and a JSON file with every number.

The report holds: a plain-language summary; the data overview; the leaderboard per scenario
with paired-bootstrap confidence intervals and the distribution of each model's rank; the
pairwise paired tests (which differences are real, Holm-corrected); the risk-aware ranking
(first- and second-order stochastic dominance, relative test); an IRT item analysis
(difficulty, discrimination, items that look broken); and a recommended small item subset per
scenario with its cross-validated error.

RESULTS is one of:
  * a long table (.csv, .tsv or .parquet) with columns model, item, score and optionally
    scenario, subscenario, metric (one row per model and item);
  * a wide matrix (.csv, .tsv or .parquet): one row per model (names in a 'model' column or
    the first column), one column per item;
  * a long table with a 'template' (or 'prompt') column: model, template, item, score, one
    row per evaluated cell; the report ranks each model's mean over its templates and adds a
    section on the score distribution over templates (PromptEval);
  * an lm-evaluation-harness --log_samples output folder (one sub-folder per model), or Open
    LLM Leaderboard details (samples_leaderboard_*.jsonl);
  * a HELM suite folder (benchmark_output/runs/<suite>);
  * Inspect AI logs (a .eval or .json log, or a folder of them);
  * lighteval details (OUT/details/<model>/<timestamp>/details_<task>_<timestamp>.parquet).
The format is detected from the names of the files; --format names it where that is ambiguous.
Scores are 0/1 correctness or numbers in [0, 1]; empty cells are missing."""

EPILOG = """\
examples:
  calipers report --example --out report-out     the embedded example (no network)
  calipers report results.csv --out my-report    a long table or a wide matrix
  calipers report results.csv --metric acc --risk-metric prob_true
  calipers report lm-eval-output/ --quiet

The report is written to DIR/report.html and DIR/report.json; nothing is written unless the
whole report succeeds."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="the end-to-end evaluation report (HTML + JSON) from per-item results",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "results", nargs="?", metavar="RESULTS", help="results file or folder (see above)"
    )
    parser.add_argument(
        "--example",
        action="store_true",
        help="use the embedded example instead of RESULTS: 32 scikit-learn classifiers scored "
        "per item on scikit-learn's digits data (built once, about half a minute, then cached)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default="calipers-report",
        help="output folder, created if needed (default: %(default)s)",
    )
    parser.add_argument(
        "--format",
        choices=["table", "lm_eval", "open_llm_leaderboard", "helm", "inspect", "lighteval"],
        help="the format of RESULTS (default: detected)",
    )
    parser.add_argument(
        "--metric",
        metavar="NAME",
        help="which metric to report when RESULTS holds several (a long table's 'metric' "
        "column, a harness metric such as acc); the example's are 'correct' (default) and "
        "'p_true'",
    )
    parser.add_argument(
        "--risk-metric",
        metavar="NAME",
        help="a second metric of the same models and items for the risk-aware ranking "
        "(continuous scores show more than 0/1 ones; default: the main metric, for the "
        "example 'p_true')",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="root seed of every random step (default: %(default)s)"
    )
    parser.add_argument(
        "--n-resamples",
        type=int,
        default=2000,
        metavar="N",
        help="bootstrap replicates of the leaderboard, rank distribution and pairwise tests "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--dominance-resamples",
        type=int,
        default=1000,
        metavar="N",
        help="bootstrap replicates of each dominance test (default: %(default)s)",
    )
    parser.add_argument(
        "--confidence-level",
        type=float,
        default=0.95,
        metavar="P",
        help="of the confidence intervals (default: %(default)s)",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=0.05,
        help="family-wise error rate of the tests (default: %(default)s)",
    )
    parser.add_argument(
        "--tiny-items",
        type=int,
        default=30,
        metavar="N",
        help="items per scenario in the recommended subset (default: %(default)s)",
    )
    parser.add_argument("--title", help="report title (default: from RESULTS)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    from ..report import ReportOptions, build_report, write_report

    if args.example == (args.results is not None):
        args.parser.error("give either RESULTS or --example (exactly one)")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise InvalidArgumentError(
            f"--out: {args.out} exists and is not a folder; choose another path"
        )
    options = ReportOptions(
        seed=args.seed,
        n_resamples=args.n_resamples,
        dominance_resamples=args.dominance_resamples,
        confidence_level=args.confidence_level,
        alpha=args.alpha,
        tiny_items=args.tiny_items,
        title=args.title,
        quiet=args.quiet,
    )
    if args.example:
        data, risk = _load_example(args)
        title = (
            args.title or "calipers report: the example (32 classifiers on scikit-learn's digits)"
        )
        options = dataclasses.replace(options, title=title)
        prompts = None
    else:
        data, risk, prompts = _load_results(args)
    report = build_report(data, risk, options, prompts=prompts)
    out = write_report(report, args.out)
    print(f"calipers report: wrote {out / 'report.html'} and {out / 'report.json'}")
    return 0


def _load_example(args: argparse.Namespace) -> tuple[Any, Any]:
    from ..report.example import example_data

    metric = args.metric or "correct"
    risk_metric = args.risk_metric or ("p_true" if args.metric is None else None)
    data = example_data(metric, progress=not args.quiet)
    risk = None if risk_metric in (None, metric) else example_data(risk_metric, progress=False)
    return data, risk


def _load_results(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    path = Path(args.results)
    if not path.exists():
        raise InvalidArgumentError(
            f"RESULTS: {path} does not exist; pass a results table (.csv/.tsv/.parquet), a "
            "harness output folder or log (see calipers report --help), or --example"
        )
    columns = set(_header_columns(path) or [])
    # a long table (it has a score column) with a template axis; a wide matrix may well have
    # an item called "prompt"
    if args.format is None and "score" in columns and {"template", "prompt"} & columns:
        if args.risk_metric is not None:
            raise InvalidArgumentError(
                "--risk-metric: a table with prompt templates holds one metric; drop the option"
            )
        data, prompts = _read_prompt_table(path)
        return data, None, prompts
    data = _read(path, args.metric, args.format)
    risk = None
    if args.risk_metric is not None and args.risk_metric != args.metric:
        risk = _read(path, args.risk_metric, args.format)
    return data, risk, None


def _read_prompt_table(path: Path) -> tuple[Any, Any]:
    """A long table with a template column: the report's models × items matrix is each
    (model, item)'s mean score over the templates it was run with; the cells themselves go to
    the PromptEval section."""
    import warnings

    import numpy as np

    from ..io import EvalData, read_table
    from ..io.tables import prompt_cells
    from ..report.data import PromptData

    frame = read_table(path, argument="RESULTS")
    cells, models, templates, examples = prompt_cells(frame, path)
    with warnings.catch_warnings():  # items a model never ran stay NaN (missing)
        warnings.simplefilter("ignore", RuntimeWarning)
        scores = np.nanmean(cells, axis=1)
    names = [str(e) for e in examples]
    data = EvalData(scores=scores, models=list(models), items=names, source=str(path))
    prompts = PromptData(
        scores=cells, models=list(models), templates=[str(t) for t in templates], examples=names
    )
    return data, prompts


def _read(path: Path, metric: str | None, fmt: str | None = None) -> Any:
    from ..io import read_results

    _check_long_header(path)
    kwargs = {} if metric is None else {"metric": metric}
    try:
        return read_results(path, format=fmt, **kwargs)
    except InvalidArgumentError as exc:
        # The library's advice names its keyword; on the command line it is the option.
        message = str(exc).replace("metric=...", "--metric NAME")
        message = message.replace("scorer=...", "--metric NAME")
        message = message.replace("format=...", "--format NAME")
        raise type(exc)(message) from None


_LONG = ("model", "item", "score")


def _header_columns(path: Path) -> list[str] | None:
    """The column names of a table file, or None for folders, other files and files that
    cannot be read (the reader gives those their own error)."""
    import pandas as pd

    suffix = path.suffix.lower()
    if path.is_dir() or suffix not in (".csv", ".tsv", ".txt", ".parquet", ".pq"):
        return None
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return [str(c) for c in pq.read_schema(path).names]
        sep = "\t" if suffix == ".tsv" else ","
        return [str(c) for c in pd.read_csv(path, sep=sep, nrows=0).columns]
    except Exception:  # noqa: BLE001 - unreadable files get the reader's own error next
        return None


def _check_long_header(path: Path) -> None:
    """A table with two of the long format's columns but not the third is a long table with a
    misnamed column; without this check it would be read as a wide matrix and fail on text
    cells with a confusing message."""
    columns = _header_columns(path)
    if columns is None:
        return
    present = [c for c in _LONG if c in columns]
    if len(present) == 2:
        missing = next(c for c in _LONG if c not in columns)
        raise InvalidArgumentError(
            f"{path}: row 1 (the header) has columns {present} of a long table but no "
            f"{missing!r} column (found {columns[:8]}); a long table needs columns model, item, "
            f"score: rename your column to {missing!r}"
        )
