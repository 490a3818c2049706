{#-
    Sudden changes of the daily service-health measures: each service-day measure against the same measure
    over the trailing 28 days (macro sudden_changes: |value - trailing median| > k robust deviations, with a
    noise floor and a minimum volume). One row per service, day and measure.

    Compared daily: active subscribers, orders, cancellations (counts); the 72-hour quick-cancel rate (of the
    day's orders, once settled: 3 days after the order day), the delivery success rate and the terminal-failure
    rate (of the day's deliveries), complaints per 10,000 subscribers (rates); the mean complaint handling
    time (level, volume = closed complaints). The info fee is compared monthly only: it falls due on the
    first of the month for every subscription held then, so a daily series of it spikes every month.

    Settings (dbt vars): service_health_k (4), service_health_min_volume (30),
    service_health_trailing_days (28), service_health_min_trailing_days (14).
-#}
{{ config(materialized='table') }}

{%- set measures = [
    {'name': 'active_subscriber_count', 'kind': 'count', 'value': 'active_subscriber_count', 'volume': 'active_subscriber_count'},
    {'name': 'order_count', 'kind': 'count', 'value': 'order_count', 'volume': 'order_count'},
    {'name': 'cancel_count', 'kind': 'count', 'value': 'cancel_count', 'volume': 'cancel_count'},
    {'name': 'quick_cancel_rate', 'kind': 'rate', 'value': 'case when is_quick_cancel_settled then quick_cancel_rate end', 'volume': 'order_count'},
    {'name': 'delivery_success_rate', 'kind': 'rate', 'value': 'delivery_success_rate', 'volume': 'delivery_count'},
    {'name': 'terminal_failure_rate', 'kind': 'rate', 'value': 'terminal_failure_rate', 'volume': 'delivery_count'},
    {'name': 'complaints_per_10k_subscribers', 'kind': 'rate', 'value': 'complaints_per_10k_subscribers', 'volume': 'active_subscriber_count', 'scale': 10000},
    {'name': 'mean_handling_minutes', 'kind': 'level', 'value': 'mean_handling_minutes', 'volume': 'closed_complaint_count'},
] %}

{{ sudden_changes(
    measured=ref('int_service_health_days_aggregated'),
    period_column='activity_date',
    period_unit='day',
    measures=measures,
    trailing_periods=var('service_health_trailing_days', 28),
    min_history=var('service_health_min_trailing_days', 14),
    k=var('service_health_k', 4),
    min_volume=var('service_health_min_volume', 30),
) }}
