"""Metrics of a batch's raw partitions, computed in DuckDB: one scan per interface, only the columns the
checks need, aggregates pushed down; and the earlier batches' volumes and empty-value shares that set the
bands (from the load log, the control files and the Parquet footers, without reading earlier data).

Failing rows are named by batch, file and line (`_file_name`, `_line_number` of the raw zone), never by
their values.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from vasmart.config import Settings
from vasmart.contracts import Contract
from vasmart.ingest.delivery import read_control_file
from vasmart.ingest.errors import FileFault
from vasmart.quality.checks import Check, CheckResult
from vasmart.quality.suites import (
    HISTORY_BATCHES,
    Metric,
    contract_metrics,
    duplicate_rows_sql,
    literal,
    quote,
)
from vasmart.warehouse import lake_root

FAILING_ROWS_SHOWN = 20


@dataclass
class PartitionProfile:
    """What the gate measured of one interface in one batch."""

    contract: Contract
    batch: str
    path: Path
    present: set[str] = field(default_factory=set)
    metrics: dict[str, float] = field(default_factory=dict)
    metric_defs: dict[str, Metric] = field(default_factory=dict)
    rows_loaded: int | None = None
    covered_days: int = 1
    volume_history: list[float] = field(default_factory=list)
    null_history: dict[str, list[float]] = field(default_factory=dict)


def partition_dir(settings: Settings, interface: str, batch: str) -> Path:
    """The raw partition of an interface and batch."""
    return lake_root(settings) / "raw" / interface / f"batch_date={batch}"


def _glob(path: Path) -> str:
    return literal(str(path / "*.parquet"))


def covered_days(settings: Settings, contract: Contract, batch: str) -> int:
    """Days an events interface's delivery covers (from its control file); 1 for snapshots and monthly data."""
    if contract.kind != "events":
        return 1
    chk = settings.landing / batch / f"{contract.interface}_{batch}.chk"
    try:
        entries = read_control_file(chk)
    except (OSError, FileFault):
        return 1
    if not entries:
        return 1
    start = min(e.period_start for e in entries)
    end = max(e.period_end for e in entries)
    return max((end - start).days + 1, 1)


def loaded_rows(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], int]:
    """(batch, interface) -> rows loaded by the latest successful load of that interface in that batch."""
    rows = con.execute("""
        WITH latest AS (
            SELECT batch_date, interface, arg_max(load_id, finished_at) AS load_id
            FROM audit.load_log GROUP BY ALL)
        SELECT l.batch_date, l.interface, sum(l.rows_loaded)
        FROM audit.load_log l JOIN latest USING (batch_date, interface, load_id)
        WHERE l.status = 'LOADED' GROUP BY ALL""").fetchall()
    return {(b, i): int(n or 0) for b, i, n in rows}


def _null_shares_from_footer(con: duckdb.DuckDBPyConnection, path: Path, fields: list[str]) -> dict[str, float]:
    """Share of empty values per field from the Parquet footers' statistics (no data read)."""
    if not fields or not any(path.glob("*.parquet")):
        return {}
    names = ", ".join(literal(f) for f in fields)
    rows = con.execute(f"""
        SELECT path_in_schema, sum(stats_null_count), sum(row_group_num_rows), bool_and(stats_null_count IS NOT NULL)
        FROM parquet_metadata({_glob(path)}) WHERE path_in_schema IN ({names}) GROUP BY ALL""").fetchall()
    return {name: nulls / total for name, nulls, total, complete in rows if complete and total}


def profile_partition(con: duckdb.DuckDBPyConnection, settings: Settings, contract: Contract, batch: str,
                      loaded: dict[tuple[str, str], int]) -> PartitionProfile:
    """Measure one interface of the batch: its metrics and the history its bands come from."""
    path = partition_dir(settings, contract.interface, batch)
    prof = PartitionProfile(contract, batch, path, rows_loaded=loaded.get((batch, contract.interface)))
    if any(path.glob("*.parquet")):
        cols = con.execute(f"DESCRIBE SELECT * FROM read_parquet({_glob(path)})").fetchall()
        prof.present = {c[0] for c in cols}
        metrics = contract_metrics(contract, prof.present)
        prof.metric_defs = {m.name: m for m in metrics}
        select = ", ".join(f"{m.sql} AS {quote(m.name)}" for m in metrics)
        values = con.execute(f"SELECT {select} FROM read_parquet({_glob(path)})").fetchone()
        prof.metrics = {m.name: float(v) if v is not None else 0.0 for m, v in zip(metrics, values, strict=True)}
        if prof.metrics.get("duplicate_key_rows"):  # the hashed screen saw repeats: count them on the keys
            exact = duplicate_rows_sql(list(contract.key), hashed=False)
            prof.metrics["duplicate_key_rows"] = float(
                con.execute(f"SELECT {exact} FROM read_parquet({_glob(path)})").fetchone()[0])
    else:
        prof.metrics = {"rows": 0.0}
    prof.metrics["missing_fields"] = float(sum(1 for f in contract.field_names if f not in prof.present))
    prof.covered_days = covered_days(settings, contract, batch)
    prof.metrics["rows_per_day"] = prof.metrics["rows"] / prof.covered_days

    earlier = sorted((b for (b, i) in loaded if i == contract.interface and b < batch), reverse=True)
    earlier = earlier[:HISTORY_BATCHES]
    prof.volume_history = [loaded[(b, contract.interface)] / covered_days(settings, contract, b) for b in earlier]
    optional = [f.name for f in contract.fields if not f.required]
    for b in earlier:
        shares = _null_shares_from_footer(con, partition_dir(settings, contract.interface, b), optional)
        for name, share in shares.items():
            prof.null_history.setdefault(name, []).append(share)
    return prof


def failing_rows(con: duckdb.DuckDBPyConnection, prof: PartitionProfile, check: Check) -> tuple[list[dict], int]:
    """Up to FAILING_ROWS_SHOWN failing rows of a raw check as batch/file/line, and how many rows fail."""
    source = f"read_parquet({_glob(prof.path)})"
    if check.kind == "duplicates":
        key = ", ".join(quote(k) for k in prof.contract.key)
        relation = (f"(SELECT _file_name, _line_number, count(*) OVER (PARTITION BY {key}) AS _n "
                    f"FROM {source}) WHERE _n > 1")
    elif check.row_condition:
        relation = f"{source} WHERE {check.row_condition}"
    else:
        return [], 0
    n = con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
    rows = con.execute(f"SELECT _file_name, _line_number FROM {relation} ORDER BY 1, 2 "
                       f"LIMIT {FAILING_ROWS_SHOWN}").fetchall()
    return [{"batch": prof.batch, "file": f, "line": int(line)} for f, line in rows], int(n)


def attach_failing_rows(con: duckdb.DuckDBPyConnection, prof: PartitionProfile, results: list[CheckResult]) -> None:
    """Name the failing rows of every failed row-level check of this partition."""
    for r in results:
        if r.failed and (r.check.row_condition or r.check.kind == "duplicates"):
            r.failing_rows, r.failing_row_count = failing_rows(con, prof, r.check)


def batch_day(batch: str) -> dt.date:
    """The batch date as a date."""
    return dt.datetime.strptime(batch, "%Y%m%d").date()
