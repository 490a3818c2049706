"""The reconciliation report of a batch (`reports/reconciliation/<D>/reconciliation.{json,html}`).

- Per file (the latest load of each interface): control record count, lines read, rows loaded, rows
  rejected by reason (from the rejects partition) and the checksum status (size and MD5 against the control
  file, verified by the loader before anything is read).
- Per month: BASS_USAGE against CDR detail (`marts.fct_usage_reconciliation`): users and measures with a
  break, missing on either side, and the absolute difference.
- Per interface: the volume trend (rows per covered day) over the last batches, each flagged when outside
  the band of its trailing 7-batch median (the same band as the quality gate).
"""

from __future__ import annotations

import json

import duckdb

from vasmart.config import Settings
from vasmart.contracts import load_contracts
from vasmart.quality.html import esc, link, number, page, table
from vasmart.quality.profile import covered_days, loaded_rows
from vasmart.quality.report import write_text
from vasmart.quality.suites import HISTORY_BATCHES, volume_band
from vasmart.warehouse import lake_root

TREND_BATCHES = 14


def _files(con: duckdb.DuckDBPyConnection, settings: Settings, batch: str) -> list[dict]:
    rows = con.execute("""
        WITH latest AS (
            SELECT interface, arg_max(load_id, finished_at) AS load_id FROM audit.load_log
            WHERE batch_date = ? GROUP BY ALL)
        SELECT interface, file_name, control_records, rows_read, rows_loaded, rows_rejected, status, fault,
               size_bytes, md5_hex, load_id
        FROM audit.load_log JOIN latest USING (interface, load_id) WHERE batch_date = ?
        ORDER BY interface, file_name""", [batch, batch]).fetchall()
    reasons: dict[str, dict[str, int]] = {}
    rejects = lake_root(settings) / "rejects"
    if any(rejects.glob(f"*/batch_date={batch}/*.parquet")):
        for file_name, reason, n in con.execute(
                f"SELECT file_name, reason, count(*) FROM read_parquet('{rejects}/*/batch_date={batch}/*.parquet') "
                "GROUP BY ALL ORDER BY ALL").fetchall():
            reasons.setdefault(file_name, {})[reason] = n
    out = []
    for itf, name, control, read, loaded, rejected, status, fault, size, md5, load_id in rows:
        reconciled = status == "LOADED" and control == read and read == (loaded or 0) + (rejected or 0)
        checksum = "verified (size and MD5)" if status == "LOADED" else f"not verified: {fault}"
        out.append({"interface": itf, "file": name, "load_id": load_id, "control_records": control,
                    "rows_read": read, "rows_loaded": loaded, "rows_rejected": rejected,
                    "rejected_by_reason": reasons.get(name, {}), "checksum": checksum, "size_bytes": size,
                    "md5": md5, "status": status, "reconciled": reconciled})
    return out


def _usage_breaks(con: duckdb.DuckDBPyConnection) -> list[dict]:
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'marts' "
                         "AND table_name = 'fct_usage_reconciliation' AND table_catalog = current_database()"
                         ).fetchone()[0]
    if not exists:
        return []
    rows = con.execute("""
        SELECT stat_month, measure, count(*), count(DISTINCT user_pseudonym),
               count(*) FILTER (WHERE is_missing_in_bass), count(*) FILTER (WHERE is_missing_in_cdrs),
               sum(abs(difference)), sum(bass_value), sum(cdr_value)
        FROM marts.fct_usage_reconciliation GROUP BY ALL ORDER BY ALL""").fetchall()
    keys = ["month", "measure", "breaks", "users", "missing_in_bass", "missing_in_cdrs", "absolute_difference",
            "bass_total", "cdr_total"]
    return [dict(zip(keys, r, strict=True)) for r in rows]


def volume_trend(con: duckdb.DuckDBPyConnection, settings: Settings, batch: str) -> dict[str, list[dict]]:
    """Rows per covered day of every interface over the last batches up to `batch`, anomalies flagged."""
    loaded = loaded_rows(con)
    contracts = load_contracts()
    trend: dict[str, list[dict]] = {}
    for name, contract in contracts.items():
        batches = sorted(b for (b, i) in loaded if i == name and b <= batch)
        values = {b: loaded[(b, name)] / covered_days(settings, contract, b) for b in batches}
        points = []
        for idx, b in enumerate(batches):
            if idx < len(batches) - TREND_BATCHES:
                continue
            history = [values[x] for x in reversed(batches[max(0, idx - HISTORY_BATCHES):idx])]
            lo, hi, floor, median = volume_band(history)
            anomaly = median is not None and not (lo <= values[b] <= hi)
            points.append({"batch": b, "rows": loaded[(b, name)], "rows_per_day": round(values[b], 2),
                           "median": None if median is None else round(median, 2),
                           "band": None if median is None else [round(lo, 2), round(hi, 2)], "anomaly": anomaly,
                           "severe": median is not None and values[b] < floor})
        if points:
            trend[name] = points
    return trend


def reconciliation(con: duckdb.DuckDBPyConnection, settings: Settings, batch: str) -> dict:
    """The report's content."""
    files = _files(con, settings, batch)
    return {"batch_date": batch, "files": files,
            "all_files_reconciled": bool(files) and all(f["reconciled"] for f in files),
            "usage_breaks_by_month": _usage_breaks(con), "volume_trend": volume_trend(con, settings, batch)}


def _html(data: dict) -> str:
    batch = data["batch_date"]
    file_rows = []
    for f in data["files"]:
        reasons = "<br>".join(f"{esc(k)}: {v:,}" for k, v in f["rejected_by_reason"].items())
        file_rows.append([esc(f["interface"]), esc(f["file"]), number(f["control_records"]), number(f["rows_read"]),
                          number(f["rows_loaded"]), number(f["rows_rejected"]), reasons, esc(f["checksum"]),
                          (f"<span class={'passed' if f['reconciled'] else 'failed'}>"
                          f"{'yes' if f['reconciled'] else 'NO'}</span>")])
    body = [(f"<nav>{link('../../index.html', 'all nights')}{link(f'../../quality/{batch}/quality.html', 'quality report')}"
            f"{link('../../data_docs/index.html', 'Data Docs')}</nav>"),
            f"<h1>Reconciliation, batch {esc(batch)}</h1>",
            ("<h2>Files</h2><p>Control record count, lines read, rows loaded and rejected (by reason) per delivered "
            "file; the checksum is the control file's size and MD5, verified before the file is read.</p>"),
            table(["interface", "file", "control records", "read", "loaded", "rejected", "rejected by reason",
                   "checksum", "reconciled"], file_rows, numeric={2, 3, 4, 5})]
    body.append("<h2>BASS vs CDR, per month</h2>")
    if data["usage_breaks_by_month"]:
        body.append(table(["month", "measure", "breaks", "users", "missing in BASS", "missing in CDRs",
                           "|difference|", "BASS total", "CDR total"],
                          [[esc(r["month"]), esc(r["measure"])] + [number(r[k]) for k in
                           ("breaks", "users", "missing_in_bass", "missing_in_cdrs", "absolute_difference",
                            "bass_total", "cdr_total")] for r in data["usage_breaks_by_month"]],
                          numeric={2, 3, 4, 5, 6, 7, 8}))
    else:
        body.append("<p>No breaks: no month fully covered by CDR detail shows a difference with BASS_USAGE "
                    "(or no such month has been delivered yet).</p>")
    body.append("<h2>Volume trend per interface</h2><p>Rows per covered day; <span class=warning>anomaly</span> "
                "= outside ±max(30%, 3√m) of the median m of the 7 earlier batches, "
                "<span class=critical>severe</span> = below a fifth of it.</p>")
    trend_rows = []
    for name, points in data["volume_trend"].items():
        cells = []
        for p in points:
            flag = " <span class=critical>severe</span>" if p["severe"] else \
                " <span class=warning>anomaly</span>" if p["anomaly"] else ""
            band = "" if p["band"] is None else f" <span class=muted>[{p['band'][0]:,.0f}–{p['band'][1]:,.0f}]</span>"
            cells.append(f"{esc(p['batch'])}: {p['rows_per_day']:,.1f}{band}{flag}")
        trend_rows.append([esc(name), "<br>".join(cells)])
    body.append(table(["interface", "batch: rows per day [band]"], trend_rows))
    return page(f"Reconciliation {batch}", "".join(body))


def write_reconciliation(settings: Settings, con: duckdb.DuckDBPyConnection, batch: str) -> dict:
    """Write the batch's reconciliation report (JSON and HTML); returns its content."""
    data = reconciliation(con, settings, batch)
    out = settings.reports / "reconciliation" / batch
    write_text(out / "reconciliation.json", json.dumps(data, indent=2, default=str) + "\n")
    write_text(out / "reconciliation.html", _html(data))
    return data
