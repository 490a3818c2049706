"""Acceptance: the rules of spec section 4 and the BOSS_USER snapshot rules of interfaces.yaml hold across files."""

from __future__ import annotations

import itertools

import pandas as pd
from landing_reader import days_between, month_first, month_last, query

USAGE_COLUMNS = [
    "voice_calls",
    "voice_moc_calls",
    "voice_seconds",
    "distinct_contacts",
    "sms_mo",
    "sms_mt",
    "gprs_sessions",
    "gprs_kb",
    "active_days",
]

# msisdn -> user_id at an event date: the user holding the number from join_date through cancellation
MAP_SQL = "u.msisdn = e.msisdn and e.d between u.held_from and u.held_to"


def fully_covered_months(run) -> list[str]:
    """Months with a BASS_USAGE file whose every day is covered by delivered CDR_VOICE, CDR_SMS and CDR_GPRS."""
    land = run.landing
    complete = [set(land.complete_months(n)) for n in ("CDR_VOICE", "CDR_SMS", "CDR_GPRS")]
    return [b[:6] for b in land.batches_with("BASS_USAGE") if all(b[:6] in c for c in complete)]


def test_a_month_is_fully_covered_by_daily_cdr_batches(main_run):
    assert fully_covered_months(main_run) == ["202605"]


def _expected_usage(land, users, month: str) -> pd.DataFrame:
    return query(
        f"""
        with v as (select u.user_id, e.* from (select *, substr(start_time, 1, 8) d from voice) e
                   join users u on {MAP_SQL} where substr(e.d, 1, 6) = '{month}'),
             s as (select u.user_id, e.* from (select *, substr(send_time, 1, 8) d from sms) e
                   join users u on {MAP_SQL} where substr(e.d, 1, 6) = '{month}'),
             g as (select u.user_id, e.* from (select *, substr(start_time, 1, 8) d from gprs) e
                   join users u on {MAP_SQL} where substr(e.d, 1, 6) = '{month}'),
             va as (select user_id,
                           count(*) filter (where call_type in ('MOC', 'MTC')) voice_calls,
                           count(*) filter (where call_type = 'MOC') voice_moc_calls,
                           coalesce(sum(cast(duration_s as bigint)) filter (where call_type in ('MOC', 'MTC')), 0)
                               voice_seconds
                    from v group by user_id),
             sa as (select user_id, count(*) filter (where sms_type = 'MO') sms_mo,
                           count(*) filter (where sms_type = 'MT') sms_mt from s group by user_id),
             ga as (select user_id, count(*) gprs_sessions,
                           sum((cast(up_bytes as bigint) + cast(down_bytes as bigint) + 1023) // 1024) gprs_kb
                    from g group by user_id),
             ca as (select user_id, count(distinct other_party) distinct_contacts,
                           count(distinct other_party) filter (where src <> 'FWD') contacts_no_fwd,
                           count(distinct other_party) filter (where src <> 'SMS') contacts_voice_only
                    from (select user_id, other_party, call_type src from v
                          union all select user_id, other_party, 'SMS' from s) group by user_id),
             da as (select user_id, count(distinct d) active_days
                    from (select user_id, d from v union all select user_id, d from s
                          union all select user_id, d from g) group by user_id),
             ids as (select user_id from va union select user_id from sa union select user_id from ga)
        select ids.user_id,
               coalesce(voice_calls, 0) voice_calls, coalesce(voice_moc_calls, 0) voice_moc_calls,
               coalesce(voice_seconds, 0) voice_seconds, coalesce(distinct_contacts, 0) distinct_contacts,
               coalesce(sms_mo, 0) sms_mo, coalesce(sms_mt, 0) sms_mt, coalesce(gprs_sessions, 0) gprs_sessions,
               coalesce(gprs_kb, 0) gprs_kb, coalesce(active_days, 0) active_days,
               coalesce(contacts_no_fwd, 0) contacts_no_fwd, coalesce(contacts_voice_only, 0) contacts_voice_only
        from ids left join va using (user_id) left join sa using (user_id) left join ga using (user_id)
                 left join ca using (user_id) left join da using (user_id)
        """,
        voice=land.all_batches("CDR_VOICE"),
        sms=land.all_batches("CDR_SMS"),
        gprs=land.all_batches("CDR_GPRS"),
        users=users,
    )


def test_bass_usage_equals_the_aggregation_of_cdr_detail(main_run, users):
    land = main_run.landing
    month = "202605"
    expected = _expected_usage(land, users, month).set_index("user_id")
    bass = land.frame(month_last(month), "BASS_USAGE")
    bass = bass.assign(user_id=bass["user_id"].astype("int64")).set_index("user_id")
    bass_values = bass[USAGE_COLUMNS].astype("int64")
    assert len(expected) > 1000, f"only {len(expected)} users with CDRs in {month}"
    ids = expected.index.union(bass_values.index)
    e = expected.reindex(ids)[USAGE_COLUMNS].fillna(0).astype("int64")
    b = bass_values.reindex(ids).fillna(0).astype("int64")
    diff = e != b
    missing = expected.index.difference(bass_values.index)
    report = [
        f"{len(ids)} users; {len(missing)} users with CDRs have no BASS_USAGE row, e.g. {list(missing[:5])}"
    ]
    for col in USAGE_COLUMNS:
        n = int(diff[col].sum())
        if n:
            sample = pd.DataFrame({"bass": b[col], "from_cdr": e[col]})[diff[col]].head(5)
            report.append(f"{col}: {n} users differ, e.g. {sample.reset_index().to_dict('records')}")
    if diff["distinct_contacts"].any():
        ex = expected.reindex(ids).fillna(0)
        for alt in ("contacts_no_fwd", "contacts_voice_only"):
            report.append(
                f"  distinct_contacts would match for {(ex[alt].astype('int64') == b['distinct_contacts']).mean():.1%}"
                f" of users if computed as {alt}"
            )
    assert not diff.any().any(), "\n".join(report)


def test_bass_usage_rows_carry_the_users_msisdn(main_run, users):
    land = main_run.landing
    for name, month_col in (("BASS_USAGE", "stat_month"), ("BOSS_BILL", "bill_month")):
        bad = query(
            f"""select t.{month_col}, t.user_id, t.msisdn, u.msisdn user_msisdn, u.held_from, u.held_to
                from t left join users u on cast(t.user_id as bigint) = u.user_id
                where u.msisdn is distinct from t.msisdn
                   or u.held_from > strftime(last_day(strptime(t.{month_col} || '01', '%Y%m%d')), '%Y%m%d')
                   or u.held_to < t.{month_col} || '01'
                limit 5""",
            t=land.all_batches(name),
            users=users,
        )
        assert bad.empty, f"{name}: {bad.to_dict('records')}"


def test_event_msisdns_map_to_exactly_one_subscriber_at_event_time(main_run, users):
    land = main_run.landing
    problems = []
    for name, ev in (
        ("CDR_VOICE", "start_time"),
        ("CDR_SMS", "send_time"),
        ("CDR_GPRS", "start_time"),
        ("VAS_DELIVERY", "send_time"),
        ("IMEI_OBS", "last_seen"),
    ):
        r = query(
            f"""with e as (select row_number() over () rid, msisdn, substr({ev}, 1, 8) d from t),
                     m as (select e.rid, any_value(e.msisdn) msisdn, any_value(e.d) d, count(u.user_id) n
                           from e left join users u on {MAP_SQL} group by e.rid)
                select count(*) total, count(*) filter (where n = 0) unmapped,
                       count(*) filter (where n > 1) ambiguous,
                       list(msisdn || '@' || d) filter (where n <> 1)[1:5] examples
                from m""",
            t=land.all_batches(name),
            users=users,
        ).iloc[0]
        if r["unmapped"] or r["ambiguous"]:
            problems.append(
                f"{name}: of {r['total']} records {r['unmapped']} carry an msisdn no subscriber held "
                f"at the event time, {r['ambiguous']} an msisdn two held; e.g. {list(r['examples'])}"
            )
    assert not problems, "\n".join(problems)


def test_orders_carry_the_users_msisdn_while_subscribed(orders, users):
    bad = query(
        """select o.order_id, o.user_id, o.msisdn, o.op_time, u.msisdn user_msisdn, u.held_from, u.held_to
           from o left join users u using (user_id)
           where u.msisdn is distinct from o.msisdn or substr(o.op_time, 1, 8) > u.held_to
              or substr(o.op_time, 1, 8) < u.held_from
           limit 5""",
        o=orders,
        users=users,
    )
    assert bad.empty, "\n" + bad.to_string()


def test_monthly_service_deliveries_only_go_to_holders(main_run, users, orders, services):
    land = main_run.landing
    r = query(
        f"""
        with ev as (select user_id, service_code, ts,
                           sum(sum(case when action = '1' then 1 else -1 end))
                               over (partition by user_id, service_code order by ts) as net
                    from o group by user_id, service_code, ts),
             d as (select u.user_id, e.msg_id, e.msisdn, e.service_code, e.send_time,
                          strptime(e.send_time, '%Y%m%d%H%M%S') ts
                   from (select *, substr(send_time, 1, 8) d from t) e
                   join s on s.service_code = e.service_code and s.fee_type = '03'
                   left join users u on {MAP_SQL}),
             j as (select d.*, ev.net from d asof left join ev
                   on d.user_id = ev.user_id and d.service_code = ev.service_code and d.ts >= ev.ts)
        select * from j
        """,
        o=orders,
        t=land.all_batches("VAS_DELIVERY"),
        s=services,
        users=users,
    )
    assert len(r) > 1000, f"only {len(r)} deliveries of monthly (fee_type 03) services"
    cols = ["msg_id", "msisdn", "service_code", "send_time", "user_id", "net"]
    no_holder = r[r["user_id"].isna()]
    not_held = r[r["user_id"].notna() & ~(r["net"] > 0)]
    assert no_holder.empty and not_held.empty, (
        f"{len(no_holder) + len(not_held)} of {len(r)} fee_type 03 deliveries went to users not holding the service "
        f"at send time:\n{len(no_holder)} to an msisdn no subscriber held then ({no_holder['msisdn'].nunique()} "
        f"numbers):\n{no_holder[cols].head(5).to_string()}\n{len(not_held)} to a subscriber (user_id) with no open "
        f"order of the service ({not_held['user_id'].nunique()} users):\n{not_held[cols].head(5).to_string()}"
    )


def test_every_cancel_follows_an_order_of_the_same_user_and_service(orders):
    r = query(
        """with x as (select *, sum(case when action = '1' then 1 else -1 end)
                                    over (partition by user_id, service_code order by ts, action, order_id
                                          rows unbounded preceding) net from o)
           select count(*) filter (where action = '2') cancels, count(*) filter (where net < 0) violations,
                  list({'order_id': order_id, 'user_id': user_id, 'service': service_code, 'op_time': op_time})
                      filter (where net < 0)[1:5] examples
           from x""",
        o=orders,
    ).iloc[0]
    assert r["cancels"] > 100
    assert r["violations"] == 0, f"{r['violations']} cancels without an open order: {list(r['examples'])}"


def test_go_live_sync_opens_the_first_history_batch(main_run, orders, users):
    first_batch = main_run.history[0]
    first_day = month_first(first_batch[:6])
    o = orders[orders["_batch"] == first_batch]
    sync = o[(o["op_time"] == first_day + "000000") & (o["action"] == "1") & (o["action_reason"] == "2")]
    assert len(sync) > 100, f"only {len(sync)} go-live sync orders at {first_day}000000"
    assert o["op_time"].min() == first_day + "000000"
    assert not sync.duplicated(["user_id", "service_code"]).any(), "one sync order per subscription"
    joined = sync.merge(users[["user_id", "join_date"]], on="user_id", how="left")
    late = joined[~(joined["join_date"] < first_day)]
    assert late.empty, (
        f"sync orders for users who joined on/after {first_day}: {late.head().to_dict('records')}"
    )
    # no other batch carries a go-live sync, and the sync holds no cancels
    assert (o.loc[o["op_time"] == first_day + "000000", "action"] == "1").all()


def test_recycled_numbers_rest_90_days_after_cancellation(users):
    u = users.sort_values(["msisdn", "join_date", "user_id"])
    problems = []
    for msisdn, g in u.groupby("msisdn"):
        if len(g) < 2:
            continue
        rows = g.to_dict("records")
        for prev, nxt in itertools.pairwise(rows):
            if prev["status"] != "CANCELLED" or days_between(prev["status_date"], nxt["join_date"]) < 90:
                problems.append(
                    f"{msisdn}: user {prev['user_id']} ({prev['status']} {prev['status_date']}) then "
                    f"user {nxt['user_id']} joined {nxt['join_date']}"
                )
    assert not problems, f"{len(problems)} recycled numbers reused too early:\n" + "\n".join(problems[:10])


def test_boss_user_holds_active_users_and_users_cancelled_within_90_days(main_run, boss_user_all):
    land = main_run.landing
    snaps = {b: land.frame(b, "BOSS_USER").set_index("user_id") for b in land.batches}
    problems = []
    batches = land.batches
    for i, b in enumerate(batches):
        cur = snaps[b]
        c = cur[cur["status"] == "CANCELLED"]
        old = c[[days_between(s, b) > 90 for s in c["status_date"]]]
        if len(old):
            problems.append(
                f"{b}: {len(old)} users cancelled more than 90 days ago, e.g. "
                f"{old.head(3).reset_index()[['user_id', 'status_date']].to_dict('records')}"
            )
        if i == 0:
            continue
        prev_b = batches[i - 1]
        prev = snaps[prev_b]
        gone = prev.loc[prev.index.difference(cur.index)]
        wrongly_gone = gone[
            (gone["status"] != "CANCELLED")
            | pd.Series([days_between(s, b) < 90 for s in gone["status_date"]], index=gone.index)
        ]
        if len(wrongly_gone):
            problems.append(
                f"{b}: {len(wrongly_gone)} users of {prev_b} missing although not cancelled 90 days "
                f"before, e.g. {wrongly_gone.head(3).reset_index()[['user_id', 'status', 'status_date']].to_dict('records')}"
            )
        new = cur.loc[cur.index.difference(prev.index)]
        late = new[new["join_date"] <= prev_b]
        if len(late):
            problems.append(
                f"{b}: {len(late)} users joined on/before {prev_b} but missing from that snapshot, e.g. "
                f"{late.head(3).reset_index()[['user_id', 'join_date']].to_dict('records')}"
            )
    assert not problems, "\n".join(problems[:20])


def test_user_identity_attributes_are_stable_and_cancellation_is_final(boss_user_all):
    r = query(
        """select user_id, count(distinct msisdn) n_msisdn, count(distinct join_date) n_join,
                  count(distinct is_rejoin) n_rejoin,
                  min(_batch) filter (where status = 'CANCELLED') first_cancelled,
                  max(_batch) filter (where status <> 'CANCELLED') last_not_cancelled,
                  count(distinct status_date) filter (where status = 'CANCELLED') n_cancel_dates
           from u group by user_id
           having n_msisdn > 1 or n_join > 1 or n_rejoin > 1 or n_cancel_dates > 1
               or first_cancelled < last_not_cancelled
           limit 5""",
        u=boss_user_all,
    )
    assert r.empty, "\n" + r.to_string()


def test_codes_reference_the_batchs_reference_data(main_run, users):
    land = main_run.landing
    problems = []
    checks = [
        ("BOSS_USER", "plan_code", "REF_PLAN", "plan_code"),
        ("BOSS_USER", "region_code", "REF_REGION", "region_code"),
        ("BOSS_VAS_ORDER", "service_code", "REF_SERVICE", "service_code"),
        ("VAS_DELIVERY", "service_code", "REF_SERVICE", "service_code"),
        ("VAS_DELIVERY", "status_code", "REF_STATUS_CODE", "status_code"),
        ("BASS_VAS_USAGE", "service_code", "REF_SERVICE", "service_code"),
        ("CDR_SMS", "service_code", "REF_SERVICE", "service_code"),
        ("CRM_COMPLAINT", "service_code", "REF_SERVICE", "service_code"),
    ]
    for b in land.batches:
        have = land.interfaces_in(b)
        for name, col, ref_name, ref_col in checks:
            if name not in have:
                continue
            bad = query(
                f"select distinct t.{col} from t anti join r on t.{col} = r.{ref_col} "
                f"where t.{col} <> '' limit 5",
                t=land.table(b, name),
                r=land.table(b, ref_name),
            )
            if len(bad):
                problems.append(f"{b}/{name}.{col} not in {ref_name}: {bad[col].tolist()}")
        plan_mismatch = query(
            "select u.user_id, u.plan_code, u.brand_code, u.pay_type, p.brand_code pb, p.pay_type pp from u "
            "join p using (plan_code) where u.brand_code <> p.brand_code or u.pay_type <> p.pay_type limit 3",
            u=land.table(b, "BOSS_USER"),
            p=land.table(b, "REF_PLAN"),
        )
        if len(plan_mismatch):
            problems.append(
                f"{b}: BOSS_USER brand/pay_type differ from the plan's: {plan_mismatch.to_dict('records')}"
            )
    for name in ("BOSS_BILL", "BASS_USAGE", "BASS_VAS_USAGE", "BOSS_VAS_ORDER"):
        bad = query(
            "select distinct t.user_id from t anti join users u on cast(t.user_id as bigint) = u.user_id "
            "limit 5",
            t=land.all_batches(name),
            users=users,
        )
        if len(bad):
            problems.append(f"{name}: user_id never in BOSS_USER: {bad['user_id'].tolist()}")
    assert not problems, "\n".join(problems[:30])


def test_complaints_are_delivered_when_created_and_again_when_closed(main_run):
    """CRM_COMPLAINT: in the batch of the day it was created and again in the batch of the day it was closed;
    one created and closed within the same period appears once."""
    land = main_run.landing
    periods = [(b, *land.period(b, "CRM_COMPLAINT")) for b in land.batches_with("CRM_COMPLAINT")]

    def batch_of(ts: str) -> str | None:
        return next((b for b, s, e in periods if s <= ts[:8] <= e), None)

    c = land.all_batches("CRM_COMPLAINT").to_pandas().sort_values(["complaint_id", "_batch"])
    problems = []
    n_two = 0
    for cid, g in c.groupby("complaint_id", sort=False):
        rows = g.to_dict("records")
        last = rows[-1]
        created_b = batch_of(last["created_at"])
        closed_b = batch_of(last["closed_at"]) if last["closed_at"] else None
        if len({r["created_at"] for r in rows}) > 1:
            problems.append(f"{cid}: created_at changes between deliveries")
        want = [b for b in (created_b, closed_b) if b is not None]
        want = sorted(set(want))
        got = [r["_batch"] for r in rows]
        if got != want:
            problems.append(
                f"{cid}: created {last['created_at']} closed {last['closed_at']!r}: delivered in {got}, "
                f"expected {want}"
            )
        elif len(rows) == 2:
            n_two += 1
            if rows[0]["closed_at"] != "":
                problems.append(
                    f"{cid}: first delivery (before closing) already has closed_at {rows[0]['closed_at']}"
                )
    assert not problems, f"{len(problems)} complaints:\n" + "\n".join(problems[:15])
    assert n_two > 0, "some complaints are closed in a later batch than the one they were created in"


def test_vas_usage_counts_at_least_the_successful_deliveries(main_run, users):
    """BASS_VAS_USAGE use_count = successful content deliveries received plus user-originated requests."""
    land = main_run.landing
    last = main_run.daily[-1]
    months = sorted(
        set(land.complete_months("VAS_DELIVERY")) & {b[:6] for b in land.batches_with("BASS_VAS_USAGE")}
    )
    assert len(months) >= 12, months
    r = query(
        f"""
        with ok as (select u.user_id, e.service_code, substr(e.d, 1, 6) mon, count(*) n
                    from (select *, substr(send_time, 1, 8) d from t) e
                    join sc on sc.status_code = e.status_code and sc.status_class = 'SUCCESS'
                    join users u on {MAP_SQL}
                    group by all),
             use as (select cast(user_id as bigint) user_id, service_code, stat_month mon,
                            sum(cast(use_count as bigint)) use_count from v group by all)
        select ok.*, use.use_count from ok left join use using (user_id, service_code, mon)
        where ok.mon in ({", ".join(f"'{m}'" for m in months)})
        order by ok.mon, ok.user_id
        """,
        t=land.all_batches("VAS_DELIVERY"),
        sc=land.table(last, "REF_STATUS_CODE"),
        v=land.all_batches("BASS_VAS_USAGE"),
        users=users,
    )
    assert len(r) > 10000, f"only {len(r)} (user, service, month) with successful deliveries"
    r = r[r["use_count"].isna() | (r["use_count"] < r["n"])]
    assert r.empty, (
        f"{len(r)} (user, service, month) with fewer uses than successful deliveries:\n"
        + r.head(10).to_string()
    )


def test_every_active_subscriber_has_a_bill_each_month(main_run):
    land = main_run.landing
    problems = []
    for b in land.batches_with("BOSS_BILL"):
        missing = query(
            "select u.user_id, u.status, u.join_date from u anti join bill using (user_id) "
            "where u.status <> 'CANCELLED'",
            u=land.table(b, "BOSS_USER"),
            bill=land.table(b, "BOSS_BILL"),
        )
        if len(missing):
            problems.append(
                f"{b}: {len(missing)} subscribers without a bill, e.g.\n{missing.head(3).to_string()}"
            )
    assert not problems, "\n".join(problems[:10])
