{#- median(expr): the exact median of expr, as an aggregate or a window function. DuckDB has median();
    Spark computes the exact percentile with percentile(expr, 0.5). -#}

{% macro median(expr) -%}
    {{ return(adapter.dispatch('median', 'vasmart')(expr)) }}
{%- endmacro %}

{% macro default__median(expr) -%}
    percentile_cont(0.5) within group (order by {{ expr }})
{%- endmacro %}

{% macro duckdb__median(expr) -%}
    median({{ expr }})
{%- endmacro %}

{% macro spark__median(expr) -%}
    percentile({{ expr }}, 0.5)
{%- endmacro %}
