"""A batch as delivered: its control files, the data files they list, and what the batch must carry."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from vasmart.contracts import load_contracts
from vasmart.ingest.errors import FileFault, IngestError

CONTROL_FIELDS = ("file_name", "size_bytes", "record_count", "md5_hex", "period_start", "period_end", "created_at")
DATA_NAME = re.compile(r"^(?P<interface>[A-Z][A-Z0-9_]*?)_(?P<batch>\d{8})_(?P<part>\d{3})\.dat\.gz$")
CONTROL_NAME = re.compile(r"^(?P<interface>[A-Z][A-Z0-9_]*?)_(?P<batch>\d{8})\.chk$")
ALWAYS_EVENTS = ("BOSS_VAS_ORDER", "IMEI_OBS", "CRM_COMPLAINT", "VAS_DELIVERY")
BATCH_NAME = re.compile(r"^\d{8}$")


@dataclass(frozen=True)
class ControlEntry:
    """One line of a control file."""

    file_name: str
    size_bytes: int
    record_count: int
    md5_hex: str
    period_start: dt.date
    period_end: dt.date
    created_at: str


@dataclass
class InterfaceDelivery:
    """What a batch holds of one interface: its control file (if any) and its data files."""

    interface: str
    control: Path | None = None
    data_files: list[Path] = field(default_factory=list)
    misplaced: list[Path] = field(default_factory=list)  # named for another batch date


def _date(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%Y%m%d").date()


def read_control_file(path: Path) -> list[ControlEntry]:
    """Parse a control file; a malformed one is a fault of the control file."""
    entries = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FileFault(path.name, "malformed control file (not UTF-8 text)") from None
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        values = line.split("|")
        if values[0] in seen:
            raise FileFault(path.name, f"malformed control file (line {number}: {values[0]} listed twice)")
        seen.add(values[0])
        if len(values) != len(CONTROL_FIELDS):
            raise FileFault(path.name, f"malformed control file (line {number}: {len(values)} fields)")
        try:
            entries.append(ControlEntry(values[0], int(values[1]), int(values[2]), values[3].lower(),
                                        _date(values[4]), _date(values[5]), values[6]))
        except ValueError:
            raise FileFault(path.name, f"malformed control file (line {number})") from None
    if not entries:
        raise FileFault(path.name, "malformed control file (empty)")
    return entries


def scan_batch(landing: Path, batch: str) -> dict[str, InterfaceDelivery]:
    """Group the batch directory's files by interface (including unknown ones)."""
    directory = Path(landing) / batch
    if not BATCH_NAME.match(batch):
        raise IngestError(f"batch {batch!r} is not a YYYYMMDD date")
    if not directory.is_dir():
        raise IngestError(f"batch {batch}: no directory {directory}")
    found: dict[str, InterfaceDelivery] = {}
    for path in sorted(directory.iterdir()):
        match = CONTROL_NAME.match(path.name) or DATA_NAME.match(path.name)
        if not match:
            continue
        item = found.setdefault(match["interface"], InterfaceDelivery(match["interface"]))
        if match["batch"] != batch:
            item.misplaced.append(path)
        elif path.name.endswith(".chk"):
            item.control = path
        else:
            item.data_files.append(path)
    return found


def _is_history(found: dict[str, InterfaceDelivery], batch: str) -> bool:
    """A batch without CDR control files whose events cover a whole month is a monthly history batch."""
    if any(name.startswith("CDR_") for name in found):
        return False
    order = found.get("BOSS_VAS_ORDER")
    if order is None or order.control is None:
        return False
    try:
        entries = read_control_file(order.control)
    except FileFault:
        return False
    start, end = entries[0].period_start, entries[0].period_end
    return start.day == 1 and end.strftime("%Y%m%d") == batch and (end + dt.timedelta(days=1)).day == 1


def expected_interfaces(landing: Path, batch: str) -> list[str]:
    """The interfaces the batch must carry (spec §3), plus any other it holds, in contract order.

    An expected interface whose control file is missing stays in the list: its load fails with that fault.
    """
    found = scan_batch(landing, batch)
    if not found:
        raise IngestError(f"batch {batch}: no data or control files in {Path(landing) / batch}")
    contracts = load_contracts()
    month_end = (_date(batch) + dt.timedelta(days=1)).day == 1
    history = _is_history(found, batch)
    expected = set()
    for name, contract in contracts.items():
        if contract.kind == "snapshot" or name in ALWAYS_EVENTS or contract.kind == "events" and not history or contract.kind == "monthly" and month_end:
            expected.add(name)
    names = [n for n in contracts if n in expected or n in found]
    unknown = sorted(n for n in found if n not in contracts)
    return names + unknown


def delivery_fingerprint(pairs: list[tuple[str, str]]) -> str:
    """A digest of (file name, md5) pairs: it changes when a batch is delivered again with other files."""
    digest = hashlib.sha256()
    for name, md5 in sorted(pairs):
        digest.update(f"{name}|{md5}\n".encode())
    return digest.hexdigest()[:16]


def batch_fingerprint(landing: Path, batch: str) -> str | None:
    """The fingerprint of the batch's current control files; None when one is unreadable."""
    pairs = []
    for item in scan_batch(landing, batch).values():
        if item.control is None:
            continue
        try:
            pairs += [(e.file_name, e.md5_hex) for e in read_control_file(item.control)]
        except FileFault:
            return None
    return delivery_fingerprint(pairs)
