{#-
    Every row of every campaign list with what decides its response: the user's internal id (through
    int_campaign_users), the contact date (the day after the run date: lists are built after the night's
    batch and sent the next morning) and the end of the response window (exclusive), from the run's record.
    Runs whose campaign measures no conversion (a control list) are left out.
-#}

with

lists as (

  select * from {{ source('campaigns', 'target_list') }}

),

runs as (

  select * from {{ source('campaigns', 'campaign_run') }}

),

users as (

  select * from {{ ref('int_campaign_users') }}

),

final as (

  select
    ---------- ids
    lists.campaign,
    lists.run_date,
    lists.user_pseudonym,
    users.user_id,

    ---------- attributes
    lists.{{ adapter.quote("group") }} as list_group,
    lists.offer,
    runs.conversion_kind,
    runs.conversion_match,
    runs.response_window_days,

    ---------- dates
    cast({{ dbt.dateadd('day', 1, 'lists.run_date') }} as date) as contact_date,
    cast({{ dbt.dateadd('day', '1 + runs.response_window_days', 'lists.run_date') }} as date) as window_end_date

  from lists
  inner join runs
    on
      lists.campaign = runs.campaign
      and lists.run_date = runs.run_date
  left join users
    on lists.user_pseudonym = users.user_pseudonym
  where runs.conversion_kind <> 'none'

)

select * from final
