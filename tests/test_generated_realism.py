"""Acceptance: the latent behaviour shows in the observables, in loose but meaningful ranges."""

from __future__ import annotations

import itertools

from landing_reader import holdings_at, month_last, query

MAP_SQL = "u.msisdn = e.msisdn and e.d between u.held_from and u.held_to"


def test_about_two_to_six_percent_of_users_change_handset_a_month(main_run, users):
    land = main_run.landing
    months = land.complete_months("IMEI_OBS")
    assert len(months) >= 12, months
    dom = query(
        f"""
        with e as (select *, substr(last_seen, 1, 8) d, substr(imei, 1, 14) handset from t),
             m as (select u.user_id, substr(e.d, 1, 6) mon, e.handset, sum(cast(e.event_count as bigint)) n
                   from e join users u on {MAP_SQL} group by all)
        select user_id, mon, handset from m
        qualify row_number() over (partition by user_id, mon order by n desc, handset) = 1
        """,
        t=land.all_batches("IMEI_OBS"),
        users=users,
    )
    dom = dom[dom["mon"].isin(months)]
    rates = {}
    for prev, cur in itertools.pairwise(months):
        a = dom[dom["mon"] == prev].set_index("user_id")["handset"]
        b = dom[dom["mon"] == cur].set_index("user_id")["handset"]
        both = a.index.intersection(b.index)
        rates[cur] = float((a[both] != b[both]).mean())
    print("\nmonthly handset-change rate: " + ", ".join(f"{m} {r:.1%}" for m, r in rates.items()))
    mean = sum(rates.values()) / len(rates)
    assert 0.02 <= mean <= 0.06, f"mean monthly handset-change rate {mean:.2%}"
    assert all(0.01 <= r <= 0.09 for r in rates.values()), rates


def test_quick_cancellations_and_re_orders_exist(orders):
    r = query(
        """
        with c as (select o.*, lag(action) over w prev_action, lag(ts) over w prev_ts
                   from o window w as (partition by user_id, service_code order by ts, action, order_id))
        select count(*) filter (where action = '1' and action_reason <> '2') user_orders,
               count(*) filter (where action = '2' and prev_action = '1'
                                and ts - prev_ts <= interval 72 hours) quick_cancels,
               count(*) filter (where action = '1' and prev_action = '2') re_orders
        from c
        """,
        o=orders,
    ).iloc[0]
    print(f"\norders {r['user_orders']}, 72-hour cancels {r['quick_cancels']}, re-orders {r['re_orders']}")
    assert r["quick_cancels"] >= 20, str(r.to_dict())
    assert 0.01 <= r["quick_cancels"] / r["user_orders"] <= 0.5, str(r.to_dict())
    assert r["re_orders"] >= 10, str(r.to_dict())


def test_new_joiners_every_month_and_some_rejoin(main_run, users):
    first_month = main_run.history[0][:6]
    months = [b[:6] for b in main_run.landing.batches if b == month_last(b[:6])]
    joined = users[users["join_date"].str[:6] >= first_month]
    per_month = joined.groupby(joined["join_date"].str[:6]).size()
    missing = [m for m in months if per_month.get(m, 0) == 0]
    assert not missing, f"months without new joiners: {missing}; joiners per month: {per_month.to_dict()}"
    rejoin = joined["is_rejoin"].mean()
    print(f"\nnew joiners {len(joined)}, re-joining share {rejoin:.1%}")
    assert joined["is_rejoin"].sum() >= 3 and rejoin < 0.5, rejoin


def test_suspensions_and_arrears_cancellations_exist(boss_user_all):
    r = query(
        """select count(distinct user_id) filter (where status = 'SUSPENDED') suspended,
                  count(distinct user_id) filter (where status = 'CANCELLED' and cancel_reason = 'ARREARS') arrears,
                  count(distinct user_id) filter (where status = 'CANCELLED' and cancel_reason = 'USER') by_user
           from u""",
        u=boss_user_all,
    ).iloc[0]
    print(
        f"\nusers ever suspended {r['suspended']}, cancelled for arrears {r['arrears']}, by user {r['by_user']}"
    )
    assert r["suspended"] >= 10 and r["arrears"] >= 5 and r["by_user"] >= 5, str(r.to_dict())


def test_recycled_numbers_exist(users):
    n = int((users.groupby("msisdn")["user_id"].nunique() > 1).sum())
    print(f"\nnumbers held by more than one user: {n}")
    assert n >= 1


def test_mms_to_handsets_without_mms_fail_terminally(main_run):
    land = main_run.landing
    last = main_run.daily[-1]
    r = query(
        """
        with d as (select row_number() over () rid, msisdn, send_time, status_code from t where media = 'MMS'),
             o as (select msisdn, substr(imei, 1, 8) tac, first_seen, last_seen, cast(event_count as int) cnt from obs),
             cov as (select d.rid, o.tac, row_number() over (partition by d.rid order by o.cnt desc, o.tac) rn
                     from d join o on d.msisdn = o.msisdn and d.send_time between o.first_seen and o.last_seen),
             mon as (select d.rid, o.tac, row_number() over (partition by d.rid order by o.cnt desc, o.tac) rn
                     from d join o on d.msisdn = o.msisdn
                                   and substr(d.send_time, 1, 6) = substr(o.last_seen, 1, 6)),
             h as (select d.*, coalesce(c.tac, m.tac) tac from d
                   left join cov c on c.rid = d.rid and c.rn = 1 left join mon m on m.rid = d.rid and m.rn = 1)
        select coalesce(rt.mms, '?') mms, count(*) n,
               avg(case when sc.status_class = 'TERMINAL' then 1 else 0 end) terminal,
               avg(case when sc.status_class = 'SUCCESS' then 1 else 0 end) success
        from h left join rt on h.tac = rt.tac left join sc on h.status_code = sc.status_code
        group by all order by mms
        """,
        t=land.all_batches("VAS_DELIVERY"),
        obs=land.all_batches("IMEI_OBS"),
        rt=land.table(last, "REF_TAC"),
        sc=land.table(last, "REF_STATUS_CODE"),
    ).set_index("mms")
    print("\nMMS deliveries by handset MMS capability:\n" + r.to_string())
    assert "0" in r.index and "1" in r.index, r
    assert r.loc["0", "n"] >= 20, r
    assert r.loc["0", "terminal"] > 0.5, (
        f"MMS to handsets without MMS: TERMINAL share {r.loc['0', 'terminal']:.1%}"
    )
    assert r.loc["1", "success"] > 0.5, f"MMS to MMS handsets: SUCCESS share {r.loc['1', 'success']:.1%}"
    assert r.loc["1", "terminal"] < 0.1, f"MMS to MMS handsets: TERMINAL share {r.loc['1', 'terminal']:.1%}"


def test_at_least_four_mobile_newspaper_editions_are_held(orders, services):
    np_codes = set(services.loc[services["product_line"] == "MOBILE_NEWSPAPER", "service_code"])
    assert len(np_codes) >= 4, f"only {len(np_codes)} MOBILE_NEWSPAPER services in REF_SERVICE"
    held = holdings_at(orders, orders["ts"].max())
    per_edition = held[held["service_code"].isin(np_codes)].groupby("service_code").size()
    print(f"\nmobile-newspaper holders by edition at the end: {per_edition.to_dict()}")
    assert (per_edition > 0).sum() >= 4, str(per_edition.to_dict())
