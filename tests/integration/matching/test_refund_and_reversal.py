"""Rule 3, refund of a certificate's purchase, and rule 4, reversal of a redemption."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gcp_app.inbound import Outcome
from gcp_app.inbound import builders as build
from gcp_domain import CertificateState
from gcp_domain.order_values import RefundStep
from gcp_domain.vocabulary import DecisionKind as K
from gcp_domain.vocabulary import DecisionOutcome, PaymentEvent

S = CertificateState
A = Outcome.APPLIED
POS = "POS-9"


class Refund:
    """The messages of one refund of a sold certificate's purchase."""

    def __init__(self, granted: Any, order_id: str, amount: str, *, separate: bool = False) -> None:
        self.line = build.order(
            order_id,
            certificates=[
                build.certificate_line(granted.certificate_id, amount, notification_channel="NONE")
            ],
            refunds=[build.refund_line(granted.certificate_id)],
            event_type="ORDER_REFUND_REQUESTED",
        )
        self.steps = {
            # One paymentId for every step, or (`separate`) a payment of its own per step, each
            # naming the sale's payment: contract 1.1, rule 3 ("channels do both").
            step: build.payment(
                order_id,
                f"REF-{step}" if separate else "REF-1",
                step,
                amount,
                refund_of=f"PAY-{order_id}",
                method="CARD",
            )
            for step in (
                "REFUND_PENDING",
                "REFUND_PENDING_DETAILS",
                "REFUND_COMPLETED",
                "REFUND_FAILED",
            )
        }

    def __call__(self, name: str) -> Any:
        return self.line if name == "line" else self.steps[name]


@pytest.mark.parametrize(
    ("arrival", "published", "state", "refund_status"),
    [
        (
            ["line", "REFUND_PENDING", "REFUND_COMPLETED"],
            ["REFUND_PENDING", "REFUNDED"],
            S.REFUNDED,
            "COMPLETED",
        ),
        (
            ["REFUND_PENDING", "line", "REFUND_PENDING_DETAILS", "REFUND_COMPLETED"],
            ["REFUND_PENDING", "REFUND_PENDING_DETAILS", "REFUNDED"],
            S.REFUNDED,
            "COMPLETED",
        ),
        (
            ["REFUND_PENDING", "REFUND_PENDING_DETAILS", "REFUND_COMPLETED", "line"],
            ["REFUND_PENDING", "REFUND_PENDING_DETAILS", "REFUNDED"],
            S.REFUNDED,
            "COMPLETED",
        ),
        (
            ["line", "REFUND_PENDING_DETAILS", "REFUND_PENDING", "REFUND_COMPLETED"],
            ["REFUND_PENDING_DETAILS", "REFUNDED"],
            S.REFUNDED,
            "COMPLETED",
        ),
        (["REFUND_COMPLETED", "line", "REFUND_PENDING"], ["REFUNDED"], S.REFUNDED, "COMPLETED"),
        (
            ["line", "REFUND_PENDING", "REFUND_FAILED"],
            ["REFUND_PENDING", "ACTIVE"],
            S.ACTIVE,
            "FAILED",
        ),
        (
            ["REFUND_FAILED", "REFUND_PENDING", "line"],
            ["REFUND_PENDING", "ACTIVE"],
            S.ACTIVE,
            "FAILED",
        ),
        pytest.param(
            ["line", "REFUND_FAILED", "REFUND_PENDING"],
            ["ACTIVE"],
            S.ACTIVE,
            "FAILED",
        ),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, list) and value[0] != "" else None,
)
def test_refund_steps_in_several_arrival_orders(
    gcp: Any,
    arrival: list[str],
    published: list[str],
    state: S,
    refund_status: str,
) -> None:
    granted, order_id = gcp.sell("5000.00")
    refund = Refund(granted, order_id, "5000.00")
    before = gcp.statuses(granted.certificate_id)

    outcomes = gcp.each(*(refund(name) for name in arrival))

    assert outcomes == [A] * len(arrival)
    cid = granted.certificate_id
    assert gcp.statuses(cid)[len(before) :] == published
    certificate = gcp.certificate(cid)
    assert certificate.state is state
    current = gcp.object(cid)
    assert current["refund"] == {"status": refund_status, "paymentId": "REF-1", "amount": "5000.00"}
    if state is S.REFUNDED:
        assert certificate.balance == 0
        assert current["remainingBalance"] == "0.00"
        assert current["operation"]["type"] == "REFUND"
    else:
        assert certificate.balance == Decimal("5000.00")
        assert current["redeemable"] is True
    assert gcp.dead_letters() == []
    decided = {str(s) for (kind, s), d in gcp.order(order_id).decisions.items() if kind is K.REFUND}
    assert decided == {f"REF-1/{name}" for name in arrival if name != "line"}


@pytest.mark.parametrize(
    ("arrival", "published", "last_step"),
    [
        (
            ["line", "REFUND_PENDING", "REFUND_PENDING_DETAILS", "REFUND_COMPLETED"],
            ["REFUND_PENDING", "REFUND_PENDING_DETAILS", "REFUNDED"],
            "REFUND_COMPLETED",
        ),
        (
            ["REFUND_COMPLETED", "REFUND_PENDING_DETAILS", "line", "REFUND_PENDING"],
            ["REFUNDED"],
            "REFUND_COMPLETED",
        ),
        (
            ["REFUND_PENDING_DETAILS", "REFUND_PENDING", "line", "REFUND_COMPLETED"],
            ["REFUND_PENDING_DETAILS", "REFUNDED"],
            "REFUND_COMPLETED",
        ),
        (
            ["line", "REFUND_PENDING", "REFUND_FAILED"],
            ["REFUND_PENDING", "ACTIVE"],
            "REFUND_FAILED",
        ),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, list) else None,
)
def test_refund_steps_as_payments_of_their_own_are_one_refund(
    gcp: Any, arrival: list[str], published: list[str], last_step: str
) -> None:
    """Issue 11, item 8: REFUND_PENDING as one paymentId, REFUND_PENDING_DETAILS and
    REFUND_COMPLETED as others, all naming the sale's payment in refundOf, used to leave the
    certificate REFUND_PENDING ("that is not the pending refund's paymentId")."""
    granted, order_id = gcp.sell("5000.00")
    refund = Refund(granted, order_id, "5000.00", separate=True)
    before = gcp.statuses(granted.certificate_id)

    outcomes = gcp.each(*(refund(name) for name in arrival))

    assert outcomes == [A] * len(arrival)
    cid = granted.certificate_id
    assert gcp.statuses(cid)[len(before) :] == published
    assert gcp.dead_letters() == []
    current = gcp.object(cid)
    completed = last_step == "REFUND_COMPLETED"
    assert current["state"] == ("REFUNDED" if completed else "ACTIVE")
    assert current["refund"] == {
        "status": "COMPLETED" if completed else "FAILED",
        "paymentId": f"REF-{last_step}",
        "amount": "5000.00",
    }


def test_a_certificate_is_not_redeemable_while_a_refund_is_pending(gcp: Any) -> None:
    granted, order_id = gcp.sell("5000.00")
    refund = Refund(granted, order_id, "5000.00")
    gcp.each(refund("line"), refund("REFUND_PENDING"))

    gcp.each(
        build.order(POS, redemptions=[build.redemption_line(granted.number, "100.00")]),
        build.redemption_payment(POS, "PAY-80", granted.number, "100.00"),
    )

    current = gcp.object(granted.certificate_id)
    assert current["status"] == "REDEMPTION_REJECTED"
    assert current["reason"] == "REFUND_PENDING"


def test_a_refund_larger_than_the_balance_is_refused(gcp: Any) -> None:
    granted, order_id = gcp.sell("5000.00")
    gcp.each(
        build.order(POS, redemptions=[build.redemption_line(granted.number, "3000.00")]),
        build.redemption_payment(POS, "PAY-80", granted.number, "3000.00"),
    )
    refund = Refund(granted, order_id, "5000.00")
    before = gcp.statuses(granted.certificate_id)

    handled = gcp.handled([gcp.envelopes(refund("line")), gcp.envelopes(refund("REFUND_PENDING"))])

    assert [h.outcome for h in handled] == [A, Outcome.DEAD_LETTERED]
    assert handled[1].problem.code == "refund-refused"
    (letter,) = gcp.dead_letters()
    assert letter.reason_code == "refund-refused"
    assert letter.message_id == refund("REFUND_PENDING").message_id
    assert gcp.statuses(granted.certificate_id) == before
    certificate = gcp.certificate(granted.certificate_id)
    assert certificate.state is S.ACTIVE
    assert certificate.balance == Decimal("2000.00")
    assert (
        gcp.order(order_id)
        .decision(K.REFUND, RefundStep("REF-1", PaymentEvent.REFUND_PENDING))
        .outcome
        is DecisionOutcome.REFUSED
    )


def test_a_refund_of_a_certificate_not_sold_by_this_order_is_refused(gcp: Any) -> None:
    granted, _ = gcp.sell("5000.00")
    other = "WEB-OTHER"

    outcomes = gcp.each(
        build.order(
            other,
            refunds=[build.refund_line(granted.certificate_id)],
            event_type="ORDER_REFUND_REQUESTED",
        ),
        build.payment(other, "REF-9", "REFUND_PENDING", "5000.00", refund_of="PAY-X"),
    )

    assert outcomes == [A, Outcome.DEAD_LETTERED]
    (letter,) = gcp.dead_letters()
    assert letter.reason_code == "refund-refused"
    assert "not sold by this order" in letter.reason
    assert gcp.certificate(granted.certificate_id).state is S.ACTIVE
    assert gcp.certificate(granted.certificate_id).refund is None


def test_two_refund_lines_pair_by_amount(gcp: Any) -> None:
    order_id = "WEB-2"
    first, second = gcp.stock.reserve(2, order_id=order_id)
    lines = [
        build.certificate_line(first.certificate_id, "5000.00", notification_channel="NONE"),
        build.certificate_line(second.certificate_id, "3000.00", notification_channel="NONE"),
    ]
    gcp.each(
        build.order(order_id, certificates=lines),
        build.payment(order_id, "PAY-1", "PAYMENT_CAPTURED", "8000.00"),
    )

    gcp.each(
        build.payment(order_id, "REF-2", "REFUND_COMPLETED", "3000.00", refund_of="PAY-1"),
        build.order(
            order_id,
            certificates=lines,
            refunds=[
                build.refund_line(first.certificate_id),
                build.refund_line(second.certificate_id),
            ],
            event_type="ORDER_REFUND_REQUESTED",
        ),
    )

    assert gcp.certificate(second.certificate_id).state is S.REFUNDED
    assert gcp.certificate(first.certificate_id).state is S.ACTIVE


# ---------------------------------------------------------------------- reversal (rule 4)


def reversal(granted: Any, amount: str, refund_id: str = "REV-1") -> Any:
    return build.payment(
        POS,
        refund_id,
        "REFUND_COMPLETED",
        amount,
        method="GIFT_CERTIFICATE",
        certificate_number=granted.number,
        refund_of="PAY-80",
    )


def redeemed(gcp: Any, amount: str) -> Any:
    granted, _ = gcp.sell("5000.00")
    gcp.each(
        build.order(POS, redemptions=[build.redemption_line(granted.number, amount)]),
        build.redemption_payment(POS, "PAY-80", granted.number, amount),
    )
    return granted


def test_a_reversal_returns_money_to_the_balance(gcp: Any) -> None:
    granted = redeemed(gcp, "1500.00")

    assert gcp.each(reversal(granted, "1000.00")) == [A]

    current = gcp.object(granted.certificate_id)
    assert current["status"] == "REDEMPTION_REVERSED"
    assert current["remainingBalance"] == "4500.00"
    assert current["operation"] == {
        "type": "REDEMPTION_REVERSAL",
        "orderId": POS,
        "paymentId": "REV-1",
        "refundOf": "PAY-80",
        "amount": "1000.00",
    }
    assert gcp.order(POS).decision(K.REVERSAL, "REV-1").outcome is DecisionOutcome.DONE


def test_a_reversal_of_a_full_redemption_reactivates(gcp: Any) -> None:
    granted = redeemed(gcp, "5000.00")
    assert gcp.certificate(granted.certificate_id).state is S.REDEEMED

    gcp.each(reversal(granted, "5000.00"))

    certificate = gcp.certificate(granted.certificate_id)
    assert certificate.state is S.ACTIVE
    assert certificate.balance == Decimal("5000.00")


def test_a_reversal_is_bounded_by_its_redemption(gcp: Any) -> None:
    granted = redeemed(gcp, "1500.00")

    outcomes = gcp.each(
        reversal(granted, "1000.00", "REV-1"),
        reversal(granted, "600.00", "REV-2"),  # only 500 left to return
        reversal(granted, "500.00", "REV-3"),
    )

    assert outcomes == [A, Outcome.DEAD_LETTERED, A]
    (letter,) = gcp.dead_letters()
    assert letter.reason_code == "reversal-refused"
    assert gcp.certificate(granted.certificate_id).balance == Decimal("5000.00")
    assert gcp.order(POS).decision(K.REVERSAL, "REV-2").outcome is DecisionOutcome.REFUSED
    assert gcp.statuses(granted.certificate_id).count("REDEMPTION_REVERSED") == 2


def test_a_reversal_counts_once_per_refund_payment(gcp: Any) -> None:
    granted = redeemed(gcp, "1500.00")

    gcp.each(reversal(granted, "500.00"), reversal(granted, "500.00"))

    assert gcp.certificate(granted.certificate_id).balance == Decimal("4000.00")


@pytest.mark.parametrize("batched", [False, True], ids=["one-per-batch", "one-batch"])
def test_a_reversal_before_its_redemption_waits(gcp: Any, batched: bool) -> None:
    granted, _ = gcp.sell("5000.00")
    payment = build.redemption_payment(POS, "PAY-80", granted.number, "1500.00")
    refund = reversal(granted, "1000.00")
    line = build.order(POS, redemptions=[build.redemption_line(granted.number, "1500.00")])

    if batched:
        assert gcp.deliver(payment, refund, line) == [A, A, A]
    else:
        assert gcp.each(payment, refund) == [A, A]
        # Known here but not applied yet: the reversal waits for it, nothing happens.
        assert gcp.certificate(granted.certificate_id).balance == Decimal("5000.00")
        assert gcp.order(POS).decision(K.REVERSAL, "REV-1") is None
        assert gcp.each(line) == [A]

    cid = granted.certificate_id
    assert gcp.statuses(cid)[-2:] == ["PARTIALLY_REDEEMED", "REDEMPTION_REVERSED"]
    assert gcp.certificate(cid).balance == Decimal("4500.00")
    assert gcp.dead_letters() == []


def test_a_reversal_of_a_rejected_redemption_is_refused(gcp: Any) -> None:
    granted, _ = gcp.sell("1000.00")
    gcp.each(
        build.redemption_payment(POS, "PAY-80", granted.number, "1500.00"),
        reversal(granted, "1500.00"),
        build.order(POS, redemptions=[build.redemption_line(granted.number, "1500.00")]),
    )

    assert gcp.certificate(granted.certificate_id).balance == Decimal("1000.00")
    assert gcp.order(POS).decision(K.REVERSAL, "REV-1").outcome is DecisionOutcome.REFUSED
    (letter,) = gcp.dead_letters()
    assert letter.reason_code == "reversal-refused"
