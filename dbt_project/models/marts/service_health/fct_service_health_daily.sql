{#-
    Public mart: service health (业务健康度) per service and day. The measures are built in
    int_service_health_days_aggregated and the sudden-change comparison in int_service_health_days_compared;
    this model adds the service's catalogue attributes and lists the columns under contract.
-#}

{%- set channels = ['sms', 'wap', 'web', '10086', 'hall', 'ussd'] %}
{%- set media_types = ['sms', 'mms', 'wap'] %}

with

days as (

  select * from {{ ref('int_service_health_days_aggregated') }}

),

changes as (

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

flagged_days as (

  select
    service_code,
    activity_date,
    count(*) as sudden_change_count,
    {{ dbt.listagg('measure_name', "','", 'order by measure_name') }} as sudden_change_measures

  from changes
  where is_sudden_change
  group by service_code, activity_date

),

final as (

  select
    ---------- ids
    days.service_code,
    days.activity_date,

    ---------- attributes (catalogue, latest snapshot)
    latest_services.product_line,
    latest_services.media as service_media,
    latest_services.fee_type,

    ---------- subscribers
    days.active_subscriber_count,

    ---------- orders and cancellations by channel
    days.order_count,
    {%- for name in channels %}
      days.order_count_{{ name }},
    {%- endfor %}
    days.cancel_count,
    {%- for name in channels %}
      days.cancel_count_{{ name }},
    {%- endfor %}
    days.quick_cancel_count,
    days.quick_cancel_rate,

    ---------- deliveries by media
    days.delivery_count,
    days.delivery_success_count,
    days.delivery_success_rate,
    days.terminal_failure_count,
    days.terminal_failure_rate,
    {%- for name in media_types %}
      days.delivery_count_{{ name }},
      days.delivery_success_count_{{ name }},
      days.delivery_success_rate_{{ name }},
    {%- endfor %}

    ---------- complaints
    days.complaint_count,
    days.unwanted_order_complaint_count,
    days.complaints_per_10k_subscribers,
    days.closed_complaint_count,
    days.handling_minutes_total,
    days.mean_handling_minutes,

    ---------- the info fee (Monternet rule)
    days.charged_subscription_count,
    days.info_fee_charged_fen,

    ---------- sudden changes
    cast(coalesce(flagged_days.sudden_change_count, 0) as integer) as sudden_change_count,
    flagged_days.sudden_change_measures,

    ---------- booleans
    coalesce(latest_services.is_sticky, false) as is_sticky,
    days.is_online,
    days.is_quick_cancel_settled,
    flagged_days.sudden_change_count is not null as is_sudden_change

  from days
  left join latest_services
    on
      days.service_code = latest_services.service_code
      and latest_services.recency = 1
  left join flagged_days
    on
      days.service_code = flagged_days.service_code
      and days.activity_date = flagged_days.activity_date

)

select * from final
