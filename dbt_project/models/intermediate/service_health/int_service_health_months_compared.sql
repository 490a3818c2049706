{#-
    Sudden changes of the monthly service-health measures: each complete service-month against the same
    measure over the trailing 6 months (macro sudden_changes: |value - trailing median| > k robust
    deviations, with a noise floor and a minimum volume). One row per service, month and measure. The month
    in progress is not compared (its sums are partial).

    Compared monthly: the daily measures, and the info fee charged (level, volume = charged subscribers) and
    the sticky-service audit rate (rate of the audited subscribers).

    Settings (dbt vars): service_health_k (4), service_health_min_volume (30),
    service_health_trailing_months (6), service_health_min_trailing_months (3).
-#}
{{ config(materialized='table') }}

{%- set complete = 'case when is_month_complete then {} end' %}
{%- set measures = [
    {'name': 'active_subscriber_count', 'kind': 'count', 'value': complete.format('active_subscriber_count'), 'volume': 'active_subscriber_count'},
    {'name': 'order_count', 'kind': 'count', 'value': complete.format('order_count'), 'volume': 'order_count'},
    {'name': 'cancel_count', 'kind': 'count', 'value': complete.format('cancel_count'), 'volume': 'cancel_count'},
    {'name': 'quick_cancel_rate', 'kind': 'rate', 'value': complete.format('quick_cancel_rate'), 'volume': 'order_count'},
    {'name': 'delivery_success_rate', 'kind': 'rate', 'value': complete.format('delivery_success_rate'), 'volume': 'delivery_count'},
    {'name': 'terminal_failure_rate', 'kind': 'rate', 'value': complete.format('terminal_failure_rate'), 'volume': 'delivery_count'},
    {'name': 'complaints_per_10k_subscribers', 'kind': 'rate', 'value': complete.format('complaints_per_10k_subscribers'), 'volume': 'mean_active_subscriber_count', 'scale': 10000},
    {'name': 'mean_handling_minutes', 'kind': 'level', 'value': complete.format('mean_handling_minutes'), 'volume': 'closed_complaint_count'},
    {'name': 'info_fee_charged_fen', 'kind': 'level', 'value': complete.format('info_fee_charged_fen'), 'volume': 'charged_subscriber_count'},
    {'name': 'audit_rate', 'kind': 'rate', 'value': complete.format('audit_rate'), 'volume': 'audited_subscriber_count'},
] %}

{{ sudden_changes(
    measured=ref('int_service_health_months_aggregated'),
    period_column='month_start_date',
    period_unit='month',
    measures=measures,
    trailing_periods=var('service_health_trailing_months', 6),
    min_history=var('service_health_min_trailing_months', 3),
    k=var('service_health_k', 4),
    min_volume=var('service_health_min_volume', 30),
) }}
