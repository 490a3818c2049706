{#-
    Which months the delivered CDR detail covers completely: one row per calendar month in which any CDR
    (voice, SMS or GPRS) was delivered, with the number of days of the month that have records of each kind.

    A day counts as delivered for an interface when the raw zone holds records of that interface with an event
    time on that day (a daily batch holds the records of the days it covers; the first daily batch may cover
    several days). A month is fully covered when every day of it has voice, SMS and GPRS records: only then
    must BASS_USAGE equal the aggregation of the detail (interface spec §4). A day a batch did not deliver
    (never sent, or its interface failed to load) therefore keeps its month out of the reconciliation instead
    of producing false breaks; so does the month in progress.

    From the CDR state per MSISDN and day (int_cdr_days_measured). Incremental by month on DuckDB like
    int_usage_from_cdrs_aggregated (macros/cdr_months.sql); a table on other engines.
-#}
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    incremental_strategy='delete+insert',
    unique_key='stat_month',
    on_schema_change='fail',
    pre_hook="{{ delete_cdr_state_months([ref('int_cdr_days_measured')], cdr_stat_month_start('stat_month')) }}"
) }}
-- depends_on: {{ source('mediation', 'cdr_voice') }}, {{ source('mediation', 'cdr_sms') }}, {{ source('mediation', 'cdr_gprs') }}
{%- set months = cdr_state_months_to_build([ref('int_cdr_days_measured')], cdr_stat_month_start('stat_month')) %}

with

days as (

  select * from {{ ref('int_cdr_days_measured') }}
  where {{ cdr_months_filter('month_start_date', months) }}

),

months as (

  select
    month_start_date,
    cast(count(distinct case when voice_records > 0 then event_date end) as integer) as voice_days,
    cast(count(distinct case when sms_records > 0 then event_date end) as integer) as sms_days,
    cast(count(distinct case when gprs_sessions > 0 then event_date end) as integer) as gprs_days,
    max(state_built_at) as state_built_at

  from days
  group by 1

),

sized as (

  select
    *,
    cast({{ dbt.datediff('month_start_date', dbt.dateadd('month', 1, 'month_start_date'), 'day') }} as integer)
      as days_in_month

  from months

),

final as (

  select
    ---------- ids
    cast(
      extract(year from month_start_date) * 100 + extract(month from month_start_date)
      as {{ dbt.type_string() }}
    ) as stat_month,

    ---------- counts
    days_in_month,
    voice_days,
    sms_days,
    gprs_days,

    ---------- booleans
    voice_days = days_in_month and sms_days = days_in_month and gprs_days = days_in_month as is_fully_covered,

    ---------- dates
    month_start_date,

    ---------- lineage
    {{ cdr_inputs_written_at() }} as inputs_written_at,
    state_built_at

  from sized

)

select * from final
