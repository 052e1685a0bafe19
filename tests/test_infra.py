"""The shared machinery: exceptions, validation helpers, results, thread control."""

from __future__ import annotations

import numpy as np
import pytest

import calipers
from calipers import _validation as v
from calipers._results import ConfidenceInterval, Result
from calipers.exceptions import InvalidArgumentError, NonFiniteError, ShapeError


def test_exception_hierarchy_keeps_value_error():
    for cls in (InvalidArgumentError, NonFiniteError, ShapeError):
        assert issubclass(cls, ValueError)


def test_as_float_array_converts_int_and_non_contiguous():
    x = np.arange(12, dtype=np.int32).reshape(3, 4)[:, ::2]
    out = v.as_float_array(x, "x", ndim=2)
    assert out.dtype == np.float64 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize(
    ("value", "exc", "text"),
    [
        ([1.0, np.nan], NonFiniteError, "x: has 1 NaN/inf"),
        ([], ShapeError, "x: is empty"),
        ([[1.0]], ShapeError, "expected a 1-D"),
        (["a"], InvalidArgumentError, "could not convert"),
    ],
)
def test_as_float_array_errors_name_the_argument(value, exc, text):
    with pytest.raises(exc, match=text):
        v.as_float_array(value, "x", ndim=1)


def test_seed_from_rng():
    assert v.seed_from_rng(5) == 5
    g1, g2 = np.random.default_rng(1), np.random.default_rng(1)
    assert v.seed_from_rng(g1) == v.seed_from_rng(g2)
    assert v.seed_from_rng(None) != v.seed_from_rng(None)
    with pytest.raises(InvalidArgumentError, match="rng"):
        v.seed_from_rng("seed")
    with pytest.raises(InvalidArgumentError, match="rng"):
        v.seed_from_rng(-1)


def test_check_scalar():
    assert v.check_scalar(3, "k", kind=int, low=1) == 3
    with pytest.raises(InvalidArgumentError, match="k: must be >= 1"):
        v.check_scalar(0, "k", kind=int, low=1)
    with pytest.raises(InvalidArgumentError, match="expected int"):
        v.check_scalar(1.5, "k", kind=int)
    with pytest.raises(InvalidArgumentError, match="finite"):
        v.check_scalar(float("nan"), "x")


def test_result_repr_and_dict():
    import dataclasses

    @dataclasses.dataclass(frozen=True, repr=False)
    class R(Result):
        statistic: float
        confidence_interval: ConfidenceInterval
        values: np.ndarray

    r = R(1.5, ConfidenceInterval(1.0, 2.0), np.arange(3.0))
    assert "statistic=1.5" in repr(r)
    d = r.to_dict(json_safe=True)
    assert d == {
        "statistic": 1.5,
        "confidence_interval": {"low": 1.0, "high": 2.0},
        "values": [0.0, 1.0, 2.0],
    }
    low, high = r.confidence_interval
    assert (low, high) == (1.0, 2.0)


def test_thread_count_round_trip():
    before = calipers.get_num_threads()
    calipers.set_num_threads(3)
    assert calipers.get_num_threads() == 3
    calipers.set_num_threads(before)
    with pytest.raises(InvalidArgumentError, match="n: must be >= 1"):
        calipers.set_num_threads(0)


def test_core_errors_map_to_calipers_exceptions():
    from calipers import _core

    with pytest.raises(InvalidArgumentError, match="p: is 0.5"):
        _core.wasserstein_pp(np.ones(2), np.ones(2), 0.5)
    with pytest.raises(NonFiniteError, match="u_values"):
        _core.wasserstein_pp(np.array([np.nan]), np.ones(2), 1.0)


@pytest.mark.parametrize(
    "kind, cls",
    [
        ("invalid", "InvalidArgumentError"),
        ("shape", "ShapeError"),
        ("non_finite", "NonFiniteError"),
        ("numerical", "NumericalError"),
        ("memory", "MemoryBudgetError"),
        ("interrupted", "KeyboardInterrupt"),
    ],
)
def test_every_core_error_variant_maps_to_its_class(kind, cls):
    import builtins

    from calipers import _core, exceptions

    expected = getattr(exceptions, cls, None) or getattr(builtins, cls)
    with pytest.raises(expected) as info:
        _core.raise_core_error(kind)
    assert type(info.value) is expected


def test_json_safe_output_is_strict_json():
    import dataclasses
    import json

    @dataclasses.dataclass(frozen=True, repr=False)
    class R(Result):
        values: np.ndarray
        scalar: float

    d = R(np.array([[1.0, np.nan], [np.inf, -np.inf]]), np.float64("nan")).to_dict(json_safe=True)
    assert d == {"values": [[1.0, None], [1e308, -1e308]], "scalar": None}
    json.dumps(d, allow_nan=False)


def test_version_has_one_source():
    """Cargo.toml's workspace version is the package's (maturin) and the module's."""
    import importlib.metadata
    import re
    from pathlib import Path

    cargo = (Path(__file__).resolve().parents[1] / "Cargo.toml").read_text()
    workspace = re.search(r'\[workspace\.package\]\s*version = "([^"]+)"', cargo)
    assert workspace is not None
    assert calipers.__version__ == workspace.group(1)
    assert importlib.metadata.version("calipers") == calipers.__version__


def _estimators():
    from calipers.fairness import FairMetric, GraphLaplacianIF
    from calipers.geometry import DiffusionMap
    from calipers.irt import IRT
    from calipers.tiny import ReEvaluation, TinyBenchmark

    return [
        FairMetric(n_components=2),
        GraphLaplacianIF(lam=2.0, random_state=3),
        DiffusionMap(3, k=7, random_state=1),
        IRT(model="rasch", max_iter=50),
        TinyBenchmark(n_anchors=10, dims=(1,), random_state=0),
        ReEvaluation(m=3),
    ]


@pytest.mark.parametrize("est", _estimators(), ids=lambda e: type(e).__name__)
def test_every_estimator_follows_the_scikit_learn_protocol(est):
    clone = pytest.importorskip("sklearn.base").clone

    from calipers.exceptions import NotFittedError

    params = est.get_params()
    twin = clone(est)
    assert type(twin) is type(est) and twin is not est
    assert twin.get_params() == params
    assert type(est).__name__ in repr(est)
    name = next(iter(params))
    assert est.set_params(**{name: params[name]}) is est
    with pytest.raises(InvalidArgumentError, match="not a parameter"):
        est.set_params(not_a_parameter=1)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        est._check_fitted()


@pytest.mark.parametrize("cls_path", ["fairness.GraphLaplacianIF", "geometry.DiffusionMap"])
def test_estimators_take_random_state_and_the_old_rng_with_a_warning(cls_path):
    import importlib

    module, name = cls_path.split(".")
    cls = getattr(importlib.import_module(f"calipers.{module}"), name)
    with pytest.warns(FutureWarning, match="random_state"):
        est = cls(rng=7)
    assert est.random_state == 7 and "rng" not in est.get_params()
    with pytest.raises(InvalidArgumentError, match="rng: is the old name"):
        cls(rng=7, random_state=8)


def test_documented_public_names_import():
    """Every name in each module's __all__ (what the docs list) imports."""
    import importlib

    try:
        import pandas  # noqa: F401
    except ImportError:  # a bare install: the readers name the extra that brings them
        has_pandas = False
    else:
        has_pandas = True
    for module in ("ot", "resample", "dominance", "irt", "tiny", "fairness", "geometry", "io"):
        mod = importlib.import_module(f"calipers.{module}")
        for name in mod.__all__:
            if module == "io" and name != "EvalData" and not has_pandas:
                with pytest.raises(ImportError, match=r"calipers\[io\]"):
                    getattr(mod, name)
                continue
            assert getattr(mod, name) is not None, f"calipers.{module}.{name}"
    for name in calipers.__all__:
        assert getattr(calipers, name) is not None


# ------------------------------------------------------------------------ results as tables


def test_to_frame_rows_follow_the_first_field():
    pytest.importorskip("pandas")
    from calipers import resample

    scores = np.random.default_rng(3).random((3, 40))
    one = resample.bootstrap(scores[0], n_resamples=200, rng=0)
    frame = one.to_frame()
    # a scalar statistic: one row; the bootstrap distribution (another shape) is left out
    assert frame.shape[0] == 1 and "bootstrap_distribution" not in frame.columns
    assert frame["statistic"][0] == one.statistic
    assert frame["confidence_interval_low"][0] == one.confidence_interval.low
    per_model = resample.bootstrap(scores, n_resamples=200, rng=0)
    frame = per_model.to_frame()
    np.testing.assert_array_equal(frame["statistic"], per_model.statistic)
    np.testing.assert_array_equal(
        frame["confidence_interval_high"], per_model.confidence_interval.high
    )
    assert (frame["n_resamples"] == 200).all()


def test_to_frame_of_a_matrix_is_one_row_per_cell():
    pytest.importorskip("pandas")
    from calipers import resample

    res = resample.pairwise_differences(
        np.random.default_rng(4).random((3, 30)), n_resamples=200, rng=0
    )
    frame = res.to_frame()
    assert len(frame) == 9
    for row in frame.itertuples():
        assert row.difference == res.difference[row.i, row.j]
        assert row.pvalue_adjusted == res.pvalue_adjusted[row.i, row.j]


def test_to_frame_polars_and_a_bad_backend():
    pl = pytest.importorskip("polars")
    from calipers import resample

    res = resample.bootstrap(np.random.default_rng(5).random((2, 30)), n_resamples=100, rng=0)
    frame = res.to_frame(backend="polars")
    assert isinstance(frame, pl.DataFrame)
    np.testing.assert_array_equal(frame["statistic"].to_numpy(), res.statistic)
    with pytest.raises(InvalidArgumentError, match="backend: must be 'pandas' or 'polars'"):
        res.to_frame(backend="arrow")
