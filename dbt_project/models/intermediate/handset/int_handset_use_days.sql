{#-
    The days on which each user was seen using each handset: one row per (user, handset version, day).

    An IMEI_OBS row says the (MSISDN, IMEI) pair was seen at first_seen_at and at last_seen_at; a daily
    batch's row covers one day, a history batch's row the whole month. Only the days of those two sightings
    are known days of use (a month-long row says nothing about the days in between), so the "7 consecutive
    days" of a stable handset change (换机) can only be established from daily batches.
    The observations come attributed and versioned from int_imei_observations_versioned, the numbering
    int_user_handsets_historized summarises, so each observation counts for the version it belongs to.
-#}
{{ config(materialized='table') }}

with

observations as (

  select * from {{ ref('int_imei_observations_versioned') }}

),

sighting_days as (

  select
    user_id,
    version_number,
    cast(first_seen_at as date) as use_date
  from observations
  union
  select
    user_id,
    version_number,
    cast(last_seen_at as date) as use_date
  from observations

),

final as (

  select
    ---------- ids
    user_id,
    version_number,

    ---------- dates
    use_date

  from sighting_days

)

select * from final
