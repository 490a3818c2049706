"""The auditor's front page, `$VASMART_HOME/reports/index.html`.

The latest night's verdict (passed, warnings, stopped) with its first failures; links to Data Docs, the
night's quality and reconciliation reports, dbt docs, model cards and campaign reports (each shown as
"not yet produced" until it exists); and the history of past nights from `audit.quality_run`.
Every link is relative, so the reports directory can be copied or served as it is.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb

from vasmart.config import Settings
from vasmart.quality.html import esc, link, page, table
from vasmart.quality.report import write_text

MODEL_CARD_GLOBS = ("**/model_card*.html", "**/model_card*.md", "**/*card*.html", "**/*card*.md")
CAMPAIGN_REPORT_GLOBS = ("**/*.html", "**/*.md")


def _history(con: duckdb.DuckDBPyConnection | None) -> list[tuple]:
    if con is None:
        return []
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'audit' "
                         "AND table_name = 'quality_run' AND table_catalog = current_database()").fetchone()[0]
    if not exists:
        return []
    return con.execute("SELECT batch_date, verdict, checks, critical_failed, warnings_failed, not_run, message, "
                       "report_path, finished_at, coalesce(scope, 'all') FROM audit.quality_run "
                       "ORDER BY batch_date DESC, finished_at DESC").fetchall()


WORST = {"stopped": 0, "warnings": 1, "passed": 2}


def _found(root: Path, patterns: tuple[str, ...]) -> list[Path]:
    if not root.is_dir():
        return []
    seen: dict[Path, None] = {}
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if path.is_file() and not path.name.startswith("."):
                seen.setdefault(path, None)
    return list(seen)


def _rel(target: Path, reports: Path) -> str:
    return Path(os.path.relpath(target, reports)).as_posix()


def _item(label: str, target: Path, reports: Path, what: str = "") -> str:
    if target.exists():
        return f"<li>{link(_rel(target, reports), label)}{(' — ' + esc(what)) if what else ''}</li>"
    return f"<li>{esc(label)}: <span class=muted>not yet produced</span></li>"


def front_page_html(settings: Settings, con: duckdb.DuckDBPyConnection | None) -> str:
    """The page's HTML."""
    reports = settings.reports
    history = _history(con)
    parts = ["<h1>vasmart — data you can trust?</h1>"]
    if history:
        latest = [h for h in history if h[0] == history[0][0]]
        batch, verdict, checks, crit, warn, not_run, message, report_path, finished, _ = min(
            latest, key=lambda h: WORST.get(h[1], 0))
        checks, crit, warn, not_run = (sum(h[i] for h in latest) for i in (2, 3, 4, 5))
        parts.append(f"<p>Latest night: batch <b>{esc(batch)}</b> "
                     f"<span class='badge {esc(verdict)}'>{esc(verdict)}</span> — {checks} checks, {crit} critical "
                     f"failures, {warn} warnings, {not_run} not run"
                     f"{', checked ' + esc(finished.isoformat(sep=' ', timespec='minutes')) if finished else ''}.</p>")
        meaning = {"passed": "every check passed: the night's data can be trusted.",
                   "warnings": "the night went on; read the warnings before relying on the figures they concern.",
                   "stopped": "a critical check failed: scoring, campaigns and publishing did not run and the "
                              "published analytics database is the previous one."}
        parts.append(f"<p class={esc(verdict)}>{esc(meaning.get(verdict, ''))}</p>")
        if message:
            parts.append(f"<p>First findings: {esc(message)}</p>")
    else:
        parts.append("<p>No night has been checked yet (<code>vasmart quality --batch YYYYMMDD</code>).</p>")

    parts.append("<h2>Reports</h2><ul>")
    parts.append(_item("Data Docs (Great Expectations: every expectation and observed value)",
                       reports / "data_docs" / "index.html", reports))
    if history:
        batch = history[0][0]
        for h in latest:
            scope = "" if h[9] == "all" else f" ({h[9]})"
            parts.append(_item(f"Quality report, batch {batch}{scope} (failing rows by file and line)",
                               reports / (h[7] or f"quality/{batch}/quality.html"), reports))
        parts.append(_item(f"Reconciliation, batch {batch} (files, BASS vs CDR, volumes)",
                           reports / "reconciliation" / batch / "reconciliation.html", reports))
    parts.append(_item("dbt docs (models, lineage graph, column descriptions)",
                       reports / "dbt_docs" / "index.html", reports))
    cards = _found(settings.home / "models", MODEL_CARD_GLOBS)
    if cards:
        parts.extend(_item(f"Model card: {_rel(p, settings.home / 'models')}", p, reports) for p in cards)
    else:
        parts.append("<li>Model cards: <span class=muted>not yet produced</span></li>")
    campaigns = _found(reports / "campaigns", CAMPAIGN_REPORT_GLOBS)
    if campaigns:
        parts.extend(_item(f"Campaign report: {_rel(p, reports / 'campaigns')}", p, reports) for p in campaigns)
    else:
        parts.append("<li>Campaign reports: <span class=muted>not yet produced</span></li>")
    bench = _found(reports / "bench", ("*.md",))
    parts.extend(_item(f"Benchmark: {p.stem}", p, reports) for p in bench)
    parts.append("</ul>")

    parts.append("<h2>Past nights</h2>")
    if history:
        rows = []
        for batch, verdict, checks, crit, warn, not_run, message, report_path, finished, scope in history:
            quality = reports / report_path if report_path else reports / "quality" / batch / "quality.html"
            recon = reports / "reconciliation" / batch / "reconciliation.html"
            links = " · ".join(link(_rel(p, reports), text) for p, text in ((quality, "quality"),
                               (recon, "reconciliation")) if p.exists())
            rows.append([esc(batch), esc(scope), f"<span class={esc(verdict)}>{esc(verdict)}</span>", str(checks), str(crit),
                         str(warn), str(not_run), links, esc(message or "")])
        parts.append(table(["batch", "scope", "verdict", "checks", "critical", "warnings", "not run", "reports",
                            "first findings"], rows, numeric={3, 4, 5, 6}))
    else:
        parts.append("<p class=muted>none yet</p>")
    stamp = dt.datetime.now().isoformat(sep=" ", timespec="seconds")
    parts.append(f"<p class=muted>Written {esc(stamp)}. Reports name rows by batch, file and line or by "
                 "pseudonymous key only.</p>")
    return page("vasmart — auditor's front page", "".join(parts))


def write_front_page(settings: Settings, con: duckdb.DuckDBPyConnection | None) -> Path:
    """(Re)write reports/index.html."""
    path = settings.reports / "index.html"
    write_text(path, front_page_html(settings, con))
    return path
