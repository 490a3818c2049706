{#-
    Subscriber attributes as validity ranges (SCD2), derived from every BOSS_USER snapshot in the raw zone
    through their islands (restricted.int_user_snapshots_compacted: a user's consecutive snapshots with the
    same number and attributes, kept up to date each night without reading the earlier snapshots again).

    Why not a dbt snapshot: a snapshot records the state it sees when it runs, stamped with the run's time.
    Run once after many batches were ingested it would see only the latest batch and lose the history in
    between; run after each batch it would stamp versions with wall-clock time, not the batch's date. This
    model derives the history from the snapshots themselves (gaps and islands over batch_date), so it is the
    same whether `vasmart build` runs after every batch, once after many, or again after a redelivered batch.

    valid_from is the as-of date of the first snapshot showing the version (a change is known at the batch
    that first shows it); the first version holds from the user's join date. Islands that differ only by the
    number make one version. No personal identifiers: user_id only (MSISDN and name stay restricted).
-#}
{{ config(materialized='table') }}

{%- set attributes = user_snapshot_attributes() | reject('equalto', 'msisdn') | list %}

with

islands as (

  select * from {{ ref('int_user_snapshots_compacted') }}

),

flagged as (

  select
    *,
    {{ starts_island(attributes, 'first_batch_date') }} as starts_version

  from islands

),

numbered as (

  select
    *,
    cast(sum(starts_version) over (
      partition by user_id order by first_batch_date rows between unbounded preceding and current row
    ) as integer) as version_number

  from flagged

),

versions as (

  -- one row per run of islands with unchanged attributes; every attribute is constant within it
  select
    user_id,
    version_number,
    min(first_batch_date) as first_batch_date,
    max(last_batch_date) as last_batch_date,
    min(join_date) as join_date,
    min(brand_code) as brand_code,
    min(plan_code) as plan_code,
    min(pay_type) as pay_type,
    min(region_code) as region_code,
    min(user_status) as user_status,
    min(user_status_date) as user_status_date,
    min(cancel_reason) as cancel_reason,
    bool_or(is_rejoin) as is_rejoin,
    bool_or(is_dnd) as is_dnd,
    min(birth_year) as birth_year,
    min(gender) as gender

  from numbered
  group by user_id, version_number

),

ranged as (

  select
    *,
    cast(
      case when version_number = 1 then least(join_date, first_batch_date) else first_batch_date end
      as timestamp
    ) as valid_from,
    cast(lead(first_batch_date) over (partition by user_id order by version_number) as timestamp) as valid_to

  from versions

),

final as (

  select
    ---------- ids
    user_id,
    version_number,

    ---------- attributes
    brand_code,
    plan_code,
    pay_type,
    region_code,
    user_status,
    cancel_reason,
    birth_year,
    gender,

    ---------- booleans
    is_rejoin,
    is_dnd,
    valid_to is null as is_current,

    ---------- dates
    join_date,
    user_status_date,
    first_batch_date,
    last_batch_date,

    ---------- validity
    valid_from,
    valid_to

  from ranged

)

select * from final
