{#-
    User-originated VAS requests per batch, user, month and service: mobile-originated SMS CDRs that carry a
    service code (messages to an SP access number 106...). With the received pushes they make up a month's VAS
    use where BASS_VAS_USAGE has not been delivered yet (its definition: successful content deliveries received
    plus user-originated requests). Each message is attributed to the user holding the MSISDN at its send time.

    Incremental per batch (delete+insert on batch_date) like int_voice_cdrs_aggregated_by_batch: only batches
    whose raw-zone partition is new or written again since are aggregated.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=('insert_overwrite' if target.type == 'spark' else 'delete+insert'),
    unique_key='batch_date',
    partition_by=(['batch_date'] if target.type == 'spark' else none),
    on_schema_change='fail'
) }}

with

sms_cdrs as (

  select * from {{ ref('stg_mediation__sms_cdrs') }}
  where {{ lake_batch_file_filter('source_file_name', source('mediation', 'cdr_sms')) }}

),

assignments as (

  select * from {{ ref('int_msisdn_assignments_historized') }}

),

batches as (

  {{ lake_batches_to_build(source('mediation', 'cdr_sms')) }}

),

requests as (

  select
    sms_cdrs.batch_date,
    batches.partition_written_at,
    sms_cdrs.msisdn,
    sms_cdrs.service_code,
    sms_cdrs.sent_at

  from sms_cdrs
  inner join batches
    on sms_cdrs.batch_date = batches.batch_date
  where
    sms_cdrs.sms_type = 'MO'
    and sms_cdrs.service_code is not null

),

attributed as (

  select
    requests.batch_date,
    requests.partition_written_at,
    assignments.user_id,
    cast({{ dbt.date_trunc('month', 'requests.sent_at') }} as date) as month_start_date,
    requests.service_code

  from requests
  inner join assignments
    on
      requests.msisdn = assignments.msisdn
      and requests.sent_at >= assignments.valid_from
      and {{ before_valid_to('requests.sent_at', 'assignments.valid_to') }}

),

final as (

  select
    ---------- ids
    batch_date,
    user_id,
    month_start_date,
    service_code,

    ---------- counts
    cast(count(*) as bigint) as request_count,

    ---------- lineage
    max(partition_written_at) as partition_written_at

  from attributed
  group by batch_date, user_id, month_start_date, service_code

)

select * from final
