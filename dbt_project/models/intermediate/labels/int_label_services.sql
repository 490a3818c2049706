{#-
    The VAS catalogue as the label models read it: one row per service code, from the latest REF_SERVICE
    snapshot that lists it (a service dropped from the catalogue keeps its last product line and category,
    so old orders and usage still classify). Which services are MOBILE_NEWSPAPER (手机报) editions, and each
    service's content category.
-#}

with

services as (

  select * from {{ ref('stg_vgop__services') }}

),

ranked as (

  select
    service_code,
    product_line,
    content_category,
    batch_date,
    row_number() over (partition by service_code order by batch_date desc) as recency

  from services

),

final as (

  select
    ---------- ids
    service_code,

    ---------- attributes
    product_line,
    content_category,

    ---------- booleans
    product_line = 'MOBILE_NEWSPAPER' as is_mobile_newspaper,

    ---------- dates
    batch_date as last_batch_date

  from ranked
  where recency = 1

)

select * from final
