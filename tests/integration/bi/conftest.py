"""A mock Kafka cluster with BI's four topics, and a producer of numbered messages."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer

from gcp_adapters.kafka.mock_cluster import MockCluster

TOPICS = ("GiftCertificates.Stream", "All_SalesOrder", "All_Payments", "All_Clients")
PARTITIONS = 3


@pytest.fixture
def cluster() -> Iterator[MockCluster]:
    started = MockCluster()
    for topic in TOPICS:
        started.create_topic(topic, PARTITIONS)
    yield started
    started.close()


def produce(bootstrap: str, count: int, *, start: int = 0) -> list[tuple[str, bytes]]:
    """`count` messages spread over the four topics, each value naming its number; returns
    (topic, value) of each, in the order sent."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    sent = []
    for number in range(start, start + count):
        topic = TOPICS[number % len(TOPICS)]
        value = json.dumps({"messageId": f"m-{number}", "eventId": f"e-{number}"}).encode()
        producer.produce(topic, value, f"k-{number % 7}".encode(), headers={"n": str(number)})
        sent.append((topic, value))
    assert producer.flush(30) == 0
    return sent
