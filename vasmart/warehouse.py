"""The warehouse file (`$VASMART_HOME/warehouse.duckdb`): one writer at a time, audit tables, raw-zone views."""

from __future__ import annotations

from pathlib import Path

import duckdb

from vasmart.config import Settings

AUDIT_DDL = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE SCHEMA IF NOT EXISTS raw;
CREATE TABLE IF NOT EXISTS audit.load_log (
    load_id VARCHAR NOT NULL,
    batch_date VARCHAR NOT NULL,
    interface VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    size_bytes BIGINT,
    md5_hex VARCHAR,
    control_records BIGINT,
    rows_read BIGINT,
    rows_loaded BIGINT,
    rows_rejected BIGINT,
    status VARCHAR NOT NULL,          -- LOADED or FAILED
    fault VARCHAR,                    -- the file-level fault, when FAILED
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    seconds DOUBLE
);
CREATE TABLE IF NOT EXISTS audit.load_batch (
    load_id VARCHAR NOT NULL,
    batch_date VARCHAR NOT NULL,
    status VARCHAR NOT NULL,          -- LOADED or FAILED
    fingerprint VARCHAR,              -- digest of the delivered (file, md5) pairs
    interfaces_loaded INTEGER,
    interfaces_failed INTEGER,
    rows_read BIGINT,
    rows_loaded BIGINT,
    rows_rejected BIGINT,
    highest_reject_rate DOUBLE,       -- the largest share of rejected rows among the interfaces
    reject_threshold DOUBLE,          -- the share above which the batch fails
    message VARCHAR,
    finished_at TIMESTAMP
);
"""

# Written by `vasmart campaigns` / `vasmart export` (vasmart/campaigns/), read back by the dbt models of the
# closed loop: created with the warehouse so that those models always find them.
CAMPAIGN_DDL = """
CREATE SCHEMA IF NOT EXISTS campaigns;
CREATE TABLE IF NOT EXISTS campaigns.campaign_run (
    campaign VARCHAR NOT NULL,
    run_date DATE NOT NULL,
    title VARCHAR,
    goal VARCHAR,
    purpose VARCHAR,                  -- promotion, service or control
    priority INTEGER,                 -- runs of one date go in priority order (the contact cap counts earlier ones)
    offer_kind VARCHAR,
    conversion_kind VARCHAR NOT NULL, -- stable_vas_order, plan_migration, arrears_paid or none
    conversion_match VARCHAR,         -- service or product_line (stable_vas_order)
    response_window_days INTEGER,
    holdout_share DOUBLE,
    holdout_seed BIGINT,
    score_bands INTEGER,
    eligible_count BIGINT,
    target_count BIGINT,
    holdout_count BIGINT,
    definition_sha256 VARCHAR,
    criteria VARCHAR,                 -- JSON: the definition as run
    built_at TIMESTAMP,
    PRIMARY KEY (campaign, run_date)
);
CREATE TABLE IF NOT EXISTS campaigns.target_list (
    campaign VARCHAR NOT NULL,
    run_date DATE NOT NULL,
    user_pseudonym VARCHAR NOT NULL,
    score DOUBLE,
    rank BIGINT NOT NULL,
    reason_codes VARCHAR,             -- JSON array of strings
    channel VARCHAR,
    offer VARCHAR,
    "group" VARCHAR NOT NULL,         -- TARGET or HOLDOUT
    score_band INTEGER,
    PRIMARY KEY (campaign, run_date, user_pseudonym)
);
CREATE TABLE IF NOT EXISTS campaigns.suppression_count (
    campaign VARCHAR NOT NULL,
    run_date DATE NOT NULL,
    step_order INTEGER NOT NULL,
    step VARCHAR NOT NULL,            -- eligible, a suppression reason, selected, TARGET, HOLDOUT
    removed_count BIGINT,
    remaining_count BIGINT,
    PRIMARY KEY (campaign, run_date, step_order)
);
CREATE TABLE IF NOT EXISTS audit.campaign_export (
    export_id VARCHAR NOT NULL,
    campaign VARCHAR NOT NULL,
    run_date DATE NOT NULL,
    file_format VARCHAR NOT NULL,
    file_path VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    manifest_path VARCHAR NOT NULL,
    row_count BIGINT,
    target_row_count BIGINT,
    holdout_row_count BIGINT,
    dropped_count BIGINT,             -- list rows left out at export (do-not-disturb now, no current number)
    exported_by VARCHAR NOT NULL,
    exported_at TIMESTAMP NOT NULL
);
"""


class WarehouseBusy(RuntimeError):
    """Another process holds the warehouse file."""


def warehouse_path(settings: Settings) -> Path:
    """The warehouse file."""
    return settings.home / "warehouse.duckdb"


def lake_root(settings: Settings) -> Path:
    """The raw zone."""
    return settings.home / "lake"


def connect(settings: Settings, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse; fails fast, naming the holder, when another process has it open for writing."""
    path = warehouse_path(settings)
    if read_only and not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: nothing has been loaded yet")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        raise WarehouseBusy(f"{path} is in use by another process: {str(exc).splitlines()[0]}") from None
    if not read_only:
        con.execute(AUDIT_DDL + CAMPAIGN_DDL)
    return con


def refresh_raw_views(con: duckdb.DuckDBPyConnection, settings: Settings, interfaces: list[str]) -> None:
    """(Re)create raw.<interface> views over the interfaces' Parquet partitions, and the reject views."""
    lake = lake_root(settings)
    for name in interfaces:
        glob = lake / "raw" / name / "batch_date=*" / "*.parquet"
        if any((lake / "raw" / name).glob("batch_date=*/*.parquet")):
            con.execute(f"CREATE OR REPLACE VIEW raw.{name.lower()} AS SELECT * FROM read_parquet("
                        f"'{glob}', hive_partitioning = true, hive_types = {{'batch_date': VARCHAR}})")
        else:
            con.execute(f"DROP VIEW IF EXISTS raw.{name.lower()}")
    rejects = lake / "rejects"
    if any(rejects.glob("*/batch_date=*/*.parquet")):
        con.execute(f"CREATE OR REPLACE VIEW raw.rejects AS SELECT * FROM read_parquet("
                    f"'{rejects}/*/batch_date=*/*.parquet', hive_partitioning = true, "
                    "hive_types = {'batch_date': VARCHAR})")
    else:
        con.execute("CREATE OR REPLACE VIEW raw.rejects AS SELECT * FROM (VALUES (NULL::VARCHAR, NULL::VARCHAR, "
                    "NULL::VARCHAR, NULL::BIGINT, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR)) "
                    "AS t(batch, interface, file_name, line_number, reason, raw_line, batch_date) WHERE false")
    con.execute("CREATE OR REPLACE VIEW audit.rejects AS SELECT * EXCLUDE (raw_line) FROM raw.rejects")
