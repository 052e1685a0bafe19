"""Readers and writers for evaluation results.

Every reader returns an :class:`EvalData`: a models x items score matrix (float64, NaN =
missing) with model and item names and optional per-item scenario / sub-scenario labels.

Supported inputs (:func:`read_results` detects which, or takes ``format=``):

* a **wide matrix** (CSV, TSV or parquet file, or a pandas / polars / pyarrow table): one row
  per model, one column per item; the model names are a ``model`` column or the first column /
  the index;
* a **long table** (CSV, TSV, parquet or a table) with columns ``model``, ``item``, ``score``
  and optionally ``scenario``, ``subscenario`` and ``metric``;
* an **lm-evaluation-harness** ``--log_samples`` output folder (:func:`read_lm_eval_harness`):
  per-task ``samples_<task>_<timestamp>.jsonl`` files, in one sub-folder per model next to
  that model's ``results_<timestamp>.json``;
* **Open LLM Leaderboard** details datasets (:func:`read_open_llm_leaderboard`): harness
  output with ``samples_leaderboard_<task>_<timestamp>.jsonl`` files;
* **HELM** suite folders (:func:`read_helm`): ``benchmark_output/runs/<suite>/<run>/`` with
  ``run_spec.json`` and ``per_instance_stats.json``;
* **Inspect AI** logs (:func:`read_inspect`): ``.eval`` archives or ``.json`` EvalLogs;
* **lighteval** details (:func:`read_lighteval`):
  ``details/<model>/<timestamp>/details_<task>_<timestamp>.parquet``.

:func:`read_table` reads any other CSV/TSV/parquet table (covariates, prices, features,
human labels) with the same label handling and errors.

Writers save item subsets (:func:`write_item_subset`) and fitted item parameters
(:func:`write_item_parameters`) as CSV or JSON, with matching readers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .._optional import require
from .evaldata import EvalData

if TYPE_CHECKING:
    from .helm import read_helm
    from .inspect_logs import read_inspect
    from .lighteval import read_lighteval
    from .lm_eval import read_lm_eval_harness
    from .open_llm_leaderboard import read_open_llm_leaderboard
    from .results import FORMATS, read_results
    from .subsets import (
        read_item_parameters,
        read_item_subset,
        write_item_parameters,
        write_item_subset,
    )
    from .tables import read_long, read_table, read_wide

__all__ = [
    "FORMATS",
    "EvalData",
    "read_helm",
    "read_inspect",
    "read_item_parameters",
    "read_item_subset",
    "read_lighteval",
    "read_lm_eval_harness",
    "read_long",
    "read_open_llm_leaderboard",
    "read_results",
    "read_table",
    "read_wide",
    "write_item_parameters",
    "write_item_subset",
]

# The readers and writers need pandas (the [io] extra); they load on first use so that
# EvalData, which every capability takes, works on a bare install (numpy and scipy only).
_SUBMODULE_OF = {
    "FORMATS": "results",
    "read_results": "results",
    "read_helm": "helm",
    "read_inspect": "inspect_logs",
    "read_lighteval": "lighteval",
    "read_lm_eval_harness": "lm_eval",
    "read_open_llm_leaderboard": "open_llm_leaderboard",
    "read_item_parameters": "subsets",
    "read_item_subset": "subsets",
    "write_item_parameters": "subsets",
    "write_item_subset": "subsets",
    "read_long": "tables",
    "read_table": "tables",
    "read_wide": "tables",
}


def __getattr__(name: str) -> Any:
    submodule = _SUBMODULE_OF.get(name)
    if submodule is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    require("pandas", f"calipers.io.{name}")
    value = getattr(importlib.import_module(f"{__name__}.{submodule}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
