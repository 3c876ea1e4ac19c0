-- Certificates issued per UTC day, sales channel and currency.

select
    cast(occurred_at as date) as day,
    coalesce(channel, 'UNKNOWN') as channel,
    currency,
    count(*) as certificates,
    {{ total('coalesce(operation_amount, amount)') }} as amount
from {{ ref('stg_stream') }}
where status = 'ISSUED' and certificate_id is not null
group by all
