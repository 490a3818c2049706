{#-
    Negative-credit (负信用) labels (spec section 6), published: one row per user of the cohort of month J,
    the user identified by the keyed pseudonym of user_id. The definition lives in int_credit_labels.
    A table, because it may call pseudonym() (see with_user_pseudonyms).
-#}

with

labels as (

  select * from {{ ref('int_credit_labels') }}

),

labels_pseudonymized as (

  {{ with_user_pseudonyms('labels') }}

),

final as (

  select
    ---------- ids
    {{ user_pseudonym_of('user_id') }} as user_pseudonym,

    ---------- months
    cohort_month,
    scoring_month,
    last_label_month,

    ---------- segment
    credit_segment,
    is_rejoin,
    is_capital,
    region_code,

    ---------- dates
    join_date,

    ---------- label
    is_bad,
    bad_bill_count,
    first_bad_bill_month,

    ---------- booleans
    is_label_observable

  from labels_pseudonymized

)

select * from final
