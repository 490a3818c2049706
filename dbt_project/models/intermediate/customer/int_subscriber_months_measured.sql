{#-
    Usage and VAS measures per subscriber and month: one row per (user_id, month) of every customer-view month
    in which the user had an active subscription (int_subscribers_at_month_end.is_active_in_month).

    Usage source (int_customer_months.usage_source): a month whose BASS_USAGE summary was delivered takes voice,
    SMS, GPRS and active days from BASS_USAGE (a user without a row had no use: 0); the month in progress takes
    them from the CDR detail aggregated with BASS_USAGE's definitions (int_usage_from_cdrs_aggregated), to
    as_of_date. VAS use by content category follows the same choice: BASS_VAS_USAGE, or for the month in
    progress its definition over the detail (pushes received plus user-originated requests).

    From the CDR detail whichever the source (NULL for a month without voice detail, such as the history months
    before daily batches): calls by the other party's operator (off-net = another mobile operator; fixed lines
    and unknown numbers apart) and roaming. Pushes received and failed (VAS_DELIVERY) exist for every month.
    Data package: use against the plan's monthly quota (plan as of the month end), overflow beyond it (all use
    is overflow on a plan with no data package, quota 0), in KB as BASS counts them, shown in MB (1 MB = 1024 KB).
    Incremental by month like int_subscribers_at_month_end.
-#}
{%- set base_measures = ['voice_calls', 'voice_moc_calls', 'voice_seconds', 'distinct_contacts', 'sms_mo', 'sms_mt',
                         'gprs_sessions', 'gprs_kb', 'active_days'] -%}
{%- set detail_measures = ['voice_calls', 'on_net_calls', 'off_net_calls', 'fixed_line_calls', 'unknown_party_calls',
                           'roaming_calls', 'national_roaming_calls', 'international_roaming_calls',
                           'roaming_seconds'] -%}
{%- set categories = ['NEWS', 'SPORTS', 'FINANCE', 'ENTERTAINMENT', 'MUSIC', 'GAMES', 'LIFE', 'EDUCATION'] -%}
{{ config(
    materialized='incremental',
    incremental_strategy=('insert_overwrite' if target.type == 'spark' else 'delete+insert'),
    unique_key='month_start_date',
    partition_by=(['month_start_date'] if target.type == 'spark' else none),
    on_schema_change='fail'
) }}

with

months as (

  select * from {{ ref('int_customer_months') }}
  where month_start_date >= {{ first_month_to_build(ref('int_customer_months')) }}

),

subscribers as (

  select * from {{ ref('int_subscribers_at_month_end') }}

),

bass_usage as (

  select * from {{ ref('stg_bass__usage') }}

),

cdr_usage as (

  select * from {{ ref('int_usage_from_cdrs_aggregated') }}

),

voice_batches as (

  select * from {{ ref('int_voice_cdrs_aggregated_by_batch') }}

),

delivery_batches as (

  select * from {{ ref('int_vas_deliveries_aggregated_by_batch') }}

),

request_batches as (

  select * from {{ ref('int_sms_vas_requests_aggregated_by_batch') }}

),

bass_vas_usage as (

  select * from {{ ref('stg_bass__vas_usage') }}

),

services as (

  select * from {{ ref('int_label_services') }}

),

holdings as (

  select * from {{ ref('int_vas_holdings_at_month_end') }}

),

population as (

  select
    subscribers.user_id,
    subscribers.month_start_date,
    subscribers.gprs_quota_mb,
    months.usage_source,
    months.usage_day_count,
    months.is_month_complete,
    months.inputs_written_at

  from subscribers
  inner join months
    on subscribers.month_start_date = months.month_start_date
  where subscribers.is_active_in_month

),

bass_monthly as (

  select
    user_id,
    cast({{ yyyymm_to_date('stat_month') }} as date) as month_start_date,
    {%- for measure in base_measures %}
      {{ measure }}{% if not loop.last %},{% endif %}
    {%- endfor %}

  from bass_usage

),

cdr_monthly as (

  select
    user_id,
    cast({{ yyyymm_to_date('stat_month') }} as date) as month_start_date,
    {%- for measure in base_measures %}
      {{ measure }}{% if not loop.last %},{% endif %}
    {%- endfor %}

  from cdr_usage
  where user_id is not null

),

voice_monthly as (

  select
    user_id,
    month_start_date,
    {%- for measure in detail_measures %}
      sum({{ measure }}) as {{ measure }}{% if not loop.last %},{% endif %}
    {%- endfor %}

  from voice_batches
  where month_start_date >= (select min(month_start_date) from months)
  group by user_id, month_start_date

),

voice_detail_months as (

  select distinct month_start_date from voice_batches

),

delivery_monthly as (

  select
    user_id,
    month_start_date,
    sum(delivery_count) as delivery_count,
    sum(received_count) as received_count,
    sum(failed_count) as failed_count,
    sum(terminal_failed_count) as terminal_failed_count

  from delivery_batches
  where month_start_date >= (select min(month_start_date) from months)
  group by user_id, month_start_date

),

vas_use as (

  -- months with BASS_VAS_USAGE delivered: the summary
  select
    bass_vas_usage.user_id,
    months.month_start_date,
    bass_vas_usage.service_code,
    bass_vas_usage.use_count

  from bass_vas_usage
  inner join months
    on cast({{ yyyymm_to_date('bass_vas_usage.stat_month') }} as date) = months.month_start_date
  where months.usage_source = 'BASS'

  union all

  -- the month in progress: pushes received ...
  select
    delivery_batches.user_id,
    delivery_batches.month_start_date,
    delivery_batches.service_code,
    delivery_batches.received_count as use_count

  from delivery_batches
  inner join months
    on delivery_batches.month_start_date = months.month_start_date
  where months.usage_source = 'CDR'

  union all

  -- ... plus user-originated requests
  select
    request_batches.user_id,
    request_batches.month_start_date,
    request_batches.service_code,
    request_batches.request_count as use_count

  from request_batches
  inner join months
    on request_batches.month_start_date = months.month_start_date
  where months.usage_source = 'CDR'

),

vas_use_monthly as (

  select
    vas_use.user_id,
    vas_use.month_start_date,
    sum(vas_use.use_count) as vas_use_count,
    {%- for category in categories %}
      sum(case when services.content_category = '{{ category }}' then vas_use.use_count else 0 end)
        as {{ category | lower }}_use_count{% if not loop.last %},{% endif %}
    {%- endfor %}

  from vas_use
  left join services
    on vas_use.service_code = services.service_code
  group by vas_use.user_id, vas_use.month_start_date

),

chosen as (

  select
    population.*,
    {% for measure in base_measures -%}
      cast(case
        when population.usage_source = 'BASS' then coalesce(bass_monthly.{{ measure }}, 0)
        else coalesce(cdr_monthly.{{ measure }}, 0)
      end as bigint) as {{ measure }},
    {% endfor %}
    voice_detail_months.month_start_date is not null as has_voice_detail

  from population
  left join bass_monthly
    on
      population.user_id = bass_monthly.user_id
      and population.month_start_date = bass_monthly.month_start_date
  left join cdr_monthly
    on
      population.user_id = cdr_monthly.user_id
      and population.month_start_date = cdr_monthly.month_start_date
  left join voice_detail_months
    on population.month_start_date = voice_detail_months.month_start_date

),

final as (

  select
    ---------- ids
    chosen.user_id,
    chosen.month_start_date,

    ---------- month
    chosen.usage_source,
    chosen.usage_day_count,
    chosen.is_month_complete,

    ---------- voice (usage source)
    chosen.voice_calls,
    chosen.voice_moc_calls,
    chosen.voice_seconds,
    cast(chosen.voice_seconds as double) / 60 as voice_minutes,
    case when chosen.voice_calls > 0 then cast(chosen.voice_moc_calls as double) / chosen.voice_calls end
      as outgoing_call_share,
    chosen.distinct_contacts,

    ---------- voice (CDR detail; NULL for a month without it)
    chosen.has_voice_detail,
    {% for measure in detail_measures -%}
      case when chosen.has_voice_detail then cast(coalesce(voice_monthly.{{ measure }}, 0) as bigint) end
        as {{ 'voice_detail_calls' if measure == 'voice_calls' else measure }},
    {% endfor %}
    case
      when voice_monthly.voice_calls > 0
        then cast(voice_monthly.off_net_calls as double) / voice_monthly.voice_calls
    end as off_net_call_share,
    case
      when voice_monthly.voice_calls > 0
        then cast(voice_monthly.fixed_line_calls as double) / voice_monthly.voice_calls
    end
      as fixed_line_call_share,
    case
      when voice_monthly.voice_calls > 0
        then cast(voice_monthly.roaming_calls as double) / voice_monthly.voice_calls
    end as roaming_call_share,

    ---------- SMS
    chosen.sms_mo,
    chosen.sms_mt,

    ---------- data (GPRS) and the plan's package
    chosen.gprs_sessions,
    chosen.gprs_kb,
    cast(chosen.gprs_kb as double) / 1024 as gprs_mb,
    chosen.gprs_quota_mb,
    case when chosen.gprs_quota_mb > 0 then cast(chosen.gprs_kb as double) / (chosen.gprs_quota_mb * 1024) end
      as gprs_quota_use_ratio,
    case
      when chosen.gprs_quota_mb is not null
        then cast(greatest(chosen.gprs_kb - chosen.gprs_quota_mb * 1024, 0) as double) / 1024
    end as gprs_overflow_mb,
    case when chosen.gprs_quota_mb is not null then chosen.gprs_kb > chosen.gprs_quota_mb * 1024 end
      as is_gprs_overflow,
    chosen.active_days,

    ---------- VAS held and ordered
    coalesce(holdings.held_vas_count, 0) as held_vas_count,
    coalesce(holdings.held_newspaper_count, 0) as held_newspaper_count,
    coalesce(holdings.vas_order_count, 0) as vas_order_count,
    coalesce(holdings.vas_cancel_count, 0) as vas_cancel_count,

    ---------- VAS use (usage source)
    cast(coalesce(vas_use_monthly.vas_use_count, 0) as bigint) as vas_use_count,
    {% for category in categories -%}
      cast(coalesce(vas_use_monthly.{{ category | lower }}_use_count, 0) as bigint)
        as {{ category | lower }}_use_count,
    {% endfor %}

    ---------- VAS pushes
    cast(coalesce(delivery_monthly.delivery_count, 0) as bigint) as vas_delivery_count,
    cast(coalesce(delivery_monthly.received_count, 0) as bigint) as vas_delivery_received_count,
    cast(coalesce(delivery_monthly.failed_count, 0) as bigint) as vas_delivery_failed_count,
    cast(coalesce(delivery_monthly.terminal_failed_count, 0) as bigint) as vas_delivery_terminal_failed_count,

    ---------- lineage
    chosen.inputs_written_at

  from chosen
  left join voice_monthly
    on
      chosen.user_id = voice_monthly.user_id
      and chosen.month_start_date = voice_monthly.month_start_date
  left join vas_use_monthly
    on
      chosen.user_id = vas_use_monthly.user_id
      and chosen.month_start_date = vas_use_monthly.month_start_date
  left join delivery_monthly
    on
      chosen.user_id = delivery_monthly.user_id
      and chosen.month_start_date = delivery_monthly.month_start_date
  left join holdings
    on
      chosen.user_id = holdings.user_id
      and chosen.month_start_date = holdings.month_start_date

)

select * from final
