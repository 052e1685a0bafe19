"""Readers for the public Sloth and latent-variable scaling tables (a path the user passes).

The tables are the Open LLM Leaderboard extracts the papers used (MIT, redistributed by the
papers' repositories); calipers ships none of them. Only the standard library's ``csv`` module
is used, so no optional dependency is needed.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from typing import Any

import numpy as np

from .._results import Result
from ..exceptions import InvalidArgumentError
from ._protocol import BENCHMARKS_V1, BENCHMARKS_V2, translog_features

__all__ = ["ScalingTable", "load_sloth_table"]


@dataclasses.dataclass(frozen=True, repr=False)
class ScalingTable(Result):
    """One complete-case table ready for :class:`SkillScalingLaw` and the protocol.

    Attributes
    ----------
    models, families : ndarray of str, shape (n,)
    size, tokens, flops : ndarray, shape (n,)
        Parameters (billions), pre-training tokens (trillions), FLOPs (1e21).
    features : ndarray, shape (n, 3)
        :func:`translog_features` of (size, tokens).
    scores : ndarray, shape (n, J)
        Scores in [0, 1] (NaN where missing).
    benchmarks : tuple of str
    """

    models: np.ndarray
    families: np.ndarray
    size: np.ndarray
    tokens: np.ndarray
    flops: np.ndarray
    features: np.ndarray
    scores: np.ndarray
    benchmarks: tuple[str, ...]


def _read_rows(path: Any, name: str) -> list[dict[str, str]]:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InvalidArgumentError(f"{name}: no file at {path!r}; pass the path of the CSV table")
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _number(text: str) -> float:
    try:
        return float(text) if text.strip() != "" else np.nan
    except ValueError:
        return np.nan


def load_sloth_table(
    path: Any,
    benchmarks: str | list[str] = "v2",
    *,
    family_column: str = "Family2",
    min_models: int = 2,
    complete: bool = True,
) -> ScalingTable:
    """Read the Sloth table (``data_v2.csv`` of the Sloth repository) as in the paper.

    Parameters
    ----------
    path : path-like
        The CSV file.
    benchmarks : "v1", "v2", "v1+v2" or list of str
        Leaderboard v1 (MMLU, ARC, HellaSwag, Winogrande, TruthfulQA, GSM8K), v2 (IFEval, BBH,
        MATH Lvl 5, GPQA, MUSR, MMLU-PRO), both, or column names.
    family_column : str
        ``"Family2"`` (the paper's finer families: base, instruct and fine-tune lines apart)
        or ``"Family"``.
    min_models : int
        Families with fewer complete rows are dropped (the paper: 2 or 3).
    complete : bool
        Keep only rows complete on the benchmarks (the paper's choice); otherwise missing
        scores stay NaN and only size and tokens must be present.

    Returns
    -------
    ScalingTable
        Rows sorted by family, then size (stable), as the paper's protocol expects.
    """
    if isinstance(benchmarks, str):
        sets = {
            "v1": BENCHMARKS_V1,
            "v2": BENCHMARKS_V2,
            "v1+v2": BENCHMARKS_V1 + BENCHMARKS_V2,
        }
        if benchmarks not in sets:
            raise InvalidArgumentError(
                f"benchmarks: expected 'v1', 'v2', 'v1+v2' or a list of columns, got {benchmarks!r}"
            )
        bench = tuple(sets[benchmarks])
    else:
        bench = tuple(benchmarks)
    rows = _read_rows(path, "path")
    if not rows:
        raise InvalidArgumentError(f"path: {os.fspath(path)!r} has no rows")
    needed = ("Model", family_column, "#Params (B)", "Pretraining Data Size (T)", *bench)
    missing = [c for c in needed if c not in rows[0]]
    if missing:
        raise InvalidArgumentError(
            f"path: the table lacks the columns {missing}; pass the Sloth data_v2.csv or "
            "name existing columns in benchmarks/family_column"
        )
    model = np.array([r["Model"] for r in rows], dtype=object)
    fam = np.array([r[family_column] for r in rows], dtype=object)
    size = np.array([_number(r["#Params (B)"]) for r in rows])
    tokens = np.array([_number(r["Pretraining Data Size (T)"]) for r in rows])
    flops_col = "FLOPs (1E21)" if "FLOPs (1E21)" in rows[0] else None
    flops = np.array([_number(r[flops_col]) for r in rows]) if flops_col else 6.0 * size * tokens
    scores = np.array([[_number(r[b]) for b in bench] for r in rows], dtype=np.float64)
    keep = np.isfinite(size) & np.isfinite(tokens) & (size > 0) & (tokens > 0)
    keep &= np.array([f.strip() != "" for f in fam])
    keep &= np.isfinite(flops) & (flops > 0)
    if complete:
        keep &= np.all(np.isfinite(scores), axis=1)
    idx = np.flatnonzero(keep)
    uniq, counts = np.unique(fam[idx], return_counts=True)
    ok = set(uniq[counts >= min_models].tolist())
    idx = np.array([i for i in idx if fam[i] in ok], dtype=np.intp)
    order = sorted(idx.tolist(), key=lambda i: (fam[i], size[i]))
    idx = np.array(order, dtype=np.intp)
    return ScalingTable(
        models=model[idx].astype(str),
        families=fam[idx].astype(str),
        size=size[idx],
        tokens=tokens[idx],
        flops=flops[idx],
        features=translog_features(size[idx], tokens[idx]),
        scores=scores[idx],
        benchmarks=bench,
    )
