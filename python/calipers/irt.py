"""Item response theory for models × items correctness matrices.

The two-parameter logistic model (2PL) says that model ``l`` answers item ``i`` correctly with
probability

    P(y_li = 1) = sigmoid(a_i · theta_l - b_i),

with ability ``theta_l`` and discrimination ``a_i`` in R^dims and difficulty ``b_i``
(multidimensional 2PL for ``dims > 1``). The 1PL shares one discrimination across items; the
Rasch model fixes it to 1. :class:`IRT` fits these models to a matrix with missing cells, either
by penalised joint maximum likelihood (``method="jml"``, the fast default) or by marginal
maximum likelihood with EM on a quadrature grid (``method="em"``, unidimensional), and scores
new models against the fitted items (:meth:`IRT.score_new`).

Everything heavy runs in the Rust core with the GIL released; responses are stored there as
one byte per cell (0, 1, 255 = missing), or float32 for fractional scores.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np

from . import _core
from ._estimator import Estimator
from ._results import Result
from ._validation import ArrayLike, check_scalar, ndim_of, reject_complex, seed_from_rng
from .exceptions import (
    ConvergenceWarning,
    InvalidArgumentError,
    NotFittedError,
    ShapeError,
)

__all__ = ["IRT", "AbilityEstimate"]

Model = Literal["rasch", "1pl", "2pl"]
Method = Literal["jml", "em"]
ScoreMethod = Literal["mle", "map", "eap"]

_MISSING = 255
# Counts beyond this cannot reach the core (64-bit); sizes below it meet the memory check.
_MAX_COUNT = 2**63 - 1
_FORMAT = "calipers.irt"
_FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True, repr=False)
class AbilityEstimate(Result):
    """Abilities of scored models.

    Attributes
    ----------
    theta : ndarray, shape (n_models, dims)
        Estimated abilities (``inf``/``-inf`` where the MLE does not exist, e.g. a perfect score;
        NaN for an MLE from no observed response).
    standard_error : ndarray, shape (n_models, dims)
        MLE: from the Fisher information; MAP: from the posterior curvature; EAP: posterior
        standard deviation.
    method : str
        ``"mle"``, ``"map"`` or ``"eap"``.
    n_observed : ndarray, shape (n_models,)
        Number of answered items used for each model.
    """

    theta: np.ndarray
    standard_error: np.ndarray
    method: str
    n_observed: np.ndarray


class IRT(Estimator):
    """Rasch/1PL/2PL/multidimensional 2PL model fitted to a correctness matrix.

    Parameters
    ----------
    model : {"2pl", "1pl", "rasch"}, default "2pl"
        ``"1pl"``: one discrimination shared by all items, abilities standardised;
        ``"rasch"``: discrimination fixed to 1, abilities centred with their spread free
        (fitted as the 1PL and rescaled: the same likelihood).
    dims : int, default 1
        Number of latent dimensions (2PL only when > 1). Multidimensional solutions are
        identified up to a rotation of the ability space.
    method : {"jml", "em"}, default "jml"
        ``"jml"``: penalised joint maximum likelihood (MAP under the Gaussian priors below) by
        alternating Newton steps, parallel over models and over items. Long steps are
        recomputed from a curvature bound that cannot overshoot and steps that reverse
        direction are shortened, so separable data (all-correct rows, Guttman items, few
        models) cannot make the iteration run away; abilities are projected back to mean 0
        and identity covariance every iteration and the final estimates are standardised. ``"em"``: marginal
        maximum likelihood by EM (Bock–Aitkin) with a N(0, 1) latent distribution on
        ``n_quad`` equally spaced nodes over [-6, 6]; item priors make it MAP-EM. After each
        M-step the latent scale is re-standardised: the mean and standard deviation of the
        abilities pooled over the E-step posteriors give N(mu, sigma²), and the items are
        rescaled (``a <- sigma a``, ``b <- b - a mu``) to bring it back to N(0, 1). The
        rescaled point is kept when the next E-step confirms that the penalised marginal
        log-likelihood did not decrease (otherwise the plain EM update, which never decreases
        it, is kept), so ``loglik_trace_`` never decreases. ``theta_`` are the EAP abilities
        (mean ~0, variance < 1 by shrinkage). Unidimensional only.
    max_iter : int, default 500
        Maximum number of iterations.
    tol : float, default 1e-4
        Convergence: stop once no parameter moves by more than ``tol`` in an iteration (JML:
        abilities, discrimination norms and difficulties; EM: item parameters).
    prior_sd_theta, prior_sd_a, prior_sd_b : float, default 1, 2, 3
        Standard deviations of the zero-mean Gaussian priors on abilities (JML),
        discriminations and difficulties. They keep estimates finite for all-correct or
        all-wrong rows and columns; the defaults are weak relative to typical values.
    positive_discrimination : bool, default False
        Project discriminations onto ``a >= 0`` after each update (element-wise when
        ``dims > 1``). Without it the sign of a unidimensional scale is fixed so that the mean
        discrimination is positive (higher ability = more correct answers).
    n_quad : int, default 61
        Quadrature nodes for ``method="em"``.
    responses : {"auto", "binary", "fractional"}, default "auto"
        ``"binary"`` requires 0/1 (clear error otherwise); ``"fractional"`` treats scores in
        [0, 1] as Bernoulli targets (e.g. TruthfulQA mc2); ``"auto"`` picks binary when every
        observed value is 0 or 1.
    device : {"cpu", "cuda"}, default "cpu"
        ``"cuda"`` runs JML in torch on a GPU (``calipers.torch.irt``; needs torch).
    random_state : None, int or numpy.random.Generator
        Seeds the random start of dimensions beyond the first (dims > 1); unused otherwise.

    Attributes
    ----------
    theta_ : ndarray, shape (n_models, dims)
        Abilities (JML: standardised to mean 0, variance 1 / identity covariance).
    a_ : ndarray, shape (n_items, dims)
        Discriminations.
    b_ : ndarray, shape (n_items,)
        Difficulties (intercept form: ``P = sigmoid(a_i · theta_l - b_i)``; the classical
        difficulty of a unidimensional item is ``b_ / a_``).
    loglik_ : float
        Log-likelihood at the estimates, without priors (JML: joint; EM: marginal).
    n_iter_ : int
    converged_ : bool
    loglik_trace_ : ndarray
        EM: penalised marginal log-likelihood at the start and after each iteration
        (non-decreasing); JML: empty.
    theta_se_ : ndarray or None
        EM: posterior standard deviations of the abilities; JML: None.
    term_clip_ : float or None
        Set by :meth:`from_tinybenchmarks`: logits are ``sum_k clip(a_ik theta_k - b_i/dims)``.

    Notes
    -----
    Memory: the responses are copied once to one byte per cell (float32 for fractional
    scores); fitting then needs O((n_models + n_items) · dims²) more for JML and
    ``8 · n_quad · (n_models + 2 n_items)`` bytes for EM. No float64 copy of the matrix is made.
    A 2,000 × 50,000 binary matrix needs about 100 MB beyond the input.

    Examples
    --------
    >>> import numpy as np
    >>> from calipers.irt import IRT
    >>> rng = np.random.default_rng(0)
    >>> theta, b = rng.normal(size=(50, 1)), rng.normal(size=200)
    >>> Y = (rng.random((50, 200)) < 1 / (1 + np.exp(-(theta - b)))).astype(float)
    >>> m = IRT(model="2pl").fit(Y)
    >>> m.theta_.shape, m.a_.shape, m.b_.shape
    ((50, 1), (200, 1), (200,))
    """

    def __init__(
        self,
        model: Model = "2pl",
        dims: int = 1,
        method: Method = "jml",
        max_iter: int = 500,
        tol: float = 1e-4,
        prior_sd_theta: float = 1.0,
        prior_sd_a: float = 2.0,
        prior_sd_b: float = 3.0,
        positive_discrimination: bool = False,
        n_quad: int = 61,
        responses: Literal["auto", "binary", "fractional"] = "auto",
        device: str = "cpu",
        random_state: Any = None,
    ) -> None:
        self.model = model
        self.dims = dims
        self.method = method
        self.max_iter = max_iter
        self.tol = tol
        self.prior_sd_theta = prior_sd_theta
        self.prior_sd_a = prior_sd_a
        self.prior_sd_b = prior_sd_b
        self.positive_discrimination = positive_discrimination
        self.n_quad = n_quad
        self.responses = responses
        self.device = device
        self.random_state = random_state

    _fitted_attribute = "b_"
    _fit_hint = "call fit(Y) first"

    # ----------------------------------------------------------------- fitting
    def fit(self, Y: Any, mask: ArrayLike | None = None, progress: Any = None) -> IRT:
        """Fit the model to a models × items response matrix.

        Parameters
        ----------
        Y : array_like, shape (n_models, n_items)
            Responses: 0/1 (bool, int or float) or fractional scores in [0, 1]; NaN marks a
            missing cell. A ``numpy.ma.MaskedArray``'s mask is honoured.
        mask : array_like of bool, shape (n_models, n_items), optional
            Explicit missing-mask: True marks a missing cell (the ``numpy.ma`` convention).
        progress : callable, optional
            Called as ``progress(iteration, max_iter)`` after each iteration.

        Returns
        -------
        self
        """
        self._check_params()
        codes = _encode_responses(Y, mask, self.responses)
        seed = seed_from_rng(self.random_state, "random_state") if self.dims > 1 else 0
        core_model = "2pl" if self.model == "2pl" else "1pl"
        if self.device != "cpu":
            out = self._fit_torch(codes, core_model, seed)
        else:
            out = _core.irt_fit(
                y=codes,
                method=self.method,
                **self._fit_args(core_model, seed),
                n_quad=self.n_quad,
                progress=progress,
            )
        theta, a, b, loglik, n_iter, converged, trace, theta_se = out
        if self.model == "rasch":
            # Same likelihood: a_i θ = 1 · (a θ) with the shared slope moved into the abilities.
            scale = float(a[0, 0])
            theta = theta * scale
            theta_se = theta_se * abs(scale)
            a = np.ones_like(a)
        self.theta_: np.ndarray | None = np.asarray(theta)
        self.a_ = np.asarray(a)
        self.b_ = np.asarray(b)
        self.loglik_ = float(loglik)
        self.n_iter_ = int(n_iter)
        self.converged_ = bool(converged)
        self.loglik_trace_ = np.asarray(trace)
        self.theta_se_ = np.asarray(theta_se) if len(theta_se) else None
        self.term_clip_: float | None = None
        self.n_models_, self.n_items_ = codes.shape
        _warn_unobserved(codes)
        if not self.converged_:
            warnings.warn(
                f"IRT {self.method} fit did not converge in {self.max_iter} iterations "
                f"(tol={self.tol}); increase max_iter or tol",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _fit_torch(self, codes: np.ndarray, core_model: str, seed: int) -> tuple:
        if self.method != "jml":
            raise InvalidArgumentError(
                f"device: {self.device!r} supports method='jml' only; use device='cpu' for EM"
            )
        from .torch import irt as torch_irt

        return torch_irt.fit_jml(codes, **self._fit_args(core_model, seed), device=self.device)

    def _fit_args(self, core_model: str, seed: int) -> dict[str, Any]:
        """The keyword arguments the core and the torch fit share."""
        return {
            "model": core_model,
            "dims": self.dims,
            "max_iter": self.max_iter,
            "tol": float(self.tol),
            "prior_sd_theta": float(self.prior_sd_theta),
            "prior_sd_a": float(self.prior_sd_a),
            "prior_sd_b": float(self.prior_sd_b),
            "positive": bool(self.positive_discrimination),
            "seed": seed,
        }

    def _check_params(self) -> None:
        if self.model not in ("rasch", "1pl", "2pl"):
            raise InvalidArgumentError(f"model: got {self.model!r}; use 'rasch', '1pl' or '2pl'")
        if self.method not in ("jml", "em"):
            raise InvalidArgumentError(f"method: got {self.method!r}; use 'jml' or 'em'")
        check_scalar(self.dims, "dims", kind=int, low=1, high=_MAX_COUNT)
        if self.model != "2pl" and self.dims != 1:
            raise InvalidArgumentError(
                f"dims: {self.model!r} is unidimensional; use dims=1 or model='2pl'"
            )
        if self.method == "em" and self.dims != 1:
            raise InvalidArgumentError(
                "method: EM is unidimensional here; use method='jml' for dims > 1"
            )
        check_scalar(self.max_iter, "max_iter", kind=int, low=1, high=_MAX_COUNT)
        check_scalar(self.tol, "tol", kind=float, low=0.0, low_inclusive=False)
        for name in ("prior_sd_theta", "prior_sd_a", "prior_sd_b"):
            check_scalar(getattr(self, name), name, kind=float, low=0.0, low_inclusive=False)
        check_scalar(self.n_quad, "n_quad", kind=int, low=5, high=1001)
        if self.responses not in ("auto", "binary", "fractional"):
            raise InvalidArgumentError(
                f"responses: got {self.responses!r}; use 'auto', 'binary' or 'fractional'"
            )
        if not isinstance(self.device, str) or not (
            self.device == "cpu" or self.device.startswith("cuda")
        ):
            raise InvalidArgumentError(f"device: got {self.device!r}; use 'cpu' or 'cuda'")

    # ----------------------------------------------------------------- prediction
    def _items(self, items: Any) -> np.ndarray:
        if items is None:
            return np.arange(self.b_.shape[0])
        idx = np.asarray(items)
        if idx.dtype == bool:
            if idx.shape != self.b_.shape:
                raise ShapeError(
                    f"items: boolean mask has shape {idx.shape}, expected {self.b_.shape}"
                )
            return np.flatnonzero(idx)
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise InvalidArgumentError("items: pass a 1-D array of integer item indices")
        n = self.b_.shape[0]
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise InvalidArgumentError(f"items: indices must lie in [0, {n}); got out-of-range")
        return np.where(idx < 0, idx + n, idx).astype(np.intp)

    def _theta(self, theta: Any) -> np.ndarray:
        if theta is None:
            if getattr(self, "theta_", None) is None:
                raise NotFittedError("no abilities stored; pass theta=")
            return np.ascontiguousarray(self.theta_, dtype=np.float64)
        reject_complex(theta, "theta")
        try:
            t = np.ascontiguousarray(theta, dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidArgumentError(f"theta: could not convert to numbers ({exc})") from None
        dims = self.a_.shape[1]
        if t.ndim == 1 and dims == 1:
            t = t.reshape(-1, 1)
        elif t.ndim == 1 and t.shape[0] == dims:
            t = t.reshape(1, -1)
        if t.ndim != 2 or t.shape[1] != dims:
            raise ShapeError(f"theta: expected shape (n, {dims}), got {np.shape(theta)}")
        return t

    def predict_proba(self, theta: ArrayLike | None = None, items: Any = None) -> np.ndarray:
        """P(correct) for every (model, item).

        Parameters
        ----------
        theta : array_like, shape (n, dims), optional
            Abilities; the fitted ``theta_`` by default.
        items : array_like of int, optional
            Item indices; all fitted items by default.

        Returns
        -------
        ndarray, shape (n, n_items_selected)
        """
        self._check_fitted()
        idx = self._items(items)
        t = self._theta(theta)
        a = np.ascontiguousarray(self.a_[idx], dtype=np.float64)
        b = np.ascontiguousarray(self.b_[idx], dtype=np.float64)
        return _core.irt_predict(theta=t, a=a, b=b, term_clip=self.term_clip_)

    def score_new(
        self,
        Y_new: Any,
        items: Any = None,
        method: ScoreMethod = "map",
        prior_sd: float = 1.0,
    ) -> AbilityEstimate:
        """Estimate abilities of new models with the item parameters held fixed.

        Parameters
        ----------
        Y_new : array_like, shape (n_new, n_selected) or (n_selected,)
            Responses (0/1 or scores in [0, 1]); NaN = not answered.
        items : array_like of int, optional
            Indices of the fitted items that the columns of ``Y_new`` correspond to (e.g. an
            anchor subset). All items by default.
        method : {"map", "mle", "eap"}, default "map"
            ``"mle"`` maximises the likelihood (Newton with step halving; as tinyBenchmarks'
            ``fit_theta``, without a prior). It does not exist for perfect/zero scores: those
            entries are ``±inf`` with infinite standard error (an estimate beyond |theta| > 20
            counts as non-existent). ``"map"``: posterior mode under
            N(0, prior_sd² I). ``"eap"``: posterior mean by adaptive quadrature (grid centred on
            the mode, scaled by the Laplace covariance; dims <= 3).
        prior_sd : float, default 1
            Prior standard deviation for MAP and EAP (the fitted abilities are standardised).

        Returns
        -------
        AbilityEstimate
        """
        self._check_fitted()
        if method not in ("mle", "map", "eap"):
            raise InvalidArgumentError(f"method: got {method!r}; use 'mle', 'map' or 'eap'")
        idx = self._items(items)
        prior_sd = check_scalar(prior_sd, "prior_sd", kind=float, low=0.0, low_inclusive=False)
        reject_complex(Y_new, "Y_new")
        try:
            y = np.asarray(Y_new, dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidArgumentError(f"Y_new: could not convert to numbers ({exc})") from None
        if y.ndim == 1:
            y = y.reshape(1, -1)
        if y.ndim != 2 or y.shape[1] != idx.shape[0]:
            raise ShapeError(
                f"Y_new: expected shape (n_new, {idx.shape[0]}) (one column per selected item), "
                f"got {np.shape(Y_new)}"
            )
        y = np.ascontiguousarray(y)
        a = np.ascontiguousarray(self.a_[idx], dtype=np.float64)
        b = np.ascontiguousarray(self.b_[idx], dtype=np.float64)
        theta, se = _core.irt_score(
            y=y, a=a, b=b, method=method, prior_sd=float(prior_sd), term_clip=self.term_clip_
        )
        n_obs = (~np.isnan(y)).sum(axis=1)
        return AbilityEstimate(theta=theta, standard_error=se, method=method, n_observed=n_obs)

    # ----------------------------------------------------------------- information
    def item_information(self, theta_grid: Any, items: Any = None) -> np.ndarray:
        """Fisher information of each item at each ability.

        Parameters
        ----------
        theta_grid : array_like, shape (n,) or (n, dims)
        items : array_like of int, optional

        Returns
        -------
        ndarray
            ``p(1 - p) a_i²``, shape (n, n_items) when dims == 1; the information matrices
            ``p(1 - p) a_i a_iᵀ``, shape (n, n_items, dims, dims), otherwise. (For models
            imported with per-term clipping, clipped terms are not excluded.)
        """
        self._check_fitted()
        idx = self._items(items)
        t = self._theta(theta_grid)
        p = self.predict_proba(t, idx)
        w = p * (1.0 - p)
        a = self.a_[idx]
        if a.shape[1] == 1:
            return w * (a[:, 0] ** 2)[None, :]
        return w[:, :, None, None] * (a[:, :, None] * a[:, None, :])[None]

    def test_information(self, theta_grid: Any, items: Any = None) -> np.ndarray:
        """Sum of :meth:`item_information` over the (selected) items: shape (n,) or
        (n, dims, dims)."""
        return self.item_information(theta_grid, items).sum(axis=1)

    # ----------------------------------------------------------------- persistence
    def _state(self) -> dict[str, Any]:
        """The fitted model as one JSON-ready dict (schema: :meth:`save`)."""
        self._check_fitted()
        theta = getattr(self, "theta_", None)
        params = {
            k: v.item() if isinstance(v, np.generic) else v for k, v in self.get_params().items()
        }
        params["random_state"] = None
        return {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "params": params,
            "term_clip": self.term_clip_,
            "loglik": _json_float(getattr(self, "loglik_", float("nan"))),
            "n_iter": int(getattr(self, "n_iter_", 0)),
            "converged": bool(getattr(self, "converged_", True)),
            "theta": None if theta is None else np.asarray(theta, dtype=np.float64).tolist(),
            "a": np.asarray(self.a_, dtype=np.float64).tolist(),
            "b": np.asarray(self.b_, dtype=np.float64).tolist(),
        }

    def save(self, path: str | os.PathLike) -> None:
        """Save the fitted model to exactly ``path`` (no suffix is added).

        Format (schema version 1): a name ending in ``.json`` holds one JSON object with keys
        ``format`` (``"calipers.irt"``), ``version`` (1), ``params`` (constructor arguments),
        ``term_clip`` (null or a positive number), ``loglik`` (number or null), ``n_iter``,
        ``converged``, ``theta`` (list of rows or null), ``a`` (n_items rows of ``dims``
        numbers), ``b`` (n_items numbers). Any other name holds an ``.npz`` archive with float64
        arrays ``a``, ``b`` and ``theta`` (absent if unknown) and a ``meta`` string holding the
        same JSON without the arrays. Both load without pickle; :meth:`load` recognises the
        format from the content, not the name.
        """
        state = self._state()
        path = Path(path)
        if path.suffix.lower() == ".json":
            path.write_text(json.dumps(state, allow_nan=False))
            return
        arrays: dict[str, Any] = {k: np.asarray(state.pop(k), dtype=np.float64) for k in ("a", "b")}
        theta = state.pop("theta")
        if theta is not None:
            arrays["theta"] = np.asarray(theta, dtype=np.float64)
        with open(path, "wb") as f:  # a file object: numpy adds no ".npz" suffix
            np.savez(f, meta=np.array(json.dumps(state, allow_nan=False)), **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> IRT:
        """Load a model written by :meth:`save`, validating every field.

        Raises
        ------
        InvalidArgumentError
            The file cannot be read, is not a calipers IRT model, has another schema version,
            or has a missing, mis-shaped or non-finite field (the message names the file and
            the field).
        """
        path = Path(path)
        return cls._from_state(_read_saved(path), str(path))

    @classmethod
    def _from_state(cls, state: Any, source: str) -> IRT:
        """Rebuild a fitted model from :meth:`_state`'s dict, checking it strictly."""
        state = _checked_state(state, source)
        params = state["params"]
        model = cls(**params)
        dims = int(params["dims"])
        model.a_ = _checked_array(state.get("a"), "a", source, (None, dims))
        n_items = model.a_.shape[0]
        model.b_ = _checked_array(state.get("b"), "b", source, (n_items,))
        theta = state.get("theta")
        model.theta_ = (
            None if theta is None else _checked_array(theta, "theta", source, (None, dims))
        )
        model.term_clip_ = state["term_clip"]
        model.loglik_ = float("nan") if state["loglik"] is None else float(state["loglik"])
        model.n_iter_ = state["n_iter"]
        model.converged_ = state["converged"]
        model.loglik_trace_ = np.zeros(0)
        model.theta_se_ = None
        model.n_items_ = n_items
        model.n_models_ = 0 if model.theta_ is None else model.theta_.shape[0]
        return model

    @classmethod
    def from_tinybenchmarks(
        cls, A: Any, B: Any, theta: ArrayLike | None = None, clip: float | None = 30.0
    ) -> IRT:
        """Import item parameters stored in the tinyBenchmarks convention.

        tinyBenchmarks (py-irt ``multidim_2pl`` fork) stores ``A`` with shape (1, D, N) and
        ``B`` with shape (1, 1, N) and evaluates
        ``sigmoid(sum_k clip(A[k, i] * theta_k - B[i], -30, 30))``: the difficulty enters once
        per dimension, so the intercept is ``D · B`` and each term is clipped before the sum.
        The imported model has ``a_ = A.T``, ``b_ = D · B`` and ``term_clip_ = clip`` so that
        :meth:`predict_proba` and :meth:`score_new` reproduce those probabilities exactly
        (``clip=None`` drops the clipping).

        Parameters
        ----------
        A : array_like, shape (1, D, N) or (D, N)
        B : array_like, shape (1, 1, N), (1, N) or (N,)
        theta : array_like, shape (n, D, 1) or (n, D), optional
            Fitted abilities, if available.
        clip : float or None, default 30
        """
        a = np.asarray(A, dtype=np.float64)
        if a.ndim == 3 and a.shape[0] == 1:
            a = a[0]
        if a.ndim != 2:
            raise ShapeError(f"A: expected shape (1, D, N) or (D, N), got {np.shape(A)}")
        dims, n_items = a.shape
        if dims == 0 or n_items == 0:
            raise ShapeError(f"A: has shape {np.shape(A)}; pass at least one dimension and item")
        b = np.asarray(B, dtype=np.float64).reshape(-1)
        if b.shape[0] != n_items:
            raise ShapeError(f"B: has {b.shape[0]} values but A has {n_items} items")
        if clip is not None:
            clip = check_scalar(clip, "clip", kind=float, low=0.0, low_inclusive=False)
        model = cls(model="2pl", dims=dims)
        model.a_ = np.ascontiguousarray(a.T)
        model.b_ = dims * b
        model.term_clip_ = clip
        model.theta_ = None
        if theta is not None:
            t = np.asarray(theta, dtype=np.float64)
            if t.ndim == 3:
                t = t[:, :, 0]
            if t.ndim != 2 or t.shape[1] != dims:
                raise ShapeError(f"theta: expected shape (n, {dims}[, 1]), got {np.shape(theta)}")
            model.theta_ = np.ascontiguousarray(t)
        model.loglik_ = float("nan")
        model.n_iter_ = 0
        model.converged_ = True
        model.loglik_trace_ = np.zeros(0)
        model.theta_se_ = None
        model.n_items_ = n_items
        model.n_models_ = 0 if model.theta_ is None else model.theta_.shape[0]
        return model


def _warn_unobserved(codes: np.ndarray) -> None:
    """Warn about models or items without any observed response: their estimates come from
    the priors alone (ability 0 before standardisation; discrimination 0, difficulty 0)."""
    observed = codes != _MISSING if codes.dtype == np.uint8 else ~np.isnan(codes)
    rows = np.flatnonzero(~observed.any(axis=1))
    cols = np.flatnonzero(~observed.any(axis=0))
    parts = [
        f"{idx.size} {what} ({name} {idx[:5].tolist()}{', ...' if idx.size > 5 else ''})"
        for idx, what, name in ((rows, "model(s)", "rows"), (cols, "item(s)", "columns"))
        if idx.size
    ]
    if parts:
        warnings.warn(
            f"Y: {' and '.join(parts)} have no observed response; their estimates are the "
            "priors' and carry no information from the data (drop them before fitting)",
            UserWarning,
            stacklevel=3,
        )


def _json_float(x: float) -> float | None:
    """A float for JSON (which has no NaN/inf): None stands for a non-finite value."""
    return float(x) if np.isfinite(x) else None


def _corrupt(source: str, problem: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"path: {source} is not a valid saved calipers IRT model: {problem}; save the model "
        "again with IRT.save"
    )


def _read_saved(path: Path) -> dict[str, Any]:
    """The state dict of a saved model (JSON or npz, told apart by the content)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidArgumentError(f"path: could not read {path} ({exc})") from None
    if raw[:4] != b"PK\x03\x04":
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _corrupt(str(path), f"not JSON or npz ({exc})") from None
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            if "meta" not in data.files:
                raise _corrupt(str(path), "the npz archive has no 'meta' entry")
            state = json.loads(str(data["meta"][()]))
            if not isinstance(state, dict):
                raise _corrupt(str(path), "'meta' is not a JSON object")
            for key in ("a", "b", "theta"):
                state[key] = data[key] if key in data.files else None
            return state
    except InvalidArgumentError:
        raise
    except Exception as exc:  # BadZipFile, truncated members, bad dtypes, bad JSON, ...
        raise _corrupt(str(path), f"unreadable archive ({type(exc).__name__}: {exc})") from None


def _checked_state(state: Any, source: str) -> dict[str, Any]:
    """Checks the scalar fields and constructor arguments of a saved state (schema 1)."""
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise _corrupt(source, f"'format' is not {_FORMAT!r}")
    version = state.get("version")
    if version != _FORMAT_VERSION or isinstance(version, bool):
        raise InvalidArgumentError(
            f"path: {source} has IRT format version {version!r}; this calipers reads version "
            f"{_FORMAT_VERSION} (save it again with the calipers that will load it)"
        )
    params = state.get("params")
    valid = set(inspect.signature(IRT.__init__).parameters) - {"self"}
    if not isinstance(params, dict) or not set(params) <= valid:
        raise _corrupt(source, f"'params' must be a mapping of IRT arguments ({sorted(valid)})")
    try:
        IRT(**params)._check_params()
    except InvalidArgumentError as exc:
        raise _corrupt(source, f"bad 'params' ({exc})") from None
    for key in ("a", "b", "term_clip", "loglik", "n_iter", "converged"):
        if key not in state:
            raise _corrupt(source, f"the field {key!r} is missing")
    clip = state["term_clip"]
    if clip is not None and not (_is_real(clip) and np.isfinite(clip) and clip > 0):
        raise _corrupt(source, f"'term_clip' must be null or a positive number, got {clip!r}")
    if state["loglik"] is not None and not _is_real(state["loglik"]):
        raise _corrupt(source, "'loglik' must be a number or null")
    n_iter = state["n_iter"]
    if not isinstance(n_iter, int) or isinstance(n_iter, bool) or n_iter < 0:
        raise _corrupt(source, f"'n_iter' must be a non-negative integer, got {n_iter!r}")
    if not isinstance(state["converged"], bool):
        raise _corrupt(source, "'converged' must be true or false")
    return state


def _is_real(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _checked_array(value: Any, key: str, source: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """A finite float64 array of the given shape (None: any length) from a saved field."""
    if value is None:
        raise _corrupt(source, f"the field {key!r} is missing")
    if isinstance(value, np.ndarray) and value.dtype.kind not in "fiu":
        raise _corrupt(source, f"{key!r} has dtype {value.dtype}; expected float64")
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise _corrupt(source, f"{key!r} is not an array of numbers ({exc})") from None
    if len(shape) == 2 and arr.ndim == 1 and shape[1] == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != len(shape) or any(
        w is not None and w != s for w, s in zip(shape, arr.shape, strict=True)
    ):
        want = "(" + ", ".join("n" if w is None else str(w) for w in shape) + ")"
        raise _corrupt(source, f"{key!r} has shape {arr.shape}, expected {want}")
    if arr.shape[0] == 0 and key != "theta":
        raise _corrupt(source, f"{key!r} is empty")
    if not np.all(np.isfinite(arr)):
        raise _corrupt(source, f"{key!r} has NaN or infinite values")
    return np.ascontiguousarray(arr)


def _encode_responses(Y: Any, mask: Any, responses: str) -> np.ndarray:
    """uint8 codes (0, 1, 255 = missing) for binary data, float32 (NaN = missing) otherwise."""
    if isinstance(Y, np.ma.MaskedArray):
        ma_mask = np.ma.getmaskarray(Y)
        mask = ma_mask if mask is None else (np.asarray(mask, dtype=bool) | ma_mask)
        Y = Y.data
    reject_complex(Y, "Y")
    ndim_of(Y, "Y")
    arr = np.asarray(Y)
    if arr.ndim != 2:
        raise ShapeError(f"Y: expected a 2-D models × items array, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ShapeError(f"Y: has shape {arr.shape}; pass at least one model and one item")
    missing = None
    if mask is not None:
        missing = np.asarray(mask, dtype=bool)
        if missing.shape != arr.shape:
            raise ShapeError(f"mask: has shape {missing.shape}, expected {arr.shape} like Y")
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        return _encode_integer(arr, missing, responses)
    try:
        arr = arr.astype(np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"Y: could not convert to numbers ({exc})") from None
    nan = np.isnan(arr)
    if missing is not None:
        nan |= missing
    bad = ~nan & ~((arr >= 0.0) & (arr <= 1.0))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InvalidArgumentError(
            f"Y: value {arr[where]} at {where} is outside [0, 1]; responses must be 0/1 "
            "(or fractional scores in [0, 1]) with NaN for missing"
        )
    binary = bool(np.all(nan | (arr == 0.0) | (arr == 1.0)))
    if responses == "binary" and not binary:
        where = tuple(int(i) for i in np.argwhere(~nan & (arr != 0.0) & (arr != 1.0))[0])
        raise InvalidArgumentError(
            f"Y: value {arr[where]} at {where} is not 0 or 1 but responses='binary'; "
            "pass responses='fractional' to use scores in [0, 1]"
        )
    if binary and responses != "fractional":
        codes = np.full(arr.shape, _MISSING, dtype=np.uint8)
        np.copyto(codes, arr, casting="unsafe", where=~nan)
        return codes
    out = arr.astype(np.float32)
    out[nan] = np.nan
    return out


def _encode_integer(arr: np.ndarray, missing: np.ndarray | None, responses: str) -> np.ndarray:
    if arr.dtype != bool:
        observed = arr if missing is None else arr[~missing]
        if observed.size and (observed.min() < 0 or observed.max() > 1):
            raise InvalidArgumentError(
                "Y: integer responses must be 0 or 1 (mark missing cells with NaN or mask=)"
            )
    if responses == "fractional":
        out = arr.astype(np.float32)
        if missing is not None:
            out[missing] = np.nan
        return out
    codes = np.ascontiguousarray(arr, dtype=np.uint8)
    if missing is not None:
        codes = codes.copy() if codes is arr else codes
        codes[missing] = _MISSING
    return codes
