"""The same warehouse on Spark: dbt build with the `spark` target, parity with DuckDB, scoring on partitions.

One small generated set (500 users, 3 history months, 2 daily batches) is ingested once and built with the
real CLI on both engines (`vasmart build` and `vasmart build --engine spark`, a local Spark in its own
process), shared by the pytest-xdist workers through a file lock. The tests then check that:

- the Spark build ran every model, seed, data test and unit test of the project, and all passed;
- every public mart has, on Spark, the row count and the checksum of its key columns (the columns of its
  `unique` / `unique_combination_of_columns` test; users by keyed pseudonym, so the pseudonyms agree too)
  that it has on DuckDB, and the same value in every other column (floats to 9 significant digits) except
  `inputs_written_at` and `inputs_fingerprint` (see NOT_COMPARED). Spark's marts are read from the Parquet
  files Spark wrote;
- scoring through Spark (`mapInPandas` over partitions, the same `models_ml` scorer) gives the scores, grades,
  reason codes and ranks of the single-machine path, for every trained model of the shared trained home.

Every public mart is compared; none is left out.

The module is marked `spark` and runs with `make test-spark`: on 2 cores its Spark build alone takes longer
than the whole of `make test` may (each of the project's 539 nodes is a Spark job), so `make test` leaves it
to its own command.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from filelock import FileLock
from vasmart_cli import run_vasmart

pytestmark = pytest.mark.spark

KEY = "vasmart-spark-test-key-0b7d"
GENERATE = ["--users", "500", "--months", "3", "--days", "2", "--end-date", "20261120", "--seed", "23"]
DONE = "spark_built.json"
# A few thousand rows per model: fewer, larger tasks, and Spark interprets rather than compiles each query
# (compiling Java code per query costs more than running it on this little data; semantics are the same).
SMALL_DATA = {
    "VASMART_SPARK_SHUFFLE_PARTITIONS": "2",
    "VASMART_SPARK_CONF": "spark.sql.codegen.wholeStage=false spark.sql.codegen.factoryMode=NO_CODEGEN "
                          "spark.sql.adaptive.enabled=false",
}
# Columns compared beyond the keys: every column, floats to 9 significant digits, except these, with reason.
NOT_COMPARED = {
    # when the raw-zone files a month was built from were written: read from the files' modification times,
    # which only DuckDB's read_blob() exposes in SQL; NULL on Spark by design (macros/lake_partitions.sql)
    "inputs_written_at",
    # a hash of those times (with the catalogue's mapping): NULL where they are, so every month is rebuilt
    "inputs_fingerprint",
}



def _build_both(home: Path) -> dict:
    from vasmart.config import Settings
    from vasmart.ingest import ingest_batch

    seconds = {}
    gen = run_vasmart(home, "generate", "--out", str(home), *GENERATE, key=KEY)
    assert gen.returncode == 0, gen.stderr[-3000:]
    settings = Settings(home=home)
    for batch in sorted(p.name for p in (home / "landing").iterdir() if p.is_dir()):
        ingest_batch(settings, home / "landing", batch, f"test-{batch}")
    saved = {name: os.environ.get(name) for name in SMALL_DATA}
    os.environ.update(SMALL_DATA)
    try:
        for engine in ("duckdb", "spark"):
            started = time.perf_counter()
            build = run_vasmart(home, "build", "--engine", engine, key=KEY, timeout=1800)
            assert build.returncode == 0, f"{engine}: " + build.stderr[-3000:] + build.stdout[-3000:]
            seconds[engine] = round(time.perf_counter() - started, 1)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return seconds


@pytest.fixture(scope="module")
def spark_home(tmp_path_factory) -> Path:
    """A home built on DuckDB and on Spark from the same raw zone (made once per session)."""
    assert shutil.which("java"), "Spark needs Java: .ci/system-packages installs openjdk-17-jre-headless"
    root = tmp_path_factory.getbasetemp()
    if root.name.startswith("popen-gw"):
        root = root.parent
    home = root / "spark_pipeline"
    with FileLock(str(root / "spark_pipeline.lock")):
        if not (home / DONE).exists():
            if home.exists():
                shutil.rmtree(home)
            home.mkdir()
            (home / DONE).write_text(json.dumps(_build_both(home)))
    return home


def _results(home: Path, engine: str) -> dict[str, str]:
    target = home / "dbt" / ("target" if engine == "duckdb" else f"{engine}/target")
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"]: r["status"] for r in results}


def test_spark_build_runs_and_passes_every_node(spark_home):
    spark, duck = _results(spark_home, "spark"), _results(spark_home, "duckdb")
    assert set(spark) == set(duck)
    kinds = {uid.split(".")[0] for uid in spark}
    assert {"model", "seed", "test", "unit_test"} <= kinds
    failed = {uid: status for uid, status in spark.items() if status not in ("success", "pass")}
    assert not failed, failed
    assert sum(uid.startswith("unit_test.") for uid in spark) >= 40
    assert sum(uid.startswith("test.") for uid in spark) >= 400


def _public_marts(home: Path) -> dict[str, list[str]]:
    """Public marts and their key columns, from the manifest (the model's uniqueness test)."""
    manifest = json.loads((home / "dbt" / "spark" / "target" / "manifest.json").read_text())
    marts = {n["unique_id"]: n["name"] for n in manifest["nodes"].values()
             if n["resource_type"] == "model" and n.get("access") == "public"}
    keys: dict[str, list[str]] = {}
    for node in manifest["nodes"].values():
        meta = node.get("test_metadata") or {}
        attached = node.get("attached_node")
        if node["resource_type"] != "test" or attached not in marts:
            continue
        if meta.get("name") == "unique":
            keys.setdefault(marts[attached], [meta["kwargs"]["column_name"]])
        elif meta.get("name") == "unique_combination_of_columns":
            keys[marts[attached]] = list(meta["kwargs"]["combination_of_columns"])
    missing = sorted(set(marts.values()) - set(keys))
    assert not missing, f"public marts without a uniqueness test: {missing}"
    return keys


def _text(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "<null>"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _value(value) -> str:
    """A column value as text, floats to 9 significant digits (sums may add up in another order)."""
    if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
        return f"{value:.9g}"
    return _text(value)


def test_every_column_of_every_public_mart_matches_duckdb(spark_home):
    differences = {}
    for mart, columns, on_duckdb, on_spark in _marts_on_both(spark_home):
        assert sorted(on_duckdb.columns) == sorted(on_spark.columns), mart
        left = on_duckdb.sort_values(columns).reset_index(drop=True)
        right = on_spark.sort_values(columns).reset_index(drop=True)
        assert len(left) == len(right), mart
        for column in sorted(set(left.columns) - NOT_COMPARED):
            a, b = [_value(v) for v in left[column]], [_value(v) for v in right[column]]
            if a != b:
                differences[f"{mart}.{column}"] = next((x, y) for x, y in zip(a, b, strict=True) if x != y)
    assert not differences, differences


def _checksum(frame: pd.DataFrame, columns: list[str]) -> str:
    """sha256 over the sorted rows of the key columns, each value as text (engine-independent)."""
    lines = sorted("|".join(_text(v) for v in row) for row in frame[columns].itertuples(index=False))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _marts_on_both(home: Path):
    """(mart, key columns, rows on DuckDB, rows on Spark) for every public mart."""
    keys = _public_marts(home)
    assert len(keys) >= 18
    duck = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    files = duckdb.connect()
    try:
        for mart, columns in sorted(keys.items()):
            on_duckdb = duck.execute(f"select * from marts.{mart}").df()
            location = home / "spark" / "warehouse" / "marts.db" / mart
            assert location.is_dir(), f"{mart}: no Spark table at {location}"
            on_spark = files.execute(f"select * from read_parquet('{location}/**/*.parquet', "
                                     "hive_partitioning = true)").df()
            yield mart, columns, on_duckdb, on_spark
    finally:
        duck.close()


def test_every_public_mart_matches_duckdb(spark_home):
    differences = {}
    for mart, columns, on_duckdb, on_spark in _marts_on_both(spark_home):
        pair = ((len(on_duckdb), _checksum(on_duckdb, columns)), (len(on_spark), _checksum(on_spark, columns)))
        if pair[0] != pair[1]:
            differences[mart] = pair
    assert not differences, differences
    # the marts are not trivially empty
    counts = {m: duckdb.connect(str(spark_home / "warehouse.duckdb"), read_only=True)
              .execute(f"select count(*) from marts.{m}").fetchone()[0] for m in ("customer_view", "dim_subscriber")}
    assert all(n > 0 for n in counts.values()), counts


def test_scoring_through_spark_gives_the_single_machine_scores(tmp_path_factory, tmp_path):
    import datetime as dt

    from model_homes import BATCH, trained_home
    from pipeline_home import built_home

    from models_ml.config import MODEL_NAMES
    from models_ml.features import feature_relation
    from models_ml.scorers import load_scorer
    from models_ml.scoring import feature_frame, feature_month_for, score_frame
    from vasmart import spark as vspark
    from vasmart.config import Settings
    from vasmart.spark_scoring import SCORE_SCHEMA, score_month, write_scores

    trained = trained_home(tmp_path_factory, built_home(tmp_path_factory))
    settings = trained.settings
    con = duckdb.connect(str(trained.warehouse), read_only=True)
    batch = dt.datetime.strptime(BATCH, "%Y%m%d").date()
    month = feature_month_for(con, settings.features_table, batch)
    # the feature month as Parquet files, read by Spark in several partitions
    features_dir = tmp_path / "features"
    features_dir.mkdir()
    con.execute(f"copy (select * from {settings.features_table} where month_start_date = ?) to "
                f"'{features_dir}' (format parquet, per_thread_output true)", [month])
    # and the whole monthly history, whose last twelve months Spark summarises beside each user
    history_dir = tmp_path / "history"
    history_dir.mkdir()
    con.execute(f"copy (select * from {settings.history_table}) to '{history_dir}' "
                "(format parquet, per_thread_output true)")
    relation = feature_relation(con, settings.features_table, settings.history_table, month)
    spark = vspark.session(Settings(home=tmp_path / "spark_home"))
    try:
        features = spark.read.parquet(str(features_dir)).repartition(4)
        history = spark.read.parquet(str(history_dir)).repartition(3)
        scored_models = 0
        for name in MODEL_NAMES:
            scorer = load_scorer(settings, name)
            assert any(c.endswith("_12m") for c in scorer.spec.columns), name  # the history summary is used
            expected = score_frame(scorer, feature_frame(con, relation, scorer, month))
            population = getattr(scorer, "population_sql", None)
            cohorts = spark.createDataFrame(con.execute(population).df()) if population else None
            got = score_month(spark, settings, scorer, month, features=features, cohorts=cohorts,
                              history=history).toPandas()
            assert len(got) == len(expected) > 100, name
            both = expected.merge(got, on="user_pseudonym", suffixes=("", "_spark"), validate="one_to_one")
            assert len(both) == len(expected), name
            assert (both["score"] == both["score_spark"]).all(), name
            assert (both["score_rank"] == both["score_rank_spark"]).all(), name
            for column in ("grade", "top_category", "category_ranking", "reason_codes"):
                left = both[column].astype("object").fillna("<null>").astype(str)
                right = both[f"{column}_spark"].astype("object").fillna("<null>").astype(str)
                assert (left == right).all(), (name, column)
            # and what `vasmart score` stored for the batch
            stored = con.execute("select user_pseudonym, score, score_rank from marts.fct_model_scores "
                                 "where model_name = ? and batch_date = ?", [name, batch]).df()
            joined = stored.merge(got, on="user_pseudonym", suffixes=("", "_spark"), validate="one_to_one")
            assert len(joined) == len(stored) == len(got), name
            assert (joined["score"] == joined["score_spark"]).all(), name
            # the Parquet scores table: the model's partition of the batch is replaced, never appended to
            ranked = spark.createDataFrame(got, f"{SCORE_SCHEMA}, score_rank bigint")
            for _ in range(2):
                write_scores(spark, ranked, name, scorer.version, batch, month)
            written = spark.sql("select count(*) from marts.fct_model_scores where model_name = "
                                f"'{name}'").collect()[0][0]
            assert written == len(got), name
            scored_models += 1
        assert scored_models == len(MODEL_NAMES)
    finally:
        vspark.stop()
        con.close()
