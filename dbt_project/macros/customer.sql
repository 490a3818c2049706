{#- Subscriber attributes derived the same way in dim_subscriber and the month-end customer view. -#}

{#- Age band from the year of birth, as the age reached in the as-of date's year: UNDER_18, 18_24, 25_34,
    35_44, 45_54, 55_64, 65_PLUS; UNKNOWN without a year of birth or for an age outside 0..119. -#}
{% macro age_band(birth_year, as_of_date) -%}
    case
        when {{ birth_year }} is null then 'UNKNOWN'
        when extract(year from {{ as_of_date }}) - {{ birth_year }} < 0 then 'UNKNOWN'
        when extract(year from {{ as_of_date }}) - {{ birth_year }} < 18 then 'UNDER_18'
        when extract(year from {{ as_of_date }}) - {{ birth_year }} < 25 then '18_24'
        when extract(year from {{ as_of_date }}) - {{ birth_year }} < 35 then '25_34'
        when extract(year from {{ as_of_date }}) - {{ birth_year }} < 45 then '35_44'
        when extract(year from {{ as_of_date }}) - {{ birth_year }} < 55 then '45_54'
        when extract(year from {{ as_of_date }}) - {{ birth_year }} < 65 then '55_64'
        when extract(year from {{ as_of_date }}) - {{ birth_year }} < 120 then '65_PLUS'
        else 'UNKNOWN'
    end
{%- endmacro %}

{#- Whole calendar months from one date to a later one (a month counts once its day of month is reached:
    2026-01-15 to 2026-03-14 is 1, to 2026-03-15 is 2); 0 when the end is not later; NULL if either is NULL. -#}
{% macro completed_months(from_date, to_date) -%}
    case
        when {{ from_date }} is not null and {{ to_date }} is not null then greatest(
            (extract(year from {{ to_date }}) * 12 + extract(month from {{ to_date }}))
            - (extract(year from {{ from_date }}) * 12 + extract(month from {{ from_date }}))
            - case when extract(day from {{ to_date }}) < extract(day from {{ from_date }}) then 1 else 0 end,
            0
        )
    end
{%- endmacro %}

{#- A month's position on a continuous month axis (year * 12 + month), for window frames over months. -#}
{% macro month_index(month_date) -%}
    (extract(year from {{ month_date }}) * 12 + extract(month from {{ month_date }}))
{%- endmacro %}

{#- The first month an incremental-by-month customer model must (re)build: on a full build every month; on an
    incremental run the first month of int_customer_months (`months`) whose inputs_written_at differs from the
    one the model's rows of that month were built from (or that has no rows yet): that month and every later
    one are rebuilt (delete+insert on month_start_date). With `pseudonyms` (a relation of user_pseudonym), a
    model whose stored pseudonyms are not those of the current key is rebuilt entirely. `incremental` overrides
    is_incremental() (for the incremental_by_month materialization, which dbt's check does not know). -#}
{% macro first_month_to_build(months, pseudonyms=none, incremental=none) -%}
    {%- if (is_incremental() if incremental is none else incremental) -%}
    (
        select
            {% if pseudonyms is not none -%}
            case
                when exists (select 1 from {{ this }}) and not exists (
                    select 1 from {{ pseudonyms }}
                    where user_pseudonym = (select user_pseudonym from {{ this }} limit 1)
                ) then cast('1900-01-01' as date)
                else coalesce(min(months.month_start_date), cast('9999-12-31' as date))
            end
            {%- else -%}
            coalesce(min(months.month_start_date), cast('9999-12-31' as date))
            {%- endif %}
        from {{ months }} as months
        left join (
            select month_start_date, max(inputs_written_at) as inputs_written_at
            from {{ this }}
            group by month_start_date
        ) as built
            on months.month_start_date = built.month_start_date
        where built.month_start_date is null
            or months.inputs_written_at is null
            or built.inputs_written_at is null
            or built.inputs_written_at <> months.inputs_written_at
    )
    {%- else -%}
    cast('1900-01-01' as date)
    {%- endif -%}
{%- endmacro %}
