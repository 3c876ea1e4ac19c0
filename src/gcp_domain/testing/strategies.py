"""Hypothesis strategies for GCP's domain values and for whole lifecycle command sequences."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Final

from hypothesis import strategies as st

from gcp_domain.cause import Cause
from gcp_domain.money import DEFAULT_CURRENCY, Money, minor_digits
from gcp_domain.numbers import LENGTH, CertificateNumber
from gcp_domain.testing.commands import (
    AdvanceClock,
    Cancel,
    CompleteRefund,
    DiscloseCvc,
    Expire,
    FailRefund,
    Issue,
    LifecycleCommand,
    Lock,
    RecordNotificationResult,
    Redeem,
    RefundNeedsDetails,
    RejectRedemption,
    ReleaseReservation,
    RequestNotification,
    Reserve,
    ReverseRedemption,
    StartRefund,
    Unlock,
)
from gcp_domain.vocabulary import NotificationChannel, RejectionReason

# RUB (the default), two other two-digit currencies, one with none and one with three.
CURRENCIES: Final = ("RUB", "USD", "EUR", "JPY", "KWD")
ACTORS: Final = ("kafka:All_Payments", "kafka:All_SalesOrder", "kafka:All_Clients",
                 "support:desk", "crm:notifier", "timer:expiry", "timer:reservation")  # fmt: skip


def currencies() -> st.SearchStrategy[str]:
    return st.sampled_from(CURRENCIES)


def _minor_units(value: Decimal | int | str, digits: int, rounding: str) -> int:
    return int(Decimal(value).scaleb(digits).to_integral_value(rounding=rounding))


def money(
    currency: str | st.SearchStrategy[str] | None = None,
    *,
    min_value: Decimal | int | str = 0,
    max_value: Decimal | int | str = 100_000,
) -> st.SearchStrategy[Money]:
    """Money with exactly the currency's minor digits ("0.01" RUB, "1" JPY, "0.001" KWD).

    `currency` is a code, a strategy of codes, or None for RUB; `currencies()` draws one of
    several. Bounds are in major units and inclusive (rounded inward to the currency's digits).
    """
    if currency is None:
        currency = DEFAULT_CURRENCY
    codes = st.just(currency) if isinstance(currency, str) else currency

    def of_currency(code: str) -> st.SearchStrategy[Money]:
        digits = minor_digits(code)
        low = _minor_units(min_value, digits, ROUND_CEILING)
        high = _minor_units(max_value, digits, ROUND_FLOOR)
        return st.integers(min_value=max(low, 0), max_value=high).map(
            lambda units: Money(Decimal(units).scaleb(-digits), code)
        )

    return codes.flatmap(of_currency)


def positive_money(
    currency: str | st.SearchStrategy[str] | None = None,
    *,
    max_value: Decimal | int | str = 100_000,
) -> st.SearchStrategy[Money]:
    """Money of at least one minor unit: a face value, a redemption, a refund."""
    return money(currency, min_value=Decimal("0.001"), max_value=max_value)


def certificate_numbers() -> st.SearchStrategy[CertificateNumber]:
    """Valid printed numbers: 15 random digits completed with their Luhn check digit."""
    body = st.text(alphabet="0123456789", min_size=LENGTH - 1, max_size=LENGTH - 1)
    return body.map(CertificateNumber.from_body)


def causes() -> st.SearchStrategy[Cause]:
    """Who did it (an actor of the contract's kinds), which message, which conversation."""
    return st.builds(
        Cause,
        actor=st.sampled_from(ACTORS),
        causation_id=st.uuids().map(str),
        correlation_id=st.one_of(order_ids(), st.uuids().map(str)),
    )


def payment_ids(prefix: str = "PAY", *, distinct: int | None = None) -> st.SearchStrategy[str]:
    """`PAY-17`. With `distinct=n` only n different ids are drawn, so repeats are likely (to
    exercise deduplication); otherwise repeats are rare."""
    upper = distinct if distinct is not None else 10**9
    return st.integers(min_value=1, max_value=upper).map(lambda n: f"{prefix}-{n}")


def order_ids(*, distinct: int | None = None) -> st.SearchStrategy[str]:
    channels = st.sampled_from(("WEB", "POS"))
    upper = distinct if distinct is not None else 10**6
    numbers = st.integers(min_value=1, max_value=upper)
    return st.tuples(channels, numbers).map(lambda pair: f"{pair[0]}-{pair[1]}")


def notification_ids(*, distinct: int | None = None) -> st.SearchStrategy[str]:
    return payment_ids("NOTE", distinct=distinct)


def command_sequences(
    currency: str | st.SearchStrategy[str] | None = None,
    *,
    min_size: int = 0,
    max_size: int = 30,
    issued_first: bool | None = None,
) -> st.SearchStrategy[list[LifecycleCommand]]:
    """Lists of lifecycle commands for one certificate, for use without the state machine
    (run them with `commands.run_commands`).

    Ids come from small sets so that repeats, duplicates and reversals of earlier redemptions
    happen often. `issued_first=True` starts every list with a reservation and an issue (the
    interesting part of the lifecycle comes after it; those two come on top of `max_size`);
    None starts with one half of the time.
    """
    if currency is None:
        currency = DEFAULT_CURRENCY
    codes = st.just(currency) if isinstance(currency, str) else currency
    return codes.flatmap(
        lambda code: _sequences(code, min_size=min_size, max_size=max_size, issued=issued_first)
    )


def _sequences(
    code: str, *, min_size: int, max_size: int, issued: bool | None
) -> st.SearchStrategy[list[LifecycleCommand]]:
    other = "USD" if code == "RUB" else "RUB"
    amounts = money(code, max_value=5_000) | money(other, max_value=100)
    positive = positive_money(code, max_value=5_000)
    payments = payment_ids(distinct=4)
    refunds = payment_ids("REF", distinct=2)
    reversals = payment_ids("RV", distinct=3)
    notes = notification_ids(distinct=3)
    orders = st.sampled_from(("WEB-1", "WEB-2"))
    optional_orders = st.none() | orders
    commands: st.SearchStrategy[LifecycleCommand] = st.one_of(
        st.builds(Reserve, order_id=optional_orders, minutes=st.integers(1, 60)),
        st.builds(ReleaseReservation),
        st.builds(
            Issue,
            order_id=orders,
            amount=money(code, max_value=5_000),
            validity_days=st.integers(1, 400),
            notification_channel=st.sampled_from(NotificationChannel),
        ),
        st.builds(RequestNotification, notification_id=notes),
        st.builds(DiscloseCvc, notification_id=notes),
        st.builds(
            RecordNotificationResult,
            notification_id=notes,
            sent=st.booleans(),
            error=st.none() | st.just("mailbox full"),
        ),
        st.builds(Redeem, payment_id=payments, amount=amounts),
        st.builds(
            RejectRedemption,
            payment_id=payments,
            amount=amounts,
            reason=st.sampled_from(RejectionReason),
        ),
        st.builds(
            ReverseRedemption,
            refund_payment_id=reversals,
            redemption_payment_id=payments,
            amount=amounts,
        ),
        st.builds(StartRefund, payment_id=refunds, amount=st.none() | amounts),
        st.builds(RefundNeedsDetails, payment_id=refunds),
        st.builds(CompleteRefund, payment_id=refunds, amount=positive),
        st.builds(FailRefund, payment_id=refunds),
        st.builds(Lock, reason=st.sampled_from(("fraud check", " "))),
        st.builds(Unlock),
        st.builds(
            AdvanceClock,
            delta=st.integers(0, 500 * 24).map(lambda hours: timedelta(hours=hours)),
        ),
        st.builds(Expire),
        st.builds(Cancel),
    )
    body = st.lists(commands, min_size=min_size, max_size=max_size)
    if issued is False:
        return body

    def reserve_and_issue(order: str, amount: Money, days: int) -> list[LifecycleCommand]:
        return [Reserve(order_id=order), Issue(order_id=order, amount=amount, validity_days=days)]

    def joined(
        pair: tuple[list[LifecycleCommand], list[LifecycleCommand]],
    ) -> list[LifecycleCommand]:
        return [*pair[0], *pair[1]]

    start = st.builds(reserve_and_issue, orders, positive, st.integers(1, 400))
    with_start = st.tuples(start, body).map(joined)
    if issued is True:
        return with_start
    return st.one_of(with_start, body)
