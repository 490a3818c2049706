{#-
    Declared column types (sources, contracts, unit-test fixtures) are written once, in DuckDB's names. Spark
    has no unsized VARCHAR: engine_type() spells a declared type for the target, and on Spark dbt's cast()
    (used for contracts' empty schemas and unit-test fixtures) goes through it.
-#}

{% macro engine_type(data_type) -%}
    {{ return(adapter.dispatch('engine_type', 'vasmart')(data_type)) }}
{%- endmacro %}

{% macro default__engine_type(data_type) -%}
    {{ return(data_type) }}
{%- endmacro %}

{% macro spark__engine_type(data_type) -%}
    {{ return(dbt.type_string() if data_type | trim | lower in ('varchar', 'text') else data_type) }}
{%- endmacro %}

{% macro spark__cast(field, type) -%}
    cast({{ field }} as {{ vasmart.engine_type(type) }})
{%- endmacro %}


{#- Seeds on Spark: dbt-spark's session method binds every value as '<value>' text, so an empty CSV field (None)
    would load as the string 'None'. The rows are written as literals instead: NULL stays NULL, quotes escaped. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set types = [] -%}
    {%- for col_name in agate_table.column_names -%}
        {%- do types.append(column_override.get(col_name, adapter.convert_type(agate_table, loop.index0))) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for value in row -%}
                    {%- if value is none -%}
                        cast(null as {{ types[loop.index0] }})
                    {%- else -%}
                        cast('{{ (value | string) | replace("\\", "\\\\") | replace("'", "\\'") }}' as {{ types[loop.index0] }})
                    {%- endif -%}
                    {%- if not loop.last %}, {% endif -%}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.index0 == 0 -%}
            {%- do statements.append(sql) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(statements[0]) }}
{% endmacro %}


{#- listagg ordered by the aggregated value itself (`order by <measure>`), as DuckDB's string_agg orders it:
    Spark's collect_list has no order, so the list is sorted. Other orders fall back to dbt-spark's listagg. -#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if order_by_clause and order_by_clause | trim | lower == 'order by ' ~ (measure | trim | lower) and not limit_num -%}
        array_join(array_sort(collect_list({{ measure }})), {{ delimiter_text }})
    {%- else -%}
        {{ return(dbt_spark.spark__listagg(measure, delimiter_text, order_by_clause, limit_num)) }}
    {%- endif -%}
{%- endmacro %}
