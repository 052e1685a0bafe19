"""The Sloth evaluation protocol and the baselines of the scaling papers.

* :func:`translog_features` — x = (log t, log s, log s · log t) from size and tokens.
* :data:`GUESSING_FLOORS` — the chance level c_j of each Open LLM Leaderboard benchmark.
* :data:`TEST_GROUPS` — the papers' test-family groups (a base family with its instruct and
  fine-tuned lines, so that no sibling leaks into training), per benchmark set and number of
  training models per family.
* :func:`leave_family_out` — "predict the larger models of a held-out family group from its
  smallest one(s)", aggregated as group mean, then mean over groups.
* Baselines: :class:`FlopsScalingLaw` (log FLOPs, shared or family intercept),
  :class:`SizeTokensScalingLaw` (translog per benchmark, family intercepts, learned link) and
  :class:`PCAFlopsScalingLaw` (PCA of the scores regressed on log FLOPs and family).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import as_float_array, as_labels, check_scalar
from ..exceptions import InvalidArgumentError, ShapeError

BENCHMARKS_V1 = ("MMLU", "ARC", "HellaSwag", "Winogrande", "TruthfulQA", "GSM8K")
BENCHMARKS_V2 = ("IFEval", "BBH", "MATH Lvl 5", "GPQA", "MUSR", "MMLU-PRO")


def _weighted_chance(counts_and_choices: list[tuple[int, int]]) -> float:
    """Item-count-weighted mean of 1/#choices over sub-tasks."""
    n = sum(c for c, _ in counts_and_choices)
    return sum(c / k for c, k in counts_and_choices) / n


# BBH sub-tasks (items, choices) and MUSR sub-tasks, from the leaderboard's documentation.
_BBH = [(250, 2), (187, 2), (250, 6), (250, 3), (250, 2), (250, 11), (250, 2), (250, 5),
        (250, 7), (250, 3), (250, 6), (250, 2), (250, 19), (146, 5), (250, 18), (250, 6),
        (250, 6), (178, 2), (250, 2), (250, 4), (250, 5), (250, 7), (250, 3), (250, 2)]  # fmt: skip
_MUSR = [(250, 2), (256, 5), (250, 3)]

#: Guessing floor c_j per benchmark (chance accuracy; TruthfulQA: the 1st percentile of the
#: leaderboard's scores), as used by the Sloth experiments.
GUESSING_FLOORS: dict[str, float] = {
    "MMLU": 0.25,
    "HellaSwag": 0.25,
    "Winogrande": 0.5,
    "GSM8K": 0.0,
    "ARC": 0.25,
    "TruthfulQA": 0.31,
    "IFEval": 0.0,
    "MATH Lvl 5": 0.0,
    "MMLU-PRO": 0.1,
    "BBH": _weighted_chance(_BBH),
    "GPQA": 0.25,
    "MUSR": _weighted_chance(_MUSR),
}

#: The test-family groups of the Sloth experiments: ``TEST_GROUPS[(benchmark_set,
#: n_train_per_family)]`` with benchmark_set in "v1", "v2", "v1+v2" (family names of the
#: ``Family2`` column of the Sloth table).
TEST_GROUPS: dict[tuple[str, int], list[list[str]]] = {
    ("v1", 1): [
        ["bloom"], ["codegen-nl"], ["codellama"], ["deepseek-coder-base"],
        ["pythia", "dolly-v2"], ["falcon"], ["gemma", "gemma-it", "sauerkrautlm-gemma"],
        ["gpt-j-neo-neox"], ["internlm2"], ["meta-llama-3", "meta-llama-3-instruct"],
        ["mpt", "mpt-chat", "mpt-instruct"], ["olmo"], ["opt"], ["qwen2"], ["rwkv-4-pile"],
        ["starcoder2"], ["stablelm-base-alpha"], ["xglm"],
        ["yi-1.5", "yi-1.5-chat", "dolphin-2.9.1-yi-1.5"],
    ],
    ("v2", 1): [
        ["bloom"], ["pythia", "dolly-v2"], ["falcon", "falcon-instruct"],
        ["gemma-2", "gemma-2-it"], ["gpt-j-neo-neox"],
        ["meta-llama-3", "meta-llama-3-instruct", "llama-3-sauerkrautlm-instruct"], ["olmo"],
        ["opt"], ["qwen2", "qwen2-instruct", "dolphin-2.9.2-qwen2"], ["starcoder2"],
        ["smollm", "smollm-instruct"], ["yi-1.5", "yi-1.5-chat", "dolphin-2.9.1-yi-1.5"],
    ],
    ("v1+v2", 1): [
        ["bloom"], ["pythia", "dolly-v2"], ["falcon"], ["gemma", "gemma-it", "sauerkrautlm-gemma"],
        ["gpt-j-neo-neox"], ["meta-llama-3", "meta-llama-3-instruct"], ["olmo"], ["opt"],
        ["qwen2"], ["starcoder2"], ["yi-1.5", "yi-1.5-chat", "dolphin-2.9.1-yi-1.5"],
    ],
    ("v1", 2): [
        ["bloom"], ["codellama"], ["deepseek-coder-base"], ["falcon"], ["gpt-j-neo-neox"],
        ["llama-2", "llama-2-chat"], ["open_llama_"], ["opt"], ["pythia"],
        ["qwen1.5", "qwen1.5-chat"], ["qwen2"], ["rwkv-4-pile"], ["starcoder2"], ["xglm"],
        ["yi-1.5", "yi-1.5-chat"],
    ],
    ("v2", 2): [
        ["bloom"], ["llama-2", "llama-2-chat"], ["orca_mini_v3_"], ["pythia", "dolly-v2"],
        ["qwen1.5", "qwen1.5-chat"], ["qwen2", "qwen2-instruct"], ["smollm", "smollm-instruct"],
        ["starcoder2"], ["yi-1.5", "yi-1.5-chat"],
    ],
    ("v1+v2", 2): [
        ["bloom"], ["llama-2", "llama-2-chat"], ["pythia"], ["qwen1.5", "qwen1.5-chat"],
        ["qwen2"], ["starcoder2"], ["yi-1.5", "yi-1.5-chat"],
    ],
}  # fmt: skip


def translog_features(size: Any, tokens: Any) -> np.ndarray:
    """Translog features x = (log t, log s, log s · log t), natural logs.

    Parameters
    ----------
    size : array_like, shape (n,)
        Parameters (any fixed unit, e.g. billions); positive.
    tokens : array_like, shape (n,)
        Pre-training tokens (any fixed unit, e.g. trillions); positive.

    Returns
    -------
    ndarray, shape (n, 3)
        Columns log t, log s, log s · log t (the layout every calipers.scaling function
        expects; a change of units is a linear reparametrisation and gives the same fit).
    """
    s = as_float_array(size, "size", ndim=1)
    t = as_float_array(tokens, "tokens", ndim=1)
    if s.shape != t.shape:
        raise ShapeError(f"size and tokens: lengths differ ({s.shape[0]} vs {t.shape[0]})")
    for arr, name in ((s, "size"), (t, "tokens")):
        if np.any(arr <= 0):
            i = int(np.flatnonzero(arr <= 0)[0])
            raise InvalidArgumentError(
                f"{name}: must be positive (log scale), got {arr[i]} at index {i}"
            )
    ls, lt = np.log(s), np.log(t)
    return np.column_stack([lt, ls, ls * lt])


def floors_for(benchmarks: list[str] | tuple[str, ...]) -> np.ndarray:
    """GUESSING_FLOORS for the named benchmarks (error naming an unknown one)."""
    out = []
    for b in benchmarks:
        if b not in GUESSING_FLOORS:
            raise InvalidArgumentError(
                f"benchmarks: no guessing floor known for {b!r}; pass floor= explicitly "
                f"(known: {sorted(GUESSING_FLOORS)})"
            )
        out.append(GUESSING_FLOORS[b])
    return np.array(out, dtype=np.float64)


# ---------------------------------------------------------------------------- protocol


def _is_estimator(x: Any) -> bool:
    return hasattr(x, "fit") and hasattr(x, "predict")


def split_family_groups(
    families: Any,
    groups: list[list[Any]],
    n_train_per_family: int = 1,
    order: Any = None,
) -> list[tuple[list[Any], np.ndarray, np.ndarray]]:
    """(group, train mask, test mask) of the leave-family-out protocol, one per group.

    For each group, the ``n_train_per_family`` smallest models (by ``order``, stable) of each
    of its families are trained on with every row of the other families; the group's remaining
    models are the test rows. Groups without test rows are dropped.
    """
    fam = as_labels(families, "families", what="model")
    n = fam.shape[0]
    n_train_per_family = check_scalar(n_train_per_family, "n_train_per_family", kind=int, low=1)
    key = np.arange(n, dtype=np.float64) if order is None else as_float_array(order, "order")
    if key.shape != (n,):
        raise ShapeError(f"order: expected one value per row ({n}), got shape {key.shape}")
    out = []
    for g in groups:
        if isinstance(g, str) or not hasattr(g, "__iter__"):
            raise InvalidArgumentError(
                f"groups: each group must be a list of family labels, got {g!r}"
            )
        train = np.ones(n, dtype=bool)
        test = np.zeros(n, dtype=bool)
        for f in g:
            rows = np.flatnonzero(fam == f)
            rows = rows[np.argsort(key[rows], kind="stable")]
            train[rows[n_train_per_family:]] = False
            test[rows[n_train_per_family:]] = True
        if test.any():
            out.append((list(g), train, test))
    return out


class LeaveFamilyOutResult:
    """Errors of one method under the leave-family-out protocol.

    Attributes
    ----------
    benchmarks : tuple of str
    groups : list of list
        The groups that had test models.
    group_mae : ndarray, shape (n_groups, J)
        Mean absolute error per group and benchmark (in score units, e.g. 0.0365).
    mae_per_benchmark : ndarray, shape (J,)
        Group mean, then mean over groups (the papers' aggregation).
    mae_mean : float
        Mean of ``mae_per_benchmark``.
    predictions : list of ndarray
        Predicted scores of each group's test rows.
    test_rows : list of ndarray
        Indices of each group's test rows.
    """

    def __init__(self, benchmarks, groups, group_mae, predictions, test_rows):
        self.benchmarks = tuple(benchmarks)
        self.groups = groups
        self.group_mae = np.asarray(group_mae)
        self.mae_per_benchmark = self.group_mae.mean(axis=0)
        self.mae_mean = float(self.mae_per_benchmark.mean())
        self.predictions = predictions
        self.test_rows = test_rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmarks": list(self.benchmarks),
            "groups": [list(map(str, g)) for g in self.groups],
            "group_mae": self.group_mae.tolist(),
            "mae_per_benchmark": self.mae_per_benchmark.tolist(),
            "mae_mean": self.mae_mean,
        }

    def __repr__(self) -> str:
        per = ", ".join(
            f"{b}={100 * v:.2f}"
            for b, v in zip(self.benchmarks, self.mae_per_benchmark, strict=False)
        )
        return f"LeaveFamilyOutResult(mae_mean={100 * self.mae_mean:.2f} pp; {per})"


class ScalingComparison:
    """Several methods under the same leave-family-out protocol: ``results[name]`` and a
    table in percentage points (``print(comparison)``)."""

    def __init__(self, results: dict[str, LeaveFamilyOutResult]):
        self.results = results

    def __getitem__(self, name: str) -> LeaveFamilyOutResult:
        return self.results[name]

    @property
    def mae_mean(self) -> dict[str, float]:
        return {k: r.mae_mean for k, r in self.results.items()}

    def to_dict(self) -> dict[str, Any]:
        return {k: r.to_dict() for k, r in self.results.items()}

    def __str__(self) -> str:
        first = next(iter(self.results.values()))
        width = max(10, *(len(k) for k in self.results))
        head = f"{'method':<{width}}" + "".join(f"{b[:10]:>11}" for b in first.benchmarks)
        lines = ["MAE (pp), group mean then mean over groups", head + f"{'avg':>8}"]
        for k, r in self.results.items():
            row = "".join(f"{100 * v:11.2f}" for v in r.mae_per_benchmark)
            lines.append(f"{k:<{width}}{row}{100 * r.mae_mean:8.2f}")
        return "\n".join(lines)

    __repr__ = __str__


def leave_family_out(
    estimator: Any,
    features: Any,
    families: Any,
    scores: Any,
    *,
    groups: list[list[Any]],
    n_train_per_family: int = 1,
    order: Any = None,
    benchmarks: Any = None,
    progress: Any = False,
) -> Any:
    """The papers' protocol: predict the larger models of held-out family groups from their
    smallest one(s).

    For each group (a base family with its instruct/fine-tuned lines), the
    ``n_train_per_family`` smallest models of each of its families join every other family in
    training; the group's other models are predicted. Errors are averaged within the group
    first, then over groups.

    Parameters
    ----------
    estimator : estimator or dict of str to estimator
        Anything with ``fit(features, families, scores)`` and ``predict(features, families)``
        (:class:`SkillScalingLaw`, the baselines here); a dict compares several at once.
    features : array_like, shape (n, 3)
        :func:`translog_features` (log tokens, log size, their product).
    families : array_like, shape (n,)
    scores : array_like or DataFrame, shape (n, J)
        Scores in [0, 1]; test cells that are NaN are left out of the errors.
    groups : list of list of labels
        Test-family groups, e.g. ``TEST_GROUPS[("v2", 1)]``.
    n_train_per_family : int
        Smallest models of each held-out family used in training.
    order : array_like, shape (n,), optional
        What "smallest" means (default: column 1 of ``features``, log size).
    benchmarks : list of str, optional
        Names of the score columns (default: DataFrame columns).
    progress : bool or callable

    Returns
    -------
    LeaveFamilyOutResult, or ScalingComparison for a dict of estimators.

    Examples
    --------
    >>> from calipers.scaling import (SkillScalingLaw, leave_family_out, TEST_GROUPS,
    ...     GUESSING_FLOORS, load_sloth_table)                        # doctest: +SKIP
    >>> t = load_sloth_table("data_v2.csv", "v2")                     # doctest: +SKIP
    >>> law = SkillScalingLaw(2, floor=GUESSING_FLOORS, random_state=0)  # doctest: +SKIP
    >>> cv = leave_family_out(law, t.features, t.families, t.scores,
    ...     groups=TEST_GROUPS[("v2", 1)], benchmarks=t.benchmarks)   # doctest: +SKIP
    """
    from ._law import SkillScalingLaw, _scores

    single = not isinstance(estimator, dict)
    methods = {"model": estimator} if single else dict(estimator)
    for name, est in methods.items():
        if not _is_estimator(est):
            raise InvalidArgumentError(
                f"estimator: {name!r} has no fit/predict; pass an estimator or a dict of them"
            )
    X = _translog(features)
    Y, columns = _scores(scores)
    names = tuple(benchmarks) if benchmarks is not None else columns
    if names is None:
        names = tuple(f"benchmark {j}" for j in range(Y.shape[1]))
    fam = as_labels(families, "families", what="model")
    if fam.shape != (X.shape[0],) or Y.shape[0] != X.shape[0]:
        raise ShapeError("features, families and scores must have the same number of rows")
    n_train = check_scalar(n_train_per_family, "n_train_per_family", kind=int, low=1)
    key = X[:, 1] if order is None else order
    splits = split_family_groups(fam, groups, n_train, key)
    if not splits:
        raise InvalidArgumentError(
            "groups: no group has a test model (check the family labels and n_train_per_family)"
        )
    kept = [g for g, _, _ in splits]
    results = {}
    for name, est in methods.items():
        # One Rust batch for the Huber fits of every group; any other kind fits group by group.
        if (
            isinstance(est, SkillScalingLaw)
            and est.family_effect == "fixed"
            and est.loss == "huber"
        ):
            from .._validation import seed_from_rng

            seed = seed_from_rng(est.random_state, "random_state")
            prepared = [est._prepare(X[tr], fam[tr], Y[tr], names) for _, tr, _ in splits]
            base = _clone_any(est)
            fitted = base._fit_fixed_many(prepared, [seed] * len(prepared), progress)
        else:
            fitted = []
            for _, tr, _ in splits:
                m = _clone_any(est)
                m.fit(X[tr], fam[tr], Y[tr], benchmarks=names)
                fitted.append(m)
        group_mae, preds, rows = [], [], []
        for m, (_, _, te) in zip(fitted, splits, strict=False):
            p = m.predict(X[te], fam[te])
            err = np.abs(p - Y[te])
            group_mae.append(np.nanmean(err, axis=0))
            preds.append(p)
            rows.append(np.flatnonzero(te))
        results[name] = LeaveFamilyOutResult(names, kept, group_mae, preds, rows)
    return results["model"] if single else ScalingComparison(results)


def _clone_any(est: Any) -> Any:
    if hasattr(est, "get_params"):
        return type(est)(**est.get_params(deep=False))
    import copy

    return copy.deepcopy(est)


# ---------------------------------------------------------------------------- baselines

_LOG6 = float(np.log(6.0))


def _translog(features: Any) -> np.ndarray:
    """Translog features (n, 3): log t, log s, their product."""
    X = as_float_array(features, "features", ndim=2)
    if X.shape[1] != 3:
        raise ShapeError(
            f"features: expected 3 columns (log tokens, log size, their product; see "
            f"translog_features), got {X.shape[1]}"
        )
    return X


def _check_rows(Y: np.ndarray, n: int) -> None:
    if Y.shape[0] != n:
        raise ShapeError(f"scores: has {Y.shape[0]} rows but features has {n}; one per model")


def log_flops(features: np.ndarray) -> np.ndarray:
    """log(6 · s · t) from translog features (columns log t, log s)."""
    return _LOG6 + features[:, 0] + features[:, 1]


class _PerBenchmarkBaseline:
    """Shared fit/predict of the single-benchmark baselines."""

    _fitted_attribute = "fits_"

    def _features(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _family_input(self, fam: np.ndarray, n: int) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def _fit_impl(self, features, families, scores, benchmarks, *, family_intercept,
                  learn_floor, monotone):  # fmt: skip
        from .._validation import seed_from_rng
        from ._law import _labels, _scores, fit_per_benchmark

        X = _translog(features)
        Y, columns = _scores(scores)
        _check_rows(Y, X.shape[0])
        labels = _labels(families, X.shape[0])
        names = tuple(benchmarks) if benchmarks is not None else columns
        floor = _baseline_floor(self.floor, Y.shape[1], names)
        self.families_, fam_idx = np.unique(labels, return_inverse=True)
        self._family_intercept = family_intercept
        if not family_intercept:
            fam_idx = np.zeros_like(fam_idx)
        Xf = np.ascontiguousarray(self._features(X))
        self._floor = floor
        self.fits_ = fit_per_benchmark(
            Xf, fam_idx.astype(np.int64), len(self.families_) if family_intercept else 1, Y, floor,
            learn_floor=learn_floor, monotone=monotone, n_starts=self.n_starts,
            seed=seed_from_rng(self.random_state, "random_state"),
        )  # fmt: skip
        return self

    def predict(self, features: Any, families: Any) -> np.ndarray:
        """Predicted scores (m, J) of models of families seen in fit (any family for the
        shared intercept)."""
        from . import _objective as obj
        from ._law import _labels

        if not hasattr(self, "fits_"):
            from ..exceptions import NotFittedError

            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")
        X = _translog(features)
        labels = _labels(families, X.shape[0])
        if self._family_intercept:
            pos = np.clip(np.searchsorted(self.families_, labels), 0, len(self.families_) - 1)
            if np.any(self.families_[pos] != labels):
                raise InvalidArgumentError("families: a family was not seen in fit")
        else:
            pos = np.zeros(X.shape[0], dtype=np.int64)
        Xf = self._features(X)
        cols = [
            obj.predict(theta, lay, Xf, pos, self._floor[j : j + 1])[:, 0]
            for j, (theta, lay) in enumerate(self.fits_)
        ]
        return np.column_stack(cols)


def _baseline_floor(floor: Any, J: int, names: Any) -> np.ndarray:
    if floor is None:
        return np.zeros(J)
    if isinstance(floor, dict):
        if names is None:
            raise InvalidArgumentError("floor: a dict of floors needs benchmark names")
        return np.array([float(floor[b]) for b in names])
    return np.broadcast_to(as_float_array(floor, "floor", ndim=(0, 1)), (J,)).copy()


class FlopsScalingLaw(_PerBenchmarkBaseline):
    """Per-benchmark sigmoid in log FLOPs (Owen 2024-style baseline of the papers).

    ŷ_j = c_j + (1 − c_j)·σ(w_j log F + a), with one intercept (``intercept="shared"``) or one
    per family (``"family"``); floors learned starting at ``floor``. log F = log(6 s t) is
    computed from the translog features.
    """

    def __init__(self, intercept: str = "shared", *, floor: Any = None, n_starts: int = 5,
                 random_state: Any = 0):  # fmt: skip
        self.intercept = intercept
        self.floor = floor
        self.n_starts = n_starts
        self.random_state = random_state

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"intercept": self.intercept, "floor": self.floor, "n_starts": self.n_starts,
                "random_state": self.random_state}  # fmt: skip

    def _features(self, X: np.ndarray) -> np.ndarray:
        return log_flops(X)[:, None]

    def fit(self, features: Any, families: Any, scores: Any, *, benchmarks: Any = None):
        """Fit one curve per benchmark; returns self."""
        if self.intercept not in ("shared", "family"):
            raise InvalidArgumentError(
                f"intercept: expected 'shared' or 'family', got {self.intercept!r}"
            )
        return self._fit_impl(features, families, scores, benchmarks,
                              family_intercept=self.intercept == "family",
                              learn_floor=True, monotone=False)  # fmt: skip


class SizeTokensScalingLaw(_PerBenchmarkBaseline):
    """Per-benchmark translog law with family intercepts and a learned monotone link (the
    papers' "Size and Tokens" baseline): the logistic fit with fixed floors, then the
    learned link with learned floors, warm-started."""

    def __init__(self, *, floor: Any = None, n_starts: int = 5, random_state: Any = 0):
        self.floor = floor
        self.n_starts = n_starts
        self.random_state = random_state

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"floor": self.floor, "n_starts": self.n_starts, "random_state": self.random_state}

    def _features(self, X: np.ndarray) -> np.ndarray:
        return X

    def fit(self, features: Any, families: Any, scores: Any, *, benchmarks: Any = None):
        """Fit one law per benchmark; returns self."""
        return self._fit_impl(features, families, scores, benchmarks, family_intercept=True,
                              learn_floor=False, monotone=True)  # fmt: skip


class PCAFlopsScalingLaw:
    """PCA of the scores regressed on log FLOPs and family (Ruan et al. 2024-style baseline):
    the training scores' first ``n_components`` principal components are fitted by least
    squares on [log F, family one-hot] and mapped back."""

    def __init__(self, n_components: int = 2):
        self.n_components = n_components

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"n_components": self.n_components}

    def fit(self, features: Any, families: Any, scores: Any, *, benchmarks: Any = None):
        """Fit; scores must be complete (no NaN). Returns self."""
        from ._law import _labels, _scores

        X = _translog(features)
        Y, _ = _scores(scores)
        _check_rows(Y, X.shape[0])
        if np.isnan(Y).any():
            raise InvalidArgumentError("scores: the PCA baseline needs complete scores (no NaN)")
        k = check_scalar(self.n_components, "n_components", kind=int, low=1, high=Y.shape[1])
        labels = _labels(families, X.shape[0])
        self.families_, fam_idx = np.unique(labels, return_inverse=True)
        self.mean_ = Y.mean(axis=0)
        _, _, vt = np.linalg.svd(Y - self.mean_, full_matrices=False)
        self.components_ = vt[:k]
        pcs = (Y - self.mean_) @ self.components_.T
        design = self._design(X, fam_idx)
        self.coef_ = np.linalg.lstsq(design, pcs, rcond=None)[0]
        return self

    def _design(self, X: np.ndarray, fam_idx: np.ndarray) -> np.ndarray:
        D = np.zeros((X.shape[0], len(self.families_)))
        D[np.arange(X.shape[0]), fam_idx] = 1.0
        return np.column_stack([log_flops(X), D])

    def predict(self, features: Any, families: Any) -> np.ndarray:
        """Predicted scores of models of families seen in fit."""
        from ._law import _labels

        X = _translog(features)
        labels = _labels(families, X.shape[0])
        pos = np.clip(np.searchsorted(self.families_, labels), 0, len(self.families_) - 1)
        if np.any(self.families_[pos] != labels):
            raise InvalidArgumentError("families: a family was not seen in fit")
        return (self._design(X, pos) @ self.coef_) @ self.components_ + self.mean_


def paper_baselines(floor: Any = None, random_state: Any = 0) -> dict[str, Any]:
    """The baselines of the Sloth paper, ready for :func:`leave_family_out`."""
    return {
        "FLOPs (shared intercept)": FlopsScalingLaw(
            "shared", floor=floor, random_state=random_state
        ),
        "FLOPs (family intercept)": FlopsScalingLaw(
            "family", floor=floor, random_state=random_state
        ),
        "Size and Tokens": SizeTokensScalingLaw(floor=floor, random_state=random_state),
        "PCA + FLOPs (d=2)": PCAFlopsScalingLaw(2),
    }
