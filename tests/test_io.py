"""calipers.io: wide / long / lm-evaluation-harness readers, writers, and their errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calipers import io
from calipers.exceptions import InvalidArgumentError, ShapeError

HARNESS = Path(__file__).resolve().parent / "data" / "lm_eval"


def samples_of(model_folder: str, task: str) -> list[dict]:
    """The latest samples file of a task, parsed plainly (the independent reference)."""
    files = sorted((HARNESS / model_folder).glob(f"samples_{task}_*.jsonl"))
    return [json.loads(line) for line in files[-1].read_text().splitlines()]


# ------------------------------------------------------------------------------- wide


def test_wide_csv_with_first_column_as_models(tmp_path):
    matrix = np.array([[1.0, 0.0, 0.5], [0.0, np.nan, 1.0]])
    frame = pd.DataFrame(matrix, columns=["q1", "q2", "q3"])
    frame.insert(0, "llm", ["m1", "m2"])
    frame.to_csv(tmp_path / "wide.csv", index=False)
    data = io.read_wide(tmp_path / "wide.csv", scenario={"q1": "a", "q2": "a", "q3": "b"})
    np.testing.assert_array_equal(data.scores, matrix)
    assert data.models == ["m1", "m2"] and data.items == ["q1", "q2", "q3"]
    assert data.scenario.tolist() == ["a", "a", "b"] and data.scenarios == ["a", "b"]
    # read_results detects the same thing
    np.testing.assert_array_equal(io.read_results(tmp_path / "wide.csv").scores, matrix)


def test_wide_parquet_and_dataframe_index(tmp_path):
    matrix = np.random.default_rng(0).integers(0, 2, size=(4, 7)).astype(float)
    frame = pd.DataFrame(matrix, index=[f"m{i}" for i in range(4)])
    frame.columns = [f"item{j}" for j in range(7)]
    data = io.read_results(frame)
    np.testing.assert_array_equal(data.scores, matrix)
    assert data.models == ["m0", "m1", "m2", "m3"]
    frame.reset_index(names="model").to_parquet(tmp_path / "wide.parquet")
    again = io.read_results(tmp_path / "wide.parquet")
    np.testing.assert_array_equal(again.scores, matrix)
    assert again.models == data.models and again.items == data.items


def test_wide_errors(tmp_path):
    (tmp_path / "bad.csv").write_text("model,q1,q2\nm1,1,yes\nm2,0,1\n")
    with pytest.raises(InvalidArgumentError, match=r"bad.csv.*'q2'.*'yes'.*'m1'"):
        io.read_wide(tmp_path / "bad.csv")
    (tmp_path / "dup.csv").write_text("model,q1\nm1,1\nm1,0\n")
    with pytest.raises(InvalidArgumentError, match="model names.*unique.*'m1'"):
        io.read_results(tmp_path / "dup.csv")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "empty.csv.xlsx").write_text("")
    with pytest.raises(ShapeError, match="empty.csv: the file is empty"):
        io.read_results(tmp_path / "empty.csv")
    with pytest.raises(InvalidArgumentError, match="no label for 1 item"):
        io.read_wide(pd.DataFrame({"q1": [1.0], "q2": [0.0]}), scenario={"q1": "a"})
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        io.read_results(tmp_path / "nope.csv")
    with pytest.raises(InvalidArgumentError, match="suffix"):
        io.read_results(tmp_path / "empty.csv.xlsx")


def test_prompt_cells_places_scores_and_names_a_bad_score():
    from calipers.io.tables import prompt_cells

    frame = pd.DataFrame(
        {"model": ["a", "a", "b"], "template": [1, 0, 0], "item": ["q", "q", "r"],
         "score": [0.5, 1.0, 0.0]}
    )  # fmt: skip
    Y, models, templates, examples = prompt_cells(frame, "cells.csv")
    assert (models, templates, examples) == (["a", "b"], [0, 1], ["q", "r"])
    expected = np.full((2, 2, 2), np.nan)
    expected[0, 1, 0], expected[0, 0, 0], expected[1, 0, 1] = 0.5, 1.0, 0.0
    np.testing.assert_array_equal(Y, expected)
    with pytest.raises(
        InvalidArgumentError, match=r"TABLE: column `score`: row 1 .*'n/a'.*cells.csv"
    ):
        prompt_cells(frame.assign(score=[0.5, "n/a", 0.0]), "cells.csv")
    for bad in (np.nan, np.inf):
        with pytest.raises(InvalidArgumentError, match="missing or infinite"):
            prompt_cells(frame.assign(score=[0.5, bad, 0.0]), "cells.csv")
    with pytest.raises(InvalidArgumentError, match="cells.csv has no rows"):
        prompt_cells(frame.iloc[:0], "cells.csv")


def test_read_table_keeps_labels_as_written_and_names_the_argument(tmp_path):
    (tmp_path / "cov.csv").write_text("template,f1,f2\n007,1,0.5\n7,0,NA\n")
    frame = io.read_table(tmp_path / "cov.csv", argument="--format-covariates")
    # label columns stay text ("007" and "7" are two templates); other cells are numbers,
    # with pandas' missing-value spellings read as NaN
    assert frame["template"].tolist() == ["007", "7"]
    np.testing.assert_array_equal(frame["f1"].to_numpy(), [1, 0])
    assert np.isnan(frame["f2"].to_numpy()[1])
    (tmp_path / "labels.tsv").write_text("item\trater\tlabel\nq1\tNA\t2\n")
    frame = io.read_table(tmp_path / "labels.tsv", columns=("item", "label"))
    assert frame["rater"].tolist() == ["NA"] and frame["label"].tolist() == [2]
    frame.to_parquet(tmp_path / "labels.parquet")
    assert io.read_table(tmp_path / "labels.parquet").equals(frame)
    with pytest.raises(InvalidArgumentError, match=r"^--prices: .* lacks column\(s\) \['price'\]"):
        io.read_table(tmp_path / "labels.tsv", argument="--prices", columns=("item", "price"))
    with pytest.raises(InvalidArgumentError, match="^JUDGE_SCORES: .*does not exist"):
        io.read_table(tmp_path / "nope.csv", argument="JUDGE_SCORES")
    with pytest.raises(InvalidArgumentError, match="^TABLE: .*is a folder"):
        io.read_table(tmp_path, argument="TABLE")


# ------------------------------------------------------------------------------- long


def long_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": ["a", "a", "b", "b", "c"],
            "item": ["x", "y", "y", "z", "x"],
            "score": [1, 0, 1, 0.5, 0],
            "scenario": ["S", "S", "S", "T", "S"],
            "subscenario": ["s1", "s2", "s2", "t1", "s1"],
        }
    )


def test_long_matches_pandas_pivot(tmp_path):
    frame = long_frame()
    frame.to_csv(tmp_path / "long.csv", index=False)
    data = io.read_results(tmp_path / "long.csv")
    reference = frame.pivot(index="model", columns="item", values="score")
    np.testing.assert_array_equal(
        data.scores, reference.loc[data.models, data.items].to_numpy(dtype=float)
    )
    assert data.models == ["a", "b", "c"] and data.items == ["x", "y", "z"]
    assert data.scenario.tolist() == ["S", "S", "T"]
    assert data.subscenario.tolist() == ["s1", "s2", "t1"]
    assert np.isnan(data.scores[0, 2]) and np.isnan(data.scores[2, 1])


def test_long_parquet_with_renamed_columns(tmp_path):
    frame = long_frame().rename(columns={"model": "llm", "score": "correct"})
    frame.to_parquet(tmp_path / "long.parquet")
    data = io.read_long(tmp_path / "long.parquet", columns={"llm": "model", "correct": "score"})
    assert data.shape == (3, 3) and data.scores[1, 2] == 0.5


def test_long_boolean_scores():
    frame = pd.DataFrame({"model": ["a", "a"], "item": ["x", "y"], "score": [True, False]})
    np.testing.assert_array_equal(io.read_long(frame).scores, [[1.0, 0.0]])


def test_long_metric_column_selects_rows():
    frame = pd.concat([long_frame().assign(metric="acc"), long_frame().assign(metric="f1")])
    frame.loc[frame.metric == "f1", "score"] = 0.25
    with pytest.raises(InvalidArgumentError, match=r"2 metrics.*metric=\.\.\."):
        io.read_long(frame)
    data = io.read_long(frame, metric="f1")
    assert data.metric == "f1" and np.nanmax(data.scores) == 0.25
    with pytest.raises(InvalidArgumentError, match="no rows have metric 'bleu'"):
        io.read_long(frame, metric="bleu")


def test_long_errors_name_file_row_and_fix(tmp_path):
    path = tmp_path / "long.csv"
    frame = long_frame()
    pd.concat([frame, frame.iloc[[3]]]).to_csv(path, index=False)
    # the duplicate of data row 4 (file line 5) is data row 6 (file line 7)
    with pytest.raises(
        InvalidArgumentError, match=r"long.csv: duplicate.*\('b', 'z'\).*rows 5 and 7"
    ):
        io.read_long(path)
    frame.assign(score=["1", "0", "abc", "1", "0"]).to_csv(path, index=False)
    with pytest.raises(InvalidArgumentError, match=r"non-numeric score 'abc' at row 4"):
        io.read_long(path)
    frame.assign(score=["1", "0", "true", "1", "0"]).to_csv(path, index=False)
    with pytest.raises(InvalidArgumentError, match="mixes booleans and numbers"):
        io.read_long(path)
    mixed = frame.assign(score=pd.Series([True, 0.5, 1, 0, 1], dtype=object))
    with pytest.raises(InvalidArgumentError, match="mixes booleans and numbers"):
        io.read_long(mixed)
    with pytest.raises(InvalidArgumentError, match=r"missing column\(s\) \['score'\]"):
        io.read_long(frame.drop(columns="score"))
    conflict = frame.copy()
    conflict.loc[4, "scenario"] = "T"
    with pytest.raises(InvalidArgumentError, match="item 'x' has scenario 'S'.*'T' in row 6"):
        io.read_long(conflict)
    with pytest.raises(ShapeError, match="no rows"):
        io.read_long(frame.iloc[:0])
    with pytest.raises(InvalidArgumentError, match="row 3 has an empty 'model'"):
        io.read_long(frame.assign(model=["a", None, "b", "b", "c"]))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 8),
    st.integers(0, 2**32 - 1),
)
def test_long_round_trip_through_to_long(n_models, n_items, seed):
    rng = np.random.default_rng(seed)
    scores = rng.random((n_models, n_items)).round(3)
    scores[rng.random(scores.shape) < 0.3] = np.nan
    scores[0, 0] = 1.0  # keep the first model and item observed
    data = io.EvalData(
        scores=scores,
        models=[f"m{i}" for i in range(n_models)],
        items=[f"i{j}" for j in range(n_items)],
        scenario=np.asarray([f"s{j % 2}" for j in range(n_items)], dtype=object),
    )
    long = data.to_long().sample(frac=1.0, random_state=int(seed % 1000))
    back = io.read_long(long)
    observed_items = [i for j, i in enumerate(data.items) if not np.isnan(scores[:, j]).all()]
    observed_models = [m for r, m in enumerate(data.models) if not np.isnan(scores[r]).all()]
    expected = data.select(models=observed_models, items=observed_items)
    aligned = back.select(models=observed_models, items=observed_items)
    np.testing.assert_array_equal(aligned.scores, expected.scores)
    assert aligned.scenario.tolist() == expected.scenario.tolist()


# ------------------------------------------------------------------------------- harness


def test_harness_folder_matches_plain_json_reading():
    data = io.read_results(HARNESS)
    assert data.models == [
        "EleutherAI/pythia-160m",
        "EleutherAI/pythia-410m",
        "HuggingFaceTB/SmolLM2-135M",
    ]
    assert data.shape == (3, 6 + 3 + 4 + 5)
    for r, folder in enumerate(["EleutherAI__pythia-160m", "EleutherAI__pythia-410m"]):
        for s in samples_of(folder, "arc_easy"):
            assert data.scores[r, data.items.index(f"arc_easy/{s['doc_id']}")] == s["acc"]
        for s in samples_of(folder, "mmlu_anatomy"):
            assert data.scores[r, data.items.index(f"mmlu_anatomy/{s['doc_id']}")] == s["acc"]
    # SmolLM2 was not run on gsm8k: missing, not zero
    gsm = [j for j, i in enumerate(data.items) if i.startswith("gsm8k/")]
    assert np.isnan(data.scores[2, gsm]).all() and not np.isnan(data.scores[:2, gsm]).any()
    # MMLU subjects are grouped under their top-level group from results_*.json
    by_item = dict(zip(data.items, data.scenario, strict=True))
    assert by_item["mmlu_anatomy/0"] == "mmlu" and by_item["arc_easy/0"] == "arc_easy"
    assert dict(zip(data.items, data.subscenario, strict=True))["mmlu_anatomy/0"] == "mmlu_anatomy"
    assert data.metric["arc_easy"] == "acc,none"


def test_harness_latest_run_wins():
    data = io.read_results(HARNESS)
    latest = [s["acc"] for s in samples_of("EleutherAI__pythia-160m", "arc_easy")]
    assert sum(latest) > 0  # the older run in the folder has acc = 0 everywhere
    row = data.scores[0, [data.items.index(f"arc_easy/{d}") for d in range(6)]]
    np.testing.assert_array_equal(row, latest)


def test_harness_metric_and_filter_choice():
    data = io.read_lm_eval_harness(HARNESS, metric=["acc_norm", "acc", "exact_match"], filter=None)
    norm = [s["acc_norm"] for s in samples_of("EleutherAI__pythia-410m", "arc_easy")]
    np.testing.assert_array_equal(data.scores[1, :6], norm)
    assert data.metric["arc_easy"] == "acc_norm,none" and data.metric["mmlu_anatomy"] == "acc,none"
    # gsm8k is logged under two filters; the default takes the first, filter= picks one
    assert data.metric["gsm8k"] == "exact_match,strict-match"
    flex = io.read_lm_eval_harness(HARNESS, tasks=["gsm8k"], filter="flexible-extract")
    expected = [
        s["exact_match"]
        for s in samples_of("EleutherAI__pythia-410m", "gsm8k")
        if s["filter"] == "flexible-extract"
    ]
    np.testing.assert_array_equal(flex.scores[1], expected)
    assert flex.models == ["EleutherAI/pythia-160m", "EleutherAI/pythia-410m"]


def test_harness_single_model_folder_and_single_file():
    one = io.read_results(HARNESS / "EleutherAI__pythia-410m")
    assert one.models == ["EleutherAI/pythia-410m"] and one.shape == (1, 18)
    file = next((HARNESS / "EleutherAI__pythia-410m").glob("samples_mmlu_anatomy_*.jsonl"))
    single = io.read_results(file)
    assert single.shape == (1, 5) and single.items[0] == "mmlu_anatomy/0"


def test_harness_errors(tmp_path):
    with pytest.raises(InvalidArgumentError, match="has no metric.*'bleu'.*metrics \\['acc'"):
        io.read_lm_eval_harness(HARNESS, metric="bleu")
    with pytest.raises(InvalidArgumentError, match="no samples with filter 'strict'"):
        io.read_lm_eval_harness(HARNESS, tasks=["gsm8k"], filter="strict")
    with pytest.raises(InvalidArgumentError, match="no samples_<task>_<timestamp>.jsonl"):
        io.read_lm_eval_harness(tmp_path)
    broken = tmp_path / "org__model"
    shutil.copytree(HARNESS / "EleutherAI__pythia-410m", broken)
    file = next(broken.glob("samples_mmlu_anatomy_*.jsonl"))
    file.write_text(file.read_text() + '{"doc_id": 9, "acc": \n')
    with pytest.raises(
        InvalidArgumentError, match=r"samples_mmlu_anatomy.*line 6 is not valid JSON"
    ):
        io.read_lm_eval_harness(tmp_path)
    lines = file.read_text().splitlines()[:5]
    file.write_text("\n".join(lines + [lines[0]]) + "\n")
    with pytest.raises(InvalidArgumentError, match="doc_id 0 appears twice"):
        io.read_lm_eval_harness(tmp_path)
    record = json.loads(lines[0])
    record["acc"] = [0.5, 3]
    file.write_text(json.dumps(record) + "\n")
    with pytest.raises(InvalidArgumentError, match="line 1: metric 'acc' is list"):
        io.read_lm_eval_harness(tmp_path)


# ------------------------------------------------------------------------------- writers


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_item_subset_and_parameters_round_trip(tmp_path, suffix):
    items = ["q1", "q7", "q9"]
    io.write_item_subset(tmp_path / f"a{suffix}", items, weights=[0.5, 0.25, 0.25], scenario="xxy")
    subset = io.read_item_subset(tmp_path / f"a{suffix}")
    assert subset["item"].tolist() == items and subset["weight"].tolist() == [0.5, 0.25, 0.25]
    assert subset["scenario"].tolist() == ["x", "x", "y"]
    a = np.array([[1.5, -0.25], [0.7, 0.1], [2.0, 0.0]])
    b = np.array([0.3, -1.2, 0.0])
    io.write_item_parameters(tmp_path / f"p{suffix}", items, a, b)
    names, a2, b2 = io.read_item_parameters(tmp_path / f"p{suffix}")
    assert names == items
    np.testing.assert_array_equal(a2, a)
    np.testing.assert_array_equal(b2, b)
    with pytest.raises(ShapeError, match="weights: has 2 entries for 3 items"):
        io.write_item_subset(tmp_path / f"a{suffix}", items, weights=[1, 2])
    with pytest.raises(ShapeError, match="n_items"):
        io.write_item_parameters(tmp_path / f"p{suffix}", items, a[:2], b)


def test_evaldata_checks_and_helpers():
    data = io.EvalData(np.eye(2), ["m1", "m2"], ["i1", "i2"], scenario=np.array(["s", "t"]))
    assert "2 models x 2 items" in repr(data)
    sub = data.select(items=["i2"])
    assert sub.scores.tolist() == [[0.0], [1.0]] and sub.scenario.tolist() == ["t"]
    assert data.to_wide().loc["m2", "i2"] == 1.0
    with pytest.raises(ShapeError, match="one name per row"):
        io.EvalData(np.eye(2), ["m1"], ["i1", "i2"])
    with pytest.raises(InvalidArgumentError, match="item ids must be unique"):
        io.EvalData(np.eye(2), ["m1", "m2"], ["i1", "i1"])
    with pytest.raises(InvalidArgumentError, match="unknown name"):
        data.select(models=["m3"])
