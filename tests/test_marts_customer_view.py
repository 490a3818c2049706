"""The customer view marts (dim_subscriber, fct_subscriber_month, customer_view) on the shared built home.

The shared `pipeline` home (5,000 users, 13 history months 2025-10 .. 2026-10, daily batches 2026-11-14 .. 11-20)
is read only. Every measure checked here is recomputed from the raw zone (`lake/raw/<IF>/batch_date=*/`) with
the interface spec's definitions, independently of the dbt models: the populations from the month-end
BOSS_USER snapshots, the usage from BASS_USAGE (history months) and the CDR detail (the month in progress), the
off-net share with phonenumbers itself on a sample of users, VAS holdings from the order history, and so on.
One test works on a private copy: a batch ingested again, then redelivered with fewer calls, rebuilds only that
batch of the per-batch aggregates and only its month of the marts, as a full rebuild would give them; another
pseudonym key rehashes every user and every month.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import delivery_faults as df
import duckdb
import numpy as np
import pandas as pd
import pytest
from pipeline_home import BuiltHome, copy_of_built_home
from vasmart_cli import run_vasmart

from vasmart.config import Settings
from vasmart.publish import scan_personal_numbers
from vasmart.reference.number_operators import classify_number

MARTS = ("dim_subscriber", "fct_subscriber_month", "customer_view")
KEYS = {"dim_subscriber": ["user_pseudonym"], "fct_subscriber_month": ["user_pseudonym", "month_start_date"],
        "customer_view": ["user_pseudonym", "month_start_date"]}
NOT_PUBLISHED = {"msisdn", "other_party", "imei", "imeisv", "customer_name", "cust_name", "user_id", "birth_year",
                 "imei_pseudonym", "msisdn_pseudonym", "tac", "content", "complaint_text"}
CONTRACT_COLUMNS = {  # the agreed names (briefs: contracts, "Customer view")
    "dim_subscriber": {"user_pseudonym", "brand_code", "plan_code", "pay_type", "region_code", "is_capital",
                       "user_status", "join_date", "is_rejoin", "is_dnd", "age_band", "gender", "tenure_months",
                       "vendor_name", "model_name", "has_mms", "has_wap", "max_rat"},
    "fct_subscriber_month": {"user_pseudonym", "month_start_date", "usage_source"},
    "customer_view": {"user_pseudonym", "month_start_date", "user_status", "has_mms", "has_wap", "is_dnd",
                      "is_capital", "is_rejoin", "held_newspaper_count", "is_month_complete"},
}
CATEGORIES = ("NEWS", "SPORTS", "FINANCE", "ENTERTAINMENT", "MUSIC", "GAMES", "LIFE", "EDUCATION")
UNIT_TESTS = ("test_int_customer_months_completeness_and_usage_source",
              "test_int_subscribers_at_month_end_age_bands_tenure_and_handset",
              "test_int_voice_cdrs_aggregated_by_batch_off_net_and_roaming",
              "test_int_voice_cdrs_aggregated_by_batch_incremental_takes_new_and_rewritten_batches",
              "test_int_vas_holdings_at_month_end_carried_forward",
              "test_int_subscriber_months_measured_usage_source_and_quota_overflow",
              "test_int_subscriber_months_trended_averages_and_trends")
INCREMENTAL = ("int_voice_cdrs_aggregated_by_batch", "int_vas_deliveries_aggregated_by_batch",
               "int_sms_vas_requests_aggregated_by_batch")


def _raw(home: Path, interface: str) -> str:
    return (f"read_parquet('{home}/lake/raw/{interface}/batch_date=*/*.parquet', hive_partitioning = true, "
            "hive_types_autocast = false)")


def _holdings(home: Path) -> str:
    """(msisdn, user_id, valid_from, valid_to) from the raw BOSS_USER snapshots (interface spec section 4)."""
    return f"""
        with ranked as (
            select msisdn, user_id, join_date, status, status_date,
                   row_number() over (partition by msisdn, user_id order by batch_date desc) as recency
            from {_raw(home, 'BOSS_USER')})
        select msisdn, user_id, cast(join_date as timestamp) as valid_from,
               case when status = 'CANCELLED' then cast(status_date + 1 as timestamp) end as valid_to
        from ranked where recency = 1"""


@dataclass
class View:
    """The marts as DataFrames, the raw-zone recomputations, and the build's artifacts."""

    home: BuiltHome
    marts: dict[str, pd.DataFrame]
    columns: dict[str, list[tuple[str, str]]]
    months: pd.DataFrame  # month_start_date, as_of_date (raw BOSS_USER batch dates), is_complete
    listed: pd.DataFrame  # raw: users of each month's as-of snapshot (user_pseudonym, month_start_date, ...)
    current_month: pd.Timestamp

    def frame(self, sql: str) -> pd.DataFrame:
        """A query over the raw zone; `months` names the months and their as-of dates."""
        with duckdb.connect() as con:
            con.register("months", self.months)
            return con.execute(sql).df()

    def pseudonyms(self, user_ids: pd.Series) -> pd.Series:
        cache = {u: self.home.pseudonym(int(u)) for u in pd.unique(user_ids)}
        return user_ids.map(cache)


@pytest.fixture(scope="module")
def view(pipeline) -> View:
    return load_view(pipeline)


def load_view(pipeline: BuiltHome) -> View:
    """The marts of a built home and the raw-zone frames every test starts from."""
    home = pipeline.home
    with duckdb.connect(str(pipeline.warehouse), read_only=True) as con:
        marts = {m: con.execute(f"select * from marts.{m}").df() for m in MARTS}
        columns = {m: con.execute("select column_name, data_type from information_schema.columns "
                                  "where table_schema = 'marts' and table_name = ? order by ordinal_position",
                                  [m]).fetchall() for m in MARTS}
    with duckdb.connect() as con:
        months = con.execute(f"""
            with dates as (select distinct strptime(batch_date, '%Y%m%d')::date as d from {_raw(home, 'BOSS_USER')})
            select date_trunc('month', d)::date as month_start_date, max(d) as as_of_date,
                   max(d) = last_day(max(d)) as is_complete
            from dates group by 1 order by 1""").df()
        con.register("months", months)
        listed = con.execute(f"""
            select u.user_id, months.month_start_date, months.as_of_date, u.join_date, u.status as raw_status,
                   u.status_date, u.plan_code, u.birth_year, u.is_rejoin = 1 as raw_is_rejoin,
                   u.dnd_flag = 1 as raw_is_dnd
            from {_raw(home, 'BOSS_USER')} as u
            join months on strptime(u.batch_date, '%Y%m%d')::date = months.as_of_date""").df()
    view = View(pipeline, marts, columns, months, listed, pd.Timestamp(months["month_start_date"].max()))
    listed["user_pseudonym"] = view.pseudonyms(listed["user_id"])
    for frame in marts.values():
        if "month_start_date" in frame:
            frame["month_start_date"] = pd.to_datetime(frame["month_start_date"])
    listed["month_start_date"] = pd.to_datetime(listed["month_start_date"])
    return view


def _fct(view: View) -> pd.DataFrame:
    return view.marts["fct_subscriber_month"]


def _keyed(frame: pd.DataFrame, value_columns: list[str]) -> pd.DataFrame:
    return frame.set_index(["user_pseudonym", "month_start_date"])[value_columns].sort_index()


# ------------------------------------------------------------------------------------------------ the build
def test_build_passes_with_the_customer_unit_tests(view):
    results = json.loads((view.home.home / "dbt" / "target" / "run_results.json").read_text())["results"]
    bad = [(r["unique_id"], r["status"]) for r in results if r["status"] not in ("success", "pass")]
    assert not bad, bad
    ran = {r["unique_id"].rsplit(".", 1)[-1] for r in results if r["unique_id"].startswith("unit_test.")}
    assert set(UNIT_TESTS) <= ran
    built = {r["unique_id"] for r in results}
    assert {f"model.vasmart.{m}" for m in MARTS + INCREMENTAL} <= built
    assert "seed.vasmart.number_prefix_operators" in built


def test_marts_are_public_under_contract_and_documented(view):
    manifest = view.home.manifest
    for mart in MARTS:
        node = manifest["nodes"][f"model.vasmart.{mart}"]
        assert node["access"] == "public" and node["config"]["contract"]["enforced"] is True, mart
        # the monthly marts: by month; the customer view, joining wide inputs, one month per statement
        expected = {"dim_subscriber": "table", "customer_view": "incremental_by_month"}.get(mart, "incremental")
        assert node["config"]["materialized"] == expected and node["schema"] == "marts", mart
        assert node["description"].strip(), mart
        assert list(node["columns"]) == [c for c, _ in view.columns[mart]], mart
        assert all(c["description"].strip() and c["data_type"] for c in node["columns"].values()), mart
        assert CONTRACT_COLUMNS[mart] <= set(node["columns"]), (mart, CONTRACT_COLUMNS[mart] - set(node["columns"]))
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] == "model" and node["name"] in INCREMENTAL:
            assert node["config"]["materialized"] == "incremental", uid
    types = {m: dict(view.columns[m]) for m in MARTS}
    assert types["customer_view"]["month_start_date"] == "DATE"
    for column in ("has_mms", "has_wap", "is_dnd", "is_capital", "is_rejoin", "is_month_complete"):
        assert types["customer_view"][column] == "BOOLEAN", column
    for column, kind in types["customer_view"].items():  # features: numeric, boolean or short text
        assert kind in ("VARCHAR", "BOOLEAN", "DATE", "INTEGER", "BIGINT", "DOUBLE", "TIMESTAMP"), (column, kind)


def test_one_row_per_key(view):
    for mart, key in KEYS.items():
        frame = view.marts[mart]
        assert len(frame) > 0, mart
        assert not frame[key].isna().any().any(), mart
        assert not frame.duplicated(key).any(), mart


def test_marts_carry_no_personal_data(view):
    for mart in MARTS:
        assert not {c for c, _ in view.columns[mart]} & NOT_PUBLISHED, mart
        assert view.marts[mart]["user_pseudonym"].str.fullmatch(r"[0-9a-f]{64}").all(), mart
    # the publication's own scanner, over every column cast to text (hex pseudonyms set aside)
    with duckdb.connect(str(view.home.warehouse), read_only=True) as con:
        assert scan_personal_numbers(con, "marts", list(MARTS), all_types=True) == []
    raw_users = set(view.listed["user_id"].astype(str))
    assert not raw_users & set(view.marts["dim_subscriber"]["user_pseudonym"])


# ------------------------------------------------------------------------------------------------ populations
def test_customer_view_rows_are_the_users_of_each_month_end_snapshot(view):
    cv = view.marts["customer_view"]
    got = set(zip(cv["user_pseudonym"], cv["month_start_date"], strict=True))
    expected = set(zip(view.listed["user_pseudonym"], view.listed["month_start_date"], strict=True))
    assert got == expected
    flags = cv.groupby("month_start_date")[["is_month_complete", "as_of_date"]].agg(["min", "max"])
    months = view.months.set_index(pd.to_datetime(view.months["month_start_date"]))
    for month, row in months.iterrows():
        assert flags.loc[month, ("is_month_complete", "min")] == flags.loc[month, ("is_month_complete", "max")]
        assert bool(flags.loc[month, ("is_month_complete", "min")]) == bool(row["is_complete"]), month
        assert pd.Timestamp(flags.loc[month, ("as_of_date", "max")]) == pd.Timestamp(row["as_of_date"]), month
    assert not months.loc[view.current_month, "is_complete"]  # the daily batches of 2026-11 are in progress
    # the contract's flags and statuses agree with the raw snapshot
    merged = cv.merge(view.listed, on=["user_pseudonym", "month_start_date"])
    assert len(merged) == len(cv)
    assert (merged["user_status"] == merged["raw_status"]).all()
    assert (merged["is_rejoin"] == merged["raw_is_rejoin"]).all()
    assert (merged["is_dnd"] == merged["raw_is_dnd"]).all()
    assert merged["is_dnd"].any() and merged["is_rejoin"].any()


def test_subscriber_months_are_the_users_active_in_the_month(view):
    listed = view.listed
    cancelled_before = (listed["raw_status"] == "CANCELLED") & (
        pd.to_datetime(listed["status_date"]) < listed["month_start_date"])
    active = listed[(pd.to_datetime(listed["join_date"]) <= pd.to_datetime(listed["as_of_date"])) & ~cancelled_before]
    fct = _fct(view)
    assert set(zip(fct["user_pseudonym"], fct["month_start_date"], strict=True)) == set(
        zip(active["user_pseudonym"], active["month_start_date"], strict=True))
    sources = fct.groupby("month_start_date")["usage_source"].agg(set)
    assert all(s == {"BASS"} for m, s in sources.items() if m < view.current_month)
    assert sources[view.current_month] == {"CDR"}
    assert set(fct["user_pseudonym"]) <= set(view.marts["dim_subscriber"]["user_pseudonym"])


# ------------------------------------------------------------------------------------------------ usage
USAGE = ["voice_calls", "voice_moc_calls", "voice_seconds", "distinct_contacts", "sms_mo", "sms_mt",
         "gprs_sessions", "gprs_kb", "active_days"]


def test_history_months_take_bass_usage(view):
    home = view.home.home
    bass = view.frame(f"""
        select user_id, strptime(stat_month || '01', '%Y%m%d')::date as month_start_date, {", ".join(USAGE)}
        from {_raw(home, 'BASS_USAGE')}""")
    bass["user_pseudonym"] = view.pseudonyms(bass["user_id"])
    bass["month_start_date"] = pd.to_datetime(bass["month_start_date"])
    fct = _fct(view)
    history = fct[fct["usage_source"] == "BASS"]
    merged = history.merge(bass, on=["user_pseudonym", "month_start_date"], how="left", suffixes=("", "_raw"))
    for column in USAGE:
        assert (merged[column] == merged[f"{column}_raw"].fillna(0).astype("int64")).all(), column
    # every BASS_USAGE row of an active user is in the mart, not only those that matched
    assert merged["voice_calls_raw"].notna().sum() == len(
        bass.merge(history[["user_pseudonym", "month_start_date"]], on=["user_pseudonym", "month_start_date"]))
    assert (merged["voice_minutes"] - merged["voice_seconds"] / 60).abs().max() < 1e-9


def test_billing_group_is_the_months_bill(view):
    """The billing group against BOSS_BILL read from the raw zone: the month's own bill (the latest batch's row of
    a bill month), the paid share, and the arrears months among the month and the two calendar months before."""
    home = view.home.home
    bills = view.frame(f"""
        with latest as (
            select user_id, strptime(bill_month || '01', '%Y%m%d')::date as month_start_date,
                   billed_fen, paid_fen, balance_fen, arrears_fen, overdue_days,
                   row_number() over (partition by user_id, bill_month order by batch_date desc) as recency
            from {_raw(home, 'BOSS_BILL')})
        select l.*, (select count(*) from latest p
                     where p.recency = 1 and p.user_id = l.user_id and p.arrears_fen > 0
                       and p.month_start_date between l.month_start_date - interval 2 month
                                                  and l.month_start_date) as arrears_months_3m
        from latest l where recency = 1""")
    bills["user_pseudonym"] = view.pseudonyms(bills["user_id"])
    bills["month_start_date"] = pd.to_datetime(bills["month_start_date"])
    cv = view.marts["customer_view"]
    merged = cv.merge(bills, on=["user_pseudonym", "month_start_date"], how="left", suffixes=("", "_raw"),
                      indicator=True)
    assert (merged["has_bill"] == (merged["_merge"] == "both")).all()
    billed = merged[merged["has_bill"]]
    assert len(billed) > 0.9 * (cv["is_month_complete"]).sum()  # almost every listed user of a closed month
    assert not cv.loc[~cv["is_month_complete"], "has_bill"].any()  # the month in progress has no bill yet
    for column in ("billed_fen", "paid_fen", "balance_fen", "arrears_fen", "overdue_days", "arrears_months_3m"):
        assert (billed[column].astype("int64") == billed[f"{column}_raw"].astype("int64")).all(), column
    assert merged.loc[~merged["has_bill"], ["billed_fen", "arrears_fen", "overdue_days"]].isna().all().all()
    share = billed["paid_fen_raw"] / billed["billed_fen_raw"].where(billed["billed_fen_raw"] > 0)
    assert np.allclose(billed["bill_paid_share"], share, equal_nan=True)
    assert billed["arrears_months_3m"].max() == 3 and (billed["arrears_fen"] > 0).any()


def _current_month_cdrs(view: View) -> pd.DataFrame:
    """Per user of the month in progress: the CDR totals with BASS_USAGE's definitions, from the raw zone."""
    home = view.home.home
    month = view.current_month.date()
    return view.frame(f"""
        with holdings as ({_holdings(home)}),
        records as (
            select msisdn, start_time as t, other_party,
                   (call_type in ('MOC', 'MTC'))::int as voice_calls, (call_type = 'MOC')::int as voice_moc_calls,
                   case when call_type in ('MOC', 'MTC') then duration_s else 0 end as voice_seconds,
                   0 as sms_mo, 0 as sms_mt, 0 as gprs_sessions, 0 as gprs_kb
            from {_raw(home, 'CDR_VOICE')}
            union all
            select msisdn, send_time, other_party, 0, 0, 0, (sms_type = 'MO')::int, (sms_type = 'MT')::int, 0, 0
            from {_raw(home, 'CDR_SMS')}
            union all
            select msisdn, start_time, null, 0, 0, 0, 0, 0, 1, ceil((up_bytes + down_bytes) / 1024)::bigint
            from {_raw(home, 'CDR_GPRS')}),
        attributed as (
            select h.user_id, r.* from records r join holdings h
              on r.msisdn = h.msisdn and r.t >= h.valid_from and (h.valid_to is null or r.t < h.valid_to)
            where date_trunc('month', r.t) = DATE '{month}')
        select user_id, sum(voice_calls) as voice_calls, sum(voice_moc_calls) as voice_moc_calls,
               sum(voice_seconds) as voice_seconds, count(distinct other_party) as distinct_contacts,
               sum(sms_mo) as sms_mo, sum(sms_mt) as sms_mt, sum(gprs_sessions) as gprs_sessions,
               sum(gprs_kb) as gprs_kb, count(distinct t::date) as active_days
        from attributed group by user_id""")


def test_the_month_in_progress_takes_the_cdr_detail(view):
    cdrs = _current_month_cdrs(view)
    assert len(cdrs) > 1000
    cdrs["user_pseudonym"] = view.pseudonyms(cdrs["user_id"])
    fct = _fct(view)
    current = fct[fct["month_start_date"] == view.current_month]
    assert (current["usage_source"] == "CDR").all() and (~current["is_month_complete"]).all()
    merged = current.merge(cdrs, on="user_pseudonym", how="left", suffixes=("", "_raw"))
    for column in USAGE:
        assert (merged[column] == merged[f"{column}_raw"].fillna(0).astype("int64")).all(), column
    assert merged["voice_calls_raw"].notna().sum() == len(cdrs[cdrs["user_pseudonym"].isin(current["user_pseudonym"])])
    assert (current["usage_day_count"] == 20).all()


def _attributed_voice(view: View, pseudonyms: set[str] | None = None) -> pd.DataFrame:
    """Counted calls (MOC, MTC) of the month in progress with their holder, other party and roaming type."""
    home = view.home.home
    calls = view.frame(f"""
        with holdings as ({_holdings(home)})
        select h.user_id, v.other_party, v.roam_type, v.duration_s
        from {_raw(home, 'CDR_VOICE')} v join holdings h
          on v.msisdn = h.msisdn and v.start_time >= h.valid_from
         and (h.valid_to is null or v.start_time < h.valid_to)
        where v.call_type in ('MOC', 'MTC') and date_trunc('month', v.start_time) = DATE '{view.current_month.date()}'""")
    calls["user_pseudonym"] = view.pseudonyms(calls["user_id"])
    return calls if pseudonyms is None else calls[calls["user_pseudonym"].isin(pseudonyms)]


def test_off_net_share_agrees_with_phonenumbers_on_a_sample(view):
    fct = _fct(view)
    current = fct[(fct["month_start_date"] == view.current_month) & (fct["voice_detail_calls"] > 0)]
    sample = set(random.Random(5).sample(sorted(current["user_pseudonym"]), 250))
    calls = _attributed_voice(view, sample)
    calls["party"] = calls["other_party"].map(classify_number)  # phonenumbers itself, number by number
    assert {"CMCC", "CUCC", "CTCC", "FIXED_LINE", "UNKNOWN"} <= set(calls["party"])  # every class occurs
    per_user = calls.groupby("user_pseudonym").agg(
        calls=("party", "size"), off_net=("party", lambda p: p.isin(["CUCC", "CTCC", "CBN"]).sum()),
        on_net=("party", lambda p: (p == "CMCC").sum()), fixed=("party", lambda p: (p == "FIXED_LINE").sum()),
        unknown=("party", lambda p: (p == "UNKNOWN").sum()))
    mart = current.set_index("user_pseudonym").loc[sorted(sample)]
    per_user = per_user.loc[sorted(sample)]
    assert (mart["voice_detail_calls"] == per_user["calls"]).all()
    assert (mart["off_net_calls"] == per_user["off_net"]).all()
    assert (mart["on_net_calls"] == per_user["on_net"]).all()
    assert (mart["fixed_line_calls"] == per_user["fixed"]).all()
    assert (mart["unknown_party_calls"] == per_user["unknown"]).all()
    assert np.allclose(mart["off_net_call_share"], per_user["off_net"] / per_user["calls"], rtol=0, atol=1e-12)
    cv = view.marts["customer_view"].set_index(["user_pseudonym", "month_start_date"])
    assert np.allclose(cv.loc[[(p, view.current_month) for p in sorted(sample)], "off_net_call_share"],
                       per_user["off_net"] / per_user["calls"], rtol=0, atol=1e-12)
    # months without voice detail have no operator measures
    history = fct[fct["usage_source"] == "BASS"]
    assert (~history["has_voice_detail"]).all() and history["off_net_call_share"].isna().all()


def test_roaming_calls_from_the_detail(view):
    calls = _attributed_voice(view)
    calls["roaming"] = (calls["roam_type"] > 0).astype(int)
    calls["national"] = (calls["roam_type"] == 2).astype(int)
    calls["international"] = (calls["roam_type"] == 3).astype(int)
    calls["roaming_duration"] = calls["duration_s"].where(calls["roam_type"] > 0, 0)
    per_user = calls.groupby("user_pseudonym")[["roaming", "national", "international", "roaming_duration"]].sum()
    fct = _fct(view)
    current = fct[fct["month_start_date"] == view.current_month].set_index("user_pseudonym")
    joined = current.join(per_user, how="left").fillna(
        {"roaming": 0, "national": 0, "international": 0, "roaming_duration": 0})
    assert joined["roaming"].sum() > 0
    assert (joined["roaming_calls"] == joined["roaming"]).all()
    assert (joined["national_roaming_calls"] == joined["national"]).all()
    assert (joined["international_roaming_calls"] == joined["international"]).all()
    assert (joined["roaming_seconds"] == joined["roaming_duration"]).all()


# ------------------------------------------------------------------------------------------------ data services
def test_vas_held_counts_at_each_month_end(view):
    home = view.home.home
    held = view.frame(f"""
        with services as (
            select service_code, product_line from {_raw(home, 'REF_SERVICE')}
            qualify row_number() over (partition by service_code order by batch_date desc) = 1),
        net as (
            select months.month_start_date, o.user_id, o.service_code,
                   sum(case o.action when '1' then 1 when '2' then -1 end) as balance
            from {_raw(home, 'BOSS_VAS_ORDER')} o
            join months on o.op_time < cast(months.as_of_date as date) + 1
            group by all)
        select net.user_id, net.month_start_date, count(*) as held,
               count(*) filter (where services.product_line = 'MOBILE_NEWSPAPER') as newspapers
        from net left join services using (service_code)
        where balance > 0 group by all""")
    assert len(held) > 0
    held["user_pseudonym"] = view.pseudonyms(held["user_id"])
    held["month_start_date"] = pd.to_datetime(held["month_start_date"])
    fct = _fct(view)
    merged = fct.merge(held, on=["user_pseudonym", "month_start_date"], how="left")
    assert (merged["held_vas_count"] == merged["held"].fillna(0)).all()
    assert (merged["held_newspaper_count"] == merged["newspapers"].fillna(0)).all()
    assert merged["held_newspaper_count"].sum() > 0
    cv = view.marts["customer_view"].merge(held, on=["user_pseudonym", "month_start_date"], how="left")
    assert (cv["held_vas_count"] == cv["held"].fillna(0)).all()
    assert (cv["held_newspaper_count"] == cv["newspapers"].fillna(0)).all()


def test_vas_use_by_category(view):
    home = view.home.home
    month = view.current_month.date()
    use = view.frame(f"""
        with holdings as ({_holdings(home)}),
        services as (
            select service_code, category from {_raw(home, 'REF_SERVICE')}
            qualify row_number() over (partition by service_code order by batch_date desc) = 1),
        codes as (
            select status_code, status_class from {_raw(home, 'REF_STATUS_CODE')}
            qualify row_number() over (partition by status_code order by batch_date desc) = 1),
        bass as (
            select user_id, strptime(stat_month || '01', '%Y%m%d')::date as month_start_date, service_code, use_count
            from {_raw(home, 'BASS_VAS_USAGE')}),
        received as (
            select h.user_id, DATE '{month}' as month_start_date, d.service_code, 1 as use_count
            from {_raw(home, 'VAS_DELIVERY')} d join codes using (status_code)
            join holdings h on d.msisdn = h.msisdn and d.send_time >= h.valid_from
              and (h.valid_to is null or d.send_time < h.valid_to)
            where codes.status_class = 'SUCCESS' and date_trunc('month', d.send_time) = DATE '{month}'),
        requests as (
            select h.user_id, DATE '{month}', s.service_code, 1
            from {_raw(home, 'CDR_SMS')} s join holdings h on s.msisdn = h.msisdn and s.send_time >= h.valid_from
              and (h.valid_to is null or s.send_time < h.valid_to)
            where s.sms_type = 'MO' and s.service_code is not null and date_trunc('month', s.send_time) = DATE '{month}'),
        all_use as (select * from bass union all select * from received union all select * from requests)
        select user_id, month_start_date, services.category, sum(use_count) as use_count
        from all_use left join services using (service_code) group by all""")
    use["user_pseudonym"] = view.pseudonyms(use["user_id"])
    use["month_start_date"] = pd.to_datetime(use["month_start_date"])
    wide = use.pivot_table(index=["user_pseudonym", "month_start_date"], columns="category", values="use_count",
                           aggfunc="sum", fill_value=0).reindex(columns=list(CATEGORIES), fill_value=0)
    fct = _fct(view).set_index(["user_pseudonym", "month_start_date"])
    joined = fct.join(wide, how="left").fillna({c: 0 for c in CATEGORIES})
    for category in CATEGORIES:
        assert (joined[f"{category.lower()}_use_count"] == joined[category]).all(), category
    assert (joined["vas_use_count"] == joined[list(CATEGORIES)].sum(axis=1)).all()
    current = joined.xs(view.current_month, level="month_start_date")
    assert current["vas_use_count"].sum() > 0


def test_pushes_received_and_failed(view):
    home = view.home.home
    pushes = view.frame(f"""
        with holdings as ({_holdings(home)}),
        codes as (
            select status_code, status_class from {_raw(home, 'REF_STATUS_CODE')}
            qualify row_number() over (partition by status_code order by batch_date desc) = 1)
        select h.user_id, date_trunc('month', d.send_time)::date as month_start_date, count(*) as sent,
               count(*) filter (where codes.status_class = 'SUCCESS') as received,
               count(*) filter (where codes.status_class = 'TERMINAL') as terminal
        from {_raw(home, 'VAS_DELIVERY')} d left join codes using (status_code)
        join holdings h on d.msisdn = h.msisdn and d.send_time >= h.valid_from
          and (h.valid_to is null or d.send_time < h.valid_to)
        group by all""")
    pushes["user_pseudonym"] = view.pseudonyms(pushes["user_id"])
    pushes["month_start_date"] = pd.to_datetime(pushes["month_start_date"])
    merged = _fct(view).merge(pushes, on=["user_pseudonym", "month_start_date"], how="left").fillna(
        {"sent": 0, "received": 0, "terminal": 0})
    assert merged["vas_delivery_terminal_failed_count"].sum() > 0
    assert (merged["vas_delivery_count"] == merged["sent"]).all()
    assert (merged["vas_delivery_received_count"] == merged["received"]).all()
    assert (merged["vas_delivery_failed_count"] == merged["sent"] - merged["received"]).all()
    assert (merged["vas_delivery_terminal_failed_count"] == merged["terminal"]).all()


def test_data_use_against_the_plan_quota(view):
    home = view.home.home
    plans = view.frame(f"""select plan_code, strptime(batch_date, '%Y%m%d')::date as as_of_date, gprs_quota_mb
                           from {_raw(home, 'REF_PLAN')}""")
    listed = view.listed.merge(plans, on=["plan_code", "as_of_date"], how="left")
    fct = _fct(view).merge(listed[["user_pseudonym", "month_start_date", "gprs_quota_mb"]],
                           on=["user_pseudonym", "month_start_date"], suffixes=("", "_raw"))
    assert len(fct) == len(_fct(view))
    quota_kb = fct["gprs_quota_mb_raw"] * 1024
    assert (fct["gprs_quota_mb"] == fct["gprs_quota_mb_raw"]).all()
    overflow_mb = np.maximum(fct["gprs_kb"] - quota_kb, 0) / 1024
    assert np.allclose(fct["gprs_overflow_mb"], overflow_mb, rtol=0, atol=1e-9)
    assert (fct["is_gprs_overflow"] == (fct["gprs_kb"] > quota_kb)).all()
    packaged = fct["gprs_quota_mb_raw"] > 0
    assert np.allclose(fct.loc[packaged, "gprs_quota_use_ratio"], fct.loc[packaged, "gprs_kb"] / quota_kb[packaged])
    assert fct.loc[~packaged, "gprs_quota_use_ratio"].isna().all()
    assert 0 < fct["is_gprs_overflow"].mean() < 1  # both kinds of months occur


# ------------------------------------------------------------------------------------------------ averages, trends
def test_three_month_averages_and_trends(view):
    fct = _fct(view).copy()
    fct["index"] = fct["month_start_date"].dt.year * 12 + fct["month_start_date"].dt.month
    fct["sms_count"] = fct["sms_mo"] + fct["sms_mt"]
    rows = {}
    sample = set(random.Random(9).sample(sorted(set(fct["user_pseudonym"])), 300))
    for pseudonym, months in fct[fct["user_pseudonym"].isin(sample)].groupby("user_pseudonym"):
        by_index = months.set_index("index")
        for index, row in by_index.iterrows():
            window = by_index.loc[[i for i in (index - 2, index - 1, index) if i in by_index.index]]
            previous = by_index.loc[[i for i in (index - 2, index - 1) if i in by_index.index]]
            values = {}
            for measure in ("voice_calls", "sms_count", "gprs_mb"):
                values[f"{measure}_3m_avg"] = window[measure].mean()
                prior = previous[measure].sum()
                values[f"{measure}_trend"] = (
                    (row[measure] / row["usage_day_count"]) / (prior / previous["usage_day_count"].sum()) - 1
                    if len(previous) and prior > 0 else np.nan)
            rows[(pseudonym, row["month_start_date"])] = values
    expected = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    cv = view.marts["customer_view"].set_index(["user_pseudonym", "month_start_date"]).loc[expected.index]
    for column in expected.columns:
        assert np.allclose(cv[column].astype(float), expected[column], rtol=1e-9, atol=1e-9, equal_nan=True), column
    assert expected["voice_calls_trend"].notna().sum() > 100


# ------------------------------------------------------------------------------------------------ dimension
def test_dim_subscriber_holds_each_users_latest_state(view):
    home = view.home.home
    latest = view.frame(f"""
        select user_id, status as raw_status, plan_code as raw_plan_code, join_date as raw_join_date, birth_year,
               strptime(batch_date, '%Y%m%d')::date as listed_on
        from {_raw(home, 'BOSS_USER')}
        qualify row_number() over (partition by user_id order by batch_date desc) = 1""")
    latest["user_pseudonym"] = view.pseudonyms(latest["user_id"])
    dim = view.marts["dim_subscriber"].merge(latest, on="user_pseudonym", how="outer", indicator=True)
    assert (dim["_merge"] == "both").all()
    assert (dim["user_status"] == dim["raw_status"]).all()
    assert (dim["plan_code"] == dim["raw_plan_code"]).all()
    assert (pd.to_datetime(dim["join_date"]) == pd.to_datetime(dim["raw_join_date"])).all()
    as_of = pd.Timestamp(view.months["as_of_date"].max())
    assert (dim["is_listed"] == (pd.to_datetime(dim["listed_on"]) == as_of)).all()
    age = as_of.year - dim["birth_year"]
    bands = pd.cut(age, [-np.inf, -0.5, 17.5, 24.5, 34.5, 44.5, 54.5, 64.5, 119.5, np.inf],
                   labels=["UNKNOWN", "UNDER_18", "18_24", "25_34", "35_44", "45_54", "55_64", "65_PLUS", "X"])
    expected = bands.astype(str).where(dim["birth_year"].notna(), "UNKNOWN").replace({"X": "UNKNOWN"})
    assert (dim["age_band"] == expected).all()


# ------------------------------------------------------------------------------------------------ incremental
# Everything the customer marts are built from, models only (the shared build ran the tests); a copied home's
# staging views still point at the shared home's raw zone, so they are built again too.
UPSTREAM = "+path:models/marts/customer,resource_type:model"
CDR_STATE = ("int_cdr_days_measured", "int_cdr_contacts_by_month")
CDR_MONTHS = ("int_usage_from_cdrs_aggregated", "int_usage_from_cdrs_coverage")
CDR_MODELS = " ".join(CDR_STATE + CDR_MONTHS)
CDR_STAGING = "stg_mediation__voice_cdrs stg_mediation__sms_cdrs stg_mediation__gprs_cdrs"
HISTORIES = ("restricted.int_user_snapshots_compacted", "intermediate.int_users_historized",
             "restricted.int_msisdn_assignments_historized", "restricted.int_imei_observations_versioned")
HISTORY_MODELS = "stg_boss__users stg_dm__imei_observations " + " ".join(h.split(".")[1] for h in HISTORIES)
CUSTOMER_MODELS = "path:models/intermediate/customer path:models/marts/customer"


def _tables(home: Path, names: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return {n: con.execute(f"select * from {n} order by all").df() for n in names}


def _values(frame: pd.DataFrame) -> pd.DataFrame:
    lineage = {"partition_written_at", "inputs_written_at", "state_built_at"}
    return frame[[c for c in frame.columns if c not in lineage]].reset_index(drop=True)


def _build(copy: BuiltHome, *args: str, key: str | None = None) -> None:
    build = run_vasmart(copy.home, "build", *args, key=key or copy.key)
    assert build.returncode == 0, build.stderr[-3000:] + build.stdout[-3000:]


def test_incremental_models_rebuild_only_what_changed(pipeline, tmp_path):
    from vasmart.ingest import ingest_batch

    copy = copy_of_built_home(pipeline, tmp_path / "home")
    home, landing = copy.home, copy.home / "landing"
    aggregates = tuple(f"intermediate.{m}" for m in INCREMENTAL)
    marts = tuple(f"marts.{m}" for m in ("fct_subscriber_month", "customer_view"))
    # the CDR detail's running state and the months built from it, incremental
    by_event_month = tuple(f"restricted.{m}" for m in CDR_STATE) + tuple(f"intermediate.{m}" for m in CDR_MONTHS)
    upstream = f"{UPSTREAM} {CDR_MODELS}"
    before = _tables(home, aggregates + marts + by_event_month + HISTORIES)
    last = max(p.name for p in landing.iterdir() if p.is_dir())
    last_date, month = pd.Timestamp(last), pd.Timestamp(last[:6] + "01")

    def compiled() -> dict[str, str]:
        return {r["unique_id"].rsplit(".", 1)[-1]: r["compiled_code"] for r in json.loads(
            (home / "dbt" / "target" / "run_results.json").read_text())["results"]
            if r["unique_id"].startswith("model.")}

    # nothing delivered since the last build: the state reads no CDR, no month is rebuilt, every row is kept
    # (the CDR staging views built again to read the copy's raw zone)
    _build(copy, "--select", f"{CDR_STAGING} {CDR_MODELS}")
    unchanged = _tables(home, by_event_month)
    for name in by_event_month:
        pd.testing.assert_frame_equal(before[name], unchanged[name], obj=name)
    code = compiled()
    assert code["int_cdr_days_measured"].count("1 = 0") == 3 and code["int_cdr_contacts_by_month"].count("1 = 0") == 2
    assert code["int_usage_from_cdrs_aggregated"].count("1 = 0") == 2, code["int_usage_from_cdrs_aggregated"]
    assert code["int_usage_from_cdrs_coverage"].count("1 = 0") == 1, code["int_usage_from_cdrs_coverage"]

    # the last batch's CDR and BOSS_USER partitions taken out of the raw zone: the CDR state's month is rebuilt
    # from the other batches (the ledger knows the months a removed partition fed), the snapshots' islands from
    # the other snapshots; put back, they are new partitions, merged into the state of their days alone and
    # into the users' latest islands, and every value is back to what it was
    moved = {i: home / "lake" / "raw" / i / f"batch_date={last}"
             for i in ("CDR_VOICE", "CDR_SMS", "CDR_GPRS", "BOSS_USER", "IMEI_OBS")}
    for interface, partition in moved.items():
        shutil.move(partition, tmp_path / f"{interface}-{last}")
    _build(copy, "--select", f"{HISTORY_MODELS} {CDR_MODELS}")
    removed = _tables(home, by_event_month + HISTORIES)
    islands_removed = removed["restricted.int_user_snapshots_compacted"]
    assert pd.to_datetime(islands_removed["last_batch_date"]).max() < last_date
    usage_removed = removed["intermediate.int_usage_from_cdrs_aggregated"]
    usage_before = before["intermediate.int_usage_from_cdrs_aggregated"]
    assert (usage_removed.loc[usage_removed["stat_month"] == f"{month:%Y%m}", "record_count"].sum()
            < usage_before.loc[usage_before["stat_month"] == f"{month:%Y%m}", "record_count"].sum())
    days_removed = removed["restricted.int_cdr_days_measured"]
    assert last_date not in set(pd.to_datetime(days_removed["event_date"]))
    versions_removed = removed["restricted.int_imei_observations_versioned"]
    assert last_date not in set(pd.to_datetime(versions_removed["batch_date"]))
    for interface, partition in moved.items():
        shutil.move(tmp_path / f"{interface}-{last}", partition)
    _build(copy, "--select", f"{HISTORY_MODELS} {CDR_MODELS}")
    merged = _tables(home, by_event_month + HISTORIES)
    for name in by_event_month + HISTORIES:
        pd.testing.assert_frame_equal(_values(before[name]), _values(merged[name]), obj=name)
    code = compiled()
    assert f"'BOSS_USER_{last}_'" in code["int_user_snapshots_compacted"], code["int_user_snapshots_compacted"]
    islands_sql = (home / "dbt" / "target" / "run" / "vasmart" / "models" / "intermediate" / "restricted"
                   / "int_user_snapshots_compacted.sql").read_text()
    assert "MERGE INTO" in islands_sql.upper(), islands_sql[:2000]
    islands = merged["restricted.int_user_snapshots_compacted"]
    written = islands["state_built_at"] > islands_removed["state_built_at"].max()
    assert 0 < written.sum() < len(islands)  # the islands the snapshot extends or starts, not every island
    assert (pd.to_datetime(islands.loc[written, "last_batch_date"]) == last_date).all()
    assert f"'CDR_VOICE_{last}_'" in code["int_cdr_days_measured"], code["int_cdr_days_measured"]
    assert f"in (date '{last_date:%Y-%m-%d}')" in code["int_cdr_days_measured"]  # the new partition's day only
    assert f"'CDR_SMS_{last}_'" in code["int_cdr_contacts_by_month"], code["int_cdr_contacts_by_month"]
    run_sql = (home / "dbt" / "target" / "run" / "vasmart" / "models" / "intermediate" / "restricted"
               / "int_cdr_contacts_by_month.sql").read_text()
    assert "MERGE INTO" in run_sql.upper(), run_sql[:2000]
    contacts_merged = merged["restricted.int_cdr_contacts_by_month"]
    contacts_removed = removed["restricted.int_cdr_contacts_by_month"]
    assert len(contacts_merged) >= len(contacts_removed)
    touched = contacts_merged["state_built_at"] > contacts_removed["state_built_at"].max()
    assert 0 < touched.sum() < len(contacts_merged)  # the rows the batch's contacts touch, not the whole month
    days_merged = merged["restricted.int_cdr_days_measured"]
    rewritten = days_merged["state_built_at"] != days_removed.set_index(["msisdn", "event_date"]).reindex(
        pd.MultiIndex.from_frame(days_merged[["msisdn", "event_date"]]))["state_built_at"].to_numpy()
    assert set(pd.to_datetime(days_merged.loc[rewritten, "event_date"])) == {last_date}
    # the IMEI observations: the batch's appended to their users' numbering; renumbered from every batch only
    # the users whose numbers' holdings the BOSS_USER snapshot changed
    versions = merged["restricted.int_imei_observations_versioned"]
    appended = versions["state_built_at"] > versions_removed["state_built_at"].max()
    older = appended & (pd.to_datetime(versions["batch_date"]) != last_date)
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        rebuilt = {r[0] for r in con.execute(
            "select user_id from restricted.int_imei_observations_versioned__users_rebuilt").fetchall()}
    assert set(versions.loc[older, "user_id"]) <= rebuilt
    assert len(rebuilt) < versions["user_id"].nunique() / 10
    assert (pd.to_datetime(versions.loc[~appended, "batch_date"]) < last_date).all()
    assert appended.sum() < len(versions) / 2

    # the same batch ingested again: its partitions are written anew, the results come out the same
    ingest_batch(Settings(home=home), landing, last, "test-rerun")
    _build(copy, "--select", upstream)
    again = _tables(home, aggregates + marts + by_event_month)
    for name in aggregates + marts + by_event_month:
        pd.testing.assert_frame_equal(_values(before[name]), _values(again[name]), obj=name)
    for name in aggregates:
        changed = before[name]["partition_written_at"] != again[name]["partition_written_at"]
        assert set(pd.to_datetime(again[name].loc[changed, "batch_date"])) == {last_date}, name
    for name in marts:  # only the month of the batch was rebuilt
        changed = before[name]["inputs_written_at"] != again[name]["inputs_written_at"]
        assert changed.any() and set(pd.to_datetime(again[name].loc[changed, "month_start_date"])) == {month}, name
    for name in by_event_month:  # the detail's state and months: only the batch's month was read again
        changed = merged[name]["state_built_at"] != again[name]["state_built_at"]
        column = "stat_month" if "stat_month" in again[name] else "month_start_date"
        expected = f"{month:%Y%m}" if column == "stat_month" else month
        assert changed.any() and set(again[name].loc[changed, column]) == {expected}, name

    # a redelivery of that batch with every other voice call dropped: that batch and its month change, no other
    voice_partition = home / "lake" / "raw" / "CDR_VOICE" / f"batch_date={last}"
    backup = tmp_path / "voice-backup"
    shutil.copytree(voice_partition, backup)  # file times kept, as a backup keeps them
    before_voice, after_voice = df.rewrite_records(landing, "CDR_VOICE", lambda records: records[::2], batch=last)
    assert len(after_voice) < len(before_voice)
    ingest_batch(Settings(home=home), landing, last, "test-redelivery")
    _build(copy, "--select", upstream)
    redelivered = _tables(home, aggregates + marts + by_event_month)
    voice = redelivered["intermediate.int_voice_cdrs_aggregated_by_batch"]
    old = before["intermediate.int_voice_cdrs_aggregated_by_batch"]
    pd.testing.assert_frame_equal(_values(old[pd.to_datetime(old["batch_date"]) != last_date]),
                                  _values(voice[pd.to_datetime(voice["batch_date"]) != last_date]))
    with duckdb.connect() as con:
        recount = con.execute(f"""
            with holdings as ({_holdings(home)})
            select count(*) from {_raw(home, 'CDR_VOICE')} v join holdings h
              on v.msisdn = h.msisdn and v.start_time >= h.valid_from
             and (h.valid_to is null or v.start_time < h.valid_to)
            where v.batch_date = '{last}' and v.call_type in ('MOC', 'MTC')""").fetchone()[0]
    assert voice.loc[pd.to_datetime(voice["batch_date"]) == last_date, "voice_calls"].sum() == recount
    assert recount < old.loc[pd.to_datetime(old["batch_date"]) == last_date, "voice_calls"].sum()
    for name in marts:
        old_mart, new_mart = before[name], redelivered[name]
        pd.testing.assert_frame_equal(_values(old_mart[old_mart["month_start_date"] < month]),
                                      _values(new_mart[new_mart["month_start_date"] < month]), obj=name)
        assert (new_mart.loc[new_mart["month_start_date"] == month, "voice_calls"].sum()
                < old_mart.loc[old_mart["month_start_date"] == month, "voice_calls"].sum()), name
    usage_before, usage_after = (t["intermediate.int_usage_from_cdrs_aggregated"] for t in (before, redelivered))
    earlier = f"{month:%Y%m}"
    pd.testing.assert_frame_equal(_values(usage_before[usage_before["stat_month"] < earlier]).reset_index(drop=True),
                                  _values(usage_after[usage_after["stat_month"] < earlier]).reset_index(drop=True))
    assert (usage_after.loc[usage_after["stat_month"] == earlier, "voice_calls"].sum()
            < usage_before.loc[usage_before["stat_month"] == earlier, "voice_calls"].sum())

    # the incremental result is what a full rebuild gives
    _build(copy, "--select", f"{CUSTOMER_MODELS} {CDR_MODELS}", "--full-refresh")
    rebuilt = _tables(home, aggregates + marts + by_event_month)
    for name in aggregates + marts + by_event_month:
        pd.testing.assert_frame_equal(_values(redelivered[name]), _values(rebuilt[name]), obj=name)

    # the voice partition put back from the backup, with its older file times: the detail's months see it
    shutil.rmtree(voice_partition)
    shutil.copytree(backup, voice_partition)
    _build(copy, "--select", CDR_MODELS)
    restored = _tables(home, by_event_month)
    for name in by_event_month:
        pd.testing.assert_frame_equal(_values(before[name]), _values(restored[name]), obj=name)

    # pseudonyms are hashed once per user; another key rehashes every user and rebuilds every month of the marts
    other = "another-key-for-the-same-users"
    _build(copy, "--select", CUSTOMER_MODELS, key=other)
    rekeyed = _tables(home, ("intermediate.int_users_pseudonymized",) + marts)
    hashed = rekeyed["intermediate.int_users_pseudonymized"]
    assert len(hashed) == hashed["user_id"].nunique() > 0
    other_home = BuiltHome(home, other, {})
    assert (hashed["user_pseudonym"] == hashed["user_id"].map(other_home.pseudonym)).all()
    expected = set(hashed["user_pseudonym"])
    for name in marts:
        assert set(rekeyed[name]["user_pseudonym"]) <= expected, name
        assert len(rekeyed[name]) == len(rebuilt[name]), name
    shutil.rmtree(home, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ notebook
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01-customer-view.py"


def test_the_customer_view_notebook_runs_on_the_published_copy(pipeline, tmp_path, monkeypatch):
    import jupytext
    from nbclient import NotebookClient

    copy = copy_of_built_home(pipeline, tmp_path / "home")
    published = run_vasmart(copy.home, "publish", key=copy.key)
    assert published.returncode == 0, published.stderr[-3000:]
    monkeypatch.setenv("VASMART_ANALYTICS_DB", str(copy.home / "analytics.duckdb"))
    notebook = jupytext.read(NOTEBOOK)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on any cell error
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 8
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert f"reading {copy.home / 'analytics.duckdb'}" in printed
    with duckdb.connect(str(pipeline.warehouse), read_only=True) as con:
        rows = con.execute("select count(*) from marts.customer_view").fetchone()[0]
    assert f"customer_view rows: {rows}" in printed
    shutil.rmtree(copy.home, ignore_errors=True)
