"""One generated, ingested and built warehouse shared by the suites that read the marts.

`built_home()` generates a delivery with the real CLI, ingests every batch in date order and runs the full
`vasmart build` with the shared pseudonym key, once per test session: pytest-xdist workers share it through a
file lock in the session's base temporary directory, so the first worker builds and the others wait for it.

The shared home is read-only for tests: open `warehouse.duckdb` with `read_only=True`. A test that writes
(trains, scores, runs campaigns, publishes) works on `copy_of_built_home()`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock
from vasmart_cli import run_vasmart

KEY = "vasmart-shared-pipeline-test-key-5c1f"
# 13 history months (2025-10 .. 2026-10) and 7 daily batches (2026-11-14 .. 11-20): enough label months to
# train on one month, validate on a later one and calibrate on a third.
USERS = 5000
GENERATE = ["--users", str(USERS), "--months", "13", "--days", "7", "--end-date", "20261120", "--seed", "17"]
DONE = "built.json"


@dataclass(frozen=True)
class BuiltHome:
    """A home with landing/, truth/, lake/, warehouse.duckdb and dbt/target/ after the full build."""

    home: Path
    key: str
    seconds: dict[str, float]

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def manifest(self) -> dict:
        return json.loads((self.home / "dbt" / "target" / "manifest.json").read_text())

    def pseudonym(self, value: object) -> str:
        """The keyed pseudonym the marts carry for a raw identifier (same HMAC-SHA256 as the dbt UDF)."""
        return hmac.new(self.key.encode(), str(value).encode(), hashlib.sha256).hexdigest()


def _build(home: Path) -> dict[str, float]:
    from vasmart.config import Settings
    from vasmart.ingest import ingest_batch

    seconds = {}
    started = time.perf_counter()
    gen = run_vasmart(home, "generate", "--out", str(home), *GENERATE, key=KEY)
    assert gen.returncode == 0, gen.stderr[-3000:]
    seconds["generate"] = time.perf_counter() - started

    started = time.perf_counter()
    settings = Settings(home=home)
    for batch in sorted(p.name for p in (home / "landing").iterdir() if p.is_dir()):
        ingest_batch(settings, home / "landing", batch, f"test-{batch}")
    seconds["ingest"] = time.perf_counter() - started

    started = time.perf_counter()
    build = run_vasmart(home, "build", key=KEY, timeout=1800)
    assert build.returncode == 0, build.stderr[-3000:] + build.stdout[-3000:]
    seconds["build"] = time.perf_counter() - started
    return seconds


def built_home(tmp_path_factory: pytest.TempPathFactory) -> BuiltHome:
    """The session's shared built home (built by the first worker that asks; the others wait)."""
    root = tmp_path_factory.getbasetemp()
    if root.name.startswith("popen-gw"):  # under xdist each worker has its own base; share their parent
        root = root.parent
    home = root / "shared_pipeline"
    with FileLock(str(root / "shared_pipeline.lock")):
        done = home / DONE
        if not done.exists():
            if home.exists():
                shutil.rmtree(home)  # a build that failed earlier in the session starts over
            home.mkdir()
            seconds = _build(home)
            done.write_text(json.dumps(seconds))
    return BuiltHome(home, KEY, json.loads((home / DONE).read_text()))


def copy_of_built_home(shared: BuiltHome, dest: Path) -> BuiltHome:
    """A private copy of the shared home (landing, truth, lake, warehouse, dbt artifacts) for tests that write."""
    shutil.copytree(shared.home, dest, symlinks=True, ignore=shutil.ignore_patterns("*.lock", "*.wal"))
    return BuiltHome(dest, shared.key, dict(shared.seconds))


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory) -> BuiltHome:
    """The shared built home (read-only)."""
    return built_home(tmp_path_factory)
