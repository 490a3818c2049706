"""The closed loop on the shared home's copy: a 手机报 list is built and written back, the generator continues the
landing area for 14 days reading the written-back list (contacted users respond with a configured uplift of
0.08), the new batches are loaded and built, and `marts.fct_campaign_response` measures the uplift.

Sized to be decidable: 2,500 users listed, 30% held out (1,750 TARGET, 750 HOLDOUT); the uplift's 95%
interval is then about ±0.025 wide, against a configured 0.08. Conversions are recomputed from the raw zone
(orders of a 手机报 edition kept past 72 hours, by the user's internal id) and the interval from the counts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import os
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import duckdb
import pandas as pd
import pytest
import yaml
from model_homes import copy_of_trained_home, trained_home
from vasmart_cli import run_vasmart

from vasmart.campaigns.config import DEFINITIONS_DIR
from vasmart.config import Settings
from vasmart.ingest import ingest_batch

UPLIFT = 0.08
DAYS = 14
RUN_DATE = dt.date(2026, 11, 20)
Z = 1.959963984540054


def _raw(home: Path, interface: str) -> str:
    return (f"read_parquet('{home}/lake/raw/{interface}/batch_date=*/*.parquet', hive_partitioning = true, "
            "hive_types_autocast = false)")


def _cli(home: Path, key: str, *args: str):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VASMART_CAMPAIGN_DB")}
    with mock.patch.dict(os.environ, clean, clear=True):
        return run_vasmart(home, *args, key=key, timeout=1800)


def _wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return centre - half, centre + half


def newcombe(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """Newcombe's hybrid score interval (method 10) for p1 - p2."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = _wilson(k1, n1)
    l2, u2 = _wilson(k2, n2)
    return (p1 - p2 - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), p1 - p2 + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def test_newcombe_reference_matches_the_published_example():
    # Newcombe (1998), table II, example (a): 56/70 vs 48/80 -> 0.2000 (0.0524, 0.3339)
    low, high = newcombe(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


@pytest.fixture(scope="module")
def loop(pipeline, tmp_path_factory) -> SimpleNamespace:
    # the 手机报 list ranks by the propensity model trained and scored on the shared home's marts
    built = copy_of_trained_home(trained_home(tmp_path_factory, pipeline), tmp_path_factory.mktemp("closed_loop") / "home")
    home, key = built.home, built.key
    definitions = home / "definitions"
    definitions.mkdir()
    data = yaml.safe_load((DEFINITIONS_DIR / "newspaper_acquisition.yaml").read_text(encoding="utf-8"))
    data["target"] = {"top_n": 2500}
    data["holdout"] = {"share": 0.3, "score_bands": 10}
    (definitions / "newspaper_acquisition.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    built_list = _cli(home, key, "campaigns", "--definitions", str(definitions))
    assert built_list.returncode == 0, built_list.stderr

    continued = _cli(home, key, "generate", "--out", str(home), "--continue-days", str(DAYS),
                     "--campaign-uplift", str(UPLIFT), "--workers", "1")
    assert continued.returncode == 0, continued.stderr
    settings = Settings(home=home)
    new = sorted(p.name for p in (home / "landing").iterdir() if p.is_dir() and p.name > f"{RUN_DATE:%Y%m%d}")
    for batch in new:
        ingest_batch(settings, home / "landing", batch, f"loop-{batch}")
    build = _cli(home, key, "build", "--select", "+fct_campaign_response")
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-2000:]
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        response = con.execute("select * from marts.fct_campaign_response").df()
        lists = con.execute("select * from campaigns.target_list").df()
        users = con.execute(f"select distinct user_id from {_raw(home, 'BOSS_USER')}").df()
        orders = con.execute(f"""
            select o.user_id, o.service_code, o.action, o.op_time as at
            from {_raw(home, 'BOSS_VAS_ORDER')} o
            where o.service_code in (select service_code from {_raw(home, 'REF_SERVICE')}
                                     where product_line = 'MOBILE_NEWSPAPER')
        """).df()
    by_pseudonym = {hmac.new(key.encode(), str(u).encode(), hashlib.sha256).hexdigest(): u for u in users["user_id"]}
    lists["user_id"] = lists["user_pseudonym"].map(by_pseudonym)
    truth = pd.read_csv(home / "truth" / f"response_{RUN_DATE:%Y%m%d}.csv")
    return SimpleNamespace(home=home, new=new, response=response, lists=lists, orders=orders, truth=truth,
                           stdout=continued.stdout)


def test_the_generator_continued_from_the_written_back_list(loop):
    assert loop.new == [f"{RUN_DATE + dt.timedelta(days=i):%Y%m%d}" for i in range(1, DAYS + 1)]
    targets = loop.lists.loc[loop.lists["group"] == "TARGET", "user_id"]
    assert "1750 campaign contacts" in loop.stdout
    # ground truth: only contacted users were made to respond, about UPLIFT of them (some would have
    # ordered anyway or left, so at most that)
    assert set(loop.truth["user_id"]) <= set(targets)
    assert not set(loop.truth["user_id"]) & set(loop.lists.loc[loop.lists["group"] == "HOLDOUT", "user_id"])
    expected = UPLIFT * len(targets)
    assert expected - 4 * math.sqrt(expected) < len(loop.truth) <= expected + 4 * math.sqrt(expected)


def test_measured_uplift_has_the_right_sign_and_covers_the_configured_one(loop):
    row = loop.response.set_index("campaign").loc["newspaper_acquisition"]
    assert row["target_user_count"] == 1750 and row["holdout_user_count"] == 750
    assert bool(row["is_window_closed"])
    assert pd.Timestamp(row["data_through_date"]) == pd.Timestamp(RUN_DATE + dt.timedelta(days=DAYS))
    assert row["uplift"] > 0 and row["uplift_ci_low"] > 0 and bool(row["is_uplift_significant"])
    assert row["uplift_ci_low"] <= UPLIFT <= row["uplift_ci_high"]
    assert row["uplift_ci_high"] - row["uplift_ci_low"] < 0.07


def test_conversions_and_interval_agree_with_the_raw_zone(loop):
    start = pd.Timestamp(RUN_DATE + dt.timedelta(days=1))
    end = start + pd.Timedelta(days=14)
    orders = loop.orders
    placed = orders[(orders["action"] == "1") & (orders["at"] >= start) & (orders["at"] < end)]
    cancels = orders[orders["action"] == "2"]
    merged = placed.merge(cancels, on=["user_id", "service_code"], how="left", suffixes=("", "_cancel"))
    quick = (merged["at_cancel"] >= merged["at"]) & (merged["at_cancel"] <= merged["at"] + pd.Timedelta(hours=72))
    quick_orders = set(map(tuple, merged.loc[quick, ["user_id", "service_code", "at"]].to_numpy()))
    stable = {u for u, s, t in placed[["user_id", "service_code", "at"]].itertuples(index=False)
              if (u, s, t) not in quick_orders}
    lists = loop.lists
    counts = {g: (int(lists.loc[lists["group"] == g, "user_id"].isin(stable).sum()), int((lists["group"] == g).sum()))
              for g in ("TARGET", "HOLDOUT")}
    row = loop.response.set_index("campaign").loc["newspaper_acquisition"]
    assert (row["target_converted_count"], row["holdout_converted_count"]) == (counts["TARGET"][0],
                                                                              counts["HOLDOUT"][0])
    low, high = newcombe(*counts["TARGET"], *counts["HOLDOUT"])
    assert row["uplift_ci_low"] == pytest.approx(low, abs=1e-12)
    assert row["uplift_ci_high"] == pytest.approx(high, abs=1e-12)
    assert row["uplift"] == pytest.approx(counts["TARGET"][0] / counts["TARGET"][1]
                                          - counts["HOLDOUT"][0] / counts["HOLDOUT"][1], abs=1e-12)


def test_the_report_shows_the_measured_uplift(loop):
    result = run_vasmart(loop.home, "campaign-report", "--campaign", "newspaper_acquisition")
    assert result.returncode == 0, result.stderr
    directory = loop.home / "reports" / "campaigns" / "newspaper_acquisition"
    page = (directory / "index.html").read_text(encoding="utf-8")
    assert (directory / "uplift.png").stat().st_size > 1000
    assert "Response and uplift" in page and "uplift_ci_low" in page
