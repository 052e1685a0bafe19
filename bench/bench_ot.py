"""calipers.ot against numpy, scipy and POT on the same inputs (one process, best-of-N).

Run: .venv/bin/python bench/bench_ot.py   (POT: pip install POT, the `bench` extra)
"""

from __future__ import annotations

import sys

import numpy as np
import scipy.optimize
import scipy.spatial
import scipy.stats

import calipers
from calipers.ot import aot_loss, kmixup_match, quantile_function, wasserstein

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _common import machine, measure, table  # noqa: E402

try:
    import ot as pot
except ImportError:  # the bench extra is not installed
    pot = None


def w1_large(rng) -> str:
    x, y = rng.normal(size=10**6), rng.normal(0.5, 1.5, size=10**6)
    expected = scipy.stats.wasserstein_distance(x, y)
    assert abs(wasserstein(x, y) - expected) < 1e-9
    rows = [
        measure("calipers.ot.wasserstein(x, y)", lambda: wasserstein(x, y), repeat=7),
        measure("np.sort(x), np.sort(y)", lambda: (np.sort(x), np.sort(y)), repeat=7),
        measure(
            "numpy mean(abs(sort(x) - sort(y)))",
            lambda: np.mean(np.abs(np.sort(x) - np.sort(y))),
            repeat=7,
        ),
        measure("scipy.stats.wasserstein_distance", lambda: scipy.stats.wasserstein_distance(x, y)),
    ]
    if pot is not None:
        assert abs(pot.wasserstein_1d(x, y, p=1) - expected) < 1e-9
        rows += [
            measure("POT ot.wasserstein_1d(p=1)", lambda: pot.wasserstein_1d(x, y, p=1)),
            measure(
                "POT ot.emd2_1d(metric='euclidean')",
                lambda: pot.emd2_1d(x, y, metric="euclidean"),
            ),
        ]
    return table("W1 of two samples of 10^6 (float64)", rows, "calipers.ot.wasserstein(x, y)")


def w2_batched(rng) -> str:
    u, v = rng.normal(size=(10_000, 512)), rng.normal(0.5, 1.5, size=(10_000, 512))
    expected = np.mean((np.sort(u, 1) - np.sort(v, 1)) ** 2, 1)
    got = wasserstein(u, v, 2, return_power=True)
    assert np.allclose(got, expected, rtol=1e-12)
    name = "calipers.ot.wasserstein(U, V, 2)"
    rows = [
        measure(name, lambda: wasserstein(u, v, 2, return_power=True), repeat=7),
        measure(
            "numpy mean((sort(U,1) - sort(V,1))**2, 1)",
            lambda: np.mean((np.sort(u, 1) - np.sort(v, 1)) ** 2, 1),
            repeat=5,
        ),
    ]
    if pot is not None:
        ut, vt = np.ascontiguousarray(u.T), np.ascontiguousarray(v.T)
        assert np.allclose(pot.wasserstein_1d(ut[:, :50], vt[:, :50], p=2), expected[:50])
        rows.append(
            measure(
                "POT ot.wasserstein_1d(U.T, V.T, p=2)",
                lambda: pot.wasserstein_1d(ut, vt, p=2),
                repeat=1,
                memory=False,
                note="numpy backend loops over rows in Python",
            )
        )
    return table("Batched W2², 10,000 pairs × 512", rows, name)


def weighted_unequal(rng) -> str:
    x, y = rng.normal(size=10**6), rng.normal(0.5, 1.5, size=700_000)
    xw, yw = rng.random(10**6), rng.random(700_000)
    expected = scipy.stats.wasserstein_distance(x, y, xw, yw)
    assert abs(wasserstein(x, y, 1, xw, yw) - expected) < 1e-8
    name = "calipers.ot.wasserstein(x, y, 1, xw, yw)"
    rows = [
        measure(name, lambda: wasserstein(x, y, 1, xw, yw)),
        measure(
            "scipy.stats.wasserstein_distance(x, y, xw, yw)",
            lambda: scipy.stats.wasserstein_distance(x, y, xw, yw),
        ),
    ]
    if pot is not None:
        rows.append(
            measure(
                "POT ot.wasserstein_1d(x, y, xw, yw, p=1)",
                lambda: pot.wasserstein_1d(x, y, xw / xw.sum(), yw / yw.sum(), p=1),
            )
        )
    return table("Weighted W1, 10^6 vs 7·10^5 values", rows, name)


def scipy_blocks(x, y, k):
    perm = np.empty(len(x), dtype=np.int64)
    for s in range(0, len(x), k):
        cost = scipy.spatial.distance.cdist(x[s : s + k], y[s : s + k], "sqeuclidean")
        _, cols = scipy.optimize.linear_sum_assignment(cost)
        perm[s : s + k] = s + cols
    return perm


def kmixup_blocks(rng) -> str:
    x, y = rng.normal(size=(4096, 32)), rng.normal(size=(4096, 32))
    ours, theirs = kmixup_match(x, y, 256), scipy_blocks(x, y, 256)
    cost = [np.sum((x - y[p]) ** 2) for p in (ours, theirs)]
    assert abs(cost[0] - cost[1]) <= 1e-9 * cost[1]
    name = "calipers.ot.kmixup_match(x, y, 256)"
    rows = [
        measure(name, lambda: kmixup_match(x, y, 256)),
        measure(
            "scipy cdist + linear_sum_assignment per block",
            lambda: scipy_blocks(x, y, 256),
        ),
    ]
    return table("k-mixup matching: 4096 points (d = 32) in 16 blocks of k = 256", rows, name)


def aot_and_quantiles(rng) -> str:
    c, r, cr, rr = (rng.normal(-50, 10, 512) for _ in range(4))

    def numpy_aot():
        delta = np.sort(c - r) - np.sort(cr - rr)
        return np.mean(np.logaddexp(0.0, -0.1 * delta))

    assert abs(aot_loss(c, r, cr, rr).loss - numpy_aot()) < 1e-12
    rows = [
        measure("calipers.ot.aot_loss (B = 512, with gradients)", lambda: aot_loss(c, r, cr, rr)),
        measure("numpy sort + softplus (loss only)", numpy_aot),
    ]
    out = table("AOT loss, B = 512", rows, rows[0].name)
    x, q = rng.normal(size=(10_000, 512)), np.linspace(0, 1, 101)
    expected = np.quantile(x, q, axis=1, method="inverted_cdf").T
    assert np.array_equal(quantile_function(x, q), expected)
    rows = [
        measure("calipers.ot.quantile_function(X, q)", lambda: quantile_function(x, q)),
        measure(
            "np.quantile(X, q, axis=1, method='inverted_cdf')",
            lambda: np.quantile(x, q, axis=1, method="inverted_cdf"),
        ),
    ]
    return (
        out + "\n" + table("Quantile function, 10,000 rows × 512, 101 levels", rows, rows[0].name)
    )


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"Machine: {machine()}; calipers threads: {calipers.get_num_threads()}")
    print(f"POT: {pot.__version__ if pot else 'not installed'}; numpy {np.__version__}\n")
    for section in (w1_large, w2_batched, weighted_unequal, kmixup_blocks, aot_and_quantiles):
        print(section(rng))


if __name__ == "__main__":
    main()
