{#-
    Custom schemas are used as named (staging, intermediate, restricted, marts), not prefixed with the
    target schema: the warehouse has one environment per VASMART_HOME, and the publish step and the
    access rules refer to these names.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
