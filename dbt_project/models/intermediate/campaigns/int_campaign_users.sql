{#-
    Every subscriber's current state as campaigns read it, with the keyed pseudonym beside the internal
    user_id: the bridge between the lists (pseudonyms only) and the BOSS data keyed by user_id (orders, bills,
    the MSISDN holdings an export resolves numbers from). From the current version of int_users_historized,
    i.e. the latest BOSS_USER snapshot that lists the user. A table, because it may call pseudonym() (see with_user_pseudonyms).
-#}
{{ config(materialized='table') }}

with

users as (

  select * from {{ ref('int_users_historized') }}

),

current_versions as (

  select * from users
  where is_current

),

current_versions_pseudonymized as (

  {{ with_user_pseudonyms('current_versions') }}

),

final as (

  select
    ---------- ids
    user_id,
    {{ user_pseudonym_of('user_id') }} as user_pseudonym,

    ---------- attributes
    user_status,
    brand_code,
    plan_code,
    pay_type,

    ---------- booleans
    is_dnd,

    ---------- dates
    join_date,
    user_status_date,
    last_batch_date

  from current_versions_pseudonymized

)

select * from final
