with

source as (

  select * from {{ lake_or_empty(source('boss', 'boss_bill')) }}

),

renamed as (

  select

    ---------- ids
    user_id,
    bill_month,

    ---------- personal data (restricted)
    msisdn,

    ---------- money (fen)
    billed_fen,
    voice_fee_fen,
    sms_fee_fen,
    gprs_fee_fen,
    vas_fee_fen,
    paid_fen,
    balance_fen,
    arrears_fen,

    ---------- numerics
    overdue_days,

    ---------- batch lineage
    {{ yyyymmdd_to_date('batch_date') }} as batch_date,
    _file_name as source_file_name,
    _line_number as source_line_number

  from source

)

select * from renamed
