{#-
    Negative-credit (负信用) labels by user_id (spec section 6), one row per user of the cohort of month J.

    Cohort J: users whose join_date falls in month J, as listed in the month-end BOSS_USER snapshot of J+1
    (the last snapshot before scoring at the start of J+2; a user who joined in J is still listed there even
    if already cancelled). Cohorts exist from the month whose J+1 month-end batch is delivered.
    Segment: is_rejoin x whether the user's region is the capital (REF_REGION.is_capital), both as of that
    snapshot.
    Label "bad": any BOSS_BILL of months J+2 .. J+5 with overdue_days >= 30 and arrears_fen >= 1000. Bills
    of J+1 and earlier, and of J+6 and later, do not count. Observable once the bills of J+5 are delivered;
    is_bad is NULL before that (bad_bill_count counts what has arrived).

    The mart fct_credit_labels publishes this under the user's pseudonym.
-#}
{{ config(materialized='table') }}  {#- tested several times and read downstream: computed once -#}


with

month_end_users as (

  select * from {{ ref('int_label_month_end_users') }}

),

bills as (

  select * from {{ ref('stg_boss__bills') }}

),

bill_months as (

  select
    user_id,
    overdue_days,
    arrears_fen,
    cast({{ yyyymm_to_date('bill_month') }} as date) as bill_month

  from bills

),

delivered_bill_months as (

  select distinct bill_month from bill_months

),

cohort as (

  -- listed at the end of J+1 with a join date in J
  select
    user_id,
    join_date,
    region_code,
    is_rejoin,
    is_capital,
    cast({{ dbt.dateadd('month', -1, 'month_start_date') }} as date) as cohort_month

  from month_end_users
  where
    cast({{ dbt.date_trunc('month', 'join_date') }} as date)
    = cast({{ dbt.dateadd('month', -1, 'month_start_date') }} as date)

),

windowed as (

  select
    *,
    cast({{ dbt.dateadd('month', 2, 'cohort_month') }} as date) as scoring_month,
    cast({{ dbt.dateadd('month', 5, 'cohort_month') }} as date) as last_label_month

  from cohort

),

bad_bills as (

  select
    windowed.user_id,
    count(*) as bad_bill_count,
    min(bill_months.bill_month) as first_bad_bill_month

  from windowed
  inner join bill_months
    on
      windowed.user_id = bill_months.user_id
      and windowed.scoring_month <= bill_months.bill_month
      and windowed.last_label_month >= bill_months.bill_month
  where
    bill_months.overdue_days >= 30
    and bill_months.arrears_fen >= 1000
  group by windowed.user_id

),

final as (

  select
    ---------- ids
    windowed.user_id,

    ---------- months
    windowed.cohort_month,
    windowed.scoring_month,
    windowed.last_label_month,

    ---------- segment
    windowed.region_code,
    case
      when windowed.is_rejoin and windowed.is_capital then 'REJOIN_CAPITAL'
      when windowed.is_rejoin and not windowed.is_capital then 'REJOIN_OTHER'
      when not windowed.is_rejoin and windowed.is_capital then 'NEW_CAPITAL'
      when not windowed.is_rejoin and not windowed.is_capital then 'NEW_OTHER'
    end as credit_segment,
    windowed.is_rejoin,
    windowed.is_capital,

    ---------- dates
    windowed.join_date,

    ---------- label (is_bad NULL until the bills of J+5 are delivered)
    cast(coalesce(bad_bills.bad_bill_count, 0) as integer) as bad_bill_count,
    bad_bills.first_bad_bill_month,
    case
      when delivered_bill_months.bill_month is not null then coalesce(bad_bills.bad_bill_count, 0) > 0
    end as is_bad,

    ---------- booleans
    delivered_bill_months.bill_month is not null as is_label_observable

  from windowed
  left join bad_bills
    on windowed.user_id = bad_bills.user_id
  left join delivered_bill_months
    on windowed.last_label_month = delivered_bill_months.bill_month

)

select * from final
