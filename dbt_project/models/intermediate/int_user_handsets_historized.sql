{#-
    The handset each user used over time (SCD2): one row per run of observations of the same IMEI.

    IMEI_OBS delivers (MSISDN, IMEI) pairs per batch with the pair's first and last sighting in the batch's
    period. int_imei_observations_versioned attributes each observation to the user who held the MSISDN at
    its last sighting (numbers are recycled) and cuts the user's observations in time order into islands
    wherever the IMEI changes; this model keeps one row per island. valid_from is the island's first
    sighting; valid_to the next handset's first sighting (NULL for the current one). last_seen_at and
    event_count let marts judge stability (换机 is "stable" when the new handset is used 7+ consecutive
    days). Rebuilt from all batches each run.

    No raw personal identifiers: the handset is given by its TAC (the model) and the IMEI's keyed pseudonym.
    A table, because it calls pseudonym().
-#}
{{ config(materialized='table') }}

with

observations as (

  select * from {{ ref('int_imei_observations_versioned') }}

),

versions as (

  select
    user_id,
    version_number,
    min(imei) as imei,
    min(tac) as tac,
    min(first_seen_at) as valid_from,
    max(last_seen_at) as last_seen_at,
    cast(sum(event_count) as bigint) as event_count,
    count(*) as observation_count

  from observations
  group by user_id, version_number

),

final as (

  select
    ---------- ids
    user_id,
    version_number,
    tac,
    {{ pseudonym('imei') }} as imei_pseudonym,

    ---------- counts
    event_count,
    observation_count,

    ---------- booleans
    lead(valid_from) over (partition by user_id order by version_number) is null as is_current,

    ---------- timestamps
    last_seen_at,

    ---------- validity
    valid_from,
    lead(valid_from) over (partition by user_id order by version_number) as valid_to

  from versions

)

select * from final
