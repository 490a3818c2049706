"""`vasmart ingest` on good deliveries: complete, typed, idempotent, replaceable, and safe after a crash.

Uses the session's generated delivery (see delivery_faults.py: `vasmart generate`, 300 users, last daily
batch 20260602) and its clean load; every other load runs the real CLI in a copy of that loaded state.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import delivery_faults as df
import duckdb
import pyarrow as pa
import pytest
from delivery_faults import BATCH, data_name, field_index, with_field

SPEC_TYPES = {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT", "date": "DATE", "timestamp": "TIMESTAMP",
              "month": "VARCHAR"}


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> df.CleanState:
    state = df.clean_state(tmp_path_factory)
    assert state.run.returncode == 0, f"the clean batch did not load:\n{state.run.stderr[-3000:]}"
    return state


@pytest.fixture(scope="module")
def spec() -> dict:
    return df.load_spec()


def delivered(landing: Path) -> dict[str, list[df.ControlLine]]:
    """Interface -> control lines of the batch, read from the control files."""
    return {p.name[: -len(f"_{BATCH}.chk")]: df.read_control(landing, p.name[: -len(f"_{BATCH}.chk")])
            for p in sorted((Path(landing) / BATCH).glob("*.chk"))}


def control_total(landing: Path, interface: str) -> int:
    return sum(int(x.record_count) for x in df.read_control(landing, interface))


def rejects_of(home: Path, interface: str | None = None) -> list[tuple]:
    """Rows of raw.rejects (none when the view does not exist because nothing was ever rejected)."""
    if not df.has_view(home, "raw", "rejects"):
        return []
    sql = "SELECT batch, interface, file_name, line_number, reason, raw_line FROM raw.rejects"
    return df.query(home, sql + " WHERE interface = ?", [interface]) if interface else df.query(home, sql)


# ---------------------------------------------------------------------------------------------- a clean batch
def test_clean_batch_loads_with_zero_rejects(clean):
    assert clean.run.returncode == 0
    assert clean.run.error_lines == []
    controls = delivered(clean.landing)
    assert len(controls) == 13  # a daily batch carries every snapshot and events interface
    total = sum(int(x.record_count) for lines in controls.values() for x in lines)
    [batch] = df.query(clean.home, """SELECT batch_date, status, interfaces_loaded, interfaces_failed, rows_read,
                                      rows_loaded, rows_rejected FROM audit.load_batch""")
    assert batch == (BATCH, "LOADED", 13, 0, total, total, 0)
    log = df.query(clean.home, """SELECT interface, file_name, size_bytes, md5_hex, control_records, rows_read,
                                  rows_loaded, rows_rejected, status, fault FROM audit.load_log WHERE load_id = ?""",
                   [clean.load_id])
    expected = [(name, x.file_name, int(x.size_bytes), x.md5_hex, int(x.record_count), int(x.record_count),
                 int(x.record_count), 0, "LOADED", None) for name, lines in controls.items() for x in lines]
    assert sorted(log) == sorted(expected)
    assert rejects_of(clean.home) == []
    assert not any(k[0] == "rejects" for k in clean.checksums)
    assert df.leftovers(clean.home) == []


def test_every_raw_view_holds_the_control_record_count(clean):
    for interface, lines in delivered(clean.landing).items():
        view = f"raw.{interface.lower()}"
        for x in lines:
            n = int(x.record_count)
            got = df.query(clean.home, f"""SELECT count(*), count(DISTINCT _line_number), min(_line_number),
                                           max(_line_number) FROM {view} WHERE batch_date = ? AND _file_name = ?""",
                           [BATCH, x.file_name])
            assert got == [(n, n, 1 if n else None, n if n else None)], (interface, x.file_name)
        assert df.query(clean.home, f"SELECT count(*) FROM {view}") == [(control_total(clean.landing, interface),)]


def test_raw_views_have_contract_types(clean, spec):
    for interface in delivered(clean.landing):
        described = df.query(clean.home, f"DESCRIBE raw.{interface.lower()}")
        columns = [(name, ctype) for name, ctype, *_ in described]
        expected = [(f["name"], SPEC_TYPES[f["type"]]) for f in spec[interface]["fields"]]
        if interface == "IMEI_OBS":
            expected.append(("imeisv", "VARCHAR"))
        assert columns[: len(expected)] == expected, interface
        assert [c[0] for c in columns[len(expected):]] == ["_file_name", "_line_number", "batch_date"], interface
        assert dict(columns)["_file_name"] == "VARCHAR"
        assert dict(columns)["_line_number"] in ("BIGINT", "INTEGER")
    kinds = {SPEC_TYPES[f["type"]] for i in delivered(clean.landing) for f in spec[i]["fields"]}
    assert kinds == {"VARCHAR", "INTEGER", "BIGINT", "DATE", "TIMESTAMP"}


def test_typed_values_render_back_to_the_delivered_text(clean, spec):
    """Every loaded row, turned back into the spec's text format, is exactly its delivered line."""
    render = {"string": "{}", "month": "{}", "int": "CAST({} AS VARCHAR)", "bigint": "CAST({} AS VARCHAR)",
              "date": "strftime({}, '%Y%m%d')", "timestamp": "strftime({}, '%Y%m%d%H%M%S')"}
    con = duckdb.connect(str(clean.home / "warehouse.duckdb"), read_only=True)
    try:
        for interface, lines in delivered(clean.landing).items():
            names, numbers, texts = [], [], []
            for x in lines:
                records = df.read_records(clean.landing / BATCH / x.file_name)
                names += [x.file_name] * len(records)
                numbers += range(1, len(records) + 1)
                texts += records
            con.register("src", pa.table({"file_name": pa.array(names, pa.string()),
                                          "line_number": pa.array(numbers, pa.int64()),
                                          "line": pa.array(texts, pa.string())}))
            parts = []
            for f in spec[interface]["fields"]:
                column = '"' + f["name"] + '"'
                if interface == "IMEI_OBS" and f["name"] == "imei":
                    column = "coalesce(imeisv, imei)"
                parts.append(f"coalesce({render[f['type']].format(column)}, '')")
            bad = con.execute(f"""
                SELECT s.file_name, s.line_number, s.line, v.rendered
                FROM src s FULL JOIN (SELECT _file_name, _line_number, concat_ws('|', {", ".join(parts)}) AS rendered
                                      FROM raw.{interface.lower()} WHERE batch_date = '{BATCH}') v
                  ON v._file_name = s.file_name AND v._line_number = s.line_number
                WHERE v.rendered IS DISTINCT FROM s.line LIMIT 5""").fetchall()
            con.unregister("src")
            assert bad == [], (interface, bad)
    finally:
        con.close()


def test_imeisv_is_loaded_as_imei_with_its_check_digit(clean):
    i = field_index("IMEI_OBS", "imei")
    records = df.read_records(df.data_path(clean.landing, "IMEI_OBS"))
    sixteen = [(n, df.fields(r)[i]) for n, r in enumerate(records, start=1) if len(df.fields(r)[i]) == 16]
    assert sixteen, "the generated IMEI_OBS has no 16-digit IMEISV to check"
    for line, imeisv in sixteen:
        [(imei, sv)] = df.query(clean.home, "SELECT imei, imeisv FROM raw.imei_obs WHERE _line_number = ?", [line])
        assert sv == imeisv
        assert len(imei) == 15 and imei.isdigit() and df.luhn_ok(imei), imei
        assert imei == imeisv[:14] + df.luhn_digit(imeisv[:14])
    fifteen = [(n, df.fields(r)[i]) for n, r in enumerate(records, start=1) if len(df.fields(r)[i]) == 15]
    got = {n: (imei, sv) for n, imei, sv in
                df.query(clean.home, "SELECT _line_number, imei, imeisv FROM raw.imei_obs")}
    assert all(got[n] == (imei, None) for n, imei in fifteen)


# ---------------------------------------------------------------------------------------------- loading again
def test_same_batch_twice_gives_identical_partitions(clean, spec, tmp_path):
    home = df.clone_home(clean.home, tmp_path / "home")
    run = df.ingest(home, clean.landing)
    assert run.returncode == 0, run.stderr
    assert df.row_checksum(df.partition_checksums(home)) == df.row_checksum(clean.checksums)
    assert df.leftovers(home) == []
    for interface in delivered(clean.landing):
        keys = ", ".join(spec[interface]["key"])
        assert df.query(home, f"""SELECT count(*), count(DISTINCT ({keys})) FROM raw.{interface.lower()}""") == \
            [(control_total(clean.landing, interface),) * 2], interface
    batches = df.query(home, "SELECT status, fingerprint, rows_loaded, rows_rejected FROM audit.load_batch")
    assert len(batches) == 2 and batches[0] == batches[1] and batches[0][0] == "LOADED"
    assert df.query(home, "SELECT load_id, count(*) FROM audit.load_log GROUP BY load_id ORDER BY 1") == \
        sorted((x, 13) for x in {b for (b,) in df.query(home, "SELECT load_id FROM audit.load_batch")})


def test_redelivered_batch_replaces_the_partition(clean, tmp_path):
    home = df.clone_home(clean.home, tmp_path / "home")
    cdr, dur, msisdn = (field_index("CDR_VOICE", n) for n in ("cdr_id", "duration_s", "msisdn"))
    original = df.read_records(df.data_path(clean.landing, "CDR_VOICE"))

    # correction 1: 100 records withdrawn, one duration corrected, two records that are now invalid
    landing = df.copy_batch(clean.landing, tmp_path / "landing1")
    corrected = original[:-100]
    corrected[0] = with_field(corrected[0], dur, "9999")
    corrected[1] = with_field(corrected[1], msisdn, "2" + df.fields(corrected[1])[msisdn][1:])
    corrected[2] = with_field(corrected[2], msisdn, "")
    df.write_records(landing, "CDR_VOICE", corrected)
    run = df.ingest(home, landing)
    assert run.returncode == 0, run.stderr
    assert df.query(home, "SELECT count(*) FROM raw.cdr_voice") == [(len(corrected) - 2,)]
    withdrawn = [df.fields(r)[cdr] for r in original[-100:]]
    assert df.query(home, f"SELECT count(*) FROM raw.cdr_voice WHERE cdr_id IN ({', '.join('?' * 100)})",
                    withdrawn) == [(0,)]
    assert df.query(home, "SELECT duration_s FROM raw.cdr_voice WHERE cdr_id = ?",
                    [df.fields(original[0])[cdr]]) == [(9999,)]
    assert sorted(r[3:5] for r in rejects_of(home, "CDR_VOICE")) == [(2, "msisdn:msisdn"), (3, "required:msisdn")]
    after = df.row_checksum(df.partition_checksums(home))
    before = df.row_checksum(clean.checksums)
    assert {k: v for k, v in after.items() if k[1] != "CDR_VOICE"} == \
        {k: v for k, v in before.items() if k[1] != "CDR_VOICE"}

    # a damaged redelivery (MD5 in the control file wrong): correction 1's partition and rejects stay as they are
    damaged = df.copy_batch(clean.landing, tmp_path / "damaged")
    df.wrong_md5(damaged, "CDR_VOICE")
    run = df.ingest(home, damaged)
    assert run.returncode == 1
    assert df.row_checksum(df.partition_checksums(home)) == after
    assert len(rejects_of(home, "CDR_VOICE")) == 2

    # correction 2: the original delivery again; its partition comes back whole and the rejects go away
    landing2 = df.copy_batch(clean.landing, tmp_path / "landing2")
    run = df.ingest(home, landing2)
    assert run.returncode == 0, run.stderr
    assert df.row_checksum(df.partition_checksums(home)) == before
    assert rejects_of(home) == []
    assert df.query(home, "SELECT count(*) FROM raw.cdr_voice") == [(len(original),)]
    assert df.leftovers(home) == []


# ---------------------------------------------------------------------------------------------- reject rate
@pytest.fixture(scope="module")
def too_many_rejects(clean, tmp_path_factory) -> tuple[Path, list[tuple]]:
    """VAS_DELIVERY with 5 bad MSISDNs of 109 records (4.6%, above the default 1%)."""
    landing = df.copy_batch(clean.landing, tmp_path_factory.mktemp("rejecty") / "landing")
    m = field_index("VAS_DELIVERY", "msisdn")
    planted = []

    def edit(records):
        for line in (2, 4, 6, 8, 10):
            records[line - 1] = with_field(records[line - 1], m, "0" + df.fields(records[line - 1])[m][1:])
            planted.append((BATCH, "VAS_DELIVERY", data_name("VAS_DELIVERY"), line, "msisdn:msisdn",
                            records[line - 1]))
        return records

    df.rewrite_records(landing, "VAS_DELIVERY", edit)
    return landing, planted


@pytest.fixture(scope="module")
def rejecting_load(clean, too_many_rejects, tmp_path_factory) -> tuple[Path, df.Run]:
    """The batch with too many VAS_DELIVERY rejects, loaded with the default threshold."""
    landing, _ = too_many_rejects
    home = df.clone_home(clean.home, tmp_path_factory.mktemp("rejecting") / "home")
    return home, df.ingest(home, landing)


def test_reject_rate_above_threshold_fails_the_batch_but_keeps_the_rows(clean, too_many_rejects, rejecting_load):
    landing, planted = too_many_rejects
    home, run = rejecting_load
    total = control_total(landing, "VAS_DELIVERY")
    assert run.returncode == 1
    assert len(run.error_lines) == 1, run.stderr
    assert run.error_lines[0].startswith(f"error: batch {BATCH} failed: ") and "VAS_DELIVERY" in run.error_lines[0]
    [(status, rejected)] = df.query(home, "SELECT status, rows_rejected FROM audit.load_batch WHERE load_id <> ?",
                                    [clean.load_id])
    assert (status, rejected) == ("FAILED", 5)
    assert df.query(home, """SELECT control_records, rows_read, rows_loaded, rows_rejected FROM audit.load_log
                             WHERE interface = 'VAS_DELIVERY' AND load_id <> ?""", [clean.load_id]) == \
        [(total, total, total - 5, 5)]
    assert df.query(home, "SELECT count(*) FROM raw.vas_delivery") == [(total - 5,)]
    assert sorted(rejects_of(home)) == sorted(planted)
    assert ("rejects", "VAS_DELIVERY", BATCH) in df.partition_checksums(home)
    after = df.row_checksum(df.partition_checksums(home))
    assert {k: v for k, v in after.items() if k[1] != "VAS_DELIVERY"} == \
        {k: v for k, v in df.row_checksum(clean.checksums).items() if k[1] != "VAS_DELIVERY"}


def test_reject_views_have_the_documented_columns(rejecting_load):
    home, _ = rejecting_load
    raw_cols = [r[0] for r in df.query(home, "DESCRIBE raw.rejects")]
    audit_cols = [r[0] for r in df.query(home, "DESCRIBE audit.rejects")]
    assert raw_cols == ["batch", "interface", "file_name", "line_number", "reason", "raw_line", "batch_date"]
    assert sorted(audit_cols) == sorted(c for c in raw_cols if c != "raw_line")


def test_max_reject_rate_option_raises_the_threshold(clean, too_many_rejects, tmp_path):
    landing, planted = too_many_rejects
    home = df.clone_home(clean.home, tmp_path / "home")
    run = df.ingest(home, landing, BATCH, "--max-reject-rate", "0.05")
    assert run.returncode == 0, run.stderr
    assert run.error_lines == []
    assert df.query(home, "SELECT status, rows_rejected FROM audit.load_batch WHERE load_id <> ?",
                    [clean.load_id]) == [("LOADED", 5)]
    assert sorted(rejects_of(home)) == sorted(planted)
    assert df.query(home, "SELECT count(*) FROM raw.vas_delivery") == [(control_total(landing, "VAS_DELIVERY") - 5,)]


# ---------------------------------------------------------------------------------------------- after a crash
def test_staging_left_by_a_crash_is_never_read(clean, tmp_path):
    """A load killed between staging and swap leaves `.staging-*` directories; views never read them and a
    rerun cleans them up or ignores them."""
    home = df.clone_home(clean.home, tmp_path / "home")
    lake = home / "lake"
    [partition] = df.partition_files(home)[("raw", "CDR_VOICE", BATCH)]
    stage = lake / "raw" / "CDR_VOICE" / f".staging-{BATCH}-cli-{BATCH}-deadbeef-99999"
    stage.mkdir()
    shutil.copy(partition, stage / "data.parquet")  # read by mistake, it would double the rows
    reject_stage = lake / "rejects" / "CDR_VOICE" / stage.name
    reject_stage.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT '{BATCH}' AS batch, 'CDR_VOICE' AS interface, 'x' AS file_name,
                          CAST(1 AS BIGINT) AS line_number, 'field_count' AS reason, 'x' AS raw_line)
                    TO '{reject_stage / "rejects.parquet"}' (FORMAT parquet)""")
    con.close()
    n = control_total(clean.landing, "CDR_VOICE")
    assert df.query(home, "SELECT count(*) FROM raw.cdr_voice") == [(n,)]

    run = df.ingest(home, clean.landing)
    assert run.returncode == 0, run.stderr
    assert df.query(home, "SELECT count(*) FROM raw.cdr_voice") == [(n,)]
    assert rejects_of(home) == []
    assert df.row_checksum(df.partition_checksums(home)) == df.row_checksum(clean.checksums)
    assert set(df.leftovers(home)) <= {str(stage.relative_to(lake)), str(stage.relative_to(lake) / "data.parquet"),
                                       str(reject_stage.relative_to(lake)),
                                       str(reject_stage.relative_to(lake) / "rejects.parquet")}
