with

source as (

  select * from {{ lake_or_empty(source('vgop', 'vas_delivery')) }}

),

renamed as (

  select

    ---------- ids
    msg_id as message_id,
    service_code,
    status_code,

    ---------- personal data (restricted)
    msisdn,

    ---------- attributes
    media,

    ---------- timestamps
    send_time as sent_at,

    ---------- batch lineage
    {{ yyyymmdd_to_date('batch_date') }} as batch_date,
    _file_name as source_file_name,
    _line_number as source_line_number

  from source

)

select * from renamed
