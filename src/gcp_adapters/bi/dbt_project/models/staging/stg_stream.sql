-- GiftCertificates.Stream, one row per publication (deduplicated by eventId: the relay
-- publishes at least once), typed. Certificate publications and pool publications
-- (ISSUE_BLOCKED, POOL_LOW: certificate fields null, keyed by the pool) alike.

with parsed as (

    {{ landed('topic_stream', '{
        "eventId": "VARCHAR", "status": "VARCHAR", "occurredAt": "VARCHAR",
        "schemaVersion": "BIGINT", "version": "BIGINT",
        "certificateId": "VARCHAR", "maskedNumber": "VARCHAR", "pool": "VARCHAR",
        "state": "VARCHAR", "redeemable": "BOOLEAN", "channel": "VARCHAR",
        "orderId": "VARCHAR", "clientId": "VARCHAR", "amount": "VARCHAR",
        "currency": "VARCHAR", "remainingBalance": "VARCHAR", "issuedAt": "VARCHAR",
        "expiresAt": "VARCHAR", "reason": "VARCHAR",
        "notification": {"notificationId": "VARCHAR", "channel": "VARCHAR",
                         "status": "VARCHAR", "attempt": "BIGINT", "error": "VARCHAR"},
        "refund": {"status": "VARCHAR", "paymentId": "VARCHAR", "amount": "VARCHAR"},
        "operation": {"type": "VARCHAR", "orderId": "VARCHAR", "paymentId": "VARCHAR",
                      "refundOf": "VARCHAR", "holdId": "VARCHAR", "amount": "VARCHAR"},
        "audit": {"updatedBy": "VARCHAR", "causationId": "VARCHAR"}
    }') }}

),

typed as (

    select
        m.eventId as event_id,
        m.status as status,
        {{ utc('m.occurredAt') }} as occurred_at,
        m.version as version,
        m.schemaVersion as schema_version,
        m.certificateId as certificate_id,
        m.maskedNumber as masked_number,
        m.pool as pool,
        m.state as state,
        coalesce(m.redeemable, false) as redeemable,
        m.channel as channel,
        m.orderId as order_id,
        m.clientId as client_id,
        m.currency as currency,
        {{ money('m.amount') }} as amount,
        {{ money('m.remainingBalance') }} as remaining_balance,
        {{ utc('m.issuedAt') }} as issued_at,
        {{ utc('m.expiresAt') }} as expires_at,
        m.reason as reason,
        m.notification.notificationId as notification_id,
        m.notification.channel as notification_channel,
        m.notification.status as notification_status,
        m.notification.attempt as notification_attempt,
        m.notification.error as notification_error,
        m.refund.status as refund_status,
        m.refund.paymentId as refund_payment_id,
        {{ money('m.refund.amount') }} as refund_amount,
        m.operation.type as operation_type,
        m.operation.orderId as operation_order_id,
        m.operation.paymentId as operation_payment_id,
        m.operation.refundOf as operation_refund_of,
        m.operation.holdId as operation_hold_id,
        {{ money('m.operation.amount') }} as operation_amount,
        m.audit.updatedBy as updated_by,
        m.audit.causationId as causation_id,
        kafka_partition,
        kafka_offset
    from parsed

)

select *
from typed
where event_id is not null and status is not null and occurred_at is not null
{{ first_landed('event_id') }}
