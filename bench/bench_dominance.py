"""calipers.dominance and calipers.resample against deepsig, scipy.stats and evalstats.

Run: ``.venv/bin/python bench/bench_dominance.py`` (peers: ``pip install -e ".[bench]"``).
deepsig takes about 0.3 CPU-s per bootstrap iteration at n = 5,000 (it re-sorts the sample for
every quantile evaluation), so it runs a few iterations and the note extrapolates linearly.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.stats
from _common import Timing, machine, measure, table

import calipers
from calipers import dominance, resample


def aso_case(rng) -> str:
    n, b = 5000, 1000
    x, y = rng.normal(0.1, 1, size=n), rng.normal(0.0, 1, size=n)
    rows = [
        measure(
            "calipers `absolute_test` (order 1)",
            lambda: dominance.absolute_test(x, y, 1, n_resamples=b, rng=1),
            note=f"ε_min = {dominance.absolute_test(x, y, 1, n_resamples=b, rng=1).eps_min:.5f}",
        ),
        measure(
            "calipers `absolute_test` (order 2)",
            lambda: dominance.absolute_test(x, y, 2, n_resamples=b, rng=1),
        ),
    ]
    try:
        from deepsig import aso

        iters = 5
        t = measure(
            "deepsig 1.2.8 `aso`",
            lambda: aso(x, y, num_bootstrap_iterations=iters, show_progress=False, seed=1),
            repeat=1,
            memory=False,
        )
        t.note = (
            f"B = {iters} measured; scaled ×{1000 // iters} to B = 1000 (wall {t.wall_s:.2f} s)"
        )
        t.wall_s *= 1000 / iters
        t.cpu_s *= 1000 / iters
        rows.append(t)
    except ImportError:
        pass
    return table(f"ASO: two models, n = {n}, {b} bootstraps", rows, rows[0].name)


def relative_case(rng) -> str:
    m, n, b = 10, 5000, 1000
    scores = rng.normal(size=(m, n)) + np.linspace(0, 0.09, m)[:, None]
    rows = [
        measure(
            f"calipers `compare` order {order}",
            lambda order=order: dominance.compare(scores, order=order, n_resamples=b, rng=1),
            note="paired, Bonferroni, Borda",
        )
        for order in (1, 2)
    ]
    try:
        from deepsig import multi_aso

        small_n, iters = 500, 3
        t0, c0 = time.perf_counter(), time.process_time()
        multi_aso(
            scores[:, :small_n],
            num_bootstrap_iterations=iters,
            show_progress=False,
            seed=1,
        )
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        rows.append(
            Timing(
                "deepsig 1.2.8 `multi_aso` (FSD only)",
                wall,
                cpu,
                None,
                f"measured at n = {small_n}, B = {iters} only (≈ n² log n per iteration)",
            )
        )
    except ImportError:
        pass
    return table(f"Relative test: {m} models × {n} items, {b} bootstraps", rows, rows[0].name)


def scipy_bootstrap_case(rng) -> str:
    n, r = 5000, 10_000
    x = rng.normal(0.1, 1, size=n)
    y = 0.5 * x + rng.normal(size=n)
    both = np.vstack([x, y])

    def diff(a, b, axis=-1):
        return a.mean(axis) - b.mean(axis)

    rows = []
    for method, scipy_method in (("percentile", "percentile"), ("bca", "BCa")):
        rows.append(
            measure(
                f"calipers `pairwise_differences` ({method})",
                lambda method=method: resample.pairwise_differences(
                    both, n_resamples=r, method=method, rng=1
                ),
            )
        )
        rows.append(
            measure(
                f"scipy `bootstrap` paired ({scipy_method})",
                lambda scipy_method=scipy_method: scipy.stats.bootstrap(
                    (x, y),
                    diff,
                    paired=True,
                    vectorized=True,
                    n_resamples=r,
                    method=scipy_method,
                    rng=np.random.default_rng(1),
                ),
                repeat=1,
                memory=scipy_method == "percentile",
            )
        )
    rows.append(
        measure(
            "calipers `permutation_test` (paired)",
            lambda: resample.permutation_test(x, y, n_resamples=r, rng=1),
        )
    )
    rows.append(
        measure(
            "scipy `permutation_test` (samples)",
            lambda: scipy.stats.permutation_test(
                (x, y),
                diff,
                permutation_type="samples",
                vectorized=True,
                n_resamples=r,
                rng=np.random.default_rng(1),
            ),
            repeat=1,
            memory=False,
        )
    )
    return table(f"Paired mean difference: n = {n}, {r} resamples", rows, rows[0].name)


def evalstats_case(rng) -> str:
    try:
        import evalstats
    except ImportError:
        return ""
    m, n, b = 10, 2000, 2000
    scores = rng.normal(size=(m, n)) + np.linspace(0, 0.09, m)[:, None]
    labels = [f"m{k}" for k in range(m)]
    rows = [
        measure(
            "calipers `pairwise_differences` (percentile)",
            lambda: resample.pairwise_differences(
                scores, n_resamples=b, method="percentile", rng=1
            ),
        ),
        measure(
            "evalstats 0.3.3 `all_pairwise` (bootstrap, holm)",
            lambda: evalstats.all_pairwise(
                scores,
                labels,
                method="bootstrap",
                n_bootstrap=b,
                correction="holm",
                simultaneous_ci=False,
                rng=np.random.default_rng(1),
            ),
            repeat=1,
            memory=False,
        ),
        measure(
            "calipers `rank_distribution`",
            lambda: resample.rank_distribution(scores, n_resamples=b, rng=1),
        ),
        measure(
            "evalstats 0.3.3 `bootstrap_ranks` (bootstrap)",
            lambda: evalstats.bootstrap_ranks(
                scores, labels, n_bootstrap=b, method="bootstrap", rng=np.random.default_rng(1)
            ),
            repeat=1,
            memory=False,
        ),
    ]
    return table(f"Many models: {m} × {n} items, {b} resamples", rows, rows[0].name)


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"Machine: {machine()}, calipers threads: {calipers.get_num_threads()}\n")
    for case in (aso_case, relative_case, scipy_bootstrap_case, evalstats_case):
        out = case(rng)
        if out:
            print(out)


if __name__ == "__main__":
    main()
