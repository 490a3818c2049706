with

source as (

  select * from {{ lake_or_empty(source('boss', 'boss_user')) }}

),

renamed as (

  select

    ---------- ids
    user_id,

    ---------- personal data (restricted)
    msisdn,
    cust_name as customer_name,

    ---------- attributes
    brand_code,
    plan_code,
    pay_type,
    region_code,
    status as user_status,
    cancel_reason,
    birth_year,
    gender,

    ---------- booleans
    cast(is_rejoin as boolean) as is_rejoin,
    cast(dnd_flag as boolean) as is_dnd,

    ---------- dates
    join_date,
    status_date as user_status_date,

    ---------- batch lineage
    {{ yyyymmdd_to_date('batch_date') }} as batch_date,
    _file_name as source_file_name,
    _line_number as source_line_number

  from source

)

select * from renamed
