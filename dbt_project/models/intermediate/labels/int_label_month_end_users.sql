{#-
    Every user listed in a month-end BOSS_USER snapshot, one row per (user, month): the state "at the end of
    month M" that the label definitions (spec section 6) start from. It reads the month-end snapshot itself
    rather than the SCD2 history, because the definitions name that snapshot (status NORMAL in M's month-end
    BOSS_USER snapshot; the cohort as listed at the end of J+1). The region's capital flag comes from the
    REF_REGION snapshot of the same batch.

    A table: the three label models read it.
-#}
{{ config(materialized='table') }}

with

month_ends as (

  select * from {{ ref('int_label_month_ends') }}

),

users as (

  select * from {{ ref('stg_boss__users') }}

),

regions as (

  select * from {{ ref('stg_boss__regions') }}

),

listed as (

  select
    month_ends.month_start_date,
    month_ends.month_end_date,
    users.user_id,
    users.user_status,
    users.join_date,
    users.region_code,
    users.is_rejoin

  from month_ends
  inner join users
    on month_ends.month_end_date = users.batch_date

),

final as (

  select
    ---------- ids
    listed.user_id,

    ---------- months
    listed.month_start_date,
    listed.month_end_date,

    ---------- attributes
    listed.user_status,
    listed.region_code,

    ---------- booleans
    listed.is_rejoin,
    regions.is_capital,

    ---------- dates
    listed.join_date

  from listed
  left join regions
    on
      listed.region_code = regions.region_code
      and listed.month_end_date = regions.batch_date

)

select * from final
