"""Cost-aware routing: send each query to the model with the best predicted quality for its
cost, and measure the whole accuracy–cost trade-off with confidence intervals.

The router is CARROT's plug-in estimator (Somerstep, Maia Polo et al. 2025): estimate each
model's quality ``f_m(x) = E[Y_m | x]`` and cost ``c_m(x) = E[C_m | x]`` from query features by
kNN regression (cosine metric, ``k`` by cross-validated R²), then route query ``x`` to

    ``argmax_m  f̂_m(x) − μ · ĉ_m(x)``        (ties to the cheaper model, then the lower index)

for a trade-off ``μ ≥ 0``. Instead of a grid over μ, :func:`mu_path` computes the exact path:
per query the choice follows the upper envelope of the M lines ``μ ↦ f̂_m − μ ĉ_m``, and the
breakpoints of all queries are merged and swept once (O(nM log nM)). The accuracy–cost curve
of the path, its non-decreasing concave hull (:func:`frontier`; random mixing of two operating
points achieves every point of the hull) and the hull's mean height on a cost range shared by
all routers (:func:`frontier_auc`) compare routers with the single models, the zero router
(:func:`zero_router_frontier`: random mixing of single models) and the oracle
(:func:`oracle_frontier`). :func:`bootstrap_frontier` adds paired bootstrap confidence
intervals over queries, for each router and for the differences between routers.

For two models (RouteLLM's setting) :func:`apgr` and :func:`cpt` summarise the curve of
accuracy against the fraction of calls to the strong model. :func:`select_model_for_task`
implements the task-level choice of Shnitzer et al. (2023) (scores S1, S2, S3).

Query features are any embedding matrix; :func:`text_features` gives the documented offline
default, TF-IDF and truncated SVD (scikit-learn), with no model weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from . import _core
from ._estimator import Estimator
from ._progress import progress_callback
from ._results import ConfidenceInterval, Result
from ._validation import (
    as_float_array,
    as_labels,
    check_open_unit,
    check_scalar,
    ndim_of,
    seed_from_rng,
)
from .exceptions import InvalidArgumentError, ShapeError

__all__ = [
    "CostAwareRouter",
    "Frontier",
    "FrontierBootstrapResult",
    "RoutePath",
    "TaskAccuracyEstimate",
    "TaskSelectionResult",
    "TokenCost",
    "apgr",
    "bootstrap_apgr",
    "bootstrap_cpt",
    "bootstrap_frontier",
    "cost_at_matched_accuracy",
    "cpt",
    "frontier",
    "frontier_auc",
    "loto_predictor_accuracy",
    "model_cost_range",
    "mu_path",
    "oracle_frontier",
    "plot_frontiers",
    "select_model_for_task",
    "text_features",
    "zero_router_frontier",
]

DEFAULT_K_GRID = (2, 4, 8, 16, 32, 64, 128, 256, 512)
_PER = {"token": 1.0, "1K": 1e3, "1M": 1e6}


# --------------------------------------------------------------------------------------------
# Costs


@dataclasses.dataclass(frozen=True)
class TokenCost:
    """Prices per token for each model: ``cost = price_in · input_tokens + price_out ·
    output_tokens``, with prices quoted per ``per`` tokens (``"token"``, ``"1K"``, ``"1M"`` or
    a positive number of tokens).

    A :class:`CostAwareRouter` given a ``TokenCost`` learns each model's output length per
    query (kNN regression of observed output tokens) and takes the input tokens, known at
    routing time, as input: CARROT's two-stage cost estimator.

    Parameters
    ----------
    price_in, price_out : array-like of shape (n_models,)
        Non-negative finite prices.
    per : {"1M", "1K", "token"} or float, default "1M"
        How many tokens a price is for.
    """

    price_in: Any
    price_out: Any
    per: Any = "1M"

    def __post_init__(self) -> None:
        p_in = _prices(self.price_in, "price_in")
        p_out = _prices(self.price_out, "price_out")
        if p_in.shape != p_out.shape:
            raise ShapeError(
                f"price_out: has {p_out.size} prices but price_in has {p_in.size}; pass one "
                "input and one output price per model"
            )
        if isinstance(self.per, str):
            if self.per not in _PER:
                raise InvalidArgumentError(
                    f"per: got {self.per!r}; use 'token', '1K', '1M' or a number of tokens"
                )
        else:
            check_scalar(self.per, "per", low=0.0, low_inclusive=False)
        object.__setattr__(self, "price_in", p_in)
        object.__setattr__(self, "price_out", p_out)

    @property
    def n_models(self) -> int:
        return int(self.price_in.size)

    @property
    def tokens_per_unit(self) -> float:
        return _PER[self.per] if isinstance(self.per, str) else float(self.per)

    def cost(self, input_tokens: Any, output_tokens: Any) -> np.ndarray:
        """The cost matrix (n_queries, n_models) of the given token counts.

        ``input_tokens`` is (n_queries,) (the same prompt length for every model) or
        (n_queries, n_models) (per tokenizer); ``output_tokens`` is (n_queries, n_models).
        """
        t_out = _tokens(output_tokens, "output_tokens", None, self.n_models)
        t_in = _tokens(input_tokens, "input_tokens", t_out.shape[0], self.n_models)
        return (t_in * self.price_in + t_out * self.price_out) / self.tokens_per_unit


def _prices(x: Any, name: str) -> np.ndarray:
    arr = as_float_array(x, name, ndim=1)
    if (arr < 0).any():
        j = int(np.flatnonzero(arr < 0)[0])
        raise InvalidArgumentError(
            f"{name}: model {j} has a negative price {arr[j]}; prices must be >= 0"
        )
    return arr


def _tokens(x: Any, name: str, n: int | None, m: int) -> np.ndarray:
    arr = as_float_array(x, name, ndim=(1, 2))
    if arr.ndim == 1:
        arr = np.repeat(arr[:, None], m, axis=1)
    if arr.shape[1] != m or (n is not None and arr.shape[0] != n):
        want = f"({n if n is not None else 'n_queries'}, {m})"
        raise ShapeError(f"{name}: has shape {arr.shape}, expected {want} (one column per model)")
    if (arr < 0).any():
        raise InvalidArgumentError(f"{name}: has negative token counts; counts must be >= 0")
    return arr


def _scores_matrix(x: Any, name: str, n: int | None = None) -> np.ndarray:
    arr = as_float_array(x, name, ndim=2)
    if n is not None and arr.shape[0] != n:
        raise ShapeError(
            f"{name}: has {arr.shape[0]} rows but features has {n}; pass one row per query"
        )
    if arr.shape[1] < 2:
        raise InvalidArgumentError(
            f"{name}: has {arr.shape[1]} model column(s); routing needs at least 2 models"
        )
    return arr


# Routing is scale-free in cost, but its sums, its λ grid (score per unit cost) and its hull
# slopes overflow or lose bits near the ends of float64 (1e-310 is subnormal: the frontier
# came out different, silently). Positive costs must lie in this range.
_COST_MAGNITUDE = (1e-100, 1e100)


def _check_cost_magnitude(arr: np.ndarray, name: str) -> None:
    low, high = _COST_MAGNITUDE
    outside = (arr > high) | ((arr > 0) & (arr < low))  # masks only: no copy of the costs
    if outside.any():
        value = arr[np.unravel_index(int(np.argmax(outside)), arr.shape)]
        raise InvalidArgumentError(
            f"{name}: a cost of {value:.3g} is outside [{low:g}, {high:g}]; routing is "
            "scale-free in cost, so rescale the costs (e.g. to dollars per million queries)"
        )


def _cost_matrix(x: Any, name: str, n: int, m: int, *, paths: bool = True) -> np.ndarray:
    """A realised (n, m) cost matrix or per-model prices (m,) broadcast to (n, m); ``paths``:
    the costs feed μ-paths and frontiers, whose range is limited (``_check_cost_magnitude``;
    fitting the cost regression is scale-free at any magnitude)."""
    arr = as_float_array(x, name, ndim=(1, 2), finite=False)
    given = arr  # per-model prices are checked before they are broadcast to (n, m)
    if arr.ndim == 1:
        if arr.size != m:
            raise ShapeError(f"{name}: has {arr.size} per-model costs but there are {m} models")
        nan = ~np.isfinite(arr)
        if nan.any():
            raise InvalidArgumentError(
                f"{name}: model {int(np.flatnonzero(nan)[0])} has no cost (NaN/inf); every "
                "model needs a finite cost"
            )
        arr = np.broadcast_to(arr, (n, m))
    if arr.shape != (n, m):
        raise ShapeError(f"{name}: has shape {arr.shape}, expected ({n}, {m}) or ({m},)")
    bad = ~np.isfinite(arr)
    if bad.any():
        j = int(np.argwhere(bad)[0][1])
        raise InvalidArgumentError(
            f"{name}: model {j} has no cost (NaN/inf in {int(bad[:, j].sum())} rows); every "
            "model needs a finite cost for every query"
        )
    if (arr < 0).any():
        j = int(np.argwhere(arr < 0)[0][1])
        raise InvalidArgumentError(f"{name}: model {j} has negative costs; costs must be >= 0")
    if paths:
        _check_cost_magnitude(given, name)
    return np.ascontiguousarray(arr)


# --------------------------------------------------------------------------------------------
# The router


def _power_of_two_scale(x: np.ndarray) -> float:
    """A power of two near the largest magnitude: dividing by it is exact and keeps squared
    distances of data from 1e-300 to 1e300 inside the f64 range (neighbours are scale-free)."""
    top = float(np.abs(x).max()) if x.size else 0.0
    if top == 0.0 or not np.isfinite(top):
        return 1.0
    return float(np.ldexp(1.0, int(np.frexp(top)[1])))


def _normalise(features: np.ndarray, name: str) -> np.ndarray:
    # Each row rescaled by a power of two first, so that its squared norm cannot overflow.
    peak = np.abs(features).max(axis=1)
    exps = np.frexp(np.where(peak > 0, peak, 1.0))[1]
    features = np.ldexp(features, -exps[:, None])
    norms = np.linalg.norm(features, axis=1)
    zero = norms == 0
    if zero.any():
        raise InvalidArgumentError(
            f"{name}: row {int(np.flatnonzero(zero)[0])} is all zeros, which has no cosine "
            "direction; drop it or use metric='euclidean'"
        )
    return np.ascontiguousarray(features / norms[:, None])


def _r2(sse: np.ndarray, sst: np.ndarray) -> np.ndarray:
    """scikit-learn's R² with ``force_finite``: 1 − SSE/SST, and 1 (perfect) or 0 where a
    column is constant (SST = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - sse / sst
    return np.where(sst > 0, r2, np.where(sse == 0, 1.0, 0.0))


class CostAwareRouter(Estimator):
    """CARROT's plug-in router: kNN estimates of each model's quality and cost per query, and
    routing to ``argmax_m f̂_m(x) − μ ĉ_m(x)``.

    Parameters
    ----------
    k : int or "cv", default "cv"
        Neighbours of the kNN regressions. ``"cv"`` chooses, separately for quality and for
        cost, the ``k`` of ``k_grid`` with the best mean R² over ``cv`` shuffled folds (R²
        averaged over the models' columns, as scikit-learn's ``r2_score``); ties go to the
        smaller ``k``. One exact neighbour search per fold, up to the largest ``k``, serves the
        whole grid.
    metric : {"cosine", "euclidean"}, default "cosine"
        Cosine distance is Euclidean distance between L2-normalised rows (same neighbours).
    k_grid : sequence of int, default (2, 4, ..., 512)
        Candidates for ``k="cv"``; those above the smallest training fold are dropped.
    cv : int, default 5
        Folds of the cross-validation.
    cost : TokenCost or None
        Token prices. With it, ``fit`` takes ``output_tokens`` and the router predicts output
        lengths; ``predict_scores`` takes ``input_tokens``.
    random_state : None, int or numpy Generator
        Seeds the fold assignment.
    progress : bool or callable
        Progress of the neighbour searches.
    shrinkage : float, default 0
        Pseudo-count ``a`` of a shrinkage of each model's predicted quality toward its mean
        over all training queries ``ȳ_m``: ``(k f̂_m(x) + a ȳ_m) / (k + a)``, i.e. ``a``
        imaginary neighbours scoring the model's overall average. ``0`` is the plain kNN
        estimate (CARROT's plug-in router, equal to scikit-learn's
        ``KNeighborsRegressor``). With 0/1 scores and small ``k`` many models tie at the
        same neighbour mean and ties go to the cheaper model; a small ``a`` (``1``) breaks
        those ties toward the model that is better overall (see the user guide's digits
        figures). Costs are not shrunk; ``k`` is still chosen on the plain estimate.

    Attributes
    ----------
    k_score_, k_cost_ : int
        The chosen ``k`` for quality and for cost (``k_cost_`` is 0 with static costs).
    cv_results_ : dict
        ``k_grid`` and the mean R² of each ``k`` for quality (``r2_score``) and cost
        (``r2_cost``).
    n_models_ : int
    feature_scale_ : float
        The power of two the training features were divided by (Euclidean metric; 1 for
        cosine), so that squared distances of data from 1e-300 to 1e300 stay finite; new
        queries are divided by the same.
    score_mean_ : ndarray (n_models,)
        Each model's mean training score (the target of ``shrinkage``).

    Notes
    -----
    Peak memory: the training features and targets, plus ``n_queries × k`` neighbour indices
    and distances (16 bytes each) of one search.
    """

    _fitted_attribute = "n_models_"

    def __init__(
        self,
        k: int | str = "cv",
        metric: str = "cosine",
        k_grid: Sequence[int] = DEFAULT_K_GRID,
        cv: int = 5,
        cost: TokenCost | None = None,
        random_state: Any = None,
        progress: bool | Callable = False,
        shrinkage: float = 0.0,
    ) -> None:
        self.k = k
        self.metric = metric
        self.k_grid = k_grid
        self.cv = cv
        self.cost = cost
        self.random_state = random_state
        self.progress = progress
        self.shrinkage = shrinkage

    # -- fitting --------------------------------------------------------------------------

    def _features(
        self, features: Any, name: str = "features", scale: float | None = None
    ) -> np.ndarray:
        """Rows ready for the search: L2-normalised (cosine), or divided by ``scale`` (a power
        of two; the training features' own when None) for Euclidean distance."""
        x = as_float_array(features, name, ndim=2)
        if self.metric == "cosine":
            return _normalise(x, name)
        if self.metric != "euclidean":
            raise InvalidArgumentError(f"metric: got {self.metric!r}; use 'cosine' or 'euclidean'")
        return x / (_power_of_two_scale(x) if scale is None else scale)

    def fit(
        self,
        features: Any,
        scores: Any,
        costs: Any = None,
        *,
        output_tokens: Any = None,
    ) -> CostAwareRouter:
        """Learn quality and cost predictors from training queries.

        Parameters
        ----------
        features : array-like (n_queries, n_features)
            Query embeddings (see :func:`text_features`).
        scores : array-like (n_queries, n_models)
            Observed quality of each model on each query (0/1 correctness or a score).
        costs : array-like (n_queries, n_models) or (n_models,), optional
            Realised costs per query (predicted by kNN regression), or one static cost per
            model. Not used with ``cost=TokenCost(...)``.
        output_tokens : array-like (n_queries, n_models), optional
            Observed output lengths; required with ``cost=TokenCost(...)``.

        Returns
        -------
        self
        """
        if self.metric not in ("cosine", "euclidean"):
            raise InvalidArgumentError(f"metric: got {self.metric!r}; use 'cosine' or 'euclidean'")
        check_scalar(self.shrinkage, "shrinkage", low=0.0)
        raw = as_float_array(features, "features", ndim=2)
        scale = _power_of_two_scale(raw) if self.metric == "euclidean" else 1.0
        x = self._features(raw, scale=scale)
        n = x.shape[0]
        y = _scores_matrix(scores, "scores", n)
        m = y.shape[1]
        static = None
        if isinstance(self.cost, TokenCost):
            if self.cost.n_models != m:
                raise ShapeError(
                    f"cost: has prices for {self.cost.n_models} models but scores has {m} columns"
                )
            if costs is not None:
                raise InvalidArgumentError(
                    "costs: pass either costs or cost=TokenCost(...) with output_tokens, not both"
                )
            if output_tokens is None:
                raise InvalidArgumentError(
                    "output_tokens: required with cost=TokenCost(...); pass the observed "
                    "output lengths (n_queries, n_models)"
                )
            cost_target: np.ndarray | None = _tokens(output_tokens, "output_tokens", n, m)
        elif self.cost is not None:
            raise InvalidArgumentError(
                f"cost: expected a TokenCost or None, got {type(self.cost).__name__}"
            )
        else:
            if costs is None:
                raise InvalidArgumentError(
                    "costs: every model needs a cost; pass realised costs (n_queries, "
                    "n_models), one price per model (n_models,), or cost=TokenCost(...)"
                )
            if ndim_of(costs, "costs") == 1:
                static = _cost_matrix(costs, "costs", 1, m, paths=False)[0].copy()
                cost_target = None
            else:
                cost_target = _cost_matrix(costs, "costs", n, m, paths=False)
        if n < 2:
            raise ShapeError("features: has 1 row; pass at least 2 training queries")
        targets = y if cost_target is None else np.hstack([y, cost_target])
        targets = np.ascontiguousarray(targets)
        if self.k == "cv":
            k_score, k_cost, results = self._cross_validate(x, targets, m)
        else:
            k = check_scalar(self.k, "k", kind=int, low=1, high=n)
            k_score, k_cost, results = k, (k if cost_target is not None else 0), {}
        self.X_ = x
        self.feature_scale_ = scale
        self.targets_ = targets
        self.static_cost_ = static
        self.k_score_ = int(k_score)
        self.k_cost_ = int(k_cost)
        self.cv_results_ = results
        self.n_models_ = m
        self.score_mean_ = y.mean(axis=0)
        self.n_features_in_ = x.shape[1]
        return self

    def _cross_validate(
        self, x: np.ndarray, targets: np.ndarray, m: int
    ) -> tuple[int, int, dict[str, Any]]:
        n = x.shape[0]
        n_folds = check_scalar(self.cv, "cv", kind=int, low=2, high=n)
        if isinstance(self.k_grid, str) or not hasattr(self.k_grid, "__iter__"):
            raise InvalidArgumentError(
                f"k_grid: expected a sequence of ints (e.g. (2, 4, 8)), got {self.k_grid!r}"
            )
        grid = sorted({check_scalar(k, "k_grid", kind=int, low=1) for k in self.k_grid})
        if not grid:
            raise InvalidArgumentError("k_grid: is empty; pass at least one k")
        rng = np.random.default_rng(seed_from_rng(self.random_state, "random_state"))
        folds = np.empty(n, dtype=np.int64)
        folds[rng.permutation(n)] = np.arange(n) % n_folds
        smallest_train = n - int(np.bincount(folds, minlength=n_folds).max())
        grid = [k for k in grid if k <= smallest_train]
        if not grid:
            raise InvalidArgumentError(
                f"k_grid: every k exceeds the {smallest_train} training queries of a fold; "
                "pass smaller k or more queries"
            )
        # R² is unchanged when a column is divided by a constant: a power of two near each
        # column's largest magnitude keeps the squared errors of 1e-300..1e300 data in range.
        targets = targets / np.array([_power_of_two_scale(col) for col in targets.T])
        with progress_callback(self.progress, "route: cross-validating k") as cb:
            sse = _core.route_knn_cv(
                points=x, targets=targets, folds=folds, n_folds=n_folds, ks=grid, progress=cb
            )
        sst = np.stack(
            [
                ((targets[folds == f] - targets[folds == f].mean(axis=0)) ** 2).sum(axis=0)
                for f in range(n_folds)
            ]
        )  # (folds, targets)
        r2 = _r2(sse, sst[:, None, :])  # (folds, k, targets)
        r2_score = r2[:, :, :m].mean(axis=2).mean(axis=0)
        k_score = grid[int(np.argmax(r2_score))]
        results: dict[str, Any] = {"k_grid": np.asarray(grid), "r2_score": r2_score}
        k_cost = 0
        if targets.shape[1] > m:
            r2_cost = r2[:, :, m:].mean(axis=2).mean(axis=0)
            k_cost = grid[int(np.argmax(r2_cost))]
            results["r2_cost"] = r2_cost
        return k_score, k_cost, results

    # -- prediction -----------------------------------------------------------------------

    def predict_scores(
        self, features: Any, *, input_tokens: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Predicted quality and cost of every model on every query.

        Returns
        -------
        predicted_scores, predicted_costs : ndarray (n_queries, n_models)
        """
        self._check_fitted()
        q = self._features(features, scale=self.feature_scale_)
        if q.shape[1] != self.n_features_in_:
            raise ShapeError(
                f"features: has {q.shape[1]} columns but the router was fitted on "
                f"{self.n_features_in_}; pass the same features"
            )
        m = self.n_models_
        ks = [self.k_score_] * m + ([self.k_cost_] * m if self.targets_.shape[1] > m else [])
        with progress_callback(self.progress, "route: predicting") as cb:
            pred = _core.route_knn_predict(
                reference=self.X_, targets=self.targets_, queries=q, ks=ks, progress=cb
            )
        p = np.ascontiguousarray(pred[:, :m])
        a = float(self.shrinkage)
        if a > 0:
            k = self.k_score_
            p = np.ascontiguousarray((k * p + a * self.score_mean_) / (k + a))
        if self.static_cost_ is not None:
            c = np.ascontiguousarray(np.broadcast_to(self.static_cost_, p.shape))
        elif isinstance(self.cost, TokenCost):
            if input_tokens is None:
                if (self.cost.price_in > 0).any():
                    raise InvalidArgumentError(
                        "input_tokens: required because cost.price_in is not zero; pass the "
                        "prompt lengths (n_queries,) or (n_queries, n_models)"
                    )
                input_tokens = np.zeros(q.shape[0])
            c = self.cost.cost(input_tokens, pred[:, m:])
        else:
            c = np.ascontiguousarray(pred[:, m:])
        return p, c

    def route(self, features: Any, mu: float, *, input_tokens: Any = None) -> np.ndarray:
        """The chosen model of each query at trade-off ``mu`` (``argmax f̂ − mu·ĉ``, ties to
        the cheaper model, then the lower index)."""
        mu = check_scalar(mu, "mu", low=0.0)
        p, c = self.predict_scores(features, input_tokens=input_tokens)
        return _argmax_at(p, c, mu)

    def lambda_path(
        self,
        features: Any,
        scores: Any = None,
        costs: Any = None,
        *,
        input_tokens: Any = None,
    ) -> RoutePath:
        """The exact μ-path on new queries: every breakpoint where a query changes model.

        With ``scores`` and ``costs`` (the realised quality and cost of every model on these
        queries) the curve reports realised means; without, predicted ones.
        """
        p, c = self.predict_scores(features, input_tokens=input_tokens)
        return mu_path(p, c, scores, costs, progress=self.progress)


def _argmax_at(p: np.ndarray, c: np.ndarray, mu: float) -> np.ndarray:
    """Per row, argmax of p − mu·c; ties to the smaller c, then the lower index."""
    s = p - mu * c
    best = s.max(axis=1, keepdims=True)
    masked = np.where(s == best, c, np.inf)
    return np.argmin(masked, axis=1)


# --------------------------------------------------------------------------------------------
# Paths and frontiers


@dataclasses.dataclass(frozen=True, repr=False)
class RoutePath(Result):
    """The exact μ-path of a router on a set of queries.

    ``mu[j]`` starts the j-th interval of μ on which every query keeps its model; ``cost[j]``
    and ``performance[j]`` are the mean cost and quality of the chosen models there (realised
    when the path was evaluated on true scores and costs, else predicted). ``start`` holds
    each query's model at ``mu[0]``; event ``e`` moves query ``event_query[e]`` from
    ``event_from[e]`` to ``event_to[e]`` at ``event_mu[e]`` (events sorted by μ).
    """

    mu: np.ndarray
    cost: np.ndarray
    performance: np.ndarray
    start: np.ndarray
    event_mu: np.ndarray
    event_query: np.ndarray
    event_from: np.ndarray
    event_to: np.ndarray
    n_models: int

    @property
    def n_queries(self) -> int:
        return int(self.start.size)

    def choices_at(self, mu: float) -> np.ndarray:
        """Each query's model at trade-off ``mu`` (read off the path, no recomputation)."""
        mu = float(mu)
        choice = self.start.copy()
        hit = np.flatnonzero(self.event_mu <= mu)  # events sorted by mu: a prefix
        if hit.size:
            q = self.event_query[hit][::-1]
            to = self.event_to[hit][::-1]
            first, idx = np.unique(q, return_index=True)
            choice[first] = to[idx]  # the last event of each query
        return choice

    def _core_path(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (self.start, self.event_mu, self.event_query, self.event_from, self.event_to)

    def frontier(self, name: str | None = None) -> Frontier:
        return frontier(self, name=name)


def mu_path(
    predicted_scores: Any,
    predicted_costs: Any,
    scores: Any = None,
    costs: Any = None,
    *,
    start: str = "zero",
    progress: bool | Callable = False,
) -> RoutePath:
    """The exact routing path of predicted scores and costs over μ.

    Query ``i`` goes to ``argmax_m P[i, m] − μ C[i, m]``; as μ grows the choice follows the
    upper envelope of the lines ``P[i, m] − μ C[i, m]``, moving to ever cheaper models. The
    breakpoints ``(P_a − P_b) / (C_a − C_b)`` of all queries are merged and swept once, so the
    curve is exact at every μ (a grid can miss changes) and costs O(nM log nM).

    Parameters
    ----------
    predicted_scores, predicted_costs : array-like (n_queries, n_models)
        What the router believes (e.g. :meth:`CostAwareRouter.predict_scores`); costs >= 0.
    scores, costs : array-like (n_queries, n_models), optional
        Realised quality and cost used for the curve; default the predicted ones. ``costs``
        may also be (n_models,) static costs.
    start : {"zero", "-inf"}, default "zero"
        Start the path at μ = 0 (quality first) or at μ = −∞ (every query on its most
        expensive model; with two models and costs (0, 1) this is RouteLLM's whole curve).
    """
    p = _scores_matrix(predicted_scores, "predicted_scores")
    n, m = p.shape
    c = _cost_matrix(predicted_costs, "predicted_costs", n, m)
    if start not in ("zero", "-inf"):
        raise InvalidArgumentError(f"start: got {start!r}; use 'zero' or '-inf'")
    y = p if scores is None else as_float_array(scores, "scores", ndim=2)
    if y.shape != (n, m):
        raise ShapeError(f"scores: has shape {y.shape}, expected {(n, m)}")
    cc = c if costs is None else _cost_matrix(costs, "costs", n, m)
    with progress_callback(progress, "route: mu-path") as cb:
        arrays = _core.route_mu_path(
            predicted_scores=p,
            predicted_costs=c,
            from_minus_infinity=start == "-inf",
            progress=cb,
        )
    start_mu = -np.inf if start == "-inf" else 0.0
    mu, cost, perf = _core.route_path_curve(arrays, start_mu, y, cc)
    return RoutePath(
        mu=mu,
        cost=cost,
        performance=perf,
        start=arrays[0],
        event_mu=arrays[1],
        event_query=arrays[2],
        event_from=arrays[3],
        event_to=arrays[4],
        n_models=m,
    )


@dataclasses.dataclass(frozen=True, repr=False)
class Frontier(Result):
    """Vertices of a non-decreasing concave accuracy–cost frontier, cost ascending."""

    cost: np.ndarray
    performance: np.ndarray
    name: str | None = None

    def at(self, cost: Any) -> np.ndarray:
        """The frontier's performance at the given costs (flat beyond its ends)."""
        at = as_float_array(cost, "cost", ndim=(0, 1))
        return _core.route_hull_at(self.cost, self.performance, np.atleast_1d(at))


def frontier(
    path_or_cost: RoutePath | Any, performance: Any = None, *, name: str | None = None
) -> Frontier:
    """The non-decreasing concave hull of a curve (a :class:`RoutePath` or points).

    Mixing two operating points at random realises every point of the segment between them,
    and paying more never has to mean doing worse, so the hull is what a router achieves
    (RouterBench's AIQ uses the same hull).
    """
    if isinstance(path_or_cost, RoutePath):
        cost, perf = path_or_cost.cost, path_or_cost.performance
    else:
        cost = as_float_array(path_or_cost, "cost", ndim=1)
        perf = as_float_array(performance, "performance", ndim=1)
        if perf.shape != cost.shape:
            raise ShapeError("performance: must have one value per cost")
        _check_cost_magnitude(cost, "cost")
    hc, hp = _core.route_hull(cost, perf)
    return Frontier(cost=hc, performance=hp, name=name)


def _check_range(cost_range: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in cost_range)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"cost_range: expected (low, high), got {cost_range!r}"
        ) from None
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise InvalidArgumentError(
            f"cost_range: ({lo}, {hi}) must be finite with low < high; e.g. model_cost_range(costs)"
        )
    return lo, hi


def model_cost_range(costs: Any) -> tuple[float, float]:
    """(cheapest, most expensive) mean cost of the single models: the shared AUC range."""
    c = as_float_array(costs, "costs", ndim=(1, 2))
    _check_cost_magnitude(c, "costs")
    means = c.mean(axis=0) if c.ndim == 2 else c
    return float(means.min()), float(means.max())


def frontier_auc(fr: Frontier | RoutePath, cost_range: Any) -> float:
    """Mean height of a frontier on a fixed cost range shared by all routers.

    The area under the non-decreasing hull on ``[low, high]`` divided by ``high − low``,
    with flat extrapolation outside the frontier's own cost range. Every router must be
    measured on the same range (e.g. :func:`model_cost_range`); normalising each curve by its
    own range, as some peers do, makes the areas incomparable.
    """
    lo, hi = _check_range(cost_range)
    if isinstance(fr, RoutePath):
        fr = frontier(fr)
    return float(_core.route_auc(fr.cost, fr.performance, lo, hi, True))


def oracle_frontier(scores: Any, costs: Any) -> Frontier:
    """The oracle's frontier: per query the best ``Y − μC`` with the true scores and costs (at
    μ = 0, "any model correct")."""
    y = _scores_matrix(scores, "scores")
    c = _cost_matrix(costs, "costs", *y.shape)
    return frontier(mu_path(y, c), name="oracle")


def zero_router_frontier(scores: Any, costs: Any) -> Frontier:
    """The zero router: random mixing of single models, the hull of their (cost, quality)
    points. A router must beat it to be worth anything."""
    y = _scores_matrix(scores, "scores")
    c = _cost_matrix(costs, "costs", *y.shape)
    return frontier(c.mean(axis=0), y.mean(axis=0), name="zero router")


def cost_at_matched_accuracy(fr: Frontier, scores: Any, costs: Any) -> float:
    """The least cost at which ``fr`` reaches the best single model's accuracy, as a fraction
    of that model's mean cost (NaN when it never does)."""
    y = _scores_matrix(scores, "scores")
    c = _cost_matrix(costs, "costs", *y.shape)
    acc, cost = y.mean(axis=0), c.mean(axis=0)
    best = int(np.lexsort((cost, -acc))[0])
    target = acc[best]
    h_c, h_p = fr.cost, fr.performance
    if h_p[-1] < target:
        return float("nan")
    j = int(np.searchsorted(h_p, target, side="left"))
    if j == 0:
        need = h_c[0]
    else:
        t = (target - h_p[j - 1]) / (h_p[j] - h_p[j - 1])
        need = h_c[j - 1] + t * (h_c[j] - h_c[j - 1])
    return float(need / cost[best]) if cost[best] > 0 else float("nan")


# --------------------------------------------------------------------------------------------
# Two models: APGR and CPT


def _two_model_path(scores: Any, preference: Any) -> tuple[RoutePath, np.ndarray]:
    y = _scores_matrix(scores, "scores")
    if y.shape[1] != 2:
        raise ShapeError(f"scores: has {y.shape[1]} columns; APGR and CPT need two, (weak, strong)")
    pref = as_float_array(preference, "preference", ndim=1)
    if pref.size != y.shape[0]:
        raise ShapeError(f"preference: has {pref.size} values but scores has {y.shape[0]} rows")
    n = y.shape[0]
    p = np.column_stack([np.zeros(n), pref])
    strong_calls = np.broadcast_to(np.array([0.0, 1.0]), (n, 2))
    return mu_path(p, strong_calls, y, strong_calls, start="-inf"), y


def _strong_curve(scores: Any, preference: Any) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(fraction of strong calls, accuracy) along the threshold curve, increasing fraction."""
    path, y = _two_model_path(scores, preference)
    acc_w, acc_s = float(y[:, 0].mean()), float(y[:, 1].mean())
    if acc_s <= acc_w:
        raise InvalidArgumentError(
            f"scores: the strong model (column 1, accuracy {acc_s:.4g}) must beat the weak "
            f"one (column 0, {acc_w:.4g}) for APGR/CPT to be defined"
        )
    q = np.ascontiguousarray(path.cost[::-1])
    return q, np.ascontiguousarray(path.performance[::-1]), acc_w, acc_s


def apgr(scores: Any, preference: Any) -> float:
    """Average performance gap recovered (RouteLLM) of a two-model router.

    Queries are sent to the strong model in decreasing order of ``preference`` (ties together,
    linear in between, as a random order within a tie would be on average); ``acc(q)`` is the
    accuracy when a fraction ``q`` goes to the strong model, and

        APGR = (∫₀¹ acc(q) dq − acc_weak) / (acc_strong − acc_weak).

    A random router scores 0.5 in expectation.

    Parameters
    ----------
    scores : array-like (n_queries, 2)
        Quality of the (weak, strong) models on each query.
    preference : array-like (n_queries,)
        Higher means "send to the strong model" (e.g. predicted strong − weak quality).
    """
    q, acc, acc_w, acc_s = _strong_curve(scores, preference)
    auc = _core.route_auc(q, acc, 0.0, 1.0, False)
    return float((auc - acc_w) / (acc_s - acc_w))


def cpt(scores: Any, preference: Any, level: float = 0.5) -> float:
    """Call-performance threshold (RouteLLM): the least fraction of strong calls at which the
    router reaches ``acc_weak + level · (acc_strong − acc_weak)`` (on the same interpolated
    curve as :func:`apgr`)."""
    level = check_scalar(level, "level", low=0.0, high=1.0)
    q, acc, acc_w, acc_s = _strong_curve(scores, preference)
    target = acc_w + level * (acc_s - acc_w)
    above = np.flatnonzero(acc >= target - 1e-12 * max(1.0, abs(target)))
    j = int(above[0])
    if j == 0:
        return float(q[0])
    t = (target - acc[j - 1]) / (acc[j] - acc[j - 1])
    return float(q[j - 1] + t * (q[j] - q[j - 1]))


# --------------------------------------------------------------------------------------------
# Bootstrap


@dataclasses.dataclass(frozen=True, repr=False)
class FrontierBootstrapResult(Result):
    """Paired bootstrap of routers' frontier statistics over queries.

    ``statistic[r]`` is router ``names[r]``'s statistic on the data (hull AUC on
    ``cost_range``, or APGR) with ``confidence_interval``; ``difference[a, b]`` is statistic
    a − b with its interval ``difference_interval`` and the two-sided bootstrap p-value
    ``difference_pvalue`` (same resampled queries for every router, so the differences are
    paired). ``grid`` and ``band`` give pointwise intervals of each frontier's height.
    """

    names: list[str]
    statistic: np.ndarray
    confidence_interval: ConfidenceInterval
    difference: np.ndarray
    difference_interval: ConfidenceInterval
    difference_pvalue: np.ndarray
    grid: np.ndarray
    frontier_height: np.ndarray
    band: ConfidenceInterval
    cost_range: tuple[float, float]
    n_resamples: int
    confidence_level: float
    replicates: np.ndarray

    def comparisons(self, correction: str = "holm") -> list[dict[str, Any]]:
        """Paired comparisons of every pair of routers, one row per pair ``a < b``.

        Each row gives the difference ``a − b`` of the statistic, its bootstrap standard error
        and percentile interval (the same resampled queries for both routers, so the
        difference is paired), the two-sided bootstrap p-value of a zero difference and the
        p-value adjusted over all pairs (``correction``: "holm", "bh", "bonferroni" or
        "none", as :func:`calipers.resample.pairwise_differences`).
        """
        from ._multitest import adjust

        if correction not in ("holm", "bh", "bonferroni", "none"):
            raise InvalidArgumentError(
                f"correction: got {correction!r}; use 'holm', 'bh', 'bonferroni' or 'none'"
            )
        pairs = [(a, b) for a in range(len(self.names)) for b in range(a + 1, len(self.names))]
        pvals = np.array([self.difference_pvalue[a, b] for a, b in pairs])
        adjusted = adjust(pvals, correction) if pairs else pvals
        rows = []
        for (a, b), p_adj in zip(pairs, adjusted, strict=True):
            diff = self.replicates[:, a] - self.replicates[:, b]
            rows.append(
                {
                    "a": self.names[a],
                    "b": self.names[b],
                    "difference": float(self.difference[a, b]),
                    "standard_error": float(np.std(diff, ddof=1)) if diff.size > 1 else 0.0,
                    "low": float(self.difference_interval.low[a, b]),
                    "high": float(self.difference_interval.high[a, b]),
                    "pvalue": float(self.difference_pvalue[a, b]),
                    "pvalue_adjusted": float(p_adj),
                }
            )
        return rows

    def table(self) -> list[dict[str, Any]]:
        """One row per router: name, statistic, low, high."""
        return [
            {
                "router": name,
                "statistic": float(self.statistic[r]),
                "low": float(self.confidence_interval.low[r]),
                "high": float(self.confidence_interval.high[r]),
            }
            for r, name in enumerate(self.names)
        ]


def _percentile_ci(boot: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = (1.0 - level) / 2.0
    return (
        np.percentile(boot, 100 * alpha, axis=0),
        np.percentile(boot, 100 * (1 - alpha), axis=0),
    )


def _pvalue(diff_boot: np.ndarray) -> np.ndarray:
    """Two-sided bootstrap p-value of a zero difference: twice the smaller tail share."""
    b = diff_boot.shape[0]
    le = ((diff_boot <= 0).sum(axis=0) + 1) / (b + 1)
    ge = ((diff_boot >= 0).sum(axis=0) + 1) / (b + 1)
    return np.minimum(1.0, 2 * np.minimum(le, ge))


def _run_bootstrap(
    paths: list[RoutePath],
    start_mus: list[float],
    y: np.ndarray,
    c: np.ndarray,
    lo: float,
    hi: float,
    grid: np.ndarray,
    zero_router: bool,
    n_resamples: int,
    rng: Any,
    progress: bool | Callable,
) -> np.ndarray:
    n_resamples = check_scalar(n_resamples, "n_resamples", kind=int, low=1, high=10**7)
    seed = seed_from_rng(rng, "rng")
    _, n_chunks = _core.resample_chunking(n_resamples)
    with progress_callback(progress, "route: bootstrap") as cb:
        return _core.route_bootstrap(
            paths=[p._core_path() for p in paths],
            start_mus=start_mus,
            scores=y,
            costs=c,
            lo=lo,
            hi=hi,
            grid=grid,
            zero_router=zero_router,
            n_resamples=n_resamples,
            seed=seed,
            chunk_start=0,
            chunk_end=n_chunks,
            progress=cb,
        )


def _summarise(
    names: list[str],
    observed: np.ndarray,
    boot: np.ndarray,
    grid: np.ndarray,
    heights: np.ndarray,
    boot_heights: np.ndarray,
    cost_range: tuple[float, float],
    n_resamples: int,
    level: float,
) -> FrontierBootstrapResult:
    low, high = _percentile_ci(boot, level)
    diff = observed[:, None] - observed[None, :]
    diff_boot = boot[:, :, None] - boot[:, None, :]
    d_low, d_high = _percentile_ci(diff_boot, level)
    pval = _pvalue(diff_boot)
    np.fill_diagonal(pval, 1.0)
    b_low, b_high = _percentile_ci(boot_heights, level) if grid.size else (heights, heights)
    return FrontierBootstrapResult(
        names=names,
        statistic=observed,
        confidence_interval=ConfidenceInterval(low, high),
        difference=diff,
        difference_interval=ConfidenceInterval(d_low, d_high),
        difference_pvalue=pval,
        grid=grid,
        frontier_height=heights,
        band=ConfidenceInterval(b_low, b_high),
        cost_range=cost_range,
        n_resamples=n_resamples,
        confidence_level=level,
        replicates=boot,
    )


def bootstrap_frontier(
    routers: Mapping[str, RoutePath],
    scores: Any,
    costs: Any,
    *,
    cost_range: Any = None,
    zero_router: bool = True,
    grid: Any = 50,
    n_resamples: int = 2000,
    confidence_level: float = 0.95,
    rng: Any = None,
    progress: bool | Callable = False,
) -> FrontierBootstrapResult:
    """Paired bootstrap CIs of frontier AUCs (and their differences) of several routers.

    Each replicate resamples the test queries once (multinomial counts from the chunked
    streams of :mod:`calipers.resample`, so results do not depend on the thread count), and
    every router's exact curve on that replicate is a sweep of its μ-path with the counts as
    weights: no router is refitted (the uncertainty is that of the evaluation queries).

    Parameters
    ----------
    routers : mapping of name to RoutePath
        Paths on the same queries (e.g. ``router.lambda_path(X_test, Y_test, C_test)``).
    scores, costs : array-like (n_queries, n_models)
        The realised quality and cost the paths were evaluated on.
    cost_range : (low, high), optional
        The AUC range, shared by all routers; default :func:`model_cost_range`.
    zero_router : bool, default True
        Add the zero router (hull of the single models) as ``"zero router"``.
    grid : int or array-like, default 50
        Costs (or how many, evenly spaced over ``cost_range``) for pointwise bands.
    """
    y = _scores_matrix(scores, "scores")
    n, m = y.shape
    c = _cost_matrix(costs, "costs", n, m)
    if not isinstance(routers, Mapping) or not routers:
        raise InvalidArgumentError("routers: pass a non-empty dict of name -> RoutePath")
    names = [str(k) for k in routers]
    paths = list(routers.values())
    for name, p in zip(names, paths, strict=True):
        if not isinstance(p, RoutePath):
            raise InvalidArgumentError(f"routers: {name!r} is not a RoutePath (see mu_path)")
        if p.n_queries != n or p.n_models != m:
            raise ShapeError(
                f"routers: {name!r} covers {p.n_queries} queries × {p.n_models} models but "
                f"scores is {n} × {m}"
            )
    lo, hi = _check_range(model_cost_range(c) if cost_range is None else cost_range)
    level = check_open_unit(confidence_level, "confidence_level")
    if ndim_of(grid, "grid") == 0:
        g = check_scalar(grid, "grid", kind=int, low=0, high=10**5)
        grid_arr = np.linspace(lo, hi, g) if g else np.empty(0)
    else:
        grid_arr = as_float_array(grid, "grid", ndim=1)
    start_mus = [float(p.mu[0]) for p in paths]
    boot = _run_bootstrap(
        paths, start_mus, y, c, lo, hi, grid_arr, zero_router, n_resamples, rng, progress
    )
    fronts = [frontier(p) for p in paths]
    if zero_router:
        names.append("zero router")
        fronts.append(zero_router_frontier(y, c))
    observed = np.array([frontier_auc(f, (lo, hi)) for f in fronts])
    heights = np.array([f.at(grid_arr) if grid_arr.size else np.empty(0) for f in fronts])
    return _summarise(
        names,
        observed,
        boot[:, :, 0],
        grid_arr,
        heights,
        boot[:, :, 6:],
        (lo, hi),
        n_resamples,
        level,
    )


def bootstrap_apgr(
    scores: Any,
    preferences: Mapping[str, Any],
    *,
    n_resamples: int = 2000,
    confidence_level: float = 0.95,
    rng: Any = None,
    progress: bool | Callable = False,
) -> FrontierBootstrapResult:
    """Paired bootstrap CIs of the APGR of several two-model routers and of their differences.

    Each replicate resamples the queries once for all routers and recomputes every router's
    curve, the weak and strong accuracies and hence APGR (see :func:`apgr`).
    """
    if not isinstance(preferences, Mapping) or not preferences:
        raise InvalidArgumentError("preferences: pass a non-empty dict of name -> preference")
    names = [str(k) for k in preferences]
    paths, y = [], None
    for pref in preferences.values():
        path, y = _two_model_path(scores, pref)
        paths.append(path)
    assert y is not None
    n = y.shape[0]
    strong_calls = np.ascontiguousarray(np.broadcast_to(np.array([0.0, 1.0]), (n, 2)))
    level = check_open_unit(confidence_level, "confidence_level")
    boot = _run_bootstrap(
        paths,
        [-np.inf] * len(paths),
        y,
        strong_calls,
        0.0,
        1.0,
        np.empty(0),
        False,
        n_resamples,
        rng,
        progress,
    )
    # Per replicate: raw curve area, accuracy with every query strong (start), all weak (end).
    area, acc_s, acc_w = boot[:, :, 1], boot[:, :, 3], boot[:, :, 5]
    with np.errstate(divide="ignore", invalid="ignore"):
        boot_apgr = (area - acc_w) / (acc_s - acc_w)
    observed = np.array([apgr(y, p) for p in preferences.values()])
    return _summarise(
        names,
        observed,
        boot_apgr,
        np.empty(0),
        np.empty((len(names), 0)),
        np.empty((boot.shape[0], len(names), 0)),
        (0.0, 1.0),
        int(n_resamples),
        level,
    )


def _replicate_counts(n: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of bootstrap counts (replicates × queries) from the chunked draws of
    :mod:`calipers.resample` (the rows :func:`bootstrap_frontier` resamples for this seed)."""
    _, n_chunks = _core.resample_chunking(n_resamples)
    for a in range(0, n_chunks, 4):
        drawn = _core.bootstrap_indices(
            sizes=[n],
            seed=seed,
            n_resamples=n_resamples,
            chunk_start=a,
            chunk_end=min(a + 4, n_chunks),
        )
        idx = np.asarray(drawn, dtype=np.int64).reshape(-1, n)
        b = idx.shape[0]
        flat = (np.arange(b)[:, None] * n + idx).ravel()
        yield np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def _cpt_replicates(
    y: np.ndarray, preference: np.ndarray, level: float, counts: np.ndarray
) -> np.ndarray:
    """CPT of each replicate (rows of ``counts`` weight the queries), on the curve of
    :func:`cpt`: queries join the strong model in decreasing preference, ties together, and
    the curve is linear between those points. NaN where the strong model does not beat the
    weak one in the replicate."""
    n = y.shape[0]
    order = np.argsort(-preference, kind="stable")
    p_sorted = preference[order]
    ends = np.flatnonzero(np.r_[p_sorted[1:] != p_sorted[:-1], True]) + 1
    w = counts[:, order]
    gain = (y[:, 1] - y[:, 0])[order]
    acc0 = counts @ y[:, 0] / n
    q = np.concatenate([np.zeros((w.shape[0], 1)), np.cumsum(w, axis=1)[:, ends - 1] / n], 1)
    acc = acc0[:, None] + np.concatenate(
        [np.zeros((w.shape[0], 1)), np.cumsum(w * gain, axis=1)[:, ends - 1] / n], 1
    )
    acc_s = acc[:, -1]
    target = acc0 + level * (acc_s - acc0)
    reached = acc >= (target - 1e-12 * np.maximum(1.0, np.abs(target)))[:, None]
    j = np.argmax(reached, axis=1)
    rows = np.arange(w.shape[0])
    jm = np.maximum(j - 1, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (target - acc[rows, jm]) / (acc[rows, j] - acc[rows, jm])
        out = np.where(j == 0, q[rows, 0], q[rows, jm] + t * (q[rows, j] - q[rows, jm]))
    return np.where(acc_s > acc0, out, np.nan)


def bootstrap_cpt(
    scores: Any,
    preferences: Mapping[str, Any],
    level: float = 0.5,
    *,
    n_resamples: int = 2000,
    confidence_level: float = 0.95,
    rng: Any = None,
) -> FrontierBootstrapResult:
    """Paired bootstrap CIs of the CPT of several two-model routers and of their differences.

    Each replicate resamples the queries once for all routers (the draws of
    :func:`bootstrap_apgr` for the same ``rng``) and recomputes every router's curve, the
    weak and strong accuracies and hence ``cpt(..., level)``. Replicates in which the strong
    model does not beat the weak one (CPT undefined) are left out; ``n_resamples`` of the
    result counts those kept.

    Parameters
    ----------
    scores : array-like (n_queries, 2)
        Quality of the (weak, strong) models on each query.
    preferences : mapping of name to array-like (n_queries,)
        Each router's preference for the strong model (see :func:`cpt`).
    level : float in [0, 1], default 0.5
        The share of the weak-to-strong gap to reach (CPT(50%), CPT(80%), ...).
    """
    if not isinstance(preferences, Mapping) or not preferences:
        raise InvalidArgumentError("preferences: pass a non-empty dict of name -> preference")
    level = check_scalar(level, "level", low=0.0, high=1.0)
    n_resamples = check_scalar(n_resamples, "n_resamples", kind=int, low=1, high=10**7)
    conf = check_open_unit(confidence_level, "confidence_level")
    names = [str(k) for k in preferences]
    prefs, y = [], None
    for pref in preferences.values():
        _, y = _two_model_path(scores, pref)
        prefs.append(as_float_array(pref, "preference", ndim=1))
    assert y is not None
    observed = np.array([cpt(y, p, level) for p in prefs])
    seed = seed_from_rng(rng, "rng")
    blocks = []
    for counts in _replicate_counts(y.shape[0], n_resamples, seed):
        blocks.append(np.column_stack([_cpt_replicates(y, p, level, counts) for p in prefs]))
    boot = np.concatenate(blocks, axis=0)
    boot = boot[~np.isnan(boot).any(axis=1)]
    if boot.shape[0] < 2:
        raise InvalidArgumentError(
            "scores: the strong model beats the weak one in fewer than 2 replicates; CPT has "
            "no bootstrap distribution here"
        )
    k = len(names)
    return _summarise(
        names,
        observed,
        boot,
        np.empty(0),
        np.empty((k, 0)),
        np.empty((boot.shape[0], k, 0)),
        (0.0, 1.0),
        int(boot.shape[0]),
        conf,
    )


# --------------------------------------------------------------------------------------------
# Shnitzer et al.: one model for a new task


@dataclasses.dataclass(frozen=True, repr=False)
class TaskSelectionResult(Result):
    """The chosen model (``best``, an index) and every model's score."""

    best: int
    scores: np.ndarray
    score: str


def select_model_for_task(
    predicted: Any, score: str = "s1", p_hat: Any = None
) -> TaskSelectionResult:
    """Choose one model for a new task from predicted correctness on its (unlabelled) inputs
    (Shnitzer et al. 2023).

    With ``g_m(x_i)`` the predicted probability that model m is right on input i:

    * S1(m) = mean_i g_m(x_i) (expected accuracy);
    * S2(m) = mean_i 1{g_m(x_i) > 1/2} (thresholded);
    * S3(m) = p_m · S2(m) + (1 − p_m) · (1 − S2(m)), with ``p_hat[m]`` the accuracy of the
      thresholded predictor on the new task (estimated by :func:`loto_predictor_accuracy`
      from leave-one-task-out accuracies on similar benchmark tasks): a predicted "correct"
      is right with probability p_m.

    Ties go to the lower index.
    """
    g = as_float_array(predicted, "predicted", ndim=2)
    if ((g < 0) | (g > 1)).any():
        raise InvalidArgumentError("predicted: probabilities must lie in [0, 1]")
    if score == "s1":
        values = g.mean(axis=0)
    elif score in ("s2", "s3"):
        values = (g > 0.5).mean(axis=0)
        if score == "s3":
            if p_hat is None:
                raise InvalidArgumentError(
                    "p_hat: required for score='s3'; pass the estimated accuracy of each "
                    "model's correctness predictor on the new task"
                )
            p = as_float_array(p_hat, "p_hat", ndim=1)
            if p.size != g.shape[1]:
                raise ShapeError(f"p_hat: has {p.size} values but there are {g.shape[1]} models")
            if ((p < 0) | (p > 1)).any():
                raise InvalidArgumentError("p_hat: accuracies must lie in [0, 1]")
            values = p * values + (1 - p) * (1 - values)
    else:
        raise InvalidArgumentError(f"score: got {score!r}; use 's1', 's2' or 's3'")
    return TaskSelectionResult(best=int(np.argmax(values)), scores=values, score=score)


@dataclasses.dataclass(frozen=True, repr=False)
class TaskAccuracyEstimate(Result):
    """Leave-one-task-out accuracies of kNN correctness predictors and their kernel-weighted
    estimate ``p_hat`` for a new task (the input of ``select_model_for_task(..., "s3")``).

    ``predicted`` holds g_m(x) for the new task's inputs (kNN on all benchmark data);
    ``task_accuracy[t, m]`` is the accuracy of the thresholded predictor of model m on
    benchmark task ``tasks[t]`` when trained on the other tasks; ``task_distance[t]`` is the
    mean distance of the new inputs to their nearest neighbour in task t, and ``weights``
    the normalised kernel weights ``exp(−(distance / bandwidth)² / 2)``.
    """

    p_hat: np.ndarray
    predicted: np.ndarray
    task_accuracy: np.ndarray
    task_distance: np.ndarray
    weights: np.ndarray
    tasks: np.ndarray
    bandwidth: float
    k: int


def _knn_mean(reference: np.ndarray, targets: np.ndarray, queries: np.ndarray, k: int):
    return _core.route_knn_predict(
        reference=reference,
        targets=np.ascontiguousarray(targets),
        queries=queries,
        ks=[k] * targets.shape[1],
    )


def loto_predictor_accuracy(
    features: Any,
    correct: Any,
    tasks: Any,
    new_features: Any,
    *,
    k: int = 32,
    metric: str = "cosine",
    bandwidth: float | None = None,
) -> TaskAccuracyEstimate:
    """Estimate, for a new task, how often each model's correctness predictor is right
    (Shnitzer et al. 2023's p_m, for the score S3 of :func:`select_model_for_task`).

    The predictor of model m is kNN regression of its correctness on query features,
    thresholded at 1/2. Its accuracy on the new task cannot be measured (no labels), so it is
    estimated from benchmark tasks held out one at a time: ``acc[t, m]`` is the accuracy on
    task t of the predictor trained on the other tasks, and

        ``p_hat[m] = Σ_t K(dist_t) acc[t, m] / Σ_t K(dist_t)``,

    a Nadaraya–Watson average over tasks weighted by how close each is to the new task:
    ``dist_t`` is the mean distance of the new task's inputs to their nearest neighbour in
    task t and ``K(r) = exp(−(r / bandwidth)² / 2)``.

    Parameters
    ----------
    features : array-like (n_queries, n_features)
        Benchmark query embeddings (all tasks).
    correct : array-like (n_queries, n_models)
        Correctness of each model (values above 1/2 count as correct).
    tasks : array-like (n_queries,)
        Task label of each benchmark query; at least two tasks.
    new_features : array-like (n_new, n_features)
        The new task's (unlabelled) inputs.
    k : int, default 32
        Neighbours of the kNN predictors (at most the size of the smallest training set).
    metric : {"cosine", "euclidean"}, default "cosine"
    bandwidth : float, optional
        Kernel bandwidth; default the median of the task distances.

    Returns
    -------
    TaskAccuracyEstimate
        Pass ``predicted`` and ``p_hat`` to ``select_model_for_task(..., score="s3")``.
    """
    router = CostAwareRouter(k=k, metric=metric)
    if metric not in ("cosine", "euclidean"):
        raise InvalidArgumentError(f"metric: got {metric!r}; use 'cosine' or 'euclidean'")
    raw = as_float_array(features, "features", ndim=2)
    scale = _power_of_two_scale(raw) if metric == "euclidean" else 1.0
    x = router._features(raw, scale=scale)
    q = router._features(new_features, "new_features", scale=scale)
    if q.shape[1] != x.shape[1]:
        raise ShapeError(
            f"new_features: has {q.shape[1]} columns but features has {x.shape[1]}; pass the "
            "same embedding"
        )
    y = as_float_array(correct, "correct", ndim=2)
    if y.shape[0] != x.shape[0]:
        raise ShapeError(f"correct: has {y.shape[0]} rows but features has {x.shape[0]}")
    labels = as_labels(tasks, "tasks", x.shape[0], what="query of features")
    names, task_of = np.unique(labels, return_inverse=True)
    if names.size < 2:
        raise InvalidArgumentError("tasks: leave-one-task-out needs at least two tasks")
    largest = int(np.bincount(task_of).max())
    k = check_scalar(k, "k", kind=int, low=1, high=x.shape[0] - largest)
    y_bin = (y > 0.5).astype(np.float64)
    acc = np.empty((names.size, y.shape[1]))
    dist = np.empty(names.size)
    for t in range(names.size):
        inside = task_of == t
        g = _knn_mean(x[~inside], y[~inside], x[inside], k)
        acc[t] = ((g > 0.5) == (y_bin[inside] > 0.5)).mean(axis=0)
        _, d2 = _core.knn_query(reference=x[inside], queries=q, k=1)
        # Back in the units of the features (they were divided by `scale`, a power of two).
        dist[t] = float(np.sqrt(np.maximum(np.asarray(d2).reshape(-1), 0.0)).mean()) * scale
    if bandwidth is None:
        h = float(np.median(dist))
        h = h if h > 0 else 1.0
    else:
        h = check_scalar(bandwidth, "bandwidth", low=0.0, low_inclusive=False)
    kern = np.exp(-0.5 * (dist / h) ** 2)
    if kern.sum() == 0:  # every task far beyond the bandwidth: fall back to equal weights
        kern = np.ones_like(kern)
    weights = kern / kern.sum()
    return TaskAccuracyEstimate(
        p_hat=weights @ acc,
        predicted=_knn_mean(x, y, q, k),
        task_accuracy=acc,
        task_distance=dist,
        weights=weights,
        tasks=names,
        bandwidth=h,
        k=int(k),
    )


# --------------------------------------------------------------------------------------------
# Features and plots


def text_features(
    texts: Sequence[str],
    n_components: int = 100,
    *,
    ngram_range: tuple[int, int] = (1, 1),
    max_features: int | None = 50_000,
    random_state: Any = 0,
) -> np.ndarray:
    """Query features from text without model weights: TF-IDF (sublinear term frequency,
    word n-grams in ``ngram_range``) → truncated SVD → L2-normalised rows (scikit-learn).

    The vocabulary and the SVD are fitted on ``texts`` (no labels are used).
    """
    from ._optional import require

    fe = require("sklearn.feature_extraction.text", "calipers.route.text_features", extra="sklearn")
    dec = require("sklearn.decomposition", "calipers.route.text_features", extra="sklearn")
    texts = [str(t) for t in texts]
    if len(texts) < 2:
        raise ShapeError("texts: pass at least 2 texts")
    n_components = check_scalar(n_components, "n_components", kind=int, low=1)
    tfidf = fe.TfidfVectorizer(
        sublinear_tf=True, ngram_range=tuple(ngram_range), max_features=max_features
    )
    sparse = tfidf.fit_transform(texts)
    n_components = min(n_components, sparse.shape[1] - 1, len(texts) - 1)
    if n_components < 1:
        raise InvalidArgumentError("texts: too few distinct words for any SVD component")
    svd = dec.TruncatedSVD(
        n_components=n_components, random_state=seed_from_rng(random_state) % 2**32
    )
    z = svd.fit_transform(sparse)
    norms = np.linalg.norm(z, axis=1)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(z / norms[:, None])


def plot_frontiers(
    frontiers: Sequence[Frontier],
    *,
    bootstrap: FrontierBootstrapResult | None = None,
    models: tuple[Any, Any, Sequence[str]] | None = None,
    ax: Any = None,
    xlabel: str = "mean cost per query",
    ylabel: str = "mean quality",
) -> Any:
    """Plot frontiers (step-free piecewise-linear hulls), with pointwise CI bands from a
    :class:`FrontierBootstrapResult` (matched by name) and the single models as points
    (``models=(mean_costs, mean_scores, names)``). Returns the matplotlib Axes."""
    from ._optional import require

    plt = require("matplotlib.pyplot", "calipers.route.plot_frontiers")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.4))
    for f in frontiers:
        x = np.concatenate([f.cost, f.cost[-1:]]) if bootstrap is None else f.cost
        y = (
            np.concatenate([f.performance, f.performance[-1:]])
            if bootstrap is None
            else f.performance
        )
        (line,) = ax.plot(x, y, marker=".", label=f.name)
        if bootstrap is not None and f.name in bootstrap.names and bootstrap.grid.size:
            r = bootstrap.names.index(f.name)
            ax.fill_between(
                bootstrap.grid,
                bootstrap.band.low[r],
                bootstrap.band.high[r],
                color=line.get_color(),
                alpha=0.2,
                linewidth=0,
            )
    if models is not None:
        mc, mp, names = models
        ax.scatter(mc, mp, color="black", s=12, zorder=3, label="single models")
        for x, y, name in zip(mc, mp, names, strict=True):
            ax.annotate(str(name), (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return ax
