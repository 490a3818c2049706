"""The night's quality report (`reports/quality/<D>/quality.{json,html}`) and what is rebuilt with it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb

from vasmart.config import Settings
from vasmart.quality.checks import CRITICAL, FAILED, NO_DATA, NOT_RUN, WARNING
from vasmart.quality.html import esc, link, number, page, table
from vasmart.quality.suites import band_text


def write_text(path: Path, text: str) -> None:
    """Write a report file aside and move it in (a reader never sees half a page)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def _order(r) -> tuple:
    rank = {(FAILED, CRITICAL): 0, (FAILED, WARNING): 1}.get((r.status, r.check.severity), 2 if r.status == NOT_RUN
                                                             else 3 if r.status == NO_DATA else 4)
    return rank, r.check.table, r.check.metric


def _rows_cell(r) -> str:
    if not r.failing_rows:
        return ""
    shown = []
    for row in r.failing_rows:
        if "file" in row:
            shown.append(f"{row['file']}:{row['line']}")
        else:
            shown.append(", ".join(f"{k}={v}" for k, v in row.items()))
    more = "" if r.failing_row_count is None or r.failing_row_count <= len(shown) else \
        f" <span class=muted>(first {len(shown)} of {r.failing_row_count:,})</span>"
    return f"{r.failing_row_count or len(shown):,} rows: " + "<br>".join(esc(s) for s in shown) + more


def quality_html(run, docs_href: str, reconciliation_href: str) -> str:
    """The night's checks, worst first, with observed values and failing rows."""
    results = sorted(run.results, key=_order)
    rows = []
    for r in results:
        c = r.check
        status_cls = c.severity if r.failed else ("warning" if r.status == NOT_RUN else "passed")
        rows.append([f"<span class={esc(c.severity)}>{esc(c.severity)}</span>",
                     f"<span class={esc(status_cls)}>{esc(r.status)}</span>", esc(c.table), esc(c.metric),
                     esc(c.description), esc(band_text(c.min_value, c.max_value)), number(r.observed),
                     esc(r.message) + _rows_cell(r)])
    crit, warn, not_run = len(run.failures(CRITICAL)), len(run.failures(WARNING)), len(run.not_run)
    body = (f"<nav>{link('../../index.html', 'all nights')}{link(docs_href, 'Data Docs')}"
            f"{link(reconciliation_href, 'reconciliation')}</nav>"
            f"<h1>Data quality, batch {esc(run.batch)}{'' if run.scope == 'all' else ' (' + esc(run.scope) + ')'}: <span class='badge {esc(run.verdict)}'>{esc(run.verdict)}</span></h1>"
            f"<p>{len(run.results)} checks: {crit} critical failures, {warn} warnings, {not_run} not run. "
            f"Run {esc(run.run_id)} took {run.seconds:.1f} s. Failing rows are named by batch, file and line "
            "(raw zone) or by pseudonymous key (marts); their values are never shown.</p>"
            + table(["severity", "status", "table", "metric", "rule", "expected", "observed", "details"], rows,
                    numeric={6}))
    return page(f"Data quality {run.batch}", body)


def quality_json(run) -> dict:
    return {"batch_date": run.batch, "scope": run.scope, "run_id": run.run_id, "verdict": run.verdict,
            "started_at": run.started_at.isoformat(timespec="seconds") if run.started_at else None,
            "seconds": round(run.seconds, 3), "timings": {k: round(v, 3) for k, v in run.timings.items()},
            "message": run.message(), "checks": [r.as_dict() for r in sorted(run.results, key=_order)]}


def write_night_reports(settings: Settings, con: duckdb.DuckDBPyConnection, run) -> None:
    """The quality report, the reconciliation report and the front page for this night."""
    from vasmart.quality.front_page import write_front_page
    from vasmart.quality.reconciliation import write_reconciliation

    html_path = settings.reports / run.report_path
    write_text(html_path.with_suffix(".json"), json.dumps(quality_json(run), indent=2, default=str) + "\n")
    write_text(html_path, quality_html(run, "../../data_docs/index.html",
                                                  f"../../reconciliation/{run.batch}/reconciliation.html"))
    write_reconciliation(settings, con, run.batch)
    write_front_page(settings, con)
