{#-
    The ledger of the raw-zone partitions an incremental state model has read (DuckDB): audit.lake_partitions_read,
    one row per (model, interface, batch date) with the time the partition's files were written and, for event
    detail, the first and last event month of its records.

    A model that keeps running state (CDR usage per number and day, subscriber snapshots compacted into islands)
    compares it with the raw zone at each run (partitions_not_read): a partition absent from the ledger is new,
    one written at another time than recorded was redelivered, re-ingested or put back from a backup, one the
    raw zone no longer holds was removed. Its post-hook (record_partitions_read) rewrites its rows in the
    model's own transaction, so the ledger and the state never disagree. The table is created once per dbt
    invocation by on-run-start (models writing it run side by side).
-#}

{% macro partitions_read_ledger() -%}
    audit.lake_partitions_read
{%- endmacro %}

{#- on-run-start (DuckDB): the ledger, created before the models that write it run side by side. -#}
{% macro create_partitions_read_ledger() -%}
    {%- if target.type != 'duckdb' -%}
    select 1
    {%- else -%}
    create schema if not exists audit;
    create table if not exists {{ partitions_read_ledger() }} (
        model varchar not null, interface varchar not null, batch_date date not null,
        partition_written_at timestamp not null, first_event_month date, last_event_month date);
    drop table if exists audit.cdr_partitions_built  -- superseded by the ledger above
    {%- endif -%}
{%- endmacro %}

{#- Whether the ledger holds rows of this model: without, its state is rebuilt, never merged into twice. -#}
{% macro partitions_read_recorded() -%}
    {%- if adapter.get_relation(database=target.database, schema='audit', identifier='lake_partitions_read') is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set recorded = run_query("select count(*) from " ~ partitions_read_ledger()
                                 ~ " where model = '" ~ this.identifier ~ "'") -%}
    {{ return(recorded.columns[0].values()[0] > 0) }}
{%- endmacro %}

{#-
    A query listing the partitions of `relation` this model's ledger rows do not match: (batch 'YYYYMMDD',
    status 'new' | 'changed' | 'removed', first event month, last event month recorded ('YYYY-MM-DD' or NULL)).
-#}
{% macro partitions_not_read(relation) -%}
    select
        strftime(coalesce(partitions.batch_date, read.batch_date), '%Y%m%d') as batch,
        case when read.batch_date is null then 'new'
             when partitions.batch_date is null then 'removed'
             else 'changed' end as status,
        strftime(read.first_event_month, '%Y-%m-%d') as first_month,
        strftime(read.last_event_month, '%Y-%m-%d') as last_month
    from ({{ lake_partitions(relation) }}) as partitions
    full join (
        select * from {{ partitions_read_ledger() }}
        where model = '{{ this.identifier }}' and interface = '{{ relation.identifier }}'
    ) as read
        on partitions.batch_date = read.batch_date
    where read.batch_date is null or partitions.batch_date is null
       or read.partition_written_at <> partitions.partition_written_at
    order by 1
{%- endmacro %}

{#-
    Post-hook of a state model (DuckDB): record the partitions of `interfaces` the model's state now reflects.
    `interfaces`: (source relation, staging model name, event time column or none) per source read.
-#}
{% macro record_partitions_read(interfaces) -%}
    {%- if target.type != 'duckdb' -%}
        select 1
    {%- else -%}
    {%- for relation, staging, event_at in interfaces %}
    {%- set query -%}
        select strftime(partitions.batch_date, '%Y%m%d')
        from ({{ lake_partitions(relation) }}) as partitions
        where not exists (
            select 1 from {{ partitions_read_ledger() }} as read
            where read.model = '{{ this.identifier }}' and read.interface = '{{ relation.identifier }}'
              and read.batch_date = partitions.batch_date
              and read.partition_written_at = partitions.partition_written_at)
        order by 1
    {%- endset %}
    {%- set batches = run_query(query).columns[0].values() if execute else [] %}
    delete from {{ partitions_read_ledger() }} as read
    where model = '{{ this.identifier }}' and interface = '{{ relation.identifier }}'
      and not exists (
        select 1 from ({{ lake_partitions(relation) }}) as partitions
        where partitions.batch_date = read.batch_date
          and partitions.partition_written_at = read.partition_written_at);
    {%- if batches %}
    insert into {{ partitions_read_ledger() }}
    select
        '{{ this.identifier }}', '{{ relation.identifier }}', partitions.batch_date,
        partitions.partition_written_at, months.first_event_month, months.last_event_month
    from ({{ lake_partitions(relation) }}) as partitions
    left join (
        {%- if event_at %}
        select
            batch_date,
            cast(min(date_trunc('month', {{ event_at }})) as date) as first_event_month,
            cast(max(date_trunc('month', {{ event_at }})) as date) as last_event_month
        from {{ ref(staging) }}
        where {{ lake_batch_files(relation, batches) }}
        group by batch_date
        {%- else %}
        select cast(null as date) as batch_date, cast(null as date) as first_event_month,
               cast(null as date) as last_event_month
        where false
        {%- endif %}
    ) as months
        on partitions.batch_date = months.batch_date
    where strftime(partitions.batch_date, '%Y%m%d') in ({% for batch in batches %}'{{ batch }}'{{ ', ' if not loop.last }}{% endfor %});
    {%- endif %}
    {%- endfor %}
    {%- endif -%}
{%- endmacro %}
