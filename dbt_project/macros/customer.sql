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
