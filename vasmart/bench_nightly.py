"""`vasmart bench nightly`: the whole nightly run at scale, stage by stage, against its targets.

Set-up (timed, not part of the night): generate `months` of history plus one daily batch, load the history
batches and build the warehouse on them (the state the night before). The night: every stage the nightly DAG runs for the daily batch, called as its tasks call them, one
after the other in this process, each timed with the peak memory of the process and its children. Measured in
the same run for comparison:

- the floor: DuckDB alone reading the daily batch's files once (every field as text, into a table);
- pandas: a straightforward pandas implementation of the customer view's month aggregation from CDR detail
  (every CDR attributed to the holder of its MSISDN at the event time, then summed per user and month), on
  the same Parquet partitions, against the dbt models that do it in DuckDB (`CDR_CHAIN`: the running state per
  MSISDN and day or month, then `int_usage_from_cdrs_aggregated`), rebuilt from the raw zone alone after the
  night as the pandas version reads it (the night itself only merges its batch into the state; the chain's
  time inside the night's build is reported beside it); both results are compared, total for total.

After the night, the full refresh (every model rebuilt from the raw zone, as after an upgrade or to recover a
warehouse) is timed with its peak memory: it is not part of the night, but it must fit the same memory.

The report goes to `$VASMART_HOME/reports/bench/nightly-<users>.{json,md}`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from vasmart.config import Settings
from vasmart.ingest.bench import floor_seconds
from vasmart.synth.bench import PeakMemory

TARGET_NIGHT_SECONDS_1M = 300.0
TARGET_FLOOR_RATIO = 3.0
TARGET_PANDAS_SPEEDUP = 10.0
TARGET_PEAK_GB = 8.0
AGGREGATION_MODEL = "int_usage_from_cdrs_aggregated"
CDR_CHAIN = ("int_cdr_days_measured", "int_cdr_contacts_by_month", AGGREGATION_MODEL)
MEASURES = ("voice_calls", "voice_seconds", "sms_mo", "sms_mt", "gprs_sessions", "gprs_kb")


@dataclass
class StageFigure:
    """One stage of the night."""

    name: str
    seconds: float
    peak_memory_gb: float
    detail: str = ""
    cpu_seconds: float = 0.0


@dataclass
class NightlyBenchReport:
    """Measured figures of one nightly benchmark."""

    users: int
    batch: str
    rows: int
    setup_seconds: dict[str, float]
    stages: list[StageFigure]
    floor_seconds: float
    pandas_seconds: float
    duckdb_aggregation_seconds: float
    duckdb_aggregation_in_build_seconds: float
    aggregation_rows: int
    aggregation_agrees: bool
    notes: list[str] = field(default_factory=list)
    full_refresh: StageFigure | None = None
    full_refresh_ok: bool = True
    aggregation_measured: bool = True

    @property
    def night_seconds(self) -> float:
        """Every nightly stage; the monthly training is reported beside it."""
        return sum(s.seconds for s in self.stages if not s.name.startswith("train"))

    @property
    def peak_memory_gb(self) -> float:
        return max((s.peak_memory_gb for s in self.stages), default=0.0)

    def stage_seconds(self, *names: str) -> float:
        return sum(s.seconds for s in self.stages if s.name in names)

    @property
    def floor_ratio(self) -> float:
        return self.stage_seconds("ingest", "dbt build") / self.floor_seconds if self.floor_seconds else float("inf")

    @property
    def pandas_speedup(self) -> float:
        return self.pandas_seconds / self.duckdb_aggregation_seconds if self.duckdb_aggregation_seconds else 0.0

    def markdown(self) -> str:
        """The report as Markdown tables."""
        ok = {True: "met", False: "MISSED"}
        scaled = self.night_seconds * 1_000_000 / self.users
        lines = [f"# Nightly benchmark: {self.users:,} users, daily batch {self.batch} ({self.rows:,} records)", "",
                 "| stage | wall time | CPU time | peak memory | detail |", "|---|---|---|---|---|"]
        lines += [f"| {s.name} | {s.seconds:.1f} s | {s.cpu_seconds:.1f} s | {s.peak_memory_gb:.2f} GB | {s.detail} |"
                  for s in self.stages]
        night_cpu = sum(s.cpu_seconds for s in self.stages if not s.name.startswith("train"))
        lines += [(f"| **whole night (without the monthly training)** | **{self.night_seconds:.1f} s** | "
                   f"**{night_cpu:.1f} s** | **{self.peak_memory_gb:.2f} GB** | |"), "",
                  "| measure | value | target (2 cores) | verdict |", "|---|---|---|---|",
                  (f"| whole night, per 1M users | {scaled:.0f} s | ≤ {TARGET_NIGHT_SECONDS_1M:.0f} s "
                  f"| {ok[scaled <= TARGET_NIGHT_SECONDS_1M]} |"),
                  f"| floor: DuckDB reading the batch's files once | {self.floor_seconds:.1f} s | | |",
                  (f"| (ingest + dbt build) / floor | {self.floor_ratio:.2f}x | ≤ {TARGET_FLOOR_RATIO:.0f}x "
                  f"| {ok[self.floor_ratio <= TARGET_FLOOR_RATIO]} |"),
                  *(self._aggregation_lines(ok) if self.aggregation_measured else [
                      (f"| month aggregation, pandas / DuckDB | not measured (--no-pandas) "
                       f"| ≥ {TARGET_PANDAS_SPEEDUP:.0f}x | not measured |")]),
                  (f"| peak memory | {self.peak_memory_gb:.2f} GB | < {TARGET_PEAK_GB:.0f} GB "
                  f"| {ok[self.peak_memory_gb < TARGET_PEAK_GB]} |")]
        if self.full_refresh is not None:
            refresh = self.full_refresh
            lines += [(f"| full refresh, after the night (not part of it): {refresh.detail} | {refresh.seconds:.1f} s "
                       f"({refresh.cpu_seconds:.1f} s CPU), peak memory {refresh.peak_memory_gb:.2f} GB "
                       f"| builds, peak < {TARGET_PEAK_GB:.0f} GB "
                       f"| {ok[self.full_refresh_ok and refresh.peak_memory_gb < TARGET_PEAK_GB]} |")]
        lines += ["",
                  "Set-up (not part of the night): " + ", ".join(f"{k} {v:.0f} s" for k, v in self.setup_seconds.items())
                  + "."]
        lines += self.notes
        return "\n".join(lines)

    def _aggregation_lines(self, ok: dict[bool, str]) -> list[str]:
        """The month aggregation's rows: pandas against the DuckDB models, and whether they agree."""
        return [f"| month aggregation: pandas | {self.pandas_seconds:.1f} s | | |",
                (f"| month aggregation: dbt on DuckDB ({', '.join(CDR_CHAIN)}, rebuilt from the raw zone "
                 f"alone) | {self.duckdb_aggregation_seconds:.1f} s | | |"),
                (f"| — the same models inside the night's dbt build (its batch merged, beside the other nodes) "
                 f"| {self.duckdb_aggregation_in_build_seconds:.1f} s | | |"),
                (f"| pandas / DuckDB | {self.pandas_speedup:.1f}x | ≥ {TARGET_PANDAS_SPEEDUP:.0f}x "
                 f"| {ok[self.pandas_speedup >= TARGET_PANDAS_SPEEDUP]} |"),
                (f"| the two aggregations agree ({self.aggregation_rows:,} user-months) | "
                 f"{'yes' if self.aggregation_agrees else 'NO'} | yes | {ok[self.aggregation_agrees]} |")]


Stage = Callable[[Settings, Path, str], str]


def _ingest(settings: Settings, landing: Path, batch: str) -> str:
    from vasmart.ingest import ingest_batch

    result = ingest_batch(settings, landing, batch, f"bench-{batch}")
    return f"{sum(r.rows_loaded for r in result.interfaces):,} rows loaded"


def _build(settings: Settings, landing: Path, batch: str) -> str:
    from vasmart.build import build

    return build(settings, nightly=True).summary().split(";")[0]  # as the nightly DAG builds


def _quality(scope: str) -> Stage:
    def stage(settings: Settings, landing: Path, batch: str) -> str:
        from vasmart.quality import run_gate

        return run_gate(settings, batch, scope=scope).summary()
    return stage


def _train(settings: Settings, landing: Path, batch: str) -> str:
    from models_ml.nightly import NotApplicable, train_if_due

    try:
        return "; ".join(train_if_due(settings, dt.datetime.strptime(batch, "%Y%m%d").date()))
    except NotApplicable as exc:
        return f"skipped: {exc}"


def _score(settings: Settings, landing: Path, batch: str) -> str:
    from models_ml.nightly import NotApplicable, score_batch

    try:
        return "; ".join(score_batch(settings, dt.datetime.strptime(batch, "%Y%m%d").date()))
    except NotApplicable as exc:
        return f"skipped: {exc}"


def _campaigns(settings: Settings, landing: Path, batch: str) -> str:
    from vasmart.campaigns.run import run_campaigns

    outcomes = run_campaigns(settings, dt.datetime.strptime(batch, "%Y%m%d").date())
    return f"{len(outcomes)} campaigns"


def _publish(settings: Settings, landing: Path, batch: str) -> str:
    from vasmart.publish import publish

    return publish(settings).summary()


def _full_refresh(settings: Settings) -> tuple[str, bool]:
    """`vasmart build --full-refresh`: (what it built or why it failed, whether it built)."""
    from vasmart.build import BuildError, build

    try:
        return build(settings, full_refresh=True).summary().split(";")[0], True
    except BuildError as exc:
        return f"failed: {exc}"[:300], False


def night_stages() -> list[tuple[str, Stage]]:
    """The stages of the nightly DAG for one batch, in order, as its tasks call them."""
    return [("ingest", _ingest), ("quality (raw)", _quality("raw")), ("dbt build", _build),
            ("quality (marts)", _quality("marts")), ("train (monthly, first night after a month end)", _train),
            ("score", _score), ("campaigns", _campaigns), ("publish", _publish)]


def pandas_month_aggregation(settings: Settings) -> tuple[float, object]:
    """The month aggregation of CDR detail per user, in plain pandas: (seconds, DataFrame)."""
    import numpy as np
    import pandas as pd

    lake = settings.home / "lake" / "raw"
    started = time.perf_counter()
    with duckdb.connect(str(settings.home / "warehouse.duckdb"), read_only=True) as con:
        assignments = con.execute("select msisdn, user_id, valid_from, valid_to "
                                  "from restricted.int_msisdn_assignments_historized").df()

    def read(interface: str, columns: list[str]) -> pd.DataFrame:
        return pd.concat([pd.read_parquet(p, columns=columns) for p in sorted(lake.glob(f"{interface}/*/*.parquet"))],
                         ignore_index=True)

    voice = read("CDR_VOICE", ["msisdn", "start_time", "call_type", "duration_s"])
    counted = voice["call_type"].isin(["MOC", "MTC"])
    voice = pd.DataFrame({"msisdn": voice["msisdn"], "event_at": voice["start_time"],
                          "voice_calls": counted.astype("int64"),
                          "voice_seconds": np.where(counted, voice["duration_s"], 0)})
    sms = read("CDR_SMS", ["msisdn", "send_time", "sms_type"])
    sms = pd.DataFrame({"msisdn": sms["msisdn"], "event_at": sms["send_time"],
                        "sms_mo": (sms["sms_type"] == "MO").astype("int64"),
                        "sms_mt": (sms["sms_type"] == "MT").astype("int64")})
    gprs = read("CDR_GPRS", ["msisdn", "start_time", "up_bytes", "down_bytes"])
    gprs = pd.DataFrame({"msisdn": gprs["msisdn"], "event_at": gprs["start_time"], "gprs_sessions": 1,
                         "gprs_kb": np.ceil((gprs["up_bytes"] + gprs["down_bytes"]) / 1024).astype("int64")})
    records = pd.concat([voice, sms, gprs], ignore_index=True).fillna(0)
    merged = records.merge(assignments, on="msisdn", how="left")
    held = (merged["event_at"] >= merged["valid_from"]) & (
        merged["valid_to"].isna() | (merged["event_at"] < merged["valid_to"]))
    merged = merged[held]
    merged["stat_month"] = merged["event_at"].dt.strftime("%Y%m")
    out = merged.groupby(["user_id", "stat_month"], as_index=False)[list(MEASURES)].sum()
    return time.perf_counter() - started, out


def _duckdb_aggregation(settings: Settings) -> tuple[float, float, object]:
    """The dbt models of CDR_CHAIN rebuilt from the raw zone alone (`vasmart build --full-refresh --select`):
    (seconds from the first model's compilation to the last one's end, their execution times inside the night's
    build from run_results.json, the aggregation model's rows)."""
    from vasmart.build import build

    results = settings.home / "dbt" / "target" / "run_results.json"
    chain = {f"model.vasmart.{m}" for m in CDR_CHAIN}
    in_build = sum(r["execution_time"] for r in json.loads(results.read_text())["results"] if r["unique_id"] in chain)
    build(settings, select=" ".join(CDR_CHAIN), full_refresh=True)
    timings = [t for r in json.loads(results.read_text())["results"] if r["unique_id"] in chain for t in r["timing"]]
    seconds = (max(dt.datetime.fromisoformat(t["completed_at"]) for t in timings)
               - min(dt.datetime.fromisoformat(t["started_at"]) for t in timings))
    with duckdb.connect(str(settings.home / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(f"select user_id, stat_month, {', '.join(MEASURES)} from intermediate.{AGGREGATION_MODEL} "
                           "where user_id is not null").df()
    return seconds.total_seconds(), in_build, rows


@contextmanager
def _duckdb_memory_limit(limit: str | None) -> Iterator[None]:
    """VASMART_DUCKDB_MEMORY_LIMIT set to `limit` inside the block (dbt's profile reads it), then restored."""
    if not limit:
        yield
        return
    before = os.environ.get("VASMART_DUCKDB_MEMORY_LIMIT")
    os.environ["VASMART_DUCKDB_MEMORY_LIMIT"] = limit
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("VASMART_DUCKDB_MEMORY_LIMIT", None)
        else:
            os.environ["VASMART_DUCKDB_MEMORY_LIMIT"] = before


def _agree(a, b) -> bool:
    """Same user-months and the same totals per measure."""
    if len(a) != len(b):
        return False
    return all(int(a[m].sum()) == int(b[m].sum()) for m in MEASURES)


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and its waited-for children so far."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_nightly_bench(settings: Settings, users: int, months: int = 12, seed: int = 7,
                      scratch: Path | None = None, log: Callable[[str], None] = print,
                      history_months: int | None = None, train: bool = True,
                      models: Path | None = None, full_refresh: bool = True, days: int = 1,
                      pandas: bool = True, setup_memory_limit: str | None = None) -> NightlyBenchReport:
    """Generate history + `days` daily batches, load all but the last, then time the night of the last one.

    `history_months` loads only the newest that many monthly history batches (all by default); `days` > 1
    measures a night later in the month, with the earlier daily batches (their CDR detail, BOSS snapshots and
    events) already loaded and built; `train=False` leaves out the monthly training the first night after a
    month end would run; `full_refresh=False` leaves out the full refresh timed after the night; `pandas=False`
    leaves out the pandas comparison (it holds every CDR in memory); `setup_memory_limit` (e.g. '12GB') raises
    DuckDB's memory limit for the set-up's build of the whole history in one go. With a kept
    `scratch` directory the loaded history is kept beside it and copied back on the next run instead of being
    loaded again (the build of the history and the night itself always run afresh)."""
    from vasmart.ingest import ingest_batch
    from vasmart.ingest.delivery import read_control_file, scan_batch
    from vasmart.synth.generate import GenerateConfig, generate

    report_notes: list[str] = []
    work = Path(scratch) if scratch else Path(tempfile.mkdtemp(prefix="vasmart-bench-nightly-"))
    first_daily = dt.date(2026, 11, 1)
    end = first_daily + dt.timedelta(days=days - 1)
    batch = end.strftime("%Y%m%d")
    landing = work / "landing"
    setup: dict[str, float] = {}
    if not (landing / batch).is_dir():
        started = time.perf_counter()
        generate(GenerateConfig(out=work, users=users, months=months, days=days, end_date=end, seed=seed))
        setup["generate"] = time.perf_counter() - started
    before = sorted(p.name for p in landing.iterdir() if p.is_dir() and p.name < batch)
    monthly = [b for b in before if b < f"{first_daily:%Y%m%d}"]
    dailies = before[len(monthly):]
    if history_months is not None:
        monthly = monthly[-history_months:]
    histories = monthly + dailies
    home = work / "home"
    kept = work / f"home-history-{histories[0]}-{histories[-1]}"
    shutil.rmtree(home, ignore_errors=True)
    bench = Settings(home=home)
    if scratch is not None and (kept / "warehouse.duckdb").is_file():
        started = time.perf_counter()
        shutil.copytree(kept, home, symlinks=True)
        setup["copy the kept loaded history"] = time.perf_counter() - started
    else:
        home.mkdir(parents=True)
        (home / "landing").symlink_to(landing.resolve(), target_is_directory=True)  # the home's landing area
        started = time.perf_counter()
        for history in histories:
            ingest_batch(bench, landing, history, f"bench-{history}")
        setup["load history"] = time.perf_counter() - started
        if scratch is not None:
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(home, kept, symlinks=True)
    started = time.perf_counter()
    with _duckdb_memory_limit(setup_memory_limit):
        _build(bench, landing, batch)
    setup["build history"] = time.perf_counter() - started
    if setup_memory_limit:
        report_notes.append(f"The history was built in one build with DuckDB's memory limit at {setup_memory_limit} "
                            "(set-up only; the night and the full refresh ran with the default).")
    if models is not None:
        shutil.copytree(models, home / "models")
    rows = sum(e.record_count for item in scan_batch(landing, batch).values() if item.control
               for e in read_control_file(item.control))

    floor = floor_seconds(landing, batch)
    log(f"floor {floor:.1f} s")
    stages = []
    load_before = os.getloadavg()[1]
    for name, stage in night_stages():
        if name.startswith("train") and not train:
            continue
        started, cpu = time.perf_counter(), _cpu_seconds()
        with PeakMemory() as memory:
            detail = stage(bench, landing, batch)
        stages.append(StageFigure(name, time.perf_counter() - started, memory.peak / 1e9, detail,
                                  _cpu_seconds() - cpu))
        log(f"{name} {stages[-1].seconds:.1f} s")

    if pandas:
        with PeakMemory():
            pandas_seconds, by_pandas = pandas_month_aggregation(bench)
        duck_seconds, duck_in_build, by_duckdb = _duckdb_aggregation(bench)
        report = NightlyBenchReport(users, batch, rows, setup, stages, floor, pandas_seconds, duck_seconds,
                                    duck_in_build, len(by_duckdb), _agree(by_pandas, by_duckdb))
    else:
        report = NightlyBenchReport(users, batch, rows, setup, stages, floor, 0.0, 0.0, 0.0, 0, False,
                                    aggregation_measured=False)
    if full_refresh:
        started, cpu = time.perf_counter(), _cpu_seconds()
        with PeakMemory() as memory:
            detail, report.full_refresh_ok = _full_refresh(bench)
        report.full_refresh = StageFigure("full refresh", time.perf_counter() - started, memory.peak / 1e9,
                                          detail, _cpu_seconds() - cpu)
        log(f"full refresh {report.full_refresh.seconds:.1f} s")
    report.notes += report_notes
    report.notes.append(f"History: {len(monthly)} monthly and {len(dailies)} daily batches loaded "
                        f"({histories[0]} to {histories[-1]}) before the night's batch.")
    if models is not None:
        report.notes.append(f"Scored with the model registry copied from {models}.")
    report.notes.append(f"Machine load (5-minute average) before the night {load_before:.1f}, after it "
                        f"{os.getloadavg()[1]:.1f}, on {os.cpu_count()} cores: wall time above CPU time / cores "
                        "is waiting for the CPU.")
    out = settings.reports / "bench"
    out.mkdir(parents=True, exist_ok=True)
    payload = {**asdict(report), "night_seconds": report.night_seconds, "floor_ratio": report.floor_ratio,
               "pandas_speedup": report.pandas_speedup, "peak_memory_gb": report.peak_memory_gb}
    (out / f"nightly-{users}.json").write_text(json.dumps(payload, indent=2))
    (out / f"nightly-{users}.md").write_text(report.markdown() + "\n")
    if scratch is None:
        shutil.rmtree(work, ignore_errors=True)
    return report
