"""calipers.judge.Bridge: against statsmodels' OrderedModel, the spec's HANNA and PandaLM numbers,
a simulation of the logit trick and of interval coverage."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from calipers._multitest import holm as _holm
from calipers.exceptions import InvalidArgumentError, NotFittedError, NumericalError, ShapeError
from calipers.judge import Bridge, judge_latent, judge_latent_from_samples
from conftest import SHARED_DATA

DATA = SHARED_DATA


def simulate(n_items, n_raters=3, k=4, a=0.9, delta=(0.5, -0.3), seed=0):
    """Long-format ratings from the cumulative-logit model with item-level latent noise."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n_items)
    X = rng.normal(size=(n_items, len(delta)))
    tau = np.linspace(-1.5, 1.5, k - 1)
    eta = a * z + X @ np.asarray(delta)
    items = np.repeat(np.arange(n_items), n_raters)
    latent = eta[items] + rng.logistic(size=items.size)
    y = (latent[:, None] > tau[None, :]).sum(axis=1) + 1
    return y, z[items], X[items], items


# ---------------------------------------------------------------------------------------------
# Against statsmodels


def statsmodels_fit(y, z, X, items):
    om = pytest.importorskip("statsmodels.miscmodels.ordinal_model")
    exog = np.column_stack([z, X])
    model = om.OrderedModel(y, exog, distr="logit")
    res = model.fit(
        method="bfgs",
        maxiter=10_000,
        gtol=1e-10,
        disp=False,
        cov_type="cluster",
        cov_kwds={"groups": items},
    )
    return model, res


@pytest.mark.filterwarnings("ignore:Maximum Likelihood optimization failed")
def test_equals_statsmodels_ordered_model():
    y, z, X, items = simulate(300, seed=1)
    model, res = statsmodels_fit(y, z, X, items)
    br = Bridge().fit(y, z, X, items=items)
    p = 1 + X.shape[1]
    np.testing.assert_allclose(br.a_, res.params[0], atol=1e-4)
    np.testing.assert_allclose(br.delta_, res.params[1:p], atol=1e-4)
    cuts = res.params[p:]
    tau_sm = np.cumsum(np.concatenate([[cuts[0]], np.exp(cuts[1:])]))
    np.testing.assert_allclose(br.thresholds_, tau_sm, atol=1e-4)
    assert br.loglik_ == pytest.approx(res.llf, abs=1e-6)
    idx = np.arange(br.thresholds_.size, br.thresholds_.size + p)
    np.testing.assert_allclose(
        br.covariance_cluster_[np.ix_(idx, idx)], res.cov_params()[:p, :p], atol=1e-4
    )
    # model-based covariance: the inverse observed information at the optimum
    res_model = model.fit(method="bfgs", maxiter=10_000, gtol=1e-10, disp=False)
    np.testing.assert_allclose(
        br.covariance_model_[np.ix_(idx, idx)], res_model.cov_params()[:p, :p], atol=1e-4
    )


def test_gradient_and_hessian_match_finite_differences():
    from calipers.judge import _derivatives, _design

    y, z, X, items = simulate(80, seed=4)
    for T, theta in (
        (np.eye(3), np.array([-1.2, 0.1, 1.4, 0.7, 0.3, -0.2])),
        (np.array([[-1.0], [0.0], [1.0]]), np.array([0.9, 0.7, 0.3, -0.2])),
    ):
        design = _design(y - 1, np.column_stack([z, X]), T, items)
        ll, grad, hess = _derivatives(design, theta)
        h = 1e-6
        for j in range(theta.size):
            e = np.zeros_like(theta)
            e[j] = h
            up, g_up, _ = _derivatives(design, theta + e)
            dn, g_dn, _ = _derivatives(design, theta - e)
            assert grad[j] == pytest.approx((up - dn) / (2 * h), rel=1e-5, abs=1e-6)
            np.testing.assert_allclose(hess[:, j], (g_up - g_dn) / (2 * h), rtol=1e-4, atol=1e-5)


def test_loglik_equals_the_formula_written_plainly_and_is_stable_in_the_tails():
    from calipers.judge import _derivatives, _design

    y, z, X, items = simulate(200, k=5, seed=5)
    w = np.column_stack([z, X])
    theta = np.array([-1.3, -0.4, 0.5, 1.6, 0.8, 0.4, -0.2])
    tau, b = theta[:4], theta[4:]
    cdf = np.hstack([np.zeros((200 * 3, 1)), special.expit(tau[None, :] - (w @ b)[:, None])])
    cdf = np.hstack([cdf, np.ones((cdf.shape[0], 1))])
    plain = np.log(cdf[np.arange(y.size), y] - cdf[np.arange(y.size), y - 1]).sum()
    ll, _, _ = _derivatives(_design(y - 1, w, np.eye(4), items), theta)
    assert ll == pytest.approx(plain, rel=1e-12)
    # far in the tails (η = ±60) a middle cell keeps its tiny probability: the plain
    # difference σ(hi) − σ(lo) is exact when both are tiny, and its mirror σ(−lo) − σ(−hi)
    # when both are near 1
    for eta in (60.0, -60.0):
        lab = np.array([2, 0, 4])
        design = _design(lab, np.full((3, 1), eta), np.eye(4))
        ll, _, _ = _derivatives(design, np.array([-1.0, -0.5, 0.5, 1.0, 1.0]))
        lo, hi = -0.5 - eta, 0.5 - eta
        if lo > 0:
            mid = np.log(special.expit(-lo) - special.expit(-hi))
        else:
            mid = np.log(special.expit(hi) - special.expit(lo))
        edge = np.log(special.expit(-1.0 - eta)) + np.log(special.expit(-(1.0 - eta)))
        assert ll == pytest.approx(mid + edge, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# HANNA (spec §3.6, §3.9.1)


def load_hanna(criterion="CH", judge="ChatGPT", variant=1):
    path = DATA / "hanna" / "hanna_human_vs_llm_long.csv"
    if not path.is_file():
        pytest.skip(f"HANNA data not found at {path} (../shared/data is absent)")
    import csv

    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    score = np.array([float(r[f"{judge} {criterion} {variant}"]) for r in rows])
    keep = (score >= 1) & (score <= 5)
    rows = [r for r, k in zip(rows, keep, strict=True) if k]
    score = score[keep]
    cov = np.array(
        [
            [
                np.log(float(r["text_length"])),
                float(r["system"] == "Human"),
                float(r["repetition_3"]),
            ]
            for r in rows
        ]
    )
    human = np.array([[float(r[f"Human {j} {criterion}"]) for j in (1, 2, 3)] for r in rows])
    items = np.repeat(np.arange(len(rows)), 3)
    return human.reshape(-1), score[items], cov[items], items


def test_hanna_chatgpt_coherence_reference_numbers():
    y, z, X, items = load_hanna()
    br = Bridge().fit(y, z, X, items=items, feature_names=["log_length", "human", "rep3"])
    assert br.a_ == pytest.approx(0.371, abs=1e-3)
    np.testing.assert_allclose(br.delta_, [0.237, 0.819, -2.394], atol=1e-3)
    assert br.loglik_null_ == pytest.approx(-4865.86, abs=1e-2)
    assert br.loglik_ == pytest.approx(-4805.48, abs=1e-2)
    test = br.test_discrepancy(method="lr")
    assert test.statistic == pytest.approx(120.77, abs=0.05)
    assert test.pvalue < 1e-25
    np.testing.assert_allclose(test.z, [3.86, 5.29, -6.47], atol=0.05)
    assert test.names == ("log_length", "human", "rep3")
    assert np.all(test.pvalues_adjusted >= test.pvalues)
    # structural parameters: gamma = -delta / a
    np.testing.assert_allclose(br.gamma_, -br.delta_ / br.a_)


# ---------------------------------------------------------------------------------------------
# PandaLM pairwise (spec §3.6, §3.9.3)


def n_words(text) -> int:
    return len(re.findall(r"\S+", str(text)))  # a few responses are JSON booleans


def load_pandalm(judge="gpt"):
    root = DATA / "pandalm"
    if not root.is_dir():
        pytest.skip(f"PandaLM data not found at {root} (../shared/data is absent)")
    test = json.loads((root / "testset-v1.json").read_text())
    gpt = json.loads((root / "gpt-3.5-turbo-testset-v1.json").read_text())
    panda = json.loads((root / "pandalm-7b-testset-v1.json").read_text())
    # ordered labels: B better (-1) < tie (0) < A better (+1); annotators code 1 = A, 2 = B.
    code = {0: 0, 1: 1, 2: -1}
    verdict = {"Tie": 0.0, "0": 0.0, "1": 1.0, "2": -1.0}
    results = (
        [g["gpt_result"] for g in gpt]
        if judge == "gpt"
        else [str(p["pandalm_result"]) for p in panda]
    )
    y, z, x, items = [], [], [], []
    for i, (t, r) in enumerate(zip(test, results, strict=True)):
        if r == "garbage":
            continue
        dlen = np.log1p(n_words(t["response1"])) - np.log1p(n_words(t["response2"]))
        for j in (1, 2, 3):
            y.append(code[int(t[f"annotator{j}"])])
            z.append(verdict[r])
            x.append(dlen)
            items.append(i)
    return np.array(y), np.array(z), np.array(x)[:, None], np.array(items)


PANDALM_TABLE = {  # judge: (pairs, a, b, c, tau, LR of b = c = 0, clustered z of b, of c)
    "gpt": (974, 1.183, 0.576, -0.110, 0.302, 244.3, 8.85, -1.61),
    "pandalm": (999, 0.985, 0.543, -0.089, 0.301, 239.3, 8.90, -1.38),
}


@pytest.mark.parametrize("judge", list(PANDALM_TABLE))
def test_pandalm_pairwise_reference_numbers(judge):
    n_pairs, a, b, c, tau, lr, zb, zc = PANDALM_TABLE[judge]
    y, z, X, items = load_pandalm(judge)
    assert np.unique(items).size == n_pairs
    br = Bridge(kind="pairwise", thresholds="symmetric").fit(y, z, X, items=items)
    assert br.a_ == pytest.approx(a, abs=0.005)
    assert br.delta_[0] == pytest.approx(b, abs=0.005)
    assert br.position_bias_ == pytest.approx(c, abs=0.005)
    assert br.thresholds_[1] == pytest.approx(tau, abs=0.005)
    assert br.thresholds_[0] == pytest.approx(-br.thresholds_[1])
    assert br.delta_[0] / br.delta_se_[0] == pytest.approx(zb, abs=0.2)
    assert br.test_position_bias().statistic == pytest.approx(zc, abs=0.1)
    # the spec's LR drops the length effect and the position constant together
    bare = Bridge(kind="absolute", thresholds="symmetric").fit(y, z, items=items)
    assert 2 * (br.loglik_ - bare.loglik_) == pytest.approx(lr, abs=0.5)


# ---------------------------------------------------------------------------------------------
# The logit trick and coverage (spec §3.9.4, small)


def test_judge_latent_recovers_the_latent_up_to_a_constant():
    rng = np.random.default_rng(2)
    zl = rng.normal(size=500)
    tau_l = np.array([-2.0, -0.5, 0.7, 2.2])
    cdf = special.expit(tau_l[None, :] - zl[:, None])
    probs = np.diff(np.hstack([np.zeros((500, 1)), cdf, np.ones((500, 1))]), axis=1)
    np.testing.assert_allclose(judge_latent(probs), zl - tau_l.mean(), atol=1e-9)
    counts = rng.multinomial(50, probs[0], size=3)
    assert judge_latent_from_samples(counts).shape == (3,)


def test_interval_coverage_in_simulation():
    beta, gamma = 0.8, np.array([0.5, -0.3])
    a, delta = 1 / beta, -gamma / beta
    covered = []
    for seed in range(60):
        y, z, X, items = simulate(250, k=5, a=a, delta=delta, seed=100 + seed)
        br = Bridge().fit(y, z, X, items=items)
        half = 1.96 * br.gamma_se_
        covered.append(np.abs(br.gamma_ - gamma) <= half)
    assert np.mean(covered) >= 0.88


def test_predict_proba_score_and_bootstrap():
    y, z, X, items = simulate(200, seed=7)
    br = Bridge().fit(y, z, X, items=items)
    proba = br.predict_proba(z[:5], X[:5])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(br.predict(z, X)) <= set(br.classes_)
    s = br.score(y, z, X, items=items)
    assert 0 <= s["accuracy"] <= 1 and s["log_loss"] > 0 and s["kl"] >= 0 and 0 <= s["ece"] <= 1
    ci = br.bootstrap(y, z, X, items=items, n_resamples=40, random_state=0)
    again = br.bootstrap(y, z, X, items=items, n_resamples=40, random_state=0)
    assert ci == again
    seen = []
    br.bootstrap(
        y,
        z,
        X,
        items=items,
        n_resamples=5,
        random_state=0,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert seen[-1] == (5, 5)
    assert ci["a"].low < br.a_ < ci["a"].high
    scale = br.test_scale(beta0=1.0)
    assert 0 <= scale.pvalue <= 1


def test_holm_matches_the_step_down_rule_written_plainly():
    p = np.array([0.01, 0.04, 0.03, 0.2])
    # sorted 0.01, 0.03, 0.04, 0.2 -> 4*0.01, max(.04, 3*.03), max(.09, 2*.04), max(.09, .2)
    np.testing.assert_allclose(_holm(p), [0.04, 0.09, 0.09, 0.2])


# ---------------------------------------------------------------------------------------------
# Bad input


def test_bad_input_raises_clear_errors():
    y, z, X, items = simulate(50, seed=3)
    with pytest.raises(NotFittedError):
        Bridge().predict_proba(z)
    with pytest.raises(InvalidArgumentError, match="kind"):
        Bridge(kind="nominal").fit(y, z)
    with pytest.raises(ShapeError, match="z: has length"):
        Bridge().fit(y, z[:-1])
    with pytest.raises(ShapeError, match="X: has"):
        Bridge().fit(y, z, X[:-1])
    with pytest.raises(InvalidArgumentError, match="y: has a single"):
        Bridge().fit(np.ones_like(y), z)
    with pytest.raises(InvalidArgumentError, match="symmetric"):
        Bridge(thresholds="symmetric").fit(y, z)
    with pytest.raises(Exception, match="z"):
        Bridge().fit(y, np.where(np.arange(z.size) == 3, np.nan, z))
    br = Bridge().fit(y, z, X, items=items)
    with pytest.raises(ShapeError, match="X: has 1 columns"):
        br.predict_proba(z, X[:, :1])
    with pytest.raises(InvalidArgumentError, match="y: has label"):
        br.score(np.full_like(y, 9), z, X)
    with pytest.raises(InvalidArgumentError, match="probs"):
        judge_latent([[0.5, 0.6]])
    with pytest.raises(InvalidArgumentError, match="test_position_bias"):
        br.test_position_bias()
    # constant and collinear covariates: named, before any fit
    with pytest.raises(InvalidArgumentError, match="X: covariate 'c' is constant"):
        Bridge().fit(y, z, np.column_stack([X, np.full(y.size, 2.0)]), feature_names="abc")
    collinear = np.column_stack([X, X[:, 0] - 2 * X[:, 1]])
    with pytest.raises(InvalidArgumentError, match="'a', .*'b', .*'c' are collinear"):
        Bridge().fit(y, z, collinear, feature_names="abc")
    with pytest.raises(InvalidArgumentError, match="with the judge latent|z \\(the judge"):
        Bridge().fit(y, z, np.column_stack([X, 3 * z]))
    with pytest.raises(InvalidArgumentError, match="thresholds: the position-bias constant"):
        Bridge(kind="pairwise").fit(y, z, X)


# ---------------------------------------------------------------------------------------------
# The command line


def test_cli_judge_fit_matches_the_library(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    from calipers.cli import main

    y, z, X, items = simulate(120, seed=11)
    pd.DataFrame({"item": items, "label": y}).to_csv(tmp_path / "humans.csv", index=False)
    first = np.unique(items, return_index=True)[1]
    judge = pd.DataFrame(
        {"item": items[first], "score": z[first], "len": X[first, 0], "rep": X[first, 1]}
    )
    judge.to_csv(tmp_path / "judge.csv", index=False)
    out = tmp_path / "fit.json"
    argv = ["judge", "fit", str(tmp_path / "humans.csv"), str(tmp_path / "judge.csv")]
    assert main([*argv, "--covariates", "len,rep", "--json", str(out)]) == 0
    assert "H0 gamma = 0" in capsys.readouterr().out
    result = json.loads(out.read_text())
    br = Bridge().fit(y, z, X, items=items)
    assert result["a"] == pytest.approx(br.a_, abs=1e-10)
    assert [c["name"] for c in result["covariates"]] == ["len", "rep"]
    assert main([*argv, "--covariates", "nope"]) == 1
    assert "lacks column" in capsys.readouterr().err
    pytest.importorskip("matplotlib")
    html = tmp_path / "fit.html"
    assert main([*argv, "--covariates", "len,rep", "--html", str(html)]) == 0
    text = html.read_text()
    assert text.startswith("<!DOCTYPE html>") and "data:image/png;base64," in text
    biggest = ["len", "rep"][int(np.argmax(np.abs(result["discrepancy_test"]["z"])))]
    assert f"coloured by {biggest}" in text


def test_hanna_held_out_protocol_over_30_cells():
    """Spec §3.9.2: 200 labelled stories, 10 splits per (criterion, judge) cell with
    default_rng(0); mean over the 30 cells: Bridge > Bridge without X > raw judge."""
    judges = ("Beluga-13B", "OrcaPlatypus", "Mistral-7B", "Llama-13B", "ChatGPT")
    results = []
    for criterion in ("RE", "CH", "EM", "SU", "EG", "CX"):
        for judge in judges:
            y, z, X, items = load_hanna(criterion, judge)
            n = items.max() + 1
            rng = np.random.default_rng(0)
            for _ in range(10):
                perm = rng.permutation(n)
                train = np.isin(items, perm[:200])
                test = ~train
                full = Bridge().fit(y[train], z[train], X[train], items=items[train])
                bare = Bridge().fit(y[train], z[train], items=items[train])
                raw = np.mean(np.clip(np.round(z[test]), 1, 5) == y[test])
                s_full = full.score(y[test], z[test], X[test], items=items[test])
                s_bare = bare.score(y[test], z[test], items=items[test])
                results.append((raw, s_bare["accuracy"], s_full["accuracy"], s_full["kl"]))
    raw, bare, full, kl = np.mean(results, axis=0)
    # spec: raw 0.273, without X 0.345, Bridge 0.375, KL 0.650 (measured here: 0.273, 0.345,
    # 0.374, 0.652; the spec's split order is not stated)
    assert full >= 0.37 and full > bare > raw
    assert raw == pytest.approx(0.273, abs=0.005) and bare == pytest.approx(0.345, abs=0.005)
    assert kl <= 0.66


def test_continuous_labels_are_refused_clearly():
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidArgumentError, match="y: 50 ratings for"):
        Bridge().fit(rng.random(50), rng.normal(size=50))


def logit_trick_replication(n, seed, beta=0.8, gamma=(0.5, -0.3), n_raters=3):
    """Spec §3.9.4: human latent Z, judge latent beta*Z + gamma'X, exact judge rating
    probabilities (K = 5) turned into the judge latent by the logit trick, 3 human raters."""
    gamma = np.asarray(gamma)
    tau_h, tau_l = np.linspace(-1.5, 1.5, 4), np.array([-2.0, -0.7, 0.4, 1.8])
    rng = np.random.default_rng(seed)
    z_h = rng.normal(size=n)
    X = rng.normal(size=(n, 2))
    z_l = beta * z_h + X @ gamma
    cdf = special.expit(tau_l[None, :] - z_l[:, None])
    probs = np.diff(np.hstack([np.zeros((n, 1)), cdf, np.ones((n, 1))]), axis=1)
    latent = judge_latent(probs)
    np.testing.assert_allclose(latent - z_l, -tau_l.mean(), atol=1e-9)
    items = np.repeat(np.arange(n), n_raters)
    noise = rng.logistic(size=(n_raters * n, 1))
    y = (z_h[items, None] + noise > tau_h[None, :]).sum(axis=1)
    return y, latent[items], X[items], items


def test_structural_pipeline_through_the_logit_trick_covers_gamma():
    """Spec §3.9.4 at full size: n = 2,000 items, K = 5, beta = 0.8, gamma = (0.5, -0.3),
    exact judge probabilities; the 95% (clustered, delta-method) intervals of gamma cover in
    >= 93% of 200 replications."""
    gamma = np.array([0.5, -0.3])
    covered = []
    for seed in range(200):
        y, z, X, items = logit_trick_replication(2000, 500 + seed)
        br = Bridge().fit(y, z, X, items=items)
        covered.append(np.abs(br.gamma_ - gamma) <= 1.96 * br.gamma_se_)
    covered = np.array(covered)
    assert covered.mean() >= 0.93
    assert np.all(covered.mean(axis=0) >= 0.91)  # each component on its own


def test_fit_is_bit_identical_across_blas_thread_counts():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    y, z, X, items = simulate(400, seed=21)
    fits = []
    for threads in (1, 2):
        with threadpoolctl.threadpool_limits(limits=threads, user_api="blas"):
            br = Bridge().fit(y, z, X, items=items)
            fits.append((br.theta_.copy(), br.covariance_.copy(), br.loglik_))
    np.testing.assert_array_equal(fits[0][0], fits[1][0])
    np.testing.assert_array_equal(fits[0][1], fits[1][1])
    assert fits[0][2] == fits[1][2]


def test_fit_is_bit_identical_across_core_thread_counts():
    """Several row chunks of the core's fused pass (8,192 rows each), spread over 1 and 2
    threads: the same bits, the sandwich included."""
    import calipers

    y, z, X, items = simulate(7_000, seed=22)  # 21,000 ratings: 3 chunks
    before = calipers.get_num_threads()
    fits = []
    try:
        for threads in (1, 2):
            calipers.set_num_threads(threads)
            br = Bridge().fit(y, z, X, items=items)
            fits.append((br.theta_.copy(), br.covariance_cluster_.copy(), br.loglik_))
    finally:
        calipers.set_num_threads(before)
    np.testing.assert_array_equal(fits[0][0], fits[1][0])
    np.testing.assert_array_equal(fits[0][1], fits[1][1])
    assert fits[0][2] == fits[1][2]


# ---------------------------------------------------------------------------------------------
# The bootstrap in the core: seeded, thread-count independent; sampled judge ratings


def test_bootstrap_is_bit_identical_across_thread_counts():
    import calipers

    y, z, X, items = simulate(150, seed=31)
    br = Bridge().fit(y, z, X, items=items)
    before = calipers.get_num_threads()
    try:
        runs = []
        for threads in (1, 2, 4):
            calipers.set_num_threads(threads)
            runs.append(br.bootstrap(y, z, X, items=items, n_resamples=64, random_state=5))
    finally:
        calipers.set_num_threads(before)
    assert runs[0] == runs[1] == runs[2]
    other = br.bootstrap(y, z, X, items=items, n_resamples=64, random_state=6)
    assert other != runs[0]


def test_bootstrap_intervals_match_the_clustered_standard_errors():
    """The item bootstrap's spread of the estimates is close to the clustered sandwich SE
    (both estimate the sampling variability over items)."""
    y, z, X, items = simulate(400, seed=32)
    br = Bridge().fit(y, z, X, items=items)
    ci = br.bootstrap(y, z, X, items=items, n_resamples=400, random_state=0)
    for name, est, se in (
        ("a", br.a_, br.a_se_),
        ("delta[x0]", br.delta_[0], br.delta_se_[0]),
        ("delta[x1]", br.delta_[1], br.delta_se_[1]),
    ):
        width = ci[name].high - ci[name].low
        assert width == pytest.approx(2 * 1.96 * se, rel=0.2), name
        assert ci[name].low < est < ci[name].high


def sampled_judge(n, m, seed, beta=0.8, gamma=(0.5, -0.3)):
    """The judge's latent from M sampled ratings per item (K_judge = 5), 3 human raters."""
    gamma = np.asarray(gamma)
    tau_h, tau_l = np.linspace(-1.5, 1.5, 4), np.array([-2.0, -0.7, 0.4, 1.8])
    rng = np.random.default_rng(seed)
    z_h = rng.normal(size=n)
    X = rng.normal(size=(n, 2))
    z_l = beta * z_h + X @ gamma
    cdf = special.expit(tau_l[None, :] - z_l[:, None])
    probs = np.diff(np.hstack([np.zeros((n, 1)), cdf, np.ones((n, 1))]), axis=1)
    counts = np.array([rng.multinomial(m, p) for p in probs])
    items = np.repeat(np.arange(n), 3)
    y = (z_h[items, None] + rng.logistic(size=(3 * n, 1)) > tau_h[None, :]).sum(axis=1)
    latent = judge_latent_from_samples(counts)
    return y, latent[items], X[items], items, counts[items]


def test_sampled_ratings_bootstrap_resamples_the_judgments_too():
    y, z, X, items, counts = sampled_judge(300, 20, seed=40)
    br = Bridge().fit(y, z, X, items=items)
    plain = br.bootstrap(y, z, X, items=items, n_resamples=300, random_state=1)
    both = br.bootstrap(y, z, X, items=items, n_resamples=300, random_state=1, counts=counts)
    again = br.bootstrap(y, z, X, items=items, n_resamples=300, random_state=1, counts=counts)
    assert both == again
    width = lambda ci: ci.high - ci.low  # noqa: E731
    # re-drawn judgments add the latent's sampling noise to every replicate: wider intervals
    # for gamma, and a further attenuated a (errors in variables)
    assert width(both["gamma[x0]"]) > width(plain["gamma[x0]"])
    assert width(both["gamma[x1]"]) > width(plain["gamma[x1]"])
    assert (both["a"].low + both["a"].high) < (plain["a"].low + plain["a"].high)
    with pytest.raises(InvalidArgumentError, match="z: is not judge_latent_from_samples"):
        br.bootstrap(y, z + 0.1, X, items=items, n_resamples=10, counts=counts)
    with pytest.raises(InvalidArgumentError, match="counts: row"):
        bad = counts.copy()
        bad[1, 0] += 1
        br.bootstrap(y, z, X, items=items, n_resamples=10, counts=bad)
    with pytest.raises(InvalidArgumentError, match="whole numbers"):
        br.bootstrap(y, z, X, items=items, n_resamples=10, counts=counts + 0.5)
    with pytest.raises(ShapeError, match="counts: has"):
        br.bootstrap(y, z, X, items=items, n_resamples=10, counts=counts[:-1])


@pytest.mark.slow
def test_sampled_ratings_bootstrap_covers_gamma_where_the_item_bootstrap_does_not():
    """M = 20 sampled judgments per item (the latent carries sampling error): over 40 data
    sets, percentile intervals of gamma from the item bootstrap that also re-draws the
    judgments cover the truth at least as often as the item-only bootstrap, and >= 90%
    (measured: 0.975 and 1.0 against 0.9 and 0.85)."""
    gamma = np.array([0.5, -0.3])
    cover = {"items": [], "items+judgments": []}
    for rep in range(40):
        y, z, X, items, counts = sampled_judge(300, 20, seed=1000 + rep)
        br = Bridge().fit(y, z, X, items=items)
        for name, extra in (("items", {}), ("items+judgments", {"counts": counts})):
            ci = br.bootstrap(y, z, X, items=items, n_resamples=200, random_state=rep, **extra)
            lo = np.array([ci["gamma[x0]"].low, ci["gamma[x1]"].low])
            hi = np.array([ci["gamma[x0]"].high, ci["gamma[x1]"].high])
            cover[name].append((lo <= gamma) & (gamma <= hi))
    honest = np.mean(cover["items+judgments"], axis=0)
    assert np.all(honest >= 0.9)
    assert honest.mean() >= np.mean(cover["items"])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-5, 40), min_size=1, max_size=60)
    | st.lists(st.floats(-3, 3, allow_nan=False).map(lambda v: round(v, 1)), min_size=1)
)
def test_dense_codes_equal_numpy_unique(values):
    from calipers.judge import _dense_codes

    for arr in (np.array(values), np.array(values, dtype=float)):
        distinct, index = _dense_codes(arr)
        want, inverse = np.unique(arr, return_inverse=True)
        np.testing.assert_array_equal(distinct, want)
        np.testing.assert_array_equal(index, inverse.reshape(-1))


@pytest.mark.parametrize("scale", [1e-150, 1e-100, 1e100, 1e150])
def test_fit_is_scale_equivariant_at_extreme_magnitudes(scale):
    """Coefficients scale by 1/scale; their variances by 1/scale**2, so beyond 1e±154 the
    covariance itself leaves the float range (not tested there)."""
    y, z, X, items = simulate(200, seed=41)
    base = Bridge().fit(y, z, X, items=items)
    big = Bridge().fit(y, z * scale, X * scale, items=items)
    assert big.a_ * scale == pytest.approx(base.a_, rel=1e-9)
    np.testing.assert_allclose(big.delta_ * scale, base.delta_, rtol=1e-9)
    np.testing.assert_allclose(big.thresholds_, base.thresholds_, rtol=1e-9, atol=1e-12)
    assert big.loglik_ == pytest.approx(base.loglik_, rel=1e-12)
    assert big.test_discrepancy().statistic == pytest.approx(
        base.test_discrepancy().statistic, rel=1e-8
    )
    np.testing.assert_allclose(
        big.predict_proba(z[:5] * scale, X[:5] * scale), base.predict_proba(z[:5], X[:5]), rtol=1e-9
    )
    ci = big.bootstrap(y, z * scale, X * scale, items=items, n_resamples=20, random_state=0)
    assert np.isfinite(ci["a"].low) and ci["a"].low * scale < base.a_ < ci["a"].high * scale


# ---------------------------------------------------------------------------------------------
# Hostile input


@pytest.mark.parametrize(
    "items, match",
    [
        ([[0, 1], [2]], "items.*ragged"),
        ("nan", "items.*NaN"),
        ("inf", "items.*NaN/inf"),
        ("complex", "items.*complex"),
        ("short", "items.*one label per rating"),
    ],
)
def test_item_ids_must_be_one_finite_label_per_rating(items, match):
    y, z, X, ids = simulate(60, seed=3)
    if isinstance(items, str):
        bad = ids.astype(float)
        if items in ("nan", "inf"):
            bad[4] = float(items)
        items = {"complex": ids + 1j, "short": ids[:-1]}.get(items, bad)
    with pytest.raises(InvalidArgumentError, match=match):
        Bridge().fit(y, z, X, items=items)
    fitted = Bridge().fit(y, z, X, items=ids)
    with pytest.raises(InvalidArgumentError, match=match):
        fitted.score(y, z, X, items=items)


@pytest.mark.parametrize("scale", [1e200, 1e300])
def test_covariance_that_underflows_is_refused_not_reported_as_zero(scale):
    """A judge latent near 1e300 makes the variance of its coefficient ~1e-600: it underflows
    to 0, which gave beta_se_ = 0 and gamma_se_ = inf; now the fit says to rescale."""
    y, z, X, items = simulate(200, seed=41)
    with pytest.raises(NumericalError, match="rescale z and X"):
        Bridge().fit(y, z * scale, X, items=items)


def _cli_tables(tmp_path, score_scale=1.0):
    pd = pytest.importorskip("pandas")
    y, z, X, items = simulate(60, seed=12)
    pd.DataFrame({"item": items, "label": y}).to_csv(tmp_path / "humans.csv", index=False)
    first = np.unique(items, return_index=True)[1]
    pd.DataFrame(
        {"item": items[first], "score": z[first] * score_scale, "len": X[first, 0]}
    ).to_csv(tmp_path / "judge.csv", index=False)
    return tmp_path / "humans.csv", tmp_path / "judge.csv"


@pytest.mark.parametrize(
    "table, column, value, message",
    [
        ("humans", "label", "good", "HUMAN_LABELS: column `label`: row 3 .* holds 'good'"),
        ("judge", "score", "high", "JUDGE_SCORES: column `score`: row 3 .* holds 'high'"),
        ("judge", "len", "long", "JUDGE_SCORES: column `len`: row 3 .* holds 'long'"),
    ],
)
def test_cli_judge_fit_names_a_non_numeric_entry(tmp_path, capsys, table, column, value, message):
    pd = pytest.importorskip("pandas")
    from calipers.cli import main

    paths = dict(zip(("humans", "judge"), _cli_tables(tmp_path), strict=True))
    frame = pd.read_csv(paths[table])
    frame[column] = frame[column].astype(object)
    frame.loc[3, column] = value
    frame.to_csv(paths[table], index=False)
    argv = ["judge", "fit", str(paths["humans"]), str(paths["judge"]), "--covariates", "len"]
    assert main(argv) == 1
    assert re.search(message, capsys.readouterr().err)


def test_cli_judge_fit_reports_a_latent_beyond_the_float_range(tmp_path, capsys):
    """A judge score near 1e300 ended in an internal ZeroDivisionError (a zero standard
    error); it is now the fit's own error with the fix."""
    from calipers.cli import main

    humans, judge = _cli_tables(tmp_path, score_scale=1e300)
    assert main(["judge", "fit", str(humans), str(judge)]) == 1
    assert "rescale z and X" in capsys.readouterr().err
