-- Each payment as its latest message on All_Payments leaves it (AUTHORIZED then CAPTURED is
-- one payment), with whether it paid: authorized or captured, or a certificate's redemption.

select
    payment_id,
    order_id,
    method,
    currency,
    amount,
    event_type as last_event_type,
    occurred_at,
    (event_type in ('PAYMENT_AUTHORIZED', 'PAYMENT_CAPTURED')
        and coalesce(method, '') <> 'GIFT_CERTIFICATE') as is_other_tender,
    (event_type = 'REDEMPTION') as is_certificate_tender
from {{ ref('stg_payments') }}
qualify row_number() over (
    partition by payment_id, event_type = 'REDEMPTION'
    order by occurred_at desc, kafka_partition desc, kafka_offset desc
) = 1
