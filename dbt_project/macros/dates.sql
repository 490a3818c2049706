{#- Dates as the source systems write them, as DATEs: 'YYYYMMDD' (batch dates) and 'YYYYMM' (bill and stat months). -#}

{% macro yyyymmdd_to_date(expr) -%}
    {{ return(adapter.dispatch('yyyymmdd_to_date', 'vasmart')(expr)) }}
{%- endmacro %}

{% macro duckdb__yyyymmdd_to_date(expr) -%}
    cast(strptime({{ expr }}, '%Y%m%d') as date)
{%- endmacro %}

{% macro default__yyyymmdd_to_date(expr) -%}
    to_date({{ expr }}, 'yyyyMMdd')
{%- endmacro %}


{% macro yyyymm_to_date(expr) -%}
    {{ return(yyyymmdd_to_date(expr ~ " || '01'")) }}
{%- endmacro %}
