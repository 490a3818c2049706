"""DAG integrity: dags/ imports cleanly and fast, and the nightly DAG is wired as designed.

Airflow is loaded in fresh subprocesses with the embedded environment pointed at a temporary VASMART_HOME, so
parsing measures a cold interpreter and nothing touches ~/airflow or the test process's imports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vasmart.config import Settings
from vasmart.orchestration import DAGS_FOLDER, TELEMETRY_OFF, WAREHOUSE_POOL, airflow_env

DAG_FILE = DAGS_FOLDER / "vasmart_nightly.py"
PARSE_BUDGET_S = 2.0
LIGHT_VASMART = {"vasmart", "vasmart.config", "vasmart.dbt_paths", "vasmart.dbt_tasks"}

# Dumps what the tests check as JSON: the DagBag as the DAG processor loads it, and per-task settings.
DESCRIBE = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from airflow.dag_processing.dagbag import DagBag
    from vasmart.orchestration import batch_logical_date

    folder = Path(sys.argv[1])
    bag = DagBag(dag_folder=str(folder), bundle_path=folder, bundle_name="dags-folder")
    out = {"import_errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
    for dag_id, dag in bag.dags.items():
        d = out["dags"][dag_id] = {
            "tags": sorted(dag.tags), "doc_md": dag.doc_md or "", "max_active_runs": dag.max_active_runs,
            "catchup": dag.catchup, "timezone": str(dag.timezone.name),
            "timetable": type(dag.timetable).__name__, "cron": dag.timetable.expression,
            "start_date": dag.start_date.in_timezone(dag.timezone).isoformat() if dag.start_date else None,
            "params": sorted(dag.params.keys()), "tasks": {},
        }
        for t in dag.tasks:
            d["tasks"][t.task_id] = {
                "retries": t.retries, "retry_delay_s": t.retry_delay.total_seconds(),
                "backoff": t.retry_exponential_backoff, "owner": t.owner, "pool": t.pool,
                "trigger_rule": str(getattr(t.trigger_rule, "value", t.trigger_rule)),
                "upstream": sorted(t.upstream_task_ids), "downstream": sorted(t.downstream_task_ids),
                "mapped": type(t).__name__.endswith("MappedOperator"),
                "doc": bool(t.doc_md or getattr(getattr(t, "python_callable", None), "__doc__", None)),
                "dbt_flags": list(getattr(t, "dbt_cmd_flags", None) or []),
            }
        if dag_id == "vasmart_nightly":
            d["batches"] = {}
            for batch in ("20251130", "20260101", "20260602", "20261120"):
                logical = batch_logical_date(dag, batch)
                d["batches"][batch] = {"logical": logical.in_timezone(dag.timezone).isoformat(),
                                       "as_batch": logical.in_timezone(dag.timezone).strftime("%Y%m%d")}
    print(json.dumps(out))
    """
)

# Parses the DAG file as the DAG processor's parsing process does (`processor._parse_file`: a BundleDagBag without
# operator-link plugins, then the serialisation sent back to the manager), in a cold interpreter that has loaded
# only what that process has loaded before it reads a file: the processor module, the execution-time modules
# its entry point imports, and the Airflow modules the file imports (`parsing_pre_import_modules`).
PARSE_TIME = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import structlog
    from airflow.dag_processing import processor
    from airflow.sdk.execution_time import comms, task_runner
    path = Path(sys.argv[1]).resolve()
    log = structlog.get_logger(logger_name="task")
    processor._pre_import_airflow_modules(str(path), log)
    before = set(sys.modules)
    t0, cpu0 = time.perf_counter(), time.process_time()
    bag = processor.BundleDagBag(dag_folder=str(path), bundle_path=path.parent, bundle_name="dags-folder",
                                 load_op_links=False)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    serialized, errors = processor._serialize_dags(bag, log)
    serialize_seconds = time.perf_counter() - t0 - seconds
    new = set(sys.modules) - before
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "airflow_seconds": bag.dagbag_stats[0].duration.total_seconds(),
                      "serialize_seconds": serialize_seconds, "serialized": len(serialized),
                      "errors": {**{k: str(v) for k, v in bag.import_errors.items()}, **errors},
                      "dags": sorted(bag.dag_ids), "tasks": sum(len(d.tasks) for d in bag.dags.values()),
                      "imported": sorted(new)}))
    """
)
HEAVY = ("vasmart", "models_ml", "duckdb", "pandas", "pyarrow", "numpy", "dbt", "cosmos", "great_expectations",
         "fastapi", "starlette", "sqlalchemy")


def _airflow_python(code: str, *args: str, home: Path) -> dict:
    env = {**os.environ, **airflow_env(Settings(home=home))}
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def manifest_home(tmp_path_factory) -> Path:
    """A VASMART_HOME with the prebuilt dbt manifest, as `vasmart run` and `make airflow` prepare it."""
    from vasmart.build import parse_manifest

    home = tmp_path_factory.mktemp("vasmart_home")
    parse_manifest(Settings(home=home))
    return home


@pytest.fixture(scope="module")
def described(manifest_home) -> dict:
    return _airflow_python(DESCRIBE, str(DAGS_FOLDER), home=manifest_home)


@pytest.fixture(scope="module")
def nightly(described) -> dict:
    assert "vasmart_nightly" in described["dags"], sorted(described["dags"])
    return described["dags"]["vasmart_nightly"]


def test_dagbag_has_no_import_errors(described):
    assert described["import_errors"] == {}
    assert described["dags"], "no DAG found in dags/"


def test_every_dag_has_tags_owner_and_retries(described):
    for dag_id, dag in described["dags"].items():
        assert dag["tags"], f"{dag_id} has no tags"
        for task_id, task in dag["tasks"].items():
            assert task["retries"] >= 1, f"{dag_id}.{task_id} has no retries"
            assert task["owner"] and task["owner"] != "airflow", f"{dag_id}.{task_id} has no owner"


def test_parsing_the_dag_file_is_fast_and_light(manifest_home):
    result = _airflow_python(PARSE_TIME, str(DAG_FILE), home=manifest_home)
    assert result["errors"] == {}
    assert result["dags"] == ["vasmart_nightly"] and result["serialized"] == 1
    assert result["tasks"] > 100, "the dbt project's tasks are rendered at parse time"
    # The budget is on the CPU time the parse takes in that process: on a machine shared with the other test
    # worker, the wall-clock time also counts the neighbours' work (Airflow's own wall-clock record is printed).
    assert result["cpu_seconds"] < PARSE_BUDGET_S, f"parsing took {result['cpu_seconds']:.2f} s of CPU"
    # cosmos renders the dbt tasks at parse time (from the prebuilt manifest): nothing else heavy is imported,
    # and reading the manifest loads no Airflow plugin (cosmos's would bring in FastAPI and Starlette)
    heavy = sorted(m for m in result["imported"] if m.split(".")[0] in HEAVY
                   and m.split(".")[0] != "cosmos" and m not in LIGHT_VASMART)
    assert heavy == [], "the DAG file imports at parse time what its tasks should import"
    print(f"parse {result['cpu_seconds']:.2f} s of CPU, {result['seconds']:.2f} s wall-clock (Airflow's record "
          f"{result['airflow_seconds']:.2f} s); serialisation {result['serialize_seconds']:.2f} s; {result['tasks']} tasks")


def test_tasks_and_dependencies(nightly, manifest_home):
    tasks = nightly["tasks"]
    stages = {t for t in tasks if not t.startswith("dbt_build.")}
    assert stages == {"check_batch_complete", "ingest", "close_batch", "quality_raw", "decide_transforms",
                      "quality_marts", "train_models", "score_models", "campaigns", "publish", "reports",
                      "night_failed"}
    assert tasks["check_batch_complete"]["upstream"] == []
    assert tasks["ingest"]["upstream"] == ["check_batch_complete"]
    assert tasks["ingest"]["mapped"], "ingest must be mapped over the batch's interfaces"
    assert tasks["close_batch"]["upstream"] == ["ingest"]
    assert tasks["quality_raw"]["upstream"] == ["close_batch"]
    assert tasks["decide_transforms"]["upstream"] == ["quality_raw"]
    assert tasks["train_models"]["upstream"] == ["quality_marts"]
    assert tasks["score_models"]["upstream"] == ["train_models"]
    assert tasks["score_models"]["trigger_rule"] == "none_failed", "scoring runs on nights without retraining"
    assert tasks["campaigns"]["upstream"] == ["score_models"]
    assert tasks["publish"]["upstream"] == ["campaigns"]
    assert sorted(tasks["reports"]["upstream"]) == ["publish", "quality_raw"]
    assert tasks["reports"]["trigger_rule"] == "all_done"
    assert tasks["night_failed"]["trigger_rule"] == "one_failed" and not tasks["night_failed"]["downstream"]
    assert all(tasks[t]["doc"] for t in stages), "every task has a docstring"
    # the dbt project rendered from the prebuilt manifest: one producer running `dbt build`, after the
    # decision, and per model a task for its run and one for its tests, each downstream of the producer
    producer = "dbt_build.dbt_producer_watcher"
    assert tasks[producer]["upstream"] == ["decide_transforms"]
    # the night's build leaves dbt's unit tests to `vasmart build` and the test suite
    assert tasks[producer]["dbt_flags"][-2:] == ["--exclude-resource-type", "unit_test"]
    manifest = json.loads((manifest_home / "dbt" / "manifest" / "manifest.json").read_text())
    models = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert {t.split(".")[1] for t in tasks if t.startswith("dbt_build.") and t.endswith(".run")} == models
    for model in models:
        assert producer in tasks[f"dbt_build.{model}.run"]["upstream"], model
    # the marts' quality checks wait for every leaf of the dbt group (a model's tests, or the producer's done)
    group = {t for t in tasks if t.startswith("dbt_build.")}
    leaves = {t for t in group if not set(tasks[t]["downstream"]) & group}
    assert set(tasks["quality_marts"]["upstream"]) == leaves


def test_one_warehouse_writer_at_a_time(nightly):
    tasks = nightly["tasks"]
    for task in ("ingest", "close_batch", "quality_raw", "dbt_build.dbt_producer_watcher", "quality_marts",
                 "train_models", "score_models", "campaigns", "publish", "reports"):
        assert tasks[task]["pool"] == WAREHOUSE_POOL, task
    assert nightly["max_active_runs"] == 1


def test_close_batch_records_a_partly_failed_batch(nightly):
    # it runs when every interface has finished and one loaded, so a failed interface gets a FAILED verdict
    assert nightly["tasks"]["close_batch"]["trigger_rule"] == "all_done_min_one_success"


def test_retries_back_off(nightly):
    for task in nightly["tasks"].values():
        assert task["retry_delay_s"] > 0 and task["backoff"] > 1


def test_schedule_is_nightly_in_the_operators_timezone(nightly):
    assert nightly["timetable"] == "CronDataIntervalTimetable"
    assert nightly["cron"] == "0 2 * * *"
    assert nightly["timezone"] == "Asia/Shanghai"
    assert nightly["start_date"].startswith("2020-01-01T02:00:00")
    assert nightly["catchup"] is False
    assert nightly["params"] == ["landing", "newest_batch"]
    assert nightly["doc_md"].strip()


def test_a_batch_maps_to_the_logical_date_of_its_scheduled_run(nightly):
    # batch D <-> logical date D 02:00 Asia/Shanghai (the data interval start of D's scheduled run)
    for batch, mapping in nightly["batches"].items():
        assert mapping["as_batch"] == batch
        assert mapping["logical"].startswith(f"{batch[:4]}-{batch[4:6]}-{batch[6:]}T02:00:00"), mapping


def test_environment_is_embedded_and_silent(tmp_path):
    env = airflow_env(Settings(home=tmp_path))
    assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'airflow' / 'airflow.db'}"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(DAGS_FOLDER)
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    for key in ("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "DBT_SEND_ANONYMOUS_USAGE_STATS", "DO_NOT_TRACK"):
        assert env[key] == TELEMETRY_OFF[key]
    assert TELEMETRY_OFF["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False"
    assert TELEMETRY_OFF["DO_NOT_TRACK"] == "1"
