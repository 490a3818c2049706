"""Content preference: a ranking of the eight content categories for every active user for month M+1.

One LightGBM model per category predicts the category's share of the user's VAS use in M+1 (cross-entropy
on the share, a probability label), from the customer view at the end of M; the eight predictions,
normalised, rank the categories. Validated on the latest labelled month against the realised shares
(NDCG@3, hit@1), beside two baselines: global popularity (the training months' mean shares) and the user's
own shares of month M. The top category picks the 手机报 edition a campaign offers.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from models_ml import metrics
from models_ml.compiled import CompiledModel, compile_booster
from models_ml.config import CATEGORIES, ModelSettings
from models_ml.explain import ContributionTable, as_array, fit_reasons, importance_table
from models_ml.features import FeatureSpec, infer_spec, to_matrix
from models_ml.labels import CONTENT_LABELS, SHARE_COLUMNS, observable_months
from models_ml.scored import Reasons, Scored
from models_ml.training import (
    TrainedModel,
    booster_bytes,
    dumps,
    evaluate_champion,
    fit_on,
    lgb_params,
    load_labelled,
    make_dataset,
    month_roles,
    months_json,
    restrict_as_of,
    sample_fraction,
)

NAME = "content"
ROLES = ("early_stopping", "validation")
PRIMARY_METRIC = "ndcg_at_3"
# The customer view's use count of each category in the month (the "own past shares" baseline reads them).
CATEGORY_USE_COLUMN = "{category}_use_count"
STATUS_COLUMN = "user_status"
TIE_BREAK = 1e-9  # equal predicted shares rank by global popularity
MAX_TRAIN_ROWS = 400_000  # eight models: the ranking gains nothing measurable from more rows


def use_columns() -> list[str]:
    return [CATEGORY_USE_COLUMN.format(category=c.lower()) for c in CATEGORIES]


def past_shares(frame: pd.DataFrame, popularity: np.ndarray) -> np.ndarray | None:
    """The user's own category shares of the feature month (popularity order for users with no use)."""
    cols = use_columns()
    if not all(c in frame for c in cols):
        return None
    counts = frame[cols].fillna(0).to_numpy(dtype="float64")
    total = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)
    return shares + TIE_BREAK * popularity[None, :]


def ranking_report(relevance: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    return {"ndcg_at_3": float(np.nanmean(metrics.ndcg_at_k(relevance, scores, 3))),
            "hit_at_1": float(np.nanmean(metrics.hit_at_1(relevance, scores))),
            "users": len(relevance)}


def train(con: duckdb.DuckDBPyConnection, settings: ModelSettings, as_of: dt.date | None = None,
          champion: ContentScorer | None = None) -> TrainedModel:
    """Train the eight category models and validate the ranking on the latest labelled month known by `as_of`."""
    table = settings.features_table
    months = restrict_as_of(observable_months(con, CONTENT_LABELS), as_of, lag=1)
    window = month_roles(months, ROLES)
    spec = infer_spec(con, table, window["train"])
    fraction = sample_fraction(con, CONTENT_LABELS, window["train"], min(settings.max_train_rows, MAX_TRAIN_ROWS))
    frames = {role: load_labelled(con, table, spec, CONTENT_LABELS, list(SHARE_COLUMNS), ms,
                                  fraction if role == "train" else 1.0, tuple(use_columns()))
              for role, ms in window.items()}
    train_f, es_f, val_f = frames["train"], frames["early_stopping"], frames["validation"]
    train_x, es_x, val_x = (to_matrix(f, spec) for f in (train_f, es_f, val_f))

    params = lgb_params(settings, objective="cross_entropy", metric="cross_entropy", learning_rate=0.12)
    # the eight models share the binned data; only the target changes
    train_set = make_dataset(params, train_x, train_f[SHARE_COLUMNS[0]].to_numpy(), list(spec.categorical))
    es_set = make_dataset(params, es_x, es_f[SHARE_COLUMNS[0]].to_numpy(), list(spec.categorical), train_set)
    boosters = {}
    for category, column in zip(CATEGORIES, SHARE_COLUMNS, strict=True):
        train_set.set_label(train_f[column].to_numpy())
        es_set.set_label(es_f[column].to_numpy())
        boosters[category] = fit_on(params, train_set, es_set)
    popularity = train_f[list(SHARE_COLUMNS)].mean().to_numpy()

    relevance = val_f[list(SHARE_COLUMNS)].to_numpy(dtype="float64")
    val_array = as_array(val_x)
    # compiled, as nightly scoring will predict
    forests = {c: compile_booster(boosters[c], f"model_{c.lower()}.txt", settings.num_threads) for c in CATEGORIES}
    val_array = np.ascontiguousarray(val_array, dtype="float64")
    predicted = _normalised(np.column_stack([forests[c].predict(val_array) for c in CATEGORIES]))
    report = ranking_report(relevance, predicted + TIE_BREAK * popularity[None, :])
    baselines = {"popularity": ranking_report(relevance, np.tile(popularity, (len(val_f), 1)))}
    own = past_shares(val_f, popularity)
    baselines["past_shares"] = ranking_report(relevance, own) if own is not None else None

    validation = val_f[["user_pseudonym", "month_start_date", *SHARE_COLUMNS]].copy()
    for i, c in enumerate(CATEGORIES):
        validation[f"predicted_{c.lower()}"] = predicted[:, i]
    reasons = {c: fit_reasons(boosters[c], val_x, spec, rows=6_000) for c in CATEGORIES}
    report["reason_codes"] = {"method": "shap_dependence",
                              "top1_agreement_with_shap": float(np.mean([a for _, a in reasons.values()]))}
    sample = val_x.iloc[: min(len(val_x), 2_000)]
    card = {
        "popularity": dict(zip(CATEGORIES, popularity.tolist(), strict=True)),
        "importance": {c: importance_table(boosters[c], sample, top=10) for c in CATEGORIES},
        "per_category": _per_category(relevance, predicted),
    }
    champion_value = evaluate_champion(champion, val_f)
    files = {f"model_{c.lower()}.txt": booster_bytes(b) for c, b in boosters.items()}
    files["popularity.json"] = dumps(card["popularity"])
    files.update({f"reasons_{c.lower()}.json": t.to_json().encode("utf-8") for c, (t, _) in reasons.items()})
    return TrainedModel(
        name=NAME,
        files=files,
        spec=spec,
        window={**months_json(window), "train_sample_fraction": fraction, "rows": {r: len(f) for r, f in frames.items()}},
        params={**params, "best_iterations": {c: b.current_iteration() for c, b in boosters.items()}},
        seed=settings.seed,
        metrics={"validation_month": window["validation"][0].strftime("%Y-%m"), "model": report,
                 "baselines": baselines, "per_category": card["per_category"].to_dict(orient="records")},
        primary_metric=PRIMARY_METRIC,
        primary_value=report[PRIMARY_METRIC],
        validation=validation,
        card=card,
        champion_value=champion_value,
        as_of=as_of,
    )


def _normalised(predicted: np.ndarray) -> np.ndarray:
    total = predicted.sum(axis=1, keepdims=True)
    return np.divide(predicted, total, out=np.full_like(predicted, 1 / predicted.shape[1]), where=total > 0)


def _per_category(relevance: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    """Mean realised and predicted share per category, and how often it is the top category of each."""
    top_true = relevance.argmax(axis=1)
    top_pred = predicted.argmax(axis=1)
    return pd.DataFrame({
        "category": list(CATEGORIES),
        "realised_share": relevance.mean(axis=0),
        "predicted_share": predicted.mean(axis=0),
        "realised_top": np.bincount(top_true, minlength=len(CATEGORIES)) / max(len(relevance), 1),
        "predicted_top": np.bincount(top_pred, minlength=len(CATEGORIES)) / max(len(relevance), 1),
    })


class ContentScorer:
    """The content-preference models of one version directory."""

    name = NAME

    def __init__(self, path: Path, version: str, num_threads: int):
        self.version = version
        self.num_threads = num_threads
        self.spec = FeatureSpec.from_json((path / "features.json").read_text())
        self.forests = {c: CompiledModel(path / f"model_{c.lower()}.txt", num_threads) for c in CATEGORIES}
        popularity = json.loads((path / "popularity.json").read_text())
        self.popularity = np.array([popularity[c] for c in CATEGORIES])
        self.reasons = {c: ContributionTable.from_json((path / f"reasons_{c.lower()}.json").read_text())
                        for c in CATEGORIES}

    population_columns = (STATUS_COLUMN,)

    @property
    def columns(self) -> list[str]:
        """Feature-table columns scoring reads."""
        return [*self.spec.columns, *self.population_columns]

    def population(self, frame: pd.DataFrame) -> np.ndarray:
        """Every NORMAL (active) user at the end of the feature month."""
        if STATUS_COLUMN not in frame:
            return np.ones(len(frame), dtype=bool)
        return (frame[STATUS_COLUMN] == "NORMAL").to_numpy()

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted shares (rows sum to 1), categories in CATEGORIES order, popularity breaking ties."""
        return self.shares(as_array(to_matrix(frame, self.spec)))

    def shares(self, x: np.ndarray) -> np.ndarray:
        """`predict` for the rows of model matrix `x` (as `as_array` makes it)."""
        x = np.ascontiguousarray(x, dtype="float64")  # converted once for the eight models
        predicted = [self.forests[c].predict(x) for c in CATEGORIES]
        return _normalised(np.column_stack(predicted)) + TIE_BREAK * self.popularity[None, :]

    def evaluate(self, labelled: pd.DataFrame) -> float:
        """NDCG@3 on a labelled frame (for champion/challenger)."""
        relevance = labelled[list(SHARE_COLUMNS)].to_numpy(dtype="float64")
        return float(np.nanmean(metrics.ndcg_at_k(relevance, self.predict(labelled), 3)))

    def score_rows(self, x: np.ndarray, columns: Mapping[str, np.ndarray]) -> Scored:
        """The top category's share as the score, the top category and the ranking of all eight."""
        shares = self.shares(x)
        order = np.argsort(-shares, axis=1, kind="stable")
        top = order[:, 0]
        names = np.array(CATEGORIES, dtype=object)
        return Scored(np.clip(shares[np.arange(len(shares)), top], 0.0, 1.0), top_category=names[top],
                      category_ranking=_rankings(order))

    def explain_rows(self, x: np.ndarray, columns: Mapping[str, np.ndarray], scored: Scored) -> Reasons:
        """Each row's top reasons for its top category, from that category's SHAP dependence table."""
        out = Reasons.empty(len(x), self.spec.columns)
        levels = self.spec.categorical
        for category in CATEGORIES:
            rows = np.flatnonzero(scored.top_category == category)
            if len(rows):
                table = self.reasons[category]
                out.put(rows, Reasons.of(lambda chunk, t=table: t.lookup(chunk, levels), x[rows], self.spec.columns,
                                         threads=self.num_threads))
        return out

    def score(self, frame: pd.DataFrame, reasons: bool = True) -> pd.DataFrame:
        x = as_array(to_matrix(frame, self.spec))
        scored = self.score_rows(x, frame)
        if reasons:
            scored.reasons = self.explain_rows(x, frame, scored)
        return scored.frame(frame.index)


def _rankings(order: np.ndarray) -> np.ndarray:
    """Each row's categories best first, comma-separated (order: category indices, best first)."""
    if not len(order):
        return np.empty(0, dtype=object)
    # few distinct orders among many rows: each is joined once (an order is keyed by its digits in base 8)
    digits = len(CATEGORIES) ** np.arange(order.shape[1], dtype="int64")
    _, first, inverse = np.unique(order @ digits, return_index=True, return_inverse=True)
    names = np.array(CATEGORIES, dtype=object)
    joined = np.array([",".join(names[order[i]]) for i in first], dtype=object)
    return joined[inverse.reshape(-1)]
