"""Benchmark of calipers.judge.Bridge against statsmodels' OrderedModel on the same fits.

Cases (issue 15):

- HANNA: the 30 (criterion x judge) cells of prompt variant 1, each fitted with and without the
  covariates (log text length, human-written, repetition_3): 60 fits of 1,056 stories x 3
  raters, K = 5 (skipped with a note when ../shared/data is absent).
- synthetic: a 10^6-row absolute-scoring problem (333,334 items x 3 raters, K = 5, a judge
  score and 3 covariates).
- bootstrap: calipers' 1,000-replicate item-cluster bootstrap of one HANNA cell (ChatGPT,
  Coherence, with covariates); target <= 2 s.

Both libraries fit the same free-threshold cumulative-logit model with the item-clustered
covariance: calipers ``Bridge().fit`` (Newton with analytic derivatives in the Rust core; the
fit without covariates for the LR test included), statsmodels 0.15
``OrderedModel(distr="logit").fit(method="bfgs", cov_type="cluster")`` (its default solver).
Per fit: calipers best of 3, statsmodels one run (best of 3 for HANNA), ratio = statsmodels /
calipers in wall time and in CPU time (the CPU ratio is the steadier one on a shared machine;
at all threads it counts every thread's time); the table gives the median and the worst
(smallest) ratio over the fits (HANNA: 60 fits; synthetic: 3 independent draws), and the
largest log-likelihood difference (equal optimum). Each thread setting (1, all) runs in its
own process (``CALIPERS_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``).
``mord`` has no clustered covariance and is not installed here; it is not timed.

Run: ``python bench/bench_judge.py`` (several minutes on 2 cores: statsmodels' 10^6-row fit
alone takes about a minute per thread setting). ``--quick`` skips the 10^6-row case.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
HANNA = DATA / "hanna" / "hanna_human_vs_llm_long.csv"
CRITERIA = ("RE", "CH", "EM", "SU", "EG", "CX")
JUDGES = ("Beluga-13B", "OrcaPlatypus", "Mistral-7B", "Llama-13B", "ChatGPT")
# independent draws of the synthetic 10^6-row problem (seeds 0, 1, 2)
SYNTHETIC_DRAWS = 3


def hanna_cells() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    with HANNA.open() as fh:
        rows = list(csv.DictReader(fh))
    cells = []
    for criterion in CRITERIA:
        for judge in JUDGES:
            score = np.array([float(r[f"{judge} {criterion} 1"]) for r in rows])
            keep = np.flatnonzero((score >= 1) & (score <= 5))
            cov = np.array(
                [
                    [
                        np.log(float(rows[i]["text_length"])),
                        float(rows[i]["system"] == "Human"),
                        float(rows[i]["repetition_3"]),
                    ]
                    for i in keep
                ]
            )
            human = np.array(
                [[float(rows[i][f"Human {j} {criterion}"]) for j in (1, 2, 3)] for i in keep]
            )
            items = np.repeat(np.arange(keep.size), 3)
            cells.append(
                (f"{judge} {criterion}", human.reshape(-1), score[keep][items], cov[items], items)
            )
    return cells


def synthetic(n_rows: int = 1_000_000, seed: int = 0):
    rng = np.random.default_rng(seed)
    n_items = -(-n_rows // 3)
    z = rng.normal(size=n_items)
    X = rng.normal(size=(n_items, 3))
    eta = 0.4 * z + X @ np.array([0.25, 0.8, -0.5])
    items = np.repeat(np.arange(n_items), 3)[:n_rows]
    latent = eta[items] + rng.logistic(size=items.size)
    y = (latent[:, None] > np.linspace(-1.5, 1.5, 4)[None, :]).sum(axis=1) + 1
    return y, z[items], X[items], items


def statsmodels_fit(y, z, X, items):
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    exog = z[:, None] if X is None else np.column_stack([z, X])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = OrderedModel(y, exog, distr="logit")
        return model.fit(
            method="bfgs",
            disp=False,
            maxiter=5000,
            cov_type="cluster",
            cov_kwds={"groups": items},
        )


def compare(y, z, X, items, peer_repeat: int) -> dict[str, float]:
    from _common import best_time

    from calipers.judge import Bridge

    def ours():
        return Bridge().fit(y, z, X, items=items)

    def peer():
        return statsmodels_fit(y, z, X, items)

    fit, res = ours(), peer()
    t_ours, cpu_ours = best_time(ours)
    t_peer, cpu_peer = best_time(peer, repeat=peer_repeat)
    return {
        "calipers_s": t_ours,
        "statsmodels_s": t_peer,
        "calipers_cpu_s": cpu_ours,
        "statsmodels_cpu_s": cpu_peer,
        "n_iter": fit.n_iter_,
        "loglik_diff": float(fit.loglik_ - res.llf),
        "coef_diff": float(
            np.max(np.abs(np.r_[fit.a_, fit.delta_] - res.params[: 1 + fit.delta_.size]))
        ),
    }


def run_child(quick: bool) -> dict[str, object]:
    out: dict[str, object] = {}
    if HANNA.is_file():
        cells = hanna_cells()
        fits = []
        for _, y, z, X, items in cells:
            for cov in (X, None):
                fits.append(compare(y, z, cov, items, peer_repeat=3))
        out["hanna"] = fits
        from calipers.judge import Bridge

        name, y, z, X, items = next(c for c in cells if c[0] == "ChatGPT CH")
        br = Bridge().fit(y, z, X, items=items)
        t0 = time.perf_counter()
        br.bootstrap(y, z, X, items=items, n_resamples=1000, random_state=0)
        out["bootstrap_s"] = time.perf_counter() - t0
    if not quick:
        from _common import peak_mb

        from calipers.judge import Bridge

        out["synthetic"] = []
        for seed in range(SYNTHETIC_DRAWS):
            y, z, X, items = synthetic(seed=seed)
            out["synthetic"].append(compare(y, z, X, items, peer_repeat=1))
        out["synthetic_peak_mb"] = peak_mb(lambda: Bridge().fit(y, z, X, items=items))
    return out


def summary(label: str, case: str, fits: list[dict[str, float]]) -> str:
    ours = np.array([f["calipers_s"] for f in fits])
    peer = np.array([f["statsmodels_s"] for f in fits])
    ratio = peer / ours
    cpu = np.array([f["statsmodels_cpu_s"] / f["calipers_cpu_s"] for f in fits])
    ll = max(abs(f["loglik_diff"]) for f in fits)
    coef = max(f["coef_diff"] for f in fits)
    return (
        f"| {case} | {label} | {len(fits)} | {np.median(ours):.4f} | {np.median(peer):.4f} | "
        f"{np.median(ratio):.0f} | {ratio.min():.0f} | {peer.sum() / ours.sum():.0f} | "
        f"{np.median(cpu):.0f} | {cpu.min():.0f} | {ll:.1e} | {coef:.1e} |"
    )


def main() -> None:
    quick = "--quick" in sys.argv
    if "--child" in sys.argv:
        print(json.dumps(run_child(quick)))
        return
    from _common import machine

    print(
        f"## judge\n\n`python bench/bench_judge.py` — {machine()}, load {os.getloadavg()[0]:.1f}\n"
    )
    if not HANNA.is_file():
        print(f"(HANNA not found at {HANNA}: the HANNA rows and the bootstrap are skipped)\n")
    header = (
        "| case | threads | fits | calipers median (s) | statsmodels median (s) | ratio median | "
        "ratio worst | ratio of totals | CPU ratio median | CPU ratio worst | "
        "max \\|Δ loglik\\| | max \\|Δ coef\\| |"
    )
    rows, boot, peaks, steps = [], [], [], []
    for label, threads in (("1", "1"), ("all", str(os.cpu_count()))):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, CALIPERS_NUM_THREADS=threads)
        env["OMP_NUM_THREADS"] = threads
        res = subprocess.run(
            [sys.executable, __file__, "--child", *(["--quick"] if quick else [])],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        )
        out = json.loads(res.stdout.strip().splitlines()[-1])
        if "hanna" in out:
            rows.append(summary(label, "HANNA 30 cells x (with, without X)", out["hanna"]))
            boot.append(f"{label} thread(s): {out['bootstrap_s']:.2f} s")
        if "synthetic" in out:
            rows.append(summary(label, "synthetic 10^6 rows", out["synthetic"]))
            steps.append(f"{label}: {[f['n_iter'] for f in out['synthetic']]}")
            peaks.append(f"{label} thread(s): {out['synthetic_peak_mb']:.0f} MB")
    print(header)
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    if boot:
        print(
            "\n1,000-replicate item-cluster bootstrap of HANNA ChatGPT/CH with covariates "
            f"(target <= 2 s): {'; '.join(boot)}"
        )
    if peaks:
        print(f"\nPeak memory of calipers' 10^6-row fit (forked child): {'; '.join(peaks)}")
        print(
            f"\nNewton steps of the synthetic fits (thread setting: per draw): {'; '.join(steps)}"
        )
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
