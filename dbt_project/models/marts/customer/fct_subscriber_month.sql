{#-
    Usage per subscriber and month, published: int_subscriber_months_measured under the keyed pseudonym.
    One row per (user, month) with an active subscription in the month; usage_source says whether the month's
    usage is BASS_USAGE's summary or the CDR detail of the month in progress. Incremental by month: a run
    rebuilds the months from the first one whose raw-zone inputs changed (inputs_written_at), and every month
    when the pseudonym key changed.
-#}
{%- set categories = ['news', 'sports', 'finance', 'entertainment', 'music', 'games', 'life', 'education'] -%}

{{ config(
    materialized='incremental',
    incremental_strategy=('insert_overwrite' if target.type == 'spark' else 'delete+insert'),
    unique_key='month_start_date',
    partition_by=(['month_start_date'] if target.type == 'spark' else none),
    on_schema_change='fail'
) }}

with

measured as (

  select * from {{ ref('int_subscriber_months_measured') }}
  where month_start_date >= {{ first_month_to_build(ref('int_customer_months'), ref('int_users_pseudonymized')) }}

),

pseudonyms as (

  select * from {{ ref('int_users_pseudonymized') }}

),

final as (

  select
    ---------- ids
    pseudonyms.user_pseudonym,
    measured.month_start_date,

    ---------- month
    measured.usage_source,
    measured.usage_day_count,
    measured.is_month_complete,

    ---------- voice
    measured.voice_calls,
    measured.voice_moc_calls,
    measured.voice_seconds,
    measured.voice_minutes,
    measured.outgoing_call_share,
    measured.distinct_contacts,
    measured.has_voice_detail,
    measured.voice_detail_calls,
    measured.on_net_calls,
    measured.off_net_calls,
    measured.fixed_line_calls,
    measured.unknown_party_calls,
    measured.off_net_call_share,
    measured.fixed_line_call_share,
    measured.roaming_calls,
    measured.national_roaming_calls,
    measured.international_roaming_calls,
    measured.roaming_seconds,
    measured.roaming_call_share,

    ---------- SMS
    measured.sms_mo,
    measured.sms_mt,

    ---------- data
    measured.gprs_sessions,
    measured.gprs_kb,
    measured.gprs_mb,
    measured.gprs_quota_mb,
    measured.gprs_quota_use_ratio,
    measured.gprs_overflow_mb,
    measured.is_gprs_overflow,
    measured.active_days,

    ---------- VAS
    measured.held_vas_count,
    measured.held_newspaper_count,
    measured.vas_order_count,
    measured.vas_cancel_count,
    measured.vas_use_count,
    {% for category in categories -%}
      measured.{{ category }}_use_count,
    {% endfor -%}
    measured.vas_delivery_count,
    measured.vas_delivery_received_count,
    measured.vas_delivery_failed_count,
    measured.vas_delivery_terminal_failed_count,

    ---------- lineage
    measured.inputs_written_at

  from measured
  inner join pseudonyms
    on measured.user_id = pseudonyms.user_id

)

select * from final
