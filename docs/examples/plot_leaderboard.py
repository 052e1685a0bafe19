"""
A leaderboard with paired-bootstrap intervals
=============================================

Ten simulated models answer 400 items. The paired bootstrap gives each model's accuracy a
BCa confidence interval, and the rank distribution the probability that each model is best.
"""

import matplotlib.pyplot as plt
import numpy as np

from calipers import resample

rng = np.random.default_rng(0)
ability = np.linspace(-0.6, 0.6, 10)
difficulty = rng.normal(size=400)
p_correct = 1 / (1 + np.exp(-(ability[:, None] - difficulty[None, :])))
scores = (rng.random(p_correct.shape) < p_correct).astype(float)

boot = resample.bootstrap(scores, n_resamples=2000, rng=1)
ranks = resample.rank_distribution(scores, n_resamples=2000, rng=1)
order = np.argsort(boot.statistic)
low, high = boot.confidence_interval

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4))
y = np.arange(len(order))
ax1.errorbar(
    boot.statistic[order],
    y,
    xerr=[boot.statistic[order] - low[order], high[order] - boot.statistic[order]],
    fmt="o",
)
ax1.set_yticks(y, [f"model {i}" for i in order])
ax1.set_xlabel("accuracy (95% BCa interval)")
ax2.barh(y, ranks.p_best[order])
ax2.set_yticks(y, [])
ax2.set_xlabel("P(best)")
fig.tight_layout()
