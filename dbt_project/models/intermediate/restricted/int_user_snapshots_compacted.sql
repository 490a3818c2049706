{#-
    BOSS_USER snapshots compacted: one row per island of a user's consecutive snapshots (among those listing
    the user) with the same number and attributes, from its first to its last batch. int_users_historized and
    int_msisdn_assignments_historized derive the histories from the islands instead of from every snapshot.

    Restricted schema: it keeps the raw MSISDN (the holdings are about numbers); never published. On DuckDB a
    night appends its snapshot (MERGE: a user's latest island extended, or a new island) and any other change
    to the delivered snapshots rebuilds the islands from all of them (macros/user_snapshots.sql); a table on
    other engines.
-#}
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    incremental_strategy='merge',
    unique_key=['user_id', 'first_batch_date'],
    merge_update_set_expressions={
        'last_batch_date': 'DBT_INTERNAL_SOURCE.last_batch_date',
        'state_built_at': 'DBT_INTERNAL_SOURCE.state_built_at'},
    on_schema_change='fail',
    pre_hook="{{ delete_user_snapshots_to_rebuild() }}",
    post_hook="{{ record_partitions_read([(source('boss', 'boss_user'), 'stg_boss__users', none)]) }}"
) }}
-- depends_on: {{ source('boss', 'boss_user') }}
{%- set batches = user_snapshots_to_append() %}
{%- set attributes = user_snapshot_attributes() %}

with

snapshots as (

  select
    user_id,
    {{ attributes | join(', ') }},
    batch_date as first_batch_date,
    batch_date as last_batch_date,
    true as is_read_now

  from {{ ref('stg_boss__users') }}
  {%- if batches is not none %}
  where {{ lake_batch_files(source('boss', 'boss_user'), batches) if batches else '1 = 0' }}
  {%- endif %}

),

rows as (

  select * from snapshots
  {%- if batches %}

  union all

  -- the latest island of every user listed in the new snapshots, to be extended or followed
  select
    user_id,
    {{ attributes | join(', ') }},
    first_batch_date,
    last_batch_date,
    false as is_read_now

  from {{ this }}
  where user_id in (select user_id from snapshots)
  qualify row_number() over (partition by user_id order by last_batch_date desc) = 1
  {%- endif %}

),

flagged as (

  select
    *,
    {{ starts_island(attributes, 'first_batch_date') }} as starts_island

  from rows

),

numbered as (

  select
    *,
    sum(starts_island) over (
      partition by user_id order by first_batch_date rows between unbounded preceding and current row
    ) as island_number

  from flagged

),

islands as (

  -- every attribute is constant within an island
  select
    user_id,
    min(msisdn) as msisdn,
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
    min(gender) as gender,
    min(first_batch_date) as first_batch_date,
    max(last_batch_date) as last_batch_date,
    bool_or(is_read_now) as is_read_now

  from numbered
  group by user_id, island_number

),

final as (

  select
    ---------- ids
    user_id,
    msisdn,

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

    ---------- dates
    join_date,
    user_status_date,
    first_batch_date,
    last_batch_date,

    ---------- lineage
    {{ run_started_timestamp() }} as state_built_at

  from islands
  where is_read_now

)

select * from final
