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


{#- listagg in a stated order, as DuckDB's string_agg gives it: Spark's collect_list has no order, so the
    values are collected with their sort key and sorted. Only a single-key `order by <expression>` (ascending)
    is supported; anything else is a compiler error rather than a silently unordered list. -#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- set order = (order_by_clause or '') | trim -%}
    {%- set key = order[9:] | trim if order[:9] | lower == 'order by ' else '' -%}
    {%- if not key or limit_num or ',' in key or key.split() | length > 1 and key.split()[-1] | lower in ('asc', 'desc') -%}
        {{ exceptions.raise_compiler_error("listagg on Spark takes one ascending 'order by <expression>' and no limit; got: " ~ order_by_clause ~ (" limit " ~ limit_num if limit_num else "")) }}
    {%- endif -%}
    {%- if key | lower == measure | trim | lower -%}
        array_join(array_sort(collect_list({{ measure }})), {{ delimiter_text }})
    {%- else -%}
        array_join(transform(array_sort(collect_list(named_struct('k', {{ key }}, 'v', {{ measure }}))), e -> e.v), {{ delimiter_text }})
    {%- endif -%}
{%- endmacro %}
