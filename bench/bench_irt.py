"""Benchmark calipers.irt against mirt (Rust-backed EM) and girth (numpy JML) on the same
simulated 2PL data, with parameter recovery beside time and memory.

Data: abilities N(0, 1), discriminations LogNormal(0, 0.3), intercepts N(0, 1);
P(y = 1) = sigmoid(a theta - b). Recovery = Pearson r with the truth in that intercept form
(peers' classical difficulties are converted: intercept = discrimination × difficulty).

Sizes (the peers get smaller sizes where the large one takes minutes on 2 cores):
  A. 400 × 2,000: calipers JML and EM, a dense-numpy JML, mirt EM, girth JML.
  B. 400 × 20,000: calipers JML and the dense-numpy JML (mirt: 22.6 s wall / 42 CPU-s measured on a quiet machine
     in the research notes, ~3 min under load; not rerun here to keep the script short).
  C. 2,000 × 50,000: calipers JML (time and memory).
  D. scoring one new model on 100 fixed items (MAP, MLE, EAP), time per call.
py-irt and irtorch need torch (optional for calipers): their rows in A appear when they import,
e.g. run this script with a torch environment's Python and calipers on PYTHONPATH. Anchors from
the research notes: py-irt ~17 min at its default 2,000 epochs on 400 × 20,000; irtorch JML did
not finish 400 × 20,000 in 600 s.

Run: .venv/bin/python bench/bench_irt.py [--quick]   (--targets: only the issue's absolute
targets, each re-timed: best, median and max; --draws [N]: issue 13's design, 400 × 20,000
with logit = a (theta - b), on N >= 10 numpy seeds, calipers at 1 thread and at all threads
and the dense-numpy JML on every draw: median and maximum time, iterations, ratios)
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import sys
import time
import warnings

import numpy as np
from _common import Timing, machine, measure, table

from calipers.irt import IRT


def simulate(n_models: int, n_items: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n_models)
    a = np.exp(0.3 * rng.normal(size=n_items))
    b = rng.normal(size=n_items)
    Y = np.empty((n_models, n_items), dtype=np.uint8)
    for start in range(0, n_models, 100):  # chunks: no n_models × n_items float64 matrix
        t = theta[start : start + 100, None]
        p = 1.0 / (1.0 + np.exp(-(t * a - b)))
        Y[start : start + 100] = rng.random(p.shape) < p
    return Y, theta, a, b


def r(x, y) -> float:
    return float(np.corrcoef(np.ravel(x), np.ravel(y))[0, 1])


def recovery(b_hat, a_hat, theta_hat, truth) -> str:
    _, theta, a, b = truth
    parts = [f"r_b={r(b_hat, b):.3f}", f"r_a={r(a_hat, a):.3f}"]
    if theta_hat is not None:
        parts.append(f"r_θ={r(theta_hat, theta):.3f}")
    return ", ".join(parts)


def calipers_fit(Y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return IRT(**kw).fit(Y)


def numpy_jml(Y, max_iter: int = 100, tol: float = 1e-4):
    """A plain dense-numpy JML/MAP (float64, complete data): alternating Newton steps for the
    abilities (N(0, 1) prior, then standardised) and per-item 2 × 2 Newton steps (priors
    N(0, 2²) on a, N(0, 3²) on b), each capped at 1; the same outline as calipers' JML, as
    anyone would write it with whole-matrix numpy operations."""
    from scipy.special import expit, logit

    y = Y.astype(np.float64)
    theta = logit(np.clip(y.mean(1), 0.02, 0.98))
    theta = (theta - theta.mean()) / theta.std()
    a = np.ones(y.shape[1])
    b = -logit(np.clip(y.mean(0), 0.02, 0.98))
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        old = np.concatenate([theta, a, b])
        p = expit(np.outer(theta, a) - b)
        step = ((y - p) @ a - theta) / ((p * (1 - p)) @ (a * a) + 1.0)
        theta = theta + np.clip(step, -1, 1)
        theta = (theta - theta.mean()) / theta.std()
        p = expit(np.outer(theta, a) - b)
        r, w = y - p, p * (1 - p)
        ga, gb = r.T @ theta - a / 4, -r.sum(0) - b / 9
        haa, hab, hbb = w.T @ theta**2 + 1 / 4, -(w.T @ theta), w.sum(0) + 1 / 9
        det = haa * hbb - hab**2
        a = a + np.clip((hbb * ga - hab * gb) / det, -1, 1)
        b = b + np.clip((haa * gb - hab * ga) / det, -1, 1)
        if np.abs(np.concatenate([theta, a, b]) - old).max() < tol:
            break
    return theta, a, b, n_iter


def numpy_row(Y, truth) -> Timing:
    def describe(out):
        theta, a, b, it = out
        return recovery(b, a, theta, truth) + f", {it} iterations"

    return measured(
        "numpy JML (dense float64)", lambda: numpy_jml(Y), describe, 1, "numpy", Y.shape
    )


def _fit_by_kind(kind: str, Y):
    if kind == "jml":
        return calipers_fit(Y)
    if kind == "em":
        return calipers_fit(Y, method="em", tol=1e-3)
    if kind == "numpy":
        return numpy_jml(Y)
    if kind == "mirt":
        import mirt

        return mirt.fit_mirt(
            Y.astype(float), model="2PL", n_factors=1, compute_standard_errors=False
        )
    import girth

    return girth.twopl_jml(np.ascontiguousarray(Y.T.astype(int)))


def _memory_child(kind: str, n: int, m: int, queue) -> None:
    Y = simulate(n, m)[0]
    before_kb = _current_rss_kb()
    _fit_by_kind(kind, Y)
    queue.put((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kb) / 1024.0)


def _current_rss_kb() -> float:
    """Resident set now (not the high-water mark, which imports may have raised)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 1024.0
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def spawned_peak_mb(kind: str, shape: tuple[int, int]) -> float | None:
    """Peak extra RSS (MB) of one fit in a fresh *spawned* process. (``_common.peak_mb`` forks,
    and a forked child of a process whose rayon pool is running has no worker threads: the
    first parallel call there would wait forever.)"""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_memory_child, args=(kind, *shape, queue))
    proc.start()
    proc.join()
    return queue.get() if proc.exitcode == 0 else None


def measured(name, fit, describe, repeat=1, kind=None, shape=None) -> Timing:
    """Times ``fit`` (keeping the last result for the recovery note) and its peak memory."""
    kept = {}

    def run():
        kept["out"] = fit()

    t = measure(name, run, repeat=repeat, memory=False)
    t.note = describe(kept["out"])
    if kind is not None and shape is not None:
        t.peak_mb = spawned_peak_mb(kind, shape)
    return t


def calipers_row(name, Y, truth, repeat=1, kind="jml") -> Timing:
    def describe(m):
        return recovery(m.b_, m.a_[:, 0], m.theta_[:, 0], truth) + f", {m.n_iter_} iterations"

    return measured(name, lambda: _fit_by_kind(kind, Y), describe, repeat, kind, Y.shape)


def mirt_row(Y, truth) -> Timing | None:
    try:
        import mirt
    except ImportError:
        return None
    Yf = Y.astype(float)

    def fit():
        res = mirt.fit_mirt(Yf, model="2PL", n_factors=1, compute_standard_errors=False)
        scores = mirt.fscores(res, Yf, method="EAP")
        return res, scores

    def describe(out):
        res, scores = out
        disc = np.asarray(res.model.discrimination).ravel()
        intercept = np.asarray(res.model.difficulty).ravel() * disc
        return recovery(intercept, disc, np.asarray(scores.theta).ravel(), truth) + ", EM + EAP"

    return measured("mirt 1.2 (fit_mirt 2PL, no SEs)", fit, describe, 1, "mirt", Y.shape)


def girth_row(Y, truth) -> Timing | None:
    try:
        import girth
    except ImportError:
        return None
    data = np.ascontiguousarray(Y.T.astype(int))

    def fit():
        return girth.twopl_jml(data)

    def describe(out):
        disc = np.asarray(out["Discrimination"])
        intercept = np.asarray(out["Difficulty"]) * disc
        return recovery(intercept, disc, None, truth) + ", items only"

    return measured("girth 0.8 (twopl_jml)", fit, describe, 1, "girth", Y.shape)


def pyirt_row(Y, truth, epochs: int = 200) -> Timing | None:
    """py-irt 2PL (pyro SVI). Needs torch: run this script with a torch environment's Python."""
    try:
        import pandas as pd
        from py_irt.config import IrtConfig
        from py_irt.dataset import Dataset
        from py_irt.training import IrtModelTrainer
    except ImportError:
        return None
    cols = [f"i{j}" for j in range(Y.shape[1])]
    frame = pd.DataFrame(Y, columns=cols)
    frame.insert(0, "subject", [f"m{i}" for i in range(Y.shape[0])])

    def fit():
        data = Dataset.from_pandas(frame, subject_column="subject", item_columns=cols)
        config = IrtConfig(model_type="2pl", epochs=epochs, priors="vague", seed=0)
        trainer = IrtModelTrainer(data_path=None, config=config, dataset=data, verbose=False)
        trainer.train(device="cpu")
        p = trainer.best_params
        item_at = {name: k for k, name in p["item_ids"].items()}
        subject_at = {name: k for k, name in p["subject_ids"].items()}
        items = [item_at[c] for c in cols]
        subjects = [subject_at[f"m{i}"] for i in range(Y.shape[0])]
        disc, diff = np.asarray(p["disc"])[items], np.asarray(p["diff"])[items]
        # logit = disc · (ability − diff): intercept form b = disc · diff
        return disc * diff, disc, np.asarray(p["ability"])[subjects]

    def describe(out):
        return recovery(out[0], out[1], out[2], truth) + f" ({epochs} epochs; default 2,000)"

    return measured(f"py-irt (2pl, {epochs} epochs, CPU)", fit, describe)


def irtorch_row(Y, truth) -> Timing | None:
    """irtorch 2PL by its JML (Adam). Needs torch."""
    try:
        import torch
        from irtorch.estimation_algorithms import JML
        from irtorch.models import TwoParameterLogistic
    except ImportError:
        return None
    data = torch.tensor(Y, dtype=torch.float32)

    def fit():
        model = TwoParameterLogistic(data=data)
        model.fit(train_data=data, algorithm=JML(), device="cpu")
        d = model.bias_param.detach().numpy().astype(np.float64)
        a = model.weight_param.detach().numpy().astype(np.float64)
        theta = model.algorithm.training_theta_scores.detach().numpy()[:, 0]
        return -d, a, theta  # logit = a·θ + d: intercept form b = −d

    return measured("irtorch (2PL, JML, CPU)", fit, lambda out: recovery(*out, truth))


def scoring_rows() -> list[Timing]:
    Y, *_ = simulate(400, 2000, seed=1)
    m = calipers_fit(Y)
    items = np.arange(0, 2000, 20)
    new = Y[0, items].astype(float)
    rows = []
    n_calls = 2000
    for method in ("map", "mle", "eap"):

        def many(method=method):
            for _ in range(n_calls):
                m.score_new(new, items=items, method=method)

        t = measure(f"score_new {method} (×{n_calls})", many, repeat=3, memory=False)
        t.note = f"{1e3 * t.wall_s / n_calls:.3f} ms per call"
        rows.append(t)
    return rows


def targets(repeat: int = 5) -> None:
    """The issue's absolute targets alone, each timed ``repeat`` times: best and spread."""

    def times(fn, k):
        out = []
        for _ in range(k):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
        return out

    def report(label, ts, unit=1.0, suffix="s"):
        ts = [t * unit for t in ts]
        print(
            f"{label}: best {min(ts):.3f} {suffix}, median {np.median(ts):.3f}, max {max(ts):.3f}"
        )

    for shape, k in (((400, 20000), repeat), ((2000, 50000), 3)):
        truth = simulate(*shape)
        fits = times(lambda Y=truth[0]: calipers_fit(Y), k)
        report(f"2PL JML {shape[0]:,} × {shape[1]:,} (wall)", fits)
        m = calipers_fit(truth[0])
        print("   ", recovery(m.b_, m.a_[:, 0], m.theta_[:, 0], truth), f"{m.n_iter_} iterations")
    print("    peak extra memory at 2,000 × 50,000:", spawned_peak_mb("jml", shape), "MB")
    Y, *_ = simulate(400, 2000, seed=1)
    m = calipers_fit(Y)
    items = np.arange(0, 2000, 20)
    new = Y[0, items].astype(float)
    for method in ("mle", "map", "eap"):

        def calls(method=method):
            for _ in range(1000):
                m.score_new(new, items=items, method=method)

        report(f"score_new {method}, 100 items (per call)", times(calls, repeat), 1.0, "ms")


def simulate_classical(n_models: int, n_items: int, seed: int) -> np.ndarray:
    """Issue 13's design: a ~ LogNormal(0, 0.3), b ~ N(0, 1), logit = a (theta - b), uint8."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n_models)
    a = rng.lognormal(0.0, 0.3, size=n_items)
    b = rng.normal(size=n_items)
    Y = np.empty((n_models, n_items), dtype=np.uint8)
    for start in range(0, n_models, 100):
        p = 1.0 / (1.0 + np.exp(-a * (theta[start : start + 100, None] - b)))
        Y[start : start + 100] = rng.random(p.shape) < p
    return Y


def draws(n_draws: int) -> None:
    """Time over data draws (issue 13): the iteration count must not depend on the draw."""
    import os

    import calipers

    all_threads = calipers.get_num_threads()
    print(f"Machine: {machine()}; load average at start {os.getloadavg()[0]:.2f}")
    print("| seed | 1 thread (s) | iters | all threads (s) | numpy JML (s) | numpy iters |")
    print("|---:|---:|---:|---:|---:|---:|")
    rows = []
    for seed in range(n_draws):
        Y = simulate_classical(400, 20000, seed)
        out = []
        for threads in (1, all_threads):
            calipers.set_num_threads(threads)
            start = time.perf_counter()
            m = calipers_fit(Y)
            out.append((time.perf_counter() - start, m.n_iter_))
        calipers.set_num_threads(all_threads)
        start = time.perf_counter()
        np_iters = numpy_jml(Y)[3]
        t_np = time.perf_counter() - start
        (t1, it), (tn, _) = out
        rows.append((t1, tn, t_np, it))
        print(f"| {seed} | {t1:.3f} | {it} | {tn:.3f} | {t_np:.2f} | {np_iters} |", flush=True)
    t1, tn, t_np, it = (np.array(c) for c in zip(*rows, strict=True))
    print(f"\nthreads: 1 and {all_threads}; load average at end {os.getloadavg()[0]:.2f}")
    for label, t in (("1 thread", t1), (f"{all_threads} threads", tn)):
        print(
            f"{label}: median {np.median(t):.3f} s, max {t.max():.3f} s; numpy / calipers "
            f"on the same draw: min {(t_np / t).min():.1f}x, median {np.median(t_np / t):.1f}x"
        )
    print(f"iterations: median {np.median(it):.0f}, max {it.max()}")


def main() -> None:
    if "--draws" in sys.argv:
        at = sys.argv.index("--draws")
        n = int(sys.argv[at + 1]) if len(sys.argv) > at + 1 else 10
        draws(max(n, 10))
        return
    if "--targets" in sys.argv:
        targets()
        return
    quick = "--quick" in sys.argv
    print(f"Machine: {machine()}\n")
    truth = simulate(400, 2000)
    Y = truth[0]
    rows = [
        calipers_row("calipers JML", Y, truth, repeat=3),
        calipers_row("calipers EM (61 nodes, tol 1e-3)", Y, truth, kind="em"),
    ]
    rows.append(numpy_row(Y, truth))
    for row in (
        mirt_row(Y, truth),
        girth_row(Y, truth),
        pyirt_row(Y, truth),
        irtorch_row(Y, truth),
    ):
        if row is not None:
            rows.append(row)
    print(table("2PL, 400 models × 2,000 items", rows, "calipers JML"))

    truth = simulate(400, 20000)
    rows = [calipers_row("calipers JML", truth[0], truth, repeat=3)]
    rows.append(numpy_row(truth[0], truth))
    rows.append(
        Timing(
            "mirt 1.2 (research notes, quiet machine)",
            22.6,
            42.4,
            366.0,
            "r_b=0.984, r_a=0.900, r_θ=0.998 (classical b), not rerun",
        )
    )
    print(table("2PL, 400 models × 20,000 items", rows, "calipers JML"))

    if not quick:
        t0 = time.perf_counter()
        truth = simulate(2000, 50000)
        print(f"(simulated 2,000 × 50,000 in {time.perf_counter() - t0:.1f} s)")
        rows = [calipers_row("calipers JML", truth[0], truth)]
        print(table("2PL, 2,000 models × 50,000 items (10^8 cells)", rows, "calipers JML"))
        del truth

    print(table("Scoring a new model on 100 fixed items", scoring_rows(), "score_new map (×2000)"))


if __name__ == "__main__":
    main()
