"""Benchmark of calipers.judge.Bridge against statsmodels' OrderedModel on the same fit.

Simulated HANNA-sized data: 1,056 items x 3 human raters, K = 5 ordered labels, a judge score
and 3 covariates. Both fit the same free-threshold cumulative-logit model with the
item-clustered covariance; statsmodels with BFGS (its default solver for OrderedModel),
calipers with Newton on analytic derivatives. Per data draw: best of 3 wall times of each,
and the ratio statsmodels / calipers; the table gives the median and the worst ratio over the
draws, at 1 BLAS thread and at all threads (each setting in its own process, since BLAS reads
its thread count at start-up).

Run: ``python bench/bench_judge.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np

N_ITEMS, N_RATERS, K, DRAWS = 1056, 3, 5, 5


def simulate(seed: int):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=N_ITEMS)
    X = rng.normal(size=(N_ITEMS, 3))
    eta = 0.4 * z + X @ np.array([0.25, 0.8, -0.5])
    items = np.repeat(np.arange(N_ITEMS), N_RATERS)
    latent = eta[items] + rng.logistic(size=items.size)
    y = (latent[:, None] > np.linspace(-1.5, 1.5, K - 1)[None, :]).sum(axis=1) + 1
    return y, z[items], X[items], items


def run_draws() -> list[dict[str, float]]:
    from _common import best_time
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    from calipers.judge import Bridge

    out = []
    for seed in range(DRAWS):
        y, z, X, items = simulate(seed)

        def ours(y=y, z=z, X=X, items=items):
            return Bridge().fit(y, z, X, items=items)

        def peer(y=y, z=z, X=X, items=items):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = OrderedModel(y, np.column_stack([z, X]), distr="logit")
                return model.fit(
                    method="bfgs",
                    disp=False,
                    maxiter=5000,
                    cov_type="cluster",
                    cov_kwds={"groups": items},
                )

        agree = float(np.max(np.abs(ours().delta_ - peer().params[1:4])))
        t_ours, _ = best_time(ours)
        t_peer, _ = best_time(peer)
        out.append({"calipers_s": t_ours, "statsmodels_s": t_peer, "max_coef_diff": agree})
    return out


def main() -> None:
    if "--child" in sys.argv:
        print(json.dumps(run_draws()))
        return
    from _common import machine

    print(
        f"## judge\n\n`python bench/bench_judge.py` — {machine()}, load {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| threads | calipers median (s) | statsmodels median (s) | ratio median | "
        "ratio worst | max |coef diff| |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for label, threads in (("1", "1"), ("all", str(os.cpu_count()))):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, CALIPERS_NUM_THREADS=threads)
        env["OMP_NUM_THREADS"] = threads
        res = subprocess.run(
            [sys.executable, __file__, "--child"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        )
        draws = json.loads(res.stdout.strip().splitlines()[-1])
        ours = np.array([d["calipers_s"] for d in draws])
        peer = np.array([d["statsmodels_s"] for d in draws])
        ratio = peer / ours
        diff = max(d["max_coef_diff"] for d in draws)
        print(
            f"| {label} | {np.median(ours):.4f} | {np.median(peer):.4f} | "
            f"{np.median(ratio):.1f} | {ratio.min():.1f} | {diff:.1e} |"
        )


if __name__ == "__main__":
    main()
