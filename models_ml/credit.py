"""Negative credit (负信用) of new users: P(bad in J+2..J+5) at the start of J+2, one model per segment.

Segments are re-joiner x capital (spec section 6). For each, two candidates are trained on the earlier
cohorts: an interpretable scorecard (WOE binning + logistic regression) and a LightGBM challenger whose
features are held monotone in the direction of their correlation with the label; the one with the higher
KS on the validation cohorts (the latest labelled ones) is the segment's champion. A segment with too few
bad users to learn from borrows a model trained on all segments together (recorded as "pooled").
Scores map to risk grades A-E at fixed quantiles of the validation scores; grades D and E enter OCS credit
control (models_ml.credit_control). The score's and every feature's population stability (PSI) is tracked
cohort over cohort.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd

from models_ml import metrics
from models_ml.config import ModelSettings
from models_ml.explain import ContributionTable, as_array, fit_reasons, importance_table
from models_ml.features import (
    FeatureSpec,
    add_months,
    base_table,
    feature_months,
    for_months,
    infer_spec,
    month_filter,
    select_list,
    to_matrix,
)
from models_ml.labels import CREDIT_COHORTS, CREDIT_LABELS, observable_months
from models_ml.scorecard import Scorecard
from models_ml.scored import Reasons, Scored
from models_ml.training import (
    TrainedModel,
    TrainingError,
    booster_bytes,
    dumps,
    evaluate_champion,
    lgb_params,
    load_booster,
    load_labelled,
    months_json,
)

if TYPE_CHECKING:
    import lightgbm as lgb

NAME = "credit"
SEGMENTS = ("NEW_CAPITAL", "NEW_OTHER", "REJOIN_CAPITAL", "REJOIN_OTHER")
POOLED = "POOLED"
GRADES = ("A", "B", "C", "D", "E")
# Cumulative shares of the validation scores at which grades B, C, D and E start (A: the 35% least risky).
GRADE_QUANTILES = (0.35, 0.60, 0.80, 0.92)
VALIDATION_COHORTS = 2
MIN_SEGMENT_BADS = 40
MIN_CORRELATION = 0.02  # below this the LightGBM challenger leaves a feature unconstrained
CV_FOLDS = 3  # rounds for the challenger; three folds take half the time of five


def _segment_months(con: duckdb.DuckDBPyConnection, as_of: dt.date | None) -> list[dt.date]:
    """Cohort months whose label window (J+2 .. J+5) had been billed by the end of `as_of`."""
    cohorts = observable_months(con, CREDIT_LABELS, "cohort_month")
    if as_of is not None:
        cohorts = [c for c in cohorts if add_months(c, 5) <= as_of]
    return cohorts


def load_cohorts(con: duckdb.DuckDBPyConnection, table: str, spec: FeatureSpec, cohorts: list[dt.date]
                 ) -> pd.DataFrame:
    """Features at the end of J+1 of the given cohorts' users, with cohort_month, credit_segment and label."""
    if not cohorts:
        return pd.DataFrame()
    sql = f"select * from ({CREDIT_LABELS}) where {month_filter(cohorts, 'cohort_month')}"
    feature_months = [add_months(c, 1) for c in cohorts]
    frame = load_labelled(con, table, spec, sql, ["cohort_month", "credit_segment", "label"], feature_months)
    frame["cohort_month"] = pd.to_datetime(frame["cohort_month"]).dt.date
    return frame


def monotone_directions(frame: pd.DataFrame, y: np.ndarray, spec: FeatureSpec) -> list[int]:
    """+1 / -1 per feature by the sign of its rank correlation with bad, 0 when weak or categorical."""
    out = []
    ranks_y = pd.Series(y).rank().to_numpy()
    for c in spec.columns:
        if c in spec.categorical:
            out.append(0)
            continue
        values = pd.to_numeric(frame[c], errors="coerce")
        if values.nunique() < 2:
            out.append(0)
            continue
        rho = np.corrcoef(values.rank().fillna(values.rank().mean()).to_numpy(), ranks_y)[0, 1]
        out.append(0 if not np.isfinite(rho) or abs(rho) < MIN_CORRELATION else int(np.sign(rho)))
    return out


def fit_challenger(frame: pd.DataFrame, y: np.ndarray, spec: FeatureSpec, settings: ModelSettings
                   ) -> tuple[lgb.Booster, dict]:
    """LightGBM with monotone constraints; rounds chosen by stratified cross-validation, then refit on all rows."""
    import lightgbm as lgb
    x = to_matrix(frame, spec)
    params = lgb_params(settings, objective="binary", metric="binary_logloss", learning_rate=0.03, num_leaves=7,
                        min_data_in_leaf=max(20, len(x) // 200), lambda_l2=5.0, feature_fraction=0.9,
                        monotone_constraints=monotone_directions(frame, y, spec),
                        monotone_constraints_method="advanced")
    data = lgb.Dataset(x, label=y, categorical_feature=list(spec.categorical) or "auto", free_raw_data=False)
    folds = min(CV_FOLDS, int(y.sum()), int(len(y) - y.sum()))
    if folds >= 2:
        cv = lgb.cv(params, data, num_boost_round=800, nfold=folds, stratified=True, seed=settings.seed,
                    callbacks=[lgb.early_stopping(50, verbose=False)])
        rounds = max(len(next(iter(cv.values()))), 10)
    else:
        rounds = 50
    booster = lgb.train(params, data, num_boost_round=rounds)
    return booster, {**params, "num_boost_round": rounds}


def _candidate_reports(y: np.ndarray, p: np.ndarray) -> dict:
    if len(y) == 0 or y.min() == y.max():
        return {"users": len(y), "bads": int(y.sum()), "ks": None, "auc": None, "gini": None}
    return {"users": len(y), "bads": int(y.sum()), "ks": metrics.ks(y, p), "auc": metrics.auc(y, p),
            "gini": metrics.gini(y, p)}


def grade_cutoffs(scores: np.ndarray) -> list[float]:
    """P(bad) at which grades B..E start: fixed quantiles of the validation scores."""
    return [float(q) for q in np.quantile(np.asarray(scores, dtype="float64"), GRADE_QUANTILES)]


def assign_grades(scores: np.ndarray, cutoffs: list[float]) -> np.ndarray:
    """'A' (lowest risk) .. 'E' for each score."""
    idx = np.searchsorted(np.asarray(cutoffs), np.asarray(scores, dtype="float64"), side="right")
    return np.array(GRADES, dtype=object)[idx]


def grade_table(y: np.ndarray, grades: np.ndarray) -> pd.DataFrame:
    """Users, bads and bad rate per grade, and whether the bad rate rises strictly from A to E."""
    frame = pd.DataFrame({"grade": grades, "bad": y})
    table = frame.groupby("grade")["bad"].agg(users="count", bads="sum").reindex(list(GRADES), fill_value=0)
    table["bad_rate"] = np.where(table["users"] > 0, table["bads"] / table["users"].clip(lower=1), np.nan)
    return table.reset_index()


def grades_monotone(table: pd.DataFrame) -> bool:
    rates = table["bad_rate"].to_numpy()
    return bool(np.all(np.isfinite(rates)) and np.all(np.diff(rates) > 0))


def train(con: duckdb.DuckDBPyConnection, settings: ModelSettings, as_of: dt.date | None = None,
          champion: CreditScorer | None = None) -> TrainedModel:
    """Train both candidates per segment, pick each segment's champion on the validation cohorts, grade."""
    table = settings.features_table
    cohorts = _segment_months(con, as_of)
    if len(cohorts) < VALIDATION_COHORTS + 2:
        raise TrainingError(f"{len(cohorts)} labelled credit cohort(s); need at least {VALIDATION_COHORTS + 2}")
    train_cohorts, val_cohorts = cohorts[:-VALIDATION_COHORTS], cohorts[-VALIDATION_COHORTS:]
    spec = infer_spec(con, table, [add_months(c, 1) for c in train_cohorts])
    train_f = load_cohorts(con, table, spec, train_cohorts)
    val_f = load_cohorts(con, table, spec, val_cohorts)
    if train_f.empty or val_f.empty or train_f["label"].nunique() < 2:
        raise TrainingError("the credit cohorts have no features or no bad users to learn from")

    files: dict[str, bytes] = {}
    params: dict = {}
    fitted: dict[str, dict] = {}

    def fit_on(key: str, rows: pd.DataFrame) -> dict:
        y = rows["label"].to_numpy()
        card = Scorecard.fit(rows, y, spec, settings.seed)
        booster, lgb_used = fit_challenger(rows, y, spec, settings)
        files[f"scorecard_{key.lower()}.json"] = card.to_json().encode("utf-8")
        files[f"lgbm_{key.lower()}.txt"] = booster_bytes(booster)
        table, _ = fit_reasons(booster, to_matrix(val_f, spec), spec, rows=5_000)
        files[f"reasons_lgbm_{key.lower()}.json"] = table.to_json().encode("utf-8")
        params[key] = lgb_used
        return {"scorecard": card, "lgbm": booster}

    segments: dict[str, dict] = {}
    pooled_needed = False
    for segment in SEGMENTS:
        rows = train_f[train_f["credit_segment"] == segment]
        bads = int(rows["label"].sum())
        own = bads >= MIN_SEGMENT_BADS and len(rows) - bads >= MIN_SEGMENT_BADS
        segments[segment] = {"trained_on": segment if own else POOLED, "train_users": len(rows),
                             "train_bads": bads}
        if own:
            fitted[segment] = fit_on(segment, rows)
        else:
            pooled_needed = True
    if pooled_needed:
        fitted[POOLED] = fit_on(POOLED, train_f)

    val_scores = np.zeros(len(val_f))
    candidates: dict[str, np.ndarray] = {"scorecard": np.zeros(len(val_f)), "lgbm": np.zeros(len(val_f))}
    for segment in SEGMENTS:
        info = segments[segment]
        models = fitted[info["trained_on"]]
        mask = (val_f["credit_segment"] == segment).to_numpy()
        rows = val_f[mask]
        y = rows["label"].to_numpy()
        p_card = models["scorecard"].predict(rows, spec) if len(rows) else np.zeros(0)
        p_lgbm = models["lgbm"].predict(to_matrix(rows, spec)) if len(rows) else np.zeros(0)
        candidates["scorecard"][mask] = p_card
        candidates["lgbm"][mask] = p_lgbm
        info["scorecard"] = _candidate_reports(y, p_card)
        info["lgbm"] = _candidate_reports(y, p_lgbm)
        ks_card, ks_lgbm = info["scorecard"]["ks"], info["lgbm"]["ks"]
        info["champion"] = "lgbm" if ks_card is not None and ks_lgbm is not None and ks_lgbm > ks_card else "scorecard"
        chosen = p_lgbm if info["champion"] == "lgbm" else p_card
        val_scores[mask] = chosen
        info.update({k: info[info["champion"]][k] for k in ("users", "bads", "ks", "auc", "gini")})
        info["bad_rate"] = float(y.mean()) if len(y) else None

    cutoffs = grade_cutoffs(val_scores)
    y_val = val_f["label"].to_numpy()
    grades = assign_grades(val_scores, cutoffs)
    grade_rates = grade_table(y_val, grades)
    segment_ks = [s["ks"] for s in segments.values() if s["ks"] is not None]
    ks_mean = float(np.mean(segment_ks)) if segment_ks else 0.0

    selection = {s: {"trained_on": i["trained_on"], "champion": i["champion"]} for s, i in segments.items()}
    files["segments.json"] = dumps({"segments": selection, "grade_cutoffs": cutoffs, "grades": list(GRADES)})
    scorer = CreditScorer.from_files(files, spec, "candidate", settings.num_threads)
    stability = _stability(con, table, spec, scorer, cohorts)

    validation = val_f[["user_pseudonym", "month_start_date", "cohort_month", "credit_segment", "label"]].copy()
    validation["score"] = val_scores
    validation["grade"] = grades
    validation["score_scorecard"] = candidates["scorecard"]
    validation["score_lgbm"] = candidates["lgbm"]
    importance = {}
    for key, models in fitted.items():
        importance[key] = {
            "scorecard": pd.DataFrame([{"feature": v["name"], "iv": v["iv"], "coef": v["coef"]}
                                       for v in models["scorecard"].variables]),
            "lgbm": importance_table(models["lgbm"], to_matrix(val_f.head(5000), spec), top=10),
            "points": models["scorecard"].points_table(),
        }
    card = {"segments": segments, "grades": grade_rates, "calibration": metrics.calibration_curve(y_val, val_scores),
            "importance": importance, "stability": stability}
    return TrainedModel(
        name=NAME,
        files=files,
        spec=spec,
        window={"train": [c.strftime("%Y-%m") for c in train_cohorts],
                "validation": [c.strftime("%Y-%m") for c in val_cohorts],
                "feature_months": months_json({"train": [add_months(c, 1) for c in train_cohorts],
                                               "validation": [add_months(c, 1) for c in val_cohorts]}),
                "rows": {"train": len(train_f), "validation": len(val_f)}},
        params=params,
        seed=settings.seed,
        metrics={"validation_cohorts": [c.strftime("%Y-%m") for c in val_cohorts], "ks_mean": ks_mean,
                 "segments": segments, "overall": _candidate_reports(y_val, val_scores),
                 "grade_cutoffs": cutoffs, "grades": grade_rates.to_dict(orient="records"),
                 "grades_monotone": grades_monotone(grade_rates),
                 "psi": {"score": stability["score"].to_dict(orient="records"),
                         "features_latest": stability["features_latest"].to_dict(orient="records")}},
        primary_metric="ks_mean",
        primary_value=ks_mean,
        validation=validation,
        card=card,
        champion_value=evaluate_champion(champion, val_f),
        as_of=as_of,
    )


def _stability(con: duckdb.DuckDBPyConnection, table: str, spec: FeatureSpec, scorer: CreditScorer,
               cohorts: list[dt.date]) -> dict[str, pd.DataFrame]:
    """PSI of the score and of each feature between consecutive cohorts (labelled or not), with bands."""
    months = [m for m in feature_months(con, base_table(con, table), complete_only=False)
              if m >= add_months(cohorts[0], 1)]
    frame = con.execute(
        f"select c.cohort_month, c.credit_segment, {select_list(spec)} from {for_months(con, table, months)} f "
        f"join ({CREDIT_COHORTS}) c using (user_pseudonym, month_start_date) "
        f"where c.cohort_month >= DATE '{cohorts[0].isoformat()}' order by c.cohort_month, f.user_pseudonym"
    ).df()
    frame["cohort_month"] = pd.to_datetime(frame["cohort_month"]).dt.date
    frame["score"] = scorer.predict(frame)
    months = sorted(frame["cohort_month"].unique())
    score_rows, feature_rows = [], []
    for prev, cur in itertools.pairwise(months):
        a, b = frame[frame["cohort_month"] == prev], frame[frame["cohort_month"] == cur]
        value = metrics.psi(a["score"], b["score"])
        band_counts = {"stable": 0, "moderate": 0, "significant": 0}
        for c in spec.columns:
            v = metrics.psi(a[c], b[c])
            band_counts[metrics.psi_band(v)] += 1
            if cur == months[-1]:
                feature_rows.append({"feature": c, "from": str(prev), "to": str(cur), "psi": v,
                                     "band": metrics.psi_band(v)})
        score_rows.append({"from": str(prev), "to": str(cur), "psi": value, "band": metrics.psi_band(value),
                           **{f"features_{k}": n for k, n in band_counts.items()}})
    features = pd.DataFrame(feature_rows, columns=["feature", "from", "to", "psi", "band"])
    features = features.sort_values(["psi", "feature"], ascending=[False, True]).reset_index(drop=True)
    return {"score": pd.DataFrame(score_rows), "features_latest": features}


class CreditScorer:
    """The credit models of one version: each segment's champion, and the grade cutoffs."""

    name = NAME

    def __init__(self, path: Path, version: str, num_threads: int):
        files = {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}
        spec = FeatureSpec.from_json((path / "features.json").read_text())
        self._init(files, spec, version, num_threads)

    @classmethod
    def from_files(cls, files: dict[str, bytes], spec: FeatureSpec, version: str, num_threads: int) -> CreditScorer:
        scorer = cls.__new__(cls)
        scorer._init(files, spec, version, num_threads)
        return scorer

    def _init(self, files: dict[str, bytes], spec: FeatureSpec, version: str, num_threads: int) -> None:
        self.version = version
        self.num_threads = num_threads
        self.spec = spec
        meta = json.loads(files["segments.json"])
        self.selection = meta["segments"]
        self.cutoffs = meta["grade_cutoffs"]
        self.models: dict[str, tuple[str, object]] = {}
        for segment, choice in self.selection.items():
            key = choice["trained_on"].lower()
            if choice["champion"] == "lgbm":
                self.models[segment] = ("lgbm", (load_booster(files[f"lgbm_{key}.txt"], num_threads),
                                                 ContributionTable.from_json(files[f"reasons_lgbm_{key}.json"])))
            else:
                self.models[segment] = ("scorecard", Scorecard.from_json(files[f"scorecard_{key}.json"].decode()))

    population_columns = ()
    population_sql = CREDIT_COHORTS  # who is scored, with their credit_segment

    @property
    def columns(self) -> list[str]:
        return list(self.spec.columns)

    def population(self, frame: pd.DataFrame) -> np.ndarray:
        return frame["credit_segment"].isin(list(self.selection)).to_numpy()

    def _segments(self, columns: Mapping[str, np.ndarray]):
        """(kind, model, rows) of each segment model with rows among `columns`' credit segments."""
        segments = np.asarray(columns["credit_segment"])
        for segment, (kind, model) in self.models.items():
            rows = np.flatnonzero(segments == segment)
            if len(rows):
                yield kind, model, rows

    def score_rows(self, x: np.ndarray, columns: Mapping[str, np.ndarray]) -> Scored:
        """P(bad) by each row's segment model (`columns["credit_segment"]`), and its grade."""
        scores = np.zeros(len(x))
        for kind, model, rows in self._segments(columns):
            if kind == "lgbm":
                scores[rows] = model[0].predict(x[rows], num_threads=self.num_threads)
            else:
                scores[rows] = model.predict_of(x[rows], self.spec)
        return Scored(scores, grade=assign_grades(scores, self.cutoffs))

    def explain_rows(self, x: np.ndarray, columns: Mapping[str, np.ndarray], scored: Scored) -> Reasons:
        """Each row's top reasons: SHAP dependence (LightGBM) or the scorecard's terms."""
        out = Reasons.empty(len(x), self.spec.columns)
        levels = self.spec.categorical
        for kind, model, rows in self._segments(columns):
            if kind == "lgbm":
                table = model[1]
                out.put(rows, Reasons.of(lambda chunk, t=table: t.lookup(chunk, levels), x[rows], self.spec.columns,
                                         threads=self.num_threads))
            else:
                index = np.array([self.spec.columns.index(n) for n in model.names], dtype="int32")
                out.put(rows, Reasons.of(lambda chunk, m=model: m.contributions_of(chunk, self.spec), x[rows],
                                         self.spec.columns, index, self.num_threads))
        return out

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.score_rows(as_array(to_matrix(frame, self.spec)), frame).score

    def evaluate(self, labelled: pd.DataFrame) -> float:
        """Mean KS over the segments (for champion/challenger)."""
        scores = self.predict(labelled)
        values = []
        for segment in SEGMENTS:
            mask = (labelled["credit_segment"] == segment).to_numpy()
            y = labelled["label"].to_numpy()[mask]
            if len(y) and y.min() != y.max():
                values.append(metrics.ks(y, scores[mask]))
        return float(np.mean(values)) if values else 0.0

    def score(self, frame: pd.DataFrame, reasons: bool = True) -> pd.DataFrame:
        x = as_array(to_matrix(frame, self.spec))
        scored = self.score_rows(x, frame)
        if reasons:
            scored.reasons = self.explain_rows(x, frame, scored)
        return scored.frame(frame.index)
