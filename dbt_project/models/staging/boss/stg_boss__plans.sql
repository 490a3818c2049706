with

source as (

  select * from {{ lake_or_empty(source('boss', 'ref_plan')) }}

),

renamed as (

  select

    ---------- ids
    plan_code,

    ---------- attributes
    plan_name,
    brand_code,
    pay_type,

    ---------- numerics
    monthly_fee_fen,
    gprs_quota_mb,

    ---------- batch lineage
    {{ yyyymmdd_to_date('batch_date') }} as batch_date,
    _file_name as source_file_name,
    _line_number as source_line_number

  from source

)

select * from renamed
