"""Mobile-newspaper (手机报) propensity: P(a stable 手机报 order in M+1) from the customer view at the end of M.

LightGBM on every feature of the customer view, trained on earlier months, early-stopped on a later month,
Platt-calibrated on the month after that and validated on the latest labelled month (no month is used
twice and none is split at random). Baselines on the same validation month: logistic regression on the
same features, and the rule a campaign team used before models (MMS handset + active SMS user + news use).
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
from models_ml.config import ModelSettings
from models_ml.explain import ContributionTable, as_array, fit_reasons, importance_table
from models_ml.features import FeatureSpec, infer_spec, one_hot, to_matrix
from models_ml.labels import PROPENSITY_LABELS, observable_months
from models_ml.scored import Reasons, Scored
from models_ml.training import (
    TrainedModel,
    apply_platt,
    booster_bytes,
    dumps,
    evaluate_champion,
    fit_lgb,
    fit_platt,
    lgb_params,
    load_labelled,
    month_roles,
    months_json,
    restrict_as_of,
    sample_fraction,
)

NAME = "propensity"
ROLES = ("early_stopping", "calibration", "validation")
PRIMARY_METRIC = "auc"
# The pre-model campaign rule: an MMS-capable handset, an active SMS user (at least the median of SMS sent),
# and some use of news content. Columns of the customer view it reads:
RULE_COLUMNS = {"mms": "has_mms", "sms": "sms_mo", "news": "news_use_count"}
# Who is scored: NORMAL at the end of the month and holding no 手机报 (the population of spec section 6).
STATUS_COLUMN = "user_status"
HELD_COLUMN = "held_newspaper_count"
LOGISTIC_MAX_ROWS = 200_000


def rule_score(frame: pd.DataFrame, sms_threshold: float) -> np.ndarray:
    """Conditions of the campaign rule each user meets (0-3); the rule selected those meeting all three."""
    score = np.zeros(len(frame))
    if RULE_COLUMNS["mms"] in frame:
        score += frame[RULE_COLUMNS["mms"]].fillna(False).astype(float).to_numpy()
    if RULE_COLUMNS["sms"] in frame:
        score += (frame[RULE_COLUMNS["sms"]].fillna(0).to_numpy(dtype="float64") >= sms_threshold).astype(float)
    if RULE_COLUMNS["news"] in frame:
        score += (frame[RULE_COLUMNS["news"]].fillna(0).to_numpy(dtype="float64") > 0).astype(float)
    return score


def _logistic(train: pd.DataFrame, spec: FeatureSpec, seed: int):
    """Logistic regression on the same features (median-imputed, standardised, categoricals one-hot)."""
    from sklearn.linear_model import LogisticRegression  # imported here: scoring does not need it
    from sklearn.preprocessing import StandardScaler

    sample = train if len(train) <= LOGISTIC_MAX_ROWS else train.sample(LOGISTIC_MAX_ROWS, random_state=seed)
    x, _, medians = one_hot(to_matrix(sample, spec), spec)
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=1.0, max_iter=500).fit(scaler.transform(x), sample["label"].to_numpy())

    def predict(frame: pd.DataFrame) -> np.ndarray:
        z, _, _ = one_hot(to_matrix(frame, spec), spec, medians)
        return model.predict_proba(scaler.transform(z))[:, 1]

    return predict


def train(con: duckdb.DuckDBPyConnection, settings: ModelSettings, as_of: dt.date | None = None,
          champion: PropensityScorer | None = None) -> TrainedModel:
    """Train, calibrate and validate the propensity model on the labelled months known by `as_of`."""
    table = settings.features_table
    months = restrict_as_of(observable_months(con, PROPENSITY_LABELS), as_of, lag=1)
    window = month_roles(months, ROLES)
    spec = infer_spec(con, table, window["train"])
    rule_cols = tuple(RULE_COLUMNS.values())
    fraction = sample_fraction(con, PROPENSITY_LABELS, window["train"], settings.max_train_rows)
    frames = {role: load_labelled(con, table, spec, PROPENSITY_LABELS, ["label"], ms,
                                  fraction if role == "train" else 1.0, rule_cols)
              for role, ms in window.items()}
    train_f, es_f, cal_f, val_f = (frames[r] for r in ("train", "early_stopping", "calibration", "validation"))

    params = lgb_params(settings, objective="binary", metric="binary_logloss")
    categorical = list(spec.categorical)
    booster = fit_lgb(params, to_matrix(train_f, spec), train_f["label"].to_numpy(),
                      to_matrix(es_f, spec), es_f["label"].to_numpy(), categorical)
    forest = compile_booster(booster, "model.txt", settings.num_threads)  # predicts as nightly scoring will
    platt = fit_platt(forest.predict(as_array(to_matrix(cal_f, spec))), cal_f["label"].to_numpy())

    val_x = to_matrix(val_f, spec)
    y = val_f["label"].to_numpy()
    raw = forest.predict(as_array(val_x))
    calibrated = apply_platt(raw, platt)
    logistic = _logistic(train_f, spec, settings.seed)(val_f)
    sms_threshold = float(train_f[RULE_COLUMNS["sms"]].median()) if RULE_COLUMNS["sms"] in train_f else 0.0
    rule = rule_score(val_f, sms_threshold)

    report = metrics.binary_report(y, calibrated)
    report["brier_uncalibrated"] = metrics.brier(y, raw)
    baselines = {"logistic_regression": metrics.binary_report(y, logistic),
                 "rule": {k: v for k, v in metrics.binary_report(y, rule).items() if k != "brier"}}
    selected = rule >= 3
    baselines["rule"]["selected_share"] = float(selected.mean())
    baselines["rule"]["selected_rate"] = float(y[selected].mean()) if selected.any() else None
    baselines["rule"]["columns"] = {k: (v if v in val_f else None) for k, v in RULE_COLUMNS.items()}
    baselines["rule"]["sms_threshold"] = sms_threshold
    validation = pd.DataFrame({"user_pseudonym": val_f["user_pseudonym"], "month_start_date": val_f["month_start_date"],
                               "label": y, "score": calibrated, "score_uncalibrated": raw,
                               "logistic_regression": logistic, "rule": rule})

    reasons, agreement = fit_reasons(booster, val_x, spec, rows=8_000)
    report["reason_codes"] = {"method": "shap_dependence", "top1_agreement_with_shap": agreement}
    sample = val_x.iloc[: min(len(val_x), 2_000)]
    card = {
        "gains": metrics.gains_table(y, calibrated),
        "gains_baselines": {"logistic_regression": metrics.gains_table(y, logistic), "rule": metrics.gains_table(y, rule)},
        "calibration": metrics.calibration_curve(y, calibrated),
        "calibration_uncalibrated": metrics.calibration_curve(y, raw),
        "importance": importance_table(booster, sample),
    }
    champion_value = evaluate_champion(champion, val_f)
    return TrainedModel(
        name=NAME,
        files={"model.txt": booster_bytes(booster), "calibration.json": dumps(platt),
               "rule.json": dumps({"columns": RULE_COLUMNS, "sms_threshold": sms_threshold}),
               "reasons.json": reasons.to_json().encode("utf-8")},
        spec=spec,
        window={**months_json(window), "train_sample_fraction": fraction, "rows": {r: len(f) for r, f in frames.items()}},
        params={**params, "best_iteration": booster.current_iteration()},
        seed=settings.seed,
        metrics={"validation_month": window["validation"][0].strftime("%Y-%m"), "model": report,
                 "baselines": baselines, "gains": card["gains"].to_dict(orient="records")},
        primary_metric=PRIMARY_METRIC,
        primary_value=report[PRIMARY_METRIC],
        validation=validation,
        card=card,
        champion_value=champion_value,
        as_of=as_of,
    )


class PropensityScorer:
    """The propensity model of one version directory."""

    name = NAME

    def __init__(self, path: Path, version: str, num_threads: int):
        self.version = version
        self.num_threads = num_threads
        self.spec = FeatureSpec.from_json((path / "features.json").read_text())
        self.forest = CompiledModel(path / "model.txt", num_threads)
        self.platt = json.loads((path / "calibration.json").read_text())
        self.reasons = ContributionTable.from_json((path / "reasons.json").read_text())

    population_columns = (STATUS_COLUMN, HELD_COLUMN)

    @property
    def columns(self) -> list[str]:
        """Feature-table columns scoring reads."""
        return [*self.spec.columns, *self.population_columns]

    def population(self, frame: pd.DataFrame) -> np.ndarray:
        """NORMAL users holding no 手机报 at the end of the feature month."""
        keep = np.ones(len(frame), dtype=bool)
        if STATUS_COLUMN in frame:
            keep &= (frame[STATUS_COLUMN] == "NORMAL").to_numpy()
        if HELD_COLUMN in frame:
            keep &= (frame[HELD_COLUMN].fillna(0) == 0).to_numpy()
        return keep

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.score_rows(as_array(to_matrix(frame, self.spec)), frame).score

    def evaluate(self, labelled: pd.DataFrame) -> float:
        """AUC on a labelled frame (for champion/challenger)."""
        return metrics.auc(labelled["label"].to_numpy(), self.predict(labelled))

    def score_rows(self, x: np.ndarray, columns: Mapping[str, np.ndarray]) -> Scored:
        """Calibrated scores of the rows of model matrix `x` (as `as_array` makes it)."""
        raw = self.forest.predict(x)
        return Scored(apply_platt(raw, self.platt))

    def explain_rows(self, x: np.ndarray, columns: Mapping[str, np.ndarray], scored: Scored) -> Reasons:
        """Each row's top reasons, from the SHAP dependence table."""
        levels = self.spec.categorical
        return Reasons.of(lambda chunk: self.reasons.lookup(chunk, levels), x, self.spec.columns,
                          threads=self.num_threads)

    def score(self, frame: pd.DataFrame, reasons: bool = True) -> pd.DataFrame:
        x = as_array(to_matrix(frame, self.spec))
        scored = self.score_rows(x, frame)
        if reasons:
            scored.reasons = self.explain_rows(x, frame, scored)
        return scored.frame(frame.index)
