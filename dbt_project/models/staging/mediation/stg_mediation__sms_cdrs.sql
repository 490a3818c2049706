with

source as (

  select * from {{ lake_or_empty(source('mediation', 'cdr_sms')) }}

),

renamed as (

  select

    ---------- ids
    cdr_id,
    service_code,

    ---------- personal data (restricted)
    msisdn,
    other_party,

    ---------- attributes
    sms_type,

    ---------- money (fen)
    fee_fen,

    ---------- timestamps
    send_time as sent_at,

    ---------- batch lineage
    {{ yyyymmdd_to_date('batch_date') }} as batch_date,
    _file_name as source_file_name,
    _line_number as source_line_number

  from source

)

select * from renamed
