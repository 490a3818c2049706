{#-
    CDR detail per MSISDN and event day: the additive BASS_USAGE measures (interfaces.yaml) of the day's voice,
    SMS and GPRS records, one row per (msisdn, event_date). The running state int_usage_from_cdrs_aggregated
    attributes to subscribers and sums per month (active days are the rows' days).

        voice_records      every voice record (MOC, MTC and FWD: delivered days, contacts)
        voice_calls        MOC + MTC records (FWD not counted)
        voice_moc_calls    MOC records
        voice_seconds      duration over the same MOC + MTC records
        sms_records, sms_mo, sms_mt   SMS records, by type
        gprs_sessions      GPRS records
        gprs_kb            ceil((up_bytes + down_bytes) / 1024) summed per session

    Restricted schema: keyed by the raw MSISDN, so that records are attributed to the holder at the event day
    whenever the month is aggregated (holdings start and end at midnight). On DuckDB a night merges the new
    CDR partitions into the days they add to and rebuilds from every batch the months of a redelivered,
    re-ingested, restored or removed partition (macros/cdr_months.sql); a table on other engines.
-#}
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    incremental_strategy='delete+insert',
    unique_key='event_date',
    on_schema_change='fail',
    pre_hook="{{ delete_cdr_months_to_rebuild() }}",
    post_hook="{{ record_partitions_read(cdr_sources_read()) }}"
) }}
-- depends_on: {{ source('mediation', 'cdr_voice') }}, {{ source('mediation', 'cdr_sms') }}, {{ source('mediation', 'cdr_gprs') }}
{%- set plan = cdr_state_plan() %}

with

voice_cdrs as (

  select * from {{ ref('stg_mediation__voice_cdrs') }}
  where {{ cdr_records_to_read('cdr_voice', 'started_at', plan) }}

),

sms_cdrs as (

  select * from {{ ref('stg_mediation__sms_cdrs') }}
  where {{ cdr_records_to_read('cdr_sms', 'sent_at', plan) }}

),

gprs_cdrs as (

  select * from {{ ref('stg_mediation__gprs_cdrs') }}
  where {{ cdr_records_to_read('cdr_gprs', 'started_at', plan) }}

),

records as (

  select
    msisdn,
    cast(started_at as date) as event_date,
    1 as voice_records,
    case when call_type in ('MOC', 'MTC') then 1 else 0 end as voice_calls,
    case when call_type = 'MOC' then 1 else 0 end as voice_moc_calls,
    case when call_type in ('MOC', 'MTC') then duration_seconds else 0 end as voice_seconds,
    0 as sms_records,
    0 as sms_mo,
    0 as sms_mt,
    0 as gprs_sessions,
    cast(0 as bigint) as gprs_kb

  from voice_cdrs

  union all

  select
    msisdn,
    cast(sent_at as date) as event_date,
    0 as voice_records,
    0 as voice_calls,
    0 as voice_moc_calls,
    0 as voice_seconds,
    1 as sms_records,
    case when sms_type = 'MO' then 1 else 0 end as sms_mo,
    case when sms_type = 'MT' then 1 else 0 end as sms_mt,
    0 as gprs_sessions,
    cast(0 as bigint) as gprs_kb

  from sms_cdrs

  union all

  select
    msisdn,
    cast(started_at as date) as event_date,
    0 as voice_records,
    0 as voice_calls,
    0 as voice_moc_calls,
    0 as voice_seconds,
    0 as sms_records,
    0 as sms_mo,
    0 as sms_mt,
    1 as gprs_sessions,
    cast(ceil((up_bytes + down_bytes) / 1024.0) as bigint) as gprs_kb

  from gprs_cdrs

),

days_read as (

  select
    msisdn,
    event_date,
    cast(sum(voice_records) as bigint) as voice_records,
    cast(sum(voice_calls) as bigint) as voice_calls,
    cast(sum(voice_moc_calls) as bigint) as voice_moc_calls,
    cast(sum(voice_seconds) as bigint) as voice_seconds,
    cast(sum(sms_records) as bigint) as sms_records,
    cast(sum(sms_mo) as bigint) as sms_mo,
    cast(sum(sms_mt) as bigint) as sms_mt,
    cast(sum(gprs_sessions) as bigint) as gprs_sessions,
    cast(sum(gprs_kb) as bigint) as gprs_kb

  from records
  where event_date is not null
  group by msisdn, event_date

),

days as (

  {% if plan is not none and plan.days -%}
  select
    msisdn,
    event_date,
    sum(voice_records) as voice_records,
    sum(voice_calls) as voice_calls,
    sum(voice_moc_calls) as voice_moc_calls,
    sum(voice_seconds) as voice_seconds,
    sum(sms_records) as sms_records,
    sum(sms_mo) as sms_mo,
    sum(sms_mt) as sms_mt,
    sum(gprs_sessions) as gprs_sessions,
    sum(gprs_kb) as gprs_kb

  from (
    select
      msisdn, event_date, voice_records, voice_calls, voice_moc_calls, voice_seconds, sms_records, sms_mo,
      sms_mt, gprs_sessions, gprs_kb
    from {{ this }}
    where {{ cdr_state_to_merge('event_date', plan.days) }}
    union all
    select * from days_read
  ) as merged
  group by msisdn, event_date
  {% else %}
    select * from days_read
  {% endif %}

),

final as (

  select
    ---------- ids
    msisdn,
    event_date,

    ---------- counts
    cast(voice_records as bigint) as voice_records,
    cast(voice_calls as bigint) as voice_calls,
    cast(voice_moc_calls as bigint) as voice_moc_calls,
    cast(voice_seconds as bigint) as voice_seconds,
    cast(sms_records as bigint) as sms_records,
    cast(sms_mo as bigint) as sms_mo,
    cast(sms_mt as bigint) as sms_mt,
    cast(gprs_sessions as bigint) as gprs_sessions,
    cast(gprs_kb as bigint) as gprs_kb,

    ---------- dates
    cast({{ dbt.date_trunc('month', 'event_date') }} as date) as month_start_date,

    ---------- lineage
    {{ run_started_timestamp() }} as state_built_at

  from days

)

select * from final
