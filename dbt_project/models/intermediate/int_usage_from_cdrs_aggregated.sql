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
    Holdings start and end at midnight (join date, the day after cancellation), so the event day decides: the
    measures come per MSISDN and day from int_cdr_days_measured, the contacts per MSISDN and month with the days
    met from int_cdr_contacts_by_month (a contact counts for each holder on whose days it was met). A record no
    holding covers keeps user_id NULL (its own row per month), so it is counted, not lost.

    No MSISDN nor other party is output: user_id and counts only. Incremental by month on DuckDB: a run
    rebuilds the months whose CDR state was rebuilt since (macros/cdr_months.sql), normally the month in
    progress, from the state, never from the raw records; a table on other engines.
-#}
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    incremental_strategy='delete+insert',
    unique_key='stat_month',
    on_schema_change='fail',
    pre_hook="{{ delete_cdr_state_months([ref('int_cdr_days_measured'), ref('int_cdr_contacts_by_month')], cdr_stat_month_start('stat_month')) }}"
) }}
-- depends_on: {{ source('mediation', 'cdr_voice') }}, {{ source('mediation', 'cdr_sms') }}, {{ source('mediation', 'cdr_gprs') }}
{%- set months = cdr_state_months_to_build([ref('int_cdr_days_measured'), ref('int_cdr_contacts_by_month')], cdr_stat_month_start('stat_month')) %}

with

days as (

  select * from {{ ref('int_cdr_days_measured') }}
  where {{ cdr_months_filter('month_start_date', months) }}

),

contacts as (

  select * from {{ ref('int_cdr_contacts_by_month') }}
  where {{ cdr_months_filter('month_start_date', months) }}

),

assignments as (

  select * from {{ ref('int_msisdn_assignments_historized') }}

),

days_attributed as (

  select
    assignments.user_id,
    days.*

  from days
  left join assignments
    on
      days.msisdn = assignments.msisdn
      and cast(days.event_date as {{ dbt.type_timestamp() }}) >= assignments.valid_from
      and {{ before_valid_to('cast(days.event_date as ' ~ dbt.type_timestamp() ~ ')', 'assignments.valid_to') }}

),

measured as (

  select
    user_id,
    month_start_date,
    cast(sum(voice_calls) as bigint) as voice_calls,
    cast(sum(voice_moc_calls) as bigint) as voice_moc_calls,
    cast(sum(voice_seconds) as bigint) as voice_seconds,
    cast(sum(sms_mo) as bigint) as sms_mo,
    cast(sum(sms_mt) as bigint) as sms_mt,
    cast(sum(gprs_sessions) as bigint) as gprs_sessions,
    cast(sum(gprs_kb) as bigint) as gprs_kb,
    -- days of the month with a record: the bits of the days' mask (no distinct set per user to hash)
    cast(bit_count(bit_or({{ cdr_day_bit('event_date') }})) as bigint) as active_days,
    cast(sum(voice_records + sms_records + gprs_sessions) as bigint) as record_count

  from days_attributed
  group by user_id, month_start_date

),

held_days as (

  -- per number and month, the days each holder (or nobody: user_id NULL) had records on, and how many
  -- numbers the holder had records on that month
  select
    msisdn,
    month_start_date,
    user_id,
    bit_or({{ cdr_day_bit('event_date') }}) as day_mask,
    count(*) over (partition by user_id, month_start_date) as numbers_held

  from days_attributed
  group by msisdn, month_start_date, user_id

),

contacts_met as (

  select
    held_days.user_id,
    held_days.month_start_date,
    held_days.numbers_held,
    contacts.other_party

  from contacts
  inner join held_days
    on
      contacts.msisdn = held_days.msisdn
      and contacts.month_start_date = held_days.month_start_date
      and (contacts.day_mask & held_days.day_mask) <> 0

),

contact_counts as (

  -- a holder of one number: its contact rows are distinct already (one per other party), so they are
  -- counted; a holder of several numbers that month (or nobody) needs the distinct count
  select
    user_id,
    month_start_date,
    cast(count(*) as bigint) as distinct_contacts
  from contacts_met
  where numbers_held = 1
  group by user_id, month_start_date

  union all

  select
    user_id,
    month_start_date,
    cast(count(distinct other_party) as bigint) as distinct_contacts
  from contacts_met
  where numbers_held > 1
  group by user_id, month_start_date

),

month_states as (

  -- the dbt run that last wrote each month's state: lineage the next run compares
  select
    month_start_date,
    max(state_built_at) as state_built_at
  from (
    select
      month_start_date,
      state_built_at
    from days
    union all
    select
      month_start_date,
      state_built_at
    from contacts
  ) as states
  group by month_start_date

),

final as (

  select
    ---------- ids
    measured.user_id,
    cast(
      extract(year from measured.month_start_date) * 100 + extract(month from measured.month_start_date)
      as {{ dbt.type_string() }}
    ) as stat_month,

    ---------- counts (BASS_USAGE measures)
    measured.voice_calls,
    measured.voice_moc_calls,
    measured.voice_seconds,
    coalesce(contact_counts.distinct_contacts, 0) as distinct_contacts,
    measured.sms_mo,
    measured.sms_mt,
    measured.gprs_sessions,
    measured.gprs_kb,
    measured.active_days,

    ---------- counts (lineage)
    measured.record_count,

    ---------- lineage
    {{ cdr_inputs_written_at() }} as inputs_written_at,
    month_states.state_built_at

  from measured
  inner join month_states
    on measured.month_start_date = month_states.month_start_date
  left join contact_counts
    on
      measured.month_start_date = contact_counts.month_start_date
      and coalesce(measured.user_id, -1) = coalesce(contact_counts.user_id, -1)

)

select * from final
