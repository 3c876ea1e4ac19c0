"""Builders of the inbound messages, with the defaults of CONTRACTS.md's examples.

One set for everything that plays the other teams: the matching tests hand these messages to the
matcher as they are; the end-to-end tests, the benchmark's workload and `gcp demo` encode them
for the topics (`gcp_adapters.kafka.encoding`).

A builder fills in what the contract's example shows: a web order of the buyer C-1 in RUB at
store MSK-001, a certificate of 5000.00 valid 365 days whose CVC goes to Anna by EMAIL, a captured
card payment, CRM's SENT by EMAIL. Every default can be overridden; `None` leaves an optional
field out, so the matcher's default applies (the service's validity, EMAIL, the customer as the
recipient). Each message gets a fresh messageId unless one is given: a redelivery is the same
message object sent again. Money is a `Decimal` or its text ("5000.00"), never a float.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final, Literal
from uuid import UUID, uuid4

from gcp_app.inbound.messages import (
    ClientMessage,
    Contact,
    Customer,
    GiftCertificateLine,
    NotificationResult,
    PaymentMessage,
    RedemptionLine,
    RefundLine,
    SalesOrderMessage,
)

Money = Decimal | str
CertificateId = UUID | str


class Derived(enum.Enum):
    """A default worked out when the message is built (`None` would mean: left out)."""

    NOW = "the time the message is built"
    LINES_TOTAL = "the sum of the order's certificate and redemption lines"


NOW: Final = Derived.NOW
LINES_TOTAL: Final = Derived.LINES_TOTAL
When = datetime | Literal[Derived.NOW] | None
Total = Money | Literal[Derived.LINES_TOTAL] | None

FACE_VALUE: Final = Decimal("5000.00")
CURRENCY: Final = "RUB"
VALIDITY_DAYS: Final = 365
STORE: Final = "MSK-001"
CLIENT_ID: Final = "C-1"
ANNA: Final = Contact(name="Anna", email="anna@example.com", phone=None)
REFUND_REASON: Final = "customer request"


def fresh_message_id() -> str:
    """A new messageId: one per business fact."""
    return str(uuid4())


def money(amount: Money) -> Decimal:
    """An amount as the messages hold it; text is read exactly, as written."""
    return amount if isinstance(amount, Decimal) else Decimal(amount)


def _certificate_id(certificate_id: CertificateId) -> UUID:
    return certificate_id if isinstance(certificate_id, UUID) else UUID(certificate_id)


def _message_id(message_id: str | None) -> str:
    return fresh_message_id() if message_id is None else message_id


def _at(occurred_at: When) -> datetime | None:
    return datetime.now(UTC) if occurred_at is NOW else occurred_at


# ---------------------------------------------------------------------- All_SalesOrder


def buyer(
    client_id: str = CLIENT_ID,
    *,
    email: str | None = "buyer@example.com",
    phone: str | None = "+79990000000",
) -> Customer:
    """The buyer: CRM's client `client_id`, where a line without a recipient is notified."""
    return Customer(client_id=client_id, email=email, phone=phone)


BUYER: Final = buyer()


def certificate_line(
    certificate_id: CertificateId,
    amount: Money = FACE_VALUE,
    *,
    validity_days: int | None = VALIDITY_DAYS,
    notification_channel: str | None = "EMAIL",
    recipient: Contact | None = ANNA,
) -> GiftCertificateLine:
    """A certificate sold by the order (reserved before with GET /certificates/next)."""
    return GiftCertificateLine(
        certificate_id=_certificate_id(certificate_id),
        amount=money(amount),
        validity_days=validity_days,
        notification_channel=notification_channel,
        recipient=recipient,
    )


def redemption_line(certificate_number: str, amount: Money) -> RedemptionLine:
    """A certificate used as tender in the order, by its printed number."""
    return RedemptionLine(certificate_number=certificate_number, amount=money(amount))


def refund_line(certificate_id: CertificateId, reason: str | None = REFUND_REASON) -> RefundLine:
    """A certificate whose purchase the order refunds."""
    return RefundLine(certificate_id=_certificate_id(certificate_id), reason=reason)


def order(
    order_id: str,
    event_type: str = "ORDER_CREATED",
    *,
    certificates: Iterable[GiftCertificateLine] = (),
    redemptions: Iterable[RedemptionLine] = (),
    refunds: Iterable[RefundLine] = (),
    channel: str | None = "WEB",
    store_id: str | None = STORE,
    customer: Customer | None = BUYER,
    total: Total = LINES_TOTAL,
    currency: str | None = CURRENCY,
    occurred_at: When = NOW,
    message_id: str | None = None,
) -> SalesOrderMessage:
    """The order's full state after a change (`event_type`), as All_SalesOrder carries it."""
    sold, used = tuple(certificates), tuple(redemptions)
    if total is LINES_TOTAL:
        amounts = [line.amount for line in sold] + [line.amount for line in used]
        total = sum(amounts, Decimal(0))
    return SalesOrderMessage(
        message_id=_message_id(message_id),
        event_type=event_type,
        order_id=order_id,
        occurred_at=_at(occurred_at),
        channel=channel,
        store_id=store_id,
        customer=customer,
        total_amount=None if total is None else money(total),
        currency=currency,
        gift_certificates=sold,
        redemptions=used,
        refunds=tuple(refunds),
    )


# ---------------------------------------------------------------------- All_Payments


def payment(
    order_id: str,
    payment_id: str,
    event_type: str = "PAYMENT_CAPTURED",
    amount: Money = FACE_VALUE,
    *,
    method: str | None = "CARD",
    certificate_number: str | None = None,
    refund_of: str | None = None,
    currency: str | None = CURRENCY,
    occurred_at: When = NOW,
    message_id: str | None = None,
) -> PaymentMessage:
    """One event (`event_type`) of the payment `payment_id` of an order."""
    return PaymentMessage(
        message_id=_message_id(message_id),
        event_type=event_type,
        payment_id=payment_id,
        order_id=order_id,
        amount=money(amount),
        occurred_at=_at(occurred_at),
        method=method,
        currency=currency,
        certificate_number=certificate_number,
        refund_of=refund_of,
    )


def redemption_payment(
    order_id: str,
    payment_id: str,
    certificate_number: str,
    amount: Money,
    *,
    currency: str | None = CURRENCY,
    occurred_at: When = NOW,
    message_id: str | None = None,
) -> PaymentMessage:
    """Money taken from the certificate `certificate_number` to pay for the order."""
    return payment(
        order_id,
        payment_id,
        "REDEMPTION",
        amount,
        method="GIFT_CERTIFICATE",
        certificate_number=certificate_number,
        currency=currency,
        occurred_at=occurred_at,
        message_id=message_id,
    )


# ---------------------------------------------------------------------- All_Clients


def client_update(
    client_id: str = CLIENT_ID,
    *,
    notification: NotificationResult | None = None,
    event_type: str | None = "CLIENT_UPDATED",
    occurred_at: When = NOW,
    message_id: str | None = None,
) -> ClientMessage:
    """CRM's client profile changed; without a `notification` GCP ignores it."""
    return ClientMessage(
        message_id=_message_id(message_id),
        client_id=client_id,
        event_type=event_type,
        occurred_at=_at(occurred_at),
        gift_certificate_notification=notification,
    )


def client_notification(
    certificate_id: CertificateId,
    notification_id: str,
    result: str = "SENT",
    *,
    error: str | None = None,
    channel: str | None = "EMAIL",
    client_id: str = CLIENT_ID,
    occurred_at: When = NOW,
    message_id: str | None = None,
) -> ClientMessage:
    """CRM's result (SENT or FAILED) of the CVC notification `notification_id`."""
    return client_update(
        client_id,
        notification=NotificationResult(
            certificate_id=_certificate_id(certificate_id),
            notification_id=notification_id,
            result=result,
            channel=channel,
            error=error,
        ),
        occurred_at=occurred_at,
        message_id=message_id,
    )
