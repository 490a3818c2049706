"""`vasmart generate`: deliver a whole synthetic history of the source systems to a landing directory.

The population is cut into parts (one numbered data file per part and interface) and each part into
blocks of users simulated one after the other, so memory stays bounded at any scale; parts run in
parallel processes. Control files are written last, once every part has closed its files.
"""

from __future__ import annotations

import datetime as dt
import math
import multiprocessing
import os
import shutil
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from vasmart.interface_spec import EVENTS, MONTHLY, SNAPSHOT, load_spec
from vasmart.synth.calendar import Batch, Timeline, build_timeline, date_of
from vasmart.synth.catalogue import Catalogue
from vasmart.synth.simulate import BlockSimulation, World
from vasmart.synth.writer import FileStats, PartWriter, write_control_file

HISTORY_EVENT_INTERFACES = ("BOSS_VAS_ORDER", "IMEI_OBS", "CRM_COMPLAINT", "VAS_DELIVERY")
REFERENCE_INTERFACES = ("REF_REGION", "REF_PLAN", "REF_SERVICE", "REF_TAC", "REF_STATUS_CODE")
DEFAULT_PART_USERS = 250_000
DEFAULT_BLOCK_USERS = 25_000


@dataclass(frozen=True)
class GenerateConfig:
    """Arguments of one generation run."""

    out: Path
    users: int
    months: int
    days: int
    end_date: dt.date
    seed: int
    part_users: int = DEFAULT_PART_USERS
    block_users: int = DEFAULT_BLOCK_USERS
    workers: int | None = None


@dataclass
class GenerateResult:
    """What was delivered, and how long each part took."""

    timeline: Timeline
    files: list[FileStats]
    truth_files: list[Path]
    seconds: float
    part_timings: list[dict] = field(default_factory=list)

    def records(self) -> dict[tuple[str, str], int]:
        """Record counts per (batch, interface)."""
        out: dict[tuple[str, str], int] = defaultdict(int)
        for f in self.files:
            out[(f.batch, f.interface)] += f.record_count
        return dict(out)


def interfaces_of_batch(batch: Batch) -> list[str]:
    """The interfaces a batch carries (interface spec §3), in specification order."""
    names = []
    for name, itf in load_spec().items():
        if itf.kind == SNAPSHOT or itf.kind == EVENTS and (not batch.is_history or name in HISTORY_EVENT_INTERFACES) or itf.kind == MONTHLY and batch.is_month_end:
            names.append(name)
    return names


def control_period(batch: Batch, interface: str) -> tuple[str, str]:
    """(period_start, period_end) a control file states for an interface of a batch."""
    kind = load_spec()[interface].kind
    if kind == SNAPSHOT:
        return batch.name, batch.name
    if kind == MONTHLY:
        end = date_of(batch.period_end)
        return end.replace(day=1).strftime("%Y%m%d"), batch.name
    return date_of(batch.period_start).strftime("%Y%m%d"), batch.name


class _PartSink:
    """Routes a part's records to its writer and its ground truth to per-part CSV fragments."""

    def __init__(self, writer: PartWriter, truth_dir: Path, part: int):
        self.writer, self.truth_dir, self.part = writer, truth_dir, part
        self.truth_handles: dict[str, object] = {}

    def write(self, batch: str, interface: str, table: pa.Table) -> None:
        self.writer.write(batch, interface, table)

    def truth(self, name: str, table: pa.Table) -> None:
        handle = self.truth_handles.get(name)
        if handle is None:
            handle = open(self.truth_dir / f".{name}.part{self.part:03d}", "wb")  # noqa: SIM115
            self.truth_handles[name] = handle
        pacsv.write_csv(table, handle, pacsv.WriteOptions(include_header=False, quoting_style="none"))

    def close(self) -> None:
        for handle in self.truth_handles.values():
            handle.close()


def _reference_tables(catalogue: Catalogue) -> dict[str, pa.Table]:
    spec = load_spec()
    regions = pa.table({
        "region_code": [r.code for r in catalogue.regions],
        "region_name": [r.name_zh for r in catalogue.regions],
        "is_capital": [int(r.is_capital) for r in catalogue.regions],
    })
    frames = {"REF_PLAN": catalogue.plans, "REF_SERVICE": catalogue.services, "REF_TAC": catalogue.tacs,
              "REF_STATUS_CODE": catalogue.statuses}
    tables = {"REF_REGION": regions}
    for name, frame in frames.items():
        columns = spec[name].field_names
        tables[name] = pa.Table.from_pandas(frame[columns], preserve_index=False)
    return tables


def _run_part(cfg: GenerateConfig, timeline: Timeline, part: int, blocks: list[tuple[int, int]],
              n_blocks: int) -> tuple[list[FileStats], dict]:
    """Simulate a part's blocks and write its files; returns their stats and the part's timings."""
    started = time.perf_counter()
    catalogue = Catalogue.load()
    world = World(timeline, catalogue, cfg.seed, n_blocks)
    landing = Path(cfg.out) / "landing"
    writer = PartWriter(landing, part)
    sink = _PartSink(writer, Path(cfg.out) / "truth", part)
    if part == 1:
        tables = _reference_tables(catalogue)
        for batch in timeline.batches:
            for name, table in tables.items():
                writer.write(batch.name, name, table)
    for batch in timeline.batches:
        for name in interfaces_of_batch(batch):
            if name not in REFERENCE_INTERFACES:
                writer.touch(batch.name, name)
    timings: dict[str, float] = defaultdict(float)
    for block, n_users in blocks:
        sim = BlockSimulation(world, block, n_users, sink)
        sim.run()
        for key, seconds in sim.timings.items():
            timings[key] += seconds
    sink.close()
    stats = writer.close()
    timings["part_total"] = time.perf_counter() - started
    return stats, dict(timings)


def plan_blocks(users: int, part_users: int, block_users: int) -> list[list[tuple[int, int]]]:
    """Cut the population into parts and each part into blocks: [[(block id, users), ...], ...]."""
    n_parts = max(1, math.ceil(users / part_users))
    parts, block = [], 0
    for p in range(n_parts):
        size = users // n_parts + (1 if p < users % n_parts else 0)
        n_blocks = max(1, math.ceil(size / block_users))
        blocks = []
        for b in range(n_blocks):
            blocks.append((block, size // n_blocks + (1 if b < size % n_blocks else 0)))
            block += 1
        parts.append(blocks)
    return parts


def generate(cfg: GenerateConfig) -> GenerateResult:
    """Generate every batch and the ground truth under cfg.out (replacing earlier landing/ and truth/)."""
    if cfg.users < 1:
        raise ValueError("--users must be at least 1")
    started = time.perf_counter()
    timeline = build_timeline(cfg.end_date, cfg.months, cfg.days)
    out = Path(cfg.out)
    for sub in ("landing", "truth"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir(parents=True)
    parts = plan_blocks(cfg.users, cfg.part_users, cfg.block_users)
    n_blocks = sum(len(p) for p in parts)
    workers = max(1, min(cfg.workers or os.cpu_count() or 1, len(parts)))
    results: list[tuple[list[FileStats], dict]] = []
    if workers == 1:
        results = [_run_part(cfg, timeline, i + 1, blocks, n_blocks) for i, blocks in enumerate(parts)]
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(_run_part, cfg, timeline, i + 1, blocks, n_blocks) for i, blocks in enumerate(parts)]
            results = [f.result() for f in futures]
    finishing = time.perf_counter()
    files = [f for stats, _ in results for f in stats]
    _write_control_files(out / "landing", timeline, files)
    truth_files = _merge_truth(out / "truth", len(parts))
    timings = [dict(t, control_and_truth=time.perf_counter() - finishing) for _, t in results]
    return GenerateResult(timeline, files, truth_files, time.perf_counter() - started, timings)


def _write_control_files(landing: Path, timeline: Timeline, files: list[FileStats]) -> None:
    by_key: dict[tuple[str, str], list[FileStats]] = defaultdict(list)
    for f in files:
        by_key[(f.batch, f.interface)].append(f)
    names = list(load_spec())
    for batch in timeline.batches:
        created = date_of(batch.period_end + 1)
        for name in interfaces_of_batch(batch):
            stamp = f"{created:%Y%m%d}01{names.index(name) * 3 % 60:02d}{(names.index(name) * 7) % 60:02d}"
            write_control_file(landing / batch.name, name, batch.name, by_key[(batch.name, name)],
                               control_period(batch, name), stamp)


_TRUTH_HEADERS = {"propensity": "user_id,p\n", "credit": "user_id,p\n", "content": "user_id,category,weight\n"}


def _merge_truth(truth: Path, n_parts: int) -> list[Path]:
    """Concatenate the parts' fragments of each truth file, in part order, under a header line."""
    names = sorted({p.name.split(".part")[0][1:] for p in truth.glob(".*.part*")})
    out = []
    for name in names:
        target = truth / f"{name}.csv"
        with open(target, "wb") as handle:
            handle.write(_TRUTH_HEADERS[name.split("_")[0]].encode())
            for part in range(1, n_parts + 1):
                fragment = truth / f".{name}.part{part:03d}"
                if fragment.exists():
                    with open(fragment, "rb") as src:
                        shutil.copyfileobj(src, handle)
                    fragment.unlink()
        out.append(target)
    return out
