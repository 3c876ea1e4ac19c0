"""The benchmark's inbound traffic: a realistic mix of contract messages as (topic, key, bytes).

Every certificate the workload uses was pre-created and reserved beforehand (as the channels do
with `GET /certificates/next`), so the stream is what a busy day looks like on the three
inbound topics:

- issues: a web order selling the certificate (`ORDER_CREATED` with a `giftCertificates`
  line) and its card payment (`PAYMENT_AUTHORIZED`, for half of them `PAYMENT_CAPTURED` too);
- notification results from CRM (`All_Clients`, `SENT`, sometimes `FAILED`) for certificates
  issued with an EMAIL notification, with the notificationId the service opened
  (`app.notification_ids.for_request(certificate_id, 1)`: the bench holds the key);
- partial redemptions (a POS order's `redemptions` line and its `REDEMPTION` payment), some
  followed later by a full redemption of the rest, and some certificates redeemed whole at once;
- traffic that is not about certificates (ignored): orders without certificate lines and
  client updates without a notification block;
- duplicate deliveries (the same bytes again, a little later) and bad messages (not JSON, a
  required field missing, bad money, unknown certificates), which become dead letters.

A certificate's redemptions and notification result come `lag` messages after its issue, as
they do in life (the card is used days after the sale); the pipeline's producer keeps its lead
over the consumer below that lag, so they are consumed after the issue (see bench/pipeline.py).

Messages are built by `gcp_app.inbound.builders` and encoded by `gcp_adapters.kafka.encoding`,
like every other producer of inbound traffic (the end-to-end tests, `gcp demo`); only the bad
ones that no message object can hold (not JSON, a field missing, bad money) are written by hand.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID, uuid4

import attrs
from confluent_kafka import Producer

from gcp_adapters.kafka.encoding import encode, key_of, topic_of
from gcp_app.inbound import builders as build
from gcp_app.inbound.messages import InboundMessage
from gcp_app.notification_ids import NotificationIds

SALES_ORDER: Final = "All_SalesOrder"
PAYMENTS: Final = "All_Payments"
CLIENTS: Final = "All_Clients"
INBOUND: Final = (SALES_ORDER, PAYMENTS, CLIENTS)

AMOUNT: Final = "5000.00"
PARTIAL: Final = "1500.00"
REST: Final = "3500.00"

# The mix (fractions of certificates, or of all messages for the last three).
CAPTURED_SHARE: Final = 0.5  # card payments also reported as CAPTURED (same paymentId)
NO_NOTIFICATION_SHARE: Final = 0.1  # sold with notificationChannel NONE
FAILED_NOTIFICATION_SHARE: Final = 0.05  # CRM reports FAILED instead of SENT
PARTIAL_SHARE: Final = 0.6  # redeemed in part...
REST_SHARE: Final = 0.3  # ...and of those, redeemed in full later
WHOLE_SHARE: Final = 0.1  # redeemed whole at once
DUPLICATE_SHARE: Final = 0.04
BAD_SHARE: Final = 0.01
IGNORED_SHARE: Final = 0.03
# Inbound messages per certificate, on average, before duplicates, bad and ignored ones.
PER_CERTIFICATE: Final = (
    2
    + CAPTURED_SHARE
    + (1 - NO_NOTIFICATION_SHARE)
    + 2 * (PARTIAL_SHARE + PARTIAL_SHARE * REST_SHARE + WHOLE_SHARE)
)
PER_CERTIFICATE_ALL: Final = PER_CERTIFICATE / (1 - DUPLICATE_SHARE - BAD_SHARE - IGNORED_SHARE)


@attrs.frozen
class Reserved:
    """A certificate reserved for the workload."""

    certificate_id: UUID
    number: str


@attrs.frozen
class Record:
    """One inbound record: where it goes, its key and its bytes; `kind` is for the report."""

    topic: str
    key: bytes
    value: bytes
    kind: str


def produce(producer: Producer, record: Record, *, every: int, produced: int) -> None:
    """Produces `record`, waiting while the producer's queue is full; serves the delivery
    callbacks every `every` records (`produced` counts them)."""
    while True:
        try:
            producer.produce(record.topic, value=record.value, key=record.key)
            break
        except BufferError:
            producer.poll(0.01)
    if produced % every == 0:
        producer.poll(0)


def certificates_needed(messages: int) -> int:
    """How many reserved certificates a workload of `messages` messages uses."""
    return int(messages / PER_CERTIFICATE_ALL * 1.05) + 16


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _record(message: InboundMessage, kind: str) -> Record:
    """A built message as the contract's record: its topic, key and JSON."""
    return Record(topic_of(message), key_of(message), encode(message), kind)


class _Clock:
    """occurredAt values: seconds after a fixed start, in UTC."""

    def __init__(self) -> None:
        self.second = 0

    def tick(self) -> datetime:
        self.second += 1
        day, rest = divmod(self.second, 86_400)
        hour, rest = divmod(rest, 3600)
        minute, second = divmod(rest, 60)
        return datetime(2026, 11 + day // 30, 1 + day % 30, hour, minute, second, tzinfo=UTC)

    def tick_text(self) -> str:
        """The next time as written on the wire (for the bad messages, written by hand)."""
        return f"{self.tick():%Y-%m-%dT%H:%M:%SZ}"


def generate(
    certificates: Sequence[Reserved],
    messages: int,
    *,
    lag: int,
    notification_ids: NotificationIds,
    seed: int = 20261126,
) -> list[Record]:
    """At least `messages` records (exactly `messages` when enough certificates are given),
    in the order they are to be produced. `lag`: how many messages after its issue a
    certificate's notification result and redemptions come."""
    rng = random.Random(seed)
    clock = _Clock()
    timed: list[tuple[float, int, Record]] = []
    lag_certificates = max(lag / PER_CERTIFICATE, 1.0)
    sequence = 0

    def add(at: float, record: Record) -> None:
        nonlocal sequence
        sequence += 1
        timed.append((at, sequence, record))

    for index, certificate in enumerate(certificates):
        if len(timed) >= messages:  # enough: the noise is added and the tail cut below
            break
        _story(add, rng, clock, index, certificate, lag_certificates, notification_ids)
    timed.sort(key=lambda item: (item[0], item[1]))
    base = [record for _, _, record in timed]
    return _with_noise(base, messages, rng, clock)


def _story(
    add: Any,
    rng: random.Random,
    clock: _Clock,
    index: int,
    certificate: Reserved,
    lag: float,
    notification_ids: NotificationIds,
) -> None:
    """The messages of one certificate's life, each at a time in certificate units."""
    cid = certificate.certificate_id
    order_id = f"WEB-{index:07d}"
    client_id = f"C-{rng.randrange(1_000_000):07d}"
    channel = "NONE" if rng.random() < NO_NOTIFICATION_SHARE else "EMAIL"
    sale = build.order(
        order_id,
        certificates=[build.certificate_line(cid, AMOUNT, notification_channel=channel)],
        store_id="WEB-001",
        customer=build.buyer(client_id, email=f"{client_id.lower()}@example.com"),
        occurred_at=clock.tick(),
    )
    start = index + rng.random() * 0.5
    add(start, _record(sale, "issue-order"))
    payment_id = f"PAY-{index:07d}"
    paid = build.payment(
        order_id, payment_id, "PAYMENT_AUTHORIZED", AMOUNT, occurred_at=clock.tick()
    )
    add(start + rng.random() * 0.5, _record(paid, "issue-payment"))
    if rng.random() < CAPTURED_SHARE:
        captured = build.payment(
            order_id, payment_id, "PAYMENT_CAPTURED", AMOUNT, occurred_at=clock.tick()
        )
        add(start + 0.5 + rng.random(), _record(captured, "capture"))
    if channel == "EMAIL":
        failed = rng.random() < FAILED_NOTIFICATION_SHARE
        result = build.client_notification(
            cid,
            notification_ids.for_request(cid, 1),
            "FAILED" if failed else "SENT",
            error="mailbox full" if failed else None,
            client_id=client_id,
            occurred_at=clock.tick(),
        )
        add(start + lag * (0.5 + rng.random() * 0.5), _record(result, "notification-result"))
    draw = rng.random()
    if draw < PARTIAL_SHARE:
        at = start + lag * (1 + rng.random())
        _redemption(add, rng, clock, certificate, f"POS-{index:07d}-1", PARTIAL, at, "partial")
        if rng.random() < REST_SHARE:
            at += lag * (1 + rng.random())
            _redemption(add, rng, clock, certificate, f"POS-{index:07d}-2", REST, at, "full")
    elif draw < PARTIAL_SHARE + WHOLE_SHARE:
        at = start + lag * (1 + rng.random())
        _redemption(add, rng, clock, certificate, f"POS-{index:07d}-1", AMOUNT, at, "full")


def _redemption(
    add: Any,
    rng: random.Random,
    clock: _Clock,
    certificate: Reserved,
    order_id: str,
    amount: str,
    at: float,
    kind: str,
) -> None:
    used = build.order(
        order_id,
        redemptions=[build.redemption_line(certificate.number, amount)],
        channel="POS",
        customer=None,
        occurred_at=clock.tick(),
    )
    taken = build.redemption_payment(
        order_id, f"R{order_id}", certificate.number, amount, occurred_at=clock.tick()
    )
    first, second = (used, taken) if rng.random() < 0.7 else (taken, used)
    for offset, message in ((0.0, first), (0.3, second)):
        add(at + offset * rng.random(), _record(message, f"{kind}-redemption"))


def _with_noise(
    base: list[Record], messages: int, rng: random.Random, clock: _Clock
) -> list[Record]:
    """`base` with duplicates, bad and ignored messages spread through it, cut to `messages`."""
    out: list[Record] = []
    redeliver: list[tuple[int, Record]] = []  # (due index, record)
    noise = DUPLICATE_SHARE + BAD_SHARE + IGNORED_SHARE
    it = iter(base)
    while len(out) < messages:
        while redeliver and redeliver[0][0] <= len(out) and len(out) < messages:
            out.append(attrs.evolve(redeliver.pop(0)[1], kind="duplicate"))
        if len(out) >= messages:
            break
        draw = rng.random()
        if draw < BAD_SHARE:
            out.append(_bad(rng, clock))
            continue
        if draw < BAD_SHARE + IGNORED_SHARE:
            out.append(_ignored(rng, clock))
            continue
        record = next(it, None)
        if record is None:
            break
        out.append(record)
        if rng.random() < DUPLICATE_SHARE / (1 - noise):
            redeliver.append((len(out) + rng.randrange(50, 2000), record))
            redeliver.sort(key=lambda item: item[0])
    return out


def _bad(rng: random.Random, clock: _Clock) -> Record:
    order_id = f"BAD-{rng.randrange(10**9):09d}"
    key = order_id.encode()
    kind = rng.randrange(5)
    value: dict[str, Any]
    # Not JSON, a required field missing, money outside the grammar: no message object can
    # hold these, so they are written by hand.
    if kind == 0:
        return Record(PAYMENTS, key, b'{"messageId": "x", "eventType": ', "bad-not-json")
    if kind == 1:  # paymentId missing
        value = {
            "messageId": str(uuid4()),
            "eventType": "PAYMENT_AUTHORIZED",
            "occurredAt": clock.tick_text(),
            "orderId": order_id,
            "method": "CARD",
            "amount": AMOUNT,
        }
        return Record(PAYMENTS, key, _json(value), "bad-missing-field")
    if kind == 2:  # money outside the JSON number grammar
        value = {
            "messageId": str(uuid4()),
            "eventType": "PAYMENT_CAPTURED",
            "occurredAt": clock.tick_text(),
            "paymentId": f"PAY-{order_id}",
            "orderId": order_id,
            "method": "CARD",
            "amount": "5 000,00",
        }
        return Record(PAYMENTS, key, _json(value), "bad-money")
    if kind == 3:  # an order selling a certificate that does not exist
        unknown = build.certificate_line(uuid4(), AMOUNT)
        sale = build.order(order_id, certificates=[unknown], occurred_at=clock.tick())
        return _record(sale, "bad-unknown-certificate")
    client_id = f"C-{rng.randrange(1_000_000):07d}"
    result = build.client_notification(
        uuid4(), str(uuid4()), client_id=client_id, occurred_at=clock.tick()
    )
    return _record(result, "bad-unknown-certificate")


def _ignored(rng: random.Random, clock: _Clock) -> Record:
    if rng.random() < 0.5:
        order_id = f"WEB-X{rng.randrange(10**9):09d}"
        not_ours = build.order(
            order_id, store_id=None, customer=None, total="990.00", occurred_at=clock.tick()
        )
        return _record(not_ours, "ignored-order")
    client_id = f"C-{rng.randrange(1_000_000):07d}"
    return _record(build.client_update(client_id, occurred_at=clock.tick()), "ignored-client")


def mix(records: Sequence[Record]) -> dict[str, int]:
    """How many records of each kind (for the report)."""
    counts: dict[str, int] = {}
    for record in records:
        counts[record.kind] = counts.get(record.kind, 0) + 1
    return dict(sorted(counts.items()))
