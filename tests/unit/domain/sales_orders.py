"""Builders for the SalesOrder matching tests: inbound facts as small values, delivered to an
order in memory (no store), and the decisions the application would record.

A message is a value so that a test (or a hypothesis property) can deliver the same facts in
any order and any number of times.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import attrs

from gcp_domain.cause import Cause
from gcp_domain.order import SalesOrder
from gcp_domain.order_values import GIFT_CERTIFICATE, CertificateLine, Due, Payment, Subject
from gcp_domain.vocabulary import DecisionKind, DecisionOutcome, PaymentEvent

P = PaymentEvent
K = DecisionKind
DONE = DecisionOutcome.DONE
REFUSED = DecisionOutcome.REFUSED

ORDER_ID = "WEB-100045"
NUMBER = "4539578763621486"  # a printed certificate number used as tender
OTHER_NUMBER = "4916338506082832"
CAUSE = Cause(actor="kafka:All_SalesOrder", causation_id="msg-1", correlation_id=ORDER_ID)
DECIDED_BY = Cause(actor="matcher", causation_id="msg-2", correlation_id=ORDER_ID)


def rub(amount: str) -> Decimal:
    return Decimal(amount)


def line(
    certificate_id: str = "C1",
    amount: str = "5000.00",
    *,
    channel: str = "EMAIL",
    validity_days: int | None = 365,
    recipient: dict[str, str | None] | None = None,
) -> CertificateLine:
    """A `giftCertificates` line: a certificate the order sells."""
    return CertificateLine(
        certificate_id=certificate_id,
        amount=Decimal(amount),
        validity_days=validity_days,
        notification_channel=channel,
        recipient=recipient,
    )


@attrs.frozen
class OrderMessage:
    """One All_SalesOrder message: the order's whole state after a change."""

    message_id: str
    event_type: str = "ORDER_CREATED"
    channel: str | None = "WEB"
    client_id: str | None = "C-1"
    customer: dict[str, str | None] | None = None
    currency: str = "RUB"
    lines: tuple[CertificateLine, ...] = (line(),)
    redemptions: tuple[tuple[str, Decimal], ...] = ()
    refunds: tuple[tuple[str, str | None], ...] = ()

    def deliver(self, order: SalesOrder) -> bool:
        return order.receive_order_message(
            message_id=self.message_id,
            event_type=self.event_type,
            channel=self.channel,
            client_id=self.client_id,
            customer=self.customer,
            currency=self.currency,
            certificate_lines=list(self.lines),
            redemption_lines=list(self.redemptions),
            refund_lines=list(self.refunds),
            cause=CAUSE,
        )


@attrs.frozen
class PaymentMessage:
    """One All_Payments message: one event of one paymentId."""

    message_id: str
    payment_id: str
    event_type: PaymentEvent
    amount: Decimal
    method: str = "CARD"
    currency: str = "RUB"
    certificate_number: str | None = None
    refund_of: str | None = None

    def deliver(self, order: SalesOrder) -> bool:
        return order.receive_payment(
            message_id=self.message_id,
            payment_id=self.payment_id,
            event_type=self.event_type,
            method=self.method,
            amount=self.amount,
            currency=self.currency,
            certificate_number=self.certificate_number,
            refund_of=self.refund_of,
            cause=CAUSE,
        )

    def known_as(self, *also: PaymentEvent) -> Payment:
        """What the order knows of this paymentId once this message (and messages of `also`,
        with the same amount and method) arrived: the expected payment inside a due item."""
        return Payment(
            payment_id=self.payment_id,
            method=self.method,
            amount=self.amount,
            currency=self.currency,
            certificate_number=self.certificate_number,
            refund_of=self.refund_of,
            types=frozenset({self.event_type, *also}),
        )


Message = OrderMessage | PaymentMessage


def sale(
    message_id: str = "ORD-1",
    *lines: CertificateLine,
    event_type: str = "ORDER_CREATED",
    currency: str = "RUB",
    redemptions: Sequence[tuple[str, str]] = (),
    refunds: Sequence[str] = (),
    **details: Any,
) -> OrderMessage:
    """An order message; without lines it sells the one certificate `line()`."""
    return OrderMessage(
        message_id=message_id,
        event_type=event_type,
        currency=currency,
        lines=lines or (line(),),
        redemptions=tuple((number, Decimal(amount)) for number, amount in redemptions),
        refunds=tuple((certificate_id, "customer request") for certificate_id in refunds),
        **details,
    )


def till(*redemptions: tuple[str, str], message_id: str = "POS-1") -> OrderMessage:
    """An order at the till that sells no certificate and takes some as tender (its
    `redemptions` lines, (number, amount) each)."""
    return OrderMessage(
        message_id=message_id,
        channel="POS",
        lines=(),
        redemptions=tuple((number, Decimal(amount)) for number, amount in redemptions),
    )


def payment(
    payment_id: str,
    event_type: PaymentEvent,
    amount: str = "5000.00",
    *,
    message_id: str | None = None,
    method: str = "CARD",
    currency: str = "RUB",
    number: str | None = None,
    refund_of: str | None = None,
) -> PaymentMessage:
    """A payment message; its messageId is one per (paymentId, event type) unless given."""
    return PaymentMessage(
        message_id=message_id or f"{payment_id}:{event_type}",
        payment_id=payment_id,
        event_type=event_type,
        amount=Decimal(amount),
        method=method,
        currency=currency,
        certificate_number=number,
        refund_of=refund_of,
    )


def redemption(payment_id: str, amount: str, number: str = NUMBER) -> PaymentMessage:
    """Money taken from a certificate used as tender."""
    return payment(payment_id, P.REDEMPTION, amount, method=GIFT_CERTIFICATE, number=number)


def reversal(
    payment_id: str,
    amount: str,
    *,
    refund_of: str | None,
    event_type: PaymentEvent = P.REFUND_COMPLETED,
    number: str = NUMBER,
) -> PaymentMessage:
    """Money returned to a certificate: the refund of a redemption."""
    return payment(
        payment_id,
        event_type,
        amount,
        method=GIFT_CERTIFICATE,
        number=number,
        refund_of=refund_of,
    )


def new_order(order_id: str = ORDER_ID) -> SalesOrder:
    return SalesOrder(order_id=order_id, cause=CAUSE)


def deliver(order: SalesOrder, *messages: Message) -> SalesOrder:
    for message in messages:
        message.deliver(order)
    return order


def received(*messages: Message) -> SalesOrder:
    """A new order that has received `messages`, in this order."""
    return deliver(new_order(), *messages)


def decide(
    order: SalesOrder,
    kind: DecisionKind,
    subject: Subject,
    outcome: DecisionOutcome = DONE,
    *,
    certificate_id: str | None = None,
    reason: str | None = None,
) -> SalesOrder:
    """Records a decision as the application does after carrying out a due item."""
    order.decide(
        kind,
        subject,
        outcome=outcome,
        reason=reason,
        certificate_id=certificate_id,
        cause=DECIDED_BY,
    )
    return order


def replayed(order: SalesOrder) -> SalesOrder:
    """The order rebuilt from its (collected) events, as the event store would."""
    rebuilt: Any = None
    for stored in order.collect_events():
        rebuilt = stored.mutate(rebuilt)
    assert isinstance(rebuilt, SalesOrder)
    return rebuilt


def same_items(left: Iterable[Due], right: Iterable[Due]) -> bool:
    """Equal as multisets: the same due items whatever their order (some hold dicts, so they
    cannot be hashed into a set)."""
    remaining = list(right)
    for item in left:
        if item not in remaining:
            return False
        remaining.remove(item)
    return not remaining
