{#-
    One row per complaint (CRM_COMPLAINT), attributed to the subscriber who held the number when it was made.

    CRM delivers a complaint in the batch of the day it was created and again in the batch of the day it was
    closed (same complaint_id); the later record supersedes: the latest batch wins, and within a batch a closed
    record wins over an open one. The number is resolved to user_id with the holding valid at created_at
    (int_msisdn_assignments_historized; numbers are recycled); user_id is NULL when no holding covers it.

    Handling time is created_at to closed_at in minutes (NULL while open). No MSISDN and no complaint text:
    they stay in staging.
-#}
{{ config(materialized='table') }}

with

complaints as (

  select * from {{ ref('stg_crm__complaints') }}

),

assignments as (

  select * from {{ ref('int_msisdn_assignments_historized') }}

),

latest as (

  select
    *,
    row_number() over (
      partition by complaint_id
      order by batch_date desc, case when closed_at is null then 1 else 0 end asc, source_line_number asc
    ) as recency

  from complaints

),

attributed as (

  select
    latest.complaint_id,
    assignments.user_id,
    latest.service_code,
    latest.complaint_category,
    latest.channel,
    latest.created_at,
    latest.closed_at,
    latest.batch_date

  from latest
  left join assignments
    on
      latest.msisdn = assignments.msisdn
      and latest.created_at >= assignments.valid_from
      and {{ before_valid_to('latest.created_at', 'assignments.valid_to') }}
  where latest.recency = 1

),

final as (

  select
    ---------- ids
    complaint_id,
    user_id,
    service_code,

    ---------- attributes
    complaint_category,
    channel,

    ---------- measures
    cast({{ dbt.datediff('created_at', 'closed_at', 'second') }} as double) / 60 as handling_minutes,

    ---------- booleans
    closed_at is not null as is_closed,
    complaint_category = 'UNWANTED_ORDER' as is_unwanted_order,

    ---------- dates
    cast(created_at as date) as created_date,
    batch_date as last_batch_date,

    ---------- timestamps
    created_at,
    closed_at

  from attributed

)

select * from final
