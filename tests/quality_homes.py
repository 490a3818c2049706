"""Two homes for the quality suites, copied from the shared built pipeline and gated once per session.

- `clean`: the pipeline as built, batch 20261120 gated, then published; dbt docs generated.
- `stopped`: published first (the analysts' copy to keep), then defects planted in batch 20261120 and the
  batch gated (it stops). The planted defects and their independently computed expected values are kept
  in `planted.json` beside the home:
  * a null surge in a required field (BOSS_VAS_ORDER.channel emptied on every 4th line of the partition),
  * a null surge in an optional field (BOSS_USER.gender emptied for 3 users in 5),
  * a duplicate key (7 CDR_SMS rows repeated),
  * a volume drop (CDR_VOICE delivered with 40% of its lines, through the real landing files and loader),
  * an out-of-range rate (fct_imei_quality.user_match_rate of the batch set to 1.25).

Built by the first test that asks (a file lock shares them between pytest-xdist workers).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from filelock import FileLock
from pipeline_home import BuiltHome, copy_of_built_home
from vasmart_cli import run_vasmart

BATCH = "20261120"
DONE = "quality-done.json"


def _partition(home: Path, interface: str) -> Path:
    return home / "lake" / "raw" / interface / f"batch_date={BATCH}" / "data.parquet"


def _rewrite(home: Path, interface: str, select_sql: str) -> None:
    """Replace an interface's partition by a query over it (`t`)."""
    path = _partition(home, interface)
    temp = path.with_name("planted.parquet")
    con = duckdb.connect()
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{path}')")
    con.execute(f"COPY ({select_sql}) TO '{temp}' (FORMAT parquet)")
    con.close()
    temp.replace(path)


def _drop_volume(home: Path, keep_share: float) -> int:
    """Redeliver CDR_VOICE of the batch with the first `keep_share` of its lines, load it; lines kept."""
    from vasmart.config import Settings
    from vasmart.ingest.load import close_batch, ingest_interface

    landing = home / "landing" / BATCH
    data = sorted(landing.glob(f"CDR_VOICE_{BATCH}_*.dat.gz"))
    assert len(data) == 1, data
    lines = gzip.decompress(data[0].read_bytes()).splitlines(keepends=True)
    kept = lines[: int(len(lines) * keep_share)]
    payload = gzip.compress(b"".join(kept))
    data[0].write_bytes(payload)
    chk = landing / f"CDR_VOICE_{BATCH}.chk"
    fields = chk.read_text().strip().split("|")
    fields[1], fields[2], fields[3] = str(len(payload)), str(len(kept)), hashlib.md5(payload).hexdigest()
    chk.write_text("|".join(fields) + "\n")
    settings = Settings(home=home)
    ingest_interface(settings, home / "landing", BATCH, "CDR_VOICE", "planted-volume-drop")
    close_batch(settings, BATCH, "planted-volume-drop")
    return len(kept)


def plant_defects(home: Path) -> dict:
    """Plant the defects; what a correct report must show, computed from the planted files."""
    planted: dict = {}
    _rewrite(home, "BOSS_VAS_ORDER",
             "SELECT * REPLACE (CASE WHEN _line_number % 4 = 0 THEN NULL ELSE channel END AS channel) FROM t")
    orders = pq.read_table(_partition(home, "BOSS_VAS_ORDER")).to_pandas()
    empty = orders[orders["channel"].isna()].sort_values(["_file_name", "_line_number"])
    planted["null_channel"] = {"rows": len(empty),
                               "lines": [[f, int(n)] for f, n in zip(empty["_file_name"], empty["_line_number"])]}

    _rewrite(home, "BOSS_USER",
             "SELECT * REPLACE (CASE WHEN user_id % 5 < 3 THEN NULL ELSE gender END AS gender) FROM t")
    users = pq.read_table(_partition(home, "BOSS_USER"), columns=["gender"]).to_pandas()
    planted["null_gender_share"] = float(users["gender"].isna().mean())

    _rewrite(home, "CDR_SMS", "SELECT * FROM t UNION ALL SELECT * REPLACE (_line_number + 10000000 AS _line_number)"
                              " FROM (SELECT * FROM t ORDER BY _line_number LIMIT 7)")
    sms = pq.read_table(_partition(home, "CDR_SMS"), columns=["cdr_id", "_file_name", "_line_number"]).to_pandas()
    repeated = sms[sms.duplicated("cdr_id", keep=False)].sort_values(["_file_name", "_line_number"])
    planted["duplicate_sms"] = {"extra_rows": int(sms.duplicated("cdr_id").sum()), "rows": len(repeated),
                                "lines": [[f, int(n)] for f, n in zip(repeated["_file_name"], repeated["_line_number"])]}

    planted["voice_rows"] = _drop_volume(home, 0.4)

    con = duckdb.connect(str(home / "warehouse.duckdb"))
    con.execute("UPDATE marts.fct_imei_quality SET user_match_rate = 1.25 WHERE batch_date = DATE '2026-11-20'")
    con.close()
    planted["match_rate"] = 1.25
    return planted


def gated_homes(root: Path, shared: BuiltHome) -> dict[str, Path]:
    """The clean and the stopped home (built once per session)."""
    with FileLock(str(root / "quality-homes.lock")):
        if not (root / DONE).exists():
            for name in ("clean", "stopped"):
                if (root / name).exists():
                    shutil.rmtree(root / name)
            clean = copy_of_built_home(shared, root / "clean").home
            result = run_vasmart(clean, "quality", "--batch", BATCH, key=shared.key)
            assert result.returncode == 0, result.stderr[-3000:]
            result = run_vasmart(clean, "publish", key=shared.key)
            assert result.returncode == 0, result.stderr[-3000:]
            result = run_vasmart(clean, "reports", "--dbt-docs", key=shared.key)
            assert result.returncode == 0, result.stderr[-3000:]

            stopped = copy_of_built_home(shared, root / "stopped").home
            result = run_vasmart(stopped, "publish", key=shared.key)
            assert result.returncode == 0, result.stderr[-3000:]
            analytics = stopped / "analytics.duckdb"
            before = hashlib.sha256(analytics.read_bytes()).hexdigest()
            planted = plant_defects(stopped)
            gate = run_vasmart(stopped, "quality", "--batch", BATCH, key=shared.key)
            publish = run_vasmart(stopped, "publish", key=shared.key)
            after = hashlib.sha256(analytics.read_bytes()).hexdigest()
            (root / "planted.json").write_text(json.dumps({
                "planted": planted, "gate": [gate.returncode, gate.stdout, gate.stderr],
                "publish": [publish.returncode, publish.stdout, publish.stderr],
                "analytics_sha256": [before, after]}))
            (root / DONE).write_text("{}")
    return {"clean": root / "clean", "stopped": root / "stopped"}


def session_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.getbasetemp()
    if root.name.startswith("popen-gw"):
        root = root.parent
    path = root / "quality_homes"
    path.mkdir(exist_ok=True)
    return path
