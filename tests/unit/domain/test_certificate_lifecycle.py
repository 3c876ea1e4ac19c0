"""GiftCertificate: creation, reservation, issue, expiry and cancellation."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from tests.unit.domain.conftest import ISSUED_STATES, Recorded

from gcp_domain import (
    Cause,
    CertificateNumber,
    CertificateState,
    GiftCertificate,
    Money,
    NotificationChannel,
    Recipient,
)
from gcp_domain.errors import InvalidCommand, TransitionNotAllowed

S = CertificateState

NOT_AVAILABLE = [
    "reserved",
    "active",
    "partially_redeemed",
    "redeemed",
    "locked",
    "refund_pending",
    "refunded",
    "expired",
    "cancelled",
]


# ------------------------------------------------------------------ creation


def test_a_new_certificate_is_available_in_its_pool(cause: Cause) -> None:
    cert = GiftCertificate.create(
        pool="default",
        number=CertificateNumber("4539578763621486"),
        sealed_cvc="sealed:abc",
        cause=cause,
    )
    assert cert.state is S.AVAILABLE
    assert cert.pool == "default"
    assert cert.number == "4539578763621486"
    assert cert.sealed_cvc == "sealed:abc"
    assert cert.balance == 0
    assert not cert.is_issued
    assert cert.currency is None
    assert cert.version == 1
    [created] = cert.collect_events()
    assert isinstance(created, GiftCertificate.Created)
    assert created.cause == cause


@pytest.mark.parametrize("pool", ["", "   "])
def test_a_certificate_needs_a_named_pool(pool: str, cause: Cause) -> None:
    with pytest.raises(InvalidCommand):
        GiftCertificate.create(
            pool=pool,
            number=CertificateNumber("4539578763621486"),
            sealed_cvc="sealed:abc",
            cause=cause,
        )


def test_a_certificate_needs_its_sealed_cvc(cause: Cause) -> None:
    with pytest.raises(InvalidCommand):
        GiftCertificate.create(
            pool="default",
            number=CertificateNumber("4539578763621486"),
            sealed_cvc="",
            cause=cause,
        )


def test_two_certificates_get_different_ids(make) -> None:
    assert make.available().id != make.available().id


# ------------------------------------------------------------------ reservation


def test_an_available_certificate_is_reserved(make, cause: Cause, recorded: Recorded) -> None:
    cert = make.available()
    until = make.issued_at + timedelta(minutes=30)
    cert.reserve(by="channel:web", until=until, idempotency_key="k-1", order_id="O-1", cause=cause)
    assert cert.state is S.RESERVED
    assert cert.reservation is not None
    assert cert.reservation.until == until
    assert cert.reservation.order_id == "O-1"
    assert cert.reservation.idempotency_key == "k-1"
    events = cert.collect_events()
    assert [type(e) for e in events] == [GiftCertificate.Reserved]
    assert events[0].cause == cause
    assert cert.version == 2


@pytest.mark.parametrize("state", NOT_AVAILABLE)
def test_only_an_available_certificate_can_be_reserved(
    state: str, make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.in_state(state)
    version = cert.version
    with pytest.raises(TransitionNotAllowed):
        cert.reserve(
            by="channel:web",
            until=make.issued_at,
            idempotency_key=None,
            order_id=None,
            cause=cause,
        )
    assert recorded(cert) == []
    assert cert.version == version


def test_a_reservation_needs_a_timezone(make, cause: Cause, recorded: Recorded) -> None:
    cert = make.available()
    with pytest.raises(InvalidCommand):
        cert.reserve(
            by="channel:web",
            until=datetime(2026, 11, 26, 10, 30),  # noqa: DTZ001 - the naive moment under test
            idempotency_key=None,
            order_id=None,
            cause=cause,
        )
    assert recorded(cert) == []
    assert cert.state is S.AVAILABLE


def test_releasing_a_reservation_returns_the_certificate_to_the_pool(make, cause: Cause) -> None:
    cert = make.reserved()
    assert cert.release_reservation(reason="RESERVATION_EXPIRED", cause=cause) is True
    assert cert.state is S.AVAILABLE
    assert cert.reservation is None
    [released] = cert.collect_events()
    assert isinstance(released, GiftCertificate.ReservationReleased)
    assert released.reason == "RESERVATION_EXPIRED"
    assert released.cause == cause


def test_a_released_certificate_can_be_reserved_again(make, cause: Cause) -> None:
    cert = make.reserved()
    cert.release_reservation(reason="PAYMENT_FAILED", cause=cause)
    cert.reserve(by="pos:1", until=make.during, idempotency_key=None, order_id=None, cause=cause)
    assert cert.state is S.RESERVED


def test_releasing_an_available_certificate_records_nothing(
    make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.available()
    assert cert.release_reservation(reason="again", cause=cause) is False
    assert recorded(cert) == []
    assert cert.version == 1


@pytest.mark.parametrize("state", ISSUED_STATES)
def test_an_issued_certificate_is_not_released(
    state: str, make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.in_state(state)
    version = cert.version
    with pytest.raises(TransitionNotAllowed):
        cert.release_reservation(reason="PAYMENT_VOIDED", cause=cause)
    assert recorded(cert) == []
    assert cert.version == version
    assert cert.state is not S.AVAILABLE


# ------------------------------------------------------------------ issue


def test_a_reserved_certificate_is_issued_for_its_paid_order(make, cause: Cause) -> None:
    cert = make.reserved()
    assert make.issue(cert, amount="5000.00", cause=cause) is True
    assert cert.state is S.ACTIVE
    assert cert.balance == Decimal("5000.00")
    assert cert.currency == "RUB"
    assert cert.reservation is None
    terms = cert.issue_terms
    assert terms is not None
    assert terms.amount == Money.of("5000")
    assert terms.order_id == make.sale_order
    assert terms.channel == "WEB"
    assert terms.payment_ids == ("PAY-77",)
    assert terms.client_id == "C-1"
    assert terms.recipient == Recipient(name="Anna", email="anna@example.com")
    assert terms.notification_channel is NotificationChannel.EMAIL
    assert terms.issued_at == make.issued_at
    assert terms.expires_at == make.expires_at
    [issued] = cert.collect_events()
    assert isinstance(issued, GiftCertificate.Issued)
    assert issued.cause == cause
    assert issued.amount == Decimal("5000.00")
    assert issued.currency == "RUB"


def test_a_certificate_whose_reservation_lapsed_is_still_issued(make, cause: Cause) -> None:
    cert = make.available()
    assert make.issue(cert, cause=cause) is True
    assert cert.state is S.ACTIVE


def test_a_reservation_without_an_order_id_is_issued_for_any_order(make, cause: Cause) -> None:
    cert = make.reserved(order_id=None)
    assert make.issue(cert, order_id="POS-1", cause=cause) is True
    assert cert.state is S.ACTIVE


def test_a_certificate_reserved_for_another_order_is_not_issued(
    make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.reserved(order_id="WEB-1")
    with pytest.raises(TransitionNotAllowed):
        make.issue(cert, order_id="WEB-2", cause=cause)
    assert recorded(cert) == []
    assert cert.state is S.RESERVED


@pytest.mark.parametrize("state", ["active", "partially_redeemed", "locked", "expired"])
def test_issuing_again_for_the_same_order_records_nothing(
    state: str, make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.in_state(state)
    version, balance = cert.version, cert.balance
    assert make.issue(cert, cause=cause) is False
    assert recorded(cert) == []
    assert cert.version == version
    assert cert.balance == balance


def test_issuing_for_another_order_after_issue_is_refused(
    make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.active()
    with pytest.raises(TransitionNotAllowed):
        make.issue(cert, order_id="WEB-999", cause=cause)
    assert recorded(cert) == []


def test_a_voided_pool_certificate_is_never_issued(make, cause: Cause, recorded: Recorded) -> None:
    cert = make.available()
    cert.cancel(reason="misprint", cause=cause)
    cert.collect_events()
    with pytest.raises(TransitionNotAllowed):
        make.issue(cert, cause=cause)
    assert recorded(cert) == []


def test_a_certificate_is_issued_for_a_positive_amount(
    make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.reserved()
    with pytest.raises(InvalidCommand):
        make.issue(cert, amount="0", cause=cause)
    assert recorded(cert) == []
    assert cert.state is S.RESERVED


def test_an_issue_needs_the_sale_order_id(make, cause: Cause, recorded: Recorded) -> None:
    cert = make.reserved(order_id=None)
    with pytest.raises(InvalidCommand):
        make.issue(cert, order_id="", cause=cause)
    assert recorded(cert) == []


@pytest.mark.parametrize("validity", [timedelta(0), timedelta(days=-1)])
def test_expiry_must_come_after_the_issue(
    validity: timedelta, make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.reserved()
    with pytest.raises(InvalidCommand):
        make.issue(cert, expires_at=make.issued_at + validity, cause=cause)
    assert recorded(cert) == []


@pytest.mark.parametrize("which", ["issued_at", "expires_at"])
def test_issue_moments_need_a_timezone(which: str, make, cause: Cause, recorded: Recorded) -> None:
    cert = make.reserved()
    moments = {"issued_at": make.issued_at, "expires_at": make.expires_at}
    moments[which] = moments[which].replace(tzinfo=None)
    with pytest.raises(InvalidCommand):
        make.issue(cert, cause=cause, **moments)
    assert recorded(cert) == []


def test_an_issue_in_another_currency_keeps_that_currency(make) -> None:
    cert = make.active(amount="10000", currency="JPY")
    assert cert.currency == "JPY"
    assert cert.balance == Decimal(10000)


# ------------------------------------------------------------------ expiry


@pytest.mark.parametrize("after", [timedelta(0), timedelta(seconds=1), timedelta(days=400)])
def test_an_active_certificate_expires_once_expires_at_has_come(
    after: timedelta, make, cause: Cause
) -> None:
    cert = make.partially_redeemed()
    assert cert.expire(at=make.expires_at + after, cause=cause) is True
    assert cert.state is S.EXPIRED
    [expired] = cert.collect_events()
    assert isinstance(expired, GiftCertificate.Expired)
    assert expired.cause == cause


def test_a_certificate_does_not_expire_before_expires_at(
    make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.active()
    assert cert.expire(at=make.expires_at - timedelta(microseconds=1), cause=cause) is False
    assert recorded(cert) == []
    assert cert.state is S.ACTIVE


def test_a_locked_certificate_expires_and_loses_its_lock(make, cause: Cause) -> None:
    cert = make.locked()
    assert cert.expire(at=make.expires_at, cause=cause) is True
    assert cert.state is S.EXPIRED
    assert cert.lock is None


@pytest.mark.parametrize(
    "state",
    [
        "available",
        "reserved",
        "redeemed",
        "locked_redeemed",
        "refund_pending",
        "refunded",
        "expired",
        "cancelled",
    ],
)
def test_expiry_records_nothing_outside_active_and_locked(
    state: str, make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.in_state(state)
    before = cert.state
    assert cert.expire(at=make.expires_at + timedelta(days=1), cause=cause) is False
    assert recorded(cert) == []
    assert cert.state is before


def test_expiring_twice_records_one_event(make, cause: Cause, recorded: Recorded) -> None:
    cert = make.active()
    assert cert.expire(at=make.expires_at, cause=cause) is True
    assert cert.expire(at=make.expires_at + timedelta(days=1), cause=cause) is False
    assert recorded(cert) == ["Expired"]


def test_expiry_needs_a_timezone(make, cause: Cause, recorded: Recorded) -> None:
    cert = make.active()
    with pytest.raises(InvalidCommand):
        cert.expire(at=make.expires_at.replace(tzinfo=None), cause=cause)
    assert recorded(cert) == []


# ------------------------------------------------------------------ cancellation


def test_an_issued_certificate_without_redemptions_is_cancelled(make, cause: Cause) -> None:
    cert = make.active()
    assert cert.cancel(reason="PAYMENT_VOIDED", cause=cause) is True
    assert cert.state is S.CANCELLED
    assert cert.balance == 0
    [cancelled] = cert.collect_events()
    assert isinstance(cancelled, GiftCertificate.Cancelled)
    assert cancelled.reason == "PAYMENT_VOIDED"
    assert cancelled.cause == cause


def test_a_pool_certificate_that_must_never_be_handed_out_is_cancelled(make, cause: Cause) -> None:
    cert = make.available()
    assert cert.cancel(reason="misprint", cause=cause) is True
    assert cert.state is S.CANCELLED


def test_a_locked_certificate_without_redemptions_is_cancelled_and_unlocked(
    make, cause: Cause
) -> None:
    cert = make.locked()
    assert cert.cancel(reason="ORDER_CANCELLED", cause=cause) is True
    assert cert.state is S.CANCELLED
    assert cert.lock is None


def test_a_reserved_certificate_is_released_not_cancelled(
    make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.reserved()
    with pytest.raises(TransitionNotAllowed, match="released"):
        cert.cancel(reason="ORDER_CANCELLED", cause=cause)
    assert recorded(cert) == []
    assert cert.state is S.RESERVED


@pytest.mark.parametrize(
    "state",
    [
        "partially_redeemed",
        "redeemed",
        "locked_redeemed",
        "refund_pending",
        "refund_pending_details",
        "refunded",
        "expired",
    ],
)
def test_a_certificate_is_cancelled_only_before_any_redemption_while_working(
    state: str, make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.in_state(state)
    version, before = cert.version, cert.state
    with pytest.raises(TransitionNotAllowed):
        cert.cancel(reason="ORDER_CANCELLED", cause=cause)
    assert recorded(cert) == []
    assert cert.version == version
    assert cert.state is before


def test_a_fully_reversed_redemption_still_prevents_cancellation(
    make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.partially_redeemed(taken="1500.00")
    cert.reverse_redemption(
        refund_payment_id="REF-9",
        redemption_payment_id="PAY-80",
        amount=Money.of("1500.00"),
        cause=cause,
    )
    cert.collect_events()
    assert cert.balance == Decimal("5000.00")
    with pytest.raises(TransitionNotAllowed, match="redemptions"):
        cert.cancel(reason="ORDER_CANCELLED", cause=cause)
    assert recorded(cert) == []


def test_cancelling_twice_records_one_event(make, cause: Cause, recorded: Recorded) -> None:
    cert = make.active()
    assert cert.cancel(reason="PAYMENT_VOIDED", cause=cause) is True
    assert cert.cancel(reason="ORDER_CANCELLED", cause=cause) is False
    assert recorded(cert) == ["Cancelled"]
