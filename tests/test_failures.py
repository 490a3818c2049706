"""Failures an operator meets at night: a process killed with SIGKILL in the middle of a stage, the warehouse
held by another process. Each rerun is compared, by checksum of every row, with the clean run.

All on private copies of the shared built home (tests/pipeline_home.py), whose marts are the clean result.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from unittest import mock

import duckdb
import psycopg
import pytest
from night_homes import NEXT, STOPPED, Nights, dag_runs, two_nights
from pipeline_home import BuiltHome, copy_of_built_home
from vasmart_cli import run_vasmart, vasmart_command

from vasmart.campaigns.writeback import CampaignDatabase


def table_checksums(path: Path, schemas: tuple[str, ...], ignore: set[str] = frozenset()) -> dict[str, tuple[int, int]]:
    """(rows, order-independent hash of every row, without the `ignore` columns) for every table of the schemas."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute("select table_schema, table_name from information_schema.tables "
                             f"where table_schema in ({', '.join('?' for _ in schemas)}) and table_type = 'BASE TABLE'",
                             list(schemas)).fetchall()
        out = {}
        for schema, table in tables:
            columns = [r[0] for r in con.execute("select column_name from information_schema.columns "
                                                 "where table_schema = ? and table_name = ?", [schema, table]).fetchall()
                       if r[0] not in ignore]
            hashed = ", ".join(f'"{c}"' for c in columns)
            out[f"{schema}.{table}"] = con.execute(
                f'select count(*), coalesce(sum(hash({hashed})::hugeint), 0) from "{schema}"."{table}"').fetchone()
    return out


def lake_checksums(home: Path, batch: str) -> dict[str, tuple[int, int]]:
    """(rows, hash of every row) of each interface's raw partition of the batch."""
    out = {}
    for partition in sorted((home / "lake" / "raw").glob(f"*/batch_date={batch}")):
        files = sorted(str(p) for p in partition.glob("*.parquet"))
        with duckdb.connect() as con:
            columns = [r[0] for r in con.execute(f"describe select * from read_parquet({files})").fetchall()]
            hashed = ", ".join(f'"{c}"' for c in columns)
            out[partition.parent.name] = con.execute(
                f"select count(*), sum(hash({hashed})::hugeint) from read_parquet({files})").fetchone()
    return out


def start_vasmart(home: Path, key: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**(os.environ if env is None else env), "VASMART_HOME": str(home), "VASMART_PSEUDONYM_KEY": key}
    return subprocess.Popen([*vasmart_command(), *args], env=env, cwd=home, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def wait_until(process: subprocess.Popen, ready, timeout: float = 600) -> None:
    """Wait for `ready()` while the process runs; fails if it ends first or the time runs out."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, "the process finished before the moment came"
        assert time.monotonic() < deadline, "timed out waiting for the moment"
        time.sleep(0.05)


def kill_when(process: subprocess.Popen, ready, timeout: float = 600) -> None:
    """SIGKILL the process group as soon as `ready()` is true; fails if the process ends before that."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, "the process finished before it could be killed mid-way"
        assert time.monotonic() < deadline, "timed out waiting for the moment to kill"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL


@pytest.fixture
def home(pipeline, tmp_path):
    return copy_of_built_home(pipeline, tmp_path / "home")


def test_kill_during_dbt_build_then_rerun_gives_the_clean_marts(pipeline, home):
    clean = table_checksums(pipeline.warehouse, ("marts",))
    log = home.home / "dbt" / "logs" / "dbt.log"
    log.unlink()
    build = start_vasmart(home.home, home.key, "build")

    def some_models_built() -> bool:
        return log.exists() and log.read_text(errors="replace").count("OK created sql table model") >= 5

    kill_when(build, some_models_built)
    rerun = run_vasmart(home.home, "build", key=home.key)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert table_checksums(home.warehouse, ("marts",)) == clean


def test_kill_during_ingest_then_rerun_gives_the_clean_partitions(pipeline, home):
    batch = max(p.name for p in (home.home / "landing").iterdir() if p.is_dir())
    clean = lake_checksums(pipeline.home, batch)
    ingest = start_vasmart(home.home, home.key, "ingest", "--batch", batch)
    staged = home.home / "lake"

    def writing() -> bool:  # a partition of the batch is being written aside
        return any(".staging" in str(p) or p.name.startswith(".") for p in staged.rglob(f"*{batch}*"))

    kill_when(ingest, writing, timeout=120)
    rerun = run_vasmart(home.home, "ingest", "--batch", batch, key=home.key)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert lake_checksums(home.home, batch) == clean
    leftovers = [p for p in staged.rglob("*") if p.name.startswith(".")]
    assert not leftovers, leftovers


def test_kill_during_publish_leaves_the_old_copy_and_rerun_publishes_the_clean_one(home):
    first = run_vasmart(home.home, "publish", key=home.key)
    assert first.returncode == 0, first.stderr[-2000:]
    analytics = home.home / "analytics.duckdb"
    published = analytics.read_bytes()
    clean = table_checksums(analytics, ("marts",))

    publish = start_vasmart(home.home, home.key, "publish")
    kill_when(publish, lambda: any(home.home.glob(".analytics.duckdb.*.tmp")), timeout=120)
    assert analytics.read_bytes() == published, "a killed publication changed the published copy"

    rerun = run_vasmart(home.home, "publish", key=home.key)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert table_checksums(analytics, ("marts",)) == clean
    assert not list(home.home.glob(".analytics.duckdb.*")), "the killed publication's temporary copy is left"


HOLD = "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(600)"


@pytest.mark.parametrize("command", [("build",), ("ingest", "--batch", "20261120"), ("run",)])
def test_warehouse_held_by_another_process_fails_fast_naming_it(home, command):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(home.warehouse)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        result = run_vasmart(home.home, *command, key=home.key, timeout=120)
        seconds = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode != 0
    message = " ".join(result.stderr.split())
    assert str(home.warehouse) in message and f"PID {holder.pid}" in message, message
    assert seconds < 60, f"took {seconds:.0f} s to give up"


# ------------------------------------------------------------------------------------------ nights through the DAG
# the logical date (UTC, as Airflow's metadata DB holds it) of batch D's run: D 02:00 Asia/Shanghai
LOGICAL = {STOPPED: "2026-11-20 18:00:00", NEXT: "2026-11-21 18:00:00"}


@pytest.fixture(scope="module")
def nights(pipeline, tmp_path_factory) -> Nights:
    """Night one stopped by the quality gate, then the redelivered batch and the next (tests/night_homes.py)."""
    return two_nights(tmp_path_factory, pipeline)


def test_a_batch_the_quality_gate_stops_is_not_built_scored_targeted_or_published(nights):
    night, before = nights.record["stopped_night"], nights.record
    assert night["returncode"] == 1, night["stdout"] + night["stderr"][-3000:]
    reason = " ".join(night["stderr"].split())
    assert "quality_raw failed" in reason and f"batch {STOPPED}" in reason, reason
    assert "critical raw.cdr_voice.rows_per_day" in reason, reason
    # yesterday's published copy is untouched, byte for byte; no list was written back
    assert before["published_before"] is not None and night["published"] == before["published_before"]
    assert night["campaign_db"] == before["campaign_db_before"]
    facts = night["warehouse"]
    assert [STOPPED, "raw", "stopped"] in facts["verdicts"]
    assert [STOPPED, "raw.cdr_voice.rows_per_day"] in facts["critical"]
    assert STOPPED not in facts["scored"] and STOPPED not in facts["lists"]
    assert facts["loads"][-1] == [STOPPED, "LOADED"], "the extract itself loaded: the gate judged it"
    # in Airflow the run failed at the gate; nothing after it ran; the auditors' reports were still written
    (run,) = [r for r in night["runs"].values() if r["logical_date"].startswith(LOGICAL[STOPPED])]
    assert run["state"] == "failed"
    tasks = run["tasks"]
    assert tasks["quality_raw"] == "failed" and tasks["close_batch"] == "success"
    for stage in ("decide_transforms", "quality_marts", "train_models", "score_models", "campaigns", "publish"):
        assert tasks[stage] == "upstream_failed", (stage, tasks[stage])
    dbt = {state for task, state in tasks.items() if task.startswith("dbt_build.")}
    assert dbt == {"upstream_failed"}, dbt
    assert tasks["reports"] == "success" and tasks["night_failed"] == "failed"


def test_after_a_stopped_night_the_redelivered_batch_and_the_next_proceed_and_publish(nights):
    night = nights.record["good_night"]
    assert night["returncode"] == 0, night["stdout"] + night["stderr"][-3000:]
    assert [line.split()[:2] for line in night["stdout"].strip().splitlines()] == [[STOPPED, "success"],
                                                                                   [NEXT, "success"]]
    facts = night["warehouse"]
    verdicts = {(batch, scope): verdict for batch, scope, verdict in facts["verdicts"]}
    assert verdicts[(STOPPED, "raw")] in ("passed", "warnings"), facts["verdicts"]
    assert verdicts[(NEXT, "raw")] in ("passed", "warnings") and verdicts[(NEXT, "marts")] in ("passed", "warnings")
    assert not [c for c in facts["critical"] if c[0] in (STOPPED, NEXT)], facts["critical"]
    assert NEXT in facts["lists"] and STOPPED not in facts["lists"], "only the newest batch's run targets"
    assert [row for row in facts["loads"] if row[0] == STOPPED] == [[STOPPED, "LOADED"]] * 2
    # a new copy is published, through the next batch
    assert night["published"] != nights.record["published_before"]
    with duckdb.connect(str(nights.home / "analytics.duckdb"), read_only=True) as con:
        assert str(con.execute("select max(batch_date) from marts.fct_imei_quality").fetchone()[0]) == "2026-11-22"
    runs = {r["logical_date"][:19]: r for r in dag_runs(nights.home).values()}
    stopped, last = runs[LOGICAL[STOPPED]], runs[LOGICAL[NEXT]]
    assert stopped["state"] == "success" and stopped["tasks"]["publish"] == "skipped"
    assert last["state"] == "success"
    for stage in ("quality_raw", "decide_transforms", "dbt_build.dbt_producer_watcher", "quality_marts", "campaigns",
                  "publish", "reports"):
        assert last["tasks"][stage] == "success", (stage, last["tasks"][stage])
    assert last["tasks"]["score_models"] in ("success", "skipped")  # skipped while no model is trained
    assert last["tasks"]["night_failed"] == "skipped"


# ---------------------------------------------------------------------------- kill -9 during the campaign write-back
IGNORED = {"built_at", "written_at"}  # when a list was built and written: a rerun renews them by design


def campaign_db_rows(db: CampaignDatabase) -> dict[str, list[tuple]]:
    """Every row of the campaign database's two tables (dates as ISO text, run times left out), sorted."""
    out = {}
    for table in ("campaign_run", "target_list"):
        if db.is_postgres:
            with psycopg.connect(db.url) as conn:
                cur = conn.execute(f'SELECT * FROM "{db.schema}".{table}')
                names, rows = [c.name for c in cur.description], cur.fetchall()
        else:
            with contextlib.closing(sqlite3.connect(db.sqlite_path)) as conn:
                cur = conn.execute(f"SELECT * FROM {table}")
                names, rows = [c[0] for c in cur.description], cur.fetchall()
        keep = [i for i, n in enumerate(names) if n not in IGNORED]
        out[table] = sorted(tuple(str(r[i]) if isinstance(r[i], dt.date) else r[i] for i in keep) for r in rows)
    return out


def campaigns_in_priority_order(warehouse: Path, run_date: str) -> list[tuple[str, int]]:
    """(campaign, rows in its list) of the run date, in the order a run writes them."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute("select r.campaign, count(t.campaign) from campaigns.campaign_run r "
                           "left join campaigns.target_list t using (campaign, run_date) "
                           "where r.run_date = strptime(?, '%Y%m%d')::date group by r.campaign, r.priority "
                           "order by r.priority, r.campaign", [run_date]).fetchall()


def without_the_nights_lists(home: Path, run_date: str) -> None:
    """The state before the night's campaign stage: no list of that date in the warehouse, no campaign database."""
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        for table in ("target_list", "suppression_count", "campaign_run"):
            con.execute(f"delete from campaigns.{table} where run_date = strptime(?, '%Y%m%d')::date", [run_date])
    (home / "campaign.db").unlink()


def campaign_db_env(url: str | None = None, schema: str | None = None) -> dict[str, str]:
    """This environment with the campaign database chosen: SQLite under the home, or PostgreSQL at `url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VASMART_CAMPAIGN_DB")}
    if url is not None:
        env.update(VASMART_CAMPAIGN_DB_URL=url, VASMART_CAMPAIGN_DB_SCHEMA=schema)
    return env


def campaigns_cli(home: BuiltHome, env: dict[str, str]):
    """`vasmart campaigns` on the home, in the environment given."""
    with mock.patch.dict(os.environ, env, clear=True):
        return run_vasmart(home.home, "campaigns", key=home.key)


@pytest.fixture
def night_copy(nights, tmp_path) -> BuiltHome:
    copy = copy_of_built_home(BuiltHome(nights.home, nights.key, {}), tmp_path / "home")
    without_the_nights_lists(copy.home, NEXT)
    return copy


def test_kill_during_the_sqlite_write_back_then_rerun_gives_the_clean_lists(nights, night_copy):
    clean_db = campaign_db_rows(CampaignDatabase(None, nights.home / "campaign.db"))
    clean_lists = table_checksums(nights.warehouse, ("campaigns",), IGNORED)
    order = [c for c, _ in campaigns_in_priority_order(nights.warehouse, NEXT)]
    db = CampaignDatabase(None, night_copy.home / "campaign.db")
    journal = db.sqlite_path.with_name("campaign.db-journal")
    run = start_vasmart(night_copy.home, night_copy.key, "campaigns", env=campaign_db_env())

    # Once a first list is committed, hold a read lock, as a reader of the campaign database does: the next
    # write-back transaction can write its rows but not commit. Kill the run while it is inside that transaction.
    reader = None
    try:
        def committed() -> list[str]:
            try:
                with contextlib.closing(sqlite3.connect(db.sqlite_path, timeout=30)) as conn:
                    return [r[0] for r in conn.execute("select campaign from campaign_run")]
            except sqlite3.OperationalError:  # not created yet
                return []

        wait_until(run, lambda: db.sqlite_path.exists() and len(committed()) >= 1)
        reader = sqlite3.connect(db.sqlite_path, timeout=30, isolation_level=None)
        reader.execute("begin")
        done = [r[0] for r in reader.execute("select campaign from campaign_run")]
        kill_when(run, journal.exists, timeout=300)
    finally:
        if reader is not None:
            reader.close()
    assert 1 <= len(done) < len(order) and sorted(done) == sorted(order[: len(done)]), (done, order)

    # the interrupted list is not there (its transaction rolled back), the committed ones are whole
    partial = campaign_db_rows(db)
    assert sorted(r[0] for r in partial["campaign_run"]) == sorted(done)
    assert partial["target_list"] == [r for r in clean_db["target_list"] if r[0] in done]

    rerun = campaigns_cli(night_copy, campaign_db_env())
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert campaign_db_rows(db) == clean_db
    assert table_checksums(night_copy.warehouse, ("campaigns",), IGNORED) == clean_lists


@pytest.fixture
def postgres_schema():
    """A schema of its own on the test server (.ci/postgres; make test exports its URL), dropped afterwards."""
    url = os.environ.get("VASMART_TEST_PG_URL")
    if not url:
        pytest.fail("VASMART_TEST_PG_URL is not set: start the server with .ci/postgres and export the URL it prints")
    schema = f"kill_{uuid.uuid4().hex[:12]}"
    yield url, schema
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_kill_during_the_postgresql_write_back_then_rerun_gives_the_clean_lists(nights, night_copy, postgres_schema):
    url, schema = postgres_schema
    clean_db = campaign_db_rows(CampaignDatabase(None, nights.home / "campaign.db"))
    clean_lists = table_checksums(nights.warehouse, ("campaigns",), IGNORED)
    order = campaigns_in_priority_order(nights.warehouse, NEXT)
    # the second list with rows: its last row is where the write-back will wait
    blocked = [c for c, rows in order if rows][1]
    last = max((r for r in clean_db["target_list"] if r[0] == blocked), key=lambda r: r[4])  # by rank
    done = [c for c, _ in order[: [c for c, _ in order].index(blocked)]]
    db = CampaignDatabase(url, night_copy.home / "unused.db", schema)
    with db.transaction():
        pass  # the schema and tables, as the first write-back creates them

    # Another session inserts that row and holds its transaction open: the write-back of `blocked` deletes,
    # inserts its run and its other rows, then waits on that key. Kill the run while it waits.
    env = campaign_db_env(url, schema)
    with psycopg.connect(url) as holder:
        holder.execute(f'INSERT INTO "{schema}".target_list (campaign, run_date, user_pseudonym, rank, "group") '
                       "VALUES (%s, %s, %s, %s, 'TARGET')", [blocked, dt.date(2026, 11, 22), last[2], last[4]])
        run = start_vasmart(night_copy.home, night_copy.key, "campaigns", env=env)

        def waiting() -> bool:
            with psycopg.connect(url, autocommit=True) as conn:
                return conn.execute("select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
                                    "and query ilike %s", [f'%"{schema}".target_list%']).fetchone()[0] > 0

        kill_when(run, waiting, timeout=900)
        holder.rollback()

    def settled() -> bool:  # the killed client's session has ended (its transaction rolled back)
        with psycopg.connect(url, autocommit=True) as conn:
            return conn.execute("select count(*) from pg_stat_activity where query ilike %s and pid <> "
                                "pg_backend_pid()", [f'%"{schema}".%']).fetchone()[0] == 0

    deadline = time.monotonic() + 60
    while not settled():
        assert time.monotonic() < deadline, "the killed write-back's session is still open"
        time.sleep(0.2)

    partial = campaign_db_rows(db)
    assert sorted(r[0] for r in partial["campaign_run"]) == sorted(done)
    assert partial["target_list"] == [r for r in clean_db["target_list"] if r[0] in done]

    rerun = campaigns_cli(night_copy, env)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert campaign_db_rows(db) == clean_db
    assert table_checksums(night_copy.warehouse, ("campaigns",), IGNORED) == clean_lists
