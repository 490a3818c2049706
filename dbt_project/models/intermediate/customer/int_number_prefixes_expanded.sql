{#-
    The number-prefix table (seed number_prefix_operators) expanded to fixed 6-digit keys, so that a CDR's
    other party is classified by one equality join on (length, first 6 digits) instead of a longest-prefix
    search: every range of k digits becomes the 10^(6-k) six-digit prefixes under it. The ranges are
    disjoint, so each key has one class. About 100,000 rows; a table, joined by every voice batch.

    number_class: the operator code for a mobile range (CMCC, CUCC, CTCC, CBN), FIXED_LINE for a fixed line.
    A number whose key is not here (other lengths, 106... SP numbers, invalid ranges) is UNKNOWN.
-#}
{{ config(materialized='table') }}

with

ranges as (

  select * from {{ ref('number_prefix_operators') }}

),

digits as (

  select '0' as digit
  union all
  select '1'
  union all
  select '2'
  union all
  select '3'
  union all
  select '4'
  union all
  select '5'
  union all
  select '6'
  union all
  select '7'
  union all
  select '8'
  union all
  select '9'

),

suffixes as (

  -- every digit string of 0 to 5 digits (the seed's prefixes have 1 to 6)
  select '' as suffix
  union all
  select d1.digit from digits as d1
  union all
  select d1.digit || d2.digit from digits as d1 cross join digits as d2
  union all
  select d1.digit || d2.digit || d3.digit
  from digits as d1 cross join digits as d2 cross join digits as d3
  union all
  select d1.digit || d2.digit || d3.digit || d4.digit
  from digits as d1 cross join digits as d2 cross join digits as d3 cross join digits as d4
  union all
  select d1.digit || d2.digit || d3.digit || d4.digit || d5.digit
  from digits as d1 cross join digits as d2 cross join digits as d3 cross join digits as d4 cross join digits as d5

),

expanded as (

  select
    ranges.number_length,
    ranges.number_prefix || suffixes.suffix as match_prefix,
    ranges.number_prefix,
    ranges.line_type,
    coalesce(ranges.operator_code, 'FIXED_LINE') as number_class

  from ranges
  inner join suffixes
    on length(suffixes.suffix) = 6 - length(ranges.number_prefix)

),

final as (

  select
    ---------- ids
    number_length,
    match_prefix,

    ---------- attributes
    number_prefix,
    line_type,
    number_class

  from expanded

)

select * from final
