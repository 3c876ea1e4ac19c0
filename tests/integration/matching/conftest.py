"""Helpers for the matching tests: envelopes with offsets, a stocked pool, an application.

No Kafka here: an `Envelope` is built by hand, with offsets that increase per (topic, partition)
like a consumer would read them, and handed to `InboundBatches.handle` in batches. The tests
build its message with gcp_app.inbound.builders; its key and bytes are the contract's.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from tests.integration import certificates

from gcp_adapters.bootstrap import build_application
from gcp_adapters.kafka.encoding import encode, key_of, topic_of
from gcp_app.application import GiftCertificates
from gcp_app.dead_letters import DeadLetter
from gcp_app.inbound import Envelope, Handled, InboundBatches, Outcome, Problem
from gcp_app.inbound import builders as build
from gcp_app.inbound.messages import InboundMessage
from gcp_app.reservation_desk import ReservationGranted
from gcp_app.settings import Settings
from gcp_domain import Cause, GiftCertificate
from gcp_domain.order import SalesOrder, sales_order_id
from gcp_domain.stream import certificate_status

POOL = "default"
ADMIN = Cause("admin:ops", "req-generate", "req-generate")


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------------- envelopes


class Envelopes:
    """Wraps messages as consumed records: offsets increase per (topic, partition)."""

    def __init__(self) -> None:
        self._next: dict[tuple[str, int], int] = defaultdict(int)

    def _offset(self, topic: str, partition: int) -> int:
        offset = self._next[(topic, partition)]
        self._next[(topic, partition)] = offset + 1
        return offset

    def __call__(self, message: InboundMessage, *, partition: int = 0) -> Envelope:
        """`message` as consumed: its contract topic and key, and its bytes on the wire."""
        topic = topic_of(message)
        return Envelope(
            topic=topic,
            partition=partition,
            offset=self._offset(topic, partition),
            key=key_of(message),
            value=encode(message),
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
        # Validity is left to the service's setting: the expiry tests count from it.
        line = build.certificate_line(
            granted.certificate_id, amount, validity_days=None, notification_channel=channel
        )
        outcomes = self.each(
            build.order(order_id, certificates=[line]),
            build.payment(order_id, f"PAY-{order_id}", "PAYMENT_CAPTURED", amount),
        )
        assert outcomes == [Outcome.APPLIED, Outcome.APPLIED]
        assert self.certificate(granted.certificate_id).is_issued
        return granted, order_id

    # -- support's side, as another writer (HTTP) would change a certificate

    def lock(self, certificate_id: UUID, reason: str = "fraud check") -> None:
        certificates.lock(self.app, certificate_id, reason)

    def unlock(self, certificate_id: UUID, reason: str = "cleared") -> None:
        certificates.unlock(self.app, certificate_id, reason)

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
