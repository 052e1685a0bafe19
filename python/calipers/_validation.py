"""Input validation and conversion shared by every capability.

The Rust core expects C-contiguous float64 (or uint8) arrays and plain scalars; these helpers
produce them and raise errors that name the argument and the fix.
"""

from __future__ import annotations

import numbers
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike as ArrayLike  # the annotation of array arguments

from .exceptions import InvalidArgumentError, MemoryBudgetError, NonFiniteError, ShapeError

NanPolicy = Literal["raise", "omit", "propagate"]
_SEED_BITS = 64
_MAX_COUNT = 2**63 - 1


def as_float_array(
    x: Any,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    allow_empty: bool = False,
    finite: bool = True,
) -> np.ndarray:
    """Return ``x`` as a C-contiguous float64 array after checking ndim, emptiness, finiteness."""
    reject_complex(x, name)
    if isinstance(x, list | tuple):
        ndim_of(x, name)  # a ragged list gets its own message
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidArgumentError(f"{name}: could not convert to a float array ({exc})") from None
    # ndim is checked before making the array contiguous: np.ascontiguousarray turns a scalar
    # into a one-element array, which would silently accept 3.0 as a sample.
    check_ndim(arr, name, ndim)
    arr = np.ascontiguousarray(arr) if arr.ndim else arr
    if not allow_empty and arr.size == 0:
        raise ShapeError(f"{name}: is empty; pass at least one value")
    if finite:
        check_finite(arr, name)
    return arr


def ndim_of(x: Any, name: str) -> int:
    """``np.ndim(x)``, with a ragged nested list reported as an error naming ``name``."""
    try:
        return int(np.ndim(x))
    except ValueError:
        raise InvalidArgumentError(
            f"{name}: is a ragged nested sequence (rows of different lengths); pass a "
            "rectangular array, or a list of 1-D arrays where several samples are allowed"
        ) from None


def reject_complex(x: Any, name: str) -> None:
    """Raise InvalidArgumentError for complex input, which float conversion would truncate."""
    try:
        is_complex = np.iscomplexobj(x)
    except (TypeError, ValueError):  # ragged or odd input: the float conversion reports it
        return
    if is_complex:
        raise InvalidArgumentError(
            f"{name}: has complex values; pass real numbers (e.g. x.real or abs(x))"
        )


def as_labels(x: Any, name: str, n: int | None = None, *, what: str = "row") -> np.ndarray:
    """A 1-D array of labels or ids (ints, strings, ...), one per ``what`` when ``n`` is given.

    Labels are compared for equality, so a NaN or infinite float label (which never equals
    itself, or marks a missing value) and complex values are refused by name.
    """
    if isinstance(x, list | tuple):
        ndim_of(x, name)  # a ragged list gets its own message
    reject_complex(x, name)
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"{name}: could not convert to an array of labels ({exc})"
        ) from None
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        want = f"one label per {what}" + (f" ({n})" if n is not None else "")
        raise ShapeError(f"{name}: has shape {arr.shape}; pass a 1-D array with {want}")
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
    elif arr.dtype.kind == "O":
        bad = np.array([isinstance(v, float) and not np.isfinite(v) for v in arr], dtype=bool)
    else:
        return arr
    if bad.any():
        raise InvalidArgumentError(
            f"{name}: has {int(bad.sum())} NaN/inf label(s), the first at index "
            f"{int(np.argmax(bad))}; give every {what} a label (or drop the unlabelled ones)"
        )
    return arr


def numeric_column(values: Any, name: str, fix: str) -> np.ndarray:
    """One column of a table (pandas, Arrow or object-backed) as float64; an entry that is not
    a number is reported by row and value (float conversion only says it could not convert)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return values.astype(np.float64)
    column = np.asarray(values, dtype=object)
    try:
        return np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError):
        pass
    for row, value in enumerate(column):
        try:
            float(value)
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"{name}: row {row} (counting from 0) holds {value!r}, not a number; {fix}"
            ) from None
    raise AssertionError("unreachable: every entry converted on its own")


def numeric_columns(frame: Any, name: str, fix: str, source: str = "") -> np.ndarray:
    """Every column of a DataFrame as one float64 matrix (rows × columns); a non-numeric entry
    is reported through :func:`numeric_column` as ``{name}: column `c` of {source}`` (never
    dropped)."""
    where = f" of {source}" if source else ""
    if frame.shape[1] == 0:
        raise InvalidArgumentError(f"{name}: {source or 'the table'} has no value columns; {fix}")
    return np.column_stack(
        [
            numeric_column(frame[c].to_numpy(), f"{name}: column `{c}`{where}", fix)
            for c in frame.columns
        ]
    )


def check_ndim(arr: np.ndarray, name: str, ndim: int | tuple[int, ...] | None) -> None:
    """Raise ShapeError unless ``arr.ndim`` is one of ``ndim``."""
    if ndim is None:
        return
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in allowed:
        want = " or ".join(f"{d}-D" for d in allowed)
        if arr.ndim == 0:
            raise ShapeError(
                f"{name}: expected a {want} array, got a scalar; pass an array (e.g. [x] for "
                "one value)"
            )
        raise ShapeError(f"{name}: expected a {want} array, got shape {arr.shape}")


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise NonFiniteError naming the first NaN/inf position."""
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        n_bad = int(bad.sum())
        pos = where[0] if len(where) == 1 else where
        raise NonFiniteError(
            f"{name}: has {n_bad} NaN/inf value(s), the first at index {pos}; "
            "remove or impute them (or pass nan_policy='omit' where supported)"
        )


def check_nan_policy(nan_policy: str) -> NanPolicy:
    if nan_policy not in ("raise", "omit", "propagate"):
        raise InvalidArgumentError(
            f"nan_policy: got {nan_policy!r}; use 'raise', 'omit' or 'propagate'"
        )
    return nan_policy  # type: ignore[return-value]


def as_weights(w: Any, name: str, n: int, *, ndim: int = 1) -> np.ndarray | None:
    """Validate optional non-negative weights of length ``n`` (last axis); None stays None."""
    if w is None:
        return None
    arr = as_float_array(w, name, ndim=ndim)
    if arr.shape[-1] != n:
        raise ShapeError(
            f"{name}: has length {arr.shape[-1]} but {n} values were given; pass one weight per value"
        )
    if (arr < 0).any():
        raise InvalidArgumentError(f"{name}: has negative entries; weights must be >= 0")
    # The largest weight, not the sum: weights near 1e308 are valid and their sum overflows.
    if np.any(arr.max(axis=-1) <= 0):
        raise InvalidArgumentError(f"{name}: all weights are zero; at least one must be positive")
    return arr


def check_scalar(
    x: Any,
    name: str,
    *,
    kind: type = float,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> Any:
    """Check a scalar's type and range, returning it converted to ``kind``."""
    want = numbers.Integral if kind is int else numbers.Real
    if isinstance(x, bool) or not isinstance(x, want):
        raise InvalidArgumentError(
            f"{name}: expected {kind.__name__}, got {type(x).__name__} ({x!r})"
        )
    value = kind(x)
    if kind is int and high is None:
        high = _MAX_COUNT  # a larger count could not reach the core (64-bit) anyway
    if kind is float and not np.isfinite(value):
        raise InvalidArgumentError(f"{name}: must be finite, got {value}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        op = ">=" if low_inclusive else ">"
        raise InvalidArgumentError(f"{name}: must be {op} {low}, got {value}")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        op = "<=" if high_inclusive else "<"
        raise InvalidArgumentError(f"{name}: must be {op} {high}, got {value}")
    return value


def check_open_unit(x: Any, name: str) -> float:
    """A level or probability strictly between 0 and 1 (``alpha``, ``confidence_level``)."""
    return check_scalar(x, name, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)


def seed_from_rng(rng: Any, name: str = "rng") -> int:
    """Reduce ``rng`` (None, int, or numpy Generator/SeedSequence) to one 64-bit seed.

    None draws fresh entropy, so results differ between calls; pass an int for
    reproducibility. A Generator is advanced by one draw, like any other consumer. Integer
    seeds must lie in [0, 2**64): a larger one would otherwise wrap onto a small seed's stream.
    ``name`` is the argument's name in the caller (``rng`` or ``random_state``).
    """
    if rng is None:
        return int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0])
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**_SEED_BITS, dtype=np.uint64))
    if isinstance(rng, np.random.SeedSequence):
        return int(rng.generate_state(1, dtype=np.uint64)[0])
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        seed = int(rng)
        if not 0 <= seed < 2**_SEED_BITS:
            raise InvalidArgumentError(
                f"{name}: seed must be in [0, 2**64), got {rng}; pass a smaller int or a "
                "numpy.random.Generator"
            )
        return seed
    raise InvalidArgumentError(
        f"{name}: expected None, an int seed or a numpy.random.Generator, got {type(rng).__name__}"
    )


def _format_bytes(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def check_memory(n_bytes: float, name: str, fix: str) -> None:
    """Raise MemoryBudgetError naming ``name`` when ``n_bytes`` exceeds the memory budget.

    The budget is the machine's physical memory or ``CALIPERS_MAX_MEMORY`` (the same rule as
    the Rust core's), so Python-side allocations are refused before numpy aborts or swaps.
    """
    from . import _core

    budget = _core.memory_budget()
    if n_bytes > budget:
        raise MemoryBudgetError(
            f"{name}: would need {_format_bytes(n_bytes)} of memory, more than the "
            f"{_format_bytes(budget)} available (set CALIPERS_MAX_MEMORY to change the limit); "
            f"{fix}"
        )
