{#-
    Arrears aging per bill month, credit segment and aging bucket: bill counts and amounts in fen.
    Bucketing and segment live (and are unit-tested) in int_credit_bills_aged.
-#}

with

bills as (

  select * from {{ ref('int_credit_bills_aged') }}

),

aggregated as (

  select
    bill_month,
    credit_segment,
    aging_bucket,
    aging_bucket_order,
    count(*) as bill_count,
    sum(case when arrears_fen > 0 then 1 else 0 end) as arrears_bill_count,
    sum(arrears_fen) as arrears_fen,
    sum(billed_fen) as billed_fen

  from bills
  group by bill_month, credit_segment, aging_bucket, aging_bucket_order

),

final as (

  select
    ---------- keys
    bill_month,
    credit_segment,
    aging_bucket,
    cast(aging_bucket_order as integer) as aging_bucket_order,

    ---------- counts
    cast(bill_count as bigint) as bill_count,
    cast(arrears_bill_count as bigint) as arrears_bill_count,

    ---------- money (fen)
    cast(arrears_fen as bigint) as arrears_fen,
    cast(billed_fen as bigint) as billed_fen

  from aggregated

)

select * from final
