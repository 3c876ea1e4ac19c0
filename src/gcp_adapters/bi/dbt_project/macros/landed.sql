{#- The landed JSON objects of one topic (named by its var), each parsed by `shape` (a
    json_transform structure) into the column `m`, beside its partition and offset. -#}
{% macro landed(topic_var, shape) -%}
    select kafka_partition, kafka_offset, json_transform(value, '{{ shape }}') as m
    from {{ source('landing', 'messages') }}
    where topic = '{{ var(topic_var) }}' and problem is null
{%- endmacro %}

{#- The fields every inbound message carries (CONTRACTS.md, "Conventions"). -#}
{% macro message_envelope() -%}
    m.messageId as message_id,
    m.eventType as event_type,
    {{ utc('m.occurredAt') }} as occurred_at
{%- endmacro %}

{#- Keeps the first landed row of each `key`: a message delivered twice counts once. -#}
{% macro first_landed(key) -%}
    qualify row_number() over (partition by {{ key }} order by kafka_partition, kafka_offset) = 1
{%- endmacro %}
