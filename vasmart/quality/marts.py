"""Mart-level expectations that matter to the business: a small declarative list.

Each entry names a mart, the rows of the night's batch (`where`, with `{batch_date}` a DATE literal,
`{batch_month}` 'YYYYMM' and `{month_start}` the month's first day), a row value, how the rows' values are
aggregated into the observed value, the bands (critical / warning), and the pseudonymous key columns that
name failing rows. A mart that does not exist yet, a column it lacks or a batch without rows is reported
(as a warning, or as information where `empty_is` says so), never skipped silently.

To add a check after another mart lands, append a `MartCheck` here.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from vasmart.quality.checks import (
    CRITICAL,
    FAILED,
    INFO,
    NO_DATA,
    NOT_RUN,
    PASSED,
    WARNING,
    Check,
    CheckResult,
    in_band,
)
from vasmart.quality.profile import FAILING_ROWS_SHOWN, batch_day
from vasmart.quality.suites import band_text, quote


@dataclass(frozen=True)
class MartCheck:
    """One business expectation on a mart."""

    name: str  # the metric's name in the mart's metrics frame
    mart: str  # table in schema marts
    value: str  # SQL over one row of the mart
    aggregate: str  # min | max | avg | sum | count_true
    where: str  # the batch's rows
    description: str
    critical: tuple[float | None, float | None] | None = None
    warning: tuple[float | None, float | None] | None = None
    keys: tuple[str, ...] = ()  # pseudonymous / non-personal columns naming a failing row
    empty_is: str = WARNING  # severity reported when the batch has no rows in the mart

    def aggregate_sql(self) -> str:
        if self.aggregate == "count_true":
            return f"count(*) FILTER (WHERE {self.value})"
        return f"{self.aggregate}({self.value})"


MART_CHECKS: tuple[MartCheck, ...] = (
    MartCheck("user_match_rate_min", "fct_imei_quality", "user_match_rate", "min", "batch_date = {batch_date}",
              "IMEI observations matched to the user holding the number (lowest rate of the batch)",
              critical=(0.0, 1.0), warning=(0.95, 1.0), keys=("batch_date",)),
    MartCheck("user_match_rate_max", "fct_imei_quality", "user_match_rate", "max", "batch_date = {batch_date}",
              "a match rate is a share: never above 1", critical=(0.0, 1.0), keys=("batch_date",)),
    MartCheck("invalid_imei_share", "fct_imei_quality", "invalid_imei_share", "max", "batch_date = {batch_date}",
              "share of IMEI observations with an invalid IMEI", critical=(0.0, 1.0), warning=(0.0, 0.01),
              keys=("batch_date",)),
    MartCheck("unknown_tac_rate", "fct_imei_quality", "unknown_tac_rate", "max", "batch_date = {batch_date}",
              "share of observations whose TAC is not in REF_TAC", critical=(0.0, 1.0), warning=(0.0, 0.05),
              keys=("batch_date",)),
    MartCheck("charged_share", "fct_vas_order_charges", "CAST(is_charged AS INTEGER)", "avg",
              "charge_month = {batch_month}", "share of the month's orders charged under the Monternet rule",
              critical=(0.0, 1.0), warning=(0.5, 1.0)),
    MartCheck("negative_charges", "fct_vas_order_charges", "charged_fen < 0 OR info_fee_fen < 0", "count_true",
              "charge_month = {batch_month}", "no negative charge or information fee",
              critical=(0, 0), keys=("user_pseudonym", "service_code", "charge_month")),
    MartCheck("usage_break_users", "fct_usage_reconciliation", "user_pseudonym", "count",
              "stat_month = {batch_month}", "BASS_USAGE vs CDR detail: breaks in the batch's month",
              warning=(0, 50), keys=("user_pseudonym", "measure"), empty_is=INFO),
    MartCheck("delivery_success_rate", "fct_service_health_daily", "delivery_success_rate", "min",
              "activity_date = {batch_date}", "content delivery success rate per service (lowest of the day)",
              critical=(0.0, 1.0), warning=(0.80, 1.0), keys=("service_code", "activity_date")),
    MartCheck("sticky_audit_rate", "fct_sticky_service_audit", "audit_rate", "max",
              "month_start_date = {month_start}", "sticky services' monthly audit rate is a share",
              critical=(0.0, 1.0), keys=("service_code", "month_start_date")),
)


def mart_table(mart: str) -> str:
    return f"marts.{mart}"


def _where(check: MartCheck, batch: str) -> str:
    day = batch_day(batch)
    return check.where.format(batch_date=f"DATE '{day.isoformat()}'", batch_month=f"'{batch[:6]}'",
                              month_start=f"DATE '{day.replace(day=1).isoformat()}'")


def to_checks(mc: MartCheck) -> list[Check]:
    """The mart check's bands as checks (critical first)."""
    out = []
    for severity, band in ((CRITICAL, mc.critical), (WARNING, mc.warning)):
        if band is not None:
            out.append(Check(mart_table(mc.mart), mc.name, severity, f"{mc.mart}: {mc.description}",
                             band[0], band[1], "mart", mc.value))
    return out


def existing_marts(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Tables and views in schema marts."""
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                      "WHERE table_schema = 'marts' AND table_catalog = current_database()").fetchall()}


def measure(con: duckdb.DuckDBPyConnection, batch: str, checks: tuple[MartCheck, ...] = MART_CHECKS
            ) -> tuple[dict[str, dict[str, float]], list[CheckResult], dict[str, list[Check]]]:
    """Observed values per mart (the metrics frames), results decided here (not run / no data), and the
    checks to validate with Great Expectations per mart."""
    present = existing_marts(con)
    frames: dict[str, dict[str, float]] = {}
    decided: list[CheckResult] = []
    to_validate: dict[str, list[Check]] = {}
    for mc in checks:
        checks_of = to_checks(mc) or [Check(mart_table(mc.mart), mc.name, INFO, mc.description, kind="mart")]
        if mc.mart not in present:
            decided.append(CheckResult(Check(mart_table(mc.mart), mc.name, WARNING,
                                             f"{mc.mart}: {mc.description}", kind="mart"), NOT_RUN,
                                       message=f"mart marts.{mc.mart} is not built"))
            continue
        try:
            n, value = con.execute(f"SELECT count(*), {mc.aggregate_sql()} FROM marts.{quote(mc.mart)} "
                                   f"WHERE {_where(mc, batch)}").fetchone()
        except duckdb.Error as exc:
            decided.append(CheckResult(Check(mart_table(mc.mart), mc.name, WARNING,
                                             f"{mc.mart}: {mc.description}", kind="mart"), NOT_RUN,
                                       message=f"check could not run: {str(exc).splitlines()[0]}"))
            continue
        if not n:
            severity = mc.empty_is
            decided.append(CheckResult(Check(mart_table(mc.mart), mc.name, severity,
                                             f"{mc.mart}: {mc.description}", kind="mart"),
                                       NO_DATA if severity == INFO else NOT_RUN,
                                       message=f"no rows of batch {batch} in marts.{mc.mart}"))
            continue
        frames.setdefault(mc.mart, {})[mc.name] = float(value) if value is not None else float("nan")
        to_validate.setdefault(mc.mart, []).extend(checks_of)
    return frames, decided, to_validate


def failing_rows(con: duckdb.DuckDBPyConnection, batch: str, result: CheckResult,
                 checks: tuple[MartCheck, ...] = MART_CHECKS) -> None:
    """Name the rows of a failed mart check by their pseudonymous keys (min/max/count checks only)."""
    mc = next((m for m in checks if mart_table(m.mart) == result.check.table and m.name == result.check.metric), None)
    if mc is None or not mc.keys or mc.aggregate not in ("min", "max", "count_true"):
        return
    c = result.check
    if mc.aggregate == "count_true":
        cond = mc.value
    else:
        parts = []
        if c.min_value is not None:
            parts.append(f"({mc.value}) < {c.min_value}")
        if c.max_value is not None:
            parts.append(f"({mc.value}) > {c.max_value}")
        cond = " OR ".join(parts) or "false"
    relation = f"marts.{quote(mc.mart)} WHERE ({_where(mc, batch)}) AND ({cond})"
    keys = ", ".join(quote(k) for k in mc.keys)
    result.failing_row_count = con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
    rows = con.execute(f"SELECT {keys}, ({mc.value}) FROM {relation} ORDER BY ALL LIMIT {FAILING_ROWS_SHOWN}"
                       ).fetchall()
    result.failing_rows = [{**{k: str(v) for k, v in zip(mc.keys, row[:-1], strict=True)},
                            "value": row[-1] if not isinstance(row[-1], bool) else bool(row[-1])} for row in rows]
    result.message = result.message or f"{c.metric} {band_text(c.min_value, c.max_value)} expected"


__all__ = ["FAILED", "MART_CHECKS", "PASSED", "MartCheck", "failing_rows", "in_band", "measure", "to_checks"]
