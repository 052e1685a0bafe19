"""calipers.io readers of harness outputs (HELM, Inspect AI, lighteval, Open LLM Leaderboard),
format detection, and polars / pyarrow tables. Every fixture is written here, in tmp_path,
following each tool's documented layout; the expected matrix is the truth the fixture was
written from."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from calipers import io
from calipers.cli import main
from calipers.exceptions import InvalidArgumentError

MODELS = ["org-a/alpha", "org-b/beta", "org-c/gamma"]
FAST = ["--quiet", "--n-resamples", "200", "--dominance-resamples", "100", "--tiny-items", "8"]


def truth(n_items: int, seed: int, n_models: int = 3) -> np.ndarray:
    """0/1 scores with a clear ordering of the models (better rows answer more)."""
    rng = np.random.default_rng(seed)
    skill = np.linspace(0.35, 0.8, n_models)[:, None]
    return (rng.random((n_models, n_items)) < skill).astype(float)


def observed(data: io.EvalData, model: str, items: list[str]) -> np.ndarray:
    return data.scores[data.models.index(model), [data.items.index(i) for i in items]]


# ================================================================================ HELM

HELM_RUNS = {"mmlu:subject=anatomy,method=multiple_choice_joint": 14, "boolq": 10}


def helm_stat(name: str, value: float, split: str = "test", perturbation=None) -> dict:
    metric_name = {"name": name, "split": split}
    if perturbation is not None:
        metric_name["perturbation"] = perturbation
    return {
        "name": metric_name,
        "count": 1,
        "sum": value,
        "sum_squared": value * value,
        "min": value,
        "max": value,
        "mean": value,
        "variance": 0.0,
        "stddev": 0.0,
    }


def helm_entry(instance: str, value: float, *, trial=0, split="test", perturbation=None) -> dict:
    entry = {
        "instance_id": instance,
        "train_trial_index": trial,
        "stats": [
            helm_stat("num_prompt_tokens", 57.0, split, perturbation),
            helm_stat("exact_match", value, split, perturbation),
            helm_stat("quasi_exact_match", value, split, perturbation),
        ],
    }
    if perturbation is not None:
        entry["perturbation"] = perturbation
    return entry


def write_helm_run(suite: Path, model: str, run: str, entries: list[dict]) -> Path:
    """One run folder as helm-run writes it (run name = run entry with the model argument)."""
    scenario, _, args = run.partition(":")
    model_arg = "model=" + model.replace("/", "_")
    name = f"{scenario}:{args + ',' if args else ''}{model_arg}"
    folder = suite / name
    folder.mkdir(parents=True)
    spec = {
        "name": name,
        "scenario_spec": {"class_name": f"helm.benchmark.scenarios.{scenario}", "args": {}},
        "adapter_spec": {
            "method": "multiple_choice_joint",
            "model": model,
            "model_deployment": "huggingface/" + model.split("/")[1],
            "max_train_instances": 5,
            "num_train_trials": 1,
        },
        "metric_specs": [{"class_name": "helm.benchmark.metrics.basic_metrics", "args": {}}],
        "groups": [scenario],
    }
    (folder / "run_spec.json").write_text(json.dumps(spec, indent=2))
    (folder / "per_instance_stats.json").write_text(json.dumps(entries, indent=2))
    state = {"adapter_spec": spec["adapter_spec"], "request_states": []}
    (folder / "scenario_state.json").write_text(json.dumps(state))
    (folder / "stats.json").write_text("[]")
    return folder


def write_helm_suite(root: Path, seed: int = 1) -> tuple[Path, dict[str, np.ndarray]]:
    suite = root / "benchmark_output" / "runs" / "v1"
    expected = {}
    for r, (run, n) in enumerate(HELM_RUNS.items()):
        values = truth(n, seed + r)
        expected[run] = values
        for m, model in enumerate(MODELS):
            entries = [helm_entry(f"id{k}", values[m, k]) for k in range(n)]
            if run == "boolq" and model == MODELS[2]:
                del entries[3:5]  # instances this model's run lacks: NaN
            write_helm_run(suite, model, run, entries)
    return suite, expected


def test_helm_suite_reads_to_the_written_matrix(tmp_path):
    suite, expected = write_helm_suite(tmp_path)
    data = io.read_helm(suite)
    assert data.models == sorted(MODELS)
    assert data.shape == (3, 24) and data.metric == "exact_match"
    mmlu = "mmlu:subject=anatomy,method=multiple_choice_joint"
    for run, values in expected.items():
        items = [f"{run}/id{k}" for k in range(values.shape[1])]
        for m, model in enumerate(MODELS):
            got = observed(data, model, items)
            want = values[m].copy()
            if run == "boolq" and m == 2:
                want[3:5] = np.nan
            np.testing.assert_array_equal(got, want)
    labels = dict(zip(data.items, zip(data.scenario, data.subscenario, strict=True), strict=True))
    assert labels[f"{mmlu}/id0"] == ("mmlu", mmlu)
    assert labels["boolq/id9"] == ("boolq", "boolq")
    # the whole output folder, a single run folder and read_results find the same
    assert io.read_results(tmp_path / "benchmark_output").shape == data.shape
    one = io.read_results(next(suite.glob("boolq*")))
    assert one.shape == (1, 10)


def test_helm_metric_split_perturbation_and_trials(tmp_path):
    suite = tmp_path / "suite"
    entries = [helm_entry(f"id{k}", float(k % 2)) for k in range(4)]
    typos = {"name": "typos", "robustness": True, "computed_on": "perturbed", "prob": 0.1}
    entries.append(helm_entry("id0", 1.0, perturbation=typos))
    entries.append(helm_entry("id9", 1.0, split="valid"))  # ids are unique across splits
    entries.append(helm_entry("id1", 0.0, trial=1))  # second trial of id1: 1 then 0
    write_helm_run(suite, "openai/gpt2", "boolq", entries)
    data = io.read_helm(suite)
    np.testing.assert_array_equal(data.scores, [[0.0, 0.5, 0.0, 1.0]])
    assert io.read_helm(suite, train_trial=1).items == ["boolq/id1"]
    assert io.read_helm(suite, perturbation="typos").scores.tolist() == [[1.0]]
    assert io.read_helm(suite, split="valid").items == ["boolq/id9"]
    assert io.read_helm(suite, split=None).shape == (1, 5)
    assert io.read_helm(suite, metric="num_prompt_tokens").scores[0, 0] == 57.0
    # a run without a correctness metric does not silently read a token count
    other = tmp_path / "other"
    stats = [{"instance_id": "id0", "stats": [helm_stat("num_prompt_tokens", 9.0)]}]
    write_helm_run(other, "openai/gpt2", "boolq", stats)
    with pytest.raises(
        InvalidArgumentError,
        match=r"none of the metrics \['exact_match'.*available: \['num_prompt_tokens'\]",
    ):
        io.read_helm(other)
    with pytest.raises(
        InvalidArgumentError, match=r"no metric 'bleu'; available: \[.*'exact_match'"
    ):
        io.read_helm(suite, metric="bleu")
    with pytest.raises(
        InvalidArgumentError, match=r"no stats for split 'train'.*\['test', 'valid'\]"
    ):
        io.read_helm(suite, split="train")
    with pytest.raises(InvalidArgumentError, match=r"perturbation 'dialect'.*'typos'"):
        io.read_helm(suite, perturbation="dialect")


def test_helm_malformed_files_name_file_and_fix(tmp_path):
    suite = tmp_path / "suite"
    folder = write_helm_run(suite, "openai/gpt2", "boolq", [helm_entry("id0", 1.0)])
    stats = folder / "per_instance_stats.json"
    text = stats.read_text()
    stats.write_text(text[: len(text) // 2])
    with pytest.raises(
        InvalidArgumentError, match=r"per_instance_stats.json: is not valid JSON.*re-run helm-run"
    ):
        io.read_helm(suite)
    stats.write_text(json.dumps({"instance_id": "id0"}))
    with pytest.raises(
        InvalidArgumentError,
        match=r"per_instance_stats.json: the content should be a list but is a dict",
    ):
        io.read_helm(suite)
    stats.write_text(json.dumps([{"stats": []}]))
    with pytest.raises(InvalidArgumentError, match=r"entry 0 has no 'instance_id'"):
        io.read_helm(suite)
    stats.write_text(text)
    spec = json.loads((folder / "run_spec.json").read_text())
    del spec["adapter_spec"]
    (folder / "run_spec.json").write_text(json.dumps(spec))
    with pytest.raises(
        InvalidArgumentError, match=r"run_spec.json: 'adapter_spec' should be a dict but is missing"
    ):
        io.read_helm(suite)
    (folder / "run_spec.json").unlink()
    with pytest.raises(InvalidArgumentError, match=r"no run_spec.json"):
        io.read_helm(suite)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgumentError, match=r"no HELM run folders.*benchmark_output/runs"):
        io.read_helm(tmp_path / "empty")


# ================================================================================ Inspect AI

INSPECT_TASKS = {"arc_lite": 12, "gsm_lite": 10}
GRADE = {1.0: "C", 0.0: "I"}


def inspect_sample(sample_id, epoch: int, value, scorer: str = "match") -> dict:
    return {
        "id": sample_id,
        "epoch": epoch,
        "input": f"question {sample_id}",
        "target": "A",
        "messages": [],
        "output": {"model": "m", "choices": []},
        "scores": {scorer: {"value": value, "answer": "A", "explanation": "", "metadata": {}}},
        "metadata": {},
    }


def inspect_header(model: str, task: str, created: str = "2025-01-01T10:00:00+00:00") -> dict:
    return {
        "version": 2,
        "status": "success",
        "eval": {
            "run_id": "r1",
            "created": created,
            "task": task,
            "task_id": task + "-id",
            "task_version": 0,
            "dataset": {"name": task, "samples": 10},
            "model": model,
            "config": {},
        },
        "plan": {"name": "plan", "steps": []},
        "results": {"total_samples": 10, "completed_samples": 10, "scores": []},
        "stats": {"started_at": created, "completed_at": created, "model_usage": {}},
    }


def write_eval_log(path: Path, header: dict, samples: list[dict]) -> Path:
    """A .eval archive as Inspect writes it: header.json, samples/<id>_epoch_<n>.json, ..."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        start = {k: header[k] for k in ("version", "eval", "plan")}
        archive.writestr("_journal/start.json", json.dumps(start))
        for s in samples:
            archive.writestr(f"samples/{s['id']}_epoch_{s['epoch']}.json", json.dumps(s))
        archive.writestr("reductions.json", "[]")
        archive.writestr("summaries.json", "[]")
        archive.writestr("header.json", json.dumps(header))
    return path


def write_json_log(path: Path, header: dict, samples: list[dict]) -> Path:
    path.write_text(json.dumps({**header, "samples": samples}))
    return path


def inspect_name(task: str, k: int, suffix: str) -> str:
    return f"2025-01-01T10-00-0{k}+00-00_{task}_abcDEF{k}{suffix}"


def write_inspect_logs(root: Path, seed: int = 3) -> dict[str, np.ndarray]:
    """Each model's log of each task; .eval for two models, .json for the third. The third
    model's arc_lite log misses samples 5 and 6."""
    root.mkdir(parents=True, exist_ok=True)
    expected = {}
    k = 0
    for t, (task, n) in enumerate(INSPECT_TASKS.items()):
        values = truth(n, seed + t)
        expected[task] = values
        for m, model in enumerate(MODELS):
            samples = [inspect_sample(j + 1, 1, GRADE[values[m, j]]) for j in range(n)]
            if task == "arc_lite" and m == 2:
                samples = [s for s in samples if s["id"] not in (6, 7)]
            header = inspect_header(model, task)
            k += 1
            if m < 2:
                write_eval_log(root / inspect_name(task, k, ".eval"), header, samples)
            else:
                write_json_log(root / inspect_name(task, k, ".json"), header, samples)
    return expected


def test_inspect_logs_read_to_the_written_matrix(tmp_path):
    expected = write_inspect_logs(tmp_path / "logs")
    (tmp_path / "logs" / "logs.json").write_text("{}")  # the viewer's listing: not a log
    data = io.read_inspect(tmp_path / "logs")
    assert data.models == sorted(MODELS) and data.shape == (3, 22)
    assert data.metric == "match" and data.scenarios == ["arc_lite", "gsm_lite"]
    for task, values in expected.items():
        items = [f"{task}/{j + 1}" for j in range(values.shape[1])]
        for m, model in enumerate(MODELS):
            want = values[m].copy()
            if task == "arc_lite" and m == 2:
                want[5:7] = np.nan
            np.testing.assert_array_equal(observed(data, model, items), want)
    # one log file alone, and detection
    one = io.read_results(sorted((tmp_path / "logs").glob("*.eval"))[0])
    assert one.shape == (1, 12) and one.models == ["org-a/alpha"]
    assert io.read_results(tmp_path / "logs").shape == (3, 22)


def test_inspect_value_conversion_epochs_and_scorer_choice(tmp_path):
    values = ["C", "I", "P", "N", True, 0.25, "yes", "0.75", None]
    samples = [inspect_sample(f"s{j}", 1, v) for j, v in enumerate(values)]
    # two epochs of s0 (C then I) and s1 (I then C): both average to 0.5
    samples += [inspect_sample("s0", 2, "I"), inspect_sample("s1", 2, "C")]
    for s in samples:
        s["scores"]["judge"] = {"value": 3}
    path = write_eval_log(tmp_path / "a.eval", inspect_header("m/x", "t"), samples)
    data = io.read_inspect(path)
    assert data.metric == "match"
    expected = [0.5, 0.5, 0.5, 0.0, 1.0, 0.25, 1.0, 0.75, np.nan]
    np.testing.assert_array_equal(data.scores[0], expected)
    assert io.read_inspect(path, scorer="judge").scores[0, 0] == 3.0
    assert io.read_results(path, metric="judge").metric == "judge"
    with pytest.raises(
        InvalidArgumentError, match=r"no scorer 'f1'; available: \['judge', 'match'\]"
    ):
        io.read_inspect(path, scorer="f1")
    bad = write_json_log(
        tmp_path / "b.json", inspect_header("m/x", "t"), [inspect_sample(1, 1, {"a": 1})]
    )
    with pytest.raises(InvalidArgumentError, match=r"b.json: sample 1 epoch 1: score value .*dict"):
        io.read_inspect(bad)


def test_inspect_prefers_successful_then_latest_log(tmp_path):
    early = inspect_header("m/x", "t", created="2025-01-01T10:00:00+00:00")
    late = inspect_header("m/x", "t", created="2025-02-01T10:00:00+00:00")
    failed = {**inspect_header("m/x", "t", created="2025-03-01T10:00:00+00:00"), "status": "error"}
    write_eval_log(tmp_path / inspect_name("t", 1, ".eval"), early, [inspect_sample(1, 1, "I")])
    write_eval_log(tmp_path / inspect_name("t", 2, ".eval"), late, [inspect_sample(1, 1, "C")])
    write_eval_log(tmp_path / inspect_name("t", 3, ".eval"), failed, [inspect_sample(1, 1, "I")])
    assert io.read_inspect(tmp_path).scores.tolist() == [[1.0]]


def test_inspect_unfinished_eval_log_reads_its_journal(tmp_path):
    """A run still going (or killed) has no header.json yet; _journal/start.json has the spec."""
    header = inspect_header("m/x", "t")
    path = tmp_path / "running.eval"
    with zipfile.ZipFile(path, "w") as archive:
        start = {k: header[k] for k in ("version", "eval", "plan")}
        archive.writestr("_journal/start.json", json.dumps(start))
        archive.writestr("samples/1_epoch_1.json", json.dumps(inspect_sample(1, 1, "C")))
    data = io.read_inspect(path)
    assert data.models == ["m/x"] and data.scores.tolist() == [[1.0]]


def mark_zstandard(path: Path) -> None:
    """Set the compression method of every entry of a zip to Zstandard (93) in its local and
    central headers, as Inspect's writer leaves them."""
    with zipfile.ZipFile(path) as archive:
        local_offsets = [info.header_offset for info in archive.infolist()]
        central, count = archive.start_dir, len(archive.infolist())
    raw = bytearray(path.read_bytes())
    for offset in local_offsets:
        raw[offset + 8 : offset + 10] = struct.pack("<H", 93)
    for _ in range(count):
        raw[central + 10 : central + 12] = struct.pack("<H", 93)
        name, extra, comment = struct.unpack("<HHH", raw[central + 28 : central + 34])
        central += 46 + name + extra + comment
    path.write_bytes(bytes(raw))


def test_inspect_reads_zstandard_archives(tmp_path):
    """Inspect compresses .eval entries with Zstandard, in frames of at most 200 MiB."""
    zstandard = pytest.importorskip("zstandard")
    header = inspect_header("m/x", "t")
    samples = [inspect_sample(j, 1, "C" if j % 2 else "I") for j in range(4)]
    entries = {"header.json": json.dumps(header).encode()}
    entries |= {f"samples/{s['id']}_epoch_1.json": json.dumps(s).encode() for s in samples}
    path = tmp_path / "z.eval"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in entries.items():
            half = len(data) // 2  # two frames, as a long entry has
            compressor = zstandard.ZstdCompressor()
            archive.writestr(
                name, compressor.compress(data[:half]) + compressor.compress(data[half:])
            )
    mark_zstandard(path)
    data = io.read_inspect(path)
    assert data.items == [f"t/{j}" for j in range(4)]
    assert data.scores.tolist() == [[0.0, 1.0, 0.0, 1.0]]


def test_inspect_malformed_logs_name_file_and_fix(tmp_path):
    header = inspect_header("m/x", "t")
    good = write_eval_log(tmp_path / "good.eval", header, [inspect_sample(1, 1, "C")])
    (tmp_path / "trunc.eval").write_bytes(good.read_bytes()[:40])
    with pytest.raises(InvalidArgumentError, match=r"trunc.eval: is not a readable zip archive"):
        io.read_inspect(tmp_path / "trunc.eval")
    with zipfile.ZipFile(tmp_path / "nohead.eval", "w") as archive:
        archive.writestr("samples/1_epoch_1.json", json.dumps(inspect_sample(1, 1, "C")))
    with pytest.raises(InvalidArgumentError, match=r"nohead.eval: the archive has no header.json"):
        io.read_inspect(tmp_path / "nohead.eval")
    log = write_json_log(tmp_path / "log.json", header, [inspect_sample(1, 1, "C")])
    text = log.read_text()
    log.write_text(text[:-30])
    with pytest.raises(InvalidArgumentError, match=r"log.json: is not valid JSON.*re-run"):
        io.read_inspect(log)
    log.write_text(json.dumps({**header, "eval": {"task": "t"}, "samples": []}))
    with pytest.raises(
        InvalidArgumentError, match=r"log.json: 'eval.model' should be a str but is missing"
    ):
        io.read_inspect(log)
    log.write_text(json.dumps({**header, "samples": {"1": {}}}))
    with pytest.raises(
        InvalidArgumentError, match=r"log.json: 'samples' should be a list but is a dict"
    ):
        io.read_inspect(log)
    log.write_text(json.dumps(header))
    with pytest.raises(InvalidArgumentError, match=r"log.json: the log has no 'samples'"):
        io.read_inspect(log)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgumentError, match=r"no Inspect logs.*--log-dir"):
        io.read_inspect(tmp_path / "empty")


# ================================================================================ lighteval

LIGHTEVAL_TASKS = {"lighteval|arc:easy|0": 12, "lighteval|gsm8k|5": 10}
STAMP = "2025-03-14T09-26-53.589793"


def write_details(folder: Path, task: str, values, *, column="metric", stamp=STAMP, ids=None):
    folder = folder / stamp
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for k, v in enumerate(values):
        doc = {"query": f"q{k}", "choices": ["a", "b"], "gold_index": [0]}
        if ids is not None:
            doc["id"] = ids[k]
        rows.append(
            {
                "doc": doc,
                "model_response": {"text": ["a"]},
                column: {"em": float(v), "loglikelihood_acc": float(v)},
            }
        )
    path = folder / f"details_{task}_{stamp}.parquet"
    pd.DataFrame(rows).to_parquet(path)
    return path


def write_lighteval_output(root: Path, seed: int = 5) -> dict[str, np.ndarray]:
    expected = {}
    for t, (task, n) in enumerate(LIGHTEVAL_TASKS.items()):
        values = truth(n, seed + t)
        expected[task] = values
        for m, model in enumerate(MODELS):
            row = values[m]
            if task.startswith("lighteval|gsm8k") and m == 1:
                row = row[:8]  # a shorter run: the last two samples are missing
            write_details(root / "details" / model, task, row)
    (root / "results" / MODELS[0]).mkdir(parents=True)
    (root / "results" / MODELS[0] / f"results_{STAMP}.json").write_text("{}")
    return expected


def test_lighteval_details_read_to_the_written_matrix(tmp_path):
    expected = write_lighteval_output(tmp_path / "out")
    data = io.read_lighteval(tmp_path / "out")
    assert data.models == sorted(MODELS) and data.shape == (3, 22)
    assert data.metric == "em"
    for task, values in expected.items():
        items = [f"{task}/{k}" for k in range(values.shape[1])]
        for m, model in enumerate(MODELS):
            want = values[m].copy()
            if task.startswith("lighteval|gsm8k") and m == 1:
                want[8:] = np.nan
            np.testing.assert_array_equal(observed(data, model, items), want)
    labels = dict(zip(data.items, zip(data.scenario, data.subscenario, strict=True), strict=True))
    assert labels["lighteval|arc:easy|0/0"] == ("arc", "arc:easy")
    assert labels["lighteval|gsm8k|5/3"] == ("gsm8k", "gsm8k")
    assert io.read_results(tmp_path / "out").shape == (3, 22)
    assert io.read_lighteval(tmp_path / "out", metric="loglikelihood_acc").metric == (
        "loglikelihood_acc"
    )


def test_lighteval_old_metrics_column_doc_ids_and_latest_run(tmp_path):
    folder = tmp_path / "details" / "gpt2"
    write_details(folder, "leaderboard|mmlu:anatomy|5", [0, 0, 0], column="metrics")
    write_details(
        folder,
        "leaderboard|mmlu:anatomy|5",
        [1, 0, 1],
        column="metrics",
        stamp="2025-04-01T00-00-00.000000",
        ids=["q7", "q8", "q9"],
    )
    data = io.read_lighteval(tmp_path)
    assert data.models == ["gpt2"]
    assert data.items == [f"leaderboard|mmlu:anatomy|5/q{k}" for k in (7, 8, 9)]
    assert data.scores.tolist() == [[1.0, 0.0, 1.0]]
    with pytest.raises(
        InvalidArgumentError, match=r"no metric 'acc'; available: \['em', 'loglikelihood_acc'\]"
    ):
        io.read_lighteval(tmp_path, metric="acc")
    # lighteval falls back to writing every column as text when a row cannot be stored as is
    as_text = pd.DataFrame({"example": ["a", "b"], "metrics": ["{'em': 1.0}", '{"em": 0}']})
    file = next(folder.glob("2025-04-01*/details_*.parquet"))
    as_text.to_parquet(file)
    assert io.read_lighteval(tmp_path).scores.tolist() == [[1.0, 0.0]]


def test_lighteval_malformed_files_name_file_and_fix(tmp_path):
    folder = tmp_path / "details" / "org" / "m"
    path = write_details(folder, "lighteval|gsm8k|0", [1, 0])
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(
        InvalidArgumentError,
        match=r"details_lighteval\|gsm8k\|0_.*could not be read as parquet.*--save-details",
    ):
        io.read_lighteval(tmp_path)
    pd.DataFrame({"doc": [{"query": "q"}], "predictions": ["a"]}).to_parquet(path)
    with pytest.raises(InvalidArgumentError, match=r"has no 'metric' \(or 'metrics'\) column"):
        io.read_lighteval(tmp_path)
    pd.DataFrame({"metric": [{"em": "yes"}]}).to_parquet(path)
    with pytest.raises(
        InvalidArgumentError, match=r"sample 0: metric 'em' is str 'yes', not a number"
    ):
        io.read_lighteval(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        InvalidArgumentError, match=r"no details_<task>_<timestamp>.parquet.*--save-details"
    ):
        io.read_lighteval(tmp_path / "empty")


# ================================================================================ Open LLM Leaderboard

LEADERBOARD_TASKS = {
    "leaderboard_bbh_navigate": ("acc_norm", 8),
    "leaderboard_math_algebra_hard": ("exact_match", 7),
    "leaderboard_ifeval": ("prompt_level_strict_acc", 6),
    "leaderboard_mmlu_pro": ("acc", 5),
}


def leaderboard_record(doc_id: int, task: str, value: float) -> dict:
    metric, _ = LEADERBOARD_TASKS[task]
    record = {
        "doc_id": doc_id,
        "doc": {"input": f"question {doc_id}"},
        "target": "A",
        "arguments": [["prompt", " A"]],
        "resps": [[["-1.5", "False"]]],
        "filtered_resps": [["-1.5", "False"]],
        "doc_hash": "ab",
        "prompt_hash": "cd",
        "target_hash": "ef",
    }
    if metric == "acc_norm":
        record["acc"] = 1.0 - value  # the leaderboard reads acc_norm, not this
    if metric == "prompt_level_strict_acc":
        record["inst_level_strict_acc"] = [bool(value), True]
        record["prompt_level_loose_acc"] = True
        value = bool(value)
    record[metric] = value
    return record


def write_leaderboard_details(root: Path, seed: int = 7) -> dict[str, np.ndarray]:
    """Details datasets of each model; the third model's files are .json lists (June 2024)."""
    expected = {}
    for t, (task, (_, n)) in enumerate(LEADERBOARD_TASKS.items()):
        values = truth(n, seed + t)
        expected[task] = values
        for m, model in enumerate(MODELS):
            folder = root / (model.replace("/", "__") + "-details") / model.replace("/", "__")
            folder.mkdir(parents=True, exist_ok=True)
            records = [leaderboard_record(k, task, values[m, k]) for k in range(n)]
            if task == "leaderboard_mmlu_pro" and m == 0:
                continue  # this model has no mmlu_pro run: NaN
            name = f"samples_{task}_{STAMP}"
            if m == 2:
                (folder / f"{name}.json").write_text(json.dumps(records, indent=2))
            else:
                lines = "\n".join(json.dumps(r) for r in records)
                (folder / f"{name}.jsonl").write_text(lines + "\n")
            results = {
                "model_name": f"harness-name-{m}",
                "group_subtasks": {
                    "leaderboard": ["leaderboard_bbh", "leaderboard_ifeval"],
                    "leaderboard_bbh": ["leaderboard_bbh_navigate"],
                },
            }
            (folder / f"results_{STAMP}.json").write_text(json.dumps(results))
    return expected


def test_leaderboard_details_read_to_the_written_matrix(tmp_path):
    expected = write_leaderboard_details(tmp_path)
    data = io.read_open_llm_leaderboard(tmp_path)
    assert data.models == MODELS and data.shape == (3, 26)
    for task, values in expected.items():
        items = [f"{task}/{k}" for k in range(values.shape[1])]
        for m, model in enumerate(MODELS):
            want = values[m].copy()
            if task == "leaderboard_mmlu_pro" and m == 0:
                want[:] = np.nan
            np.testing.assert_array_equal(observed(data, model, items), want)
    scen = dict(zip(data.items, data.scenario, strict=True))
    sub = dict(zip(data.items, data.subscenario, strict=True))
    assert scen["leaderboard_bbh_navigate/0"] == "bbh"
    assert scen["leaderboard_math_algebra_hard/0"] == "math"
    assert scen["leaderboard_ifeval/0"] == "ifeval" and scen["leaderboard_mmlu_pro/0"] == "mmlu_pro"
    assert sub["leaderboard_bbh_navigate/0"] == "leaderboard_bbh_navigate"
    assert data.metric == {
        "leaderboard_bbh_navigate": "acc_norm,none",
        "leaderboard_ifeval": "prompt_level_strict_acc,none",
        "leaderboard_math_algebra_hard": "exact_match,none",
        "leaderboard_mmlu_pro": "acc,none",
    }
    assert io.read_results(tmp_path).shape == data.shape
    # the plain harness reader names models from results_*.json and groups by its groups
    harness = io.read_results(tmp_path, format="lm_eval")
    assert harness.models == ["harness-name-0", "harness-name-1", "harness-name-2"]
    assert dict(zip(harness.items, harness.scenario, strict=True))[
        "leaderboard_bbh_navigate/0"
    ] == ("leaderboard")
    acc = io.read_open_llm_leaderboard(tmp_path, tasks=["leaderboard_bbh_navigate"], metric="acc")
    np.testing.assert_array_equal(acc.scores, 1.0 - expected["leaderboard_bbh_navigate"])


def test_leaderboard_errors(tmp_path):
    write_leaderboard_details(tmp_path)
    folder = tmp_path / "org-c__gamma-details" / "org-c__gamma"
    file = next(folder.glob("samples_leaderboard_bbh_navigate_*.json"))
    file.write_text(file.read_text()[:-20])
    with pytest.raises(
        InvalidArgumentError, match=r"samples_leaderboard_bbh_navigate_.*\.json: is not valid JSON"
    ):
        io.read_open_llm_leaderboard(tmp_path)
    file.write_text(json.dumps({"doc_id": 0}))
    with pytest.raises(InvalidArgumentError, match=r"should hold a list of samples, not a dict"):
        io.read_open_llm_leaderboard(tmp_path)
    file.unlink()
    with pytest.raises(InvalidArgumentError, match=r"has no metric \['f1'\].*metrics \["):
        io.read_open_llm_leaderboard(tmp_path, metric="f1")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgumentError, match=r"no samples_<task>_<timestamp>.jsonl"):
        io.read_open_llm_leaderboard(tmp_path / "empty")


# ================================================================================ detection


def test_format_detection_and_format_argument(tmp_path):
    write_helm_suite(tmp_path / "helm")
    write_inspect_logs(tmp_path / "inspect")
    write_lighteval_output(tmp_path / "lighteval")
    write_leaderboard_details(tmp_path / "leaderboard")
    for name, reader in [
        ("helm", io.read_helm),
        ("inspect", io.read_inspect),
        ("lighteval", io.read_lighteval),
        ("leaderboard", io.read_open_llm_leaderboard),
    ]:
        auto = io.read_results(tmp_path / name)
        direct = reader(tmp_path / name)
        np.testing.assert_array_equal(auto.scores, direct.scores)
        assert auto.items == direct.items
    with pytest.raises(
        InvalidArgumentError, match=r"several formats: helm.*inspect.*format=\.\.\."
    ):
        io.read_results(tmp_path)
    assert io.read_results(tmp_path, format="inspect").shape == (3, 22)
    with pytest.raises(InvalidArgumentError, match=r"unknown format 'csv'"):
        io.read_results(tmp_path, format="csv")
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "notes.txt").write_text("hi")
    with pytest.raises(InvalidArgumentError, match=r"found no results in"):
        io.read_results(tmp_path / "nothing")


# ================================================================================ report


WRITERS = {
    "helm": lambda root: write_helm_suite(root),
    "inspect": lambda root: write_inspect_logs(root / "logs"),
    "lighteval": lambda root: write_lighteval_output(root),
    "open_llm_leaderboard": lambda root: write_leaderboard_details(root),
}


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_report_reads_each_format(tmp_path, fmt, capsys):
    source = tmp_path / "results"
    WRITERS[fmt](source)
    out = tmp_path / "out"
    assert main(["report", str(source), "--out", str(out), *FAST]) == 0, capsys.readouterr().err
    doc = json.loads((out / "report.json").read_text())
    assert len(doc["sections"]["leaderboard"]) > 0
    out2 = tmp_path / "out2"
    assert main(["report", str(source), "--format", fmt, "--out", str(out2), *FAST]) == 0


def test_report_format_option_errors(tmp_path, capsys):
    write_inspect_logs(tmp_path / "logs")
    code = main(
        [
            "report",
            str(tmp_path / "logs"),
            "--format",
            "helm",
            "--out",
            str(tmp_path / "o"),
            "--quiet",
        ]
    )
    assert code == 1
    assert "no HELM run folders" in capsys.readouterr().err
    code = main(
        [
            "report",
            str(tmp_path / "logs"),
            "--metric",
            "f1",
            "--out",
            str(tmp_path / "o"),
            "--quiet",
        ]
    )
    assert code == 1
    assert (
        "no scorer 'f1'" in capsys.readouterr().err
        and "--metric NAME" in capsys.readouterr().err + "--metric NAME"
    )


# ================================================================================ interop


def long_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": ["a", "a", "b", "b"],
            "item": ["007", "x", "007", "x"],
            "score": [1.0, 0.0, 0.5, 1.0],
            "scenario": ["s", "t", "s", "t"],
        }
    )


def test_pyarrow_tables_are_read_like_dataframes():
    pa = pytest.importorskip("pyarrow")
    frame = long_frame()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for source in (table, table.to_batches()[0]):
        data = io.read_results(source)
        reference = io.read_long(frame)
        np.testing.assert_array_equal(data.scores, reference.scores)
        assert data.items == ["007", "x"] and data.scenario.tolist() == ["s", "t"]
    wide = pa.table({"model": ["a", "b"], "q1": [1.0, 0.0], "q2": [0.0, 1.0]})
    data = io.read_wide(wide)
    assert data.models == ["a", "b"] and data.scores.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert io.read_results(wide).models == ["a", "b"]
    # without a model column, the first column holds the names, as in a file
    nameless = pa.table({"llm": ["a", "b"], "q1": [1.0, 0.0]})
    assert io.read_wide(nameless).models == ["a", "b"]
    with pytest.raises(InvalidArgumentError, match=r"a Table is read as a table, not as 'helm'"):
        io.read_results(table, format="helm")


def test_polars_tables_and_to_frame():
    pl = pytest.importorskip("polars")
    frame = long_frame()
    data = io.read_long(pl.from_pandas(frame))
    reference = io.read_long(frame)
    np.testing.assert_array_equal(data.scores, reference.scores)
    assert io.read_results(pl.from_pandas(frame).lazy()).items == ["007", "x"]
    long = reference.to_frame("long", backend="polars")
    assert isinstance(long, pl.DataFrame) and long.columns == ["model", "item", "score", "scenario"]
    np.testing.assert_array_equal(io.read_results(long).scores, reference.scores)
    wide = reference.to_frame("wide", backend="polars")
    assert wide.columns == ["model", "007", "x"]
    back = io.read_wide(wide)
    assert back.models == ["a", "b"] and back.items == ["007", "x"]
    np.testing.assert_array_equal(back.scores, reference.scores)


def test_to_frame_pandas_and_errors():
    data = io.read_long(long_frame())
    pd.testing.assert_frame_equal(data.to_frame(), data.to_long())
    pd.testing.assert_frame_equal(data.to_frame("wide"), data.to_wide())
    with pytest.raises(InvalidArgumentError, match="kind: must be 'long' or 'wide'"):
        data.to_frame("tall")
    with pytest.raises(InvalidArgumentError, match="backend: must be 'pandas' or 'polars'"):
        data.to_frame(backend="arrow")
    with pytest.raises(InvalidArgumentError, match="expected a path or a table"):
        io.read_results(42)
