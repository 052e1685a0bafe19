"""Individual fairness: fair metrics, sparse similarity graphs, graph-Laplacian
post-processing (GLIF, GLIF-NRW, out-of-sample), consistency metrics and the statistical
audit of Maity et al.

Post-processing follows Petersen, Mukherjee, Sun & Yurochkin, "Post-processing for Individual
Fairness" (NeurIPS 2021): with a fair distance ``d(x, x')² = ||T (x - x')||²`` and a similarity
graph ``W`` on the points, the post-processed outputs are

    F = argmin_F ||F - F̂||² + λ tr(Fᵀ L F) = (I + λ L)⁻¹ F̂,      L = D - W,

solved for all output columns at once by Jacobi-preconditioned conjugate gradients in the Rust
core. No dense n × n matrix is ever formed: graphs are sparse (kNN, radius or user-supplied),
and the solver needs only sparse matrix-block products.

The audit follows Maity, Xue, Yurochkin & Sun, "Statistical inference for individual fairness"
(ICLR 2021): from per-sample loss ratios of an adversarial search in the fair neighbourhood
(see :func:`calipers.torch.fairness.loss_ratios` where torch is installed) it gives a one-sided
lower confidence bound of the mean ratio and a test of ``E[r] <= delta``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from scipy import stats

from . import _core
from ._estimator import Estimator, renamed_keyword
from ._results import ConfidenceInterval, Result
from ._validation import (
    ArrayLike,
    as_float_array,
    check_memory,
    check_open_unit,
    check_scalar,
    seed_from_rng,
)
from .exceptions import (
    ConvergenceWarning,
    InvalidArgumentError,
    ShapeError,
)

__all__ = [
    "AuditResult",
    "FairMetric",
    "GraphLaplacianIF",
    "audit",
    "counterfactual_consistency",
    "kneighbors_graph",
    "knn_consistency",
    "knn_recall",
    "lipschitz_violation_rate",
    "radius_graph",
]

_PROB_FLOOR = 1e-12


# --------------------------------------------------------------------------------------------
# Fair metric
# --------------------------------------------------------------------------------------------


class FairMetric(Estimator):
    """A fair distance ``d(x, x')² = ||(x - x') T||²`` stored as one linear map ``T``.

    The map is applied once (``transform``), after which every distance is plain Euclidean,
    so graphs and neighbour searches never need pairwise Mahalanobis computations.

    Parameters
    ----------
    n_components : int, optional
        With ``fit(directions)``: keep the top ``n_components`` right singular vectors of the
        ``directions`` matrix (a truncated SVD without centring, like scikit-learn's
        ``TruncatedSVD``, as in Petersen et al.'s code and inFairness's
        ``SVDSensitiveSubspaceDistance``). ``None`` keeps the whole span of the directions.
    sigma : array_like, shape (d, d), optional
        A symmetric positive semi-definite Mahalanobis matrix. Combined with sensitive
        directions the distance is ``(x - x')ᵀ (I - P) Σ (I - P) (x - x')``.

    Attributes
    ----------
    basis_ : ndarray, shape (d, r)
        Orthonormal basis of the sensitive subspace (``r = 0`` when none was given).
    map_ : ndarray, shape (d, m)
        The linear map ``T``; ``transform(X) = X @ map_``.

    Notes
    -----
    Without ``sigma`` the distance is ``||(I - P_A)(x - x')||²`` with ``P_A`` the orthogonal
    projector onto the sensitive subspace; ``map_`` is then an orthonormal basis of its
    complement, so ``m = d - r`` (fewer columns, faster neighbour search).
    """

    def __init__(self, n_components: int | None = None, sigma: Any = None) -> None:
        self.n_components = n_components
        self.sigma = sigma

    def fit(self, directions: Any = None) -> FairMetric:
        """Learn the map from sensitive ``directions`` (rows; e.g. embedding differences of
        counterfactual pairs, or embeddings of names). ``None``: no sensitive subspace."""
        sigma = None if self.sigma is None else as_float_array(self.sigma, "sigma", ndim=2)
        if directions is None:
            if sigma is None:
                raise InvalidArgumentError(
                    "directions: pass sensitive directions, or a sigma matrix, to define the metric"
                )
            d = sigma.shape[0]
            basis = np.zeros((d, 0))
        else:
            a = as_float_array(directions, "directions", ndim=(1, 2))
            a = a.reshape(1, -1) if a.ndim == 1 else a
            d = a.shape[1]
            basis = _sensitive_basis(a, self.n_components)
        projector_complement = np.eye(d) - basis @ basis.T
        if sigma is None:
            self.map_ = _complement_basis(basis, d)
        else:
            if sigma.shape != (d, d):
                raise ShapeError(f"sigma: expected shape ({d}, {d}), got {sigma.shape}")
            if not np.allclose(sigma, sigma.T, atol=1e-10 * max(1.0, np.abs(sigma).max())):
                raise InvalidArgumentError("sigma: must be symmetric")
            m = projector_complement @ sigma @ projector_complement
            self.map_ = _psd_factor((m + m.T) / 2)
        self.basis_ = basis
        self.n_features_in_ = d
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Map points into the fair space (``X @ map_``)."""
        self._check_fitted()
        x = as_float_array(X, "X", ndim=2)
        if x.shape[1] != self.n_features_in_:
            raise ShapeError(
                f"X: has {x.shape[1]} features but the metric was fitted on {self.n_features_in_}"
            )
        return np.ascontiguousarray(x @ self.map_)

    def squared_distance(self, X1: ArrayLike, X2: ArrayLike) -> np.ndarray:
        """Row-wise squared fair distances ``d(X1[i], X2[i])²``."""
        z1, z2 = self.transform(X1), self.transform(X2)
        if z1.shape != z2.shape:
            raise ShapeError(f"X1 and X2 have shapes {z1.shape} and {z2.shape}; pass equal shapes")
        return np.einsum("ij,ij->i", z1 - z2, z1 - z2)

    _fitted_attribute = "map_"
    _fit_hint = "call fit(directions) before using the metric"


def _sensitive_basis(a: np.ndarray, n_components: int | None) -> np.ndarray:
    _, s, vt = np.linalg.svd(a, full_matrices=False)
    rank = int((s > s.max() * max(a.shape) * np.finfo(float).eps).sum()) if s.size else 0
    if n_components is None:
        r = rank
    else:
        r = check_scalar(n_components, "n_components", kind=int, low=1)
        if r > rank:
            raise InvalidArgumentError(
                f"n_components: is {r} but the directions span only {rank} dimensions; "
                f"pass n_components <= {rank}"
            )
    return np.ascontiguousarray(vt[:r].T)


def _complement_basis(basis: np.ndarray, d: int) -> np.ndarray:
    if basis.shape[1] == 0:
        return np.eye(d)
    if basis.shape[1] >= d:
        raise InvalidArgumentError(
            "directions: span the whole feature space, so every fair distance would be 0; "
            "pass fewer directions or a smaller n_components"
        )
    u, _, _ = np.linalg.svd(basis, full_matrices=True)
    return np.ascontiguousarray(u[:, basis.shape[1] :])


def _psd_factor(m: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(m)
    top = max(vals.max(), 0.0)
    if vals.min() < -1e-8 * max(top, 1.0):
        raise InvalidArgumentError("sigma: must be positive semi-definite")
    keep = vals > 1e-12 * max(top, 1.0)
    if not keep.any():
        raise InvalidArgumentError("sigma: the fair metric is identically zero")
    return np.ascontiguousarray(vecs[:, keep] * np.sqrt(vals[keep]))


def _fair_points(X: Any, metric: FairMetric | None, name: str = "X") -> np.ndarray:
    if metric is None:
        return as_float_array(X, name, ndim=2)
    if not isinstance(metric, FairMetric):
        raise InvalidArgumentError(f"metric: expected a fitted FairMetric, got {type(metric)}")
    return metric.transform(as_float_array(X, name, ndim=2))


# --------------------------------------------------------------------------------------------
# Graphs
# --------------------------------------------------------------------------------------------


# Bytes per (point, neighbour) pair from the search to a symmetrised graph: the lists
# (index and squared distance), both directions of each edge while rows are merged, the CSR.
_BYTES_PER_NEIGHBOR = 64


def _check_neighbors(n_neighbors: Any, n: int) -> int:
    k = check_scalar(n_neighbors, "n_neighbors", kind=int, low=1)
    if k >= n:
        raise InvalidArgumentError(
            f"n_neighbors: is {k} but there are only {n} points; pass n_neighbors < {n}"
        )
    check_memory(
        float(n) * k * _BYTES_PER_NEIGHBOR,
        "n_neighbors",
        f"a kNN graph of {n} points keeps {k} neighbours each; pass a smaller n_neighbors",
    )
    return k


def _warn_approximate_deprecated() -> None:
    """``algorithm='approximate'`` is kept for one release: on every input measured it was
    either slower than the exact search or missed most neighbours (bench/RESULTS.md,
    fairness D: 1.16× faster with recall 0.31 on N(0, I₅₀) at n = 10⁵; 3.8–5.9× slower on
    clustered data)."""
    import warnings

    warnings.warn(
        "algorithm='approximate' is deprecated and will be removed in the next minor release: "
        "the exact search was as fast or faster on every measured input, and the approximate "
        "lists missed up to 69% of the neighbours; use algorithm='exact' (or 'auto')",
        FutureWarning,
        stacklevel=4,
    )


def _knn_lists(
    z: np.ndarray,
    k: int,
    algorithm: str,
    rng: Any,
    n_trees: int | None,
    leaf_size: int | None,
    seed_name: str = "rng",
) -> tuple[np.ndarray, np.ndarray, bool]:
    if algorithm not in ("auto", "exact", "approximate"):
        raise InvalidArgumentError(
            f"algorithm: got {algorithm!r}; use 'auto', 'exact' or 'approximate'"
        )
    if algorithm == "approximate":
        _warn_approximate_deprecated()
    trees = 8 if n_trees is None else check_scalar(n_trees, "n_trees", kind=int, low=1)
    leaf = (
        max(2 * k, 24)
        if leaf_size is None
        else check_scalar(leaf_size, "leaf_size", kind=int, low=2)
    )
    seed = seed_from_rng(rng, seed_name) if algorithm != "exact" else 0
    idx, d2, exact = _core.knn_search(
        z=z,
        k=k,
        algorithm=algorithm,
        n_trees=trees,
        leaf_size=leaf,
        max_rounds=10,
        delta=0.001,
        seed=seed,
    )
    return idx, d2, exact


_FLOAT_MAX = float(np.finfo(np.float64).max)
# Inside this range of |coordinates| squared distances (and the kNN search's matrix-product
# form) neither overflow nor underflow; outside it points are rescaled first.
_SAFE_LOW, _SAFE_HIGH = 2.0**-400, 2.0**400


def _unit_of(z: np.ndarray) -> float:
    """A power of two ``s`` with ``max |z / s|`` in [1, 2) when ``z`` is so large (or small)
    that squared distances would overflow (or underflow); else 1. Dividing by a power of two
    is exact, so neighbours and scale-free quantities (the default kernel) are unchanged."""
    largest = float(np.max(np.abs(z))) if z.size else 0.0
    if largest == 0.0 or _SAFE_LOW <= largest <= _SAFE_HIGH:
        return 1.0
    return math.ldexp(1.0, math.frexp(largest)[1] - 1)


def _scaled(z: np.ndarray) -> tuple[np.ndarray, float]:
    """``(z / s, s)`` with ``s = _unit_of(z)``."""
    unit = _unit_of(z)
    return (z if unit == 1.0 else np.ascontiguousarray(z / unit)), unit


def _default_theta(d2: np.ndarray) -> float:
    med = float(np.median(d2)) if d2.size else 0.0
    return min(1.0 / med, _FLOAT_MAX) if med > 0 else 1.0


def _thetas(theta: Any, d2: np.ndarray, unit: float) -> tuple[float, float]:
    """``(theta for squared distances in scaled units, theta in the caller's units)``."""
    if theta is None:
        internal = _default_theta(d2)
        return internal, internal / unit / unit
    user = check_scalar(theta, "theta", low=0.0)
    return min(user * unit * unit, _FLOAT_MAX), user


def _squared_radius(tau: float, unit: float) -> float:
    """``tau`` (a squared distance in the caller's units) in scaled units."""
    return min(tau / unit / unit, _FLOAT_MAX)


def _gaussian(theta: float, d2: np.ndarray) -> np.ndarray:
    """``exp(-theta d²)`` for a finite ``theta`` (products that overflow give weight 0)."""
    with np.errstate(over="ignore"):
        return np.exp(-theta * d2)


def kneighbors_graph(
    X: ArrayLike,
    n_neighbors: int = 10,
    *,
    metric: FairMetric | None = None,
    theta: float | None = None,
    algorithm: Literal["auto", "exact", "approximate"] = "auto",
    n_trees: int | None = None,
    leaf_size: int | None = None,
    rng: Any = None,
) -> sp.csr_matrix:
    """Symmetrised kNN similarity graph in the fair space, weights ``exp(-θ d²)``.

    ``i ~ j`` when ``j`` is among the ``n_neighbors`` nearest points of ``i`` or vice versa
    (union); no self-loops.

    Parameters
    ----------
    X : array_like, shape (n, d)
    n_neighbors : int, default 10
        Must be below ``n``.
    metric : FairMetric, optional
        Fitted fair metric (plain Euclidean when omitted).
    theta : float, optional
        Kernel scale; default ``1 / median`` of the kNN squared distances (``theta=0`` gives
        binary weights).
    algorithm : {'auto', 'exact', 'approximate'}
        'exact' (and 'auto', which means the same) is an exact search: matrix-product
        distances over k-means balls, nearest balls first, skipping balls that cannot hold a
        neighbour (on clustered data a small part of the n² pairs; on structureless
        high-dimensional data O(n² d) brute force). 'approximate' (deprecated, FutureWarning)
        is a random-projection forest (``n_trees`` trees, leaves of ``leaf_size`` points)
        refined by NN-descent rounds: on every input measured it was slower than the exact
        search or missed most neighbours, so 'auto' no longer picks it.
    rng : None, int or Generator
        Seed of the approximate search (results are identical for any thread count).

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n, n)
        Peak memory O(n · n_neighbors) (a few arrays of n · k entries), never O(n²).
    """
    z, unit = _scaled(_fair_points(X, metric))
    k = _check_neighbors(n_neighbors, z.shape[0])
    idx, d2, _ = _knn_lists(z, k, algorithm, rng, n_trees, leaf_size)
    th, _ = _thetas(theta, d2, unit)
    return _csr(*_core.knn_graph(idx, d2, th), z.shape[0])


def radius_graph(
    X: ArrayLike, tau: float, *, metric: FairMetric | None = None, theta: float | None = None
) -> sp.csr_matrix:
    """Radius graph of Petersen et al.: ``W_ij = exp(-θ d²_ij) · 1[d²_ij <= tau]``, ``i ≠ j``.

    ``tau`` bounds the *squared* fair distance, as in the paper's code. ``theta`` defaults to
    ``1 / median`` of the squared distances of the edges. Exact search, O(n² d) time and
    O(nnz) memory; for large ``n`` prefer :func:`kneighbors_graph`. The graph may be empty
    (no pair within ``tau``); :class:`GraphLaplacianIF` rejects an empty graph. Each edge
    costs about 40 bytes up to a solved graph: a ``tau`` that finds more edges than the
    memory budget (physical memory, or ``CALIPERS_MAX_MEMORY``) allows raises
    :class:`~calipers.exceptions.MemoryBudgetError` naming ``tau`` as soon as the search
    has found that many, long before ``n²`` edges are stored.
    """
    z, unit = _scaled(_fair_points(X, metric))
    tau = check_scalar(tau, "tau", low=0.0)
    indptr, indices, d2 = _core.knn_radius(
        reference=z, queries=z, tau=_squared_radius(tau, unit), same_set=True
    )
    th, _ = _thetas(theta, d2, unit)
    return _csr(indptr, indices, _gaussian(th, d2), z.shape[0])


def _csr(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray, n: int) -> sp.csr_matrix:
    return sp.csr_matrix((weights, indices, indptr), shape=(n, n))


def knn_recall(
    X: ArrayLike,
    graph: sp.spmatrix,
    n_neighbors: int,
    *,
    metric: FairMetric | None = None,
    n_samples: int = 256,
    rng: Any = 0,
) -> float:
    """Share of the true ``n_neighbors`` nearest neighbours present in ``graph``, estimated on
    ``n_samples`` random points by exact search (cost O(n_samples · n · d))."""
    z, _ = _scaled(_fair_points(X, metric))
    n = z.shape[0]
    k = _check_neighbors(n_neighbors, n)
    g = sp.csr_matrix(graph)
    sample = np.random.default_rng(seed_from_rng(rng)).choice(
        n, size=min(n_samples, n), replace=False
    )
    true_idx, _ = _core.knn_query(z, np.ascontiguousarray(z[sample]), k + 1)
    hits = 0
    for row, i in enumerate(sample):
        truth = [j for j in true_idx[row] if j != i][:k]
        neigh = set(g.indices[g.indptr[i] : g.indptr[i + 1]].tolist())
        hits += sum(j in neigh for j in truth)
    return hits / (k * sample.size)


# --------------------------------------------------------------------------------------------
# GLIF post-processing
# --------------------------------------------------------------------------------------------


class GraphLaplacianIF(Estimator):
    """Graph-Laplacian individual-fairness post-processing (GLIF / GLIF-NRW).

    Smooths a frozen model's outputs over a similarity graph in the fair space:
    ``F = (I + λ L)⁻¹ F̂``, every output column at once.

    Parameters
    ----------
    lam : float, default 1.0
        Smoothing strength λ >= 0 (λ = 0 returns the input).
    graph : {'knn', 'radius'} or scipy.sparse matrix, default 'knn'
        How to build ``W`` from ``X``, or a precomputed symmetric non-negative ``n × n``
        graph (then ``X`` may be None, except for out-of-sample updates).
    n_neighbors : int, default 10
        For ``graph='knn'`` and for connecting new points to the fitted ones.
    tau : float, optional
        Squared-distance threshold of ``graph='radius'`` (required there).
    theta : float, optional
        Gaussian kernel scale of ``exp(-θ d²)``; default ``1/median`` of the graph's squared
        distances.
    metric : FairMetric, optional
        Fitted fair metric; plain Euclidean when omitted.
    variant : {'glif', 'nrw'}, default 'glif'
        'glif': ``L = D - W``. 'nrw': the normalised random-walk Laplacian of Petersen et al.'s
        code, ``L = I - (D̃⁻¹W̃ + W̃D̃⁻¹)/2`` with ``W̃ = D^{-1/2} W D^{-1/2}``, and λ multiplied
        by the mean degree (inFairness's ``normalize=True`` omits this scaling; pass
        ``lam / mean_degree`` to reproduce it). Isolated nodes are left unchanged.
    output : {'logits', 'probabilities'}, default 'logits'
        Space in which scores are smoothed. 'logits': as given (the paper's choice).
        'probabilities': rows of class probabilities (or a 1-D vector of P(class 1)) are
        mapped to additive log-ratios against the last class (as inFairness does),
        smoothed, and mapped back; probabilities are floored at 1e-12 before the log.
    tol : float, default 1e-8
        Relative residual ``||r|| / ||F̂||`` per column at which CG stops.
    max_iter : int, default 1000
    algorithm : {'auto', 'exact', 'approximate'}, default 'auto'
        Neighbour search for ``graph='knn'`` (see :func:`kneighbors_graph`).
    random_state : None, int or Generator
        Seed of the approximate neighbour search (scikit-learn's name; the old ``rng=`` is
        accepted with a FutureWarning).

    Attributes
    ----------
    graph_ : scipy.sparse.csr_matrix
        The similarity graph ``W``.
    theta_ : float or None
    fitted_scores_ : ndarray
        Post-processed outputs of the fitted points, in the input's shape and space.
    n_iter_ : ndarray of int
        CG iterations per output column.
    residuals_ : ndarray
        Final relative residual per column.
    lam_effective_ : float
        λ actually used (λ · mean degree for 'nrw').
    graph_recall_ : float
        Estimated recall of the approximate kNN search (1.0 for exact search or given graphs).

    Notes
    -----
    Disconnected graphs are allowed: each component is smoothed separately. Peak memory of the
    solve is about 40 bytes per stored edge of ``W`` plus 64 bytes per score entry (n · K);
    the graph search adds the fair-space copy of ``X`` (n · m · 8 bytes) and, for the
    approximate search, about 1 KB per point (k = 10); no n × n matrix is formed. Measured
    (``bench/bench_fairness.py``): 20 MB at n = 10⁴, d = 50 and 199 MB at n = 10⁵, d = 50
    end to end; 1.2 GB for the solve alone at n = 10⁶ (11.5 edges per node, 10 columns). New points
    (``transform(X_new, scores_new)``) take one exact coordinate step of the objective with the
    fitted outputs frozen: ``f_new = (f̂_new + λ Σ_j w_j f_j) / (1 + λ Σ_j w_j)`` over their
    ``n_neighbors`` nearest fitted points (radius graph: all fitted points within ``tau``), with
    ``w_j = exp(-θ d²)``. For 'nrw' the weights are normalised to sum to one and λ is
    ``lam_effective_`` (the random-walk coordinate step).

    Examples
    --------
    >>> import numpy as np
    >>> from calipers.fairness import GraphLaplacianIF
    >>> X = np.random.default_rng(0).normal(size=(200, 5))
    >>> scores = X[:, :2] + 0.1
    >>> F = GraphLaplacianIF(lam=1.0).fit(X, scores).transform()
    >>> F.shape
    (200, 2)
    """

    def __init__(
        self,
        lam: float = 1.0,
        *,
        graph: Any = "knn",
        n_neighbors: int = 10,
        tau: float | None = None,
        theta: float | None = None,
        metric: FairMetric | None = None,
        variant: Literal["glif", "nrw"] = "glif",
        output: Literal["logits", "probabilities"] = "logits",
        tol: float = 1e-8,
        max_iter: int = 1000,
        algorithm: Literal["auto", "exact", "approximate"] = "auto",
        random_state: Any = None,
        **renamed: Any,
    ) -> None:
        self.lam = lam
        self.graph = graph
        self.n_neighbors = n_neighbors
        self.tau = tau
        self.theta = theta
        self.metric = metric
        self.variant = variant
        self.output = output
        self.tol = tol
        self.max_iter = max_iter
        self.algorithm = algorithm
        self.random_state = renamed_keyword(
            "GraphLaplacianIF", renamed, "rng", "random_state", random_state
        )

    _fitted_attribute = "fitted_scores_"
    _fit_hint = "call fit(X, scores) first"

    # -- fitting ------------------------------------------------------------------------------

    def fit(self, X: ArrayLike, scores: Any, progress: Any = None) -> GraphLaplacianIF:
        """Build the graph on ``X`` (unless given) and post-process ``scores`` (n,) or (n, K).

        ``progress`` is an optional callable ``(iteration, max_iter)`` called during CG.
        """
        lam = check_scalar(self.lam, "lam", low=0.0)
        tol = check_scalar(self.tol, "tol", low=0.0, low_inclusive=False)
        max_iter = check_scalar(self.max_iter, "max_iter", kind=int, low=1)
        if self.variant not in ("glif", "nrw"):
            raise InvalidArgumentError(f"variant: got {self.variant!r}; use 'glif' or 'nrw'")
        internal, self._shape = self._to_internal(scores)
        n = internal.shape[0]
        z, self._unit = (None, 1.0) if X is None else _scaled(_fair_points(X, self.metric))
        if z is not None and z.shape[0] != n:
            raise ShapeError(
                f"X has {z.shape[0]} rows but scores has {n}; pass one score row per point"
            )
        w = self._build_graph(z, n)
        # The solve is linear in the scores: scores near ±1e308 (or tiny ones) are solved
        # divided by a power of two, so that CG's squared norms cannot overflow (or underflow).
        unit = _unit_of(internal)
        values, iters, res, lam_eff = _core.fairness_glif_solve(
            indptr=w.indptr.astype(np.int64),
            indices=w.indices.astype(np.int64),
            weights=np.ascontiguousarray(w.data, dtype=np.float64),
            scores=internal if unit == 1.0 else internal / unit,
            lam=lam,
            variant=self.variant,
            tol=tol,
            max_iter=max_iter,
            progress=progress,
        )
        values = values if unit == 1.0 else values * unit
        if not np.all(res <= tol):
            import warnings

            warnings.warn(
                f"GraphLaplacianIF: CG stopped after {max_iter} iterations with relative "
                f"residuals up to {res.max():.3g} > tol={tol}; raise max_iter",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.graph_ = w
        self._scores_in = internal
        self._smoothed = values
        self._z = z
        self.n_iter_ = iters
        self.residuals_ = res
        self.lam_effective_ = float(lam_eff)
        self.fitted_scores_ = self._from_internal(values, self._shape)
        self.n_features_in_ = None if X is None else np.shape(X)[1]
        return self

    def fit_transform(self, X: ArrayLike, scores: Any) -> np.ndarray:
        return self.fit(X, scores).transform()

    def _build_graph(self, z: np.ndarray | None, n: int) -> sp.csr_matrix:
        self.graph_recall_ = 1.0
        if sp.issparse(self.graph):
            w = sp.csr_matrix(self.graph, dtype=np.float64, copy=True)
            if w.shape != (n, n):
                raise ShapeError(f"graph: has shape {w.shape} but there are {n} points")
            w.sum_duplicates()
            w.sort_indices()
            self.theta_ = self.theta
            self._theta_internal = (
                None if self.theta is None else _thetas(self.theta, np.zeros(0), self._unit)[0]
            )
            return w
        if z is None:
            raise InvalidArgumentError("X: is None; pass points, or a precomputed sparse graph")
        if self.graph == "knn":
            k = _check_neighbors(self.n_neighbors, n)
            idx, d2, exact = _knn_lists(
                z, k, self.algorithm, self.random_state, None, None, "random_state"
            )
            self._theta_internal, self.theta_ = _thetas(self.theta, d2, self._unit)
            w = _csr(*_core.knn_graph(idx, d2, self._theta_internal), n)
            if not exact:
                self.graph_recall_ = knn_recall(z, w, k, rng=0)
            return w
        if self.graph == "radius":
            if self.tau is None:
                raise InvalidArgumentError(
                    "tau: graph='radius' needs tau (a squared fair distance)"
                )
            tau = _squared_radius(check_scalar(self.tau, "tau", low=0.0), self._unit)
            indptr, indices, d2 = _core.knn_radius(reference=z, queries=z, tau=tau, same_set=True)
            self._theta_internal, self.theta_ = _thetas(self.theta, d2, self._unit)
            return _csr(indptr, indices, _gaussian(self._theta_internal, d2), n)
        raise InvalidArgumentError(
            f"graph: got {self.graph!r}; use 'knn', 'radius' or a scipy.sparse matrix"
        )

    # -- output spaces ------------------------------------------------------------------------

    def _to_internal(self, scores: Any) -> tuple[np.ndarray, tuple[int, ...]]:
        s = as_float_array(scores, "scores", ndim=(1, 2))
        if self.output == "logits":
            return np.ascontiguousarray(s.reshape(s.shape[0], -1)), s.shape
        if self.output != "probabilities":
            raise InvalidArgumentError(
                f"output: got {self.output!r}; use 'logits' or 'probabilities'"
            )
        if (s < 0).any() or (s > 1).any():
            raise InvalidArgumentError("scores: probabilities must lie in [0, 1]")
        if s.ndim == 1:
            p = np.clip(s, _PROB_FLOOR, 1 - _PROB_FLOOR)
            return np.ascontiguousarray((np.log(p) - np.log1p(-p))[:, None]), s.shape
        if s.shape[1] < 2 or not np.allclose(s.sum(axis=1), 1.0, atol=1e-6):
            raise InvalidArgumentError(
                "scores: with output='probabilities' each row must hold K >= 2 class "
                "probabilities summing to 1 (or pass a 1-D vector of P(class 1))"
            )
        logp = np.log(np.clip(s, _PROB_FLOOR, None))
        return np.ascontiguousarray(logp[:, :-1] - logp[:, -1:]), s.shape

    def _from_internal(self, values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        if self.output == "logits":
            return values.reshape((values.shape[0],) + shape[1:])
        if len(shape) == 1:
            return 1.0 / (1.0 + np.exp(-values[:, 0]))
        full = np.concatenate([values, np.zeros((values.shape[0], 1))], axis=1)
        full -= full.max(axis=1, keepdims=True)
        e = np.exp(full)
        return e / e.sum(axis=1, keepdims=True)

    # -- transform ----------------------------------------------------------------------------

    def transform(self, X: ArrayLike | None = None, scores: Any = None) -> np.ndarray:
        """Post-processed outputs.

        Without arguments: those of the fitted points (``fitted_scores_``). With new points
        ``X`` and their model ``scores``: the out-of-sample update against the fitted graph
        (see the class notes); O(n_new · n · m) time for the exact neighbour search.
        """
        self._check_fitted()
        if X is None and scores is None:
            return self.fitted_scores_
        if X is None or scores is None:
            raise InvalidArgumentError(
                "transform: pass both X and scores of the new points, or neither"
            )
        if self._z is None:
            raise InvalidArgumentError(
                "X: the model was fitted on a precomputed graph without points; "
                "fit with X to transform new points"
            )
        internal, shape = self._to_internal(scores)
        z_new = _fair_points(X, self.metric)
        if self._unit != 1.0:
            z_new = np.ascontiguousarray(z_new / self._unit)
        if z_new.shape[0] != internal.shape[0]:
            raise ShapeError(
                f"X has {z_new.shape[0]} rows but scores has {internal.shape[0]}; pass one score row per point"
            )
        if internal.shape[1] != self._smoothed.shape[1]:
            raise ShapeError("scores: must have as many columns as the scores given to fit")
        indptr, indices, weights = self._new_point_edges(z_new)
        lam = self.lam_effective_
        if self.variant == "nrw":
            counts = np.diff(indptr)
            rows = np.repeat(np.arange(counts.size), counts)
            row_sum = np.bincount(rows, weights=weights, minlength=counts.size)
            weights = weights / np.where(row_sum > 0, row_sum, 1.0)[rows]
        unit = _unit_of(np.array([np.abs(self._smoothed).max(), np.abs(internal).max()]))
        out = unit * _core.fairness_out_of_sample(
            indptr=indptr,
            indices=indices,
            weights=weights,
            fitted=self._smoothed / unit,
            new_scores=internal / unit,
            lam=lam,
        )
        return self._from_internal(out, shape)

    def _new_point_edges(self, z_new: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = self._z
        assert z is not None
        theta = self._theta_internal  # always set by a radius graph's fit
        if isinstance(self.graph, str) and self.graph == "radius" and theta is not None:
            tau = _squared_radius(float(self.tau), self._unit)  # type: ignore[arg-type]
            indptr, indices, d2 = _core.knn_radius(
                reference=z, queries=z_new, tau=tau, same_set=False
            )
            return indptr, indices, _gaussian(theta, d2)
        if theta is None:
            raise InvalidArgumentError(
                "theta: pass theta=... to connect new points to a precomputed graph"
            )
        k = _check_neighbors(self.n_neighbors, z.shape[0] + 1)
        idx, d2 = _core.knn_query(z, z_new, k)
        indptr = np.arange(0, idx.size + 1, k, dtype=np.int64)
        return indptr, idx.ravel(), _gaussian(theta, d2.ravel())

    # -- diagnostics --------------------------------------------------------------------------

    def laplacian(self) -> sp.csr_matrix:
        """The sparse Laplacian used by the solver (GLIF ``D - W``; NRW as in the class notes)."""
        self._check_fitted()
        return _laplacian(self.graph_, self.variant)

    def objective(self, F: Any) -> float:
        """``||F - F̂||² + λ' tr(Fᵀ L F)`` in the internal (logit / log-ratio) space."""
        self._check_fitted()
        f = as_float_array(F, "F", ndim=(1, 2)).reshape(self._smoothed.shape)
        lap = self.laplacian()
        fit = float(((f - self._scores_in) ** 2).sum())
        return fit + self.lam_effective_ * float((f * (lap @ f)).sum())


def _laplacian(w: sp.csr_matrix, variant: str) -> sp.csr_matrix:
    deg = np.asarray(w.sum(axis=1)).ravel()
    if variant == "glif":
        return sp.csr_matrix(sp.diags(deg) - w)
    inv_sqrt = np.where(deg > 0, 1.0 / np.sqrt(np.where(deg > 0, deg, 1.0)), 0.0)
    wt = sp.diags(inv_sqrt) @ w @ sp.diags(inv_sqrt)
    dt = np.asarray(wt.sum(axis=1)).ravel()
    inv_dt = np.where(dt > 0, 1.0 / np.where(dt > 0, dt, 1.0), 0.0)
    rw = sp.diags(inv_dt) @ wt
    return sp.csr_matrix(sp.diags((dt > 0).astype(float)) - (rw + rw.T) / 2)


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def _labels(pred: Any, name: str) -> np.ndarray:
    a = np.asarray(pred)
    if a.ndim == 2:
        return np.argmax(as_float_array(a, name, ndim=2), axis=1)
    if a.ndim != 1:
        raise ShapeError(f"{name}: expected labels (n,) or scores (n, K), got shape {a.shape}")
    if a.size == 0:
        raise ShapeError(f"{name}: is empty")
    return a


def counterfactual_consistency(
    predictions: ArrayLike, counterfactual_predictions: ArrayLike
) -> float:
    """Share of points whose predicted label is the same under every counterfactual input.

    Parameters
    ----------
    predictions : array_like, shape (n,) labels or (n, K) scores (argmax is taken)
        The model's predictions on the original inputs.
    counterfactual_predictions : array_like or list of array_like
        Predictions on counterfactual inputs (e.g. with a sensitive attribute or a name
        swapped), one array per variant, each shaped like ``predictions``.

    Returns
    -------
    float
        ``mean_i 1[label_i == label_i^(v) for all variants v]``: the prediction consistency of
        Petersen et al. (one variant, as on Bios; all variants, as on Toxicity).
    """
    base = _labels(predictions, "predictions")
    variants = (
        list(counterfactual_predictions)
        if isinstance(counterfactual_predictions, list | tuple)
        else [counterfactual_predictions]
    )
    if not variants:
        raise ShapeError("counterfactual_predictions: pass at least one variant")
    same = np.ones(base.shape[0], dtype=bool)
    for v, pred in enumerate(variants):
        lab = _labels(pred, f"counterfactual_predictions[{v}]")
        if lab.shape != base.shape:
            raise ShapeError(
                f"counterfactual_predictions[{v}]: has {lab.shape[0]} rows but predictions has {base.shape[0]}"
            )
        same &= lab == base
    return float(same.mean())


def knn_consistency(
    X: ArrayLike,
    y_pred: ArrayLike,
    n_neighbors: int = 5,
    *,
    metric: FairMetric | None = None,
    algorithm: Literal["auto", "exact", "approximate"] = "exact",
    rng: Any = None,
) -> float:
    """kNN consistency of Zemel et al. (2013) as in AIF360:
    ``1 - mean_i |ŷ_i - mean_{j ∈ kNN(i)} ŷ_j|``.

    As in AIF360's ``consistency_score``, the ``n_neighbors`` neighbours of a point include
    the point itself. With ``metric`` the neighbours are found in the fair space (the
    fair-metric version); AIF360 uses plain Euclidean distances on ``X``.
    """
    z, _ = _scaled(_fair_points(X, metric))
    y = as_float_array(y_pred, "y_pred", ndim=1)
    if y.shape[0] != z.shape[0]:
        raise ShapeError(f"y_pred has {y.shape[0]} values but X has {z.shape[0]} rows")
    k = check_scalar(n_neighbors, "n_neighbors", kind=int, low=1)
    if k > z.shape[0]:
        raise InvalidArgumentError(f"n_neighbors: must be <= the number of points {z.shape[0]}")
    if k == 1:
        return 1.0
    _check_neighbors(k - 1, z.shape[0])
    idx, _, _ = _knn_lists(z, k - 1, algorithm, rng, None, None)
    means = (y + y[idx].sum(axis=1)) / k
    return float(1.0 - np.abs(y - means).mean())


def lipschitz_violation_rate(
    X: ArrayLike,
    scores: Any,
    lipschitz: float,
    *,
    metric: FairMetric | None = None,
    pairs: Any = None,
    n_neighbors: int = 10,
    rng: Any = None,
) -> float:
    """Share of pairs violating ``||f(x_i) - f(x_j)|| <= L · d(x_i, x_j)``.

    The pairs are ``pairs`` (an (m, 2) integer array) or, by default, the edges of the
    symmetrised ``n_neighbors``-NN graph in the fair space (the pairs where the bound binds;
    all n² pairs would be infeasible at scale). Output distance: Euclidean norm over the
    columns of ``scores``.
    """
    z = _fair_points(X, metric)
    f = as_float_array(scores, "scores", ndim=(1, 2))
    f = f.reshape(f.shape[0], -1)
    if f.shape[0] != z.shape[0]:
        raise ShapeError(f"scores has {f.shape[0]} rows but X has {z.shape[0]}")
    lip = check_scalar(lipschitz, "lipschitz", low=0.0)
    if pairs is None:
        g = sp.triu(kneighbors_graph(z, n_neighbors, theta=0.0, rng=rng), k=1).tocoo()
        i, j = g.row, g.col
    else:
        p = np.asarray(pairs)
        if p.ndim != 2 or p.shape[1] != 2 or not np.issubdtype(p.dtype, np.integer):
            raise ShapeError("pairs: expected an (m, 2) integer array of point indices")
        if p.size and (p.min() < 0 or p.max() >= z.shape[0]):
            raise InvalidArgumentError("pairs: indices out of range")
        i, j = p[:, 0], p[:, 1]
    if len(i) == 0:
        raise ShapeError("pairs: no pairs to check")
    # Distances of the rescaled points and scores (see _unit_of), compared with the units'
    # ratio folded into the bound, so that huge or tiny values cannot overflow the squares.
    (zs, z_unit), (fs, f_unit) = _scaled(z), _scaled(f)
    dz = np.sqrt(((zs[i] - zs[j]) ** 2).sum(axis=1))
    df = np.sqrt(((fs[i] - fs[j]) ** 2).sum(axis=1))
    if lip == 0.0:
        return float((df > 0).mean())
    with np.errstate(over="ignore", under="ignore"):
        bound = lip * (z_unit / f_unit) * dz
    return float((df > bound).mean())


# --------------------------------------------------------------------------------------------
# Audit (Maity et al. 2021)
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, repr=False)
class AuditResult(Result):
    """Result of :func:`audit`.

    Attributes
    ----------
    statistic : float
        ``t = sqrt(n) (mean - delta) / sd``.
    pvalue : float
        One-sided ``1 - Φ(t)`` for H0: ``E[r] <= delta`` (fair) against ``E[r] > delta``.
    lower_bound : float
        One-sided (1 - alpha) lower confidence bound ``mean - z_{1-alpha} sd / sqrt(n)``.
    confidence_interval : ConfidenceInterval
        ``(lower_bound, inf)``.
    mean, sd : float
        Of the finite loss ratios.
    n, n_omitted : int
        Ratios used and non-finite ratios dropped.
    delta, alpha : float
    unfair : bool
        ``pvalue < alpha`` (equivalently ``lower_bound > delta``): the model is declared
        individually unfair.
    """

    statistic: float
    pvalue: float
    lower_bound: float
    confidence_interval: ConfidenceInterval
    mean: float
    sd: float
    n: int
    n_omitted: int
    delta: float
    alpha: float
    unfair: bool


def audit(
    loss_ratios: ArrayLike, delta: float = 1.25, alpha: float = 0.05, *, ddof: int = 0
) -> AuditResult:
    """Statistical test of individual fairness from per-sample loss ratios (Maity et al. 2021).

    ``r_i = loss(f(Φ(x_i)), y_i) / loss(f(x_i), y_i)`` where ``Φ`` is an adversarial search in
    the fair neighbourhood (e.g. :func:`calipers.torch.fairness.loss_ratios`). Non-finite
    ratios are dropped (counted in ``n_omitted``), as in inFairness's
    ``compute_audit_result``; ``ddof=0`` (population standard deviation) also matches it.

    Parameters
    ----------
    loss_ratios : array_like, 1-D
    delta : float, default 1.25
        Largest mean ratio still called fair (the authors' choice).
    alpha : float, default 0.05
        Level of the test; the bound is a one-sided (1 - alpha) bound.
    ddof : int, default 0

    Returns
    -------
    AuditResult

    Notes
    -----
    A model that is exactly fair (all ratios equal to one) has ``sd = 0``: then
    ``statistic = -inf``, ``pvalue = 1`` when ``mean <= delta`` (``+inf`` and ``0`` otherwise)
    and ``lower_bound = mean``.
    """
    r = as_float_array(loss_ratios, "loss_ratios", ndim=1, finite=False)
    delta = check_scalar(delta, "delta")
    alpha = check_open_unit(alpha, "alpha")
    ddof = check_scalar(ddof, "ddof", kind=int, low=0)
    finite = r[np.isfinite(r)]
    n = finite.size
    if n <= ddof:
        raise ShapeError(
            f"loss_ratios: only {n} finite values; need more than ddof={ddof} to estimate the spread"
        )
    # Moments of r / s for a power of two s near max |r| (exact scaling: same bits for
    # ordinary ratios), so that ratios near ±1e308 cannot overflow the sum or the squares.
    largest = float(np.max(np.abs(finite)))
    unit = math.ldexp(1.0, math.frexp(largest)[1] - 1) if largest > 0 else 1.0
    scaled = finite / unit
    mean_s, sd_s = float(scaled.mean()), float(scaled.std(ddof=ddof))
    z = float(stats.norm.ppf(1.0 - alpha))
    with np.errstate(over="ignore"):
        mean, sd = mean_s * unit, sd_s * unit
        lower = (mean_s - z * sd_s / np.sqrt(n)) * unit
    if sd_s > 0:
        t = float(np.sqrt(n) * (mean_s - delta / unit) / sd_s)
    else:
        t = -np.inf if mean <= delta else np.inf
    p = float(stats.norm.sf(t))
    return AuditResult(
        statistic=t,
        pvalue=p,
        lower_bound=float(lower),
        confidence_interval=ConfidenceInterval(float(lower), np.inf),
        mean=mean,
        sd=sd,
        n=int(n),
        n_omitted=int(r.size - n),
        delta=float(delta),
        alpha=float(alpha),
        unfair=bool(p < alpha),
    )
