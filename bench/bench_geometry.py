"""Benchmark calipers.geometry against the LES reference code and diffusion-map peers.

Run: ``python bench/bench_geometry.py`` (peers that are not installed are skipped; the LES
reference is not on PyPI: set ``LES_REFERENCE_PATH`` to a folder holding ``les/les.py`` from
github.com/shnitzer/les-distance, e.g. ``git -C <clone> archive HEAD les | tar -x -C /tmp/lesref``;
it is run beside calipers, never vendored).

Sections (pass names to run some: ``les``, ``slow``, ``nystrom``, ``dmap``, ``lanczos``): (1) LES descriptor, n = 5,000 torus (exact, Nyström, reference dense + sketch) with
each descriptor's distance to calipers' exact one; (2) Nyström at n = 100,000 (the reference
would need an 80 GB matrix); (3) kNN diffusion map, n = 20,000, d = 64, 50 components, against
scikit-learn SpectralEmbedding, graphtools and pydiffmap (pydiffmap at n = 5,000: it took
90+ CPU-s at 20,000 in the research note); ``slow``: exact LES on slowly decaying spectra
(n = 5,000; torus, N(0, I_16), N(0, I_64), low-rank-plus-noise in R^384) against scipy
``eigsh(k=200)`` on the dense operator and the reference, median and worst over 3 draws;
``lanczos``: the diffusion map's Lanczos eigensolver and scipy ``eigsh`` on the same sparse
kNN operator (n = 20,000, top 51 eigenvalues).
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
    return geometry.DiffusionMap(n_comp, k=k, random_state=0).fit(x)


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
    note = f"block Krylov route; Nyström(1000) error {np.linalg.norm(zn - ze):.2f}"
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


def gaussian_cloud(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=(n, d))


def embedding_like(n: int, d: int, rng: np.random.Generator, rank: int = 12) -> np.ndarray:
    """Random low-rank signal plus isotropic noise (sentence-embedding-like)."""
    signal = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d)) / np.sqrt(rank)
    return signal + 0.3 * rng.normal(size=(n, d))


SLOW_DECAY_CASES = {
    "d=3 torus": lambda n, rng: torus2(n, rng),
    "d=16 N(0,I)": lambda n, rng: gaussian_cloud(n, 16, rng),
    "d=64 N(0,I)": lambda n, rng: gaussian_cloud(n, 64, rng),
    "d=384 low-rank+noise": lambda n, rng: embedding_like(n, 384, rng),
}


def dense_operator_numpy(x: np.ndarray) -> np.ndarray:
    """The LES operator written plainly (as the reference builds it)."""
    from scipy.spatial.distance import pdist, squareform

    d2 = squareform(pdist(x, "sqeuclidean"))
    k = np.exp(-d2 / (2.0 * np.median(d2)))
    q = k.sum(axis=1)
    k /= np.outer(q, q)
    p = k.sum(axis=1)
    k /= np.sqrt(np.outer(p, p))
    return k


def scipy_eigsh_descriptor(x: np.ndarray) -> np.ndarray:
    from scipy.sparse.linalg import eigsh

    a = dense_operator_numpy(x)
    lam = eigsh(a, k=N_EIGS, which="LA", tol=1e-10, v0=np.ones(len(x)))[0]
    return np.log(np.maximum(np.sort(lam)[::-1], 0.0) + GAMMA)


def _cpu_and_wall(fn, *args):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - t0, time.process_time() - c0


def bench_slow_decay(rng: np.random.Generator, n: int = 5000, draws: int = 3) -> str:
    """Exact LES on slowly decaying spectra: calipers vs scipy eigsh(k=200) on the dense
    operator (build included) vs the reference (dense + Tropp sketch), over several draws."""
    lines = [
        f"### Exact LES descriptor, n = {n:,}, n_eigs = {N_EIGS}, {draws} draws "
        f"(CALIPERS_NUM_THREADS={os.environ.get('CALIPERS_NUM_THREADS', 'all')}, "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'all')})",
        "",
        "| data | calipers wall med / worst (s) | CPU med / worst (s) | scipy eigsh wall med / "
        "worst (s) | reference wall med / worst (s) | scipy / calipers | reference / calipers "
        "| max ‖desc − eigsh‖∞ | ‖ref − calipers‖₂ | load avg (1 min) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ref = reference_les()
    # BENCH_CALIPERS_ONLY=1: calipers' rows alone (a quick quiet-machine rerun; the peers'
    # columns then read nan).
    calipers_only = os.environ.get("BENCH_CALIPERS_ONLY") == "1"
    for name, make in SLOW_DECAY_CASES.items():
        ours, cpu, peer, theirs, err, ref_err, load = [], [], [], [], [], [], []
        for _ in range(draws):
            load.append(os.getloadavg()[0])
            x = make(n, rng)
            desc, wall, c = _cpu_and_wall(les_exact, x)
            ours.append(wall)
            cpu.append(c)
            if not calipers_only:
                want, wall, _ = _cpu_and_wall(scipy_eigsh_descriptor, x)
                peer.append(wall)
                err.append(float(np.max(np.abs(desc - want))))
            if ref is not None and not calipers_only:
                np.random.seed(0)  # noqa: NPY002 (the reference draws from the global RNG)
                rdesc, wall, _ = _cpu_and_wall(les_reference, x)
                theirs.append(wall)
                ref_err.append(float(np.linalg.norm(rdesc[::-1] - desc)))
        med = {
            k: float(np.median(v))
            for k, v in (("o", ours), ("p", peer or [np.nan]), ("r", theirs or [np.nan]))
        }
        worst_r = max(theirs) if theirs else float("nan")
        lines.append(
            f"| {name} | {med['o']:.2f} / {max(ours):.2f} | {np.median(cpu):.2f} / {max(cpu):.2f} "
            f"| {med['p']:.2f} / {max(peer, default=np.nan):.2f} | {med['r']:.2f} / {worst_r:.2f} "
            f"| {med['p'] / med['o']:.1f}× | {med['r'] / med['o']:.1f}× | {max(err, default=np.nan):.1e} "
            f"| {max(ref_err) if ref_err else float('nan'):.2f} "
            f"| {min(load):.1f}–{max(load):.1f} |"
        )
        print(lines[-1], flush=True)
    return "\n".join(lines) + "\n"


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


def knn_operator(x: np.ndarray, k: int):
    """The symmetric normalised Gaussian kNN operator D^-1/2 W D^-1/2 as a sorted CSR matrix."""
    import scipy.sparse
    from sklearn.neighbors import NearestNeighbors

    w = NearestNeighbors(n_neighbors=k).fit(x).kneighbors_graph(x, mode="distance")
    w.data = np.exp(-(w.data**2) / np.median(w.data**2))
    w = w.maximum(w.T).tocsr()
    s = 1.0 / np.sqrt(np.asarray(w.sum(axis=1)).ravel())
    a = scipy.sparse.diags(s) @ w @ scipy.sparse.diags(s)
    a = ((a + a.T) / 2).tocsr()
    a.sort_indices()
    return a


def bench_lanczos(rng: np.random.Generator) -> str:
    """calipers' Lanczos (the diffusion map's eigensolver) and scipy eigsh on the same CSR."""
    from scipy.sparse.linalg import eigsh

    from calipers import _core

    nev, k = 51, 15
    a = knn_operator(embeddings(20_000, rng), k)
    args = {
        "indptr": a.indptr.astype(np.int64),
        "indices": a.indices.astype(np.int64),
        "values": a.data,
    }
    ours = _core.lanczos_eigenvalues(**args, nev=nev, tol=1e-8, seed=0)[0]
    theirs = eigsh(a, k=nev, which="LA", tol=1e-8, v0=np.ones(a.shape[0]))[0][::-1]
    gap = float(np.abs(ours - theirs).max())
    rows = [
        measure(
            "calipers Lanczos (Chebyshev-filtered, thick restart)",
            lambda: _core.lanczos_eigenvalues(**args, nev=nev, tol=1e-8, seed=0),
            repeat=3,
            note=f"max |λ − λ_eigsh| = {gap:.1e}",
        ),
        measure(
            "scipy eigsh (ARPACK, which='LA', tol=1e-8)",
            lambda: eigsh(a, k=nev, which="LA", tol=1e-8, v0=np.ones(a.shape[0])),
            repeat=3,
        ),
    ]
    return table(
        f"Lanczos: top {nev} eigenvalues of one kNN operator (n = 20,000, d = 64, k = {k}, "
        f"nnz = {a.nnz:,})",
        rows,
        rows[0].name,
    )


SECTIONS = {
    "les": bench_les,
    "slow": bench_slow_decay,
    "nystrom": bench_nystrom_large,
    "dmap": bench_diffusion_map,
    "lanczos": bench_lanczos,
}


def main(names: list[str]) -> None:
    """Runs the named sections (all by default): ``bench_geometry.py slow dmap``."""
    rng = np.random.default_rng(0)
    print(f"machine: {machine()}\n")
    for name in names or list(SECTIONS):
        print(SECTIONS[name](rng))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--peak":
        peak_case(sys.argv[2])
    else:
        main(sys.argv[1:])
