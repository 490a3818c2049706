"""The `vasmart` command line."""

from __future__ import annotations

import datetime as dt
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
) -> None:
    """Generate synthetic source-system batches (spec-exact landing files) and their ground truth."""
    from vasmart.synth.generate import GenerateConfig
    from vasmart.synth.generate import generate as run_generate
    from vasmart.synth.summary import print_generation

    target = out if out is not None else Settings.from_env().home
    cfg = GenerateConfig(out=target, users=users, months=months, days=days, end_date=_date(end_date), seed=seed,
                         part_users=part_users, workers=workers)
    try:
        result = run_generate(cfg)
    except (ValueError, RuntimeError) as exc:
        _fail(str(exc))
    print_generation(result, Path(target))


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


@app.command()
def run(
    landing: Annotated[Path | None, typer.Option(help="Landing directory (default $VASMART_HOME/landing).")] = None,
    through: Annotated[str | None, typer.Option(help="Last batch to run, YYYYMMDD (default: all pending).")] = None,
) -> None:
    """Run every batch not yet loaded through the nightly Airflow DAG, in date order; stop at the first failure."""
    from vasmart.orchestration import OrchestrationError, run_batches

    if through is not None:
        _date(through)
    out = Console(highlight=False)
    try:
        runs = run_batches(Settings.from_env(), landing, through,
                           on_batch=lambda r: out.print(r.summary(), soft_wrap=True),
                           notify=lambda message: console.print(message, highlight=False, soft_wrap=True))
    except OrchestrationError as exc:
        _fail(str(exc))
    if not runs:
        out.print("no pending batches" + (f" through {through}" if through else ""))


@app.command("build")
def build_command(
    select: Annotated[str | None, typer.Option(help="dbt node selection, e.g. 'staging' or 'stg_boss__users+'.")] = None,
    full_refresh: Annotated[bool, typer.Option(help="Rebuild incremental models from scratch.")] = False,
) -> None:
    """Build the warehouse with dbt (staging, intermediate, marts, tests) from the raw zone; needs VASMART_PSEUDONYM_KEY."""
    from vasmart.build import BuildError
    from vasmart.build import build as run_build

    try:
        result = run_build(Settings.from_env(), select=select, full_refresh=full_refresh)
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
    try:
        outcomes = score_models(_model_settings(features_table), _date(batch) if batch else None, _models(model),
                                on_model=lambda o: out.print(o.summary(), soft_wrap=True))
    except (ScoringError, FeatureError) as exc:
        _fail(str(exc))
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
