"""sqlfluff with the dbt templater passes on every model (the configuration is dbt_project/.sqlfluff)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from vasmart.dbt_paths import PROJECT_DIR


def test_sqlfluff_passes_on_every_model(tmp_path):
    home = tmp_path / "home"
    # staging compiles only against a raw zone; one partition of an interface no model reads makes every
    # source an empty typed relation (macros/lake.sql)
    partition = home / "lake" / "raw" / "ZZ_LINT_ONLY" / "batch_date=20000101"
    partition.mkdir(parents=True)
    import duckdb

    duckdb.sql(f"copy (select 1 as x) to '{partition / 'data.parquet'}' (format parquet)")
    env = {**os.environ, "VASMART_HOME": str(home), "VASMART_PSEUDONYM_KEY": "lint-only",
           "DBT_TARGET_PATH": str(tmp_path / "target"), "DBT_LOG_PATH": str(tmp_path / "logs"),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "False", "DO_NOT_TRACK": "1"}
    sqlfluff = Path(sys.executable).with_name("sqlfluff")
    proc = subprocess.run([str(sqlfluff), "lint", "models", "--format", "json", "--processes", "2"],
                          cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=900, check=False)
    files = json.loads(proc.stdout)
    skipped = [line for line in proc.stderr.splitlines() if "Skipping" in line or "skipping" in line]
    assert not skipped, skipped[:5]
    models = list(PROJECT_DIR.glob("models/**/*.sql"))
    assert len(files) == len(models), proc.stderr[-2000:]
    problems = [f"{f['filepath']}:{v['start_line_no']} {v['code']} {v['description']}"
                for f in files for v in f["violations"]]
    assert not problems, "\n".join(problems[:40]) + (f"\n... {len(problems)} in all" if len(problems) > 40 else "")
    assert not (PROJECT_DIR / "target").exists(), "the lint wrote dbt's target/ into the project"
