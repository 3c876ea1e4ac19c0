-- All_Payments, one row per business fact (deduplicated by messageId), typed.

with parsed as (

    {{ landed('topic_payments', '{
        "messageId": "VARCHAR", "eventType": "VARCHAR", "occurredAt": "VARCHAR",
        "paymentId": "VARCHAR", "orderId": "VARCHAR", "method": "VARCHAR",
        "amount": "VARCHAR", "currency": "VARCHAR", "refundOf": "VARCHAR",
        "holdId": "VARCHAR"
    }') }}

)

select
    {{ message_envelope() }},
    m.paymentId as payment_id,
    m.orderId as order_id,
    m.method as method,
    {{ money('m.amount') }} as amount,
    m.currency as currency,
    m.refundOf as refund_of,
    m.holdId as hold_id,
    kafka_partition,
    kafka_offset
from parsed
where m.messageId is not null and m.paymentId is not null and m.orderId is not null
{{ first_landed('m.messageId') }}
