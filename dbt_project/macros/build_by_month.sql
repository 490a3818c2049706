{#-
    Month-by-month builds on DuckDB (materialization incremental_by_month).

    A model of one row per user and month that joins several wide inputs on (user, month) needs, in one
    statement, hash tables as large as all the months it builds: a full refresh of a year at a million users
    would outgrow the build's memory limit. This materialization builds each month in its own statement
    instead, so memory follows one month whatever the history's length. The months to (re)build are those of
    first_month_to_build(): every month on a full refresh (or when the pseudonym key changed), else the first
    month whose inputs changed and every later one.

    The model selects the month being built with month_being_built(column) on each input keyed by month; the
    materialization sets it, as a DuckDB variable, before each month's statement. In one transaction: a full
    refresh fills a new table and swaps it in (the old one stays until the commit), an incremental run deletes
    the months it rebuilds and inserts them again, so a run stopped half-way leaves the model as it was.

    Config: build_months_from (the model of the months, with month_start_date and inputs_written_at),
    rebuild_all_on_new_key_from (optional: the pseudonym model whose key change rebuilds every month),
    on_schema_change ('fail' or 'ignore'). On Spark the model is a plain incremental model instead, its
    partitions overwritten by month, and month_being_built() is the first_month_to_build() filter.
-#}

{#- The filter a month-by-month model puts on each input keyed by month. -#}
{% macro month_being_built(column, months=none, pseudonyms=none) -%}
    {%- if target.type == 'duckdb' -%}
        {{ column }} = getvariable('{{ build_month_variable() }}')
    {%- elif months is not none -%}
        {{ column }} >= {{ first_month_to_build(months, pseudonyms) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- The DuckDB variable holding the month being built, one per model (models build side by side). -#}
{% macro build_month_variable() -%}
    vasmart_build_month__{{ this.identifier }}
{%- endmacro %}

{% materialization incremental_by_month, adapter='duckdb' %}

  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set intermediate_relation = make_intermediate_relation(target_relation) -%}
  {%- set backup_relation = make_backup_relation(target_relation, 'table') -%}
  {%- set full_refresh = should_full_refresh() or existing_relation is none or existing_relation.is_view -%}
  {%- set on_schema_change = incremental_validate_on_schema_change(config.get('on_schema_change'), default='fail') -%}
  {%- set months_relation = ref(config.require('build_months_from')) -%}
  {%- set pseudonyms_model = config.get('rebuild_all_on_new_key_from') -%}
  {%- set pseudonyms_relation = ref(pseudonyms_model) if pseudonyms_model else none -%}
  {%- set variable = build_month_variable() -%}

  {{ drop_relation_if_exists(load_cached_relation(intermediate_relation)) }}
  {{ drop_relation_if_exists(load_cached_relation(backup_relation)) }}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  -- `BEGIN` happens here:
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {%- set first_month = first_month_to_build(months_relation, pseudonyms_relation, incremental=not full_refresh) -%}
  {%- set months = run_query(
        'select strftime(month_start_date, \'%Y-%m-%d\') from ' ~ months_relation
        ~ ' where month_start_date >= ' ~ first_month ~ ' order by month_start_date'
      ).columns[0].values() -%}
  {{ log(this.identifier ~ ': building ' ~ (months | length) ~ ' month(s) one by one' ~ (
        (': ' ~ months[0] ~ ' to ' ~ months[-1]) if months else ''), info=False) }}

  {#- No month set: the model's SQL selects no rows, which gives the table's columns (and checks the contract). -#}
  {% do run_query('set variable ' ~ variable ~ ' = null::date') %}
  {% if full_refresh %}
    {% set build_relation = intermediate_relation %}
    {% do run_query(create_table_as(False, intermediate_relation, compiled_code)) %}
  {% else %}
    {% set build_relation = target_relation %}
    {% set empty_relation = make_temp_relation(target_relation) %}
    {% do run_query(create_table_as(True, empty_relation, compiled_code)) %}
    {% do process_schema_changes(on_schema_change, empty_relation, existing_relation) %}
    {% do run_query('drop table ' ~ empty_relation) %}
    {% do run_query('delete from ' ~ target_relation ~ ' where month_start_date >= ' ~ first_month) %}
  {% endif %}

  {% for month in months %}
    {% do run_query('set variable ' ~ variable ~ ' = date \'' ~ month ~ '\'') %}
    {% do run_query('insert into ' ~ build_relation ~ ' by name select * from (' ~ compiled_code ~ ')') %}
  {% endfor %}

  {% call statement('main') %}
    select count(*) as rows_built from {{ build_relation }} where month_start_date >= {{ first_month }}
  {% endcall %}
  {% do run_query('reset variable ' ~ variable) %}

  {% set to_drop = [] %}
  {% if full_refresh and existing_relation is not none %}
    {% do adapter.rename_relation(existing_relation, backup_relation) %}
    {% do to_drop.append(backup_relation) %}
  {% endif %}
  {% if full_refresh %}
    {% do adapter.rename_relation(intermediate_relation, target_relation) %}
  {% endif %}

  {% do persist_docs(target_relation, model) %}
  {{ run_hooks(post_hooks, inside_transaction=True) }}
  -- `COMMIT` happens here
  {% do adapter.commit() %}
  {% for relation in to_drop %}
    {% do adapter.drop_relation(relation) %}
  {% endfor %}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}

{%- endmaterialization %}
