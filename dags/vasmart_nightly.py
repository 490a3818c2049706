"""
### vasmart nightly: one run per delivered batch

The source systems deliver batch **D** (`landing/<D>/`, named for the last business date it covers)
shortly after midnight. The run for D has **logical date D 02:00 Asia/Shanghai**: a scheduled run
fires at D+1 02:00 with data interval [D 02:00, D+1 02:00), and `vasmart run` starts its runs at the
same logical date, so a batch has one run whichever way it was started (rerunning it replaces that run).
The tasks take the batch from the logical date (for a manual run Airflow infers a data interval ending
at it, which is not used). Trigger a batch from the UI with logical date D 02:00 +08:00.

Tasks (logic lives in the packages; this file only wires it):

1. `check_batch_complete` - the interfaces batch D must carry; fails if a control file is missing.
2. `ingest` - one mapped task per interface: verify, decode, validate and swap in its raw partition.
3. `close_batch` - records the batch verdict in `audit.load_batch` (runs when every interface has
   finished and at least one loaded, so a partly failed batch is recorded as FAILED).
4. `quality_raw` - the data-quality gate on the batch's raw partitions and load log (`vasmart.quality`,
   Great Expectations): a critical failure stops the night here; warnings are reported.
5. `decide_transforms` - when newer delivered batches wait (catching up), the stages below run once, in
   the newest batch's run, and are skipped here (`vasmart.nightly`).
6. `dbt_build` - the dbt project rendered by astronomer-cosmos from the prebuilt manifest: one `dbt build`
   (task `dbt_producer_watcher`) and a task per model and per model's tests showing its outcome.
7. `quality_marts` - the gate's business checks on the marts; a critical failure stops the night before
   anything is scored, targeted or published.
8. `train_models` - once a month has ended, the three models (`models_ml`) are retrained on what is known
   at its end (the first run after the month-end batch); skipped otherwise, and before any customer view.
9. `score_models` - every champion model scores the batch into `marts.fct_model_scores`.
10. `campaigns` - the campaign target lists (eligibility, suppressions, holdout), written back to the
   campaign database (`vasmart.campaigns`).
11. `publish` - analytics.duckdb rebuilt from the marts and swapped in (`vasmart.publish`; it also refuses
   while a batch's latest quality verdict is `stopped`).
12. `reports` - dbt docs and the auditors' front page (`reports/index.html`), also after a stopped night.
13. `night_failed` - fails the run when any stage failed (the run's state follows its leaves).

Data faults (`IngestError`: a bad file, a missing control file, too many rejects) fail at once, since a
retry reads the same files; anything else (warehouse busy, disk) is retried with exponential backoff.
Tasks that write `warehouse.duckdb` share the one-slot pool `vasmart_warehouse`, and one run is active
at a time. The landing directory is the `landing` param, else `$VASMART_LANDING`, else
`$VASMART_HOME/landing`. Catch-up over missed nights is off unless `VASMART_CATCHUP=true`.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, TriggerRule, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from vasmart.config import Settings
from vasmart.dbt_tasks import dbt_task_group

log = logging.getLogger(__name__)
TIMEZONE = "Asia/Shanghai"
WAREHOUSE_POOL = "vasmart_warehouse"  # one slot: DuckDB has one writer per file (see vasmart.orchestration)


def _run_inputs() -> tuple[Settings, Path, str, str]:
    """Settings, landing directory, batch (the logical date, YYYYMMDD in the DAG's timezone) and load id."""
    context = get_current_context()
    if context.get("logical_date") is None:
        raise AirflowFailException("this run has no logical date: trigger it with the batch date as one")
    settings = Settings.from_env()
    landing = context["params"].get("landing") or os.environ.get("VASMART_LANDING") or settings.landing
    batch = context["logical_date"].in_timezone(context["dag"].timezone).strftime("%Y%m%d")
    return settings, Path(landing), batch, context["run_id"]


DEFAULT_ARGS = {
    "owner": "vasmart",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=15),
}


@dag(
    dag_id="vasmart_nightly",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone=TIMEZONE),
    start_date=pendulum.datetime(2020, 1, 1, 2, tz=TIMEZONE),
    catchup=os.environ.get("VASMART_CATCHUP", "false").lower() in ("1", "true", "yes"),
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "landing": Param(None, type=["null", "string"], description="Landing directory "
                         "(default $VASMART_LANDING, else $VASMART_HOME/landing)."),
        "newest_batch": Param(None, type=["null", "string"], description="The last batch (YYYYMMDD) of a "
                              "series of runs started together: only its run builds, scores and publishes "
                              "(default: the newest batch waiting in the landing area)."),
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

    def _quality(scope: str) -> str:
        from vasmart.build import release_dbt_connections
        from vasmart.quality import QualityGateStopped, gate

        release_dbt_connections()
        settings, _, batch, _ = _run_inputs()
        try:
            return gate(settings, batch, scope=scope)
        except QualityGateStopped as exc:
            raise AirflowFailException(str(exc)) from exc

    @task(pool=WAREHOUSE_POOL, multiple_outputs=False)
    def quality_raw() -> str:
        """The quality gate on the raw partitions and load log: 'passed' or 'warnings'; fails when stopped."""
        return _quality("raw")

    @task(pool=WAREHOUSE_POOL, multiple_outputs=False)
    def quality_marts() -> str:
        """The quality gate's checks on the marts: 'passed' or 'warnings'; fails when stopped."""
        return _quality("marts")

    @task(pool=WAREHOUSE_POOL, trigger_rule=TriggerRule.ALL_DONE, multiple_outputs=False)
    def reports() -> list[str]:
        """dbt docs (after a build) and the auditors' front page with the night's verdict."""
        from vasmart.build import release_dbt_connections
        from vasmart.nightly import write_reports

        release_dbt_connections()
        settings, _, _, _ = _run_inputs()
        built = get_current_context()["ti"].xcom_pull(task_ids="publish") is not None
        return write_reports(settings, dbt_docs=built)

    @task(trigger_rule=TriggerRule.ONE_FAILED)
    def night_failed() -> None:
        """Runs only when a stage failed, and fails the run (a stopped night must not look successful)."""
        raise AirflowFailException("a stage of the night failed: see the failed task's log")

    @task.short_circuit
    def decide_transforms() -> bool:
        """False (skip the stages below) when newer delivered batches wait: they run with the newest."""
        from vasmart.nightly import transforms_this_run

        settings, landing, batch, _ = _run_inputs()
        run, why = transforms_this_run(settings, landing, batch, get_current_context()["params"].get("newest_batch"))
        log.info(why)
        return run

    @task(pool=WAREHOUSE_POOL, trigger_rule=TriggerRule.NONE_FAILED, multiple_outputs=False)
    def publish() -> dict[str, Any]:
        """Rebuild analytics.duckdb from the marts and swap it in (refused if a personal number is found)."""
        from dataclasses import asdict

        from vasmart.build import release_dbt_connections
        from vasmart.publish import PublishError
        from vasmart.publish import publish as publish_marts

        release_dbt_connections()  # the build ran in this process under dag.test: free the warehouse
        settings, _, _, _ = _run_inputs()
        try:
            return {k: str(v) for k, v in asdict(publish_marts(settings)).items()}
        except PublishError as exc:
            raise AirflowFailException(str(exc)) from exc

    @task(pool=WAREHOUSE_POOL, multiple_outputs=False)
    def train_models() -> list[str]:
        """Retrain the models once a month has ended (on what was known at its end); skipped otherwise."""
        import datetime as dt

        from models_ml.nightly import NotApplicable, train_if_due
        from vasmart.build import release_dbt_connections

        release_dbt_connections()
        settings, _, batch, _ = _run_inputs()
        try:
            return train_if_due(settings, dt.datetime.strptime(batch, "%Y%m%d").date())
        except NotApplicable as exc:
            raise AirflowSkipException(str(exc)) from exc

    @task(pool=WAREHOUSE_POOL, trigger_rule=TriggerRule.NONE_FAILED, multiple_outputs=False)
    def score_models() -> list[str]:
        """Score the batch with every champion model into marts.fct_model_scores."""
        import datetime as dt

        from models_ml.nightly import NotApplicable, score_batch
        from vasmart.build import release_dbt_connections

        release_dbt_connections()
        settings, _, batch, _ = _run_inputs()
        try:
            return score_batch(settings, dt.datetime.strptime(batch, "%Y%m%d").date())
        except NotApplicable as exc:
            raise AirflowSkipException(str(exc)) from exc

    @task(pool=WAREHOUSE_POOL, trigger_rule=TriggerRule.NONE_FAILED, multiple_outputs=False)
    def campaigns() -> list[str]:
        """Build the campaign target lists for the batch and write them back to the campaign database."""
        import datetime as dt

        from vasmart.campaigns.config import CampaignConfigError
        from vasmart.campaigns.run import CampaignRunError, run_campaigns
        from vasmart.campaigns.writeback import WriteBackError

        settings, _, batch, _ = _run_inputs()
        try:
            outcomes = run_campaigns(settings, dt.datetime.strptime(batch, "%Y%m%d").date())
        except (CampaignConfigError, CampaignRunError, WriteBackError) as exc:
            raise AirflowFailException(str(exc)) from exc
        return [o.summary() for o in outcomes]

    loaded = ingest.expand(interface=check_batch_complete())
    closed = close_batch()
    loaded >> closed
    gate_raw = quality_raw()
    transforms = decide_transforms()
    dbt_build = dbt_task_group(Settings.from_env(), WAREHOUSE_POOL, DEFAULT_ARGS)
    gate_marts = quality_marts()
    scored = score_models()
    targeted = campaigns()
    published = publish()
    closed >> gate_raw >> transforms >> dbt_build >> gate_marts >> train_models() >> scored >> targeted
    targeted >> published
    reported = reports()
    [gate_raw, published] >> reported
    [closed, gate_raw, gate_marts, scored, targeted, published, reported] >> night_failed()


dag = vasmart_nightly()

if __name__ == "__main__":
    dag.test()  # the batch of today; `vasmart run` runs delivered batches in the embedded Airflow environment
