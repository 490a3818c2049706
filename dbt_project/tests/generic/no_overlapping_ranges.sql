{#-
    Validity ranges [valid_from, valid_to) of the same partition key do not overlap (valid_to NULL = open).
    Used on historized models: one version per key at any instant.
-#}
{% test no_overlapping_ranges(model, partition_by, valid_from='valid_from', valid_to='valid_to') %}

with

ranges as (

    select
        {{ partition_by }} as range_key,
        {{ valid_from }} as range_from,
        {{ valid_to }} as range_to

    from {{ model }}

),

overlapping as (

    select
        earlier.range_key,
        earlier.range_from as earlier_from,
        earlier.range_to as earlier_to,
        later.range_from as later_from

    from ranges as earlier
    inner join ranges as later
        on earlier.range_key = later.range_key
        and later.range_from > earlier.range_from
        and (earlier.range_to is null or later.range_from < earlier.range_to)

    union all

    select
        range_key,
        range_from,
        max(range_to),
        range_from

    from ranges
    group by range_key, range_from
    having count(*) > 1

)

select * from overlapping

{% endtest %}
