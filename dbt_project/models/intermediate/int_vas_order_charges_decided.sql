{#-
    The Monternet (梦网) monthly-subscription charging rule (interface spec §5), decided per user, service and
    calendar month for every monthly (fee_type '03') service: whether the month's info fee is charged, when,
    and which clause and which order decided it.

    Inputs are the order-relationship changes (BOSS_VAS_ORDER: action '1' order, '2' cancel). Each order is
    paired with the first cancel of the same user and service after it (the subscription is held from the
    order until that cancel). A (user, service, month) gets a row when an order is placed in the month or a
    subscription is held at the start of the month (00:00:00 of day 1: ordered at or before it and not
    cancelled by then - this includes the go-live synchronisation orders dated 00:00:00 of the first history
    day). Every such order and held subscription is a candidate, judged by its clause:

      HELD_CHARGED               held at the start of the month: charged ...
      HELD_QUICK_CANCEL          ... unless cancelled within 72 h of its order (which may be last month) ...
      HELD_CHARGE_FAILED         ... or cancelled in the month because the charge failed (action_reason '3')
      FIRST_EARLY_CHARGED        the month's first order, days 1-20 (to day 20 24:00): charged when held > 72 h
      FIRST_EARLY_QUICK_CANCEL   ... free when cancelled within 72 h
      FIRST_LATE_FREE            the month's first order from day 21 00:00: free for the month
      REORDER_EARLY_CHARGED      a non-first order of the month, days 1-20: charged at once
      REORDER_LATE_CHARGED       a non-first order from day 21: charged at once if the month's first order
                                 was on days 1-20 ...
      REORDER_LATE_FREE          ... free if the month's first order was on day 21 or later

    A charge-failed cancel frees the held subscription in the month it falls in: one at 00:30 on day 1 frees
    that month, not the month before (the synthetic generator frees both, see
    tests/test_marts_charging_reconciliation.py).
    "Within 72 hours" is op_time to op_time, inclusive: a cancel exactly 72:00:00 after the order is within,
    72:00:01 is not. "First order" is the first order placed in the calendar month (a subscription carried in
    from last month is not an order of this month). The fee is charged at most once per user, service and
    month: the charging candidate with the earliest charged_at decides; when none charges, the latest one
    decides (the month's last order, else the held subscription): the last chance to charge, and why it did not.

    charged_at is when the fee falls due under the deciding clause: a re-order at its op_time; a first order
    of days 1-20 when its 72-hour window ends; a held subscription at the start of the month, or when its
    72-hour window ends if that is later. The service's fee and fee_type are taken from the catalogue snapshot
    of the month (the latest batch on or before the month's last day, else the first one after it).

    user_id only (no MSISDN): the public mart fct_vas_order_charges pseudonymises it. A table: the charges
    mart, the service-health models and the sticky-service audit all read it.
-#}
{{ config(materialized='table') }}

with

orders as (

  select * from {{ ref('stg_boss__vas_orders') }}

),

services as (

  select * from {{ ref('stg_vgop__services') }}

),

---------- order data coverage and the month calendar

bounds as (

  select
    {{ dbt.date_trunc('month', 'min(operated_at)') }} as first_month_start,
    {{ dbt.date_trunc('month', 'max(batch_date)') }} as last_month_start,
    max(batch_date) as covered_through_date

  from orders

),

month_numbers as (

  {{ dbt.generate_series(1200) }}

),

months as (

  select
    month_start,
    {{ dbt.dateadd('month', 1, 'month_start') }} as next_month_start,
    {{ dbt.dateadd('day', 20, 'month_start') }} as late_period_start,
    cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'month_start')) }} as date) as month_last_date,
    cast(
      extract(year from month_start) * 100 + extract(month from month_start) as {{ dbt.type_string() }}
    ) as charge_month,
    covered_through_date

  from (
    select
      cast(
        {{ dbt.dateadd('month', 'month_numbers.generated_number - 1', 'bounds.first_month_start') }}
        as timestamp
      ) as month_start,
      bounds.last_month_start,
      bounds.covered_through_date
    from month_numbers
    cross join bounds
  ) as numbered
  where month_start <= last_month_start

),

---------- the service catalogue as of each month: only monthly (fee_type '03') services are charged

catalogue_versions as (

  -- a snapshot interface repeats every service in every batch: keep the batches where fee or type changed
  select
    service_code,
    fee_type,
    fee_fen,
    batch_date,
    case
      when
        (lag(fee_type) over (partition by service_code order by batch_date) is distinct from fee_type)
        or (lag(fee_fen) over (partition by service_code order by batch_date) is distinct from fee_fen)
        then 1
      else 0
    end as is_change

  from services

),

catalogue_ranked as (

  select
    catalogue_versions.service_code,
    catalogue_versions.fee_type,
    catalogue_versions.fee_fen,
    months.month_start,
    row_number() over (
      partition by catalogue_versions.service_code, months.month_start
      order by
        case when catalogue_versions.batch_date <= months.month_last_date then 0 else 1 end,
        case
          when catalogue_versions.batch_date <= months.month_last_date
            then catalogue_versions.batch_date
        end desc,
        catalogue_versions.batch_date
    ) as snapshot_rank

  from catalogue_versions
  cross join months
  where catalogue_versions.is_change = 1

),

monthly_services as (

  select
    service_code,
    month_start,
    fee_fen as info_fee_fen

  from catalogue_ranked
  where
    snapshot_rank = 1
    and fee_type = '03'

),

---------- orders paired with their cancels

sequenced as (

  select
    order_id,
    user_id,
    service_code,
    action,
    action_reason,
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

subscriptions as (

  select
    ordered.order_id,
    ordered.user_id,
    ordered.service_code,
    ordered.operated_at as ordered_at,
    cancels.operated_at as cancelled_at,
    cancels.action_reason as cancel_reason,
    coalesce(
      cancels.operated_at <= {{ dbt.dateadd('hour', 72, 'ordered.operated_at') }}, false
    ) as is_cancelled_within_72_hours

  from next_cancels as ordered
  left join sequenced as cancels
    on
      ordered.user_id = cancels.user_id
      and ordered.service_code = cancels.service_code
      and ordered.cancel_event_number = cancels.event_number
  where ordered.action = '1'

),

---------- candidates: subscriptions held at the start of a month ...

held_at_start as (

  select
    subscriptions.*,
    months.month_start,
    months.next_month_start,
    row_number() over (
      partition by subscriptions.user_id, subscriptions.service_code, months.month_start
      order by subscriptions.ordered_at desc, subscriptions.order_id desc
    ) as recency

  from subscriptions
  inner join months
    on
      subscriptions.ordered_at <= months.month_start
      and (subscriptions.cancelled_at is null or subscriptions.cancelled_at > months.month_start)

),

held_candidates as (

  select
    user_id,
    service_code,
    month_start,
    order_id,
    ordered_at,
    cancelled_at,
    cancel_reason,
    true as is_held_at_month_start,
    0 as order_number_in_month,
    case
      when is_cancelled_within_72_hours then 'HELD_QUICK_CANCEL'
      when cancel_reason = '3' and cancelled_at < next_month_start then 'HELD_CHARGE_FAILED'
      else 'HELD_CHARGED'
    end as charge_clause,
    case
      when {{ dbt.dateadd('hour', 72, 'ordered_at') }} > month_start
        then {{ dbt.dateadd('hour', 72, 'ordered_at') }}
      else month_start
    end as due_at

  from held_at_start
  -- one subscription per user, service and month: should two orders overlap, the latest is "its order"
  where recency = 1

),

---------- ... and the orders placed in the month

month_orders as (

  select
    subscriptions.*,
    months.month_start,
    months.late_period_start,
    row_number() over (
      partition by subscriptions.user_id, subscriptions.service_code, months.month_start
      order by subscriptions.ordered_at, subscriptions.order_id
    ) as order_number_in_month

  from subscriptions
  inner join months
    on
      subscriptions.ordered_at >= months.month_start
      and subscriptions.ordered_at < months.next_month_start
  -- an order at 00:00:00 of day 1 still held then is held at the start of the month (see held_at_start)
  where not (
    subscriptions.ordered_at = months.month_start
    and (subscriptions.cancelled_at is null or subscriptions.cancelled_at > months.month_start)
  )

),

month_orders_with_first as (

  select
    *,
    min(case when order_number_in_month = 1 then ordered_at end) over (
      partition by user_id, service_code, month_start
    ) < late_period_start as is_first_order_early

  from month_orders

),

order_candidates as (

  select
    user_id,
    service_code,
    month_start,
    order_id,
    ordered_at,
    cancelled_at,
    cancel_reason,
    false as is_held_at_month_start,
    order_number_in_month,
    case
      when order_number_in_month = 1 and ordered_at >= late_period_start then 'FIRST_LATE_FREE'
      when order_number_in_month = 1 and is_cancelled_within_72_hours then 'FIRST_EARLY_QUICK_CANCEL'
      when order_number_in_month = 1 then 'FIRST_EARLY_CHARGED'
      when ordered_at < late_period_start then 'REORDER_EARLY_CHARGED'
      when is_first_order_early then 'REORDER_LATE_CHARGED'
      else 'REORDER_LATE_FREE'
    end as charge_clause,
    case
      when order_number_in_month = 1 then {{ dbt.dateadd('hour', 72, 'ordered_at') }}
      else ordered_at
    end as due_at

  from month_orders_with_first

),

candidates as (

  select * from held_candidates
  union all
  select * from order_candidates

),

---------- at most once per user, service and month: the first charge decides

judged as (

  select
    *,
    charge_clause in (
      'HELD_CHARGED', 'FIRST_EARLY_CHARGED', 'REORDER_EARLY_CHARGED', 'REORDER_LATE_CHARGED'
    ) as is_charged

  from candidates

),

ranked as (

  select
    *,
    row_number() over (
      partition by user_id, service_code, month_start
      order by
        case when is_charged then 0 else 1 end,
        case when is_charged then due_at end,
        -- charged: the earliest charge; free: the latest order (the last chance to charge)
        case when is_charged then order_number_in_month else -order_number_in_month end,
        order_id
    ) as decision_rank,
    max(case when is_held_at_month_start then 1 else 0 end) over (
      partition by user_id, service_code, month_start
    ) = 1 as has_held_subscription,
    sum(case when is_held_at_month_start then 0 else 1 end) over (
      partition by user_id, service_code, month_start
    ) as month_order_count,
    min(case when is_held_at_month_start then null else ordered_at end) over (
      partition by user_id, service_code, month_start
    ) as first_ordered_at

  from judged

),

decided as (

  select * from ranked
  where decision_rank = 1

),

final as (

  select
    ---------- ids
    decided.user_id,
    decided.service_code,
    months.charge_month,
    decided.order_id,

    ---------- attributes
    decided.charge_clause,
    decided.cancel_reason,
    cast(decided.month_order_count as integer) as month_order_count,

    ---------- money (fen)
    monthly_services.info_fee_fen,
    cast(case when decided.is_charged then monthly_services.info_fee_fen else 0 end as integer)
      as charged_fen,

    ---------- booleans
    decided.is_charged,
    decided.has_held_subscription as is_held_at_month_start,
    months.month_last_date <= months.covered_through_date as is_month_complete,

    ---------- timestamps
    months.month_start as month_started_at,
    decided.ordered_at,
    decided.cancelled_at,
    decided.first_ordered_at,
    case when decided.is_charged then decided.due_at end as charged_at

  from decided
  inner join months
    on decided.month_start = months.month_start
  inner join monthly_services
    on
      decided.service_code = monthly_services.service_code
      and decided.month_start = monthly_services.month_start

)

select * from final
