{#-
    Handset changes (换机), one row per change: a user's handset version n >= 2 replacing version n - 1.

    "Stable" when the new handset is used on at least 7 consecutive days: days of use come from
    int_handset_use_days (the days of the new handset's sightings), cut into runs of consecutive days (a day
    without a sighting ends a run); the change is stable once a run reaches 7 days, and
    stable_run_start_date is the first day of the first such run (stable_date its 7th day).
    Old and new handsets are described by the REF_TAC catalogue (latest snapshot; NULL for an unknown TAC).
-#}
{{ config(materialized='table') }}  {#- tested several times and read downstream: computed once -#}


with

handsets as (

  select * from {{ ref('int_user_handsets_historized') }}

),

use_days as (

  select * from {{ ref('int_handset_use_days') }}

),

tacs as (

  select * from {{ ref('int_handset_tacs_deduplicated') }}

),

numbered_days as (

  select
    user_id,
    version_number,
    use_date,
    row_number() over (partition by user_id, version_number order by use_date) as day_number

  from use_days

),

runs as (

  -- consecutive days share use_date - day_number
  select
    user_id,
    version_number,
    min(use_date) as run_start_date,
    count(*) as run_days

  from numbered_days
  group by
    user_id,
    version_number,
    {{ dbt.dateadd('day', '-1 * day_number', 'use_date') }}

),

run_summary as (

  select
    user_id,
    version_number,
    cast(max(run_days) as integer) as longest_run_days,
    min(case when run_days >= 7 then run_start_date end) as stable_run_start_date

  from runs
  group by user_id, version_number

),

day_counts as (

  select
    user_id,
    version_number,
    cast(count(*) as integer) as use_day_count

  from use_days
  group by user_id, version_number

),

successions as (

  select
    user_id,
    version_number,
    tac as new_tac,
    lag(tac) over (partition by user_id order by version_number) as old_tac,
    lag(last_seen_at) over (partition by user_id order by version_number) as old_last_seen_at,
    valid_from as changed_at

  from handsets

),

changes as (

  select * from successions
  where version_number > 1

),

final as (

  select
    ---------- ids
    changes.user_id,
    changes.version_number,

    ---------- old handset
    changes.old_tac,
    old_tacs.vendor_name as old_vendor_name,
    old_tacs.model_name as old_model_name,
    old_tacs.has_mms as old_has_mms,
    old_tacs.has_wap as old_has_wap,
    old_tacs.max_rat as old_max_rat,

    ---------- new handset
    changes.new_tac,
    new_tacs.vendor_name as new_vendor_name,
    new_tacs.model_name as new_model_name,
    new_tacs.has_mms as new_has_mms,
    new_tacs.has_wap as new_has_wap,
    new_tacs.max_rat as new_max_rat,

    ---------- stability of the new handset
    coalesce(day_counts.use_day_count, 0) as use_day_count,
    coalesce(run_summary.longest_run_days, 0) as longest_run_days,
    run_summary.stable_run_start_date is not null as is_stable,

    ---------- timestamps and dates
    changes.changed_at,
    cast(changes.changed_at as date) as change_date,
    changes.old_last_seen_at,
    run_summary.stable_run_start_date,
    cast({{ dbt.dateadd('day', 6, 'run_summary.stable_run_start_date') }} as date) as stable_date

  from changes
  left join run_summary
    on
      changes.user_id = run_summary.user_id
      and changes.version_number = run_summary.version_number
  left join day_counts
    on
      changes.user_id = day_counts.user_id
      and changes.version_number = day_counts.version_number
  left join tacs as old_tacs
    on changes.old_tac = old_tacs.tac
  left join tacs as new_tacs
    on changes.new_tac = new_tacs.tac

)

select * from final
