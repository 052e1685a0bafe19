"""LiveXiv efficient re-evaluation (Shabtay et al. 2025): which models to re-run on a new
benchmark version (Fisher information at the item difficulties' percentiles), and the others'
new-version scores predicted from a joint IRT fit."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from scipy import stats

from .._estimator import Estimator as _EstimatorBase
from .._results import Result
from .._validation import ArrayLike, check_scalar
from ..exceptions import InvalidArgumentError, ShapeError
from ..io import EvalData

__all__ = ["ReEvaluation", "ReEvaluationResult", "choose_models_to_rerun"]


def choose_models_to_rerun(
    theta: ArrayLike, b: ArrayLike, m: int, *, a: ArrayLike | None = None, must_run: Any = None
) -> np.ndarray:
    """LiveXiv's Fisher-information design: which ``m`` models to re-evaluate.

    Takes the ``m`` items whose difficulties ``b / a`` are nearest the 5th..95th percentiles
    and, for each, the model with the largest Fisher information ``p(1 - p)`` at that item
    (for the Rasch model: the ability closest to the difficulty). If fewer than ``m`` distinct
    models result, the model farthest on average (in ability) from those chosen is added until
    there are ``m``, as in LiveXiv's ``EfficEval``. Models in ``must_run`` (e.g. new models without earlier results, whose
    ``theta`` is NaN) are run in addition to the ``m``.

    Returns
    -------
    ndarray of int
        The chosen model indices (``must_run`` included), sorted.
    """
    th = np.asarray(theta, dtype=np.float64)
    th = th[:, 0] if th.ndim == 2 else th
    diff = np.asarray(b, dtype=np.float64)
    if a is not None:
        diff = diff / np.asarray(a, dtype=np.float64).reshape(diff.shape[0], -1)[:, 0]
    forced = [] if must_run is None else sorted({int(i) for i in must_run})
    known = np.setdiff1d(np.flatnonzero(np.isfinite(th)), forced)
    m = check_scalar(m, "m", kind=int, low=1, high=max(int(known.size), 1))
    # Anchor items: those nearest the m percentiles of the difficulties; each picks its most
    # informative model (a model may be picked twice: LiveXiv keeps the distinct ones).
    targets = np.percentile(diff, np.linspace(5, 95, m))
    anchor_diff = diff[np.abs(diff[None, :] - targets[:, None]).argmin(axis=1)]
    p = 1.0 / (1.0 + np.exp(-(th[known][:, None] - anchor_diff[None, :])))
    chosen = [int(i) for i in np.unique(known[(p * (1 - p)).argmax(axis=0)])]
    while len(chosen) < m:
        # fill up with the model farthest on average from those chosen
        rest = np.setdiff1d(known, chosen)
        gap = np.abs(th[rest][:, None] - th[chosen][None, :]).mean(axis=1)
        chosen.append(int(rest[np.argmax(gap)]))
    return np.asarray(sorted(chosen + forced), dtype=np.intp)


@dataclasses.dataclass(frozen=True, repr=False)
class ReEvaluationResult(Result):
    """New-version scores: observed for the re-run models, predicted for the others.

    Attributes
    ----------
    rerun : ndarray of int
        Models evaluated on the new version.
    predicted : ndarray, shape (n_models,)
        New-version mean score of every model (re-run models: observed cells kept).
    true : ndarray or None
        Full-evaluation scores, when known (for validation).
    mae : float
        Mean absolute error on the models not re-run (NaN when ``true`` is unknown).
    spearman : float
        Rank correlation of predicted and true scores over all models (NaN if unknown).
    """

    rerun: np.ndarray
    predicted: np.ndarray
    true: np.ndarray | None
    mae: float
    spearman: float


class ReEvaluation(_EstimatorBase):
    """LiveXiv-style efficient re-evaluation of a benchmark that gets new versions.

    Parameters
    ----------
    m : int, default 5
        Models to re-run on each new version (models without earlier results run in
        addition).
    irt_model : {"rasch", "1pl", "2pl"}, default "rasch"
        LiveXiv uses the Rasch model.
    irt_params : dict, optional
        Arguments of :class:`calipers.irt.IRT`, over the defaults
        ``prior_sd_theta=30, prior_sd_b=30``: nearly flat priors, close to LiveXiv's
        unpenalised maximum likelihood while keeping all-correct items finite.

    Attributes (after :meth:`fit`)
    ------------------------------
    irt_ : calipers.irt.IRT
        Fitted on the earlier versions.
    """

    _fitted_attribute = "irt_"
    _fit_hint = "call fit(Y_prev) first"

    def __init__(
        self,
        m: int = 5,
        irt_model: Literal["rasch", "1pl", "2pl"] = "rasch",
        irt_params: Mapping[str, Any] | None = None,
    ) -> None:
        self.m = m
        self.irt_model = irt_model
        self.irt_params = irt_params

    def _irt(self) -> Any:
        from ..irt import IRT

        params = {"prior_sd_theta": 30.0, "prior_sd_b": 30.0} | dict(self.irt_params or {})
        return IRT(model=self.irt_model, **params)

    def fit(self, Y_prev: Any) -> ReEvaluation:
        """Fit the IRT model to earlier versions (models x items, NaN = not evaluated)."""
        y = _as_matrix(Y_prev, "Y_prev")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.irt_ = self._irt().fit(y)
        self.n_models_ = y.shape[0]
        self.unseen_ = np.flatnonzero(np.isnan(y).all(axis=1))
        return self

    def choose_models(self) -> np.ndarray:
        """The ``m`` models to run on the new version, plus every model never evaluated."""
        self._check_fitted()
        theta = np.asarray(self.irt_.theta_)[:, 0].copy()
        theta[self.unseen_] = np.nan
        a = np.asarray(self.irt_.a_)
        return choose_models_to_rerun(theta, self.irt_.b_, self.m, a=a, must_run=self.unseen_)

    def predict(self, Y_prev: Any, Y_new: Any, true: ArrayLike | None = None) -> ReEvaluationResult:
        """Predict every model's new-version score from the re-run models' responses.

        Parameters
        ----------
        Y_prev : array_like (n_models, n_prev_items)
            Earlier versions (NaN = not evaluated).
        Y_new : array_like (n_models, n_new_items)
            The new version: rows of re-run models filled, others NaN.
        true : array_like (n_models,), optional
            Full-evaluation scores, to report the error.
        """
        prev = _as_matrix(Y_prev, "Y_prev")
        new = _as_matrix(Y_new, "Y_new")
        if prev.shape[0] != new.shape[0]:
            raise ShapeError(
                f"Y_new: has {new.shape[0]} models but Y_prev has {prev.shape[0]}; rows must be "
                "the same models in the same order (NaN rows for models not run)"
            )
        rerun = np.flatnonzero(~np.isnan(new).all(axis=1))
        if rerun.size == 0:
            raise InvalidArgumentError("Y_new: no model was evaluated on the new version")
        joint = np.hstack([prev, new])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            irt = self._irt().fit(joint)
        cols = np.arange(prev.shape[1], joint.shape[1])
        p = irt.predict_proba(irt.theta_, cols)
        filled = np.where(np.isnan(new), p, new)
        predicted = filled.mean(axis=1)
        mae = spear = float("nan")
        t = None
        if true is not None:
            t = np.asarray(true, dtype=np.float64).reshape(-1)
            if t.shape != predicted.shape:
                raise ShapeError(f"true: expected {predicted.size} scores, got {t.size}")
            skipped = np.setdiff1d(np.arange(t.size), rerun)
            mae = float(np.mean(np.abs(predicted[skipped] - t[skipped]))) if skipped.size else 0.0
            spear = float(stats.spearmanr(predicted, t).statistic)
        return ReEvaluationResult(rerun=rerun, predicted=predicted, true=t, mae=mae, spearman=spear)

    def evaluate(self, Y_prev: Any, Y_new_full: Any) -> ReEvaluationResult:
        """Validation: choose the models, hide the others' new-version rows, predict, and
        compare with the full evaluation ``Y_new_full``."""
        full = _as_matrix(Y_new_full, "Y_new_full")
        self.fit(Y_prev)
        rerun = self.choose_models()
        partial = np.full_like(full, np.nan)
        partial[rerun] = full[rerun]
        return self.predict(Y_prev, partial, true=np.nanmean(full, axis=1))


def _as_matrix(Y: Any, name: str) -> np.ndarray:
    arr = Y.scores if isinstance(Y, EvalData) else np.asarray(Y, dtype=np.float64)
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2 or arr.size == 0:
        raise ShapeError(f"{name}: expected a non-empty 2-D models x items array, got {arr.shape}")
    return np.ascontiguousarray(arr)
