"""Rule 1, issue: an order listing the certificate and successful payments covering it, in any
order of arrival; failure, void or cancellation releases before issue and cancels after."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from gcp_app.inbound import Outcome
from gcp_app.inbound import builders as build
from gcp_app.inbound.messages import Contact
from gcp_domain import CertificateState, NotificationChannel, NotificationStatus
from gcp_domain.vocabulary import DecisionKind as K
from gcp_domain.vocabulary import DecisionOutcome

S = CertificateState
A = Outcome.APPLIED
ORDER = "WEB-100045"


@pytest.mark.parametrize("payment_first", [False, True], ids=["order-first", "payment-first"])
def test_order_and_payment_issue_in_either_order(gcp: Any, clock: Any, payment_first: bool) -> None:
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    # The line leaves validity out: the service's default applies.
    line = build.certificate_line(granted.certificate_id, "5000.00", validity_days=None)
    order = build.order(ORDER, certificates=[line])
    payment = build.payment(ORDER, "PAY-77", "PAYMENT_CAPTURED", "5000.00")
    first, second = (payment, order) if payment_first else (order, payment)

    assert gcp.each(first) == [A]
    assert gcp.certificate(granted.certificate_id).state is S.RESERVED
    assert gcp.each(second) == [A]

    cid = granted.certificate_id
    assert gcp.statuses(cid) == ["RESERVED", "ISSUED", "NOTIFICATION_REQUESTED"]
    certificate = gcp.certificate(cid)
    assert certificate.state is S.ACTIVE
    assert certificate.balance == Decimal("5000.00")
    terms = certificate.issue_terms
    assert terms.order_id == ORDER
    assert terms.channel == "WEB"
    assert terms.client_id == "C-1"
    assert terms.payment_ids == ("PAY-77",)
    assert terms.expires_at - terms.issued_at == gcp.app.settings.default_validity
    assert terms.issued_at == clock.now()
    current = gcp.object(cid)
    assert current["status"] == "NOTIFICATION_REQUESTED"
    assert current["notification"]["notificationId"] == gcp.app.notification_ids.for_request(cid, 1)
    assert current["notification"]["status"] == "REQUESTED"
    assert current["remainingBalance"] == "5000.00"
    assert current["audit"]["updatedBy"] == (
        "kafka:All_SalesOrder" if payment_first else "kafka:All_Payments"
    )
    assert current["audit"]["causationId"] == second.message_id
    assert current["audit"]["correlationId"] == ORDER
    assert gcp.order(ORDER).decision(K.ISSUE, str(cid)).outcome is DecisionOutcome.DONE


def test_no_notification_request_when_the_channel_is_none(gcp: Any) -> None:
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    line = build.certificate_line(granted.certificate_id, notification_channel="NONE")
    gcp.each(build.order(ORDER, certificates=[line]), build.payment(ORDER, "PAY-1"))

    assert gcp.statuses(granted.certificate_id) == ["RESERVED", "ISSUED"]
    certificate = gcp.certificate(granted.certificate_id)
    assert certificate.notification is None
    assert certificate.issue_terms.notification_channel is NotificationChannel.NONE


def test_sms_channel_is_requested_over_sms(gcp: Any) -> None:
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    line = build.certificate_line(granted.certificate_id, notification_channel="SMS")
    gcp.each(build.order(ORDER, certificates=[line]), build.payment(ORDER, "PAY-1"))

    assert gcp.object(granted.certificate_id)["notification"]["channel"] == "SMS"


def test_explicit_validity_days_and_recipient(gcp: Any) -> None:
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    anna = build.certificate_line(
        granted.certificate_id,
        validity_days=30,
        recipient=Contact(name="Anna", email="anna@example.com", phone=None),
    )
    gcp.each(build.order(ORDER, certificates=[anna]), build.payment(ORDER, "PAY-1"))

    terms = gcp.certificate(granted.certificate_id).issue_terms
    assert terms.expires_at - terms.issued_at == timedelta(days=30)
    assert gcp.object(granted.certificate_id)["recipient"] == {
        "name": "Anna",
        "email": "anna@example.com",
        "phone": None,
    }


def test_the_recipient_defaults_to_the_customer(gcp: Any) -> None:
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    line = build.certificate_line(granted.certificate_id, recipient=None)
    gcp.each(
        build.order(ORDER, certificates=[line]),
        build.payment(ORDER, "PAY-1"),
    )

    assert gcp.object(granted.certificate_id)["recipient"] == {
        "name": None,
        "email": "buyer@example.com",
        "phone": "+79990000000",
    }


def test_several_certificates_in_one_order_wait_for_the_whole_amount(gcp: Any) -> None:
    first, second = gcp.stock.reserve(2, order_id=ORDER)
    order = build.order(
        ORDER,
        certificates=[
            build.certificate_line(first.certificate_id, "5000.00"),
            build.certificate_line(second.certificate_id, "3000.00"),
        ],
    )

    gcp.each(order, build.payment(ORDER, "PAY-1", "PAYMENT_CAPTURED", "5000.00"))
    assert gcp.certificate(first.certificate_id).state is S.RESERVED  # 5000 of 8000 paid
    assert gcp.certificate(second.certificate_id).state is S.RESERVED

    gcp.each(build.payment(ORDER, "PAY-2", "PAYMENT_AUTHORIZED", "3000.00"))
    for granted, amount in ((first, "5000.00"), (second, "3000.00")):
        certificate = gcp.certificate(granted.certificate_id)
        assert certificate.state is S.ACTIVE
        assert certificate.balance == Decimal(amount)
        assert certificate.issue_terms.payment_ids == ("PAY-1", "PAY-2")
        assert gcp.statuses(granted.certificate_id)[-2:] == ["ISSUED", "NOTIFICATION_REQUESTED"]


def test_payments_split_over_two_payment_ids(gcp: Any) -> None:
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    gcp.each(
        build.payment(ORDER, "PAY-1", "PAYMENT_CAPTURED", "2000.00"),
        build.order(
            ORDER, certificates=[build.certificate_line(granted.certificate_id, "5000.00")]
        ),
    )
    assert gcp.certificate(granted.certificate_id).state is S.RESERVED

    gcp.each(build.payment(ORDER, "PAY-2", "PAYMENT_CAPTURED", "3000.00", method="SBP"))

    assert gcp.certificate(granted.certificate_id).state is S.ACTIVE
    assert gcp.object(granted.certificate_id)["operation"] is None  # NOTIFICATION_REQUESTED
    issue = next(e for e in gcp.app.history(granted.certificate_id) if e.event == "Issued")
    assert issue.details["paymentIds"] == ["PAY-1", "PAY-2"]


def test_authorized_then_captured_counts_once(gcp: Any) -> None:
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    gcp.each(
        build.order(
            ORDER, certificates=[build.certificate_line(granted.certificate_id, "5000.00")]
        ),
        build.payment(ORDER, "PAY-1", "PAYMENT_AUTHORIZED", "2500.00"),
        build.payment(ORDER, "PAY-1", "PAYMENT_CAPTURED", "2500.00"),
    )

    assert gcp.certificate(granted.certificate_id).state is S.RESERVED
    assert gcp.order(ORDER).paid == Decimal("2500.00")


def test_a_payment_by_gift_certificate_does_not_pay_for_a_certificate(gcp: Any) -> None:
    sold, _ = gcp.sell("5000.00")
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    line = build.certificate_line(granted.certificate_id, "1000.00")
    gcp.each(
        build.order(ORDER, certificates=[line]),
        build.payment(
            ORDER, "PAY-GC", "PAYMENT_CAPTURED", "1000.00", method="GIFT_CERTIFICATE",
            certificate_number=sold.number,
        ),
    )  # fmt: skip

    assert gcp.certificate(granted.certificate_id).state is S.RESERVED


@pytest.mark.parametrize(
    ("failure", "reason"),
    [("PAYMENT_FAILED", "PAYMENT_FAILED"), ("PAYMENT_VOIDED", "PAYMENT_FAILED")],
)
@pytest.mark.parametrize("failure_first", [False, True], ids=["order-first", "failure-first"])
def test_a_failed_or_voided_payment_before_issue_releases(
    gcp: Any, failure: str, reason: str, failure_first: bool
) -> None:
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    order = build.order(ORDER, certificates=[build.certificate_line(granted.certificate_id)])
    failed = build.payment(ORDER, "PAY-1", failure)
    gcp.each(*((failed, order) if failure_first else (order, failed)))

    cid = granted.certificate_id
    assert gcp.statuses(cid) == ["RESERVED", "RESERVATION_RELEASED"]
    assert gcp.certificate(cid).state is S.AVAILABLE
    assert gcp.object(cid)["reason"] == reason
    assert gcp.order(ORDER).decision(K.RELEASE, str(cid)).outcome is DecisionOutcome.DONE
    assert gcp.app.pool_status("default").available >= 1


def test_an_order_cancelled_before_issue_releases(gcp: Any) -> None:
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    gcp.each(
        build.order(ORDER, certificates=[build.certificate_line(granted.certificate_id)]),
        # A cancellation of an order we know may omit its lines.
        build.order(ORDER, event_type="ORDER_CANCELLED"),
    )

    assert gcp.statuses(granted.certificate_id) == ["RESERVED", "RESERVATION_RELEASED"]
    assert gcp.object(granted.certificate_id)["reason"] == "ORDER_CANCELLED"
    # A payment arriving after the cancellation does not issue.
    gcp.each(build.payment(ORDER, "PAY-1"))
    assert gcp.certificate(granted.certificate_id).state is S.AVAILABLE


@pytest.mark.parametrize(
    ("undo", "reason"),
    [
        ("PAYMENT_VOIDED", "PAYMENT_FAILED"),
        ("PAYMENT_FAILED", "PAYMENT_FAILED"),
        ("ORDER_CANCELLED", "ORDER_CANCELLED"),
    ],
)
def test_after_issue_before_redemption_it_cancels(gcp: Any, undo: str, reason: str) -> None:
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    lines = [build.certificate_line(granted.certificate_id)]
    gcp.each(build.order(ORDER, certificates=lines), build.payment(ORDER, "PAY-1"))
    assert gcp.certificate(granted.certificate_id).state is S.ACTIVE

    if undo == "ORDER_CANCELLED":
        assert gcp.each(build.order(ORDER, certificates=lines, event_type=undo)) == [A]
    else:
        assert gcp.each(build.payment(ORDER, "PAY-1", undo)) == [A]

    cid = granted.certificate_id
    assert gcp.statuses(cid)[-1] == "CANCELLED"
    certificate = gcp.certificate(cid)
    assert certificate.state is S.CANCELLED
    assert certificate.balance == 0
    assert gcp.object(cid)["reason"] == reason
    assert gcp.order(ORDER).decision(K.CANCEL, str(cid)).outcome is DecisionOutcome.DONE


def test_after_a_redemption_the_cancel_is_refused_and_recorded_on_the_order(gcp: Any) -> None:
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    lines = [build.certificate_line(granted.certificate_id, "5000.00")]
    gcp.each(build.order(ORDER, certificates=lines), build.payment(ORDER, "PAY-1"))
    gcp.each(
        build.order("POS-9", redemptions=[build.redemption_line(granted.number, "1500.00")]),
        build.redemption_payment("POS-9", "PAY-80", granted.number, "1500.00"),
    )
    before = gcp.statuses(granted.certificate_id)

    assert gcp.each(build.order(ORDER, certificates=lines, event_type="ORDER_CANCELLED")) == [A]

    assert gcp.statuses(granted.certificate_id) == before
    certificate = gcp.certificate(granted.certificate_id)
    assert certificate.state is S.ACTIVE
    assert certificate.balance == Decimal("3500.00")
    decision = gcp.order(ORDER).decision(K.CANCEL, str(granted.certificate_id))
    assert decision.outcome is DecisionOutcome.REFUSED
    assert "redemption" in decision.reason
    assert gcp.dead_letters() == []
    # Decided once: a later void of the payment changes nothing either.
    recorded = gcp.recorded()
    gcp.each(build.payment(ORDER, "PAY-1", "PAYMENT_VOIDED"))
    assert gcp.recorded() == recorded + 1  # the payment fact on the order, nothing else
    assert gcp.certificate(granted.certificate_id).state is S.ACTIVE


def test_a_failed_attempt_followed_by_a_successful_one_issues(gcp: Any) -> None:
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    gcp.each(
        build.order(ORDER, certificates=[build.certificate_line(granted.certificate_id)]),
        build.payment(ORDER, "PAY-1", "PAYMENT_FAILED"),
    )
    assert gcp.certificate(granted.certificate_id).state is S.AVAILABLE

    gcp.each(build.payment(ORDER, "PAY-2", "PAYMENT_CAPTURED"))

    cid = granted.certificate_id
    assert gcp.statuses(cid) == [
        "RESERVED",
        "RESERVATION_RELEASED",
        "ISSUED",
        "NOTIFICATION_REQUESTED",
    ]
    certificate = gcp.certificate(cid)
    assert certificate.state is S.ACTIVE
    assert certificate.issue_terms.payment_ids == ("PAY-2",)
    assert certificate.notification.status is NotificationStatus.REQUESTED


def test_a_failure_and_a_later_success_in_one_batch_issue(gcp: Any) -> None:
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    gcp.deliver(
        build.payment(ORDER, "PAY-1", "PAYMENT_FAILED"),
        build.payment(ORDER, "PAY-2", "PAYMENT_CAPTURED"),
        build.order(ORDER, certificates=[build.certificate_line(granted.certificate_id)]),
    )

    assert gcp.statuses(granted.certificate_id) == ["RESERVED", "ISSUED", "NOTIFICATION_REQUESTED"]


def test_a_certificate_reserved_for_another_order_is_refused(gcp: Any) -> None:
    (granted,) = gcp.stock.reserve(order_id="WEB-OTHER")
    outcomes = gcp.each(
        build.order(ORDER, certificates=[build.certificate_line(granted.certificate_id)]),
        build.payment(ORDER, "PAY-1"),
    )

    assert outcomes == [A, Outcome.DEAD_LETTERED]
    assert gcp.certificate(granted.certificate_id).state is S.RESERVED
    (letter,) = gcp.dead_letters()
    assert letter.reason_code == "issue-refused"
    assert (
        gcp.order(ORDER).decision(K.ISSUE, str(granted.certificate_id)).outcome
        is DecisionOutcome.REFUSED
    )


def test_an_order_naming_an_unknown_certificate_is_dead_lettered(gcp: Any) -> None:
    outcomes = gcp.each(build.order(ORDER, certificates=[build.certificate_line(uuid.uuid4())]))

    assert outcomes == [Outcome.DEAD_LETTERED]
    (letter,) = gcp.dead_letters()
    assert letter.reason_code == "unknown-certificate"
