{#-
    Every VAS order (BOSS_VAS_ORDER action '1') paired with the cancel that ended its subscription: the first
    cancel (action '2') of the same user and service after it, as the charging rule pairs them
    (int_vas_order_charges_decided). One row per order, with its channel and, for channel HALL, the business
    hall and clerk that keyed it.

    is_quick_cancel: cancelled within 72 hours of the order, op_time to op_time, inclusive (a cancel exactly
    72:00:00 after the order is within, 72:00:01 is not) - the same measure as the charging rule's.
    is_go_live_sync: the go-live synchronisation of a subscription older than the history (action_reason '2'
    at 00:00:00 of the first history day, spec §3): it records a holding, not an order placed that day, so
    the health measures count it as held but not as an order.

    user_id only (no MSISDN). A table: the health marts and the audit read it several times.
-#}
{{ config(materialized='table') }}

with

orders as (

  select * from {{ ref('stg_boss__vas_orders') }}

),

go_live as (

  select min(operated_at) as go_live_at from orders

),

sequenced as (

  select
    order_id,
    user_id,
    service_code,
    action,
    action_reason,
    channel,
    hall_id,
    staff_id,
    operated_at,
    row_number() over (
      partition by user_id, service_code order by operated_at, action, order_id
    ) as event_number

  from orders

),

next_cancels as (

  select
    *,
    min(case when action = '2' then event_number end) over (
      partition by user_id, service_code order by event_number
      rows between 1 following and unbounded following
    ) as cancel_event_number

  from sequenced

),

paired as (

  select
    ordered.order_id,
    ordered.user_id,
    ordered.service_code,
    ordered.channel,
    ordered.hall_id,
    ordered.staff_id,
    ordered.action_reason as order_reason,
    ordered.operated_at as ordered_at,
    cancels.order_id as cancel_order_id,
    cancels.channel as cancel_channel,
    cancels.action_reason as cancel_reason,
    cancels.operated_at as cancelled_at

  from next_cancels as ordered
  left join sequenced as cancels
    on
      ordered.user_id = cancels.user_id
      and ordered.service_code = cancels.service_code
      and ordered.cancel_event_number = cancels.event_number
  where ordered.action = '1'

),

final as (

  select
    ---------- ids
    paired.order_id,
    paired.user_id,
    paired.service_code,
    paired.cancel_order_id,
    paired.hall_id,
    paired.staff_id,

    ---------- attributes
    paired.channel,
    paired.order_reason,
    paired.cancel_channel,
    paired.cancel_reason,

    ---------- booleans
    paired.order_reason = '2' and paired.ordered_at = go_live.go_live_at as is_go_live_sync,
    coalesce(
      paired.cancelled_at <= {{ dbt.dateadd('hour', 72, 'paired.ordered_at') }}, false
    ) as is_quick_cancel,

    ---------- dates
    cast(paired.ordered_at as date) as ordered_date,
    cast(paired.cancelled_at as date) as cancelled_date,

    ---------- timestamps
    paired.ordered_at,
    paired.cancelled_at

  from paired
  cross join go_live

)

select * from final
