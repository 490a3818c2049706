{#-
    The months of the customer view: every calendar month with a BOSS_USER snapshot in the raw zone, one row
    each, and the state it is seen in.

    as_of_date is the month's latest snapshot: its last day once the month-end batch is delivered
    (is_month_complete), else the latest daily batch of the month in progress. Usage comes from BASS_USAGE for
    a month whose summary has been delivered (usage_source BASS: the history months, and a month closed by its
    month-end batch) and from the CDR detail otherwise (CDR: the month in progress, known to as_of_date).
    usage_day_count is the number of days the month's usage covers (to as_of_date).

    inputs_written_at: the latest time any raw-zone partition of the month's batches was written (every
    interface the customer view reads; int_lake_partitions_listed). The customer models incremental by month rebuild
    every month from the first one whose value differs from what they were built from: a new daily batch
    rebuilds the month in progress, a month-end batch closes its month, a redelivered old batch rebuilds its
    month and the ones after it (holdings carry forward, trends look back two months). NULL (rebuild every
    month) where partition times are not available.
-#}

{{ config(materialized='table') }}

with

users as (

  select * from {{ ref('stg_boss__users') }}

),

bass_usage as (

  select * from {{ ref('stg_bass__usage') }}

),

snapshot_dates as (

  select distinct batch_date from users

),

months as (

  select
    cast({{ dbt.date_trunc('month', 'batch_date') }} as date) as month_start_date,
    max(batch_date) as as_of_date

  from snapshot_dates
  group by 1

),

partitions as (

  select * from {{ ref('int_lake_partitions_listed') }}

),

inputs_written as (

  select
    cast({{ dbt.date_trunc('month', 'batch_date') }} as date) as month_start_date,
    -- NULL as soon as one partition has no time: the month is then always rebuilt
    case when count(*) = count(partition_written_at) then max(partition_written_at) end as inputs_written_at

  from partitions
  group by 1

),

bass_months as (

  select distinct cast({{ yyyymm_to_date('stat_month') }} as date) as month_start_date from bass_usage

),

bounded as (

  select
    months.month_start_date,
    cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'months.month_start_date')) }} as date)
      as month_end_date,
    months.as_of_date,
    bass_months.month_start_date is not null as has_bass_usage,
    inputs_written.inputs_written_at

  from months
  left join bass_months
    on months.month_start_date = bass_months.month_start_date
  left join inputs_written
    on months.month_start_date = inputs_written.month_start_date

),

final as (

  select
    ---------- months
    month_start_date,
    month_end_date,
    as_of_date,
    -- the last second of the as-of day: the instant "at month end" for holdings and handsets
    cast({{ dbt.dateadd('second', -1, dbt.dateadd('day', 1, 'as_of_date')) }} as {{ dbt.type_timestamp() }})
      as as_of_at,
    {{ month_index('month_start_date') }} as month_index,

    ---------- attributes
    case when has_bass_usage then 'BASS' else 'CDR' end as usage_source,

    ---------- counts
    cast({{ dbt.datediff('month_start_date', 'as_of_date', 'day') }} + 1 as integer) as usage_day_count,

    ---------- booleans
    as_of_date = month_end_date as is_month_complete,

    ---------- lineage
    inputs_written_at

  from bounded

)

select * from final
