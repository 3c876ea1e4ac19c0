"""Shared fixtures of the domain's unit tests: certificates built in a given state.

Every certificate the builder hands out has had its events collected already, so a test sees
only what its own command records (`recorded(cert)`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from gcp_domain import (
    Cause,
    CertificateNumber,
    GiftCertificate,
    Money,
    NotificationChannel,
    Recipient,
)
from gcp_domain.certificate import event_name

NUMBER = "4539578763621486"
SEALED_CVC = "sealed:v1:7f3a9c0e-never-on-the-wire"
ISSUED_AT = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
EXPIRES_AT = ISSUED_AT + timedelta(days=365)
DURING = ISSUED_AT + timedelta(days=30)
SALE_ORDER = "WEB-100045"
FACE_VALUE = "5000.00"

# Every certificate state (and working sub-state) a test may ask the builder for.
STATES = (
    "available",
    "reserved",
    "active",
    "partially_redeemed",
    "redeemed",
    "locked",
    "locked_redeemed",
    "refund_pending",
    "refund_pending_details",
    "refunded",
    "expired",
    "cancelled",
)
# Those of a certificate that has been issued: all but the first two.
ISSUED_STATES = tuple(s for s in STATES if s not in ("available", "reserved"))

# The `recorded` fixture.
Recorded = Callable[[GiftCertificate], list[str]]


class CertificateBuilder:
    """Builds GiftCertificates through their commands, with a setup Cause."""

    number = NUMBER
    sealed_cvc = SEALED_CVC
    issued_at = ISSUED_AT
    expires_at = EXPIRES_AT
    during = DURING
    sale_order = SALE_ORDER
    face_value = FACE_VALUE
    setup = Cause(actor="test:setup", causation_id="setup-msg", correlation_id="setup-corr")

    def money(self, amount: str, currency: str = "RUB") -> Money:
        return Money.of(amount, currency)

    def created(self, *, pool: str = "default") -> GiftCertificate:
        """A new certificate, its Created event still pending."""
        return GiftCertificate.create(
            pool=pool,
            number=CertificateNumber(self.number),
            sealed_cvc=self.sealed_cvc,
            cause=self.setup,
        )

    def available(self, *, pool: str = "default") -> GiftCertificate:
        cert = self.created(pool=pool)
        cert.collect_events()
        return cert

    def reserved(self, *, order_id: str | None = SALE_ORDER) -> GiftCertificate:
        cert = self.available()
        cert.reserve(
            by="channel:web",
            until=ISSUED_AT + timedelta(minutes=30),
            idempotency_key="idem-1",
            order_id=order_id,
            cause=self.setup,
        )
        cert.collect_events()
        return cert

    def issue(
        self,
        cert: GiftCertificate,
        *,
        amount: str = FACE_VALUE,
        currency: str = "RUB",
        order_id: str = SALE_ORDER,
        channel: NotificationChannel = NotificationChannel.EMAIL,
        issued_at: datetime = ISSUED_AT,
        expires_at: datetime = EXPIRES_AT,
        cause: Cause | None = None,
    ) -> bool:
        return cert.issue(
            amount=Money.of(amount, currency),
            channel="WEB",
            order_id=order_id,
            payment_ids=["PAY-77"],
            client_id="C-1",
            recipient=Recipient(name="Anna", email="anna@example.com"),
            notification_channel=channel,
            issued_at=issued_at,
            expires_at=expires_at,
            cause=cause or self.setup,
        )

    def active(
        self,
        *,
        amount: str = FACE_VALUE,
        currency: str = "RUB",
        channel: NotificationChannel = NotificationChannel.EMAIL,
        issued_at: datetime = ISSUED_AT,
        expires_at: datetime = EXPIRES_AT,
    ) -> GiftCertificate:
        cert = self.reserved()
        self.issue(
            cert,
            amount=amount,
            currency=currency,
            channel=channel,
            issued_at=issued_at,
            expires_at=expires_at,
        )
        cert.collect_events()
        return cert

    def redeem(
        self,
        cert: GiftCertificate,
        amount: str,
        *,
        payment_id: str = "PAY-80",
        at: datetime = DURING,
    ) -> None:
        outcome = cert.redeem(
            payment_id=payment_id,
            order_id="POS-9",
            amount=Money.of(amount, cert.currency or "RUB"),
            at=at,
            cause=self.setup,
        )
        assert outcome.applied
        cert.collect_events()

    def partially_redeemed(self, *, taken: str = "1500.00") -> GiftCertificate:
        cert = self.active()
        self.redeem(cert, taken)
        return cert

    def redeemed(self) -> GiftCertificate:
        cert = self.active()
        self.redeem(cert, FACE_VALUE)
        return cert

    def lock(self, cert: GiftCertificate) -> GiftCertificate:
        cert.lock_for(reason="fraud check", by="support:bob", at=DURING, cause=self.setup)
        cert.collect_events()
        return cert

    def locked(self) -> GiftCertificate:
        return self.lock(self.active())

    def locked_redeemed(self) -> GiftCertificate:
        return self.lock(self.redeemed())

    def refund_pending(self, *, amount: str | None = FACE_VALUE) -> GiftCertificate:
        cert = self.active()
        cert.start_refund(
            payment_id="REF-1",
            amount=Money.of(amount) if amount is not None else None,
            cause=self.setup,
        )
        cert.collect_events()
        return cert

    def refund_pending_details(self) -> GiftCertificate:
        cert = self.refund_pending()
        cert.refund_needs_details(payment_id="REF-1", cause=self.setup)
        cert.collect_events()
        return cert

    def refunded(self) -> GiftCertificate:
        cert = self.refund_pending()
        cert.complete_refund(payment_id="REF-1", amount=Money.of(FACE_VALUE), cause=self.setup)
        cert.collect_events()
        return cert

    def expired(self) -> GiftCertificate:
        cert = self.active()
        cert.expire(at=EXPIRES_AT, cause=self.setup)
        cert.collect_events()
        return cert

    def cancelled(self) -> GiftCertificate:
        cert = self.active()
        cert.cancel(reason="PAYMENT_VOIDED", cause=self.setup)
        cert.collect_events()
        return cert

    def in_state(self, name: str) -> GiftCertificate:
        """One of STATES, by name (for parametrized state tables)."""
        build: Callable[[], GiftCertificate] = getattr(self, name)
        return build()


@pytest.fixture
def make() -> CertificateBuilder:
    return CertificateBuilder()


@pytest.fixture
def cause() -> Cause:
    """The Cause of the command under test (distinct from the builder's setup Cause)."""
    return Cause(actor="support:alice", causation_id="req-42", correlation_id="case-7")


@pytest.fixture
def recorded() -> Recorded:
    """Collects a certificate's pending events and names them (`["Locked"]`)."""

    def names(cert: GiftCertificate) -> list[str]:
        return [event_name(e) for e in cert.collect_events()]

    return names


@pytest.fixture
def rub() -> Callable[[str], Money]:
    def money(amount: str) -> Money:
        return Money(Decimal(amount), "RUB")

    return money
