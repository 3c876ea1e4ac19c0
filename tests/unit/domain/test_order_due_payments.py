"""SalesOrder.due(): rule 2 (redemption), rule 3 (refund of the purchase) and rule 4 (reversal
of a redemption) (CONTRACTS.md, "How GCP matches inbound facts"; docs/matching.md).

Orders are built in memory from inbound facts; decisions are recorded as the application
records them. Rule 1, facts, replay and arrival order are in test_order_due.py.
"""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest
from tests.unit.domain.sales_orders import (
    DONE,
    NUMBER,
    OTHER_NUMBER,
    REFUSED,
    K,
    OrderMessage,
    P,
    PaymentMessage,
    decide,
    deliver,
    line,
    payment,
    received,
    redemption,
    reversal,
    sale,
    till,
)

from gcp_domain.order import SalesOrder
from gcp_domain.order_values import (
    GIFT_CERTIFICATE,
    CertificateLine,
    RedemptionDue,
    RefundStep,
    RefundStepDue,
    ReversalDue,
)
from gcp_domain.vocabulary import REFUND_STEPS, DecisionOutcome, PaymentEvent

OUTCOMES = [DONE, REFUSED]
ARRIVALS = pytest.mark.parametrize("line_first", [True, False], ids=["line-first", "payment-first"])

PAY_80 = redemption("PAY-80", "1500.00")
PAY_81 = redemption("PAY-81", "1500.00")
PAY_82 = redemption("PAY-82", "1500.00")


def matched(*payments: PaymentMessage) -> list[RedemptionDue]:
    return [RedemptionDue(p.known_as(), matched=True) for p in payments]


# ---------------------------------------------------------------------- rule 2: redemption


@ARRIVALS
def test_an_order_line_and_a_redemption_payment_make_a_redemption(line_first: bool) -> None:
    order_line = till((NUMBER, "1500.00"))
    arrivals = (order_line, PAY_80) if line_first else (PAY_80, order_line)
    assert received(*arrivals).due() == matched(PAY_80)


def test_a_redemption_payment_waits_for_its_order_line() -> None:
    order = received(PAY_80)
    assert order.due() == []
    # A line for another certificate is not this payment's line, nor a mismatch of it.
    deliver(order, till((OTHER_NUMBER, "1500.00")))
    assert order.due() == []
    deliver(order, till((NUMBER, "1500.00"), message_id="POS-2"))
    assert order.due() == matched(PAY_80)


def test_a_redemption_is_its_payment_id_whatever_the_messages() -> None:
    again = redemption("PAY-80", "1500.00")
    order = received(till((NUMBER, "1500.00")), PAY_80, attrs.evolve(again, message_id="M-2"))
    assert order.due() == matched(PAY_80)


def test_an_order_line_alone_redeems_nothing() -> None:
    assert received(till((NUMBER, "1500.00"))).due() == []


def test_a_line_repeated_in_later_order_messages_is_one_redemption() -> None:
    # Every order message repeats the whole order: the same line again is the same line.
    order = received(
        till((NUMBER, "1500.00"), message_id="POS-1"),
        till((NUMBER, "1500.00"), message_id="POS-2"),
        PAY_80,
        PAY_81,
    )
    assert order.due() == matched(PAY_80)


def test_two_identical_lines_in_one_message_allow_two_payments() -> None:
    two = till((NUMBER, "1500.00"), (NUMBER, "1500.00"))
    assert received(two, PAY_80, PAY_81, PAY_82).due() == matched(PAY_80, PAY_81)


def test_the_order_has_as_many_lines_as_the_most_any_one_message_listed() -> None:
    # max, not sum: one line, then two, then one again (the same order, restated) is two.
    order = received(
        till((NUMBER, "1500.00"), message_id="POS-1"),
        till((NUMBER, "1500.00"), (NUMBER, "1500.00"), message_id="POS-2"),
        till((NUMBER, "1500.00"), message_id="POS-3"),
        PAY_80,
        PAY_81,
        PAY_82,
    )
    assert order.due() == matched(PAY_80, PAY_81)


def test_a_payment_whose_amount_matches_no_line_of_its_number_is_unmatched() -> None:
    other_amount = redemption("PAY-80", "2000.00")
    order = received(till((NUMBER, "1500.00"), (OTHER_NUMBER, "2000.00")), other_amount)
    assert order.due() == [RedemptionDue(other_amount.known_as(), matched=False)]


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_a_decided_redemption_is_not_due_again(outcome: DecisionOutcome) -> None:
    order = received(till((NUMBER, "1500.00")), PAY_80)
    decide(order, K.REDEMPTION, "PAY-80", outcome, certificate_id="C9")
    assert order.due() == []


def test_a_decided_redemption_keeps_its_line() -> None:
    order = received(till((NUMBER, "1500.00")), PAY_80)
    decide(order, K.REDEMPTION, "PAY-80", certificate_id="C9")
    # A second payment of the same number and amount has no line of its own: it waits (an
    # order message may yet list a second line), it is not a mismatch.
    deliver(order, PAY_81)
    assert order.due() == []
    deliver(order, till((NUMBER, "1500.00"), (NUMBER, "1500.00"), message_id="POS-2"))
    assert order.due() == matched(PAY_81)


def test_a_decided_unmatched_redemption_is_not_due_again() -> None:
    other_amount = redemption("PAY-80", "2000.00")
    order = received(till((NUMBER, "1500.00")), other_amount)
    decide(order, K.REDEMPTION, "PAY-80", reason="AMOUNT_MISMATCH", certificate_id="C9")
    assert order.due() == []
    deliver(order, PAY_81)  # the line is still free for its own payment
    assert order.due() == matched(PAY_81)


def test_redemptions_of_two_certificates_are_matched_each_on_its_own_lines() -> None:
    other = redemption("PAY-90", "700.00", number=OTHER_NUMBER)
    order = received(till((NUMBER, "1500.00"), (OTHER_NUMBER, "700.00")), other, PAY_80)
    assert order.due() == matched(other, PAY_80)


# ---------------------------------------------------------------------- rule 3: refund

C1 = line("C1", "5000.00")
C2 = line("C2", "3000.00")
C3 = line("C3", "3000.00")


def issued(*lines: CertificateLine) -> SalesOrder:
    """A sale of `lines`, paid in full, every certificate issued: nothing due."""
    total = sum((sold.amount for sold in lines), Decimal(0))
    order = received(sale("ORD-1", *lines), payment("PAY-1", P.PAYMENT_CAPTURED, str(total)))
    for sold in lines:
        decide(order, K.ISSUE, sold.certificate_id, certificate_id=sold.certificate_id)
    assert order.due() == []
    return order


def refunds(*certificate_ids: str, lines: tuple[CertificateLine, ...] = (C1,)) -> OrderMessage:
    """The sale order restated with its `refunds` lines."""
    return sale(
        "ORD-REFUND", *lines, event_type="ORDER_REFUND_REQUESTED", refunds=list(certificate_ids)
    )


def refund(
    step: PaymentEvent, amount: str = "5000.00", payment_id: str = "REF-1"
) -> PaymentMessage:
    """A step of the refund of a certificate's purchase (by card, returning PAY-1)."""
    return payment(payment_id, step, amount, refund_of="PAY-1")


def step_due(
    refunded: PaymentMessage, certificate_id: str, step: PaymentEvent, *also: PaymentEvent
) -> RefundStepDue:
    return RefundStepDue(refunded.known_as(*also), certificate_id, step)


def decide_step(
    order: SalesOrder, payment_id: str, step: PaymentEvent, certificate_id: str
) -> None:
    decide(order, K.REFUND, RefundStep(payment_id, step), certificate_id=certificate_id)


@pytest.mark.parametrize("step", REFUND_STEPS)
@ARRIVALS
def test_a_refund_payment_and_the_refunds_line_make_a_refund_step(
    step: PaymentEvent, line_first: bool
) -> None:
    arrivals = (refunds("C1"), refund(step)) if line_first else (refund(step), refunds("C1"))
    order = deliver(issued(C1), *arrivals)
    assert order.due() == [step_due(refund(step), "C1", step)]


def test_a_refund_payment_waits_for_the_refunds_line() -> None:
    order = deliver(
        issued(C1), refund(P.REFUND_PENDING), sale("ORD-2", C1, event_type="ORDER_UPDATED")
    )
    assert order.due() == []
    deliver(order, refunds("C1"))
    assert order.due() == [step_due(refund(P.REFUND_PENDING), "C1", P.REFUND_PENDING)]


def test_the_steps_are_due_in_step_order_whatever_their_arrival() -> None:
    arrived = [refund(step) for step in reversed(REFUND_STEPS)]
    order = deliver(issued(C1), refunds("C1"), *arrived)
    first = arrived[0]  # the payment's details are those first seen; its types all of them
    assert order.due() == [step_due(first, "C1", step, *REFUND_STEPS) for step in REFUND_STEPS]


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_a_decided_step_is_not_due_again(outcome: DecisionOutcome) -> None:
    pending, done = refund(P.REFUND_PENDING), refund(P.REFUND_COMPLETED)
    order = deliver(issued(C1), refunds("C1"), pending, done)
    pending_step = RefundStep("REF-1", P.REFUND_PENDING)
    decide(order, K.REFUND, pending_step, outcome, certificate_id="C1")
    assert order.due() == [step_due(pending, "C1", P.REFUND_COMPLETED, P.REFUND_COMPLETED)]
    decide_step(order, "REF-1", P.REFUND_COMPLETED, "C1")
    assert order.due() == []


def test_the_steps_of_a_payment_id_holding_a_slash_are_decided_each_once() -> None:
    slash = "SBP/2026-11/REF-1"
    pending = refund(P.REFUND_PENDING, payment_id=slash)
    details = refund(P.REFUND_PENDING_DETAILS, payment_id=slash)
    order = deliver(issued(C1), refunds("C1"), pending, details)
    decide_step(order, slash, P.REFUND_PENDING, "C1")
    assert order.due() == [
        step_due(pending, "C1", P.REFUND_PENDING_DETAILS, P.REFUND_PENDING_DETAILS)
    ]
    decide_step(order, slash, P.REFUND_PENDING_DETAILS, "C1")
    assert order.due() == []


def test_a_late_pending_step_after_the_completion_is_still_due() -> None:
    # The order lists every step not yet decided; the certificate records nothing for a late
    # pending step of a completed refund (docs/architecture.md, item 8).
    done, late = refund(P.REFUND_COMPLETED), refund(P.REFUND_PENDING)
    order = deliver(issued(C1), refunds("C1"), done)
    decide_step(order, "REF-1", P.REFUND_COMPLETED, "C1")
    deliver(order, late)
    assert order.due() == [step_due(done, "C1", P.REFUND_PENDING, P.REFUND_PENDING)]


@pytest.mark.parametrize("step", [P.REFUND_PENDING, P.REFUND_PENDING_DETAILS, P.REFUND_FAILED])
def test_a_refund_to_a_gift_certificate_is_not_a_refund_of_the_purchase(
    step: PaymentEvent,
) -> None:
    to_certificate = payment("REV-1", step, "5000.00", method=GIFT_CERTIFICATE, number=NUMBER)
    assert deliver(issued(C1), refunds("C1"), to_certificate).due() == []


# Which refunds line a refund payment is for (`_refunded_certificate`).


def test_the_only_refunds_line_takes_the_refund_whatever_its_amount() -> None:
    # The amount is the certificate's business (a refund beyond its balance is refused there).
    order = deliver(issued(C1, C2), refunds("C2", lines=(C1, C2)), refund(P.REFUND_PENDING))
    assert order.due() == [step_due(refund(P.REFUND_PENDING), "C2", P.REFUND_PENDING)]


def test_the_line_whose_certificate_sold_for_the_refunded_amount_takes_the_refund() -> None:
    pending = refund(P.REFUND_PENDING, "3000.00")
    order = deliver(issued(C1, C2), refunds("C1", "C2", lines=(C1, C2)), pending)
    assert order.due() == [step_due(pending, "C2", P.REFUND_PENDING)]


def test_else_the_first_line_not_yet_paired_takes_the_refund() -> None:
    first = refund(P.REFUND_PENDING, "1000.00", payment_id="REF-1")
    second = refund(P.REFUND_PENDING, "1000.00", payment_id="REF-2")
    order = deliver(issued(C1, C2), refunds("C1", "C2", lines=(C1, C2)), first)
    assert order.due() == [step_due(first, "C1", P.REFUND_PENDING)]
    decide_step(order, "REF-1", P.REFUND_PENDING, "C1")
    deliver(order, second)
    assert order.due() == [step_due(second, "C2", P.REFUND_PENDING)]


def test_a_paired_line_does_not_take_a_second_refund_of_its_amount() -> None:
    # C2 and C3 both sold for 3000.00: two refunds of 3000.00 are one each.
    first = refund(P.REFUND_PENDING, "3000.00", payment_id="REF-1")
    second = refund(P.REFUND_PENDING, "3000.00", payment_id="REF-2")
    order = deliver(issued(C2, C3), refunds("C2", "C3", lines=(C2, C3)), first)
    decide_step(order, "REF-1", P.REFUND_PENDING, "C2")
    deliver(order, second)
    assert order.due() == [step_due(second, "C3", P.REFUND_PENDING)]


def test_a_refund_stays_with_the_line_it_was_paired_with() -> None:
    # REF-1 (no amount matches) took the first line, C1. Its later step stays with C1 although
    # C1 is no longer "not yet paired" and C2 now is the first free line.
    pending = refund(P.REFUND_PENDING, "1000.00")
    order = deliver(issued(C1, C2), refunds("C1", "C2", lines=(C1, C2)), pending)
    decide_step(order, "REF-1", P.REFUND_PENDING, "C1")
    deliver(order, refund(P.REFUND_COMPLETED, "1000.00"))
    assert order.due() == [step_due(pending, "C1", P.REFUND_COMPLETED, P.REFUND_COMPLETED)]


def test_the_steps_of_one_refund_under_their_own_payment_ids_with_one_refunds_line() -> None:
    pending = refund(P.REFUND_PENDING, payment_id="REF-1")
    completed = refund(P.REFUND_COMPLETED, payment_id="REF-1-DONE")
    order = deliver(issued(C1, C2), refunds("C1", lines=(C1, C2)), pending)
    decide_step(order, "REF-1", P.REFUND_PENDING, "C1")
    deliver(order, completed)
    assert order.due() == [step_due(completed, "C1", P.REFUND_COMPLETED)]


# ---------------------------------------------------------------------- rule 4: reversal


def test_a_completed_refund_to_a_certificate_is_a_reversal() -> None:
    # Its redemption was made in another order: nothing here to wait for.
    returned = reversal("REV-1", "1000.00", refund_of="PAY-80")
    assert received(returned).due() == [ReversalDue(returned.known_as())]


@pytest.mark.parametrize("step", [P.REFUND_PENDING, P.REFUND_PENDING_DETAILS, P.REFUND_FAILED])
def test_a_refund_to_a_certificate_not_completed_reverses_nothing(step: PaymentEvent) -> None:
    assert received(reversal("REV-1", "1000.00", refund_of="PAY-80", event_type=step)).due() == []


def test_a_reversal_waits_for_the_redemption_it_returns() -> None:
    returned = reversal("REV-1", "1000.00", refund_of="PAY-80")
    order = received(returned, PAY_80)
    assert order.due() == []  # the redemption waits for its line, the reversal for it
    deliver(order, till((NUMBER, "1500.00")))
    assert order.due() == matched(PAY_80)
    decide(order, K.REDEMPTION, "PAY-80", certificate_id="C9")
    assert order.due() == [ReversalDue(returned.known_as())]


def test_a_reversal_of_a_refused_redemption_is_due() -> None:
    # Decided is decided: the certificate says what a reversal of nothing is.
    returned = reversal("REV-1", "1000.00", refund_of="PAY-80")
    order = received(till((NUMBER, "1500.00")), PAY_80, returned)
    decide(order, K.REDEMPTION, "PAY-80", REFUSED, reason="UNKNOWN_CERTIFICATE")
    assert order.due() == [ReversalDue(returned.known_as())]


def test_a_reversal_naming_no_redemption_is_due() -> None:
    # The application refuses it (refundOf is required); the rule does not hold it back.
    returned = reversal("REV-1", "1000.00", refund_of=None)
    assert received(returned).due() == [ReversalDue(returned.known_as())]


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_a_decided_reversal_is_not_due_again(outcome: DecisionOutcome) -> None:
    returned = reversal("REV-1", "1000.00", refund_of="PAY-80")
    order = decide(received(returned), K.REVERSAL, "REV-1", outcome, certificate_id="C9")
    assert order.due() == []
    deliver(order, reversal("REV-1", "1000.00", refund_of="PAY-80", event_type=P.REFUND_PENDING))
    assert order.due() == []
