"""Planting faults in a copy of a delivered batch, and the harness the ingestion tests share.

Written from the interface spec (shared/interface-spec, §1 deliveries and control files, §2 record format)
alone: a batch is `landing/<YYYYMMDD>/` with gzip-compressed GBK data files `<IF>_<D>_<NNN>.dat.gz` and one
UTF-8 control file `<IF>_<D>.chk` per interface whose lines are
`file_name|size_bytes|record_count|md5_hex|period_start|period_end|created_at`.

Two kinds of helpers:
- *rewrites* change a data file's records (decompress, GBK-decode, edit lines, re-encode, gzip) and then
  bring its control line up to date (size, MD5, record count), so that only the planted fault remains;
- *damages* break the file or its control line on purpose (truncated gzip, wrong MD5, wrong size, missing
  control file, unlisted file, malformed control file, unknown interface, ...).

The harness part runs the real CLI (`vasmart generate`, `vasmart ingest`) in subprocesses, copies a loaded
state directory (VASMART_HOME) so a case starts from "the clean batch already loaded", and takes
order-independent checksums of every raw and rejects partition so a test can prove nothing else changed.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import yaml

ENCODING = "gbk"
BATCH = "20260602"
SPEC_PATH = Path("/work/shared/interface-spec/interfaces.yaml")
GENERATE_ARGS = ("--users", "300", "--months", "1", "--days", "2", "--end-date", BATCH, "--seed", "11")
CLI_TIMEOUT_S = 600


# ---------------------------------------------------------------------------------------------- names and paths
def data_name(interface: str, batch: str = BATCH, part: int = 1) -> str:
    return f"{interface}_{batch}_{part:03d}.dat.gz"


def control_name(interface: str, batch: str = BATCH) -> str:
    return f"{interface}_{batch}.chk"


def data_path(landing: Path, interface: str, batch: str = BATCH, part: int = 1) -> Path:
    return Path(landing) / batch / data_name(interface, batch, part)


def control_path(landing: Path, interface: str, batch: str = BATCH) -> Path:
    return Path(landing) / batch / control_name(interface, batch)


def copy_batch(src_landing: Path, dst_landing: Path, batch: str = BATCH) -> Path:
    """Copy one batch directory to another landing directory; returns the new landing directory."""
    dst_landing = Path(dst_landing)
    dst_landing.mkdir(parents=True, exist_ok=True)
    shutil.copytree(Path(src_landing) / batch, dst_landing / batch)
    return dst_landing


# ---------------------------------------------------------------------------------------------- control files
@dataclass(frozen=True)
class ControlLine:
    file_name: str
    size_bytes: str
    record_count: str
    md5_hex: str
    period_start: str
    period_end: str
    created_at: str

    def render(self) -> str:
        return f"{self.file_name}|{self.size_bytes}|{self.record_count}|{self.md5_hex}|{self.period_start}|{self.period_end}|{self.created_at}"


def read_control(landing: Path, interface: str, batch: str = BATCH) -> list[ControlLine]:
    text = control_path(landing, interface, batch).read_text(encoding="utf-8")
    return [ControlLine(*line.split("|")) for line in text.splitlines() if line]


def write_control(landing: Path, interface: str, lines: list[ControlLine], batch: str = BATCH) -> None:
    control_path(landing, interface, batch).write_text("".join(line.render() + "\n" for line in lines),
                                                       encoding="utf-8")


def control_line(landing: Path, interface: str, file_name: str, batch: str = BATCH) -> ControlLine:
    return next(line for line in read_control(landing, interface, batch) if line.file_name == file_name)


def edit_control_line(landing: Path, interface: str, file_name: str, batch: str = BATCH, **changes: str) -> None:
    """Change fields of one control line, leaving everything else as delivered."""
    lines = read_control(landing, interface, batch)
    assert any(line.file_name == file_name for line in lines), f"{file_name} is not listed"
    write_control(landing, interface, [replace(line, **changes) if line.file_name == file_name else line
                                       for line in lines], batch)


def refresh_control(landing: Path, interface: str, file_name: str, batch: str = BATCH, *,
                    count: bool = True, records: int | None = None) -> None:
    """Bring a control line up to date with its (rewritten) data file: size, MD5 and, if asked, record count."""
    payload = (Path(landing) / batch / file_name).read_bytes()
    changes = {"size_bytes": str(len(payload)), "md5_hex": hashlib.md5(payload).hexdigest()}
    if records is not None:
        changes["record_count"] = str(records)
    elif count:
        changes["record_count"] = str(count_records(gzip.decompress(payload)))
    edit_control_line(landing, interface, file_name, batch, **changes)


# ---------------------------------------------------------------------------------------------- data files
def count_records(text: bytes) -> int:
    """Data lines of decompressed text (a last line without its `\\n` still counts)."""
    return text.count(b"\n") + (1 if text and not text.endswith(b"\n") else 0)


def compress(text: bytes) -> bytes:
    return gzip.compress(text, compresslevel=6, mtime=0)


def read_text(path: Path) -> bytes:
    """The decompressed bytes of a data file."""
    return gzip.decompress(Path(path).read_bytes())


def read_records(path: Path, encoding: str = ENCODING) -> list[str]:
    """A data file's records (decoded, without line ends)."""
    text = read_text(path)
    return text.decode(encoding).split("\n")[:-1] if text else []


def encode_records(records: list[str], encoding: str = ENCODING) -> bytes:
    return "".join(r + "\n" for r in records).encode(encoding)


def fields(record: str) -> list[str]:
    return record.split("|")


def with_field(record: str, index: int, value: str) -> str:
    """The record with one field replaced."""
    values = record.split("|")
    values[index] = value
    return "|".join(values)


def write_records(landing: Path, interface: str, records: list[str], batch: str = BATCH, part: int = 1,
                  encoding: str = ENCODING, update_control: bool = True) -> None:
    """(Re)write a data file with these records and bring its control line up to date."""
    path = data_path(landing, interface, batch, part)
    path.write_bytes(compress(encode_records(records, encoding)))
    if update_control:
        refresh_control(landing, interface, path.name, batch)


def rewrite_records(landing: Path, interface: str, edit: Callable[[list[str]], list[str]], batch: str = BATCH,
                    part: int = 1, encoding: str = ENCODING) -> tuple[list[str], list[str]]:
    """Apply `edit` to a data file's records (GBK in, `encoding` out), update its control line.

    Returns (records before, records after)."""
    before = read_records(data_path(landing, interface, batch, part))
    after = edit(list(before))
    write_records(landing, interface, after, batch, part, encoding)
    return before, after


def rewrite_bytes(landing: Path, interface: str, edit: Callable[[bytes], bytes], batch: str = BATCH,
                  part: int = 1) -> None:
    """Apply `edit` to the decompressed bytes of a data file (for byte-level damage), update its control line."""
    path = data_path(landing, interface, batch, part)
    path.write_bytes(compress(edit(read_text(path))))
    refresh_control(landing, interface, path.name, batch)


def split_file(landing: Path, interface: str, batch: str = BATCH) -> tuple[list[str], list[str]]:
    """Split a one-part extract into parts 001 and 002 (both listed in the control file, as §1 allows)."""
    records = read_records(data_path(landing, interface, batch))
    half = len(records) // 2
    first, second = records[:half], records[half:]
    template = read_control(landing, interface, batch)[0]
    data_path(landing, interface, batch, 2).write_bytes(compress(encode_records(second)))
    write_control(landing, interface, [template, replace(template, file_name=data_name(interface, batch, 2))],
                  batch)
    write_records(landing, interface, first, batch, part=1)
    refresh_control(landing, interface, data_name(interface, batch, 2), batch)
    return first, second


# ---------------------------------------------------------------------------------------------- damages
def remove_control(landing: Path, interface: str, batch: str = BATCH) -> None:
    control_path(landing, interface, batch).unlink()


def remove_interface(landing: Path, interface: str, batch: str = BATCH) -> None:
    """Neither the control file nor any data file of the interface is delivered."""
    for path in (Path(landing) / batch).glob(f"{interface}_{batch}*"):
        path.unlink()


def remove_data_file(landing: Path, interface: str, batch: str = BATCH, part: int = 1) -> None:
    data_path(landing, interface, batch, part).unlink()


def add_unlisted_file(landing: Path, interface: str, batch: str = BATCH, part: int = 2,
                      records: list[str] | None = None) -> str:
    """A further, well-formed part of the extract that its control file does not list."""
    if records is None:
        records = read_records(data_path(landing, interface, batch))[:5]
    path = data_path(landing, interface, batch, part)
    path.write_bytes(compress(encode_records(records)))
    return path.name


def wrong_md5(landing: Path, interface: str, batch: str = BATCH, part: int = 1) -> str:
    """The control line carries another file's MD5 (the file itself is intact)."""
    name = data_name(interface, batch, part)
    bogus = hashlib.md5(b"not the delivered file").hexdigest()
    edit_control_line(landing, interface, name, batch, md5_hex=bogus)
    return bogus


def wrong_size(landing: Path, interface: str, batch: str = BATCH, part: int = 1, delta: int = 1) -> int:
    name = data_name(interface, batch, part)
    size = int(control_line(landing, interface, name, batch).size_bytes) + delta
    edit_control_line(landing, interface, name, batch, size_bytes=str(size))
    return size


def truncate_gzip(landing: Path, interface: str, batch: str = BATCH, part: int = 1, keep: float = 0.6) -> None:
    """Cut the compressed file short; size and MD5 in the control line describe the cut file (as if the
    sender computed them after the damage), so only the truncation remains."""
    path = data_path(landing, interface, batch, part)
    payload = path.read_bytes()
    path.write_bytes(payload[: int(len(payload) * keep)])
    refresh_control(landing, interface, path.name, batch, count=False)


def not_gzip(landing: Path, interface: str, batch: str = BATCH, part: int = 1) -> None:
    """The data file holds the plain (uncompressed) GBK text; control size/MD5 describe those bytes."""
    path = data_path(landing, interface, batch, part)
    path.write_bytes(read_text(path))
    refresh_control(landing, interface, path.name, batch, count=False)


def malform_control(landing: Path, interface: str, batch: str = BATCH, line: int = 0, *,
                    record_count: str | None = None, drop_field: int | None = None) -> None:
    """Make one control line unparseable: a non-integer record count, or one field fewer."""
    path = control_path(landing, interface, batch)
    lines = path.read_text(encoding="utf-8").splitlines()
    values = lines[line].split("|")
    if record_count is not None:
        values[2] = record_count
    if drop_field is not None:
        del values[drop_field]
    lines[line] = "|".join(values)
    path.write_text("".join(x + "\n" for x in lines), encoding="utf-8")


def add_unknown_interface(landing: Path, interface: str = "FOO_BAR", batch: str = BATCH,
                          records: list[str] | None = None) -> tuple[str, str]:
    """A complete, well-formed file set (data file and control file) of an interface the spec does not know."""
    records = records or ["1|abc|20260602", "2|def|20260602"]
    path = data_path(landing, interface, batch)
    payload = compress(encode_records(records))
    path.write_bytes(payload)
    write_control(landing, interface, [ControlLine(path.name, str(len(payload)), str(len(records)),
                                                   hashlib.md5(payload).hexdigest(), batch, batch,
                                                   f"{batch}235959")], batch)
    return path.name, control_name(interface, batch)


# ---------------------------------------------------------------------------------------------- the spec
def load_spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))["interfaces"]


def field_index(interface: str, name: str) -> int:
    return [f["name"] for f in load_spec()[interface]["fields"]].index(name)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return total % 10 == 0


def luhn_digit(body14: str) -> str:
    return next(str(d) for d in range(10) if luhn_ok(body14 + str(d)))


# ---------------------------------------------------------------------------------------------- the CLI
def vasmart_command() -> list[str]:
    exe = Path(sys.executable).with_name("vasmart")
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from vasmart.cli import app; app()"]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def run_cli(home: Path, *args: str) -> Run:
    env = {**os.environ, "VASMART_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "400", "TERM": "dumb"}
    env.pop("FORCE_COLOR", None)
    proc = subprocess.run([*vasmart_command(), *args], capture_output=True, text=True, env=env,
                          timeout=CLI_TIMEOUT_S, check=False, cwd=Path(home).parent)
    return Run(proc.returncode, ANSI.sub("", proc.stdout), ANSI.sub("", proc.stderr))


def ingest(home: Path, landing: Path, batch: str = BATCH, *extra: str) -> Run:
    return run_cli(home, "ingest", "--batch", batch, "--landing", str(landing), *extra)


# ---------------------------------------------------------------------------------------------- session state
_SESSION: dict[str, object] = {}


@dataclass
class CleanState:
    """The generated delivery and a state directory holding its last daily batch, loaded once."""

    landing: Path          # generated landing directory (never modified)
    home: Path             # VASMART_HOME with the clean batch loaded (never modified after loading)
    run: Run               # the clean `vasmart ingest`
    load_id: str
    checksums: dict        # partition_checksums(home)


def generated_landing(tmp_path_factory) -> Path:
    """`vasmart generate` once per session (300 users, one history month, two daily batches)."""
    if "landing" not in _SESSION:
        out = tmp_path_factory.mktemp("delivery") / "gen"
        gen = run_cli(out.parent / "unused-home", "generate", "--out", str(out), *GENERATE_ARGS)
        assert gen.returncode == 0, f"vasmart generate failed:\n{gen.stderr[-3000:]}"
        assert (out / "landing" / BATCH).is_dir()
        _SESSION["landing"] = out / "landing"
    return _SESSION["landing"]


def clean_state(tmp_path_factory) -> CleanState:
    """The clean batch loaded with the real CLI into a fresh state directory (once per session)."""
    if "clean" not in _SESSION:
        landing = generated_landing(tmp_path_factory)
        home = tmp_path_factory.mktemp("clean") / "home"
        result = ingest(home, landing)
        load_ids = query(home, "SELECT load_id FROM audit.load_batch") if result.returncode == 0 else []
        _SESSION["clean"] = CleanState(landing, home, result, load_ids[0][0] if load_ids else "",
                                       partition_checksums(home))
    return _SESSION["clean"]


def clone_home(src: Path, dst: Path) -> Path:
    """Copy a state directory, re-pointing the warehouse's views at the copy's own lake."""
    shutil.copytree(src, dst)
    con = duckdb.connect(str(dst / "warehouse.duckdb"))
    try:
        for schema, name, sql in con.execute(
                "SELECT schema_name, view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall():
            if str(src) in sql:
                fixed = sql.replace(str(src), str(dst)).replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1)
                con.execute(fixed)
    finally:
        con.close()
    return dst


def query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(Path(home) / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def has_view(home: Path, schema: str, name: str) -> bool:
    return bool(query(home, "SELECT count(*) FROM duckdb_views() WHERE schema_name = ? AND view_name = ?",
                      [schema, name])[0][0])


# ---------------------------------------------------------------------------------------------- partitions
def partition_files(home: Path) -> dict[tuple[str, str, str], list[Path]]:
    """(zone, interface, batch) -> parquet files of every raw and rejects partition."""
    found: dict[tuple[str, str, str], list[Path]] = {}
    lake = Path(home) / "lake"
    for zone in ("raw", "rejects"):
        for path in sorted(lake.glob(f"{zone}/*/batch_date=*/*.parquet")):
            key = (zone, path.parent.parent.name, path.parent.name.split("=", 1)[1])
            found.setdefault(key, []).append(path)
    return found


def partition_checksums(home: Path) -> dict[tuple[str, str, str], tuple]:
    """Per partition: (column names and types, rows, order-independent hash of the rows, sha256 of the bytes)."""
    sums = {}
    con = duckdb.connect()
    try:
        for key, paths in partition_files(home).items():
            files = "[" + ", ".join(f"'{p}'" for p in paths) + "]"
            schema = tuple(con.execute(f"DESCRIBE SELECT * FROM read_parquet({files})").fetchall())
            rows, digest = con.execute(
                f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM read_parquet({files}) t").fetchone()
            raw_bytes = hashlib.sha256(b"".join(p.read_bytes() for p in paths)).hexdigest()
            sums[key] = (tuple(s[:2] for s in schema), rows, int(digest), raw_bytes)
    finally:
        con.close()
    return sums


def row_checksum(sums: dict) -> dict:
    """The checksums without the byte digest (row identity only)."""
    return {k: v[:3] for k, v in sums.items()}


def partition_diff(old: Path, new: Path) -> tuple[list[tuple], list[tuple]]:
    """(rows only in old, rows only in new) of two parquet files, as multisets over every column."""
    con = duckdb.connect()
    try:
        gone = con.execute(f"SELECT * FROM read_parquet('{old}') EXCEPT ALL SELECT * FROM read_parquet('{new}')"
                           ).fetchall()
        came = con.execute(f"SELECT * FROM read_parquet('{new}') EXCEPT ALL SELECT * FROM read_parquet('{old}')"
                           ).fetchall()
        cols = [c[0] for c in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{old}')").fetchall()]
    finally:
        con.close()
    return [dict(zip(cols, r)) for r in gone], [dict(zip(cols, r)) for r in came]


def leftovers(home: Path) -> list[str]:
    """Hidden work directories (staging, set-aside old partitions) left in the lake."""
    lake = Path(home) / "lake"
    return sorted(str(p.relative_to(lake)) for p in lake.rglob(".*"))
