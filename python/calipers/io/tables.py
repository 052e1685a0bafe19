"""Tables: long (model, item, score, ...) and wide (one row per model) CSV/TSV/parquet files
and DataFrames."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._validation import numeric_column
from ..exceptions import InvalidArgumentError, ShapeError
from .evaldata import EvalData, _check_unique, as_pandas, is_table

LONG_COLUMNS = ("model", "item", "score")
_TABLE_SUFFIXES = {".csv", ".tsv", ".txt", ".parquet", ".pq"}


def read_table(
    path: str | Path, *, argument: str = "source", columns: Sequence[str] = ()
) -> pd.DataFrame:
    """Read a CSV, TSV or parquet file as a DataFrame, the way the result readers do.

    For the side tables of the command line and of the estimators (judge scores and human
    labels, template covariates, routing features and prices): label columns (``model``,
    ``item``, ``template``, ...) are kept as text exactly as written, so the same names match
    across files; errors name ``argument`` and say what to fix.

    Parameters
    ----------
    path : str or Path
    argument : str
        The argument or option the file was given as, used in error messages.
    columns : sequence of str
        Columns the table must have.
    """
    path = Path(path)
    frame = _read_table(path, argument)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidArgumentError(
            f"{argument}: {path} lacks column(s) {missing}; it has {list(frame.columns)}"
        )
    return frame


def _read_table(path: Path, argument: str = "source") -> pd.DataFrame:
    if not path.is_file():
        what = "is a folder, not a table file" if path.is_dir() else "does not exist"
        raise InvalidArgumentError(f"{argument}: {path} {what}; check the path")
    suffix = path.suffix.lower()
    if suffix not in _TABLE_SUFFIXES:
        raise InvalidArgumentError(
            f"{argument}: cannot tell the format of {path} from its suffix {suffix!r}; use a "
            ".csv, .tsv or .parquet file, a lm-evaluation-harness output folder, or a DataFrame"
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
_LABEL_COLUMNS = (
    "model", "item", "scenario", "subscenario", "metric", "template", "prompt", "example", "rater",
)  # fmt: skip
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
    source : str, Path or table
        CSV/TSV/parquet file, or a pandas, polars or pyarrow table (converted with its own
        ``to_pandas``).
    model_column : str, optional
        The column holding model names. Default: a column named ``model`` if there is one,
        else the first column of a file or a polars / pyarrow table (the index of a pandas
        DataFrame).
    scenario, subscenario : mapping item -> label, or sequence of labels, optional
        Per-item labels (a mapping must cover every item).
    metric : str, optional
        Name of the metric the scores measure (kept on the result).

    Returns
    -------
    EvalData
    """
    if is_table(source):
        # polars and pyarrow tables have no index: their models are a column, as in a file.
        has_index = isinstance(source, pd.DataFrame)
        return _wide_from_frame(
            as_pandas(source),
            f"<{type(source).__name__}>",
            model_column=model_column,
            scenario=scenario,
            subscenario=subscenario,
            metric=metric,
            index_is_model=model_column is None and has_index,
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
    source : str, Path or table
        CSV/TSV/parquet file, or a pandas, polars or pyarrow table, with columns ``model``,
        ``item``, ``score`` and optionally ``scenario``, ``subscenario``, ``metric``.
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
    if is_table(source):
        frame = as_pandas(source)
        return _long_from_frame(frame, "<DataFrame>", metric=metric, columns=columns)
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


def _parse_score(v: Any) -> tuple[float, str]:
    """One cell as (value, "bool" or "number"); ValueError when it is neither."""
    if isinstance(v, bool | np.bool_):
        return float(v), "bool"
    if isinstance(v, int | float | np.integer | np.floating):
        return float(v), "number"
    text = str(v).strip()
    if text.lower() in ("true", "false"):
        return float(text.lower() == "true"), "bool"
    return float(text), "number"


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
        try:
            out[r], kind = _parse_score(v)
        except ValueError:
            row = f"row {line[r]}" if line is not None else f"model {models.iloc[r]!r}"
            raise InvalidArgumentError(
                f"{where}: {what} has a non-numeric score {v!r} at {row}; scores must be "
                "numbers (or true/false); convert or drop that row"
            ) from None
        kinds.add(kind)
    if len(kinds) > 1:
        raise InvalidArgumentError(
            f"{where}: {what} mixes booleans and numbers; use one type (e.g. 0/1) throughout"
        )
    return out


# --------------------------------------------------------------------------------------------
# Multi-prompt cells (template x example per model)


def _prompt_column(frame: Any, names: tuple[str, ...], what: str, path: str) -> str:
    for n in names:
        if n in frame.columns:
            return n
    raise InvalidArgumentError(
        f"TABLE: {path} has no {what} column (one of {list(names)}); it has {list(frame.columns)}"
    )


def prompt_cells(
    frame: pd.DataFrame, path: Any = "TABLE"
) -> tuple[np.ndarray, list[str], list[Any], list[Any]]:
    """The cells of a multi-prompt long table as ``(Y, models, templates, examples)``, ``Y``
    being models × templates × examples with NaN for cells not evaluated.

    Columns: ``template`` (or ``prompt``), ``example`` (or ``item``), ``score`` and
    optionally ``model`` (one model called "model" otherwise); one row per evaluated cell.
    Used by ``calipers prompts estimate`` and by ``calipers report`` on such a table.
    """
    t_col = _prompt_column(frame, ("template", "prompt"), "template", path)
    e_col = _prompt_column(frame, ("example", "item"), "example", path)
    if "score" not in frame.columns:
        raise InvalidArgumentError(f"TABLE: {path} has no `score` column")
    if len(frame) == 0:
        raise InvalidArgumentError(f"TABLE: {path} has no rows; give one row per evaluated cell")
    models = sorted(frame["model"].astype(str).unique()) if "model" in frame.columns else ["model"]
    templates = sorted(frame[t_col].unique(), key=str)
    examples = sorted(frame[e_col].unique(), key=str)
    t_index = {t: i for i, t in enumerate(templates)}
    e_index = {e: i for i, e in enumerate(examples)}
    m_index = {m: i for i, m in enumerate(models)}
    keys = [t_col, e_col] + (["model"] if "model" in frame.columns else [])
    if frame.duplicated(subset=keys).any():
        raise InvalidArgumentError(
            f"TABLE: {path} lists a (template, example{', model' if len(keys) == 3 else ''}) "
            "cell twice; give one row per evaluated cell"
        )
    Y = np.full((len(models), len(templates), len(examples)), np.nan)
    mi = (
        frame["model"].astype(str).map(m_index).to_numpy()
        if "model" in frame.columns
        else np.zeros(len(frame), dtype=int)
    )
    ti = frame[t_col].map(t_index).to_numpy()
    ei = frame[e_col].map(e_index).to_numpy()
    scores = numeric_column(
        frame["score"].to_numpy(),
        "TABLE: column `score`",
        f"scores in {path} are numbers in [0, 1] (1 = correct); convert or drop that row",
    )
    if not np.isfinite(scores).all():
        raise InvalidArgumentError(
            f"TABLE: {path}: `score` has missing or infinite values; drop those rows"
        )
    Y[mi, ti, ei] = scores
    return Y, models, templates, examples
