{#-
    Public mart: the Monternet monthly info fee per subscriber, service and month, as decided in
    int_vas_order_charges_decided (the rule, its clauses and the unit tests live there). The subscriber is
    identified by the keyed pseudonym of user_id; a table, because it may call pseudonym() (see with_user_pseudonyms).
-#}

with

charges as (

  select * from {{ ref('int_vas_order_charges_decided') }}

),

charges_pseudonymized as (

  {{ with_user_pseudonyms('charges') }}

),

final as (

  select
    ---------- ids
    {{ user_pseudonym_of('user_id') }} as user_pseudonym,
    service_code,
    charge_month,
    order_id,

    ---------- attributes
    charge_clause,
    cancel_reason,
    month_order_count,

    ---------- money (fen)
    info_fee_fen,
    charged_fen,

    ---------- booleans
    is_charged,
    is_held_at_month_start,
    is_month_complete,

    ---------- timestamps
    month_started_at,
    ordered_at,
    cancelled_at,
    first_ordered_at,
    charged_at

  from charges_pseudonymized

)

select * from final
