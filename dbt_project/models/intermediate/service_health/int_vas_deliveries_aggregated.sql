{#-
    Content deliveries (VAS_DELIVERY) counted per service, day and media, by outcome: one pass over the
    largest event interface, grouped by status code first (a handful of codes) and classed afterwards with
    the gateway status catalogue (REF_STATUS_CODE, latest snapshot): SUCCESS, TERMINAL (the handset cannot
    receive this media), USER, NETWORK, PLATFORM; a code missing from the catalogue counts as a failure of
    class UNKNOWN.

    No subscriber attribution is needed at this grain, so the MSISDN is never read. A table: the daily and
    monthly health marts read it.
-#}
{{ config(materialized='table') }}

with

deliveries as (

  select * from {{ ref('stg_vgop__deliveries') }}

),

status_codes as (

  select * from {{ ref('stg_vgop__status_codes') }}

),

latest_status_codes as (

  select
    status_code,
    status_class,
    row_number() over (partition by status_code order by batch_date desc) as recency

  from status_codes

),

by_status_code as (

  select
    service_code,
    cast(sent_at as date) as sent_date,
    media,
    status_code,
    count(*) as delivery_count

  from deliveries
  group by service_code, cast(sent_at as date), media, status_code

),

classified as (

  select
    by_status_code.*,
    coalesce(latest_status_codes.status_class, 'UNKNOWN') as status_class

  from by_status_code
  left join latest_status_codes
    on
      by_status_code.status_code = latest_status_codes.status_code
      and latest_status_codes.recency = 1

),

final as (

  select
    ---------- ids
    service_code,
    sent_date,
    media,

    ---------- counts
    cast(sum(delivery_count) as bigint) as delivery_count,
    cast(sum(case when status_class = 'SUCCESS' then delivery_count else 0 end) as bigint)
      as success_count,
    cast(sum(case when status_class = 'TERMINAL' then delivery_count else 0 end) as bigint)
      as terminal_failure_count,
    cast(sum(case when status_class = 'USER' then delivery_count else 0 end) as bigint)
      as user_failure_count,
    cast(sum(case when status_class = 'NETWORK' then delivery_count else 0 end) as bigint)
      as network_failure_count,
    cast(sum(case when status_class = 'PLATFORM' then delivery_count else 0 end) as bigint)
      as platform_failure_count,
    cast(sum(case when status_class = 'UNKNOWN' then delivery_count else 0 end) as bigint)
      as unknown_status_count

  from classified
  group by service_code, sent_date, media

)

select * from final
