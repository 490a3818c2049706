{#-
    VAS content pushes (VAS_DELIVERY) per batch, user, month and service: sent, received (status class
    SUCCESS), failed (any other class, or a code missing from REF_STATUS_CODE) and failed because the handset
    cannot take the media (TERMINAL). Status classes from the latest REF_STATUS_CODE snapshot listing the code.
    Each push is attributed to the user holding the MSISDN at its send time (a push no holding covers is not
    counted). History batches carry a whole month of pushes, daily batches a day or a few.

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

deliveries as (

  select * from {{ ref('stg_vgop__deliveries') }}
  where {{ lake_batch_file_filter('source_file_name', source('vgop', 'vas_delivery')) }}

),

status_codes as (

  select * from {{ ref('stg_vgop__status_codes') }}

),

assignments as (

  select * from {{ ref('int_msisdn_assignments_historized') }}

),

batches as (

  {{ lake_batches_to_build(source('vgop', 'vas_delivery')) }}

),

status_classes as (

  select
    status_code,
    status_class,
    row_number() over (partition by status_code order by batch_date desc) as recency

  from status_codes

),

pushes as (

  select
    deliveries.batch_date,
    batches.partition_written_at,
    deliveries.msisdn,
    deliveries.service_code,
    deliveries.sent_at,
    status_classes.status_class

  from deliveries
  inner join batches
    on deliveries.batch_date = batches.batch_date
  left join status_classes
    on
      deliveries.status_code = status_classes.status_code
      and status_classes.recency = 1

),

attributed as (

  select
    pushes.batch_date,
    pushes.partition_written_at,
    assignments.user_id,
    cast({{ dbt.date_trunc('month', 'pushes.sent_at') }} as date) as month_start_date,
    pushes.service_code,
    pushes.status_class

  from pushes
  inner join assignments
    on
      pushes.msisdn = assignments.msisdn
      and pushes.sent_at >= assignments.valid_from
      and {{ before_valid_to('pushes.sent_at', 'assignments.valid_to') }}

),

aggregated as (

  select
    batch_date,
    user_id,
    month_start_date,
    service_code,
    max(partition_written_at) as partition_written_at,
    cast(count(*) as bigint) as delivery_count,
    cast(sum(case when status_class = 'SUCCESS' then 1 else 0 end) as bigint) as received_count,
    cast(sum(case when status_class = 'SUCCESS' then 0 else 1 end) as bigint) as failed_count,
    cast(sum(case when status_class = 'TERMINAL' then 1 else 0 end) as bigint) as terminal_failed_count

  from attributed
  group by batch_date, user_id, month_start_date, service_code

),

final as (

  select
    ---------- ids
    batch_date,
    user_id,
    month_start_date,
    service_code,

    ---------- counts
    delivery_count,
    received_count,
    failed_count,
    terminal_failed_count,

    ---------- lineage
    partition_written_at

  from aggregated

)

select * from final
