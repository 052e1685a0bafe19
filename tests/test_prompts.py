"""calipers.prompts: PromptEval against a direct penalised logistic regression (scipy), the
simulation and HANNA targets of issue 17, interval coverage, and bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, special

import calipers
from calipers.exceptions import (
    InvalidArgumentError,
    MemoryBudgetError,
    NonFiniteError,
    NotFittedError,
    ShapeError,
)
from calipers.prompts import (
    PromptEval,
    adaptive_evaluate,
    average_accuracy,
    balanced_design,
    prompt_quantiles,
)

HANNA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hanna"
HANNA_CSV = HANNA / "hanna_human_vs_llm_long.csv"


# ---------------------------------------------------------------------------------------------
# Helpers: the model written plainly


def simulate(seed: int, n_formats: int = 100, n_examples: int = 200):
    """The spec's simulation: 6 binary template features, γ ~ N(0, 0.6²),
    θ_f = x_fᵀγ + N(0, 0.2²) − 0.5, β_j ~ N(0, 1.5²)."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 2, (n_formats, 6)).astype(float)
    theta = X @ rng.normal(0, 0.6, 6) + rng.normal(0, 0.2, n_formats) - 0.5
    beta = rng.normal(0, 1.5, n_examples)
    P = special.expit(theta[:, None] + beta)
    Y = (rng.random(P.shape) < P).astype(float)
    return X, Y


def w1(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.sort(a) - np.sort(b)).mean())


def dense_design(seen, X, Z, onehot):
    """One row per evaluated cell: [x_f | z_j | one-hot(j)]."""
    F, J = seen.shape
    Xd = np.eye(F) if X is None else X
    rows = []
    for f, j in zip(*np.nonzero(seen), strict=True):
        parts = [Xd[f]]
        if Z is not None:
            parts.append(Z[j])
        if onehot:
            parts.append(np.eye(J)[j])
        rows.append(np.concatenate(parts))
    return np.array(rows)


def scipy_fit(Y, X=None, Z=None, prior_sd=1.0):
    """MAP of the model by scipy's trust-region Newton on the dense design."""
    seen = ~np.isnan(Y)
    onehot = Z is None
    if X is not None and Z is not None:
        X = np.hstack([X, np.ones((X.shape[0], 1))])
    D = dense_design(seen, X, Z, onehot)
    y = Y[seen]
    lam = 1 / prior_sd**2

    def fun(w):
        t = D @ w
        return -(y @ t - np.logaddexp(0, t).sum()) + 0.5 * lam * w @ w

    def jac(w):
        return -(D.T @ (y - special.expit(D @ w))) + lam * w

    def hess(w):
        p = special.expit(D @ w)
        return (D.T * (p * (1 - p))) @ D + lam * np.eye(D.shape[1])

    res = optimize.minimize(
        fun, np.zeros(D.shape[1]), jac=jac, hess=hess, method="trust-exact", options={"gtol": 1e-12}
    )
    w = res.x
    F, J = Y.shape
    p = F if X is None else X.shape[1]
    Xd = np.eye(F) if X is None else X
    theta = Xd @ w[:p]
    q = 0 if Z is None else Z.shape[1]
    ex = (Z @ w[p : p + q] if Z is not None else 0) + (w[p + q :] if onehot else 0)
    logits = theta[:, None] + ex
    filled = np.where(seen, Y, special.expit(logits))
    return w, filled.mean(axis=1), D, logits


def partial(Y, seen):
    return np.where(seen, Y, np.nan)


# ---------------------------------------------------------------------------------------------
# Design


def test_balanced_design_is_balanced_and_reproducible():
    seen = balanced_design(7, 30, budget=100, rng=3)
    assert seen.sum() == 100
    rows = seen.sum(axis=1)
    cols = seen.sum(axis=0)
    assert rows.max() - rows.min() <= 1
    assert cols.max() - cols.min() <= 1
    assert np.array_equal(seen, balanced_design(7, 30, budget=100, rng=3))
    assert not np.array_equal(seen, balanced_design(7, 30, budget=100, rng=4))
    assert balanced_design(3, 4, budget=12, rng=0).all()
    with pytest.raises(InvalidArgumentError, match="budget"):
        balanced_design(3, 4, budget=13)
    with pytest.raises(InvalidArgumentError, match="n_formats"):
        balanced_design(0, 4, budget=1)


def test_average_accuracy():
    Y = [[1, np.nan, 0, 1], [np.nan, np.nan, 1, 1]]
    assert average_accuracy(Y).tolist() == [2 / 3, 1.0]


# ---------------------------------------------------------------------------------------------
# Agreement with a direct penalised logistic regression


@pytest.mark.parametrize("covariates", ["none", "format", "both"])
@pytest.mark.parametrize("prior_sd", [0.7, 3.0])
def test_equals_scipy_penalised_logistic_regression(covariates, prior_sd):
    rng = np.random.default_rng(11)
    F, J = 6, 18
    Y = rng.random((F, J)) < special.expit(rng.normal(0, 1, F)[:, None] + rng.normal(0, 1.5, J))
    Y = Y.astype(float)
    seen = rng.random((F, J)) < 0.55
    seen[:, 0] = True
    Yp = partial(Y, seen)
    X = rng.normal(size=(F, 2)) if covariates != "none" else None
    Z = rng.normal(size=(J, 3)) if covariates == "both" else None
    w, acc, _, logits = scipy_fit(Yp, X, Z, prior_sd)
    pe = PromptEval(format_covariates=X, example_covariates=Z, prior_sd=prior_sd).fit(Yp)
    assert pe.converged_
    np.testing.assert_allclose(pe.format_accuracy_, acc, atol=1e-6)
    np.testing.assert_allclose(pe.format_effects_[:, None] + pe.example_effects_, logits, atol=1e-6)
    n_dense = pe.coef_.size
    np.testing.assert_allclose(pe.coef_, w[:n_dense], atol=1e-6)


def test_standard_errors_match_the_dense_delta_method():
    rng = np.random.default_rng(5)
    F, J = 5, 25
    Y = (rng.random((F, J)) < 0.6).astype(float)
    seen = rng.random((F, J)) < 0.5
    Yp = partial(Y, seen)
    X = rng.normal(size=(F, 2))
    for cov in (None, X):
        w, _, D, _ = scipy_fit(Yp, cov, None, 1.0)
        p = special.expit(D @ w)
        H = (D.T * (p * (1 - p))) @ D + np.eye(D.shape[1])
        pe = PromptEval(format_covariates=cov).fit(Yp)
        Xd = np.eye(F) if cov is None else cov
        logits = pe.format_effects_[:, None] + pe.example_effects_
        P = special.expit(logits)
        expected = []
        for f in range(F):
            g = np.zeros(D.shape[1])
            bern = 0.0
            for j in range(J):
                if seen[f, j]:
                    continue
                row = np.concatenate([Xd[f], np.eye(J)[j]])
                g += P[f, j] * (1 - P[f, j]) * row / J
                bern += P[f, j] * (1 - P[f, j]) / J**2
            expected.append(np.sqrt(g @ np.linalg.solve(H, g) + bern))
        np.testing.assert_allclose(pe.format_accuracy_se_, expected, rtol=1e-6)


def test_fractional_scores_are_a_weighted_fit():
    rng = np.random.default_rng(2)
    Y = rng.random((4, 12))
    Y[rng.random((4, 12)) < 0.3] = np.nan
    _, acc, _, _ = scipy_fit(Y)
    np.testing.assert_allclose(PromptEval().fit(Y).format_accuracy_, acc, atol=1e-6)


def test_several_models_equal_separate_fits_and_threads_do_not_matter():
    _, Y1 = simulate(1, 20, 60)
    _, Y2 = simulate(2, 20, 60)
    Yp = np.stack(
        [
            partial(Y1, balanced_design(20, 60, 120, rng=1)),
            partial(Y2, balanced_design(20, 60, 90, rng=2)),
        ]
    )
    both = PromptEval(random_state=0).fit(Yp)
    for m in range(2):
        one = PromptEval().fit(Yp[m])
        np.testing.assert_array_equal(both.format_accuracy_[m], one.format_accuracy_)
    before = calipers.get_num_threads()
    try:
        runs = []
        for n in (1, 2, 4):
            calipers.set_num_threads(n)
            pe = PromptEval(random_state=7).fit(Yp)
            runs.append((pe.format_accuracy_, pe.quantiles(n_resamples=50).confidence_interval.low))
        for acc, low in runs[1:]:
            np.testing.assert_array_equal(acc, runs[0][0])
            np.testing.assert_array_equal(low, runs[0][1])
    finally:
        calipers.set_num_threads(before)


def test_small_fits_inline_equal_the_pooled_fit_and_standard_errors_on_demand():
    """A small fit runs on the calling thread; with a progress callback it goes through the
    pool: the same bits. The standard errors, computed on first use, are the ones the fit
    gives when asked for them at once."""
    from calipers import _core

    X, _ = simulate(4, 30, 80)
    Yp = np.stack(
        [partial(simulate(s, 30, 80)[1], balanced_design(30, 80, 80 * s, rng=s)) for s in (1, 2, 4)]
    )
    for cov in (None, X):
        quick = PromptEval(format_covariates=cov).fit(Yp)
        ticks: list[int] = []
        pooled = PromptEval(format_covariates=cov).fit(
            Yp, progress=lambda d, t, ticks=ticks: ticks.append(d)
        )
        assert ticks
        np.testing.assert_array_equal(quick.format_accuracy_, pooled.format_accuracy_)
        np.testing.assert_array_equal(quick.coef_, pooled.coef_)
        eager = _core.prompts_fit(
            y=np.ascontiguousarray(Yp, dtype=np.float32),
            x=None if cov is None else np.ascontiguousarray(cov),
            z=None,
            onehot=True,
            prior_sd=1.0,
            max_iter=100,
            tol=1e-10,
            with_se=True,
        )
        np.testing.assert_array_equal(quick.format_accuracy_se_, eager[3])
        np.testing.assert_array_equal(pooled.format_accuracy_se_, eager[3])
        assert quick.format_accuracy_se_ is quick.format_accuracy_se_  # computed once


# ---------------------------------------------------------------------------------------------
# Simulation targets (issue 17)


def test_simulation_targets():
    F, J = 100, 200
    results = {}
    for mult in (1, 2, 4):
        pe_w, avg_w = [], []
        for seed in range(4):
            X, Y = simulate(seed, F, J)
            Yp = partial(Y, balanced_design(F, J, mult * J, rng=seed))
            truth = Y.mean(axis=1)
            pe_w.append(PromptEval(format_covariates=X).fit(Yp).w1_to(truth))
            avg_w.append(w1(average_accuracy(Yp), truth))
        results[mult] = (np.mean(pe_w), np.mean(avg_w))
    assert results[1][0] <= 0.06, results
    for mult, (pe_w, avg_w) in results.items():
        assert pe_w <= 0.5 * avg_w, (mult, results)


@pytest.mark.slow
def test_quantile_intervals_cover_the_truth():
    """Parametric-bootstrap intervals of the 10/25/50/75/90% quantiles cover the realised
    quantiles in at least 93% of simulated replications."""
    F, J = 30, 200
    hits = []
    for rep in range(30):
        X, Y = simulate(1000 + rep, F, J)
        Yp = partial(Y, balanced_design(F, J, 2 * J, rng=rep))
        q = [10, 25, 50, 75, 90]
        for cov in (X, None):
            res = (
                PromptEval(format_covariates=cov, random_state=rep)
                .fit(Yp)
                .quantiles(q, n_resamples=300)
            )
            truth = np.percentile(Y.mean(axis=1), q)
            lo, hi = res.confidence_interval
            hits.append((lo <= truth) & (truth <= hi))
    coverage = np.mean(hits)
    assert coverage >= 0.93, coverage


# ---------------------------------------------------------------------------------------------
# Real data: HANNA judge configurations


def hanna_matrices():
    pd = pytest.importorskip("pandas")
    if not HANNA_CSV.exists():
        pytest.skip(f"HANNA data not found at {HANNA_CSV} (shared data set absent)")
    d = pd.read_csv(HANNA_CSV)
    judges = ["Beluga-13B", "OrcaPlatypus", "Mistral-7B", "Llama-13B", "ChatGPT"]
    mats = []
    for c in ["RE", "CH", "EM", "SU", "EG", "CX"]:
        human = d[[f"Human {k} {c}" for k in (1, 2, 3)]].to_numpy(float).mean(axis=1)
        rows = []
        for judge in judges:
            for v in (1, 2, 3, 4):
                r = d[f"{judge} {c} {v}"].to_numpy(float)
                # Correct = within one point of the human mean; -1 (parse failure) is wrong.
                rows.append(((r != -1) & (np.abs(r - human) <= 1)).astype(float))
        mats.append(np.array(rows))
    X = np.zeros((20, 9))
    for i in range(20):
        X[i, i // 4] = 1  # judge
        X[i, 5 + i % 4] = 1  # prompt variant
    return mats, X


def hanna_w1(mats, X, budget, prior_sd=1.0, seeds=range(5)):
    pe_w, avg_w = [], []
    for Y in mats:
        truth = Y.mean(axis=1)
        for seed in seeds:
            Yp = partial(Y, balanced_design(20, Y.shape[1], budget, rng=seed))
            pe_w.append(PromptEval(format_covariates=X, prior_sd=prior_sd).fit(Yp).w1_to(truth))
            avg_w.append(w1(average_accuracy(Yp), truth))
    return float(np.mean(pe_w)), float(np.mean(avg_w))


def test_hanna_targets():
    mats, X = hanna_matrices()
    pe160, avg160 = hanna_w1(mats, X, 160)
    assert pe160 <= 0.045 and avg160 > 0.07, (pe160, avg160)
    pe40, avg40 = hanna_w1(mats, X, 40)
    assert pe40 <= 0.09 and avg40 > 0.2, (pe40, avg40)
    full, avg_full = hanna_w1(mats, X, mats[0].shape[1])
    assert full <= avg_full + 0.005, (full, avg_full)


def test_hanna_chooses_the_default_prior():
    """prior_sd = 1 (the default) beats a weaker and a stronger prior and the reference's
    C = 100 (prior_sd = 10) at 8 evaluations per configuration."""
    mats, X = hanna_matrices()
    at = {
        sd: hanna_w1(mats, X, 160, prior_sd=sd, seeds=range(3))[0] for sd in (0.5, 1.0, 2.0, 10.0)
    }
    assert min(at, key=at.get) == PromptEval().prior_sd == 1.0, at
    assert at[10.0] > at[1.0] * 1.5, at


# ---------------------------------------------------------------------------------------------
# Summaries


def test_quantiles_distribution_and_best_format():
    X, Y = simulate(3, 40, 150)
    Yp = partial(Y, balanced_design(40, 150, 600, rng=0))
    pe = PromptEval(format_covariates=X, random_state=0).fit(Yp)
    res = pe.quantiles([5, 50, 95], n_resamples=200)
    np.testing.assert_allclose(res.statistic, np.percentile(pe.format_accuracy_, [5, 50, 95]))
    lo, hi = res.confidence_interval
    assert np.all(lo <= res.statistic + 1e-12) and np.all(res.statistic <= hi + 1e-12)
    assert np.all(np.diff(pe.distribution()) >= 0)
    assert pe.w1_to(pe.format_accuracy_) == 0.0
    best = pe.best_format(n_resamples=200)
    assert best.best == int(np.argmax(pe.format_accuracy_))
    assert abs(best.prob_best.sum() - 1) < 1e-12
    pct = pe.quantiles([50], n_resamples=200, interval="percentile")
    assert pct.confidence_interval.low[0] <= pct.statistic[0] <= pct.confidence_interval.high[0]
    one = prompt_quantiles(Yp, [50], format_covariates=X, n_resamples=0)
    assert one.confidence_interval is None
    np.testing.assert_allclose(one.statistic, np.percentile(pe.format_accuracy_, [50]))


def test_best_format_finds_a_clear_winner():
    rng = np.random.default_rng(0)
    theta = np.full(10, -0.5)
    theta[3] = 1.5
    Y = (rng.random((10, 400)) < special.expit(theta[:, None] + rng.normal(0, 1, 400))).astype(
        float
    )
    Yp = partial(Y, balanced_design(10, 400, 1200, rng=0))
    best = PromptEval(random_state=0).fit(Yp).best_format(n_resamples=200)
    assert best.best == 3 and best.prob_best[3] > 0.95


def test_estimator_protocol():
    pe = PromptEval(prior_sd=2.0)
    assert pe.get_params()["prior_sd"] == 2.0
    assert pe.set_params(prior_sd=0.5).prior_sd == 0.5
    with pytest.raises(NotFittedError):
        pe.quantiles()
    sklearn_base = pytest.importorskip("sklearn.base")
    assert sklearn_base.clone(pe).prior_sd == 0.5


# ---------------------------------------------------------------------------------------------
# Bad input


def test_template_never_evaluated():
    X, Y = simulate(0, 12, 50)
    Yp = partial(Y, balanced_design(12, 50, 200, rng=0))
    Yp[4] = np.nan
    with pytest.raises(InvalidArgumentError, match="template 4 has no evaluated cell"):
        PromptEval().fit(Yp)
    pe = PromptEval(format_covariates=X).fit(Yp)
    # Predicted from its covariates: the mean fitted probability over examples.
    expected = special.expit(pe.format_effects_[4] + pe.example_effects_).mean()
    assert abs(pe.format_accuracy_[4] - expected) < 1e-12


def test_bad_input_messages():
    Y = np.array([[1.0, 0.0, np.nan], [np.nan, 1.0, 1.0]])
    with pytest.raises(InvalidArgumentError, match="no evaluated cell"):
        PromptEval().fit(np.full((2, 3), np.nan))
    with pytest.raises(InvalidArgumentError, match=r"scores must be in \[0, 1\]"):
        PromptEval().fit(np.where(np.isnan(Y), np.nan, 2.0))
    with pytest.raises(InvalidArgumentError, match="is infinite"):
        PromptEval().fit(np.where(np.isnan(Y), np.inf, Y))
    with warnings.catch_warnings():  # 1e308 overflows the float32 copy: named, no warning
        warnings.simplefilter("error")
        with pytest.raises(InvalidArgumentError, match="is infinite or huge"):
            PromptEval().fit(np.where(np.isnan(Y), Y, 1e308))
    with pytest.raises(ShapeError, match="format_covariates"):
        PromptEval(format_covariates=np.ones((3, 2))).fit(Y)
    with pytest.raises(ShapeError, match="Y"):
        PromptEval().fit(np.ones(3))
    with pytest.raises(InvalidArgumentError, match="method"):
        PromptEval(method="ml").fit(Y)
    with pytest.raises(InvalidArgumentError, match="prior_sd"):
        PromptEval(prior_sd=0).fit(Y)
    pe = PromptEval(random_state=0).fit(Y)
    with pytest.raises(InvalidArgumentError, match="q"):
        pe.quantiles([150])
    with pytest.raises(InvalidArgumentError, match="n_resamples"):
        pe.quantiles(n_resamples=5)
    with pytest.raises(InvalidArgumentError, match="interval"):
        pe.quantiles(interval="bca")
    with pytest.raises(ShapeError, match="true"):
        pe.w1_to([0.5, 0.5, 0.5])


# ---------------------------------------------------------------------------------------------
# method="mml", the adaptive mode and the CLI


def test_mml_integrates_the_examples_out():
    X, Y = simulate(0, 30, 200)
    Yp = partial(Y, balanced_design(30, 200, 400, rng=0))
    truth = Y.mean(axis=1)
    pe = PromptEval(method="mml", random_state=0).fit(Yp)
    # Better than averaging, though not as good as "map" (measured: see the module notes).
    assert pe.w1_to(truth) < w1(average_accuracy(Yp), truth)
    # Evaluated cells enter as observed; the rest as posterior expectations in (0, 1).
    assert np.all((pe.format_accuracy_ > 0) & (pe.format_accuracy_ < 1))
    assert np.all(pe.format_accuracy_se_ > 0)
    res = pe.quantiles([50], confidence_level=0.8, n_resamples=20)
    assert res.confidence_interval.low[0] <= res.confidence_interval.high[0]
    with pytest.raises(InvalidArgumentError, match="mml"):
        PromptEval(method="mml", format_covariates=X).fit(Yp)


def oracle(seed=0, F=15, J=300):
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 0.6, (F, 1))
    theta[4] = 2.0
    P = special.expit(theta + rng.normal(0, 1.0, (1, J)))
    truth = (rng.random(P.shape) < P).astype(float)
    calls = []

    def evaluate(cells):
        calls.append(cells.copy())
        assert not np.isnan(truth[cells[:, 0], cells[:, 1]]).any()
        return truth[cells[:, 0], cells[:, 1]]

    return truth, evaluate, calls


def test_adaptive_evaluate_stops_at_the_requested_precision():
    truth, evaluate, calls = oracle()
    res = calipers.prompts.adaptive_evaluate(
        evaluate, 15, 300, precision=0.08, q=[25, 50, 75], n_resamples=100, rng=0
    )
    cells = np.concatenate(calls)
    assert len({(int(f), int(j)) for f, j in cells}) == len(cells)  # never a cell twice
    assert res.history[-1]["n_evaluated"] == len(cells) == np.isfinite(res.Y).sum()
    if res.stopped == "precision":
        lo, hi = res.quantiles.confidence_interval
        assert np.max(hi - lo) / 2 <= 0.08
    else:
        assert len(cells) >= 4 * 300
    np.testing.assert_array_equal(res.Y[np.isfinite(res.Y)], truth[np.isfinite(res.Y)])


def test_adaptive_evaluate_finds_the_best_template_and_respects_the_budget():
    truth, evaluate, _ = oracle(1)
    res = calipers.prompts.adaptive_evaluate(
        evaluate, 15, 300, target="best", precision=0.05, n_resamples=100, rng=1
    )
    assert res.best.best == int(np.argmax(truth.mean(axis=1))) == 4
    capped = calipers.prompts.adaptive_evaluate(
        evaluate, 15, 300, precision=1e-6, max_budget=250, n_resamples=50, rng=0
    )
    assert capped.stopped == "budget" and np.isfinite(capped.Y).sum() == 250
    with pytest.raises(InvalidArgumentError, match="evaluate"):
        calipers.prompts.adaptive_evaluate(None, 3, 10)
    with pytest.raises(ShapeError, match="evaluate"):
        calipers.prompts.adaptive_evaluate(lambda c: np.zeros(1), 3, 10, initial_budget=5)


def test_cli_prompts_estimate(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    from calipers.cli import main

    X, Y = simulate(4, 12, 80)
    seen = balanced_design(12, 80, 240, rng=0)
    rows = [
        {"model": m, "template": f"t{f}", "example": j, "score": Y[f, j]}
        for m in ("a", "b")
        for f, j in zip(*np.nonzero(seen), strict=True)
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "cells.csv", index=False)
    feats = pd.DataFrame(X, columns=[f"x{k}" for k in range(6)])
    feats.insert(0, "template", [f"t{f}" for f in range(12)])
    feats.to_csv(tmp_path / "features.csv", index=False)
    out = tmp_path / "out.json"
    code = main(
        [
            "prompts",
            "estimate",
            str(tmp_path / "cells.csv"),
            "--format-covariates",
            str(tmp_path / "features.csv"),
            "--quantiles",
            "25,50,75",
            "--resamples",
            "100",
            "--seed",
            "0",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "q50" in text and "best template" in text
    import json

    data = json.loads(out.read_text())
    assert [m["model"] for m in data["models"]] == ["a", "b"]
    order = sorted(range(12), key=lambda f: f"t{f}")
    Yp = partial(Y, seen)[order]
    pe = PromptEval(format_covariates=X[order]).fit(Yp)
    np.testing.assert_allclose(data["models"][0]["accuracy"], pe.format_accuracy_, atol=1e-12)
    assert main(["prompts", "estimate", str(tmp_path / "missing.csv")]) == 1


def test_plot_draws_one_panel_per_model():
    pytest.importorskip("matplotlib")
    X, Y = simulate(0, 20, 80)
    Yp = np.stack([partial(Y, balanced_design(20, 80, 160, rng=s)) for s in (0, 1)])
    pe = PromptEval(format_covariates=X, random_state=0).fit(Yp)
    fig = pe.plot(n_resamples=50, true=np.stack([Y.mean(axis=1)] * 2), model_names=["a", "b"])
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    with pytest.raises(ShapeError, match="model_names"):
        pe.plot(n_resamples=50, model_names=["a"])


# ---------------------------------------------------------------------------------------------
# Hostile input


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_average_accuracy_refuses_infinite_scores(value):
    Y = np.array([[1.0, 0.0, np.nan], [np.nan, 1.0, 1.0]])
    Y[0, 1] = value
    with pytest.raises(NonFiniteError, match=r"Y: has an infinite value at index \(0, 1\)"):
        average_accuracy(Y)


@pytest.mark.parametrize("n_formats, n_examples", [(10**12, 30), (5, 10**12)])
def test_adaptive_evaluate_checks_the_memory_of_its_score_matrix(n_formats, n_examples):
    with pytest.raises(MemoryBudgetError, match="n_examples"):
        adaptive_evaluate(lambda c: np.ones(len(c)), n_formats, n_examples, rng=0)


@pytest.mark.parametrize("where", ["score", "covariate", "no_covariate_column"])
def test_cli_prompts_estimate_names_a_non_numeric_entry(tmp_path, capsys, where):
    pd = pytest.importorskip("pandas")
    from calipers.cli import main

    rows = [
        {"template": f"t{f}", "example": j, "score": (f + j) % 2}
        for f in range(3)
        for j in range(8)
    ]
    cells = pd.DataFrame(rows)
    covariates = pd.DataFrame({"template": ["t0", "t1", "t2"], "a": [0.1, -0.3, 0.2]})
    if where == "score":
        cells["score"] = cells["score"].astype(object)
        cells.loc[5, "score"] = "right"
        message = "TABLE: column `score`: row 5 .* holds 'right'"
    elif where == "covariate":
        covariates["a"] = covariates["a"].astype(object)
        covariates.loc[1, "a"] = "bold"
        message = "--format-covariates: column `a`: row 1 .* holds 'bold'"
    else:  # a bare numpy "need at least one array to concatenate" before
        covariates = covariates[["template"]]
        message = "--format-covariates: the table has no value columns"
    cells.to_csv(tmp_path / "cells.csv", index=False)
    covariates.to_csv(tmp_path / "cov.csv", index=False)
    argv = ["prompts", "estimate", str(tmp_path / "cells.csv"), "--resamples", "0"]
    assert main([*argv, "--format-covariates", str(tmp_path / "cov.csv")]) == 1
    import re

    assert re.search(message, capsys.readouterr().err)
