-- Each day opens with the previous day's closing; the first day opens at zero; days are
-- consecutive.
with ordered as (
    select
        *,
        lag(closing_balance) over (partition by currency order by day) as previous_closing,
        lag(day) over (partition by currency order by day) as previous_day
    from {{ ref('liability_daily') }}
)
select *
from ordered
where (previous_day is null and opening_balance <> 0)
    or (previous_day is not null and (
        opening_balance <> previous_closing or day <> previous_day + 1
    ))
