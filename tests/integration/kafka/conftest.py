"""Mock clusters, embedded brokers and real confluent-kafka clients, torn down in the right order.

Clients are closed before the brokers they talk to (otherwise librdkafka logs connection
errors while the test process shuts down): the client factories depend on `started_brokers`, so
pytest tears them down first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from confluent_kafka import Consumer, Producer
from tests.integration.kafka.client_config import FAST_RECONNECT

from gcp_adapters.kafka.embedded import EmbeddedBroker
from gcp_adapters.kafka.mock_cluster import MockCluster


@pytest.fixture
def started_brokers() -> Iterator[list[MockCluster | EmbeddedBroker]]:
    started: list[MockCluster | EmbeddedBroker] = []
    yield started
    for broker in reversed(started):
        broker.close()


Broker = TypeVar("Broker", MockCluster, EmbeddedBroker)


def _starting(
    kind: Callable[..., Broker], started_brokers: list[MockCluster | EmbeddedBroker]
) -> Callable[..., Broker]:
    """Starts brokers of `kind` (with the arguments of its constructor), closed at teardown."""

    def start(*args: Any, **kwargs: Any) -> Broker:
        broker = kind(*args, **kwargs)
        started_brokers.append(broker)
        return broker

    return start


@pytest.fixture
def mock_cluster(started_brokers: list[MockCluster | EmbeddedBroker]) -> Callable[..., MockCluster]:
    return _starting(MockCluster, started_brokers)


@pytest.fixture
def embedded_broker(
    started_brokers: list[MockCluster | EmbeddedBroker],
) -> Callable[..., EmbeddedBroker]:
    return _starting(EmbeddedBroker, started_brokers)


@pytest.fixture
def producer(
    started_brokers: list[MockCluster | EmbeddedBroker],
) -> Iterator[Callable[..., Producer]]:
    made: list[Producer] = []

    def make(bootstrap_servers: str, **config: Any) -> Producer:
        made.append(Producer({"bootstrap.servers": bootstrap_servers, **FAST_RECONNECT, **config}))
        return made[-1]

    yield make
    for client in made:
        client.purge()
        client.flush(0)
        # Closed here, not when collected: a test's closure may keep the object alive, and a
        # live producer retries its stopped broker for the rest of the suite.
        client.close()
    made.clear()


@pytest.fixture
def consumer(
    started_brokers: list[MockCluster | EmbeddedBroker],
) -> Iterator[Callable[..., Consumer]]:
    made: list[Consumer] = []

    def make(bootstrap_servers: str, **config: Any) -> Consumer:
        settings = {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **FAST_RECONNECT,
            **config,
        }
        made.append(Consumer(settings))
        return made[-1]

    yield make
    for client in made:
        client.close()
