{#-
    Every IMEI_OBS observation with the user it belongs to and that user's handset version: one row per
    observation that a holding covers.

    Each observation is attributed to the user who held the MSISDN at its last sighting (numbers are
    recycled), then the user's observations in time order (first sighting, last sighting, IMEI) are cut into
    islands wherever the IMEI changes: an island is one handset version, numbered from 1.
    int_user_handsets_historized summarises the islands (one row per version) and int_handset_use_days
    takes the observations' days, so both read the same numbering and neither hashes every observation.

    Restricted schema: it carries the raw IMEI, which the version summary pseudonymises once per version.
    Rebuilt from all batches each run, as the numbering depends on every earlier observation.
-#}
{{ config(materialized='table') }}

with

observations as (

  select * from {{ ref('stg_dm__imei_observations') }}

),

assignments as (

  select * from {{ ref('int_msisdn_assignments_historized') }}

),

attributed as (

  select
    assignments.user_id,
    observations.imei,
    observations.tac,
    observations.first_seen_at,
    observations.last_seen_at,
    observations.event_count,
    observations.batch_date

  from observations
  inner join assignments
    on
      observations.msisdn = assignments.msisdn
      and observations.last_seen_at >= assignments.valid_from
      and {{ before_valid_to('observations.last_seen_at', 'assignments.valid_to') }}

),

flagged as (

  select
    *,
    case
      when (lag(imei) over (partition by user_id order by first_seen_at, last_seen_at, imei) is distinct from imei) then 1 else 0
    end as starts_version

  from attributed

),

numbered as (

  select
    *,
    cast(sum(starts_version) over (
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
    imei,

    ---------- counts
    event_count,

    ---------- timestamps
    first_seen_at,
    last_seen_at,

    ---------- batch lineage
    batch_date

  from numbered

)

select * from final
