{#-
    The IMEI feed measured per IMEI_OBS batch: observations, how many a holding covers, IMEISVs, unknown TACs,
    and the capability mix of the handsets (distinct IMEIs) active in the batch. fct_imei_quality turns these
    counts into its rates beside the load's rejects. Counts only: no MSISDN or IMEI leaves this model.

    Incremental per batch (delete+insert on batch_date), as the other per-batch aggregates are: a run
    measures the batches whose partition is new or was written again (lake_batches_to_build), reading only
    their files, so a batch's match count is the one its attribution gave when it was measured.
    `vasmart build --full-refresh` measures every batch again.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=('insert_overwrite' if target.type == 'spark' else 'delete+insert'),
    unique_key='batch_date',
    partition_by=(['batch_date'] if target.type == 'spark' else none),
    on_schema_change='fail'
) }}

with

batches as (

  {{ lake_batches_to_build(source('dm', 'imei_obs')) }}

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

final as (

  select
    ---------- batch
    observation_counts.batch_date,
    observation_counts.first_seen_date,

    ---------- observations
    cast(observation_counts.observation_count as bigint) as observation_count,
    cast(observation_counts.matched_observation_count as bigint) as matched_observation_count,
    cast(observation_counts.imeisv_observation_count as bigint) as imeisv_observation_count,
    cast(observation_counts.unknown_tac_observation_count as bigint) as unknown_tac_observation_count,

    ---------- active handsets
    cast(handset_mix.active_handset_count as bigint) as active_handset_count,
    cast(handset_mix.known_tac_handset_count as bigint) as known_tac_handset_count,
    cast(handset_mix.mms_handset_count as bigint) as mms_handset_count,
    cast(handset_mix.wap_handset_count as bigint) as wap_handset_count,
    cast(handset_mix.rat_2g_handset_count as bigint) as rat_2g_handset_count,
    cast(handset_mix.rat_3g_handset_count as bigint) as rat_3g_handset_count,
    cast(handset_mix.rat_4g_handset_count as bigint) as rat_4g_handset_count,

    ---------- lineage
    batches.partition_written_at

  from observation_counts
  inner join batches
    on observation_counts.batch_date = batches.batch_date
  left join handset_mix
    on observation_counts.batch_date = handset_mix.batch_date

)

select * from final
