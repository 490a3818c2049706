"""dbt docs for auditors: `dbt docs generate` in-process (vasmart.build's conventions: dbt's files under
$VASMART_HOME/dbt/, telemetry off, DuckDB connection closed afterwards), written as one self-contained page
`reports/dbt_docs/index.html` the way `--static` does (manifest and catalog inlined), with two differences:
the unit tests' given/expect rows are left out of the inlined manifest (their made-up phone numbers would
look like personal data in a report) and nothing is fetched from the network. JavaScript's largest safe
integer, a 16-digit literal in the page's libraries, is written as an expression for the same reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

from vasmart.build import (
    PROFILES_DIR,
    PROJECT_DIR,
    BuildError,
    _check_free,
    _environ,
    _one_line,
    dbt_dirs,
    dbt_env,
    release_dbt_connections,
)
from vasmart.config import Settings
from vasmart.quality.offline_docs import offline


def build_dbt_docs(settings: Settings) -> Path:
    """Generate dbt docs for the warehouse as built; BuildError (one line) when dbt cannot."""
    from dbt.cli.main import dbtRunner

    target, logs = dbt_dirs(settings)
    docs_target = target.parent / "docs-target"
    docs_target.mkdir(parents=True, exist_ok=True)
    for name in ("manifest.json", "catalog.json", "index.html"):  # dbt's partial-parse state stays: a quick parse
        (docs_target / name).unlink(missing_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    _check_free(settings)
    args = ["docs", "generate", "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROFILES_DIR),
            "--target-path", str(docs_target), "--log-path", str(logs)]
    with _environ(dbt_env(settings)):
        try:
            outcome = dbtRunner().invoke(args)
        finally:
            release_dbt_connections()
    if outcome.exception is not None or not outcome.success:
        raise BuildError(f"dbt docs generate failed: {_one_line(outcome.exception or 'see ' + str(logs / 'dbt.log'))}")
    manifest = json.loads((docs_target / "manifest.json").read_text(encoding="utf-8"))
    for test in manifest.get("unit_tests", {}).values():
        test["given"], test["expect"] = [], {}
    page = (docs_target / "index.html").read_text(encoding="utf-8")
    page = page.replace('"MANIFEST.JSON INLINE DATA"', json.dumps(manifest))
    page = page.replace('"CATALOG.JSON INLINE DATA"', (docs_target / "catalog.json").read_text(encoding="utf-8"))
    page = page.replace("9007199254740991", "(2**53-1)")
    out = settings.reports / "dbt_docs" / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_name(f".index.html.{os.getpid()}.tmp")
    temp.write_text(offline(page), encoding="utf-8")
    os.replace(temp, out)
    return out
