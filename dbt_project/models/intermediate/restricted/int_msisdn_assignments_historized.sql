{#-
    Which user held which MSISDN when: one row per (msisdn, user_id) holding, with its validity range.

    Numbers are recycled to a new user_id no sooner than 90 days after cancellation, and every CDR, delivery,
    IMEI observation and complaint carries the number held at the event time, so events are attributed with
    the holding valid at the event time:
        event_at >= valid_from and (valid_to is null or event_at < valid_to)
    The range comes from the business dates BOSS states, not from batch dates (history batches are a month
    apart): a holding starts on the join date and ends after the cancellation date (status_date of the
    latest snapshot that shows the user CANCELLED). Derived from the BOSS_USER snapshots' islands
    (int_user_snapshots_compacted), so it is the same whichever way the batches were built (see
    int_users_historized).

    Restricted schema: the key is the raw MSISDN, which is what the mapping is for. Like the other restricted
    models it is never published; marts must not select msisdn from it (use user_id, or
    msisdn_pseudonym where a number-level key is needed). A table, because it calls pseudonym().
-#}
{{ config(materialized='table') }}

with

islands as (

  select * from {{ ref('int_user_snapshots_compacted') }}

),

latest_per_holding as (

  -- the latest snapshot that lists the holding carries its final status
  select
    *,
    row_number() over (partition by msisdn, user_id order by last_batch_date desc) as recency,
    min(first_batch_date) over (partition by msisdn, user_id) as holding_first_batch_date

  from islands

),

holdings as (

  select
    msisdn,
    user_id,
    join_date,
    user_status,
    user_status_date,
    holding_first_batch_date as first_batch_date,
    last_batch_date,
    cast(join_date as timestamp) as valid_from,
    case
      when user_status = 'CANCELLED'
        then cast({{ dbt.dateadd('day', 1, 'user_status_date') }} as timestamp)
    end as valid_to

  from latest_per_holding
  where recency = 1

),

final as (

  select
    ---------- ids
    msisdn,
    {{ pseudonym('msisdn') }} as msisdn_pseudonym,
    user_id,

    ---------- attributes
    user_status as last_user_status,

    ---------- booleans
    valid_to is null as is_current,

    ---------- dates
    join_date,
    case when user_status = 'CANCELLED' then user_status_date end as cancel_date,
    first_batch_date,
    last_batch_date,

    ---------- validity
    valid_from,
    valid_to

  from holdings

)

select * from final
