-- The pools' publications: ISSUE_BLOCKED (a reservation found the pool empty) and POOL_LOW
-- (its available count fell below the low watermark).

select
    pool,
    status,
    occurred_at,
    reason,
    event_id,
    cast(occurred_at as date) as day
from {{ ref('stg_stream') }}
where certificate_id is null and status in ('ISSUE_BLOCKED', 'POOL_LOW')
