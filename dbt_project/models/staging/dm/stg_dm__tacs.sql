with

source as (

  select * from {{ lake_or_empty(source('dm', 'ref_tac')) }}

),

renamed as (

  select

    ---------- ids
    tac,

    ---------- attributes
    vendor as vendor_name,
    model as model_name,
    max_rat,
    release_year,

    ---------- booleans
    cast(mms as boolean) as has_mms,
    cast(wap as boolean) as has_wap,

    ---------- batch lineage
    {{ yyyymmdd_to_date('batch_date') }} as batch_date,
    _file_name as source_file_name,
    _line_number as source_line_number

  from source

)

select * from renamed
