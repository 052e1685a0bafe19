"""tinyBenchmarks end to end (Maia Polo et al. 2024): :class:`TinyBenchmark` chooses the IRT
dimension on validation models, the anchors and the gp-IRT mixing weight, cross-validates the
estimators and saves the whole to a documented JSON file."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._estimator import Estimator as _EstimatorBase
from .._results import Result
from .._validation import check_scalar, seed_from_rng
from ..exceptions import InvalidArgumentError, ShapeError
from ..io import EvalData
from ._layout import Layout, as_eval_data
from .anchors import AnchorSet, Method, _check_method, _select
from .estimators import ESTIMATORS, Estimator, gpirt_estimate, gpirt_lambda, pirt_estimate

__all__ = ["TinyBenchmark", "TinyEstimate"]

_FORMAT = "calipers.tiny"
_FORMAT_VERSION = 2  # 2: the IRT part is IRT's own saved state ("calipers.irt" schema)


@dataclasses.dataclass(frozen=True, repr=False)
class TinyEstimate(Result):
    """Estimated scenario scores of one or more models.

    Attributes
    ----------
    scenarios : list of str
    naive, pirt, gpirt : ndarray, shape (n_models, n_scenarios)
        The three estimators.
    estimate : ndarray, shape (n_models, n_scenarios)
        The estimator chosen in :class:`TinyBenchmark` (``estimator``).
    cv_error : ndarray, shape (n_scenarios,)
        Cross-validated mean absolute error of ``estimate`` per scenario (NaN if no CV).
    theta : ndarray, shape (n_models, dims)
        Abilities estimated from the anchors.
    """

    scenarios: list[str]
    naive: np.ndarray
    pirt: np.ndarray
    gpirt: np.ndarray
    estimate: np.ndarray
    cv_error: np.ndarray
    theta: np.ndarray

    def as_dict(self, estimator: str = "estimate", row: int = 0) -> dict[str, float]:
        """``{scenario: value}`` of one estimator for one model."""
        values = getattr(self, estimator)[row]
        return {s: float(v) for s, v in zip(self.scenarios, values, strict=True)}


class TinyBenchmark(_EstimatorBase):
    """tinyBenchmarks: anchors, IRT and estimators for a benchmark with scenarios.

    Parameters
    ----------
    n_anchors : int, default 100
        Anchor items per scenario.
    method : {"irt", "correctness", "random", "fisher"}, default "irt"
        Anchor selection (see the module docstring).
    estimator : {"gpirt", "pirt", "naive"}, default "gpirt"
        Which estimator :attr:`TinyEstimate.estimate` reports (all three are computed).
    dims : int or sequence of int, default (1, 2, 5)
        Candidate IRT dimensions; with several, the smallest whose validation error is within
        ``dim_tol`` of the best is used (as tinyBenchmarks).
    dim_tol : float, default 0.0025
    joint : bool, default True
        Estimate a new model's ability from all scenarios' anchors at once (tinyBenchmarks'
        Open LLM Leaderboard setting); False estimates one ability per scenario.
    ability : {"map", "mle", "eap"}, default "map"
        Ability estimator for new models. tinyBenchmarks uses the MLE, which is infinite for
        all-correct or all-wrong anchor responses; MAP under the standard-normal prior of the
        fitted abilities stays finite.
    cv_folds : int, default 5
        Folds of training models for the cross-validated errors (>= 2). Fold 0 is also the
        validation split that chooses the dimension and the gp-IRT λ.
    n_restarts : int, default 5
        k-means restarts.
    irt_model : {"2pl", "1pl", "rasch"}, default "2pl"
    irt_params : dict, optional
        Extra keyword arguments for :class:`calipers.irt.IRT` (``max_iter``, priors, ...).
    random_state : None, int or Generator

    Attributes
    ----------
    scenarios_ : list of str
    items_ : list of str
        All item ids.
    anchors_ : dict scenario -> list of str
        Anchor item ids.
    anchor_index_ : dict scenario -> ndarray of int
        Anchor positions among ``items_``.
    weights_ : dict scenario -> ndarray
        Anchor weights (sum to 1 per scenario).
    lambda_ : dict scenario -> float
        gp-IRT mixing weight.
    cv_error_ : dict scenario -> dict estimator -> float
        Cross-validated mean absolute error (0-1 scale) over held-out training models.
    dims_ : int
        The chosen IRT dimension; ``dim_errors_`` maps each candidate to its validation error.
    irt_ : calipers.irt.IRT
        The IRT model fitted on all training models.
    balance_weights_ : ndarray
    """

    def __init__(
        self,
        n_anchors: int = 100,
        method: Method = "irt",
        estimator: Estimator = "gpirt",
        dims: int | Sequence[int] = (1, 2, 5),
        dim_tol: float = 0.0025,
        joint: bool = True,
        ability: Literal["map", "mle", "eap"] = "map",
        cv_folds: int = 5,
        n_restarts: int = 5,
        irt_model: Literal["2pl", "1pl", "rasch"] = "2pl",
        irt_params: Mapping[str, Any] | None = None,
        random_state: Any = None,
    ) -> None:
        self.n_anchors = n_anchors
        self.method = method
        self.estimator = estimator
        self.dims = dims
        self.dim_tol = dim_tol
        self.joint = joint
        self.ability = ability
        self.cv_folds = cv_folds
        self.n_restarts = n_restarts
        self.irt_model = irt_model
        self.irt_params = irt_params
        self.random_state = random_state

    _fitted_attribute = "anchors_"
    _fit_hint = "call fit(Y) first"

    def _check_params(self) -> tuple[int, ...]:
        check_scalar(self.n_anchors, "n_anchors", kind=int, low=1)
        _check_method(self.method)
        if self.estimator not in ESTIMATORS:
            raise InvalidArgumentError(
                f"estimator: got {self.estimator!r}; use one of {list(ESTIMATORS)}"
            )
        if self.ability not in ("map", "mle", "eap"):
            raise InvalidArgumentError(f"ability: got {self.ability!r}; use 'map', 'mle' or 'eap'")
        check_scalar(self.cv_folds, "cv_folds", kind=int, low=2)
        check_scalar(self.dim_tol, "dim_tol", kind=float, low=0.0)
        dims = (self.dims,) if isinstance(self.dims, int) else tuple(self.dims)
        if not dims:
            raise InvalidArgumentError("dims: give at least one IRT dimension")
        for d in dims:
            check_scalar(d, "dims", kind=int, low=1)
        return tuple(sorted(set(dims)))

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        Y: Any,
        scenario: Any = None,
        subscenario: Any = None,
        items: Sequence[str] | None = None,
        progress: bool | Callable[[str], Any] = False,
    ) -> TinyBenchmark:
        """Fit on training models' full responses.

        Parameters
        ----------
        Y : array_like (n_models, n_items) or EvalData
            Scores in [0, 1] (NaN = missing). Items may be fractional; the IRT model then
            treats them as Bernoulli targets.
        scenario, subscenario : sequence of str, optional
            Per-item labels (an EvalData brings its own).
        items : sequence of str, optional
            Item ids (default ``"0"``, ``"1"``, ...; an EvalData brings its own).
        progress : bool or callable
            True prints the steps to stderr; a callable receives each step's message.

        Returns
        -------
        self
        """
        dims = self._check_params()
        say = _reporter(progress)
        data = as_eval_data(Y, scenario, subscenario, items)
        layout = Layout.of(data)
        layout.check_budget(self.n_anchors)
        n_models = data.scores.shape[0]
        if n_models < 2 * self.cv_folds and n_models < 4:
            raise InvalidArgumentError(
                f"Y: {n_models} training models are too few for cross-validation; pass at least 4"
            )
        seed = seed_from_rng(self.random_state, "random_state")
        folds = _folds(n_models, min(self.cv_folds, n_models), seed)
        c = 1.0 if self.method in ("random", "fisher") else 4.0
        v = _item_variance(data.scores, layout)

        # Fold 0 chooses the dimension and gives b (the p-IRT validation error) for λ.
        held = folds == 0
        dim_errors: dict[int, float] = {}
        fold_results: dict[int, dict[str, np.ndarray]] = {}
        per_dim: dict[int, dict[str, np.ndarray]] = {}
        for d in dims:
            say(f"validation fit: IRT dims={d} on {int((~held).sum())} models")
            per_dim[d] = self._holdout(data.scores, layout, ~held, held, d, seed)
            dim_errors[d] = float(np.nanmean(np.abs(per_dim[d]["pirt"] - per_dim[d]["truth"])))
        best = min(dim_errors.values())
        chosen = next(d for d in dims if dim_errors[d] - best <= self.dim_tol)
        fold_results[0] = per_dim[chosen]
        b = np.nanmean(np.abs(per_dim[chosen]["pirt"] - per_dim[chosen]["truth"]), axis=0)
        lam = np.array(
            [gpirt_lambda(float(b[k]), float(v[k]), self.n_anchors, c) for k in range(len(b))]
        )
        for f in range(1, int(folds.max()) + 1):
            say(f"cross-validation fold {f + 1}/{int(folds.max()) + 1}")
            fold_results[f] = self._holdout(
                data.scores, layout, folds != f, folds == f, chosen, seed
            )

        errors: dict[str, list[np.ndarray]] = {e: [] for e in ESTIMATORS}
        for res in fold_results.values():
            errors["naive"].append(np.abs(res["naive"] - res["truth"]))
            errors["pirt"].append(np.abs(res["pirt"] - res["truth"]))
            gp = gpirt_estimate(res["naive"], res["pirt"], lam[None, :])
            errors["gpirt"].append(np.abs(gp - res["truth"]))
        cv = {e: np.nanmean(np.vstack(errors[e]), axis=0) for e in ESTIMATORS}

        say(f"final fit: IRT dims={chosen} on all {n_models} models, {self.method} anchors")
        irt = self._fit_irt(data.scores, chosen, seed)
        anchors = _select(
            layout, data.scores, self.n_anchors, self.method, irt, self.n_restarts, seed, None
        )
        self._set_fitted(data, layout, irt, anchors, lam, cv, chosen, dim_errors)
        return self

    def _fit_irt(self, scores: np.ndarray, dims: int, seed: int) -> Any:
        from ..irt import IRT

        params = dict(self.irt_params or {})
        model = IRT(model=self.irt_model, dims=dims, random_state=seed, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning of inner fits
            return model.fit(scores)

    def _holdout(
        self,
        scores: np.ndarray,
        layout: Layout,
        train: np.ndarray,
        test: np.ndarray,
        dims: int,
        seed: int,
    ) -> dict[str, np.ndarray]:
        """Fit on ``train`` models, estimate the ``test`` models from their anchors."""
        train_scores = scores[train]
        irt = self._fit_irt(train_scores, dims, seed)
        anchors = _select(
            layout,
            train_scores,
            self.n_anchors,
            self.method,
            irt,
            self.n_restarts,
            seed,
            None,
        )
        y = scores[test]
        naive, pirt, _ = _estimate(layout, irt, anchors, y, self.joint, self.ability)
        return {"naive": naive, "pirt": pirt, "truth": layout.true_scores(y)}

    def _set_fitted(
        self,
        data: EvalData,
        layout: Layout,
        irt: Any,
        anchors: dict[str, AnchorSet],
        lam: np.ndarray,
        cv: dict[str, np.ndarray],
        dims: int,
        dim_errors: dict[int, float],
    ) -> None:
        self._data = data
        self._layout = layout
        self.irt_ = irt
        self.scenarios_ = list(layout.scenarios)
        self.items_ = list(data.items)
        self.balance_weights_ = layout.bw
        self.anchor_index_ = {s: a.index for s, a in anchors.items()}
        self.anchors_ = {s: [data.items[i] for i in a.index] for s, a in anchors.items()}
        self.weights_ = {s: a.weights for s, a in anchors.items()}
        self.lambda_ = {s: float(lam[k]) for k, s in enumerate(self.scenarios_)}
        self.cv_error_ = {
            s: {e: float(cv[e][k]) for e in ESTIMATORS} for k, s in enumerate(self.scenarios_)
        }
        self.dims_ = int(dims)
        self.dim_errors_ = {int(d): float(e) for d, e in dim_errors.items()}
        self._anchor_sets = anchors
        self._prepare()

    def _prepare(self) -> None:
        """Pre-computes index arrays so that estimating a model is a few vector operations."""
        self._all_anchors = np.concatenate([self._anchor_sets[s].index for s in self.scenarios_])
        self._anchor_pos = {item: j for j, item in enumerate(self.anchor_items())}

    def anchor_items(self) -> list[str]:
        """All anchor item ids, scenario by scenario (the column order :meth:`estimate`
        accepts for an array)."""
        self._check_fitted()
        return [self.items_[i] for i in self._all_anchors]

    # ------------------------------------------------------------------ estimating
    def estimate(self, responses: Any) -> TinyEstimate:
        """Estimate scenario scores of new models from their anchor responses alone.

        Parameters
        ----------
        responses : mapping item id -> score, array_like or EvalData
            A mapping (one model) must hold every anchor item id (extra items are ignored).
            An array has shape (n_anchors_total,) or (n_models, n_anchors_total) in the order
            of :meth:`anchor_items`, or (n_models, n_items) over all items (only the anchor
            columns are read). An EvalData is matched by item id.

        Returns
        -------
        TinyEstimate
        """
        self._check_fitted()
        y = self._anchor_matrix(responses)
        naive, pirt, theta = _estimate(
            self._layout,
            self.irt_,
            self._anchor_sets,
            y,
            self.joint,
            self.ability,
            anchor_only=True,
        )
        lam = np.array([self.lambda_[s] for s in self.scenarios_])
        gp = gpirt_estimate(naive, pirt, lam[None, :])
        chosen = {"naive": naive, "pirt": pirt, "gpirt": gp}[self.estimator]
        cv = np.array([self.cv_error_[s][self.estimator] for s in self.scenarios_])
        return TinyEstimate(
            scenarios=list(self.scenarios_),
            naive=naive,
            pirt=pirt,
            gpirt=gp,
            estimate=chosen,
            cv_error=cv,
            theta=theta,
        )

    def _anchor_matrix(self, responses: Any) -> np.ndarray:
        names = self.anchor_items()
        n_total = len(names)
        if isinstance(responses, EvalData):
            have = set(responses.items)
            missing = [i for i in names if i not in have]
            if missing:
                raise InvalidArgumentError(
                    f"responses: {len(missing)} anchor item(s) are not in the data, e.g. "
                    f"{missing[:3]}; run the models on every item of anchor_items()"
                )
            y = responses.select(items=names).scores
        elif isinstance(responses, Mapping):
            known = self.__dict__.setdefault("_item_set", set(self.items_))
            unknown = [k for k in responses if str(k) not in known]
            if unknown:
                raise InvalidArgumentError(
                    f"responses: {len(unknown)} item id(s) are not items of this benchmark, "
                    f"e.g. {unknown[:3]}; use ids from items_ / anchor_items()"
                )
            given = {str(k): v for k, v in responses.items()}
            missing = [i for i in names if i not in given]
            if missing:
                raise InvalidArgumentError(
                    f"responses: missing {len(missing)} of the {n_total} anchor items, e.g. "
                    f"{missing[:3]}; run the model on every item of anchor_items()"
                )
            y = np.array([[float(given[i]) for i in names]])
        else:
            arr = np.asarray(responses, dtype=np.float64)
            arr = arr.reshape(1, -1) if arr.ndim == 1 else arr
            if arr.ndim != 2 or arr.shape[1] not in (n_total, len(self.items_)):
                raise ShapeError(
                    f"responses: expected {n_total} anchor columns (anchor_items() order) or "
                    f"{len(self.items_)} columns (all items), got shape {np.shape(responses)}"
                )
            y = arr if arr.shape[1] == n_total else arr[:, self._all_anchors]
        bad = np.isnan(y)
        if bad.any():
            r, j = (int(v) for v in np.argwhere(bad)[0])
            raise InvalidArgumentError(
                f"responses: anchor item {names[j]!r} has no score for model {r} "
                f"({int(bad.sum())} missing in all); every anchor needs a response"
            )
        if ((y < 0) | (y > 1)).any():
            raise InvalidArgumentError("responses: scores must lie in [0, 1]")
        return np.ascontiguousarray(y)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Save to a JSON file.

        Format (``format = "calipers.tiny"``, ``version = 2``; version 1 files still load): ``params`` (constructor
        arguments; ``random_state`` dropped), ``items`` (all item ids), ``scenario`` and
        ``subscenario`` (per-item labels or null), ``balance_weights``, ``dims`` (chosen IRT
        dimension), ``dim_errors``, ``irt`` (the IRT model's own saved state, schema
        ``"calipers.irt"`` version 1: see :meth:`calipers.irt.IRT.save`), and ``scenarios``: a mapping scenario -> ``anchors`` (item ids),
        ``anchor_index`` (positions in ``items``), ``weights``, ``lambda``, ``cv_error``
        (estimator -> mean absolute error). Floats are written with full precision, so a
        loaded model gives bit-identical estimates.
        """
        self._check_fitted()
        layout = self._layout
        state = {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "params": self.get_params() | {"random_state": None},
            "items": self.items_,
            "scenario": layout.scenario.tolist(),
            "subscenario": None if layout.subscenario is None else layout.subscenario.tolist(),
            "balance_weights": layout.bw.tolist(),
            "dims": self.dims_,
            "dim_errors": {str(k): v for k, v in self.dim_errors_.items()},
            "irt": self.irt_._state() | {"theta": None},  # training abilities not needed
            "scenarios": {
                s: {
                    "anchors": self.anchors_[s],
                    "anchor_index": self.anchor_index_[s].tolist(),
                    "weights": self.weights_[s].tolist(),
                    "lambda": self.lambda_[s],
                    "cv_error": self.cv_error_[s],
                }
                for s in self.scenarios_
            },
        }
        if isinstance(state["params"]["dims"], tuple):
            state["params"]["dims"] = list(state["params"]["dims"])
        path = Path(path)
        path.write_text(json.dumps(state, indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> TinyBenchmark:
        """Load a model written by :meth:`save`, validating every field.

        Raises
        ------
        InvalidArgumentError
            The file cannot be read, is not a saved TinyBenchmark, has an unknown format
            version, or has a missing or inconsistent field (the message names the file and
            the problem).
        """
        path = Path(path)
        try:
            state = json.loads(path.read_bytes().decode("utf-8"))
        except OSError as exc:
            raise InvalidArgumentError(f"path: could not read {path} ({exc})") from None
        except ValueError as exc:
            raise _corrupt_tiny(path, f"not JSON ({exc})") from None
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise _corrupt_tiny(path, f"'format' is not {_FORMAT!r}")
        if state.get("version") not in (1, _FORMAT_VERSION):
            raise InvalidArgumentError(
                f"path: {path} has format version {state.get('version')!r}; this calipers "
                f"reads versions 1 and {_FORMAT_VERSION}"
            )
        try:
            return cls._from_state(state, path)
        except InvalidArgumentError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise _corrupt_tiny(path, f"{type(exc).__name__}: {exc}") from None

    @classmethod
    def _from_state(cls, state: dict[str, Any], path: Path) -> TinyBenchmark:
        from ..irt import IRT

        params = state["params"]
        valid = set(inspect.signature(cls.__init__).parameters) - {"self"}
        if not isinstance(params, dict) or not set(params) <= valid:
            raise _corrupt_tiny(path, "'params' is not a mapping of TinyBenchmark arguments")
        model = cls(**params)
        items = state["items"]
        if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
            raise _corrupt_tiny(path, "'items' must be a non-empty list of item ids")
        n_items = len(items)
        scenario = np.asarray(state["scenario"], dtype=object)
        sub = state["subscenario"]
        for name, labels in (("scenario", scenario), ("subscenario", sub)):
            if labels is not None and np.shape(labels) != (n_items,):
                raise _corrupt_tiny(path, f"'{name}' must hold one label per item")
        if len(set(items)) != n_items:
            raise _corrupt_tiny(path, "'items' must be unique item ids")
        data = EvalData(  # the labels and ids alone: a loaded model keeps no training scores
            scores=np.empty((0, n_items)),
            models=[],
            items=list(items),
            scenario=scenario,
            subscenario=None if sub is None else np.asarray(sub, dtype=object),
        )
        bw = _finite_vector(state["balance_weights"], "balance_weights", n_items, path)
        layout = Layout.of(data, bw=bw)
        irt_state = state["irt"]
        if state["version"] == 1:  # the IRT part was a bare (model, dims, a, b, term_clip)
            irt_state = _irt_state_v1(irt_state)
        irt = IRT._from_state(irt_state, f"{path} (field 'irt')")
        if irt.b_.shape[0] != n_items:
            raise _corrupt_tiny(path, f"'irt' has {irt.b_.shape[0]} items but 'items' {n_items}")
        irt.theta_ = None
        scen = state["scenarios"]
        if not isinstance(scen, dict) or set(scen) != set(layout.scenarios):
            raise _corrupt_tiny(path, "'scenarios' must have one entry per scenario label")
        anchors = {s: _anchor_set(scen[s], s, layout, model.method, path) for s in layout.scenarios}
        lam = np.array([float(scen[s]["lambda"]) for s in layout.scenarios])
        if not np.all((lam >= 0) & (lam <= 1)):
            raise _corrupt_tiny(path, "a scenario's 'lambda' is outside [0, 1]")
        cv = {
            e: np.array([float(scen[s]["cv_error"][e]) for s in layout.scenarios])
            for e in ESTIMATORS
        }
        dims = state["dims"]
        if not isinstance(dims, int) or dims != irt.a_.shape[1]:
            raise _corrupt_tiny(path, f"'dims' ({dims!r}) does not match the IRT model")
        dim_errors = {int(k): float(v) for k, v in state["dim_errors"].items()}
        model._set_fitted(data, layout, irt, anchors, lam, cv, dims, dim_errors)
        return model


def _corrupt_tiny(path: Path, problem: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"path: {path} is not a valid saved calipers TinyBenchmark: {problem}; fit and save it "
        "again"
    )


def _irt_state_v1(p: dict[str, Any]) -> dict[str, Any]:
    """A version-1 TinyBenchmark's IRT fields as an IRT saved state (schema 1)."""
    return {
        "format": "calipers.irt",
        "version": 1,
        "params": {"model": p["model"], "dims": p["dims"]},
        "term_clip": p["term_clip"],
        "loglik": None,
        "n_iter": 0,
        "converged": True,
        "theta": None,
        "a": p["a"],
        "b": p["b"],
    }


def _finite_vector(values: Any, name: str, n: int, path: Path) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise _corrupt_tiny(path, f"'{name}' must hold {n} finite numbers")
    return arr


def _anchor_set(
    entry: dict[str, Any], s: str, layout: Layout, method: str, path: Path
) -> AnchorSet:
    index = np.asarray(entry["anchor_index"])
    if index.ndim != 1 or index.size == 0 or index.dtype.kind not in "iu":
        raise _corrupt_tiny(path, f"scenario {s!r}: 'anchor_index' must be a list of integers")
    if not np.isin(index, layout.index[s]).all():
        raise _corrupt_tiny(path, f"scenario {s!r}: an anchor is not an item of that scenario")
    weights = _finite_vector(entry["weights"], f"{s}.weights", index.size, path)
    return AnchorSet(scenario=s, index=index.astype(np.intp), weights=weights, method=method)


def _estimate(
    layout: Layout,
    irt: Any,
    anchors: dict[str, AnchorSet],
    y: np.ndarray,
    joint: bool,
    ability: str,
    anchor_only: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """naive and p-IRT estimates (n_models x n_scenarios) and the abilities used.

    ``y`` holds either every item's responses, or (``anchor_only``) only the anchors, in
    scenario order.
    """
    scen = layout.scenarios
    all_idx = np.concatenate([anchors[s].index for s in scen])
    cols: dict[str, np.ndarray] = {}
    start = 0
    for s in scen:
        n = anchors[s].index.size
        cols[s] = np.arange(start, start + n) if anchor_only else anchors[s].index
        start += n
    y_anchor = y if anchor_only else y[:, all_idx]
    n_models = y.shape[0]
    naive = np.empty((n_models, len(scen)))
    pirt = np.empty((n_models, len(scen)))
    if joint:
        theta = _ability(irt, y_anchor, all_idx, ability)
    thetas = []
    for k, s in enumerate(scen):
        a_idx, w = anchors[s].index, anchors[s].weights
        ya = y[:, cols[s]]
        if not joint:
            theta = _ability(irt, ya, a_idx, ability)
            thetas.append(theta)
        rest = layout.rest_index(s, a_idx)
        p_rest = irt.predict_proba(theta, rest)
        n_items = layout.index[s].size
        observed = ~np.isnan(ya)
        if observed.all():
            naive[:, k] = ya @ w
            pirt[:, k] = pirt_estimate(ya, layout.bw[a_idx], p_rest, layout.bw[rest], n_items)
            continue
        # Held-out training models may miss some anchors: use the observed ones.
        y0 = np.where(observed, ya, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            naive[:, k] = (y0 @ w) / (observed @ w)
            seen = (y0 * layout.bw[a_idx]).sum(axis=1) / observed.sum(axis=1)
        lam = a_idx.size / n_items
        rest_part = (p_rest * layout.bw[rest]).mean(axis=1) if rest.size else seen
        pirt[:, k] = lam * seen + (1 - lam) * rest_part
    theta_out = theta if joint else np.concatenate(thetas, axis=1)
    return naive, pirt, theta_out


def _ability(irt: Any, y: np.ndarray, items: np.ndarray, method: str) -> np.ndarray:
    theta = irt.score_new(y, items=items, method=method).theta
    # An MLE for all-correct / all-wrong answers is infinite; p(inf) is then exactly 1 / 0.
    return np.asarray(theta, dtype=np.float64)


def _item_variance(scores: np.ndarray, layout: Layout) -> np.ndarray:
    """v per scenario: mean over training models of the across-item variance of the scores."""
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        complete = not np.isnan(scores).any()
        for s in layout.scenarios:
            block = scores[:, layout.index[s]]
            var = np.var(block, axis=1) if complete else np.nanvar(block, axis=1)
            out.append(float(np.nanmean(var)) if np.isfinite(var).any() else 0.0)
    return np.asarray(out)


def _folds(n: int, k: int, seed: int) -> np.ndarray:
    """Fold label of each model: a seeded permutation cut into k near-equal parts."""
    order = np.random.default_rng(seed).permutation(n)
    labels = np.empty(n, dtype=np.intp)
    labels[order] = np.arange(n) % k
    return labels


def _reporter(progress: bool | Callable[[str], Any]) -> Callable[[str], Any]:
    if callable(progress):
        return progress
    if progress:
        return lambda msg: print(f"[calipers.tiny] {msg}", file=sys.stderr, flush=True)
    return lambda msg: None
