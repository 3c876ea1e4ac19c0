-- Each certificate publication with what GCP owes on the certificate right after it, and the
-- movement of that liability since the certificate's previous publication, by kind.
--
-- GCP owes a certificate's remaining balance while its working state is ACTIVE or
-- REFUND_PENDING (a lock keeps the state it locked: the last state before LOCKED); an expired,
-- cancelled, refunded or fully redeemed certificate owes nothing. The movement is the change of
-- that liability, so the kinds always add up to the balances (the roll-forward holds by
-- construction, and a movement of an unexpected kind shows up in `other`, which the tests
-- require to be zero).

with publications as (

    select
        *,
        last_value(case when state <> 'LOCKED' then state end ignore nulls) over (
            partition by certificate_id order by version
            rows between unbounded preceding and current row
        ) as working_state
    from {{ ref('stg_stream') }}
    where certificate_id is not null

),

owed as (

    select
        *,
        case
            when working_state in ('ACTIVE', 'REFUND_PENDING')
                then coalesce(remaining_balance, 0)
            else 0
        end::decimal(18, 4) as liability_after
    from publications

),

moved as (

    select
        *,
        coalesce(lag(liability_after) over (
            partition by certificate_id order by version
        ), 0)::decimal(18, 4) as liability_before
    from owed

),

classified as (

    select
        *,
        (liability_after - liability_before)::decimal(18, 4) as movement,
        case
            when status = 'ISSUED' then 'issued'
            when operation_type = 'REDEMPTION' then 'redeemed'
            when operation_type = 'REDEMPTION_REVERSAL' then 'reversed'
            when status = 'REFUNDED' then 'refunded'
            when status = 'EXPIRED' then 'expired'
            when status = 'CANCELLED' then 'cancelled'
            else 'other'
        end as movement_kind
    from moved

)

select
    event_id,
    certificate_id,
    version,
    status,
    state,
    working_state,
    currency,
    occurred_at,
    cast(occurred_at as date) as day,
    liability_before,
    liability_after,
    movement,
    movement_kind,
    case when movement_kind = 'issued' then movement else 0 end::decimal(18, 4) as issued,
    case when movement_kind = 'redeemed' then -movement else 0 end::decimal(18, 4) as redeemed,
    case when movement_kind = 'reversed' then movement else 0 end::decimal(18, 4) as reversed,
    case when movement_kind = 'refunded' then -movement else 0 end::decimal(18, 4) as refunded,
    case when movement_kind = 'expired' then -movement else 0 end::decimal(18, 4) as expired,
    case when movement_kind = 'cancelled' then -movement else 0 end::decimal(18, 4) as cancelled,
    case when movement_kind = 'other' then movement else 0 end::decimal(18, 4) as other,
    (liability_after > 0)::integer - (liability_before > 0)::integer as outstanding_change
from classified
