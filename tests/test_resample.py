"""calipers.resample against scipy.stats, plain numpy formulas, invariants and simulations."""

from __future__ import annotations

import concurrent.futures
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.stats

from calipers import _core, resample
from calipers.exceptions import InvalidArgumentError, NonFiniteError, ShapeError
from conftest import num_threads


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
