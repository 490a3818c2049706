"""Data Docs that open without a network: GX's pages load Bootstrap, jQuery, Vega and logos from public
CDNs. After each build the pages written by it are rewritten: external scripts, style sheets and images
are dropped (the pages' content is static HTML and stays readable), external links are disarmed, and the
index gets a static list of every kept validation result (GX fills its own table with a script)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from vasmart.quality.html import esc

_EXTERNAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=[\"']https?://[^>]*>\s*</script>", re.IGNORECASE | re.DOTALL)
_EXTERNAL_LINK_TAG = re.compile(r"<link\b[^>]*\bhref=[\"']https?://[^>]*>", re.IGNORECASE | re.DOTALL)
_EXTERNAL_IMG = re.compile(r"<img\b[^>]*\bsrc=[\"']https?://[^>]*>", re.IGNORECASE | re.DOTALL)
_EXTERNAL_HREF = re.compile(r"\bhref=([\"'])https?://[^\"']*\1", re.IGNORECASE)
_EXTERNAL_FORM = re.compile(r"<form\b[^>]*\baction=[\"']https?://.*?</form>", re.IGNORECASE | re.DOTALL)
_EXTERNAL_CSS_URL = re.compile(r"url\(\s*[\"']?https?://[^)]*\)", re.IGNORECASE)
MARK = "<!-- vasmart: offline -->"
LIST_START, LIST_END = "<!-- vasmart: validation list -->", "<!-- /vasmart: validation list -->"


def offline(text: str) -> str:
    """The page without anything that would be fetched from outside."""
    text = _EXTERNAL_SCRIPT.sub("", text)
    text = _EXTERNAL_LINK_TAG.sub("", text)
    text = _EXTERNAL_IMG.sub("", text)
    text = _EXTERNAL_FORM.sub("", text)
    text = _EXTERNAL_HREF.sub('href="#"', text)
    text = _EXTERNAL_CSS_URL.sub("none", text)
    if MARK not in text:
        text = text.replace("<head>", "<head>" + MARK, 1)
    return text


def _validation_list(site: Path) -> str:
    pages = sorted(site.glob("validations/**/*.html"), key=lambda p: p.relative_to(site).parts, reverse=True)
    by_run: dict[str, list[Path]] = {}
    for p in pages:
        parts = p.relative_to(site).parts  # validations/<schema>/<table>/<run>/<time>/<page>
        run = parts[-3] if len(parts) >= 4 else "?"
        by_run.setdefault(run, []).append(p)
    items = []
    for run in sorted(by_run, reverse=True):
        links = ", ".join(f'<a href="{esc(p.relative_to(site).as_posix())}">'
                          f'{esc(".".join(p.relative_to(site).parts[1:3]))}</a>' for p in sorted(by_run[run]))
        items.append(f"<li><b>{esc(run)}</b>: {links}</li>")
    return (f"{LIST_START}<div class='container'><h3 id='vasmart-validations'>Validation results by night</h3>"
            f"<ul>{''.join(items)}</ul></div>{LIST_END}")


def make_offline(site: Path, since: float) -> None:
    """Rewrite the pages written since `since` (epoch seconds), and the index's static list."""
    for path in site.rglob("*.html"):
        if path.stat().st_mtime < since and path.name != "index.html":
            continue
        text = path.read_text(encoding="utf-8")
        new = offline(text)
        if path == site / "index.html":
            new = re.sub(re.escape(LIST_START) + ".*?" + re.escape(LIST_END), "", new, flags=re.DOTALL)
            new = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + _validation_list(site), new, count=1)
        if new != text:
            temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temp.write_text(new, encoding="utf-8")
            os.replace(temp, path)
