"""`calipers tiny fit / estimate / anchors`: the command line against the library it wraps."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from calipers.cli import main
from calipers.io import read_item_subset, read_results
from calipers.tiny import TinyBenchmark


def _simulate(n_models: int, n_items: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(n_models, 1))
    b = rng.normal(size=n_items)
    a = rng.lognormal(0, 0.3, n_items)
    p = 1 / (1 + np.exp(-(a * (theta - b))))
    return (rng.random(p.shape) < p).astype(float)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """Training models' full results and two new models' results, as long tables."""
    root = tmp_path_factory.mktemp("tiny-cli")
    scores = _simulate(42, 120, seed=0)
    scenario = np.where(np.arange(120) < 60, "arith", "logic")
    rows = [
        (f"model{m}", f"q{j:03d}", scores[m, j], scenario[j]) for m in range(42) for j in range(120)
    ]
    frame = pd.DataFrame(rows, columns=["model", "item", "score", "scenario"])
    train = root / "train.csv"
    frame[~frame["model"].isin(["model40", "model41"])].to_csv(train, index=False)
    new = root / "new.csv"
    frame[frame["model"].isin(["model40", "model41"])].to_csv(new, index=False)
    return root, train, new


@pytest.fixture(scope="module")
def fitted(tables):
    root, train, _ = tables
    model = root / "tiny.json"
    anchors = root / "anchors.csv"
    argv = ["tiny", "fit", str(train), "--out", str(model), "--n-anchors", "10"]
    argv += ["--dims", "1", "--seed", "3", "--anchors-csv", str(anchors), "--quiet"]
    assert main(argv) == 0
    return model, anchors


def test_fit_saves_what_the_library_fits(tables, fitted, capsys):
    _, train, _ = tables
    model, anchors = fitted
    saved = TinyBenchmark.load(model)
    direct = TinyBenchmark(n_anchors=10, dims=(1,), random_state=3).fit(read_results(train))
    assert saved.anchors_ == direct.anchors_
    for s in direct.scenarios_:
        np.testing.assert_array_equal(saved.weights_[s], direct.weights_[s])
    subset = read_item_subset(anchors)
    assert subset["item"].tolist() == direct.anchor_items()
    np.testing.assert_allclose(subset["weight"].sum(), len(direct.scenarios_))


def test_estimate_prints_and_writes_the_library_estimates(tables, fitted, tmp_path, capsys):
    _, _, new = tables
    model, _ = fitted
    out = tmp_path / "estimates.json"
    assert main(["tiny", "estimate", str(model), str(new), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "model40" in printed and "arith" in printed
    doc = json.loads(out.read_text())
    est = TinyBenchmark.load(model).estimate(read_results(new))
    for r, name in enumerate(["model40", "model41"]):
        for k, scenario in enumerate(est.scenarios):
            assert doc[name][scenario]["estimate"] == est.estimate[r, k]
            assert doc[name][scenario]["naive"] == est.naive[r, k]


def test_anchors_lists_the_anchor_items(fitted, capsys):
    model, _ = fitted
    capsys.readouterr()
    assert main(["tiny", "anchors", str(model)]) == 0
    printed = capsys.readouterr().out
    for item in TinyBenchmark.load(model).anchor_items():
        assert item in printed


@pytest.mark.parametrize(
    "argv, message",
    [
        (["tiny", "fit", "missing.csv", "--out", "t.json", "--quiet"], "does not exist"),
        (["tiny", "fit", "{train}", "--out", "t.json", "--dims", "one", "--quiet"], "--dims"),
        (["tiny", "estimate", "{garbage}", "{train}"], "{garbage}"),
        (["tiny", "anchors", "{garbage}"], "{garbage}"),
        (["tiny", "anchors", "missing.json"], "missing.json"),
    ],
)
def test_errors_are_one_line(tables, tmp_path, capsys, monkeypatch, argv, message):
    root, train, _ = tables
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"version": 1, "truncated')
    monkeypatch.chdir(tmp_path)
    argv = [a.format(train=train, garbage=garbage) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("calipers: error:") and "Traceback" not in err
    assert message.format(garbage=garbage) in err
