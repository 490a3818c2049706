with

source as (

  select * from {{ lake_or_empty(source('crm', 'crm_complaint')) }}

),

renamed as (

  select

    ---------- ids
    complaint_id,
    service_code,

    ---------- personal data (restricted)
    msisdn,
    content as complaint_text,

    ---------- attributes
    category as complaint_category,
    channel,

    ---------- booleans
    closed_at is not null as is_closed,

    ---------- timestamps
    created_at,
    closed_at,

    ---------- batch lineage
    {{ yyyymmdd_to_date('batch_date') }} as batch_date,
    _file_name as source_file_name,
    _line_number as source_line_number

  from source

)

select * from renamed
