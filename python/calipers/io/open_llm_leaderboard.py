"""Open LLM Leaderboard (v2) details: the ``open-llm-leaderboard/<org>__<model>-details``
datasets, which are lm-evaluation-harness ``--log_samples`` output read by the harness reader."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .evaldata import EvalData
from .lm_eval import _read_harness

_PREFIX = "leaderboard_"
# The leaderboard's benchmarks (its scenarios) and the per-item metric each is scored by.
# IFEval's leaderboard score also averages instruction-level accuracy, which is a list per
# prompt; the per-prompt strict accuracy is the item score here.
SCENARIO_METRICS = {
    "bbh": "acc_norm",
    "gpqa": "acc_norm",
    "ifeval": "prompt_level_strict_acc",
    "math": "exact_match",
    "mmlu_pro": "acc",
    "musr": "acc_norm",
    "arc_challenge": "acc_norm",  # in the first runs of 2024-06 only
}


def read_open_llm_leaderboard(
    path: str | Path,
    *,
    metric: str | Sequence[str] | Mapping[str, str] | None = None,
    tasks: Iterable[str] | None = None,
) -> EvalData:
    """Read Open LLM Leaderboard details (the ``<org>__<model>-details`` datasets).

    Each details dataset holds a folder ``<org>__<model>/`` with the lm-evaluation-harness
    output of that model: ``results_<timestamp>.json`` and one
    ``samples_leaderboard_<task>_<timestamp>.jsonl`` per task (``.json`` lists in the runs of
    June 2024), e.g. ``samples_leaderboard_bbh_navigate_...``,
    ``samples_leaderboard_math_algebra_hard_...``, ``samples_leaderboard_mmlu_pro_...``. The
    files are read by :func:`read_lm_eval_harness`; this function only changes what differs:

    * the model is the folder name with ``__`` read as ``/`` (``org__name`` -> ``org/name``);
    * tasks are grouped into the leaderboard's benchmarks: ``bbh``, ``gpqa``, ``ifeval``,
      ``math``, ``mmlu_pro``, ``musr`` (the harness's own grouping puts every task under one
      ``leaderboard`` group);
    * each benchmark reads the leaderboard's metric by default: ``acc_norm`` for bbh, gpqa and
      musr, ``acc`` for mmlu_pro, ``exact_match`` for math and ``prompt_level_strict_acc`` for
      ifeval.

    Parameters
    ----------
    path : str or Path
        A downloaded details dataset, a folder of several, or one model's ``<org>__<model>``
        folder.
    metric : str, sequence of str or mapping task -> str, optional
        As for :func:`read_lm_eval_harness`; default: the leaderboard's metric per benchmark.
    tasks : iterable of str, optional
        Read only these tasks (full names, e.g. ``"leaderboard_bbh_navigate"``).

    Returns
    -------
    EvalData
        Items ``"<task>/<doc_id>"``; ``scenario`` the benchmark (``bbh``), ``subscenario`` the
        task (``leaderboard_bbh_navigate``); ``metric`` maps each task to ``"name,filter"``.
    """
    return _read_harness(
        Path(path),
        metric=metric,
        filter_name=None,
        tasks=tasks,
        model_name=_model_from_folder,
        groups=_leaderboard_groups,
        default_metrics=_default_metric,
    )


def leaderboard_scenario(task: str) -> str:
    """The leaderboard benchmark a task belongs to: ``leaderboard_bbh_navigate`` -> ``bbh``;
    a task outside the known benchmarks keeps its name without the ``leaderboard_`` prefix."""
    name = task.removeprefix(_PREFIX)
    # Longest first, so mmlu_pro is not taken for another benchmark's prefix.
    for scenario in sorted(SCENARIO_METRICS, key=len, reverse=True):
        if name == scenario or name.startswith(scenario + "_"):
            return scenario
    return name


def _model_from_folder(model_dir: Path, results: dict[str, Any]) -> str:
    # The datasets name the folder after the model with "/" written as "__".
    return model_dir.name.replace("__", "/", 1)


def _leaderboard_groups(results: dict[str, Any], tasks: Iterable[str]) -> dict[str, str]:
    return {task: leaderboard_scenario(task) for task in tasks}


def _default_metric(task: str) -> Sequence[str]:
    metric = SCENARIO_METRICS.get(leaderboard_scenario(task))
    return (metric,) if metric else ()
