{#-
    Content-preference labels by user_id (spec section 6), one row per user, month M and content category.

    Population at the end of month M: users with status NORMAL in M's month-end BOSS_USER snapshot and at
    least one BASS_VAS_USAGE row of stat_month M (a row with use_count 0 counts: it is a row).
    Observed relevance: the user's shares of BASS_VAS_USAGE use_count in M+1 by the service's content
    category (REF_SERVICE.category), over every category of the catalogue (0 for a category not used).
    A user with no use in M+1 (no row, or only rows with use_count 0) has no shares and is left out of
    evaluation: is_label_observable is false and category_share NULL. Until M+1's month-end batch is
    delivered the counts are NULL too.

    The mart fct_content_labels publishes this under the user's pseudonym.

    A table, not a view: eight rows per user and month, read by the mart and by every test on this model,
    which would otherwise each compute it again.
-#}
{{ config(materialized='table') }}

with

month_ends as (

  select * from {{ ref('int_label_month_ends') }}

),

month_end_users as (

  select * from {{ ref('int_label_month_end_users') }}

),

services as (

  select * from {{ ref('int_label_services') }}

),

vas_usage as (

  select * from {{ ref('stg_bass__vas_usage') }}

),

usage_months as (

  select
    user_id,
    service_code,
    use_count,
    cast({{ yyyymm_to_date('stat_month') }} as date) as usage_month

  from vas_usage

),

users_with_usage as (

  select distinct
    user_id,
    usage_month

  from usage_months

),

population as (

  select
    month_end_users.user_id,
    month_end_users.month_start_date

  from month_end_users
  inner join users_with_usage
    on
      month_end_users.user_id = users_with_usage.user_id
      and month_end_users.month_start_date = users_with_usage.usage_month
  where month_end_users.user_status = 'NORMAL'

),

categories as (

  select distinct content_category from services

),

category_use as (

  select
    usage_months.user_id,
    usage_months.usage_month,
    services.content_category,
    cast(sum(usage_months.use_count) as bigint) as use_count

  from usage_months
  inner join services
    on usage_months.service_code = services.service_code
  group by
    usage_months.user_id,
    usage_months.usage_month,
    services.content_category

),

total_use as (

  select
    user_id,
    usage_month,
    cast(sum(use_count) as bigint) as use_count

  from category_use
  group by
    user_id,
    usage_month

),

grid as (

  -- every population user x every category of the catalogue
  select
    population.user_id,
    population.month_start_date,
    month_ends.next_month_start_date,
    month_ends.is_next_month_delivered,
    categories.content_category

  from population
  inner join month_ends
    on population.month_start_date = month_ends.month_start_date
  cross join categories

),

final as (

  select
    ---------- ids
    grid.user_id,

    ---------- months
    grid.month_start_date as population_month,
    grid.next_month_start_date as outcome_month,

    ---------- attributes
    grid.content_category,

    ---------- counts (NULL until M+1's month-end batch is delivered)
    case when grid.is_next_month_delivered then coalesce(category_use.use_count, 0) end as category_use_count,
    case when grid.is_next_month_delivered then coalesce(total_use.use_count, 0) end as total_use_count,

    ---------- label: the category's share of M+1's use (NULL when not observable)
    case
      when grid.is_next_month_delivered and total_use.use_count > 0
        then cast(coalesce(category_use.use_count, 0) as double) / total_use.use_count
    end as category_share,

    ---------- booleans
    grid.is_next_month_delivered as is_outcome_month_delivered,
    coalesce(grid.is_next_month_delivered and total_use.use_count > 0, false) as is_label_observable

  from grid
  left join category_use
    on
      grid.user_id = category_use.user_id
      and grid.next_month_start_date = category_use.usage_month
      and grid.content_category = category_use.content_category
  left join total_use
    on
      grid.user_id = total_use.user_id
      and grid.next_month_start_date = total_use.usage_month

)

select * from final
