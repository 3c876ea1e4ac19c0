-- Orders that used a certificate as tender, per UTC day the order was first seen and its sales
-- channel: how much the certificates paid (REDEMPTION payments) and how much other tender
-- (authorized or captured payments by card, cash, SBP, ...). Cancelled orders are left out.

with paid as (

    select
        order_id,
        {{ total('case when is_certificate_tender then amount end') }} as certificate_amount,
        {{ total('case when is_other_tender then amount end') }} as other_tender_amount
    from {{ ref('int_payments') }}
    group by order_id

)

select
    o.first_day as day,
    coalesce(o.channel, 'UNKNOWN') as channel,
    count(*) as orders_with_certificates,
    {{ total('coalesce(p.certificate_amount, 0)') }} as certificate_amount,
    {{ total('coalesce(p.other_tender_amount, 0)') }} as other_tender_amount
from {{ ref('int_orders') }} as o
left join paid as p using (order_id)
where o.redemption_lines > 0 and o.last_event_type <> 'ORDER_CANCELLED'
group by all
