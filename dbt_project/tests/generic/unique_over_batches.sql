{#-
    The column is unique over every batch of a staging model: a key the source system promises never to repeat
    across deliveries (VAS_DELIVERY's message_id). NULLs are left to not_null.

    On DuckDB a build looks only at the keys of the source's raw partitions that no successful build has tested
    yet (macros/lake_tests.sql): each of them is looked up in every batch, so a repeat that involves a new or
    redelivered partition is found, and a repeat among tested partitions was found when the later of them was
    new. The lookup goes through the registry of the tested partitions' key hashes (macros/lake_keys.sql): only
    the new partitions, the partitions it does not cover and those holding a hash of a new key are read.
    The ledger counts this test among the source's tests (record_tested_lake_partitions reads its source_name
    and table_name), so it records the source's partitions only when this test passed too.
    The variable vasmart_raw_tests set to 'all' (`vasmart build --retest-raw`) and other engines check every key.
-#}
{% test unique_over_batches(model, column_name, source_name, table_name) %}
{#- The source is found in the graph rather than through source(): a dependency on it would make dbt select
    this test (eagerly) in every run that selects the source, even where the staging model is not built. -#}
{%- set lake = [] -%}
{%- if execute -%}
    {%- for node in graph.sources.values() if node.source_name == source_name and node.name == table_name -%}
        {%- do lake.append({'identifier': node.identifier, 'external': node.relation_name}) -%}
    {%- endfor -%}
{%- endif -%}
{%- set untested = vasmart.lake_untested_batches(lake[0]) if lake else none -%}
{%- set compared = vasmart.lake_key_batches_to_compare(lake[0], model, column_name, untested) if untested is not none else none -%}
{#- Only new keys read: every key read is looked up, no join needed. -#}
{%- set only_new = compared is not none and compared | sort | list == untested | sort | list -%}

with

keys as (

    select
        {{ column_name }} as unique_key,
        batch_date
    from {{ model }}
    {%- if compared is not none and compared | length == 0 %}
    where false
    {%- else %}
    where {{ column_name }} is not null
    {%- if compared is not none %}
      and batch_date in ({{ vasmart.batch_date_list(compared) }})
    {%- endif %}
    {%- endif %}

){% if untested is not none and not only_new %},

new_keys as (

    select distinct unique_key
    from keys
    {% if untested | length == 0 -%}
    where false
    {%- else -%}
    where batch_date in ({{ vasmart.batch_date_list(untested) }})
    {%- endif %}

){% endif %}

select
    keys.unique_key,
    count(*) as n_records
from keys
{%- if untested is not none and not only_new %}
inner join new_keys
    on keys.unique_key = new_keys.unique_key
{%- endif %}
group by keys.unique_key
having count(*) > 1

{% endtest %}
