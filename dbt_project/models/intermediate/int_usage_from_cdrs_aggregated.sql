{#-
    Monthly usage per subscriber aggregated from the CDR detail, with BASS_USAGE's definitions
    (interfaces.yaml), so that it can be reconciled with BASS_USAGE (fct_usage_reconciliation):

        voice_calls        MOC + MTC records (FWD not counted)
        voice_moc_calls    MOC records
        voice_seconds      duration over the same MOC + MTC records
        distinct_contacts  distinct other_party over all voice and SMS records
        sms_mo, sms_mt     SMS records by type
        gprs_sessions      GPRS records
        gprs_kb            ceil((up_bytes + down_bytes) / 1024) summed per session
        active_days        days with at least one voice, SMS or GPRS record

    Every record is attributed to the user who held its MSISDN at the event time (numbers are recycled):
    event_at >= valid_from and (valid_to is null or event_at < valid_to) in int_msisdn_assignments_historized.
    A record no holding covers keeps user_id NULL (its own row per month), so it is counted, not lost.

    other_party is personal data: it is only counted here, never output. No MSISDN either: user_id and counts
    only. Incremental by event month on DuckDB (macros/cdr_months.sql): a night rebuilds the months of the CDR
    partitions written since the last build, normally the month in progress, from every batch; a table on
    other engines.
-#}
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    incremental_strategy='delete+insert',
    unique_key='stat_month',
    on_schema_change='fail',
    post_hook="{{ record_cdr_partitions_built() }}"
) }}
-- depends_on: {{ source('mediation', 'cdr_voice') }}, {{ source('mediation', 'cdr_sms') }}, {{ source('mediation', 'cdr_gprs') }}
{%- set months = cdr_months_to_build() %}

with

voice_cdrs as (

  select * from {{ ref('stg_mediation__voice_cdrs') }}
  where {{ cdr_event_months_filter('started_at', months) }}

),

sms_cdrs as (

  select * from {{ ref('stg_mediation__sms_cdrs') }}
  where {{ cdr_event_months_filter('sent_at', months) }}

),

gprs_cdrs as (

  select * from {{ ref('stg_mediation__gprs_cdrs') }}
  where {{ cdr_event_months_filter('started_at', months) }}

),

assignments as (

  select * from {{ ref('int_msisdn_assignments_historized') }}

),

records as (

  select
    msisdn,
    started_at as event_at,
    other_party,
    case when call_type in ('MOC', 'MTC') then 1 else 0 end as voice_calls,
    case when call_type = 'MOC' then 1 else 0 end as voice_moc_calls,
    case when call_type in ('MOC', 'MTC') then duration_seconds else 0 end as voice_seconds,
    0 as sms_mo,
    0 as sms_mt,
    0 as gprs_sessions,
    0 as gprs_kb

  from voice_cdrs

  union all

  select
    msisdn,
    sent_at as event_at,
    other_party,
    0 as voice_calls,
    0 as voice_moc_calls,
    0 as voice_seconds,
    case when sms_type = 'MO' then 1 else 0 end as sms_mo,
    case when sms_type = 'MT' then 1 else 0 end as sms_mt,
    0 as gprs_sessions,
    0 as gprs_kb

  from sms_cdrs

  union all

  select
    msisdn,
    started_at as event_at,
    cast(null as {{ dbt.type_string() }}) as other_party,
    0 as voice_calls,
    0 as voice_moc_calls,
    0 as voice_seconds,
    0 as sms_mo,
    0 as sms_mt,
    1 as gprs_sessions,
    cast(ceil((up_bytes + down_bytes) / 1024.0) as bigint) as gprs_kb

  from gprs_cdrs

),

attributed as (

  select
    assignments.user_id,
    {{ dbt.date_trunc('month', 'records.event_at') }} as month_start,
    cast(records.event_at as date) as event_date,
    records.other_party,
    records.voice_calls,
    records.voice_moc_calls,
    records.voice_seconds,
    records.sms_mo,
    records.sms_mt,
    records.gprs_sessions,
    records.gprs_kb

  from records
  left join assignments
    on
      records.msisdn = assignments.msisdn
      and records.event_at >= assignments.valid_from
      and {{ before_valid_to('records.event_at', 'assignments.valid_to') }}

),

aggregated as (

  select
    user_id,
    month_start,
    cast(sum(voice_calls) as bigint) as voice_calls,
    cast(sum(voice_moc_calls) as bigint) as voice_moc_calls,
    cast(sum(voice_seconds) as bigint) as voice_seconds,
    cast(count(distinct other_party) as bigint) as distinct_contacts,
    cast(sum(sms_mo) as bigint) as sms_mo,
    cast(sum(sms_mt) as bigint) as sms_mt,
    cast(sum(gprs_sessions) as bigint) as gprs_sessions,
    cast(sum(gprs_kb) as bigint) as gprs_kb,
    cast(count(distinct event_date) as bigint) as active_days,
    cast(count(*) as bigint) as record_count

  from attributed
  group by user_id, month_start

),

final as (

  select
    ---------- ids
    user_id,
    cast(
      extract(year from month_start) * 100 + extract(month from month_start) as {{ dbt.type_string() }}
    ) as stat_month,

    ---------- counts (BASS_USAGE measures)
    voice_calls,
    voice_moc_calls,
    voice_seconds,
    distinct_contacts,
    sms_mo,
    sms_mt,
    gprs_sessions,
    gprs_kb,
    active_days,

    ---------- counts (lineage)
    record_count,

    ---------- lineage
    {{ cdr_inputs_written_at() }} as inputs_written_at

  from aggregated

)

select * from final
