"""Write-back to the campaign database, against SQLite and against the real PostgreSQL server `.ci/postgres`
starts (`make test` exports its URL as VASMART_TEST_PG_URL; without it these tests fail, they never skip).

Each PostgreSQL test writes into a schema of its own, dropped afterwards, so parallel runs never collide.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import uuid

import pandas as pd
import psycopg
import pytest

from vasmart.campaigns.writeback import CampaignDatabase, WriteBackError
from vasmart.config import Settings

RUN_DATE = dt.date(2026, 11, 20)


def _list(n: int, holdout_every: int = 10, prefix: str = "u") -> pd.DataFrame:
    return pd.DataFrame({
        "campaign": "newspaper_acquisition", "run_date": RUN_DATE,
        "user_pseudonym": [f"{prefix}{i:04d}" for i in range(n)], "score": [1.0 - i / n for i in range(n)],
        "rank": range(1, n + 1), "reason_codes": '["truth:p"]', "channel": "MMS", "offer": "SJBXW",
        "group": ["HOLDOUT" if i % holdout_every == 0 else "TARGET" for i in range(n)],
    })


def _run(target: int, holdout: int) -> dict:
    return {"campaign": "newspaper_acquisition", "run_date": RUN_DATE, "title": "手机报 acquisition",
            "purpose": "promotion", "offer_kind": "vas_service", "conversion_kind": "stable_vas_order",
            "conversion_match": "product_line", "response_window_days": 14, "holdout_share": 0.1,
            "holdout_seed": 42, "target_count": target, "holdout_count": holdout, "definition_sha256": "0" * 64,
            "criteria": '{"name": "newspaper_acquisition"}', "built_at": dt.datetime(2026, 11, 21, 1, 0)}


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    if request.param == "sqlite":
        yield CampaignDatabase(None, tmp_path / "campaign.db")
        return
    url = os.environ.get("VASMART_TEST_PG_URL")
    if not url:
        pytest.fail("VASMART_TEST_PG_URL is not set: start the server with .ci/postgres and export the URL it "
                    "prints (make test does both)")
    schema = f"wb_{uuid.uuid4().hex[:12]}"
    yield CampaignDatabase(url, tmp_path / "unused.db", schema)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _rows(db: CampaignDatabase, sql: str) -> list[tuple]:
    if db.is_postgres:
        with psycopg.connect(db.url) as conn:
            conn.execute(f'SET search_path TO "{db.schema}"')
            return conn.execute(sql).fetchall()
    with sqlite3.connect(db.sqlite_path) as conn:
        return conn.execute(sql).fetchall()


def test_rerunning_a_write_back_replaces_the_list_and_never_duplicates(database):
    rows = _list(200)
    first = database.write_list(_run(180, 20), rows, set())
    assert (first.target_rows, first.holdout_rows, first.dropped_do_not_disturb) == (180, 20, 0)
    second = database.write_list(_run(180, 20), rows, set())
    assert second == first
    assert _rows(database, 'SELECT "group", count(*) FROM target_list GROUP BY 1 ORDER BY 1') == [
        ("HOLDOUT", 20), ("TARGET", 180)]
    assert _rows(database, "SELECT count(*) FROM campaign_run") == [(1,)]
    # a smaller rerun of the same (campaign, run_date) replaces the list, another date adds one
    database.write_list(_run(45, 5), _list(50), set())
    assert _rows(database, "SELECT count(*) FROM target_list") == [(50,)]
    later = _list(30).assign(run_date=RUN_DATE + dt.timedelta(days=1))
    database.write_list({**_run(27, 3), "run_date": RUN_DATE + dt.timedelta(days=1)}, later, set())
    assert _rows(database, "SELECT count(*), count(DISTINCT run_date) FROM target_list") == [(80, 2)]


def test_do_not_disturb_users_are_dropped_at_the_door(database):
    rows = _list(100)
    dnd = {"u0003", "u0010", "u0099", "not-on-the-list"}
    result = database.write_list(_run(90, 10), rows, dnd)
    assert result.dropped_do_not_disturb == 3
    written = {r[0] for r in _rows(database, "SELECT user_pseudonym FROM target_list")}
    assert len(written) == 97 and not written & dnd


def test_a_failed_write_back_leaves_the_previous_list(database):
    database.write_list(_run(90, 10), _list(100), set())
    broken = _list(100, prefix="v")
    broken.loc[57, "group"] = "MAYBE"  # refused by the table's check: the whole write must roll back
    with pytest.raises(Exception) as caught:
        database.write_list(_run(90, 10), broken, set())
    assert "check" in str(caught.value).lower() or "constraint" in str(caught.value).lower()
    written = _rows(database, "SELECT user_pseudonym FROM target_list ORDER BY 1")
    assert len(written) == 100 and written[0][0] == "u0000"


def test_lists_read_back_with_their_run(database):
    database.write_list(_run(90, 10), _list(100), {"u0001"})
    lists = database.read_lists(RUN_DATE)
    assert len(lists) == 99
    assert set(lists["group"]) == {"TARGET", "HOLDOUT"}
    assert (lists["conversion_kind"] == "stable_vas_order").all() and (lists["response_window_days"] == 14).all()
    assert lists["run_date"].iloc[0] == RUN_DATE
    assert database.read_lists(RUN_DATE + dt.timedelta(days=1)).empty


def test_the_database_is_chosen_by_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("VASMART_CAMPAIGN_DB_URL", raising=False)
    settings = Settings(home=tmp_path)
    assert CampaignDatabase.from_env(settings).sqlite_path == tmp_path / "campaign.db"
    assert not CampaignDatabase.from_env(settings).is_postgres
    monkeypatch.setenv("VASMART_CAMPAIGN_DB_URL", "postgresql://u:secret@127.0.0.1:1/nowhere")
    monkeypatch.setenv("VASMART_CAMPAIGN_DB_SCHEMA", "elsewhere")
    db = CampaignDatabase.from_env(settings)
    assert db.is_postgres and db.schema == "elsewhere"
    assert "secret" not in db.describe()
    with pytest.raises(WriteBackError, match=r"campaign database postgresql 127\.0\.0\.1:1/nowhere"):
        db.write_list(_run(1, 0), _list(1), set())
