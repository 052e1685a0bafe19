"""calipers.resample against scipy.stats, plain numpy formulas, invariants and simulations."""

from __future__ import annotations

import concurrent.futures
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from calipers import _core, _multitest, resample
from calipers.exceptions import (
    InvalidArgumentError,
    MemoryBudgetError,
    NonFiniteError,
    ShapeError,
)
from conftest import num_threads

_RAND = np.random.default_rng(2026)  # data for the error-path tests


def scipy_ci_from(boot: np.ndarray, data: tuple, statistic, method: str, level: float = 0.95):
    """scipy's interval for a bootstrap distribution we hand it (n_resamples=0)."""
    fed = SimpleNamespace(bootstrap_distribution=boot)
    res = scipy.stats.bootstrap(
        data,
        statistic,
        n_resamples=0,
        bootstrap_result=fed,
        method=method,
        confidence_level=level,
        vectorized=True,
    )
    return res.confidence_interval


@pytest.mark.parametrize("method", ["percentile", "basic", "BCa"])
def test_intervals_equal_scipy_for_the_same_bootstrap_distribution(method):
    rng = np.random.default_rng(0)
    x = rng.exponential(size=300)
    r = resample.bootstrap(x, n_resamples=3000, method=method.lower(), rng=1)
    ci = scipy_ci_from(r.bootstrap_distribution, (x,), np.mean, method)
    assert r.confidence_interval.low == pytest.approx(ci.low, rel=1e-12)
    assert r.confidence_interval.high == pytest.approx(ci.high, rel=1e-12)
    assert r.standard_error == pytest.approx(np.std(r.bootstrap_distribution, ddof=1))


def test_bca_of_a_user_statistic_equals_scipy_for_the_same_distribution():
    x = np.random.default_rng(1).lognormal(size=120)
    r = resample.bootstrap(x, np.median, n_resamples=2000, rng=2)
    ci = scipy_ci_from(r.bootstrap_distribution, (x,), np.median, "BCa")
    assert r.statistic == np.median(x)
    assert r.confidence_interval.low == pytest.approx(ci.low, rel=1e-12)
    assert r.confidence_interval.high == pytest.approx(ci.high, rel=1e-12)


@pytest.mark.parametrize("method", ["percentile", "basic", "bca"])
def test_intervals_are_statistically_close_to_scipy(method):
    x = np.random.default_rng(2).gamma(2.0, size=400)
    ours = resample.bootstrap(x, n_resamples=20_000, method=method, rng=3)
    theirs = scipy.stats.bootstrap(
        (x,), np.mean, n_resamples=20_000, method=method, rng=np.random.default_rng(4)
    )
    width = theirs.confidence_interval.high - theirs.confidence_interval.low
    assert abs(ours.confidence_interval.low - theirs.confidence_interval.low) < 0.03 * width
    assert abs(ours.confidence_interval.high - theirs.confidence_interval.high) < 0.03 * width
    assert ours.standard_error == pytest.approx(theirs.standard_error, rel=0.03)


def test_callable_mean_sees_the_same_resamples_as_the_fast_mean():
    scores = np.random.default_rng(3).normal(size=(4, 90))
    for paired in (True, False):
        fast = resample.bootstrap(scores, paired=paired, n_resamples=500, rng=5)
        slow = resample.bootstrap(scores, np.mean, paired=paired, n_resamples=500, rng=5)
        np.testing.assert_allclose(
            fast.bootstrap_distribution, slow.bootstrap_distribution, rtol=0, atol=1e-12
        )


def test_paired_resampling_shares_items_across_models():
    rng = np.random.default_rng(4)
    base = rng.normal(size=200)
    scores = np.vstack([base, base + 1.0])  # model 1 = model 0 + 1 on every item
    paired = resample.bootstrap(scores, n_resamples=300, rng=1).bootstrap_distribution
    np.testing.assert_allclose(paired[1] - paired[0], 1.0, atol=1e-12)
    unpaired = resample.bootstrap(scores, paired=False, n_resamples=300, rng=1)
    assert np.std(unpaired.bootstrap_distribution[1] - unpaired.bootstrap_distribution[0]) > 0.05


def test_ragged_unpaired_and_one_dimensional_input():
    rng = np.random.default_rng(5)
    samples = [rng.normal(size=30), rng.normal(size=55)]
    r = resample.bootstrap(samples, paired=False, n_resamples=200, rng=1)
    assert r.statistic.shape == (2,) and r.bootstrap_distribution.shape == (2, 200)
    one = resample.bootstrap(samples[0], n_resamples=200, rng=1, method="percentile")
    assert isinstance(one.statistic, float) and one.bootstrap_distribution.shape == (200,)
    assert one.confidence_interval.low < one.statistic < one.confidence_interval.high


def test_pairwise_differences_against_plain_formulas():
    rng = np.random.default_rng(6)
    scores = rng.normal(size=(3, 400)) + np.array([[0.0], [0.05], [0.3]])
    res = resample.pairwise_differences(scores, n_resamples=4000, method="percentile", rng=2)
    means = scores.mean(axis=1)
    np.testing.assert_allclose(res.difference, means[:, None] - means[None, :], atol=1e-14)
    boot = resample.bootstrap(scores, n_resamples=4000, rng=2).bootstrap_distribution
    d = boot[0] - boot[2]
    assert res.standard_error[0, 2] == pytest.approx(d.std(ddof=1), rel=1e-12)
    assert res.confidence_interval.low[0, 2] == pytest.approx(np.percentile(d, 2.5), rel=1e-12)
    assert res.confidence_interval.high[2, 0] == pytest.approx(-np.percentile(d, 2.5), rel=1e-12)
    obs = means[0] - means[2]
    plain_p = (1 + np.sum(np.abs(d - obs) >= abs(obs))) / (1 + len(d))
    assert res.pvalue[0, 2] == pytest.approx(plain_p) and res.pvalue[2, 0] == res.pvalue[0, 2]
    # paired SE of a difference is the SE of the per-item differences
    paired_se = (scores[0] - scores[2]).std() / np.sqrt(400)
    assert res.standard_error[0, 2] == pytest.approx(paired_se, rel=0.05)
    assert np.all(np.diag(res.pvalue) == 1.0) and res.pvalue[0, 2] < 0.01


def test_pairwise_bca_matches_scipy_paired_bootstrap_formula():
    rng = np.random.default_rng(7)
    x, y = rng.exponential(size=150), rng.exponential(size=150) * 1.1
    res = resample.pairwise_differences(np.vstack([x, y]), n_resamples=3000, rng=3)
    boot = resample.bootstrap(np.vstack([x, y]), n_resamples=3000, rng=3).bootstrap_distribution
    ci = scipy.stats.bootstrap(
        (x, y),
        lambda a, b, axis=-1: a.mean(axis) - b.mean(axis),
        n_resamples=0,
        paired=True,
        bootstrap_result=SimpleNamespace(bootstrap_distribution=boot[0] - boot[1]),
        method="BCa",
    ).confidence_interval
    assert res.confidence_interval.low[0, 1] == pytest.approx(ci.low, rel=1e-10)
    assert res.confidence_interval.high[0, 1] == pytest.approx(ci.high, rel=1e-10)


@pytest.mark.parametrize("paired", [True, False])
def test_permutation_test_against_scipy(paired):
    rng = np.random.default_rng(8)
    x = rng.normal(0.15, 1, size=300)
    y = rng.normal(0.0, 1, size=300) + (0.5 * x if paired else 0)
    ours = resample.permutation_test(x, y, paired=paired, n_resamples=20_000, rng=1)
    theirs = scipy.stats.permutation_test(
        (x, y),
        lambda a, b, axis=-1: a.mean(axis) - b.mean(axis),
        permutation_type="samples" if paired else "independent",
        n_resamples=20_000,
        vectorized=True,
        rng=np.random.default_rng(2),
    )
    assert ours.statistic == pytest.approx(theirs.statistic, rel=1e-12)
    assert abs(ours.pvalue - theirs.pvalue) < 0.01 + 0.1 * theirs.pvalue
    null = ours.null_distribution
    assert null.mean() == pytest.approx(0.0, abs=4 * null.std() / np.sqrt(len(null)))
    assert null.std() == pytest.approx(theirs.null_distribution.std(), rel=0.03)
    plain = min(
        1.0,
        2
        * min(
            (1 + np.sum(null <= ours.statistic)) / (1 + len(null)),
            (1 + np.sum(null >= ours.statistic)) / (1 + len(null)),
        ),
    )
    assert ours.pvalue == pytest.approx(plain)
    greater = resample.permutation_test(
        x, y, paired=paired, n_resamples=20_000, rng=1, alternative="greater"
    )
    assert greater.pvalue == pytest.approx((1 + np.sum(null >= ours.statistic)) / (1 + len(null)))


def test_rank_distribution_against_plain_ranks():
    rng = np.random.default_rng(9)
    scores = rng.normal(size=(4, 100)) + np.array([[0.0], [0.02], [0.04], [1.0]])
    res = resample.rank_distribution(scores, n_resamples=2000, rng=4)
    boot = resample.bootstrap(scores, n_resamples=2000, rng=4).bootstrap_distribution
    ranks = scipy.stats.rankdata(-boot, axis=0, method="average")
    np.testing.assert_allclose(res.expected_rank, ranks.mean(axis=1), atol=1e-12)
    np.testing.assert_allclose(res.probabilities.sum(axis=0), 1.0, atol=1e-12)
    np.testing.assert_allclose(res.probabilities.sum(axis=1), 1.0, atol=1e-12)
    assert res.p_best[3] == pytest.approx(1.0)
    worst = resample.rank_distribution(scores, n_resamples=2000, rng=4, higher_is_better=False)
    assert worst.probabilities[3, -1] == pytest.approx(1.0)


def test_rank_distribution_splits_ties():
    scores = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    res = resample.rank_distribution(scores, n_resamples=500, rng=1)
    # models 0 and 1 are identical: they always share ranks 1-2 (or all three when all zero)
    np.testing.assert_allclose(res.probabilities[0], res.probabilities[1])
    np.testing.assert_allclose(res.probabilities.sum(axis=0), 1.0)


def _all_results(executor=None):
    scores = np.random.default_rng(10).normal(size=(3, 257))
    kw = {"n_resamples": 333, "rng": 7, "executor": executor}
    return [
        resample.bootstrap(scores, **kw).bootstrap_distribution,
        resample.bootstrap(
            list(scores[:, :-5]) + [scores[2]], paired=False, **kw
        ).bootstrap_distribution,
        resample.bootstrap(scores, np.median, **kw).bootstrap_distribution,
        resample.permutation_test(scores[0], scores[1], **kw).null_distribution,
        resample.permutation_test(scores[0], scores[1, :100], paired=False, **kw).null_distribution,
        resample.rank_distribution(scores, **kw).probabilities,
        resample.pairwise_differences(scores, **kw).confidence_interval.low,
        resample.pairwise_differences(scores, method="percentile", **kw).standard_error,
    ]


def test_bit_identical_across_thread_counts():
    with num_threads(1):
        reference = _all_results()
    for n in (2, 4):
        with num_threads(n):
            for a, b in zip(reference, _all_results(), strict=True):
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "make", [concurrent.futures.ThreadPoolExecutor, concurrent.futures.ProcessPoolExecutor]
)
def test_bit_identical_on_executors(make):
    reference = _all_results()
    with make(max_workers=2) as ex:
        for a, b in zip(reference, _all_results(ex), strict=True):
            np.testing.assert_array_equal(a, b)


def test_bit_identical_on_a_dask_cluster_with_worker_processes():
    distributed = pytest.importorskip("dask.distributed")
    scores = np.random.default_rng(11).normal(size=(3, 500))
    local = resample.bootstrap(scores, n_resamples=2000, rng=3)
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        remote = resample.bootstrap(scores, n_resamples=2000, rng=3, executor=client)
        via_executor = resample.bootstrap(
            scores, n_resamples=2000, rng=3, executor=client.get_executor()
        )
    np.testing.assert_array_equal(local.bootstrap_distribution, remote.bootstrap_distribution)
    np.testing.assert_array_equal(local.confidence_interval.low, remote.confidence_interval.low)
    np.testing.assert_array_equal(local.bootstrap_distribution, via_executor.bootstrap_distribution)


def test_progress_callback_and_interrupt():
    scores = np.random.default_rng(12).normal(size=(2, 100))
    seen = []
    resample.bootstrap(scores, n_resamples=5000, rng=1, progress=lambda d, t: seen.append((d, t)))
    _, n_chunks = _core.resample_chunking(5000)
    assert seen and seen[-1] == (n_chunks, n_chunks)
    assert all(a[0] < b[0] for a, b in zip(seen, seen[1:], strict=False))

    def stop(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        resample.bootstrap(scores, n_resamples=5000, rng=1, progress=stop)


def test_progress_bar_or_an_error_naming_the_extra():
    scores = np.random.default_rng(12).normal(size=(2, 100))
    try:
        import tqdm  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"calipers\[report\]"):
            resample.bootstrap(scores, n_resamples=500, rng=1, progress=True)
    else:
        resample.bootstrap(scores, n_resamples=500, rng=1, progress=True)


def test_generator_and_int_seeds():
    x = np.arange(20.0)
    a = resample.bootstrap(x, n_resamples=50, rng=3).bootstrap_distribution
    b = resample.bootstrap(x, n_resamples=50, rng=3).bootstrap_distribution
    c = resample.bootstrap(x, n_resamples=50, rng=4).bootstrap_distribution
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    resample.bootstrap(x, n_resamples=50, rng=np.random.default_rng(1))


def test_nan_policy_omit():
    x = np.array([[1.0, np.nan, 3.0, 4.0], [1.0, 2.0, 3.0, 5.0]])
    r = resample.bootstrap(x, nan_policy="omit", n_resamples=100, rng=1, method="percentile")
    np.testing.assert_allclose(r.statistic, [8 / 3, 3.0])
    u = resample.bootstrap(list(x), paired=False, nan_policy="omit", n_resamples=100, rng=1)
    np.testing.assert_allclose(u.statistic, [8 / 3, 11 / 4])


def test_degenerate_data_warns_for_bca():
    with pytest.warns(resample.DegenerateDataWarning):
        r = resample.bootstrap(np.ones(10), n_resamples=100, rng=1)
    assert np.isnan(r.confidence_interval.low)
    p = resample.bootstrap(np.ones(10), n_resamples=100, rng=1, method="percentile")
    assert p.confidence_interval.low == p.confidence_interval.high == 1.0


@pytest.mark.parametrize(
    ("kwargs", "exc", "text"),
    [
        ({"scores": []}, ShapeError, "empty"),
        ({"scores": [[1.0, np.nan]]}, NonFiniteError, "nan_policy='omit'"),
        ({"scores": [np.ones(3), np.ones(4)]}, ShapeError, "paired=False"),
        ({"scores": np.ones(3), "method": "bc"}, InvalidArgumentError, "method"),
        ({"scores": np.ones(3), "n_resamples": 0}, InvalidArgumentError, "n_resamples"),
        ({"scores": np.ones(3), "confidence_level": 1.0}, InvalidArgumentError, "confidence"),
        ({"scores": np.ones(3), "statistic": "median"}, InvalidArgumentError, "statistic"),
        ({"scores": np.ones(3), "rng": "x"}, InvalidArgumentError, "rng"),
        ({"scores": np.ones(3), "executor": 3}, InvalidArgumentError, "executor"),
        ({"scores": np.ones(3), "progress": 3}, InvalidArgumentError, "progress"),
        ({"scores": np.ones((2, 2, 2))}, ShapeError, "1-D or 2-D"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, exc, text):
    with pytest.raises(exc, match=text):
        resample.bootstrap(**kwargs)


def test_permutation_bad_input():
    with pytest.raises(ShapeError, match="paired=False"):
        resample.permutation_test([1.0, 2.0], [1.0])
    with pytest.raises(InvalidArgumentError, match="alternative"):
        resample.permutation_test([1.0, 2.0], [1.0, 3.0], alternative="both")


def _coverage(draw, truth, n, n_sims, method):
    """Share of n_sims independent datasets whose interval covers ``truth``: each dataset is
    one row of an unpaired multi-model bootstrap, so one call computes them all."""
    data = draw((n_sims, n))
    r = resample.bootstrap(data, paired=False, n_resamples=1000, method=method, rng=11)
    low, high = r.confidence_interval
    return np.mean((low <= truth) & (truth <= high))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_ci_coverage_is_nominal_on_normal_and_skewed_data(method):
    rng = np.random.default_rng(13)
    n_sims = 4000  # Monte-Carlo sd of a 95 % coverage: 0.0034
    normal = _coverage(lambda s: rng.normal(1.0, 2.0, size=s), 1.0, 100, n_sims, method)
    skewed = _coverage(lambda s: rng.exponential(1.0, size=s), 1.0, 200, n_sims, method)
    assert abs(normal - 0.95) <= 0.02, normal
    assert abs(skewed - 0.95) <= 0.02, skewed


# ----------------------------------------------------------------------------------------------
# All pairs at leaderboard scale: the identity path against the pair-by-pair one


def _pairwise_pair_by_pair(scores, *, paired, n_resamples, method, rng, level=0.95):
    """The previous implementation: per model i, the replicate differences with every later
    model, its intervals, standard errors and p-values from numpy (kept here as the
    reference the fast path must reproduce)."""
    boot = resample.bootstrap(
        scores, paired=paired, n_resamples=n_resamples, rng=rng, method="percentile"
    ).bootstrap_distribution
    samples = [np.asarray(s, dtype=float) for s in scores]
    m = len(samples)
    means = np.array([s.mean() for s in samples])
    jack = [(s.sum() - s) / (len(s) - 1) for s in samples]
    diff = means[:, None] - means[None, :]
    se, low, high, pvalue = np.zeros((m, m)), np.zeros((m, m)), np.zeros((m, m)), np.ones((m, m))
    for i in range(m - 1):
        d_boot = boot[i][None, :] - boot[i + 1 :]
        d_obs = diff[i, i + 1 :]
        accel = None
        if method == "bca":
            if paired:
                sets = [[(jack[i] - jack[j], 1.0)] for j in range(i + 1, m)]
            else:
                sets = [[(jack[i], 1.0), (jack[j], -1.0)] for j in range(i + 1, m)]
            accel = np.array([resample.acceleration(s) for s in sets])
        lo, hi = resample.intervals(
            d_obs, d_boot, method=method, confidence_level=level, accel=accel
        )
        js = np.arange(i + 1, m)
        se[i, js] = se[js, i] = d_boot.std(axis=-1, ddof=1)
        low[i, js], high[i, js] = lo, hi
        low[js, i], high[js, i] = -hi, -lo
        b = d_boot.shape[-1]
        extreme = (np.abs(d_boot - d_obs[:, None]) >= np.abs(d_obs)[:, None]).sum(-1)
        pvalue[i, js] = pvalue[js, i] = np.minimum(1.0, (1.0 + extreme) / (1.0 + b))
    return SimpleNamespace(difference=diff, standard_error=se, low=low, high=high, pvalue=pvalue)


@pytest.mark.filterwarnings("ignore::calipers.resample.DegenerateDataWarning")  # models 2 = 3
@pytest.mark.parametrize("paired", [True, False])
@pytest.mark.parametrize("method", ["percentile", "basic", "bca"])
def test_all_pairs_reproduce_the_pair_by_pair_path(paired, method):
    rng = np.random.default_rng(20)
    scores = (rng.random((7, 83)) < np.linspace(0.3, 0.7, 7)[:, None]).astype(float)
    scores[3] = scores[2]  # identical models: zero spread, p-value 1
    kw = {"paired": paired, "n_resamples": 777, "rng": 5}
    fast = resample.pairwise_differences(scores, method=method, **kw)
    slow = _pairwise_pair_by_pair(scores, method=method, **kw)
    np.testing.assert_array_equal(fast.difference, slow.difference)
    np.testing.assert_array_equal(fast.pvalue, slow.pvalue)
    np.testing.assert_array_equal(fast.standard_error, slow.standard_error)
    if method == "bca":  # the acceleration sums in another order: equal to rounding
        np.testing.assert_allclose(fast.confidence_interval.low, slow.low, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(fast.confidence_interval.high, slow.high, rtol=1e-12, atol=1e-15)
    else:
        np.testing.assert_array_equal(fast.confidence_interval.low, slow.low)
        np.testing.assert_array_equal(fast.confidence_interval.high, slow.high)


def test_all_pairs_against_plain_numpy_on_the_drawn_indices():
    """The identity written plainly: replicate means of every model from the core's indices,
    differences per pair, numpy's std and percentiles, Holm by its definition."""
    rng = np.random.default_rng(21)
    scores = rng.normal(size=(6, 64)) + np.linspace(0, 0.4, 6)[:, None]
    b = 500
    res = resample.pairwise_differences(scores, n_resamples=b, method="percentile", rng=9)
    _, n_chunks = _core.resample_chunking(b)
    idx = _core.bootstrap_indices([64], 9, b, 0, n_chunks).reshape(b, 64)
    reps = scores[:, idx].mean(axis=-1)  # (models, B)
    for i in range(6):
        for j in range(6):
            if i == j:
                continue
            d = reps[i] - reps[j]
            assert res.standard_error[i, j] == pytest.approx(d.std(ddof=1), rel=1e-9)
            assert res.confidence_interval.low[i, j] == pytest.approx(
                np.percentile(d, 2.5), rel=1e-9, abs=1e-12
            )
            assert res.confidence_interval.high[i, j] == pytest.approx(
                np.percentile(d, 97.5), rel=1e-9, abs=1e-12
            )
    iu, ju = np.triu_indices(6, 1)
    p = res.pvalue[iu, ju]
    order = np.argsort(p, kind="stable")
    plain = np.empty_like(p)
    running = 0.0
    for k, idx_k in enumerate(order):
        running = max(running, min(1.0, (len(p) - k) * p[idx_k]))
        plain[idx_k] = running
    np.testing.assert_allclose(res.pvalue_adjusted[iu, ju], plain)
    np.testing.assert_allclose(res.pvalue_adjusted[ju, iu], plain)
    assert res.correction == "holm" and np.all(np.diag(res.pvalue_adjusted) == 1.0)


def test_all_pairs_span_several_blocks(monkeypatch):
    scores = np.random.default_rng(22).normal(size=(9, 40))
    whole = resample.pairwise_differences(scores, n_resamples=300, rng=1)
    monkeypatch.setattr(resample, "_PAIRS_PER_BLOCK", 5)
    blocks = list(resample._pair_blocks(9))
    assert len(blocks) > 3
    pairs = np.concatenate([np.stack(b, axis=1) for b in blocks])
    np.testing.assert_array_equal(pairs, np.stack(np.triu_indices(9, 1), axis=1))
    small = resample.pairwise_differences(scores, n_resamples=300, rng=1)
    for a, c in zip(
        (whole.standard_error, whole.confidence_interval.low, whole.pvalue_adjusted),
        (small.standard_error, small.confidence_interval.low, small.pvalue_adjusted),
        strict=True,
    ):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("correction", ["bh", "bonferroni", "none"])
def test_all_pairs_corrections(correction):
    scores = np.random.default_rng(23).normal(size=(5, 50)) + np.arange(5)[:, None] * 0.1
    res = resample.pairwise_differences(scores, n_resamples=400, rng=2, correction=correction)
    iu, ju = np.triu_indices(5, 1)
    p = res.pvalue[iu, ju]
    if correction == "none":
        expected = p
    elif correction == "bonferroni":
        expected = np.minimum(1.0, len(p) * p)
    else:
        ranked = np.argsort(p, kind="stable")
        scaled = p[ranked] * len(p) / np.arange(1, len(p) + 1)
        expected = np.empty_like(p)
        expected[ranked] = np.minimum(1.0, [scaled[k:].min() for k in range(len(p))])
    np.testing.assert_allclose(res.pvalue_adjusted[iu, ju], expected)
    with pytest.raises(InvalidArgumentError, match="correction"):
        resample.pairwise_differences(scores, correction="sidak")


def test_all_pairs_bit_identical_on_threads_and_a_dask_cluster():
    distributed = pytest.importorskip("dask.distributed")
    scores = np.random.default_rng(24).normal(size=(12, 70))
    kw = {"n_resamples": 700, "rng": 3}
    with num_threads(1):
        local = resample.pairwise_differences(scores, **kw)
    with num_threads(2):
        two = resample.pairwise_differences(scores, **kw)
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        remote = resample.pairwise_differences(scores, executor=client, **kw)
    for other in (two, remote):
        for name in ("difference", "standard_error", "pvalue", "pvalue_adjusted"):
            np.testing.assert_array_equal(getattr(local, name), getattr(other, name))
        np.testing.assert_array_equal(local.confidence_interval.low, other.confidence_interval.low)
        np.testing.assert_array_equal(
            local.confidence_interval.high, other.confidence_interval.high
        )


def _rank_probabilities_plain(boot, higher_is_better):
    """P(model k holds rank j) summed directly: scipy's min and max ranks, each replicate
    giving 1/(tie size) to every rank of its tie group."""
    m, b = boot.shape
    values = -boot.T if higher_is_better else boot.T
    low = scipy.stats.rankdata(values, method="min", axis=1).astype(np.int64)
    high = scipy.stats.rankdata(values, method="max", axis=1).astype(np.int64)
    share = 1.0 / (high - low + 1)
    ranks = np.arange(1, m + 1)
    holds = (low[:, :, None] <= ranks) & (ranks <= high[:, :, None])  # (b, m, m)
    return (holds * share[:, :, None]).sum(axis=0) / b, holds.any(axis=0)


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_rank_kernel_equals_the_plain_one_with_and_without_ties(higher_is_better):
    rng = np.random.default_rng(25)
    continuous = rng.normal(size=(30, 200))
    tied = rng.integers(0, 4, size=(30, 200)).astype(float)
    tied[5] = tied[6]
    for boot in (continuous, tied):
        got = resample.rank_probabilities(boot, higher_is_better)
        expected, possible = _rank_probabilities_plain(boot, higher_is_better)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14)
        # exactly 0 at ranks a model never held: no rounding residue (it was -1e-16)
        assert (got >= 0).all()
        assert (got[~possible] == 0).all()
        np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# Robustness: absurd sizes, too few resamples, extreme magnitudes, hostile input


@pytest.mark.parametrize(
    "call",
    [
        lambda: resample.bootstrap(_RAND.random(30), n_resamples=10**12),
        lambda: resample.bootstrap(_RAND.random(30), np.median, n_resamples=10**12),
        lambda: resample.pairwise_differences(_RAND.random((3, 30)), n_resamples=10**12),
        lambda: resample.rank_distribution(_RAND.random((3, 30)), n_resamples=10**12),
        lambda: resample.permutation_test(_RAND.random(30), _RAND.random(30), n_resamples=10**12),
        lambda: resample.permutation_test(
            _RAND.random(30), _RAND.random(20), paired=False, n_resamples=10**12
        ),
    ],
)
def test_absurd_resample_counts_are_a_memory_error_naming_the_argument(call):
    with pytest.raises(MemoryBudgetError, match="n_resamples"):
        call()


def test_core_kernels_refuse_absurd_resample_counts_before_allocating():
    b = 10**12
    _, n_chunks = _core.resample_chunking(b)
    x = _RAND.random(30)
    for call in (
        lambda: _core.bootstrap_means([x], True, 1, b, 0, n_chunks),
        lambda: _core.bootstrap_indices([30], 1, b, 0, n_chunks),
        lambda: _core.permutation_null_paired(x, 1, b, 0, n_chunks),
        lambda: _core.permutation_null_unpaired(x, x, 1, b, 0, n_chunks),
    ):
        with pytest.raises(MemoryBudgetError, match="n_resamples"):
            call()


def test_too_few_resamples_for_an_interval_is_refused_with_the_minimum():
    with pytest.raises(InvalidArgumentError, match="at least 20"):
        resample.bootstrap(_RAND.random(30), n_resamples=1)
    with pytest.raises(InvalidArgumentError, match="at least 100"):
        resample.pairwise_differences(_RAND.random((2, 30)), n_resamples=50, confidence_level=0.99)
    r = resample.bootstrap(_RAND.random(30), n_resamples=20, rng=1)
    assert np.isfinite(r.confidence_interval.low) and np.isfinite(r.standard_error)
    # no interval, no minimum beyond one replicate
    assert (
        len(
            resample.permutation_test(
                [1.0, 2.0], [0.0, 1.0], n_resamples=1, rng=1
            ).null_distribution
        )
        == 1
    )


@pytest.mark.parametrize("scale", [1e308, -1e308, 1e-308, 5e-324 * 2**20, 1e200])
def test_extreme_magnitudes_give_the_scaled_answer(scale):
    """Every statistic here is homogeneous: the data times 2^-e (exact) give the unit-scale
    answer, which times 2^e must be the answer at the data's scale (to rounding, and to the
    few bits a subnormal result can hold)."""
    rng = np.random.default_rng(26)
    data = rng.random((3, 40)) * scale
    e = int(np.frexp(np.abs(data).max())[1])
    unit = np.ldexp(data, -e)

    def close(got, want):
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, np.ldexp(want, e), rtol=1e-9, atol=4 * 5e-324)

    kw = {"n_resamples": 500, "rng": 4}
    for method in ("percentile", "bca"):
        r = resample.bootstrap(data, method=method, **kw)
        u = resample.bootstrap(unit, method=method, **kw)
        close(r.statistic, u.statistic)
        close(r.standard_error, u.standard_error)
        close(r.confidence_interval.low, u.confidence_interval.low)
        close(r.confidence_interval.high, u.confidence_interval.high)
    p = resample.pairwise_differences(data, **kw)
    pu = resample.pairwise_differences(unit, **kw)
    np.testing.assert_array_equal(p.pvalue, pu.pvalue)
    close(p.standard_error, pu.standard_error)
    close(p.confidence_interval.low, pu.confidence_interval.low)
    t = resample.permutation_test(data[0], data[1], **kw)
    tu = resample.permutation_test(unit[0], unit[1], **kw)
    assert t.pvalue == tu.pvalue
    close(t.statistic, tu.statistic)
    np.testing.assert_array_equal(
        resample.rank_distribution(data, **kw).probabilities,
        resample.rank_distribution(unit, **kw).probabilities,
    )


def test_opposite_extremes_do_not_overflow_to_nan():
    x = np.array([1e308, -1e308, 1.7e308, -1.5e308])
    r = resample.bootstrap(x, n_resamples=400, rng=1, method="percentile")
    assert np.isfinite(r.statistic) and np.isfinite(r.standard_error)
    assert r.statistic == pytest.approx(np.mean(x / 4) * 4)
    t = resample.permutation_test(x, -x, n_resamples=400, rng=1)
    assert 0 < t.pvalue <= 1 and not np.isnan(t.statistic)


@pytest.mark.parametrize(
    ("call", "exc", "text"),
    [
        (lambda: resample.bootstrap(3.0), ShapeError, "scalar"),
        (lambda: resample.bootstrap(np.array(3.0)), ShapeError, "scalar"),
        (lambda: resample.bootstrap(np.array([1 + 2j, 3.0])), InvalidArgumentError, "complex"),
        (lambda: resample.bootstrap([[]]), ShapeError, "empty"),
        (lambda: resample.permutation_test([], [1.0]), ShapeError, "x: is empty"),
        (lambda: resample.permutation_test([1.0], []), ShapeError, "y: is empty"),
        (lambda: resample.permutation_test([np.nan, 1.0], [1.0, 2.0]), NonFiniteError, "x"),
        (
            lambda: resample.bootstrap([1.0, np.nan], nan_policy="propagate"),
            InvalidArgumentError,
            "propagate",
        ),
        (lambda: resample.bootstrap([np.nan, np.nan], nan_policy="omit"), ShapeError, "omitting"),
        (lambda: resample.bootstrap([1.0, np.inf], nan_policy="omit"), NonFiniteError, "inf"),
        (lambda: resample.bootstrap(np.ones(3), n_resamples=2.5), InvalidArgumentError, "int"),
        (lambda: resample.bootstrap(np.ones(3), n_resamples=True), InvalidArgumentError, "int"),
    ],
)
def test_hostile_input_is_a_clear_error(call, exc, text):
    with pytest.raises(exc, match=text):
        call()


def test_one_item_and_constant_data_are_answered_honestly():
    one = resample.bootstrap([4.0], n_resamples=100, rng=1, method="percentile")
    assert one.statistic == 4.0 and one.standard_error == 0.0
    assert one.confidence_interval.low == one.confidence_interval.high == 4.0
    with pytest.warns(resample.DegenerateDataWarning):
        resample.bootstrap([4.0], n_resamples=100, rng=1)
    with pytest.warns(resample.DegenerateDataWarning):
        const = resample.pairwise_differences(np.ones((3, 10)), n_resamples=100, rng=1)
    assert np.all(const.pvalue == 1.0) and np.all(const.standard_error == 0.0)
    assert np.all(const.pvalue_adjusted == 1.0)
    ranks = resample.rank_distribution(np.ones((3, 10)), n_resamples=100, rng=1)
    np.testing.assert_allclose(ranks.probabilities, 1 / 3)
    single = resample.pairwise_differences(np.ones((1, 10)), n_resamples=100, rng=1)
    assert single.difference.shape == (1, 1) and single.pvalue_adjusted[0, 0] == 1.0


# ----------------------------------------------------------------------------------------------
# The shared multiple-testing adjustments


def _holm_by_definition(p):
    n = len(p)
    out = np.empty(n)
    for k in range(n):
        # adjusted p_k = max over j with p_j <= p_k (in the stable order) of (n - rank_j) p_j
        ranked = sorted(range(n), key=lambda j: (p[j], j))
        pos = ranked.index(k)
        out[k] = min(1.0, max((n - r) * p[ranked[r]] for r in range(pos + 1)))
    return out


def _bh_by_definition(p):
    n = len(p)
    ranked = sorted(range(n), key=lambda j: (p[j], j))
    out = np.empty(n)
    for pos, k in enumerate(ranked):
        out[k] = min(1.0, min(p[ranked[r]] * n / (r + 1) for r in range(pos, n)))
    return out


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 0.01, 0.05, 1.0])),
        min_size=0,
        max_size=25,
    )
)
def test_holm_and_bh_equal_their_definitions(p):
    p = np.array(p, dtype=float)
    np.testing.assert_allclose(_multitest.holm(p), _holm_by_definition(p), rtol=1e-15)
    np.testing.assert_allclose(_multitest.benjamini_hochberg(p), _bh_by_definition(p), rtol=1e-12)
    if len(p):
        assert np.all(_multitest.benjamini_hochberg(p) <= _multitest.holm(p) + 1e-15)
        assert np.all(_multitest.holm(p) >= p)
