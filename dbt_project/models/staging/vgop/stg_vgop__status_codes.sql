with

source as (

  select * from {{ lake_or_empty(source('vgop', 'ref_status_code')) }}

),

renamed as (

  select

    ---------- ids
    status_code,

    ---------- attributes
    description as status_description,
    status_class,

    ---------- batch lineage
    {{ yyyymmdd_to_date('batch_date') }} as batch_date,
    _file_name as source_file_name,
    _line_number as source_line_number

  from source

)

select * from renamed
