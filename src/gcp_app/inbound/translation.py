"""From inbound messages to the sale order's facts, in the domain's values.

The business defaults (currency, notification channel) are applied here, from
gcp_app.defaults; what cannot be understood is a `Refusal` (the message becomes a dead letter).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from uuid import UUID

from gcp_app.defaults import Defaults
from gcp_app.inbound.envelopes import Refusal
from gcp_app.inbound.messages import GiftCertificateLine, PaymentMessage, SalesOrderMessage
from gcp_domain.errors import DomainError
from gcp_domain.money import Money
from gcp_domain.numbers import CertificateNumber
from gcp_domain.order_values import CertificateLine, OrderFacts, PaymentFacts
from gcp_domain.vocabulary import NotificationChannel, PaymentEvent


def money(amount: Decimal, currency: str | None, defaults: Defaults) -> Money:
    try:
        return Money(amount, defaults.currency_or_default(currency))
    except DomainError as error:
        raise Refusal("invalid-money", error.message) from None


def order_facts(
    message: SalesOrderMessage, defaults: Defaults, exists: Callable[[UUID], bool]
) -> tuple[OrderFacts, list[str]]:
    """The facts of `message` for its order, and the certificateIds of its `giftCertificates`
    lines that name no certificate (`exists` says whether one does)."""
    currency = defaults.currency_or_default(message.currency)
    lines, unknown = [], []
    for line in message.gift_certificates:
        amount = money(line.amount, currency, defaults)
        if amount.is_zero:
            raise Refusal("invalid-money", "a certificate line needs a positive amount")
        if not exists(line.certificate_id):
            unknown.append(str(line.certificate_id))
            continue
        lines.append(_certificate_line(line, amount, defaults))
    redemptions = []
    for redemption in message.redemptions:
        try:
            number = CertificateNumber.parse(redemption.certificate_number).value
        except DomainError as error:
            raise Refusal("invalid-message", f"redemptions: {error.message}") from None
        redemptions.append((number, money(redemption.amount, currency, defaults).amount))
    customer = message.customer
    facts = OrderFacts(
        message_id=message.message_id,
        event_type=message.event_type,
        channel=message.channel,
        client_id=customer.client_id if customer else None,
        customer=(
            {"name": None, "email": customer.email, "phone": customer.phone} if customer else None
        ),
        currency=currency,
        certificate_lines=tuple(lines),
        redemption_lines=tuple(redemptions),
        refund_lines=tuple((str(r.certificate_id), r.reason) for r in message.refunds),
    )
    return facts, unknown


def payment_facts(message: PaymentMessage, defaults: Defaults) -> PaymentFacts:
    """The facts of one payment message, for its order (`event_type` one GCP acts on)."""
    amount = money(message.amount, message.currency, defaults)
    return PaymentFacts(
        message_id=message.message_id,
        payment_id=message.payment_id,
        event_type=PaymentEvent(message.event_type),
        method=message.method or "",
        amount=amount.amount,
        currency=amount.currency,
        certificate_number=message.certificate_number,
        refund_of=message.refund_of,
    )


def _certificate_line(
    line: GiftCertificateLine, amount: Money, defaults: Defaults
) -> CertificateLine:
    recipient = line.recipient
    return CertificateLine(
        certificate_id=str(line.certificate_id),
        amount=amount.amount,
        validity_days=line.validity_days,
        notification_channel=_channel(line.notification_channel, defaults).value,
        recipient=(
            {"name": recipient.name, "email": recipient.email, "phone": recipient.phone}
            if recipient
            else None
        ),
    )


def _channel(value: str | None, defaults: Defaults) -> NotificationChannel:
    try:
        return NotificationChannel(value) if value else defaults.notification_channel
    except ValueError:
        raise Refusal("invalid-message", "notificationChannel must be EMAIL, SMS or NONE") from None
