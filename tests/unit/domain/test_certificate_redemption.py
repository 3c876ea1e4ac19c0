"""GiftCertificate: redemption (once per paymentId), rejection and reversal."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from tests.unit.domain.conftest import Recorded

from gcp_domain import (
    Cause,
    CertificateState,
    GiftCertificate,
    Money,
    RedemptionOutcome,
    RejectionReason,
)
from gcp_domain.errors import InvalidCommand, ReversalRejected, TransitionNotAllowed

S = CertificateState
R = RejectionReason


def redeem(
    cert: GiftCertificate, amount: Money, at, cause: Cause, payment_id: str = "PAY-1"
) -> RedemptionOutcome:
    return cert.redeem(payment_id=payment_id, order_id="POS-1", amount=amount, at=at, cause=cause)


def reverse(
    cert: GiftCertificate,
    amount: Money,
    cause: Cause,
    refund_payment_id: str = "REF-1",
    redemption_payment_id: str = "PAY-80",
) -> bool:
    return cert.reverse_redemption(
        refund_payment_id=refund_payment_id,
        redemption_payment_id=redemption_payment_id,
        amount=amount,
        cause=cause,
    )


# ------------------------------------------------------------------ applied


def test_a_partial_redemption_leaves_the_rest_as_balance(make, rub, cause: Cause) -> None:
    cert = make.active()
    outcome = redeem(cert, rub("1500.00"), make.during, cause)
    assert outcome == RedemptionOutcome("PAY-1", applied=True, balance_after=Decimal("3500.00"))
    assert cert.balance == Decimal("3500.00")
    assert cert.state is S.ACTIVE
    [applied] = cert.collect_events()
    assert isinstance(applied, GiftCertificate.RedemptionApplied)
    assert applied.payment_id == "PAY-1"
    assert applied.order_id == "POS-1"
    assert applied.amount == Decimal("1500.00")
    assert applied.balance_after == Decimal("3500.00")
    assert applied.cause == cause


def test_redeeming_the_exact_balance_makes_the_certificate_redeemed(
    make, rub, cause: Cause
) -> None:
    cert = make.partially_redeemed(taken="1500.00")
    outcome = redeem(cert, rub("3500.00"), make.during, cause)
    assert outcome.applied
    assert outcome.balance_after == 0
    assert cert.balance == 0
    assert cert.state is S.REDEEMED
    assert cert.redeemed_total == Decimal("5000.00")


def test_several_redemptions_each_take_their_amount(make, rub, cause: Cause) -> None:
    cert = make.active()
    for payment_id, amount in [("P-1", "0.01"), ("P-2", "999.99"), ("P-3", "4000.00")]:
        assert redeem(cert, rub(amount), make.during, cause, payment_id=payment_id).applied
    assert cert.balance == 0
    assert cert.state is S.REDEEMED
    assert set(cert.redemptions) == {"P-1", "P-2", "P-3"}


def test_a_redemption_one_moment_before_expiry_is_applied(make, rub, cause: Cause) -> None:
    cert = make.active()
    just_before = make.expires_at - timedelta(microseconds=1)
    assert redeem(cert, rub("100"), just_before, cause).applied


def test_a_duplicate_payment_id_is_applied_once(
    make, rub, cause: Cause, recorded: Recorded
) -> None:
    cert = make.active()
    redeem(cert, rub("1500.00"), make.during, cause)
    assert recorded(cert) == ["RedemptionApplied"]
    version = cert.version
    again = redeem(cert, rub("1500.00"), make.during, cause)
    assert again == RedemptionOutcome(
        "PAY-1", applied=True, balance_after=Decimal("3500.00"), duplicate=True
    )
    assert recorded(cert) == []
    assert cert.version == version
    assert cert.balance == Decimal("3500.00")


def test_a_duplicate_of_a_rejected_payment_stays_rejected_and_records_nothing(
    make, rub, cause: Cause, recorded: Recorded
) -> None:
    cert = make.active()
    first = redeem(cert, rub("6000.00"), make.during, cause)
    assert recorded(cert) == ["RedemptionRejected"]
    again = redeem(cert, rub("6000.00"), make.during, cause)
    assert not again.applied
    assert again.duplicate
    assert not first.duplicate
    assert recorded(cert) == []


# ------------------------------------------------------------------ rejected by the balance


def test_one_minor_unit_over_the_balance_is_rejected_as_insufficient(
    make, rub, cause: Cause
) -> None:
    cert = make.partially_redeemed(taken="1500.00")
    version = cert.version
    over = rub("3500.00") + rub("3500.00").minor_unit
    outcome = redeem(cert, over, make.during, cause)
    assert outcome == RedemptionOutcome(
        "PAY-1",
        applied=False,
        balance_after=Decimal("3500.00"),
        reason=R.INSUFFICIENT_BALANCE,
    )
    assert cert.balance == Decimal("3500.00")
    assert cert.state is S.ACTIVE
    [rejected] = cert.collect_events()
    assert isinstance(rejected, GiftCertificate.RedemptionRejected)
    assert rejected.reason == "INSUFFICIENT_BALANCE"
    assert rejected.amount == Decimal("3500.01")
    assert rejected.currency == "RUB"
    assert rejected.payment_id == "PAY-1"
    assert rejected.cause == cause
    assert cert.version == version + 1


def test_a_zero_redemption_is_rejected_as_an_invalid_amount(make, rub, cause: Cause) -> None:
    cert = make.active()
    outcome = redeem(cert, rub("0"), make.during, cause)
    assert outcome.reason is R.INVALID_AMOUNT
    assert cert.balance == Decimal("5000.00")


def test_a_redemption_in_another_currency_is_rejected(make, cause: Cause) -> None:
    cert = make.active()
    outcome = redeem(cert, Money.of("10", "USD"), make.during, cause)
    assert outcome.reason is R.CURRENCY_MISMATCH
    assert cert.balance == Decimal("5000.00")


@pytest.mark.parametrize("after", [timedelta(0), timedelta(days=1)])
def test_a_redemption_at_or_after_expires_at_is_rejected_as_expired(
    after: timedelta, make, rub, cause: Cause
) -> None:
    cert = make.active()
    outcome = redeem(cert, rub("100"), make.expires_at + after, cause)
    assert outcome.reason is R.EXPIRED
    assert cert.balance == Decimal("5000.00")
    assert cert.state is S.ACTIVE  # the expiry timer, not a redemption, expires it


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("available", R.NOT_ISSUED),
        ("reserved", R.NOT_ISSUED),
        ("locked", R.LOCKED),
        ("locked_redeemed", R.LOCKED),
        ("refund_pending", R.REFUND_PENDING),
        ("refund_pending_details", R.REFUND_PENDING),
        ("refunded", R.REFUNDED),
        ("expired", R.EXPIRED),
        ("cancelled", R.CANCELLED),
        ("redeemed", R.FULLY_REDEEMED),
    ],
)
def test_a_certificate_that_is_not_redeemable_rejects_with_its_reason(
    state: str, reason: RejectionReason, make, rub, cause: Cause, recorded: Recorded
) -> None:
    cert = make.in_state(state)
    balance, before = cert.balance, cert.state
    outcome = redeem(cert, rub("1.00"), make.during, cause)
    assert not outcome.applied
    assert outcome.reason is reason
    assert cert.balance == balance
    assert cert.state is before
    assert recorded(cert) == ["RedemptionRejected"]


def test_a_redemption_needs_its_payment_id(make, rub, cause: Cause, recorded: Recorded) -> None:
    cert = make.active()
    with pytest.raises(InvalidCommand):
        redeem(cert, rub("1"), make.during, cause, payment_id="")
    assert recorded(cert) == []


def test_a_redemption_moment_needs_a_timezone(make, rub, cause: Cause, recorded: Recorded) -> None:
    cert = make.active()
    with pytest.raises(InvalidCommand):
        redeem(cert, rub("1"), make.during.replace(tzinfo=None), cause)
    assert recorded(cert) == []


# ------------------------------------------------------------------ rejected by the matcher


def test_reject_redemption_records_the_matchers_reason_without_touching_the_balance(
    make, rub, cause: Cause
) -> None:
    cert = make.active()
    assert (
        cert.reject_redemption(
            payment_id="PAY-5",
            order_id="POS-2",
            amount=rub("100"),
            reason=R.AMOUNT_MISMATCH,
            cause=cause,
        )
        is True
    )
    assert cert.balance == Decimal("5000.00")
    [rejected] = cert.collect_events()
    assert isinstance(rejected, GiftCertificate.RedemptionRejected)
    assert rejected.reason == "AMOUNT_MISMATCH"
    assert rejected.order_id == "POS-2"
    assert rejected.cause == cause


def test_a_payment_rejected_by_the_matcher_is_not_applied_later(
    make, rub, cause: Cause, recorded: Recorded
) -> None:
    cert = make.active()
    cert.reject_redemption(
        payment_id="PAY-5", order_id=None, amount=rub("1"), reason=R.AMOUNT_MISMATCH, cause=cause
    )
    cert.collect_events()
    outcome = redeem(cert, rub("1"), make.during, cause, payment_id="PAY-5")
    assert not outcome.applied
    assert outcome.duplicate
    assert cert.balance == Decimal("5000.00")
    assert recorded(cert) == []


@pytest.mark.parametrize("known", ["PAY-80", "PAY-REJ"])
def test_reject_redemption_of_a_known_payment_records_nothing(
    known: str, make, rub, cause: Cause, recorded: Recorded
) -> None:
    cert = make.partially_redeemed()  # PAY-80 applied
    redeem(cert, rub("99999"), make.during, cause, payment_id="PAY-REJ")
    cert.collect_events()
    assert (
        cert.reject_redemption(
            payment_id=known, order_id=None, amount=rub("1"), reason=R.AMOUNT_MISMATCH, cause=cause
        )
        is False
    )
    assert recorded(cert) == []
    assert cert.balance == Decimal("3500.00")


# ------------------------------------------------------------------ reversal


def test_a_reversal_returns_money_to_the_balance(make, rub, cause: Cause) -> None:
    cert = make.partially_redeemed(taken="1500.00")
    assert reverse(cert, rub("500.00"), cause) is True
    assert cert.balance == Decimal("4000.00")
    assert cert.state is S.ACTIVE
    assert cert.redemptions["PAY-80"].reversed == Decimal("500.00")
    assert cert.reversed_total == Decimal("500.00")
    [reversed_] = cert.collect_events()
    assert isinstance(reversed_, GiftCertificate.RedemptionReversed)
    assert reversed_.refund_payment_id == "REF-1"
    assert reversed_.redemption_payment_id == "PAY-80"
    assert reversed_.amount == Decimal("500.00")
    assert reversed_.balance_after == Decimal("4000.00")
    assert reversed_.cause == cause


def test_a_reversal_of_a_full_redemption_makes_the_certificate_active_again(
    make, rub, cause: Cause
) -> None:
    cert = make.redeemed()
    assert reverse(cert, rub("200.00"), cause) is True
    assert cert.state is S.ACTIVE
    assert cert.balance == Decimal("200.00")
    assert cert.is_redeemable(make.during)


def test_a_reversal_returns_at_most_what_that_redemption_took(
    make, rub, cause: Cause, recorded: Recorded
) -> None:
    cert = make.partially_redeemed(taken="1500.00")
    with pytest.raises(ReversalRejected):
        reverse(cert, rub("1500.01"), cause)
    assert recorded(cert) == []
    assert cert.balance == Decimal("3500.00")


def test_the_bound_on_reversals_is_cumulative_per_redemption(
    make, rub, cause: Cause, recorded: Recorded
) -> None:
    cert = make.partially_redeemed(taken="1500.00")
    assert reverse(cert, rub("1000.00"), cause, refund_payment_id="REF-1")
    assert reverse(cert, rub("500.00"), cause, refund_payment_id="REF-2")
    assert recorded(cert) == ["RedemptionReversed", "RedemptionReversed"]
    assert cert.balance == Decimal("5000.00")
    with pytest.raises(ReversalRejected):
        reverse(cert, rub("0.01"), cause, refund_payment_id="REF-3")
    assert recorded(cert) == []
    assert cert.balance == Decimal("5000.00")


def test_the_bound_of_one_redemption_does_not_borrow_from_another(make, rub, cause: Cause) -> None:
    cert = make.active()
    redeem(cert, rub("100.00"), make.during, cause, payment_id="PAY-A")
    redeem(cert, rub("900.00"), make.during, cause, payment_id="PAY-B")
    with pytest.raises(ReversalRejected):
        reverse(cert, rub("100.01"), cause, redemption_payment_id="PAY-A")
    assert reverse(cert, rub("900.00"), cause, redemption_payment_id="PAY-B")


def test_a_reversal_is_applied_once_per_refund_payment(
    make, rub, cause: Cause, recorded: Recorded
) -> None:
    cert = make.partially_redeemed(taken="1500.00")
    assert reverse(cert, rub("500.00"), cause) is True
    assert reverse(cert, rub("500.00"), cause) is False
    assert recorded(cert) == ["RedemptionReversed"]
    assert cert.balance == Decimal("4000.00")


def test_a_reversal_of_an_unknown_redemption_is_rejected(
    make, rub, cause: Cause, recorded: Recorded
) -> None:
    cert = make.partially_redeemed()
    with pytest.raises(ReversalRejected):
        reverse(cert, rub("1"), cause, redemption_payment_id="PAY-UNKNOWN")
    assert recorded(cert) == []


def test_a_rejected_redemption_cannot_be_reversed(
    make, rub, cause: Cause, recorded: Recorded
) -> None:
    cert = make.active()
    redeem(cert, rub("9999"), make.during, cause, payment_id="PAY-REJ")
    cert.collect_events()
    with pytest.raises(ReversalRejected):
        reverse(cert, rub("1"), cause, redemption_payment_id="PAY-REJ")
    assert recorded(cert) == []


@pytest.mark.parametrize(
    "amount", [Money.of("0"), Money.of("1", "USD")], ids=["zero", "other-currency"]
)
def test_a_reversal_returns_a_positive_amount_of_the_certificates_currency(
    amount: Money, make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.partially_redeemed()
    with pytest.raises(ReversalRejected):
        reverse(cert, amount, cause)
    assert recorded(cert) == []


def test_a_reversal_on_a_locked_certificate_keeps_the_lock_and_returns_to_active_on_unlock(
    make, rub, cause: Cause
) -> None:
    cert = make.locked_redeemed()
    assert reverse(cert, rub("100"), cause) is True
    assert cert.state is S.LOCKED
    assert cert.balance == Decimal("100")
    cert.unlock(reason="done", by="support:bob", cause=cause)
    assert cert.state is S.ACTIVE


@pytest.mark.parametrize("state", ["expired", "refund_pending", "refunded"])
def test_a_reversal_needs_a_working_certificate(
    state: str, make, rub, cause: Cause, recorded: Recorded
) -> None:
    cert = make.active()
    redeem(cert, rub("100"), make.during, cause, payment_id="PAY-80")
    if state == "expired":
        cert.expire(at=make.expires_at, cause=cause)
    else:
        cert.start_refund(payment_id="REF-SALE", amount=None, cause=cause)
        if state == "refunded":
            cert.complete_refund(payment_id="REF-SALE", amount=rub("4900"), cause=cause)
    cert.collect_events()
    balance = cert.balance
    with pytest.raises(TransitionNotAllowed):
        reverse(cert, rub("100"), cause)
    assert recorded(cert) == []
    assert cert.balance == balance
