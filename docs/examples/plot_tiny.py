"""
Estimating full-benchmark scores from 30 anchor items
=====================================================

Forty training models answer 600 items in two scenarios. A tiny benchmark keeps 15 anchor
items per scenario; new models are scored from their anchors alone.
"""

import matplotlib.pyplot as plt
import numpy as np

from calipers.tiny import TinyBenchmark

rng = np.random.default_rng(0)
theta = rng.normal(size=50)
b = rng.normal(size=600)
a = rng.lognormal(0, 0.3, 600)
p = 1 / (1 + np.exp(-(a * (theta[:, None] - b))))
Y = (rng.random(p.shape) < p).astype(float)
scenario = np.repeat(["arith", "logic"], 300)

bench = TinyBenchmark(n_anchors=15, dims=(1,), random_state=0)
bench.fit(Y[:40], scenario=scenario)
est = bench.estimate(Y[40:])
truth = np.stack([Y[40:, scenario == s].mean(axis=1) for s in est.scenarios], axis=1)

fig, ax = plt.subplots(figsize=(5, 5))
ax.scatter(truth.ravel(), est.estimate.ravel())
ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
ax.set_xlabel("true scenario accuracy")
ax.set_ylabel("estimate from 15 anchors")
