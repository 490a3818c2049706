"""Unit tests of the acceptance tests' own reader (tests/landing_reader.py) on tiny hand-made deliveries."""

from __future__ import annotations

import gzip
import hashlib

import pandas as pd
import pytest
from landing_reader import (
    CHK_NAME_RE,
    DATA_NAME_RE,
    Landing,
    add_months,
    batch_period,
    expected_batches,
    holdings_at,
    imei_from_imeisv,
    is_valid_imei,
    load_osmocom_tacs,
    load_spec,
    luhn_check_digit,
    month_last,
    parse_chk,
    query,
    type_violation_sql,
)


def _write_delivery(root, batch, interface, lines, period=("20260101", "20260101"), encoding="gbk"):
    d = root / "landing" / batch
    d.mkdir(parents=True, exist_ok=True)
    name = f"{interface}_{batch}_001.dat.gz"
    raw = gzip.compress("".join(line + "\n" for line in lines).encode(encoding), mtime=0)
    (d / name).write_bytes(raw)
    chk = f"{name}|{len(raw)}|{len(lines)}|{hashlib.md5(raw).hexdigest()}|{period[0]}|{period[1]}|{batch}010203\n"
    (d / f"{interface}_{batch}.chk").write_text(chk, encoding="utf-8")
    return d / name


def test_spec_loads_every_interface_with_fields_in_order():
    spec = load_spec()
    assert len(spec) == 16
    assert spec["REF_REGION"].field_names == ["region_code", "region_name", "is_capital"]
    assert spec["REF_REGION"].fields[2].values == ("0", "1")
    assert spec["CRM_COMPLAINT"].event_time == ("closed_at", "created_at")
    assert spec["IMEI_OBS"].key == ("msisdn", "imei")
    assert spec["REF_SERVICE"].fields[-1].nullable and not spec["REF_SERVICE"].fields[0].nullable
    assert {i.kind for i in spec.values()} == {"snapshot", "events", "monthly"}
    assert not spec["BOSS_USER"].is_reference and spec["REF_TAC"].is_reference


def test_luhn_and_imeisv():
    assert luhn_check_digit("49015420323751") == 8
    assert is_valid_imei("490154203237518")
    assert not is_valid_imei("490154203237517")
    assert not is_valid_imei("49015420323751")
    assert imei_from_imeisv("4901542032375101") == "490154203237518"


def test_batch_calendar():
    history, daily = expected_batches("20260602", 12, 5)
    assert daily == ["20260529", "20260530", "20260531", "20260601", "20260602"]
    assert history[0] == "20250531" and history[-1] == "20260430" and len(history) == 12
    assert "20260228" in history
    history, daily = expected_batches("20260301", 2, 3)
    assert daily == ["20260227", "20260228", "20260301"]
    assert history == ["20251231", "20260131"]
    assert batch_period("20260529", "20260430") == ("20260501", "20260529")
    assert batch_period("20250531", None) == ("20250501", "20250531")
    assert month_last("202402") == "20240229" and add_months("202511", 3) == "202602"


def test_names():
    m = DATA_NAME_RE.match("CDR_VOICE_20260529_002.dat.gz")
    assert (m["interface"], m["date"], m["part"]) == ("CDR_VOICE", "20260529", "002")
    assert CHK_NAME_RE.match("BOSS_VAS_ORDER_20260529.chk")["interface"] == "BOSS_VAS_ORDER"
    assert not DATA_NAME_RE.match("CDR_VOICE_20260529_2.dat.gz")
    assert not CHK_NAME_RE.match("CDR_VOICE_20260529.chk.tmp")


def test_reader_reads_gbk_records_and_control_file(tmp_path):
    path = _write_delivery(tmp_path, "20260101", "REF_REGION", ["0991|乌鲁木齐|1", "0998|喀什||"])
    land = Landing(tmp_path / "landing")
    assert land.batches == ["20260101"]
    assert land.interfaces_in("20260101") == {"REF_REGION"}
    (entry,) = land.chk("20260101", "REF_REGION")
    assert entry.record_count == 2 and entry.size_bytes == path.stat().st_size
    df = land.frame("20260101", "REF_REGION")
    assert df["region_name"].tolist() == ["乌鲁木齐"]  # the malformed line is left out ...
    (st,) = land.stats("20260101", "REF_REGION")
    assert st.n_lines == 2 and st.bad_field_count_lines == 1  # ... and recorded
    assert st.decode_error is None and not st.is_valid_utf8 and st.has_non_ascii
    assert df["_part"].tolist() == [1]


def test_reader_records_decode_errors_and_missing_newline(tmp_path):
    d = tmp_path / "landing" / "20260101"
    d.mkdir(parents=True)
    raw = gzip.compress(b"0991|\xff\xff|1")
    (d / "REF_REGION_20260101_001.dat.gz").write_bytes(raw)
    (d / "REF_REGION_20260101.chk").write_text(
        f"REF_REGION_20260101_001.dat.gz|{len(raw)}|1|x|20260101|20260101|20260102000000\n"
    )
    land = Landing(tmp_path / "landing")
    (st,) = land.stats("20260101", "REF_REGION")
    assert st.decode_error and st.missing_final_newline


def test_parse_chk_rejects_short_line(tmp_path):
    p = tmp_path / "X_20260101.chk"
    p.write_text("a|1|2|3\n")
    with pytest.raises(ValueError):
        parse_chk(p)


def test_type_predicates():
    spec = load_spec()
    f = {x.name: x for x in spec["CRM_COMPLAINT"].fields}
    df = pd.DataFrame({"created_at": ["20260101235959", "20260230000000", "2026010100000", "20260101246000"]})
    bad = query(f"select created_at from t where {type_violation_sql(f['created_at'])}", t=df)
    assert bad["created_at"].tolist() == ["20260230000000", "2026010100000", "20260101246000"]
    g = {x.name: x for x in spec["BOSS_BILL"].fields}
    df = pd.DataFrame({"bill_month": ["202601", "202613", "20261"], "arrears_fen": ["12", "-3", "1e3"]})
    assert query(f"select count(*) n from t where {type_violation_sql(g['bill_month'])}", t=df)["n"][0] == 2
    assert query(f"select count(*) n from t where {type_violation_sql(g['arrears_fen'])}", t=df)["n"][0] == 1


def test_holdings():
    o = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 2],
            "service_code": ["A", "A", "A", "A"],
            "action": ["1", "2", "1", "1"],
            "ts": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-05", "2026-01-03"]),
        }
    )
    assert holdings_at(o, pd.Timestamp("2026-01-03")).values.tolist() == [[2, "A"]]
    assert len(holdings_at(o, pd.Timestamp("2026-01-06"))) == 2


def test_osmocom_tacs():
    tacs = load_osmocom_tacs()
    assert len(tacs) > 20000 and "35675904" in tacs
