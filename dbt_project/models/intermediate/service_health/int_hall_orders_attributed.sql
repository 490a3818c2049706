{#-
    Orders keyed in business halls (channel HALL), one row per order with what followed it, attributable to
    the hall and the clerk (staff_id) who keyed it:

      is_quick_cancel                 cancelled within 72 hours (inclusive; int_vas_orders_paired)
      unwanted_order_complaint_count  UNWANTED_ORDER complaints about the order: a complaint about a service is
                                      attributed to the user's latest order of that service placed at or before
                                      the complaint was created
      is_audited, is_audit_flagged    for a sticky service, the audit of the user's subscription in the order's
                                      month (int_sticky_subscriptions_audited) and whether a rule flagged it

    The go-live synchronisation records (int_vas_orders_paired.is_go_live_sync) are not orders placed in a hall
    and are left out. A HALL order without a hall or staff id (both nullable in BOSS_VAS_ORDER) gets 'UNKNOWN'.
    user_id only; hall and staff ids are the operator's internal codes (not personal data).
-#}
{{ config(materialized='table') }}

with

orders as (

  select * from {{ ref('int_vas_orders_paired') }}

),

complaints as (

  select * from {{ ref('int_crm_complaints_attributed') }}

),

audits as (

  select * from {{ ref('int_sticky_subscriptions_audited') }}

),

complaint_orders as (

  -- each unwanted-order complaint and the latest order of the same user and service before it
  select
    complaints.complaint_id,
    orders.order_id,
    row_number() over (
      partition by complaints.complaint_id
      order by orders.ordered_at desc, orders.order_id desc
    ) as recency

  from complaints
  inner join orders
    on
      complaints.user_id = orders.user_id
      and complaints.service_code = orders.service_code
      and complaints.created_at >= orders.ordered_at
  where complaints.is_unwanted_order

),

order_complaints as (

  select
    order_id,
    count(*) as unwanted_order_complaint_count
  from complaint_orders
  where recency = 1
  group by order_id

),

hall_orders as (

  select
    *,
    cast({{ dbt.date_trunc('month', 'ordered_at') }} as date) as month_start_date

  from orders
  where
    channel = 'HALL'
    and not is_go_live_sync

),

final as (

  select
    ---------- ids
    hall_orders.order_id,
    hall_orders.user_id,
    hall_orders.service_code,
    coalesce(hall_orders.hall_id, 'UNKNOWN') as hall_id,
    coalesce(hall_orders.staff_id, 'UNKNOWN') as staff_id,

    ---------- counts
    cast(coalesce(order_complaints.unwanted_order_complaint_count, 0) as bigint)
      as unwanted_order_complaint_count,

    ---------- booleans
    hall_orders.is_quick_cancel,
    audits.user_id is not null as is_audited,
    coalesce(audits.is_audit_flagged, false) as is_audit_flagged,

    ---------- dates
    hall_orders.month_start_date,
    hall_orders.ordered_date,

    ---------- timestamps
    hall_orders.ordered_at,
    hall_orders.cancelled_at

  from hall_orders
  left join order_complaints
    on hall_orders.order_id = order_complaints.order_id
  left join audits
    on
      hall_orders.user_id = audits.user_id
      and hall_orders.service_code = audits.service_code
      and hall_orders.month_start_date = audits.month_start_date

)

select * from final
