"""Unit tests of the model package on tiny frames: metrics against hand computations or sklearn, the feature
spec, reason codes, calibration, month windows, the scorecard against optbinning, grades and credit control."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from models_ml import metrics
from models_ml.credit import assign_grades, grade_table, grades_monotone, monotone_directions
from models_ml.credit_control import ENTER, EXIT, EXITED, IN_CONTROL, decide, first_counted_month
from models_ml.explain import (
    TIE_SHIFT,
    ContributionTable,
    as_array,
    fit_reasons,
    lgb_contributions,
    reason_codes,
    top_columns,
)
from models_ml.features import (
    FeatureSpec,
    arrow_column,
    arrow_matrix,
    infer_spec,
    is_excluded,
    sample_filter,
    select_list,
    stack_rows,
    to_matrix,
)
from models_ml.scorecard import Scorecard, binning_frame, fit_binning
from models_ml.training import TrainingError, apply_platt, fit_platt, logit, month_roles, rank_desc, sigmoid

# ----------------------------------------------------------------------------------------------- metrics


def test_auc_counts_ties_as_half():
    assert metrics.auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(3 / 4)
    assert metrics.auc([0, 0, 1, 1], [0.1, 0.4, 0.4, 0.8]) == pytest.approx(3.5 / 4)


def test_ks_and_gini_by_hand():
    # positives at 0.35 and 0.8, negatives at 0.1 and 0.4: the widest gap between the two CDFs is 1/2
    assert metrics.ks([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.5)
    assert metrics.gini([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.5)
    assert metrics.ks([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(1.0)


def test_pr_auc_and_brier_by_hand():
    # positives ranked 1st and 3rd: precision 1/1 and 2/3
    assert metrics.pr_auc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx((1 + 2 / 3) / 2)
    assert metrics.brier([0, 1], [0.2, 0.6]) == pytest.approx((0.04 + 0.16) / 2)


def test_metrics_agree_with_sklearn_on_random_data():
    rng = np.random.default_rng(3)
    y = rng.random(500) < 0.2
    s = rng.random(500) + 0.3 * y
    assert metrics.auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert metrics.pr_auc(y, s) == pytest.approx(average_precision_score(y, s))


def test_lift_shares_a_tie_at_the_cut():
    y = [1, 0, 0, 0, 1, 0, 0, 0, 0, 0]  # base rate 0.2
    clear = [0.9, 0.1, 0.2, 0.3, 0.4, 0.05, 0.06, 0.07, 0.08, 0.09]
    assert metrics.lift(y, clear, 0.1) == pytest.approx(1 / 0.2)
    tied = [0.9, 0.9, 0.2, 0.3, 0.4, 0.05, 0.06, 0.07, 0.08, 0.09]  # the top place is shared by a 1 and a 0
    assert metrics.lift(y, tied, 0.1) == pytest.approx(0.5 / 0.2)
    # a score that is constant ranks nobody: lift 1 everywhere
    assert metrics.lift(y, [0.5] * 10, 0.3) == pytest.approx(1.0)


def test_gains_table_adds_up():
    rng = np.random.default_rng(5)
    y = (rng.random(1003) < 0.1).astype(int)
    s = rng.random(1003) + y
    table = metrics.gains_table(y, s)
    assert list(table["decile"]) == list(range(1, 11))
    assert table["users"].sum() == pytest.approx(1003)
    assert table["positives"].sum() == pytest.approx(y.sum())
    assert table["cumulative_gain"].iloc[-1] == pytest.approx(1.0)
    assert table["cumulative_lift"].iloc[0] == pytest.approx(metrics.lift(y, s, 0.1))
    assert table["lift"].iloc[0] > table["lift"].iloc[-1]


def test_calibration_curve_by_hand():
    p = [0.1] * 5 + [0.9] * 5
    y = [0, 0, 0, 0, 1, 1, 1, 1, 1, 0]
    curve = metrics.calibration_curve(y, p, bins=2)
    assert curve["predicted"].tolist() == pytest.approx([0.1, 0.9])
    assert curve["observed"].tolist() == pytest.approx([0.2, 0.8])
    assert curve["users"].tolist() == [5, 5]


def test_ndcg_at_3_and_hit_at_1_by_hand():
    rel = np.array([[0.5, 0.3, 0.2, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0], [0.1, 0.1, 0.8, 0, 0, 0, 0, 0]])
    scores = np.array([[0.3, 0.5, 0.2, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7, 8], [0.5, 0.4, 0.1, 0, 0, 0, 0, 0]])
    ndcg = metrics.ndcg_at_k(rel, scores, 3)
    dcg = 0.3 + 0.5 / math.log2(3) + 0.2 / 2
    idcg = 0.5 + 0.3 / math.log2(3) + 0.2 / 2
    assert ndcg[0] == pytest.approx(dcg / idcg)
    assert np.isnan(ndcg[1])  # nothing used: no ideal ranking
    assert ndcg[2] == pytest.approx((0.1 + 0.1 / math.log2(3) + 0.8 / 2) / (0.8 + 0.1 / math.log2(3) + 0.1 / 2))
    hit = metrics.hit_at_1(rel, scores)
    assert hit[0] == 0 and np.isnan(hit[1]) and hit[2] == 0
    assert metrics.hit_at_1(rel[:1], rel[:1])[0] == 1
    assert metrics.ndcg_at_k(rel[:1], rel[:1], 3)[0] == pytest.approx(1.0)


def test_psi_by_hand_and_its_bands():
    expected = ["a"] * 50 + ["b"] * 50
    actual = ["a"] * 80 + ["b"] * 20
    assert metrics.psi(expected, actual) == pytest.approx(0.3 * math.log(0.8 / 0.5) + (-0.3) * math.log(0.2 / 0.5))
    base = np.arange(1000, dtype=float)
    assert metrics.psi(base, base) == pytest.approx(0.0)
    shifted = np.full(500, 995.0)  # everything in the top decile of the expected distribution
    eps = 1e-4
    want = 9 * (eps - 0.1) * math.log(eps / 0.1) + (1 - 0.1) * math.log(1 / 0.1)
    assert metrics.psi(base, shifted) == pytest.approx(want)
    assert [metrics.psi_band(v) for v in (0.0999, 0.10, 0.2499, 0.25)] == ["stable", "moderate", "moderate",
                                                                         "significant"]


# ----------------------------------------------------------------------------------------------- features


def _feature_table() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    rng = np.random.default_rng(1)
    n = 300
    frame = pd.DataFrame({
        "user_pseudonym": [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)],
        "month_start_date": [dt.date(2026, 1 + i % 2, 1) for i in range(n)],
        "is_month_complete": True,
        "has_mms": rng.random(n) < 0.5,
        "sms_mo": rng.integers(0, 100, n),
        "region_code": rng.choice(["0991", "0992", "0993"], n),
        "model_name": [f"model-{i}" for i in range(n)],
        "join_date": dt.date(2020, 1, 1),
        "has_stable_newspaper_order": False,
        "is_bad": False,
        "imei_id": 1,
    })
    con.register("frame", frame)
    con.execute("create schema marts; create table marts.customer_view as select * from frame")
    return con


def test_feature_spec_takes_numeric_boolean_and_low_cardinality_text_only():
    con = _feature_table()
    spec = infer_spec(con, "marts.customer_view", [dt.date(2026, 1, 1), dt.date(2026, 2, 1)], max_levels=50)
    assert spec.numeric == ("has_mms", "sms_mo")
    assert spec.categorical == {"region_code": ("0991", "0992", "0993")}  # model_name has 300 values
    assert FeatureSpec.from_json(spec.to_json()) == spec
    for name in ("user_pseudonym", "is_month_complete", "has_stable_newspaper_order", "is_bad", "imei_id",
                 "category_share", "month_start_date"):
        assert is_excluded(name), name
    assert not is_excluded("news_use_count")


def test_model_matrix_types_and_unknown_levels():
    spec = FeatureSpec(("has_mms", "sms_mo"), {"region_code": ("0991", "0992")})
    frame = pd.DataFrame({"has_mms": [True, False], "sms_mo": [3, None], "region_code": ["0992", "0999"]})
    x = to_matrix(frame, spec)
    assert x["has_mms"].tolist() == [1.0, 0.0]
    assert x["sms_mo"].dtype == np.float32 and np.isnan(x["sms_mo"].iloc[1])
    assert x["region_code"].cat.codes.tolist() == [1, -1]


def test_sampling_keeps_the_same_users_every_time():
    con = duckdb.connect()
    con.execute("create table u as select sha256(cast(range as varchar)) as user_pseudonym from range(4000)")
    kept = con.execute(f"select user_pseudonym from u where {sample_filter(0.25)} order by 1").fetchall()
    again = con.execute(f"select user_pseudonym from u where {sample_filter(0.25)} order by 1").fetchall()
    assert kept == again
    assert 850 < len(kept) < 1150
    assert sample_filter(1.0) == "true"


# ----------------------------------------------------------------------------------------------- training


def test_month_roles_never_mix_time():
    months = [dt.date(2026, m, 1) for m in range(1, 10)]
    roles = month_roles(months, ("early_stopping", "calibration", "validation"), max_train=4)
    assert roles["validation"] == [dt.date(2026, 9, 1)]
    assert roles["calibration"] == [dt.date(2026, 8, 1)]
    assert roles["early_stopping"] == [dt.date(2026, 7, 1)]
    assert roles["train"] == [dt.date(2026, m, 1) for m in range(3, 7)]
    with pytest.raises(TrainingError, match="need at least 4"):
        month_roles(months[:3], ("early_stopping", "calibration", "validation"))


def test_platt_scaling_recovers_a_known_distortion_and_keeps_the_order():
    rng = np.random.default_rng(11)
    raw = rng.uniform(0.01, 0.5, 200_000)
    truth = sigmoid(2.0 * logit(raw) - 1.0)
    y = rng.random(len(raw)) < truth
    params = fit_platt(raw, y)
    assert params["a"] == pytest.approx(2.0, abs=0.05)
    assert params["b"] == pytest.approx(-1.0, abs=0.08)
    calibrated = apply_platt(raw, params)
    assert np.array_equal(np.argsort(raw, kind="stable"), np.argsort(calibrated, kind="stable"))


def test_rank_is_a_total_order_with_ties_broken_by_key():
    ranks = rank_desc(np.array([0.5, 0.9, 0.5, 0.1]), np.array(["b", "x", "a", "c"]))
    assert ranks.tolist() == [3, 1, 2, 4]


def test_reason_codes_are_the_largest_positive_contributions():
    contrib = np.array([[0.5, -0.2, 0.1, 0.3], [-0.1, -0.2, -0.3, 0.001], [0.0, 2.0, 0.0, 0.0]])
    codes = reason_codes(contrib, ["a", "b", "c", 'd"q'])
    assert codes[0] == '["a:+0.50","d\\"q:+0.30","c:+0.10"]'
    assert json.loads(codes[0]) == ["a:+0.50", 'd"q:+0.30', "c:+0.10"]
    assert codes[1] == "[]"
    assert json.loads(codes[2]) == ["b:+2.00"]
    assert reason_codes(np.zeros((2, 0)), []) == ["[]", "[]"]


# ----------------------------------------------------------------------------------------------- credit


def _credit_data(n: int = 4000, seed: int = 2) -> tuple[pd.DataFrame, np.ndarray, FeatureSpec]:
    rng = np.random.default_rng(seed)
    late = rng.poisson(0.4, n).astype(float)
    balance = rng.lognormal(7, 0.7, n)
    balance[rng.random(n) < 0.05] = np.nan
    plan = rng.choice(["P1", "P2", "P3", "P4"], n)
    z = -2.2 + 0.9 * late - 0.0002 * np.nan_to_num(balance, nan=800) + np.where(plan == "P1", 0.8, 0.0)
    y = (rng.random(n) < sigmoid(z)).astype(int)
    frame = pd.DataFrame({"late_bills": late, "balance_fen": balance, "plan_code": plan,
                          "noise": rng.normal(size=n)})
    return frame, y, FeatureSpec(("late_bills", "balance_fen", "noise"), {"plan_code": ("P1", "P2", "P3", "P4")})


def test_scorecard_applies_optbinnings_bins_without_optbinning():
    frame, y, spec = _credit_data()
    card = Scorecard.fit(frame, y, spec, seed=1)
    assert {"late_bills", "plan_code"} <= set(card.names)
    data = binning_frame(frame, spec)
    process = fit_binning(data, y, spec)
    test = frame.head(300).copy()
    test.loc[test.index[:3], "plan_code"] = None  # missing values take the missing bin's WOE
    woe = process.transform(binning_frame(test, spec)[card.names], metric="woe", metric_missing="empirical")
    x = to_matrix(test, spec)
    for variable in card.variables:
        assert np.allclose(Scorecard.woe_of(variable, x[variable["name"]]), woe[variable["name"]].to_numpy()), \
            variable["name"]
    restored = Scorecard.from_json(card.to_json())
    assert np.allclose(restored.predict(frame, spec), card.predict(frame, spec))
    p = card.predict(frame, spec)
    assert metrics.auc(y, p) > 0.7
    # the contributions are the terms of the log-odds around their training means
    centred = logit(p) - card.intercept - sum(v["coef"] * v["mean_woe"] for v in card.variables)
    assert np.allclose(card.contributions(frame, spec).sum(axis=1), centred, atol=1e-6)


def test_scorecard_points_fall_as_the_risk_term_rises():
    frame, y, spec = _credit_data()
    card = Scorecard.fit(frame, y, spec, seed=1)
    table = card.points_table()
    for variable in card.variables:
        rows = table[table["variable"] == variable["name"]]
        risk = variable["coef"] * rows["woe"].to_numpy()
        assert np.all(np.diff(rows["points"].to_numpy()[np.argsort(risk)]) <= 0.05), variable["name"]


def test_scorecard_leaves_out_features_without_two_known_values():
    """A cohort can lack a column entirely (no voice detail yet) or hold one value: nothing to bin there."""
    frame, y, spec = _credit_data()
    frame = frame.assign(empty=np.nan, constant=1.0)
    wider = FeatureSpec((*spec.numeric, "empty", "constant"), spec.categorical)
    card = Scorecard.fit(frame, y, wider, seed=1)
    names = {v["name"] for v in card.variables}
    assert "late_bills" in names and not names & {"empty", "constant"}
    assert np.allclose(card.predict(frame, wider), Scorecard.fit(frame, y, spec, seed=1).predict(frame, spec))
    nothing = Scorecard.fit(frame, y, FeatureSpec(("empty",), {}), seed=1)
    assert nothing.variables == [] and np.allclose(nothing.predict(frame, FeatureSpec(("empty",), {})), y.mean())


def test_monotone_directions_follow_the_correlation_with_bad():
    frame, y, spec = _credit_data()
    directions = dict(zip(spec.columns, monotone_directions(frame, y, spec), strict=True))
    assert directions["late_bills"] == 1 and directions["balance_fen"] == -1 and directions["plan_code"] == 0


def test_grades_from_cutoffs_and_the_monotone_check():
    cutoffs = [0.1, 0.2, 0.3, 0.4]
    assert assign_grades(np.array([0.05, 0.1, 0.25, 0.39, 0.45]), cutoffs).tolist() == ["A", "B", "C", "D", "E"]
    grades = np.array(list("AABBCCDDEE"))
    rising = grade_table(np.array([0, 0, 0, 1, 0, 1, 1, 1, 1, 1]), grades)
    assert rising["bad_rate"].tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert not grades_monotone(rising)  # equal neighbours are not strictly increasing
    strictly = grade_table(np.array([0] * 10 + [1] + [0] * 9 + [1] * 3 + [0] * 7 + [1] * 6 + [0] * 4 + [1] * 9 + [0]),
                           np.repeat(list("ABCDE"), 10))
    assert grades_monotone(strictly)


def test_credit_control_entries_and_exits():
    d = dt.date
    m = [d(2026, k, 1) for k in range(1, 8)]
    grades = pd.DataFrame({"user_pseudonym": ["u1", "u4", "u5", "u6", "c1"],
                           "grade": ["E", "B", "E", "D", "D"],
                           "graded_on": [d(2026, 5, 20), d(2026, 5, 20), d(2026, 3, 31), d(2026, 5, 20),
                                         d(2026, 5, 20)]})
    state = pd.DataFrame({"user_pseudonym": ["c1", "c2", "c3", "c4", "u5", "u6"],
                          "under_control": [True, True, True, True, False, False],
                          "since": [d(2026, 1, 31), d(2026, 2, 10), d(2026, 3, 15), d(2026, 3, 15),
                                    d(2026, 4, 1), d(2026, 4, 1)]})
    on_time = {"c1": m[1:5], "c2": m[1:4], "c3": m[2:4], "c4": m[0:5]}
    rows = [(u, month, True) for u, months in on_time.items() for month in months]
    rows += [("c2", m[4], False)]  # c2 paid May late
    payments = pd.DataFrame(rows, columns=["user_pseudonym", "month_start_date", "paid_on_time"])
    out = decide(grades, state, payments, exit_after_months=3, last_bill_month=m[4]).set_index("user_pseudonym")
    assert "u4" not in out.index  # grade B never enters
    assert "u5" not in out.index  # released, and graded D/E again only before the release: stays out
    assert out.loc["u1", "action"] == ENTER and out.loc["u1", "entered_on"] == d(2026, 5, 20)
    assert out.loc["u6", "action"] == ENTER  # released, then a newer grade E: back under control
    # entered on January's last day: February to May paid on time
    assert out.loc["c1", "action"] == EXIT and out.loc["c1", "months_paid_on_time"] == 4
    assert out.loc["c1", "status"] == EXITED
    assert out.loc["c2", "action"] is None and out.loc["c2", "months_paid_on_time"] == 0  # the late May
    assert out.loc["c3", "status"] == IN_CONTROL and out.loc["c3", "months_paid_on_time"] == 0  # no May bill
    # entered mid-March: January and February do not count, March to May do
    assert out.loc["c4", "months_paid_on_time"] == 3 and out.loc["c4", "action"] == EXIT
    stricter = decide(grades, state, payments, exit_after_months=4, last_bill_month=m[4]).set_index("user_pseudonym")
    assert stricter.loc["c4", "status"] == IN_CONTROL and stricter.loc["c1", "status"] == EXITED
    assert first_counted_month(d(2026, 2, 28)) == m[2] and first_counted_month(d(2026, 2, 27)) == m[1]
    with pytest.raises(ValueError):
        decide(grades, state, payments, exit_after_months=0, last_bill_month=m[4])
    # before the first bill: D/E grades enter, no one leaves
    unbilled = decide(grades, state, payments.iloc[0:0], exit_after_months=3, last_bill_month=None)
    unbilled = unbilled.set_index("user_pseudonym")
    assert unbilled.loc["u1", "action"] == ENTER and unbilled.loc["u6", "action"] == ENTER
    assert (unbilled["action"] != EXIT).all() and (unbilled.loc[["c1", "c4"], "status"] == IN_CONTROL).all()
    assert (unbilled["months_paid_on_time"] == 0).all()


def test_settings_from_the_environment(monkeypatch, tmp_path):
    from models_ml.config import ModelSettings
    from vasmart.config import Settings

    monkeypatch.delenv("VASMART_FEATURES_TABLE", raising=False)
    monkeypatch.delenv("VASMART_CREDIT_EXIT_MONTHS", raising=False)
    default = ModelSettings.from_env(Settings(home=tmp_path))
    assert (default.features_table, default.credit_exit_months) == ("marts.customer_view", 3)
    monkeypatch.setenv("VASMART_FEATURES_TABLE", "scratch.features")
    monkeypatch.setenv("VASMART_CREDIT_EXIT_MONTHS", "5")
    chosen = ModelSettings.from_env(Settings(home=tmp_path), seed=9)
    assert (chosen.features_table, chosen.credit_exit_months, chosen.seed) == ("scratch.features", 5, 9)
    assert ModelSettings.from_env(Settings(home=tmp_path), features_table="marts.x").features_table == "marts.x"
    monkeypatch.setenv("VASMART_CREDIT_EXIT_MONTHS", "0")
    with pytest.raises(ValueError, match="VASMART_CREDIT_EXIT_MONTHS"):
        ModelSettings.from_env(Settings(home=tmp_path))


def _additive_model():
    import lightgbm as lgb

    rng = np.random.default_rng(4)
    n = 6000
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.uniform(0, 10, n), "c": rng.choice(["x", "y", "z"], n)})
    frame.loc[frame.index[:300], "a"] = np.nan
    z = 1.5 * np.nan_to_num(frame["a"], nan=-1) + 0.3 * frame["b"] - np.where(frame["c"] == "z", 2.0, 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-(z - 1.5)))).astype(int)
    spec = FeatureSpec(("a", "b"), {"c": ("x", "y", "z")})
    x = to_matrix(frame, spec)
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": 1, "deterministic": True,
              "force_row_wise": True, "num_leaves": 7}
    booster = lgb.train(params, lgb.Dataset(x, y, categorical_feature=["c"]), 80)
    return booster, x, spec


def test_predictions_from_the_float_array_equal_those_from_the_frame():
    booster, x, _ = _additive_model()
    assert np.array_equal(booster.predict(x), booster.predict(as_array(x)))


def test_shap_dependence_lookup_follows_exact_shap_for_an_additive_model():
    booster, x, spec = _additive_model()
    table, agreement = fit_reasons(booster, x, spec, rows=4000)
    exact = lgb_contributions(booster, x.iloc[4000:])
    looked_up = ContributionTable.from_json(table.to_json()).contributions(x.iloc[4000:])
    for j, name in enumerate(spec.columns):
        assert np.corrcoef(exact[:, j], looked_up[:, j])[0, 1] > 0.95, name
    assert agreement > 0.9
    # a level never seen, and a missing value, are looked up without error (neutral / the missing mean)
    odd = to_matrix(pd.DataFrame({"a": [np.nan], "b": [5.0], "c": [None]}), spec)
    assert np.isfinite(table.contributions(odd)).all()


def test_top_columns_match_a_full_sort():
    rng = np.random.default_rng(8)
    values = rng.integers(0, 5, (500, 12)).astype(float)  # many ties
    assert np.array_equal(top_columns(values, 3), np.argsort(-values, axis=1, kind="stable")[:, :3])


def test_shap_dependence_of_a_column_without_any_value_in_the_measured_rows():
    """A feature that is empty in every measured row (a cohort without the month's detail) gets its missing
    value's mean contribution and no bins, instead of failing the training run."""
    booster, x, spec = _additive_model()
    empty = x.copy()
    empty["a"] = np.nan
    table = ContributionTable.fit(booster, empty, spec)
    feature = next(f for f in table.features if f["name"] == "a")
    assert feature["edges"] == [] and len(feature["values"]) == 1
    assert feature["missing"] == pytest.approx(float(lgb_contributions(booster, empty)[:, 0].mean()))


# ------------------------------------------------------------------- scoring from arrays, against references


def _reference_reason_codes(contributions: np.ndarray, names: list[str], k: int = 3) -> list[str]:
    """Reason codes row by row: a stable sort of each row (ties within the tie shift: lower column first)."""
    codes = []
    for row in contributions:
        keyed = row - np.arange(len(row)) * TIE_SHIFT if k < len(row) else row
        order = sorted(range(len(row)), key=lambda j: -keyed[j])[:k]
        parts = [f'"{json.dumps(names[j])[1:-1]}:+{row[j]:.2f}"' for j in order if row[j] >= 0.005]
        codes.append("[" + ",".join(parts) + "]")
    return codes


def test_reason_codes_match_a_row_by_row_reference():
    rng = np.random.default_rng(11)
    names = [f"f{j}" for j in range(9)] + ['q"uote', "it's"]
    values = np.round(rng.normal(0.05, 0.3, (3000, len(names))), 3)  # rounded: many ties
    values[:50] = 0.0
    values[50:100, 4] = 0.005  # the threshold itself is a reason
    values[100:150] = rng.choice([0.004999, 0.125, 0.135, 2.675], (50, len(names)))  # rounding at the half
    assert reason_codes(values, names) == _reference_reason_codes(values, names)
    # fewer columns than reasons: every positive column, largest first
    few = values[:, :2]
    assert reason_codes(few, names[:2]) == _reference_reason_codes(few, names[:2])


def _reference_lookup(table: ContributionTable, matrix: pd.DataFrame) -> np.ndarray:
    """Each feature's contribution looked up value by value, from the table's JSON."""
    out = np.zeros((len(matrix), len(table.features)))
    for j, feature in enumerate(table.features):
        for i, value in enumerate(matrix[feature["name"]]):
            if "levels" in feature:
                out[i, j] = feature["missing"] if pd.isna(value) else feature["levels"].get(str(value), 0.0)
            elif np.isnan(value):
                out[i, j] = feature["missing"]
            else:
                bin_ = int(np.searchsorted(feature["edges"], float(value), side="right"))
                out[i, j] = feature["values"][min(bin_, len(feature["values"]) - 1)]
    return out


def test_contribution_lookup_of_the_float_array_matches_a_value_by_value_reference():
    booster, x, spec = _additive_model()
    table, _ = fit_reasons(booster, x, spec, rows=4000)
    rows = x.iloc[4000:4600].copy()
    rows.loc[rows.index[:20], "c"] = None  # missing level
    expected = _reference_lookup(table, rows)
    assert np.array_equal(table.contributions(rows), expected)
    assert np.array_equal(table.lookup(as_array(rows), spec.categorical), expected)


def test_arrow_matrix_equals_the_frame_matrix():
    frame = pd.DataFrame({"a": [1.5, None, 3.0, 2.0], "flag": [True, False, None, True],
                          "c": ["x", None, "w", "z"], "d": ["p", "p", None, "q"]})
    spec = FeatureSpec(("a", "flag"), {"c": ("x", "y", "z"), "d": ("p", "q")})  # "w" is not a level
    with duckdb.connect() as con:
        con.register("frame", frame)
        sql = f"select {select_list(spec)} from frame f"
        from_frame = as_array(to_matrix(con.execute(sql).df(), spec))
        table = con.execute(sql).to_arrow_table()
    from_arrow = arrow_matrix(table, spec)
    assert from_arrow.dtype == np.float32 and from_arrow.flags.c_contiguous
    assert np.array_equal(from_arrow, from_frame, equal_nan=True)
    assert np.isnan(from_arrow[2, 2]) and np.isnan(from_arrow[1, 2])
    # some rows, in blocks smaller than the rows
    columns = [arrow_column(table[n]) for n in spec.numeric]
    columns += [arrow_column(table[n], levels) for n, levels in spec.categorical.items()]
    rows = np.array([3, 0, 2])
    assert np.array_equal(stack_rows(columns, rows, block_rows=2), from_frame[rows], equal_nan=True)


def test_scorecard_terms_of_the_float_array_match_those_of_the_frame():
    frame, y, spec = _credit_data()
    card = Scorecard.fit(frame, y, spec, seed=1)
    test = frame.head(500).copy()
    test.loc[test.index[:5], "plan_code"] = None
    test.loc[test.index[5:10], "balance_fen"] = np.nan
    x = to_matrix(test, spec)
    terms = np.column_stack([v["coef"] * (Scorecard.woe_of(v, x[v["name"]]) - v["mean_woe"]) for v in card.variables])
    z = np.full(len(test), card.intercept)
    for v in card.variables:
        z += v["coef"] * Scorecard.woe_of(v, x[v["name"]])
    assert np.array_equal(card.contributions_of(as_array(x), spec), terms)
    assert np.array_equal(card.predict_of(as_array(x), spec), 1.0 / (1.0 + np.exp(-z)))
