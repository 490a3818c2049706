with

source as (

  select * from {{ lake_or_empty(source('bass', 'bass_usage')) }}

),

renamed as (

  select

    ---------- ids
    user_id,
    stat_month,

    ---------- personal data (restricted)
    msisdn,

    ---------- counts
    voice_calls,
    voice_moc_calls,
    voice_seconds,
    distinct_contacts,
    sms_mo,
    sms_mt,
    gprs_sessions,
    gprs_kb,
    active_days,

    ---------- batch lineage
    {{ yyyymmdd_to_date('batch_date') }} as batch_date,
    _file_name as source_file_name,
    _line_number as source_line_number

  from source

)

select * from renamed
