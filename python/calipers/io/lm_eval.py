"""lm-evaluation-harness ``--log_samples`` output folders."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import InvalidArgumentError, ShapeError
from .evaldata import EvalData

# The harness names sample files samples_<task>_<datetime.isoformat() with ':' -> '-'>.jsonl
# (one JSON object per line); earlier releases wrote .json files holding one JSON list.
_SAMPLES_RE = re.compile(
    r"^samples_(?P<task>.+)_(?P<stamp>\d{4}-\d{2}-\d{2}T[0-9.\-]+)\.(?P<ext>jsonl?)(?:\.gz)?$"
)
_RESULTS_RE = re.compile(r"^results_(?P<stamp>\d{4}-\d{2}-\d{2}T[0-9.\-]+)\.json$")
# Per-sample bookkeeping fields written by the harness; everything else scalar is a metric.
_HARNESS_FIELDS = {
    "doc_id",
    "doc",
    "target",
    "arguments",
    "resps",
    "filtered_resps",
    "filter",
    "metrics",
    "doc_hash",
    "prompt_hash",
    "target_hash",
}


# --------------------------------------------------------------------------------------------
# lm-evaluation-harness --log_samples output


def read_lm_eval_harness(
    path: str | Path,
    *,
    metric: str | Sequence[str] | Mapping[str, str] | None = None,
    filter: str | None = None,  # noqa: A002 - the harness's own name for it
    tasks: Iterable[str] | None = None,
) -> EvalData:
    """Read an lm-evaluation-harness ``--log_samples`` output folder.

    The harness writes, for each model, ``<output_path>/<model_name_sanitized>/`` holding
    ``results_<timestamp>.json`` and one ``samples_<task>_<timestamp>.jsonl`` per task (earlier
    releases wrote ``.json`` files holding a list of the same records, read too). Each
    sample line has ``doc_id``, ``filter`` (``"none"``, ``"strict-match"``, ...), ``metrics``
    (the metric names) and one field per metric (``acc``, ``acc_norm``, ``exact_match``, ...).

    Parameters
    ----------
    path : str or Path
        The output folder (with one sub-folder per model, or the files of one model directly)
        or a single ``samples_*.jsonl`` file.
    metric : str, sequence of str or mapping task -> str, optional
        Which metric becomes the score. A sequence is an order of preference (the first one a
        task has is used). Default: each task's first listed metric (``acc`` for
        multiple-choice tasks, ``exact_match`` for generation tasks).
    filter : str, optional
        Which filter's samples to use for tasks logged under several filters (e.g. GSM8K's
        ``strict-match`` and ``flexible-extract``). Default: ``"none"`` if present, else the
        first filter in the file. The chosen one is recorded in ``metric`` as ``name,filter``.
    tasks : iterable of str, optional
        Read only these tasks.

    Returns
    -------
    EvalData
        Items are ``"<task>/<doc_id>"``, models the ``model_name`` of ``results_*.json`` (else
        the folder name with ``__`` read as ``/``); models with none of the selected tasks are
        left out, tasks a model was not run on are NaN. ``subscenario`` is the task and ``scenario`` its
        top-level group from ``results_*.json`` (``group_subtasks``; e.g. ``mmlu`` for
        ``mmlu_anatomy``), or the task itself. ``metric`` maps each task to ``"name,filter"``.
        When a model has several runs of one task, the latest timestamp is used.
    """
    return _read_harness(Path(path), metric=metric, filter_name=filter, tasks=tasks)


def _read_harness(
    root: Path,
    *,
    metric: str | Sequence[str] | Mapping[str, str] | None,
    filter_name: str | None,
    tasks: Iterable[str] | None,
    model_name: Callable[[Path, dict[str, Any]], str] | None = None,
    groups: Callable[[dict[str, Any], Iterable[str]], dict[str, str]] | None = None,
    default_metrics: Callable[[str], Sequence[str]] | None = None,
) -> EvalData:
    """The harness reader, with hooks for layouts that differ (Open LLM Leaderboard): how a
    model folder is named, how tasks group into scenarios, which metric a task reads by
    default."""
    if not root.exists():
        raise InvalidArgumentError(f"path: {root} does not exist; check the path")
    wanted = set(tasks) if tasks is not None else None
    runs = _harness_runs(root)
    if not runs:
        raise InvalidArgumentError(
            f"path: no samples_<task>_<timestamp>.jsonl files in {root} or its sub-folders; "
            "run lm_eval with --log_samples --output_path <folder> and pass that folder"
        )
    per_model: dict[str, dict[str, dict[str, float]]] = {}
    task_metric: dict[str, str] = {}
    group_of: dict[str, str] = {}
    for model_dir, files in runs:
        results = _latest_results(model_dir)
        model = (model_name or _harness_model_name)(model_dir, results)
        if model in per_model:
            raise InvalidArgumentError(
                f"path: two folders hold results of model {model!r} (the second is "
                f"{model_dir}); keep one folder per model"
            )
        group_of.update(groups(results, files) if groups else _top_groups(results))
        scores: dict[str, dict[str, float]] = {}
        for task, file in files.items():
            if wanted is not None and task not in wanted:
                continue
            defaults = default_metrics(task) if default_metrics else ()
            doc_scores, chosen = _read_samples_file(file, metric, filter_name, task, defaults)
            if task in task_metric and task_metric[task] != chosen:
                raise InvalidArgumentError(
                    f"{file}: task {task!r} was scored by {chosen!r} here but by "
                    f"{task_metric[task]!r} for another model; pass metric=... and filter=... "
                    "to choose the same for all models"
                )
            task_metric[task] = chosen
            scores[task] = doc_scores
        per_model[model] = scores
    return _harness_matrix(per_model, task_metric, group_of, root)


def _harness_runs(root: Path) -> list[tuple[Path, dict[str, Path]]]:
    """(model folder, {task: latest samples file}) for the folder and its sub-folders."""
    if root.is_file():
        m = _SAMPLES_RE.match(root.name)
        if m is None:
            raise InvalidArgumentError(f"path: {root} is not a samples_<task>_<timestamp>.jsonl")
        return [(root.parent, {m["task"]: root})]
    by_dir: dict[Path, dict[str, tuple[str, Path]]] = {}
    for file in sorted(root.rglob("samples_*.json*")):
        m = _SAMPLES_RE.match(file.name)
        if m is None:
            continue
        tasks = by_dir.setdefault(file.parent, {})
        previous = tasks.get(m["task"])
        if previous is None or m["stamp"] > previous[0]:
            tasks[m["task"]] = (m["stamp"], file)
    return [
        (d, {t: f for t, (_, f) in sorted(tasks.items())}) for d, tasks in sorted(by_dir.items())
    ]


def _latest_results(model_dir: Path) -> dict[str, Any]:
    files = sorted(
        (m["stamp"], f)
        for f in model_dir.glob("results_*.json")
        if (m := _RESULTS_RE.match(f.name)) is not None
    )
    if not files:
        return {}
    file = files[-1][1]
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidArgumentError(f"{file}: is not valid JSON ({exc})") from None


def _harness_model_name(model_dir: Path, results: dict[str, Any]) -> str:
    name = results.get("model_name")
    if isinstance(name, str) and name:
        return name
    args = (results.get("config") or {}).get("model_args")
    if isinstance(args, str):
        for key in ("peft=", "delta=", "pretrained=", "model=", "path=", "engine="):
            if key in args:
                return args.split(key, 1)[1].split(",", 1)[0]
    # The harness sanitises "org/name" into the folder name "org__name".
    return model_dir.name.replace("__", "/", 1)


def _top_groups(results: dict[str, Any]) -> dict[str, str]:
    """Task -> its top-level group, from ``group_subtasks`` (group -> member tasks/groups)."""
    groups = results.get("group_subtasks") or {}
    if not isinstance(groups, dict):
        return {}
    parent = {
        member: group
        for group, members in groups.items()
        for member in members or []
        if member != group
    }
    out = {}
    for task in parent:
        top, hops = task, 0
        while top in parent and hops < 100:
            top, hops = parent[top], hops + 1
        out[task] = top
    return out


def _open_text(file: Path):
    if file.suffix == ".gz":
        return gzip.open(file, "rt", encoding="utf-8")
    return open(file, encoding="utf-8")


def _read_samples_file(
    file: Path,
    metric: str | Sequence[str] | Mapping[str, str] | None,
    filter_name: str | None,
    task: str,
    defaults: Sequence[str] = (),
) -> tuple[dict[str, float], str]:
    """{doc_id: score} for the chosen metric and filter, and the chosen ``name,filter``."""
    records: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for place, rec in _sample_records(file):
        if not isinstance(rec, dict) or "doc_id" not in rec:
            raise InvalidArgumentError(
                f"{file}: {place} has no 'doc_id'; is this a lm-evaluation-harness samples file?"
            )
        records.setdefault(str(rec.get("filter", "none")), []).append((place, rec))
    if not records:
        raise ShapeError(f"{file}: the samples file is empty")
    chosen_filter = _choose_filter(records, filter_name, file)
    rows = records[chosen_filter]
    name = _choose_metric(rows[0][1], metric, task, file, defaults)
    out: dict[str, float] = {}
    for place, rec in rows:
        doc = str(rec["doc_id"])
        if doc in out:
            raise InvalidArgumentError(
                f"{file}: doc_id {doc} appears twice under filter {chosen_filter!r} (again at "
                f"{place}); the file may hold two runs appended, keep one"
            )
        out[doc] = _metric_value(rec, name, file, place)
    return out, f"{name},{chosen_filter}"


def _sample_records(file: Path) -> Iterator[tuple[str, Any]]:
    """(place in the file, parsed record): one per line of a .jsonl file, one per element of
    the list in a .json file."""
    m = _SAMPLES_RE.match(file.name)
    with _open_text(file) as fh:
        if m is not None and m["ext"] == "json":
            try:
                records = json.load(fh)
            except json.JSONDecodeError as exc:
                raise InvalidArgumentError(
                    f"{file}: is not valid JSON ({exc.msg} at line {exc.lineno}); the file may "
                    "be truncated, re-run or delete it"
                ) from None
            if not isinstance(records, list):
                raise InvalidArgumentError(
                    f"{file}: a .json samples file should hold a list of samples, not a "
                    f"{type(records).__name__}; is this a lm-evaluation-harness samples file?"
                )
            for k, rec in enumerate(records):
                yield f"record {k}", rec
            return
        for lineno, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                rec = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InvalidArgumentError(
                    f"{file}: line {lineno} is not valid JSON ({exc.msg}); the file may be "
                    "truncated, re-run or delete it"
                ) from None
            yield f"line {lineno}", rec


def _choose_filter(
    records: dict[str, list[tuple[str, dict[str, Any]]]], wanted: str | None, file: Path
) -> str:
    if wanted is not None:
        if wanted not in records:
            raise InvalidArgumentError(
                f"{file}: no samples with filter {wanted!r}; filters present: {list(records)}"
            )
        return wanted
    return "none" if "none" in records else next(iter(records))


def _metric_names(rec: dict[str, Any]) -> list[str]:
    listed = rec.get("metrics")
    if isinstance(listed, list) and listed:
        return [str(m) for m in listed]
    return [
        k
        for k, v in rec.items()
        if k not in _HARNESS_FIELDS
        and isinstance(v, bool | int | float)
        and not k.endswith("_hash")
    ]


def _choose_metric(
    rec: dict[str, Any],
    metric: str | Sequence[str] | Mapping[str, str] | None,
    task: str,
    file: Path,
    defaults: Sequence[str] = (),
) -> str:
    available = _metric_names(rec)
    if isinstance(metric, Mapping):
        if task not in metric:
            raise InvalidArgumentError(
                f"metric: no metric given for task {task!r} ({file}); add it to the mapping "
                f"(its metrics: {available})"
            )
        prefs: list[str] = [metric[task]]
    elif isinstance(metric, str):
        prefs = [metric]
    elif metric is None:
        prefs = [*defaults, *available[:1]]
    else:
        prefs = list(metric)
    for name in prefs:
        if name in rec:
            return name
    raise InvalidArgumentError(
        f"{file}: task {task!r} has no metric {prefs if prefs else ''}; its samples have "
        f"metrics {available}; pass metric=... naming one of them"
    )


def _metric_value(rec: dict[str, Any], name: str, file: Path, place: str) -> float:
    value = rec.get(name)
    if isinstance(value, bool | int | float) and not isinstance(value, complex):
        return float(value)
    if value is None and name in rec:
        return np.nan
    raise InvalidArgumentError(
        f"{file}: {place}: metric {name!r} is {type(value).__name__} {str(value)[:40]!r}, "
        "not a number; per-sample values of corpus metrics (bleu, perplexity) cannot be used "
        "as item scores, choose a per-item metric with metric=..."
    )


def _harness_matrix(
    per_model: dict[str, dict[str, dict[str, float]]],
    task_metric: dict[str, str],
    group_of: dict[str, str],
    root: Path,
) -> EvalData:
    # Item order: tasks sorted by (group, task), documents in the order first seen.
    tasks = sorted(task_metric, key=lambda t: (group_of.get(t, t), t))
    docs: dict[str, dict[str, None]] = {t: {} for t in tasks}
    for scores in per_model.values():
        for task, doc_scores in scores.items():
            docs[task].update(dict.fromkeys(doc_scores))
    items = [f"{t}/{d}" for t in tasks for d in docs[t]]
    if not items:
        raise ShapeError(f"path: no samples were read from {root}; check the tasks= filter")
    column = {item: j for j, item in enumerate(items)}
    # A model none of whose tasks were selected has no row.
    models = [m for m, scores in per_model.items() if scores]
    matrix = np.full((len(models), len(items)), np.nan)
    for r, model in enumerate(models):
        for task, doc_scores in per_model[model].items():
            cols = [column[f"{task}/{d}"] for d in doc_scores]
            matrix[r, cols] = list(doc_scores.values())
    sub = np.asarray([t for t in tasks for _ in docs[t]], dtype=object)
    scen = np.asarray([group_of.get(t, t) for t in tasks for _ in docs[t]], dtype=object)
    return EvalData(
        scores=matrix,
        models=models,
        items=items,
        scenario=scen,
        subscenario=sub,
        metric=dict(task_metric),
        source=str(root),
    )
