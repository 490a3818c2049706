{#-
    VAS subscriptions per user and customer-view month: the services held at the month's as-of instant (the
    last second of as_of_date) and the orders and cancels placed in the month.

    Held: a (user, service) whose orders outnumber its cancels up to that instant, over the whole order history
    (including the go-live synchronisation orders, action_reason 2) — the rule of the propensity labels. The
    orders are netted per calendar month once, then carried forward: a holding counts in every month from the
    month its running balance turns positive to the month it next changes. Orders in the month exclude
    system-made ones (action_reason 2: the go-live synchronisation); cancels count every reason.
    Incremental by month like int_subscribers_at_month_end.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=('insert_overwrite' if target.type == 'spark' else 'delete+insert'),
    unique_key='month_start_date',
    partition_by=(['month_start_date'] if target.type == 'spark' else none),
    on_schema_change='fail'
) }}

with

months as (

  select * from {{ ref('int_customer_months') }}
  where month_start_date >= {{ first_month_to_build(ref('int_customer_months')) }}

),

orders as (

  select * from {{ ref('stg_boss__vas_orders') }}

),

services as (

  select * from {{ ref('int_label_services') }}

),

monthly_changes as (

  select
    user_id,
    service_code,
    cast({{ dbt.date_trunc('month', 'operated_at') }} as date) as month_start_date,
    sum(case action when '1' then 1 when '2' then -1 else 0 end) as net_change,
    sum(case when action = '1' and action_reason <> '2' then 1 else 0 end) as order_count,
    sum(case when action = '2' then 1 else 0 end) as cancel_count

  from orders
  group by 1, 2, 3

),

balances as (

  select
    *,
    sum(net_change) over (
      partition by user_id, service_code order by month_start_date
      rows between unbounded preceding and current row
    ) as balance_at_month_end,
    lead(month_start_date) over (partition by user_id, service_code order by month_start_date)
      as next_change_month_start_date

  from monthly_changes

),

held as (

  select
    months.month_start_date,
    months.inputs_written_at,
    balances.user_id,
    balances.service_code

  from balances
  inner join months
    on
      balances.month_start_date <= months.month_start_date
      and {{ before_valid_to('months.month_start_date', 'balances.next_change_month_start_date') }}
  where balances.balance_at_month_end > 0

),

held_counts as (

  select
    held.user_id,
    held.month_start_date,
    max(held.inputs_written_at) as inputs_written_at,
    count(*) as held_vas_count,
    sum(case when services.is_mobile_newspaper then 1 else 0 end) as held_newspaper_count

  from held
  left join services
    on held.service_code = services.service_code
  group by 1, 2

),

activity as (

  select
    monthly_changes.user_id,
    monthly_changes.month_start_date,
    max(months.inputs_written_at) as inputs_written_at,
    sum(monthly_changes.order_count) as vas_order_count,
    sum(monthly_changes.cancel_count) as vas_cancel_count

  from monthly_changes
  inner join months
    on monthly_changes.month_start_date = months.month_start_date
  group by 1, 2

),

final as (

  select
    ---------- ids
    coalesce(held_counts.user_id, activity.user_id) as user_id,
    coalesce(held_counts.month_start_date, activity.month_start_date) as month_start_date,

    ---------- counts
    cast(coalesce(held_counts.held_vas_count, 0) as integer) as held_vas_count,
    cast(coalesce(held_counts.held_newspaper_count, 0) as integer) as held_newspaper_count,
    cast(coalesce(activity.vas_order_count, 0) as integer) as vas_order_count,
    cast(coalesce(activity.vas_cancel_count, 0) as integer) as vas_cancel_count,

    ---------- lineage
    coalesce(held_counts.inputs_written_at, activity.inputs_written_at) as inputs_written_at

  from held_counts
  full outer join activity
    on
      held_counts.user_id = activity.user_id
      and held_counts.month_start_date = activity.month_start_date

)

select * from final
