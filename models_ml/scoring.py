"""Nightly scoring: every champion model scores its population into `marts.fct_model_scores`.

For batch D the feature month is the latest complete month of the features table whose month end is on or
before D (so rerunning an old batch never reads later data). Each model's rows for (model, D) are replaced
in one transaction: a rerun gives the same rows, never more.
"""

from __future__ import annotations

import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from models_ml.config import MODEL_NAMES, SCORES_TABLE, ModelSettings
from models_ml.explain import reasons_sql
from models_ml.features import (
    FeatureError,
    FeatureSpec,
    arrow_column,
    feature_relation,
    quote,
    select_list,
    stack_rows,
    table_columns,
)
from models_ml.registry import RegistryError
from models_ml.scored import Scored
from models_ml.scorers import SCORERS, scorer_path
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
    stages: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        if self.skipped:
            return f"{self.model}: not scored ({self.skipped})"
        stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in self.stages.items())
        return (f"{self.model} {self.version}: {self.rows:,} users scored for batch {self.batch_date:%Y%m%d} "
                f"from features of {self.feature_month:%Y-%m} in {self.seconds:.1f} s"
                + (f" ({stages})" if stages else ""))


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


class FeatureRows:
    """The feature month's rows that the scorers read, fetched once for all of them (an Arrow table).

    Each model feature is one column, as `select_list` gives it (numeric as FLOAT, categorical as text),
    followed by the `others` columns of the features relation (what the scorers' populations read). The rows
    are ordered by user_pseudonym. `specs`: the feature spec of each model, by "<model> <version>".
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, relation: str, month: dt.date,
                 specs: dict[str, FeatureSpec], others: list[str]):
        present = {n for n, _ in table_columns(con, relation)}
        for model, spec in specs.items():
            missing = [c for c in spec.columns if c not in present]
            if missing:
                raise ScoringError(f"model {model} needs column(s) {', '.join(missing)} that {relation} no longer "
                                   "has: retrain it")
        numeric = list(dict.fromkeys(c for spec in specs.values() for c in spec.numeric))
        text = [c for c in dict.fromkeys(c for spec in specs.values() for c in spec.categorical) if c not in numeric]
        others = [c for c in dict.fromkeys(others) if c in present and c not in numeric and c not in text]
        read = FeatureSpec(tuple(numeric), dict.fromkeys(text, ()))
        cols = ", ".join([select_list(read), *(f"f.{quote(c)}" for c in others)])
        self.month = month
        self.table = con.execute(f"select f.user_pseudonym, {cols} from {relation} f "
                                 f"where f.month_start_date = DATE '{month.isoformat()}' order by f.user_pseudonym"
                                 ).to_arrow_table()
        self._columns: dict[tuple[str, tuple[str, ...] | None], np.ndarray] = {}

    def __len__(self) -> int:
        return self.table.num_rows

    def matrix(self, spec: FeatureSpec, rows: np.ndarray) -> np.ndarray:
        """The model matrix of `spec` for the rows at positions `rows`: the values of `as_array(to_matrix(...))`
        from a frame, as float64, which compiled models read in place; each column is converted once for all
        models."""
        keys = [(name, None) for name in spec.numeric] + list(spec.categorical.items())
        for key in keys:
            if key not in self._columns:
                self._columns[key] = arrow_column(self.table[key[0]], key[1])
        return stack_rows([self._columns[key] for key in keys], rows, dtype="float64")

    def population(self, con: duckdb.DuckDBPyConnection, scorer) -> tuple[np.ndarray, pd.DataFrame]:
        """Positions of the scorer's population among the rows, in pseudonym order, and the columns its
        population reads there (with those of its population query, joined on user and month, if it has one)."""
        names = [c for c in scorer.population_columns if c in self.table.column_names]
        sql = getattr(scorer, "population_sql", None)
        if sql is None:
            rows = np.arange(len(self))
            frame = self.table.select(names).to_pandas()
        else:
            con.register("feature_rows", pa.table({"user_pseudonym": self.table["user_pseudonym"],
                                                   "feature_row": np.arange(len(self))}))
            try:
                joined = con.execute(
                    f"select r.feature_row, p.* exclude (user_pseudonym, month_start_date) from ({sql}) p "
                    f"join feature_rows r using (user_pseudonym) "
                    f"where p.month_start_date = DATE '{self.month.isoformat()}' order by r.user_pseudonym"
                ).to_arrow_table()
            finally:
                con.unregister("feature_rows")
            rows = joined["feature_row"].to_numpy()
            frame = pa.Table.from_arrays(
                [*self.table.select(names).take(rows).columns, *joined.drop_columns(["feature_row"]).columns],
                names=[*names, *joined.column_names[1:]]).to_pandas()
        keep = scorer.population(frame)
        return rows[keep], frame[keep].reset_index(drop=True)


def write_scored(con: duckdb.DuckDBPyConnection, name: str, version: str, batch_date: dt.date, month: dt.date,
                 pseudonyms: pa.Array, scored: Scored) -> None:
    """Replace the model's rows of the batch in one transaction (rows in pseudonym order, as scored)."""
    n = len(scored.score)
    columns = {"user_pseudonym": pseudonyms, "score": pa.array(scored.score, pa.float64()),
               # the rows are in pseudonym order: their position breaks ties of score as the pseudonym does
               "score_rank": pa.array(rank_desc(scored.score, np.arange(n)), pa.int64())}
    for label, values in scored.labels().items():
        columns[label] = pa.nulls(n, pa.string()) if values is None else pa.array(values, pa.string())
    reasons = "null"
    if scored.reasons is not None:
        table = scored.reasons.table()
        columns.update(zip(table.column_names, table.columns, strict=True))
        reasons = reasons_sql(scored.reasons.names)
    con.register("new_scores", pa.table(columns))
    try:
        con.execute("begin transaction")
        con.execute(f"delete from {SCORES_TABLE} where model_name = ? and batch_date = ?", [name, batch_date])
        con.execute(f"insert into {SCORES_TABLE} ({', '.join(COLUMNS)}) "
                    f"select ?, ?, ?, ?, user_pseudonym, score, score_rank, grade, top_category, category_ranking, "
                    f"{reasons}, ? from new_scores",
                    [name, version, batch_date, month, dt.datetime.now().replace(microsecond=0)])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("new_scores")


def score_rows(con: duckdb.DuckDBPyConnection, features: FeatureRows, scorer, batch: dt.date,
               reasons: bool = True) -> dict[str, float]:
    """Score the scorer's population among `features` and write it for the batch; the seconds of each stage."""
    clock = _Clock()
    rows, columns = features.population(con, scorer)
    x = features.matrix(scorer.spec, rows)
    clock.lap("population")
    scored = scorer.score_rows(x, columns)
    clock.lap("predict")
    if reasons:
        scored.reasons = scorer.explain_rows(x, columns, scored)
        clock.lap("reasons")
    if not np.isfinite(scored.score).all():
        raise ScoringError(f"model {scorer.name} {scorer.version} produced non-finite scores for batch {batch}")
    write_scored(con, scorer.name, scorer.version, batch, features.month,
                 features.table["user_pseudonym"].take(rows), scored)
    clock.lap("write")
    return {**clock.laps, "rows": len(rows)}


class _Clock:
    """Seconds between laps, by lap name."""

    def __init__(self):
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self._last
        self._last = now


def score_models(settings: ModelSettings, batch_date: dt.date | None = None, models: tuple[str, ...] = MODEL_NAMES,
                 reasons: bool = True, on_model=None, timings: dict[str, float] | None = None
                 ) -> list[ScoreOutcome]:
    """Score every champion for batch D (default: the latest loaded batch); models without a champion are skipped.

    The feature month is read once for all models, while the models load. `timings`, when given, receives
    the seconds of each stage: "features" (the shared read) and "<model> <stage>" (population, predict,
    reasons, write).
    """
    try:
        con = connect(Settings(home=settings.home))
    except WarehouseBusy as exc:
        raise ScoringError(str(exc)) from None
    outcomes, paths = {}, {}
    try:
        con.execute(SCORES_DDL)
        batch = batch_date or latest_loaded_batch(con)
        try:
            month = feature_month_for(con, settings.features_table, batch)
            relation = feature_relation(con, settings.features_table, settings.history_table, month)
        except FeatureError as exc:
            raise ScoringError(str(exc)) from None
        for name in models:
            try:
                paths[name] = scorer_path(settings, name)
            except RegistryError as exc:
                outcomes[name] = ScoreOutcome(name, None, batch, month, 0, 0.0, skipped=str(exc))
        if not paths:
            return [outcomes[name] for name in models]
        specs = {f"{name} {version}": FeatureSpec.from_json((path / "features.json").read_text())
                 for name, (version, path) in paths.items()}
        others = [c for name in paths for c in SCORERS[name].population_columns]
        started = time.perf_counter()
        with ThreadPoolExecutor(1) as pool:
            # DuckDB reads without the GIL while this thread loads the models (importing LightGBM takes seconds)
            reading = pool.submit(FeatureRows, con, relation, month, specs, others)
            scorers = [SCORERS[name](path, version, settings.num_threads) for name, (version, path) in paths.items()]
            features = reading.result()
        if timings is not None:
            timings["features"] = time.perf_counter() - started
        for scorer in scorers:
            stages = score_rows(con, features, scorer, batch, reasons)
            rows = int(stages.pop("rows"))
            outcome = ScoreOutcome(scorer.name, scorer.version, batch, month, rows, sum(stages.values()), stages=stages)
            outcomes[scorer.name] = outcome
            if timings is not None:
                timings.update({f"{scorer.name} {stage}": seconds for stage, seconds in stages.items()})
            if on_model is not None:
                on_model(outcome)
    finally:
        con.close()
    return [outcomes[name] for name in models]
