"""Re-time the absolute targets of the irt and dominance issues in one short run, without
peers: for a quiet machine, where the loaded side-by-side runs could not check them.

Run: .venv/bin/python bench/quiet_targets.py
"""

import time

import numpy as np

from calipers import dominance, resample
from calipers.irt import IRT


def best(fn, repeat=3):
    fastest = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        fastest = min(fastest, time.perf_counter() - start)
    return fastest


def main():
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(400, 1))
    a = rng.lognormal(0, 0.3, (20_000, 1))
    b = rng.normal(size=20_000)
    prob = 1 / (1 + np.exp(-(theta @ a.T - b)))
    responses = (rng.random(prob.shape) < prob).astype(float)
    model = IRT(model="2pl")
    seconds = best(lambda: model.fit(responses), 2)
    r_b = np.corrcoef(model.b_, b)[0, 1]
    print(f"irt 2PL JML 400 x 20,000: {seconds:.3f} s (r_b {r_b:.4f})")

    scores = rng.normal(size=(10, 5000)) + np.linspace(0, 0.1, 10)[:, None]
    for order in (1, 2):
        seconds = best(
            lambda o=order: dominance.compare(scores, order=o, n_resamples=1000, rng=1), 2
        )
        print(f"dominance relative test 10 x 5,000 x 1,000, order {order}: {seconds:.3f} s")
    x, y = rng.normal(size=5000), rng.normal(0.05, 1, size=5000)
    seconds = best(lambda: resample.bootstrap(x - y, n_resamples=10_000, rng=1))
    print(f"paired mean difference n = 5,000, 10,000 resamples (BCa): {seconds:.4f} s")
    seconds = best(lambda: dominance.absolute_test(x, y, order=1, n_resamples=1000, rng=1))
    print(f"ASO absolute test n = 5,000, 1,000 resamples: {seconds:.4f} s")


if __name__ == "__main__":
    main()
