{#-
    IMEI data quality per IMEI_OBS batch (history batches cover a month, daily batches a day or a few).
    See fct_imei_quality.yml for the measures. No MSISDN or IMEI leaves this model: only counts and shares.

    Incremental per batch (delete+insert on batch_date), as the per-batch aggregates are: a run measures the
    batches whose IMEI_OBS partition is new or was written again (lake_batches_to_build), and the batches
    whose records were all rejected (no partition; counts only, so measured again on every run). A batch's
    user match rate is the one its attribution gave when it was measured. `vasmart build --full-refresh`
    measures every batch again.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=('insert_overwrite' if target.type == 'spark' else 'delete+insert'),
    unique_key='batch_date',
    partition_by=(['batch_date'] if target.type == 'spark' else none),
    on_schema_change='fail'
) }}

with

partitions as (

  {{ lake_partitions(source('dm', 'imei_obs')) }}

),

rejects as (

  select * from {{ ref('int_handset_imei_rejects_counted') }}

),

batches as (

  {{ lake_batches_to_build(source('dm', 'imei_obs')) }}

  union all

  select distinct
    rejects.batch_date,
    cast(null as {{ dbt.type_timestamp() }}) as partition_written_at
  from rejects
  left join partitions
    on rejects.batch_date = partitions.batch_date
  where partitions.batch_date is null

),

observations as (

  select * from {{ ref('stg_dm__imei_observations') }}
  where
    {{ lake_batch_file_filter('source_file_name', source('dm', 'imei_obs')) }}
    and batch_date in (select batch_date from batches)

),

assignments as (

  select * from {{ ref('int_msisdn_assignments_historized') }}

),

tacs as (

  select * from {{ ref('stg_dm__tacs') }}

),

matched as (

  -- observations attributable to the subscriber holding the MSISDN at the last sighting
  select distinct
    observations.source_file_name,
    observations.source_line_number

  from observations
  inner join assignments
    on
      observations.msisdn = assignments.msisdn
      and observations.last_seen_at >= assignments.valid_from
      and {{ before_valid_to('observations.last_seen_at', 'assignments.valid_to') }}

),

batch_tacs as (

  select distinct
    batch_date,
    tac
  from observations

),

tacs_as_of_batch as (

  -- the TAC's description in the latest REF_TAC snapshot delivered up to the observation's batch
  select
    batch_tacs.batch_date,
    batch_tacs.tac,
    tacs.has_mms,
    tacs.has_wap,
    tacs.max_rat,
    row_number() over (
      partition by batch_tacs.batch_date, batch_tacs.tac order by tacs.batch_date desc
    ) as recency

  from batch_tacs
  inner join tacs
    on
      batch_tacs.tac = tacs.tac
      and batch_tacs.batch_date >= tacs.batch_date

),

checked as (

  select
    observations.batch_date,
    observations.imei,
    observations.first_seen_at,
    observations.imeisv is not null as is_imeisv,
    matched.source_line_number is not null as is_matched,
    tacs_as_of_batch.tac is not null as is_tac_known,
    tacs_as_of_batch.has_mms,
    tacs_as_of_batch.has_wap,
    tacs_as_of_batch.max_rat

  from observations
  left join matched
    on
      observations.source_file_name = matched.source_file_name
      and observations.source_line_number = matched.source_line_number
  left join tacs_as_of_batch
    on
      observations.batch_date = tacs_as_of_batch.batch_date
      and observations.tac = tacs_as_of_batch.tac
      and tacs_as_of_batch.recency = 1

),

observation_counts as (

  select
    batch_date,
    min(cast(first_seen_at as date)) as first_seen_date,
    count(*) as observation_count,
    sum(case when is_matched then 1 else 0 end) as matched_observation_count,
    sum(case when is_imeisv then 1 else 0 end) as imeisv_observation_count,
    sum(case when not is_tac_known then 1 else 0 end) as unknown_tac_observation_count

  from checked
  group by batch_date

),

handsets as (

  -- each handset (IMEI) active in the batch once, with its model's capabilities when the TAC is known
  select
    batch_date,
    imei,
    max(case when is_tac_known then 1 else 0 end) as is_tac_known,
    max(case when has_mms then 1 else 0 end) as has_mms,
    max(case when has_wap then 1 else 0 end) as has_wap,
    max(max_rat) as max_rat

  from checked
  group by batch_date, imei

),

handset_mix as (

  select
    batch_date,
    count(*) as active_handset_count,
    sum(is_tac_known) as known_tac_handset_count,
    sum(case when is_tac_known = 1 then has_mms else 0 end) as mms_handset_count,
    sum(case when is_tac_known = 1 then has_wap else 0 end) as wap_handset_count,
    sum(case when max_rat = '2G' then 1 else 0 end) as rat_2g_handset_count,
    sum(case when max_rat = '3G' then 1 else 0 end) as rat_3g_handset_count,
    sum(case when max_rat = '4G' then 1 else 0 end) as rat_4g_handset_count

  from handsets
  group by batch_date

),

reject_counts as (

  select
    batch_date,
    sum(rejected_record_count) as rejected_record_count,
    sum(case when reject_reason = 'imei:imei' then rejected_record_count else 0 end) as invalid_imei_count

  from rejects
  where batch_date in (select batch_date from batches)
  group by batch_date

),

measured as (

  select batch_date from observation_counts
  union
  select batch_date from reject_counts

),

final as (

  select
    ---------- batch
    measured.batch_date,
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
    / nullif(handset_mix.known_tac_handset_count, 0) as rat_4g_handset_share,

    ---------- lineage
    batches.partition_written_at

  from measured
  inner join batches
    on measured.batch_date = batches.batch_date
  left join observation_counts
    on measured.batch_date = observation_counts.batch_date
  left join reject_counts
    on measured.batch_date = reject_counts.batch_date
  left join handset_mix
    on measured.batch_date = handset_mix.batch_date

)

select * from final
