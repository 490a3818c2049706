{#-
    Service health (业务健康度) per service and calendar day: one row per service of the catalogue for every
    day from the go-live day (the first order data) to the latest batch's date on which the service was online
    or showed any activity. Counts, with their numerators and denominators kept so that months add them up:

      active subscribers     subscriptions held at the end of the day (ordered on or before it, not cancelled by then);
                             the go-live synchronisation orders count as held from the first day
      orders                 action '1' placed that day, by channel; go-live synchronisation excluded
      cancellations          action '2' that day, by the cancel's channel (system cancels are logged as 10086)
      quick cancels          the day's orders cancelled within 72 hours (inclusive); the rate is settled once
                             the data covers the order day + 3 days
      deliveries             VAS_DELIVERY sent that day, by media, successful and TERMINAL (int_vas_deliveries_aggregated)
      complaints             CRM complaints about the service created that day; handling time of those closed
      info fee               charged_fen of the Monternet rule (int_vas_order_charges_decided) falling due that
                             day (charged_at): held subscriptions fall due on day 1 of the month

    No subscriber-level data. A table: the sudden-change comparison and the health marts read it.
-#}
{{ config(materialized='table') }}

{%- set channels = {'sms': 'SMS', 'wap': 'WAP', 'web': 'WEB', '10086': '10086', 'hall': 'HALL', 'ussd': 'USSD'} %}
{%- set media_types = {'sms': 'SMS', 'mms': 'MMS', 'wap': 'WAP'} %}

with

services as (

  select * from {{ ref('stg_vgop__services') }}

),

raw_orders as (

  select * from {{ ref('stg_boss__vas_orders') }}

),

orders as (

  select * from {{ ref('int_vas_orders_paired') }}

),

deliveries as (

  select * from {{ ref('int_vas_deliveries_aggregated') }}

),

complaints as (

  select * from {{ ref('int_crm_complaints_attributed') }}

),

charges as (

  select * from {{ ref('int_vas_order_charges_decided') }}

),

---------- the calendar: every day from go-live to the latest batch

bounds as (

  select
    cast(min(operated_at) as date) as first_date,
    max(batch_date) as covered_through_date

  from raw_orders

),

day_numbers as (

  {{ dbt.generate_series(8192) }}

),

days as (

  select
    cast({{ dbt.dateadd('day', 'day_numbers.generated_number - 1', 'bounds.first_date') }} as date)
      as activity_date,
    bounds.covered_through_date

  from day_numbers
  cross join bounds
  where
    {{ dbt.dateadd('day', 'day_numbers.generated_number - 1', 'bounds.first_date') }}
    <= bounds.covered_through_date

),

latest_services as (

  select
    service_code,
    online_date,
    offline_date,
    row_number() over (partition by service_code order by batch_date desc) as recency

  from services

),

service_days as (

  select
    latest_services.service_code,
    days.activity_date,
    days.covered_through_date,
    latest_services.online_date <= days.activity_date
    and (latest_services.offline_date is null or days.activity_date < latest_services.offline_date)
      as is_online

  from latest_services
  cross join days
  where latest_services.recency = 1

),

---------- subscriptions held: +1 on the order day, -1 on the cancel day, summed up to each day

holding_changes as (

  select
    service_code,
    ordered_date as activity_date,
    1 as change
  from orders

  union all

  select
    service_code,
    cancelled_date as activity_date,
    -1 as change
  from orders
  where cancelled_at is not null

),

daily_holding_changes as (

  select
    service_code,
    activity_date,
    sum(change) as net_change
  from holding_changes
  group by service_code, activity_date

),

---------- orders, quick cancels and cancellations of the day

day_orders as (

  select
    service_code,
    ordered_date as activity_date,
    count(*) as order_count,
    {%- for name, code in channels.items() %}
      sum(case when channel = '{{ code }}' then 1 else 0 end) as order_count_{{ name }},
    {%- endfor %}
    sum(case when is_quick_cancel then 1 else 0 end) as quick_cancel_count

  from orders
  where not is_go_live_sync
  group by service_code, ordered_date

),

day_cancels as (

  select
    service_code,
    cast(operated_at as date) as activity_date,
    count(*) as cancel_count,
    {%- for name, code in channels.items() %}
      sum(case when channel = '{{ code }}' then 1 else 0 end) as cancel_count_{{ name }}{% if not loop.last %},{% endif %}
    {%- endfor %}

  from raw_orders
  where action = '2'
  group by service_code, cast(operated_at as date)

),

---------- deliveries by media

day_deliveries as (

  select
    service_code,
    sent_date as activity_date,
    sum(delivery_count) as delivery_count,
    sum(success_count) as delivery_success_count,
    sum(terminal_failure_count) as terminal_failure_count,
    {%- for name, code in media_types.items() %}
      sum(case when media = '{{ code }}' then delivery_count else 0 end) as delivery_count_{{ name }},
      sum(case when media = '{{ code }}' then success_count else 0 end) as delivery_success_count_{{ name }}{% if not loop.last %},{% endif %}
    {%- endfor %}

  from deliveries
  group by service_code, sent_date

),

---------- complaints about the service and their handling

day_complaints as (

  select
    service_code,
    created_date as activity_date,
    count(*) as complaint_count,
    sum(case when is_unwanted_order then 1 else 0 end) as unwanted_order_complaint_count,
    sum(case when is_closed then 1 else 0 end) as closed_complaint_count,
    sum(handling_minutes) as handling_minutes_total

  from complaints
  where service_code is not null
  group by service_code, created_date

),

---------- info fee falling due under the charging rule

day_charges as (

  select
    service_code,
    cast(charged_at as date) as activity_date,
    count(*) as charged_subscription_count,
    sum(charged_fen) as info_fee_charged_fen

  from charges
  where is_charged
  group by service_code, cast(charged_at as date)

),

joined as (

  select
    service_days.service_code,
    service_days.activity_date,
    service_days.covered_through_date,
    service_days.is_online,
    sum(coalesce(daily_holding_changes.net_change, 0)) over (
      partition by service_days.service_code order by service_days.activity_date
      rows between unbounded preceding and current row
    ) as active_subscriber_count,
    coalesce(day_orders.order_count, 0) as order_count,
    {%- for name in channels %}
      coalesce(day_orders.order_count_{{ name }}, 0) as order_count_{{ name }},
    {%- endfor %}
    coalesce(day_orders.quick_cancel_count, 0) as quick_cancel_count,
    coalesce(day_cancels.cancel_count, 0) as cancel_count,
    {%- for name in channels %}
      coalesce(day_cancels.cancel_count_{{ name }}, 0) as cancel_count_{{ name }},
    {%- endfor %}
    coalesce(day_deliveries.delivery_count, 0) as delivery_count,
    coalesce(day_deliveries.delivery_success_count, 0) as delivery_success_count,
    coalesce(day_deliveries.terminal_failure_count, 0) as terminal_failure_count,
    {%- for name in media_types %}
      coalesce(day_deliveries.delivery_count_{{ name }}, 0) as delivery_count_{{ name }},
      coalesce(day_deliveries.delivery_success_count_{{ name }}, 0) as delivery_success_count_{{ name }},
    {%- endfor %}
    coalesce(day_complaints.complaint_count, 0) as complaint_count,
    coalesce(day_complaints.unwanted_order_complaint_count, 0) as unwanted_order_complaint_count,
    coalesce(day_complaints.closed_complaint_count, 0) as closed_complaint_count,
    day_complaints.handling_minutes_total,
    coalesce(day_charges.charged_subscription_count, 0) as charged_subscription_count,
    coalesce(day_charges.info_fee_charged_fen, 0) as info_fee_charged_fen

  from service_days
  left join daily_holding_changes
    on
      service_days.service_code = daily_holding_changes.service_code
      and service_days.activity_date = daily_holding_changes.activity_date
  left join day_orders
    on
      service_days.service_code = day_orders.service_code
      and service_days.activity_date = day_orders.activity_date
  left join day_cancels
    on
      service_days.service_code = day_cancels.service_code
      and service_days.activity_date = day_cancels.activity_date
  left join day_deliveries
    on
      service_days.service_code = day_deliveries.service_code
      and service_days.activity_date = day_deliveries.activity_date
  left join day_complaints
    on
      service_days.service_code = day_complaints.service_code
      and service_days.activity_date = day_complaints.activity_date
  left join day_charges
    on
      service_days.service_code = day_charges.service_code
      and service_days.activity_date = day_charges.activity_date

),

final as (

  select
    ---------- ids
    service_code,
    activity_date,

    ---------- counts: subscriptions, orders and cancellations
    cast(active_subscriber_count as bigint) as active_subscriber_count,
    cast(order_count as bigint) as order_count,
    {%- for name in channels %}
      cast(order_count_{{ name }} as bigint) as order_count_{{ name }},
    {%- endfor %}
    cast(cancel_count as bigint) as cancel_count,
    {%- for name in channels %}
      cast(cancel_count_{{ name }} as bigint) as cancel_count_{{ name }},
    {%- endfor %}
    cast(quick_cancel_count as bigint) as quick_cancel_count,

    ---------- counts: deliveries
    cast(delivery_count as bigint) as delivery_count,
    cast(delivery_success_count as bigint) as delivery_success_count,
    cast(terminal_failure_count as bigint) as terminal_failure_count,
    {%- for name in media_types %}
      cast(delivery_count_{{ name }} as bigint) as delivery_count_{{ name }},
      cast(delivery_success_count_{{ name }} as bigint) as delivery_success_count_{{ name }},
    {%- endfor %}

    ---------- counts: complaints
    cast(complaint_count as bigint) as complaint_count,
    cast(unwanted_order_complaint_count as bigint) as unwanted_order_complaint_count,
    cast(closed_complaint_count as bigint) as closed_complaint_count,
    cast(handling_minutes_total as double) as handling_minutes_total,

    ---------- counts and money: the info fee
    cast(charged_subscription_count as bigint) as charged_subscription_count,
    cast(info_fee_charged_fen as bigint) as info_fee_charged_fen,

    ---------- rates
    cast(quick_cancel_count as double) / nullif(order_count, 0) as quick_cancel_rate,
    cast(delivery_success_count as double) / nullif(delivery_count, 0) as delivery_success_rate,
    cast(terminal_failure_count as double) / nullif(delivery_count, 0) as terminal_failure_rate,
    {%- for name in media_types %}
      cast(delivery_success_count_{{ name }} as double) / nullif(delivery_count_{{ name }}, 0)
        as delivery_success_rate_{{ name }},
    {%- endfor %}
    cast(complaint_count as double) * 10000 / nullif(active_subscriber_count, 0) as complaints_per_10k_subscribers,
    cast(handling_minutes_total as double) / nullif(closed_complaint_count, 0) as mean_handling_minutes,

    ---------- booleans
    is_online,
    {{ dbt.dateadd('day', 3, 'activity_date') }} <= covered_through_date as is_quick_cancel_settled

  from joined
  where
    is_online
    or active_subscriber_count <> 0
    or order_count + cancel_count + delivery_count + complaint_count + charged_subscription_count > 0

)

select * from final
