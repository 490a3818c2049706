"""`vasmart generate`: deliver a whole synthetic history of the source systems to a landing directory.

The population is cut into parts (one numbered data file per part and interface) and each part into
blocks of users simulated one after the other, so memory stays bounded at any scale; parts run in
parallel processes. Control files are written last, once every part has closed its files.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import multiprocessing
import os
import shutil
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from vasmart.interface_spec import EVENTS, MONTHLY, SNAPSHOT, load_spec
from vasmart.synth.calendar import Batch, Timeline, build_timeline, date_of, day_of
from vasmart.synth.catalogue import Catalogue
from vasmart.synth.response import Responses, contacts_frame
from vasmart.synth.simulate import BlockSimulation, World
from vasmart.synth.writer import FileStats, PartWriter, write_control_file

HISTORY_EVENT_INTERFACES = ("BOSS_VAS_ORDER", "IMEI_OBS", "CRM_COMPLAINT", "VAS_DELIVERY")
REFERENCE_INTERFACES = ("REF_REGION", "REF_PLAN", "REF_SERVICE", "REF_TAC", "REF_STATUS_CODE")
DEFAULT_PART_USERS = 250_000
DEFAULT_BLOCK_USERS = 25_000
# The generator's own state beside landing/ and truth/ (truth/ holds only the ground truth of spec §7):
# how the landing area was generated and the campaign contacts each continuation read.
STATE_DIR = "synth"


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
    # continuation: the responses to campaign contacts at each cut, and the batches (by name) this run
    # writes; None = a fresh delivery, every batch written
    responses: Responses | None = None
    new_batches: frozenset[str] | None = None


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
    """Routes a part's records to its writer and its ground truth to per-part CSV fragments.

    When continuing a delivery, only the new batches are written; the records a replay produces for the
    batches already delivered are only counted (to prove the replay matches them), and truth files that
    exist already are left as they are.
    """

    def __init__(self, writer: PartWriter, truth_dir: Path, part: int, new_batches: frozenset[str] | None = None):
        self.writer, self.truth_dir, self.part = writer, truth_dir, part
        self.truth_handles: dict[str, object] = {}
        self.new_batches = new_batches
        self.replayed: dict[tuple[str, str], int] = defaultdict(int)

    def write(self, batch: str, interface: str, table: pa.Table) -> None:
        if self.new_batches is None or batch in self.new_batches:
            self.writer.write(batch, interface, table)
        else:
            self.replayed[(batch, interface)] += table.num_rows

    def truth(self, name: str, table: pa.Table) -> None:
        if self.new_batches is not None and (self.truth_dir / f"{name}.csv").exists():
            return
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
    """Simulate a part's blocks and write its files; returns their stats and the part's timings
    (with the records replayed into already delivered batches, when continuing)."""
    started = time.perf_counter()
    catalogue = Catalogue.load()
    world = World(timeline, catalogue, cfg.seed, n_blocks)
    landing = Path(cfg.out) / "landing"
    writer = PartWriter(landing, part)
    sink = _PartSink(writer, Path(cfg.out) / "truth", part, cfg.new_batches)
    written = [b for b in timeline.batches if cfg.new_batches is None or b.name in cfg.new_batches]
    if part == 1:
        tables = _reference_tables(catalogue)
        for batch in written:
            for name, table in tables.items():
                writer.write(batch.name, name, table)
    for batch in written:
        for name in interfaces_of_batch(batch):
            if name not in REFERENCE_INTERFACES:
                writer.touch(batch.name, name)
    timings: dict[str, float] = defaultdict(float)
    responses = cfg.responses or Responses.none()
    for block, n_users in blocks:
        sim = BlockSimulation(world, block, n_users, sink, responses.fresh())
        sim.run()
        for key, seconds in sim.timings.items():
            timings[key] += seconds
    sink.close()
    stats = writer.close()
    timings["part_total"] = time.perf_counter() - started
    if sink.replayed:
        timings["replayed"] = {f"{b}|{i}": n for (b, i), n in sink.replayed.items()}
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
    for sub in ("landing", "truth", STATE_DIR):
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
    write_record(out, GenerationRecord.of(cfg))
    timings = [dict(t, control_and_truth=time.perf_counter() - finishing) for _, t in results]
    return GenerateResult(timeline, files, truth_files, time.perf_counter() - started, timings)


def _write_control_files(landing: Path, timeline: Timeline, files: list[FileStats],
                         only: frozenset[str] | None = None) -> None:
    by_key: dict[tuple[str, str], list[FileStats]] = defaultdict(list)
    for f in files:
        by_key[(f.batch, f.interface)].append(f)
    names = list(load_spec())
    for batch in timeline.batches:
        if only is not None and batch.name not in only:
            continue
        created = date_of(batch.period_end + 1)
        for name in interfaces_of_batch(batch):
            stamp = f"{created:%Y%m%d}01{names.index(name) * 3 % 60:02d}{(names.index(name) * 7) % 60:02d}"
            write_control_file(landing / batch.name, name, batch.name, by_key[(batch.name, name)],
                               control_period(batch, name), stamp)


_TRUTH_HEADERS = {"propensity": "user_id,p\n", "credit": "user_id,p\n", "content": "user_id,category,weight\n",
                  "response": "user_id,campaign,run_date,offer,responded_at\n"}


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


# ---------------------------------------------------------------------------------------------------- continuing
RECORD = "generation.json"


@dataclass(frozen=True)
class Continuation:
    """One continuation segment: `days` more daily batches after the batch `after`, with the campaign
    contacts (synth/<contacts>) the responses were drawn from at `uplift`."""

    after: str
    days: int
    uplift: float
    contacts: str


@dataclass(frozen=True)
class GenerationRecord:
    """How a landing area was generated (synth/generation.json beside landing/): enough to replay it and go on."""

    users: int
    months: int
    days: int
    end_date: str
    seed: int
    part_users: int
    block_users: int
    continuations: tuple[Continuation, ...] = ()

    @classmethod
    def of(cls, cfg: GenerateConfig) -> GenerationRecord:
        return cls(cfg.users, cfg.months, cfg.days, cfg.end_date.strftime("%Y%m%d"), cfg.seed, cfg.part_users,
                   cfg.block_users)

    @property
    def last_batch(self) -> dt.date:
        """The date of the last delivered batch."""
        return (dt.datetime.strptime(self.end_date, "%Y%m%d").date()
                + dt.timedelta(days=sum(c.days for c in self.continuations)))


def write_record(out: Path, record: GenerationRecord) -> None:
    """Write synth/generation.json (atomically)."""
    path = Path(out) / STATE_DIR / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {**dataclasses.asdict(record), "continuations": [dataclasses.asdict(c) for c in record.continuations]}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_record(out: Path) -> GenerationRecord:
    """The generation record of a landing area, with a clear error when there is none."""
    path = Path(out) / STATE_DIR / RECORD
    if not path.exists():
        raise ValueError(f"{path} is missing: only a landing area written by `vasmart generate` can be continued")
    data = json.loads(path.read_text(encoding="utf-8"))
    data["continuations"] = tuple(Continuation(**c) for c in data.get("continuations", []))
    return GenerationRecord(**data)


@dataclass
class ContinueResult:
    """What a continuation delivered."""

    batches: list[str]
    files: list[FileStats]
    contacts: int
    responses: int
    seconds: float


def _responses(out: Path, record: GenerationRecord, seed: int) -> Responses:
    cuts, contacts, uplift = [], {}, {}
    for c in record.continuations:
        cut = day_of(dt.datetime.strptime(c.after, "%Y%m%d").date())
        cuts.append(cut)
        contacts[cut] = contacts_frame(pd.read_csv(Path(out) / STATE_DIR / c.contacts, dtype={"user_id": "int64"}))
        uplift[cut] = c.uplift
    return Responses(tuple(cuts), contacts, uplift, seed)


def continue_generation(out: Path, days: int, uplift: float, contacts: pd.DataFrame,
                        workers: int | None = None) -> ContinueResult:
    """Append `days` daily batches to the landing area under `out`, as the simulation that wrote it goes on.

    The whole history is simulated again (same seed, same draws; the records of the batches already
    delivered are counted against their control files, never rewritten); from the last batch on, contacted
    users respond to the campaigns in `contacts` (CONTACT_COLUMNS, user ids) with probability `uplift`.
    """
    if days < 1:
        raise ValueError("--continue-days must be at least 1")
    started = time.perf_counter()
    out = Path(out)
    record = read_record(out)
    after = record.last_batch
    landing = out / "landing"
    delivered = sorted(p.name for p in landing.iterdir() if p.is_dir()) if landing.is_dir() else []
    if not delivered or delivered[-1] != f"{after:%Y%m%d}":
        raise ValueError(f"{landing}: the last batch should be {after:%Y%m%d} as {STATE_DIR}/{RECORD} says, "
                         f"found {delivered[-1] if delivered else 'none'}")
    name = f"contacts_{after:%Y%m%d}.csv"
    contacts_frame(contacts).to_csv(out / STATE_DIR / name, index=False)
    extended = dataclasses.replace(record, continuations=(*record.continuations,
                                                          Continuation(f"{after:%Y%m%d}", days, uplift, name)))
    total_days = record.days + sum(c.days for c in extended.continuations)
    timeline = build_timeline(extended.last_batch, record.months, total_days)
    new = frozenset(b.name for b in timeline.batches if b.name > f"{after:%Y%m%d}")
    cfg = GenerateConfig(out, record.users, record.months, total_days, extended.last_batch, record.seed,
                         record.part_users, record.block_users, workers, _responses(out, extended, record.seed), new)
    parts = plan_blocks(cfg.users, cfg.part_users, cfg.block_users)
    n_blocks = sum(len(p) for p in parts)
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(parts)))
    if n_workers == 1:
        results = [_run_part(cfg, timeline, i + 1, blocks, n_blocks) for i, blocks in enumerate(parts)]
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
            futures = [pool.submit(_run_part, cfg, timeline, i + 1, blocks, n_blocks) for i, blocks in enumerate(parts)]
            results = [f.result() for f in futures]
    _check_replay(landing, [t.get("replayed", {}) for _, t in results])
    files = [f for stats, _ in results for f in stats]
    _write_control_files(landing, timeline, files, only=new)
    _merge_truth(out / "truth", len(parts))
    write_record(out, extended)
    responded = out / "truth" / f"response_{after:%Y%m%d}.csv"
    n_responses = max(0, len(responded.read_text(encoding="utf-8").splitlines()) - 1) if responded.exists() else 0
    return ContinueResult(sorted(new), files, len(contacts), n_responses, time.perf_counter() - started)


def _check_replay(landing: Path, replayed: list[dict[str, int]]) -> None:
    """The replay must give every delivered (batch, interface) its delivered record count."""
    from vasmart.synth.summary import read_control_files

    counts: dict[str, int] = defaultdict(int)
    for part in replayed:
        for key, n in part.items():
            counts[key] += n
    delivered: dict[str, int] = defaultdict(int)
    for row in read_control_files(landing):
        if row["interface"] not in REFERENCE_INTERFACES:
            delivered[f"{row['batch']}|{row['interface']}"] += row["record_count"]
    for key in sorted(delivered):
        if counts.get(key, 0) != delivered[key]:
            batch, interface = key.split("|")
            raise RuntimeError(f"landing/{batch} {interface}: {delivered[key]:,} records delivered, the replay gives "
                               f"{counts.get(key, 0):,}: the landing area was not written by this generator with "
                               f"the settings in {STATE_DIR}/{RECORD}")
