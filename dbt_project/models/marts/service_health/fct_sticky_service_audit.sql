{#-
    Public mart: the sticky-service health audit (稽核率) per service and month - the share of the service's
    billed subscribers whose subscription an audit rule flagged, against the operator's target (below 10%).
    Built from int_sticky_subscriptions_audited (the rules and their unit tests live there).
-#}

{%- set audit_target_rate = var('sticky_audit_target_rate', 0.10) %}

with

audits as (

  select * from {{ ref('int_sticky_subscriptions_audited') }}

),

aggregated as (

  select
    service_code,
    month_start_date,
    max(charge_month) as charge_month,
    count(*) as audited_subscriber_count,
    sum(case when is_charged then 1 else 0 end) as charged_subscriber_count,
    sum(case when is_audit_flagged then 1 else 0 end) as audit_flagged_subscriber_count,
    sum(case when is_silent then 1 else 0 end) as silent_subscriber_count,
    sum(case when is_quick_cancelled then 1 else 0 end) as quick_cancelled_subscriber_count,
    sum(case when has_unwanted_order_complaint then 1 else 0 end) as unwanted_order_complaint_subscriber_count,
    sum(case when is_low_usage_charged then 1 else 0 end) as low_usage_charged_subscriber_count,
    sum(charged_fen) as charged_fen,
    sum(case when is_audit_flagged then charged_fen else 0 end) as audit_flagged_charged_fen,
    min(usage_source) as usage_source,
    min(case when is_month_complete then 1 else 0 end) = 1 as is_month_complete

  from audits
  group by service_code, month_start_date

),

final as (

  select
    ---------- ids
    service_code,
    month_start_date,
    charge_month,

    ---------- attributes
    usage_source,

    ---------- counts: subscribers
    cast(audited_subscriber_count as bigint) as audited_subscriber_count,
    cast(charged_subscriber_count as bigint) as charged_subscriber_count,
    cast(audit_flagged_subscriber_count as bigint) as audit_flagged_subscriber_count,
    cast(silent_subscriber_count as bigint) as silent_subscriber_count,
    cast(quick_cancelled_subscriber_count as bigint) as quick_cancelled_subscriber_count,
    cast(unwanted_order_complaint_subscriber_count as bigint) as unwanted_order_complaint_subscriber_count,
    cast(low_usage_charged_subscriber_count as bigint) as low_usage_charged_subscriber_count,

    ---------- money (fen)
    cast(charged_fen as bigint) as charged_fen,
    cast(audit_flagged_charged_fen as bigint) as audit_flagged_charged_fen,

    ---------- rates
    cast(audit_flagged_subscriber_count as double) / audited_subscriber_count as audit_rate,
    cast({{ audit_target_rate }} as double) as audit_target_rate,

    ---------- booleans
    cast(audit_flagged_subscriber_count as double) / audited_subscriber_count < {{ audit_target_rate }}
      as is_audit_target_met,
    is_month_complete

  from aggregated

)

select * from final
