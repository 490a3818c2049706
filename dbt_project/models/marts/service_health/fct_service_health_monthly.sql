{#-
    Public mart: service health (业务健康度) per service and calendar month. The measures are built in
    int_service_health_months_aggregated, the month-on-month comparison in int_service_health_months_compared;
    this model adds the catalogue attributes, the number of days flagged by the daily comparison, and lists
    the columns under contract.
-#}

{%- set channels = ['sms', 'wap', 'web', '10086', 'hall', 'ussd'] %}
{%- set media_types = ['sms', 'mms', 'wap'] %}

with

months as (

  select * from {{ ref('int_service_health_months_aggregated') }}

),

changes as (

  select * from {{ ref('int_service_health_months_compared') }}

),

day_changes as (

  select * from {{ ref('int_service_health_days_compared') }}

),

services as (

  select * from {{ ref('stg_vgop__services') }}

),

latest_services as (

  select
    service_code,
    product_line,
    media,
    fee_type,
    is_sticky,
    row_number() over (partition by service_code order by batch_date desc) as recency

  from services

),

flagged_months as (

  select
    service_code,
    month_start_date,
    count(*) as sudden_change_count,
    {{ dbt.listagg('measure_name', "','", 'order by measure_name') }} as sudden_change_measures

  from changes
  where is_sudden_change
  group by service_code, month_start_date

),

flagged_days as (

  select
    service_code,
    cast({{ dbt.date_trunc('month', 'activity_date') }} as date) as month_start_date,
    count(distinct activity_date) as sudden_change_day_count

  from day_changes
  where is_sudden_change
  group by service_code, cast({{ dbt.date_trunc('month', 'activity_date') }} as date)

),

final as (

  select
    ---------- ids
    months.service_code,
    months.month_start_date,

    ---------- attributes (catalogue, latest snapshot)
    latest_services.product_line,
    latest_services.media as service_media,
    latest_services.fee_type,

    ---------- subscribers and the info fee (Monternet rule)
    months.active_subscriber_count,
    months.mean_active_subscriber_count,
    months.billed_subscriber_count,
    months.charged_subscriber_count,
    months.info_fee_charged_fen,

    ---------- orders and cancellations by channel
    months.order_count,
    {%- for name in channels %}
      months.order_count_{{ name }},
    {%- endfor %}
    months.cancel_count,
    {%- for name in channels %}
      months.cancel_count_{{ name }},
    {%- endfor %}
    months.quick_cancel_count,
    months.quick_cancel_rate,

    ---------- deliveries by media
    months.delivery_count,
    months.delivery_success_count,
    months.delivery_success_rate,
    months.terminal_failure_count,
    months.terminal_failure_rate,
    {%- for name in media_types %}
      months.delivery_count_{{ name }},
      months.delivery_success_count_{{ name }},
      months.delivery_success_rate_{{ name }},
    {%- endfor %}

    ---------- complaints
    months.complaint_count,
    months.unwanted_order_complaint_count,
    months.complaints_per_10k_subscribers,
    months.closed_complaint_count,
    months.handling_minutes_total,
    months.mean_handling_minutes,
    months.median_handling_minutes,

    ---------- the sticky-service audit
    months.audited_subscriber_count,
    months.audit_flagged_subscriber_count,
    months.audit_rate,

    ---------- sudden changes
    cast(coalesce(flagged_months.sudden_change_count, 0) as integer) as sudden_change_count,
    flagged_months.sudden_change_measures,
    cast(coalesce(flagged_days.sudden_change_day_count, 0) as integer) as sudden_change_day_count,

    ---------- booleans
    coalesce(latest_services.is_sticky, false) as is_sticky,
    months.is_audited,
    months.is_audit_target_met,
    flagged_months.sudden_change_count is not null as is_sudden_change,
    months.is_month_complete

  from months
  left join latest_services
    on
      months.service_code = latest_services.service_code
      and latest_services.recency = 1
  left join flagged_months
    on
      months.service_code = flagged_months.service_code
      and months.month_start_date = flagged_months.month_start_date
  left join flagged_days
    on
      months.service_code = flagged_days.service_code
      and months.month_start_date = flagged_days.month_start_date

)

select * from final
