"""The label marts (spec section 6) against the generator's ground truth (section 7).

One session home: a small generated delivery (1,500 users, 8 history months, 2 daily batches), every batch
ingested in date order, then `vasmart build` of the label marts and everything upstream with a pseudonym key.
The marts identify users by pseudonym only, so the truth files' user_ids are joined through the same keyed
HMAC-SHA256 computed here. Checked: the populations and cohorts per month equal the truth files' users, and
the realised label rates agree with the true probabilities within sampling error on the observable months.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from vasmart_cli import run_vasmart

from vasmart.config import Settings

KEY = "vasmart-labels-test-key-3d8a41"
GENERATE = ["--users", "1500", "--months", "8", "--days", "2", "--end-date", "20260602", "--seed", "5"]
SELECT = "+path:models/marts/labels"
MARTS = ("fct_propensity_labels", "fct_content_labels", "fct_credit_labels")
MONTH_COLUMN = {"propensity": "population_month", "credit": "cohort_month", "content": "population_month"}
LABEL = {"propensity": "has_stable_newspaper_order", "credit": "is_bad"}
CATEGORIES = {"NEWS", "SPORTS", "FINANCE", "ENTERTAINMENT", "MUSIC", "GAMES", "LIFE", "EDUCATION"}
NOT_PUBLISHED = {"msisdn", "other_party", "imei", "imeisv", "customer_name", "cust_name", "content", "complaint_text",
            "user_id"}
TRUTH_NAME = re.compile(r"^(propensity|credit|content)_(\d{6})\.csv$")
# the months the generated set makes observable (end date 2026-06-02, month ends 2025-10 .. 2026-05)
OBSERVABLE = {
    "propensity": {"202510", "202511", "202512", "202601", "202602", "202603", "202604"},
    "credit": {"202509", "202510", "202511", "202512"},
}


def _raw(home: Path, interface: str) -> str:
    return (f"read_parquet('{home}/lake/raw/{interface}/batch_date=*/*.parquet', hive_partitioning = true, "
            "hive_types_autocast = false)")


def _pseudonym(user_id: str) -> str:
    return hmac.new(KEY.encode(), user_id.encode(), hashlib.sha256).hexdigest()



def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return run_vasmart(home, *args, key=KEY)


@dataclass
class Labels:
    """The session's home, its marts as DataFrames, the truth files and the timings."""

    home: Path
    marts: dict[str, pd.DataFrame]
    truth: dict[str, dict[str, pd.DataFrame]]
    manifest: dict
    run_results: dict
    columns: dict[str, list[tuple[str, str]]]
    seconds: dict[str, float]
    stable_orders: pd.DataFrame  # raw zone: (user_pseudonym, month M) of each stable newspaper order in M+1
    bad_bills: pd.DataFrame  # raw zone: (user_pseudonym, bill_month) of bills overdue >= 30, arrears >= 1000


@pytest.fixture(scope="session")
def labels(tmp_path_factory) -> Labels:
    from vasmart.ingest import ingest_batch

    home = tmp_path_factory.mktemp("marts_labels")
    seconds = {}
    started = time.perf_counter()
    gen = _cli(home, "generate", "--out", str(home), *GENERATE)
    assert gen.returncode == 0, gen.stderr[-3000:]
    seconds["generate"] = time.perf_counter() - started

    started = time.perf_counter()
    settings = Settings(home=home)
    for batch in sorted(p.name for p in (home / "landing").iterdir() if p.is_dir()):
        ingest_batch(settings, home / "landing", batch, f"test-{batch}")
    seconds["ingest"] = time.perf_counter() - started

    started = time.perf_counter()
    build = _cli(home, "build", "--select", SELECT)
    seconds["build"] = time.perf_counter() - started
    assert build.returncode == 0, build.stderr[-3000:] + build.stdout[-3000:]

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        marts = {m: con.execute(f"select * from marts.{m}").df() for m in MARTS}
        columns = {m: con.execute("select column_name, data_type from information_schema.columns "
                                  "where table_schema = 'marts' and table_name = ? order by ordinal_position",
                                  [m]).fetchall() for m in MARTS}
        # the label definitions recomputed from the raw zone, independently of the dbt models
        stable_orders = con.execute(f"""
            with services as (
                select service_code, product_line,
                       row_number() over (partition by service_code order by batch_date desc) as recency
                from {_raw(home, 'REF_SERVICE')}),
            o as (
                select user_id, service_code, action, op_time from {_raw(home, 'BOSS_VAS_ORDER')}
                where service_code in (select service_code from services
                                       where recency = 1 and product_line = 'MOBILE_NEWSPAPER'))
            select distinct cast(a.user_id as varchar) as user_id,
                   strftime(date_trunc('month', a.op_time) - interval 1 month, '%Y%m') as month
            from o as a
            where a.action = '1' and not exists (
                select 1 from o as c where c.action = '2' and c.user_id = a.user_id
                  and c.service_code = a.service_code and c.op_time >= a.op_time
                  and c.op_time <= a.op_time + interval 72 hours)""").df()
        bad_bills = con.execute(f"""
            select distinct cast(user_id as varchar) as user_id, bill_month from {_raw(home, 'BOSS_BILL')}
            where overdue_days >= 30 and arrears_fen >= 1000""").df()
    for kind, mart in zip(("propensity", "content", "credit"), MARTS, strict=True):
        df = marts[mart]
        df["month"] = pd.to_datetime(df[MONTH_COLUMN[kind]]).dt.strftime("%Y%m")
    truth: dict[str, dict[str, pd.DataFrame]] = {"propensity": {}, "credit": {}, "content": {}}
    for path in sorted((home / "truth").iterdir()):
        found = TRUTH_NAME.match(path.name)
        if found:
            df = pd.read_csv(path, dtype={"user_id": str})
            truth[found[1]][found[2]] = df.assign(user_pseudonym=df["user_id"].map(_pseudonym))
    target = home / "dbt" / "target"
    for raw in (stable_orders, bad_bills):
        raw["user_pseudonym"] = raw["user_id"].map(_pseudonym)
    return Labels(home, marts, truth, json.loads((target / "manifest.json").read_text()),
                  json.loads((target / "run_results.json").read_text()), columns, seconds, stable_orders, bad_bills)


def _mart(labels: Labels, kind: str) -> pd.DataFrame:
    return labels.marts[{"propensity": MARTS[0], "content": MARTS[1], "credit": MARTS[2]}[kind]]


def _population_problems(labels: Labels, kind: str) -> list[str]:
    mart = _mart(labels, kind)
    problems = []
    for month, df in sorted(labels.truth[kind].items()):
        truth = set(df["user_pseudonym"])
        mine = set(mart.loc[mart["month"] == month, "user_pseudonym"])
        print(f"{kind} {month}: truth {len(truth)} users, mart {len(mine)}")
        if truth != mine or not mine:
            problems.append(f"{kind} {month}: truth {len(truth)}, mart {len(mine)}, only in truth "
                            f"{len(truth - mine)}, only in mart {len(mine - truth)}")
    return problems


def _rate(name: str, p: pd.Series, y: pd.Series) -> tuple[bool, str]:
    n = len(p)
    rate, mean_p = float(y.mean()), float(p.mean())
    tol = 4 * math.sqrt(float((p * (1 - p)).sum())) / n
    return abs(rate - mean_p) <= tol, f"{name}: n={n} realised {rate:.4f}, mean p {mean_p:.4f}, tolerance {tol:.4f}"


def _rate_checks(labels: Labels, kind: str) -> list[tuple[bool, str]]:
    mart = _mart(labels, kind)
    joined = []
    for month, df in sorted(labels.truth[kind].items()):
        rows = mart[mart["month"] == month]
        if not rows["is_label_observable"].all():
            continue
        j = df.merge(rows[["user_pseudonym", LABEL[kind]]], on="user_pseudonym", how="inner", validate="1:1")
        assert len(j) == len(df), month
        joined.append((month, j["p"].astype(float), j[LABEL[kind]].astype(int)))
    checks = [_rate(m, p, y) for m, p, y in joined]
    checks.append(_rate("pooled", pd.concat([p for _, p, _ in joined]), pd.concat([y for _, _, y in joined])))
    return checks


# ------------------------------------------------------------------------------------------------ the build
def test_build_passes_with_the_label_unit_tests(labels):
    results = labels.run_results["results"]
    bad = [(r["unique_id"], r["status"], r["message"]) for r in results if r["status"] not in ("success", "pass")]
    assert not bad, bad
    unit = {r["unique_id"].rsplit(".", 1)[-1] for r in results if r["unique_id"].startswith("unit_test.")}
    for name in ("test_int_propensity_labels_cancel_within_72_hours", "test_int_propensity_labels_month_boundaries",
                 "test_int_propensity_labels_population", "test_int_content_labels_population_and_shares",
                 "test_int_credit_labels_thresholds_and_window",
                 "test_int_credit_labels_observable_once_j5_bills_are_delivered"):
        assert name in unit, name
    built = {r["unique_id"] for r in results}
    assert {f"model.vasmart.{m}" for m in MARTS} <= built
    print(f"\ngenerate {labels.seconds['generate']:.1f} s, ingest {labels.seconds['ingest']:.1f} s, "
          f"vasmart build --select {SELECT}: {labels.seconds['build']:.1f} s, {len(results)} nodes")


def test_marts_are_public_under_contract_and_documented(labels):
    for mart in MARTS:
        node = labels.manifest["nodes"][f"model.vasmart.{mart}"]
        assert node["access"] == "public" and node["config"]["contract"]["enforced"] is True, mart
        expected = "incremental" if mart == "fct_content_labels" else "table"  # content: by population month
        assert node["config"]["materialized"] == expected and node["schema"] == "marts", mart
        assert node["description"].strip(), mart
        actual = [c for c, _ in labels.columns[mart]]
        assert list(node["columns"]) == actual, mart
        assert all(c["description"].strip() and c["data_type"] for c in node["columns"].values()), mart


def test_marts_carry_pseudonyms_and_no_personal_data(labels):
    for mart in MARTS:
        assert not {c for c, _ in labels.columns[mart]} & NOT_PUBLISHED, mart
        pseudonyms = labels.marts[mart]["user_pseudonym"]
        assert pseudonyms.str.fullmatch(r"[0-9a-f]{64}").all(), mart


# ------------------------------------------------------------------------------------------------ propensity
def test_propensity_population_equals_truth(labels):
    problems = _population_problems(labels, "propensity")
    assert not problems, "\n".join(problems)
    assert set(labels.truth["propensity"]) <= set(_mart(labels, "propensity")["month"])


def test_propensity_observable_months_and_nulls(labels):
    mart = _mart(labels, "propensity")
    observable = set(mart.loc[mart["is_label_observable"], "month"])
    assert observable == OBSERVABLE["propensity"]
    pending = mart[~mart["is_label_observable"]]
    assert len(pending) and pending["has_stable_newspaper_order"].isna().all()
    # a stable order is an order
    seen = mart[mart["is_label_observable"]]
    assert not (seen["has_stable_newspaper_order"] & ~seen["has_newspaper_order"]).any()
    assert seen["first_stable_order_at"].notna().eq(seen["has_stable_newspaper_order"]).all()


def test_propensity_rate_matches_truth(labels):
    checks = _rate_checks(labels, "propensity")
    print("\n" + "\n".join(msg for _, msg in checks))
    assert len(checks) == len(OBSERVABLE["propensity"] & set(labels.truth["propensity"])) + 1
    assert all(ok for ok, _ in checks), "\n".join(msg for ok, msg in checks if not ok)


def test_propensity_labels_equal_the_definition_on_the_raw_zone(labels):
    mart = _mart(labels, "propensity")
    seen = mart[mart["is_label_observable"]]
    stable = set(zip(labels.stable_orders["user_pseudonym"], labels.stable_orders["month"], strict=True))
    expected = [(u, m) in stable for u, m in zip(seen["user_pseudonym"], seen["month"], strict=True)]
    assert seen["has_stable_newspaper_order"].tolist() == expected
    assert sum(expected) > 100


# ------------------------------------------------------------------------------------------------ credit
def test_credit_cohorts_equal_truth(labels):
    problems = _population_problems(labels, "credit")
    assert not problems, "\n".join(problems)
    mart = _mart(labels, "credit")
    assert set(labels.truth["credit"]) <= set(mart["month"])
    # every cohort member joined in its cohort month; the segment is is_rejoin x capital
    assert (pd.to_datetime(mart["join_date"]).dt.strftime("%Y%m") == mart["month"]).all()
    segment = (mart["is_rejoin"].map({True: "REJOIN", False: "NEW"}) + "_"
               + mart["is_capital"].map({True: "CAPITAL", False: "OTHER"}))
    assert (segment == mart["credit_segment"]).all()


def test_credit_observable_cohorts_and_nulls(labels):
    mart = _mart(labels, "credit")
    assert set(mart.loc[mart["is_label_observable"], "month"]) == OBSERVABLE["credit"]
    assert mart.loc[~mart["is_label_observable"], "is_bad"].isna().all()


def test_credit_bad_rate_matches_truth(labels):
    checks = _rate_checks(labels, "credit")
    print("\n" + "\n".join(msg for _, msg in checks))
    assert len(checks) >= 3
    assert all(ok for ok, _ in checks), "\n".join(msg for ok, msg in checks if not ok)


def _add_months(yyyymm: str, n: int) -> str:
    k = int(yyyymm[:4]) * 12 + int(yyyymm[4:]) - 1 + n
    return f"{k // 12:04d}{k % 12 + 1:02d}"


def test_credit_labels_equal_the_definition_on_the_raw_zone(labels):
    mart = _mart(labels, "credit")
    seen = mart[mart["is_label_observable"]]
    bad = set(zip(labels.bad_bills["user_pseudonym"], labels.bad_bills["bill_month"], strict=True))
    expected = [any((u, _add_months(j, k)) in bad for k in range(2, 6))
                for u, j in zip(seen["user_pseudonym"], seen["month"], strict=True)]
    assert seen["is_bad"].tolist() == expected
    assert 0 < sum(expected) < len(expected)


# ------------------------------------------------------------------------------------------------ content
def test_content_population_equals_truth(labels):
    problems = _population_problems(labels, "content")
    assert not problems, "\n".join(problems)
    assert set(labels.truth["content"]) <= set(_mart(labels, "content")["month"])


def test_content_shares_are_a_distribution_over_the_categories(labels):
    mart = _mart(labels, "content")
    per_user = mart.groupby(["user_pseudonym", "month"])
    assert (per_user["content_category"].agg(frozenset) == frozenset(CATEGORIES)).all()
    seen = mart[mart["is_label_observable"]]
    assert len(seen) and seen["category_share"].between(0, 1).all()
    sums = seen.groupby(["user_pseudonym", "month"])["category_share"].sum()
    assert ((sums - 1).abs() < 1e-9).all()
    assert mart.loc[~mart["is_label_observable"], "category_share"].isna().all()
    unused = mart[mart["is_outcome_month_delivered"] & ~mart["is_label_observable"]]
    assert (unused["total_use_count"] == 0).all()


def test_content_truth_predicts_the_realised_top_category(labels):
    """The true preference's top category is the realised top category far more often than chance (1/8)."""
    mart = _mart(labels, "content")
    seen = mart[mart["is_label_observable"]]
    realised = seen.pivot_table(index=["user_pseudonym", "month"], columns="content_category",
                                values="category_share")
    hits, n = 0, 0
    for month, df in labels.truth["content"].items():
        weights = df.assign(weight=df["weight"].astype(float)).pivot_table(
            index="user_pseudonym", columns="category", values="weight")
        mine = realised.xs(month, level="month") if month in realised.index.get_level_values("month") else None
        if mine is None:
            continue
        ids = weights.index.intersection(mine.index)
        cols = sorted(CATEGORIES)
        hits += int((weights.loc[ids, cols].to_numpy().argmax(1) == mine.loc[ids, cols].to_numpy().argmax(1)).sum())
        n += len(ids)
    print(f"\ncontent: {n} observable user-months, top-category hit rate {hits / n:.3f} (chance 0.125)")
    assert n > 1000 and hits / n > 0.25
