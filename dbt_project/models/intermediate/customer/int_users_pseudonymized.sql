{#-
    Every subscriber known to the warehouse (int_users_historized) with the keyed pseudonym that the customer
    marts publish instead of user_id: computed once per user here, then joined, rather than hashed again on
    every (user, month) row. A table, because it calls pseudonym().
-#}
{{ config(materialized='table') }}

with

users as (

    select * from {{ ref('int_users_historized') }}

),

final as (

    select
        ---------- ids
        user_id,
        {{ pseudonym('user_id') }} as user_pseudonym

    from users
    where is_current

)

select * from final
