-- All_Clients, one row per business fact (deduplicated by messageId), typed; the gift
-- certificate notification block flattened (null for a profile change without one).

with parsed as (

    {{ landed('topic_clients', '{
        "messageId": "VARCHAR", "eventType": "VARCHAR", "occurredAt": "VARCHAR",
        "clientId": "VARCHAR",
        "giftCertificateNotification": {"certificateId": "VARCHAR",
            "notificationId": "VARCHAR", "result": "VARCHAR", "channel": "VARCHAR",
            "error": "VARCHAR"}
    }') }}

)

select
    {{ message_envelope() }},
    m.clientId as client_id,
    m.giftCertificateNotification.certificateId as certificate_id,
    m.giftCertificateNotification.notificationId as notification_id,
    m.giftCertificateNotification.result as notification_result,
    m.giftCertificateNotification.channel as notification_channel,
    m.giftCertificateNotification.error as notification_error,
    kafka_partition,
    kafka_offset
from parsed
where m.messageId is not null
{{ first_landed('m.messageId') }}
