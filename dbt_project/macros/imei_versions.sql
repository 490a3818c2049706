{#-
    IMEI observations versioned incrementally (int_imei_observations_versioned, DuckDB).

    IMEI_OBS delivers every (MSISDN, IMEI) pair in use in every daily batch, and the numbering of a user's
    handset versions depends on every earlier observation of the user: renumbering every observation each
    night would cost more every day since go-live. An incremental run instead
      - appends a new partition's observations to their users' numbering: a user's new observations that all
        come after the user's latest one continue from it (same version while the IMEI is the same, the next
        one when it changes);
      - rebuilds from every batch the users whose observations may be attributed differently: every user who
        held, or whose rows hold, a number whose holdings (int_msisdn_assignments_historized) changed since
        the model last ran, and every user with a new observation not after the user's latest one.
    The holdings the model last attributed with are kept beside it (restricted.<model>__holdings, written by a
    post-hook) to find the numbers whose holdings changed. A partition redelivered, re-ingested, restored or
    removed (the ledger, macros/partitions_read.sql), a missing copy of the holdings, a full refresh and other
    engines build every user from every batch.
-#}

{% macro imei_holdings_used() -%}
    {{ this.schema }}.{{ this.identifier }}__holdings
{%- endmacro %}

{% macro imei_users_rebuilt() -%}
    {{ this.schema }}.{{ this.identifier }}__users_rebuilt
{%- endmacro %}

{#- The IMEI_OBS batches ('YYYYMMDD') an incremental run appends, or none to build every user from every batch. -#}
{% macro imei_batches_to_append() -%}
    {%- if not execute or target.type != 'duckdb' or not is_incremental() or not partitions_read_recorded() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if adapter.get_relation(database=this.database, schema=this.schema,
                                identifier=this.identifier ~ '__holdings') is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set new = [] -%}
    {%- for row in run_query(partitions_not_read(source('dm', 'imei_obs'))).rows -%}
        {%- if row[1] != 'new' -%}
            {{ return(none) }}
        {%- endif -%}
        {%- do new.append(row[0]) -%}
    {%- endfor -%}
    {{ return(new) }}
{%- endmacro %}

{#- The holdings as the model attributes with them (the columns compared between runs). -#}
{% macro imei_holdings(assignments) -%}
    select msisdn, user_id, valid_from, valid_to from {{ assignments }}
{%- endmacro %}

{#- Observations attributed to the holder of their number at the last sighting. -#}
{% macro imei_attributed(observations, assignments) -%}
    select
        assignments.user_id,
        observations.msisdn,
        observations.imei,
        observations.tac,
        observations.first_seen_at,
        observations.last_seen_at,
        observations.event_count,
        observations.batch_date
    from {{ observations }} as observations
    inner join {{ assignments }} as assignments
        on
            observations.msisdn = assignments.msisdn
            and observations.last_seen_at >= assignments.valid_from
            and {{ before_valid_to('observations.last_seen_at', 'assignments.valid_to') }}
{%- endmacro %}

{#-
    Pre-hook: on an incremental run that appends, list the users to rebuild from every batch and delete their
    rows; on one that builds every user, empty the table (the run appends).
-#}
{% macro prepare_imei_versions() -%}
    {%- if not (execute and target.type == 'duckdb' and is_incremental()) -%}
    select 1
    {%- else -%}
    {%- set batches = imei_batches_to_append() -%}
    {%- if batches is none -%}
    delete from {{ this }}
    {%- else -%}
    {%- set assignments = ref('int_msisdn_assignments_historized') -%}
    create or replace table {{ imei_users_rebuilt() }} as
    with

    changed_numbers as (
        select distinct msisdn from (
            ({{ imei_holdings(assignments) }} except {{ imei_holdings(imei_holdings_used()) }})
            union all
            ({{ imei_holdings(imei_holdings_used()) }} except {{ imei_holdings(assignments) }})
        ) as changed
    ),

    new_observations as (
        {{ imei_attributed("(select * from " ~ ref('stg_dm__imei_observations') ~ " where "
                           ~ (lake_batch_files(source('dm', 'imei_obs'), batches) if batches else '1 = 0') ~ ")",
                           assignments) }}
    ),

    latest as (
        select user_id, max(first_seen_at) as latest_first_seen_at
        from {{ this }}
        where user_id in (select user_id from new_observations)
        group by user_id
    )

    select user_id from {{ this }} where msisdn in (select msisdn from changed_numbers)
    union
    select user_id from {{ assignments }} where msisdn in (select msisdn from changed_numbers)
    union
    select new_observations.user_id
    from new_observations
    inner join latest on new_observations.user_id = latest.user_id
    where new_observations.first_seen_at <= latest.latest_first_seen_at;

    delete from {{ this }} where user_id in (select user_id from {{ imei_users_rebuilt() }})
    {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- Post-hook: keep the holdings this run attributed with, for the next run to compare (DuckDB). -#}
{% macro keep_imei_holdings() -%}
    {%- if target.type != 'duckdb' -%}
    select 1
    {%- else -%}
    create or replace table {{ imei_holdings_used() }} as
    {{ imei_holdings(ref('int_msisdn_assignments_historized')) }}
    {%- endif -%}
{%- endmacro %}
