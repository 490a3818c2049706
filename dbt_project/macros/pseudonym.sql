{#-
    pseudonym(expr): the keyed pseudonym of a value (HMAC-SHA256 as 64 hex digits; NULL stays NULL).

    On DuckDB it calls vasmart_pseudonym(), which the vasmart.dbt_plugin plugin registers on dbt's connection
    with the key from VASMART_PSEUDONYM_KEY: the key never appears in SQL, the manifest or the logs.
    The function exists only on dbt's connection, so a model calling pseudonym() must be materialized as a
    table (an ephemeral model is fine when a table selects from it), never as a view.
-#}
{% macro pseudonym(expr) -%}
    {{ return(adapter.dispatch('pseudonym', 'vasmart')(expr)) }}
{%- endmacro %}

{% macro duckdb__pseudonym(expr) -%}
    vasmart_pseudonym(cast({{ expr }} as varchar))
{%- endmacro %}

{% macro default__pseudonym(expr) -%}
    {{ exceptions.raise_compiler_error(
        "pseudonym() needs the keyed HMAC function, which is registered for dbt-duckdb only (vasmart.dbt_plugin); "
        ~ "adapter " ~ adapter.type() ~ " has none") }}
{%- endmacro %}
