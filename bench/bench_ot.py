"""calipers.ot against numpy, scipy and POT on the same inputs (one process, best-of-N).

Run: .venv/bin/python bench/bench_ot.py   (POT: pip install POT, the `bench` extra)
     .venv/bin/python bench/bench_ot.py --threads-only   (the 1-thread / all-threads table)
"""

from __future__ import annotations

import os
import sys
import time

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


def _draws(fn_of_data, make_data, draws: int) -> tuple[float, float]:
    """Median and worst wall time of ``fn_of_data(data)`` over ``draws`` fresh inputs."""
    times = []
    for _ in range(draws):
        data = make_data()
        fn_of_data(data)  # warm-up on this input (page faults, thread start)
        start = time.perf_counter()
        fn_of_data(data)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), max(times)


def sort_bound_by_threads(rng, draws: int = 5) -> str:
    """The two sort-bound cases at one thread and at all threads: median and worst over
    ``draws`` fresh inputs, numpy and POT timed on the same inputs in the same run."""
    cases = {
        "W1, two samples of 10^6": (
            lambda: (rng.normal(size=10**6), rng.normal(0.5, 1.5, size=10**6)),
            lambda d: wasserstein(d[0], d[1]),
            lambda d: np.mean(np.abs(np.sort(d[0]) - np.sort(d[1]))),
            (lambda d: pot.wasserstein_1d(d[0], d[1], p=1)) if pot else None,
        ),
        "batched W2², 10,000 × 512": (
            lambda: (rng.normal(size=(10_000, 512)), rng.normal(0.5, 1.5, size=(10_000, 512))),
            lambda d: wasserstein(d[0], d[1], 2, return_power=True),
            lambda d: np.mean((np.sort(d[0], 1) - np.sort(d[1], 1)) ** 2, 1),
            (lambda d: pot.wasserstein_1d(d[0].T, d[1].T, p=2)) if pot else None,
        ),
    }
    before = calipers.get_num_threads()
    lines = [
        f"### Sort-bound cases by thread count (median / worst of {draws} draws, seconds)",
        "",
        f"load average before: {os.getloadavg()[0]:.1f}",
        "",
        "| case | calipers threads | calipers | numpy | POT | calipers / numpy (median) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    try:
        for name, (make, ours, numpy_way, pot_way) in cases.items():
            for threads in (1, before):
                calipers.set_num_threads(threads)
                med, worst = _draws(ours, make, draws)
                np_med, np_worst = _draws(numpy_way, make, draws)
                pot_cell = "—"
                if pot_way is not None:
                    pot_med, pot_worst = _draws(pot_way, make, 1 if "batched" in name else draws)
                    pot_cell = f"{pot_med:.4g} / {pot_worst:.4g}"
                lines.append(
                    f"| {name} | {threads} | {med:.4g} / {worst:.4g} | "
                    f"{np_med:.4g} / {np_worst:.4g} | {pot_cell} | {med / np_med:.2f}× |"
                )
    finally:
        calipers.set_num_threads(before)
    lines.append(f"\nload average after: {os.getloadavg()[0]:.1f}\n")
    return "\n".join(lines)


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"Machine: {machine()}; calipers threads: {calipers.get_num_threads()}")
    print(f"POT: {pot.__version__ if pot else 'not installed'}; numpy {np.__version__}\n")
    if "--threads-only" in sys.argv:
        print(sort_bound_by_threads(rng))
        return
    sections = (w1_large, w2_batched, weighted_unequal, kmixup_blocks, aot_and_quantiles)
    for section in sections + (sort_bound_by_threads,):
        print(section(rng))


if __name__ == "__main__":
    main()
