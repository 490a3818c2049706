"""Acceptance: every generated record follows spec section 2 and the field definitions of interfaces.yaml."""

from __future__ import annotations

import re

import pytest
from landing_reader import query, sql_list, type_violation_sql

CJK = re.compile(r"[\u4e00-\u9fff]")
CHINESE_NAME = re.compile(r"[\u4e00-\u9fff\u00b7\u30fb]+")  # Uyghur names are written with a middle dot


def all_loaded(run):
    """(batch, interface) of every delivered interface."""
    land = run.landing
    return [(b, name) for b in land.batches for name in sorted(land.interfaces_in(b))]


def test_every_data_file_is_gbk_with_lf_line_ends(main_run):
    problems = []
    for b, name in all_loaded(main_run):
        for st in main_run.landing.stats(b, name):
            if st.decode_error:
                problems.append(f"{b}/{st.file_name}: not GBK: {st.decode_error}")
            if st.has_cr or st.missing_final_newline or st.empty_lines:
                problems.append(
                    f"{b}/{st.file_name}: CR={st.has_cr} missing final LF={st.missing_final_newline} "
                    f"empty lines={st.empty_lines}"
                )
    assert not problems, "\n".join(problems[:30])


def test_chinese_text_is_present_and_encoded_in_gbk_not_utf8(main_run):
    land = main_run.landing
    b = main_run.daily[-1]
    for name, col in (
        ("REF_REGION", "region_name"),
        ("REF_PLAN", "plan_name"),
        ("REF_SERVICE", "service_name"),
    ):
        df = land.frame(b, name)
        assert len(df) > 0, name
        no_cjk = df.loc[~df[col].str.contains(CJK), col]
        assert no_cjk.empty, f"{name}.{col} without Chinese: {no_cjk.head().tolist()}"
    names = land.frame(b, "BOSS_USER")["cust_name"]
    names = names[names != ""]
    assert len(names) > 0.5 * len(land.frame(b, "BOSS_USER")), "most customers have a name"
    share = names.str.fullmatch(CHINESE_NAME).mean()
    assert share > 0.9, f"only {share:.1%} of cust_name are Chinese names: {names.head(10).tolist()}"
    complaints = land.all_batches("CRM_COMPLAINT").column("content").to_pylist()
    assert sum(bool(CJK.search(c)) for c in complaints) > 0, "complaint text in Chinese"
    # GBK bytes of Chinese text are not valid UTF-8: a UTF-8 file would decode as GBK mojibake instead
    for name in ("REF_REGION", "REF_PLAN", "REF_SERVICE", "BOSS_USER"):
        for st in land.stats(b, name):
            if st.has_non_ascii:
                assert not st.is_valid_utf8, f"{b}/{st.file_name} is UTF-8, not GBK"
    assert any(st.has_non_ascii for st in land.stats(b, "BOSS_USER"))


def test_every_record_has_the_exact_field_count(main_run, spec):
    problems = []
    for b, name in all_loaded(main_run):
        for st in main_run.landing.stats(b, name):
            if st.bad_field_count_lines:
                problems.append(
                    f"{b}/{st.file_name}: {st.bad_field_count_lines} lines without "
                    f"{len(spec[name].fields)} fields, e.g. {st.bad_field_samples[:2]}"
                )
    assert not problems, "\n".join(problems[:30])


def _violations(table, iface) -> list[str]:
    exprs = []
    checks = []
    for f in iface.fields:
        c = f'"{f.name}"'
        preds = []
        if not f.nullable:
            preds.append(("empty", f"{c} = ''"))
        preds.append((f"not {f.type}", f"{c} <> '' and ({type_violation_sql(f)})"))
        if f.values is not None:
            preds.append(("not in values", f"{c} <> '' and {c} not in ({sql_list(f.values)})"))
        for label, pred in preds:
            i = len(checks)
            checks.append((f.name, label))
            exprs.append(f"count(*) filter (where {pred}) as n{i}, min({c}) filter (where {pred}) as s{i}")
    row = query(f"select {', '.join(exprs)} from t", t=table).iloc[0]
    return [
        f"{name} {label}: {row[f'n{i}']} rows, e.g. {row[f's{i}']!r}"
        for i, (name, label) in enumerate(checks)
        if row[f"n{i}"]
    ]


def test_types_enums_and_nulls_follow_interfaces_yaml(main_run, spec):
    problems = []
    for b, name in all_loaded(main_run):
        for v in _violations(main_run.landing.table(b, name), spec[name]):
            problems.append(f"{b}/{name}.{v}")
    assert not problems, "\n".join(problems[:40])


def test_nullable_fields_are_sometimes_empty_and_sometimes_set(main_run, spec):
    """Spot check that NULL is written as an empty field where the spec expects it."""
    land = main_run.landing
    b = main_run.daily[-1]
    u = land.frame(b, "BOSS_USER")
    assert (u.loc[u["status"] != "CANCELLED", "cancel_reason"] == "").all(), (
        "cancel_reason only for CANCELLED"
    )
    cancelled = u[u["status"] == "CANCELLED"]
    assert len(cancelled) > 0 and (cancelled["cancel_reason"] != "").all(), cancelled.head()
    o = land.all_batches("BOSS_VAS_ORDER").to_pandas()
    hall = o[o["channel"] == "HALL"]
    assert len(hall) > 0 and (hall["hall_id"] != "").all() and (hall["staff_id"] != "").all(), hall.head()
    assert (o.loc[o["channel"] != "HALL", "hall_id"] == "").all(), "hall_id is for channel HALL"
    sms = land.all_batches("CDR_SMS").to_pandas()
    assert (sms["service_code"] == "").any() and (sms["service_code"] != "").any()
    vas_sms = sms[sms["service_code"] != ""]
    assert vas_sms["other_party"].str.startswith("106").all(), (
        "VAS messages carry an SP access number (106...)"
    )


def test_keys_are_unique_per_batch(main_run, spec):
    problems = []
    for b, name in all_loaded(main_run):
        key = ", ".join(f'"{k}"' for k in spec[name].key)
        dup = query(
            f"select {key}, count(*) n from t group by all having count(*) > 1 limit 3",
            t=main_run.landing.table(b, name),
        )
        if len(dup):
            problems.append(f"{b}/{name}: duplicate key {spec[name].key}: {dup.to_dict('records')}")
    assert not problems, "\n".join(problems[:30])


@pytest.mark.parametrize(
    "name,key",
    [
        ("BOSS_VAS_ORDER", "order_id"),
        ("CDR_VOICE", "cdr_id"),
        ("CDR_SMS", "cdr_id"),
        ("CDR_GPRS", "cdr_id"),
        ("VAS_DELIVERY", "msg_id"),
    ],
)
def test_event_ids_are_unique_across_batches(main_run, name, key):
    dup = query(
        f"select {key}, list(_batch) batches from t group by {key} having count(*) > 1 limit 5",
        t=main_run.landing.all_batches(name),
    )
    assert dup.empty, "\n" + dup.to_string()


def test_event_times_fall_in_the_control_period(main_run, spec):
    problems = []
    land = main_run.landing
    for b, name in all_loaded(main_run):
        iface = spec[name]
        if iface.kind != "events":
            continue
        ev = "coalesce(" + ", ".join(f"nullif(\"{c}\", '')" for c in iface.event_time) + ")"
        periods = ", ".join(
            f"({k}, '{e.period_start}', '{e.period_end}')" for k, e in enumerate(land.chk(b, name), 1)
        )
        bad = query(
            f"""select t._part, {ev} as event_time, p.s, p.e from t
                join (values {periods}) p(part, s, e) on t._part = p.part
                where {ev} is null or substr({ev}, 1, 8) < p.s or substr({ev}, 1, 8) > p.e
                limit 3""",
            t=land.table(b, name),
        )
        if len(bad):
            problems.append(f"{b}/{name}: event time outside the control period: {bad.to_dict('records')}")
    assert not problems, "\n".join(problems[:30])


def test_monthly_rows_are_for_the_batch_month(main_run):
    land = main_run.landing
    for name, col in (
        ("BOSS_BILL", "bill_month"),
        ("BASS_USAGE", "stat_month"),
        ("BASS_VAS_USAGE", "stat_month"),
    ):
        for b in land.batches_with(name):
            months = set(land.table(b, name).column(col).to_pylist())
            assert months == {b[:6]}, f"{b}/{name}: {col} {sorted(months)}"


def test_record_level_time_order(main_run):
    land = main_run.landing
    bad = query(
        "select * from t where first_seen > last_seen or cast(event_count as int) < 1 limit 3",
        t=land.all_batches("IMEI_OBS"),
    )
    assert bad.empty, "\n" + bad.to_string()
    bad = query(
        "select * from t where closed_at <> '' and closed_at < created_at limit 3",
        t=land.all_batches("CRM_COMPLAINT"),
    )
    assert bad.empty, "\n" + bad.to_string()
    bad = query(
        "select * from t where join_date > status_date or status_date > _batch or join_date > _batch limit 3",
        t=land.all_batches("BOSS_USER"),
    )
    assert bad.empty, "\n" + bad.to_string()
    bad = query(
        "select * from t where cast(duration_s as int) < 0 or cast(up_bytes as bigint) < 0 "
        "or cast(down_bytes as bigint) < 0 limit 3",
        t=land.all_batches("CDR_GPRS"),
    )
    assert bad.empty, "\n" + bad.to_string()
    bad = query("select * from t where cast(duration_s as int) < 0 limit 3", t=land.all_batches("CDR_VOICE"))
    assert bad.empty, "\n" + bad.to_string()


def test_reference_codes_have_their_formats(main_run):
    land = main_run.landing
    b = main_run.daily[-1]
    assert land.frame(b, "REF_REGION")["region_code"].str.fullmatch(r"0[0-9]{2,3}").all()
    assert land.frame(b, "REF_REGION")["is_capital"].tolist().count("1") == 1, "one provincial capital"
    assert land.frame(b, "REF_SERVICE")["sp_code"].str.fullmatch(r"[0-9]{6}").all()
    assert land.frame(b, "REF_TAC")["tac"].str.fullmatch(r"[0-9]{8}").all()
    svc = land.frame(b, "REF_SERVICE")
    assert set(svc["category"]) == {
        "NEWS",
        "SPORTS",
        "FINANCE",
        "ENTERTAINMENT",
        "MUSIC",
        "GAMES",
        "LIFE",
        "EDUCATION",
    }, "every content category has a service"
    monthly = svc[svc["fee_type"] == "03"]
    assert len(monthly) > 0 and (monthly["fee_fen"].astype(int) > 0).all()
