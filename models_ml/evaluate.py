"""Model quality against the generator's ground truth: each champion's metric beside the oracle's.

The oracle is the same metric computed from the true probabilities (truth/, spec section 7) on the same
users and the same realised labels: the ceiling a model can reach. Evaluation reads each champion's
validation predictions (validation.parquet, by pseudonym) and the truth files (by BOSS user_id), joined
through the keyed pseudonym (VASMART_PSEUDONYM_KEY). Only evaluation ever reads the truth.

With `ceiling=True` it also measures what the model's own features allow: a LightGBM regression fitted to
the truth's log-odds (not to the labels) on the champion's features and training window, scored on the
same validation users. The gap between the oracle and that ceiling is information the features do not
carry; the gap between the ceiling and the model is what better modelling could still win.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from models_ml import metrics
from models_ml.config import CATEGORIES, MODEL_NAMES, ModelSettings
from models_ml.credit import SEGMENTS
from models_ml.credit import load_cohorts as credit_frame
from models_ml.features import FeatureSpec, feature_relation, to_matrix
from models_ml.labels import PROPENSITY_LABELS, SHARE_COLUMNS
from models_ml.registry import RegistryError, champion_version, version_path
from models_ml.training import fit_lgb, lgb_params, load_labelled, logit, sample_fraction


class EvaluationError(RuntimeError):
    """Evaluation cannot run (the message names the model or the truth file)."""


@dataclass(frozen=True)
class EvaluationRow:
    model: str
    version: str
    month: str
    metric: str
    segment: str | None
    users: int
    value: float
    oracle: float
    ratio: float
    ceiling: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _pseudonyms(user_ids: pd.Series, key: bytes) -> np.ndarray:
    return np.array([hmac.new(key, u.encode("utf-8"), hashlib.sha256).hexdigest() for u in user_ids], dtype=object)


def _truth(truth_dir: Path, kind: str, month: str, key: bytes) -> pd.DataFrame:
    path = truth_dir / f"{kind}_{month.replace('-', '')}.csv"
    if not path.exists():
        raise EvaluationError(f"truth file {path} is missing")
    frame = pd.read_csv(path, dtype={"user_id": str}, encoding="utf-8")
    frame["user_pseudonym"] = _pseudonyms(frame["user_id"], key)
    return frame


def _row(model, version, month, metric, segment, users, value, oracle, ceiling=None) -> EvaluationRow:
    ratio = value / oracle if oracle else float("nan")
    return EvaluationRow(model, version, month, metric, segment, int(users), float(value), float(oracle), float(ratio),
                         None if ceiling is None else float(ceiling))


def _months(texts: list[str]) -> list[dt.date]:
    return [dt.datetime.strptime(t, "%Y-%m").date() for t in texts]


def _ceiling(settings: ModelSettings, name: str, path: Path, truth_dir: Path, key: bytes) -> pd.Series | None:
    """Scores, by pseudonym, of a regression on the truth's log-odds with the champion's features and window."""
    if name == "content":
        return None
    window = json.loads((path / "training.json").read_text())["window"]
    spec = FeatureSpec.from_json((path / "features.json").read_text())
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        table = feature_relation(con, settings.features_table, settings.history_table)
        if name == "propensity":
            train_months, val_months = _months(window["train"]), _months(window["validation"])
            fraction = sample_fraction(con, PROPENSITY_LABELS, train_months, settings.max_train_rows)
            train = load_labelled(con, table, spec, PROPENSITY_LABELS, ["label"], train_months, fraction)
            valid = load_labelled(con, table, spec, PROPENSITY_LABELS, ["label"], val_months)
            kind, period = "propensity", "month_start_date"
        else:
            train = credit_frame(con, table, spec, _months(window["train"]))
            valid = credit_frame(con, table, spec, _months(window["validation"]))
            kind, period = "credit", "cohort_month"

    def with_truth(frame: pd.DataFrame) -> pd.DataFrame:
        parts = []
        for month, rows in frame.groupby(period):
            file = truth_dir / f"{kind}_{month:%Y%m}.csv"
            if file.exists():  # the cohort before the history has no truth
                truth = _truth(truth_dir, kind, f"{month:%Y%m}", key)[["user_pseudonym", "p"]]
                parts.append(rows.merge(truth, on="user_pseudonym"))
        return pd.concat(parts) if parts else frame.iloc[:0].assign(p=[])

    train = with_truth(train)
    if train.empty:
        raise EvaluationError(f"{name}: no truth for the training window {window['train']}")
    params = lgb_params(settings, objective="regression", metric="l2")
    booster = fit_lgb(params, to_matrix(train, spec), logit(train["p"].to_numpy()), None, None,
                      list(spec.categorical), rounds=300)
    return pd.Series(booster.predict(to_matrix(valid, spec)), index=valid["user_pseudonym"].to_numpy())


def _propensity(path: Path, version: str, truth_dir: Path, key: bytes, ceiling: pd.Series | None
                ) -> list[EvaluationRow]:
    val = pd.read_parquet(path / "validation.parquet")
    month = pd.Timestamp(val["month_start_date"].iloc[0]).strftime("%Y-%m")
    v = val.merge(_truth(truth_dir, "propensity", month, key)[["user_pseudonym", "p"]], on="user_pseudonym")
    if v.empty:
        raise EvaluationError(f"propensity {version}: no validation user is in the truth file of {month}")
    y, s, p = v["label"].to_numpy(), v["score"].to_numpy(), v["p"].to_numpy()
    c = ceiling.reindex(v["user_pseudonym"]).to_numpy() if ceiling is not None else None
    rows = []
    for metric, fn in (("auc", metrics.auc), ("top_decile_lift", metrics.lift), ("pr_auc", metrics.pr_auc)):
        rows.append(_row("propensity", version, month, metric, None, len(v), fn(y, s), fn(y, p),
                         fn(y, c) if c is not None else None))
    return rows


def _content(path: Path, version: str, truth_dir: Path, key: bytes, ceiling: None = None) -> list[EvaluationRow]:
    val = pd.read_parquet(path / "validation.parquet")
    month = pd.Timestamp(val["month_start_date"].iloc[0]).strftime("%Y-%m")
    truth = _truth(truth_dir, "content", month, key)
    weights = truth.pivot_table(index="user_pseudonym", columns="category", values="weight", aggfunc="first")
    weights = weights.reindex(columns=list(CATEGORIES))
    v = val[val["user_pseudonym"].isin(weights.index)]
    if v.empty:
        raise EvaluationError(f"content {version}: no validation user is in the truth file of {month}")
    relevance = v[list(SHARE_COLUMNS)].to_numpy(dtype="float64")
    predicted = v[[f"predicted_{c.lower()}" for c in CATEGORIES]].to_numpy(dtype="float64")
    oracle = weights.loc[v["user_pseudonym"]].to_numpy(dtype="float64")
    rows = []
    for metric, fn in (("ndcg_at_3", lambda r, s: metrics.ndcg_at_k(r, s, 3)), ("hit_at_1", metrics.hit_at_1)):
        rows.append(_row("content", version, month, metric, None, len(v), np.nanmean(fn(relevance, predicted)),
                         np.nanmean(fn(relevance, oracle))))
    return rows


def _credit(path: Path, version: str, truth_dir: Path, key: bytes, ceiling: pd.Series | None
            ) -> list[EvaluationRow]:
    val = pd.read_parquet(path / "validation.parquet")
    cohorts = sorted({pd.Timestamp(c).strftime("%Y-%m") for c in val["cohort_month"]})
    truth = pd.concat([_truth(truth_dir, "credit", c, key)[["user_pseudonym", "p"]] for c in cohorts])
    v = val.merge(truth, on="user_pseudonym")
    if v.empty:
        raise EvaluationError(f"credit {version}: no validation user is in the truth files of {', '.join(cohorts)}")
    rows = []
    label = ",".join(cohorts)
    for segment in SEGMENTS:
        g = v[v["credit_segment"] == segment]
        y = g["label"].to_numpy()
        if len(g) == 0 or y.min() == y.max():
            continue
        c = ceiling.reindex(g["user_pseudonym"]).to_numpy() if ceiling is not None else None
        for metric, fn in (("ks", metrics.ks), ("auc", metrics.auc), ("gini", metrics.gini)):
            rows.append(_row("credit", version, label, metric, segment, len(g), fn(y, g["score"].to_numpy()),
                             fn(y, g["p"].to_numpy()), fn(y, c) if c is not None else None))
    return rows


EVALUATORS = {"propensity": _propensity, "content": _content, "credit": _credit}


def pseudonym_key() -> bytes:
    from vasmart.dbt_plugin import key_from_env

    key = key_from_env()
    if key is None:
        raise EvaluationError("VASMART_PSEUDONYM_KEY is not set: evaluation matches the truth's user_ids to the "
                              "marts' pseudonyms with it")
    return key


def evaluate(settings: ModelSettings, truth_dir: Path, key: bytes, models: tuple[str, ...] = MODEL_NAMES,
             ceiling: bool = False) -> list[EvaluationRow]:
    """Every champion's metrics on its validation data, with the oracle's values and their ratio (and, with
    `ceiling`, the features' ceiling)."""
    if not truth_dir.is_dir():
        raise EvaluationError(f"truth directory {truth_dir} does not exist")
    rows: list[EvaluationRow] = []
    for name in models:
        version = champion_version(settings, name)
        if version is None:
            raise EvaluationError(f"model {name} has no champion yet: run vasmart train")
        try:
            path = version_path(settings, name, version)
        except RegistryError as exc:
            raise EvaluationError(str(exc)) from None
        scores = _ceiling(settings, name, path, truth_dir, key) if ceiling else None
        rows.extend(EVALUATORS[name](path, version, truth_dir, key, scores))
    return rows

