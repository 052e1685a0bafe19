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

from pathlib import Path
from typing import Any

import pandas as pd

from ..exceptions import InvalidArgumentError
from .evaldata import EvalData
from .lm_eval import _SAMPLES_RE, read_lm_eval_harness
from .subsets import (
    read_item_parameters,
    read_item_subset,
    write_item_parameters,
    write_item_subset,
)
from .tables import (
    LONG_COLUMNS,
    _long_from_frame,
    _read_table,
    _wide_from_frame,
    read_long,
    read_wide,
)

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
