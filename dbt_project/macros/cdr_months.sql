{#-
    Models of the CDR detail incremental by event month (int_usage_from_cdrs_aggregated, int_usage_from_cdrs_coverage).

    CDR detail arrives every day and stays in the raw zone, so a model that aggregated all of it each night
    would cost more every day since go-live. These models keep, per month, inputs_written_at: the latest
    write time of the CDR partitions (voice, SMS, GPRS) when the month was built. A run finds the partitions
    written since the model's latest inputs_written_at (a new batch, a redelivered or re-ingested one), reads
    only those partitions' event months (their files picked by name), and rebuilds exactly those months from
    every batch (delete+insert on the month). A night therefore reads the month in progress, not the history.
    Records are read by an event-time range, which DuckDB checks against each Parquet row group's statistics,
    so the other months' files are skipped without relying on which batch delivered a record.

    On a full build, on other engines and in unit tests, every month is built.

    A partition counts as new when its files were written after the latest build that read CDR detail, as
    the ingest writes them. A partition put back with an older file time (copied from a backup with its
    times kept) is not seen as new: rebuild with `--full-refresh` after restoring part of the raw zone.
-#}

{#- The CDR interfaces: (source table, staging model, event time column). -#}
{% macro cdr_interfaces() -%}
    {{ return([('cdr_voice', 'stg_mediation__voice_cdrs', 'started_at'),
               ('cdr_sms', 'stg_mediation__sms_cdrs', 'sent_at'),
               ('cdr_gprs', 'stg_mediation__gprs_cdrs', 'started_at')]) }}
{%- endmacro %}

{#- The months ('YYYY-MM-01') an incremental run must rebuild, in order; none to build every month. -#}
{% macro cdr_months_to_build() -%}
    {%- if not execute or target.type != 'duckdb' or not is_incremental() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set months = [] -%}
    {%- for table, staging, event_at in cdr_interfaces() -%}
        {%- set relation = source('mediation', table) -%}
        {%- set query -%}
            select strftime(batch_date, '%Y%m%d')
            from ({{ lake_partitions(relation) }}) as partitions
            where partition_written_at > (select coalesce(max(inputs_written_at), timestamp '1900-01-01') from {{ this }})
            order by 1
        {%- endset -%}
        {%- set batches = run_query(query).columns[0].values() -%}
        {%- if batches | length > 0 -%}
            {%- set query -%}
                select distinct strftime(date_trunc('month', {{ event_at }}), '%Y-%m-%d')
                from {{ ref(staging) }}
                where ({% for batch in batches -%}
                    (source_file_name >= '{{ relation.identifier }}_{{ batch }}_'
                     and source_file_name < '{{ relation.identifier }}_{{ batch }}_~')
                    {{- ' or ' if not loop.last }}
                {%- endfor %})
                and {{ event_at }} is not null
            {%- endset -%}
            {%- for month in run_query(query).columns[0].values() if month not in months -%}
                {%- do months.append(month) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(months | sort) }}
{%- endmacro %}

{#- A predicate keeping the records whose event time falls in `months` (from cdr_months_to_build). -#}
{% macro cdr_event_months_filter(event_at, months) -%}
    {%- if months is none -%}
        1 = 1
    {%- elif months | length == 0 -%}
        1 = 0
    {%- else -%}
        ({% for month in months -%}
            ({{ event_at }} >= timestamp '{{ month }}'
             and {{ event_at }} < timestamp '{{ month }}' + interval 1 month)
            {{- ' or ' if not loop.last }}
        {%- endfor %})
    {%- endif -%}
{%- endmacro %}

{#- The latest write time of any CDR partition: the lineage a month built now records. -#}
{% macro cdr_inputs_written_at() -%}
    (
        select max(partition_written_at) from (
            {%- for table, staging, event_at in cdr_interfaces() %}
            select partition_written_at from ({{ lake_partitions(source('mediation', table)) }}) as {{ table }}
            {{- ' union all' if not loop.last }}
            {%- endfor %}
        ) as partitions
    )
{%- endmacro %}
