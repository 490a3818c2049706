{#-
    Reconciliation breaks between BASS_USAGE and the CDR detail: one row per (subscriber, month, measure)
    whose BASS value differs from the aggregation of that month's CDRs, so zero rows when they agree.

    Compared: the months the CDR detail covers completely (int_usage_from_cdrs_coverage: records of every
    kind on every day of the month) and for which BASS_USAGE was delivered. For those months every subscriber
    with a BASS_USAGE row or with CDRs attributed to them is compared on the nine BASS_USAGE measures; a side
    without a row counts as 0 (BASS_USAGE lists only subscribers with activity) and is flagged. CDRs no MSISDN
    holding covers cannot be compared per subscriber and are left out here (int_usage_from_cdrs_aggregated
    keeps them under a NULL user_id, with a test that warns).

    The subscriber is identified by the keyed pseudonym of user_id; a table, because it calls pseudonym().
-#}

{%- set measures = ['voice_calls', 'voice_moc_calls', 'voice_seconds', 'distinct_contacts', 'sms_mo', 'sms_mt',
                    'gprs_sessions', 'gprs_kb', 'active_days'] %}

with

bass_usage as (

  select * from {{ ref('stg_bass__usage') }}

),

cdr_usage as (

  select * from {{ ref('int_usage_from_cdrs_aggregated') }}

),

coverage as (

  select * from {{ ref('int_usage_from_cdrs_coverage') }}

),

compared_months as (

  select coverage.stat_month
  from coverage
  where
    coverage.is_fully_covered
    and coverage.stat_month in (select bass_usage.stat_month from bass_usage)

),

bass_in_scope as (

  select
    user_id,
    stat_month,
    voice_calls,
    voice_moc_calls,
    voice_seconds,
    distinct_contacts,
    sms_mo,
    sms_mt,
    gprs_sessions,
    gprs_kb,
    active_days

  from bass_usage
  where stat_month in (select stat_month from compared_months)

),

cdrs_in_scope as (

  select *
  from cdr_usage
  where
    user_id is not null
    and stat_month in (select stat_month from compared_months)

),

joined as (

  select
    coalesce(bass_in_scope.user_id, cdrs_in_scope.user_id) as user_id,
    coalesce(bass_in_scope.stat_month, cdrs_in_scope.stat_month) as stat_month,
    bass_in_scope.user_id is null as is_missing_in_bass,
    cdrs_in_scope.user_id is null as is_missing_in_cdrs,
    {%- for measure in measures %}
      cast(coalesce(bass_in_scope.{{ measure }}, 0) as bigint) as bass_{{ measure }},
      cast(coalesce(cdrs_in_scope.{{ measure }}, 0) as bigint) as cdr_{{ measure }}{% if not loop.last %},{% endif %}
    {%- endfor %}

  from bass_in_scope
  full outer join cdrs_in_scope
    on
      bass_in_scope.user_id = cdrs_in_scope.user_id
      and bass_in_scope.stat_month = cdrs_in_scope.stat_month

),

unpivoted as (

  {%- for measure in measures %}
    select
      user_id,
      stat_month,
      '{{ measure }}' as measure,
      bass_{{ measure }} as bass_value,
      cdr_{{ measure }} as cdr_value,
      is_missing_in_bass,
      is_missing_in_cdrs
    from joined
    {{ 'union all' if not loop.last }}
  {%- endfor %}

),

breaks as (

  select * from unpivoted
  where bass_value <> cdr_value

),

final as (

  select
    ---------- ids
    {{ pseudonym('user_id') }} as user_pseudonym,
    stat_month,
    measure,

    ---------- counts
    bass_value,
    cdr_value,
    cdr_value - bass_value as difference,

    ---------- booleans
    is_missing_in_bass,
    is_missing_in_cdrs

  from breaks

)

select * from final
