"""Airflow for vasmart: the embedded environment, and running delivered batches through the nightly DAG.

The embedded default keeps Airflow's state under `$VASMART_HOME/airflow` (AIRFLOW_HOME): the SQLite metadata
DB `airflow.db`, the `airflow.cfg` Airflow writes on first use, and task logs under `logs/`. `vasmart run`
and `make airflow` (the UI) use the same environment, so the UI shows the runs `vasmart run` made.

`run_batches` runs each pending batch as one real run of `dags/vasmart_nightly.py`, in this process
(`DAG.test`): Airflow's dependency loop, the task runner and the execution API work against the metadata DB
as they do under the scheduler, minus the scheduler's polling and a process per task. Airflow's own log
records go to files: a task instance's to its log file in Airflow's layout (where the UI reads it), the
rest to `logs/vasmart_run/batch=<D>.log`. Airflow is imported only after the environment is set, never at
module import.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import shlex
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pluggy

from vasmart.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
DAGS_FOLDER = REPO_ROOT / "dags"
DAG_ID = "vasmart_nightly"
WAREHOUSE_POOL = "vasmart_warehouse"  # the DAG's writers share it; DuckDB has one writer per file
API_HOST, API_PORT = "127.0.0.1", 8080

# Everything in the stack that reports usage off the machine by default, switched off (nothing may call out).
TELEMETRY_OFF = {
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",  # Airflow's Scarf usage data (3.0-3.2; gone in 3.3)
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",  # astronomer-cosmos usage metrics (cosmos/settings.py)
    "DO_NOT_TRACK": "1",  # cosmos honours it too, as do other tools following the convention
    "SCARF_NO_ANALYTICS": "true",  # cosmos (and any Scarf-instrumented package)
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",  # dbt's snowplow tracking ...
    "DBT_ENGINE_SEND_ANONYMOUS_USAGE_STATS": "False",  # ... under the name dbt 1.11 reads first
    "GX_ANALYTICS_ENABLED": "False",  # Great Expectations usage statistics
    "OPENLINEAGE_DISABLED": "true",  # the OpenLineage client installed with the dbt tooling: no events
}

_hookimpl = pluggy.HookimplMarker("airflow")  # what airflow.listeners.hookimpl is, without importing Airflow


class OrchestrationError(RuntimeError):
    """The Airflow environment could not be prepared, or a batch's run failed; the message is one line."""


class BatchFailed(OrchestrationError):
    """A batch's DAG run failed; names the batch, the (first) failed task and its reason."""

    def __init__(self, batch: str, task: str, reason: str, run: BatchRun):
        named = reason if batch in reason else f"batch {batch}: {reason}"  # the engine's reasons name it
        super().__init__(f"{task} failed: {named}")
        self.batch, self.task, self.reason, self.run = batch, task, reason, run


@dataclass
class BatchRun:
    """One batch's DAG run: its state, what it loaded, and where the time went."""

    batch: str
    run_id: str
    state: str
    seconds: float  # the whole run, as `vasmart run` waited for it
    task_seconds: float  # the task instances' durations, summed (the rest is Airflow between tasks)
    interfaces: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (task[interface], reason), first first

    def summary(self) -> str:
        """One line for the command line."""
        return (f"{self.batch}  {self.state}  {self.interfaces:>2} interfaces  {self.rows_loaded:>11,} rows "
                f"loaded  {self.rows_rejected:>7,} rejected  {self.seconds:5.1f} s "
                f"({self.task_seconds:.1f} s in tasks)  run {self.run_id}")


# ---------------------------------------------------------------------------------------------- environment
def airflow_home(settings: Settings) -> Path:
    """AIRFLOW_HOME of the embedded default."""
    return settings.home / "airflow"


def airflow_env(settings: Settings, port: int = API_PORT) -> dict[str, str]:
    """Environment for every Airflow process of the embedded default (CLI runs, scheduler, UI)."""
    home = airflow_home(settings)
    return {
        "VASMART_HOME": str(settings.home),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        # Airflow 3's local executor; few workers, since SQLite takes one writer at a time
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__API__HOST": API_HOST,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://{API_HOST}:{port}",
        # cosmos's watcher otherwise rewrites an Airflow Variable holding every node status so far after each
        # node (quadratic in nodes); the producer is not retried, so its statuses need saving only on failure
        "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY": "False",
        **TELEMETRY_OFF,
    }


def default_landing(settings: Settings) -> Path:
    """`$VASMART_LANDING`, else `$VASMART_HOME/landing` (what the DAG uses when no landing is passed)."""
    return Path(os.environ.get("VASMART_LANDING") or settings.landing).resolve()


def prepare(settings: Settings, port: int = API_PORT) -> None:
    """Point this process at the embedded Airflow, migrate its metadata DB, create the writer pool, and write
    the dbt manifest the DAG renders its dbt tasks from (`dbt parse`, partial parsing: fast when unchanged).

    Idempotent: an up-to-date DB is left as it is. Must run before anything imports Airflow in this process.
    """
    from vasmart.build import parse_manifest

    _use_environment(settings, port)
    parse_manifest(settings)
    _migrate()
    from airflow.models.pool import Pool

    Pool.create_or_update_pool(WAREHOUSE_POOL, slots=1, include_deferred=False,
                               description="Tasks writing warehouse.duckdb (DuckDB has one writer per file)")


def _use_environment(settings: Settings, port: int = API_PORT) -> None:
    """Set this process's environment to the embedded default, before Airflow is imported."""
    env = airflow_env(settings, port)
    configured = os.environ.get("AIRFLOW_HOME")
    if "airflow" in sys.modules and configured != env["AIRFLOW_HOME"]:
        raise OrchestrationError(f"Airflow was already imported in this process with "
                                 f"AIRFLOW_HOME={configured}; run vasmart in a fresh process")
    os.environ.update(env)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)


def _migrate() -> None:
    """`airflow db migrate`, skipped when `airflow db check-migrations` finds the schema current."""
    from airflow.utils import db

    try:
        db.check_migrations(timeout=0)
    except TimeoutError:
        db.upgradedb()


@contextlib.contextmanager
def _exclusive(settings: Settings) -> Iterator[None]:
    """One `vasmart run` at a time per VASMART_HOME (both would write the same warehouse)."""
    path = airflow_home(settings) / "vasmart-run.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OrchestrationError(f"another vasmart run is using {settings.home} (lock {path})") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _first_line(error: BaseException | str) -> str:
    """An error's one-line reason."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


# ---------------------------------------------------------------------------------------------- task logs
class _LogRouter(io.RawIOBase):
    """Where Airflow's JSON log lines go: the running task instance's log file, else the current run log."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._default: BinaryIO | None = None
        self._task: BinaryIO | None = None

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        """Stays open: loggers and wrappers that close their stream must not close the router."""

    def write(self, data: bytes) -> int:  # type: ignore[override]
        with self._lock:
            sink = self._task or self._default
            if sink is not None:
                sink.write(data)
                sink.flush()
        return len(data)

    def to_default(self, path: Path) -> None:
        """Send lines outside task instances to `path` (appending)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            if self._default is not None:
                self._default.close()
            self._default = open(path, "ab")  # noqa: SIM115 - kept open until the router moves on

    def to_task(self, path: Path | None) -> None:
        """Send lines to a task instance's log file (appending), or back to the default when None."""
        with self._lock:
            if self._task is not None:
                self._task.close()
            self._task = open(path, "ab") if path is not None else None  # noqa: SIM115 - as above


class _TaskListener:
    """Airflow listener: routes each task instance's log lines, keeps failures' reasons, tells of retries."""

    def __init__(self, router: _LogRouter):
        from airflow.sdk.log import init_log_file
        from airflow.utils.helpers import log_filename_template_renderer

        self.router, self.errors = router, {}
        self.batch, self.notify = "", None
        self._render, self._init_file = log_filename_template_renderer(), init_log_file

    @_hookimpl
    def on_task_instance_running(self, previous_state, task_instance) -> None:
        self.router.to_task(self._init_file(self._render(ti=task_instance)))

    @_hookimpl
    def on_task_instance_success(self, previous_state, task_instance) -> None:
        self.router.to_task(None)

    @_hookimpl
    def on_task_instance_skipped(self, previous_state, task_instance) -> None:
        self.router.to_task(None)

    @_hookimpl
    def on_task_instance_failed(self, previous_state, task_instance, error) -> None:
        self.router.to_task(None)
        reason = _first_line(error) if error is not None else "failed"
        ti = task_instance
        self.errors[(ti.task_id, ti.map_index)] = reason
        if self.notify is not None and str(getattr(ti.state, "value", ti.state)) == "up_for_retry":
            name = ti.task_id + (f"[{ti.rendered_map_index or ti.map_index}]" if ti.map_index >= 0 else "")
            self.notify(f"batch {self.batch}: {name} failed (try {ti.try_number} of {ti.max_tries + 1}), "
                        f"Airflow retries it after its retry delay: {reason}")


@contextlib.contextmanager
def _airflow_logs_to_files(logs_dir: Path) -> Iterator[tuple[_LogRouter, _TaskListener]]:
    """Airflow's logging (and stray prints) into files under AIRFLOW_HOME/logs while the block runs."""
    from airflow.sdk.listener import get_listener_manager
    from airflow.sdk.log import configure_logging

    router = _LogRouter()
    router.to_default(logs_dir / "vasmart_run" / "vasmart_run.log")
    configure_logging(json_output=True, output=router, cache_logger_on_first_use=False)
    listener = _TaskListener(router)
    manager = get_listener_manager()
    manager.add_listener(listener)
    try:
        yield router, listener
    finally:
        manager.pm.unregister(listener)


@contextlib.contextmanager
def _stdio_to(router: _LogRouter) -> Iterator[None]:
    """print() and stray writes from tasks go to the logs too, not over the command's own output."""
    stream = io.TextIOWrapper(io.BufferedWriter(router), encoding="utf-8", line_buffering=True)
    try:
        with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
            yield
    finally:
        stream.flush()
        stream.detach().detach()  # hand the router back without closing it


# ---------------------------------------------------------------------------------------------- runs
def _load_dag() -> Any:
    """The nightly DAG, parsed from dags/ as the DAG processor parses it; an import error stops here."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER), bundle_path=DAGS_FOLDER, bundle_name="dags-folder")
    if bag.import_errors:
        path, error = next(iter(bag.import_errors.items()))
        raise OrchestrationError(f"{path} does not import: {str(error).strip().splitlines()[-1]}")
    dag = bag.get_dag(DAG_ID)
    if dag is None:
        raise OrchestrationError(f"no DAG {DAG_ID} in {DAGS_FOLDER}")
    return dag


def batch_logical_date(dag: Any, batch: str) -> Any:
    """The logical date of batch D's run: the DAG schedule's interval start on day D (D 02:00 Asia/Shanghai).

    The same date the scheduler gives D's scheduled run, so a batch has one run however it was started.
    """
    import pendulum
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    day = pendulum.datetime(int(batch[:4]), int(batch[4:6]), int(batch[6:]), tz=dag.timezone)
    restriction = TimeRestriction(earliest=day, latest=None, catchup=True)
    info = coerce_to_core_timetable(dag.timetable).next_dagrun_info(last_automated_data_interval=None,
                                                                    restriction=restriction)
    logical = info.logical_date if info is not None else None
    if logical is None or logical.in_timezone(dag.timezone).date() != day.date():
        raise OrchestrationError(f"batch {batch}: the schedule of {dag.dag_id} has no run on that day")
    return logical


def _run_batch(dag: Any, batch: str, landing: Path, router: _LogRouter, listener: _TaskListener,
               logs_dir: Path, newest: str | None = None) -> BatchRun:
    """One batch through one DAG run; its outcome read back from the metadata DB."""
    from airflow.models.dagrun import DagRun
    from airflow.sdk import timezone
    from sqlalchemy import update

    logical_date = batch_logical_date(dag, batch)
    listener.errors.clear()
    listener.batch = batch
    router.to_default(logs_dir / "vasmart_run" / f"batch={batch}.log")
    started_at, started = timezone.utcnow(), time.perf_counter()
    try:
        with _stdio_to(router):
            conf = {"landing": str(landing), "newest_batch": newest or batch}
            dag_run = dag.test(logical_date=logical_date, run_conf=conf)
    except Exception as exc:  # Airflow itself failed (metadata DB locked, ...): the tasks' errors are caught
        raise OrchestrationError(f"batch {batch}: Airflow could not run the DAG: {_first_line(exc)}") from exc
    seconds = time.perf_counter() - started
    run = _outcome(dag.dag_id, batch, dag_run.run_id, str(getattr(dag_run.state, "value", dag_run.state)),
                   seconds, listener.errors)
    from airflow.utils.session import create_session

    with create_session() as session:  # DAG.test dates the run from its logical date; the UI shows durations
        session.execute(update(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.run_id == run.run_id)
                        .values(start_date=started_at))
    if run.state != "success" or run.failed:  # a failed task fails the batch, even if the leaves succeeded
        task, reason = run.failed[0] if run.failed else (dag.dag_id, f"run ended {run.state}")
        raise BatchFailed(batch, task, reason, run)
    return run


def _outcome(dag_id: str, batch: str, run_id: str, state: str, seconds: float,
             errors: dict[tuple[str, int], str]) -> BatchRun:
    """The run's task instances and the ingest tasks' results, from the metadata DB."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id,
                                                         TaskInstance.run_id == run_id)).all()
        rows = session.scalars(XComModel.get_many(run_id=run_id, key="return_value", dag_ids=dag_id,
                                                  task_ids="ingest")).all()
        loads = [XComModel.deserialize_value(row) for row in rows]
        files = [f for load in loads if isinstance(load, dict) for f in load.get("files", [])]
        failed = sorted((ti for ti in tis if ti.state == "failed"),
                        key=lambda ti: ti.end_date or ti.start_date)
        return BatchRun(
            batch=batch, run_id=run_id, state=state, seconds=seconds,
            task_seconds=sum(ti.duration or 0.0 for ti in tis),
            interfaces=len(loads),
            rows_loaded=sum(f.get("rows_loaded") or 0 for f in files),
            rows_rejected=sum(f.get("rows_rejected") or 0 for f in files),
            failed=[(ti.task_id + (f"[{ti.rendered_map_index or ti.map_index}]" if ti.map_index >= 0 else ""),
                     errors.get((ti.task_id, ti.map_index), "failed (see its task log)")) for ti in failed],
        )


def delivered_batches(landing: Path) -> list[str]:
    """Every batch directory of the landing area that holds a control file, in date order."""
    return sorted(p.name for p in Path(landing).iterdir()
                  if p.is_dir() and p.name.isdigit() and len(p.name) == 8 and any(p.glob("*.chk")))


def run_batches(settings: Settings, landing: Path | None = None, through: str | None = None,
                on_batch: Callable[[BatchRun], None] | None = None,
                notify: Callable[[str], None] | None = None, since: str | None = None,
                rerun: bool = False) -> list[BatchRun]:
    """Run every pending batch through the nightly DAG in date order, from `since` through `through`.

    With `rerun` (a backfill), every delivered batch in the range runs again, loaded or not: each stage
    replaces what its batch wrote, so a backfill run twice gives the same warehouse and published copy.

    Each batch is one DAG run at `batch_logical_date`; `on_batch` hears of each finished run, `notify` of each
    retry Airflow makes. Raises `BatchFailed` (naming the batch, the failed task and its reason) at the first
    batch whose run fails, and OrchestrationError when there is nothing to run from or Airflow cannot start.
    """
    from vasmart.ingest import pending_batches

    landing = Path(landing).resolve() if landing is not None else default_landing(settings)
    if not landing.is_dir():
        raise OrchestrationError(f"no landing directory {landing}")
    with _exclusive(settings):
        try:
            pending = delivered_batches(landing) if rerun else pending_batches(settings, landing)
        except RuntimeError as exc:  # the warehouse held by another writer
            raise OrchestrationError(str(exc)) from exc
        batches = [b for b in pending if (through is None or b <= through) and (since is None or b >= since)]
        if not batches:
            return []
        _use_environment(settings)
        logs_dir = airflow_home(settings) / "logs"
        with _airflow_logs_to_files(logs_dir) as (router, listener):
            try:
                prepare(settings)
                dag = _load_dag()
            except OrchestrationError:
                raise
            except Exception as exc:
                raise OrchestrationError(f"Airflow under {airflow_home(settings)} could not start: "
                                         f"{_first_line(exc)}") from exc
            listener.notify = notify
            runs = []
            for batch in batches:
                run = _run_batch(dag, batch, landing, router, listener, logs_dir, newest=batches[-1])
                runs.append(run)
                if on_batch is not None:
                    on_batch(run)
            return runs


# --------------------------------------------------------------------------------------------- `make airflow`
def main(argv: list[str] | None = None) -> None:
    """`python -m vasmart.orchestration standalone [PORT]`: the UI, scheduler and DAG processor on localhost.

    `python -m vasmart.orchestration env` prints the environment as `export` lines, for the `airflow` CLI.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else ""
    port = int(args[1]) if len(args) > 1 else API_PORT
    settings = Settings.from_env()
    if command == "env":
        for key, value in airflow_env(settings, port).items():
            print(f"export {key}={shlex.quote(value)}")
        return
    if command != "standalone":
        raise SystemExit("usage: python -m vasmart.orchestration standalone [PORT] | env [PORT]")
    prepare(settings, port)
    bin_dir = Path(sys.executable).parent  # standalone starts its components as `airflow ...` from PATH
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"}  # no login: it listens on localhost only
    os.execve(bin_dir / "airflow", [str(bin_dir / "airflow"), "standalone"], env)


if __name__ == "__main__":
    main()
