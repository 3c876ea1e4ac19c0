-- Each order as its latest message on All_SalesOrder states it (every message repeats the
-- whole order), with the day it was first seen.

select
    order_id,
    channel,
    store_id,
    client_id,
    currency,
    event_type as last_event_type,
    redemption_lines,
    redemption_lines_amount,
    certificate_lines,
    min(occurred_at) over (partition by order_id) as first_occurred_at,
    cast(min(occurred_at) over (partition by order_id) as date) as first_day
from {{ ref('stg_sales_orders') }}
qualify row_number() over (
    partition by order_id order by occurred_at desc, kafka_partition desc, kafka_offset desc
) = 1
