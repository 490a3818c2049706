"""Reading one delivered data file: size and MD5 against its control line, gunzip, GBK, lines.

The whole file is checked before a single record is parsed. Text is decoded from GBK to UTF-8 only when
it holds non-ASCII bytes: the big ASCII-only interfaces (CDRs) only pay for proving they are ASCII,
which is valid GBK byte for byte.
"""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from isal import isal_zlib

from vasmart.ingest.delivery import ControlEntry
from vasmart.ingest.errors import FileFault

CHUNK = 8 << 20


@dataclass
class DecodedFile:
    """The verified content of a data file."""

    name: str
    text: bytes  # UTF-8, every record ending with "\\n"
    records: int
    md5_hex: str
    size_bytes: int
    was_ascii: bool


def _gunzip(path: Path, entry: ControlEntry) -> tuple[bytes, str, int]:
    """Decompressed bytes, MD5 and size of the compressed file; faults for size, MD5 and gzip damage."""
    size = path.stat().st_size
    if size != entry.size_bytes:
        raise FileFault(path.name, f"size mismatch: control says {entry.size_bytes} bytes, file has {size}")
    md5 = hashlib.md5()
    out = []
    decompressor = isal_zlib.decompressobj(31)
    with open(path, "rb") as handle:
        try:
            while chunk := handle.read(CHUNK):
                md5.update(chunk)
                data = decompressor.decompress(chunk)
                while decompressor.eof and decompressor.unused_data:  # a further gzip member
                    rest = decompressor.unused_data
                    decompressor = isal_zlib.decompressobj(31)
                    data += decompressor.decompress(rest)
                out.append(data)
        except isal_zlib.error as exc:
            if md5.hexdigest() != entry.md5_hex and handle.read(1) == b"":
                raise FileFault(path.name, "md5 mismatch") from None
            raise FileFault(path.name, f"not a valid gzip file ({exc})") from None
    digest = md5.hexdigest()
    if digest != entry.md5_hex:
        raise FileFault(path.name, f"md5 mismatch: control says {entry.md5_hex}, file has {digest}")
    if not decompressor.eof:
        raise FileFault(path.name, "truncated gzip (the compressed stream ends early)")
    return b"".join(out), digest, size


def _line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def _to_utf8(name: str, raw: bytes) -> tuple[bytes, bool]:
    """UTF-8 bytes of GBK text; faults for text that is not GBK or that is UTF-8 instead."""
    if raw.isascii():
        return raw, True
    first = next(i for i, b in enumerate(memoryview(raw)) if b >= 0x80)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        raise FileFault(name, f"UTF-8 text, not GBK (line {_line_of(raw, first)})")
    decoder = codecs.getincrementaldecoder("gbk")("strict")
    try:
        text = decoder.decode(raw, final=True)
    except UnicodeDecodeError as exc:
        raise FileFault(name, f"not GBK text (line {_line_of(raw, exc.start)})") from None
    return text.encode("utf-8"), False


def split_lines(data: bytes) -> pa.Array:
    """The buffer's lines as an Arrow string array, each line keeping its `\\n` (no copy of the text)."""
    if not data:
        return pa.array([], type=pa.large_string())
    if not data.endswith(b"\n"):
        data += b"\n"
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    offsets = np.zeros(len(ends) + 1, dtype=np.int64)
    offsets[1:] = ends + 1
    return pa.Array.from_buffers(pa.large_string(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def decode_file(path: Path, entry: ControlEntry) -> DecodedFile:
    """Verify a data file against its control line and return its UTF-8 text; FileFault on any file fault."""
    raw, digest, size = _gunzip(path, entry)
    text, was_ascii = _to_utf8(path.name, raw)
    del raw
    if text and not text.endswith(b"\n"):
        text += b"\n"
    records = text.count(b"\n")
    if records != entry.record_count:
        raise FileFault(path.name, f"record count mismatch: control says {entry.record_count}, read {records}")
    return DecodedFile(path.name, text, records, digest, size, was_ascii)
