{#-
    IMEI_OBS records the load rejected, counted per batch and reason (no raw line: it holds the MSISDN and
    IMEI). Reasons: `imei:imei` (not a 15-digit Luhn-valid IMEI nor a 16-digit IMEISV), `msisdn:msisdn`,
    `field_count`, `period:last_seen`, `duplicate_key`, ...
-#}

with

rejects as (

  select * from {{ ref('stg_load__rejects') }}
  where interface_name = 'IMEI_OBS'

),

final as (

  select
    ---------- batch
    batch_date,

    ---------- attributes
    reject_reason,

    ---------- counts
    count(*) as rejected_record_count

  from rejects
  group by batch_date, reject_reason

)

select * from final
