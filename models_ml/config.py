"""Settings of the model package, resolved once: where models live, which table holds the features, seeds."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from vasmart.config import Settings

FEATURES_TABLE_ENV = "VASMART_FEATURES_TABLE"
CREDIT_EXIT_MONTHS_ENV = "VASMART_CREDIT_EXIT_MONTHS"
DEFAULT_FEATURES_TABLE = "marts.customer_view"
DEFAULT_HISTORY_TABLE = "marts.fct_subscriber_month"
SCORES_TABLE = "marts.fct_model_scores"
MODEL_NAMES = ("propensity", "content", "credit")
CATEGORIES = ("NEWS", "SPORTS", "FINANCE", "ENTERTAINMENT", "MUSIC", "GAMES", "LIFE", "EDUCATION")


DEFAULT_CREDIT_EXIT_MONTHS = 3


def credit_exit_months() -> int:
    """Months paid on time after which a user leaves OCS credit control (`VASMART_CREDIT_EXIT_MONTHS`, default 3)."""
    value = os.environ.get(CREDIT_EXIT_MONTHS_ENV)
    if value is None or value == "":
        return DEFAULT_CREDIT_EXIT_MONTHS
    if not (value.isdigit() and int(value) >= 1):
        raise ValueError(f"{CREDIT_EXIT_MONTHS_ENV}={value!r} is not a whole number of months (1 or more)")
    return int(value)


@dataclass(frozen=True)
class ModelSettings:
    """What training and scoring read and write.

    features_table: the customer-view table the features come from (one row per user_pseudonym and
    month_start_date); `VASMART_FEATURES_TABLE` overrides the default `marts.customer_view`.
    history_table: the per-user monthly mart whose last twelve months are summarised beside each row
    (`models_ml.features.feature_relation`); None reads the features table alone.
    seed / num_threads: fixed, so that the same data gives the same model files and scores.
    max_train_rows: rows per model sampled (by pseudonym, deterministically) from the training months.
    credit_exit_months: months paid on time after which a user leaves OCS credit control
    (`VASMART_CREDIT_EXIT_MONTHS` overrides the default 3).
    """

    home: Path
    features_table: str = DEFAULT_FEATURES_TABLE
    history_table: str | None = DEFAULT_HISTORY_TABLE
    seed: int = 20261120
    num_threads: int = 2
    max_train_rows: int = 1_200_000
    credit_exit_months: int = DEFAULT_CREDIT_EXIT_MONTHS

    @classmethod
    def from_env(cls, settings: Settings | None = None, **overrides) -> ModelSettings:
        """Settings from the environment (VASMART_HOME, VASMART_FEATURES_TABLE), with explicit overrides."""
        settings = settings or Settings.from_env()
        table = os.environ.get(FEATURES_TABLE_ENV) or DEFAULT_FEATURES_TABLE
        base = cls(home=settings.home, features_table=table, credit_exit_months=credit_exit_months())
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def truth_dir(self) -> Path:
        return self.home / "truth"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"
