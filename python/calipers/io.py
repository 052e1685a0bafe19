"""Readers and writers for evaluation results.

Every reader returns an :class:`EvalData`: a models x items score matrix (float64, NaN =
missing) with model and item names and optional per-item scenario / sub-scenario labels.

Supported inputs (:func:`read_results` detects which):

* a **wide matrix** (CSV, TSV or parquet file, or a DataFrame): one row per model, one column
  per item; the model names are a ``model`` column or the first column / the index;
* a **long table** (CSV, TSV, parquet or a DataFrame) with columns ``model``, ``item``,
  ``score`` and optionally ``scenario``, ``subscenario`` and ``metric``;
* an **lm-evaluation-harness** ``--log_samples`` output folder: per-task
  ``samples_<task>_<timestamp>.jsonl`` files (one JSON object per document with ``doc_id``,
  ``filter``, ``metrics`` and one field per metric such as ``acc`` or ``exact_match``), either
  directly in the folder (one model) or in one sub-folder per model next to that model's
  ``results_<timestamp>.json``.

Writers save item subsets (:func:`write_item_subset`) and fitted item parameters
(:func:`write_item_parameters`) as CSV or JSON, with matching readers.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import InvalidArgumentError, ShapeError

__all__ = [
    "EvalData",
    "read_item_parameters",
    "read_item_subset",
    "read_lm_eval_harness",
    "read_long",
    "read_results",
    "read_wide",
    "write_item_parameters",
    "write_item_subset",
]

LONG_COLUMNS = ("model", "item", "score")
_TABLE_SUFFIXES = {".csv", ".tsv", ".txt", ".parquet", ".pq"}
# The harness names sample files samples_<task>_<datetime.isoformat() with ':' -> '-'>.jsonl
_SAMPLES_RE = re.compile(
    r"^samples_(?P<task>.+)_(?P<stamp>\d{4}-\d{2}-\d{2}T[0-9.\-]+)\.jsonl(?:\.gz)?$"
)
_RESULTS_RE = re.compile(r"^results_(?P<stamp>\d{4}-\d{2}-\d{2}T[0-9.\-]+)\.json$")
# Per-sample bookkeeping fields written by the harness; everything else scalar is a metric.
_HARNESS_FIELDS = {
    "doc_id",
    "doc",
    "target",
    "arguments",
    "resps",
    "filtered_resps",
    "filter",
    "metrics",
    "doc_hash",
    "prompt_hash",
    "target_hash",
}


@dataclasses.dataclass(frozen=True, repr=False)
class EvalData:
    """A models x items score matrix with names and item labels.

    Attributes
    ----------
    scores : ndarray of shape (n_models, n_items)
        float64 scores (0/1 correctness or fractional scores); NaN marks a missing response.
    models : list of str
        Row names.
    items : list of str
        Column names (unique item ids).
    scenario : ndarray of str of shape (n_items,) or None
        Benchmark / scenario of each item (e.g. ``mmlu``).
    subscenario : ndarray of str of shape (n_items,) or None
        Sub-scenario of each item (e.g. ``mmlu_anatomy``).
    metric : str, dict or None
        The metric the scores measure: one name, or a mapping scenario -> metric name.
    source : str or None
        Where the data was read from.
    """

    scores: np.ndarray
    models: list[str]
    items: list[str]
    scenario: np.ndarray | None = None
    subscenario: np.ndarray | None = None
    metric: str | dict[str, str] | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        n_models, n_items = self.scores.shape
        if len(self.models) != n_models or len(self.items) != n_items:
            raise ShapeError(
                f"EvalData: scores has shape {self.scores.shape} but {len(self.models)} model "
                f"names and {len(self.items)} item names were given; pass one name per row/column"
            )
        for name in ("scenario", "subscenario"):
            labels = getattr(self, name)
            if labels is not None and len(labels) != n_items:
                raise ShapeError(
                    f"EvalData: {name} has {len(labels)} labels for {n_items} items; "
                    "pass one label per item"
                )
        _check_unique(self.models, "models", "model names")
        _check_unique(self.items, "items", "item ids")

    @property
    def shape(self) -> tuple[int, int]:
        """(n_models, n_items)."""
        return self.scores.shape  # type: ignore[return-value]

    @property
    def scenarios(self) -> list[str]:
        """Scenario names in order of first appearance (empty when there are no labels)."""
        if self.scenario is None:
            return []
        return list(dict.fromkeys(self.scenario.tolist()))

    def select(
        self, models: Sequence[str] | None = None, items: Sequence[str] | None = None
    ) -> EvalData:
        """A copy restricted to (and ordered by) the given model names and item ids."""
        rows = _positions(self.models, models, "models") if models is not None else None
        cols = _positions(self.items, items, "items") if items is not None else None
        scores = self.scores if rows is None else self.scores[rows]
        scores = scores if cols is None else scores[:, cols]

        def pick(labels: np.ndarray | None) -> np.ndarray | None:
            return None if labels is None or cols is None else labels[cols]

        return dataclasses.replace(
            self,
            scores=np.ascontiguousarray(scores),
            models=list(self.models) if models is None else list(models),
            items=list(self.items) if items is None else list(items),
            scenario=self.scenario if cols is None else pick(self.scenario),
            subscenario=self.subscenario if cols is None else pick(self.subscenario),
        )

    def to_wide(self) -> pd.DataFrame:
        """The matrix as a DataFrame (index = models, columns = items)."""
        frame = pd.DataFrame(self.scores, index=pd.Index(self.models, name="model"))
        frame.columns = pd.Index(self.items, name="item")
        return frame

    def to_long(self) -> pd.DataFrame:
        """One row per observed (model, item) with scenario labels where known."""
        rows, cols = np.nonzero(~np.isnan(self.scores))
        frame = pd.DataFrame(
            {
                "model": np.asarray(self.models, dtype=object)[rows],
                "item": np.asarray(self.items, dtype=object)[cols],
                "score": self.scores[rows, cols],
            }
        )
        if self.scenario is not None:
            frame["scenario"] = self.scenario[cols]
        if self.subscenario is not None:
            frame["subscenario"] = self.subscenario[cols]
        return frame

    def __repr__(self) -> str:
        n_missing = int(np.isnan(self.scores).sum())
        parts = [f"{self.shape[0]} models x {self.shape[1]} items", f"{n_missing} missing"]
        if self.scenario is not None:
            parts.append(f"{len(self.scenarios)} scenarios")
        if self.metric is not None:
            parts.append(f"metric={self.metric!r}")
        if self.source is not None:
            parts.append(f"source={self.source!r}")
        return f"EvalData({', '.join(parts)})"


# --------------------------------------------------------------------------------------------
# Entry point


def read_results(source: Any, **kwargs: Any) -> EvalData:
    """Read evaluation results from any supported source.

    Parameters
    ----------
    source : str, Path or DataFrame
        A folder (read as lm-evaluation-harness ``--log_samples`` output), a single
        ``samples_*.jsonl`` file, a CSV/TSV/parquet file or a DataFrame. Tables with columns
        ``model``, ``item`` and ``score`` are read as long tables, others as wide matrices.
    **kwargs
        Passed on to :func:`read_lm_eval_harness`, :func:`read_long` or :func:`read_wide`.

    Returns
    -------
    EvalData
    """
    if isinstance(source, pd.DataFrame):
        return _read_frame(source, "<DataFrame>", from_file=False, **kwargs)
    if not isinstance(source, str | Path):
        raise InvalidArgumentError(
            f"source: expected a path or a pandas DataFrame, got {type(source).__name__}"
        )
    path = Path(source)
    if path.is_dir() or _SAMPLES_RE.match(path.name):
        return read_lm_eval_harness(path, **kwargs)
    frame = _read_table(path)
    return _read_frame(frame, str(path), from_file=True, **kwargs)


def _read_frame(frame: pd.DataFrame, where: str, *, from_file: bool, **kwargs: Any) -> EvalData:
    if set(LONG_COLUMNS) <= set(map(str, frame.columns)):
        return _long_from_frame(frame, where, **kwargs)
    if "model_column" not in kwargs:
        kwargs["index_is_model"] = not from_file
    return _wide_from_frame(frame, where, **kwargs)


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InvalidArgumentError(f"source: {path} does not exist; check the path")
    suffix = path.suffix.lower()
    if suffix not in _TABLE_SUFFIXES:
        raise InvalidArgumentError(
            f"source: cannot tell the format of {path} from its suffix {suffix!r}; use a .csv, "
            ".tsv or .parquet file, a lm-evaluation-harness output folder, or a DataFrame"
        )
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        sep = "\t" if suffix == ".tsv" else ","
        return _read_csv_keeping_labels(path, sep)
    except pd.errors.EmptyDataError:
        raise ShapeError(f"{path}: the file is empty; it needs a header and rows") from None
    except (ValueError, ImportError, OSError) as exc:
        raise InvalidArgumentError(f"{path}: could not be read as a table ({exc})") from None


# Label columns are read as text, exactly as written: item "007" stays "007" (not 7), a model
# called "NA" stays "NA" (not missing). Only an empty cell is a missing label.
_LABEL_COLUMNS = ("model", "item", "scenario", "subscenario", "metric")
# pandas' default missing-value spellings, applied to the score columns only.
_SCORE_NA_VALUES = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]  # fmt: skip


def _read_csv_keeping_labels(path: Path, sep: str) -> pd.DataFrame:
    header = [str(c) for c in pd.read_csv(path, sep=sep, nrows=0).columns]
    labels = {c for c in header if c in _LABEL_COLUMNS}
    if header and not set(LONG_COLUMNS) <= set(header) and "model" not in header:
        labels.add(header[0])  # a wide matrix: the first column holds the model names
    na_values = {c: [""] if c in labels else _SCORE_NA_VALUES for c in header}
    return pd.read_csv(
        path,
        sep=sep,
        dtype={c: str for c in labels},
        keep_default_na=False,
        na_values=na_values,
    )


# --------------------------------------------------------------------------------------------
# Wide matrices


def read_wide(
    source: Any,
    *,
    model_column: str | None = None,
    scenario: Mapping[str, str] | Sequence[str] | None = None,
    subscenario: Mapping[str, str] | Sequence[str] | None = None,
    metric: str | None = None,
) -> EvalData:
    """Read a wide matrix: one row per model, one column per item.

    Parameters
    ----------
    source : str, Path or DataFrame
        CSV/TSV/parquet file or DataFrame.
    model_column : str, optional
        The column holding model names. Default: a column named ``model`` if there is one,
        else the first column of a file (the index of a DataFrame).
    scenario, subscenario : mapping item -> label, or sequence of labels, optional
        Per-item labels (a mapping must cover every item).
    metric : str, optional
        Name of the metric the scores measure (kept on the result).

    Returns
    -------
    EvalData
    """
    if isinstance(source, pd.DataFrame):
        return _wide_from_frame(
            source,
            "<DataFrame>",
            model_column=model_column,
            scenario=scenario,
            subscenario=subscenario,
            metric=metric,
            index_is_model=model_column is None,
        )
    path = Path(source)
    return _wide_from_frame(
        _read_table(path),
        str(path),
        model_column=model_column,
        scenario=scenario,
        subscenario=subscenario,
        metric=metric,
        index_is_model=False,
    )


def _wide_from_frame(
    frame: pd.DataFrame,
    where: str,
    *,
    model_column: str | None = None,
    scenario: Mapping[str, str] | Sequence[str] | None = None,
    subscenario: Mapping[str, str] | Sequence[str] | None = None,
    metric: str | None = None,
    index_is_model: bool = True,
) -> EvalData:
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ShapeError(f"{where}: the table is empty; it needs at least one model and item")
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    if model_column is None and "model" in frame.columns:
        model_column = "model"
    if model_column is not None:
        if model_column not in frame.columns:
            raise InvalidArgumentError(
                f"{where}: model_column {model_column!r} is not a column; columns start with "
                f"{list(frame.columns)[:5]}"
            )
        models = frame.pop(model_column)
    elif index_is_model:
        models = frame.index.to_series()
    else:
        models = frame.pop(frame.columns[0])
    if frame.shape[1] == 0:
        raise ShapeError(f"{where}: no item columns besides the model names")
    model_names = [str(m) for m in models]
    _check_unique(model_names, where, "model names (rows)")
    items = list(frame.columns)
    scores = np.empty(frame.shape, dtype=np.float64)
    for j, col in enumerate(items):
        scores[:, j] = _numeric_column(frame[col], where, f"item column {col!r}", models)
    return EvalData(
        scores=scores,
        models=model_names,
        items=items,
        scenario=_item_labels(scenario, items, "scenario"),
        subscenario=_item_labels(subscenario, items, "subscenario"),
        metric=metric,
        source=where,
    )


def _item_labels(
    labels: Mapping[str, str] | Sequence[str] | None, items: list[str], name: str
) -> np.ndarray | None:
    if labels is None:
        return None
    if isinstance(labels, Mapping):
        missing = [i for i in items if i not in labels]
        if missing:
            raise InvalidArgumentError(
                f"{name}: no label for {len(missing)} item(s), e.g. {missing[:3]}; "
                "give every item a label"
            )
        return np.asarray([str(labels[i]) for i in items], dtype=object)
    arr = np.asarray([str(x) for x in labels], dtype=object)
    if arr.shape != (len(items),):
        raise ShapeError(f"{name}: has {arr.size} labels for {len(items)} items")
    return arr


# --------------------------------------------------------------------------------------------
# Long tables


def read_long(
    source: Any,
    *,
    metric: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> EvalData:
    """Read a long table with one row per (model, item).

    Parameters
    ----------
    source : str, Path or DataFrame
        CSV/TSV/parquet file or DataFrame with columns ``model``, ``item``, ``score`` and
        optionally ``scenario``, ``subscenario``, ``metric``.
    metric : str, optional
        Keep only rows of this metric (required when the ``metric`` column has several).
    columns : mapping, optional
        Renames your columns to the expected ones, e.g. ``{"llm": "model", "correct": "score"}``.

    Returns
    -------
    EvalData
        Models and items in order of first appearance. Missing (model, item) pairs and
        empty scores are NaN.
    """
    if isinstance(source, pd.DataFrame):
        return _long_from_frame(source, "<DataFrame>", metric=metric, columns=columns)
    path = Path(source)
    return _long_from_frame(_read_table(path), str(path), metric=metric, columns=columns)


def _long_from_frame(
    frame: pd.DataFrame,
    where: str,
    *,
    metric: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> EvalData:
    frame = frame.rename(columns={str(k): v for k, v in (columns or {}).items()})
    frame.columns = [str(c) for c in frame.columns]
    missing = [c for c in LONG_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidArgumentError(
            f"{where}: missing column(s) {missing}; a long table needs columns model, item, "
            f"score (found {list(frame.columns)[:8]}); rename yours with columns={{...}}"
        )
    if frame.shape[0] == 0:
        raise ShapeError(f"{where}: the table has no rows")
    frame = frame.reset_index(drop=True)
    # Row numbers in messages are the file's line numbers (header = line 1).
    line = np.arange(frame.shape[0]) + 2
    frame, line, metric = _select_metric(frame, line, metric, where)
    for col in ("model", "item"):
        bad = frame[col].isna().to_numpy()
        if bad.any():
            raise InvalidArgumentError(
                f"{where}: row {line[np.argmax(bad)]} has an empty {col!r}; every row needs a "
                "model and an item"
            )
    model_codes, models = pd.factorize(frame["model"].astype(str), sort=False)
    item_codes, items = pd.factorize(frame["item"].astype(str), sort=False)
    dup = pd.Series(model_codes * len(items) + item_codes).duplicated(keep="first").to_numpy()
    if dup.any():
        r = int(np.argmax(dup))
        key = (models[model_codes[r]], items[item_codes[r]])
        first = line[
            np.flatnonzero((model_codes == model_codes[r]) & (item_codes == item_codes[r]))[0]
        ]
        raise InvalidArgumentError(
            f"{where}: duplicate (model, item) = {key} in rows {first} and {line[r]} "
            f"({int(dup.sum())} duplicate row(s) in all); keep one score per pair (average "
            "repeated runs first) or pass metric=... if rows differ by metric"
        )
    values = _numeric_column(frame["score"], where, "column 'score'", line=line)
    scores = np.full((len(models), len(items)), np.nan)
    scores[model_codes, item_codes] = values
    item_list = [str(i) for i in items]
    return EvalData(
        scores=scores,
        models=[str(m) for m in models],
        items=item_list,
        scenario=_labels_per_item(frame, "scenario", item_codes, item_list, line, where),
        subscenario=_labels_per_item(frame, "subscenario", item_codes, item_list, line, where),
        metric=metric,
        source=where,
    )


def _select_metric(
    frame: pd.DataFrame, line: np.ndarray, metric: str | None, where: str
) -> tuple[pd.DataFrame, np.ndarray, str | None]:
    if "metric" not in frame.columns:
        return frame, line, metric
    names = list(dict.fromkeys(frame["metric"].astype(str)))
    if metric is None:
        if len(names) > 1:
            raise InvalidArgumentError(
                f"{where}: the 'metric' column has {len(names)} metrics {names[:6]}; pass "
                "metric=... to choose one"
            )
        return frame, line, names[0]
    keep = (frame["metric"].astype(str) == metric).to_numpy()
    if not keep.any():
        raise InvalidArgumentError(
            f"{where}: no rows have metric {metric!r}; the metrics present are {names[:10]}"
        )
    return frame[keep].reset_index(drop=True), line[keep], metric


def _labels_per_item(
    frame: pd.DataFrame,
    col: str,
    item_codes: np.ndarray,
    items: list[str],
    line: np.ndarray,
    where: str,
) -> np.ndarray | None:
    if col not in frame.columns:
        return None
    labels = frame[col].astype(object).where(frame[col].notna(), None).to_numpy()
    out = np.empty(len(items), dtype=object)
    seen = np.zeros(len(items), dtype=bool)
    for r, (code, label) in enumerate(zip(item_codes, labels, strict=True)):
        if label is None:
            continue
        label = str(label)
        if not seen[code]:
            out[code], seen[code] = label, True
        elif out[code] != label:
            raise InvalidArgumentError(
                f"{where}: item {items[code]!r} has {col} {out[code]!r} in one row and "
                f"{label!r} in row {line[r]}; an item belongs to one {col}"
            )
    if not seen.all():
        j = int(np.argmin(seen))
        raise InvalidArgumentError(
            f"{where}: item {items[j]!r} has no {col} label in any row; fill the {col!r} "
            "column for every item (or drop the column)"
        )
    return out


def _numeric_column(
    col: pd.Series,
    where: str,
    what: str,
    models: Any = None,
    line: np.ndarray | None = None,
) -> np.ndarray:
    """Scores as float64 (bool -> 0/1, empty -> NaN); anything else non-numeric is an error."""
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    values = col.to_numpy(dtype=object)
    out = np.full(len(values), np.nan)
    kinds: set[str] = set()
    for r, v in enumerate(values):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        if isinstance(v, bool | np.bool_):
            out[r], _ = float(v), kinds.add("bool")
            continue
        if isinstance(v, int | float | np.integer | np.floating):
            out[r], _ = float(v), kinds.add("number")
            continue
        text = str(v).strip()
        if text.lower() in ("true", "false"):
            out[r], _ = float(text.lower() == "true"), kinds.add("bool")
            continue
        try:
            out[r], _ = float(text), kinds.add("number")
        except ValueError:
            row = f"row {line[r]}" if line is not None else f"model {models.iloc[r]!r}"
            raise InvalidArgumentError(
                f"{where}: {what} has a non-numeric score {v!r} at {row}; scores must be "
                "numbers (or true/false); convert or drop that row"
            ) from None
    if len(kinds) > 1:
        raise InvalidArgumentError(
            f"{where}: {what} mixes booleans and numbers; use one type (e.g. 0/1) throughout"
        )
    return out


# --------------------------------------------------------------------------------------------
# lm-evaluation-harness --log_samples output


def read_lm_eval_harness(
    path: str | Path,
    *,
    metric: str | Sequence[str] | Mapping[str, str] | None = None,
    filter: str | None = None,  # noqa: A002 - the harness's own name for it
    tasks: Iterable[str] | None = None,
) -> EvalData:
    """Read an lm-evaluation-harness ``--log_samples`` output folder.

    The harness writes, for each model, ``<output_path>/<model_name_sanitized>/`` holding
    ``results_<timestamp>.json`` and one ``samples_<task>_<timestamp>.jsonl`` per task. Each
    sample line has ``doc_id``, ``filter`` (``"none"``, ``"strict-match"``, ...), ``metrics``
    (the metric names) and one field per metric (``acc``, ``acc_norm``, ``exact_match``, ...).

    Parameters
    ----------
    path : str or Path
        The output folder (with one sub-folder per model, or the files of one model directly)
        or a single ``samples_*.jsonl`` file.
    metric : str, sequence of str or mapping task -> str, optional
        Which metric becomes the score. A sequence is an order of preference (the first one a
        task has is used). Default: each task's first listed metric (``acc`` for
        multiple-choice tasks, ``exact_match`` for generation tasks).
    filter : str, optional
        Which filter's samples to use for tasks logged under several filters (e.g. GSM8K's
        ``strict-match`` and ``flexible-extract``). Default: ``"none"`` if present, else the
        first filter in the file. The chosen one is recorded in ``metric`` as ``name,filter``.
    tasks : iterable of str, optional
        Read only these tasks.

    Returns
    -------
    EvalData
        Items are ``"<task>/<doc_id>"``, models the ``model_name`` of ``results_*.json`` (else
        the folder name with ``__`` read as ``/``); models with none of the selected tasks are
        left out, tasks a model was not run on are NaN. ``subscenario`` is the task and ``scenario`` its
        top-level group from ``results_*.json`` (``group_subtasks``; e.g. ``mmlu`` for
        ``mmlu_anatomy``), or the task itself. ``metric`` maps each task to ``"name,filter"``.
        When a model has several runs of one task, the latest timestamp is used.
    """
    root = Path(path)
    if not root.exists():
        raise InvalidArgumentError(f"path: {root} does not exist; check the path")
    wanted = set(tasks) if tasks is not None else None
    runs = _harness_runs(root)
    if not runs:
        raise InvalidArgumentError(
            f"path: no samples_<task>_<timestamp>.jsonl files in {root} or its sub-folders; "
            "run lm_eval with --log_samples --output_path <folder> and pass that folder"
        )
    per_model: dict[str, dict[str, dict[str, float]]] = {}
    task_metric: dict[str, str] = {}
    group_of: dict[str, str] = {}
    for model_dir, files in runs:
        results = _latest_results(model_dir)
        model = _harness_model_name(model_dir, results)
        if model in per_model:
            raise InvalidArgumentError(
                f"path: two folders hold results of model {model!r} (the second is "
                f"{model_dir}); keep one folder per model"
            )
        group_of.update(_top_groups(results))
        scores: dict[str, dict[str, float]] = {}
        for task, file in files.items():
            if wanted is not None and task not in wanted:
                continue
            doc_scores, chosen = _read_samples_file(file, metric, filter, task)
            if task in task_metric and task_metric[task] != chosen:
                raise InvalidArgumentError(
                    f"{file}: task {task!r} was scored by {chosen!r} here but by "
                    f"{task_metric[task]!r} for another model; pass metric=... and filter=... "
                    "to choose the same for all models"
                )
            task_metric[task] = chosen
            scores[task] = doc_scores
        per_model[model] = scores
    return _harness_matrix(per_model, task_metric, group_of, root)


def _harness_runs(root: Path) -> list[tuple[Path, dict[str, Path]]]:
    """(model folder, {task: latest samples file}) for the folder and its sub-folders."""
    if root.is_file():
        m = _SAMPLES_RE.match(root.name)
        if m is None:
            raise InvalidArgumentError(f"path: {root} is not a samples_<task>_<timestamp>.jsonl")
        return [(root.parent, {m["task"]: root})]
    by_dir: dict[Path, dict[str, tuple[str, Path]]] = {}
    for file in sorted(root.rglob("samples_*.jsonl*")):
        m = _SAMPLES_RE.match(file.name)
        if m is None:
            continue
        tasks = by_dir.setdefault(file.parent, {})
        previous = tasks.get(m["task"])
        if previous is None or m["stamp"] > previous[0]:
            tasks[m["task"]] = (m["stamp"], file)
    return [
        (d, {t: f for t, (_, f) in sorted(tasks.items())}) for d, tasks in sorted(by_dir.items())
    ]


def _latest_results(model_dir: Path) -> dict[str, Any]:
    files = sorted(
        (m["stamp"], f)
        for f in model_dir.glob("results_*.json")
        if (m := _RESULTS_RE.match(f.name)) is not None
    )
    if not files:
        return {}
    file = files[-1][1]
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidArgumentError(f"{file}: is not valid JSON ({exc})") from None


def _harness_model_name(model_dir: Path, results: dict[str, Any]) -> str:
    name = results.get("model_name")
    if isinstance(name, str) and name:
        return name
    args = (results.get("config") or {}).get("model_args")
    if isinstance(args, str):
        for key in ("peft=", "delta=", "pretrained=", "model=", "path=", "engine="):
            if key in args:
                return args.split(key, 1)[1].split(",", 1)[0]
    # The harness sanitises "org/name" into the folder name "org__name".
    return model_dir.name.replace("__", "/", 1)


def _top_groups(results: dict[str, Any]) -> dict[str, str]:
    """Task -> its top-level group, from ``group_subtasks`` (group -> member tasks/groups)."""
    groups = results.get("group_subtasks") or {}
    if not isinstance(groups, dict):
        return {}
    parent = {
        member: group
        for group, members in groups.items()
        for member in members or []
        if member != group
    }
    out = {}
    for task in parent:
        top, hops = task, 0
        while top in parent and hops < 100:
            top, hops = parent[top], hops + 1
        out[task] = top
    return out


def _open_text(file: Path):
    if file.suffix == ".gz":
        return gzip.open(file, "rt", encoding="utf-8")
    return open(file, encoding="utf-8")


def _read_samples_file(
    file: Path,
    metric: str | Sequence[str] | Mapping[str, str] | None,
    filter_name: str | None,
    task: str,
) -> tuple[dict[str, float], str]:
    """{doc_id: score} for the chosen metric and filter, and the chosen ``name,filter``."""
    records: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    with _open_text(file) as fh:
        for lineno, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                rec = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InvalidArgumentError(
                    f"{file}: line {lineno} is not valid JSON ({exc.msg}); the file may be "
                    "truncated, re-run or delete it"
                ) from None
            if not isinstance(rec, dict) or "doc_id" not in rec:
                raise InvalidArgumentError(
                    f"{file}: line {lineno} has no 'doc_id'; is this a lm-evaluation-harness "
                    "samples file?"
                )
            records.setdefault(str(rec.get("filter", "none")), []).append((lineno, rec))
    if not records:
        raise ShapeError(f"{file}: the samples file is empty")
    chosen_filter = _choose_filter(records, filter_name, file)
    rows = records[chosen_filter]
    name = _choose_metric(rows[0][1], metric, task, file)
    out: dict[str, float] = {}
    for lineno, rec in rows:
        doc = str(rec["doc_id"])
        if doc in out:
            raise InvalidArgumentError(
                f"{file}: doc_id {doc} appears twice under filter {chosen_filter!r} (again at "
                f"line {lineno}); the file may hold two runs appended, keep one"
            )
        out[doc] = _metric_value(rec, name, file, lineno)
    return out, f"{name},{chosen_filter}"


def _choose_filter(
    records: dict[str, list[tuple[int, dict[str, Any]]]], wanted: str | None, file: Path
) -> str:
    if wanted is not None:
        if wanted not in records:
            raise InvalidArgumentError(
                f"{file}: no samples with filter {wanted!r}; filters present: {list(records)}"
            )
        return wanted
    return "none" if "none" in records else next(iter(records))


def _metric_names(rec: dict[str, Any]) -> list[str]:
    listed = rec.get("metrics")
    if isinstance(listed, list) and listed:
        return [str(m) for m in listed]
    return [
        k
        for k, v in rec.items()
        if k not in _HARNESS_FIELDS
        and isinstance(v, bool | int | float)
        and not k.endswith("_hash")
    ]


def _choose_metric(
    rec: dict[str, Any],
    metric: str | Sequence[str] | Mapping[str, str] | None,
    task: str,
    file: Path,
) -> str:
    available = _metric_names(rec)
    if isinstance(metric, Mapping):
        if task not in metric:
            raise InvalidArgumentError(
                f"metric: no metric given for task {task!r} ({file}); add it to the mapping "
                f"(its metrics: {available})"
            )
        prefs: list[str] = [metric[task]]
    elif isinstance(metric, str):
        prefs = [metric]
    elif metric is None:
        prefs = available[:1]
    else:
        prefs = list(metric)
    for name in prefs:
        if name in rec:
            return name
    raise InvalidArgumentError(
        f"{file}: task {task!r} has no metric {prefs if prefs else ''}; its samples have "
        f"metrics {available}; pass metric=... naming one of them"
    )


def _metric_value(rec: dict[str, Any], name: str, file: Path, lineno: int) -> float:
    value = rec.get(name)
    if isinstance(value, bool | int | float) and not isinstance(value, complex):
        return float(value)
    if value is None and name in rec:
        return np.nan
    raise InvalidArgumentError(
        f"{file}: line {lineno}: metric {name!r} is {type(value).__name__} {str(value)[:40]!r}, "
        "not a number; per-sample values of corpus metrics (bleu, perplexity) cannot be used "
        "as item scores, choose a per-item metric with metric=..."
    )


def _harness_matrix(
    per_model: dict[str, dict[str, dict[str, float]]],
    task_metric: dict[str, str],
    group_of: dict[str, str],
    root: Path,
) -> EvalData:
    # Item order: tasks sorted by (group, task), documents in the order first seen.
    tasks = sorted(task_metric, key=lambda t: (group_of.get(t, t), t))
    docs: dict[str, dict[str, None]] = {t: {} for t in tasks}
    for scores in per_model.values():
        for task, doc_scores in scores.items():
            docs[task].update(dict.fromkeys(doc_scores))
    items = [f"{t}/{d}" for t in tasks for d in docs[t]]
    if not items:
        raise ShapeError(f"path: no samples were read from {root}; check the tasks= filter")
    column = {item: j for j, item in enumerate(items)}
    # A model none of whose tasks were selected has no row.
    models = [m for m, scores in per_model.items() if scores]
    matrix = np.full((len(models), len(items)), np.nan)
    for r, model in enumerate(models):
        for task, doc_scores in per_model[model].items():
            cols = [column[f"{task}/{d}"] for d in doc_scores]
            matrix[r, cols] = list(doc_scores.values())
    sub = np.asarray([t for t in tasks for _ in docs[t]], dtype=object)
    scen = np.asarray([group_of.get(t, t) for t in tasks for _ in docs[t]], dtype=object)
    return EvalData(
        scores=matrix,
        models=models,
        items=items,
        scenario=scen,
        subscenario=sub,
        metric=dict(task_metric),
        source=str(root),
    )


# --------------------------------------------------------------------------------------------
# Writers


def write_item_subset(
    path: str | Path,
    items: Sequence[str],
    *,
    weights: Sequence[float] | np.ndarray | None = None,
    scenario: Sequence[str] | np.ndarray | None = None,
) -> Path:
    """Save a chosen item subset (e.g. tiny anchors) as CSV (``.csv``) or JSON (``.json``).

    Columns / keys: ``item``, and ``weight`` and ``scenario`` when given.
    """
    frame = pd.DataFrame({"item": [str(i) for i in items]})
    if weights is not None:
        frame["weight"] = _same_length(weights, len(items), "weights", float)
    if scenario is not None:
        frame["scenario"] = _same_length(scenario, len(items), "scenario", str)
    return _write_frame(frame, path)


def read_item_subset(path: str | Path) -> pd.DataFrame:
    """Read a file written by :func:`write_item_subset` (columns item[, weight, scenario])."""
    frame = _read_frame_file(path)
    if "item" not in frame.columns:
        raise InvalidArgumentError(f"{path}: has no 'item' column; is it an item subset file?")
    frame["item"] = frame["item"].astype(str)
    return frame


def write_item_parameters(
    path: str | Path,
    items: Sequence[str],
    a: np.ndarray,
    b: np.ndarray,
    *,
    scenario: Sequence[str] | np.ndarray | None = None,
) -> Path:
    """Save fitted item parameters as CSV or JSON: ``item``, ``b``, ``a_1`` .. ``a_D``[, scenario].

    ``a`` is (n_items,) or (n_items, D), ``b`` is (n_items,), in the convention
    P(correct) = sigmoid(a . theta - b).
    """
    a = np.asarray(a, dtype=np.float64)
    a = a[:, None] if a.ndim == 1 else a
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != len(items) or b.shape != (len(items),):
        raise ShapeError(
            f"a, b: need a of shape (n_items, D) and b of shape (n_items,) for {len(items)} "
            f"items, got {a.shape} and {b.shape}"
        )
    frame = pd.DataFrame({"item": [str(i) for i in items], "b": b})
    for d in range(a.shape[1]):
        frame[f"a_{d + 1}"] = a[:, d]
    if scenario is not None:
        frame["scenario"] = _same_length(scenario, len(items), "scenario", str)
    return _write_frame(frame, path)


def read_item_parameters(path: str | Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read a file written by :func:`write_item_parameters`: (items, a (n, D), b (n,))."""
    frame = _read_frame_file(path)
    a_cols = sorted(
        (c for c in frame.columns if re.fullmatch(r"a_\d+", str(c))), key=lambda c: int(c[2:])
    )
    if "item" not in frame.columns or "b" not in frame.columns or not a_cols:
        raise InvalidArgumentError(
            f"{path}: needs columns item, b, a_1[, a_2 ...]; found {list(frame.columns)}"
        )
    a = frame[a_cols].to_numpy(dtype=np.float64)
    return frame["item"].astype(str).tolist(), a, frame["b"].to_numpy(dtype=np.float64)


def _same_length(values: Any, n: int, name: str, kind: type) -> list[Any]:
    out = [kind(v) for v in values]
    if len(out) != n:
        raise ShapeError(f"{name}: has {len(out)} entries for {n} items; pass one per item")
    return out


def _write_frame(frame: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        path.write_text(json.dumps(frame.to_dict(orient="records"), indent=1) + "\n")
    elif suffix in (".csv", ".tsv"):
        frame.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    else:
        raise InvalidArgumentError(f"path: {path} must end in .csv, .tsv or .json")
    return path


def _read_frame_file(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if path.suffix.lower() == ".json":
        try:
            return pd.DataFrame(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            raise InvalidArgumentError(f"{path}: could not be read ({exc})") from None
    return _read_table(path)


# --------------------------------------------------------------------------------------------
# Small helpers


def _check_unique(names: Sequence[str], where: str, what: str) -> None:
    if len(set(names)) != len(names):
        seen: set[str] = set()
        dup = next(n for n in names if n in seen or seen.add(n))  # type: ignore[func-returns-value]
        raise InvalidArgumentError(f"{where}: {what} must be unique; {dup!r} appears twice")


def _positions(names: Sequence[str], wanted: Sequence[str], what: str) -> np.ndarray:
    index = {n: i for i, n in enumerate(names)}
    missing = [w for w in wanted if w not in index]
    if missing:
        raise InvalidArgumentError(
            f"{what}: {len(missing)} unknown name(s), e.g. {list(missing[:3])}; use names from "
            f"EvalData.{what}"
        )
    return np.asarray([index[w] for w in wanted], dtype=np.intp)
