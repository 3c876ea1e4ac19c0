"""An issued certificate, set up straight through the application (no Kafka), for tests that
need one to act on (the CVC, support actions)."""

from __future__ import annotations

from uuid import UUID

from gcp_app.application import GiftCertificates
from gcp_app.use_cases import IssueCertificate
from gcp_domain import Cause, Money, Recipient
from gcp_domain.vocabulary import NotificationChannel

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
    issue_reserved(
        app,
        certificate_id,
        order_id,
        amount=amount,
        payment_ids=["PAY-1"],
        cause=Cause("kafka:All_Payments", f"msg-{order_id}", order_id),
    )
    return certificate_id


def issue_reserved(
    app: GiftCertificates,
    certificate_id: UUID,
    order_id: str,
    *,
    amount: str = "5000.00",
    validity_days: int | None = None,
    notification_channel: NotificationChannel | None = None,
    payment_ids: list[str] | None = None,
    cause: Cause | None = None,
) -> bool:
    """Issues `certificate_id` (reserved for `order_id`) as the order's paid sale would: a web
    sale to client C-1 for Anna, paid by PAY-<order>."""
    return app.execute(
        IssueCertificate(
            certificate_id=certificate_id,
            amount=Money.of(amount),
            channel="WEB",
            order_id=order_id,
            payment_ids=payment_ids or [f"PAY-{order_id}"],
            client_id="C-1",
            recipient=Recipient(name="Anna", email="anna@example.com"),
            validity_days=validity_days,
            notification_channel=notification_channel,
            cause=cause or Cause("kafka:All_Payments", f"pay-msg-{order_id}", order_id),
        )
    )


def open_notification(app: GiftCertificates, certificate_id: UUID) -> str:
    """The notificationId of the CVC notification request that issuing opened (CRM reads it
    from the NOTIFICATION_REQUESTED publication)."""
    notification = app.get_certificate(certificate_id).notification
    assert notification is not None, "issued with notification channel NONE"
    return notification.notification_id
