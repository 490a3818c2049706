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
    {{ return(lake_partitions_of_files(found.group(1))) }}
{%- endmacro %}

{#- The partitions of the Parquet files a glob matches (DuckDB), as lake_partitions describes. -#}
{% macro lake_partitions_of_files(pattern) -%}
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


{#-
    lake_batches_to_build(relation): the partitions (batch_date, partition_written_at) of a lake source that an
    incremental model keyed by batch_date has to (re)build: on a full build all of them; on an incremental run
    those whose batch is new, or whose partition was written again since the model's rows of that batch were
    built (the model keeps partition_written_at as lineage). Delete+insert on batch_date then replaces exactly
    those batches.
-#}
{% macro lake_batches_to_build(relation) -%}
    select
        partitions.batch_date,
        partitions.partition_written_at
    from ({{ lake_partitions(relation) }}) as partitions
    {%- if is_incremental() %}
    left join (select distinct batch_date, partition_written_at from {{ this }}) as built
        on partitions.batch_date = built.batch_date
        and partitions.partition_written_at = built.partition_written_at
    where built.batch_date is null
    {%- endif %}
{%- endmacro %}


{#-
    lake_batch_file_filter(column, relation): a predicate on a staging model's source_file_name that keeps only
    the files of the batches an incremental run has to aggregate (the same choice as lake_partitions against
    the model's rows). Data files are named <INTERFACE>_<YYYYMMDD>_<NNN>.dat.gz after their batch (interface
    spec section 1), and every Parquet row group holds one file's rows, so the engine skips the other batches'
    row groups from their statistics instead of reading every partition to drop it after a join. Only an
    optimisation: the models still join on the batches. '1 = 1' on a full build and on other engines.
-#}
{% macro lake_batch_file_filter(column, relation) -%}
    {{ return(adapter.dispatch('lake_batch_file_filter', 'vasmart')(column, relation)) }}
{%- endmacro %}

{% macro default__lake_batch_file_filter(column, relation) -%}
    1 = 1
{%- endmacro %}

{% macro duckdb__lake_batch_file_filter(column, relation) -%}
    {%- if not (execute and is_incremental()) -%}
        1 = 1
    {%- else -%}
        {%- set query -%}
            select distinct strftime(batches.batch_date, '%Y%m%d') as batch
            from ({{ lake_batches_to_build(relation) }}) as batches
            order by 1
        {%- endset -%}
        {%- set batches = run_query(query).columns[0].values() -%}
        {%- if batches | length == 0 -%}
            1 = 0
        {%- else -%}
            ({% for batch in batches -%}
            ({{ column }} >= '{{ relation.identifier }}_{{ batch }}_' and {{ column }} < '{{ relation.identifier }}_{{ batch }}_~')
            {{- ' or ' if not loop.last }}
            {%- endfor %})
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
