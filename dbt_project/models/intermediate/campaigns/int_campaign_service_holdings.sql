{#-
    The VAS subscriptions each user holds now, one row per (user_id, service_code): from the whole order
    history (including the go-live synchronisation orders), a service is held when its orders outnumber its
    cancels (as in the label models). held_since is the latest order. "Current holders of the offered product"
    are suppressed from a campaign offering it.
-#}
{{ config(materialized='table') }}

with

orders as (

  select * from {{ ref('stg_boss__vas_orders') }}

),

netted as (

  select
    user_id,
    service_code,
    sum(case action when '1' then 1 when '2' then -1 else 0 end) as net_orders,
    max(case when action = '1' then operated_at end) as held_since

  from orders
  group by user_id, service_code

),

final as (

  select
    ---------- ids
    user_id,
    service_code,

    ---------- timestamps
    held_since

  from netted
  where net_orders > 0

)

select * from final
