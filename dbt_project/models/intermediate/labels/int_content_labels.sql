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

    Incremental by population month (delete+insert on population_month): a month's labels depend only on
    months M and M+1 and on the catalogue's categories, so a run rebuilds only the months whose
    inputs_fingerprint changed: M's raw-zone partitions (int_customer_months.inputs_written_at), M+1's once
    its month-end batch is delivered (until then the counts are NULL whatever M+1's daily batches hold), and
    the catalogue's service -> category mapping. A new daily batch rebuilds nothing; a month-end batch
    rebuilds the month it closes and the one before; a redelivered batch rebuilds the months it feeds.
    Where partition times are unknown the fingerprint is NULL and every month is rebuilt.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=('insert_overwrite' if target.type == 'spark' else 'delete+insert'),
    unique_key='population_month',
    partition_by=(['population_month'] if target.type == 'spark' else none),
    on_schema_change='fail'
) }}

with

month_ends as (

  select * from {{ ref('int_label_month_ends') }}

),

customer_months as (

  select * from {{ ref('int_customer_months') }}

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

catalogue as (

  select
    {{ dbt.hash(dbt.listagg(
        "service_code || '=' || coalesce(content_category, '')", "','", "order by service_code"
    )) }} as catalogue_fingerprint

  from services

),

label_months as (

  select
    month_ends.month_start_date,
    month_ends.next_month_start_date,
    month_ends.is_next_month_delivered,
    case
      when
        this_month.inputs_written_at is not null
        and (not month_ends.is_next_month_delivered or next_month.inputs_written_at is not null)
        then {{ dbt.hash(dbt.concat([
          "cast(this_month.inputs_written_at as " ~ dbt.type_string() ~ ")",
          "'|'",
          "case when month_ends.is_next_month_delivered then cast(next_month.inputs_written_at as "
            ~ dbt.type_string() ~ ") else 'open' end",
          "'|'",
          "catalogue.catalogue_fingerprint"
        ])) }}
    end as inputs_fingerprint

  from month_ends
  cross join catalogue
  left join customer_months as this_month
    on month_ends.month_start_date = this_month.month_start_date
  left join customer_months as next_month
    on month_ends.next_month_start_date = next_month.month_start_date

),

months_to_build as (

  {{ unbuilt_label_months('label_months', 'month_start_date') }}

),

usage_months as (

  select
    user_id,
    service_code,
    use_count,
    cast({{ yyyymm_to_date('stat_month') }} as date) as usage_month

  from vas_usage
  where cast({{ yyyymm_to_date('stat_month') }} as date) in (
    select month_start_date from months_to_build
    union all
    select next_month_start_date from months_to_build
  )

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
    months_to_build.next_month_start_date,
    months_to_build.is_next_month_delivered,
    months_to_build.inputs_fingerprint,
    categories.content_category

  from population
  inner join months_to_build
    on population.month_start_date = months_to_build.month_start_date
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
    coalesce(grid.is_next_month_delivered and total_use.use_count > 0, false) as is_label_observable,

    ---------- lineage
    grid.inputs_fingerprint

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
