"""The service-health (业务健康度) marts on the shared pipeline home, against recomputations from the raw zone.

The marts are fct_service_health_daily / _monthly (orders and cancels by channel, quick cancels, deliveries by
media, complaints and handling time, info fee, sudden changes), fct_sticky_service_audit and
fct_sticky_subscription_audit (the sticky-service audit of interface spec §5) and fct_hall_staff_orders. Every
number compared here is recomputed with DuckDB SQL straight from the lake's Parquet partitions
(`$HOME/lake/raw/<INTERFACE>/batch_date=*/*.parquet`), not from the dbt models: orders are paired with their
next cancel, complaints deduplicated and resolved to the holder of the number from the BOSS_USER snapshots,
deliveries classed with REF_STATUS_CODE, "charged" taken from what BASS_VAS_USAGE billed.

The generator (vasmart/synth/simulate.py) has a few clerks push sticky services on customers who did not ask
for them: those HALL orders carry staff ids from S900000 up and draw UNWANTED_ORDER complaints, quick cancels
and silent subscriptions. The hall and staff mart must show them with a higher audit-flagged share.
"""

from __future__ import annotations

import json
import re
import statistics

import duckdb
import pytest

MARTS = ["fct_service_health_daily", "fct_service_health_monthly", "fct_sticky_service_audit",
         "fct_sticky_subscription_audit", "fct_hall_staff_orders"]
INTERMEDIATE = ["int_vas_orders_paired", "int_crm_complaints_attributed", "int_vas_deliveries_aggregated",
                "int_sticky_subscriptions_audited", "int_service_health_days_aggregated",
                "int_service_health_days_compared", "int_service_health_months_aggregated",
                "int_service_health_months_compared", "int_hall_orders_attributed"]
PERSONAL = {"msisdn", "other_party", "imei", "imeisv", "customer_name", "cust_name", "complaint_text", "content",
            "user_id"}
CHANNELS = {"SMS": "sms", "WAP": "wap", "WEB": "web", "10086": "10086", "HALL": "hall", "USSD": "ussd"}
MEDIA = {"SMS": "sms", "MMS": "mms", "WAP": "wap"}
RULE_FLAGS = ["is_silent", "is_quick_cancelled", "has_unwanted_order_complaint", "is_low_usage_charged"]
PUSHING_STAFF = re.compile(r"^S9\d{5}$")  # generator: 900_000 + service * 10 + region % 3 for pushed orders


def raw(home, interface: str) -> str:
    """The raw zone's partitions of one interface, as the dbt sources read them."""
    return (f"read_parquet('{home}/lake/raw/{interface}/batch_date=*/*.parquet', hive_partitioning = true, "
            "hive_types_autocast = false)")


@pytest.fixture(scope="module")
def con(pipeline):
    connection = duckdb.connect(str(pipeline.warehouse), read_only=True)
    yield connection
    connection.close()


def _orders_paired_sql(home) -> str:
    """Orders (action 1) with the next cancel of the same user and service, and the go-live synchronisation flag."""
    return f"""
        with events as (
            select order_id, user_id, service_code, action, action_reason, channel, op_time, hall_id, staff_id,
                   row_number() over (partition by user_id, service_code order by op_time, action, order_id) as n
            from {raw(home, 'BOSS_VAS_ORDER')}
        ),
        cancels as (select user_id, service_code, n, op_time from events where action = '2')
        select o.order_id, o.user_id, o.service_code, o.channel, o.hall_id, o.staff_id, o.op_time as ordered_at,
               (select min(c.op_time) from cancels c
                where c.user_id = o.user_id and c.service_code = o.service_code and c.n > o.n) as cancelled_at,
               o.action_reason = '2' and o.op_time = (select min(op_time) from events) as is_sync
        from events o where o.action = '1'"""


def _holdings_sql(home) -> str:
    """Which user held which MSISDN when, from the BOSS_USER snapshots (join date to the day after cancelling)."""
    return f"""
        with latest as (
            select msisdn, user_id, join_date, status, status_date,
                   row_number() over (partition by msisdn, user_id order by batch_date desc) as r
            from {raw(home, 'BOSS_USER')}
        )
        select msisdn, user_id, cast(join_date as timestamp) as valid_from,
               case when status = 'CANCELLED' then cast(status_date + 1 as timestamp) end as valid_to
        from latest where r = 1"""


def _complaints_sql(home) -> str:
    """One row per complaint: its latest record, the holder of the number at creation, handling minutes."""
    return f"""
        with records as (
            select *, row_number() over (
                partition by complaint_id order by batch_date desc, closed_at is null, _line_number) as r
            from {raw(home, 'CRM_COMPLAINT')}
        ),
        holdings as ({_holdings_sql(home)})
        select c.complaint_id, h.user_id, c.service_code, c.category, c.created_at, c.closed_at,
               date_diff('second', c.created_at, c.closed_at) / 60.0 as handling_minutes
        from records c
        left join holdings h on c.msisdn = h.msisdn and c.created_at >= h.valid_from
            and (h.valid_to is null or c.created_at < h.valid_to)
        where c.r = 1"""


# ------------------------------------------------------------------------------------------------ the build
def test_models_built_public_contracted_described_and_tested(pipeline, con):
    manifest = pipeline.manifest
    results = json.loads((pipeline.home / "dbt" / "target" / "run_results.json").read_text())["results"]
    statuses = {r["unique_id"]: r["status"] for r in results}
    for model in MARTS + INTERMEDIATE:
        uid = f"model.vasmart.{model}"
        assert statuses.get(uid) == "success", (model, statuses.get(uid))
        node = manifest["nodes"][uid]
        schema = "marts" if model in MARTS else "intermediate"
        assert node["schema"] == schema and node["config"]["materialized"] == "table", model
        assert node["description"].strip() and "{{" not in node["description"], model
        actual = [r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, model]).fetchall()]
        assert set(actual) == set(node["columns"]), (model, set(actual) ^ set(node["columns"]))
        assert all(c["description"].strip() and "{{" not in c["description"] for c in node["columns"].values()), model
        if model in MARTS:
            assert node["access"] == "public" and node["contract"]["enforced"] is True, model
            assert all(c["data_type"] for c in node["columns"].values()), model
            assert not set(actual) & PERSONAL, model
    tests = [r for uid, r in statuses.items() if uid.startswith(("test.", "unit_test."))
             and any(m in uid for m in MARTS + INTERMEDIATE)]
    assert len(tests) > 40 and set(tests) == {"pass"}, sorted(set(tests))


def test_unit_tests_cover_every_audit_rule_both_ways(pipeline):
    """Each audit rule is expected true in some unit-test row and false in another; the other logic has its tests."""
    unit_tests = [t for t in pipeline.manifest["unit_tests"].values()]
    audit_rows = [row for t in unit_tests if t["model"] == "int_sticky_subscriptions_audited"
                  for row in t["expect"]["rows"]]
    for flag in RULE_FLAGS + ["is_audit_flagged"]:
        assert {row[flag] for row in audit_rows if flag in row} == {True, False}, flag
    tested = {t["model"] for t in unit_tests}
    assert {"int_vas_orders_paired", "int_crm_complaints_attributed", "int_service_health_days_aggregated",
            "int_service_health_days_compared", "int_service_health_months_aggregated",
            "int_hall_orders_attributed"} <= tested


# ------------------------------------------------------------------------------------------------ daily health
def test_orders_and_cancels_by_channel_per_service_day(pipeline, con):
    home = pipeline.home
    expected = {}
    rows = con.execute(f"""
        with orders as ({_orders_paired_sql(home)})
        select service_code, cast(ordered_at as date), channel, count(*), 'order'
        from orders where not is_sync group by all
        union all
        select service_code, cast(op_time as date), channel, count(*), 'cancel'
        from {raw(home, 'BOSS_VAS_ORDER')} where action = '2' group by all""").fetchall()
    for service, day, channel, n, kind in rows:
        expected[(service, day, f"{kind}_count_{CHANNELS[channel]}")] = n
    columns = [f"{kind}_count_{c}" for kind in ("order", "cancel") for c in CHANNELS.values()]
    mart = con.execute(f"select service_code, activity_date, order_count, cancel_count, {', '.join(columns)} "
                       "from marts.fct_service_health_daily").fetchall()
    actual = {}
    for service, day, orders, cancels, *counts in mart:
        assert orders == sum(counts[:6]) and cancels == sum(counts[6:]), (service, day)
        actual.update({(service, day, c): n for c, n in zip(columns, counts, strict=True) if n})
    assert len(expected) > 1000
    assert actual == expected, {k: (expected.get(k), actual.get(k)) for k in expected.keys() ^ actual.keys()}


def test_quick_cancel_rate_per_service_day(pipeline, con):
    home = pipeline.home
    expected = {(s, d): (n, q) for s, d, n, q in con.execute(f"""
        with orders as ({_orders_paired_sql(home)})
        select service_code, cast(ordered_at as date), count(*),
               count(*) filter (where cancelled_at <= ordered_at + interval 72 hour)
        from orders where not is_sync group by all""").fetchall()}
    actual = {(s, d): (n, q, r) for s, d, n, q, r in con.execute(
        "select service_code, activity_date, order_count, quick_cancel_count, quick_cancel_rate "
        "from marts.fct_service_health_daily where order_count > 0").fetchall()}
    assert actual.keys() == expected.keys()
    for key, (n, q) in expected.items():
        assert actual[key][:2] == (n, q), key
        assert actual[key][2] == pytest.approx(q / n), key
    total_orders = sum(n for n, _ in expected.values())
    assert 0.05 < sum(q for _, q in expected.values()) / total_orders < 0.6


def test_active_subscribers_at_each_month_end(pipeline, con):
    home = pipeline.home
    month_ends = [r[0] for r in con.execute(
        "select distinct last_day(activity_date) from marts.fct_service_health_daily "
        "where last_day(activity_date) <= (select max(activity_date) from marts.fct_service_health_daily)"
    ).fetchall()]
    expected = {(s, d): n for s, d, n in con.execute(f"""
        with orders as ({_orders_paired_sql(home)}), ends as (select unnest(?) as d)
        select service_code, ends.d, count(*) from orders cross join ends
        where ordered_at < ends.d + 1 and (cancelled_at is null or cancelled_at >= ends.d + 1)
        group by all""", [month_ends]).fetchall()}
    actual = {(s, d): n for s, d, n in con.execute(
        "select service_code, activity_date, active_subscriber_count from marts.fct_service_health_daily "
        "where activity_date in (select unnest(?)) and active_subscriber_count > 0", [month_ends]).fetchall()}
    assert len(month_ends) >= 12 and len(expected) > 100
    assert actual == expected


def test_delivery_success_rate_by_media(pipeline, con):
    home = pipeline.home
    expected = {}
    for service, day, media, n, ok, terminal in con.execute(f"""
        with codes as (
            select status_code, status_class from {raw(home, 'REF_STATUS_CODE')}
            where batch_date = (select max(batch_date) from {raw(home, 'REF_STATUS_CODE')}))
        select d.service_code, cast(d.send_time as date), d.media, count(*),
               count(*) filter (where c.status_class = 'SUCCESS'), count(*) filter (where c.status_class = 'TERMINAL')
        from {raw(home, 'VAS_DELIVERY')} d left join codes c using (status_code) group by all""").fetchall():
        expected[(service, day, media)] = (n, ok)
        expected.setdefault((service, day, "terminal"), 0)
        expected[(service, day, "terminal")] += terminal
    media_columns = ", ".join(f"delivery_count_{m}, delivery_success_count_{m}, delivery_success_rate_{m}"
                              for m in MEDIA.values())
    rows = con.execute(f"select service_code, activity_date, terminal_failure_count, terminal_failure_rate, "
                       f"delivery_count, {media_columns} from marts.fct_service_health_daily "
                       "where delivery_count > 0").fetchall()
    actual = {}
    for service, day, terminal, terminal_rate, total, *per_media in rows:
        assert terminal_rate == pytest.approx(terminal / total)
        actual[(service, day, "terminal")] = terminal
        for i, media in enumerate(MEDIA):
            n, ok, rate = per_media[3 * i: 3 * i + 3]
            if n:
                actual[(service, day, media)] = (n, ok)
                assert rate == pytest.approx(ok / n)
            else:
                assert rate is None
    assert len(expected) > 1000 and any(k[2] == "MMS" for k in expected)
    assert actual == expected, {k: (expected.get(k), actual.get(k)) for k in expected.keys() ^ actual.keys()}
    # terminal failures concentrate on MMS (handsets without MMS), as the generator makes them
    mms = con.execute("select sum(terminal_failure_count) filter (where service_media = 'MMS'), "
                      "sum(terminal_failure_count) from marts.fct_service_health_daily").fetchone()
    assert mms[1] > 0 and mms[0] == mms[1]


def test_complaint_counts_and_handling_time(pipeline, con):
    home = pipeline.home
    complaints = con.execute(f"""
        select service_code, cast(created_at as date), category, handling_minutes
        from ({_complaints_sql(home)}) where service_code is not null""").fetchall()
    by_day: dict[tuple, list] = {}
    by_month: dict[tuple, list] = {}
    for service, day, category, minutes in complaints:
        by_day.setdefault((service, day), []).append((category, minutes))
        by_month.setdefault((service, day.replace(day=1)), []).append(minutes)
    daily = {(s, d): row for s, d, *row in con.execute(
        "select service_code, activity_date, complaint_count, unwanted_order_complaint_count, "
        "closed_complaint_count, mean_handling_minutes from marts.fct_service_health_daily "
        "where complaint_count > 0").fetchall()}
    assert daily.keys() == by_day.keys() and len(by_day) > 100
    for key, items in by_day.items():
        closed = [m for _, m in items if m is not None]
        count, unwanted, n_closed, mean = daily[key]
        assert (count, unwanted, n_closed) == (len(items), sum(c == "UNWANTED_ORDER" for c, _ in items), len(closed))
        assert mean == (pytest.approx(statistics.fmean(closed)) if closed else None), key
    monthly = {(s, m): row for s, m, *row in con.execute(
        "select service_code, month_start_date, complaint_count, mean_handling_minutes, median_handling_minutes "
        "from marts.fct_service_health_monthly where complaint_count > 0").fetchall()}
    assert monthly.keys() == by_month.keys()
    for key, minutes in by_month.items():
        closed = [m for m in minutes if m is not None]
        assert monthly[key][0] == len(minutes)
        assert monthly[key][1] == pytest.approx(statistics.fmean(closed))
        assert monthly[key][2] == pytest.approx(statistics.median(closed))
    overall = [m for _, _, _, m in complaints if m is not None]
    print(f"complaint handling: mean {statistics.fmean(overall):.0f} min, median {statistics.median(overall):.0f} min "
          f"over {len(overall)} closed complaints about a service")


def test_monthly_info_fee_equals_what_bass_billed(pipeline, con):
    home = pipeline.home
    billed = {(s, m): fee for s, m, fee in con.execute(f"""
        with monthly as (select distinct service_code from {raw(home, 'REF_SERVICE')} where fee_type = '03')
        select service_code, strptime(stat_month || '01', '%Y%m%d')::date, sum(fee_fen)
        from {raw(home, 'BASS_VAS_USAGE')} join monthly using (service_code) group by all having sum(fee_fen) > 0
        """).fetchall()}
    mart = {(s, m): fee for s, m, fee in con.execute(
        "select service_code, month_start_date, info_fee_charged_fen from marts.fct_service_health_monthly "
        "where is_month_complete and info_fee_charged_fen > 0").fetchall()}
    months = {m for _, m in billed}
    assert len(months) >= 12
    assert {k: v for k, v in mart.items() if k[1] in months} == billed


# ------------------------------------------------------------------------------------------------ the audit
def _independent_audit(con, home) -> dict[tuple, dict]:
    """Per sticky service and complete month: the billed subscribers and each rule's flagged subscribers."""
    rows = con.execute(f"""
        with orders as ({_orders_paired_sql(home)}),
        services as (
            select service_code from {raw(home, 'REF_SERVICE')}
            where batch_date = (select max(batch_date) from {raw(home, 'REF_SERVICE')})
              and is_sticky = 1 and fee_type = '03'),
        months as (select distinct strptime(stat_month || '01', '%Y%m%d') as m from {raw(home, 'BASS_VAS_USAGE')}),
        -- the billed subscribers: held at 00:00:00 of day 1, or ordered during the month
        held as (
            select o.user_id, o.service_code, months.m, max(o.ordered_at) as held_order_at
            from orders o join services using (service_code) cross join months
            where o.ordered_at <= months.m and (o.cancelled_at is null or o.cancelled_at > months.m)
            group by all),
        ordered as (
            select o.user_id, o.service_code, months.m, count(*) filter (where not o.is_sync) as n_orders,
                   count(*) filter (where not o.is_sync and o.cancelled_at <= o.ordered_at + interval 72 hour) as n_quick
            from orders o join services using (service_code) join months
                on o.ordered_at >= months.m and o.ordered_at < months.m + interval 1 month
            group by all),
        population as (
            select coalesce(h.user_id, o.user_id) as user_id, coalesce(h.service_code, o.service_code) as service_code,
                   coalesce(h.m, o.m) as m, h.held_order_at, coalesce(o.n_orders, 0) as n_orders,
                   coalesce(o.n_quick, 0) as n_quick
            from held h full join ordered o using (user_id, service_code, m)),
        bass as (
            select user_id, service_code, strptime(stat_month || '01', '%Y%m%d') as m, use_count, fee_fen
            from {raw(home, 'BASS_VAS_USAGE')}),
        complaints as ({_complaints_sql(home)}),
        unwanted as (
            select distinct user_id, service_code, date_trunc('month', created_at) as m
            from complaints where category = 'UNWANTED_ORDER'),
        judged as (
            select p.*, coalesce(b.use_count, 0) as use_count, coalesce(b.fee_fen, 0) > 0 as is_charged,
                   -- use since the order: a subscription held at the start counts from its order's month
                   coalesce((select sum(b2.use_count) from bass b2
                             where b2.user_id = p.user_id and b2.service_code = p.service_code and b2.m <= p.m
                               and b2.m >= case when p.n_orders = 0 then date_trunc('month', p.held_order_at)
                                                else p.m end), 0) as use_since,
                   u.user_id is not null as complained
            from population p
            left join bass b using (user_id, service_code, m)
            left join unwanted u using (user_id, service_code, m)),
        thresholds as (
            select *, greatest(1, 0.25 * median(case when is_charged then use_count end)
                                   over (partition by service_code, m)) as threshold
            from judged)
        select service_code, cast(m as date), count(*),
               count(*) filter (where use_since = 0),
               count(*) filter (where n_quick > 0),
               count(*) filter (where complained),
               count(*) filter (where is_charged and use_count < threshold),
               count(*) filter (where use_since = 0 or n_quick > 0 or complained
                                or (is_charged and use_count < threshold))
        from thresholds group by all""").fetchall()
    keys = ["audited", *RULE_FLAGS, "flagged"]
    return {(s, m): dict(zip(keys, counts, strict=True)) for s, m, *counts in rows}


def test_audit_rate_per_sticky_service_month(pipeline, con):
    """The billed subscribers, each rule's flagged subscribers and the audit rate, for every complete month.

    "Since the order" (the silent rule) is taken as: from the month of the order of the subscription held at
    the start of the month, or the month itself when the subscriber ordered during it.
    """
    expected = _independent_audit(con, pipeline.home)
    mart = {(s, m): dict(zip(["audited", *RULE_FLAGS, "flagged", "rate", "met"], row, strict=True))
            for s, m, *row in con.execute("""
        select service_code, month_start_date, audited_subscriber_count, silent_subscriber_count,
               quick_cancelled_subscriber_count, unwanted_order_complaint_subscriber_count,
               low_usage_charged_subscriber_count, audit_flagged_subscriber_count, audit_rate, is_audit_target_met
        from marts.fct_sticky_service_audit where usage_source = 'BASS'""").fetchall()}
    assert mart.keys() == expected.keys() and len(expected) >= 12 * 8
    for key, exp in expected.items():
        got = mart[key]
        assert {k: got[k] for k in exp} == exp, key
        assert got["rate"] == pytest.approx(got["flagged"] / got["audited"])
        assert got["met"] == (got["rate"] < 0.10)
    by_service: dict[str, list] = {}
    for (service, _), got in sorted(mart.items()):
        by_service.setdefault(service, []).append(got["rate"])
    print("audit rate per sticky service (complete months, min-max): " + ", ".join(
        f"{s} {min(r):.1%}-{max(r):.1%}" for s, r in sorted(by_service.items())))


def test_subscription_audit_adds_up_and_is_pseudonymous(pipeline, con):
    sums = con.execute("""
        select s.service_code, s.month_start_date, s.audited_subscriber_count, s.audit_flagged_subscriber_count,
               count(a.user_pseudonym), count(*) filter (where a.is_audit_flagged),
               count(*) filter (where a.is_audit_flagged <> (a.is_silent or a.is_quick_cancelled
                                or a.has_unwanted_order_complaint or a.is_low_usage_charged))
        from marts.fct_sticky_service_audit s
        left join marts.fct_sticky_subscription_audit a using (service_code, month_start_date)
        group by all""").fetchall()
    assert sums and all(r[2] == r[4] and r[3] == r[5] and r[6] == 0 for r in sums)
    pseudonyms = {r[0] for r in con.execute(
        "select distinct user_pseudonym from marts.fct_sticky_subscription_audit").fetchall()}
    assert all(re.fullmatch(r"[0-9a-f]{64}", p) for p in pseudonyms)
    users = [r[0] for r in con.execute(
        f"select distinct user_id from {raw(pipeline.home, 'BASS_VAS_USAGE')} where service_code = 'TQYB'"
    ).fetchall()]
    assert len({pipeline.pseudonym(u) for u in users} & pseudonyms) > 0.9 * len(users)
    for mart in MARTS:
        text_columns = [r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_schema = 'marts' and table_name = ? "
            "and data_type = 'VARCHAR'", [mart]).fetchall()]
        for column in text_columns:
            shaped = con.execute(f"select count(*) from marts.{mart} where regexp_matches({column}, '^1[0-9]{{10}}$') "
                                 f"or regexp_matches({column}, '^[0-9]{{15,16}}$')").fetchone()[0]
            assert shaped == 0, (mart, column)


# ------------------------------------------------------------------------------------------------ halls and staff
def test_hall_staff_orders_match_the_raw_orders(pipeline, con):
    home = pipeline.home
    expected = {(m, h, s): (n, q) for m, h, s, n, q in con.execute(f"""
        with orders as ({_orders_paired_sql(home)})
        select cast(date_trunc('month', ordered_at) as date), hall_id, staff_id, count(*),
               count(*) filter (where cancelled_at <= ordered_at + interval 72 hour)
        from orders where channel = 'HALL' and not is_sync group by all""").fetchall()}
    actual = {(m, h, s): (n, q) for m, h, s, n, q in con.execute(
        "select month_start_date, hall_id, staff_id, order_count, quick_cancel_count "
        "from marts.fct_hall_staff_orders").fetchall()}
    assert len(expected) > 100 and actual == expected


def test_pushing_staff_stand_out_in_audit_flags_and_complaints(pipeline, con):
    rows = con.execute("""
        select staff_id, sum(order_count), sum(quick_cancel_count), sum(unwanted_order_complaint_count),
               sum(audited_order_count), sum(audit_flagged_order_count)
        from marts.fct_hall_staff_orders group by staff_id""").fetchall()
    groups = {True: [0, 0, 0, 0, 0], False: [0, 0, 0, 0, 0]}
    for staff, *counts in rows:
        totals = groups[bool(PUSHING_STAFF.match(staff))]
        for i, n in enumerate(counts):
            totals[i] += n
    pushing, others = groups[True], groups[False]
    assert pushing[3] > 50 and others[3] > 200, (pushing, others)
    share = {k: g[4] / g[3] for k, g in groups.items()}
    complaints = {k: g[2] / g[0] for k, g in groups.items()}
    quick = {k: g[1] / g[0] for k, g in groups.items()}
    print(f"HALL orders: pushing staff audit-flagged share {share[True]:.1%} vs {share[False]:.1%}, "
          f"unwanted-order complaints per order {complaints[True]:.3f} vs {complaints[False]:.3f}, "
          f"quick cancels {quick[True]:.1%} vs {quick[False]:.1%}")
    assert share[True] > share[False] + 0.15
    assert complaints[True] > 5 * complaints[False]
    assert quick[True] > quick[False]


# ------------------------------------------------------------------------------------------------ sudden changes
def _compare(values: list[tuple], trailing: int, min_history: int, k: float, min_volume: float, kind: str) -> dict:
    """The documented rule, in Python, for one series of (period number, value, volume) in period order.

    Returns {period: (trailing median, deviation scale, flag)} for the periods with a value.
    """
    out = {}
    for i, (period, value, volume) in enumerate(values):
        if value is None:
            continue
        window = [v for p, v, _ in values[max(0, i - trailing): i] if v is not None and period - p <= trailing]
        if not window:  # no trailing value: no median; a count keeps its floor of 1
            out[period] = (None, 1.0 if kind == "count" else None, False)
            continue
        m = statistics.median(window)
        mad = statistics.median([abs(v - m) for v in window])
        if kind == "count":
            floor, vol = max(m, 1) ** 0.5, max(value, m)
        else:
            p = (m * volume + 1) / (volume + 2)
            floor, vol = (p * (1 - p) / volume) ** 0.5, volume
        scale = max(1.4826 * mad, floor)
        out[period] = (m, scale, len(window) >= min_history and vol >= min_volume and abs(value - m) > k * scale)
    return out


@pytest.mark.parametrize("grain, measure, kind, volume", [
    ("daily", "order_count", "count", "order_count"),
    ("daily", "delivery_success_rate", "rate", "delivery_count"),
    ("daily", "terminal_failure_rate", "rate", "delivery_count"),
    ("monthly", "delivery_success_rate", "rate", "delivery_count"),
    ("monthly", "quick_cancel_rate", "rate", "order_count"),
])
def test_sudden_change_rule_recomputed_from_the_mart_series(con, grain, measure, kind, volume):
    """Trailing median, robust deviation and flag of a measure, recomputed in Python from the mart's own series."""
    period, unit, trailing, min_history = (("activity_date", "day", 28, 14) if grain == "daily"
                                           else ("month_start_date", "month", 6, 3))
    complete = "true" if grain == "daily" else "is_month_complete"
    rows = con.execute(f"""
        select service_code, date_diff('{unit}', date '2000-01-01', {period}), case when {complete} then {measure} end,
               {volume}, coalesce(sudden_change_measures, '')
        from marts.fct_service_health_{grain} order by service_code, {period}""").fetchall()
    compared = {(s, n): (m, scale, flag) for s, n, m, scale, flag in con.execute(f"""
        select service_code, date_diff('{unit}', date '2000-01-01', {period}), trailing_median, deviation_scale,
               is_sudden_change
        from intermediate.int_service_health_{'days' if grain == 'daily' else 'months'}_compared
        where measure_name = ?""", [measure]).fetchall()}
    series: dict[str, list] = {}
    for service, n, value, vol, measures in rows:
        series.setdefault(service, []).append((n, value, vol, measure in measures.split(",")))
    expected = {}
    for service, points in series.items():
        result = _compare([(n, v, vol) for n, v, vol, _ in points], trailing, min_history, 4, 30, kind)
        for n, _, _, in_mart in points:
            if n in result:
                expected[(service, n)] = result[n]
                assert in_mart == result[n][2], (service, n)
    assert expected.keys() == compared.keys() and len(expected) > (1000 if grain == "daily" else 50)
    for key, (m, scale, flag) in expected.items():
        got = compared[key]
        assert (got[0], got[1]) == ((None if m is None else pytest.approx(m)), (None if scale is None else pytest.approx(scale)))
        assert got[2] == flag, (key, got, m, scale)
    print(f"{grain} {measure}: {sum(f for _, _, f in expected.values())} sudden changes in {len(expected)} periods")
