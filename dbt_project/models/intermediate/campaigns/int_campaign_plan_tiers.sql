{#-
    The GPRS package ladder: for each tariff plan (latest REF_PLAN snapshot), the next tier a migration
    campaign offers, i.e. the plan of the same brand with the smallest data quota above this plan's (the
    cheaper one on a tie). NULL at the top of a brand's ladder.
-#}

with

plans as (

  select * from {{ ref('stg_boss__plans') }}

),

ranked as (

  select
    *,
    row_number() over (partition by plan_code order by batch_date desc) as recency

  from plans

),

latest as (

  select
    plan_code,
    brand_code,
    pay_type,
    monthly_fee_fen,
    gprs_quota_mb

  from ranked
  where recency = 1

),

candidates as (

  select
    latest.plan_code,
    higher.plan_code as next_plan_code,
    higher.gprs_quota_mb as next_gprs_quota_mb,
    row_number() over (
      partition by latest.plan_code
      order by higher.gprs_quota_mb, higher.monthly_fee_fen, higher.plan_code
    ) as closeness

  from latest
  inner join latest as higher
    on
      latest.brand_code = higher.brand_code
      and latest.gprs_quota_mb < higher.gprs_quota_mb

),

final as (

  select
    ---------- ids
    latest.plan_code,
    candidates.next_plan_code,

    ---------- attributes
    latest.brand_code,
    latest.pay_type,
    latest.monthly_fee_fen,
    latest.gprs_quota_mb,
    candidates.next_gprs_quota_mb

  from latest
  left join candidates
    on
      latest.plan_code = candidates.plan_code
      and candidates.closeness = 1

)

select * from final
