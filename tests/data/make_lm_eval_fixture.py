"""Writes tests/data/lm_eval/: a small lm-evaluation-harness ``--log_samples`` output folder.

The layout and field names follow the harness (``<output_path>/<model_name_sanitized>/``
with ``results_<timestamp>.json`` and ``samples_<task>_<timestamp>.jsonl``; each sample line has
doc_id, doc, target, arguments, resps, filtered_resps, filter, metrics, the three hashes and one
field per metric). The questions and scores are invented. Run from the repository root:

    python tests/data/make_lm_eval_fixture.py
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path

OUT = Path(__file__).resolve().parent / "lm_eval"
STAMP = "2025-03-14T09-26-53.589793"
OLD_STAMP = "2025-03-01T17-02-11.004512"

# model -> (skill, tasks it was run on)
MODELS = {
    "EleutherAI/pythia-160m": (
        0.35,
        ["arc_easy", "mmlu_abstract_algebra", "mmlu_anatomy", "gsm8k"],
    ),
    "EleutherAI/pythia-410m": (
        0.55,
        ["arc_easy", "mmlu_abstract_algebra", "mmlu_anatomy", "gsm8k"],
    ),
    "HuggingFaceTB/SmolLM2-135M": (0.45, ["arc_easy", "mmlu_abstract_algebra", "mmlu_anatomy"]),
}
N_DOCS = {"arc_easy": 6, "mmlu_abstract_algebra": 4, "mmlu_anatomy": 5, "gsm8k": 3}
GROUPS = {
    "mmlu": ["mmlu_stem"],
    "mmlu_stem": ["mmlu_abstract_algebra", "mmlu_anatomy"],
    "arc_easy": [],
    "gsm8k": [],
}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def choice_sample(task: str, doc_id: int, rng: random.Random, skill: float) -> dict:
    choices = [f"option {c} of question {doc_id}" for c in "ABCD"]
    gold = rng.randrange(4)
    question = f"{task.replace('_', ' ')} question number {doc_id}?"
    loglik = [round(-rng.uniform(1.0, 6.0), 4) for _ in choices]
    if rng.random() < skill:
        loglik[gold] = max(loglik) + 0.5
    pred = max(range(4), key=lambda k: loglik[k])
    norm = [ll / len(c) for ll, c in zip(loglik, choices, strict=True)]
    pred_norm = max(range(4), key=lambda k: norm[k])
    context = f"Question: {question}\nAnswer:"
    doc = {
        "question": question,
        "choices": {"text": choices, "label": list("ABCD")},
        "answerKey": "ABCD"[gold],
    }
    if task.startswith("mmlu"):
        doc = {"question": question, "subject": task[5:], "choices": choices, "answer": gold}
        context = f"The following are multiple choice questions about {task[5:].replace('_', ' ')}.\n\n{question}\nAnswer:"
    sample = {
        "doc_id": doc_id,
        "doc": doc,
        "target": gold,
        "arguments": {
            f"gen_args_{k}": {"arg_0": context, "arg_1": f" {c}"} for k, c in enumerate(choices)
        },
        "resps": [[[str(ll), "False"]] for ll in loglik],
        "filtered_resps": [[str(ll), "False"] for ll in loglik],
        "filter": "none",
        "metrics": ["acc", "acc_norm"] if task == "arc_easy" else ["acc"],
        "doc_hash": sha(json.dumps(doc, indent=2)),
        "prompt_hash": sha(context),
        "target_hash": sha(str(gold)),
        "acc": 1.0 if pred == gold else 0.0,
    }
    if task == "arc_easy":
        sample["acc_norm"] = 1.0 if pred_norm == gold else 0.0
    return sample


def gsm8k_samples(doc_id: int, rng: random.Random, skill: float) -> list[dict]:
    a, b = rng.randrange(2, 40), rng.randrange(2, 40)
    question = f"Sam has {a} apples and buys {b} more. How many apples does Sam have now?"
    answer = f"Sam has {a} + {b} = {a + b} apples.\n#### {a + b}"
    right = rng.random() < skill
    said = a + b if right else a + b + rng.randrange(1, 5)
    text = f" He has {a} and buys {b}, so {said}. The answer is {said}."
    doc = {"question": question, "answer": answer}
    context = f"Question: {question}\nAnswer:"
    out = []
    for filt, extracted, score in [
        ("strict-match", "[invalid]", 0.0),  # no "#### n" line in the generation
        ("flexible-extract", str(said), 1.0 if right else 0.0),
    ]:
        out.append(
            {
                "doc_id": doc_id,
                "doc": doc,
                "target": answer,
                "arguments": {
                    "gen_args_0": {
                        "arg_0": context,
                        "arg_1": {"until": ["Question:"], "do_sample": False},
                    }
                },
                "resps": [[text]],
                "filtered_resps": [extracted],
                "filter": filt,
                "metrics": ["exact_match"],
                "doc_hash": sha(json.dumps(doc, indent=2)),
                "prompt_hash": sha(context),
                "target_hash": sha(answer),
                "exact_match": score,
            }
        )
    return out


def results_json(model: str, tasks: list[str], samples: dict[str, list[dict]]) -> dict:
    res = {}
    for task in tasks:
        rows = [s for s in samples[task] if s["filter"] in ("none", "flexible-extract")]
        metric = "exact_match" if task == "gsm8k" else "acc"
        filt = "flexible-extract" if task == "gsm8k" else "none"
        res[task] = {"alias": task, f"{metric},{filt}": sum(r[metric] for r in rows) / len(rows)}
    return {
        "results": res,
        "group_subtasks": {g: m for g, m in GROUPS.items() if g in tasks or g.startswith("mmlu")},
        "configs": {t: {"task": t, "num_fewshot": 0} for t in tasks},
        "versions": {t: 1.0 for t in tasks},
        "n-shot": {t: 0 for t in tasks},
        "config": {
            "model": "hf",
            "model_args": f"pretrained={model},dtype=float32",
            "batch_size": "8",
        },
        "model_source": "hf",
        "model_name": model,
        "model_name_sanitized": model.replace("/", "__"),
        "date": 1741944413.0,
    }


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    for m_index, (model, (skill, tasks)) in enumerate(MODELS.items()):
        folder = OUT / model.replace("/", "__")
        folder.mkdir(parents=True)
        samples: dict[str, list[dict]] = {}
        for t_index, task in enumerate(tasks):
            rng = random.Random(1000 * m_index + t_index)
            if task == "gsm8k":
                rows = [s for d in range(N_DOCS[task]) for s in gsm8k_samples(d, rng, skill)]
            else:
                rows = [choice_sample(task, d, rng, skill) for d in range(N_DOCS[task])]
            samples[task] = rows
            with open(folder / f"samples_{task}_{STAMP}.jsonl", "w") as fh:
                fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (folder / f"results_{STAMP}.json").write_text(
            json.dumps(results_json(model, tasks, samples), indent=2) + "\n"
        )
        if m_index == 0:
            # An older run of one task: readers must use the latest one.
            rng = random.Random(99)
            old = [choice_sample("arc_easy", d, rng, 0.0) for d in range(N_DOCS["arc_easy"])]
            for r in old:
                r["acc"] = 0.0
            with open(folder / f"samples_arc_easy_{OLD_STAMP}.jsonl", "w") as fh:
                fh.writelines(json.dumps(r) + "\n" for r in old)


if __name__ == "__main__":
    main()
