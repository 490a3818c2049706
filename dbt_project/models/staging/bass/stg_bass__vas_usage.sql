with

source as (

  select * from {{ lake_or_empty(source('bass', 'bass_vas_usage')) }}

),

renamed as (

  select

    ---------- ids
    user_id,
    stat_month,
    service_code,

    ---------- counts
    use_count,

    ---------- money (fen)
    fee_fen,

    ---------- batch lineage
    {{ yyyymmdd_to_date('batch_date') }} as batch_date,
    _file_name as source_file_name,
    _line_number as source_line_number

  from source

)

select * from renamed
