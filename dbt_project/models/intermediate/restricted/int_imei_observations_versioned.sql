{#-
    Every IMEI_OBS observation with the user it belongs to and that user's handset version: one row per
    observation that a holding covers.

    Each observation is attributed to the user who held the MSISDN at its last sighting (numbers are
    recycled), then the user's observations in time order (first sighting, last sighting, IMEI) are cut into
    islands wherever the IMEI changes: an island is one handset version, numbered from 1.
    int_user_handsets_historized summarises the islands (one row per version) and int_handset_use_days
    takes the observations' days, so both read the same numbering and neither hashes every observation.

    Restricted schema: it carries the raw IMEI and MSISDN, which the version summary pseudonymises once per
    version. On DuckDB a night appends its batch's observations to their users' numbering and rebuilds from
    every batch only the users whose attribution may have changed (macros/imei_versions.sql); state_built_at
    records the run that wrote a row. A table on other engines.
-#}
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ prepare_imei_versions() }}",
    post_hook=[
        "{{ record_partitions_read([(source('dm', 'imei_obs'), 'stg_dm__imei_observations', none)]) }}",
        "{{ keep_imei_holdings() }}"]
) }}
-- depends_on: {{ source('dm', 'imei_obs') }}
{%- set batches = imei_batches_to_append() %}

with

assignments as (

  select * from {{ ref('int_msisdn_assignments_historized') }}

),

observations as (

  {%- if batches is none %}

    select * from {{ ref('stg_dm__imei_observations') }}

  {%- else %}

  -- every observation of a number a rebuilt user held, and the new partitions' other observations
  select * from {{ ref('stg_dm__imei_observations') }}
  where msisdn in (
    select assignments.msisdn from assignments
    where assignments.user_id in (select rebuilt.user_id from {{ imei_users_rebuilt() }} as rebuilt)
  )

  union all

  select * from {{ ref('stg_dm__imei_observations') }}
  where
    {{ lake_batch_files(source('dm', 'imei_obs'), batches) if batches else '1 = 0' }}
    and msisdn not in (
      select assignments.msisdn from assignments
      where assignments.user_id in (select rebuilt.user_id from {{ imei_users_rebuilt() }} as rebuilt)
    )

  {%- endif %}

),

attributed as (

  {{ imei_attributed('observations', 'assignments') }}

),

kept as (

  -- on an incremental run, a rebuilt user's every observation and another user's of the new partitions
  select * from attributed
  {%- if batches is not none %}
  where
    user_id in (select rebuilt.user_id from {{ imei_users_rebuilt() }} as rebuilt)
    {%- if batches %}
    or batch_date in ({{ batch_date_list(batches) }})
    {%- endif %}
  {%- endif %}

),

latest_versions as (

  -- the version an appended user's numbering continues from (one IMEI per version)
  select
    user_id,
    max(version_number) as base_version,
    max_by(imei, version_number) as previous_imei

  {%- if batches is none %}
    from (
      select
        user_id,
        0 as version_number,
        imei
      from kept
      where 1 = 0
    ) as none_yet
  {%- else %}
  from {{ this }}
  where user_id in (select kept.user_id from kept)
  {%- endif %}
  group by user_id

),

to_number as (

  select
    kept.*,
    coalesce(latest_versions.base_version, 0) as base_version,
    latest_versions.previous_imei

  from kept
  left join latest_versions
    on kept.user_id = latest_versions.user_id

),

flagged as (

  select
    *,
    case
      when (
        coalesce(lag(imei) over (partition by user_id order by first_seen_at, last_seen_at, imei), previous_imei)
        is distinct from imei
      ) then 1
      else 0
    end as starts_version

  from to_number

),

numbered as (

  select
    *,
    cast(base_version + sum(starts_version) over (
      partition by user_id order by first_seen_at, last_seen_at, imei
      rows between unbounded preceding and current row
    ) as integer) as version_number

  from flagged

),

final as (

  select
    ---------- ids
    user_id,
    version_number,
    tac,

    ---------- personal data (restricted)
    msisdn,
    imei,

    ---------- counts
    event_count,

    ---------- timestamps
    first_seen_at,
    last_seen_at,

    ---------- batch lineage
    batch_date,
    {{ run_started_timestamp() }} as state_built_at

  from numbered

)

select * from final
