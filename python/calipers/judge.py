"""LLM judges against humans: Bridge, a latent human preference with systematic judge deviations.

Model (Maia Polo et al., "Bridging human and LLM judgments", NeurIPS 2025, arXiv 2508.12792):
item i has a latent human preference Z_i; human rater r gives an ordered label with
``P(Y_ir <= k) = σ(τ_k − Z_i)``; the judge's latent is ``Z^l_i = β Z_i + γᵀ X_i`` with item
covariates X_i (length, authorship, ...). Substituting ``Z_i = (Z^l_i − γᵀX_i)/β`` gives one
cumulative-logit regression of the human labels on the judge latent and the covariates,

    P(Y_ir <= k) = σ(τ_k − a·Z^l_i − δᵀX_i),     a = 1/β,  δ = −γ/β,

fitted here by Newton's method with analytic derivatives in the Rust core (the likelihood is
log-concave; sums over rows run in fixed chunks, so the bits do not depend on the thread
count). β is the judge's scale relative to humans, γ_m the judge's systematic shift per unit
of covariate m at fixed human preference (γ > 0: the judge over-rewards it). The judge latent comes from the
judge's rating probabilities by the "logit trick" (:func:`judge_latent`) or is any monotone judge
score.

Pairwise mode: Z_i is the preference difference of responses A and B (labels ordered
"B better" < "tie" < "A better"), X_i the covariate differences, and a constant c in the linear
predictor is the judge's position bias; it is identified with symmetric thresholds (−τ, τ).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, cast

import numpy as np
from scipy import special, stats

from . import _core
from ._estimator import Estimator
from ._multitest import holm
from ._progress import progress_callback
from ._results import ConfidenceInterval, Result
from ._validation import (
    as_float_array,
    as_labels,
    check_memory,
    check_open_unit,
    check_scalar,
    seed_from_rng,
)
from .exceptions import InvalidArgumentError, NumericalError, ShapeError

__all__ = [
    "Bridge",
    "DiscrepancyTest",
    "ScaleTest",
    "judge_latent",
    "judge_latent_from_samples",
]

_MAX_BOOT = 1_000_000


# ---------------------------------------------------------------------------------------------
# Step 1: the judge latent ("logit trick")


def judge_latent(probs: Any, eps: float = 1e-6) -> np.ndarray:
    """The judge's latent score from its rating distribution.

    Under the judge's cumulative-logit model ``logit P(Y^l <= k) = τ^l_k − Z^l``, so
    ``Z^l = −mean_k logit(P(Y^l <= k))`` up to the constant mean(τ^l), which the regression
    absorbs. (Bridge's paper may weight the K − 1 logits differently; any such choice only
    moves the constant when the judge follows its model. The spec's alternative, a two-way
    least-squares fit ``L_ik = τ^l_k − Z^l_i`` across items, has exactly this solution up to a
    constant when every item has all K − 1 logits, so it is not offered separately.)

    Parameters
    ----------
    probs : array_like, shape (n, K)
        Each row the judge's probabilities of the K ordered ratings (from token
        log-probabilities), summing to 1.
    eps : float, default 1e-6
        Cumulative probabilities are clipped to [eps, 1 − eps] so that a certain judge gives a
        finite latent.

    Returns
    -------
    ndarray, shape (n,)
    """
    p = as_float_array(probs, "probs", ndim=2)
    if p.shape[1] < 2:
        raise ShapeError(f"probs: has {p.shape[1]} column(s); pass one column per rating (K >= 2)")
    if np.any(p < 0) or np.any(np.abs(p.sum(axis=1) - 1) > 1e-6):
        row = int(np.argmax((p < 0).any(axis=1) | (np.abs(p.sum(axis=1) - 1) > 1e-6)))
        raise InvalidArgumentError(
            f"probs: row {row} is not a probability vector; rows must be >= 0 and sum to 1"
        )
    e = check_scalar(eps, "eps", low=0.0, high=0.5, low_inclusive=False, high_inclusive=False)
    cumulative = np.clip(np.cumsum(p, axis=1)[:, :-1], e, 1 - e)
    return -special.logit(cumulative).mean(axis=1)


def judge_latent_from_samples(counts: Any, smoothing: float = 0.5) -> np.ndarray:
    """The judge latent from counts of M sampled judgments per item (n × K), with Laplace
    smoothing ``(count + smoothing) / (M + K·smoothing)``. With few samples the latent carries
    sampling error, which attenuates ``a`` (errors in variables); use the item bootstrap."""
    c = as_float_array(counts, "counts", ndim=2)
    if np.any(c < 0):
        raise InvalidArgumentError("counts: has negative entries; pass counts of each rating")
    s = check_scalar(smoothing, "smoothing", low=0.0, low_inclusive=False)
    p = (c + s) / (c.sum(axis=1, keepdims=True) + c.shape[1] * s)
    return judge_latent(p, eps=1e-12)


# ---------------------------------------------------------------------------------------------
# The cumulative-logit fit (Newton with analytic derivatives, in the Rust core)


@dataclasses.dataclass
class _Design:
    """One row per human rating: category index, regressors and the item of each row.

    The thresholds are ``tau = T @ t`` for the free threshold parameters t (identity for free
    thresholds; (−1, 1)ᵀ for symmetric ones; no column for a single threshold fixed at 0), so
    one Newton solver serves every mode.
    """

    y: np.ndarray  # category index 0..K-1 (uint32)
    w: np.ndarray  # regressors (judge latent, covariates[, constant]), C-contiguous float64
    T: np.ndarray  # (K-1, n_t)
    items: np.ndarray  # cluster index per row, 0..n_items-1 (uint32)
    n_items: int

    @property
    def n_params(self) -> int:
        return self.T.shape[1] + self.w.shape[1]

    @property
    def n_categories(self) -> int:
        return self.T.shape[0] + 1


def _design(
    y: np.ndarray, w: np.ndarray, T: np.ndarray, items: np.ndarray | None = None
) -> _Design:
    codes = np.ascontiguousarray(y, dtype=np.uint32)
    if items is None:
        clusters = np.arange(codes.size, dtype=np.uint32)
    else:
        clusters = np.ascontiguousarray(items, dtype=np.uint32)
    return _Design(
        codes,
        np.ascontiguousarray(w, dtype=np.float64),
        np.ascontiguousarray(T, dtype=np.float64),
        clusters,
        int(clusters.max()) + 1 if clusters.size else 0,
    )


def _fit(design: _Design, clustered: bool) -> tuple[np.ndarray, float, int, np.ndarray, Any]:
    """(theta, loglik, Newton steps, Hessian, meat of the item-clustered sandwich or None)."""
    return _core.judge_fit(
        y=design.y,
        w=design.w,
        tmap=design.T,
        n_categories=design.n_categories,
        items=design.items if clustered else None,
        n_items=design.n_items,
    )


def _derivatives(design: _Design, theta: Any) -> tuple[float, np.ndarray, np.ndarray] | None:
    """Log-likelihood, gradient and Hessian at ``theta`` (None outside the parameter space)."""
    return _core.judge_derivatives(
        y=design.y,
        w=design.w,
        tmap=design.T,
        n_categories=design.n_categories,
        theta=np.ascontiguousarray(theta, dtype=np.float64),
    )


def _covariances(
    design: _Design, hess: np.ndarray, meat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Model-based inverse information and the item-clustered sandwich (with the small-sample
    factor G/(G−1)·(N−1)/(N−P) that statsmodels applies)."""
    bread = np.linalg.inv(-hess)
    g, n, p = design.n_items, design.y.size, design.n_params
    factor = g / (g - 1) * (n - 1) / (n - p) if g > 1 else np.nan
    return bread, factor * bread @ meat @ bread


def _column_scales(w: np.ndarray, unit_first: bool = False) -> np.ndarray:
    """A power of two within a factor 2 of each column's largest magnitude (1 for a zero
    column, and for the first column when ``unit_first``): dividing by it is exact."""
    # max |w| per column as max(max, −min), one column at a time: no |w| temporary, and a
    # strided 1-d reduction is several times faster than numpy's axis-0 one on a tall matrix
    big = np.array(
        [max(w[:, j].max(), -w[:, j].min()) if w.shape[0] else 0.0 for j in range(w.shape[1])],
        dtype=np.float64,
    )
    scale = np.where(big > 0, np.ldexp(1.0, np.frexp(big)[1] - 1), 1.0)
    if unit_first and scale.size:
        scale[0] = 1.0
    return scale


def _dense_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)``: the sorted distinct values and the index of
    each value among them; in O(n) by counting for integer-valued input of a small range (the
    usual labels and item ids), by sorting otherwise."""
    if values.size and values.dtype.kind in "iuf":
        lo, hi = values.min(), values.max()
        span = float(hi) - float(lo)
        integral = values.dtype.kind in "iu" or bool(np.all(values == np.round(values)))
        if integral and span <= 4 * values.size + 16:
            offset = (values - lo).astype(np.int64)
            present = np.bincount(offset) > 0
            distinct = (np.flatnonzero(present) + lo).astype(values.dtype)
            # the codes in the core's dtype already (no second O(n) conversion)
            return distinct, (np.cumsum(present) - 1).astype(np.uint32)[offset]
    distinct, index = np.unique(values, return_inverse=True)
    return distinct, index.reshape(-1).astype(np.uint32)


def _left_float_range(scaled: np.ndarray, unscaled: np.ndarray) -> bool:
    """Whether rescaling a covariance overflowed, or underflowed a positive variance to zero or
    a subnormal (its standard errors and tests would then be 0 or infinite)."""
    if not np.all(np.isfinite(unscaled)):
        return True
    lost = (np.diag(scaled) > 0) & (np.abs(np.diag(unscaled)) < np.finfo(np.float64).tiny)
    return bool(lost.any())


def _rowdot(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """a @ v without BLAS, whose threaded sums would make the last bits depend on the BLAS
    thread count."""
    return np.einsum("ni,i->n", a, v, optimize=False)


# ---------------------------------------------------------------------------------------------
# Results


@dataclasses.dataclass(frozen=True, repr=False)
class DiscrepancyTest(Result):
    """H0 γ = 0 (equivalently δ = 0): no systematic judge–human discrepancy.

    ``statistic``/``pvalue``: the joint test (``method``); ``wald_statistic``/``wald_pvalue``
    with the fit's covariance, ``lr_statistic``/``lr_pvalue`` against the fit without
    covariates (model-based); per-covariate ``z`` and Holm-adjusted ``pvalues_adjusted``.
    """

    statistic: float
    pvalue: float
    method: str
    df: int
    wald_statistic: float
    wald_pvalue: float
    lr_statistic: float
    lr_pvalue: float
    names: tuple[str, ...]
    z: np.ndarray
    pvalues: np.ndarray
    pvalues_adjusted: np.ndarray


@dataclasses.dataclass(frozen=True, repr=False)
class ScaleTest(Result):
    """H0 β = beta0 (the judge uses the human scale when beta0 = 1), a z-test on a = 1/β."""

    statistic: float
    pvalue: float
    beta: float
    beta0: float
    confidence_interval: ConfidenceInterval


# ---------------------------------------------------------------------------------------------
# The estimator


class Bridge(Estimator):
    """Bridge: human labels regressed on an LLM judge's latent score and item covariates.

    Parameters
    ----------
    kind : {"absolute", "pairwise"}, default "absolute"
        ``"pairwise"`` adds a constant to the linear predictor: the judge's position bias.
    thresholds : {"free", "symmetric"}, default "free"
        Symmetric thresholds (−τ, τ) need K = 3 (pairwise with ties); with K = 2 the single
        threshold is 0. A position bias is identified only with symmetric thresholds.
    cov_type : {"cluster", "model"}, default "cluster"
        Covariance of the estimates: item-clustered sandwich (the ratings of one item share its
        latent; statsmodels' small-sample factor) or the inverse information.

    Attributes
    ----------
    classes_ : ndarray
        The ordered label values.
    thresholds_ : ndarray, shape (K − 1,)
    a_ : float
        Coefficient on the judge latent (1/β).
    delta_ : ndarray, shape (p,)
        Covariate coefficients (−γ/β).
    position_bias_ : float or None
        The constant (pairwise mode), None otherwise.
    beta_, gamma_ : float, ndarray
        Structural parameters; ``beta_se_``, ``gamma_se_`` by the delta method.
    covariance_ : ndarray
        Covariance of (threshold parameters, a, δ[, c]) for ``cov_type``;
        ``covariance_model_`` and ``covariance_cluster_`` are both kept.
    loglik_, loglik_null_ : float
        Log-likelihood with and without covariates.
    feature_names_ : tuple of str
    n_iter_ : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=300); x = rng.normal(size=300)
    >>> y = (z + 0.5 * x + rng.logistic(size=300) > 0).astype(int)
    >>> br = Bridge(cov_type="model").fit(y, z, X=x[:, None], feature_names=["x"])
    >>> round(br.a_, 1), br.feature_names_
    (1.2, ('x',))
    """

    _fitted_attribute = "a_"

    def __init__(
        self,
        kind: Literal["absolute", "pairwise"] = "absolute",
        thresholds: Literal["free", "symmetric"] = "free",
        cov_type: Literal["cluster", "model"] = "cluster",
    ) -> None:
        self.kind = kind
        self.thresholds = thresholds
        self.cov_type = cov_type

    # -- input --------------------------------------------------------------------------------

    def _check_options(self) -> None:
        if self.kind not in ("absolute", "pairwise"):
            raise InvalidArgumentError(f"kind: got {self.kind!r}; use 'absolute' or 'pairwise'")
        if self.thresholds not in ("free", "symmetric"):
            raise InvalidArgumentError(
                f"thresholds: got {self.thresholds!r}; use 'free' or 'symmetric'"
            )
        if self.cov_type not in ("cluster", "model"):
            raise InvalidArgumentError(f"cov_type: got {self.cov_type!r}; use 'cluster' or 'model'")

    def _regressors(self, z: Any, X: Any, n: int | None, fitting: bool) -> np.ndarray:
        zz = as_float_array(z, "z", ndim=1)
        if n is not None and zz.size != n:
            raise ShapeError(f"z: has length {zz.size} but there are {n} labels; one per rating")
        n_cov = len(self.feature_names_) if not fitting else None
        if X is None:
            xx = np.zeros((zz.size, 0))
        else:
            xx = as_float_array(X, "X", ndim=(1, 2))
            xx = xx[:, None] if xx.ndim == 1 else xx
            if xx.shape[0] != zz.size:
                raise ShapeError(f"X: has {xx.shape[0]} rows but z has {zz.size}; one per rating")
        if n_cov is not None and xx.shape[1] != n_cov:
            raise ShapeError(f"X: has {xx.shape[1]} columns but the fit used {n_cov}")
        parts = [zz[:, None], xx]
        if self.kind == "pairwise":
            parts.append(np.ones((zz.size, 1)))
        return np.hstack(parts)

    def _threshold_map(self, n_categories: int) -> np.ndarray:
        if self.thresholds == "free":
            return np.eye(n_categories - 1)
        if n_categories == 3:
            return np.array([[-1.0], [1.0]])
        if n_categories == 2:
            return np.zeros((1, 0))
        raise InvalidArgumentError(
            f"thresholds: 'symmetric' needs 2 or 3 label categories, got {n_categories}"
        )

    def _check_identified(self, w: np.ndarray, names: tuple[str, ...], centred: bool) -> None:
        """Refuse constant and collinear regressors (the information matrix would be singular);
        with free thresholds a constant is absorbed by them, so columns are centred first."""
        labels = ["z (the judge latent)", *(f"covariate {n!r}" for n in names)]
        if self.kind == "pairwise":
            labels.append("the position-bias constant")
        # one BLAS Gram matrix (a check only: the fit itself never uses BLAS)
        raw = w.T @ w
        gram = raw - np.outer(s := np.ones(w.shape[0]) @ w, s) / w.shape[0] if centred else raw
        var = np.diag(gram).copy()
        flat = var <= 1e-12 * np.diag(raw)
        if flat.any():
            j = int(np.argmax(flat))
            arg = "z" if j == 0 else ("thresholds" if j > len(names) else "X")
            why = (
                "the free thresholds absorb a constant; use thresholds='symmetric'"
                if arg == "thresholds"
                else "drop it" + (" (the free thresholds absorb a constant)" if centred else "")
            )
            raise InvalidArgumentError(f"{arg}: {labels[j]} is constant; {why}")
        corr = gram / np.sqrt(np.outer(var, var))
        vals, vecs = np.linalg.eigh(corr)
        if vals[0] < 1e-10:
            involved = [labels[j] for j in np.flatnonzero(np.abs(vecs[:, 0]) > 0.1)]
            raise InvalidArgumentError(
                f"X: {', '.join(involved)} are collinear, so their effects are not identified; "
                "drop one of them"
            )

    def _encode_labels(self, y: Any) -> tuple[np.ndarray, np.ndarray]:
        yy = as_float_array(y, "y", ndim=1)
        classes, index = _dense_codes(yy)
        if classes.size < 2:
            raise InvalidArgumentError(
                f"y: has a single label value ({classes[0]:g}); Bridge needs at least two "
                "ordered categories"
            )
        return classes, index

    @staticmethod
    def _encode_items(items: Any, n: int) -> np.ndarray:
        if items is None:
            return np.arange(n, dtype=np.uint32)
        return _dense_codes(as_labels(items, "items", n, what="rating"))[1]

    # -- fit ----------------------------------------------------------------------------------

    def fit(
        self,
        y: Any,
        z: Any,
        X: Any = None,
        items: Any = None,
        feature_names: Any = None,
    ) -> Bridge:
        """Fit on long-format data: one row per human rating.

        Parameters
        ----------
        y : array_like, shape (n,)
            Human labels, ordered values (e.g. 1..5; pairwise: −1 = B better, 0 = tie,
            1 = A better).
        z : array_like, shape (n,)
            The judge latent of the row's item (:func:`judge_latent`, or a judge score).
        X : array_like, shape (n, p) or a pandas DataFrame, optional
            Item covariates (no constant; pairwise: A − B differences). A DataFrame's column
            names become ``feature_names_``.
        items : array_like, shape (n,), optional
            Item id of each row (clusters); default: each row its own item.
        feature_names : sequence of str, optional
            Names of the covariates (default the DataFrame columns or x0, x1, ...).
        """
        self._check_options()
        if X is not None and hasattr(X, "columns") and feature_names is None:
            feature_names = [str(c) for c in X.columns]
        classes, yi = self._encode_labels(y)
        self.feature_names_: tuple[
            str, ...
        ] = ()  # set below; _regressors reads it only when not fitting
        w = self._regressors(z, X, yi.size, fitting=True)
        # the regressors, their contiguous copy and the null fit's columns (the core's own
        # memory is per chunk of rows)
        check_memory(
            24.0 * yi.size * (w.shape[1] + 1),
            "y",
            "fit on fewer ratings or with fewer covariates",
        )
        n_cov = w.shape[1] - 1 - (self.kind == "pairwise")
        names = (
            tuple(f"x{j}" for j in range(n_cov)) if feature_names is None else tuple(feature_names)
        )
        if len(names) != n_cov:
            raise ShapeError(f"feature_names: has {len(names)} names for {n_cov} covariates")
        T = self._threshold_map(classes.size)
        # Regressors from 1e-300 to 1e300: fit on columns divided by powers of two near their
        # size (exact; Newton's iterates are then exactly rescaled ones) and scale back.
        scale = _column_scales(w)
        ws = w  # w is this call's own stacked copy: rescale it in place
        ws /= scale
        self._check_identified(ws, names, centred=self.thresholds == "free")
        design = _design(yi, ws, T, self._encode_items(items, yi.size))
        if yi.size <= design.n_params:
            raise InvalidArgumentError(
                f"y: {yi.size} ratings for {design.n_params} parameters ({classes.size} distinct "
                "labels); Bridge needs ordered categories (a few distinct values) and more "
                "ratings than parameters"
            )
        theta, ll, n_iter, hess, meat = _fit(design, clustered=True)
        cov_model, cov_cluster = _covariances(design, hess, meat)
        unscale = np.concatenate([np.ones(T.shape[1]), 1 / scale])
        theta = theta * unscale
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            scaled = (cov_cluster, cov_model)
            cov_cluster = cov_cluster * np.outer(unscale, unscale)
            cov_model = cov_model * np.outer(unscale, unscale)
            out_of_range = any(
                _left_float_range(before, after)
                for before, after in zip(scaled, (cov_cluster, cov_model), strict=True)
            )
        if out_of_range:
            size = np.abs(ws).max(axis=0) * scale
            raise NumericalError(
                "z: the judge latent and covariates are so small or large (largest |value| per "
                f"column from {size.min():.3g} to {size.max():.3g}) that the covariance of the "
                "coefficients leaves the floating-point range; rescale z and X (e.g. "
                "standardise them) before fitting"
            )
        null_cols = [0] + ([w.shape[1] - 1] if self.kind == "pairwise" else [])
        if n_cov:
            ll_null = _fit(_design(yi, ws[:, null_cols], T, design.items), clustered=False)[1]
        else:
            ll_null = ll

        n_t = design.T.shape[1]
        self.classes_ = classes
        self.feature_names_ = names
        self.theta_ = theta
        self.thresholds_ = design.T @ theta[:n_t]
        self.a_ = float(theta[n_t])
        self.delta_ = theta[n_t + 1 : n_t + 1 + n_cov].copy()
        self.position_bias_ = float(theta[-1]) if self.kind == "pairwise" else None
        self.covariance_model_ = cov_model
        self.covariance_cluster_ = cov_cluster
        self.covariance_ = cov_cluster if self.cov_type == "cluster" else cov_model
        self.loglik_ = float(ll)
        self.loglik_null_ = float(ll_null)
        self.n_iter_ = n_iter
        self.n_items_ = design.n_items
        self._n_t = n_t
        self._structural()
        return self

    def _structural(self) -> None:
        """β = 1/a, γ = −δ/a and their delta-method standard errors."""
        a, delta, n_t = self.a_, self.delta_, self._n_t
        p = delta.size
        idx = np.arange(n_t, n_t + 1 + p)
        cov = self.covariance_[np.ix_(idx, idx)]
        # J = ∂(β, γ)/∂(a, δ) = J'/a with J' = [[−1/a, 0], [δ/a, −I]]; dividing by a twice at
        # the end keeps extreme scales of a in range
        jac = np.zeros((1 + p, 1 + p))
        jac[0, 0] = -1 / a
        jac[1:, 0] = delta / a
        jac[1:, 1:] = -np.eye(p)
        cov_s = jac @ cov @ jac.T / a / a
        self.beta_ = 1 / a
        self.gamma_ = -delta / a
        self.beta_se_ = float(np.sqrt(cov_s[0, 0]))
        self.gamma_se_ = np.sqrt(np.diag(cov_s)[1:])

    # -- inference ----------------------------------------------------------------------------

    def _se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.covariance_))

    @property
    def delta_se_(self) -> np.ndarray:
        self._check_fitted()
        return self._se()[self._n_t + 1 : self._n_t + 1 + self.delta_.size]

    @property
    def a_se_(self) -> float:
        self._check_fitted()
        return float(self._se()[self._n_t])

    def test_discrepancy(self, method: Literal["wald", "lr"] = "wald") -> DiscrepancyTest:
        """Test H0 γ = 0: joint Wald (with the fit's covariance) and likelihood ratio, and a
        z-test per covariate with Holm's adjustment (also with the fit's covariance)."""
        self._check_fitted()
        if method not in ("wald", "lr"):
            raise InvalidArgumentError(f"method: got {method!r}; use 'wald' or 'lr'")
        p = self.delta_.size
        if p == 0:
            raise InvalidArgumentError("test_discrepancy: the fit has no covariates (X=None)")
        idx = np.arange(self._n_t + 1, self._n_t + 1 + p)
        cov = self.covariance_[np.ix_(idx, idx)]
        wald = float(self.delta_ @ np.linalg.solve(cov, self.delta_))
        lr = float(2 * (self.loglik_ - self.loglik_null_))
        z = self.delta_ / np.sqrt(np.diag(cov))
        pvalues = 2 * stats.norm.sf(np.abs(z))
        wald_p, lr_p = float(stats.chi2.sf(wald, p)), float(stats.chi2.sf(lr, p))
        return DiscrepancyTest(
            statistic=wald if method == "wald" else lr,
            pvalue=wald_p if method == "wald" else lr_p,
            method=method,
            df=p,
            wald_statistic=wald,
            wald_pvalue=wald_p,
            lr_statistic=lr,
            lr_pvalue=lr_p,
            names=self.feature_names_,
            z=z,
            pvalues=pvalues,
            pvalues_adjusted=holm(pvalues),
        )

    def test_scale(self, beta0: float = 1.0, confidence_level: float = 0.95) -> ScaleTest:
        """Test H0 β = beta0 by z = (â − 1/beta0)/se(â); the interval is for β (delta method)."""
        self._check_fitted()
        b0 = check_scalar(beta0, "beta0", low=0.0, low_inclusive=False)
        level = check_open_unit(confidence_level, "confidence_level")
        z = (self.a_ - 1 / b0) / self.a_se_
        half = stats.norm.ppf((1 + level) / 2) * self.beta_se_
        return ScaleTest(
            statistic=float(z),
            pvalue=float(2 * stats.norm.sf(abs(z))),
            beta=self.beta_,
            beta0=b0,
            confidence_interval=ConfidenceInterval(self.beta_ - half, self.beta_ + half),
        )

    def test_position_bias(self) -> ScaleTest:
        """Pairwise mode: H0 c = 0 (no position bias), a z-test with the fit's covariance.
        The returned ``beta`` field holds the estimate of c."""
        self._check_fitted()
        if self.kind != "pairwise":
            raise InvalidArgumentError("test_position_bias: needs Bridge(kind='pairwise')")
        if self.thresholds != "symmetric":
            raise InvalidArgumentError(
                "test_position_bias: the position bias is identified only with "
                "thresholds='symmetric' (free thresholds absorb it)"
            )
        se = float(self._se()[-1])
        c = cast(float, self.position_bias_)  # a float in pairwise mode
        z = c / se
        half = stats.norm.ppf(0.975) * se
        return ScaleTest(
            statistic=float(z),
            pvalue=float(2 * stats.norm.sf(abs(z))),
            beta=c,
            beta0=0.0,
            confidence_interval=ConfidenceInterval(c - half, c + half),
        )

    # -- prediction ---------------------------------------------------------------------------

    def predict_proba(self, z: Any, X: Any = None) -> np.ndarray:
        """P(human label = each class) for items with judge latent ``z`` and covariates ``X``:
        σ(τ_k − η) − σ(τ_{k−1} − η), shape (m, K)."""
        self._check_fitted()
        w = self._regressors(z, X, None, fitting=False)
        eta = _rowdot(w, self.theta_[self._n_t :])
        cdf = special.expit(self.thresholds_[None, :] - eta[:, None])
        cdf = np.hstack([np.zeros((eta.size, 1)), cdf, np.ones((eta.size, 1))])
        return np.clip(np.diff(cdf, axis=1), 0.0, 1.0)

    def predict(self, z: Any, X: Any = None, how: Literal["argmax", "mean"] = "argmax"):
        """The most probable human label (``"argmax"``) or its expected value (``"mean"``)."""
        proba = self.predict_proba(z, X)
        if how == "argmax":
            return self.classes_[np.argmax(proba, axis=1)]
        if how == "mean":
            return proba @ self.classes_
        raise InvalidArgumentError(f"how: got {how!r}; use 'argmax' or 'mean'")

    def score(self, y: Any, z: Any, X: Any = None, items: Any = None) -> dict[str, float]:
        """Accuracy, log loss, KL and ECE of the predicted human label distribution.

        Per rating row: accuracy of the argmax, log loss, top-label confidence for the ECE
        (10 equal-width bins). Per item: KL(empirical rater distribution ‖ prediction),
        averaged over items.
        """
        self._check_fitted()
        yy, index = self._label_index(y)
        proba = self.predict_proba(z, X)
        if proba.shape[0] != yy.size:
            raise ShapeError(f"z: has length {proba.shape[0]} but y has {yy.size}")
        tiny = 1e-15
        p_true = np.maximum(proba[np.arange(yy.size), index], tiny)
        top = proba.argmax(axis=1)
        conf = proba.max(axis=1)
        correct = top == index
        bins = np.minimum((conf * 10).astype(int), 9)
        ece = sum(
            abs(correct[bins == b].mean() - conf[bins == b].mean()) * np.mean(bins == b)
            for b in range(10)
            if np.any(bins == b)
        )
        item = self._encode_items(items, yy.size)
        k = self.classes_.size
        empirical = np.zeros((item.max() + 1, k))
        np.add.at(empirical, (item, index), 1.0)
        empirical /= empirical.sum(axis=1, keepdims=True)
        predicted = np.zeros_like(empirical)
        predicted[item] = proba  # rows of one item share z and X
        ratio = np.where(empirical > 0, empirical, 1.0) / np.maximum(predicted, tiny)
        kl = (empirical * np.log(ratio)).sum(axis=1)
        return {
            "accuracy": float(correct.mean()),
            "log_loss": float(-np.log(p_true).mean()),
            "kl": float(kl.mean()),
            "ece": float(ece),
        }

    def _label_index(self, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """The labels and their index in the fitted ``classes_`` (an error for other labels)."""
        yy = as_float_array(y, "y", ndim=1)
        index = np.searchsorted(self.classes_, yy)
        bad = (index >= self.classes_.size) | (
            self.classes_[np.minimum(index, self.classes_.size - 1)] != yy
        )
        if bad.any():
            raise InvalidArgumentError(
                f"y: has label {yy[bad][0]:g}, not one of the fitted classes {self.classes_.tolist()}"
            )
        return yy, index

    # -- bootstrap ----------------------------------------------------------------------------

    def bootstrap(
        self,
        y: Any,
        z: Any,
        X: Any = None,
        items: Any = None,
        *,
        n_resamples: int = 1000,
        confidence_level: float = 0.95,
        random_state: Any = None,
        progress: Any = False,
        counts: Any = None,
        smoothing: float = 0.5,
    ) -> dict[str, ConfidenceInterval]:
        """Item-cluster bootstrap percentile intervals of a, δ, β, γ (and c).

        Items are resampled with replacement with all their ratings and the model is refitted
        (in the Rust core, in parallel over replicates, each replicate with its own seeded
        stream: the same intervals on any number of threads). Pass the data the model was
        fitted on. Replicates that lose a label category or do not converge (separation) are
        skipped.

        Parameters
        ----------
        y, z, X, items
            As in :meth:`fit`.
        n_resamples : int, default 1000
        confidence_level : float, default 0.95
        random_state : None, int or numpy.random.Generator
        progress : bool or callable, default False
            False, True (a bar) or a callable ``(done, total)`` counting refits.
        counts : array_like, shape (n, K_judge), optional
            When ``z`` is the latent of M sampled judgments per item
            (:func:`judge_latent_from_samples`), their counts over the judge's rating levels,
            one row per rating row (the rows of an item repeat its counts). Each drawn item
            then also has its M judgments re-drawn multinomially from its observed frequencies
            and its latent recomputed with ``smoothing``, so the intervals include the
            latent's sampling error (spec §3.3); ``z`` must equal
            ``judge_latent_from_samples(counts, smoothing)``.
        smoothing : float, default 0.5
            The Laplace pseudo-count of the latent (as in :func:`judge_latent_from_samples`).

        Returns
        -------
        dict of str to ConfidenceInterval
            Keys ``"a"``, ``"delta[name]"``, (``"position_bias"``), ``"beta"``,
            ``"gamma[name]"``.

        Notes
        -----
        Memory: the data once more per worker thread (one replicate at a time).
        """
        self._check_fitted()
        b = check_scalar(n_resamples, "n_resamples", kind=int, low=2, high=_MAX_BOOT)
        level = check_open_unit(confidence_level, "confidence_level")
        seed = seed_from_rng(random_state, "random_state")
        yy, index = self._label_index(y)
        w = self._regressors(z, X, yy.size, fitting=False)
        # as in fit, on exactly rescaled columns (the latent column stays as it is when the core
        # recomputes it from counts; a logit-trick latent is bounded)
        scale = _column_scales(w, unit_first=counts is not None)
        unscale = np.concatenate([np.ones(self._n_t), 1 / scale])
        design = _design(
            index,
            w / scale,
            self._threshold_map(self.classes_.size),
            self._encode_items(items, yy.size),
        )
        item_counts = None
        s = 0.5
        if counts is not None:
            s = check_scalar(smoothing, "smoothing", low=0.0, low_inclusive=False)
            item_counts = self._item_counts(counts, s, design)
        with progress_callback(progress, "Bridge.bootstrap", unit="fit") as report:
            draws, ok = _core.judge_bootstrap(
                y=design.y,
                w=design.w,
                tmap=design.T,
                n_categories=design.n_categories,
                items=design.items,
                n_items=design.n_items,
                n_resamples=b,
                seed=seed,
                counts=item_counts,
                smoothing=s,
                start=self.theta_ / unscale,
                progress=report,
            )
        theta = draws[ok] * unscale
        if theta.shape[0] < 2:
            raise NumericalError("bootstrap: fewer than two replicates could be fitted")
        a = theta[:, self._n_t]
        rest = theta[:, self._n_t + 1 :]
        p = self.delta_.size
        stacked = np.column_stack([a, rest, 1 / a, -rest[:, :p] / a[:, None]])
        alpha = 1 - level
        lo, hi = np.quantile(stacked, [alpha / 2, 1 - alpha / 2], axis=0)
        names = ["a", *(f"delta[{n}]" for n in self.feature_names_)]
        if self.kind == "pairwise":
            names.append("position_bias")
        names += ["beta", *(f"gamma[{n}]" for n in self.feature_names_)]
        return {
            name: ConfidenceInterval(float(l_), float(h_))
            for name, l_, h_ in zip(names, lo, hi, strict=True)
        }

    @staticmethod
    def _item_counts(counts: Any, smoothing: float, design: _Design) -> np.ndarray:
        """The judge's sampled-rating counts per item (n_items × K_judge, uint32), checked
        against the rows and against the latent in the first regressor column."""
        c = as_float_array(counts, "counts", ndim=2)
        if c.shape[0] != design.y.size:
            raise ShapeError(
                f"counts: has {c.shape[0]} rows but there are {design.y.size} ratings; pass the "
                "counts of each rating's item on its row"
            )
        if c.shape[1] < 2:
            raise ShapeError("counts: has fewer than 2 columns; pass one column per judge rating")
        if np.any(c < 0) or np.any(c != np.round(c)):
            raise InvalidArgumentError(
                "counts: must be non-negative whole numbers (how many sampled judgments gave "
                "each rating)"
            )
        first = np.unique(design.items, return_index=True)[1]
        per_item = c[first]
        if np.any(per_item[design.items] != c):
            row = int(np.argmax(np.any(per_item[design.items] != c, axis=1)))
            raise InvalidArgumentError(
                f"counts: row {row} differs from the first row of its item; the rows of one item "
                "must repeat the item's counts"
            )
        m = per_item.sum(axis=1)
        if np.any(m < 1) or np.any(m > 2**32 - 1):
            raise InvalidArgumentError(
                "counts: every item needs between 1 and 2**32 - 1 sampled judgments"
            )
        latent = judge_latent_from_samples(per_item, smoothing)
        if not np.allclose(latent[design.items], design.w[:, 0], rtol=0.0, atol=1e-9):
            raise InvalidArgumentError(
                "z: is not judge_latent_from_samples(counts, smoothing); pass the latent made "
                "from these counts, or omit counts"
            )
        return np.ascontiguousarray(per_item, dtype=np.uint32)
