"""calipers.ot against scipy, an exact LP, and the metric's invariants."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from calipers.exceptions import InvalidArgumentError, NonFiniteError, ShapeError
from calipers.ot import wasserstein
from conftest import num_threads


def lp_wasserstein_pp(u, v, uw, vw, p):
    """W_p^p by the transport linear program, written plainly."""
    n, m = len(u), len(v)
    a, b = uw / uw.sum(), vw / vw.sum()
    cost = np.abs(u[:, None] - v[None, :]) ** p
    rows = np.kron(np.eye(n), np.ones((1, m)))
    cols = np.kron(np.ones((1, n)), np.eye(m))
    res = scipy.optimize.linprog(
        cost.ravel(),
        A_eq=np.vstack([rows, cols]),
        b_eq=np.concatenate([a, b]),
        bounds=(0, None),
        method="highs",
    )
    assert res.status == 0
    return res.fun


def test_w1_matches_scipy():
    rng = np.random.default_rng(0)
    for _ in range(20):
        u, v = rng.normal(size=rng.integers(1, 300)), rng.exponential(size=rng.integers(1, 300))
        uw, vw = rng.random(len(u)), rng.random(len(v))
        assert wasserstein(u, v) == pytest.approx(scipy.stats.wasserstein_distance(u, v), rel=1e-12)
        assert wasserstein(u, v, 1, uw, vw) == pytest.approx(
            scipy.stats.wasserstein_distance(u, v, uw, vw), rel=1e-10
        )


@pytest.mark.parametrize("p", [1.0, 1.5, 2.0, 3.0])
def test_weighted_unequal_sizes_match_exact_lp(p):
    rng = np.random.default_rng(int(p * 10))
    for _ in range(5):
        u, v = rng.normal(size=rng.integers(1, 9)), rng.normal(1, 2, size=rng.integers(1, 9))
        uw, vw = rng.random(len(u)) + 0.05, rng.random(len(v)) + 0.05
        expected = lp_wasserstein_pp(u, v, uw, vw, p)
        assert wasserstein(u, v, p, uw, vw, return_power=True) == pytest.approx(
            expected, rel=1e-7, abs=1e-10
        )


samples = arrays(np.float64, st.integers(1, 40), elements=st.floats(-1e3, 1e3))


@settings(max_examples=60, deadline=None)
@given(samples, samples, samples, st.sampled_from([1.0, 2.0, 2.5]))
def test_metric_axioms(x, y, z, p):
    tol = 1e-9 * (1 + np.abs(np.concatenate([x, y, z])).max())
    assert wasserstein(x, x, p) == 0.0
    assert wasserstein(x, y, p) == pytest.approx(wasserstein(y, x, p), abs=tol)
    assert wasserstein(x, z, p) <= wasserstein(x, y, p) + wasserstein(y, z, p) + tol


@settings(max_examples=60, deadline=None)
@given(samples, samples, st.floats(-100, 100), st.floats(0.01, 100))
def test_translation_and_scale_equivariance(x, y, shift, scale):
    base = wasserstein(x, y, 2.0)
    tol = 1e-7 * (1 + base * scale)
    assert wasserstein(x + shift, y + shift, 2.0) == pytest.approx(
        base, abs=1e-7 * (1 + base + abs(shift))
    )
    assert wasserstein(scale * x, scale * y, 2.0) == pytest.approx(scale * base, abs=tol)


def test_batched_rows_equal_row_by_row():
    rng = np.random.default_rng(1)
    u, v = rng.normal(size=(50, 17)), rng.normal(size=(50, 9))
    uw, vw = rng.random((50, 17)), rng.random((50, 9))
    batched = wasserstein(u, v, 2.0, uw, vw)
    single = [wasserstein(u[i], v[i], 2.0, uw[i], vw[i]) for i in range(50)]
    np.testing.assert_array_equal(batched, single)


def test_thread_count_does_not_change_bits():
    rng = np.random.default_rng(2)
    u, v = rng.normal(size=(200, 64)), rng.normal(size=(200, 64))
    results = []
    for n in (1, 2, 4):
        with num_threads(n):
            results.append(wasserstein(u, v, 2.0))
    assert all(np.array_equal(results[0], r) for r in results)


def test_int_and_non_contiguous_inputs_are_accepted():
    x = np.arange(20).reshape(4, 5)
    assert wasserstein(x[:, 0], x[:, 1]) == pytest.approx(1.0)
    assert wasserstein(x[:, ::2], x[:, 1::2]).shape == (4,)


@pytest.mark.parametrize(
    ("kwargs", "exc", "text"),
    [
        ({"u": [np.nan, 1.0]}, NonFiniteError, "u: has 1 NaN/inf"),
        ({"v": [np.inf]}, NonFiniteError, "v: has 1 NaN/inf"),
        ({"u": []}, ShapeError, "u: is empty"),
        ({"u_weights": [1.0]}, ShapeError, "u_weights: has length 1"),
        ({"u_weights": [1.0, -1.0, 1.0]}, InvalidArgumentError, "u_weights: has negative"),
        ({"v_weights": [0.0, 0.0]}, InvalidArgumentError, "v_weights: all weights are zero"),
        ({"p": 0.5}, InvalidArgumentError, "p: must be >= 1.0"),
        ({"u": [[[1.0]]]}, ShapeError, "u: expected a 1-D or 2-D"),
        ({"u": [[1.0, 2.0]]}, ShapeError, "u is 2-D but v is 1-D"),
    ],
)
def test_bad_input(kwargs, exc, text):
    args = {"u": [0.0, 1.0, 2.0], "v": [1.0, 2.0], **kwargs}
    with pytest.raises(exc, match=text):
        wasserstein(**args)
