"""Failures an operator meets at night: a process killed with SIGKILL in the middle of a stage, the warehouse
held by another process. Each rerun is compared, by checksum of every row, with the clean run.

All on private copies of the shared built home (tests/pipeline_home.py), whose marts are the clean result.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from pipeline_home import copy_of_built_home
from vasmart_cli import run_vasmart, vasmart_command


def table_checksums(path: Path, schemas: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """(rows, order-independent hash of every row) for every table of the schemas."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute("select table_schema, table_name from information_schema.tables "
                             f"where table_schema in ({', '.join('?' for _ in schemas)}) and table_type = 'BASE TABLE'",
                             list(schemas)).fetchall()
        out = {}
        for schema, table in tables:
            columns = [r[0] for r in con.execute("select column_name from information_schema.columns "
                                                 "where table_schema = ? and table_name = ?", [schema, table]).fetchall()]
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


def start_vasmart(home: Path, key: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "VASMART_HOME": str(home), "VASMART_PSEUDONYM_KEY": key}
    return subprocess.Popen([*vasmart_command(), *args], env=env, cwd=home, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


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
