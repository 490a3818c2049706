{#-
    BOSS_USER snapshots compacted into islands (int_user_snapshots_compacted, DuckDB incremental).

    BOSS_USER delivers every subscriber in every daily batch and the raw zone keeps them all, so histories
    rebuilt from every snapshot each night would cost more every day since go-live. The compacted model keeps
    one row per island: consecutive snapshots of a user (consecutive among the snapshots that list the user)
    with the same number and attributes. A run whose new BOSS_USER partitions all come after every partition it
    has read extends each listed user's latest island or starts a new one (MERGE on user and island start);
    anything else - a partition redelivered, re-ingested, restored or removed, or a snapshot older than one
    already read - rebuilds the islands from every snapshot. The ledger audit.lake_partitions_read says which
    partitions the islands reflect (macros/partitions_read.sql).
-#}

{#- The BOSS_USER batches ('YYYYMMDD') an incremental run appends, or none to rebuild from every snapshot. -#}
{% macro user_snapshots_to_append() -%}
    {%- if not execute or target.type != 'duckdb' or not is_incremental() or not partitions_read_recorded() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set relation = source('boss', 'boss_user') -%}
    {%- set found = run_query(partitions_not_read(relation)) -%}
    {%- set new = [] -%}
    {%- for row in found.rows -%}
        {%- if row[1] != 'new' -%}
            {{ return(none) }}
        {%- endif -%}
        {%- do new.append(row[0]) -%}
    {%- endfor -%}
    {%- if new -%}
        {%- set query -%}
            select strftime(max(batch_date), '%Y%m%d') from {{ partitions_read_ledger() }}
            where model = '{{ this.identifier }}' and interface = '{{ relation.identifier }}'
        {%- endset -%}
        {%- set latest = run_query(query).columns[0].values()[0] -%}
        {%- if latest is not none and new[0] <= latest -%}
            {{ return(none) }}
        {%- endif -%}
    {%- endif -%}
    {{ return(new) }}
{%- endmacro %}

{#- Pre-hook: before a rebuild from every snapshot on an incremental run, empty the table (MERGE adds only). -#}
{% macro delete_user_snapshots_to_rebuild() -%}
    {%- if execute and target.type == 'duckdb' and is_incremental() and user_snapshots_to_append() is none -%}
    delete from {{ this }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- The BOSS_USER attributes an island holds constant, in order. -#}
{% macro user_snapshot_attributes() -%}
    {{ return(['msisdn', 'join_date', 'brand_code', 'plan_code', 'pay_type', 'region_code', 'user_status',
               'user_status_date', 'cancel_reason', 'is_rejoin', 'is_dnd', 'birth_year', 'gender']) }}
{%- endmacro %}

{#- 1 when any of `columns` differs from the previous row of the user (ordered by `order_by`), or no previous row. -#}
{% macro starts_island(columns, order_by) -%}
    case
      when lag({{ order_by }}) over (partition by user_id order by {{ order_by }}) is null then 1
      when
        {% for column in columns -%}
        (lag({{ column }}) over (partition by user_id order by {{ order_by }}) is distinct from {{ column }})
        {{- ' or ' if not loop.last }}
        {% endfor %}
        then 1
      else 0
    end
{%- endmacro %}
