{#-
    Each subscriber as of the end of each customer-view month: one row per user listed in the month's as-of
    BOSS_USER snapshot (int_customer_months: the month-end snapshot, or the latest one of the month in
    progress), i.e. every user whose status at that month end is known — not cancelled, or cancelled within the
    90 days BOSS keeps listing them. Taken from the SCD2 history (int_users_historized): the version whose
    batches span the as-of date.

    Basic attributes (brand, plan, pay type, region, capital, status, dnd, re-joiner, gender), derived ones
    (age band and tenure as of the as-of date; a cancelled user's tenure stops at the cancellation), the plan's
    monthly fee and data quota and the region's capital flag from the REF_PLAN / REF_REGION snapshots of the
    as-of batch, and the handset in use at the as-of instant (int_user_handsets_historized, described by
    REF_TAC; NULL when no IMEI was ever seen for the user). is_active_in_month: the subscription existed on at
    least one day of the month (joined by its end, not cancelled before its start); suspended counts as active.

    Incremental by month (delete+insert on month_start_date): a run rebuilds the months from the first one whose
    raw-zone inputs changed (macro first_month_to_build, int_customer_months.inputs_written_at).
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=('insert_overwrite' if target.type == 'spark' else 'delete+insert'),
    unique_key='month_start_date',
    partition_by=(['month_start_date'] if target.type == 'spark' else none),
    on_schema_change='fail'
) }}

with

months as (

  select * from {{ ref('int_customer_months') }}
  where month_start_date >= {{ first_month_to_build(ref('int_customer_months')) }}

),

users as (

  select * from {{ ref('int_users_historized') }}

),

handsets as (

  select * from {{ ref('int_user_handsets_historized') }}

),

tacs as (

  select * from {{ ref('int_handset_tacs_deduplicated') }}

),

plans as (

  select * from {{ ref('stg_boss__plans') }}

),

regions as (

  select * from {{ ref('stg_boss__regions') }}

),

listed as (

  select
    months.month_start_date,
    months.as_of_date,
    months.as_of_at,
    months.inputs_written_at,
    users.user_id,
    users.brand_code,
    users.plan_code,
    users.pay_type,
    users.region_code,
    users.user_status,
    users.user_status_date,
    users.birth_year,
    users.gender,
    users.is_rejoin,
    users.is_dnd,
    users.join_date,
    case when users.user_status = 'CANCELLED' then users.user_status_date end as cancel_date

  from months
  inner join users
    on
      months.as_of_date >= users.first_batch_date
      and months.as_of_date <= users.last_batch_date

),

with_handset as (

  select
    listed.*,
    handsets.tac,
    handsets.version_number as handset_version_number,
    handsets.valid_from as handset_first_seen_at

  from listed
  left join handsets
    on
      listed.user_id = handsets.user_id
      and listed.as_of_at >= handsets.valid_from
      and {{ before_valid_to('listed.as_of_at', 'handsets.valid_to') }}

),

final as (

  select
    ---------- ids
    with_handset.user_id,
    with_handset.month_start_date,

    ---------- dates
    with_handset.as_of_date,
    with_handset.join_date,
    with_handset.cancel_date,

    ---------- basic attributes
    with_handset.user_status,
    with_handset.brand_code,
    with_handset.plan_code,
    with_handset.pay_type,
    with_handset.region_code,
    regions.is_capital,
    cast({{ completed_months(
            'with_handset.join_date',
            'case when with_handset.cancel_date < with_handset.as_of_date then with_handset.cancel_date
                else with_handset.as_of_date end') }} as integer) as tenure_months,
    {{ age_band('with_handset.birth_year', 'with_handset.as_of_date') }} as age_band,
    with_handset.gender,
    with_handset.is_rejoin,
    with_handset.is_dnd,
    with_handset.join_date <= with_handset.as_of_date
    and coalesce(with_handset.cancel_date >= with_handset.month_start_date, true) as is_active_in_month,

    ---------- plan
    plans.monthly_fee_fen as plan_monthly_fee_fen,
    plans.gprs_quota_mb,

    ---------- handset
    with_handset.tac,
    tacs.vendor_name,
    tacs.model_name,
    tacs.has_mms,
    tacs.has_wap,
    tacs.max_rat,
    tacs.release_year as handset_release_year,
    with_handset.handset_version_number,
    cast(with_handset.handset_first_seen_at as date) as handset_first_seen_date,
    cast(
      {{ completed_months('cast(with_handset.handset_first_seen_at as date)', 'with_handset.as_of_date') }}
      as integer
    ) as handset_age_months,
    coalesce(
      with_handset.handset_version_number > 1
      and with_handset.handset_first_seen_at
      >= cast({{ dbt.dateadd('month', -2, 'with_handset.month_start_date') }} as {{ dbt.type_timestamp() }}),
      false
    ) as has_recent_handset_change,

    ---------- lineage
    with_handset.inputs_written_at

  from with_handset
  left join regions
    on
      with_handset.region_code = regions.region_code
      and with_handset.as_of_date = regions.batch_date
  left join plans
    on
      with_handset.plan_code = plans.plan_code
      and with_handset.as_of_date = plans.batch_date
  left join tacs
    on with_handset.tac = tacs.tac

)

select * from final
