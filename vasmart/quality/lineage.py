"""Lineage: from a mart (and optionally some of its rows) to the models, batches and files that fed it.

- Models: dbt's manifest (`$VASMART_HOME/dbt/target/manifest.json`), walking `depends_on` from the mart
  down to the sources; each source is an interface of the raw zone (its `identifier`).
- Rows: `--where` selects rows of the mart; their period is read from the mart's first period column
  (`batch_date`, `month_start_date`, a `*_month` 'YYYYMM' or a `*_date` column) and bounds the batches.
- Batches: every loaded batch whose control-file coverage starts before the period ends (marts may carry
  state built from earlier events, e.g. a service held since an order months ago, and history is rebuilt
  from every snapshot); those whose coverage overlaps the period are marked `in_period` (`*` in the text).
  Without `--where`, every loaded batch.
- Files: the files of those batches in `audit.load_log` (latest load), with their MD5, row counts and load.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from vasmart.build import dbt_dirs
from vasmart.config import Settings
from vasmart.contracts import load_contracts
from vasmart.ingest.delivery import read_control_file
from vasmart.ingest.errors import FileFault
from vasmart.quality.suites import quote


class LineageError(ValueError):
    """Lineage cannot be traced (no manifest, unknown mart, bad filter); one line."""


@dataclass
class Lineage:
    """What fed a mart (or some of its rows)."""

    mart: str
    where: str | None
    rows: int | None = None
    period: tuple[dt.date, dt.date] | None = None
    models: list[dict] = field(default_factory=list)  # name, layer, materialized, depends_on
    interfaces: list[str] = field(default_factory=list)
    batches: dict[str, list[str]] = field(default_factory=dict)  # interface -> batches
    files: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"mart": self.mart, "where": self.where, "rows": self.rows,
                "period": [d.isoformat() for d in self.period] if self.period else None,
                "models": self.models, "interfaces": self.interfaces, "batches": self.batches, "files": self.files}

    def text(self) -> str:
        """A readable tree for the command line."""
        lines = [f"marts.{self.mart}" + (f" where {self.where}: {self.rows:,} rows" if self.where else "")
                 + (f", period {self.period[0]} .. {self.period[1]}" if self.period else "")]
        lines.append("models (nearest first):")
        lines += [f"  {m['layer']:<12} {m['name']} ({m['materialized']})" for m in self.models]
        lines.append("interfaces, batches and files (* = coverage overlaps the rows' period):")
        by_key: dict[tuple[str, str], list[dict]] = {}
        for f in self.files:
            by_key.setdefault((f["interface"], f["batch"]), []).append(f)
        for itf in self.interfaces:
            batches = self.batches.get(itf, [])
            lines.append(f"  {itf}: {len(batches)} batches")
            for b in batches:
                for f in by_key.get((itf, b), []):
                    mark = "*" if f["in_period"] else " "
                    lines.append(f"   {mark}{b}  {f['file']}  md5 {f['md5']}  {f['rows_loaded']:,} rows  load {f['load_id']}")
        return "\n".join(lines)


def _manifest(settings: Settings) -> dict:
    path = dbt_dirs(settings)[0] / "manifest.json"
    if not path.exists():
        raise LineageError(f"no dbt manifest at {path}: run `vasmart build` first")
    return json.loads(path.read_text())


def upstream(manifest: dict, mart: str) -> tuple[list[dict], list[str]]:
    """Models above the mart (breadth first) and the raw interfaces its sources read."""
    nodes = manifest["nodes"]
    start = next((uid for uid, n in nodes.items() if n["resource_type"] == "model" and n["name"] == mart), None)
    if start is None:
        raise LineageError(f"no model {mart} in the dbt manifest")
    seen, models, interfaces = {start}, [], []
    queue = deque([start])
    while queue:
        uid = queue.popleft()
        if uid.startswith("source."):
            ident = manifest["sources"][uid].get("identifier") or manifest["sources"][uid]["name"].upper()
            if ident not in interfaces:
                interfaces.append(ident)
            continue
        node = nodes[uid]
        deps = [d for d in node["depends_on"]["nodes"] if d.startswith(("model.", "source.", "snapshot.", "seed."))]
        models.append({"name": node["name"], "layer": node["fqn"][1] if len(node["fqn"]) > 2 else "",
                       "materialized": node["config"].get("materialized"),
                       "depends_on": [d.split(".")[-1] for d in deps]})
        for d in deps:
            if d not in seen and not d.startswith("seed."):
                seen.add(d)
                queue.append(d)
    return models, sorted(interfaces)


def _period(con: duckdb.DuckDBPyConnection, mart: str, where: str) -> tuple[int, tuple[dt.date, dt.date] | None]:
    cols = con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'marts' "
                       "AND table_name = ? ORDER BY ordinal_position", [mart]).fetchall()
    if not cols:
        raise LineageError(f"no table marts.{mart} in the warehouse")
    names = {c: t for c, t in cols}
    order = ["batch_date", "month_start_date"] + [c for c in names if c.endswith("_month")] + \
        [c for c in names if c.endswith("_date")]
    period_col = next((c for c in order if c in names), None)
    try:
        n = con.execute(f"SELECT count(*) FROM marts.{quote(mart)} WHERE {where}").fetchone()[0]
        if period_col is None or not n:
            return n, None
        lo, hi = con.execute(f"SELECT min({quote(period_col)}), max({quote(period_col)}) FROM marts.{quote(mart)} "
                             f"WHERE {where}").fetchone()
    except duckdb.Error as exc:
        raise LineageError(f"--where {where!r} on marts.{mart}: {str(exc).splitlines()[0]}") from None
    if isinstance(lo, str):  # 'YYYYMM' month
        lo = dt.date(int(lo[:4]), int(lo[4:6]), 1)
        nxt = dt.date(int(hi[:4]) + int(hi[4:6]) // 12, int(hi[4:6]) % 12 + 1, 1)
        hi = nxt - dt.timedelta(days=1)
    elif period_col == "month_start_date" and hi is not None:
        hi = (hi.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    if isinstance(lo, dt.datetime):
        lo, hi = lo.date(), hi.date()
    return n, (lo, hi)


def coverage(settings: Settings, interface: str, batch: str) -> tuple[dt.date, dt.date]:
    """The period a delivery covers, from its control file (the batch date alone when it is gone)."""
    day = dt.datetime.strptime(batch, "%Y%m%d").date()
    try:
        entries = read_control_file(settings.landing / batch / f"{interface}_{batch}.chk")
    except (OSError, FileFault):
        return day, day
    if not entries:
        return day, day
    return min(e.period_start for e in entries), max(e.period_end for e in entries)


def lineage(settings: Settings, con: duckdb.DuckDBPyConnection, mart: str, where: str | None = None) -> Lineage:
    """Trace a mart, or the rows `where` selects, to models, batches and files."""
    mart = mart.removeprefix("marts.")
    models, interfaces = upstream(_manifest(settings), mart)
    result = Lineage(mart, where, models=models, interfaces=interfaces)
    if where:
        result.rows, result.period = _period(con, mart, where)
    kinds = {name: c.kind for name, c in load_contracts().items()}
    loads = con.execute("""
        WITH latest AS (
            SELECT batch_date, interface, arg_max(load_id, finished_at) AS load_id FROM audit.load_log GROUP BY ALL)
        SELECT batch_date, interface, file_name, md5_hex, rows_loaded, load_id
        FROM audit.load_log JOIN latest USING (batch_date, interface, load_id)
        WHERE status = 'LOADED' ORDER BY batch_date, interface, file_name""").fetchall()
    for batch, itf, file_name, md5, rows, load_id in loads:
        if itf not in interfaces:
            continue
        in_period = True
        if result.period is not None:
            start, end = coverage(settings, itf, batch)
            lo, hi = result.period
            if start > hi:
                continue
            in_period = end >= lo or kinds.get(itf) == "snapshot"
        if batch not in result.batches.setdefault(itf, []):
            result.batches[itf].append(batch)
        result.files.append({"interface": itf, "batch": batch, "file": file_name, "md5": md5,
                             "rows_loaded": rows, "load_id": load_id, "in_period": in_period})
    if where and not result.rows:
        raise LineageError(f"--where {where!r} selects no row of marts.{mart}")
    return result


def write_lineage(settings: Settings, result: Lineage) -> Path:
    """Keep the trace as JSON under reports/lineage/."""
    from vasmart.quality.report import write_text

    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    path = settings.reports / "lineage" / f"{result.mart}-{stamp}.json"
    write_text(path, json.dumps(result.as_dict(), indent=2, default=str) + "\n")
    return path
