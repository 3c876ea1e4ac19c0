"""The embedded broker: a librdkafka mock cluster when no Kafka is configured.

When GCP_KAFKA_BOOTSTRAP_SERVERS is unset the service starts one for its lifetime, creates its
topics there and uses it as its broker, so `gcp serve` runs on a bare machine. It speaks the
Kafka protocol on 127.0.0.1, so local tools can connect to the address it logs, but it keeps
nothing on disk and drops old messages: development and demos only (see docs/kafka.md).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from gcp_adapters.closing import ClosedOnExit
from gcp_adapters.kafka.mock_cluster import MockCluster

logger = logging.getLogger("gcp.kafka")

INBOUND_TOPICS: Final = ("All_SalesOrder", "All_Payments", "All_Clients")
OUTBOUND_TOPICS: Final = ("GiftCertificates.Stream", "GiftCertificates.DLQ")
DEFAULT_TOPICS: Final = (*INBOUND_TOPICS, *OUTBOUND_TOPICS)
DEFAULT_PARTITIONS: Final = 3
# Where `gcp serve` leaves the embedded broker's address (under GCP_VAR_DIR) for local tools
# such as `gcp demo`; removed when the service stops.
ADDRESS_FILE: Final = "kafka.address"
# How long running_address() waits for the broker to accept a connection.
PROBE_SECONDS: Final = 1.0


class EmbeddedBroker(ClosedOnExit):
    """A mock Kafka cluster owned by this process, with `topics` created up front.

    Topics are created with `partitions` partitions (the mock has no CreateTopics; a topic a
    client touches first is auto-created with the mock's default partition count instead).
    """

    def __init__(
        self,
        topics: Iterable[str] = DEFAULT_TOPICS,
        partitions: int = DEFAULT_PARTITIONS,
        *,
        num_brokers: int = 1,
    ) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be at least 1, got {partitions}")
        names = list(dict.fromkeys(topics))  # in order, once each
        if any(not name for name in names):
            raise ValueError("topic names must not be empty")
        self._cluster = MockCluster(num_brokers)
        try:
            for name in names:
                self._cluster.create_topic(name, partitions)
        except BaseException:
            self._cluster.close()
            raise
        self._topics = tuple(names)
        self._partitions = partitions
        logger.info(
            "embedded Kafka-protocol broker (librdkafka mock cluster, for development only) at %s",
            self._cluster.bootstrap_servers,
        )

    @property
    def bootstrap_servers(self) -> str:
        return self._cluster.bootstrap_servers

    @property
    def topics(self) -> tuple[str, ...]:
        return self._topics

    @property
    def partitions(self) -> int:
        return self._partitions

    @property
    def cluster(self) -> MockCluster:
        """The mock cluster underneath, for fault injection in tests and demos."""
        return self._cluster

    @property
    def closed(self) -> bool:
        return self._cluster.closed

    def close(self) -> None:
        """Stop the broker; its messages are gone. Close the clients first. Idempotent."""
        if not self._cluster.closed:
            self._cluster.close()
            logger.info("embedded Kafka-protocol broker stopped")

    def __repr__(self) -> str:
        state = "closed" if self.closed else self.bootstrap_servers
        return f"EmbeddedBroker({state}, {len(self._topics)} topics x {self._partitions})"


def bootstrap_servers_or_embedded(
    configured: str | None,
    topics: Iterable[str] = DEFAULT_TOPICS,
    partitions: int = DEFAULT_PARTITIONS,
    *,
    num_brokers: int = 1,
) -> tuple[str, EmbeddedBroker | None]:
    """The configured bootstrap servers, or those of a newly started embedded broker.

    A blank or missing `configured` (GCP_KAFKA_BOOTSTRAP_SERVERS unset) starts an
    EmbeddedBroker with `topics`; the caller owns it and closes it at shutdown. A configured
    address is returned as given (trimmed), with None: nothing is started.
    """
    if configured is not None and configured.strip():
        return configured.strip(), None
    broker = EmbeddedBroker(topics, partitions, num_brokers=num_brokers)
    return broker.bootstrap_servers, broker


def running_address(var_dir: Path) -> str | None:
    """The address of the embedded broker a local `gcp serve` runs, if one answers there.

    `gcp serve` leaves the address under GCP_VAR_DIR; a file left behind by a process that was
    killed names a port nobody listens on, so the address counts only if it takes a connection.
    """
    path = var_dir / ADDRESS_FILE
    try:
        address = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    host, _, port = address.split(",")[0].rpartition(":")
    if not host or not port.isdigit():
        return None
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_SECONDS):
            return address
    except OSError:
        return None
