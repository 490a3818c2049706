{#-
    The sticky-service health audit (稽核, interface spec §5), one row per user, sticky service and month.

    Audited population: the service's billed subscribers of the month - every (user, service, month) the
    Monternet charging rule decided (int_vas_order_charges_decided: the subscription was held at 00:00:00 of
    day 1 or ordered during the month), charged or not, for the services the month's catalogue marks
    is_sticky. A quick cancel is free under the rule yet belongs to the audit: it is one of the signs the
    audit looks for. The rule is reused, not rebuilt: is_charged and charged_fen come from it.

    One boolean per audit rule (a subscription can match several):
      is_silent                    ordered and never received a successful delivery or used the service:
                                   no use (BASS_VAS_USAGE use_count counts both) in any month audited under
                                   the same order so far, this one included (use_count_since_order = 0)
      is_quick_cancelled           an order of the service placed in the month was cancelled within 72 hours
                                   (op_time to op_time, inclusive of exactly 72:00:00)
      has_unwanted_order_complaint the user made an UNWANTED_ORDER complaint about the service, created in
                                   the month (a complaint of another category, or about another service,
                                   does not count)
      is_low_usage_charged         the month's info fee was charged and the month's use is below the
                                   low-use threshold: var('sticky_audit_low_usage_share', 0.25) of the
                                   service's median use among its charged subscribers that month, and at
                                   least 1 (no use at all is always low) - a fixed count cannot serve both a
                                   daily push service (~30 deliveries a month) and an on-demand one
    is_audit_flagged: any of them.

    Use in the month (use_count): BASS_VAS_USAGE use_count (successful deliveries received plus user requests)
    for the months BASS delivered; for a month it has not delivered yet (the month in progress) the same
    measure from the detail: successful VAS_DELIVERY records plus MO requests to the service in CDR_SMS,
    attributed to the user who held the number at the event time (usage_source 'DETAIL').

    The sticky flag is the catalogue's as of the month (REF_SERVICE snapshot of the latest batch on or before
    the month's last day, else the first one after it). user_id only: fct_sticky_subscription_audit
    publishes it under a pseudonym.
-#}
{{ config(materialized='table') }}

{%- set low_usage_share = var('sticky_audit_low_usage_share', 0.25) %}

with

charges as (

  select * from {{ ref('int_vas_order_charges_decided') }}

),

services as (

  select * from {{ ref('stg_vgop__services') }}

),

orders as (

  select * from {{ ref('int_vas_orders_paired') }}

),

complaints as (

  select * from {{ ref('int_crm_complaints_attributed') }}

),

bass_vas_usage as (

  select * from {{ ref('stg_bass__vas_usage') }}

),

deliveries as (

  select * from {{ ref('stg_vgop__deliveries') }}

),

status_codes as (

  select * from {{ ref('stg_vgop__status_codes') }}

),

sms_cdrs as (

  select * from {{ ref('stg_mediation__sms_cdrs') }}

),

assignments as (

  select * from {{ ref('int_msisdn_assignments_historized') }}

),

---------- the month's catalogue: which services are sticky

months as (

  select distinct
    charge_month,
    month_started_at,
    cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'month_started_at')) }} as date) as month_last_date

  from charges

),

catalogue_ranked as (

  select
    services.service_code,
    services.is_sticky,
    months.charge_month,
    row_number() over (
      partition by services.service_code, months.charge_month
      order by
        case when services.batch_date <= months.month_last_date then 0 else 1 end,
        case when services.batch_date <= months.month_last_date then services.batch_date end desc,
        services.batch_date
    ) as snapshot_rank

  from services
  cross join months

),

sticky_services as (

  select
    service_code,
    charge_month
  from catalogue_ranked
  where snapshot_rank = 1 and is_sticky

),

population as (

  select charges.*
  from charges
  inner join sticky_services
    on
      charges.service_code = sticky_services.service_code
      and charges.charge_month = sticky_services.charge_month

),

---------- use of the service in the month: BASS where delivered, else the detail

bass_months as (

  select distinct stat_month from bass_vas_usage

),

bass_use as (

  -- one row per (stat_month, user_id, service_code): the interface's key
  select
    bass_vas_usage.user_id,
    bass_vas_usage.service_code,
    bass_vas_usage.stat_month as charge_month,
    bass_vas_usage.use_count

  from bass_vas_usage
  inner join sticky_services
    on
      bass_vas_usage.service_code = sticky_services.service_code
      and bass_vas_usage.stat_month = sticky_services.charge_month

),

detail_months as (

  select
    months.charge_month,
    months.month_started_at
  from months
  left join bass_months
    on months.charge_month = bass_months.stat_month
  where bass_months.stat_month is null

),

detail_start as (

  select min(month_started_at) as detail_from from detail_months

),

success_codes as (

  select distinct status_code
  from status_codes
  where status_class = 'SUCCESS'

),

detail_events as (

  select
    deliveries.msisdn,
    deliveries.service_code,
    deliveries.sent_at as event_at
  from deliveries
  inner join success_codes
    on deliveries.status_code = success_codes.status_code
  cross join detail_start
  where deliveries.sent_at >= detail_start.detail_from

  union all

  select
    sms_cdrs.msisdn,
    sms_cdrs.service_code,
    sms_cdrs.sent_at as event_at
  from sms_cdrs
  cross join detail_start
  where
    sms_cdrs.sms_type = 'MO'
    and sms_cdrs.service_code is not null
    and sms_cdrs.sent_at >= detail_start.detail_from

),

detail_use as (

  select
    assignments.user_id,
    detail_events.service_code,
    detail_months.charge_month,
    count(*) as use_count

  from detail_events
  inner join detail_months
    on {{ dbt.date_trunc('month', 'detail_events.event_at') }} = detail_months.month_started_at
  inner join sticky_services
    on
      detail_events.service_code = sticky_services.service_code
      and detail_months.charge_month = sticky_services.charge_month
  inner join assignments
    on
      detail_events.msisdn = assignments.msisdn
      and detail_events.event_at >= assignments.valid_from
      and {{ before_valid_to('detail_events.event_at', 'assignments.valid_to') }}
  group by assignments.user_id, detail_events.service_code, detail_months.charge_month

),

---------- the other rules' evidence

month_orders as (

  select
    orders.user_id,
    orders.service_code,
    months.charge_month,
    count(*) as order_count,
    sum(case when orders.is_quick_cancel then 1 else 0 end) as quick_cancel_count

  from orders
  inner join months
    on {{ dbt.date_trunc('month', 'orders.ordered_at') }} = months.month_started_at
  where not orders.is_go_live_sync
  group by orders.user_id, orders.service_code, months.charge_month

),

unwanted_complaints as (

  select
    complaints.user_id,
    complaints.service_code,
    months.charge_month,
    count(*) as unwanted_order_complaint_count

  from complaints
  inner join months
    on {{ dbt.date_trunc('month', 'complaints.created_at') }} = months.month_started_at
  where
    complaints.is_unwanted_order
    and complaints.user_id is not null
    and complaints.service_code is not null
  group by complaints.user_id, complaints.service_code, months.charge_month

),

---------- one row per audited subscription, one flag per rule

evidence as (

  select
    population.user_id,
    population.service_code,
    population.charge_month,
    population.month_started_at,
    population.order_id,
    population.charge_clause,
    population.is_charged,
    population.charged_fen,
    population.is_held_at_month_start,
    population.is_month_complete,
    deciding_orders.channel as order_channel,
    deciding_orders.hall_id,
    deciding_orders.staff_id,
    case when bass_months.stat_month is not null then 'BASS' else 'DETAIL' end as usage_source,
    cast(
      case
        when bass_months.stat_month is not null then coalesce(bass_use.use_count, 0)
        else coalesce(detail_use.use_count, 0)
      end as bigint
    ) as use_count,
    cast(coalesce(month_orders.order_count, 0) as bigint) as order_count,
    cast(coalesce(month_orders.quick_cancel_count, 0) as bigint) as quick_cancel_count,
    cast(coalesce(unwanted_complaints.unwanted_order_complaint_count, 0) as bigint)
      as unwanted_order_complaint_count

  from population
  left join bass_months
    on population.charge_month = bass_months.stat_month
  left join bass_use
    on
      population.user_id = bass_use.user_id
      and population.service_code = bass_use.service_code
      and population.charge_month = bass_use.charge_month
  left join detail_use
    on
      population.user_id = detail_use.user_id
      and population.service_code = detail_use.service_code
      and population.charge_month = detail_use.charge_month
  left join month_orders
    on
      population.user_id = month_orders.user_id
      and population.service_code = month_orders.service_code
      and population.charge_month = month_orders.charge_month
  left join unwanted_complaints
    on
      population.user_id = unwanted_complaints.user_id
      and population.service_code = unwanted_complaints.service_code
      and population.charge_month = unwanted_complaints.charge_month
  left join orders as deciding_orders
    on population.order_id = deciding_orders.order_id

),

used as (

  -- use since the subscription's order: every month it has been audited under the same order so far
  select
    *,
    sum(use_count) over (
      partition by user_id, service_code, order_id order by month_started_at
      rows between unbounded preceding and current row
    ) as use_count_since_order

  from evidence

),

typical_use as (

  -- the service's typical use that month, among its charged subscribers
  select
    service_code,
    charge_month,
    {{ vasmart.median('use_count') }} as charged_median_use_count

  from evidence
  where is_charged
  group by service_code, charge_month

),

thresholds as (

  select
    used.*,
    typical_use.charged_median_use_count,
    -- fewer uses than a quarter of the service's median, and in any case none at all
    case
      when {{ low_usage_share }} * coalesce(typical_use.charged_median_use_count, 0) > 1
        then {{ low_usage_share }} * typical_use.charged_median_use_count
      else 1
    end as low_use_threshold

  from used
  left join typical_use
    on
      used.service_code = typical_use.service_code
      and used.charge_month = typical_use.charge_month

),

flagged as (

  select
    *,
    use_count_since_order = 0 as is_silent,
    quick_cancel_count > 0 as is_quick_cancelled,
    unwanted_order_complaint_count > 0 as has_unwanted_order_complaint,
    is_charged and use_count < low_use_threshold as is_low_usage_charged

  from thresholds

),

final as (

  select
    ---------- ids
    user_id,
    service_code,
    cast(month_started_at as date) as month_start_date,
    charge_month,
    order_id,
    hall_id,
    staff_id,

    ---------- attributes
    charge_clause,
    order_channel,
    usage_source,

    ---------- counts
    use_count,
    cast(use_count_since_order as bigint) as use_count_since_order,
    cast(charged_median_use_count as double) as charged_median_use_count,
    cast(low_use_threshold as double) as low_use_threshold,
    order_count,
    quick_cancel_count,
    unwanted_order_complaint_count,
    cast(
      case when is_silent then 1 else 0 end
      + case when is_quick_cancelled then 1 else 0 end
      + case when has_unwanted_order_complaint then 1 else 0 end
      + case when is_low_usage_charged then 1 else 0 end
      as integer
    ) as audit_rule_count,

    ---------- money (fen)
    charged_fen,

    ---------- booleans: one per audit rule, and any of them
    is_silent,
    is_quick_cancelled,
    has_unwanted_order_complaint,
    is_low_usage_charged,
    is_silent or is_quick_cancelled or has_unwanted_order_complaint or is_low_usage_charged
      as is_audit_flagged,

    ---------- booleans: the charge
    is_charged,
    is_held_at_month_start,
    is_month_complete

  from flagged

)

select * from final
