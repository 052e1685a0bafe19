"""calipers.tiny: k-means anchors, estimators, TinyBenchmark, LiveXiv re-evaluation."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from calipers import tiny
from calipers.exceptions import InvalidArgumentError, NotFittedError, ShapeError
from calipers.io import EvalData
from conftest import num_threads


def simulate(n_models=240, per_scenario=800, n_scenarios=3, n_sub=4, seed=0):
    """2PL data with a 2-D latent ability whose loadings differ by scenario."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(n_models, 2))
    scenario = np.repeat([f"s{k}" for k in range(n_scenarios)], per_scenario)
    sub = np.array([f"{s}_{j % n_sub}" for j, s in enumerate(scenario)])
    load = {f"s{k}": np.array([np.cos(k), np.sin(k)]) for k in range(n_scenarios)}
    a = np.vstack([load[s] * rng.lognormal(0, 0.3) + rng.normal(0, 0.2, 2) for s in scenario])
    b = rng.normal(0, 1.2, size=scenario.size) + np.array([0.3 * (int(x[-1]) - 1.5) for x in sub])
    p = 1 / (1 + np.exp(-(theta @ a.T - b)))
    y = (rng.random(p.shape) < p).astype(float)
    return y, scenario, sub


def macro_average(y, scenario, sub):
    """Scenario scores as the mean over sub-scenarios of the sub-scenario means (plainly)."""
    out = {}
    for s in dict.fromkeys(scenario):
        subs = sorted(set(sub[scenario == s]))
        out[s] = np.mean([y[:, (scenario == s) & (sub == j)].mean(axis=1) for j in subs], axis=0)
    return np.column_stack(list(out.values()))


# ---------------------------------------------------------------------- building blocks


def test_balance_weights_give_the_macro_average():
    rng = np.random.default_rng(1)
    scenario = np.array(["a"] * 10 + ["b"] * 7)
    sub = np.array(["x"] * 2 + ["y"] * 8 + ["z"] * 7)
    y = rng.random((5, 17))
    bw = tiny.balance_weights(scenario, sub)
    for s in ("a", "b"):
        assert np.isclose(bw[scenario == s].mean(), 1.0)
    got = np.column_stack([(y * bw)[:, scenario == s].mean(axis=1) for s in ("a", "b")])
    np.testing.assert_allclose(got, macro_average(y, scenario, sub))
    np.testing.assert_array_equal(tiny.balance_weights(scenario), np.ones(17))


def test_estimators_match_the_formulas():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, size=(4, 6)).astype(float)
    w = rng.random(6)
    w /= w.sum()
    np.testing.assert_allclose(tiny.naive_estimate(y, w), [sum(w * row) for row in y])
    bw_a, p, bw_r = rng.random(6) + 0.5, rng.random((4, 30)), rng.random(30) + 0.5
    lam = 6 / 36
    expected = [lam * np.mean(bw_a * y[r]) + (1 - lam) * np.mean(bw_r * p[r]) for r in range(4)]
    np.testing.assert_allclose(tiny.pirt_estimate(y, bw_a, p, bw_r, 36), expected)
    assert tiny.gpirt_lambda(0.02, 0.2, 100, 4) == pytest.approx(0.02**2 / (0.02**2 + 0.2 / 400))
    assert tiny.gpirt_lambda(0.0, 0.0, 10, 1) == 1.0
    np.testing.assert_allclose(tiny.gpirt_estimate(0.5, 0.7, 0.25), 0.25 * 0.5 + 0.75 * 0.7)


# ---------------------------------------------------------------------- k-means


def test_kmeans_recovers_blobs_like_sklearn():
    KMeans = pytest.importorskip("sklearn.cluster").KMeans

    rng = np.random.default_rng(3)
    centers = rng.normal(0, 10, size=(6, 3))
    x = np.vstack([c + rng.normal(0, 0.3, size=(40, 3)) for c in centers])
    anchors, weights, labels, inertia = tiny.kmeans_anchors(x, 6, rng=0)
    ref = KMeans(6, n_init=5, random_state=0).fit(x)
    # same partition (up to label names) and the same inertia
    assert stats.contingency.crosstab(labels, ref.labels_).count.astype(bool).sum() == 6
    assert inertia == pytest.approx(ref.inertia_, rel=1e-9)
    np.testing.assert_allclose(weights, np.full(6, 40 / 240))
    for c, i in enumerate(anchors):  # the anchor is the member nearest its centre
        members = np.flatnonzero(labels == c)
        centre = x[members].mean(axis=0)
        assert i == members[np.argmin(((x[members] - centre) ** 2).sum(axis=1))]


def test_kmeans_is_a_fixed_point_of_sklearn_lloyd_and_as_good():
    KMeans = pytest.importorskip("sklearn.cluster").KMeans

    rng = np.random.default_rng(4)
    x = (rng.random((600, 20)) < rng.random(20)).astype(float)  # correctness-like vectors
    w = rng.random(600) + 0.2
    anchors, weights, labels, inertia = tiny.kmeans_anchors(x, 25, sample_weight=w, rng=1, tol=0)
    centres = np.vstack(
        [np.average(x[labels == c], axis=0, weights=w[labels == c]) for c in range(25)]
    )
    ref = KMeans(25, init=centres, n_init=1, tol=0).fit(x, sample_weight=w)
    # already converged: sklearn's Lloyd keeps our labels and centres
    np.testing.assert_array_equal(ref.labels_, labels)
    np.testing.assert_allclose(ref.cluster_centers_, centres, atol=1e-12)
    assert inertia == pytest.approx(ref.inertia_, rel=1e-9)
    np.testing.assert_allclose(weights, np.bincount(labels, weights=w) / w.sum())
    best_ref = KMeans(25, n_init=5, random_state=0).fit(x, sample_weight=w).inertia_
    assert inertia <= 1.02 * best_ref


@pytest.mark.parametrize("d", [7, 96])
def test_kmeans_same_bits_on_1_2_4_threads(d):
    # d=96 on 0/1 vectors: large enough for the point-parallel steps and the pruned Lloyd
    # steps with many exact ties (restarts run in parallel in both cases)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3000, d)) if d < 10 else (rng.random((3000, d)) < 0.4).astype(float)
    results = []
    for n in (1, 2, 4):
        with num_threads(n):
            results.append(tiny.kmeans_anchors(x, 40, n_restarts=3, rng=123))
    for r in results[1:]:
        for got, want in zip(r, results[0], strict=True):
            np.testing.assert_array_equal(got, want)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 4), st.integers(0, 10**6), st.integers(1, 3))
def test_kmeans_anchors_are_distinct_members(n, d, seed, levels):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, levels, size=(n, d)).astype(float)  # many duplicate points
    k = 1 + seed % n
    anchors, weights, labels, inertia = tiny.kmeans_anchors(x, k, rng=seed)
    assert np.unique(anchors).size == k
    np.testing.assert_array_equal(labels[anchors], np.arange(k))
    assert weights.sum() == pytest.approx(1.0) and inertia >= 0


def test_kmeans_bad_input():
    with pytest.raises(InvalidArgumentError, match="k: must be between 1 and the number"):
        tiny.kmeans_anchors(np.zeros((3, 2)), 4)
    with pytest.raises(ValueError, match="x: value NaN"):
        tiny.kmeans_anchors(np.array([[0.0], [np.nan]]), 1)
    with pytest.raises(ShapeError, match="2-D"):
        tiny.kmeans_anchors(np.zeros(3), 1)
    with pytest.raises(ValueError, match="sample_weight: has negative"):
        tiny.kmeans_anchors(np.zeros((3, 1)), 1, sample_weight=[1, -1, 1])


# ---------------------------------------------------------------------- anchor selection


def test_stratified_random_spreads_over_subscenarios():
    y, scenario, sub = simulate(n_models=30, per_scenario=200, seed=6)
    anchors = tiny.select_anchors(y, 40, scenario=scenario, subscenario=sub, method="random", rng=0)
    for s, a in anchors.items():
        assert np.all(scenario[a.index] == s) and np.unique(a.index).size == 40
        counts = {j: int((sub[a.index] == j).sum()) for j in set(sub[scenario == s])}
        assert set(counts.values()) == {10}
        np.testing.assert_allclose(a.weights, 1 / 40)


def test_select_anchors_methods_and_errors():
    from calipers.irt import IRT

    y, scenario, sub = simulate(n_models=60, per_scenario=150, seed=7)
    irt = IRT(dims=1).fit(y)
    data = EvalData(y, [f"m{i}" for i in range(60)], [f"q{j}" for j in range(450)], scenario, sub)
    for method in ("irt", "correctness", "fisher"):
        anchors = tiny.select_anchors(data, 12, method=method, irt=irt, rng=1)
        assert list(anchors) == ["s0", "s1", "s2"]
        for a in anchors.values():
            assert a.index.size == 12 and a.weights.sum() == pytest.approx(1.0)
    # D-optimal on one dimension = the items of largest summed information p(1-p) a^2
    fisher = tiny.select_anchors(data, 5, method="fisher", irt=irt)["s0"].index
    idx = np.flatnonzero(scenario == "s0")
    p = irt.predict_proba(irt.theta_, idx)
    info = (p * (1 - p)).sum(axis=0) * irt.a_[idx, 0] ** 2
    np.testing.assert_array_equal(np.sort(fisher), np.sort(idx[np.argsort(-info)[:5]]))
    with pytest.raises(InvalidArgumentError, match=r"n_anchors: 151 .*\{'s0': 150"):
        tiny.select_anchors(data, 151, method="correctness")
    with pytest.raises(InvalidArgumentError, match="irt: method='irt' needs"):
        tiny.select_anchors(data, 10, method="irt")
    with pytest.raises(InvalidArgumentError, match="method: got 'kmeans'"):
        tiny.select_anchors(data, 10, method="kmeans")
    with pytest.raises(InvalidArgumentError, match=r"outside \[0, 1\]"):
        tiny.select_anchors(y * 2, 10, method="random")


# ---------------------------------------------------------------------- TinyBenchmark


@pytest.fixture(scope="module")
def simulated():
    y, scenario, sub = simulate(n_models=240, per_scenario=800, seed=11)
    train, test = np.arange(180), np.arange(180, 240)
    tb = tiny.TinyBenchmark(n_anchors=100, method="irt", dims=(1, 2), cv_folds=3)
    tb.set_params(random_state=0).fit(y[train], scenario=scenario, subscenario=sub)
    return y, scenario, sub, train, test, tb


def test_gpirt_with_clustered_anchors_beats_uniform_random(simulated):
    y, scenario, sub, _, test, tb = simulated
    truth = macro_average(y[test], scenario, sub)
    est = tb.estimate(y[test])  # all items given: only the anchor columns are read
    gp_mae = np.abs(est.gpirt - truth).mean()
    rng = np.random.default_rng(0)
    uniform_maes = []
    for _ in range(20):  # average over draws of the uniform random items
        uniform = np.column_stack(
            [
                y[np.ix_(test, rng.choice(np.flatnonzero(scenario == s), 100, replace=False))].mean(
                    axis=1
                )
                for s in tb.scenarios_
            ]
        )
        uniform_maes.append(np.abs(uniform - truth).mean())
    uniform_mae = float(np.mean(uniform_maes))
    print(f"simulated MAE: gp-IRT {gp_mae:.4f}, uniform random {uniform_mae:.4f}")
    assert tb.dims_ == 2  # the simulated abilities are two-dimensional
    assert gp_mae < 0.85 * uniform_mae
    # the cross-validated error is an honest guide to the held-out error
    for k, s in enumerate(tb.scenarios_):
        held_out = np.abs(est.gpirt[:, k] - truth[:, k]).mean()
        assert 0.5 * held_out < tb.cv_error_[s]["gpirt"] < 2.0 * held_out


def test_estimate_inputs_agree(simulated):
    y, scenario, sub, _, test, tb = simulated
    names = tb.anchor_items()
    assert names == [tb.items_[i] for s in tb.scenarios_ for i in tb.anchor_index_[s]]
    full = tb.estimate(y[test[:2]])
    by_anchor = tb.estimate(y[np.ix_(test[:2], tb._all_anchors)])
    by_dict = tb.estimate({n: y[test[0], int(n)] for n in names})
    np.testing.assert_array_equal(full.gpirt, by_anchor.gpirt)
    np.testing.assert_array_equal(tb.estimate(y[test[:1]]).gpirt, by_dict.gpirt)
    data = EvalData(y[test[:2]], ["a", "b"], tb.items_, scenario, sub)
    np.testing.assert_array_equal(tb.estimate(data).gpirt, full.gpirt)
    assert set(full.as_dict()) == set(tb.scenarios_)
    # the naive estimate is the weighted anchor mean
    k = tb.scenarios_.index("s1")
    expected = y[test[0], tb.anchor_index_["s1"]] @ tb.weights_["s1"]
    assert full.naive[0, k] == pytest.approx(expected)


def test_estimate_bad_input(simulated):
    y, _, _, _, test, tb = simulated
    names = tb.anchor_items()
    responses = {n: 1.0 for n in names}
    del responses[names[3]]
    with pytest.raises(InvalidArgumentError, match="missing 1 of the 300 anchor items"):
        tb.estimate(responses)
    with pytest.raises(InvalidArgumentError, match="not items of this benchmark.*'nope'"):
        tb.estimate({**dict.fromkeys(names, 1.0), "nope": 1.0})
    with pytest.raises(ShapeError, match="expected 300 anchor columns"):
        tb.estimate(np.ones((2, 17)))
    row = y[test[0], tb._all_anchors].copy()
    row[5] = np.nan
    with pytest.raises(InvalidArgumentError, match=f"anchor item '{names[5]}' has no score"):
        tb.estimate(row)
    with pytest.raises(NotFittedError):
        tiny.TinyBenchmark().estimate(row)
    with pytest.raises(InvalidArgumentError, match="n_anchors: 900 anchors per scenario"):
        tiny.TinyBenchmark(n_anchors=900).fit(y, scenario=np.repeat(["a", "b", "c"], 800))
    with pytest.raises(ShapeError, match="scenario: has 3 labels for 2400 items"):
        tiny.TinyBenchmark().fit(y, scenario=["a", "b", "c"])
    with pytest.raises(InvalidArgumentError, match="method: got 'best'"):
        tiny.TinyBenchmark(method="best").fit(y)


def test_save_load_in_a_fresh_process_gives_identical_estimates(simulated, tmp_path):
    y, _, _, _, test, tb = simulated
    path = tb.save(tmp_path / "tiny.json")
    state = json.loads(path.read_text())
    assert state["format"] == "calipers.tiny" and set(state["scenarios"]) == set(tb.scenarios_)
    responses = y[np.ix_(test, tb._all_anchors)]
    np.save(tmp_path / "responses.npy", responses)
    script = (
        "import sys, numpy as np\n"
        "from calipers.tiny import TinyBenchmark\n"
        f"tb = TinyBenchmark.load({str(path)!r})\n"
        f"est = tb.estimate(np.load({str(tmp_path / 'responses.npy')!r}))\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, np.stack([est.naive, est.pirt, est.gpirt]))\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    here = tb.estimate(responses)
    there = np.load(tmp_path / "out.npy")
    np.testing.assert_array_equal(there, np.stack([here.naive, here.pirt, here.gpirt]))
    loaded = tiny.TinyBenchmark.load(path)
    assert loaded.anchors_ == tb.anchors_ and loaded.cv_error_ == tb.cv_error_
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(InvalidArgumentError, match="not a valid saved calipers TinyBenchmark"):
        tiny.TinyBenchmark.load(tmp_path / "bad.json")


def _broken_tiny_files(state, tmp_path):
    """(name, file) pairs of damaged TinyBenchmark files made from a good ``state``."""
    import copy

    def edited(change):
        s = copy.deepcopy(state)
        change(s)
        return json.dumps(s)

    texts = {
        "truncated": json.dumps(state)[:500],
        "version": edited(lambda s: s.update(version=99)),
        "no_a": edited(lambda s: s["irt"].pop("a")),
        "irt_version": edited(lambda s: s["irt"].update(version=7)),
        "irt_model": edited(lambda s: s["irt"]["params"].update(model="3pl")),
        "nan_b": edited(lambda s: s["irt"]["b"].__setitem__(0, None)),
        "short_b": edited(lambda s: s["irt"].update(b=s["irt"]["b"][:-1])),
        "anchor_out_of_scenario": edited(
            lambda s: next(iter(s["scenarios"].values()))["anchor_index"].__setitem__(0, 10**9)
        ),
        "no_scenarios": edited(lambda s: s.pop("scenarios")),
        "binary": "\x00\xff garbage",
    }
    out = []
    for name, text in texts.items():
        path = tmp_path / f"{name}.json"
        path.write_text(text)
        out.append((name, path))
    return out


def test_load_rejects_damaged_files_with_clear_errors(simulated, tmp_path, capsys):
    """Issue 20: every damaged file gives an InvalidArgumentError naming the file (no raw
    JSONDecodeError/KeyError), and the CLI prints one line and exits 1."""
    from calipers.cli import main

    *_, tb = simulated
    state = json.loads(tb.save(tmp_path / "good.json").read_text())
    assert state["version"] == 2 and state["irt"]["format"] == "calipers.irt"
    for name, path in _broken_tiny_files(state, tmp_path):
        with pytest.raises(InvalidArgumentError, match=str(path.name)):
            tiny.TinyBenchmark.load(path)
        assert main(["tiny", "anchors", str(path)]) == 1, name
        err = capsys.readouterr().err.strip()
        assert path.name in err and "Traceback" not in err, (name, err)


def test_version_1_files_still_load(simulated, tmp_path):
    *_, tb = simulated
    state = json.loads(tb.save(tmp_path / "v2.json").read_text())
    irt = state["irt"]
    state["version"] = 1
    state["irt"] = {
        "model": irt["params"]["model"],
        "dims": irt["params"]["dims"],
        "a": irt["a"],
        "b": irt["b"],
        "term_clip": irt["term_clip"],
    }
    (tmp_path / "v1.json").write_text(json.dumps(state))
    old = tiny.TinyBenchmark.load(tmp_path / "v1.json")
    np.testing.assert_array_equal(old.irt_.b_, tb.irt_.b_)
    assert old.anchors_ == tb.anchors_


def test_helpers_refuse_absurd_and_empty_inputs():
    x = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(InvalidArgumentError, match="n_restarts"):
        tiny.kmeans_anchors(x, 3, n_restarts=10**12)
    with pytest.raises(InvalidArgumentError, match="max_iter"):
        tiny.kmeans_anchors(x, 3, max_iter=2**64)
    with pytest.raises(InvalidArgumentError, match="k: must be between 1 and the number"):
        tiny.kmeans_anchors(x, 31)
    with pytest.raises(InvalidArgumentError, match="x: has complex"):
        tiny.kmeans_anchors(x + 1j, 3)
    with pytest.raises(ShapeError, match="x: is empty"):
        tiny.kmeans_anchors(np.empty((0, 2)), 1)
    with pytest.raises(InvalidArgumentError, match="n_items"):
        tiny.pirt_estimate([1.0, 0.0], [1.0, 1.0], [0.5], [1.0], n_items=0)
    with pytest.raises(InvalidArgumentError, match="pass n_items = 3"):
        tiny.pirt_estimate([1.0, 0.0], [1.0, 1.0], [0.5], [1.0], n_items=7)
    with pytest.raises(InvalidArgumentError, match="n_items"):
        tiny.pirt_estimate([1.0], [1.0], [0.5], [1.0], n_items=2**64)
    with pytest.raises(ShapeError, match="y_anchor: is empty"):
        tiny.pirt_estimate([], [], [0.5], [1.0], n_items=1)
    with pytest.raises(ShapeError, match="y_anchor: is empty"):
        tiny.naive_estimate([], [])
    with pytest.raises(ShapeError, match="one weight per anchor"):
        tiny.naive_estimate([1.0, 0.0], [1.0])
    with pytest.raises(InvalidArgumentError, match="n: must be >= 1"):
        tiny.gpirt_lambda(0.1, 0.2, 0, 4.0)
    with pytest.raises(InvalidArgumentError, match="c: must be > 0"):
        tiny.gpirt_lambda(0.1, 0.2, 5, 0.0)
    with pytest.raises(InvalidArgumentError, match="lam"):
        tiny.gpirt_estimate([0.5], [0.4], 1.5)
    # The formulas themselves, written plainly.
    est = tiny.pirt_estimate([1.0, 0.0], [1.0, 2.0], [0.5], [1.0], n_items=3)
    assert est == pytest.approx(2 / 3 * (1.0 * 1 + 0.0 * 2) / 2 + 1 / 3 * 0.5)
    assert tiny.gpirt_lambda(0.1, 0.2, 5, 4.0) == pytest.approx(0.01 / (0.01 + 0.2 / 20))


def test_dimension_choice_and_joint_ability():
    y, scenario, sub = simulate(n_models=120, per_scenario=300, seed=12)
    tb = tiny.TinyBenchmark(n_anchors=30, method="irt", dims=(1, 2), cv_folds=2, random_state=1)
    tb.fit(y[:100], scenario=scenario, subscenario=sub)
    errs = tb.dim_errors_
    assert tb.dims_ == min(d for d in errs if errs[d] - min(errs.values()) <= tb.dim_tol)
    per_scenario = tiny.TinyBenchmark(**(tb.get_params() | {"joint": False}))
    per_scenario.fit(y[:100], scenario=scenario, subscenario=sub)
    est = per_scenario.estimate(y[100:])
    assert est.theta.shape == (20, 3 * per_scenario.dims_)
    truth = macro_average(y[100:], scenario, sub)
    assert np.abs(est.gpirt - truth).mean() < 0.08


# ---------------------------------------------------------------------- LiveXiv


def reference_choice(theta, b, m):
    """LiveXiv's EfficEval model choice, written plainly for the Rasch model."""
    centres = np.percentile(b, np.linspace(5, 95, m))
    items = [int(np.argmin(np.abs(b - c))) for c in centres]
    info = [
        [1 / (1 + np.exp(-(t - b[i]))) * (1 - 1 / (1 + np.exp(-(t - b[i])))) for t in theta]
        for i in items
    ]
    chosen = sorted({int(np.argmax(row)) for row in info})
    while len(chosen) < m:
        rest = [k for k in range(len(theta)) if k not in chosen]
        gaps = [np.mean([abs(theta[k] - theta[c]) for c in chosen]) for k in rest]
        chosen.append(rest[int(np.argmax(gaps))])
    return sorted(chosen)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 8))
def test_choose_models_matches_the_reference_rule(seed, m):
    rng = np.random.default_rng(seed)
    theta, b = rng.normal(size=12), rng.normal(size=50)
    got = tiny.choose_models_to_rerun(theta, b, m)
    assert got.tolist() == reference_choice(theta, b, m)
    with_new = tiny.choose_models_to_rerun(np.r_[theta, np.nan], b, m, must_run=[12])
    assert 12 in with_new and with_new.size == m + 1


def livexiv(shared, task, version):
    z = np.load(shared / "livexiv" / f"{task}_by_domain_{version}.npz")
    return np.hstack([z[k] for k in z.files]).astype(float)


@pytest.mark.parametrize("task", ["vqa", "tqa"])
def test_livexiv_reevaluation_of_a_new_version(shared_data, task):
    """v1 (17 models) -> v2 (19: two new models must run): re-run 5 more, predict the rest."""
    prev, new = livexiv(shared_data, task, "v1"), livexiv(shared_data, task, "v2")
    prev = np.vstack([prev, np.full((new.shape[0] - prev.shape[0], prev.shape[1]), np.nan)])
    result = tiny.ReEvaluation(m=5).evaluate(prev, new)
    print(
        f"LiveXiv {task} v1->v2: rerun {result.rerun.tolist()}, MAE {100 * result.mae:.2f} pp, "
        f"Spearman {result.spearman:.3f}"
    )
    assert {17, 18} <= set(result.rerun.tolist()) and result.rerun.size == 7
    assert result.mae <= 0.025 and result.spearman >= 0.95
    np.testing.assert_allclose(result.predicted[result.rerun], new[result.rerun].mean(axis=1))


@pytest.mark.slow
def test_livexiv_tiny_benchmark_estimates(shared_data):
    """tinyBenchmarks on LiveXiv v2: VQA and TQA as scenarios, 100 anchors each."""
    vqa, tqa = livexiv(shared_data, "vqa", "v2"), livexiv(shared_data, "tqa", "v2")
    y = np.hstack([vqa, tqa])
    scenario = np.array(["vqa"] * vqa.shape[1] + ["tqa"] * tqa.shape[1])
    truth = np.column_stack([vqa.mean(axis=1), tqa.mean(axis=1)])
    test = np.array([1, 5, 9, 13, 16])  # models spread over the ability range
    train = np.setdiff1d(np.arange(19), test)
    mae = {}
    for method in ("irt", "random"):
        tb = tiny.TinyBenchmark(n_anchors=100, method=method, dims=1, cv_folds=3, random_state=0)
        est = tb.fit(y[train], scenario=scenario).estimate(y[test])
        mae[method] = {
            e: float(np.abs(getattr(est, e) - truth[test]).mean()) for e in tiny.ESTIMATORS
        }
    print(f"LiveXiv v2 tiny MAE: {mae}")
    assert mae["irt"]["gpirt"] < 0.05 and mae["random"]["gpirt"] < 0.05


def test_reevaluation_errors():
    r = tiny.ReEvaluation(m=2)
    with pytest.raises(NotFittedError):
        r.choose_models()
    with pytest.raises(ShapeError, match="Y_new: has 3 models but Y_prev has 4"):
        r.predict(np.zeros((4, 5)), np.zeros((3, 5)))
    with pytest.raises(InvalidArgumentError, match="no model was evaluated"):
        r.predict(np.zeros((4, 5)), np.full((4, 5), np.nan))


def test_kmeans_anchors_takes_the_old_n_init_name_with_a_warning():
    x = np.random.default_rng(1).normal(size=(40, 2))
    with pytest.warns(FutureWarning, match="n_init"):
        old = tiny.kmeans_anchors(x, 3, n_init=2, rng=0)
    new = tiny.kmeans_anchors(x, 3, n_restarts=2, rng=0)
    for a, b in zip(old, new, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="n_inits"):
        tiny.kmeans_anchors(x, 3, n_inits=2)
