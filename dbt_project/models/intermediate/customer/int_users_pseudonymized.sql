{#-
    Every subscriber known to the warehouse (int_users_historized) with the keyed pseudonym that the customer
    marts publish instead of user_id: hashed once per user here and joined, rather than hashed again on every
    (user, month) row (the keyed hash is a Python UDF: its cost grows with every row it sees).

    Incremental: a user_id is never reused and its pseudonym only depends on the key, so a run hashes only the
    users it has not seen. key_check is the pseudonym of a fixed text under the key that built the row; when
    the key in the environment gives another value, every user is hashed again (delete+insert on user_id), so a
    changed key never leaves old pseudonyms behind. Stored as a table (incremental), because it calls pseudonym().
-#}
{{ config(
    materialized=('table' if target.type == 'spark' else 'incremental'),
    incremental_strategy='delete+insert',
    unique_key='user_id',
    on_schema_change='fail'
) }}

with

users as (

  select * from {{ ref('int_users_historized') }}

),

current_key as (

  -- hashed once: the fixed text's pseudonym under the key in the environment
  select {{ pseudonym("'vasmart-pseudonym-key-check'") }} as key_check

),

{% if is_incremental() %}
hashed as (

    select user_id, key_check from {{ this }}

),

key_changed as (

    select coalesce((select max(key_check) from hashed), '') <> current_key.key_check as is_changed
    from current_key

),
{% endif %}

to_hash as (

  select users.user_id
  from users
  {% if is_incremental() %}
    cross join key_changed
    left join hashed
        on users.user_id = hashed.user_id
    where users.is_current
        and (hashed.user_id is null or key_changed.is_changed)
    {% else %}
    where users.is_current
  {% endif %}

),

final as (

  select
    ---------- ids
    to_hash.user_id,
    {{ pseudonym('to_hash.user_id') }} as user_pseudonym,

    ---------- lineage
    current_key.key_check

  from to_hash
  cross join current_key

)

select * from final
