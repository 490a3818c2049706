with

source as (

  select * from {{ source('load', 'rejects') }}

),

renamed as (

  select

    ---------- ids
    interface as interface_name,
    file_name as source_file_name,
    line_number as source_line_number,

    ---------- attributes
    reason as reject_reason,
    raw_line,

    ---------- batch lineage
    {{ yyyymmdd_to_date('batch_date') }} as batch_date

  from source

)

select * from renamed
