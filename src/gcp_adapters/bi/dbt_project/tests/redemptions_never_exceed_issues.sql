-- Per certificate, what was redeemed (net of reversals) never exceeds what was issued.
with per_certificate as (
    select
        certificate_id,
        sum(case when kind = 'REDEMPTION' then amount else 0 end)
            - sum(case when kind = 'REVERSAL' then amount else 0 end) as redeemed_net
    from {{ ref('redemptions') }}
    group by certificate_id
),
issued as (
    select certificate_id, max(amount) as issued
    from {{ ref('certificate_history') }}
    where status = 'ISSUED'
    group by certificate_id
)
select *
from per_certificate
left join issued using (certificate_id)
where redeemed_net > coalesce(issued.issued, 0)
