{#-
    The CDR detail kept as running state (DuckDB): int_cdr_days_measured (additive measures per MSISDN and event
    day) and int_cdr_contacts_by_month (the other parties met per MSISDN and month, with the days met).

    CDR detail arrives every day and stays in the raw zone, and BASS_USAGE's distinct contacts and active days
    do not add up across batches: aggregating the month to date from the raw files every night would cost more
    each day of the month, and more each day since go-live. The two state models are instead brought up to
    date from the partitions they have not aggregated yet. Their ledger, audit.lake_partitions_read
    (macros/partitions_read.sql), holds per model the CDR partitions (interface, batch date, time its files
    were written) the state reflects, with the first and last event month of each partition's records. A run
    (cdr_state_plan) compares it with the raw zone:
      - a new partition is merged in: its records (its files picked by name) are added to the state of the
        event days they fall on (int_cdr_days_measured: those days rewritten) and to the contacts they meet
        (int_cdr_contacts_by_month: MERGE), so a night reads its own batch and writes the state it touches, not
        the month to date;
      - a partition redelivered, re-ingested, put back from a backup (another write time) or removed makes
        its event months, old (from the ledger) and new (from its files), be rebuilt from every batch's raw
        records: a pre-hook deletes those months, the model's select reads them again.
    A post-hook (record_partitions_read) rewrites the ledger in the model's own transaction. On a full build,
    without a ledger (or with none of the model's rows in it), and on other engines every month is built from
    the raw records.

    The month models read by the marts (int_usage_from_cdrs_aggregated, int_usage_from_cdrs_coverage) rebuild
    the months whose state was rebuilt since they built them (cdr_state_months_to_build): every state row
    records the dbt run that wrote it (state_built_at).
-#}

{#- The CDR interfaces: (source table, staging model, event time column). -#}
{% macro cdr_interfaces() -%}
    {{ return([('cdr_voice', 'stg_mediation__voice_cdrs', 'started_at'),
               ('cdr_sms', 'stg_mediation__sms_cdrs', 'sent_at'),
               ('cdr_gprs', 'stg_mediation__gprs_cdrs', 'started_at')]) }}
{%- endmacro %}

{#- The CDR sources a state model reads, as record_partitions_read takes them. -#}
{% macro cdr_sources_read() -%}
    {%- set interfaces = [] -%}
    {%- for table, staging, event_at in cdr_interfaces() -%}
        {%- do interfaces.append((source('mediation', table), staging, event_at)) -%}
    {%- endfor -%}
    {{ return(interfaces) }}
{%- endmacro %}

{#- A predicate on source_file_name keeping the files of `batches` ('YYYYMMDD') of a lake source table. -#}
{% macro lake_batch_files(relation, batches) -%}
    ({% for batch in batches -%}
        (source_file_name >= '{{ relation.identifier }}_{{ batch }}_'
         and source_file_name < '{{ relation.identifier }}_{{ batch }}_~')
        {{- ' or ' if not loop.last }}
    {%- endfor %})
{%- endmacro %}

{#-
    What an incremental run of a CDR state model must read, or none to build every month from the raw records:
    {'new_batches': {table: [batch, ...]}, 'days': ['YYYY-MM-DD', ...] (event days the new partitions add to),
     'rebuild_months': [...] (months rebuilt from every batch)}.
    Days in a month being rebuilt are left to the rebuild.
-#}
{% macro cdr_state_plan() -%}
    {%- if not execute or target.type != 'duckdb' or not is_incremental() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if not partitions_read_recorded() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set new_batches = {} -%}
    {%- set days = [] -%}
    {%- set rebuild_months = [] -%}
    {%- for table, staging, event_at in cdr_interfaces() -%}
        {%- set relation = source('mediation', table) -%}
        {%- set found = run_query(partitions_not_read(relation)) -%}
        {%- set new = [] -%}
        {%- set changed = [] -%}
        {%- for row in found.rows -%}
            {%- if row[1] == 'new' -%}
                {%- do new.append(row[0]) -%}
            {%- elif row[1] == 'changed' -%}
                {%- do changed.append(row[0]) -%}
            {%- endif -%}
            {%- if row[2] is not none -%}
                {%- set query -%}
                    select strftime(month, '%Y-%m-%d')
                    from range(date '{{ row[2] }}', date '{{ row[3] }}' + interval 1 month, interval 1 month) as months (month)
                {%- endset -%}
                {%- do rebuild_months.extend(run_query(query).columns[0].values()) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if changed -%}
            {%- set query -%}
                select distinct strftime(date_trunc('month', {{ event_at }}), '%Y-%m-%d')
                from {{ ref(staging) }}
                where {{ lake_batch_files(relation, changed) }} and {{ event_at }} is not null
            {%- endset -%}
            {%- do rebuild_months.extend(run_query(query).columns[0].values()) -%}
        {%- endif -%}
        {%- if new -%}
            {%- do new_batches.update({table: new}) -%}
            {%- set query -%}
                select distinct strftime(cast({{ event_at }} as date), '%Y-%m-%d')
                from {{ ref(staging) }}
                where {{ lake_batch_files(relation, new) }} and {{ event_at }} is not null
            {%- endset -%}
            {%- do days.extend(run_query(query).columns[0].values()) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set rebuild_months = rebuild_months | unique | sort -%}
    {%- set days = days | unique | sort -%}
    {%- set kept_days = [] -%}
    {%- for day in days if (day[:8] ~ '01') not in rebuild_months -%}
        {%- do kept_days.append(day) -%}
    {%- endfor -%}
    {{ return({'new_batches': new_batches, 'days': kept_days, 'rebuild_months': rebuild_months}) }}
{%- endmacro %}

{#- A list of 'YYYY-MM-DD' strings as SQL date literals, for an IN list (never empty). -#}
{% macro cdr_date_list(values) -%}
    {%- for value in values -%}date '{{ value }}'{{ ', ' if not loop.last }}{%- endfor -%}
{%- endmacro %}

{#-
    The predicate on a CDR staging model's records a state model reads: every record on a full build; else the
    records of the months being rebuilt (every batch's) and the new partitions' records of the days they add to.
-#}
{% macro cdr_records_to_read(table, event_at, plan) -%}
    {%- if plan is none -%}
        1 = 1
    {%- else -%}
        {%- set parts = [] -%}
        {%- for month in plan.rebuild_months -%}
            {%- do parts.append("(" ~ event_at ~ " >= timestamp '" ~ month ~ "' and " ~ event_at
                                ~ " < timestamp '" ~ month ~ "' + interval 1 month)") -%}
        {%- endfor -%}
        {%- if plan.days and table in plan.new_batches -%}
            {%- do parts.append("(" ~ lake_batch_files(source('mediation', table), plan.new_batches[table])
                                ~ " and cast(" ~ event_at ~ " as date) in (" ~ cdr_date_list(plan.days) ~ "))") -%}
        {%- endif -%}
        {{ '(' ~ (parts | join(' or ')) ~ ')' if parts else '1 = 0' }}
    {%- endif -%}
{%- endmacro %}

{#- The predicate on the state model's own rows that new records are merged with (`column`: a date). -#}
{% macro cdr_state_to_merge(column, values) -%}
    {%- if values -%}
        {{ column }} in ({{ cdr_date_list(values) }})
    {%- else -%}
        1 = 0
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of a CDR state model: delete the months it rebuilds from every batch (a month may get no row), or
    every row when it rebuilds everything on an incremental run. -#}
{% macro delete_cdr_months_to_rebuild() -%}
    {%- set plan = cdr_state_plan() -%}
    {%- if plan is not none and plan.rebuild_months -%}
    delete from {{ this }} where month_start_date in ({{ cdr_date_list(plan.rebuild_months) }})
    {%- elif plan is none and execute and target.type == 'duckdb' and is_incremental() -%}
    delete from {{ this }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- The run that writes a state row (lineage compared by the month models). -#}
{% macro run_started_timestamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- 2^(day of month - 1): a day's bit in a month's day mask. -#}
{% macro cdr_day_bit(date) -%}
    cast(power(2, extract(day from {{ date }}) - 1) as bigint)
{%- endmacro %}

{#-
    The months ('YYYY-MM-DD') a month model built from the CDR state must rebuild, or none for every month: the
    months whose state rows were written by another run than the one the model's row of the month records, and
    the months the model holds that the state no longer has (`month_column` of the model: a date).
-#}
{% macro cdr_state_months_to_build(states, month_expression) -%}
    {%- if not execute or target.type != 'duckdb' or not is_incremental() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if 'state_built_at' not in adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
        {#- a table from before the CDR state: every month (dbt's on_schema_change check then says what to do) -#}
        {{ return(none) }}
    {%- endif -%}
    {%- set query -%}
        with state as (
            {%- for state in states %}
            select month_start_date, max(state_built_at) as state_built_at from {{ state }} group by 1
            {{- ' union all' if not loop.last }}
            {%- endfor %}
        ),
        state_months as (
            select month_start_date, max(state_built_at) as state_built_at from state group by 1
        ),
        built as (
            select {{ month_expression }} as month_start_date, max(state_built_at) as state_built_at
            from {{ this }} group by 1
        )
        select strftime(coalesce(state_months.month_start_date, built.month_start_date), '%Y-%m-%d')
        from state_months
        full join built on state_months.month_start_date = built.month_start_date
        where state_months.state_built_at is distinct from built.state_built_at
        order by 1
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}

{#- A predicate keeping `month_column` (a date) in `months` (from cdr_state_months_to_build; none: all). -#}
{% macro cdr_months_filter(month_column, months) -%}
    {%- if months is none -%}
        1 = 1
    {%- else -%}
        {{ cdr_state_to_merge(month_column, months) }}
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of a month model built from the CDR state: delete the months it rebuilds (a month may be gone). -#}
{% macro delete_cdr_state_months(states, month_expression) -%}
    {%- set months = cdr_state_months_to_build(states, month_expression) -%}
    {%- if months -%}
    delete from {{ this }} where {{ month_expression }} in ({{ cdr_date_list(months) }})
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- The first day of a 'YYYYMM' stat_month (DuckDB). -#}
{% macro cdr_stat_month_start(column) -%}
    cast(strptime({{ column }}, '%Y%m') as date)
{%- endmacro %}

{#- The latest write time of any CDR partition: the lineage a month model's month built now records. -#}
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
