"""Assembling the report: run the sections, put the summary on top, render the HTML page
and the JSON document, and write both atomically (all or nothing)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import __version__
from .._results import _json_safe
from ..io import EvalData
from . import html as H
from . import sections as S
from .data import Progress, PromptData, ReportData, ReportOptions

__all__ = ["Report", "build_report", "write_report", "SECTIONS", "HTML_NAME", "JSON_NAME"]

HTML_NAME = "report.html"
JSON_NAME = "report.json"
# The JSON document's layout, published as a JSON Schema (Draft 2020-12) in the package;
# the version goes up when a field changes meaning or type (adding a field does not).
SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")


def report_schema() -> dict[str, Any]:
    """The JSON Schema that every ``report.json`` validates against (Draft 2020-12)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


SectionFn = Callable[[ReportData, ReportOptions, Progress], S.Section]
# In page order. Each runs independently of the others.
SECTIONS: list[SectionFn] = [
    S.overview,
    S.leaderboard,
    S.pairwise_tests,
    S.risk_aware,
    S.item_analysis,
    S.tiny_subset,
]


@dataclasses.dataclass(frozen=True)
class Report:
    """A finished report: the HTML page and the JSON document (a dict)."""

    html: str
    json: dict[str, Any]
    sections: list[S.Section]


def build_report(
    data: EvalData,
    risk_data: EvalData | None = None,
    options: ReportOptions | None = None,
    sections: list[SectionFn] | None = None,
    prompts: PromptData | None = None,
) -> Report:
    """Compute every section of the report for ``data``.

    Parameters
    ----------
    data : EvalData
        The main metric's scores (models x items).
    risk_data : EvalData, optional
        A second metric (same models and items) for the risk-aware ranking; default ``data``.
    options : ReportOptions, optional
    sections : list of section functions, optional
        Default :data:`SECTIONS`, followed by the PromptEval section when ``prompts`` is
        given.
    prompts : PromptData, optional
        The same models' scores per prompt template (from a long table with a ``prompt`` or
        ``template`` column): adds the section on the score distribution over templates.

    Returns
    -------
    Report
    """
    options = options or ReportOptions()
    started = time.perf_counter()
    rd = ReportData(data, risk_data, prompts)
    progress = Progress(options.quiet)
    chosen = list(sections or SECTIONS)
    if sections is None and prompts is not None:
        chosen.append(S.prompt_templates)
    names = {fn.__name__.replace("_", " "): fn for fn in chosen}
    done = [
        names[name](rd, options, progress)
        for name in progress.steps(list(names), "calipers report")
    ]
    elapsed = time.perf_counter() - started
    title = options.title or _default_title(data)
    summary = [s for section in done for s in section.summary]
    document = {
        "schema_version": SCHEMA_VERSION,
        "calipers_version": __version__,
        "title": title,
        "input": {
            "source": data.source,
            "metric": rd.metric_name,
            "risk_metric": None if risk_data is None else _name(risk_data),
            "n_models": data.shape[0],
            "n_items": data.shape[1],
        },
        "options": dataclasses.asdict(options),
        "summary": [H.plain_text(s) for s in summary],
        "sections": {section.key: section.data for section in done},
        "elapsed_seconds": round(elapsed, 3),
    }
    page = H.page(
        title,
        f"{data.shape[0]} models &middot; {data.shape[1]} items &middot; metric "
        f"<code>{H.esc(rd.metric_name)}</code>",
        summary,
        [(section.key, section.title, section.html) for section in done],
        f"Made by calipers {H.esc(__version__)} with seed {options.seed}, "
        f"{options.n_resamples} bootstrap replicates, {options.confidence_level:.0%} confidence "
        f"intervals and tests at level {options.alpha:g}, in {elapsed:.1f} s. Every number is "
        f"also in <code>{JSON_NAME}</code> beside this page.",
    )
    return Report(html=page, json=_json_safe(document), sections=done)


def write_report(report: Report, out_dir: str | os.PathLike) -> Path:
    """Write ``report.html`` and ``report.json`` into ``out_dir`` (created if needed).

    Both files are written to a temporary folder beside ``out_dir`` first and moved into
    place only when complete, so a failure leaves no partial report behind.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out: {out} exists and is not a folder; choose another path")
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=parent))
    try:
        (tmp / HTML_NAME).write_text(report.html, encoding="utf-8")
        text = json.dumps(report.json, indent=1, allow_nan=False)
        (tmp / JSON_NAME).write_text(text + "\n", encoding="utf-8")
        if out.exists():
            for name in (HTML_NAME, JSON_NAME):
                os.replace(tmp / name, out / name)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _name(data: EvalData) -> str:
    return data.metric if isinstance(data.metric, str) else "score"


def _default_title(data: EvalData) -> str:
    if data.source:
        return f"calipers report: {Path(str(data.source)).name}"
    return "calipers report"
