with

source as (

  select * from {{ lake_or_empty(source('mediation', 'cdr_gprs')) }}

),

renamed as (

  select

    ---------- ids
    cdr_id,
    cell_id,

    ---------- personal data (restricted)
    msisdn,

    ---------- attributes
    apn,
    rat,

    ---------- numerics
    duration_s as duration_seconds,
    up_bytes,
    down_bytes,

    ---------- money (fen)
    fee_fen,

    ---------- timestamps
    start_time as started_at,

    ---------- batch lineage
    {{ yyyymmdd_to_date('batch_date') }} as batch_date,
    _file_name as source_file_name,
    _line_number as source_line_number

  from source

)

select * from renamed
