"""The end-to-end evaluation report (``calipers report``).

:func:`build_report` runs every section on an :class:`calipers.io.EvalData` (leaderboard
with paired-bootstrap confidence intervals and rank distributions, pairwise paired tests,
the risk-aware ranking, IRT item analysis, a recommended small item subset) and returns a
:class:`Report` holding a self-contained HTML page and a JSON document with every number;
:func:`write_report` writes them atomically. :mod:`calipers.report.example` builds the
embedded example data (scikit-learn classifiers on the bundled digits data).
"""

from __future__ import annotations

from .._optional import require

# The report's own dependencies (the [report] extra): a clear message when one is missing.
for _module in ("matplotlib", "pandas", "tqdm"):
    require(_module, "calipers.report")

from .build import (  # noqa: E402
    HTML_NAME,
    JSON_NAME,
    SCHEMA_PATH,
    SCHEMA_VERSION,
    SECTIONS,
    Report,
    build_report,
    report_schema,
    write_report,
)
from .data import PromptData, ReportOptions, derive_seed  # noqa: E402
from .example import example_data  # noqa: E402
from .sections import Section  # noqa: E402

__all__ = [
    "HTML_NAME",
    "JSON_NAME",
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "SECTIONS",
    "PromptData",
    "Report",
    "ReportOptions",
    "Section",
    "build_report",
    "derive_seed",
    "example_data",
    "report_schema",
    "write_report",
]
