"""`vasmart run`: delivered batches go through the nightly Airflow DAG, for real, in date order.

One tiny delivery is generated with the real CLI once per session (300 users, one month-end history batch and
seven daily batches; pytest-xdist workers share it through a file lock). Each test copies the batches it needs
into its own VASMART_HOME, runs `vasmart run` as a subprocess, and reads the outcome back from the warehouse
(DuckDB, read-only), Airflow's metadata DB (SQLite) and the task logs under $VASMART_HOME/airflow.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from filelock import FileLock

VASMART = Path(sys.executable).with_name("vasmart")
BATCHES = ["20260531", "20260601", "20260602"]
DAYS = [f"202606{d:02d}" for d in range(1, 8)]
TIMEOUT_S = 1800


def vasmart(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VASMART_HOME": str(home), "VASMART_PSEUDONYM_KEY": "vasmart-run-test-key-3e1"}
    env.pop("VASMART_LANDING", None)
    return subprocess.run([str(VASMART), *args], capture_output=True, text=True, env=env, cwd=home.parent,
                          timeout=TIMEOUT_S, check=False)


def one_line(text: str) -> str:
    """stderr as one line (the console may wrap a long reason)."""
    return " ".join(text.split())


def delivered(tmp_path_factory) -> Path:
    """The session's generated home (landing, truth, generation record): made by the first worker that asks."""
    root = tmp_path_factory.getbasetemp()
    if root.name.startswith("popen-gw"):  # under xdist each worker has its own base; share their parent
        root = root.parent
    home = root / "run_delivery" / "home"
    with FileLock(str(root / "run_delivery.lock")):
        if not (root / "run_delivery.done").exists():
            shutil.rmtree(home.parent, ignore_errors=True)
            home.parent.mkdir()
            result = vasmart(home, "generate", "--out", str(home), "--users", "300", "--months", "1", "--days", "7",
                             "--end-date", DAYS[-1], "--seed", "4")
            assert result.returncode == 0, result.stderr[-2000:]
            (root / "run_delivery.done").write_text("")
    return home


def copy_of_delivery(tmp_path_factory, dest: Path, batches: list[str]) -> Path:
    """A home holding the delivered batches named, as if only they had been delivered."""
    source = delivered(tmp_path_factory)
    shutil.copytree(source, dest, symlinks=True, ignore=lambda folder, names: [
        n for n in names if Path(folder) == source / "landing" and n not in batches])
    assert sorted(p.name for p in (dest / "landing").iterdir()) == batches
    return dest


@pytest.fixture
def home(tmp_path_factory, tmp_path) -> Path:
    return copy_of_delivery(tmp_path_factory, tmp_path / "home", BATCHES)


def load_batches(home: Path) -> dict[str, list[str]]:
    """batch_date -> statuses recorded in audit.load_batch, oldest first."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT batch_date, status FROM audit.load_batch ORDER BY finished_at").fetchall()
    finally:
        con.close()
    found: dict[str, list[str]] = {}
    for batch, status in rows:
        found.setdefault(batch, []).append(status)
    return found


def dag_runs(home: Path) -> list[tuple[str, str, str]]:
    """(logical_date, state, run_id) of the nightly DAG's runs in Airflow's metadata DB."""
    con = sqlite3.connect(home / "airflow" / "airflow.db")
    try:
        return con.execute("SELECT logical_date, state, run_id FROM dag_run WHERE dag_id = 'vasmart_nightly' "
                           "ORDER BY logical_date").fetchall()
    finally:
        con.close()


def task_states(home: Path) -> dict[str, dict[str, str]]:
    """run_id -> task_id -> state of the nightly DAG's task instances (unmapped tasks)."""
    con = sqlite3.connect(home / "airflow" / "airflow.db")
    try:
        rows = con.execute("SELECT run_id, task_id, state FROM task_instance WHERE dag_id = 'vasmart_nightly' "
                           "AND map_index = -1").fetchall()
    finally:
        con.close()
    states: dict[str, dict[str, str]] = {}
    for run_id, task_id, state in rows:
        states.setdefault(run_id, {})[task_id] = state
    return states


def test_run_loads_every_batch_once_through_airflow(home):
    first = vasmart(home, "run")
    assert first.returncode == 0, first.stderr[-3000:]
    lines = first.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == BATCHES, first.stdout
    assert all(line.split()[1] == "success" for line in lines), first.stdout

    assert load_batches(home) == {batch: ["LOADED"] for batch in BATCHES}

    # one successful DAG run per batch, at D 02:00 Asia/Shanghai (= D-1 18:00 UTC) in the SQLite metadata DB
    runs = dag_runs(home)
    assert [state for _, state, _ in runs] == ["success"] * 3
    assert [logical[:19] for logical, _, _ in runs] == ["2026-05-30 18:00:00", "2026-05-31 18:00:00",
                                                         "2026-06-01 18:00:00"]
    # task logs land under AIRFLOW_HOME in Airflow's layout (one per task instance), where the UI reads them
    logs = home / "airflow" / "logs" / "dag_id=vasmart_nightly"
    for _, _, run_id in runs:
        run_logs = logs / f"run_id={run_id}"
        assert (run_logs / "task_id=check_batch_complete" / "attempt=1.log").is_file()
        assert (run_logs / "task_id=close_batch" / "attempt=1.log").is_file()
        assert len(list((run_logs / "task_id=ingest").glob("map_index=*/attempt=1.log"))) == 13

    # the stages after loading ran once, with the newest batch: built, published; skipped before it
    states = task_states(home)
    for _, _, run_id in runs[:-1]:
        assert states[run_id]["decide_transforms"] == "success"
        assert states[run_id]["publish"] == "skipped" and states[run_id]["dbt_build.dbt_producer_watcher"] == "skipped"
    last = states[runs[-1][2]]
    assert last["publish"] == "success" and last["dbt_build.dbt_producer_watcher"] == "success"
    assert all(state == "success" for task, state in last.items() if task.startswith("dbt_build."))
    with duckdb.connect(str(home / "analytics.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_vas_order_charges").fetchone()[0] > 0

    second = vasmart(home, "run")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "no pending batches" in second.stdout
    assert load_batches(home) == {batch: ["LOADED"] for batch in BATCHES}
    assert len(dag_runs(home)) == 3


def test_run_stops_at_the_first_failed_batch_naming_it(home):
    bad = next((home / "landing" / "20260601").glob("CDR_SMS_20260601_*.dat.gz"))
    data = bytearray(bad.read_bytes())
    data[100] ^= 0xFF
    bad.write_bytes(bytes(data))

    failed = vasmart(home, "run")  # 20260531 loads (its transforms wait for the newer batches), 20260601 fails
    assert failed.returncode == 1, failed.stdout
    assert [line.split()[:2] for line in failed.stdout.strip().splitlines()] == [["20260531", "success"]], failed.stdout
    reason = one_line(failed.stderr)
    assert "batch 20260601" in reason and "ingest[CDR_SMS]" in reason and bad.name in reason, reason
    assert "md5" in reason, reason
    assert len(failed.stderr.strip().splitlines()) <= 3, failed.stderr  # a reason, not a traceback

    # the verdict is recorded; the next batch is not attempted
    assert load_batches(home) == {"20260531": ["LOADED"], "20260601": ["FAILED"]}
    assert [state for _, state, _ in dag_runs(home)] == ["success", "failed"]


def test_run_refuses_a_bad_through_date(home):
    result = vasmart(home, "run", "--through", "2026-06-01")
    assert result.returncode != 0
    assert "2026-06-01" in result.stderr
    assert not (home / "warehouse.duckdb").exists()


# when a batch's raw partition was (re)written: lineage that a rerun renews by design, so left out
RENEWED_BY_A_RERUN = {"inputs_written_at"}


def checksums(path: Path, schema: str) -> dict[str, tuple[int, int]]:
    """(rows, order-independent hash of every row but its rerun-renewed lineage) per table of the schema."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [r[0] for r in con.execute("select table_name from information_schema.tables "
                                            "where table_schema = ? and table_type = 'BASE TABLE'", [schema]).fetchall()]
        out = {}
        for table in tables:
            columns = [r[0] for r in con.execute("select column_name from information_schema.columns "
                                                 "where table_schema = ? and table_name = ?", [schema, table]).fetchall()
                       if r[0] not in RENEWED_BY_A_RERUN]
            hashed = ", ".join(f'"{c}"' for c in columns)
            out[table] = con.execute(f'select count(*), coalesce(sum(hash({hashed})::hugeint), 0) '
                                     f'from "{schema}"."{table}"').fetchone()
    return out


def test_a_backfill_of_seven_days_run_twice_gives_identical_results(tmp_path_factory, tmp_path):
    home = copy_of_delivery(tmp_path_factory, tmp_path / "home", ["20260531", *DAYS])
    days = DAYS
    first = vasmart(home, "run", "--from", days[0], "--through", days[-1], "--rerun")  # month end not loaded
    assert first.returncode == 0, first.stderr[-3000:]
    assert [line.split()[0] for line in first.stdout.strip().splitlines()] == days
    clean = (checksums(home / "warehouse.duckdb", "marts"), checksums(home / "analytics.duckdb", "marts"))
    assert clean[0] and clean[0] == clean[1]

    again = vasmart(home, "run", "--from", days[0], "--through", days[-1], "--rerun")
    assert again.returncode == 0, again.stderr[-3000:]
    assert [line.split()[0] for line in again.stdout.strip().splitlines()] == days
    assert (checksums(home / "warehouse.duckdb", "marts"), checksums(home / "analytics.duckdb", "marts")) == clean
    # each run of a batch is recorded; the raw zone holds each batch once, as delivered
    assert load_batches(home) == {day: ["LOADED"] * 2 for day in days}
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        per_batch = dict(con.execute("select batch_date, count(*) from raw.boss_user group by all").fetchall())
    delivered = {}
    for day in days:
        control = (home / "landing" / day / f"BOSS_USER_{day}.chk").read_text().splitlines()
        delivered[day] = sum(int(line.split("|")[2]) for line in control if line.strip())
    assert per_batch == delivered
