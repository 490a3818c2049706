"""The charging and reconciliation marts on generated data.

fct_vas_order_charges (the Monternet monthly-subscription rule, interface spec §5) is checked against what the
generator billed, BASS_VAS_USAGE.fee_fen of the fee_type '03' services; fct_usage_reconciliation (BASS_USAGE
against the aggregation of the CDR detail, spec §4) must be empty on consistent data and show exactly one
break when one BASS_USAGE value is changed.

One session home: `vasmart generate --users 300 --months 2 --days 3 --end-date 20260602 --seed 3` gives the
history batches 20260331 and 20260430 and the daily batches 20260531 (covering 1-31 May), 20260601 and
20260602, so May 2026 is fully covered by CDR detail and June is not. Every batch is loaded as `vasmart
ingest` loads it (in-process, as the foundation test does), then `vasmart build` builds the two marts and
everything upstream, with their data and unit tests. The planted break is made on a copy of the home.

"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from vasmart_cli import run_vasmart

from vasmart.config import Settings
from vasmart.ingest import ingest_batch

TEST_KEY = "vasmart-test-pseudonym-key-3c0d5a71"
GENERATE = ["--users", "300", "--months", "2", "--days", "3", "--end-date", "20260602", "--seed", "3"]
SELECT = "+fct_vas_order_charges +fct_usage_reconciliation"
MY_MODELS = {
    "int_vas_order_charges_decided": "intermediate", "fct_vas_order_charges": "marts",
    "int_usage_from_cdrs_aggregated": "intermediate", "int_usage_from_cdrs_coverage": "intermediate",
    "fct_usage_reconciliation": "marts",
}
CLAUSES = {"HELD_CHARGED", "HELD_QUICK_CANCEL", "HELD_CHARGE_FAILED", "FIRST_EARLY_CHARGED",
           "FIRST_EARLY_QUICK_CANCEL", "FIRST_LATE_FREE", "REORDER_EARLY_CHARGED", "REORDER_LATE_CHARGED",
           "REORDER_LATE_FREE"}
MEASURES = ["voice_calls", "voice_moc_calls", "voice_seconds", "distinct_contacts", "sms_mo", "sms_mt",
            "gprs_sessions", "gprs_kb", "active_days"]
PERSONAL = {"msisdn", "other_party", "imei", "imeisv", "customer_name", "cust_name", "complaint_text", "content"}



def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return run_vasmart(home, *args, key=TEST_KEY)


def _pseudonym(user_id: int) -> str:
    return hmac.new(TEST_KEY.encode(), str(user_id).encode(), hashlib.sha256).hexdigest()


def _raw(home: Path, interface: str) -> str:
    return (f"read_parquet('{home}/lake/raw/{interface}/batch_date=*/*.parquet', hive_partitioning = true,"
            " hive_types_autocast = false)")


@dataclass
class Home:
    """The session's VASMART_HOME and how long each step took."""

    home: Path
    batches: list[str]
    seconds: dict[str, float] = field(default_factory=dict)
    build: subprocess.CompletedProcess | None = None

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.home / "warehouse.duckdb"), read_only=True)

    def raw(self, interface: str) -> str:
        return _raw(self.home, interface)


def _timed(state: Home, step: str, proc: subprocess.CompletedProcess, started: float) -> None:
    state.seconds[step] = state.seconds.get(step, 0.0) + time.perf_counter() - started
    assert proc.returncode == 0, f"{step}: {proc.stderr[-3000:]}{proc.stdout[-3000:]}"


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Home:
    home = tmp_path_factory.mktemp("marts_charging_reconciliation")
    state = Home(home, [])
    started = time.perf_counter()
    _timed(state, "generate", _cli(home, "generate", "--out", str(home), *GENERATE), started)
    state.batches = sorted(p.name for p in (home / "landing").iterdir() if p.is_dir())
    assert state.batches == ["20260331", "20260430", "20260531", "20260601", "20260602"], state.batches
    started = time.perf_counter()
    settings = Settings(home=home)
    for batch in state.batches:  # what `vasmart ingest --batch <batch>` runs, in-process
        result = ingest_batch(settings, home / "landing", batch, f"test-{batch}")
        assert result.status == "LOADED", (batch, result)
    state.seconds["ingest"] = time.perf_counter() - started
    started = time.perf_counter()
    state.build = _cli(home, "build", "--select", SELECT)
    _timed(state, "build", state.build, started)
    print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in state.seconds.items()))
    return state


# ------------------------------------------------------------------------------------------------ the build
def test_build_runs_the_marts_their_tests_and_unit_tests(built):
    out = built.build.stdout
    assert "ERROR=0" in out and "WARN=0" in out, out[-3000:]
    target = built.home / "dbt" / "target"
    results = json.loads((target / "run_results.json").read_text())["results"]
    assert {r["status"] for r in results} <= {"success", "pass"}
    ran = {r["unique_id"] for r in results}
    for model in MY_MODELS:
        assert f"model.vasmart.{model}" in ran, model
    unit_tests = {uid.split(".")[-1] for uid in ran if uid.startswith("unit_test.")}
    mine = {u for u in unit_tests if any(m in u for m in ("vas_order_charges", "usage_from_cdrs", "usage_reconciliation"))}
    assert len(mine) >= 11, sorted(mine)


def test_marts_are_public_contracted_and_described(built):
    manifest = json.loads((built.home / "dbt" / "target" / "manifest.json").read_text())
    with built.connect() as con:
        for model, schema in MY_MODELS.items():
            node = manifest["nodes"][f"model.vasmart.{model}"]
            assert node["schema"] == schema and node["description"].strip(), model
            actual = [r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
                "order by ordinal_position", [schema, model]).fetchall()]
            assert actual and set(actual) == set(node["columns"]), (model, set(actual) ^ set(node["columns"]))
            assert all(c["description"].strip() and "{{" not in c["description"] for c in node["columns"].values())
            assert not set(actual) & PERSONAL, model
            if schema == "marts":
                assert node["access"] == "public" and node["contract"]["enforced"] is True, model
                assert node["config"]["materialized"] == "table"
                assert all(c["data_type"] for c in node["columns"].values()), model


def test_unit_tests_decide_every_clause(built):
    """Every clause code of the charging rule is the expected outcome of at least one unit test."""
    manifest = json.loads((built.home / "dbt" / "target" / "manifest.json").read_text())
    expected = set()
    for test in manifest["unit_tests"].values():
        if test["model"] == "int_vas_order_charges_decided":
            expected |= {row["charge_clause"] for row in test["expect"]["rows"] if "charge_clause" in row}
    assert expected == CLAUSES, CLAUSES - expected


# ------------------------------------------------------------------------------------------------ charging
def test_every_monthly_order_has_its_month_decided(built):
    with built.connect() as con:
        orders = con.execute(f"""
            with services as (
                select distinct service_code from {built.raw('REF_SERVICE')} where fee_type = '03')
            select distinct user_id, service_code, strftime(op_time, '%Y%m')
            from {built.raw('BOSS_VAS_ORDER')} join services using (service_code)
            where action = '1'""").fetchall()
        keys = set(con.execute("select user_pseudonym, service_code, charge_month from marts.fct_vas_order_charges")
                   .fetchall())
        clauses = {r[0] for r in con.execute("select distinct charge_clause from marts.fct_vas_order_charges").fetchall()}
    assert orders
    missing = [o for o in orders if (_pseudonym(o[0]), o[1], o[2]) not in keys]
    assert not missing, missing[:5]
    assert clauses <= CLAUSES and {"HELD_CHARGED", "FIRST_EARLY_CHARGED", "FIRST_LATE_FREE"} <= clauses, clauses


def test_charged_fee_equals_bass_vas_usage(built):
    """Per subscriber and month (and per service), the mart's charged fee equals what BASS_VAS_USAGE billed."""
    with built.connect() as con:
        billed = con.execute(f"""
            with services as (
                select distinct service_code from {built.raw('REF_SERVICE')} where fee_type = '03')
            select user_id, service_code, stat_month, fee_fen
            from {built.raw('BASS_VAS_USAGE')} join services using (service_code)""").fetchall()
        months = sorted({r[2] for r in billed})
        mart = con.execute(
            "select user_pseudonym, service_code, charge_month, charged_fen, charge_clause, cancel_reason, "
            "cancelled_at, month_started_at, is_month_complete from marts.fct_vas_order_charges "
            "where charge_month in (select unnest(?))", [months]).fetchall()
    assert months == ["202603", "202604", "202605"]
    bass = {(_pseudonym(u), s, m): fee for u, s, m, fee in billed}
    ours = {(p, s, m): row for p, s, m, *row in mart}
    assert all(row[-1] for row in ours.values()), "a billed month is not complete in the mart"

    per_service = {k: (bass.get(k, 0), ours[k][0] if k in ours else 0) for k in bass.keys() | ours.keys()}
    differences = {k: v for k, v in per_service.items() if v[0] != v[1]}
    per_user_month: dict[tuple, list[int]] = {}
    for (user, _, month), (b, o) in per_service.items():
        sums = per_user_month.setdefault((user, month), [0, 0])
        sums[0] += b
        sums[1] += o
    matching = sum(1 for b, o in per_user_month.values() if b == o)
    print(f"charged fee = BASS_VAS_USAGE fee_fen (fee_type 03): {matching}/{len(per_user_month)} user-months "
          f"({matching / len(per_user_month):.2%}), {len(per_service) - len(differences)}/{len(per_service)} "
          f"user-service-months, months {months}; "
          f"{sum(o for _, o in per_service.values())} fen charged")
    assert len(per_user_month) > 300
    assert not differences, {k: (v, ours.get(k)) for k, v in differences.items()}


# ------------------------------------------------------------------------------------------------ reconciliation
def test_coverage_is_read_from_the_delivered_detail(built):
    with built.connect() as con:
        coverage = {r[0]: r[1:] for r in con.execute(
            "select stat_month, days_in_month, voice_days, sms_days, gprs_days, is_fully_covered "
            "from intermediate.int_usage_from_cdrs_coverage").fetchall()}
    assert coverage == {"202605": (31, 31, 31, 31, True), "202606": (30, 2, 2, 2, False)}


def test_reconciliation_is_empty_on_consistent_data(built):
    with built.connect() as con:
        breaks = con.execute("select count(*) from marts.fct_usage_reconciliation").fetchone()[0]
        bass_users = con.execute(f"select count(*) from {built.raw('BASS_USAGE')} where stat_month = '202605'"
                                 ).fetchone()[0]
        cdr_users = con.execute("select count(*), count(user_id), sum(record_count) "
                                "from intermediate.int_usage_from_cdrs_aggregated where stat_month = '202605'"
                                ).fetchone()
        records = con.execute(f"""
            select (select count(*) from {built.raw('CDR_VOICE')} where start_time < timestamp '2026-06-01')
                 + (select count(*) from {built.raw('CDR_SMS')} where send_time < timestamp '2026-06-01')
                 + (select count(*) from {built.raw('CDR_GPRS')} where start_time < timestamp '2026-06-01')
            """).fetchone()[0]
    print(f"reconciliation of 202605: {bass_users} BASS_USAGE rows, {cdr_users[0]} subscribers from "
          f"{cdr_users[2]} CDRs, {breaks} breaks")
    assert bass_users > 250 and cdr_users[0] == cdr_users[1] == bass_users
    assert cdr_users[2] == records  # every May CDR attributed to a subscriber
    assert breaks == 0


def test_one_changed_bass_value_is_one_break(built, tmp_path):
    """Change one BASS_USAGE value in the raw zone (a copy of the home), rebuild: exactly that break."""
    home = tmp_path / "planted"
    home.mkdir()
    shutil.copytree(built.home / "lake", home / "lake")
    shutil.copy2(built.home / "warehouse.duckdb", home / "warehouse.duckdb")
    [path] = (home / "lake" / "raw" / "BASS_USAGE" / "batch_date=20260531").glob("*.parquet")
    table = pq.read_table(path)
    rows = table.to_pylist()
    target = min((r for r in rows if r["stat_month"] == "202605" and r["voice_seconds"] > 0),
                 key=lambda r: r["user_id"])
    original = target["voice_seconds"]
    target["voice_seconds"] = original + 7
    pq.write_table(table.from_pylist(rows, schema=table.schema), path)

    started = time.perf_counter()
    proc = _cli(home, "build", "--select", "+fct_usage_reconciliation,resource_type:model")
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        breaks = con.execute("select user_pseudonym, stat_month, measure, bass_value, cdr_value, difference, "
                             "is_missing_in_bass, is_missing_in_cdrs from marts.fct_usage_reconciliation").fetchall()
    print(f"planted break: rebuild {seconds:.1f} s, {breaks}")
    assert breaks == [(_pseudonym(target["user_id"]), "202605", "voice_seconds", original + 7, original, -7,
                       False, False)]
