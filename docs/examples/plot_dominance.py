"""
Risk-aware comparison by almost stochastic dominance
====================================================

Two models with the same mean reward: one is steady, the other sometimes fails badly. Their
quantile functions cross; the violation ratio says how far each is from dominating the other.
"""

import matplotlib.pyplot as plt
import numpy as np

from calipers import dominance

rng = np.random.default_rng(0)
steady = rng.normal(0.6, 0.05, 2000)
risky = np.where(rng.random(2000) < 0.1, rng.normal(0.1, 0.05, 2000), rng.normal(0.655, 0.05, 2000))

eps_first = dominance.violation_ratio(steady, risky, order=1)
eps_second = dominance.violation_ratio(steady, risky, order=2)
print(f"means: steady {steady.mean():.3f}, risky {risky.mean():.3f}")
print(f"violation ratio of 'steady dominates risky': 1st order {eps_first:.3f}, 2nd {eps_second:.3f}")

t = np.linspace(0, 1, 400)
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(t, np.quantile(steady, t), label="steady")
ax.plot(t, np.quantile(risky, t), label="risky")
ax.set_xlabel("quantile level")
ax.set_ylabel("reward")
ax.legend()
ax.set_title("Quantile functions")
