"""`vasmart bench train` / `bench score`: training and nightly scoring at scale, against their targets.

A benchmark home is made in a scratch directory from this home's warehouse: every user of the features
table, the history table and the three label marts is copied k times under new pseudonyms (a hash of the old one and the
copy number), k chosen so that the latest month holds at least N users. Each copy keeps its user's whole
history, so the months, windows, populations and labels are as in the source; only the volume changes.
The timings are then those of the real code (`train_models`, `score_models`) on that volume. The scores of
copied users repeat, so the benchmark's model quality means nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from models_ml.compiled import compile_models
from models_ml.config import MODEL_NAMES, ModelSettings
from models_ml.features import FeatureError, add_months, feature_months
from models_ml.registry import champion_version
from models_ml.scoring import ScoringError, score_models
from models_ml.train import TrainError, train_models
from vasmart.synth.bench import PeakMemory

TARGET_TRAIN_SECONDS = 600.0  # all three models, 1,000,000 users, 2 cores
TARGET_SCORE_SECONDS = 30.0  # nightly scoring of 1,000,000 users
LABEL_MARTS = ("marts.fct_propensity_labels", "marts.fct_content_labels", "marts.fct_credit_labels")


class BenchError(RuntimeError):
    """The benchmark cannot run (no source data, no champion)."""


@dataclass
class BenchReport:
    """Measured figures of one benchmark run."""

    kind: str
    users_latest_month: int
    copies: int
    source_users: int
    seconds: dict[str, float]
    rows: dict[str, int]
    peak_memory_gb: float
    setup_seconds: float
    target_seconds: float
    threads: int
    notes: list[str] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    def scaled_total(self) -> float:
        """Total time scaled linearly to 1,000,000 users in the latest month."""
        return self.total_seconds * 1_000_000 / max(self.users_latest_month, 1)

    def markdown(self) -> str:
        ok = {True: "met", False: "MISSED"}
        what = "training all three models" if self.kind == "train" else "nightly scoring of all three models"
        lines = [
            f"# Model benchmark: {what}, {self.users_latest_month:,} users in the latest month",
            "",
            (f"Features and labels of {self.source_users:,} users copied {self.copies}x; "
            f"{self.threads} LightGBM threads; setup (not timed) {self.setup_seconds:.0f} s."),
            "",
            "| step | rows | seconds |",
            "|---|---|---|",
            *[f"| {k} | {self.rows.get(k, 0):,} | {v:.1f} |" for k, v in self.seconds.items()],
            "",
            "| measure | value | target (1M users, 2 cores) | verdict |",
            "|---|---|---|---|",
            (f"| total | {self.total_seconds:.1f} s (scaled to 1M users: {self.scaled_total():.1f} s) "
             f"| ≤ {self.target_seconds:.0f} s | {ok[self.scaled_total() <= self.target_seconds]} |"),
            f"| peak memory | {self.peak_memory_gb:.2f} GB | | |",
            *([""] + self.notes if self.notes else []),
        ]
        return "\n".join(lines)


def _scaled_home(source: ModelSettings, users: int, scratch: Path, latest_only: bool) -> tuple[ModelSettings, dict]:
    """A scratch home whose features table and label marts hold k copies of the source's users."""
    if not source.warehouse.exists():
        raise BenchError(f"no warehouse at {source.warehouse}: the benchmark resamples this home's features")
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    target = ModelSettings(home=scratch, features_table=source.features_table, history_table=source.history_table,
                           seed=source.seed, num_threads=source.num_threads, max_train_rows=source.max_train_rows)
    table = source.features_table
    con = duckdb.connect(str(target.warehouse))
    try:
        con.execute(f"attach '{source.warehouse}' as src (read_only)")
        try:
            months = feature_months(con, f"src.{table}")
        except FeatureError as exc:
            raise BenchError(str(exc)) from None
        if not months:
            raise BenchError(f"features table {table} has no complete month")
        latest = months[-1]
        in_latest = con.execute(f"select count(*) from src.{table} where month_start_date = DATE '{latest}'"
                                ).fetchone()[0]
        copies = max(1, math.ceil(users / max(in_latest, 1)))
        con.execute(f"""
            create temp table user_map as
            select u.user_pseudonym as src, sha256(u.user_pseudonym || ':' || c.copy) as dst
            from (select distinct user_pseudonym from src.{table}) u cross join range({copies}) c(copy)
        """)
        source_users = con.execute("select count(distinct src) from user_map").fetchone()[0]
        schema = table.split(".")[0] if "." in table else "main"
        con.execute(f"create schema if not exists {schema}; create schema if not exists marts")
        where = f"where f.month_start_date = DATE '{latest}'" if latest_only else ""
        con.execute(f"create table {table} as select m.dst as user_pseudonym, f.* exclude (user_pseudonym) "
                    f"from src.{table} f join user_map m on f.user_pseudonym = m.src {where}")
        history = source.history_table
        if history and con.execute("select count(*) from duckdb_tables() where database_name = 'src' and "
                                   "schema_name || '.' || table_name = ?", [history]).fetchone()[0]:
            # scoring summarises the last twelve months of history; training every month's
            since = f"where h.month_start_date > DATE '{latest}' - interval 12 month" if latest_only else ""
            con.execute(f"create schema if not exists {history.split('.')[0]}")
            con.execute(f"create table {history} as select m.dst as user_pseudonym, h.* exclude (user_pseudonym) "
                        f"from src.{history} h join user_map m on h.user_pseudonym = m.src {since}")
        for mart in LABEL_MARTS:
            if latest_only and mart != "marts.fct_credit_labels":
                continue
            con.execute(f"create table {mart} as select m.dst as user_pseudonym, l.* exclude (user_pseudonym) "
                        f"from src.{mart} l join user_map m on l.user_pseudonym = m.src")
        users_latest = con.execute(f"select count(*) from {table} where month_start_date = DATE '{latest}'"
                                   ).fetchone()[0]
    finally:
        con.close()
    return target, {"copies": copies, "source_users": source_users, "users_latest": users_latest, "latest": latest}


def _write(settings: ModelSettings, report: BenchReport) -> None:
    out = settings.reports_dir / "bench"
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{report.kind}-{report.users_latest_month}"
    payload = {**asdict(report), "total_seconds": report.total_seconds, "scaled_total": report.scaled_total(),
               "met": report.scaled_total() <= report.target_seconds}
    stem.with_suffix(".json").write_text(json.dumps(payload, indent=2, default=str))
    stem.with_suffix(".md").write_text(report.markdown() + "\n")


def run_train_bench(settings: ModelSettings, users: int, scratch: Path | None = None) -> BenchReport:
    """Copy this home's features and labels up to `users` a month and time `train_models` on them."""
    work = scratch or settings.reports_dir / "bench" / "train-home"
    started = time.perf_counter()
    target, info = _scaled_home(settings, users, work, latest_only=False)
    setup = time.perf_counter() - started
    seconds, rows = {}, {}

    def note(outcome) -> None:
        seconds[outcome.model] = outcome.seconds
        rows[outcome.model] = int(outcome.trained.window.get("rows", {}).get("train", 0))

    with PeakMemory() as memory:
        try:
            train_models(target, models=MODEL_NAMES, on_model=note)
        except TrainError as exc:
            raise BenchError(str(exc)) from None
    report = BenchReport("train", info["users_latest"], info["copies"], info["source_users"], seconds, rows,
                         memory.peak / 1e9, setup, TARGET_TRAIN_SECONDS, settings.num_threads,
                         [(f"Training rows are sampled by pseudonym to at most {settings.max_train_rows:,} per model; "
                          "each model's time includes loading, baselines, validation and its model card.")])
    _write(settings, report)
    return report


def run_score_bench(settings: ModelSettings, users: int, scratch: Path | None = None) -> BenchReport:
    """Copy this home's latest feature month up to `users` and time `score_models` with this home's champions."""
    champions = {name: champion_version(settings, name) for name in MODEL_NAMES}
    if not all(champions.values()):
        raise BenchError("the scoring benchmark uses this home's champions: run vasmart train first")
    work = scratch or settings.reports_dir / "bench" / "score-home"
    started = time.perf_counter()
    target, info = _scaled_home(settings, users, work, latest_only=True)
    for name, version in champions.items():
        shutil.copytree(settings.models_dir / name / version, target.models_dir / name / version)
        shutil.copy2(settings.models_dir / name / "champion.json", target.models_dir / name / "champion.json")
        compile_models(target.models_dir / name / version)  # as registration does, for a version from before it
    setup = time.perf_counter() - started
    batch = add_months(info["latest"], 1) - dt.timedelta(days=1)  # the feature month's month-end batch
    seconds, rows = {}, {}

    def note(outcome) -> None:
        rows.update({f"{outcome.model} {stage}": outcome.rows for stage in outcome.stages})

    with PeakMemory() as memory:
        try:
            score_models(target, batch, MODEL_NAMES, on_model=note, timings=seconds)
        except ScoringError as exc:
            raise BenchError(str(exc)) from None
    rows["features"] = info["users_latest"]
    report = BenchReport("score", info["users_latest"], info["copies"], info["source_users"], seconds, rows,
                         memory.peak / 1e9, setup, TARGET_SCORE_SECONDS, settings.num_threads,
                         [("The feature month is read once for all models while they load (their compiled "
                           "code, and LightGBM with its import for credit) (features); then each model selects "
                           "its population and builds its model matrix (population), scores it (predict), "
                           "looks up its reason codes (reasons: SHAP dependence or scorecard terms) and "
                           "replaces its rows of the batch in marts.fct_model_scores (write). Python's start-up "
                           "and imports (a few seconds for `vasmart score`) are not included.")])
    _write(settings, report)
    return report
