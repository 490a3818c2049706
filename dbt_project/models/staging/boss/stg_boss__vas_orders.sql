with

source as (

  select * from {{ lake_or_empty(source('boss', 'boss_vas_order')) }}

),

renamed as (

  select

    ---------- ids
    order_id,
    user_id,
    service_code,

    ---------- personal data (restricted)
    msisdn,

    ---------- attributes
    action,
    action_reason,
    channel,
    hall_id,
    staff_id,

    ---------- timestamps
    op_time as operated_at,

    ---------- batch lineage
    {{ yyyymmdd_to_date('batch_date') }} as batch_date,
    _file_name as source_file_name,
    _line_number as source_line_number

  from source

)

select * from renamed
