"""The GiftCertificate's values: what its state is made of, rebuilt from its events."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

from gcp_domain.money import Money
from gcp_domain.text import cut
from gcp_domain.vocabulary import (
    CertificateState,
    NotificationChannel,
    NotificationStatus,
    RefundStatus,
    RejectionReason,
)


@attrs.frozen
class Reservation:
    by: str
    until: datetime
    idempotency_key: str | None
    order_id: str | None


@attrs.frozen
class Recipient:
    """Where CRM sends the CVC of a gift; each field cut to 1,000 characters."""

    name: str | None = attrs.field(default=None, converter=cut)
    email: str | None = attrs.field(default=None, converter=cut)
    phone: str | None = attrs.field(default=None, converter=cut)

    def as_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "email": self.email, "phone": self.phone}


@attrs.frozen
class Issue:
    """What the sale order fixed when the certificate was issued."""

    amount: Money
    channel: str
    order_id: str
    payment_ids: tuple[str, ...]
    client_id: str | None
    recipient: Recipient
    notification_channel: NotificationChannel
    issued_at: datetime
    expires_at: datetime


@attrs.frozen
class Notification:
    notification_id: str
    channel: NotificationChannel
    attempt: int
    status: NotificationStatus
    error: str | None = None
    cvc_disclosed: bool = False


@attrs.frozen
class Redemption:
    payment_id: str
    order_id: str | None
    amount: Decimal
    reversed: Decimal = Decimal(0)

    @property
    def reversible(self) -> Decimal:
        return self.amount - self.reversed


@attrs.frozen
class Lock:
    reason: str
    by: str
    at: datetime
    previous_state: CertificateState


@attrs.frozen
class Refund:
    """The certificate's latest refund: `payment_id` of its latest step, and the sale payment
    its steps name in refundOf, if they do (contract 1.1, rule 3)."""

    payment_id: str
    status: RefundStatus
    amount: Decimal | None
    reason: str | None = None
    refund_of: str | None = None

    @property
    def key(self) -> str:
        """What makes steps one refund: the sale payment they name, else their paymentId."""
        return self.refund_of or self.payment_id

    def has_step(self, payment_id: str, refund_of: str | None) -> bool:
        """A step (its own paymentId, the sale payment it names in refundOf, if any) is one of
        this refund's: the same paymentId as its latest step, or the same `key`."""
        return self.payment_id == payment_id or self.key == (refund_of or payment_id)


@attrs.frozen
class RedemptionOutcome:
    """What `redeem` decided: applied (with the balance after) or rejected (with the reason)."""

    payment_id: str
    applied: bool
    balance_after: Decimal
    reason: RejectionReason | None = None
    duplicate: bool = False
