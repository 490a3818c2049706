"""Small, self-contained HTML pages for the reports (no script, no external resource)."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:75em;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.passed{color:#176f2c}.warnings,.warning{color:#9a6200}.stopped,.critical,.failed{color:#b00020}
.badge{display:inline-block;padding:.2em .7em;border-radius:.3em;color:#fff;font-weight:600}
.badge.passed{background:#176f2c}.badge.warnings{background:#b37400}.badge.stopped{background:#b00020}
.muted{color:#777}nav a{margin-right:1.2em}
"""


def esc(value: object) -> str:
    """Text escaped for HTML."""
    return html.escape("" if value is None else str(value))


def number(value: object) -> str:
    """A number for a table cell."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{int(value):,}" if value.is_integer() else f"{value:,.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return esc(value)


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], numeric: set[int] | None = None) -> str:
    """A table; cells are given as HTML (escape them first)."""
    numeric = numeric or set()
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td class=n>{c}</td>" if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def link(href: str, text: str) -> str:
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def page(title: str, body: str) -> str:
    """A whole page."""
    return (f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{esc(title)}</title>"
            f"<meta name=viewport content='width=device-width, initial-scale=1'><style>{STYLE}</style></head>"
            f"<body>{body}</body></html>\n")
