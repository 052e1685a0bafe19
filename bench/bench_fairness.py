"""Benchmark of calipers.fairness (GLIF post-processing) against scipy and PyGSP.

Cases (Gaussian mixture with 50 centres, float64, K = 2 output columns, λ = 1, 10 neighbours):
  A. n = 10,000, d = 50, end to end (kNN graph + solve): calipers (default 'auto' = exact,
     and the deprecated approximate search), scikit-learn kneighbors_graph + scipy CG (Jacobi) per column,
     + scipy spsolve, PyGSP; and the kNN search alone against scikit-learn NearestNeighbors.
  B. n = 100,000, d = 50, end to end: calipers ('auto' = exact), the deprecated approximate
     search, scipy CG on calipers' graph
     (solve only), and the kNN search alone against scikit-learn NearestNeighbors.
  C. (--full) n = 1,000,000, k = 10 graph given (3-D points, scipy cKDTree), 10 columns:
     calipers' solver vs scipy CG with the Jacobi preconditioner, column by column.
  D. (--full or --approximate) n = 100,000 structureless N(0, I_50) points, kNN search only:
     where 'auto' used to pick the approximate search (the one input where it was faster,
     1.16×, with recall 0.31; it is deprecated and 'auto' is now exact); 'auto',
     'approximate' and 'exact' timed, and the recall of the approximate lists.

Every calipers row is timed ``REPEAT`` times (best reported, the spread in the note), as the
machine is shared.

inFairness's GraphLaplacianIF needs torch (optional for calipers): its row appears when torch and
inFairness are importable, e.g. run this script with a torch environment's Python and calipers on
PYTHONPATH. The research note measured it at n = 10,000, d = 50: 37 s and 2.8 GB (dense).

Run: .venv/bin/python bench/bench_fairness.py [--full | --large | --approximate]  (--large: case
C only; --approximate: case D only)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from _common import Timing, machine, measure, peak_mb, table

from calipers import _core
from calipers.fairness import GraphLaplacianIF, knn_recall

LAM, K_NEIGHBORS, REPEAT = 1.0, 10, 5
# scikit-learn's OpenMP runtime deadlocks in a forked child once used in the parent, so the
# fork-based memory measurement is skipped for rows that build the graph with scikit-learn.
NO_MEM = "memory not measured (OpenMP after fork)"


def blobs(n: int, d: int, seed: int = 0, centres: int = 50) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.normal(scale=4.0, size=(centres, d))
    return c[rng.integers(0, centres, n)] + rng.normal(size=(n, d))


def timed(name: str, fn: Callable[[], Any], repeat: int = REPEAT, memory: bool = True) -> Timing:
    """Best of ``repeat`` runs, with the spread of the wall times in the note."""
    walls, cpus = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    best = int(np.argmin(walls))
    note = f"best of {repeat}; wall {min(walls):.3g}–{max(walls):.3g} s" if repeat > 1 else ""
    return Timing(name, walls[best], cpus[best], peak_mb(fn) if memory else None, note)


def sklearn_knn(x: np.ndarray, k: int) -> Any:
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=k, n_jobs=-1).fit(x).kneighbors()


def jacobi_cg(w: sp.csr_matrix, f: np.ndarray, lam: float, rtol: float = 1e-8) -> np.ndarray:
    deg = np.asarray(w.sum(axis=1)).ravel()
    a = sp.identity(w.shape[0], format="csr") + lam * (sp.diags(deg) - w)
    m = sp.diags(1.0 / (1.0 + lam * deg))
    cols = [spla.cg(a, f[:, c], x0=f[:, c].copy(), rtol=rtol, M=m)[0] for c in range(f.shape[1])]
    return np.column_stack(cols)


def sklearn_graph(x: np.ndarray, k: int, theta: float) -> sp.csr_matrix:
    from sklearn.neighbors import kneighbors_graph

    g = kneighbors_graph(x, k, mode="distance", n_jobs=-1)
    g.data = np.exp(-theta * g.data**2)
    return g.maximum(g.T).tocsr()


def exact_knn_only(x: np.ndarray):
    return knn_search(x, "exact")


def knn_only_rows(x: np.ndarray, repeat: int, sklearn_repeat: int) -> list:
    """The kNN search alone: calipers' exact search, and scikit-learn's unless its repeat is 0."""
    rows = [timed("calipers exact kNN only", lambda: exact_knn_only(x), repeat=repeat)]
    if sklearn_repeat:
        rows.append(
            measure(
                "sklearn NearestNeighbors kNN only",
                lambda: sklearn_knn(x, K_NEIGHBORS),
                repeat=sklearn_repeat,
                memory=False,
                note=NO_MEM,
            )
        )
    return rows


def case_a(rows: list, notes: list) -> None:
    n, d = 10_000, 50
    x, f = blobs(n, d), np.random.default_rng(1).normal(size=(n, 2))
    auto = GraphLaplacianIF(lam=LAM, n_neighbors=K_NEIGHBORS, random_state=0)
    approx = GraphLaplacianIF(
        lam=LAM, n_neighbors=K_NEIGHBORS, algorithm="approximate", random_state=0
    )
    ref = auto.fit(x, f).transform()
    theta = auto.theta_
    out = approx.fit(x, f).transform()
    notes.append(
        f"A: 'auto' searched exactly: {auto.graph_recall_ == 1.0}; approximate kNN recall "
        f"{knn_recall(x, approx.graph_, K_NEIGHBORS, n_samples=1000):.3f}; max |approx - exact| "
        f"output {np.abs(out - ref).max():.2e}; CG iterations {auto.n_iter_.tolist()}"
    )
    rows.append(timed("calipers GLIF (auto = exact kNN)", lambda: auto.fit(x, f)))
    rows.append(timed("calipers GLIF (approximate kNN)", lambda: approx.fit(x, f)))
    rows.extend(knn_only_rows(x, REPEAT, sklearn_repeat=3))
    want = sklearn_knn(x, K_NEIGHBORS)[1]
    got = exact_knn_only(x)[0]
    notes.append(
        f"A: calipers exact kNN = sklearn's lists: {np.array_equal(np.sort(got, 1), np.sort(want, 1))}"
    )
    sol = jacobi_cg(sklearn_graph(x, K_NEIGHBORS, theta), f, LAM)
    notes.append(f"A: max |scipy CG - calipers exact| = {np.abs(sol - ref).max():.2e}")
    rows.append(
        measure(
            "sklearn kneighbors_graph + scipy CG (Jacobi)",
            lambda: jacobi_cg(sklearn_graph(x, K_NEIGHBORS, theta), f, LAM),
            repeat=3,
            memory=False,
            note=NO_MEM,
        )
    )

    def spsolve() -> np.ndarray:
        w = sklearn_graph(x, K_NEIGHBORS, theta)
        deg = np.asarray(w.sum(axis=1)).ravel()
        a = sp.identity(n, format="csc") + LAM * (sp.diags(deg) - w).tocsc()
        return spla.spsolve(a, f)

    rows.append(
        measure(
            "sklearn kneighbors_graph + scipy spsolve", spsolve, repeat=2, memory=False, note=NO_MEM
        )
    )
    try:
        from pygsp import graphs, learning

        def pygsp_run() -> np.ndarray:
            g = graphs.Graph(sklearn_graph(x, K_NEIGHBORS, theta))
            g.compute_laplacian("combinatorial")
            mask = np.ones(n, dtype=bool)
            return np.column_stack(
                [learning.regression_tikhonov(g, f[:, c], mask, tau=LAM) for c in range(2)]
            )

        sol = pygsp_run()
        notes.append(f"A: max |PyGSP - calipers exact| = {np.abs(sol - ref).max():.2e}")
        rows.append(
            measure(
                "sklearn graph + PyGSP regression_tikhonov",
                pygsp_run,
                repeat=2,
                memory=False,
                note=NO_MEM,
            )
        )
    except ImportError:
        notes.append("A: PyGSP not installed (pip install pygsp)")
    infairness_row(rows, notes, x, f)


def infairness_row(rows: list, notes: list, x: np.ndarray, f: np.ndarray) -> None:
    """inFairness GraphLaplacianIF, exact method (needs torch: run this script in an
    environment with torch and inFairness). Its graph is dense (every pair closer than the
    threshold, weight exp(-scale · distance)), so its output is not comparable with a kNN
    graph's; only time and memory are compared, at the paper's defaults (scale 0.001,
    threshold = median distance)."""
    try:
        import torch
        from inFairness.distances import EuclideanDistance
        from inFairness.postprocessing import GraphLaplacianIF as InFairnessGLIF
    except ImportError:
        notes.append("A: inFairness not installed (needs torch: pip install torch inFairness)")
        return
    # float32: inFairness builds its identity matrix in the default dtype.
    xt, ft = torch.from_numpy(x).float(), torch.from_numpy(f).float()

    def run() -> None:
        dist = EuclideanDistance()
        pp = InFairnessGLIF(dist, is_output_probas=False)
        pp.add_datapoints(xt, ft)
        median = float(torch.median(pp.distance_matrix))
        pp.postprocess("exact", lambda_param=LAM, scale=0.001, threshold=median)

    rows.append(
        measure(
            "inFairness 0.2.3 GraphLaplacianIF (exact, dense)",
            run,
            repeat=1,
            memory=False,
            note="memory not measured (torch threads after fork); research note: 2.8 GB",
        )
    )


def case_b(rows: list, notes: list) -> None:
    n, d = 100_000, 50
    x, f = blobs(n, d), np.random.default_rng(1).normal(size=(n, 2))
    model = GraphLaplacianIF(lam=LAM, n_neighbors=K_NEIGHBORS, random_state=0)
    t0 = time.perf_counter()
    model.fit(x, f)
    notes.append(
        f"B: first fit {time.perf_counter() - t0:.1f} s; 'auto' searched exactly: "
        f"{model.graph_recall_ == 1.0}; nnz/n {model.graph_.nnz / n:.1f}; "
        f"CG iterations {model.n_iter_.tolist()}"
    )
    rows.append(timed("calipers GLIF end to end (auto)", lambda: model.fit(x, f), repeat=3))
    approx = GraphLaplacianIF(
        lam=LAM, n_neighbors=K_NEIGHBORS, algorithm="approximate", random_state=0
    )
    rows.append(timed("calipers GLIF end to end (approximate)", lambda: approx.fit(x, f), repeat=1))
    notes.append(f"B: approximate search recall (sampled) {approx.graph_recall_:.3f}")
    w = model.graph_
    rows.append(
        measure(
            "scipy CG (Jacobi) on calipers' graph, solve only",
            lambda: jacobi_cg(w, f, LAM),
            repeat=1,
        )
    )
    # scikit-learn's search takes about 150 s here: only with --full.
    rows.extend(knn_only_rows(x, 3, sklearn_repeat=1 if "--full" in sys.argv else 0))


def case_c(rows: list, notes: list) -> None:
    from scipy.spatial import cKDTree

    n, cols = 1_000_000, 10
    pts = np.random.default_rng(0).random((n, 3))
    d2, idx = cKDTree(pts).query(pts, k=11, workers=-1)

    theta = 1.0 / np.median(d2[:, 1:] ** 2)
    indptr, indices, weights = _core.knn_graph(
        np.ascontiguousarray(idx[:, 1:], dtype=np.int64),
        np.ascontiguousarray(d2[:, 1:] ** 2),
        theta,
    )
    w = sp.csr_matrix((weights, indices, indptr), shape=(n, n))
    f = np.random.default_rng(1).normal(size=(n, cols))
    model = GraphLaplacianIF(lam=LAM, graph=w)
    rows.append(timed(f"calipers solve, {cols} columns", lambda: model.fit(None, f), repeat=3))
    notes.append(f"C: nnz/n {w.nnz / n:.1f}; CG iterations {model.n_iter_.tolist()}")
    one = measure("scipy CG (Jacobi), 1 column", lambda: jacobi_cg(w, f[:, :1], LAM), repeat=1)
    rows.append(one)
    rows.append(
        Timing(
            f"scipy CG (Jacobi), {cols} columns (1 column × {cols})",
            one.wall_s * cols,
            one.cpu_s * cols,
            one.peak_mb,
            "extrapolated",
        )
    )


def knn_search(x: np.ndarray, algorithm: str):
    return _core.knn_search(
        z=x,
        k=K_NEIGHBORS,
        algorithm=algorithm,
        n_trees=8,
        leaf_size=24,
        max_rounds=10,
        delta=0.001,
        seed=0,
    )


def case_d(rows: list, notes: list) -> None:
    """Where 'auto' used to pick the approximate search: structureless N(0, I_50) points, on
    which the exact search cannot prune (blocked brute force)."""
    x = np.random.default_rng(0).normal(size=(100_000, 50))
    picked: dict[str, Any] = {}
    for name, algorithm in (
        ("calipers kNN 'auto'", "auto"),
        ("calipers kNN 'approximate'", "approximate"),
        ("calipers kNN 'exact'", "exact"),
    ):
        run = lambda a=algorithm: picked.__setitem__(a, knn_search(x, a))  # noqa: E731
        rows.append(timed(name, run, repeat=1, memory=False))
    sample = np.random.default_rng(1).choice(x.shape[0], 2000, replace=False)
    exact_idx = picked["exact"][0][sample]
    recall = np.mean(
        [
            len(set(a) & set(e)) / K_NEIGHBORS
            for a, e in zip(picked["approximate"][0][sample], exact_idx, strict=True)
        ]
    )
    notes.append(
        f"D: 'auto' searched exactly: {picked['auto'][2]}; the approximate lists' recall "
        f"against the exact ones (2,000 sampled points) {recall:.3f}"
    )


def main() -> None:
    print(f"machine: {machine()}\n")
    cases = [
        (
            "A. n = 10,000, d = 50, end to end (graph + solve), 2 columns",
            case_a,
            "calipers GLIF (auto = exact kNN)",
        ),
        (
            "B. n = 100,000, d = 50, end to end, 2 columns",
            case_b,
            "calipers GLIF end to end (auto)",
        ),
        (
            "C. n = 1,000,000, kNN graph given (k = 10), 10 columns",
            case_c,
            "calipers solve, 10 columns",
        ),
        (
            "D. n = 100,000, d = 50 structureless (N(0, I)), kNN search only, k = 10",
            case_d,
            "calipers kNN 'auto'",
        ),
    ]
    if "--large" in sys.argv:
        cases = cases[2:3]
    elif "--approximate" in sys.argv:
        cases = cases[3:]
    elif "--full" not in sys.argv:
        cases = cases[:2]
    for title, case, ref in cases:
        rows: list = []
        notes: list = []
        case(rows, notes)
        print(table(title, rows, ref))
        for note in notes:
            print(f"- {note}")
        print()


if __name__ == "__main__":
    main()
