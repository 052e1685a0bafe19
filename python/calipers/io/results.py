"""The entry point :func:`read_results`: detects the format of a file, folder or table and
hands it to that format's reader."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ..exceptions import InvalidArgumentError
from .evaldata import EvalData, as_pandas, is_table
from .helm import read_helm
from .inspect_logs import read_inspect
from .lighteval import read_lighteval
from .lm_eval import _SAMPLES_RE, read_lm_eval_harness
from .open_llm_leaderboard import read_open_llm_leaderboard
from .tables import LONG_COLUMNS, _long_from_frame, _read_table, _wide_from_frame

# format name -> what it is, for messages and the CLI's --format help
FORMATS = {
    "table": "a long table or a wide matrix (.csv, .tsv, .parquet, or a DataFrame)",
    "lm_eval": "an lm-evaluation-harness --log_samples output folder",
    "open_llm_leaderboard": "Open LLM Leaderboard details (samples_leaderboard_*.jsonl)",
    "helm": "a HELM suite folder (benchmark_output/runs/<suite>)",
    "inspect": "Inspect AI logs (.eval or .json, a file or a folder)",
    "lighteval": "lighteval details (details/<model>/<timestamp>/details_*.parquet)",
}
_INSPECT_LOG = re.compile(r"^\d{4}-\d{2}-\d{2}T.+_.+\.json$")
_LIGHTEVAL_DETAILS = re.compile(r"^details_.+_\d{4}-\d{2}-\d{2}T[0-9.\-]+\.parquet$")


def read_results(source: Any, format: str | None = None, **kwargs: Any) -> EvalData:  # noqa: A002
    """Read evaluation results from any supported source.

    Parameters
    ----------
    source : str, Path or table
        A results file or folder, or a pandas / polars / pyarrow table (read as a long table
        when it has columns ``model``, ``item`` and ``score``, else as a wide matrix).
    format : str, optional
        One of ``"table"``, ``"lm_eval"``, ``"open_llm_leaderboard"``, ``"helm"``,
        ``"inspect"``, ``"lighteval"``. Default: detected from the file's name or the files in
        the folder (``per_instance_stats.json`` -> helm, ``.eval`` or ``<time>_<task>_<id>.json``
        -> inspect, ``details_*.parquet`` -> lighteval, ``samples_leaderboard_*.jsonl`` ->
        open_llm_leaderboard, other ``samples_*.jsonl`` -> lm_eval; files .csv/.tsv/.parquet ->
        table). A folder holding several formats needs ``format=``.
    **kwargs
        Passed on to the format's reader. ``metric=`` works for every format (for Inspect logs
        it names the scorer).

    Returns
    -------
    EvalData
    """
    if format is not None and format not in FORMATS:
        raise InvalidArgumentError(
            f"format: unknown format {format!r}; use one of {sorted(FORMATS)} (or None to detect)"
        )
    if is_table(source):
        if format not in (None, "table"):
            raise InvalidArgumentError(
                f"format: a {type(source).__name__} is read as a table, not as {format!r}; pass "
                "a path for that format"
            )
        # Only a pandas DataFrame has an index to hold model names; other tables are like files.
        frame = as_pandas(source)
        has_index = isinstance(source, pd.DataFrame)
        return _read_frame(frame, f"<{type(source).__name__}>", from_file=not has_index, **kwargs)
    if not isinstance(source, str | Path):
        raise InvalidArgumentError(
            f"source: expected a path or a table (pandas, polars or pyarrow), got "
            f"{type(source).__name__}"
        )
    path = Path(source)
    if not path.exists():
        raise InvalidArgumentError(f"source: {path} does not exist; check the path")
    fmt = format or _detect_format(path)
    if fmt == "table":
        frame = _read_table(path)
        return _read_frame(frame, str(path), from_file=True, **kwargs)
    if fmt == "inspect" and "metric" in kwargs:
        kwargs["scorer"] = kwargs.pop("metric")
    readers: dict[str, Callable[..., EvalData]] = {
        "lm_eval": read_lm_eval_harness,
        "open_llm_leaderboard": read_open_llm_leaderboard,
        "helm": read_helm,
        "inspect": read_inspect,
        "lighteval": read_lighteval,
    }
    return readers[fmt](path, **kwargs)


def _detect_format(path: Path) -> str:
    if path.is_file():
        # A lone .json that is no harness or HELM file can only be an Inspect log.
        return _format_of_file(path.name) or ("inspect" if path.suffix == ".json" else "table")
    found: dict[str, Path] = {}
    for file in path.rglob("*"):
        fmt = _format_of_file(file.name)
        if fmt is not None:
            found.setdefault(fmt, file)
    if len(found) == 1:
        return next(iter(found))
    if not found:
        raise InvalidArgumentError(
            f"source: found no results in {path}: no lm-evaluation-harness samples_*.jsonl, HELM "
            "per_instance_stats.json, Inspect .eval/.json logs or lighteval details_*.parquet "
            "files; pass a results table or one of those folders, or format=..."
        )
    examples = ", ".join(f"{fmt} ({file.name})" for fmt, file in sorted(found.items()))
    raise InvalidArgumentError(
        f"source: {path} holds results of several formats: {examples}; pass format=... naming "
        "one, or a sub-folder"
    )


def _format_of_file(name: str) -> str | None:
    """The format a results file belongs to, judged by its name alone; None for other files."""
    if name == "per_instance_stats.json":
        return "helm"
    match = _SAMPLES_RE.match(name)
    if match is not None:
        is_leaderboard = match["task"].startswith("leaderboard_")
        return "open_llm_leaderboard" if is_leaderboard else "lm_eval"
    if name.endswith(".eval") or _INSPECT_LOG.match(name):
        return "inspect"
    if _LIGHTEVAL_DETAILS.match(name):
        return "lighteval"
    return None


def _read_frame(frame: pd.DataFrame, where: str, *, from_file: bool, **kwargs: Any) -> EvalData:
    if set(LONG_COLUMNS) <= set(map(str, frame.columns)):
        return _long_from_frame(frame, where, **kwargs)
    if "model_column" not in kwargs:
        kwargs["index_is_model"] = not from_file
    return _wide_from_frame(frame, where, **kwargs)
