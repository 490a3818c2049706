{#-
    None of the given columns holds a NULL: one scan for all the required fields of a table (the contract's
    required fields on a source), instead of one not_null test per column. Fails with one row per column
    that has NULLs, naming it and counting them.
-#}
{% test not_null_columns(model, columns) %}

with

counted as (

    select
        {% for column in columns -%}
        count(*) - count({{ column }}) as {{ column }}{{ "," if not loop.last }}
        {% endfor %}
    from {{ model }}

),

by_column as (

    {% for column in columns -%}
    select '{{ column }}' as column_name, {{ column }} as null_count from counted
    {{ "union all" if not loop.last }}
    {% endfor %}

)

select * from by_column where null_count > 0

{% endtest %}
