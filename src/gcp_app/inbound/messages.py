"""The inbound facts, as the application takes them: one class per topic's message.

Adapters decode the wire (Kafka JSON, an HTTP body) into these; defaults that are business
decisions (currency, validity, notification channel, recipient) are applied by the matcher,
so a field left out stays `None` here.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

import attrs


@attrs.frozen
class Contact:
    name: str | None = None
    email: str | None = None
    phone: str | None = None


@attrs.frozen
class Customer:
    client_id: str | None = None
    email: str | None = None
    phone: str | None = None


@attrs.frozen
class GiftCertificateLine:
    certificate_id: UUID
    amount: Decimal
    validity_days: int | None = None
    notification_channel: str | None = None
    recipient: Contact | None = None


@attrs.frozen
class RedemptionLine:
    certificate_number: str
    amount: Decimal


@attrs.frozen
class RefundLine:
    certificate_id: UUID
    reason: str | None = None


@attrs.frozen
class SalesOrderMessage:
    """All_SalesOrder: the order's full state after a change."""

    message_id: str
    event_type: str
    order_id: str
    occurred_at: datetime | None = None
    channel: str | None = None
    store_id: str | None = None
    customer: Customer | None = None
    total_amount: Decimal | None = None
    currency: str | None = None
    gift_certificates: tuple[GiftCertificateLine, ...] = ()
    redemptions: tuple[RedemptionLine, ...] = ()
    refunds: tuple[RefundLine, ...] = ()

    @property
    def is_about_certificates(self) -> bool:
        return bool(self.gift_certificates or self.redemptions or self.refunds)


@attrs.frozen
class PaymentMessage:
    """All_Payments: one event of one payment of an order."""

    message_id: str
    event_type: str
    payment_id: str
    order_id: str
    amount: Decimal
    occurred_at: datetime | None = None
    method: str | None = None
    currency: str | None = None
    certificate_number: str | None = None
    refund_of: str | None = None


@attrs.frozen
class NotificationResult:
    certificate_id: UUID
    notification_id: str
    result: str
    channel: str | None = None
    error: str | None = None

    @property
    def sent(self) -> bool:
        return self.result == "SENT"


@attrs.frozen
class ClientMessage:
    """All_Clients: CRM's client profile; GCP reads only the notification result block."""

    message_id: str
    client_id: str
    event_type: str | None = None
    occurred_at: datetime | None = None
    gift_certificate_notification: NotificationResult | None = None


InboundMessage = SalesOrderMessage | PaymentMessage | ClientMessage

# Every class on the wire, inner classes first: the order a converter registers them in.
WIRE_CLASSES: Final[tuple[type[Any], ...]] = (
    Contact,
    Customer,
    GiftCertificateLine,
    RedemptionLine,
    RefundLine,
    NotificationResult,
    SalesOrderMessage,
    PaymentMessage,
    ClientMessage,
)
