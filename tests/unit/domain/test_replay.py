"""Replaying a certificate's events rebuilds exactly the live aggregate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from gcp_domain import (
    Cause,
    CertificateState,
    GiftCertificate,
    Money,
    NotificationChannel,
    Recipient,
)

S = CertificateState


def fold(events: list[Any]) -> GiftCertificate:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    assert isinstance(aggregate, GiftCertificate)
    return aggregate


def assert_same_state(replayed: GiftCertificate, live: GiftCertificate) -> None:
    assert replayed.id == live.id
    assert replayed.state is live.state
    assert replayed.balance == live.balance
    assert replayed.version == live.version
    assert replayed.redemptions == live.redemptions
    assert replayed.rejected_payments == live.rejected_payments
    assert replayed.reversals == live.reversals
    assert replayed.notification == live.notification
    assert replayed.lock == live.lock
    assert replayed.refund == live.refund
    assert replayed.issue_terms == live.issue_terms
    assert replayed.reservation == live.reservation
    assert replayed.last_cause == live.last_cause
    assert replayed == live


def long_lifecycle(make) -> list[Callable[[GiftCertificate], object]]:
    """Commands through most of a certificate's life, each recording one event."""

    def step(n: int) -> Cause:
        return Cause(actor=f"actor-{n}", causation_id=f"msg-{n}", correlation_id="corr")

    d = make.during
    rub = Money.of
    return [
        lambda c: c.reserve(
            by="channel:web",
            until=make.issued_at,
            idempotency_key="k",
            order_id="WEB-1",
            cause=step(1),
        ),
        lambda c: c.issue(
            amount=rub("5000"),
            channel="WEB",
            order_id="WEB-1",
            payment_ids=["PAY-1", "PAY-2"],
            client_id="C-1",
            recipient=Recipient(name="Anna", phone="+79990000000"),
            notification_channel=NotificationChannel.SMS,
            issued_at=make.issued_at,
            expires_at=make.expires_at,
            cause=step(2),
        ),
        lambda c: c.request_notification(notification_id="N-1", cause=step(3)),
        lambda c: c.disclose_cvc(notification_id="N-1", cause=step(4)),
        lambda c: c.record_notification_result(
            notification_id="N-1", sent=False, error="bounced", cause=step(5)
        ),
        lambda c: c.request_notification(notification_id="N-2", cause=step(6)),
        lambda c: c.record_notification_result(
            notification_id="N-2", sent=True, error=None, cause=step(7)
        ),
        lambda c: c.redeem(
            payment_id="R-1", order_id="POS-1", amount=rub("1500"), at=d, cause=step(8)
        ),
        lambda c: c.redeem(
            payment_id="R-2", order_id="POS-2", amount=rub("9000"), at=d, cause=step(9)
        ),
        lambda c: c.lock_for(reason="fraud", by="support:bob", at=d, cause=step(10)),
        lambda c: c.unlock(reason="ok", by="support:bob", cause=step(11)),
        lambda c: c.redeem(
            payment_id="R-3", order_id="POS-3", amount=rub("3500"), at=d, cause=step(12)
        ),
        lambda c: c.lock_for(reason="chargeback", by="support:bob", at=d, cause=step(13)),
        lambda c: c.reverse_redemption(
            refund_payment_id="RF-1",
            redemption_payment_id="R-3",
            amount=rub("1000"),
            cause=step(14),
        ),
        lambda c: c.unlock(reason=None, by="support:bob", cause=step(15)),
        lambda c: c.reject_redemption(
            payment_id="R-4",
            order_id="POS-4",
            amount=rub("1"),
            reason="AMOUNT_MISMATCH",
            cause=step(16),
        ),
        lambda c: c.start_refund(payment_id="RF-2", amount=rub("1000"), cause=step(17)),
        lambda c: c.refund_needs_details(payment_id="RF-2", cause=step(18)),
        lambda c: c.fail_refund(payment_id="RF-2", reason="no details", cause=step(19)),
        lambda c: c.lock_for(reason="again", by="support:bob", at=d, cause=step(20)),
        lambda c: c.expire(at=make.expires_at + timedelta(hours=1), cause=step(21)),
    ]


def test_folding_the_events_of_a_long_lifecycle_rebuilds_the_live_certificate(make) -> None:
    live = make.created()
    for command in long_lifecycle(make):
        command(live)
    events = list(live.collect_events())
    assert len(events) == live.version == 22
    assert live.state is S.EXPIRED
    assert_same_state(fold(events), live)


def test_every_prefix_of_the_history_replays_to_the_state_at_that_point(make) -> None:
    live = make.created()
    history = list(live.collect_events())
    for command in long_lifecycle(make):
        command(live)
        new = live.collect_events()
        assert len(new) == 1, command
        history.extend(new)
        assert_same_state(fold(history), live)


def test_each_event_carries_the_cause_of_its_command(make) -> None:
    live = make.created()
    for command in long_lifecycle(make):
        command(live)
    events = live.collect_events()[1:]
    assert [e.cause.actor for e in events] == [f"actor-{n}" for n in range(1, 22)]
    assert [e.cause.causation_id for e in events] == [f"msg-{n}" for n in range(1, 22)]


def test_a_replayed_certificate_answers_further_commands_like_the_live_one(make) -> None:
    live = make.created()
    commands = long_lifecycle(make)[:8]  # issued, notified, 1500 redeemed as R-1
    for command in commands:
        command(live)
    replayed = fold(list(live.collect_events()))

    for cert in (live, replayed):
        duplicate = cert.redeem(
            payment_id="R-1",
            order_id=None,
            amount=Money.of("1500"),
            at=make.during,
            cause=make.setup,
        )
        assert duplicate.duplicate
        fresh = cert.redeem(
            payment_id="R-9",
            order_id=None,
            amount=Money.of("100"),
            at=make.during,
            cause=make.setup,
        )
        assert fresh.applied
    assert replayed.balance == live.balance == 3400
    assert [type(e) for e in replayed.collect_events()] == [type(e) for e in live.collect_events()]
