"""Data assembly for the report: options, per-scenario complete-case views of the score
matrix, per-computation seeds and progress bars."""

from __future__ import annotations

import contextlib
import dataclasses
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .._validation import check_scalar
from ..exceptions import InvalidArgumentError, ShapeError
from ..io import EvalData

__all__ = [
    "PromptData",
    "ReportOptions",
    "ScenarioView",
    "ReportData",
    "Progress",
    "complete_view",
    "derive_seed",
    "metric_name",
]

ALL_ITEMS = "all items"


@dataclasses.dataclass(frozen=True)
class ReportOptions:
    """Settings of one report.

    Parameters
    ----------
    seed : int
        Root seed; every resampling computation gets its own seed derived from it and its
        name (:func:`derive_seed`), recorded in the JSON next to its result.
    n_resamples : int
        Bootstrap replicates of the leaderboard, rank distribution and pairwise tests.
    dominance_resamples : int
        Bootstrap replicates of each dominance test (its cost per replicate is far higher:
        every pair's violation ratio is recomputed).
    confidence_level : float
        Of every confidence interval.
    alpha : float
        Family-wise error rate of the tests (Holm-corrected within each family).
    tiny_items : int
        Number of anchor items the recommended subset keeps per scenario.
    title : str or None
        Report title (default: from the data source).
    quiet : bool
        No progress bars.
    """

    seed: int = 0
    n_resamples: int = 2000
    dominance_resamples: int = 1000
    confidence_level: float = 0.95
    alpha: float = 0.05
    tiny_items: int = 30
    title: str | None = None
    quiet: bool = False

    def __post_init__(self) -> None:
        check_scalar(self.seed, "seed", kind=int, low=0)
        check_scalar(self.n_resamples, "n_resamples", kind=int, low=100)
        check_scalar(self.dominance_resamples, "dominance_resamples", kind=int, low=100)
        check_scalar(
            self.confidence_level,
            "confidence_level",
            low=0,
            high=1,
            low_inclusive=False,
            high_inclusive=False,
        )
        check_scalar(self.alpha, "alpha", low=0, high=1, low_inclusive=False, high_inclusive=False)
        check_scalar(self.tiny_items, "tiny_items", kind=int, low=2)


def derive_seed(seed: int, *labels: str) -> int:
    """A 64-bit seed for one computation, from the root seed and names (stable across runs
    and Python versions: CRC-32 of the names, not ``hash``)."""
    words = [seed % 2**32, seed >> 32] + [zlib.crc32(label.encode("utf-8")) for label in labels]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint64)[0])


@dataclasses.dataclass(frozen=True, eq=False)
class ScenarioView:
    """The complete-case score matrix of one scenario (or of all items).

    Models with no score in the scenario and then items some remaining model lacks are left
    out (the paired statistics need every model on every item); both are recorded.
    """

    name: str
    models: list[str]
    items: list[str]
    scores: np.ndarray
    item_index: np.ndarray
    dropped_models: list[str]
    n_dropped_items: int

    @property
    def n_models(self) -> int:
        return len(self.models)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def to_json(self) -> dict[str, Any]:
        return {
            "models": self.models,
            "n_items": self.n_items,
            "dropped_models": self.dropped_models,
            "n_dropped_items": self.n_dropped_items,
        }


def complete_view(data: EvalData, name: str, columns: np.ndarray) -> ScenarioView:
    block = data.scores[:, columns]
    observed = ~np.isnan(block)
    keep_models = observed.any(axis=1)
    keep_items = observed[keep_models].all(axis=0)
    return ScenarioView(
        name=name,
        models=[m for m, k in zip(data.models, keep_models, strict=True) if k],
        items=[data.items[j] for j in columns[keep_items]],
        scores=np.ascontiguousarray(block[np.ix_(keep_models, keep_items)]),
        item_index=columns[keep_items],
        dropped_models=[m for m, k in zip(data.models, keep_models, strict=True) if not k],
        n_dropped_items=int((~keep_items).sum()),
    )


@dataclasses.dataclass(frozen=True, eq=False)
class PromptData:
    """Scores of the same models on several prompt templates (a long table's ``prompt`` or
    ``template`` column): ``scores`` is n_models × n_templates × n_examples with NaN for the
    (template, example) cells not evaluated. The report's PromptEval section uses it."""

    scores: np.ndarray
    models: list[str]
    templates: list[str]
    examples: list[str]

    def __post_init__(self) -> None:
        shape = (len(self.models), len(self.templates), len(self.examples))
        if self.scores.ndim != 3 or self.scores.shape != shape:
            raise ShapeError(
                f"PromptData: scores has shape {self.scores.shape} but there are {shape[0]} "
                f"models, {shape[1]} templates and {shape[2]} examples; pass one score (or NaN) "
                "per (model, template, example)"
            )


@dataclasses.dataclass
class ReportData:
    """The input of every section: the main score matrix, an optional second metric for the
    risk-aware ranking, and the scenario views (all items first when there are scenarios)."""

    data: EvalData
    risk: EvalData | None = None
    prompts: PromptData | None = None
    views: list[ScenarioView] = dataclasses.field(init=False)
    skipped_views: list[ScenarioView] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        if self.data.shape[0] < 2:
            raise ShapeError(
                f"{self.data.source or 'results'}: has {self.data.shape[0]} model; a report "
                "compares models, so it needs scores of at least 2"
            )
        _check_unit_interval(self.data)
        if self.risk is not None:
            self.risk = _align(self.risk, self.data)
        n_items = self.data.shape[1]
        views = [complete_view(self.data, ALL_ITEMS, np.arange(n_items))]
        if self.data.scenario is not None and len(self.data.scenarios) > 1:
            labels = np.asarray(self.data.scenario, dtype=object)
            for scenario in self.data.scenarios:
                views.append(complete_view(self.data, scenario, np.flatnonzero(labels == scenario)))
        usable = [v for v in views if v.n_models >= 2 and v.n_items >= 2]
        skipped = [v for v in views if v.n_models < 2 or v.n_items < 2]
        if not usable or usable[0].name != ALL_ITEMS:
            raise ShapeError(
                f"{self.data.source or 'results'}: fewer than 2 items are scored for every model "
                "(after leaving out models with no scores); the paired comparisons need items "
                "that all models answered: fill the missing scores or drop the incomplete models"
            )
        self.views = usable
        # Scenarios left out of the paired comparisons, shown in the data overview.
        self.skipped_views = skipped

    @property
    def overall(self) -> ScenarioView:
        return self.views[0]

    @property
    def metric_name(self) -> str:
        return metric_name(self.data)

    @property
    def is_binary(self) -> bool:
        values = self.overall.scores
        return bool(np.isin(values, (0.0, 1.0)).all())


def _check_unit_interval(data: EvalData) -> None:
    """The report's statistics (means as accuracies, IRT on 0/1 scores, the tiny subset's
    error) read scores as shares of credit: a score outside [0, 1] is a unit mistake."""
    with np.errstate(invalid="ignore"):
        outside = (data.scores < 0) | (data.scores > 1)
    if outside.any():
        row, col = (int(i) for i in np.argwhere(outside)[0])
        raise InvalidArgumentError(
            f"{data.source or 'results'}: score {data.scores[row, col]:g} of model "
            f"{data.models[row]!r} on item {data.items[col]!r} is outside [0, 1] "
            f"({int(outside.sum())} such score(s)); the report needs 0/1 correctness or "
            "scores in [0, 1]: rescale them (e.g. divide a 0-100 score by 100)"
        )


def metric_name(data: EvalData) -> str:
    if isinstance(data.metric, str):
        return data.metric
    if isinstance(data.metric, dict):
        return ", ".join(sorted(set(data.metric.values())))
    return "score"


def _align(other: EvalData, main: EvalData) -> EvalData:
    """``other`` restricted to and ordered like ``main``'s models and items."""
    missing_models = [m for m in main.models if m not in set(other.models)]
    missing_items = [i for i in main.items if i not in set(other.items)]
    if missing_models or missing_items:
        what = f"models {missing_models[:3]}" if missing_models else f"items {missing_items[:3]}"
        raise InvalidArgumentError(
            f"risk metric {metric_name(other)!r}: has no scores for {what}; the risk-aware "
            "metric needs the same models and items as the main metric"
        )
    return other.select(models=main.models, items=main.items)


class Progress:
    """Progress bars on stderr (tqdm); ``quiet`` silences them all."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    @contextlib.contextmanager
    def task(self, desc: str) -> Iterator[Callable[[int, int], None] | None]:
        """A bar for one library call; yields its ``progress(done, total)`` callback, or
        None when quiet (the library then reports nothing)."""
        if self.quiet:
            yield None
            return
        from tqdm.auto import tqdm

        bar = tqdm(desc=desc, total=1, leave=False, unit="step")

        def update(done: int, total: int) -> None:
            if bar.total != total:
                bar.total = total
            bar.n = done
            bar.refresh()

        try:
            yield update
        finally:
            bar.close()

    @contextlib.contextmanager
    def messages(self, desc: str) -> Iterator[Callable[[str], None] | bool]:
        """A bar for a library call that reports named steps; yields the callable receiving
        each step's message (False when quiet)."""
        if self.quiet:
            yield False
            return
        from tqdm.auto import tqdm

        bar = tqdm(desc=desc, total=None, leave=False, unit="step")

        def say(message: str) -> None:
            bar.set_postfix_str(message[:60], refresh=False)
            bar.update(1)

        try:
            yield say
        finally:
            bar.close()

    def steps(self, names: list[str], desc: str) -> Iterator[str]:
        """Iterate over ``names`` with an overall bar showing the current step."""
        from tqdm.auto import tqdm

        bar = tqdm(names, desc=desc, disable=self.quiet, unit="section")
        for name in bar:
            bar.set_postfix_str(name)
            yield name
