{#-
    Each user's monthly bill (BOSS_BILL) as the customer view shows it: one row per user and bill month.

    The month's charges, payments, prepaid balance, arrears and days overdue as BOSS states them at the month
    end, the share of the charges paid within the month, and how many of the month and the two calendar
    months before it ended with arrears (a new user's first bills count what there is). A bill month
    delivered again in a later batch takes the later batch's row.
-#}
{{ config(materialized='table') }}  {#- tested several times and read downstream: computed once -#}


with

bills as (

  select * from {{ ref('stg_boss__bills') }}

),

latest as (

  select
    user_id,
    cast({{ yyyymm_to_date('bill_month') }} as date) as month_start_date,
    cast(billed_fen as bigint) as billed_fen,
    cast(paid_fen as bigint) as paid_fen,
    cast(balance_fen as bigint) as balance_fen,
    cast(arrears_fen as bigint) as arrears_fen,
    cast(overdue_days as integer) as overdue_days,
    row_number() over (partition by user_id, bill_month order by batch_date desc) as recency

  from bills

),

windowed as (

  select
    *,
    cast(sum(case when arrears_fen > 0 then 1 else 0 end) over (
      partition by user_id order by {{ month_index('month_start_date') }}
      range between 2 preceding and current row
    ) as integer) as arrears_months_3m

  from latest
  where recency = 1

),

final as (

  select
    ---------- ids
    user_id,
    month_start_date,

    ---------- money (fen)
    billed_fen,
    paid_fen,
    balance_fen,
    arrears_fen,

    ---------- credit
    overdue_days,
    case when billed_fen > 0 then cast(paid_fen as double) / billed_fen end as bill_paid_share,
    arrears_months_3m

  from windowed

)

select * from final
