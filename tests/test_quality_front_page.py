"""The auditor's front page (`reports/index.html`) in a real browser: Debian's headless Chromium opens it,
every link on it is followed, and a broken link, a link leaving the machine or an empty page fails.

Run on the two gated homes of quality_homes.py: the clean night and the stopped one (whose page must say
so). Pages are loaded from file:// with the network features of Chromium switched off.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from quality_homes import BATCH, gated_homes, session_root

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--metrics-recording-only"]


@pytest.fixture(scope="module")
def homes(pipeline, tmp_path_factory) -> dict[str, Path]:
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is not installed (.ci/system-packages installs it)")
    return gated_homes(session_root(tmp_path_factory), pipeline)


def dump_dom(path: Path, profile: Path) -> str:
    """The page's DOM after Chromium loaded it (scripts run)."""
    result = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", path.as_uri()],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"chromium failed on {path}: {result.stderr[-2000:]}"
    return result.stdout


def visible_text(dom: str) -> str:
    body = re.search(r"<body[^>]*>(.*)</body>", dom, re.DOTALL | re.IGNORECASE)
    text = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", body.group(1) if body else "", flags=re.DOTALL | re.IGNORECASE)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def links(dom: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r"<a\b[^>]*\bhref=\"([^\"]*)\"", dom, re.IGNORECASE)]


def _follow_all(index: Path, profile: Path) -> tuple[str, list[Path]]:
    dom = dump_dom(index, profile)
    text = visible_text(dom)
    followed, problems = [], []
    for href in links(dom):
        parts = urlsplit(href)
        if parts.scheme in ("http", "https") or href.startswith("//"):
            problems.append(f"external link {href}")
            continue
        if not parts.path:  # an anchor on the same page
            continue
        target = (index.parent / unquote(parts.path)).resolve()
        if not target.is_file():
            problems.append(f"broken link {href}")
            continue
        page_text = visible_text(dump_dom(target, profile))
        if len(page_text) < 80:
            problems.append(f"empty page {href} ({len(page_text)} characters)")
        followed.append(target)
    assert problems == []
    return text, followed


@pytest.mark.parametrize("name", ["clean", "stopped"])
def test_front_page_links_all_open_and_are_not_empty(homes, name, tmp_path):
    reports = homes[name] / "reports"
    text, followed = _follow_all(reports / "index.html", tmp_path / "profile")
    # the night's reports are among the links: Data Docs, quality report, reconciliation
    assert reports / "data_docs" / "index.html" in followed
    assert reports / "quality" / BATCH / "quality.html" in followed
    assert reports / "reconciliation" / BATCH / "reconciliation.html" in followed
    if name == "clean":  # dbt docs were generated there: linked and rendered (an Angular page)
        assert reports / "dbt_docs" / "index.html" in followed
    # what is not produced yet is said, not linked
    for absent in ("dbt docs", "Model cards", "Campaign reports"):
        if absent == "dbt docs" and (reports / "dbt_docs" / "index.html").exists():
            continue
        assert re.search(absent + r"[^.]*not yet produced", text), absent
    assert f"batch {BATCH}" in text


def test_front_page_shows_the_stopped_night(homes, tmp_path):
    text = visible_text(dump_dom(homes["stopped"] / "reports" / "index.html", tmp_path / "profile"))
    assert re.search(rf"Latest night: batch {BATCH} stopped", text)
    assert "publishing did not run" in text
    clean = visible_text(dump_dom(homes["clean"] / "reports" / "index.html", tmp_path / "profile"))
    assert re.search(rf"Latest night: batch {BATCH} (passed|warnings)", clean)


def test_reports_show_the_planted_values_in_the_browser(homes, tmp_path):
    home = homes["stopped"]
    quality = visible_text(dump_dom(home / "reports" / "quality" / BATCH / "quality.html", tmp_path / "p"))
    assert "null_rows__channel" in quality and "user_match_rate_max" in quality and "1.2500" in quality
    assert re.search(r"BOSS_VAS_ORDER_20261120_001\.dat\.gz:4\b", quality)
    docs = visible_text(dump_dom(home / "reports" / "data_docs" / "index.html", tmp_path / "p"))
    assert "Validation results by night" in docs and "raw.cdr_voice" in docs
