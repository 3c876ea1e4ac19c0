-- Every redemption, reversal of a redemption and rejected redemption the stream published,
-- with the channel and store of the order that redeemed (All_SalesOrder).

with published as (

    select
        event_id,
        operation_payment_id as payment_id,
        certificate_id,
        operation_order_id as order_id,
        case operation_type
            when 'REDEMPTION' then 'REDEMPTION'
            when 'REDEMPTION_REVERSAL' then 'REVERSAL'
            when 'REDEMPTION_ATTEMPT' then 'REJECTED'
        end as kind,
        operation_amount as amount,
        currency,
        reason,
        operation_refund_of as refund_of,
        occurred_at
    from {{ ref('stg_stream') }}
    where certificate_id is not null
        and operation_type in ('REDEMPTION', 'REDEMPTION_REVERSAL', 'REDEMPTION_ATTEMPT')

)

select
    p.payment_id,
    p.certificate_id,
    p.order_id,
    p.kind,
    p.amount,
    p.currency,
    p.reason,
    p.occurred_at,
    o.channel,
    o.store_id,
    p.event_id,
    p.refund_of,
    cast(p.occurred_at as date) as day
from published as p
left join {{ ref('int_orders') }} as o using (order_id)
