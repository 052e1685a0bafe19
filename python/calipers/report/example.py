"""The embedded example: a zoo of scikit-learn classifiers scored item by item on the
handwritten digits that scikit-learn ships (``sklearn.datasets.load_digits``).

The data (no network needed):

* the 1,797 8x8 digit images of ``load_digits`` (pixel values 0-16, scaled to 0-1), split once,
  stratified by digit, into 599 training images and 1,198 held-out images (``random_state=0``);
* 32 classifiers of 12 families and several settings (:func:`model_zoo`), each fitted on the
  training images;
* three scenarios built from the same 1,198 held-out images: ``clean`` (as they are),
  ``noisy`` (Gaussian pixel noise, sd 0.25, clipped to [0, 1]) and ``shifted`` (each image moved
  by one pixel up, down, left or right, chosen at random); sub-scenario = the true digit;
* two metrics per (model, item): ``correct`` (1 when the predicted digit is right, else 0) and
  ``p_true`` (the probability the model gives the true digit).

That is 32 models x 3,594 items. Building it takes about half a minute; the result is cached
in ``$CALIPERS_CACHE_DIR`` (default ``$XDG_CACHE_HOME/calipers`` or ``~/.cache/calipers``)
under a name holding the example's version and scikit-learn's version, so later runs load it
in well under a second. Every random choice is seeded, so the data are the same on every run
with the same scikit-learn version.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ..io import EvalData

__all__ = [
    "EXAMPLE_VERSION",
    "example_arrays",
    "example_cache_path",
    "example_data",
    "example_long_table",
    "model_zoo",
]

# Bump when anything below changes the data, so stale caches are not reused.
EXAMPLE_VERSION = 1
METRICS = ("correct", "p_true")
SCENARIOS = ("clean", "noisy", "shifted")
_SPLIT_SEED = 0
_NOISE_SD = 0.25
_N_TRAIN = 599


def model_zoo() -> dict[str, Any]:
    """The example's classifiers by display name (unfitted scikit-learn estimators)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.discriminant_analysis import (
        LinearDiscriminantAnalysis,
        QuadraticDiscriminantAnalysis,
    )
    from sklearn.ensemble import (
        AdaBoostClassifier,
        ExtraTreesClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import BernoulliNB, GaussianNB, MultinomialNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    zoo: dict[str, Any] = {}
    for c in (0.001, 0.01, 0.1, 1.0, 10.0):
        zoo[f"logreg C={c:g}"] = LogisticRegression(C=c, max_iter=5000)
    for k in (1, 3, 7, 15, 31):
        zoo[f"knn k={k}"] = KNeighborsClassifier(n_neighbors=k)
    for depth in (3, 5, 8, None):
        zoo[f"tree depth={depth or 'full'}"] = DecisionTreeClassifier(
            max_depth=depth, random_state=0
        )
    zoo["forest 10 trees"] = RandomForestClassifier(n_estimators=10, random_state=0)
    zoo["forest 100 trees"] = RandomForestClassifier(n_estimators=100, random_state=0)
    zoo["forest 100 trees depth=5"] = RandomForestClassifier(
        n_estimators=100, max_depth=5, random_state=0
    )
    zoo["extra-trees 100"] = ExtraTreesClassifier(n_estimators=100, random_state=0)
    zoo["gaussian NB"] = GaussianNB()
    zoo["multinomial NB"] = MultinomialNB()
    zoo["bernoulli NB"] = BernoulliNB(binarize=0.5)
    # SVMs get probabilities from a 5-fold sigmoid calibration of one SVM fitted on all data.
    for c in (0.1, 1.0, 10.0):
        zoo[f"svm rbf C={c:g}"] = CalibratedClassifierCV(SVC(C=c), ensemble=False)
    zoo["svm linear C=1"] = CalibratedClassifierCV(SVC(kernel="linear", C=1.0), ensemble=False)
    # 500 Adam epochs: the small networks stop short of convergence, on purpose (a zoo).
    for hidden in ((16,), (64,), (128, 64)):
        name = "x".join(str(h) for h in hidden)
        zoo[f"mlp {name}"] = MLPClassifier(hidden_layer_sizes=hidden, max_iter=500, random_state=0)
    zoo["LDA"] = LinearDiscriminantAnalysis()
    zoo["QDA shrinkage=0.5"] = QuadraticDiscriminantAnalysis(solver="eigen", shrinkage=0.5)
    zoo["hist gradient boosting"] = HistGradientBoostingClassifier(max_iter=50, random_state=0)
    zoo["adaboost depth-3 trees"] = AdaBoostClassifier(
        DecisionTreeClassifier(max_depth=3, random_state=0), n_estimators=50, random_state=0
    )
    return zoo


def example_cache_path() -> Path:
    """Where the example's per-item results are cached (see the module docstring)."""
    import sklearn

    root = os.environ.get("CALIPERS_CACHE_DIR")
    if root is None:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = str(Path(xdg) / "calipers") if xdg else str(Path.home() / ".cache" / "calipers")
    name = f"digits-zoo-v{EXAMPLE_VERSION}-sklearn{sklearn.__version__}.npz"
    return Path(root) / name


def example_arrays(progress: bool = True) -> dict[str, Any]:
    """The example as arrays: ``scores`` (metric x model x item), ``metrics``, ``models``,
    ``items``, ``scenario``, ``subscenario``. Built on first use, then read from the cache."""
    path = example_cache_path()
    cached = _read_cache(path)
    if cached is not None:
        return cached
    data = _build(progress)
    _write_cache(path, data)
    return data


def example_data(metric: str = "correct", progress: bool = True) -> EvalData:
    """The example as :class:`calipers.io.EvalData` for one metric (``correct``/``p_true``)."""
    from ..exceptions import InvalidArgumentError
    from ..io import EvalData

    if metric not in METRICS:
        raise InvalidArgumentError(
            f"metric: the example has metrics {list(METRICS)}, not {metric!r}; choose one of them"
        )
    data = example_arrays(progress)
    k = METRICS.index(metric)
    return EvalData(
        scores=np.ascontiguousarray(data["scores"][k]),
        models=[str(m) for m in data["models"]],
        items=[str(i) for i in data["items"]],
        scenario=data["scenario"].astype(object),
        subscenario=data["subscenario"].astype(object),
        metric=metric,
        source="calipers example: scikit-learn classifiers on the digits data",
    )


def example_long_table(progress: bool = True) -> pd.DataFrame:
    """The example as a long table: model, item, score, scenario, subscenario, metric."""
    data = example_arrays(progress)
    n_metrics, n_models, n_items = data["scores"].shape
    return pd.DataFrame(
        {
            "model": np.tile(np.repeat(data["models"], n_items), n_metrics),
            "item": np.tile(data["items"], n_models * n_metrics),
            "score": data["scores"].reshape(-1),
            "scenario": np.tile(data["scenario"], n_models * n_metrics),
            "subscenario": np.tile(data["subscenario"], n_models * n_metrics),
            "metric": np.repeat(data["metrics"], n_models * n_items),
        }
    )


def _held_out_scenarios(x: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The clean, noisy and shifted versions of the held-out images (rows of 64 pixels)."""
    noisy = np.clip(x + rng.normal(0.0, _NOISE_SD, size=x.shape), 0.0, 1.0)
    images = x.reshape(-1, 8, 8)
    shifted = np.zeros_like(images)
    moves = rng.integers(0, 4, size=len(images))
    for i, move in enumerate(moves):
        axis, step = divmod(int(move), 2)
        moved = np.roll(images[i], 1 if step else -1, axis=axis)
        # np.roll wraps around; blank the row/column that wrapped so the digit just moves.
        edge = 0 if step else -1
        if axis == 0:
            moved[edge, :] = 0.0
        else:
            moved[:, edge] = 0.0
        shifted[i] = moved
    return {"clean": x, "noisy": noisy, "shifted": shifted.reshape(len(images), 64)}


def _build(progress: bool) -> dict[str, Any]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from tqdm.auto import tqdm

    digits = load_digits()
    x = digits.data / 16.0
    y = digits.target
    index = np.arange(len(y))
    x_train, x_test, y_train, y_test, _, idx_test = train_test_split(
        x, y, index, train_size=_N_TRAIN, stratify=y, random_state=_SPLIT_SEED
    )
    order = np.argsort(idx_test)  # held-out items in the dataset's own order
    x_test, y_test, idx_test = x_test[order], y_test[order], idx_test[order]
    test_sets = _held_out_scenarios(x_test, np.random.default_rng(_SPLIT_SEED))

    zoo = model_zoo()
    n_items = len(SCENARIOS) * len(y_test)
    scores = np.empty((len(METRICS), len(zoo), n_items))
    bar = tqdm(
        zoo.items(),
        total=len(zoo),
        desc="example: fitting 32 digit classifiers (first run only, then cached)",
        disable=not progress,
        leave=False,
    )
    for m, (_, model) in enumerate(bar):
        _fit_quietly(model, x_train, y_train)
        for s, scenario in enumerate(SCENARIOS):
            cols = slice(s * len(y_test), (s + 1) * len(y_test))
            proba = model.predict_proba(test_sets[scenario])
            predicted = model.classes_[np.argmax(proba, axis=1)]
            true_col = np.searchsorted(model.classes_, y_test)
            scores[0, m, cols] = (predicted == y_test).astype(np.float64)
            scores[1, m, cols] = proba[np.arange(len(y_test)), true_col]
    items = [f"{s}/{i:04d}" for s in SCENARIOS for i in idx_test]
    return {
        "scores": scores,
        "metrics": np.asarray(METRICS),
        "models": np.asarray(list(zoo)),
        "items": np.asarray(items),
        "scenario": np.repeat(np.asarray(SCENARIOS), len(y_test)),
        "subscenario": np.tile(np.asarray([f"digit {d}" for d in y_test]), len(SCENARIOS)),
    }


def _fit_quietly(model: Any, x: np.ndarray, y: np.ndarray) -> None:
    """Fit on one BLAS thread (many small fits oversubscribe otherwise) without the zoo's
    expected convergence warnings."""
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)


def _read_cache(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, KeyError):
        return None  # a damaged cache is rebuilt, never trusted


def _write_cache(path: Path, data: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **data)
        os.replace(tmp, path)  # atomic: concurrent runs never see half a file
    except OSError:
        pass  # an unwritable cache only costs the next run the rebuild
