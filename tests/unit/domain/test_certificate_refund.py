"""GiftCertificate: refund of the purchase (pending, pending details, completed, failed)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.unit.domain.conftest import Recorded

from gcp_domain import Cause, CertificateState, GiftCertificate, Money, RefundStatus
from gcp_domain.errors import InvalidCommand, RefundRejected, TransitionNotAllowed

S = CertificateState


def test_a_refund_starts_pending(make, rub, cause: Cause) -> None:
    cert = make.active()
    assert cert.start_refund(payment_id="REF-1", amount=rub("5000.00"), cause=cause) is True
    assert cert.state is S.REFUND_PENDING
    assert cert.refund is not None
    assert cert.refund.status is RefundStatus.PENDING
    assert cert.refund.payment_id == "REF-1"
    assert cert.refund.amount == Decimal("5000.00")
    assert cert.balance == Decimal("5000.00")
    [pending] = cert.collect_events()
    assert isinstance(pending, GiftCertificate.RefundPending)
    assert pending.cause == cause


def test_a_refund_may_start_without_an_amount(make, cause: Cause) -> None:
    cert = make.active()
    assert cert.start_refund(payment_id="REF-1", amount=None, cause=cause) is True
    assert cert.refund is not None
    assert cert.refund.amount is None


def test_a_certificate_is_not_redeemable_while_a_refund_is_pending(make, rub) -> None:
    cert = make.refund_pending()
    assert not cert.is_redeemable(make.during)


def test_starting_the_same_refund_twice_records_one_event(
    make, rub, cause: Cause, recorded: Recorded
) -> None:
    cert = make.active()
    assert cert.start_refund(payment_id="REF-1", amount=rub("5000"), cause=cause) is True
    assert cert.start_refund(payment_id="REF-1", amount=rub("5000"), cause=cause) is False
    assert recorded(cert) == ["RefundPending"]


def test_a_second_refund_while_one_is_pending_is_rejected(
    make, rub, cause: Cause, recorded: Recorded
) -> None:
    cert = make.refund_pending()
    with pytest.raises(RefundRejected):
        cert.start_refund(payment_id="REF-2", amount=rub("1"), cause=cause)
    assert recorded(cert) == []
    assert cert.refund is not None
    assert cert.refund.payment_id == "REF-1"


def test_a_refund_larger_than_the_remaining_balance_is_rejected(
    make, rub, cause: Cause, recorded: Recorded
) -> None:
    cert = make.partially_redeemed(taken="1500.00")
    with pytest.raises(RefundRejected):
        cert.start_refund(payment_id="REF-1", amount=rub("3500.01"), cause=cause)
    assert recorded(cert) == []
    assert cert.state is S.ACTIVE


def test_a_refund_of_the_remaining_balance_is_accepted(make, rub, cause: Cause) -> None:
    cert = make.partially_redeemed(taken="1500.00")
    assert cert.start_refund(payment_id="REF-1", amount=rub("3500.00"), cause=cause)
    assert cert.state is S.REFUND_PENDING


def test_a_refund_in_another_currency_is_rejected(make, cause: Cause, recorded: Recorded) -> None:
    cert = make.active()
    with pytest.raises(RefundRejected):
        cert.start_refund(payment_id="REF-1", amount=Money.of("1", "USD"), cause=cause)
    assert recorded(cert) == []


def test_a_refund_needs_its_payment_id(make, rub, cause: Cause, recorded: Recorded) -> None:
    cert = make.active()
    with pytest.raises(InvalidCommand):
        cert.start_refund(payment_id="", amount=rub("1"), cause=cause)
    assert recorded(cert) == []


@pytest.mark.parametrize("amount", [None, "1.00"], ids=["no-amount", "with-amount"])
@pytest.mark.parametrize(
    "state",
    ["available", "reserved", "redeemed", "locked", "refunded", "expired", "cancelled"],
)
def test_only_an_active_certificate_starts_a_refund(
    state: str, amount: str | None, make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.in_state(state)
    version, before = cert.version, cert.state
    with pytest.raises(TransitionNotAllowed):
        cert.start_refund(
            payment_id="REF-9",
            amount=Money.of(amount) if amount is not None else None,
            cause=cause,
        )
    assert recorded(cert) == []
    assert cert.version == version
    assert cert.state is before


# ------------------------------------------------------------------ pending details


def test_a_pending_refund_may_need_payment_details(make, cause: Cause) -> None:
    cert = make.refund_pending()
    assert cert.refund_needs_details(payment_id="REF-1", cause=cause) is True
    assert cert.state is S.REFUND_PENDING
    assert cert.refund is not None
    assert cert.refund.status is RefundStatus.PENDING_DETAILS
    assert cert.refund.amount == Decimal("5000.00")  # kept from the pending refund
    [details] = cert.collect_events()
    assert isinstance(details, GiftCertificate.RefundPendingDetails)
    assert details.cause == cause


def test_pending_details_may_arrive_before_pending(make, cause: Cause) -> None:
    cert = make.active()
    assert cert.refund_needs_details(payment_id="REF-1", cause=cause) is True
    assert cert.state is S.REFUND_PENDING
    assert cert.refund is not None
    assert cert.refund.status is RefundStatus.PENDING_DETAILS
    assert cert.refund.amount is None


def test_pending_details_twice_records_one_event(make, cause: Cause, recorded: Recorded) -> None:
    cert = make.refund_pending()
    assert cert.refund_needs_details(payment_id="REF-1", cause=cause) is True
    assert cert.refund_needs_details(payment_id="REF-1", cause=cause) is False
    assert recorded(cert) == ["RefundPendingDetails"]


def test_pending_details_of_another_refund_are_rejected(
    make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.refund_pending()
    with pytest.raises(RefundRejected):
        cert.refund_needs_details(payment_id="REF-2", cause=cause)
    assert recorded(cert) == []


# ------------------------------------------------------------------ completed


@pytest.mark.parametrize("state", ["refund_pending", "refund_pending_details"])
def test_a_completed_refund_empties_the_balance_for_good(
    state: str, make, rub, cause: Cause
) -> None:
    cert = make.in_state(state)
    assert cert.complete_refund(payment_id="REF-1", amount=rub("5000.00"), cause=cause) is True
    assert cert.state is S.REFUNDED
    assert cert.balance == 0
    assert cert.refund is not None
    assert cert.refund.status is RefundStatus.COMPLETED
    assert cert.refund.amount == Decimal("5000.00")
    [completed] = cert.collect_events()
    assert isinstance(completed, GiftCertificate.RefundCompleted)
    assert completed.cause == cause


def test_a_completed_refund_may_arrive_before_pending(make, rub, cause: Cause) -> None:
    cert = make.active()
    assert cert.complete_refund(payment_id="REF-1", amount=rub("5000"), cause=cause) is True
    assert cert.state is S.REFUNDED


def test_completing_the_same_refund_twice_records_one_event(
    make, rub, cause: Cause, recorded: Recorded
) -> None:
    cert = make.refund_pending()
    assert cert.complete_refund(payment_id="REF-1", amount=rub("5000"), cause=cause) is True
    assert cert.complete_refund(payment_id="REF-1", amount=rub("5000"), cause=cause) is False
    assert recorded(cert) == ["RefundCompleted"]


def test_a_refunded_certificate_is_final(make, rub, cause: Cause, recorded: Recorded) -> None:
    cert = make.refunded()
    with pytest.raises(TransitionNotAllowed):
        cert.start_refund(payment_id="REF-2", amount=None, cause=cause)
    with pytest.raises(TransitionNotAllowed):
        cert.complete_refund(payment_id="REF-2", amount=rub("1"), cause=cause)
    with pytest.raises(TransitionNotAllowed):
        cert.fail_refund(payment_id="REF-1", reason="late", cause=cause)
    with pytest.raises(TransitionNotAllowed):
        cert.lock_for(reason="fraud check", by="support:bob", at=make.during, cause=cause)
    assert recorded(cert) == []
    assert cert.state is S.REFUNDED
    assert cert.balance == 0


def test_a_completed_refund_larger_than_the_balance_is_rejected(
    make, rub, cause: Cause, recorded: Recorded
) -> None:
    cert = make.partially_redeemed(taken="1500.00")
    with pytest.raises(RefundRejected):
        cert.complete_refund(payment_id="REF-1", amount=rub("5000.00"), cause=cause)
    assert recorded(cert) == []
    assert cert.balance == Decimal("3500.00")


def test_a_completed_refund_returns_a_positive_amount(
    make, rub, cause: Cause, recorded: Recorded
) -> None:
    cert = make.refund_pending()
    with pytest.raises(RefundRejected):
        cert.complete_refund(payment_id="REF-1", amount=rub("0"), cause=cause)
    assert recorded(cert) == []


def test_completing_another_refund_than_the_pending_one_is_rejected(
    make, rub, cause: Cause, recorded: Recorded
) -> None:
    cert = make.refund_pending()
    with pytest.raises(RefundRejected):
        cert.complete_refund(payment_id="REF-2", amount=rub("1"), cause=cause)
    assert recorded(cert) == []
    assert cert.state is S.REFUND_PENDING


# ------------------------------------------------------------------ failed


@pytest.mark.parametrize("state", ["refund_pending", "refund_pending_details"])
def test_a_failed_refund_returns_the_certificate_to_active(state: str, make, cause: Cause) -> None:
    cert = make.in_state(state)
    assert cert.fail_refund(payment_id="REF-1", reason="card closed", cause=cause) is True
    assert cert.state is S.ACTIVE
    assert cert.balance == Decimal("5000.00")
    assert cert.refund is not None
    assert cert.refund.status is RefundStatus.FAILED
    assert cert.refund.reason == "card closed"
    assert cert.is_redeemable(make.during)
    [failed] = cert.collect_events()
    assert isinstance(failed, GiftCertificate.RefundFailed)
    assert failed.cause == cause


def test_failing_the_same_refund_twice_records_one_event(
    make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.refund_pending()
    assert cert.fail_refund(payment_id="REF-1", reason=None, cause=cause) is True
    assert cert.fail_refund(payment_id="REF-1", reason=None, cause=cause) is False
    assert recorded(cert) == ["RefundFailed"]


def test_failing_another_refund_than_the_pending_one_is_rejected(
    make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.refund_pending()
    with pytest.raises(RefundRejected):
        cert.fail_refund(payment_id="REF-2", reason=None, cause=cause)
    assert recorded(cert) == []
    assert cert.state is S.REFUND_PENDING


def test_a_failure_that_overtook_its_pending_is_recorded_and_closes_the_refund(
    make, rub, cause: Cause, recorded: Recorded
) -> None:
    """Arrival order never matters: FAILED then PENDING ends where PENDING then FAILED does."""
    cert = make.active()
    assert cert.fail_refund(payment_id="REF-1", reason="card closed", cause=cause) is True
    assert cert.start_refund(payment_id="REF-1", amount=rub("5000"), cause=cause) is False
    assert recorded(cert) == ["RefundFailed"]
    assert cert.state is S.ACTIVE
    assert cert.refund is not None
    assert (cert.refund.payment_id, cert.refund.status) == ("REF-1", RefundStatus.FAILED)


@pytest.mark.parametrize("state", ["reserved", "redeemed", "locked", "expired", "cancelled"])
def test_a_failure_outside_a_working_certificate_is_not_allowed(
    state: str, make, cause: Cause, recorded: Recorded
) -> None:
    cert = getattr(make, state)()
    with pytest.raises(TransitionNotAllowed):
        cert.fail_refund(payment_id="REF-1", reason=None, cause=cause)
    assert recorded(cert) == []


def test_details_may_carry_the_amount_when_they_overtake_the_pending(
    make, rub, cause: Cause
) -> None:
    cert = make.active()
    cert.refund_needs_details(payment_id="REF-1", amount=rub("5000"), cause=cause)
    assert cert.start_refund(payment_id="REF-1", amount=rub("5000"), cause=cause) is False
    assert cert.refund is not None
    assert (cert.refund.status, cert.refund.amount) == (
        RefundStatus.PENDING_DETAILS,
        Decimal("5000.00"),
    )


def test_a_completed_refund_cannot_fail_afterwards(make, cause: Cause, recorded: Recorded) -> None:
    cert = make.refunded()
    with pytest.raises(TransitionNotAllowed, match="completed"):
        cert.fail_refund(payment_id="REF-1", reason=None, cause=cause)
    assert recorded(cert) == []
    assert cert.state is S.REFUNDED


def test_a_new_refund_may_start_after_a_failed_one(make, rub, cause: Cause) -> None:
    cert = make.refund_pending()
    cert.fail_refund(payment_id="REF-1", reason=None, cause=cause)
    assert cert.start_refund(payment_id="REF-2", amount=rub("5000"), cause=cause) is True
    assert cert.state is S.REFUND_PENDING
    assert cert.refund is not None
    assert cert.refund.payment_id == "REF-2"


@pytest.mark.parametrize("outcome", ["failed", "completed"])
def test_a_decided_refund_is_never_reopened_by_a_late_redelivery(
    outcome: str, make, rub, cause: Cause, recorded: Recorded
) -> None:
    cert = make.refund_pending()
    if outcome == "failed":
        cert.fail_refund(payment_id="REF-1", reason="card closed", cause=cause)
    else:
        cert.complete_refund(payment_id="REF-1", amount=rub("5000"), cause=cause)
    state = cert.state
    cert.collect_events()
    assert cert.start_refund(payment_id="REF-1", amount=rub("5000"), cause=cause) is False
    assert cert.refund_needs_details(payment_id="REF-1", cause=cause) is False
    assert recorded(cert) == []
    assert cert.state is state


def test_a_failure_that_overtook_its_pending_keeps_the_amount_it_carries(
    make, rub, cause: Cause
) -> None:
    cert = make.active()
    cert.fail_refund(payment_id="REF-1", reason=None, amount=rub("5000"), cause=cause)
    assert cert.refund is not None
    assert (cert.refund.status, cert.refund.amount) == (RefundStatus.FAILED, Decimal("5000.00"))


# ---------------------------------------------------------------------- steps as payments of
# their own (contract 1.1, rule 3): each names the sale's payment in refundOf


def test_steps_with_their_own_payment_ids_naming_the_sale_are_one_refund(
    make, rub, cause: Cause
) -> None:
    cert = make.active()
    assert cert.start_refund(payment_id="PAY-A", amount=None, refund_of="SALE", cause=cause)
    assert cert.refund_needs_details(payment_id="PAY-B", refund_of="SALE", cause=cause)
    assert cert.refund is not None
    assert (cert.refund.status, cert.refund.key) == (RefundStatus.PENDING_DETAILS, "SALE")
    assert cert.complete_refund(
        payment_id="PAY-C", amount=rub("5000.00"), refund_of="SALE", cause=cause
    )
    assert cert.state is S.REFUNDED
    assert cert.refund.payment_id == "PAY-C"
    # A step of that refund arriving late records nothing; a failure after completion is refused.
    assert not cert.start_refund(payment_id="PAY-D", amount=None, refund_of="SALE", cause=cause)
    with pytest.raises(TransitionNotAllowed):
        cert.fail_refund(payment_id="PAY-E", reason="late", refund_of="SALE", cause=cause)


def test_a_step_naming_another_sale_payment_is_another_refund(make, rub, cause: Cause) -> None:
    cert = make.active()
    cert.start_refund(payment_id="PAY-A", amount=None, refund_of="SALE-1", cause=cause)
    with pytest.raises(RefundRejected, match="another refund is pending"):
        cert.start_refund(payment_id="PAY-B", amount=None, refund_of="SALE-2", cause=cause)
    with pytest.raises(RefundRejected, match="not a step of the pending refund"):
        cert.fail_refund(payment_id="PAY-B", reason=None, refund_of="SALE-2", cause=cause)


def test_a_failed_refund_of_the_sale_may_be_tried_again_with_a_new_payment(
    make, rub, cause: Cause
) -> None:
    cert = make.active()
    cert.start_refund(payment_id="PAY-A", amount=rub("5000.00"), refund_of="SALE", cause=cause)
    cert.fail_refund(payment_id="PAY-B", reason="no account", refund_of="SALE", cause=cause)
    assert cert.state is S.ACTIVE
    assert cert.refund is not None
    assert cert.refund.amount == Decimal("5000.00")  # carried over within the one refund
    assert not cert.start_refund(payment_id="PAY-B", amount=None, refund_of="SALE", cause=cause)
    assert cert.start_refund(payment_id="PAY-N", amount=None, refund_of="SALE", cause=cause)
    assert cert.state is S.REFUND_PENDING
