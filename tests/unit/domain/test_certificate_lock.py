"""GiftCertificate: support locks and unlocks; the previous working state comes back."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.unit.domain.conftest import Recorded

from gcp_domain import Cause, CertificateState, GiftCertificate
from gcp_domain.errors import InvalidCommand, TransitionNotAllowed

S = CertificateState


def lock(cert: GiftCertificate, make, cause: Cause, reason: str = "fraud check") -> bool:
    return cert.lock_for(reason=reason, by="support:alice", at=make.during, cause=cause)


@pytest.mark.parametrize(("state", "working"), [("active", S.ACTIVE), ("redeemed", S.REDEEMED)])
def test_support_locks_an_issued_certificate_with_a_reason(
    state: str, working: CertificateState, make, cause: Cause
) -> None:
    cert = make.in_state(state)
    assert lock(cert, make, cause) is True
    assert cert.state is S.LOCKED
    assert cert.lock is not None
    assert cert.lock.reason == "fraud check"
    assert cert.lock.by == "support:alice"
    assert cert.lock.at == make.during
    assert cert.lock.previous_state is working
    [locked] = cert.collect_events()
    assert isinstance(locked, GiftCertificate.Locked)
    assert locked.reason == "fraud check"
    assert locked.locked_by == "support:alice"
    assert locked.cause == cause


def test_a_locked_certificate_is_not_redeemable(make, cause: Cause) -> None:
    cert = make.active()
    lock(cert, make, cause)
    assert not cert.is_redeemable(make.during)


def test_locking_twice_records_one_event(make, cause: Cause, recorded: Recorded) -> None:
    cert = make.active()
    assert lock(cert, make, cause) is True
    assert lock(cert, make, cause, reason="another reason") is False
    assert recorded(cert) == ["Locked"]
    assert cert.lock is not None
    assert cert.lock.reason == "fraud check"


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_lock_needs_a_reason(reason: str, make, cause: Cause, recorded: Recorded) -> None:
    cert = make.active()
    with pytest.raises(InvalidCommand, match="reason"):
        lock(cert, make, cause, reason=reason)
    assert recorded(cert) == []
    assert cert.state is S.ACTIVE


@pytest.mark.parametrize(
    "state",
    [
        "available",
        "reserved",
        "refund_pending",
        "refund_pending_details",
        "refunded",
        "expired",
        "cancelled",
    ],
)
def test_only_a_working_issued_certificate_is_locked(
    state: str, make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.in_state(state)
    version, before = cert.version, cert.state
    with pytest.raises(TransitionNotAllowed):
        lock(cert, make, cause)
    assert recorded(cert) == []
    assert cert.version == version
    assert cert.state is before
    assert cert.lock is None


def test_a_lock_moment_needs_a_timezone(make, cause: Cause, recorded: Recorded) -> None:
    cert = make.active()
    with pytest.raises(InvalidCommand):
        cert.lock_for(
            reason="fraud", by="support:alice", at=make.during.replace(tzinfo=None), cause=cause
        )
    assert recorded(cert) == []


@pytest.mark.parametrize(
    ("state", "working"), [("locked", S.ACTIVE), ("locked_redeemed", S.REDEEMED)]
)
def test_unlock_restores_the_previous_working_state(
    state: str, working: CertificateState, make, cause: Cause
) -> None:
    cert = make.in_state(state)
    balance = cert.balance
    assert cert.unlock(reason="investigation closed", by="support:alice", cause=cause) is True
    assert cert.state is working
    assert cert.lock is None
    assert cert.balance == balance
    [unlocked] = cert.collect_events()
    assert isinstance(unlocked, GiftCertificate.Unlocked)
    assert unlocked.reason == "investigation closed"
    assert unlocked.unlocked_by == "support:alice"
    assert unlocked.cause == cause


def test_an_unlocked_partially_redeemed_certificate_is_redeemable_again(make, cause: Cause) -> None:
    cert = make.lock(make.partially_redeemed())
    cert.unlock(reason=None, by="support:alice", cause=cause)
    assert cert.state is S.ACTIVE
    assert cert.balance == Decimal("3500.00")
    assert cert.is_redeemable(make.during)


@pytest.mark.parametrize("state", ["active", "redeemed", "available", "expired", "refunded"])
def test_unlocking_a_certificate_that_is_not_locked_records_nothing(
    state: str, make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.in_state(state)
    version, before = cert.version, cert.state
    assert cert.unlock(reason=None, by="support:alice", cause=cause) is False
    assert recorded(cert) == []
    assert cert.version == version
    assert cert.state is before


def test_unlocking_twice_records_one_event(make, cause: Cause, recorded: Recorded) -> None:
    cert = make.locked()
    assert cert.unlock(reason=None, by="support:alice", cause=cause) is True
    assert cert.unlock(reason=None, by="support:alice", cause=cause) is False
    assert recorded(cert) == ["Unlocked"]


def test_a_locked_certificate_starts_no_refund(make, cause: Cause, recorded: Recorded) -> None:
    cert = make.locked()
    with pytest.raises(TransitionNotAllowed):
        cert.start_refund(payment_id="REF-1", amount=None, cause=cause)
    assert recorded(cert) == []


def test_a_locked_redeemed_certificate_does_not_expire(
    make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.locked_redeemed()
    assert cert.expire(at=make.expires_at, cause=cause) is False
    assert recorded(cert) == []
    assert cert.state is S.LOCKED


def test_a_locked_redeemed_certificate_expires_once_a_reversal_made_it_active(
    make, rub, cause: Cause
) -> None:
    cert = make.locked_redeemed()
    cert.reverse_redemption(
        refund_payment_id="REF-1",
        redemption_payment_id="PAY-80",
        amount=rub("100"),
        cause=cause,
    )
    assert cert.expire(at=make.expires_at, cause=cause) is True
    assert cert.state is S.EXPIRED
    assert cert.lock is None
