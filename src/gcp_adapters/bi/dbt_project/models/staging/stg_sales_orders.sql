-- All_SalesOrder, one row per business fact (deduplicated by messageId: a redelivery carries
-- the same one), typed; each message is the order's whole state after a change.

with parsed as (

    {{ landed('topic_sales_order', '{
        "messageId": "VARCHAR", "eventType": "VARCHAR", "occurredAt": "VARCHAR",
        "orderId": "VARCHAR", "channel": "VARCHAR", "storeId": "VARCHAR",
        "customer": {"clientId": "VARCHAR"},
        "totalAmount": "VARCHAR", "currency": "VARCHAR",
        "giftCertificates": [{"certificateId": "VARCHAR", "amount": "VARCHAR",
                              "validityDays": "BIGINT", "notificationChannel": "VARCHAR"}],
        "redemptions": [{"amount": "VARCHAR"}],
        "refunds": [{"certificateId": "VARCHAR", "reason": "VARCHAR"}]
    }') }}

)

select
    {{ message_envelope() }},
    m.orderId as order_id,
    m.channel as channel,
    m.storeId as store_id,
    m.customer.clientId as client_id,
    {{ money('m.totalAmount') }} as total_amount,
    m.currency as currency,
    len(coalesce(m.giftCertificates, [])) as certificate_lines,
    len(coalesce(m.redemptions, [])) as redemption_lines,
    len(coalesce(m.refunds, [])) as refund_lines,
    cast(coalesce(list_sum(
        list_transform(m.redemptions, lambda r: {{ money("r.amount") }})
    ), 0) as decimal(38, 4)) as redemption_lines_amount,
    kafka_partition,
    kafka_offset
from parsed
where m.messageId is not null and m.orderId is not null
{{ first_landed('m.messageId') }}
