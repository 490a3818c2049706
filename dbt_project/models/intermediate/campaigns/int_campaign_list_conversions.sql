{#-
    Whether each list row converted within its response window [contact_date, window_end_date), by the
    campaign's conversion kind:

    - stable_vas_order: the user ordered (action 1) the offered service (conversion_match 'service') or any
      service of the offered service's product line ('product_line') in the window, and did not cancel that
      service within 72 hours of the order (a cancel at exactly 72 h counts as within, as in the labels).
    - plan_migration: the user's plan changed in the window (a new int_users_historized version starting
      then) to a plan whose data quota is at least the offered plan's.
    - arrears_paid: the user's first bill of a month ending in the window paid at least the arrears of the
      last bill before the contact, or shows no arrears.

    converted_at is the first converting order, the plan version's start, or the bill month's last day.
    Rows of users unknown to int_campaign_users never convert (their user_id is NULL).
-#}

with

lists as (

  select * from {{ ref('int_campaign_lists') }}

),

orders as (

  select * from {{ ref('stg_boss__vas_orders') }}

),

services as (

  select * from {{ ref('int_campaign_services') }}

),

users as (

  select * from {{ ref('int_users_historized') }}

),

tiers as (

  select * from {{ ref('int_campaign_plan_tiers') }}

),

bills as (

  select * from {{ ref('stg_boss__bills') }}

),

---------- stable_vas_order

orders_judged as (

  select
    placed.user_id,
    placed.service_code,
    placed.operated_at as ordered_at,
    count(cancels.order_id) = 0 as is_stable

  from orders as placed
  left join orders as cancels
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
    placed.service_code,
    placed.operated_at

),

stable_orders as (

  select
    orders_judged.user_id,
    orders_judged.service_code,
    services.product_line,
    orders_judged.ordered_at

  from orders_judged
  inner join services
    on orders_judged.service_code = services.service_code
  where orders_judged.is_stable

),

order_lists as (

  select
    lists.campaign,
    lists.run_date,
    lists.user_pseudonym,
    lists.user_id,
    lists.offer,
    lists.conversion_match,
    lists.contact_date,
    lists.window_end_date,
    offered.product_line as offered_product_line

  from lists
  left join services as offered
    on lists.offer = offered.service_code
  where lists.conversion_kind = 'stable_vas_order'

),

order_conversions as (

  select
    order_lists.campaign,
    order_lists.run_date,
    order_lists.user_pseudonym,
    min(stable_orders.ordered_at) as converted_at

  from order_lists
  inner join stable_orders
    on
      order_lists.user_id = stable_orders.user_id
      and stable_orders.ordered_at >= cast(order_lists.contact_date as timestamp)
      and stable_orders.ordered_at < cast(order_lists.window_end_date as timestamp)
      and (
        (order_lists.conversion_match = 'service' and order_lists.offer = stable_orders.service_code)
        or (
          order_lists.conversion_match = 'product_line'
          and order_lists.offered_product_line = stable_orders.product_line
        )
      )
  group by
    order_lists.campaign,
    order_lists.run_date,
    order_lists.user_pseudonym

),

---------- plan_migration

plan_lists as (

  select
    lists.campaign,
    lists.run_date,
    lists.user_pseudonym,
    lists.user_id,
    lists.contact_date,
    lists.window_end_date,
    offered.gprs_quota_mb as offered_quota_mb

  from lists
  inner join tiers as offered
    on lists.offer = offered.plan_code
  where lists.conversion_kind = 'plan_migration'

),

plan_conversions as (

  select
    plan_lists.campaign,
    plan_lists.run_date,
    plan_lists.user_pseudonym,
    min(users.valid_from) as converted_at

  from plan_lists
  inner join users
    on
      plan_lists.user_id = users.user_id
      and users.valid_from >= cast(plan_lists.contact_date as timestamp)
      and users.valid_from < cast(plan_lists.window_end_date as timestamp)
  inner join tiers as migrated
    on users.plan_code = migrated.plan_code
  where migrated.gprs_quota_mb >= plan_lists.offered_quota_mb
  group by
    plan_lists.campaign,
    plan_lists.run_date,
    plan_lists.user_pseudonym

),

---------- arrears_paid

bill_months as (

  select
    user_id,
    cast({{ yyyymm_to_date('bill_month') }} as date) as month_start_date,
    cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, yyyymm_to_date('bill_month'))) }} as date)
      as month_end_date,
    paid_fen,
    arrears_fen

  from bills

),

arrears_lists as (

  select * from lists
  where conversion_kind = 'arrears_paid'

),

listed_bills as (

  -- the last bill before the contact: the arrears the reminder was about
  select
    arrears_lists.campaign,
    arrears_lists.run_date,
    arrears_lists.user_pseudonym,
    bill_months.arrears_fen,
    row_number() over (
      partition by arrears_lists.campaign, arrears_lists.run_date, arrears_lists.user_pseudonym
      order by bill_months.month_start_date desc
    ) as recency

  from arrears_lists
  inner join bill_months
    on
      arrears_lists.user_id = bill_months.user_id
      and arrears_lists.contact_date > bill_months.month_end_date

),

next_bills as (

  select
    arrears_lists.campaign,
    arrears_lists.run_date,
    arrears_lists.user_pseudonym,
    bill_months.month_end_date,
    bill_months.paid_fen,
    bill_months.arrears_fen,
    row_number() over (
      partition by arrears_lists.campaign, arrears_lists.run_date, arrears_lists.user_pseudonym
      order by bill_months.month_start_date
    ) as position

  from arrears_lists
  inner join bill_months
    on
      arrears_lists.user_id = bill_months.user_id
      and arrears_lists.contact_date <= bill_months.month_end_date
      and arrears_lists.window_end_date > bill_months.month_end_date

),

arrears_conversions as (

  select
    next_bills.campaign,
    next_bills.run_date,
    next_bills.user_pseudonym,
    cast(next_bills.month_end_date as timestamp) as converted_at

  from next_bills
  inner join listed_bills
    on
      next_bills.campaign = listed_bills.campaign
      and next_bills.run_date = listed_bills.run_date
      and next_bills.user_pseudonym = listed_bills.user_pseudonym
      and listed_bills.recency = 1
  where
    next_bills.position = 1
    and (next_bills.arrears_fen = 0 or next_bills.paid_fen >= listed_bills.arrears_fen)

),

conversions as (

  select * from order_conversions
  union all
  select * from plan_conversions
  union all
  select * from arrears_conversions

),

final as (

  select
    ---------- ids
    lists.campaign,
    lists.run_date,
    lists.user_pseudonym,

    ---------- attributes
    lists.list_group,
    lists.offer,
    lists.conversion_kind,

    ---------- dates
    lists.contact_date,
    lists.window_end_date,

    ---------- outcome
    conversions.converted_at is not null as is_converted,
    conversions.converted_at

  from lists
  left join conversions
    on
      lists.campaign = conversions.campaign
      and lists.run_date = conversions.run_date
      and lists.user_pseudonym = conversions.user_pseudonym

)

select * from final
