{#-
    The VAS catalogue as campaigns offer it: one row per service code from the latest REF_SERVICE snapshot
    that lists it, with whether it is on sale at the latest snapshot's date (online, not yet offline), and
    how many users hold it now (int_campaign_service_holdings): the most held edition of a category is the
    one a 手机报 campaign offers for that category.
-#}
{{ config(materialized='table') }}

with

services as (

  select * from {{ ref('stg_vgop__services') }}

),

holdings as (

  select * from {{ ref('int_campaign_service_holdings') }}

),

ranked as (

  select
    *,
    row_number() over (partition by service_code order by batch_date desc) as recency,
    max(batch_date) over () as latest_batch_date

  from services

),

latest as (

  select * from ranked
  where recency = 1

),

holder_counts as (

  select
    service_code,
    count(*) as holder_count

  from holdings
  group by service_code

),

final as (

  select
    ---------- ids
    latest.service_code,

    ---------- attributes
    latest.product_line,
    latest.content_category,
    latest.media,
    latest.fee_type,
    latest.fee_fen,

    ---------- counts
    cast(coalesce(holder_counts.holder_count, 0) as bigint) as holder_count,

    ---------- booleans
    latest.fee_type = '03' as is_monthly,
    latest.batch_date = latest.latest_batch_date
    and latest.online_date <= latest.latest_batch_date
    and (latest.offline_date is null or latest.offline_date > latest.latest_batch_date) as is_on_sale

  from latest
  left join holder_counts
    on latest.service_code = holder_counts.service_code

)

select * from final
