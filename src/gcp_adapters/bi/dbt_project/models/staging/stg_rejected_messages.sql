-- Landed messages the models cannot use: not a JSON object (flagged at landing), or without
-- the fields that identify them. Kept, counted, never fatal.

with landed as (

    select
        topic,
        kafka_partition,
        kafka_offset,
        problem,
        value,
        case
            when topic = '{{ var("topic_stream") }}' then 'eventId, status, occurredAt'
            when topic = '{{ var("topic_sales_order") }}' then 'messageId, orderId'
            when topic = '{{ var("topic_payments") }}' then 'messageId, paymentId, orderId'
            when topic = '{{ var("topic_clients") }}' then 'messageId'
        end as required
    from {{ source('landing', 'messages') }}

),

checked as (

    select
        topic,
        kafka_partition,
        kafka_offset,
        coalesce(problem, case
            when required = 'eventId, status, occurredAt' and (
                value ->> 'eventId' is null or value ->> 'status' is null
                or {{ utc("value ->> 'occurredAt'") }} is null
            ) then 'missing or bad ' || required
            when required like 'messageId%' and (
                value ->> 'messageId' is null
                or (required like '%orderId' and value ->> 'orderId' is null)
                or (required like '%paymentId%' and value ->> 'paymentId' is null)
            ) then 'missing ' || required
        end) as problem
    from landed

)

select topic, kafka_partition, kafka_offset, problem
from checked
where problem is not null
