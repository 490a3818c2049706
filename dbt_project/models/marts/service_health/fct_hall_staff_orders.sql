{#-
    Public mart: orders keyed in business halls, per month of the order, hall and clerk (staff_id), with what
    followed them - quick cancels, unwanted-order complaints, and for sticky services the audit of the
    subscription in the order's month. Built from int_hall_orders_attributed (attribution rules there).
-#}

with

hall_orders as (

  select * from {{ ref('int_hall_orders_attributed') }}

),

aggregated as (

  select
    month_start_date,
    hall_id,
    staff_id,
    count(*) as order_count,
    count(distinct user_id) as ordering_user_count,
    sum(case when is_quick_cancel then 1 else 0 end) as quick_cancel_count,
    sum(unwanted_order_complaint_count) as unwanted_order_complaint_count,
    sum(case when unwanted_order_complaint_count > 0 then 1 else 0 end) as unwanted_order_complaint_order_count,
    sum(case when is_audited then 1 else 0 end) as audited_order_count,
    sum(case when is_audit_flagged then 1 else 0 end) as audit_flagged_order_count

  from hall_orders
  group by month_start_date, hall_id, staff_id

),

final as (

  select
    ---------- ids
    month_start_date,
    hall_id,
    staff_id,

    ---------- counts
    cast(order_count as bigint) as order_count,
    cast(ordering_user_count as bigint) as ordering_user_count,
    cast(quick_cancel_count as bigint) as quick_cancel_count,
    cast(unwanted_order_complaint_count as bigint) as unwanted_order_complaint_count,
    cast(unwanted_order_complaint_order_count as bigint) as unwanted_order_complaint_order_count,
    cast(audited_order_count as bigint) as audited_order_count,
    cast(audit_flagged_order_count as bigint) as audit_flagged_order_count,

    ---------- rates
    cast(quick_cancel_count as double) / order_count as quick_cancel_rate,
    cast(audit_flagged_order_count as double) / nullif(audited_order_count, 0) as audit_flagged_share

  from aggregated

)

select * from final
