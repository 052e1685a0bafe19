"""Multi-prompt evaluation: the distribution of a model's score over prompt templates.

A model's accuracy moves by several points with the prompt template; reporting one template
hides it and evaluating all F templates on all J examples costs F passes. PromptEval (Maia Polo
et al., "Efficient multi-prompt evaluation of LLMs", NeurIPS 2024) evaluates a few (template,
example) cells, fits an IRT-type model

    P(Y_fj = 1) = σ(θ_f + β_j),    θ_f = x_fᵀγ,    β_j = z_jᵀψ  (or free per example),

and fills the cells not evaluated with the fitted probabilities. The accuracy of template f is
estimated as

    Ŝ_f = (1/J) Σ_j [Y_fj if (f, j) was evaluated else σ(θ̂_f + β̂_j)],

and the quantiles of the score over templates as the percentiles of {Ŝ_f}. Template covariates
``x_f`` (one-hot template features, embeddings) let templates share strength; without them each
template has its own θ_f.

The fit (``method="map"``) is the MAP estimate with independent N(0, prior_sd²) priors on every
coefficient: an L2-penalised logistic regression with C = prior_sd². The reference code uses
C = 100 (prior_sd = 10); on real data (HANNA judge configurations) that weak prior is *worse*
than plain averaging once templates have 4 or more evaluations, while prior_sd = 1 halves the
error of averaging and costs nothing on simulations (see ``tests/test_prompts.py``), hence the
default. ``method="mml"`` integrates the example effects out (β_j ~ N(0, τ²) with τ estimated,
marginal maximum likelihood), which removes the Jensen bias of plugging β̂_j = 0 into σ(·)
for examples never evaluated.

Computation: Newton on [covariates | example one-hot] with the diagonal example block eliminated
(Schur complement), in the Rust core, in parallel over models (a leading axis of ``Y``); bit-
identical for any thread count. Peak memory: the float32 copy of ``Y`` plus O(evaluated cells +
J + F² + p²) per model being fitted.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, cast

import numpy as np

from . import _core
from ._estimator import Estimator
from ._progress import progress_callback
from ._results import ConfidenceInterval, Result
from ._validation import (
    as_float_array,
    check_memory,
    check_ndim,
    check_open_unit,
    check_scalar,
    ndim_of,
    reject_complex,
    seed_from_rng,
)
from .exceptions import InvalidArgumentError, NonFiniteError, ShapeError

__all__ = [
    "AdaptiveResult",
    "BestFormat",
    "PromptEval",
    "PromptQuantiles",
    "adaptive_evaluate",
    "average_accuracy",
    "balanced_design",
    "prompt_quantiles",
]

Method = Literal["map", "mml"]
Interval = Literal["parametric", "percentile"]
_DEFAULT_Q = (5.0, 25.0, 50.0, 75.0, 95.0)
_MAX_RESAMPLES = 1_000_000
_BOOT_TOL = 1e-8
_BOOT_MAX_ITER = 50


@dataclasses.dataclass(frozen=True, repr=False)
class PromptQuantiles(Result):
    """Quantiles of the accuracy over templates, with bootstrap confidence intervals.

    ``statistic`` holds the estimated quantiles at the percent levels ``q`` (shape (len(q),)
    for one model, (n_models, len(q)) for several); ``confidence_interval`` the percentile
    bootstrap interval over examples (None when ``n_resamples=0``).
    """

    statistic: np.ndarray
    confidence_interval: ConfidenceInterval | None
    q: np.ndarray
    confidence_level: float
    n_resamples: int
    format_accuracy: np.ndarray


@dataclasses.dataclass(frozen=True, repr=False)
class BestFormat(Result):
    """The template with the highest estimated accuracy and the bootstrap probability that
    each template is the best one (``prob_best`` sums to 1 over templates)."""

    best: Any
    accuracy: Any
    prob_best: np.ndarray
    n_resamples: int


@dataclasses.dataclass(frozen=True, repr=False)
class AdaptiveResult(Result):
    """The outcome of :func:`adaptive_evaluate`.

    ``Y`` is the F × J matrix of the evaluated scores (NaN elsewhere), ``estimator`` the
    :class:`PromptEval` fitted to it, ``quantiles`` its last :class:`PromptQuantiles` (target
    ``"quantiles"``) and ``best`` its last :class:`BestFormat` (target ``"best"``).
    ``history`` lists, per round, the cells evaluated so far and the precision reached (the
    largest half-width of the quantile intervals, or 1 − P(best) of the leading template).
    ``stopped`` says why the loop ended: ``"precision"`` or ``"budget"``.
    """

    Y: np.ndarray
    estimator: Any
    quantiles: PromptQuantiles | None
    best: BestFormat | None
    history: list
    stopped: str


# ---------------------------------------------------------------------------------------------
# Designs and the averaging baseline


def balanced_design(n_formats: int, n_examples: int, budget: int, rng: Any = None) -> np.ndarray:
    """Which (template, example) cells to evaluate: a balanced random design.

    Cells are assigned in rounds; in each round every template (in random order) gets one new
    example, the least-evaluated one it has not seen yet (ties broken at random). So every
    template gets ``budget // n_formats`` or one more cells, and examples are used about equally
    often (as the reference's stratified sampler, without its O(budget · J) loop).

    Parameters
    ----------
    n_formats, n_examples : int
        Numbers of templates F and examples J.
    budget : int
        Number of cells to evaluate, 1 ≤ budget ≤ F·J (one pass-equivalent is J).
    rng : None, int or numpy.random.Generator
        Seed.

    Returns
    -------
    ndarray of bool, shape (n_formats, n_examples)
        True for the cells to evaluate.

    Examples
    --------
    >>> seen = balanced_design(4, 10, budget=20, rng=0)
    >>> seen.sum(axis=1).tolist(), int(seen.sum(axis=0).max())
    ([5, 5, 5, 5], 2)
    """
    nf = check_scalar(n_formats, "n_formats", kind=int, low=1)
    nj = check_scalar(n_examples, "n_examples", kind=int, low=1)
    check_memory(float(nf) * nj, "n_examples", "pass fewer templates or examples")
    total = nf * nj
    b = check_scalar(budget, "budget", kind=int, low=1, high=total)
    gen = np.random.default_rng(seed_from_rng(rng))
    seen = np.zeros((nf, nj), dtype=bool)
    if b == total:
        seen[:] = True
        return seen
    counts = np.zeros(nj, dtype=np.int64)
    left = b
    while left > 0:
        formats = gen.permutation(nf)[: min(nf, left)]
        order = np.lexsort((gen.random(nj), counts))
        taken = np.zeros(nj, dtype=bool)
        head = order[: min(nj, 2 * nf + 64)]
        for f in formats:
            row = seen[f]
            ok = ~row[head] & ~taken[head]  # the least-used examples first: usually enough
            if ok.any():
                j = head[np.argmax(ok)]
            else:
                free = order[~row[order] & ~taken[order]]
                if free.size == 0:  # every unseen example of f is taken this round
                    free = order[~row[order]]
                j = free[0]
            seen[f, j] = True
            taken[j] = True
            counts[j] += 1
        left -= formats.size
    return seen


def average_accuracy(Y: Any) -> np.ndarray:
    """The averaging baseline: each template's mean over its evaluated cells (NaN = not
    evaluated). Templates with no evaluated cell get NaN.

    Examples
    --------
    >>> average_accuracy([[1, np.nan, 0], [1, 1, np.nan]]).tolist()
    [0.5, 1.0]
    """
    y = as_float_array(Y, "Y", ndim=(2, 3), finite=False)
    if np.isinf(y).any():
        where = tuple(int(i) for i in np.argwhere(np.isinf(y))[0])
        raise NonFiniteError(
            f"Y: has an infinite value at index {where}; scores are finite (in [0, 1]) with NaN "
            "for the cells not evaluated"
        )
    seen = ~np.isnan(y)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen, y, 0.0).sum(axis=-1) / seen.sum(axis=-1)


# ---------------------------------------------------------------------------------------------
# Input checks


def _check_responses(Y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Y as float32 (n_models, F, J) with NaN for cells not evaluated, and the number of
    evaluated cells per (model, template). One float32 copy at most (no float64 copy of a
    large matrix); the range check is two reductions."""
    reject_complex(Y, "Y")
    try:
        with np.errstate(over="ignore"):  # a value beyond float32 becomes inf: reported below
            y = np.asarray(Y, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"Y: could not convert to a float array ({exc})") from None
    check_ndim(y, "Y", (2, 3))
    if y.size == 0:
        raise ShapeError(f"Y: has shape {y.shape}; pass at least one template and one example")
    y3 = np.ascontiguousarray(y[None] if y.ndim == 2 else y)
    seen = ~np.isnan(y3)
    counts = seen.sum(axis=2)
    if not seen.any(axis=(1, 2)).all():
        m = int(np.argmin(seen.any(axis=(1, 2))))
        raise InvalidArgumentError(
            f"Y: model {m} has no evaluated cell (all NaN); evaluate some cells (see "
            "balanced_design) or drop that model"
        )
    if np.nanmin(y3) < 0 or np.nanmax(y3) > 1:
        bad = seen & ((y3 < 0) | (y3 > 1))
        m, f, j = (int(v) for v in np.argwhere(bad)[0])
        what = "infinite or huge" if np.isinf(y3[m, f, j]) else f"{y3[m, f, j]:g}"
        raise InvalidArgumentError(
            f"Y: cell (model {m}, template {f}, example {j}) is {what}; scores must be in "
            "[0, 1] (1 = correct; fractional scores allowed) with NaN for cells not evaluated"
        )
    return y3, counts


def _check_covariates(x: Any, name: str, n_rows: int, what: str) -> np.ndarray | None:
    if x is None:
        return None
    arr = as_float_array(x, name, ndim=(1, 2))
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[0] != n_rows:
        raise ShapeError(
            f"{name}: has {arr.shape[0]} rows but Y has {n_rows} {what}; pass one row per {what[:-1]}"
        )
    if arr.shape[1] == 0:
        raise ShapeError(f"{name}: has no columns; pass None for a free effect per {what[:-1]}")
    scale = np.abs(arr).max()
    if scale > 1e6:
        raise InvalidArgumentError(
            f"{name}: has values up to {scale:.3g}; standardise the covariates (the prior on "
            "their coefficients assumes values of order 1)"
        )
    return np.ascontiguousarray(arr)


def _check_q(q: Any) -> np.ndarray:
    qs = as_float_array(q, "q", ndim=(0, 1))
    qs = np.atleast_1d(qs)
    if (qs < 0).any() or (qs > 100).any():
        raise InvalidArgumentError(
            f"q: percent levels must be in [0, 100], got {qs.min():g}..{qs.max():g} (e.g. q=50 "
            "for the median)"
        )
    return qs


def _check_resamples(n_resamples: Any, confidence_level: float | None) -> int:
    n = check_scalar(n_resamples, "n_resamples", kind=int, low=0, high=_MAX_RESAMPLES)
    if confidence_level is not None and 0 < n < 2 / (1 - confidence_level):
        raise InvalidArgumentError(
            f"n_resamples: {n} replicates are too few for a {confidence_level:.0%} interval; "
            f"pass at least {int(np.ceil(2 / (1 - confidence_level)))} (1000 is usual) or 0 "
            "for no interval"
        )
    return n


# ---------------------------------------------------------------------------------------------
# The estimator


class PromptEval(Estimator):
    """PromptEval: template accuracies and their distribution from a few evaluated cells.

    Parameters
    ----------
    format_covariates : array_like, shape (F, p), optional
        Template covariates x_f (one-hot template features, embeddings reduced to a few
        dimensions), standardised to values of order 1. None: a free effect θ_f per template.
        With covariates, a template never evaluated gets its accuracy from its covariates.
    example_covariates : array_like, shape (J, q), optional
        Example covariates z_j (β_j = z_jᵀψ). None: a free effect β_j per example. With both
        covariate sets an intercept is added.
    prior_sd : float, default 1.0
        Standard deviation of the N(0, prior_sd²) prior on every coefficient (liblinear's
        C = prior_sd²; the reference code's C = 100 is prior_sd = 10).
    method : {"map", "mml"}, default "map"
        ``"map"``: the penalised maximum likelihood fit (Newton, Rust core). ``"mml"``: the
        example effects integrated out (random effects N(0, τ²), τ by marginal likelihood);
        cells not evaluated are filled with the posterior expectation of σ(θ_f + β_j).
    max_iter : int, default 100
        Newton iterations.
    tol : float, default 1e-10
        Newton stops when the largest parameter step is below ``tol``.
    random_state : None, int or numpy.random.Generator
        Seed of the bootstrap in :meth:`quantiles` and :meth:`best_format`.

    Attributes
    ----------
    format_accuracy_ : ndarray, shape (F,) or (n_models, F)
        Estimated accuracy Ŝ_f of each template.
    format_accuracy_se_ : ndarray
        Its standard error: the delta method through the posterior covariance plus the
        Bernoulli variance of the cells not evaluated (the target is the realised accuracy
        over these J examples).
    format_effects_ : ndarray
        θ̂_f = x_fᵀγ̂ (the logit shift of each template).
    example_effects_ : ndarray
        β̂_j (z_jᵀψ̂ plus the free effect; the intercept is included here).
    coef_ : ndarray
        The dense coefficients [γ̂; ψ̂ (; intercept)].
    n_evaluated_ : ndarray of int
        Evaluated cells per model.
    converged_, n_iter_ : per-model Newton diagnostics.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> theta, beta = rng.normal(0, 0.5, 20), rng.normal(0, 1.5, 300)
    >>> Y = (rng.random((20, 300)) < 1 / (1 + np.exp(-(theta[:, None] + beta)))).astype(float)
    >>> seen = balanced_design(20, 300, budget=600, rng=1)
    >>> pe = PromptEval().fit(np.where(seen, Y, np.nan))
    >>> bool(pe.w1_to(Y.mean(axis=1)) < 0.05)
    True
    """

    _fitted_attribute = "format_accuracy_"

    def __init__(
        self,
        format_covariates: Any = None,
        example_covariates: Any = None,
        prior_sd: float = 1.0,
        method: Method = "map",
        max_iter: int = 100,
        tol: float = 1e-10,
        random_state: Any = None,
    ) -> None:
        self.format_covariates = format_covariates
        self.example_covariates = example_covariates
        self.prior_sd = prior_sd
        self.method = method
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    # -- fitting ------------------------------------------------------------------------------

    def _design(self, n_formats: int, n_examples: int) -> tuple[Any, Any]:
        x = _check_covariates(self.format_covariates, "format_covariates", n_formats, "templates")
        z = _check_covariates(self.example_covariates, "example_covariates", n_examples, "examples")
        if x is not None and z is not None:
            x = np.ascontiguousarray(np.hstack([x, np.ones((n_formats, 1))]))
        return x, z

    def fit(self, Y: Any, progress: Any = False) -> PromptEval:
        """Fit the template model.

        Parameters
        ----------
        Y : array_like, shape (F, J) or (n_models, F, J)
            Scores in [0, 1] (1 = correct; fractional allowed) of template f on example j,
            NaN for the cells not evaluated. A leading axis holds several models (or tasks),
            fitted independently and in parallel.
        progress : bool or callable, default False
            ``True`` shows a bar; a callable gets ``(models_done, n_models)``.

        Returns
        -------
        self
        """
        if self.method not in ("map", "mml"):
            raise InvalidArgumentError(f"method: got {self.method!r}; use 'map' or 'mml'")
        prior_sd = check_scalar(self.prior_sd, "prior_sd", low=1e-6, high=1e6)
        max_iter = check_scalar(self.max_iter, "max_iter", kind=int, low=1, high=100_000)
        tol = check_scalar(self.tol, "tol", low=0.0, low_inclusive=False)
        single = ndim_of(Y, "Y") == 2
        y, counts = _check_responses(Y)
        n_models, nf, nj = y.shape
        x, z = self._design(nf, nj)
        if x is None:
            never = counts == 0
            if never.any():
                m, f = (int(v) for v in np.argwhere(never)[0])
                raise InvalidArgumentError(
                    f"Y: template {f} has no evaluated cell (model {m}); without "
                    "format_covariates its accuracy cannot be estimated. Evaluate it on a few "
                    "examples, pass format_covariates (then it is predicted from them), or drop it"
                )
        onehot = z is None
        if self.method == "mml":
            from ._prompts_mml import fit_mml

            out = fit_mml(y, x, z, prior_sd, max_iter, tol)
        else:
            with progress_callback(progress, "PromptEval", unit="model") as callback:
                out = _core.prompts_fit(
                    y=y,
                    x=x,
                    z=z,
                    onehot=onehot,
                    prior_sd=prior_sd,
                    max_iter=max_iter,
                    tol=tol,
                    with_se=False,
                    progress=callback,
                )
        coef, beta, acc, se, _objective, n_iter, converged = out
        p = nf if x is None else x.shape[1]
        gamma = coef[:, :p]
        theta = gamma if x is None else gamma @ x.T
        ex = np.zeros((n_models, nj)) if onehot else coef[:, p:] @ z.T
        if onehot:
            ex = ex + beta
        self._y = y
        self._x, self._z, self._onehot = x, z, onehot
        self._coef, self._beta = coef, beta
        self._prior_sd_checked = prior_sd
        self._single = single
        pick = (lambda a: a[0]) if single else (lambda a: a)
        self.format_accuracy_ = pick(acc)
        # The standard errors cost F linear solves: computed on first use (the same numbers).
        self._se = pick(se) if self.method == "mml" else None
        self.format_effects_ = pick(theta)
        self.example_effects_ = pick(ex)
        self.coef_ = pick(coef)
        self.n_evaluated_ = pick(counts.sum(axis=1))
        self.n_iter_ = pick(n_iter.astype(np.int64))
        self.converged_ = pick(converged.astype(bool))
        self.n_formats_, self.n_examples_, self.n_models_ = nf, nj, n_models
        return self

    @property
    def format_accuracy_se_(self) -> np.ndarray:
        """Standard error of each template's accuracy (see the class docstring)."""
        self._check_fitted()
        if self._se is None:
            se = _core.prompts_accuracy_se(
                y=self._y,
                x=self._x,
                z=self._z,
                onehot=self._onehot,
                prior_sd=self._prior_sd_checked,
                dense=self._coef,
                beta=self._beta,
            )
            self._se = se[0] if self._single else se
        return self._se

    # -- summaries ----------------------------------------------------------------------------

    def _accuracy_3d(self) -> np.ndarray:
        acc = np.asarray(self.format_accuracy_)
        return acc[None] if self._single else acc

    def distribution(self) -> np.ndarray:
        """The estimated distribution of the accuracy over templates: the sorted Ŝ_f (each
        template has mass 1/F), shape (F,) or (n_models, F)."""
        self._check_fitted()
        return np.sort(self.format_accuracy_, axis=-1)

    def w1_to(self, true: Any) -> Any:
        """Wasserstein-1 distance between the estimated and a reference distribution of
        template accuracies: ``mean_f |sort(Ŝ)_f − sort(S)_f|`` (both over the same F templates).

        Parameters
        ----------
        true : array_like, shape (F,) or (n_models, F)
            The reference accuracies (e.g. from a full evaluation).

        Returns
        -------
        float, or ndarray of shape (n_models,)
        """
        self._check_fitted()
        t = as_float_array(true, "true", ndim=(1, 2))
        est = self._accuracy_3d()
        t2 = t[None] if t.ndim == 1 else t
        if t2.shape[-1] != self.n_formats_ or t2.shape[0] not in (1, est.shape[0]):
            raise ShapeError(
                f"true: has shape {t.shape}; pass one accuracy per template "
                f"({self.n_formats_},) or ({est.shape[0]}, {self.n_formats_})"
            )
        w = np.abs(np.sort(est, axis=-1) - np.sort(t2, axis=-1)).mean(axis=-1)
        return float(w[0]) if self._single else w

    def _bootstrap(self, n_resamples: int, progress: Any, parametric: bool) -> np.ndarray:
        """(n_models, n_resamples, F) template accuracies over example resamples; with
        ``parametric`` (n_models, n_resamples, 2F): refitted, then realised accuracies."""
        seed = seed_from_rng(self.random_state, "random_state")
        check_memory(
            8.0 * self.n_models_ * n_resamples * self.n_formats_,
            "n_resamples",
            "pass fewer resamples",
        )
        if self.method == "mml":
            from ._prompts_mml import bootstrap_mml

            return bootstrap_mml(self, n_resamples, seed, parametric)
        with progress_callback(progress, "PromptEval bootstrap", unit="chunk") as callback:
            return _core.prompts_bootstrap(
                y=self._y,
                x=self._x,
                z=self._z,
                onehot=self._onehot,
                prior_sd=self._prior_sd_checked,
                dense=self._coef,
                beta=self._beta,
                n_resamples=n_resamples,
                seed=seed,
                parametric=parametric,
                max_iter=_BOOT_MAX_ITER,
                tol=_BOOT_TOL,
                progress=callback,
            )

    def _truth_draws(self, n_resamples: int, progress: Any) -> tuple[np.ndarray, np.ndarray]:
        """Parametric bootstrap: (refitted, realised) accuracies, each (n_models, R, F)."""
        boot = self._bootstrap(n_resamples, progress, parametric=True)
        nf = self.n_formats_
        return boot[..., :nf], boot[..., nf:]

    def quantiles(
        self,
        q: Any = _DEFAULT_Q,
        confidence_level: float = 0.95,
        n_resamples: int = 1000,
        interval: Interval = "parametric",
        progress: Any = False,
    ) -> PromptQuantiles:
        """Quantiles of the accuracy over templates with bootstrap confidence intervals.

        Parameters
        ----------
        q : float or sequence of float, default (5, 25, 50, 75, 95)
            Percent levels in [0, 100] (``numpy.percentile``'s linear interpolation over the F
            estimated accuracies, as the reference).
        confidence_level : float, default 0.95
        n_resamples : int, default 1000
            Bootstrap replicates over examples (each refits the model from the full-data fit);
            0 for no interval.
        interval : {"parametric", "percentile"}, default "parametric"
            ``"parametric"``: each replicate redraws the examples with replacement (keeping
            their evaluated pattern) and *every* cell from the fitted model, refits, and
            records the error of the estimated quantile against the replicate's realised one;
            the interval is the estimate minus the percentiles of that error (a basic, pivotal
            interval). It accounts for the shrinkage of the prior and for the Bernoulli noise
            of the cells not evaluated, which the plain bootstrap misses.
            ``"percentile"``: the nonparametric bootstrap over examples (observed scores kept),
            percentile interval; it reflects the estimator's variability only and covers
            poorly when the estimate is biased (few cells per template, no covariates).
        progress : bool or callable

        Returns
        -------
        PromptQuantiles
        """
        self._check_fitted()
        qs = _check_q(q)
        level = check_open_unit(confidence_level, "confidence_level")
        n = _check_resamples(n_resamples, level)
        acc = self._accuracy_3d()
        stat = np.percentile(acc, qs, axis=-1).T  # (n_models, nq)
        if interval not in ("parametric", "percentile"):
            raise InvalidArgumentError(
                f"interval: got {interval!r}; use 'parametric' or 'percentile'"
            )
        ci = None
        if n > 0:
            alpha = (1 - level) / 2
            if interval == "parametric":
                est, real = self._truth_draws(n, progress)
                err = np.percentile(est, qs, axis=-1) - np.percentile(real, qs, axis=-1)
                low = np.clip(stat - np.percentile(err, 100 * (1 - alpha), axis=-1).T, 0, 1)
                high = np.clip(stat - np.percentile(err, 100 * alpha, axis=-1).T, 0, 1)
            else:
                boot = self._bootstrap(n, progress, parametric=False)
                bq = np.percentile(boot, qs, axis=-1)  # (nq, n_models, R)
                low = np.percentile(bq, 100 * alpha, axis=-1).T
                high = np.percentile(bq, 100 * (1 - alpha), axis=-1).T
            ci = ConfidenceInterval(
                low[0] if self._single else low, high[0] if self._single else high
            )
        return PromptQuantiles(
            statistic=stat[0] if self._single else stat,
            confidence_interval=ci,
            q=qs,
            confidence_level=level,
            n_resamples=n,
            format_accuracy=np.asarray(self.format_accuracy_),
        )

    def plot(
        self,
        n_resamples: int = 500,
        confidence_level: float = 0.95,
        model_names: Any = None,
        true: Any = None,
    ) -> Any:
        """The estimated distribution of the accuracy over templates (its quantile function,
        as a CDF) with the pointwise parametric-bootstrap band of :meth:`quantiles`, one panel
        per model; ``true`` (F or n_models × F accuracies) overlays a reference distribution.

        Returns a ``matplotlib.figure.Figure`` (no pyplot state; needs the ``[report]``
        extra). Save it with ``fig.savefig(path)``.
        """
        self._check_fitted()
        return _plot(self, n_resamples, confidence_level, model_names, true)

    def best_format(self, n_resamples: int = 1000, progress: Any = False) -> BestFormat:
        """The template with the highest estimated accuracy and the probability that each
        template is the best.

        The probability comes from the parametric bootstrap of :meth:`quantiles`: each
        replicate gives a draw of the true accuracies as Ŝ − (Ŝ* − S*) (the estimate minus the
        replicate's estimation error), and ``prob_best[f]`` is the share of draws in which
        template f is the highest.

        Parameters
        ----------
        n_resamples : int, default 1000
        progress : bool or callable

        Returns
        -------
        BestFormat
        """
        self._check_fitted()
        n = check_scalar(n_resamples, "n_resamples", kind=int, low=1, high=_MAX_RESAMPLES)
        acc = self._accuracy_3d()
        best = acc.argmax(axis=-1)
        est, real = self._truth_draws(n, progress)
        winners = (acc[:, None, :] - (est - real)).argmax(axis=-1)  # (n_models, R)
        prob = np.stack([np.bincount(w, minlength=self.n_formats_) / n for w in winners])
        if self._single:
            return BestFormat(int(best[0]), float(acc[0, best[0]]), prob[0], n)
        return BestFormat(best, acc[np.arange(acc.shape[0]), best], prob, n)


def _plot(
    pe: PromptEval,
    n_resamples: int,
    confidence_level: float,
    model_names: Any,
    true: Any,
) -> Any:
    levels = np.linspace(0.0, 100.0, 41)
    res = pe.quantiles(levels, confidence_level=confidence_level, n_resamples=n_resamples)
    stat = np.atleast_2d(res.statistic)
    n_models = stat.shape[0]
    names = [f"model {m}" for m in range(n_models)] if model_names is None else list(model_names)
    if len(names) != n_models:
        raise ShapeError(f"model_names: has {len(names)} names for {n_models} models")
    truth = None
    if true is not None:
        truth = np.atleast_2d(as_float_array(true, "true", ndim=(1, 2)))
        if truth.shape != (n_models, pe.n_formats_):
            raise ShapeError(
                f"true: has shape {np.shape(true)}; pass one accuracy per template and model"
            )
    ci = res.confidence_interval
    lows = None if ci is None else np.atleast_2d(ci.low)
    highs = None if ci is None else np.atleast_2d(ci.high)
    return quantile_panels(names, levels, stat, lows, highs, confidence_level, truth)


def quantile_panels(
    names: Any,
    levels: np.ndarray,
    quantiles: np.ndarray,
    lows: np.ndarray | None,
    highs: np.ndarray | None,
    confidence_level: float,
    truth: np.ndarray | None = None,
) -> Any:
    """One panel per model (up to four per row): the quantile function of the accuracy over
    templates drawn as a CDF, with the pointwise band of the quantiles and, when given, the
    true accuracies (``truth``: n_models × templates). ``quantiles``, ``lows``, ``highs`` are
    n_models × len(levels), ``levels`` in percent. Shared by :meth:`PromptEval.plot` and the
    report's section."""
    from ._optional import require

    figure = require("matplotlib.figure", "PromptEval.plot")
    n = len(names)
    n_cols = min(n, 4)
    n_rows = -(-n // n_cols)
    fig = figure.Figure(figsize=(3.2 * n_cols + 0.6, 2.8 * n_rows + 0.4))
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    share = levels / 100
    for m, ax in enumerate(axes):
        if m >= n:
            ax.set_visible(False)
            continue
        if lows is not None and highs is not None:
            ax.fill_betweenx(
                share, lows[m], highs[m], color=_BLUE, alpha=0.2, lw=0,
                label=f"{confidence_level:.0%} band",
            )  # fmt: skip
        ax.plot(quantiles[m], share, color=_BLUE, lw=2, label="estimated")
        if truth is not None:
            k = truth.shape[1]
            ax.plot(np.sort(truth[m]), (np.arange(k) + 0.5) / k, "o", ms=3, color="#8a96a3",
                    label="true")  # fmt: skip
        ax.set_title(str(names[m]), fontsize=10)
        ax.set_xlabel("accuracy", fontsize=9)
        if m % n_cols == 0:
            ax.set_ylabel("share of templates below", fontsize=9)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    axes[0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


_BLUE = "#1f5f99"  # the report's accent colour


def prompt_quantiles(
    Y: Any,
    q: Any = _DEFAULT_Q,
    *,
    format_covariates: Any = None,
    example_covariates: Any = None,
    prior_sd: float = 1.0,
    method: Method = "map",
    confidence_level: float = 0.95,
    n_resamples: int = 1000,
    interval: Interval = "parametric",
    rng: Any = None,
    progress: Any = False,
) -> PromptQuantiles:
    """Quantiles of a model's accuracy over prompt templates from a partly evaluated matrix.

    One call for ``PromptEval(...).fit(Y).quantiles(q, ...)``; see :class:`PromptEval`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Y = (rng.random((10, 200)) < 0.7).astype(float)
    >>> Y[balanced_design(10, 200, budget=1000, rng=0) == False] = np.nan  # noqa: E712
    >>> res = prompt_quantiles(Y, q=[50], n_resamples=200, rng=0)
    >>> bool(abs(res.statistic[0] - 0.7) < 0.05)
    True
    """
    pe = PromptEval(
        format_covariates=format_covariates,
        example_covariates=example_covariates,
        prior_sd=prior_sd,
        method=method,
        random_state=rng,
    )
    return pe.fit(Y, progress=progress).quantiles(
        q,
        confidence_level=confidence_level,
        n_resamples=n_resamples,
        interval=interval,
        progress=progress,
    )


def _next_cells(seen: np.ndarray, weights: np.ndarray, n: int, gen: np.random.Generator):
    """``n`` new cells: templates drawn in proportion to ``weights`` (each at most once per
    call while others remain), each given its least-evaluated unseen example."""
    nf, nj = seen.shape
    open_rows = ~seen.all(axis=1)
    w = np.where(open_rows, np.maximum(weights, 0.0), 0.0)
    if w.sum() <= 0:
        w = open_rows.astype(float)
    counts = seen.sum(axis=0)
    cells = []
    taken = seen.copy()
    for _ in range(min(n, int((~seen).sum()))):
        avail = ~taken.all(axis=1)
        wf = np.where(avail, w, 0.0)
        if wf.sum() <= 0:
            wf = avail.astype(float)
        f = int(gen.choice(nf, p=wf / wf.sum()))
        w[f] *= 0.5  # spread a batch over several templates
        free = np.flatnonzero(~taken[f])
        order = np.lexsort((gen.random(free.size), counts[free]))
        j = int(free[order[0]])
        taken[f, j] = True
        counts[j] += 1
        cells.append((f, j))
    return np.array(cells, dtype=np.int64).reshape(-1, 2)


def adaptive_evaluate(
    evaluate: Any,
    n_formats: int,
    n_examples: int,
    *,
    target: Literal["quantiles", "best"] = "quantiles",
    precision: float = 0.02,
    q: Any = _DEFAULT_Q,
    confidence_level: float = 0.95,
    initial_budget: int | None = None,
    batch_size: int | None = None,
    max_budget: int | None = None,
    format_covariates: Any = None,
    prior_sd: float = 1.0,
    n_resamples: int = 200,
    rng: Any = None,
) -> AdaptiveResult:
    """Evaluate cells in rounds, choosing each round's cells to sharpen the target, until the
    requested precision is reached or the budget is spent.

    Round 0 evaluates a balanced design of ``initial_budget`` cells. After each round the
    model is refitted and the precision checked: for ``target="quantiles"`` the largest
    half-width of the ``confidence_level`` intervals of the quantiles ``q`` (parametric
    bootstrap) must be at most ``precision``; for ``target="best"`` the leading template's
    probability of being the best must be at least ``1 − precision``. Otherwise the next
    ``batch_size`` cells go to templates drawn in proportion to their uncertainty: the
    standard error of their accuracy, weighted by how close the accuracy is to a target
    quantile (``"quantiles"``), or their probability of being the best (``"best"``, a
    Thompson-style allocation); each chosen template gets its least-evaluated unseen example.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(cells) -> scores``: ``cells`` is an (n, 2) int array of (template,
        example) pairs; it returns n scores in [0, 1] (runs the model on them).
    n_formats, n_examples : int
    target : {"quantiles", "best"}
    precision : float, default 0.02
    q, confidence_level : as in :meth:`PromptEval.quantiles`.
    initial_budget : int, optional
        Default: one cell per template and at least half a pass (max(F, J // 2)).
    batch_size : int, optional
        Cells per later round. Default: max(F, J // 10).
    max_budget : int, optional
        Stop after this many cells. Default: 4 pass-equivalents (4 J, at most F·J).
    format_covariates, prior_sd : as in :class:`PromptEval`.
    n_resamples : int, default 200
        Bootstrap replicates per round.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    AdaptiveResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> P = 1 / (1 + np.exp(-(rng.normal(0, .5, (20, 1)) + rng.normal(0, 1.5, (1, 400)))))
    >>> truth = (rng.random(P.shape) < P).astype(float)
    >>> res = adaptive_evaluate(lambda c: truth[c[:, 0], c[:, 1]], 20, 400, precision=0.1, rng=0)
    >>> res.stopped, bool(np.isfinite(res.Y).sum() <= 4 * 400)
    ('precision', True)
    """
    if not callable(evaluate):
        raise InvalidArgumentError("evaluate: expected a callable evaluate(cells) -> scores")
    if target not in ("quantiles", "best"):
        raise InvalidArgumentError(f"target: got {target!r}; use 'quantiles' or 'best'")
    nf = check_scalar(n_formats, "n_formats", kind=int, low=1)
    nj = check_scalar(n_examples, "n_examples", kind=int, low=1)
    # the score matrix (float64) and the design's boolean copies of it
    check_memory(10.0 * nf * nj, "n_examples", "pass fewer templates or examples")
    total = nf * nj
    prec = check_scalar(precision, "precision", low=0.0, low_inclusive=False)
    level = check_open_unit(confidence_level, "confidence_level")
    qs = _check_q(q)
    max_b = min(4 * nj, total) if max_budget is None else max_budget
    max_b = check_scalar(max_b, "max_budget", kind=int, low=1, high=total)
    init = max(nf, nj // 2) if initial_budget is None else initial_budget
    init = check_scalar(init, "initial_budget", kind=int, low=1, high=total)
    init = min(init, max_b)
    step = max(nf, nj // 10) if batch_size is None else batch_size
    step = check_scalar(step, "batch_size", kind=int, low=1)
    n_boot = _check_resamples(n_resamples, level)
    if n_boot == 0:
        raise InvalidArgumentError("n_resamples: must be positive for the adaptive mode")
    seed = seed_from_rng(rng)
    gen = np.random.default_rng(seed)
    Y = np.full((nf, nj), np.nan)

    def run(cells: np.ndarray) -> None:
        scores = as_float_array(evaluate(cells.copy()), "evaluate(cells)", ndim=1)
        if scores.shape[0] != cells.shape[0]:
            raise ShapeError(
                f"evaluate(cells): returned {scores.shape[0]} scores for {cells.shape[0]} cells"
            )
        Y[cells[:, 0], cells[:, 1]] = scores

    first = np.argwhere(balanced_design(nf, nj, init, rng=gen))
    run(first)
    history: list = []
    round_no = 0
    while True:
        round_no += 1
        pe = PromptEval(
            format_covariates=format_covariates, prior_sd=prior_sd, random_state=seed + round_no
        )
        if format_covariates is None and np.isnan(Y).all(axis=1).any():
            # A template not yet evaluated: give it a cell before fitting.
            rows = np.flatnonzero(np.isnan(Y).all(axis=1))
            run(np.array([(f, int(gen.integers(nj))) for f in rows], dtype=np.int64))
        pe.fit(Y)
        n_seen = int((~np.isnan(Y)).sum())
        quant = best = None
        if target == "quantiles":
            quant = pe.quantiles(qs, confidence_level=level, n_resamples=n_boot)
            lo, hi = cast(ConfidenceInterval, quant.confidence_interval)
            reached = float(np.max(hi - lo) / 2)
            done = reached <= prec
        else:
            best = pe.best_format(n_resamples=n_boot)
            reached = float(1 - best.prob_best[best.best])
            done = reached <= prec
        prob_best = None if best is None else best.prob_best
        history.append({"n_evaluated": n_seen, "precision": reached})
        if done or n_seen >= max_b:
            return AdaptiveResult(
                Y=Y,
                estimator=pe,
                quantiles=quant,
                best=best,
                history=history,
                stopped="precision" if done else "budget",
            )
        acc, se = pe.format_accuracy_, pe.format_accuracy_se_
        if target == "quantiles":
            levels = np.percentile(acc, qs)
            near = np.exp(-0.5 * (np.min(np.abs(acc[:, None] - levels[None]), axis=1) / se) ** 2)
            weights = se * (0.1 + near)
        else:
            weights = np.asarray(prob_best) + 1e-3
        run(_next_cells(~np.isnan(Y), weights, min(step, max_b - n_seen), gen))
