"""The model steps of the nightly run: monthly retraining after a month-end batch, then scoring the batch.

The DAG calls these with the run's batch date; `NotApplicable` says why a step has nothing to do on this
night (not a month end, no features table built yet, no trained model yet), which the DAG shows as skipped.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from models_ml.config import MODEL_NAMES, ModelSettings
from models_ml.features import FeatureError, table_columns
from models_ml.registry import champion_version
from models_ml.scoring import score_models
from models_ml.train import train_models
from vasmart.config import Settings


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
        raise NotApplicable("no trained model yet (vasmart train, or the first month-end batch)")
    return [o.summary() for o in score_models(model_settings, batch)]
