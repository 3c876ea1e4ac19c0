"""A certificate's whole lifecycle through the application, on every store.

Each test drives GiftCertificates' commands and checks the certificate (`get_certificate`), the
stream object (`current_object`) and the pool levels the way a caller sees them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from tests.integration.certificates import (
    SUPPORT,
    assert_applied_once,
    disclose_open,
    issue,
    lock,
    originator_ids,
    record_sent,
    redeem,
    reserve,
    reverse,
    unlock,
)
from tests.integration.conftest import DURABLE
from tests.issuing import ADMIN, POOL, open_notification

from gcp_app.application import GiftCertificates
from gcp_app.errors import CertificateNotFound
from gcp_app.use_cases import (
    CancelCertificate,
    ExpireCertificate,
    IssueCertificate,
    RecordNotificationResult,
    RecordRefundStep,
    ReleaseReservation,
    RequestNotification,
)
from gcp_domain import (
    Cause,
    CertificateState,
    GiftCertificate,
    Money,
    NotificationChannel,
    Recipient,
)
from gcp_domain.errors import (
    CvcAlreadyDisclosed,
    CvcNotAvailable,
    InvalidCommand,
    RefundRejected,
    ReversalRejected,
    TransitionNotAllowed,
)
from gcp_domain.stream import certificate_publication, rfc3339
from gcp_domain.vocabulary import PaymentEvent

S = CertificateState
CRM = Cause("crm", "req-crm", "notify")
TIMER = Cause.system("timer:expiry", "tick-1")


def latest_publication(app: GiftCertificates, certificate_id: UUID) -> dict[str, Any] | None:
    """Folds the stored events and keeps the stream message of the last published one."""
    certificate: GiftCertificate | None = None
    last = None
    for event in app.store.events.get(certificate_id):
        certificate = event.mutate(certificate)
        assert certificate is not None
        publication = certificate_publication(certificate, event)
        if publication is not None:
            last = publication.value
    return last


# ====================================================================== created and reserved


def test_a_certificate_never_reserved_shows_status_created(stocked: GiftCertificates) -> None:
    certificate_id = originator_ids(stocked, GiftCertificate.Created)[0]
    certificate = stocked.get_certificate(certificate_id)

    shown = stocked.current_object(certificate_id)

    assert latest_publication(stocked, certificate_id) is None
    assert shown["status"] == "CREATED"
    assert shown["state"] == "AVAILABLE"
    assert shown["version"] == 1
    assert shown["redeemable"] is False
    assert shown["certificateId"] == str(certificate_id)
    assert shown["number"] == certificate.number
    assert shown["maskedNumber"] == f"**** **** **** {certificate.number[-4:]}"
    assert shown["pool"] == POOL
    assert shown["amount"] is None
    assert shown["remainingBalance"] is None
    assert shown["audit"]["updatedBy"] == "admin:ops"
    assert shown["audit"]["causationId"] == "req-generate"


def test_reservation_is_published_as_reserved(stocked: GiftCertificates, clock: Any) -> None:
    certificate_id = reserve(stocked, "WEB-1")

    shown = stocked.current_object(certificate_id)

    assert stocked.get_certificate(certificate_id).state is S.RESERVED
    assert shown["status"] == "RESERVED"
    assert shown["state"] == "RESERVED"
    assert shown["version"] == 2
    assert shown["reservation"] == {
        "by": "WEB",
        "until": rfc3339(clock.now() + timedelta(minutes=15)),
        "orderId": "WEB-1",
    }
    assert shown["audit"]["correlationId"] == "WEB-1"


def test_release_returns_the_certificate_to_its_pool(stocked: GiftCertificates) -> None:
    certificate_id = reserve(stocked, "WEB-1")

    assert_applied_once(
        stocked, ReleaseReservation(certificate_id=certificate_id, reason="lapsed", cause=TIMER)
    )

    shown = stocked.current_object(certificate_id)
    assert shown["status"] == "RESERVATION_RELEASED"
    assert shown["state"] == "AVAILABLE"
    assert shown["reservation"] is None
    assert shown["reason"] == "lapsed"
    assert stocked.pool_status(POOL).available == 6
    assert stocked.pool_status(POOL).reserved == 0


# ====================================================================== issue


def test_issue_makes_the_certificate_active(stocked: GiftCertificates, clock: Any) -> None:
    certificate_id = issue(stocked, "WEB-1", notification_channel=NotificationChannel.NONE)

    shown = stocked.current_object(certificate_id)

    assert stocked.get_certificate(certificate_id).state is S.ACTIVE
    assert shown["status"] == "ISSUED"
    assert shown["state"] == "ACTIVE"
    assert shown["redeemable"] is True
    assert shown["amount"] == "5000.00"
    assert shown["currency"] == "RUB"
    assert shown["remainingBalance"] == "5000.00"
    assert shown["orderId"] == "WEB-1"
    assert shown["clientId"] == "C-1"
    assert shown["channel"] == "WEB"
    assert shown["issuedAt"] == rfc3339(clock.now())
    assert shown["expiresAt"] == rfc3339(clock.now() + timedelta(days=365))
    assert shown["recipient"] == {"name": "Anna", "email": "anna@example.com", "phone": None}
    assert shown["operation"]["type"] == "ISSUE"
    assert shown["operation"]["amount"] == "5000.00"
    assert shown["reservation"] is None
    levels = stocked.pool_status(POOL)
    assert (levels.available, levels.reserved, levels.issued) == (5, 0, 1)


def test_issuing_asks_crm_to_deliver_the_cvc_unless_the_channel_is_none(
    stocked: GiftCertificates,
) -> None:
    by_email = issue(stocked, "WEB-1")
    by_sms = issue(stocked, "WEB-2", notification_channel=NotificationChannel.SMS)
    silent = issue(stocked, "WEB-3", notification_channel=NotificationChannel.NONE)

    asked = stocked.current_object(by_email)
    assert asked["status"] == "NOTIFICATION_REQUESTED"
    assert asked["notification"] == {
        "notificationId": open_notification(stocked, by_email),
        "channel": "EMAIL",
        "status": "REQUESTED",
        "attempt": 1,
        "error": None,
    }
    assert asked["version"] == 4  # created, reserved, issued, requested
    assert asked["audit"]["causationId"] == "pay-msg-WEB-1"  # asked by the sale's payment
    assert stocked.current_object(by_sms)["notification"]["channel"] == "SMS"
    assert stocked.current_object(silent)["status"] == "ISSUED"
    assert stocked.get_certificate(silent).notification is None


def test_issue_is_idempotent_per_order_and_refused_for_another(
    stocked: GiftCertificates,
) -> None:
    certificate_id = issue(stocked, "WEB-1")
    version = stocked.get_certificate(certificate_id).version
    again = {
        "amount": Money.of("5000.00"),
        "channel": "WEB",
        "payment_ids": ["PAY-WEB-1"],
        "client_id": "C-1",
        "recipient": Recipient(name="Anna"),
        "cause": Cause("kafka:All_Payments", "redelivery", "WEB-1"),
    }

    assert (
        stocked.execute(IssueCertificate(certificate_id=certificate_id, order_id="WEB-1", **again))
        is False
    )
    with pytest.raises(TransitionNotAllowed):
        stocked.execute(IssueCertificate(certificate_id=certificate_id, order_id="WEB-2", **again))
    assert stocked.get_certificate(certificate_id).version == version


# ====================================================================== notification and CVC


def test_notification_request_disclose_and_result(stocked: GiftCertificates) -> None:
    certificate_id = issue(stocked, "WEB-1")
    notification_id = open_notification(stocked, certificate_id)
    requested = stocked.current_object(certificate_id)

    cvc = stocked.cvc.disclose(certificate_id, notification_id=notification_id, cause=CRM)

    assert len(cvc) == 4
    assert cvc.isdigit()
    assert requested["status"] == "NOTIFICATION_REQUESTED"
    assert requested["notification"] == {
        "notificationId": notification_id,
        "channel": "EMAIL",
        "status": "REQUESTED",
        "attempt": 1,
        "error": None,
    }
    # The disclosure is recorded, not published: the object stays that of the request.
    assert stocked.current_object(certificate_id) == requested
    assert stocked.get_certificate(certificate_id).version == requested["version"] + 1

    with pytest.raises(CvcAlreadyDisclosed):
        stocked.cvc.disclose(certificate_id, notification_id=notification_id, cause=CRM)
    with pytest.raises(CvcNotAvailable):
        stocked.cvc.disclose(certificate_id, notification_id="not-the-request", cause=CRM)

    assert record_sent(stocked, certificate_id, notification_id, CRM)
    assert not record_sent(stocked, certificate_id, notification_id, CRM)
    sent = stocked.current_object(certificate_id)
    assert sent["status"] == "NOTIFICATION_SENT"
    assert sent["notification"]["status"] == "SENT"


def test_a_failed_notification_is_requested_again_with_a_new_id(
    stocked: GiftCertificates,
) -> None:
    certificate_id = issue(stocked, "WEB-1")
    first = open_notification(stocked, certificate_id)
    cvc = stocked.cvc.disclose(certificate_id, notification_id=first, cause=CRM)
    with pytest.raises(TransitionNotAllowed):
        stocked.execute(
            RequestNotification(certificate_id=certificate_id, cause=CRM)
        )  # the first is still open

    stocked.execute(
        RecordNotificationResult(
            certificate_id=certificate_id,
            notification_id=first,
            sent=False,
            error="mailbox full",
            cause=CRM,
        )
    )
    failed = stocked.current_object(certificate_id)
    second = stocked.execute(RequestNotification(certificate_id=certificate_id, cause=CRM))

    assert failed["status"] == "NOTIFICATION_FAILED"
    assert failed["notification"]["error"] == "mailbox full"
    assert second != first
    assert stocked.current_object(certificate_id)["notification"]["attempt"] == 2
    with pytest.raises(CvcNotAvailable):
        stocked.cvc.disclose(certificate_id, notification_id=first, cause=CRM)
    assert stocked.cvc.disclose(certificate_id, notification_id=second, cause=CRM) == cvc


def test_no_cvc_without_an_open_request(stocked: GiftCertificates) -> None:
    reserved = reserve(stocked, "WEB-1")
    certificate_id = issue(stocked, "WEB-2")

    with pytest.raises(CvcNotAvailable):
        stocked.cvc.disclose(reserved, notification_id="n-1", cause=CRM)
    with pytest.raises(CvcNotAvailable):
        stocked.cvc.disclose(certificate_id, notification_id="n-1", cause=CRM)
    with pytest.raises(TransitionNotAllowed):
        stocked.execute(RequestNotification(certificate_id=reserved, cause=CRM))


# ====================================================================== money


def test_partial_and_full_redemption_rejection_and_reversal(stocked: GiftCertificates) -> None:
    certificate_id = issue(stocked, "WEB-1")

    first = redeem(stocked, certificate_id, "PAY-80", "1500.00")
    partially = stocked.current_object(certificate_id)
    duplicate = redeem(stocked, certificate_id, "PAY-80", "1500.00")
    too_much = redeem(stocked, certificate_id, "PAY-81", "4000.00")
    rejected = stocked.current_object(certificate_id)

    assert first.applied
    assert first.balance_after == Decimal("3500.00")
    assert partially["status"] == "PARTIALLY_REDEEMED"
    assert partially["remainingBalance"] == "3500.00"
    assert partially["operation"] == {
        "type": "REDEMPTION",
        "orderId": "POS-PAY-80",
        "paymentId": "PAY-80",
        "amount": "1500.00",
    }
    assert duplicate.duplicate
    assert not too_much.applied
    assert too_much.reason == "INSUFFICIENT_BALANCE"
    assert rejected["status"] == "REDEMPTION_REJECTED"
    assert rejected["reason"] == "INSUFFICIENT_BALANCE"
    assert rejected["remainingBalance"] == "3500.00"
    assert rejected["version"] == partially["version"] + 1  # the duplicate recorded nothing

    refund = Cause("kafka:All_Payments", "msg-90", "POS-PAY-80")
    assert reverse(stocked, certificate_id, "500.00", refund="PAY-90", of="PAY-80", cause=refund)
    reversed_ = stocked.current_object(certificate_id)
    assert reversed_["status"] == "REDEMPTION_REVERSED"
    assert reversed_["remainingBalance"] == "4000.00"
    assert reversed_["operation"]["refundOf"] == "PAY-80"
    with pytest.raises(ReversalRejected):  # at most what is left of that redemption (1000)
        reverse(stocked, certificate_id, "1000.01", refund="PAY-91", of="PAY-80", cause=SUPPORT)

    full = redeem(stocked, certificate_id, "PAY-82", "4000.00")
    redeemed = stocked.current_object(certificate_id)
    assert full.applied
    assert full.balance_after == 0
    assert redeemed["status"] == "REDEEMED"
    assert redeemed["state"] == "REDEEMED"
    assert redeemed["remainingBalance"] == "0.00"
    assert redeemed["redeemable"] is False
    later = redeem(stocked, certificate_id, "PAY-83", "1.00")
    assert later.reason == "FULLY_REDEEMED"


def test_a_redeemed_certificate_becomes_active_again_after_a_reversal(
    stocked: GiftCertificates,
) -> None:
    certificate_id = issue(stocked, "WEB-1", amount="100.00")
    redeem(stocked, certificate_id, "PAY-1", "100.00")

    reverse(stocked, certificate_id, "40.00", refund="PAY-2", of="PAY-1", cause=SUPPORT)

    certificate = stocked.get_certificate(certificate_id)
    assert certificate.state is S.ACTIVE
    assert certificate.balance == Decimal("40.00")
    assert stocked.current_object(certificate_id)["redeemable"] is True


def test_refund_pending_details_failed_and_completed(stocked: GiftCertificates) -> None:
    certificate_id = issue(stocked, "WEB-1")
    cause = Cause("kafka:All_Payments", "refund-msg", "WEB-1")

    def step(
        kind: PaymentEvent,
        payment_id: str,
        amount: Money | None = None,
        reason: str | None = None,
    ) -> RecordRefundStep:
        """A step of the purchase's refund, as All_Payments reports it for order WEB-1."""
        return RecordRefundStep(
            certificate_id=certificate_id,
            step=kind,
            order_id="WEB-1",
            payment_id=payment_id,
            amount=amount,
            reason=reason,
            cause=cause,
        )

    with pytest.raises(RefundRejected):
        stocked.execute(step(PaymentEvent.REFUND_PENDING, "REF-0", amount=Money.of("5000.01")))
    assert stocked.execute(step(PaymentEvent.REFUND_PENDING, "REF-1", amount=Money.of("5000.00")))
    pending = stocked.current_object(certificate_id)
    refused = redeem(stocked, certificate_id, "PAY-1", "10.00")
    assert stocked.execute(step(PaymentEvent.REFUND_PENDING_DETAILS, "REF-1"))
    details = stocked.current_object(certificate_id)
    assert stocked.execute(step(PaymentEvent.REFUND_FAILED, "REF-1", reason="no account"))
    failed = stocked.current_object(certificate_id)

    assert pending["status"] == "REFUND_PENDING"
    assert pending["state"] == "REFUND_PENDING"
    assert pending["redeemable"] is False
    assert pending["refund"] == {"status": "PENDING", "paymentId": "REF-1", "amount": "5000.00"}
    assert refused.reason == "REFUND_PENDING"
    assert details["status"] == "REFUND_PENDING_DETAILS"
    assert details["refund"]["status"] == "PENDING_DETAILS"
    assert failed["status"] == "ACTIVE"
    assert failed["state"] == "ACTIVE"
    assert failed["reason"] == "no account"
    assert failed["remainingBalance"] == "5000.00"

    assert stocked.execute(step(PaymentEvent.REFUND_PENDING, "REF-2", amount=None))
    assert_applied_once(
        stocked, step(PaymentEvent.REFUND_COMPLETED, "REF-2", amount=Money.of("5000.00"))
    )
    refunded = stocked.current_object(certificate_id)
    assert refunded["status"] == "REFUNDED"
    assert refunded["state"] == "REFUNDED"
    assert refunded["remainingBalance"] == "0.00"
    assert refunded["operation"]["type"] == "REFUND"
    assert redeem(stocked, certificate_id, "PAY-2", "1.00").reason == "REFUNDED"


# ====================================================================== support and timers


def test_lock_and_unlock(stocked: GiftCertificates, clock: Any) -> None:
    certificate_id = issue(stocked, "WEB-1")
    notification_id = open_notification(stocked, certificate_id)

    with pytest.raises(InvalidCommand):
        lock(stocked, certificate_id, " ")
    assert lock(stocked, certificate_id, "fraud check")
    assert not lock(stocked, certificate_id, "again")
    locked = stocked.current_object(certificate_id)

    assert locked["status"] == "LOCKED"
    assert locked["state"] == "LOCKED"
    assert locked["redeemable"] is False
    assert locked["reason"] == "fraud check"
    assert locked["lock"] == {
        "reason": "fraud check",
        "by": "support:olga",
        "at": rfc3339(clock.now()),
    }
    assert redeem(stocked, certificate_id, "PAY-1", "10.00").reason == "LOCKED"
    with pytest.raises(CvcNotAvailable):
        stocked.cvc.disclose(certificate_id, notification_id=notification_id, cause=CRM)

    assert unlock(stocked, certificate_id, "cleared")
    assert not unlock(stocked, certificate_id, "cleared")
    unlocked = stocked.current_object(certificate_id)
    assert unlocked["status"] == "ACTIVE"
    assert unlocked["state"] == "ACTIVE"
    assert unlocked["lock"] is None
    assert unlocked["redeemable"] is True
    assert stocked.cvc.disclose(certificate_id, notification_id=notification_id, cause=CRM)


def test_unlock_returns_a_redeemed_certificate_to_redeemed(stocked: GiftCertificates) -> None:
    certificate_id = issue(stocked, "WEB-1", amount="10.00")
    redeem(stocked, certificate_id, "PAY-1", "10.00")
    lock(stocked, certificate_id, "dispute")

    unlock(stocked, certificate_id, None)

    assert stocked.current_object(certificate_id)["status"] == "REDEEMED"
    assert stocked.get_certificate(certificate_id).state is S.REDEEMED


def test_expiry_follows_the_application_clock(stocked: GiftCertificates, clock: Any) -> None:
    certificate_id = issue(stocked, "WEB-1", validity_days=30)

    assert not stocked.execute(
        ExpireCertificate(certificate_id=certificate_id, cause=TIMER)
    )  # not due yet
    clock.advance(timedelta(days=30))
    assert redeem(stocked, certificate_id, "PAY-1", "1.00").reason == "EXPIRED"
    clock.advance(timedelta(seconds=1))
    assert_applied_once(stocked, ExpireCertificate(certificate_id=certificate_id, cause=TIMER))

    expired = stocked.current_object(certificate_id)
    assert expired["status"] == "EXPIRED"
    assert expired["state"] == "EXPIRED"
    assert expired["redeemable"] is False
    assert expired["remainingBalance"] == "5000.00"
    assert expired["audit"]["updatedBy"] == "timer:expiry"
    assert redeem(stocked, certificate_id, "PAY-2", "1.00").reason == "EXPIRED"


def test_a_locked_active_certificate_expires(stocked: GiftCertificates, clock: Any) -> None:
    certificate_id = issue(stocked, "WEB-1", validity_days=1)
    lock(stocked, certificate_id, "check")
    clock.advance(timedelta(days=2))

    assert stocked.execute(ExpireCertificate(certificate_id=certificate_id, cause=TIMER))

    assert stocked.current_object(certificate_id)["lock"] is None
    assert stocked.get_certificate(certificate_id).state is S.EXPIRED


def test_cancel_an_issued_certificate(stocked: GiftCertificates) -> None:
    certificate_id = issue(stocked, "WEB-1")
    cause = Cause("kafka:All_SalesOrder", "cancel-msg", "WEB-1")

    assert_applied_once(
        stocked,
        CancelCertificate(certificate_id=certificate_id, reason="ORDER_CANCELLED", cause=cause),
    )

    cancelled = stocked.current_object(certificate_id)
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["state"] == "CANCELLED"
    assert cancelled["reason"] == "ORDER_CANCELLED"
    assert cancelled["remainingBalance"] == "0.00"
    levels = stocked.pool_status(POOL)
    assert (levels.available, levels.issued, levels.cancelled) == (5, 0, 1)
    assert redeem(stocked, certificate_id, "PAY-1", "1.00").reason == "CANCELLED"


def test_cancel_is_refused_after_a_redemption_and_for_a_reservation(
    stocked: GiftCertificates,
) -> None:
    redeemed = issue(stocked, "WEB-1")
    redeem(stocked, redeemed, "PAY-1", "1.00")
    reserved = reserve(stocked, "WEB-2")

    with pytest.raises(TransitionNotAllowed):
        stocked.execute(
            CancelCertificate(certificate_id=redeemed, reason="ORDER_CANCELLED", cause=SUPPORT)
        )
    with pytest.raises(TransitionNotAllowed):
        stocked.execute(
            CancelCertificate(certificate_id=reserved, reason="ORDER_CANCELLED", cause=SUPPORT)
        )
    assert stocked.get_certificate(redeemed).state is S.ACTIVE
    assert stocked.get_certificate(reserved).state is S.RESERVED


def test_unknown_certificate(stocked: GiftCertificates) -> None:
    unknown = UUID(int=42)
    commands: list[Callable[[], object]] = [
        lambda: stocked.get_certificate(unknown),
        lambda: stocked.current_object(unknown),
        lambda: stocked.reading_desk.ask(unknown),
        lambda: lock(stocked, unknown, "x", by="support"),
        lambda: stocked.execute(ExpireCertificate(certificate_id=unknown, cause=TIMER)),
    ]
    for command in commands:
        with pytest.raises(CertificateNotFound):
            command()


# ====================================================================== the current object


def test_current_object_is_always_the_latest_publication(stocked: GiftCertificates) -> None:
    certificate_id = reserve(stocked, "WEB-1")
    steps: list[Callable[[], object]] = [
        lambda: None,
        lambda: stocked.execute(
            IssueCertificate(
                certificate_id=certificate_id,
                amount=Money.of("700.00"),
                channel="WEB",
                order_id="WEB-1",
                payment_ids=["PAY-1"],
                client_id=None,
                recipient=Recipient(email="x@example.com"),
                cause=SUPPORT,
            )
        ),
        lambda: disclose_open(stocked, certificate_id, CRM),
        lambda: record_sent(
            stocked, certificate_id, open_notification(stocked, certificate_id), CRM
        ),
        lambda: redeem(stocked, certificate_id, "PAY-2", "100.00"),
        lambda: lock(stocked, certificate_id, "check", by="support"),
        lambda: redeem(stocked, certificate_id, "PAY-3", "100.00"),
        lambda: unlock(stocked, certificate_id, "ok", by="support"),
        lambda: stocked.execute(
            CancelCertificate(certificate_id=certificate_id, reason="too late?", cause=SUPPORT)
        ),
    ]
    seen = []
    for step in steps:
        # A refused command publishes nothing: the object must not move either.
        with contextlib.suppress(TransitionNotAllowed):
            step()
        shown = stocked.current_object(certificate_id)
        assert shown == latest_publication(stocked, certificate_id)
        # The grouped read of GET /certificates/{id} shows the same.
        assert stocked.reading_desk.ask(certificate_id) == shown
        seen.append(shown["status"])

    assert seen == [
        "RESERVED",
        "NOTIFICATION_REQUESTED",  # issuing asks CRM to deliver the CVC
        "NOTIFICATION_REQUESTED",  # the disclosure is not published
        "NOTIFICATION_SENT",
        "PARTIALLY_REDEEMED",
        "LOCKED",
        "REDEMPTION_REJECTED",
        "ACTIVE",
        "ACTIVE",
    ]


# ====================================================================== restart


@DURABLE
def test_the_state_survives_a_restart(
    stocked: GiftCertificates, make_app: Callable[[], GiftCertificates]
) -> None:
    certificate_id = issue(stocked, "WEB-1")
    notification_id = open_notification(stocked, certificate_id)
    cvc = stocked.cvc.disclose(certificate_id, notification_id=notification_id, cause=CRM)
    record_sent(stocked, certificate_id, notification_id, CRM)
    redeem(stocked, certificate_id, "PAY-1", "1200.00")
    lock(stocked, certificate_id, "check", by="support")
    other = reserve(stocked, "WEB-2")
    before = stocked.get_certificate(certificate_id)

    restarted = make_app()

    after = restarted.get_certificate(certificate_id)
    assert restarted.current_object(certificate_id) == stocked.current_object(certificate_id)
    assert restarted.history(certificate_id) == stocked.history(certificate_id)
    assert restarted.pool_status(POOL) == stocked.pool_status(POOL)
    assert restarted.find_by_number(before.number) == certificate_id
    assert (after.state, after.balance, after.version) == (S.LOCKED, Decimal("3800.00"), 8)
    assert after.redemptions == before.redemptions
    assert restarted.get_certificate(other).state is S.RESERVED
    with pytest.raises(CvcAlreadyDisclosed):
        restarted.cvc.disclose(certificate_id, notification_id=notification_id, cause=CRM)

    # The restarted instance carries on: same key, same rules, same pool.
    unlock(restarted, certificate_id, "ok", by="support")
    again = restarted.execute(RequestNotification(certificate_id=certificate_id, cause=CRM))
    assert restarted.cvc.disclose(certificate_id, notification_id=again, cause=CRM) == cvc
    assert redeem(restarted, certificate_id, "PAY-1", "1200.00").duplicate
    handed_out = {certificate_id, other}
    for n in range(4):
        granted = restarted.reservations.reserve_next(
            POOL, channel="POS", order_id=f"POS-{n}", cause=ADMIN
        )
        assert granted.certificate_id not in handed_out
        handed_out.add(granted.certificate_id)
    assert restarted.pool_status(POOL).available == 0
