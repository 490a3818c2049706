"""Loading one interface of one batch into the raw zone, and closing the batch with its verdict.

An interface's partition (`lake/raw/<INTERFACE>/batch_date=<D>/`) and its rejects are written aside and
swapped in whole, so a rerun or a redelivered batch replaces them and a crash leaves either the previous
partition or none, never a mix. Every file's counts go to `audit.load_log`; the invariant
control record_count = lines read = loaded + rejected is checked for each file.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from vasmart.config import Settings
from vasmart.contracts import Contract, load_contracts
from vasmart.ingest.decode import DecodedFile, decode_file
from vasmart.ingest.delivery import (
    batch_fingerprint,
    delivery_fingerprint,
    expected_interfaces,
    read_control_file,
    scan_batch,
)
from vasmart.ingest.errors import FileFault, IngestError
from vasmart.ingest.fields import file_fields
from vasmart.ingest.validate import (
    LUHN_MACRO,
    duplicate_key_sql,
    key_repeats_sql,
    output_columns,
    validation_sql,
)
from vasmart.warehouse import connect, lake_root, refresh_raw_views

DEFAULT_MAX_REJECT_RATE = 0.01


@dataclass
class FileResult:
    """One data file's outcome."""

    file_name: str
    size_bytes: int | None = None
    md5_hex: str | None = None
    control_records: int | None = None
    rows_read: int | None = None
    rows_loaded: int = 0
    rows_rejected: int = 0
    status: str = "FAILED"
    fault: str | None = None


@dataclass
class InterfaceResult:
    """One interface's outcome in a batch."""

    interface: str
    batch: str
    status: str
    files: list[FileResult] = field(default_factory=list)
    fault: str | None = None
    seconds: float = 0.0

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read or 0 for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)


@dataclass
class BatchResult:
    """A batch's verdict."""

    batch: str
    load_id: str
    status: str
    interfaces: list[InterfaceResult] = field(default_factory=list)
    message: str = ""


# ---------------------------------------------------------------------------------------------- partitions
def _partition_dir(root: Path, zone: str, interface: str, batch: str) -> Path:
    return root / zone / interface / f"batch_date={batch}"


def _swap_in(staged: Path | None, target: Path) -> None:
    """Replace `target` by `staged` (or remove it when staged is None): old aside, new in, old gone."""
    old = target.with_name(f".old-{target.name}-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    if staged is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
    shutil.rmtree(old, ignore_errors=True)


def _clear_leftovers(root: Path, interface: str, batch: str) -> None:
    """Remove what a crashed load of this interface and batch left aside (never read: views skip dot-dirs)."""
    for zone in ("raw", "rejects"):
        for pattern in (f".staging-{batch}-*", f".old-batch_date={batch}-*"):
            for path in (root / zone / interface).glob(pattern):
                shutil.rmtree(path, ignore_errors=True)


def _stage_dir(root: Path, zone: str, interface: str, batch: str, load_id: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in load_id)
    path = root / zone / interface / f".staging-{batch}-{safe}-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


# ---------------------------------------------------------------------------------------------- one interface
def _data_files(settings: Settings, landing: Path, batch: str, interface: str,
                contracts: dict[str, Contract]) -> tuple[list, list[FileResult]]:
    """Pair each listed data file with its control line; FileFault for any delivery fault."""
    item = scan_batch(landing, batch).get(interface)
    chk_name = f"{interface}_{batch}.chk"
    if interface not in contracts:
        name = (item.data_files[0].name if item and item.data_files else chk_name)
        raise FileFault(name, f"unknown interface {interface}")
    if item is not None and item.misplaced:
        wrong = item.misplaced[0]
        raise FileFault(wrong.name, f"named for another batch date, delivered in batch {batch}")
    if item is None or item.control is None:
        raise FileFault(chk_name, "control file missing")
    entries = read_control_file(item.control)
    present = {p.name: p for p in item.data_files}
    listed = {e.file_name for e in entries}
    for name in sorted(present):
        if name not in listed:
            raise FileFault(name, "not listed in the control file")
    pairs = []
    for entry in sorted(entries, key=lambda e: e.file_name):
        if entry.file_name not in present:
            raise FileFault(entry.file_name, "listed in the control file but missing")
        pairs.append((present[entry.file_name], entry))
    return pairs, [FileResult(e.file_name, e.size_bytes, e.md5_hex, e.record_count) for _, e in pairs]


def _process(contract: Contract, decoded: list[DecodedFile], entries: list, batch: str,
             stage_data: Path, stage_rejects: Path, tmp: Path) -> list[tuple[int, int]]:
    """Validate every line with DuckDB, write the good rows and the rejects; (loaded, rejected) per file."""
    n = len(contract.fields)
    parts = [file_fields(i, d.text, d.records, n) for i, d in enumerate(decoded)]
    for d in decoded:
        d.text = b""  # the fields hold what is needed from here on
    source = pa.concat_tables(parts)
    files = pa.table({
        "file_id": pa.array(np.arange(len(decoded), dtype=np.int32)),
        "file_name": [d.name for d in decoded],
        "period_start": [e.period_start for e in entries],
        "period_end": [e.period_end for e in entries],
    })
    con = duckdb.connect()
    try:
        con.execute(f"SET temp_directory = '{tmp}'")
        # row order inside a partition carries no meaning (each row keeps its file and line)
        con.execute("SET preserve_insertion_order = false")
        con.execute(LUHN_MACRO)
        con.register("source", source)
        con.register("files", files)
        columns = ", ".join(output_columns(contract))
        clean = _write_if_clean(con, contract, decoded, stage_data, columns)
        if clean is not None:
            return clean
        con.execute(f"CREATE TEMP TABLE judged AS {validation_sql(contract, 'source', 'files')}")
        con.execute(duplicate_key_sql(contract, "judged"))
        per_file = con.execute(
            "SELECT file_id, count(*) FILTER (WHERE reason IS NULL), count(*) FILTER (WHERE reason IS NOT NULL), "
            f"count(*) FILTER (WHERE n_fields = {n}), mode(n_fields) "
            "FROM judged GROUP BY file_id ORDER BY file_id").fetchall()
        by_id = {row[0]: row[1:] for row in per_file}
        for i, d in enumerate(decoded):
            loaded, rejected, right_width, width = by_id.get(i, (0, 0, 0, None))
            if loaded + rejected and right_width == 0:
                raise FileFault(d.name, f"every record has {width} fields, expected {n}")
        con.execute(f"""COPY (SELECT {columns}, file_name AS _file_name, line_number AS _line_number
                        FROM judged JOIN files USING (file_id) WHERE reason IS NULL)
                        TO '{stage_data / "data.parquet"}' (FORMAT parquet, COMPRESSION zstd)""")
        if any(by_id.get(i, (0, 0))[1] for i in range(len(decoded))):
            line = "COALESCE(s.raw_line, concat_ws('|', " + ", ".join(f"s.r{i}" for i in range(n)) + "))"
            con.execute(f"""COPY (SELECT '{batch}' AS batch, '{contract.interface}' AS interface, f.file_name,
                            j.line_number, j.reason, {line} AS raw_line
                            FROM judged j JOIN files f USING (file_id)
                            JOIN source s ON s.file_id = j.file_id AND s.line_number = j.line_number
                            WHERE j.reason IS NOT NULL ORDER BY j.file_id, j.line_number)
                            TO '{stage_rejects / "rejects.parquet"}' (FORMAT parquet, COMPRESSION zstd)""")
        return [(by_id.get(i, (0, 0))[0], by_id.get(i, (0, 0))[1]) for i in range(len(decoded))]
    finally:
        con.close()


def _write_if_clean(con: duckdb.DuckDBPyConnection, contract: Contract, decoded: list[DecodedFile],
                    stage_data: Path, columns: str) -> list[tuple[int, int]] | None:
    """The common case in one pass: no repeated key and no faulty row, so every row is written as it is
    validated. Returns None (and writes nothing) as soon as either is seen; the caller then judges every
    row before writing."""
    if con.execute(key_repeats_sql(contract, "source")).fetchone()[0]:
        return None
    target = stage_data / "data.parquet"
    con.execute(f"""COPY (SELECT {columns}, file_name AS _file_name, line_number AS _line_number
                    FROM ({validation_sql(contract, 'source', 'files')}) JOIN files USING (file_id)
                    WHERE reason IS NULL) TO '{target}' (FORMAT parquet, COMPRESSION zstd)""")
    loaded = dict(con.execute(f"SELECT _file_name, count(*) FROM read_parquet('{target}') GROUP BY ALL").fetchall())
    if any(loaded.get(d.name, 0) != d.records for d in decoded):
        target.unlink()
        return None
    return [(d.records, 0) for d in decoded]


def _log(settings: Settings, load_id: str, batch: str, interface: str, results: list[FileResult],
         started: dt.datetime, seconds: float) -> None:
    finished = dt.datetime.now()
    con = connect(settings)
    try:
        con.executemany(
            "INSERT INTO audit.load_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(load_id, batch, interface, r.file_name, r.size_bytes, r.md5_hex, r.control_records, r.rows_read,
              r.rows_loaded, r.rows_rejected, r.status, r.fault, started, finished, seconds) for r in results])
        refresh_raw_views(con, settings, [interface])
    finally:
        con.close()


def ingest_interface(settings: Settings, landing: Path, batch: str, interface: str, load_id: str) -> InterfaceResult:
    """Load one interface of a batch into its raw partition; IngestError (file and fault) when it cannot."""
    started_at, started = dt.datetime.now(), time.perf_counter()
    contracts = load_contracts()
    landing = Path(landing)
    results: list[FileResult] = []
    root = lake_root(settings)
    try:
        pairs, results = _data_files(settings, landing, batch, interface, contracts)
        # gunzip, MD5 and decoding release the GIL: the files of an interface are read side by side
        with ThreadPoolExecutor(max_workers=min(len(pairs), os.cpu_count() or 1) or 1) as pool:
            decoded = list(pool.map(lambda pair: decode_file(*pair), pairs))
        for d, result in zip(decoded, results):
            result.rows_read = d.records
        tmp = settings.home / "tmp" / "duckdb"
        tmp.mkdir(parents=True, exist_ok=True)
        _clear_leftovers(root, interface, batch)
        stage_data = _stage_dir(root, "raw", interface, batch, load_id)
        stage_rejects = _stage_dir(root, "rejects", interface, batch, load_id)
        try:
            counts = _process(contracts[interface], decoded, [e for _, e in pairs], batch, stage_data,
                              stage_rejects, tmp)
            for result, (loaded, rejected) in zip(results, counts):
                if loaded + rejected != result.rows_read:
                    raise IngestError(f"{result.file_name}: counts do not reconcile "
                                      f"(read {result.rows_read}, loaded {loaded}, rejected {rejected})")
                result.rows_loaded, result.rows_rejected, result.status = loaded, rejected, "LOADED"
            has_rejects = (stage_rejects / "rejects.parquet").exists()
            _swap_in(stage_data, _partition_dir(root, "raw", interface, batch))
            _swap_in(stage_rejects if has_rejects else None, _partition_dir(root, "rejects", interface, batch))
        finally:
            shutil.rmtree(stage_data, ignore_errors=True)
            shutil.rmtree(stage_rejects, ignore_errors=True)
    except FileFault as fault:
        for r in results:
            r.status = "FAILED"
            r.rows_loaded = r.rows_rejected = 0
            r.fault = fault.fault if r.file_name == fault.file_name else f"not loaded: {fault.file_name} failed"
        if not any(r.file_name == fault.file_name for r in results):
            results.append(FileResult(fault.file_name, status="FAILED", fault=fault.fault))
        seconds = time.perf_counter() - started
        _log(settings, load_id, batch, interface, results, started_at, seconds)
        raise IngestError(f"batch {batch} {interface}: {fault}") from None
    seconds = time.perf_counter() - started
    _log(settings, load_id, batch, interface, results, started_at, seconds)
    return InterfaceResult(interface, batch, "LOADED", results, None, seconds)


# ---------------------------------------------------------------------------------------------- the batch
def close_batch(settings: Settings, batch: str, load_id: str,
                max_reject_rate: float = DEFAULT_MAX_REJECT_RATE) -> BatchResult:
    """Record the batch's verdict from its load log; IngestError if an interface failed or rejected too much."""
    con = connect(settings)
    try:
        rows = con.execute(
            "SELECT interface, bool_and(status = 'LOADED'), sum(rows_read), sum(rows_loaded), sum(rows_rejected),"
            " list(file_name ORDER BY file_name), list(md5_hex ORDER BY file_name),"
            " string_agg(CASE WHEN status = 'FAILED' AND fault NOT LIKE 'not loaded:%' THEN file_name || ': ' || fault END, '; ')"
            " FROM audit.load_log WHERE load_id = ? AND batch_date = ? GROUP BY interface ORDER BY interface",
            [load_id, batch]).fetchall()
        if not rows:
            raise IngestError(f"batch {batch}: nothing was loaded under load {load_id}")
        failed = [r for r in rows if not r[1]]
        rates = {r[0]: (r[4] or 0) / r[2] for r in rows if r[1] and r[2]}
        too_many = {k: v for k, v in rates.items() if v > max_reject_rate}
        messages = [f"{r[0]}: {r[7]}" for r in failed]
        messages += [f"{k}: reject rate {v:.2%} above {max_reject_rate:.2%}" for k, v in sorted(too_many.items())]
        status = "FAILED" if messages else "LOADED"
        pairs = [(name, md5) for r in rows for name, md5 in zip(r[5], r[6]) if md5]
        con.execute("INSERT INTO audit.load_batch VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            load_id, batch, status, delivery_fingerprint(pairs) if not failed else None,
            len(rows) - len(failed), len(failed), sum(r[2] or 0 for r in rows), sum(r[3] or 0 for r in rows),
            sum(r[4] or 0 for r in rows), max(rates.values(), default=0.0), max_reject_rate,
            "; ".join(messages) or None, dt.datetime.now()])
    finally:
        con.close()
    result = BatchResult(batch, load_id, status, message="; ".join(messages))
    if status == "FAILED":
        raise IngestError(f"batch {batch} failed: {result.message}")
    return result


def ingest_batch(settings: Settings, landing: Path, batch: str, load_id: str,
                 max_reject_rate: float = DEFAULT_MAX_REJECT_RATE) -> BatchResult:
    """Load every interface of a batch (continuing past failed ones), then close it."""
    results, errors = [], []
    for interface in expected_interfaces(landing, batch):
        try:
            results.append(ingest_interface(settings, landing, batch, interface, load_id))
        except IngestError as exc:
            errors.append(str(exc))
            results.append(InterfaceResult(interface, batch, "FAILED", fault=str(exc)))
    try:
        verdict = close_batch(settings, batch, load_id, max_reject_rate)
    except IngestError as exc:
        raise IngestError("\n".join([*errors, str(exc)])) from None
    verdict.interfaces = results
    return verdict


def pending_batches(settings: Settings, landing: Path) -> list[str]:
    """Batches under landing not yet loaded successfully with the files they hold now, in date order."""
    landing = Path(landing)
    if not landing.is_dir():
        return []
    batches = sorted(p.name for p in landing.iterdir() if p.is_dir() and p.name.isdigit() and len(p.name) == 8
                     and any(p.glob("*.chk")))
    done: dict[str, str] = {}
    path = settings.home / "warehouse.duckdb"
    if path.exists():
        con = connect(settings, read_only=True)
        try:
            exists = con.execute("SELECT count(*) FROM information_schema.tables "
                                 "WHERE table_schema = 'audit' AND table_name = 'load_batch'").fetchone()[0]
            if exists:
                done = dict(con.execute(
                    "SELECT batch_date, arg_max(fingerprint, finished_at) FROM audit.load_batch "
                    "WHERE status = 'LOADED' GROUP BY batch_date").fetchall())
        finally:
            con.close()
    return [b for b in batches if b not in done or done[b] != batch_fingerprint(landing, b)]
