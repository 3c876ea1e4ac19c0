"""From inbound messages to the sale order's facts, in the domain's values.

The business defaults (currency, notification channel) are applied here, from
gcp_app.defaults; what cannot be understood is a `Refusal` (the message becomes a dead letter).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from uuid import UUID

import attrs

from gcp_app.defaults import Defaults
from gcp_app.inbound.envelopes import Refusal
from gcp_app.inbound.messages import GiftCertificateLine, SalesOrderMessage
from gcp_domain.errors import DomainError
from gcp_domain.money import Money
from gcp_domain.numbers import CertificateNumber
from gcp_domain.order_values import CertificateLine
from gcp_domain.vocabulary import NotificationChannel


@attrs.frozen
class OrderFacts:
    """What an All_SalesOrder message tells about certificates, ready for the order.
    `unknown`: certificateIds of `giftCertificates` lines that name no certificate."""

    currency: str
    lines: list[CertificateLine]
    unknown: list[str]
    redemptions: list[tuple[str, Decimal]]
    refunds: list[tuple[str, str | None]]
    customer: dict[str, str | None] | None


def money(amount: Decimal, currency: str | None, defaults: Defaults) -> Money:
    try:
        return Money(amount, defaults.currency_or_default(currency))
    except DomainError as error:
        raise Refusal("invalid-money", error.message) from None


def order_facts(
    message: SalesOrderMessage, defaults: Defaults, exists: Callable[[UUID], bool]
) -> OrderFacts:
    """The facts of `message`; `exists` says whether a certificate id names a certificate."""
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
    return OrderFacts(
        currency=currency,
        lines=lines,
        unknown=unknown,
        redemptions=redemptions,
        refunds=[(str(r.certificate_id), r.reason) for r in message.refunds],
        customer=(
            {"name": None, "email": customer.email, "phone": customer.phone} if customer else None
        ),
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
