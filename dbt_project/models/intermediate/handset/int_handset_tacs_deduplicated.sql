{#-
    The handset catalogue (REF_TAC), one row per TAC as of its latest snapshot: vendor, model and
    capabilities (MMS, WAP, best radio access technology). REF_TAC is a snapshot delivered with every batch;
    a TAC dropped from later snapshots keeps its last description (it still identifies a model).
-#}

with

tacs as (

  select * from {{ ref('stg_dm__tacs') }}

),

ranked as (

  select
    *,
    row_number() over (partition by tac order by batch_date desc) as recency

  from tacs

),

final as (

  select
    ---------- ids
    tac,

    ---------- attributes
    vendor_name,
    model_name,
    max_rat,
    release_year,

    ---------- booleans
    has_mms,
    has_wap,

    ---------- dates
    batch_date as last_batch_date

  from ranked
  where recency = 1

)

select * from final
