"""SalesOrder.due(): rule 1 (issue, release, cancel), how facts are kept and merged, replay,
and arrival order (CONTRACTS.md, "How GCP matches inbound facts"; docs/matching.md).

Orders are built in memory from inbound facts; decisions are recorded as the application
records them. Rules 2 to 4 are in test_order_due_payments.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.arrivals import draw_arrivals
from tests.unit.domain.sales_orders import (
    DONE,
    NUMBER,
    ORDER_ID,
    OTHER_NUMBER,
    REFUSED,
    K,
    Message,
    P,
    decide,
    deliver,
    line,
    new_order,
    payment,
    received,
    redemption,
    replayed,
    reversal,
    sale,
    same_items,
    till,
)

from gcp_domain.errors import ConflictingDuplicate
from gcp_domain.order import SalesOrder
from gcp_domain.order_values import (
    GIFT_CERTIFICATE,
    CancelDue,
    Decision,
    IssueDue,
    RedemptionDue,
    RefundStep,
    RefundStepDue,
    ReleaseDue,
    ReversalDue,
)
from gcp_domain.vocabulary import DecisionKind, DecisionOutcome, PaymentEvent

CAPTURED = payment("PAY-77", P.PAYMENT_CAPTURED)
FAILURES = [P.PAYMENT_FAILED, P.PAYMENT_VOIDED]
CANCELLATION = sale("ORD-2", event_type="ORDER_CANCELLED")  # the order restated, cancelled


def issued() -> SalesOrder:
    """An order paid in full whose certificate C1 has been issued."""
    return decide(received(sale(), CAPTURED), K.ISSUE, "C1", certificate_id="C1")


# ---------------------------------------------------------------------- rule 1: issue


def test_an_order_alone_is_not_paid() -> None:
    assert received(sale()).due() == []


def test_a_payment_alone_names_no_certificate() -> None:
    assert received(CAPTURED).due() == []


@pytest.mark.parametrize("succeeded", [P.PAYMENT_AUTHORIZED, P.PAYMENT_CAPTURED])
def test_a_certificate_is_issued_once_its_order_is_paid_in_full(succeeded: PaymentEvent) -> None:
    order = received(sale(), payment("PAY-77", succeeded))
    assert order.due() == [IssueDue(line())]


def test_payment_before_the_order_and_after_it_give_the_same_due() -> None:
    assert received(CAPTURED, sale()).due() == [IssueDue(line())]
    assert received(sale(), CAPTURED).due() == [IssueDue(line())]


def test_partial_payments_issue_once_they_sum_to_the_certificates_amount() -> None:
    order = received(sale(), payment("PAY-1", P.PAYMENT_CAPTURED, "2000.00"))
    assert order.due() == []
    deliver(order, payment("PAY-2", P.PAYMENT_AUTHORIZED, "3000.00"))
    assert order.due() == [IssueDue(line())]


def test_an_overpaid_order_issues() -> None:
    order = received(sale(), payment("PAY-77", P.PAYMENT_CAPTURED, "5000.01"))
    assert order.due() == [IssueDue(line())]


def test_the_payments_must_cover_every_certificate_of_the_order() -> None:
    c1, c2 = line("C1", "5000.00"), line("C2", "3000.00")
    order = received(sale("ORD-1", c1, c2), payment("PAY-1", P.PAYMENT_CAPTURED, "7999.99"))
    assert order.due() == []
    deliver(order, payment("PAY-2", P.PAYMENT_CAPTURED, "0.01"))
    assert order.due() == [IssueDue(c1), IssueDue(c2)]


def test_authorized_then_captured_of_one_payment_counts_once() -> None:
    # One payment of 2500 reported twice is 2500, not 5000.
    order = received(
        sale(),
        payment("PAY-77", P.PAYMENT_AUTHORIZED, "2500.00"),
        payment("PAY-77", P.PAYMENT_CAPTURED, "2500.00"),
    )
    assert order.due() == []


def test_a_payment_in_another_currency_does_not_count() -> None:
    order = received(sale(), payment("PAY-1", P.PAYMENT_CAPTURED, currency="USD"))
    assert order.due() == []
    deliver(order, payment("PAY-2", P.PAYMENT_CAPTURED, "5000.00"))
    assert order.due() == [IssueDue(line())]


@pytest.mark.parametrize("succeeded", [P.PAYMENT_AUTHORIZED, P.PAYMENT_CAPTURED])
def test_a_payment_by_gift_certificate_does_not_pay_for_a_certificate(
    succeeded: PaymentEvent,
) -> None:
    order = received(sale(), payment("PAY-GC", succeeded, method=GIFT_CERTIFICATE, number=NUMBER))
    assert order.due() == []


def test_an_issued_certificate_is_not_due_again() -> None:
    order = issued()
    assert order.due() == []
    deliver(order, payment("PAY-78", P.PAYMENT_CAPTURED, "100.00"))  # an extra payment
    assert order.due() == []


def test_a_refused_issue_is_settled() -> None:
    order = decide(received(sale(), CAPTURED), K.ISSUE, "C1", REFUSED, certificate_id="C1")
    assert order.due() == []
    # The certificate refused (say, another order holds it): not this order's to release.
    deliver(order, CANCELLATION)
    assert order.due() == []


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failed_or_voided_payment_before_issue_releases(failure: PaymentEvent) -> None:
    assert received(sale(), payment("PAY-77", failure)).due() == [ReleaseDue("C1")]
    assert received(payment("PAY-77", failure), sale()).due() == [ReleaseDue("C1")]


def test_a_cancelled_order_releases_its_certificates_before_issue() -> None:
    c1, c2 = line("C1"), line("C2", "3000.00")
    order = received(sale("ORD-1", c1, c2), sale("ORD-2", c1, c2, event_type="ORDER_CANCELLED"))
    assert order.due() == [ReleaseDue("C1"), ReleaseDue("C2")]


def test_a_cancellation_outranks_a_payment_in_full() -> None:
    order = received(sale(), CAPTURED, CANCELLATION)
    assert order.due() == [ReleaseDue("C1")]


def test_a_failure_and_a_cancellation_release_a_certificate_once() -> None:
    order = received(sale(), payment("PAY-77", P.PAYMENT_VOIDED), CANCELLATION)
    assert order.due() == [ReleaseDue("C1")]


@pytest.mark.parametrize("outcome", [DONE, REFUSED])
def test_a_release_is_due_once(outcome: DecisionOutcome) -> None:
    order = received(sale(), payment("PAY-77", P.PAYMENT_FAILED))
    decide(order, K.RELEASE, "C1", outcome, certificate_id="C1")
    assert order.due() == []
    deliver(order, payment("PAY-78", P.PAYMENT_VOIDED), CANCELLATION)
    assert order.due() == []


def test_a_cancelled_order_cancels_an_issued_certificate() -> None:
    order = deliver(issued(), CANCELLATION)
    assert order.due() == [CancelDue("C1", "ORDER_CANCELLED")]


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failure_of_the_paying_payment_cancels_an_issued_certificate(
    failure: PaymentEvent,
) -> None:
    order = deliver(issued(), payment("PAY-77", failure))
    assert order.due() == [CancelDue("C1", "PAYMENT_FAILED")]


def test_a_cancelled_order_cancels_even_if_a_payment_also_failed() -> None:
    order = deliver(issued(), payment("PAY-77", P.PAYMENT_VOIDED), CANCELLATION)
    assert order.due() == [CancelDue("C1", "ORDER_CANCELLED")]


def test_a_failed_extra_payment_after_issue_cancels_nothing() -> None:
    # The order is still paid in full (docs/matching.md, rule 1).
    assert deliver(issued(), payment("PAY-76", P.PAYMENT_FAILED, "100.00")).due() == []


@pytest.mark.parametrize("outcome", [DONE, REFUSED])
def test_a_cancel_is_due_once(outcome: DecisionOutcome) -> None:
    # A refused cancel (the certificate was redeemed meanwhile) is recorded, not retried.
    order = deliver(issued(), CANCELLATION)
    decide(order, K.CANCEL, "C1", outcome, certificate_id="C1")
    assert order.due() == []


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("failure_first", [True, False], ids=["failure-first", "success-first"])
def test_a_failure_of_a_payment_outranks_its_success_whichever_arrived_first(
    failure: PaymentEvent, failure_first: bool
) -> None:
    success, failed = CAPTURED, payment("PAY-77", failure)
    arrivals = (failed, success) if failure_first else (success, failed)
    assert received(sale(), *arrivals).due() == [ReleaseDue("C1")]


@pytest.mark.parametrize("failure_first", [True, False], ids=["failure-first", "success-first"])
def test_an_order_paid_in_full_despite_a_failed_extra_payment_still_issues(
    failure_first: bool,
) -> None:
    failed = payment("PAY-76", P.PAYMENT_FAILED)
    arrivals = (failed, CAPTURED) if failure_first else (CAPTURED, failed)
    assert received(sale(), *arrivals).due() == [IssueDue(line())]


def test_a_payment_in_full_after_a_release_issues() -> None:
    # The lapsed-reservation rule (docs/architecture.md, item 2): the channel has already
    # handed out the number, so a later successful payment still issues.
    order = decide(
        received(sale(), payment("PAY-76", P.PAYMENT_FAILED)),
        K.RELEASE,
        "C1",
        certificate_id="C1",
    )
    deliver(order, CAPTURED)
    assert order.due() == [IssueDue(line())]


def test_a_payment_after_the_release_of_a_cancelled_order_issues_nothing() -> None:
    order = received(sale(), CANCELLATION)
    decide(order, K.RELEASE, "C1", certificate_id="C1")
    deliver(order, CAPTURED)
    assert order.due() == []


# ---------------------------------------------------------------------- facts: once, merged


def test_a_redelivered_order_message_changes_nothing() -> None:
    first = sale()
    order = received(first, CAPTURED)
    order.collect_events()
    version = order.version
    assert first.deliver(order) is False
    # The same messageId with other facts is refused; the first delivery stands
    # (tests/unit/domain/test_order_dedup.py).
    with pytest.raises(ConflictingDuplicate):
        sale(event_type="ORDER_CANCELLED").deliver(order)
    assert order.collect_events() == []
    assert order.version == version
    assert order.due() == [IssueDue(line())]


def test_a_redelivered_payment_changes_nothing() -> None:
    order = received(sale(), payment("PAY-77", P.PAYMENT_CAPTURED, "2500.00"))
    order.collect_events()
    assert payment("PAY-77", P.PAYMENT_CAPTURED, "2500.00").deliver(order) is False
    # A message reusing that messageId with other facts is refused, not taken.
    reused = payment("PAY-78", P.PAYMENT_CAPTURED, message_id="PAY-77:PAYMENT_CAPTURED")
    with pytest.raises(ConflictingDuplicate):
        reused.deliver(order)
    assert order.collect_events() == []
    assert order.due() == []


def test_a_new_message_is_taken_and_says_so() -> None:
    order = new_order()
    assert sale().deliver(order) is True
    assert CAPTURED.deliver(order) is True
    assert (sale().deliver(order), CAPTURED.deliver(order)) == (False, False)


def test_the_order_details_first_seen_stand() -> None:
    anna = {"name": "Anna", "email": "anna@example.com", "phone": None}
    bob = {"name": "Bob", "email": "bob@example.com", "phone": None}
    order = received(
        sale("ORD-1", channel=None, client_id=None, customer=None),
        sale("ORD-2", channel="WEB", client_id="C-1", customer=anna, currency="RUB"),
        sale("ORD-3", channel="POS", client_id="C-2", customer=bob, currency="USD"),
    )
    # A message without a detail does not erase it; a later one does not overwrite it.
    assert (order.channel, order.client_id, order.customer) == ("WEB", "C-1", anna)
    assert order.currency == "RUB"
    deliver(order, CAPTURED)  # in RUB, the order's first-seen currency
    assert order.due() == [IssueDue(line())]


def test_a_cancellation_sticks() -> None:
    order = received(
        CANCELLATION,
        sale("ORD-1", event_type="ORDER_CREATED"),
        sale("ORD-3", event_type="ORDER_UPDATED"),
    )
    assert order.cancelled
    assert order.due() == [ReleaseDue("C1")]


def test_a_certificate_line_first_seen_stands() -> None:
    first = line("C1", "5000.00", channel="EMAIL")
    later = line("C1", "3000.00", channel="SMS", validity_days=30)
    order = received(sale("ORD-1", first), sale("ORD-2", later))
    deliver(order, payment("PAY-1", P.PAYMENT_CAPTURED, "3000.00"))
    assert order.due() == []  # still 5000.00 required
    deliver(order, payment("PAY-2", P.PAYMENT_CAPTURED, "2000.00"))
    assert order.due() == [IssueDue(first)]


def test_certificate_lines_of_all_messages_are_kept() -> None:
    c1, c2 = line("C1"), line("C2", "3000.00")
    order = received(sale("ORD-1", c1), sale("ORD-2", c2), sale("ORD-3", c1))
    deliver(order, payment("PAY-1", P.PAYMENT_CAPTURED, "8000.00"))
    assert order.due() == [IssueDue(c1), IssueDue(c2)]


def test_a_decision_is_taken_once() -> None:
    order = received(sale(), CAPTURED)
    order.collect_events()
    decide(order, K.ISSUE, "C1", DONE, certificate_id="C1")
    decide(order, K.ISSUE, "C1", REFUSED, certificate_id="C1", reason="too late")
    assert [type(e) for e in order.collect_events()] == [SalesOrder.Decided]
    assert order.decision(K.ISSUE, "C1") == Decision(DONE, None, "C1")


def test_a_refund_step_is_decided_once() -> None:
    order = new_order()
    order.collect_events()
    step = RefundStep("REF-1", P.REFUND_PENDING)
    decide(order, K.REFUND, step, certificate_id="C1")
    decide(order, K.REFUND, step, REFUSED, certificate_id="C1")
    assert len(order.collect_events()) == 1
    assert order.decision(K.REFUND, step) == Decision(DONE, None, "C1")


# ---------------------------------------------------------------------- replay


def test_an_order_rebuilt_from_its_events_has_the_same_due_and_decisions() -> None:
    slash = "SBP/2026-11/REF-1"  # a paymentId may hold a "/"
    lines = (line("C1"), line("C2", "3000.00"))
    returned = reversal("REV-1", "1000.00", refund_of="PAY-80")
    refund_pending = payment(slash, P.REFUND_PENDING, "3000.00", refund_of="PAY-1")
    order = received(
        sale("ORD-1", *lines),
        till((NUMBER, "1500.00")),
        payment("PAY-1", P.PAYMENT_CAPTURED, "8000.00"),
        redemption("PAY-80", "1500.00"),
        returned,
        sale("ORD-2", *lines, event_type="ORDER_REFUND_REQUESTED", refunds=["C2"]),
        refund_pending,
        payment(slash, P.REFUND_COMPLETED, "3000.00", refund_of="PAY-1"),
    )
    decide(order, K.ISSUE, "C1", certificate_id="C1")
    decide(order, K.ISSUE, "C2", certificate_id="C2")
    decide(order, K.REDEMPTION, "PAY-80", certificate_id="C9")
    decide(order, K.REFUND, RefundStep(slash, P.REFUND_PENDING), certificate_id="C2")
    # Still due, in the payments' order of arrival: the reversal (its redemption is applied
    # now) and the refund's completion.
    expected = [
        ReversalDue(returned.known_as()),
        RefundStepDue(refund_pending.known_as(P.REFUND_COMPLETED), "C2", P.REFUND_COMPLETED),
    ]
    assert order.due() == expected

    rebuilt = replayed(order)

    assert (rebuilt.id, rebuilt.version, rebuilt.order_id) == (order.id, order.version, ORDER_ID)
    assert rebuilt.due() == expected
    assert rebuilt.decisions == order.decisions
    assert rebuilt.payments == order.payments
    assert rebuilt.messages == order.messages
    assert rebuilt == order
    # Decisions come back under typed keys, so `decision()` finds them as the live order does.
    assert all(type(kind) is DecisionKind for kind, _ in rebuilt.decisions)
    assert all(type(d.outcome) is DecisionOutcome for d in rebuilt.decisions.values())
    assert rebuilt.decision(K.REFUND, RefundStep(slash, P.REFUND_PENDING)) == Decision(
        DONE, None, "C2"
    )
    [refund_key] = [subject for kind, subject in rebuilt.decisions if kind is K.REFUND]
    assert refund_key == RefundStep(slash, P.REFUND_PENDING)
    assert isinstance(refund_key, RefundStep)
    assert type(refund_key.step) is PaymentEvent


def test_a_replayed_order_goes_on_matching_as_the_live_one() -> None:
    order = received(sale(), payment("PAY-77", P.PAYMENT_FAILED))
    decide(order, K.RELEASE, "C1", certificate_id="C1")
    rebuilt = replayed(order)
    deliver(rebuilt, CANCELLATION)
    assert rebuilt.due() == []  # the release is remembered: not due again
    assert payment("PAY-77", P.PAYMENT_FAILED).deliver(rebuilt) is False


# ---------------------------------------------------------------------- arrival order

# One order's messages: a sale of two certificates paid by two payments (one authorized,
# then captured), a redemption with its line, an amount mismatch, a refund of C2's purchase in
# two steps, a reversal of the redemption, a failed extra payment and a cancellation. Every
# subset of them, delivered in any order, some twice, must leave the same due items.
ANNA = {"name": "Anna", "email": "anna@example.com", "phone": None}
C1 = line("C1", "5000.00", recipient=ANNA)
C2 = line("C2", "3000.00", channel="NONE")
REDEEMED = redemption("PAY-80", "1500.00")
MISMATCH = redemption("PAY-81", "900.00", number=OTHER_NUMBER)
REFUND_PENDING = payment("REF-1", P.REFUND_PENDING, "3000.00", refund_of="PAY-1")
REFUND_DONE = payment("REF-1", P.REFUND_COMPLETED, "3000.00", refund_of="PAY-1")
MESSAGES: dict[str, Message] = {
    "created": sale("ORD-1", C1, C2, redemptions=[(NUMBER, "1500.00")]),
    "updated": sale(
        "ORD-2",
        C1,
        C2,
        event_type="ORDER_REFUND_REQUESTED",
        redemptions=[(NUMBER, "1500.00"), (OTHER_NUMBER, "700.00")],
        refunds=["C2"],
    ),
    "cancelled": sale("ORD-3", C1, C2, event_type="ORDER_CANCELLED"),
    "authorized": payment("PAY-1", P.PAYMENT_AUTHORIZED, "6000.00"),
    "captured": payment("PAY-1", P.PAYMENT_CAPTURED, "6000.00"),
    "sbp": payment("PAY-2", P.PAYMENT_CAPTURED, "2000.00", method="SBP"),
    "failed": payment("PAY-3", P.PAYMENT_FAILED, "100.00"),
    "redeemed": REDEEMED,
    "mismatch": MISMATCH,
    "refund-pending": REFUND_PENDING,
    "refund-done": REFUND_DONE,
    "reversal": reversal("REV-1", "1000.00", refund_of="PAY-80"),
}


def in_order(names: list[str]) -> SalesOrder:
    return received(*(MESSAGES[name] for name in names))


def test_the_arrival_scenario_calls_for_each_rule() -> None:
    # The property below compares arrival orders; this pins what the whole set calls for.
    refund = REFUND_PENDING.known_as(P.REFUND_COMPLETED)
    assert in_order([name for name in MESSAGES if name != "cancelled"]).due() == [
        IssueDue(C1),
        IssueDue(C2),
        RedemptionDue(REDEEMED.known_as(), matched=True),
        RedemptionDue(MISMATCH.known_as(), matched=False),
        RefundStepDue(refund, "C2", P.REFUND_PENDING),
        RefundStepDue(refund, "C2", P.REFUND_COMPLETED),
        # No reversal: it waits for the redemption PAY-80, known here and not yet applied.
    ]
    assert in_order(list(MESSAGES)).due()[:2] == [ReleaseDue("C1"), ReleaseDue("C2")]


@given(data=st.data())
def test_due_does_not_depend_on_the_order_of_arrival(data: st.DataObject) -> None:
    names = data.draw(
        st.lists(st.sampled_from(sorted(MESSAGES)), unique=True, min_size=1), label="messages"
    )
    arrivals = draw_arrivals(data, names, lambda _name, _seen: True)
    canonical = [name for name in MESSAGES if name in names]  # as produced, each once
    assert same_items(in_order(arrivals).due(), in_order(canonical).due())
