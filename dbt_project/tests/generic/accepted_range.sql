{#- Every non-NULL value of the column lies within [min_value, max_value] (e.g. a rate between 0 and 1). -#}
{% test accepted_range(model, column_name, min_value, max_value) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}

{% endtest %}
