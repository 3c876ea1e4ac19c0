{#- The landed messages of one topic (named by its var) that are JSON objects. -#}
{% macro landed(topic_var) -%}
    select kafka_partition, kafka_offset, value
    from {{ source('landing', 'messages') }}
    where topic = '{{ var(topic_var) }}' and problem is null
{%- endmacro %}

{#- Keeps the first landed row of each `key`: a message delivered twice counts once. -#}
{% macro first_landed(key) -%}
    qualify row_number() over (partition by {{ key }} order by kafka_partition, kafka_offset) = 1
{%- endmacro %}
