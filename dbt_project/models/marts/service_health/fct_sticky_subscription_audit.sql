{#-
    Public mart: every audited subscription of a sticky service, per subscriber (keyed pseudonym), service and
    month, with one flag per audit rule and the evidence behind it. Built from int_sticky_subscriptions_audited
    (the rules and their unit tests live there); a table, because it may call pseudonym() (see with_user_pseudonyms).
-#}

with

audits as (

  select * from {{ ref('int_sticky_subscriptions_audited') }}

),

audits_pseudonymized as (

  {{ with_user_pseudonyms('audits') }}

),

final as (

  select
    ---------- ids
    {{ user_pseudonym_of('user_id') }} as user_pseudonym,
    service_code,
    month_start_date,
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
    use_count_since_order,
    charged_median_use_count,
    low_use_threshold,
    order_count,
    quick_cancel_count,
    unwanted_order_complaint_count,
    audit_rule_count,

    ---------- money (fen)
    charged_fen,

    ---------- booleans: one per audit rule, and any of them
    is_silent,
    is_quick_cancelled,
    has_unwanted_order_complaint,
    is_low_usage_charged,
    is_audit_flagged,

    ---------- booleans: the charge
    is_charged,
    is_held_at_month_start,
    is_month_complete

  from audits_pseudonymized

)

select * from final
