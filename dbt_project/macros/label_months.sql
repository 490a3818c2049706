{#-
    unbuilt_label_months(relation, month_column, built_where): the rows of `relation` (with inputs_fingerprint)
    whose month an incremental label model has not built from the same fingerprint; every row on a full build.
    `built_where` limits which of the model's stored months count as built (a condition on {{ this }}).
-#}
{% macro unbuilt_label_months(relation, month_column, built_where=none) -%}
    select candidates.*
    from {{ relation }} as candidates
    {%- if is_incremental() %}
    left join (
        select distinct population_month, inputs_fingerprint
        from {{ this }}
        {%- if built_where %}
        where {{ built_where }}
        {%- endif %}
    ) as built
        on candidates.{{ month_column }} = built.population_month
        and candidates.inputs_fingerprint = built.inputs_fingerprint
    where built.population_month is null
    {%- endif %}
{%- endmacro %}
