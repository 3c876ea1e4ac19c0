"""Crash test: the inbound consumer, a real `gcp serve --only consumers` process, is killed with
SIGKILL at random points while it consumes a few thousand messages, and restarted each time.
At the end every certificate must be exactly as a simple model says, no effect applied twice.

The test process owns a mock Kafka cluster (4 partitions per inbound topic), stocks a pool and
reserves certificates in-process on the same PostgreSQL store, then produces in chunks:

- phase 1: the sale orders and their payments (some AUTHORIZED then CAPTURED, same paymentId);
- phase 2, produced only once phase 1 is wholly consumed (a redemption of a certificate not yet
  issued would be refused, and whether it is depends on the order across partitions): per
  certificate a few small redemptions (order line + REDEMPTION payment) that sum to at most
  its amount (always applied, whatever the order), one larger than the amount itself (always
  rejected), sometimes one whose payment disagrees with its line (AMOUNT_MISMATCH), repeats of
  redemption orders as ORDER_UPDATED (same line: one redemption), notification results;
- throughout: redeliveries (the same bytes, the same messageId) and a few bad messages.

The model therefore does not depend on arrival order across partitions, nor on where the kills
land. About 3,900 messages, 20+ SIGKILLs: during start-up, at a random moment, shortly after a
commit, and the moment the process is seen inside a database transaction or leaving one (its
connections carry PGAPPNAME, the test watches pg_stat_activity). A life killed before its first
commit is followed by one that must commit something before it dies.

Each consumer life joins a consumer group of its own (a SIGKILLed member lingers in its group
until its session times out, and the mock ignores static membership), into which the
test first commits offsets AHEAD of the database: a consumer that trusted Kafka's offsets would
skip messages. Every life must start each partition at the database's position + 1; Kafka's
offsets a life commits may lag the database, never lead it.

Reproduce a run's scenario and kill plan with GCP_CRASH_SEED=<seed> (in every failure message;
the timing is the machine's). `-o log_cli=true -o log_cli_level=INFO` shows each life.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from eventsourcing.cryptography import AESCipher

from gcp_adapters.bootstrap import build_application
from gcp_adapters.kafka.mock_cluster import MockCluster
from gcp_app.application import GiftCertificates
from gcp_app.dead_letters import DeadLetter, dead_letter_id
from gcp_app.inbound import inbox_source
from gcp_app.notification_ids import NotificationIds
from gcp_app.settings import Settings
from gcp_domain import Cause, CertificateState
from gcp_domain.certificate import GiftCertificate
from gcp_domain.order import SalesOrder, sales_order_id

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

logger = logging.getLogger("gcp.tests.crash")

SALES, PAYMENTS, CLIENTS = "All_SalesOrder", "All_Payments", "All_Clients"
TOPICS = (SALES, PAYMENTS, CLIENTS)
PARTITIONS = 4
POOL = "default"
ADMIN = Cause("admin:crash-test", "req-stock", "req-stock")

CERTIFICATES = 300
PHASE1_CHUNKS = 2
PHASE2_CHUNKS = 20
KILL_MODES = ("at random", "after a commit", "in a transaction", "as a transaction ends")
STARTUP_KILLS = 3  # lives killed during start-up, before they consume anything
MIN_KILLS = 20
MIN_KILLS_IN_TRANSACTION = 4  # inside one, or as one ends
MIN_MESSAGES = 3_000
DUPLICATE_SHARE = 0.08
KILL_DELAY = (0.0, 1.5)  # seconds after a life's assignment
KILL_DELAY_AFTER_COMMIT = (0.0, 0.3)  # seconds after its first commit
TRANSACTION_WAIT = 3.0  # seconds to see a life inside a transaction
STARTUP_KILL_DELAY = (0.1, 0.6)  # seconds after the start

START_WAIT = 30.0  # a life's first progress
DRAIN_WAIT = 90.0  # the last life consuming everything left
STOP_WAIT = 30.0  # SIGTERM to exit
RUN_LIMIT = 240.0  # the whole kill/restart loop

CONSUMER_COMMAND = (
    sys.executable,
    "-m",
    "gcp_adapters.cli.main",
    "serve",
    "--only",
    "consumers",
    "--stock",
    "0",
)
ASSIGNED = re.compile(r"gcp\.kafka\.consumer assigned (.+)$", re.MULTILINE)
ASSIGNED_PART = re.compile(r"^(\S+) \[(\d+)\] from (the beginning|-?\d+)$")
# What must never appear in a consumer's output: a batch that failed, a part that died, a
# conflict that reached the surface.
TROUBLE = ("IntegrityError", "Traceback", "failed; retrying", "stopped unexpectedly")

Partition = tuple[str, int]
Positions = dict[Partition, int | None]


# ---------------------------------------------------------------------- the scenario


@dataclass
class Outgoing:
    """One message to produce, and where it landed (from its delivery report)."""

    topic: str
    key: str
    value: bytes
    order_id: str | None = None  # the model's SalesOrder it is a fact of
    message_id: str | None = None
    bad: str | None = None  # the dead letter's expected reason code
    partition: int | None = None
    offset: int | None = None


@dataclass
class CertificateModel:
    certificate_id: UUID
    number: str
    order_id: str
    amount: Decimal
    channel: str
    applied: dict[str, Decimal] = field(default_factory=dict)  # paymentId -> amount
    rejected: dict[str, set[str]] = field(default_factory=dict)  # paymentId -> allowed reasons
    notification: str | None = None  # the result reported: SENT or FAILED

    @property
    def balance(self) -> Decimal:
        return self.amount - sum(self.applied.values(), Decimal(0))

    @property
    def state(self) -> CertificateState:
        return CertificateState.REDEEMED if self.balance == 0 else CertificateState.ACTIVE


@dataclass
class Scenario:
    certificates: list[CertificateModel]
    phase1: list[Outgoing]
    phase2: list[Outgoing]
    # Every messageId each SalesOrder must have recorded exactly once.
    order_messages: dict[str, set[str]]

    @property
    def messages(self) -> list[Outgoing]:
        return [*self.phase1, *self.phase2]


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def encode(document: dict[str, Any], rng: random.Random) -> bytes:
    """Compact JSON; money sometimes as an unquoted JSON number (read exactly, never a float)."""
    text = json.dumps(document, separators=(",", ":"))
    if "amount" in document and rng.random() < 0.3:
        text = text.replace(f'"amount":"{document["amount"]}"', f'"amount":{document["amount"]}')
    return text.encode()


def split(total_cents: int, parts: int, rng: random.Random) -> list[Decimal]:
    """`total_cents` as `parts` positive amounts."""
    cuts = sorted(rng.sample(range(1, total_cents), parts - 1))
    bounds = [0, *cuts, total_cents]
    return [Decimal(b - a) / 100 for a, b in pairwise(bounds)]


class Builder:
    def __init__(self, rng: random.Random, notification_ids: NotificationIds) -> None:
        self.notification_ids = notification_ids
        self.rng = rng

    def message_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def order(
        self,
        order_id: str,
        *,
        event_type: str = "ORDER_CREATED",
        channel: str = "WEB",
        certificates: list[dict[str, Any]] | None = None,
        redemptions: list[dict[str, Any]] | None = None,
        message_id: str | None = None,
    ) -> Outgoing:
        message_id = message_id or self.message_id()
        document = {
            "messageId": message_id,
            "eventType": event_type,
            "occurredAt": "2026-11-26T10:00:00Z",
            "orderId": order_id,
            "channel": channel,
            "storeId": "MSK-001",
            "customer": {"clientId": f"C-{order_id}", "email": "buyer@example.com"},
            "currency": "RUB",
            "giftCertificates": certificates or [],
            "redemptions": redemptions or [],
            "refunds": [],
        }
        return Outgoing(
            SALES, order_id, encode(document, self.rng), order_id=order_id, message_id=message_id
        )

    def payment(
        self,
        order_id: str,
        payment_id: str,
        amount: Decimal,
        *,
        event_type: str = "PAYMENT_CAPTURED",
        number: str | None = None,
    ) -> Outgoing:
        message_id = self.message_id()
        document = {
            "messageId": message_id,
            "eventType": event_type,
            "occurredAt": "2026-11-26T10:00:02Z",
            "paymentId": payment_id,
            "orderId": order_id,
            "method": "GIFT_CERTIFICATE" if number else "CARD",
            "amount": money(amount),
            "currency": "RUB",
            "certificateNumber": number,
            "refundOf": None,
        }
        return Outgoing(
            PAYMENTS,
            order_id,
            encode(document, self.rng),
            order_id=order_id,
            message_id=message_id,
        )

    def notification(self, client_id: str, certificate_id: UUID, result: str) -> Outgoing:
        message_id = self.message_id()
        document = {
            "messageId": message_id,
            "eventType": "CLIENT_UPDATED",
            "occurredAt": "2026-11-26T11:00:00Z",
            "clientId": client_id,
            "giftCertificateNotification": {
                "certificateId": str(certificate_id),
                "notificationId": self.notification_ids.for_request(certificate_id, 1),
                "result": result,
                "channel": "EMAIL",
                "error": None if result == "SENT" else "mailbox unavailable",
            },
        }
        return Outgoing(CLIENTS, client_id, encode(document, self.rng), message_id=message_id)

    def bad(self, index: int) -> Outgoing:
        """Messages that must each become exactly one dead letter (what is wrong is in them)."""
        key = f"BAD-{index}"
        kind = index % 7
        if kind == 0:
            return Outgoing(SALES, key, b"{not json: buyer@example.com", bad="not-json")
        if kind == 1:
            document = json.loads(self.payment(key, f"PAY-{key}", Decimal(10)).value)
            del document["paymentId"]
            return Outgoing(PAYMENTS, key, json.dumps(document).encode(), bad="invalid-message")
        if kind == 2:
            document = json.loads(self.payment(key, f"PAY-{key}", Decimal(10)).value)
            document["amount"] = "1,5"
            return Outgoing(PAYMENTS, key, json.dumps(document).encode(), bad="invalid-money")
        if kind == 3:
            document = json.loads(self.payment(key, f"PAY-{key}", Decimal(10)).value)
            document["amount"] = "-5.00"
            return Outgoing(PAYMENTS, key, json.dumps(document).encode(), bad="invalid-money")
        if kind == 4:
            line = {"certificateId": str(uuid.UUID(int=self.rng.getrandbits(128), version=4))}
            outgoing = self.order(key, certificates=[{**line, "amount": "100.00"}])
            return Outgoing(SALES, key, outgoing.value, bad="unknown-certificate")
        if kind == 5:
            unknown = uuid.UUID(int=self.rng.getrandbits(128), version=4)
            outgoing = self.notification(key, unknown, "SENT")
            return Outgoing(CLIENTS, key, outgoing.value, bad="unknown-certificate")
        return Outgoing(CLIENTS, key, b"\xff\xfe not utf-8", bad="not-json")


def with_redeliveries(messages: list[Outgoing], rng: random.Random) -> list[Outgoing]:
    """Shuffled, with some good messages delivered twice (same bytes, same messageId)."""
    again = [m for m in messages if m.bad is None and rng.random() < DUPLICATE_SHARE]
    result = [*messages]
    rng.shuffle(result)
    for message in again:
        first = result.index(message)
        later = rng.randint(first + 1, len(result))
        result.insert(later, Outgoing(message.topic, message.key, message.value))
    return result


def build_scenario(app: GiftCertificates, rng: random.Random) -> Scenario:
    build = Builder(rng, app.notification_ids)
    certificates: list[CertificateModel] = []
    order_messages: dict[str, set[str]] = defaultdict(set)
    phase1: list[Outgoing] = []
    app.pools.generate_certificates(POOL, CERTIFICATES, cause=ADMIN)
    for index in range(CERTIFICATES):
        order_id = f"S-{index}"
        granted = app.reservations.reserve_next(
            POOL, channel="WEB", order_id=order_id, cause=Cause("channel:web", order_id, order_id)
        )
        amount = Decimal(rng.randint(100_00, 9_000_00)) / 100
        channel = rng.choice(("EMAIL", "EMAIL", "SMS", "NONE"))
        certificates.append(
            CertificateModel(granted.certificate_id, granted.number, order_id, amount, channel)
        )
        line = {
            "certificateId": str(granted.certificate_id),
            "amount": money(amount),
            "validityDays": 365,
            "notificationChannel": channel,
        }
        sale = [build.order(order_id, certificates=[line])]
        if rng.random() < 0.3:  # AUTHORIZED then CAPTURED: one payment, counted once
            sale.append(
                build.payment(order_id, f"P-{order_id}", amount, event_type="PAYMENT_AUTHORIZED")
            )
        sale.append(build.payment(order_id, f"P-{order_id}", amount))
        phase1.extend(sale)
    phase1.extend(build.bad(i) for i in range(4))

    phase2: list[Outgoing] = []
    for index, certificate in enumerate(certificates):
        cents = int(certificate.amount * 100)
        exact = rng.random() < 0.3  # the small ones use the whole amount: REDEEMED
        used = cents if exact else rng.randint(cents * 3 // 10, cents * 95 // 100)
        redemptions: list[tuple[Decimal, Decimal, set[str] | None]] = [
            (part, part, None) for part in split(used, rng.randint(2, 4), rng)
        ]
        # Larger than the amount: rejected whatever was applied before it.
        too_much = certificate.amount + Decimal(rng.randint(1, 100_000)) / 100
        reasons = {"INSUFFICIENT_BALANCE"} | ({"FULLY_REDEEMED"} if exact else set())
        redemptions.append((too_much, too_much, reasons))
        if rng.random() < 0.25:  # the payment disagrees with the order's line
            line_amount = Decimal(rng.randint(1, 100)) / 100
            redemptions.append((line_amount, line_amount + 1, {"AMOUNT_MISMATCH"}))
        for j, (line_amount, paid, rejected) in enumerate(redemptions):
            order_id, payment_id = f"R-{index}-{j}", f"PR-{index}-{j}"
            lines = [{"certificateNumber": certificate.number, "amount": money(line_amount)}]
            order = build.order(order_id, channel="POS", redemptions=lines)
            payment = build.payment(
                order_id, payment_id, paid, event_type="REDEMPTION", number=certificate.number
            )
            phase2 += [order, payment]
            if rng.random() < 0.1:  # the whole order again: the same line, not a new one
                phase2.append(
                    build.order(
                        order_id, event_type="ORDER_UPDATED", channel="POS", redemptions=lines
                    )
                )
            if rejected is None:
                certificate.applied[payment_id] = paid
            else:
                certificate.rejected[payment_id] = rejected
        if certificate.channel != "NONE" and rng.random() < 0.8:
            certificate.notification = rng.choice(("SENT", "SENT", "FAILED"))
            phase2.append(
                build.notification(
                    f"C-{certificate.order_id}",
                    certificate.certificate_id,
                    certificate.notification,
                )
            )
    phase2.extend(build.bad(i) for i in range(4, 20))

    for message in [*phase1, *phase2]:
        if message.order_id is not None and message.bad is None:
            assert message.message_id is not None
            order_messages[message.order_id].add(message.message_id)
    return Scenario(
        certificates,
        with_redeliveries(phase1, rng),
        with_redeliveries(phase2, rng),
        dict(order_messages),
    )


# ---------------------------------------------------------------------- Kafka, from the test


class Sender:
    """Produces chunks and records where every message landed."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._producer = Producer({"bootstrap.servers": bootstrap_servers, "linger.ms": 5})
        self.last: dict[Partition, int] = {}
        self.sent = 0

    def send(self, messages: list[Outgoing]) -> None:
        errors: list[str] = []

        def delivered(outgoing: Outgoing) -> Callable[[KafkaError | None, Message], None]:
            def report(error: KafkaError | None, message: Message) -> None:
                if error is not None:
                    errors.append(error.str())
                    return
                outgoing.partition, outgoing.offset = message.partition(), message.offset()

            return report

        for outgoing in messages:
            self._producer.produce(
                outgoing.topic,
                key=outgoing.key.encode(),
                value=outgoing.value,
                on_delivery=delivered(outgoing),
            )
            self._producer.poll(0)
        left = self._producer.flush(15)
        assert left == 0, f"{left} messages undelivered after 15 s"
        assert not errors, f"delivery failed: {errors[:3]}"
        for outgoing in messages:
            assert outgoing.partition is not None
            assert outgoing.offset is not None
            at = (outgoing.topic, outgoing.partition)
            self.last[at] = max(self.last.get(at, -1), outgoing.offset)
        self.sent += len(messages)

    def close(self) -> None:
        self._producer.flush(5)
        self._producer.close()


def plant_offsets(bootstrap_servers: str, group: str, offsets: dict[Partition, int]) -> None:
    """Commits `offsets` for `group` in Kafka, as if a previous member had got that far."""
    client = Consumer(
        {"bootstrap.servers": bootstrap_servers, "group.id": group, "enable.auto.commit": False}
    )
    try:
        planted = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        client.commit(offsets=planted, asynchronous=False)
    finally:
        client.close()


def committed_offsets(bootstrap_servers: str, group: str) -> dict[Partition, int]:
    client = Consumer(
        {"bootstrap.servers": bootstrap_servers, "group.id": group, "enable.auto.commit": False}
    )
    try:
        wanted = [TopicPartition(t, p) for t in TOPICS for p in range(PARTITIONS)]
        found = client.committed(wanted, timeout=10)
    finally:
        client.close()
    return {(tp.topic, tp.partition): tp.offset for tp in found if tp.offset >= 0}


# ---------------------------------------------------------------------- the consumer's lives


@dataclass
class Life:
    """One run of the consumer process, from its start to its SIGKILL (or the final SIGTERM)."""

    index: int
    group: str
    process: subprocess.Popen[bytes]
    log: Path
    started: float
    expected_start: dict[Partition, int]  # the database's position + 1, or 0 (the beginning)
    planted: dict[Partition, int]  # what Kafka's offsets of its group said at its start
    consumed_before: int
    produced_before: int
    mode: str = ""  # when it was killed: during start-up, at random, after progress
    assigned_after: float | None = None
    lived: float = 0.0
    consumed_after: int = 0
    backlog_at_kill: int = 0
    kafka_behind: int = 0  # partitions whose Kafka offset this life left behind the database
    ended: str = ""

    @property
    def progress(self) -> int:
        return self.consumed_after - self.consumed_before

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def describe(self) -> str:
        assigned = "-" if self.assigned_after is None else f"{self.assigned_after:.1f}"
        return (
            f"#{self.index} {self.mode or self.ended}: assigned {assigned} s, lived "
            f"{self.lived:.1f} s, consumed {self.progress}, left {self.backlog_at_kill}, "
            f"Kafka behind on {self.kafka_behind} partitions"
        )


def positions(app: GiftCertificates) -> Positions:
    return {
        (t, p): app.store.inbox.max_tracking_id(inbox_source(t, p))
        for t in TOPICS
        for p in range(PARTITIONS)
    }


def consumed(found: Positions) -> int:
    """How many offsets the database says are consumed (offsets start at 0)."""
    return sum(offset + 1 for offset in found.values() if offset is not None)


def all_consumed(found: Positions, last: dict[Partition, int]) -> bool:
    return all(found[at] == offset for at, offset in last.items())


def plain(output: str) -> str:
    """`gcp serve` logs JSON lines; each becomes `<logger> <message>` (other lines stay)."""
    lines = []
    for line in output.splitlines():
        try:
            entry = json.loads(line) if line.startswith("{") else None
        except ValueError:
            entry = None
        if isinstance(entry, dict) and "logger" in entry and "message" in entry:
            lines.append(f"{entry['logger']} {entry['message']}")
        else:
            lines.append(line)
    return "\n".join(lines)


def assigned_from(output: str) -> dict[Partition, int | None]:
    """The last assignment a life logged: partition -> first offset (None: the beginning)."""
    found = [line for line in ASSIGNED.findall(plain(output)) if line != "nothing"]
    if not found:
        return {}
    result: dict[Partition, int | None] = {}
    for part in found[-1].split(", "):
        match = ASSIGNED_PART.match(part.strip())
        assert match, f"unexpected assignment log: {part!r}"
        topic, partition, start = match.groups()
        result[(topic, int(partition))] = None if start == "the beginning" else int(start)
    return result


class CrashRun:
    """Starts, kills and finally stops consumer processes, one at a time, and records each."""

    def __init__(
        self,
        app: GiftCertificates,
        cluster: MockCluster,
        seed: int,
        tmp_path: Path,
        spawned: list[subprocess.Popen[bytes]],
        activity: psycopg.Connection[tuple[Any, ...]],
    ) -> None:
        self.app = app
        self.activity = activity  # autocommit: every look at pg_stat_activity is fresh
        self.bootstrap = cluster.bootstrap_servers
        self.seed = seed
        self.rng = random.Random(seed)
        self.tmp_path = tmp_path
        self.spawned = spawned
        self.began = time.monotonic()
        self.sender = Sender(self.bootstrap)
        self.lives: list[Life] = []
        self.modes = [mode for mode in KILL_MODES for _ in range(PHASE2_CHUNKS // 4)]
        self.rng.shuffle(self.modes)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GCP_")}
        self.env.update(
            GCP_KAFKA_BOOTSTRAP_SERVERS=self.bootstrap,
            GCP_DATABASE_URL=app.settings.database_url,
            GCP_VAR_DIR=str(tmp_path / "var"),
            GCP_CIPHER_KEY=app.settings.cipher_key or "",
            PYTHONUNBUFFERED="1",
        )

    def context(self) -> str:
        return f"seed {self.seed}, life {len(self.lives) - 1}"

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def start(self) -> Life:
        index = len(self.lives)
        group = f"gcp-crash-{index}"
        now = positions(self.app)
        expected = {at: (0 if offset is None else offset + 1) for at, offset in now.items()}
        # Kafka's offsets AHEAD of the database: a consumer that trusted them would skip the
        # backlog (and the balances would show it).
        planted = {at: self.sender.last.get(at, -1) + 1 for at in expected}
        plant_offsets(self.bootstrap, group, planted)
        assert committed_offsets(self.bootstrap, group) == planted, "could not plant offsets"
        log = self.tmp_path / f"life-{index:02d}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                CONSUMER_COMMAND,
                # PGAPPNAME: its connections are found in pg_stat_activity by the group name.
                env={**self.env, "GCP_KAFKA_GROUP_ID": group, "PGAPPNAME": group},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.spawned.append(process)
        life = Life(
            index,
            group,
            process,
            log,
            time.monotonic(),
            expected,
            planted,
            consumed(now),
            self.sender.sent,
        )
        self.lives.append(life)
        return life

    def wait(self, life: Life, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if life.process.poll() is not None:
                pytest.fail(
                    f"{self.context()}: the consumer exited ({life.process.returncode}) "
                    f"before it {what}:\n{life.tail()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{self.context()}: {timeout} s after its start the consumer has not {what} "
                    f"(consumed {consumed(positions(self.app))} of {self.sender.sent}):\n"
                    f"{life.tail()}"
                )
            time.sleep(0.02)

    def wait_assigned(self, life: Life) -> None:
        self.wait(life, lambda: bool(assigned_from(life.output())), START_WAIT, "been assigned")
        life.assigned_after = time.monotonic() - life.started

    def wait_progress(self, life: Life) -> None:
        self.wait(
            life,
            lambda: consumed(positions(self.app)) > life.consumed_before,
            START_WAIT,
            "made progress",
        )

    def kill(self, life: Life, mode: str) -> None:
        life.process.send_signal(signal.SIGKILL)
        code = life.process.wait(10)
        assert code == -signal.SIGKILL, f"{self.context()}: exit code {code}, not killed"
        self._ended(life, "SIGKILL")
        life.mode = mode

    def stop(self, life: Life) -> None:
        """SIGTERM once it has been assigned (before its handler is set, SIGTERM kills it)."""
        self.wait_assigned(life)
        life.process.send_signal(signal.SIGTERM)
        try:
            code = life.process.wait(STOP_WAIT)
        except subprocess.TimeoutExpired:
            life.process.kill()
            pytest.fail(f"{self.context()}: no exit {STOP_WAIT} s after SIGTERM:\n{life.tail()}")
        assert code == 0, f"{self.context()}: exit code {code} after SIGTERM:\n{life.tail()}"
        self._ended(life, "SIGTERM")

    def _ended(self, life: Life, how: str) -> None:
        life.lived = time.monotonic() - life.started
        life.ended = how
        after = positions(self.app)
        life.consumed_after = consumed(after)
        life.backlog_at_kill = self.sender.sent - life.consumed_after
        # Kafka's offsets are a hint that may lag the database, never run ahead of it.
        for at, offset in committed_offsets(self.bootstrap, life.group).items():
            if offset == life.planted[at]:
                continue  # not committed by this life
            recorded = after[at]
            assert recorded is not None, f"{self.context()}: Kafka has {offset} for {at}"
            assert offset <= recorded + 1, (
                f"{self.context()}: Kafka's offset {offset} for {at} is ahead of the "
                f"database's position {recorded}"
            )
            life.kafka_behind += offset < recorded + 1

    def one_life(self, chunk: list[Outgoing], *, startup_kill: bool) -> None:
        """Starts a consumer with a backlog, sends it more, and kills it: during its start-up,
        at a random moment, shortly after a commit, or the moment it is seen inside a database
        transaction (handling a batch)."""
        early = len(chunk) * 2 // 3
        self.sender.send(chunk[:early])  # a backlog from its first poll on
        life = self.start()
        if startup_kill:
            self.sender.send(chunk[early:])
            time.sleep(self.rng.uniform(*STARTUP_KILL_DELAY))
            self.kill(life, "during start-up")
            return
        self.wait_assigned(life)
        previous = self.lives[-2] if len(self.lives) > 1 else None
        # After a life that died before its first commit, this one must get somewhere first.
        must_progress = previous is not None and previous.progress == 0
        mode = self.modes.pop() if self.modes else self.rng.choice(KILL_MODES)
        if mode == "at random":
            if must_progress:
                self.wait_progress(life)
            self.sender.send(chunk[early:])  # more while it consumes
            time.sleep(self.rng.uniform(*KILL_DELAY))
        elif mode == "after a commit":
            self.wait_progress(life)
            self.sender.send(chunk[early:])  # the next batch, in flight when it dies
            time.sleep(self.rng.uniform(*KILL_DELAY_AFTER_COMMIT))
        else:  # the moment it is seen inside a transaction, or leaving one
            if must_progress or self.rng.random() < 0.5:
                self.wait_progress(life)  # not the first batch: a later one
            self.sender.send(chunk[early:])
            seen = self.wait_transaction(life, inside=True)
            if seen and mode == "as a transaction ends":
                seen = self.wait_transaction(life, inside=False)  # the commit, or a read's end
            if not seen:
                mode = "no transaction seen"
        self.kill(life, mode)

    def wait_transaction(self, life: Life, *, inside: bool) -> bool:
        """Waits (bounded) until one of the life's connections is inside a transaction, or
        until none is."""
        deadline = time.monotonic() + TRANSACTION_WAIT
        while time.monotonic() < deadline:
            row = self.activity.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = %s AND xact_start IS NOT NULL",
                (life.group,),
            ).fetchone()
            if bool(row and row[0]) is inside:
                return True
        return False

    def drain(self, life: Life) -> None:
        self.wait(
            life,
            lambda: all_consumed(positions(self.app), self.sender.last),
            DRAIN_WAIT,
            "consumed everything",
        )

    def summary(self, total: int) -> str:
        kills = [life for life in self.lives if life.ended == "SIGKILL"]
        busy = [life for life in kills if life.backlog_at_kill > 0]
        behind = [life for life in kills if life.kafka_behind]
        modes = Counter(life.mode for life in kills)
        return (
            f"seed {self.seed}: {total} messages, {len(self.lives)} lives, {len(kills)} "
            f"SIGKILLs ({dict(modes)}; {len(busy)} with messages left to consume, "
            f"{len(behind)} leaving Kafka's offsets behind the database), "
            f"{self.elapsed():.1f} s\n" + "\n".join(life.describe() for life in self.lives)
        )


# ---------------------------------------------------------------------- the test


@pytest.fixture
def spawned(
    postgres_url: str, mock_cluster: MockCluster
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The consumer processes; any still running when the test ends is killed first (before
    the schema is dropped and the cluster closed)."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(10)


@pytest.fixture
def app(postgres_url: str, tmp_path: Path) -> Iterator[GiftCertificates]:
    key = AESCipher.create_key(32)
    settings = Settings.from_env(
        {
            "GCP_VAR_DIR": str(tmp_path / "var"),
            "GCP_DATABASE_URL": postgres_url,
            "GCP_CIPHER_KEY": key,
        }
    )
    application = build_application(settings)
    yield application
    application.close()


def chunks(messages: list[Outgoing], count: int) -> list[list[Outgoing]]:
    size = -(-len(messages) // count)
    return [messages[i : i + size] for i in range(0, len(messages), size)]


def test_sigkilled_consumer_applies_every_effect_exactly_once(
    postgres_url: str,
    app: GiftCertificates,
    mock_cluster: MockCluster,
    spawned: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("GCP_CRASH_SEED") or random.randrange(2**32))
    for topic in TOPICS:
        mock_cluster.create_topic(topic, PARTITIONS)
    activity = psycopg.connect(postgres_url.split("?", maxsplit=1)[0], autocommit=True)
    run = CrashRun(app, mock_cluster, seed, tmp_path, spawned, activity)
    rng = run.rng
    scenario = build_scenario(app, rng)
    total = len(scenario.messages)
    assert total >= MIN_MESSAGES, f"the scenario has only {total} messages"
    pending = [(1, c) for c in chunks(scenario.phase1, PHASE1_CHUNKS)]
    pending += [(2, c) for c in chunks(scenario.phase2, PHASE2_CHUNKS)]
    last_chunk = pending.pop()[1]  # for the last life, which is not killed
    startup_kills = set(rng.sample(range(1, len(pending)), STARTUP_KILLS))
    phase1_done = False

    while pending:
        assert run.elapsed() < RUN_LIMIT, f"over {RUN_LIMIT} s: {run.summary(total)}"
        # Phase 2 only once phase 1 is consumed (then every certificate must be ACTIVE).
        if pending[0][0] == 2 and not phase1_done:
            phase1_done = all_consumed(positions(app), run.sender.last)
            if phase1_done:
                active = sum(
                    app.get_certificate(c.certificate_id).state is CertificateState.ACTIVE
                    for c in scenario.certificates
                )
                assert active == CERTIFICATES, f"phase 1 consumed, {active} ACTIVE: {seed=}"
        chunk = pending.pop(0)[1] if pending[0][0] == 1 or phase1_done else []
        run.one_life(chunk, startup_kill=len(run.lives) in startup_kills)

    # The last life consumes everything left and is stopped with SIGTERM.
    life = run.start()
    run.wait_assigned(life)
    run.sender.send(last_chunk)
    run.drain(life)
    run.stop(life)
    run.sender.close()
    activity.close()

    summary = run.summary(total)
    logger.info(summary)
    kills = [life for life in run.lives if life.ended == "SIGKILL"]
    assert len(kills) >= MIN_KILLS, summary
    busy = [life for life in kills if life.backlog_at_kill > 0]
    assert len(busy) >= MIN_KILLS // 2, f"too few kills while consuming:\n{summary}"
    inside = [life for life in kills if "transaction" in life.mode and "seen" not in life.mode]
    assert len(inside) >= MIN_KILLS_IN_TRANSACTION, f"too few kills in a transaction:\n{summary}"
    assert sum(life.progress for life in kills) > 0, summary

    check_lives(run.lives, summary)
    check_store(app, scenario, run.sender, summary)


def check_lives(lives: list[Life], summary: str) -> None:
    """Every life started where the DATABASE said (not Kafka's planted offsets), none hid an
    error, and each one that got going made progress."""
    for life in lives:
        output = life.output()
        for word in TROUBLE:
            assert word not in output, (
                f"{summary}\nlife {life.index} logged {word!r}:\n{life.tail()}"
            )
        starts = assigned_from(output)
        if not starts:
            assert life.ended == "SIGKILL", f"{summary}\nlife {life.index}: no assignment"
            assert life.progress == 0, f"{summary}\nlife {life.index}: consumed, unassigned"
            continue
        expected = {at: (None if o == 0 else o) for at, o in life.expected_start.items()}
        assert starts == expected, (
            f"{summary}\nlife {life.index} (group {life.group}) did not resume from the "
            f"database: assigned {starts}, database {expected}, Kafka {life.planted}"
        )


def check_store(app: GiftCertificates, scenario: Scenario, sender: Sender, summary: str) -> None:
    # Every message consumed: the database's positions are the last offsets.
    found = positions(app)
    assert all_consumed(found, sender.last), f"{summary}\npositions {found}, last {sender.last}"

    # Certificates: balance and state as the model says; each effect recorded once.
    applied_events: Counter[str] = Counter()
    rejected_events: Counter[str] = Counter()
    issued = 0
    for model in scenario.certificates:
        certificate = app.get_certificate(model.certificate_id)
        what = f"{summary}\ncertificate {model.certificate_id} ({model.order_id})"
        assert certificate.balance == model.balance, what
        assert certificate.state is model.state, what
        assert set(certificate.redemptions) == set(model.applied), what
        assert certificate.rejected_payments == set(model.rejected), what
        history = list(app.store.events.get(model.certificate_id))
        kinds = Counter(type(e).__name__ for e in history)
        assert kinds["Issued"] == 1, what
        issued += kinds["Issued"]
        requested = 0 if model.channel == "NONE" else 1
        assert kinds["NotificationRequested"] == requested, what
        assert kinds["NotificationSent"] == (model.notification == "SENT"), what
        assert kinds["NotificationFailed"] == (model.notification == "FAILED"), what
        for event in history:
            if isinstance(event, GiftCertificate.RedemptionApplied):
                applied_events[event.payment_id] += 1
                assert event.amount == model.applied[event.payment_id], what
            elif isinstance(event, GiftCertificate.RedemptionRejected):
                rejected_events[event.payment_id] += 1
                assert event.reason in model.rejected[event.payment_id], (
                    f"{what}: {event.payment_id} rejected for {event.reason}"
                )
    applied = {p for m in scenario.certificates for p in m.applied}
    rejected = {p for m in scenario.certificates for p in m.rejected}
    assert applied_events == Counter(applied), f"{summary}\nRedemptionApplied counts differ"
    assert rejected_events == Counter(rejected), f"{summary}\nRedemptionRejected counts differ"
    assert issued == CERTIFICATES
    everything = app.store.recorder.select_notifications(start=1, limit=1_000_000)
    by_topic = Counter(n.topic for n in everything)
    assert by_topic[GiftCertificate.Issued.TOPIC] == CERTIFICATES, summary
    assert by_topic[GiftCertificate.RedemptionApplied.TOPIC] == len(applied), summary
    assert by_topic[GiftCertificate.RedemptionRejected.TOPIC] == len(rejected), summary

    # Sales orders: each messageId recorded once, each decision taken once.
    for order_id, message_ids in scenario.order_messages.items():
        history = list(app.store.events.get(sales_order_id(order_id)))
        recorded = Counter(
            e.message_id
            for e in history
            if isinstance(e, SalesOrder.OrderMessageReceived | SalesOrder.PaymentReceived)
        )
        assert recorded == Counter(message_ids), f"{summary}\norder {order_id}: {recorded}"
        decided = Counter((e.kind, e.subject) for e in history if isinstance(e, SalesOrder.Decided))
        assert all(n == 1 for n in decided.values()), f"{summary}\norder {order_id}: {decided}"

    # Dead letters: exactly one per bad message, where it was read, for its reason.
    bad = [m for m in scenario.messages if m.bad is not None]
    letters = [
        app.store.repository.get(n.originator_id)
        for n in everything
        if n.topic == DeadLetter.Created.TOPIC
    ]
    assert len(letters) == len(bad), (
        f"{summary}\n{len(letters)} dead letters, {len(bad)} bad messages"
    )
    found_letters = {letter.id: letter for letter in letters}
    for message in bad:
        assert message.partition is not None
        assert message.offset is not None
        letter = found_letters.get(dead_letter_id(message.topic, message.partition, message.offset))
        assert letter is not None, f"{summary}\nno dead letter for {message.key}"
        assert letter.reason_code == message.bad, f"{summary}\n{message.key}: {letter.reason_code}"
