"""Multiple-testing adjustments shared by every module: Holm and Benjamini–Hochberg.

Both take a 1-D array of p-values of one family of tests and return the adjusted p-values in
the same order (reject hypothesis k at level α when ``adjusted[k] < α``, or ``<=`` as the
caller documents). O(n log n) time, a few arrays of n floats.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _as_pvalues(pvalues: Any) -> np.ndarray:
    return np.asarray(pvalues, dtype=np.float64).reshape(-1)


def holm(pvalues: Any) -> np.ndarray:
    """Holm's step-down adjustment (family-wise error rate).

    Sort ascending, multiply the k-th smallest (k from 1) by n − k + 1, make the sequence
    non-decreasing, cap at 1. Ties keep their input order (a stable sort), which leaves the
    adjusted values unchanged.
    """
    p = _as_pvalues(pvalues)
    n = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, np.maximum.accumulate((n - np.arange(n)) * p[order]))
    out = np.empty(n)
    out[order] = stepped
    return out


def benjamini_hochberg(pvalues: Any) -> np.ndarray:
    """Benjamini–Hochberg step-up adjustment (false discovery rate, independent or PRDS tests).

    Sort ascending, multiply the k-th smallest by n / k, take the running minimum from the
    largest down, cap at 1.
    """
    p = _as_pvalues(pvalues)
    n = p.size
    order = np.argsort(p, kind="stable")
    scaled = p[order] * n / np.arange(1, n + 1)
    stepped = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    out = np.empty(n)
    out[order] = stepped
    return out


def adjust(pvalues: Any, correction: str) -> np.ndarray:
    """``holm``, ``bh`` (Benjamini–Hochberg), ``bonferroni`` or ``none`` by name."""
    p = _as_pvalues(pvalues)
    if correction == "holm":
        return holm(p)
    if correction == "bh":
        return benjamini_hochberg(p)
    if correction == "bonferroni":
        return np.minimum(1.0, p.size * p)
    if correction == "none":
        return p.copy()
    raise ValueError(f"unknown correction {correction!r}")
