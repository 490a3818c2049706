"""Two nights of the nightly DAG on a copy of a published home, run once per session for the failure suites.

The home starts as the quality suites' `clean` home (tests/quality_homes.py: the shared built home with batch
20261120 gated and published: yesterday's `analytics.duckdb`). `vasmart generate --continue-days 2` delivers
the batches 20261121 and 20261122, then, through `vasmart run` (the DAG under Airflow):

1. night one: batch 20261121 arrives with a tenth of its CDR_VOICE lines (a truncated extract whose control
   file agrees with it, so it loads cleanly): the quality gate must stop the night;
2. the source system redelivers 20261121 complete and 20261122 arrives: `vasmart run` runs both, the second
   building, scoring, targeting and publishing.

What can only be seen between the nights (the published copy's bytes, the warehouse's verdicts, scores and
lists) is recorded in `nights.json` beside the home. pytest-xdist workers share the home through a file lock.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import duckdb
from filelock import FileLock
from pipeline_home import BuiltHome, copy_of_built_home
from quality_homes import gated_homes, session_root
from vasmart_cli import run_vasmart

STOPPED = "20261121"
NEXT = "20261122"
KEEP_SHARE = 0.1  # of CDR_VOICE's lines: far below a fifth of the usual volume (a critical check)
DONE = "nights.json"


@dataclass(frozen=True)
class Nights:
    """The home after both nights, and what was recorded along the way."""

    home: Path
    key: str
    record: dict

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"


def sha256(path: Path) -> str | None:
    """The file's SHA-256, or None when it does not exist."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def dag_runs(home: Path) -> dict[str, dict]:
    """run_id -> {"state", "tasks": {task_id: state}} of the nightly DAG's runs (unmapped task instances)."""
    con = sqlite3.connect(home / "airflow" / "airflow.db")
    try:
        runs = {run_id: {"state": state, "logical_date": logical, "tasks": {}} for run_id, state, logical in
                con.execute("SELECT run_id, state, logical_date FROM dag_run WHERE dag_id = 'vasmart_nightly'")}
        for run_id, task_id, state in con.execute("SELECT run_id, task_id, state FROM task_instance "
                                                  "WHERE dag_id = 'vasmart_nightly' AND map_index = -1"):
            runs[run_id]["tasks"][task_id] = state
    finally:
        con.close()
    return runs


def warehouse_facts(warehouse: Path) -> dict:
    """Per batch the latest quality verdicts and failed critical checks; scores and campaign lists by date."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = {f"{s}.{t}" for s, t in con.execute("select table_schema, table_name from information_schema.tables")
                  .fetchall()}
        verdicts = con.execute("select batch_date, scope, verdict from audit.quality_run order by all").fetchall()
        critical = con.execute("select batch_date, table_name || '.' || metric from audit.quality_check "
                               "where severity = 'critical' and status = 'failed' order by all").fetchall()
        scores = (con.execute("select distinct strftime(batch_date, '%Y%m%d') from marts.fct_model_scores order by 1")
                  .fetchall() if "marts.fct_model_scores" in tables else [])
        lists = (con.execute("select distinct strftime(run_date, '%Y%m%d') from campaigns.campaign_run order by 1")
                 .fetchall() if "campaigns.campaign_run" in tables else [])
        loads = con.execute("select batch_date, status from audit.load_batch order by finished_at").fetchall()
    return {"verdicts": [list(map(str, r)) for r in verdicts], "critical": [list(map(str, r)) for r in critical],
            "scored": [r[0] for r in scores], "lists": [r[0] for r in lists], "loads": [list(r) for r in loads]}


def truncate_voice(landing: Path, batch: str, share: float) -> tuple[int, int]:
    """Redeliver the batch's CDR_VOICE with its first `share` of lines, the control file agreeing; lines before/after."""
    data = sorted((landing / batch).glob(f"CDR_VOICE_{batch}_*.dat.gz"))
    assert len(data) == 1, data
    lines = gzip.decompress(data[0].read_bytes()).splitlines(keepends=True)
    kept = lines[: int(len(lines) * share)]
    payload = gzip.compress(b"".join(kept))
    data[0].write_bytes(payload)
    chk = landing / batch / f"CDR_VOICE_{batch}.chk"
    fields = chk.read_text().strip().split("|")
    fields[1], fields[2], fields[3] = str(len(payload)), str(len(kept)), hashlib.md5(payload).hexdigest()
    chk.write_text("|".join(fields) + "\n")
    return len(lines), len(kept)


def _cli(home: Path, key: str, *args: str, timeout: int = 1800):
    """`vasmart ARGS` with the default campaign database (SQLite under the home)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VASMART_CAMPAIGN_DB", "VASMART_LANDING"))}
    with mock.patch.dict(os.environ, clean, clear=True):
        return run_vasmart(home, *args, key=key, timeout=timeout)


def _two_nights(root: Path, quality_root: Path, shared: BuiltHome, home: Path) -> dict:
    clean = gated_homes(quality_root, shared)["clean"]
    copy_of_built_home(BuiltHome(clean, shared.key, {}), home)
    record: dict = {}
    result = _cli(home, shared.key, "generate", "--continue-days", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    landing = home / "landing"
    assert sorted(p.name for p in landing.iterdir())[-2:] == [STOPPED, NEXT]

    delivered = root / "delivered"
    shutil.rmtree(delivered, ignore_errors=True)
    shutil.copytree(landing / STOPPED, delivered)
    record["voice_lines"] = truncate_voice(landing, STOPPED, KEEP_SHARE)

    analytics = home / "analytics.duckdb"
    record["published_before"] = sha256(analytics)
    record["campaign_db_before"] = sha256(home / "campaign.db")
    stopped = _cli(home, shared.key, "run", "--through", STOPPED)
    record["stopped_night"] = {"returncode": stopped.returncode, "stdout": stopped.stdout, "stderr": stopped.stderr,
                               "published": sha256(analytics), "campaign_db": sha256(home / "campaign.db"),
                               "warehouse": warehouse_facts(home / "warehouse.duckdb"), "runs": dag_runs(home)}

    for path in delivered.iterdir():  # the source system redelivers the batch complete
        shutil.copy2(path, landing / STOPPED / path.name)
    shutil.rmtree(delivered)
    good = _cli(home, shared.key, "run")
    record["good_night"] = {"returncode": good.returncode, "stdout": good.stdout, "stderr": good.stderr,
                            "published": sha256(analytics), "warehouse": warehouse_facts(home / "warehouse.duckdb")}
    return record


def two_nights(tmp_path_factory, shared: BuiltHome) -> Nights:
    """The home after both nights (made by the first worker that asks; the others wait)."""
    quality_root = session_root(tmp_path_factory)
    root = quality_root.parent / "night_homes"
    root.mkdir(exist_ok=True)
    home = root / "home"
    with FileLock(str(root / "nights.lock")):
        if not (root / DONE).exists():
            if home.exists():
                shutil.rmtree(home)
            (root / DONE).write_text(json.dumps(_two_nights(root, quality_root, shared, home)))
    return Nights(home, shared.key, json.loads((root / DONE).read_text()))
