"""The quality gate (`vasmart quality --batch D`): real observed values, planted defects, severities, publishing.

On a copy of the shared pipeline (see quality_homes.py): the clean batch passes every critical check and
its observed values equal recomputations from the raw zone and the load log; with planted defects (a null
surge, an out-of-range rate, a volume drop, a duplicate key) each defect appears in the report, in
`audit.quality_check` and in Great Expectations' kept results and Data Docs with the value computed from
the planted files, failing rows are named by file and line, the night stops, and `vasmart publish` refuses
and leaves the published analytics.duckdb byte-identical. Every generated report file is scanned: no
MSISDN- or IMEI-shaped string and no number or IMEI of the raw zone appears in any.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from quality_homes import BATCH, gated_homes, session_root
from vasmart_cli import run_vasmart

# set aside like vasmart.publish does: hex tokens of 32+ characters (pseudonyms, digests) and, here, the UUIDs
# Great Expectations gives its objects (random hex: "...-f19146368775" is no phone number)
HEX_TOKEN = re.compile(r"[0-9A-Fa-f]{32,}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MSISDN = re.compile(r"(?<![0-9])(?<![0-9]\.)1[0-9]{10}(?![0-9])")
IMEI = re.compile(r"(?<![0-9])(?<![0-9]\.)[0-9]{15,16}(?![0-9])")


@pytest.fixture(scope="module")
def homes(pipeline, tmp_path_factory) -> dict[str, Path]:
    return gated_homes(session_root(tmp_path_factory), pipeline)


@pytest.fixture(scope="module")
def planted(homes) -> dict:
    return json.loads((homes["stopped"].parent / "planted.json").read_text())


def _report(home: Path) -> dict[tuple[str, str, str], dict]:
    data = json.loads((home / "reports" / "quality" / BATCH / "quality.json").read_text())
    return {(c["table"], c["metric"], c["severity"]): c for c in data["checks"]} | {("verdict", "", ""): data}


def _con(home: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)


# ------------------------------------------------------------------------------------------------ clean batch
def test_clean_batch_passes_every_critical_check(homes):
    report = _report(homes["clean"])
    assert report[("verdict", "", "")]["verdict"] in ("passed", "warnings")
    critical = [c for c in report.values() if c.get("severity") == "critical"]
    assert len(critical) > 100
    assert [c["check_id"] for c in critical if c["status"] != "passed"] == []
    with _con(homes["clean"]) as con:
        verdict = con.execute("SELECT verdict, critical_failed FROM audit.quality_run WHERE batch_date = ?",
                              [BATCH]).fetchall()
    assert verdict == [(report[("verdict", "", "")]["verdict"], 0)]


def test_observed_values_equal_recomputation_from_raw_zone(homes):
    home = homes["clean"]
    report = _report(home)
    with _con(home) as con:
        loaded = dict(con.execute("SELECT interface, sum(rows_loaded) FROM audit.load_log WHERE batch_date = ? "
                                  "AND status = 'LOADED' GROUP BY ALL", [BATCH]).fetchall())
    assert len(loaded) >= 10
    for interface, rows in loaded.items():
        table = pq.read_table(home / "lake" / "raw" / interface / f"batch_date={BATCH}")
        check = report[(f"raw.{interface.lower()}", "rows", "critical")]
        assert check["observed"] == table.num_rows == rows, interface
    # an optional field's share of empty values, by pandas on the partition
    users = pq.read_table(home / "lake" / "raw" / "BOSS_USER" / f"batch_date={BATCH}").to_pandas()
    for field in ("cust_name", "birth_year", "gender", "cancel_reason"):
        checks = [c for k, c in report.items() if k[0] == "raw.boss_user" and k[1] == f"null_share__{field}"]
        assert checks and checks[0]["observed"] == pytest.approx(users[field].isna().mean(), abs=1e-12), field
    # the volume band: median of the 6 earlier daily batches' CDR_VOICE rows (one day each)
    with _con(home) as con:
        earlier = [r[0] for r in con.execute(
            "SELECT sum(rows_loaded) FROM audit.load_log WHERE interface = 'CDR_VOICE' AND batch_date < ? "
            "AND batch_date > '20261114' GROUP BY batch_date", [BATCH]).fetchall()]
        first = con.execute("SELECT sum(rows_loaded) FROM audit.load_log WHERE interface = 'CDR_VOICE' "
                            "AND batch_date = '20261114'").fetchone()[0]
    median = statistics.median([*earlier, first / 14])  # the first daily batch covers Nov 1-14
    band = report[("raw.cdr_voice", "rows_per_day", "warning")]
    assert f"{median:,.1f}" in band["description"]
    assert band["min_value"] == pytest.approx(median - max(0.3 * median, 3 * median ** 0.5), abs=0.1)


def test_rerun_replaces_the_batch_verdict(homes):
    with _con(homes["clean"]) as con:
        runs = con.execute("SELECT count(*) FROM audit.quality_run WHERE batch_date = ?", [BATCH]).fetchone()[0]
        checks = con.execute("SELECT count(*), count(DISTINCT check_id), count(DISTINCT run_id) "
                             "FROM audit.quality_check WHERE batch_date = ?", [BATCH]).fetchone()
    assert runs == 1
    assert checks[0] == checks[1] and checks[2] == 1


def test_missing_marts_are_reported_not_skipped(homes):
    report = _report(homes["clean"])
    from vasmart.quality.marts import MART_CHECKS

    with _con(homes["clean"]) as con:
        present = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'").fetchall()}
    for mc in MART_CHECKS:
        found = [c for k, c in report.items() if k[0] == f"marts.{mc.mart}" and k[1] == mc.name]
        assert found, f"{mc.mart}.{mc.name} not in the report"
        if mc.mart not in present:
            assert found[0]["status"] == "not run" and found[0]["severity"] == "warning"
            assert "not built" in found[0]["message"]


# ------------------------------------------------------------------------------------------------ planted defects
def test_null_surge_in_required_field_is_critical_with_exact_count_and_lines(homes, planted):
    check = _report(homes["stopped"])[("raw.boss_vas_order", "null_rows__channel", "critical")]
    expected = planted["planted"]["null_channel"]
    assert expected["rows"] > 5
    assert check["status"] == "failed"
    assert check["observed"] == expected["rows"]
    assert check["failing_row_count"] == expected["rows"]
    assert [[r["file"], r["line"]] for r in check["failing_rows"]] == expected["lines"][:20]
    assert all(r["batch"] == BATCH for r in check["failing_rows"])


def test_null_surge_in_optional_field_is_a_warning_with_its_share(homes, planted):
    check = _report(homes["stopped"])[("raw.boss_user", "null_share__gender", "warning")]
    assert check["status"] == "failed"
    assert check["observed"] == pytest.approx(planted["planted"]["null_gender_share"], abs=1e-12)
    assert check["observed"] > check["max_value"]


def test_duplicate_key_is_critical_with_the_repeated_rows(homes, planted):
    check = _report(homes["stopped"])[("raw.cdr_sms", "duplicate_key_rows", "critical")]
    expected = planted["planted"]["duplicate_sms"]
    assert check["status"] == "failed"
    assert check["observed"] == expected["extra_rows"] == 7
    assert check["failing_row_count"] == expected["rows"] == 14
    assert [[r["file"], r["line"]] for r in check["failing_rows"]] == expected["lines"]


def test_volume_drop_is_a_warning_with_rows_per_day(homes, planted):
    report = _report(homes["stopped"])
    warning = report[("raw.cdr_voice", "rows_per_day", "warning")]
    critical = report[("raw.cdr_voice", "rows_per_day", "critical")]
    assert warning["status"] == "failed" and critical["status"] == "passed"
    assert warning["observed"] == planted["planted"]["voice_rows"]
    assert warning["observed"] < warning["min_value"]
    # the load log agrees with the partition: the drop came through the loader, not a broken lake
    assert report[("raw.cdr_voice", "rows", "critical")]["status"] == "passed"


def test_out_of_range_rate_is_critical_with_its_value_and_key(homes, planted):
    check = _report(homes["stopped"])[("marts.fct_imei_quality", "user_match_rate_max", "critical")]
    assert check["status"] == "failed"
    assert check["observed"] == planted["planted"]["match_rate"]
    assert check["failing_rows"] == [{"batch_date": "2026-11-20", "value": 1.25}]


def test_the_night_stops_and_is_recorded(homes, planted):
    code, _stdout, stderr = planted["gate"]
    assert code != 0
    assert f"quality gate stopped batch {BATCH}" in " ".join(stderr.split())
    with _con(homes["stopped"]) as con:
        run = con.execute("SELECT verdict, critical_failed FROM audit.quality_run WHERE batch_date = ?",
                          [BATCH]).fetchone()
        failed = dict(con.execute("SELECT check_id, observed FROM audit.quality_check WHERE batch_date = ? "
                                  "AND status = 'failed'", [BATCH]).fetchall())
    assert run[0] == "stopped" and run[1] >= 3
    assert failed["raw.boss_vas_order:null_rows__channel:critical"] == planted["planted"]["null_channel"]["rows"]
    assert failed["marts.fct_imei_quality:user_match_rate_max:critical"] == 1.25


def test_publish_refuses_and_analytics_is_unchanged(homes, planted):
    code, _stdout, stderr = planted["publish"]
    assert code != 0
    assert f"quality gate stopped batch {BATCH}" in " ".join(stderr.split())
    before, after = planted["analytics_sha256"]
    assert before == after
    # a second attempt through the CLI also refuses
    again = run_vasmart(homes["stopped"], "publish")
    assert again.returncode != 0 and "publishing refused" in again.stderr


def test_great_expectations_kept_results_and_data_docs_show_observed_values(homes, planted):
    home = homes["stopped"]
    expected = planted["planted"]["null_channel"]["rows"]
    results = list((home / "quality" / "gx" / "validations").rglob("*.json"))
    observed = {}
    for path in results:
        doc = json.loads(path.read_text())
        for r in doc.get("results", []):
            observed[r["expectation_config"]["meta"]["check_id"]] = (r["result"].get("observed_value"), r["success"])
    assert observed["raw.boss_vas_order:null_rows__channel:critical"] == (expected, False)
    assert observed["marts.fct_imei_quality:user_match_rate_max:critical"] == (1.25, False)
    assert observed["raw.cdr_sms:duplicate_key_rows:critical"] == (7, False)
    pages = list((home / "reports" / "data_docs" / "validations").rglob("*.html"))
    order_pages = [p for p in pages if "raw.boss_vas_order" in str(p)]
    assert order_pages
    text = order_pages[0].read_text()
    assert "null_rows__channel" in text and re.search(rf"\b{expected}\b", text)


# ------------------------------------------------------------------------------------------------ personal data
def _report_files(home: Path) -> list[Path]:
    return [p for root in (home / "reports", home / "quality") for p in root.rglob("*") if p.is_file()]


def test_no_report_file_holds_personal_numbers(homes):
    numbers: set[str] = set()
    home = homes["stopped"]
    for interface, column in (("BOSS_USER", "msisdn"), ("CDR_VOICE", "msisdn"), ("CDR_SMS", "msisdn"),
                              ("IMEI_OBS", "msisdn"), ("IMEI_OBS", "imei"), ("BOSS_VAS_ORDER", "msisdn")):
        table = pq.read_table(home / "lake" / "raw" / interface / f"batch_date={BATCH}", columns=[column])
        numbers.update(v for v in table.column(column).to_pylist() if v)
    assert len(numbers) > 1000
    files = _report_files(homes["clean"]) + _report_files(home)
    assert len(files) > 20
    shaped, raw_hits = [], []
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        cleaned = HEX_TOKEN.sub(" ", text)
        if MSISDN.search(cleaned) or IMEI.search(cleaned):
            shaped.append(str(path))
        digits = set(re.findall(r"[0-9]{11,16}", text))
        if digits & numbers:
            raw_hits.append(str(path))
    assert shaped == []
    assert raw_hits == []


# ------------------------------------------------------------------------------------------------ scopes
def test_scopes_raw_then_marts_are_recorded_side_by_side(pipeline, tmp_path):
    from pipeline_home import copy_of_built_home

    home = copy_of_built_home(pipeline, tmp_path / "home").home
    raw = run_vasmart(home, "quality", "--batch", BATCH, "--scope", "raw")
    assert raw.returncode == 0, raw.stderr
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:  # the night's marts go wrong after the build
        con.execute("UPDATE marts.fct_imei_quality SET user_match_rate = -0.5 WHERE batch_date = DATE '2026-11-20'")
    marts = run_vasmart(home, "quality", "--batch", BATCH, "--scope", "marts")
    assert marts.returncode != 0 and "user_match_rate_min" in marts.stderr
    with _con(home) as con:
        runs = dict(con.execute("SELECT scope, verdict FROM audit.quality_run WHERE batch_date = ?", [BATCH]).fetchall())
        tables = {scope: sorted(set(names)) for scope, names in con.execute(
            "SELECT scope, list(split_part(table_name, '.', 1)) FROM audit.quality_check WHERE batch_date = ? "
            "GROUP BY 1", [BATCH]).fetchall()}
    assert runs["raw"] in ("passed", "warnings") and runs["marts"] == "stopped"
    assert tables == {"raw": ["audit", "raw"], "marts": ["marts"]}
    raw_report = json.loads((home / "reports" / "quality" / BATCH / "quality-raw.json").read_text())
    assert raw_report["scope"] == "raw" and raw_report["verdict"] == runs["raw"]
    refused = run_vasmart(home, "publish")
    assert refused.returncode != 0 and "publishing refused" in refused.stderr
