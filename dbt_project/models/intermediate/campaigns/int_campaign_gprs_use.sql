{#-
    Data use against the plan's quota (GPRS 流量溢出) in the latest month whose BASS_USAGE is delivered, one
    row per user with usage that month: the plan held at that month's end (int_users_historized), its
    quota (REF_PLAN) and next tier (int_campaign_plan_tiers). overflow_mb is the use beyond the quota; a plan
    without a data package (quota 0) overflows by all its data use.
-#}

with

usage as (

  select * from {{ ref('stg_bass__usage') }}

),

users as (

  select * from {{ ref('int_users_historized') }}

),

tiers as (

  select * from {{ ref('int_campaign_plan_tiers') }}

),

latest_month as (

  select max(stat_month) as stat_month from usage

),

month_usage as (

  select
    usage.user_id,
    usage.stat_month,
    cast({{ yyyymm_to_date('usage.stat_month') }} as date) as month_start_date,
    usage.gprs_kb

  from usage
  inner join latest_month
    on usage.stat_month = latest_month.stat_month

),

with_month_end as (

  select
    *,
    -- the month-end snapshot's as-of date
    cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'month_start_date')) }} as timestamp) as month_end_at

  from month_usage

),

with_plan as (

  -- the version in force at the month's last day
  select
    with_month_end.user_id,
    with_month_end.month_start_date,
    with_month_end.gprs_kb,
    users.plan_code

  from with_month_end
  inner join users
    on
      with_month_end.user_id = users.user_id
      and with_month_end.month_end_at >= users.valid_from
      and {{ before_valid_to('with_month_end.month_end_at', 'users.valid_to') }}

),

final as (

  select
    ---------- ids
    with_plan.user_id,
    with_plan.plan_code,
    tiers.next_plan_code,

    ---------- months
    with_plan.month_start_date,

    ---------- measures (MB)
    with_plan.gprs_kb / 1024.0 as gprs_mb,
    tiers.gprs_quota_mb,
    case
      when tiers.gprs_quota_mb = 0 then with_plan.gprs_kb / 1024.0
      else greatest(with_plan.gprs_kb / 1024.0 - tiers.gprs_quota_mb, 0)
    end as overflow_mb,

    ---------- booleans
    tiers.gprs_quota_mb = 0 as has_no_data_package

  from with_plan
  inner join tiers
    on with_plan.plan_code = tiers.plan_code

)

select * from final
