"""All pairs and rank distributions at leaderboard scale: calipers against plain numpy.

Scores are simulated from a 2PL model (models × 100 binary items). Each measurement runs in a
fresh child process (so its peak resident memory is its own), ``--draws`` times, with
calipers on 1 thread and on all threads (numpy and BLAS always on 1 thread).

* 4,280 models, 1,000 resamples: every one of the 9.2 million pairs with its BCa interval,
  p-value and Holm adjustment (target: <= 30 s and <= 2 GB); the rank distribution (<= 1 s);
* 400 and 1,000 models: the same against a plain numpy implementation of the same identity
  (replicate means per model, then per pair the differences, ``std``, ``percentile``, the
  p-value counts, Holm), in the same run.

Run: ``.venv/bin/python bench/bench_resample.py [--draws 3] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

ITEMS, RESAMPLES = 100, 1000


def simulate_2pl(models: int, items: int = ITEMS, seed: int = 0) -> np.ndarray:
    """Binary responses: P(correct) = sigmoid(a_i (theta_m - b_i))."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(models, 1))
    a = rng.lognormal(0.0, 0.3, size=items)
    b = rng.normal(size=items)
    prob = 1.0 / (1.0 + np.exp(-a * (theta - b)))
    return (rng.random(prob.shape) < prob).astype(np.float64)


def numpy_all_pairs(scores: np.ndarray, n_resamples: int, seed: int) -> dict:
    """The identity in plain numpy: one paired bootstrap of every model's mean, then each
    pair's replicate differences (rows of pairs at a time), percentile interval, standard
    error, bootstrap p-value; Holm over all pairs."""
    m, n = scores.shape
    rng = np.random.default_rng(seed)
    reps = np.empty((m, n_resamples))
    for start in range(0, n_resamples, 100):
        idx = rng.integers(0, n, size=(min(100, n_resamples - start), n))
        reps[:, start : start + len(idx)] = scores[:, idx].mean(axis=-1)
    means = scores.mean(axis=1)
    parts = {"low": [], "high": [], "se": [], "p": []}
    for i in range(m - 1):
        d = reps[i] - reps[i + 1 :]
        obs = means[i] - means[i + 1 :]
        parts["low"].append(np.percentile(d, 2.5, axis=-1))
        parts["high"].append(np.percentile(d, 97.5, axis=-1))
        parts["se"].append(d.std(axis=-1, ddof=1))
        extreme = (np.abs(d - obs[:, None]) >= np.abs(obs)[:, None]).sum(-1)
        parts["p"].append(np.minimum(1.0, (1.0 + extreme) / (1.0 + n_resamples)))
    p = np.concatenate(parts["p"])
    order = np.argsort(p, kind="stable")
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(
        1.0, np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order])
    )
    return {"pairs": len(p), "rejected": int((adjusted < 0.05).sum())}


def run_case(case: str, models: int, seed: int) -> dict:
    """One measurement in this (child) process: seconds and peak resident memory."""
    from calipers import resample

    scores = simulate_2pl(models, seed=seed)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    if case == "pairs_bca":
        r = resample.pairwise_differences(scores, n_resamples=RESAMPLES, method="bca", rng=seed)
        info = int((r.pvalue_adjusted < 0.05).sum() // 2)
    elif case == "pairs_percentile":
        r = resample.pairwise_differences(
            scores, n_resamples=RESAMPLES, method="percentile", rng=seed
        )
        info = int((r.pvalue_adjusted < 0.05).sum() // 2)
    elif case == "ranks":
        r = resample.rank_distribution(scores, n_resamples=RESAMPLES, rng=seed)
        info = float(r.p_best.max())
    elif case == "bootstrap":
        r = resample.bootstrap(scores, n_resamples=RESAMPLES, method="percentile", rng=seed)
        info = float(r.standard_error.mean())
    elif case == "numpy_pairs":
        info = numpy_all_pairs(scores, RESAMPLES, seed)["rejected"]
    else:
        raise ValueError(case)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": seconds,
        "cpu_s": usage.ru_utime + usage.ru_stime - cpu_before,
        "peak_mb": usage.ru_maxrss / 1024,
        "grown_mb": (usage.ru_maxrss - before) / 1024,
        "info": info,
    }


def child(case: str, models: int, threads: int, seed: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["CALIPERS_NUM_THREADS"] = str(threads)
    out = subprocess.run(
        [sys.executable, __file__, "--child", case, str(models), str(seed)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarise(case, models, threads, draws) -> dict:
    runs = [child(case, models, threads, seed) for seed in range(draws)]
    secs = sorted(r["seconds"] for r in runs)
    return {
        "case": case,
        "models": models,
        "threads": threads,
        "median_s": float(np.median(secs)),
        "worst_s": secs[-1],
        "peak_mb": max(r["peak_mb"] for r in runs),
        "cpu_s": float(np.median([r["cpu_s"] for r in runs])),
        "info": runs[0]["info"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the script")
    parser.add_argument("--child", nargs=3, metavar=("CASE", "MODELS", "SEED"))
    args = parser.parse_args()
    if args.child:
        case, models, seed = args.child
        print(json.dumps(run_case(case, int(models), int(seed))))
        return
    big = 300 if args.quick else 4280
    side = (40, 100) if args.quick else (400, 1000)
    all_threads = os.cpu_count() or 1
    print(
        f"# {platform.processor() or platform.machine()}, {all_threads} cores, "
        f"load average {os.getloadavg()[0]:.1f} at start, {time.strftime('%H:%M UTC', time.gmtime())}"
    )
    print(
        "| case | models | threads | median s | worst s | median CPU s | peak MB | numpy / calipers |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    numpy_time: dict[int, float] = {}

    def row(case: str, models: int, threads: int) -> None:
        r = summarise(case, models, threads, args.draws)
        if case == "numpy_pairs":
            numpy_time[models] = r["median_s"]
        ratio = numpy_time.get(models)
        cell = f"{ratio / r['median_s']:.1f}×" if ratio and case != "numpy_pairs" else ""
        print(
            f"| {case} | {models} | {threads} | {r['median_s']:.2f} | {r['worst_s']:.2f} | "
            f"{r['cpu_s']:.2f} | {r['peak_mb']:.0f} | {cell} |",
            flush=True,
        )

    for models in side:  # the reference first, so each calipers row shows its ratio
        row("numpy_pairs", models, 1)
    for threads in sorted({1, all_threads}):
        for models in side:
            row("pairs_percentile", models, threads)
            row("pairs_bca", models, threads)
        row("bootstrap", big, threads)
        row("ranks", big, threads)
        row("pairs_bca", big, threads)
    print(f"# load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
