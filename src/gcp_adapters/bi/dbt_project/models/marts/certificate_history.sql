-- SCD type 2: one row per certificate and published version, valid from its occurredAt until
-- the next publication's. "What was this certificate at instant T": valid_from <= T < valid_to
-- (valid_to null: still current). Pool publications (no certificate) are not here.

with versions as (

    select
        s.certificate_id,
        s.version,
        s.event_id,
        s.status,
        s.state,
        s.redeemable,
        s.pool,
        s.channel,
        s.order_id,
        s.client_id,
        s.currency,
        s.amount,
        s.remaining_balance,
        s.issued_at,
        s.expires_at,
        s.masked_number,
        s.reason,
        s.notification_channel,
        s.notification_status,
        l.liability_after as outstanding_balance,
        s.occurred_at as valid_from,
        lead(s.occurred_at) over (
            partition by s.certificate_id order by s.version
        ) as valid_to
    from {{ ref('stg_stream') }} as s
    inner join {{ ref('int_certificate_liability') }} as l using (event_id)
    where s.certificate_id is not null

)

select *, valid_to is null as is_current
from versions
