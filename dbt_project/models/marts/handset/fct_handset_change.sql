{#-
    Stable handset changes (换机), published: the changes of int_handset_changes whose new handset was used
    on 7+ consecutive days, the user under the keyed pseudonym. A table, because it may call pseudonym() (see with_user_pseudonyms).
-#}

with

changes as (

  select * from {{ ref('int_handset_changes') }}

),

changes_pseudonymized as (

  {{ with_user_pseudonyms('changes') }}

),

final as (

  select
    ---------- ids
    {{ user_pseudonym_of('user_id') }} as user_pseudonym,
    version_number as handset_version_number,

    ---------- dates
    change_date,
    stable_run_start_date,
    stable_date,

    ---------- old handset
    old_tac,
    old_vendor_name,
    old_model_name,
    old_has_mms,
    old_has_wap,
    old_max_rat,

    ---------- new handset
    new_tac,
    new_vendor_name,
    new_model_name,
    new_has_mms,
    new_has_wap,
    new_max_rat,

    ---------- use of the new handset
    use_day_count,
    longest_run_days,

    ---------- timestamps
    changed_at

  from changes_pseudonymized
  where is_stable

)

select * from final
