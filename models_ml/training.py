"""What the three models share: the result of a training run, LightGBM settings, month windows, data loading."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import numpy as np
import pandas as pd

from models_ml.config import ModelSettings
from models_ml.features import (
    FeatureSpec,
    add_months,
    for_months,
    month_filter,
    quote,
    sample_filter,
    select_list,
)

if TYPE_CHECKING:
    import lightgbm as lgb

MAX_TRAIN_MONTHS = 6
EARLY_STOPPING_ROUNDS = 50
MAX_ROUNDS = 600


class TrainingError(RuntimeError):
    """Training cannot run: not enough labelled months, no features, a model that cannot be fitted."""


@dataclass
class TrainedModel:
    """One training run's result, before it is written to the registry.

    files: the model's artefacts by file name (what scoring loads); window: the months used per role;
    metrics: JSON-able numbers on the validation month (model, baselines); primary_metric/primary_value:
    what champion/challenger compares; champion_value: the champion scored on this run's validation data;
    validation: pseudonymised predictions and labels of the validation month (for evaluation and the card);
    card: tables the model card draws.
    """

    name: str
    files: dict[str, bytes]
    spec: FeatureSpec
    window: dict[str, Any]
    params: dict[str, Any]
    seed: int
    metrics: dict[str, Any]
    primary_metric: str
    primary_value: float
    validation: pd.DataFrame
    card: dict[str, Any] = field(default_factory=dict)
    champion_value: float | None = None
    as_of: dt.date | None = None


class Scorer(Protocol):
    """A trained model loaded from its version directory, ready to score a feature frame."""

    name: str
    version: str
    spec: FeatureSpec

    def evaluate(self, labelled: pd.DataFrame) -> float:
        """The model's primary metric on a labelled frame."""
        ...

    def score(self, frame: pd.DataFrame, reasons: bool = True) -> pd.DataFrame:
        """Scores for the rows of `frame` (same index): score, grade, top_category, category_ranking, reason_codes."""
        ...


def evaluate_champion(champion: Scorer | None, labelled: pd.DataFrame) -> float | None:
    """The champion's primary metric on this run's labelled validation frame; None if it cannot score it."""
    if champion is None:
        return None
    try:
        return float(champion.evaluate(labelled))
    except (KeyError, ValueError):  # the champion reads a column this run's features no longer have
        return None


def lgb_params(settings: ModelSettings, **overrides: Any) -> dict[str, Any]:
    """LightGBM parameters that make a run reproducible: fixed seed and threads, deterministic, row-wise."""
    params = {
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_data_in_leaf": 50,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "max_bin": 255,
        "max_cat_to_onehot": 8,
        "cat_smooth": 20,
        "seed": settings.seed,
        "num_threads": settings.num_threads,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }
    params.update(overrides)
    return params


def make_dataset(params: dict[str, Any], x: pd.DataFrame, y: np.ndarray, categorical: list[str],
                 reference: lgb.Dataset | None = None) -> lgb.Dataset:
    """A binned LightGBM dataset; one can serve several models (set_label) when only the target changes."""
    import lightgbm as lgb
    data = lgb.Dataset(x, label=y, reference=reference, categorical_feature=categorical or "auto",
                       free_raw_data=False, params=dict(params))
    return data.construct()


def fit_on(params: dict[str, Any], train: lgb.Dataset, valid: lgb.Dataset | None,
           rounds: int = MAX_ROUNDS) -> lgb.Booster:
    """Train a booster, with early stopping on `valid` when given (cut back to its best iteration)."""
    import lightgbm as lgb
    callbacks = []
    if valid is not None:
        callbacks.append(lgb.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False))
    booster = lgb.train(params, train, num_boost_round=rounds, valid_sets=[valid] if valid is not None else [],
                        callbacks=callbacks)
    if valid is not None and booster.best_iteration > 0:
        booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))
    return booster


def fit_lgb(params: dict[str, Any], train_x: pd.DataFrame, train_y: np.ndarray, valid_x: pd.DataFrame | None,
            valid_y: np.ndarray | None, categorical: list[str], rounds: int = MAX_ROUNDS) -> lgb.Booster:
    """Train a booster, with early stopping on the validation set when one is given."""
    train = make_dataset(params, train_x, train_y, categorical)
    valid = make_dataset(params, valid_x, valid_y, categorical, train) if valid_x is not None else None
    return fit_on(params, train, valid, rounds)


def booster_bytes(booster: lgb.Booster) -> bytes:
    """The booster as LightGBM's text format (byte-identical for identical training)."""
    return booster.model_to_string().encode("utf-8")


def load_booster(data: bytes, num_threads: int) -> lgb.Booster:
    """A booster from its text; LightGBM is imported here, on first use, as it takes seconds."""
    import lightgbm as lgb

    booster = lgb.Booster(model_str=data.decode("utf-8"))
    booster.params["num_threads"] = num_threads
    return booster


def sample_fraction(con: duckdb.DuckDBPyConnection, label_sql: str, months: list[dt.date], budget: int) -> float:
    """Share of users to keep so that the training months hold about `budget` labelled rows."""
    rows = con.execute(f"select count(*) from ({label_sql}) where {month_filter(months)}").fetchone()[0]
    return 1.0 if rows <= budget else budget / rows


def load_labelled(con: duckdb.DuckDBPyConnection, table: str, spec: FeatureSpec, label_sql: str,
                  label_columns: list[str], months: list[dt.date], fraction: float = 1.0,
                  extra_feature_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Features of `months` joined to their labels (inner join on pseudonym and month), ordered by key."""
    table = for_months(con, table, months)
    extra = "".join(f", f.{quote(c)}" for c in extra_feature_columns if c not in spec.columns)
    labels = ", ".join(f"l.{quote(c)}" for c in label_columns)
    # The labels are narrowed to the months and users inside their own query: DuckDB then sees them as the
    # smaller side and builds the join's hash table on them, not on the wide feature rows (3x faster at 1M users).
    narrowed = f"select * from ({label_sql}) where {month_filter(months)} and {sample_filter(fraction)}"
    sql = (f"select f.user_pseudonym, f.month_start_date, {select_list(spec)}{extra}, {labels} "
           f"from {table} f join ({narrowed}) l using (user_pseudonym, month_start_date) "
           f"where {month_filter(months, 'f.month_start_date')} and {sample_filter(fraction, 'f.user_pseudonym')} "
           f"order by f.month_start_date, f.user_pseudonym")
    frame = con.execute(sql).df()
    frame["month_start_date"] = pd.to_datetime(frame["month_start_date"]).dt.date
    return frame


def month_roles(months: list[dt.date], roles: tuple[str, ...], max_train: int = MAX_TRAIN_MONTHS
                ) -> dict[str, list[dt.date]]:
    """Split labelled months, oldest first, into training months and one later month per role.

    The last month is the last role's (validation), the one before it the role before, and so on; training
    takes up to `max_train` months before those. No month serves two roles, and every training month
    precedes every held-out month (no random split across time).
    """
    need = len(roles) + 1
    if len(months) < need:
        raise TrainingError(f"{len(months)} labelled month(s) ({', '.join(m.strftime('%Y%m') for m in months)}); "
                            f"need at least {need}: training, then {', '.join(roles)}")
    held = months[-len(roles):]
    out = {"train": months[:-len(roles)][-max_train:]}
    for role, month in zip(roles, held, strict=True):
        out[role] = [month]
    return out


def months_json(window: dict[str, list[dt.date]]) -> dict[str, list[str]]:
    return {k: [m.strftime("%Y-%m") for m in v] for k, v in window.items()}


def restrict_as_of(months: list[dt.date], as_of: dt.date | None, lag: int) -> list[dt.date]:
    """Label months whose outcome was known by the end of `as_of` (outcome month = month + `lag`)."""
    if as_of is None:
        return months
    return [m for m in months if add_months(m, lag) <= as_of]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype="float64"), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def fit_platt(raw: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Platt scaling on the log-odds of the raw probability: p = sigmoid(a * logit(raw) + b).

    Monotone, so it keeps the ranking (AUC, lift) and only corrects the probabilities. Fitted by Newton's
    method on the log-likelihood (two parameters), without regularisation.
    """
    x = logit(raw)
    y = np.asarray(y, dtype="float64")
    a, b = 1.0, 0.0
    for _ in range(100):
        p = sigmoid(a * x + b)
        w = p * (1 - p) + 1e-12
        grad = np.array([np.sum((p - y) * x), np.sum(p - y)])
        hess = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]])
        step = np.linalg.solve(hess + 1e-9 * np.eye(2), grad)
        a, b = a - step[0], b - step[1]
        if np.max(np.abs(step)) < 1e-10:
            break
    if not (math.isfinite(a) and math.isfinite(b)) or a <= 0:
        return {"a": 1.0, "b": 0.0}
    return {"a": float(a), "b": float(b)}


def apply_platt(raw: np.ndarray, params: dict[str, float]) -> np.ndarray:
    return sigmoid(params["a"] * logit(raw) + params["b"])


def dumps(data: Any) -> bytes:
    """Canonical JSON bytes (sorted keys), so equal content gives equal files."""
    return (json.dumps(data, indent=1, sort_keys=True, default=str) + "\n").encode("utf-8")


def rank_desc(scores: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """1-based rank by score, highest first, ties broken by key (so the rank is a total order)."""
    order = np.lexsort((keys, -np.asarray(scores, dtype="float64")))
    ranks = np.empty(len(order), dtype="int64")
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks
