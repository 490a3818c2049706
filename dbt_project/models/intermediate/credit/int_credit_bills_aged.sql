{#-
    Every BOSS_BILL with its arrears aging bucket and the user's credit segment, one row per (bill month,
    user). Buckets by overdue_days (days past due of the oldest unpaid amount at month end):
    0 = CURRENT, 1-29, 30-59, 60-89, 90+. Segment (as in int_credit_labels): is_rejoin x whether the region is
    the capital, from the BOSS_USER snapshot of the bill month's month-end batch (int_label_month_end_users);
    UNKNOWN when the user is not listed there.
-#}
{{ config(materialized='table') }}  {#- tested several times and read downstream: computed once -#}


with

bills as (

  select * from {{ ref('stg_boss__bills') }}

),

month_end_users as (

  select * from {{ ref('int_label_month_end_users') }}

),

bill_months as (

  select
    user_id,
    cast({{ yyyymm_to_date('bill_month') }} as date) as bill_month,
    billed_fen,
    arrears_fen,
    overdue_days

  from bills

),

final as (

  select
    ---------- ids
    bill_months.user_id,

    ---------- months
    bill_months.bill_month,

    ---------- aging
    case
      when bill_months.overdue_days <= 0 then '0'
      when bill_months.overdue_days < 30 then '1-29'
      when bill_months.overdue_days < 60 then '30-59'
      when bill_months.overdue_days < 90 then '60-89'
      else '90+'
    end as aging_bucket,
    case
      when bill_months.overdue_days <= 0 then 0
      when bill_months.overdue_days < 30 then 1
      when bill_months.overdue_days < 60 then 2
      when bill_months.overdue_days < 90 then 3
      else 4
    end as aging_bucket_order,
    bill_months.overdue_days,

    ---------- segment
    case
      when month_end_users.is_rejoin and month_end_users.is_capital then 'REJOIN_CAPITAL'
      when month_end_users.is_rejoin and not month_end_users.is_capital then 'REJOIN_OTHER'
      when not month_end_users.is_rejoin and month_end_users.is_capital then 'NEW_CAPITAL'
      when not month_end_users.is_rejoin and not month_end_users.is_capital then 'NEW_OTHER'
      else 'UNKNOWN'
    end as credit_segment,

    ---------- money (fen)
    bill_months.billed_fen,
    bill_months.arrears_fen

  from bill_months
  left join month_end_users
    on
      bill_months.user_id = month_end_users.user_id
      and bill_months.bill_month = month_end_users.month_start_date

)

select * from final
