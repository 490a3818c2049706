{#-
    The subscriber dimension, published: one row per user ever listed by BOSS, under the keyed pseudonym, with
    the current attributes (int_users_historized's current version; a user BOSS no longer lists keeps the
    last, CANCELLED one) as of the latest BOSS_USER snapshot, and the current handset. A table, rebuilt each run.
-#}

with

users as (

  select * from {{ ref('int_users_historized') }}

),

pseudonyms as (

  select * from {{ ref('int_users_pseudonymized') }}

),

months as (

  select * from {{ ref('int_customer_months') }}

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

latest as (

  select max(as_of_date) as as_of_date from months

),

current_users as (

  select
    users.*,
    latest.as_of_date,
    case when users.user_status = 'CANCELLED' then users.user_status_date end as cancel_date

  from users
  cross join latest
  where users.is_current

),

final as (

  select
    ---------- ids
    pseudonyms.user_pseudonym,

    ---------- as of
    current_users.as_of_date,
    current_users.last_batch_date = current_users.as_of_date as is_listed,

    ---------- basic attributes
    current_users.brand_code,
    current_users.plan_code,
    current_users.pay_type,
    current_users.region_code,
    regions.is_capital,
    current_users.user_status,
    current_users.user_status_date,
    current_users.join_date,
    current_users.cancel_date,
    current_users.is_rejoin,
    current_users.is_dnd,
    {{ age_band('current_users.birth_year', 'current_users.as_of_date') }} as age_band,
    current_users.gender,
    cast({{ completed_months(
            'current_users.join_date',
            'case when current_users.cancel_date < current_users.as_of_date then current_users.cancel_date
                else current_users.as_of_date end') }} as integer) as tenure_months,

    ---------- plan (REF_PLAN of the latest snapshot)
    plans.monthly_fee_fen as plan_monthly_fee_fen,
    plans.gprs_quota_mb,

    ---------- current handset
    tacs.vendor_name,
    tacs.model_name,
    tacs.has_mms,
    tacs.has_wap,
    tacs.max_rat,
    tacs.release_year as handset_release_year,
    cast(handsets.valid_from as date) as handset_first_seen_date,
    cast(handsets.version_number - 1 as integer) as handset_change_count

  from current_users
  inner join pseudonyms
    on current_users.user_id = pseudonyms.user_id
  left join regions
    on
      current_users.region_code = regions.region_code
      and current_users.as_of_date = regions.batch_date
  left join plans
    on
      current_users.plan_code = plans.plan_code
      and current_users.as_of_date = plans.batch_date
  left join handsets
    on
      current_users.user_id = handsets.user_id
      and handsets.is_current
  left join tacs
    on handsets.tac = tacs.tac

)

select * from final
