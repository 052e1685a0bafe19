"""lighteval ``--save-details`` output: ``details/<model>/<timestamp>/details_<task>_<timestamp>.parquet``."""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from ..exceptions import InvalidArgumentError
from ._common import MetricChoice, as_score, choose_metric, one_or_mapping, score_matrix
from .evaldata import EvalData

# lighteval names detail files details_<task>_<datetime.isoformat() with ':' -> '-'>.parquet;
# the task is "<suite>|<name>|<few-shot count>", e.g. "lighteval|gsm8k|0".
_DETAILS_RE = re.compile(r"^details_(?P<task>.+)_(?P<stamp>\d{4}-\d{2}-\d{2}T[0-9.\-]+)\.parquet$")
# The per-sample metrics column: "metric" since lighteval 0.10, "metrics" before.
_METRIC_COLUMNS = ("metric", "metrics")
_RERUN = "re-run lighteval with --save-details or delete that file"


def read_lighteval(path: str | Path, *, metric: MetricChoice = None) -> EvalData:
    """Read lighteval per-sample details.

    ``lighteval ... --output-dir OUT --save-details`` writes, per model and run,
    ``OUT/details/<model name>/<timestamp>/details_<task>_<timestamp>.parquet`` (the model
    name may hold a ``/``, as in ``org/name``, making two folder levels). Each row is one
    sample; its ``metric`` column (``metrics`` before lighteval 0.10) maps metric names to the
    sample's value, e.g. ``{"em": 1.0}``.

    Parameters
    ----------
    path : str or Path
        ``OUT``, ``OUT/details``, a model's details folder, or one details file.
    metric : str or sequence of str, optional
        The metric to read (a sequence is an order of preference). Default: each task's first
        metric.

    Returns
    -------
    EvalData
        Models from the folder names below ``details/`` (``org/name``); items
        ``"<task>/<sample>"`` where ``<sample>`` is the ``doc.id`` of the row when every row
        has a distinct one, else the row's position (lighteval writes the samples of a task in
        the same order for every model). ``scenario`` is the task name without suite and
        few-shot count up to any ``:`` (``mmlu`` for ``lighteval|mmlu:anatomy|5``),
        ``subscenario`` that name whole (``mmlu:anatomy``); ``metric`` the metric (a mapping
        task -> name when tasks differ). When a model has several runs of a task, the latest
        timestamp is used.
    """
    root = Path(path)
    if not root.exists():
        raise InvalidArgumentError(f"path: {root} does not exist; check the path")
    runs = _details_files(root)
    cells: dict[str, dict[str, float]] = {}
    labels: dict[str, tuple[str, str]] = {}
    chosen: dict[str, str] = {}
    for (model, task), file in sorted(runs.items()):
        frame = _read_details(file)
        values = _metric_dicts(frame, file)
        available = list(dict.fromkeys(k for v in values for k in v))
        name = choose_metric(available, metric, (), f"{file} (task {task!r})")
        if chosen.setdefault(task, name) != name:
            raise InvalidArgumentError(
                f"{file}: task {task!r} is scored by {name!r} here but by {chosen[task]!r} for "
                "another model; pass metric=... to choose one for all"
            )
        scenario, subscenario = _task_labels(task)
        row = cells.setdefault(model, {})
        for sample, value in zip(_sample_ids(frame), values, strict=True):
            item = f"{task}/{sample}"
            row[item] = _sample_value(value, name, file, sample)
            labels.setdefault(item, (scenario, subscenario))
    return score_matrix(
        dict(sorted(cells.items())),
        labels,
        metric=one_or_mapping(chosen),
        source=str(root),
        empty_fix="the details files have no rows",
    )


def _details_files(root: Path) -> dict[tuple[str, str], Path]:
    """{(model, task): latest details file}."""
    if root.is_file():
        candidates = [root]
    else:
        candidates = sorted(root.rglob("details_*.parquet"))
    latest: dict[tuple[str, str], tuple[str, Path]] = {}
    for file in candidates:
        m = _DETAILS_RE.match(file.name)
        if m is None:
            if file == root:
                raise InvalidArgumentError(
                    f"path: {root} is not a details_<task>_<timestamp>.parquet file"
                )
            continue
        key = (_model_name(file, root), m["task"])
        if key not in latest or m["stamp"] > latest[key][0]:
            latest[key] = (m["stamp"], file)
    if not latest:
        raise InvalidArgumentError(
            f"path: no details_<task>_<timestamp>.parquet files in {root} or its sub-folders; "
            "run lighteval with --save-details --output-dir <folder> and pass that folder"
        )
    return {key: file for key, (_, file) in latest.items()}


def _model_name(file: Path, root: Path) -> str:
    """The folders between ``details/`` (or the folder given) and the timestamp folder."""
    model_dir = file.parent.parent
    parts = model_dir.parts
    if "details" in parts:
        start = len(parts) - parts[::-1].index("details")
        name = "/".join(parts[start:])
    else:
        base = root if root.is_dir() else root.parent
        try:
            name = model_dir.relative_to(base).as_posix()
        except ValueError:
            name = ""
    return name if name not in ("", ".") else model_dir.name


def _read_details(file: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(file)
    except ImportError as exc:
        raise InvalidArgumentError(
            f"{file}: reading parquet needs pyarrow ({exc}); pip install pyarrow"
        ) from None
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for damaged files
        raise InvalidArgumentError(
            f"{file}: could not be read as parquet ({type(exc).__name__}: {exc}); the file may "
            f"be truncated; {_RERUN}"
        ) from None


def _metric_dicts(frame: pd.DataFrame, file: Path) -> list[dict[str, Any]]:
    column = next((c for c in _METRIC_COLUMNS if c in frame.columns), None)
    if column is None:
        raise InvalidArgumentError(
            f"{file}: has no 'metric' (or 'metrics') column (columns: {list(frame.columns)[:10]}); "
            "is this a lighteval details file?"
        )
    return [_as_dict(v, file, k) for k, v in enumerate(frame[column].tolist())]


def _as_dict(value: Any, file: Path, row: int) -> dict[str, Any]:
    """A row's metrics as a dict. lighteval stores them as a struct; when a row could not be
    stored that way it falls back to the text of the dict, which is read back here."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        for parse in (json.loads, ast.literal_eval):
            try:
                parsed = parse(value)
            except (ValueError, SyntaxError):
                continue
            if isinstance(parsed, dict):
                return parsed
    raise InvalidArgumentError(
        f"{file}: row {row}: the metrics are {type(value).__name__} {str(value)[:40]!r}, not a "
        f"mapping of metric name to value; {_RERUN}"
    )


def _sample_ids(frame: pd.DataFrame) -> list[str]:
    if "doc" in frame.columns:
        ids = [d.get("id") if isinstance(d, dict) else None for d in frame["doc"].tolist()]
        texts = [str(i) for i in ids if i not in (None, "")]
        if len(texts) == len(ids) and len(set(texts)) == len(texts):
            return texts
    return [str(k) for k in range(len(frame))]


def _task_labels(task: str) -> tuple[str, str]:
    parts = task.split("|")
    name = parts[1] if len(parts) >= 3 else task
    return name.split(":", 1)[0], name


def _sample_value(metrics: dict[str, Any], name: str, file: Path, sample: str) -> float:
    if name not in metrics:
        return math.nan
    value = as_score(metrics[name])
    if value is None:
        raise InvalidArgumentError(
            f"{file}: sample {sample}: metric {name!r} is {type(metrics[name]).__name__} "
            f"{str(metrics[name])[:40]!r}, not a number; choose a per-sample metric with "
            "metric=..."
        )
    return value
