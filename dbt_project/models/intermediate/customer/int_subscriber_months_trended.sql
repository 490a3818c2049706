{#-
    Three-month averages and trends of the main usage measures, per subscriber and month (the rows of
    int_subscriber_months_measured: months with an active subscription).

    <measure>_3m_avg: the average of the measure over the month and the two calendar months before it, over the
    months of the three in which the user had a subscription (a new user's first month averages itself). The
    month in progress enters with its month-to-date value.
    <measure>_trend: the month's daily rate against the daily rate of the two months before it, minus 1
    (0.25 = a quarter more per day; -1 = stopped). Daily rates divide by the days each month's usage covers
    (usage_day_count), so a month in progress and months of different lengths compare fairly. NULL without a
    previous month, or when the previous rate is 0. Incremental by month like int_subscribers_at_month_end (the
    two months before the first month to build are read for the windows, not written).
-#}
{%- set measures = ['voice_calls', 'voice_minutes', 'sms_count', 'gprs_mb', 'vas_use_count', 'active_days'] -%}
{{ config(
    materialized='incremental',
    incremental_strategy=('insert_overwrite' if target.type == 'spark' else 'delete+insert'),
    unique_key='month_start_date',
    partition_by=(['month_start_date'] if target.type == 'spark' else none),
    on_schema_change='fail'
) }}

with

build_from as (

  select {{ first_month_to_build(ref('int_customer_months')) }} as month_start_date

),

measured as (

  -- the months to build and the two before them, which their windows look back on
  select * from {{ ref('int_subscriber_months_measured') }}
  where month_start_date >= (
    select cast({{ dbt.dateadd('month', -2, 'month_start_date') }} as date) from build_from
  )

),

indexed as (

  select
    user_id,
    month_start_date,
    {{ month_index('month_start_date') }} as month_index,
    usage_day_count,
    inputs_written_at,
    cast(voice_calls as double) as voice_calls,
    voice_minutes,
    cast(sms_mo + sms_mt as double) as sms_count,
    gprs_mb,
    cast(vas_use_count as double) as vas_use_count,
    cast(active_days as double) as active_days

  from measured

),

windowed as (

  select
    user_id,
    month_start_date,
    usage_day_count,
    inputs_written_at,
    sum(usage_day_count) over previous_two as previous_day_count,
    {%- for measure in measures %}
      {{ measure }},
      avg({{ measure }}) over last_three as {{ measure }}_3m_avg,
      sum({{ measure }}) over previous_two as {{ measure }}_previous_sum{% if not loop.last %},{% endif %}
    {%- endfor %}

  from indexed
  window
    last_three as (partition by user_id order by month_index range between 2 preceding and current row),
    previous_two as (partition by user_id order by month_index range between 2 preceding and 1 preceding)

),

final as (

  select
    ---------- ids
    user_id,
    month_start_date,

    ---------- 3-month averages and trends
    {% for measure in measures -%}
      {{ measure }}_3m_avg,
      case
        when {{ measure }}_previous_sum > 0
          then ({{ measure }} / usage_day_count) / ({{ measure }}_previous_sum / previous_day_count) - 1
      end as {{ measure }}_trend,
    {% endfor %}

    ---------- lineage
    inputs_written_at

  from windowed
  where month_start_date >= (select month_start_date from build_from)

)

select * from final
