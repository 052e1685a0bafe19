"""Benchmark of calipers.route against the reference approach (scikit-learn kNN + a numpy grid
over the trade-off), on the same input in one process.

Case A (issue 18): 20,000 training queries x 20 models x d = 128 (clustered unit-norm
embeddings), k chosen from (2, 4, ..., 512) by 5-fold CV (R²), then 20,000 new queries
routed: predicted scores and costs and the accuracy-cost curve. calipers: CostAwareRouter
(one exact neighbour search per fold up to k = 512 serves the whole grid) + the exact mu-path.
Reference: GridSearchCV(KNeighborsRegressor(metric="cosine", algorithm="brute")) over the
same grid and folds, predict, and numpy argmax at 1,001 values of lambda (mu = l / (1 - l)).
calipers' neighbour lists are exact (same sets as scikit-learn's), so both choose k alike.

Case B: the exact mu-path of 100,000 queries x 20 models against the numpy 1,001-point grid.

calipers runs ``--draws`` times (new data each draw) at 1 thread and at all threads (median
and worst reported, wall and process CPU time); the reference runs once per thread setting,
on the first draw, in the same process, with its BLAS limited to the same number of threads
(threadpoolctl). On a shared machine read the CPU times and the ratios, not lone wall times.

Run: ``python bench/bench_route.py [--quick] [--draws 3]`` (the reference takes minutes on 2
cores; ``--quick`` uses 5,000 queries for case A).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from calipers import get_num_threads, route, set_num_threads

GRID = (2, 4, 8, 16, 32, 64, 128, 256, 512)


def data(n: int, m: int, d: int, seed: int):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(64, d))
    w = rng.normal(size=(m, d)) / np.sqrt(d)
    bias = np.linspace(-1.0, 1.5, m)

    def draw(k: int):
        lab = rng.integers(0, 64, k)
        x = centres[lab] + 0.8 * rng.normal(size=(k, d))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        f = 1 / (1 + np.exp(-(3 * x @ w.T + bias)))
        return x, (rng.random(f.shape) < f).astype(float), f

    price = np.geomspace(0.05, 5.0, m)
    return draw(n), draw(n), price


def numpy_grid_curve(p, c, y, cc, n_grid=1001):
    lam = np.linspace(0, 1, n_grid)[:-1]
    mu = lam / (1 - lam)
    rows = np.arange(p.shape[0])
    out = np.empty((mu.size, 2))
    for j, u in enumerate(mu):
        ch = np.argmax(p - u * c, axis=1)
        out[j] = cc[rows, ch].mean(), y[rows, ch].mean()
    return out


def case_a(n: int, m: int = 20, d: int = 128, reference: bool = True, seed: int = 0):
    (x, y, _), (xq, yq, _), price = data(n, m, d, seed)
    cost = np.broadcast_to(price, yq.shape)

    def ours():
        r = route.CostAwareRouter(k_grid=GRID, random_state=0).fit(x, y, price)
        return r, r.lambda_path(xq, yq, cost)

    t0, c0 = time.perf_counter(), time.process_time()
    r, path = ours()
    t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
    row = {
        "n": n,
        "calipers_s": t_ours,
        "calipers_cpu_s": c_ours,
        "k": r.k_score_,
        "breakpoints": path.mu.size,
    }
    if reference:
        from sklearn.model_selection import GridSearchCV, PredefinedSplit
        from sklearn.neighbors import KNeighborsRegressor

        folds = np.empty(n, dtype=int)
        folds[np.random.default_rng(0).permutation(n)] = np.arange(n) % 5
        t0, c0 = time.perf_counter(), time.process_time()
        search = GridSearchCV(
            KNeighborsRegressor(metric="cosine", algorithm="brute"),
            {"n_neighbors": list(GRID)},
            cv=PredefinedSplit(folds),
            scoring="r2",
        ).fit(x, y)
        p = search.predict(xq)
        numpy_grid_curve(p, np.broadcast_to(price, p.shape), yq, cost)
        t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0
        row.update(
            reference_s=t_ref,
            reference_cpu_s=c_ref,
            ratio=t_ref / t_ours,
            k_ref=search.best_params_["n_neighbors"],
        )
    return row


def case_b(n: int = 100_000, m: int = 20):
    rng = np.random.default_rng(1)
    p, c = rng.random((n, m)), rng.random((n, m))
    y = (rng.random((n, m)) < p).astype(float)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        path = route.mu_path(p, c, y, c)
        best = min(best, time.perf_counter() - t0)
    t0 = time.perf_counter()
    numpy_grid_curve(p, c, y, c)
    t_grid = time.perf_counter() - t0
    return {"n": n, "path_s": best, "grid_s": t_grid, "breakpoints": path.mu.size}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--draws", type=int, default=3)
    args = ap.parse_args()
    n = 5000 if args.quick else 20_000
    all_threads = get_num_threads()
    print(f"threads={all_threads} cores={os.cpu_count()} load={os.getloadavg()[0]:.1f}")
    from threadpoolctl import threadpool_limits

    for threads in sorted({1, all_threads}):
        set_num_threads(threads)
        walls, cpus, ref = [], [], None
        for draw in range(args.draws):
            with threadpool_limits(threads):
                a = case_a(n, reference=draw == 0 and not args.no_reference, seed=draw)
            walls.append(a["calipers_s"])
            cpus.append(a["calipers_cpu_s"])
            if "reference_s" in a:
                ref = a
            print(
                f"A  {n} train x 20 models x d=128, k by 5-fold CV, route {n} queries, "
                f"{threads} thread(s), draw {draw}: calipers {a['calipers_s']:.2f} s wall, "
                f"{a['calipers_cpu_s']:.2f} s CPU (k={a['k']}, {a['breakpoints']} curve points)"
                + (
                    f"; sklearn+numpy grid {a['reference_s']:.1f} s wall, "
                    f"{a['reference_cpu_s']:.1f} s CPU (k={a['k_ref']})"
                    if "reference_s" in a
                    else ""
                )
                + f"  load={os.getloadavg()[0]:.1f}",
                flush=True,
            )
        med, worst = float(np.median(walls)), max(walls)
        med_c, worst_c = float(np.median(cpus)), max(cpus)
        print(
            f"A  {threads} thread(s): calipers median {med:.2f} s wall / {med_c:.2f} s CPU, "
            f"worst {worst:.2f} s wall / {worst_c:.2f} s CPU over {len(walls)} draws"
            + (
                f"; reference/median {ref['reference_s'] / med:.1f}x wall, "
                f"{ref['reference_cpu_s'] / med_c:.1f}x CPU; reference/worst "
                f"{ref['reference_s'] / worst:.1f}x wall"
                if ref
                else ""
            )
            + f"  load={os.getloadavg()[0]:.1f}",
            flush=True,
        )
    set_num_threads(all_threads)
    b = case_b()
    print(
        f"B  exact mu-path {b['n']} x 20: {b['path_s']:.3f} s ({b['breakpoints']} breakpoints); "
        f"numpy 1,001-point grid {b['grid_s']:.2f} s"
    )


if __name__ == "__main__":
    main()
