-- closing = opening + issued - redeemed + reversed - refunded - expired - cancelled, every day.
select *
from {{ ref('liability_daily') }}
where closing_balance <> opening_balance + issued - redeemed + reversed - refunded - expired
    - cancelled
    or unexplained <> 0
