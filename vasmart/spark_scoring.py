"""Scoring on Spark: the champion models score the customer view partition by partition.

The single-machine path (`models_ml.scoring`) reads a feature month into one pandas frame. Here the same
month is a Spark DataFrame: `mapInPandas` hands each task its partition in Arrow batches, each batch goes
through the same `models_ml` code (`scorer.population`, `scorer.score`), and only the rank (1 = highest
score, ties broken by pseudonym, as `models_ml.training.rank_desc`) needs the whole population: a distributed
sort and `zipWithIndex`. No process holds more than one batch of users; a 50-million-user province scores on
as many executors as it has.

Executors load the model from the registry under `$VASMART_HOME/models/` (a path every executor can read:
local in the embedded setup, a shared file system on a cluster), once per Python worker.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from models_ml.config import ModelSettings

__all__ = ["SCORE_SCHEMA", "feature_columns", "score_month", "write_scores"]

# What scorer.score() returns per user, plus the rank: the columns of marts.fct_model_scores it fills.
SCORE_SCHEMA = ("user_pseudonym string, score double, grade string, top_category string, "
                "category_ranking string, reason_codes string")
SCORE_COLUMNS = ("score", "grade", "top_category", "category_ranking", "reason_codes")
BATCH_ROWS = 20_000
HISTORY_VIEW = "vasmart_model_history"

_SCORERS: dict[tuple[str, str, str], object] = {}


def _scorer(home: str, name: str, version: str):
    """The model, loaded once per Python worker (one thread: the executor's cores run tasks side by side)."""
    from models_ml.scorers import load_scorer

    key = (home, name, version)
    if key not in _SCORERS:
        _SCORERS[key] = load_scorer(ModelSettings(home=Path(home), num_threads=1), name, version)
    return _SCORERS[key]


def feature_columns(scorer, available: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(numeric, categorical, other) columns the scorer reads that the features table has."""
    present = set(available)
    missing = [c for c in scorer.spec.columns if c not in present]
    if missing:
        raise ValueError(f"model {scorer.name} {scorer.version} needs column(s) {', '.join(missing)} that the "
                         "features table no longer has: retrain it")
    others = [c for c in dict.fromkeys(scorer.columns) if c in present and c not in scorer.spec.columns]
    return list(scorer.spec.numeric), list(scorer.spec.categorical), others


def score_month(spark, settings: ModelSettings, scorer, month: dt.date, features=None, cohorts=None,
                reasons: bool = True, history=None):
    """The scorer's population of `month` scored on Spark: SCORE_SCHEMA plus score_rank (a Spark DataFrame).

    `features` is the customer view as a Spark DataFrame (default: the table `settings.features_table`);
    `history` the per-user monthly history whose last twelve months are summarised beside each row, with
    the single-machine path's SQL (`models_ml.features.history_summary_sql`; default: the table
    `settings.history_table` when Spark has it); `cohorts` the credit cohorts (user_pseudonym,
    month_start_date, credit_segment) for a scorer that has a population query (default: that query on
    Spark). Numeric features are read as FLOAT and the others as stored, exactly as the single-machine path
    reads them.
    """
    from pyspark.sql import functions as F

    from models_ml.features import history_summary_sql

    frame = features if features is not None else spark.table(settings.features_table)
    frame = frame.where(F.col("month_start_date") == F.lit(month))
    if history is None and settings.history_table and spark.catalog.tableExists(settings.history_table):
        history = spark.table(settings.history_table)
    if history is not None:
        history.createOrReplaceTempView(HISTORY_VIEW)
        frame = frame.join(spark.sql(history_summary_sql(HISTORY_VIEW, month)), "user_pseudonym", "left")
    numeric, categorical, others = feature_columns(scorer, frame.columns)
    columns = [F.col("user_pseudonym"),
               *(F.col(c).cast("float").alias(c) for c in numeric),
               *(F.col(c) for c in categorical),
               *(F.col(c) for c in others)]
    population = getattr(scorer, "population_sql", None)
    if population:
        cohorts = cohorts if cohorts is not None else spark.sql(population)
        cohorts = cohorts.select("user_pseudonym", "month_start_date", "credit_segment")
        frame = frame.join(cohorts, ["user_pseudonym", "month_start_date"], "inner")
        columns.append(F.col("credit_segment"))
    frame = frame.select(*columns)

    home, name, version = str(settings.home), scorer.name, scorer.version

    def score_batches(batches):
        import pandas as pd

        model = _scorer(home, name, version)
        for batch in batches:
            rows = batch[model.population(batch)]
            if rows.empty:
                continue
            out = model.score(rows, reasons=reasons)
            result = pd.DataFrame({"user_pseudonym": rows["user_pseudonym"].to_numpy()})
            result["score"] = out["score"].astype("float64").to_numpy()
            for column in SCORE_COLUMNS[1:]:
                result[column] = out[column].astype("object").where(out[column].notna(), None).to_numpy()
            yield result

    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(BATCH_ROWS))
    scored = frame.mapInPandas(score_batches, SCORE_SCHEMA)
    return rank(spark, scored)


def rank(spark, scored):
    """score_rank: 1 = highest score, ties broken by user_pseudonym (a distributed sort, then zipWithIndex)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, StructField, StructType

    ordered = scored.orderBy(F.col("score").desc(), F.col("user_pseudonym").asc())
    schema = StructType([*ordered.schema.fields, StructField("score_rank", LongType(), False)])
    return spark.createDataFrame(ordered.rdd.zipWithIndex().map(lambda pair: (*pair[0], pair[1] + 1)), schema)


def write_scores(spark, ranked, name: str, version: str, batch_date: dt.date, month: dt.date,
                 table: str = "marts.fct_model_scores") -> None:
    """Replace the model's rows of the batch in the Parquet table (partitioned by model and batch)."""
    from pyspark.sql import functions as F

    out = ranked.select(
        F.lit(name).alias("model_name"), F.lit(version).alias("model_version"),
        F.lit(month).alias("feature_month"), "user_pseudonym", "score", "score_rank", "grade", "top_category",
        "category_ranking", "reason_codes",
        F.lit(dt.datetime.now().replace(microsecond=0)).alias("scored_at"),
        F.lit(batch_date).alias("batch_date"))
    database = table.split(".")[0]
    spark.sql(f"create database if not exists {database}")
    if not spark.catalog.tableExists(table):
        out.limit(0).write.format("parquet").partitionBy("model_name", "batch_date").saveAsTable(table)
    # dynamic partition overwrite: only (model_name, batch_date) partitions present in `out` are replaced
    out.select(*spark.table(table).columns).write.insertInto(table, overwrite=True)
