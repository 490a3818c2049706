{#-
    The months whose month-end batch has been delivered: the as-of dates of the label marts.

    A month-end batch (named after the month's last day) carries the BOSS_USER snapshot as of that day and
    the month's monthly interfaces (BOSS_BILL, BASS_USAGE, BASS_VAS_USAGE); since batches arrive in date
    order, every daily batch of the month came before it. A month counts once its BOSS_USER snapshot dated the
    last day is in the raw zone. is_next_month_delivered says whether month M+1 is complete too, which is
    when a label measured over M+1 can be observed.
-#}

with

users as (

  select * from {{ ref('stg_boss__users') }}

),

batch_dates as (

  select distinct batch_date from users

),

month_ends as (

  -- the batch is a month end when the next day is the 1st
  select
    cast({{ dbt.date_trunc('month', 'batch_date') }} as date) as month_start_date,
    batch_date as month_end_date

  from batch_dates
  where extract(day from {{ dbt.dateadd('day', 1, 'batch_date') }}) = 1

),

with_next as (

  select
    month_ends.month_start_date,
    month_ends.month_end_date,
    cast({{ dbt.dateadd('month', 1, 'month_ends.month_start_date') }} as date) as next_month_start_date

  from month_ends

),

final as (

  select
    ---------- months
    with_next.month_start_date,
    with_next.month_end_date,
    with_next.next_month_start_date,

    ---------- booleans
    next_month.month_start_date is not null as is_next_month_delivered

  from with_next
  left join month_ends as next_month
    on with_next.next_month_start_date = next_month.month_start_date

)

select * from final
