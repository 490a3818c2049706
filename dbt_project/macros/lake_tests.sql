{#-
    The raw sources' data tests on the partitions no successful build has tested yet (DuckDB).

    Every test on a lake source is local to a partition: uniqueness always includes batch_date, the others look
    at one row at a time. A partition that passed them once passes them again until it is rewritten, so a
    nightly build tests the night's new or redelivered partitions instead of re-reading the whole history.
    The ledger audit.lake_partitions_tested holds, per interface, every partition (batch date and the time its
    files were written, from lake_partitions) whose source tests all passed in one build or test run; a
    redelivered partition has a new write time and is tested again. A run records an interface's partitions
    only when every test of that source ran in it and passed (or warned); a failed or partly selected run
    records nothing for that interface, so its partitions are tested again next time.

    The variable vasmart_raw_tests set to 'all' (`vasmart build --retest-raw`) tests every partition; other
    engines always test every partition. A full refresh rebuilds the models but does not test again the
    partitions that passed: at a million users a month of CDR partitions' uniqueness checked in one build needs
    more than DuckDB's default memory.
-#}

{#- The batch dates ('YYYYMMDD') of the source's partitions still to test; none to test all of them. -#}
{% macro lake_untested_batches(relation) -%}
    {%- if not execute or target.type != 'duckdb' or var('vasmart_raw_tests', 'new') == 'all' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set external = relation.external if relation.external is defined else none -%}
    {%- if not external or 'read_parquet' not in external -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if adapter.get_relation(database=target.database, schema='audit', identifier='lake_partitions_tested') is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set query -%}
        select strftime(batch_date, '%Y%m%d')
        from ({{ vasmart.lake_partitions_untested(relation.identifier, vasmart.lake_partitions(relation)) }})
        order by 1
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}


{#- The rows of `partitions` (lake_partitions' columns) of the interface that the ledger does not hold. -#}
{% macro lake_partitions_untested(interface, partitions) -%}
    select partitions.batch_date, partitions.partition_written_at
    from ({{ partitions }}) as partitions
    where not exists (
        select 1 from audit.lake_partitions_tested as tested
        where tested.interface = '{{ interface }}'
          and tested.batch_date = partitions.batch_date
          and tested.partition_written_at = partitions.partition_written_at)
{%- endmacro %}


{#- A test on a staging model that checks a lake source's partitions: unique_over_batches names the source by
    source_name and table_name instead of depending on it; a test scoped by `where: __untested_partitions__`
    checks the source's untested partitions through the model. -#}
{% macro checks_lake_source(test_node, source) -%}
    {%- set kwargs = (test_node.get('test_metadata') or {}).get('kwargs') or {} -%}
    {%- if kwargs.get('source_name') == source.source_name and kwargs.get('table_name') == source.name -%}
        {{ return(true) }}
    {%- endif -%}
    {{ return(vasmart.checks_untested_partitions_of(test_node, source)) }}
{%- endmacro %}

{#- A test with `where: __untested_partitions__` (lake.sql) on a model reading the source: it checks the
    source's untested partitions through the staging model, so it counts among the source's tests. -#}
{% macro checks_untested_partitions_of(test_node, source) -%}
    {%- if '__untested_partitions__' not in ((test_node.get('config') or {}).get('where') or '') -%}
        {{ return(false) }}
    {%- endif -%}
    {%- for node_id in test_node.depends_on.nodes if node_id in graph.nodes
            and source.unique_id in graph.nodes[node_id].depends_on.nodes -%}
        {{ return(true) }}
    {%- endfor -%}
    {{ return(false) }}
{%- endmacro %}


{#- on-run-end: record the partitions of every lake source whose tests all ran and passed in this run. -#}
{% macro record_tested_lake_partitions(results) -%}
    {%- if not execute or target.type != 'duckdb' or flags.WHICH not in ('build', 'test') -%}
        {{ return('') }}
    {%- endif -%}
    {%- set outcome = {} -%}
    {%- for result in results if result.node.resource_type == 'test' -%}
        {%- do outcome.update({result.node.unique_id: result.status}) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- set keyed = [] -%}
    {%- for source in graph.sources.values() -%}
        {%- set found = modules.re.search("read_parquet\(\s*'([^']+)'", source.relation_name or '') -%}
        {%- set tests = [] -%}
        {%- set passed = [] -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'test'
                and (source.unique_id in node.depends_on.nodes or vasmart.checks_lake_source(node, source)) -%}
            {%- do tests.append(node.unique_id) -%}
            {%- if outcome.get(node.unique_id) in ('pass', 'warn') -%}
                {%- do passed.append(node.unique_id) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if found and tests and passed | length == tests | length -%}
            {%- for node in graph.nodes.values() if node.resource_type == 'test'
                    and (node.test_metadata or {}).get('name') == 'unique_over_batches'
                    and vasmart.checks_lake_source(node, source) -%}
                {%- do keyed.append((source, node)) -%}
            {%- endfor -%}
            {%- do statements.append(
                "insert into audit.lake_partitions_tested select '" ~ source.identifier ~ "', batch_date, "
                ~ "partition_written_at, now() from ("
                ~ vasmart.lake_partitions_untested(source.identifier, vasmart.lake_partitions_of_files(found.group(1)))
                ~ ")") -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if statements -%}
        {%- do run_query("create table if not exists audit.lake_partitions_tested (interface varchar not null, "
                         ~ "batch_date date not null, partition_written_at timestamp not null, tested_at timestamp not null)") -%}
        {%- for statement in statements -%}
            {%- do run_query(statement) -%}
        {%- endfor -%}
        {{ log("raw sources: tested partitions recorded for " ~ statements | length ~ " interfaces", info=false) }}
    {%- endif -%}
    {%- for source, node in keyed -%}
        {%- set registered = vasmart.register_lake_keys(source, node) -%}
        {{ log("raw sources: keys of " ~ registered ~ " partitions of " ~ source.identifier ~ " registered", info=false) }}
    {%- endfor -%}
    {{ return('') }}
{%- endmacro %}
