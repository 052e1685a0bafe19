"""
Exact one-dimensional Wasserstein distances
===========================================

W_p between two samples of different sizes, computed exactly by sorting, for several p: the
larger p, the more the distance is driven by the largest quantile gaps.
"""

import matplotlib.pyplot as plt
import numpy as np

from calipers import ot

rng = np.random.default_rng(0)
u = rng.normal(0, 1, 1500)
v = rng.standard_t(3, 900)
ps = [1, 1.5, 2, 3, 4, 6, 8]
w = [ot.wasserstein(u, v, p=p) for p in ps]

fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(ps, w, "o-")
ax.set_xlabel("p")
ax.set_ylabel("W_p(normal, t3)")
