"""Result objects in the style of scipy.stats: frozen dataclasses that print readably and
convert to plain dicts (numpy arrays become lists in ``to_dict(json_safe=True)``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class ConfidenceInterval:
    """A two-sided interval; ``low``/``high`` are floats or arrays of the same shape."""

    low: Any
    high: Any

    def __iter__(self):
        return iter((self.low, self.high))


def _json_safe(value: Any) -> Any:
    """Plain Python values for JSON: arrays become lists, NaN becomes None and +-inf the
    largest float (JSON has neither), recursively through dicts, lists and dataclasses."""
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json_safe(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, float) and not np.isfinite(value):
        return None if np.isnan(value) else (1e308 if value > 0 else -1e308)
    return value


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=6, threshold=8, edgeitems=3)
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


@dataclasses.dataclass(frozen=True, repr=False)
class Result:
    """Base class: ``repr`` lists every field compactly, ``to_dict`` converts to a dict."""

    def to_dict(self, json_safe: bool = False) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return _json_safe(out) if json_safe else out

    def to_frame(self, backend: str = "pandas") -> Any:
        """The result as a table: one row per entry of its first field, one column per field.

        The first field is the result's statistic: a scalar gives one row, a vector (one
        value per model, say) one row per entry, a matrix (per pair of models) one row per
        cell with its position in columns ``i`` and ``j``. Every field of the same shape
        becomes a column; scalars repeat on every row; a confidence interval gives two
        columns, ``<name>_low`` and ``<name>_high``. Fields of another shape (bootstrap
        distributions, per-item arrays) are left out: :meth:`to_dict` holds everything.

        Parameters
        ----------
        backend : {"pandas", "polars"}, default "pandas"
            The table library (the ``[io]`` extra installs pandas).
        """
        return frame_from_columns(self._table_columns(), backend)

    def _table_columns(self) -> dict[str, Any]:
        flat: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, ConfidenceInterval):
                flat[f"{f.name}_low"], flat[f"{f.name}_high"] = value.low, value.high
            else:
                flat[f.name] = value
        shape = _cell_shape(next(iter(flat.values()), None)) or ()
        n_rows = int(np.prod(shape))
        table: dict[str, Any] = {}
        if len(shape) == 2:
            table["i"], table["j"] = (idx.ravel().tolist() for idx in np.indices(shape))
        for name, value in flat.items():
            if _cell_shape(value) == shape:
                table[name] = np.asarray(value).ravel().tolist() if shape else [_scalar(value)]
            elif _cell_shape(value) == ():
                table[name] = [_scalar(value)] * n_rows
        return table

    def __repr__(self) -> str:
        body = ",\n".join(
            f"    {f.name}={_short(getattr(self, f.name))}" for f in dataclasses.fields(self)
        )
        return f"{type(self).__name__}(\n{body}\n)"


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _cell_shape(value: Any) -> tuple[int, ...] | None:
    """The shape of a field as table cells: () for a scalar, the array's shape for a numeric,
    boolean or string array (or list), None for anything else (dicts, tables, objects)."""
    if value is None or isinstance(value, bool | int | float | str | np.generic):
        return ()
    if isinstance(value, np.ndarray | list | tuple):
        arr = np.asarray(value) if not isinstance(value, np.ndarray) else value
        if arr.dtype.kind in "biufUSb" and arr.ndim >= 1:
            return arr.shape
    return None


def frame_from_columns(columns: dict[str, Any], backend: str = "pandas") -> Any:
    """A pandas or polars DataFrame from equal-length columns (the libraries are optional:
    the error names the extra that installs them)."""
    from ._optional import require
    from .exceptions import InvalidArgumentError

    if backend not in ("pandas", "polars"):
        raise InvalidArgumentError(f"backend: must be 'pandas' or 'polars', got {backend!r}")
    library = require(backend, f"to_frame(backend={backend!r})", extra="io")
    return library.DataFrame(columns)
