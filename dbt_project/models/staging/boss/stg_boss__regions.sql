with

source as (

  select * from {{ lake_or_empty(source('boss', 'ref_region')) }}

),

renamed as (

  select

    ---------- ids
    region_code,

    ---------- attributes
    region_name,

    ---------- booleans
    cast(is_capital as boolean) as is_capital,

    ---------- batch lineage
    {{ yyyymmdd_to_date('batch_date') }} as batch_date,
    _file_name as source_file_name,
    _line_number as source_line_number

  from source

)

select * from renamed
