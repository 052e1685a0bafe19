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

    def __repr__(self) -> str:
        body = ",\n".join(
            f"    {f.name}={_short(getattr(self, f.name))}" for f in dataclasses.fields(self)
        )
        return f"{type(self).__name__}(\n{body}\n)"
