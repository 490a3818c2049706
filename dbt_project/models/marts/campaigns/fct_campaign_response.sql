{#-
    The closed loop's evaluation: for each campaign run, conversion within the response window among the
    contacted (TARGET) and the held-out (HOLDOUT) users, and the uplift (difference of the two rates) with a
    95% confidence interval: Newcombe's hybrid score interval for a difference of proportions (method 10,
    from the two Wilson score intervals), which stays inside [-1, 1] and behaves with small counts.
    Rebuilt every night: a run's rates grow until its window closes (is_window_closed).
-#}

with

conversions as (

  select * from {{ ref('int_campaign_list_conversions') }}

),

users as (

  select * from {{ ref('stg_boss__users') }}

),

data_through as (

  select max(batch_date) as data_through_date from users

),

counted as (

  select
    campaign,
    run_date,
    min(conversion_kind) as conversion_kind,
    min(contact_date) as contact_date,
    min(window_end_date) as window_end_date,
    sum(case when list_group = 'TARGET' then 1 else 0 end) as target_user_count,
    sum(case when list_group = 'HOLDOUT' then 1 else 0 end) as holdout_user_count,
    sum(case when list_group = 'TARGET' and is_converted then 1 else 0 end) as target_converted_count,
    sum(case when list_group = 'HOLDOUT' and is_converted then 1 else 0 end) as holdout_converted_count

  from conversions
  group by campaign, run_date

),

rates as (

  select
    *,
    1.959963984540054 as z,
    case when target_user_count > 0 then target_converted_count * 1.0 / target_user_count end as p1,
    case when holdout_user_count > 0 then holdout_converted_count * 1.0 / holdout_user_count end as p2

  from counted

),

wilson as (

  -- Wilson score interval of each rate: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)
  select
    *,
    (
      p1 + z * z / (2 * target_user_count)
      - z * sqrt(p1 * (1 - p1) / target_user_count + z * z / (4.0 * target_user_count * target_user_count))
    )
    / (1 + z * z / target_user_count) as l1,
    (
      p1 + z * z / (2 * target_user_count)
      + z * sqrt(p1 * (1 - p1) / target_user_count + z * z / (4.0 * target_user_count * target_user_count))
    )
    / (1 + z * z / target_user_count) as u1,
    (
      p2 + z * z / (2 * holdout_user_count)
      - z * sqrt(p2 * (1 - p2) / holdout_user_count + z * z / (4.0 * holdout_user_count * holdout_user_count))
    )
    / (1 + z * z / holdout_user_count) as l2,
    (
      p2 + z * z / (2 * holdout_user_count)
      + z * sqrt(p2 * (1 - p2) / holdout_user_count + z * z / (4.0 * holdout_user_count * holdout_user_count))
    )
    / (1 + z * z / holdout_user_count) as u2

  from rates

),

newcombe as (

  select
    *,
    p1 - p2 as uplift,
    p1 - p2 - sqrt((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2)) as uplift_ci_low,
    p1 - p2 + sqrt((u1 - p1) * (u1 - p1) + (p2 - l2) * (p2 - l2)) as uplift_ci_high

  from wilson

),

final as (

  select
    ---------- keys
    newcombe.campaign,
    newcombe.run_date,

    ---------- attributes
    newcombe.conversion_kind,

    ---------- dates
    newcombe.contact_date,
    newcombe.window_end_date,
    data_through.data_through_date,

    ---------- counts
    cast(newcombe.target_user_count as bigint) as target_user_count,
    cast(newcombe.holdout_user_count as bigint) as holdout_user_count,
    cast(newcombe.target_converted_count as bigint) as target_converted_count,
    cast(newcombe.holdout_converted_count as bigint) as holdout_converted_count,

    ---------- rates
    cast(newcombe.p1 as double) as target_conversion_rate,
    cast(newcombe.p2 as double) as holdout_conversion_rate,
    cast(newcombe.uplift as double) as uplift,
    cast(newcombe.uplift_ci_low as double) as uplift_ci_low,
    cast(newcombe.uplift_ci_high as double) as uplift_ci_high,
    cast(0.95 as double) as confidence_level,

    ---------- booleans
    data_through.data_through_date >= cast({{ dbt.dateadd('day', -1, 'newcombe.window_end_date') }} as date)
      as is_window_closed,
    coalesce(newcombe.uplift_ci_low > 0 or newcombe.uplift_ci_high < 0, false) as is_uplift_significant

  from newcombe
  cross join data_through

)

select * from final
