{#-
    The raw zone's partitions of the interfaces the customer view reads, one row per interface and batch, with
    the time each partition was last written (macro lake_partitions: file times, no data read; NULL where the
    engine cannot tell). int_customer_months takes each month's latest time to know which months changed. A
    table: the listing is taken once per run.
-#}
{%- set inputs = [('boss', 'boss_user'), ('boss', 'boss_vas_order'), ('boss', 'ref_plan'), ('boss', 'ref_region'),
                  ('bass', 'bass_usage'), ('bass', 'bass_vas_usage'), ('dm', 'imei_obs'), ('dm', 'ref_tac'),
                  ('mediation', 'cdr_voice'), ('mediation', 'cdr_sms'), ('mediation', 'cdr_gprs'),
                  ('vgop', 'vas_delivery'), ('vgop', 'ref_service'), ('vgop', 'ref_status_code')] -%}
{{ config(materialized='table') }}

with

partitions as (

  {% for source_name, table_name in inputs -%}
    select
      '{{ source(source_name, table_name).identifier }}' as interface_name,
      batch_date,
      partition_written_at
    from ({{ lake_partitions(source(source_name, table_name)) }}) as listed
    {{ 'union all' if not loop.last }}
  {% endfor %}

),

final as (

  select
    ---------- ids
    interface_name,
    batch_date,

    ---------- lineage
    partition_written_at

  from partitions

)

select * from final
