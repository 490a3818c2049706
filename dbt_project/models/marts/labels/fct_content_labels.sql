{#-
    Content-preference labels (spec section 6), published: one row per user, month M and content category,
    the user identified by the keyed pseudonym of user_id. The definition lives in int_content_labels.
    A table, because it may call pseudonym() (see with_user_pseudonyms).

    Incremental by population month like int_content_labels: a run copies the months whose
    inputs_fingerprint there differs from the one here (delete+insert on population_month), and every month
    when the stored pseudonyms are not those of the current key.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=('insert_overwrite' if target.type == 'spark' else 'delete+insert'),
    unique_key='population_month',
    partition_by=(['population_month'] if target.type == 'spark' else none),
    on_schema_change='fail'
) }}
{#- with pseudonyms of another key stored, no month counts as built -#}
{%- set same_key = "exists (select 1 from " ~ ref('int_users_pseudonymized') ~ " as pseudonymized "
    ~ "where pseudonymized.user_pseudonym = (select user_pseudonym from " ~ this ~ " limit 1))" %}

with

labels as (

  {{ unbuilt_label_months(ref('int_content_labels'), 'population_month', built_where=same_key) }}

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
    is_label_observable,

    ---------- lineage
    inputs_fingerprint

  from labels_pseudonymized

)

select * from final
