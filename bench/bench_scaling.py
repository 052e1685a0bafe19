"""Benchmark of calipers.scaling on the Sloth Leaderboard-v2 protocol (spec §1.5-1.7).

Case 1 (fixed effects, Sloth basic d = 2): the 12 leave-family-out groups, 10 seeded starts
each, Huber continuation δ = 0.1 → 0.03 (100 iterations each) → 0.01 (2,500). calipers runs every (group, start) L-BFGS in
the Rust core in one parallel batch; the peer is a plain numpy/scipy implementation written
here (the same objective and analytic gradient in numpy, scipy's L-BFGS-B, the same starts and
continuation, one start after another). Printed: wall time, CPU time, the lowest training loss
per group (the objective each reaches) and the protocol's MAE against the paper's 3.65 pp.
The authors' PyTorch code (100,000 Adam epochs x 3 learning rates) takes 8-12 min per group on
this kind of machine (spec §1.7); it is not re-run here.

Case 2 (random effects): reserved for the random-effects estimator (see the marked block).

Run: ``python bench/bench_scaling.py [path/to/data_v2.csv]`` (default ../shared/data/sloth).
"""

from __future__ import annotations

import os
import pathlib
import sys
import time

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT = HERE.parents[1] / "shared" / "data" / "sloth" / "data_v2.csv"


def numpy_objective(theta, X, fam, Y, floor, nf, d, delta):
    """Sloth-basic Huber loss and gradient, plain numpy (the peer)."""
    J = Y.shape[1]
    W = theta[: 3 * d].reshape(3, d)
    A = theta[3 * d : 3 * d + nf * d].reshape(nf, d)
    L = theta[3 * d + nf * d : 3 * d + nf * d + d * J].reshape(d, J)
    b = theta[-J:]
    Z = X @ W + A[fam]
    S = expit(Z @ L + b)
    R = floor + (1 - floor) * S - Y
    small = np.abs(R) < delta
    loss = np.where(small, 0.5 * R * R / delta, np.abs(R) - 0.5 * delta).mean()
    G = np.where(small, R / delta, np.sign(R)) / R.size * (1 - floor) * S * (1 - S)
    GZ = G @ L.T
    gA = np.zeros_like(A)
    np.add.at(gA, fam, GZ)
    return loss, np.concatenate([(X.T @ GZ).ravel(), gA.ravel(), (Z.T @ G).ravel(), G.sum(0)])


def numpy_fit(X, fam, Y, floor, nf, starts, d, max_iter):
    best = (np.inf, None)
    for th in starts:
        for delta in (0.1, 0.03, 0.01):
            r = minimize(numpy_objective, th, args=(X, fam, Y, floor, nf, d, delta), jac=True,
                         method="L-BFGS-B",
                         options={"maxiter": max_iter if delta == 0.01 else 100, "maxcor": 20, "ftol": 1e-13, "gtol": 1e-9})  # fmt: skip
            th = r.x
        if r.fun < best[0]:
            best = (float(r.fun), th)
    return best


def main() -> None:
    from calipers.scaling import GUESSING_FLOORS, TEST_GROUPS, SkillScalingLaw, load_sloth_table
    from calipers.scaling import _objective as obj
    from calipers.scaling._protocol import split_family_groups

    path = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    if not path.exists():
        print(f"Sloth table absent ({path}); nothing to run")
        return
    try:
        from _common import machine

        where = machine()
    except ImportError:
        where = "this machine"
    t = load_sloth_table(path, "v2")
    groups = TEST_GROUPS[("v2", 1)]
    splits = split_family_groups(t.families, groups, 1, t.features[:, 1])
    law = SkillScalingLaw(2, floor=GUESSING_FLOORS, n_starts=10, random_state=0)
    prepared = [law._prepare(t.features[tr], t.families[tr], t.scores[tr], t.benchmarks)
                for _, tr, _ in splits]  # fmt: skip

    def run_calipers():
        return law._fit_fixed_many(prepared, [0] * len(prepared))

    w0, c0 = time.perf_counter(), time.process_time()
    models = run_calipers()
    wall_c, cpu_c = time.perf_counter() - w0, time.process_time() - c0
    mae_c = np.mean([np.abs(m.predict(t.features[te], t.families[te]) - t.scores[te]).mean(0)
                     for m, (_, _, te) in zip(models, splits, strict=False)], axis=0)  # fmt: skip

    # The peer: same starts (calipers' seeded starts), numpy objective, scipy L-BFGS-B.
    n_peer = int(os.environ.get("BENCH_SCALING_PEER_GROUPS", "2"))
    peer_losses, wall_p, cpu_p = [], 0.0, 0.0
    for prep in prepared[:n_peer]:
        X, fams, fam_idx, Y, floor, _, _ = prep
        lay = obj.Layout(3, len(fams), 2, Y.shape[1])
        starts = law._starts(lay, floor, 0)
        w0, c0 = time.perf_counter(), time.process_time()
        loss, _ = numpy_fit(X, fam_idx, Y, floor, len(fams), starts, 2, law.max_iter)
        wall_p += time.perf_counter() - w0
        cpu_p += time.process_time() - c0
        peer_losses.append(loss)

    load = os.getloadavg()[0]
    print(f"## scaling\n\n`python bench/bench_scaling.py` — {where}, load {load:.1f}\n")
    print("Sloth basic d=2, Leaderboard v2, 12 groups x 10 starts (protocol of spec §1.6)\n")
    print("| implementation | groups | wall (s) | CPU (s) | per group wall (s) |")
    print("|---|---|---|---|---|")
    print(f"| calipers (Rust L-BFGS, batched) | {len(models)} | {wall_c:.2f} | {cpu_c:.2f} | "
          f"{wall_c / len(models):.2f} |")  # fmt: skip
    print(f"| numpy + scipy L-BFGS-B | {n_peer} | {wall_p:.2f} | {cpu_p:.2f} | "
          f"{wall_p / max(n_peer, 1):.2f} |")  # fmt: skip
    print("| authors' PyTorch (spec §1.7, not re-run) | 1 | 480-720 | | 480-720 |")
    ratio = (wall_p / max(n_peer, 1)) / (wall_c / len(models))
    print(f"\nper-group wall ratio numpy/calipers: {ratio:.1f}x\n")
    print("| group | calipers training loss | numpy/scipy training loss |")
    print("|---|---|---|")
    for g, m, pl in zip(groups, models, peer_losses + [None] * len(models), strict=False):
        print(f"| {'/'.join(g)} | {m.loss_:.6f} | {'' if pl is None else f'{pl:.6f}'} |")
    print("\nauthors' training loss on ['bloom'] (spec §1.7): 0.016843\n")
    print("| benchmark | " + " | ".join(t.benchmarks) + " | avg |")
    print("|---|" + "---|" * (len(t.benchmarks) + 1))
    print("| calipers MAE (pp) | " + " | ".join(f"{100 * v:.2f}" for v in mae_c)
          + f" | {100 * mae_c.mean():.2f} |")  # fmt: skip
    print("| paper (pp) | 4.85 | 4.11 | 3.24 | 2.20 | 1.93 | 5.57 | 3.65 |")

    # ------------------------------------------------------------------------------------
    # Case 2: random effects (K = 4, standard errors). Reserved for the random-effects
    # estimator (SkillScalingLaw(family_effect="random")); add its timing here.
    # ------------------------------------------------------------------------------------


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
