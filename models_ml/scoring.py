"""Nightly scoring: every champion model scores its population into `marts.fct_model_scores`.

For batch D the feature month is the latest complete month of the features table whose month end is on or
before D (so rerunning an old batch never reads later data). Each model's rows for (model, D) are replaced
in one transaction: a rerun gives the same rows, never more.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from models_ml.config import MODEL_NAMES, SCORES_TABLE, ModelSettings
from models_ml.features import FeatureError, feature_relation, quote, select_list, table_columns
from models_ml.registry import RegistryError
from models_ml.scorers import load_scorer
from models_ml.training import rank_desc
from vasmart.config import Settings
from vasmart.warehouse import WarehouseBusy, connect

SCORES_DDL = f"""
CREATE SCHEMA IF NOT EXISTS marts;
CREATE TABLE IF NOT EXISTS {SCORES_TABLE} (
    model_name VARCHAR NOT NULL,        -- 'propensity' | 'content' | 'credit'
    model_version VARCHAR NOT NULL,     -- the registry version that scored
    batch_date DATE NOT NULL,           -- the nightly batch that scored
    feature_month DATE NOT NULL,        -- customer-view month used (first day)
    user_pseudonym VARCHAR NOT NULL,
    score DOUBLE NOT NULL,              -- propensity: P(stable order next month); credit: P(bad); content: top share
    score_rank BIGINT NOT NULL,         -- 1 = highest score within the model and batch
    grade VARCHAR,                      -- credit: 'A'..'E'
    top_category VARCHAR,               -- content: the best category
    category_ranking VARCHAR,           -- content: the eight categories best first, comma-separated
    reason_codes VARCHAR,               -- JSON array of up to 3 "feature:+contribution" strings
    scored_at TIMESTAMP NOT NULL
);
"""
COLUMNS = ("model_name", "model_version", "batch_date", "feature_month", "user_pseudonym", "score", "score_rank",
           "grade", "top_category", "category_ranking", "reason_codes", "scored_at")


class ScoringError(RuntimeError):
    """Scoring cannot run (the message names the model or batch)."""


@dataclass(frozen=True)
class ScoreOutcome:
    model: str
    version: str | None
    batch_date: dt.date
    feature_month: dt.date | None
    rows: int
    seconds: float
    skipped: str | None = None

    def summary(self) -> str:
        if self.skipped:
            return f"{self.model}: not scored ({self.skipped})"
        return (f"{self.model} {self.version}: {self.rows:,} users scored for batch {self.batch_date:%Y%m%d} "
                f"from features of {self.feature_month:%Y-%m} in {self.seconds:.1f} s")


def latest_loaded_batch(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The most recent batch recorded as loaded in audit.load_batch."""
    row = con.execute("select max(batch_date) from audit.load_batch where status = 'LOADED'").fetchone()
    if row is None or row[0] is None:
        raise ScoringError("no loaded batch in audit.load_batch: ingest a batch first")
    return dt.datetime.strptime(row[0], "%Y%m%d").date()


def feature_month_for(con: duckdb.DuckDBPyConnection, table: str, batch_date: dt.date) -> dt.date:
    """The latest complete month of `table` whose month end is on or before the batch date."""
    names = {n for n, _ in table_columns(con, table)}
    complete = "is_month_complete and " if "is_month_complete" in names else ""
    row = con.execute(
        f"select max(month_start_date) from {table} where {complete}"
        f"last_day(month_start_date) <= DATE '{batch_date.isoformat()}'"
    ).fetchone()
    if row is None or row[0] is None:
        raise ScoringError(f"features table {table} has no complete month ending by batch {batch_date:%Y%m%d}")
    return row[0]


def feature_frame(con: duckdb.DuckDBPyConnection, table: str, scorer, month: dt.date) -> pd.DataFrame:
    """The feature month's rows a scorer reads (its features, population columns, credit segment)."""
    present = {n for n, _ in table_columns(con, table)}
    wanted = [c for c in dict.fromkeys(scorer.columns) if c in present]
    missing = [c for c in scorer.spec.columns if c not in present]
    if missing:
        raise ScoringError(f"model {scorer.name} {scorer.version} needs column(s) {', '.join(missing)} that "
                           f"{table} no longer has: retrain it")
    others = [c for c in wanted if c not in scorer.spec.columns]
    cols = ", ".join([select_list(scorer.spec), *(f"f.{quote(c)}" for c in others)])
    population = getattr(scorer, "population_sql", None)
    join = f"join ({population}) p using (user_pseudonym, month_start_date) " if population else ""
    extra = ", p.credit_segment" if population else ""
    frame = con.execute(f"select f.user_pseudonym, {cols}{extra} from {table} f {join}"
                        f"where f.month_start_date = DATE '{month.isoformat()}' order by f.user_pseudonym").df()
    return frame


def score_frame(scorer, frame: pd.DataFrame, reasons: bool = True) -> pd.DataFrame:
    """Score the population rows of `frame`: the score columns plus user_pseudonym and score_rank."""
    rows = frame[scorer.population(frame)]
    out = scorer.score(rows, reasons=reasons)
    out.insert(0, "user_pseudonym", rows["user_pseudonym"].to_numpy())
    out["score_rank"] = rank_desc(out["score"].to_numpy(), out["user_pseudonym"].to_numpy())
    return out.reset_index(drop=True)


def write_scores(con: duckdb.DuckDBPyConnection, name: str, version: str, batch_date: dt.date,
                 month: dt.date, scored: pd.DataFrame) -> None:
    """Replace the model's rows of the batch in one transaction."""
    table = scored.assign(model_name=name, model_version=version, batch_date=batch_date, feature_month=month,
                          scored_at=pd.Timestamp(dt.datetime.now().replace(microsecond=0)))
    table["score"] = table["score"].astype("float64")
    table["score_rank"] = table["score_rank"].astype("int64")
    for col in ("grade", "top_category", "category_ranking", "reason_codes"):
        table[col] = table[col].astype("object")
    table = table[list(COLUMNS)]
    con.register("new_scores", table)
    try:
        con.execute("begin transaction")
        con.execute(f"delete from {SCORES_TABLE} where model_name = ? and batch_date = ?", [name, batch_date])
        con.execute(f"insert into {SCORES_TABLE} ({', '.join(COLUMNS)}) select {', '.join(COLUMNS)} from new_scores")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("new_scores")


def score_models(settings: ModelSettings, batch_date: dt.date | None = None, models: tuple[str, ...] = MODEL_NAMES,
                 reasons: bool = True, on_model=None) -> list[ScoreOutcome]:
    """Score every champion for batch D (default: the latest loaded batch); models without a champion are skipped."""
    try:
        con = connect(Settings(home=settings.home))
    except WarehouseBusy as exc:
        raise ScoringError(str(exc)) from None
    outcomes = []
    try:
        con.execute(SCORES_DDL)
        batch = batch_date or latest_loaded_batch(con)
        try:
            month = feature_month_for(con, settings.features_table, batch)
            relation = feature_relation(con, settings.features_table, settings.history_table)
        except FeatureError as exc:
            raise ScoringError(str(exc)) from None
        for name in models:
            started = time.perf_counter()
            try:
                scorer = load_scorer(settings, name)
            except RegistryError as exc:
                outcomes.append(ScoreOutcome(name, None, batch, month, 0, 0.0, skipped=str(exc)))
                continue
            scored = score_frame(scorer, feature_frame(con, relation, scorer, month), reasons)
            if not np.isfinite(scored["score"].to_numpy()).all():
                raise ScoringError(f"model {name} {scorer.version} produced non-finite scores for batch {batch}")
            write_scores(con, name, scorer.version, batch, month, scored)
            outcome = ScoreOutcome(name, scorer.version, batch, month, len(scored), time.perf_counter() - started)
            outcomes.append(outcome)
            if on_model is not None:
                on_model(outcome)
    finally:
        con.close()
    return outcomes
