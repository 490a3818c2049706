with

source as (

  select * from {{ lake_or_empty(source('dm', 'imei_obs')) }}

),

renamed as (

  select

    ---------- ids
    left(imei, 8) as tac,

    ---------- personal data (restricted)
    msisdn,
    imei,
    imeisv,

    ---------- counts
    event_count,

    ---------- timestamps
    first_seen as first_seen_at,
    last_seen as last_seen_at,

    ---------- batch lineage
    {{ yyyymmdd_to_date('batch_date') }} as batch_date,
    _file_name as source_file_name,
    _line_number as source_line_number

  from source

)

select * from renamed
