"""`vasmart bench ingest`: loading one daily batch at scale, against DuckDB alone reading the same files."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from vasmart.config import Settings
from vasmart.ingest.delivery import read_control_file, scan_batch
from vasmart.ingest.load import ingest_batch
from vasmart.synth.bench import PeakMemory
from vasmart.synth.generate import GenerateConfig, generate

TARGET_SECONDS_PER_1M_USERS = 60.0
TARGET_FLOOR_RATIO = 2.0


@dataclass
class IngestBenchReport:
    """Measured figures of one ingest benchmark."""

    users: int
    batch: str
    rows: int
    ingest_seconds: float
    floor_seconds: float
    peak_memory_gb: float
    per_interface_seconds: dict[str, float]

    @property
    def ratio(self) -> float:
        return self.ingest_seconds / self.floor_seconds if self.floor_seconds else float("inf")

    def markdown(self) -> str:
        """The report as a Markdown table."""
        scaled = self.ingest_seconds * 1_000_000 / self.users
        ok = {True: "met", False: "MISSED"}
        slowest = sorted(self.per_interface_seconds.items(), key=lambda kv: -kv[1])[:4]
        return "\n".join([
            f"# Ingest benchmark: one daily batch ({self.batch}) of {self.users:,} users, {self.rows:,} rows",
            "",
            "| measure | value | target (2 cores) | verdict |",
            "|---|---|---|---|",
            (f"| ingest, whole batch | {self.ingest_seconds:.1f} s | ≤ {TARGET_SECONDS_PER_1M_USERS:.0f} s per 1M users "
            f"| {ok[scaled <= TARGET_SECONDS_PER_1M_USERS]} |"),
            f"| floor: DuckDB alone reading every file once | {self.floor_seconds:.1f} s | | |",
            f"| ingest / floor | {self.ratio:.2f}x | ≤ {TARGET_FLOOR_RATIO:.0f}x | {ok[self.ratio <= TARGET_FLOOR_RATIO]} |",
            f"| peak memory, ingest | {self.peak_memory_gb:.2f} GB | | |",
            "",
            "Slowest interfaces: " + ", ".join(f"{k} {v:.1f} s" for k, v in slowest) + ".",
            "The floor reads each interface's gzip files with DuckDB's CSV reader into a table, every field as text.",
        ])


def floor_seconds(landing: Path, batch: str) -> float:
    """DuckDB alone reading every data file of the batch once (all fields as text, materialised)."""
    con = duckdb.connect()
    started = time.perf_counter()
    for item in scan_batch(landing, batch).values():
        if not item.data_files:
            continue
        files = ", ".join(f"'{p}'" for p in item.data_files)
        con.execute(f"CREATE OR REPLACE TEMP TABLE t AS SELECT * FROM read_csv([{files}], delim='|', header=false, "
                    "all_varchar=true, quote='', escape='', encoding='utf-8', strict_mode=false, ignore_errors=true)")
    seconds = time.perf_counter() - started
    con.close()
    return seconds


def run_ingest_bench(settings: Settings, users: int, seed: int, scratch: Path | None = None) -> IngestBenchReport:
    """Generate one month of history plus one daily batch, then time loading the daily batch and the floor."""
    work = Path(scratch) if scratch else Path(tempfile.mkdtemp(prefix="vasmart-bench-ingest-"))
    end = dt.date(2026, 11, 1)
    batch = end.strftime("%Y%m%d")
    landing = work / "landing"
    if not (landing / batch).is_dir():
        generate(GenerateConfig(out=work, users=users, months=1, days=1, end_date=end, seed=seed))
    rows = sum(e.record_count for item in scan_batch(landing, batch).values() if item.control
               for e in read_control_file(item.control))
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    bench_settings = Settings(home=home)
    floor = floor_seconds(landing, batch)
    started = time.perf_counter()
    with PeakMemory() as memory:
        result = ingest_batch(bench_settings, landing, batch, f"bench-{batch}")
    seconds = time.perf_counter() - started
    report = IngestBenchReport(users, batch, rows, seconds, floor, memory.peak / 1e9,
                               {r.interface: round(r.seconds, 2) for r in result.interfaces})
    out = settings.reports / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"ingest-{users}.json").write_text(json.dumps({**asdict(report), "ratio": report.ratio}, indent=2))
    (out / f"ingest-{users}.md").write_text(report.markdown() + "\n")
    if scratch is None:
        shutil.rmtree(work, ignore_errors=True)
    return report
