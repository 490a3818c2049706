"""`vasmart campaigns`, `vasmart export` and `vasmart campaign-report` on a copy of the shared scored home.

The lists read the marts the build made and the scores of the models trained on them (`model_homes.scored_home`:
`vasmart train`, then `vasmart score` of batch 20261120 and the credit grades of earlier month ends). Every
check recomputes what it needs from the raw zone (the Parquet lake), not from the models: who is
do-not-disturb, who holds which number, status, holdings, bills, plans, usage.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import sqlite3
import uuid
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import duckdb
import pandas as pd
import psycopg
import pytest
import yaml
from model_homes import TrainedHome, copy_of_trained_home, scored_home
from openpyxl import load_workbook
from pipeline_home import BuiltHome
from vasmart_cli import run_vasmart

from vasmart.campaigns.config import DEFINITIONS_DIR
from vasmart.campaigns.suppression import prior_contacts
from vasmart.warehouse import CAMPAIGN_DDL

RUN_DATE = dt.date(2026, 11, 20)
CONTACTING = ("arrears_collection", "mms_recapture", "handset_recommendation", "gprs_migration",
              "newspaper_acquisition")


def _raw(home: Path, interface: str) -> str:
    return (f"read_parquet('{home}/lake/raw/{interface}/batch_date=*/*.parquet', hive_partitioning = true, "
            "hive_types_autocast = false)")


def _pseudonym(key: str, value: object) -> str:
    return hmac.new(key.encode(), str(value).encode(), hashlib.sha256).hexdigest()


def _cli(built: BuiltHome, *args: str, env: dict | None = None):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VASMART_CAMPAIGN_DB")}
    with mock.patch.dict(os.environ, {**clean, **(env or {})}, clear=True):
        return run_vasmart(built.home, *args, key=built.key)


def _prepared(scored: TrainedHome, dest: Path) -> BuiltHome:
    """A private copy of the scored home."""
    return copy_of_trained_home(scored, dest).built


@pytest.fixture(scope="module")
def scored(tmp_path_factory, pipeline) -> TrainedHome:
    return scored_home(tmp_path_factory, pipeline)


def _definitions(tmp: Path, change) -> Path:
    """The reviewed definitions, each passed through `change(data)`, in a directory of their own."""
    tmp.mkdir(parents=True, exist_ok=True)
    for path in DEFINITIONS_DIR.glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        change(data)
        (tmp / path.name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return tmp


@pytest.fixture(scope="module")
def raw(pipeline) -> SimpleNamespace:
    """Facts from the raw zone, by pseudonym: the latest snapshot of every user, numbers held, bills."""
    home, key = pipeline.home, pipeline.key
    with duckdb.connect() as con:
        users = con.execute(f"""
            select user_id, arg_max(msisdn, batch_date) as msisdn, arg_max(status, batch_date) as status,
                   arg_max(dnd_flag, batch_date) as dnd_flag, arg_max(plan_code, batch_date) as plan_code
            from {_raw(home, 'BOSS_USER')} group by user_id
        """).df()
        holdings = con.execute(f"""
            select o.user_id, o.service_code, s.product_line
            from {_raw(home, 'BOSS_VAS_ORDER')} o
            join (select service_code, arg_max(product_line, batch_date) as product_line
                  from {_raw(home, 'REF_SERVICE')} group by 1) s using (service_code)
            group by all having sum(case o.action when '1' then 1 else -1 end) > 0
        """).df()
        bills = con.execute(f"select * from {_raw(home, 'BOSS_BILL')}").df()
        plans = con.execute(f"""select plan_code, arg_max(brand_code, batch_date) as brand_code,
                                arg_max(gprs_quota_mb, batch_date)::int as quota from {_raw(home, 'REF_PLAN')} group by 1""").df()
        usage = con.execute(f"select user_id, stat_month, gprs_kb from {_raw(home, 'BASS_USAGE')}").df()
    users["user_pseudonym"] = [_pseudonym(key, u) for u in users["user_id"]]
    holdings["user_pseudonym"] = holdings["user_id"].map(dict(zip(users["user_id"], users["user_pseudonym"])))
    dnd = users[users["dnd_flag"] == 1]
    # numbers are recycled: a do-not-disturb user's number is theirs only while they hold it
    held_now = dnd[dnd["status"] != "CANCELLED"]
    return SimpleNamespace(
        users=users.set_index("user_pseudonym"), holdings=holdings, bills=bills, plans=plans, usage=usage,
        dnd=set(dnd["user_pseudonym"]), dnd_numbers=set(held_now["msisdn"]),
    )


@pytest.fixture(scope="module")
def run(scored, tmp_path_factory) -> SimpleNamespace:
    """Every reviewed campaign run once (SQLite write-back), each list exported as CSV, reports written."""
    built = _prepared(scored, tmp_path_factory.mktemp("campaigns") / "home")
    result = _cli(built, "campaigns")
    assert result.returncode == 0, result.stderr
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        lists = con.execute("select * from campaigns.target_list").df()
        runs = con.execute("select * from campaigns.campaign_run").df()
        funnel = con.execute("select * from campaigns.suppression_count order by campaign, step_order").df()
    exports = {}
    for campaign in sorted(set(lists["campaign"])):
        exported = _cli(built, "export", "--campaign", campaign, "--format", "csv", "--include-holdout")
        assert exported.returncode == 0, exported.stderr
        exports[campaign] = built.home / "exports" / campaign / f"{campaign}_{RUN_DATE:%Y%m%d}.csv"
    report = _cli(built, "campaign-report")
    assert report.returncode == 0, report.stderr
    with sqlite3.connect(built.home / "campaign.db") as db:
        written = pd.read_sql('select * from target_list', db)
    return SimpleNamespace(built=built, stdout=result.stdout, lists=lists, runs=runs, funnel=funnel,
                           exports=exports, written=written, report=report.stdout)


# ------------------------------------------------------------------------------------------------ do not disturb
def test_no_do_not_disturb_user_in_any_list_write_back_or_export(run, raw):
    assert raw.dnd, "the generated population has do-not-disturb users"
    assert not set(run.lists["user_pseudonym"]) & raw.dnd
    assert not set(run.written["user_pseudonym"]) & raw.dnd
    for path in run.exports.values():
        exported = pd.read_csv(path, dtype={"msisdn": str})
        assert not set(exported["user_pseudonym"]) & raw.dnd
        assert not set(exported["msisdn"]) & raw.dnd_numbers


def test_no_do_not_disturb_user_even_when_the_configuration_would_include_them(scored, tmp_path, raw):
    """Definitions as permissive as the schema allows: every status, no credit suppression, no holdout,
    no top N, a contact cap no one reaches. Do-not-disturb users are eligible, and still never leave."""
    def permissive(data):
        data["statuses"] = ["NORMAL", "SUSPENDED"]
        if data["purpose"] == "promotion":
            data["purpose"] = "service"
        data.get("target", {}).pop("top_n", None)
        data["holdout"] = {"share": 0.0}
        if data["purpose"] != "control":
            data["contact_cap"] = {"max_contacts": 1000, "window_days": 1}
    definitions = _definitions(tmp_path / "definitions", permissive)
    built = _prepared(scored, tmp_path / "home")
    schema = f"dnd_{uuid.uuid4().hex[:10]}"
    url = os.environ.get("VASMART_TEST_PG_URL")
    if not url:
        pytest.fail("VASMART_TEST_PG_URL is not set: start the server with .ci/postgres (make test does)")
    env = {"VASMART_CAMPAIGN_DB_URL": url, "VASMART_CAMPAIGN_DB_SCHEMA": schema}
    try:
        result = _cli(built, "campaigns", "--definitions", str(definitions), env=env)
        assert result.returncode == 0, result.stderr
        with duckdb.connect(str(built.warehouse), read_only=True) as con:
            removed = con.execute("select sum(removed_count) from campaigns.suppression_count "
                                  "where step = 'do_not_disturb'").fetchone()[0]
            lists = con.execute("select user_pseudonym from campaigns.target_list").df()
        assert removed > 100  # the configuration would have listed them
        assert len(lists) > 3000 and not set(lists["user_pseudonym"]) & raw.dnd
        with psycopg.connect(url) as conn:
            written = [r[0] for r in conn.execute(f'select user_pseudonym from "{schema}".target_list')]
        assert len(written) == len(lists) and not set(written) & raw.dnd
        for campaign in ("newspaper_acquisition", "arrears_collection"):
            out = tmp_path / "exports"
            exported = _cli(built, "export", "--campaign", campaign, "--format", "parquet", "--include-holdout",
                            "--out", str(out), env=env)
            assert exported.returncode == 0, exported.stderr
            frame = pd.read_parquet(out / f"{campaign}_{RUN_DATE:%Y%m%d}.parquet")
            assert len(frame) > 0 and not set(frame["user_pseudonym"]) & raw.dnd
            assert not set(frame["msisdn"]) & raw.dnd_numbers
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'drop schema if exists "{schema}" cascade')


# ------------------------------------------------------------------------------------------------ lists
def test_every_campaign_ran_and_its_funnel_adds_up(run):
    assert set(run.runs["campaign"]) == set(CONTACTING) | {"credit_control"}
    for campaign, steps in run.funnel.groupby("campaign"):
        remaining = steps["remaining_count"].tolist()
        removed = steps["removed_count"].tolist()
        assert steps["step"].iloc[0] == "eligible" and removed[0] == 0
        for i in range(1, len(steps)):
            assert remaining[i] == remaining[i - 1] - removed[i], campaign
        rows = run.lists[run.lists["campaign"] == campaign]
        assert remaining[-1] == (rows["group"] == "TARGET").sum()
        assert remaining[-2] == len(rows)
        assert f"{campaign} {RUN_DATE}" in run.stdout
    sizes = run.lists.groupby("campaign").size()
    assert sizes["newspaper_acquisition"] == 2000 and sizes["gprs_migration"] == 1500
    assert sizes["arrears_collection"] > 100 and sizes["credit_control"] > 20 and sizes["handset_recommendation"] > 20


def test_lists_hold_only_users_who_may_be_contacted(run, raw):
    users = raw.users.reindex(run.lists["user_pseudonym"])
    users.index = run.lists.index
    assert (users["status"] != "CANCELLED").all()
    promotions = run.lists["campaign"].isin(["newspaper_acquisition", "handset_recommendation", "gprs_migration",
                                             "mms_recapture"])
    assert (users.loc[promotions, "status"] == "NORMAL").all()
    with duckdb.connect(str(run.built.warehouse), read_only=True) as con:
        risky = {r[0] for r in con.execute("select user_pseudonym from marts.fct_model_scores "
                                           "where model_name = 'credit' and grade in ('D', 'E')").fetchall()}
    assert not set(run.lists.loc[promotions, "user_pseudonym"]) & risky
    readers = set(raw.holdings.loc[raw.holdings["product_line"] == "MOBILE_NEWSPAPER", "user_pseudonym"])
    newspaper = run.lists[run.lists["campaign"] == "newspaper_acquisition"]
    assert not set(newspaper["user_pseudonym"]) & readers
    # contact cap: at most two contacts per user across the campaigns that contact
    contacts = run.lists[run.lists["campaign"].isin(CONTACTING) & (run.lists["group"] == "TARGET")]
    assert contacts.groupby("user_pseudonym").size().max() <= 2


def test_holdout_share_and_holdout_never_in_a_target_list(run):
    for (campaign, _), rows in run.lists.groupby(["campaign", "run_date"]):
        share = run.runs.set_index("campaign").loc[campaign, "holdout_share"]
        held = (rows["group"] == "HOLDOUT").sum()
        assert held == round(share * len(rows)), campaign
        if len(rows) >= 100:
            assert abs(held / len(rows) - share) <= 0.01
    for campaign, rows in run.written.groupby("campaign"):
        held = set(rows.loc[rows["group"] == "HOLDOUT", "user_pseudonym"])
        assert not held & set(rows.loc[rows["group"] == "TARGET", "user_pseudonym"]), campaign
    warehouse = run.lists[["campaign", "user_pseudonym", "group"]].sort_values(["campaign", "user_pseudonym"])
    written = run.written[["campaign", "user_pseudonym", "group"]].sort_values(["campaign", "user_pseudonym"])
    assert warehouse.reset_index(drop=True).equals(written.reset_index(drop=True))


def test_offers_follow_the_rules(run, raw):
    lists = run.lists
    newspaper = lists[lists["campaign"] == "newspaper_acquisition"]
    editions = set(raw.holdings.loc[raw.holdings["product_line"] == "MOBILE_NEWSPAPER", "service_code"])
    assert set(newspaper["offer"]) <= editions and (newspaper["channel"] == "MMS").all()
    assert newspaper["score"].is_monotonic_decreasing and newspaper["rank"].tolist() == list(range(1, 2001))
    # GPRS: the next tier of the plan held at October's end, for October data use 5 MB beyond its quota
    gprs = lists[lists["campaign"] == "gprs_migration"]
    plans = raw.plans.set_index("plan_code")
    october = raw.usage[raw.usage["stat_month"].astype(str) == "202610"].set_index("user_id")["gprs_kb"]
    for pseudonym, offer, score in zip(gprs["user_pseudonym"], gprs["offer"], gprs["score"], strict=True):
        user = raw.users.loc[pseudonym]
        quota = plans.loc[user["plan_code"], "quota"]
        assert plans.loc[offer, "brand_code"] == plans.loc[user["plan_code"], "brand_code"]
        assert plans.loc[offer, "quota"] > quota
        used = int(october[user["user_id"]]) / 1024
        assert score == pytest.approx(used if quota == 0 else used - quota)
        assert score >= 5.0
    # arrears: October's bill, past due, the largest amounts first
    arrears = lists[lists["campaign"] == "arrears_collection"]
    bills = raw.bills[raw.bills["bill_month"].astype(str) == "202610"].set_index("user_id")
    for pseudonym, score in zip(arrears["user_pseudonym"], arrears["score"], strict=True):
        bill = bills.loc[raw.users.loc[pseudonym, "user_id"]]
        assert int(bill["arrears_fen"]) >= 1000 and int(bill["overdue_days"]) >= 1
        assert score == pytest.approx(int(bill["arrears_fen"]) / 100)
    assert arrears.sort_values("rank")["score"].is_monotonic_decreasing
    assert (lists.loc[lists["campaign"] == "credit_control", "channel"] == "OCS").all()


def test_rerun_replaces_the_list_identically_and_other_dates_are_refused(run):
    before = run.lists[run.lists["campaign"] == "newspaper_acquisition"].sort_values("rank").reset_index(drop=True)
    again = _cli(run.built, "campaigns", "--campaign", "newspaper_acquisition", "--run-date", "20261120")
    assert again.returncode == 0, again.stderr
    with duckdb.connect(str(run.built.warehouse), read_only=True) as con:
        after = con.execute("select * from campaigns.target_list where campaign = 'newspaper_acquisition' "
                            "order by rank").df()
    assert after.equals(before)
    with sqlite3.connect(run.built.home / "campaign.db") as db:
        assert db.execute("select count(*), count(distinct user_pseudonym) from target_list "
                          "where campaign = 'newspaper_acquisition'").fetchone() == (2000, 2000)
    refused = _cli(run.built, "campaigns", "--run-date", "20261119")
    assert refused.returncode == 1
    assert "run date 20261119 is not the warehouse's data date 20261120" in refused.stderr
    unknown = _cli(run.built, "campaigns", "--campaign", "nonsense")
    assert unknown.returncode == 1 and "no campaign named 'nonsense'" in unknown.stderr


def test_contact_cap_of_one_leaves_later_campaigns_the_users_not_yet_contacted(scored, tmp_path):
    def one_contact(data):
        if data["purpose"] != "control":
            data["contact_cap"] = {"max_contacts": 1, "window_days": 30}
    definitions = _definitions(tmp_path / "definitions", one_contact)
    built = _prepared(scored, tmp_path / "home")
    result = _cli(built, "campaigns", "--definitions", str(definitions))
    assert result.returncode == 0, result.stderr
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        lists = con.execute("select campaign, user_pseudonym, \"group\" from campaigns.target_list").df()
        capped = con.execute("select campaign, removed_count from campaigns.suppression_count "
                             "where step = 'contact_cap'").df().set_index("campaign")["removed_count"]
    contacted = lists[lists["campaign"].isin(CONTACTING) & (lists["group"] == "TARGET")]
    assert contacted.groupby("user_pseudonym").size().max() == 1
    assert capped["newspaper_acquisition"] > capped["arrears_collection"] == 0


def test_the_cap_counts_earlier_dates_in_the_window_and_earlier_priorities_of_the_same_date():
    con = duckdb.connect()
    con.execute(CAMPAIGN_DDL.replace("CREATE TABLE IF NOT EXISTS audit.", "CREATE SCHEMA IF NOT EXISTS audit; "
                                     "CREATE TABLE IF NOT EXISTS audit."))
    day = dt.date(2026, 11, 20)
    runs = [("a", day - dt.timedelta(days=30), 10, "promotion"), ("a", day - dt.timedelta(days=29), 10, "promotion"),
            ("b", day - dt.timedelta(days=3), 50, "promotion"), ("ctl", day - dt.timedelta(days=1), 5, "control"),
            ("early", day, 20, "service"), ("late", day, 90, "promotion"), ("me", day, 60, "promotion"),
            ("me", day - dt.timedelta(days=2), 60, "promotion")]
    for campaign, run_date, priority, purpose in runs:
        con.execute("insert into campaigns.campaign_run (campaign, run_date, priority, purpose, conversion_kind) "
                    "values (?, ?, ?, ?, 'none')", [campaign, run_date, priority, purpose])
        for user, group in (("x", "TARGET"), ("y", "HOLDOUT")):
            con.execute("insert into campaigns.target_list (campaign, run_date, user_pseudonym, rank, \"group\") "
                        "values (?, ?, ?, 1, ?)", [campaign, run_date, user, group])
    ctx = SimpleNamespace(run_date=day, frame=lambda sql, params=None: con.execute(sql, params or []).df())
    me = SimpleNamespace(name="me", priority=60, contact_cap=SimpleNamespace(window_days=30, max_contacts=2))
    # counted: a (day-29), b (day-3), early (same day, higher priority), me (day-2); not: a (day-30, outside),
    # ctl (a control list), late (same day, lower priority), me (the run being replaced), y (held out)
    assert prior_contacts(ctx, me).to_dict() == {"x": 4}


# ------------------------------------------------------------------------------------------------ export
def test_export_manifest_hash_counts_and_numbers(run, raw):
    for campaign, path in run.exports.items():
        manifest = json.loads(path.with_name(path.name + ".manifest.json").read_text(encoding="utf-8"))
        assert manifest["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        exported = pd.read_csv(path, dtype={"msisdn": str})
        groups = exported["group"].value_counts()
        assert manifest["rows_in_file"] == {"TARGET": int(groups.get("TARGET", 0)),
                                            "HOLDOUT": int(groups.get("HOLDOUT", 0))}
        rows = run.lists[run.lists["campaign"] == campaign]
        assert manifest["rows_in_list"]["TARGET"] == (rows["group"] == "TARGET").sum()
        assert manifest["rows"] + sum(manifest["dropped_at_export"].values()) == len(rows)
        assert manifest["criteria"]["name"] == campaign and manifest["data_date"] == RUN_DATE.isoformat()
        assert manifest["exported_by"] and manifest["exported_at"].startswith(dt.date.today().isoformat()[:4])
        text = json.dumps(manifest)
        assert not any(n in text for n in exported["msisdn"])
        # each number is the one the user holds in the latest BOSS snapshot (raw zone)
        expected = raw.users.loc[exported["user_pseudonym"], "msisdn"].tolist()
        assert exported["msisdn"].tolist() == expected
    with duckdb.connect(str(run.built.warehouse), read_only=True) as con:
        audit = con.execute("select campaign, file_sha256, row_count from audit.campaign_export").df()
    assert set(audit["campaign"]) == set(run.exports)
    for _, row in audit.iterrows():
        assert row["file_sha256"] == hashlib.sha256(run.exports[row["campaign"]].read_bytes()).hexdigest()


def test_export_formats_agree_and_holdout_stays_out_by_default(run, tmp_path):
    campaign = "gprs_migration"
    frames = {}
    for fmt in ("csv", "xlsx", "parquet"):
        result = _cli(run.built, "export", "--campaign", campaign, "--format", fmt, "--out", str(tmp_path))
        assert result.returncode == 0, result.stderr
        path = tmp_path / f"{campaign}_{RUN_DATE:%Y%m%d}.{fmt}"
        manifest = json.loads(path.with_name(path.name + ".manifest.json").read_text(encoding="utf-8"))
        assert manifest["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        if fmt == "csv":
            frame = pd.read_csv(path, dtype={"msisdn": str, "run_date": str})
        elif fmt == "parquet":
            frame = pd.read_parquet(path).assign(run_date=lambda f: f["run_date"].astype(str))
        else:
            rows = list(load_workbook(path, read_only=True).active.values)
            frame = pd.DataFrame(rows[1:], columns=rows[0]).assign(msisdn=lambda f: f["msisdn"].astype(str))
        frames[fmt] = frame[["msisdn", "user_pseudonym", "rank", "group", "offer"]].reset_index(drop=True)
    assert frames["csv"].equals(frames["parquet"]) and frames["csv"].equals(frames["xlsx"])
    assert set(frames["csv"]["group"]) == {"TARGET"}
    assert len(frames["csv"]) == (run.lists.query("campaign == @campaign")["group"] == "TARGET").sum()
    missing = _cli(run.built, "export", "--campaign", campaign, "--format", "pdf")
    assert missing.returncode == 1 and "format 'pdf' is not one of csv, xlsx, parquet" in missing.stderr


def test_reports_show_sizes_and_funnels_without_pseudonyms(run):
    for campaign in run.runs["campaign"]:
        directory = run.built.home / "reports" / "campaigns" / campaign
        page = (directory / "index.html").read_text(encoding="utf-8")
        assert (directory / "list_size.png").stat().st_size > 1000 and (directory / "funnel.png").stat().st_size > 1000
        assert "Suppression funnel" in page and "do_not_disturb" in page
        assert not any(p in page for p in run.lists["user_pseudonym"].head(50))
    assert f"reports/campaigns/{'newspaper_acquisition'}/index.html" in run.report


def test_the_shared_home_is_left_untouched(pipeline, run):
    with duckdb.connect(str(pipeline.warehouse), read_only=True) as con:
        assert con.execute("select count(*) from campaigns.target_list").fetchone()[0] == 0
    assert not (pipeline.home / "campaign.db").exists()


def test_credit_control_enters_new_d_and_e_grades_and_releases_users_paid_on_time(run, raw):
    """Under control since an earlier run: released after three bills in a row paid on time (raw BOSS_BILL);
    graded D/E and not yet under control: entered; released users are not entered again on the same grade."""
    bills = raw.bills.assign(month=raw.bills["bill_month"].astype(str)).sort_values(["user_id", "month"])
    bills["clean"] = (bills["arrears_fen"].astype(int) == 0) & (bills["overdue_days"].astype(int) == 0)
    streak = {}
    for user, rows in bills.groupby("user_id"):
        clean = rows["clean"].tolist()[::-1]
        streak[user] = next((i for i, c in enumerate(clean) if not c), len(clean))
    entered = dt.date(2026, 6, 30)
    ids = raw.users["user_id"]
    paid = [p for p in ids.index if streak.get(ids[p], 0) >= 5][:40]
    late = [p for p in ids.index if streak.get(ids[p], 0) == 0 and p not in raw.dnd
            and raw.users.loc[p, "status"] != "CANCELLED"][:20]
    with duckdb.connect(str(run.built.warehouse)) as con:
        for p in paid + late:
            con.execute("insert into campaigns.target_list (campaign, run_date, user_pseudonym, rank, offer, "
                        "\"group\") values ('credit_control', ?, ?, 1, 'OCS_CONTROL_ENTER', 'TARGET')", [entered, p])
    result = _cli(run.built, "campaigns", "--campaign", "credit_control")
    assert result.returncode == 0, result.stderr
    with duckdb.connect(str(run.built.warehouse), read_only=True) as con:
        now = con.execute("select user_pseudonym, offer from campaigns.target_list where campaign = 'credit_control' "
                          "and run_date = ?", [RUN_DATE]).df()
        grades = con.execute("select user_pseudonym, grade from marts.fct_model_scores "
                             "where model_name = 'credit'").df().set_index("user_pseudonym")["grade"]
    exits = set(now.loc[now["offer"] == "OCS_CONTROL_EXIT", "user_pseudonym"])
    entries = set(now.loc[now["offer"] == "OCS_CONTROL_ENTER", "user_pseudonym"])
    expected_exits = {p for p in paid if p not in raw.dnd and raw.users.loc[p, "status"] != "CANCELLED"}
    assert exits == expected_exits and exits
    assert not entries & set(late)  # already under control: not entered twice
    assert all(grades[p] in ("D", "E") for p in entries)
    before = set(run.lists.loc[run.lists["campaign"] == "credit_control", "user_pseudonym"])
    assert entries == before - set(late) - set(paid)
