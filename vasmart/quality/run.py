"""The nightly quality gate: measure the batch, validate with Great Expectations, decide, record, report.

`gate(settings, batch)` returns the verdict ('passed' or 'warnings') and raises `QualityGateStopped` when a
critical check failed, after recording it: the verdict in `audit.quality_run`, every check's outcome in
`audit.quality_check` (both replaced per batch in one transaction), the metrics frames and GX results under
`$VASMART_HOME/quality/`, the night's report under `reports/quality/<D>/`, Data Docs, the reconciliation
report and the auditor's front page.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field

import duckdb

from vasmart.config import Settings
from vasmart.contracts import load_contracts
from vasmart.quality import marts
from vasmart.quality.checks import (
    CRITICAL,
    NOT_RUN,
    WARNING,
    Check,
    CheckResult,
    verdict,
)
from vasmart.quality.gx_runner import results_from, run_checkpoint, write_metrics
from vasmart.quality.profile import attach_failing_rows, loaded_rows, profile_partition
from vasmart.quality.suites import contract_checks
from vasmart.warehouse import WarehouseBusy, connect

QUALITY_DDL = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.quality_run (
    batch_date VARCHAR NOT NULL,      -- YYYYMMDD, as in audit.load_batch
    verdict VARCHAR NOT NULL,         -- passed | warnings | stopped
    run_id VARCHAR NOT NULL,
    checks INTEGER,
    critical_failed INTEGER,
    warnings_failed INTEGER,
    not_run INTEGER,
    message VARCHAR,                  -- the first failures, one line
    report_path VARCHAR,              -- relative to $VASMART_HOME/reports
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    seconds DOUBLE,
    scope VARCHAR                     -- all | raw | marts (what the run checked)
);
CREATE TABLE IF NOT EXISTS audit.quality_check (
    batch_date VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    check_id VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    kind VARCHAR,
    field VARCHAR,
    severity VARCHAR NOT NULL,
    status VARCHAR NOT NULL,          -- passed | failed | not run | no data
    observed DOUBLE,
    min_value DOUBLE,
    max_value DOUBLE,
    description VARCHAR,
    message VARCHAR,
    failing_row_count BIGINT,
    failing_rows JSON,                -- batch/file/line or pseudonymous keys, never values
    scope VARCHAR
);
ALTER TABLE audit.quality_run ADD COLUMN IF NOT EXISTS scope VARCHAR;
ALTER TABLE audit.quality_check ADD COLUMN IF NOT EXISTS scope VARCHAR;
"""
SCOPES = ("all", "raw", "marts")
LOAD_TABLE = "audit.load_log"
REJECT_SHARE_WARNING = 0.001


class QualityError(RuntimeError):
    """The gate could not run (no such batch, warehouse busy); one line."""


class QualityGateStopped(RuntimeError):
    """A critical expectation failed: the night stops before scoring, campaigns and publishing."""

    def __init__(self, message: str, run: QualityRun | None = None):
        super().__init__(message)
        self.run = run


@dataclass
class QualityRun:
    """One gate run over one batch."""

    batch: str
    run_id: str
    verdict: str
    results: list[CheckResult] = field(default_factory=list)
    started_at: dt.datetime | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    scope: str = "all"

    @property
    def report_path(self) -> str:
        """The night's report, relative to reports/."""
        name = "quality.html" if self.scope == "all" else f"quality-{self.scope}.html"
        return f"quality/{self.batch}/{name}"

    def failures(self, severity: str) -> list[CheckResult]:
        return [r for r in self.results if r.failed and r.check.severity == severity]

    @property
    def not_run(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == NOT_RUN]

    def message(self) -> str:
        """The first failures in one line."""
        shown = [*self.failures(CRITICAL), *self.failures(WARNING), *self.not_run]
        parts = []
        for r in shown[:3]:
            observed = "" if r.observed is None else f" (observed {r.observed:g})"
            parts.append(f"{r.check.severity} {r.check.table}.{r.check.metric}{observed}{': ' + r.message if r.message else ''}")
        more = f" (+{len(shown) - 3} more)" if len(shown) > 3 else ""
        return "; ".join(parts) + more

    def summary(self) -> str:
        """One line for the command line."""
        scope = "" if self.scope == "all" else f" ({self.scope})"
        return (f"quality {self.batch}{scope}: {self.verdict} — {len(self.results)} checks, "
                f"{len(self.failures(CRITICAL))} critical and {len(self.failures(WARNING))} warning failures, "
                f"{len(self.not_run)} not run, in {self.seconds:.1f} s")


def _load_checks(con: duckdb.DuckDBPyConnection, batch: str) -> tuple[dict[str, float], list[Check]]:
    """The batch's load-level metrics and checks (from the latest load of each interface)."""
    row = con.execute("""
        WITH latest AS (
            SELECT interface, arg_max(load_id, finished_at) AS load_id FROM audit.load_log
            WHERE batch_date = ? GROUP BY ALL)
        SELECT count(*) FILTER (WHERE status <> 'LOADED'),
               count(*) FILTER (WHERE status = 'LOADED' AND (control_records IS DISTINCT FROM rows_read
                                OR rows_read IS DISTINCT FROM rows_loaded + rows_rejected)),
               coalesce(sum(rows_rejected) / nullif(sum(rows_read), 0), 0)
        FROM audit.load_log JOIN latest USING (interface, load_id)""", [batch]).fetchone()
    metrics = {"failed_files": float(row[0]), "unreconciled_files": float(row[1]), "reject_share": float(row[2])}
    checks = [
        Check(LOAD_TABLE, "failed_files", CRITICAL, "every file of the batch loaded (size, MD5, control file)",
              0, 0, "load"),
        Check(LOAD_TABLE, "unreconciled_files", CRITICAL,
              "every file: control records = lines read = rows loaded + rows rejected", 0, 0, "load"),
        Check(LOAD_TABLE, "reject_share", WARNING, "rows rejected by the loader: at most 0.1% of lines read",
              0, REJECT_SHARE_WARNING, "load"),
    ]
    return metrics, checks


def _record(con: duckdb.DuckDBPyConnection, run: QualityRun) -> None:
    """Replace the batch's verdict and check outcomes for the run's scope (all scopes for 'all') in one
    transaction."""
    finished = dt.datetime.now()
    replaced = "batch_date = ? AND (scope = ? OR ? = 'all' OR scope IS NULL)"
    con.execute("BEGIN TRANSACTION")
    try:
        for table in ("audit.quality_check", "audit.quality_run"):
            con.execute(f"DELETE FROM {table} WHERE {replaced}", [run.batch, run.scope, run.scope])
        con.executemany("INSERT INTO audit.quality_check VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            (run.batch, run.run_id, r.check.check_id, r.check.table, r.check.metric, r.check.kind, r.check.field,
             r.check.severity, r.status, r.observed, r.check.min_value, r.check.max_value, r.check.description,
             r.message or None, r.failing_row_count, json.dumps(r.failing_rows), run.scope) for r in run.results])
        con.execute("INSERT INTO audit.quality_run VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            run.batch, run.verdict, run.run_id, len(run.results), len(run.failures(CRITICAL)),
            len(run.failures(WARNING)), len(run.not_run), run.message() or None, run.report_path, run.started_at,
            finished, run.seconds, run.scope])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def measure_and_validate(settings: Settings, con: duckdb.DuckDBPyConnection, batch: str,
                         mart_checks: tuple[marts.MartCheck, ...] = marts.MART_CHECKS,
                         scope: str = "all") -> QualityRun:
    """Compute every metric of the batch in scope (raw zone and load log, marts, or all), validate them with
    GX, name the failing rows."""
    if scope not in SCOPES:
        raise QualityError(f"unknown quality scope {scope!r} (expected one of {', '.join(SCOPES)})")
    started_at, started = dt.datetime.now(), time.perf_counter()
    # Great Expectations takes seconds to import: let it load while DuckDB measures
    importer = threading.Thread(target=importlib.import_module, args=("great_expectations",), daemon=True)
    importer.start()
    run = QualityRun(batch, f"quality-{batch}-{uuid.uuid4().hex[:8]}", "", started_at=started_at, scope=scope)
    contracts = load_contracts()
    loaded = loaded_rows(con)
    interfaces = [i for i in contracts if (batch, i) in loaded]
    logged = {r[0] for r in con.execute("SELECT DISTINCT interface FROM audit.load_log WHERE batch_date = ?",
                                        [batch]).fetchall()}
    if not logged:
        raise QualityError(f"batch {batch} has not been loaded: no rows in audit.load_log")

    tables: dict[str, list[Check]] = {}
    profiles = {}
    for name in interfaces if scope != "marts" else []:
        prof = profile_partition(con, settings, contracts[name], batch, loaded)
        checks = contract_checks(contracts[name], prof.present, prof.rows_loaded, prof.volume_history,
                                 prof.null_history)
        table = checks[0].table
        tables[table], profiles[table] = checks, prof
        write_metrics(settings, batch, table, prof.metrics)
    run.timings["raw metrics"] = time.perf_counter() - started

    load_metrics, load_checks = _load_checks(con, batch)
    if scope != "marts":
        tables[LOAD_TABLE] = load_checks
        write_metrics(settings, batch, LOAD_TABLE, load_metrics)

    t = time.perf_counter()
    frames, decided, mart_to_validate = marts.measure(con, batch, mart_checks if scope != "raw" else ())
    for mart, values in frames.items():
        tables[marts.mart_table(mart)] = mart_to_validate[mart]
        write_metrics(settings, batch, marts.mart_table(mart), values)
    run.timings["mart metrics"] = time.perf_counter() - t

    t = time.perf_counter()
    importer.join()
    outcome = run_checkpoint(settings, batch, tables)
    run.timings["great expectations"] = time.perf_counter() - t

    t = time.perf_counter()
    for table, checks in tables.items():
        metrics = (profiles[table].metrics if table in profiles else load_metrics if table == LOAD_TABLE
                   else frames[table.split(".", 1)[1]])
        results = results_from(outcome, checks, metrics)
        if table in profiles:
            attach_failing_rows(con, profiles[table], results)
        elif table.startswith("marts."):
            for r in results:
                if r.failed:
                    marts.failing_rows(con, batch, r, mart_checks)
        run.results.extend(results)
    run.results.extend(decided)
    run.timings["failing rows"] = time.perf_counter() - t
    run.verdict = verdict(run.results)
    run.seconds = time.perf_counter() - started
    return run


def run_gate(settings: Settings, batch_date: str | dt.date, reports: bool = True, scope: str = "all") -> QualityRun:
    """Run the quality gate on a batch and record it; the run, or QualityGateStopped (carrying the run).

    `scope` 'raw' checks the raw zone and the load log only (between ingest and dbt build), 'marts' the marts
    only (after dbt build, before scoring), 'all' both; a run replaces the batch's earlier run of the same
    scope ('all' replaces every scope)."""
    from vasmart.quality.report import write_night_reports

    batch = batch_date.strftime("%Y%m%d") if isinstance(batch_date, dt.date) else str(batch_date)
    try:
        con = connect(settings)
    except WarehouseBusy as exc:
        raise QualityError(f"quality gate for batch {batch} not started: {exc}") from None
    try:
        con.execute(QUALITY_DDL)
        run = measure_and_validate(settings, con, batch, scope=scope)
        _record(con, run)
        if reports:
            write_night_reports(settings, con, run)
    finally:
        con.close()
    if run.verdict == "stopped":
        raise QualityGateStopped(f"quality gate stopped batch {batch}: {run.message()}", run)
    return run


def gate(settings: Settings, batch_date: str | dt.date, scope: str = "all") -> str:
    """Run the quality gate on a batch; the verdict ('passed' | 'warnings'), or QualityGateStopped."""
    return run_gate(settings, batch_date, scope=scope).verdict


__all__ = ["QualityError", "QualityGateStopped", "QualityRun", "gate", "run_gate"]
