"""Certificates driven through the application (no Kafka, no HTTP), and what its notification
log holds: the steps the application suite repeats from test to test.

`reserve` and `issue` act on the default pool (stock it first: the `stocked` fixture);
`redeem` and `reverse` are All_Payments' side, `lock` and `unlock` support's, `disclose_open`
and `record_sent` CRM's (of a CVC notification request); `assert_applied_once` checks that a
command is idempotent. `notifications`, `originator_ids`, `count_events` and `all_topics` read
the notification log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification
from tests.issuing import POOL, issue_reserved, open_notification

from gcp_app.application import GiftCertificates
from gcp_app.use_cases import (
    Command,
    LockCertificate,
    RecordNotificationResult,
    Redeem,
    ReverseRedemption,
    UnlockCertificate,
)
from gcp_domain import Cause, Money, RedemptionOutcome
from gcp_domain.vocabulary import NotificationChannel

SUPPORT = Cause("support:olga", "req-support", "ticket-7")

# More notifications than any test records: "all of them".
EVERY = 100_000


# ====================================================================== commands


def reserve(app: GiftCertificates, order_id: str) -> UUID:
    """Reserves the next certificate of the default pool for a web order."""
    granted = app.reservations.reserve_next(
        POOL,
        channel="WEB",
        order_id=order_id,
        cause=Cause("channel:web", f"next-{order_id}", order_id),
    )
    return granted.certificate_id


def issue(
    app: GiftCertificates,
    order_id: str,
    *,
    amount: str = "5000.00",
    validity_days: int | None = None,
    notification_channel: NotificationChannel | None = None,
) -> UUID:
    """Reserves a certificate for `order_id` and issues it (`issue_reserved`)."""
    certificate_id = reserve(app, order_id)
    assert issue_reserved(
        app,
        certificate_id,
        order_id,
        amount=amount,
        validity_days=validity_days,
        notification_channel=notification_channel,
    )
    return certificate_id


def redeem(
    app: GiftCertificates,
    certificate_id: UUID,
    payment_id: str,
    amount: str,
    *,
    order_id: str | None = None,
    cause: Cause | None = None,
) -> RedemptionOutcome:
    """Redeems `amount` as payment `payment_id` of a POS order (POS-<payment_id> unless
    `order_id` is given), reported by All_Payments."""
    order_id = order_id or f"POS-{payment_id}"
    return app.execute(
        Redeem(
            certificate_id=certificate_id,
            payment_id=payment_id,
            order_id=order_id,
            amount=Money.of(amount),
            cause=cause or Cause("kafka:All_Payments", f"msg-{payment_id}", order_id),
        )
    )


def reverse(
    app: GiftCertificates,
    certificate_id: UUID,
    amount: str,
    *,
    refund: str,
    of: str,
    cause: Cause,
) -> bool:
    """Gives `amount` of redemption `of` back to the balance (the refund payment `refund`)."""
    return app.execute(
        ReverseRedemption(
            certificate_id=certificate_id,
            refund_payment_id=refund,
            redemption_payment_id=of,
            amount=Money.of(amount),
            cause=cause,
        )
    )


def lock(
    app: GiftCertificates, certificate_id: UUID, reason: str, *, by: str = "support:olga"
) -> bool:
    """Support agent `by` (olga unless told) locks the certificate, at SUPPORT's request."""
    return app.execute(
        LockCertificate(certificate_id=certificate_id, reason=reason, by=by, cause=SUPPORT)
    )


def unlock(
    app: GiftCertificates, certificate_id: UUID, reason: str | None, *, by: str = "support:olga"
) -> bool:
    """Support agent `by` (olga unless told) unlocks the certificate, at SUPPORT's request."""
    return app.execute(
        UnlockCertificate(certificate_id=certificate_id, reason=reason, by=by, cause=SUPPORT)
    )


def disclose_open(app: GiftCertificates, certificate_id: UUID, cause: Cause) -> str:
    """The CVC, disclosed for the certificate's open notification request."""
    return app.cvc.disclose(
        certificate_id, notification_id=open_notification(app, certificate_id), cause=cause
    )


def record_sent(
    app: GiftCertificates, certificate_id: UUID, notification_id: str, cause: Cause
) -> bool:
    """CRM's report that notification `notification_id` was sent."""
    return app.execute(
        RecordNotificationResult(
            certificate_id=certificate_id, notification_id=notification_id, sent=True, cause=cause
        )
    )


def assert_applied_once(app: GiftCertificates, command: Command[bool]) -> None:
    """The command records its change, and nothing when it comes again."""
    assert app.execute(command), f"not applied: {command}"
    assert not app.execute(command), f"applied again: {command}"


# ====================================================================== the notification log


def notifications(
    app: GiftCertificates, *events: type[Any], limit: int = EVERY
) -> Sequence[Notification]:
    """The stored notifications (of `events` only, if given), in store order."""
    return app.store.recorder.select_notifications(
        start=1, limit=limit, topics=[event.TOPIC for event in events]
    )


def originator_ids(app: GiftCertificates, event: type[Any], *, limit: int = EVERY) -> list[UUID]:
    """The aggregate of each stored `event`, in store order."""
    return [UUID(str(n.originator_id)) for n in notifications(app, event, limit=limit)]


def count_events(app: GiftCertificates, event: type[Any]) -> Counter[UUID]:
    """How many `event`s each aggregate recorded."""
    return Counter(originator_ids(app, event))


def all_topics(app: GiftCertificates) -> list[str]:
    """The topic of every stored notification, in store order."""
    return [n.topic for n in notifications(app)]
