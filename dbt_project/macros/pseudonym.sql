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

{#- On Spark, HMAC-SHA256 in SQL: sha2(opad || unhex(sha2(ipad || value))), the key's pads read from the session's
    configuration by name (vasmart.spark sets them from VASMART_PSEUDONYM_KEY; Spark substitutes ${...} when it
    parses the statement), so the key appears in no SQL text. Without them every call raises. -#}
{% macro spark__pseudonym(expr) -%}
    case
        when length('${vasmart.pseudonym.ipad}') = 128 and length('${vasmart.pseudonym.opad}') = 128
            then sha2(concat(
                unhex('${vasmart.pseudonym.opad}'),
                unhex(sha2(concat(unhex('${vasmart.pseudonym.ipad}'), encode(cast({{ expr }} as string), 'UTF-8')), 256))
            ), 256)
        else raise_error('pseudonym(): the session has no pseudonym key (vasmart.pseudonym.ipad/opad): set VASMART_PSEUDONYM_KEY for the process that starts Spark')
    end
{%- endmacro %}

{% macro default__pseudonym(expr) -%}
    {{ exceptions.raise_compiler_error(
        "pseudonym() needs the keyed HMAC function, which is registered for dbt-duckdb (vasmart.dbt_plugin) and written in SQL for dbt-spark; "
        ~ "adapter " ~ adapter.type() ~ " has none") }}
{%- endmacro %}

{#-
    with_user_pseudonyms(relation, alias): the rows of a CTE `relation` with `known_user_pseudonym` beside them,
    the pseudonym int_users_pseudonymized holds for their user_id (hashed there once per user). Select from it
    and publish user_pseudonym_of('user_id'): the same value as pseudonym(user_id), at the cost of a join instead
    of a keyed hash (a Python UDF) on every row of a many-rows-per-user mart.
-#}
{% macro with_user_pseudonyms(relation) -%}
    select
        {{ relation }}.*,
        pseudonymized.user_pseudonym as known_user_pseudonym
    from {{ relation }}
    left join {{ ref('int_users_pseudonymized') }} as pseudonymized
        on {{ relation }}.user_id = pseudonymized.user_id
{%- endmacro %}

{#- user_pseudonym_of(user_id): the known pseudonym, and the keyed hash only for a user_id
    int_users_pseudonymized does not list (CASE evaluates the hash for those rows only). -#}
{% macro user_pseudonym_of(user_id) -%}
    case
        when known_user_pseudonym is not null then known_user_pseudonym
        when {{ user_id }} is not null then {{ pseudonym(user_id) }}
    end
{%- endmacro %}
