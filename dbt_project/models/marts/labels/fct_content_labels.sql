{#-
    Content-preference labels (spec section 6), published: one row per user, month M and content category,
    the user identified by the keyed pseudonym of user_id. The definition lives in int_content_labels.
    A table, because it may call pseudonym() (see with_user_pseudonyms).
-#}

with

labels as (

  select * from {{ ref('int_content_labels') }}

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

    ---------- attributes
    content_category,

    ---------- counts
    category_use_count,
    total_use_count,

    ---------- label
    category_share,

    ---------- booleans
    is_outcome_month_delivered,
    is_label_observable

  from labels_pseudonymized

)

select * from final
