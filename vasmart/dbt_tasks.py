"""The dbt project as Airflow tasks (astronomer-cosmos), rendered from the prebuilt manifest.

`vasmart.orchestration.prepare` writes the manifest with `dbt parse` ($VASMART_HOME/dbt/manifest/manifest.json)
before anything parses the DAG, so the DAG file never runs dbt. Cosmos's watcher mode runs the whole build in
ONE `dbt build` (the producer task: one dbt start, DuckDB's threads, tests right after each model) and shows one
task per model and per model's tests that reports that node's own outcome; a failed model fails its task
(and its tests' task), with the producer's log holding dbt's output. The producer is placed upstream of every
node task so that the per-node tasks read finished results in any executor, `dag.test` included. The dbt
tasks share the warehouse's one-slot pool: DuckDB has one writer per file.
"""

from __future__ import annotations

from typing import Any

from vasmart.config import Settings
from vasmart.dbt_paths import NIGHTLY_BUILD_FLAGS, PROFILES_DIR, PROJECT_DIR, engine_from_env, manifest_path

GROUP_ID = "dbt_build"
PRODUCER_SUFFIX = "dbt_producer_watcher"


def dbt_task_group(settings: Settings, pool: str, default_args: dict[str, Any] | None = None) -> Any:
    """A cosmos DbtTaskGroup for the whole project (one `dbt build`), to be created inside a DAG context.

    With `VASMART_ENGINE=spark` the group is one task instead: `dbt build` with the spark target, then the
    tables Spark built are attached to the warehouse for the single-machine stages after it."""
    if engine_from_env() == "spark":
        return spark_task_group(pool)
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    manifest = manifest_path(settings)
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest} is missing: run `vasmart run` or `make airflow`, which write it "
                                "with `dbt parse` before Airflow reads the DAG")
    project = ProjectConfig(dbt_project_path=PROJECT_DIR, manifest_path=manifest, project_name="vasmart")
    # Read the local manifest as the plain file it is: cosmos wraps it in an ObjectStoragePath, whose first read
    # asks Airflow's hook-lineage collector, which loads every installed Airflow plugin (cosmos's own imports
    # FastAPI) while the DAG file is parsed.
    project.manifest_path = manifest
    group = DbtTaskGroup(
        group_id=GROUP_ID,
        project_config=project,
        profile_config=ProfileConfig(profile_name="vasmart", target_name="duckdb",
                                     profiles_yml_filepath=PROFILES_DIR / "profiles.yml"),
        execution_config=ExecutionConfig(execution_mode=ExecutionMode.WATCHER,
                                         invocation_mode=InvocationMode.DBT_RUNNER),
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.AFTER_EACH,
                                   emit_datasets=False),
        operator_args={"install_deps": False, "pool": pool, "deferrable": False},
        default_args=default_args or {},
    )
    producer = next(t for tid, t in group.children.items() if tid.endswith(PRODUCER_SUFFIX))
    producer.dbt_cmd_flags = [*(producer.dbt_cmd_flags or []), *NIGHTLY_BUILD_FLAGS]
    for task_id, task in group.children.items():
        if task is producer or task_id.endswith(PRODUCER_SUFFIX + "_done"):
            continue
        producer >> task
    return group


def spark_task_group(pool: str) -> Any:
    """The dbt stage on Spark: one task running `vasmart.build.build(engine="spark")` in the worker."""
    from airflow.sdk import TaskGroup, task

    with TaskGroup(group_id=GROUP_ID) as group:
        @task(task_id="dbt_build_spark", pool=pool)
        def dbt_build_spark() -> str:
            """dbt build on Spark (sources on the raw zone, marts as Parquet tables), then attach the tables."""
            from vasmart import spark
            from vasmart.build import build

            settings = Settings.from_env()
            result = build(settings, engine="spark")
            attached = spark.attach_to_warehouse(settings, spark.table_locations(spark.session(settings)))
            return f"{result.summary()}; {attached} tables attached to the warehouse"

        dbt_build_spark()
    return group


def producer_task_id() -> str:
    """The task that runs `dbt build`."""
    return f"{GROUP_ID}.{PRODUCER_SUFFIX}"

