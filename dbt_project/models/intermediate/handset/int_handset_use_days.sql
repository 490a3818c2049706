{#-
    The days on which each user was seen using each handset: one row per (user, handset version, day).

    An IMEI_OBS row says the (MSISDN, IMEI) pair was seen at first_seen_at and at last_seen_at; a daily
    batch's row covers one day, a history batch's row the whole month. Only the days of those two sightings
    are known days of use (a month-long row says nothing about the days in between), so the "7 consecutive
    days" of a stable handset change (换机) can only be established from daily batches.
    Each observation is attributed to the user holding the MSISDN at its last sighting (as
    int_user_handsets_historized does) and to that user's handset version of the same IMEI whose range holds
    the first sighting. A table, because it calls pseudonym() (to match the version's IMEI pseudonym).
-#}
{{ config(materialized='table') }}

with

observations as (

  select * from {{ ref('stg_dm__imei_observations') }}

),

assignments as (

  select * from {{ ref('int_msisdn_assignments_historized') }}

),

handsets as (

  select * from {{ ref('int_user_handsets_historized') }}

),

attributed as (

  select
    assignments.user_id,
    {{ pseudonym('observations.imei') }} as imei_pseudonym,
    observations.first_seen_at,
    observations.last_seen_at

  from observations
  inner join assignments
    on
      observations.msisdn = assignments.msisdn
      and observations.last_seen_at >= assignments.valid_from
      and {{ before_valid_to('observations.last_seen_at', 'assignments.valid_to') }}

),

versioned as (

  select
    handsets.user_id,
    handsets.version_number,
    attributed.first_seen_at,
    attributed.last_seen_at

  from attributed
  inner join handsets
    on
      attributed.user_id = handsets.user_id
      and attributed.imei_pseudonym = handsets.imei_pseudonym
      and attributed.first_seen_at >= handsets.valid_from
      and {{ before_valid_to('attributed.first_seen_at', 'handsets.valid_to') }}

),

sighting_days as (

  select
    user_id,
    version_number,
    cast(first_seen_at as date) as use_date
  from versioned
  union
  select
    user_id,
    version_number,
    cast(last_seen_at as date) as use_date
  from versioned

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
