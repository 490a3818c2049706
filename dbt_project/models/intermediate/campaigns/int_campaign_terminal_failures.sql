{#-
    Content deliveries that failed with a TERMINAL status (the handset cannot receive the media, e.g. MMS to a
    handset without MMS), one row per (user_id, service_code, failure_date) with the day's count: what the
    MMS recapture (回捞) campaign looks back over. Each delivery is attributed to the user who held its MSISDN
    at send time (restricted mapping); the number itself does not leave this model's inputs.
-#}
{{ config(materialized='table') }}

with

deliveries as (

  select * from {{ ref('stg_vgop__deliveries') }}

),

status_codes as (

  select * from {{ ref('stg_vgop__status_codes') }}

),

assignments as (

  select * from {{ ref('int_msisdn_assignments_historized') }}

),

terminal_codes as (

  select distinct status_code
  from status_codes
  where status_class = 'TERMINAL'

),

failures as (

  select
    deliveries.msisdn,
    deliveries.service_code,
    deliveries.media,
    deliveries.sent_at

  from deliveries
  inner join terminal_codes
    on deliveries.status_code = terminal_codes.status_code

),

attributed as (

  select
    assignments.user_id,
    failures.service_code,
    failures.media,
    failures.sent_at

  from failures
  inner join assignments
    on
      failures.msisdn = assignments.msisdn
      and failures.sent_at >= assignments.valid_from
      and {{ before_valid_to('failures.sent_at', 'assignments.valid_to') }}

),

final as (

  select
    ---------- ids
    user_id,
    service_code,

    ---------- attributes
    min(media) as media,

    ---------- dates
    cast(sent_at as date) as failure_date,

    ---------- counts
    cast(count(*) as bigint) as failure_count,

    ---------- timestamps
    max(sent_at) as last_failed_at

  from attributed
  group by user_id, service_code, cast(sent_at as date)

)

select * from final
