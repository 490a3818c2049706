{#-
    New-user cohorts per join month J and credit segment: users, the segment's share of the cohort and the
    observed negative-credit (负信用) bad rate. Cohorts and labels come from int_credit_labels (spec
    section 6), not recomputed here.
-#}

with

labels as (

  select * from {{ ref('int_credit_labels') }}

),

segments as (

  select
    cohort_month,
    credit_segment,
    min(scoring_month) as scoring_month,
    min(last_label_month) as last_label_month,
    count(*) as user_count,
    sum(case when bad_bill_count > 0 then 1 else 0 end) as bad_bill_user_count,
    min(case when is_label_observable then 1 else 0 end) as is_label_observable

  from labels
  group by cohort_month, credit_segment

),

cohorts as (

  select
    *,
    sum(user_count) over (partition by cohort_month) as cohort_user_count

  from segments

),

final as (

  select
    ---------- keys
    cohort_month,
    credit_segment,

    ---------- months
    scoring_month,
    last_label_month,

    ---------- users
    cast(user_count as bigint) as user_count,
    cast(cohort_user_count as bigint) as cohort_user_count,
    cast(user_count as double) / cohort_user_count as segment_share,

    ---------- label
    cast(bad_bill_user_count as bigint) as bad_bill_user_count,
    case when is_label_observable = 1 then cast(bad_bill_user_count as bigint) end as bad_user_count,
    case when is_label_observable = 1 then cast(bad_bill_user_count as double) / user_count end as bad_rate,

    ---------- booleans
    is_label_observable = 1 as is_label_observable

  from cohorts

)

select * from final
