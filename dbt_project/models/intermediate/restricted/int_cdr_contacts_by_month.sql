{#-
    The other parties each MSISDN met by voice (MOC, MTC and FWD) or SMS in a month, with the days it met them:
    one row per (msisdn, month_start_date, other_party). day_mask has bit d - 1 set when a record of day d of
    the month exists. int_usage_from_cdrs_aggregated counts BASS_USAGE's distinct contacts from it: distinct
    other parties do not add up across days or batches, and the days met attribute a contact to the holder(s)
    of the number on those days (a number cancelled or recycled mid-month).

    Restricted schema: the MSISDN and the other party are personal data, kept as the raw layer keeps them and
    only counted downstream. On DuckDB a night merges the new CDR partitions' contacts into the state (MERGE:
    a contact met again gets the new days' bits, a new one a row), so it writes the rows the batch touches, not
    the month; it rebuilds from every batch the months of a redelivered, re-ingested, restored or removed
    partition (macros/cdr_months.sql); a table on other engines.
-#}
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    incremental_strategy='merge',
    unique_key=['msisdn', 'month_start_date', 'other_party'],
    merge_update_set_expressions={
        'day_mask': 'DBT_INTERNAL_DEST.day_mask | DBT_INTERNAL_SOURCE.day_mask',
        'state_built_at': 'DBT_INTERNAL_SOURCE.state_built_at'},
    on_schema_change='fail',
    pre_hook="{{ delete_cdr_months_to_rebuild() }}",
    post_hook="{{ record_partitions_read(cdr_sources_read()) }}"
) }}
-- depends_on: {{ source('mediation', 'cdr_voice') }}, {{ source('mediation', 'cdr_sms') }}, {{ source('mediation', 'cdr_gprs') }}
-- depends_on: {{ ref('stg_mediation__gprs_cdrs') }}
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

records as (

  select
    msisdn,
    cast(started_at as date) as event_date,
    other_party

  from voice_cdrs

  union all

  select
    msisdn,
    cast(sent_at as date) as event_date,
    other_party

  from sms_cdrs

),

contacts_read as (

  select
    msisdn,
    cast({{ dbt.date_trunc('month', 'event_date') }} as date) as month_start_date,
    other_party,
    bit_or({{ cdr_day_bit('event_date') }}) as day_mask

  from records
  where other_party is not null and event_date is not null
  group by 1, 2, 3

),

final as (

  select
    ---------- ids
    msisdn,
    month_start_date,
    other_party,

    ---------- flags
    day_mask,

    ---------- lineage
    {{ run_started_timestamp() }} as state_built_at

  from contacts_read

)

select * from final
