"""The benchmark data of :mod:`calipers.tiny`: scores come as (or are validated into) a
:class:`calipers.io.EvalData` with per-item scenario labels; :class:`Layout` is what the
estimators derive from those labels (items per scenario, balance weights)."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import as_float_array
from ..exceptions import InvalidArgumentError, ShapeError
from ..io import EvalData
from .estimators import _labels, _unique, balance_weights


def as_eval_data(
    Y: Any,
    scenario: Any = None,
    subscenario: Any = None,
    items: Sequence[str] | None = None,
) -> EvalData:
    """Scores in [0, 1] (NaN = missing) with one scenario label per item (``"all"`` without
    labels): ``Y`` is an EvalData (its labels and ids are used unless given) or a models x
    items array."""
    models = None
    if isinstance(Y, EvalData):
        scores = Y.scores
        scenario = Y.scenario if scenario is None else scenario
        subscenario = Y.subscenario if subscenario is None else subscenario
        items = Y.items if items is None else items
        models = Y.models
    else:
        scores = Y
    arr = as_float_array(scores, "Y", ndim=2, allow_empty=True, finite=False)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ShapeError(f"Y: expected a non-empty 2-D models x items array, got shape {arr.shape}")
    # nanmin/nanmax first (two passes); the element-wise search only when one fails
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN input: checked later
        out_of_range = np.nanmin(arr) < 0 or np.nanmax(arr) > 1
    bad = ~np.isnan(arr) & ((arr < 0) | (arr > 1)) if out_of_range else None
    if bad is not None and bad.any():
        r, c = (int(v) for v in np.argwhere(bad)[0])
        raise InvalidArgumentError(
            f"Y: value {arr[r, c]} at (model {r}, item {c}) is outside [0, 1]; scores must "
            "be correctness (0/1) or fractional scores in [0, 1], NaN for missing"
        )
    n_models, n_items = arr.shape
    scen = (
        np.full(n_items, "all", dtype=object) if scenario is None else _labels(scenario, "scenario")
    )
    if scen.shape != (n_items,):
        raise ShapeError(f"scenario: has {scen.size} labels for {n_items} items")
    sub = None if subscenario is None else _labels(subscenario, "subscenario")
    if sub is not None and sub.shape != (n_items,):
        raise ShapeError(f"subscenario: has {sub.size} labels for {n_items} items")
    item_ids = [str(i) for i in items] if items is not None else [str(j) for j in range(n_items)]
    if len(item_ids) != n_items:
        raise ShapeError(f"items: has {len(item_ids)} ids for {n_items} items")
    if len(set(item_ids)) != n_items:
        raise InvalidArgumentError("items: item ids must be unique")
    model_ids = list(models) if models is not None else [str(r) for r in range(n_models)]
    return EvalData(
        scores=np.ascontiguousarray(arr),
        models=model_ids,
        items=item_ids,
        scenario=scen,
        subscenario=sub,
        metric=Y.metric if isinstance(Y, EvalData) else None,
        source=Y.source if isinstance(Y, EvalData) else None,
    )


@dataclasses.dataclass(frozen=True, eq=False)
class Layout:
    """Items grouped by scenario, and the balance weights.

    Attributes
    ----------
    scenario, subscenario : ndarray of str (subscenario may be None)
        Per-item labels.
    bw : ndarray
        Balance weights (:func:`~calipers.tiny.balance_weights` of the labels, or as saved).
    scenarios : list of str
        Scenario names in order of first appearance.
    index : dict scenario -> ndarray of int
        Positions of each scenario's items.
    """

    scenario: np.ndarray
    subscenario: np.ndarray | None
    bw: np.ndarray
    scenarios: list[str]
    index: dict[str, np.ndarray]
    _cache: dict[Any, np.ndarray] = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, data: EvalData, bw: np.ndarray | None = None) -> Layout:
        """The layout of ``data``'s labels (an EvalData from :func:`as_eval_data`)."""
        scenario = data.scenario
        assert scenario is not None
        scenarios = _unique(scenario)
        return cls(
            scenario=scenario,
            subscenario=data.subscenario,
            bw=balance_weights(scenario, data.subscenario) if bw is None else bw,
            scenarios=scenarios,
            index={s: np.flatnonzero(scenario == s) for s in scenarios},
        )

    @property
    def n_items(self) -> int:
        return int(self.scenario.shape[0])

    def sub_of(self, idx: np.ndarray) -> np.ndarray:
        if self.subscenario is None:
            return np.zeros(idx.size, dtype=object)
        return self.subscenario[idx]

    def check_budget(self, n: int) -> None:
        small = {s: i.size for s, i in self.index.items() if i.size < n}
        if small:
            raise InvalidArgumentError(
                f"n_anchors: {n} anchors per scenario but scenario(s) {small} have fewer items; "
                "lower n_anchors or merge small scenarios"
            )

    def true_scores(self, y: np.ndarray) -> np.ndarray:
        """Balance-weighted scenario means of the score rows ``y`` (NaN-aware), shape
        (n_rows, n_scenarios)."""
        observed = ~np.isnan(y)
        if observed.all():
            # One matrix product with per-scenario weight columns (same sums, BLAS order).
            return y @ self.scenario_weights()
        out = np.empty((y.shape[0], len(self.scenarios)))
        for k, s in enumerate(self.scenarios):
            idx = self.index[s]
            obs = observed[:, idx]
            wy = np.where(obs, y[:, idx], 0.0) @ self.bw[idx]
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, k] = wy / (obs @ self.bw[idx])
        return out

    def scenario_weights(self) -> np.ndarray:
        """(n_items, n_scenarios): column s holds ``bw_i / Σ_{j in s} bw_j`` on s's items."""
        if "weights" not in self._cache:
            w = np.zeros((self.n_items, len(self.scenarios)))
            for k, s in enumerate(self.scenarios):
                idx = self.index[s]
                w[idx, k] = self.bw[idx] / self.bw[idx].sum()
            self._cache["weights"] = w
        return self._cache["weights"]

    def rest_index(self, s: str, a_idx: np.ndarray) -> np.ndarray:
        """Scenario ``s``'s items that are not among the anchors ``a_idx``."""
        key = (s, a_idx.tobytes())
        if key not in self._cache:
            idx = self.index[s]
            self._cache[key] = idx[~np.isin(idx, a_idx)]
        return self._cache[key]
