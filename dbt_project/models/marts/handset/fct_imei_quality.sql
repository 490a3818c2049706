{#-
    IMEI data quality per IMEI_OBS batch (history batches cover a month, daily batches a day or a few).
    See fct_imei_quality.yml for the measures. No MSISDN or IMEI leaves this model: only counts and shares.
    The observations are measured per batch, as each batch arrives, by int_imei_observations_measured_by_batch.
-#}

with

measured as (

  select * from {{ ref('int_imei_observations_measured_by_batch') }}

),

rejects as (

  select * from {{ ref('int_handset_imei_rejects_counted') }}

),

observation_counts as (

  select
    batch_date,
    first_seen_date,
    observation_count,
    matched_observation_count,
    imeisv_observation_count,
    unknown_tac_observation_count
  from measured

),

handset_mix as (

  select
    batch_date,
    active_handset_count,
    known_tac_handset_count,
    mms_handset_count,
    wap_handset_count,
    rat_2g_handset_count,
    rat_3g_handset_count,
    rat_4g_handset_count
  from measured

),

reject_counts as (

  select
    batch_date,
    sum(rejected_record_count) as rejected_record_count,
    sum(case when reject_reason = 'imei:imei' then rejected_record_count else 0 end) as invalid_imei_count

  from rejects
  group by batch_date

),

batches as (

  select batch_date from observation_counts
  union
  select batch_date from reject_counts

),

final as (

  select
    ---------- batch
    batches.batch_date,
    observation_counts.first_seen_date,

    ---------- records
    cast(coalesce(observation_counts.observation_count, 0) as bigint) as observation_count,
    cast(coalesce(reject_counts.rejected_record_count, 0) as bigint) as rejected_record_count,
    cast(coalesce(reject_counts.invalid_imei_count, 0) as bigint) as invalid_imei_count,
    cast(coalesce(observation_counts.matched_observation_count, 0) as bigint) as matched_observation_count,
    cast(coalesce(observation_counts.imeisv_observation_count, 0) as bigint) as imeisv_observation_count,
    cast(coalesce(observation_counts.unknown_tac_observation_count, 0) as bigint) as unknown_tac_observation_count,

    ---------- rates
    cast(observation_counts.matched_observation_count as double)
    / nullif(observation_counts.observation_count, 0) as user_match_rate,
    cast(coalesce(reject_counts.invalid_imei_count, 0) as double)
    / nullif(
      coalesce(observation_counts.observation_count, 0)
      + coalesce(reject_counts.rejected_record_count, 0), 0
    ) as invalid_imei_share,
    cast(observation_counts.imeisv_observation_count as double)
    / nullif(observation_counts.observation_count, 0) as imeisv_share,
    cast(observation_counts.unknown_tac_observation_count as double)
    / nullif(observation_counts.observation_count, 0) as unknown_tac_rate,

    ---------- capability mix of the active handsets (shares of those with a known TAC)
    cast(coalesce(handset_mix.active_handset_count, 0) as bigint) as active_handset_count,
    cast(coalesce(handset_mix.known_tac_handset_count, 0) as bigint) as known_tac_handset_count,
    cast(handset_mix.mms_handset_count as double)
    / nullif(handset_mix.known_tac_handset_count, 0) as mms_handset_share,
    cast(handset_mix.wap_handset_count as double)
    / nullif(handset_mix.known_tac_handset_count, 0) as wap_handset_share,
    cast(handset_mix.rat_2g_handset_count as double)
    / nullif(handset_mix.known_tac_handset_count, 0) as rat_2g_handset_share,
    cast(handset_mix.rat_3g_handset_count as double)
    / nullif(handset_mix.known_tac_handset_count, 0) as rat_3g_handset_share,
    cast(handset_mix.rat_4g_handset_count as double)
    / nullif(handset_mix.known_tac_handset_count, 0) as rat_4g_handset_share

  from batches
  left join observation_counts
    on batches.batch_date = observation_counts.batch_date
  left join reject_counts
    on batches.batch_date = reject_counts.batch_date
  left join handset_mix
    on batches.batch_date = handset_mix.batch_date

)

select * from final
