"""The inbound consumer against a mock Kafka cluster, with real confluent-kafka producers, and
the application on SQLite and on PostgreSQL.

Every wait is bounded: `drain` runs the consumer until a condition holds or fails the test with
the consumer's counters.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_INVALID, Consumer, Producer, TopicPartition
from eventsourcing.persistence import IntegrityError
from tests.integration.kafka.client_config import FAST_RECONNECT
from tests.unit.contracts import examples

from gcp_adapters.kafka.consumer import InboundConsumer
from gcp_adapters.kafka.consumer_metrics import ConsumerStats
from gcp_adapters.kafka.mock_cluster import MockCluster
from gcp_app.application import GiftCertificates
from gcp_app.dead_letters import DeadLetter
from gcp_app.inbound import InboundBatches
from gcp_app.reservation_desk import ReservationGranted
from gcp_domain import Cause, CertificateState
from gcp_domain.order import sales_order_id

SALES, PAYMENTS, CLIENTS = "All_SalesOrder", "All_Payments", "All_Clients"
TOPICS = (SALES, PAYMENTS, CLIENTS)
PARTITIONS = 2
POOL = "default"
ADMIN = Cause("admin:ops", "req-generate", "req-generate")
WAIT = 20.0  # seconds: the bound on every wait
# The mock cluster lets a member that left the group linger until its session times out, so a
# restarted consumer in the same group waits that long for its assignment: keep it short.
CLIENT_CONFIG = {
    **FAST_RECONNECT,
    "session.timeout.ms": 2000,
    "heartbeat.interval.ms": 200,
    "max.poll.interval.ms": 10000,
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Stores that outlive an application instance (a restart opens the same one)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gcp.sqlite'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def kafka(mock_cluster: Callable[..., MockCluster]) -> str:
    cluster = mock_cluster()
    cluster.set_group_initial_rebalance_delay(50)  # not the mock's 3 s per new group
    for topic in TOPICS:
        cluster.create_topic(topic, PARTITIONS)
    return cluster.bootstrap_servers


@pytest.fixture
def inbound(kafka: str, started_brokers: list[Any]) -> Iterator[Callable[..., InboundConsumer]]:
    """Makes InboundConsumers on the mock cluster; closed before the cluster is."""
    made: list[InboundConsumer] = []

    def make(app: GiftCertificates, group_id: str = "gcp", **kwargs: Any) -> InboundConsumer:
        kwargs.setdefault("config", CLIENT_CONFIG)
        kwargs.setdefault("batch_timeout", 0.1)
        made.append(InboundConsumer(app, kafka, group_id=group_id, **kwargs))
        return made[-1]

    yield make
    for consumer in made:
        consumer.close()


@pytest.fixture
def send(kafka: str, producer: Callable[..., Producer]) -> Callable[..., None]:
    client = producer(kafka)

    def produce(topic: str, key: str, value: bytes | dict[str, Any]) -> None:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        client.produce(topic, key=key.encode(), value=raw)
        assert client.flush(10) == 0, "the producer could not deliver within 10 s"

    return produce


def drain(
    consumer: InboundConsumer, until: Callable[[ConsumerStats], bool], what: str
) -> ConsumerStats:
    return _step_until(consumer, consumer.run_once, until, what)


def _step_until(
    consumer: InboundConsumer,
    step: Callable[[], object],
    until: Callable[[ConsumerStats], bool],
    what: str,
) -> ConsumerStats:
    """Calls `step` until the consumer's counters satisfy `until`, or fails the test."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        step()
        stats = consumer.metrics.snapshot()
        if until(stats):
            return stats
    pytest.fail(f"after {WAIT} s the consumer has not {what}: {consumer.metrics.snapshot()}")


def idle(consumer: InboundConsumer, partitions: int = len(TOPICS) * PARTITIONS) -> None:
    """Runs until every partition is assigned and a few polls brought nothing more."""
    deadline = time.monotonic() + WAIT
    while len(consumer.assignment) < partitions:
        consumer.run_once()
        if time.monotonic() > deadline:
            pytest.fail(f"no assignment after {WAIT} s: {consumer.assignment}")
    for _ in range(5):
        consumer.run_once()


def reserve(app: GiftCertificates, order_id: str) -> ReservationGranted:
    app.pools.generate_certificates(POOL, 3, cause=ADMIN)
    return app.reservations.reserve_next(
        POOL, channel="WEB", order_id=order_id, cause=Cause("channel:web", "req-1", order_id)
    )


def order_json(order_id: str, certificate_id: uuid.UUID) -> dict[str, Any]:
    """CONTRACTS.md's All_SalesOrder example, with its certificate line alone."""
    return examples.sales_order(
        certificate_id=str(certificate_id),
        messageId=str(uuid.uuid4()),
        orderId=order_id,
        redemptions=[],
        refunds=[],
    )


def payment_json(order_id: str, amount: str = '"5000.00"', **extra: Any) -> bytes:
    """CONTRACTS.md's All_Payments example; `amount` is JSON text (a string or a number)."""
    document = examples.payment(
        messageId=str(uuid.uuid4()),
        paymentId=f"PAY-{order_id}",
        orderId=order_id,
        amount="@AMOUNT@",
        **extra,
    )
    return json.dumps(document).replace('"@AMOUNT@"', amount).encode()


def events(app: GiftCertificates) -> int:
    return app.store.recorder.max_notification_id() or 0


def dead_letters(app: GiftCertificates) -> list[Any]:
    found = app.store.recorder.select_notifications(
        start=1, limit=1_000, topics=[DeadLetter.Created.TOPIC]
    )
    return [app.store.repository.get(n.originator_id) for n in found]


def sell(
    app: GiftCertificates,
    consumer: InboundConsumer,
    send: Callable[..., None],
    order_id: str,
    amount: str = '"5000.00"',
) -> ReservationGranted:
    granted = reserve(app, order_id)
    before = consumer.metrics.snapshot().applied
    send(SALES, order_id, order_json(order_id, granted.certificate_id))
    send(PAYMENTS, order_id, payment_json(order_id, amount))
    drain(consumer, lambda s: s.applied >= before + 2, "applied the order and the payment")
    return granted


def committed_offsets(kafka: str, wanted: list[TopicPartition]) -> list[TopicPartition]:
    """The offsets of `wanted` that group "gcp" has committed, as another client reads them."""
    probe = Consumer({"bootstrap.servers": kafka, "group.id": "gcp"})
    try:
        offsets: list[TopicPartition] = probe.committed(wanted, timeout=10)
        return offsets
    finally:
        probe.close()


@contextlib.contextmanager
def running(consumer: InboundConsumer) -> Iterator[threading.Thread]:
    """The consumer's `run` loop in a thread for the block, stopped and joined after it."""
    stop = threading.Event()
    runner = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    runner.start()
    try:
        yield runner
    finally:
        stop.set()
        runner.join(WAIT)


# ---------------------------------------------------------------------- the seed flow


def test_the_seed_flow_issues_the_certificate(
    app: GiftCertificates, inbound: Callable[..., InboundConsumer], send: Callable[..., None]
) -> None:
    consumer = inbound(app)
    order_id = "WEB-100045"
    # The payment's amount as an unquoted JSON number: read exactly, never through a float.
    granted = sell(app, consumer, send, order_id, amount="5000.00")

    certificate = app.get_certificate(granted.certificate_id)
    assert certificate.state is CertificateState.ACTIVE
    assert certificate.balance == Decimal("5000.00")
    assert str(certificate.balance) == "5000.00"
    current = app.current_object(granted.certificate_id)
    assert current["status"] == "NOTIFICATION_REQUESTED"
    assert current["notification"]["status"] == "REQUESTED"
    opened = app.notification_ids.for_request(certificate.id, 1)
    assert current["notification"]["notificationId"] == opened
    assert current["orderId"] == order_id
    assert current["recipient"]["name"] == "Anna"
    stats = consumer.metrics.snapshot()
    assert (stats.consumed, stats.applied, stats.dead_lettered) == (2, 2, 0)
    assert stats.batches >= 1
    assert all(lag == 0 for lag in stats.lag.values())

    # Kafka's committed offsets follow the database's positions (asynchronously).
    matcher = InboundBatches(app)
    recorded = {
        (topic, p): matcher.position(topic, p)
        for topic in (SALES, PAYMENTS)
        for p in range(PARTITIONS)
        if matcher.position(topic, p) is not None
    }
    assert len(recorded) == 2
    wanted = [TopicPartition(t, p) for t, p in recorded]
    deadline = time.monotonic() + WAIT
    while True:
        consumer.run_once()  # serves the commit callbacks
        committed = {
            (tp.topic, tp.partition): tp.offset
            for tp in consumer._consumer.committed(wanted, timeout=5)
        }
        if committed == {at: offset + 1 for at, offset in recorded.items() if offset is not None}:
            break
        assert time.monotonic() < deadline, f"Kafka offsets {committed}, database {recorded}"


# ---------------------------------------------------------------------- bad input


def test_bad_messages_become_dead_letters_and_consumption_goes_on(
    app: GiftCertificates,
    inbound: Callable[..., InboundConsumer],
    send: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="gcp.kafka.consumer")
    consumer = inbound(app)
    key = "WEB-BAD-1"  # one key: one partition, read in this order
    missing_id = json.loads(payment_json(key))
    del missing_id["messageId"]
    bad = {
        "not-json": b"private: buyer@example.com, not JSON",
        "no-message-id": json.dumps(missing_id).encode(),
        "bad-currency": payment_json(key, currency="rub"),
        "negative": payment_json(key, amount='"-5.00"'),
    }
    for value in bad.values():
        send(PAYMENTS, key, value)
    good = json.loads(payment_json(key, amount="1500.00"))
    send(PAYMENTS, key, json.dumps(good).encode())

    stats = drain(consumer, lambda s: s.consumed >= 5, "consumed the five messages")
    assert (stats.dead_lettered, stats.applied) == (4, 1)

    letters = sorted(dead_letters(app), key=lambda letter: letter.source_offset)
    assert [letter.reason_code for letter in letters] == [
        "not-json",
        "invalid-message",
        "invalid-message",
        "invalid-money",
    ]
    assert [base64.b64decode(letter.source_value) for letter in letters] == list(bad.values())
    assert {base64.b64decode(letter.source_key) for letter in letters} == {key.encode()}
    assert {letter.source_topic for letter in letters} == {PAYMENTS}
    assert letters[1].reason == "messageId is required"
    assert letters[2].reason == "currency must be an ISO 4217 code of three uppercase letters"
    # The messageId is kept wherever it could be read, even from a message that failed to decode.
    assert [letter.message_id for letter in letters] == [
        None,
        None,
        json.loads(bad["bad-currency"])["messageId"],
        json.loads(bad["negative"])["messageId"],
    ]
    offsets = [letter.source_offset for letter in letters]
    assert offsets == sorted(offsets)
    assert len(set(offsets)) == 4
    # The good payment after them went through: the order knows it.
    order: Any = app.store.repository.get(sales_order_id(key))
    assert f"PAY-{key}" in order.payments

    # A valid order without certificate lines is ignored: no event, no dead letter.
    recorded = events(app)
    plain = order_json("WEB-PLAIN-1", uuid.uuid4())
    plain["giftCertificates"] = []
    send(SALES, "WEB-PLAIN-1", plain)
    stats = drain(consumer, lambda s: s.ignored >= 1, "ignored the plain order")
    assert (stats.ignored, stats.dead_lettered) == (1, 4)
    assert events(app) == recorded

    logged = caplog.text
    assert "reasonCode=not-json" in logged
    assert "buyer@example.com" not in logged
    assert "private" not in logged
    assert "-5.00" not in logged


# ---------------------------------------------------------------------- restart and offsets


def test_a_restart_resumes_from_the_database(
    make_app: Callable[[], GiftCertificates],
    inbound: Callable[..., InboundConsumer],
    send: Callable[..., None],
) -> None:
    first_app = make_app()
    first = inbound(first_app, group_id="gcp-a")
    granted = sell(first_app, first, send, "WEB-R-1")
    first.close()
    stored = events(first_app)

    notification = first_app.notification_ids.for_request(granted.certificate_id, 1)
    send(CLIENTS, "C-1", {
        "messageId": str(uuid.uuid4()), "eventType": "CLIENT_UPDATED", "clientId": "C-1",
        "giftCertificateNotification": {
            "certificateId": str(granted.certificate_id), "notificationId": notification,
            "result": "SENT", "channel": "EMAIL", "error": None,
        },
    })  # fmt: skip

    # A new instance, and a group Kafka has no offsets for: only the database knows the positions.
    second_app = make_app()
    second = inbound(second_app, group_id="gcp-b")
    stats = drain(second, lambda s: s.applied >= 1, "applied the notification result")
    idle(second)
    stats = second.metrics.snapshot()
    assert (stats.consumed, stats.applied, stats.already_consumed) == (1, 1, 0)
    assert events(second_app) == stored + 1  # NOTIFICATION_SENT, nothing else
    assert second_app.current_object(granted.certificate_id)["status"] == "NOTIFICATION_SENT"


def test_kafka_offsets_behind_the_database_apply_nothing_twice(
    make_app: Callable[[], GiftCertificates],
    inbound: Callable[..., InboundConsumer],
    send: Callable[..., None],
    kafka: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A crash after the database commit and before the Kafka commit: nothing reaches Kafka.
    first_app = make_app()
    first = inbound(first_app)
    monkeypatch.setattr(first, "_commit", lambda batch: None)
    granted = sell(first_app, first, send, "WEB-K-1")
    first.close()
    stored = events(first_app)
    wanted = [TopicPartition(t, p) for t in TOPICS for p in range(PARTITIONS)]
    assert {tp.offset for tp in committed_offsets(kafka, wanted)} == {OFFSET_INVALID}

    # Same group, Kafka has nothing committed: the database's positions are used.
    second_app = make_app()
    second = inbound(second_app)
    idle(second)
    assert second.metrics.snapshot().consumed == 0

    # A consumer that does start from Kafka's (absent) offsets re-reads everything, and the
    # matcher recognises every position as consumed already.
    third_app = make_app()
    third = inbound(third_app, group_id="gcp-replay")
    monkeypatch.setattr(third, "_position", lambda topic, partition: None)
    stats = drain(third, lambda s: s.consumed >= 2, "re-read the two messages")
    idle(third)
    stats = third.metrics.snapshot()
    assert (stats.consumed, stats.already_consumed, stats.applied) == (2, 2, 0)
    assert events(third_app) == stored
    assert third_app.get_certificate(granted.certificate_id).state is CertificateState.ACTIVE


# ---------------------------------------------------------------------- failures


def test_a_failing_batch_is_retried_never_skipped(
    app: GiftCertificates,
    inbound: Callable[..., InboundConsumer],
    send: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = [RuntimeError("the database went away"), RuntimeError("still away")]
    handle, store = InboundBatches.handle, InboundBatches.store

    def flaky(self: InboundBatches, envelopes: Any) -> Any:
        if failures:
            raise failures.pop(0)
        return handle(self, envelopes)

    def flaky_store(self: InboundBatches, decided: Any) -> None:
        if failures:
            raise failures.pop(0)
        store(self, decided)

    # run() is pipelined: the first failure is the writer's store, the second the redo's.
    monkeypatch.setattr(InboundBatches, "handle", flaky)
    monkeypatch.setattr(InboundBatches, "store", flaky_store)
    consumer = inbound(app, retry_backoff=0.05, max_retry_backoff=0.1)
    order_id = "WEB-F-1"
    granted = reserve(app, order_id)
    send(SALES, order_id, order_json(order_id, granted.certificate_id))
    send(PAYMENTS, order_id, payment_json(order_id))

    with running(consumer) as runner:
        deadline = time.monotonic() + WAIT
        while consumer.metrics.snapshot().applied < 2:
            assert runner.is_alive(), "run() ended"
            assert time.monotonic() < deadline, f"not applied: {consumer.metrics.snapshot()}"
            time.sleep(0.05)
    assert not runner.is_alive(), "run() did not stop"

    stats = consumer.metrics.snapshot()
    assert stats.failed_batches == 2
    assert (stats.consumed, stats.applied) == (2, 2)
    assert app.get_certificate(granted.certificate_id).state is CertificateState.ACTIVE
    assert "failed (RuntimeError); retrying" in caplog.text


def test_positions_that_cannot_be_read_leave_the_partitions_unassigned_until_they_can(
    app: GiftCertificates,
    inbound: Callable[..., InboundConsumer],
    send: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failures = [RuntimeError("the database went away")] * 3  # every attempt of one assignment
    position = InboundBatches.position

    def flaky(self: InboundBatches, topic: str, partition: int) -> int | None:
        if failures:
            raise failures.pop()
        return position(self, topic, partition)

    monkeypatch.setattr(InboundBatches, "position", flaky)
    consumer = inbound(app)
    granted = sell(app, consumer, send, "WEB-P-1")

    assert not failures
    assert app.get_certificate(granted.certificate_id).state is CertificateState.ACTIVE
    assert consumer.metrics.snapshot().consumed == 2


# ---------------------------------------------------------------------- pipelined batches


class SlowOrFailingStore:
    """The application, except that each pipelined store (its store's `record_collected`)
    first waits `delay` seconds (the next one `once` seconds, if set), and the first `failures`
    of them then fail with `error`."""

    def __init__(
        self,
        app: GiftCertificates,
        *,
        delay: float = 0.0,
        failures: int = 0,
        error: Exception | None = None,
    ) -> None:
        self._app = app
        self.store = _RecordingThrough(app.store, self)
        self.delay = delay
        self.failures = failures
        self.error = error or RuntimeError("the database went away")
        self.failed = 0
        self.once = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)

    def record_collected(self, collected: Any) -> Any:
        delay, self.once = self.once or self.delay, 0.0
        time.sleep(delay)
        if self.failed < self.failures:
            self.failed += 1
            raise self.error
        return self._app.store.record_collected(collected)


class _RecordingThrough:
    """The event store, but its `record_collected` is the test's."""

    def __init__(self, store: Any, test: SlowOrFailingStore) -> None:
        self._store = store
        self.record_collected = test.record_collected

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def drain_pipelined(
    consumer: InboundConsumer, until: Callable[[ConsumerStats], bool], what: str
) -> ConsumerStats:
    return _step_until(
        consumer,
        consumer.run_pipelined_once,
        lambda stats: until(stats) and not consumer.in_flight,
        what,
    )


def until_in_flight(consumer: InboundConsumer) -> None:
    """Runs the pipeline until a batch is in flight (being stored)."""
    deadline = time.monotonic() + WAIT
    while not consumer.in_flight:
        consumer.run_pipelined_once()
        assert time.monotonic() < deadline, "nothing was consumed"


def ignorable_json() -> dict[str, Any]:
    """A valid All_Clients message that is not about certificates (IGNORED)."""
    return {"messageId": str(uuid.uuid4()), "eventType": "CLIENT_UPDATED", "clientId": "C-9"}


@pytest.mark.parametrize(
    "error",
    [IntegrityError("a concurrent writer got there first"), RuntimeError("the database went away")],
    ids=["conflict", "failure"],
)
def test_a_failed_store_is_redone_with_the_batch_decided_on_top_of_it(
    app: GiftCertificates,
    inbound: Callable[..., InboundConsumer],
    send: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
) -> None:
    # One record per batch: the order is batch N, the same message again is N+1, decided (a
    # duplicate, on N's copy of the order) while N's store is under way and about to fail.
    store = SlowOrFailingStore(app, delay=0.3, failures=1, error=error)
    consumer = inbound(store, batch_size=1)  # type: ignore[arg-type]
    on_top: list[int] = []
    decide = InboundBatches.decide

    def watched(self: InboundBatches, envelopes: Any) -> Any:
        on_top.append(consumer.in_flight)
        return decide(self, envelopes)

    monkeypatch.setattr(InboundBatches, "decide", watched)
    order_id = "WEB-P-1"
    granted = reserve(app, order_id)
    order = json.dumps(order_json(order_id, granted.certificate_id)).encode()
    send(SALES, order_id, order)
    send(SALES, order_id, order)  # the same message again (a producer's retry)

    stats = drain_pipelined(consumer, lambda s: s.duplicates >= 1, "redone both batches")
    assert store.failed == 1
    assert on_top[:2] == [0, 1]  # N+1 was decided while N was in flight
    # N's store failed, N+1's decision was thrown away: both redone once, reported once.
    assert (stats.consumed, stats.applied, stats.duplicates, stats.batches) == (2, 1, 1, 2)
    assert (stats.conflicts, stats.failed_batches) == (
        (1, 0) if isinstance(error, IntegrityError) else (0, 1)
    )
    received = [
        e for e in app.store.events.get(sales_order_id(order_id)) if type(e).__name__ != "Created"
    ]
    assert [type(e).__name__ for e in received] == ["OrderMessageReceived"]  # received once

    send(PAYMENTS, order_id, payment_json(order_id))
    drain_pipelined(consumer, lambda s: s.applied >= 2, "applied the payment")
    certificate = app.get_certificate(granted.certificate_id)
    assert certificate.state is CertificateState.ACTIVE
    assert certificate.balance == Decimal("5000.00")


def test_close_stores_the_batch_in_flight_first(
    app: GiftCertificates,
    inbound: Callable[..., InboundConsumer],
    send: Callable[..., None],
    kafka: str,
) -> None:
    store = SlowOrFailingStore(app, delay=0.5)
    consumer = inbound(store)  # type: ignore[arg-type]
    idle(consumer)
    send(CLIENTS, "C-9", ignorable_json())
    until_in_flight(consumer)
    assert consumer.metrics.snapshot().batches == 0  # nothing reported before the store

    consumer.close()

    stats = consumer.metrics.snapshot()
    assert (stats.batches, stats.ignored) == (1, 1)
    positions = {p: InboundBatches(app).position(CLIENTS, p) for p in range(PARTITIONS)}
    assert sorted(positions.values(), key=str) == [0, None]
    # ... and Kafka's offset followed it before the consumer left the group.
    wanted = [TopicPartition(CLIENTS, p) for p in range(PARTITIONS)]
    committed = {tp.partition: tp.offset for tp in committed_offsets(kafka, wanted)}
    assert {p: committed[p] for p, at in positions.items() if at is not None} == {
        p: 1 for p, at in positions.items() if at is not None
    }


def test_a_rebalance_stores_the_batch_in_flight_before_the_partitions_move(
    make_app: Callable[[], GiftCertificates],
    inbound: Callable[..., InboundConsumer],
    send: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A stream of one-record batches; the one in flight when a second consumer joins takes
    # seconds to store. Were it not stored before the partitions move, their next owner would
    # start from a position without it and read it a second time.
    in_flight_at_revoke: list[int] = []
    on_revoke = InboundConsumer._on_revoke

    def watched(self: InboundConsumer, consumer: Any, partitions: Any) -> None:
        in_flight_at_revoke.append(self.in_flight)
        on_revoke(self, consumer, partitions)

    monkeypatch.setattr(InboundConsumer, "_on_revoke", watched)  # before it is subscribed
    first_app = make_app()
    store = SlowOrFailingStore(first_app, delay=0.01)
    first = inbound(store, batch_size=1)  # type: ignore[arg-type]
    idle(first)
    total = 300
    for i in range(total):
        send(CLIENTS, f"C-{i}", ignorable_json())
    deadline = time.monotonic() + WAIT
    while first.metrics.snapshot().consumed < 20:
        first.run_pipelined_once()
        assert time.monotonic() < deadline, "the first consumer consumed nothing"

    store.once = 2.0
    second = inbound(make_app())
    with running(second) as runner:
        deadline = time.monotonic() + WAIT
        while first.metrics.snapshot().ignored + second.metrics.snapshot().ignored < total:
            first.run_pipelined_once()
            assert time.monotonic() < deadline, "the two consumers did not consume everything"
    assert not runner.is_alive()
    first.flush()

    assert any(in_flight_at_revoke), "no rebalance happened with a batch in flight"
    a, b = first.metrics.snapshot(), second.metrics.snapshot()
    # Every record read once, by one of them: nothing re-read, nothing redone.
    assert (a.consumed + b.consumed, a.ignored + b.ignored) == (total, total)
    assert (a.already_consumed, b.already_consumed, a.conflicts, b.conflicts) == (0, 0, 0, 0)


def test_the_rebalance_callbacks_store_the_batch_in_flight_first(
    app: GiftCertificates, inbound: Callable[..., InboundConsumer], send: Callable[..., None]
) -> None:
    # What librdkafka calls within a poll, called here while a (slow) store is under way.
    store = SlowOrFailingStore(app, delay=0.5)
    consumer = inbound(store)  # type: ignore[arg-type]
    idle(consumer)

    def in_flight_on_clients() -> None:
        send(CLIENTS, "C-9", ignorable_json())
        until_in_flight(consumer)

    def recorded() -> dict[int, int | None]:
        return {p: InboundBatches(app).position(CLIENTS, p) for p in range(PARTITIONS)}

    in_flight_on_clients()
    partitions = [TopicPartition(CLIENTS, p) for p in range(PARTITIONS)]
    consumer._on_assign(consumer._consumer, partitions)
    # The assignment seeks past the batch that was in flight: it was stored first.
    assert consumer.in_flight == 0
    assert consumer.metrics.snapshot().ignored == 1
    assert {p: tp.offset for p, tp in enumerate(partitions)} == {
        p: OFFSET_BEGINNING if at is None else at + 1 for p, at in recorded().items()
    }
    assert sorted(recorded().values(), key=str) == [0, None]

    in_flight_on_clients()
    consumer._on_revoke(consumer._consumer, partitions)
    assert consumer.in_flight == 0
    assert consumer.metrics.snapshot().ignored == 2
    assert sum(at + 1 for at in recorded().values() if at is not None) == 2


def test_readiness_says_when_no_partition_has_been_assigned_past_the_grace(
    make_app: Callable[[], GiftCertificates],
    inbound: Callable[..., InboundConsumer],
) -> None:
    """Issue 12: after a kill -9 `/health/ready` answered 200 for 27 s with no partition."""
    consumer = inbound(make_app(), group_id="gcp-grace", assignment_grace=0.3)
    assert consumer.stalled() is None  # within the grace: joining takes a moment

    idle(consumer)
    time.sleep(0.4)
    assert consumer.stalled() is None  # assigned: ready however long it has run

    consumer.close()
    time.sleep(0.4)
    assert "no partition assigned" in (consumer.stalled() or "")


def test_a_consumer_whose_broker_never_answers_is_not_ready_after_the_grace(
    make_app: Callable[[], GiftCertificates],
) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{closed.getsockname()[1]}"
    consumer = InboundConsumer(
        make_app(), address, group_id="gcp-nowhere", assignment_grace=0.3, config=CLIENT_CONFIG
    )
    try:
        consumer.run_once()
        time.sleep(0.4)
        assert "no partition assigned for" in (consumer.stalled() or "")
    finally:
        consumer.close()


def test_a_lone_message_does_not_wait_for_the_batch_window(
    app: GiftCertificates,
    inbound: Callable[..., InboundConsumer],
    send: Callable[..., None],
) -> None:
    """Issue 12: a POS waiting for a redemption's outcome waited most of a second; part of it
    was the batch window, which held a lone message for its whole length."""
    consumer = inbound(app)
    idle(consumer)
    consumer.batch_timeout = 5.0  # now that it is assigned (an empty poll waits all of it)
    order_id = "WEB-LONE-1"
    granted = reserve(app, order_id)
    send(SALES, order_id, order_json(order_id, granted.certificate_id))

    started = time.monotonic()
    while consumer.metrics.snapshot().consumed < 1:
        consumer.run_once()
    took = time.monotonic() - started

    assert took < 2.5, f"the batch waited {took:.1f} s of its 5 s window"
