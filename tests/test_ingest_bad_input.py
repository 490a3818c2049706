"""`vasmart ingest` on bad deliveries: each planted fault is refused or rejected exactly, and nothing else changes.

One clean delivery is generated per session with the real CLI (`vasmart generate`, 300 users) and its last
daily batch (20260602, which carries every daily interface) is loaded once into a clean state directory.
Each case then starts from a copy of that loaded state, plants one fault in a copy of the batch (same batch
name, a second landing directory) and loads it with the real CLI. Checked for every case:

- the exit status (1 for a file fault, or when the interface's reject share exceeds the default 1%);
- file faults: one stderr line `error: batch <D> <IF>: <file>: <fault>` plus the final `error: batch <D>
  failed: ...`; the FAILED row of audit.load_log with that fault; the interface's partition untouched;
- row faults: exactly the planted rows in raw.rejects / audit.rejects with their reason, file, line number and
  raw text; per-file counts reconcile in audit.load_log and against the raw view; the interface's partition
  differs from the clean one by exactly the planted rows;
- every other interface's raw and rejects partitions are row-identical to the clean load, and no work
  directory is left in the lake.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import delivery_faults as df
import pytest
from delivery_faults import BATCH, data_name, field_index, with_field

MAX_REJECT_RATE = 0.01  # the CLI default


@pytest.fixture(scope="session")
def clean(tmp_path_factory) -> df.CleanState:
    state = df.clean_state(tmp_path_factory)
    assert state.run.returncode == 0, f"the clean batch did not load:\n{state.run.stderr[-3000:]}"
    return state


# ---------------------------------------------------------------------------------------------- what a case plants
@dataclass
class Planted:
    """What a planted fault must produce."""

    interface: str
    # file fault: the files the error may name (the faulty one first), and a regex for the fault text
    files: tuple[str, ...] = ()
    fault: str | None = None
    # file fault: further files of the interface that must not load either
    also_failed: tuple[str, ...] = ()
    # row faults: (file_name, line_number, reason, raw_line) of every row that must be rejected
    rejects: list[tuple[str, int, str, str]] = field(default_factory=list)
    removed: set[tuple[str, int]] = field(default_factory=set)  # clean rows (file, line) no longer loaded
    added: set[tuple[str, int]] = field(default_factory=set)  # new valid rows (file, line)
    records: dict[str, int] = field(default_factory=dict)  # records per file of the faulty delivery
    new_interface: bool = False  # the fault is an interface the clean batch does not have

    @property
    def is_file_fault(self) -> bool:
        return self.fault is not None

    @property
    def exit_code(self) -> int:
        if self.is_file_fault:
            return 1
        return 1 if len(self.rejects) / sum(self.records.values()) > MAX_REJECT_RATE else 0


def _records_per_file(landing: Path, interface: str) -> dict[str, int]:
    return {line.file_name: int(line.record_count) for line in df.read_control(landing, interface)}


def plant_rows(landing: Path, interface: str, edits: dict[int, tuple[Callable[[str], str], str]],
               append: list[tuple[str, str | None]] = ()) -> Planted:
    """Replace lines in place (1-based line -> (edit, reason)) and append records ((record, reason or None)).

    Every edited line must be rejected with its reason; an appended record with reason None must load."""
    name = data_name(interface)
    planted = Planted(interface)

    def edit(records: list[str]) -> list[str]:
        original = list(records)
        for line, (change, reason) in edits.items():
            records[line - 1] = change(records[line - 1])
            assert records[line - 1] != original[line - 1]
            planted.rejects.append((name, line, reason, records[line - 1]))
            planted.removed.add((name, line))
        for record, reason in append:
            records.append(record)
            if reason is None:
                planted.added.add((name, len(records)))
            else:
                planted.rejects.append((name, len(records), reason, record))
        return records

    df.rewrite_records(landing, interface, edit)
    planted.records = _records_per_file(landing, interface)
    return planted


def file_fault(interface: str, fault: str, *files: str, **more) -> Planted:
    return Planted(interface, files=files, fault=fault, **more)


def _original(landing: Path, interface: str, line: int) -> str:
    return df.read_records(df.data_path(landing, interface))[line - 1]


# ---------------------------------------------------------------------------------------------- file faults
def missing_control(landing: Path) -> Planted:
    df.remove_control(landing, "VAS_DELIVERY")
    return file_fault("VAS_DELIVERY", r"control file missing$", df.control_name("VAS_DELIVERY"),
                      data_name("VAS_DELIVERY"))


def interface_absent(landing: Path) -> Planted:
    df.remove_interface(landing, "BOSS_VAS_ORDER")
    return file_fault("BOSS_VAS_ORDER", r"control file missing$", df.control_name("BOSS_VAS_ORDER"))


def not_listed(landing: Path) -> Planted:
    extra = df.add_unlisted_file(landing, "CDR_SMS")
    return file_fault("CDR_SMS", r"not listed in the control file$", extra)


def listed_but_missing(landing: Path) -> Planted:
    df.remove_data_file(landing, "IMEI_OBS")
    return file_fault("IMEI_OBS", r"listed in the control file but missing$", data_name("IMEI_OBS"))


def md5_mismatch(landing: Path) -> Planted:
    df.wrong_md5(landing, "REF_PLAN")
    return file_fault("REF_PLAN", r"md5 mismatch", data_name("REF_PLAN"))


def size_mismatch(landing: Path) -> Planted:
    df.wrong_size(landing, "REF_SERVICE", delta=7)
    return file_fault("REF_SERVICE", r"size mismatch: ", data_name("REF_SERVICE"))


def truncated_gzip(landing: Path) -> Planted:
    df.truncate_gzip(landing, "CDR_VOICE", keep=0.6)
    return file_fault("CDR_VOICE", r"(truncated gzip|not a valid gzip file)", data_name("CDR_VOICE"))


def not_gzip(landing: Path) -> Planted:
    df.not_gzip(landing, "IMEI_OBS")
    return file_fault("IMEI_OBS", r"not a valid gzip file", data_name("IMEI_OBS"))


def record_count_mismatch(landing: Path) -> Planted:
    control = int(df.read_control(landing, "REF_SERVICE")[0].record_count)
    df.rewrite_records(landing, "REF_SERVICE", lambda records: records[:-1])
    df.edit_control_line(landing, "REF_SERVICE", data_name("REF_SERVICE"), record_count=str(control))
    return file_fault("REF_SERVICE", rf"record count mismatch: control says {control}, read {control - 1}$",
                      data_name("REF_SERVICE"))


def utf8_not_gbk(landing: Path) -> Planted:
    records = df.read_records(df.data_path(landing, "BOSS_USER"))
    first = next(i for i, r in enumerate(records, start=1) if not r.isascii())
    df.write_records(landing, "BOSS_USER", records, encoding="utf-8")
    return file_fault("BOSS_USER", rf"UTF-8 text, not GBK \(line {first}\)$", data_name("BOSS_USER"))


def not_gbk(landing: Path) -> Planted:
    # a byte that is no GBK lead byte at the start of the description field of line 5
    def damage(text: bytes) -> bytes:
        lines = text.split(b"\n")
        code, rest = lines[4].split(b"|", 1)
        lines[4] = code + b"|\xff" + rest
        return b"\n".join(lines)

    df.rewrite_bytes(landing, "REF_STATUS_CODE", damage)
    return file_fault("REF_STATUS_CODE", r"not GBK text \(line 5\)$", data_name("REF_STATUS_CODE"))


def drift_added_column(landing: Path) -> Planted:
    df.rewrite_records(landing, "REF_REGION", lambda records: [r + "|CN" for r in records])
    return file_fault("REF_REGION", r"every record has 4 fields, expected 3$", data_name("REF_REGION"))


def drift_removed_column(landing: Path) -> Planted:
    df.rewrite_records(landing, "REF_TAC", lambda records: [r.rsplit("|", 1)[0] for r in records])
    return file_fault("REF_TAC", r"every record has 6 fields, expected 7$", data_name("REF_TAC"))


def malformed_control(landing: Path) -> Planted:
    df.malform_control(landing, "CDR_GPRS", record_count="1O33")
    return file_fault("CDR_GPRS", r"malformed control file", df.control_name("CDR_GPRS"))


def control_line_short(landing: Path) -> Planted:
    df.malform_control(landing, "VAS_DELIVERY", drop_field=6)
    return file_fault("VAS_DELIVERY", r"malformed control file", df.control_name("VAS_DELIVERY"))


def control_lists_file_twice(landing: Path) -> Planted:
    # §1: one control line per data file; a file listed twice is a malformed control file, never loaded twice
    lines = df.read_control(landing, "REF_PLAN")
    df.write_control(landing, "REF_PLAN", lines + lines)
    return file_fault("REF_PLAN", r"malformed control file", df.control_name("REF_PLAN"))


def empty_control_file(landing: Path) -> Planted:
    # a control file without its line: the data file is not listed (or the control file is malformed)
    df.control_path(landing, "REF_PLAN").write_text("", encoding="utf-8")
    return file_fault("REF_PLAN", r"(malformed control file|not listed in the control file)",
                      df.control_name("REF_PLAN"), data_name("REF_PLAN"))


def unknown_interface(landing: Path) -> Planted:
    data, control = df.add_unknown_interface(landing, "FOO_BAR")
    return file_fault("FOO_BAR", r"unknown interface FOO_BAR$", data, control, new_interface=True)


def split_part_truncated(landing: Path) -> Planted:
    df.split_file(landing, "CDR_SMS")
    df.truncate_gzip(landing, "CDR_SMS", part=2, keep=0.5)
    return file_fault("CDR_SMS", r"(truncated gzip|not a valid gzip file)", data_name("CDR_SMS", part=2),
                      also_failed=(data_name("CDR_SMS", part=1),))


# ---------------------------------------------------------------------------------------------- row faults
def wrong_field_count(landing: Path) -> Planted:
    return plant_rows(landing, "CDR_SMS", {
        4: (lambda r: r + "|EXTRA", "field_count"),
        9: (lambda r: r.rsplit("|", 1)[0], "field_count"),
        15: (lambda r: r + "||", "field_count"),
    })


def invalid_date(landing: Path) -> Planted:
    join, status = field_index("BOSS_USER", "join_date"), field_index("BOSS_USER", "status_date")
    return plant_rows(landing, "BOSS_USER", {
        6: (lambda r: with_field(r, join, "20250230"), "type:join_date"),
        40: (lambda r: with_field(r, status, "2025-06-01"), "type:status_date"),
    })


def invalid_timestamp_and_number(landing: Path) -> Planted:
    start, up = field_index("CDR_GPRS", "start_time"), field_index("CDR_GPRS", "up_bytes")
    fee = field_index("CDR_GPRS", "fee_fen")
    return plant_rows(landing, "CDR_GPRS", {
        7: (lambda r: with_field(r, start, "20260602246000"), "type:start_time"),
        8: (lambda r: with_field(r, up, "12.5"), "type:up_bytes"),
        9: (lambda r: with_field(r, fee, "1O"), "type:fee_fen"),
    })


def invalid_enum(landing: Path) -> Planted:
    call, roam = field_index("CDR_VOICE", "call_type"), field_index("CDR_VOICE", "roam_type")
    return plant_rows(landing, "CDR_VOICE", {
        12: (lambda r: with_field(r, call, "MOX"), "value:call_type"),
        13: (lambda r: with_field(r, call, "moc"), "value:call_type"),
        14: (lambda r: with_field(r, roam, "4"), "value:roam_type"),
    })


def required_null(landing: Path) -> Planted:
    cell, msisdn = field_index("CDR_GPRS", "cell_id"), field_index("CDR_GPRS", "msisdn")
    return plant_rows(landing, "CDR_GPRS", {
        20: (lambda r: with_field(r, cell, ""), "required:cell_id"),
        21: (lambda r: with_field(r, msisdn, ""), "required:msisdn"),
    })


def bad_msisdn(landing: Path) -> Planted:
    m = field_index("CDR_SMS", "msisdn")
    return plant_rows(landing, "CDR_SMS", {
        3: (lambda r: with_field(r, m, "2" + df.fields(r)[m][1:]), "msisdn:msisdn"),
        5: (lambda r: with_field(r, m, df.fields(r)[m][:10]), "msisdn:msisdn"),
        8: (lambda r: with_field(r, m, df.fields(r)[m] + "0"), "msisdn:msisdn"),
    })


def bad_imei(landing: Path) -> Planted:
    i = field_index("IMEI_OBS", "imei")
    records = df.read_records(df.data_path(landing, "IMEI_OBS"))
    fifteen = [n for n, r in enumerate(records, start=1) if len(df.fields(r)[i]) == 15]

    def wrong_check_digit(r: str) -> str:
        imei = df.fields(r)[i]
        assert df.luhn_ok(imei)
        return with_field(r, i, imei[:14] + str((int(imei[14]) + 3) % 10))

    return plant_rows(landing, "IMEI_OBS", {
        fifteen[2]: (wrong_check_digit, "imei:imei"),
        fifteen[10]: (lambda r: with_field(r, i, df.fields(r)[i][:13]), "imei:imei"),
    })


def event_outside_period(landing: Path) -> Planted:
    start = field_index("CDR_VOICE", "start_time")
    return plant_rows(landing, "CDR_VOICE", {
        25: (lambda r: with_field(r, start, "20260601235959"), "period:start_time"),
        26: (lambda r: with_field(r, start, "20260603000000"), "period:start_time"),
    })


def complaint_outside_period(landing: Path) -> Planted:
    # the clean CRM_COMPLAINT file of this batch is empty; deliver four complaints, two outside the period
    msisdn = df.fields(_original(landing, "BOSS_USER", 1))[field_index("BOSS_USER", "msisdn")]
    label = "period:closed_at/created_at"
    return plant_rows(landing, "CRM_COMPLAINT", {}, append=[
        (f"CP0001|{msisdn}|SJBXW|UNWANTED_ORDER|10086|20260602093000||未经同意订购了新疆手机报", None),
        (f"CP0002|{msisdn}||BILLING|HALL|20260530100000|20260602110000|话费有误，已退费", None),
        (f"CP0003|{msisdn}||NETWORK|WEB|20260602100000|20260603080000|信号差", label),
        (f"CP0004|{msisdn}||OTHER|LETTER|20260601080000||来信咨询", label),
    ])


def duplicate_key(landing: Path) -> Planted:
    cdr = field_index("CDR_VOICE", "cdr_id")
    twentieth = _original(landing, "CDR_VOICE", 20)
    first = _original(landing, "CDR_VOICE", 1)
    return plant_rows(landing, "CDR_VOICE", {
        30: (lambda r: with_field(r, cdr, df.fields(twentieth)[cdr]), "duplicate_key"),
    }, append=[(first, "duplicate_key")])


CASES: dict[str, Callable[[Path], Planted]] = {
    "missing_control_file": missing_control,
    "interface_absent": interface_absent,
    "data_file_not_listed": not_listed,
    "listed_file_missing": listed_but_missing,
    "md5_mismatch": md5_mismatch,
    "size_mismatch": size_mismatch,
    "truncated_gzip": truncated_gzip,
    "not_gzip": not_gzip,
    "record_count_mismatch": record_count_mismatch,
    "utf8_not_gbk": utf8_not_gbk,
    "not_gbk": not_gbk,
    "schema_drift_added_column": drift_added_column,
    "schema_drift_removed_column": drift_removed_column,
    "malformed_control_bad_count": malformed_control,
    "malformed_control_short_line": control_line_short,
    "malformed_control_file_listed_twice": control_lists_file_twice,
    "malformed_control_empty": empty_control_file,
    "unknown_interface": unknown_interface,
    "split_extract_one_part_truncated": split_part_truncated,
    "wrong_field_count": wrong_field_count,
    "invalid_date": invalid_date,
    "invalid_timestamp_and_number": invalid_timestamp_and_number,
    "invalid_enum": invalid_enum,
    "required_null": required_null,
    "bad_msisdn": bad_msisdn,
    "bad_imei": bad_imei,
    "event_outside_period": event_outside_period,
    "complaint_outside_period": complaint_outside_period,
    "duplicate_key": duplicate_key,
}


# ---------------------------------------------------------------------------------------------- the test
def _new_load_id(home: Path, clean: df.CleanState) -> str:
    ids = [r[0] for r in df.query(home, "SELECT load_id FROM audit.load_batch WHERE load_id <> ?", [clean.load_id])]
    assert len(ids) == 1, f"expected one new audit.load_batch row, found {ids}"
    return ids[0]


def _check_stderr(run: df.Run, planted: Planted) -> None:
    lines = run.error_lines
    if planted.exit_code == 0:
        assert lines == [], run.stderr
        return
    assert lines, f"no error lines on stderr:\n{run.stderr}"
    final = lines[-1]
    assert final.startswith(f"error: batch {BATCH} failed: "), run.stderr
    assert planted.interface in final, run.stderr
    if not planted.is_file_fault:
        assert lines == [final], run.stderr  # a reject-rate failure is no interface failure
        return
    assert len(lines) == 2, f"expected one failure line and the final line:\n{run.stderr}"
    match = re.fullmatch(rf"error: batch {BATCH} {planted.interface}: (\S+): (.+)", lines[0])
    assert match, f"unexpected failure line: {lines[0]!r}"
    assert match[1] in planted.files, f"the line names {match[1]}, expected one of {planted.files}"
    assert re.match(planted.fault, match[2]), f"fault {match[2]!r} does not match {planted.fault!r}"


def _check_load_log(home: Path, load_id: str, planted: Planted, clean: df.CleanState) -> list[tuple]:
    rows = df.query(home, """
        SELECT interface, file_name, control_records, rows_read, rows_loaded, rows_rejected, status, fault
        FROM audit.load_log WHERE load_id = ? AND batch_date = ? ORDER BY interface, file_name""", [load_id, BATCH])
    clean_ifaces = {r[0] for r in df.query(clean.home, "SELECT interface FROM audit.load_log")}
    assert {r[0] for r in rows} == clean_ifaces | {planted.interface}
    for r in rows:
        if r[0] != planted.interface:
            assert r[6] == "LOADED" and r[7] is None and r[5] == 0 and r[2] == r[3] == r[4], r
    mine = [r for r in rows if r[0] == planted.interface]
    if planted.is_file_fault:
        assert all(r[6] == "FAILED" for r in mine), mine
        assert all((r[4] or 0) == 0 and (r[5] or 0) == 0 for r in mine), mine
        named = [r for r in mine if r[1] in planted.files]
        assert len(named) == 1, f"expected one load_log row for {planted.files}: {mine}"
        assert named[0][7] is not None and re.match(planted.fault, named[0][7]), named[0]
        for other in planted.also_failed:
            assert any(r[1] == other for r in mine), f"no load_log row for {other}: {mine}"
    else:
        assert {r[1] for r in mine} == set(planted.records), mine
        for file_name, control, read, loaded, rejected, status, fault in (r[1:] for r in mine):
            expected_rejects = sum(1 for x in planted.rejects if x[0] == file_name)
            assert status == "LOADED" and fault is None, (file_name, status, fault)
            assert control == read == planted.records[file_name], (file_name, control, read)
            assert (loaded, rejected) == (read - expected_rejects, expected_rejects), (file_name, loaded, rejected)
    return mine


def _check_partitions(home: Path, planted: Planted, clean: df.CleanState) -> None:
    before, after = clean.checksums, df.partition_checksums(home)
    raw_key, rej_key = ("raw", planted.interface, BATCH), ("rejects", planted.interface, BATCH)
    for key, value in before.items():
        if key not in (raw_key, rej_key):
            assert key in after, f"partition {key} is gone"
            assert after[key][:3] == value[:3], f"partition {key} changed"
    expected_keys = set(before) | ({rej_key} if planted.rejects else set())
    assert set(after) == expected_keys, f"unexpected partitions: {set(after) ^ expected_keys}"
    assert df.leftovers(home) == [], "work directories left in the lake"
    if planted.new_interface:
        assert not (home / "lake" / "raw" / planted.interface).exists()
        assert not (home / "lake" / "rejects" / planted.interface).exists()
        return
    if planted.is_file_fault:
        assert after[raw_key] == before[raw_key], "a failed interface's partition was touched"
        return
    # a row fault: the partition differs from the clean one by exactly the planted rows
    [old], [new] = df.partition_files(clean.home)[raw_key], df.partition_files(home)[raw_key]
    gone, came = df.partition_diff(old, new)
    assert {(r["_file_name"], r["_line_number"]) for r in gone} == planted.removed
    assert len(gone) == len(planted.removed)
    assert {(r["_file_name"], r["_line_number"]) for r in came} == planted.added
    assert len(came) == len(planted.added)


def _check_rejects(home: Path, planted: Planted) -> None:
    if not planted.rejects:
        if df.has_view(home, "raw", "rejects"):
            assert df.query(home, "SELECT count(*) FROM raw.rejects WHERE interface = ?", [planted.interface]) \
                == [(0,)]
        return
    got = df.query(home, """SELECT batch, interface, file_name, line_number, reason, raw_line, batch_date
                            FROM raw.rejects WHERE interface = ?""", [planted.interface])
    expected = [(BATCH, planted.interface, f, n, reason, line, BATCH) for f, n, reason, line in planted.rejects]
    assert sorted(got) == sorted(expected)
    audit = df.query(home, "SELECT interface, file_name, line_number, reason, batch_date FROM audit.rejects "
                           "WHERE interface = ?", [planted.interface])
    assert sorted(audit) == sorted((i, f, n, reason, b) for _, i, f, n, reason, _, b in expected)


def _check_views(home: Path, planted: Planted, log_rows: list[tuple], clean: df.CleanState) -> None:
    if planted.new_interface:
        assert not df.has_view(home, "raw", planted.interface.lower())
        return
    view = f"raw.{planted.interface.lower()}"
    [(count,)] = df.query(home, f"SELECT count(*) FROM {view} WHERE batch_date = ?", [BATCH])
    if planted.is_file_fault:
        assert count == int(sum(int(x.record_count) for x in df.read_control(clean.landing, planted.interface)))
    else:
        assert count == sum(r[4] for r in log_rows) == sum(planted.records.values()) - len(planted.rejects)


@pytest.mark.parametrize("case", list(CASES))
def test_fault_is_refused_or_rejected_exactly(case, clean, tmp_path):
    landing = df.copy_batch(clean.landing, tmp_path / "landing")
    planted = CASES[case](landing)
    home = df.clone_home(clean.home, tmp_path / "home")

    run = df.ingest(home, landing)

    assert run.returncode == planted.exit_code, f"exit {run.returncode}\n{run.stderr}"
    _check_stderr(run, planted)
    load_id = _new_load_id(home, clean)
    [(status,)] = df.query(home, "SELECT status FROM audit.load_batch WHERE load_id = ?", [load_id])
    assert status == ("FAILED" if planted.exit_code else "LOADED")
    log_rows = _check_load_log(home, load_id, planted, clean)
    _check_partitions(home, planted, clean)
    _check_rejects(home, planted)
    _check_views(home, planted, log_rows, clean)
