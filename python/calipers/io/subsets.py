"""Writers (and matching readers) for item subsets and fitted item parameters."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InvalidArgumentError, ShapeError
from .tables import _read_table

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
    """Save fitted item parameters as CSV or JSON: columns ``item``, ``b``, ``a_1`` to ``a_D``
    and ``scenario`` when given.

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
