with

source as (

  select * from {{ lake_or_empty(source('vgop', 'ref_service')) }}

),

renamed as (

  select

    ---------- ids
    service_code,
    sp_code,

    ---------- attributes
    service_name,
    product_line,
    category as content_category,
    media,
    fee_type,

    ---------- money (fen)
    fee_fen,

    ---------- booleans
    cast(is_sticky as boolean) as is_sticky,

    ---------- dates
    online_date,
    offline_date,

    ---------- batch lineage
    {{ yyyymmdd_to_date('batch_date') }} as batch_date,
    _file_name as source_file_name,
    _line_number as source_line_number

  from source

)

select * from renamed
