"""Rule 2, redemption: an order's `redemptions` line and a REDEMPTION payment together make one
redemption, in either order of arrival, applied once per paymentId."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from gcp_app.inbound import Outcome
from gcp_app.inbound import builders as build
from gcp_domain import CertificateState
from gcp_domain.vocabulary import DecisionKind as K
from gcp_domain.vocabulary import DecisionOutcome

S = CertificateState
A = Outcome.APPLIED
POS = "POS-9"


def rejection(gcp: Any, certificate_id: Any) -> dict[str, Any]:
    current = gcp.object(certificate_id)
    assert current["status"] == "REDEMPTION_REJECTED"
    assert current["operation"]["type"] == "REDEMPTION_ATTEMPT"
    return current


@pytest.mark.parametrize("payment_first", [False, True], ids=["line-first", "payment-first"])
@pytest.mark.parametrize(
    ("amount", "status", "balance"),
    [("1500.00", "PARTIALLY_REDEEMED", "3500.00"), ("5000.00", "REDEEMED", "0.00")],
)
def test_line_and_payment_redeem_in_either_order(
    gcp: Any, payment_first: bool, amount: str, status: str, balance: str
) -> None:
    granted, _ = gcp.sell("5000.00")
    line = build.order(POS, redemptions=[build.redemption_line(granted.number, amount)])
    payment = build.redemption_payment(POS, "PAY-80", granted.number, amount)
    first, second = (payment, line) if payment_first else (line, payment)

    assert gcp.each(first) == [A]
    assert gcp.certificate(granted.certificate_id).balance == Decimal("5000.00")
    assert gcp.each(second) == [A]

    current = gcp.object(granted.certificate_id)
    assert current["status"] == status
    assert current["remainingBalance"] == balance
    assert current["operation"] == {
        "type": "REDEMPTION",
        "orderId": POS,
        "paymentId": "PAY-80",
        "amount": amount,
    }
    assert current["state"] == ("REDEEMED" if balance == "0.00" else "ACTIVE")
    decision = gcp.order(POS).decision(K.REDEMPTION, "PAY-80")
    assert (decision.outcome, decision.reason) == (DecisionOutcome.DONE, None)
    assert decision.certificate_id == str(granted.certificate_id)


def test_the_order_message_repeated_changes_nothing(gcp: Any) -> None:
    granted, _ = gcp.sell("5000.00")
    lines = [build.redemption_line(granted.number, "1500.00")]
    gcp.each(
        build.order(POS, redemptions=lines),
        build.redemption_payment(POS, "PAY-80", granted.number, "1500.00"),
    )
    recorded = gcp.recorded()

    # Every order message repeats the whole order: new messageId, same line.
    outcomes = gcp.each(
        build.order(POS, redemptions=lines, event_type="ORDER_UPDATED"),
        build.order(POS, redemptions=lines, event_type="ORDER_UPDATED"),
    )

    assert outcomes == [A, A]
    assert gcp.recorded() == recorded + 2  # the two order facts, no certificate change
    assert gcp.certificate(granted.certificate_id).balance == Decimal("3500.00")
    assert gcp.statuses(granted.certificate_id).count("PARTIALLY_REDEEMED") == 1


def test_the_payment_redelivered_under_a_new_message_id_redeems_once(gcp: Any) -> None:
    granted, _ = gcp.sell("5000.00")
    gcp.each(
        build.order(POS, redemptions=[build.redemption_line(granted.number, "1500.00")]),
        build.redemption_payment(POS, "PAY-80", granted.number, "1500.00"),
        build.redemption_payment(POS, "PAY-80", granted.number, "1500.00"),
    )

    assert gcp.certificate(granted.certificate_id).balance == Decimal("3500.00")


def test_two_identical_lines_and_two_payments_are_two_redemptions(gcp: Any) -> None:
    granted, _ = gcp.sell("5000.00")
    line = build.redemption_line(granted.number, "1000.00")
    gcp.each(
        build.redemption_payment(POS, "PAY-80", granted.number, "1000.00"),
        build.order(POS, redemptions=[line, line]),
        build.order(POS, redemptions=[line, line], event_type="ORDER_UPDATED"),
        build.redemption_payment(POS, "PAY-81", granted.number, "1000.00"),
    )

    certificate = gcp.certificate(granted.certificate_id)
    assert certificate.balance == Decimal("3000.00")
    assert set(certificate.redemptions) == {"PAY-80", "PAY-81"}
    # A third payment has no line left: it waits for an order that lists a third.
    gcp.each(build.redemption_payment(POS, "PAY-82", granted.number, "1000.00"))
    assert gcp.certificate(granted.certificate_id).balance == Decimal("3000.00")
    assert gcp.order(POS).decision(K.REDEMPTION, "PAY-82") is None


@pytest.mark.parametrize("payment_first", [False, True], ids=["line-first", "payment-first"])
def test_an_amount_mismatch_is_rejected(gcp: Any, payment_first: bool) -> None:
    granted, _ = gcp.sell("5000.00")
    line = build.order(POS, redemptions=[build.redemption_line(granted.number, "1500.00")])
    payment = build.redemption_payment(POS, "PAY-80", granted.number, "1000.00")

    assert gcp.each(*((payment, line) if payment_first else (line, payment))) == [A, A]

    current = rejection(gcp, granted.certificate_id)
    assert current["reason"] == "AMOUNT_MISMATCH"
    assert current["remainingBalance"] == "5000.00"
    assert current["operation"]["amount"] == "1000.00"
    decision = gcp.order(POS).decision(K.REDEMPTION, "PAY-80")
    assert (decision.outcome, decision.reason) == (DecisionOutcome.DONE, "AMOUNT_MISMATCH")


def test_insufficient_balance_is_rejected(gcp: Any) -> None:
    granted, _ = gcp.sell("1000.00")
    gcp.each(
        build.order(POS, redemptions=[build.redemption_line(granted.number, "1500.00")]),
        build.redemption_payment(POS, "PAY-80", granted.number, "1500.00"),
    )

    current = rejection(gcp, granted.certificate_id)
    assert current["reason"] == "INSUFFICIENT_BALANCE"
    assert current["remainingBalance"] == "1000.00"
    assert gcp.order(POS).decision(K.REDEMPTION, "PAY-80").reason == "INSUFFICIENT_BALANCE"


def test_a_locked_certificate_is_rejected(gcp: Any) -> None:
    granted, _ = gcp.sell("5000.00")
    gcp.lock(granted.certificate_id)
    gcp.each(
        build.order(POS, redemptions=[build.redemption_line(granted.number, "1500.00")]),
        build.redemption_payment(POS, "PAY-80", granted.number, "1500.00"),
    )

    assert rejection(gcp, granted.certificate_id)["reason"] == "LOCKED"
    # Decided once: unlocking does not bring the refused redemption back.
    gcp.unlock(granted.certificate_id, reason="ok")
    gcp.each(build.order(POS, redemptions=[build.redemption_line(granted.number, "1500.00")]))
    assert gcp.certificate(granted.certificate_id).balance == Decimal("5000.00")


def test_an_expired_certificate_is_rejected_before_the_timer_ran(gcp: Any, clock: Any) -> None:
    granted, _ = gcp.sell("5000.00")
    clock.advance(gcp.app.settings.default_validity + timedelta(seconds=1))
    gcp.each(
        build.order(POS, redemptions=[build.redemption_line(granted.number, "1500.00")]),
        build.redemption_payment(POS, "PAY-80", granted.number, "1500.00"),
    )

    assert rejection(gcp, granted.certificate_id)["reason"] == "EXPIRED"
    assert gcp.certificate(granted.certificate_id).state is S.ACTIVE


def test_a_currency_mismatch_is_rejected(gcp: Any) -> None:
    granted, _ = gcp.sell("5000.00")
    gcp.each(
        build.order(POS, redemptions=[build.redemption_line(granted.number, "15.00")]),
        build.redemption_payment(POS, "PAY-80", granted.number, "15.00", currency="EUR"),
    )

    # The line's currency is the order's (RUB): the amounts match, the currencies do not.
    assert rejection(gcp, granted.certificate_id)["reason"] == "CURRENCY_MISMATCH"
    assert gcp.certificate(granted.certificate_id).balance == Decimal("5000.00")


def test_an_unknown_number_dead_letters_the_payment(gcp: Any) -> None:
    unknown = "4000123412344824"  # Luhn-valid, never generated here
    assert gcp.app.find_by_number(unknown) is None
    line = build.order(POS, redemptions=[build.redemption_line(unknown, "1500.00")])
    payment = build.redemption_payment(POS, "PAY-80", unknown, "1500.00")

    handled = gcp.handled([gcp.envelopes(line), gcp.envelopes(payment)])

    assert [h.outcome for h in handled] == [A, Outcome.DEAD_LETTERED]
    assert handled[1].problem.code == "unknown-certificate"
    (letter,) = gcp.dead_letters()
    envelope = handled[1].envelope
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        envelope.topic,
        envelope.partition,
        envelope.offset,
    )
    assert letter.reason_code == "unknown-certificate"
    assert letter.message_id == payment.message_id
    # Refused before its facts are recorded: the order knows no such payment.
    assert "PAY-80" not in gcp.order(POS).payments
    assert gcp.order(POS).decision(K.REDEMPTION, "PAY-80") is None


def test_an_unknown_number_dead_letters_the_payment_whichever_arrives_first(gcp: Any) -> None:
    """Issue 11, item 6: the order arriving after the payment was dead-lettered in its place
    ("payment ... names an unknown certificate")."""
    unknown = "4000123412344824"
    payment = build.redemption_payment(POS, "PAY-81", unknown, "1500.00")
    line = build.order(POS, redemptions=[build.redemption_line(unknown, "1500.00")])

    assert gcp.each(payment, line) == [Outcome.DEAD_LETTERED, A]

    (letter,) = gcp.dead_letters()
    assert (letter.reason_code, letter.message_id) == ("unknown-certificate", payment.message_id)


@pytest.mark.parametrize("number", ["1234", "4000123412344821x", "4000123412344825"])
def test_a_payment_with_a_malformed_certificate_number_is_dead_lettered(
    gcp: Any, number: str
) -> None:
    payment = build.redemption_payment(POS, "PAY-82", number, "10.00")

    assert gcp.each(payment) == [Outcome.DEAD_LETTERED]

    (letter,) = gcp.dead_letters()
    assert letter.reason_code == "invalid-message"
    assert letter.reason.startswith("certificateNumber: ")
    assert number not in letter.reason


def test_a_malformed_number_in_an_order_line_is_dead_lettered(gcp: Any) -> None:
    outcomes = gcp.each(build.order(POS, redemptions=[build.redemption_line("1234", "1500.00")]))

    assert outcomes == [Outcome.DEAD_LETTERED]
    (letter,) = gcp.dead_letters()
    assert letter.reason_code == "invalid-message"
