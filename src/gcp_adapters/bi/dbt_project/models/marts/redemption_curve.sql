-- The redemption curve of each issue-month cohort: the share of its issued amount redeemed
-- (net of reversals) by the end of each month since issue. Where it flattens below 1 is the
-- breakage.

with cohort_movements as (

    select
        b.issue_month,
        m.currency,
        date_diff('month', b.issue_month, cast(date_trunc('month', m.occurred_at) as date))
            as months_since_issue,
        m.redeemed - m.reversed as redeemed_net
    from {{ ref('int_certificate_liability') }} as m
    inner join (
        select
            certificate_id,
            cast(date_trunc('month', min(occurred_at) filter (where movement_kind = 'issued'))
                as date) as issue_month
        from {{ ref('int_certificate_liability') }}
        group by certificate_id
    ) as b using (certificate_id)
    where b.issue_month is not null

),

monthly as (

    select issue_month, currency, months_since_issue, sum(redeemed_net) as redeemed_net
    from cohort_movements
    group by all

)

select
    m.issue_month,
    m.currency,
    m.months_since_issue,
    cast(sum(m.redeemed_net) over (
        partition by m.issue_month, m.currency order by m.months_since_issue
    ) as decimal(38, 4)) as cumulative_redeemed,
    c.issued_amount,
    cast(case when c.issued_amount > 0 then sum(m.redeemed_net) over (
        partition by m.issue_month, m.currency order by m.months_since_issue
    ) / c.issued_amount else 0 end as decimal(18, 6)) as cumulative_redemption_rate
from monthly as m
inner join {{ ref('breakage_cohorts') }} as c using (issue_month, currency)
