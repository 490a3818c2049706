{#-
    Service health per service and calendar month: the daily measures (int_service_health_days_aggregated)
    added up over the month, with what only a month has - the billed and charged subscribers and the info fee
    of the Monternet rule (int_vas_order_charges_decided, by charge month), the median complaint handling
    time, and, for the services sticky that month, the audit rate (int_sticky_subscriptions_audited).

    Active subscribers: held at the end of the month's last day in the data (month end, or the latest batch's
    date for the month in progress) and the average over the month's days; complaints per 10,000 subscribers
    divide by that average. Rates are recomputed from the month's sums. No subscriber-level data.
-#}
{{ config(materialized='table') }}

{%- set channels = ['sms', 'wap', 'web', '10086', 'hall', 'ussd'] %}
{%- set media_types = ['sms', 'mms', 'wap'] %}
{%- set audit_target_rate = var('sticky_audit_target_rate', 0.10) %}

with

days as (

  select * from {{ ref('int_service_health_days_aggregated') }}

),

charges as (

  select * from {{ ref('int_vas_order_charges_decided') }}

),

complaints as (

  select * from {{ ref('int_crm_complaints_attributed') }}

),

audits as (

  select * from {{ ref('int_sticky_subscriptions_audited') }}

),

covered as (

  select max(activity_date) as covered_through_date from days

),

month_days as (

  select
    *,
    cast({{ dbt.date_trunc('month', 'activity_date') }} as date) as month_start_date,
    row_number() over (
      partition by service_code, {{ dbt.date_trunc('month', 'activity_date') }}
      order by activity_date desc
    ) as recency

  from days

),

month_sums as (

  select
    service_code,
    month_start_date,
    count(*) as day_count,
    max(case when recency = 1 then active_subscriber_count end) as active_subscriber_count,
    avg(cast(active_subscriber_count as double)) as mean_active_subscriber_count,
    sum(order_count) as order_count,
    {%- for name in channels %}
      sum(order_count_{{ name }}) as order_count_{{ name }},
    {%- endfor %}
    sum(cancel_count) as cancel_count,
    {%- for name in channels %}
      sum(cancel_count_{{ name }}) as cancel_count_{{ name }},
    {%- endfor %}
    sum(quick_cancel_count) as quick_cancel_count,
    sum(delivery_count) as delivery_count,
    sum(delivery_success_count) as delivery_success_count,
    sum(terminal_failure_count) as terminal_failure_count,
    {%- for name in media_types %}
      sum(delivery_count_{{ name }}) as delivery_count_{{ name }},
      sum(delivery_success_count_{{ name }}) as delivery_success_count_{{ name }},
    {%- endfor %}
    sum(complaint_count) as complaint_count,
    sum(unwanted_order_complaint_count) as unwanted_order_complaint_count,
    sum(closed_complaint_count) as closed_complaint_count,
    sum(handling_minutes_total) as handling_minutes_total

  from month_days
  group by service_code, month_start_date

),

month_charges as (

  select
    service_code,
    cast(month_started_at as date) as month_start_date,
    count(*) as billed_subscriber_count,
    sum(case when is_charged then 1 else 0 end) as charged_subscriber_count,
    sum(charged_fen) as info_fee_charged_fen

  from charges
  group by service_code, cast(month_started_at as date)

),

month_handling as (

  select
    service_code,
    cast({{ dbt.date_trunc('month', 'created_at') }} as date) as month_start_date,
    {{ vasmart.median('handling_minutes') }} as median_handling_minutes

  from complaints
  where service_code is not null and is_closed
  group by service_code, cast({{ dbt.date_trunc('month', 'created_at') }} as date)

),

month_audits as (

  select
    service_code,
    month_start_date,
    count(*) as audited_subscriber_count,
    sum(case when is_audit_flagged then 1 else 0 end) as audit_flagged_subscriber_count

  from audits
  group by service_code, month_start_date

),

final as (

  select
    ---------- ids
    month_sums.service_code,
    month_sums.month_start_date,

    ---------- counts: subscribers and the info fee
    cast(month_sums.active_subscriber_count as bigint) as active_subscriber_count,
    month_sums.mean_active_subscriber_count,
    cast(coalesce(month_charges.billed_subscriber_count, 0) as bigint) as billed_subscriber_count,
    cast(coalesce(month_charges.charged_subscriber_count, 0) as bigint) as charged_subscriber_count,
    cast(coalesce(month_charges.info_fee_charged_fen, 0) as bigint) as info_fee_charged_fen,

    ---------- counts: orders and cancellations
    cast(month_sums.order_count as bigint) as order_count,
    {%- for name in channels %}
      cast(month_sums.order_count_{{ name }} as bigint) as order_count_{{ name }},
    {%- endfor %}
    cast(month_sums.cancel_count as bigint) as cancel_count,
    {%- for name in channels %}
      cast(month_sums.cancel_count_{{ name }} as bigint) as cancel_count_{{ name }},
    {%- endfor %}
    cast(month_sums.quick_cancel_count as bigint) as quick_cancel_count,

    ---------- counts: deliveries
    cast(month_sums.delivery_count as bigint) as delivery_count,
    cast(month_sums.delivery_success_count as bigint) as delivery_success_count,
    cast(month_sums.terminal_failure_count as bigint) as terminal_failure_count,
    {%- for name in media_types %}
      cast(month_sums.delivery_count_{{ name }} as bigint) as delivery_count_{{ name }},
      cast(month_sums.delivery_success_count_{{ name }} as bigint) as delivery_success_count_{{ name }},
    {%- endfor %}

    ---------- counts: complaints
    cast(month_sums.complaint_count as bigint) as complaint_count,
    cast(month_sums.unwanted_order_complaint_count as bigint) as unwanted_order_complaint_count,
    cast(month_sums.closed_complaint_count as bigint) as closed_complaint_count,
    cast(month_sums.handling_minutes_total as double) as handling_minutes_total,

    ---------- counts: the sticky-service audit (NULL when the service is not sticky that month)
    cast(month_audits.audited_subscriber_count as bigint) as audited_subscriber_count,
    cast(month_audits.audit_flagged_subscriber_count as bigint) as audit_flagged_subscriber_count,

    ---------- rates
    cast(month_sums.quick_cancel_count as double) / nullif(month_sums.order_count, 0) as quick_cancel_rate,
    cast(month_sums.delivery_success_count as double) / nullif(month_sums.delivery_count, 0)
      as delivery_success_rate,
    cast(month_sums.terminal_failure_count as double) / nullif(month_sums.delivery_count, 0)
      as terminal_failure_rate,
    {%- for name in media_types %}
      cast(month_sums.delivery_success_count_{{ name }} as double) / nullif(month_sums.delivery_count_{{ name }}, 0)
        as delivery_success_rate_{{ name }},
    {%- endfor %}
    cast(month_sums.complaint_count as double) * 10000 / nullif(month_sums.mean_active_subscriber_count, 0)
      as complaints_per_10k_subscribers,
    cast(month_sums.handling_minutes_total as double) / nullif(month_sums.closed_complaint_count, 0) as mean_handling_minutes,
    cast(month_handling.median_handling_minutes as double) as median_handling_minutes,
    cast(month_audits.audit_flagged_subscriber_count as double)
    / nullif(month_audits.audited_subscriber_count, 0) as audit_rate,

    ---------- booleans
    month_audits.audited_subscriber_count is not null as is_audited,
    case
      when month_audits.audited_subscriber_count > 0
        then
          cast(month_audits.audit_flagged_subscriber_count as double)
          / month_audits.audited_subscriber_count < {{ audit_target_rate }}
    end as is_audit_target_met,
    {{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'month_sums.month_start_date')) }}
    <= covered.covered_through_date as is_month_complete

  from month_sums
  cross join covered
  left join month_charges
    on
      month_sums.service_code = month_charges.service_code
      and month_sums.month_start_date = month_charges.month_start_date
  left join month_handling
    on
      month_sums.service_code = month_handling.service_code
      and month_sums.month_start_date = month_handling.month_start_date
  left join month_audits
    on
      month_sums.service_code = month_audits.service_code
      and month_sums.month_start_date = month_audits.month_start_date

)

select * from final
