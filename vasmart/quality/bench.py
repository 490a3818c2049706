"""`vasmart bench quality`: the quality gate on one daily batch at scale (target: 60 s for 1M users, 2 cores)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from vasmart.config import Settings
from vasmart.ingest.load import ingest_batch
from vasmart.quality.checks import CRITICAL
from vasmart.synth.bench import PeakMemory
from vasmart.synth.generate import GenerateConfig, generate

TARGET_SECONDS_PER_1M_USERS = 60.0


@dataclass
class QualityBenchReport:
    """Measured figures of one quality-gate benchmark."""

    users: int
    batch: str
    rows: int
    gate_seconds: float
    timings: dict[str, float]
    checks: int
    critical_failures: int
    verdict: str
    peak_memory_gb: float
    load_average_before: list[float]
    cores: int

    def markdown(self) -> str:
        """The report as a Markdown table."""
        scaled = self.gate_seconds * 1_000_000 / self.users
        ok = "met" if scaled <= TARGET_SECONDS_PER_1M_USERS else "MISSED"
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items())
        return "\n".join([
            f"# Quality gate benchmark: one daily batch ({self.batch}) of {self.users:,} users, {self.rows:,} rows",
            "",
            "| measure | value | target (2 cores) | verdict |",
            "|---|---|---|---|",
            (f"| quality gate, whole batch (fresh process, GX import included) | {self.gate_seconds:.1f} s "
            f"| ≤ {TARGET_SECONDS_PER_1M_USERS:.0f} s per 1M users | {ok} |"),
            f"| peak memory | {self.peak_memory_gb:.2f} GB | | |",
            "",
            f"Steps: {steps}. {self.checks} checks, verdict {self.verdict} ({self.critical_failures} critical).",
            (f"Load average before the run: {', '.join(f'{x:.2f}' for x in self.load_average_before)} "
            f"on {self.cores} cores (the machine is shared)."),
        ])


def run_quality_bench(settings: Settings, users: int, seed: int, scratch: Path | None = None) -> QualityBenchReport:
    """Generate one history month and one daily batch, load both, then time the gate on the daily batch."""
    from vasmart.quality.run import QualityGateStopped, run_gate

    work = Path(scratch) if scratch else Path(tempfile.mkdtemp(prefix="vasmart-bench-quality-"))
    end = dt.date(2026, 11, 1)
    batch = end.strftime("%Y%m%d")
    landing = work / "landing"
    if not (landing / batch).is_dir():
        generate(GenerateConfig(out=work, users=users, months=1, days=1, end_date=end, seed=seed))
    home = work / "home"
    bench_settings = Settings(home=home)
    if not (home / "warehouse.duckdb").exists():
        for b in sorted(p.name for p in landing.iterdir() if p.is_dir()):
            ingest_batch(bench_settings, landing, b, f"bench-{b}")
    # the gate reads the control files' coverage from the home's landing
    if not bench_settings.landing.exists():
        bench_settings.landing.symlink_to(landing.resolve())
    load = list(os.getloadavg())
    started = time.perf_counter()
    with PeakMemory() as memory:
        try:
            run = run_gate(bench_settings, batch)
        except QualityGateStopped as stopped:
            run = stopped.run
    seconds = time.perf_counter() - started
    rows = int(sum(r.observed or 0 for r in run.results if r.check.metric == "rows" and r.check.table.startswith("raw.")))
    report = QualityBenchReport(users, batch, rows, seconds, {k: round(v, 2) for k, v in run.timings.items()},
                                len(run.results), len(run.failures(CRITICAL)), run.verdict, memory.peak / 1e9, load,
                                os.cpu_count() or 1)
    out = settings.reports / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"quality-{users}.json").write_text(json.dumps(asdict(report), indent=2))
    (out / f"quality-{users}.md").write_text(report.markdown() + "\n")
    if scratch is None:
        shutil.rmtree(work, ignore_errors=True)
    return report
