"""The model steps of the nightly run: monthly retraining after a month-end batch, then scoring the batch.

The DAG calls these with the run's batch date; `NotApplicable` says why a step has nothing to do on this
night (not a month end, no features table built yet, no trained model yet), which the DAG shows as skipped.
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb

from models_ml.config import MODEL_NAMES, ModelSettings
from models_ml.features import FeatureError, table_columns
from models_ml.registry import champion_version, versions
from models_ml.scoring import SCORES_DDL, score_models
from models_ml.train import TrainError, train_models
from vasmart.config import Settings
from vasmart.warehouse import connect


class NotApplicable(Exception):
    """The step has nothing to do for this batch (the reason is the message)."""


def is_month_end(batch: dt.date) -> bool:
    return (batch + dt.timedelta(days=1)).day == 1


def _require_features(settings: ModelSettings) -> None:
    if not settings.warehouse.exists():
        raise NotApplicable(f"no warehouse at {settings.warehouse}")
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        table_columns(con, settings.features_table)
    except FeatureError as exc:
        raise NotApplicable(str(exc)) from None
    finally:
        con.close()


def train_after_month_end(settings: Settings, batch: dt.date) -> list[str]:
    """Retrain every model with what is known at the end of the batch's month (month-end batches only)."""
    if not is_month_end(batch):
        raise NotApplicable(f"batch {batch:%Y%m%d} is not a month end: models retrain monthly")
    model_settings = ModelSettings.from_env(settings)
    _require_features(model_settings)
    return [o.summary() for o in train_models(model_settings, batch.replace(day=1))]


def score_batch(settings: Settings, batch: dt.date) -> list[str]:
    """Score every champion for the batch into marts.fct_model_scores."""
    model_settings = ModelSettings.from_env(settings)
    _require_features(model_settings)
    if not any(champion_version(model_settings, name) for name in MODEL_NAMES):
        con = connect(settings)  # an empty scores mart: the campaigns that need scores find none, not an error
        try:
            con.execute(SCORES_DDL)
        finally:
            con.close()
        raise NotApplicable("no trained model yet (vasmart train, or the first month-end batch)")
    return [o.summary() for o in score_models(model_settings, batch)]


def due_month(batch: dt.date) -> dt.date:
    """The latest ended month as of the batch (its own month for a month-end batch), as its first day."""
    if is_month_end(batch):
        return batch.replace(day=1)
    return (batch.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def _trained_as_of(settings: ModelSettings, name: str) -> set[str]:
    found = set()
    for version in versions(settings, name):
        meta = settings.models_dir / name / version / "training.json"
        if meta.exists():
            found.add(json.loads(meta.read_text()).get("as_of"))
    return found


def train_if_due(settings: Settings, batch: dt.date) -> list[str]:
    """Retrain every model on what was known at the end of the latest ended month, unless already done.

    State, not the calendar, decides: the first night that sees a month ended trains for it, so a night that
    catches up over a month end (only the newest batch builds) trains all the same, and a rerun does nothing.
    A training that fails (too few labels, say) is reported and the champions keep scoring.
    """
    month = due_month(batch)
    model_settings = ModelSettings.from_env(settings)
    _require_features(model_settings)
    if all(month.strftime("%Y-%m") in _trained_as_of(model_settings, name) for name in MODEL_NAMES):
        raise NotApplicable(f"the models are trained as of {month:%Y-%m} already")
    try:
        return [o.summary() for o in train_models(model_settings, month)]
    except TrainError as exc:
        raise NotApplicable(f"training as of {month:%Y-%m} failed, the champions keep scoring: {exc}") from None
