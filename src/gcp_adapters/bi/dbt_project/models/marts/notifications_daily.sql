-- CVC notifications per UTC day and channel: requested, and delivered or failed as CRM
-- reported (the stream's NOTIFICATION_* publications).

select
    cast(occurred_at as date) as day,
    coalesce(notification_channel, 'UNKNOWN') as channel,
    count(*) filter (where status = 'NOTIFICATION_REQUESTED') as requested,
    count(*) filter (where status = 'NOTIFICATION_SENT') as sent,
    count(*) filter (where status = 'NOTIFICATION_FAILED') as failed
from {{ ref('stg_stream') }}
where certificate_id is not null
    and status in ('NOTIFICATION_REQUESTED', 'NOTIFICATION_SENT', 'NOTIFICATION_FAILED')
group by all
