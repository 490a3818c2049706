{#-
    lake_partitions(relation): one row per raw-zone partition of a lake source, `batch_date` (DATE) and
    `partition_written_at` (TIMESTAMP, when the partition's files were last written). Incremental models keyed
    by batch_date compare it with what they built from: a new batch, a redelivered one (the ingest replaces the
    partition as a whole) and a re-ingested one are rebuilt, the others are kept.

    On DuckDB the file times come from read_blob() over the source's Parquet glob (no file content is read).
    Elsewhere every delivered batch is listed with a NULL time, which never matches: every batch is rebuilt on
    each run (correct, not incremental). An interface with no partition yet gives no rows.
-#}
{% macro lake_partitions(relation) -%}
    {{ return(adapter.dispatch('lake_partitions', 'vasmart')(relation)) }}
{%- endmacro %}

{% macro default__lake_partitions(relation) -%}
    select distinct
        {{ yyyymmdd_to_date('batch_date') }} as batch_date,
        cast(null as {{ dbt.type_timestamp() }}) as partition_written_at
    from {{ lake_or_empty(relation) }}
{%- endmacro %}

{% macro duckdb__lake_partitions(relation) -%}
    {%- set external = relation.external if relation.external is defined else none -%}
    {%- set found = modules.re.search("read_parquet\(\s*'([^']+)'", external or '') -%}
    {%- if not execute or not found -%}
        {{ return(default__lake_partitions(relation)) }}
    {%- endif -%}
    {%- set pattern = found.group(1) -%}
    {%- set files = run_query("select count(*) from glob('" ~ pattern ~ "')").columns[0].values()[0] -%}
    {%- if files == 0 -%}
    select cast(null as date) as batch_date, cast(null as timestamp) as partition_written_at where 1 = 0
    {%- else -%}
    select
        {{ yyyymmdd_to_date("regexp_extract(filename, 'batch_date=([0-9]{8})', 1)") }} as batch_date,
        max(cast(last_modified as timestamp)) as partition_written_at
    from read_blob('{{ pattern }}')
    group by 1
    {%- endif -%}
{%- endmacro %}
