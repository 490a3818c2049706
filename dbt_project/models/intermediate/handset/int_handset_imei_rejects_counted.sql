{#-
    IMEI_OBS records the load rejected, counted per batch and reason (no raw line: it holds the MSISDN and
    IMEI). The rejects are not a dbt source (sources are one per interface of the raw zone): the load keeps
    them in the lake's rejects zone and exposes them as the view `raw.rejects` in the same warehouse, which
    this model reads when it exists (an empty relation otherwise, e.g. before the first load).
    Reasons: `imei:imei` (not a 15-digit Luhn-valid IMEI nor a 16-digit IMEISV), `msisdn:msisdn`,
    `field_count`, `period:last_seen`, `duplicate_key`, ...
-#}

{%- set rejects = adapter.get_relation(database=target.database, schema='raw', identifier='rejects') if execute else none %}

with

{% if rejects is not none %}

rejects as (

    select * from {{ rejects }}
    where interface = 'IMEI_OBS'

),

final as (

    select
        ---------- batch
        {{ yyyymmdd_to_date('batch_date') }} as batch_date,

        ---------- attributes
        reason as reject_reason,

        ---------- counts
        count(*) as rejected_record_count

    from rejects
    group by batch_date, reason

)

{% else %}

final as (

    select
        cast(null as date) as batch_date,
        cast(null as varchar) as reject_reason,
        cast(0 as bigint) as rejected_record_count
    where 1 = 0

)

{% endif %}

select * from final
