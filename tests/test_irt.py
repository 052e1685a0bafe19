"""Tests of calipers.irt: recovery on simulated data, EM monotonicity, JML/EM agreement,
scoring against scipy references, real LiveXiv data, edge cases and determinism."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy import integrate, optimize
from scipy.linalg import orthogonal_procrustes
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from calipers.exceptions import (
    ConvergenceWarning,
    InvalidArgumentError,
    MemoryBudgetError,
    NotFittedError,
    ShapeError,
)
from calipers.irt import IRT
from conftest import num_threads


def simulate(n_models, n_items, dims=1, seed=0, missing=0.0):
    """2PL data in the library's parametrisation: P = sigmoid(a·theta - b)."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(n_models, dims))
    a = np.exp(0.3 * rng.normal(size=(n_items, dims)))
    if dims > 1:
        a = rng.uniform(0.3, 1.5, size=(n_items, dims))
    b = rng.normal(size=n_items)
    p = expit(theta @ a.T - b)
    Y = (rng.random(p.shape) < p).astype(np.float64)
    if missing:
        Y[rng.random(Y.shape) < missing] = np.nan
    return Y, theta, a, b


def corr(x, y):
    return float(np.corrcoef(np.ravel(x), np.ravel(y))[0, 1])


@pytest.fixture(scope="module")
def sim400():
    return simulate(400, 2000, seed=1)


@pytest.fixture(scope="module")
def fit400(sim400):
    return IRT().fit(sim400[0])


# ----------------------------------------------------------------------------- recovery
def test_recovers_2pl_parameters(sim400, fit400):
    _, theta, a, b = sim400
    m = fit400
    assert m.converged_
    r = corr(m.b_, b), corr(m.theta_, theta), corr(m.a_, a)
    print("recovery 400x2000 (r_b, r_theta, r_a):", r)
    assert r[0] >= 0.98 and r[1] >= 0.98 and r[2] >= 0.88
    # Identification: abilities standardised.
    assert abs(m.theta_.mean()) < 1e-6 and abs(m.theta_.std() - 1) < 1e-6


def test_recovers_2pl_with_30_percent_missing():
    Y, theta, a, b = simulate(400, 2000, seed=2, missing=0.3)
    m = IRT().fit(Y)
    r = corr(m.b_, b), corr(m.theta_, theta), corr(m.a_, a)
    print("recovery 400x2000, 30% missing (r_b, r_theta, r_a):", r)
    assert r[0] >= 0.95 and r[1] >= 0.95 and r[2] >= 0.85


def test_explicit_mask_equals_nan():
    Y, *_ = simulate(60, 80, seed=3)
    rng = np.random.default_rng(0)
    hide = rng.random(Y.shape) < 0.2
    with_nan = Y.copy()
    with_nan[hide] = np.nan
    m1 = IRT().fit(with_nan)
    m2 = IRT().fit(Y, mask=hide)
    m3 = IRT().fit(np.ma.MaskedArray(Y, mask=hide))
    np.testing.assert_array_equal(m1.b_, m2.b_)
    np.testing.assert_array_equal(m1.b_, m3.b_)
    # Integer input with a mask gives the same codes.
    m4 = IRT().fit(Y.astype(np.int8), mask=hide)
    np.testing.assert_array_equal(m1.theta_, m4.theta_)


def test_multidimensional_recovery_up_to_rotation():
    Y, theta, a, b = simulate(800, 1000, dims=2, seed=4)
    m = IRT(dims=2, random_state=0).fit(Y)
    assert m.theta_.shape == (800, 2) and m.a_.shape == (1000, 2)
    # Abilities have identity covariance; truth is standardised the same way (whitened).
    assert np.allclose(np.cov(m.theta_.T, bias=True), np.eye(2), atol=1e-6)
    t_true = theta - theta.mean(0)
    chol = np.linalg.cholesky(np.cov(t_true.T, bias=True))
    t_true = np.linalg.solve(chol, t_true.T).T
    a_true = a @ chol
    rot, _ = orthogonal_procrustes(m.theta_, t_true)
    t_aligned, a_aligned = m.theta_ @ rot, m.a_ @ rot
    r_theta = [corr(t_aligned[:, k], t_true[:, k]) for k in range(2)]
    r_a = [corr(a_aligned[:, k], a_true[:, k]) for k in range(2)]
    print("2-D recovery after Procrustes: r_theta", r_theta, "r_a", r_a, "r_b", corr(m.b_, b))
    assert min(r_theta) >= 0.93 and min(r_a) >= 0.85 and corr(m.b_, b) >= 0.97


def test_fractional_scores_are_bernoulli_targets():
    Y, theta, a, b = simulate(200, 300, seed=5)
    rng = np.random.default_rng(1)
    frac = np.clip(Y * 0.8 + 0.1 + rng.normal(0, 0.02, Y.shape), 0, 1)
    m = IRT().fit(frac)
    assert corr(m.theta_, theta) > 0.95
    with pytest.raises(InvalidArgumentError, match="responses='fractional'"):
        IRT(responses="binary").fit(frac)


def test_rasch_and_1pl():
    Y, theta, _, b = simulate(300, 200, seed=6)
    one = IRT(model="1pl").fit(Y)
    rasch = IRT(model="rasch").fit(Y)
    assert np.ptp(one.a_) == 0 and np.all(rasch.a_ == 1)
    assert abs(one.theta_.std() - 1) < 1e-6
    assert abs(rasch.theta_.mean()) < 1e-6
    # Same likelihood, same predictions.
    np.testing.assert_allclose(one.predict_proba(), rasch.predict_proba(), rtol=1e-10)
    assert corr(rasch.b_, b) > 0.95 and corr(rasch.theta_, theta) > 0.95


# ----------------------------------------------------------------------------- EM
@pytest.fixture(scope="module")
def sim_em():
    return simulate(300, 400, seed=7)


@pytest.fixture(scope="module")
def fit_em(sim_em):
    return IRT(method="em", n_quad=61).fit(sim_em[0])


def test_em_loglik_never_decreases(fit_em):
    trace = fit_em.loglik_trace_
    assert trace.size >= 3
    assert np.all(np.diff(trace) >= -1e-8 * np.abs(trace[:-1]))


def test_em_1pl_loglik_never_decreases(sim_em):
    m = IRT(model="1pl", method="em", max_iter=40).fit(sim_em[0][:, :100])
    assert np.all(np.diff(m.loglik_trace_) >= -1e-8 * np.abs(m.loglik_trace_[:-1]))


def test_em_restandardises_the_latent_scale():
    """Where the grid resolves the posteriors (few items), the abilities pooled over the
    models' posteriors end standardised: mean 0 and variance 1 up to sampling noise."""
    Y = simulate(300, 20, seed=7)[0]
    m = IRT(method="em").fit(Y)
    mean = m.theta_[:, 0].mean()
    var = np.mean(m.theta_[:, 0] ** 2 + m.theta_se_**2) - mean**2
    assert abs(mean) < 0.01 and abs(var - 1) < 0.05
    assert np.all(np.diff(m.loglik_trace_) >= -1e-8 * np.abs(m.loglik_trace_[:-1]))


def test_jml_and_em_agree(sim_em, fit_em):
    """Tolerance: on 300 models × 400 items the two estimators' item parameters correlate
    >= 0.99 (difficulty) and >= 0.95 (discrimination), difficulties differ by < 0.25 on average
    (JML's known inflation of discriminations is the main difference)."""
    Y, theta, a, b = sim_em
    jml = IRT().fit(Y)
    em = fit_em
    r_b, r_a = corr(jml.b_, em.b_), corr(jml.a_, em.a_)
    mad = float(np.mean(np.abs(jml.b_ - em.b_)))
    print(f"JML vs EM: r_b={r_b:.4f} r_a={r_a:.4f} mean|db|={mad:.4f}")
    assert r_b >= 0.99 and r_a >= 0.95 and mad < 0.25
    assert corr(em.b_, b) > 0.97 and corr(em.theta_, theta) > 0.97


def test_em_marginal_loglik_and_eaps_match_quadrature(sim_em, fit_em):
    """loglik_ = sum over models of log Σ_q w_q Π_i p(y_li | x_q) on the documented grid
    (61 nodes over [-6, 6], normalised N(0, 1) weights); theta_ are the grid posterior means."""
    Y = sim_em[0]
    m = fit_em
    nodes = np.linspace(-6, 6, 61)
    logw = -0.5 * nodes**2
    logw -= np.log(np.exp(logw).sum())
    z = nodes[:, None] * m.a_[:, 0][None, :] - m.b_[None, :]
    ll = Y @ z.T - np.logaddexp(0, z).sum(axis=1)[None, :]
    per = np.logaddexp.reduce(ll + logw[None, :], axis=1)
    assert abs(per.sum() - m.loglik_) < 1e-6 * abs(m.loglik_)
    post = np.exp(ll + logw[None, :] - per[:, None])
    np.testing.assert_allclose(m.theta_[:, 0], post @ nodes, atol=1e-8)


# ----------------------------------------------------------------------------- scoring
@pytest.fixture(scope="module")
def items100():
    rng = np.random.default_rng(11)
    a = np.exp(0.3 * rng.normal(size=(100, 1)))
    b = rng.normal(size=100)
    m = IRT.from_tinybenchmarks(a.T[None], b[None, None], clip=None)
    y = (rng.random(100) < expit(a[:, 0] * 0.7 - b)).astype(float)
    y[rng.random(100) < 0.1] = np.nan
    return m, a, b, y


def _negloglik(t, a, b, y, prior_sd=None):
    obs = ~np.isnan(y)
    z = a[obs] @ np.atleast_1d(t) - b[obs]
    ll = np.sum(y[obs] * z - np.logaddexp(0, z))
    if prior_sd is not None:
        ll -= 0.5 * np.sum(np.square(t)) / prior_sd**2
    return -ll


def test_score_mle_matches_scipy(items100):
    m, a, b, y = items100
    r = m.score_new(y, method="mle")
    ref = optimize.minimize(_negloglik, [0.0], args=(a, b, y), method="BFGS", tol=1e-12)
    assert abs(r.theta[0, 0] - ref.x[0]) < 1e-6
    # SE = 1/sqrt(Fisher information) at the MLE.
    p = expit(a[:, 0] * r.theta[0, 0] - b)
    obs = ~np.isnan(y)
    info = np.sum((a[obs, 0] ** 2) * p[obs] * (1 - p[obs]))
    assert abs(r.standard_error[0, 0] - info**-0.5) < 1e-8
    assert r.n_observed[0] == obs.sum()


def test_score_map_matches_scipy(items100):
    m, a, b, y = items100
    r = m.score_new(y, method="map", prior_sd=1.5)
    ref = optimize.minimize(_negloglik, [0.0], args=(a, b, y, 1.5), method="BFGS", tol=1e-12)
    assert abs(r.theta[0, 0] - ref.x[0]) < 1e-6


def test_score_eap_matches_quadrature(items100):
    m, a, b, y = items100
    r = m.score_new(y, method="eap", prior_sd=1.0)

    def post(t):
        return np.exp(-_negloglik(np.array([t]), a, b, y, 1.0) - const)

    const = -_negloglik(np.array([0.7]), a, b, y, 1.0)
    z0 = integrate.quad(post, -10, 10, points=[0.7], limit=200, epsabs=0, epsrel=1e-12)[0]
    z1 = integrate.quad(lambda t: t * post(t), -10, 10, points=[0.7], limit=200, epsrel=1e-12)[0]
    z2 = integrate.quad(lambda t: t * t * post(t), -10, 10, points=[0.7], limit=200)[0]
    mean = z1 / z0
    sd = np.sqrt(z2 / z0 - mean**2)
    assert abs(r.theta[0, 0] - mean) < 1e-7
    assert abs(r.standard_error[0, 0] - sd) < 1e-6


def test_score_multidimensional_mle_matches_scipy():
    rng = np.random.default_rng(12)
    a = rng.uniform(0.2, 1.5, size=(80, 2))
    b = rng.normal(size=80)
    m = IRT.from_tinybenchmarks(a.T, b / 2, clip=None)
    y = (rng.random(80) < expit(a @ [0.5, -0.3] - b)).astype(float)
    r = m.score_new(y, method="mle")
    ref = optimize.minimize(_negloglik, [0.0, 0.0], args=(a, b, y), method="BFGS", tol=1e-12)
    np.testing.assert_allclose(r.theta[0], ref.x, atol=1e-5)
    r_eap = m.score_new(y, method="eap")
    r_map = m.score_new(y, method="map")
    assert np.all(np.abs(r_eap.theta - r_map.theta) < 0.1)


def test_score_subset_of_items_and_edge_rows(fit400, sim400):
    Y = sim400[0]
    items = np.arange(0, 2000, 20)
    rows = Y[:5, items].copy()
    rows[1] = 1.0
    rows[2] = np.nan
    r = fit400.score_new(rows, items=items, method="mle")
    assert np.isposinf(r.theta[1, 0]) and np.isinf(r.standard_error[1, 0])
    assert np.isnan(r.theta[2, 0])
    rmap = fit400.score_new(rows, items=items, method="map")
    assert np.all(np.isfinite(rmap.theta))
    assert rmap.theta[2, 0] == 0 and abs(rmap.standard_error[2, 0] - 1) < 1e-9
    # Scores track the fitted abilities.
    full = fit400.score_new(Y[:50], method="map")
    assert corr(full.theta, fit400.theta_[:50]) > 0.999
    with pytest.raises(ShapeError, match="Y_new"):
        fit400.score_new(rows[:, :10], items=items)
    with pytest.raises(InvalidArgumentError, match="outside"):
        fit400.score_new(rows * 2, items=items)


# ----------------------------------------------------------------------------- prediction
def test_predict_proba_and_information(fit400):
    m = fit400
    p = m.predict_proba()
    assert p.shape == (400, 2000)
    ref = expit(m.theta_ @ m.a_.T - m.b_)
    np.testing.assert_allclose(p, ref, rtol=1e-12, atol=1e-15)
    sub = m.predict_proba(theta=[[0.3], [-1.0]], items=[5, 7])
    np.testing.assert_allclose(
        sub, expit(np.array([[0.3], [-1.0]]) * m.a_[[5, 7], 0] - m.b_[[5, 7]])
    )
    grid = np.linspace(-3, 3, 7)
    info = m.item_information(grid)
    pg = expit(grid[:, None] * m.a_[:, 0] - m.b_)
    np.testing.assert_allclose(info, pg * (1 - pg) * m.a_[:, 0] ** 2, rtol=1e-12)
    np.testing.assert_allclose(m.test_information(grid), info.sum(axis=1))


def test_from_tinybenchmarks_reproduces_their_item_curve():
    rng = np.random.default_rng(13)
    D, N = 3, 50
    A = rng.normal(size=(1, D, N)) * 3
    B = rng.normal(size=(1, 1, N)) * 5
    theta = rng.normal(size=(4, D, 1)) * 4
    m = IRT.from_tinybenchmarks(A, B, theta=theta)
    # Their item_curve: sigmoid(clip(a*theta - b, -30, 30).sum(axis=1)), per model.
    expected = np.stack([expit(np.clip(A * t[None] - B, -30, 30).sum(axis=1))[0] for t in theta])
    np.testing.assert_allclose(m.predict_proba(), expected, rtol=1e-12)
    np.testing.assert_allclose(m.b_, D * B.ravel())
    # Scoring with clipping equals scipy on the clipped likelihood.
    y = (rng.random(N) < expected[0]).astype(float)

    def nll(t):
        z = np.clip(A[0] * t[:, None] - B[0], -30, 30).sum(axis=0)
        return -np.sum(y * z - np.logaddexp(0, z)) + 0.5 * np.sum(t**2)

    r = m.score_new(y, method="map")
    ref = optimize.minimize(
        nll,
        np.zeros(D),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000},
    )
    assert nll(r.theta[0]) <= ref.fun + 1e-8


# ----------------------------------------------------------------------------- real data
def test_livexiv_held_out_cells_beat_item_means(shared_data):
    data = np.load(shared_data / "livexiv" / "vqa_by_domain_v4.npz")
    Y = np.concatenate([data[k] for k in sorted(data.files)], axis=1).astype(float)
    rng = np.random.default_rng(0)
    hide = rng.random(Y.shape) < 0.2
    m = IRT(model="2pl").fit(Y, mask=hide)
    assert m.converged_
    p_irt = np.clip(m.predict_proba()[hide], 1e-6, 1 - 1e-6)
    train = np.where(hide, np.nan, Y)
    counts = np.sum(~hide, axis=0)
    item_mean = (np.nansum(train, axis=0) + 0.5) / (counts + 1.0)  # smoothed
    p_base = np.broadcast_to(item_mean, Y.shape)[hide]
    y = Y[hide]

    def logloss(p):
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    out = {
        "shape": Y.shape,
        "irt_logloss": logloss(p_irt),
        "base_logloss": logloss(p_base),
        "irt_auc": float(roc_auc_score(y, p_irt)),
        "base_auc": float(roc_auc_score(y, p_base)),
    }
    print("LiveXiv VQA v4, 20% cells held out:", json.dumps(out))
    assert out["irt_logloss"] < out["base_logloss"]
    assert out["irt_auc"] > out["base_auc"]


# ----------------------------------------------------------------------------- iteration count
def simulate_classical(n_models, n_items, seed):
    """Issue 13's design: logit = a (theta - b), a ~ LogNormal(0, 0.3), b ~ N(0, 1), uint8."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n_models)
    a = rng.lognormal(0.0, 0.3, size=n_items)
    b = rng.normal(size=n_items)
    p = expit(a * (theta[:, None] - b))
    return (rng.random(p.shape) < p).astype(np.uint8), theta, a, b


def penalised_item_newton_steps(m, Y):
    """Dense-numpy Newton step of every item's penalised objective at the fit (abilities
    fixed): zero at a JML stationary point. Priors N(0, 2²) on a and N(0, 3²) on b."""
    theta = m.theta_[:, 0]
    p = expit(np.outer(theta, m.a_[:, 0]) - m.b_)
    r, w = Y - p, p * (1 - p)
    ga, gb = r.T @ theta - m.a_[:, 0] / 4, -r.sum(0) - m.b_ / 9
    haa, hab, hbb = w.T @ theta**2 + 1 / 4, -(w.T @ theta), w.sum(0) + 1 / 9
    det = haa * hbb - hab**2
    return np.column_stack([(hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det])


def test_jml_iteration_count_does_not_depend_on_the_draw():
    """Issue 13: a near-Guttman item (almost all correct, only the weakest models wrong) used
    to crawl for ~60 iterations under the curvature-bound fallback step. Over 20 draws the
    worst iteration count stays within twice the median, and each fit is a stationary point
    of the penalised likelihood (checked with plain numpy) that recovers the difficulties."""
    counts = []
    for seed in range(20):
        Y, _, a, b = simulate_classical(200, 2000, seed)
        m = IRT(model="2pl").fit(Y)
        assert m.converged_
        counts.append(m.n_iter_)
        assert corr(m.b_, a * b) > 0.97
        assert np.abs(penalised_item_newton_steps(m, Y.astype(float))).max() < 1e-5
    assert max(counts) <= 2 * np.median(counts), counts


def test_line_searched_fit_has_the_same_bits_at_1_2_4_threads():
    """Seed 8 of the design above has the near-Guttman item whose steps are line-searched."""
    Y = simulate_classical(200, 2000, 8)[0]
    fits = []
    for n in (1, 2, 4):
        with num_threads(n):
            m = IRT(model="2pl").fit(Y)
        fits.append((m.theta_, m.a_, m.b_, m.n_iter_))
    for other in fits[1:]:
        for x, y in zip(fits[0], other, strict=True):
            np.testing.assert_array_equal(x, y)


# ----------------------------------------------------------------------------- edge cases
def test_all_correct_and_all_wrong_rows_and_columns_are_finite():
    Y, *_ = simulate(50, 40, seed=8)
    Y[0] = 1
    Y[1] = 0
    Y[:, 0] = 1
    Y[:, 1] = 0
    for kw in ({}, {"model": "1pl"}, {"model": "rasch"}, {"method": "em"}, {"dims": 2}):
        m = IRT(random_state=0, **kw).fit(Y)
        assert np.all(np.isfinite(m.theta_)) and np.all(np.isfinite(m.b_))
        assert np.all(np.isfinite(m.a_))
        if m.a_.shape[1] == 1:
            assert m.theta_[0, 0] > m.theta_[2:, 0].max() - 1e-9
            assert m.b_[0] < m.b_[2:].min() and m.b_[1] > m.b_[2:].max()


def test_separable_guttman_data_stay_bounded():
    """Perfectly ordered responses (every item separates the models): the likelihood alone
    has no maximum; the priors must keep the fit finite and convergent."""
    rng = np.random.default_rng(18)
    ability = np.sort(rng.normal(size=15))
    cut = rng.normal(size=300)
    Y = (ability[:, None] > cut[None, :]).astype(float)
    for kw in ({}, {"model": "1pl"}, {"dims": 2, "max_iter": 100}):
        with warnings.catch_warnings():
            # A second dimension is not identified by such data: bounded, not converged.
            warnings.simplefilter("ignore", ConvergenceWarning)
            m = IRT(random_state=0, **kw).fit(Y)
        assert m.converged_ or kw.get("dims") == 2
        assert np.abs(m.a_).max() < 100 and np.abs(m.b_).max() < 100
        if kw.get("model") == "1pl":  # the sum score is sufficient: abilities follow it
            assert np.all(np.diff(m.theta_[:, 0]) > 0)
        elif m.a_.shape[1] == 1:
            assert corr(m.theta_[:, 0], ability) > 0.8


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_constant_matrix(value):
    m = IRT().fit(np.full((10, 6), value))
    assert np.all(np.isfinite(m.b_)) and np.all(np.isfinite(m.theta_))
    assert np.all(m.theta_ == 0)
    p = m.predict_proba()
    assert np.all(p > 0.5) if value else np.all(p < 0.5)


def test_single_item_and_nan_only_rows():
    Y, *_ = simulate(30, 1, seed=9)
    m = IRT().fit(Y)
    assert m.b_.shape == (1,) and np.all(np.isfinite(m.theta_))
    Y, *_ = simulate(30, 20, seed=9)
    Y[3] = np.nan
    Y[:, 4] = np.nan
    with pytest.warns(
        UserWarning, match=r"1 model\(s\) \(rows \[3\]\) and 1 item\(s\) \(columns \[4\]"
    ):
        m = IRT().fit(Y)
    assert np.all(np.isfinite(m.theta_)) and np.all(np.isfinite(m.b_))


@pytest.mark.parametrize("method", ["jml", "em"])
def test_no_observed_response_is_an_error(method):
    """Issue 20: an all-NaN matrix used to 'converge' with every parameter 0."""
    with pytest.raises(InvalidArgumentError, match="Y: has no observed response"):
        IRT(method=method).fit(np.full((5, 6), np.nan))
    with pytest.raises(InvalidArgumentError, match="Y: has no observed response"):
        IRT(method=method).fit(np.ones((3, 4)), mask=np.ones((3, 4), bool))


def test_absurd_sizes_are_refused_before_allocating():
    """Issue 20: dims=10**12 aborted the process (memory allocation failed)."""
    with pytest.raises(MemoryBudgetError, match="dims"):
        IRT(dims=10**12).fit(np.eye(3))
    with pytest.raises(MemoryBudgetError, match="dims"):
        IRT(dims=2**31).fit(np.eye(3))
    for kw in ({"dims": 2**64}, {"max_iter": 2**64}, {"n_quad": 2**64}):
        with pytest.raises(InvalidArgumentError, match=next(iter(kw))):
            IRT(**kw).fit(np.eye(3))


def test_hostile_inputs_raise_clear_errors():
    m = IRT().fit(simulate(20, 10, seed=3)[0])
    with pytest.raises(ShapeError, match="Y: expected a 2-D"):
        IRT().fit(np.array(1.0))
    with pytest.raises(InvalidArgumentError, match="Y: has complex"):
        IRT().fit(np.eye(3) + 0j)
    with pytest.raises(InvalidArgumentError, match="Y: could not convert"):
        IRT().fit(np.array([["a", "b"], ["c", "d"]], dtype=object))
    with pytest.raises(InvalidArgumentError, match="outside"):
        IRT().fit(np.full((3, 3), 1e308))
    with pytest.raises(InvalidArgumentError, match="Y_new: has complex"):
        m.score_new(np.ones(10) + 1j)
    with pytest.raises(InvalidArgumentError, match="prior_sd"):
        m.score_new(np.ones(10), prior_sd=0.0)
    with pytest.raises(InvalidArgumentError, match="Y_new: could not convert"):
        m.score_new(["x"] * 10)
    with pytest.raises(InvalidArgumentError, match="theta: has complex"):
        m.item_information(1j)
    with pytest.raises(ShapeError, match="at least one dimension and item"):
        IRT.from_tinybenchmarks(np.zeros((1, 2, 0)), np.zeros(0))


def test_eap_scoring_of_many_models_stops_on_ctrl_c():
    """Issue 20: EAP scoring of 100,000 models ignored Ctrl-C for over a minute. The scoring
    loop now ticks the monitor, so an interrupt raised mid-call ends the call (no result)."""
    import _thread
    import threading

    m = IRT().fit(simulate(50, 100, seed=4)[0])
    Y = (np.random.default_rng(0).random((100_000, 100)) < 0.5).astype(float)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    result = None
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            result = m.score_new(Y, method="eap")
    finally:
        timer.cancel()
    assert result is None


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(InvalidArgumentError, match="outside"):
        IRT().fit(np.array([[0.0, 2.0], [1.0, 0.0]]))
    with pytest.raises(InvalidArgumentError, match="integer responses"):
        IRT().fit(np.array([[0, 3], [1, 0]]))
    with pytest.raises(InvalidArgumentError, match="not 0 or 1"):
        IRT(responses="binary").fit(np.array([[0.5, 1.0], [1.0, 0.0]]))
    with pytest.raises(ShapeError):
        IRT().fit(np.zeros(5))
    with pytest.raises(ShapeError):
        IRT().fit(np.zeros((0, 3)))
    with pytest.raises(ShapeError, match="mask"):
        IRT().fit(np.zeros((3, 3)), mask=np.zeros((2, 3), bool))
    with pytest.raises(InvalidArgumentError, match="model"):
        IRT(model="3pl").fit(np.zeros((3, 3)))
    with pytest.raises(InvalidArgumentError, match="dims"):
        IRT(model="rasch", dims=2).fit(np.zeros((3, 3)))
    with pytest.raises(InvalidArgumentError, match="EM"):
        IRT(method="em", dims=2).fit(np.zeros((3, 3)))
    with pytest.raises(InvalidArgumentError, match="prior_sd_a"):
        IRT(prior_sd_a=0).fit(np.zeros((3, 3)))
    with pytest.raises(NotFittedError):
        IRT().predict_proba()
    with pytest.raises(InvalidArgumentError, match="valid ones"):
        IRT().set_params(nope=1)


def test_convergence_warning():
    Y, *_ = simulate(40, 30, seed=10)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        m = IRT(max_iter=1).fit(Y)
    assert not m.converged_ and m.n_iter_ == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert IRT().fit(Y).converged_


def test_positive_discrimination():
    Y, *_ = simulate(100, 50, seed=14)
    Y[:, :5] = 1 - Y[:, :5]  # reversed items have negative discrimination
    free = IRT().fit(Y)
    assert np.all(free.a_[:5] < 0)
    pos = IRT(positive_discrimination=True).fit(Y)
    assert np.all(pos.a_ >= 0)


# ----------------------------------------------------------------------------- determinism, io
def test_same_bits_at_1_2_4_threads():
    Y, *_ = simulate(120, 600, seed=15, missing=0.1)
    results = []
    for n in (1, 2, 4):
        with num_threads(n), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m = IRT(dims=2, random_state=3).fit(Y)
            e = IRT(method="em", max_iter=10).fit(Y)
            s = m.score_new(Y[:10], method="eap")
        results.append((m.theta_, m.a_, m.b_, m.loglik_, e.b_, e.loglik_trace_, s.theta))
    for other in results[1:]:
        for x, y in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("suffix", [".json", ".npz", ".irt", ""])
def test_save_load_roundtrip(tmp_path, fit400, suffix):
    path = tmp_path / f"model{suffix}"
    fit400.save(path)
    m = IRT.load(path)
    np.testing.assert_array_equal(m.a_, fit400.a_)
    np.testing.assert_array_equal(m.b_, fit400.b_)
    np.testing.assert_array_equal(m.theta_, fit400.theta_)
    assert m.get_params()["model"] == "2pl" and m.loglik_ == fit400.loglik_
    y = np.where(np.arange(2000) % 3 == 0, 1.0, 0.0)
    np.testing.assert_array_equal(m.score_new(y).theta, fit400.score_new(y).theta)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # exactly there, no suffix
    if suffix == ".json":
        state = json.loads(path.read_text())
        assert state["format"] == "calipers.irt" and len(state["b"]) == 2000


def test_save_accepts_numpy_scalar_arguments(tmp_path):
    m = IRT(dims=np.int64(1), tol=np.float64(1e-4)).fit(simulate(20, 8, seed=6)[0])
    m.save(tmp_path / "m.json")
    assert IRT.load(tmp_path / "m.json").get_params()["dims"] == 1


def _damaged_irt_files(m, tmp_path):
    """(name, path) of damaged copies of a saved model, JSON and npz."""
    import zipfile

    state = json.loads(json.dumps(m._state()))
    edits = {
        "no_a": lambda s: s.pop("a"),
        "version": lambda s: s.update(version=2),
        "model": lambda s: s["params"].update(model="4pl"),
        "shape": lambda s: s.update(b=s["b"][:-1]),
        "ragged": lambda s: s["a"].__setitem__(0, [1.0, 2.0]),
        "nan": lambda s: s["b"].__setitem__(1, float("nan")),
        "strings": lambda s: s.update(b=["x"] * len(s["b"])),
        "n_iter": lambda s: s.update(n_iter="many"),
        "unknown_param": lambda s: s["params"].update(colour="red"),
    }
    out = []
    for name, edit in edits.items():
        s = json.loads(json.dumps(state))
        edit(s)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(s))
        out.append((name, path))
    good = tmp_path / "good.irt"
    m.save(good)
    raw = good.read_bytes()
    (tmp_path / "truncated.irt").write_bytes(raw[: len(raw) // 2])
    out.append(("truncated", tmp_path / "truncated.irt"))
    (tmp_path / "tampered.json").write_text(json.dumps(state)[:-7])
    out.append(("tampered", tmp_path / "tampered.json"))
    with zipfile.ZipFile(tmp_path / "no_meta.irt", "w") as z:
        z.writestr("a.npy", b"")
    out.append(("no_meta", tmp_path / "no_meta.irt"))
    np.savez(
        tmp_path / "text_b.npz",
        meta=np.array(json.dumps({k: v for k, v in state.items() if k not in ("a", "b", "theta")})),
        a=m.a_,
        b=np.array(["x"] * m.b_.size),
    )
    out.append(("text_b", tmp_path / "text_b.npz"))
    return out


def test_load_rejects_damaged_files_naming_file_and_problem(tmp_path):
    """Issue 20: raw JSONDecodeError/BadZipFile/KeyError before; now one clear error."""
    m = IRT().fit(simulate(30, 12, seed=5)[0])
    for name, path in _damaged_irt_files(m, tmp_path):
        with pytest.raises(InvalidArgumentError, match=path.name) as info:
            IRT.load(path)
        assert type(info.value).__module__ == "calipers.exceptions", name
    with pytest.raises(InvalidArgumentError, match="format version 2"):
        IRT.load(tmp_path / "version.json")
    with pytest.raises(InvalidArgumentError, match="could not read"):
        IRT.load(tmp_path / "absent.irt")


def test_progress_callback_and_params():
    Y, *_ = simulate(30, 30, seed=16)
    seen = []
    m = IRT().fit(Y, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == m.n_iter_
    assert IRT(dims=3).get_params()["dims"] == 3
    assert "IRT(model='2pl'" in repr(IRT())


# ----------------------------------------------------------------------------- torch
def test_torch_jml_matches_cpu():
    torch = pytest.importorskip("torch")
    del torch
    Y, *_ = simulate(120, 300, seed=17, missing=0.1)
    cpu = IRT().fit(Y)
    from calipers.irt import _encode_responses
    from calipers.torch.irt import fit_jml

    out = fit_jml(
        _encode_responses(Y, None, "auto"),
        model="2pl",
        dims=1,
        max_iter=500,
        tol=1e-4,
        prior_sd_theta=1.0,
        prior_sd_a=2.0,
        prior_sd_b=3.0,
        positive=False,
        seed=0,
        device="cpu",
    )
    np.testing.assert_allclose(out[2], cpu.b_, atol=1e-3)


@pytest.mark.gpu
def test_torch_cuda_fit():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    Y, theta, a, b = simulate(400, 2000, seed=1)
    m = IRT(device="cuda").fit(Y)
    assert corr(m.b_, b) >= 0.98 and corr(m.theta_, theta) >= 0.98 and corr(m.a_, a) >= 0.88
    cpu = IRT().fit(Y)
    np.testing.assert_allclose(m.b_, cpu.b_, atol=1e-3)
