"""`vasmart bench generate`: the generator's speed and memory at scale, against its targets."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Self

import psutil

from vasmart.config import Settings
from vasmart.synth.generate import GenerateConfig, generate

TARGETS = {
    "daily_batch_seconds_per_1m_users": 120.0,
    "history_12_months_seconds_per_1m_users": 300.0,
    "peak_memory_gb": 4.0,
}


class PeakMemory:
    """Samples the resident memory of this process and all its children; keeps the peak of the sum."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class GenerateBenchReport:
    """Measured figures of one benchmark run."""

    users: int
    months: int
    days: int
    end_date: str
    parts: int
    wall_seconds: float
    history_seconds: float
    daily_batch_seconds: dict[str, float]
    records: int
    compressed_mb: float
    cdr_rows_last_batch: int
    peak_memory_gb: float
    part_seconds: list[dict] = field(default_factory=list)
    targets: dict = field(default_factory=lambda: dict(TARGETS))

    def verdicts(self) -> dict[str, bool]:
        """Each target met or not, scaled linearly to 1,000,000 users."""
        scale = 1_000_000 / self.users
        last = list(self.daily_batch_seconds.values())[-1] if self.daily_batch_seconds else 0.0
        return {
            "daily batch": last * scale <= TARGETS["daily_batch_seconds_per_1m_users"],
            "history (12 months)": self.history_seconds * scale * 12 / self.months
            <= TARGETS["history_12_months_seconds_per_1m_users"],
            "peak memory": self.peak_memory_gb <= TARGETS["peak_memory_gb"],
        }

    def markdown(self) -> str:
        """The report as a Markdown table."""
        last_name, last = (list(self.daily_batch_seconds.items()) or [("-", 0.0)])[-1]
        v = self.verdicts()
        ok = {True: "met", False: "MISSED"}
        lines = [
            f"# Generator benchmark: {self.users:,} users, {self.months} months, {self.days} daily batch(es)",
            "",
            "| measure | value | target (1M users, 2 cores) | verdict |",
            "|---|---|---|---|",
            (f"| last daily batch ({last_name}, {self.cdr_rows_last_batch:,} CDR rows) | {last:.1f} s "
            f"| ≤ {TARGETS['daily_batch_seconds_per_1m_users']:.0f} s | {ok[v['daily batch']]} |"),
            (f"| history, {self.months} months | {self.history_seconds:.1f} s "
            f"| ≤ {TARGETS['history_12_months_seconds_per_1m_users']:.0f} s for 12 | {ok[v['history (12 months)']]} |"),
            (f"| peak memory, all processes | {self.peak_memory_gb:.2f} GB | ≤ {TARGETS['peak_memory_gb']:.0f} GB "
            f"| {ok[v['peak memory']]} |"),
            f"| whole run (wall) | {self.wall_seconds:.1f} s | | |",
            f"| records written | {self.records:,} ({self.compressed_mb:,.0f} MB gzip) | | |",
            "",
            f"Phase times are the parts' summed times over the {min(os.cpu_count() or 1, self.parts)} parallel "
            "workers (parts run in parallel, one per core); "
            "per part: " + "; ".join(
                f"{t.get('part_total', 0):.0f} s in all, {t.get('history_months', 0):.0f} s history"
                for t in self.part_seconds) + ".",
        ]
        return "\n".join(lines)


def run_generate_bench(settings: Settings, users: int, months: int, days: int, end_date: dt.date, seed: int,
                       scratch: Path | None = None, keep: bool = False) -> GenerateBenchReport:
    """Generate at scale in a scratch directory, measure, and write JSON and Markdown reports."""
    target = Path(scratch) if scratch else Path(tempfile.mkdtemp(prefix="vasmart-bench-"))
    cfg = GenerateConfig(out=target, users=users, months=months, days=days, end_date=end_date, seed=seed)
    started = time.perf_counter()
    with PeakMemory() as memory:
        result = generate(cfg)
    wall = time.perf_counter() - started
    # parts run `workers` at a time, so a phase's wall time is about its summed part time over the workers
    workers = min(os.cpu_count() or 1, len(result.part_timings))
    history = sum(t.get("history_months", 0.0) for t in result.part_timings) / workers
    batches = sorted({k for t in result.part_timings for k in t if k.startswith("batch_")})
    daily = {k[len("batch_"):]: sum(t.get(k, 0.0) for t in result.part_timings) / workers for k in batches}
    last_batch = result.timeline.batches[-1].name
    cdr_rows = sum(f.record_count for f in result.files if f.batch == last_batch and f.interface.startswith("CDR_"))
    report = GenerateBenchReport(
        users=users, months=months, days=days, end_date=end_date.strftime("%Y%m%d"),
        parts=len(result.part_timings), wall_seconds=wall, history_seconds=history, daily_batch_seconds=daily,
        records=sum(f.record_count for f in result.files),
        compressed_mb=sum(f.size_bytes for f in result.files) / 1e6, cdr_rows_last_batch=cdr_rows,
        peak_memory_gb=memory.peak / 1e9, part_seconds=result.part_timings,
    )
    out_dir = settings.reports / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"generate-{users}"
    stem.with_suffix(".json").write_text(json.dumps({**asdict(report), "verdicts": report.verdicts()}, indent=2))
    stem.with_suffix(".md").write_text(report.markdown() + "\n")
    if not keep and scratch is None:
        shutil.rmtree(target, ignore_errors=True)
    return report
