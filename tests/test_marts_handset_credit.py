"""The handset (IMEI) and credit marts on a small generated delivery.

One session home: 800 users, 4 history months and 10 daily batches (2026-06-01 .. 06-10), every batch ingested
in date order, then `vasmart build` of the handset and credit marts and everything upstream with a pseudonym
key. Handset changes planned for June fall inside the daily batches, so some new handsets reach (or miss) 7
consecutive days of use there. Checked against recomputations from the raw zone, independent of the models:
the stable changes, the IMEI feed counts (match rate 1.0 on clean data; a few invalid IMEIs are planted in one
daily batch before ingestion, which the load rejects and the quality mart counts), and the arrears aging and
cohort counts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import delivery_faults as df
import duckdb
import pandas as pd
import pytest
from vasmart_cli import run_vasmart

from vasmart.config import Settings

KEY = "vasmart-handset-credit-test-key-71c2e9"
GENERATE = ["--users", "800", "--months", "4", "--days", "10", "--end-date", "20260610", "--seed", "9"]
SELECT = "+path:models/marts/handset +path:models/marts/credit"
MARTS = ("fct_handset_change", "fct_imei_quality", "fct_arrears_aging", "fct_new_user_cohorts")
FIRST_DAILY = dt.date(2026, 6, 1)
FAULTY_BATCH = "20260605"  # gets INVALID_IMEIS records whose IMEI fails the Luhn check: rejected by the load
INVALID_IMEIS = 3
NOT_PUBLISHED = {"msisdn", "other_party", "imei", "imeisv", "customer_name", "cust_name", "user_id",
                 "imei_pseudonym", "msisdn_pseudonym"}


def _raw(home: Path, interface: str) -> str:
    return (f"read_parquet('{home}/lake/raw/{interface}/batch_date=*/*.parquet', hive_partitioning = true, "
            "hive_types_autocast = false)")


def _pseudonym(value: object) -> str:
    return hmac.new(KEY.encode(), str(value).encode(), hashlib.sha256).hexdigest()


def _luhn_check_digit(body: str) -> int:
    """The Luhn check digit of a 14-digit IMEI body."""
    total = sum(int(c) if i % 2 == 0 else sum(divmod(2 * int(c), 10)) for i, c in enumerate(body))
    return (10 - total % 10) % 10



def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return run_vasmart(home, *args, key=KEY)


@dataclass
class Built:
    """The session's home, its marts, raw-zone extracts and the timings."""

    home: Path
    marts: dict[str, pd.DataFrame]
    columns: dict[str, list[tuple[str, str]]]
    manifest: dict
    run_results: dict
    seconds: dict[str, float]
    observations: pd.DataFrame  # IMEI_OBS rows attributed to the MSISDN's holder at last_seen (raw zone)
    observation_counts: pd.DataFrame  # per batch: rows, rows with an IMEISV, rows with a holder
    bills: pd.DataFrame  # BOSS_BILL (raw zone)
    tacs: pd.DataFrame  # REF_TAC, latest snapshot per TAC (raw zone)
    cohorts: pd.DataFrame  # (cohort month, users) from the month-end BOSS_USER snapshots (raw zone)


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Built:
    from vasmart.ingest import ingest_batch

    home = tmp_path_factory.mktemp("marts_handset_credit")
    seconds = {}
    started = time.perf_counter()
    gen = _cli(home, "generate", "--out", str(home), *GENERATE)
    assert gen.returncode == 0, gen.stderr[-3000:]
    seconds["generate"] = time.perf_counter() - started

    def plant_invalid_imeis(records: list[str]) -> list[str]:
        planted = []
        for record in records[:INVALID_IMEIS]:
            body = df.fields(record)[1][:14]
            bad = body + str((_luhn_check_digit(body) + 1) % 10)  # a wrong check digit
            planted.append(df.with_field(record, 1, bad))
        return records + planted

    df.rewrite_records(home / "landing", "IMEI_OBS", plant_invalid_imeis, batch=FAULTY_BATCH)

    started = time.perf_counter()
    settings = Settings(home=home)
    for batch in sorted(p.name for p in (home / "landing").iterdir() if p.is_dir()):
        ingest_batch(settings, home / "landing", batch, f"test-{batch}")
    seconds["ingest"] = time.perf_counter() - started

    started = time.perf_counter()
    build = _cli(home, "build", "--select", SELECT)
    seconds["build"] = time.perf_counter() - started
    assert build.returncode == 0, build.stderr[-3000:] + build.stdout[-3000:]

    holdings = f"""
        with ranked as (
            select msisdn, user_id, join_date, status, status_date,
                   row_number() over (partition by msisdn, user_id order by batch_date desc) as recency
            from {_raw(home, 'BOSS_USER')})
        select msisdn, user_id, cast(join_date as timestamp) as valid_from,
               case when status = 'CANCELLED' then cast(status_date + 1 as timestamp) end as valid_to
        from ranked where recency = 1"""
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        marts = {m: con.execute(f"select * from marts.{m}").df() for m in MARTS}
        columns = {m: con.execute("select column_name, data_type from information_schema.columns "
                                  "where table_schema = 'marts' and table_name = ? order by ordinal_position",
                                  [m]).fetchall() for m in MARTS}
        observations = con.execute(f"""
            with h as ({holdings})
            select h.user_id, o.imei, left(o.imei, 8) as tac, o.first_seen, o.last_seen
            from {_raw(home, 'IMEI_OBS')} as o
            join h on o.msisdn = h.msisdn and o.last_seen >= h.valid_from
                  and (h.valid_to is null or o.last_seen < h.valid_to)""").df()
        observation_counts = con.execute(f"""
            with h as ({holdings})
            select strptime(o.batch_date, '%Y%m%d')::date as batch_date, count(*) as n,
                   count(o.imeisv) as n_imeisv,
                   count(*) filter (where exists (
                       select 1 from h where o.msisdn = h.msisdn and o.last_seen >= h.valid_from
                         and (h.valid_to is null or o.last_seen < h.valid_to))) as n_matched
            from {_raw(home, 'IMEI_OBS')} as o group by 1""").df()
        bills = con.execute(f"select bill_month, user_id, overdue_days, arrears_fen, billed_fen "
                            f"from {_raw(home, 'BOSS_BILL')}").df()
        tacs = con.execute(f"""
            select tac, vendor, model, max_rat from {_raw(home, 'REF_TAC')}
            qualify row_number() over (partition by tac order by batch_date desc) = 1""").df()
        cohorts = con.execute(f"""
            with month_ends as (
                select distinct batch_date from {_raw(home, 'BOSS_USER')}
                where strptime(batch_date, '%Y%m%d')::date
                    = last_day(strptime(batch_date, '%Y%m%d')::date))
            select date_trunc('month', u.join_date)::date as cohort_month, count(*) as users
            from {_raw(home, 'BOSS_USER')} as u join month_ends using (batch_date)
            where date_trunc('month', u.join_date)
                = date_trunc('month', strptime(u.batch_date, '%Y%m%d')) - interval 1 month
            group by 1""").df()
    target = home / "dbt" / "target"
    return Built(home, marts, columns, json.loads((target / "manifest.json").read_text()),
                 json.loads((target / "run_results.json").read_text()), seconds, observations,
                 observation_counts, bills, tacs, cohorts)


# ------------------------------------------------------------------------------------------------ the build
def test_build_passes_with_the_unit_tests(built):
    results = built.run_results["results"]
    bad = [(r["unique_id"], r["status"], r["message"]) for r in results if r["status"] not in ("success", "pass")]
    assert not bad, bad
    unit = {r["unique_id"].rsplit(".", 1)[-1] for r in results if r["unique_id"].startswith("unit_test.")}
    for name in ("test_int_handset_changes_seven_consecutive_days", "test_int_credit_bills_aged_bucket_boundaries",
                 "test_fct_new_user_cohorts_mix_and_bad_rate"):
        assert name in unit, name
    assert {f"model.vasmart.{m}" for m in MARTS} <= {r["unique_id"] for r in results}
    print(f"\ngenerate {built.seconds['generate']:.1f} s, ingest {built.seconds['ingest']:.1f} s, "
          f"vasmart build --select {SELECT}: {built.seconds['build']:.1f} s, {len(results)} nodes")


def test_marts_are_public_under_contract_and_documented(built):
    for mart in MARTS:
        node = built.manifest["nodes"][f"model.vasmart.{mart}"]
        assert node["access"] == "public" and node["config"]["contract"]["enforced"] is True, mart
        assert node["config"]["materialized"] == "table" and node["schema"] == "marts", mart
        assert node["description"].strip(), mart
        assert list(node["columns"]) == [c for c, _ in built.columns[mart]], mart
        assert all(c["description"].strip() and c["data_type"] for c in node["columns"].values()), mart


def test_marts_carry_no_personal_data(built):
    for mart in MARTS:
        assert not {c for c, _ in built.columns[mart]} & NOT_PUBLISHED, mart
    assert built.marts["fct_handset_change"]["user_pseudonym"].str.fullmatch(r"[0-9a-f]{64}").all()


# ------------------------------------------------------------------------------------------------ handset
def _longest_runs(days: set[dt.date]) -> tuple[int, dt.date | None]:
    """Longest run of consecutive days, and the first day of the first run of 7 or more."""
    longest, first_stable, run, start, previous = 0, None, 0, None, None
    for day in sorted(days):
        run, start = (run + 1, start) if previous and day - previous == dt.timedelta(days=1) else (1, day)
        previous = day
        longest = max(longest, run)
        if run == 7 and first_stable is None:
            first_stable = start
    return longest, first_stable


def _expected_changes(built: Built) -> pd.DataFrame:
    """Every handset change recomputed from the raw zone, with its stability."""
    rows = []
    obs = built.observations.sort_values(["user_id", "first_seen", "last_seen", "imei"])
    for user_id, user_obs in obs.groupby("user_id", sort=False):
        islands: list[dict] = []
        for r in user_obs.itertuples(index=False):
            if not islands or islands[-1]["imei"] != r.imei:
                islands.append({"imei": r.imei, "tac": r.tac, "from": r.first_seen, "days": set()})
            islands[-1]["days"] |= {r.first_seen.date(), r.last_seen.date()}
        for n, (old, new) in enumerate(itertools.pairwise(islands), start=2):
            longest, stable_start = _longest_runs(new["days"])
            rows.append({"user_pseudonym": _pseudonym(user_id), "handset_version_number": n,
                         "change_date": new["from"].date(), "old_tac": old["tac"], "new_tac": new["tac"],
                         "longest_run_days": longest, "stable_run_start_date": stable_start})
    return pd.DataFrame(rows)


def test_stable_changes_equal_the_recomputation_from_the_raw_zone(built):
    expected = _expected_changes(built)
    stable = expected[expected["stable_run_start_date"].notna()]
    mart = built.marts["fct_handset_change"]
    key = ["user_pseudonym", "handset_version_number"]
    cols = [*key, "change_date", "old_tac", "new_tac", "longest_run_days", "stable_run_start_date"]
    mine = mart.assign(change_date=pd.to_datetime(mart["change_date"]).dt.date,
                       stable_run_start_date=pd.to_datetime(mart["stable_run_start_date"]).dt.date)[cols]
    want = stable[cols]
    assert sorted(map(tuple, mine.to_numpy().tolist())) == sorted(map(tuple, want.to_numpy().tolist()))
    assert (pd.to_datetime(mart["stable_date"]) - pd.to_datetime(mart["stable_run_start_date"])
            == pd.Timedelta(days=6)).all()
    # the daily batches hold both outcomes: changes that reached 7 consecutive days and changes that did not
    daily = expected[expected["change_date"] >= FIRST_DAILY]
    print(f"\n{len(expected)} changes, {len(stable)} stable; in the daily batches {len(daily)}, "
          f"{daily['stable_run_start_date'].notna().sum()} stable")
    assert daily["stable_run_start_date"].notna().any() and daily["stable_run_start_date"].isna().any()


def test_stable_changes_describe_the_models_from_the_catalogue(built):
    mart = built.marts["fct_handset_change"]
    tacs = built.tacs.set_index("tac")
    for side in ("old", "new"):
        known = mart[mart[f"{side}_tac"].isin(tacs.index)]
        assert len(known) == len(mart), side
        ref = tacs.loc[known[f"{side}_tac"]]
        assert known[f"{side}_vendor_name"].tolist() == ref["vendor"].tolist(), side
        assert known[f"{side}_model_name"].tolist() == ref["model"].tolist(), side
        assert known[f"{side}_max_rat"].tolist() == ref["max_rat"].tolist(), side
        assert mart[f"{side}_has_mms"].notna().all() and mart[f"{side}_has_wap"].notna().all(), side


def test_imei_quality_counts_equal_the_raw_zone(built):
    mart = built.marts["fct_imei_quality"].assign(batch_date=lambda d: pd.to_datetime(d["batch_date"]).dt.date)
    raw = built.observation_counts.assign(batch_date=lambda d: pd.to_datetime(d["batch_date"]).dt.date)
    joined = mart.merge(raw, on="batch_date", how="outer", validate="1:1", indicator=True)
    assert (joined["_merge"] == "both").all()
    assert (joined["observation_count"] == joined["n"]).all()
    assert (joined["imeisv_observation_count"] == joined["n_imeisv"]).all()
    assert (joined["matched_observation_count"] == joined["n_matched"]).all()
    # clean generated data: every observation finds its subscriber, every TAC catalogued; only the planted
    # invalid IMEIs are rejected
    assert (mart["user_match_rate"] == 1.0).all()
    faulty = mart["batch_date"] == dt.datetime.strptime(FAULTY_BATCH, "%Y%m%d").date()
    assert mart.loc[faulty, ["invalid_imei_count", "rejected_record_count"]].to_numpy().tolist() == [
        [INVALID_IMEIS, INVALID_IMEIS]]
    share = INVALID_IMEIS / (mart.loc[faulty, "observation_count"].iloc[0] + INVALID_IMEIS)
    assert abs(mart.loc[faulty, "invalid_imei_share"].iloc[0] - share) < 1e-12
    assert (mart.loc[~faulty, "rejected_record_count"] == 0).all()
    assert (mart.loc[~faulty, "invalid_imei_share"] == 0).all()
    assert (mart["unknown_tac_rate"] == 0).all()
    assert mart["imeisv_share"].between(0.005, 0.2).all()
    mix = mart["rat_2g_handset_share"] + mart["rat_3g_handset_share"] + mart["rat_4g_handset_share"]
    assert ((mix - 1).abs() < 1e-9).all()
    assert (mart["known_tac_handset_count"] == mart["active_handset_count"]).all()


# ------------------------------------------------------------------------------------------------ credit
def _bucket(days: int) -> str:
    return "0" if days <= 0 else "1-29" if days < 30 else "30-59" if days < 60 else "60-89" if days < 90 else "90+"


def test_arrears_aging_sums_to_the_bills(built):
    mart = built.marts["fct_arrears_aging"]
    mart = mart.assign(month=pd.to_datetime(mart["bill_month"]).dt.strftime("%Y%m"))
    bills = built.bills.assign(aging_bucket=built.bills["overdue_days"].map(_bucket))
    per_month = mart.groupby("month")[["bill_count", "arrears_fen", "billed_fen"]].sum()
    raw = bills.groupby("bill_month").agg(bill_count=("user_id", "size"), arrears_fen=("arrears_fen", "sum"),
                                          billed_fen=("billed_fen", "sum"))
    assert per_month.sort_index().to_dict() == raw.sort_index().to_dict()
    per_bucket = mart.groupby(["month", "aging_bucket"])["bill_count"].sum()
    raw_bucket = bills.groupby(["bill_month", "aging_bucket"]).size()
    assert per_bucket.to_dict() == raw_bucket.to_dict()
    assert (mart["arrears_bill_count"] <= mart["bill_count"]).all()
    assert set(mart["aging_bucket"]) >= {"0", "90+"}


def test_new_user_cohorts_equal_the_month_end_snapshots(built):
    mart = built.marts["fct_new_user_cohorts"]
    per_cohort = mart.groupby(pd.to_datetime(mart["cohort_month"]).dt.date)
    assert (per_cohort["user_count"].sum() == per_cohort["cohort_user_count"].first()).all()
    assert ((per_cohort["segment_share"].sum() - 1).abs() < 1e-9).all()
    raw = dict(zip(pd.to_datetime(built.cohorts["cohort_month"]).dt.date, built.cohorts["users"], strict=True))
    assert per_cohort["user_count"].sum().to_dict() == raw
    assert mart.loc[~mart["is_label_observable"], "bad_rate"].isna().all()
    assert (mart["bad_bill_user_count"] <= mart["user_count"]).all()
