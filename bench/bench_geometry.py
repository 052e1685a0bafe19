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
from _common import Timing, best_time, machine, table  # noqa: E402

from calipers import geometry  # noqa: E402

N_EIGS, GAMMA = 200, 1e-8


# Peak memory is measured in a fresh interpreter (`python bench_geometry.py --peak CASE`):
# `_common.peak_mb` forks, and a forked child of a process whose rayon pool is running has no
# worker threads (fork copies only the calling thread), so calipers calls in it block forever.
PEAK_CASES = {
    "exact": (lambda: torus2(5000, np.random.default_rng(0)), lambda x: les_exact(x)),
    "nystrom": (lambda: torus2(5000, np.random.default_rng(0)), lambda x: les_nystrom(x)),
    "nystrom100k": (lambda: torus2(100_000, np.random.default_rng(0)), lambda x: les_nystrom(x)),
    "dmap": (lambda: embeddings(20_000, np.random.default_rng(0)), lambda x: dmap(x, 50, 15)),
}


def peak_case(case: str) -> None:
    """Prints the case's peak resident memory above the resident set before it ran (MB).

    The kernel's high-water mark is reset first (``/proc/self/clear_refs``): the peak of
    ``getrusage`` would still hold the imports' peak, hiding any smaller growth.
    """
    make, run = PEAK_CASES[case]
    x = make()
    before = _status_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    run(x)
    print(_status_mb("VmHWM") - before)


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"{key} is not in /proc/self/status")


def peak_mb_fresh(case: str | None) -> float | None:
    """Peak extra RSS (MB) of a PEAK_CASES entry, run in a fresh interpreter."""
    if case is None:
        return None
    import subprocess

    out = subprocess.run(
        [sys.executable, __file__, "--peak", case], capture_output=True, text=True, check=False
    )
    try:
        return float(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def measure(name, fn, *args, repeat=3, peak=None, note="") -> Timing:
    wall, cpu = best_time(lambda: fn(*args), repeat)
    return Timing(name, wall, cpu, peak_mb_fresh(peak), note)


def les_exact(x):
    return geometry.les_descriptor(x, N_EIGS, gamma=GAMMA)


def les_nystrom(x):
    return geometry.les_descriptor(x, N_EIGS, gamma=GAMMA, method="nystrom", rng=0)


def les_reference(x):
    return reference_les().les_desc_comp(x.copy(), 2, N_EIGS, GAMMA)


def dmap(x, n_comp, k):
    return geometry.DiffusionMap(n_comp, k=k, rng=0).fit(x)


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
    exact = les_exact(x)
    rows = [measure("calipers exact", les_exact, x, peak="exact")]
    nys = les_nystrom(x)
    rows.append(
        measure(
            "calipers nystrom (1000 landmarks)",
            les_nystrom,
            x,
            peak="nystrom",
            note=f"‖desc − exact‖ = {np.linalg.norm(nys - exact):.4f}",
        )
    )
    if reference_les() is not None:
        np.random.seed(0)  # noqa: NPY002 (the reference draws from the global RNG)
        ref_desc = les_reference(x)[::-1]
        rows.append(
            measure(
                "les-distance reference (dense + Tropp sketch)",
                les_reference,
                x,
                repeat=1,
                note=f"‖desc − calipers exact‖ = {np.linalg.norm(ref_desc - exact):.1e}",
            )
        )
    z = embeddings(2000, rng)
    ze = les_exact(z)
    zn = les_nystrom(z)
    note = f"dense-eigh fallback; Nyström(1000) error {np.linalg.norm(zn - ze):.2f}"
    if reference_les() is not None:
        np.random.seed(0)  # noqa: NPY002
        note += f", reference sketch error {np.linalg.norm(les_reference(z)[::-1] - ze):.2f}"
    rows.append(
        measure("calipers exact, n=2,000 64-d embeddings", les_exact, z, repeat=1, note=note)
    )
    return table(
        "LES descriptor, n = 5,000 2-torus in R^3 (last row: slow-decay data), n_eigs = 200",
        rows,
        "calipers exact",
    )


def bench_nystrom_large(rng: np.random.Generator) -> str:
    x = torus2(100_000, rng)
    rows = [
        measure(
            "calipers nystrom n=100,000",
            les_nystrom,
            x,
            repeat=1,
            peak="nystrom100k",
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
            dmap,
            x,
            n_comp,
            k,
            repeat=3,
            peak="dmap",
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

        rows.append(measure("graphtools Graph + eigsh", run_graphtools, repeat=1))
    except ImportError:
        rows.append(Timing("graphtools", float("nan"), float("nan"), note="not installed"))
    try:
        from pydiffmap import diffusion_map as pdm

        small = x[:5000]
        t0 = time.perf_counter()
        dmap(small, n_comp, 64)
        ours_small = time.perf_counter() - t0
        rows.append(
            measure(
                "pydiffmap (n = 5,000, k = 64)",
                lambda: pdm.DiffusionMap.from_sklearn(
                    n_evecs=n_comp, k=64, epsilon="bgh", alpha=1.0
                ).fit(small),
                repeat=1,
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
    if len(sys.argv) == 3 and sys.argv[1] == "--peak":
        peak_case(sys.argv[2])
    else:
        main()
