-- The last day's closing per currency is what the current certificates still hold, and its
-- outstanding_certificates is how many hold something.
with last_day as (
    select currency, closing_balance, outstanding_certificates
    from {{ ref('liability_daily') }}
    qualify row_number() over (partition by currency order by day desc) = 1
),
held as (
    select
        currency,
        sum(outstanding_balance) as balance,
        count(*) filter (where outstanding_balance > 0) as certificates
    from {{ ref('certificate_history') }}
    where is_current
    group by currency
)
select *
from last_day
full outer join held using (currency)
where coalesce(last_day.closing_balance, 0) <> coalesce(held.balance, 0)
    or coalesce(last_day.outstanding_certificates, 0) <> coalesce(held.certificates, 0)
