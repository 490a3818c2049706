{#-
    Mobile-newspaper (手机报) propensity labels by user_id (spec section 6), one row per user and month M.

    Population at the end of month M: users with status NORMAL in M's month-end BOSS_USER snapshot who hold no
    MOBILE_NEWSPAPER service at the last second of M. Holdings come from the whole order history (including
    the go-live synchronisation orders, action_reason 2): a (user, service) is held when its orders outnumber
    its cancels up to that instant.
    Label: the user orders a MOBILE_NEWSPAPER service during M+1 (M+1's first second to its last, inclusive)
    and that order is not followed by a cancel of the same service within 72 hours: a cancel at exactly
    72 h counts as within, at 72 h + 1 s it does not. Observable once M+1's month-end batch is delivered;
    the label columns are NULL before that.

    The mart fct_propensity_labels publishes this under the user's pseudonym.
-#}
{{ config(materialized='table') }}  {#- tested several times and read downstream: computed once -#}


with

month_ends as (

  select * from {{ ref('int_label_month_ends') }}

),

month_end_users as (

  select * from {{ ref('int_label_month_end_users') }}

),

services as (

  select * from {{ ref('int_label_services') }}

),

orders as (

  select * from {{ ref('stg_boss__vas_orders') }}

),

newspaper_orders as (

  select
    orders.order_id,
    orders.user_id,
    orders.service_code,
    orders.action,
    orders.operated_at

  from orders
  inner join services
    on orders.service_code = services.service_code
  where services.is_mobile_newspaper

),

holdings_at_month_end as (

  -- orders minus cancels of each (user, service) up to the month's last second
  select
    month_ends.month_start_date,
    newspaper_orders.user_id,
    newspaper_orders.service_code,
    sum(case newspaper_orders.action when '1' then 1 when '2' then -1 else 0 end) as net_orders

  from month_ends
  inner join newspaper_orders
    on newspaper_orders.operated_at < cast(month_ends.next_month_start_date as timestamp)
  group by
    month_ends.month_start_date,
    newspaper_orders.user_id,
    newspaper_orders.service_code

),

holders_at_month_end as (

  select distinct
    month_start_date,
    user_id

  from holdings_at_month_end
  where net_orders > 0

),

population as (

  select
    month_end_users.user_id,
    month_end_users.month_start_date

  from month_end_users
  left join holders_at_month_end
    on
      month_end_users.user_id = holders_at_month_end.user_id
      and month_end_users.month_start_date = holders_at_month_end.month_start_date
  where
    month_end_users.user_status = 'NORMAL'
    and holders_at_month_end.user_id is null

),

orders_judged as (

  -- an order is stable unless a cancel of the same user and service follows within 72 hours (inclusive)
  select
    placed.order_id,
    placed.user_id,
    placed.operated_at as ordered_at,
    cast({{ dbt.date_trunc('month', 'placed.operated_at') }} as date) as order_month,
    count(cancels.order_id) = 0 as is_stable

  from newspaper_orders as placed
  left join newspaper_orders as cancels
    on
      placed.user_id = cancels.user_id
      and placed.service_code = cancels.service_code
      and cancels.action = '2'
      and placed.operated_at <= cancels.operated_at
      and cancels.operated_at <= {{ dbt.dateadd('hour', 72, 'placed.operated_at') }}
  where placed.action = '1'
  group by
    placed.order_id,
    placed.user_id,
    placed.operated_at

),

outcomes as (

  select
    user_id,
    order_month,
    count(*) as newspaper_order_count,
    sum(case when is_stable then 1 else 0 end) as stable_order_count,
    min(case when is_stable then ordered_at end) as first_stable_order_at

  from orders_judged
  group by
    user_id,
    order_month

),

final as (

  select
    ---------- ids
    population.user_id,

    ---------- months
    population.month_start_date as population_month,
    month_ends.next_month_start_date as outcome_month,

    ---------- label (NULL until M+1's month-end batch is delivered)
    case
      when month_ends.is_next_month_delivered then coalesce(outcomes.newspaper_order_count, 0) > 0
    end as has_newspaper_order,
    case
      when month_ends.is_next_month_delivered then coalesce(outcomes.stable_order_count, 0) > 0
    end as has_stable_newspaper_order,
    case
      when month_ends.is_next_month_delivered then outcomes.first_stable_order_at
    end as first_stable_order_at,

    ---------- booleans
    month_ends.is_next_month_delivered as is_label_observable

  from population
  inner join month_ends
    on population.month_start_date = month_ends.month_start_date
  left join outcomes
    on
      population.user_id = outcomes.user_id
      and month_ends.next_month_start_date = outcomes.order_month

)

select * from final
