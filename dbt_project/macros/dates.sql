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

{#- `event` falls before the end of a validity range whose open end is NULL. Written as one comparison (not
    `valid_to is null or ...`) so that a range join stays an equality-plus-inequality join the engine can
    hash; with the OR it degrades to comparing every pair. -#}
{% macro before_valid_to(event, valid_to) -%}
    {{ event }} < coalesce({{ valid_to }}, cast('9999-12-31 00:00:00' as {{ dbt.type_timestamp() }}))
{%- endmacro %}
