"""calipers.scaling._random: the random-family-effect scaling law (latent-variable framework).

References: the marginal likelihood by brute-force integration (scipy quad/dblquad of the
Beta likelihood times the normal density, written plainly here), finite differences of the
log-likelihood, simulation from the model with known parameters, and the authors' K = 4 table
on the merged Open LLM Leaderboard v1 + v2 data (slow).
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

import calipers
from calipers.exceptions import InvalidArgumentError, ShapeError
from calipers.scaling import _random as R

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "scaling"
BENCHMARKS = [
    "math", "ifeval", "hellaswag", "bbh", "mmlu-pro", "mmlu",
    "arc", "truthfulqa", "gsm8k", "winogrande", "gpqa", "musr",
]  # fmt: skip
FLOORS = {
    "mmlu": 0.25, "hellaswag": 0.25, "winogrande": 0.5, "gsm8k": 0.0, "arc": 0.25,
    "truthfulqa": 0.31, "ifeval": 0.0, "math": 0.0, "mmlu-pro": 0.1, "bbh": 0.28851,
    "gpqa": 0.25, "musr": 0.34332,
}  # fmt: skip


def simulate(rng, *, n_families=40, per_family=4, n_bench=5, k=1, rho=0.3):
    """Draw a data set from the model with known parameters."""
    p = 3
    n = n_families * per_family
    fam = np.repeat(np.arange(n_families), per_family)
    x = rng.standard_normal((n, p))
    beta = rng.uniform(-0.8, 0.8, (p, k))
    lam = rng.uniform(0.4, 1.2, (k, n_bench))
    anchors = tuple(range(k))
    for a in range(k):
        lam[:, anchors[a]] = 0.0
        lam[a, anchors[a]] = 0.9
    bias = rng.uniform(-0.5, 0.5, n_bench)
    phi = rng.uniform(20, 60, n_bench)
    sigma = np.full((k, k), rho) + (1 - rho) * np.eye(k)
    alpha = rng.multivariate_normal(np.zeros(k), sigma, n_families)
    eta = (x @ beta + alpha[fam]) @ lam + bias
    floor = np.linspace(0.0, 0.2, n_bench)
    mu = floor + (1 - floor) / (1 + np.exp(-eta))
    y = rng.beta(phi * mu, phi * (1 - mu))
    y = np.clip(y, 1e-3, 1 - 1e-3)
    truth = dict(beta=beta, lam=lam, bias=bias, phi=phi, sigma=sigma)
    return x, y, fam, floor, truth


def small_problem(k, seed=0, n_families=3):
    rng = np.random.default_rng(seed)
    x, y, fam, floor, _ = simulate(rng, n_families=n_families, per_family=3, n_bench=3, k=k)
    y[1, 2] = np.nan
    layout = R._Layout(3, k, 3, tuple(range(k)))
    prob = R._Problem(x, y, fam, n_families, floor, layout)
    free = 0.3 * rng.standard_normal(layout.n_free)
    free[layout.s_diag] = 0.8
    free[layout.s_logphi] = math.log(15.0)
    return prob, layout, free


def family_integrand(prob, layout, free, f):
    """log of Π_ij Beta(y_ij; φμ, φ(1 − μ)) as a function of the standardised effect z."""
    u = layout.unpack(free)
    r0, r1 = prob.ptr[f], prob.ptr[f + 1]
    x, y = prob.x[r0:r1], prob.y[r0:r1]
    phi = np.exp(u["log_precision"])

    def logf(z):
        alpha = u["chol"] @ np.asarray(z)
        eta = (x @ u["beta"] + alpha) @ u["loadings"] + u["bias"]
        mu = prob.floor + (1 - prob.floor) / (1 + np.exp(-eta))
        m = ~np.isnan(y)
        a, b = (phi * mu)[m], (phi * (1 - mu))[m]
        return float(stats.beta.logpdf(y[m], a, b).sum())

    return logf


def place_at_modes(prob, layout, free):
    centre, scale, log_det, converged = prob.modes(free)
    assert converged
    k = layout.k
    return centre, scale.reshape(-1, k * k), log_det


# ---------------------------------------------------------------------------------------------
# integration


def test_gauss_hermite_rule_integrates_normal_moments():
    nodes, logw = R.gauss_hermite_rule(5, 2)
    w = np.exp(logw)
    assert nodes.shape == (25, 2)
    assert w.sum() == pytest.approx(1.0, abs=1e-14)
    assert (w * nodes[:, 0] ** 2).sum() == pytest.approx(1.0, abs=1e-13)
    assert (w * nodes[:, 0] ** 4 * nodes[:, 1] ** 2).sum() == pytest.approx(3.0, abs=1e-12)


def test_quadrature_equals_brute_force_k1():
    prob, layout, free = small_problem(1)
    place = place_at_modes(prob, layout, free)
    rule = R.gauss_hermite_rule(40, 1)
    _, fam_ll, _, _ = prob.loglik(free, rule, place, grad=False)
    for f in range(prob.n_families):
        logf = family_integrand(prob, layout, free, f)
        zc = place[0][f, 0]
        shift = logf([zc]) + stats.norm.logpdf(zc)
        val, _ = integrate.quad(
            lambda z, logf=logf, shift=shift: math.exp(logf([z]) + stats.norm.logpdf(z) - shift),
            zc - 12,
            zc + 12,
            epsabs=0,
            epsrel=1e-12,
            limit=200,
        )
        assert fam_ll[f] == pytest.approx(shift + math.log(val), abs=1e-8)


def test_quadrature_equals_brute_force_k2():
    prob, layout, free = small_problem(2, seed=1, n_families=2)
    place = place_at_modes(prob, layout, free)
    rule = R.gauss_hermite_rule(24, 2)
    _, fam_ll, _, _ = prob.loglik(free, rule, place, grad=False)
    for f in range(prob.n_families):
        logf = family_integrand(prob, layout, free, f)
        zc = place[0][f]
        shift = logf(zc) - 0.5 * zc @ zc - math.log(2 * math.pi)

        def dens(z2, z1, logf=logf, shift=shift):
            z = np.array([z1, z2])
            return math.exp(logf(z) - 0.5 * z @ z - math.log(2 * math.pi) - shift)

        val, _ = integrate.dblquad(
            dens, zc[0] - 9, zc[0] + 9, zc[1] - 9, zc[1] + 9, epsabs=0, epsrel=1e-11
        )
        assert fam_ll[f] == pytest.approx(shift + math.log(val), abs=1e-8)


def test_laplace_and_monte_carlo_approximate_the_same_integral():
    prob, layout, free = small_problem(1, seed=2)
    place = place_at_modes(prob, layout, free)
    exact = prob.loglik(free, R.gauss_hermite_rule(40, 1), place, grad=False)[0]
    laplace = prob.loglik(free, R._rule_for("laplace", 1, 1, 0), place, grad=False)[0]
    k, n_fam = 1, prob.n_families
    prior = (np.zeros((n_fam, k)), np.ones((n_fam, 1)), np.zeros(n_fam))
    mc = prob.loglik(free, R._rule_for("monte_carlo", 200_000, 1, 0), prior, grad=False)[0]
    assert laplace == pytest.approx(exact, abs=0.05)
    assert mc == pytest.approx(exact, abs=0.02)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_analytic_gradient_and_scores_equal_finite_differences(k):
    prob, layout, free = small_problem(k, seed=3, n_families=4)
    place = place_at_modes(prob, layout, free)
    rule = R.gauss_hermite_rule(3, k)
    _, _, grad, _ = prob.loglik(free, rule, place)
    _, _, _, scores = prob.loglik(free, rule, place, grad=False, scores=True)
    np.testing.assert_allclose(scores.sum(axis=0), grad, rtol=1e-10, atol=1e-10)
    for i in range(free.size):
        h = 1e-6
        tp, tm = free.copy(), free.copy()
        tp[i] += h
        tm[i] -= h
        fd = (
            prob.loglik(tp, rule, place, grad=False)[0]
            - prob.loglik(tm, rule, place, grad=False)[0]
        ) / (2 * h)
        assert grad[i] == pytest.approx(fd, rel=1e-5, abs=1e-6), layout.names(list("abc"))[i]


# ---------------------------------------------------------------------------------------------
# identification


def test_sign_flip_is_an_exact_symmetry_and_fold_restores_anchor_signs():
    prob, layout, free = small_problem(2, seed=4, n_families=4)
    flipped = free.copy()
    flipped[layout.s_diag.start] *= -1  # skill 0 with a negative anchor loading
    folded = R._fold_signs(layout, flipped)
    assert (folded[layout.s_diag] >= 0).all()
    rule = R.gauss_hermite_rule(12, 2)
    a = prob.loglik(flipped, rule, place_at_modes(prob, layout, flipped), grad=False)[0]
    b = prob.loglik(folded, rule, place_at_modes(prob, layout, folded), grad=False)[0]
    assert a == pytest.approx(b, abs=1e-7)


def test_parameters_are_unique_under_anchor_constraints():
    # Two different starts on one simulated data set reach the same parameters.
    rng = np.random.default_rng(5)
    x, y, fam, floor, _ = simulate(rng, n_families=50, k=2, rho=0.4)
    fits = [
        R.fit_random_effects(x, y, fam, n_skills=2, floor=floor, n_restarts=r, random_state=7)
        for r in (1, 2)
    ]
    if fits[1].loglik > fits[0].loglik + 1e-6:  # the seeded restart found a better optimum
        pytest.skip("the restarts reached different local optima")
    np.testing.assert_allclose(fits[0].slopes, fits[1].slopes, atol=2e-4)
    np.testing.assert_allclose(fits[0].loadings, fits[1].loadings, atol=2e-4)
    assert (fits[0].loadings[[0, 1], [0, 1]] > 0).all()
    assert fits[0].loadings[1, 0] == 0 and fits[0].loadings[0, 1] == 0


# ---------------------------------------------------------------------------------------------
# simulation: recovery and coverage


def test_recovery_and_wald_coverage_on_simulated_data():
    covered, total = 0, 0
    errors = []
    for rep in range(6):
        rng = np.random.default_rng(100 + rep)
        x, y, fam, floor, truth = simulate(rng, n_families=60, per_family=4, n_bench=4, k=1)
        fit = R.fit_random_effects(x, y, fam, n_skills=1, floor=floor)
        # truth on the fitted (standardised-feature) scale
        true_beta = truth["beta"] * fit.feature_scale[:, None]
        true_bias = truth["bias"] + (fit.feature_mean @ truth["beta"]) @ truth["lam"]
        true = np.concatenate(
            [true_beta.ravel(), [truth["lam"][0, 0]], truth["lam"][0, 1:], true_bias,
             np.log(truth["phi"])]
        )  # fmt: skip
        se = fit.se_hessian
        z = np.abs(fit.theta - true) / se
        covered += int((z <= 1.96).sum())
        total += z.size
        errors.append(np.abs(fit.theta - true).max())
    assert covered / total >= 0.93, (covered, total)
    assert max(errors) < 1.0


def test_prediction_intervals_cover_new_scores():
    rng = np.random.default_rng(11)
    x, y, fam, floor, _ = simulate(rng, n_families=80, per_family=5, n_bench=4, k=1)
    last = np.r_[np.diff(fam) != 0, True]  # the last model of each family is held out
    fit = R.fit_random_effects(x[~last], y[~last], fam[~last], n_skills=1, floor=floor)
    low, high = R.predict_interval_random_effects(
        fit, x[last], fam[last], level=0.9, n_draws=400, random_state=0
    )
    cover = ((y[last] >= low) & (y[last] <= high)).mean()
    assert 0.82 <= cover <= 0.97
    mean = R.predict_random_effects(fit, x[last], fam[last])
    assert ((mean >= low) & (mean <= high)).mean() > 0.95


def test_new_family_posterior_from_its_first_rows():
    rng = np.random.default_rng(12)
    x, y, fam, floor, _ = simulate(rng, n_families=50, per_family=4, n_bench=4, k=1)
    new = fam == 0
    fit = R.fit_random_effects(x[~new], y[~new], fam[~new], n_skills=1, floor=floor)
    with pytest.raises(InvalidArgumentError, match="add_families_random_effects"):
        R.predict_random_effects(fit, x[new], fam[new])
    first = np.flatnonzero(new)[:2]
    rest = np.flatnonzero(new)[2:]
    fit2 = R.add_families_random_effects(fit, x[first], y[first], fam[first])
    pred = R.predict_random_effects(fit2, x[rest], fam[rest])
    prior = R.predict_random_effects(fit, x[rest], fam[rest], unseen="prior")
    assert np.abs(pred - y[rest]).mean() <= np.abs(prior - y[rest]).mean() + 0.01
    assert fit.families.size + 1 == fit2.families.size


def test_same_bits_at_one_and_two_threads():
    prob, layout, free = small_problem(2, seed=6, n_families=5)
    rule = R.gauss_hermite_rule(4, 2)
    before = calipers.get_num_threads()
    try:
        out = []
        for t in (1, 2, 4):
            calipers.set_num_threads(t)
            place = place_at_modes(prob, layout, free)
            out.append(prob.loglik(free, rule, place, scores=True))
    finally:
        calipers.set_num_threads(before)
    for o in out[1:]:
        assert o[0] == out[0][0]
        np.testing.assert_array_equal(o[2], out[0][2])
        np.testing.assert_array_equal(o[3], out[0][3])


def test_fit_is_the_same_bits_at_one_and_two_threads():
    # The whole fit (coarse starts, refinement, standard errors) is deterministic given the
    # core's thread-independent likelihood.
    rng = np.random.default_rng(21)
    x, y, fam, floor, _ = simulate(rng, n_families=30, per_family=3, n_bench=4, k=2)
    before = calipers.get_num_threads()
    fits = []
    try:
        for t in (1, 2):
            calipers.set_num_threads(t)
            fits.append(
                R.fit_random_effects(
                    x, y, fam, n_skills=2, floor=floor, n_restarts=2, random_state=3
                )
            )
    finally:
        calipers.set_num_threads(before)
    assert fits[0].loglik == fits[1].loglik
    np.testing.assert_array_equal(fits[0].theta, fits[1].theta)
    np.testing.assert_array_equal(fits[0].cov_hessian, fits[1].cov_hessian)


def test_quasi_newton_reaches_a_stationary_point_of_the_full_grid():
    # After the coarse (2^K) stage and the refinement, the fixed-node objective at the returned
    # placement is at a maximum (Newton decrement ~0 under the differenced Hessian) and
    # L-BFGS-B started there climbs no higher.
    from scipy import optimize

    rng = np.random.default_rng(8)
    x, y, fam, floor, _ = simulate(rng, n_families=40, per_family=3, n_bench=5, k=2)
    fit = R.fit_random_effects(x, y, fam, n_skills=2, floor=floor, n_nodes=4, penalty=0.0)
    labels, codes = np.unique(fam, return_inverse=True)
    layout = R._Layout(3, 2, 5, (0, 1))
    x_std = (x - fit.feature_mean) / fit.feature_scale
    prob = R._Problem(x_std, y, codes, labels.size, floor, layout)
    rule = R.gauss_hermite_rule(4, 2)
    place = R._place(prob, fit.theta)
    ll, _, grad, _ = prob.loglik(fit.theta, rule, place)
    assert ll == pytest.approx(fit.loglik, abs=1e-9)
    hess = R._neg_hessian(lambda v: prob.loglik(v, rule, place)[2], fit.theta, grad, central=True)
    assert np.linalg.eigvalsh(hess).min() > 0  # a maximum, not a saddle
    assert 0.5 * grad @ np.linalg.solve(hess, grad) < 1e-5  # the Newton decrement

    def neg(v):
        val, _, g, _ = prob.loglik(v, rule, place)
        return -val, -g

    res = optimize.minimize(neg, fit.theta, jac=True, method="L-BFGS-B",
                            options={"maxiter": 500, "ftol": 1e-15, "gtol": 1e-10})  # fmt: skip
    assert -res.fun <= ll + 1e-6


def test_bad_input_names_the_argument():
    rng = np.random.default_rng(0)
    x, y, fam, floor, _ = simulate(rng, n_families=5, k=1)
    with pytest.raises(InvalidArgumentError, match="anchors"):
        R.fit_random_effects(x, y, fam, n_skills=2, anchors=[1, 1])
    with pytest.raises(InvalidArgumentError, match="Y"):
        R.fit_random_effects(x, y * 100, fam, n_skills=1)
    with pytest.raises(ShapeError, match="families"):
        R.fit_random_effects(x, y, fam[:-1], n_skills=1)
    with pytest.raises(InvalidArgumentError, match="n_nodes"):
        R.fit_random_effects(x, y, fam, n_skills=3, n_nodes=100)
    with pytest.raises(InvalidArgumentError, match="n_skills"):
        R.fit_random_effects(x, y, fam, n_skills=9)
    with pytest.raises(InvalidArgumentError, match="integration"):
        R.fit_random_effects(x, y, fam, n_skills=1, integration="mcmc")


# ---------------------------------------------------------------------------------------------
# real data: Open LLM Leaderboard v1 + v2, outer-merged


def load_merged():
    pd = pytest.importorskip("pandas")
    if not (DATA / "df_full_v1.csv").exists():
        pytest.skip(f"shared data absent: {DATA}")
    keys = ["model", "family", "size", "tokens", "flops"]
    a = pd.read_csv(DATA / "df_full_v1.csv").drop(columns="Unnamed: 0")
    b = pd.read_csv(DATA / "df_full_v2.csv").drop(columns="Unnamed: 0")
    df = a.merge(b, on=keys, how="outer")
    logs = np.log(df[["size", "tokens"]].to_numpy())
    x = np.column_stack([logs, logs[:, 0] * logs[:, 1]])
    return df, x, df[BENCHMARKS].to_numpy(), df["family"].to_numpy()


def test_real_data_k2_ci_sized():
    df, x, y, fam = load_merged()
    assert y.shape == (286, 12) and np.isnan(y).sum() == 1128
    floor = [FLOORS[b] for b in BENCHMARKS]
    fit1 = R.fit_random_effects(x, y, fam, n_skills=1, floor=floor, n_nodes=5)
    fit2 = R.fit_random_effects(x, y, fam, n_skills=2, floor=floor, n_nodes=5)
    # Authors' AIC (Monte Carlo, read from the vector data of their aic.pdf): -5,378.7 (K = 1),
    # -5,836.7 (K = 2).
    assert fit1.aic == pytest.approx(-5379, abs=40)
    assert fit2.aic < fit1.aic - 300
    assert (np.diag(fit2.loadings[:, list(fit2.anchors)]) > 0).all()
    assert np.isfinite(fit2.se_hessian[: 3 * 2]).all()


def test_estimator_random_effects_on_real_data_k2():
    """SkillScalingLaw(family_effect="random") drives fit_random_effects (K = 2, 5² nodes)."""
    from sklearn.base import clone

    from calipers.scaling import SkillScalingLaw

    df, x, y, fam = load_merged()
    # the estimator's feature order: log tokens, log size, their product
    X = x[:, [1, 0, 2]]
    floors = dict(FLOORS)
    law = SkillScalingLaw(
        2, family_effect="random", floor=floors, anchors=["math", "ifeval"], n_nodes=5,
        n_starts=1, random_state=0,
    )  # fmt: skip
    assert law.fit(X, fam, y, benchmarks=BENCHMARKS) is law
    ref = R.fit_random_effects(
        X, y, fam, n_skills=2, floor=[FLOORS[b] for b in BENCHMARKS], n_nodes=5,
        random_state=0,
    )  # fmt: skip
    assert law.aic_ == ref.aic and law.loglik_ == ref.loglik == -law.loss_
    np.testing.assert_array_equal(law.coef_, ref.slopes_raw)
    for kind in ("hessian", "opg", "sandwich"):
        np.testing.assert_array_equal(law.coef_se_[kind], ref.slope_se(kind, raw=True))
        assert (law.coef_se_[kind] > 0).all()
    # predictions: the family's posterior mode, equal to the function's and to the skills view
    pred = law.predict(X, fam)
    np.testing.assert_allclose(pred, R.predict_random_effects(ref, X, fam), rtol=1e-12)
    eta = law.skills(X, fam) @ law.loadings_.T + law.bias_
    floor = np.array([FLOORS[b] for b in BENCHMARKS])
    np.testing.assert_allclose(floor + (1 - floor) / (1 + np.exp(-eta)), pred, rtol=1e-10)
    np.testing.assert_allclose(law.skills(X, fam), law.skills_, rtol=1e-12)
    low, high = law.predict_interval(X[:40], fam[:40], n_draws=300, random_state=0)
    assert ((pred[:40] >= low) & (pred[:40] <= high)).mean() > 0.95
    obs = ~np.isnan(y[:40])
    inside = (y[:40] >= low) & (y[:40] <= high)
    assert inside[obs].mean() > 0.8
    # a new family from its first model: the posterior mode given that row only
    new = df["family"].to_numpy() == "qwen2"
    first = np.flatnonzero(new)[:1]
    law2 = SkillScalingLaw(**law.get_params()).fit(X[~new], fam[~new], y[~new],
                                                   benchmarks=BENCHMARKS)  # fmt: skip
    with pytest.raises(InvalidArgumentError, match="partial_fit_family"):
        law2.predict(X[new], fam[new])
    law2.partial_fit_family(X[first], y[first], "qwen2")
    assert "qwen2" in law2.families_
    np.testing.assert_allclose(law2.skills_, law2.skills(X[~new], fam[~new]), rtol=1e-12)
    err_new = np.nanmean(np.abs(law2.predict(X[new], fam[new]) - y[new]))
    assert err_new < 0.1
    text = str(law.summary())
    assert "AIC" in text and "(0." in text
    assert law.compute_optimal(1e3).size.shape == (2,)
    with pytest.raises(InvalidArgumentError, match="anchor"):
        law.rotate()
    assert repr(clone(law)) == repr(law)


# The 11 held-out models of the authors' predictive analysis and, per group, every row removed
# from training (the held-out models and their fine-tunes), as listed in their protocol.
HELD_OUT = [
    "meta-llama-3-70b", "meta-llama-3-70b-instruct", "qwen2-72b", "qwen2-72b-instruct",
    "yi-1.5-34b", "yi-1.5-34b-chat", "olmo-7b", "smollm-1.7b", "smollm-1.7b-instruct",
    "gemma-2-9b", "gemma-2-9b-it",
]  # fmt: skip
REMOVED = HELD_OUT + [
    "calme-2.2-llama3-70b", "calme-2.3-llama3-70b", "calme-2.4-llama3-70b",
    "dolphin-2.9.1-llama-3-70b", "higgs-llama-3-70b", "llama-3-70b-instruct-v0.1",
    "llama-3-sauerkrautlm-70b-instruct", "llama3-openbiollm-70b", "calme-2.1-qwen2-72b",
    "calme-2.2-qwen2-72b", "calme-2.3-qwen2-72b", "dolphin-2.9.2-qwen2-72b", "magnum-72b-v1",
    "magnum-v1-72b", "magnum-v2-72b", "orca_mini_v7_72b", "blossom-v5.1-34b",
    "dolphin-2.9.1-yi-1.5-34b", "smollm-1.7b-instruct-ifeval", "gemma-2-9b-it-dpo",
    "gemma-2-9b-it-simpo", "gemma-2-9b-it-wpo-hb", "gemma-2-9b-moth",
    "gemma2-9b-it-psy10k-mental_health", "gemma2-9b-it-simpo-infinity-preference",
    "gemma2-9b-it-train6", "lambda-gemma-2-9b-dpo", "n3n_gemma-2-9b-it_20241029_1532",
    "n3n_gemma-2-9b-it_20241110_2026", "magnum-v3-9b-customgemma2",
]  # fmt: skip

# Authors' K = 4 slopes (rows log s, log t, log s·log t; columns skills anchored at MATH,
# IFEval, HellaSwag, BBH) with Hessian standard errors, per unit of the raw log features (their
# notebook prints beta / std of the standardised features).
REF_SLOPES = np.array(
    [[0.432, 0.190, 0.840, 0.656], [0.774, 0.324, 0.384, 0.445], [0.026, 0.154, -0.039, 0.010]]
)
REF_SE = np.array(
    [[0.051, 0.055, 0.064, 0.107], [0.086, 0.088, 0.076, 0.154], [0.024, 0.034, 0.015, 0.050]]
)


# The authors' K = 4 loadings (their plots/loadings_0.pdf, large entries) and skill correlations.
REF_CORR = {(0, 1): 0.28, (0, 2): 0.38, (0, 3): 0.63, (1, 2): 0.57, (1, 3): 0.10, (2, 3): 0.52}

K4_OPT_IN = pytest.mark.skipif(
    not os.environ.get("CALIPERS_SCALING_K4"),
    reason="the K = 1..4 real-data fits and the held-out K = 4 fit take about 1 min of CPU "
    "(2-4 min wall on the shared 2-core machine); set CALIPERS_SCALING_K4=1 to run them",
)


@functools.lru_cache(maxsize=1)
def authors_fits():
    df, x, y, fam = load_merged()
    floor = [FLOORS[b] for b in BENCHMARKS]
    fits = {
        k: R.fit_random_effects(x, y, fam, n_skills=k, floor=floor, n_restarts=4, random_state=0)
        for k in (1, 2, 3, 4)
    }
    return df, x, y, fam, fits


@pytest.mark.slow
@K4_OPT_IN
def test_real_data_k4_against_the_authors():
    df, x, y, fam, fits = authors_fits()
    fit = fits[4]
    assert fit.converged
    assert (np.diag(fit.loadings[:, list(fit.anchors)]) > 0).all()
    # AIC steps from K = 1 to 4, the authors' (from their figure's data): -458, -155, -99.
    gaps = np.diff([fits[k].aic for k in (1, 2, 3, 4)])
    np.testing.assert_allclose(gaps, [-458, -155, -99], atol=40)
    # The authors' structure: GPQA and MuSR load most on the BBH skill, Winogrande and ARC on
    # the HellaSwag skill, GSM8K on the MATH skill, TruthfulQA on the IFEval skill.
    col = {b: i for i, b in enumerate(BENCHMARKS)}
    lam = fit.loadings
    for bench, skill in [("gpqa", 3), ("musr", 3), ("winogrande", 2), ("arc", 2),
                         ("gsm8k", 0), ("truthfulqa", 1)]:  # fmt: skip
        assert np.argmax(lam[:, col[bench]]) == skill, bench
    for (a, b), r in REF_CORR.items():
        assert fit.family_cov[a, b] == pytest.approx(r, abs=0.2), (a, b)
    # Held-out split: 11 large models, their fine-tunes removed (authors' MAE 7.1 pp).
    floor = [FLOORS[b] for b in BENCHMARKS]
    train = ~df["model"].isin(REMOVED).to_numpy()
    test = df["model"].isin(HELD_OUT).to_numpy()
    assert train.sum() == 245 and test.sum() == 11
    held = R.fit_random_effects(
        x[train], y[train], fam[train], n_skills=4, floor=floor, n_restarts=4, random_state=0
    )
    pred = R.predict_random_effects(held, x[test], fam[test])
    yt = np.clip(y[test], 1e-3, 1 - 1e-3)
    assert 100 * np.nanmean(np.abs(pred - yt)) <= 8.0


@pytest.mark.slow
@K4_OPT_IN
@pytest.mark.xfail(
    reason="deliberate difference (exact integral): the MATH skill's log-tokens slope (0.34, "
    "SE 0.10) and its interaction slope (0.11, SE 0.03) are more than 2 SE from the authors' "
    "0.774 and 0.026, the other ten agree. The authors' table is not a maximum of this "
    "likelihood computed exactly: with the slopes held at it the profile log-likelihood is "
    "11.9 lower (LR 23.8 on 12 slopes, p = 0.02), and a fit started at their estimate climbs "
    "to this one (BENCH_SCALING_CASES=authors python bench/bench_scaling.py)",
    strict=True,
)
def test_real_data_k4_slopes_within_two_se_of_the_authors():
    fit = authors_fits()[4][4]
    z = np.abs(fit.slopes_raw - REF_SLOPES) / (2 * fit.slope_se(raw=True))
    assert (z <= 1).all(), np.round(fit.slopes_raw, 3)


# ---------------------------------------------------------------------------------------------
# hostile input


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"tol": "abc"}, "tol"),
        ({"tol": None}, "tol"),
        ({"tol": -1e-6}, "tol"),
        ({"max_iter": 2.5}, "max_iter"),
        ({"max_iter": float("nan")}, "max_iter"),
        ({"max_iter": None}, "max_iter"),
        ({"penalty": float("nan")}, "penalty"),
        ({"penalty": float("inf")}, "penalty"),
        ({"penalty": 1e300}, "penalty"),
        ({"penalty": "1"}, "penalty"),
        ({"anchors": [np.nan]}, "anchors"),
        ({"anchors": [np.inf]}, "anchors"),
        ({"anchors": ["a"]}, "anchors"),
        ({"anchors": [0.5]}, "anchors"),
        ({"anchors": [[0, 1], [2]]}, "anchors"),
        ({"families": [[0, 1], [2]]}, "families"),
    ],
)
def test_options_are_checked_by_name(kwargs, match):
    rng = np.random.default_rng(0)
    x, y, fam, _, _ = simulate(rng, n_families=5, k=1)
    args = {"families": fam, **kwargs}
    with pytest.raises(InvalidArgumentError, match=match):
        R.fit_random_effects(x, y, n_skills=1, **args)


@pytest.mark.parametrize("clip", [0.0, 0.5, float("nan"), "x"])
def test_add_families_checks_clip(clip):
    rng = np.random.default_rng(1)
    x, y, fam, _, _ = simulate(rng, n_families=5, k=1)
    fit = R.fit_random_effects(x, y, fam, n_skills=1, n_nodes=3)
    with pytest.raises(InvalidArgumentError, match="clip"):
        R.add_families_random_effects(fit, x[:2], y[:2], [99, 99], clip=clip)


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_standardisation_survives_extreme_feature_magnitudes(scale):
    """The features are standardised internally, so a change of units must leave the fit
    unchanged; the standard deviation of features near 1e300 overflowed (slopes were lost)."""
    rng = np.random.default_rng(2)
    x, y, fam, _, _ = simulate(rng, n_families=8, k=1)
    base = R.fit_random_effects(x, y, fam, n_skills=1, n_nodes=3)
    big = R.fit_random_effects(x * scale, y, fam, n_skills=1, n_nodes=3)
    np.testing.assert_allclose(big.feature_scale / scale, base.feature_scale, rtol=1e-12)
    np.testing.assert_allclose(big.feature_mean / scale, base.feature_mean, rtol=1e-12)
    assert big.loglik == pytest.approx(base.loglik, rel=1e-6)
    np.testing.assert_allclose(big.slopes, base.slopes, rtol=1e-3, atol=1e-6)
