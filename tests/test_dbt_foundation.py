"""The dbt project's foundations: sources over the raw zone, staging, the keyed pseudonym, history models, `vasmart build`.

One session home: a small generated delivery (300 users, 5 history months, 3 daily batches; 5 months so that
a number is recycled to a second user), the history batches ingested and built (CDR interfaces have no
partition yet), then the daily batches ingested and built again, both times with the real `vasmart build`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
import yaml

from vasmart.config import Settings
from vasmart.contracts import load_contracts

TEST_KEY = "vasmart-test-pseudonym-key-6f1c2b9e"
OTHER_KEY = "another-key-entirely-0000"
GENERATE = ["--users", "300", "--months", "5", "--days", "3", "--end-date", "20260602", "--seed", "3"]
REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "dbt_project"
STAGING = {
    "REF_REGION": "stg_boss__regions", "REF_PLAN": "stg_boss__plans", "BOSS_USER": "stg_boss__users",
    "BOSS_VAS_ORDER": "stg_boss__vas_orders", "BOSS_BILL": "stg_boss__bills", "BASS_USAGE": "stg_bass__usage",
    "BASS_VAS_USAGE": "stg_bass__vas_usage", "REF_SERVICE": "stg_vgop__services",
    "REF_STATUS_CODE": "stg_vgop__status_codes", "VAS_DELIVERY": "stg_vgop__deliveries", "REF_TAC": "stg_dm__tacs",
    "IMEI_OBS": "stg_dm__imei_observations", "CDR_VOICE": "stg_mediation__voice_cdrs",
    "CDR_SMS": "stg_mediation__sms_cdrs", "CDR_GPRS": "stg_mediation__gprs_cdrs", "CRM_COMPLAINT": "stg_crm__complaints",
}
# sources that are the warehouse's own tables (campaign lists written by `vasmart campaigns`), not interfaces
OWN_TABLES = {"campaigns", "load"}  # sources on the warehouse's own tables, not interfaces
PERSONAL = {"msisdn", "other_party", "imei", "imeisv", "customer_name", "cust_name", "complaint_text", "content"}
DBT_TYPES = {"string": "varchar", "int": "integer", "bigint": "bigint", "date": "date", "month": "varchar",
             "timestamp": "timestamp"}


def _vasmart() -> list[str]:
    exe = Path(sys.executable).parent / "vasmart"
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from vasmart.cli import app; app()"]


def _env(home: Path, key: str | None = TEST_KEY) -> dict[str, str]:
    env = {**os.environ, "VASMART_HOME": str(home), "COLUMNS": "400"}
    env.pop("VASMART_PSEUDONYM_KEY", None)
    if key is not None:
        env["VASMART_PSEUDONYM_KEY"] = key
    return env


def _cli(home: Path, *args: str, key: str | None = TEST_KEY, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*_vasmart(), *args], env=_env(home, key), capture_output=True, text=True,
                          timeout=timeout, check=False, cwd=home)


@dataclass
class Home:
    """The session's VASMART_HOME and what its two builds did."""

    home: Path
    batches: list[str]
    history_build: subprocess.CompletedProcess | None = None
    history_counts: dict[str, int] = field(default_factory=dict)
    history_results: dict = field(default_factory=dict)
    build: subprocess.CompletedProcess | None = None
    build_seconds: float = 0.0
    build_results: dict = field(default_factory=dict)

    @property
    def target(self) -> Path:
        return self.home / "dbt" / "target"

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.home / "warehouse.duckdb"), read_only=True)

    def raw(self, interface: str) -> str:
        return (f"read_parquet('{self.home}/lake/raw/{interface}/batch_date=*/*.parquet', hive_partitioning = true,"
                " hive_types_autocast = false)")

    def manifest(self) -> dict:
        return json.loads((self.target / "manifest.json").read_text())

    def run_results(self) -> dict:
        return json.loads((self.target / "run_results.json").read_text())


def _ingest(home: Path, batches: list[str]) -> None:
    from vasmart.ingest import ingest_batch

    settings = Settings(home=home)
    for batch in batches:
        ingest_batch(settings, home / "landing", batch, f"test-{batch}")


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Home:
    home = tmp_path_factory.mktemp("dbt_foundation")
    gen = _cli(home, "generate", "--out", str(home), *GENERATE)
    assert gen.returncode == 0, gen.stderr[-3000:]
    batches = sorted(p.name for p in (home / "landing").iterdir() if p.is_dir())
    history = [b for b in batches if not (home / "landing" / b / f"CDR_VOICE_{b}.chk").exists()]
    daily = [b for b in batches if b not in history]
    assert history and daily, batches
    state = Home(home, batches)

    _ingest(home, history)
    state.history_build = _cli(home, "build")
    if state.history_build.returncode == 0:
        with state.connect() as con:
            state.history_counts = {m: con.execute(f"select count(*) from staging.{m}").fetchone()[0]
                                    for m in STAGING.values()}
        state.history_results = state.run_results()

    _ingest(home, daily)
    started = time.perf_counter()
    state.build = _cli(home, "build")
    state.build_seconds = time.perf_counter() - started
    assert state.build.returncode == 0, state.build.stderr[-3000:] + state.build.stdout[-3000:]
    state.build_results = state.run_results()
    return state


# ------------------------------------------------------------------------------------------------ the build
def test_build_passes_every_model_and_test(built):
    results = built.run_results()["results"]
    statuses = {r["status"] for r in results}
    assert statuses <= {"success", "pass"}, [(r["unique_id"], r["status"], r["message"]) for r in results
                                             if r["status"] not in ("success", "pass")]
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert {"model", "test", "unit_test"} <= kinds
    tests = [r for r in results if r["unique_id"].startswith("test.")]
    assert len(tests) >= 100, len(tests)
    assert "PASS=" in built.build.stdout and "ERROR=0" in built.build.stdout
    print(f"vasmart build on the small set: {built.build_seconds:.1f} s, {len(results)} nodes")


def test_build_before_any_cdr_is_delivered(built):
    """After the history batches only, the CDR interfaces have no partition: their staging is empty, the build passes."""
    assert built.history_build.returncode == 0, built.history_build.stderr[-3000:]
    assert {r["status"] for r in built.history_results["results"]} <= {"success", "pass"}
    for cdr in ("stg_mediation__voice_cdrs", "stg_mediation__sms_cdrs", "stg_mediation__gprs_cdrs"):
        assert built.history_counts[cdr] == 0
    assert built.history_counts["stg_boss__users"] > 0


def test_artifacts_live_under_vasmart_home(built):
    assert (built.target / "manifest.json").exists() and (built.home / "dbt" / "logs" / "dbt.log").exists()
    assert not (PROJECT / "target").exists() and not (PROJECT / "logs").exists()


def test_telemetry_is_off():
    project = yaml.safe_load((PROJECT / "dbt_project.yml").read_text())
    assert project["flags"]["send_anonymous_usage_stats"] is False
    from vasmart.build import TELEMETRY_OFF

    assert TELEMETRY_OFF["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "False"


# ------------------------------------------------------------------------------------------------ staging
def test_one_staging_model_per_interface_reading_its_source(built):
    manifest = built.manifest()
    sources = {n["identifier"]: uid for uid, n in manifest["sources"].items() if n["source_name"] not in OWN_TABLES}
    assert set(sources) == set(STAGING)
    for interface, model in STAGING.items():
        node = manifest["nodes"][f"model.vasmart.{model}"]
        assert node["depends_on"]["nodes"] == [sources[interface]], model
        assert node["config"]["materialized"] == "view"
        assert node["schema"] == "staging"


def test_staging_row_counts_equal_the_raw_zone(built):
    with built.connect() as con:
        for interface, model in STAGING.items():
            raw = con.execute(f"select count(*) from {built.raw(interface)}").fetchone()[0]
            staged = con.execute(f"select count(*) from staging.{model}").fetchone()[0]
            assert staged == raw > 0, (interface, model, staged, raw)


def test_staging_keeps_batch_date_and_lineage(built):
    with built.connect() as con:
        batches = {r[0].strftime("%Y%m%d") for r in
                   con.execute("select distinct batch_date from staging.stg_boss__users").fetchall()}
        assert batches == set(built.batches)
        for model in STAGING.values():
            missing = con.execute(f"select count(*) from staging.{model} where batch_date is null "
                                  "or source_file_name is null or source_line_number is null").fetchone()[0]
            assert missing == 0, model


def test_complaints_keep_both_records(built):
    """A complaint created and closed in different batches is kept twice; unique per (batch_date, complaint_id)."""
    with built.connect() as con:
        raw = con.execute(f"select count(*), count(distinct complaint_id) from {built.raw('CRM_COMPLAINT')}").fetchone()
        staged = con.execute("select count(*), count(distinct complaint_id), count(distinct (batch_date, complaint_id)) "
                             "from staging.stg_crm__complaints").fetchone()
    assert staged[:2] == raw and staged[2] == staged[0]


# ------------------------------------------------------------------------------------------------ documentation
def test_every_staging_model_and_column_is_described(built):
    manifest = built.manifest()
    with built.connect() as con:
        for model in STAGING.values():
            node = manifest["nodes"][f"model.vasmart.{model}"]
            assert node["description"].strip(), model
            actual = [r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_schema = 'staging' "
                "and table_name = ? order by ordinal_position", [model]).fetchall()]
            documented = node["columns"]
            assert set(documented) == set(actual), (model, set(actual) ^ set(documented))
            for name, column in documented.items():
                assert column["description"].strip(), (model, name)
                assert "{{" not in column["description"], (model, name)


def test_intermediate_models_are_described(built):
    manifest = built.manifest()
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] == "model" and node["name"].startswith("int_"):
            assert node["description"].strip(), uid
            assert node["columns"] and all(c["description"].strip() for c in node["columns"].values()), uid


def test_sources_agree_with_the_data_contracts(built):
    manifest = built.manifest()
    contracts = load_contracts()
    for node in manifest["sources"].values():
        if node["source_name"] in OWN_TABLES:
            continue
        contract = contracts[node["identifier"]]
        expected = {f.name: DBT_TYPES[f.spec_type] for f in contract.fields}
        if any(f.format == "imei" for f in contract.fields):
            expected["imeisv"] = "varchar"
        expected.update({"_file_name": "varchar", "_line_number": "bigint", "batch_date": "varchar"})
        declared = {name: c["data_type"] for name, c in node["columns"].items()}
        assert declared == expected, node["identifier"]
        assert node["description"].strip() and all(c["description"].strip() for c in node["columns"].values())
        assert "read_parquet(" in node["meta"]["external_location"]


# ------------------------------------------------------------------------------------------------ personal data
def test_personal_identifiers_stay_in_staging_and_restricted(built):
    with built.connect() as con:
        rows = con.execute("select table_schema, table_name, column_name from information_schema.columns "
                           "where table_catalog = 'warehouse'").fetchall()
    exposed = [r for r in rows if r[2] in PERSONAL and r[0] not in ("staging", "restricted", "raw")]
    assert not exposed, exposed
    restricted = {(r[1], r[2]) for r in rows if r[0] == "restricted"}
    assert ("int_msisdn_assignments_historized", "msisdn") in restricted


def test_pseudonym_is_keyed_hmac_sha256(built):
    with built.connect() as con:
        rows = con.execute("select msisdn, msisdn_pseudonym from restricted.int_msisdn_assignments_historized").fetchall()
        imeis = {r[0] for r in con.execute(f"select distinct imei from {built.raw('IMEI_OBS')}").fetchall()}
        handsets = {r[0] for r in con.execute(
            "select imei_pseudonym from intermediate.int_user_handsets_historized").fetchall()}
    assert rows
    for msisdn, pseudonym in rows:
        assert pseudonym == hmac.new(TEST_KEY.encode(), msisdn.encode(), hashlib.sha256).hexdigest()
        assert pseudonym != hmac.new(OTHER_KEY.encode(), msisdn.encode(), hashlib.sha256).hexdigest()
    assert handsets and handsets <= {hmac.new(TEST_KEY.encode(), i.encode(), hashlib.sha256).hexdigest() for i in imeis}


def test_pseudonym_udf_directly():
    from vasmart import dbt_plugin

    con = duckdb.connect()
    values = ["13800000000", "490154203237518", "张三", "", None, "13800000000"]
    # short keys, a key of exactly one SHA-256 block and a longer one (which HMAC hashes first)
    for key in (TEST_KEY, OTHER_KEY, "k" * 64, "钥匙" * 40):
        dbt_plugin.register(con, key.encode())
        got = [r[0] for r in con.execute("select vasmart_pseudonym(v) from unnest(?) as t(v)", [values]).fetchall()]
        assert got == [None if v is None else hmac.new(key.encode(), v.encode(), hashlib.sha256).hexdigest()
                       for v in values]
    dbt_plugin.register(con, b"")
    with pytest.raises(duckdb.Error, match="VASMART_PSEUDONYM_KEY is not set"):
        con.execute("select vasmart_pseudonym('13800000000')").fetchall()


def test_no_key_material_in_dbt_artifacts_or_logs(built):
    needles = [TEST_KEY.encode(), TEST_KEY.encode().hex().encode()]
    scanned = 0
    for path in (built.home / "dbt").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            scanned += 1
            for needle in needles:
                assert needle not in data, path
    assert scanned > 10
    compiled = (built.target / "compiled" / "vasmart" / "models" / "intermediate" / "restricted"
                / "int_msisdn_assignments_historized.sql").read_text()
    assert "vasmart_pseudonym(cast(msisdn as varchar))" in compiled


# ------------------------------------------------------------------------------------------------ history
def test_recycled_number_is_attributed_to_its_holder_at_the_event_time(built):
    with built.connect() as con:
        recycled = con.execute(f"""
            select msisdn, list(distinct user_id order by user_id)
            from {built.raw('BOSS_USER')} group by msisdn having count(distinct user_id) > 1""").fetchall()
        assert recycled, "the generated set has no recycled number"
        msisdn, holders = recycled[0]
        assignments = con.execute(
            "select user_id, valid_from, valid_to from restricted.int_msisdn_assignments_historized "
            "where msisdn = ? order by valid_from", [msisdn]).fetchall()
        assert sorted(a[0] for a in assignments) == sorted(holders) and len(holders) == 2
        (first, _, first_to), (second, second_from, second_to) = assignments
        assert first_to is not None and first_to <= second_from and second_to is None

        # each holder's own events (IMEI observations, deliveries, orders) resolve to that holder
        events = con.execute(f"""
            select 'imei' as kind, last_seen as event_at from {built.raw('IMEI_OBS')} where msisdn = $1
            union all select 'delivery', send_time from {built.raw('VAS_DELIVERY')} where msisdn = $1
            union all select 'order', op_time from {built.raw('BOSS_VAS_ORDER')} where msisdn = $1""",
                             [msisdn]).fetchall()
        resolved = {}
        for kind, event_at in events:
            users = con.execute(
                "select user_id from restricted.int_msisdn_assignments_historized where msisdn = ? and valid_from <= ? "
                "and (valid_to is null or ? < valid_to)", [msisdn, event_at, event_at]).fetchall()
            assert len(users) == 1, (kind, event_at, users)
            expected = first if event_at < first_to else second
            assert users[0][0] == expected, (kind, event_at)
            resolved.setdefault(users[0][0], []).append((kind, event_at))
        assert set(resolved) == {first, second}, resolved

        # the orders carry the user_id BOSS knew: every one resolves to it through the mapping
        mismatched = con.execute("""
            select count(*) from staging.stg_boss__vas_orders o
            left join restricted.int_msisdn_assignments_historized a
              on a.msisdn = o.msisdn and o.operated_at >= a.valid_from and (a.valid_to is null or o.operated_at < a.valid_to)
            where a.user_id is distinct from o.user_id""").fetchone()[0]
        assert mismatched == 0
        # and every CDR, delivery and IMEI observation resolves to exactly one holder
        for model, at in (("stg_mediation__voice_cdrs", "started_at"), ("stg_mediation__sms_cdrs", "sent_at"),
                          ("stg_mediation__gprs_cdrs", "started_at"), ("stg_vgop__deliveries", "sent_at"),
                          ("stg_dm__imei_observations", "last_seen_at")):
            bad = con.execute(f"""
                select count(*) from (
                  select e.source_file_name, e.source_line_number, count(a.user_id) as n
                  from staging.{model} e left join restricted.int_msisdn_assignments_historized a
                    on a.msisdn = e.msisdn and e.{at} >= a.valid_from and (a.valid_to is null or e.{at} < a.valid_to)
                  group by all) where n <> 1""").fetchone()[0]
            assert bad == 0, model


def test_user_history_matches_the_snapshots(built):
    """The version valid at each batch date is exactly that batch's snapshot of the user."""
    with built.connect() as con:
        wrong = con.execute(f"""
            with snapshots as (
                select user_id, cast(strptime(batch_date, '%Y%m%d') as timestamp) as at, plan_code, status, dnd_flag
                from {built.raw('BOSS_USER')})
            select count(*) from snapshots s
            left join intermediate.int_users_historized h
              on h.user_id = s.user_id and h.valid_from <= s.at and (h.valid_to is null or s.at < h.valid_to)
            where h.plan_code is distinct from s.plan_code or h.user_status is distinct from s.status
               or h.is_dnd is distinct from cast(s.dnd_flag as boolean)""").fetchone()[0]
        current = con.execute("select count(*), count(distinct user_id) from intermediate.int_users_historized "
                              "where is_current").fetchone()
        users = con.execute(f"select count(distinct user_id) from {built.raw('BOSS_USER')}").fetchone()[0]
        changed = con.execute("select count(*) from intermediate.int_users_historized where version_number > 1").fetchone()[0]
    assert wrong == 0
    assert current == (users, users)
    assert changed > 0


def test_handsets_have_no_raw_imei_and_follow_changes(built):
    with built.connect() as con:
        columns = {r[0] for r in con.execute("select column_name from information_schema.columns "
                                             "where table_name = 'int_user_handsets_historized'").fetchall()}
        changes = con.execute("select count(*) from intermediate.int_user_handsets_historized "
                              "where version_number > 1").fetchone()[0]
    assert not columns & PERSONAL
    assert changes > 0


# ------------------------------------------------------------------------------------------------ raw-source tests
def _lake_partitions(con: duckdb.DuckDBPyConnection, home: Path) -> set[tuple[str, dt.date, dt.datetime]]:
    """(interface, batch date, write time) of every raw-zone partition, as the ledger records them."""
    rows = con.execute(f"""
        select regexp_extract(filename, '/raw/([A-Z_]+)/', 1), strptime(regexp_extract(filename, 'batch_date=([0-9]{{8}})', 1),
               '%Y%m%d')::date, max(last_modified::timestamp)
        from read_blob('{home}/lake/raw/*/batch_date=*/*.parquet') group by all""").fetchall()
    return set(rows)


def _source_tests(results: dict) -> dict[str, str]:
    """unique_id -> compiled SQL of the tests on raw sources in a run's results."""
    return {r["unique_id"]: r["compiled_code"] for r in results["results"]
            if r["unique_id"].startswith("test.vasmart.source_")}


def test_raw_source_tests_read_only_the_partitions_no_build_has_tested(built):
    """The history build tested every partition; the daily build then tested only the daily batches' partitions."""
    daily = [b for b in built.batches if (built.home / "landing" / b / f"CDR_VOICE_{b}.chk").exists()]
    history = [b for b in built.batches if b not in daily]
    first, second = _source_tests(built.history_results), _source_tests(built.build_results)
    assert len(second) >= 30 and set(first) == set(second)
    assert not any("batch_date in" in sql for sql in first.values())  # no ledger yet: everything tested
    for uid, sql in second.items():
        interface = re.search(r"/raw/([A-Z_]+)/", sql).group(1)
        expected = [b for b in daily if (built.home / "lake" / "raw" / interface / f"batch_date={b}").is_dir()]
        if expected:
            listed = re.search(r"where batch_date in \(([^)]*)\)", sql).group(1)
            assert [b.strip(" '") for b in listed.split(",")] == expected, (uid, listed)
        else:
            assert "where false" in sql, uid
        assert not any(f"'{b}'" in sql for b in history), uid
    with built.connect() as con:
        ledger = set(con.execute("select interface, batch_date, partition_written_at "
                                 "from audit.lake_partitions_tested").fetchall())
        lake = _lake_partitions(con, built.home)
    assert ledger == lake and len(lake) > 40


def _scoped_staging_tests(results: dict) -> dict[str, str]:
    """unique_id -> compiled SQL of the staging tests scoped to their source's untested partitions."""
    return {r["unique_id"]: r["compiled_code"] for r in results["results"]
            if r["unique_id"].startswith("test.vasmart.")
            and any(f"_{m}_" in r["unique_id"] for m in ("stg_boss__users", "stg_dm__imei_observations"))
            and "batch_date." not in r["unique_id"]}


def test_staging_tests_local_to_a_batch_read_only_the_untested_partitions_and_count_for_the_ledger(built, tmp_path):
    """not_null and per-batch uniqueness on the daily snapshots' staging models check the source's untested
    partitions only (`where: __untested_partitions__`), and a partition is recorded as tested only when they
    passed on it too."""
    daily = [b for b in built.batches if (built.home / "landing" / b / f"CDR_VOICE_{b}.chk").exists()]
    first, second = _scoped_staging_tests(built.history_results), _scoped_staging_tests(built.build_results)
    assert len(second) == 5 and set(first) == set(second)  # 2 on the users, 3 on the IMEI observations
    assert all("where true" in sql for sql in first.values())  # no ledger yet: every batch
    for uid, sql in second.items():
        assert re.findall(r"strptime\('(\d{8})'", sql) == daily, uid

    home = tmp_path / "home"
    shutil.copytree(built.home, home, symlinks=True)
    newest = max(daily)
    part = home / "lake" / "raw" / "IMEI_OBS" / f"batch_date={newest}" / "data.parquet"
    part.write_bytes(part.read_bytes())  # written again: untested

    def recorded() -> bool:
        with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
            written = con.execute(f"select max(last_modified::timestamp) from read_blob('{part}')").fetchone()[0]
            return con.execute("select count(*) from audit.lake_partitions_tested where interface = 'IMEI_OBS' "
                               "and strftime(batch_date, '%Y%m%d') = ? and partition_written_at = ?",
                               [newest, written]).fetchone()[0] == 1

    source_only = _cli(home, "build", "--select", "source:dm.imei_obs")
    assert source_only.returncode == 0, source_only.stderr[-2000:]
    assert not recorded()  # the staging tests did not run on it
    with_staging = _cli(home, "build", "--select", "source:dm.imei_obs stg_dm__imei_observations")
    assert with_staging.returncode == 0, with_staging.stderr[-2000:]
    scoped = _scoped_staging_tests(json.loads((home / "dbt" / "target" / "run_results.json").read_text()))
    assert len(scoped) == 3 and all(re.findall(r"strptime\('(\d{8})'", sql) == [newest] for sql in scoped.values())
    assert recorded()
    quietly = _cli(home, "build", "--select", "source:dm.imei_obs stg_dm__imei_observations")
    assert quietly.returncode == 0, quietly.stderr[-2000:]
    scoped = _scoped_staging_tests(json.loads((home / "dbt" / "target" / "run_results.json").read_text()))
    assert len(scoped) == 3 and all("where false" in sql for sql in scoped.values())


def test_a_rewritten_partition_is_tested_again_and_stays_untested_while_it_fails(built, tmp_path):
    """A partition already tested, rewritten with a duplicate key: the next build tests it (and only it) and fails;
    the ledger keeps it out until a build passes on it; --full-refresh leaves the tested partitions alone,
    --retest-raw tests every partition."""
    home = tmp_path / "home"
    shutil.copytree(built.home, home, symlinks=True)
    first = min(built.batches)
    part = home / "lake" / "raw" / "BOSS_USER" / f"batch_date={first}" / "data.parquet"
    clean = part.read_bytes()
    with duckdb.connect() as con:
        con.execute(f"copy (select * from read_parquet('{part}') union all (select * from read_parquet('{part}') "
                    f"limit 1)) to '{tmp_path}/dup.parquet' (format parquet)")
    shutil.copyfile(tmp_path / "dup.parquet", part)
    select = ["build", "--select", "source:boss.boss_user stg_boss__users"]

    failed = _cli(home, *select)
    assert failed.returncode == 1, failed.stdout[-2000:]
    assert "unique_combination_of_columns" in failed.stderr and "boss_user" in failed.stderr, failed.stderr
    tested = _source_tests(json.loads((home / "dbt" / "target" / "run_results.json").read_text()))
    assert tested and all(f"batch_date in ('{first}')" in sql for sql in tested.values())

    def ledger_has_first() -> bool:
        with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
            written = con.execute(f"select max(last_modified::timestamp) from read_blob('{part}')").fetchone()[0]
            return con.execute("select count(*) from audit.lake_partitions_tested where interface = 'BOSS_USER' "
                               "and strftime(batch_date, '%Y%m%d') = ? and partition_written_at = ?",
                               [first, written]).fetchone()[0] == 1

    assert not ledger_has_first()
    again = _cli(home, *select)  # still untested, so tested (and failing) again
    assert again.returncode == 1 and not ledger_has_first()

    part.write_bytes(clean)
    passed = _cli(home, *select)
    assert passed.returncode == 0, passed.stderr[-2000:]
    assert ledger_has_first()
    passed_on = _source_tests(json.loads((home / "dbt" / "target" / "run_results.json").read_text()))
    assert passed_on and all(f"batch_date in ('{first}')" in sql for sql in passed_on.values())
    quietly = _cli(home, *select)  # nothing left to test
    assert quietly.returncode == 0, quietly.stderr[-2000:]
    quiet = _source_tests(json.loads((home / "dbt" / "target" / "run_results.json").read_text()))
    assert quiet and all("where false" in sql for sql in quiet.values())

    refreshed = _cli(home, *select, "--full-refresh")
    assert refreshed.returncode == 0, refreshed.stderr[-2000:]
    after_refresh = _source_tests(json.loads((home / "dbt" / "target" / "run_results.json").read_text()))
    assert after_refresh and all("where false" in sql for sql in after_refresh.values())
    everything = _cli(home, *select, "--retest-raw")
    assert everything.returncode == 0, everything.stderr[-2000:]
    full = _source_tests(json.loads((home / "dbt" / "target" / "run_results.json").read_text()))
    assert full and not any("batch_date in" in sql or "where false" in sql for sql in full.values())


def _key_batches(sql: str) -> tuple[list[str], list[str]]:
    """The batches a unique_over_batches test read as text, and the batches whose keys it looked up (all of
    those read when it reads only new keys)."""
    if "new_keys as" not in sql:
        read = re.findall(r"'(\d{8})'", sql)
        return read, read
    read, new = sql.split("new_keys as", 1)
    return re.findall(r"'(\d{8})'", read), re.findall(r"'(\d{8})'", new)


def test_a_message_id_repeated_from_an_earlier_batch_fails_the_build_that_tests_the_new_partition(built, tmp_path):
    """message_id (and each CDR's cdr_id) is unique over all batches: the daily build looks up only the untested
    partitions' ids, through the registry of the tested partitions' id hashes, and reads as text only the new
    partitions and those holding one of their hashes; a redelivered partition repeating an id of the first
    batch fails the build and stays out of the ledger; restored, it passes, is recorded and registered."""
    def uniqueness_sql(results: dict, model: str = "stg_vgop__deliveries") -> str:
        found = [r for r in results["results"]
                 if r["unique_id"].startswith(f"test.vasmart.unique_over_batches_{model}_")]
        assert len(found) == 1, model
        return found[0]["compiled_code"]

    daily = [b for b in built.batches
             if (built.home / "lake" / "raw" / "VAS_DELIVERY" / f"batch_date={b}").is_dir()
             and (built.home / "landing" / b / f"CDR_VOICE_{b}.chk").exists()]
    assert daily
    # the daily build looked up the daily batches' ids only, and read no earlier batch's ids as text
    assert _key_batches(uniqueness_sql(built.build_results)) == (daily, daily)
    for cdrs in ("voice", "sms", "gprs"):  # so did the CDR detail's cdr_id checks
        assert _key_batches(uniqueness_sql(built.build_results, f"stg_mediation__{cdrs}_cdrs")) == (daily, daily)
    assert "inner join new_keys" not in uniqueness_sql(built.history_results)  # no ledger yet: every id

    home = tmp_path / "home"
    shutil.copytree(built.home, home, symlinks=True)
    warehouse = str(home / "warehouse.duckdb")
    with duckdb.connect(warehouse, read_only=True) as con:  # every tested partition's ids are registered
        for interface, model, raw_key in (("VAS_DELIVERY", "stg_vgop__deliveries", "message_id"),
                                          ("CDR_VOICE", "stg_mediation__voice_cdrs", "cdr_id"),
                                          ("CDR_SMS", "stg_mediation__sms_cdrs", "cdr_id")):
            registry = con.execute(
                f"select batch_date, count(*), count(distinct key_hash) from audit.lake_keys_seen__{interface.lower()}"
                f"__{raw_key} group by 1 order by 1").fetchall()
            keys = con.execute(f"select batch_date, count(*), count(distinct hash({raw_key})) from staging.{model} "
                               f"where {raw_key} is not null group by 1 order by 1").fetchall()
            assert registry == keys and keys, interface
            assert con.execute("select count(*) from audit.lake_keys_registered where interface = ?",
                               [interface]).fetchone()[0] == len(keys)
    newest = max(daily)
    part = home / "lake" / "raw" / "VAS_DELIVERY" / f"batch_date={newest}" / "data.parquet"
    clean = part.read_bytes()
    with duckdb.connect() as con:
        earlier = con.execute(f"select min(msg_id) from read_parquet('{home}/lake/raw/VAS_DELIVERY/"
                              f"batch_date={min(built.batches)}/*.parquet')").fetchone()[0]
        con.execute(f"copy (select * replace (case when row_number() over () = 1 then '{earlier}' else msg_id end "
                    f"as msg_id) from read_parquet('{part}')) to '{tmp_path}/repeat.parquet' (format parquet)")
    shutil.copyfile(tmp_path / "repeat.parquet", part)
    select = ["build", "--select", "stg_vgop__deliveries source:vgop.vas_delivery"]

    def written() -> dt.datetime:
        with duckdb.connect() as con:
            return con.execute(f"select max(last_modified::timestamp) from read_blob('{part}')").fetchone()[0]

    def recorded() -> bool:
        with duckdb.connect(warehouse, read_only=True) as con:
            return con.execute("select count(*) from audit.lake_partitions_tested where interface = 'VAS_DELIVERY' "
                               "and strftime(batch_date, '%Y%m%d') = ? and partition_written_at = ?",
                               [newest, written()]).fetchone()[0] == 1

    def registered() -> bool:
        with duckdb.connect(warehouse, read_only=True) as con:
            covered = con.execute("select count(*) from audit.lake_keys_registered where interface = 'VAS_DELIVERY' "
                                  "and strftime(batch_date, '%Y%m%d') = ? and partition_written_at = ?",
                                  [newest, written()]).fetchone()[0]
            hashes = con.execute("select count(*) from audit.lake_keys_seen__vas_delivery__message_id "
                                 "where strftime(batch_date, '%Y%m%d') = ?", [newest]).fetchone()[0]
            rows = con.execute(f"select count(*) from read_parquet('{part}')").fetchone()[0]
            return covered == 1 and hashes == rows

    failed = _cli(home, *select)
    assert failed.returncode == 1 and "unique_over_batches" in failed.stderr, failed.stderr[-2000:]
    results = json.loads((home / "dbt" / "target" / "run_results.json").read_text())
    # the repeated id's hash sent the check to the first batch's ids, and to no other batch
    assert _key_batches(uniqueness_sql(results)) == ([min(built.batches), newest], [newest])
    assert not recorded() and not registered()
    source_only = _cli(home, "build", "--select", "source:vgop.vas_delivery")  # its own tests pass ...
    assert source_only.returncode == 0, source_only.stderr[-2000:]
    assert not recorded() and not registered()  # ... but without the id check it is neither recorded nor registered

    part.write_bytes(clean)
    passed = _cli(home, *select)
    assert passed.returncode == 0, passed.stderr[-2000:]
    assert _key_batches(uniqueness_sql(json.loads((home / "dbt" / "target" / "run_results.json").read_text()))) \
        == ([newest], [newest])
    assert recorded() and registered()
    quietly = _cli(home, *select)
    assert quietly.returncode == 0 and "where false" in uniqueness_sql(
        json.loads((home / "dbt" / "target" / "run_results.json").read_text()))

    # hashes from another DuckDB version cover nothing: every batch is read as text, then registered again
    with duckdb.connect(warehouse) as con:
        con.execute("update audit.lake_keys_registered set hash_function = 'duckdb v0.0.0 hash()' "
                    "where interface = 'VAS_DELIVERY'")
    part.write_bytes(clean)  # written again: to be tested again
    again = _cli(home, *select)
    assert again.returncode == 0, again.stderr[-2000:]
    every = sorted(p.name.split("=")[1] for p in (home / "lake" / "raw" / "VAS_DELIVERY").glob("batch_date=*"))
    assert _key_batches(uniqueness_sql(json.loads((home / "dbt" / "target" / "run_results.json").read_text()))) \
        == (every, [newest])
    with duckdb.connect(warehouse, read_only=True) as con:
        assert con.execute("select count(*), count(distinct hash_function) from audit.lake_keys_registered "
                           "where interface = 'VAS_DELIVERY' and hash_function <> 'duckdb v0.0.0 hash()'"
                           ).fetchone() == (len(every), 1)
    assert registered()


# ------------------------------------------------------------------------------------------------ failure
def test_build_failure_names_the_model_in_one_line(built):
    proc = _cli(built.home, "build", "--select", "int_msisdn_assignments_historized", key=None)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "int_msisdn_assignments_historized" in lines[0] and "VASMART_PSEUDONYM_KEY is not set" in lines[0]


def test_build_refuses_while_the_warehouse_is_held(built, tmp_path):
    home = tmp_path / "busy"
    home.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(60)"),
        str(home / "warehouse.duckdb")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        proc = _cli(home, "build", "--select", "stg_boss__regions")
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 1
    assert "in use by another process" in proc.stderr
