"""HTML building blocks for the report: escaping, number formatting, tables, figures and the
self-contained page (inline CSS, images as data URIs, no scripts, no external URLs)."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["esc", "fmt", "fmt_ci", "fmt_p", "table", "figure", "page", "paragraph", "note"]


def plain_text(markup: str) -> str:
    """``markup`` without its HTML tags and entities (for the JSON and the terminal)."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def esc(text: Any) -> str:
    """HTML-escape ``text`` (anything, converted with ``str``)."""
    return html.escape(str(text), quote=True)


def fmt(x: Any, digits: int = 3) -> str:
    """A number for a table: fixed ``digits`` decimals, '-' for None/NaN."""
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    value = float(x)
    if math.isnan(value):
        return "-"
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.000"


def fmt_p(p: Any) -> str:
    """A p-value: 3 significant decimals, '< 0.001' below that."""
    if p is None or math.isnan(float(p)):
        return "-"
    return "&lt; 0.001" if float(p) < 0.001 else f"{float(p):.3f}"


def fmt_ci(low: Any, high: Any, digits: int = 3) -> str:
    """A confidence interval as '[low, high]'."""
    return f"[{fmt(low, digits)}, {fmt(high, digits)}]"


def table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    numeric: Sequence[bool] | None = None,
    row_classes: Sequence[str] | None = None,
    caption: str | None = None,
) -> str:
    """An HTML table. Cells are pre-formatted HTML strings (escape text with :func:`esc`);
    ``numeric`` right-aligns those columns."""
    numeric = numeric or [False] * len(columns)
    head = "".join(
        f'<th class="{"num" if n else ""}">{esc(c)}</th>'
        for c, n in zip(columns, numeric, strict=True)
    )
    body = []
    for r, row in enumerate(rows):
        cls = f' class="{row_classes[r]}"' if row_classes and row_classes[r] else ""
        cells = "".join(
            f'<td class="{"num" if n else ""}">{cell}</td>'
            for cell, n in zip(row, numeric, strict=True)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    cap = f"<caption>{caption}</caption>" if caption else ""
    return (
        f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def figure(img_tag: str, caption: str) -> str:
    """A figure with its caption (``img_tag`` from :func:`calipers.report.plots.to_img`)."""
    return f"<figure>{img_tag}<figcaption>{caption}</figcaption></figure>"


def paragraph(text: str) -> str:
    return f"<p>{text}</p>"


def note(text: str) -> str:
    """A highlighted remark (a skipped computation, a caveat)."""
    return f'<p class="note">{text}</p>'


_CSS = """
:root { --ink:#1d2733; --muted:#5b6775; --line:#d8dee6; --accent:#1f5f99; --bg:#ffffff;
        --soft:#f3f6f9; --good:#1b7a3a; --warn:#a15c00; }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Helvetica,
       Arial, sans-serif; color:var(--ink); background:var(--bg); }
header { background:var(--accent); color:#fff; padding:1.2rem 2rem; }
header h1 { margin:0 0 .3rem 0; font-size:1.6rem; }
header p { margin:0; opacity:.9; }
header code { background:rgba(255,255,255,.18); color:#fff; }
nav { background:var(--soft); border-bottom:1px solid var(--line); padding:.5rem 2rem; }
nav a { color:var(--accent); margin-right:1.2rem; text-decoration:none; white-space:nowrap; }
main { max-width:1200px; margin:0 auto; padding:1rem 2rem 3rem 2rem; }
section { margin-top:2rem; border-top:1px solid var(--line); padding-top:.6rem; }
h2 { color:var(--accent); margin:.4rem 0 .6rem 0; }
h3 { margin:1.2rem 0 .4rem 0; }
.summary { background:var(--soft); border-left:4px solid var(--accent); padding:.6rem 1.2rem; }
.summary li { margin:.3rem 0; }
.note { color:var(--warn); }
.muted { color:var(--muted); }
.table-wrap { overflow-x:auto; margin:.5rem 0 1rem 0; }
table { border-collapse:collapse; font-size:.9rem; }
caption { text-align:left; color:var(--muted); padding:.2rem 0; }
th, td { border-bottom:1px solid var(--line); padding:.25rem .6rem; text-align:left; }
th { background:var(--soft); }
td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; }
tr.sig td { background:#eef7f0; }
tr.top td { font-weight:600; }
figure { margin:1rem 0; }
figure img { max-width:100%; height:auto; border:1px solid var(--line); }
figcaption { color:var(--muted); font-size:.9rem; }
code { background:var(--soft); padding:0 .2rem; }
footer { color:var(--muted); font-size:.85rem; max-width:1200px; margin:0 auto; padding:0 2rem 2rem; }
"""


def page(
    title: str,
    subtitle: str,
    summary: Sequence[str],
    sections: Sequence[tuple[str, str, str]],
    footer: str,
) -> str:
    """The whole document. ``sections`` are (anchor, title, body html); ``summary`` are
    plain-language sentences (HTML) shown first."""
    nav = "".join(f'<a href="#{esc(key)}">{esc(name)}</a>' for key, name, _ in sections)
    items = "".join(f"<li>{s}</li>" for s in summary)
    body = "".join(
        f'<section id="{esc(key)}"><h2>{esc(name)}</h2>{content}</section>'
        for key, name, content in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # An empty inline icon: otherwise a browser asks for /favicon.ico, which is not there.
        '<link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{subtitle}</p></header>"
        f'<nav><a href="#summary">Summary</a>{nav}</nav><main>'
        f'<section id="summary"><h2>Summary</h2><ul class="summary">{items}</ul></section>'
        f"{body}</main><footer>{footer}</footer></body></html>\n"
    )
