"""calipers report: the CLI end to end (small fixture and the embedded example), the numbers
in the JSON against the library's direct results, malformed inputs, atomic output, and a real
headless browser opening the example report."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from calipers import dominance, resample
from calipers.cli import main
from calipers.io import read_results
from calipers.irt import IRT
from calipers.report import ReportOptions, build_report, derive_seed, write_report
from calipers.report import build as report_build
from calipers.report import sections as report_sections
from calipers.report.example import example_cache_path, example_data
from calipers.report.item_flags import (
    benjamini_hochberg,
    models_needed,
    negative_discrimination_test,
)
from calipers.tiny import TinyBenchmark

SECTION_IDS = ["summary", "overview", "leaderboard", "pairwise", "risk", "items", "subset"]
FAST = ["--quiet", "--n-resamples", "300", "--dominance-resamples", "200"]


# ============================================================================ helpers


class _PageParser(HTMLParser):
    """Collects ids, image sources, links and scripts; raises on unbalanced tags."""

    VOID = {"meta", "link", "img", "br", "hr", "input", "col", "area", "base", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.images: list[str] = []
        self.urls: list[str] = []
        self.scripts = 0
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids.add(attributes["id"])
        if tag == "img":
            self.images.append(attributes.get("src") or "")
        for key in ("src", "href"):
            if key in attributes and tag != "img":
                self.urls.append(attributes[key] or "")
        if tag == "script":
            self.scripts += 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}> after {self.stack[-3:]}"
        self.stack.pop()


def parse_page(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    assert parser.stack == [], f"unclosed tags {parser.stack}"
    return parser


def check_self_contained(page: _PageParser, ids: list[str]) -> None:
    for section in ids:
        assert section in page.ids, f"section {section!r} missing from the page"
    assert page.images, "the report has no figures"
    for src in page.images:
        assert src.startswith("data:image/png;base64,"), f"image not embedded: {src[:60]}"
    for url in page.urls:
        assert url.startswith(("#", "data:")), f"external reference {url!r}"
    assert page.scripts == 0


def write_fixture(path: Path, *, n_models: int = 8, n_items: int = 40, seed: int = 0) -> Path:
    """A long table of 0/1 scores ('acc') and a continuous score ('prob') from a 1-D logistic
    model, over two scenarios with two sub-scenarios each."""
    rng = np.random.default_rng(seed)
    ability = np.linspace(-1.0, 1.5, n_models)
    rows = []
    for scenario in ("arith", "logic"):
        difficulty = rng.normal(size=n_items)
        p = 1 / (1 + np.exp(-(ability[:, None] - difficulty[None, :])))
        correct = (rng.random(p.shape) < p).astype(int)
        prob = np.clip(p + rng.normal(0, 0.1, p.shape), 0, 1)
        for m in range(n_models):
            for j in range(n_items):
                base = {
                    "model": f"model-{m}",
                    "item": f"{scenario}-{j:03d}",
                    "scenario": scenario,
                    "subscenario": f"{scenario}-{j % 2}",
                }
                rows.append(base | {"metric": "acc", "score": correct[m, j]})
                rows.append(base | {"metric": "prob", "score": round(float(prob[m, j]), 6)})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def fixture_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("fixture")
    source = write_fixture(root / "results.csv")
    out = root / "out"
    args = [str(source), "--out", str(out), "--metric", "acc", "--risk-metric", "prob"]
    code = main(["report", *args, *FAST, "--tiny-items", "10", "--seed", "7"])
    assert code == 0
    return source, out


# ============================================================================ CLI basics


def test_help_is_complete(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "report" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--example",
        "--out",
        "--metric",
        "--risk-metric",
        "--seed",
        "--n-resamples",
        "--dominance-resamples",
        "--confidence-level",
        "--alpha",
        "--tiny-items",
        "--title",
        "--quiet",
        "lm-evaluation-harness",
    ):
        assert option in text, option


def test_python_dash_m_runs():
    done = subprocess.run(
        [sys.executable, "-m", "calipers", "report", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "--example" in done.stdout


def test_progress_bars_and_quiet(tmp_path, capsys, monkeypatch):
    # Two sections suffice to see the bars (the section loop and a library call's bar).
    monkeypatch.setattr(
        report_build, "SECTIONS", [report_sections.overview, report_sections.leaderboard]
    )
    path = write_fixture(tmp_path / "r.csv", n_models=4, n_items=12)
    common = [str(path), "--metric", "acc", "--n-resamples", "200", "--tiny-items", "4"]
    assert main(["report", *common, "--out", str(tmp_path / "loud")]) == 0
    captured = capsys.readouterr()
    assert "calipers report" in captured.err and "section" in captured.err
    assert "leaderboard: bootstrap (all items)" in captured.err
    assert main(["report", *common, "--out", str(tmp_path / "quiet"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "report.html" in captured.out


def test_results_or_example_is_required(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["report", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    assert "exactly one" in capsys.readouterr().err


# ============================================================================ the fixture


def test_fixture_report_is_a_self_contained_page(fixture_report):
    _, out = fixture_report
    page = parse_page(out / "report.html")
    check_self_contained(page, SECTION_IDS)
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json"]


def _schema_errors(doc):
    jsonschema = pytest.importorskip("jsonschema")
    from calipers.report import report_schema

    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(doc)]


def test_fixture_json_validates_against_the_published_schema(fixture_report):
    _, out = fixture_report
    doc = json.loads((out / "report.json").read_text())
    assert doc["schema_version"] == 1
    assert _schema_errors(doc) == []
    # the schema is not vacuous: a missing section key, a wrong type, a probability below 0
    broken = json.loads(json.dumps(doc))
    del broken["sections"]["leaderboard"]["scenarios"]["all items"]["p_best"]
    broken["input"]["n_models"] = "8"
    broken["sections"]["pairwise"]["scenarios"]["all items"]["pvalue_holm"][0][1] = -1e-16
    errors = "\n".join(_schema_errors(broken))
    assert "'p_best' is a required property" in errors
    assert "n_models" in errors and "pvalue_holm" in errors


def test_fixture_json_matches_the_data(fixture_report):
    source, out = fixture_report
    doc = json.loads((out / "report.json").read_text())
    data = read_results(source, metric="acc")
    assert doc["input"]["n_models"] == 8 and doc["input"]["n_items"] == 80
    assert doc["input"]["metric"] == "acc" and doc["input"]["risk_metric"] == "prob"
    means = doc["sections"]["overview"]["mean_score"]
    for scenario, columns in (
        ("all items", slice(None)),
        ("arith", slice(0, 40)),
        ("logic", slice(40, 80)),
    ):
        expected = data.scores[:, columns].mean(axis=1)
        got = [means[scenario][m] for m in data.models]
        np.testing.assert_array_equal(got, expected)
    assert doc["options"]["seed"] == 7 and doc["options"]["n_resamples"] == 300
    assert doc["summary"] and all("<" not in s for s in doc["summary"])


SCENARIO_COLUMNS = {"all items": slice(None), "arith": slice(0, 40), "logic": slice(40, 80)}


def test_fixture_leaderboard_matches_resample(fixture_report):
    source, out = fixture_report
    doc = json.loads((out / "report.json").read_text())["sections"]["leaderboard"]
    data = read_results(source, metric="acc")
    assert set(doc["scenarios"]) == set(SCENARIO_COLUMNS)
    for name, columns in SCENARIO_COLUMNS.items():
        got = doc["scenarios"][name]
        assert got["rng_seed"] == derive_seed(7, "bootstrap", name)
        assert got["models"] == data.models
        scores = data.scores[:, columns]
        boot = resample.bootstrap(scores, n_resamples=300, method="bca", rng=got["rng_seed"])
        np.testing.assert_array_equal(got["mean"], boot.statistic)
        np.testing.assert_array_equal(got["ci_low"], boot.confidence_interval.low)
        np.testing.assert_array_equal(got["ci_high"], boot.confidence_interval.high)
        np.testing.assert_array_equal(got["standard_error"], boot.standard_error)
        ranks = resample.rank_distribution(scores, n_resamples=300, rng=got["rng_seed"])
        np.testing.assert_array_equal(got["rank_probabilities"], ranks.probabilities)
        np.testing.assert_array_equal(got["p_best"], ranks.p_best)
        np.testing.assert_array_equal(got["expected_rank"], ranks.expected_rank)
        order = np.argsort(-scores.mean(axis=1), kind="stable")
        assert got["order"] == [data.models[i] for i in order]


def test_fixture_pairwise_matches_resample(fixture_report):
    source, out = fixture_report
    doc = json.loads((out / "report.json").read_text())["sections"]["pairwise"]
    data = read_results(source, metric="acc")
    from calipers.report.sections import holm

    for name, columns in SCENARIO_COLUMNS.items():
        got = doc["scenarios"][name]
        res = resample.pairwise_differences(
            data.scores[:, columns], n_resamples=300, rng=derive_seed(7, "bootstrap", name)
        )
        np.testing.assert_array_equal(got["difference"], res.difference)
        np.testing.assert_array_equal(got["ci_low"], res.confidence_interval.low)
        np.testing.assert_array_equal(got["pvalue_bootstrap"], res.pvalue)
        np.testing.assert_array_equal(got["standard_error"], res.standard_error)
        iu = np.triu_indices(8, k=1)
        z = np.abs(res.difference[iu]) / res.standard_error[iu]
        pvalue = 2 * stats.norm.sf(z)
        np.testing.assert_allclose(np.asarray(got["pvalue"])[iu], pvalue, rtol=1e-12, atol=0)
        adjusted = holm(pvalue)
        np.testing.assert_allclose(np.asarray(got["pvalue_holm"])[iu], adjusted, rtol=1e-12)
        assert got["n_significant"] == int((adjusted < 0.05).sum())
        assert np.asarray(got["significant"])[iu].tolist() == (adjusted < 0.05).tolist()


def test_fixture_risk_aware_matches_dominance(fixture_report):
    source, out = fixture_report
    doc = json.loads((out / "report.json").read_text())["sections"]["risk"]
    prob = read_results(source, metric="prob")
    assert doc["metric"] == "prob" and doc["n_items"] == 80
    for order in (1, 2):
        got = doc["orders"][str(order)]
        assert got["rng_seed"] == derive_seed(7, "dominance", str(order))
        res = dominance.compare(
            prob.scores,
            order=order,
            alpha=0.05,
            correction="holm",
            n_resamples=200,
            rng=got["rng_seed"],
            model_names=prob.models,
        )
        np.testing.assert_array_equal(got["eps"], res.eps)
        np.testing.assert_array_equal(got["eps_i"], res.eps_i)
        np.testing.assert_array_equal(got["pvalue_adjusted"], res.pvalue_adjusted)
        assert got["reject"] == res.reject.tolist()
        assert [r["model"] for r in got["ranking"]] == res.ranking["model"].tolist()
        assert [r["borda"] for r in got["ranking"]] == res.ranking["borda"].tolist()


def test_fixture_item_analysis_matches_irt(fixture_report):
    source, out = fixture_report
    doc = json.loads((out / "report.json").read_text())["sections"]["items"]
    data = read_results(source, metric="acc")
    model = IRT(model="2pl").fit(data.scores)
    np.testing.assert_array_equal(doc["discrimination"], model.a_[:, 0])
    np.testing.assert_array_equal(doc["difficulty"], model.b_)
    assert doc["items"] == data.items
    share = data.scores.mean(axis=0)
    np.testing.assert_allclose(doc["share_correct"], share)
    items = np.asarray(data.items)
    assert doc["answered_by_all"] == items[share == 1].tolist()
    assert doc["answered_by_none"] == items[share == 0].tolist()
    negative = (model.a_[:, 0] < 0) & (share > 0) & (share < 1)
    assert sorted(doc["negative_estimate"]) == sorted(items[negative].tolist())
    alpha = doc["negative_discrimination_test"]["alpha"]
    flags = negative_discrimination_test(data.scores, model.theta_[:, 0], alpha)
    significant = negative & flags.significant
    assert sorted(doc["negative_discrimination"]) == sorted(items[significant].tolist())
    assert set(doc["negative_discrimination"]) <= set(doc["negative_estimate"])
    got_p = np.array(doc["negative_discrimination_test"]["pvalue"], dtype=float)  # null = NaN
    np.testing.assert_array_equal(got_p, flags.pvalue)


def test_fixture_subset_matches_tinybenchmark(fixture_report):
    source, out = fixture_report
    doc = json.loads((out / "report.json").read_text())["sections"]["subset"]
    assert doc["rng_seed"] == derive_seed(7, "tiny") and doc["n_anchors"] == 10
    data = read_results(source, metric="acc")
    assert doc["irt_dims_candidates"] == [1, 2]
    bench = TinyBenchmark(n_anchors=10, method="irt", dims=(1, 2), random_state=doc["rng_seed"])
    bench.fit(data)
    assert set(doc["scenarios"]) == {"arith", "logic"}
    for scenario, got in doc["scenarios"].items():
        assert got["anchors"] == bench.anchors_[scenario]
        assert got["n_items"] == 40
        np.testing.assert_array_equal(got["weights"], bench.weights_[scenario])
        assert got["cv_error"] == bench.cv_error_[scenario]


def test_missing_scores_use_the_complete_items(tmp_path, monkeypatch):
    """Cells missing from a long table are NaN; paired statistics use the items every model
    has, and the overview counts what is missing."""
    path = write_fixture(tmp_path / "full.csv", n_models=5, n_items=20)
    table = pd.read_csv(path)
    table = table[table["metric"] == "acc"].drop(columns="metric")
    gone = (table["model"] == "model-1") & table["item"].isin(["arith-003", "logic-007"])
    table[~gone].to_csv(tmp_path / "holes.csv", index=False)
    monkeypatch.setattr(
        report_build, "SECTIONS", [report_sections.overview, report_sections.leaderboard]
    )
    out = tmp_path / "out"
    args = [str(tmp_path / "holes.csv"), "--out", str(out), *FAST, "--tiny-items", "5"]
    assert main(["report", *args]) == 0
    doc = json.loads((out / "report.json").read_text())
    assert doc["sections"]["overview"]["n_missing"] == 2
    assert doc["sections"]["overview"]["scenarios"]["all items"]["n_items"] == 38
    data = read_results(tmp_path / "holes.csv")
    complete = ~np.isnan(data.scores).any(axis=0)
    got = doc["sections"]["leaderboard"]["scenarios"]["all items"]
    boot = resample.bootstrap(data.scores[:, complete], n_resamples=300, rng=got["rng_seed"])
    np.testing.assert_array_equal(got["mean"], boot.statistic)
    check_self_contained(parse_page(out / "report.html"), ["summary", "overview", "leaderboard"])


def test_lm_evaluation_harness_folder(tmp_path):
    """The harness fixture: 3 models, one without gsm8k scores (it drops out of that
    scenario's comparisons), too few models for the cross-validated subset."""
    source = Path(__file__).parent / "data" / "lm_eval"
    out = tmp_path / "out"
    assert main(["report", str(source), "--out", str(out), *FAST]) == 0
    doc = json.loads((out / "report.json").read_text())
    overview = doc["sections"]["overview"]
    assert overview["n_models"] == 3 and overview["n_missing"] == 3
    gsm8k = overview["scenarios"]["gsm8k"]
    assert len(gsm8k["models"]) == 2 and len(gsm8k["dropped_models"]) == 1
    assert None in overview["mean_score"]["gsm8k"].values()  # no scores: null, not NaN
    assert "at least 4" in doc["sections"]["subset"]["skipped"]
    page = parse_page(out / "report.html")
    check_self_contained(page, ["summary", "overview", "leaderboard", "pairwise", "risk", "items"])


def test_same_seed_same_report(fixture_report, tmp_path):
    source, out = fixture_report
    again = tmp_path / "again"
    args = [str(source), "--out", str(again), "--metric", "acc", "--risk-metric", "prob"]
    assert main(["report", *args, *FAST, "--tiny-items", "10", "--seed", "7"]) == 0
    first = json.loads((out / "report.json").read_text())
    second = json.loads((again / "report.json").read_text())
    first.pop("elapsed_seconds"), second.pop("elapsed_seconds")
    assert first == second


def test_holm_matches_its_definition():
    from calipers.report.sections import holm

    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 30):
        p = rng.random(n) ** 3
        p[: n // 3] = p[0]  # ties
        order = sorted(range(n), key=lambda i: p[i])
        expected = np.empty(n)
        running = 0.0
        for k, i in enumerate(order):  # k-th smallest times (n - k), running maximum, cap 1
            running = max(running, min(1.0, (n - k) * p[i]))
            expected[i] = running
        np.testing.assert_allclose(holm(p), expected, rtol=0, atol=1e-15)


def test_normal_pvalues():
    from calipers.report.sections import normal_pvalues

    d = np.array([0.0, 0.0, 0.1, -0.196, 0.3])
    se = np.array([0.0, 0.1, 0.0, 0.1, 0.1])
    p = normal_pvalues(d, se)
    assert p[0] == 1.0 and p[2] == 0.0
    assert p[1] == 1.0
    assert abs(p[3] - 0.04999579) < 1e-6  # |z| = 1.96
    assert abs(p[4] - 0.0026998) < 1e-6  # |z| = 3


def test_derive_seed_is_stable():
    assert derive_seed(0, "a") == derive_seed(0, "a")
    assert derive_seed(0, "a") != derive_seed(1, "a") != derive_seed(0, "b")
    # Fixed value: the JSON records seeds, which must not change between Python sessions.
    assert derive_seed(0, "leaderboard", "all items") == derive_seed(0, "leaderboard", "all items")


# ============================================================================ malformed input


def _run_failing(args, capsys) -> str:
    code = main(["report", *args, "--quiet"])
    assert code == 1
    return capsys.readouterr().err


def _long(tmp_path, rows, name="bad.csv") -> Path:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


GOOD_ROWS = [
    {"model": m, "item": f"q{j}", "score": (j + k) % 2}
    for k, m in enumerate("ab")
    for j in range(4)
]


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("missing_column", ["row 1", "no 'score' column", "rename your column"]),
        ("duplicate_row", [r"duplicate \(model, item\)", r"rows \d+ and \d+", "keep one"]),
        ("mixed_types", ["mixes booleans and numbers", "use one type"]),
        ("non_numeric", [r"non-numeric score 'oops' at row 4", "convert or drop"]),
        ("empty_file", ["the file is empty"]),
        ("unknown_suffix", ["cannot tell the format", ".csv"]),
        ("no_such_file", ["does not exist"]),
        ("one_model", ["at least 2"]),
    ],
)
def test_malformed_input_fails_cleanly(case, expect, tmp_path, capsys):
    rows = [dict(r) for r in GOOD_ROWS]
    path = tmp_path / "bad.csv"
    if case == "missing_column":
        path.write_text("model,item,scenario\na,q1,s\nb,q1,s\n")
    elif case == "duplicate_row":
        path = _long(tmp_path, rows + [dict(rows[1])])
    elif case == "mixed_types":
        rows[0]["score"], rows[1]["score"] = True, 0.5
        path = _long(tmp_path, rows)
    elif case == "non_numeric":
        rows[2]["score"] = "oops"
        path = _long(tmp_path, rows)
    elif case == "empty_file":
        path.write_text("")
    elif case == "unknown_suffix":
        path = tmp_path / "results.xlsx"
        path.write_text("not a table")
    elif case == "no_such_file":
        path = tmp_path / "nowhere.csv"
    elif case == "one_model":
        path = _long(tmp_path, [r for r in rows if r["model"] == "a"])
    out = tmp_path / "out"
    err = _run_failing([str(path), "--out", str(out)], capsys)
    assert err.startswith("calipers: error: ")
    assert path.name in err, err
    for pattern in expect:
        assert re.search(pattern, err), (pattern, err)
    assert not out.exists(), "a failed run left a report behind"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_out_must_be_a_folder(tmp_path, capsys):
    path = write_fixture(tmp_path / "r.csv", n_models=3, n_items=4)
    (tmp_path / "taken").write_text("a file")
    err = _run_failing([str(path), "--metric", "acc", "--out", str(tmp_path / "taken")], capsys)
    assert "--out" in err and "not a folder" in err
    assert (tmp_path / "taken").read_text() == "a file"


def test_several_metrics_need_the_option(tmp_path, capsys):
    path = write_fixture(tmp_path / "two.csv", n_models=3, n_items=4)
    err = _run_failing([str(path), "--out", str(tmp_path / "out")], capsys)
    assert "--metric NAME" in err and "two.csv" in err
    assert not (tmp_path / "out").exists()


def test_failure_midway_keeps_the_previous_report(tmp_path, monkeypatch, capsys):
    path = write_fixture(tmp_path / "r.csv", n_models=4, n_items=10)
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("previous")

    def broken(rd, options, progress):
        raise ValueError("section exploded")

    monkeypatch.setattr(report_build, "SECTIONS", [report_sections.overview, broken])
    err = _run_failing([str(path), "--out", str(out), "--metric", "acc"], capsys)
    assert "section exploded" in err
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]
    assert (out / "report.html").read_text() == "previous"
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_write_report_replaces_files_in_an_existing_folder(tmp_path):
    data = example_like(tmp_path)
    options = ReportOptions(quiet=True, n_resamples=200)
    report = build_report(data, options=options, sections=[report_sections.overview])
    out = tmp_path / "existing"
    out.mkdir()
    (out / "other.txt").write_text("keep me")
    write_report(report, out)
    assert sorted(p.name for p in out.iterdir()) == ["other.txt", "report.html", "report.json"]


def example_like(tmp_path) -> object:
    return read_results(write_fixture(tmp_path / "f.csv", n_models=4, n_items=12), metric="acc")


# ============================================================================ the example


@pytest.fixture(scope="module")
def example_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("example") / "report-out"
    assert main(["report", "--example", "--out", str(out), *FAST]) == 0
    return out


def test_example_data_is_deterministic_and_cached():
    data = example_data("correct", progress=False)
    assert data.shape == (32, 3594)
    assert set(np.unique(data.scores)) == {0.0, 1.0}
    assert data.scenarios == ["clean", "noisy", "shifted"]
    assert example_cache_path().is_file()
    again = example_data("correct", progress=False)
    np.testing.assert_array_equal(data.scores, again.scores)
    proba = example_data("p_true", progress=False)
    assert ((proba.scores >= 0) & (proba.scores <= 1)).all()
    # The predicted class is the most probable one, so p_true > 0.5 implies a correct answer.
    assert (data.scores[proba.scores > 0.5] == 1).all()


@pytest.mark.slow
def test_example_report_end_to_end(example_report):
    page = parse_page(example_report / "report.html")
    check_self_contained(page, SECTION_IDS)
    doc = json.loads((example_report / "report.json").read_text())
    assert _schema_errors(doc) == []
    assert doc["input"]["n_models"] == 32 and doc["input"]["risk_metric"] == "p_true"
    assert set(doc["sections"]["overview"]["scenarios"]) == {
        "all items",
        "clean",
        "noisy",
        "shifted",
    }
    data = example_data("correct", progress=False)
    got = doc["sections"]["leaderboard"]["scenarios"]["noisy"]
    columns = np.asarray(data.scenario) == "noisy"
    boot = resample.bootstrap(data.scores[:, columns], n_resamples=300, rng=got["rng_seed"])
    np.testing.assert_array_equal(got["mean"], boot.statistic)
    np.testing.assert_array_equal(got["ci_low"], boot.confidence_interval.low)
    np.testing.assert_array_equal(got["ci_high"], boot.confidence_interval.high)
    items = doc["sections"]["items"]
    share = data.scores.mean(axis=0)
    assert len(items["answered_by_all"]) == int((share == 1).sum())
    assert len(items["answered_by_none"]) == int((share == 0).sum())
    assert set(doc["sections"]["subset"]["scenarios"]) == {"clean", "noisy", "shifted"}


# ============================================================================ a real browser


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


_PROBE = (
    "<script>window.addEventListener('load', () => {"
    "const imgs = [...document.images];"
    "const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length;"
    "console.log('calipers-probe images=' + imgs.length + ' broken=' + bad);});</script>"
)


def open_in_chromium(page: Path, workdir: Path, height: int = 3000) -> tuple[list[str], Path]:
    """Open ``page`` (with a probe that counts broken images) headless; return the console
    messages and the screenshot's path."""
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium on PATH (.ci/run installs Debian's chromium with apt-get)")
    probe = workdir / f"probe-{page.parent.name}.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"))
    shot = workdir / f"{page.parent.name}.png"
    profile = workdir / f"profile-{page.parent.name}"
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        f"--window-size=1280,{height}",
        f"--screenshot={shot}",
        probe.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    console = re.findall(r':CONSOLE[^\]]*\] "(.*)", source:', done.stderr)
    return console, shot


def test_browser_probe_detects_errors(tmp_path):
    """The check below can fail: a page with a script error and a missing image is caught."""
    bad = tmp_path / "bad" / "report.html"
    bad.parent.mkdir()
    bad.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
        '<img src="missing.png"><script>undefinedFunction();</script></body></html>'
    )
    console, _ = open_in_chromium(bad, tmp_path, height=200)
    assert any("undefinedFunction" in line for line in console)
    assert "calipers-probe images=1 broken=1" in console


def test_example_report_renders_in_chromium(example_report, tmp_path):
    page = parse_page(example_report / "report.html")
    console, shot = open_in_chromium(example_report / "report.html", tmp_path)
    assert console == [f"calipers-probe images={len(page.images)} broken=0"], console
    assert shot.is_file() and shot.stat().st_size > 20_000
    keep = os.environ.get("CALIPERS_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / "example-report.png")


# ------------------------------------------------------------ negative-discrimination flags


def _brute_force_rank_sum_p(correct: np.ndarray, ability: np.ndarray) -> float:
    """P(rank sum of the correct models <= observed) over every k-subset, written plainly."""
    from itertools import combinations

    ranks = stats.rankdata(ability)
    k = int(correct.sum())
    observed = ranks[correct == 1].sum()
    sums = [sum(ranks[list(c)]) for c in combinations(range(len(ranks)), k)]
    return float(np.mean(np.array(sums) <= observed + 1e-9))


@pytest.mark.parametrize("ties", [False, True])
def test_negative_discrimination_pvalues_equal_brute_force(ties):
    rng = np.random.default_rng(3)
    n_models, n_items = 9, 40
    ability = rng.normal(size=n_models)
    if ties:
        ability = np.round(ability)  # several models share an ability: mid-ranks
    scores = (rng.random((n_models, n_items)) < 0.5).astype(float)
    res = negative_discrimination_test(scores, ability, 0.05)
    for j in range(n_items):
        k = scores[:, j].sum()
        if 0 < k < n_models:
            assert res.pvalue[j] == pytest.approx(_brute_force_rank_sum_p(scores[:, j], ability))
        else:
            assert np.isnan(res.pvalue[j])


def test_negative_discrimination_matches_exact_mann_whitney():
    rng = np.random.default_rng(4)
    ability = rng.normal(size=15)
    scores = (rng.random((15, 30)) < 0.4).astype(float)
    res = negative_discrimination_test(scores, ability, 0.05)
    for j in range(30):
        right, wrong = ability[scores[:, j] == 1], ability[scores[:, j] == 0]
        if len(right) and len(wrong):
            ref = stats.mannwhitneyu(right, wrong, alternative="less", method="exact").pvalue
            assert res.pvalue[j] == pytest.approx(ref, rel=1e-9)


def test_negative_discrimination_handles_missing_cells_per_pattern():
    rng = np.random.default_rng(5)
    ability = rng.normal(size=12)
    scores = (rng.random((12, 20)) < 0.5).astype(float)
    scores[:4, :10] = np.nan  # the first four models did not see the first ten items
    res = negative_discrimination_test(scores, ability, 0.05)
    for j in range(20):
        seen = ~np.isnan(scores[:, j])
        col = scores[seen, j]
        if 0 < col.sum() < col.size:
            want = _brute_force_rank_sum_p(col, ability[seen])
            assert res.pvalue[j] == pytest.approx(want)


def test_negative_discrimination_large_panel_uses_normal_approximation():
    rng = np.random.default_rng(6)
    ability = rng.normal(size=200)
    scores = (rng.random((200, 50)) < 0.5).astype(float)
    res = negative_discrimination_test(scores, ability, 0.05)
    for j in range(50):
        right, wrong = ability[scores[:, j] == 1], ability[scores[:, j] == 0]
        ref = stats.mannwhitneyu(
            right, wrong, alternative="less", method="asymptotic", use_continuity=True
        ).pvalue
        assert res.pvalue[j] == pytest.approx(ref, rel=1e-6)


def test_negative_discrimination_flags_planted_items_not_noise():
    rng = np.random.default_rng(7)
    n_models, n_items = 60, 400
    theta = np.sort(rng.normal(size=n_models))
    b = rng.normal(size=n_items)
    a = np.full(n_items, 1.5)
    a[:10] = -3.0  # ten reversed items
    prob = 1 / (1 + np.exp(-(a * (theta[:, None] - b))))
    scores = (rng.random(prob.shape) < prob).astype(float)
    res = negative_discrimination_test(scores, theta, 0.05)
    assert res.significant[:10].sum() >= 8
    assert res.significant[10:].sum() <= 2
    # 19 models and pure noise: nothing survives the correction.
    noise = (rng.random((19, 2000)) < 0.5).astype(float)
    res = negative_discrimination_test(noise, rng.normal(size=19), 0.05)
    assert not res.significant.any()


def test_benjamini_hochberg_matches_scipy():
    rng = np.random.default_rng(8)
    p = rng.random(200) ** 3
    np.testing.assert_allclose(benjamini_hochberg(p), stats.false_discovery_control(p))
    with_nan = p.copy()
    with_nan[::7] = np.nan
    got = benjamini_hochberg(with_nan)
    keep = ~np.isnan(with_nan)
    assert np.isnan(got[~keep]).all()
    np.testing.assert_allclose(got[keep], stats.false_discovery_control(with_nan[keep]))


def test_models_needed_for_a_lone_item():
    from math import comb

    n = models_needed(0.05, 21_606)
    assert comb(n, n // 2) * 0.05 >= 21_606 > comb(n - 1, (n - 1) // 2) * 0.05
    assert n == 22


# ============================================================================ prompt templates


def test_prompt_template_section_matches_prompteval(monkeypatch, tmp_path, capsys):
    """A long table with a template column adds the PromptEval section: its numbers are
    PromptEval's on the same cells (same seed), its JSON validates, `calipers report` on the
    table's file writes the same section, and it is absent without template data."""
    from calipers.io import EvalData
    from calipers.io.tables import prompt_cells
    from calipers.prompts import PromptEval, balanced_design
    from calipers.report import PromptData

    rng = np.random.default_rng(5)
    n_templates, n_examples = 8, 60
    rows = []
    for m in range(3):
        theta = rng.normal(0.4 * m, 0.5, n_templates)
        beta = rng.normal(0.0, 1.2, n_examples)
        for f, j in np.argwhere(balanced_design(n_templates, n_examples, 2 * n_examples, rng=m)):
            p = 1 / (1 + np.exp(-(theta[f] + beta[j])))
            rows.append((f"m{m}", f"t{f}", f"q{j:02d}", float(rng.random() < p)))
    frame = pd.DataFrame(rows, columns=["model", "template", "item", "score"])
    Y, models, templates, examples = prompt_cells(frame, "<synthetic>")
    prompts = PromptData(Y, models, [str(t) for t in templates], [str(e) for e in examples])
    mean = np.nanmean(Y, axis=1)
    data = EvalData(scores=mean, models=models, items=prompts.examples, source="cells.csv")
    options = ReportOptions(seed=3, n_resamples=200, dominance_resamples=100, quiet=True)
    monkeypatch.setattr(report_build, "SECTIONS", [report_sections.overview])

    report = build_report(data, options=options, prompts=prompts)
    section = report.json["sections"]["prompts"]
    assert _schema_errors(report.json) == []
    assert 'id="prompts"' in report.html and report.html.count("data:image/png") >= 1
    pe = PromptEval(random_state=derive_seed(3, "prompts")).fit(Y)
    q = pe.quantiles([5, 25, 50, 75, 95], n_resamples=200)
    best = pe.best_format(n_resamples=200)
    assert section["n_templates"] == 8 and section["n_resamples"] == 200
    for m, name in enumerate(models):
        got = section["models"][name]
        np.testing.assert_array_equal(got["quantiles"], q.statistic[m])
        np.testing.assert_array_equal(got["quantiles_low"], q.confidence_interval.low[m])
        np.testing.assert_array_equal(got["quantiles_high"], q.confidence_interval.high[m])
        np.testing.assert_array_equal(got["accuracy"], pe.format_accuracy_[m])
        np.testing.assert_array_equal(got["prob_best"], best.prob_best[m])
        assert got["best_template"] == prompts.templates[best.best[m]]
        assert got["n_evaluated"] == 2 * n_examples
        assert np.all(np.diff(got["curve"]) >= 0)
    # the schema is not vacuous for the new section
    broken = json.loads(json.dumps(report.json))
    del broken["sections"]["prompts"]["models"]["m1"]["quantiles_low"]
    assert any("quantiles_low" in e for e in _schema_errors(broken))

    plain = build_report(data, options=options)
    assert "prompts" not in plain.json["sections"] and 'id="prompts"' not in plain.html

    # the command line on the same cells, as a file
    frame.to_csv(tmp_path / "cells.csv", index=False)
    args = ["--seed", "3", "--n-resamples", "200", "--dominance-resamples", "100", "--quiet"]
    out = tmp_path / "out"
    assert main(["report", str(tmp_path / "cells.csv"), "--out", str(out), *args]) == 0
    written = json.loads((out / "report.json").read_text())
    assert written["sections"]["prompts"] == json.loads(json.dumps(section))
    cells = str(tmp_path / "cells.csv")
    assert main(["report", cells, "--risk-metric", "x", "--out", str(out), "--quiet"]) == 1
    assert "--risk-metric: a table with prompt templates" in capsys.readouterr().err
