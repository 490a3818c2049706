"""Expectation suites derived from the data contracts (`data_contracts/*.odcs.yaml`), never written by hand.

For every interface of a batch, the contract gives the metrics computed over the batch's raw partition and
the checks on them (severities in brackets):

| contract says                    | metric                       | check                                       |
|----------------------------------|------------------------------|---------------------------------------------|
| (the load log)                   | `rows`                       | = rows loaded for the batch [critical]      |
| kind, event time (volume)        | `rows_per_day`               | within the band of the trailing 7 batches' median [warning]; below a fifth of it and 6√m below it [critical] |
| `required: true`                 | `null_rows__<field>`         | = 0 [critical]                              |
| `required: false`                | `null_share__<field>`        | at most double the trailing median share, or +5 points [warning] |
| `enum` (valid values)            | `outside_values__<field>`    | = 0 [critical]                              |
| `format` msisdn / imei (pattern) | `bad_format__<field>`        | = 0 [critical]                              |
| `primaryKey`                     | `duplicate_key_rows`         | = 0 [critical]                              |
| the fields                       | `missing_fields`             | = 0 [critical]                              |

Rows per day divide an events interface's rows by the days its control file covers (a first daily batch
covering the 1st to the 14th compares with single days); snapshot and monthly interfaces count rows.
The band is the median m of up to 7 earlier batches that carried the interface, plus or minus
max(30% of m, 3·√m) (so that a handful of complaints a day is not an anomaly); with fewer than 3 earlier
batches there is no band and the metric is reported as information.

`to_gx_suite` turns the checks of one table into a Great Expectations suite over the table's one-row
metrics frame: each check is an `expect_column_max_to_be_between` on its metric column, with the contract
rule as the description that Data Docs show, the check's severity as GX's own severity, and the observed
value coming back as GX's `observed_value`.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from vasmart.contracts import FORMAT_PATTERNS, Contract
from vasmart.quality.checks import CRITICAL, INFO, WARNING, Check

HISTORY_BATCHES = 7
MIN_HISTORY = 3
VOLUME_BAND_SHARE = 0.30
VOLUME_CRITICAL_SHARE = 0.20
NULL_SHARE_MIN_STEP = 0.05


@dataclass(frozen=True)
class Metric:
    """One aggregate over a raw partition, and the rows that make it non-zero (when it counts rows)."""

    name: str
    sql: str
    row_condition: str | None = None


def quote(name: str) -> str:
    """A SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def raw_table(contract: Contract) -> str:
    """The table name checks and reports use for an interface's raw partition."""
    return f"raw.{contract.interface.lower()}"


def contract_metrics(contract: Contract, present: set[str]) -> list[Metric]:
    """The metrics of an interface's partition that its contract asks for (fields absent are skipped here and
    counted by `missing_fields`)."""
    metrics = [Metric("rows", "count(*)")]
    for f in contract.fields:
        if f.name not in present:
            continue
        col = quote(f.name)
        if f.required:
            metrics.append(Metric(f"null_rows__{f.name}", f"count(*) - count({col})", f"{col} IS NULL"))
        else:
            metrics.append(Metric(f"null_share__{f.name}", f"(count(*) - count({col})) / greatest(count(*), 1)",
                                  f"{col} IS NULL"))
        if f.values:
            allowed = ", ".join(literal(v) for v in f.values)
            cond = f"{col} IS NOT NULL AND CAST({col} AS VARCHAR) NOT IN ({allowed})"
            metrics.append(Metric(f"outside_values__{f.name}", f"count(*) FILTER (WHERE {cond})", cond))
        if f.format:
            cond = f"{col} IS NOT NULL AND NOT {full_match(col, FORMAT_PATTERNS[f.format])}"
            metrics.append(Metric(f"bad_format__{f.name}", f"count(*) FILTER (WHERE {cond})", cond))
    key = [k for k in contract.key if k in present]
    if key and len(key) == len(contract.key):
        metrics.append(Metric("duplicate_key_rows", duplicate_rows_sql(key, hashed=True)))
    return metrics


def duplicate_rows_sql(key: list[str], hashed: bool) -> str:
    """Rows repeating a key seen before. Hashed, a screen: it can only over-count (two keys sharing a 64-bit
    hash), so 0 is exact and anything else is recounted on the keys themselves."""
    cols = ", ".join(quote(k) for k in key)
    if len(key) == 1:
        value = f"hash({cols})" if hashed else cols
        return f"count({cols}) - count(DISTINCT {value}) FILTER (WHERE {cols} IS NOT NULL)"
    value = f"hash({cols})" if hashed else "{" + ", ".join(f"{literal(k)}: {quote(k)}" for k in key) + "}"
    return f"count(*) - count(DISTINCT {value})"


def full_match(col: str, pattern: str) -> str:
    """SQL: does the column match the contract's anchored pattern (^...$) as a whole? (RE2 full match is
    several times faster than an anchored search.)"""
    if pattern.startswith("^") and pattern.endswith("$"):
        return f"regexp_full_match({col}, {literal(pattern[1:-1])})"
    return f"regexp_matches({col}, {literal(pattern)})"


def volume_band(history: list[float]) -> tuple[float | None, float | None, float | None, float | None]:
    """(warning min, warning max, critical min, median) from earlier batches' rows per day; Nones without history."""
    if len(history) < MIN_HISTORY:
        return None, None, None, None
    m = statistics.median(history)
    half = max(VOLUME_BAND_SHARE * m, 3 * math.sqrt(m))
    # critical only where chance cannot explain it: also 6 Poisson deviations below (a quiet day of a small
    # interface, such as no VAS order among a few hundred users, is not a broken delivery)
    critical = max(min(VOLUME_CRITICAL_SHARE * m, m - 6 * math.sqrt(m)), 0.0)
    return max(m - half, 0.0), m + half, critical, m


def null_share_limit(history: list[float]) -> float | None:
    """Largest acceptable share of empty values of an optional field, from earlier batches; None without history."""
    if len(history) < MIN_HISTORY:
        return None
    m = statistics.median(history)
    return min(1.0, m + max(NULL_SHARE_MIN_STEP, m))


def contract_checks(contract: Contract, present: set[str], rows_loaded: int | None,
                    volume_history: list[float], null_history: dict[str, list[float]]) -> list[Check]:
    """The checks on an interface's partition, derived from its contract (see the module docstring)."""
    table = raw_table(contract)
    itf = contract.interface
    checks: list[Check] = []
    missing = [f.name for f in contract.fields if f.name not in present]
    checks.append(Check(table, "missing_fields", CRITICAL,
                        f"every field of the {itf} contract is in the partition"
                        + (f" (missing: {', '.join(missing)})" if missing else ""), 0, 0, "schema"))
    if rows_loaded is not None:
        checks.append(Check(table, "rows", CRITICAL,
                            f"the partition holds the {rows_loaded:,} rows the load log says were loaded",
                            rows_loaded, rows_loaded, "rows"))
    lo, hi, floor, median = volume_band(volume_history)
    unit = "rows per covered day" if contract.kind == "events" else "rows"
    if median is None:
        checks.append(Check(table, "rows_per_day", INFO,
                            f"{itf} {unit}: no band yet ({len(volume_history)} earlier batches, "
                            f"{MIN_HISTORY} needed)", None, None, "volume"))
    else:
        checks.append(Check(table, "rows_per_day", WARNING,
                            f"{itf} {unit} within ±max(30%, 3√m) of the median m = {median:,.1f} "
                            f"of the last {len(volume_history)} batches", round(lo, 1), round(hi, 1), "volume"))
        checks.append(Check(table, "rows_per_day", CRITICAL,
                            f"{itf} {unit} not below a fifth of the median m = {median:,.1f} (nor 6√m below it) "
                            f"of the last {len(volume_history)} batches", round(floor, 1), None, "volume"))
    by_name = {m.name: m for m in contract_metrics(contract, present)}
    for f in contract.fields:
        if f.name not in present:
            continue
        if f.required:
            m = by_name[f"null_rows__{f.name}"]
            checks.append(Check(table, m.name, CRITICAL, f"{itf}.{f.name} is required: no empty values",
                                0, 0, "nulls", f.name, m.row_condition))
        else:
            m = by_name[f"null_share__{f.name}"]
            limit = null_share_limit(null_history.get(f.name, []))
            if limit is None:
                checks.append(Check(table, m.name, INFO, f"{itf}.{f.name} is optional: share of empty values "
                                    f"(no band yet)", None, None, "null_share", f.name, m.row_condition))
            else:
                median = statistics.median(null_history[f.name])
                checks.append(Check(table, m.name, WARNING,
                                    f"{itf}.{f.name} is optional: share of empty values at most double the "
                                    f"median {median:.4f} of the last {len(null_history[f.name])} batches, "
                                    "or 5 points above it", 0, round(limit, 4), "null_share", f.name,
                                    m.row_condition))
        if f.values:
            m = by_name[f"outside_values__{f.name}"]
            shown = ", ".join(f.values) if len(f.values) <= 8 else ", ".join(f.values[:8]) + ", ..."
            checks.append(Check(table, m.name, CRITICAL, f"{itf}.{f.name} takes only its valid values ({shown})",
                                0, 0, "values", f.name, m.row_condition))
        if f.format:
            m = by_name[f"bad_format__{f.name}"]
            checks.append(Check(table, m.name, CRITICAL,
                                f"{itf}.{f.name} has the {f.format.upper()} format of its contract",
                                0, 0, "format", f.name, m.row_condition))
    if "duplicate_key_rows" in by_name:
        checks.append(Check(table, "duplicate_key_rows", CRITICAL,
                            f"{itf} key ({', '.join(contract.key)}) is unique in the batch", 0, 0, "duplicates",
                            ", ".join(contract.key)))
    return checks


def band_text(min_value: float | None, max_value: float | None) -> str:
    """The band in words, e.g. '= 0', 'between 1 and 2', 'at least 3'."""
    def num(v: float) -> str:
        return f"{v:,.4f}".rstrip("0").rstrip(".") if not float(v).is_integer() else f"{int(v):,}"
    if min_value is not None and max_value is not None:
        return f"= {num(min_value)}" if min_value == max_value else f"between {num(min_value)} and {num(max_value)}"
    if min_value is not None:
        return f"at least {num(min_value)}"
    if max_value is not None:
        return f"at most {num(max_value)}"
    return "(no band)"


def to_gx_suite(name: str, checks: list[Check]):
    """A Great Expectations suite over a table's one-row metrics frame, one expectation per check."""
    import great_expectations as gx

    expectations = []
    for c in checks:
        if c.min_value is None and c.max_value is None:
            continue  # information only: reported with its value, nothing to expect
        expectations.append(gx.expectations.ExpectColumnMaxToBeBetween(
            column=c.metric, min_value=c.min_value, max_value=c.max_value, severity=c.severity,
            description=f"[{c.severity}] {c.description}: {c.metric} {band_text(c.min_value, c.max_value)}",
            meta={"check_id": c.check_id, "kind": c.kind, "field": c.field}))
    return gx.ExpectationSuite(name=name, expectations=expectations,
                               meta={"generated_from": "data_contracts/ and vasmart.quality.marts"})
