{#-
    sudden_changes(measured, period_column, period_unit, measures, trailing_periods, min_history, k, min_volume)

    Compares each service's measures, period by period, with the same measure over the trailing periods
    (the `trailing_periods` periods before it, not the period itself) and flags sudden changes. One row per
    service, period and measure of `measures` that has a value that period; `measures` is a list of dicts:
        name    the measure's name (as the mart column it describes)
        kind    'count' (a number of events), 'rate' (a share of `volume`, times `scale`) or 'level'
                (an average or an amount)
        value   SQL expression of the measure on `measured` (NULL: not compared that period)
        volume  SQL expression of the events behind the value (counts: the value itself)
        scale   rates only: 1 for a share, 10000 for "per 10,000"

    The rule: with m = median of the trailing values (at least `min_history` of them, NULLs not counted) and
    s = max(1.4826 x MAD, noise floor) the robust standard deviation (MAD = median absolute deviation of the
    trailing values from m), a period is a sudden change when |value - m| > k x s and its volume reaches
    `min_volume` (counts: the larger of the value and m). The noise floor keeps quiet series from flagging
    ordinary chance: sqrt(max(m, 1)) for counts (Poisson), scale x sqrt(p(1 - p) / n) for rates with
    p = (m / scale x n + 1) / (n + 2) and n the period's volume (binomial, smoothed so that 0% and 100% have
    spread too), and 10% of |m| for levels.

    The trailing window is reached through equality joins on (service, measure, period number - offset),
    which keeps the comparison linear in the number of periods.
-#}
{% macro sudden_changes(measured, period_column, period_unit, measures, trailing_periods, min_history, k, min_volume) %}

with

measured as (

    select * from {{ measured }}

),

measure_values as (

    {%- for measure in measures %}

    select
        service_code,
        {{ period_column }} as period_date,
        {{ dbt.datediff("cast('2000-01-01' as date)", period_column, period_unit) }} as period_number,
        '{{ measure.name }}' as measure_name,
        '{{ measure.kind }}' as measure_kind,
        cast({{ measure.value }} as double) as measure_value,
        cast({{ measure.volume }} as double) as measure_volume,
        cast({{ measure.get('scale', 1) }} as double) as value_scale

    from measured
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

offsets as (

    {{ dbt.generate_series(trailing_periods) }}

),

windows as (

    select
        measure_values.service_code,
        measure_values.period_date,
        measure_values.measure_name,
        measure_values.period_number - offsets.generated_number as trailing_period_number

    from measure_values
    cross join offsets

),

trailing_values as (

    select
        windows.service_code,
        windows.period_date,
        windows.measure_name,
        trailing_period.measure_value as trailing_value

    from windows
    inner join measure_values as trailing_period
        on windows.service_code = trailing_period.service_code
        and windows.measure_name = trailing_period.measure_name
        and windows.trailing_period_number = trailing_period.period_number
    where trailing_period.measure_value is not null

),

trailing_medians as (

    select
        service_code,
        period_date,
        measure_name,
        {{ vasmart.median('trailing_value') }} as trailing_median,
        count(*) as trailing_count

    from trailing_values
    group by service_code, period_date, measure_name

),

trailing_deviations as (

    select
        trailing_values.service_code,
        trailing_values.period_date,
        trailing_values.measure_name,
        {{ vasmart.median('abs(trailing_values.trailing_value - trailing_medians.trailing_median)') }}
            as trailing_mad

    from trailing_values
    inner join trailing_medians
        on trailing_values.service_code = trailing_medians.service_code
        and trailing_values.period_date = trailing_medians.period_date
        and trailing_values.measure_name = trailing_medians.measure_name
    group by trailing_values.service_code, trailing_values.period_date, trailing_values.measure_name

),

compared as (

    select
        measure_values.*,
        trailing_medians.trailing_median,
        coalesce(trailing_medians.trailing_count, 0) as trailing_count,
        1.4826 * trailing_deviations.trailing_mad as robust_deviation,
        case measure_values.measure_kind
            when 'count' then sqrt(case when trailing_medians.trailing_median > 1 then trailing_medians.trailing_median else 1 end)
            when 'rate' then measure_values.value_scale * sqrt(
                ((trailing_medians.trailing_median / measure_values.value_scale * measure_values.measure_volume + 1) / (measure_values.measure_volume + 2))
                * (1 - (trailing_medians.trailing_median / measure_values.value_scale * measure_values.measure_volume + 1) / (measure_values.measure_volume + 2))
                / nullif(measure_values.measure_volume, 0)
            )
            else 0.1 * abs(trailing_medians.trailing_median)
        end as noise_floor,
        case measure_values.measure_kind
            when 'count' then
                case when measure_values.measure_value > trailing_medians.trailing_median then measure_values.measure_value
                     else trailing_medians.trailing_median end
            else measure_values.measure_volume
        end as volume_for_threshold

    from measure_values
    left join trailing_medians
        on measure_values.service_code = trailing_medians.service_code
        and measure_values.period_date = trailing_medians.period_date
        and measure_values.measure_name = trailing_medians.measure_name
    left join trailing_deviations
        on measure_values.service_code = trailing_deviations.service_code
        and measure_values.period_date = trailing_deviations.period_date
        and measure_values.measure_name = trailing_deviations.measure_name

),

scaled as (

    select
        *,
        case when robust_deviation > noise_floor then robust_deviation else noise_floor end as deviation_scale

    from compared

),

final as (

    select
        ---------- ids
        service_code,
        period_date as {{ period_column }},
        measure_name,

        ---------- attributes
        measure_kind,

        ---------- measures
        measure_value,
        measure_volume,
        trailing_median,
        cast(trailing_count as integer) as trailing_count,
        robust_deviation,
        noise_floor,
        deviation_scale,
        (measure_value - trailing_median) / nullif(deviation_scale, 0) as robust_z_score,

        ---------- booleans
        coalesce(
            measure_value is not null
            and trailing_count >= {{ min_history }}
            and volume_for_threshold >= {{ min_volume }}
            and abs(measure_value - trailing_median) > {{ k }} * deviation_scale,
            false
        ) as is_sudden_change

    from scaled
    where measure_value is not null

)

select * from final

{% endmacro %}
