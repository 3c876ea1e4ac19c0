"""BI's benchmark traffic: a year of GiftCertificates.Stream publications, synthetic but shaped
like GCP's (gcp_domain.stream), with the inbound orders and payments of the redemptions.

Certificates are issued every day of a year in RUB, KZT and BYN through WEB, POS and APP; each
publishes RESERVED, ISSUED, usually NOTIFICATION_REQUESTED then SENT (or FAILED), and then, as
in life: partial and full redemptions days to months later (a few rejected, a few reversed),
some refunds, locks and unlocks, cancellations, and expiries of what is left at the end of the
validity. The pools publish an ISSUE_BLOCKED or a POOL_LOW now and then. Money is text with two
decimals, as GCP publishes it; generation is seeded, so a run is repeatable.

`generate(n)` yields (topic, key, value) until `n` stream messages were produced (the inbound
ones come on top, one order and one payment per redemption).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

STREAM: Final = "GiftCertificates.Stream"
SALES: Final = "All_SalesOrder"
PAYMENTS: Final = "All_Payments"
START: Final = datetime(2025, 12, 1, tzinfo=UTC)
DAYS: Final = 365
CURRENCIES: Final = (("RUB", 0.8), ("KZT", 0.12), ("BYN", 0.08))
CHANNELS: Final = (("WEB", 0.5), ("POS", 0.35), ("APP", 0.15))
FACE_VALUES: Final = tuple(Decimal(v) for v in ("1000", "2000", "3000", "5000", "10000"))

Message = tuple[str, bytes, bytes]


def _at(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    roll = rng.random()
    for value, weight in weighted:
        roll -= weight
        if roll <= 0:
            return value
    return weighted[-1][0]


class _Certificate:
    """One certificate's publications, each the whole state object, versions in order."""

    def __init__(self, rng: random.Random, number: int, issued_at: datetime) -> None:
        self.rng = rng
        self.id = str(uuid.UUID(int=rng.getrandbits(128)))
        self.currency = _pick(rng, CURRENCIES)
        self.channel = _pick(rng, CHANNELS)
        self.amount = rng.choice(FACE_VALUES)
        self.balance = self.amount
        self.order_id = f"{self.channel}-{number}"
        self.issued_at = issued_at
        self.expires_at = issued_at + timedelta(days=rng.choice((90, 180, 365)))
        self.version = 1
        self.state = "RESERVED"
        self.notification: dict[str, Any] | None = None
        self.last_at = issued_at - timedelta(minutes=1)

    def publish(
        self,
        status: str,
        at: datetime,
        operation: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> Message:
        self.version += 1
        at = self.last_at = max(at, self.last_at)  # a certificate's versions in time order
        issued = status != "RESERVED"
        value = {
            "schemaVersion": 1,
            "eventId": str(uuid.UUID(int=self.rng.getrandbits(128))),
            "status": status,
            "occurredAt": _at(at),
            "certificateId": self.id,
            "number": None,
            "maskedNumber": "**** **** **** 0000",
            "pool": "default",
            "state": self.state,
            "redeemable": self.state == "ACTIVE" and self.balance > 0,
            "channel": self.channel if issued else None,
            "orderId": self.order_id if issued else None,
            "clientId": "C-1" if issued else None,
            "amount": f"{self.amount:.2f}" if issued else None,
            "currency": self.currency if issued else None,
            "remainingBalance": f"{self.balance:.2f}" if issued else None,
            "issuedAt": _at(self.issued_at) if issued else None,
            "expiresAt": _at(self.expires_at) if issued else None,
            "notification": self.notification,
            "lock": None,
            "refund": None,
            "operation": operation,
            "reason": reason,
            "version": self.version,
            "audit": {"createdAt": _at(self.issued_at), "updatedAt": _at(at),
                      "updatedBy": "bench", "causationId": None, "correlationId": None},
        }  # fmt: skip
        return STREAM, self.id.encode(), json.dumps(value).encode()


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _redemption(
    rng: random.Random, certificate: _Certificate, at: datetime, amount: Decimal, serial: int
) -> Iterator[Message]:
    order_id, payment_id = f"POS-R{serial}", f"PAY-R{serial}"
    store = f"STORE-{rng.randrange(20):02d}"
    order = {"messageId": f"so-{serial}", "eventType": "ORDER_CREATED", "occurredAt": _at(at),
             "orderId": order_id, "channel": "POS", "storeId": store,
             "customer": {"clientId": "C-2"}, "totalAmount": _money(amount * 2),
             "currency": certificate.currency, "giftCertificates": [],
             "redemptions": [{"certificateNumber": "0000", "amount": _money(amount)}],
             "refunds": []}  # fmt: skip
    yield SALES, order_id.encode(), json.dumps(order).encode()
    for kind, method, paid, suffix in (
        ("REDEMPTION", "GIFT_CERTIFICATE", amount, ""),
        ("PAYMENT_CAPTURED", "CARD", amount, "-card"),
    ):
        payment = {"messageId": f"pay-{serial}{suffix}", "eventType": kind,
                   "occurredAt": _at(at), "paymentId": f"{payment_id}{suffix}",
                   "orderId": order_id, "method": method, "amount": _money(paid),
                   "currency": certificate.currency, "certificateNumber": None,
                   "refundOf": None}  # fmt: skip
        yield PAYMENTS, order_id.encode(), json.dumps(payment).encode()
    if rng.random() < 0.02:
        rejected = {"type": "REDEMPTION_ATTEMPT", "orderId": order_id,
                    "paymentId": f"{payment_id}-x",
                    "amount": _money(certificate.balance + 1)}  # fmt: skip
        yield certificate.publish("REDEMPTION_REJECTED", at, rejected, "insufficient balance")
    certificate.balance -= amount
    operation = {"type": "REDEMPTION", "orderId": order_id, "paymentId": payment_id,
                 "amount": _money(amount)}  # fmt: skip
    if certificate.balance == 0:
        certificate.state = "REDEEMED"
        yield certificate.publish("REDEEMED", at, operation)
    else:
        yield certificate.publish("PARTIALLY_REDEEMED", at, operation)
    if rng.random() < 0.03:
        certificate.balance += amount
        certificate.state = "ACTIVE"
        reversal = {"type": "REDEMPTION_REVERSAL", "orderId": order_id,
                    "paymentId": f"{payment_id}-rev", "refundOf": payment_id,
                    "amount": _money(amount)}  # fmt: skip
        yield certificate.publish("REDEMPTION_REVERSED", at + timedelta(hours=2), reversal)


def _life(rng: random.Random, certificate: _Certificate, serial: int) -> Iterator[Message]:
    at = certificate.issued_at
    end = START + timedelta(days=DAYS)
    yield certificate.publish("RESERVED", at - timedelta(minutes=1))
    certificate.state = "ACTIVE"
    issue = {"type": "ISSUE", "orderId": certificate.order_id, "paymentId": f"PAY-{serial}",
             "paymentIds": [f"PAY-{serial}"], "amount": _money(certificate.amount)}  # fmt: skip
    yield certificate.publish("ISSUED", at, issue)
    channel = "SMS" if rng.random() < 0.2 else "EMAIL"
    if rng.random() < 0.9:
        note = {"notificationId": f"n-{serial}", "channel": channel, "status": "REQUESTED",
                "attempt": 1, "error": None}  # fmt: skip
        certificate.notification = note
        yield certificate.publish("NOTIFICATION_REQUESTED", at + timedelta(seconds=1))
        failed = rng.random() < (0.12 if channel == "SMS" else 0.04)
        certificate.notification = {**note, "status": "FAILED" if failed else "SENT",
                                    "error": "bounced" if failed else None}  # fmt: skip
        yield certificate.publish(
            "NOTIFICATION_FAILED" if failed else "NOTIFICATION_SENT", at + timedelta(minutes=2)
        )
    roll = rng.random()
    if roll < 0.01:
        certificate.balance = Decimal(0)
        certificate.state = "CANCELLED"
        yield certificate.publish("CANCELLED", at + timedelta(hours=3), reason="order cancelled")
        return
    if roll < 0.03:
        certificate.state = "REFUND_PENDING"
        yield certificate.publish("REFUND_PENDING", at + timedelta(days=2))
        refunded = certificate.balance
        certificate.balance = Decimal(0)
        certificate.state = "REFUNDED"
        refund = {"type": "REFUND", "orderId": certificate.order_id,
                  "paymentId": f"PAY-{serial}-refund", "amount": _money(refunded)}  # fmt: skip
        yield certificate.publish("REFUNDED", at + timedelta(days=3), refund)
        return
    if roll < 0.04:
        certificate.state = "LOCKED"
        yield certificate.publish("LOCKED", at + timedelta(days=1), reason="suspicious")
        certificate.state = "ACTIVE"
        yield certificate.publish("ACTIVE", at + timedelta(days=2), reason="cleared")
    redemptions = rng.choices((0, 1, 2, 3), weights=(0.2, 0.4, 0.3, 0.1))[0]
    when = at
    for index in range(redemptions):
        when += timedelta(days=rng.expovariate(1 / 25), minutes=rng.randrange(600))
        if when >= min(certificate.expires_at, end) or certificate.balance <= 0:
            break
        last = index == redemptions - 1 and rng.random() < 0.6
        amount = certificate.balance if last else (certificate.balance / 2).quantize(Decimal(1))
        yield from _redemption(rng, certificate, when, amount, serial * 10 + index)
    if certificate.balance > 0 and certificate.expires_at < end:
        certificate.state = "EXPIRED"
        yield certificate.publish("EXPIRED", certificate.expires_at)


def _pool_event(rng: random.Random, at: datetime) -> Message:
    status = "POOL_LOW" if rng.random() < 0.7 else "ISSUE_BLOCKED"
    pool = rng.choice(("default", "kiosk"))
    event_id = str(uuid.UUID(int=rng.getrandbits(128)))
    value: dict[str, Any] = {"schemaVersion": 1, "eventId": event_id,
             "status": status, "occurredAt": _at(at), "certificateId": None, "pool": pool,
             "redeemable": False, "reason": "the pool is low" if status == "POOL_LOW"
             else "no certificate available", "version": rng.randrange(2, 10_000),
             "operation": None}  # fmt: skip
    return STREAM, pool.encode(), json.dumps(value).encode()


def generate(stream_messages: int, seed: int = 13) -> Iterator[Message]:
    """Stream publications until `stream_messages` of them, with the inbound ones between."""
    rng = random.Random(seed)
    per_day = max(1, stream_messages // (DAYS * 6))  # about 6 publications a certificate
    produced = 0
    serial = 0
    while True:
        for day in range(DAYS):
            for _ in range(per_day):
                serial += 1
                moment = START + timedelta(days=day, seconds=rng.randrange(86_400))
                for message in _life(rng, _Certificate(rng, serial, moment), serial):
                    yield message
                    produced += message[0] == STREAM
                    if produced >= stream_messages:
                        return
            if rng.random() < 0.05:
                yield _pool_event(rng, START + timedelta(days=day, hours=rng.randrange(24)))
                produced += 1
                if produced >= stream_messages:
                    return
