"""The warehouse on Spark: the session dbt-spark runs in, the raw zone and campaign lists as Spark relations.

`vasmart build --engine spark` (or `VASMART_ENGINE=spark`) runs the same dbt project with the `spark` target
(dbt-spark, `method: session`): dbt runs in this process on the SparkSession built here.

The keyed pseudonym is HMAC-SHA256 in Spark SQL (`sha2` over the key's inner and outer pads): the pads are
derived here from `VASMART_PSEUDONYM_KEY` and set in the session's configuration (`vasmart.pseudonym.ipad`,
`.opad`), which the `pseudonym()` macro names as `${vasmart.pseudonym.ipad}` (Spark's variable substitution),
so no SQL text, manifest or log carries the key or its pads, and executors hash natively (no Python workers).

Where Spark runs is a setting, not code:

    VASMART_SPARK_MASTER        local[2] (default), spark://host:7077, yarn, k8s://https://host:443
    VASMART_SPARK_REMOTE        sc://host:15002 to use a Spark Connect server instead of a master
    VASMART_SPARK_CONF          extra "key=value" pairs separated by spaces (executor memory, instances, ...)
    VASMART_SPARK_SHUFFLE_PARTITIONS   spark.sql.shuffle.partitions (default 8)
    VASMART_SPARK_DRIVER_MEMORY        spark.driver.memory (default 2g)
    VASMART_LAKE_URI            the raw zone's root as Spark sees it (default file://$VASMART_HOME/lake)

The metastore (embedded Derby) and the tables (Parquet) live under `$VASMART_HOME/spark/` by default; on a
cluster, point `spark.sql.catalogImplementation`/`spark.hadoop.hive.metastore.uris` and
`spark.sql.warehouse.dir` at the cluster's through VASMART_SPARK_CONF.

Before dbt runs, `prepare()` declares the raw zone: one view `raw.<interface>` per interface with at least
one partition, over `lake/raw/<INTERFACE>/` (Parquet, the `batch_date=<D>` directories as a text partition
column), `raw.rejects` over `lake/rejects/`, and the campaign lists (`campaigns.campaign_run`,
`campaigns.target_list`) copied from the warehouse where `vasmart campaigns` writes them.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import sys
from pathlib import Path

from vasmart.config import Settings

__all__ = ["SparkUnavailable", "lake_uri", "prepare", "session", "stop"]

MASTER_ENV = "VASMART_SPARK_MASTER"
REMOTE_ENV = "VASMART_SPARK_REMOTE"
CONF_ENV = "VASMART_SPARK_CONF"
IPAD_CONF = "vasmart.pseudonym.ipad"
OPAD_CONF = "vasmart.pseudonym.opad"

CAMPAIGN_TABLES = {
    "campaign_run": (
        "campaign string, run_date date, title string, goal string, purpose string, priority int, "
        "offer_kind string, conversion_kind string, conversion_match string, response_window_days int, "
        "holdout_share double, holdout_seed bigint, score_bands int, eligible_count bigint, target_count bigint, "
        "holdout_count bigint, definition_sha256 string, criteria string, built_at timestamp"),
    "target_list": (
        "campaign string, run_date date, user_pseudonym string, score double, rank bigint, reason_codes string, "
        "channel string, offer string, `group` string, score_band int"),
}
REJECTS_SCHEMA = ("batch string, interface string, file_name string, line_number bigint, reason string, "
                  "raw_line string, batch_date string")


class SparkUnavailable(RuntimeError):
    """No Spark session could be started (no Java, or the master/remote is unreachable)."""


def spark_dir(settings: Settings) -> Path:
    """Local state of the embedded setup: metastore, table files, scratch space."""
    return settings.home / "spark"


def lake_uri(settings: Settings) -> str:
    """The raw zone's root as Spark reads it."""
    return os.environ.get("VASMART_LAKE_URI") or (settings.home / "lake").resolve().as_uri()


def _conf(settings: Settings) -> dict[str, str]:
    """The session's configuration: the embedded defaults, then VASMART_SPARK_CONF on top."""
    root = spark_dir(settings).resolve()
    conf = {
        "spark.app.name": "vasmart",
        "spark.sql.warehouse.dir": (root / "warehouse").as_uri(),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={root / 'metastore_db'};create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={root} -Dderby.stream.error.file={root / 'derby.log'}",
        "spark.local.dir": str(root / "tmp"),
        "spark.driver.memory": os.environ.get("VASMART_SPARK_DRIVER_MEMORY", "2g"),
        "spark.sql.shuffle.partitions": os.environ.get("VASMART_SPARK_SHUFFLE_PARTITIONS", "8"),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # The warehouse's clock: event times are local times without a zone, compared as written.
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.inferTimestampNTZ.enabled": "false",
        # batch_date=<YYYYMMDD> directories are text, as on DuckDB (hive_types VARCHAR).
        "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
    }
    for pair in shlex.split(os.environ.get(CONF_ENV, "")):
        key, _, value = pair.partition("=")
        conf[key] = value
    return conf


def session(settings: Settings):
    """The process's SparkSession (created on first use), with the pseudonym key's pads in its configuration."""
    from pyspark.sql import SparkSession

    from vasmart.dbt_plugin import key_from_env

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder
    remote = os.environ.get(REMOTE_ENV)
    conf = _conf(settings)
    if remote:
        builder = builder.remote(remote)
        conf = {k: v for k, v in conf.items() if not k.startswith(("spark.hadoop.", "spark.driver.", "spark.local"))}
    else:
        (spark_dir(settings) / "tmp").mkdir(parents=True, exist_ok=True)
        builder = builder.master(os.environ.get(MASTER_ENV, "local[2]")).enableHiveSupport()
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # noqa: BLE001 - Java missing, master unreachable: one line for the caller
        raise SparkUnavailable(f"no Spark session: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}") from None
    if not remote:
        spark.sparkContext.setLogLevel("ERROR")
    set_pseudonym_key(spark, key_from_env())
    return spark


def pseudonym_pads(key: bytes) -> tuple[str, str]:
    """HMAC-SHA256's inner and outer key pads for `key`, as hex: HMAC(K, m) = H(opad || H(ipad || m))."""
    block = hashlib.sha256(key).digest() if len(key) > 64 else key
    block = block.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block).hex(), bytes(b ^ 0x5C for b in block).hex()


def set_pseudonym_key(spark, key: bytes | None) -> None:
    """Put the key's pads in the session's configuration, where the pseudonym() macro reads them by name."""
    if not key:
        for name in (IPAD_CONF, OPAD_CONF):
            spark.conf.unset(name)
        return
    ipad, opad = pseudonym_pads(key)
    spark.conf.set(IPAD_CONF, ipad)
    spark.conf.set(OPAD_CONF, opad)


def _exists(spark, uri: str) -> bool:
    """Whether a glob matches anything, through Hadoop's file system API (local, HDFS, S3 alike)."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    found = fs.globStatus(path)
    return found is not None and len(found) > 0


def prepare(spark, settings: Settings, interfaces: list[str]) -> list[str]:
    """Declare raw.<interface> views, raw.rejects and the campaign lists; the interfaces that have partitions."""
    lake = lake_uri(settings).rstrip("/")
    spark.sql("create database if not exists raw")
    present = []
    for name in interfaces:
        table = name.lower()
        if _exists(spark, f"{lake}/raw/{name}/batch_date=*/*.parquet"):
            spark.sql(f"create or replace view raw.{table} as select * from parquet.`{lake}/raw/{name}`")
            present.append(name)
        else:
            spark.sql(f"drop view if exists raw.{table}")
    if _exists(spark, f"{lake}/rejects/*/batch_date=*/*.parquet"):
        # One directory per interface above the batch partitions: read them as one table of rejects.
        spark.sql("create or replace view raw.rejects as select batch, interface, file_name, line_number, reason, "
                  f"raw_line, batch_date from parquet.`{lake}/rejects/*/`")
    else:
        spark.sql(f"create or replace view raw.rejects as select * from "
                  f"(select {', '.join('cast(null as ' + c.split()[1] + ') as ' + c.split()[0] for c in REJECTS_SCHEMA.split(', '))}) where 1 = 0")
    copy_campaign_lists(spark, settings)
    return present


def copy_campaign_lists(spark, settings: Settings) -> None:
    """campaigns.campaign_run / target_list as Parquet tables, copied from the warehouse (empty without one)."""
    import pandas as pd

    from vasmart.warehouse import warehouse_path

    spark.sql("create database if not exists campaigns")
    path = warehouse_path(settings)
    for table, schema in CAMPAIGN_TABLES.items():
        frame = None
        if path.exists():
            import duckdb

            with duckdb.connect(str(path), read_only=True) as con:
                exists = con.execute("select count(*) from information_schema.tables where table_schema = "
                                     "'campaigns' and table_name = ?", [table]).fetchone()[0]
                if exists:
                    columns = ", ".join(f'"{c.split()[0].strip("`")}"' for c in schema.split(", "))
                    frame = con.execute(f"select {columns} from campaigns.{table}").df()
        if frame is None or frame.empty:
            df = spark.createDataFrame([], schema)
        else:
            df = spark.createDataFrame(pd.DataFrame(frame), schema)
        df.write.mode("overwrite").format("parquet").saveAsTable(f"campaigns.{table}")


def stop() -> None:
    """Stop the process's SparkSession, if any."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


def table_locations(spark, schemas: tuple[str, ...] = ("marts", "intermediate", "restricted")) -> dict[str, str]:
    """'<schema>.<table>' -> the directory of its Parquet files, for every table (not view) of `schemas`."""
    out = {}
    for schema in schemas:
        if not spark.catalog.databaseExists(schema):
            continue
        for table in spark.catalog.listTables(schema):
            if table.tableType == "VIEW" or table.isTemporary:
                continue
            rows = spark.sql(f"describe table extended {schema}.{table.name}").collect()
            location = next((r.data_type for r in rows if r.col_name == "Location"), None)
            if location:
                out[f"{schema}.{table.name}"] = location
    return out


def attach_to_warehouse(settings: Settings, locations: dict[str, str]) -> int:
    """Views in warehouse.duckdb over the Parquet files of the tables Spark built (local file system only).

    The single-machine stages after the build (quality gate on the marts, scoring, campaigns, publish) then
    read the Spark-built relations under their usual names. A DuckDB-built table of the same name is dropped.
    """
    from vasmart.warehouse import connect

    con = connect(settings)
    try:
        for name, location in sorted(locations.items()):
            schema, table = name.split(".")
            path = location.removeprefix("file:")
            kind = con.execute("select table_type from information_schema.tables where table_schema = ? and "
                               "table_name = ?", [schema, table]).fetchone()
            con.execute(f"create schema if not exists {schema}")
            if kind and kind[0] == "BASE TABLE":
                con.execute(f"drop table {schema}.{table}")
            con.execute(f"create or replace view {schema}.{table} as select * from read_parquet("
                        f"'{path}/**/*.parquet', hive_partitioning = true, union_by_name = true)")
    finally:
        con.close()
    return len(locations)
