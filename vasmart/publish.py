"""Publishing `analytics.duckdb`: the analysts' read-only copy of the public marts, replaced atomically.

The copy holds every table of the warehouse's `marts` schema (as tables with their data: no view reaches back
into the warehouse or the lake) and `meta.published` (when, from which batches, which tables with how many
rows); no other schema. It is written to a temporary file in the same directory and moved over
`analytics.duckdb` with `os.replace`: a reader that opened the old file keeps reading it (its file handle
survives the rename), a reader opening the file afterwards sees the new copy, and nobody sees half a copy.

Before the swap every VARCHAR column of every published table is scanned for MSISDN-shaped values (11 digits
starting with 1) and IMEI-shaped values (15 or 16 digits), alone or inside text; a hit refuses the publication,
names the table and column (never the value) and leaves the previous file untouched. Digit runs are taken
whole (a longer run of digits is not a number of either shape), and long hex tokens (keyed pseudonyms,
digests: 32 or more hex characters) are set aside first, since their digit runs are not numbers.

The warehouse is attached read-only only for the copy, then detached before the scan, so that the nightly
writer is kept out for as short a time as possible.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from vasmart.config import Settings
from vasmart.warehouse import warehouse_path

PUBLISHED_SCHEMA = "marts"
META_SCHEMA = "meta"
# RE2 (DuckDB's regex engine) has no look-around: the boundaries are matched as characters. A digit run
# preceded by "<digit>." is a fraction (a DOUBLE rendered as text), not a number of its own.
_LEFT = r"(^|[^0-9.]|^\.|[^0-9]\.)"
_RIGHT = r"([^0-9]|$)"
MSISDN_RE = _LEFT + r"1[0-9]{10}" + _RIGHT
IMEI_RE = _LEFT + r"[0-9]{15,16}" + _RIGHT
HEX_TOKEN_RE = r"[0-9A-Fa-f]{32,}"
# Both shapes need 11 digits in a row once the hex tokens are blanked out, and blanking only puts spaces
# where there were hex characters: a text without 11 digits in a row is of neither shape and may skip the
# full test (the blanking and both shapes) without changing any verdict.
DIGIT_RUN_RE = r"[0-9]{11}"


class PublishError(RuntimeError):
    """The publication was refused or failed; the message is one line; the previous copy is untouched."""


@dataclass
class PublishResult:
    """What a publication wrote."""

    path: Path
    published_at: dt.datetime
    latest_batch: str | None
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows
    seconds: float = 0.0
    bytes: int = 0

    def summary(self) -> str:
        """One line for the command line."""
        rows = sum(self.tables.values())
        return (f"published {len(self.tables)} marts ({rows:,} rows, {self.bytes / 1e6:.1f} MB) "
                f"through batch {self.latest_batch or '-'} to {self.path} in {self.seconds:.1f} s")


def analytics_path(settings: Settings) -> Path:
    """The published copy, next to the warehouse."""
    return warehouse_path(settings).parent / "analytics.duckdb"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def shaped_filter(expr: str) -> tuple[str, str]:
    """SQL predicates: is the text `expr` MSISDN-shaped / IMEI-shaped somewhere (hex tokens set aside)."""
    cleaned = f"regexp_replace({expr}, '{HEX_TOKEN_RE}', ' ', 'g')"
    return (f"regexp_matches({cleaned}, '{MSISDN_RE}')", f"regexp_matches({cleaned}, '{IMEI_RE}')")


def _column_counts(con: duckdb.DuckDBPyConnection, relation: str, col: str) -> tuple[int, int]:
    """Rows of `relation` whose `col` (as text) is MSISDN-shaped / IMEI-shaped.

    Each distinct value is tested once and weighted by its rows: the marts repeat their values (a pseudonym
    per month, a handful of codes), so this is much cheaper than testing every row. Values are grouped by
    their bytes (COLLATE c), never by a collation that would merge values of different shapes.
    """
    msisdn, imei = shaped_filter("v")
    return con.execute(
        f"select coalesce(sum(n) filter (where {msisdn}), 0), coalesce(sum(n) filter (where {imei}), 0) "
        f"from (select cast({_quote(col)} as varchar) collate c as v, count(*) as n from {relation} "
        f"group by all) where regexp_matches(v, '{DIGIT_RUN_RE}')").fetchone()


def scan_personal_numbers(con: duckdb.DuckDBPyConnection, schema: str, tables: list[str],
                          all_types: bool = False) -> list[tuple[str, str, str, int]]:
    """(table, column, 'MSISDN'|'IMEI', rows) for every column holding such values.

    VARCHAR columns only, unless `all_types` (then every column is cast to text).
    """
    found = []
    for table in tables:
        cols = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_catalog = current_database() and table_schema = ? and table_name = ? "
            "order by ordinal_position", [schema, table]).fetchall()
        for col in [c for c, t in cols if all_types or t == "VARCHAR"]:
            counts = _column_counts(con, f"{_quote(schema)}.{_quote(table)}", col)
            found += [(table, col, kind, n) for kind, n in zip(("MSISDN", "IMEI"), counts, strict=True) if n]
    return found


def _copy_marts(con: duckdb.DuckDBPyConnection, source: Path) -> tuple[list[str], str | None, list[str]]:
    """Copy the marts from the warehouse (attached read-only, then detached); the latest and all loaded batches."""
    try:
        con.execute(f"ATTACH {_literal(str(source))} AS wh (READ_ONLY)")
    except duckdb.Error as exc:
        raise PublishError(f"cannot open {source} read-only: {str(exc).splitlines()[0]}") from None
    try:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_catalog = 'wh' and table_schema = ? "
            "and table_type = 'BASE TABLE' order by table_name", [PUBLISHED_SCHEMA]).fetchall()]
        if not tables:
            raise PublishError(f"{source} has no tables in schema {PUBLISHED_SCHEMA}: run `vasmart build` first")
        con.execute(f"CREATE SCHEMA {PUBLISHED_SCHEMA}")
        for table in tables:
            name = f"{PUBLISHED_SCHEMA}.{_quote(table)}"
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM wh.{name}")
        has_audit = con.execute(
            "select count(*) from information_schema.tables where table_catalog = 'wh' "
            "and table_schema = 'audit' and table_name = 'load_batch'").fetchone()[0]
        latest, batches = None, []
        if has_audit:
            batches = [r[0] for r in con.execute(
                "select distinct batch_date from wh.audit.load_batch where status = 'LOADED' order by 1").fetchall()]
            latest = batches[-1] if batches else None
    finally:
        con.execute("DETACH wh")
    return tables, latest, batches


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temps(target: Path) -> None:
    """Delete the half-written copies a killed publication left beside the target (their writer is gone)."""
    import psutil

    for leftover in target.parent.glob(f".{target.name}.*.tmp*"):
        pid = leftover.name[len(target.name) + 2:].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not psutil.pid_exists(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
def _refuse_if_quality_stopped(settings: Settings, target: Path) -> None:
    """A batch the quality gate stopped is not published (see vasmart.quality)."""
    from vasmart.quality.guard import guard_publish
    from vasmart.quality.run import QualityGateStopped

    try:
        guard_publish(settings)
    except QualityGateStopped as exc:
        raise PublishError(f"{exc}; {target} left as it was") from None
    except duckdb.Error as exc:
        raise PublishError(f"cannot read the quality verdicts: {str(exc).splitlines()[0]}") from None


def publish(settings: Settings) -> PublishResult:
    """Write a new analytics.duckdb from the warehouse's marts and swap it in; PublishError (one line) if refused."""
    started = time.perf_counter()
    source = warehouse_path(settings)
    if not source.exists():
        raise PublishError(f"no warehouse at {source}: nothing has been built yet")
    target = analytics_path(settings)
    _remove_stale_temps(target)
    _refuse_if_quality_stopped(settings, target)
    temp = target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with duckdb.connect(str(temp)) as con:
            tables, latest, batches = _copy_marts(con, source)
            found = scan_personal_numbers(con, PUBLISHED_SCHEMA, tables)
            if found:
                table, col, kind, n = found[0]
                more = f" (+{len(found) - 1} more columns)" if len(found) > 1 else ""
                raise PublishError(f"publish refused: {PUBLISHED_SCHEMA}.{table}.{col} holds {kind}-shaped values "
                                   f"in {n:,} rows{more}; {target} left as it was")
            counts = {t: con.execute(f"select count(*) from {PUBLISHED_SCHEMA}.{_quote(t)}").fetchone()[0]
                      for t in tables}
            published_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
            con.execute(f"""
                CREATE SCHEMA {META_SCHEMA};
                CREATE TABLE {META_SCHEMA}.published (
                    published_at TIMESTAMP NOT NULL,   -- UTC
                    latest_batch VARCHAR,              -- the latest LOADED batch in audit.load_batch
                    loaded_batches VARCHAR[],          -- every LOADED batch
                    tables STRUCT(table_name VARCHAR, row_count BIGINT)[]
                )""")
            con.execute(f"INSERT INTO {META_SCHEMA}.published VALUES (?, ?, ?, ?)",
                        [published_at, latest, batches,
                         [{"table_name": f"{PUBLISHED_SCHEMA}.{t}", "row_count": n} for t, n in counts.items()]])
            con.execute("CHECKPOINT")
        _fsync(temp)
        with contextlib.suppress(FileNotFoundError):
            temp.with_name(temp.name + ".wal").unlink()
        # a write-ahead log left next to the target would be replayed against the new file
        with contextlib.suppress(FileNotFoundError):
            target.with_name(target.name + ".wal").unlink()
        os.replace(temp, target)
        _fsync(target.parent)
    except PublishError:
        raise
    except (duckdb.Error, OSError) as exc:
        raise PublishError(f"publish failed: {str(exc).splitlines()[0]}; {target} left as it was") from None
    finally:
        for leftover in (temp, temp.with_name(temp.name + ".wal")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return PublishResult(target, published_at, latest, counts, time.perf_counter() - started,
                         target.stat().st_size)


def connect_analytics(settings: Settings) -> duckdb.DuckDBPyConnection:
    """The published copy, read-only and without access to other files (no lake, no warehouse, no COPY TO)."""
    path = analytics_path(settings)
    if not path.exists():
        raise FileNotFoundError(f"no analytics database at {path}: run `vasmart publish` first")
    return duckdb.connect(str(path), read_only=True,
                          config={"enable_external_access": False, "lock_configuration": True})
