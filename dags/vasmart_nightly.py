"""
### vasmart nightly: one run per delivered batch

The source systems deliver batch **D** (`landing/<D>/`, named for the last business date it covers)
shortly after midnight. The run for D has **logical date D 02:00 Asia/Shanghai**: a scheduled run
fires at D+1 02:00 with data interval [D 02:00, D+1 02:00), and `vasmart run` starts its runs at the
same logical date, so a batch has one run whichever way it was started (rerunning it replaces that run).
The tasks take the batch from the logical date (for a manual run Airflow infers a data interval ending
at it, which is not used). Trigger a batch from the UI with logical date D 02:00 +08:00.

Tasks (logic lives in `vasmart.ingest`; this file only wires it):

1. `check_batch_complete` - the interfaces batch D must carry; fails if a control file is missing.
2. `ingest` - one mapped task per interface: verify, decode, validate and swap in its raw partition.
3. `close_batch` - records the batch verdict in `audit.load_batch` (runs when every interface has
   finished and at least one loaded, so a partly failed batch is recorded as FAILED).
4. `train_models` - after a month-end batch, monthly retraining of the three models (`models_ml`);
   skipped on other nights, and while the features table has not been built.
5. `score_models` - every champion model scores the batch into `marts.fct_model_scores`; skipped until
   a model has been trained.

Data faults (`IngestError`: a bad file, a missing control file, too many rejects) fail at once, since a
retry reads the same files; anything else (warehouse busy, disk) is retried with exponential backoff.
Tasks that write `warehouse.duckdb` share the one-slot pool `vasmart_warehouse`, and one run is active
at a time. The landing directory is the `landing` param, else `$VASMART_LANDING`, else
`$VASMART_HOME/landing`. Catch-up over missed nights is off unless `VASMART_CATCHUP=true`.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, TriggerRule, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

if TYPE_CHECKING:
    from vasmart.config import Settings

TIMEZONE = "Asia/Shanghai"
WAREHOUSE_POOL = "vasmart_warehouse"  # one slot: DuckDB has one writer per file (see vasmart.orchestration)


def _run_inputs() -> tuple[Settings, Path, str, str]:
    """Settings, landing directory, batch (the logical date, YYYYMMDD in the DAG's timezone) and load id."""
    from vasmart.config import Settings

    context = get_current_context()
    if context.get("logical_date") is None:
        raise AirflowFailException("this run has no logical date: trigger it with the batch date as one")
    settings = Settings.from_env()
    landing = context["params"].get("landing") or os.environ.get("VASMART_LANDING") or settings.landing
    batch = context["logical_date"].in_timezone(context["dag"].timezone).strftime("%Y%m%d")
    return settings, Path(landing), batch, context["run_id"]


@dag(
    dag_id="vasmart_nightly",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone=TIMEZONE),
    start_date=pendulum.datetime(2020, 1, 1, 2, tz=TIMEZONE),
    catchup=os.environ.get("VASMART_CATCHUP", "false").lower() in ("1", "true", "yes"),
    max_active_runs=1,
    default_args={
        "owner": "vasmart",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=15),
    },
    params={
        "landing": Param(None, type=["null", "string"], description="Landing directory "
                         "(default $VASMART_LANDING, else $VASMART_HOME/landing)."),
    },
    tags=["vasmart", "nightly", "ingest"],
)
def vasmart_nightly() -> None:
    """Load the batch of the run's logical date into the warehouse."""

    @task
    def check_batch_complete() -> list[str]:
        """The interfaces the batch must carry; fails when a control file that must be there is missing."""
        from vasmart.ingest import IngestError, expected_interfaces

        _, landing, batch, _ = _run_inputs()
        try:
            return expected_interfaces(landing, batch)
        except IngestError as exc:
            raise AirflowFailException(str(exc)) from exc

    @task(pool=WAREHOUSE_POOL, map_index_template="{{ task.op_kwargs['interface'] }}", multiple_outputs=False)
    def ingest(interface: str) -> dict[str, Any]:
        """Load one interface of the batch into its raw partition (all or nothing) and log its files."""
        from dataclasses import asdict

        from vasmart.ingest import IngestError, ingest_interface

        settings, landing, batch, load_id = _run_inputs()
        try:
            return asdict(ingest_interface(settings, landing, batch, interface, load_id))
        except IngestError as exc:
            raise AirflowFailException(str(exc)) from exc

    @task(pool=WAREHOUSE_POOL, trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS, multiple_outputs=False)
    def close_batch() -> dict[str, Any]:
        """Record the batch verdict; fails if an interface failed or rejected more than allowed."""
        from dataclasses import asdict

        from vasmart.ingest import IngestError
        from vasmart.ingest import close_batch as close

        settings, _, batch, load_id = _run_inputs()
        try:
            return asdict(close(settings, batch, load_id))
        except IngestError as exc:
            raise AirflowFailException(str(exc)) from exc

    @task(pool=WAREHOUSE_POOL, multiple_outputs=False)
    def train_models() -> list[str]:
        """After a month-end batch, retrain the models on what is known by then; skipped on other nights."""
        import datetime as dt

        from models_ml.nightly import NotApplicable, train_after_month_end

        settings, _, batch, _ = _run_inputs()
        try:
            return train_after_month_end(settings, dt.datetime.strptime(batch, "%Y%m%d").date())
        except NotApplicable as exc:
            raise AirflowSkipException(str(exc)) from exc

    @task(pool=WAREHOUSE_POOL, trigger_rule=TriggerRule.NONE_FAILED, multiple_outputs=False)
    def score_models() -> list[str]:
        """Score the batch with every champion model into marts.fct_model_scores."""
        import datetime as dt

        from models_ml.nightly import NotApplicable, score_batch

        settings, _, batch, _ = _run_inputs()
        try:
            return score_batch(settings, dt.datetime.strptime(batch, "%Y%m%d").date())
        except NotApplicable as exc:
            raise AirflowSkipException(str(exc)) from exc

    loaded = ingest.expand(interface=check_batch_complete())
    closed = close_batch()
    loaded >> closed
    # the quality gate and the dbt build go between close_batch and train_models
    closed >> train_models() >> score_models()

    # Later stages follow `closed` in this order, each added by its owner with the package it calls:
    # quality gate (data_contracts/) >> dbt build (cosmos, from a prebuilt manifest.json) >> train_models
    # >> score_models >> campaigns >> publish (analytics.duckdb, reports).


dag = vasmart_nightly()

if __name__ == "__main__":
    dag.test()  # the batch of today; `vasmart run` runs delivered batches in the embedded Airflow environment
