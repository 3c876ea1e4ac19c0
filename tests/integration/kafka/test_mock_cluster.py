"""MockCluster: librdkafka's in-process cluster, exercised with real confluent-kafka clients.

Every wait is bounded (flush and consume loops have deadlines and fail with what they saw), so
a broken cluster fails the test in seconds instead of hanging the suite.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)

from gcp_adapters.kafka.mock_cluster import (
    ALL_BROKERS,
    PRODUCE_API_KEY,
    MockCluster,
    MockClusterError,
)

IDEMPOTENT = {"enable.idempotence": True, "acks": "all", "linger.ms": 5}


@dataclass
class Deliveries:
    """What the delivery reports said, per message value."""

    ok: dict[bytes, tuple[int, int]] = field(default_factory=dict)  # value -> (partition, offset)
    failed: dict[bytes, KafkaError] = field(default_factory=dict)

    def report(self, err: KafkaError | None, msg: Message) -> None:
        value = msg.value()
        assert isinstance(value, bytes)
        if err is None:
            partition, offset = msg.partition(), msg.offset()
            assert partition is not None
            assert offset is not None
            self.ok[value] = (partition, offset)
        else:
            self.failed[value] = err


def flush_all(producer: Producer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (left := producer.flush(0.2)) > 0:
        if time.monotonic() > deadline:
            pytest.fail(f"{left} messages still undelivered after {timeout} s")


def poll_for(producer: Producer, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        producer.poll(0.05)


def read_all(consumer: Consumer, topic: str, partitions: int, expected: int) -> list[Message]:
    """Every message of `topic` from the beginning: exactly `expected`, within 10 s."""
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    deadline = time.monotonic() + 10.0
    messages: list[Message] = []
    while len(messages) < expected:
        if time.monotonic() > deadline:
            pytest.fail(f"read {len(messages)} of {expected} messages of {topic} in 10 s")
        for message in consumer.consume(num_messages=500, timeout=0.2):
            if message.error() is not None:
                pytest.fail(f"consumer error: {message.error()}")
            messages.append(message)
    # Nothing more arrives: the count is exact, not a lower bound.
    extra = consumer.consume(num_messages=500, timeout=0.3)
    assert [m.value() for m in extra if m.error() is None] == []
    return messages


def per_key(messages: list[Message]) -> dict[bytes, list[bytes]]:
    values: dict[bytes, list[bytes]] = defaultdict(list)
    for message in sorted(messages, key=lambda m: (m.partition() or 0, m.offset() or 0)):
        key, value = message.key(), message.value()
        assert isinstance(key, bytes)
        assert isinstance(value, bytes)
        values[key].append(value)
    return dict(values)


def keyed_batch(start: int, stop: int, keys: int = 10) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs; the value carries a global sequence number to check order by."""
    return [
        (f"order-{i % keys}".encode(), f"order-{i % keys}:{i:04d}".encode())
        for i in range(start, stop)
    ]


def test_a_created_topic_has_its_partitions_and_carries_a_message(
    mock_cluster: Callable[..., MockCluster],
    producer: Callable[..., Producer],
    consumer: Callable[..., Consumer],
) -> None:
    cluster = mock_cluster()
    cluster.create_topic("orders", partitions=3)
    client = producer(cluster.bootstrap_servers)

    metadata = client.list_topics("orders", timeout=5)
    assert len(metadata.topics["orders"].partitions) == 3
    assert sorted(metadata.brokers) == [1]
    assert cluster.bootstrap_servers.startswith("127.0.0.1:")

    deliveries = Deliveries()
    client.produce("orders", b'{"orderId": "WEB-1"}', key=b"WEB-1", on_delivery=deliveries.report)
    flush_all(client, 5)

    assert deliveries.failed == {}
    [message] = read_all(consumer(cluster.bootstrap_servers), "orders", 3, expected=1)
    assert (message.key(), message.value()) == (b"WEB-1", b'{"orderId": "WEB-1"}')
    assert (message.partition(), message.offset()) == deliveries.ok[b'{"orderId": "WEB-1"}']


def test_keyed_messages_land_on_one_partition_per_key_for_every_client(
    mock_cluster: Callable[..., MockCluster], producer: Callable[..., Producer]
) -> None:
    cluster = mock_cluster()
    cluster.create_topic("payments", partitions=3)
    placements = []
    for _ in range(2):  # two independent producers agree on where each key goes
        client = producer(cluster.bootstrap_servers)
        deliveries = Deliveries()
        for key, value in keyed_batch(0, 100, keys=20):
            client.produce("payments", value, key=key, on_delivery=deliveries.report)
        flush_all(client, 5)
        assert deliveries.failed == {}
        partitions_of: dict[bytes, set[int]] = defaultdict(set)
        for value, (partition, _) in deliveries.ok.items():
            partitions_of[value.split(b":")[0]].add(partition)
        placements.append(partitions_of)

    first, second = placements
    assert len(first) == 20
    assert all(len(partitions) == 1 for partitions in first.values())
    assert first == second
    assert len(set().union(*first.values())) > 1  # keys spread over the partitions


@pytest.mark.parametrize("num_brokers", [1, 3])
def test_an_idempotent_producer_rides_out_a_broker_outage(
    num_brokers: int,
    mock_cluster: Callable[..., MockCluster],
    producer: Callable[..., Producer],
    consumer: Callable[..., Consumer],
) -> None:
    cluster = mock_cluster(num_brokers)
    cluster.create_topic("orders", partitions=3, replication_factor=num_brokers)
    client = producer(cluster.bootstrap_servers, **IDEMPOTENT, **{"message.timeout.ms": 30_000})
    leaders = {
        p.id: p.leader
        for p in client.list_topics("orders", timeout=5).topics["orders"].partitions.values()
    }
    victim = leaders[0]
    deliveries = Deliveries()
    sent = keyed_batch(0, 200)

    for key, value in sent[:100]:
        client.produce("orders", value, key=key, on_delivery=deliveries.report)
    flush_all(client, 5)
    assert len(deliveries.ok) == 100
    key_partition = {value.split(b":")[0]: p for value, (p, _) in deliveries.ok.items()}
    stranded_keys = {key for key, p in key_partition.items() if leaders[p] == victim}
    assert stranded_keys, "some key lives on a partition the downed broker leads"

    cluster.broker_down(victim)
    for key, value in sent[100:]:
        client.produce("orders", value, key=key, on_delivery=deliveries.report)
    poll_for(client, 1.5)

    stranded = [value for key, value in sent[100:] if key in stranded_keys]
    assert not any(value in deliveries.ok for value in stranded), (
        "delivered while its leader is down"
    )
    assert deliveries.failed == {}
    assert len(client) >= len(stranded)  # buffered in the producer, not lost

    cluster.broker_up(victim)
    flush_all(client, 15)

    assert deliveries.failed == {}
    assert len(deliveries.ok) == 200
    got = per_key(read_all(consumer(cluster.bootstrap_servers), "orders", 3, expected=200))
    want: dict[bytes, list[bytes]] = defaultdict(list)
    for key, value in sent:
        want[key].append(value)
    assert got == want  # nothing lost, nothing doubled, each key in the order sent


def test_injected_produce_errors_are_retried_without_loss(
    mock_cluster: Callable[..., MockCluster],
    producer: Callable[..., Producer],
    consumer: Callable[..., Consumer],
) -> None:
    cluster = mock_cluster(3)
    cluster.create_topic("stream", partitions=3, replication_factor=3)
    client = producer(cluster.bootstrap_servers, **IDEMPOTENT)
    client.list_topics("stream", timeout=5)
    errors = [
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.REQUEST_TIMED_OUT,
    ]
    cluster.start_request_tracking()
    cluster.push_request_errors(PRODUCE_API_KEY, errors)

    deliveries = Deliveries()
    sent = keyed_batch(0, 100)
    for key, value in sent:
        client.produce("stream", value, key=key, on_delivery=deliveries.report)
    flush_all(client, 15)

    assert deliveries.failed == {}
    assert len(deliveries.ok) == 100
    produce_requests = [r for r in cluster.requests() if r.api_key == PRODUCE_API_KEY]
    assert len(produce_requests) > len(errors)  # the failed ones were sent again
    got = per_key(read_all(consumer(cluster.bootstrap_servers), "stream", 3, expected=100))
    want: dict[bytes, list[bytes]] = defaultdict(list)
    for key, value in sent:
        want[key].append(value)
    assert got == want


def test_an_injected_error_reaches_a_producer_that_does_not_retry(
    mock_cluster: Callable[..., MockCluster], producer: Callable[..., Producer]
) -> None:
    """The control for the test above: the injected error really is what Produce returns.

    (NOT_LEADER_FOR_PARTITION would not do here: librdkafka retries a leader change even with
    retries=0.)
    """
    cluster = mock_cluster()
    cluster.create_topic("stream", partitions=1)
    client = producer(cluster.bootstrap_servers, **{"retries": 0, "acks": "all"})
    client.list_topics("stream", timeout=5)
    cluster.push_request_errors(PRODUCE_API_KEY, [KafkaError.REQUEST_TIMED_OUT])

    deliveries = Deliveries()
    client.produce("stream", b"refused", on_delivery=deliveries.report)
    flush_all(client, 5)
    client.produce("stream", b"accepted", on_delivery=deliveries.report)  # the stack is spent
    flush_all(client, 5)

    assert deliveries.failed[b"refused"].code() == KafkaError.REQUEST_TIMED_OUT
    assert set(deliveries.ok) == {b"accepted"}


def test_the_cluster_refuses_what_it_cannot_do_and_closes_once(
    producer: Callable[..., Producer],
) -> None:
    with MockCluster(2) as cluster:
        cluster.create_topic("orders", 2, replication_factor=2)
        with pytest.raises(MockClusterError) as refused:
            cluster.create_topic("orders", 2)
        assert refused.value.name == "TOPIC_ALREADY_EXISTS"
        assert refused.value.code == KafkaError.TOPIC_ALREADY_EXISTS
        with pytest.raises(ValueError, match="partitions"):
            cluster.create_topic("empty", 0)
        with pytest.raises(ValueError, match="replication_factor"):
            cluster.create_topic("wide", 1, replication_factor=3)
        with pytest.raises(ValueError, match="broker_id"):
            cluster.broker_down(3)
        cluster.broker_down(ALL_BROKERS)
        cluster.broker_up(ALL_BROKERS)
        assert list(cluster.broker_ids) == [1, 2]
        assert len(cluster.bootstrap_servers.split(",")) == 2

    assert cluster.closed
    cluster.close()  # idempotent
    with pytest.raises(MockClusterError, match="closed"):
        cluster.create_topic("late", 1)
    with pytest.raises(MockClusterError, match="closed"):
        cluster.broker_up(1)
