"""
Item analysis with a 2PL IRT model
==================================

Eighty models and 300 items, five of them with a reversed (wrong) answer key. The fitted
discriminations of the reversed items are negative; the exact rank test used by the report
tells which of them are beyond chance.
"""

import matplotlib.pyplot as plt
import numpy as np

from calipers.irt import IRT
from calipers.report.item_flags import negative_discrimination_test

rng = np.random.default_rng(0)
theta = rng.normal(size=80)
b = rng.normal(size=300)
a = rng.lognormal(0, 0.3, 300)
a[:5] = -1.5  # reversed answer keys
p = 1 / (1 + np.exp(-(a * (theta[:, None] - b))))
Y = (rng.random(p.shape) < p).astype(float)

model = IRT(model="2pl").fit(Y)
test = negative_discrimination_test(Y, model.theta_[:, 0], alpha=0.05)
flagged = test.significant & (model.a_[:, 0] < 0)
print(f"negative estimates: {(model.a_[:, 0] < 0).sum()}, significant: {flagged.sum()}")

fig, ax = plt.subplots(figsize=(6, 4))
ax.scatter(model.b_, model.a_[:, 0], s=10, c=np.where(flagged, "C3", "C0"))
ax.axhline(0, color="grey", lw=0.8, ls="--")
ax.set_xlabel("difficulty b")
ax.set_ylabel("discrimination a")
ax.set_title("Flagged items in red")
