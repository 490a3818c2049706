"""The `vasmart` command line."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from vasmart.config import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="VAS data warehouse and precision marketing.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks, with their targets, written under reports/bench/.")
app.add_typer(bench_app, name="bench")
console = Console(stderr=True)


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=1)


def _date(text: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a YYYYMMDD date") from None


@app.command()
def generate(
    out: Annotated[Path | None, typer.Option(help="Output directory (landing/ and truth/ go under it).")] = None,
    users: Annotated[int, typer.Option(min=1, help="Subscribers at the start of the history.")] = 20_000,
    months: Annotated[int, typer.Option(min=1, help="History batches, one per month.")] = 12,
    days: Annotated[int, typer.Option(min=1, help="Daily batches ending at the end date.")] = 7,
    end_date: Annotated[str, typer.Option(help="Date of the last daily batch, YYYYMMDD.")] = "20261120",
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 7,
    part_users: Annotated[int, typer.Option(min=1, help="Users per data-file part (split extracts).")] = 250_000,
    workers: Annotated[int | None, typer.Option(min=1, help="Parallel processes (default: one per core).")] = None,
    continue_days: Annotated[int | None, typer.Option(min=1, help="Continue the landing area under --out by this many daily batches (the generation settings come from synth/generation.json; the options above are ignored).")] = None,
    campaign_uplift: Annotated[float, typer.Option(min=0.0, max=1.0, help="With --continue-days: probability that a contacted (TARGET) user of a list in the campaign database ($VASMART_HOME/campaign.db, or VASMART_CAMPAIGN_DB_URL) responds, beyond what they would do anyway.")] = 0.05,
) -> None:
    """Generate synthetic source-system batches (spec-exact landing files) and their ground truth, or continue them."""
    from vasmart.synth.generate import GenerateConfig
    from vasmart.synth.generate import generate as run_generate
    from vasmart.synth.summary import print_generation

    target = out if out is not None else Settings.from_env().home
    if continue_days is not None:
        _continue_generation(Path(target), continue_days, campaign_uplift, workers)
        return
    cfg = GenerateConfig(out=target, users=users, months=months, days=days, end_date=_date(end_date), seed=seed,
                         part_users=part_users, workers=workers)
    try:
        result = run_generate(cfg)
    except (ValueError, RuntimeError) as exc:
        _fail(str(exc))
    print_generation(result, Path(target))


def _continue_generation(target: Path, days: int, uplift: float, workers: int | None) -> None:
    """`generate --continue-days`: the campaign lists of the campaign database drive the responses."""
    from vasmart.campaigns.writeback import CampaignDatabase, WriteBackError
    from vasmart.dbt_plugin import KEY_ENV, key_from_env
    from vasmart.synth.generate import continue_generation, read_record
    from vasmart.synth.response import contacts_frame, contacts_from_lists

    out = Console(highlight=False)
    try:
        after = read_record(target).last_batch
        database = CampaignDatabase.from_env(Settings.from_env())
        if database.is_postgres or database.sqlite_path.exists():
            lists = database.read_lists()
        else:
            lists = None
        contacts, unmatched = contacts_frame([]), 0
        if lists is not None and not lists.empty:
            key = key_from_env()
            if key is None:
                _fail(f"the campaign lists in {database.describe()} carry keyed pseudonyms: set {KEY_ENV} to the "
                      "warehouse's key to match them to users")
            contacts, unmatched = contacts_from_lists(lists, target / "landing", after, key)
        result = continue_generation(target, days, uplift, contacts, workers)
    except (ValueError, RuntimeError, WriteBackError) as exc:
        _fail(str(exc))
    out.print(f"continued after {after:%Y%m%d}: {len(result.batches)} daily batches {result.batches[0]}.."
              f"{result.batches[-1]} in {result.seconds:.1f} s; {result.contacts} campaign contacts"
              f"{f' ({unmatched} list rows matched no user)' if unmatched else ''}, {result.responses} responses "
              f"at uplift {uplift:g} (truth/response_{after:%Y%m%d}.csv)", soft_wrap=True)


@app.command("landing-summary")
def landing_summary(
    landing: Annotated[Path | None, typer.Option(help="Landing directory (default $VASMART_HOME/landing).")] = None,
) -> None:
    """Summarise delivered batches from their control files: files and records per interface."""
    from vasmart.synth.summary import read_control_files

    root = landing if landing is not None else Settings.from_env().landing
    try:
        rows = read_control_files(root)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    batches = sorted({r["batch"] for r in rows})
    interfaces = sorted({r["interface"] for r in rows})
    table = Table(title=f"Deliveries under {root}", show_lines=False)
    table.add_column("interface")
    for batch in batches:
        table.add_column(batch[2:], justify="right")
    counts = {}
    for r in rows:
        counts[(r["interface"], r["batch"])] = counts.get((r["interface"], r["batch"]), 0) + r["record_count"]
    for name in interfaces:
        table.add_row(name, *[f"{counts[(name, b)]:,}" if (name, b) in counts else "" for b in batches])
    Console().print(table)
    total = sum(r["record_count"] for r in rows)
    Console().print(f"{len(batches)} batches, {len(rows)} data files, {total:,} records")


@app.command()
def ingest(
    batch: Annotated[str, typer.Option(help="Batch to load, YYYYMMDD.")],
    landing: Annotated[Path | None, typer.Option(help="Landing directory (default $VASMART_HOME/landing).")] = None,
    max_reject_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="Fail the batch above this share of rejected rows in any interface.")] = 0.01,
) -> None:
    """Load one batch into the raw zone: verify, decode, validate, reconcile; rejects kept with their reason."""
    import uuid

    from vasmart.ingest import IngestError, ingest_batch

    settings = Settings.from_env()
    root = landing if landing is not None else settings.landing
    load_id = f"cli-{batch}-{uuid.uuid4().hex[:8]}"
    try:
        result = ingest_batch(settings, root, batch, load_id, max_reject_rate)
    except IngestError as exc:
        for line in str(exc).splitlines():
            console.print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    table = Table(title=f"Batch {batch} loaded ({load_id})")
    for col in ("interface", "files", "read", "loaded", "rejected", "seconds"):
        table.add_column(col, justify="left" if col == "interface" else "right")
    for r in result.interfaces:
        table.add_row(r.interface, str(len(r.files)), f"{r.rows_read:,}", f"{r.rows_loaded:,}", f"{r.rows_rejected:,}",
                      f"{r.seconds:.1f}")
    Console().print(table)


@bench_app.command("generate")
def bench_generate(
    users: Annotated[int, typer.Option(min=1)] = 1_000_000,
    months: Annotated[int, typer.Option(min=1)] = 12,
    days: Annotated[int, typer.Option(min=1)] = 1,
    end_date: Annotated[str, typer.Option(help="A month's first day keeps the daily batch to one day.")] = "20261101",
    seed: Annotated[int, typer.Option()] = 7,
    out: Annotated[Path | None, typer.Option(help="Scratch directory for the generated files.")] = None,
    keep: Annotated[bool, typer.Option(help="Keep the generated files.")] = False,
) -> None:
    """Time and measure the generator: history months and one daily batch, against their targets."""
    from vasmart.synth.bench import run_generate_bench

    settings = Settings.from_env()
    report = run_generate_bench(settings, users=users, months=months, days=days, end_date=_date(end_date),
                                seed=seed, scratch=out, keep=keep)
    Console().print(report.markdown())


@bench_app.command("ingest")
def bench_ingest(
    users: Annotated[int, typer.Option(min=1)] = 1_000_000,
    seed: Annotated[int, typer.Option()] = 7,
    scratch: Annotated[Path | None, typer.Option(help="Work directory, kept (reuses generated data).")] = None,
) -> None:
    """Time loading one daily batch against DuckDB alone reading the same files."""
    from vasmart.ingest.bench import run_ingest_bench

    report = run_ingest_bench(Settings.from_env(), users=users, seed=seed, scratch=scratch)
    Console().print(report.markdown())


@bench_app.command("nightly")
def bench_nightly(
    users: Annotated[int, typer.Option(min=1)] = 1_000_000,
    months: Annotated[int, typer.Option(min=1)] = 12,
    seed: Annotated[int, typer.Option()] = 7,
    scratch: Annotated[Path | None, typer.Option(help="Work directory, kept (reuses generated data and the loaded "
                                                      "history).")] = None,
    history_months: Annotated[int | None, typer.Option(min=1, help="Load only the newest N history batches.")] = None,
    train: Annotated[bool, typer.Option(help="Run the monthly training the first night after a month end.")] = True,
    models: Annotated[Path | None, typer.Option(help="A model registry (a home's models/ directory) to copy in "
                                                     "before the night, so that it scores.")] = None,
    full_refresh: Annotated[bool, typer.Option(help="After the night, time a full refresh of the warehouse "
                                                    "(not part of the night).")] = True,
    days: Annotated[int, typer.Option(min=1, help="Daily batches from 20261101: the night is the last one's, "
                                                  "the earlier ones loaded and built before it.")] = 1,
    pandas: Annotated[bool, typer.Option(help="Compare the month aggregation with pandas (it holds every CDR in "
                                              "memory: leave it out for many days at a million users).")] = True,
    setup_memory_limit: Annotated[str | None, typer.Option(help="DuckDB memory limit (e.g. 12GB) for the set-up's "
                                                                "build of the whole history at once.")] = None,
) -> None:
    """Time the whole nightly run of one daily batch, stage by stage, against the floor and plain pandas."""
    from vasmart.bench_nightly import run_nightly_bench

    settings = Settings.from_env()
    if not os.environ.get("VASMART_PSEUDONYM_KEY"):
        os.environ["VASMART_PSEUDONYM_KEY"] = "vasmart-bench-key-not-a-secret"
    report = run_nightly_bench(settings, users=users, months=months, seed=seed, scratch=scratch,
                               log=lambda line: Console(stderr=True).print(line), history_months=history_months,
                               train=train, models=models, full_refresh=full_refresh, days=days, pandas=pandas,
                               setup_memory_limit=setup_memory_limit)
    Console().print(report.markdown())


@bench_app.command("quality")
def bench_quality(
    users: Annotated[int, typer.Option(min=1)] = 1_000_000,
    seed: Annotated[int, typer.Option()] = 7,
    scratch: Annotated[Path | None, typer.Option(help="Work directory, kept (reuses generated and loaded data).")] = None,
) -> None:
    """Time the quality gate on one loaded daily batch against its target."""
    from vasmart.quality.bench import run_quality_bench

    report = run_quality_bench(Settings.from_env(), users=users, seed=seed, scratch=scratch)
    Console().print(report.markdown())


@app.command()
def run(
    landing: Annotated[Path | None, typer.Option(help="Landing directory (default $VASMART_HOME/landing).")] = None,
    through: Annotated[str | None, typer.Option(help="Last batch to run, YYYYMMDD (default: all pending).")] = None,
    since: Annotated[str | None, typer.Option("--from", help="First batch to run, YYYYMMDD.")] = None,
    rerun: Annotated[bool, typer.Option("--rerun", help="Backfill: run every delivered batch in the range "
                                        "again, loaded or not.")] = False,
    engine: Annotated[str | None, typer.Option(help="Engine of the dbt stage: duckdb or spark (default "
                                               "$VASMART_ENGINE, else duckdb).")] = None,
) -> None:
    """Run every batch not yet loaded through the nightly Airflow DAG, in date order; stop at the first failure."""
    from vasmart.orchestration import OrchestrationError, run_batches

    if engine is not None:
        if engine not in ("duckdb", "spark"):
            _fail(f"--engine {engine!r}: duckdb or spark")
        os.environ["VASMART_ENGINE"] = engine

    for day in (through, since):
        if day is not None:
            _date(day)
    out = Console(highlight=False)
    try:
        runs = run_batches(Settings.from_env(), landing, through,
                           on_batch=lambda r: out.print(r.summary(), soft_wrap=True),
                           notify=lambda message: console.print(message, highlight=False, soft_wrap=True),
                           since=since, rerun=rerun)
    except OrchestrationError as exc:
        _fail(str(exc))
    if not runs:
        out.print("no pending batches" + (f" through {through}" if through else ""))


@app.command("build")
def build_command(
    select: Annotated[str | None, typer.Option(help="dbt node selection, e.g. 'staging' or 'stg_boss__users+'.")] = None,
    full_refresh: Annotated[bool, typer.Option(help="Rebuild incremental models from scratch.")] = False,
    engine: Annotated[str | None, typer.Option(help="duckdb or spark (default $VASMART_ENGINE, else duckdb).")] = None,
    retest_raw: Annotated[bool, typer.Option(help="Test every raw-zone partition again, not only those no build "
                                                  "has tested yet.")] = False,
) -> None:
    """Build the warehouse with dbt (staging, intermediate, marts, tests) from the raw zone; needs VASMART_PSEUDONYM_KEY."""
    from vasmart.build import BuildError
    from vasmart.build import build as run_build

    try:
        result = run_build(Settings.from_env(), select=select, full_refresh=full_refresh, engine=engine,
                           retest_raw=retest_raw)
    except BuildError as exc:
        _fail(str(exc))
    Console(highlight=False).print(result.summary(), soft_wrap=True)


@app.command("publish")
def publish_command() -> None:
    """Publish analytics.duckdb from the warehouse's marts (scanned for phone numbers and IMEIs), swapped in atomically."""
    from vasmart.publish import PublishError
    from vasmart.publish import publish as run_publish

    try:
        result = run_publish(Settings.from_env())
    except PublishError as exc:
        _fail(str(exc))
    Console(highlight=False).print(result.summary(), soft_wrap=True)


@app.command("quality")
def quality_command(
    batch: Annotated[str, typer.Option(help="Batch to check, YYYYMMDD.")],
    scope: Annotated[str, typer.Option(help="all, raw (raw zone and load log: before dbt build) or marts (after it).")] = "all",
) -> None:
    """Quality gate on a loaded batch: contract and mart expectations (Great Expectations), reports under reports/."""
    from vasmart.quality import QualityError, QualityGateStopped, run_gate

    _date(batch)
    settings = Settings.from_env()
    out = Console(highlight=False)
    try:
        result = run_gate(settings, batch, scope=scope)
    except QualityGateStopped as exc:
        if exc.run is not None:
            out.print(exc.run.summary(), soft_wrap=True)
        out.print(f"reports: {settings.reports / 'index.html'}", soft_wrap=True)
        _fail(str(exc))
    except QualityError as exc:
        _fail(str(exc))
    out.print(result.summary(), soft_wrap=True)
    if result.message():
        out.print(f"findings: {result.message()}", soft_wrap=True)
    out.print(f"reports: {settings.reports / 'index.html'}", soft_wrap=True)


@app.command("reconcile")
def reconcile_command(
    batch: Annotated[str, typer.Option(help="Batch to reconcile, YYYYMMDD.")],
) -> None:
    """Reconciliation report of a batch: files (control, read, loaded, rejected, checksum), BASS vs CDR, volumes."""
    import duckdb

    from vasmart.quality.front_page import write_front_page
    from vasmart.quality.reconciliation import write_reconciliation
    from vasmart.warehouse import connect

    _date(batch)
    settings = Settings.from_env()
    try:
        con = connect(settings, read_only=True)
    except (FileNotFoundError, duckdb.Error) as exc:
        _fail(str(exc).splitlines()[0])
    with con:
        data = write_reconciliation(settings, con, batch)
        write_front_page(settings, con)
    if not data["files"]:
        _fail(f"batch {batch} has not been loaded: no rows in audit.load_log")
    bad = [f["file"] for f in data["files"] if not f["reconciled"]]
    Console(highlight=False).print(
        f"reconciliation {batch}: {len(data['files'])} files, {len(bad)} not reconciled"
        f"{' (' + ', '.join(bad[:3]) + ')' if bad else ''}; "
        f"{settings.reports / 'reconciliation' / batch / 'reconciliation.html'}", soft_wrap=True)


@app.command("reports")
def reports_command(
    dbt_docs: Annotated[bool, typer.Option("--dbt-docs", help="Also generate dbt docs (needs VASMART_PSEUDONYM_KEY).")] = False,
) -> None:
    """Rewrite the auditor's front page (reports/index.html), and dbt docs with --dbt-docs."""
    import duckdb

    from vasmart.build import BuildError
    from vasmart.quality.front_page import write_front_page
    from vasmart.warehouse import connect

    settings = Settings.from_env()
    out = Console(highlight=False)
    if dbt_docs:
        from vasmart.quality.dbt_docs import build_dbt_docs

        try:
            out.print(f"dbt docs: {build_dbt_docs(settings)}", soft_wrap=True)
        except BuildError as exc:
            _fail(str(exc))
    try:
        con = connect(settings, read_only=True)
    except FileNotFoundError:
        con = None
    except duckdb.Error as exc:
        _fail(str(exc).splitlines()[0])
    try:
        out.print(f"front page: {write_front_page(settings, con)}", soft_wrap=True)
    finally:
        if con is not None:
            con.close()


@app.command("lineage")
def lineage_command(
    mart: Annotated[str, typer.Argument(help="A mart, e.g. fct_imei_quality.")],
    where: Annotated[str | None, typer.Option(help="SQL filter on the mart's rows, e.g. \"batch_date = DATE '2026-11-20'\".")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the trace as JSON.")] = False,
) -> None:
    """Trace a mart (or some of its rows) to the dbt models, batches and files that fed it; kept under reports/lineage/."""
    import json

    import duckdb

    from vasmart.quality.lineage import LineageError, lineage, write_lineage
    from vasmart.warehouse import connect

    settings = Settings.from_env()
    try:
        con = connect(settings, read_only=True)
    except (FileNotFoundError, duckdb.Error) as exc:
        _fail(str(exc).splitlines()[0])
    try:
        with con:
            result = lineage(settings, con, mart, where)
    except LineageError as exc:
        _fail(str(exc))
    path = write_lineage(settings, result)
    out = Console(highlight=False, soft_wrap=True)
    out.print(json.dumps(result.as_dict(), indent=2, default=str) if as_json else result.text(), markup=False)
    if not as_json:
        out.print(f"kept in {path}")


@app.command("campaigns")
def campaigns_command(
    run_date: Annotated[str | None, typer.Option(help="Run date YYYYMMDD (default and only allowed: the warehouse's data date).")] = None,
    campaign: Annotated[list[str] | None, typer.Option(help="Campaign to run (repeatable; default: every valid one).")] = None,
    definitions: Annotated[Path | None, typer.Option(help="Directory of campaign definitions (default: the reviewed ones).")] = None,
) -> None:
    """Build campaign target lists (eligibility, suppressions, holdout) and write them back to the campaign database."""
    from vasmart.campaigns.config import CampaignConfigError
    from vasmart.campaigns.run import CampaignRunError, run_campaigns
    from vasmart.campaigns.writeback import WriteBackError
    from vasmart.warehouse import WarehouseBusy

    out = Console(highlight=False)
    try:
        run_campaigns(Settings.from_env(), _date(run_date) if run_date else None, campaign or None, definitions,
                      on_campaign=lambda o: out.print(o.summary(), soft_wrap=True))
    except (CampaignConfigError, CampaignRunError, WriteBackError, WarehouseBusy) as exc:
        _fail(str(exc))


@app.command("export")
def export_command(
    campaign: Annotated[str, typer.Option(help="Campaign name.")],
    format: Annotated[str, typer.Option("--format", help="csv, xlsx or parquet.")] = "csv",
    run_date: Annotated[str | None, typer.Option(help="Run date YYYYMMDD (default: the campaign's latest list).")] = None,
    include_holdout: Annotated[bool, typer.Option(help="Also export the HOLDOUT rows (never to a sending platform).")] = False,
    out: Annotated[Path | None, typer.Option(help="Directory (default $VASMART_HOME/exports/<campaign>).")] = None,
) -> None:
    """Export a campaign list with MSISDNs resolved, a manifest (hash, counts, criteria) and an audit row."""
    from vasmart.campaigns.export import ExportError, export_list
    from vasmart.warehouse import WarehouseBusy

    try:
        result = export_list(Settings.from_env(), campaign, format, _date(run_date) if run_date else None,
                             include_holdout, out)
    except (ExportError, WarehouseBusy) as exc:
        _fail(str(exc))
    Console(highlight=False).print(result.summary(), soft_wrap=True)


@app.command("campaign-report")
def campaign_report_command(
    campaign: Annotated[list[str] | None, typer.Option(help="Campaign (repeatable; default: every campaign with a list).")] = None,
) -> None:
    """HTML report per campaign (list size over time, suppression funnel, uplift) under reports/campaigns/."""
    from vasmart.campaigns.report import ReportError, write_reports

    try:
        paths = write_reports(Settings.from_env(), campaign or None)
    except ReportError as exc:
        _fail(str(exc))
    for path in paths:
        Console(highlight=False).print(f"report: {path}", soft_wrap=True)


def _print_result(con, out: Console, max_rows: int) -> None:
    """Print the pending result of `con` as a table (a statement without a result prints nothing)."""
    if con.description is None:
        return
    table = Table(show_lines=False)
    for col in con.description:
        table.add_column(col[0])
    rows = con.fetchmany(max_rows + 1)
    for row in rows[:max_rows]:
        table.add_row(*["NULL" if v is None else str(v) for v in row])
    out.print(table)
    more = " (more rows not shown; raise --max-rows)" if len(rows) > max_rows else ""
    out.print(f"{min(len(rows), max_rows):,} rows{more}")


@app.command()
def sql(
    query: Annotated[str | None, typer.Argument(help="SQL to run; without it, read statements (ending in ;) from stdin.")] = None,
    max_rows: Annotated[int, typer.Option(min=1, help="Rows printed per result.")] = 1000,
) -> None:
    """Read-only SQL on analytics.duckdb (the published marts): one query, or a prompt reading stdin until EOF."""
    import duckdb

    from vasmart.publish import connect_analytics

    try:
        con = connect_analytics(Settings.from_env())
    except (FileNotFoundError, duckdb.Error) as exc:
        _fail(str(exc).splitlines()[0])
    out = Console(highlight=False)
    with con:
        if query is not None:
            try:
                con.execute(query)
                _print_result(con, out, max_rows)
            except duckdb.Error as exc:
                _fail(str(exc).splitlines()[0])
            return
        interactive = sys.stdin.isatty()
        failed, pending = 0, ""
        while True:
            if interactive:
                out.print("analytics> " if not pending else "       ...> ", end="")
            line = sys.stdin.readline()
            if line:
                pending += line
                if not pending.rstrip().endswith(";"):
                    continue
            statement, pending = pending.strip(), ""
            if statement:
                try:
                    con.execute(statement)
                    _print_result(con, out, max_rows)
                except duckdb.Error as exc:
                    failed += 1
                    console.print(f"[red]error:[/red] {str(exc).splitlines()[0]}", highlight=False, soft_wrap=True)
            if not line:
                break
        if failed:
            raise typer.Exit(code=1)

# ----------------------------------------------------------------------------------------------- models


def _month(text: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y%m").date()
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a YYYYMM month") from None


def _model_settings(features_table: str | None):
    from models_ml.config import ModelSettings

    return ModelSettings.from_env(features_table=features_table)


def _models(model: list[str] | None) -> tuple[str, ...]:
    from models_ml.config import MODEL_NAMES

    chosen = tuple(model or MODEL_NAMES)
    unknown = [m for m in chosen if m not in MODEL_NAMES]
    if unknown:
        raise typer.BadParameter(f"unknown model {', '.join(unknown)}: one of {', '.join(MODEL_NAMES)}")
    return chosen


FeaturesTable = Annotated[str | None, typer.Option(
    help="Table the features come from (default $VASMART_FEATURES_TABLE, else marts.customer_view).")]
ModelOption = Annotated[list[str] | None, typer.Option("--model", help="Only this model (repeatable).")]


@app.command("train")
def train_command(
    as_of: Annotated[str | None, typer.Option(help="Train with what was known at the end of this month, YYYYMM "
                                                   "(default: the latest complete month).")] = None,
    model: ModelOption = None,
    features_table: FeaturesTable = None,
) -> None:
    """Train the models, register a version each, promote a version only if it beats the champion."""
    from models_ml.train import TrainError, train_models

    month = _month(as_of) if as_of else None
    out = Console(highlight=False)
    try:
        train_models(_model_settings(features_table), month, _models(model),
                     on_model=lambda o: out.print(o.summary(), soft_wrap=True))
    except TrainError as exc:
        _fail(str(exc))


@app.command("score")
def score_command(
    batch: Annotated[str | None, typer.Option(help="Batch being scored, YYYYMMDD (default: the latest loaded).")] = None,
    model: ModelOption = None,
    features_table: FeaturesTable = None,
) -> None:
    """Score every champion model into marts.fct_model_scores for a batch (replacing that batch's scores)."""
    from models_ml.features import FeatureError
    from models_ml.scoring import ScoringError, score_models

    out = Console(highlight=False)
    timings: dict[str, float] = {}
    try:
        outcomes = score_models(_model_settings(features_table), _date(batch) if batch else None, _models(model),
                                on_model=lambda o: out.print(o.summary(), soft_wrap=True), timings=timings)
    except (ScoringError, FeatureError) as exc:
        _fail(str(exc))
    if "features" in timings:
        out.print(f"features read once for every model, while the models loaded, in {timings['features']:.1f} s",
                  soft_wrap=True)
    skipped = [o for o in outcomes if o.skipped]
    for o in skipped:
        out.print(o.summary(), soft_wrap=True)
    if skipped and len(skipped) == len(outcomes):
        _fail("no model has a champion: run vasmart train first")


@app.command("evaluate")
def evaluate_command(
    truth: Annotated[Path, typer.Option(help="The generator's truth directory (e.g. $VASMART_HOME/truth).")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    model: ModelOption = None,
    ceiling: Annotated[bool, typer.Option(help="Also fit the truth's log-odds on each model's own features: "
                                                 "what those features allow at best.")] = False,
    features_table: FeaturesTable = None,
) -> None:
    """Each champion's metrics on its validation data against the oracle (the truth's own probabilities)."""
    import json

    from models_ml.evaluate import EvaluationError, evaluate, pseudonym_key

    try:
        rows = evaluate(_model_settings(features_table), truth, pseudonym_key(), _models(model), ceiling)
    except EvaluationError as exc:
        _fail(str(exc))
    if json_output:
        print(json.dumps([r.as_dict() for r in rows], indent=1))
        return
    table = Table(title=f"Models against the oracle ({truth})")
    numbers = ("users", "model value", "oracle", "ratio", *(("features' ceiling",) if ceiling else ()))
    for col in ("model", "version", "month", "segment", "metric", *numbers):
        table.add_column(col, justify="right" if col in numbers else "left")
    for r in rows:
        extra = (("" if r.ceiling is None else f"{r.ceiling:.4f}"),) if ceiling else ()
        table.add_row(r.model, r.version, r.month, r.segment or "", r.metric, f"{r.users:,}", f"{r.value:.4f}",
                      f"{r.oracle:.4f}", f"{r.ratio:.3f}", *extra)
    Console().print(table)


@bench_app.command("train")
def bench_train(
    users: Annotated[int, typer.Option(min=1000, help="Users per month of the benchmark's feature table.")] = 1_000_000,
    features_table: FeaturesTable = None,
    scratch: Annotated[Path | None, typer.Option(help="Work directory (default: under reports/bench/).")] = None,
) -> None:
    """Time training all three models on N users a month, resampled from this home's features and labels."""
    from models_ml.bench import BenchError, run_train_bench

    try:
        report = run_train_bench(_model_settings(features_table), users=users, scratch=scratch)
    except BenchError as exc:
        _fail(str(exc))
    Console().print(report.markdown())


@bench_app.command("score")
def bench_score(
    users: Annotated[int, typer.Option(min=1000, help="Users of the benchmark's feature month.")] = 1_000_000,
    features_table: FeaturesTable = None,
    scratch: Annotated[Path | None, typer.Option(help="Work directory (default: under reports/bench/).")] = None,
) -> None:
    """Time nightly scoring of N users with this home's champions, on features resampled from this home."""
    from models_ml.bench import BenchError, run_score_bench

    try:
        report = run_score_bench(_model_settings(features_table), users=users, scratch=scratch)
    except BenchError as exc:
        _fail(str(exc))
    Console().print(report.markdown())


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
