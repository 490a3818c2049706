{#-
    Voice CDR detail per batch, user and month: calls by the other party's operator (off-net) and roaming.

    Only counted calls (MOC + MTC, as BASS_USAGE counts them; forwarded calls are not) are classified. The
    other party is classified by the number-prefix table derived from libphonenumber
    (int_number_prefixes_expanded: one equality join on the number's length and first 6 digits): CMCC is
    on-net (the warehouse's own operator, China Mobile), CUCC / CTCC / CBN off-net, FIXED_LINE a fixed line,
    anything else UNKNOWN. Roaming: roam_type 1 in-province, 2 national, 3 international (0 is local).
    Each call is attributed to the user holding the MSISDN at its start (a call no holding covers is not
    counted: it belongs to no subscriber of the customer view).

    Incremental per batch (delete+insert on batch_date): a run aggregates only the batches whose raw-zone
    partition is new or was written again since it was aggregated (macro lake_partitions), so a rerun of a
    batch, or a redelivered batch, replaces that batch's rows and nothing else. `vasmart build --full-refresh`
    rebuilds every batch. The other party's number is only classified here, never output.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=('insert_overwrite' if target.type == 'spark' else 'delete+insert'),
    unique_key='batch_date',
    partition_by=(['batch_date'] if target.type == 'spark' else none),
    on_schema_change='fail'
) }}

with

voice_cdrs as (

  select * from {{ ref('stg_mediation__voice_cdrs') }}
  where {{ lake_batch_file_filter('source_file_name', source('mediation', 'cdr_voice')) }}

),

assignments as (

  select * from {{ ref('int_msisdn_assignments_historized') }}

),

prefixes as (

  select * from {{ ref('int_number_prefixes_expanded') }}

),

batches as (

  {{ lake_batches_to_build(source('mediation', 'cdr_voice')) }}

),

calls as (

  select
    voice_cdrs.batch_date,
    batches.partition_written_at,
    voice_cdrs.msisdn,
    voice_cdrs.started_at,
    voice_cdrs.other_party,
    voice_cdrs.duration_seconds,
    voice_cdrs.roam_type

  from voice_cdrs
  inner join batches
    on voice_cdrs.batch_date = batches.batch_date
  where voice_cdrs.call_type in ('MOC', 'MTC')

),

classified as (

  select
    calls.*,
    coalesce(prefixes.number_class, 'UNKNOWN') as party_class

  from calls
  left join prefixes
    on
      length(calls.other_party) = prefixes.number_length
      and left(calls.other_party, 6) = prefixes.match_prefix

),

attributed as (

  select
    classified.batch_date,
    classified.partition_written_at,
    assignments.user_id,
    cast({{ dbt.date_trunc('month', 'classified.started_at') }} as date) as month_start_date,
    classified.party_class,
    classified.roam_type,
    classified.duration_seconds

  from classified
  inner join assignments
    on
      classified.msisdn = assignments.msisdn
      and classified.started_at >= assignments.valid_from
      and {{ before_valid_to('classified.started_at', 'assignments.valid_to') }}

),

aggregated as (

  select
    batch_date,
    user_id,
    month_start_date,
    max(partition_written_at) as partition_written_at,
    cast(count(*) as bigint) as voice_calls,
    cast(sum(duration_seconds) as bigint) as voice_seconds,
    cast(sum(case when party_class = 'CMCC' then 1 else 0 end) as bigint) as on_net_calls,
    cast(sum(case when party_class in ('CUCC', 'CTCC', 'CBN') then 1 else 0 end) as bigint) as off_net_calls,
    cast(sum(case when party_class = 'FIXED_LINE' then 1 else 0 end) as bigint) as fixed_line_calls,
    cast(sum(case when party_class = 'UNKNOWN' then 1 else 0 end) as bigint) as unknown_party_calls,
    cast(sum(case when roam_type > 0 then 1 else 0 end) as bigint) as roaming_calls,
    cast(sum(case when roam_type = 2 then 1 else 0 end) as bigint) as national_roaming_calls,
    cast(sum(case when roam_type = 3 then 1 else 0 end) as bigint) as international_roaming_calls,
    cast(sum(case when roam_type > 0 then duration_seconds else 0 end) as bigint) as roaming_seconds

  from attributed
  group by batch_date, user_id, month_start_date

),

final as (

  select
    ---------- ids
    batch_date,
    user_id,
    month_start_date,

    ---------- counts (MOC + MTC calls)
    voice_calls,
    voice_seconds,
    on_net_calls,
    off_net_calls,
    fixed_line_calls,
    unknown_party_calls,
    roaming_calls,
    national_roaming_calls,
    international_roaming_calls,
    roaming_seconds,

    ---------- lineage
    partition_written_at

  from aggregated

)

select * from final
