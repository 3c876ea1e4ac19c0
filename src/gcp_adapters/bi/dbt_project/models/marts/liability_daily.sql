-- The liability roll-forward per UTC day and currency, from the first day with an issue to the
-- last day with any message: closing = opening + issued - redeemed + reversed - refunded -
-- expired - cancelled, and each day opens with the previous day's closing.

with movements as (

    select
        day,
        currency,
        {{ total('issued') }} as issued,
        {{ total('redeemed') }} as redeemed,
        {{ total('reversed') }} as reversed,
        {{ total('refunded') }} as refunded,
        {{ total('expired') }} as expired,
        {{ total('cancelled') }} as cancelled,
        {{ total('other') }} as other,
        coalesce(sum(outstanding_change), 0) as outstanding_change
    from {{ ref('int_certificate_liability') }}
    where currency is not null
    group by day, currency

),

currencies as (

    select currency, min(day) as first_day
    from {{ ref('int_certificate_liability') }}
    where movement_kind = 'issued' and currency is not null
    group by currency

),

last_day as (

    select max(day) as day from (
        select cast(occurred_at as date) as day from {{ ref('stg_stream') }}
        union all
        select cast(occurred_at as date) from {{ ref('stg_sales_orders') }}
        union all
        select cast(occurred_at as date) from {{ ref('stg_payments') }}
        union all
        select cast(occurred_at as date) from {{ ref('stg_clients') }}
    )

),

calendar as (

    select cast(d.day as date) as day, c.currency
    from currencies as c
    cross join last_day as l
    cross join lateral generate_series(
        c.first_day, greatest(l.day, c.first_day), interval 1 day
    ) as d(day)

),

rolled as (

    select
        k.day,
        k.currency,
        coalesce(m.issued, 0) as issued,
        coalesce(m.redeemed, 0) as redeemed,
        coalesce(m.reversed, 0) as reversed,
        coalesce(m.refunded, 0) as refunded,
        coalesce(m.expired, 0) as expired,
        coalesce(m.cancelled, 0) as cancelled,
        coalesce(m.other, 0) as other,
        sum(
            coalesce(m.issued, 0) - coalesce(m.redeemed, 0) + coalesce(m.reversed, 0)
            - coalesce(m.refunded, 0) - coalesce(m.expired, 0) - coalesce(m.cancelled, 0)
            + coalesce(m.other, 0)
        ) over (partition by k.currency order by k.day) as closing_balance,
        sum(coalesce(m.outstanding_change, 0)) over (
            partition by k.currency order by k.day
        ) as outstanding_certificates
    from calendar as k
    left join movements as m using (day, currency)

)

select
    day,
    currency,
    cast(closing_balance - (issued - redeemed + reversed - refunded - expired - cancelled + other)
        as decimal(38, 4)) as opening_balance,
    cast(issued as decimal(38, 4)) as issued,
    cast(redeemed as decimal(38, 4)) as redeemed,
    cast(reversed as decimal(38, 4)) as reversed,
    cast(refunded as decimal(38, 4)) as refunded,
    cast(expired as decimal(38, 4)) as expired,
    cast(cancelled as decimal(38, 4)) as cancelled,
    cast(closing_balance as decimal(38, 4)) as closing_balance,
    cast(outstanding_certificates as bigint) as outstanding_certificates,
    cast(other as decimal(38, 4)) as unexplained
from rolled
