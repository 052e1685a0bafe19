"""Benchmark calipers.geometry against the LES reference code and diffusion-map peers.

Run: ``python bench/bench_geometry.py`` (peers that are not installed are skipped; the LES
reference is not on PyPI: set ``LES_REFERENCE_PATH`` to a folder holding ``les/les.py`` from
github.com/shnitzer/les-distance, e.g. ``git -C <clone> archive HEAD les | tar -x -C /tmp/lesref``;
it is run beside calipers, never vendored).

Sections: (1) LES descriptor, n = 5,000 torus (exact, Nyström, reference dense + sketch) with
each descriptor's distance to calipers' exact one; (2) Nyström at n = 100,000 (the reference
would need an 80 GB matrix); (3) kNN diffusion map, n = 20,000, d = 64, 50 components, against
scikit-learn SpectralEmbedding, graphtools and pydiffmap (pydiffmap at n = 5,000: it took
90+ CPU-s at 20,000 in the research note).
"""

from __future__ import annotations

import importlib
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import Timing, machine, measure, table  # noqa: E402

from calipers import geometry  # noqa: E402

N_EIGS, GAMMA = 200, 1e-8


def torus2(n: int, rng: np.random.Generator) -> np.ndarray:
    u, v = rng.uniform(0, 2 * np.pi, (2, n))
    pts = np.c_[(10 + 3 * np.cos(v)) * np.cos(u), (10 + 3 * np.cos(v)) * np.sin(u), 3 * np.sin(v)]
    return pts + 0.01 * rng.normal(size=pts.shape)


def embeddings(n: int, rng: np.random.Generator) -> np.ndarray:
    """Embedding-like data: 20 Gaussian clusters in an 8-d latent mapped by tanh into R^64."""
    centers = rng.normal(size=(20, 8)) * 2
    z = centers[rng.integers(0, 20, n)] + rng.normal(size=(n, 8))
    w = rng.normal(size=(8, 64)) / np.sqrt(8)
    return np.tanh(z @ w) + 0.05 * rng.normal(size=(n, 64))


def reference_les():
    path = os.environ.get("LES_REFERENCE_PATH", "/tmp/lesref")
    if not os.path.exists(os.path.join(path, "les", "les.py")):
        return None
    sys.path.insert(0, path)
    return importlib.import_module("les.les")


def bench_les(rng: np.random.Generator) -> str:
    x = torus2(5000, rng)
    exact = geometry.les_descriptor(x, N_EIGS, gamma=GAMMA)
    rows = [measure("calipers exact", lambda: geometry.les_descriptor(x, N_EIGS, gamma=GAMMA))]
    nys = geometry.les_descriptor(x, N_EIGS, gamma=GAMMA, method="nystrom", rng=0)
    rows.append(
        measure(
            "calipers nystrom (1000 landmarks)",
            lambda: geometry.les_descriptor(x, N_EIGS, gamma=GAMMA, method="nystrom", rng=0),
            note=f"‖desc − exact‖ = {np.linalg.norm(nys - exact):.4f}",
        )
    )
    ref = reference_les()
    if ref is not None:
        np.random.seed(0)  # noqa: NPY002 (the reference draws from the global RNG)
        ref_desc = ref.les_desc_comp(x.copy(), 2, N_EIGS, GAMMA)[::-1]
        rows.append(
            measure(
                "les-distance reference (dense + Tropp sketch)",
                lambda: ref.les_desc_comp(x.copy(), 2, N_EIGS, GAMMA),
                repeat=1,
                note=f"‖desc − calipers exact‖ = {np.linalg.norm(ref_desc - exact):.2e}",
            )
        )
    z = embeddings(5000, rng)
    rows.append(
        measure(
            "calipers exact, 64-d embeddings (slow decay)",
            lambda: geometry.les_descriptor(z, N_EIGS, gamma=GAMMA),
            repeat=1,
            note="dense eigendecomposition fallback",
        )
    )
    zn = geometry.les_descriptor(z, N_EIGS, gamma=GAMMA, method="nystrom", rng=0)
    ze = geometry.les_descriptor(z, N_EIGS, gamma=GAMMA)
    rows[-1].note += f"; Nyström(1000) error on it: {np.linalg.norm(zn - ze):.2f}"
    if ref is not None:
        np.random.seed(0)  # noqa: NPY002 (the reference draws from the global RNG)
        rd = ref.les_desc_comp(z.copy(), 2, N_EIGS, GAMMA)[::-1]
        rows[-1].note += f"; reference sketch error: {np.linalg.norm(rd - ze):.2f}"
    return table(
        "LES descriptor, n = 5,000 (2-torus in R^3 unless noted), n_eigs = 200",
        rows,
        "calipers exact",
    )


def bench_nystrom_large(rng: np.random.Generator) -> str:
    x = torus2(100_000, rng)
    rows = [
        measure(
            "calipers nystrom n=100,000",
            lambda: geometry.les_descriptor(x, N_EIGS, gamma=GAMMA, method="nystrom", rng=0),
            repeat=1,
            note="never forms n × n (reference: 80 GB operator, not run)",
        )
    ]
    return table("LES descriptor by Nyström, n = 100,000 (2-torus)", rows, rows[0].name)


def bench_diffusion_map(rng: np.random.Generator) -> str:
    n_comp, k = 50, 15
    x = embeddings(20_000, rng)
    rows = [
        measure(
            "calipers DiffusionMap",
            lambda: geometry.DiffusionMap(n_comp, k=k, rng=0).fit(x),
            repeat=1,
            note="exact kNN + Lanczos, eigenvalues returned",
        )
    ]
    try:
        from sklearn.manifold import SpectralEmbedding

        rows.append(
            measure(
                "sklearn SpectralEmbedding (arpack)",
                lambda: SpectralEmbedding(n_comp, n_neighbors=k, random_state=0).fit(x),
                repeat=1,
                memory=False,
                note="no eigenvalues returned",
            )
        )
    except ImportError:
        pass
    try:
        import graphtools
        from scipy.sparse.linalg import eigsh

        def run_graphtools():
            g = graphtools.Graph(x, knn=k, decay=40, random_state=0, verbose=0)
            return eigsh(g.diff_aff, k=n_comp + 1, which="LA")

        rows.append(measure("graphtools Graph + eigsh", run_graphtools, repeat=1, memory=False))
    except ImportError:
        rows.append(Timing("graphtools", float("nan"), float("nan"), note="not installed"))
    try:
        from pydiffmap import diffusion_map as pdm

        small = x[:5000]
        t0 = time.perf_counter()
        geometry.DiffusionMap(n_comp, k=64, rng=0).fit(small)
        ours_small = time.perf_counter() - t0
        rows.append(
            measure(
                "pydiffmap (n = 5,000, k = 64)",
                lambda: pdm.DiffusionMap.from_sklearn(
                    n_evecs=n_comp, k=64, epsilon="bgh", alpha=1.0
                ).fit(small),
                repeat=1,
                memory=False,
                note=f"calipers at the same n, k: {ours_small:.2f} s wall",
            )
        )
    except ImportError:
        rows.append(Timing("pydiffmap", float("nan"), float("nan"), note="not installed"))
    return table("kNN diffusion map, n = 20,000, d = 64, k = 15, 50 components", rows, rows[0].name)


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"machine: {machine()}\n")
    for section in (bench_les, bench_nystrom_large, bench_diffusion_map):
        print(section(rng))


if __name__ == "__main__":
    main()
