"""`vasmart lineage` and `vasmart reconcile` on the gated clean home (quality_homes.py).

Lineage is compared with the dbt manifest and with the load log and control files read here; the
reconciliation report with the load log, the rejects partitions and the marts.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from quality_homes import BATCH, gated_homes, session_root
from vasmart_cli import run_vasmart


@pytest.fixture(scope="module")
def clean(pipeline, tmp_path_factory) -> Path:
    return gated_homes(session_root(tmp_path_factory), pipeline)["clean"]


def test_lineage_of_a_mart_row_reaches_models_batches_and_files(clean, pipeline):
    result = run_vasmart(clean, "lineage", "fct_imei_quality", "--where", "batch_date = DATE '2026-11-20'", "--json")
    assert result.returncode == 0, result.stderr
    trace = json.loads(result.stdout)
    assert trace["rows"] == 1 and trace["period"] == ["2026-11-20", "2026-11-20"]
    manifest = pipeline.manifest
    mart = manifest["nodes"]["model.vasmart.fct_imei_quality"]
    names = [m["name"] for m in trace["models"]]
    assert names[0] == "fct_imei_quality"
    assert {d.split(".")[-1] for d in mart["depends_on"]["nodes"]} <= set(names)
    assert "IMEI_OBS" in trace["interfaces"]
    # IMEI_OBS rows of the batch: the batch's own delivery is the one whose coverage overlaps
    imei_files = [f for f in trace["files"] if f["interface"] == "IMEI_OBS" and f["in_period"]]
    with duckdb.connect(str(clean / "warehouse.duckdb"), read_only=True) as con:
        logged = con.execute("SELECT file_name, md5_hex, rows_loaded FROM audit.load_log WHERE batch_date = ? "
                             "AND interface = 'IMEI_OBS' AND status = 'LOADED'", [BATCH]).fetchall()
    assert [(f["file"], f["md5"], f["rows_loaded"]) for f in imei_files] == logged
    # nothing delivered after the row's period is listed
    assert all(f["batch"] <= BATCH for f in trace["files"])


def test_lineage_month_rows_and_bad_filter(clean):
    result = run_vasmart(clean, "lineage", "fct_vas_order_charges", "--where", "charge_month = '202611'", "--json")
    assert result.returncode == 0, result.stderr
    trace = json.loads(result.stdout)
    in_period = sorted({f["batch"] for f in trace["files"] if f["interface"] == "BOSS_VAS_ORDER" and f["in_period"]})
    assert in_period == [f"202611{d}" for d in range(14, 21)]
    earlier = {f["batch"] for f in trace["files"] if f["interface"] == "BOSS_VAS_ORDER" and not f["in_period"]}
    assert "20261031" in earlier  # orders held since earlier months feed the month's charges
    bad = run_vasmart(clean, "lineage", "fct_vas_order_charges", "--where", "no_such_column = 1")
    assert bad.returncode != 0 and "no_such_column" in bad.stderr
    unknown = run_vasmart(clean, "lineage", "fct_nothing")
    assert unknown.returncode != 0 and "fct_nothing" in unknown.stderr


def test_reconciliation_report_matches_the_load_log_and_rejects(clean):
    result = run_vasmart(clean, "reconcile", "--batch", BATCH)
    assert result.returncode == 0, result.stderr
    data = json.loads((clean / "reports" / "reconciliation" / BATCH / "reconciliation.json").read_text())
    with duckdb.connect(str(clean / "warehouse.duckdb"), read_only=True) as con:
        logged = con.execute("SELECT file_name, control_records, rows_read, rows_loaded, rows_rejected "
                             "FROM audit.load_log WHERE batch_date = ? AND status = 'LOADED' ORDER BY file_name",
                             [BATCH]).fetchall()
        months = con.execute("SELECT stat_month, count(*) FROM marts.fct_usage_reconciliation GROUP BY 1 "
                             "ORDER BY 1").fetchall()
    files = sorted((f["file"], f["control_records"], f["rows_read"], f["rows_loaded"], f["rows_rejected"])
                   for f in data["files"])
    assert files == logged and data["all_files_reconciled"]
    assert all(f["checksum"].startswith("verified") for f in data["files"])
    rejected = {f["file"]: sum(f["rejected_by_reason"].values()) for f in data["files"]}
    assert all(rejected[f[0]] == f[4] for f in logged)
    by_month: dict[str, int] = {}
    for row in data["usage_breaks_by_month"]:
        by_month[row["month"]] = by_month.get(row["month"], 0) + row["breaks"]
    assert sorted(by_month.items()) == [(m, n) for m, n in months]
    voice = data["volume_trend"]["CDR_VOICE"]
    assert voice[-1]["batch"] == BATCH and not voice[-1]["anomaly"]
    assert [p["batch"] for p in voice] == sorted(p["batch"] for p in voice)
