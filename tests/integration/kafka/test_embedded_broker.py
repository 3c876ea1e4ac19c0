"""The embedded broker: what the service runs on when GCP_KAFKA_BOOTSTRAP_SERVERS is unset."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Message, Producer

from gcp_adapters.kafka.embedded import (
    DEFAULT_TOPICS,
    EmbeddedBroker,
    bootstrap_servers_or_embedded,
)

SERVICE_TOPICS = {
    "All_SalesOrder",
    "All_Payments",
    "All_Clients",
    "GiftCertificates.Stream",
    "GiftCertificates.DLQ",
}


def first_message(consumer: Consumer, timeout: float) -> Message:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is None:
            continue
        if message.error() is not None:
            pytest.fail(f"consumer error: {message.error()}")
        return message
    pytest.fail(f"no message within {timeout} s")


def test_the_embedded_broker_logs_its_address_once(
    embedded_broker: Callable[..., EmbeddedBroker], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gcp.kafka"):
        broker = embedded_broker()

    lines = [r for r in caplog.records if r.name == "gcp.kafka"]
    assert [r.levelno for r in lines] == [logging.INFO]
    assert lines[0].getMessage() == (
        "embedded Kafka-protocol broker (librdkafka mock cluster, for development only) "
        f"at {broker.bootstrap_servers}"
    )
    assert re.fullmatch(r"127\.0\.0\.1:\d+", broker.bootstrap_servers)


def test_it_creates_the_service_topics_with_the_given_partitions(
    embedded_broker: Callable[..., EmbeddedBroker], producer: Callable[..., Producer]
) -> None:
    broker = embedded_broker(partitions=4)
    assert set(DEFAULT_TOPICS) == SERVICE_TOPICS
    assert set(broker.topics) == SERVICE_TOPICS

    topics = producer(broker.bootstrap_servers).list_topics(timeout=5).topics
    assert {name: len(t.partitions) for name, t in topics.items()} == dict.fromkeys(
        SERVICE_TOPICS, 4
    )


def test_its_address_serves_independent_clients_and_consumer_groups(
    embedded_broker: Callable[..., EmbeddedBroker],
    producer: Callable[..., Producer],
    consumer: Callable[..., Consumer],
) -> None:
    broker = embedded_broker(["All_SalesOrder", "GiftCertificates.Stream"], 2)
    writer = producer(broker.bootstrap_servers, **{"enable.idempotence": True})
    writer.produce("All_SalesOrder", b'{"orderId": "WEB-100045"}', key=b"WEB-100045")
    assert writer.flush(5) == 0

    reader = consumer(broker.bootstrap_servers)  # another client, its own consumer group
    reader.subscribe(["All_SalesOrder"])
    message = first_message(reader, timeout=15)  # the group join takes ~3 s on the mock
    assert (message.key(), message.value()) == (b"WEB-100045", b'{"orderId": "WEB-100045"}')
    reader.commit(message=message, asynchronous=False)


def test_a_separate_process_reaches_the_printed_address(
    embedded_broker: Callable[..., EmbeddedBroker],
) -> None:
    """As a local tool would: another process, only the address in hand."""
    broker = embedded_broker(partitions=2)
    probe = (
        "import sys; from confluent_kafka.admin import AdminClient; "
        "md = AdminClient({'bootstrap.servers': sys.argv[1]}).list_topics(timeout=5); "
        "print(sorted(md.topics))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, broker.bootstrap_servers],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    assert done.stdout.strip() == str(sorted(SERVICE_TOPICS))


def test_a_configured_address_starts_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="gcp.kafka"):
        servers, broker = bootstrap_servers_or_embedded(" kafka-1:9092,kafka-2:9092 ", [], 3)

    assert (servers, broker) == ("kafka-1:9092,kafka-2:9092", None)
    assert [r for r in caplog.records if r.name == "gcp.kafka"] == []


@pytest.mark.parametrize("configured", [None, "", "  "])
def test_no_configured_address_starts_the_embedded_broker(
    configured: str | None,
    started_brokers: list[EmbeddedBroker],
    producer: Callable[..., Producer],
) -> None:
    servers, broker = bootstrap_servers_or_embedded(configured, ["All_Payments"], 2)
    assert broker is not None
    started_brokers.append(broker)  # closed after the clients

    assert servers == broker.bootstrap_servers
    topics = producer(servers).list_topics(timeout=5).topics
    assert len(topics["All_Payments"].partitions) == 2


def test_close_is_idempotent_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    with EmbeddedBroker(["All_Clients"], 1) as broker:
        assert not broker.closed
    with caplog.at_level(logging.INFO, logger="gcp.kafka"):
        broker.close()
    assert broker.closed
    assert [r for r in caplog.records if r.name == "gcp.kafka"] == []


def test_bad_arguments_start_nothing() -> None:
    with pytest.raises(ValueError, match="partitions"):
        EmbeddedBroker(["All_Clients"], 0)
    with pytest.raises(ValueError, match="topic names"):
        EmbeddedBroker([""], 1)
