"""A stand-in for `marts.customer_view` in the model tests: `scratch.customer_view_dev`, built with DuckDB SQL.

The model package reads its features from the table named by the `features_table` setting (default
`marts.customer_view`). Until that mart is part of the build, the model tests create this table in a copy
of the shared home, from the warehouse's staging and intermediate models: one row per (user_pseudonym,
month_start_date) for every user in a month-end BOSS_USER snapshot (plus the month of the daily batches in
progress, `is_month_complete` false), with the contract's guaranteed columns (has_mms, has_wap, is_dnd,
is_capital, is_rejoin, user_status, held_newspaper_count, per-category use counts, is_month_complete) and
a few honest attributes per group: basic, voice/SMS/data (BASS_USAGE), handset, data services (orders and
BASS_VAS_USAGE) and bills, for the month and as 3-month averages. Nothing here reads the truth files.

`FEATURES_TABLE` is what the tests pass as `features_table`: when `marts.customer_view` is built by
`vasmart build`, set it to "marts.customer_view" and drop the call to `build_dev_features()`.

Also a command, for larger homes built by hand: `python tests/model_features_dev.py HOME KEY`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

FEATURES_TABLE = "scratch.customer_view_dev"

CATEGORIES = ("NEWS", "SPORTS", "FINANCE", "ENTERTAINMENT", "MUSIC", "GAMES", "LIFE", "EDUCATION")


def _avg3(column: str, alias: str | None = None) -> str:
    alias = alias or f"{column}_avg3m"
    return (f"avg(coalesce({column}, 0)) over (partition by user_id order by month_start_date "
            f"range between interval 2 month preceding and current row) as {alias}")


SQL = """
create schema if not exists scratch;
create or replace table {table} as
with
delivered as (
    select distinct batch_date from staging.stg_boss__users
),
months as (
    select month_start_date, month_end_date, true as is_month_complete
    from intermediate.int_label_month_ends
    union all
    select cast(date_trunc('month', max(batch_date)) as date), max(batch_date), false
    from delivered
    having max(batch_date) <> last_day(max(batch_date))
),
regions as (
    select region_code, bool_or(is_capital) as is_capital from staging.stg_boss__regions group by region_code
),
plans as (
    select plan_code, max(monthly_fee_fen) as plan_fee_fen, max(gprs_quota_mb) as gprs_quota_mb
    from staging.stg_boss__plans group by plan_code
),
tacs as (
    select tac, arg_max(has_mms, batch_date) as has_mms, arg_max(has_wap, batch_date) as has_wap,
           arg_max(max_rat, batch_date) as max_rat, arg_max(release_year, batch_date) as release_year
    from staging.stg_dm__tacs group by tac
),
services as (
    select service_code, arg_max(content_category, batch_date) as content_category,
           arg_max(product_line, batch_date) = 'MOBILE_NEWSPAPER' as is_newspaper
    from staging.stg_vgop__services group by service_code
),
users as (
    select m.month_start_date, m.month_end_date, m.is_month_complete,
           cast(m.month_end_date + interval 1 day as timestamp) as month_end_ts,
           u.user_id, u.brand_code, u.plan_code, u.pay_type, u.region_code, u.user_status, u.is_rejoin,
           u.is_dnd, u.gender, u.join_date,
           year(m.month_end_date) - u.birth_year as age_years
    from months m join staging.stg_boss__users u on u.batch_date = m.month_end_date
),
handset_versions as (
    select users.user_id, users.month_start_date,
           arg_max(h.tac, h.valid_from) as tac,
           max(h.valid_from) as handset_since,
           count(*) filter (where h.valid_from >= cast(users.month_start_date as timestamp)) as handset_changes
    from users join intermediate.int_user_handsets_historized h
      on h.user_id = users.user_id and h.valid_from < users.month_end_ts
    group by users.user_id, users.month_start_date
),
previous_handsets as (
    select users.user_id, users.month_start_date, arg_max(h.tac, h.valid_from) as prev_tac
    from users join intermediate.int_user_handsets_historized h
      on h.user_id = users.user_id and h.valid_from < cast(users.month_start_date as timestamp)
    group by users.user_id, users.month_start_date
),
usage as (
    select user_id, cast(strptime(stat_month, '%Y%m') as date) as month_start_date,
           voice_calls, voice_moc_calls, voice_seconds, distinct_contacts, sms_mo, sms_mt, gprs_sessions,
           gprs_kb, active_days
    from staging.stg_bass__usage
),
vas_months as (
    select v.user_id, cast(strptime(v.stat_month, '%Y%m') as date) as month_start_date,
{category_sums},
        cast(sum(v.use_count) as bigint) as vas_use_count,
        cast(sum(v.fee_fen) as bigint) as vas_fee_fen,
        count(distinct v.service_code) as vas_service_count
    from staging.stg_bass__vas_usage v join services s using (service_code)
    group by all
),
orders as (
    select o.user_id, o.service_code, o.action, o.operated_at, o.action_reason, s.is_newspaper
    from staging.stg_boss__vas_orders o join services s using (service_code)
),
judged as (
    select placed.user_id, placed.operated_at, placed.is_newspaper,
           count(cancels.operated_at) > 0 as is_quick_cancelled
    from orders placed left join orders cancels
      on placed.user_id = cancels.user_id and placed.service_code = cancels.service_code
     and cancels.action = '2' and cancels.operated_at >= placed.operated_at
     and cancels.operated_at <= placed.operated_at + interval 72 hour
    where placed.action = '1' and placed.action_reason <> '2'
    group by placed.user_id, placed.service_code, placed.operated_at, placed.is_newspaper
),
order_history as (
    select users.user_id, users.month_start_date,
           count(*) filter (where j.operated_at >= cast(users.month_start_date as timestamp)) as orders_count,
           count(*) as orders_to_date,
           count(*) filter (where j.is_quick_cancelled) as quick_cancels_to_date,
           count(*) filter (where j.is_newspaper) as newspaper_orders_to_date
    from users join judged j on j.user_id = users.user_id and j.operated_at < users.month_end_ts
    group by users.user_id, users.month_start_date
),
holdings as (
    select users.user_id, users.month_start_date, o.service_code, bool_or(o.is_newspaper) as is_newspaper,
           sum(case o.action when '1' then 1 when '2' then -1 else 0 end) as net_orders
    from users join orders o on o.user_id = users.user_id and o.operated_at < users.month_end_ts
    group by users.user_id, users.month_start_date, o.service_code
),
held as (
    select user_id, month_start_date,
           count(*) filter (where net_orders > 0) as held_service_count,
           count(*) filter (where net_orders > 0 and is_newspaper) as held_newspaper_count
    from holdings group by user_id, month_start_date
),
bills as (
    select user_id, cast(strptime(bill_month, '%Y%m') as date) as month_start_date,
           billed_fen, paid_fen, balance_fen, arrears_fen, overdue_days
    from staging.stg_boss__bills
),
joined as (
    select users.*,
           regions.is_capital, plans.plan_fee_fen, plans.gprs_quota_mb,
           coalesce(t.has_mms, false) as has_mms, coalesce(t.has_wap, false) as has_wap, t.max_rat,
           t.release_year as handset_release_year,
           datediff('day', hv.handset_since, users.month_end_ts) as handset_age_days,
           coalesce(hv.handset_changes, 0) as handset_changes,
           coalesce(pt.has_mms, false) as previous_has_mms,
           datediff('month', users.join_date, users.month_end_date) as tenure_months,
           usage.voice_calls, usage.voice_moc_calls, usage.voice_seconds, usage.distinct_contacts,
           usage.sms_mo, usage.sms_mt, usage.gprs_sessions, usage.gprs_kb, usage.active_days,
{category_columns},
           coalesce(vas.vas_use_count, 0) as vas_use_count, coalesce(vas.vas_fee_fen, 0) as vas_fee_fen,
           coalesce(vas.vas_service_count, 0) as vas_service_count,
           coalesce(oh.orders_count, 0) as orders_count, coalesce(oh.orders_to_date, 0) as orders_to_date,
           coalesce(oh.quick_cancels_to_date, 0) as quick_cancels_to_date,
           coalesce(oh.newspaper_orders_to_date, 0) as newspaper_orders_to_date,
           coalesce(held.held_service_count, 0) as held_service_count,
           coalesce(held.held_newspaper_count, 0) as held_newspaper_count,
           bills.billed_fen, bills.paid_fen, bills.balance_fen, bills.arrears_fen, bills.overdue_days
    from users
    left join regions using (region_code)
    left join plans using (plan_code)
    left join handset_versions hv using (user_id, month_start_date)
    left join tacs t on t.tac = hv.tac
    left join previous_handsets ph using (user_id, month_start_date)
    left join tacs pt on pt.tac = ph.prev_tac
    left join usage using (user_id, month_start_date)
    left join vas_months vas using (user_id, month_start_date)
    left join order_history oh using (user_id, month_start_date)
    left join held using (user_id, month_start_date)
    left join bills using (user_id, month_start_date)
),
windowed as (
    select *,
           {avg_columns},
           cast(sum(case when overdue_days > 0 then 1 else 0 end) over (partition by user_id order by month_start_date
               range between interval 2 month preceding and current row) as bigint) as late_bills_3m
    from joined
)
select
    vasmart_pseudonym(cast(user_id as varchar)) as user_pseudonym,
    month_start_date,
    brand_code, plan_code, pay_type, region_code, user_status, gender,
    case when age_years is null then 'UNKNOWN' when age_years < 25 then '<25' when age_years < 35 then '25-34'
         when age_years < 45 then '35-44' when age_years < 60 then '45-59' else '60+' end as age_band,
    age_years, tenure_months, is_capital, is_rejoin, is_dnd, plan_fee_fen, gprs_quota_mb,
    has_mms, has_wap, max_rat, handset_release_year, handset_age_days, handset_changes, previous_has_mms,
    voice_calls, voice_moc_calls, voice_seconds, distinct_contacts, sms_mo, sms_mt, gprs_sessions, gprs_kb,
    active_days,
    {category_names},
    vas_use_count, vas_fee_fen, vas_service_count, orders_count, orders_to_date, quick_cancels_to_date,
    newspaper_orders_to_date, held_service_count, held_newspaper_count,
    billed_fen, paid_fen, balance_fen, arrears_fen, overdue_days, late_bills_3m,
    {avg_names},
    is_month_complete
from windowed
"""

AVERAGED = ("voice_calls", "sms_mo", "gprs_kb", "active_days", "vas_use_count", "orders_count")


def feature_sql(table: str = FEATURES_TABLE) -> str:
    """The statement that (re)creates the stand-in feature table."""
    sums = ",\n".join(f"        cast(sum(case when s.content_category = '{c}' then v.use_count else 0 end) "
                      f"as bigint) as {c.lower()}_use_count" for c in CATEGORIES)
    cols = ",\n".join(f"           coalesce(vas.{c.lower()}_use_count, 0) as {c.lower()}_use_count"
                      for c in CATEGORIES)
    averaged = list(AVERAGED) + [f"{c.lower()}_use_count" for c in CATEGORIES]
    avg_columns = ",\n           ".join(_avg3(c) for c in averaged)
    return SQL.format(table=table, category_sums=sums, category_columns=cols, avg_columns=avg_columns,
                      category_names=", ".join(f"{c.lower()}_use_count" for c in CATEGORIES),
                      avg_names=", ".join(f"{c}_avg3m" for c in averaged))


def build_dev_features(warehouse: Path, key: str, table: str = FEATURES_TABLE) -> int:
    """Create the stand-in feature table in `warehouse` (pseudonyms with `key`); returns its row count."""
    from vasmart.dbt_plugin import register

    con = duckdb.connect(str(warehouse))
    try:
        register(con, key.encode("utf-8"))
        con.execute(feature_sql(table))
        return con.execute(f"select count(*) from {table}").fetchone()[0]
    finally:
        con.close()


if __name__ == "__main__":
    home, secret = Path(sys.argv[1]), sys.argv[2]
    print(build_dev_features(home / "warehouse.duckdb", secret), "rows")
