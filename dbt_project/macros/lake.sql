{#-
    The raw zone as dbt sees it. A source table is an interface's Parquet partitions
    (lake/raw/<INTERFACE>/batch_date=<D>/*.parquet, through dbt-duckdb's external_location). An interface
    with no partition yet is normal: CDR detail only comes with daily batches, monthly interfaces with a
    month-end batch. DuckDB cannot read a glob that matches nothing, so models read sources through
    lake_or_empty(), which turns such an interface into an empty relation typed from the source's column
    data_types; the generic tests on sources get the same treatment (get_where_subquery below).
    An empty raw zone as a whole is an error (nothing ingested, or VASMART_HOME points elsewhere).
-#}

{% macro lake_or_empty(relation) -%}
    {{ return(adapter.dispatch('lake_or_empty', 'vasmart')(relation)) }}
{%- endmacro %}

{% macro default__lake_or_empty(relation) -%}
    {{ return(relation) }}
{%- endmacro %}

{% macro duckdb__lake_or_empty(relation) -%}
    {%- set external = relation.external if relation.external is defined else none -%}
    {%- if not execute or not external -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set found = modules.re.search("read_parquet\(\s*'([^']+)'", external) -%}
    {%- if not found -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set pattern = found.group(1) -%}
    {%- set files = run_query("select count(*) from glob('" ~ pattern ~ "')").columns[0].values()[0] -%}
    {%- if files > 0 -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set raw_root = pattern.rsplit('/', 3)[0] -%}
    {%- set any_files = run_query("select count(*) from glob('" ~ raw_root ~ "/*/batch_date=*/*.parquet')").columns[0].values()[0] -%}
    {%- if any_files == 0 -%}
        {{ exceptions.raise_compiler_error("no raw zone at " ~ raw_root ~ ": nothing has been ingested, or VASMART_HOME points elsewhere") }}
    {%- endif -%}
    {{ return(lake_empty_relation(relation)) }}
{%- endmacro %}


{#- On Spark an interface is the view raw.<interface> that vasmart.spark declares over its partitions when it has
    any (Spark reads a directory of Parquet partitions as one relation): without the view, the empty relation. -#}
{% macro spark__lake_or_empty(relation) -%}
    {%- if not execute or relation.schema != 'raw' -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set found = adapter.get_relation(database=relation.database, schema=relation.schema, identifier=relation.identifier) -%}
    {%- if found is not none -%}
        {{ return(relation) }}
    {%- endif -%}
    {{ return(lake_empty_relation(relation)) }}
{%- endmacro %}


{#- A lake source as an empty relation, typed from the source's declared columns. -#}
{% macro lake_empty_relation(relation) -%}
    {%- for candidate in graph.sources.values() if candidate.identifier == relation.identifier -%}
        {{ log("lake: " ~ relation.identifier ~ " has no partition yet; read as an empty relation", info=false) }}
        {%- set columns = [] -%}
        {%- for column in candidate.columns.values() -%}
            {%- if not column.data_type -%}
                {{ exceptions.raise_compiler_error("source " ~ candidate.source_name ~ "." ~ candidate.name ~ ": column " ~ column.name ~ " has no data_type") }}
            {%- endif -%}
            {%- do columns.append("cast(null as " ~ engine_type(column.data_type) ~ ") as " ~ adapter.quote(column.name)) -%}
        {%- endfor -%}
        {{ return("(select " ~ columns | join(", ") ~ " where 1 = 0)") }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("no source declares the lake relation " ~ relation.identifier) }}
{%- endmacro %}


{#- Generic tests on a source read it through lake_or_empty() too (dbt dispatches this macro for every generic test),
    and on DuckDB only the partitions no successful build has tested yet (lake_tests.sql). A test's `where` may
    name __latest_state_built_at__: the latest state_built_at of the tested model, so that a test of a running
    state checks the rows the last run wrote (the others were checked when they were written). -#}
{% macro duckdb__get_where_subquery(relation) -%}
    {%- set batches = vasmart.lake_untested_batches(relation) -%}
    {%- set read = vasmart.lake_or_empty(relation) -%}
    {%- set where = vasmart.test_where(relation) -%}
    {%- if batches is none -%}
        {% do return(("(select * from " ~ read ~ " where " ~ where ~ ") dbt_subquery") if where else read) %}
    {%- endif -%}
    {%- set scope = ("batch_date in ('" ~ batches | join("', '") ~ "')") if batches else "false" -%}
    {%- if where -%}
        {%- set scope = scope ~ " and (" ~ where ~ ")" -%}
    {%- endif -%}
    {% do return("(select * from " ~ read ~ " where " ~ scope ~ ") dbt_subquery") %}
{%- endmacro %}

{% macro spark__get_where_subquery(relation) -%}
    {%- set read = vasmart.lake_or_empty(relation) -%}
    {%- set where = vasmart.test_where(relation) -%}
    {% do return(("(select * from " ~ read ~ " where " ~ where ~ ") dbt_subquery") if where else read) %}
{%- endmacro %}

{#- The test's `where` config, __latest_state_built_at__ replaced (see duckdb__get_where_subquery); none if unset. -#}
{% macro test_where(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where and '__latest_state_built_at__' in where -%}
        {%- set where = where | replace('__latest_state_built_at__',
                                        '(select max(state_built_at) from ' ~ relation ~ ')') -%}
    {%- endif -%}
    {%- if where and '__untested_partitions__' in where -%}
        {%- set where = where | replace('__untested_partitions__', vasmart.untested_partitions_of(relation)) -%}
    {%- endif -%}
    {{ return(where) }}
{%- endmacro %}

{#-
    `where: __untested_partitions__` on a test of a staging model over one lake source: a predicate keeping the
    batches of the source's partitions that no successful build has tested yet (lake_tests.sql), for a test
    local to a batch (not_null, a uniqueness that includes batch_date). Such a test counts among the source's
    tests in the ledger (checks_lake_source), so a partition is recorded only when it passed too. 'true' (every
    batch) where the ledger does not apply: other engines, `vasmart build --retest-raw`, no ledger yet.
-#}
{% macro untested_partitions_of(relation) -%}
    {%- set sources = [] -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'model'
                and node.schema == relation.schema and (node.alias or node.name) == relation.identifier -%}
            {%- for source_id in node.depends_on.nodes if source_id in graph.sources -%}
                {%- do sources.append(graph.sources[source_id]) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if sources | length != 1 -%}
        {%- if execute -%}
            {{ exceptions.raise_compiler_error("__untested_partitions__ needs a model reading one lake source: "
                                               ~ relation ~ " reads " ~ sources | length) }}
        {%- endif -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set batches = vasmart.lake_untested_batches({'identifier': sources[0].identifier,
                                                     'external': sources[0].relation_name}) -%}
    {%- if batches is none -%}
        {{ return('true') }}
    {%- elif batches | length == 0 -%}
        {{ return('false') }}
    {%- endif -%}
    {{ return('batch_date in (' ~ vasmart.batch_date_list(batches) ~ ')') }}
{%- endmacro %}
