"""What a quality check is, what it found, and how severities decide a night's verdict.

A check is one metric of one table of a batch (computed in DuckDB, see `profile.py` and `marts.py`) and
the band it must fall in. The same metric may carry two bands: a wide one whose breach is critical (the
data cannot be right: a required field empty, a key repeated, a rate above 1) and a narrower one whose
breach is a warning (unusual but possible: volume off its trailing median, a match rate lower than usual).

Verdicts: `stopped` when any critical check failed (scoring, campaigns and publishing do not run),
`warnings` when a warning check failed or a check could not run (a mart not built yet is reported, never
skipped silently), `passed` otherwise. Checks without enough history to set a band are reported as `info`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

CRITICAL, WARNING, INFO = "critical", "warning", "info"
PASSED, FAILED, NOT_RUN, NO_DATA = "passed", "failed", "not run", "no data"
VERDICT_PASSED, VERDICT_WARNINGS, VERDICT_STOPPED = "passed", "warnings", "stopped"


@dataclass
class Check:
    """One metric of one table and the band it must fall in."""

    table: str  # e.g. raw.cdr_voice or marts.fct_imei_quality
    metric: str  # column of the table's metrics frame, e.g. null_rows__msisdn
    severity: str  # critical | warning | info
    description: str  # what an auditor reads: the rule in words
    min_value: float | None = None
    max_value: float | None = None
    kind: str = ""  # rows, volume, nulls, null_share, values, format, duplicates, schema, load, mart
    field: str | None = None  # the contract field or mart column concerned
    row_condition: str | None = None  # SQL over the table's rows: the rows that make the check fail

    @property
    def check_id(self) -> str:
        """Stable name: table, metric and severity."""
        return f"{self.table}:{self.metric}:{self.severity}"


@dataclass
class CheckResult:
    """A check's outcome on one batch."""

    check: Check
    status: str  # passed | failed | not run | no data
    observed: float | None = None
    message: str = ""
    failing_rows: list[dict] = field(default_factory=list)  # batch/file/line or pseudonymous keys only
    failing_row_count: int | None = None

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def as_dict(self) -> dict:
        """JSON-ready form."""
        c = self.check
        return {"check_id": c.check_id, "table": c.table, "metric": c.metric, "kind": c.kind, "field": c.field,
                "severity": c.severity, "description": c.description, "min_value": c.min_value,
                "max_value": c.max_value, "status": self.status, "observed": _json_number(self.observed),
                "message": self.message, "failing_row_count": self.failing_row_count,
                "failing_rows": self.failing_rows}


def _json_number(value: float | None) -> float | int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if float(value).is_integer():
        return int(value)
    return float(value)


def in_band(value: float | None, min_value: float | None, max_value: float | None) -> bool:
    """Is the value inside [min, max] (open ends allowed)?"""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return (min_value is None or value >= min_value) and (max_value is None or value <= max_value)


def verdict(results: list[CheckResult]) -> str:
    """The night's verdict from its check results (see the module docstring)."""
    if any(r.failed and r.check.severity == CRITICAL for r in results):
        return VERDICT_STOPPED
    if any((r.failed and r.check.severity == WARNING) or r.status == NOT_RUN for r in results):
        return VERDICT_WARNINGS
    return VERDICT_PASSED
