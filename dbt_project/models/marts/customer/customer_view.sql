{#-
    The customer view (客户视图), published: one row per subscriber and month, the user's attributes as of the
    END of the month, for every user whose status at that month end is known (listed in the month's as-of
    BOSS_USER snapshot). Four attribute groups — basic, voice, handset, data services — with the month's values,
    3-month averages and trends, and the month's bill (charges, payments, arrears, days overdue). Months without an active subscription (cancelled before the month began, still
    listed) have NULL usage; the VAS held at month end and the month's orders and cancels count for every row.
    The month in progress is there with is_month_complete false, its usage to as_of_date. Users by keyed
    pseudonym only. Incremental by month like fct_subscriber_month, and on DuckDB built one month at a time
    (materialization incremental_by_month), which keeps a full refresh of a long history within memory.
-#}
{%- set categories = ['news', 'sports', 'finance', 'entertainment', 'music', 'games', 'life', 'education'] -%}
{%- set trended = ['voice_calls', 'voice_minutes', 'sms_count', 'gprs_mb', 'vas_use_count', 'active_days'] -%}

{{ config(
    materialized=('incremental' if target.type == 'spark' else 'incremental_by_month'),
    incremental_strategy=('insert_overwrite' if target.type == 'spark' else none),
    unique_key='month_start_date',
    partition_by=(['month_start_date'] if target.type == 'spark' else none),
    build_months_from='int_customer_months',
    rebuild_all_on_new_key_from='int_users_pseudonymized',
    on_schema_change='fail'
) }}

with

subscribers as (

  select * from {{ ref('int_subscribers_at_month_end') }}
  where {{ month_being_built('month_start_date', ref('int_customer_months'), ref('int_users_pseudonymized')) }}

),

months as (

  select * from {{ ref('int_customer_months') }}
  where {{ month_being_built('month_start_date') }}

),

measured as (

  select * from {{ ref('int_subscriber_months_measured') }}
  where {{ month_being_built('month_start_date') }}

),

trended as (

  select * from {{ ref('int_subscriber_months_trended') }}
  where {{ month_being_built('month_start_date') }}

),

holdings as (

  select * from {{ ref('int_vas_holdings_at_month_end') }}
  where {{ month_being_built('month_start_date') }}

),

bills as (

  select * from {{ ref('int_bills_summarized') }}
  where {{ month_being_built('month_start_date') }}

),

pseudonyms as (

  select * from {{ ref('int_users_pseudonymized') }}

),

final as (

  select
    ---------- ids
    pseudonyms.user_pseudonym,
    subscribers.month_start_date,

    ---------- month
    subscribers.as_of_date,
    months.is_month_complete,
    months.usage_source,
    months.usage_day_count,
    subscribers.is_active_in_month,

    ---------- basic
    subscribers.user_status,
    subscribers.brand_code,
    subscribers.plan_code,
    subscribers.pay_type,
    subscribers.region_code,
    subscribers.is_capital,
    subscribers.tenure_months,
    subscribers.age_band,
    subscribers.gender,
    subscribers.is_rejoin,
    subscribers.is_dnd,
    subscribers.plan_monthly_fee_fen,

    ---------- voice
    measured.voice_calls,
    measured.voice_minutes,
    measured.outgoing_call_share,
    measured.distinct_contacts,
    measured.has_voice_detail,
    measured.off_net_call_share,
    measured.fixed_line_call_share,
    measured.roaming_calls,
    measured.international_roaming_calls,
    measured.roaming_call_share,
    measured.sms_mo,
    measured.sms_mt,

    ---------- handset
    subscribers.vendor_name,
    subscribers.model_name,
    subscribers.has_mms,
    subscribers.has_wap,
    subscribers.max_rat,
    subscribers.handset_release_year,
    subscribers.handset_age_months,
    subscribers.has_recent_handset_change,

    ---------- data services
    measured.gprs_sessions,
    measured.gprs_mb,
    subscribers.gprs_quota_mb,
    measured.gprs_quota_use_ratio,
    measured.gprs_overflow_mb,
    measured.is_gprs_overflow,
    measured.active_days,
    coalesce(holdings.held_vas_count, 0) as held_vas_count,
    coalesce(holdings.held_newspaper_count, 0) as held_newspaper_count,
    coalesce(holdings.vas_order_count, 0) as vas_order_count,
    coalesce(holdings.vas_cancel_count, 0) as vas_cancel_count,
    measured.vas_use_count,
    {% for category in categories -%}
      measured.{{ category }}_use_count,
    {% endfor -%}
    measured.vas_delivery_count,
    measured.vas_delivery_received_count,
    measured.vas_delivery_failed_count,
    measured.vas_delivery_terminal_failed_count,

    ---------- billing (the month's BOSS_BILL; NULL until the month-end batch delivers it)
    bills.user_id is not null as has_bill,
    bills.billed_fen,
    bills.paid_fen,
    bills.balance_fen,
    bills.arrears_fen,
    bills.overdue_days,
    bills.bill_paid_share,
    bills.arrears_months_3m,

    ---------- 3-month averages and trends
    {% for measure in trended -%}
      trended.{{ measure }}_3m_avg,
      trended.{{ measure }}_trend,
    {% endfor %}

    ---------- lineage
    subscribers.inputs_written_at

  from subscribers
  inner join months
    on subscribers.month_start_date = months.month_start_date
  inner join pseudonyms
    on subscribers.user_id = pseudonyms.user_id
  left join measured
    on
      subscribers.user_id = measured.user_id
      and subscribers.month_start_date = measured.month_start_date
  left join trended
    on
      subscribers.user_id = trended.user_id
      and subscribers.month_start_date = trended.month_start_date
  left join holdings
    on
      subscribers.user_id = holdings.user_id
      and subscribers.month_start_date = holdings.month_start_date
  left join bills
    on
      subscribers.user_id = bills.user_id
      and subscribers.month_start_date = bills.month_start_date

)

select * from final
