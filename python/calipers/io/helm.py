"""HELM run folders: ``benchmark_output/runs/<suite>/<run name>/per_instance_stats.json``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..exceptions import InvalidArgumentError
from ._common import (
    MetricChoice,
    choose_metric,
    expect_type,
    load_json_file,
    one_or_mapping,
    score_matrix,
)
from .evaldata import EvalData

# Per-instance correctness metrics HELM computes, most common first; the default when no
# metric is named.
_DEFAULT_METRICS = (
    "exact_match",
    "quasi_exact_match",
    "prefix_exact_match",
    "quasi_prefix_exact_match",
    "exact_match_indicator",
    "final_number_exact_match",
    "math_equiv",
    "math_equiv_chain_of_thought",
)
# Run-name arguments that name the model; dropping them gives the same key for every model.
_MODEL_ARGS = ("model=", "model_deployment=")
_RERUN = "re-run helm-run for that run entry or delete the run folder"


def read_helm(
    path: str | Path,
    *,
    metric: MetricChoice = None,
    split: str | None = "test",
    perturbation: str | None = None,
    train_trial: int | None = None,
) -> EvalData:
    """Read HELM per-instance results: a suite folder of run folders.

    ``helm-run --suite <suite>`` writes one folder per run under
    ``benchmark_output/runs/<suite>/``, named by its run entry (e.g.
    ``mmlu:subject=anatomy,method=multiple_choice_joint,model=openai_gpt2``). Two files of each
    are read:

    * ``run_spec.json``: ``name`` (the run entry) and ``adapter_spec`` with ``model`` (else
      ``model_deployment``);
    * ``per_instance_stats.json``: a list of ``{"instance_id", "train_trial_index",
      "perturbation" (absent for the original instance), "stats": [{"name": {"name", "split",
      "perturbation"}, "count", "sum", "mean", ...}]}``.

    ``scenario_state.json`` (the prompts and completions, often hundreds of MB) is not needed:
    the per-instance stats already carry instance ids, splits and perturbations.

    Parameters
    ----------
    path : str or Path
        A suite folder (``benchmark_output/runs/<suite>``), a single run folder, or a folder
        holding several suites (then each run may appear in one suite only).
    metric : str or sequence of str, optional
        The per-instance stat to read, e.g. ``"exact_match"``; a sequence is an order of
        preference. Default: the first present of ``exact_match``, ``quasi_exact_match``,
        ``prefix_exact_match``, ``quasi_prefix_exact_match`` and other correctness metrics; a
        run with none of them is an error listing the metrics it has.
    split : str or None, default "test"
        Which split's instances to read (``"test"`` or ``"valid"``); None reads both.
    perturbation : str, optional
        Default None reads the original (unperturbed) instances. A perturbation name (e.g.
        ``"typos"``, ``"dialect"``) reads the perturbed copies instead, with the same item ids,
        so the two readings can be compared item by item.
    train_trial : int, optional
        HELM repeats a run with ``num_train_trials`` different sets of in-context examples.
        Default None averages each instance's score over the trials (so scores can be
        fractional); an int reads that trial only.

    Returns
    -------
    EvalData
        Models from ``adapter_spec.model``; items ``"<run>/<instance_id>"`` where ``<run>`` is
        the run entry without its ``model=`` argument (so every model's run of a scenario
        shares items); ``scenario`` the scenario name (the run entry before ``:``, e.g.
        ``mmlu``), ``subscenario`` the run; ``metric`` the metric name (a mapping run -> name
        when runs differ). Instances a model's run does not have are NaN.
    """
    root = Path(path)
    if not root.exists():
        raise InvalidArgumentError(f"path: {root} does not exist; check the path")
    if train_trial is not None and (isinstance(train_trial, bool) or train_trial < 0):
        raise InvalidArgumentError(
            f"train_trial: must be None or a trial index >= 0, got {train_trial!r}"
        )
    run_dirs = _helm_run_dirs(root)
    if not run_dirs:
        raise InvalidArgumentError(
            f"path: no HELM run folders (with per_instance_stats.json) in {root} or its "
            "sub-folders; pass benchmark_output/runs/<suite> as written by helm-run --suite <suite>"
        )
    cells: dict[str, dict[str, float]] = {}
    labels: dict[str, tuple[str, str]] = {}
    chosen: dict[str, str] = {}
    origin: dict[tuple[str, str], Path] = {}
    for run_dir in run_dirs:
        model, run_key = _run_identity(run_dir)
        if (model, run_key) in origin:
            raise InvalidArgumentError(
                f"path: run {run_key!r} of model {model!r} is in two folders ({origin[model, run_key]} "
                f"and {run_dir}); pass one suite folder"
            )
        origin[model, run_key] = run_dir
        scores, name = _run_scores(run_dir, metric, split, perturbation, train_trial)
        chosen[run_key] = name
        scenario = run_key.split(":", 1)[0]
        row = cells.setdefault(model, {})
        for instance_id, value in scores.items():
            item = f"{run_key}/{instance_id}"
            row[item] = value
            labels.setdefault(item, (scenario, run_key))
    return score_matrix(
        dict(sorted(cells.items())),
        labels,
        metric=one_or_mapping(chosen),
        source=str(root),
        empty_fix="check split=, perturbation= and train_trial=",
    )


def _helm_run_dirs(root: Path) -> list[Path]:
    if root.is_file() and root.name == "per_instance_stats.json":
        return [root.parent]
    if root.is_file():
        raise InvalidArgumentError(
            f"path: {root} is a file; pass the HELM suite folder (benchmark_output/runs/<suite>) "
            "or one run folder"
        )
    if (root / "per_instance_stats.json").is_file():
        return [root]
    return sorted(f.parent for f in root.rglob("per_instance_stats.json"))


def _run_identity(run_dir: Path) -> tuple[str, str]:
    """(model, run entry without the model) from ``run_spec.json``."""
    file = run_dir / "run_spec.json"
    if not file.is_file():
        raise InvalidArgumentError(
            f"{run_dir}: has per_instance_stats.json but no run_spec.json (it names the model "
            f"and the scenario); {_RERUN}"
        )
    fix = f"{_RERUN} (run_spec.json is written by helm-run)"
    spec = expect_type(load_json_file(file, _RERUN), dict, str(file), "the content", fix)
    name = expect_type(spec.get("name"), str, str(file), "'name'", fix)
    adapter = expect_type(spec.get("adapter_spec"), dict, str(file), "'adapter_spec'", fix)
    model = adapter.get("model") or adapter.get("model_deployment")
    model = expect_type(model, str, str(file), "'adapter_spec.model'", fix)
    scenario, _, args = name.partition(":")
    kept = [a for a in args.split(",") if a and not a.startswith(_MODEL_ARGS)]
    return model, scenario + (":" + ",".join(kept) if kept else "")


def _run_scores(
    run_dir: Path,
    metric: MetricChoice,
    split: str | None,
    perturbation: str | None,
    train_trial: int | None,
) -> tuple[dict[str, float], str]:
    """{instance_id: score} of one run, and the metric read."""
    file = run_dir / "per_instance_stats.json"
    fix = "it should be the list helm-run writes; " + _RERUN
    entries = expect_type(load_json_file(file, _RERUN), list, str(file), "the content", fix)
    selected = [
        (k, e) for k, e in enumerate(entries) if _entry_matches(e, k, file, perturbation, fix)
    ]
    if not selected:
        present = sorted({_perturbation_name(e) or "(original)" for e in entries})
        raise InvalidArgumentError(
            f"{file}: no instances with perturbation {perturbation or '(original)'!r}; present: "
            f"{present}; pass perturbation=... naming one (None for the originals)"
        )
    splits = {_stat_split(s) for _, e in selected for s in e["stats"]}
    if split is not None and split not in splits:
        raise InvalidArgumentError(
            f"{file}: no stats for split {split!r}; splits present: {sorted(map(str, splits))}; "
            "pass split=... naming one (or None for all)"
        )
    available = {
        s["name"]["name"]
        for _, e in selected
        for s in e["stats"]
        if split is None or _stat_split(s) == split
    }
    # HELM logs dozens of stats per instance (token counts, runtimes, ...): without a known
    # correctness metric, the user must choose rather than get the first name.
    name = choose_metric(
        sorted(available), metric, _DEFAULT_METRICS, str(file), first_as_default=False
    )
    per_instance: dict[str, dict[int, float]] = {}
    for k, entry in selected:
        trial = entry.get("train_trial_index", 0)
        if train_trial is not None and trial != train_trial:
            continue
        value = _stat_value(entry["stats"], name, split, file, k)
        if value is None:
            continue
        trials = per_instance.setdefault(str(entry["instance_id"]), {})
        if trial in trials:
            raise InvalidArgumentError(
                f"{file}: instance {entry['instance_id']!r} appears twice for train trial "
                f"{trial} (entry {k}); the file may hold two runs, {_RERUN}"
            )
        trials[trial] = value
    if train_trial is not None and not per_instance:
        raise InvalidArgumentError(
            f"{file}: no instances of train trial {train_trial}; pass train_trial=None to "
            "average the trials there are"
        )
    return {i: _mean(t.values()) for i, t in per_instance.items()}, name


def _entry_matches(entry: Any, k: int, file: Path, perturbation: str | None, fix: str) -> bool:
    where = f"{file}: entry {k}"
    expect_type(entry, dict, where, "the entry", fix)
    if "instance_id" not in entry:
        raise InvalidArgumentError(f"{where} has no 'instance_id'; {fix}")
    stats = expect_type(entry.get("stats"), list, where, "'stats'", fix)
    for stat in stats:
        if not isinstance(stat, dict) or not isinstance(stat.get("name"), dict):
            raise InvalidArgumentError(f"{where}: a stat has no 'name' object; {fix}")
        if not isinstance(stat["name"].get("name"), str):
            raise InvalidArgumentError(f"{where}: a stat's name has no 'name' string; {fix}")
    return _perturbation_name(entry) == perturbation


def _perturbation_name(entry: dict[str, Any]) -> str | None:
    described = entry.get("perturbation")
    return described.get("name") if isinstance(described, dict) else None


def _stat_split(stat: dict[str, Any]) -> str | None:
    return stat["name"].get("split")


def _stat_value(
    stats: Sequence[dict[str, Any]], name: str, split: str | None, file: Path, k: int
) -> float | None:
    """The instance's value of ``name`` (its ``mean``, else ``sum / count``); None if absent."""
    for stat in stats:
        if stat["name"]["name"] != name or (split is not None and _stat_split(stat) != split):
            continue
        count = stat.get("count", 1)
        value = stat.get("mean")
        if value is None and isinstance(count, int | float) and count:
            value = stat.get("sum", 0) / count
        if isinstance(value, bool | int | float):
            return float(value)
        if value is None:
            return math.nan
        raise InvalidArgumentError(
            f"{file}: entry {k}: stat {name!r} has mean {value!r}, not a number; choose another "
            "metric with metric=..."
        )
    return None


def _mean(values: Any) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan
