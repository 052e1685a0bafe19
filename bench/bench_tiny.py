"""Benchmark of calipers.tiny on simulated data: 400 models x 30,000 items in 6 scenarios.

Compares calipers' anchor selection with the tinyBenchmarks reference code path (scikit-learn
``KMeans(n_clusters=100, n_init="auto", random_state=...)`` restarted 5 times, the lowest
inertia kept, anchor = ``pairwise_distances(centres, X).argmin(axis=1)``), written here from
its description (not copied), on the same inputs; then times the whole ``TinyBenchmark.fit``
and the estimate of one new model.

Run: ``python bench/bench_tiny.py`` (a few minutes on 2 cores). Peak memory is not measured:
``_common.peak_mb`` forks, and a forked child of a process whose thread pools (rayon, OpenMP)
have started can hang.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
from _common import Timing, machine, measure, table
from sklearn.cluster import KMeans
from sklearn.metrics import pairwise_distances

import calipers.tiny.anchors as tiny_anchors
import calipers.tiny.benchmark as tiny_benchmark
from calipers import tiny
from calipers.irt import IRT

N_MODELS, N_SCEN, PER_SCEN, N_ANCHORS, RESTARTS = 400, 6, 5000, 100, 5


def simulate(seed: int = 0):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(N_MODELS + 1, 1))
    scenario = np.repeat([f"scenario{k}" for k in range(N_SCEN)], PER_SCEN)
    sub = np.array([f"{s}_{j % 10}" for j, s in enumerate(scenario)])
    a = rng.lognormal(0, 0.3, size=(scenario.size, 1))
    b = rng.normal(0, 1.2, size=scenario.size)
    p = 1 / (1 + np.exp(-(theta @ a.T - b)))
    y = (rng.random(p.shape) < p).astype(np.float64)
    return y[:-1], y[-1], scenario, sub


def sklearn_anchors(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """tinyBenchmarks' anchor path: best of 5 seeded KMeans fits, nearest point per centre."""
    best = min(
        (
            KMeans(N_ANCHORS, n_init="auto", random_state=1000 * t).fit(x, sample_weight=w)
            for t in range(RESTARTS)
        ),
        key=lambda m: m.inertia_,
    )
    return pairwise_distances(best.cluster_centers_, x).argmin(axis=1)


def calipers_anchors(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return tiny.kmeans_anchors(x, N_ANCHORS, sample_weight=w, n_restarts=RESTARTS, rng=0)[0]


def per_scenario(fn, vectors: list[np.ndarray], weights: list[np.ndarray]):
    return lambda: [fn(x, w) for x, w in zip(vectors, weights, strict=True)]


def fit_phases(y, scenario, sub) -> str:
    """One TinyBenchmark.fit with its phases timed (wall and CPU seconds, summed per phase)."""
    spent: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    originals = {}

    def timed(owner, attr, phase):
        original = getattr(owner, attr)
        originals[(owner, attr)] = original

        def wrapper(*args, **kwargs):
            t, c = time.perf_counter(), time.process_time()
            out = original(*args, **kwargs)
            row = spent[phase]
            row[0] += 1
            row[1] += time.perf_counter() - t
            row[2] += time.process_time() - c
            return out

        setattr(owner, attr, wrapper)

    timed(tiny.TinyBenchmark, "_fit_irt", "IRT fit (2 CV folds + final)")
    timed(tiny_anchors, "kmeans_anchors", "k-means anchors (3 x 6 scenarios, 5 restarts)")
    timed(tiny_benchmark, "_estimate", "held-out estimates (p-IRT, naive)")
    timed(tiny_benchmark.Layout, "true_scores", "held-out true scores")
    try:
        tb = tiny.TinyBenchmark(n_anchors=N_ANCHORS, dims=1, cv_folds=2, random_state=0)
        t, c = time.perf_counter(), time.process_time()
        tb.fit(y, scenario=scenario, subscenario=sub)
        total = (time.perf_counter() - t, time.process_time() - c)
    finally:
        for (owner, attr), original in originals.items():
            setattr(owner, attr, original)
    rest = (
        total[0] - sum(r[1] for r in spent.values()),
        total[1] - sum(r[2] for r in spent.values()),
    )
    lines = [
        "### TinyBenchmark.fit phases (irt anchors, dims=1, cv_folds=2)",
        "",
        "| phase | calls | wall (s) | CPU (s) |",
        "|---|---:|---:|---:|",
    ]
    for phase, (calls, wall, cpu) in spent.items():
        lines.append(f"| {phase} | {calls} | {wall:.3f} | {cpu:.3f} |")
    lines.append(
        f"| rest (validation, λ, balance weights, Python) | | {rest[0]:.3f} | {rest[1]:.3f} |"
    )
    lines.append(f"| **total** | | **{total[0]:.3f}** | {total[1]:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    print(f"machine: {machine()}")
    y, new_model, scenario, sub = simulate()
    bw = tiny.balance_weights(scenario, sub)
    idx = [np.flatnonzero(scenario == f"scenario{k}") for k in range(N_SCEN)]
    weights = [bw[i] / bw[i].sum() for i in idx]

    t0 = time.perf_counter()
    irt = IRT(dims=1).fit(y)
    irt_s = time.perf_counter() - t0
    print(f"IRT 2PL fit, {N_MODELS} x {y.shape[1]}: {irt_s:.2f} s")
    embed = [np.column_stack([irt.a_[i], irt.b_[i]]) for i in idx]
    correct = [np.ascontiguousarray(y[:, i].T) for i in idx]

    rows = [
        measure(
            "calipers kmeans_anchors", per_scenario(calipers_anchors, embed, weights), 3, False
        ),
        measure(
            "scikit-learn KMeans x5 + argmin",
            per_scenario(sklearn_anchors, embed, weights),
            1,
            False,
        ),
    ]
    title = "IRT-embedding anchors: 6 scenarios x 5,000 items (a_i, b_i), k=100, 5 restarts"
    print(table(title, rows, "calipers kmeans_anchors"))

    # one scenario only: the peer takes long on 400-dimensional vectors
    rows = [
        measure(
            "calipers kmeans_anchors",
            per_scenario(calipers_anchors, correct[:1], weights[:1]),
            1,
            False,
        ),
        measure(
            "scikit-learn KMeans x5 + argmin",
            per_scenario(sklearn_anchors, correct[:1], weights[:1]),
            1,
            False,
        ),
    ]
    title = "correctness anchors: 1 scenario, 5,000 items x 400 models, k=100, 5 restarts"
    print(table(title, rows, "calipers kmeans_anchors"))

    print(fit_phases(y, scenario, sub))

    fits: list[Timing] = []
    for cv in (2,):
        tb = tiny.TinyBenchmark(n_anchors=N_ANCHORS, dims=1, cv_folds=cv, random_state=0)
        fits.append(
            measure(
                f"TinyBenchmark.fit, irt anchors, dims=1, cv_folds={cv}",
                lambda tb=tb: tb.fit(y, scenario=scenario, subscenario=sub),
                1,
                memory=False,
                note=f"{cv + 1} IRT fits + {cv + 1} x 6 anchor selections",
            )
        )
    fits.append(
        measure(
            "IRT 2PL fit alone (calipers.irt)",
            lambda: IRT(dims=1).fit(y),
            1,
            False,
            note="one of the fits above",
        )
    )
    print(table("anchor selection + fitting, 400 x 30,000", fits, fits[0].name))

    tb = tiny.TinyBenchmark(n_anchors=N_ANCHORS, dims=1, cv_folds=2, random_state=0)
    tb.fit(y, scenario=scenario, subscenario=sub)
    anchors = new_model[tb._all_anchors]
    as_dict = dict(zip(tb.anchor_items(), anchors.tolist(), strict=True))
    est = [
        measure(
            "estimate(one model, array of 600 anchors)", lambda: tb.estimate(anchors), 20, False
        ),
        measure(
            "estimate(one model, dict of 600 anchors)", lambda: tb.estimate(as_dict), 20, False
        ),
    ]
    print(table("estimating a new model (joint ability, 6 scenarios)", est, est[0].name))
    truth = [(new_model[i] * bw[i]).mean() for i in idx]
    got = tb.estimate(anchors).gpirt[0]
    print(f"new model gp-IRT error per scenario: {np.round(np.abs(got - truth), 4).tolist()}")


if __name__ == "__main__":
    main()
