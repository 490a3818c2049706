"""Running the dbt project (`dbt_project/`) in this process: `dbt build` on the warehouse, telemetry off.

The engine is DuckDB (`warehouse.duckdb`, target `duckdb`) unless `engine="spark"` or `VASMART_ENGINE=spark`:
then the same project builds with the `spark` target on the SparkSession `vasmart.spark` starts in this
process (raw zone and campaign lists declared first), its artifacts under `$VASMART_HOME/dbt/spark/`.

dbt's working files go under `$VASMART_HOME/dbt/` (target/: manifest, compiled SQL, run results; logs/),
never into the repository. dbt and the ingest both write `warehouse.duckdb` and never run at the same time:
a build refuses to start while another process holds the file, and closes its DuckDB connection when done so
that the next step of the same process (the nightly DAG runs in one) can open it.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vasmart.config import Settings
from vasmart.dbt_paths import (
    ENGINES,
    NIGHTLY_BUILD_FLAGS,
    PROFILES_DIR,
    PROJECT_DIR,
    engine_from_env,
    manifest_path,
)
from vasmart.warehouse import WarehouseBusy, connect

__all__ = ["ENGINES", "PROFILES_DIR", "PROJECT_DIR", "BuildError", "BuildResult", "build", "engine_from_env",
           "manifest_path", "parse_manifest"]

# dbt reports usage to dbt Labs unless told not to (the project's flags say so too); nothing may call out.
TELEMETRY_OFF = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "DBT_ENGINE_SEND_ANONYMOUS_USAGE_STATS": "False",  # the name dbt 1.11 reads first
    "DO_NOT_TRACK": "1",
}
FAILED = {"error", "fail", "runtime error"}


class BuildError(RuntimeError):
    """dbt build did not succeed; the message is one line naming what failed."""


@dataclass
class BuildResult:
    """What a build did."""

    seconds: float
    statuses: Counter = field(default_factory=Counter)  # (resource type, status) -> nodes
    target_path: Path | None = None
    log_path: Path | None = None

    @property
    def nodes(self) -> int:
        return sum(self.statuses.values())

    def summary(self) -> str:
        """One line for the command line."""
        by_status = Counter()
        for (_, status), n in self.statuses.items():
            by_status[status] += n
        parts = ", ".join(f"{n} {status}" for status, n in sorted(by_status.items()))
        return f"dbt build: {self.nodes} nodes ({parts}) in {self.seconds:.1f} s; artifacts in {self.target_path}"


def dbt_dirs(settings: Settings, engine: str = "duckdb") -> tuple[Path, Path]:
    """dbt's target and log directories under VASMART_HOME (DuckDB's at the top, another engine's beside)."""
    root = settings.home / "dbt"
    if engine != "duckdb":
        root = root / engine
    return root / "target", root / "logs"


def dbt_env(settings: Settings) -> dict[str, str]:
    """Environment for dbt: where the warehouse and the raw zone are (profiles.yml and sources read it), telemetry off."""
    return {"VASMART_HOME": str(settings.home), "DBT_PROFILES_DIR": str(PROFILES_DIR), **TELEMETRY_OFF}


@contextlib.contextmanager
def _environ(updates: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration (dbt in-process reads os.environ), then restore them."""
    saved = {k: os.environ.get(k) for k in updates}
    os.environ.update(updates)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _one_line(text: str, limit: int = 400) -> str:
    """Squeeze a (multi-line) message into one line."""
    line = " ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def release_dbt_connections() -> None:
    """Close the DuckDB connection dbt-duckdb keeps open for the process (it holds the warehouse's write lock)."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - dbt-duckdb is a dependency
        return
    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
    DuckDBConnectionManager.close_all_connections()


def _check_free(settings: Settings) -> None:
    """Refuse to start while another process holds the warehouse (DuckDB has one writer per file)."""
    try:
        connect(settings).close()
    except WarehouseBusy as exc:
        raise BuildError(f"dbt build not started: {exc}") from None


def _reason(message: str) -> str:
    """A node's failure message without dbt's 'Runtime Error in model x (path)' header or a Python traceback."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    if lines and re.match(r"^\w+ Error in \S+ \S+ \(.*\)$", lines[0]):
        lines = lines[1:]
    if "At:" in lines:
        lines = lines[: lines.index("At:")]
    return _one_line("\n".join(lines), 300)


def _failures(results) -> list[str]:
    """'<type> <name>: <reason>' for every failed node."""
    out = []
    for r in results:
        status = str(getattr(r.status, "value", r.status)).lower()
        if status in FAILED:
            out.append(f"{r.node.resource_type} {r.node.name}: {_reason(r.message or status)}")
    return out


def _start_spark(settings: Settings) -> None:
    """The SparkSession dbt-spark's session method runs on, with the raw zone and campaign lists declared."""
    from vasmart import spark
    from vasmart.contracts import load_contracts

    try:
        spark.prepare(spark.session(settings), settings, sorted(load_contracts()))
    except spark.SparkUnavailable as exc:
        raise BuildError(f"dbt build not started: {exc}") from None


def build(settings: Settings, select: str | None = None, full_refresh: bool = False,
          engine: str | None = None, nightly: bool = False, retest_raw: bool = False) -> BuildResult:
    """Run `dbt build` (models, snapshots, seeds, tests) in-process on DuckDB or Spark; BuildError naming what failed.

    `nightly` builds as the nightly DAG does: without dbt's unit tests (NIGHTLY_BUILD_FLAGS). The raw sources'
    tests check the partitions no build has tested yet; `retest_raw` checks every partition again."""
    from dbt.cli.main import dbtRunner

    try:
        engine = engine or engine_from_env()
    except ValueError as exc:
        raise BuildError(str(exc)) from None
    if engine not in ENGINES:
        raise BuildError(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")
    target, logs = dbt_dirs(settings, engine)
    target.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    if engine == "duckdb":
        (settings.home / "tmp" / "dbt-duckdb").mkdir(parents=True, exist_ok=True)
        _check_free(settings)
    else:
        _start_spark(settings)
    args = ["build", "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROFILES_DIR),
            "--target-path", str(target), "--log-path", str(logs), "--target", engine]
    if select:
        args += ["--select", select]
    if full_refresh:
        args.append("--full-refresh")
    if retest_raw:
        args += ["--vars", '{"vasmart_raw_tests": "all"}']
    if nightly:
        args += NIGHTLY_BUILD_FLAGS
    started = time.perf_counter()
    with _environ(dbt_env(settings)):
        try:
            outcome = dbtRunner().invoke(args)
        finally:
            release_dbt_connections()
    seconds = time.perf_counter() - started
    results = list(getattr(outcome.result, "results", None) or [])
    result = BuildResult(seconds, Counter(
        (str(r.node.resource_type), str(getattr(r.status, "value", r.status)).lower()) for r in results),
        target, logs)
    if outcome.exception is not None:
        raise BuildError(f"dbt build could not run: {_one_line(outcome.exception)}")
    failures = _failures(results)
    if failures:
        more = f" (+{len(failures) - 1} more; see {logs / 'dbt.log'})" if len(failures) > 1 else ""
        raise BuildError(f"dbt build failed: {failures[0]}{more}")
    if not outcome.success:
        raise BuildError(f"dbt build failed (see {logs / 'dbt.log'})")
    if select and not results:
        raise BuildError(f"dbt build: --select {select!r} matched nothing")
    return result


def parse_manifest(settings: Settings) -> Path:
    """`dbt parse` into $VASMART_HOME/dbt/manifest/ (no warehouse access): the manifest the DAG file reads."""
    from dbt.cli.main import dbtRunner

    target = manifest_path(settings).parent
    _, logs = dbt_dirs(settings)
    target.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    args = ["--quiet", "parse", "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROFILES_DIR),
            "--target-path", str(target), "--log-path", str(logs)]
    with _environ(dbt_env(settings)):
        outcome = dbtRunner().invoke(args)
    if not outcome.success:
        raise BuildError(f"dbt parse failed: {_one_line(outcome.exception or 'see ' + str(logs / 'dbt.log'))}")
    return manifest_path(settings)
