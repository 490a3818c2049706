{#-
    The combination of the given columns is unique (NULLs compare as values). The grain test for
    composite keys, e.g. (batch_date, user_id) of a snapshot interface, which repeats every key in every batch.
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with

grouped as (

    select
        {{ combination_of_columns | join(', ') }},
        count(*) as n_records

    from {{ model }}

    group by {{ combination_of_columns | join(', ') }}

)

select * from grouped where n_records > 1

{% endtest %}
