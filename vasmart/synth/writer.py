"""Writing a delivery exactly as the interface specification describes it.

Data files are `|`-separated GBK text, gzip-compressed; each part of the population writes its own
numbered file (`<INTERFACE>_<YYYYMMDD>_<NNN>.dat.gz`). Control files are written last, after every part
has closed its files, with exact sizes, MD5 sums and record counts.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
from isal import isal_zlib

from vasmart.interface_spec import load_spec

# Interfaces whose records carry Chinese text and so are re-encoded from UTF-8 to GBK.
# The others hold only ASCII digits and codes, which are already valid GBK byte for byte.
GBK_TEXT_INTERFACES = frozenset(
    {"REF_REGION", "REF_PLAN", "REF_SERVICE", "REF_TAC", "REF_STATUS_CODE", "BOSS_USER", "CRM_COMPLAINT"}
)
GZIP_LEVEL = 1  # ISA-L's level 1: about three times zlib's speed, and smaller files than zlib's level 1
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, delimiter="|", quoting_style="none", batch_size=65_536)


def data_file_name(interface: str, batch: str, part: int) -> str:
    """`<INTERFACE>_<YYYYMMDD>_<NNN>.dat.gz`."""
    return f"{interface}_{batch}_{part:03d}.dat.gz"


def control_file_name(interface: str, batch: str) -> str:
    """`<INTERFACE>_<YYYYMMDD>.chk`."""
    return f"{interface}_{batch}.chk"


def encode_records(interface: str, table: pa.Table) -> bytes:
    """The table's rows as record lines in the interface's field order, encoded for delivery."""
    names = load_spec()[interface].field_names
    if table.column_names != names:
        raise ValueError(f"{interface}: columns {table.column_names} differ from the specification {names}")
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, _CSV_OPTIONS)
    raw = buffer.getvalue()
    if interface in GBK_TEXT_INTERFACES:
        raw = raw.decode("utf-8").encode("gbk")
    return raw


@dataclass
class FileStats:
    """What a control file says of one data file."""

    interface: str
    batch: str
    part: int
    file_name: str
    size_bytes: int
    record_count: int
    md5_hex: str


class _GzipStream:
    """One gzip member written incrementally, with its MD5 and size computed on the way."""

    def __init__(self, path: Path):
        self.path = path
        self.handle = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.compressor = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, 31)
        self.md5 = hashlib.md5()
        self.size = 0
        self.records = 0

    def _emit(self, chunk: bytes) -> None:
        if chunk:
            self.handle.write(chunk)
            self.md5.update(chunk)
            self.size += len(chunk)

    def write(self, data: bytes, records: int) -> None:
        self._emit(self.compressor.compress(data))
        self.records += records

    def close(self) -> tuple[int, int, str]:
        self._emit(self.compressor.flush())
        self.handle.close()
        return self.size, self.records, self.md5.hexdigest()


class PartWriter:
    """Writes one part's data files for every batch and interface it is handed.

    Call `write` any number of times per (batch, interface); `close` ends every file and returns their stats.
    """

    def __init__(self, landing: Path, part: int):
        self.landing = Path(landing)
        self.part = part
        self.streams: dict[tuple[str, str], _GzipStream] = {}

    def _stream(self, batch: str, interface: str) -> _GzipStream:
        key = (batch, interface)
        stream = self.streams.get(key)
        if stream is None:
            directory = self.landing / batch
            directory.mkdir(parents=True, exist_ok=True)
            stream = _GzipStream(directory / data_file_name(interface, batch, self.part))
            self.streams[key] = stream
        return stream

    def touch(self, batch: str, interface: str) -> None:
        """Make sure the file exists even when the part has no record for it."""
        self._stream(batch, interface)

    def write(self, batch: str, interface: str, table: pa.Table) -> None:
        """Append the table's rows to the part's file of that batch and interface."""
        stream = self._stream(batch, interface)
        if table.num_rows:
            stream.write(encode_records(interface, table), table.num_rows)

    def close(self) -> list[FileStats]:
        """Close every file; the stats of each."""
        stats = []
        for (batch, interface), stream in sorted(self.streams.items()):
            size, records, md5 = stream.close()
            stats.append(FileStats(interface, batch, self.part, stream.path.name, size, records, md5))
        self.streams.clear()
        return stats


def write_control_file(
    directory: Path, interface: str, batch: str, files: list[FileStats], period: tuple[str, str], created_at: str
) -> Path:
    """Write `<INTERFACE>_<batch>.chk` listing the files (written last, atomically)."""
    lines = [
        f"{f.file_name}|{f.size_bytes}|{f.record_count}|{f.md5_hex}|{period[0]}|{period[1]}|{created_at}\n"
        for f in sorted(files, key=lambda f: f.file_name)
    ]
    path = Path(directory) / control_file_name(interface, batch)
    tmp = path.with_suffix(".chk.tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    os.replace(tmp, path)
    return path
