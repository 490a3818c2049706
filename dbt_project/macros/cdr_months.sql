{#-
    Models of the CDR detail incremental by event month (int_usage_from_cdrs_aggregated, int_usage_from_cdrs_coverage).

    CDR detail arrives every day and stays in the raw zone, so a model that aggregated all of it each night
    would cost more every day since go-live. The ledger audit.cdr_partitions_built holds, per model, the CDR
    partitions (interface, batch date, time its files were written) the model's table reflects; a post-hook
    (record_cdr_partitions_built) rewrites it in the model's own transaction. A run finds the partitions the
    ledger does not hold (a new batch, a redelivered or re-ingested one, a partition put back from a backup),
    reads only those partitions' event months (their files picked by name), and rebuilds exactly those months
    from every batch (delete+insert on the month). A night therefore reads the month in progress, not the
    history. Records are read by an event-time range, which DuckDB checks against each Parquet row group's
    statistics, so the other months' files are skipped without relying on which batch delivered a record.
    Each month also keeps inputs_written_at, the latest CDR partition write time when it was built (lineage).

    On a full build, without a ledger, on other engines and in unit tests, every month is built.
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
    {%- if adapter.get_relation(database=target.database, schema='audit', identifier='cdr_partitions_built') is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set months = [] -%}
    {%- for table, staging, event_at in cdr_interfaces() -%}
        {%- set relation = source('mediation', table) -%}
        {%- set query -%}
            select strftime(batch_date, '%Y%m%d')
            from ({{ lake_partitions(relation) }}) as partitions
            where not exists (
                select 1 from audit.cdr_partitions_built as built
                where built.model = '{{ this.identifier }}' and built.interface = '{{ relation.identifier }}'
                  and built.batch_date = partitions.batch_date
                  and built.partition_written_at = partitions.partition_written_at)
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

{#- Post-hook of the CDR month models (DuckDB): record the CDR partitions the model's table now reflects. -#}
{% macro record_cdr_partitions_built() -%}
    {%- if target.type != 'duckdb' -%}
        select 1
    {%- else -%}
    create schema if not exists audit;
    create table if not exists audit.cdr_partitions_built (
        model varchar not null, interface varchar not null, batch_date date not null,
        partition_written_at timestamp not null);
    delete from audit.cdr_partitions_built where model = '{{ this.identifier }}';
    {%- for table, staging, event_at in cdr_interfaces() %}
    {%- set relation = source('mediation', table) %}
    insert into audit.cdr_partitions_built
    select '{{ this.identifier }}', '{{ relation.identifier }}', batch_date, partition_written_at
    from ({{ lake_partitions(relation) }}) as partitions;
    {%- endfor %}
    {%- endif -%}
{%- endmacro %}
