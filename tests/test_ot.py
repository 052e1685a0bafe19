"""calipers.ot against scipy, an exact LP, and the metric's invariants."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.optimize
import scipy.spatial
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import calipers
from calipers.exceptions import (
    InvalidArgumentError,
    MemoryBudgetError,
    NonFiniteError,
    ShapeError,
)
from calipers.ot import (
    aot_loss,
    kmixup,
    kmixup_match,
    monotone_coupling,
    quantile_function,
    wasserstein,
)
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


# --- quantile_function -------------------------------------------------------------------


def test_quantile_function_matches_numpy_inverted_cdf():
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = rng.normal(size=rng.integers(1, 50))
        q = rng.random(17)
        np.testing.assert_array_equal(
            quantile_function(x, q), np.quantile(x, q, method="inverted_cdf")
        )
        w = rng.random(len(x)) * (rng.random(len(x)) > 0.3)
        if w.sum() == 0:
            continue
        expected = np.quantile(x, q, method="inverted_cdf", weights=w)
        np.testing.assert_array_equal(quantile_function(x, q, weights=w), expected)


def test_quantile_function_is_the_generalised_inverse():
    """Q(q) = min{t in x : F(t) >= q}, with F written plainly (integer weights: exact sums)."""
    rng = np.random.default_rng(4)
    x = rng.integers(0, 10, size=30).astype(float)  # many ties
    w = rng.integers(0, 4, size=30).astype(float)
    w[0] = 1.0
    for q in np.linspace(0, 1, 41):
        support = np.unique(x[w > 0])
        cdf = np.array([w[x <= t].sum() / w.sum() for t in support])
        expected = support[np.argmax(cdf >= q)] if q > 0 else support[0]
        assert quantile_function(x, q, weights=w) == expected


def test_quantile_function_rows_and_shapes():
    rng = np.random.default_rng(5)
    x, w = rng.normal(size=(6, 11)), rng.random((6, 11))
    q = np.array([0.0, 0.1, 0.5, 1.0])
    out = quantile_function(x, q, weights=w)
    assert out.shape == (6, 4)
    for r in range(6):
        np.testing.assert_array_equal(out[r], quantile_function(x[r], q, weights=w[r]))
    assert quantile_function(x, 0.5).shape == (6,)
    assert isinstance(quantile_function(x[0], 0.5), float)
    assert quantile_function(x[0], []).shape == (0,)


# --- monotone_coupling -------------------------------------------------------------------


def lp_plan(u, v, uw, vw, p):
    """The optimal plan of the transport LP (dense), written plainly."""
    n, m = len(u), len(v)
    a, b = uw / uw.sum(), vw / vw.sum()
    cost = np.abs(u[:, None] - v[None, :]) ** p
    res = scipy.optimize.linprog(
        cost.ravel(),
        A_eq=np.vstack([np.kron(np.eye(n), np.ones((1, m))), np.kron(np.ones((1, n)), np.eye(m))]),
        b_eq=np.concatenate([a, b]),
        bounds=(0, None),
        method="highs",
    )
    return res.x.reshape(n, m), cost


@pytest.mark.parametrize("p", [1.0, 2.0, 3.5])
def test_monotone_coupling_cost_equals_lp_plan_cost(p):
    rng = np.random.default_rng(int(p * 7))
    for _ in range(6):
        u, v = rng.normal(size=rng.integers(1, 9)), rng.normal(1, 2, size=rng.integers(1, 9))
        uw, vw = rng.random(len(u)) + 0.05, rng.random(len(v)) + 0.05
        plan = monotone_coupling(u, v, uw, vw)
        lp, cost = lp_plan(u, v, uw, vw, p)
        ours = np.sum(plan.mass * np.abs(u[plan.i] - v[plan.j]) ** p)
        assert ours == pytest.approx(np.sum(lp * cost), rel=1e-7, abs=1e-10)
        assert ours == pytest.approx(wasserstein(u, v, p, uw, vw, return_power=True), rel=1e-12)
        # Marginals and sparsity.
        dense = plan.to_dense()
        np.testing.assert_allclose(dense.sum(1), uw / uw.sum(), atol=1e-12)
        np.testing.assert_allclose(dense.sum(0), vw / vw.sum(), atol=1e-12)
        assert len(plan.mass) <= len(u) + len(v) - 1 and (plan.mass > 0).all()


def test_monotone_coupling_skips_zero_weights():
    plan = monotone_coupling([0.0, 1.0, 2.0], [5.0, 6.0], u_weights=[1.0, 0.0, 1.0])
    assert 1 not in plan.i
    assert plan.i.dtype == np.int64 and plan.mass.sum() == pytest.approx(1.0)


# --- aot_loss ------------------------------------------------------------------------------


def softplus(z):
    return np.logaddexp(0.0, z)


def aot_formula(c, r, cr, rr, beta, eps, relaxation, mode):
    """AOT as in TRL's DPO trainer, written plainly: explicit sorts, softplus, mean."""
    if mode == "paired":
        delta = np.sort(c - r) - np.sort(cr - rr)
    else:
        delta = np.sort(c - cr) - np.sort(r - rr)
    if relaxation == "logistic":
        # -(1-eps) * log sigmoid(beta d) - eps * log sigmoid(-beta d)
        per_pair = (1 - eps) * softplus(-beta * delta) + eps * softplus(beta * delta)
    else:
        per_pair = (1 - eps) * np.maximum(beta - delta, 0) ** 2 + eps * np.maximum(
            beta + delta, 0
        ) ** 2
    return per_pair.mean()


def dpo_sigmoid_loss(c, r, cr, rr, beta, eps):
    logits = (c - r) - (cr - rr)
    return np.mean((1 - eps) * softplus(-beta * logits) + eps * softplus(beta * logits))


def logp_batch(rng, b, m=None):
    m = b if m is None else m
    return (
        rng.normal(-50, 10, b),
        rng.normal(-55, 10, m),
        rng.normal(-50, 10, b),
        rng.normal(-55, 10, m),
    )


@pytest.mark.parametrize("mode", ["paired", "unpaired"])
@pytest.mark.parametrize("relaxation", ["logistic", "squared_hinge"])
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_aot_loss_equals_formula(mode, relaxation, eps):
    rng = np.random.default_rng(11)
    for beta in (0.01, 0.1, 1.0):
        batch = logp_batch(rng, 16)
        res = aot_loss(*batch, beta=beta, label_smoothing=eps, relaxation=relaxation, mode=mode)
        expected = aot_formula(*batch, beta, eps, relaxation, mode)
        assert res.loss == pytest.approx(expected, rel=1e-12, abs=1e-15)
        assert res.mode == mode and len(res.delta) == 16


def numeric_gradient(f, arrays, h=1e-5):
    grads = []
    for a in range(len(arrays)):
        g = np.zeros_like(arrays[a])
        for i in range(len(arrays[a])):
            up = [x.copy() for x in arrays]
            down = [x.copy() for x in arrays]
            up[a][i] += h
            down[a][i] -= h
            g[i] = (f(*up) - f(*down)) / (2 * h)
        grads.append(g)
    return grads


@pytest.mark.parametrize("mode", ["paired", "unpaired"])
@pytest.mark.parametrize("relaxation", ["logistic", "squared_hinge"])
def test_aot_gradient_matches_finite_differences(mode, relaxation):
    rng = np.random.default_rng(12)
    batch = logp_batch(rng, 9)
    kwargs = {"beta": 0.3, "label_smoothing": 0.1, "relaxation": relaxation, "mode": mode}
    res = aot_loss(*batch, **kwargs)
    numeric = numeric_gradient(lambda *a: aot_loss(*a, **kwargs).loss, batch)
    analytic = [
        res.grad_chosen_logps,
        res.grad_rejected_logps,
        res.grad_ref_chosen_logps,
        res.grad_ref_rejected_logps,
    ]
    for got, want in zip(analytic, numeric, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)


def lp_transport_cost(cost):
    """min <P, C> over couplings of two uniform measures (the LP, written plainly)."""
    n, m = cost.shape
    res = scipy.optimize.linprog(
        cost.ravel(),
        A_eq=np.vstack([np.kron(np.eye(n), np.ones((1, m))), np.kron(np.ones((1, n)), np.eye(m))]),
        b_eq=np.concatenate([np.full(n, 1 / n), np.full(m, 1 / m)]),
        bounds=(0, None),
        method="highs",
    )
    return res.fun


def test_aot_unpaired_unequal_sizes_is_the_transport_optimum():
    rng = np.random.default_rng(13)
    for b, m in [(5, 8), (7, 3), (6, 6)]:
        c, r, cr, rr = logp_batch(rng, b, m)
        res = aot_loss(c, r, cr, rr, beta=0.2, mode="unpaired", label_smoothing=0.1)
        u, v = c - cr, r - rr
        d = u[:, None] - v[None, :]
        cost = 0.9 * softplus(-0.2 * d) + 0.1 * softplus(0.2 * d)
        assert res.loss == pytest.approx(lp_transport_cost(cost), rel=1e-7)
        assert res.mass.sum() == pytest.approx(1.0)


logps = arrays(np.float64, 12, elements=st.floats(-100, 0))


@settings(max_examples=80, deadline=None)
@given(logps, logps, logps, logps, st.floats(0.01, 5), st.floats(0, 0.49))
def test_paired_aot_never_above_dpo(c, r, cr, rr, beta, eps):
    aot = aot_loss(c, r, cr, rr, beta=beta, label_smoothing=eps).loss
    dpo = dpo_sigmoid_loss(c, r, cr, rr, beta, eps)
    assert aot <= dpo + 1e-12 * (1 + abs(dpo))


@settings(max_examples=60, deadline=None)
@given(logps, logps, logps, logps, st.floats(0.01, 5), st.floats(0, 0.49))
def test_sorting_minimises_the_squared_hinge_over_pairings(c, r, cr, rr, beta, eps):
    """Convex h: the sorted coupling is never worse than the given (identity) pairing."""
    aot = aot_loss(c, r, cr, rr, beta=beta, label_smoothing=eps, relaxation="squared_hinge")
    d = (c - r) - (cr - rr)
    given_pairing = np.mean(
        (1 - eps) * np.maximum(beta - d, 0) ** 2 + eps * np.maximum(beta + d, 0) ** 2
    )
    assert aot.loss <= given_pairing + 1e-12 * (1 + given_pairing)


# --- k-mixup -------------------------------------------------------------------------------


def lsa_block_cost(x, y, k):
    """Total squared-Euclidean cost of scipy's optimal assignment, block by block."""
    total = 0.0
    for s in range(0, len(x), k):
        cost = scipy.spatial.distance.cdist(x[s : s + k], y[s : s + k], "sqeuclidean")
        rows, cols = scipy.optimize.linear_sum_assignment(cost)
        total += cost[rows, cols].sum()
    return total


def matched_cost(x, y, perm):
    return np.sum((x - y[perm]) ** 2)


@pytest.mark.parametrize(("n", "d", "k"), [(64, 3, 16), (50, 2, 7), (40, 5, 40), (9, 1, 1)])
def test_kmixup_match_is_optimal(n, d, k):
    rng = np.random.default_rng(n + k)
    for trial in range(4):
        if trial % 2:
            # Ties and duplicates: small integer grid with repeated points.
            x = rng.integers(0, 3, size=(n, d)).astype(float)
            y = np.repeat(rng.integers(0, 3, size=(n // 2 + 1, d)), 2, axis=0)[:n].astype(float)
        else:
            x, y = rng.normal(size=(n, d)), rng.normal(1, 2, size=(n, d))
        perm = kmixup_match(x, y, k)
        assert perm.dtype == np.int64
        for s in range(0, n, k):
            assert sorted(perm[s : s + k]) == list(range(s, min(s + k, n)))
        assert matched_cost(x, y, perm) == pytest.approx(lsa_block_cost(x, y, k), rel=1e-12)


def test_kmixup_match_flattens_trailing_axes_and_k_beyond_n():
    rng = np.random.default_rng(21)
    x, y = rng.normal(size=(12, 2, 3)), rng.normal(size=(12, 2, 3))
    perm = kmixup_match(x, y, 100)
    flat_x, flat_y = x.reshape(12, -1), y.reshape(12, -1)
    assert matched_cost(flat_x, flat_y, perm) == pytest.approx(
        lsa_block_cost(flat_x, flat_y, 12), rel=1e-12
    )


def test_kmixup_interpolates_with_a_seeded_beta_draw():
    rng = np.random.default_rng(22)
    x, y = rng.normal(size=(32, 4)), rng.normal(size=(32, 4))
    res = kmixup(x, y, k=8, alpha=0.4, rng=5)
    again = kmixup(x, y, k=8, alpha=0.4, rng=5)
    assert res.lam == again.lam and 0.0 <= res.lam <= 1.0
    lam = np.random.default_rng(calipers._validation.seed_from_rng(5)).beta(0.4, 0.4)
    assert res.lam == lam
    np.testing.assert_array_equal(res.perm, kmixup_match(x, y, 8))
    np.testing.assert_allclose(res.mixed, lam * x + (1 - lam) * y[res.perm])


# --- determinism and bad input of the new functions ------------------------------------


def test_new_functions_give_the_same_bits_at_1_2_4_threads():
    rng = np.random.default_rng(23)
    x, y = rng.normal(size=(256, 6)), rng.normal(size=(256, 6))
    rows, w = rng.normal(size=(300, 40)), rng.random((300, 40))
    batch = logp_batch(rng, 64)
    outs = []
    for n in (1, 2, 4):
        with num_threads(n):
            outs.append(
                (
                    kmixup_match(x, y, 16),
                    quantile_function(rows, [0.1, 0.5, 0.9], weights=w),
                    aot_loss(*batch, mode="unpaired").grad_chosen_logps,
                    monotone_coupling(rows[0], rows[1], w[0], w[1]).mass,
                    wasserstein(rows, rows[::-1], 1.5, w, w[::-1]),
                )
            )
    for other in outs[1:]:
        for a, b in zip(outs[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


def test_int_and_non_contiguous_inputs_of_new_functions():
    x = np.arange(40).reshape(8, 5)
    assert quantile_function(x[:, ::2], 0.5).shape == (8,)
    assert monotone_coupling(x[:, 0], x[:, 1]).mass.sum() == pytest.approx(1.0)
    assert aot_loss(x[:, 0], x[:, 1], x[:, 2], x[:, 3]).loss > 0
    assert sorted(kmixup_match(x[:, :4:2], x[::-1, 1::2], 4)[:4]) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("call", "exc", "text"),
    [
        (lambda: quantile_function([1.0, np.nan], 0.5), NonFiniteError, "x: has 1 NaN"),
        (lambda: quantile_function([], 0.5), ShapeError, "x: is empty"),
        (lambda: quantile_function([1.0], 1.5), InvalidArgumentError, "q: level 1.5"),
        (lambda: quantile_function([1.0], [[0.5]]), ShapeError, "q: expected"),
        (lambda: quantile_function([1.0, 2.0], 0.5, [1.0]), ShapeError, "weights: has length"),
        (lambda: quantile_function([1.0], 0.5, [-1.0]), InvalidArgumentError, "weights: has neg"),
        (lambda: quantile_function([[[1.0]]], 0.5), ShapeError, "x: expected a 1-D or 2-D"),
        (lambda: monotone_coupling([1.0], [np.inf]), NonFiniteError, "v: has 1 NaN/inf"),
        (lambda: monotone_coupling([1.0], [2.0], [0.0]), InvalidArgumentError, "u_weights: all"),
        (lambda: monotone_coupling([[1.0]], [2.0]), ShapeError, "u: expected a 1-D"),
        (lambda: aot_loss([1.0], [1.0], [1.0], [np.nan]), NonFiniteError, "ref_rejected_logps"),
        (lambda: aot_loss([1.0], [1.0, 2.0], [1.0], [1.0, 2.0]), ShapeError, "rejected_logps"),
        (lambda: aot_loss([1.0], [1.0], [1.0, 2.0], [1.0]), ShapeError, "ref_chosen_logps"),
        (lambda: aot_loss([], [1.0], [], [1.0]), ShapeError, "chosen_logps: is empty"),
        (lambda: aot_loss([[1.0]], [1.0], [1.0], [1.0]), ShapeError, "chosen_logps: expected a 1"),
        (lambda: aot_loss([1.0], [1.0], [1.0], [1.0], beta=0.0), InvalidArgumentError, "beta"),
        (
            lambda: aot_loss([1.0], [1.0], [1.0], [1.0], label_smoothing=0.5),
            InvalidArgumentError,
            "label_smoothing",
        ),
        (
            lambda: aot_loss([1.0], [1.0], [1.0], [1.0], relaxation="hinge"),
            InvalidArgumentError,
            "relaxation",
        ),
        (lambda: aot_loss([1.0], [1.0], [1.0], [1.0], mode="x"), InvalidArgumentError, "mode"),
        (lambda: kmixup_match([[1.0]], [[1.0], [2.0]], 1), ShapeError, "y: has 2 points"),
        (lambda: kmixup_match([[np.nan]], [[1.0]], 1), NonFiniteError, "x: has 1 NaN"),
        (lambda: kmixup_match([[1.0]], [[1.0]], 0), InvalidArgumentError, "k: must be >= 1"),
        (lambda: kmixup_match(np.ones((0, 2)), np.ones((0, 2)), 1), ShapeError, "x: is empty"),
        (lambda: kmixup_match(1.0, 1.0, 1), ShapeError, "x: expected an array"),
        (lambda: kmixup([[1.0]], [[1.0]], 1, alpha=0.0), InvalidArgumentError, "alpha"),
        (lambda: wasserstein([1.0], [np.inf]), NonFiniteError, "v: has 1 NaN/inf"),
        (lambda: wasserstein([1.0], [2.0], p=np.nan), InvalidArgumentError, "p: must be finite"),
    ],
)
def test_bad_input_of_new_functions(call, exc, text):
    with pytest.raises(exc, match=text):
        call()


# --- calipers.torch.ot (skipped without torch) ---------------------------------------------


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("mode", ["paired", "unpaired"])
@pytest.mark.parametrize("relaxation", ["logistic", "squared_hinge"])
def test_torch_aot_loss_and_autograd_match_rust(torch, mode, relaxation):
    from calipers.torch import aot_loss as torch_aot_loss

    rng = np.random.default_rng(31)
    for sizes in [(16, 16), (7, 11)] if mode == "unpaired" else [(16, 16)]:
        batch = logp_batch(rng, *sizes)
        kwargs = {"beta": 0.2, "label_smoothing": 0.1, "relaxation": relaxation, "mode": mode}
        ref = aot_loss(*batch, **kwargs)
        tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in batch]
        loss = torch_aot_loss(*tensors, **kwargs)
        loss.backward()
        assert loss.item() == pytest.approx(ref.loss, rel=1e-12)
        for t, g in zip(
            tensors,
            [
                ref.grad_chosen_logps,
                ref.grad_rejected_logps,
                ref.grad_ref_chosen_logps,
                ref.grad_ref_rejected_logps,
            ],
            strict=True,
        ):
            np.testing.assert_allclose(t.grad.numpy(), g, rtol=1e-10, atol=1e-14)


def test_torch_wasserstein_matches_rust(torch):
    from calipers.torch.ot import wasserstein as torch_wasserstein

    rng = np.random.default_rng(32)
    u, v = rng.normal(size=(20, 33)), rng.normal(1, 2, size=(20, 33))
    uw, vw = rng.random((20, 33)), rng.random((20, 33))
    w_short = rng.normal(size=(20, 9))
    for p in (1.0, 2.0, 2.5):
        got = torch_wasserstein(torch.tensor(u), torch.tensor(v), p).numpy()
        np.testing.assert_allclose(got, wasserstein(u, v, p), rtol=1e-12)
        got = torch_wasserstein(
            torch.tensor(u), torch.tensor(v), p, torch.tensor(uw), torch.tensor(vw)
        ).numpy()
        np.testing.assert_allclose(got, wasserstein(u, v, p, uw, vw), rtol=1e-9)
        got = torch_wasserstein(torch.tensor(u), torch.tensor(w_short), p).numpy()
        np.testing.assert_allclose(got, wasserstein(u, w_short, p), rtol=1e-9)
    # Gradient of W_2^2 w.r.t. u: 2 (u_(k) - v_(k)) / n at the sorted positions.
    ut = torch.tensor(u[0], requires_grad=True)
    torch_wasserstein(ut, torch.tensor(v[0]), 2.0, return_power=True).backward()
    order_u, order_v = np.argsort(u[0]), np.argsort(v[0])
    expected = np.empty(33)
    expected[order_u] = 2 * (u[0][order_u] - v[0][order_v]) / 33
    np.testing.assert_allclose(ut.grad.numpy(), expected, rtol=1e-12)


def test_torch_bad_input(torch):
    from calipers.torch import aot_loss as torch_aot_loss
    from calipers.torch.ot import wasserstein as torch_wasserstein

    one = torch.ones(3)
    with pytest.raises(ShapeError, match="rejected_logps"):
        torch_aot_loss(one, torch.ones(2), one, torch.ones(2))
    with pytest.raises(InvalidArgumentError, match="beta"):
        torch_aot_loss(one, one, one, one, beta=-1.0)
    with pytest.raises(ShapeError, match="chosen_logps: expected a 1-D"):
        torch_aot_loss(torch.ones(2, 2), one, one, one)
    with pytest.raises(InvalidArgumentError, match="p: must be >= 1"):
        torch_wasserstein(one, one, 0.5)
    with pytest.raises(ShapeError, match="batch shape"):
        torch_wasserstein(torch.ones(2, 3), torch.ones(3, 3))


@pytest.mark.gpu
def test_torch_cuda_matches_cpu_and_rust(torch):
    if not torch.cuda.is_available():
        pytest.skip("needs torch with CUDA")
    from calipers.torch import aot_loss as torch_aot_loss
    from calipers.torch.ot import wasserstein as torch_wasserstein

    rng = np.random.default_rng(33)
    batch = logp_batch(rng, 64)
    for mode in ("paired", "unpaired"):
        ref = aot_loss(*batch, beta=0.1, label_smoothing=0.05, mode=mode)
        tensors = [torch.tensor(a, device="cuda", requires_grad=True) for a in batch]
        loss = torch_aot_loss(*tensors, beta=0.1, label_smoothing=0.05, mode=mode)
        loss.backward()
        assert loss.item() == pytest.approx(ref.loss, rel=1e-10)
        np.testing.assert_allclose(
            tensors[0].grad.cpu().numpy(), ref.grad_chosen_logps, rtol=1e-8, atol=1e-14
        )
    u, v = rng.normal(size=(1000, 512)), rng.normal(size=(1000, 512))
    got = torch_wasserstein(torch.tensor(u, device="cuda"), torch.tensor(v, device="cuda"), 2.0)
    np.testing.assert_allclose(got.cpu().numpy(), wasserstein(u, v, 2.0), rtol=1e-10)
    uw = rng.random((1000, 512))
    got = torch_wasserstein(
        torch.tensor(u, device="cuda"),
        torch.tensor(v[:, :300], device="cuda"),
        1.0,
        torch.tensor(uw, device="cuda"),
    )
    np.testing.assert_allclose(got.cpu().numpy(), wasserstein(u, v[:, :300], 1.0, uw), rtol=1e-9)


@pytest.mark.timeout(120)
def test_works_in_a_forked_child_after_use_in_the_parent():
    """A forked child inherits the thread pool object but not its threads (bench memory probe)."""
    import multiprocessing as mp

    x = np.arange(10.0)
    assert wasserstein(x, x + 1) == 1.0  # the parent's pool exists now
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        assert pool.apply(wasserstein, (x, x + 2)) == 2.0


# --- robustness: extreme magnitudes, large orders, absurd sizes (issue 20) -------------------


def brute_force_assignment_cost(cost):
    """Minimum of sum_i cost[i, perm[i]] over all permutations, written plainly."""
    n = cost.shape[0]
    return min(cost[np.arange(n), list(p)].sum() for p in itertools.permutations(range(n)))


def power_of_two_scaled(*arrays):
    """The arrays divided by one power of two near their largest |value| (exact scaling)."""
    largest = max(float(np.abs(a).max()) for a in arrays)
    unit = math.ldexp(1.0, math.frexp(largest)[1] - 1) if largest > 0 else 1.0
    return [a / unit for a in arrays]


def test_kmixup_match_reproducer_with_squares_beyond_float_range():
    x, y = np.array([[1e200], [0.0]]), np.array([[-1e200], [1.0]])
    # Matching 1e200 to 1.0 and 0 to -1e200 costs about 2e400; the other way 4e400.
    assert kmixup_match(x, y, 2).tolist() == [1, 0]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 6),
    d=st.integers(1, 3),
    exponent=st.integers(-320, 307),
    seed=st.integers(0, 2**32 - 1),
    ties=st.booleans(),
)
def test_kmixup_match_is_optimal_at_every_magnitude(n, d, exponent, seed, ties):
    rng = np.random.default_rng(seed)
    draw = (lambda: rng.integers(-2, 3, size=(n, d))) if ties else (lambda: rng.normal(size=(n, d)))
    with np.errstate(over="ignore", under="ignore"):
        x, y = draw() * 10.0**exponent, draw() * 10.0**exponent
    x, y = np.clip(x, -1e308, 1e308), np.clip(y, -1e308, 1e308)
    perm = kmixup_match(x, y, n)
    assert sorted(perm.tolist()) == list(range(n))
    xs, ys = power_of_two_scaled(x, y)
    cost = scipy.spatial.distance.cdist(xs, ys, "sqeuclidean")
    best = brute_force_assignment_cost(cost)
    assert cost[np.arange(n), perm].sum() <= best * (1 + 1e-12) + 1e-300
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    assert cost[rows, cols].sum() == pytest.approx(best, rel=1e-12, abs=1e-300)


def test_kmixup_match_refuses_a_block_beyond_the_memory_budget():
    x = np.zeros((100_000, 1))
    with pytest.raises(MemoryBudgetError, match=r"^k: would need 80\.0 GB.*smaller k"):
        kmixup_match(x, x, 100_000)


def test_kmixup_match_large_block_runs_on_the_watched_path():
    # 600 points in one block: the cost matrix is filled in parallel, the solver checks the
    # stop flag; the answer must still be the exact optimum.
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(600, 2)), rng.normal(size=(600, 2))
    perm = kmixup_match(x, y, 600)
    assert matched_cost(x, y, perm) == pytest.approx(lsa_block_cost(x, y, 600), rel=1e-12)


@pytest.mark.parametrize(
    ("u", "v", "p", "expected"),
    [
        ([1e200], [-1e200], 2.0, 2e200),
        ([1e308], [-0.5e308], 3.0, 1.5e308),
        ([1e-200, 0.0], [0.0, -1e-200], 2.0, 1e-200),
        ([0.0, 1.0, 2.0], [0.5, 1.0, 5.0], 1e6, 3.0),
        ([0.0, 0.1], [0.3, 0.1], 1e6, 0.2),
        ([3.0, 3.0], [3.0, 3.0], 1e6, 0.0),
    ],
)
def test_wasserstein_is_finite_whenever_the_answer_is(u, v, p, expected):
    assert wasserstein(u, v, p=p) == pytest.approx(expected, rel=1e-5, abs=0.0)
    rows = wasserstein(np.array([u, u]), np.array([v, v]), p=p)
    assert rows.tolist() == [wasserstein(u, v, p=p)] * 2


def test_wasserstein_overflowing_power_and_distance_are_honest_inf():
    assert wasserstein([1e200], [-1e200], p=2, return_power=True) == np.inf
    assert wasserstein([1e308], [-1e308], p=1) == np.inf  # true value 2e308 > float max


def scaled_reference_wasserstein(u, v, p):
    """W_p of two equal-size uniform samples as M (mean((|d| / M)^p))^(1/p), in logs."""
    d = np.abs(np.sort(u) - np.sort(v))
    top = d.max()
    if top == 0:
        return 0.0
    log_terms = p * np.log(d[d > 0] / top)
    log_mean = np.logaddexp.reduce(log_terms) - np.log(d.size)
    return float(top * np.exp(log_mean / p))


@settings(max_examples=80, deadline=None)
@given(
    exponent=st.integers(-300, 300),
    p=st.sampled_from([1.0, 1.5, 2.0, 3.0, 17.0, 1e3, 1e8]),
    seed=st.integers(0, 2**32 - 1),
)
def test_wasserstein_across_magnitudes_and_orders(exponent, p, seed):
    rng = np.random.default_rng(seed)
    base_u, base_v = rng.normal(size=7), rng.normal(1.0, 2.0, size=7)
    scale = 10.0**exponent
    u, v = base_u * scale, base_v * scale
    got = wasserstein(u, v, p=p)
    assert np.isfinite(got)
    assert got == pytest.approx(scaled_reference_wasserstein(u, v, p), rel=1e-9)
    # W_p is positively homogeneous and, for large p, tends to the largest matched difference.
    assert got == pytest.approx(wasserstein(base_u, base_v, p=p) * scale, rel=1e-9)
    assert got <= np.abs(np.sort(u) - np.sort(v)).max() * (1 + 1e-12)
    if p == 1.0:
        assert got == pytest.approx(scipy.stats.wasserstein_distance(u, v), rel=1e-9)


def test_wasserstein_with_huge_or_zero_weights():
    u, v = [0.0, 1.0, 1e300], [2.0, 3.0]
    # Weights near float max: their sum overflows, the normalised cdf must not.
    big = wasserstein(u, v, u_weights=[1e308, 1e308, 0.0], p=2)
    assert big == pytest.approx(wasserstein([0.0, 1.0], v, p=2), rel=1e-15)
    # A zero-weight point far away carries no mass (0 * inf must not make NaN).
    assert wasserstein(u, v, u_weights=[1.0, 1.0, 0.0], p=3) == pytest.approx(
        wasserstein([0.0, 1.0], v, p=3), rel=1e-15
    )
    tiny = wasserstein(u, v, u_weights=[5e-324, 5e-324, 0.0], v_weights=[1e-320, 1e-320])
    assert tiny == pytest.approx(2.0, rel=1e-15)


def test_aot_loss_refuses_overflowing_log_ratios():
    with pytest.raises(NonFiniteError, match=r"chosen_logps: chosen_logps\[0\] - rejected"):
        aot_loss([1e308], [-1e308], [0.0], [0.0])
    with pytest.raises(NonFiniteError, match="rejected_logps: rejected_logps"):
        aot_loss([0.0], [-1e308], [0.0], [1e308], mode="unpaired")


@pytest.mark.parametrize(
    ("call", "exc", "text"),
    [
        (lambda: wasserstein([[[1.0]]], [1.0]), ShapeError, "u: expected a 1-D or 2-D"),
        (lambda: wasserstein(np.ones((2, 0)), np.ones((2, 0))), ShapeError, "u: is empty"),
        (lambda: wasserstein([1.0 + 1j], [1.0]), InvalidArgumentError, "u: has complex"),
        (lambda: wasserstein([1.0], [2.0], u_weights=[np.nan]), NonFiniteError, "u_weights"),
        (lambda: wasserstein([1.0], [2.0], p=0.5), InvalidArgumentError, "p: must be >= 1"),
        (lambda: wasserstein([1.0], [2.0], p=np.inf), InvalidArgumentError, "p: must be finite"),
        (lambda: kmixup_match([[1 + 1j]], [[1.0]], 1), InvalidArgumentError, "x: has complex"),
        (lambda: kmixup_match([[1.0]], [[1.0]], 2.5), InvalidArgumentError, "k: expected int"),
        (lambda: quantile_function([1.0], 0.5, [0.0]), InvalidArgumentError, "weights: all"),
    ],
)
def test_hostile_but_honest_input(call, exc, text):
    with pytest.raises(exc, match=text):
        call()


def test_one_element_and_tied_samples():
    assert wasserstein([2.0], [5.0], p=3) == pytest.approx(3.0, rel=1e-15)
    with pytest.raises(ShapeError, match="u: expected .* got a scalar"):
        wasserstein(2.0, [5.0])  # a scalar is not a sample (issue 20): say so
    assert wasserstein([1.0] * 5, [1.0] * 3) == 0.0
    assert kmixup_match([[1.0]], [[7.0]], 1).tolist() == [0]
    assert kmixup_match(np.ones((4, 2)), np.ones((4, 2)), 10).tolist() == [0, 1, 2, 3]


def test_quantile_rows_refuse_a_result_beyond_the_memory_budget(monkeypatch):
    monkeypatch.setenv("CALIPERS_MAX_MEMORY", "1M")
    with pytest.raises(MemoryBudgetError, match=r"^q: would need .*fewer levels"):
        quantile_function(np.ones((1000, 3)), np.linspace(0, 1, 1000))
