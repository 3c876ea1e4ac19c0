-- Each cohort's issued amount is what became of it: redeemed, refunded, expired, outstanding
-- (cancelled certificates are the rest).
with cancelled as (
    select
        c.issue_month,
        c.currency,
        sum(m.cancelled) as cancelled
    from {{ ref('int_certificate_liability') }} as m
    inner join (
        select
            certificate_id,
            cast(date_trunc('month', min(occurred_at) filter (where movement_kind = 'issued'))
                as date) as issue_month,
            any_value(currency) as currency
        from {{ ref('int_certificate_liability') }}
        group by certificate_id
    ) as c using (certificate_id)
    group by all
)
select *
from {{ ref('breakage_cohorts') }} as b
left join cancelled as c using (issue_month, currency)
where b.issued_amount <> b.redeemed_amount + b.refunded_amount + b.expired_amount
    + b.outstanding_amount + coalesce(c.cancelled, 0)
