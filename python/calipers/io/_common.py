"""Pieces shared by the harness readers (HELM, Inspect, lighteval): reading a JSON file with an
error that names it, choosing a metric by name, and assembling the score matrix."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import InvalidArgumentError, ShapeError
from .evaldata import EvalData

# A metric argument: one name, names in order of preference, or None for the reader's default.
MetricChoice = str | Sequence[str] | None


def load_json_file(file: Path, fix: str) -> Any:
    """The parsed content of ``file``; unreadable or invalid JSON raises an error naming the file,
    the place of the fault and ``fix``."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgumentError(f"{file}: could not be read ({exc}); {fix}") from None
    return parse_json_text(text, str(file), fix)


def parse_json_text(text: str, where: str, fix: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(
            f"{where}: is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            f"the file may be truncated; {fix}"
        ) from None


def expect_type(value: Any, kind: type | tuple[type, ...], where: str, what: str, fix: str) -> Any:
    """``value`` if it is of ``kind``; otherwise an error saying what was found instead."""
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        found = "missing" if value is None else f"a {type(value).__name__}"
        raise InvalidArgumentError(f"{where}: {what} should be a {names} but is {found}; {fix}")
    return value


def choose_metric(
    available: Sequence[str],
    wanted: MetricChoice,
    defaults: Sequence[str],
    where: str,
    keyword: str = "metric",
    first_as_default: bool = True,
) -> str:
    """The metric to read: ``wanted`` (a name, or the first present of several), else the first
    of ``defaults`` present, else (with ``first_as_default``) the first available. Names the
    available ones when none fits."""
    if isinstance(wanted, str):
        prefs = [wanted]
    elif wanted is not None:
        prefs = list(wanted)
    else:
        prefs = [*defaults, *(available[:1] if first_as_default else [])]
    for name in prefs:
        if name in available:
            return name
    shown = sorted(available)
    more = f" (and {len(shown) - 40} more)" if len(shown) > 40 else ""
    asked = f"no {keyword} {prefs[0]!r}" if len(prefs) == 1 else f"none of the {keyword}s {prefs}"
    if not available:
        raise InvalidArgumentError(f"{where}: has {asked}; it holds no per-item scores at all")
    raise InvalidArgumentError(
        f"{where}: has {asked}; available: {shown[:40]}{more}; pass {keyword}=... naming one"
    )


def as_score(value: Any) -> float | None:
    """A per-item score as float (bool -> 0/1, None -> NaN); None when ``value`` is no number."""
    if value is None:
        return math.nan
    if isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    return None


def score_matrix(
    cells: Mapping[str, Mapping[str, float]],
    labels: Mapping[str, tuple[str, str]],
    *,
    metric: str | dict[str, str] | None,
    source: str,
    empty_fix: str,
) -> EvalData:
    """Assemble :class:`EvalData` from ``{model: {item: score}}`` and ``{item: (scenario,
    subscenario)}``. Items are grouped by (scenario, subscenario), in order of first appearance
    within a group; pairs never scored are NaN."""
    models = [m for m, row in cells.items() if row]
    order = {item: k for k, item in enumerate(labels)}
    items = sorted(labels, key=lambda i: (labels[i][0], labels[i][1], order[i]))
    if not models or not items:
        raise ShapeError(f"{source}: no per-item scores were read; {empty_fix}")
    column = {item: j for j, item in enumerate(items)}
    scores = np.full((len(models), len(items)), np.nan)
    for r, model in enumerate(models):
        row = cells[model]
        scores[r, [column[i] for i in row]] = list(row.values())
    return EvalData(
        scores=scores,
        models=models,
        items=items,
        scenario=np.asarray([labels[i][0] for i in items], dtype=object),
        subscenario=np.asarray([labels[i][1] for i in items], dtype=object),
        metric=metric,
        source=source,
    )


def one_or_mapping(chosen: Mapping[str, str]) -> str | dict[str, str]:
    """One metric name when every group used the same, else the mapping group -> name."""
    names = set(chosen.values())
    return next(iter(names)) if len(names) == 1 else dict(chosen)
