"""calipers.route: kNN router, exact mu-path, frontiers, APGR/CPT, bootstrap, task selection."""

from __future__ import annotations

import glob

import numpy as np
import pytest

from calipers import route
from calipers.exceptions import InvalidArgumentError, NonFiniteError, ShapeError
from conftest import num_threads

# ---------------------------------------------------------------------------------------------
# kNN regression against scikit-learn


def test_knn_regression_equals_sklearn():
    sklearn_neighbors = pytest.importorskip("sklearn.neighbors")
    rng = np.random.default_rng(0)
    x, xq = rng.normal(size=(600, 7)), rng.normal(size=(150, 7))
    y = (rng.random((600, 3)) < 0.6).astype(float)
    for metric in ("euclidean", "cosine"):
        r = route.CostAwareRouter(k=9, metric=metric).fit(x, y, [1.0, 2.0, 3.0])
        p, c = r.predict_scores(xq)
        ref = sklearn_neighbors.KNeighborsRegressor(
            n_neighbors=9, metric=metric, algorithm="brute"
        ).fit(x, y)
        np.testing.assert_allclose(p, ref.predict(xq), rtol=0, atol=1e-12)
        np.testing.assert_array_equal(c, np.broadcast_to([1.0, 2.0, 3.0], c.shape))
        # Same neighbour sets (continuous data: no ties at the boundary).
        _, idx = ref.kneighbors(xq)
        xn = x / np.linalg.norm(x, axis=1, keepdims=True) if metric == "cosine" else x
        qn = xq / np.linalg.norm(xq, axis=1, keepdims=True) if metric == "cosine" else xq
        d2 = ((qn[:, None, :] - xn[None, :, :]) ** 2).sum(-1)
        mine = np.argsort(d2, axis=1, kind="stable")[:, :9]
        np.testing.assert_array_equal(np.sort(mine, 1), np.sort(idx, 1))


def test_knn_search_same_bits_at_1_and_2_threads():
    rng = np.random.default_rng(12)
    x, xq = rng.normal(size=(3000, 24)), rng.normal(size=(700, 24))
    y = rng.random((3000, 3))
    out = []
    for threads in (1, 2):
        with num_threads(threads):
            r = route.CostAwareRouter(k_grid=(1, 5, 40, 300), random_state=1)
            out.append((r.fit(x, y, [1.0, 2.0, 3.0]).predict_scores(xq)[0], r.cv_results_))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1]["r2_score"], out[1][1]["r2_score"])


def test_knn_ties_are_broken_by_index():
    # Duplicated training rows: equal distances, decided by the lower index (documented).
    x = np.repeat(np.arange(10.0)[:, None], 3, axis=0)  # each point three times
    y = np.column_stack([np.arange(30.0), -np.arange(30.0)])
    r = route.CostAwareRouter(k=2, metric="euclidean").fit(x, y, [1.0, 1.0])
    p, _ = r.predict_scores(np.array([[4.0]]))
    # Rows 12, 13, 14 sit at distance 0; the two lowest indices win.
    np.testing.assert_allclose(p, [[12.5, -12.5]])


def test_extreme_magnitudes_give_the_same_neighbours():
    rng = np.random.default_rng(13)
    x, xq = rng.normal(size=(300, 4)), rng.normal(size=(60, 4))
    y = rng.random((300, 2))
    for metric in ("euclidean", "cosine"):
        base = route.CostAwareRouter(k=7, metric=metric).fit(x, y, [1.0, 2.0])
        want = base.predict_scores(xq)[0]
        for scale in (1e-300, 1e-150, 1e150, 1e300):
            r = route.CostAwareRouter(k=7, metric=metric).fit(x * scale, y, [1.0, 2.0])
            got = r.predict_scores(xq * scale)[0]
            np.testing.assert_array_equal(got, want, err_msg=f"{metric} {scale}")


def test_shrinkage_toward_each_models_mean():
    sklearn_neighbors = pytest.importorskip("sklearn.neighbors")
    rng = np.random.default_rng(4)
    x, xq = rng.normal(size=(300, 5)), rng.normal(size=(80, 5))
    y = (rng.random((300, 4)) < [0.3, 0.5, 0.6, 0.9]).astype(float)
    k, a = 6, 2.5
    r = route.CostAwareRouter(k=k, metric="euclidean", shrinkage=a).fit(x, y, [1.0] * 4)
    p, c = r.predict_scores(xq)
    knn = sklearn_neighbors.KNeighborsRegressor(n_neighbors=k, algorithm="brute").fit(x, y)
    # a imaginary neighbours scoring each model's training mean, written plainly.
    want = (knn.predict(xq) * k + a * y.mean(axis=0)) / (k + a)
    np.testing.assert_allclose(p, want, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(r.score_mean_, y.mean(axis=0))
    np.testing.assert_array_equal(c, np.ones_like(c))  # costs are not shrunk
    # Ties at equal neighbour means go to the model that is better overall, not the cheaper.
    y2 = np.column_stack([np.ones(20), np.r_[np.ones(10), np.zeros(10)]])
    x2 = np.arange(20.0)[:, None]
    plain = route.CostAwareRouter(k=2, metric="euclidean").fit(x2, y2[:, ::-1], [1.0, 2.0])
    shrunk = route.CostAwareRouter(k=2, metric="euclidean", shrinkage=1.0)
    shrunk.fit(x2, y2[:, ::-1], [1.0, 2.0])
    assert plain.route([[0.0]], 0.0)[0] == 0  # tie at 1.0: the cheaper model
    assert shrunk.route([[0.0]], 0.0)[0] == 1  # the model right on every query
    with pytest.raises(InvalidArgumentError, match="shrinkage"):
        route.CostAwareRouter(k=2, shrinkage=-1.0).fit(x, y, [1.0] * 4)


def test_cv_picks_k_by_r2_like_sklearn_gridsearch():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.model_selection import GridSearchCV, PredefinedSplit
    from sklearn.neighbors import KNeighborsRegressor

    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 3))
    f = 1 / (1 + np.exp(-x @ rng.normal(size=(3, 2)) * 2))
    y = (rng.random(f.shape) < f).astype(float)
    grid = (1, 2, 4, 8, 16, 32, 64)
    r = route.CostAwareRouter(metric="euclidean", k_grid=grid, random_state=3).fit(x, y, [0, 1])
    # The same folds as the router's (a seeded shuffle of arange(n) % cv).
    folds = np.empty(400, dtype=int)
    folds[np.random.default_rng(3).permutation(400)] = np.arange(400) % 5
    search = GridSearchCV(
        KNeighborsRegressor(algorithm="brute"),
        {"n_neighbors": list(grid)},
        cv=PredefinedSplit(folds),
        scoring="r2",
    ).fit(x, y)
    np.testing.assert_allclose(
        r.cv_results_["r2_score"], search.cv_results_["mean_test_score"], atol=1e-10
    )
    assert r.k_score_ == search.best_params_["n_neighbors"]
    assert sklearn is not None


# ---------------------------------------------------------------------------------------------
# Exact mu-path, hull, AUC


def _argmax_reference(p, c, mu):
    """argmax of p - mu c per row, ties to the cheaper model then the lower index."""
    out = []
    for pr, cr in zip(p, c, strict=True):
        s = pr - mu * cr
        cand = [m for m in range(len(pr)) if s[m] == s.max()]
        out.append(min(cand, key=lambda m: (cr[m], m)))
    return np.array(out)


def test_exact_path_equals_fine_grid():
    rng = np.random.default_rng(2)
    n, m = 400, 6
    p, c = rng.random((n, m)), rng.random((n, m)) * 3
    y, cc = (rng.random((n, m)) < p).astype(float), c * rng.uniform(0.5, 1.5, (n, m))
    path = route.mu_path(p, c, y, cc)
    for mu in np.linspace(0, 4, 801)[1:] + 1e-7:
        want = _argmax_reference(p, c, mu)
        np.testing.assert_array_equal(path.choices_at(mu), want)
        j = np.searchsorted(path.mu, mu, side="right") - 1
        rows = np.arange(n)
        assert abs(path.cost[j] - cc[rows, want].mean()) < 1e-12
        assert abs(path.performance[j] - y[rows, want].mean()) < 1e-12
    # Predicted cost decreases along the path.
    assert np.all(np.diff(route.mu_path(p, c).cost) <= 1e-12)


def test_path_from_minus_infinity_and_ties():
    p = np.array([[0.5, 0.5, 0.9], [0.2, 0.8, 0.8]])
    c = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    path = route.mu_path(p, c, start="-inf")
    np.testing.assert_array_equal(path.start, [2, 1])  # most expensive; equal costs: best
    np.testing.assert_array_equal(route.mu_path(p, c).start, [2, 1])
    # Query 0 at mu = 0.4 (line 2 at 0.9 - 1.2 = -0.3, line 0 at 0.1, line 1 at -0.3): model 0.
    assert route.mu_path(p, c).choices_at(0.4)[0] == 0


def _brute_hull_height(cost, perf, x):
    best = -np.inf
    for i in range(len(cost)):
        if cost[i] <= x:
            best = max(best, perf[i])
        for j in range(len(cost)):
            if cost[i] < x < cost[j]:
                t = (cost[j] - x) / (cost[j] - cost[i])
                best = max(best, t * perf[i] + (1 - t) * perf[j])
    if best == -np.inf:
        best = perf[cost == cost.min()].max()
    return best


def test_frontier_and_auc_against_brute_force():
    rng = np.random.default_rng(4)
    for _ in range(20):
        k = rng.integers(1, 10)
        cost, perf = rng.integers(0, 6, k) * 0.5, rng.random(k)
        fr = route.frontier(cost, perf)
        assert np.all(np.diff(fr.cost) > 0) and np.all(np.diff(fr.performance) > 0)
        xs = np.linspace(-1, 4, 501)
        want = np.array([_brute_hull_height(cost, perf, x) for x in xs])
        np.testing.assert_allclose(fr.at(xs), want, atol=1e-12)
        # AUC = mean height on the range (trapezoid on a fine grid, exact for piecewise linear
        # up to the grid's resolution at the kinks).
        auc = route.frontier_auc(fr, (-1, 4))
        assert abs(auc - np.trapezoid(want, xs) / 5) < 1e-3


def test_zero_router_and_oracle():
    rng = np.random.default_rng(5)
    y = (rng.random((300, 4)) < [0.4, 0.6, 0.7, 0.8]).astype(float)
    c = np.broadcast_to([1.0, 2.0, 4.0, 8.0], y.shape)
    zero = route.zero_router_frontier(y, c)
    want = route.frontier(c.mean(0), y.mean(0))
    np.testing.assert_array_equal(zero.cost, want.cost)
    orc = route.oracle_frontier(y, c)
    # At unlimited budget the oracle reaches "any model correct".
    assert orc.performance[-1] == pytest.approx(y.max(axis=1).mean())
    rng_ = route.model_cost_range(c)
    assert route.frontier_auc(orc, rng_) >= route.frontier_auc(zero, rng_)


# ---------------------------------------------------------------------------------------------
# APGR / CPT


def _apgr_plain(y, pref):
    """The RouteLLM formula written plainly: ties grouped, linear within a group."""
    order = np.argsort(-pref, kind="stable")
    n = len(pref)
    qs, accs = [0.0], [y[:, 0].mean()]
    gain = y[:, 1] - y[:, 0]
    s, j = y[:, 0].sum(), 0
    while j < n:
        k = j
        while k < n and pref[order[k]] == pref[order[j]]:
            s += gain[order[k]]
            k += 1
        qs.append(k / n)
        accs.append(s / n)
        j = k
    auc = np.trapezoid(accs, qs)
    return (auc - y[:, 0].mean()) / (y[:, 1].mean() - y[:, 0].mean())


def test_apgr_matches_formula_and_random_is_half():
    rng = np.random.default_rng(6)
    n = 2000
    y = np.column_stack([rng.random(n) < 0.6, rng.random(n) < 0.8]).astype(float)
    pref = np.round(rng.random(n) + 0.5 * (y[:, 1] - y[:, 0]), 1)  # informative, with ties
    assert route.apgr(y, pref) == pytest.approx(_apgr_plain(y, pref), abs=1e-12)
    assert route.apgr(y, pref) > 0.6
    rand = [route.apgr(y, rng.random(n)) for _ in range(20)]
    assert abs(np.mean(rand) - 0.5) < 0.02
    # Constant preference: one tie group, the straight line, APGR exactly 0.5.
    assert route.apgr(y, np.zeros(n)) == pytest.approx(0.5, abs=1e-12)
    # CPT(50%) of the constant router is 0.5; of a perfect router at most that.
    assert route.cpt(y, np.zeros(n), 0.5) == pytest.approx(0.5, abs=1e-12)
    assert route.cpt(y, y[:, 1] - y[:, 0], 0.5) < 0.5


# ---------------------------------------------------------------------------------------------
# Simulation with a known Bayes router (spec 1.9 A)


def _sim_params(rng):
    a = rng.normal(0, 1.5, (5, 4))
    b = np.array([-1, -0.3, 0.3, 0.8, 1.4])
    g = rng.normal(0, 0.3, (5, 4))
    h = np.log(rng.uniform(100, 400, 5))
    price = np.array([[0.06, 0.06], [0.2, 0.2], [0.9, 0.9], [2.5, 10], [3, 15]])
    return a, b, g, h, price[:, 0], price[:, 1]


def _sim(n, rng, params):
    a, b, g, h, pin, pout = params
    x = rng.standard_normal((n, 4))
    f = 1 / (1 + np.exp(-(x @ a.T + b)))
    tin = rng.poisson(200 * np.exp(0.3 * x[:, 0])).astype(float)
    lam = np.exp(x @ g.T + h)
    y = (rng.random(f.shape) < f).astype(float)
    expected_cost = (tin[:, None] * pin + lam * pout) / 1e6
    return x, f, y, tin, rng.poisson(lam).astype(float), expected_cost


@pytest.mark.slow
def test_simulation_against_bayes_router():
    rng = np.random.default_rng(0)
    params = _sim_params(rng)
    xt, ft, _, tin_t, _, ect = _sim(20_000, rng, params)
    scale = ect.mean()
    ect = ect / scale
    cost = route.TokenCost(params[4] / scale, params[5] / scale)
    cost_range = route.model_cost_range(ect)
    oracle_auc = route.frontier_auc(route.oracle_frontier(ft, ect), cost_range)
    bayes0 = ft.max(axis=1).mean()
    excess, aucs = [], []
    for n in (500, 2000, 8000, 32000):
        x, _, y, _, tout, _ = _sim(n, rng, params)
        router = route.CostAwareRouter(
            metric="euclidean", cost=cost, k_grid=(8, 16, 32, 64, 128), random_state=0
        ).fit(x, y, output_tokens=tout)
        path = router.lambda_path(xt, ft, ect, input_tokens=tin_t)
        chosen = path.choices_at(0.0)
        np.testing.assert_array_equal(chosen, router.route(xt, 0.0, input_tokens=tin_t))
        excess.append(bayes0 - ft[np.arange(len(ft)), chosen].mean())
        aucs.append(route.frontier_auc(path, cost_range))
    assert excess[2] < 0.015, excess
    assert all(a > b for a, b in zip(excess, excess[1:], strict=False)), excess
    assert oracle_auc - aucs[2] < 0.012, (oracle_auc, aucs)


# ---------------------------------------------------------------------------------------------
# Bootstrap


def test_bootstrap_matches_recomputation_and_is_thread_independent():
    rng = np.random.default_rng(7)
    n, m = 250, 3
    p, c = rng.random((n, m)), rng.random((n, m)) + 0.1
    y = (rng.random((n, m)) < p).astype(float)
    paths = {"a": route.mu_path(p, c, y, c), "b": route.mu_path(p[:, ::-1].copy(), c, y, c)}
    with num_threads(1):
        one = route.bootstrap_frontier(paths, y, c, n_resamples=64, rng=3, grid=5)
    with num_threads(2):
        two = route.bootstrap_frontier(paths, y, c, n_resamples=64, rng=3, grid=5)
    np.testing.assert_array_equal(one.replicates, two.replicates)
    assert one.names == ["a", "b", "zero router"]
    # Replicate 0 recomputed from the resampled rows (same draws as calipers.resample).
    from calipers import _core

    idx = _core.bootstrap_indices(sizes=[n], seed=3, n_resamples=64, chunk_start=0, chunk_end=2)
    rows = np.asarray(idx).reshape(64, n)[0]
    path0 = route.mu_path(p[rows], c[rows], y[rows], c[rows])
    want = route.frontier_auc(path0, one.cost_range)
    assert one.replicates[0, 0] == pytest.approx(want, abs=1e-12)
    lo, hi = one.confidence_interval
    assert np.all(lo <= one.statistic + 1e-12) and np.all(one.statistic <= hi + 1e-12)


def _cpt_plain(y, pref, level):
    """CPT written plainly: sort by preference (ties as one group), walk the curve."""
    n = len(y)
    order = np.argsort(-pref, kind="stable")
    q, acc = [0.0], [y[:, 0].mean()]
    cur, i = y[:, 0].sum(), 0
    while i < n:
        j = i
        while j < n and pref[order[j]] == pref[order[i]]:
            cur += y[order[j], 1] - y[order[j], 0]
            j += 1
        q.append(j / n)
        acc.append(cur / n)
        i = j
    target = acc[0] + level * (y[:, 1].mean() - acc[0])
    for t in range(len(q)):
        if acc[t] >= target - 1e-12:
            if t == 0:
                return q[0]
            return q[t - 1] + (target - acc[t - 1]) / (acc[t] - acc[t - 1]) * (q[t] - q[t - 1])
    raise AssertionError("never reached")


def test_bootstrap_cpt_matches_recomputation_on_resampled_rows():
    rng = np.random.default_rng(21)
    n = 400
    y = np.column_stack([rng.random(n) < 0.55, rng.random(n) < 0.75]).astype(float)
    good = np.round(rng.random(n) + 0.7 * (y[:, 1] - y[:, 0]), 1)  # informative, ties
    noise = rng.random(n)
    for level in (0.5, 0.8):
        assert route.cpt(y, good, level) == pytest.approx(_cpt_plain(y, good, level), abs=1e-12)
    res = route.bootstrap_cpt(y, {"good": good, "random": noise}, 0.5, n_resamples=96, rng=4)
    np.testing.assert_allclose(res.statistic, [route.cpt(y, good), route.cpt(y, noise)])
    from calipers import _core

    idx = _core.bootstrap_indices(sizes=[n], seed=4, n_resamples=96, chunk_start=0, chunk_end=3)
    idx = np.asarray(idx).reshape(96, n)
    assert res.n_resamples == 96  # the strong model wins in every replicate here
    for r in (0, 17, 95):
        rows = idx[r]
        want = [_cpt_plain(y[rows], good[rows], 0.5), _cpt_plain(y[rows], noise[rows], 0.5)]
        np.testing.assert_allclose(res.replicates[r], want, atol=1e-12)
    # Paired differences: the informative router needs fewer strong calls.
    assert res.difference[0, 1] < 0 and res.difference_interval.high[0, 1] < 0
    rows = res.comparisons()
    assert rows[0]["a"] == "good" and rows[0]["b"] == "random"
    diff = res.replicates[:, 0] - res.replicates[:, 1]
    assert rows[0]["standard_error"] == pytest.approx(np.std(diff, ddof=1))
    with pytest.raises(InvalidArgumentError, match="level"):
        route.bootstrap_cpt(y, {"good": good}, 1.5)


def test_router_comparisons_adjust_over_pairs():
    rng = np.random.default_rng(8)
    n, m = 300, 3
    p, c = rng.random((n, m)), rng.random((n, m)) + 0.1
    y = (rng.random((n, m)) < p).astype(float)
    paths = {
        "a": route.mu_path(p, c, y, c),
        "b": route.mu_path(p[:, ::-1].copy(), c, y, c),
        "c": route.mu_path(rng.random((n, m)), c, y, c),
    }
    res = route.bootstrap_frontier(paths, y, c, n_resamples=200, rng=1, grid=0)
    rows = res.comparisons("holm")
    assert [(r["a"], r["b"]) for r in rows][:3] == [("a", "b"), ("a", "c"), ("a", "zero router")]
    raw = np.array([r["pvalue"] for r in rows])
    # Holm written plainly: k-th smallest times (pairs - k + 1), running maximum, cap at 1.
    order = np.argsort(raw, kind="stable")
    want = np.empty_like(raw)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (raw.size - rank) * raw[i]))
        want[i] = running
    np.testing.assert_allclose([r["pvalue_adjusted"] for r in rows], want)
    for r in rows:
        a, b = res.names.index(r["a"]), res.names.index(r["b"])
        d = res.replicates[:, a] - res.replicates[:, b]
        assert r["difference"] == pytest.approx(res.statistic[a] - res.statistic[b])
        assert r["standard_error"] == pytest.approx(np.std(d, ddof=1))
        assert r["low"] <= r["high"]
    with pytest.raises(InvalidArgumentError, match="correction"):
        res.comparisons("sidak")


@pytest.mark.slow
def test_routellm_mmlu_apgr(shared_data):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("sklearn")
    files = sorted(glob.glob(str(shared_data / "routellm" / "mmlu" / "*.csv")))
    if not files:
        pytest.skip("routellm/mmlu is absent from the shared data")
    df = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    y = df[["mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"]].to_numpy(float)
    assert len(df) == 14042
    x = route.text_features(df["prompt"].tolist(), 100, random_state=0)
    knn, rand = [], []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(df))
        tr, te = perm[: len(df) // 2], perm[len(df) // 2 :]
        router = route.CostAwareRouter(random_state=seed).fit(x[tr], y[tr], [0.0, 1.0])
        p, _ = router.predict_scores(x[te])
        pref = p[:, 1] - p[:, 0]
        noise = rng.random(len(te))
        knn.append(route.apgr(y[te], pref))
        rand.append(route.apgr(y[te], noise))
        if seed == 0:
            boot = route.bootstrap_apgr(
                y[te], {"knn": pref, "random": noise}, n_resamples=1000, rng=0
            )
            assert boot.difference_interval.low[0, 1] > 0
    assert np.mean(knn) >= 0.60, knn
    assert abs(np.mean(rand) - 0.5) <= 0.03, rand


# ---------------------------------------------------------------------------------------------
# Task selection, token costs, bad input


def test_select_model_for_task():
    g = np.array([[0.9, 0.6, 0.4], [0.2, 0.6, 0.4], [0.8, 0.6, 0.45]])
    s1 = route.select_model_for_task(g, "s1")
    np.testing.assert_allclose(s1.scores, g.mean(0))
    s2 = route.select_model_for_task(g, "s2")
    np.testing.assert_allclose(s2.scores, [2 / 3, 1, 0])
    s3 = route.select_model_for_task(g, "s3", p_hat=[0.9, 0.5, 0.8])
    np.testing.assert_allclose(s3.scores, [0.9 * 2 / 3 + 0.1 / 3, 0.5, 0.2])
    assert (s1.best, s2.best, s3.best) == (0, 1, 0)
    with pytest.raises(InvalidArgumentError, match="p_hat"):
        route.select_model_for_task(g, "s3")


def test_loto_predictor_accuracy_against_sklearn_and_numpy():
    sklearn_neighbors = pytest.importorskip("sklearn.neighbors")
    rng = np.random.default_rng(31)
    n_tasks, per, m, d = 4, 120, 3, 6
    centres = rng.normal(size=(n_tasks, d)) * 2
    x = np.concatenate([centres[t] + rng.normal(size=(per, d)) for t in range(n_tasks)])
    tasks = np.repeat(np.array(["w", "x", "y", "z"]), per)
    w = rng.normal(size=(d, m))
    y = (rng.random((len(x), m)) < 1 / (1 + np.exp(-x @ w))).astype(float)
    new = centres[1] + 0.3 * centres[2] + rng.normal(size=(70, d))
    k = 9
    est = route.loto_predictor_accuracy(x, y, tasks, new, k=k)

    def unit(a):
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    xu, nu = unit(x), unit(new)
    acc, dist = [], []
    for t in ["w", "x", "y", "z"]:
        inside = tasks == t
        knn = sklearn_neighbors.KNeighborsRegressor(
            n_neighbors=k, metric="cosine", algorithm="brute"
        ).fit(x[~inside], y[~inside])
        g = knn.predict(x[inside])
        acc.append(((g > 0.5) == (y[inside] > 0.5)).mean(axis=0))
        d2 = ((nu[:, None, :] - xu[inside][None, :, :]) ** 2).sum(-1)
        dist.append(np.sqrt(d2.min(axis=1)).mean())
    acc, dist = np.array(acc), np.array(dist)
    np.testing.assert_allclose(est.task_accuracy, acc)
    np.testing.assert_allclose(est.task_distance, dist, rtol=1e-12)
    h = np.median(dist)
    kern = np.exp(-0.5 * (dist / h) ** 2)
    np.testing.assert_allclose(est.p_hat, kern @ acc / kern.sum(), rtol=1e-12)
    # The new task sits near task "x": the largest weight.
    assert est.tasks[np.argmax(est.weights)] == "x"
    full = sklearn_neighbors.KNeighborsRegressor(
        n_neighbors=k, metric="cosine", algorithm="brute"
    ).fit(x, y)
    np.testing.assert_allclose(est.predicted, full.predict(new), atol=1e-12)
    sel = route.select_model_for_task(est.predicted, "s3", p_hat=est.p_hat)
    s2 = (est.predicted > 0.5).mean(axis=0)
    np.testing.assert_allclose(sel.scores, est.p_hat * s2 + (1 - est.p_hat) * (1 - s2))
    # Euclidean: distances in the features' own units, a given bandwidth used as is.
    est_e = route.loto_predictor_accuracy(x * 1e3, y, tasks, new * 1e3, k=k, metric="euclidean")
    dist_e = [
        np.sqrt(((new[:, None, :] - x[tasks == t][None]) ** 2).sum(-1).min(axis=1)).mean() * 1e3
        for t in ["w", "x", "y", "z"]
    ]
    np.testing.assert_allclose(est_e.task_distance, dist_e, rtol=1e-10)
    est_b = route.loto_predictor_accuracy(x, y, tasks, new, k=k, metric="euclidean", bandwidth=2.0)
    kern_b = np.exp(-0.5 * (est_b.task_distance / 2.0) ** 2)
    np.testing.assert_allclose(est_b.weights, kern_b / kern_b.sum(), rtol=1e-12)
    with pytest.raises(InvalidArgumentError, match="two tasks"):
        route.loto_predictor_accuracy(x, y, np.zeros(len(x)), new)
    with pytest.raises(ShapeError, match="new_features"):
        route.loto_predictor_accuracy(x, y, tasks, new[:, :3])
    with pytest.raises(InvalidArgumentError, match="k"):
        route.loto_predictor_accuracy(x, y, tasks, new, k=10**6)


def test_token_cost():
    tc = route.TokenCost([1.0, 2.0], [3.0, 4.0], per="1K")
    got = tc.cost([100, 200], [[10, 20], [30, 40]])
    np.testing.assert_allclose(got, [[0.13, 0.28], [0.29, 0.56]])
    with pytest.raises(InvalidArgumentError, match="price_in"):
        route.TokenCost([-1.0, 2.0], [1.0, 1.0])
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(50, 3)), rng.random((50, 2))
    r = route.CostAwareRouter(k=5, cost=tc).fit(x, y, output_tokens=rng.integers(1, 9, (50, 2)))
    with pytest.raises(InvalidArgumentError, match="input_tokens"):
        r.predict_scores(x)
    p, c = r.predict_scores(x, input_tokens=np.full(50, 10.0))
    assert p.shape == c.shape == (50, 2) and np.all(c > 0)


def test_bad_input():
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(40, 3)), rng.random((40, 3))
    r = route.CostAwareRouter(k=3)
    with pytest.raises(InvalidArgumentError, match="costs"):
        r.fit(x, y)  # no cost at all
    with pytest.raises(InvalidArgumentError, match="model 1 has no cost"):
        r.fit(x, y, [1.0, np.nan, 2.0])
    with pytest.raises(InvalidArgumentError, match="negative"):
        r.fit(x, y, [1.0, -1.0, 2.0])
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(NonFiniteError, match="features"):
        r.fit(bad, y, [1.0, 1.0, 2.0])
    with pytest.raises(InvalidArgumentError, match="at least 2 models"):
        r.fit(x, y[:, :1], [1.0])
    with pytest.raises(ShapeError, match="rows"):
        r.fit(x, y[:10], [1.0, 1.0, 2.0])
    zero = x.copy()
    zero[0] = 0
    with pytest.raises(InvalidArgumentError, match="all zeros"):
        r.fit(zero, y, [1.0, 1.0, 2.0])
    with pytest.raises(InvalidArgumentError, match="metric"):
        route.CostAwareRouter(metric="manhattan").fit(x, y, [1.0, 1.0, 2.0])
    from calipers.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        route.CostAwareRouter().predict_scores(x)
    fitted = r.fit(x, y, [1.0, 1.0, 2.0])
    with pytest.raises(ShapeError, match="columns"):
        fitted.predict_scores(x[:, :2])
    with pytest.raises(InvalidArgumentError, match="mu"):
        fitted.route(x, -1.0)
    with pytest.raises(InvalidArgumentError, match="cost_range"):
        route.frontier_auc(route.frontier([1.0], [0.5]), (2.0, 1.0))


def test_estimator_protocol():
    sklearn_base = pytest.importorskip("sklearn.base")
    r = route.CostAwareRouter(k=4, metric="euclidean")
    c = sklearn_base.clone(r)
    assert c.get_params() == r.get_params()


def _digits_example():
    """The report example's correctness (items x models), model names, and the pixel features
    of its held-out images in the example's item order (clean, noisy, shifted)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from calipers.report import example

    data = example.example_arrays(progress=False)
    digits = load_digits()
    x, idx = digits.data / 16.0, np.arange(len(digits.target))
    _, xt, _, _, _, it = train_test_split(
        x,
        digits.target,
        idx,
        train_size=example._N_TRAIN,
        stratify=digits.target,
        random_state=example._SPLIT_SEED,
    )
    xt = xt[np.argsort(it)]
    sets = example._held_out_scenarios(xt, np.random.default_rng(example._SPLIT_SEED))
    feats = np.vstack([sets[s] for s in example.SCENARIOS])
    return data, feats


@pytest.mark.slow
def test_digits_router_beats_the_best_single_classifier_at_equal_cost():
    pytest.importorskip("sklearn")
    data, x = _digits_example()
    y_all = data["scores"][0].T  # 3,594 items x 32 classifiers
    n = len(y_all)
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(n)
        te, tr = perm[: n // 2], perm[n // 2 :]
        acc_tr = y_all[tr].mean(axis=0)
        price = 10 ** (4 * (acc_tr - acc_tr.max()))  # the best (on training) costs 1
        y, cost = y_all[te], np.broadcast_to(price, (te.size, price.size))
        acc, mean_cost = y.mean(axis=0), cost.mean(axis=0)
        best = int(np.lexsort((mean_cost, -acc))[0])
        at = {}
        for a in (0.0, 1.0):
            r = route.CostAwareRouter(metric="euclidean", shrinkage=a, random_state=seed)
            fr = route.frontier(r.fit(x[tr], y_all[tr], price).lambda_path(x[te], y, cost))
            at[a] = float(fr.at(mean_cost[best])[0])
        # Figures (user guide): best single 0.850, plain kNN 0.734, shrinkage 1: 0.870 (mean
        # over 5 splits). Plain kNN loses to ties between models at equal neighbour means.
        assert at[1.0] > acc[best] + 0.005
        assert at[0.0] < acc[best]


@pytest.mark.slow
def test_cli_on_the_digits_example(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    from calipers.cli import main
    from calipers.report import example

    data, feats = _digits_example()
    np.save(tmp_path / "x.npy", feats)
    table = example.example_long_table(progress=False)
    table[table.metric == "correct"].to_csv(tmp_path / "results.csv", index=False)
    acc = data["scores"][0].mean(axis=1)
    prices = ",".join(
        f"{m}={10 ** (4 * (a - acc.max())):.6g}" for m, a in zip(data["models"], acc, strict=True)
    )
    out = tmp_path / "out"
    code = main(
        [
            "route",
            "evaluate",
            str(tmp_path / "results.csv"),
            "--features",
            str(tmp_path / "x.npy"),
            "--prices",
            prices,
            "--metric",
            "euclidean",
            "--shrinkage",
            "1",
            "--n-resamples",
            "200",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    import json

    res = json.loads((out / "route.json").read_text())
    assert res["n_test"] == 1797 and len(res["models"]) == 32 and res["shrinkage"] == 1.0
    assert "<img" in (out / "route.html").read_text()
    # Intervals hold their estimates; the oracle bounds every router. (On this example the
    # kNN router does not beat the zero router: see the report's figures.)
    for row in res["auc"]:
        assert row["low"] <= row["statistic"] <= row["high"]
    assert res["auc"][1]["statistic"] >= max(r["statistic"] for r in res["auc"])


# ---------------------------------------------------------------------------------------------
# Hostile input: every bad value gets a calipers error naming the argument


def _route_data(seed=0, n=60):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    y = (rng.random((n, 3)) < [0.4, 0.6, 0.8]).astype(float)
    return x, y


@pytest.mark.parametrize(
    "call",
    [
        lambda x, y: route.CostAwareRouter(k=3).fit(x, y, [[1.0, 2.0], [3.0]]),
        lambda x, y: route.oracle_frontier(y, [[1.0, 2.0], [3.0]]),
        lambda x, y: route.mu_path(y, [[1.0, 2.0], [3.0]]),
    ],
)
def test_ragged_costs_name_the_argument(call):
    x, y = _route_data()
    with pytest.raises(InvalidArgumentError, match="costs.*ragged"):
        call(x, y)


@pytest.mark.parametrize(
    "tasks, match",
    [
        ([[0, 1], [2]], "tasks.*ragged"),
        (np.where(np.arange(60) == 5, np.nan, np.arange(60) % 3), "tasks.*NaN"),
        (np.where(np.arange(60) == 5, np.inf, np.arange(60) % 3), "tasks.*NaN/inf"),
        (np.arange(60) % 3 + 1j, "tasks.*complex"),
    ],
)
def test_task_labels_must_be_labels(tasks, match):
    x, y = _route_data()
    with pytest.raises(InvalidArgumentError, match=match):
        route.loto_predictor_accuracy(x, y, tasks, x[:5], k=4)


@pytest.mark.parametrize("k_grid", ["ab", 5, (2, "4"), (2, 4.0)])
def test_k_grid_must_be_a_sequence_of_ints(k_grid):
    x, y = _route_data()
    with pytest.raises(InvalidArgumentError, match="k_grid"):
        route.CostAwareRouter(k_grid=k_grid, cv=3).fit(x, y, [1.0, 2.0, 3.0])


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_cross_validated_r2_is_scale_invariant_at_extreme_magnitudes(scale):
    """R² is unchanged when a target column is rescaled; squaring 1e300 must not overflow."""
    x, y = _route_data(seed=4, n=90)
    cost = np.random.default_rng(5).random((90, 3)) + [0.5, 1.0, 2.0]
    base = route.CostAwareRouter(k_grid=(2, 4, 8), cv=3, random_state=0).fit(x, y, cost)
    big = route.CostAwareRouter(k_grid=(2, 4, 8), cv=3, random_state=0).fit(
        x, y * scale, cost * scale
    )
    for key in ("r2_score", "r2_cost"):
        assert np.all(np.isfinite(big.cv_results_[key]))
        np.testing.assert_allclose(big.cv_results_[key], base.cv_results_[key], rtol=1e-9)
    assert (big.k_score_, big.k_cost_) == (base.k_score_, base.k_cost_)


def test_frontier_is_scale_free_in_cost_and_extreme_costs_are_refused():
    # Before: prices of 1e-310 (subnormal) gave a different AUC difference, silently, and
    # 1e306 overflowed in a mean. Scaling the costs by a power of two (exact, so the kNN
    # predictions' exact ties in μ stay ties) gives the same bits anywhere in [1e-100, 1e100].
    x, y = _route_data(seed=4, n=80)
    prices = np.array([0.1, 0.5, 1.0])

    def aucs(scale):
        c = np.broadcast_to(prices * scale, y.shape)
        router = route.CostAwareRouter(k=5, random_state=0).fit(x, y, prices * scale)
        paths = {"router": router.lambda_path(x, y, c), "oracle": route.mu_path(y, c)}
        boot = route.bootstrap_frontier(paths, y, c, cost_range=route.model_cost_range(c),
                                        n_resamples=50, rng=0)  # fmt: skip
        return np.concatenate([boot.statistic.ravel(), boot.replicates.ravel()])

    base = aucs(1.0)
    for scale in (2.0**-300, 2.0**300):  # 4.9e-91 and 2.0e90
        np.testing.assert_array_equal(aucs(scale), base)
    for scale, shown in ((1e-310 / 0.1, "1e-310"), (1e306 / 0.1, r"1e\+306")):
        router = route.CostAwareRouter(k=5).fit(x, y, prices * scale)  # fitting is scale-free
        for call in (
            lambda c, fitted=router: fitted.lambda_path(x, y, c),
            lambda c: route.mu_path(y, c),
            lambda c: route.oracle_frontier(y, c),
            lambda c: route.model_cost_range(c),
            lambda c: route.frontier(c, [0.2, 0.5, 0.7]),
        ):
            with pytest.raises(InvalidArgumentError, match=f"a cost of {shown} is outside"):
                call(prices * scale)


def _cli_inputs(tmp_path):
    pd = pytest.importorskip("pandas")
    x, y = _route_data(seed=6, n=40)
    models = ["small", "mid", "large"]
    rows = [
        {"model": m, "item": f"q{i}", "score": y[i, j]}
        for j, m in enumerate(models)
        for i in range(40)
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "results.csv", index=False)
    feats = pd.DataFrame(x, columns=[f"f{k}" for k in range(4)])
    feats.insert(0, "item", [f"q{i}" for i in range(40)])
    feats.to_csv(tmp_path / "feats.csv", index=False)
    return x, feats


@pytest.mark.parametrize(
    "case, message",
    [
        ("object_npy", r"--features: .*x\.npy is not a numeric \.npy array"),
        ("text_column", "--features: column `f2` .*row 7 .*holds 'wide'"),
        ("prices_twice_inline", "--prices: model 'small' is priced twice"),
        ("prices_twice_file", "--prices: model 'small' has two prices"),
        ("price_without_model", "--prices: '=1' is not name=price"),
        ("negative_seed", r"--seed: seed must be in \[0, 2\*\*64\)"),
        ("subnormal_prices", r"--prices: a cost of 1e-310 is outside \[1e-100, 1e\+100\]"),
        ("huge_prices", r"--prices: a cost of 1e\+306 is outside"),
        ("negative_price", "--prices: model 0 has negative costs; costs must be >= 0"),
        ("infinite_price", r"--prices: model 1 has no cost \(NaN/inf\)"),
    ],
)
def test_cli_route_evaluate_names_the_bad_option(tmp_path, capsys, case, message):
    import re

    from calipers.cli import main

    x, feats = _cli_inputs(tmp_path)
    features, prices, extra = str(tmp_path / "feats.csv"), "small=0.1,mid=0.5,large=1", []
    if case == "object_npy":
        np.save(tmp_path / "x.npy", x.astype(object), allow_pickle=True)
        features = str(tmp_path / "x.npy")
    elif case == "text_column":
        feats["f2"] = feats["f2"].astype(object)
        feats.loc[7, "f2"] = "wide"
        feats.to_csv(tmp_path / "feats.csv", index=False)
    elif case == "prices_twice_inline":
        prices = "small=0.1,small=0.2,mid=0.5,large=1"
    elif case == "price_without_model":
        prices = "=1,small=0.1,mid=0.5,large=1"
    elif case == "subnormal_prices":
        prices = "small=1e-310,mid=5e-310,large=1e-309"
    elif case == "huge_prices":
        prices = "small=1e306,mid=5e306,large=1e307"
    elif case == "negative_price":
        prices = "small=-0.1,mid=0.5,large=1"
    elif case == "infinite_price":
        prices = "small=0.1,mid=inf,large=1"
    elif case == "prices_twice_file":
        (tmp_path / "prices.csv").write_text(
            "model,price\nsmall,0.1\nsmall,0.2\nmid,0.5\nlarge,1\n"
        )
        prices = str(tmp_path / "prices.csv")
    else:
        extra = ["--seed", "-1"]
    argv = ["route", "evaluate", str(tmp_path / "results.csv"), "--features", features]
    code = main([*argv, "--prices", prices, "--out", str(tmp_path / "out"), *extra])
    assert code == 1
    assert re.search(message, capsys.readouterr().err)
