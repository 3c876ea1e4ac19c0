"""An issued certificate, set up straight through the application (no Kafka), for tests that
need one to act on (the CVC, support actions)."""

from __future__ import annotations

from uuid import UUID

from gcp_app.application import GiftCertificates
from gcp_app.use_cases import IssueCertificate
from gcp_domain import Cause, Money, Recipient

POOL = "default"
ADMIN = Cause("admin:ops", "req-generate", "req-generate")


def issued(
    app: GiftCertificates,
    order_id: str,
    pool: str = POOL,
    *,
    amount: str = "1000.00",
    cause: Cause = ADMIN,
) -> UUID:
    """Reserves a certificate of `pool` (which must have stock, with `cause`) and issues it
    for `amount`, as the payment of `order_id` would."""
    certificate_id = app.reservations.reserve_next(
        pool, channel="WEB", order_id=order_id, cause=cause
    ).certificate_id
    app.execute(
        IssueCertificate(
            certificate_id=certificate_id,
            amount=Money.of(amount),
            channel="WEB",
            order_id=order_id,
            payment_ids=["PAY-1"],
            client_id="C-1",
            recipient=Recipient(name="Anna", email="anna@example.com"),
            cause=Cause("kafka:All_Payments", f"msg-{order_id}", order_id),
        )
    )
    return certificate_id


def open_notification(app: GiftCertificates, certificate_id: UUID) -> str:
    """The notificationId of the CVC notification request that issuing opened (CRM reads it
    from the NOTIFICATION_REQUESTED publication)."""
    notification = app.get_certificate(certificate_id).notification
    assert notification is not None, "issued with notification channel NONE"
    return notification.notification_id
