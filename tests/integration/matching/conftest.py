"""Builders for the matching tests: inbound messages, envelopes with offsets, a stocked pool.

No Kafka here: an `Envelope` is built by hand, with offsets that increase per (topic, partition)
like a consumer would read them, and handed to `InboundBatches.handle` in batches.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from gcp_adapters.bootstrap import build_application
from gcp_app.application import GiftCertificates
from gcp_app.dead_letters import DeadLetter
from gcp_app.inbound import Envelope, Handled, InboundBatches, Outcome, Problem
from gcp_app.inbound.messages import (
    ClientMessage,
    Contact,
    Customer,
    GiftCertificateLine,
    InboundMessage,
    NotificationResult,
    PaymentMessage,
    RedemptionLine,
    RefundLine,
    SalesOrderMessage,
)
from gcp_app.reservation_desk import ReservationGranted
from gcp_app.settings import Settings
from gcp_domain import Cause, GiftCertificate
from gcp_domain.order import SalesOrder, sales_order_id
from gcp_domain.stream import certificate_status

SALES = "All_SalesOrder"
PAYMENTS = "All_Payments"
CLIENTS = "All_Clients"
POOL = "default"
ADMIN = Cause("admin:ops", "req-generate", "req-generate")
BUYER = Customer(client_id="C-1", email="buyer@example.com", phone="+79990000000")


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------------- messages


def line(
    certificate_id: UUID | str,
    amount: str = "5000.00",
    *,
    validity_days: int | None = None,
    channel: str | None = None,
    recipient: Contact | None = None,
) -> GiftCertificateLine:
    return GiftCertificateLine(
        certificate_id=UUID(str(certificate_id)),
        amount=Decimal(amount),
        validity_days=validity_days,
        notification_channel=channel,
        recipient=recipient,
    )


def redemption_line(number: str, amount: str) -> RedemptionLine:
    return RedemptionLine(certificate_number=number, amount=Decimal(amount))


def refund_line(certificate_id: UUID | str, reason: str | None = "customer request") -> RefundLine:
    return RefundLine(certificate_id=UUID(str(certificate_id)), reason=reason)


def order_message(
    order_id: str,
    *,
    certificates: Sequence[GiftCertificateLine] = (),
    redemptions: Sequence[RedemptionLine] = (),
    refunds: Sequence[RefundLine] = (),
    event_type: str = "ORDER_CREATED",
    message_id: str | None = None,
    channel: str = "WEB",
    customer: Customer | None = BUYER,
    currency: str | None = "RUB",
) -> SalesOrderMessage:
    return SalesOrderMessage(
        message_id=message_id or _id("so"),
        event_type=event_type,
        order_id=order_id,
        channel=channel,
        customer=customer,
        currency=currency,
        gift_certificates=tuple(certificates),
        redemptions=tuple(redemptions),
        refunds=tuple(refunds),
    )


def payment_message(
    order_id: str,
    payment_id: str,
    event_type: str = "PAYMENT_CAPTURED",
    amount: str = "5000.00",
    *,
    method: str | None = "CARD",
    number: str | None = None,
    refund_of: str | None = None,
    currency: str | None = "RUB",
    message_id: str | None = None,
) -> PaymentMessage:
    return PaymentMessage(
        message_id=message_id or _id("pay"),
        event_type=event_type,
        payment_id=payment_id,
        order_id=order_id,
        amount=Decimal(amount),
        method=method,
        currency=currency,
        certificate_number=number,
        refund_of=refund_of,
    )


def redemption_payment(
    order_id: str, payment_id: str, number: str, amount: str, **extra: Any
) -> PaymentMessage:
    return payment_message(
        order_id,
        payment_id,
        "REDEMPTION",
        amount,
        method="GIFT_CERTIFICATE",
        number=number,
        **extra,
    )


def client_message(
    certificate_id: UUID | str | None,
    notification_id: str = "",
    result: str = "SENT",
    *,
    error: str | None = None,
    message_id: str | None = None,
    client_id: str = "C-1",
) -> ClientMessage:
    block = (
        None
        if certificate_id is None
        else NotificationResult(
            certificate_id=UUID(str(certificate_id)),
            notification_id=notification_id,
            result=result,
            channel="EMAIL",
            error=error,
        )
    )
    return ClientMessage(
        message_id=message_id or _id("cl"),
        client_id=client_id,
        event_type="CLIENT_UPDATED",
        gift_certificate_notification=block,
    )


class Messages:
    """The builders, as one fixture (test modules cannot import this conftest)."""

    line = staticmethod(line)
    redemption_line = staticmethod(redemption_line)
    refund_line = staticmethod(refund_line)
    order = staticmethod(order_message)
    payment = staticmethod(payment_message)
    redemption = staticmethod(redemption_payment)
    client = staticmethod(client_message)
    contact = Contact
    customer = BUYER


def topic_of(message: InboundMessage) -> str:
    if isinstance(message, SalesOrderMessage):
        return SALES
    if isinstance(message, PaymentMessage):
        return PAYMENTS
    return CLIENTS


def key_of(message: InboundMessage) -> bytes:
    if isinstance(message, ClientMessage):
        return message.client_id.encode()
    return message.order_id.encode()


class Envelopes:
    """Wraps messages as consumed records: offsets increase per (topic, partition)."""

    def __init__(self) -> None:
        self._next: dict[tuple[str, int], int] = defaultdict(int)

    def _offset(self, topic: str, partition: int) -> int:
        offset = self._next[(topic, partition)]
        self._next[(topic, partition)] = offset + 1
        return offset

    def __call__(self, message: InboundMessage, *, partition: int = 0) -> Envelope:
        topic = topic_of(message)
        value = json.dumps({"messageId": message.message_id}).encode()
        return Envelope(
            topic=topic,
            partition=partition,
            offset=self._offset(topic, partition),
            key=key_of(message),
            value=value,
            message=message,
        )

    def broken(
        self,
        topic: str,
        value: bytes | None,
        problem: Problem,
        *,
        key: bytes | None = None,
        partition: int = 0,
    ) -> Envelope:
        return Envelope(
            topic=topic,
            partition=partition,
            offset=self._offset(topic, partition),
            key=key,
            value=value,
            problem=problem,
        )


# ---------------------------------------------------------------------- the application side


class Stock:
    """Stocks the pool on demand and reserves certificates like GET /certificates/next."""

    def __init__(self, app: GiftCertificates) -> None:
        self.app = app
        self._stocked = 0
        self._reserved = 0

    def reserve(self, count: int = 1, *, order_id: str | None = None) -> list[ReservationGranted]:
        missing = self._reserved + count - self._stocked
        if missing > 0:
            self.app.pools.generate_certificates(POOL, missing + 2, cause=ADMIN)
            self._stocked += missing + 2
        self._reserved += count
        return [
            self.app.reservations.reserve_next(
                POOL,
                channel="WEB",
                order_id=order_id,
                cause=Cause("channel:web", _id("req"), order_id or "-"),
            )
            for _ in range(count)
        ]


class Gcp:
    """One application with its matcher: deliver messages, then look at what happened."""

    def __init__(self, app: GiftCertificates, envelopes: Envelopes | None = None) -> None:
        self.app = app
        self.matcher = InboundBatches(app)
        self.envelopes = envelopes or Envelopes()
        self.stock = Stock(app)

    # -- delivering

    def handle(self, envelopes: Sequence[Envelope]) -> list[Outcome]:
        return [h.outcome for h in self.handled(envelopes)]

    def handled(self, envelopes: Sequence[Envelope]) -> list[Handled]:
        return self.matcher.handle(list(envelopes))

    def deliver(self, *messages: InboundMessage) -> list[Outcome]:
        """The messages as one batch (one poll)."""
        return self.handle([self.envelopes(m) for m in messages])

    def each(self, *messages: InboundMessage) -> list[Outcome]:
        """The messages one batch each."""
        return [outcome for m in messages for outcome in self.deliver(m)]

    # -- selling, so that there is something to redeem or refund

    def sell(
        self,
        amount: str = "5000.00",
        *,
        order_id: str | None = None,
        channel: str | None = "NONE",
    ) -> tuple[ReservationGranted, str]:
        order_id = order_id or _id("WEB")
        (granted,) = self.stock.reserve(order_id=order_id)
        outcomes = self.each(
            order_message(
                order_id, certificates=[line(granted.certificate_id, amount, channel=channel)]
            ),
            payment_message(order_id, f"PAY-{order_id}", "PAYMENT_CAPTURED", amount),
        )
        assert outcomes == [Outcome.APPLIED, Outcome.APPLIED]
        assert self.certificate(granted.certificate_id).is_issued
        return granted, order_id

    # -- looking

    def certificate(self, certificate_id: UUID) -> GiftCertificate:
        return self.app.get_certificate(certificate_id)

    def statuses(self, certificate_id: UUID) -> list[str]:
        """Every status the certificate's history publishes, in order."""
        certificate: Any = None
        published = []
        for event in self.app.store.events.get(certificate_id):
            certificate = event.mutate(certificate)
            status = certificate_status(certificate, event)
            if status is not None:
                published.append(status)
        return published

    def events(self, certificate_id: UUID) -> list[str]:
        return [entry.event for entry in self.app.history(certificate_id)]

    def object(self, certificate_id: UUID) -> dict[str, Any]:
        return self.app.current_object(certificate_id)

    def order(self, order_id: str) -> SalesOrder:
        order: Any = self.app.store.repository.get(sales_order_id(order_id))
        assert isinstance(order, SalesOrder)
        return order

    def recorded(self) -> int:
        """How many events the store holds (the notification log's last id)."""
        return self.app.store.recorder.max_notification_id() or 0

    def topics(self) -> Counter[str]:
        return Counter(
            n.topic for n in self.app.store.recorder.select_notifications(start=1, limit=1_000_000)
        )

    def dead_letters(self) -> list[DeadLetter]:
        notifications = self.app.store.recorder.select_notifications(
            start=1, limit=1_000_000, topics=[DeadLetter.Created.TOPIC]
        )
        letters = []
        for notification in notifications:
            letter: Any = self.app.store.repository.get(notification.originator_id)
            letters.append(letter)
        return letters


@pytest.fixture
def messages() -> type[Messages]:
    return Messages


@pytest.fixture
def envelopes() -> Envelopes:
    return Envelopes()


@pytest.fixture
def stock(app: GiftCertificates) -> Stock:
    return Stock(app)


@pytest.fixture
def gcp(app: GiftCertificates, envelopes: Envelopes) -> Gcp:
    return Gcp(app, envelopes)


@pytest.fixture(scope="module")
def memory_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    var_dir: Path = tmp_path_factory.mktemp("var")
    return Settings.from_env({"GCP_VAR_DIR": str(var_dir), "GCP_DATABASE_URL": "memory:"})


@pytest.fixture(scope="module")
def fresh_gcp(memory_settings: Settings) -> Iterator[Callable[[], Gcp]]:
    """A new in-memory application per call (for hypothesis examples)."""
    opened: list[GiftCertificates] = []

    def factory() -> Gcp:
        application = build_application(memory_settings)
        opened.append(application)
        return Gcp(application)

    yield factory
    for application in opened:
        application.close()
