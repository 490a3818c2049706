"""`vasmart generate --continue-days`: a small delivery continued from the campaign lists in its campaign
database, read back with the spec reader (tests/landing_reader.py), independently of the generator.

Same settings and lists give the same bytes; only contacted (TARGET) users respond, each response is in the
new batches as the source systems deliver it (an order of the offered service at the response time, a plan
change in the BOSS_USER snapshots from that day); a landing area that the replay does not reproduce, or
one without a generation record, is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import shutil
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
from landing_reader import Landing
from vasmart_cli import run_vasmart

from vasmart.campaigns.writeback import CampaignDatabase

KEY = "vasmart-continue-test-key-3e1a"
END = "20260310"
GENERATE = ["--users", "600", "--months", "2", "--days", "3", "--end-date", END, "--seed", "5", "--workers", "1"]
RUN_DATE = dt.date(2026, 3, 10)
UPLIFT = 0.5


def _cli(home: Path, *args: str):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VASMART_CAMPAIGN_DB")}
    with mock.patch.dict(os.environ, clean, clear=True):
        return run_vasmart(home, *args, key=KEY)


def _pseudonym(value: object) -> str:
    return hmac.new(KEY.encode(), str(value).encode(), hashlib.sha256).hexdigest()


def _run(campaign: str, kind: str, match: str | None, target: int, holdout: int) -> dict:
    return {"campaign": campaign, "run_date": RUN_DATE, "title": campaign, "purpose": "promotion",
            "offer_kind": "plan" if kind == "plan_migration" else "vas_service", "conversion_kind": kind,
            "conversion_match": match, "response_window_days": 4, "holdout_share": 0.3, "holdout_seed": 1,
            "target_count": target, "holdout_count": holdout, "definition_sha256": "0" * 64, "criteria": "{}",
            "built_at": dt.datetime(2026, 3, 11)}


@pytest.fixture(scope="module")
def delivered(tmp_path_factory) -> Path:
    """A generated delivery with two written-back lists (a 手机报 offer, a plan migration) in campaign.db."""
    home = tmp_path_factory.mktemp("continue") / "a"
    home.mkdir()
    result = _cli(home, "generate", "--out", str(home), *GENERATE)
    assert result.returncode == 0, result.stderr
    users = Landing(home / "landing").frame(END, "BOSS_USER")
    normal = users[(users["status"] == "NORMAL")].sort_values("user_id").reset_index(drop=True)
    db = CampaignDatabase(None, home / "campaign.db")
    paper = normal.head(300)
    rows = pd.DataFrame({"campaign": "paper", "run_date": RUN_DATE,
                         "user_pseudonym": [_pseudonym(u) for u in paper["user_id"]], "score": 0.5,
                         "rank": range(1, 301), "reason_codes": "[]", "channel": "MMS", "offer": "SJBTY",
                         "group": ["HOLDOUT" if i % 3 == 0 else "TARGET" for i in range(300)]})
    db.write_list(_run("paper", "stable_vas_order", "service", 200, 100), rows, set())
    movers = normal[normal["plan_code"] == "EO010"].head(100)
    rows = pd.DataFrame({"campaign": "plan", "run_date": RUN_DATE,
                         "user_pseudonym": [_pseudonym(u) for u in movers["user_id"]], "score": 1.0,
                         "rank": range(1, len(movers) + 1), "reason_codes": "[]", "channel": "SMS", "offer": "EO018",
                         "group": ["HOLDOUT" if i % 4 == 0 else "TARGET" for i in range(len(movers))]})
    db.write_list(_run("plan", "plan_migration", None, len(movers) * 3 // 4, len(movers) // 4), rows, set())
    return home


@pytest.fixture(scope="module")
def continued(delivered, tmp_path_factory) -> tuple[Path, Path]:
    """The delivery continued by 5 days twice, in two copies."""
    homes = []
    for name in ("b", "c"):
        home = tmp_path_factory.getbasetemp() / f"continued_{name}"
        shutil.copytree(delivered, home)
        result = _cli(home, "generate", "--out", str(home), "--continue-days", "5", "--campaign-uplift", str(UPLIFT))
        assert result.returncode == 0, result.stderr
        assert "continued after 20260310: 5 daily batches 20260311..20260315" in result.stdout
        homes.append(home)
    return homes[0], homes[1]


def _digests(home: Path) -> dict[str, str]:
    return {str(p.relative_to(home)): hashlib.md5(p.read_bytes()).hexdigest()
            for sub in ("landing", "truth", "synth") for p in sorted((home / sub).rglob("*")) if p.is_file()}


def test_same_settings_and_lists_give_the_same_bytes_and_old_batches_stay(delivered, continued):
    first, second = continued
    assert _digests(first) == _digests(second)
    before = {k: v for k, v in _digests(delivered).items() if k.startswith("landing/")}
    after = _digests(first)
    assert all(after[k] == v for k, v in before.items())
    new = sorted({k.split("/")[1] for k in after if k.startswith("landing/")} - {k.split("/")[1] for k in before})
    assert new == ["20260311", "20260312", "20260313", "20260314", "20260315"]
    record = json.loads((first / "synth" / "generation.json").read_text())
    assert record["continuations"] == [{"after": END, "days": 5, "uplift": UPLIFT, "contacts": f"contacts_{END}.csv"}]


def test_every_new_batch_is_complete_and_reads_back(continued):
    landing = Landing(continued[0] / "landing")
    for batch in ("20260311", "20260315"):
        for interface in landing.interfaces_in(batch):
            entries = landing.chk(batch, interface)
            assert sum(e.record_count for e in entries) == landing.table(batch, interface).num_rows
        assert landing.table(batch, "BOSS_USER").num_rows > 500
        assert landing.table(batch, "CDR_VOICE").num_rows > 1000


def test_only_contacted_users_respond_as_the_source_systems_show(continued):
    home = continued[0]
    contacts = pd.read_csv(home / "synth" / f"contacts_{END}.csv")
    truth = pd.read_csv(home / "truth" / f"response_{END}.csv", dtype={"responded_at": str})
    db = CampaignDatabase(None, home / "campaign.db").read_lists()
    group = {(c, p): g for c, p, g in zip(db["campaign"], db["user_pseudonym"], db["group"], strict=True)}
    assert len(contacts) == (db["group"] == "TARGET").sum()
    assert all(group[(c, _pseudonym(u))] == "TARGET" for c, u in zip(truth["campaign"], truth["user_id"], strict=True))
    paper = truth[truth["campaign"] == "paper"]
    # about half of the 200 contacted respond (fewer where they held or ordered the service anyway)
    assert 60 <= len(paper) <= 130
    landing = Landing(home / "landing")
    orders = pd.concat([landing.frame(b, "BOSS_VAS_ORDER") for b in ("20260311", "20260312", "20260313",
                                                                   "20260314", "20260315")])
    placed = set(zip(orders["user_id"], orders["service_code"], orders["action"], orders["op_time"], strict=True))
    for user, at in zip(paper["user_id"], paper["responded_at"], strict=True):
        assert (str(user), "SJBTY", "1", at) in placed
    window_end = "20260315"  # run date + 1 + 4 days: responses fall inside the window
    assert paper["responded_at"].str[:8].between("20260311", window_end).all()
    plan = truth[truth["campaign"] == "plan"]
    assert len(plan) > 10
    for user, at in zip(plan["user_id"], plan["responded_at"], strict=True):
        day = at[:8]
        now = landing.frame(day, "BOSS_USER").set_index("user_id").loc[str(user), "plan_code"]
        before = landing.frame(END, "BOSS_USER").set_index("user_id").loc[str(user), "plan_code"]
        assert (before, now) == ("EO010", "EO018")


def test_a_second_continuation_replays_the_first(continued):
    home = continued[1]
    before = _digests(home)
    result = _cli(home, "generate", "--out", str(home), "--continue-days", "2", "--campaign-uplift", str(UPLIFT))
    assert result.returncode == 0, result.stderr
    after = _digests(home)
    assert all(after[k] == v for k, v in before.items() if not k.startswith("synth/"))
    assert {k.split("/")[1] for k in after if k.startswith("landing/2026031")} >= {"20260316", "20260317"}


def test_a_landing_area_the_replay_does_not_reproduce_is_refused(delivered, tmp_path):
    home = tmp_path / "tampered"
    shutil.copytree(delivered, home)
    chk = home / "landing" / END / f"BOSS_USER_{END}.chk"
    fields = chk.read_text(encoding="utf-8").split("|")
    fields[2] = str(int(fields[2]) + 1)
    chk.write_text("|".join(fields), encoding="utf-8")
    result = _cli(home, "generate", "--out", str(home), "--continue-days", "1")
    assert result.returncode == 1
    assert f"landing/{END} BOSS_USER:" in result.stderr and "the replay gives" in result.stderr
    assert not (home / "landing" / "20260311").exists() or not any((home / "landing" / "20260311").glob("*.chk"))


def test_continuing_needs_a_generation_record(tmp_path):
    result = _cli(tmp_path, "generate", "--out", str(tmp_path), "--continue-days", "1")
    assert result.returncode == 1 and "synth/generation.json is missing" in result.stderr
