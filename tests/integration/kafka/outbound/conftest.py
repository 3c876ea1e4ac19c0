"""The outbound side: the outbox, the relay and republishing, with real clients on a mock cluster.

A scenario drives the application's own commands through a lifecycle that publishes nearly
every status, records changes that publish nothing (claims, CvcDisclosed, creation), blocks a
pool (ISSUE_BLOCKED) and records a dead letter. `expected_stream` folds the store's events
independently of the outbox, with gcp_domain.stream.publication, so the tests compare the
outbox and what Kafka holds against the pure mapping.

Tests reach these helpers through the `kit` fixture (this module), so that nothing imports a
conftest. Every wait is bounded and fails with what it saw.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any
from uuid import UUID

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from tests.integration.kafka.client_config import FAST_RECONNECT
from tests.issuing import issue_reserved, open_notification
from tests.schemas import contract_validator

from gcp_adapters.kafka.mock_cluster import MockCluster
from gcp_adapters.kafka.relay import Relay
from gcp_app.application import GiftCertificates
from gcp_app.dead_letters import DeadLetter
from gcp_app.errors import PoolExhausted
from gcp_app.use_cases import (
    LockCertificate,
    RecordNotificationResult,
    RecordRefundStep,
    Redeem,
    ReleaseReservation,
    UnlockCertificate,
)
from gcp_domain import Cause, CertificatePool, GiftCertificate, Money
from gcp_domain.stream import Publication, publication
from gcp_domain.vocabulary import PaymentEvent

STREAM = "GiftCertificates.Stream"
DLQ = "GiftCertificates.DLQ"
PARTITIONS = 3
POOL = "default"
TINY_POOL = "tiny"
ADMIN = Cause("admin:ops", "req-generate", "req-generate")
SUPPORT = Cause("support:olga", "req-support", "ticket-7")
CRM = Cause("crm", "req-crm", "notify")
INBOUND = Cause("kafka:All_Payments", "msg-1", "order-1")


@pytest.fixture
def kit() -> ModuleType:
    """This module: the scenario, the expectations, the schemas and the Kafka helpers."""
    return sys.modules[__name__]


STREAM_SCHEMA = contract_validator("gift-certificate.schema.json")
DLQ_SCHEMA = contract_validator("dead-letter.schema.json")


# ====================================================================== the scenario


def newest(app: GiftCertificates) -> int:
    """The position of the store's newest notification."""
    position = app.store.recorder.max_notification_id()
    assert position is not None
    return position


def reserve(app: GiftCertificates, order_id: str, pool: str = POOL) -> UUID:
    granted = app.reservations.reserve_next(
        pool, channel="WEB", order_id=order_id, cause=Cause("channel:web", order_id, order_id)
    )
    return granted.certificate_id


def issue(app: GiftCertificates, order_id: str, amount: str = "5000.00") -> UUID:
    certificate_id = reserve(app, order_id)
    cause = Cause("kafka:All_Payments", f"pay-{order_id}", order_id)
    assert issue_reserved(app, certificate_id, order_id, amount=amount, cause=cause)
    return certificate_id


def redeem(app: GiftCertificates, certificate_id: UUID, payment_id: str, amount: str) -> None:
    app.execute(
        Redeem(
            certificate_id=certificate_id,
            payment_id=payment_id,
            order_id=f"POS-{payment_id}",
            amount=Money.of(amount),
            cause=Cause("kafka:All_Payments", f"msg-{payment_id}", f"POS-{payment_id}"),
        )
    )


def full_lifecycle(app: GiftCertificates, tag: str) -> UUID:
    """ISSUED, NOTIFICATION_* (with an unpublished CvcDisclosed), PARTIALLY_REDEEMED,
    REDEMPTION_REJECTED, LOCKED, ACTIVE (unlock), REDEEMED: 10 publications."""
    certificate_id = issue(app, f"WEB-{tag}")
    notification_id = open_notification(app, certificate_id)
    app.cvc.disclose(certificate_id, notification_id=notification_id, cause=CRM)
    app.execute(
        RecordNotificationResult(
            certificate_id=certificate_id, notification_id=notification_id, sent=True, cause=CRM
        )
    )
    redeem(app, certificate_id, f"PAY-{tag}-1", "1500.00")
    redeem(app, certificate_id, f"PAY-{tag}-2", "9000.00")  # too much: REDEMPTION_REJECTED
    app.execute(
        LockCertificate(
            certificate_id=certificate_id, reason="fraud check", by="olga", cause=SUPPORT
        )
    )
    app.execute(
        UnlockCertificate(certificate_id=certificate_id, reason="cleared", by="olga", cause=SUPPORT)
    )
    redeem(app, certificate_id, f"PAY-{tag}-3", "3500.00")
    return certificate_id


def refunded(app: GiftCertificates, tag: str) -> UUID:
    certificate_id = issue(app, f"WEB-R{tag}", amount="700.00")
    for step, amount in (
        (PaymentEvent.REFUND_PENDING, None),
        (PaymentEvent.REFUND_COMPLETED, Money.of("700.00")),
    ):
        app.execute(
            RecordRefundStep(
                certificate_id=certificate_id,
                step=step,
                order_id=f"WEB-R{tag}",
                payment_id=f"REF-{tag}",
                amount=amount,
                cause=INBOUND,
            )
        )
    return certificate_id


def released(app: GiftCertificates, tag: str) -> UUID:
    certificate_id = reserve(app, f"WEB-X{tag}")
    app.execute(
        ReleaseReservation(certificate_id=certificate_id, reason="PAYMENT_FAILED", cause=INBOUND)
    )
    return certificate_id


def block_tiny_pool(app: GiftCertificates) -> None:
    app.pools.generate_certificates(TINY_POOL, 1, cause=ADMIN)
    reserve(app, "WEB-T1", pool=TINY_POOL)
    with pytest.raises(PoolExhausted):
        reserve(app, "WEB-T2", pool=TINY_POOL)


def record_dead_letter(
    app: GiftCertificates, offset: int, key: bytes | None = b"WEB-9", value: bytes = b"{not json"
) -> UUID:
    letter = DeadLetter.record(
        topic="All_Payments",
        partition=1,
        offset=offset,
        key=key,
        value=value,
        message_id=None,
        reason_code="not-json",
        reason="the value is not a JSON object",
        cause=Cause.system("kafka:All_Payments", f"All_Payments/1/{offset}"),
    )
    app.store.save(letter)
    return letter.id


def scenario(app: GiftCertificates, rounds: int = 1) -> None:
    """Everything the outbound side must handle, `rounds` times over (on fresh certificates)."""
    app.pools.generate_certificates(POOL, 4 * rounds, cause=ADMIN)
    for round_ in range(rounds):
        full_lifecycle(app, f"{round_}a")
        refunded(app, f"{round_}")
        released(app, f"{round_}")
        record_dead_letter(app, offset=100 + round_)
    block_tiny_pool(app)


def more_changes(app: GiftCertificates, tag: str, count: int = 2) -> None:
    app.pools.generate_certificates(POOL, count, cause=ADMIN)
    for index in range(count):
        full_lifecycle(app, f"{tag}{index}")


# ====================================================================== what should be published


def expected_stream(app: GiftCertificates) -> list[tuple[int, Publication]]:
    """(position, publication) of every stored event that publishes, in log order, computed by
    folding each certificate's and pool's events from the start (no cache, no outbox)."""
    notifications = app.store.recorder.select_notifications(start=1, limit=1_000_000)
    positions = {(n.originator_id, n.originator_version): n.id for n in notifications}
    ids = {
        n.originator_id
        for n in notifications
        if n.topic in (GiftCertificate.Created.TOPIC, CertificatePool.Created.TOPIC)
    }
    found: list[tuple[int, Publication]] = []
    for aggregate_id in ids:
        aggregate: Any = None
        for event in app.store.events.get(UUID(str(aggregate_id))):
            aggregate = event.mutate(aggregate)
            item = publication(aggregate, event)
            if item is not None:
                found.append((positions[(aggregate_id, event.originator_version)], item))
    return sorted(found, key=lambda pair: pair[0])


def dead_letter_ids(app: GiftCertificates) -> list[str]:
    notifications = app.store.recorder.select_notifications(
        start=1, limit=1_000_000, topics=[DeadLetter.Created.TOPIC]
    )
    return [str(n.originator_id) for n in notifications]


# ====================================================================== Kafka


@pytest.fixture
def cluster(mock_cluster: Callable[..., MockCluster]) -> MockCluster:
    started = mock_cluster()
    for topic in (STREAM, DLQ):
        started.create_topic(topic, PARTITIONS)
    return started


@pytest.fixture
def make_relay(
    cluster: MockCluster, make_app: Callable[[], GiftCertificates]
) -> Iterator[Callable[..., Relay]]:
    """Relays on the cluster, closed before the applications and the cluster."""
    made: list[Relay] = []

    def make(
        app: GiftCertificates, producer: dict[str, Any] | None = None, **options: Any
    ) -> Relay:
        config = {"bootstrap.servers": cluster.bootstrap_servers, **FAST_RECONNECT}
        config.update(producer or {})
        options.setdefault("poll_interval", 0.05)
        relay = Relay(app, config, STREAM, DLQ, **options)
        made.append(relay)
        return relay

    yield make
    for relay in made:
        relay.stop()
        relay.close()


def drain(relay: Relay, timeout: float = 20.0) -> None:
    """run_once until the relay has published everything in the store."""
    deadline = time.monotonic() + timeout
    while True:
        relay.run_once(timeout=1.0)
        if relay.caught_up:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the relay did not catch up in {timeout} s: {relay.stats()}")


class Running:
    """A relay's `run` loop in a thread."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.stop_event = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.relay.run(self.stop_event)
        except BaseException as error:  # reported by stop()
            self.errors.append(error)

    def wait_for_position(self, position: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.relay.position < position:
            if time.monotonic() > deadline or not self.thread.is_alive():
                pytest.fail(
                    f"the relay reached {self.relay.position}, not {position}, in {timeout} s: "
                    f"{self.relay.stats()} {self.errors}"
                )
            time.sleep(0.02)

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the relay did not stop within 10 s"
        assert self.errors == []


@pytest.fixture
def running() -> Iterator[Callable[[Relay], Running]]:
    started: list[Running] = []

    def start(relay: Relay) -> Running:
        runner = Running(relay)
        started.append(runner)
        runner.thread.start()
        return runner

    yield start
    for runner in started:
        runner.stop_event.set()
        runner.thread.join(timeout=10)


@pytest.fixture
def read_topic(
    consumer: Callable[..., Consumer], cluster: MockCluster
) -> Callable[..., list[Received]]:
    def read(topic: str, expected: int, timeout: float = 15.0) -> list[Received]:
        """Every message of `topic` from the beginning: at least `expected`, then whatever
        else arrives within a short quiet period."""
        client = consumer(cluster.bootstrap_servers)
        client.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        deadline = time.monotonic() + timeout
        received: list[Received] = []
        while len(received) < expected:
            if time.monotonic() > deadline:
                pytest.fail(f"read {len(received)} of {expected} messages of {topic}")
            received.extend(_received(client, 0.2))
        received.extend(_received(client, 0.5))
        with contextlib.suppress(RuntimeError):
            client.unassign()
        return received

    return read


@pytest.fixture
def check_stream(
    read_topic: Callable[..., list[Received]],
) -> Callable[[list[tuple[int, Publication]]], None]:
    def check(expected: list[tuple[int, Publication]]) -> None:
        """Reads the stream topic (at least the `expected` messages) and checks that they all
        arrived, in order, and nothing else (check_order_and_completeness)."""
        check_order_and_completeness(read_topic(STREAM, len(expected)), expected)

    return check


class Received:
    """One consumed message, decoded."""

    def __init__(
        self, partition: int, offset: int, key: bytes | None, value: bytes, headers: list[Any]
    ) -> None:
        self.partition = partition
        self.offset = offset
        self.key = key
        self.raw = value
        self.value: dict[str, Any] = json.loads(value.decode("utf-8"))
        self.headers = {name: data.decode("utf-8") for name, data in headers}


def _received(client: Consumer, timeout: float) -> list[Received]:
    out: list[Received] = []
    for message in client.consume(num_messages=1000, timeout=timeout):
        error = message.error()
        if error is not None:
            pytest.fail(f"consumer error: {error}")
        value = message.value()
        partition = message.partition()
        offset = message.offset()
        assert isinstance(value, bytes)
        assert partition is not None
        assert offset is not None
        key = message.key()
        assert key is None or isinstance(key, bytes)
        out.append(Received(partition, offset, key, value, list(message.headers() or [])))
    return out


def in_partition_order(messages: list[Received]) -> list[Received]:
    """The order a consumer of each partition sees (partitions interleaved arbitrarily)."""
    return sorted(messages, key=lambda m: (m.partition, m.offset))


def check_order_and_completeness(
    messages: list[Received], expected: list[tuple[int, Publication]]
) -> None:
    """Every expected eventId arrived at least once; per key, once duplicates are removed
    (keeping each eventId's first arrival), versions strictly increase; nothing unexpected."""
    wanted = {item.event_id for _, item in expected}
    got = {m.value["eventId"] for m in messages}
    assert wanted - got == set(), f"lost {len(wanted - got)} publications"
    assert got - wanted == set(), "published something that should not be"
    seen: set[str] = set()
    versions: dict[bytes | None, list[int]] = {}
    for message in in_partition_order(messages):
        event_id = message.value["eventId"]
        if event_id in seen:
            continue
        seen.add(event_id)
        versions.setdefault(message.key, []).append(message.value["version"])
    for key, key_versions in versions.items():
        assert key_versions == sorted(key_versions), f"{key!r} out of order: {key_versions}"
        assert len(set(key_versions)) == len(key_versions)
