{#-
    The registry of keys unique over batches (DuckDB): audit.lake_keys_seen__<interface>__<key column> holds a
    64-bit hash of every key of every raw partition that passed its tests, with its batch date, and
    audit.lake_keys_registered the partitions each covers, with the time their files were written and the
    hash function used. One table per key: the lookup then scans hashes alone, with no filter for the planner
    to push into it.

    unique_over_batches looks up a new partition's keys in every batch. Reading every batch's keys as text
    grows with the history (at a million users, two hundred million CDR ids a month); looking up their hashes
    in a native table does not read the raw zone at all. A hash is only a candidate: the batches holding a
    hash of a new key are read as text and the keys compared there, so a collision costs a read and never a
    false failure. A partition the registry does not cover (written again since, never registered, or
    registered by another DuckDB version, whose hash() may differ) is read as text as before.
-#}

{% macro lake_keys_seen(interface, column_name) -%}
    audit.lake_keys_seen__{{ interface | lower }}__{{ column_name | lower }}
{%- endmacro %}

{% macro lake_keys_registered() -%}
    audit.lake_keys_registered
{%- endmacro %}

{#- The hash function the registry's hashes come from: DuckDB's hash(), which may change between versions. -#}
{% macro lake_key_hash_function() -%}
    {%- set version = run_query("select library_version from pragma_version()").columns[0].values()[0] -%}
    {{ return('duckdb ' ~ version ~ ' hash()') }}
{%- endmacro %}

{% macro lake_key_registry_exists(interface, column_name) -%}
    {%- set seen = adapter.get_relation(database=target.database, schema='audit',
                                        identifier='lake_keys_seen__' ~ interface | lower ~ '__' ~ column_name | lower) -%}
    {%- set registered = adapter.get_relation(database=target.database, schema='audit', identifier='lake_keys_registered') -%}
    {{ return(seen is not none and registered is not none) }}
{%- endmacro %}

{#- A SQL list of DATE literals for batches 'YYYYMMDD'. -#}
{% macro batch_date_list(batches) -%}
    {%- for batch in batches %}{{ yyyymmdd_to_date("'" ~ batch ~ "'") }}{{ ', ' if not loop.last }}{% endfor -%}
{%- endmacro %}

{#- The partitions of the lake source the registry covers for this key: same file time, same hash function. -#}
{% macro lake_keys_covered(relation, column_name) -%}
    select partitions.batch_date
    from ({{ lake_partitions(relation) }}) as partitions
    inner join {{ lake_keys_registered() }} as registered
        on registered.batch_date = partitions.batch_date
        and registered.partition_written_at = partitions.partition_written_at
    where registered.interface = '{{ relation.identifier }}'
      and registered.key_column = '{{ column_name }}'
      and registered.hash_function = '{{ lake_key_hash_function() }}'
{%- endmacro %}

{#-
    The batches ('YYYYMMDD') whose keys unique_over_batches must read as text to check the `untested`
    batches' keys of `model`.`column_name`: the untested batches, the partitions the registry does not cover,
    and the covered ones holding a hash of one of the new keys. None (read every batch) without a registry.
    Two queries: the hash lookup must stay a plain semi-join of the registry on the new keys' hashes (a filter
    on the registry's batches makes the planner build its hash table on the registry instead).
-#}
{% macro lake_key_batches_to_compare(relation, model, column_name, untested) -%}
    {%- if untested | length == 0 -%}
        {{ return([]) }}
    {%- endif -%}
    {%- if not vasmart.lake_key_registry_exists(relation.identifier, column_name) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set partitions -%}
        select
            strftime(partitions.batch_date, '%Y%m%d') as batch,
            partitions.batch_date in (select batch_date from ({{ lake_keys_covered(relation, column_name) }}) as covered)
            and partitions.batch_date not in ({{ batch_date_list(untested) }}) as is_covered
        from ({{ lake_partitions(relation) }}) as partitions
        order by 1
    {%- endset -%}
    {%- set holding -%}
        select distinct strftime(batch_date, '%Y%m%d') as batch
        from {{ lake_keys_seen(relation.identifier, column_name) }}
        where key_hash in (
            select hash({{ column_name }}) from {{ model }}
            where batch_date in ({{ batch_date_list(untested) }}) and {{ column_name }} is not null)
    {%- endset -%}
    {%- set candidates = run_query(holding).columns[0].values() | list -%}
    {%- set compared = [] -%}
    {%- for batch, is_covered in run_query(partitions).rows if not is_covered or batch in candidates -%}
        {%- do compared.append(batch) -%}
    {%- endfor -%}
    {{ return(compared) }}
{%- endmacro %}

{#-
    on-run-end, after the source's partitions were recorded as tested: bring the registry of `test_node`'s key
    (a unique_over_batches test on a staging model of the lake source `source`) in line with the raw zone.
    Partitions written again or removed since they were registered, or registered with another hash function,
    are dropped from it; every tested partition it does not cover is hashed from the staging model.
-#}
{% macro register_lake_keys(source, test_node) -%}
    {%- set models = [] -%}
    {%- for node_id in test_node.depends_on.nodes if node_id.startswith('model.') -%}
        {%- do models.append(graph.nodes[node_id]) -%}
    {%- endfor -%}
    {%- set column_name = test_node.column_name -%}
    {%- if not models or not column_name -%}
        {{ return(0) }}
    {%- endif -%}
    {%- set model = models[0] -%}
    {%- if adapter.get_relation(database=model.database, schema=model.schema, identifier=model.alias) is none -%}
        {{ return(0) }}
    {%- endif -%}
    {%- set interface = source.identifier -%}
    {%- set found = modules.re.search("read_parquet\(\s*'([^']+)'", source.relation_name or '') -%}
    {%- set partitions = vasmart.lake_partitions_of_files(found.group(1)) -%}
    {%- set hash_function = vasmart.lake_key_hash_function() -%}
    {%- set this_key -%}
        interface = '{{ interface }}' and key_column = '{{ column_name }}'
    {%- endset -%}
    {%- set seen = lake_keys_seen(interface, column_name) -%}
    {%- do run_query("create table if not exists " ~ seen ~ " (batch_date date not null, key_hash ubigint not null)") -%}
    {%- do run_query("create table if not exists " ~ lake_keys_registered() ~ " (interface varchar not null, "
                     ~ "key_column varchar not null, batch_date date not null, partition_written_at timestamp not null, "
                     ~ "hash_function varchar not null, registered_at timestamp not null)") -%}
    {%- set stale -%}
        select distinct strftime(registered.batch_date, '%Y%m%d')
        from {{ lake_keys_registered() }} as registered
        where registered.{{ this_key }}
          and not exists (
              select 1 from ({{ partitions }}) as partitions
              where partitions.batch_date = registered.batch_date
                and partitions.partition_written_at = registered.partition_written_at
                and registered.hash_function = '{{ hash_function }}')
    {%- endset -%}
    {#- the covering rows first: a run stopped in between leaves hashes nothing covers, never the reverse -#}
    {%- set stale_batches = run_query(stale).columns[0].values() | list -%}
    {%- if stale_batches -%}
        {%- set stale_list = vasmart.batch_date_list(stale_batches) -%}
        {%- do run_query("delete from " ~ lake_keys_registered() ~ " where " ~ this_key ~ " and batch_date in (" ~ stale_list ~ ")") -%}
        {%- do run_query("delete from " ~ seen ~ " where batch_date in (" ~ stale_list ~ ")") -%}
    {%- endif -%}
    {%- set to_register -%}
        select strftime(partitions.batch_date, '%Y%m%d'), strftime(partitions.partition_written_at, '%Y-%m-%d %H:%M:%S.%f')
        from ({{ partitions }}) as partitions
        inner join audit.lake_partitions_tested as tested
            on tested.interface = '{{ interface }}'
            and tested.batch_date = partitions.batch_date
            and tested.partition_written_at = partitions.partition_written_at
        where not exists (
            select 1 from {{ lake_keys_registered() }} as registered
            where registered.{{ this_key }} and registered.batch_date = partitions.batch_date)
        order by 1
    {%- endset -%}
    {%- set rows = run_query(to_register).rows -%}
    {%- for batch, written_at in rows -%}
        {%- set batch_date = yyyymmdd_to_date("'" ~ batch ~ "'") -%}
        {#- hashes first, the row covering them last: a run stopped in between leaves hashes nothing covers -#}
        {%- do run_query("delete from " ~ seen ~ " where batch_date = " ~ batch_date) -%}
        {%- do run_query("insert into " ~ seen ~ " select batch_date, hash(" ~ column_name ~ ") from "
                         ~ model.relation_name ~ " where batch_date = " ~ batch_date ~ " and " ~ column_name
                         ~ " is not null") -%}
        {%- do run_query("insert into " ~ lake_keys_registered() ~ " values ('" ~ interface ~ "', '" ~ column_name
                         ~ "', " ~ batch_date ~ ", timestamp '" ~ written_at ~ "', '" ~ hash_function ~ "', now())") -%}
    {%- endfor -%}
    {{ return(rows | length) }}
{%- endmacro %}
