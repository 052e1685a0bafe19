"""calipers.dominance against brute-force integrals, deepsig, plain formulas and simulations."""

from __future__ import annotations

import concurrent.futures
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from calipers import _core, dominance
from calipers.exceptions import (
    InvalidArgumentError,
    MemoryBudgetError,
    NonFiniteError,
    ShapeError,
)
from conftest import num_threads

_RAND = np.random.default_rng(2026)  # data for the error-path tests


def quantile(sample: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Q(t) = X_(ceil(n t)), the empirical quantile function."""
    s = np.sort(sample)
    return s[np.clip(np.ceil(len(s) * t).astype(int), 1, len(s)) - 1]


def brute_force_ratio(x, y, order, grid=240_000):
    """ε on a fine midpoint grid; Q⁽²⁾ by a cumulative midpoint sum (error O(1/grid))."""
    t = (np.arange(grid) + 0.5) / grid
    qx, qy = quantile(np.asarray(x), t), quantile(np.asarray(y), t)
    if order == 2:
        # integrated quantile at each midpoint: all previous cells plus half of this one
        qx = (np.cumsum(qx) - 0.5 * qx) / grid
        qy = (np.cumsum(qy) - 0.5 * qy) / grid
    d = qy - qx
    return np.sum(np.maximum(d, 0) ** 2) / np.sum(d**2)


samples = arrays(np.float64, st.integers(1, 25), elements=st.floats(-100, 100))


@settings(max_examples=60, deadline=None)
@given(samples, samples, st.sampled_from([1, 2]))
def test_ratios_of_both_directions_sum_to_one(x, y, order):
    a, b = dominance.violation_ratio(x, y, order), dominance.violation_ratio(y, x, order)
    assert 0.0 <= a <= 1.0
    assert a + b == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(samples, st.floats(0.01, 50), st.integers(1, 30), st.sampled_from([1, 2]))
def test_zero_under_quantile_dominance(x, shift, m, order):
    # y's quantiles lie below x's everywhere: sizes differ, support of y below min(x)
    y = np.linspace(x.min() - shift - 10, x.min() - shift, m)
    assert dominance.violation_ratio(x, y, order) == 0.0
    assert dominance.violation_ratio(x + shift, x, order) == 0.0


def test_second_order_dominance_without_first_order():
    y = np.random.default_rng(0).normal(size=300)
    sure = np.full(7, y.mean())  # a sure amount equal to the mean SSD-dominates y
    assert dominance.violation_ratio(sure, y, 2) == pytest.approx(0.0, abs=1e-15)
    assert 0.2 < dominance.violation_ratio(sure, y, 1) < 0.8


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize(("n", "m"), [(4, 6), (15, 8), (40, 40), (3, 1)])
def test_exact_integrals_equal_a_fine_grid(order, n, m):
    rng = np.random.default_rng(n * 100 + m)
    x, y = rng.normal(0.2, 1, size=n), rng.exponential(size=m) - 0.8
    exact = dominance.violation_ratio(x, y, order)
    assert exact == pytest.approx(brute_force_ratio(x, y, order), abs=2e-4)


def test_risk_aware_worked_example():
    # research note §1.4: a risky and a safe model with nearly equal means
    rng = np.random.default_rng(1)
    risky, safe = rng.normal(0.10, 1.5, size=5000), rng.normal(0.0, 0.5, size=5000)
    assert 0.3 < dominance.violation_ratio(risky, safe, 1) < 0.6
    assert dominance.violation_ratio(safe, risky, 2) < 0.01


def test_agrees_with_deepsig_up_to_its_tail_truncation():
    aso = pytest.importorskip("deepsig.aso")
    rng = np.random.default_rng(2)
    x, y = rng.normal(0.3, 1, size=400), rng.normal(0.0, 1.2, size=400)
    ours = dominance.violation_ratio(x, y, 1)
    # deepsig's statistic is a Riemann sum on t = dt, 2dt, ..., 1 - dt; written plainly:
    dt = 0.001
    t = np.arange(dt, 1, dt)
    d = quantile(y, t) - quantile(x, t)
    grid = np.sum(np.maximum(d[1:], 0) ** 2) / np.sum(d**2)
    theirs = aso.compute_violation_ratio(scores_a=x, scores_b=y, dt=dt)
    assert theirs == pytest.approx(grid, rel=1e-12)
    assert theirs == pytest.approx(ours, abs=0.01)  # violation in the body: grid error only
    # all the violation in the top 0.5 % tail: deepsig's default grid (dt=0.005) misses it
    x = np.linspace(1.0, 2.0, 1000)
    y = x - 0.5
    y[-1] = 10.0
    assert aso.compute_violation_ratio(scores_a=x, scores_b=y, dt=0.005) == 0.0
    exact = dominance.violation_ratio(x, y, 1)
    assert exact > 0.2 and exact == pytest.approx(brute_force_ratio(x, y, 1), abs=1e-6)


def _one_vs_all(samples, order):
    m = len(samples)
    e = np.array([[dominance.violation_ratio(a, b, order) for b in samples] for a in samples])
    return (e.sum(axis=1) - np.diag(e)) / (m - 1)


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("paired", [True, False])
def test_bootstrap_replicates_equal_direct_recomputation(order, paired):
    """Each counts-based replicate equals ε_i recomputed from the resampled scores."""
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(3, 37)) + np.array([[0.0], [0.2], [0.5]])
    samples = [np.ascontiguousarray(s) for s in scores]
    b = 40
    _, n_chunks = _core.resample_chunking(b)
    reps = _core.bootstrap_one_vs_all(samples, paired, order, 9, b, 0, n_chunks)
    sizes = [37] if paired else [37, 37, 37]
    idx = _core.bootstrap_indices(sizes, 9, b, 0, n_chunks).reshape(b, -1)
    for r in range(b):
        if paired:  # indices are items, shared by the models
            resampled = [s[idx[r]] for s in samples]
        else:  # each model's indices point into its sorted scores
            resampled = [np.sort(s)[idx[r, 37 * k : 37 * (k + 1)]] for k, s in enumerate(samples)]
        np.testing.assert_allclose(reps[r], _one_vs_all(resampled, order), atol=1e-12)


def test_compare_against_plain_formulas():
    rng = np.random.default_rng(4)
    scores = rng.normal(size=(4, 300)) + np.array([[0.0], [0.05], [0.4], [0.8]])
    res = dominance.compare(
        scores, order=2, n_resamples=400, rng=5, model_names=list("abcd"), mean_guard=False
    )
    np.testing.assert_allclose(res.eps_i, _one_vs_all(list(scores), 2), atol=1e-12)
    np.testing.assert_allclose(res.delta, res.eps_i[:, None] - res.eps_i[None, :])
    np.testing.assert_allclose(res.eps + res.eps.T, 1.0, atol=1e-12)
    _, n_chunks = _core.resample_chunking(400)
    reps = _core.bootstrap_one_vs_all(list(scores), True, 2, 5, 400, 0, n_chunks)
    sd = np.std(reps[:, 0] - reps[:, 3], ddof=1)
    assert res.sigma[0, 3] == pytest.approx(sd, rel=1e-9)
    z = res.delta[3, 0] / sd
    assert res.pvalue[3, 0] == pytest.approx(scipy.stats.norm.cdf(z), rel=1e-9)
    # Bonferroni over 6 pairs, two-sided: reject iff Δ + z_{1 - α/12} σ < 0
    crit = scipy.stats.norm.ppf(1 - 0.05 / 12)
    expected = res.delta + crit * res.sigma < 0
    np.fill_diagonal(expected, False)
    np.testing.assert_array_equal(res.reject, expected)
    np.testing.assert_array_equal(res.borda, expected.sum(axis=1))
    assert list(res.ranking["model"][:2]) == ["d", "c"]
    assert list(res.ranking["rank"]) == [1, 2, 3, 4]
    assert not (res.reject & res.reject.T).any()
    guarded = dominance.compare(scores, order=2, n_resamples=400, rng=5)
    d = scores[3] - scores[0]
    p_mean = scipy.stats.norm.sf(d.mean() / (d.std(ddof=1) / np.sqrt(len(d))))
    assert guarded.pvalue_mean[3, 0] == pytest.approx(p_mean, rel=1e-9)
    np.testing.assert_array_equal(guarded.pvalue, np.maximum(res.pvalue, guarded.pvalue_mean))
    assert (guarded.reject <= res.reject).all()


def test_holm_is_the_plain_step_down_and_rejects_a_superset():
    rng = np.random.default_rng(5)
    scores = rng.normal(size=(5, 200)) + np.linspace(0, 0.6, 5)[:, None]
    bonf = dominance.compare(scores, n_resamples=300, rng=1)
    holm = dominance.compare(scores, n_resamples=300, rng=1, correction="holm")
    assert (holm.reject >= bonf.reject).all()
    iu = np.triu_indices(5, 1)
    p2 = 2 * np.minimum(holm.pvalue[iu], holm.pvalue.T[iu])
    order = np.argsort(p2)
    n_pairs = len(p2)
    rejected = np.zeros(n_pairs, dtype=bool)
    for k, idx in enumerate(order):  # Holm: stop at the first non-rejection
        if p2[idx] >= 0.05 / (n_pairs - k):
            break
        rejected[idx] = True
    assert rejected.sum() == holm.reject.sum()


def test_portfolio_against_pooled_ecdf_and_geometric_mean():
    rng = np.random.default_rng(6)
    cube = rng.normal(size=(3, 50, 2))
    cube[:, :, 1] = np.round(cube[:, :, 1], 1)  # ties
    w = np.array([3.0, 1.0])
    out = dominance.portfolio(cube, w, lower_is_better=[False, True])
    f0 = scipy.stats.percentileofscore(cube[:, :, 0].ravel(), cube[:, :, 0], kind="weak") / 100
    f1 = scipy.stats.percentileofscore(-cube[:, :, 1].ravel(), -cube[:, :, 1], kind="weak") / 100
    np.testing.assert_allclose(out, f0**0.75 * f1**0.25, rtol=1e-12)
    res3 = dominance.compare(cube, metric_weights=w, n_resamples=100, rng=1)
    res2 = dominance.compare(dominance.portfolio(cube, w), n_resamples=100, rng=1)
    np.testing.assert_array_equal(res3.eps, res2.eps)


def test_long_table_input():
    rng = np.random.default_rng(7)
    scores = rng.normal(size=(3, 20, 2))
    rows = [
        {"model": f"m{i}", "item": j, "metric": f"k{k}", "score": scores[i, j, k]}
        for i in range(3)
        for j in range(20)
        for k in range(2)
    ]
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=1)
    res = dominance.compare(df, n_resamples=100, rng=1)
    np.testing.assert_allclose(res.eps, dominance.compare(scores, n_resamples=100, rng=1).eps)
    assert res.model_names == ["m0", "m1", "m2"]
    flat = pd.DataFrame(rows).query("metric == 'k0'").drop(columns="metric")
    res2 = dominance.compare(flat, n_resamples=100, rng=1)
    np.testing.assert_allclose(
        res2.eps, dominance.compare(scores[:, :, 0], n_resamples=100, rng=1).eps
    )


def test_absolute_test_formula():
    rng = np.random.default_rng(8)
    x, y = rng.normal(0.3, 1, size=200), rng.normal(0.0, 1, size=150)
    res = dominance.absolute_test(x, y, 1, n_resamples=500, rng=3, eps0=0.2)
    _, n_chunks = _core.resample_chunking(500)
    reps = _core.bootstrap_one_vs_all([x, y], False, 1, 3, 500, 0, n_chunks)[:, 0]
    eps = dominance.violation_ratio(x, y, 1)
    scale = np.sqrt(200 * 150 / 350)
    sigma = np.std(scale * (reps - eps), ddof=1)
    eps_min = eps - sigma / scale * scipy.stats.norm.ppf(0.05)
    assert res.eps == eps and res.sigma == pytest.approx(sigma, rel=1e-12)
    assert res.eps_min == pytest.approx(eps_min, rel=1e-12)
    assert res.pvalue == pytest.approx(scipy.stats.norm.cdf((eps - 0.2) / (sigma / scale)))
    assert res.reject == (eps_min < 0.2)
    reverse = dominance.absolute_test(y, x, 1, n_resamples=500, rng=3)
    assert reverse.eps == pytest.approx(1 - eps) and not reverse.reject


def test_absolute_test_close_to_deepsig_aso():
    aso = pytest.importorskip("deepsig.aso")
    rng = np.random.default_rng(9)
    x, y = rng.normal(0.5, 1, size=150), rng.normal(0.0, 1, size=150)
    ours = dominance.absolute_test(x, y, 1, n_resamples=1000, rng=1)
    theirs = aso.aso(x, y, num_bootstrap_iterations=100, show_progress=False, seed=1)
    # ε̂ differs by the grid; ε_min also by bootstrap noise (deepsig: 100 replicates here)
    assert ours.eps_min == pytest.approx(theirs, abs=0.05)


def _dominance_results(executor=None):
    scores = np.random.default_rng(10).normal(size=(4, 123))
    kw = {"n_resamples": 150, "rng": 4, "executor": executor}
    out = []
    for order in (1, 2):
        out.append(dominance.compare(scores, order=order, **kw).sigma)
        out.append(dominance.compare(list(scores[:, :-3]) + [scores[3]], paired=False, **kw).sigma)
    out.append(dominance.absolute_test(scores[0], scores[1, :50], **kw).sigma)
    return out


def test_bit_identical_across_threads_and_executors():
    with num_threads(1):
        reference = _dominance_results()
    for n in (2, 4):
        with num_threads(n):
            for a, b in zip(reference, _dominance_results(), strict=True):
                np.testing.assert_array_equal(a, b)
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as ex:
        for a, b in zip(reference, _dominance_results(ex), strict=True):
            np.testing.assert_array_equal(a, b)


def test_progress_and_interrupt():
    scores = np.random.default_rng(11).normal(size=(3, 100))
    seen = []
    dominance.compare(scores, n_resamples=2000, rng=1, progress=lambda d, t: seen.append(d))
    assert seen[-1] == _core.resample_chunking(2000)[1]

    def stop(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dominance.compare(scores, n_resamples=2000, rng=1, progress=stop)


@pytest.mark.parametrize(
    ("scores", "kwargs", "exc", "text"),
    [
        (np.ones((1, 5)), {}, ShapeError, "one model"),
        (np.ones(5), {}, ShapeError, "one model"),
        (np.zeros((2, 0)), {}, ShapeError, "empty"),
        ([[1.0, np.nan], [1.0, 2.0]], {}, NonFiniteError, "nan_policy"),
        ([np.ones(3), np.ones(4)], {}, ShapeError, "paired=False"),
        (np.ones((2, 5)), {"order": 3}, InvalidArgumentError, "order"),
        (np.ones((2, 5)), {"correction": "bh"}, InvalidArgumentError, "correction"),
        (np.ones((2, 5)), {"alpha": 0.0}, InvalidArgumentError, "alpha"),
        (np.ones((2, 5)), {"metric_weights": [1.0]}, InvalidArgumentError, "metric_weights"),
        (np.ones((2, 5)), {"model_names": ["a"]}, ShapeError, "model_names"),
        (np.ones((2, 5, 2)), {"metric_weights": [1.0]}, ShapeError, "metric_weights"),
        (pd.DataFrame({"model": [1], "score": [1.0]}), {}, ShapeError, "item"),
    ],
)
def test_bad_input_is_a_clear_error(scores, kwargs, exc, text):
    with pytest.raises(exc, match=text):
        dominance.compare(scores, n_resamples=10, **kwargs)


def test_nan_policy_omit_and_identical_models():
    x = np.array([[1.0, 2.0, np.nan, 4.0], [1.0, 2.5, 3.0, 3.5]])
    res = dominance.compare(x, nan_policy="omit", n_resamples=50, rng=1)
    assert res.eps[0, 1] == dominance.violation_ratio([1, 2, 4], [1, 2.5, 3.5], 1)
    same = dominance.compare(np.ones((3, 10)), n_resamples=50, rng=1)
    np.testing.assert_array_equal(same.eps, 0.5)
    assert not same.reject.any()


def _rejection_rates(shifts, n, n_sims, n_resamples, order=1, seed=0):
    """Share of simulations in which compare() rejects in each direction, per shift."""
    rng = np.random.default_rng(seed)
    out = []
    for shift in shifts:
        hits = np.zeros((2, 2))
        for s in range(n_sims):
            scores = rng.normal(size=(2, n)) + np.array([[shift], [0.0]])
            hits += dominance.compare(scores, order=order, n_resamples=n_resamples, rng=s).reject
        out.append(hits / n_sims)
    return out


@pytest.mark.slow
def test_type_one_error_of_the_relative_test_on_identical_distributions():
    n_sims = 1000
    for order in (1, 2):
        rates = _rejection_rates([0.0], 200, n_sims, 200, order=order)[0]
        any_rate = rates.sum()  # both directions: each false claim is a type-I error
        mc = np.sqrt(0.05 * 0.95 / n_sims)
        assert abs(any_rate - 0.05) < 3 * mc + 0.01, (order, any_rate)
    # many models: the Bonferroni family-wise rate stays below α
    rng = np.random.default_rng(1)
    fwer = np.mean(
        [
            dominance.compare(rng.normal(size=(5, 100)), n_resamples=100, rng=s).reject.any()
            for s in range(300)
        ]
    )
    assert fwer <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 300)


@pytest.mark.slow
def test_power_grows_with_the_shift():
    rates = _rejection_rates([0.05, 0.15, 0.3, 0.5], 200, 150, 200, seed=2)
    power = [r[0, 1] for r in rates]
    assert all(a <= b + 0.03 for a, b in zip(power, power[1:], strict=False)), power
    assert power[-1] > 0.9 and power[0] < 0.3
    assert all(r[1, 0] <= 0.02 for r in rates)  # almost never the wrong direction


# ----------------------------------------------------------------------------------------------
# Robustness: extreme magnitudes, zero variance, absurd sizes, hostile input


def exact_ratio(x, y, order):
    """ε written with exact rationals on the merged grid (equal or unequal sizes): the
    quantile difference is constant on each cell, the integrated one linear."""
    xs = sorted(Fraction(v) for v in x)
    ys = sorted(Fraction(v) for v in y)
    n, m = len(xs), len(ys)
    cuts = sorted({Fraction(k, n) for k in range(n + 1)} | {Fraction(k, m) for k in range(m + 1)})
    above = total = Fraction(0)
    area = Fraction(0)
    for a, b in zip(cuts, cuts[1:], strict=False):
        mid = (a + b) / 2
        d = ys[int(mid * m)] - xs[int(mid * n)]
        w = b - a
        if order == 1:
            sq, pos = d * d * w, max(d, 0) ** 2 * w
        else:
            start, end = area, area + d * w
            area = end
            sq = w * (start * start + start * end + end * end) / 3
            if start >= 0 and end >= 0:
                pos = sq
            elif start <= 0 and end <= 0:
                pos = Fraction(0)
            else:  # split at the zero crossing
                s = start / (start - end)
                pos = w * s * start * start / 3 if start > 0 else w * (1 - s) * end * end / 3
        above += pos
        total += sq
    return Fraction(1, 2) if total == 0 else above / total


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        ([1e-200, 2e-200], [0.0, 1.5e-200], 0.0),
        ([1e160, 2e160], [0.0, 3e160], 0.5),
        ([-1e308, 1e308], [1e308, 1.7e308], 1.0),
        ([1e-300, 1e300], [2e-300, 1e300], 1.0),
        ([5e-324, 1e-323], [0.0, 1e-323], 0.0),
    ],
)
def test_issue_reproducers_of_extreme_magnitudes(x, y, expected):
    for order in (1, 2):
        got = dominance.violation_ratio(x, y, order)
        assert got == pytest.approx(float(exact_ratio(x, y, order)), abs=1e-12)
    assert dominance.violation_ratio(x, y, 1) == pytest.approx(expected, abs=1e-12)


magnitudes = st.builds(
    lambda mantissa, exponent: mantissa * 10.0**exponent,
    st.floats(-9.99, 9.99),
    st.integers(-300, 300),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(magnitudes, min_size=1, max_size=6),
    st.lists(magnitudes, min_size=1, max_size=6),
    st.sampled_from([1, 2]),
)
def test_violation_ratio_is_exact_over_every_magnitude(x, y, order):
    got = dominance.violation_ratio(x, y, order)
    assert 0.0 <= got <= 1.0
    assert got == pytest.approx(float(exact_ratio(x, y, order)), abs=1e-9)


def test_extreme_scores_reach_compare_and_absolute_test_as_numbers():
    rng = np.random.default_rng(30)
    unit = rng.random((3, 30)) + np.array([[0.0], [0.3], [0.6]])
    for scale in (1e160, 1e300, 1e-200):
        for order in (1, 2):
            big = dominance.compare(unit * scale, order=order, n_resamples=100, rng=1)
            ref = dominance.compare(unit, order=order, n_resamples=100, rng=1)
            np.testing.assert_allclose(big.eps, ref.eps, atol=1e-12)
            np.testing.assert_allclose(big.sigma, ref.sigma, atol=1e-9)
            np.testing.assert_array_equal(big.reject, ref.reject)
            assert np.all(np.isfinite(big.pvalue)) and np.all(np.isfinite(big.ranking["mean"]))
            a = dominance.absolute_test(unit[2] * scale, unit[0] * scale, order, rng=1)
            assert np.isfinite(a.eps) and np.isfinite(a.pvalue) and np.isfinite(a.sigma)


def test_zero_variance_gives_one_half_not_nan():
    res = dominance.absolute_test(np.ones(10), np.ones(10), rng=1)
    assert res.eps == 0.5 and res.sigma == 0.0 and res.pvalue == 0.5
    for scores in (np.ones((3, 10)), np.vstack([np.arange(10.0)] * 2)):
        same = dominance.compare(scores, n_resamples=50, rng=1)
        off = ~np.eye(len(scores), dtype=bool)
        np.testing.assert_array_equal(same.pvalue[off], 0.5)
        np.testing.assert_array_equal(same.pvalue_clt[off], 0.5)
        assert not np.isnan(same.pvalue_adjusted).any() and not same.reject.any()


@pytest.mark.parametrize(
    "call",
    [
        lambda: dominance.absolute_test(_RAND.random(30), _RAND.random(30), n_resamples=10**12),
        lambda: dominance.compare(_RAND.random((3, 30)), n_resamples=10**12),
    ],
)
def test_absurd_resample_counts_are_a_memory_error(call):
    with pytest.raises(MemoryBudgetError, match="n_resamples"):
        call()


def test_core_one_vs_all_refuses_absurd_counts_before_allocating():
    b = 10**12
    x = _RAND.random(30)
    with pytest.raises(MemoryBudgetError, match="n_resamples"):
        _core.bootstrap_one_vs_all([x, x], True, 1, 1, b, 0, _core.resample_chunking(b)[1])


@pytest.mark.parametrize(
    ("call", "exc", "text"),
    [
        (lambda: dominance.violation_ratio([], [1.0]), ShapeError, "x"),
        (lambda: dominance.violation_ratio(1.0, [1.0]), ShapeError, "scalar"),
        (lambda: dominance.violation_ratio([1j], [1.0]), InvalidArgumentError, "complex"),
        (lambda: dominance.violation_ratio([np.nan], [1.0]), NonFiniteError, "x"),
        (
            lambda: dominance.violation_ratio([1.0], [2.0], order=True),
            InvalidArgumentError,
            "order",
        ),
        (
            lambda: dominance.absolute_test([1.0, 2.0], [1.0], paired=True),
            ShapeError,
            "paired=False",
        ),
        (
            lambda: dominance.absolute_test([1.0, 2.0], [1.0], n_resamples=1),
            InvalidArgumentError,
            "n_resamples",
        ),
        (
            lambda: dominance.compare(
                pd.DataFrame({"model": ["a", "a"], "item": [1, 1], "score": [1.0, 2.0]})
            ),
            ShapeError,
            "duplicate",
        ),
    ],
)
def test_hostile_input_is_a_clear_error(call, exc, text):
    with pytest.raises(exc, match=text):
        call()


def test_one_item_models_and_ties_are_answered():
    assert dominance.violation_ratio([1.0], [1.0]) == 0.5
    assert dominance.violation_ratio([2.0], [1.0]) == 0.0
    res = dominance.compare(np.array([[1.0], [0.0]]), n_resamples=20, rng=1)
    assert np.all(np.isfinite(res.pvalue)) and res.eps[0, 1] == 0.0
    tied = dominance.compare(np.array([[0, 1, 1, 0], [1, 0, 0, 1]] * 1, dtype=float), rng=1)
    assert tied.eps[0, 1] == 0.5 and not tied.reject.any()
