"""Monthly training: every model on the labelled months known at the as-of month, registered and decided.

Training only reads the warehouse (features and history tables, label marts); it writes under
$VASMART_HOME/models.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, replace

import duckdb

from models_ml import content, credit, propensity
from models_ml.config import MODEL_NAMES, ModelSettings
from models_ml.features import FeatureError, feature_months, feature_relation
from models_ml.labels import LabelError
from models_ml.model_card import write_model_card
from models_ml.registry import Decision, RegistryError, decide, record_decision, write_version
from models_ml.scorers import load_scorer
from models_ml.training import TrainedModel, TrainingError

DUCKDB_MEMORY = "2GB"
TRAINERS = {"propensity": propensity.train, "content": content.train, "credit": credit.train}


class TrainError(RuntimeError):
    """Training of a named model failed (the message names the model)."""


@dataclass(frozen=True)
class TrainOutcome:
    """One model's training run: its version, the decision and the headline number."""

    model: str
    version: str
    new: bool
    decision: Decision
    seconds: float
    trained: TrainedModel

    def summary(self) -> str:
        verdict = "champion" if self.decision.promoted else "challenger kept aside"
        if not self.new and not self.decision.promoted:
            verdict = "unchanged"
        return (f"{self.model} {self.version}: {self.decision.metric} {self.decision.challenger_value:.4f} "
                f"({verdict}: {self.decision.reason}) in {self.seconds:.1f} s")


def _connect(settings: ModelSettings) -> duckdb.DuckDBPyConnection:
    if not settings.warehouse.exists():
        raise TrainError(f"no warehouse at {settings.warehouse}: load and build first")
    try:
        # the frames live in pandas; DuckDB's own cache need not grow to most of the machine's memory
        return duckdb.connect(str(settings.warehouse), read_only=True, config={"memory_limit": DUCKDB_MEMORY})
    except duckdb.IOException as exc:
        raise TrainError(f"{settings.warehouse} is in use: {str(exc).splitlines()[0]}") from None


def data_month(con: duckdb.DuckDBPyConnection, settings: ModelSettings, as_of: dt.date | None) -> dt.date:
    """The as-of month: given, or the latest complete month of the features table."""
    if as_of is not None:
        return as_of
    months = feature_months(con, settings.features_table)
    if not months:
        raise TrainError(f"features table {settings.features_table} has no complete month")
    return months[-1]


def train_models(settings: ModelSettings, as_of: dt.date | None = None, models: tuple[str, ...] = MODEL_NAMES,
                 on_model=None) -> list[TrainOutcome]:
    """Train the given models; each version is written, decided against the champion and given a model card."""
    outcomes = []
    con = _connect(settings)
    try:
        try:
            month = data_month(con, settings, as_of)
            # the trainers read the features table with its history summary, under one relation name
            relation = feature_relation(con, settings.features_table, settings.history_table)
            reading = replace(settings, features_table=relation)
            source = (f"{settings.features_table}` with 12 months of `{settings.history_table}"
                      if relation != settings.features_table else settings.features_table)
        except FeatureError as exc:
            raise TrainError(str(exc)) from None
        label = month.strftime("%Y%m")
        for name in models:
            started = time.perf_counter()
            try:
                champion = load_scorer(settings, name)
            except RegistryError:
                champion = None
            try:
                trained = TRAINERS[name](con, reading, as_of, champion)
            except (TrainingError, FeatureError, LabelError) as exc:
                raise TrainError(f"model {name}: {exc}") from None
            version, path, new = write_version(settings, trained, label)
            decision = decide(settings, trained, version)
            record_decision(settings, decision, path)
            write_model_card(path, trained, version, decision, source)
            outcome = TrainOutcome(name, version, new, decision, time.perf_counter() - started, trained)
            outcomes.append(outcome)
            if on_model is not None:
                on_model(outcome)
    finally:
        con.close()
    return outcomes
