{#- The column's timestamps fall on midnight (day boundaries): the rows where one does not fail. -#}
{% test at_midnight(model, column_name) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} <> cast(cast({{ column_name }} as date) as {{ dbt.type_timestamp() }})

{% endtest %}
