{#-
    Mobile-newspaper (手机报) propensity labels (spec section 6), published: one row per user and month M,
    the user identified by the keyed pseudonym of user_id. The definition lives in int_propensity_labels.
    A table, because it may call pseudonym() (see with_user_pseudonyms).
-#}

with

labels as (

  select * from {{ ref('int_propensity_labels') }}

),

labels_pseudonymized as (

  {{ with_user_pseudonyms('labels') }}

),

final as (

  select
    ---------- ids
    {{ user_pseudonym_of('user_id') }} as user_pseudonym,

    ---------- months
    population_month,
    outcome_month,

    ---------- label
    has_newspaper_order,
    has_stable_newspaper_order,
    first_stable_order_at,

    ---------- booleans
    is_label_observable

  from labels_pseudonymized

)

select * from final
