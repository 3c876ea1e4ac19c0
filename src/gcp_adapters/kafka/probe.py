"""Is Kafka reachable? The readiness check of a process that runs a Kafka part.

One AdminClient per probe, made on first use, asks the cluster for its metadata with a short
timeout; a success is remembered for a few seconds so that frequent probes do not each make a
round trip. A failure raises (the readiness endpoint logs it and names the check `kafka`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Final

from confluent_kafka.admin import AdminClient

from gcp_adapters.kafka.client_logs import LIBRDKAFKA

logger = logging.getLogger("gcp.kafka.probe")

PROBE_TIMEOUT: Final = 2.0
CACHE_SECONDS: Final = 5.0


class KafkaProbe:
    """Callable: returns when a broker answered a metadata request, raises when none did."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        timeout: float = PROBE_TIMEOUT,
        cache_seconds: float = CACHE_SECONDS,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self._config = dict(config or {})
        self._lock = threading.Lock()
        self._admin: AdminClient | None = None
        self._ok_until = 0.0

    def __call__(self) -> None:
        with self._lock:
            if time.monotonic() < self._ok_until:
                return
            if self._admin is None:
                config: dict[str, Any] = {
                    "bootstrap.servers": self.bootstrap_servers,
                    "client.id": "gcp-readiness",
                    "logger": LIBRDKAFKA,
                    **self._config,
                }
                self._admin = AdminClient(config)
            metadata = self._admin.list_topics(timeout=self.timeout)
            if not metadata.brokers:
                raise ConnectionError("Kafka answered with no broker")
            self._ok_until = time.monotonic() + self.cache_seconds
