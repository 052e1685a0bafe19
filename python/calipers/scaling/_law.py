"""SkillScalingLaw: benchmark scores of many LLM families through a few latent skills.

Model (Sloth, Maia Polo et al. 2025; shared by the latent-variable framework of Cai et al.
2025): for model i of family f(i) with translog features x_i (log tokens, log size, their
product), skills θ_i = Wᵀx_i + α_f(i) ∈ R^d, benchmark index η_ij = λ_jᵀθ_i + b_j and mean
score ŷ_ij = c_j + (1 − c_j)·g_j(η_ij), with c_j the guessing floor and g_j the logistic
function or a learned non-decreasing link.

Fixed family effects (``family_effect="fixed"``, Sloth) with ``loss="huber"`` (the default)
are fitted by minimising the mean Huber (smooth-L1, δ = 0.01) loss over the observed cells
with L-BFGS on the analytic gradient, from ``n_starts`` seeded random starts, with a Huber
continuation (δ = 0.1 → 0.03 → δ), in the Rust core (parallel over starts, the same bits for
any thread count). The learned link is a per-benchmark monotone network
g_j(u) = σ(a_j + Σ_k w_jk tanh(v_jk u + c_jk)) with w, v ≥ 0, fitted jointly with every
other parameter by bound-constrained L-BFGS-B, warm-started at the logistic fit, with learned
floors (as in the paper's "Sloth" model). With ``loss="beta"`` the fixed effects are fitted
by maximum likelihood (``_fixed_beta``); ``family_effect="random"`` integrates Gaussian
family effects out (``_random``). Standard errors of the slopes (``coef_se_``) exist in the
anchored view: likelihood ones for the Beta fits, M-estimator ones (``_huber_se``: clustered
sandwich, Huber's model-based H1, scaled OPG) for the logistic Huber fit.

Only predictions are identified: (W, α, Λ, b) → (W M, (α − μ) M, M⁻¹Λ, b + μΛ) leaves them
unchanged for any invertible M and vector μ. The fit is stored raw; the reported skills,
slopes and loadings follow ``identification``: "rotate" whitens the training skills (mean 0,
covariance I) and rotates the loadings by oblique geomin; "anchors" makes anchor benchmark k
load on skill k only, with loading 1 and bias 0. :meth:`SkillScalingLaw.rotate` gives any
other rotation as a separate view.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, logit

from .. import _core
from .._estimator import Estimator
from .._progress import progress_callback
from .._results import Result
from .._validation import as_float_array, as_labels, check_scalar, seed_from_rng
from ..exceptions import ConvergenceWarning, InvalidArgumentError, ShapeError
from . import _objective as obj
from ._fixed_beta import fit_fixed_beta
from ._huber_se import huber_covariances
from ._protocol import GUESSING_FLOORS
from ._random import (
    RandomEffectsFit,
    add_families_random_effects,
    fit_random_effects,
    predict_interval_random_effects,
    predict_random_effects,
)
from ._rotation import ROTATIONS, rotation_matrix

_MAX_STARTS = 10_000
# Translog features are logs (|log s · log t| stays near 1e3 for any real model); the
# fixed-effect fit starts its slopes at order 1, so features far larger only fit the intercepts
# (or make the rotation singular): they are refused, not fitted badly.
_MAX_FEATURE = 1e4
_COARSE_ITER = 100  # L-BFGS iterations of each coarse continuation stage
_SE_KINDS = ("hessian", "opg", "sandwich")
_LIKELIHOOD_ATTRIBUTES = (
    "random_effects_", "fixed_beta_", "coef_se_", "loglik_", "aic_", "precision_",
    "_huber_covariances",
)  # fmt: skip
_BETA_CLIP = 1e-3  # scores are clipped to [this, 1 − this] for the Beta likelihood
_LINK_EPS = 1e-5  # floors are learned on the logit scale from logit(c ± eps), as the paper


@dataclasses.dataclass(frozen=True, repr=False)
class SkillSolution(Result):
    """One identified view of a fitted skill scaling law (see ``SkillScalingLaw.rotate``).

    Attributes
    ----------
    method : str or None
        The rotation ("geomin_obl", "varimax"), "anchors", or None (whitened only).
    skills : ndarray, shape (n_train, d)
        Skills of the training models.
    slopes : ndarray, shape (p, d)
        Coefficients of the features (log t, log s, log s·log t) on each skill.
    family_effects : ndarray, shape (n_families, d)
    loadings : ndarray, shape (J, d)
        Loadings of each benchmark on each skill.
    bias : ndarray, shape (J,)
    skill_correlation : ndarray, shape (d, d)
        Correlation of the training skills.
    center, transform : ndarray
        Skills in this view are (raw skills − center) @ transform.
    """

    method: str | None
    skills: np.ndarray
    slopes: np.ndarray
    family_effects: np.ndarray
    loadings: np.ndarray
    bias: np.ndarray
    skill_correlation: np.ndarray
    center: np.ndarray
    transform: np.ndarray


@dataclasses.dataclass(frozen=True, repr=False)
class ComputeOptimal(Result):
    """Best size and tokens for a compute budget (``SkillScalingLaw.compute_optimal``).

    Attributes
    ----------
    targets : tuple of str
        What was maximised: "skill k" or a benchmark name.
    size, tokens : ndarray, shape (n_targets,)
        The maximising size and tokens (in the units of the training features), with
        6 · size · tokens = budget.
    value : ndarray, shape (n_targets,)
        The skill (family effect excluded) or the benchmark index η (family effect excluded) at
        the optimum.
    interior : ndarray of bool
        False where the optimum sits at an end of the allowed range (the law is not concave
        along the budget line there, or the range binds).
    """

    targets: tuple[str, ...]
    budget: float
    size: np.ndarray
    tokens: np.ndarray
    value: np.ndarray
    interior: np.ndarray


@dataclasses.dataclass(frozen=True, repr=False)
class SkillScalingSummary(Result):
    """Parameter table of a fitted law (``SkillScalingLaw.summary``); ``str()`` prints it."""

    n_models: int
    n_families: int
    benchmarks: tuple[str, ...]
    n_skills: int
    link: str
    identification: str
    loss: float
    slopes: np.ndarray
    loadings: np.ndarray
    bias: np.ndarray
    floor: np.ndarray
    converged_starts: int
    n_starts: int
    converged: bool = True
    starts_near_best: int = 1
    family_effect: str = "fixed"
    slope_se: np.ndarray | None = None
    loglik: float | None = None
    aic: float | None = None

    def __str__(self) -> str:
        d = self.n_skills
        if self.family_effect == "fixed" and self.loglik is not None:
            fit_line = (
                f"identification: {self.identification}; fixed family effects, Beta likelihood: "
                f"log-likelihood {self.loglik:.3f}, AIC {self.aic:.3f}"
            )
        elif self.family_effect == "random":
            fit_line = (
                f"identification: anchors; random family effects, Beta likelihood: log-likelihood "
                f"{self.loglik:.3f}, AIC {self.aic:.3f}"
            )
        else:
            stop = (
                "met the stopping rule"
                if self.converged
                else "stopped at max_iter, its loss still creeping down"
            )
            fit_line = (
                f"identification: {self.identification}; training Huber loss {self.loss:.6g} "
                f"({self.starts_near_best}/{self.n_starts} starts ended within 1e-6 of the best "
                f"start's loss; that start {stop})"
            )
        huber = self.family_effect == "fixed" and self.loglik is None
        se_label = "model-based (Huber H1)" if huber else "Hessian"
        lines = [
            f"SkillScalingLaw: {self.n_models} models, {self.n_families} families, "
            f"{len(self.benchmarks)} benchmarks, {d} skills, {self.link} link",
            fit_line,
            "",
            "slopes (feature x skill)"
            + (f", {se_label} standard errors in ()" if self.slope_se is not None else ""),
        ]
        head = "".join(f"{'skill ' + str(k):>12}" for k in range(d))
        lines.append(f"{'':>16}{head}")
        for q, (name, row) in enumerate(
            zip(("log tokens", "log size", "log s x log t"), self.slopes, strict=False)
        ):
            lines.append(f"{name:>16}" + "".join(f"{v:12.4f}" for v in row))
            if self.slope_se is not None:
                lines.append(f"{'':>16}" + "".join(f"{f'({v:.4f})':>12}" for v in self.slope_se[q]))
        lines += ["", "loadings (benchmark x skill), bias, floor"]
        lines.append(f"{'':>16}{head}{'bias':>10}{'floor':>10}")
        for name, row, b, c in zip(
            self.benchmarks, self.loadings, self.bias, self.floor, strict=False
        ):
            lines.append(
                f"{name[:16]:>16}" + "".join(f"{v:12.4f}" for v in row) + f"{b:10.4f}{c:10.4f}"
            )
        if self.slope_se is None and huber:
            lines += [
                "",
                "standard errors: the Huber fit has them in the anchored view only "
                "(identification='anchors', logistic link); see coef_se_",
            ]
        return "\n".join(lines)


def _labels(families: Any, n: int, name: str = "families") -> np.ndarray:
    return as_labels(families, name, n, what="model")


def _scores(scores: Any, name: str = "scores") -> tuple[np.ndarray, tuple[str, ...] | None]:
    columns = None
    if hasattr(scores, "columns") and hasattr(scores, "to_numpy"):
        columns = tuple(str(c) for c in scores.columns)
        scores = scores.to_numpy(dtype=np.float64, na_value=np.nan)
    Y = as_float_array(scores, name, ndim=2, finite=False)
    if np.isinf(Y).any():
        raise InvalidArgumentError(f"{name}: has infinite values; use NaN for a missing score")
    obs = Y[np.isfinite(Y)]
    if obs.size and (obs.min() < 0.0 or obs.max() > 1.0):
        raise InvalidArgumentError(
            f"{name}: scores must lie in [0, 1] (got {obs.min():.4g} to {obs.max():.4g}); "
            "divide percentages by 100"
        )
    return Y, columns


class SkillScalingLaw(Estimator):
    """Skill scaling law across LLM families (Sloth; latent-variable framework).

    Parameters
    ----------
    n_skills : int
        Number of latent skills d (≤ the number of benchmarks).
    family_effect : {"fixed", "random"}
        "fixed": Sloth's family intercepts, Huber loss. "random": Gaussian family effects
        integrated out (the latent-variable framework; ``calipers.scaling._random``).
    loss : {None, "huber", "beta"}
        "huber" (smooth-L1 with threshold ``delta``; fixed effects only) or "beta" (the Beta
        likelihood with a precision per benchmark). None: "huber" for fixed effects, "beta"
        for random ones. Fixed effects with "beta" are fitted by maximum likelihood with the
        anchors' loadings 1 and biases 0 (the first ``n_skills`` benchmarks unless
        ``anchors``), which gives likelihood standard errors, an AIC and ``precision_``.
    link : {"logistic", "monotone"}
        The logistic function ("Sloth basic") or a learned non-decreasing link per benchmark
        ("Sloth"; warm-started at the logistic fit; floors learned unless ``fit_floor=False``).
    floor : None, float, array_like, dict or "learn"
        Guessing floors c_j: None (0), one value, one per benchmark, a dict by benchmark name
        (e.g. :data:`GUESSING_FLOORS`; needs names from ``benchmarks=`` or DataFrame columns),
        or "learn" (learned, starting at 0.1).
    fit_floor : bool or None
        Learn the floors starting from ``floor``. None: False for the logistic link, True for
        the monotone one (as in the paper).
    identification : {"rotate", "anchors"}
        How the reported skills, slopes and loadings are pinned down (predictions do not
        depend on it): "rotate" whitens the training skills and applies oblique geomin;
        "anchors" sets the loadings of ``anchors`` (one benchmark per skill) to the identity and
        their biases to 0. Random family effects are always identified by anchors (the
        likelihood needs them): anchor k loads on skill k only, with a loading ≥ 0, and the
        family effects have unit variances.
    anchors : list of str or int, optional
        Anchor benchmarks (names or column indices), required with "anchors"; with random
        effects the default is the first ``n_skills`` benchmarks.
    delta : float
        Huber threshold (0.01 in the paper; scores are in [0, 1]).
    n_starts : int
        Seeded random starts of the logistic fit; the lowest loss wins. With random effects:
        the starts of :func:`fit_random_effects` (``n_restarts``), compared on the 2^K-node
        rule (each costs about a second at K = 4 on 286 models).
    n_nodes : int, optional
        Random effects only: Gauss–Hermite nodes per dimension (default 7, 5, 4, 3 for
        K = 1, 2, 3, ≥ 4).
    max_iter : int
        L-BFGS iterations at the target δ (the coarser continuation stages get 100 each).
        A start stops earlier when one step lowers the loss by at most 1e-13 (absolute, the
        loss being ≤ 1); near the optimum L-BFGS creeps along the Huber kinks, so the default
        usually stops at the cap (on the Leaderboard v2 table with 10 starts: the best loss
        within 1.1e-9, relative, of where 40,000 iterations take it). ``summary()`` says which
        rule stopped the best start and how many starts ended near it.
    n_knots : int
        Units of each learned monotone link.
    random_state : None, int or numpy.random.Generator
        Seed of the starts.

    Attributes
    ----------
    families_ : ndarray
        Family labels known to the model (sorted; extended by ``partial_fit_family``).
    benchmarks_ : tuple of str
    skills_ : ndarray, shape (n_train, d)
        Identified skills of the training models.
    slopes_, coef_ : ndarray, shape (3, d)
        Identified feature coefficients W (``coef_`` is the same array).
    family_effects_ : ndarray, shape (n_families, d)
    loadings_ : ndarray, shape (J, d)
    bias_ : ndarray, shape (J,)
    floor_ : ndarray, shape (J,)
    loss_ : float
        Training Huber loss at the optimum.
    start_losses_ : ndarray, shape (n_starts,)
        Final loss of every start of the logistic fit.
    coef_se_ : dict of str to ndarray, shape (3, d), or None
        Standard errors of ``coef_`` in the anchored view, by kind. Beta likelihood: the
        observed information ("hessian"), the outer product of per-family scores ("opg") and
        the sandwich. Huber fit (an M-estimator; logistic link; formulas in
        ``calipers.scaling._huber_se``), with r the residuals of the n observed scores,
        ψ = clip(r/δ, −1, 1), ψ' = 1{abs(r) < δ}/δ, J_c = ∂μ_c/∂θ over the p identified
        parameters θ, G families and s_f = Σ_{c ∈ f} ψ(r_c) J_c: "sandwich" =
        G/(G − 1) · A⁻¹ (Σ_f s_f s_fᵀ) A⁻¹ with A the Hessian of the total loss Σ_c ρ(r_c)
        (clustered by family); "hessian" = K² s² (Σ_c J_c J_cᵀ)⁻¹, the nonlinear analogue of
        statsmodels RLM's "H1", s² = [Σψ²/(n − p)] / [Σψ'/n]², K = 1 + (p/n) var(ψ')/mean(ψ')²;
        "opg" = (Σψ² / Σψ')² · (Σ_f s_f s_fᵀ)⁻¹ over the parameters other than the family
        intercepts (whose summed scores vanish at the fit). The clustered kinds need many more
        families than shared parameters (3d + (J − d)(d + 1), plus J learned floors): "opg" is
        NaN unless there are more, and biased upwards when there are barely more (the
        inverse of a near-singular outer product). None for a rotated
        view (``identification="rotate"``: the rotation is estimated from the skills and is
        not part of these formulas) and for the learned monotone link (it absorbs affine
        changes of each benchmark's index, so the anchored slopes are not identified).
    loglik_, aic_ : float
        Beta likelihood only: (marginal) log-likelihood and AIC (``loss_`` is −loglik_ for
        random effects, −loglik_ per observed score for fixed ones).
    precision_ : ndarray, shape (J,)
        Fixed effects with the Beta likelihood: the precision φ_j of each benchmark.
    fixed_beta_ : FixedBetaFit
        Fixed effects with the Beta likelihood: the fit in its anchored parametrisation.
    random_effects_ : RandomEffectsFit
        Random effects only: the full fit (precisions, family-effect correlation, covariance
        matrices of every parameter); the standalone functions of this module accept it.

    Notes
    -----
    Memory: O(n·J + n_starts·n_params) floats; the fits of all starts run in parallel.
    """

    _fitted_attribute = "theta_"

    def __init__(
        self,
        n_skills: int = 2,
        *,
        family_effect: str = "fixed",
        loss: str | None = None,
        link: str = "logistic",
        floor: Any = None,
        fit_floor: bool | None = None,
        identification: str = "rotate",
        anchors: Any = None,
        delta: float = 0.01,
        n_starts: int = 10,
        max_iter: int = 2500,
        n_knots: int = 10,
        n_nodes: int | None = None,
        random_state: Any = None,
    ):
        self.n_skills = n_skills
        self.family_effect = family_effect
        self.loss = loss
        self.link = link
        self.floor = floor
        self.fit_floor = fit_floor
        self.identification = identification
        self.anchors = anchors
        self.delta = delta
        self.n_starts = n_starts
        self.max_iter = max_iter
        self.n_knots = n_knots
        self.n_nodes = n_nodes
        self.random_state = random_state

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> None:
        check_scalar(self.n_skills, "n_skills", kind=int, low=1, high=1000)
        if self.family_effect not in ("fixed", "random"):
            raise InvalidArgumentError(
                f"family_effect: expected 'fixed' or 'random', got {self.family_effect!r}"
            )
        if self.loss not in (None, "huber", "beta"):
            raise InvalidArgumentError(f"loss: expected None, 'huber' or 'beta', got {self.loss!r}")
        if self.family_effect == "random":
            if self.loss == "huber":
                raise InvalidArgumentError(
                    "loss: random family effects are fitted by the Beta likelihood; pass "
                    "loss='beta' (or None)"
                )
            if self.link != "logistic":
                raise InvalidArgumentError(
                    "link: random family effects support link='logistic' only"
                )
            if isinstance(self.floor, str) or self.fit_floor:
                raise InvalidArgumentError(
                    "floor: random family effects use fixed floors; pass numbers or a dict, "
                    "not 'learn' or fit_floor=True"
                )
        if self.family_effect == "fixed" and self.loss == "beta":
            if self.link != "logistic":
                raise InvalidArgumentError(
                    "link: the Beta likelihood with fixed family effects supports "
                    "link='logistic' only"
                )
            if isinstance(self.floor, str) or self.fit_floor:
                raise InvalidArgumentError(
                    "floor: the Beta likelihood uses fixed floors; pass numbers or a dict, "
                    "not 'learn' or fit_floor=True"
                )
        if self.n_nodes is not None:
            check_scalar(self.n_nodes, "n_nodes", kind=int, low=1, high=100)
        if self.link not in ("logistic", "monotone"):
            raise InvalidArgumentError(
                f"link: expected 'logistic' or 'monotone', got {self.link!r}"
            )
        if self.identification not in ("rotate", "anchors"):
            raise InvalidArgumentError(
                f"identification: expected 'rotate' or 'anchors', got {self.identification!r}"
            )
        if self.identification == "anchors" and self.anchors is None:
            raise InvalidArgumentError(
                "anchors: identification='anchors' needs one anchor benchmark per skill, e.g. "
                "anchors=['MATH Lvl 5', 'IFEval']"
            )
        check_scalar(self.delta, "delta", low=0.0, low_inclusive=False)
        check_scalar(self.n_starts, "n_starts", kind=int, low=1, high=_MAX_STARTS)
        check_scalar(self.max_iter, "max_iter", kind=int, low=1, high=10**7)
        check_scalar(self.n_knots, "n_knots", kind=int, low=1, high=200)
        if self.fit_floor is not None and not isinstance(self.fit_floor, bool):
            raise InvalidArgumentError(
                f"fit_floor: expected None, True or False, got {self.fit_floor!r}"
            )

    def _resolve_floor(self, J: int, names: tuple[str, ...] | None) -> tuple[np.ndarray, bool]:
        f = self.floor
        learn = self.fit_floor if self.fit_floor is not None else self.link == "monotone"
        if isinstance(f, str):
            if f != "learn":
                raise InvalidArgumentError(
                    f"floor: expected None, a number, one per benchmark, a dict or 'learn', "
                    f"got {f!r}"
                )
            return np.full(J, 0.1), True
        if f is None:
            return np.zeros(J), learn
        if isinstance(f, dict):
            if names is None:
                raise InvalidArgumentError(
                    "floor: a dict of floors needs benchmark names; pass benchmarks=[...] to "
                    "fit or scores as a DataFrame"
                )
            missing = [b for b in names if b not in f]
            if missing:
                raise InvalidArgumentError(
                    f"floor: no floor for {missing}; add them to the dict (known in "
                    f"GUESSING_FLOORS: {sorted(GUESSING_FLOORS)})"
                )
            c = np.array([float(f[b]) for b in names])
        else:
            c = np.broadcast_to(as_float_array(f, "floor", ndim=(0, 1)), (J,)).copy()
        if np.any(c < 0) or np.any(c >= 1):
            raise InvalidArgumentError("floor: floors must lie in [0, 1)")
        return c, learn

    def _anchor_indices(self, names: tuple[str, ...]) -> np.ndarray:
        anchors = list(np.atleast_1d(np.asarray(self.anchors, dtype=object)))
        if len(anchors) != self.n_skills:
            raise InvalidArgumentError(
                f"anchors: need exactly one anchor benchmark per skill ({self.n_skills}), got "
                f"{len(anchors)}"
            )
        idx = []
        for a in anchors:
            if isinstance(a, int | np.integer) and not isinstance(a, bool):
                if not 0 <= int(a) < len(names):
                    raise InvalidArgumentError(f"anchors: index {a} out of range")
                idx.append(int(a))
            elif str(a) in names:
                idx.append(names.index(str(a)))
            else:
                raise InvalidArgumentError(f"anchors: {a!r} is not a benchmark ({list(names)})")
        if len(set(idx)) != len(idx):
            raise InvalidArgumentError("anchors: the anchor benchmarks must be distinct")
        return np.array(idx)

    def _prepare(self, features, families, scores, benchmarks):
        self._check_params()
        X = as_float_array(features, "features", ndim=2)
        n = X.shape[0]
        if X.shape[1] != 3:
            raise ShapeError(
                f"features: expected 3 columns (log tokens, log size, their product; see "
                f"translog_features), got {X.shape[1]}"
            )
        if self.family_effect == "fixed" and np.abs(X).max() > _MAX_FEATURE:
            raise InvalidArgumentError(
                f"features: has values up to {np.abs(X).max():.3g}; the law takes translog "
                "features of natural logs (translog_features(size, tokens)), not raw sizes or "
                "token counts; pass those (or rescale the features)"
            )
        labels = _labels(families, n)
        Y, columns = _scores(scores)
        if Y.shape[0] != n:
            raise ShapeError(f"scores: has {Y.shape[0]} rows but features has {n}")
        J = Y.shape[1]
        if benchmarks is not None:
            names = tuple(str(b) for b in benchmarks)
            if len(names) != J:
                raise ShapeError(f"benchmarks: {len(names)} names for {J} score columns")
        else:
            names = columns
        if self.n_skills > J:
            raise InvalidArgumentError(
                f"n_skills: {self.n_skills} skills need at least as many benchmarks, got {J}"
            )
        if not np.isfinite(Y).any():
            raise InvalidArgumentError("scores: every score is missing (NaN)")
        empty = np.flatnonzero(~np.isfinite(Y).any(axis=0))
        if empty.size:
            raise InvalidArgumentError(
                f"scores: benchmark column {int(empty[0])} has no observed score; drop it"
            )
        fams, fam_idx = np.unique(labels, return_inverse=True)
        floor, learn = self._resolve_floor(J, names)
        names = names if names is not None else tuple(f"benchmark {j}" for j in range(J))
        return X, fams, fam_idx.astype(np.int64), Y, floor, learn, names

    # ------------------------------------------------------------------ fitting
    def _starts(self, layout: obj.Layout, floor: np.ndarray, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        d, J = layout.d, layout.J
        rows = []
        for _ in range(self.n_starts):
            rows.append(
                layout.pack(
                    np.abs(rng.normal(size=(layout.p, d))),
                    rng.normal(size=(layout.n_families, d)),
                    np.abs(rng.normal(size=(d, J))),
                    rng.normal(size=J),
                    logit(np.clip(floor, _LINK_EPS, 1 - _LINK_EPS)) if layout.learn_floor else None,
                )
            )
        return np.ascontiguousarray(np.array(rows))

    def _deltas(self) -> list[float]:
        return [v for v in (0.1, 0.03) if v > self.delta] + [float(self.delta)]

    def fit(self, features: Any, families: Any, scores: Any, *, benchmarks: Any = None,
            progress: Any = False) -> SkillScalingLaw:  # fmt: skip
        """Fit the law.

        Parameters
        ----------
        features : array_like, shape (n, 3)
            :func:`translog_features` of size and tokens.
        families : array_like, shape (n,)
            Family label of each model.
        scores : array_like or DataFrame, shape (n, J)
            Scores in [0, 1]; NaN marks a missing score.
        benchmarks : list of str, optional
            Benchmark names (default: the DataFrame's columns).
        progress : bool or callable
            Progress of the multi-start fit (callable(done, total)).

        Returns
        -------
        self
        """
        prepared = self._prepare(features, families, scores, benchmarks)
        for name in _LIKELIHOOD_ATTRIBUTES:  # left by an earlier fit of another kind
            self.__dict__.pop(name, None)
        if self.family_effect == "random":
            return self._fit_random(prepared)
        if self.loss == "beta":
            return self._fit_fixed_beta(prepared)
        seed = seed_from_rng(self.random_state, "random_state")
        self._fit_fixed_many([prepared], [seed], progress)[0]
        return self

    def _fit_fixed_beta(self, prepared):
        """Fixed family effects, Beta likelihood, anchored (``_fixed_beta``)."""
        X, fams, fam_idx, Y, floor, _learn, names = prepared
        anchors = (
            self._anchor_indices(names) if self.anchors is not None else np.arange(self.n_skills)
        )
        Yc = np.where(np.isnan(Y), np.nan, np.clip(Y, _BETA_CLIP, 1 - _BETA_CLIP))
        fit = fit_fixed_beta(X, Yc, fam_idx, len(fams), floor, tuple(int(a) for a in anchors),
                             self.n_skills)  # fmt: skip
        layout = obj.Layout(p=3, n_families=len(fams), d=self.n_skills, J=Y.shape[1])
        theta = layout.pack(fit.slopes, fit.family_effects, fit.loadings, fit.bias)
        n_obs = int(np.isfinite(Y).sum())
        self._set_fit(prepared, layout, theta, -fit.loglik / n_obs, [-fit.loglik / n_obs],
                      [fit.converged])  # fmt: skip
        self._Y = Yc
        if not fit.converged:
            warnings.warn(
                "SkillScalingLaw(loss='beta'): the likelihood did not settle; families with "
                "one or two models give their intercepts little data (the fixed-effect "
                "likelihood can keep rising along such directions); consider "
                "family_effect='random'",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.fixed_beta_ = fit
        self.loglik_ = fit.loglik
        self.aic_ = -2.0 * (fit.loglik - fit.n_params)
        self.precision_ = fit.precision
        self._identify()
        # The fit's own parameters are the anchored view; a rotated view has no SEs.
        anchored = self.identification == "anchors"
        self.coef_se_ = dict(fit.slope_se) if anchored else None
        return self

    def _fit_random(self, prepared):
        """Random family effects: the marginal Beta likelihood (``fit_random_effects``)."""
        X, fams, fam_idx, Y, floor, _learn, names = prepared
        anchors = (
            self._anchor_indices(names) if self.anchors is not None else np.arange(self.n_skills)
        )
        fit = fit_random_effects(
            X, Y, fams[fam_idx], n_skills=self.n_skills, anchors=anchors, floor=floor,
            n_nodes=self.n_nodes, n_restarts=self.n_starts, random_state=self.random_state,
            benchmarks=names,
        )  # fmt: skip
        self._set_random(X, fam_idx, Y, floor, names, fit)
        return self

    def _set_random(self, X, fam_idx, Y, floor, names, fit: RandomEffectsFit) -> None:
        self.random_effects_ = fit
        self._X, self._fam_idx, self._Y, self._floor0 = X, fam_idx, Y, floor
        self._learn_floor = False
        self.families_ = fit.families
        self.benchmarks_ = tuple(names)
        self.theta_ = fit.theta
        self.loglik_ = fit.loglik
        self.aic_ = fit.aic
        self.loss_ = -fit.loglik
        self.start_losses_ = np.array([-fit.loglik])
        self._converged = np.array([fit.converged])
        self._log_range = (X[:, 1].min(), X[:, 1].max(), X[:, 0].min(), X[:, 0].max())
        self.coef_se_ = {kind: fit.slope_se(kind, raw=True) for kind in _SE_KINDS}
        self._identify_random()

    def _identify_random(self) -> None:
        fit = self.random_effects_
        skills = self._random_skills(self._X, self._fam_idx)
        self._solution = SkillSolution(
            method="anchors",
            skills=skills,
            slopes=fit.slopes_raw,
            family_effects=fit.family_effects,
            loadings=fit.loadings.T.copy(),
            bias=fit.bias - fit.feature_mean @ fit.slopes_raw @ fit.loadings,
            skill_correlation=fit.family_cov,
            center=np.zeros(self.n_skills),
            transform=np.eye(self.n_skills),
        )
        sol = self._solution
        self.skills_ = sol.skills
        self.slopes_ = sol.slopes
        self.coef_ = sol.slopes
        self.family_effects_ = sol.family_effects
        self.loadings_ = sol.loadings
        self.bias_ = sol.bias
        self.floor_ = self._floor0.copy()

    def _random_skills(self, X, fam_idx) -> np.ndarray:
        """βᵀx + α̂_f (the family's posterior mode), on the raw-feature scale of ``coef_``."""
        fit = self.random_effects_
        return X @ fit.slopes_raw + fit.family_effects[fam_idx]

    def _fit_fixed_many(self, prepared_list, seeds, progress=False):
        """Fit several prepared problems in one Rust batch (the protocol's groups)."""
        basic_learn = self.link == "logistic" and prepared_list[0][5]
        layouts, starts = [], []
        for (_X, fams, _fam_idx, Y, floor, _learn, _names), seed in zip(
            prepared_list, seeds, strict=False
        ):
            lay = obj.Layout(p=3, n_families=len(fams), d=self.n_skills, J=Y.shape[1],
                             learn_floor=basic_learn)  # fmt: skip
            layouts.append(lay)
            starts.append(self._starts(lay, floor, seed))
        with progress_callback(progress, "SkillScalingLaw fits", "start") as callback:
            out = self._run_fixed(prepared_list, starts, basic_learn, callback)
        models = []
        for k, (prep, lay, (thetas, losses, _iters, conv)) in enumerate(
            zip(prepared_list, layouts, out, strict=False)
        ):
            model = self if k == 0 else _clone(self)
            best = int(np.argmin(losses))
            model._set_fit(prep, lay, thetas[best].copy(), float(losses[best]), losses, conv)
            if self.link == "monotone":
                model._fit_monotone()
            model._identify()
            model._set_huber_se()
            models.append(model)
        return models

    def _run_fixed(self, prepared_list, starts, basic_learn, callback):
        """Continuation in two Rust batches: the coarse Huber stages with a short iteration
        cap (they only bring each start near a basin), then the target δ with ``max_iter``."""
        common = dict(
            xs=[p[0] for p in prepared_list],
            families_list=[p[2] for p in prepared_list],
            n_families=[len(p[1]) for p in prepared_list],
            ys=[p[3] for p in prepared_list],
            floors=[p[4] for p in prepared_list],
            d=self.n_skills,
            fix_loadings=False,
            learn_floor=basic_learn,
            history=20,
            gtol=1e-9,
            ftol=1e-13,
            progress=callback,
        )
        deltas = self._deltas()
        if len(deltas) > 1:
            coarse = _core.scaling_fixed_fit(
                starts=starts, deltas=deltas[:-1], max_iter=_COARSE_ITER, **common
            )
            starts = [np.ascontiguousarray(out[0]) for out in coarse]
        return _core.scaling_fixed_fit(
            starts=starts, deltas=deltas[-1:], max_iter=self.max_iter, **common
        )

    def _set_fit(self, prep, layout, theta, loss, losses, converged):
        X, fams, fam_idx, Y, floor, learn, names = prep
        self._X, self._fam_idx, self._Y, self._floor0 = X, fam_idx, Y, floor
        self._learn_floor = learn
        self.families_ = fams
        self.benchmarks_ = names
        self._layout = layout
        self.theta_ = theta
        self.loss_ = loss
        self.start_losses_ = np.asarray(losses)
        self._converged = np.asarray(converged)
        self._log_range = (X[:, 1].min(), X[:, 1].max(), X[:, 0].min(), X[:, 0].max())

    def _set_huber_se(self) -> None:
        """Standard errors of ``coef_`` for the Huber fit (``_huber_se``): in the anchored
        view only (the rotated one is computed from the fitted skills, and the learned link
        absorbs affine changes of each benchmark's index, so neither view is identified by
        these formulas)."""
        self.coef_se_ = None
        if self.identification != "anchors" or self.link != "logistic":
            return
        sol = self._solution
        theta = self._layout.pack(sol.slopes, sol.family_effects, sol.loadings.T, sol.bias,
                                  self._raw()["kappa"])  # fmt: skip
        anchors = tuple(int(a) for a in self._anchor_indices(self.benchmarks_))
        cov = huber_covariances(theta, self._layout, self._X, self._fam_idx, self._Y,
                                self._floor0, float(self.delta), anchors)  # fmt: skip
        self._huber_covariances = cov
        self.coef_se_ = cov.slope_se(self._layout.p, self.n_skills)

    def _fit_monotone(self) -> None:
        """Stage 2: learned monotone links (and floors), warm-started at the logistic fit."""
        self.theta_, self._layout, self.loss_ = monotone_stage(
            self.theta_, self._layout, self._X, self._fam_idx, self._Y, self._floor0,
            learn_floor=self._learn_floor, delta=float(self.delta), n_knots=self.n_knots,
            max_iter=self.max_iter,
        )  # fmt: skip

    # ------------------------------------------------------------------ identification
    def _raw(self):
        return self._layout.unpack(self.theta_)

    def _raw_skills(self, X, fam_idx):
        P = self._raw()
        return X @ P["W"] + P["A"][fam_idx]

    def _view(self, center, T, method):
        P = self._raw()
        Z = (self._raw_skills(self._X, self._fam_idx) - center) @ T
        Tinv = np.linalg.inv(T)
        L = Tinv @ P["L"]
        sd = Z.std(axis=0, ddof=1) if Z.shape[0] > 1 else np.ones(Z.shape[1])
        cov = np.cov(Z.T, ddof=1).reshape(Z.shape[1], Z.shape[1]) if Z.shape[0] > 1 else None
        corr = cov / np.outer(sd, sd) if cov is not None else np.eye(Z.shape[1])
        return SkillSolution(
            method=method,
            skills=Z,
            slopes=P["W"] @ T,
            family_effects=(P["A"] - center) @ T,
            loadings=L.T.copy(),
            bias=P["b"] + center @ P["L"],
            skill_correlation=corr,
            center=center,
            transform=T,
        )

    def _whitening(self):
        Z = self._raw_skills(self._X, self._fam_idx)
        mu = Z.mean(axis=0)
        d = Z.shape[1]
        if Z.shape[0] <= d:
            return mu, np.eye(d)
        cov = np.cov(Z.T, ddof=1).reshape(d, d)
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            return mu, np.eye(d)
        return mu, np.linalg.inv(chol).T

    def rotate(self, method: str | None = "geomin_obl") -> SkillSolution:
        """The skills, slopes and loadings in a rotated view (the fit is not changed).

        The training skills are centred and whitened (covariance I), then the loadings are
        rotated: "geomin_obl" (oblique geomin, δ = 0.01: skills keep unit variance and may
        correlate), "varimax" (orthogonal) or None (whitened only). Each skill's sign makes
        its loadings sum positive.

        Returns
        -------
        SkillSolution
        """
        self._check_fitted()
        if self._is_random():
            raise InvalidArgumentError(
                "rotate: random family effects are identified by their anchor benchmarks "
                "(the likelihood needs them); the anchored view is skills_, coef_, loadings_"
            )
        if method is not None and method not in ROTATIONS:
            raise InvalidArgumentError(
                f"method: expected one of {ROTATIONS} or None, got {method!r}"
            )
        mu, T0 = self._whitening()
        P = self._raw()
        T = T0
        if method is not None and self.n_skills > 1:
            loadings = (np.linalg.inv(T0) @ P["L"]).T
            T = T0 @ rotation_matrix(loadings, method)
        L = np.linalg.inv(T) @ P["L"]
        signs = np.where(L.sum(axis=1) < 0, -1.0, 1.0)
        return self._view(mu, T * signs[None, :], method)

    def _anchored(self) -> SkillSolution:
        idx = self._anchor_indices(self.benchmarks_)
        P = self._raw()
        LA = P["L"][:, idx]  # d × d
        if np.linalg.cond(LA) > 1e12:
            raise InvalidArgumentError(
                "anchors: the anchor benchmarks' loadings are (nearly) collinear in this fit; "
                "choose anchors that measure different skills"
            )
        T = LA
        mu = -np.linalg.solve(LA.T, P["b"][idx])
        return self._view(mu, T, "anchors")

    def _identify(self) -> None:
        sol = self._anchored() if self.identification == "anchors" else self.rotate("geomin_obl")
        self._solution = sol
        self.skills_ = sol.skills
        self.slopes_ = sol.slopes
        self.coef_ = sol.slopes
        self.family_effects_ = sol.family_effects
        self.loadings_ = sol.loadings
        self.bias_ = sol.bias
        P = self._raw()
        self.floor_ = expit(P["kappa"]) if self._layout.learn_floor else self._floor0.copy()

    # ------------------------------------------------------------------ prediction
    def _family_index(self, families: Any, n: int) -> np.ndarray:
        labels = _labels(families, n)
        pos = np.searchsorted(self.families_, labels)
        pos = np.clip(pos, 0, len(self.families_) - 1)
        unseen = self.families_[pos] != labels
        if np.any(unseen):
            bad = sorted({str(v) for v in labels[unseen]})
            raise InvalidArgumentError(
                f"families: {bad[:5]} not seen in fit; call partial_fit_family(features, "
                "scores, family) with the family's first model(s) first"
            )
        return pos.astype(np.int64)

    def _check_features(self, features):
        X = as_float_array(features, "features", ndim=2)
        if X.shape[1] != 3:
            raise ShapeError(f"features: expected 3 columns, got {X.shape[1]}")
        return X

    def predict(self, features: Any, families: Any) -> np.ndarray:
        """Mean scores of models of known families.

        Parameters
        ----------
        features : array_like, shape (m, 3)
        families : array_like, shape (m,)
            Labels seen in ``fit`` or added by ``partial_fit_family``.

        Returns
        -------
        ndarray, shape (m, J)
        """
        self._check_fitted()
        X = self._check_features(features)
        fam = self._family_index(families, X.shape[0])
        if self._is_random():
            return predict_random_effects(self.random_effects_, X, self.families_[fam])
        return obj.predict(self.theta_, self._layout, X, fam, self._floor0)

    def predict_interval(
        self,
        features: Any,
        families: Any,
        *,
        level: float = 0.9,
        n_draws: int = 1000,
        kind: str = "observation",
        random_state: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Prediction intervals (random effects only): equal-tailed ``level`` intervals from
        parameter draws N(θ̂, V_H) × the family's posterior × (``kind="observation"``) the
        Beta score noise; see :func:`predict_interval_random_effects`.

        Returns
        -------
        (low, high) : ndarrays, shape (m, J)
        """
        self._check_fitted()
        if not self._is_random():
            raise InvalidArgumentError(
                "predict_interval: intervals need a likelihood; fit with family_effect='random'"
            )
        X = self._check_features(features)
        fam = self._family_index(families, X.shape[0])
        return predict_interval_random_effects(
            self.random_effects_, X, self.families_[fam], level=level, n_draws=n_draws,
            random_state=random_state, kind=kind,
        )  # fmt: skip

    def _is_random(self) -> bool:
        return hasattr(self, "random_effects_")

    def skills(self, features: Any, families: Any) -> np.ndarray:
        """Identified skills (same view as ``skills_``) of models of known families."""
        self._check_fitted()
        X = self._check_features(features)
        fam = self._family_index(families, X.shape[0])
        if self._is_random():
            return self._random_skills(X, fam)
        sol = self._solution
        return (self._raw_skills(X, fam) - sol.center) @ sol.transform

    def partial_fit_family(self, features: Any, scores: Any, family: Any) -> SkillScalingLaw:
        """Estimate (or re-estimate) one family's effect from its observed models, with every
        shared parameter frozen — how a new family is predicted from its first model(s).

        Parameters
        ----------
        features : array_like, shape (m, 3)
        scores : array_like, shape (m, J)
            NaN for missing scores; at least one observed.
        family : label

        Returns
        -------
        self
        """
        self._check_fitted()
        family = self._family_label(family)
        X = self._check_features(features)
        Y, _ = _scores(scores)
        n_bench = len(self.benchmarks_)
        if Y.shape != (X.shape[0], n_bench):
            raise ShapeError(f"scores: expected shape ({X.shape[0]}, {n_bench}), got {Y.shape}")
        if not np.isfinite(Y).any():
            raise InvalidArgumentError("scores: the family needs at least one observed score")
        if self._is_random():
            return self._partial_fit_random(X, Y, family)
        P = self._raw()
        lay1 = dataclasses.replace(self._layout, n_families=1)
        mask = np.isfinite(Y)
        fam0 = np.zeros(X.shape[0], dtype=np.int64)
        d = self.n_skills
        a_off = lay1.sizes[0]

        def f(alpha):
            theta = lay1.pack(P["W"], alpha[None, :], P["L"], P["b"], P["kappa"], P["link"])
            v, g = obj.objective(theta, lay1, X, fam0, Y, mask, self._floor0, float(self.delta))
            return v, g[a_off : a_off + d]

        if self.loss == "beta":
            Yc = np.clip(Y, _BETA_CLIP, 1 - _BETA_CLIP)

            def f(alpha):  # noqa: F811 (the Beta likelihood replaces the Huber loss)
                return _beta_family_objective(alpha, P, X, Yc, self._floor0, self.precision_)

        best = None
        for a0 in np.vstack([P["A"], P["A"].mean(axis=0)]):
            r = minimize(f, a0, jac=True, method="L-BFGS-B",
                         options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-12})  # fmt: skip
            if best is None or r.fun < best.fun - 1e-15:
                best = r
        assert best is not None
        label = np.asarray([family])[0]
        A = P["A"].copy()
        if label in set(self.families_.tolist()):
            A[int(np.flatnonzero(self.families_ == label)[0])] = best.x
            fams = self.families_
        else:
            fams = np.append(self.families_, label)
            A = np.vstack([A, best.x])
            order = np.argsort(fams, kind="stable")
            fams, A = fams[order], A[order]
            # keep the training rows' family indices pointing at the same families
            remap = np.empty(len(order), dtype=np.int64)
            remap[order] = np.arange(len(order))
            self._fam_idx = remap[self._fam_idx]
        lay = dataclasses.replace(self._layout, n_families=len(fams))
        self.theta_ = lay.pack(P["W"], A, P["L"], P["b"], P["kappa"], P["link"])
        self._layout = lay
        self.families_ = fams
        sol = self._solution
        self.family_effects_ = (A - sol.center) @ sol.transform
        self._solution = dataclasses.replace(sol, family_effects=self.family_effects_)
        return self

    def _family_label(self, family: Any) -> Any:
        """One family label of the fitted labels' kind (numbers or text): a label of the other
        kind would be converted silently and match none of the training families."""
        label = np.asarray(family)
        kinds = {"i": "number", "u": "number", "f": "number", "U": "text", "S": "text"}
        kind = kinds.get(label.dtype.kind)
        if label.ndim != 0 or kind is None or (kind == "number" and not np.isfinite(label)):
            raise InvalidArgumentError(
                f"family: expected one family label (a string or a number), got {family!r}"
            )
        fitted = kinds.get(self.families_.dtype.kind)
        if fitted is not None and fitted != kind:
            raise InvalidArgumentError(
                f"family: {family!r} is a {kind} but the fitted family labels are "
                f"{fitted}s ({self.families_[:3].tolist()}...); pass a label of the same kind"
            )
        return label[()]

    def _partial_fit_random(self, X, Y, family) -> SkillScalingLaw:
        """The family's posterior mode given these rows, every other parameter frozen."""
        label = np.asarray([family])[0]
        fit = add_families_random_effects(
            self.random_effects_, X, Y, np.repeat(np.asarray([label]), X.shape[0])
        )
        old = self.families_
        self.random_effects_ = fit
        self.families_ = fit.families
        # keep the training rows' family indices pointing at the same families
        self._fam_idx = np.searchsorted(self.families_, old)[self._fam_idx]
        self._identify_random()
        return self

    # ------------------------------------------------------------------ reports
    def compute_optimal(
        self,
        budget: float,
        *,
        target: Any = None,
        size_range: tuple[float, float] | None = None,
        tokens_range: tuple[float, float] | None = None,
    ) -> ComputeOptimal:
        """Size and tokens that maximise a skill (or a benchmark) at a fixed compute budget.

        Along 6·s·t = budget the translog skill is a quadratic in log s; its maximiser within
        the allowed ranges is returned. The family effect shifts the skill only, so the optimum
        is the same for every family.

        Parameters
        ----------
        budget : float
            Compute in the units of 6 · size · tokens (size in billions and tokens in
            trillions give units of 1e21 FLOPs, as the Sloth table's ``FLOPs (1E21)``).
        target : None, int, str or list
            Skill indices (identified skills), benchmark names, or None for every skill.
        size_range, tokens_range : (low, high), optional
            Allowed ranges (default: the training models' ranges).

        Returns
        -------
        ComputeOptimal
        """
        self._check_fitted()
        budget = check_scalar(budget, "budget", low=0.0, low_inclusive=False)
        ls_lo, ls_hi, lt_lo, lt_hi = self._log_range
        if size_range is not None:
            ls_lo, ls_hi = _log_range(size_range, "size_range")
        if tokens_range is not None:
            lt_lo, lt_hi = _log_range(tokens_range, "tokens_range")
        B = float(np.log(budget / 6.0))
        lo, hi = max(ls_lo, B - lt_hi), min(ls_hi, B - lt_lo)
        if lo > hi:
            raise InvalidArgumentError(
                "budget: no size and tokens within size_range and tokens_range spend this "
                "budget; widen the ranges or change the budget"
            )
        sol = self._solution
        P = None if self._is_random() else self._raw()
        if target is None:
            targets = list(range(self.n_skills))
        elif isinstance(target, list | tuple | np.ndarray):
            targets = list(target)
        else:
            targets = [target]
        names, coefs = [], []
        for t in targets:
            if isinstance(t, int | np.integer) and not isinstance(t, bool):
                if not 0 <= int(t) < self.n_skills:
                    raise InvalidArgumentError(f"target: skill {t} out of range")
                names.append(f"skill {int(t)}")
                coefs.append(sol.slopes[:, int(t)])
            elif str(t) in self.benchmarks_:
                j = self.benchmarks_.index(str(t))
                names.append(str(t))
                if P is None:  # random effects: the anchored view is the fit itself
                    coefs.append(sol.slopes @ sol.loadings[j])
                else:
                    coefs.append(P["W"] @ P["L"][:, j])
            else:
                raise InvalidArgumentError(
                    f"target: {t!r} is neither a skill index nor a benchmark "
                    f"({list(self.benchmarks_)})"
                )
        sizes, tokens, values, interior = [], [], [], []
        for w in coefs:
            w1, w2, w3 = w  # log t, log s, log s · log t

            def q(ls, w1=w1, w2=w2, w3=w3):
                return w1 * (B - ls) + w2 * ls + w3 * ls * (B - ls)

            cands = [lo, hi]
            inner = False
            if w3 > 0:
                ls_star = (w2 - w1 + w3 * B) / (2 * w3)
                if lo < ls_star < hi:
                    cands.append(ls_star)
                    inner = True
            vals = [q(v) for v in cands]
            k = int(np.argmax(vals))
            ls = cands[k]
            sizes.append(np.exp(ls))
            tokens.append(np.exp(B - ls))
            values.append(vals[k])
            interior.append(inner and k == 2)
        return ComputeOptimal(
            targets=tuple(names),
            budget=budget,
            size=np.array(sizes),
            tokens=np.array(tokens),
            value=np.array(values),
            interior=np.array(interior),
        )

    def summary(self) -> SkillScalingSummary:
        """The identified parameters as a table (``print(model.summary())``)."""
        self._check_fitted()
        losses = self.start_losses_
        best = int(np.argmin(losses))
        return SkillScalingSummary(
            n_models=int(self._X.shape[0]),
            n_families=len(self.families_),
            benchmarks=tuple(self.benchmarks_),
            n_skills=self.n_skills,
            link=self.link,
            identification=self.identification,
            loss=self.loss_,
            slopes=self.slopes_,
            loadings=self.loadings_,
            bias=self.bias_,
            floor=self.floor_,
            converged_starts=int(np.sum(self._converged)),
            n_starts=len(self.start_losses_),
            converged=bool(self._converged[best]),
            starts_near_best=int(np.sum(losses <= losses[best] + 1e-6 * abs(losses[best]))),
            family_effect="random" if self._is_random() else "fixed",
            slope_se=self.coef_se_["hessian"] if getattr(self, "coef_se_", None) else None,
            loglik=getattr(self, "loglik_", None),
            aic=getattr(self, "aic_", None),
        )


def _beta_family_objective(alpha, P, X, Y, floor, phi):
    """Negative Beta log-likelihood of one family's rows as a function of its intercept α
    (every other parameter fixed) and its gradient; NaN scores are skipped."""
    from scipy.special import digamma, gammaln

    eta = (X @ P["W"] + alpha) @ P["L"] + P["b"]
    s = expit(eta)
    mu = floor + (1 - floor) * s
    a, b = phi * mu, phi * (1 - mu)
    obs = np.isfinite(Y)
    y = np.where(obs, Y, 0.5)
    ll = gammaln(phi) - gammaln(a) - gammaln(b) + (a - 1) * np.log(y) + (b - 1) * np.log1p(-y)
    d_eta = phi * (digamma(b) - digamma(a) + np.log(y) - np.log1p(-y)) * (1 - floor) * s * (1 - s)
    d_eta = np.where(obs, d_eta, 0.0)
    return -float(np.where(obs, ll, 0.0).sum()), -(P["L"] @ d_eta.sum(axis=0))


def _log_range(r: Any, name: str) -> tuple[float, float]:
    arr = as_float_array(r, name, ndim=1)
    if arr.shape != (2,) or not 0 < arr[0] <= arr[1]:
        raise InvalidArgumentError(f"{name}: expected (low, high) with 0 < low <= high")
    return float(np.log(arr[0])), float(np.log(arr[1]))


def monotone_stage(theta0, lay0, X, fam, Y, floor0, *, learn_floor, delta, n_knots, max_iter):
    """Learned monotone links (and floors when ``learn_floor``), all parameters jointly by
    L-BFGS-B (link weights ≥ 0), warm-started at a logistic fit. Returns (theta, layout,
    loss)."""
    P = lay0.unpack(theta0)
    K = n_knots
    lay = dataclasses.replace(lay0, learn_floor=learn_floor, n_knots=K)
    H = (X @ P["W"] + P["A"][fam]) @ P["L"] + P["b"]
    link = np.array([_identity_link(H[:, j], K) for j in range(lay0.J)])
    c0 = expit(P["kappa"]) if lay0.learn_floor else floor0
    kappa = logit(np.clip(c0, _LINK_EPS, 1 - _LINK_EPS))
    theta = lay.pack(P["W"], P["A"], P["L"], P["b"], kappa, link)
    mask = np.isfinite(Y)
    res = minimize(
        obj.objective, theta, args=(lay, X, fam, Y, mask, floor0, delta), jac=True,
        method="L-BFGS-B", bounds=lay.link_bounds(),
        options={"maxiter": max_iter, "maxcor": 20, "ftol": 1e-13, "gtol": 1e-10},
    )  # fmt: skip
    return res.x, lay, float(res.fun)


def _identity_link(h: np.ndarray, K: int) -> np.ndarray:
    """Monotone-link parameters (a, w, v, c) whose σ(a + Σ w tanh(v u + c)) ≈ σ(u) on the
    range of the training indices ``h`` (non-negative least squares for w)."""
    from scipy.optimize import nnls

    lo, hi = float(np.min(h)), float(np.max(h))
    span = max(hi - lo, 1e-3)
    lo, hi = lo - 0.25 * span, hi + 0.25 * span
    knots = np.linspace(lo, hi, K)
    scale = (hi - lo) / max(K - 1, 1)
    v = np.full(K, 1.0 / scale)
    c = -knots * v
    grid = np.linspace(lo, hi, 200)
    basis = np.tanh(grid[:, None] * v[None] + c[None])
    # fit u − a by Σ w tanh(...), a = mean offset (free)
    design = np.column_stack([basis, np.ones_like(grid), -np.ones_like(grid)])
    sol, _ = nnls(design, grid)
    w = sol[:K]
    a = sol[K] - sol[K + 1]
    return np.concatenate([[a], w, v, c])


def _clone(model: SkillScalingLaw) -> SkillScalingLaw:
    return type(model)(**model.get_params(deep=False))


__all__ = ["ComputeOptimal", "SkillScalingLaw", "SkillScalingSummary", "SkillSolution"]


def fit_per_benchmark(
    X: np.ndarray,
    fam_idx: np.ndarray,
    n_families: int,
    Y: np.ndarray,
    floor: np.ndarray,
    *,
    learn_floor: bool,
    monotone: bool,
    n_starts: int,
    seed: int,
    delta: float = 0.01,
    max_iter: int = 3000,
    n_knots: int = 10,
):
    """One-skill fits with loadings fixed at 1, one per benchmark column (the papers'
    single-benchmark baselines): logistic stage in the Rust batch, then optionally the learned
    monotone link with learned floors. Returns a list of (theta, layout) per benchmark."""
    p = X.shape[1]
    J = Y.shape[1]
    lay = obj.Layout(p=p, n_families=n_families, d=1, J=1, fix_loadings=True,
                     learn_floor=learn_floor and not monotone)  # fmt: skip
    rng = np.random.default_rng(seed)
    starts = []
    for j in range(J):
        rows = []
        for _ in range(n_starts):
            kap = logit(np.clip(floor[j : j + 1], _LINK_EPS, 1 - _LINK_EPS))
            rows.append(lay.pack(np.abs(rng.normal(size=(p, 1))), rng.normal(size=(n_families, 1)),
                                 None, rng.normal(size=1), kap if lay.learn_floor else None))  # fmt: skip
        starts.append(np.ascontiguousarray(np.array(rows)))
    deltas = [v for v in (0.1, 0.03) if v > delta] + [delta]
    out = _core.scaling_fixed_fit(
        xs=[X] * J,
        families_list=[fam_idx] * J,
        n_families=[n_families] * J,
        ys=[np.ascontiguousarray(Y[:, j : j + 1]) for j in range(J)],
        floors=[floor[j : j + 1].copy() for j in range(J)],
        starts=starts,
        d=1,
        fix_loadings=True,
        learn_floor=lay.learn_floor,
        deltas=deltas,
        max_iter=max_iter,
        history=20,
        gtol=1e-9,
        ftol=1e-13,
    )
    fits = []
    for j, (thetas, losses, _it, _conv) in enumerate(out):
        theta = thetas[int(np.argmin(losses))].copy()
        lay_j = lay
        if monotone:
            theta, lay_j, _ = monotone_stage(
                theta, lay, X, fam_idx, Y[:, j : j + 1], floor[j : j + 1],
                learn_floor=True, delta=delta, n_knots=n_knots, max_iter=max_iter,
            )  # fmt: skip
        fits.append((theta, lay_j))
    return fits
