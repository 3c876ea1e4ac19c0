-- Per month of issue and currency: what was issued, and what became of it so far (redeemed
-- net of reversals, refunded, expired: the breakage, still outstanding).

with certificates as (

    select
        certificate_id,
        any_value(currency) as currency,
        cast(date_trunc('month', min(occurred_at) filter (where movement_kind = 'issued'))
            as date) as issue_month,
        sum(issued) as issued,
        sum(redeemed) - sum(reversed) as redeemed_net,
        sum(refunded) as refunded,
        sum(expired) as expired,
        sum(movement) as outstanding
    from {{ ref('int_certificate_liability') }}
    group by certificate_id

)

select
    issue_month,
    currency,
    count(*) as certificates,
    {{ total('issued') }} as issued_amount,
    {{ total('redeemed_net') }} as redeemed_amount,
    {{ total('refunded') }} as refunded_amount,
    {{ total('expired') }} as expired_amount,
    {{ total('outstanding') }} as outstanding_amount,
    cast(case when sum(issued) > 0 then sum(redeemed_net) / sum(issued) else 0 end
        as decimal(18, 6)) as redemption_rate
from certificates
where issue_month is not null
group by all
