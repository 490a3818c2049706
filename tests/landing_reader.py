"""A small reader for landing batches, written from the interface spec alone (shared/interface-spec, v1.0).

The acceptance tests use it to read what `vasmart generate` wrote. It knows only the contract: batch
directories, control files, gzip + GBK data files and the field lists of `vasmart/resources/interfaces.yaml`.
It never imports the generator (`vasmart.synth`).

Contract violations are *recorded* (see `FileStats`), not raised, so that every test can report them;
parsing uses only the well-formed lines of a file.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import gzip
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
SPEC_PATH = REPO_ROOT / "vasmart" / "resources" / "interfaces.yaml"
OSMOCOM_TACDB = Path("/work/shared/reference/osmocom_tacdb.csv")

CHK_FIELDS = (
    "file_name",
    "size_bytes",
    "record_count",
    "md5_hex",
    "period_start",
    "period_end",
    "created_at",
)
DATA_NAME_RE = re.compile(r"^(?P<interface>[A-Z][A-Z0-9_]*?)_(?P<date>\d{8})_(?P<part>\d{3})\.dat\.gz$")
CHK_NAME_RE = re.compile(r"^(?P<interface>[A-Z][A-Z0-9_]*?)_(?P<date>\d{8})\.chk$")
ENCODING = "gbk"
OPEN_END = "99991231"


# ----------------------------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class Field:
    """One field of an interface, as listed in interfaces.yaml."""

    name: str
    type: str
    nullable: bool = False
    values: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Interface:
    """One interface of interfaces.yaml."""

    name: str
    system: str
    kind: str
    key: tuple[str, ...]
    fields: tuple[Field, ...]
    event_time: tuple[str, ...] = ()  # candidate fields, first non-empty wins ("closed_at or created_at")

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def is_reference(self) -> bool:
        return self.name.startswith("REF_")

    @property
    def is_per_subscriber(self) -> bool:
        return not self.is_reference


def load_spec(path: Path = SPEC_PATH) -> dict[str, Interface]:
    """Interfaces by name, fields in delivery order."""
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    out: dict[str, Interface] = {}
    for name, body in doc["interfaces"].items():
        fields = tuple(
            Field(
                name=f["name"],
                type=f["type"],
                nullable=bool(f.get("nullable", False)),
                values=tuple(str(v) for v in f["values"]) if "values" in f else None,
            )
            for f in body["fields"]
        )
        event_time = (
            tuple(s.strip() for s in body["event_time"].split(" or ")) if "event_time" in body else ()
        )
        out[name] = Interface(
            name=name,
            system=body["system"],
            kind=body["kind"],
            key=tuple(body["key"]),
            fields=fields,
            event_time=event_time,
        )
    return out


# ----------------------------------------------------------------------------------------------- dates


def parse_date(s: str) -> dt.date:
    return dt.datetime.strptime(s, "%Y%m%d").date()


def fmt_date(d: dt.date) -> str:
    return d.strftime("%Y%m%d")


def month_of(yyyymmdd: str) -> str:
    return yyyymmdd[:6]


def month_first(yyyymm: str) -> str:
    return yyyymm + "01"


def month_last(yyyymm: str) -> str:
    y, m = int(yyyymm[:4]), int(yyyymm[4:6])
    return f"{yyyymm}{calendar.monthrange(y, m)[1]:02d}"


def add_months(yyyymm: str, n: int) -> str:
    y, m = int(yyyymm[:4]), int(yyyymm[4:6])
    k = y * 12 + (m - 1) + n
    return f"{k // 12:04d}{k % 12 + 1:02d}"


def add_days(yyyymmdd: str, n: int) -> str:
    return fmt_date(parse_date(yyyymmdd) + dt.timedelta(days=n))


def days_between(a: str, b: str) -> int:
    """b - a in days (YYYYMMDD strings)."""
    return (parse_date(b) - parse_date(a)).days


def is_month_end(yyyymmdd: str) -> bool:
    return yyyymmdd == month_last(yyyymmdd[:6])


def expected_batches(end_date: str, months: int, days: int) -> tuple[list[str], list[str]]:
    """(history batch dates, daily batch dates) that `generate --months --days --end-date` must write."""
    daily = [add_days(end_date, -i) for i in range(days - 1, -1, -1)]
    first_month = month_of(daily[0])
    history = [month_last(add_months(first_month, -i)) for i in range(months, 0, -1)]
    return history, daily


def batch_period(batch: str, previous_batch: str | None) -> tuple[str, str]:
    """Coverage of a batch: from the day after the previous batch (or the batch's month start) to the batch."""
    if previous_batch is None:
        return month_first(month_of(batch)), batch
    return add_days(previous_batch, 1), batch


# ----------------------------------------------------------------------------------------------- IMEI


def luhn_check_digit(body: str) -> int:
    """Luhn check digit for a string of digits (14 for an IMEI)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # rightmost digit of the body is doubled
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def is_valid_imei(imei: str) -> bool:
    return len(imei) == 15 and imei.isdigit() and luhn_check_digit(imei[:14]) == int(imei[14])


def imei_from_imeisv(imeisv: str) -> str:
    """The 15-digit IMEI of a 16-digit IMEISV (first 14 digits plus computed check digit)."""
    return imeisv[:14] + str(luhn_check_digit(imeisv[:14]))


def load_osmocom_tacs(path: Path = OSMOCOM_TACDB) -> set[str]:
    """TACs of the Osmocom TAC database (first line is the licence, second the header)."""
    with open(path, encoding="utf-8", newline="") as fh:
        fh.readline()
        reader = csv.reader(fh)
        header = next(reader)
        i = header.index("tac")
        return {row[i].strip() for row in reader if row and row[i].strip()}


# ----------------------------------------------------------------------------------------------- control files


@dataclass(frozen=True)
class ChkEntry:
    """One line of a control file."""

    file_name: str
    size_bytes: int
    record_count: int
    md5_hex: str
    period_start: str
    period_end: str
    created_at: str


def parse_chk(path: Path) -> list[ChkEntry]:
    """Parse a control file; raises ValueError on a line that does not have the seven fields."""
    text = Path(path).read_bytes().decode("utf-8")
    entries = []
    for n, line in enumerate(text.split("\n"), 1):
        if line == "" and n == len(text.split("\n")):
            continue  # after the final line end
        parts = line.split("|")
        if len(parts) != len(CHK_FIELDS):
            raise ValueError(
                f"{path.name} line {n}: {len(parts)} fields, expected {len(CHK_FIELDS)}: {line!r}"
            )
        name, size, count, md5, start, end, created = parts
        entries.append(ChkEntry(name, int(size), int(count), md5, start, end, created))
    return entries


# ----------------------------------------------------------------------------------------------- data files


@dataclass
class FileStats:
    """What reading one data file showed (contract violations recorded, not raised)."""

    file_name: str
    size_bytes: int
    md5_hex: str
    n_lines: int = 0
    decode_error: str | None = None
    missing_final_newline: bool = False
    has_cr: bool = False
    empty_lines: int = 0
    bad_field_count_lines: int = 0
    bad_field_samples: list[str] = field(default_factory=list)
    is_valid_utf8: bool = False
    has_non_ascii: bool = False


def decode_data(raw_gz: bytes) -> tuple[str, str | None, bytes]:
    """gunzip + strict GBK decode; on failure decode with replacement and return the error text."""
    data = gzip.decompress(raw_gz)
    try:
        return data.decode(ENCODING), None, data
    except UnicodeDecodeError as e:
        return data.decode(ENCODING, errors="replace"), f"{e}", data


def split_records(text: str) -> list[str]:
    """Records of a data file (`\\n` terminated)."""
    if text == "":
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def parse_records(lines: list[str], names: list[str]) -> pa.Table:
    """Arrow table of all-string columns from well-formed record lines."""
    if not lines:
        return pa.table({n: pa.array([], pa.string()) for n in names})
    buf = ("\n".join(lines) + "\n").encode("utf-8")
    return pacsv.read_csv(
        pa.py_buffer(buf),
        read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(
            delimiter="|",
            quote_char=False,
            escape_char=False,
            double_quote=False,
            newlines_in_values=False,
            ignore_empty_lines=False,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def read_data_file(path: Path, iface: Interface) -> tuple[FileStats, pa.Table]:
    """Read one `.dat.gz` file: stats on the raw content and a table of its well-formed records."""
    raw = Path(path).read_bytes()
    stats = FileStats(file_name=Path(path).name, size_bytes=len(raw), md5_hex=hashlib.md5(raw).hexdigest())
    text, err, data = decode_data(raw)
    stats.decode_error = err
    stats.has_non_ascii = not data.isascii()
    try:
        data.decode("utf-8")
        stats.is_valid_utf8 = True
    except UnicodeDecodeError:
        stats.is_valid_utf8 = False
    stats.has_cr = "\r" in text
    stats.missing_final_newline = bool(text) and not text.endswith("\n")
    lines = split_records(text)
    stats.n_lines = len(lines)
    want = len(iface.fields) - 1
    good = []
    for line in lines:
        if line != "" and line.count("|") == want:
            good.append(line)
        else:
            if line == "":
                stats.empty_lines += 1
            stats.bad_field_count_lines += 1
            if len(stats.bad_field_samples) < 5:
                stats.bad_field_samples.append(line)
    return stats, parse_records(good, iface.field_names)


# ----------------------------------------------------------------------------------------------- landing


class Landing:
    """The `landing/` directory of one generated delivery, with per-(batch, interface) caches."""

    def __init__(self, root: Path, spec: dict[str, Interface] | None = None):
        self.root = Path(root)
        self.spec = spec or load_spec()
        self._chk: dict[tuple[str, str], list[ChkEntry]] = {}
        self._tables: dict[tuple[str, str], pa.Table] = {}
        self._stats: dict[tuple[str, str], list[FileStats]] = {}
        self._all: dict[str, pa.Table] = {}

    @property
    def batches(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())

    def batch_dir(self, batch: str) -> Path:
        return self.root / batch

    def chk_path(self, batch: str, interface: str) -> Path:
        return self.batch_dir(batch) / f"{interface}_{batch}.chk"

    def interfaces_in(self, batch: str) -> set[str]:
        out = set()
        for p in self.batch_dir(batch).iterdir():
            m = CHK_NAME_RE.match(p.name)
            if m:
                out.add(m["interface"])
        return out

    def batches_with(self, interface: str) -> list[str]:
        return [b for b in self.batches if self.chk_path(b, interface).exists()]

    def chk(self, batch: str, interface: str) -> list[ChkEntry]:
        key = (batch, interface)
        if key not in self._chk:
            self._chk[key] = parse_chk(self.chk_path(batch, interface))
        return self._chk[key]

    def period(self, batch: str, interface: str) -> tuple[str, str]:
        """The coverage of an interface in a batch (the union over its data files)."""
        entries = self.chk(batch, interface)
        return min(e.period_start for e in entries), max(e.period_end for e in entries)

    def _load(self, batch: str, interface: str) -> None:
        iface = self.spec[interface]
        tables, stats = [], []
        for part, entry in enumerate(self.chk(batch, interface), 1):
            st, t = read_data_file(self.batch_dir(batch) / entry.file_name, iface)
            stats.append(st)
            tables.append(t.append_column("_part", pa.array([part] * t.num_rows, pa.int16())))
        if tables:
            table = pa.concat_tables(tables)
        else:
            table = parse_records([], iface.field_names).append_column("_part", pa.array([], pa.int16()))
        self._tables[(batch, interface)] = table
        self._stats[(batch, interface)] = stats

    def table(self, batch: str, interface: str) -> pa.Table:
        """All records of an interface in a batch (all data files listed in its control file), as strings."""
        if (batch, interface) not in self._tables:
            self._load(batch, interface)
        return self._tables[(batch, interface)]

    def stats(self, batch: str, interface: str) -> list[FileStats]:
        if (batch, interface) not in self._stats:
            self._load(batch, interface)
        return self._stats[(batch, interface)]

    def frame(self, batch: str, interface: str) -> pd.DataFrame:
        return self.table(batch, interface).to_pandas()

    def all_batches(self, interface: str) -> pa.Table:
        """Records of an interface over every batch that delivers it, with a `_batch` column."""
        if interface not in self._all:
            parts = []
            for b in self.batches_with(interface):
                t = self.table(b, interface)
                parts.append(t.append_column("_batch", pa.array([b] * t.num_rows, pa.string())))
            self._all[interface] = pa.concat_tables(parts) if parts else None
        return self._all[interface]

    def covered_days(self, interface: str) -> set[str]:
        """Every day covered by the control periods of an interface over all batches."""
        days = set()
        for b in self.batches_with(interface):
            for e in self.chk(b, interface):
                days |= {
                    add_days(e.period_start, i) for i in range(days_between(e.period_start, e.period_end) + 1)
                }
        return days

    def complete_months(self, interface: str) -> list[str]:
        """Months every day of which is covered by the interface's control periods."""
        days = self.covered_days(interface)
        months = sorted({d[:6] for d in days})
        return [
            m for m in months if {add_days(month_first(m), i) for i in range(int(month_last(m)[6:]))} <= days
        ]


# ----------------------------------------------------------------------------------------------- queries


def query(sql: str, **tables) -> pd.DataFrame:
    """Run DuckDB SQL over Arrow tables / DataFrames passed by name."""
    con = duckdb.connect()
    try:
        for name, t in tables.items():
            con.register(name, t)
        return con.execute(sql).df()
    finally:
        con.close()


def type_violation_sql(f: Field) -> str:
    """SQL predicate (column quoted) true for a non-empty value that is not of the field's type."""
    c = f'"{f.name}"'
    if f.type == "int":
        return f"NOT regexp_full_match({c}, '-?[0-9]+') OR TRY_CAST({c} AS INTEGER) IS NULL"
    if f.type == "bigint":
        return f"NOT regexp_full_match({c}, '-?[0-9]+') OR TRY_CAST({c} AS BIGINT) IS NULL"
    if f.type == "date":
        return f"NOT regexp_full_match({c}, '[0-9]{{8}}') OR try_strptime({c}, '%Y%m%d') IS NULL"
    if f.type == "month":
        return f"NOT regexp_full_match({c}, '[0-9]{{6}}') OR try_strptime({c} || '01', '%Y%m%d') IS NULL"
    if f.type == "timestamp":
        return f"NOT regexp_full_match({c}, '[0-9]{{14}}') OR try_strptime({c}, '%Y%m%d%H%M%S') IS NULL"
    if f.type == "string":
        return "false"
    raise ValueError(f"unknown type {f.type} of {f.name}")


def sql_list(values) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def read_truth(path: Path) -> pd.DataFrame:
    """A truth CSV (UTF-8, header line) as strings."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")


def read_bytes_tree(root: Path) -> dict[str, str]:
    """md5 of every file below root, by relative path."""
    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(Path(root).rglob("*"))
        if p.is_file()
    }


def holdings_at(orders: pd.DataFrame, ts) -> pd.DataFrame:
    """(user_id, service_code) pairs held at time ts: more orders than cancels up to and including ts."""
    o = orders[orders["ts"] <= ts]
    net = (o["action"] == "1").astype(int) - (o["action"] == "2").astype(int)
    g = net.groupby([o["user_id"], o["service_code"]]).sum()
    return g[g > 0].reset_index()[["user_id", "service_code"]]
